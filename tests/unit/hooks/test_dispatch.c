/*
 * The delay before a webhook event's next delivery attempt: full-jitter
 * exponential backoff between the source's base and cap, or the handler's
 * Retry-After (capped).
 */
#include "core/common.h"
#include "hooks/deliver.h"
#include "hooks/dispatch.h"

#include <setjmp.h>
#include <cmocka.h>

/* The largest delay 4000 draws give after attempts_made failures; each is in range. */
static int64_t ceiling(int64_t base, int64_t cap, int attempts_made)
{
    int64_t worst = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 4000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL; /* any spread of values */
        int64_t d = fr_dispatch_retry_delay(base, cap, attempts_made, -1, x);
        assert_true(d >= 0);
        assert_true(d <= cap);
        worst = FR_MAX(worst, d);
    }
    return worst;
}

static void test_doubles_from_base_to_cap(void **state)
{
    /* base 1s, cap 10m: windows 1, 2, 4, 8 ... s, then 600 s flat. */
    int64_t expect = 1000;
    for (int attempt = 1; attempt <= 14; attempt++) {
        int64_t top = ceiling(1000, 600000, attempt);
        int64_t window = FR_MIN(expect, 600000);
        assert_true(top <= window);
        assert_true(top >= window - window / 10); /* the draws reach the top of the window */
        expect *= 2;
    }
    assert_true(ceiling(1000, 600000, 60) <= 600000); /* no overflow far out */
    assert_true(ceiling(1000, 600000, 60) >= 540000);
}

static void test_full_jitter_reaches_zero(void **state)
{
    assert_int_equal(fr_dispatch_retry_delay(1000, 600000, 3, -1, 0), 0);
    int64_t a = fr_dispatch_retry_delay(1000, 600000, 3, -1, 12345);
    int64_t b = fr_dispatch_retry_delay(1000, 600000, 3, -1, 987654321987ULL);
    assert_true(a != b); /* the draw decides, not a fixed schedule */
}

static void test_retry_after_wins_up_to_cap(void **state)
{
    assert_int_equal(fr_dispatch_retry_delay(1000, 600000, 1, 120000, 0), 120000);
    assert_int_equal(fr_dispatch_retry_delay(1000, 600000, 5, 0, UINT64_MAX), 0);
    assert_int_equal(fr_dispatch_retry_delay(1000, 60000, 1, 3600000, 0), 60000);
}

/* A forwarded header value cannot carry a line break, so it cannot add a header. */
static void test_header_values(void **state)
{
    (void)state;
    assert_true(fr_deliver_header_value_ok("application/json; charset=utf-8"));
    assert_true(fr_deliver_header_value_ok("a\tb \xc3\xa9"));
    assert_true(fr_deliver_header_value_ok(""));
    assert_false(fr_deliver_header_value_ok("application/json\r\nX-Injected: 1"));
    assert_false(fr_deliver_header_value_ok("text/plain\nX: 1"));
    assert_false(fr_deliver_header_value_ok("text/plain\r"));
    assert_false(fr_deliver_header_value_ok("a\x01b"));
    assert_false(fr_deliver_header_value_ok("a\x7f"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_doubles_from_base_to_cap),
        cmocka_unit_test(test_full_jitter_reaches_zero),
        cmocka_unit_test(test_retry_after_wins_up_to_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
