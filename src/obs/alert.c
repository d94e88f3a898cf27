#include "core/common.h"
#include "obs/alert.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "http/client.h"
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
    int in[2];
    if (pipe(in) < 0) {
        FR_LOG_ERROR("alert command failed", FR_LS("error", strerror(errno)));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        FR_LOG_ERROR("alert command failed", FR_LS("error", strerror(errno)));
        return -1;
    }
    if (pid == 0) {
        dup2(in[0], STDIN_FILENO);
        dup2(STDERR_FILENO, STDOUT_FILENO); /* keep ferry's stdout for its own output */
        close(in[0]);
        close(in[1]);
        if (workdir && chdir(workdir) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", sink->command, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    /* The command may not read its stdin: a closed pipe must not kill ferry. */
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    size_t len = strlen(body), off = 0;
    while (off < len) {
        ssize_t w = write(in[1], body + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(in[1]);
    signal(SIGPIPE, old);
    int64_t deadline = fr_now_ms() + FR_ALERT_EXEC_TIMEOUT_MS;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (fr_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FR_LOG_ERROR("alert command timed out and was killed",
                         FR_LI("timeout_ms", FR_ALERT_EXEC_TIMEOUT_MS));
            return -1;
        }
        fr_sleep_ms(20);
    }
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        FR_LOG_ERROR("alert command failed",
                     FR_LI("exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : -1));
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
