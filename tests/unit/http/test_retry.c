/*
 * The retry decision (src/http/retry.c), row by row and to the millisecond:
 * each row an attempt's outcome (classified by policy.c's table), the
 * attempt number, the time since the first attempt, a Retry-After, the
 * clock and a fixed random value -> the decision and its delay. Then the
 * backoff arithmetic and the retry budget a due retry answers to.
 */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/clock.h"
#include "http/policy.h"
#include "http/retry.h"

/* The default target: 5 attempts, base 1 s, cap 30 s, 10 min in all. */
static const struct fr_retry_conf rc = {
    .max_attempts = 5, .base_ms = 1000, .cap_ms = 30000, .max_elapsed_ms = 600000, .budget = 0.2};
/* The same with attempts to spare, to reach the cap. */
static const struct fr_retry_conf many = {
    .max_attempts = 100, .base_ms = 1000, .cap_ms = 30000, .max_elapsed_ms = 600000, .budget = 0.2};

/* Sun, 06 Nov 1994 08:49:07 GMT: the wall clock of every row. */
#define NOW_1994 (784111747LL * 1000)

/* A random source that always draws the same value, and counts its draws. */
struct fixed_rand {
    uint64_t value;
    int draws;
};

static uint64_t fixed_next(void *state)
{
    struct fixed_rand *f = state;
    f->draws++;
    return f->value;
}

/* ---- the decision, row by row --------------------------------------------------------- */

/* An outcome as the client reads it off the wire, before classification. */
#define HTTP(st)                                                                                   \
    {                                                                                              \
        .transport = FR_TR_OK, .status = (st), .sent = true                                        \
    }
#define WIRE(tr, snt)                                                                              \
    {                                                                                              \
        .transport = (tr), .sent = (snt)                                                           \
    }

#define ANY_DELAY (-1) /* the delay is not the row's point */

struct decide_row {
    const char *what;
    const struct fr_retry_conf *conf;
    struct fr_classify_in outcome;
    int attempts;
    int64_t elapsed_ms;
    const char *retry_after;
    bool resolve_doubt, idempotent;
    uint64_t rnd;
    /* expected */
    enum fr_retry_kind kind;
    enum fr_give_up give_up;
    int64_t delay_ms;
    int draws; /* draws of the random source */
};

static const struct decide_row decide_rows[] = {
    /* done: nothing to decide, nothing drawn */
    {"200 is done", &rc, HTTP(200), 1, 0, NULL, true, false, 7, FR_RETRY_DONE, FR_GIVE_UP_NONE, 0,
     0},
    {"409 is done (duplicate)", &rc, HTTP(409), 3, 5000, NULL, true, false, 7, FR_RETRY_DONE,
     FR_GIVE_UP_NONE, 0, 0},

    /* backoff: uniform in [0, min(cap, base * 2^(n-1))], retry n after attempt n */
    {"first retry, top of [0, 1000]", &rc, HTTP(503), 1, 0, NULL, false, false, 1000,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 1000, 1},
    {"first retry, 1001 wraps to 0", &rc, HTTP(503), 1, 0, NULL, false, false, 1001, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 0, 1},
    {"first retry, mid range", &rc, HTTP(500), 1, 0, NULL, false, false, 437, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 437, 1},
    {"second retry, [0, 2000]", &rc, HTTP(503), 2, 1200, NULL, false, false, 2000, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 2000, 1},
    {"fourth retry, [0, 8000]", &rc, HTTP(503), 4, 9000, NULL, false, false, 8000, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 8000, 1},
    {"fourth retry, 8001 wraps to 0", &rc, HTTP(503), 4, 9000, NULL, false, false, 8001,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 0, 1},
    {"jitter: random 0 is no wait", &rc, HTTP(503), 3, 3000, NULL, false, false, 0, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 0, 1},
    {"jitter: the largest random value", &rc, HTTP(503), 3, 3000, NULL, false, false, UINT64_MAX,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, (int64_t)(UINT64_MAX % 4001), 1},
    {"connect failed backs off", &rc, WIRE(FR_TR_CONNECT, false), 1, 0, NULL, true, false, 999,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 999, 1},
    {"body error with retry backs off",
     &rc,
     {.transport = FR_TR_OK, .status = 200, .sent = true, .body_rule = FR_BODY_RULE_RETRY},
     1,
     0,
     NULL,
     false,
     false,
     600,
     FR_RETRY_AFTER,
     FR_GIVE_UP_NONE,
     600,
     1},

    /* the cap */
    {"sixth retry capped at 30 s", &many, HTTP(503), 6, 20000, NULL, false, false, 30000,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 30000, 1},
    {"sixth retry, 30001 wraps to 0", &many, HTTP(503), 6, 20000, NULL, false, false, 30001,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 0, 1},
    {"fiftieth retry: cap, no overflow", &many, HTTP(503), 50, 20000, NULL, false, false,
     UINT64_MAX, FR_RETRY_AFTER, FR_GIVE_UP_NONE, (int64_t)(UINT64_MAX % 30001), 1},

    /* max_attempts counts the first attempt */
    {"attempt 4 of 5 may retry", &rc, HTTP(503), 4, 0, NULL, false, false, 5, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 5, 1},
    {"attempt 5 of 5 gives up", &rc, HTTP(503), 5, 0, NULL, false, false, 5, FR_RETRY_GIVE_UP,
     FR_GIVE_UP_ATTEMPTS, ANY_DELAY, 1},
    {"429 at attempt 5 of 5 gives up", &rc, HTTP(429), 5, 0, "1", false, false, 5, FR_RETRY_GIVE_UP,
     FR_GIVE_UP_ATTEMPTS, ANY_DELAY, 0},

    /* max_elapsed: the delay must end within it */
    {"delay ends exactly at max_elapsed", &rc, HTTP(503), 2, 599000, NULL, false, false, 1000,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 1000, 1},
    {"delay ends 1 ms past max_elapsed", &rc, HTTP(503), 2, 599000, NULL, false, false, 1001,
     FR_RETRY_GIVE_UP, FR_GIVE_UP_ELAPSED, ANY_DELAY, 1},
    {"past max_elapsed, even with no wait", &rc, HTTP(503), 2, 600001, NULL, false, false, 0,
     FR_RETRY_GIVE_UP, FR_GIVE_UP_ELAPSED, ANY_DELAY, 1},

    /* Retry-After on a 429: honoured instead of a backoff, at most cap */
    {"429 Retry-After 7 s", &rc, HTTP(429), 1, 0, "7", false, false, 3, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 7000, 0},
    {"429 Retry-After 0", &rc, HTTP(429), 2, 0, "0", false, false, 3, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 0, 0},
    {"429 Retry-After 120 s capped at 30 s", &rc, HTTP(429), 1, 0, "120", false, false, 3,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 30000, 0},
    {"429 Retry-After beyond int32 capped", &rc, HTTP(429), 1, 0, "99999999999999999999", false,
     false, 3, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 30000, 0},
    {"429 Retry-After date 10 s ahead", &rc, HTTP(429), 1, 0, "Sun, 06 Nov 1994 08:49:17 GMT",
     false, false, 3, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 10000, 0},
    {"429 Retry-After date in the past", &rc, HTTP(429), 1, 0, "Sun, 06 Nov 1994 08:00:00 GMT",
     false, false, 3, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 0, 0},
    {"429 Retry-After date a day ahead capped", &rc, HTTP(429), 1, 0,
     "Mon, 07 Nov 1994 08:49:07 GMT", false, false, 3, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 30000, 0},
    {"429 Retry-After ends exactly at max_elapsed", &rc, HTTP(429), 1, 570000, "30", false, false,
     3, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 30000, 0},
    {"429 Retry-After would cross max_elapsed", &rc, HTTP(429), 1, 580000, "30", false, false, 3,
     FR_RETRY_GIVE_UP, FR_GIVE_UP_ELAPSED, ANY_DELAY, 0},
    {"429 without Retry-After backs off", &rc, HTTP(429), 2, 0, NULL, false, false, 1500,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 1500, 1},
    {"429 with an empty Retry-After backs off", &rc, HTTP(429), 2, 0, "", false, false, 1500,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 1500, 1},
    {"429 unparsable Retry-After backs off", &rc, HTTP(429), 1, 0, "soon", false, false, 700,
     FR_RETRY_AFTER, FR_GIVE_UP_NONE, 700, 1},
    {"503 Retry-After is not used", &rc, HTTP(503), 1, 0, "7", false, false, 500, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 500, 1},

    /* 401: refresh the token and send again at once, once */
    {"401 refreshes", &rc, HTTP(401), 1, 0, NULL, true, false, 9, FR_RETRY_REFRESH, FR_GIVE_UP_NONE,
     0, 0},
    {"401 refreshes even at the last attempt", &rc, HTTP(401), 5, 0, NULL, true, false, 9,
     FR_RETRY_REFRESH, FR_GIVE_UP_NONE, 0, 0},
    {"a second 401 gives up",
     &rc,
     {.transport = FR_TR_OK, .status = 401, .sent = true, .auth_retried = true},
     2,
     100,
     NULL,
     true,
     false,
     9,
     FR_RETRY_GIVE_UP,
     FR_GIVE_UP_FINAL,
     0,
     0},

    /* in doubt: a POST sent without a complete answer goes back to a caller who resolves doubt */
    {"POST timeout after sending: in doubt", &rc, WIRE(FR_TR_TIMEOUT, true), 1, 0, NULL, true,
     false, 9, FR_RETRY_IN_DOUBT, FR_GIVE_UP_NONE, 0, 0},
    {"POST reset after sending: in doubt", &rc, WIRE(FR_TR_RESET, true), 1, 0, NULL, true, false, 9,
     FR_RETRY_IN_DOUBT, FR_GIVE_UP_NONE, 0, 0},
    {"POST re-send refused: in doubt", &rc, WIRE(FR_TR_RESEND, true), 1, 0, NULL, true, false, 9,
     FR_RETRY_IN_DOUBT, FR_GIVE_UP_NONE, 0, 0},
    {"POST truncated: in doubt", &rc, WIRE(FR_TR_TRUNCATED, true), 2, 0, NULL, true, false, 9,
     FR_RETRY_IN_DOUBT, FR_GIVE_UP_NONE, 0, 0},
    {"POST 502: in doubt", &rc, HTTP(502), 1, 0, NULL, true, false, 9, FR_RETRY_IN_DOUBT,
     FR_GIVE_UP_NONE, 0, 0},
    {"POST 2xx not JSON: in doubt",
     &rc,
     {.transport = FR_TR_OK, .status = 200, .sent = true, .body_unparsable = true},
     1,
     0,
     NULL,
     true,
     false,
     9,
     FR_RETRY_IN_DOUBT,
     FR_GIVE_UP_NONE,
     0,
     0},
    {"in doubt before any limit", &rc, WIRE(FR_TR_TIMEOUT, true), 5, 700000, NULL, true, false, 9,
     FR_RETRY_IN_DOUBT, FR_GIVE_UP_NONE, 0, 0},
    {"no one resolves doubt: resent blindly", &rc, WIRE(FR_TR_TIMEOUT, true), 1, 0, NULL, false,
     false, 800, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 800, 1},
    {"GET timeout after sending: retried", &rc, WIRE(FR_TR_TIMEOUT, true), 1, 0, NULL, true, true,
     800, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 800, 1},
    {"connect timeout: nothing sent, retried", &rc, WIRE(FR_TR_TIMEOUT, false), 1, 0, NULL, true,
     false, 800, FR_RETRY_AFTER, FR_GIVE_UP_NONE, 800, 1},
    {"503 is not in doubt", &rc, HTTP(503), 1, 0, NULL, true, false, 800, FR_RETRY_AFTER,
     FR_GIVE_UP_NONE, 800, 1},

    /* final failures: never retried */
    {"400 gives up", &rc, HTTP(400), 1, 0, NULL, true, false, 9, FR_RETRY_GIVE_UP, FR_GIVE_UP_FINAL,
     0, 0},
    {"422 gives up", &rc, HTTP(422), 1, 0, NULL, false, false, 9, FR_RETRY_GIVE_UP,
     FR_GIVE_UP_FINAL, 0, 0},
    {"TLS failure gives up", &rc, WIRE(FR_TR_TLS, false), 1, 0, NULL, false, false, 9,
     FR_RETRY_GIVE_UP, FR_GIVE_UP_FINAL, 0, 0},
    {"body error without retry gives up",
     &rc,
     {.transport = FR_TR_OK, .status = 200, .sent = true, .body_rule = FR_BODY_RULE_NO_RETRY},
     1,
     0,
     NULL,
     false,
     false,
     9,
     FR_RETRY_GIVE_UP,
     FR_GIVE_UP_FINAL,
     0,
     0},
};

static void test_decide_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < FR_ARRAY_LEN(decide_rows); i++) {
        const struct decide_row *r = &decide_rows[i];
        struct fixed_rand rnd = {.value = r->rnd};
        struct fr_retry_in in = {.verdict = fr_classify(&r->outcome),
                                 .attempts = r->attempts,
                                 .elapsed_ms = r->elapsed_ms,
                                 .retry_after = r->retry_after,
                                 .now_wall_ms = NOW_1994,
                                 .resolve_doubt = r->resolve_doubt,
                                 .idempotent = r->idempotent,
                                 .rand = {fixed_next, &rnd}};
        struct fr_retry_decision d = fr_retry_decide(r->conf, &in);
        if (d.kind != r->kind || d.give_up != r->give_up)
            fail_msg("row %zu (%s): got %s/%d, want %s/%d", i, r->what, fr_retry_kind_name(d.kind),
                     d.give_up, fr_retry_kind_name(r->kind), r->give_up);
        if (r->kind == FR_RETRY_AFTER && d.delay_ms != r->delay_ms)
            fail_msg("row %zu (%s): delay %lld ms, want %lld ms", i, r->what, (long long)d.delay_ms,
                     (long long)r->delay_ms);
        if (rnd.draws != r->draws)
            fail_msg("row %zu (%s): %d random draws, want %d", i, r->what, rnd.draws, r->draws);
        if (!d.reason || !*d.reason)
            fail_msg("row %zu (%s): no reason", i, r->what);
        /* a final verdict gives its own reason; a limit names the limit */
        if (d.give_up == FR_GIVE_UP_FINAL || d.kind != FR_RETRY_GIVE_UP)
            assert_string_equal(d.reason, in.verdict.reason);
        else
            assert_non_null(strstr(d.reason, d.give_up == FR_GIVE_UP_ATTEMPTS ? "max_attempts"
                                                                              : "max_elapsed"));
    }
}

/* Which Retry-After was used, and which was ignored so the client can log it. */
static void test_decide_retry_after_flags(void **state)
{
    (void)state;
    struct fixed_rand rnd = {.value = 123};
    struct fr_classify_in r429 = HTTP(429), r503 = HTTP(503);
    struct fr_retry_in in = {.verdict = fr_classify(&r429),
                             .attempts = 1,
                             .retry_after = "5",
                             .now_wall_ms = NOW_1994,
                             .rand = {fixed_next, &rnd}};
    struct fr_retry_decision d = fr_retry_decide(&rc, &in);
    assert_true(d.retry_after_used);
    assert_false(d.retry_after_ignored);
    assert_int_equal(d.delay_ms, 5000);

    in.retry_after = "in a while";
    d = fr_retry_decide(&rc, &in);
    assert_false(d.retry_after_used);
    assert_true(d.retry_after_ignored);
    assert_int_equal(d.delay_ms, 123);

    in.retry_after = NULL;
    d = fr_retry_decide(&rc, &in);
    assert_false(d.retry_after_used);
    assert_false(d.retry_after_ignored);

    /* not a 429: neither used nor reported */
    in.verdict = fr_classify(&r503);
    in.retry_after = "garbage";
    d = fr_retry_decide(&rc, &in);
    assert_false(d.retry_after_used);
    assert_false(d.retry_after_ignored);
    assert_int_equal(d.delay_ms, 123);
}

/* Draws values[0], values[1], ... in turn. */
struct seq_rand {
    const uint64_t *values;
    int draws;
};

static uint64_t seq_next(void *state)
{
    struct seq_rand *s = state;
    return s->values[s->draws++];
}

/* A whole request: 503, 503, 429 with Retry-After, 503, 503: four retries, then max_attempts. */
static void test_decide_sequence(void **state)
{
    (void)state;
    const int statuses[] = {503, 503, 429, 503, 503};
    const int64_t want[] = {1000, 2000, 3000, 8000};
    const uint64_t draws[] = {1000, 2000, 8000, 0}; /* the top of each window */
    struct seq_rand rnd = {.values = draws};
    int64_t elapsed = 0;
    for (int attempt = 1; attempt <= 5; attempt++) {
        struct fr_classify_in out = HTTP(statuses[attempt - 1]);
        elapsed += 120; /* each answer takes 120 ms */
        struct fr_retry_in in = {.verdict = fr_classify(&out),
                                 .attempts = attempt,
                                 .elapsed_ms = elapsed,
                                 .retry_after = statuses[attempt - 1] == 429 ? "3" : NULL,
                                 .now_wall_ms = NOW_1994,
                                 .rand = {seq_next, &rnd}};
        struct fr_retry_decision d = fr_retry_decide(&rc, &in);
        if (attempt < 5) {
            assert_int_equal(d.kind, FR_RETRY_AFTER);
            assert_int_equal(d.delay_ms, want[attempt - 1]);
            elapsed += d.delay_ms;
        } else {
            assert_int_equal(d.kind, FR_RETRY_GIVE_UP);
            assert_int_equal(d.give_up, FR_GIVE_UP_ATTEMPTS);
        }
    }
    assert_int_equal(elapsed, 5 * 120 + 1000 + 2000 + 3000 + 8000);
    assert_int_equal(rnd.draws, 4); /* the 429 waited its Retry-After; the last one still drew */
}

static void test_retry_after_capped(void **state)
{
    (void)state;
    int64_t ms = -7;
    assert_int_equal(fr_retry_after_capped(&rc, "12", NOW_1994, &ms), 0);
    assert_int_equal(ms, 12000);
    assert_int_equal(fr_retry_after_capped(&rc, "31", NOW_1994, &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(fr_retry_after_capped(&rc, "Sun, 06 Nov 1994 08:49:37 GMT", NOW_1994, &ms), 0);
    assert_int_equal(ms, 30000);
    ms = -7;
    assert_int_equal(fr_retry_after_capped(&rc, "-1", NOW_1994, &ms), FR_EINVAL);
    assert_int_equal(ms, -7);
    assert_int_equal(fr_retry_after_capped(&rc, "", NOW_1994, &ms), FR_EINVAL);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(fr_retry_kind_name(FR_RETRY_DONE), "done");
    assert_string_equal(fr_retry_kind_name(FR_RETRY_AFTER), "retry");
    assert_string_equal(fr_retry_kind_name(FR_RETRY_REFRESH), "refresh");
    assert_string_equal(fr_retry_kind_name(FR_RETRY_IN_DOUBT), "in_doubt");
    assert_string_equal(fr_retry_kind_name(FR_RETRY_GIVE_UP), "give_up");
    assert_string_equal(fr_retry_kind_name((enum fr_retry_kind)99), "unknown");
}

/* ---- backoff ------------------------------------------------------------ */

static int64_t ceiling_of(int retry)
{
    int64_t c = rc.base_ms;
    for (int i = 1; i < retry; i++)
        c *= 2;
    return FR_MIN(c, rc.cap_ms);
}

static void test_backoff_bounds(void **state)
{
    (void)state;
    struct fr_rng rng;
    fr_rng_seed(&rng, 42);
    for (int retry = 1; retry <= 10; retry++) {
        int64_t ceiling = ceiling_of(retry);
        int64_t max_seen = -1;
        for (int i = 0; i < 20000; i++) {
            int64_t d = fr_backoff_delay(&rc, retry, fr_rng_next(&rng));
            assert_true(d >= 0);
            assert_true(d <= ceiling);
            max_seen = FR_MAX(max_seen, d);
        }
        /* the top of the range is reachable */
        assert_int_equal(fr_backoff_delay(&rc, retry, (uint64_t)ceiling), ceiling);
        assert_int_equal(fr_backoff_delay(&rc, retry, 0), 0);
        assert_true(max_seen >= ceiling * 95 / 100);
    }
    /* 1, 2, 4, 8, 16 s, then the cap */
    assert_int_equal(fr_backoff_delay(&rc, 1, 1000), 1000);
    assert_int_equal(fr_backoff_delay(&rc, 4, 8000), 8000);
    assert_int_equal(fr_backoff_delay(&rc, 4, 8001), 0);
    assert_int_equal(fr_backoff_delay(&rc, 6, 30000), 30000);
    /* huge retry numbers neither overflow nor pass the cap */
    assert_int_equal(fr_backoff_delay(&rc, 1000000, 30000), 30000);
    assert_int_equal(fr_backoff_delay(&rc, INT32_MAX, UINT64_MAX), (int64_t)(UINT64_MAX % 30001));
    struct fr_retry_conf big = rc;
    big.cap_ms = INT64_MAX;
    assert_true(fr_backoff_delay(&big, 200, UINT64_MAX) >= 0);
    /* retry 0 or negative behaves as the first retry */
    assert_true(fr_backoff_delay(&rc, 0, UINT64_MAX) <= 1000);
}

static void test_backoff_spread(void **state)
{
    (void)state;
    struct fr_rng rng;
    fr_rng_seed(&rng, 20261122);
    const int n = 10000;
    const int64_t ceiling = 8000; /* retry 4 */
    double sum = 0;
    int low = 0, high = 0;
    int buckets[10] = {0};
    for (int i = 0; i < n; i++) {
        int64_t d = fr_backoff_delay(&rc, 4, fr_rng_next(&rng));
        sum += (double)d;
        if (d < ceiling / 4)
            low++;
        if (d > ceiling * 3 / 4)
            high++;
        buckets[FR_MIN(d * 10 / ceiling, 9)]++;
    }
    double mean = sum / n;
    assert_true(mean > ceiling * 0.47 && mean < ceiling * 0.53);
    assert_true(low > n / 5 && low < n * 3 / 10);
    assert_true(high > n / 5 && high < n * 3 / 10);
    for (int b = 0; b < 10; b++)
        assert_true(buckets[b] > n / 10 * 8 / 10); /* every tenth of the range is hit */
}

static void test_retry_allowed(void **state)
{
    (void)state;
    assert_true(fr_retry_allowed(&rc, 1, 0, 1000));
    assert_true(fr_retry_allowed(&rc, 4, 0, 1000));
    assert_false(fr_retry_allowed(&rc, 5, 0, 0)); /* max_attempts includes the first */
    assert_false(fr_retry_allowed(&rc, 6, 0, 0));
    assert_true(fr_retry_allowed(&rc, 1, 599000, 1000)); /* exactly at the limit */
    assert_false(fr_retry_allowed(&rc, 1, 599000, 1001));
    assert_false(fr_retry_allowed(&rc, 1, 600001, 0));
    assert_false(fr_retry_allowed(&rc, 1, INT64_MAX, INT64_MAX)); /* no overflow */
    struct fr_retry_conf one = rc;
    one.max_attempts = 1;
    assert_false(fr_retry_allowed(&one, 1, 0, 0));
}

/* ---- retry budget ------------------------------------------------------- */

static void test_budget_ratio(void **state)
{
    (void)state;
    struct fr_budget bg;
    fr_budget_init(&bg, 0.20);
    int64_t t = 3600 * 1000;
    /* 100 first attempts spread over the last 50 s */
    for (int i = 0; i < 100; i++)
        fr_budget_record(&bg, t + i * 500, false);
    t += 50000;
    for (int i = 0; i < 20; i++) {
        if (!fr_budget_allow_retry(&bg, t))
            fail_msg("retry %d refused", i + 1);
        assert_false(bg.exhausted);
        fr_budget_record(&bg, t, true);
    }
    assert_false(fr_budget_allow_retry(&bg, t)); /* the 21st */
    assert_true(bg.exhausted);
    /* more first attempts make room again */
    for (int i = 0; i < 5; i++)
        fr_budget_record(&bg, t, false);
    assert_true(fr_budget_allow_retry(&bg, t));
    assert_false(bg.exhausted);
}

static void test_budget_floor(void **state)
{
    (void)state;
    struct fr_budget bg;
    fr_budget_init(&bg, 0.20);
    int64_t t = 1000;
    fr_budget_record(&bg, t, false); /* one request: 20% of it is 0.2 */
    for (int i = 0; i < FR_BUDGET_MIN_RETRIES; i++) {
        assert_true(fr_budget_allow_retry(&bg, t));
        fr_budget_record(&bg, t, true);
    }
    assert_false(fr_budget_allow_retry(&bg, t));
    /* a zero ratio still has the floor */
    fr_budget_init(&bg, 0);
    for (int i = 0; i < FR_BUDGET_MIN_RETRIES; i++)
        fr_budget_record(&bg, t, true);
    assert_false(fr_budget_allow_retry(&bg, t));
}

static void test_budget_expiry(void **state)
{
    (void)state;
    struct fr_budget bg;
    fr_budget_init(&bg, 0.20);
    int64_t t = 7 * 1000 + 300;
    for (int i = 0; i < FR_BUDGET_MIN_RETRIES; i++)
        fr_budget_record(&bg, t, true);
    assert_false(fr_budget_allow_retry(&bg, t));
    assert_false(fr_budget_allow_retry(&bg, t + 59000)); /* second t+59 still counts t */
    assert_true(fr_budget_allow_retry(&bg, t + 60000));  /* 60 s later the slot is gone */
    /* the slot is reused for the new second, not added to */
    fr_budget_record(&bg, t + 60000, true);
    assert_true(fr_budget_allow_retry(&bg, t + 60000));
    /* a long idle gap forgets everything, even slots not yet overwritten */
    for (int i = 0; i < 9; i++)
        fr_budget_record(&bg, t + 60000 + i * 1000, true);
    assert_false(fr_budget_allow_retry(&bg, t + 68000));
    assert_true(fr_budget_allow_retry(&bg, t + 10 * 60000));
    /* a rolling window: 1000 firsts long ago do not pay for retries now */
    fr_budget_init(&bg, 0.5);
    for (int i = 0; i < 1000; i++)
        fr_budget_record(&bg, 0, false);
    for (int i = 0; i < 50; i++)
        fr_budget_record(&bg, 30000, true);
    assert_true(fr_budget_allow_retry(&bg, 30000));
    assert_false(fr_budget_allow_retry(&bg, 60000)); /* second 0 expired: floor only */
}

/*
 * A due retry the budget refuses waits, it is not dropped; it gives up only
 * when it has waited past max_elapsed since its first attempt.
 */
static void test_budget_exhausted_waits_then_gives_up(void **state)
{
    (void)state;
    struct fr_budget bg;
    fr_budget_init(&bg, rc.budget);
    int64_t first = 5000; /* the request's first attempt, monotonic ms */
    fr_budget_record(&bg, first, false);
    for (int i = 0; i < FR_BUDGET_MIN_RETRIES; i++)
        fr_budget_record(&bg, first + 1000, true); /* other requests' retries */
    /* its retry is due 2 s later: no room, so it waits and asks again */
    int64_t now = first + 2000;
    assert_false(fr_budget_allow_retry(&bg, now));
    assert_true(bg.exhausted);
    assert_false(fr_retry_expired(&rc, now - first));
    /* the minute passes: room again, long before max_elapsed */
    now = first + 1000 + 60000;
    assert_true(fr_budget_allow_retry(&bg, now));
    assert_false(bg.exhausted);

    /* a target whose other requests keep the budget spent (a retry every second): the retry
     * is refused at every recheck and waits until max_elapsed, then gives up */
    fr_budget_init(&bg, rc.budget);
    fr_budget_record(&bg, first, false);
    for (int i = 0; i < FR_BUDGET_MIN_RETRIES; i++)
        fr_budget_record(&bg, first + 1000, true);
    int rechecks = 0;
    for (now = first + 2000; !fr_retry_expired(&rc, now - first); now += FR_BUDGET_RECHECK_MS) {
        fr_budget_record(&bg, now, true);
        assert_false(fr_budget_allow_retry(&bg, now));
        rechecks++;
    }
    assert_int_equal(now - first, rc.max_elapsed_ms + FR_BUDGET_RECHECK_MS);
    assert_int_equal(rechecks, (rc.max_elapsed_ms - 2000) / FR_BUDGET_RECHECK_MS + 1);
    assert_false(fr_retry_expired(&rc, rc.max_elapsed_ms)); /* exactly at the limit: still waits */
    assert_true(fr_retry_expired(&rc, rc.max_elapsed_ms + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_rows),
        cmocka_unit_test(test_decide_retry_after_flags),
        cmocka_unit_test(test_decide_sequence),
        cmocka_unit_test(test_retry_after_capped),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_backoff_spread),
        cmocka_unit_test(test_retry_allowed),
        cmocka_unit_test(test_budget_ratio),
        cmocka_unit_test(test_budget_floor),
        cmocka_unit_test(test_budget_expiry),
        cmocka_unit_test(test_budget_exhausted_waits_then_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
