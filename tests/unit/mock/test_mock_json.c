/*
 * test_mock_json.c: the answer writer of src/mock, which must write strings
 * exactly as jansson's json_dumps does (the answers used to come from it).
 */
#include "core/common.h"
#include "mock/mock.h"

#include <setjmp.h>
#include <cmocka.h>

#include "mock/mock_int.h"

/* What jansson writes for s as a JSON string. Caller frees. */
static char *jansson_says(const char *s)
{
    json_t *j = json_string(s);
    assert_non_null(j);
    char *out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

static void check(const char *s)
{
    struct fr_buf b = FR_BUF_INIT;
    fr__mock_json_put_string(&b, s);
    char *want = jansson_says(s);
    assert_string_equal(fr_buf_str(&b), want);
    /* And it parses back to s. */
    json_t *back = json_loads(fr_buf_str(&b), JSON_DECODE_ANY, NULL);
    assert_non_null(back);
    assert_string_equal(json_string_value(back), s);
    json_decref(back);
    free(want);
    fr_buf_release(&b);
}

static void test_put_string_matches_jansson(void **state)
{
    static const char *const cases[] = {
        "",
        "created",
        "sourceRef already exists",
        "participantId: unknown participant \"P9\"",
        "back\\slash and \"quotes\" and /slash/",
        "tab\there\nnewline\rreturn\bbell\fform",
        "\x01\x02\x1f\x7f end",
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "mock store full (POST /mock/reset empties it)",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++)
        check(cases[i]);
    /* Every control character and every other ASCII byte, one at a time. */
    for (int c = 1; c < 128; c++) {
        char s[4] = {'a', (char)c, 'b', '\0'};
        check(s);
    }
}

static void test_put_appends_jansson_output(void **state)
{
    json_t *credit = json_loads("{\"sourceRef\":\"ORD-1 \\u00e9\\n\",\"amount\":12.5,"
                                "\"n\":3,\"x\":[true,null,{}]}",
                                0, NULL);
    assert_non_null(credit);
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "[");
    fr__mock_json_put(&b, credit);
    fr_buf_adds(&b, ",");
    fr__mock_json_put(&b, json_object_get(credit, "sourceRef"));
    fr_buf_adds(&b, "]");
    char *whole = json_dumps(credit, JSON_COMPACT);
    char *ref = json_dumps(json_object_get(credit, "sourceRef"), JSON_COMPACT | JSON_ENCODE_ANY);
    char *want = fr_asprintf("[%s,%s]", whole, ref);
    assert_string_equal(fr_buf_str(&b), want);
    free(want);
    free(ref);
    free(whole);
    fr_buf_release(&b);
    json_decref(credit);
}

/* Thawing what was frozen gives back the same value, dumped to the same bytes. */
static void test_freeze_thaw_round_trip(void **state)
{
    static const char *const docs[] = {
        "{\"participantId\":\"P000001\",\"transactionDate\":\"2026-11-01\",\"amount\":12.5,"
        "\"currencyCode\":\"USD\",\"periodId\":\"2026-11\",\"sourceRef\":\"SO-1\"}",
        "{\"z\":1,\"a\":-9223372036854775808,\"m\":9223372036854775807,\"r\":0.1,"
        "\"big\":1e300,\"neg\":-0.0,\"s\":\"caf\\u00e9 \\\"q\\\" \\n\",\"e\":\"\"}",
        "{\"nested\":{\"list\":[1,2.25,null,true,false,[],{},[[\"deep\"]]],\"o\":{}}}",
        "[]",
        "\"just a string\"",
        "42",
        "null",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(docs); i++) {
        json_t *j = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        assert_non_null(j);
        struct fr_buf b = FR_BUF_INIT;
        fr_buf_adds(&b, "junk before");
        size_t start = b.len;
        fr__mock_json_freeze(&b, j);
        json_t *back = fr__mock_json_thaw(b.data + start, b.len - start);
        assert_non_null(back);
        assert_true(json_equal(j, back));
        char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        char *got = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
        assert_string_equal(got, want);
        free(want);
        free(got);
        /* Cut short or with bytes to spare, it is refused rather than misread. */
        for (size_t cut = 0; cut < b.len - start; cut++)
            assert_null(fr__mock_json_thaw(b.data + start, cut));
        fr_buf_addc(&b, 'n');
        assert_null(fr__mock_json_thaw(b.data + start, b.len - start));
        json_decref(back);
        json_decref(j);
        fr_buf_release(&b);
    }
    assert_null(fr__mock_json_thaw("x", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_string_matches_jansson),
        cmocka_unit_test(test_put_appends_jansson_output),
        cmocka_unit_test(test_freeze_thaw_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
