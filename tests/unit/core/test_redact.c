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
    fr_redact_add_secret("");   /* ignored */
    fr_redact_add_secret(NULL); /* ignored */
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

/* Two users of one value (two targets with one API key): one letting go does not unmask it. */
static void test_registered_twice(void **state)
{
    fr_redact_add_secret("shared-key-123456");
    fr_redact_add_secret("shared-key-123456");
    expect_redacted("k=shared-key-123456", "k=[REDACTED]");
    fr_redact_remove_secret("shared-key-123456");
    expect_redacted("k=shared-key-123456", "k=[REDACTED]");
    fr_redact_remove_secret("shared-key-123456");
    expect_redacted("k=shared-key-123456", "k=shared-key-123456");
}

/*
 * What an API may echo in a per-record message: a token it was sent,
 * registered when fetched, is masked with or without "Bearer" before it.
 */
static void test_echoed_token(void **state)
{
    fr_redact_add_secret("mock_at_0123456789abcdef");
    expect_redacted("token mock_at_0123456789abcdef lacks scope", "token [REDACTED] lacks scope");
    expect_redacted("token Bearer mock_at_0123456789abcdef lacks scope",
                    "token Bearer [REDACTED] lacks scope");
    /* Not registered: not guessed from its shape either. */
    expect_redacted("token mock_at_ffff lacks scope", "token mock_at_ffff lacks scope");
}

static void expect_excerpt(const char *in, size_t max, const char *want)
{
    char *got = fr_redact_excerpt(in, strlen(in), max);
    if (strcmp(got, want) != 0)
        print_error("in:   %s\ngot:  %s\nwant: %s\n", in, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_excerpt(void **state)
{
    expect_excerpt("short\nbody", 100, "short body");
    expect_excerpt("0123456789", 4, "0123...");
    /* A secret the cut would split is masked whole, not shown up to the cut. */
    fr_redact_add_secret("tok-ABCDEFGHIJKLMNOP");
    expect_excerpt("error: tok-ABCDEFGHIJKLMNOP is not allowed", 14, "error: [REDACT...");
    /* The cut keeps UTF-8 characters whole. */
    expect_excerpt("ab\xc3\xa9"
                   "cd",
                   3, "ab...");
    /* Far past the excerpt: read up to max + FR_REDACT_EXCERPT_SLACK, no further. */
    size_t len = 2 * FR_REDACT_EXCERPT_SLACK;
    char *big = fr_calloc(1, len + 1);
    memset(big, 'x', len);
    char *got = fr_redact_excerpt(big, len, 10);
    assert_string_equal(got, "xxxxxxxxxx...");
    free(got);
    free(big);
}

/* The end of a command's output: the same, cut at the front. */
static void test_excerpt_tail(void **state)
{
    char *got = fr_redact_excerpt_tail("line one\nline two", 17, 100);
    assert_string_equal(got, "line one line two");
    free(got);
    got = fr_redact_excerpt_tail("0123456789", 10, 4);
    assert_string_equal(got, "...6789");
    free(got);
    fr_redact_add_secret("tok-ABCDEFGHIJKLMNOP");
    const char *out = "failed with tok-ABCDEFGHIJKLMNOP: denied";
    got = fr_redact_excerpt_tail(out, strlen(out), 12);
    assert_string_equal(got, "...TED]: denied");
    free(got);
}

/* What messages show of a URL: never a password, in any spelling libpq takes. */
static void test_url_credentials(void **state)
{
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"postgresql://ferry@db:5432/ferry", "postgresql://ferry@db:5432/ferry"},
        {"postgresql://db:5432/ferry", "postgresql://db:5432/ferry"},
        {"postgres://db", "postgres://db"},
        {"postgresql://u@[::1]:5432/x?sslmode=require",
         "postgresql://u@[::1]:5432/x?sslmode=require"},
        {"sqlite:ferry.db", "sqlite:ferry.db"},
        {"", ""},
        {"postgresql://ferry:s3cr3t-pw@db:5432/ferry",
         "postgresql://ferry:[REDACTED]@db:5432/ferry"},
        {"postgresql://ferry:s3cr3t-pw@db", "postgresql://ferry:[REDACTED]@db"},
        {"postgresql://:s3cr3t-pw@db/x", "postgresql://:[REDACTED]@db/x"},
        {"postgresql://u:s3cr3t-pw@[::1]:5432/x", "postgresql://u:[REDACTED]@[::1]:5432/x"},
        {"postgresql://u:s3cr3t-pw@h1:5432,h2:5433/x",
         "postgresql://u:[REDACTED]@h1:5432,h2:5433/x"},
        /* '@' and '/' percent-encoded, as they should be; and a broken escape */
        {"postgres://u:p%40ss%2Fw0rd@db/x", "postgres://u:[REDACTED]@db/x"},
        {"postgresql://app:s3cr3t%ZZw0rd@127.0.0.1:1/ferry",
         "postgresql://app:[REDACTED]@127.0.0.1:1/ferry"},
        /* raw: '@' (the last one ends the userinfo), '?', '#', '/' */
        {"postgresql://u:p@ss@w0rd@db/x", "postgresql://u:[REDACTED]@db/x"},
        {"postgresql://u:pa?ss#w0rd@db/x", "postgresql://u:[REDACTED]@db/x"},
        {"postgresql://u:pa/ss-w0rd@db/x", "postgresql://u:[REDACTED]@db/x"},
        /* the query parameter */
        {"postgresql://u@db/x?password=s3cr3t-pw&sslmode=require",
         "postgresql://u@db/x?password=[REDACTED]&sslmode=require"},
        {"postgresql://u@db/x?sslmode=require&password=s3cr3t-pw",
         "postgresql://u@db/x?sslmode=require&password=[REDACTED]"},
        {"postgresql://db/x?password=s3cr3t@pw", "postgresql://db/x?password=[REDACTED]"},
        {"postgresql://u@db/x?sslpassword=s3cr3t-key",
         "postgresql://u@db/x?sslpassword=[REDACTED]"},
        /* a port before a raw '@' in the query: both spans, masked as one */
        {"postgresql://db:5432/x?password=s3cr3t@w0rd", "postgresql://db:[REDACTED]"},
        /* "://" missing or the scheme forgotten */
        {"app:s3cr3t-pw@db.internal/ferry", "app:[REDACTED]@db.internal/ferry"},
        {"postgresql:app:s3cr3t-pw@127.0.0.1/ferry", "postgresql:[REDACTED]@127.0.0.1/ferry"},
        /* libpq's conninfo strings (no store scheme, but what a user may write) */
        {"host=db password=s3cr3t-pw user=u", "host=db password=[REDACTED] user=u"},
        {"host=db password='s3cr3t pw' user=u", "host=db password='[REDACTED]' user=u"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char *shown = fr_redact_url(cases[i].url);
        if (strcmp(shown, cases[i].shown) != 0)
            fail_msg("%s: shown as %s, not %s", cases[i].url, shown, cases[i].shown);
        assert_null(strstr(shown, "s3cr3t"));
        assert_null(strstr(shown, "w0rd"));
        free(shown);
    }
    assert_null(fr_redact_url(NULL));
}

/* A store URL's password, registered, is masked in a library's message that quotes it. */
static void test_url_credentials_registered(void **state)
{
    fr_redact_add_url_credentials("postgresql://app:Sup3r%ZZSecret@db/ferry");
    expect_redacted("invalid percent-encoded token: \"Sup3r%ZZSecret\"",
                    "invalid percent-encoded token: \"[REDACTED]\"");
    fr_redact_add_url_credentials("postgres://u:p%40ss%2Fw0rd@db/x?sslpassword=key-pass-99");
    expect_redacted("p%40ss%2Fw0rd p@ss/w0rd key-pass-99", "[REDACTED] [REDACTED] [REDACTED]");
    /* Too short to register (it would mask common text); still masked in the URL itself. */
    fr_redact_add_url_credentials("postgresql://u:pw@db/x");
    expect_redacted("pw", "pw");
    fr_redact_add_url_credentials(NULL);
    fr_redact_add_url_credentials("sqlite:ferry.db");
    expect_redacted("sqlite:ferry.db", "sqlite:ferry.db");
}

/* libpq quotes what it was handed: the quoted parts holding the password go, the host stays. */
static void test_url_quotes(void **state)
{
    static const struct {
        const char *msg, *url, *want;
    } cases[] = {
        {"missing \"=\" after \"postgresql:app:pw@db/ferry\" in connection info string",
         "postgresql:app:pw@db/ferry",
         "missing \"=\" after \"[REDACTED]\" in connection info string"},
        {"invalid percent-encoded token: \"pw%ZZ\"", "postgresql://u:pw%ZZ@db/x",
         "invalid percent-encoded token: \"[REDACTED]\""},
        {"connection to server at \"127.0.0.1\", port 1 failed", "postgresql://u:pw@127.0.0.1:1/x",
         "connection to server at \"127.0.0.1\", port 1 failed"},
        {"password authentication failed for user \"u\"", "postgresql://u:pw@db/x",
         "password authentication failed for user \"u\""},
        {"unexpected spaces found in \"postgresql://u:p w@db/x\"", "postgresql://u:p w@db/x",
         "unexpected spaces found in \"[REDACTED]\""},
        {"an unterminated \"quote", "postgresql://u:pw@db/x", "an unterminated \"quote"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char *got = fr_redact_url_quotes(cases[i].msg, cases[i].url);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got %s, not %s", cases[i].msg, got, cases[i].want);
        free(got);
    }
    assert_null(fr_redact_url_quotes(NULL, "x"));
}

/* A webhook URL whose path is the credential: scheme and host only. */
static void test_url_path(void **state)
{
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"https://hooks.slack.com/services/T000/B000/XXXXSECRET",
         "https://hooks.slack.com/[REDACTED]"},
        {"http://127.0.0.1:8080/services/T/B/S", "http://127.0.0.1:8080/[REDACTED]"},
        {"https://user:pw@alerts.example/hook?token=t", "https://alerts.example/[REDACTED]"},
        {"https://alerts.example?token=t", "https://alerts.example/[REDACTED]"},
        {"https://alerts.example", "https://alerts.example"},
        {"not a url", "[REDACTED]"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char *shown = fr_redact_url_path(cases[i].url);
        if (strcmp(shown, cases[i].shown) != 0)
            fail_msg("%s: shown as %s, not %s", cases[i].url, shown, cases[i].shown);
        free(shown);
    }
    char *none = fr_redact_url_path(NULL);
    assert_string_equal(none, "[REDACTED]");
    free(none);
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
    /* So do masked values of sensitive names. */
    expect_redacted("a?password=[REDACTED]&b=1 \"secret\": \"[REDACTED]\"",
                    "a?password=[REDACTED]&b=1 \"secret\": \"[REDACTED]\"");
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
        cmocka_unit_test_setup_teardown(test_registered_twice, reset, reset),
        cmocka_unit_test_setup_teardown(test_echoed_token, reset, reset),
        cmocka_unit_test_setup_teardown(test_excerpt, reset, reset),
        cmocka_unit_test_setup_teardown(test_excerpt_tail, reset, reset),
        cmocka_unit_test_setup_teardown(test_url_credentials, reset, reset),
        cmocka_unit_test_setup_teardown(test_url_credentials_registered, reset, reset),
        cmocka_unit_test_setup_teardown(test_url_quotes, reset, reset),
        cmocka_unit_test_setup_teardown(test_url_path, reset, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
