/*
 * End-to-end: `ferry check` and the command line, with the real binary
 * against `ferry mock` on loopback: exit statuses, verdicts, and secrets
 * that never reach the output.
 */
#include "core/common.h"
#include "harness.h"

#include <sys/stat.h>

#include "core/clock.h"

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

/*
 * 100,000 nested "[" (200 KB) once kept ferry busy for half a minute in
 * libyaml's scanner; refused at the 65th level, it takes milliseconds. The
 * bound is generous so a loaded machine does not fail the test; the time
 * is printed.
 */
static void test_deep_yaml_refused_fast(void **state)
{
    struct env *e = *state;
    enum { LEVELS = 100000 };
    char *yaml = fr_malloc(2 * LEVELS + 2);
    memset(yaml, '[', LEVELS);
    memset(yaml + LEVELS, ']', LEVELS);
    memcpy(yaml + 2 * LEVELS, "\n", 2);
    char *path = fr_test_write_file(e->dir, "deep.yaml", yaml);
    free(yaml);
    const char *args[] = {"check", "-c", path, "im", NULL};
    char *err;
    int64_t start = fr_now_ms();
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    print_message("ferry check on 100,000 levels: exit 2 after %lld ms\n",
                  (long long)(fr_now_ms() - start));
    char *where = fr_asprintf("%s:1:65: nested deeper than 64 levels (the limit)", path);
    assert_non_null(strstr(err, where));
    free(where);
    free(err);
    free(path);
}

/* ---- a job's local files (the preflight) and secrets needed only where used ---- */

/*
 * Writes DIR/ferry.yaml: target im at the mock (lines 1-9), then jobs (from
 * line 11) and any other sections (rest, may be NULL).
 */
static void write_config(struct env *e, const char *jobs, const char *rest)
{
    char *yaml = fr_asprintf("targets:\n"
                             "  im:\n"
                             "    base_url: %s\n"
                             "    probe: { path: /participants?$top=1 }\n"
                             "    auth:\n"
                             "      type: oauth2_client_credentials\n"
                             "      token_url: %s/oauth/token\n"
                             "      client_id: demo\n"
                             "      client_secret: ${IT_SECRET}\n"
                             "jobs:\n"
                             "%s%s",
                             e->mock.base_url, e->mock.base_url, jobs, rest ? rest : "");
    free(fr_test_write_file(e->dir, "ferry.yaml", yaml));
    free(yaml);
}

/* Runs ferry with args in DIR (so messages say ferry.yaml), with the target's secret set. */
static int ferry_in_dir(struct env *e, const char *const *args, char **out, char **err)
{
    const char *env[] = {"IT_SECRET=demo-secret", NULL};
    return fr_test_run(args, e->dir, env, 30000, out, err);
}

/* The verdict "ready: ..." is not among out's lines (a "not ready: ..." line may be). */
static void assert_not_ready(const char *out)
{
    assert_false(strncmp(out, "ready", 5) == 0);
    assert_null(strstr(out, "\nready"));
    assert_non_null(strstr(out, "not ready"));
}

static void test_job_missing_csv_source(void **state)
{
    struct env *e = *state;
    write_config(e,
                 "  nightly:\n"
                 "    kind: push\n"
                 "    target: im\n"
                 "    source: { type: csv, path: data/crm_order.csv }\n" /* line 14 */
                 "    request: { path: /credits }\n"
                 "    key: id\n"
                 "    map: { id: order_id }\n",
                 NULL);
    const char *args[] = {"check", "--timeout", "10s", "nightly", NULL};
    char *out, *err;
    assert_int_equal(ferry_in_dir(e, args, &out, &err), 2);
    assert_non_null(strstr(err, "ferry check: ferry.yaml:14:32: jobs.nightly.source.path: cannot "
                                "open data/crm_order.csv: No such file or directory\n"));
    assert_not_ready(out);
    assert_null(strstr(err, "ready"));
    free(out);
    free(err);

    /* With the file there the job is ready: the files, the token, the probe. */
    char *data = fr_asprintf("%s/data", e->dir);
    assert_int_equal(mkdir(data, 0700), 0);
    free(fr_test_write_file(data, "crm_order.csv", "order_id,amount\nA1,12\n"));
    free(data);
    assert_int_equal(ferry_in_dir(e, args, &out, &err), 0);
    assert_non_null(strstr(out, "  files    ok"));
    assert_non_null(strstr(out, "\nready: target \"im\""));
    free(out);
    free(err);
}

static void test_job_missing_schema(void **state)
{
    struct env *e = *state;
    char *outdir = fr_asprintf("%s/out", e->dir);
    mkdir(outdir, 0700);
    free(outdir);
    write_config(e,
                 "  users:\n"
                 "    kind: pull\n"
                 "    target: im\n"
                 "    request: { path: /participants }\n"
                 "    paging: none\n"
                 "    schema: schemas/user.json\n" /* line 16 */
                 "    sink: { type: jsonl, path: out/users.jsonl }\n",
                 NULL);
    const char *args[] = {"check", "--timeout", "10s", "users", NULL};
    char *out, *err;
    assert_int_equal(ferry_in_dir(e, args, &out, &err), 2);
    assert_non_null(strstr(err, "ferry check: ferry.yaml:16:13: jobs.users.schema: cannot open "
                                "schemas/user.json: No such file or directory\n"));
    assert_not_ready(out);
    assert_null(strstr(err, "ready"));
    free(out);
    free(err);
}

static void test_job_sink_directory_missing(void **state)
{
    struct env *e = *state;
    write_config(e,
                 "  export:\n"
                 "    kind: pull\n"
                 "    target: im\n"
                 "    request: { path: /participants }\n"
                 "    paging: none\n"
                 "    sink: { type: jsonl, path: export/users.jsonl }\n", /* line 16 */
                 NULL);
    const char *args[] = {"check", "--timeout", "10s", "export", NULL};
    char *out, *err;
    assert_int_equal(ferry_in_dir(e, args, &out, &err), 2);
    assert_non_null(strstr(err, "ferry check: ferry.yaml:16:32: jobs.export.sink.path: cannot "
                                "write export/users.jsonl: directory export: No such file or "
                                "directory"));
    assert_not_ready(out);
    assert_null(strstr(err, "ready"));
    free(out);
    free(err);
}

/*
 * The secrets of the webhook sources, of the admin token and of a target are
 * needed by the commands that use them, not by every command.
 */
static void test_secrets_only_where_used(void **state)
{
    struct env *e = *state;
    char *yaml = fr_asprintf("targets:\n"
                             "  im:\n"
                             "    base_url: %s\n"
                             "    auth:\n"
                             "      type: oauth2_client_credentials\n"
                             "      token_url: %s/oauth/token\n"
                             "      client_id: demo\n"
                             "      client_secret: ${IT_UNSET_TARGET_SECRET}\n" /* line 8 */
                             "jobs:\n"
                             "  nightly:\n"
                             "    kind: push\n"
                             "    target: im\n"
                             "    source: { type: csv, path: data/crm_order.csv }\n"
                             "    request: { path: /credits }\n"
                             "    key: id\n"
                             "    map: { id: order_id }\n"
                             "webhooks:\n"
                             "  listen: 127.0.0.1:0\n"
                             "  admin_token: ${IT_UNSET_ADMIN_TOKEN}\n" /* line 19 */
                             "  sources:\n"
                             "    crm:\n"
                             "      path: /hooks/crm\n"
                             "      verify: { scheme: github, secrets: [\"${IT_UNSET_HOOK}\"] }\n"
                             "      deliver: { url: http://127.0.0.1:1/events }\n",
                             e->mock.base_url, e->mock.base_url);
    char *path = fr_test_write_file(e->dir, "secrets.yaml", yaml);
    free(yaml);
    char *data = fr_asprintf("%s/data", e->dir);
    mkdir(data, 0700);
    free(fr_test_write_file(data, "crm_order.csv", "order_id\nA1\n"));
    free(data);

    /* Commands that use none of them work. */
    const char *const works[][5] = {{"runs", "list", "-c", path, NULL},
                                    {"status", "-c", path, NULL, NULL},
                                    {"dlq", "list", "-c", path, NULL},
                                    {"migrate", "-c", path, NULL, NULL},
                                    {"check", "-c", path, "--help", NULL}};
    for (size_t i = 0; i < FR_ARRAY_LEN(works); i++) {
        char *out, *err;
        int status = fr_test_run(works[i], NULL, NULL, 30000, &out, &err);
        if (status != 0)
            print_error("ferry %s %s: exit %d: %s\n", works[i][0], works[i][1], status, err);
        assert_int_equal(status, 0);
        assert_null(strstr(err, "is not set"));
        free(out);
        free(err);
    }

    /* ferry serve uses the admin token and the webhook secrets: it names what is missing. */
    const char *serve[] = {"serve", "-c", path, NULL};
    char *err;
    assert_int_equal(fr_test_run(serve, NULL, NULL, 30000, NULL, &err), 2);
    assert_non_null(strstr(err, "secrets.yaml:19:16: webhooks.admin_token: environment variable "
                                "IT_UNSET_ADMIN_TOKEN is not set"));
    free(err);
    const char *admin_env[] = {"IT_UNSET_ADMIN_TOKEN=it-admin-token-5531", NULL};
    assert_int_equal(fr_test_run(serve, NULL, admin_env, 30000, NULL, &err), 2);
    assert_non_null(strstr(err, "secrets.yaml:23:43: webhooks.sources.crm.verify.secrets[0]: "
                                "environment variable IT_UNSET_HOOK is not set"));
    free(err);

    /* ferry run and ferry check use the job's target: they name its secret's variable. */
    json_t *stats = fr_test_mock_stats(&e->mock);
    long token_requests = fr_test_stat_requests(stats, "POST /oauth/token", "401") +
                          fr_test_stat_requests(stats, "POST /oauth/token", "200");
    json_decref(stats);
    const char *run[] = {"run", "-c", path, "nightly", NULL};
    char *out;
    assert_int_equal(fr_test_run(run, NULL, NULL, 30000, &out, &err), 2);
    assert_non_null(strstr(err, "secrets.yaml:8:22: targets.im.auth.client_secret (secret): "
                                "environment variable IT_UNSET_TARGET_SECRET is not set"));
    free(out);
    free(err);
    const char *check[] = {"check", "-c", path, "nightly", NULL};
    assert_int_equal(fr_test_run(check, NULL, NULL, 30000, &out, &err), 2);
    assert_non_null(strstr(err, "secrets.yaml:8:22: targets.im.auth.client_secret (secret): "
                                "environment variable IT_UNSET_TARGET_SECRET is not set"));
    assert_null(strstr(out, "ready"));
    free(out);
    free(err);
    /* No request went out without the credential. */
    stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /oauth/token", "401") +
                         fr_test_stat_requests(stats, "POST /oauth/token", "200"),
                     token_requests);
    json_decref(stats);
    free(path);
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
        cmocka_unit_test(test_deep_yaml_refused_fast),
        cmocka_unit_test(test_job_missing_csv_source),
        cmocka_unit_test(test_job_missing_schema),
        cmocka_unit_test(test_job_sink_directory_missing),
        cmocka_unit_test(test_secrets_only_where_used),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
