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

static void test_syntax_error(void **state)
{
    struct fr_config *cfg;
    struct fr_err err;
    assert_int_equal(
        fr_test_conf_load("targets:\n  im: { base_url: http://x\n  other: 1\n", &cfg, &err),
        FR_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "ferry.yaml:"));
    assert_non_null(strstr(err.msg, "YAML syntax error"));

    assert_int_equal(fr_test_conf_load("a: b\n\tc: d\n", &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:2:1: YAML syntax error while scanning a "
                                    "plain scalar: found a tab character"));

    assert_int_equal(fr_test_conf_load("store: a\n---\nstore: b\n", &cfg, &err), FR_ECONFIG);
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
    fr_test_conf_expect_error(
        yaml, "ferry.yaml:1:1: expected a mapping (key: value pairs), found a sequence", NULL);
    free(yaml);
    /* 65: refused at the 65th "[". */
    yaml = nested_flow(65);
    fr_test_conf_expect_error(yaml, "ferry.yaml:1:65: nested deeper than 64 levels (the limit)",
                              NULL);
    free(yaml);

    /* Block mappings: level k starts on line k, at column 2k - 1. */
    struct fr_buf b = FR_BUF_INIT;
    for (int i = 0; i < 65; i++)
        fr_buf_addf(&b, "%*sk%d:\n", 2 * i, "", i);
    fr_test_conf_expect_error(fr_buf_str(&b),
                              "ferry.yaml:65:129: nested deeper than 64 levels (the limit)", NULL);
    fr_buf_release(&b);

    /* 100,000 levels (200 KB) once took half a minute in libyaml's scanner. */
    yaml = nested_flow(100000);
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), FR_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err.msg, "ferry.yaml:1:65: nested deeper than 64 levels (the limit)");
    free(yaml);

    /* The pass covers the second document the load reads, and no further. */
    yaml = nested_flow(65);
    char *two = fr_asprintf("store: a\n---\n%s", yaml);
    fr_test_conf_expect_error(two, "ferry.yaml:3:65: nested deeper than 64 levels (the limit)",
                              NULL);
    free(two);
    two = fr_asprintf("store: a\n---\nstore: b\n---\n%s", yaml);
    fr_test_conf_expect_error(two, "ferry.yaml:2:1: a second YAML document", NULL);
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
    fr_test_conf_expect_error(
        fr_buf_str(&b),
        "ferry.yaml:5:36: alias *d: aliases expand to more than 100000 nodes (the limit)", NULL);
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
    fr_test_conf_expect_error(
        fr_buf_str(&b), "aliases expand to more than 100000 nodes (the limit)", "ferry.yaml:");
    fr_buf_release(&b);

    /* An alias inside the node it names. */
    fr_test_conf_expect_error("targets: &t\n  im: *t\n",
                              "ferry.yaml:2:7: alias *t is inside the node it names (a cycle)",
                              NULL);
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
    fr_test_conf_expect_error(yaml, "ferry.yaml:1:1: unknown key \"x\" at the top level", NULL);
    free(yaml);
    yaml = alias_list(100001);
    fr_test_conf_expect_error(
        yaml,
        "ferry.yaml:1:400011: alias *a: aliases expand to more than 100000 nodes (the "
        "limit)",
        NULL);
    free(yaml);

    /* 1000 anchors, then 1001. */
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "x:\n");
    for (int i = 0; i < 1000; i++)
        fr_buf_addf(&b, "  - &a%d v\n", i);
    fr_test_conf_expect_error(fr_buf_str(&b), "ferry.yaml:1:1: unknown key \"x\" at the top level",
                              NULL);
    fr_buf_adds(&b, "  - &a1000 v\n");
    fr_test_conf_expect_error(
        fr_buf_str(&b),
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
    fr_test_conf_expect_error(
        fr_buf_str(&b),
        "ferry.yaml:300001:1: duplicate key \"k12\" at the top level (first at line 13:1)", NULL);
    fr_buf_release(&b);

    /* The first offender in file order wins: a repeat before a key that is not a name... */
    fr_test_conf_expect_error(
        "targets:\n"
        "  a: { base_url: http://x }\n"
        "  b: { base_url: http://x }\n"
        "  a: { base_url: http://x }\n"
        "  a: { base_url: http://x }\n"
        "  [x]: 1\n"
        "  b: { base_url: http://x }\n",
        "ferry.yaml:4:3: duplicate key \"a\" under targets (first at line 2:3)", NULL);
    /* ...and a key that is not a name before a repeat. */
    fr_test_conf_expect_error(
        "targets:\n"
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
    assert_int_equal(
        fr_test_conf_load("targets:\n"
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
    assert_int_equal(fr_test_conf_load("store: \"sqlite:${FERRY_TEST_HOST}.db\"\n"
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

    fr_test_conf_expect_error("targets:\n"
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
    fr_test_conf_expect_error("store: ${FERRY_TEST_HOST\n",
                              "ferry.yaml:1:8: store: unterminated ${", NULL);
    fr_test_conf_expect_error("store: \"${1X}\"\n",
                              "store: invalid environment variable name \"1X\"", NULL);
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
    int rc = fr_test_conf_load(yaml, &cfg, &err);
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
    assert_int_equal(
        fr_test_conf_load("targets:\n"
                          "  im:\n"
                          "    base_url: http://x\n"
                          "    auth: { type: bearer, token: \"${FERRY_TEST_UNSET}${BAD\" }\n",
                          &cfg, &err),
        FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:4:34: targets.im.auth.token"));
    /* And an unset variable outside a secret field is an error at load, as before. */
    assert_int_equal(
        fr_test_conf_load(
            "targets:\n"
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:8:22: targets.im.auth.client_secret"));
    assert_non_null(strstr(err.msg, file));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    free(yaml);
    free(ref);
    free(file);

    /* A path built from ${ENV}: named as written, the variable's value never shown. */
    setenv("FERRY_TEST_SECRET_PATH", "env-held-s3cret-path", 1);
    yaml = oauth_yaml("file:${FERRY_TEST_SECRET_PATH}");
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "\"${FERRY_TEST_SECRET_PATH}\""));
    assert_null(strstr(err.msg, "env-held-s3cret-path"));
    unsetenv("FERRY_TEST_SECRET_PATH");
    free(yaml);

    /* ${ENV} in a plain field with a bad value: named as written, never expanded. */
    setenv("FERRY_TEST_SECRET_PATH", "env-held-s3cret-kind", 1);
    assert_int_equal(fr_test_conf_load("targets:\n"
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), FR_ECONFIG);
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
    assert_int_equal(cfg->nwarnings, 0);
    char *red = fr_redact_str("x=s3cr3t-from-env-0042 y");
    assert_string_equal(red, "x=[REDACTED] y");
    free(red);
    fr_config_free(cfg);
    free(yaml);

    yaml = oauth_yaml("literal-secret-in-file-31");
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
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
    assert_int_equal(fr_test_conf_load(yaml, &cfg, &err), 0);
    assert_int_equal(fr_config_require_secrets(cfg, NULL, &err), FR_ECONFIG);
    assert_string_equal(err.msg, "ferry.yaml:8:22: targets.im.auth.client_secret (secret): "
                                 "environment variable FERRY_TEST_UNSET is not set");
    fr_config_free(cfg);
    free(yaml);

    /* A later error after secrets resolved never carries their values. */
    assert_int_equal(
        fr_test_conf_load("targets:\n"
                          "  im:\n"
                          "    base_url: http://x\n"
                          "    auth: { type: bearer, token: \"${ICM_CLIENT_SECRET}\" }\n"
                          "    max_in_flight: lots\n",
                          &cfg, &err),
        FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.yaml:5:20: targets.im.max_in_flight: invalid integer"));
    assert_secret_absent(NULL, &err, "s3cr3t-from-env-0042");

    /* Secrets that fail a type check are not quoted. */
    assert_int_equal(
        fr_test_conf_load("targets:\n"
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
    assert_int_equal(fr_test_conf_load("targets:\n"
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

    assert_int_equal(
        fr_test_conf_load("targets:\n"
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
    assert_int_equal(fr_test_conf_load("targets:\n"
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
