#include "core/common.h"
#include "job/sched.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/cron.h"
#include "core/log.h"
#include "job/pull.h"
#include "job/push.h"
#include "job/run.h"
#include "store/store.h"
#include "job/job_conf.h"

/* How far back the start-up search for a missed slot goes, at most. */
#define CATCH_UP_MAX_STEPS 100000

struct slot {
    struct fr_sched *s;
    const struct fr_job_conf *job;
    time_t next;     /* the next scheduled start (Unix s); -1 when none */
    bool running;    /* under lock: a run is starting or in progress */
    bool starting;   /* under lock: fr_sched_run_now is taking the job's run lock */
    bool joinable;   /* under lock: thread needs a join */
    int64_t slot_ms; /* the scheduled slot the run is for (wall ms); 0 for a run on request */
    struct fr_store *store; /* a run on request: its store handle, holding the job's run lock */
    pthread_t thread;
};

struct fr_sched {
    const struct fr_config *cfg;
    struct fr_sched_opts opts;
    struct fr_run_stop stop; /* set when serve stops: runs in progress stop cleanly */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping; /* under lock */
    pthread_t thread;
    bool thread_started;
    struct slot *slots; /* one per job, in config order */
    size_t n;
};

/* One run of job through the run envelope; st holds the job's run lock. */
static void run_job(struct fr_sched *s, const struct fr_job_conf *job, struct fr_store *st)
{
    const struct fr_config *cfg = s->cfg;
    struct fr_run_opts opts = {.push = {.limit = -1,
                                        .stop = &s->stop,
                                        .grace_ms = FR_RUN_GRACE_DEFAULT_MS,
                                        .observer = s->opts.observer,
                                        .exit_status = s->opts.exit_status},
                               .lock_held = true,
                               .alert = s->opts.alert,
                               .alert_ud = s->opts.alert_ud};
    struct fr_run_result res;
    fr_run_job(job, fr_target_find(cfg, job->target), st, &opts, &res);
    const struct fr_run *run = job->kind == FR_JOB_PULL ? &res.pull.run : &res.push.run;
    FR_LOG_INFO("scheduled run finished", FR_LS("job", job->name), FR_LS("run_id", run->id),
                FR_LS("status", run->status), FR_LI("exit_code", run->exit_code),
                FR_LS("reason", run->reason[0] ? run->reason : NULL));
    fr_run_result_release(&res);
}

/*
 * Whether this instance runs the scheduled slot. Instances sharing a store
 * each see the slot come. The job's run lock keeps a slot from starting
 * while a run of the job (scheduled or on request) goes on anywhere; the
 * slot's claim gives it to one instance, also to the first of instances
 * whose clocks or ticks differ by more than a short run. The lock stays
 * held for the run when this returns true.
 */
static bool take_slot(struct fr_store *st, const struct slot *sl)
{
    char at[64];
    fr_format_rfc3339(sl->slot_ms, at, sizeof(at));
    bool held = false;
    struct fr_err err = {0};
    if (fr_store_job_lock(st, sl->job->name, &held, &err)) {
        FR_LOG_ERROR("scheduled run not started: the store cannot say whether the job runs "
                     "elsewhere",
                     FR_LS("job", sl->job->name), FR_LS("slot", at), FR_LS("error", err.msg));
        return false;
    }
    if (!held) {
        FR_LOG_INFO("scheduled run skipped: the job is running on another instance",
                    FR_LS("job", sl->job->name), FR_LS("slot", at));
        return false;
    }
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    char owner[160];
    snprintf(owner, sizeof(owner), "%s:%ld", host, (long)getpid());
    bool claimed = false;
    if (fr_store_schedule_claim(st, sl->job->name, sl->slot_ms, owner, fr_wall_ms(), &claimed,
                                &err)) {
        FR_LOG_ERROR("scheduled run not started: the store cannot say who takes the slot",
                     FR_LS("job", sl->job->name), FR_LS("error", err.msg));
    } else if (!claimed) {
        FR_LOG_INFO("scheduled run skipped: another instance took this slot",
                    FR_LS("job", sl->job->name), FR_LS("slot", at));
    }
    if (!claimed)
        fr_store_job_unlock(st, sl->job->name, NULL);
    return claimed;
}

static void *run_main(void *arg)
{
    struct slot *sl = arg;
    const struct fr_config *cfg = sl->s->cfg;
    struct fr_store *st = sl->store; /* a run on request holds the run lock already */
    struct fr_err err = {0};
    if (!st && fr_store_open_config(cfg, 0, &st, &err))
        FR_LOG_ERROR("scheduled run not started: the store cannot be opened",
                     FR_LS("job", sl->job->name), FR_LS("error", err.msg));
    else if (sl->slot_ms && !take_slot(st, sl))
        ; /* logged */
    else
        run_job(sl->s, sl->job, st);
    fr_store_close(st); /* releases the run lock */
    pthread_mutex_lock(&sl->s->lock);
    sl->running = false;
    sl->store = NULL;
    pthread_cond_broadcast(&sl->s->wake);
    pthread_mutex_unlock(&sl->s->lock);
    return NULL;
}

/* Marks sl running unless it runs already (under lock); joins its previous run's thread. */
static int reserve(struct slot *sl, const char *why)
{
    if (sl->running) {
        FR_LOG_WARN("job still running: this run is skipped", FR_LS("job", sl->job->name),
                    FR_LS("trigger", why));
        return FR_EINVAL;
    }
    if (sl->joinable) {
        pthread_join(sl->thread, NULL); /* the previous run has ended: running is false */
        sl->joinable = false;
    }
    sl->running = true;
    return FR_OK;
}

/*
 * Starts the thread of sl's reserved run for slot_ms (0: on request, with
 * st, which holds the run lock and which the run takes over) (under lock).
 */
static int start_thread(struct slot *sl, const char *why, int64_t slot_ms, struct fr_store *st)
{
    FR_LOG_INFO("job run starting", FR_LS("job", sl->job->name), FR_LS("trigger", why));
    sl->slot_ms = slot_ms;
    sl->store = st;
    if (pthread_create(&sl->thread, NULL, run_main, sl) != 0) {
        sl->running = false;
        sl->store = NULL;
        fr_store_close(st);
        FR_LOG_ERROR("cannot start a thread for the job run", FR_LS("job", sl->job->name));
        return FR_EINTERNAL;
    }
    sl->joinable = true;
    return FR_OK;
}

/* Starts sl's run for the scheduled slot slot_ms unless it runs already (under lock). */
static int start_run(struct slot *sl, const char *why, int64_t slot_ms)
{
    int rc = reserve(sl, why);
    return rc ? rc : start_thread(sl, why, slot_ms, NULL);
}

/* The newest slot at or before now within max_age, or -1. */
static time_t last_slot(const struct fr_job_conf *j, time_t now)
{
    time_t t = now - (time_t)(j->max_age_ms / 1000) - 1, last = -1;
    for (int i = 0; i < CATCH_UP_MAX_STEPS; i++) {
        time_t next = fr_cron_next(&j->cron, j->timezone, t);
        if (next < 0 || next > now)
            break;
        last = t = next;
    }
    return last;
}

static void *sched_main(void *arg);

static int take_newest(const struct fr_run *run, void *ud)
{
    *(int64_t *)ud = run->started_ms;
    return 1;
}

/*
 * Whether j's newest slot within max_age passed with no run started since
 * (the server was down then): that slot runs once at start-up.
 */
static bool missed(const struct fr_config *cfg, const struct fr_job_conf *j, time_t now)
{
    if (!j->max_age_ms)
        return false;
    time_t slot = last_slot(j, now);
    if (slot < 0)
        return false;
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    if (fr_store_open_config(cfg, 0, &st, &err)) {
        FR_LOG_WARN("cannot tell whether a scheduled run was missed", FR_LS("job", j->name),
                    FR_LS("error", err.msg));
        return false;
    }
    int64_t newest_ms = 0;
    int rc = fr_store_runs_list(st, j->name, 1, take_newest, &newest_ms, &err);
    fr_store_close(st);
    return rc == 0 && newest_ms < (int64_t)slot * 1000;
}

int fr_sched_start(const struct fr_config *cfg, const struct fr_sched_opts *opts,
                   struct fr_sched **out, struct fr_err *err)
{
    *out = NULL;
    struct fr_sched *s = fr_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->opts = *opts;
    s->n = cfg->njobs;
    s->slots = fr_calloc(s->n ? s->n : 1, sizeof(*s->slots));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    time_t now = (time_t)(fr_wall_ms() / 1000);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        struct slot *sl = &s->slots[i];
        sl->s = s;
        sl->job = &cfg->jobs[i];
        sl->next = -1;
        if (!sl->job->schedule)
            continue;
        sl->next = fr_cron_next(&sl->job->cron, sl->job->timezone, now);
        if (missed(cfg, sl->job, now))
            start_run(sl, "missed while down", (int64_t)last_slot(sl->job, now) * 1000);
        char at[64] = "never";
        if (sl->next >= 0)
            fr_format_rfc3339((int64_t)sl->next * 1000, at, sizeof(at));
        FR_LOG_INFO("job scheduled", FR_LS("job", sl->job->name),
                    FR_LS("schedule", sl->job->schedule), FR_LS("timezone", sl->job->timezone),
                    FR_LS("next_run", at));
    }
    pthread_mutex_unlock(&s->lock);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        fr_sched_stop(s);
        return fr_err_set(err, FR_EINTERNAL, 0, "cannot start the scheduler thread");
    }
    s->thread_started = true;
    *out = s;
    return 0;
}

/*
 * The run lock of a run on request, taken before answering so that the
 * caller learns whether the job runs on another instance: a new store
 * handle holding it in *out, or FR_EBUSY, or FR_ESTORE (logged).
 */
static int lock_for_request(const struct fr_config *cfg, const char *job, struct fr_store **out)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    bool held = false;
    *out = NULL;
    if (fr_store_open_config(cfg, 0, &st, &err) || fr_store_job_lock(st, job, &held, &err)) {
        FR_LOG_ERROR("run on request not started: the store cannot say whether the job runs "
                     "elsewhere",
                     FR_LS("job", job), FR_LS("error", err.msg));
        fr_store_close(st);
        return FR_ESTORE;
    }
    if (!held) {
        FR_LOG_INFO("run on request refused: the job is running on another instance",
                    FR_LS("job", job));
        fr_store_close(st);
        return FR_EBUSY;
    }
    *out = st;
    return FR_OK;
}

int fr_sched_run_now(struct fr_sched *s, const char *job)
{
    const char *why = "admin request";
    struct slot *sl = NULL;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n && !sl; i++)
        if (strcmp(s->slots[i].job->name, job) == 0)
            sl = &s->slots[i];
    int rc = !sl ? FR_ENOTFOUND : s->stopping ? FR_EINVAL : reserve(sl, why);
    if (rc) {
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    /* reserved: the scheduler leaves the job alone while the store answers */
    sl->starting = true;
    pthread_mutex_unlock(&s->lock);
    struct fr_store *st = NULL;
    rc = lock_for_request(s->cfg, job, &st);
    pthread_mutex_lock(&s->lock);
    sl->starting = false;
    if (!rc && s->stopping) {
        fr_store_close(st);
        rc = FR_EINVAL;
    }
    if (rc)
        sl->running = false;
    else
        rc = start_thread(sl, why, 0, st);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void fr_sched_annotate(struct fr_sched *s, json_t *status)
{
    json_t *jobs = json_object_get(status, "jobs");
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n && i < json_array_size(jobs); i++) {
        json_t *o = json_array_get(jobs, i);
        struct slot *sl = &s->slots[i];
        char at[64];
        if (sl->next >= 0) {
            fr_format_rfc3339((int64_t)sl->next * 1000, at, sizeof(at));
            json_object_set_new(o, "next_run", json_string(at));
        } else {
            json_object_set_new(o, "next_run", json_null());
        }
        json_object_set_new(o, "running", json_boolean(sl->running));
    }
    pthread_mutex_unlock(&s->lock);
}

static void *sched_main(void *arg)
{
    struct fr_sched *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        time_t now = (time_t)(fr_wall_ms() / 1000);
        for (size_t i = 0; i < s->n; i++) {
            struct slot *sl = &s->slots[i];
            if (sl->next < 0 || now < sl->next)
                continue;
            start_run(sl, "schedule", (int64_t)sl->next * 1000);
            sl->next = fr_cron_next(&sl->job->cron, sl->job->timezone, now);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->wake, &s->lock, &until);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

void fr_sched_interrupt(struct fr_sched *s, int signo)
{
    if (s)
        fr_run_stop_request(&s->stop, signo);
}

void fr_sched_stop(struct fr_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->wake);
    /* a run on request between its two halves: it sees stopping and starts nothing */
    for (size_t i = 0; i < s->n; i++)
        while (s->slots[i].starting)
            pthread_cond_wait(&s->wake, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (s->thread_started)
        pthread_join(s->thread, NULL);
    /* Runs in progress finish, or stop cleanly within their grace after fr_sched_interrupt. */
    for (size_t i = 0; i < s->n; i++) {
        if (s->slots[i].joinable) {
            if (s->slots[i].running)
                FR_LOG_INFO("waiting for a job run to finish", FR_LS("job", s->slots[i].job->name));
            pthread_join(s->slots[i].thread, NULL);
        }
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s->slots);
    free(s);
}
