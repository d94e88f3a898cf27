/* The alerts and status sections (src/obs/obs_conf.c): keys, defaults, bounds, messages. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/error.h"
#include "core/redact.h"
#include "cli/sections.h"
#include "conftest.h"
#include "obs/obs_conf.h"
#include "job/job_conf.h"

#define WEBHOOK_URL "https://hooks.slack.example/services/T0001/B0002/sEcReTwebhookToken77"

static int setup(void **state)
{
    setenv("PERIOD_ID", "2026-11", 1);
    setenv("ALERT_WEBHOOK_URL", WEBHOOK_URL, 1);
    unsetenv("FERRY_TEST_UNSET");
    fr_redact_reset();
    return 0;
}

static void test_alert_errors(void **state)
{
    fr_test_conf_expect_error(
        "alerts:\n  - { type: email, to: ops@example.com }\n",
        "ferry.yaml:2:13: alerts[0].type: invalid value \"email\" (use one of "
        "\"webhook\", \"exec\")",
        NULL);
    fr_test_conf_expect_error(
        "alerts:\n  - { type: exec, command: ./a.sh }\n  - { type: webhook }\n",
        "ferry.yaml:3:5: alerts[1]: missing required key \"url\"", NULL);
    fr_test_conf_expect_error("alerts:\n  - { type: exec }\n",
                              "ferry.yaml:2:5: alerts[0]: missing required key \"command\"", NULL);
    fr_test_conf_expect_error("alerts:\n  - { type: exec, command: \"\" }\n",
                              "ferry.yaml:2:28: alerts[0].command: empty value", NULL);
    fr_test_conf_expect_error(
        "alerts:\n  - { type: exec, command: ./a.sh, url: https://x.example }\n",
        "alerts[0]: key \"url\" does not apply to alert type \"exec\" (it belongs to "
        "\"webhook\")",
        NULL);
    /* A mapping is the long form (sinks and trend rules): a sink's keys there are unknown. */
    fr_test_conf_expect_error("alerts:\n  type: exec\n",
                              "ferry.yaml:2:3: unknown key \"type\" under alerts", NULL);
    fr_test_conf_expect_error("alerts:\n  - { type: webhook, url: \"${FERRY_TEST_UNSET}\" }\n",
                              "alerts[0].url: environment variable FERRY_TEST_UNSET is not set",
                              NULL);
}

/* A push job to add operations keys to (the job's last lines are its keys). */
static void test_webhook_url_is_secret(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(
        fr_test_conf_load("alerts:\n  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\" }\n", &cfg,
                          &err),
        0);
    assert_string_equal(cfg->alerts[0].url, WEBHOOK_URL);
    assert_int_equal(cfg->nwarnings, 0);
    char *red = fr_redact_str("POST " WEBHOOK_URL " failed");
    assert_null(strstr(red, "sEcReTwebhookToken77"));
    assert_non_null(strstr(red, FR_REDACTED));
    free(red);
    fr_config_free(cfg);

    /* An invalid URL is not quoted in the error. */
    fr_redact_reset();
    setenv("ALERT_WEBHOOK_URL", "ftp://hooks.example/sEcReTwebhookToken77", 1);
    fr_test_conf_expect_error("alerts:\n  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\" }\n",
                              "ferry.yaml:2:27: alerts[0].url: invalid URL", "not shown");
    struct fr_err err2;
    assert_int_equal(
        fr_test_conf_load("alerts:\n  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\" }\n", &cfg,
                          &err2),
        FR_ECONFIG);
    assert_null(strstr(err2.msg, "sEcReTwebhookToken77"));
    assert_null(strstr(err2.msg, "hooks.example"));

    /* A later error in the same file does not quote it either. */
    setenv("ALERT_WEBHOOK_URL", WEBHOOK_URL, 1);
    assert_int_equal(
        fr_test_conf_load("alerts:\n  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\" }\n"
                          "  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\", command: x }\n",
                          &cfg, &err2),
        FR_ECONFIG);
    assert_non_null(strstr(err2.msg, "alerts[1]: key \"command\" does not apply"));
    assert_null(strstr(err2.msg, "sEcReTwebhookToken77"));
}

/* status: its defaults without the section, its keys as written, its bounds. */
static void test_status_section(void **state)
{
    (void)state;
    struct fr_config *cfg = NULL;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load("store: sqlite:x.db\n", &cfg, &err), 0);
    assert_int_equal(cfg->status->recent_runs, 10);
    assert_true(cfg->status->min_success_rate == 0.0);
    assert_int_equal(cfg->status->max_dead_letters, 0);
    assert_int_equal(cfg->status->max_pending_age_ms, 0);
    assert_int_equal(cfg->trends->evaluate_ms, 15000);
    assert_true(cfg->trends->stale_jobs);
    assert_false(cfg->trends->error_rate.enabled);
    fr_config_free(cfg);

    assert_int_equal(fr_test_conf_load("status:\n  recent_runs: 20\n  min_success_rate: 95%\n"
                                       "  max_dead_letters: 7\n  max_pending_age: 10m\n",
                                       &cfg, &err),
                     0);
    assert_int_equal(cfg->status->recent_runs, 20);
    assert_true(cfg->status->min_success_rate > 0.949 && cfg->status->min_success_rate < 0.951);
    assert_int_equal(cfg->status->max_dead_letters, 7);
    assert_int_equal(cfg->status->max_pending_age_ms, 600000);
    fr_config_free(cfg);

    fr_test_conf_expect_error("status:\n  recent_runs: 0\n", "ferry.yaml:2:16",
                              "status.recent_runs");
    fr_test_conf_expect_error("status:\n  recent_runs: 1001\n", "ferry.yaml:2:16", "1000");
    fr_test_conf_expect_error("status:\n  max_pending_age: 10ms\n", "ferry.yaml:2:20",
                              "status.max_pending_age");
    fr_test_conf_expect_error("status: [1, 2]\n", "ferry.yaml:1:9", "mapping");
    fr_test_conf_expect_error("statuss:\n  recent_runs: 3\n", "ferry.yaml:1:1",
                              "did you mean \"status\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_alert_errors, setup),
        cmocka_unit_test_setup(test_webhook_url_is_secret, setup),
        cmocka_unit_test_setup(test_status_section, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
