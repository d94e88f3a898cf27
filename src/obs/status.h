/*
 * status.h: what `ferry status` and GET /api/status show: per job its last
 * run, last success, age against max_age (stale or not) and the success
 * rate of its recent runs; per webhook source its queue depth, oldest
 * pending event and dead letters; and the problems that make
 * `ferry status --check` fail, judged against the config's status
 * thresholds (docs/operations.md).
 *
 * Threads: uses st from the calling thread only.
 */
#ifndef FR_OBS_STATUS_H
#define FR_OBS_STATUS_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"

struct fr_store;

/*
 * Builds the status at wall time now_ms:
 *   {"generated_at": RFC 3339, "ok": bool, "problems": [sentences],
 *    "jobs": [{"name", "kind", "target", "schedule", "timezone", "max_age_s",
 *              "last_run": RUN|null, "last_success": RUN|null, "age_s": N|null,
 *              "stale": bool, "success_rate": F|null, "recent_runs": N,
 *              "recent": [{"id", "status", "started_at", "created", "failed"}]}],
 *    "sources": [{"name", "path", "pending", "delivered", "dead",
 *                 "oldest_pending_age_s": N|null}]}
 * where RUN is {"id", "status", "exit_code", "reason", "started_at",
 * "ended_at", "counts": {...}}, reason null when the run has none. A job
 * whose last run ended "failed" or "interrupted" is a problem naming the
 * run, its exit code and its reason. *out is a new reference (caller
 * decrefs). FR_ESTORE (err says why) when the store cannot be read.
 */
int fr_status_build(const struct fr_config *cfg, struct fr_store *st, int64_t now_ms, json_t **out,
                    struct fr_err *err);

#endif
