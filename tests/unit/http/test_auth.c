/* Unit tests of src/http/auth.c: the token cache state machine and token responses. */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/redact.h"
#include "http/auth.h"
#include "http/http_conf.h"

static void test_no_token_asks_for_one(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    assert_int_equal(fr_token_cache_state(&c, 0), FR_TOKEN_REFRESH_NOW);
    fr_token_cache_release(&c);
}

static void test_expiry_and_refresh_ahead(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_begin(&c);
    fr_token_cache_set(&c, "tok-1", 3600, 1000);
    /* Valid until refresh_before (60 s) ahead of expiry at 1000 + 3600 s. */
    assert_int_equal(fr_token_cache_state(&c, 1000), FR_TOKEN_VALID);
    assert_int_equal(fr_token_cache_state(&c, 1000 + 3540000 - 1), FR_TOKEN_VALID);
    assert_int_equal(fr_token_cache_state(&c, 1000 + 3540000), FR_TOKEN_REFRESH_NOW);
    /* While a refresh runs, the old token is still used until it expires. */
    fr_token_cache_begin(&c);
    assert_int_equal(fr_token_cache_state(&c, 1000 + 3540000), FR_TOKEN_VALID);
    assert_int_equal(fr_token_cache_state(&c, 1000 + 3600000), FR_TOKEN_WAIT);
    fr_token_cache_set(&c, "tok-2", 3600, 1000 + 3600000);
    assert_string_equal(c.access_token, "tok-2");
    assert_int_equal(c.generation, 2);
    fr_token_cache_release(&c);
}

static void test_short_lifetime_refreshes_at_half_life(void **state)
{
    /* A 30 s token with refresh_before 60 s must not be refetched in a loop. */
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_set(&c, "short", 30, 0);
    assert_int_equal(fr_token_cache_state(&c, 0), FR_TOKEN_VALID);
    assert_int_equal(fr_token_cache_state(&c, 14999), FR_TOKEN_VALID);
    assert_int_equal(fr_token_cache_state(&c, 15000), FR_TOKEN_REFRESH_NOW);
    fr_token_cache_release(&c);
}

static void test_single_refresh_under_concurrency(void **state)
{
    /* 50 requests ask at once: the first is told to fetch, all others wait. */
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    int fetches = 0, waits = 0;
    for (int i = 0; i < 50; i++) {
        enum fr_token_state s = fr_token_cache_state(&c, 5);
        if (s == FR_TOKEN_REFRESH_NOW) {
            fetches++;
            fr_token_cache_begin(&c);
        } else if (s == FR_TOKEN_WAIT) {
            waits++;
        }
    }
    assert_int_equal(fetches, 1);
    assert_int_equal(waits, 49);
    fr_token_cache_set(&c, "t", 60, 10);
    assert_int_equal(fr_token_cache_state(&c, 10), FR_TOKEN_VALID);
    fr_token_cache_release(&c);
}

static void test_401_invalidates_only_the_token_used(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_set(&c, "gen1", 3600, 0);
    uint64_t used = c.generation;
    /* Many in-flight requests with the same token get 401: one invalidation. */
    assert_true(fr_token_cache_invalidate(&c, used));
    assert_false(fr_token_cache_invalidate(&c, used));
    assert_int_equal(fr_token_cache_state(&c, 1), FR_TOKEN_REFRESH_NOW);
    fr_token_cache_begin(&c);
    fr_token_cache_set(&c, "gen2", 3600, 2);
    /* A late 401 for the old token leaves the new one alone. */
    assert_false(fr_token_cache_invalidate(&c, used));
    assert_string_equal(c.access_token, "gen2");
    fr_token_cache_release(&c);
}

static void test_failed_fetch_allows_a_new_attempt(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_begin(&c);
    assert_int_equal(fr_token_cache_state(&c, 0), FR_TOKEN_WAIT);
    fr_token_cache_fail(&c);
    assert_int_equal(fr_token_cache_state(&c, 0), FR_TOKEN_REFRESH_NOW);
    fr_token_cache_release(&c);
}

static void test_tokens_are_redacted(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_set(&c, "abcdef0123456789", 3600, 0);
    char *s = fr_redact_str("header Bearer-less abcdef0123456789 end");
    assert_null(strstr(s, "abcdef0123456789"));
    free(s);
    fr_token_cache_release(&c);
}

/*
 * A token replaced or dropped stays masked while answers to requests that
 * carried it may still come; FR_TOKEN_RETIRED_KEEP replacements later it is
 * forgotten, and all are at release.
 */
static void test_replaced_tokens_stay_redacted(void **state)
{
    struct fr_token_cache c;
    fr_token_cache_init(&c, 60000);
    fr_token_cache_set(&c, "first-token-000001", 3600, 0);
    fr_token_cache_set(&c, "second-token-00002", 3600, 0);
    assert_true(fr_token_cache_invalidate(&c, c.generation));
    char *s = fr_redact_str("first-token-000001 second-token-00002");
    assert_string_equal(s, "[REDACTED] [REDACTED]");
    free(s);
    for (int i = 0; i <= FR_TOKEN_RETIRED_KEEP; i++) {
        char tok[32];
        snprintf(tok, sizeof(tok), "later-token-%06d", i);
        fr_token_cache_set(&c, tok, 3600, 0);
    }
    s = fr_redact_str("first-token-000001 second-token-00002");
    assert_string_equal(s, "first-token-000001 second-token-00002");
    free(s);
    s = fr_redact_str("later-token-000000");
    assert_string_equal(s, "[REDACTED]");
    free(s);
    fr_token_cache_release(&c);
    s = fr_redact_str("later-token-000000 later-token-000004");
    assert_string_equal(s, "later-token-000000 later-token-000004");
    free(s);
}

static void test_parse_token_response(void **state)
{
    char *tok = NULL;
    int64_t exp = 0;
    const char *ok = "{\"access_token\":\"xyz\",\"token_type\":\"Bearer\",\"expires_in\":30}";
    assert_int_equal(fr_auth_parse_token_response(ok, strlen(ok), &tok, &exp, NULL), 0);
    assert_string_equal(tok, "xyz");
    assert_int_equal(exp, 30);
    free(tok);
    const char *noexp = "{\"access_token\":\"abc\"}";
    assert_int_equal(fr_auth_parse_token_response(noexp, strlen(noexp), &tok, &exp, NULL), 0);
    assert_int_equal(exp, FR_TOKEN_DEFAULT_LIFETIME_S);
    free(tok);
    struct fr_err err = {0};
    const char *bad = "{\"token\":\"abc\"}";
    assert_int_equal(fr_auth_parse_token_response(bad, strlen(bad), &tok, &exp, &err), FR_EPARSE);
    assert_non_null(strstr(err.msg, "access_token"));
    assert_int_equal(fr_auth_parse_token_response("{\"acc", 5, &tok, &exp, NULL), FR_EPARSE);
    const char *e = "{\"error\":\"invalid_client\"}";
    assert_string_equal(fr_auth_error_code(e, strlen(e)), "invalid_client");
    assert_null(fr_auth_error_code("nope", 4));
}

/* expires_in in every shape a server sends, past int64_t included: capped, never overflowed. */
static void test_token_lifetime_clamped(void **state)
{
    (void)state;
    static const struct {
        const char *expires_in; /* the JSON value */
        int64_t want;
    } cases[] = {
        {"3600", 3600},
        {"59.9", 59},
        {"\"7200\"", 7200},
        {"9223372036854775807", FR_TOKEN_MAX_LIFETIME_S},
        {"1e300", FR_TOKEN_MAX_LIFETIME_S},
        {"\"99999999999999999999999999999999\"", FR_TOKEN_MAX_LIFETIME_S},
        {"31536000", FR_TOKEN_MAX_LIFETIME_S}, /* a year */
        {"0", FR_TOKEN_DEFAULT_LIFETIME_S},
        {"-5", FR_TOKEN_DEFAULT_LIFETIME_S},
        {"0.5", FR_TOKEN_DEFAULT_LIFETIME_S},
        {"\"soon\"", FR_TOKEN_DEFAULT_LIFETIME_S},
        {"null", FR_TOKEN_DEFAULT_LIFETIME_S},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char *body = fr_asprintf("{\"access_token\":\"t\",\"expires_in\":%s}", cases[i].expires_in);
        char *tok = NULL;
        int64_t exp = 0;
        assert_int_equal(fr_auth_parse_token_response(body, strlen(body), &tok, &exp, NULL), 0);
        if (exp != cases[i].want)
            fail_msg("expires_in %s: %lld, want %lld", cases[i].expires_in, (long long)exp,
                     (long long)cases[i].want);
        free(tok);
        free(body);
    }
    /* The cache never computes an expiry past the cap either. */
    struct fr_token_cache c;
    fr_token_cache_init(&c, 0);
    fr_token_cache_set(&c, "t", INT64_MAX, 1000);
    assert_int_equal(c.expires_at_ms, 1000 + FR_TOKEN_MAX_LIFETIME_S * 1000);
    fr_token_cache_release(&c);
}

static void test_token_request_body_is_form_encoded(void **state)
{
    struct fr_auth_conf a = {.type = FR_AUTH_OAUTH2_CC,
                             .client_id = "demo",
                             .client_secret = "s&cret=1",
                             .scope = "im.write im.read"};
    char *body = fr_auth_token_request_body(&a);
    assert_string_equal(body, "grant_type=client_credentials&client_id=demo&client_secret=s%26cret%"
                              "3D1&scope=im.write%20im.read");
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_token_asks_for_one),
        cmocka_unit_test(test_expiry_and_refresh_ahead),
        cmocka_unit_test(test_short_lifetime_refreshes_at_half_life),
        cmocka_unit_test(test_single_refresh_under_concurrency),
        cmocka_unit_test(test_401_invalidates_only_the_token_used),
        cmocka_unit_test(test_failed_fetch_allows_a_new_attempt),
        cmocka_unit_test(test_tokens_are_redacted),
        cmocka_unit_test(test_replaced_tokens_stay_redacted),
        cmocka_unit_test(test_parse_token_response),
        cmocka_unit_test(test_token_lifetime_clamped),
        cmocka_unit_test(test_token_request_body_is_form_encoded),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fr_redact_reset();
    return rc;
}
