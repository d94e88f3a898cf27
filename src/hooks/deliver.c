#include "core/common.h"
#include "hooks/deliver.h"

#include <curl/curl.h>
#include <pthread.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/proc.h"
#include "core/redact.h"
#include "http/policy.h"

/* Bytes of a handler's answer or output kept for the error message. */
#define EXCERPT_MAX 300
/* The longest connect phase of a url delivery (the whole attempt has deliver.timeout). */
#define CONNECT_TIMEOUT_MS 10000

struct fr_deliverer {
    CURL *easy;
    const atomic_int *stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fr_deliverer *fr_deliverer_new(const atomic_int *stop)
{
    pthread_once(&curl_once, curl_init);
    struct fr_deliverer *d = fr_calloc(1, sizeof(*d));
    d->stop = stop;
    return d;
}

void fr_deliverer_free(struct fr_deliverer *d)
{
    if (!d)
        return;
    if (d->easy)
        curl_easy_cleanup(d->easy);
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

struct answer {
    struct fr_buf head; /* the start of the response body */
    char retry_after[64];
    const atomic_int *stop;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    if (a->head.len < EXCERPT_KEEP + 1)
        fr_buf_add(&a->head, data, FR_MIN(n, EXCERPT_KEEP + 1 - a->head.len));
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        a->retry_after[0] = '\0'; /* a new response (after a 100 Continue) */
    else if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        size_t len = FR_MIN(n - 12, sizeof(a->retry_after) - 1);
        memcpy(a->retry_after, data + 12, len);
        a->retry_after[len] = '\0';
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct answer *a = ud;
    return atomic_load(a->stop) ? 1 : 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...) FR_PRINTF(2, 3);
static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = fr_vasprintf(fmt, ap);
    va_end(ap);
    struct curl_slist *n = curl_slist_append(l, line);
    free(line);
    if (!n)
        fr_die(__FILE__, __LINE__, "curl_slist_append failed");
    return n;
}

bool fr_deliver_header_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static void deliver_url(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                        const struct fr_event *e, int attempt, struct fr_deliver_result *res)
{
    if (!d->easy && !(d->easy = curl_easy_init()))
        fr_die(__FILE__, __LINE__, "curl_easy_init failed");
    CURL *c = d->easy;
    curl_easy_reset(c); /* keeps the connection cache */
    struct answer a = {.stop = d->stop};
    fr_buf_init(&a.head, 0);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    /* The content type is the sender's: one holding line breaks or other control bytes
     * could add header lines of its own, so it is not forwarded. */
    const char *ct = e->content_type;
    if (ct && !fr_deliver_header_value_ok(ct)) {
        FR_LOG_WARN("content type not forwarded: it holds control characters",
                    FR_LS("source", e->source), FR_LS("event_id", e->event_id));
        ct = NULL;
    }
    /* "Content-Type:" with no value removes the one curl would add to a POST. */
    h = add_header(h, "Content-Type:%s%s", ct ? " " : "", ct ? ct : "");
    h = add_header(h, "Expect:");
    h = add_header(h, "X-Ferry-Event-Id: %s", e->event_id);
    h = add_header(h, "X-Ferry-Source: %s", e->source);
    h = add_header(h, "X-Ferry-Attempt: %d", attempt);
    curl_easy_setopt(c, CURLOPT_URL, src->deliver_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)src->deliver_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)FR_MIN(src->deliver_timeout_ms, CONNECT_TIMEOUT_MS));
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, e->body ? (const char *)e->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    res->status = (int)status;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
    } else if (rc != CURLE_OK) {
        res->outcome = FR_DELIVER_FAILED;
        char *safe = fr_redact_str(errbuf[0] ? errbuf : curl_easy_strerror(rc));
        snprintf(res->error, sizeof(res->error), "POST failed: %s", safe);
        free(safe);
    } else if (status >= 200 && status < 300) {
        res->outcome = FR_DELIVER_OK;
    } else {
        res->outcome = FR_DELIVER_FAILED;
        char body[EXCERPT_MAX + 8];
        excerpt(fr_buf_str(&a.head), a.head.len, false, body, sizeof(body));
        snprintf(res->error, sizeof(res->error), "HTTP %ld%s%s", status, body[0] ? ": " : "", body);
        int64_t ms;
        if (a.retry_after[0] && fr_parse_retry_after(a.retry_after, fr_wall_ms(), &ms) == 0)
            res->retry_after_ms = ms;
    }
    fr_buf_release(&a.head);
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
