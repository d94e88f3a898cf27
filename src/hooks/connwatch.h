/*
 * connwatch.h: deadlines that bind a whole request on the webhook server's
 * connections, kept by a registry of those connections and a watchdog
 * thread (hooks/server.c tells it what each connection is doing; this
 * module knows nothing of HTTP).
 *
 * A connection is in one phase at a time, from a start time:
 *   FR_CONN_HEAD  its request head is arriving: the head must be complete
 *                 within header_timeout_ms of the start (the connection
 *                 opening, or the previous answer on it);
 *   FR_CONN_BODY  its body is arriving: complete within body_timeout_ms of
 *                 the start (the head's arrival), and once it has been
 *                 arriving for FR_CONN_RATE_GRACE_MS, at least
 *                 min_body_rate bytes a second on average since the start;
 *   FR_CONN_BUSY  ferry is working on it (verifying, waiting for the
 *                 commit, answering): no deadline of this module's.
 *
 * The watchdog looks at every connection a few times per shortest deadline
 * (at least every 250 ms) and closes one past its deadline with
 * shutdown(fd, SHUT_RDWR): the server sees the connection end as if the
 * client had gone and frees it the usual way. It never touches a
 * connection in FR_CONN_BUSY (a connection suspended for its commit must
 * be resumed, never closed under the server).
 *
 * Threads: every function is thread-safe. fr_connwatch_remove must be
 * called before the connection's fd is closed: it takes the lock the
 * watchdog holds while it shuts an fd down, so the watchdog never shuts
 * down an fd the system has given to someone else since.
 */
#ifndef FR_HOOKS_CONNWATCH_H
#define FR_HOOKS_CONNWATCH_H

#include "core/common.h"

#include "core/error.h"

/* A body's rate is checked once it has been arriving this long. */
#define FR_CONN_RATE_GRACE_MS 5000

enum fr_conn_phase { FR_CONN_HEAD, FR_CONN_BODY, FR_CONN_BUSY };

/* Why the watchdog closes a connection: ID, the metric label. */
#define FR_CONN_CLOSE_REASONS(X)                                                                   \
    X(OPEN, "open")                     /* it does not: within its deadlines */                    \
    X(HEADER_TIMEOUT, "header_timeout") /* the head did not arrive in time */                      \
    X(BODY_TIMEOUT, "body_timeout")     /* the body did not arrive in time */                      \
    X(SLOW_BODY, "slow_body")           /* the body arrives below min_body_rate */

enum fr_conn_close {
#define FR__CONN_ENUM(id, name) FR_CONN_##id,
    FR_CONN_CLOSE_REASONS(FR__CONN_ENUM)
#undef FR__CONN_ENUM
        FR_CONN__COUNT
};

/* "header_timeout", ...; borrowed, static. */
const char *fr_conn_close_name(enum fr_conn_close why);

struct fr_conn_limits {
    int64_t header_timeout_ms; /* > 0 */
    int64_t body_timeout_ms;   /* > 0 */
    uint64_t min_body_rate;    /* bytes a second; 0: no minimum */
};

/*
 * Whether a connection in phase since since_ms, with body_bytes of body
 * received in FR_CONN_BODY, is past its deadline at now_ms (all on one
 * monotonic clock): FR_CONN_OPEN, or why it is to be closed. Pure.
 */
enum fr_conn_close fr_conn_verdict(const struct fr_conn_limits *l, enum fr_conn_phase phase,
                                   int64_t since_ms, uint64_t body_bytes, int64_t now_ms);

struct fr_connwatch;
struct fr_conn; /* one connection in the registry */

/*
 * Starts the watchdog with limits (copied). on_look (may be NULL) is
 * called from the watchdog's thread, without its lock, after each look (at
 * least every 250 ms, so it doubles as the server's timer) with the
 * connections that look closed: closed[why] for each reason (closed[0],
 * FR_CONN_OPEN, is 0; all 0 when it closed none). Returns FR_EINTERNAL when the thread cannot
 * start.
 */
int fr_connwatch_start(const struct fr_conn_limits *limits,
                       void (*on_look)(const size_t closed[FR_CONN__COUNT], void *ud), void *ud,
                       struct fr_connwatch **out, struct fr_err *err);
/*
 * Stops the watchdog thread and frees the registry, with any connection
 * still in it (their handles become invalid). NULL is a no-op.
 */
void fr_connwatch_stop(struct fr_connwatch *w);

/*
 * Registers an open connection's socket, in FR_CONN_HEAD from now. Returns
 * its handle, valid until fr_connwatch_remove (or stop).
 */
struct fr_conn *fr_connwatch_add(struct fr_connwatch *w, int fd);
/* Forgets c, before its fd is closed (see the top); frees c. NULL is a no-op. */
void fr_connwatch_remove(struct fr_connwatch *w, struct fr_conn *c);
/* c enters phase from now; a new FR_CONN_BODY counts its bytes from 0. */
void fr_connwatch_enter(struct fr_connwatch *w, struct fr_conn *c, enum fr_conn_phase phase);
/* n more bytes of c's body arrived (lock-free). */
void fr_connwatch_body(struct fr_conn *c, size_t n);

#endif
