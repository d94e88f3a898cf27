/*
 * test_mock_credits.c: credit validation in src/mock, which names the bad
 * field in the message a batch answer carries.
 */
#include "core/common.h"
#include "mock/mock.h"

#include <setjmp.h>
#include <cmocka.h>

#include "mock/mock_int.h"

static const char *invalid(const char *doc, char *buf, size_t buflen)
{
    json_t *credit = json_loads(doc, JSON_DECODE_ANY, NULL);
    assert_non_null(credit);
    const char *why = fr__mock_credit_invalid(credit, 1000, buf, buflen);
    json_decref(credit);
    return why;
}

static void test_messages_name_the_field(void **state)
{
    static const struct {
        const char *doc, *why;
    } cases[] = {
        {"{\"participantId\":\"P000001\",\"transactionDate\":\"2024-02-29\",\"amount\":1,"
         "\"currencyCode\":\"EUR\",\"periodId\":\"p\",\"sourceRef\":\"A\"}",
         NULL},
        {"[]", "credit must be a JSON object"},
        {"{\"sourceRef\":\"\"}", "sourceRef is required (a non-empty string)"},
        {"{\"sourceRef\":\"A\"}", "participantId is required (a string)"},
        {"{\"sourceRef\":\"A\",\"participantId\":\"P001001\"}",
         "participantId: unknown participant \"P001001\""},
        {"{\"sourceRef\":\"A\",\"participantId\":\"P000001\",\"transactionDate\":\"2023-02-29\"}",
         "transactionDate must be a valid date YYYY-MM-DD"},
        {"{\"sourceRef\":\"A\",\"participantId\":\"P000001\",\"transactionDate\":\"2023-02-28\","
         "\"amount\":\"1\"}",
         "amount is required (a JSON number)"},
        {"{\"sourceRef\":\"A\",\"participantId\":\"P000001\",\"transactionDate\":\"2023-02-28\","
         "\"amount\":1,\"currencyCode\":\"eur\"}",
         "currencyCode must be 3 capital letters (e.g. EUR)"},
        {"{\"sourceRef\":\"A\",\"participantId\":\"P000001\",\"transactionDate\":\"2023-02-28\","
         "\"amount\":1,\"currencyCode\":\"EUR\"}",
         "periodId is required (a string)"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char buf[96];
        const char *why = invalid(cases[i].doc, buf, sizeof(buf));
        if (cases[i].why)
            assert_string_equal(why, cases[i].why);
        else
            assert_null(why);
    }
}

/*
 * A long unknown id is quoted up to 40 bytes, cut between characters: the
 * message must stay valid UTF-8, or jansson cannot write it into the answer.
 */
static void test_long_unknown_id_is_cut_between_characters(void **state)
{
    char doc[256];
    /* "P" then 2-byte characters: byte 40 is the second byte of the 20th. */
    snprintf(doc, sizeof(doc), "{\"sourceRef\":\"A\",\"participantId\":\"P%s\"}",
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    char buf[96];
    const char *why = invalid(doc, buf, sizeof(buf));
    assert_non_null(why);
    json_t *s = json_string(why); /* NULL for invalid UTF-8 */
    assert_non_null(s);
    json_decref(s);
    /* So the quote stops after 19 characters: 1 + 19 * 2 = 39 bytes. */
    char want[96];
    snprintf(want, sizeof(want), "participantId: unknown participant \"P%.38s\"",
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(why, want);

    /* ASCII ids are cut at exactly 40 bytes, as before. */
    snprintf(doc, sizeof(doc), "{\"sourceRef\":\"A\",\"participantId\":\"%s\"}",
             "P12345678901234567890123456789012345678901234567890");
    why = invalid(doc, buf, sizeof(buf));
    assert_string_equal(
        why, "participantId: unknown participant \"P123456789012345678901234567890123456789\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_name_the_field),
        cmocka_unit_test(test_long_unknown_id_is_cut_between_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
