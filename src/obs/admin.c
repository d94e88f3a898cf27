#include "core/common.h"
#include "obs/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/metrics.h"
#include "obs/status.h"
#include "store/store.h"

#define DLQ_LIST_MAX 200

struct fr_admin {
    const struct fr_config *cfg;
    struct fr_admin_hooks hooks;
    pthread_mutex_t lock; /* the store handle is used by one thread at a time */
    struct fr_store *store;
    bool reads_need_token; /* API reads: the listener is not loopback, or protect_reads */
};

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
        cfg->webhooks.protect_reads || !fr_admin_listen_is_loopback(cfg->webhooks.listen);
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

static void answer_json(struct fr_admin_response *out, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    out->status = status;
    out->content_type = "application/json";
    out->body = fr_asprintf("%s\n", text);
    out->len = strlen(out->body);
    free(text);
}

static void answer_error(struct fr_admin_response *out, unsigned status, const char *msg)
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

static void get_metrics(struct fr_admin *a, struct fr_admin_response *out)
{
    struct fr_metrics *m = fr_metrics_global();
    struct gauges g = {m, fr_wall_ms(), json_object()};
    /* Configured sources show zeros before their first event. */
    for (size_t i = 0; i < a->cfg->webhooks.nsources; i++) {
        const char *src[] = {a->cfg->webhooks.sources[i].name};
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

static void get_ready(struct fr_admin *a, struct fr_admin_response *out)
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

static void get_status(struct fr_admin *a, struct fr_admin_response *out)
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

static void get_dlq(struct fr_admin *a, struct fr_admin_response *out)
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

/* ---- actions -------------------------------------------------------------------------- */

/* false (out answered) unless the request carries the admin token. */
static bool authorized(struct fr_admin *a, const struct fr_admin_request *rq,
                       struct fr_admin_response *out)
{
    const char *token = a->cfg->webhooks.admin_token;
    if (!token || !*token) {
        answer_error(out, 403,
                     strcmp(rq->method, "POST") == 0
                         ? "admin actions are disabled: set webhooks.admin_token"
                         : "reading the API on this listener needs webhooks.admin_token");
        return false;
    }
    if (!fr_admin_token_ok(token, rq->authorization)) {
        FR_LOG_WARN("admin request refused: missing or wrong admin token", FR_LS("path", rq->path));
        answer_error(out, 401, "this request needs Authorization: Bearer <admin token>");
        return false;
    }
    return true;
}

/* Reads of the API: open on a loopback listener unless protect_reads. */
static bool may_read(struct fr_admin *a, const struct fr_admin_request *rq,
                     struct fr_admin_response *out)
{
    return !a->reads_need_token || authorized(a, rq, out);
}

static void post_replay(struct fr_admin *a, const char *seq_text, struct fr_admin_response *out)
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

static void post_run(struct fr_admin *a, const char *rest, struct fr_admin_response *out)
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

/* ---- routing -------------------------------------------------------------------------- */

static bool method_is(const struct fr_admin_request *rq, const char *m,
                      struct fr_admin_response *out)
{
    if (strcmp(rq->method, m) == 0 || (strcmp(m, "GET") == 0 && strcmp(rq->method, "HEAD") == 0))
        return true;
    answer_error(out, 405, strcmp(m, "GET") == 0 ? "use GET" : "use POST");
    out->allow = strcmp(m, "GET") == 0 ? "GET, HEAD" : "POST";
    return false;
}

bool fr_admin_handle(struct fr_admin *a, const struct fr_admin_request *rq,
                     struct fr_admin_response *out)
{
    const char *p = rq->path;
    memset(out, 0, sizeof(*out));
    if (strcmp(p, "/metrics") == 0) {
        if (method_is(rq, "GET", out))
            get_metrics(a, out);
    } else if (strcmp(p, "/healthz") == 0) {
        if (method_is(rq, "GET", out))
            answer_json(out, 200, json_pack("{s:s}", "status", "alive"));
    } else if (strcmp(p, "/readyz") == 0) {
        if (method_is(rq, "GET", out))
            get_ready(a, out);
    } else if (strcmp(p, "/api/status") == 0) {
        if (method_is(rq, "GET", out) && may_read(a, rq, out))
            get_status(a, out);
    } else if (strcmp(p, "/api/dlq") == 0) {
        if (method_is(rq, "GET", out) && may_read(a, rq, out))
            get_dlq(a, out);
    } else if (strncmp(p, "/api/dlq/", 9) == 0) {
        if (method_is(rq, "POST", out) && authorized(a, rq, out))
            post_replay(a, p + 9, out);
    } else if (strncmp(p, "/api/jobs/", 10) == 0) {
        if (method_is(rq, "POST", out) && authorized(a, rq, out))
            post_run(a, p + 10, out);
    } else if (strcmp(p, "/") == 0) {
        if (method_is(rq, "GET", out)) {
            out->status = 200;
            out->content_type = "text/html; charset=utf-8";
            out->body = fr_strdup(fr_dashboard_html);
            out->len = strlen(out->body);
        }
    } else {
        return false;
    }
    return true;
}
