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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold), cmocka_unit_test(test_success_resets_count),
        cmocka_unit_test(test_open_period_and_probe), cmocka_unit_test(test_failed_probe_doubles),
        cmocka_unit_test(test_breaker_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
