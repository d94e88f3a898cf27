/*
 * run.h: the run contract, one home for every run of a job, push or pull,
 * from `ferry run` or from the scheduler in `ferry serve`:
 *
 *   - one run of a job at a time over every process sharing the store:
 *     the run holds the job's run lock (fr_store_job_lock); a second run
 *     ends with FR_EBUSY (exit 6) naming the holder, or waits for it;
 *   - the exit status of a run, from the CLI's one table, which the caller
 *     hands in (fr_push_opts.exit_status) and which is stored with the run;
 *   - every run that fails tells someone: a one-line reason is stored with
 *     the run, logged with the summary at level error (critical for exit 1)
 *     and sent to the alert sinks through the hook the caller hands in;
 *   - SIGINT/SIGTERM: the caller's signal handler fills a struct
 *     fr_run_stop; the engines stop reading, let what is on the wire
 *     settle within the grace period (a second signal: at once), and store
 *     the run `interrupted` with its true counts (exit 128 + signal).
 *
 * Library code: nothing here prints or exits; the CLI prints the summary.
 */
#ifndef FR_JOB_RUN_H
#define FR_JOB_RUN_H

#include "core/common.h"

#include <jansson.h>
#include <signal.h>

#include "core/config.h"
#include "core/error.h"
#include "job/pull.h"
#include "job/push.h"
#include "job/stop.h"
#include "store/store.h"
#include "job/job_conf.h"

/* Grace for the batches on the wire after SIGINT/SIGTERM (--grace). */
#define FR_RUN_GRACE_DEFAULT_MS 10000

/*
 * Told about a run that failed (exit status not 0): summary is the run's
 * summary JSON with its "reason" (borrowed for the call), text one line
 * for a person. Called once per run.
 */
typedef void (*fr_run_alert_fn)(void *ud, json_t *summary, const char *text);

struct fr_run_opts {
    struct fr_push_opts push; /* for a push job; its exit_status is required */
    /* for a pull job; dry_run, progress, stop, observer and exit_status are taken from push */
    struct fr_pull_opts pull;
    /* When the job's run lock is held elsewhere: wait up to this long (< 0: no limit); 0: don't. */
    int64_t lock_wait_ms;
    bool lock_held;        /* the caller holds the job's run lock in st already (the scheduler) */
    fr_run_alert_fn alert; /* NULL: no alerts */
    void *alert_ud;
};

struct fr_run_result {
    enum fr_job_kind kind;
    struct fr_push_result push; /* kind push: released by fr_run_result_release */
    struct fr_pull_result pull; /* kind pull */
    int exit_status;            /* what `ferry run` exits with */
    /* FR_EBUSY: the job runs elsewhere; this says who (run id, host, pid, since). */
    char busy[768];
};

/*
 * Runs job once under its run lock (a dry run takes no lock and writes
 * nothing). Fills *out (release with fr_run_result_release) and returns
 * FR_OK when the run took place (whatever its outcome: see
 * out->exit_status), FR_EBUSY when another run holds the lock (out->busy
 * names it; exit status 6), FR_ESTORE when the lock could not be asked for.
 * Signals are watched through opts->push.stop (NULL: none).
 */
int fr_run_job(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
               struct fr_store *st, const struct fr_run_opts *opts, struct fr_run_result *out);
void fr_run_result_release(struct fr_run_result *r);

/*
 * The one line a person needs about a run that did not end ok, into
 * reason (size n; "" for a clean run): what stopped it (err), or the
 * counts that crossed the threshold, or the signal.
 */
void fr_run_reason(char *reason, size_t n, int code, const struct fr_err *err,
                   const struct fr_run_counts *c, bool over_threshold, int signo);

/* "ok", "failed" or "interrupted" for a run that ended so. */
const char *fr_run_status_name(int exit_status, int signo);

/* Fills run's host and pid: this process. */
void fr_run_identify(struct fr_run *run);

#endif
