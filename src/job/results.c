#include "core/common.h"
#include "job/results.h"

#include "core/jsonptr.h"
#include "core/redact.h"
#include "job/map.h"

/* Indexed by enum fr_outcome. */
static const char *const outcome_names[] = {
    [FR_OUTCOME_CREATED] = "created", [FR_OUTCOME_DUPLICATE] = "duplicate",
    [FR_OUTCOME_FAILED] = "failed",   [FR_OUTCOME_RETRY] = "retry",
    [FR_OUTCOME_MISSING] = "missing",
};

const char *fr_outcome_name(enum fr_outcome o)
{
    if ((size_t)o < FR_ARRAY_LEN(outcome_names) && outcome_names[o])
        return outcome_names[o];
    return "unknown";
}

void fr_record_result_release(struct fr_record_result *r)
{
    if (!r)
        return;
    free(r->message);
    r->message = NULL;
}

static char *const default_created[] = {"CREATED"};
static char *const default_duplicate[] = {"DUPLICATE"};

/* The status lists in the order they are tried; an empty created/duplicate list takes the default.
 */
struct status_list {
    enum fr_outcome outcome;
    char *const *values;
    size_t n;
};

static bool in_list(const struct status_list *l, const char *status)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->values[i], status) == 0)
            return true;
    return false;
}

/* A member as text: strings copied, numbers as fr_map_key formats them, others as JSON.
 * Not redacted: for matching; what is kept goes through redacted_member. */
static char *member_text(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (!v || json_is_null(v))
        return NULL;
    if (json_is_string(v) || json_is_number(v))
        return fr_map_key(obj, name);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r = s ? fr_strdup(s) : NULL;
    free(s);
    return r;
}

/*
 * An API's text enters ferry here: the message (and a status quoted in its
 * place) is redacted before anything keeps it, so an API that echoes the
 * token it was sent leaves it in no summary, stored reason or alert.
 */
static char *redacted_member(json_t *obj, const char *name)
{
    char *raw = member_text(obj, name);
    char *safe = fr_redact_str(raw);
    free(raw);
    return safe;
}

static void classify(const struct status_list *lists, size_t nlists, json_t *res,
                     const struct fr_results_conf *conf, struct fr_record_result *out)
{
    char *status = member_text(res, conf->status ? conf->status : "status");
    char *message = redacted_member(res, conf->message ? conf->message : "message");
    out->outcome = FR_OUTCOME_FAILED;
    for (size_t i = 0; status && i < nlists; i++) {
        if (in_list(&lists[i], status)) {
            out->outcome = lists[i].outcome;
            break;
        }
    }
    if (out->outcome == FR_OUTCOME_FAILED && !message) {
        char *shown = fr_redact_str(status);
        message = shown ? fr_asprintf("status %s", shown) : fr_strdup("no status in the result");
        free(shown);
    }
    out->message = message;
    free(status);
}

int fr_results_parse(const struct fr_results_conf *conf, json_t *body, const char *const *keys,
                     size_t n, struct fr_record_result *results, char **why)
{
    *why = NULL;
    for (size_t i = 0; i < n; i++) {
        results[i].outcome = FR_OUTCOME_MISSING;
        results[i].message = NULL;
    }
    const char *path = conf->path ? conf->path : "/results";
    json_t *arr = fr_json_pointer(body, path);
    if (!json_is_array(arr) || !conf->key) {
        *why = conf->key ? fr_asprintf("the batch answer has no array at %s", path)
                         : fr_strdup("results: no key member configured");
        for (size_t i = 0; i < n; i++)
            results[i].message = fr_strdup(*why);
        return conf->key ? FR_EPARSE : FR_EINVAL;
    }

    const struct status_list lists[] = {
        {FR_OUTCOME_CREATED, conf->ncreated ? conf->created : default_created,
         conf->ncreated ? conf->ncreated : FR_ARRAY_LEN(default_created)},
        {FR_OUTCOME_DUPLICATE, conf->nduplicate ? conf->duplicate : default_duplicate,
         conf->nduplicate ? conf->nduplicate : FR_ARRAY_LEN(default_duplicate)},
        {FR_OUTCOME_RETRY, conf->retry, conf->nretry},
    };

    /* key -> the first result element with that key; a jansson object is the hash table */
    json_t *index = json_object();
    size_t i;
    json_t *res;
    json_array_foreach(arr, i, res)
    {
        if (!json_is_object(res))
            continue;
        char *key = member_text(res, conf->key);
        if (key && !json_object_get(index, key))
            json_object_set(index, key, res);
        free(key);
    }
    for (size_t k = 0; k < n; k++) {
        json_t *hit = keys[k] ? json_object_get(index, keys[k]) : NULL;
        if (hit)
            classify(lists, FR_ARRAY_LEN(lists), hit, conf, &results[k]);
        else
            results[k].message = fr_strdup("not in the batch answer");
    }
    json_decref(index);
    return 0;
}
