/*
 * trend.h: alerts on trends, evaluated inside `ferry serve` every
 * alerts.evaluate_every over sliding windows (docs/operations.md):
 *
 *   error_rate     per target: failed requests (5xx or no response) over
 *                  all requests in the window above `above`
 *   latency_p95    per target: the 95th percentile response time in the
 *                  window (the upper bound of the histogram bucket it falls
 *                  in) above `above`
 *   token_refresh  per target: more token fetches in the window than
 *                  factor x (window / token lifetime + 1)
 *   dead_letters   per webhook source: dead letters grew by `growth` or more
 *   stale_jobs     per job with max_age: no success within max_age (a job
 *                  that never succeeded counts from the server's start)
 *
 * Each alert (rule + subject) notifies the alert sinks once when it starts
 * ("firing") and once when it stops ("resolved"), never on every
 * evaluation. The windows read the process's metrics registry, so they
 * see the requests of the jobs this server runs.
 *
 * Threads: one evaluator thread; fr_trends_annotate is thread-safe.
 */
#ifndef FR_OBS_TREND_H
#define FR_OBS_TREND_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"

struct fr_trends;

/* Starts the evaluator; cfg is borrowed until fr_trends_stop returns. */
int fr_trends_start(const struct fr_config *cfg, struct fr_trends **out, struct fr_err *err);

/* Sets "alerts": [{"alert", "rule", "subject", "since", "message"}] on status: those firing. */
void fr_trends_annotate(struct fr_trends *t, json_t *status);

/* Stops the evaluator. NULL is a no-op. */
void fr_trends_stop(struct fr_trends *t);

#endif
