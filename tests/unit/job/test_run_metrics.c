/*
 * What a finished run reports through the observer it was handed: read
 * back from a registry's scrape, as an operator would.
 */
#include "core/common.h"
#include "job/run_metrics.h"

#include <setjmp.h>
#include <cmocka.h>

#include "obs/metrics.h"

static struct fr_run a_run(const char *status, int64_t started_ms, int64_t ended_ms)
{
    struct fr_run run = {.started_ms = started_ms, .ended_ms = ended_ms};
    fr_strlcpy(run.job, "credits", sizeof(run.job));
    fr_strlcpy(run.status, status, sizeof(run.status));
    return run;
}

static void test_ok_run(void **state)
{
    struct fr_metrics *m = fr_metrics_new();
    const struct fr_observer o = fr_metrics_observer(m);
    struct fr_run run = a_run("ok", 1700000000000, 1700000002500);
    run.counts = (struct fr_run_counts){
        .read = 10, .sent = 9, .created = 7, .duplicate = 2, .skipped = 1, .requests = 3};
    fr_run_metrics_note(&o, &run);
    char *text = fr_metrics_text(m);
    const char *want[] = {
        "\nferry_job_records_total{job=\"credits\",outcome=\"read\"} 10\n",
        "\nferry_job_records_total{job=\"credits\",outcome=\"created\"} 7\n",
        "\nferry_job_records_total{job=\"credits\",outcome=\"duplicate\"} 2\n",
        "\nferry_job_records_total{job=\"credits\",outcome=\"skipped\"} 1\n",
        "\nferry_job_runs_total{job=\"credits\",status=\"ok\"} 1\n",
        "\nferry_job_last_run_timestamp_seconds{job=\"credits\"} 1700000002.5\n",
        "\nferry_job_last_success_timestamp_seconds{job=\"credits\"} 1700000002.5\n",
        "\nferry_job_last_run_duration_seconds{job=\"credits\"} 2.5\n",
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(want); i++)
        if (!strstr(text, want[i]))
            fail_msg("no %s in:\n%s", want[i], text);
    /* Only the outcomes that happened: a push run shows no "written", no "failed". */
    assert_null(strstr(text, "outcome=\"written\""));
    assert_null(strstr(text, "outcome=\"failed\""));
    free(text);
    fr_metrics_free(m);
}

/* A failed and an interrupted run count by their status and leave the last success alone. */
static void test_failed_and_interrupted_runs(void **state)
{
    struct fr_metrics *m = fr_metrics_new();
    const struct fr_observer o = fr_metrics_observer(m);
    struct fr_run run = a_run("failed", 1000, 4000);
    run.counts.read = 3;
    run.counts.failed = 3;
    fr_run_metrics_note(&o, &run);
    run = a_run("interrupted", 5000, 6000);
    run.counts.written = 4;
    fr_run_metrics_note(&o, &run);
    const char *job[] = {"credits"};
    assert_true(fr_metric_get(m, FR_M_JOB_RUNS, (const char *[]){"credits", "failed"}) == 1);
    assert_true(fr_metric_get(m, FR_M_JOB_RUNS, (const char *[]){"credits", "interrupted"}) == 1);
    assert_true(fr_metric_get(m, FR_M_JOB_RUNS, (const char *[]){"credits", "ok"}) == 0);
    assert_true(fr_metric_get(m, FR_M_JOB_RECORDS, (const char *[]){"credits", "failed"}) == 3);
    assert_true(fr_metric_get(m, FR_M_JOB_RECORDS, (const char *[]){"credits", "written"}) == 4);
    assert_true(fr_metric_get(m, FR_M_JOB_LAST_RUN, job) == 6);
    assert_true(fr_metric_get(m, FR_M_JOB_LAST_DURATION, job) == 1);
    char *text = fr_metrics_text(m);
    assert_null(strstr(text, "ferry_job_last_success_timestamp_seconds{"));
    free(text);
    fr_metrics_free(m);
}

/* A run handed no observer reports nothing, and does not crash. */
static void test_no_observer(void **state)
{
    struct fr_run run = a_run("ok", 1000, 2000);
    run.counts.read = 1;
    fr_run_metrics_note(NULL, &run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_run),
        cmocka_unit_test(test_failed_and_interrupted_runs),
        cmocka_unit_test(test_no_observer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
