/*
 * pull.h: the pull engine behind `ferry run JOB` for pull jobs
 * (docs/pull.md is the operator's view).
 *
 * Fetches the job's first page and follows the next ones exactly as the
 * API gives them (@odata.nextLink, a Link rel="next" header, or a cursor),
 * one page at a time, each through the HTTP client (rate limit, token
 * refresh, retries: a fault mid-way retries that page, never the run).
 * Every record is checked (an object, its key, the job's schema); valid
 * ones go to the sink, invalid ones to the rejects file with their reasons.
 *
 * Stops with an error, never loops or writes garbage, on: a next link it
 * already followed, a next link to another host (unless allowed), a page
 * whose records are not an array, more than paging.max_pages pages.
 *
 * Atomic: the sink and rejects file commit only when every page was read;
 * then, and only then, the watermark (the largest watermark.field of the
 * valid records, starting from the value the run began with) is saved in
 * the store. A run that dies or fails leaves the previous output and
 * watermark, so the next run fetches again rather than skipping anything.
 */
#ifndef FR_JOB_PULL_H
#define FR_JOB_PULL_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"
#include "core/observer.h"
#include "job/progress.h"
#include "store/store.h"
#include "job/job_conf.h"

struct fr_run_stop;

struct fr_pull_opts {
    bool dry_run;            /* fetch and validate; write no sink, watermark or run */
    bool full;               /* start from watermark.initial, not the saved watermark */
    const char *since;       /* start from this watermark (parsed like watermark.initial); NULL */
    fr_progress_fn progress; /* progress reports for a line on a terminal; NULL: none */
    void *progress_ud;
    /* Stop signals (job/run.h; NULL: none): the run stops before the next page. */
    const struct fr_run_stop *stop;
    const struct fr_observer *observer; /* the run's metrics (core/observer.h); NULL: none */
    /* The exit status of a run (stored with it); required: see fr_push_opts. */
    int (*exit_status)(int code, bool over_threshold, int signo);
};

/* Rejected records kept in memory for the summary; all of them go to the store. */
#define FR_PULL_SUMMARY_FAILURES 20

struct fr_pull_result {
    struct fr_run run; /* counts: pages, read, written, rejected, requests, ... */
    int code;          /* FR_OK, or what stopped the run */
    struct fr_err err; /* why it stopped */
    bool over_threshold;
    int signo;        /* the stop signal that interrupted the run; 0 none */
    json_t *failures; /* array of {key, line, kind, reason}, at most FR_PULL_SUMMARY_FAILURES */
    uint64_t failures_total;
    char *watermark_from; /* the watermark the run started from, as JSON text; NULL without one */
    char *watermark_to;   /* the watermark saved, as JSON text; NULL when none was saved */
};

/*
 * Runs the job (job->kind must be FR_JOB_PULL). The store must be open.
 * Always fills *out (release with fr_pull_result_release) and returns
 * out->code; out->run.exit_code is opts->exit_status of out's code,
 * threshold and signal: 1 for a run that stopped on a bad page (not an
 * array, a repeated or foreign next link, an HTTP 4xx) or a sink that could
 * not be written; 2 for one that could not start as configured (schema,
 * sink directory, --since).
 */
int fr_pull_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                struct fr_store *st, const struct fr_pull_opts *opts, struct fr_pull_result *out);
void fr_pull_result_release(struct fr_pull_result *r);

/* The run summary as JSON (like fr_push_summary_json). New reference. */
json_t *fr_pull_summary_json(const struct fr_pull_result *r);

/* ---- internal helpers, declared for the unit tests (documented in pull.c) ---- */

char *fr__pull_link_next(const char *header);
int fr__pull_watermark_cmp(json_t *a, json_t *b);
char *fr__pull_first_url(const char *base, const struct fr_pull_request_conf *req, json_t *wm);

#endif
