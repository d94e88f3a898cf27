/*
 * results.h: reading per-record outcomes out of a batch answer.
 *
 * A 2xx batch answer carries one result per record (e.g. {"results":
 * [{"sourceRef": "A1", "status": "CREATED"}]}). Results are matched to the
 * records sent by key, not by position; a record whose key is missing from
 * the answer is FR_OUTCOME_MISSING: never assumed done.
 */
#ifndef FR_JOB_RESULTS_H
#define FR_JOB_RESULTS_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "job/job_conf.h"

enum fr_outcome {
    FR_OUTCOME_CREATED,
    FR_OUTCOME_DUPLICATE,
    FR_OUTCOME_FAILED,  /* the API refused the record */
    FR_OUTCOME_RETRY,   /* a status listed under results.retry: one more pass */
    FR_OUTCOME_MISSING, /* not in the answer */
};

const char *fr_outcome_name(enum fr_outcome o);

struct fr_record_result {
    enum fr_outcome outcome;
    char *message; /* owned, may be NULL: the API's message, or why it counts as failed */
};

/*
 * Fills results[i] for keys[i] (n records sent) from a parsed batch answer.
 * A status that is neither created, duplicate nor retry is FAILED with the
 * API's message (or "status X" when there is none). Messages are redacted
 * (fr_redact_str) here, where the API's text enters ferry. Returns FR_EPARSE when
 * the answer has no array at conf->path (then every result is MISSING and
 * *why says so, caller frees).
 *
 * Statuses compare without regard to case; empty created/duplicate lists
 * mean the defaults (CREATED, DUPLICATE); NULL path/status/message members
 * mean "/results", "status", "message". conf->key must be set (the loader
 * puts the job's key there): FR_EINVAL otherwise. A numeric key member is
 * formatted as fr_map_key does; a key answered twice takes the first
 * result; a MISSING result's message is "not in the batch answer". Uses an
 * index: linear in the sizes of the answer and of keys. body and keys are
 * borrowed; results[] (n of them) are overwritten, release each.
 */
int fr_results_parse(const struct fr_results_conf *conf, json_t *body, const char *const *keys,
                     size_t n, struct fr_record_result *results, char **why);

void fr_record_result_release(struct fr_record_result *r);

#endif
