/*
 * End-to-end: `ferry check` and the command line, with the real binary
 * against `ferry mock` on loopback: exit statuses, verdicts, and secrets
 * that never reach the output.
 */
#include "core/common.h"
#include "harness.h"

struct env {
    struct fr_test_mock mock;
    char *dir;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    if (fr_test_mock_start(&e->mock, NULL) < 0) {
        free(e);
        return -1;
    }
    e->dir = fr_test_tmpdir();
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fr_test_mock_stop(&e->mock);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

/* Writes ferry.yaml for target im at base (token endpoint token_base) and runs check. */
static int check_with(struct env *e, const char *base, const char *token_base, const char *extra,
                      const char *secret, char **out, char **err)
{
    char *yaml = fr_asprintf("targets:\n"
                             "  im:\n"
                             "    base_url: %s\n"
                             "    auth:\n"
                             "      type: oauth2_client_credentials\n"
                             "      token_url: %s/oauth/token\n"
                             "      client_id: demo\n"
                             "      client_secret: ${IT_SECRET}\n"
                             "    retry: { max_attempts: 2, base: 10ms, cap: 20ms }\n"
                             "%s",
                             base, token_base, extra ? extra : "");
    char *path = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
    char *envvar = fr_asprintf("IT_SECRET=%s", secret);
    const char *env[] = {envvar, NULL};
    const char *args[] = {"check", "-c", path, "--timeout", "10s", "im", NULL};
    int status = fr_test_run(args, NULL, env, 30000, out, err);
    free(envvar);
    free(path);
    return status;
}

static void test_ready(void **state)
{
    struct env *e = *state;
    char *out, *err;
    int status = check_with(e, e->mock.base_url, e->mock.base_url,
                            "    probe: { method: GET, path: /participants?$top=1 }\n",
                            "demo-secret", &out, &err);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "ready"));
    assert_non_null(strstr(out, "-> 200"));
    assert_null(strstr(out, "demo-secret"));
    assert_null(strstr(err, "demo-secret"));
    /* The token fetch and the probe were logged, the token itself never. */
    assert_non_null(strstr(err, "\"msg\":\"token refreshed\""));
    assert_null(strstr(err, "access_token"));
    free(out);
    free(err);
}

static void test_wrong_credentials_exit_3(void **state)
{
    struct env *e = *state;
    char *out, *err;
    int status =
        check_with(e, e->mock.base_url, e->mock.base_url, NULL, "wrong-secret-42", &out, &err);
    assert_int_equal(status, 3);
    /* The message names the token endpoint so the operator knows where to look. */
    char *endpoint = fr_asprintf("%s/oauth/token", e->mock.base_url);
    assert_non_null(strstr(out, endpoint));
    assert_non_null(strstr(out, "invalid_client"));
    assert_null(strstr(out, "wrong-secret-42"));
    assert_null(strstr(err, "wrong-secret-42"));
    free(endpoint);
    /* Rejected credentials are not retried: one token request. */
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /oauth/token", "401"), 1);
    json_decref(stats);
    free(out);
    free(err);
}

static void test_unreachable_exit_4(void **state)
{
    struct env *e = *state;
    char *out, *err;
    /* Port 1 on loopback: nothing listens, connections are refused at once. */
    int status =
        check_with(e, "http://127.0.0.1:1", "http://127.0.0.1:1", NULL, "demo-secret", &out, &err);
    assert_int_equal(status, 4);
    assert_non_null(strstr(out, "http://127.0.0.1:1/oauth/token"));
    assert_non_null(strstr(out, "unreachable"));
    free(out);
    free(err);
}

static void test_probe_404_is_config_error(void **state)
{
    struct env *e = *state;
    char *out, *err;
    int status = check_with(e, e->mock.base_url, e->mock.base_url,
                            "    probe: { path: /no-such-route }\n", "demo-secret", &out, &err);
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "404"));
    free(out);
    free(err);
}

static void test_config_error_names_line(void **state)
{
    struct env *e = *state;
    char *out, *err;
    int status = check_with(e, e->mock.base_url, e->mock.base_url, "    retires: 3\n",
                            "demo-secret", &out, &err);
    assert_int_equal(status, 2);
    assert_non_null(strstr(err, "ferry.yaml:10:5"));
    assert_non_null(strstr(err, "retires"));
    assert_non_null(strstr(err, "did you mean \"retry\""));
    free(out);
    free(err);
}

static void test_missing_env_secret(void **state)
{
    struct env *e = *state;
    char *yaml = fr_asprintf("targets:\n  im:\n    base_url: %s\n    auth:\n"
                             "      type: bearer\n      token: ${IT_UNSET_TOKEN_VAR}\n",
                             e->mock.base_url);
    char *path = fr_test_write_file(e->dir, "unset.yaml", yaml);
    const char *args[] = {"check", "-c", path, "im", NULL};
    char *err;
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "IT_UNSET_TOKEN_VAR"));
    free(err);
    free(path);
    free(yaml);
}

static void test_usage_errors(void **state)
{
    char *out, *err;
    const char *unknown_cmd[] = {"frobnicate", NULL};
    assert_int_equal(fr_test_run(unknown_cmd, NULL, NULL, 5000, NULL, &err), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    free(err);

    const char *bad_flag[] = {"check", "--bogus", "im", NULL};
    assert_int_equal(fr_test_run(bad_flag, NULL, NULL, 5000, NULL, &err), 2);
    assert_non_null(strstr(err, "--bogus"));
    /* One line. */
    assert_null(strchr(strchr(err, '\n') + 1, '\n'));
    free(err);

    const char *no_target[] = {"check", NULL};
    assert_int_equal(fr_test_run(no_target, NULL, NULL, 5000, NULL, &err), 2);
    assert_non_null(strstr(err, "missing TARGET or JOB"));
    free(err);

    const char *helps[][3] = {{"check", "--help", NULL},
                              {"mock", "--help", NULL},
                              {"version", "--help", NULL},
                              {"--help", NULL, NULL}};
    for (size_t i = 0; i < FR_ARRAY_LEN(helps); i++) {
        assert_int_equal(fr_test_run(helps[i], NULL, NULL, 5000, &out, NULL), 0);
        assert_non_null(strstr(out, "usage: ferry"));
        free(out);
    }
    const char *version[] = {"version", NULL};
    assert_int_equal(fr_test_run(version, NULL, NULL, 5000, &out, NULL), 0);
    assert_non_null(strstr(out, "ferry "));
    free(out);
}

static void test_unknown_target(void **state)
{
    struct env *e = *state;
    char *yaml = fr_asprintf("targets:\n  im:\n    base_url: %s\n", e->mock.base_url);
    char *path = fr_test_write_file(e->dir, "t.yaml", yaml);
    const char *args[] = {"check", "-c", path, "crm", NULL};
    char *err;
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "no target or job named \"crm\""));
    free(err);
    free(path);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_wrong_credentials_exit_3),
        cmocka_unit_test(test_unreachable_exit_4),
        cmocka_unit_test(test_probe_404_is_config_error),
        cmocka_unit_test(test_config_error_names_line),
        cmocka_unit_test(test_missing_env_secret),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_unknown_target),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
