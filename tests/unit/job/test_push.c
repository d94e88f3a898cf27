/* Unit tests of the push engine's pure parts: the success rate (the exit status of a run is
 * the CLI's table: tests/unit/cli/test_exit.c). */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "job/push.h"
#include "job/job_conf.h"

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
        cmocka_unit_test(test_success_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
