#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>

#include "core/clock.h"
#include "http/ratelimit.h"

#define S (1000000LL) /* microseconds per second */

/*
 * Drives one limiter with `callers` concurrent callers for `total` sends.
 * Each caller, once its previous request has completed (random latency of
 * 1..300 ms), waits until the limiter lets it send. Time only advances to
 * the next moment something can happen. Returns the send times (caller frees).
 */
static int64_t *simulate(struct fr_ratelimit *rl, int callers, int total, uint64_t seed)
{
    struct fr_rng rng;
    fr_rng_seed(&rng, seed);
    int64_t *sends = fr_calloc((size_t)total, sizeof(*sends));
    int64_t *ready = fr_calloc((size_t)callers, sizeof(*ready));
    int64_t now = 1000 * S;
    for (int c = 0; c < callers; c++)
        ready[c] = now + (int64_t)(fr_rng_next(&rng) % 1000); /* arrival jitter */
    int n = 0;
    while (n < total) {
        /* the earliest moment any caller could send */
        int64_t next = INT64_MAX;
        for (int c = 0; c < callers; c++) {
            int64_t at = FR_MAX(ready[c], now);
            at += fr_ratelimit_wait_us(rl, at);
            next = FR_MIN(next, at);
        }
        assert_true(next >= now);
        now = next;
        /* callers ready now race for the slot, in a random order */
        int first = (int)(fr_rng_next(&rng) % (uint64_t)callers);
        for (int k = 0; k < callers && n < total; k++) {
            int c = (first + k) % callers;
            if (ready[c] > now || fr_ratelimit_wait_us(rl, now) != 0)
                continue;
            fr_ratelimit_take(rl, now);
            sends[n++] = now;
            ready[c] = now + 1000 + (int64_t)(fr_rng_next(&rng) % (300 * 1000));
        }
    }
    free(ready);
    return sends;
}

/* The most sends in any half-open window [t, t + window) (the worst t is a send time). */
static int max_in_window(const int64_t *sends, int n, int64_t window_us)
{
    int best = 0;
    int j = 0;
    for (int i = 0; i < n; i++) {
        if (j < i)
            j = i;
        while (j < n && sends[j] < sends[i] + window_us)
            j++;
        best = FR_MAX(best, j - i);
    }
    return best;
}

/*
 * A configured fixed rate is never exceeded in any sliding window, and,
 * when enough callers keep the limiter busy (saturated), the overall rate
 * stays within 3% of the limit.
 */
static void check_fixed(uint32_t count, int64_t window_ms, int callers, bool saturated,
                        uint64_t seed)
{
    struct fr_rate_conf conf = {.mode = FR_RATE_FIXED, .rate = {count, window_ms}};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    const int total = 10000;
    int64_t *sends = simulate(&rl, callers, total, seed);
    int64_t window_us = window_ms * 1000;
    int worst = max_in_window(sends, total, window_us);
    if (worst > (int)count)
        fail_msg("%d sends in one %lld ms window, limit %u", worst, (long long)window_ms, count);
    /* not slower than the documented pace either: (1.01 W + 50 ms) / N apart */
    double want = (double)count / ((double)window_us * 1.01 + 50000.0);
    double got = (double)(total - 1) / (double)(sends[total - 1] - sends[0]);
    assert_true(got <= want * 1.0001);
    if (saturated)
        assert_true(got >= want * 0.999);
    /* a window aligned anywhere else cannot hold more either: check a shifted grid */
    for (int64_t t = sends[0] - window_us / 2; t < sends[total - 1]; t += window_us / 7) {
        int in = 0;
        for (int i = 0; i < total; i++)
            in += sends[i] >= t && sends[i] < t + window_us;
        assert_true(in <= (int)count);
    }
    free(sends);
}

static void test_fixed_20_per_second(void **state)
{
    (void)state;
    check_fixed(20, 1000, 50, true, 1);
    check_fixed(20, 1000, 1, false,
                2); /* a single caller: latency lets it fall behind, never ahead */
    check_fixed(20, 1000, 200, true, 3); /* many more callers than the limit */
}

static void test_fixed_600_per_minute(void **state)
{
    (void)state;
    check_fixed(600, 60000, 50, true, 4);
}

static void test_fixed_no_burst_after_idle(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_FIXED, .rate = {20, 1000}};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    int64_t now = 5 * S;
    assert_int_equal(fr_ratelimit_wait_us(&rl, now), 0);
    fr_ratelimit_take(&rl, now);
    /* idle for a minute: still only one send at once, the next (1.01 s + 50 ms) / 20 later */
    now += 60 * S;
    assert_int_equal(fr_ratelimit_wait_us(&rl, now), 0);
    fr_ratelimit_take(&rl, now);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now), 53000);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 50000), 3000);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 53000), 0);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 20.0 / 1.06) < 1e-9);
}

static void test_hold_from_retry_after(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_FIXED, .rate = {20, 1000}};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    int64_t now = 10 * S;
    fr_ratelimit_take(&rl, now);
    assert_false(fr_ratelimit_on_429(&rl, now + 1000, 2000)); /* fixed mode never cuts */
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 1000), 2 * S);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 1000 + 2 * S - 1), 1);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 1000 + 2 * S), 0);
    /* a shorter Retry-After does not shorten a hold in force */
    fr_ratelimit_on_429(&rl, now + 2000, 0);
    assert_int_equal(fr_ratelimit_wait_us(&rl, now + 2000), 2 * S - 1000);
    /* no Retry-After: no hold */
    struct fr_ratelimit rl2;
    fr_ratelimit_init(&rl2, &conf);
    fr_ratelimit_on_429(&rl2, now, -1);
    assert_int_equal(fr_ratelimit_wait_us(&rl2, now), 0);
    /* unpaced targets are held too */
    struct fr_rate_conf none = {.mode = FR_RATE_NONE};
    struct fr_ratelimit rl3;
    fr_ratelimit_init(&rl3, &none);
    assert_int_equal(fr_ratelimit_wait_us(&rl3, now), 0);
    fr_ratelimit_take(&rl3, now);
    assert_int_equal(fr_ratelimit_wait_us(&rl3, now), 0);
    fr_ratelimit_on_429(&rl3, now, 120000);
    assert_int_equal(fr_ratelimit_wait_us(&rl3, now), 120 * S);
    assert_true(fr_ratelimit_rate(&rl3) == 0);
    /* a huge Retry-After does not overflow */
    fr_ratelimit_on_429(&rl3, now, INT64_MAX);
    assert_true(fr_ratelimit_wait_us(&rl3, now) > 120 * S);
}

/* Sends `per_s` requests per second from t0 for `secs` seconds; returns the end time. */
static int64_t send_steadily(struct fr_ratelimit *rl, int64_t t0, int per_s, int secs)
{
    int64_t step = S / per_s;
    int64_t t = t0;
    for (int i = 0; i < per_s * secs; i++, t += step) {
        assert_int_equal(fr_ratelimit_wait_us(rl, t), 0);
        fr_ratelimit_take(rl, t);
    }
    return t;
}

static void test_adaptive_halving(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_ADAPTIVE};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    assert_true(fr_ratelimit_rate(&rl) == 0); /* unpaced until the first 429 */

    int64_t t0 = 100 * S;
    int64_t end = send_steadily(&rl, t0, 100, 3); /* 100/s: unpaced, never waits */
    int64_t t = end + 5000;
    /* the first 429: half of the 100 sent in the last full second */
    assert_true(fr_ratelimit_on_429(&rl, t, -1));
    assert_true(fabs(fr_ratelimit_rate(&rl) - 50.0) < 1e-9);
    assert_int_equal(fr_ratelimit_wait_us(&rl, t), 20000);
    /* the rest of the burst within the same second does not cut again */
    for (int64_t dt = 1000; dt < S; dt += 100000)
        assert_false(fr_ratelimit_on_429(&rl, t + dt, -1));
    assert_true(fabs(fr_ratelimit_rate(&rl) - 50.0) < 1e-9);
    /* a second later it does */
    assert_true(fr_ratelimit_on_429(&rl, t + S, -1));
    assert_true(fabs(fr_ratelimit_rate(&rl) - 25.0) < 1e-9);
    /* the floor: one request per 10 s */
    for (int i = 2; i < 20; i++)
        fr_ratelimit_on_429(&rl, t + i * S, -1);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 0.1) < 1e-9);
    assert_true(fr_ratelimit_wait_us(&rl, t + 19 * S) > 9 * S);
}

static void test_adaptive_first_cut_floor(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_ADAPTIVE};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    fr_ratelimit_take(&rl, 50 * S);
    assert_true(fr_ratelimit_on_429(&rl, 50 * S + 1000, 3000));
    assert_true(fabs(fr_ratelimit_rate(&rl) - 1.0) < 1e-9);            /* at least 1/s */
    assert_int_equal(fr_ratelimit_wait_us(&rl, 50 * S + 1000), 3 * S); /* and the hold */
}

static void test_adaptive_paces_after_cut(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_ADAPTIVE};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    int64_t end = send_steadily(&rl, 10 * S, 40, 2);
    fr_ratelimit_on_429(&rl, end, -1); /* 20/s */
    int64_t *sends = simulate(&rl, 30, 2000, 9);
    assert_true(max_in_window(sends, 2000, S) <= 20);
    free(sends);
}

static void test_adaptive_growth(void **state)
{
    (void)state;
    struct fr_rate_conf conf = {.mode = FR_RATE_ADAPTIVE};
    struct fr_ratelimit rl;
    fr_ratelimit_init(&rl, &conf);
    int64_t t = send_steadily(&rl, 10 * S, 40, 2);
    fr_ratelimit_on_429(&rl, t, -1);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 20.0) < 1e-9);
    fr_ratelimit_on_success(&rl, t + 4 * S);
    fr_ratelimit_on_success(&rl, t + 5 * S - 1);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 20.0) < 1e-9); /* not before 5 s */
    fr_ratelimit_on_success(&rl, t + 5 * S);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 22.0) < 1e-9);
    fr_ratelimit_on_success(&rl, t + 6 * S);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 22.0) < 1e-9); /* once per 5 s */
    fr_ratelimit_on_success(&rl, t + 10 * S);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 24.2) < 1e-9);
    /* a cut restarts the growth clock */
    fr_ratelimit_on_429(&rl, t + 11 * S, -1);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 12.1) < 1e-9);
    fr_ratelimit_on_success(&rl, t + 15 * S);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 12.1) < 1e-9);
    fr_ratelimit_on_success(&rl, t + 16 * S);
    assert_true(fabs(fr_ratelimit_rate(&rl) - 13.31) < 1e-9);
    /* fixed and unpaced limiters ignore successes */
    struct fr_rate_conf fixed = {.mode = FR_RATE_FIXED, .rate = {20, 1000}};
    fr_ratelimit_init(&rl, &fixed);
    double before = fr_ratelimit_rate(&rl);
    fr_ratelimit_on_success(&rl, 100 * S);
    assert_true(fr_ratelimit_rate(&rl) == before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_20_per_second),
        cmocka_unit_test(test_fixed_600_per_minute),
        cmocka_unit_test(test_fixed_no_burst_after_idle),
        cmocka_unit_test(test_hold_from_retry_after),
        cmocka_unit_test(test_adaptive_halving),
        cmocka_unit_test(test_adaptive_first_cut_floor),
        cmocka_unit_test(test_adaptive_paces_after_cut),
        cmocka_unit_test(test_adaptive_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
