#include "core/common.h"
#include "hooks/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/hex.h"
#include "core/log.h"
#include "core/log_limit.h"
#include "core/net.h"
#include "hooks/connwatch.h"
#include "hooks/verify.h"
#include "store/store.h"
#include "hooks/hooks_conf.h"

/* MHD's per-connection memory pool: request line and headers must fit in it. */
#define HEADER_MEMORY_LIMIT (64u * 1024)
#define THREAD_STACK_SIZE   (256u * 1024)
/* Open files besides the connections: the store, deliveries, handlers, the listener, MHD's own. */
#define FD_MARGIN 256
/* A chunked body's reservation starts at this and doubles as it arrives (up to max_body). */
#define CHUNKED_FIRST (4u * 1024)
/* The Retry-After of a 503 when the unverified bodies' budget is taken. */
#define BUDGET_RETRY_AFTER "5"
/* Connection closes are logged as one summary line at most this often. */
#define CLOSE_LOG_INTERVAL_MS 10000

/* Why ferry closed a connection: the watchdog's reasons, then the server's own. */
enum { CLOSED_FRAMING = FR_CONN__COUNT, CLOSED__COUNT };
static const char *closed_name(size_t why)
{
    return why == CLOSED_FRAMING ? "framing" : fr_conn_close_name((enum fr_conn_close)why);
}

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
    struct fr_hook_routes routes;       /* the other paths; answer NULL: none (404) */
    const struct fr_observer *observer; /* may be NULL */
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

    struct fr_connwatch *watch; /* the deadlines of every connection */
    size_t budget;              /* webhooks.unverified_budget */
    _Atomic size_t unverified;  /* bytes reserved by bodies not yet verified, <= budget */
    pthread_mutex_t close_lock;
    size_t closes[CLOSED__COUNT]; /* under close_lock: closes not yet logged */
    int64_t closes_logged_ms;     /* under close_lock */
};

/* One request; MHD keeps it in *con_cls between calls. */
struct request {
    const struct fr_webhook_source_conf *src;
    struct fr_conn *conn; /* the connection's deadlines, or NULL */
    struct fr_buf body;   /* max: the Content-Length, or max_body for a chunked body */
    size_t reserved;      /* bytes of the budget the body holds: at least body.cap */
    unsigned refused;     /* 413 or 503 once the body is refused while it arrives */
    bool counted;         /* counted in in_flight */
    bool committed;       /* the committer has answered p; the next call replies */
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

static void count(struct fr_hook_server *s, enum fr_metric_id id, const char *source,
                  const char *reason)
{
    const char *labels[] = {source, reason};
    fr_observer_add(s->observer, id, labels, 1);
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

/* Logs the closes counted since the last summary, under close_lock. */
static void log_closes(struct fr_hook_server *s, int64_t now_ms)
{
    size_t total = 0;
    for (size_t i = 0; i < CLOSED__COUNT; i++)
        total += s->closes[i];
    if (!total)
        return;
    FR_LOG_WARN("webhook connections closed before their request was complete",
                FR_LI("header_timeout", s->closes[FR_CONN_HEADER_TIMEOUT]),
                FR_LI("body_timeout", s->closes[FR_CONN_BODY_TIMEOUT]),
                FR_LI("slow_body", s->closes[FR_CONN_SLOW_BODY]),
                FR_LI("framing", s->closes[CLOSED_FRAMING]),
                FR_LI("since_ms", s->closes_logged_ms ? now_ms - s->closes_logged_ms : 0));
    memset(s->closes, 0, sizeof(s->closes));
    s->closes_logged_ms = now_ms;
}

/*
 * Counts connections closed, closed[why] for each reason: in the metric at
 * once, in the log as a summary at most every CLOSE_LOG_INTERVAL_MS (the
 * first at once), so that an attack cannot flood the log.
 */
static void count_closes(struct fr_hook_server *s, const size_t closed[CLOSED__COUNT])
{
    for (size_t i = 0; i < CLOSED__COUNT; i++)
        if (closed[i]) {
            const char *labels[] = {closed_name(i)};
            fr_observer_add(s->observer, FR_M_WEBHOOK_CONNECTIONS_CLOSED, labels,
                            (double)closed[i]);
        }
    int64_t now = fr_now_ms();
    pthread_mutex_lock(&s->close_lock);
    for (size_t i = 0; i < CLOSED__COUNT; i++)
        s->closes[i] += closed[i];
    if (!s->closes_logged_ms || now - s->closes_logged_ms >= CLOSE_LOG_INTERVAL_MS)
        log_closes(s, now);
    pthread_mutex_unlock(&s->close_lock);
}

/* The watchdog's report after each look (its thread): closes, and the server's timer. */
static void on_watch_look(const size_t closed[FR_CONN__COUNT], void *ud)
{
    struct fr_hook_server *s = ud;
    size_t all[CLOSED__COUNT] = {0};
    memcpy(all, closed, FR_CONN__COUNT * sizeof(*closed));
    count_closes(s, all); /* also tells closes held back once their interval is over */
    flush_rejections(s, false);
}

/* ---- the budget for bodies not yet verified --------------------------------------------- */

/* Takes n bytes of the budget; false (and nothing taken) when they are not there. */
static bool budget_take(struct fr_hook_server *s, size_t n)
{
    size_t cur = atomic_load_explicit(&s->unverified, memory_order_relaxed);
    do {
        if (n > s->budget - cur)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->unverified, &cur, cur + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Gives back what rq holds. */
static void budget_release(struct fr_hook_server *s, struct request *rq)
{
    if (rq->reserved)
        atomic_fetch_sub_explicit(&s->unverified, rq->reserved, memory_order_relaxed);
    rq->reserved = 0;
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
    FR_ALLOC_GROW(h->v, h->n + 1, h->cap);
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

/* ---- connections and framing ------------------------------------------------------------ */

/* The connection's entry in the watchdog (set when it opened), or NULL. */
static struct fr_conn *conn_watch(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void enter(struct fr_hook_server *s, struct fr_conn *c, enum fr_conn_phase phase)
{
    if (c)
        fr_connwatch_enter(s->watch, c, phase);
}

/* MHD_OPTION_NOTIFY_CONNECTION: CLOSED comes before the socket is closed (0.9.75). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct fr_hook_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? fr_connwatch_add(s->watch, ci->connect_fd) : NULL;
    } else {
        fr_connwatch_remove(s->watch, *socket_context);
        *socket_context = NULL;
    }
}

/* What a request head says about where its body ends. */
struct framing {
    unsigned content_length;    /* Content-Length fields */
    unsigned transfer_encoding; /* Transfer-Encoding fields */
    unsigned host;              /* Host fields */
    bool chunked;               /* the Transfer-Encoding is exactly "chunked" */
    bool bad_name;              /* a field name that is not an RFC 9110 token */
};

/* RFC 9110 tchar: what a field name is made of. */
static bool is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p && strchr(extra, *p))))
            return false;
    return true;
}

static enum MHD_Result see_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct framing *f = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        f->content_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        f->chunked = value && strcasecmp(value, "chunked") == 0;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        f->host++;
    /* Whitespace before the colon stays in the name in libmicrohttpd 0.9.75, and so does
     * what a folded line (obs-fold) adds: a proxy may have read either differently. */
    f->bad_name = f->bad_name || !is_token(key);
    return MHD_YES;
}

/*
 * Why the head's framing is ambiguous (RFC 9112 section 6.3: two parties
 * could read a different body, or a different next request, from the same
 * bytes), or NULL when it is not. The first rule that holds wins.
 */
static const char *framing_error(struct MHD_Connection *conn)
{
    struct framing f = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, see_field, &f);
    const struct {
        bool holds;
        const char *error;
    } rules[] = {
        {f.content_length > 1, "more than one Content-Length"},
        {f.transfer_encoding > 1, "more than one Transfer-Encoding"},
        {f.transfer_encoding && f.content_length, "both Content-Length and Transfer-Encoding"},
        {f.transfer_encoding && !f.chunked, "a Transfer-Encoding other than chunked"},
        /* not framing, but as ambiguous: a proxy may route by one, ferry check the other */
        {f.host > 1, "more than one Host"},
        {f.bad_name, "a header name that is not a token (space before its colon, or a folded "
                     "line)"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(rules); i++)
        if (rules[i].holds)
            return rules[i].error;
    return NULL;
}

/* 400 and the connection closed: nothing after this head is read as anything. */
static enum MHD_Result refuse_framing(struct fr_hook_server *s, struct MHD_Connection *conn,
                                      const char *url, const char *why)
{
    const struct fr_log_field f[] = {FR_LS("reason", why)};
    warn_rejected(s, conn, "requests with ambiguous framing", url,
                  "request refused: ambiguous framing", f, FR_ARRAY_LEN(f));
    size_t closed[CLOSED__COUNT] = {[CLOSED_FRAMING] = 1};
    count_closes(s, closed);
    char *msg = fr_asprintf("ambiguous request framing: %s", why);
    enum MHD_Result rc = reply(conn, MHD_HTTP_BAD_REQUEST, json_pack("{s:s}", "error", msg),
                               MHD_HTTP_HEADER_CONNECTION, "close");
    free(msg);
    return rc;
}

/* ---- requests, continued ----------------------------------------------------------------- */

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
        count(s, FR_M_WEBHOOK_REJECTED, src->name, "signature");
        return reply_error(conn, MHD_HTTP_UNAUTHORIZED, "signature verification failed");
    }
    fr_hook_event_id(scheme_id, body, rq->body.len, rq->id);
    budget_release(s, rq); /* verified: what it holds is no longer anyone's guess */
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
static enum MHD_Result answer(struct fr_hook_server *s, struct MHD_Connection *conn,
                              struct request *rq)
{
    bool dup = rq->p.outcome == FR_EVENT_ADD_DUPLICATE;
    if (rq->p.rc)
        count(s, FR_M_WEBHOOK_REJECTED, rq->src->name, "store");
    else
        count(s, dup ? FR_M_WEBHOOK_DUPLICATE : FR_M_WEBHOOK_ACCEPTED, rq->src->name, NULL);
    if (rq->p.rc)
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                     json_pack("{s:s}", "error", "the event could not be stored; retry later"),
                     MHD_HTTP_HEADER_RETRY_AFTER, "5");
    /* the committer logged it */
    return reply(conn, MHD_HTTP_OK,
                 json_pack("{s:s, s:s}", "status", dup ? "duplicate" : "accepted", "id", rq->id),
                 NULL, NULL);
}

/* Not a webhook path: the routes handed to start answer, or 404. */
static enum MHD_Result other_path(struct fr_hook_server *s, struct MHD_Connection *conn,
                                  const char *url, const char *method)
{
    char ip[INET6_ADDRSTRLEN];
    struct fr_hook_request rq = {
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
    struct fr_hook_response out;
    if (!s->routes.answer || !s->routes.answer(s->routes.ctx, &rq, &out))
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
    for (const struct fr_hook_header *h = out.headers; h && h->name; h++)
        MHD_add_response_header(resp, h->name, h->value);
    enum MHD_Result rc = MHD_queue_response(conn, out.status, resp);
    MHD_destroy_response(resp);
    flush_rejections(s, false);
    return rc;
}

/* 503: the budget for bodies not yet verified cannot hold this one now. */
static enum MHD_Result reply_budget(struct MHD_Connection *conn)
{
    return reply(
        conn, MHD_HTTP_SERVICE_UNAVAILABLE,
        json_pack("{s:s}", "error", "too many webhook bodies are being received; retry later"),
        MHD_HTTP_HEADER_RETRY_AFTER, BUDGET_RETRY_AFTER);
}

/* The answer to a body refused while it arrived (413 or 503). */
static enum MHD_Result refused(struct MHD_Connection *conn, const struct request *rq)
{
    return rq->refused == 413 ? reply_error(conn, 413, "body larger than max_body")
                              : reply_budget(conn);
}

/*
 * A webhook's body is received into a buffer reserved from the budget: all
 * of it at once when Content-Length gives its size (503 when the budget has
 * not that much left), else (chunked) as it arrives.
 */
static enum MHD_Result begin_body(struct fr_hook_server *s, struct MHD_Connection *conn,
                                  const struct fr_webhook_source_conf *src, void **con_cls)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n = 0;
    if (cl) {
        /* libmicrohttpd has refused a value that is not all digits or does not fit */
        char *end;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno || *end != '\0' || n > s->conf->max_body) {
            const struct fr_log_field f[] = {FR_LS("source", src->name),
                                             FR_LI("max_body", s->conf->max_body)};
            warn_rejected(s, conn, "bodies over max_body", src->path,
                          "webhook rejected: body over max_body", f, FR_ARRAY_LEN(f));
            count(s, FR_M_WEBHOOK_REJECTED, src->name, "too_large");
            return reply_error(conn, 413, "body larger than max_body");
        }
    }
    struct request *rq = fr_calloc(1, sizeof(*rq));
    rq->src = src;
    rq->conn = conn_watch(conn);
    fr_buf_init(&rq->body, cl ? (size_t)n : s->conf->max_body);
    if (n) {
        /* exactly the body and its NUL: the buffer never grows past what is reserved */
        if (!budget_take(s, (size_t)n + 1)) {
            free(rq);
            const struct fr_log_field f[] = {FR_LS("source", src->name), FR_LI("bytes", n),
                                             FR_LI("unverified_budget", s->budget)};
            warn_rejected(s, conn, "bodies refused for the unverified budget", src->path,
                          "webhook refused: unverified_budget taken; answered 503", f,
                          FR_ARRAY_LEN(f));
            count(s, FR_M_WEBHOOK_REJECTED, src->name, "budget");
            return reply_budget(conn);
        }
        rq->reserved = (size_t)n + 1;
        FR_ASSERT(fr_buf_reserve(&rq->body, (size_t)n) == 0);
    }
    pthread_mutex_lock(&s->lock);
    s->in_flight++;
    rq->counted = true;
    pthread_mutex_unlock(&s->lock);
    bool chunked = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
    enter(s, rq->conn, n || chunked ? FR_CONN_BODY : FR_CONN_BUSY);
    *con_cls = rq;
    return MHD_YES;
}

/*
 * The first call for a request, as soon as its head is in: framing, route,
 * method and declared size are checked before any body.
 */
static enum MHD_Result begin(struct fr_hook_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    enter(s, conn_watch(conn), FR_CONN_BUSY); /* the head is in; a body, if any, is below */
    const char *bad = framing_error(conn);
    if (bad)
        return refuse_framing(s, conn, url ? url : "", bad);
    const struct fr_webhook_source_conf *src = find_source(s->conf, url ? url : "");
    if (!src)
        return other_path(s, conn, url ? url : "", method);
    count(s, FR_M_WEBHOOK_RECEIVED, src->name, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        count(s, FR_M_WEBHOOK_REJECTED, src->name, "method");
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                     json_pack("{s:s}", "error", "webhooks are POSTed"), MHD_HTTP_HEADER_ALLOW,
                     "POST");
    }
    return begin_body(s, conn, src, con_cls);
}

enum body_add { BODY_ADDED, BODY_TOO_BIG, BODY_OVER_BUDGET };

/*
 * Appends n bytes to rq's body within its reservation; a chunked body's
 * reservation grows with it, doubling from CHUNKED_FIRST up to max_body + 1,
 * taken from the budget before the buffer grows.
 */
static enum body_add body_add(struct fr_hook_server *s, struct request *rq, const char *data,
                              size_t n)
{
    struct fr_buf *b = &rq->body;
    if (n > b->max - b->len)
        return BODY_TOO_BIG;
    size_t need = b->len + n + 1;
    if (need > rq->reserved) {
        size_t want = FR_MAX(need, FR_MAX(rq->reserved * 2, (size_t)CHUNKED_FIRST));
        want = FR_MIN(want, b->max + 1);
        if (!budget_take(s, want - rq->reserved))
            return BODY_OVER_BUDGET;
        rq->reserved = want;
        FR_ASSERT(fr_buf_reserve(b, want - 1 - b->len) == 0);
    }
    FR_ASSERT(fr_buf_add(b, data, n) == 0);
    return BODY_ADDED;
}

/* More of a body arrived; refused when it passes max_body or the budget. */
static enum MHD_Result on_body(struct fr_hook_server *s, struct MHD_Connection *conn,
                               struct request *rq, const char *data, size_t n)
{
    if (rq->conn)
        fr_connwatch_body(rq->conn, n);
    if (rq->refused)
        return MHD_NO;
    enum body_add r = body_add(s, rq, data, n);
    if (r == BODY_ADDED)
        return MHD_YES;
    fr_buf_release(&rq->body);
    budget_release(s, rq);
    if (r == BODY_TOO_BIG) {
        /* A chunked body has no Content-Length: the cap is enforced as it arrives. */
        rq->refused = 413;
        const struct fr_log_field f[] = {FR_LS("source", rq->src->name),
                                         FR_LI("max_body", s->conf->max_body)};
        warn_rejected(s, conn, "bodies over max_body", rq->src->path,
                      "webhook rejected: body over max_body", f, FR_ARRAY_LEN(f));
        count(s, FR_M_WEBHOOK_REJECTED, rq->src->name, "too_large");
    } else {
        rq->refused = 503;
        const struct fr_log_field f[] = {FR_LS("source", rq->src->name),
                                         FR_LI("unverified_budget", s->budget)};
        warn_rejected(s, conn, "bodies refused for the unverified budget", rq->src->path,
                      "webhook refused: unverified_budget taken; connection closed", f,
                      FR_ARRAY_LEN(f));
        count(s, FR_M_WEBHOOK_REJECTED, rq->src->name, "budget");
    }
    /* Answer now where libmicrohttpd allows it (1.0 does; 0.9.75 refuses, and then the
     * connection is closed without an answer): either way nothing more is read. */
    return refused(conn, rq);
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
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return on_body(s, conn, rq, upload_data, n);
    }
    if (rq->committed)
        return answer(s, conn, rq);
    if (rq->refused)
        return refused(conn, rq);
    enter(s, rq->conn, FR_CONN_BUSY); /* the whole body is in */
    return finish(s, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct fr_hook_server *s = cls;
    /* The answer is out: the next request's head is due within header_timeout. */
    enter(s, conn_watch(conn), FR_CONN_HEAD);
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
    budget_release(s, rq);
    fr_buf_release(&rq->body);
    free(rq);
}

/* ---- listening ------------------------------------------------------------------------ */

/* libmicrohttpd's threads, each watching its own connections: one per core, at most 4. */
static unsigned pool_size(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > 4 ? 4u : (unsigned)n;
}

/*
 * Raises the open-file limit (the soft one, as far as the hard one allows)
 * to cover want connections and FD_MARGIN more; returns the connections the
 * limit covers: want, or fewer (warned) when the hard limit is lower.
 */
static unsigned fit_connections(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    rlim_t need = (rlim_t)want + FD_MARGIN;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit raised = {rl.rlim_max == RLIM_INFINITY ? need : FR_MIN(need, rl.rlim_max),
                                rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = raised.rlim_cur;
    }
    unsigned fit = want;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
        fit = rl.rlim_cur > FD_MARGIN + 16 ? (unsigned)(rl.rlim_cur - FD_MARGIN) : 16;
    long long soft = rl.rlim_cur == RLIM_INFINITY ? -1 : (long long)rl.rlim_cur;
    long long hard = rl.rlim_max == RLIM_INFINITY ? -1 : (long long)rl.rlim_max;
    if (fit < want)
        FR_LOG_WARN("the open-file limit cannot cover webhooks.max_connections: serving fewer "
                    "connections; raise the hard limit (ulimit -Hn, systemd LimitNOFILE=)",
                    FR_LI("open_files", soft), FR_LI("hard_limit", hard),
                    FR_LI("max_connections", want), FR_LI("connections", fit));
    else
        FR_LOG_INFO("open-file limit", FR_LI("open_files", soft), FR_LI("hard_limit", hard),
                    FR_LI("connections", fit));
    return fit;
}

static void server_free(struct fr_hook_server *s)
{
    fr_connwatch_stop(s->watch); /* first: its timer uses the limiter and close_lock */
    fr_log_limit_free(s->rejections);
    pthread_mutex_destroy(&s->close_lock);
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

int fr_hook_server_start(const struct fr_webhooks_conf *conf, struct fr_store *store,
                         const struct fr_hook_commit *commit, void (*on_stored)(void *ud), void *ud,
                         const struct fr_hook_routes *routes, const struct fr_observer *observer,
                         struct fr_hook_server **out, struct fr_err *err)
{
    *out = NULL;
    if (commit->batch > FR_HOOK_BATCH_MAX)
        return fr_err_set(err, FR_EINVAL, 0, "commit batch %zu is over %d", commit->batch,
                          FR_HOOK_BATCH_MAX);
    if (commit->interval_ms < 0 || commit->interval_ms > 1000)
        return fr_err_set(err, FR_EINVAL, 0, "commit interval %lld ms is not within 0..1000",
                          (long long)commit->interval_ms);
    const char *addr = conf->listen ? conf->listen : "127.0.0.1:8080";
    char host[64];
    int fd = -1, port = 0;
    bool v6 = false;
    int rc = fr_net_listen(addr, host, sizeof(host), &fd, &port, &v6, err);
    if (rc)
        return rc;
    struct fr_hook_server *s = fr_calloc(1, sizeof(*s));
    s->conf = conf;
    if (routes)
        s->routes = *routes;
    s->observer = observer;
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
    s->budget = (size_t)conf->unverified_budget;
    atomic_init(&s->unverified, 0);
    pthread_mutex_init(&s->close_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t mono; /* the committer's timed waits are on fr_now_us's clock */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &mono);
    pthread_condattr_destroy(&mono);
    pthread_cond_init(&s->idle, NULL);
    const struct fr_conn_limits limits = {conf->header_timeout_ms, conf->body_timeout_ms,
                                          conf->min_body_rate};
    rc = fr_connwatch_start(&limits, on_watch_look, s, &s->watch, err);
    if (rc) {
        close(fd);
        server_free(s);
        return rc;
    }
    int e = pthread_create(&s->committer, NULL, committer_main, s);
    if (e) {
        close(fd);
        server_free(s);
        return fr_err_set(err, FR_EINTERNAL, e, "cannot start the committer thread");
    }
    unsigned timeout_s = (unsigned)((conf->timeout_ms + 999) / 1000);
    unsigned connections = fit_connections((unsigned)conf->max_connections);
    /* poll(2), not epoll. With epoll libmicrohttpd takes a suspended connection out of
     * its set and puts it back on resume (two epoll_ctl per event) and reads until
     * EAGAIN: at the benchmark's 64 connections that cost 13-20% of the accepted
     * events/s (34-38k/s poll, 30-34k/s epoll, side by side). A poll thread walks all its
     * connections on each wake-up instead, so thousands of idle or trickling ones tax
     * every request (3,000 held: 10-14k/s poll, 25-29k/s epoll); the deadlines and the
     * per-client limit keep them few, and 10k/s is still far above any sender's rate
     * (bench/README.md, "Many connections"). */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* STRICT_FOR_CLIENT 1 (0.9.75): an HTTP/1.1 request without Host is answered 400, and a
     * request line with a space in its target is refused. PER_IP_CONNECTION_LIMIT is counted
     * across the whole thread pool (on the master daemon). */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        s, MHD_OPTION_THREAD_POOL_SIZE, pool_size(), MHD_OPTION_CONNECTION_LIMIT, connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)conf->max_connections_per_client,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
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

const char *fr_hook_server_lib_version(void)
{
    return MHD_get_version();
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
    pthread_mutex_lock(&s->close_lock);
    log_closes(s, fr_now_ms());
    pthread_mutex_unlock(&s->close_lock);
    server_free(s);
}
