#include "core/common.h"
#include "obs/status.h"

#include "core/clock.h"
#include "store/store.h"
#include "job/job_conf.h"
#include "obs/obs_conf.h"
#include "hooks/hooks_conf.h"

static json_t *time_json(int64_t wall_ms)
{
    if (wall_ms <= 0)
        return json_null();
    char buf[64];
    fr_format_rfc3339(wall_ms, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *counts_json(const struct fr_run_counts *c)
{
    json_t *o = json_object();
#define COUNT(name) json_object_set_new(o, #name, json_integer((json_int_t)c->name))
    COUNT(read);
    COUNT(sent);
    COUNT(created);
    COUNT(duplicate);
    COUNT(rejected);
    COUNT(failed);
    COUNT(changed);
    COUNT(skipped);
    COUNT(requests);
    COUNT(retries);
    COUNT(rate_limited);
    COUNT(token_refreshes);
    COUNT(pages);
    COUNT(written);
#undef COUNT
    return o;
}

static json_t *run_json(const struct fr_run *r)
{
    return json_pack("{s:s, s:s, s:i, s:s?, s:o, s:o, s:o}", "id", r->id, "status", r->status,
                     "exit_code", r->exit_code, "reason", r->reason[0] ? r->reason : NULL,
                     "started_at", time_json(r->started_ms), "ended_at", time_json(r->ended_ms),
                     "counts", counts_json(&r->counts));
}

struct recent {
    json_t *list;
    size_t finished, ok;
    bool have_last;
    struct fr_run last;
};

static int collect_recent(const struct fr_run *r, void *ud)
{
    struct recent *rc = ud;
    if (!rc->have_last) {
        rc->last = *r;
        rc->have_last = true;
    }
    if (strcmp(r->status, "running") != 0) {
        rc->finished++;
        rc->ok += strcmp(r->status, "ok") == 0;
    }
    json_array_append_new(rc->list,
                          json_pack("{s:s, s:s, s:o, s:I, s:I, s:I}", "id", r->id, "status",
                                    r->status, "started_at", time_json(r->started_ms), "created",
                                    (json_int_t)r->counts.created, "failed",
                                    (json_int_t)(r->counts.failed + r->counts.rejected),
                                    "duplicate", (json_int_t)r->counts.duplicate));
    return 0;
}

static void problem(json_t *problems, const char *fmt, ...) FR_PRINTF(2, 3);
static void problem(json_t *problems, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = fr_vasprintf(fmt, ap);
    va_end(ap);
    json_array_append_new(problems, json_string(s));
    free(s);
}

static int job_status(const struct fr_config *cfg, const struct fr_job_conf *j, struct fr_store *st,
                      int64_t now_ms, json_t *problems, json_t **out, struct fr_err *err)
{
    struct recent rc = {.list = json_array()};
    int rv =
        fr_store_runs_list(st, j->name, (size_t)cfg->status->recent_runs, collect_recent, &rc, err);
    struct fr_run ok;
    bool have_ok = false;
    if (!rv) {
        rv = fr_store_run_last(st, j->name, "ok", &ok, err);
        have_ok = rv == FR_OK;
        if (rv == FR_ENOTFOUND)
            rv = FR_OK;
    }
    if (rv) {
        json_decref(rc.list);
        return rv;
    }
    int64_t age_ms = have_ok ? now_ms - (ok.ended_ms ? ok.ended_ms : ok.started_ms) : -1;
    bool stale = j->max_age_ms > 0 && (!have_ok || age_ms > j->max_age_ms);
    char age_text[32] = "never";
    if (have_ok)
        snprintf(age_text, sizeof(age_text), "%llds ago", (long long)(age_ms / 1000));
    if (stale)
        problem(problems, "job %s is stale: last success %s, max_age %llds", j->name, age_text,
                (long long)(j->max_age_ms / 1000));
    /* a run still going is no problem; one that ended without success tells why */
    if (rc.have_last &&
        (strcmp(rc.last.status, "failed") == 0 || strcmp(rc.last.status, "interrupted") == 0)) {
        char exit_text[24] = "";
        if (rc.last.exit_code >= 0)
            snprintf(exit_text, sizeof(exit_text), " (exit %d)", rc.last.exit_code);
        problem(problems, "job %s: last run %s %s%s%s%s", j->name, rc.last.id, rc.last.status,
                exit_text, rc.last.reason[0] ? ": " : "", rc.last.reason);
    }
    double rate = rc.finished ? (double)rc.ok / (double)rc.finished : -1;
    if (rate >= 0 && rate < cfg->status->min_success_rate)
        problem(problems, "job %s is failing: %.0f%% of its last %zu runs succeeded (min %.0f%%)",
                j->name, rate * 100, rc.finished, cfg->status->min_success_rate * 100);
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:i, s:o}", "name",
                  j->name, "kind", j->kind == FR_JOB_PULL ? "pull" : "push", "target", j->target,
                  "schedule", j->schedule ? json_string(j->schedule) : json_null(), "timezone",
                  j->timezone ? json_string(j->timezone) : json_null(), "max_age_s",
                  j->max_age_ms ? json_integer(j->max_age_ms / 1000) : json_null(), "last_run",
                  rc.have_last ? run_json(&rc.last) : json_null(), "last_success",
                  have_ok ? run_json(&ok) : json_null(), "age_s",
                  have_ok ? json_integer(age_ms / 1000) : json_null(), "stale", stale,
                  "success_rate", rate >= 0 ? json_real(rate) : json_null(), "recent_runs",
                  (int)rc.finished, "recent", rc.list);
    *out = o;
    return 0;
}

struct queues {
    const struct fr_config *cfg;
    json_t *by_name; /* source -> object */
    int64_t now_ms;
};

static json_t *source_json(const char *name, const char *path)
{
    return json_pack("{s:s, s:s?, s:i, s:i, s:i, s:n}", "name", name, "path", path, "pending", 0,
                     "delivered", 0, "dead", 0, "oldest_pending_age_s");
}

static int collect_queue(const struct fr_queue_stats *q, void *ud)
{
    struct queues *qs = ud;
    json_t *o = json_object_get(qs->by_name, q->source);
    if (!o) { /* events of a source no longer configured */
        o = source_json(q->source, NULL);
        json_object_set_new(qs->by_name, q->source, o);
    }
    json_object_set_new(o, "pending", json_integer((json_int_t)q->pending));
    json_object_set_new(o, "delivered", json_integer((json_int_t)q->delivered));
    json_object_set_new(o, "dead", json_integer((json_int_t)q->dead));
    if (q->pending && q->oldest_pending_ms > 0)
        json_object_set_new(o, "oldest_pending_age_s",
                            json_integer((qs->now_ms - q->oldest_pending_ms) / 1000));
    return 0;
}

int fr_status_build(const struct fr_config *cfg, struct fr_store *st, int64_t now_ms, json_t **out,
                    struct fr_err *err)
{
    *out = NULL;
    json_t *problems = json_array(), *jobs = json_array();
    int rc = 0;
    for (size_t i = 0; i < cfg->njobs && !rc; i++) {
        json_t *j = NULL;
        rc = job_status(cfg, &cfg->jobs[i], st, now_ms, problems, &j, err);
        if (!rc)
            json_array_append_new(jobs, j);
    }
    struct queues qs = {.cfg = cfg, .by_name = json_object(), .now_ms = now_ms};
    for (size_t i = 0; i < cfg->webhooks->nsources; i++)
        json_object_set_new(
            qs.by_name, cfg->webhooks->sources[i].name,
            source_json(cfg->webhooks->sources[i].name, cfg->webhooks->sources[i].path));
    if (!rc)
        rc = fr_store_queue_stats(st, true, collect_queue, &qs, err);
    if (rc) {
        json_decref(problems);
        json_decref(jobs);
        json_decref(qs.by_name);
        return rc;
    }
    json_t *sources = json_array();
    const char *name;
    json_t *o;
    json_object_foreach(qs.by_name, name, o)
    {
        json_int_t dead = json_integer_value(json_object_get(o, "dead"));
        json_t *age = json_object_get(o, "oldest_pending_age_s");
        if (dead > cfg->status->max_dead_letters)
            problem(problems, "webhook source %s has %lld dead letters (max %lld)", name,
                    (long long)dead, (long long)cfg->status->max_dead_letters);
        if (cfg->status->max_pending_age_ms > 0 && json_is_integer(age) &&
            json_integer_value(age) * 1000 > cfg->status->max_pending_age_ms)
            problem(problems, "webhook source %s has an event pending for %llds (max %llds)", name,
                    (long long)json_integer_value(age),
                    (long long)(cfg->status->max_pending_age_ms / 1000));
        json_array_append(sources, o);
    }
    json_decref(qs.by_name);
    *out = json_pack("{s:o, s:b, s:o, s:o, s:o}", "generated_at", time_json(now_ms), "ok",
                     json_array_size(problems) == 0, "problems", problems, "jobs", jobs, "sources",
                     sources);
    return 0;
}
