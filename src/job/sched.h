/*
 * sched.h: the scheduler inside `ferry serve`: runs each job that has a
 * schedule (5-field cron, in its timezone) when it comes due, and on
 * request (POST /api/jobs/NAME/run).
 *
 * Runs of one job never overlap, over every instance sharing the store:
 * each run holds the job's run lock (fr_store_job_lock) in its own store
 * handle, and a slot that comes due while the job runs here or elsewhere
 * is skipped (logged). Each scheduled slot runs once over all instances:
 * the one that claims it (fr_store_schedule_claim) runs it. At start, a
 * job whose last scheduled slot passed without a run since (the server was
 * down) runs once, if that slot is within the job's max_age. Each run has
 * its own store handle and HTTP client, records itself like `ferry run`,
 * and tells the alert hook and the observer its caller hands in.
 *
 * Threads: one scheduler thread and one thread per running job; every
 * function is thread-safe.
 */
#ifndef FR_JOB_SCHED_H
#define FR_JOB_SCHED_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"
#include "core/observer.h"
#include "job/job_conf.h"
#include "job/run.h"

struct fr_sched;

/* What the scheduler's runs report to; any member may be NULL. */
struct fr_sched_opts {
    fr_run_alert_fn alert; /* a run that failed (job/run.h), with alert_ud */
    void *alert_ud;
    const struct fr_observer *observer; /* every run's metrics */
    /* each run's exit status (fr_push_opts.exit_status); NULL: the runs' codes are not mapped */
    int (*exit_status)(int code, bool over_threshold, int signo);
};

/*
 * Starts the scheduler. cfg, the alert's ud and the observer are borrowed
 * until fr_sched_stop returns; opts is copied. fr_cron_tz_init must have run
 * before the process started its first thread (core/cron.h; ferry serve does
 * it before the store opens), since a run's schedule switches TZ.
 */
int fr_sched_start(const struct fr_config *cfg, const struct fr_sched_opts *opts,
                   struct fr_sched **out, struct fr_err *err);

/*
 * Starts a run of job now, having taken its run lock: FR_OK, FR_ENOTFOUND
 * (no such job), FR_EINVAL (running here already, or stopping), FR_EBUSY
 * (running on another instance), FR_ESTORE (the store cannot say; logged).
 * It waits for the store to answer, not for the run.
 */
int fr_sched_run_now(struct fr_sched *s, const char *job);

/* Adds "next_run" (RFC 3339 or null) and "running" (bool) to each job object of status. */
void fr_sched_annotate(struct fr_sched *s, json_t *status);

/*
 * Asks the runs in progress to stop as `ferry run` does on signo (SIGINT or
 * SIGTERM): they read no more, let what is on the wire settle within the
 * grace period, and are stored `interrupted`. NULL is a no-op.
 */
void fr_sched_interrupt(struct fr_sched *s, int signo);

/* Stops scheduling and waits for the runs in progress to finish. NULL is a no-op. */
void fr_sched_stop(struct fr_sched *s);

#endif
