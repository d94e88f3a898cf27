#include "core/common.h"
#include "obs/alert.h"

#include "core/log.h"
#include "core/proc.h"
#include "core/redact.h"
#include "http/client.h"
#include "obs/metrics.h"
#include "obs/obs_conf.h"
#include "http/http_conf.h"

/*
 * The URL is a secret (Slack's carry their credential in the path): the
 * client's request lines and errors show it as scheme://host/[REDACTED],
 * and so do these.
 */
static int notify_webhook(const struct fr_alert_sink_conf *sink, const char *body)
{
    struct fr_target_conf t = {0};
    t.name = "alert-webhook";
    t.base_url = sink->url;
    t.secret_url = true;
    t.retry = (struct fr_retry_conf){
        .max_attempts = 3, .base_ms = 500, .cap_ms = 5000, .max_elapsed_ms = 30000, .budget = 1};
    t.connect_timeout_ms = 5000;
    t.total_timeout_ms = 10000;
    t.max_in_flight = 1;
    struct fr_err err = {0};
    struct fr_http_client *client = NULL;
    struct fr_http_target *target = NULL;
    int rc = fr_http_client_new(&client, &err);
    /* its requests count in the process's metrics, as every target's do */
    const struct fr_observer metrics = fr_metrics_observer(fr_metrics_global());
    if (!rc)
        fr_http_client_set_observer(client, &metrics);
    if (!rc)
        rc = fr_http_target_new(client, &t, &target, &err);
    if (!rc) {
        struct fr_http_request req = {
            .method = "POST", .path = sink->url, .body = body, .body_len = strlen(body)};
        struct fr_http_result res;
        rc = fr_http_perform(target, &req, &res);
        if (rc)
            err = res.err;
        fr_http_result_release(&res);
    }
    fr_http_client_free(client);
    char *shown = fr_redact_url_path(sink->url);
    if (rc)
        FR_LOG_ERROR("alert webhook failed", FR_LS("url", shown), FR_LS("error", err.msg));
    else
        FR_LOG_INFO("alert sent", FR_LS("sink", "webhook"), FR_LS("url", shown));
    free(shown);
    return rc;
}

static int notify_exec(const struct fr_alert_sink_conf *sink, const char *workdir, const char *body)
{
    /* Its output goes to ferry's stderr: ferry's stdout is for its own output. */
    struct fr_proc_opts o = {.command = sink->command,
                             .what = "the alert command",
                             .workdir = workdir,
                             .input = body,
                             .input_len = strlen(body),
                             .timeout_ms = FR_ALERT_EXEC_TIMEOUT_MS,
                             .output_to_stderr = true};
    struct fr_proc_result res;
    struct fr_err err = {0};
    if (fr_proc_run(&o, &res, &err)) {
        FR_LOG_ERROR("alert command failed", FR_LS("error", err.msg));
        return -1;
    }
    fr_proc_result_release(&res);
    if (res.end == FR_PROC_TIMED_OUT) {
        FR_LOG_ERROR("alert command timed out and was killed",
                     FR_LI("timeout_ms", FR_ALERT_EXEC_TIMEOUT_MS));
        return -1;
    }
    if (res.end != FR_PROC_EXITED || res.status != 0) {
        FR_LOG_ERROR("alert command failed",
                     FR_LI("exit_status", res.end == FR_PROC_EXITED ? res.status : -1));
        return -1;
    }
    FR_LOG_INFO("alert sent", FR_LS("sink", "exec"));
    return 0;
}

int fr_alert_notify(const struct fr_alert_sink_conf *sinks, size_t n, const char *workdir,
                    json_t *summary, const char *text)
{
    int failed = 0;
    json_t *msg = json_pack("{s:s, s:O}", "text", text, "summary", summary);
    char *webhook_body = json_dumps(msg, JSON_COMPACT);
    char *exec_body = json_dumps(summary, JSON_COMPACT);
    json_decref(msg);
    for (size_t i = 0; i < n; i++) {
        int rc = sinks[i].type == FR_ALERT_WEBHOOK ? notify_webhook(&sinks[i], webhook_body)
                                                   : notify_exec(&sinks[i], workdir, exec_body);
        if (rc)
            failed++;
    }
    free(webhook_body);
    free(exec_body);
    return failed;
}

void fr_alert_failed_run(void *cfg, json_t *summary, const char *text)
{
    const struct fr_config *c = cfg;
    if (c->nalerts)
        fr_alert_notify(c->alerts, c->nalerts, c->dir, summary, text);
}
