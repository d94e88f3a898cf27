#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/error.h"
#include "core/redact.h"
#include "cli/sections.h"
#include "conftest.h"
#include "obs/obs_conf.h"
#include "job/job_conf.h"

#define WEBHOOK_URL "https://hooks.slack.example/services/T0001/B0002/sEcReTwebhookToken77"

static int setup(void **state)
{
    setenv("PERIOD_ID", "2026-11", 1);
    setenv("ALERT_WEBHOOK_URL", WEBHOOK_URL, 1);
    unsetenv("FERRY_TEST_UNSET");
    fr_redact_reset();
    return 0;
}

/* The example of the product issue. */
static const char full_yaml[] =
    "store: sqlite:ferry.db\n"
    "targets:\n"
    "  im:\n"
    "    base_url: https://api.example.com/icm\n"
    "jobs:\n"
    "  nightly-credits:\n"
    "    kind: push\n"
    "    target: im\n"
    "    source: { type: csv, path: data/crm_orders.csv }\n"
    "    request: { method: PUT, path: /credits/batch, batch_size: 250, envelope: items, "
    "max_bytes: 2MB }\n"
    "    key: sourceRef\n"
    "    map:\n"
    "      participantId: participant_id\n"
    "      transactionDate: { from: order_date, type: date }\n"
    "      amount: { from: amount, type: number, required: true }\n"
    "      currencyCode: { value: USD }\n"
    "      periodId: { value: \"${PERIOD_ID}\" }\n"
    "      sourceRef: { from: order_id, required: true }\n"
    "      quantity: { value: 12 }\n"
    "      code: { value: \"12\" }\n"
    "      active: { value: true }\n"
    "      rate: { value: 0.5 }\n"
    "      count: { from: n, type: integer }\n"
    "      flag: { from: f, type: boolean }\n"
    "    results:\n"
    "      path: /results\n"
    "      key: ref\n"
    "      status: state\n"
    "      message: msg\n"
    "      created: [CREATED, OK]\n"
    "      duplicate: [DUPLICATE]\n"
    "      retry: []\n"
    "    body_errors: [ { path: /success, equals: false, message: /error } ]\n"
    "    lookup: { method: GET, path: \"/credits?$filter=sourceRef eq '{{key}}'\", found: "
    "/value/0 }\n"
    "    rollback: { method: DELETE, path: \"/credits/{{key}}\" }\n"
    "    alert: { max_errors: 5, max_error_rate: 1% }\n"
    "alerts:\n"
    "  - { type: webhook, url: \"${ALERT_WEBHOOK_URL}\" }\n"
    "  - { type: exec, command: \"./notify-ops.sh\" }\n";

static void assert_field(const struct fr_map_field *f, const char *name, const char *from,
                         enum fr_field_type type, bool required)
{
    assert_string_equal(f->name, name);
    if (from) {
        assert_non_null(f->from);
        assert_string_equal(f->from, from);
        assert_null(f->value);
    } else {
        assert_null(f->from);
        assert_non_null(f->value);
    }
    assert_int_equal(f->type, type);
    assert_int_equal(f->required, required);
}

static void test_full_job(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load_as(full_yaml, "/etc/ferry/ferry.yaml", &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    assert_int_equal(cfg->njobs, 1);
    const struct fr_job_conf *j = &cfg->jobs[0];
    assert_string_equal(j->name, "nightly-credits");
    assert_int_equal(j->line, 6);
    assert_int_equal(j->col, 3);
    assert_int_equal(j->kind, FR_JOB_PUSH);
    assert_string_equal(j->target, "im");
    assert_int_equal(j->source.type, FR_SOURCE_CSV);
    assert_string_equal(j->source.path, "/etc/ferry/data/crm_orders.csv");
    assert_null(j->source.query);
    assert_string_equal(j->request.method, "PUT");
    assert_string_equal(j->request.path, "/credits/batch");
    assert_int_equal(j->request.batch_size, 250);
    assert_string_equal(j->request.envelope, "items");
    assert_int_equal(j->request.max_bytes, 2 * 1024 * 1024);
    assert_string_equal(j->key, "sourceRef");

    /* The map, in file order. */
    assert_int_equal(j->nmap, 12);
    const struct fr_map_field *m = j->map;
    assert_field(&m[0], "participantId", "participant_id", FR_FIELD_STRING, false);
    assert_int_equal(m[0].line, 13);
    assert_int_equal(m[0].col, 7);
    assert_field(&m[1], "transactionDate", "order_date", FR_FIELD_DATE, false);
    assert_field(&m[2], "amount", "amount", FR_FIELD_NUMBER, true);
    assert_field(&m[3], "currencyCode", NULL, FR_FIELD_STRING, false);
    assert_string_equal(json_string_value(m[3].value), "USD");
    assert_field(&m[4], "periodId", NULL, FR_FIELD_STRING, false);
    assert_string_equal(json_string_value(m[4].value), "2026-11");
    assert_field(&m[5], "sourceRef", "order_id", FR_FIELD_STRING, true);
    assert_true(json_is_integer(m[6].value));
    assert_int_equal(json_integer_value(m[6].value), 12);
    assert_true(json_is_string(m[7].value));
    assert_string_equal(json_string_value(m[7].value), "12");
    assert_true(json_is_true(m[8].value));
    assert_true(json_is_real(m[9].value));
    assert_true(json_real_value(m[9].value) == 0.5);
    assert_field(&m[10], "count", "n", FR_FIELD_INTEGER, false);
    assert_field(&m[11], "flag", "f", FR_FIELD_BOOLEAN, false);

    const struct fr_results_conf *r = &j->results;
    assert_true(r->configured);
    assert_string_equal(r->path, "/results");
    assert_string_equal(r->key, "ref");
    assert_string_equal(r->status, "state");
    assert_string_equal(r->message, "msg");
    assert_int_equal(r->ncreated, 2);
    assert_string_equal(r->created[0], "CREATED");
    assert_string_equal(r->created[1], "OK");
    assert_int_equal(r->nduplicate, 1);
    assert_string_equal(r->duplicate[0], "DUPLICATE");
    assert_int_equal(r->nretry, 0);

    assert_int_equal(j->nbody_errors, 1);
    assert_string_equal(j->body_errors[0].path, "/success");
    assert_true(json_is_false(j->body_errors[0].equals));
    assert_string_equal(j->body_errors[0].message, "/error");
    assert_true(j->body_errors[0].retry);

    assert_true(j->lookup.configured);
    assert_string_equal(j->lookup.method, "GET");
    assert_string_equal(j->lookup.path, "/credits?$filter=sourceRef eq '{{key}}'");
    assert_string_equal(j->lookup.found, "/value/0");
    assert_true(j->rollback.configured);
    assert_string_equal(j->rollback.method, "DELETE");
    assert_string_equal(j->rollback.path, "/credits/{{key}}");
    assert_null(j->rollback.found);

    assert_int_equal(j->alert.max_errors, 5);
    assert_true(j->alert.max_error_rate > 0.00999 && j->alert.max_error_rate < 0.01001);

    assert_int_equal(cfg->nalerts, 2);
    assert_int_equal(cfg->alerts[0].type, FR_ALERT_WEBHOOK);
    assert_string_equal(cfg->alerts[0].url, WEBHOOK_URL);
    assert_null(cfg->alerts[0].command);
    assert_int_equal(cfg->alerts[0].line, 38);
    assert_int_equal(cfg->alerts[0].col, 5);
    assert_int_equal(cfg->alerts[1].type, FR_ALERT_EXEC);
    assert_string_equal(cfg->alerts[1].command, "./notify-ops.sh");
    assert_null(cfg->alerts[1].url);
    fr_config_free(cfg);
}

/* Lines 1..7; a job's keys follow from line 8, indented by 4. */
#define HEAD                                                                                       \
    "targets:\n"                                                                                   \
    "  im:\n"                                                                                      \
    "    base_url: https://api.example.com\n"                                                      \
    "  crm:\n"                                                                                     \
    "    base_url: https://crm.example.com\n"                                                      \
    "jobs:\n"                                                                                      \
    "  nightly:\n"
#define KIND    "    kind: push\n"                            /* line 8 */
#define TARGET  "    target: im\n"                            /* line 9 */
#define SOURCE  "    source: { type: csv, path: in.csv }\n"   /* line 10 */
#define REQ     "    request: { path: /credits }\n"           /* line 11 */
#define KEY     "    key: id\n"                               /* line 12 */
#define MAP     "    map: { id: order_id, amount: amount }\n" /* line 13 */
#define MINIMAL HEAD KIND TARGET SOURCE REQ KEY MAP

static void test_defaults(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(
        fr_test_conf_load(MINIMAL "    request: { path: /credits, batch_size: 1 }\n", &cfg, &err),
        FR_ECONFIG); /* request twice: a duplicate key */
    assert_non_null(strstr(err.msg, "ferry.yaml:14:5: duplicate key \"request\" under "
                                    "jobs.nightly (first at line 11:5)"));

    int rc = fr_test_conf_load(HEAD KIND TARGET SOURCE
                               "    request: { path: /credits, batch_size: 1 }\n" KEY MAP,
                               &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct fr_job_conf *j = fr_job_find(cfg, "nightly");
    assert_non_null(j);
    assert_string_equal(j->source.path, "./in.csv");
    assert_string_equal(j->request.method, "POST");
    assert_string_equal(j->request.path, "/credits");
    assert_int_equal(j->request.batch_size, 1);
    assert_string_equal(j->request.envelope, "value");
    assert_int_equal(j->request.max_bytes, 1024 * 1024);
    assert_int_equal(j->nmap, 2);
    assert_field(&j->map[0], "id", "order_id", FR_FIELD_STRING, false);
    assert_field(&j->map[1], "amount", "amount", FR_FIELD_STRING, false);
    assert_false(j->results.configured);
    assert_int_equal(j->nbody_errors, 0);
    assert_false(j->lookup.configured);
    assert_false(j->rollback.configured);
    assert_int_equal(j->alert.max_errors, -1);
    assert_true(j->alert.max_error_rate < 0);
    assert_int_equal(cfg->nalerts, 0);
    fr_config_free(cfg);

    /* results: present but empty takes every default; key is the job's. */
    rc = fr_test_conf_load(MINIMAL "    results: {}\n    alert: { max_errors: 0 }\n", &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    j = fr_job_find(cfg, "nightly");
    const struct fr_results_conf *r = &j->results;
    assert_true(r->configured);
    assert_string_equal(r->path, "/results");
    assert_string_equal(r->key, "id");
    assert_string_equal(r->status, "status");
    assert_string_equal(r->message, "message");
    assert_int_equal(r->ncreated, 1);
    assert_string_equal(r->created[0], "CREATED");
    assert_int_equal(r->nduplicate, 1);
    assert_string_equal(r->duplicate[0], "DUPLICATE");
    assert_int_equal(r->nretry, 0);
    assert_int_equal(j->alert.max_errors, 0);
    assert_true(j->alert.max_error_rate < 0);
    fr_config_free(cfg);
}

static void test_sources(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load_as(HEAD KIND TARGET
                                  "    source: { type: jsonl, path: /data/in.jsonl }\n" REQ KEY MAP,
                                  "conf/ferry.yaml", &cfg, &err);
    assert_int_equal(rc, 0);
    const struct fr_job_conf *j = fr_job_find(cfg, "nightly");
    assert_int_equal(j->source.type, FR_SOURCE_JSONL);
    assert_string_equal(j->source.path, "/data/in.jsonl");
    assert_null(j->source.query);
    fr_config_free(cfg);

    rc = fr_test_conf_load_as(
        HEAD KIND TARGET
        "    source: { type: sqlite, path: crm.db, query: \"SELECT id FROM orders\" }\n" REQ KEY
            MAP,
        "conf/ferry.yaml", &cfg, &err);
    assert_int_equal(rc, 0);
    j = fr_job_find(cfg, "nightly");
    assert_int_equal(j->source.type, FR_SOURCE_SQLITE);
    assert_string_equal(j->source.path, "conf/crm.db");
    assert_string_equal(j->source.query, "SELECT id FROM orders");
    /* Where the values are written, for messages about the files (preflight). */
    assert_int_equal(j->source.path_pos.line, 10);
    assert_int_equal(j->source.path_pos.col, 35);
    assert_int_equal(j->source.query_pos.line, 10);
    assert_int_equal(j->source.query_pos.col, 50);
    fr_config_free(cfg);
}

static void test_job_errors(void **state)
{
    /* Unknown key, with a suggestion. */
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE REQ "    kye: id\n" MAP,
        "ferry.yaml:12:5: unknown key \"kye\" under jobs.nightly (did you mean \"key\"?)", NULL);
    /* Missing required keys, named where the job starts. */
    fr_test_conf_expect_error(HEAD KIND TARGET SOURCE REQ MAP,
                              "ferry.yaml:8:5: jobs.nightly: missing required key \"key\"", NULL);
    fr_test_conf_expect_error(HEAD KIND TARGET SOURCE KEY MAP,
                              "jobs.nightly: missing required key \"request\"", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE "    request: { batch_size: 10 }\n" KEY MAP,
        "ferry.yaml:11:14: jobs.nightly.request: missing required key \"path\"", NULL);
    /* The kind: listed, not guessed. */
    fr_test_conf_expect_error(
        HEAD "    kind: fetch\n" TARGET SOURCE REQ KEY MAP,
        "ferry.yaml:8:11: jobs.nightly.kind: unknown job kind \"fetch\" (known kinds: "
        "\"push\", \"pull\")",
        NULL);
    /* Target: names the job and lists the targets, wherever targets come in the file. */
    fr_test_conf_expect_error(
        HEAD KIND "    target: imm\n" SOURCE REQ KEY MAP,
        "ferry.yaml:9:13: jobs.nightly.target: job nightly names target \"imm\", which "
        "is not defined (targets: \"im\", \"crm\"; did you mean \"im\"?)",
        NULL);
    fr_test_conf_expect_error(
        "jobs:\n  nightly:\n" KIND "    target: billing\n" SOURCE REQ KEY MAP
        "targets:\n  im: { base_url: https://api.example.com }\n",
        "ferry.yaml:4:13: jobs.nightly.target: job nightly names target \"billing\", "
        "which is not defined (targets: \"im\")",
        NULL);
    fr_test_conf_expect_error(
        "jobs:\n  nightly:\n" KIND TARGET SOURCE REQ KEY MAP,
        "ferry.yaml:4:13: jobs.nightly.target: job nightly names target \"im\", but no "
        "targets are defined",
        NULL);
    /* The key must be mapped. */
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE REQ "    key: ids\n" MAP,
        "ferry.yaml:12:10: jobs.nightly.key: \"ids\" is not a field of the map (fields: "
        "\"id\", \"amount\"; did you mean \"id\"?)",
        NULL);
    /* Names and request bounds. */
    fr_test_conf_expect_error("jobs:\n  bad name:\n" KIND,
                              "ferry.yaml:2:3: jobs: invalid job name \"bad name\"", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE "    request: { path: /credits, batch_size: 0 }\n" KEY MAP,
        "ferry.yaml:11:44: jobs.nightly.request.batch_size: 0 is out of range (1..10000)", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE "    request: { path: /credits, max_bytes: 512B }\n" KEY MAP,
        "jobs.nightly.request.max_bytes: 512B is too small (at least 1024 bytes)", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE "    request: { path: credits }\n" KEY MAP,
        "ferry.yaml:11:22: jobs.nightly.request.path: invalid path \"credits\" (it must "
        "start with /)",
        NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE REQ KEY MAP "    alert: { max_error_rate: 150% }\n",
        "ferry.yaml:14:30: jobs.nightly.alert.max_error_rate: invalid percentage \"150%\"", NULL);
    fr_test_conf_expect_error(HEAD KIND TARGET SOURCE REQ KEY MAP "    alert: { max_errors: -1 }\n",
                              "jobs.nightly.alert.max_errors: -1 is out of range", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE REQ KEY MAP "    results: { created: CREATED }\n",
        "jobs.nightly.results.created: expected a sequence (a list), found a scalar", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET SOURCE REQ KEY MAP
        "    body_errors: [ { path: /success, equal: false } ]\n",
        "unknown key \"equal\" under jobs.nightly.body_errors[0] (did you mean "
        "\"equals\"?)",
        NULL);
}

/* MINIMAL without its map line, then "    map:" on line 13 and fields from line 14. */
#define NO_MAP HEAD KIND TARGET SOURCE REQ KEY "    map:\n"

static void test_map_errors(void **state)
{
    fr_test_conf_expect_error(
        NO_MAP "      id: { from: order_id, value: 1 }\n",
        "ferry.yaml:14:11: jobs.nightly.map.id: set either from (a source column) or "
        "value (a literal), not both",
        NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { required: true }\n",
        "ferry.yaml:14:11: jobs.nightly.map.id: missing \"from\" or \"value\"", NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { value: 1, type: number }\n",
        "ferry.yaml:14:29: jobs.nightly.map.id: \"type\" applies only with from", NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { value: 1, required: true }\n",
        "ferry.yaml:14:33: jobs.nightly.map.id: \"required\" applies only with from", NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { from: order_id, type: numbr }\n",
        "ferry.yaml:14:35: jobs.nightly.map.id.type: invalid value \"numbr\" (did you "
        "mean \"number\"?)",
        NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { from: order_id, typ: number }\n",
        "ferry.yaml:14:29: unknown key \"typ\" under jobs.nightly.map.id (did you mean "
        "\"type\"?)",
        NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: order_id\n      amount: { from: amount, type: decimal }\n",
        "ferry.yaml:15:37: jobs.nightly.map.amount.type: invalid value \"decimal\"", NULL);
    fr_test_conf_expect_error(
        NO_MAP "      id: { value: \"${FERRY_TEST_UNSET}\" }\n",
        "jobs.nightly.map.id.value: environment variable FERRY_TEST_UNSET is not set", NULL);
    fr_test_conf_expect_error(NO_MAP "      id: [a, b]\n",
                              "ferry.yaml:14:11: jobs.nightly.map.id: expected a mapping", NULL);
    fr_test_conf_expect_error(NO_MAP "      id: order_id\n      id: other\n",
                              "ferry.yaml:15:7: duplicate key \"id\" under jobs.nightly.map", NULL);
    fr_test_conf_expect_error(HEAD KIND TARGET SOURCE REQ KEY "    map: {}\n",
                              "ferry.yaml:13:10: jobs.nightly.map: the map is empty", NULL);
}

static void test_source_errors(void **state)
{
    fr_test_conf_expect_error(
        HEAD KIND TARGET "    source: { type: sqlite, path: crm.db }\n" REQ KEY MAP,
        "ferry.yaml:10:13: jobs.nightly.source: missing required key \"query\"", NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET
        "    source: { type: csv, path: in.csv, query: \"SELECT 1\" }\n" REQ KEY MAP,
        "ferry.yaml:10:40: jobs.nightly.source: key \"query\" does not apply to source "
        "type \"csv\" (it belongs to \"sqlite\")",
        NULL);
    fr_test_conf_expect_error(
        HEAD KIND TARGET "    source: { type: xlsx, path: in.xlsx }\n" REQ KEY MAP,
        "ferry.yaml:10:21: jobs.nightly.source.type: invalid value \"xlsx\"", NULL);
    fr_test_conf_expect_error(HEAD KIND TARGET "    source: { path: in.csv }\n" REQ KEY MAP,
                              "jobs.nightly.source: missing required key \"type\"", NULL);
}

static void test_lookup_rollback(void **state)
{
    fr_test_conf_expect_error(
        MINIMAL "    lookup: { path: /credits, found: /value/0 }\n",
        "ferry.yaml:14:21: jobs.nightly.lookup.path: \"/credits\" does not contain "
        "{{key}}",
        NULL);
    fr_test_conf_expect_error(
        MINIMAL "    lookup: { path: \"/credits/{{key}}\" }\n",
        "ferry.yaml:14:13: jobs.nightly.lookup: missing required key \"found\"", NULL);
    fr_test_conf_expect_error(MINIMAL "    rollback: { path: /credits }\n",
                              "jobs.nightly.rollback.path: \"/credits\" does not contain {{key}}",
                              NULL);
    /* a value built from ${ENV} is named as written in every message, not only the
     * converters' (found by the config fuzzer) */
    setenv("FERRY_TEST_HELD", "env-held-s3cret-kind", 1);
    fr_test_conf_expect_error(
        MINIMAL "    rollback: { path: \"/credits/${FERRY_TEST_HELD}\" }\n",
        "rollback.path: \"/credits/${FERRY_TEST_HELD}\" does not contain {{key}}", NULL);
    struct fr_config *leak = NULL;
    struct fr_err held_err;
    assert_int_equal(fr_test_conf_load(MINIMAL
                                       "    rollback: { path: \"/credits/${FERRY_TEST_HELD}\" }\n",
                                       &leak, &held_err),
                     FR_ECONFIG);
    assert_null(strstr(held_err.msg, "env-held-s3cret-kind"));
    unsetenv("FERRY_TEST_HELD");
    fr_test_conf_expect_error(MINIMAL "    rollback: { path: \"/credits/{{key}}\", found: /x }\n",
                              "unknown key \"found\" under jobs.nightly.rollback", NULL);
    fr_test_conf_expect_error(MINIMAL
                              "    rollback: { method: DELET, path: \"/credits/{{key}}\" }\n",
                              "jobs.nightly.rollback.method: invalid value \"DELET\" (did you mean "
                              "\"DELETE\"?)",
                              NULL);

    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load(
        MINIMAL "    lookup: { path: \"/c?$filter=k eq '{{key}}'&$top=1\", found: /value/0 "
                "}\n    rollback: { method: POST, path: \"/c/{{key}}/cancel\" }\n",
        &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct fr_job_conf *j = fr_job_find(cfg, "nightly");
    assert_true(j->lookup.configured);
    assert_string_equal(j->lookup.method, "GET");
    assert_string_equal(j->lookup.path, "/c?$filter=k eq '{{key}}'&$top=1");
    assert_true(j->rollback.configured);
    assert_string_equal(j->rollback.method, "POST");
    assert_string_equal(j->rollback.path, "/c/{{key}}/cancel");
    fr_config_free(cfg);
}

#define OPS_JOB                                                                                    \
    "targets:\n  im: { base_url: https://api.example.com }\n"                                      \
    "jobs:\n  j:\n    kind: push\n    target: im\n    source: { type: csv, path: a.csv }\n"        \
    "    request: { path: /c }\n    key: k\n    map: { k: id }\n"

static void test_ops_keys(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(OPS_JOB
                                       "    max_age: 26h\n    schedule: \"30 2 * * 1-5\"\n"
                                       "    timezone: Europe/Berlin\n    metrics_file: out/j.prom\n"
                                       "status: { min_success_rate: 80%, max_dead_letters: 3 }\n"
                                       "alerts:\n  sinks: [ { type: exec, command: ./a.sh } ]\n"
                                       "  evaluate_every: 2s\n"
                                       "  error_rate: { above: 5%, window: 1m }\n"
                                       "  latency_p95: { above: 2s, min_requests: 3 }\n"
                                       "  token_refresh: {}\n  dead_letters: { growth: 2 }\n",
                                       &cfg, &err),
                     FR_OK);
    const struct fr_job_conf *j = &cfg->jobs[0];
    assert_int_equal(j->max_age_ms, 26LL * 3600 * 1000);
    assert_string_equal(j->schedule, "30 2 * * 1-5");
    assert_true(j->cron.minute == 1ull << 30);
    assert_string_equal(j->timezone, "Europe/Berlin");
    assert_string_equal(j->metrics_file, "./out/j.prom");
    assert_int_equal(cfg->nalerts, 1);
    assert_int_equal(cfg->trends->evaluate_ms, 2000);
    assert_true(cfg->trends->error_rate.enabled);
    assert_true(cfg->trends->error_rate.above > 0.049 && cfg->trends->error_rate.above < 0.051);
    assert_int_equal(cfg->trends->error_rate.window_ms, 60000);
    assert_int_equal(cfg->trends->error_rate.min, 10);
    assert_int_equal(cfg->trends->latency_p95.above_ms, 2000);
    assert_int_equal(cfg->trends->latency_p95.window_ms, 300000);
    assert_int_equal(cfg->trends->latency_p95.min, 3);
    assert_true(cfg->trends->token_refresh.enabled);
    assert_int_equal(cfg->trends->token_refresh.min, 3);
    assert_int_equal(cfg->trends->dead_letters.min, 2);
    assert_true(cfg->trends->stale_jobs);
    assert_int_equal(cfg->status->recent_runs, 10);
    assert_int_equal(cfg->status->max_dead_letters, 3);
    fr_config_free(cfg);

    /* Without any of it: nothing scheduled, no trend rule, the status defaults. */
    assert_int_equal(fr_test_conf_load(OPS_JOB, &cfg, &err), FR_OK);
    assert_null(cfg->jobs[0].schedule);
    assert_int_equal(cfg->jobs[0].max_age_ms, 0);
    assert_false(cfg->trends->error_rate.enabled);
    assert_int_equal(cfg->trends->evaluate_ms, 15000);
    assert_int_equal(cfg->status->max_dead_letters, 0);
    fr_config_free(cfg);
}

static void test_ops_errors(void **state)
{
    fr_test_conf_expect_error(
        OPS_JOB "    schedule: \"0 24 * * *\"\n",
        "ferry.yaml:11:15: jobs.j.schedule: invalid schedule \"0 24 * * *\": field 2 "
        "(hour): 24-24 is out of range 0-23",
        NULL);
    fr_test_conf_expect_error(OPS_JOB "    schedule: \"0 2 * *\"\n",
                              "jobs.j.schedule: invalid schedule", "found 4");
    fr_test_conf_expect_error(
        OPS_JOB "    schedule: \"0 2 * * *\"\n    timezone: Mars/Olympus\n",
        "ferry.yaml:12:15: jobs.j.timezone: unknown time zone \"Mars/Olympus\"", NULL);
    fr_test_conf_expect_error(OPS_JOB "    timezone: UTC\n",
                              "jobs.j.timezone: a timezone applies to a schedule", NULL);
    fr_test_conf_expect_error(OPS_JOB "    max_age: 10s\n", "ferry.yaml:11:14: jobs.j.max_age",
                              NULL);
    fr_test_conf_expect_error("alerts:\n  error_rate: { window: 5m }\n",
                              "ferry.yaml:2:15: alerts.error_rate: missing required key \"above\"",
                              NULL);
    fr_test_conf_expect_error("alerts:\n  latency_p95: { above: fast }\n",
                              "ferry.yaml:2:25: "
                              "alerts.latency_p95.above",
                              NULL);
    fr_test_conf_expect_error(
        "alerts:\n  dead_letter: { growth: 1 }\n",
        "unknown key \"dead_letter\" under alerts (did you mean \"dead_letters\"?)", NULL);
    fr_test_conf_expect_error("status:\n  max_dead_letter: 1\n", "ferry.yaml:2:3",
                              "max_dead_letters");
}

static void test_find_job(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(MINIMAL "  weekly:\n" KIND
                                               "    target: crm\n" SOURCE REQ KEY MAP,
                                       &cfg, &err),
                     0);
    assert_int_equal(cfg->njobs, 2);
    const struct fr_job_conf *j = fr_job_find(cfg, "weekly");
    assert_ptr_equal(j, &cfg->jobs[1]);
    assert_string_equal(j->target, "crm");
    assert_int_equal(j->line, 14);
    assert_ptr_equal(fr_job_find(cfg, "nightly"), &cfg->jobs[0]);
    assert_null(fr_job_find(cfg, "monthly"));
    assert_null(fr_job_find(cfg, NULL));
    assert_null(fr_job_find(NULL, "nightly"));
    fr_config_free(cfg);

    /* No jobs section: none. */
    assert_int_equal(fr_test_conf_load("store: sqlite:x.db\n", &cfg, &err), 0);
    assert_int_equal(cfg->njobs, 0);
    assert_null(fr_job_find(cfg, "nightly"));
    fr_config_free(cfg);
}

/* ---- pull jobs ---- */

#define PULL_KIND "    kind: pull\n" /* line 8 */
#define PULL_REQ                                                                                   \
    "    request: { path: /participants, params: { $orderby: participantId, "                      \
    "$top: 100, $filter: \"lastModified gt {{watermark}}\" } }\n"     /* line 10 */
#define PULL_SINK    "    sink: { type: jsonl, path: out/p.jsonl }\n" /* line 11 */
#define PULL_WM      "    watermark: { field: lastModified, initial: \"1970-01-01T00:00:00Z\" }\n"
#define PULL_MINIMAL HEAD PULL_KIND TARGET PULL_REQ PULL_SINK PULL_WM

/* The example of the issue, every key set. */
static void test_pull_full(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load_as(
        HEAD PULL_KIND TARGET PULL_REQ
        "    paging: odata\n"
        "    records: /value\n"
        "    key: participantId\n" PULL_WM "    schema: schemas/participant.json\n"
        "    sink: { type: csv, path: out/p.csv, columns: [participantId, /name] }\n"
        "    rejects: out/p.rejects.jsonl\n"
        "    alert: { max_errors: 5 }\n",
        "conf/ferry.yaml", &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    const struct fr_job_conf *j = fr_job_find(cfg, "nightly");
    assert_int_equal(j->kind, FR_JOB_PULL);
    const struct fr_pull_conf *p = &j->pull;
    assert_string_equal(p->request.path, "/participants");
    assert_int_equal(p->request.nparams, 3);
    assert_string_equal(p->request.params[0].name, "$orderby");
    assert_string_equal(p->request.params[0].value, "participantId");
    assert_string_equal(p->request.params[1].name, "$top");
    assert_string_equal(p->request.params[1].value, "100");
    assert_string_equal(p->request.params[2].value, "lastModified gt {{watermark}}");
    assert_int_equal(p->paging.type, FR_PAGING_ODATA);
    assert_int_equal(p->paging.max_pages, 1000000);
    assert_string_equal(p->records, "/value");
    assert_string_equal(j->key, "participantId");
    assert_true(p->watermark.configured);
    assert_string_equal(p->watermark.field, "lastModified");
    assert_string_equal(json_string_value(p->watermark.initial), "1970-01-01T00:00:00Z");
    assert_string_equal(p->schema, "conf/schemas/participant.json");
    assert_int_equal(p->sink.type, FR_SINK_CSV);
    assert_string_equal(p->sink.path, "conf/out/p.csv");
    assert_int_equal(p->sink.ncolumns, 2);
    assert_string_equal(p->sink.columns[1], "/name");
    assert_string_equal(p->rejects, "conf/out/p.rejects.jsonl");
    assert_int_equal(j->alert.max_errors, 5);
    /* Where the file keys' values are written, for messages about the files (preflight). */
    assert_int_equal(p->schema_pos.line, 15);
    assert_int_equal(p->schema_pos.col, 13);
    assert_int_equal(p->sink.path_pos.line, 16);
    assert_int_equal(p->sink.path_pos.col, 30);
    assert_int_equal(p->rejects_pos.line, 17);
    assert_int_equal(p->rejects_pos.col, 14);
    fr_config_free(cfg);

    /* The smallest pull job: odata paging and /value by default, no watermark, no key. */
    rc = fr_test_conf_load(
        HEAD PULL_KIND TARGET
        "    request: { path: /participants, params: { $orderby: participantId } }\n" PULL_SINK,
        &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    j = fr_job_find(cfg, "nightly");
    assert_int_equal(j->pull.paging.type, FR_PAGING_ODATA);
    assert_string_equal(j->pull.records, "/value");
    assert_false(j->pull.watermark.configured);
    assert_null(j->key);
    assert_null(j->pull.rejects);
    assert_int_equal(j->pull.rejects_pos.line, 0);
    assert_int_equal(j->pull.schema_pos.line, 0);
    assert_string_equal(j->pull.sink.path, "./out/p.jsonl");
    fr_config_free(cfg);
}

static void test_pull_paging(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    int rc = fr_test_conf_load(PULL_MINIMAL
                               "    paging: { type: cursor, path: /next_cursor, param: cursor }\n",
                               &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    const struct fr_paging_conf *pg = &fr_job_find(cfg, "nightly")->pull.paging;
    assert_int_equal(pg->type, FR_PAGING_CURSOR);
    assert_string_equal(pg->cursor_path, "/next_cursor");
    assert_string_equal(pg->cursor_param, "cursor");
    fr_config_free(cfg);

    rc = fr_test_conf_load(PULL_MINIMAL "    paging: { type: link, allow_hosts: [cdn.example.com], "
                                        "max_pages: 50 }\n",
                           &cfg, &err);
    assert_int_equal(rc, 0);
    pg = &fr_job_find(cfg, "nightly")->pull.paging;
    assert_int_equal(pg->type, FR_PAGING_LINK);
    assert_int_equal(pg->nallow_hosts, 1);
    assert_string_equal(pg->allow_hosts[0], "cdn.example.com");
    assert_int_equal(pg->max_pages, 50);
    fr_config_free(cfg);

    rc = fr_test_conf_load(PULL_MINIMAL "    paging: none\n", &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(fr_job_find(cfg, "nightly")->pull.paging.type, FR_PAGING_NONE);
    fr_config_free(cfg);

    fr_test_conf_expect_error(
        PULL_MINIMAL "    paging: cursor\n",
        "ferry.yaml:13:13: jobs.nightly.paging: cursor paging needs to know where the "
        "cursor is",
        "{ type: cursor, path: /next_cursor, param: cursor }");
    fr_test_conf_expect_error(
        PULL_MINIMAL "    paging: odat\n",
        "ferry.yaml:13:13: jobs.nightly.paging: invalid paging \"odat\" (did you mean "
        "\"odata\"?)",
        NULL);
    fr_test_conf_expect_error(PULL_MINIMAL "    paging: { type: cursor, path: /next }\n",
                              "jobs.nightly.paging: missing required key \"param\"", NULL);
    fr_test_conf_expect_error(
        PULL_MINIMAL "    paging: { type: odata, param: cursor }\n",
        "key \"param\" does not apply to paging type \"odata\" (it belongs to \"cursor\")", NULL);
    fr_test_conf_expect_error(PULL_MINIMAL "    paging: { type: link, allow_hosts: [] }\n",
                              "jobs.nightly.paging.allow_hosts: the list is empty", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET "    request: { path: /p, params: { cursor: abc } }\n" PULL_SINK
                              "    paging: { type: cursor, path: /next, param: cursor }\n",
        "jobs.nightly.paging.param: \"cursor\" is also in request.params", NULL);
}

static void test_pull_warnings(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    /* OData without $orderby: a warning naming the risk. */
    int rc = fr_test_conf_load(
        HEAD PULL_KIND TARGET "    request: { path: /participants }\n" PULL_SINK, &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "ferry.yaml:10:14: jobs.nightly: OData paging "
                                             "without $orderby: pages can shift between requests"));
    fr_config_free(cfg);
    /* $orderby in the path's own query counts; other paging types do not need it. */
    rc = fr_test_conf_load(
        HEAD PULL_KIND TARGET "    request: { path: \"/p?$orderby=id\" }\n" PULL_SINK, &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    fr_config_free(cfg);
    rc = fr_test_conf_load(HEAD PULL_KIND TARGET "    request: { path: /p }\n" PULL_SINK
                                                 "    paging: link\n",
                           &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    fr_config_free(cfg);
    /* A watermark no parameter uses. */
    rc = fr_test_conf_load(HEAD PULL_KIND TARGET
                           "    request: { path: \"/p?$orderby=id\" }\n" PULL_SINK PULL_WM,
                           &cfg, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "no request parameter uses {{watermark}}"));
    fr_config_free(cfg);
}

static void test_pull_errors(void **state)
{
    /* Push keys in a pull job and the other way round. */
    fr_test_conf_expect_error(
        PULL_MINIMAL "    source: { type: csv, path: in.csv }\n",
        "ferry.yaml:13:5: jobs.nightly: key \"source\" does not apply to job kind "
        "\"pull\" (it belongs to \"push\")",
        NULL);
    fr_test_conf_expect_error(
        MINIMAL "    sink: { type: jsonl, path: x.jsonl }\n",
        "key \"sink\" does not apply to job kind \"push\" (it belongs to \"pull\")", NULL);
    fr_test_conf_expect_error(HEAD PULL_KIND TARGET PULL_REQ PULL_WM,
                              "ferry.yaml:8:5: jobs.nightly: missing required key \"sink\"", NULL);
    fr_test_conf_expect_error(HEAD PULL_KIND TARGET PULL_SINK PULL_WM,
                              "jobs.nightly: missing required key \"request\"", NULL);
    /* The push request's keys are not a pull request's. */
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET "    request: { path: /p, batch_size: 10 }\n" PULL_SINK,
        "ferry.yaml:10:26: unknown key \"batch_size\" under jobs.nightly.request", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET "    request: { path: p }\n" PULL_SINK,
        "jobs.nightly.request.path: invalid path \"p\" (it must start with /)", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET "    request: { path: /p, params: { $top: [1] } }\n" PULL_SINK,
        "jobs.nightly.request.params.$top: expected a single value, found a sequence", NULL);
    /* Sinks. */
    fr_test_conf_expect_error(PULL_MINIMAL "    sink: { type: csv, path: x.csv }\n",
                              "ferry.yaml:13:5: duplicate key \"sink\"", NULL);
    fr_test_conf_expect_error(HEAD PULL_KIND TARGET PULL_REQ PULL_WM
                              "    sink: { type: csv, path: x.csv }\n",
                              "jobs.nightly.sink: missing required key \"columns\"", NULL);
    fr_test_conf_expect_error(HEAD PULL_KIND TARGET PULL_REQ PULL_WM
                              "    sink: { type: sqlite, path: out.db, table: people }\n",
                              "jobs.nightly.key: a sqlite sink upserts by key", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET PULL_REQ PULL_WM
        "    key: id\n    sink: { type: sqlite, path: out.db, table: \"drop table\" }\n",
        "jobs.nightly.sink.table: invalid table name \"drop table\"", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET PULL_REQ PULL_WM
        "    key: id\n    sink: { type: sqlite, path: out.db, table: t, columns: [key] }\n",
        "jobs.nightly.sink.columns[0]: invalid column \"key\" for a sqlite sink", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET PULL_REQ PULL_WM
        "    sink: { type: jsonl, path: x.jsonl, table: t }\n",
        "key \"table\" does not apply to sink type \"jsonl\" (it belongs to \"sqlite\")", NULL);
    fr_test_conf_expect_error(
        "store: sqlite:data.db\n" HEAD PULL_KIND TARGET PULL_REQ PULL_WM
        "    key: id\n    sink: { type: sqlite, path: data.db, table: t }\n",
        "jobs.nightly.sink.path: the sink is the store's own file (sqlite:data.db)", NULL);
    fr_test_conf_expect_error(PULL_MINIMAL "    rejects: out/p.jsonl\n",
                              "jobs.nightly.rejects: the rejects file is the sink's own file",
                              NULL);
    /* Watermark. */
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET PULL_REQ PULL_SINK,
        "ferry.yaml:10:45: jobs.nightly.request.params: a parameter uses {{watermark}} "
        "but the job has no watermark",
        NULL);
    fr_test_conf_expect_error(HEAD PULL_KIND TARGET PULL_REQ PULL_SINK
                              "    watermark: { field: lastModified }\n",
                              "jobs.nightly.watermark: missing required key \"initial\"", NULL);
    fr_test_conf_expect_error(
        HEAD PULL_KIND TARGET PULL_REQ PULL_SINK
        "    watermark: { field: lastModified, initial: true }\n",
        "ferry.yaml:12:48: jobs.nightly.watermark.initial: the initial watermark must be "
        "a string or a number",
        NULL);
    fr_test_conf_expect_error(PULL_MINIMAL "    records: value\n",
                              "jobs.nightly.records: invalid JSON pointer \"value\"", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_full_job, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_sources, setup),
        cmocka_unit_test_setup(test_job_errors, setup),
        cmocka_unit_test_setup(test_map_errors, setup),
        cmocka_unit_test_setup(test_source_errors, setup),
        cmocka_unit_test_setup(test_lookup_rollback, setup),
        cmocka_unit_test_setup(test_ops_keys, setup),
        cmocka_unit_test_setup(test_ops_errors, setup),
        cmocka_unit_test_setup(test_find_job, setup),
        cmocka_unit_test_setup(test_pull_full, setup),
        cmocka_unit_test_setup(test_pull_paging, setup),
        cmocka_unit_test_setup(test_pull_warnings, setup),
        cmocka_unit_test_setup(test_pull_errors, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
