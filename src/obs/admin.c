#include "core/common.h"
#include "obs/admin.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/log_limit.h"
#include "obs/metrics.h"
#include "obs/status.h"
#include "store/store.h"
#include "hooks/hooks_conf.h"
#include "obs/obs_conf.h"

#define DLQ_LIST_MAX 200

/* The longest Host name looked at (a DNS name is at most 253 bytes). */
#define HOST_MAX 255

/* ---- security headers ----------------------------------------------------------------- */

/*
 * Every answer's: nothing may frame it, sniff its type or learn where a link
 * came from; the dashboard's answer puts its own policy first.
 */
static const struct fr_hook_header api_headers[] = {
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
    {"X-Frame-Options", "DENY"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {NULL, NULL},
};

struct fr_admin {
    const struct fr_config *cfg;
    struct fr_admin_hooks hooks;
    pthread_mutex_t lock; /* the store handle is used by one thread at a time */
    struct fr_store *store;
    bool reads_need_token; /* API reads: the listener is not loopback, or protect_reads */
    char *page_csp;        /* the dashboard's policy: its inline script and style by hash */
    struct fr_hook_header page_headers[FR_ARRAY_LEN(api_headers)];
};

/*
 * The CSP sources ("'sha256-...' ...") of every inline block html has
 * between open and close; caller frees. The dashboard's script and style
 * then run under a policy that runs nothing else inline: an injected
 * <script> or style="" attribute would not.
 */
static char *inline_hashes(const char *html, const char *open, const char *close)
{
    struct fr_buf b = FR_BUF_INIT;
    for (const char *p = strstr(html, open); p; p = strstr(p, open)) {
        p += strlen(open);
        const char *end = strstr(p, close);
        FR_ASSERT(end);
        unsigned char md[32];
        unsigned int n = 0;
        EVP_Digest(p, (size_t)(end - p), md, &n, EVP_sha256(), NULL);
        unsigned char b64[48];
        EVP_EncodeBlock(b64, md, sizeof(md));
        fr_buf_addf(&b, "%s'sha256-%s'", b.len ? " " : "", (const char *)b64);
        p = end;
    }
    FR_ASSERT(b.len);
    return fr_buf_detach(&b, NULL);
}

static void page_headers_init(struct fr_admin *a)
{
    char *script = inline_hashes(fr_dashboard_html, "<script>", "</script>");
    char *style = inline_hashes(fr_dashboard_html, "<style>", "</style>");
    /* img-src data: for its empty icon, which keeps browsers from asking for /favicon.ico */
    a->page_csp = fr_asprintf("default-src 'self'; script-src %s; style-src %s; img-src data:; "
                              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                              script, style);
    free(script);
    free(style);
    memcpy(a->page_headers, api_headers, sizeof(api_headers));
    a->page_headers[0].value = a->page_csp;
}

/* ---- hosts and origins ---------------------------------------------------------------- */

/* A Host header's or an origin's host and port. */
struct authority {
    char host[HOST_MAX + 1]; /* lower case, without a trailing dot; IPv6 in its brackets */
    long port;               /* -1 when not given */
    bool ip;                 /* an IPv4 or IPv6 address */
};

/* Parses text[0..len) as host[:port]; false for anything else. */
static bool parse_authority(const char *text, size_t len, struct authority *out)
{
    out->port = -1;
    out->ip = false;
    size_t host_len = 0;
    if (len && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (!close)
            return false;
        host_len = (size_t)(close - text) + 1;
    } else {
        const char *colon = memchr(text, ':', len);
        host_len = colon ? (size_t)(colon - text) : len;
    }
    if (host_len == 0 || host_len > HOST_MAX)
        return false;
    if (host_len < len) { /* ":PORT" */
        const char *port = text + host_len + 1;
        size_t digits = len - host_len - 1;
        if (text[host_len] != ':' || digits == 0 || digits > 5)
            return false;
        long v = 0;
        for (size_t i = 0; i < digits; i++) {
            if (port[i] < '0' || port[i] > '9')
                return false;
            v = v * 10 + (port[i] - '0');
        }
        if (v > 65535)
            return false;
        out->port = v;
    }
    for (size_t i = 0; i < host_len; i++)
        out->host[i] = (char)tolower((unsigned char)text[i]);
    out->host[host_len] = '\0';
    if (out->host[0] == '[') {
        char inner[HOST_MAX];
        unsigned char a6[16];
        fr_strlcpy(inner, out->host + 1, host_len - 1);
        return out->ip = inet_pton(AF_INET6, inner, a6) == 1;
    }
    if (host_len > 1 && out->host[host_len - 1] == '.')
        out->host[--host_len] = '\0';
    if (strspn(out->host, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != host_len)
        return false;
    unsigned char a4[4];
    out->ip = inet_pton(AF_INET, out->host, a4) == 1;
    return true;
}

/* Whether name ends with "." suffix (suffix without its dot), with something before it. */
static bool under(const char *name, const char *suffix)
{
    size_t n = strlen(name), m = strlen(suffix);
    return n > m + 1 && name[n - m - 1] == '.' && strcmp(name + n - m, suffix) == 0;
}

/* Whether name (parsed) matches want, an entry of webhooks.allowed_hosts. */
static bool host_matches(const char *name, const char *want)
{
    char w[HOST_MAX + 1];
    fr_strlcpy(w, want, sizeof(w));
    size_t n = strlen(w);
    if (n > 1 && w[n - 1] == '.') /* "example.com." is example.com */
        w[n - 1] = '\0';
    if (strcmp(w, "*") == 0)
        return true;
    if (strncmp(w, "*.", 2) == 0)
        return under(name, w + 2);
    return strcmp(name, w) == 0;
}

/* Allowed whatever the config says: names no one but this machine can resolve. */
static const char *const loopback_names[] = {"localhost", "*.localhost"};

bool fr_admin_host_ok(const char *const *allowed, size_t nallowed, const char *host)
{
    struct authority h;
    if (!host || !parse_authority(host, strlen(host), &h))
        return false;
    if (h.ip)
        return true;
    for (size_t i = 0; i < FR_ARRAY_LEN(loopback_names); i++)
        if (host_matches(h.host, loopback_names[i]))
            return true;
    for (size_t i = 0; i < nallowed; i++)
        if (host_matches(h.host, allowed[i]))
            return true;
    return false;
}

bool fr_admin_origin_ok(const char *host, const char *origin, const char *fetch_site)
{
    if (fetch_site &&
        (strcasecmp(fetch_site, "cross-site") == 0 || strcasecmp(fetch_site, "same-site") == 0))
        return false;
    if (!origin)
        return true;
    static const struct {
        const char *scheme;
        long port;
    } schemes[] = {{"http://", 80}, {"https://", 443}};
    long default_port = -1;
    for (size_t i = 0; i < FR_ARRAY_LEN(schemes); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncasecmp(origin, schemes[i].scheme, n) == 0) {
            default_port = schemes[i].port;
            origin += n;
            break;
        }
    }
    struct authority o, h;
    if (default_port < 0 || !parse_authority(origin, strlen(origin), &o) || !host ||
        !parse_authority(host, strlen(host), &h))
        return false;
    return strcmp(o.host, h.host) == 0 &&
           (o.port < 0 ? default_port : o.port) == (h.port < 0 ? default_port : h.port);
}

/* text as a person may read it in an answer or a log line: printable ASCII, at most 100 bytes. */
static void printable(const char *text, char out[104])
{
    size_t n = 0;
    for (; text && text[n] && n < 100; n++)
        out[n] = text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?';
    if (text && text[n])
        out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

bool fr_admin_listen_is_loopback(const char *listen)
{
    if (!listen)
        return true; /* the default, 127.0.0.1:8080 */
    char host[64];
    const char *end;
    if (listen[0] == '[') {
        listen++;
        end = strchr(listen, ']');
    } else {
        end = strrchr(listen, ':');
    }
    if (!end || (size_t)(end - listen) >= sizeof(host))
        return false;
    memcpy(host, listen, (size_t)(end - listen));
    host[end - listen] = '\0';
    unsigned char a4[4], a6[16];
    if (inet_pton(AF_INET, host, a4) == 1)
        return a4[0] == 127;
    static const unsigned char loop6[16] = {[15] = 1};
    return inet_pton(AF_INET6, host, a6) == 1 && memcmp(a6, loop6, sizeof(a6)) == 0;
}

int fr_admin_new(const struct fr_config *cfg, const struct fr_admin_hooks *hooks,
                 struct fr_admin **out, struct fr_err *err)
{
    *out = NULL;
    struct fr_store *st = NULL;
    int rc = fr_store_open(cfg->store, cfg->dir, &st, err);
    if (rc)
        return rc;
    struct fr_admin *a = fr_calloc(1, sizeof(*a));
    a->cfg = cfg;
    if (hooks)
        a->hooks = *hooks;
    a->store = st;
    a->reads_need_token =
        cfg->webhooks->protect_reads || !fr_admin_listen_is_loopback(cfg->webhooks->listen);
    page_headers_init(a);
    pthread_mutex_init(&a->lock, NULL);
    *out = a;
    return 0;
}

void fr_admin_free(struct fr_admin *a)
{
    if (!a)
        return;
    fr_store_close(a->store);
    pthread_mutex_destroy(&a->lock);
    free(a->page_csp);
    free(a);
}

bool fr_admin_token_ok(const char *token, const char *header)
{
    static const char bearer[] = "Bearer ";
    if (!token || !*token || !header || strncasecmp(header, bearer, sizeof(bearer) - 1) != 0)
        return false;
    const char *given = header + sizeof(bearer) - 1;
    /* Digests first: the comparison then takes the same time whatever the lengths. */
    unsigned char want[32], got[32];
    unsigned int n = 0;
    EVP_Digest(token, strlen(token), want, &n, EVP_sha256(), NULL);
    EVP_Digest(given, strlen(given), got, &n, EVP_sha256(), NULL);
    return CRYPTO_memcmp(want, got, sizeof(want)) == 0;
}

/* ---- answers -------------------------------------------------------------------------- */

static void answer_json(struct fr_hook_response *out, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    out->status = status;
    out->content_type = "application/json";
    out->body = fr_asprintf("%s\n", text);
    out->len = strlen(out->body);
    free(text);
}

static void answer_error(struct fr_hook_response *out, unsigned status, const char *msg)
{
    answer_json(out, status, json_pack("{s:s}", "error", msg));
}

/* ---- reads ---------------------------------------------------------------------------- */

struct gauges {
    struct fr_metrics *m;
    int64_t now_ms;
    json_t *unlisted; /* sources with gauges the store has not listed yet (a set) */
};

static void note_source(const struct fr_metric_sample *s, void *ud)
{
    json_object_set_new(ud, s->labels[0], json_true());
}

static void set_queue_gauges(struct fr_metrics *m, const char *source, double depth, double dead,
                             double oldest_s)
{
    const char *src[] = {source};
    fr_metric_set(m, FR_M_WEBHOOK_QUEUE_DEPTH, src, depth);
    fr_metric_set(m, FR_M_WEBHOOK_DEAD_LETTERS, src, dead);
    fr_metric_set(m, FR_M_WEBHOOK_OLDEST_PENDING, src, oldest_s);
}

static int queue_gauges(const struct fr_queue_stats *q, void *ud)
{
    struct gauges *g = ud;
    json_object_del(g->unlisted, q->source);
    set_queue_gauges(g->m, q->source, (double)q->pending, (double)q->dead,
                     q->pending && q->oldest_pending_ms
                         ? (double)(g->now_ms - q->oldest_pending_ms) / 1000.0
                         : 0);
    return 0;
}

static void get_metrics(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    struct fr_metrics *m = fr_metrics_global();
    struct gauges g = {m, fr_wall_ms(), json_object()};
    /* Configured sources show zeros before their first event. */
    for (size_t i = 0; i < a->cfg->webhooks->nsources; i++) {
        const char *src[] = {a->cfg->webhooks->sources[i].name};
        fr_metric_add(m, FR_M_WEBHOOK_QUEUE_DEPTH, src, 0);
        fr_metric_add(m, FR_M_WEBHOOK_DEAD_LETTERS, src, 0);
        fr_metric_add(m, FR_M_WEBHOOK_OLDEST_PENDING, src, 0);
    }
    /*
     * The store lists only the sources with pending or dead events: any other
     * source's gauges are zero now, whatever an earlier scrape set them to.
     */
    fr_metrics_each(m, FR_M_WEBHOOK_QUEUE_DEPTH, note_source, g.unlisted);
    struct fr_err err = {0};
    pthread_mutex_lock(&a->lock);
    int rc = fr_store_queue_stats(a->store, false, queue_gauges, &g, &err);
    const char *source;
    json_t *v;
    if (!rc)
        json_object_foreach(g.unlisted, source, v)
        {
            set_queue_gauges(m, source, 0, 0, 0);
        }
    pthread_mutex_unlock(&a->lock);
    json_decref(g.unlisted);
    if (rc)
        FR_LOG_WARN("metrics: queue figures not read", FR_LS("error", err.msg));
    out->status = 200;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    out->body = fr_metrics_text(m);
    out->len = strlen(out->body);
}

/* The store is ready when it takes a test write and no commit of webhooks failed just now. */
static json_t *store_check(struct fr_admin *a)
{
    struct fr_err err = {0};
    pthread_mutex_lock(&a->lock);
    int rc = fr_store_write_check(a->store, &err);
    pthread_mutex_unlock(&a->lock);
    if (rc)
        return json_pack("{s:s, s:b, s:s}", "name", "store", "ok", 0, "detail", err.msg);
    int64_t failed_ms = a->hooks.commit_failed_ms ? a->hooks.commit_failed_ms(a->hooks.ud) : 0;
    int64_t ago_ms = fr_now_ms() - failed_ms;
    if (failed_ms && ago_ms < FR_ADMIN_COMMIT_FAILED_WINDOW_MS) {
        char *detail = fr_asprintf("the last commit of webhook events failed %lld s ago (the log "
                                   "says why: \"webhook events not stored\"), although a test "
                                   "write passes now",
                                   (long long)(ago_ms / 1000));
        json_t *c = json_pack("{s:s, s:b, s:s}", "name", "store", "ok", 0, "detail", detail);
        free(detail);
        return c;
    }
    return json_pack("{s:s, s:b, s:s}", "name", "store", "ok", 1, "detail",
                     "the store takes writes");
}

static void get_ready(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    json_t *checks = json_array();
    json_array_append_new(checks, store_check(a));
    json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "name", "listener", "ok", 1,
                                            "detail", "accepting connections"));
    if (a->hooks.ready)
        a->hooks.ready(a->hooks.ud, checks);
    bool ready = true;
    json_t *failed = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(checks, i, c)
    {
        if (!json_is_true(json_object_get(c, "ok"))) {
            ready = false;
            json_array_append(failed, json_object_get(c, "name"));
        }
    }
    answer_json(out, ready ? 200 : 503,
                json_pack("{s:s, s:o, s:o}", "status", ready ? "ready" : "not ready", "failed",
                          failed, "checks", checks));
}

static void get_status(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    json_t *s = NULL;
    struct fr_err err = {0};
    pthread_mutex_lock(&a->lock);
    int rc = fr_status_build(a->cfg, a->store, fr_wall_ms(), &s, &err);
    pthread_mutex_unlock(&a->lock);
    if (rc) {
        answer_error(out, 503, err.msg);
        return;
    }
    if (a->hooks.status)
        a->hooks.status(a->hooks.ud, s);
    answer_json(out, 200, s);
}

static int dlq_one(const struct fr_event *e, void *ud)
{
    char at[64];
    fr_format_rfc3339(e->updated_ms, at, sizeof(at));
    json_array_append_new(ud,
                          json_pack("{s:I, s:s, s:s, s:i, s:s?, s:s}", "seq", (json_int_t)e->seq,
                                    "source", e->source, "event_id", e->event_id, "attempts",
                                    e->attempts, "last_error", e->last_error, "dead_at", at));
    return 0;
}

static void get_dlq(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    json_t *list = json_array();
    struct fr_err err = {0};
    pthread_mutex_lock(&a->lock);
    int rc = fr_store_dlq_list(a->store, NULL, DLQ_LIST_MAX, dlq_one, list, &err);
    pthread_mutex_unlock(&a->lock);
    if (rc) {
        json_decref(list);
        answer_error(out, 503, err.msg);
        return;
    }
    answer_json(out, 200, json_pack("{s:o}", "dead_letters", list));
}

/* ---- refusals and actions -------------------------------------------------------------- */

/* Whether to log this refusal: the lender's limiter decides (kind is a plural, "requests without
 * the admin token"). */
static bool warn_refusal(const struct fr_hook_request *rq, const char *kind)
{
    return !rq->warnings || fr_log_limit_hit(rq->warnings, kind, rq->path, rq->client, fr_now_ms());
}

/* false (out answered) unless the request carries the admin token. */
static bool authorized(struct fr_admin *a, const struct fr_hook_request *rq,
                       struct fr_hook_response *out)
{
    const char *token = a->cfg->webhooks->admin_token;
    if (!token || !*token) {
        answer_error(out, 403,
                     strcmp(rq->method, "POST") == 0
                         ? "admin actions are disabled: set webhooks.admin_token"
                         : "reading the API on this listener needs webhooks.admin_token");
        return false;
    }
    if (!fr_admin_token_ok(token, rq->authorization)) {
        if (warn_refusal(rq, "requests without the admin token"))
            FR_LOG_WARN("admin request refused: missing or wrong admin token",
                        FR_LS("path", rq->path), FR_LS("client", rq->client));
        answer_error(out, 401, "this request needs Authorization: Bearer <admin token>");
        return false;
    }
    return true;
}

/* Reads of the API: open on a loopback listener unless protect_reads. */
static bool may_read(struct fr_admin *a, const struct fr_hook_request *rq,
                     struct fr_hook_response *out)
{
    return !a->reads_need_token || authorized(a, rq, out);
}

static void post_replay(struct fr_admin *a, const char *seq_text, struct fr_hook_response *out)
{
    char *end;
    errno = 0;
    long long seq = strtoll(seq_text, &end, 10);
    if (errno || end == seq_text || strcmp(end, "/replay") != 0 || seq <= 0) {
        answer_error(out, 404, "no such admin path");
        return;
    }
    uint64_t n = 0;
    struct fr_err err = {0};
    pthread_mutex_lock(&a->lock);
    int rc = fr_store_dlq_replay(a->store, seq, NULL, fr_wall_ms(), &n, &err);
    pthread_mutex_unlock(&a->lock);
    if (rc == FR_ENOTFOUND) {
        answer_error(out, 404, "no dead letter with that seq");
        return;
    }
    if (rc) {
        answer_error(out, 503, err.msg);
        return;
    }
    FR_LOG_INFO("dead letter replayed from the admin API", FR_LI("seq", seq));
    if (a->hooks.wake)
        a->hooks.wake(a->hooks.ud);
    answer_json(out, 200, json_pack("{s:s, s:I}", "status", "replayed", "seq", (json_int_t)seq));
}

static void post_run(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    const char *slash = strchr(rest, '/');
    if (!slash || strcmp(slash, "/run") != 0 || slash == rest) {
        answer_error(out, 404, "no such admin path");
        return;
    }
    char job[128];
    size_t n = (size_t)(slash - rest);
    if (n >= sizeof(job)) {
        answer_error(out, 404, "no such job");
        return;
    }
    memcpy(job, rest, n);
    job[n] = '\0';
    int rc = a->hooks.run_job ? a->hooks.run_job(a->hooks.ud, job) : FR_ENOTFOUND;
    if (rc == FR_ENOTFOUND)
        answer_error(out, 404, "no such job");
    else if (rc == FR_EINVAL)
        answer_error(out, 409, "the job is running already");
    else if (rc == FR_EBUSY)
        answer_error(out, 409, "the job is running on another instance");
    else if (rc)
        answer_error(out, 503, "the run could not start (the log says why)");
    else
        answer_json(out, 202, json_pack("{s:s, s:s}", "status", "started", "job", job));
}

static void get_health(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    answer_json(out, 200, json_pack("{s:s}", "status", "alive"));
}

static void get_page(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    out->status = 200;
    out->content_type = "text/html; charset=utf-8";
    out->body = fr_strdup(fr_dashboard_html);
    out->len = strlen(out->body);
    out->headers = a->page_headers;
}

static void no_api_path(struct fr_admin *a, const char *rest, struct fr_hook_response *out)
{
    answer_error(out, 404, "no such API path");
}

/* ---- routing -------------------------------------------------------------------------- */

/* false (out answered 421) unless the Host is one the operations endpoints answer. */
static bool host_allowed(struct fr_admin *a, const struct fr_hook_request *rq,
                         struct fr_hook_response *out)
{
    const struct fr_webhooks_conf *w = a->cfg->webhooks;
    if (fr_admin_host_ok((const char *const *)w->allowed_hosts, w->nallowed_hosts, rq->host))
        return true;
    char host[104], path[104];
    printable(rq->host, host);
    printable(rq->path, path);
    if (warn_refusal(rq, "requests for a Host not allowed"))
        FR_LOG_WARN("operations request refused: Host not allowed", FR_LS("host", host),
                    FR_LS("path", path), FR_LS("client", rq->client));
    char *msg = rq->host ? fr_asprintf("Host \"%s\" is not one this listener answers here: the "
                                       "dashboard, /api/ and /metrics answer IP addresses, "
                                       "localhost and the names in webhooks.allowed_hosts",
                                       host)
                         : fr_strdup("a request without a Host header: the dashboard, /api/ and "
                                     "/metrics answer IP addresses, localhost and the names in "
                                     "webhooks.allowed_hosts");
    answer_json(out, 421, json_pack("{s:s, s:s?}", "error", msg, "host", rq->host ? host : NULL));
    free(msg);
    return false;
}

/* false (out answered 403) when a browser says the request comes from another site. */
static bool same_origin(const struct fr_hook_request *rq, struct fr_hook_response *out)
{
    if (fr_admin_origin_ok(rq->host, rq->origin, rq->fetch_site))
        return true;
    char origin[104], site[104], path[104];
    printable(rq->origin, origin);
    printable(rq->fetch_site, site);
    printable(rq->path, path);
    if (warn_refusal(rq, "admin actions from another site"))
        FR_LOG_WARN("admin action refused: the request comes from another site",
                    FR_LS("origin", origin), FR_LS("fetch_site", site), FR_LS("path", path),
                    FR_LS("client", rq->client));
    answer_error(out, 403,
                 "admin actions are taken from this listener's own pages or without a browser: "
                 "the request's Origin (or Sec-Fetch-Site) says it comes from another site");
    return false;
}

static bool method_is(const struct fr_hook_request *rq, const char *m, struct fr_hook_response *out)
{
    if (strcmp(rq->method, m) == 0 || (strcmp(m, "GET") == 0 && strcmp(rq->method, "HEAD") == 0))
        return true;
    answer_error(out, 405, strcmp(m, "GET") == 0 ? "use GET" : "use POST");
    out->allow = strcmp(m, "GET") == 0 ? "GET, HEAD" : "POST";
    return false;
}

/* What a path asks of a request before it is answered. */
enum guard {
    GUARD_NONE,   /* any Host: load balancers probe by address or by internal names */
    GUARD_HOST,   /* a Host fr_admin_host_ok allows (DNS rebinding) */
    GUARD_READ,   /* that, and the admin token where the API's reads need it */
    GUARD_ACTION, /* that, the listener's own origin (or none), and the admin token */
};

struct route {
    const char *path;
    bool prefix;        /* path starts the request's; the rest is fn's argument */
    const char *method; /* NULL: any */
    enum guard guard;
    void (*fn)(struct fr_admin *a, const char *rest, struct fr_hook_response *out);
};

/* The first row that matches answers. */
static const struct route routes[] = {
    {"/metrics", false, "GET", GUARD_HOST, get_metrics},
    {"/healthz", false, "GET", GUARD_NONE, get_health},
    {"/readyz", false, "GET", GUARD_NONE, get_ready},
    {"/api/status", false, "GET", GUARD_READ, get_status},
    {"/api/dlq", false, "GET", GUARD_READ, get_dlq},
    {"/api/dlq/", true, "POST", GUARD_ACTION, post_replay},
    {"/api/jobs/", true, "POST", GUARD_ACTION, post_run},
    {"/api/", true, NULL, GUARD_HOST, no_api_path},
    {"/", false, "GET", GUARD_HOST, get_page},
};

/* false (out answered) when rq may not have what route r gives. */
static bool guard_passes(struct fr_admin *a, const struct route *r,
                         const struct fr_hook_request *rq, struct fr_hook_response *out)
{
    if (r->guard != GUARD_NONE && !host_allowed(a, rq, out))
        return false;
    if (r->method && !method_is(rq, r->method, out))
        return false;
    if (r->guard == GUARD_READ)
        return may_read(a, rq, out);
    if (r->guard == GUARD_ACTION)
        return same_origin(rq, out) && authorized(a, rq, out);
    return true;
}

bool fr_admin_handle(struct fr_admin *a, const struct fr_hook_request *rq,
                     struct fr_hook_response *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < FR_ARRAY_LEN(routes); i++) {
        const struct route *r = &routes[i];
        size_t n = strlen(r->path);
        if (r->prefix ? strncmp(rq->path, r->path, n) != 0 : strcmp(rq->path, r->path) != 0)
            continue;
        out->headers = api_headers;
        if (guard_passes(a, r, rq, out))
            r->fn(a, rq->path + n, out);
        return true;
    }
    return false;
}

static bool answer_route(void *a, const struct fr_hook_request *rq, struct fr_hook_response *out)
{
    return fr_admin_handle(a, rq, out);
}

struct fr_hook_routes fr_admin_routes(struct fr_admin *a)
{
    return (struct fr_hook_routes){.answer = answer_route, .ctx = a};
}
