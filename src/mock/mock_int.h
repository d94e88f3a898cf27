/*
 * mock_int.h: what the files of src/mock share (fr__mock_ prefix).
 *
 * Threads: every connection runs on its own thread. All mutable state of
 * struct fr_mock is guarded by m->lock; functions below say whether they
 * expect it held ("locked") or take it themselves.
 */
#ifndef FR_MOCK_MOCK_INT_H
#define FR_MOCK_MOCK_INT_H

#include "core/common.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "core/clock.h"
#include "mock/mock.h"

#define FR__MOCK_BODY_MAX   (8u * 1024 * 1024)
#define FR__MOCK_BATCH_MAX  100
#define FR__MOCK_PAGE_MAX   100
#define FR__MOCK_TOKENS_MAX 100000

/* Admitted arrival times of the sliding-window rate limiter (a ring). */
struct fr__mock_ratelog {
    int64_t *at;
    uint32_t cap, head, len;
};

/*
 * One stored credit, in one allocation: its sourceRef and the credit as
 * posted, frozen (fr__mock_json_freeze): a fifth of the memory of a jansson
 * tree, and cheaper to write than JSON text; GET /credits thaws it.
 */
struct fr__mock_row {
    struct fr__mock_row *prev, *next; /* insertion order; next also links free rows */
    uint64_t hash;
    uint64_t count; /* times stored: 1, more only under no_dedupe */
    size_t size;    /* bytes of this allocation */
    char *credit;   /* the frozen credit, inside this allocation */
    size_t credit_len;
    size_t ref_len;
    char ref[]; /* the sourceRef, NUL-terminated, then the credit */
};

#define FR__MOCK_ROW_ALIGN 16
#define FR__MOCK_ROW_SMALL 1024 /* larger rows are malloc'd one by one */

/*
 * The credits, by sourceRef: an open-addressing table (linear probing,
 * backward-shift deletion) of rows it owns, which also keeps their
 * insertion order for GET /credits. Small rows are carved from big blocks
 * (recycled by size when removed): a store that only grows costs no malloc
 * per credit. Not locked itself: m->lock guards it.
 */
struct fr__mock_store {
    struct fr__mock_row **slots; /* cap entries, NULL = empty */
    size_t cap;                  /* 0 or a power of two */
    size_t len;
    struct fr__mock_row *head, *tail; /* oldest, newest */
    void *blocks;                     /* the blocks, chained through their first word */
    size_t block_used;                /* bytes used of the newest block */
    struct fr__mock_row *free_rows[FR__MOCK_ROW_SMALL / FR__MOCK_ROW_ALIGN]; /* by size */
};

struct fr_mock {
    struct MHD_Daemon *daemon;
    int port;
    char host[64]; /* for absolute links: the bound IP, 127.0.0.1 for a wildcard */
    char *client_id;
    char *client_secret;
    unsigned participants;
    uint64_t seed;
    struct fr_mock_faults faults;
    int64_t started_ms;
    atomic_int stopping; /* read by slow requests to cut their sleep short */

    pthread_mutex_t lock; /* guards everything below */
    struct fr_rng rng;
    uint64_t next_request_id;
    struct fr__mock_ratelog ratelog;
    json_t *tokens; /* token -> issued-at ms */
    struct fr__mock_store credits;
    json_t *requests;   /* "METHOD /route" -> {"status": n} */
    json_t *fault_hits; /* fault name -> n */
    uint64_t tokens_issued;
    uint64_t credits_stored;
    uint64_t duplicate_attempts;
    uint64_t max_store_count;
    int64_t *modified;     /* lastModified of participant i + 1, wall ms (mock_participants.c) */
    int64_t last_touch_ms; /* the newest lastModified handed out by a touch */
};

/* One request being received; freed when libmicrohttpd completes it. */
struct fr__mock_req {
    struct MHD_Connection *conn;
    const struct fr__mock_route *route; /* NULL: unmatched path */
    bool method_ok;                     /* false: 405 */
    const char *method;
    char *path;        /* decoded path, owned */
    const char *param; /* the {sourceRef} part of path, borrowed from path */
    char request_id[32];
    int64_t arrival_ms;
    /* Borrowed from the connection, which reuses them request after request
     * (keep-alive); empty when the request starts. */
    struct fr_buf *body;   /* the request body, capped at FR__MOCK_BODY_MAX */
    struct fr_buf *answer; /* where a handler may write its answer (see reply.text); no cap:
                              bounded by the body, or by the 100 credits GET /credits lists */
    bool too_big;
    uint64_t conn_seq; /* this request's number on its connection, from 1 (keep-alive) */
    /* decided at arrival */
    int64_t retry_after_s; /* > 0: rate limited */
    bool reset, error5xx, body_error, truncate, slow, drop_after, drop_nth;
    bool echo_auth; /* copied from the faults at arrival: not drawn */
    unsigned error_status;
    int64_t slow_ms; /* the slow fault's delay, copied under the lock with the draw */
};

/* What a handler answers; sent by mock.c. */
struct fr__mock_reply {
    unsigned status;
    json_t *body;            /* owned; NULL for no body (204) unless text is set */
    bool text;               /* the answer is the JSON written in rq->answer, not body */
    const char *header_name; /* one extra header, or NULL */
    char header_value[512];  /* (a Link header holds a whole next link) */
};

typedef void (*fr__mock_handler)(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out);

enum {
    FR__MOCK_AUTH = 1,   /* bearer token required */
    FR__MOCK_FAULTS = 2, /* faults apply */
};

struct fr__mock_route {
    const char *method;
    const char *path; /* ending in "{sourceRef}": matches any non-empty last segment */
    const char *key;  /* the stats key, "METHOD /path" */
    fr__mock_handler fn;
    unsigned flags;
};

/* Sets out to status with {"error": code, "message": message (if not NULL)}. */
void fr__mock_error(struct fr__mock_reply *out, unsigned status, const char *code,
                    const char *message);

/* mock_faults.c: the sliding-window limiter. Returns 0 when now is admitted
 * (and logged), else the Retry-After seconds (>= 1). Pure apart from log. */
int64_t fr__mock_rate_admit(struct fr__mock_ratelog *log, const struct fr_rate *rate,
                            int64_t now_ms);
void fr__mock_ratelog_release(struct fr__mock_ratelog *log);

/* mock_stats.c (locked unless said otherwise) */
void fr__mock_stats_init(struct fr_mock *m);
void fr__mock_stats_release(struct fr_mock *m);
void fr__mock_count_request(struct fr_mock *m, const char *key, const char *status);
void fr__mock_count_fault(struct fr_mock *m, const char *name);
void fr__mock_handle_stats(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);
void fr__mock_handle_reset(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);
void fr__mock_handle_faults(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);

/* mock_oauth.c */
void fr__mock_handle_token(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);
/* True when the request carries a live bearer token (takes the lock). */
bool fr__mock_token_ok(struct fr_mock *m, struct fr__mock_req *rq);

/* mock_store.c */
void fr__mock_store_init(struct fr__mock_store *s);
/* Frees every row and all memory. */
void fr__mock_store_release(struct fr__mock_store *s);
/* Forgets every row; keeps the table for reuse. */
void fr__mock_store_clear(struct fr__mock_store *s);
/* The row for ref, borrowed (valid until it is removed or the store cleared), or NULL. */
struct fr__mock_row *fr__mock_store_find(const struct fr__mock_store *s, const char *ref);
/*
 * Stores copies of ref and credit as the newest row (count 1) and returns it
 * with *added true; when ref is stored already, returns that row, untouched,
 * with *added false. Both rows are borrowed, like fr__mock_store_find's.
 */
struct fr__mock_row *fr__mock_store_add(struct fr__mock_store *s, const char *ref, size_t ref_len,
                                        const char *credit, size_t credit_len, bool *added);
/* Removes the row for ref and returns its count; 0 when ref is not stored. */
uint64_t fr__mock_store_remove(struct fr__mock_store *s, const char *ref);
size_t fr__mock_store_len(const struct fr__mock_store *s);

/* mock_json.c: writing answers straight into a buffer (b has no cap). */
/* Appends s as a JSON string, escaped as jansson does. s must be valid UTF-8. */
void fr__mock_json_put_string(struct fr_buf *b, const char *s);
/*
 * Appends j (any JSON value) as compact JSON, written by jansson. j must be
 * dumpable (anything jansson parsed is); a broken invariant aborts.
 */
void fr__mock_json_put(struct fr_buf *b, const json_t *j);
/*
 * Appends j in a compact binary form that fr__mock_json_thaw turns back into
 * an equal value (same members in the same order, same numbers bit for bit):
 * cheaper to write than JSON, for what is stored and seldom read.
 */
void fr__mock_json_freeze(struct fr_buf *b, const json_t *j);
/* A new value from len bytes written by fr__mock_json_freeze (caller json_decrefs); NULL
 * when they are not exactly one frozen value. */
json_t *fr__mock_json_thaw(const char *data, size_t len);

/* mock_credits.c */
/*
 * The echo_auth fault's message for rq, "token AUTHORIZATION lacks scope"
 * (the header as sent, at most 512 bytes, bytes outside printable ASCII as
 * '?'). The caller frees it.
 */
char *fr__mock_echo_auth_message(struct fr__mock_req *rq);
/* NULL when the credit is valid, else a message naming the field (static or in buf). */
const char *fr__mock_credit_invalid(const json_t *credit, unsigned participants, char *buf,
                                    size_t buflen);
void fr__mock_handle_batch(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);
void fr__mock_handle_post_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out);
void fr__mock_handle_get_credits(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out);
void fr__mock_handle_delete_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                   struct fr__mock_reply *out);

/* mock_participants.c */
/* Sets every participant's lastModified to its fixed start value (m->participants set). */
void fr__mock_participants_init(struct fr_mock *m);
void fr__mock_participants_release(struct fr_mock *m);
void fr__mock_handle_participants(struct fr_mock *m, struct fr__mock_req *rq,
                                  struct fr__mock_reply *out);
void fr__mock_handle_touch(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);

#endif
