/*
 * A batch answer (the body of a 2xx) read by the per-record results parser
 * (src/job/results.c) and checked against body-error rules (fr_body_rules_match,
 * src/http/policy.c). The input is the body as the API sends it.
 * Properties: every record gets a known outcome; a failed or missing
 * record always has a message; a matched rule is one of the rules and its
 * message, when found, is a string of the body.
 */
#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/jsonptr.h"
#include "http/policy.h"
#include "job/results.h"
#include "fuzz_util.h"
#include "job/job_conf.h"

static const char *const keys[] = {"A1", "A2", "A3", "1001", "12.5", "", "A1"};
#define NKEYS FR_ARRAY_LEN(keys)

static char *created[] = {"CREATED", "OK"};
static char *duplicate[] = {"DUPLICATE", "EXISTS"};
static char *retry[] = {"RETRY", "LOCKED"};

static const struct fr_results_conf confs[] = {
    /* the defaults: {"results": [{"sourceRef", "status", "message"}]} */
    {.configured = true, .key = "sourceRef"},
    /* everything named: {"d": {"items": [{"id", "state", "error"}]}} */
    {.configured = true,
     .path = "/d/items",
     .key = "id",
     .status = "state",
     .message = "error",
     .created = created,
     .ncreated = 2,
     .duplicate = duplicate,
     .nduplicate = 2,
     .retry = retry,
     .nretry = 2},
    /* the answer is the array itself */
    {.configured = true, .path = "", .key = "sourceRef"},
};

static struct fr_body_rule rules[4];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    rules[0] = (struct fr_body_rule){"/success", json_false(), "/error", true};
    rules[1] = (struct fr_body_rule){"/status", json_string("ERROR"), "/errors/0/message", false};
    rules[2] = (struct fr_body_rule){"/d/results/0/ok", json_integer(0), NULL, true};
    rules[3] = (struct fr_body_rule){"", json_null(), "/x~1y~0z", true};
    return 0;
}

static void check_results(const struct fr_results_conf *conf, json_t *body)
{
    struct fr_record_result res[NKEYS];
    char *why = NULL;
    int rc = fr_results_parse(conf, body, keys, NKEYS, res, &why);
    FUZZ_CHECK(rc == 0 || rc == FR_EPARSE);
    FUZZ_CHECK((rc == 0) == (why == NULL));
    /* A key answered twice takes the first result: both copies of "A1" agree. */
    FUZZ_CHECK(res[0].outcome == res[NKEYS - 1].outcome);
    FUZZ_CHECK((res[0].message == NULL) == (res[NKEYS - 1].message == NULL));
    FUZZ_CHECK(!res[0].message || strcmp(res[0].message, res[NKEYS - 1].message) == 0);
    for (size_t i = 0; i < NKEYS; i++) {
        FUZZ_CHECK(res[i].outcome <= FR_OUTCOME_MISSING);
        if (res[i].outcome == FR_OUTCOME_FAILED || res[i].outcome == FR_OUTCOME_MISSING)
            FUZZ_CHECK(res[i].message != NULL);
        if (rc != 0)
            FUZZ_CHECK(res[i].outcome == FR_OUTCOME_MISSING);
        fr_record_result_release(&res[i]);
    }
    free(why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024)
        return -1;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!body)
        return 0; /* unparsable: the client classifies it as transient before any of this */
    for (size_t i = 0; i < FR_ARRAY_LEN(confs); i++)
        check_results(&confs[i], body);

    const char *message = NULL;
    const struct fr_body_rule *hit =
        fr_body_rules_match(rules, FR_ARRAY_LEN(rules), body, &message);
    FUZZ_CHECK(hit == NULL || (hit >= rules && hit < rules + FR_ARRAY_LEN(rules)));
    if (!hit)
        FUZZ_CHECK(message == NULL);
    if (message) {
        json_t *m = fr_json_pointer(body, hit->message);
        FUZZ_CHECK(json_is_string(m) && json_string_value(m) == message);
    }
    json_decref(body);
    return 0;
}
