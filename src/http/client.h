/*
 * client.h: the one path every outbound request takes.
 *
 *   rate limiter -> circuit breaker / retry budget -> auth -> send (libcurl
 *   multi) -> classify (policy.h) -> decide (retry.h): retry | refresh |
 *   in doubt | done
 *
 * One client drives many requests in flight on one thread over one libcurl
 * multi handle, reusing connections. A target is a configured API with its
 * own limiter, breaker, budget and token cache. TLS verification is always
 * on unless the target says insecure_skip_verify (warned at every start).
 *
 * Threads: a client and its targets belong to the thread that created them.
 *
 * Besides targets, a client sends one-shot POSTs (fr_http_post_once) for a
 * caller that owns its retries: webhook delivery goes through here too,
 * and only src/http talks to libcurl.
 *
 * Every request is logged (method, path with query secrets redacted,
 * status, latency, attempt, the response's request id); so are rate-limit
 * hits, token refreshes, breaker trips and retry-budget exhaustion. Tokens
 * and secrets never reach a log line.
 */
#ifndef FR_HTTP_CLIENT_H
#define FR_HTTP_CLIENT_H

#include "core/common.h"

#include <jansson.h>
#include <stdatomic.h>

#include "core/config.h"
#include "core/error.h"
#include "core/observer.h"
#include "http/policy.h"
#include "http/http_conf.h"

/* Largest response body kept; a larger one fails the request (not retried). */
#define FR_HTTP_MAX_BODY (64u * 1024 * 1024)

struct fr_http_client;
struct fr_http_target;

struct fr_http_request {
    const char *method; /* "GET", "POST", ... */
    /*
     * Relative to the target: "/credits/batch?x=1" is joined to base_url
     * (and the api_version path prefix). An absolute http(s) URL is used
     * as given (next links).
     */
    const char *path;
    const char *body; /* NULL for none */
    size_t body_len;
    const char *content_type; /* default application/json when there is a body */
    /* Extra body-error rules, checked after the target's; borrowed until done. */
    const struct fr_body_rule *body_rules;
    size_t nbody_rules;
    /*
     * The caller resolves in-doubt outcomes (it can ask the target whether
     * the request acted, as a push job's lookup does): an attempt whose
     * verdict is in doubt (policy.h) finishes the request with FR_EINDOUBT
     * instead of sending it again. Without it, an in-doubt attempt is
     * retried like any transient failure, and counted in in_doubt_resent.
     * Either way libcurl never re-sends the body on its own: a connection
     * that dies after the body was written ends the attempt (in doubt).
     * GET and HEAD are never in doubt: acting on them twice changes nothing.
     */
    bool resolve_doubt;
};

struct fr_http_result {
    /*
     * FR_OK when the outcome is success or duplicate; FR_EINDOUBT when the
     * request asked to resolve doubt itself and an attempt may have acted;
     * FR_ECANCELED when fr_http_cancel ended it.
     */
    int code;
    enum fr_class cls; /* the final classification */
    int status;        /* the final HTTP status; 0 when none arrived */
    char *body;        /* the final response body, NUL-terminated; owned */
    size_t body_len;
    json_t *json;           /* the body parsed, when it is JSON; owned reference */
    const char *body_error; /* a matched body-error rule's message; borrowed from json */
    int attempts;           /* attempts put on the wire (0: none ever went out) */
    bool maybe_acted;       /* some attempt may have been acted on: success, or in doubt */
    int64_t elapsed_ms;
    char request_id[128];
    /*
     * The final response's Link header fields (RFC 8288), joined by ", " in
     * the order received; owned; NULL when there were none. At most
     * FR_HTTP_MAX_LINK bytes are kept (a longer value is cut there).
     */
    char *link;
    /*
     * The final answer's Retry-After as a delay from when it was read, in
     * ms, not capped; -1 when it had none, or one that does not parse.
     */
    int64_t retry_after_ms;
    struct fr_err err; /* what failed, in words a person can act on */
};

#define FR_HTTP_MAX_LINK (16u * 1024)

/* Frees what a result owns; the struct itself is the caller's. */
void fr_http_result_release(struct fr_http_result *res);

/*
 * Called once per submitted request when it is final. res is borrowed for
 * the call; take what you need (fields may be moved out and set to NULL).
 */
typedef void (*fr_http_done_fn)(struct fr_http_result *res, void *ud);

/* Counters of one target, for summaries and metrics. */
struct fr_http_stats {
    uint64_t sent;            /* attempts put on the wire */
    uint64_t retries;         /* attempts after the first, and re-sends libcurl made itself */
    uint64_t in_doubt;        /* attempts sent that got no complete answer (policy.h) */
    uint64_t in_doubt_resent; /* of those, sent again without asking the target first */
    uint64_t rate_limited;    /* 429 responses */
    uint64_t transient;       /* 5xx and transport failures */
    uint64_t token_fetches;   /* token requests that returned a token */
    uint64_t breaker_opened;  /* times the breaker tripped */
    uint64_t succeeded;       /* requests final with FR_OK */
    uint64_t failed;          /* requests final with an error */
};

/*
 * s percent-encoded for use inside a URL path or query value (RFC 3986
 * unreserved characters stay). Caller frees.
 */
char *fr_http_escape(const char *s);

/*
 * Initialises libcurl for the process, once: later calls return the first
 * call's answer. fr_http_client_new calls it; a program that will create
 * clients in several threads calls it first from its main thread.
 * FR_EHTTP when libcurl cannot initialise.
 */
int fr_http_init(struct fr_err *err);
/* libcurl's version, "7.88.1"; static. */
const char *fr_http_lib_version(void);

int fr_http_client_new(struct fr_http_client **out, struct fr_err *err);
/*
 * Where the client's targets report their metrics (requests, durations,
 * retries, 429s, breaker, token fetches; core/observer.h): o is borrowed
 * until the client is freed; NULL (the default) reports nothing.
 */
void fr_http_client_set_observer(struct fr_http_client *c, const struct fr_observer *o);
/* Frees the client, its targets and any requests still pending (not called back). */
void fr_http_client_free(struct fr_http_client *c);

/*
 * Adds a target. conf is copied where needed but its strings and rules are
 * borrowed: keep the config alive as long as the client. The target is
 * owned by the client. FR_EINVAL for a base_url that is not http(s);
 * FR_ECONFIG, with conf->missing_secret as the message, for a target whose
 * secret was unset at load (no request goes out without its credential).
 */
int fr_http_target_new(struct fr_http_client *c, const struct fr_target_conf *conf,
                       struct fr_http_target **out, struct fr_err *err);
const struct fr_http_stats *fr_http_target_stats(const struct fr_http_target *t);
const struct fr_target_conf *fr_http_target_conf(const struct fr_http_target *t);

/*
 * Queues a request; the method, path and body are copied. done is called
 * from fr_http_run. Returns FR_EINVAL for a malformed request.
 */
int fr_http_submit(struct fr_http_target *t, const struct fr_http_request *req,
                   fr_http_done_fn done, void *ud);
/* Requests submitted and not yet final. */
size_t fr_http_pending(const struct fr_http_client *c);
/*
 * Drives transfers until none is pending or max_wait_ms passed (< 0: no
 * limit). Calls done callbacks; they may submit more requests.
 */
int fr_http_run(struct fr_http_client *c, int64_t max_wait_ms);

/*
 * One turn of the loop: starts what may start, waits up to max_wait_ms for
 * progress (less when a timer is due), and calls done callbacks.
 */
void fr_http_step(struct fr_http_client *c, int64_t max_wait_ms);

/*
 * Ends requests before they are final: every one not on the wire (queued,
 * or waiting for a retry, a token or the rate limiter) with FR_ECANCELED,
 * and with on_the_wire also those on the wire (their result says
 * maybe_acted: an answer may have been on its way). Calls their done
 * callbacks before returning.
 */
void fr_http_cancel(struct fr_http_client *c, bool on_the_wire);

/* Submits and runs until this one request is final; *res must be released. */
int fr_http_perform(struct fr_http_target *t, const struct fr_http_request *req,
                    struct fr_http_result *res);

/*
 * One POST to an absolute URL for a caller that owns every retry (webhook
 * delivery: the dispatcher retries from its durable queue). Outside any
 * target: no rate limiter, breaker, budget, auth, retry, request log line
 * or metric. It runs on the client's multi handle, so connections are
 * reused from one call to the next, and blocks until the answer is
 * complete, the timeout passes or *stop becomes non-zero. TLS certificates
 * are always verified; redirects are not followed. Besides the caller's
 * lines, the request carries Host, User-Agent (ferry/VERSION),
 * Content-Length, libcurl's Accept (any type) and its default
 * Content-Type, each unless a line of the caller's replaces or removes it.
 */
struct fr_http_post {
    const char *url; /* absolute http(s) URL */
    const char *body;
    size_t body_len;
    /*
     * Header lines sent as given, borrowed for the call: "Name: value", or
     * "Name:" to remove one libcurl would add ("Content-Type:", "Expect:").
     */
    const char *const *headers;
    size_t nheaders;
    int64_t connect_timeout_ms;
    int64_t total_timeout_ms; /* the whole attempt */
    /*
     * Bytes of the answer's body kept in the result; the rest is read and
     * dropped, so a long answer is never a failure.
     */
    size_t keep;
    const atomic_int *stop; /* NULL, or ends the transfer when it becomes non-zero */
};

/*
 * Sends req and fills *res (release it with fr_http_result_release):
 * classified by the hand-off table (policy.h); res->code is FR_OK for a
 * 2xx; FR_EREJECTED for any other status (res->status, the first
 * req->keep bytes of the body in res->body, res->retry_after_ms);
 * FR_EUNREACHABLE for a transport failure (res->err.msg is libcurl's
 * description, redacted); FR_ECANCELED when *stop ended it; FR_EINVAL for
 * a URL that is not http(s). Returns res->code. The client's other
 * requests progress meanwhile (their callbacks may run), as in
 * fr_http_perform.
 */
int fr_http_post_once(struct fr_http_client *c, const struct fr_http_post *req,
                      struct fr_http_result *res);

/*
 * Makes sure the target holds a valid token (OAuth2; no-op for other auth),
 * fetching one now if needed. FR_EAUTH when the token endpoint rejects the
 * credentials, FR_EUNREACHABLE when it cannot be reached; err says which
 * endpoint and why. *expires_in_s (may be NULL) gets the token's remaining life.
 */
int fr_http_target_authenticate(struct fr_http_target *t, int64_t *expires_in_s,
                                struct fr_err *err);

#endif
