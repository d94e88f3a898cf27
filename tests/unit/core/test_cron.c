#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/cron.h"
#include "core/error.h"

static struct fr_cron parse_ok(const char *spec)
{
    struct fr_cron c;
    char why[256];
    if (fr_cron_parse(spec, &c, why, sizeof(why)))
        fail_msg("%s: %s", spec, why);
    return c;
}

/* Unix seconds of an RFC 3339 time. */
static time_t at(const char *rfc3339)
{
    int64_t ms;
    assert_int_equal(fr_parse_rfc3339(rfc3339, &ms), 0);
    return (time_t)(ms / 1000);
}

static void expect_next(const char *spec, const char *tz, const char *after, const char *want)
{
    struct fr_cron c = parse_ok(spec);
    time_t got = fr_cron_next(&c, tz, at(after));
    if (got != at(want)) {
        char buf[64] = "-1";
        if (got >= 0)
            fr_format_rfc3339((int64_t)got * 1000, buf, sizeof(buf));
        fail_msg("%s in %s after %s: got %s, want %s", spec, tz ? tz : "local", after, buf, want);
    }
}

static void test_parse_errors(void **state)
{
    struct fr_cron c;
    char why[256];
    const char *bad[] = {"",          "* * * *",     "* * * * * *", "60 * * * *",  "* 24 * * *",
                         "* * 0 * *", "* * * 13 *",  "* * * * 8",   "*/0 * * * *", "5-1 * * * *",
                         "a * * * *", "1,,2 * * * *"};
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        if (fr_cron_parse(bad[i], &c, why, sizeof(why)) != FR_EPARSE)
            fail_msg("\"%s\" parsed", bad[i]);
    }
    assert_int_equal(fr_cron_parse("* 24 * * *", &c, why, sizeof(why)), FR_EPARSE);
    assert_string_equal(why, "field 2 (hour): 24-24 is out of range 0-23");
}

static void test_next_utc(void **state)
{
    expect_next("0 2 * * *", "UTC", "2026-11-22T10:00:00Z", "2026-11-23T02:00:00Z");
    expect_next("0 2 * * *", "UTC", "2026-11-22T01:59:59Z", "2026-11-22T02:00:00Z");
    expect_next("0 2 * * *", "UTC", "2026-11-22T02:00:00Z", "2026-11-23T02:00:00Z");
    expect_next("*/15 * * * *", "UTC", "2026-11-22T10:07:00Z", "2026-11-22T10:15:00Z");
    expect_next("30 6 * * mon-fri", "UTC", "2026-11-21T00:00:00Z", "2026-11-23T06:30:00Z");
    expect_next("0 0 1 jan *", "UTC", "2026-11-22T00:00:00Z", "2027-01-01T00:00:00Z");
    expect_next("0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    /* Both day fields restricted: either matches (the 13th, or a Friday). */
    expect_next("0 0 13 * 5", "UTC", "2026-11-22T00:00:00Z", "2026-11-27T00:00:00Z");
    expect_next("0 0 * * 7", "UTC", "2026-11-22T00:00:00Z", "2026-11-29T00:00:00Z"); /* 7: Sunday */
    struct fr_cron never = parse_ok("0 0 31 2 *");
    assert_int_equal(fr_cron_next(&never, "UTC", at("2026-01-01T00:00:00Z")), -1);
}

static void test_next_zoned(void **state)
{
    fr_cron_tz_init();
    /* 02:00 in Berlin is 01:00 UTC in winter, 00:00 UTC in summer. */
    expect_next("0 2 * * *", "Europe/Berlin", "2026-11-22T10:00:00Z", "2026-11-23T01:00:00Z");
    expect_next("0 2 * * *", "Europe/Berlin", "2026-07-01T10:00:00Z", "2026-07-02T00:00:00Z");
    /* 02:30 does not exist on 2026-03-29 in Berlin: no run that day, the next is on the 30th. */
    expect_next("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z");
    /* 02:30 happens twice on 2026-10-25: it runs once, the first time (CEST, 00:30 UTC). */
    expect_next("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z");
    expect_next("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
    expect_next("0 9 * * *", "America/New_York", "2026-11-22T10:00:00Z", "2026-11-22T14:00:00Z");
    assert_true(fr_cron_tz_known("Europe/Berlin"));
    assert_true(fr_cron_tz_known("UTC"));
    assert_false(fr_cron_tz_known("Mars/Olympus"));
    assert_false(fr_cron_tz_known("../../etc/passwd"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_zoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
