/* The targets section (src/http/http_conf.c): keys, defaults, bounds, messages. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <limits.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "core/redact.h"
#include "cli/sections.h"
#include "conftest.h"
#include "job/job_conf.h"

static int setup(void **state)
{
    setenv("ICM_CLIENT_ID", "ferry-client", 1);
    setenv("ICM_CLIENT_SECRET", "s3cr3t-from-env-0042", 1);
    unsetenv("FERRY_TEST_UNSET");
    fr_redact_reset();
    return 0;
}

static const char full_yaml[] =
    "store: sqlite:/var/lib/ferry/ferry.db\n"
    "targets:\n"
    "  im:\n"
    "    base_url: https://api.example.com/icm/\n"
    "    api_version: { header: API-Version, value: \"2024-06\" }\n"
    "    auth:\n"
    "      type: oauth2_client_credentials\n"
    "      token_url: https://api.example.com/oauth/token\n"
    "      client_id: ${ICM_CLIENT_ID}\n"
    "      client_secret: ${ICM_CLIENT_SECRET}\n"
    "      scope: im.write\n"
    "      refresh_before: 2m\n"
    "    rate_limit: 600/min\n"
    "    retry: { max_attempts: 7, base: 500ms, cap: 1m, max_elapsed: 20m, budget: 10% }\n"
    "    timeout: { connect: 3s, total: 45s }\n"
    "    max_in_flight: 16\n"
    "    probe: { method: HEAD, path: /participants?$top=1 }\n"
    "    body_errors:\n"
    "      - { path: /success, equals: false, message: /error, retry: false }\n"
    "      - { path: /code, equals: 42 }\n"
    "      - { path: /rate, equals: 0.5 }\n"
    "      - { path: /status, equals: \"false\" }\n"
    "      - { path: /err, equals: null }\n"
    "      - { path: /kind, equals: FAILED }\n"
    "      - { path: /n, equals: '12' }\n"
    "  crm:\n"
    "    base_url: http://127.0.0.1:8089\n"
    "    api_version: { path: /v2/ }\n"
    "    rate_limit: adaptive\n";

static void test_full_config(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load(full_yaml, &cfg, &err), 0);
    assert_string_equal(cfg->store, "sqlite:/var/lib/ferry/ferry.db");
    assert_string_equal(cfg->path, "ferry.yaml");
    assert_string_equal(cfg->dir, ".");
    assert_int_equal(cfg->ntargets, 2);
    assert_int_equal(cfg->nwarnings, 0);

    const struct fr_target_conf *t = fr_target_find(cfg, "im");
    assert_non_null(t);
    assert_string_equal(t->name, "im");
    assert_int_equal(t->line, 3);
    assert_int_equal(t->col, 3);
    assert_string_equal(t->base_url, "https://api.example.com/icm");
    assert_string_equal(t->api_version_header, "API-Version");
    assert_string_equal(t->api_version_value, "2024-06");
    assert_null(t->api_version_path);
    assert_int_equal(t->auth.type, FR_AUTH_OAUTH2_CC);
    assert_string_equal(t->auth.token_url, "https://api.example.com/oauth/token");
    assert_string_equal(t->auth.client_id, "ferry-client");
    assert_string_equal(t->auth.client_secret, "s3cr3t-from-env-0042");
    assert_string_equal(t->auth.scope, "im.write");
    assert_int_equal(t->auth.refresh_before_ms, 120000);
    assert_int_equal(t->rate_limit.mode, FR_RATE_FIXED);
    assert_int_equal(t->rate_limit.rate.count, 600);
    assert_int_equal(t->rate_limit.rate.window_ms, 60000);
    assert_int_equal(t->retry.max_attempts, 7);
    assert_int_equal(t->retry.base_ms, 500);
    assert_int_equal(t->retry.cap_ms, 60000);
    assert_int_equal(t->retry.max_elapsed_ms, 1200000);
    assert_true(t->retry.budget > 0.0999 && t->retry.budget < 0.1001);
    assert_int_equal(t->connect_timeout_ms, 3000);
    assert_int_equal(t->total_timeout_ms, 45000);
    assert_int_equal(t->max_in_flight, 16);
    assert_string_equal(t->probe_method, "HEAD");
    assert_string_equal(t->probe_path, "/participants?$top=1");
    assert_false(t->insecure_skip_verify);

    assert_int_equal(t->nbody_errors, 7);
    const struct fr_body_rule *r = t->body_errors;
    assert_string_equal(r[0].path, "/success");
    assert_true(json_is_false(r[0].equals));
    assert_string_equal(r[0].message, "/error");
    assert_false(r[0].retry);
    assert_true(json_is_integer(r[1].equals));
    assert_int_equal(json_integer_value(r[1].equals), 42);
    assert_null(r[1].message);
    assert_true(r[1].retry);
    assert_true(json_is_real(r[2].equals));
    assert_true(json_real_value(r[2].equals) == 0.5);
    assert_true(json_is_string(r[3].equals));
    assert_string_equal(json_string_value(r[3].equals), "false");
    assert_true(json_is_null(r[4].equals));
    assert_true(json_is_string(r[5].equals));
    assert_string_equal(json_string_value(r[5].equals), "FAILED");
    assert_true(json_is_string(r[6].equals));
    assert_string_equal(json_string_value(r[6].equals), "12");

    t = fr_target_find(cfg, "crm");
    assert_non_null(t);
    assert_string_equal(t->base_url, "http://127.0.0.1:8089");
    assert_string_equal(t->api_version_path, "v2");
    assert_null(t->api_version_header);
    assert_int_equal(t->rate_limit.mode, FR_RATE_ADAPTIVE);
    assert_null(fr_target_find(cfg, "nope"));
    fr_config_free(cfg);
}

static void test_defaults(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(
        fr_test_conf_load("targets:\n  a:\n    base_url: http://localhost:1\n", &cfg, &err), 0);
    assert_string_equal(cfg->store, "sqlite:ferry.db");
    const struct fr_target_conf *t = &cfg->targets[0];
    assert_int_equal(t->auth.type, FR_AUTH_NONE);
    assert_int_equal(t->auth.refresh_before_ms, 60000);
    assert_string_equal(t->auth.header, "X-API-Key");
    assert_int_equal(t->rate_limit.mode, FR_RATE_NONE);
    assert_int_equal(t->retry.max_attempts, 5);
    assert_int_equal(t->retry.base_ms, 1000);
    assert_int_equal(t->retry.cap_ms, 30000);
    assert_int_equal(t->retry.max_elapsed_ms, 600000);
    assert_true(t->retry.budget > 0.1999 && t->retry.budget < 0.2001);
    assert_int_equal(t->connect_timeout_ms, 5000);
    assert_int_equal(t->total_timeout_ms, 30000);
    assert_int_equal(t->max_in_flight, 4);
    assert_string_equal(t->probe_method, "GET");
    assert_string_equal(t->probe_path, "/");
    assert_int_equal(t->nbody_errors, 0);
    assert_null(t->body_errors);
    fr_config_free(cfg);

    /* An empty file is a config of defaults with no targets. */
    assert_int_equal(fr_test_conf_load("# nothing yet\n", &cfg, &err), 0);
    assert_string_equal(cfg->store, "sqlite:ferry.db");
    assert_int_equal(cfg->ntargets, 0);
    fr_config_free(cfg);

    /* Built by hand. */
    struct fr_target_conf hand;
    fr_target_conf_defaults(&hand);
    assert_int_equal(hand.max_in_flight, 4);
    assert_string_equal(hand.probe_method, "GET");
    fr_target_conf_release(&hand);
    fr_target_conf_release(NULL);
    fr_config_free(NULL);
}

static void test_auth_types(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    setenv("FERRY_TEST_KEY", "api-key-value-77", 1);
    assert_int_equal(
        fr_test_conf_load(
            "targets:\n"
            "  a:\n"
            "    base_url: http://localhost:1\n"
            "    auth: { type: api_key, header: X-Key, value: \"${FERRY_TEST_KEY}\" }\n"
            "  b:\n"
            "    base_url: http://localhost:1\n"
            "    auth: { type: api_key, value: \"${FERRY_TEST_KEY}\" }\n"
            "  c:\n"
            "    base_url: http://localhost:1\n"
            "    auth:\n"
            "      type: bearer\n"
            "      token: ${FERRY_TEST_KEY}\n"
            "  d:\n"
            "    base_url: http://localhost:1\n"
            "    auth: { type: none }\n",
            &cfg, &err),
        0);
    assert_int_equal(cfg->targets[0].auth.type, FR_AUTH_API_KEY);
    assert_string_equal(cfg->targets[0].auth.header, "X-Key");
    assert_string_equal(cfg->targets[0].auth.value, "api-key-value-77");
    assert_string_equal(cfg->targets[1].auth.header, "X-API-Key");
    assert_int_equal(cfg->targets[2].auth.type, FR_AUTH_BEARER);
    assert_string_equal(cfg->targets[2].auth.token, "api-key-value-77");
    assert_int_equal(cfg->targets[3].auth.type, FR_AUTH_NONE);
    assert_int_equal(cfg->nwarnings, 0);
    fr_config_free(cfg);
}

static void test_unknown_key_suggestion(void **state)
{
    fr_test_conf_expect_error("targets:\n"
                              "  im:\n"
                              "    base_url: http://localhost:1\n"
                              "    retry:\n"
                              "      max_atempts: 3\n",
                              "ferry.yaml:5:7: unknown key \"max_atempts\" under targets.im.retry",
                              "(did you mean \"max_attempts\"?)");
    fr_test_conf_expect_error("targets:\n"
                              "  im:\n"
                              "    base_url: http://localhost:1\n"
                              "    retires: { base: 1s }\n",
                              "ferry.yaml:4:5: unknown key \"retires\" under targets.im",
                              "(did you mean \"retry\"?)");
    fr_test_conf_expect_error("store: sqlite:x.db\n"
                              "target:\n"
                              "  im: {}\n",
                              "ferry.yaml:2:1: unknown key \"target\" at the top level",
                              "(did you mean \"targets\"?)");
    /* Nothing close: no suggestion. */
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(fr_test_conf_load("zzzzzzzz: 1\n", &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:1:1: unknown key \"zzzzzzzz\""));
    assert_null(strstr(err.msg, "did you mean"));
}

static void test_invalid_values(void **state)
{
    fr_test_conf_expect_error(
        "targets:\n"
        "  im:\n"
        "    base_url: http://localhost:1\n"
        "    timeout:\n"
        "      connect: 5s\n"
        "      total: 30\n",
        "ferry.yaml:6:14: targets.im.timeout.total: invalid duration \"30\" (missing "
        "unit; write e.g. 250ms, 90s, 5m or 2h)",
        NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://localhost:1, timeout: { total: 0 } }\n",
        "ferry.yaml:2:57: targets.im.timeout.total: 0 is too short (at least 1ms)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://localhost:1, max_in_flight: 300 }\n",
        "ferry.yaml:2:54: targets.im.max_in_flight: 300 is out of range (1..256)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://localhost:1, retry: { max_attempts: 0 } }\n",
        "targets.im.retry.max_attempts: 0 is out of range (1..100)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://localhost:1, retry: { base: 1m, cap: 30s } }\n",
        "ferry.yaml:2:54: targets.im.retry: base (1m) must not be greater than cap (30s)", NULL);
    fr_test_conf_expect_error("targets:\n"
                              "  im: { base_url: http://localhost:1, retry: { budget: 120% } }\n",
                              "targets.im.retry.budget: invalid percentage \"120%\"", NULL);
    fr_test_conf_expect_error("targets:\n"
                              "  im: { base_url: ftp://x }\n",
                              "ferry.yaml:2:19: targets.im.base_url: invalid URL \"ftp://x\"",
                              NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, rate_limit: 10/fortnight }\n",
        "targets.im.rate_limit: invalid rate \"10/fortnight\" (unknown rate unit", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, insecure_skip_verify: yes }\n",
        "targets.im.insecure_skip_verify: invalid boolean \"yes\" (write true or false)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, probe: { method: GTE } }\n",
        "targets.im.probe.method: invalid value \"GTE\" (did you mean \"GET\"?)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, probe: { path: health } }\n",
        "targets.im.probe.path: invalid path \"health\" (it must start with /)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, auth: { type: kerberos } }\n",
        "targets.im.auth.type: invalid value \"kerberos\" (use one of \"none\", "
        "\"oauth2_client_credentials\", \"api_key\", \"bearer\")",
        NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, body_errors: [ { path: success, equals: false } ] }\n",
        "targets.im.body_errors[0].path: invalid JSON pointer \"success\"", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, body_errors: [ { path: /x, equals: .inf } ] }\n",
        "targets.im.body_errors[0].equals: \".inf\" has no JSON form", NULL);
}

static void test_wrong_types(void **state)
{
    fr_test_conf_expect_error(
        "targets:\n"
        "  im:\n"
        "    base_url: http://x\n"
        "    retry:\n"
        "      - 1s\n",
        "ferry.yaml:5:7: targets.im.retry: expected a mapping (key: value pairs), found a "
        "sequence",
        NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  - im\n",
        "ferry.yaml:2:3: targets: expected a mapping (key: value pairs), found a sequence", NULL);
    fr_test_conf_expect_error("targets:\n", "ferry.yaml:1:9: targets: expected a mapping",
                              "an empty value");
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: [ http://x ] }\n",
        "ferry.yaml:2:19: targets.im.base_url: expected a single value, found a sequence", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, body_errors: { path: /x } }\n",
        "targets.im.body_errors: expected a sequence (a list), found a mapping", NULL);
    fr_test_conf_expect_error("- a\n- b\n", "ferry.yaml:1:1: expected a mapping", NULL);
}

static void test_missing_and_duplicate(void **state)
{
    fr_test_conf_expect_error("targets:\n"
                              "  im:\n"
                              "    max_in_flight: 2\n",
                              "ferry.yaml:3:5: targets.im: missing required key \"base_url\"",
                              NULL);
    fr_test_conf_expect_error("targets:\n"
                              "  im:\n"
                              "    base_url: http://x\n"
                              "    auth:\n"
                              "      type: oauth2_client_credentials\n"
                              "      client_id: abc\n"
                              "      client_secret: ${ICM_CLIENT_SECRET}\n",
                              "ferry.yaml:5:7: targets.im.auth: missing required key \"token_url\"",
                              NULL);
    fr_test_conf_expect_error("targets:\n"
                              "  im:\n"
                              "    base_url: http://x\n"
                              "    auth:\n"
                              "      token: ${ICM_CLIENT_SECRET}\n",
                              "ferry.yaml:5:7: targets.im.auth: missing required key \"type\"",
                              NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im:\n"
        "    base_url: http://x\n"
        "    retry: { cap: 5s }\n"
        "    base_url: http://y\n",
        "ferry.yaml:5:5: duplicate key \"base_url\" under targets.im (first at line 3:5)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x }\n"
        "  im: { base_url: http://y }\n",
        "ferry.yaml:3:3: duplicate key \"im\" under targets (first at line 2:3)", NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, body_errors: [ { equals: 1 } ] }\n",
        "ferry.yaml:2:44: targets.im.body_errors[0]: missing required key \"path\"", NULL);
}

static void test_auth_keys_by_type(void **state)
{
    fr_test_conf_expect_error(
        "targets:\n"
        "  im:\n"
        "    base_url: http://x\n"
        "    auth:\n"
        "      type: bearer\n"
        "      token: ${ICM_CLIENT_SECRET}\n"
        "      token_url: http://localhost/token\n",
        "ferry.yaml:7:7: targets.im.auth: key \"token_url\" does not apply to auth type "
        "\"bearer\" (it belongs to \"oauth2_client_credentials\")",
        NULL);
    fr_test_conf_expect_error(
        "targets:\n"
        "  im:\n"
        "    base_url: http://x\n"
        "    auth: { type: none, header: X-Key }\n",
        "key \"header\" does not apply to auth type \"none\" (it belongs to \"api_key\")", NULL);
}

static void test_api_version_rules(void **state)
{
    fr_test_conf_expect_error(
        "targets:\n"
        "  im: { base_url: http://x, api_version: { header: V, value: '1', path: v1 } }\n",
        "ferry.yaml:2:42: targets.im.api_version: use either header and value, or path", NULL);
    fr_test_conf_expect_error("targets:\n"
                              "  im: { base_url: http://x, api_version: { header: V } }\n",
                              "targets.im.api_version: missing required key \"value\"", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_full_config, setup),
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_auth_types, setup),
        cmocka_unit_test_setup(test_unknown_key_suggestion, setup),
        cmocka_unit_test_setup(test_invalid_values, setup),
        cmocka_unit_test_setup(test_wrong_types, setup),
        cmocka_unit_test_setup(test_missing_and_duplicate, setup),
        cmocka_unit_test_setup(test_auth_keys_by_type, setup),
        cmocka_unit_test_setup(test_api_version_rules, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fr_redact_reset();
    return rc;
}
