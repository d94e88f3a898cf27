#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <math.h>

#include "core/error.h"
#include "core/units.h"

static void duration_ok(const char *s, int64_t want)
{
    int64_t ms = -1;
    const char *why = NULL;
    assert_int_equal(fr_parse_duration(s, &ms, &why), 0);
    assert_int_equal(ms, want);
}

static void duration_bad(const char *s, const char *why_part)
{
    int64_t ms = 12345;
    const char *why = NULL;
    assert_int_equal(fr_parse_duration(s, &ms, &why), FR_EINVAL);
    assert_non_null(why);
    if (!strstr(why, why_part))
        print_error("\"%s\": %s\n", s, why);
    assert_non_null(strstr(why, why_part));
    assert_int_equal(ms, 12345); /* untouched on error */
}

static void test_durations(void **state)
{
    duration_ok("250ms", 250);
    duration_ok("90s", 90000);
    duration_ok("5m", 300000);
    duration_ok("2h", 7200000);
    duration_ok("1d", 86400000);
    duration_ok("0", 0);
    duration_ok("0s", 0);
    duration_ok("1.5s", 1500);

    duration_bad("", "empty");
    duration_bad("90", "missing unit; write e.g. 250ms, 90s, 5m or 2h");
    duration_bad("5x", "unknown duration unit");
    duration_bad("5sec", "unknown duration unit");
    duration_bad("-1s", "non-negative number");
    duration_bad(" 1s", "non-negative number");
    duration_bad("1.5ms", "whole number of milliseconds");
    duration_bad("1s ", "unknown duration unit");
    duration_bad("99999999999999999h", "too large");
    duration_bad("0x10s", "malformed number");
    duration_bad("1e3s", "malformed number");
    duration_bad("1.2.3s", "malformed number");
}

static void test_sizes(void **state)
{
    uint64_t n = 0;
    const char *why = NULL;
    assert_int_equal(fr_parse_size("64KB", &n, &why), 0);
    assert_int_equal(n, 65536);
    assert_int_equal(fr_parse_size("1MB", &n, &why), 0);
    assert_int_equal(n, 1048576);
    assert_int_equal(fr_parse_size("1MiB", &n, &why), 0);
    assert_int_equal(n, 1048576);
    assert_int_equal(fr_parse_size("2GB", &n, &why), 0);
    assert_int_equal(n, 2147483648ULL);
    assert_int_equal(fr_parse_size("512B", &n, &why), 0);
    assert_int_equal(n, 512);
    assert_int_equal(fr_parse_size("1.5KB", &n, &why), 0);
    assert_int_equal(n, 1536);

    assert_int_equal(fr_parse_size("1024", &n, &why), FR_EINVAL);
    assert_non_null(strstr(why, "missing unit"));
    assert_int_equal(fr_parse_size("1TB", &n, &why), FR_EINVAL);
    assert_non_null(strstr(why, "unknown size unit"));
    assert_int_equal(fr_parse_size("0.3B", &n, &why), FR_EINVAL);
    assert_non_null(strstr(why, "whole number of bytes"));
    assert_int_equal(fr_parse_size("", &n, &why), FR_EINVAL);
    assert_int_equal(fr_parse_size("-1KB", &n, &why), FR_EINVAL);
}

static void rate_ok(const char *s, uint32_t count, int64_t window)
{
    struct fr_rate r = {0};
    const char *why = NULL;
    assert_int_equal(fr_parse_rate(s, &r, &why), 0);
    assert_int_equal(r.count, count);
    assert_int_equal(r.window_ms, window);
}

static void rate_bad(const char *s, const char *why_part)
{
    struct fr_rate r = {0};
    const char *why = NULL;
    assert_int_equal(fr_parse_rate(s, &r, &why), FR_EINVAL);
    if (!why || !strstr(why, why_part))
        print_error("\"%s\": %s\n", s, why ? why : "(null)");
    assert_non_null(strstr(why, why_part));
}

static void test_rates(void **state)
{
    rate_ok("100/min", 100, 60000);
    rate_ok("20/s", 20, 1000);
    rate_ok("5000/h", 5000, 3600000);
    rate_ok("1/second", 1, 1000);
    rate_ok("7/m", 7, 60000);
    rate_ok("3/hour", 3, 3600000);

    rate_bad("100", "COUNT/UNIT");
    rate_bad("100 per min", "COUNT/UNIT");
    rate_bad("100/day", "unknown rate unit");
    rate_bad("0/s", "whole number from 1");
    rate_bad("1.5/s", "whole number from 1");
    rate_bad("/s", "non-negative number");
    rate_bad("", "empty");
}

static void test_percent(void **state)
{
    double f = -1;
    const char *why = NULL;
    assert_int_equal(fr_parse_percent("20%", &f, &why), 0);
    assert_true(fabs(f - 0.20) < 1e-12);
    assert_int_equal(fr_parse_percent("0.5%", &f, &why), 0);
    assert_true(fabs(f - 0.005) < 1e-12);
    assert_int_equal(fr_parse_percent("0%", &f, &why), 0);
    assert_true(f == 0.0);
    assert_int_equal(fr_parse_percent("100%", &f, &why), 0);
    assert_true(f == 1.0);

    assert_int_equal(fr_parse_percent("20", &f, &why), FR_EINVAL);
    assert_non_null(strstr(why, "ends in %"));
    assert_int_equal(fr_parse_percent("101%", &f, &why), FR_EINVAL);
    assert_non_null(strstr(why, "between 0% and 100%"));
    assert_int_equal(fr_parse_percent("-5%", &f, &why), FR_EINVAL);
    assert_int_equal(fr_parse_percent("", &f, &why), FR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
