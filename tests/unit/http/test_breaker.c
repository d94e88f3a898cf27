#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http/breaker.h"

/* ---- circuit breaker ---------------------------------------------------- */

static void trip_at(struct fr_breaker *b, int64_t now)
{
    for (int i = 0; i < b->threshold - 1; i++)
        assert_int_equal(fr_breaker_record(b, true, now), FR_BREAKER_NO_CHANGE);
    assert_int_equal(fr_breaker_record(b, true, now), FR_BREAKER_OPENED);
    assert_int_equal(b->state, FR_BREAKER_OPEN);
}

static void test_opens_after_threshold(void **state)
{
    (void)state;
    struct fr_breaker b;
    fr_breaker_init(&b, 5, 1000, 8000);
    int64_t now = 1000000;
    for (int i = 0; i < 4; i++) {
        assert_true(fr_breaker_allow(&b, now));
        assert_int_equal(fr_breaker_record(&b, true, now), FR_BREAKER_NO_CHANGE);
    }
    assert_int_equal(fr_breaker_wait_ms(&b, now), 0);
    assert_int_equal(fr_breaker_record(&b, true, now), FR_BREAKER_OPENED);
    assert_false(fr_breaker_allow(&b, now));
    assert_int_equal(fr_breaker_wait_ms(&b, now), 1000);
    /* stragglers sent before the trip do not change the open period */
    assert_int_equal(fr_breaker_record(&b, false, now + 10), FR_BREAKER_NO_CHANGE);
    assert_int_equal(fr_breaker_record(&b, true, now + 10), FR_BREAKER_NO_CHANGE);
    assert_int_equal(b.state, FR_BREAKER_OPEN);
}

static void test_success_resets_count(void **state)
{
    (void)state;
    struct fr_breaker b;
    fr_breaker_init(&b, 3, 1000, 8000);
    for (int round = 0; round < 10; round++) {
        fr_breaker_record(&b, true, 0);
        fr_breaker_record(&b, true, 0);
        /* not consecutive: a success (or a 4xx, 409, 429) in between */
        assert_int_equal(fr_breaker_record(&b, false, 0), FR_BREAKER_NO_CHANGE);
    }
    assert_int_equal(b.state, FR_BREAKER_CLOSED);
    /* non-transient outcomes never open it, however many */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fr_breaker_record(&b, false, i), FR_BREAKER_NO_CHANGE);
    assert_true(fr_breaker_allow(&b, 1000));
}

static void test_open_period_and_probe(void **state)
{
    (void)state;
    struct fr_breaker b;
    fr_breaker_init(&b, 2, 1000, 8000);
    int64_t t = 50000;
    trip_at(&b, t);
    assert_false(fr_breaker_allow(&b, t + 999));
    assert_int_equal(fr_breaker_wait_ms(&b, t + 999), 1);
    assert_int_equal(fr_breaker_wait_ms(&b, t + 1000), 0);
    /* half-open: exactly one probe */
    assert_true(fr_breaker_allow(&b, t + 1000));
    assert_int_equal(b.state, FR_BREAKER_HALF_OPEN);
    for (int i = 0; i < 100; i++)
        assert_false(fr_breaker_allow(&b, t + 1000 + i));
    assert_true(fr_breaker_wait_ms(&b, t + 1001) > 0);
    /* the probe succeeds: closed, everyone may send */
    assert_int_equal(fr_breaker_record(&b, false, t + 1200), FR_BREAKER_CLOSED_AGAIN);
    assert_int_equal(b.state, FR_BREAKER_CLOSED);
    assert_true(fr_breaker_allow(&b, t + 1200));
    assert_true(fr_breaker_allow(&b, t + 1200));
    assert_int_equal(fr_breaker_wait_ms(&b, t + 1200), 0);
    /* and the count starts over */
    assert_int_equal(fr_breaker_record(&b, true, t + 1300), FR_BREAKER_NO_CHANGE);
}

static void test_failed_probe_doubles(void **state)
{
    (void)state;
    struct fr_breaker b;
    fr_breaker_init(&b, 1, 1000, 5000);
    int64_t t = 0;
    trip_at(&b, t);
    int64_t expect[] = {2000, 4000, 5000, 5000};
    int64_t period = 1000;
    for (size_t i = 0; i < FR_ARRAY_LEN(expect); i++) {
        t += period;
        assert_true(fr_breaker_allow(&b, t)); /* the probe */
        assert_int_equal(fr_breaker_record(&b, true, t + 10), FR_BREAKER_OPENED);
        t += 10;
        period = expect[i];
        assert_int_equal(fr_breaker_wait_ms(&b, t), period);
        assert_false(fr_breaker_allow(&b, t + period - 1));
    }
    /* recovery resets the period to the base */
    t += period;
    assert_true(fr_breaker_allow(&b, t));
    assert_int_equal(fr_breaker_record(&b, false, t), FR_BREAKER_CLOSED_AGAIN);
    trip_at(&b, t + 1);
    assert_int_equal(fr_breaker_wait_ms(&b, t + 1), 1000);
}

static void test_breaker_defaults(void **state)
{
    (void)state;
    struct fr_breaker b;
    fr_breaker_init(&b, 0, 0, 0);
    assert_int_equal(b.threshold, FR_BREAKER_DEFAULT_THRESHOLD);
    assert_int_equal(b.open_ms, FR_BREAKER_DEFAULT_OPEN_MS);
    assert_true(b.max_open_ms >= b.open_ms);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold), cmocka_unit_test(test_success_resets_count),
        cmocka_unit_test(test_open_period_and_probe), cmocka_unit_test(test_failed_probe_doubles),
        cmocka_unit_test(test_breaker_defaults),      cmocka_unit_test(test_budget_ratio),
        cmocka_unit_test(test_budget_floor),          cmocka_unit_test(test_budget_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
