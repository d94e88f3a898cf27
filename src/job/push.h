/*
 * push.h: the push engine behind `ferry run JOB` for push jobs.
 *
 * Streams records from the job's source, maps them to payloads, skips what
 * the journal says is done, batches the rest (batch_size, max_bytes), keeps
 * up to max_in_flight batches on the wire through the HTTP client, reads
 * per-record outcomes, and journals every key:
 *
 *   before a batch is sent its keys are journaled "inflight" with their
 *   payload hash; after the answer each becomes created, duplicate or
 *   failed. A key found "inflight" by a later run (the run died with the
 *   batch on the wire) is checked with the job's lookup request before it
 *   is sent again, so even an API without idempotency never gets it twice.
 *
 * Records with a retry status, records missing from a batch answer, and
 * batches whose retries ran out on transient errors get one more pass after
 * the main pass; then they count as failed. A record whose outcome is still
 * unknown stays "inflight" in the journal, so the next run looks it up.
 */
#ifndef FR_JOB_PUSH_H
#define FR_JOB_PUSH_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"
#include "core/observer.h"
#include "job/progress.h"
#include "store/store.h"
#include "job/job_conf.h"

struct fr_run_stop;

struct fr_push_opts {
    bool dry_run;            /* map and validate, send nothing, write nothing */
    int64_t limit;           /* stop after this many records read; < 0: all */
    const char *only_key;    /* push only the record with this key; NULL: all */
    bool fresh;              /* ignore the journal when deciding what to send */
    fr_progress_fn progress; /* progress reports for a line on a terminal; NULL: none */
    void *progress_ud;
    /*
     * Stop signals (job/run.h; NULL: none watched): after the first the run
     * reads no more, cancels what is not on the wire, lets the batches on
     * the wire settle for grace_ms, and ends `interrupted`; after a second,
     * or past the grace, what is still on the wire is left in flight.
     */
    const struct fr_run_stop *stop;
    int64_t grace_ms;
    const struct fr_observer *observer; /* the run's metrics (core/observer.h); NULL: none */
    /*
     * The exit status of a run that ended with code, over_threshold and
     * signo (the stop signal, 0 none): stored with the run and shown by
     * ferry runs. Required. The CLI hands in its one table
     * (fr_cli_run_exit_status), so that no copy of it lives here.
     */
    int (*exit_status)(int code, bool over_threshold, int signo);
};

/* Failed keys kept in memory for the summary; all of them go to the store. */
#define FR_PUSH_SUMMARY_FAILURES 20

struct fr_push_result {
    struct fr_run run; /* id, job, times, counts, status, exit_code (opts->exit_status) */
    int code; /* FR_OK, or what stopped the run: FR_EAUTH, FR_EUNREACHABLE, FR_ESTORE, ... */
    struct fr_err err;   /* why it stopped */
    bool over_threshold; /* failures crossed the job's alert limits */
    json_t
        *failures; /* array of {key, line, kind, reason}, at most FR_PUSH_SUMMARY_FAILURES; owned */
    uint64_t failures_total;
    uint64_t in_doubt;        /* batches whose answer was lost after sending (with a lookup) */
    uint64_t lookups;         /* lookup requests answered (in-doubt keys checked) */
    uint64_t in_doubt_resent; /* requests resent in doubt without a lookup (no lookup) */
    int signo;                /* the stop signal that interrupted the run; 0 none */
};

/*
 * Runs the job against tconf, the target it names (NULL: it is not defined,
 * an FR_ECONFIG failure). The store must be open (it is not written in a dry run).
 * Always fills *out (release with fr_push_result_release) and returns
 * out->code. out->run.exit_code is opts->exit_status of out's code, threshold and signal.
 */
int fr_push_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                struct fr_store *st, const struct fr_push_opts *opts, struct fr_push_result *out);
void fr_push_result_release(struct fr_push_result *r);

/*
 * (created + duplicate + skipped) / those plus failed and rejected: records
 * accepted now or in an earlier run, over all with an outcome; 1 when none.
 */
double fr_push_success_rate(const struct fr_run_counts *c);

/*
 * Sets r->run's exit code (through exit_status, fr_push_opts'), status and
 * reason from r's code, threshold and signal.
 */
void fr_push_settle_status(struct fr_push_result *r,
                           int (*exit_status)(int code, bool over_threshold, int signo));

/*
 * The run summary as JSON (job, run_id, times, counts, success_rate,
 * failures, status). New reference; the caller json_decrefs.
 */
json_t *fr_push_summary_json(const struct fr_push_result *r);

#endif
