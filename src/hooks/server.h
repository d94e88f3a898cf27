/*
 * server.h: the webhook receiver behind `ferry serve` (libmicrohttpd: a
 * pool of threads, one per core, at most 4, each watching its connections
 * with poll(2)).
 *
 * Every request, whatever its path: a head whose framing is ambiguous (two
 * Content-Lengths, Content-Length and Transfer-Encoding, a Transfer-Encoding
 * other than chunked, a header name that is not a token) is answered 400
 * and its connection closed, before anything else. For each configured
 * source path: POST only (405 otherwise); any other
 * path goes to the routes the caller hands in (struct fr_hook_routes: the
 * operations endpoints of obs/admin.h in `ferry serve`), else 404; the
 * body capped at webhooks.max_body (413, answered from Content-Length
 * before the body is read) and held in memory reserved from
 * webhooks.unverified_budget, shared by every body not yet verified (503
 * with Retry-After, before the body is read, when its Content-Length does
 * not fit; a chunked body is reserved as it arrives and its connection
 * closed when it does not fit); the signature verified
 * (hooks/verify.h; 401, the reason logged with the source, never the
 * secret or the signature), then the event stored durably and only then
 * answered 200 {"status":"accepted","id":ID}; a repeat of a source + event
 * id already stored is 200 {"status":"duplicate","id":ID} and is not stored
 * again. When the store cannot commit: 503, never a 2xx.
 *
 * Group commit: a verified event's connection is suspended and the event
 * handed to one committer thread; the committer stores everything waiting
 * in one fr_store_events_add call (one fsync'd transaction) and resumes
 * those connections, which then answer. No thread waits per request.
 *
 * Connections: at most webhooks.max_connections (fewer when the open-file
 * limit cannot be raised enough; start raises it and logs what it got),
 * webhooks.max_connections_per_client from one address; a request's head
 * must arrive within webhooks.header_timeout, its body within
 * webhooks.body_timeout and at webhooks.min_body_rate (hooks/connwatch.h);
 * connections closed for these are counted by reason in
 * ferry_webhook_connections_closed_total and logged in summary.
 *
 * Metrics (ferry_webhook_received/accepted/duplicate/rejected_total and
 * the closes) are reported to the observer handed to start.
 *
 * Threads: start and stop from one thread; the store handle given to
 * start is used only by the committer thread until stop returns. Start
 * raises the process's open-file limit.
 */
#ifndef FR_HOOKS_SERVER_H
#define FR_HOOKS_SERVER_H

#include "core/common.h"

#include "hooks/hooks_conf.h"
#include "core/error.h"
#include "core/observer.h"

struct fr_store;
struct fr_log_limit;
struct fr_hook_server;

/* The largest event id kept as the scheme gave it, with its NUL. */
#define FR_HOOK_ID_MAX 256
/* Most events stored by one commit: the default and the largest commit_batch. */
#define FR_HOOK_BATCH_MAX 512

/*
 * The event id of a delivery: scheme_id (from fr_verify; borrowed, may be
 * NULL or "") when it is usable as an id and a header value (1 to
 * FR_HOOK_ID_MAX - 1 bytes, each printable ASCII 0x21..0x7e), else the
 * SHA-256 of body[0..len) in lower-case hex. Writes a NUL-terminated string
 * to out. Pure.
 */
void fr_hook_event_id(const char *scheme_id, const void *body, size_t len,
                      char out[FR_HOOK_ID_MAX]);

/* A commit starts at least this long after the previous one started (see struct fr_hook_commit). */
#define FR_HOOK_COMMIT_INTERVAL_DEFAULT_MS 1
/* ... unless this many events wait: they share a flush well enough already. */
#define FR_HOOK_COMMIT_ENOUGH 24

/*
 * How the committer groups verified events into transactions. batch caps the
 * events of one commit: 0 means FR_HOOK_BATCH_MAX, 1 disables group commit
 * (one transaction and one fsync per event). interval_ms paces commits: the
 * next one starts interval_ms after the previous one started, or at once
 * when FR_HOOK_COMMIT_ENOUGH events (or batch, if fewer) already wait, the
 * previous commit took longer, or the server is stopping; 0 commits as soon
 * as the previous commit is done. So the disk is asked for at most
 * 1000 / interval_ms flushes a second, or one per FR_HOOK_COMMIT_ENOUGH
 * events above that rate: on a disk whose flushes stall when they come too
 * often, the p99 stays low at moderate load, and at the peak nothing waits
 * that could be committed (bench/README.md).
 */
struct fr_hook_commit {
    size_t batch;
    int64_t interval_ms; /* 0..1000 */
};

/*
 * A request on a path that is no source's, as the server hands it to its
 * routes: the method, the path and a few headers, each borrowed for the
 * call; a header absent is NULL.
 */
struct fr_hook_request {
    const char *method;
    const char *path;          /* without the query string */
    const char *authorization; /* the header's value, or NULL */
    const char *host;          /* Host */
    const char *origin;        /* Origin */
    const char *fetch_site;    /* Sec-Fetch-Site */
    const char *client;        /* the peer's address, for warnings; may be NULL */
    /*
     * The server's limiter of warnings about refused requests (core/log_limit.h),
     * borrowed for the call, may be NULL (then each refusal is logged): a route logs
     * the warning of a refused request only when fr_log_limit_hit says so (kind, path,
     * client); the server logs the summaries.
     */
    struct fr_log_limit *warnings;
};

struct fr_hook_header {
    const char *name, *value;
};

/* What routes answer; the server sends it with Cache-Control: no-store. */
struct fr_hook_response {
    unsigned status;
    const char *content_type; /* static */
    char *body;               /* owned: the server free()s it */
    size_t len;
    const char *allow; /* for a 405: the methods allowed; else NULL */
    /* more headers to send, up to a {NULL, NULL}; borrowed from the routes' ctx */
    const struct fr_hook_header *headers;
};

/*
 * The paths that are no webhook source's. answer fills *out and returns
 * true, or returns false (out untouched) when rq->path is none of its
 * (the server answers 404). It is called from the server's threads, many
 * at once; ctx is handed to it.
 */
struct fr_hook_routes {
    bool (*answer)(void *ctx, const struct fr_hook_request *rq, struct fr_hook_response *out);
    void *ctx;
};

/*
 * Starts serving the webhooks section on its listen address. conf and store are
 * borrowed until fr_hook_server_stop returns. commit says how events are
 * grouped into commits; a batch over FR_HOOK_BATCH_MAX or an interval
 * outside 0..1000 ms is FR_EINVAL. routes (may be NULL: 404) answer the
 * paths that are no source's; *routes is copied, its ctx borrowed until
 * stop returns. observer (may be NULL) hears the server's metrics and is
 * borrowed until stop returns. on_stored (may be NULL) is called from the
 * committer thread after each commit that stored at least one new event,
 * with ud. Returns FR_EINVAL for a bad listen address or commit, FR_EIO
 * when it cannot be bound (err says why), FR_EINTERNAL when libmicrohttpd
 * refuses to start.
 */
int fr_hook_server_start(const struct fr_webhooks_conf *conf, struct fr_store *store,
                         const struct fr_hook_commit *commit, void (*on_stored)(void *ud), void *ud,
                         const struct fr_hook_routes *routes, const struct fr_observer *observer,
                         struct fr_hook_server **out, struct fr_err *err);

/* libmicrohttpd's version, "0.9.75"; static. */
const char *fr_hook_server_lib_version(void);

/* "127.0.0.1" or "[::1]" as bound (a wildcard address gives the loopback one). Borrowed. */
const char *fr_hook_server_host(const struct fr_hook_server *s);
/* The bound port (useful with port 0). */
int fr_hook_server_port(const struct fr_hook_server *s);

/*
 * When the committer's last commit failed (its events were answered 503):
 * the fr_now_ms() of that commit; 0 when the last commit stored its events,
 * or none happened yet. Any thread, while the server runs.
 */
int64_t fr_hook_server_commit_failed_ms(const struct fr_hook_server *s);

/*
 * Graceful stop: stops accepting, lets requests already being answered
 * finish (at most webhooks.timeout), commits what waits, closes every
 * connection and frees the server. NULL is a no-op.
 */
void fr_hook_server_stop(struct fr_hook_server *s);

#endif
