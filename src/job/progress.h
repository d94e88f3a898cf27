/*
 * progress.h: what a run reports for a progress line. The engines call a
 * function the CLI hands them, at most every FR_PROGRESS_EVERY_MS and once
 * more at the end; only the CLI draws (library code does not print).
 */
#ifndef FR_JOB_PROGRESS_H
#define FR_JOB_PROGRESS_H

#include "core/common.h"

#include "store/store.h"
#include "job/job_conf.h"

/* How often a progress report is made, at most. */
#define FR_PROGRESS_EVERY_MS 250

struct fr_progress {
    bool pull;                          /* a pull run (pages), else a push run (source position) */
    const struct fr_run_counts *counts; /* borrowed for the call */
    int64_t done, total;                /* push: how far the source was read; total -1 unknown */
    int64_t elapsed_ms;                 /* since the run started */
    bool final;                         /* the run is over: clear the line */
};

typedef void (*fr_progress_fn)(void *ud, const struct fr_progress *pg);

#endif
