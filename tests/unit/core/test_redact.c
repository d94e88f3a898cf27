#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/redact.h"

static void expect_redacted(const char *in, const char *want)
{
    char *got = fr_redact_str(in);
    if (strcmp(got, want) != 0)
        print_error("in:   %s\ngot:  %s\nwant: %s\n", in, got, want);
    assert_string_equal(got, want);
    free(got);
}

static int reset(void **state)
{
    fr_redact_reset();
    return 0;
}

static void test_registered_secrets(void **state)
{
    fr_redact_add_secret("hunter2-secret");
    fr_redact_add_secret("hunter2-secret"); /* registered once */
    fr_redact_add_secret("");               /* ignored */
    fr_redact_add_secret(NULL);             /* ignored */
    expect_redacted("a hunter2-secret b hunter2-secretX", "a [REDACTED] b [REDACTED]X");
    expect_redacted("nothing here", "nothing here");

    /* The longest registered value wins where two overlap. */
    fr_redact_add_secret("hunter2-secret-longer");
    expect_redacted("x hunter2-secret-longer y", "x [REDACTED] y");

    fr_redact_remove_secret("hunter2-secret");
    fr_redact_remove_secret("never-registered");
    fr_redact_remove_secret(NULL);
    expect_redacted("hunter2-secret", "hunter2-secret");
    expect_redacted("hunter2-secret-longer", "[REDACTED]");

    fr_redact_reset();
    expect_redacted("hunter2-secret-longer", "hunter2-secret-longer");

    /* fr_redact_mem does not need a NUL and stops at len. */
    fr_redact_add_secret("abc123secret");
    char *m = fr_redact_mem("abc123secretXYZ", 12);
    assert_string_equal(m, "[REDACTED]");
    free(m);
    assert_null(fr_redact_str(NULL));
}

static void test_headers(void **state)
{
    expect_redacted("Authorization: Bearer eyJhbGciOi.abc.def\r\nHost: api.example.com\r\n",
                    "Authorization: [REDACTED]\r\nHost: api.example.com\r\n");
    expect_redacted("authorization: Basic dXNlcjpwYXNz\nAccept: */*",
                    "authorization: [REDACTED]\nAccept: */*");
    expect_redacted("X-API-Key: k-123456\nContent-Type: application/json",
                    "X-API-Key: [REDACTED]\nContent-Type: application/json");
    expect_redacted("Cookie: session=abc; theme=dark\nX: y", "Cookie: [REDACTED]\nX: y");
}

static void test_json_members(void **state)
{
    expect_redacted(
        "{\"access_token\":\"eyJ0eXAi.xyz\",\"token_type\":\"bearer\",\"expires_in\":3600}",
        "{\"access_token\":\"[REDACTED]\",\"token_type\":\"bearer\",\"expires_in\":3600}");
    expect_redacted("{\"client_id\":\"ferry\",\"client_secret\": \"s e c\"}",
                    "{\"client_id\":\"ferry\",\"client_secret\": \"[REDACTED]\"}");
    expect_redacted("{\"refresh_token\" : \"r-1\", \"n\": 1}",
                    "{\"refresh_token\" : \"[REDACTED]\", \"n\": 1}");
    expect_redacted("{\"user\":\"bob\",\"password\":\"p\\\"w,d\",\"ok\":true}",
                    "{\"user\":\"bob\",\"password\":\"[REDACTED]\",\"ok\":true}");
    expect_redacted("{\"Password\":12345,\"x\":1}", "{\"Password\":[REDACTED],\"x\":1}");
}

/* Bodies that wrap an upstream JSON response in a string, and Python-style reprs. */
static void test_nested_and_single_quoted(void **state)
{
    expect_redacted(
        "{\"error\":\"bad\",\"detail\":\"{\\\"access_token\\\":\\\"tok-abc\\\",\\\"n\\\":1}\"}",
        "{\"error\":\"bad\",\"detail\":\"{\\\"access_token\\\":\\\"[REDACTED]\\\",\\\"n\\\":1}\"}");
    /* An escaped quote inside the nested value does not end it early. */
    expect_redacted("\"d\":\"{\\\"password\\\":\\\"x\\\\\\\"tail\\\"}\"",
                    "\"d\":\"{\\\"password\\\":\\\"[REDACTED]\\\"}\"");
    expect_redacted("{'password': 'hunter2', 'x': 1}", "{'password': '[REDACTED]', 'x': 1}");
    expect_redacted("the password's length", "the password's length");
}

static void test_form_and_query(void **state)
{
    expect_redacted("grant_type=client_credentials&client_id=ferry&client_secret=abc%2Fdef&x=1",
                    "grant_type=client_credentials&client_id=ferry&client_secret=[REDACTED]&x=1");
    expect_redacted("client_secret=abc&x=1", "client_secret=[REDACTED]&x=1");
    expect_redacted("GET /cb?access_token=tok-1&state=9 HTTP/1.1",
                    "GET /cb?access_token=[REDACTED]&state=9 HTTP/1.1");
    expect_redacted("https://x.example/p?a=1&refresh_token=zz",
                    "https://x.example/p?a=1&refresh_token=[REDACTED]");
}

static void test_bearer_anywhere(void **state)
{
    expect_redacted("sent Bearer abc.def-ghi to the API", "sent Bearer [REDACTED] to the API");
    expect_redacted("bearer   xyz", "bearer   [REDACTED]");
    /* Already redacted text stays as it is. */
    expect_redacted("Bearer [REDACTED]", "Bearer [REDACTED]");
}

static void test_untouched(void **state)
{
    const char *const texts[] = {
        "POST /api/v2/credits 201 in 35ms",
        "{\"orderId\":\"SO-1001\",\"amount\":1250.50,\"currency\":\"EUR\"}",
        "the password policy requires 12 characters",
        "token_type bearer",
        "targets.im.auth: key \"token_url\" does not apply",
        "",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(texts); i++)
        expect_redacted(texts[i], texts[i]);
}

static void test_sensitive_names(void **state)
{
    assert_true(fr_redact_is_sensitive_name("Authorization", 13));
    assert_true(fr_redact_is_sensitive_name("CLIENT_SECRET", 13));
    assert_true(fr_redact_is_sensitive_name("x-api-key", 9));
    assert_false(fr_redact_is_sensitive_name("client_id", 9));
    assert_false(fr_redact_is_sensitive_name("token_type", 10));
    assert_false(fr_redact_is_sensitive_name("password", 4)); /* "pass" */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registered_secrets, reset, reset),
        cmocka_unit_test_setup_teardown(test_headers, reset, reset),
        cmocka_unit_test_setup_teardown(test_json_members, reset, reset),
        cmocka_unit_test_setup_teardown(test_nested_and_single_quoted, reset, reset),
        cmocka_unit_test_setup_teardown(test_form_and_query, reset, reset),
        cmocka_unit_test_setup_teardown(test_bearer_anywhere, reset, reset),
        cmocka_unit_test_setup_teardown(test_untouched, reset, reset),
        cmocka_unit_test_setup_teardown(test_sensitive_names, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
