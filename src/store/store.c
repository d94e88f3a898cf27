#include "core/common.h"
#include "store/store.h"

#include <ctype.h>
#include <time.h>

#include <openssl/rand.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/redact.h"
#include "store/store_int.h"

/* URL schemes and the backend that opens each. */
static const struct {
    const char *scheme;
    fr__store_open_fn open;
} backends[] = {
    {"sqlite", fr__store_sqlite_open},
    {"postgresql", fr__store_pg_open},
    {"postgres", fr__store_pg_open},
};

static void known_schemes(char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < FR_ARRAY_LEN(backends) && used < outlen; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s:", i ? ", " : "", backends[i].scheme);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int fr_store_open(const char *url, const char *base_dir, struct fr_store **out, struct fr_err *err)
{
    return fr_store_open_flags(url, base_dir, 0, out, err);
}

/* A scheme as RFC 3986 writes it: a letter, then letters, digits, '+', '-', '.'. */
static bool scheme_ok(const char *s, size_t len)
{
    if (len == 0 || len > 32 || !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("+-.", s[i]))
            return false;
    return true;
}

int fr_store_open_flags(const char *url, const char *base_dir, unsigned flags,
                        struct fr_store **out, struct fr_err *err)
{
    if (!url || !out)
        return fr_err_set(err, FR_EINVAL, 0, "store open: no URL");
    *out = NULL;
    /* Before any message can quote it: libpq's own ones too. */
    fr_redact_add_url_credentials(url);
    char known[128];
    known_schemes(known, sizeof(known));
    const char *colon = strchr(url, ':');
    size_t len = colon ? (size_t)(colon - url) : 0;
    for (size_t i = 0; colon && i < FR_ARRAY_LEN(backends); i++) {
        if (strlen(backends[i].scheme) == len && strncmp(url, backends[i].scheme, len) == 0)
            return backends[i].open(url, colon + 1, base_dir, flags, out, err);
    }
    /*
     * Not a store URL: it may be anything, a password included (a variable
     * holding the wrong value), so it is not quoted. A well-formed scheme
     * is, as it is what a typo changes, unless it may be a user name
     * ("app:PASSWORD@host", the scheme forgotten).
     */
    if (colon && scheme_ok(url, len) && (strncmp(colon, "://", 3) == 0 || !strchr(url, '@')))
        return fr_err_set(err, FR_ECONFIG, 0,
                          "unknown store scheme \"%.*s\" (the URL is not shown: it may hold a "
                          "password); known: %s",
                          (int)len, url, known);
    return fr_err_set(err, FR_ECONFIG, 0,
                      "the store URL does not start with a known scheme (it is not shown: it "
                      "may hold a password); known: %s (e.g. \"sqlite:ferry.db\")",
                      known);
}

static int open_config(void *ud, struct fr_store **out, struct fr_err *err)
{
    return fr_store_open_config(ud, 0, out, err);
}

struct fr_store_opener fr_store_opener_config(const struct fr_config *cfg)
{
    return (struct fr_store_opener){open_config, (void *)cfg};
}

int fr_store_open_config(const struct fr_config *cfg, unsigned flags, struct fr_store **out,
                         struct fr_err *err)
{
    if (!cfg)
        return fr_err_set(err, FR_EINVAL, 0, "store open: no config");
    struct fr_err e = {0};
    int rc = fr_store_open_flags(cfg->store, cfg->dir, flags, out, &e);
    if (!rc || !err || err->code)
        return rc;
    if (cfg->store_pos.line > 0)
        fr_err_set(err, rc, e.native, "%s:%d:%d: store: %s", cfg->path, cfg->store_pos.line,
                   cfg->store_pos.col, e.msg);
    else
        *err = e;
    return rc;
}

int fr_store_schema(struct fr_store *st, int64_t *current, int64_t *latest, struct fr_err *err)
{
    if (!st || !current || !latest)
        return fr_err_set(err, FR_EINVAL, 0, "schema: no store or output");
    return st->ops->schema(st, current, latest, err);
}

int fr_store_migrate(struct fr_store *st, int64_t *applied, struct fr_err *err)
{
    if (applied)
        *applied = 0;
    if (!st)
        return fr_err_set(err, FR_EINVAL, 0, "migrate: no store");
    return st->ops->migrate(st, applied, err);
}

int fr_store_schedule_claim(struct fr_store *st, const char *job, int64_t slot_ms,
                            const char *owner, int64_t now_ms, bool *claimed, struct fr_err *err)
{
    if (claimed)
        *claimed = false;
    if (!st || !job || !owner || !claimed)
        return fr_err_set(err, FR_EINVAL, 0, "schedule claim: no store, job, owner or output");
    return st->ops->schedule_claim(st, job, slot_ms, owner, now_ms, claimed, err);
}

uint64_t fr__store_job_key(const char *job)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, 64 bits */
    for (const unsigned char *p = (const unsigned char *)job; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

int fr_store_job_lock(struct fr_store *st, const char *job, bool *held, struct fr_err *err)
{
    if (held)
        *held = false;
    if (!st || !job || !job[0] || !held)
        return fr_err_set(err, FR_EINVAL, 0, "job lock: no store, job or output");
    if (st->locked_job)
        return fr_err_set(err, FR_EINVAL, 0,
                          "job lock: this handle holds the run lock of job \"%s\" already",
                          st->locked_job);
    void *state = NULL;
    int rc = st->ops->job_lock(st, job, fr__store_job_key(job), held, &state, err);
    if (!rc && *held) {
        st->locked_job = fr_strdup(job);
        st->lock_state = state;
    }
    return rc;
}

int fr_store_job_unlock(struct fr_store *st, const char *job, struct fr_err *err)
{
    if (!st || !job)
        return fr_err_set(err, FR_EINVAL, 0, "job unlock: no store or job");
    if (!st->locked_job || strcmp(st->locked_job, job) != 0)
        return fr_err_set(err, FR_EINVAL, 0,
                          "job unlock: this handle does not hold the run lock of job \"%s\"", job);
    int rc = st->ops->job_unlock(st, job, fr__store_job_key(job), st->lock_state, err);
    free(st->locked_job);
    st->locked_job = NULL;
    st->lock_state = NULL;
    return rc;
}

void fr_store_close(struct fr_store *st)
{
    if (!st)
        return;
    if (st->locked_job)
        fr_store_job_unlock(st, st->locked_job, NULL);
    st->ops->close(st);
}

/* ---- runs ----------------------------------------------------------------------------- */

void fr_run_new_id(char out[FR_RUN_ID_MAX], int64_t wall_ms)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof(tm));
    unsigned char rnd[3];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        /* not a secret, only a tie-breaker between runs of one second */
        struct fr_rng rng;
        fr_rng_seed_random(&rng);
        uint64_t v = fr_rng_next(&rng);
        memcpy(rnd, &v, sizeof(rnd));
    }
    snprintf(out, FR_RUN_ID_MAX, "%04d%02d%02dT%02d%02d%02dZ-%02x%02x%02x", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);
}

/* s, NUL-terminated within n bytes, with every control character (a newline) made a space. */
static void one_line(char *s, size_t n)
{
    s[n - 1] = '\0';
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

int fr_store_run_begin(struct fr_store *st, const struct fr_run *run, struct fr_err *err)
{
    if (!st || !run || !run->id[0] || !run->job[0])
        return fr_err_set(err, FR_EINVAL, 0, "run begin: no store, run id or job");
    struct fr_run r = *run;
    one_line(r.host, sizeof(r.host));
    return st->ops->run_begin(st, &r, err);
}

int fr_store_run_finish(struct fr_store *st, const struct fr_run *run, struct fr_err *err)
{
    if (!st || !run || !run->id[0])
        return fr_err_set(err, FR_EINVAL, 0, "run finish: no store or run id");
    struct fr_run r = *run;
    one_line(r.reason, sizeof(r.reason));
    return st->ops->run_finish(st, &r, err);
}

int fr_store_run_get(struct fr_store *st, const char *id, struct fr_run *out, struct fr_err *err)
{
    if (!st || !id || !out)
        return fr_err_set(err, FR_EINVAL, 0, "run get: no store, id or output");
    return st->ops->run_get(st, id, out, err);
}

int fr_store_runs_list(struct fr_store *st, const char *job, size_t limit,
                       int (*fn)(const struct fr_run *run, void *ud), void *ud, struct fr_err *err)
{
    if (!st || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "runs list: no store or callback");
    return st->ops->runs_list(st, job, limit, fn, ud, err);
}

int fr_store_run_add_failures(struct fr_store *st, const char *run_id,
                              const struct fr_run_failure *failures, size_t n, struct fr_err *err)
{
    if (!st || !run_id || (n && !failures))
        return fr_err_set(err, FR_EINVAL, 0, "run failures: no store, run id or failures");
    if (n == 0)
        return FR_OK;
    return st->ops->run_add_failures(st, run_id, failures, n, err);
}

int fr_store_run_failures(struct fr_store *st, const char *run_id,
                          int (*fn)(const struct fr_run_failure *f, void *ud), void *ud,
                          struct fr_err *err)
{
    if (!st || !run_id || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "run failures: no store, run id or callback");
    return st->ops->run_failures(st, run_id, fn, ud, err);
}

/* ---- the journal ---------------------------------------------------------------------- */

static const char *const state_names[] = {
    [FR_JOURNAL_NONE] = "none",       [FR_JOURNAL_INFLIGHT] = "inflight",
    [FR_JOURNAL_CREATED] = "created", [FR_JOURNAL_DUPLICATE] = "duplicate",
    [FR_JOURNAL_FAILED] = "failed",   [FR_JOURNAL_ROLLED_BACK] = "rolled_back",
};

const char *fr_journal_state_name(enum fr_journal_state s)
{
    if ((size_t)s < FR_ARRAY_LEN(state_names) && state_names[s])
        return state_names[s];
    return "unknown";
}

bool fr__journal_state_parse(const char *name, enum fr_journal_state *out)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(state_names); i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum fr_journal_state)i;
            return true;
        }
    }
    return false;
}

void fr_journal_entry_release(struct fr_journal_entry *e)
{
    if (!e)
        return;
    free(e->last_error);
    e->last_error = NULL;
}

int fr_store_journal_get(struct fr_store *st, const char *job, const char *key,
                         struct fr_journal_entry *out, struct fr_err *err)
{
    if (!st || !job || !key || !out)
        return fr_err_set(err, FR_EINVAL, 0, "journal get: no store, job, key or output");
    return st->ops->journal_get(st, job, key, out, err);
}

int fr_store_journal_update(struct fr_store *st, const char *job, const char *run_id,
                            const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                            struct fr_err *err)
{
    if (!st || !job || !run_id || (n && !updates))
        return fr_err_set(err, FR_EINVAL, 0, "journal update: no store, job, run id or updates");
    if (n == 0)
        return FR_OK;
    return st->ops->journal_update(st, job, run_id, updates, n, now_ms, err);
}

int fr_store_journal_commit(struct fr_store *st, const char *job, const char *run_id,
                            const struct fr_journal_update *updates, size_t n, const uint64_t *done,
                            size_t ndone, const struct fr_journal_batch *sent, int64_t now_ms,
                            struct fr_err *err)
{
    if (!st || !job || !run_id || (n && !updates) || (ndone && !done) ||
        (sent && (!sent->n || !sent->keys)))
        return fr_err_set(err, FR_EINVAL, 0,
                          "journal commit: no store, job, run id, updates or batch keys");
    if (!n && !ndone && !sent)
        return FR_OK;
    return st->ops->journal_commit(st, job, run_id, updates, n, done, ndone, sent, now_ms, err);
}

int fr_store_journal_inflight(struct fr_store *st, const char *job, const char *except_run_id,
                              int (*fn)(const char *run_id, uint64_t seq, int64_t sent_ms,
                                        const char *key, void *ud),
                              void *ud, struct fr_err *err)
{
    if (!st || !job || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "journal inflight: no store, job or callback");
    return st->ops->journal_inflight(st, job, except_run_id, fn, ud, err);
}

int fr_store_journal_forget(struct fr_store *st, const char *job, const char *run_id, uint64_t seq,
                            struct fr_err *err)
{
    if (!st || !job || !run_id)
        return fr_err_set(err, FR_EINVAL, 0, "journal forget: no store, job or run id");
    return st->ops->journal_forget(st, job, run_id, seq, err);
}

int fr_store_journal_by_run(struct fr_store *st, const char *run_id, enum fr_journal_state state,
                            int (*fn)(const char *key, const struct fr_journal_entry *e, void *ud),
                            void *ud, struct fr_err *err)
{
    if (!st || !run_id || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "journal by run: no store, run id or callback");
    return st->ops->journal_by_run(st, run_id, state, fn, ud, err);
}

/* ---- watermarks ---------------------------------------------------------------------- */

int fr_store_watermark_get(struct fr_store *st, const char *job, char **value,
                           char run_id[FR_RUN_ID_MAX], int64_t *updated_ms, struct fr_err *err)
{
    if (value)
        *value = NULL;
    if (!st || !job || !value)
        return fr_err_set(err, FR_EINVAL, 0, "watermark get: no store, job or output");
    return st->ops->watermark_get(st, job, value, run_id, updated_ms, err);
}

int fr_store_watermark_set(struct fr_store *st, const char *job, const char *value,
                           const char *run_id, int64_t now_ms, struct fr_err *err)
{
    if (!st || !job || !value || !run_id)
        return fr_err_set(err, FR_EINVAL, 0, "watermark set: no store, job, value or run id");
    return st->ops->watermark_set(st, job, value, run_id, now_ms, err);
}

/* ---- webhook events ------------------------------------------------------------------- */

static const char *const event_state_names[] = {
    [FR_EVENT_PENDING] = "pending",
    [FR_EVENT_DELIVERED] = "delivered",
    [FR_EVENT_DEAD] = "dead",
};

const char *fr_event_state_name(enum fr_event_state s)
{
    if ((size_t)s < FR_ARRAY_LEN(event_state_names) && event_state_names[s])
        return event_state_names[s];
    return "unknown";
}

bool fr__event_state_parse(const char *name, enum fr_event_state *out)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(event_state_names); i++) {
        if (strcmp(name, event_state_names[i]) == 0) {
            *out = (enum fr_event_state)i;
            return true;
        }
    }
    return false;
}

void fr_event_release(struct fr_event *e)
{
    if (!e)
        return;
    free(e->event_id);
    free(e->content_type);
    free(e->last_error);
    free(e->body);
    e->event_id = e->content_type = e->last_error = NULL;
    e->body = NULL;
    e->body_len = 0;
}

int fr_store_events_add(struct fr_store *st, const struct fr_event_in *ev, size_t n, int *outcome,
                        struct fr_err *err)
{
    if (!st || (n && !ev))
        return fr_err_set(err, FR_EINVAL, 0, "events add: no store or events");
    if (n == 0)
        return FR_OK;
    return st->ops->events_add(st, ev, n, outcome, err);
}

int fr_store_events_claim(struct fr_store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                          size_t max, struct fr_event **out, size_t *n, struct fr_err *err)
{
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (!st || !owner || !out || !n)
        return fr_err_set(err, FR_EINVAL, 0, "events claim: no store, owner or output");
    if (lease_ms <= 0)
        return fr_err_set(err, FR_EINVAL, 0, "events claim: lease of %lld ms; it must be positive",
                          (long long)lease_ms);
    if (max == 0)
        return FR_OK;
    return st->ops->events_claim(st, owner, now_ms, lease_ms, max, out, n, err);
}

int fr_store_event_delivered(struct fr_store *st, int64_t seq, const char *owner, int64_t now_ms,
                             struct fr_err *err)
{
    if (!st || !owner)
        return fr_err_set(err, FR_EINVAL, 0, "event delivered: no store or owner");
    return st->ops->event_outcome(st, seq, owner, FR_EVENT_DELIVERED, 0, NULL, now_ms, err);
}

int fr_store_event_retry(struct fr_store *st, int64_t seq, const char *owner,
                         int64_t next_attempt_ms, const char *error, int64_t now_ms,
                         struct fr_err *err)
{
    if (!st || !owner)
        return fr_err_set(err, FR_EINVAL, 0, "event retry: no store or owner");
    return st->ops->event_outcome(st, seq, owner, FR_EVENT_PENDING, next_attempt_ms, error, now_ms,
                                  err);
}

int fr_store_event_dead(struct fr_store *st, int64_t seq, const char *owner, const char *error,
                        int64_t now_ms, struct fr_err *err)
{
    if (!st || !owner)
        return fr_err_set(err, FR_EINVAL, 0, "event dead: no store or owner");
    return st->ops->event_outcome(st, seq, owner, FR_EVENT_DEAD, 0, error, now_ms, err);
}

int fr_store_events_release(struct fr_store *st, const char *owner, struct fr_err *err)
{
    if (!st || !owner)
        return fr_err_set(err, FR_EINVAL, 0, "events release: no store or owner");
    return st->ops->events_release(st, owner, err);
}

int fr_store_dlq_list(struct fr_store *st, const char *source, size_t limit,
                      int (*fn)(const struct fr_event *e, void *ud), void *ud, struct fr_err *err)
{
    if (!st || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "dlq list: no store or callback");
    return st->ops->dlq_list(st, source, limit, fn, ud, err);
}

int fr_store_event_get(struct fr_store *st, int64_t seq, struct fr_event *out, struct fr_err *err)
{
    if (!st || !out)
        return fr_err_set(err, FR_EINVAL, 0, "event get: no store or output");
    return st->ops->event_get(st, seq, out, err);
}

int fr_store_dlq_replay(struct fr_store *st, int64_t seq, const char *source, int64_t now_ms,
                        uint64_t *count, struct fr_err *err)
{
    if (count)
        *count = 0;
    if (!st)
        return fr_err_set(err, FR_EINVAL, 0, "dlq replay: no store");
    return st->ops->dlq_replay(st, seq, source, now_ms, count, err);
}

int fr_store_dlq_purge(struct fr_store *st, int64_t seq, int64_t older_than_ms, uint64_t *count,
                       struct fr_err *err)
{
    if (count)
        *count = 0;
    if (!st)
        return fr_err_set(err, FR_EINVAL, 0, "dlq purge: no store");
    return st->ops->dlq_purge(st, seq, older_than_ms, count, err);
}

int fr_store_events_purge_delivered(struct fr_store *st, int64_t before_ms, size_t limit,
                                    uint64_t *count, struct fr_err *err)
{
    if (count)
        *count = 0;
    if (!st || limit == 0 || limit > INT32_MAX)
        return fr_err_set(err, FR_EINVAL, 0, "purge delivered: no store, or a limit out of range");
    return st->ops->events_purge_delivered(st, before_ms, limit, count, err);
}

int fr_store_queue_stats(struct fr_store *st, bool with_delivered,
                         int (*fn)(const struct fr_queue_stats *q, void *ud), void *ud,
                         struct fr_err *err)
{
    if (!st || !fn)
        return fr_err_set(err, FR_EINVAL, 0, "queue stats: no store or callback");
    return st->ops->queue_stats(st, with_delivered, fn, ud, err);
}

int fr_store_run_last(struct fr_store *st, const char *job, const char *status, struct fr_run *out,
                      struct fr_err *err)
{
    if (!st || !job || !status || !out)
        return fr_err_set(err, FR_EINVAL, 0, "run last: no store, job, status or output");
    return st->ops->run_last(st, job, status, out, err);
}

int fr_store_ping(struct fr_store *st, struct fr_err *err)
{
    if (!st)
        return fr_err_set(err, FR_EINVAL, 0, "ping: no store");
    return st->ops->ping(st, err);
}

int fr_store_write_check(struct fr_store *st, struct fr_err *err)
{
    if (!st)
        return fr_err_set(err, FR_EINVAL, 0, "write check: no store");
    return st->ops->write_check(st, err);
}
