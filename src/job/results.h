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
 * API's message. Returns FR_EPARSE when the answer has no array at
 * conf->path (then every result is MISSING and *why says so, caller frees).
 */
int fr_results_parse(const struct fr_results_conf *conf, json_t *body, const char *const *keys,
                     size_t n, struct fr_record_result *results, char **why);

void fr_record_result_release(struct fr_record_result *r);

#endif
