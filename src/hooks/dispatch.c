#include "core/common.h"
#include "hooks/dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "hooks/deliver.h"
#include "http/retry.h"
#include "store/store.h"
#include "hooks/hooks_conf.h"
#include "http/http_conf.h"

struct worker {
    struct fr_dispatch *d;
    pthread_t thread;
    bool started;
    struct fr_store *store;
    struct fr_deliverer *deliverer;
    char owner[160];
    struct fr_rng rng;
    bool purges;           /* this worker deletes delivered events past their retention */
    int64_t next_purge_ms; /* monotonic */
};

struct fr_dispatch {
    const struct fr_webhooks_conf *conf;
    const struct fr_observer *observer; /* may be NULL */
    atomic_int stop;
    atomic_int running; /* workers inside worker_main */
    int64_t lease_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    uint64_t generation; /* under lock: bumped by every wake */
    pthread_cond_t started;
    size_t nstarted; /* under lock: workers that entered worker_main */
    struct worker *workers;
    size_t nworkers;
};

int64_t fr_dispatch_retry_delay(int64_t base_ms, int64_t cap_ms, int attempts_made,
                                int64_t retry_after_ms, uint64_t rnd)
{
    if (retry_after_ms >= 0)
        return FR_MIN(retry_after_ms, cap_ms);
    struct fr_retry_conf rc = {.base_ms = base_ms, .cap_ms = cap_ms};
    return fr_backoff_delay(&rc, attempts_made < 1 ? 1 : attempts_made, rnd);
}

void fr_dispatch_wake(void *ud)
{
    struct fr_dispatch *d = ud;
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->generation++;
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
}

/* Waits until woken after generation seen, stopped, or wait_ms passed. */
static void idle_wait(struct fr_dispatch *d, uint64_t seen, int64_t wait_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (wait_ms % 1000) * 1000000;
    ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    pthread_mutex_lock(&d->lock);
    while (d->generation == seen && !atomic_load(&d->stop))
        if (pthread_cond_timedwait(&d->wake, &d->lock, &ts) != 0)
            break;
    pthread_mutex_unlock(&d->lock);
}

/* Records an outcome; a lost lease or a store failure is logged (the lease then expires). */
static void record(struct worker *w, const struct fr_event *e, int rc, const struct fr_err *err)
{
    if (rc == FR_ENOTFOUND)
        FR_LOG_WARN("event outcome not recorded: the lease was lost (another worker owns it now)",
                    FR_LS("source", e->source), FR_LI("seq", e->seq));
    else if (rc)
        FR_LOG_ERROR("event outcome not recorded: the store failed; it is delivered again after "
                     "its lease",
                     FR_LS("source", e->source), FR_LI("seq", e->seq), FR_LS("error", err->msg));
}

static void handle(struct worker *w, struct fr_event *e)
{
    struct fr_dispatch *d = w->d;
    struct fr_err err = {0};
    int attempt = e->attempts + 1;
    const struct fr_webhook_source_conf *src = fr_webhook_source_find(d->conf, e->source);
    if (!src) {
        char why[FR_EVENT_SOURCE_MAX + 64];
        snprintf(why, sizeof(why), "source %s is not in the config", e->source);
        FR_LOG_ERROR("event dead-lettered: its source is not configured",
                     FR_LS("source", e->source), FR_LI("seq", e->seq),
                     FR_LS("event_id", e->event_id));
        record(w, e, fr_store_event_dead(w->store, e->seq, w->owner, why, fr_wall_ms(), &err),
               &err);
        return;
    }
    int64_t t0 = fr_now_ms();
    struct fr_deliver_result res;
    fr_deliver(w->deliverer, src, d->conf->dir, e, attempt, &res);
    int64_t ms = fr_now_ms() - t0;
    int rc = 0;
    if (res.outcome != FR_DELIVER_ABORTED) {
        const char *outcome = res.outcome == FR_DELIVER_OK   ? "delivered"
                              : attempt >= src->max_attempts ? "dead"
                                                             : "retry";
        fr_observer_observe(d->observer, FR_M_DELIVERY_DURATION, (const char *[]){e->source},
                            (double)ms / 1000.0);
        fr_observer_add(d->observer, FR_M_DELIVERY_ATTEMPTS, (const char *[]){e->source, outcome},
                        1);
    }
    switch (res.outcome) {
    case FR_DELIVER_ABORTED:
        return; /* the lease is released when the worker stops */
    case FR_DELIVER_OK:
        FR_LOG_INFO("event delivered", FR_LS("source", e->source), FR_LI("seq", e->seq),
                    FR_LS("event_id", e->event_id), FR_LI("attempt", attempt),
                    FR_LI("status", res.status), FR_LI("ms", ms));
        rc = fr_store_event_delivered(w->store, e->seq, w->owner, fr_wall_ms(), &err);
        break;
    case FR_DELIVER_FAILED:
        if (attempt >= src->max_attempts) {
            FR_LOG_ERROR("event dead-lettered after its last attempt", FR_LS("source", e->source),
                         FR_LI("seq", e->seq), FR_LS("event_id", e->event_id),
                         FR_LI("attempt", attempt), FR_LS("error", res.error), FR_LI("ms", ms));
            rc = fr_store_event_dead(w->store, e->seq, w->owner, res.error, fr_wall_ms(), &err);
        } else {
            int64_t delay = fr_dispatch_retry_delay(src->base_ms, src->cap_ms, attempt,
                                                    res.retry_after_ms, fr_rng_next(&w->rng));
            FR_LOG_WARN("event delivery failed; retrying", FR_LS("source", e->source),
                        FR_LI("seq", e->seq), FR_LS("event_id", e->event_id),
                        FR_LI("attempt", attempt), FR_LS("error", res.error),
                        FR_LI("delay_ms", delay), FR_LI("ms", ms));
            int64_t now = fr_wall_ms();
            rc =
                fr_store_event_retry(w->store, e->seq, w->owner, now + delay, res.error, now, &err);
        }
        break;
    }
    record(w, e, rc, &err);
}

/* One round of deleting delivered events past webhooks.retention (see dispatch.h). */
static void purge_round(struct worker *w)
{
    struct fr_dispatch *d = w->d;
    int64_t retention = d->conf->retention_ms;
    uint64_t total = 0, n = 0;
    struct fr_err err = {0};
    int rc = 0;
    bool more = false;
    int64_t before = fr_wall_ms() - retention;
    for (int i = 0; i < FR_DISPATCH_PURGE_BATCHES && !atomic_load(&d->stop); i++) {
        rc = fr_store_events_purge_delivered(w->store, before, FR_DISPATCH_PURGE_BATCH, &n, &err);
        if (rc)
            break;
        total += n;
        more = n == FR_DISPATCH_PURGE_BATCH;
        if (!more)
            break;
    }
    if (total)
        FR_LOG_INFO("delivered events past their retention deleted", FR_LI("count", total),
                    FR_LI("retention_ms", retention));
    if (rc)
        FR_LOG_WARN("cannot delete delivered events past their retention; trying again later",
                    FR_LS("error", err.msg));
    w->next_purge_ms =
        fr_now_ms() + (more && !rc ? 1000 : FR_MIN(retention, FR_DISPATCH_PURGE_EVERY_MS));
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct fr_dispatch *d = w->d;
    pthread_mutex_lock(&d->lock);
    atomic_fetch_add(&d->running, 1);
    d->nstarted++;
    pthread_cond_broadcast(&d->started);
    pthread_mutex_unlock(&d->lock);
    int64_t store_failed_at = 0;
    while (!atomic_load(&d->stop)) {
        if (w->purges && fr_now_ms() >= w->next_purge_ms)
            purge_round(w);
        pthread_mutex_lock(&d->lock);
        uint64_t seen = d->generation;
        pthread_mutex_unlock(&d->lock);
        struct fr_event *events = NULL;
        size_t n = 0;
        struct fr_err err = {0};
        int rc = fr_store_events_claim(w->store, w->owner, fr_wall_ms(), d->lease_ms, 1, &events,
                                       &n, &err);
        if (rc) {
            /* One line per failure spell per worker, not one per poll. */
            if (!store_failed_at)
                FR_LOG_ERROR("cannot claim webhook events; retrying", FR_LS("error", err.msg));
            store_failed_at = fr_now_ms();
            for (int i = 0; i < 20 && !atomic_load(&d->stop); i++)
                fr_sleep_ms(50); /* a second, not woken by new events: the store is the problem */
            continue;
        }
        if (store_failed_at) {
            FR_LOG_INFO("claiming webhook events works again");
            store_failed_at = 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (!atomic_load(&d->stop))
                handle(w, &events[i]);
            fr_event_release(&events[i]);
        }
        free(events);
        if (n == 0)
            idle_wait(d, seen, FR_DISPATCH_IDLE_POLL_MS);
    }
    struct fr_err err = {0};
    if (fr_store_events_release(w->store, w->owner, &err))
        FR_LOG_ERROR("cannot release leases; those events are due again after their lease",
                     FR_LS("error", err.msg));
    atomic_fetch_sub(&d->running, 1);
    return NULL;
}

static void free_workers(struct fr_dispatch *d)
{
    for (size_t i = 0; i < d->nworkers; i++) {
        fr_store_close(d->workers[i].store);
        fr_deliverer_free(d->workers[i].deliverer);
    }
    free(d->workers);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->wake);
    pthread_cond_destroy(&d->started);
    free(d);
}

int fr_dispatch_start(const struct fr_webhooks_conf *webhooks, const struct fr_store_opener *store,
                      size_t workers, const struct fr_observer *observer, struct fr_dispatch **out,
                      struct fr_err *err)
{
    *out = NULL;
    struct fr_dispatch *d = fr_calloc(1, sizeof(*d));
    d->conf = webhooks;
    d->observer = observer;
    d->nworkers = workers ? workers : FR_DISPATCH_DEFAULT_WORKERS;
    int64_t longest = 0;
    for (size_t i = 0; i < webhooks->nsources; i++)
        longest = FR_MAX(longest, webhooks->sources[i].deliver_timeout_ms);
    d->lease_ms = longest + FR_DISPATCH_LEASE_MARGIN_MS;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    pthread_cond_init(&d->started, NULL);
    d->workers = fr_calloc(d->nworkers, sizeof(*d->workers));
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (size_t i = 0; i < d->nworkers; i++) {
        struct worker *w = &d->workers[i];
        w->d = d;
        int rc = store->open(store->ud, &w->store, err);
        if (rc) {
            free_workers(d);
            return rc;
        }
        w->deliverer = fr_deliverer_new(&d->stop);
        snprintf(w->owner, sizeof(w->owner), "%s:%ld:w%zu", host, (long)getpid(), i);
        fr_rng_seed_random(&w->rng);
        w->purges = i == 0 && webhooks->retention_ms > 0;
    }
    for (size_t i = 0; i < d->nworkers; i++) {
        if (pthread_create(&d->workers[i].thread, NULL, worker_main, &d->workers[i]) != 0) {
            fr_err_set(err, FR_EINTERNAL, 0, "cannot start dispatch worker %zu", i);
            fr_dispatch_stop(d);
            return FR_EINTERNAL;
        }
        d->workers[i].started = true;
    }
    /*
     * Started means delivering: /readyz counts the workers running, and a
     * serve that says it is ready right after this must not see 3 of 4.
     */
    pthread_mutex_lock(&d->lock);
    while (d->nstarted < d->nworkers)
        pthread_cond_wait(&d->started, &d->lock);
    pthread_mutex_unlock(&d->lock);
    *out = d;
    return 0;
}

size_t fr_dispatch_workers(struct fr_dispatch *d, size_t *running)
{
    int n = atomic_load(&d->running);
    *running = n > 0 ? (size_t)n : 0;
    return d->nworkers;
}

void fr_dispatch_stop(struct fr_dispatch *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    atomic_store(&d->stop, 1);
    pthread_cond_broadcast(&d->wake);
    pthread_mutex_unlock(&d->lock);
    for (size_t i = 0; i < d->nworkers; i++)
        if (d->workers[i].started)
            pthread_join(d->workers[i].thread, NULL);
    free_workers(d);
}
