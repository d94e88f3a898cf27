/*
 * run_metrics.h: what a finished run of a job reports to the metrics,
 * through the observer the run was handed (core/observer.h).
 */
#ifndef FR_JOB_RUN_METRICS_H
#define FR_JOB_RUN_METRICS_H

#include "core/common.h"

#include "core/observer.h"
#include "store/store.h"

/*
 * Reports run, finished: its records by outcome (only the outcomes with a
 * non-zero count, so a push job shows no "written") in
 * ferry_job_records_total, its status (ok, failed or interrupted) in
 * ferry_job_runs_total, when it ended and how long it took, and, when ok,
 * the last success. o NULL: nothing. run is borrowed for the call.
 */
void fr_run_metrics_note(const struct fr_observer *o, const struct fr_run *run);

#endif
