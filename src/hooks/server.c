#include "core/common.h"
#include "hooks/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/log_limit.h"
#include "core/net.h"
#include "hooks/verify.h"
#include "obs/admin.h"
#include "obs/metrics.h"
#include "store/store.h"

/* MHD's per-connection memory pool: request line and headers must fit in it. */
#define HEADER_MEMORY_LIMIT (64u * 1024)
#define THREAD_STACK_SIZE   (256u * 1024)

/*
 * A verified event waiting for its commit. It lives in its request while the
 * connection is suspended; the committer fills in rc and outcome, then
 * resumes the connection, and MHD calls on_request again to answer.
 */
struct pending {
    struct pending *next;
    struct MHD_Connection *conn;
    struct fr_event_in ev;
    int rc;      /* fr_store_events_add's answer for the batch */
    int outcome; /* enum fr_event_add_outcome */
};

struct fr_hook_server {
    const struct fr_webhooks_conf *conf;
    struct fr_admin *admin; /* the operations endpoints, or NULL */
    struct fr_store *store;
    void (*on_stored)(void *ud);
    void *ud;
    struct MHD_Daemon *daemon;
    char host[64];
    int port;

    pthread_mutex_t lock;
    pthread_cond_t work;         /* the committer's: something waits, or stop */
    pthread_cond_t idle;         /* the stopper's: in_flight fell */
    struct pending *head, *tail; /* under lock */
    bool stopping;               /* under lock: the committer ends once the queue is empty */
    bool closed;                 /* under lock: the committer has ended */
    size_t in_flight;            /* under lock: requests past their first call, not yet answered */
    pthread_t committer;
    size_t commit_batch;             /* most events per commit, 1..FR_HOOK_BATCH_MAX */
    int64_t commit_interval_us;      /* from one commit's start to the next's, at least */
    size_t commit_enough;            /* ... unless this many events wait */
    size_t queued;                   /* under lock: events in head..tail */
    bool pacing;                     /* under lock: the committer waits for its interval */
    struct fr_log_batch log;         /* the committer's */
    struct fr_log_limit *rejections; /* which warnings of rejected requests are logged */
    /* fr_now_ms() of the committer's last commit when it failed; 0 when it stored its events */
    _Atomic int64_t commit_failed_ms;
};

/* One request; MHD keeps it in *con_cls between calls. */
struct request {
    const struct fr_webhook_source_conf *src;
    struct fr_buf body;
    bool too_big;
    bool counted;   /* counted in in_flight */
    bool committed; /* the committer has answered p; the next call replies */
    struct pending p;
    char id[FR_HOOK_ID_MAX];
    char content_key[65]; /* the body's SHA-256 in hex, for a source that dedupes by content */
};

/* ---- event ids ------------------------------------------------------------------------ */

static bool id_usable(const char *id)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++, n++)
        if (*p < 0x21 || *p > 0x7e)
            return false;
    return n > 0 && n < FR_HOOK_ID_MAX;
}

void fr_hook_event_id(const char *scheme_id, const void *body, size_t len, char out[FR_HOOK_ID_MAX])
{
    if (scheme_id && id_usable(scheme_id)) {
        fr_strlcpy(out, scheme_id, FR_HOOK_ID_MAX);
        return;
    }
    fr_sha256_hex(body, len, out);
}

static struct request *request_of(struct pending *p)
{
    return (struct request *)((char *)p - offsetof(struct request, p));
}

/* ---- the committer -------------------------------------------------------------------- */

static void commit_batch(struct fr_hook_server *s, struct pending *batch, size_t n)
{
    struct fr_event_in *ev = fr_calloc(n, sizeof(*ev));
    int *outcome = fr_calloc(n, sizeof(*outcome));
    size_t i = 0;
    for (struct pending *p = batch; p; p = p->next)
        ev[i++] = p->ev;
    struct fr_err err = {0};
    int64_t t0 = fr_now_us();
    int rc = fr_store_events_add(s->store, ev, n, outcome, &err);
    atomic_store(&s->commit_failed_ms, rc ? FR_MAX(fr_now_ms(), 1) : 0);
    size_t stored = 0;
    for (i = 0; i < n && !rc; i++)
        stored += outcome[i] == FR_EVENT_ADD_STORED;
    if (rc)
        FR_LOG_ERROR("webhook events not stored: answering 503 so the senders retry",
                     FR_LI("events", n), FR_LS("error", err.msg));
    else
        FR_LOG_DEBUG("webhook events committed", FR_LI("events", n), FR_LI("stored", stored),
                     FR_LI("us", fr_now_us() - t0));

    /* What the log lines need, copied: a resumed request may be freed at once. */
    bool log = !rc && fr_log_enabled(FR_LOG_INFO);
    char(*ids)[FR_HOOK_ID_MAX] = log ? fr_calloc(n, sizeof(*ids)) : NULL;
    for (i = 0; i < n && log; i++) {
        fr_strlcpy(ids[i], ev[i].event_id, sizeof(ids[i]));
        ev[i].event_id = ids[i];
        ev[i].body = NULL;
        ev[i].content_type = NULL;
    }
    /* A resumed connection may answer, finish and free its request at once:
     * p is not touched after its MHD_resume_connection. */
    i = 0;
    for (struct pending *p = batch, *next; p; p = next, i++) {
        next = p->next;
        p->rc = rc;
        p->outcome = outcome[i];
        request_of(p)->committed = true;
        MHD_resume_connection(p->conn);
    }
    /* One line per event, written together while the answers are on their way. */
    for (i = 0; i < n && log; i++) {
        bool dup = outcome[i] == FR_EVENT_ADD_DUPLICATE;
        const struct fr_log_field f[] = {FR_LS("source", ev[i].source),
                                         FR_LS("event_id", ev[i].event_id),
                                         FR_LI("bytes", ev[i].body_len)};
        fr_log_batch_add(&s->log, FR_LOG_INFO,
                         dup ? "webhook duplicate: already stored" : "webhook accepted", f,
                         FR_ARRAY_LEN(f));
    }
    fr_log_batch_flush(&s->log);
    free(ids);
    free(ev);
    free(outcome);
    if (stored && s->on_stored)
        s->on_stored(s->ud);
}

static void *committer_main(void *arg)
{
    struct fr_hook_server *s = arg;
    pthread_setname_np(pthread_self(), "ferry-commit"); /* for top -H, perf, gdb */
    int64_t started_us = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->work, &s->lock);
        if (!s->head) {
            s->closed = true; /* stopping and nothing waits */
            break;
        }
        /* Pacing: the events arriving meanwhile share this commit's flush.
         * While it waits, enqueue wakes the committer only once enough
         * events wait, or to stop. */
        int64_t due_us = started_us + s->commit_interval_us;
        while (s->queued < s->commit_enough && !s->stopping && fr_now_us() < due_us) {
            struct timespec at = {.tv_sec = (time_t)(due_us / 1000000),
                                  .tv_nsec = (long)(due_us % 1000000) * 1000};
            s->pacing = true;
            pthread_cond_timedwait(&s->work, &s->lock, &at);
            s->pacing = false;
        }
        started_us = fr_now_us();
        /* Everything waiting, up to the batch cap, goes into one transaction. */
        struct pending *batch = s->head, *last = s->head;
        size_t n = 1;
        while (last->next && n < s->commit_batch) {
            last = last->next;
            n++;
        }
        s->head = last->next;
        s->queued -= n;
        if (!s->head)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->lock);
        commit_batch(s, batch, n);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/*
 * Suspends p's connection and hands p to the committer. Once the committer
 * has ended (stop), p is answered at once as not stored (503).
 */
static void enqueue(struct fr_hook_server *s, struct pending *p)
{
    MHD_suspend_connection(p->conn);
    pthread_mutex_lock(&s->lock);
    bool open = !s->closed;
    if (open) {
        p->next = NULL;
        if (s->tail)
            s->tail->next = p;
        else
            s->head = p;
        s->tail = p;
        s->queued++;
        if (!s->pacing || s->queued >= s->commit_enough)
            pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->lock);
    if (!open) {
        p->rc = FR_ESTORE;
        request_of(p)->committed = true;
        MHD_resume_connection(p->conn);
    }
}

/* ---- metrics ------------------------------------------------------------------------- */

static void count(enum fr_metric_id id, const char *source, const char *reason)
{
    const char *labels[] = {source, reason};
    fr_metric_add(fr_metrics_global(), id, labels, 1);
}

/* ---- warnings of rejected requests -------------------------------------------------- */

static const char *client_ip(struct MHD_Connection *conn, char *buf, size_t len);

static void log_summary(const struct fr_log_limit_summary *sum, void *ud)
{
    (void)ud;
    char *sentence = fr_log_limit_sentence(sum);
    FR_LOG_WARN("webhook rejections not logged one by one", FR_LS("summary", sentence),
                FR_LS("kind", sum->kind), FR_LS("path", sum->source), FR_LS("client", sum->client),
                FR_LI("suppressed", (int64_t)sum->suppressed), FR_LI("window_ms", sum->window_ms));
    free(sentence);
}

/* Hands back the summaries of windows that have ended; at stop, of every window. */
static void flush_rejections(struct fr_hook_server *s, bool all)
{
    int64_t now = fr_now_ms();
    fr_log_limit_flush(s->rejections, all ? now + FR_LOG_LIMIT_WINDOW_MS : now, log_summary, NULL);
}

/*
 * A warning about a rejected request: logged with fields, the path and the client
 * address, unless this kind ("signature failures": a plural that reads in the summary)
 * from this client on this path was already logged FR_LOG_LIMIT_BURST times in the
 * window (core/log_limit.h); those are counted and summarised once the window ends.
 * The metrics count every rejection, logged or not.
 */
static void warn_rejected(struct fr_hook_server *s, struct MHD_Connection *conn, const char *kind,
                          const char *path, const char *msg, const struct fr_log_field *fields,
                          size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    client_ip(conn, ip, sizeof(ip));
    int64_t now = fr_now_ms();
    if (fr_log_limit_hit(s->rejections, kind, path, ip, now)) {
        struct fr_log_field f[8];
        FR_ASSERT(n + 2 <= FR_ARRAY_LEN(f));
        memcpy(f, fields, n * sizeof(*f));
        f[n++] = FR_LS("path", path);
        f[n++] = FR_LS("client", ip);
        fr_log_emit(FR_LOG_WARN, msg, f, n);
    }
    fr_log_limit_flush(s->rejections, now, log_summary, NULL);
}

/* ---- answers -------------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, json_t *body,
                             const char *header, const char *value)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    size_t len = strlen(text);
    char *copy = fr_malloc(len + 2);
    memcpy(copy, text, len);
    copy[len] = '\n';
    copy[len + 1] = '\0';
    free(text);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len + 1, copy, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(copy);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (header)
        MHD_add_response_header(resp, header, value);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status, const char *code)
{
    return reply(conn, status, json_pack("{s:s}", "error", code), NULL, NULL);
}

/* ---- requests ------------------------------------------------------------------------- */

static const struct fr_webhook_source_conf *find_source(const struct fr_webhooks_conf *c,
                                                        const char *path)
{
    for (size_t i = 0; i < c->nsources; i++)
        if (strcmp(c->sources[i].path, path) == 0)
            return &c->sources[i];
    return NULL;
}

struct headers {
    struct fr_header *v;
    size_t n, cap;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct headers *h = cls;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = fr_reallocarray(h->v, h->cap, sizeof(*h->v));
    }
    h->v[h->n++] = (struct fr_header){key, value ? value : ""};
    return MHD_YES;
}

static const char *client_ip(struct MHD_Connection *conn, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr)
        return buf;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
    return buf;
}

/* The whole body is in: verify, then hand the event to the committer (or answer 401). */
static enum MHD_Result finish(struct fr_hook_server *s, struct MHD_Connection *conn,
                              struct request *rq)
{
    const struct fr_webhook_source_conf *src = rq->src;
    struct headers h = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &h);
    struct fr_verify_conf vc = {
        .scheme = src->scheme,
        .secrets = (const char *const *)src->secrets,
        .nsecrets = src->nsecrets,
        .tolerance_s = src->tolerance_ms / 1000,
        .header = src->hmac_header,
        .base64 = src->hmac_base64,
        .prefix = src->hmac_prefix,
        .timestamp_header = src->hmac_timestamp_header,
    };
    char scheme_id[FR_HOOK_ID_MAX];
    const char *reason = NULL;
    const char *body = fr_buf_str(&rq->body);
    enum fr_verify_result vr = fr_verify(&vc, h.v, h.n, body, rq->body.len, fr_wall_ms() / 1000,
                                         scheme_id, sizeof(scheme_id), &reason);
    free(h.v);
    if (vr != FR_VERIFY_OK) {
        const struct fr_log_field f[] = {FR_LS("source", src->name),
                                         FR_LS("result", fr_verify_result_name(vr)),
                                         FR_LS("reason", reason)};
        warn_rejected(s, conn, "signature failures", src->path,
                      "webhook rejected: signature not verified", f, FR_ARRAY_LEN(f));
        count(FR_M_WEBHOOK_REJECTED, src->name, "signature");
        return reply_error(conn, MHD_HTTP_UNAUTHORIZED, "signature verification failed");
    }
    fr_hook_event_id(scheme_id, body, rq->body.len, rq->id);
    rq->p = (struct pending){.conn = conn,
                             .ev = {
                                 .source = src->name,
                                 .event_id = rq->id,
                                 .content_type = MHD_lookup_connection_value(
                                     conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
                                 .body = body,
                                 .body_len = rq->body.len,
                                 .received_ms = fr_wall_ms(),
                             }};
    /* GitHub signs neither a timestamp nor its delivery id: a captured body re-sent under a
     * new id must still be a duplicate, so the signed body is a key of its own. */
    if (src->dedupe == FR_DEDUPE_CONTENT) {
        fr_sha256_hex(body, rq->body.len, rq->content_key);
        rq->p.ev.content_key = rq->content_key;
    }
    enqueue(s, &rq->p);
    return MHD_YES;
}

/* The call after the commit resumed the connection: the answer. */
static enum MHD_Result answer(struct MHD_Connection *conn, struct request *rq)
{
    if (rq->p.rc)
        count(FR_M_WEBHOOK_REJECTED, rq->src->name, "store");
    else
        count(rq->p.outcome == FR_EVENT_ADD_DUPLICATE ? FR_M_WEBHOOK_DUPLICATE
                                                      : FR_M_WEBHOOK_ACCEPTED,
              rq->src->name, NULL);
    if (rq->p.rc)
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                     json_pack("{s:s}", "error", "the event could not be stored; retry later"),
                     MHD_HTTP_HEADER_RETRY_AFTER, "5");
    /* the committer logged it */
    bool dup = rq->p.outcome == FR_EVENT_ADD_DUPLICATE;
    return reply(conn, MHD_HTTP_OK,
                 json_pack("{s:s, s:s}", "status", dup ? "duplicate" : "accepted", "id", rq->id),
                 NULL, NULL);
}

/* Not a webhook path: the operations endpoints answer, or 404. */
static enum MHD_Result admin(struct fr_hook_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method)
{
    char ip[INET6_ADDRSTRLEN];
    struct fr_admin_request rq = {
        .client = client_ip(conn, ip, sizeof(ip)),
        .warnings = s->rejections,
        .method = method,
        .path = url,
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
        .fetch_site = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site"),
    };
    struct fr_admin_response out;
    if (!s->admin || !fr_admin_handle(s->admin, &rq, &out))
        return reply_error(conn, MHD_HTTP_NOT_FOUND, "no webhook source at this path");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(out.len, out.body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(out.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out.content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (out.allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, out.allow);
    for (const struct fr_admin_header *h = out.headers; h && h->name; h++)
        MHD_add_response_header(resp, h->name, h->value);
    enum MHD_Result rc = MHD_queue_response(conn, out.status, resp);
    MHD_destroy_response(resp);
    flush_rejections(s, false);
    return rc;
}

/* The first call for a request: route, method and declared size are checked before any body. */
static enum MHD_Result begin(struct fr_hook_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    const struct fr_webhook_source_conf *src = find_source(s->conf, url ? url : "");
    if (!src)
        return admin(s, conn, url ? url : "", method);
    count(FR_M_WEBHOOK_RECEIVED, src->name, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        count(FR_M_WEBHOOK_REJECTED, src->name, "method");
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                     json_pack("{s:s}", "error", "webhooks are POSTed"), MHD_HTTP_HEADER_ALLOW,
                     "POST");
    }
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (!errno && *end == '\0' && n > s->conf->max_body) {
            const struct fr_log_field f[] = {FR_LS("source", src->name),
                                             FR_LI("max_body", s->conf->max_body)};
            warn_rejected(s, conn, "bodies over max_body", src->path,
                          "webhook rejected: body over max_body", f, FR_ARRAY_LEN(f));
            count(FR_M_WEBHOOK_REJECTED, src->name, "too_large");
            return reply_error(conn, 413, "body larger than max_body");
        }
    }
    struct request *rq = fr_calloc(1, sizeof(*rq));
    rq->src = src;
    fr_buf_init(&rq->body, s->conf->max_body);
    pthread_mutex_lock(&s->lock);
    s->in_flight++;
    rq->counted = true;
    pthread_mutex_unlock(&s->lock);
    *con_cls = rq;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fr_hook_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return begin(s, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        /* A chunked body has no Content-Length: the cap is enforced as it arrives. */
        if (!rq->too_big && fr_buf_add(&rq->body, upload_data, *upload_data_size) != 0) {
            rq->too_big = true;
            fr_buf_release(&rq->body);
            const struct fr_log_field f[] = {FR_LS("source", rq->src->name),
                                             FR_LI("max_body", s->conf->max_body)};
            warn_rejected(s, conn, "bodies over max_body", rq->src->path,
                          "webhook rejected: body over max_body", f, FR_ARRAY_LEN(f));
            count(FR_M_WEBHOOK_REJECTED, rq->src->name, "too_large");
            /* Answer now where libmicrohttpd allows it (1.0 does; 0.9.75 refuses, and then the
             * connection is closed without an answer): either way nothing more is read. */
            return reply_error(conn, 413, "body larger than max_body");
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->committed)
        return answer(conn, rq);
    if (rq->too_big)
        return reply_error(conn, 413, "body larger than max_body");
    return finish(s, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct fr_hook_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    if (rq->counted) {
        pthread_mutex_lock(&s->lock);
        s->in_flight--;
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
    }
    fr_buf_release(&rq->body);
    free(rq);
}

/* ---- listening ------------------------------------------------------------------------ */

/* libmicrohttpd's threads, each polling its own connections: one per core, at most 4. */
static unsigned pool_size(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > 4 ? 4u : (unsigned)n;
}

static void server_free(struct fr_hook_server *s)
{
    fr_log_limit_free(s->rejections);
    fr_log_batch_release(&s->log);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    free(s);
}

static void stop_committer(struct fr_hook_server *s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->committer, NULL);
}

int fr_hook_server_start(const struct fr_config *cfg, struct fr_store *store,
                         const struct fr_hook_commit *commit, void (*on_stored)(void *ud), void *ud,
                         struct fr_admin *admin, struct fr_hook_server **out, struct fr_err *err)
{
    *out = NULL;
    if (commit->batch > FR_HOOK_BATCH_MAX)
        return fr_err_set(err, FR_EINVAL, 0, "commit batch %zu is over %d", commit->batch,
                          FR_HOOK_BATCH_MAX);
    if (commit->interval_ms < 0 || commit->interval_ms > 1000)
        return fr_err_set(err, FR_EINVAL, 0, "commit interval %lld ms is not within 0..1000",
                          (long long)commit->interval_ms);
    const struct fr_webhooks_conf *conf = &cfg->webhooks;
    const char *addr = conf->listen ? conf->listen : "127.0.0.1:8080";
    char host[64];
    int fd = -1, port = 0;
    bool v6 = false;
    int rc = fr_net_listen(addr, host, sizeof(host), &fd, &port, &v6, err);
    if (rc)
        return rc;
    struct fr_hook_server *s = fr_calloc(1, sizeof(*s));
    s->conf = conf;
    s->admin = admin;
    s->store = store;
    s->on_stored = on_stored;
    s->ud = ud;
    s->port = port;
    s->commit_batch = commit->batch ? commit->batch : FR_HOOK_BATCH_MAX;
    s->commit_interval_us = commit->interval_ms * 1000;
    s->commit_enough = FR_MIN(s->commit_batch, (size_t)FR_HOOK_COMMIT_ENOUGH);
    s->rejections =
        fr_log_limit_new(FR_LOG_LIMIT_BURST, FR_LOG_LIMIT_WINDOW_MS, FR_LOG_LIMIT_MAX_KEYS);
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        fr_strlcpy(s->host, v6 ? "[::1]" : "127.0.0.1", sizeof(s->host));
    else
        snprintf(s->host, sizeof(s->host), v6 ? "[%s]" : "%s", host);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t mono; /* the committer's timed waits are on fr_now_us's clock */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &mono);
    pthread_condattr_destroy(&mono);
    pthread_cond_init(&s->idle, NULL);
    int e = pthread_create(&s->committer, NULL, committer_main, s);
    if (e) {
        close(fd);
        server_free(s);
        return fr_err_set(err, FR_EINTERNAL, e, "cannot start the committer thread");
    }
    unsigned timeout_s = (unsigned)((conf->timeout_ms + 999) / 1000);
    /* poll(2), not epoll: with epoll libmicrohttpd takes a suspended
     * connection out of its set and puts it back on resume (two epoll_ctl
     * per event) and reads until EAGAIN (one more recv per event); with
     * poll it does neither, and a poll over at most the connection limit
     * costs less. bench/README.md: +10-20% accepted events/s. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET,
                         (MHD_socket)fd, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                         MHD_OPTION_THREAD_POOL_SIZE, pool_size(), MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)FR_HOOK_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                         timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
                         MHD_OPTION_THREAD_STACK_SIZE, (size_t)THREAD_STACK_SIZE, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        stop_committer(s);
        server_free(s);
        return fr_err_set(err, FR_EINTERNAL, 0, "libmicrohttpd could not start on %s", addr);
    }
    *out = s;
    return 0;
}

const char *fr_hook_server_host(const struct fr_hook_server *s)
{
    return s->host;
}

int fr_hook_server_port(const struct fr_hook_server *s)
{
    return s->port;
}

int64_t fr_hook_server_commit_failed_ms(const struct fr_hook_server *s)
{
    return atomic_load(&s->commit_failed_ms);
}

void fr_hook_server_stop(struct fr_hook_server *s)
{
    if (!s)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Requests already being read or waiting for their commit get their answer. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)((s->conf->timeout_ms + 999) / 1000);
    pthread_mutex_lock(&s->lock);
    while (s->in_flight > 0)
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) != 0)
            break;
    size_t left = s->in_flight;
    pthread_mutex_unlock(&s->lock);
    if (left)
        FR_LOG_WARN("closing connections with requests still unanswered", FR_LI("requests", left));
    /* The committer answers everything still queued before it ends, and every
     * request that reaches it later is answered 503 at once: so no connection
     * is left suspended, which libmicrohttpd's stop does not allow. */
    stop_committer(s);
    MHD_stop_daemon(s->daemon);
    flush_rejections(s, true); /* what was held back is told before ferry goes */
    server_free(s);
}
