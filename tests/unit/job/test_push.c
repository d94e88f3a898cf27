/*
 * Unit tests of the push engine's pure parts: the alert threshold (the exit
 * status of a run is the CLI's table: tests/unit/cli/test_exit.c).
 */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "job/push.h"

static void test_no_alert_block_means_any_error_crosses(void **state)
{
    struct fr_job_alert_conf none = {.max_errors = -1, .max_error_rate = -1};
    struct fr_run_counts c = {.read = 1000, .created = 1000};
    assert_false(fr_push_over_threshold(&none, &c));
    c.failed = 1;
    assert_true(fr_push_over_threshold(&none, &c));
    c.failed = 0;
    c.rejected = 1;
    assert_true(fr_push_over_threshold(&none, &c));
}

static void test_max_errors(void **state)
{
    struct fr_job_alert_conf a = {.max_errors = 5, .max_error_rate = -1};
    struct fr_run_counts c = {.read = 10, .failed = 3, .rejected = 2};
    assert_false(fr_push_over_threshold(&a, &c)); /* 5 is not over 5 */
    c.rejected = 3;
    assert_true(fr_push_over_threshold(&a, &c));
    /* changed and skipped records are not errors */
    struct fr_run_counts d = {.read = 100, .changed = 50, .skipped = 50};
    assert_false(fr_push_over_threshold(&a, &d));
}

static void test_max_error_rate(void **state)
{
    struct fr_job_alert_conf a = {.max_errors = -1, .max_error_rate = 0.01};
    struct fr_run_counts c = {.read = 1000, .failed = 10};
    assert_false(fr_push_over_threshold(&a, &c)); /* exactly 1% */
    c.failed = 11;
    assert_true(fr_push_over_threshold(&a, &c));
    struct fr_run_counts empty = {0};
    assert_false(fr_push_over_threshold(&a, &empty));
    /* either limit crosses */
    struct fr_job_alert_conf both = {.max_errors = 100, .max_error_rate = 0.01};
    assert_true(fr_push_over_threshold(&both, &c));
}

static void test_expand_key(void **state)
{
    char *p = fr_push_expand_key("/credits/{{key}}", "SO 1/2");
    assert_string_equal(p, "/credits/SO%201%2F2");
    free(p);
    p = fr_push_expand_key("/a/{{key}}?k={{key}}", "x");
    assert_string_equal(p, "/a/x?k=x");
    free(p);
    p = fr_push_expand_key("/none", "x");
    assert_string_equal(p, "/none");
    free(p);
}

static void test_success_rate(void **state)
{
    struct fr_run_counts none = {0};
    assert_true(fr_push_success_rate(&none) == 1.0);
    struct fr_run_counts c = {
        .created = 6, .duplicate = 1, .skipped = 1, .failed = 1, .rejected = 1};
    assert_true(fr_push_success_rate(&c) == 0.8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_alert_block_means_any_error_crosses),
        cmocka_unit_test(test_max_errors),
        cmocka_unit_test(test_max_error_rate),
        cmocka_unit_test(test_expand_key),
        cmocka_unit_test(test_success_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
