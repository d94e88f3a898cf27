#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/error.h"
#include "job/map.h"

/* Maps {"v": value} through one field of type t; returns the payload's "out" or NULL + why. */
static json_t *map_one(enum fr_field_type t, json_t *value, bool required, char **why)
{
    struct fr_map_field f = {.name = "out", .from = "v", .type = t, .required = required};
    json_t *rec = json_object();
    if (value)
        json_object_set_new(rec, "v", value);
    json_t *payload = NULL;
    *why = NULL;
    int rc = fr_map_apply(&f, 1, rec, &payload, why);
    json_decref(rec);
    if (rc) {
        assert_int_equal(rc, FR_EINVAL);
        assert_null(payload);
        assert_non_null(*why);
        return NULL;
    }
    assert_null(*why);
    assert_non_null(payload);
    json_t *out = json_incref(json_object_get(payload, "out"));
    json_decref(payload);
    return out;
}

/* value (owned) converts to want (JSON text) */
static void good(enum fr_field_type t, json_t *value, const char *want)
{
    char *why = NULL;
    json_t *out = map_one(t, value, true, &why);
    if (!out)
        print_error("unexpected rejection: %s\n", why);
    assert_non_null(out);
    char *text = json_dumps(out, FR_MAP_DUMP_FLAGS | JSON_ENCODE_ANY);
    if (strcmp(text, want) != 0)
        print_error("got %s, want %s\n", text, want);
    assert_string_equal(text, want);
    free(text);
    json_decref(out);
}

static void bad(enum fr_field_type t, json_t *value, const char *want_why)
{
    char *why = NULL;
    json_t *out = map_one(t, value, true, &why);
    if (out) {
        char *text = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("unexpectedly converted to %s\n", text);
        free(text);
    }
    assert_null(out);
    if (strcmp(why, want_why) != 0)
        print_error("got \"%s\", want \"%s\"\n", why, want_why);
    assert_string_equal(why, want_why);
    free(why);
}

#define S(x) json_string(x)

static void test_string(void **state)
{
    good(FR_FIELD_STRING, S("A1"), "\"A1\"");
    good(FR_FIELD_STRING, S(" padded "), "\" padded \"");
    good(FR_FIELD_STRING, json_integer(42), "\"42\"");
    good(FR_FIELD_STRING, json_real(0.1), "\"0.1\"");
    good(FR_FIELD_STRING, json_true(), "\"true\"");
    bad(FR_FIELD_STRING, json_pack("[i]", 1), "out: [1] is not a string");
}

static void test_number(void **state)
{
    good(FR_FIELD_NUMBER, S("12.50"), "12.5");
    good(FR_FIELD_NUMBER, S("-3"), "-3");
    good(FR_FIELD_NUMBER, S(" 7 "), "7");
    good(FR_FIELD_NUMBER, S("0.25"), "0.25");
    /* decimals go out as written (with FR_MAP_DUMP_FLAGS), not as their nearest double */
    good(FR_FIELD_NUMBER, S("19.99"), "19.99");
    good(FR_FIELD_NUMBER, S("0.1"), "0.1");
    good(FR_FIELD_NUMBER, S("1234567.89"), "1234567.89");
    good(FR_FIELD_NUMBER, S("-0.000123"), "-0.000123");
    good(FR_FIELD_NUMBER, S("123456789012.345"), "123456789012.345");
    good(FR_FIELD_NUMBER, S("00012.3400"), "12.34");
    good(FR_FIELD_NUMBER, S("9223372036854775807"), "9223372036854775807");
    bad(FR_FIELD_NUMBER, S("0.1234567890123456"),
        "out: \"0.1234567890123456\" has more than 15 significant digits");
    good(FR_FIELD_NUMBER, json_integer(5), "5");
    good(FR_FIELD_NUMBER, json_real(2.5), "2.5");
    bad(FR_FIELD_NUMBER, S("12,5"), "out: \"12,5\" is not a number");
    bad(FR_FIELD_NUMBER, S("1,000"), "out: \"1,000\" is not a number");
    bad(FR_FIELD_NUMBER, S("1e3"), "out: \"1e3\" is not a number");
    bad(FR_FIELD_NUMBER, S("0x10"), "out: \"0x10\" is not a number");
    bad(FR_FIELD_NUMBER, S("inf"), "out: \"inf\" is not a number");
    bad(FR_FIELD_NUMBER, S("1."), "out: \"1.\" is not a number");
    bad(FR_FIELD_NUMBER, S(".5"), "out: \".5\" is not a number");
    bad(FR_FIELD_NUMBER, S("+1"), "out: \"+1\" is not a number");
    bad(FR_FIELD_NUMBER, S("1 2"), "out: \"1 2\" is not a number");
    bad(FR_FIELD_NUMBER, json_true(), "out: true is not a number");
    bad(FR_FIELD_NUMBER, S("99999999999999999999"),
        "out: \"99999999999999999999\" is out of range");
}

static void test_integer(void **state)
{
    good(FR_FIELD_INTEGER, S("42"), "42");
    good(FR_FIELD_INTEGER, S("-7"), "-7");
    good(FR_FIELD_INTEGER, S("3.00"), "3");
    good(FR_FIELD_INTEGER, json_integer(9), "9");
    good(FR_FIELD_INTEGER, json_real(4.0), "4");
    bad(FR_FIELD_INTEGER, S("3.5"), "out: \"3.5\" is not a whole number");
    bad(FR_FIELD_INTEGER, json_real(3.5), "out: 3.5 is not a whole number");
    bad(FR_FIELD_INTEGER, S("abc"), "out: \"abc\" is not an integer");
    bad(FR_FIELD_INTEGER, S("1e3"), "out: \"1e3\" is not an integer");
    bad(FR_FIELD_INTEGER, json_false(), "out: false is not an integer");
}

static void test_boolean(void **state)
{
    const char *yes[] = {"true", "TRUE", "Yes", "1"};
    for (size_t i = 0; i < 4; i++)
        good(FR_FIELD_BOOLEAN, S(yes[i]), "true");
    good(FR_FIELD_BOOLEAN, S("false"), "false");
    good(FR_FIELD_BOOLEAN, S(" No "), "false");
    good(FR_FIELD_BOOLEAN, S("0"), "false");
    good(FR_FIELD_BOOLEAN, json_true(), "true");
    good(FR_FIELD_BOOLEAN, json_false(), "false");
    good(FR_FIELD_BOOLEAN, json_integer(1), "true");
    good(FR_FIELD_BOOLEAN, json_integer(0), "false");
    bad(FR_FIELD_BOOLEAN, S("maybe"), "out: \"maybe\" is not a boolean (true/false, yes/no, 1/0)");
    bad(FR_FIELD_BOOLEAN, json_integer(2), "out: 2 is not a boolean (true/false, yes/no, 1/0)");
}

static void test_date(void **state)
{
    good(FR_FIELD_DATE, S("2024-02-29"), "\"2024-02-29\"");
    good(FR_FIELD_DATE, S("2000-02-29"), "\"2000-02-29\"");
    good(FR_FIELD_DATE, S("2024/12/31"), "\"2024-12-31\"");
    good(FR_FIELD_DATE, S("2024-03-01T23:59:59Z"), "\"2024-03-01\"");
    good(FR_FIELD_DATE, S("2024-03-01T23:59:59.123+02:00"), "\"2024-03-01\"");
    good(FR_FIELD_DATE, S("2024-03-01 08:00:00-05:00"), "\"2024-03-01\"");
    good(FR_FIELD_DATE, S(" 2024-03-01 "), "\"2024-03-01\"");
    bad(FR_FIELD_DATE, S("2023-02-29"), "out: \"2023-02-29\" is not a calendar date");
    bad(FR_FIELD_DATE, S("1900-02-29"), "out: \"1900-02-29\" is not a calendar date");
    bad(FR_FIELD_DATE, S("2024-04-31"), "out: \"2024-04-31\" is not a calendar date");
    bad(FR_FIELD_DATE, S("2024-13-01"), "out: \"2024-13-01\" is not a calendar date");
    bad(FR_FIELD_DATE, S("01/02/2024"), "out: \"01/02/2024\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024-1-5"), "out: \"2024-1-5\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024-01/05"), "out: \"2024-01/05\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024-03-01T25:00:00Z"),
        "out: \"2024-03-01T25:00:00Z\" is not a date (YYYY-MM-DD)");
    good(FR_FIELD_DATE, S("2024-03-01 10:00:00"), "\"2024-03-01\""); /* no offset: taken */
    bad(FR_FIELD_DATE, S("2024-03-01T10:00"),
        "out: \"2024-03-01T10:00\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024-03-01T10:00:00+0200"),
        "out: \"2024-03-01T10:00:00+0200\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024/03/01T10:00:00Z"),
        "out: \"2024/03/01T10:00:00Z\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, S("2024-03-01junk"), "out: \"2024-03-01junk\" is not a date (YYYY-MM-DD)");
    bad(FR_FIELD_DATE, json_integer(20240301), "out: 20240301 is not a date (YYYY-MM-DD)");
}

static void test_long_value_is_cut(void **state)
{
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *why = NULL;
    assert_null(map_one(FR_FIELD_NUMBER, S(big), true, &why));
    assert_true(strlen(why) < 120);
    assert_non_null(strstr(why, "...\" is not a number"));
    free(why);
}

static void test_required_and_empty(void **state)
{
    char *why = NULL;
    const enum fr_field_type types[] = {FR_FIELD_STRING, FR_FIELD_NUMBER, FR_FIELD_DATE};
    for (size_t i = 0; i < FR_ARRAY_LEN(types); i++) {
        json_t *values[] = {NULL, json_null(), S(""), S("   ")};
        for (size_t j = 0; j < FR_ARRAY_LEN(values); j++) {
            /* required: rejected */
            assert_null(map_one(types[i], values[j] ? json_incref(values[j]) : NULL, true, &why));
            assert_string_equal(why, "out: required but empty");
            free(why);
            /* not required: left out */
            assert_null(map_one(types[i], values[j], false, &why));
            assert_null(why);
        }
    }
}

static void test_whole_record(void **state)
{
    struct fr_map_field fields[] = {
        {.name = "sourceRef", .from = "id", .required = true},
        {.name = "amount", .from = "amt", .type = FR_FIELD_NUMBER, .required = true},
        {.name = "currency", .value = json_string("EUR")},
        {.name = "meta", .value = json_pack("{s:i,s:[b]}", "v", 2, "flags", 1)},
        {.name = "note", .from = "note"},
    };
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s}", "id", "A1", "amt", "12.50", "note", "", "ignored", "x");
    json_t *payload = NULL;
    char *why = NULL;
    assert_int_equal(fr_map_apply(fields, FR_ARRAY_LEN(fields), rec, &payload, &why), 0);
    char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"amount\":12.5,\"currency\":\"EUR\",\"meta\":{\"flags\":[true],"
                              "\"v\":2},\"sourceRef\":\"A1\"}");
    free(text);
    /* literals are copies: changing the payload leaves the config alone */
    json_object_set_new(json_object_get(payload, "meta"), "v", json_integer(3));
    assert_int_equal(json_integer_value(json_object_get(fields[3].value, "v")), 2);
    json_decref(payload);

    /* the first failing field is the reason */
    json_object_set_new(rec, "amt", json_string("12,5"));
    json_object_set_new(rec, "id", json_string(""));
    assert_int_equal(fr_map_apply(fields, FR_ARRAY_LEN(fields), rec, &payload, &why), FR_EINVAL);
    assert_null(payload);
    assert_string_equal(why, "sourceRef: required but empty");
    free(why);
    json_object_set_new(rec, "id", json_string("A1"));
    assert_int_equal(fr_map_apply(fields, FR_ARRAY_LEN(fields), rec, &payload, &why), FR_EINVAL);
    assert_string_equal(why, "amount: \"12,5\" is not a number");
    free(why);
    json_decref(rec);
    json_decref(fields[2].value);
    json_decref(fields[3].value);
}

static void key_is(json_t *payload, const char *want)
{
    char *k = fr_map_key(payload, "k");
    if (!want) {
        assert_null(k);
    } else {
        assert_non_null(k);
        assert_string_equal(k, want);
    }
    free(k);
    json_decref(payload);
}

static void test_key(void **state)
{
    key_is(json_pack("{s:s}", "k", "A-1"), "A-1");
    key_is(json_pack("{s:I}", "k", (json_int_t)1234567890123LL), "1234567890123");
    key_is(json_pack("{s:i}", "k", -5), "-5");
    key_is(json_pack("{s:f}", "k", 12.5), "12.5");
    key_is(json_pack("{s:f}", "k", 0.1), "0.1");
    key_is(json_pack("{s:s}", "k", ""), NULL);
    key_is(json_pack("{s:b}", "k", 1), NULL);
    key_is(json_pack("{s:n}", "k"), NULL);
    key_is(json_pack("{s:s}", "other", "x"), NULL);
}

static void test_hash(void **state)
{
    json_t *a = json_pack("{s:s,s:f,s:{s:i,s:i}}", "id", "A1", "amount", 12.5, "n", "x", 1, "y", 2);
    json_t *b = json_pack("{s:{s:i,s:i},s:f,s:s}", "n", "y", 2, "x", 1, "amount", 12.5, "id", "A1");
    json_t *c = json_pack("{s:s,s:f,s:{s:i,s:i}}", "id", "A1", "amount", 12.6, "n", "x", 1, "y", 2);
    char ha[65], hb[65], hc[65];
    fr_map_hash(a, ha);
    fr_map_hash(b, hb);
    fr_map_hash(c, hc);
    assert_int_equal(strlen(ha), 64);
    assert_string_equal(ha, hb);
    assert_string_not_equal(ha, hc);
    for (size_t i = 0; i < 64; i++)
        assert_non_null(strchr("0123456789abcdef", ha[i]));
    /* SHA-256 of {} */
    json_t *empty = json_object();
    fr_map_hash(empty, ha);
    assert_string_equal(ha, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    json_decref(empty);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

/* fr_map_write gives what fr_map_canonical(fr_map_apply()) and fr_map_key give, byte for byte. */
static void same_as_apply(struct fr_map *m, const struct fr_map_field *fields, size_t n,
                          const char *key_field, json_t *rec)
{
    json_t *payload = NULL;
    char *why_apply = NULL, *why_write = NULL, *key = NULL;
    int rc_apply = fr_map_apply(fields, n, rec, &payload, &why_apply);
    struct fr_buf out = FR_BUF_INIT;
    int rc_write = fr_map_write(m, rec, &out, &key, &why_write);
    assert_int_equal(rc_write, rc_apply);
    if (rc_apply) {
        assert_string_equal(why_write, why_apply);
        assert_null(key);
    } else {
        char *want = fr_map_canonical(payload);
        assert_string_equal(fr_buf_str(&out), want);
        char *want_key = fr_map_key(payload, key_field);
        if (want_key)
            assert_string_equal(key, want_key);
        else
            assert_null(key);
        char h1[65], h2[65];
        fr_map_hash(payload, h1);
        fr_map_digest(m, fr_buf_str(&out), out.len, h2);
        assert_string_equal(h1, h2);
        free(want);
        free(want_key);
    }
    free(why_apply);
    free(why_write);
    free(key);
    fr_buf_release(&out);
    json_decref(payload);
    json_decref(rec);
}

static void test_writer_matches_payload(void **state)
{
    json_t *meta = json_pack("{s:i,s:[b,f],s:s}", "z", 2, "a", 1, 0.1, "m", "\"q\"");
    struct fr_map_field fields[] = {
        /* out of order on purpose: the writer sorts by name as the canonical dump does */
        {.name = "zeta", .from = "s"},
        {.name = "amount", .from = "amt", .type = FR_FIELD_NUMBER},
        {.name = "Upper", .from = "i", .type = FR_FIELD_INTEGER},
        {.name = "flag", .from = "b", .type = FR_FIELD_BOOLEAN},
        {.name = "day", .from = "d", .type = FR_FIELD_DATE},
        {.name = "meta", .value = meta},
        {.name = "cur", .value = json_string("EU\u00e9R")},
        {.name = "id", .from = "id", .required = true},
        {.name = "na\"me\n", .from = "s"},
    };
    size_t n = FR_ARRAY_LEN(fields);
    struct fr_map *m = fr_map_new(fields, n, "id");
    static const char *const strings[] = {"plain",
                                          "",
                                          "quote \" back\\slash",
                                          "ctl \x01\x1f\b\f\n\r\t end",
                                          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                                          "slash / and \x7f",
                                          "   spaced  "};
    static const char *const amounts[] = {"19.99",
                                          "-0.5",
                                          "12",
                                          "  7.250 ",
                                          "100000000000000.1",
                                          "0.00001",
                                          "1e5",
                                          "abc",
                                          "-9223372036854775808",
                                          "0.0001",
                                          "0.00012",
                                          "-0.000099",
                                          "00012.500",
                                          "-0.0",
                                          "0.000",
                                          "12.00",
                                          "999999999999999.0",
                                          "1000000000000000.0",
                                          "123456789012345.0",
                                          "1234567890.12345",
                                          "-0000.10",
                                          "100000000000000.0",
                                          "99999999999999.9"};
    for (size_t i = 0; i < FR_ARRAY_LEN(strings); i++)
        for (size_t j = 0; j < FR_ARRAY_LEN(amounts); j++)
            same_as_apply(m, fields, n, "id",
                          json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "s", strings[i], "amt", amounts[j],
                                    "i", j % 2 ? "3.00" : "-42", "b", j % 3 ? "Yes" : "0", "d",
                                    "2024/02/29", "id", strings[i]));
    /* JSON values (JSONL, SQLite sources): numbers as they are, keys from numbers */
    same_as_apply(m, fields, n, "id",
                  json_pack("{s:i,s:f,s:f,s:b,s:s,s:f}", "s", 5, "amt", 1.0 / 3.0, "i", 3.0, "b", 1,
                            "d", "2026-11-22T01:02:03Z", "id", 12.5));
    same_as_apply(m, fields, n, "id",
                  json_pack("{s:I,s:I}", "id", (json_int_t)77, "amt", (json_int_t)-123456789012LL));
    /* rejections: the same first reason */
    same_as_apply(m, fields, n, "id", json_pack("{s:s,s:s}", "id", "X", "d", "2023-02-29"));
    same_as_apply(m, fields, n, "id", json_pack("{s:s}", "amt", "1"));
    same_as_apply(m, fields, n, "id", json_pack("{s:s,s:o}", "id", "X", "s", json_array()));
    fr_map_free(m);

    /* a literal key field */
    struct fr_map_field lit[] = {{.name = "k", .value = json_integer(9)}};
    m = fr_map_new(lit, 1, "k");
    same_as_apply(m, lit, 1, "k", json_object());
    fr_map_free(m);
    json_decref(lit[0].value);
    json_decref(meta);
    json_decref(fields[6].value);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_integer),
        cmocka_unit_test(test_boolean),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_long_value_is_cut),
        cmocka_unit_test(test_required_and_empty),
        cmocka_unit_test(test_whole_record),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_writer_matches_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
