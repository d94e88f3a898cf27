/*
 * admin.h: the operations endpoints of `ferry serve`, apart from the
 * webhook paths: GET /metrics, /healthz, /readyz, /api/status, /api/dlq,
 * the dashboard at /, and the admin actions POST /api/dlq/SEQ/replay and
 * POST /api/jobs/NAME/run (docs/operations.md).
 *
 * The module knows nothing of libmicrohttpd: the server hands it a
 * method, a path and the Authorization header and sends back what it
 * answers. Reads are open; actions need "Authorization: Bearer TOKEN"
 * matching webhooks.admin_token (compared in constant time; 401 without
 * or with a wrong token, 403 when no admin_token is configured). The token
 * never reaches a log line, an answer or a metric.
 *
 * Threads: fr_admin_handle may be called from many threads at once; the
 * admin's own store handle is used under a lock.
 */
#ifndef FR_OBS_ADMIN_H
#define FR_OBS_ADMIN_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"

/* What the rest of `ferry serve` lends the admin endpoints; any member may be NULL. */
struct fr_admin_hooks {
    void *ud;
    /* Appends readiness checks {"name", "ok", "detail"} beyond the store's to checks. */
    void (*ready)(void *ud, json_t *checks);
    /* Adds members (alerts, next runs) to the /api/status object. */
    void (*status)(void *ud, json_t *status);
    /*
     * Starts a run of job now: FR_OK, FR_ENOTFOUND (no such job), FR_EINVAL (running here
     * already), FR_EBUSY (running on another instance), another code when it cannot start.
     */
    int (*run_job)(void *ud, const char *job);
    /* Events became due (a replay): wake the delivery workers. */
    void (*wake)(void *ud);
    /*
     * When the webhook committer's last commit failed: its fr_now_ms(); 0 when
     * the last commit stored its events (fr_hook_server_commit_failed_ms).
     */
    int64_t (*commit_failed_ms)(void *ud);
};

/*
 * /readyz fails its "store" check while the store refuses a test write
 * (fr_store_write_check), and for this long after a commit of webhook
 * events failed, unless a later commit succeeded: some failures only show
 * when a commit reaches the disk.
 */
#define FR_ADMIN_COMMIT_FAILED_WINDOW_MS 10000

struct fr_admin;

/*
 * Opens the admin's own handle on cfg's store. cfg and the hooks' ud are
 * borrowed until fr_admin_free. FR_ESTORE (err says why) when the store
 * cannot be opened.
 */
int fr_admin_new(const struct fr_config *cfg, const struct fr_admin_hooks *hooks,
                 struct fr_admin **out, struct fr_err *err);
void fr_admin_free(struct fr_admin *a);

struct fr_admin_request {
    const char *method;
    const char *path;          /* without the query string */
    const char *authorization; /* the header's value, or NULL */
};

struct fr_admin_response {
    unsigned status;
    const char *content_type; /* static */
    char *body;               /* owned: free() it */
    size_t len;
    const char *allow; /* for a 405: the methods allowed; else NULL */
};

/*
 * Answers rq into *out and returns true, or returns false (out untouched)
 * when rq->path is no admin path.
 */
bool fr_admin_handle(struct fr_admin *a, const struct fr_admin_request *rq,
                     struct fr_admin_response *out);

/* Whether header is "Bearer TOKEN" with TOKEN equal to token; constant time in TOKEN. Pure. */
bool fr_admin_token_ok(const char *token, const char *header);

/*
 * Whether listen ("IPv4:PORT" or "[IPv6]:PORT", NULL for the default
 * 127.0.0.1:8080) is a loopback address (127.0.0.0/8 or ::1). Pure.
 */
bool fr_admin_listen_is_loopback(const char *listen);

/* The dashboard page (HTML with its CSS and JavaScript inline). Static. */
extern const char fr_dashboard_html[];

#endif
