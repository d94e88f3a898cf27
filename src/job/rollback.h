/*
 * rollback.h: undoing a push run, the manual escape hatch.
 *
 * Sends the job's rollback request for every key the run created (per the
 * journal), marks each rolled back, and treats 404 as already gone. Keys
 * whose request failed stay "created", so running it again picks up
 * exactly what is left: it is safe to rerun.
 */
#ifndef FR_JOB_ROLLBACK_H
#define FR_JOB_ROLLBACK_H

#include "core/common.h"

#include "core/config.h"
#include "core/error.h"
#include "store/store.h"
#include "job/job_conf.h"

struct fr_rollback_result {
    uint64_t keys;         /* created by the run and not yet rolled back */
    uint64_t removed;      /* the target confirmed the removal */
    uint64_t already_gone; /* 404 */
    uint64_t failed;       /* still there as far as ferry knows */
    int code;              /* FR_OK or what stopped it */
    struct fr_err err;
};

/*
 * Rolls back run_id (a run of job). In a dry run only counts and lists
 * (logs) the keys. Returns out->code.
 */
int fr_rollback_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                    struct fr_store *st, const char *run_id, bool dry_run,
                    struct fr_rollback_result *out);

#endif
