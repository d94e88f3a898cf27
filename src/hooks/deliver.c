#include "core/common.h"
#include "hooks/deliver.h"

#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/redact.h"
#include "hooks/hooks_conf.h"
#include "http/client.h"

/* Bytes of a handler's answer or output kept for the error message. */
#define EXCERPT_MAX 300
/* The longest connect phase of a url delivery (the whole attempt has deliver.timeout). */
#define CONNECT_TIMEOUT_MS 10000

struct fr_deliverer {
    struct fr_http_client *http; /* created by the first url delivery, in the worker's thread */
    const atomic_int *stop;
};

struct fr_deliverer *fr_deliverer_new(const atomic_int *stop)
{
    /* libcurl's process-wide setup, here in the thread that starts the workers; a failure
     * is reported by the first url delivery, which cannot create its client then. */
    fr_http_init(NULL);
    struct fr_deliverer *d = fr_calloc(1, sizeof(*d));
    d->stop = stop;
    return d;
}

void fr_deliverer_free(struct fr_deliverer *d)
{
    if (!d)
        return;
    fr_http_client_free(d->http);
    free(d);
}

/*
 * Writes a one-line, redacted excerpt of text[0..len) into out: its start,
 * or (tail) its end. What is kept of an answer or an output is
 * EXCERPT_KEEP bytes, so that a secret the excerpt's edge would cut is
 * still matched whole.
 */
#define EXCERPT_KEEP (EXCERPT_MAX + FR_REDACT_EXCERPT_SLACK)

static void excerpt(const char *text, size_t len, bool tail, char *out, size_t outlen)
{
    char *safe = tail ? fr_redact_excerpt_tail(text, len, EXCERPT_MAX)
                      : fr_redact_excerpt(text, len, EXCERPT_MAX);
    snprintf(out, outlen, "%s", safe);
    free(safe);
}

/* ---- url ------------------------------------------------------------------------------ */

bool fr_deliver_header_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* "POST failed: why" in res->error; why is cut to fit. */
static void post_failed(struct fr_deliver_result *res, const char *why)
{
    static const char prefix[] = "POST failed: ";
    snprintf(res->error, sizeof(res->error), "%s%.*s", prefix,
             (int)(sizeof(res->error) - sizeof(prefix)), why);
}

static void deliver_url(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                        const struct fr_event *e, int attempt, struct fr_deliver_result *res)
{
    struct fr_err err = {0};
    if (!d->http && fr_http_client_new(&d->http, &err) != 0) {
        res->outcome = FR_DELIVER_FAILED;
        post_failed(res, err.msg);
        return;
    }
    /* The content type is the sender's: one holding line breaks or other control bytes
     * could add header lines of its own, so it is not forwarded. */
    const char *ct = e->content_type;
    if (ct && !fr_deliver_header_value_ok(ct)) {
        FR_LOG_WARN("content type not forwarded: it holds control characters",
                    FR_LS("source", e->source), FR_LS("event_id", e->event_id));
        ct = NULL;
    }
    /* "Content-Type:" with no value removes the one libcurl would add to a POST. */
    char *headers[] = {fr_asprintf("Content-Type:%s%s", ct ? " " : "", ct ? ct : ""),
                       fr_strdup("Expect:"), fr_asprintf("X-Ferry-Event-Id: %s", e->event_id),
                       fr_asprintf("X-Ferry-Source: %s", e->source),
                       fr_asprintf("X-Ferry-Attempt: %d", attempt)};
    struct fr_http_post req = {
        .url = src->deliver_url,
        .body = e->body ? (const char *)e->body : "",
        .body_len = e->body_len,
        .headers = (const char *const *)headers,
        .nheaders = FR_ARRAY_LEN(headers),
        .connect_timeout_ms = FR_MIN(src->deliver_timeout_ms, CONNECT_TIMEOUT_MS),
        .total_timeout_ms = src->deliver_timeout_ms,
        .keep = EXCERPT_KEEP + 1,
        .stop = d->stop,
    };
    struct fr_http_result r;
    int rc = fr_http_post_once(d->http, &req, &r);
    for (size_t i = 0; i < FR_ARRAY_LEN(headers); i++)
        free(headers[i]);
    res->status = r.status;
    if (rc == FR_OK) {
        res->outcome = FR_DELIVER_OK;
    } else if (rc == FR_ECANCELED) {
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
    } else if (rc == FR_EREJECTED) { /* an answer, not a 2xx */
        res->outcome = FR_DELIVER_FAILED;
        char body[EXCERPT_MAX + 8];
        excerpt(r.body, r.body_len, false, body, sizeof(body));
        snprintf(res->error, sizeof(res->error), "HTTP %d%s%s", r.status, body[0] ? ": " : "",
                 body);
        res->retry_after_ms = r.retry_after_ms;
    } else { /* no answer: r.err holds the transport's words, redacted */
        res->outcome = FR_DELIVER_FAILED;
        post_failed(res, r.err.msg);
    }
    fr_http_result_release(&r);
}

/* ---- exec ----------------------------------------------------------------------------- */

static void deliver_exec(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                         const char *workdir, const struct fr_event *e, int attempt,
                         struct fr_deliver_result *res)
{
    char *vars[] = {fr_asprintf("FERRY_EVENT_ID=%s", e->event_id),
                    fr_asprintf("FERRY_SOURCE=%s", e->source),
                    fr_asprintf("FERRY_ATTEMPT=%d", attempt),
                    fr_asprintf("FERRY_EVENT_SEQ=%lld", (long long)e->seq)};
    struct fr_proc_opts o = {.command = src->deliver_exec,
                             .what = "the handler",
                             .workdir = workdir,
                             .input = e->body,
                             .input_len = e->body_len,
                             .env = vars,
                             .nenv = FR_ARRAY_LEN(vars),
                             .timeout_ms = src->deliver_timeout_ms,
                             .output_keep = EXCERPT_KEEP,
                             .stop = d->stop};
    struct fr_proc_result pr;
    struct fr_err err = {0};
    int rc = fr_proc_run(&o, &pr, &err);
    for (size_t i = 0; i < FR_ARRAY_LEN(vars); i++)
        free(vars[i]);
    if (rc) {
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "%s", err.msg);
        return;
    }
    char tail[EXCERPT_MAX + 8];
    excerpt(fr_buf_str(&pr.output), pr.output.len, true, tail, sizeof(tail));
    fr_proc_result_release(&pr);
    res->status = pr.end == FR_PROC_EXITED ? pr.status : -1;
    switch (pr.end) {
    case FR_PROC_STOPPED:
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
        break;
    case FR_PROC_TIMED_OUT:
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "handler timed out after %lld ms and was killed",
                 (long long)src->deliver_timeout_ms);
        break;
    case FR_PROC_EXITED:
        res->outcome = pr.status == 0 ? FR_DELIVER_OK : FR_DELIVER_FAILED;
        if (pr.status != 0)
            snprintf(res->error, sizeof(res->error), "handler exited with status %d%s%s", pr.status,
                     tail[0] ? ": " : "", tail);
        break;
    case FR_PROC_SIGNALED:
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "handler killed by signal %d%s%s", pr.status,
                 tail[0] ? ": " : "", tail);
        break;
    }
}

void fr_deliver(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                const char *workdir, const struct fr_event *e, int attempt,
                struct fr_deliver_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    if (src->deliver_url)
        deliver_url(d, src, e, attempt, res);
    else
        deliver_exec(d, src, workdir, e, attempt, res);
}
