/* Unit tests of the push engine's pure parts: the exit status and the success rate. */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "job/push.h"
#include "job/job_conf.h"

static void test_exit_status_contract(void **state)
{
    struct fr_push_result r = {0};
    assert_int_equal(fr_push_exit_status(&r), 0);
    r.over_threshold = true;
    assert_int_equal(fr_push_exit_status(&r), 1);
    const struct {
        int code, status;
    } rows[] = {
        {FR_EAUTH, 3},   {FR_EUNREACHABLE, 4}, {FR_ETIMEOUT, 4}, {FR_ESTORE, 5},
        {FR_ECONFIG, 2}, {FR_EIO, 2},          {FR_EPARSE, 2},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(rows); i++) {
        r.code = rows[i].code;
        assert_int_equal(fr_push_exit_status(&r), rows[i].status);
    }
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
        cmocka_unit_test(test_exit_status_contract),
        cmocka_unit_test(test_success_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
