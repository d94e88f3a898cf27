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
#include "job/job_conf.h"

/* Loads yaml as "ferry.yaml"; returns the code, leaves the config or the error. */
static int load(const char *yaml, struct fr_config **cfg, struct fr_err *err)
{
    fr_err_clear(err);
    return fr_config_load_string(yaml, strlen(yaml), "ferry.yaml", fr_cli_sections(), cfg, err);
}

/* Asserts that yaml fails with FR_ECONFIG and a message containing each fragment. */
static void expect_error(const char *yaml, const char *frag1, const char *frag2)
{
    struct fr_config *cfg = NULL;
    struct fr_err err;
    int rc = load(yaml, &cfg, &err);
    if (rc != FR_ECONFIG || !strstr(err.msg, frag1) || (frag2 && !strstr(err.msg, frag2)))
        print_error("unexpected result %d: %s\n", rc, err.msg);
    assert_int_equal(rc, FR_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, frag1));
    if (frag2)
        assert_non_null(strstr(err.msg, frag2));
}

static bool has_warning(const struct fr_config *cfg, const char *frag)
{
    for (size_t i = 0; i < cfg->nwarnings; i++)
        if (strstr(cfg->warnings[i], frag))
            return true;
    return false;
}

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
    assert_int_equal(load(full_yaml, &cfg, &err), 0);
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
    assert_int_equal(load("targets:\n  a:\n    base_url: http://localhost:1\n", &cfg, &err), 0);
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
    assert_int_equal(load("# nothing yet\n", &cfg, &err), 0);
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
        load("targets:\n"
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
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://localhost:1\n"
                 "    retry:\n"
                 "      max_atempts: 3\n",
                 "ferry.yaml:5:7: unknown key \"max_atempts\" under targets.im.retry",
                 "(did you mean \"max_attempts\"?)");
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://localhost:1\n"
                 "    retires: { base: 1s }\n",
                 "ferry.yaml:4:5: unknown key \"retires\" under targets.im",
                 "(did you mean \"retry\"?)");
    expect_error("store: sqlite:x.db\n"
                 "target:\n"
                 "  im: {}\n",
                 "ferry.yaml:2:1: unknown key \"target\" at the top level",
                 "(did you mean \"targets\"?)");
    /* Nothing close: no suggestion. */
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(load("zzzzzzzz: 1\n", &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:1:1: unknown key \"zzzzzzzz\""));
    assert_null(strstr(err.msg, "did you mean"));
}

static void test_invalid_values(void **state)
{
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://localhost:1\n"
                 "    timeout:\n"
                 "      connect: 5s\n"
                 "      total: 30\n",
                 "ferry.yaml:6:14: targets.im.timeout.total: invalid duration \"30\" (missing "
                 "unit; write e.g. 250ms, 90s, 5m or 2h)",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://localhost:1, timeout: { total: 0 } }\n",
                 "ferry.yaml:2:57: targets.im.timeout.total: 0 is too short (at least 1ms)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://localhost:1, max_in_flight: 300 }\n",
                 "ferry.yaml:2:54: targets.im.max_in_flight: 300 is out of range (1..256)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://localhost:1, retry: { max_attempts: 0 } }\n",
                 "targets.im.retry.max_attempts: 0 is out of range (1..100)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://localhost:1, retry: { base: 1m, cap: 30s } }\n",
                 "ferry.yaml:2:54: targets.im.retry: base (1m) must not be greater than cap (30s)",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://localhost:1, retry: { budget: 120% } }\n",
                 "targets.im.retry.budget: invalid percentage \"120%\"", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: ftp://x }\n",
                 "ferry.yaml:2:19: targets.im.base_url: invalid URL \"ftp://x\"", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, rate_limit: 10/fortnight }\n",
                 "targets.im.rate_limit: invalid rate \"10/fortnight\" (unknown rate unit", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, insecure_skip_verify: yes }\n",
                 "targets.im.insecure_skip_verify: invalid boolean \"yes\" (write true or false)",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, probe: { method: GTE } }\n",
                 "targets.im.probe.method: invalid value \"GTE\" (did you mean \"GET\"?)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, probe: { path: health } }\n",
                 "targets.im.probe.path: invalid path \"health\" (it must start with /)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, auth: { type: kerberos } }\n",
                 "targets.im.auth.type: invalid value \"kerberos\" (use one of \"none\", "
                 "\"oauth2_client_credentials\", \"api_key\", \"bearer\")",
                 NULL);
    expect_error(
        "targets:\n"
        "  im: { base_url: http://x, body_errors: [ { path: success, equals: false } ] }\n",
        "targets.im.body_errors[0].path: invalid JSON pointer \"success\"", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, body_errors: [ { path: /x, equals: .inf } ] }\n",
                 "targets.im.body_errors[0].equals: \".inf\" has no JSON form", NULL);
}

static void test_wrong_types(void **state)
{
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    retry:\n"
                 "      - 1s\n",
                 "ferry.yaml:5:7: targets.im.retry: expected a mapping (key: value pairs), found a "
                 "sequence",
                 NULL);
    expect_error("targets:\n"
                 "  - im\n",
                 "ferry.yaml:2:3: targets: expected a mapping (key: value pairs), found a sequence",
                 NULL);
    expect_error("targets:\n", "ferry.yaml:1:9: targets: expected a mapping", "an empty value");
    expect_error("targets:\n"
                 "  im: { base_url: [ http://x ] }\n",
                 "ferry.yaml:2:19: targets.im.base_url: expected a single value, found a sequence",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, body_errors: { path: /x } }\n",
                 "targets.im.body_errors: expected a sequence (a list), found a mapping", NULL);
    expect_error("- a\n- b\n", "ferry.yaml:1:1: expected a mapping", NULL);
}

static void test_missing_and_duplicate(void **state)
{
    expect_error("targets:\n"
                 "  im:\n"
                 "    max_in_flight: 2\n",
                 "ferry.yaml:3:5: targets.im: missing required key \"base_url\"", NULL);
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    auth:\n"
                 "      type: oauth2_client_credentials\n"
                 "      client_id: abc\n"
                 "      client_secret: ${ICM_CLIENT_SECRET}\n",
                 "ferry.yaml:5:7: targets.im.auth: missing required key \"token_url\"", NULL);
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    auth:\n"
                 "      token: ${ICM_CLIENT_SECRET}\n",
                 "ferry.yaml:5:7: targets.im.auth: missing required key \"type\"", NULL);
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    retry: { cap: 5s }\n"
                 "    base_url: http://y\n",
                 "ferry.yaml:5:5: duplicate key \"base_url\" under targets.im (first at line 3:5)",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x }\n"
                 "  im: { base_url: http://y }\n",
                 "ferry.yaml:3:3: duplicate key \"im\" under targets (first at line 2:3)", NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, body_errors: [ { equals: 1 } ] }\n",
                 "ferry.yaml:2:44: targets.im.body_errors[0]: missing required key \"path\"", NULL);
}

static void test_auth_keys_by_type(void **state)
{
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    auth:\n"
                 "      type: bearer\n"
                 "      token: ${ICM_CLIENT_SECRET}\n"
                 "      token_url: http://localhost/token\n",
                 "ferry.yaml:7:7: targets.im.auth: key \"token_url\" does not apply to auth type "
                 "\"bearer\" (it belongs to \"oauth2_client_credentials\")",
                 NULL);
    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    auth: { type: none, header: X-Key }\n",
                 "key \"header\" does not apply to auth type \"none\" (it belongs to \"api_key\")",
                 NULL);
}

static void test_api_version_rules(void **state)
{
    expect_error("targets:\n"
                 "  im: { base_url: http://x, api_version: { header: V, value: '1', path: v1 } }\n",
                 "ferry.yaml:2:42: targets.im.api_version: use either header and value, or path",
                 NULL);
    expect_error("targets:\n"
                 "  im: { base_url: http://x, api_version: { header: V } }\n",
                 "targets.im.api_version: missing required key \"value\"", NULL);
}

static void test_syntax_error(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(load("targets:\n  im: { base_url: http://x\n  other: 1\n", &cfg, &err),
                     FR_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "ferry.yaml:"));
    assert_non_null(strstr(err.msg, "YAML syntax error"));

    assert_int_equal(load("a: b\n\tc: d\n", &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:2:1: YAML syntax error while scanning a "
                                    "plain scalar: found a tab character"));

    assert_int_equal(load("store: a\n---\nstore: b\n", &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:2:1: a second YAML document"));
}

/* ---- limits checked before the tree is built --------------------------- */

/* n flow sequences nested in one another, "[[...]]"; the caller frees. */
static char *nested_flow(size_t n)
{
    char *s = fr_malloc(2 * n + 2);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\n';
    s[2 * n + 1] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    /* 64 levels: within the limit, so the walk sees the file (and refuses a sequence). */
    char *yaml = nested_flow(64);
    expect_error(yaml, "ferry.yaml:1:1: expected a mapping (key: value pairs), found a sequence",
                 NULL);
    free(yaml);
    /* 65: refused at the 65th "[". */
    yaml = nested_flow(65);
    expect_error(yaml, "ferry.yaml:1:65: nested deeper than 64 levels (the limit)", NULL);
    free(yaml);

    /* Block mappings: level k starts on line k, at column 2k - 1. */
    struct fr_buf b = FR_BUF_INIT;
    for (int i = 0; i < 65; i++)
        fr_buf_addf(&b, "%*sk%d:\n", 2 * i, "", i);
    expect_error(fr_buf_str(&b), "ferry.yaml:65:129: nested deeper than 64 levels (the limit)",
                 NULL);
    fr_buf_release(&b);

    /* 100,000 levels (200 KB) once took half a minute in libyaml's scanner. */
    yaml = nested_flow(100000);
    assert_int_equal(load(yaml, &cfg, &err), FR_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "ferry.yaml:1:65: nested deeper than 64 levels (the limit)");
    free(yaml);

    /* The pass covers the second document the load reads, and no further. */
    yaml = nested_flow(65);
    char *two = fr_asprintf("store: a\n---\n%s", yaml);
    expect_error(two, "ferry.yaml:3:65: nested deeper than 64 levels (the limit)", NULL);
    free(two);
    two = fr_asprintf("store: a\n---\nstore: b\n---\n%s", yaml);
    expect_error(two, "ferry.yaml:2:1: a second YAML document", NULL);
    free(two);
    free(yaml);
}

/* "billion laughs": each line holds ten aliases of the line before. */
static void test_alias_bomb(void **state)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        fr_buf_addf(&b, "%c: &%c [", c, c);
        for (int i = 0; i < 10; i++)
            fr_buf_addf(&b, "%s*%c", i ? ", " : "", c - 1);
        fr_buf_adds(&b, "]\n");
    }
    /*
     * a stands for 11 nodes, b for 111, c 1111, d 11111: the aliases of b, c
     * and d reach 12330 nodes, and the eighth *d of e passes 100000.
     */
    expect_error(fr_buf_str(&b),
                 "ferry.yaml:5:36: alias *d: aliases expand to more than 100000 nodes (the limit)",
                 NULL);
    fr_buf_release(&b);
    fr_buf_init(&b, 0);

    /*
     * One the config walk follows: 2000 targets share one whose body_errors
     * repeat one rule 2000 times: 4 million rules to parse from 30 KB.
     */
    fr_buf_adds(&b, "targets:\n"
                    "  t0: &t\n"
                    "    base_url: http://127.0.0.1\n"
                    "    body_errors: [&r {path: /a, equals: 1}");
    for (int i = 1; i < 2000; i++)
        fr_buf_adds(&b, ", *r");
    fr_buf_adds(&b, "]\n");
    for (int i = 1; i < 2000; i++)
        fr_buf_addf(&b, "  t%d: *t\n", i);
    expect_error(fr_buf_str(&b), "aliases expand to more than 100000 nodes (the limit)",
                 "ferry.yaml:");
    fr_buf_release(&b);

    /* An alias inside the node it names. */
    expect_error("targets: &t\n  im: *t\n",
                 "ferry.yaml:2:7: alias *t is inside the node it names (a cycle)", NULL);
}

/* An alias list of n aliases of one scalar, under an unknown key. */
static char *alias_list(size_t n)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "x: [&a v");
    for (size_t i = 0; i < n; i++)
        fr_buf_adds(&b, ", *a");
    fr_buf_adds(&b, "]\n");
    return fr_buf_detach(&b, NULL);
}

static void test_alias_and_anchor_limits(void **state)
{
    /* 100000 nodes through aliases: the walk reads the file (and refuses x). */
    char *yaml = alias_list(100000);
    expect_error(yaml, "ferry.yaml:1:1: unknown key \"x\" at the top level", NULL);
    free(yaml);
    yaml = alias_list(100001);
    expect_error(yaml,
                 "ferry.yaml:1:400011: alias *a: aliases expand to more than 100000 nodes (the "
                 "limit)",
                 NULL);
    free(yaml);

    /* 1000 anchors, then 1001. */
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "x:\n");
    for (int i = 0; i < 1000; i++)
        fr_buf_addf(&b, "  - &a%d v\n", i);
    expect_error(fr_buf_str(&b), "ferry.yaml:1:1: unknown key \"x\" at the top level", NULL);
    fr_buf_adds(&b, "  - &a1000 v\n");
    expect_error(fr_buf_str(&b),
                 "ferry.yaml:1002:5: anchor &a1000: more than 1000 anchors in one file (the "
                 "limit)",
                 NULL);
    fr_buf_release(&b);
}

/* Duplicate keys are found by sorting: a mapping of 300,000 keys took minutes pair by pair. */
static void test_many_keys(void **state)
{
    struct fr_buf b = FR_BUF_INIT;
    for (int i = 0; i < 300000; i++)
        fr_buf_addf(&b, "k%d: 1\n", i);
    fr_buf_adds(&b, "k12: 2\n");
    expect_error(fr_buf_str(&b),
                 "ferry.yaml:300001:1: duplicate key \"k12\" at the top level (first at line 13:1)",
                 NULL);
    fr_buf_release(&b);

    /* The first offender in file order wins: a repeat before a key that is not a name... */
    expect_error("targets:\n"
                 "  a: { base_url: http://x }\n"
                 "  b: { base_url: http://x }\n"
                 "  a: { base_url: http://x }\n"
                 "  a: { base_url: http://x }\n"
                 "  [x]: 1\n"
                 "  b: { base_url: http://x }\n",
                 "ferry.yaml:4:3: duplicate key \"a\" under targets (first at line 2:3)", NULL);
    /* ...and a key that is not a name before a repeat. */
    expect_error("targets:\n"
                 "  a: { base_url: http://x }\n"
                 "  [x]: 1\n"
                 "  a: { base_url: http://x }\n",
                 "ferry.yaml:3:3: targets: a key must be a plain name, found a sequence", NULL);
}

/* Anchors and aliases as an operator writes them keep working. */
static void test_ordinary_aliases(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: https://im.example.com\n"
                          "    auth: &auth { type: bearer, token: \"${ICM_CLIENT_SECRET}\" }\n"
                          "    retry: &retry { max_attempts: 3, base: 200ms }\n"
                          "    timeout: &timeout { connect: 2s, total: 9s }\n"
                          "  crm:\n"
                          "    base_url: https://crm.example.com\n"
                          "    auth: *auth\n"
                          "    retry: *retry\n"
                          "    timeout: *timeout\n",
                          &cfg, &err),
                     0);
    const struct fr_target_conf *t = fr_target_find(cfg, "crm");
    assert_non_null(t);
    assert_int_equal(t->auth.type, FR_AUTH_BEARER);
    assert_string_equal(t->auth.token, "s3cr3t-from-env-0042");
    assert_int_equal(t->retry.max_attempts, 3);
    assert_int_equal(t->retry.base_ms, 200);
    assert_int_equal(t->total_timeout_ms, 9000);
    fr_config_free(cfg);
}

static void test_unreadable_file(void **state)
{
    struct fr_config *cfg;
    struct fr_err err = {0};
    assert_int_equal(fr_config_load("/nonexistent/dir/ferry.yaml", fr_cli_sections(), &cfg, &err),
                     FR_EIO);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/ferry.yaml"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
}

static void test_directory_is_unreadable(void **state)
{
    struct fr_config *cfg;
    struct fr_err err = {0};
    assert_int_equal(fr_config_load("/tmp", fr_cli_sections(), &cfg, &err), FR_EIO);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "cannot read config file \"/tmp\": Is a directory"));
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/ferry-config-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *yaml = "targets:\n  im:\n    base_url: http://localhost:9\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    struct fr_config *cfg;
    struct fr_err err = {0};
    assert_int_equal(fr_config_load(path, fr_cli_sections(), &cfg, &err), 0);
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->dir, "/tmp");
    assert_string_equal(cfg->targets[0].base_url, "http://localhost:9");
    fr_config_free(cfg);

    /* Errors name the file as given. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    yaml = "targets:\n  im:\n    base_url: http://localhost:9\n    timout: {}\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    assert_int_equal(fr_config_load(path, fr_cli_sections(), &cfg, &err), FR_ECONFIG);
    char *want = fr_asprintf("%s:4:5: unknown key \"timout\" under targets.im (did you mean "
                             "\"timeout\"?)",
                             path);
    assert_string_equal(err.msg, want);
    free(want);
    unlink(path);
}

static void test_env_expansion(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    setenv("FERRY_TEST_HOST", "api.example.com", 1);
    assert_int_equal(load("store: \"sqlite:${FERRY_TEST_HOST}.db\"\n"
                          "targets:\n"
                          "  im:\n"
                          "    base_url: https://${FERRY_TEST_HOST}:8443/x$y\n"
                          "    probe: { path: \"/p?$top=1&$filter=a$$b\" }\n",
                          &cfg, &err),
                     0);
    assert_string_equal(cfg->store, "sqlite:api.example.com.db");
    assert_string_equal(cfg->targets[0].base_url, "https://api.example.com:8443/x$y");
    assert_string_equal(cfg->targets[0].probe_path, "/p?$top=1&$filter=a$$b");
    fr_config_free(cfg);

    expect_error("targets:\n"
                 "  im:\n"
                 "    base_url: http://x\n"
                 "    auth:\n"
                 "      type: oauth2_client_credentials\n"
                 "      token_url: http://127.0.0.1:8089/oauth/token\n"
                 "      client_id: id-${FERRY_TEST_UNSET}\n"
                 "      client_secret: ${ICM_CLIENT_SECRET}\n",
                 "ferry.yaml:7:18: targets.im.auth.client_id: environment variable "
                 "FERRY_TEST_UNSET is not set",
                 NULL);
    expect_error("store: ${FERRY_TEST_HOST\n", "ferry.yaml:1:8: store: unterminated ${", NULL);
    expect_error("store: \"${1X}\"\n", "store: invalid environment variable name \"1X\"", NULL);
}

/* Writes content to a new temp file in dir with mode; returns its path (caller frees). */
static char *temp_secret(const char *content, mode_t mode)
{
    char *path = fr_strdup("/tmp/ferry-secret-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static char *oauth_yaml(const char *secret)
{
    return fr_asprintf("targets:\n"
                       "  im:\n"
                       "    base_url: http://127.0.0.1:8089\n"
                       "    auth:\n"
                       "      type: oauth2_client_credentials\n"
                       "      token_url: http://127.0.0.1:8089/oauth/token\n"
                       "      client_id: ${ICM_CLIENT_ID}\n"
                       "      client_secret: %s\n",
                       secret);
}

static void assert_secret_absent(const struct fr_config *cfg, const struct fr_err *err,
                                 const char *secret)
{
    if (err)
        assert_null(strstr(err->msg, secret));
    for (size_t i = 0; cfg && i < cfg->nwarnings; i++)
        assert_null(strstr(cfg->warnings[i], secret));
}

/*
 * A secret whose variable is unset does not fail the load: it is kept by
 * name, key and position, and fails only the commands that require it.
 */
static void test_missing_secrets(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    const char *yaml = "targets:\n"
                       "  im:\n"
                       "    base_url: http://127.0.0.1:8089\n"
                       "    auth:\n"
                       "      type: oauth2_client_credentials\n"
                       "      token_url: http://127.0.0.1:8089/oauth/token\n"
                       "      client_id: ${ICM_CLIENT_ID}\n"
                       "      client_secret: ${FERRY_TEST_UNSET}\n"
                       "  crm:\n"
                       "    base_url: http://127.0.0.1:8090\n"
                       "    auth: { type: bearer, token: \"${ICM_CLIENT_SECRET}\" }\n"
                       "  imx:\n"
                       "    base_url: http://127.0.0.1:8091\n"
                       "    auth: { type: api_key, value: \"file:${FERRY_TEST_UNSET_DIR}/k\" }\n";
    int rc = load(yaml, &cfg, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->nwarnings, 0);
    assert_int_equal(cfg->nmissing_secrets, 2);
    const struct fr_missing_secret *m = &cfg->missing_secrets[0];
    assert_string_equal(m->key, "targets.im.auth.client_secret");
    assert_string_equal(m->var, "FERRY_TEST_UNSET");
    assert_int_equal(m->pos.line, 8);
    assert_int_equal(m->pos.col, 22);
    assert_string_equal(m->msg, "ferry.yaml:8:22: targets.im.auth.client_secret (secret): "
                                "environment variable FERRY_TEST_UNSET is not set");
    /* file:${NAME} with NAME unset is deferred the same way, named as written. */
    assert_string_equal(cfg->missing_secrets[1].key, "targets.imx.auth.value");
    assert_string_equal(cfg->missing_secrets[1].var, "FERRY_TEST_UNSET_DIR");

    const struct fr_target_conf *im = fr_target_find(cfg, "im");
    const struct fr_target_conf *crm = fr_target_find(cfg, "crm");
    const struct fr_target_conf *imx = fr_target_find(cfg, "imx");
    assert_null(im->auth.client_secret);
    assert_string_equal(im->missing_secret, m->msg);
    assert_string_equal(crm->auth.token, "s3cr3t-from-env-0042");
    assert_null(crm->missing_secret);
    assert_null(imx->auth.value);
    assert_non_null(strstr(imx->missing_secret, "FERRY_TEST_UNSET_DIR"));

    /* Required by scope: a key path and what is under it, not a longer name. */
    fr_err_clear(&err);
    assert_int_equal(fr_config_require_secrets(cfg, "targets.crm", &err), 0);
    assert_int_equal(fr_config_require_secrets(cfg, "webhooks", &err), 0);
    assert_int_equal(fr_config_require_secrets(cfg, "targets.i", &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(fr_config_require_secrets(cfg, "targets.imx", &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:14:"));
    assert_non_null(strstr(err.msg, "targets.imx.auth.value"));
    assert_non_null(strstr(err.msg, "environment variable FERRY_TEST_UNSET_DIR is not set"));
    fr_err_clear(&err);
    assert_int_equal(fr_config_require_secrets(cfg, "targets.im", &err), FR_ECONFIG);
    assert_string_equal(err.msg, m->msg);
    fr_err_clear(&err);
    assert_int_equal(fr_config_require_secrets(cfg, NULL, &err), FR_ECONFIG);
    assert_string_equal(err.msg, m->msg);

    /* A job's secrets are its target's. */
    struct fr_job_conf job = {.name = "nightly", .target = "crm"};
    fr_err_clear(&err);
    assert_int_equal(fr_job_require_secrets(cfg, &job, &err), 0);
    job.target = "im";
    assert_int_equal(fr_job_require_secrets(cfg, &job, &err), FR_ECONFIG);
    assert_string_equal(err.msg, m->msg);
    assert_secret_absent(cfg, &err, "s3cr3t-from-env-0042");
    fr_config_free(cfg);

    /* A malformed reference is still an error at load, unset or not. */
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: http://x\n"
                          "    auth: { type: bearer, token: \"${FERRY_TEST_UNSET}${BAD\" }\n",
                          &cfg, &err),
                     FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:4:34: targets.im.auth.token"));
    /* And an unset variable outside a secret field is an error at load, as before. */
    assert_int_equal(
        load("targets:\n"
             "  im:\n"
             "    base_url: http://x\n"
             "    auth: { type: oauth2_client_credentials, token_url: http://x/t, "
             "client_id: \"${FERRY_TEST_UNSET}\", client_secret: \"${ICM_CLIENT_SECRET}\" }\n",
             &cfg, &err),
        FR_ECONFIG);
    assert_non_null(strstr(err.msg, "client_id: environment variable FERRY_TEST_UNSET is not set"));
}

static void test_file_secrets(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;

    /* 0600, absolute path, trailing newline trimmed, no warning. */
    char *file = temp_secret("file-secret-value-9\n\n", 0600);
    char *ref = fr_asprintf("file:%s", file);
    char *yaml = oauth_yaml(ref);
    assert_int_equal(load(yaml, &cfg, &err), 0);
    assert_string_equal(cfg->targets[0].auth.client_secret, "file-secret-value-9");
    assert_int_equal(cfg->nwarnings, 0);
    char *red = fr_redact_str("token request with file-secret-value-9 inside");
    assert_string_equal(red, "token request with [REDACTED] inside");
    free(red);
    fr_config_free(cfg);
    free(yaml);

    /* 0644 gives a warning naming the file and chmod 600. */
    assert_int_equal(chmod(file, 0644), 0);
    yaml = oauth_yaml(ref);
    assert_int_equal(load(yaml, &cfg, &err), 0);
    assert_int_equal(cfg->nwarnings, 1);
    assert_non_null(strstr(cfg->warnings[0], "ferry.yaml:8:22: secret file"));
    assert_non_null(strstr(cfg->warnings[0], file));
    assert_non_null(strstr(cfg->warnings[0], "chmod 600"));
    assert_secret_absent(cfg, NULL, "file-secret-value-9");
    fr_config_free(cfg);
    free(yaml);
    free(ref);

    /* Relative to the config file's directory. */
    const char *base = strrchr(file, '/') + 1;
    ref = fr_asprintf("file:%s", base);
    yaml = oauth_yaml(ref);
    fr_err_clear(&err);
    assert_int_equal(
        fr_config_load_string(yaml, strlen(yaml), "/tmp/ferry.yaml", fr_cli_sections(), &cfg, &err),
        0);
    assert_string_equal(cfg->targets[0].auth.client_secret, "file-secret-value-9");
    fr_config_free(cfg);
    free(yaml);
    free(ref);
    unlink(file);

    /* Missing file: an error naming the path. */
    ref = fr_asprintf("file:%s", file);
    yaml = oauth_yaml(ref);
    assert_int_equal(load(yaml, &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:8:22: targets.im.auth.client_secret"));
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    free(yaml);
    free(ref);
    free(file);

    /* A path built from ${ENV}: named as written, the variable's value never shown. */
    setenv("FERRY_TEST_SECRET_PATH", "env-held-s3cret-path", 1);
    yaml = oauth_yaml("file:${FERRY_TEST_SECRET_PATH}");
    assert_int_equal(load(yaml, &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "\"${FERRY_TEST_SECRET_PATH}\""));
    assert_null(strstr(err.msg, "env-held-s3cret-path"));
    unsetenv("FERRY_TEST_SECRET_PATH");
    free(yaml);

    /* ${ENV} in a plain field with a bad value: named as written, never expanded. */
    setenv("FERRY_TEST_SECRET_PATH", "env-held-s3cret-kind", 1);
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: https://x\n"
                          "    auth: { type: \"oauth2_${FERRY_TEST_SECRET_PATH}\" }\n",
                          &cfg, &err),
                     FR_ECONFIG);
    assert_non_null(strstr(err.msg, "\"oauth2_${FERRY_TEST_SECRET_PATH}\""));
    assert_null(strstr(err.msg, "env-held-s3cret-kind"));
    unsetenv("FERRY_TEST_SECRET_PATH");

    /* Empty file. */
    file = temp_secret("\n", 0600);
    ref = fr_asprintf("file:%s", file);
    yaml = oauth_yaml(ref);
    assert_int_equal(load(yaml, &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "is empty"));
    unlink(file);
    free(yaml);
    free(ref);
    free(file);
}

static void test_env_and_literal_secrets(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;

    char *yaml = oauth_yaml("${ICM_CLIENT_SECRET}");
    assert_int_equal(load(yaml, &cfg, &err), 0);
    assert_int_equal(cfg->nwarnings, 0);
    char *red = fr_redact_str("x=s3cr3t-from-env-0042 y");
    assert_string_equal(red, "x=[REDACTED] y");
    free(red);
    fr_config_free(cfg);
    free(yaml);

    yaml = oauth_yaml("literal-secret-in-file-31");
    assert_int_equal(load(yaml, &cfg, &err), 0);
    assert_int_equal(cfg->nwarnings, 1);
    assert_string_equal(cfg->warnings[0],
                        "ferry.yaml:8:22: targets.im.auth.client_secret is a literal secret in "
                        "the config file; use ${ENV} or file:/path");
    assert_secret_absent(cfg, NULL, "literal-secret-in-file-31");
    red = fr_redact_str("echo literal-secret-in-file-31");
    assert_string_equal(red, "echo [REDACTED]");
    free(red);
    fr_config_free(cfg);
    free(yaml);

    /* Unset variable in a secret: the load defers it (see test_missing_secrets). */
    yaml = oauth_yaml("${FERRY_TEST_UNSET}");
    assert_int_equal(load(yaml, &cfg, &err), 0);
    assert_int_equal(fr_config_require_secrets(cfg, NULL, &err), FR_ECONFIG);
    assert_string_equal(err.msg, "ferry.yaml:8:22: targets.im.auth.client_secret (secret): "
                                 "environment variable FERRY_TEST_UNSET is not set");
    fr_config_free(cfg);
    free(yaml);

    /* A later error after secrets resolved never carries their values. */
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: http://x\n"
                          "    auth: { type: bearer, token: \"${ICM_CLIENT_SECRET}\" }\n"
                          "    max_in_flight: lots\n",
                          &cfg, &err),
                     FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:5:20: targets.im.max_in_flight: invalid integer"));
    assert_secret_absent(NULL, &err, "s3cr3t-from-env-0042");

    /* Secrets that fail a type check are not quoted. */
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: http://x\n"
                          "    auth: { type: bearer, token: [ literal-in-list-55 ] }\n",
                          &cfg, &err),
                     FR_ECONFIG);
    assert_non_null(strstr(err.msg, "targets.im.auth.token: expected a single value"));
    assert_null(strstr(err.msg, "literal-in-list-55"));
}

static void test_warnings(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: https://x\n"
                          "    insecure_skip_verify: true\n"
                          "    auth:\n"
                          "      type: oauth2_client_credentials\n"
                          "      token_url: http://auth.example.com/token\n"
                          "      client_id: a\n"
                          "      client_secret: ${ICM_CLIENT_SECRET}\n",
                          &cfg, &err),
                     0);
    assert_true(cfg->targets[0].insecure_skip_verify);
    assert_int_equal(cfg->nwarnings, 2);
    assert_true(has_warning(cfg, "ferry.yaml:4:27: TLS certificate verification is OFF for "
                                 "target im"));
    assert_true(has_warning(cfg, "ferry.yaml:7:18: targets.im.auth.token_url uses http:// to a "
                                 "host that is not loopback"));
    assert_true(has_warning(cfg, "clear text"));
    fr_config_free(cfg);

    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: http://api.example.com\n"
                          "    auth: { type: bearer, token: \"${ICM_CLIENT_SECRET}\" }\n"
                          "  open:\n"
                          "    base_url: http://api.example.com\n",
                          &cfg, &err),
                     0);
    assert_int_equal(cfg->nwarnings, 1);
    assert_true(has_warning(cfg, "ferry.yaml:3:15: targets.im.base_url uses http:// to a host "
                                 "that is not loopback"));
    fr_config_free(cfg);

    /* Loopback http token_url: no warning. */
    assert_int_equal(load("targets:\n"
                          "  im:\n"
                          "    base_url: http://localhost:1\n"
                          "    auth:\n"
                          "      type: oauth2_client_credentials\n"
                          "      token_url: http://localhost:8089/token\n"
                          "      client_id: a\n"
                          "      client_secret: ${ICM_CLIENT_SECRET}\n",
                          &cfg, &err),
                     0);
    assert_int_equal(cfg->nwarnings, 0);
    fr_config_free(cfg);
}

static void test_default_path(void **state)
{
    assert_string_equal(fr_config_default_path("x.yaml"), "x.yaml");
    unsetenv("FERRY_CONFIG");
    assert_string_equal(fr_config_default_path(NULL), "ferry.yaml");
    setenv("FERRY_CONFIG", "", 1);
    assert_string_equal(fr_config_default_path(NULL), "ferry.yaml");
    setenv("FERRY_CONFIG", "/etc/ferry/ferry.yaml", 1);
    assert_string_equal(fr_config_default_path(NULL), "/etc/ferry/ferry.yaml");
    assert_string_equal(fr_config_default_path("y.yaml"), "y.yaml");
    unsetenv("FERRY_CONFIG");
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
        cmocka_unit_test_setup(test_syntax_error, setup),
        cmocka_unit_test_setup(test_depth_limit, setup),
        cmocka_unit_test_setup(test_alias_bomb, setup),
        cmocka_unit_test_setup(test_alias_and_anchor_limits, setup),
        cmocka_unit_test_setup(test_ordinary_aliases, setup),
        cmocka_unit_test_setup(test_many_keys, setup),
        cmocka_unit_test_setup(test_unreadable_file, setup),
        cmocka_unit_test_setup(test_directory_is_unreadable, setup),
        cmocka_unit_test_setup(test_load_file, setup),
        cmocka_unit_test_setup(test_env_expansion, setup),
        cmocka_unit_test_setup(test_file_secrets, setup),
        cmocka_unit_test_setup(test_env_and_literal_secrets, setup),
        cmocka_unit_test_setup(test_missing_secrets, setup),
        cmocka_unit_test_setup(test_warnings, setup),
        cmocka_unit_test_setup(test_default_path, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fr_redact_reset();
    return rc;
}
