/* test_clock.c: the RFC 3339 and full-date parsers of src/core/clock.c. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/error.h"

static int64_t dt(const char *s)
{
    int64_t ms = -1;
    assert_int_equal(fr_parse_rfc3339(s, &ms), 0);
    return ms;
}

static void test_rfc3339(void **state)
{
    assert_int_equal(dt("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(dt("2024-01-01T00:00:00Z"), 1704067200000LL);
    assert_int_equal(dt("2024-01-01T00:01:00.000Z"), 1704067260000LL);
    assert_int_equal(dt("2024-01-01t00:00:00.25z"), 1704067200250LL);
    assert_int_equal(dt("2024-01-01T00:00:00.123456Z"), 1704067200123LL);
    assert_int_equal(dt("2024-01-01T02:00:00+02:00"), 1704067200000LL);
    assert_int_equal(dt("2023-12-31T19:00:00-05:00"), 1704067200000LL);
    assert_int_equal(dt("2024-02-29T00:00:00Z"), 1709164800000LL);
    assert_int_equal(dt("1969-12-31T23:59:59Z"), -1000);
    /* what ferry writes reads back */
    char buf[40];
    fr_format_rfc3339(1717171717171LL, buf, sizeof(buf));
    assert_int_equal(dt(buf), 1717171717171LL);

    static const char *const bad[] = {
        "",
        "2024-01-01",
        "2024-01-01T00:00:00",      /* no offset */
        "2024-01-01 00:00:00Z",     /* space */
        "2024-13-01T00:00:00Z",     /* month */
        "2023-02-29T00:00:00Z",     /* not a leap year */
        "2024-04-31T00:00:00Z",     /* no such day */
        "2024-01-01T24:00:00Z",     /* hour */
        "2024-01-01T00:60:00Z",     /* minute */
        "2024-01-01T00:00:00.Z",    /* empty fraction */
        "2024-01-01T00:00:00+0200", /* offset without colon */
        "2024-01-01T00:00:00Zjunk", /* trailing */
        "yesterday",
        "2024-1-01T00:00:00Z",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        int64_t ms;
        if (fr_parse_rfc3339(bad[i], &ms) != FR_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

static void test_date(void **state)
{
    int64_t ms;
    assert_int_equal(fr_parse_date("2024-01-01", &ms), 0);
    assert_int_equal(ms, 1704067200000LL);
    assert_int_equal(fr_parse_date("2000-02-29", &ms), 0);
    assert_int_equal(fr_parse_date("1900-02-29", &ms), FR_EINVAL);
    assert_int_equal(fr_parse_date("2024-00-10", &ms), FR_EINVAL);
    assert_int_equal(fr_parse_date("2024-01-01T00:00:00Z", &ms), FR_EINVAL);
    assert_int_equal(fr_parse_date("2024/01/01", &ms), FR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_date),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
