#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"
#include "http/policy.h"
#include "http/http_conf.h"

/* ---- classification, row by row ---------------------------------------- */

struct case_row {
    enum fr_transport transport;
    int status;
    bool unparsable;
    enum fr_body_rule_hit body_rule;
    bool auth_retried;
    enum fr_class cls;
    enum fr_action action;
};

#define OK(st, cls, act)                                                                           \
    {                                                                                              \
        FR_TR_OK, st, false, FR_BODY_RULE_NONE, false, cls, act                                    \
    }

static const struct case_row cases[] = {
    OK(200, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(201, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(204, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(299, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(401, FR_CLASS_AUTH, FR_ACT_REFRESH_RETRY),
    {FR_TR_OK, 401, false, FR_BODY_RULE_NONE, true, FR_CLASS_AUTH, FR_ACT_FAIL},
    OK(409, FR_CLASS_DUPLICATE, FR_ACT_DONE),
    OK(429, FR_CLASS_RATE_LIMITED, FR_ACT_RETRY),
    OK(500, FR_CLASS_TRANSIENT, FR_ACT_RETRY),
    OK(502, FR_CLASS_TRANSIENT, FR_ACT_RETRY),
    OK(503, FR_CLASS_TRANSIENT, FR_ACT_RETRY),
    OK(599, FR_CLASS_TRANSIENT, FR_ACT_RETRY),
    OK(400, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(403, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(404, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(422, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(499, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(100, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(301, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(302, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(600, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(0, FR_CLASS_REJECTED, FR_ACT_FAIL),
    {FR_TR_TIMEOUT, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_CONNECT, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_RESET, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_TRUNCATED, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_OTHER, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    /* a status left over from a failed transfer does not matter */
    {FR_TR_TIMEOUT, 200, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_TLS, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_REJECTED, FR_ACT_FAIL},
    {FR_TR_OK, 200, true, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_OK, 201, true, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_OK, 200, false, FR_BODY_RULE_RETRY, false, FR_CLASS_BODY_ERROR, FR_ACT_RETRY},
    {FR_TR_OK, 200, false, FR_BODY_RULE_NO_RETRY, false, FR_CLASS_BODY_ERROR, FR_ACT_FAIL},
    /* body flags only matter for 2xx */
    {FR_TR_OK, 500, true, FR_BODY_RULE_NO_RETRY, false, FR_CLASS_TRANSIENT, FR_ACT_RETRY},
    {FR_TR_OK, 404, false, FR_BODY_RULE_RETRY, false, FR_CLASS_REJECTED, FR_ACT_FAIL},
    /* auth_retried only matters for 401 */
    {FR_TR_OK, 200, false, FR_BODY_RULE_NONE, true, FR_CLASS_SUCCESS, FR_ACT_DONE},
    {FR_TR_OK, 403, false, FR_BODY_RULE_NONE, true, FR_CLASS_REJECTED, FR_ACT_FAIL},
};

static void test_classify_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        const struct case_row *c = &cases[i];
        struct fr_classify_in in = {
            .transport = c->transport,
            .status = c->status,
            .body_unparsable = c->unparsable,
            .body_rule = c->body_rule,
            .auth_retried = c->auth_retried,
        };
        struct fr_verdict v = fr_classify(&in);
        if (v.cls != c->cls || v.action != c->action)
            fail_msg("row %zu (transport %d, status %d): got %s/%d, want %s/%d", i, c->transport,
                     c->status, fr_class_name(v.cls), v.action, fr_class_name(c->cls), c->action);
        assert_non_null(v.reason);
        assert_true(strlen(v.reason) > 0);
    }
}

/* The in-doubt row of the contract: what was sent and got no complete answer. */
struct doubt_row {
    enum fr_transport transport;
    int status;
    bool sent, unparsable;
    bool in_doubt;
};

static const struct doubt_row doubt_cases[] = {
    /* sent, no complete answer: the API may have acted */
    {FR_TR_TIMEOUT, 0, true, false, true},
    {FR_TR_RESET, 0, true, false, true},
    {FR_TR_TRUNCATED, 0, true, false, true},
    {FR_TR_RESEND, 0, true, false, true},
    {FR_TR_OTHER, 0, true, false, true},
    {FR_TR_OK, 200, true, true, true}, /* an HTML maintenance page on a 2xx */
    {FR_TR_OK, 502, true, false, true},
    {FR_TR_OK, 504, true, false, true},
    /* refused before acting, or nothing went out */
    {FR_TR_TIMEOUT, 0, false, false, false}, /* connect timeout */
    {FR_TR_RESET, 0, false, false, false},
    {FR_TR_CONNECT, 0, false, false, false},
    {FR_TR_CONNECT, 0, true, false, false},
    {FR_TR_OTHER, 0, false, false, false},
    {FR_TR_TLS, 0, true, false, false},
    {FR_TR_OK, 429, true, false, false},
    {FR_TR_OK, 503, true, false, false},
    {FR_TR_OK, 500, true, false, false},
    {FR_TR_OK, 401, true, false, false},
    {FR_TR_OK, 200, true, false, false},
    {FR_TR_OK, 409, true, false, false},
    {FR_TR_OK, 422, true, false, false},
};

static void test_classify_in_doubt(void **state)
{
    (void)state;
    for (size_t i = 0; i < FR_ARRAY_LEN(doubt_cases); i++) {
        const struct doubt_row *c = &doubt_cases[i];
        struct fr_classify_in in = {.transport = c->transport,
                                    .status = c->status,
                                    .sent = c->sent,
                                    .body_unparsable = c->unparsable};
        struct fr_verdict v = fr_classify(&in);
        if (v.in_doubt != c->in_doubt)
            fail_msg("row %zu (transport %d, status %d, sent %d): in_doubt %d, want %d", i,
                     c->transport, c->status, c->sent, v.in_doubt, c->in_doubt);
    }
}

static void test_classify_reasons(void **state)
{
    (void)state;
    struct fr_classify_in in = {.transport = FR_TR_OK, .status = 503};
    assert_string_equal(fr_classify(&in).reason, "server error");
    in.status = 429;
    assert_string_equal(fr_classify(&in).reason, "rate limited");
    in.status = 200;
    assert_string_equal(fr_classify(&in).reason, "accepted");
}

/*
 * The hand-off table (webhook delivery): only a 2xx is done; everything
 * else is a failed attempt its caller retries, never a retry, refresh or
 * duplicate below it, and never in doubt.
 */
static const struct case_row handoff_cases[] = {
    OK(200, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(202, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(299, FR_CLASS_SUCCESS, FR_ACT_DONE),
    OK(401, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(404, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(409, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(429, FR_CLASS_RATE_LIMITED, FR_ACT_FAIL),
    OK(500, FR_CLASS_TRANSIENT, FR_ACT_FAIL),
    OK(502, FR_CLASS_TRANSIENT, FR_ACT_FAIL),
    OK(503, FR_CLASS_TRANSIENT, FR_ACT_FAIL),
    OK(100, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(302, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(600, FR_CLASS_REJECTED, FR_ACT_FAIL),
    OK(0, FR_CLASS_REJECTED, FR_ACT_FAIL),
    {FR_TR_TIMEOUT, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_CONNECT, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_RESET, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_TRUNCATED, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_RESEND, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_OTHER, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
    {FR_TR_TLS, 0, false, FR_BODY_RULE_NONE, false, FR_CLASS_REJECTED, FR_ACT_FAIL},
    /* a status left over from a failed transfer does not make it delivered */
    {FR_TR_TIMEOUT, 200, false, FR_BODY_RULE_NONE, false, FR_CLASS_TRANSIENT, FR_ACT_FAIL},
};

static void test_classify_handoff_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < FR_ARRAY_LEN(handoff_cases); i++) {
        const struct case_row *c = &handoff_cases[i];
        for (int sent = 0; sent <= 1; sent++) {
            struct fr_classify_in in = {
                .transport = c->transport, .status = c->status, .sent = sent};
            struct fr_verdict v = fr_classify_handoff(&in);
            if (v.cls != c->cls || v.action != c->action || v.in_doubt)
                fail_msg("hand-off row %zu (transport %d, status %d, sent %d): got %s/%d%s, want "
                         "%s/%d",
                         i, c->transport, c->status, sent, fr_class_name(v.cls), v.action,
                         v.in_doubt ? " in doubt" : "", fr_class_name(c->cls), c->action);
            assert_non_null(v.reason);
            assert_true(strlen(v.reason) > 0);
        }
    }
}

static void test_class_names(void **state)
{
    (void)state;
    assert_string_equal(fr_class_name(FR_CLASS_SUCCESS), "success");
    assert_string_equal(fr_class_name(FR_CLASS_DUPLICATE), "duplicate");
    assert_string_equal(fr_class_name(FR_CLASS_AUTH), "auth");
    assert_string_equal(fr_class_name(FR_CLASS_RATE_LIMITED), "rate_limited");
    assert_string_equal(fr_class_name(FR_CLASS_TRANSIENT), "transient");
    assert_string_equal(fr_class_name(FR_CLASS_BODY_ERROR), "body_error");
    assert_string_equal(fr_class_name(FR_CLASS_REJECTED), "rejected");
    assert_string_equal(fr_class_name((enum fr_class)99), "unknown");
}

/* ---- body rules --------------------------------------------------------- */

static void test_body_rules(void **state)
{
    (void)state;
    struct fr_body_rule rules[2] = {
        {.path = "/success", .equals = json_false(), .message = "/error/message", .retry = false},
        {.path = "/status", .equals = json_string("RETRY"), .message = NULL, .retry = true},
    };
    json_t *fail =
        json_loads("{\"success\": false, \"error\": {\"message\": \"bad payee\"}}", 0, NULL);
    json_t *ok = json_loads("{\"success\": true, \"error\": {\"message\": \"n/a\"}}", 0, NULL);
    json_t *strfalse = json_loads("{\"success\": \"false\"}", 0, NULL);
    json_t *retry = json_loads("{\"status\": \"RETRY\", \"success\": true}", 0, NULL);
    json_t *nomsg = json_loads("{\"success\": false, \"error\": {\"message\": 42}}", 0, NULL);

    const char *msg = NULL;
    assert_ptr_equal(fr_body_rules_match(rules, 2, fail, &msg), &rules[0]);
    assert_non_null(msg);
    assert_string_equal(msg, "bad payee");
    assert_false(rules[0].retry);

    msg = NULL;
    assert_null(fr_body_rules_match(rules, 2, ok, &msg));
    assert_null(msg);
    assert_null(fr_body_rules_match(rules, 2, strfalse, &msg)); /* "false" is not false */

    assert_ptr_equal(fr_body_rules_match(rules, 2, retry, &msg), &rules[1]);
    assert_null(msg); /* that rule names no message */

    msg = NULL;
    assert_ptr_equal(fr_body_rules_match(rules, 2, nomsg, &msg), &rules[0]);
    assert_null(msg); /* the message is not a string */

    assert_ptr_equal(fr_body_rules_match(rules, 2, fail, NULL), &rules[0]);
    assert_null(fr_body_rules_match(rules, 0, fail, &msg));
    assert_null(fr_body_rules_match(rules, 2, NULL, &msg));

    json_decref(fail);
    json_decref(ok);
    json_decref(strfalse);
    json_decref(retry);
    json_decref(nomsg);
    json_decref(rules[1].equals);
}

/* ---- Retry-After -------------------------------------------------------- */

/* Sun, 06 Nov 1994 08:49:07 GMT, so 08:49:37 is 30 s ahead. */
#define NOW_1994 (784111747LL * 1000)

static void test_retry_after_seconds(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_int_equal(fr_parse_retry_after("120", 0, &d), 0);
    assert_int_equal(d, 120000);
    assert_int_equal(fr_parse_retry_after("0", 0, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(fr_parse_retry_after(" 7\r\n", 0, &d), 0); /* OWS around the value */
    assert_int_equal(d, 7000);
    assert_int_equal(fr_parse_retry_after("99999999999999999999999999", 0, &d), 0);
    assert_int_equal(d, (int64_t)INT32_MAX * 1000); /* clamped */
}

static void test_retry_after_dates(void **state)
{
    (void)state;
    int64_t d = -1;
    assert_int_equal(fr_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW_1994, &d), 0);
    assert_int_equal(d, 30000);
    d = -1;
    assert_int_equal(fr_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", NOW_1994, &d), 0);
    assert_int_equal(d, 30000);
    d = -1;
    assert_int_equal(fr_parse_retry_after("Sun Nov  6 08:49:37 1994", NOW_1994, &d), 0);
    assert_int_equal(d, 30000);
    d = -1;
    assert_int_equal(fr_parse_retry_after("Sun Nov 06 08:49:37 1994", NOW_1994, &d), 0);
    assert_int_equal(d, 30000);
    /* sub-second now: the delay is exact to the millisecond */
    assert_int_equal(fr_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", NOW_1994 + 250, &d), 0);
    assert_int_equal(d, 29750);
    /* past dates give 0 */
    d = -1;
    assert_int_equal(fr_parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", NOW_1994, &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(fr_parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", NOW_1994, &d), 0);
    assert_int_equal(d, 0);
    /* a leap day, and a day across a year boundary */
    int64_t now2024 = 1709164800LL * 1000; /* Thu, 29 Feb 2024 00:00:00 GMT */
    assert_int_equal(fr_parse_retry_after("Thu, 29 Feb 2024 00:01:00 GMT", now2024, &d), 0);
    assert_int_equal(d, 60000);
    int64_t now2026 = 1798761540LL * 1000; /* Thu, 31 Dec 2026 23:59:00 GMT */
    assert_int_equal(fr_parse_retry_after("Fri, 01 Jan 2027 00:00:00 GMT", now2026, &d), 0);
    assert_int_equal(d, 60000);
    /* RFC 850 two-digit years near 2026 are 20xx */
    assert_int_equal(fr_parse_retry_after("Friday, 01-Jan-27 00:00:00 GMT", now2026, &d), 0);
    assert_int_equal(d, 60000);
}

static void test_retry_after_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "soon",
        "-1",
        "-5",
        "+5",
        "1.5",
        "12abc",
        "1 2",
        "0x10",
        "Mon, 99 Foo 2020",
        "Mon, 99 Foo 2020 00:00:00 GMT",
        "Sun, 31 Feb 2021 08:49:37 GMT", /* no such day */
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:61:00 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "sun, 06 nov 1994 08:49:37 GMT", /* names are case-sensitive */
        "Sun, 6 Nov 1994 08:49:37 GMT",  /* IMF-fixdate day is two digits */
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",
        "Funday, 06-Nov-94 08:49:37 GMT",
        "2026-11-22T06:00:00Z",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        int64_t d = 12345;
        if (fr_parse_retry_after(bad[i], NOW_1994, &d) != FR_EINVAL)
            fail_msg("accepted garbage \"%s\"", bad[i]);
        assert_int_equal(d, 12345); /* untouched on error */
    }
    int64_t d;
    assert_int_equal(fr_parse_retry_after(NULL, 0, &d), FR_EINVAL);
}

/* Random bytes and mutated dates: never a crash, never a negative delay. */
static void test_retry_after_robust(void **state)
{
    (void)state;
    struct fr_rng rng;
    fr_rng_seed(&rng, 7);
    static const char *const seeds[] = {"Sun, 06 Nov 1994 08:49:37 GMT",
                                        "Sunday, 06-Nov-94 08:49:37 GMT",
                                        "Sun Nov  6 08:49:37 1994", "120"};
    static const char alphabet[] = "0123456789 ,:-GMTSunNovday\t";
    char buf[64];
    for (int i = 0; i < 200000; i++) {
        const char *seed = seeds[i % FR_ARRAY_LEN(seeds)];
        size_t len = strlen(seed);
        memcpy(buf, seed, len + 1);
        int edits = 1 + (int)(fr_rng_next(&rng) % 3);
        for (int e = 0; e < edits; e++) {
            size_t at = fr_rng_next(&rng) % len;
            uint64_t kind = fr_rng_next(&rng) % 3;
            if (kind == 0)
                buf[at] = alphabet[fr_rng_next(&rng) % (sizeof(alphabet) - 1)];
            else if (kind == 1)
                buf[at] = (char)(1 + fr_rng_next(&rng) % 255);
            else
                buf[at] = '\0';
        }
        int64_t d = -7;
        int ret = fr_parse_retry_after(buf, NOW_1994, &d);
        if (ret == 0)
            assert_true(d >= 0);
        else
            assert_int_equal(d, -7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_rows),         cmocka_unit_test(test_classify_in_doubt),
        cmocka_unit_test(test_classify_handoff_rows), cmocka_unit_test(test_classify_reasons),
        cmocka_unit_test(test_class_names),           cmocka_unit_test(test_body_rules),
        cmocka_unit_test(test_retry_after_seconds),   cmocka_unit_test(test_retry_after_dates),
        cmocka_unit_test(test_retry_after_garbage),   cmocka_unit_test(test_retry_after_robust),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
