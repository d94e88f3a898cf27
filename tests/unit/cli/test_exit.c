/*
 * The one exit-status table (src/cli/exit.c): every error code's status,
 * and a run's rules (the alert threshold, a stop signal). The numbers are
 * the contract of DESIGN.md and docs/push.md that schedulers rely on.
 */
#include "core/common.h"

#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>

/* src/cli is the program, not the library: the module under test is compiled in. */
#include "cli/exit.c"

/* Every code of FR_ERR_MAP, with the status a person reading docs/push.md expects. */
static const struct {
    int code, status;
} rows[] = {
    {FR_OK, 0},           {FR_EINVAL, 2}, /* a bad argument */
    {FR_ECONFIG, 2},                      /* the config, or a file it names, cannot be used */
    {FR_EPARSE, 1},                       /* input broke mid-run: the job ran and failed */
    {FR_EIO, 1},          /* a read or write failed mid-run: the job ran and failed */
    {FR_ENOTFOUND, 1},    /* something asked for is not there */
    {FR_ETOOBIG, 1},      /* a size limit */
    {FR_EAUTH, 3},        /* authentication failed */
    {FR_EUNREACHABLE, 4}, /* the target stayed unreachable */
    {FR_EREJECTED, 1},    /* the target refused a request */
    {FR_ETIMEOUT, 4},     /* the target did not answer in time */
    {FR_EHTTP, 4},        /* the transfer failed */
    {FR_ESTORE, 5},       /* the store failed */
    {FR_EINTERNAL, 1},    /* a thread that would not start */
    {FR_EBUSY, 6},        /* another run of the job is in progress */
    {FR_EINDOUBT, 1},     /* an answer lost after sending */
    {FR_ECANCELED, 1},    /* stopped early, without a signal */
};

static void test_every_code_has_its_status(void **state)
{
    assert_int_equal(FR_ARRAY_LEN(rows), FR_ERR__COUNT); /* a new code needs a row here too */
    for (int code = 0; code < FR_ERR__COUNT; code++) {
        size_t i = 0;
        while (i < FR_ARRAY_LEN(rows) && rows[i].code != code)
            i++;
        if (i == FR_ARRAY_LEN(rows))
            fail_msg("FR_E%s has no row in this test", fr_errname(code));
        if (fr_cli_exit_status(code) != rows[i].status)
            fail_msg("FR_E%s: exit %d, expected %d", fr_errname(code), fr_cli_exit_status(code),
                     rows[i].status);
    }
    /* a number that is no code is a failure, never success */
    assert_int_equal(fr_cli_exit_status(-1), 1);
    assert_int_equal(fr_cli_exit_status(FR_ERR__COUNT), 1);
}

static void test_the_contract_numbers(void **state)
{
    assert_int_equal(FR_EXIT_OK, 0);
    assert_int_equal(FR_EXIT_FAILURES, 1);
    assert_int_equal(FR_EXIT_USAGE, 2);
    assert_int_equal(FR_EXIT_AUTH, 3);
    assert_int_equal(FR_EXIT_UNREACHABLE, 4);
    assert_int_equal(FR_EXIT_STORE, 5);
    assert_int_equal(FR_EXIT_BUSY, 6);
}

static void test_run_threshold_and_signal(void **state)
{
    /* ok, or ok with failures over the job's alert threshold */
    assert_int_equal(fr_cli_run_exit_status(FR_OK, false, 0), 0);
    assert_int_equal(fr_cli_run_exit_status(FR_OK, true, 0), 1);
    /* a run that stopped on an error: the code's status, threshold or not */
    for (size_t i = 1; i < FR_ARRAY_LEN(rows); i++) {
        assert_int_equal(fr_cli_run_exit_status(rows[i].code, false, 0), rows[i].status);
        assert_int_equal(fr_cli_run_exit_status(rows[i].code, true, 0), rows[i].status);
    }
    /* interrupted after a clean stop: 128 + the signal, whatever else happened */
    assert_int_equal(fr_cli_run_exit_status(FR_OK, false, SIGINT), 130);
    assert_int_equal(fr_cli_run_exit_status(FR_OK, true, SIGTERM), 143);
    assert_int_equal(fr_cli_run_exit_status(FR_ECANCELED, false, SIGTERM), 143);
    assert_int_equal(fr_cli_run_exit_status(FR_EUNREACHABLE, false, SIGINT), 130);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_its_status),
        cmocka_unit_test(test_the_contract_numbers),
        cmocka_unit_test(test_run_threshold_and_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
