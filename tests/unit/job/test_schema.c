/* test_schema.c: the JSON Schema subset of src/job/schema.c, keyword by keyword. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "job/schema.h"

static struct fr_schema *compile(const char *text)
{
    json_error_t je;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &je);
    if (!doc)
        fail_msg("bad test schema: %s", je.text);
    struct fr_schema *s = NULL;
    struct fr_err err = {0};
    int rc = fr_schema_compile(doc, "p.json", &s, &err);
    json_decref(doc);
    if (rc)
        fail_msg("compile: %s", err.msg);
    return s;
}

/* The reasons text for record under schema, "" when valid. Caller frees. */
static char *check(struct fr_schema *s, const char *record)
{
    json_t *v = json_loads(record, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    json_t *reasons = NULL;
    bool ok = fr_schema_validate(s, v, &reasons);
    json_decref(v);
    if (ok) {
        assert_null(reasons);
        return fr_strdup("");
    }
    assert_true(json_array_size(reasons) > 0);
    char *text = fr_schema_reasons_text(reasons);
    json_decref(reasons);
    return text;
}

static void expect(struct fr_schema *s, const char *record, const char *want)
{
    char *got = check(s, record);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n  got  \"%s\"\n  want \"%s\"", record, got, want);
    free(got);
}

static const char participant[] =
    "{\"type\": \"object\","
    " \"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"title\": \"Participant\","
    " \"required\": [\"participantId\", \"email\", \"lastModified\"],"
    " \"properties\": {"
    "  \"participantId\": {\"type\": \"string\", \"pattern\": \"^P\\\\d{6}$\"},"
    "  \"name\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 12},"
    "  \"email\": {\"type\": \"string\", \"pattern\": \"@\"},"
    "  \"status\": {\"enum\": [\"active\", \"inactive\", null]},"
    "  \"quota\": {\"type\": [\"number\", \"null\"], \"minimum\": 0, \"maximum\": 1000},"
    "  \"level\": {\"type\": \"integer\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 10},"
    "  \"hired\": {\"type\": \"string\", \"format\": \"date\"},"
    "  \"lastModified\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "  \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
    "  \"address\": {\"type\": \"object\", \"required\": [\"city\"],"
    "               \"properties\": {\"city\": {\"type\": \"string\"}}}"
    " }}";

static void test_valid(void **state)
{
    struct fr_schema *s = compile(participant);
    expect(s,
           "{\"participantId\": \"P000001\", \"name\": \"Ann\", \"email\": \"a@example.com\","
           " \"status\": \"active\", \"quota\": 12.5, \"level\": 3.0, \"hired\": \"2024-02-29\","
           " \"lastModified\": \"2024-01-01T00:01:00.000Z\", \"tags\": [\"x\", \"y\"],"
           " \"address\": {\"city\": \"Lyon\"}, \"extra\": true}",
           "");
    /* null where the type list allows it, and an enum member that is null */
    expect(s,
           "{\"participantId\": \"P000002\", \"email\": \"b@x\", \"quota\": null, \"status\": null,"
           " \"lastModified\": \"2024-01-01T02:00:00+02:00\"}",
           "");
    /* characters, not bytes: 12 accented letters fit maxLength 12 */
    expect(s,
           "{\"participantId\": \"P000003\", \"email\": \"c@x\", \"lastModified\": "
           "\"2024-01-01T00:00:00Z\", \"name\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
           "");
    fr_schema_free(s);
}

static void test_each_rule(void **state)
{
    struct fr_schema *s = compile(participant);
#define BASE                                                                                       \
    "\"participantId\": \"P000001\", \"email\": \"a@x\", \"lastModified\": "                       \
    "\"2024-01-01T00:00:00Z\""
    expect(s, "[1, 2]", "(record): expected an object, found an array");
    expect(s, "{\"participantId\": \"P000001\"}",
           "email: required but missing; lastModified: required but missing");
    expect(s, "{" BASE ", \"participantId\": 7}",
           "participantId: expected a string, found an integer");
    expect(s,
           "{\"participantId\": \"X000001\", \"email\": \"a@x\", \"lastModified\": "
           "\"2024-01-01T00:00:00Z\"}",
           "participantId: \"X000001\" does not match ^P\\d{6}$");
    expect(s, "{" BASE ", \"name\": \"\"}", "name: 0 characters, fewer than the minimum 1");
    expect(s, "{" BASE ", \"name\": \"Participant 13\"}",
           "name: 14 characters, more than the maximum 12");
    expect(s, "{" BASE ", \"status\": \"gone\"}",
           "status: \"gone\" is not one of [\"active\",\"inactive\",null]");
    expect(s, "{" BASE ", \"quota\": -1}", "quota: -1 is less than the minimum 0");
    expect(s, "{" BASE ", \"quota\": 1000.5}", "quota: 1000.5 is more than the maximum 1000");
    expect(s, "{" BASE ", \"quota\": \"12\"}", "quota: expected a number or null, found a string");
    expect(s, "{" BASE ", \"level\": 2.5}", "level: expected an integer, found a number");
    expect(s, "{" BASE ", \"level\": 0}", "level: 0 is not more than 0 (exclusiveMinimum)");
    expect(s, "{" BASE ", \"level\": 10}", "level: 10 is not less than 10 (exclusiveMaximum)");
    expect(s, "{" BASE ", \"hired\": \"2023-02-29\"}",
           "hired: \"2023-02-29\" is not a date (YYYY-MM-DD)");
    expect(s,
           "{\"participantId\": \"P000001\", \"email\": \"a@x\", \"lastModified\": \"yesterday\"}",
           "lastModified: \"yesterday\" is not a date-time (RFC 3339, e.g. 2024-01-31T12:00:00Z)");
    expect(s, "{" BASE ", \"tags\": [\"a\", 2]}", "tags[1]: expected a string, found an integer");
    expect(s, "{" BASE ", \"address\": {}}", "address.city: required but missing");
    expect(s, "{" BASE ", \"address\": {\"city\": false}}",
           "address.city: expected a string, found a boolean");
    /* long values are quoted short */
    expect(s,
           "{" BASE ", \"status\": \""
           "0123456789012345678901234567890123456789"
           "0123456789012345678901234567890123456789\"}",
           "status: \"01234567890123456789012345678901234567890123456789012345678... is not one of "
           "[\"active\",\"inactive\",null]");
    fr_schema_free(s);
}

static void test_reason_cap_and_booleans(void **state)
{
    struct fr_schema *s = compile("{\"required\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\","
                                  "\"i\",\"j\",\"k\",\"l\"]}");
    json_t *v = json_object(), *reasons = NULL;
    assert_false(fr_schema_validate(s, v, &reasons));
    assert_int_equal(json_array_size(reasons), FR_SCHEMA_MAX_REASONS);
    assert_string_equal(json_string_value(json_array_get(reasons, FR_SCHEMA_MAX_REASONS - 1)),
                        "(more reasons not shown)");
    json_decref(reasons);
    json_decref(v);
    fr_schema_free(s);

    s = compile("true");
    expect(s, "{\"anything\": 1}", "");
    fr_schema_free(s);
    s = compile("{\"properties\": {\"secret\": false}}");
    expect(s, "{\"a\": 1}", "");
    expect(s, "{\"secret\": 1}", "secret: not allowed");
    fr_schema_free(s);
    /* \d inside a class too */
    s = compile("{\"pattern\": \"^[\\\\dA-F]+$\"}");
    expect(s, "\"0A9F\"", "");
    expect(s, "\"0A9G\"", "(record): \"0A9G\" does not match ^[\\dA-F]+$");
    expect(s, "12", ""); /* pattern applies to strings only */
    fr_schema_free(s);
}

static void expect_compile_error(const char *text, const char *want)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(doc);
    struct fr_schema *s = (struct fr_schema *)1;
    struct fr_err err = {0};
    int rc = fr_schema_compile(doc, "schemas/p.json", &s, &err);
    json_decref(doc);
    if (rc != FR_ECONFIG || !strstr(err.msg, want))
        fail_msg("%s: got %d \"%s\", want \"%s\"", text, rc, err.msg, want);
    assert_null(s);
}

/*
 * Found by fuzzing (tests/fuzz/corpus/schema/timeout-*): glibc's regcomp
 * copies x once per "+" and per count of x{n}, so a pattern such as "a"
 * and 30 "+" took minutes and gigabytes to compile. Such patterns are
 * refused at load; real-world ones still compile.
 */
static void test_pattern_too_complex(void **state)
{
    char stacked[64] = "a";
    memset(stacked + 1, '+', 30);
    char text[160];
    snprintf(text, sizeof(text), "{\"pattern\": \"%s\"}", stacked);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect_compile_error(text, "/pattern: regular expression \"a+++");
    expect_compile_error(text, "repeats a repetition (as in a++ or a{2}{3})");
    expect_compile_error("{\"pattern\": \"x{3}{2}\"}", "repeats a repetition");
    expect_compile_error("{\"pattern\": \"x+??\"}", "repeats a repetition");
    expect_compile_error(
        "{\"pattern\": \"((((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)"
        "+)+)+)+)+\"}",
        "is too complex (nested or long repetitions");
    expect_compile_error("{\"pattern\": \"((a{100}){100}){100}\"}", "is too complex");
    expect_compile_error("{\"pattern\": \"(a{1,32767}){1,32767}\"}", "is too complex");
    expect_compile_error("{\"pattern\": \"((a*)*){1000}\"}", "is too complex");
    expect_compile_error("{\"pattern\": \"^.{0,5000}$\"}", "bound lengths with minLength");
    /* Groups left open: regcomp expands them before it sees the missing ")". */
    expect_compile_error("{\"pattern\": \"(x(a{900}b{900}\"}", "is too complex");
    expect_compile_error("{\"pattern\": \"KKK+()+()+(a{400}){3}\"}", "is too complex");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2);

    static const char *const fine[] = {
        "^P\\\\d{6}$",
        "^.{1,255}$",
        "^[A-Z]{2}[0-9]{10}$",
        "^(a+|b+)*c?$",
        "(ab){50}",
        "x+?",
        "a??",
        "^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\\\\.[A-Za-z]{2,24}$",
        "[{}+]+",
        "a{,5}",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(fine); i++) {
        snprintf(text, sizeof(text), "{\"pattern\": \"%s\"}", fine[i]);
        json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
        assert_non_null(doc);
        struct fr_schema *s = NULL;
        struct fr_err err = {0};
        int rc = fr_schema_compile(doc, "p.json", &s, &err);
        if (rc && !strstr(err.msg, "invalid regular expression"))
            fail_msg("%s: %s", fine[i], err.msg);
        fr_schema_free(s);
        json_decref(doc);
    }
}

static void test_compile_errors(void **state)
{
    expect_compile_error("{\"properties\": {\"email\": {\"minLenght\": 1}}}",
                         "schemas/p.json: /properties/email/minLenght: keyword \"minLenght\" is "
                         "not supported (ferry checks type, required,");
    expect_compile_error("{\"additionalProperties\": false}",
                         "schemas/p.json: /additionalProperties: keyword \"additionalProperties\" "
                         "is not supported");
    expect_compile_error("{\"type\": \"text\"}",
                         "schemas/p.json: /type: unknown type \"text\" (use string, number,");
    expect_compile_error("{\"type\": []}", "/type: an empty list of types");
    expect_compile_error("{\"properties\": {\"a/b\": {\"maxLength\": -1}}}",
                         "schemas/p.json: /properties/a~1b/maxLength: must be a non-negative "
                         "integer");
    expect_compile_error("{\"minimum\": \"0\"}", "/minimum: must be a number");
    expect_compile_error("{\"required\": \"id\"}", "/required: must be a list of field names");
    expect_compile_error("{\"enum\": []}", "/enum: must be a non-empty list of values");
    expect_compile_error("{\"pattern\": \"(\"}", "/pattern: invalid regular expression \"(\"");
    expect_compile_error("{\"format\": \"email\"}",
                         "/format: unsupported format \"email\" (ferry checks date and date-time)");
    expect_compile_error("[1]", "schemas/p.json: (the schema): a schema must be an object");
    expect_compile_error("{\"items\": 3}", "/items: a schema must be an object (or true or false)");
}

static void test_load(void **state)
{
    char path[] = "/tmp/ferry-schema-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char bad[] = "{\n  \"type\": \"object\",\n  \"required\": [\"a\",]\n}\n";
    assert_int_equal(write(fd, bad, sizeof(bad) - 1), (ssize_t)(sizeof(bad) - 1));
    close(fd);
    struct fr_schema *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_schema_load(path, &s, &err), FR_ECONFIG);
    char *want = fr_asprintf("%s:3:", path);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "not valid JSON"));
    free(want);
    unlink(path);
    fr_err_clear(&err);
    assert_int_equal(fr_schema_load(path, &s, &err), FR_EIO);
    assert_non_null(strstr(err.msg, "cannot read it"));
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_each_rule),
        cmocka_unit_test(test_reason_cap_and_booleans),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_pattern_too_complex),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
