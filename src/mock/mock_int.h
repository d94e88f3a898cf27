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
    json_t *tokens;     /* token -> issued-at ms */
    json_t *credits;    /* sourceRef -> {"credit": {...}, "count": n}, insertion order */
    json_t *requests;   /* "METHOD /route" -> {"status": n} */
    json_t *fault_hits; /* fault name -> n */
    uint64_t tokens_issued;
    uint64_t credits_stored;
    uint64_t duplicate_attempts;
    uint64_t max_store_count;
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
    struct fr_buf body;
    bool too_big;
    /* decided at arrival */
    int64_t retry_after_s; /* > 0: rate limited */
    bool reset, error5xx, body_error, truncate, slow;
    unsigned error_status;
};

/* What a handler answers; sent by mock.c. */
struct fr__mock_reply {
    unsigned status;
    json_t *body;            /* owned; NULL for no body (204) */
    const char *header_name; /* one extra header, or NULL */
    char header_value[96];
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

/* mock_oauth.c */
void fr__mock_handle_token(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out);
/* True when the request carries a live bearer token (takes the lock). */
bool fr__mock_token_ok(struct fr_mock *m, struct fr__mock_req *rq);

/* mock_credits.c */
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
void fr__mock_handle_participants(struct fr_mock *m, struct fr__mock_req *rq,
                                  struct fr__mock_reply *out);

#endif
