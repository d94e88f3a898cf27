/*
 * admin.h: the operations endpoints of `ferry serve`, apart from the
 * webhook paths: GET /metrics, /healthz, /readyz, /api/status, /api/dlq,
 * the dashboard at /, and the admin actions POST /api/dlq/SEQ/replay and
 * POST /api/jobs/NAME/run (docs/operations.md).
 *
 * The module knows nothing of libmicrohttpd: the webhook server hands its
 * routes (fr_admin_routes, struct fr_hook_routes in hooks/server.h) a
 * method, a path and a few headers and sends back what they answer, with
 * the headers they name. Reads are open; actions need "Authorization:
 * Bearer TOKEN" matching webhooks.admin_token (compared in constant time;
 * 401 without or with a wrong token, 403 when no admin_token is
 * configured). The token never reaches a log line, an answer or a metric.
 *
 * Browsers: every path but /healthz and /readyz answers only a Host that
 * fr_admin_host_ok allows (else 421), so a page whose name was rebound to
 * the listener's address (DNS rebinding) cannot read it; an admin action
 * whose Origin is another site's is refused (403) before its token is
 * looked at; every answer carries the security headers (no framing, no
 * sniffing, no referrer, a Content-Security-Policy; the dashboard's allows
 * exactly its own inline script and style, by their SHA-256).
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
#include "hooks/server.h"

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

/*
 * Answers rq into *out and returns true, or returns false (out untouched)
 * when rq->path is no admin path. The headers of *out are borrowed from a
 * until fr_admin_free.
 */
bool fr_admin_handle(struct fr_admin *a, const struct fr_hook_request *rq,
                     struct fr_hook_response *out);

/* The routes that hand the webhook server's other paths to fr_admin_handle on a (borrowed). */
struct fr_hook_routes fr_admin_routes(struct fr_admin *a);

/*
 * Whether the operations endpoints answer a request with this Host header
 * (NULL when it had none: no). Allowed: an IP address, IPv4 or IPv6 in
 * brackets (a rebinding attack needs a name it controls, and a page at an
 * address is already on the listener's origin); "localhost" and any name
 * under ".localhost" (a reserved name browsers resolve to loopback
 * themselves, which no one can publish in DNS); and the names in allowed,
 * webhooks.allowed_hosts (lower case, no port: "ferry.example.com",
 * "*.example.com" for any name under example.com but not itself, "*" for
 * any Host at all). A port, if given, must be a number up to 65535 and is
 * ignored; names compare without case and without a trailing dot; a Host
 * of other characters than letters, digits, '.', '-' and '_' is refused.
 * Pure.
 */
bool fr_admin_host_ok(const char *const *allowed, size_t nallowed, const char *host);

/*
 * Whether a request for an admin action comes from the listener's own
 * origin, or from no browser at all. origin (the Origin header) NULL: yes
 * (curl, scripts, ferry's own CLI send none); "null", a scheme other than
 * http or https, or a host or port other than host's (the Host header; a
 * port left out is the origin scheme's default, 80 or 443): no. fetch_site
 * (Sec-Fetch-Site, may be NULL) "cross-site" or "same-site": no, whatever
 * the Origin. Pure.
 */
bool fr_admin_origin_ok(const char *host, const char *origin, const char *fetch_site);

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
