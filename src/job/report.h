/*
 * report.h: what the push and pull engines share in reporting a run: the
 * job's alert threshold, which makes a run exit 1, and the failed keys its
 * summary line lists. Each engine builds its own summary from these.
 */
#ifndef FR_JOB_REPORT_H
#define FR_JOB_REPORT_H

#include "core/common.h"

#include <jansson.h>

#include "core/buf.h"
#include "job/job_conf.h"
#include "store/store.h"

/*
 * Whether the counts cross the job's alert limits. Without an `alert`
 * block any failed or rejected record crosses (max_errors 0): exit 0 means
 * every record was accepted.
 */
bool fr_report_over_threshold(const struct fr_job_alert_conf *alert, const struct fr_run_counts *c);

/*
 * The keys of a run's failures for its summary line, into keys: "K1,K2",
 * a record without a key as "(UNIT N)" from its "line", and when total is
 * more than the failures listed, where to see them all (ferry runs show).
 */
void fr_report_failure_keys(struct fr_buf *keys, json_t *failures, uint64_t total,
                            const char *run_id, const char *unit);

#endif
