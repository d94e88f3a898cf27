#include "core/common.h"
#include "obs/trend.h"

#include <math.h>
#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/alert.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "obs/obs_conf.h"
#include "job/job_conf.h"
#include "hooks/hooks_conf.h"

#define MAX_SNAPSHOTS 4096

/* The figures of one target or source at one evaluation. */
struct figures {
    double requests, errors, refreshes, lifetime_s, dead;
    double buckets[FR_METRIC_NBUCKETS + 1]; /* cumulative; the last is +Inf (the count) */
};

struct snapshot {
    int64_t ms;
    struct figures *f; /* ntargets + nsources */
};

/* One alert: a rule about one subject. */
struct alert {
    char name[192]; /* "error_rate:im" */
    const char *rule;
    char subject[128];
    bool firing;
    int64_t since_ms;
    char message[384];
};

struct fr_trends {
    const struct fr_config *cfg;
    struct fr_store *store;
    int64_t started_ms;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock; /* guards alerts and stopping */
    pthread_cond_t wake;
    bool stopping;
    struct alert *alerts;
    size_t nalerts;
    struct snapshot *ring; /* oldest first from head */
    size_t cap, head, len;
    size_t nsubjects; /* ntargets + nsources */
};

/* ---- figures from the metrics registry ----------------------------------------------- */

struct collect {
    const struct fr_config *cfg;
    struct figures *f;
};

static ssize_t target_index(const struct fr_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static void on_requests(const struct fr_metric_sample *s, void *ud)
{
    struct collect *c = ud;
    ssize_t i = target_index(c->cfg, s->labels[0]);
    if (i < 0)
        return;
    c->f[i].requests += s->value;
    if (strcmp(s->labels[2], "5xx") == 0 || strcmp(s->labels[2], "error") == 0)
        c->f[i].errors += s->value;
}

static void on_duration(const struct fr_metric_sample *s, void *ud)
{
    struct collect *c = ud;
    ssize_t i = target_index(c->cfg, s->labels[0]);
    if (i < 0)
        return;
    for (size_t b = 0; b < FR_METRIC_NBUCKETS; b++)
        c->f[i].buckets[b] += (double)s->buckets[b];
    c->f[i].buckets[FR_METRIC_NBUCKETS] += (double)s->count;
}

static void on_refreshes(const struct fr_metric_sample *s, void *ud)
{
    struct collect *c = ud;
    ssize_t i = target_index(c->cfg, s->labels[0]);
    if (i >= 0)
        c->f[i].refreshes += s->value;
}

static void on_lifetime(const struct fr_metric_sample *s, void *ud)
{
    struct collect *c = ud;
    ssize_t i = target_index(c->cfg, s->labels[0]);
    if (i >= 0)
        c->f[i].lifetime_s = s->value;
}

struct dead_ctx {
    const struct fr_config *cfg;
    struct figures *f; /* the sources' part */
};

static int on_queue(const struct fr_queue_stats *q, void *ud)
{
    struct dead_ctx *d = ud;
    for (size_t i = 0; i < d->cfg->webhooks->nsources; i++)
        if (strcmp(d->cfg->webhooks->sources[i].name, q->source) == 0)
            d->f[i].dead = (double)q->dead;
    return 0;
}

static void take_snapshot(struct fr_trends *t, int64_t now_ms)
{
    struct snapshot *s;
    if (t->len == t->cap) { /* full: the oldest goes */
        s = &t->ring[t->head];
        t->head = (t->head + 1) % t->cap;
        t->len--;
    } else {
        s = &t->ring[(t->head + t->len) % t->cap];
    }
    if (!s->f)
        s->f = fr_calloc(t->nsubjects ? t->nsubjects : 1, sizeof(*s->f));
    memset(s->f, 0, (t->nsubjects ? t->nsubjects : 1) * sizeof(*s->f));
    s->ms = now_ms;
    struct fr_metrics *m = fr_metrics_global();
    struct collect c = {t->cfg, s->f};
    fr_metrics_each(m, FR_M_HTTP_REQUESTS, on_requests, &c);
    fr_metrics_each(m, FR_M_HTTP_DURATION, on_duration, &c);
    fr_metrics_each(m, FR_M_HTTP_TOKEN_REFRESHES, on_refreshes, &c);
    fr_metrics_each(m, FR_M_HTTP_TOKEN_LIFETIME, on_lifetime, &c);
    if (t->cfg->trends->dead_letters.enabled && t->store) {
        struct dead_ctx d = {t->cfg, s->f + t->cfg->ntargets};
        struct fr_err err = {0};
        if (fr_store_queue_stats(t->store, false, on_queue, &d, &err))
            FR_LOG_WARN("trend alerts: dead letters not read", FR_LS("error", err.msg));
    }
    t->len++;
}

/* The oldest snapshot no older than window_ms before the newest (the newest when alone). */
static const struct snapshot *window_start(const struct fr_trends *t, int64_t window_ms)
{
    const struct snapshot *newest = &t->ring[(t->head + t->len - 1) % t->cap];
    for (size_t k = 0; k < t->len; k++) {
        const struct snapshot *s = &t->ring[(t->head + k) % t->cap];
        if (newest->ms - s->ms <= window_ms)
            return s;
    }
    return newest;
}

/* ---- alerts --------------------------------------------------------------------------- */

static struct alert *alert_of(struct fr_trends *t, const char *rule, const char *subject)
{
    char name[192];
    snprintf(name, sizeof(name), "%s:%s", rule, subject);
    for (size_t i = 0; i < t->nalerts; i++)
        if (strcmp(t->alerts[i].name, name) == 0)
            return &t->alerts[i];
    t->alerts = fr_reallocarray(t->alerts, t->nalerts + 1, sizeof(*t->alerts));
    struct alert *a = &t->alerts[t->nalerts++];
    memset(a, 0, sizeof(*a));
    fr_strlcpy(a->name, name, sizeof(a->name));
    a->rule = rule;
    fr_strlcpy(a->subject, subject, sizeof(a->subject));
    return a;
}

/* Notifies the sinks of a change of state (outside the lock). */
static void notify(struct fr_trends *t, const char *name, const char *rule, const char *subject,
                   bool firing, const char *message)
{
    fr_metric_set(fr_metrics_global(), FR_M_ALERTS_FIRING, (const char *[]){name}, firing ? 1 : 0);
    char *text = fr_asprintf("ferry: %s %s: %s", firing ? "FIRING" : "RESOLVED", name, message);
    if (firing)
        FR_LOG_WARN("alert firing", FR_LS("alert", name), FR_LS("message", message));
    else
        FR_LOG_INFO("alert resolved", FR_LS("alert", name), FR_LS("message", message));
    json_t *summary =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "alert", name, "rule", rule, "subject", subject,
                  "state", firing ? "firing" : "resolved", "message", message);
    if (t->cfg->nalerts)
        fr_alert_notify(t->cfg->alerts, t->cfg->nalerts, t->cfg->dir, summary, text);
    json_decref(summary);
    free(text);
}

/* Records whether rule holds for subject now; notifies on a change. */
static void judge(struct fr_trends *t, const char *rule, const char *subject, bool holds,
                  const char *message, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct alert *a = alert_of(t, rule, subject);
    bool changed = a->firing != holds;
    char name[192];
    fr_strlcpy(name, a->name, sizeof(name));
    if (changed) {
        a->firing = holds;
        a->since_ms = now_ms;
    }
    if (holds)
        fr_strlcpy(a->message, message, sizeof(a->message));
    pthread_mutex_unlock(&t->lock);
    if (changed)
        notify(t, name, rule, subject, holds, message);
}

/* The 95th percentile's bucket bound in seconds (INFINITY beyond the last bound). */
static double p95(const struct figures *now, const struct figures *old, double count)
{
    for (size_t b = 0; b < FR_METRIC_NBUCKETS; b++)
        if (now->buckets[b] - old->buckets[b] >= 0.95 * count)
            return fr_metric_buckets[b];
    return INFINITY;
}

static void evaluate_targets(struct fr_trends *t, int64_t now_ms)
{
    const struct fr_trends_conf *tc = t->cfg->trends;
    const struct snapshot *newest = &t->ring[(t->head + t->len - 1) % t->cap];
    char msg[384];
    for (size_t i = 0; i < t->cfg->ntargets; i++) {
        const char *target = t->cfg->targets[i].name;
        const struct figures *now = &newest->f[i];
        if (tc->error_rate.enabled) {
            const struct figures *old = &window_start(t, tc->error_rate.window_ms)->f[i];
            double req = now->requests - old->requests, errs = now->errors - old->errors;
            bool holds = req >= (double)tc->error_rate.min && errs / req > tc->error_rate.above;
            snprintf(msg, sizeof(msg),
                     "target %s: %.0f%% of %.0f requests failed over the last %llds "
                     "(threshold %.0f%%)",
                     target, req > 0 ? errs / req * 100 : 0.0, req,
                     (long long)(tc->error_rate.window_ms / 1000), tc->error_rate.above * 100);
            judge(t, "error_rate", target, holds, msg, now_ms);
        }
        if (tc->latency_p95.enabled) {
            const struct figures *old = &window_start(t, tc->latency_p95.window_ms)->f[i];
            double n = now->buckets[FR_METRIC_NBUCKETS] - old->buckets[FR_METRIC_NBUCKETS];
            double q = n > 0 ? p95(now, old, n) : 0;
            bool holds =
                n >= (double)tc->latency_p95.min && q > (double)tc->latency_p95.above_ms / 1000.0;
            snprintf(msg, sizeof(msg),
                     "target %s: 95%% of %.0f requests took up to %gs over the last %llds "
                     "(threshold %gs)",
                     target, n, q, (long long)(tc->latency_p95.window_ms / 1000),
                     (double)tc->latency_p95.above_ms / 1000.0);
            judge(t, "latency_p95", target, holds, msg, now_ms);
        }
        if (tc->token_refresh.enabled && now->lifetime_s > 0) {
            const struct figures *old = &window_start(t, tc->token_refresh.window_ms)->f[i];
            double n = now->refreshes - old->refreshes;
            double expected = (double)tc->token_refresh.window_ms / 1000.0 / now->lifetime_s + 1;
            bool holds = n > (double)tc->token_refresh.min * expected;
            snprintf(msg, sizeof(msg),
                     "target %s: %.0f token refreshes over the last %llds, where tokens living "
                     "%.0fs imply about %.0f (factor %lld)",
                     target, n, (long long)(tc->token_refresh.window_ms / 1000), now->lifetime_s,
                     expected, (long long)tc->token_refresh.min);
            judge(t, "token_refresh", target, holds, msg, now_ms);
        }
    }
    if (tc->dead_letters.enabled) {
        const struct snapshot *start = window_start(t, tc->dead_letters.window_ms);
        for (size_t i = 0; i < t->cfg->webhooks->nsources; i++) {
            size_t k = t->cfg->ntargets + i;
            double grew = newest->f[k].dead - start->f[k].dead;
            snprintf(msg, sizeof(msg),
                     "webhook source %s: %.0f new dead letters over the last %llds (%.0f in all)",
                     t->cfg->webhooks->sources[i].name, grew,
                     (long long)(tc->dead_letters.window_ms / 1000), newest->f[k].dead);
            judge(t, "dead_letters", t->cfg->webhooks->sources[i].name,
                  grew >= (double)tc->dead_letters.min, msg, now_ms);
        }
    }
}

static void evaluate_jobs(struct fr_trends *t, int64_t now_ms)
{
    if (!t->cfg->trends->stale_jobs || !t->store)
        return;
    for (size_t i = 0; i < t->cfg->njobs; i++) {
        const struct fr_job_conf *j = &t->cfg->jobs[i];
        if (!j->max_age_ms)
            continue;
        struct fr_run ok;
        struct fr_err err = {0};
        int rc = fr_store_run_last(t->store, j->name, "ok", &ok, &err);
        if (rc && rc != FR_ENOTFOUND) {
            FR_LOG_WARN("trend alerts: last success not read", FR_LS("job", j->name),
                        FR_LS("error", err.msg));
            continue;
        }
        int64_t since = rc ? t->started_ms : (ok.ended_ms ? ok.ended_ms : ok.started_ms);
        char msg[384];
        snprintf(msg, sizeof(msg), "job %s: %s %llds ago (max_age %llds)", j->name,
                 rc ? "no success since the server started" : "last success",
                 (long long)((now_ms - since) / 1000), (long long)(j->max_age_ms / 1000));
        judge(t, "stale_job", j->name, now_ms - since > j->max_age_ms, msg, now_ms);
    }
}

static void *trends_main(void *arg)
{
    struct fr_trends *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stopping) {
        pthread_mutex_unlock(&t->lock);
        int64_t now = fr_wall_ms();
        take_snapshot(t, now);
        evaluate_targets(t, now);
        evaluate_jobs(t, now);
        pthread_mutex_lock(&t->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (t->cfg->trends->evaluate_ms % 1000) * 1000000;
        until.tv_sec += (time_t)(t->cfg->trends->evaluate_ms / 1000 + ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        while (!t->stopping && pthread_cond_timedwait(&t->wake, &t->lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int fr_trends_start(const struct fr_config *cfg, struct fr_trends **out, struct fr_err *err)
{
    *out = NULL;
    struct fr_trends *t = fr_calloc(1, sizeof(*t));
    t->cfg = cfg;
    t->started_ms = fr_wall_ms();
    t->nsubjects = cfg->ntargets + cfg->webhooks->nsources;
    const struct fr_trends_conf *tc = cfg->trends;
    int64_t longest = FR_MAX(FR_MAX(tc->error_rate.window_ms, tc->latency_p95.window_ms),
                             FR_MAX(tc->token_refresh.window_ms, tc->dead_letters.window_ms));
    t->cap = (size_t)FR_MIN(MAX_SNAPSHOTS, longest / tc->evaluate_ms + 2);
    t->ring = fr_calloc(t->cap, sizeof(*t->ring));
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    int rc = fr_store_open_config(cfg, 0, &t->store, err);
    if (!rc && pthread_create(&t->thread, NULL, trends_main, t) != 0)
        rc = fr_err_set(err, FR_EINTERNAL, 0, "cannot start the trend alert thread");
    if (rc) {
        fr_trends_stop(t);
        return rc;
    }
    t->thread_started = true;
    *out = t;
    return 0;
}

void fr_trends_annotate(struct fr_trends *t, json_t *status)
{
    json_t *list = json_array();
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->nalerts; i++) {
        const struct alert *a = &t->alerts[i];
        if (!a->firing)
            continue;
        char since[64];
        fr_format_rfc3339(a->since_ms, since, sizeof(since));
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "alert", a->name, "rule",
                                              a->rule, "subject", a->subject, "since", since,
                                              "message", a->message));
    }
    pthread_mutex_unlock(&t->lock);
    json_object_set_new(status, "alerts", list);
}

void fr_trends_stop(struct fr_trends *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_broadcast(&t->wake);
    pthread_mutex_unlock(&t->lock);
    if (t->thread_started)
        pthread_join(t->thread, NULL);
    for (size_t i = 0; i < t->cap; i++)
        free(t->ring[i].f);
    free(t->ring);
    free(t->alerts);
    fr_store_close(t->store);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    free(t);
}
