/*
 * End-to-end: `ferry run` (push jobs), `ferry runs`, `ferry rollback` with
 * the real binary against `ferry mock` on loopback, under faults and
 * SIGKILL. The mock's /mock/stats is the witness: every valid record
 * stored exactly once, nothing lost.
 */
#include "core/common.h"
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>

#include "core/buf.h"
#include "core/clock.h"

struct env {
    struct fr_test_mock mock;
    char *dir;
    char *config;
};

static const char *const fault_free[] = {NULL};

static void write_orders(struct env *e, int n, int bad_every)
{
    fr_test_write_orders(e->dir, n, bad_every);
}

/* Writes ferry.yaml for the mock: a batch job (shape "batch") or single-record job. */
static void write_config(struct env *e, const char *shape, const char *extra_job,
                         const char *extra_top)
{
    bool single = strcmp(shape, "single") == 0;
    char *yaml = fr_asprintf(
        "store: sqlite:ferry.db\n"
        "targets:\n"
        "  im:\n"
        "    base_url: %s\n"
        "    auth:\n"
        "      type: oauth2_client_credentials\n"
        "      token_url: %s/oauth/token\n"
        "      client_id: demo\n"
        "      client_secret: ${IT_SECRET}\n"
        "    retry: { max_attempts: 10, base: 20ms, cap: 1s, max_elapsed: 60s, budget: 100%% }\n"
        "    max_in_flight: 4\n"
        "    probe: { path: \"/participants?$top=1\" }\n"
        "jobs:\n"
        "  credits:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: %s, batch_size: %d }\n"
        "    key: sourceRef\n"
        "    map:\n"
        "      participantId: participant_id\n"
        "      transactionDate: { from: order_date, type: date }\n"
        "      amount: { from: amount, type: number, required: true }\n"
        "      currencyCode: { value: USD }\n"
        "      periodId: { value: \"2026-11\" }\n"
        "      sourceRef: { from: order_id, required: true }\n"
        "%s"
        "    body_errors: [ { path: /success, equals: false, message: /error } ]\n"
        "    lookup: { method: GET, path: \"/credits?$filter=sourceRef eq '{{key}}'\", found: "
        "/value/0 }\n"
        "    rollback: { method: DELETE, path: \"/credits/{{key}}\" }\n"
        "%s%s",
        e->mock.base_url, e->mock.base_url, single ? "/credits" : "/credits/batch", single ? 1 : 50,
        single ? "" : "    results: { path: /results, key: sourceRef }\n",
        extra_job ? extra_job : "", extra_top ? extra_top : "");
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

static struct env *env_new(const char *const *mock_args)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    e->dir = fr_test_tmpdir();
    return e;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e) {
        fr_test_mock_stop(&e->mock);
        fr_test_rmtree(e->dir);
        free(e->dir);
        free(e->config);
        free(e);
    }
    *state = NULL;
    return 0;
}

static const char *const secret_env[] = {"IT_SECRET=demo-secret", NULL};

/* Runs `ferry CMD... -c config`; returns the exit status. */
static int ferry(struct env *e, const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = e->config;
    argv[n] = NULL;
    return fr_test_run(argv, e->dir, secret_env, 120000, out, err);
}

static long summary_count(const char *err, const char *name)
{
    return fr_test_summary_count(err, name);
}

static void assert_counts_add_up(const char *err)
{
    long read = summary_count(err, "read");
    long sum = summary_count(err, "created") + summary_count(err, "duplicate") +
               summary_count(err, "skipped") + summary_count(err, "rejected") +
               summary_count(err, "failed") + summary_count(err, "changed");
    assert_int_equal(read, sum);
}

/* Every fault at once: every valid record stored once, every invalid one reported. */
static void test_every_fault(void **state)
{
    const char *args[] = {"--faults",
                          "rate=40/s,error5xx=0.05,reset=0.02,truncate=0.02,slow=0.02:200ms,"
                          "body_error=0.02,record_error=0.02,revoke_every=1s",
                          "--seed", "5", NULL};
    struct env *e = *state = env_new(args);
    write_orders(e, 2000, 100); /* 20 invalid */
    write_config(e, "batch", "    alert: { max_errors: 100 }\n", NULL);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    int status = ferry(e, run, &out, &err);
    if (status != 0)
        fprintf(stderr, "%s", out);
    assert_int_equal(status, 0);
    assert_counts_add_up(err);
    assert_int_equal(summary_count(err, "rejected"), 20);
    assert_non_null(strstr(out, "SO-100 (line 101)"));
    long failed = summary_count(err, "failed");
    free(out);
    free(err);
    /* Records the API refused at random (record_error) are sent again by the next run. */
    for (int i = 0; i < 5 && failed > 0; i++) {
        status = ferry(e, run, &out, &err);
        assert_counts_add_up(err);
        failed = summary_count(err, "failed");
        free(out);
        free(err);
    }
    assert_int_equal(failed, 0);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 1980);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"), 1);
    json_decref(stats);
}

/* A second run after a clean run makes zero batch requests. */
static void test_rerun_sends_nothing(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 500, 0);
    write_config(e, "batch", NULL, NULL);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 500);
    free(out);
    free(err);
    /* check accepts a job and checks the job's target. */
    const char *check[] = {"check", "credits", NULL};
    assert_int_equal(ferry(e, check, &out, &err), 0);
    assert_non_null(strstr(out, "job \"credits\" pushes to target \"im\""));
    assert_non_null(strstr(out, "ready"));
    free(out);
    free(err);
    json_t *before = fr_test_mock_stats(&e->mock);
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "skipped"), 500);
    assert_int_equal(summary_count(err, "sent"), 0);
    json_t *after = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_route_total(after, "POST /credits/batch"),
                     fr_test_route_total(before, "POST /credits/batch"));
    assert_int_equal(fr_test_route_total(before, "POST /credits/batch"), 10); /* ceil(500/50) */
    json_decref(before);
    json_decref(after);
    free(out);
    free(err);
}

/* One record per request: 201 created, 409 duplicate, 422 failed. */
static void test_single_record_shape(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 30, 0);
    write_config(e, "single", NULL, NULL);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 30);
    free(out);
    free(err);
    /* Forget the journal: every record is posted again and the API says 409. */
    const char *fresh[] = {"run", "credits", "--fresh", NULL};
    assert_int_equal(ferry(e, fresh, &out, &err), 0);
    assert_int_equal(summary_count(err, "duplicate"), 30);
    assert_int_equal(summary_count(err, "created"), 0);
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits", "201"), 30);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits", "409"), 30);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 30);
    json_decref(stats);
}

/* A record the API refuses with 422 fails once, with its key, and is never retried. */
static void test_single_record_422(void **state)
{
    struct env *e = *state = env_new(fault_free);
    char *path = fr_asprintf("%s/orders.csv", e->dir);
    FILE *f = fopen(path, "w");
    fputs("order_id,participant_id,order_date,amount\nSO-1,P000001,2026-11-02,1\n"
          "SO-2,P999999,2026-11-02,2\nSO-3,P000003,2026-11-02,3\n",
          f);
    fclose(f);
    free(path);
    write_config(e, "single", NULL, NULL);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 1); /* no alert block: any failure crosses */
    assert_int_equal(summary_count(err, "created"), 2);
    assert_int_equal(summary_count(err, "failed"), 1);
    assert_non_null(strstr(out, "SO-2"));
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits", "422"), 1);
    json_decref(stats);
    free(out);
    free(err);
}

/* SIGKILL at random moments, rerun each time, against an API without idempotency. */
static void test_crash_safety(void **state)
{
    /* Every answer takes 50 ms, so each run is killed with batches on the wire. */
    const char *args[] = {"--faults", "no_dedupe,slow=1:50ms", "--seed", "9", NULL};
    struct env *e = *state = env_new(args);
    write_orders(e, 20000, 0);
    write_config(e, "batch", NULL, NULL);
    struct fr_rng rng;
    fr_rng_seed(&rng, 1234);
    const char *argv[] = {"run", "credits", "-c", e->config, "--no-progress", NULL};
    int kills = 0;
    for (int i = 0; i < 20; i++) {
        struct fr_proc p;
        assert_int_equal(fr_test_spawn(&p, argv, e->dir, secret_env), 0);
        fr_sleep_ms(30 + (int64_t)(fr_rng_next(&rng) % 400));
        if (p.pid && waitpid(p.pid, NULL, WNOHANG) == 0) {
            kill(p.pid, SIGKILL);
            kills++;
        }
        fr_test_wait(&p, 10000);
        fr_test_proc_release(&p);
    }
    assert_true(kills >= 15);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 20000);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"), 1);
    assert_true(fr_test_route_total(stats, "GET /credits") > 0); /* in-flight keys were looked up */
    json_decref(stats);
}

/* Alert sinks hear about a run that crosses its threshold, and only then. */
static void test_alert_sinks(void **state)
{
    struct env *e = *state = env_new(fault_free);
    char *hook_url = NULL;
    struct fr_test_receiver *hook = fr_test_receiver_start(&hook_url);
    assert_non_null(hook);
    write_orders(e, 100, 10); /* 10 invalid */
    char *alerts = fr_asprintf("alerts:\n"
                               "  - { type: exec, command: \"cat > alert.json\" }\n"
                               "  - { type: webhook, url: \"%s\" }\n"
                               "  - { type: webhook, url: \"%s/mock/nowhere\" }\n",
                               hook_url, e->mock.base_url);
    write_config(e, "batch", "    alert: { max_errors: 20 }\n", alerts);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0); /* 10 <= 20: no alert */
    char *alert_path = fr_asprintf("%s/alert.json", e->dir);
    assert_null(fr_test_read_file(alert_path));
    assert_int_equal(fr_test_receiver_count(hook), 0);
    free(out);
    free(err);

    write_config(e, "batch", "    alert: { max_errors: 5 }\n", alerts);
    const char *fresh[] = {"run", "credits", "--fresh", NULL};
    assert_int_equal(ferry(e, fresh, &out, &err), 1);
    assert_non_null(strstr(err, "\"level\":\"critical\""));
    /* The failing webhook is logged and does not change the exit status. */
    assert_non_null(strstr(err, "alert webhook failed"));
    char *alert = fr_test_read_file(alert_path);
    assert_non_null(alert);
    json_t *j = json_loads(alert, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "rejected")),
                     10);
    assert_string_equal(json_string_value(json_object_get(j, "job")), "credits");
    json_decref(j);
    /* The webhook got a Slack-compatible text and the same summary. */
    assert_int_equal(fr_test_receiver_count(hook), 1);
    char *posted = fr_test_receiver_body(hook, 0);
    json_t *w = json_loads(posted, 0, NULL);
    assert_non_null(
        strstr(json_string_value(json_object_get(w, "text")), "over the job's alert threshold"));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(w, "summary"), "counts"), "rejected")),
                     10);
    json_decref(w);
    free(posted);
    free(alert);
    free(alert_path);
    free(out);
    free(err);
    free(alerts);
    fr_test_receiver_stop(hook);
    free(hook_url);
}

/* Rollback removes exactly the keys its run created, and can be rerun. */
static void test_rollback(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 200, 0);
    write_config(e, "batch", NULL, NULL);
    const char *first[] = {"run", "credits", "--limit", "80", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, first, &out, &err), 0);
    free(out);
    free(err);
    const char *second[] = {"run", "credits", NULL};
    assert_int_equal(ferry(e, second, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 120);
    /* The second run's id, from its summary line on stdout. */
    char run_id[64] = "";
    const char *at = strstr(out, "run ");
    assert_non_null(at);
    sscanf(at + 4, "%63s", run_id);
    free(out);
    free(err);

    const char *rb[] = {"rollback", run_id, NULL};
    assert_int_equal(ferry(e, rb, &out, &err), 0);
    assert_non_null(strstr(out, "120 keys, 120 removed"));
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "DELETE /credits/{sourceRef}", "204"), 120);
    json_decref(stats);
    /* Again: nothing left to do. */
    assert_int_equal(ferry(e, rb, &out, &err), 0);
    assert_non_null(strstr(out, "0 keys"));
    free(out);
    free(err);
    const char *list[] = {"runs", "list", NULL};
    assert_int_equal(ferry(e, list, &out, &err), 0);
    assert_non_null(strstr(out, run_id));
    free(out);
    free(err);
    /* A rolled-back key is sent again by the next run. */
    assert_int_equal(ferry(e, second, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 120);
    assert_int_equal(summary_count(err, "skipped"), 80);
    free(out);
    free(err);
}

/* --dry-run sends and writes nothing; --limit and --only narrow a run. */
static void test_dry_run_limit_only(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 120, 40); /* 3 invalid */
    write_config(e, "batch", "    alert: { max_errors: 10 }\n", NULL);
    char *out, *err;
    const char *dry[] = {"run", "credits", "--dry-run", NULL};
    assert_int_equal(ferry(e, dry, &out, &err), 0);
    assert_non_null(strstr(out, "would send 117"));
    assert_int_equal(summary_count(err, "rejected"), 3);
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_route_total(stats, "POST /credits/batch"), 0);
    assert_int_equal(fr_test_route_total(stats, "POST /oauth/token"), 0);
    json_decref(stats);
    const char *list[] = {"runs", "list", "--json", NULL};
    assert_int_equal(ferry(e, list, &out, &err), 0);
    json_t *runs = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(runs), 0); /* a dry run leaves no trace */
    json_decref(runs);
    free(out);
    free(err);

    const char *only[] = {"run", "credits", "--only", "SO-7", NULL};
    assert_int_equal(ferry(e, only, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 1);
    free(out);
    free(err);
    const char *limit[] = {"run", "credits", "--limit", "50", NULL};
    assert_int_equal(ferry(e, limit, &out, &err), 0);
    assert_int_equal(summary_count(err, "read"), 50);
    assert_int_equal(summary_count(err, "skipped"), 1); /* SO-7 */
    assert_int_equal(summary_count(err, "created"), 48);
    assert_int_equal(summary_count(err, "rejected"), 1); /* SO-40 */
    free(out);
    free(err);
    stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 49);
    json_decref(stats);
}

/* A record whose payload changed since it was posted is reported, not resent. */
static void test_changed_payload(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 20, 0);
    write_config(e, "batch", "    alert: { max_errors: 10 }\n", NULL);
    char *out, *err;
    const char *run[] = {"run", "credits", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 0);
    free(out);
    free(err);
    /* The CRM changed one amount after the push. */
    char *path = fr_asprintf("%s/orders.csv", e->dir);
    char *csv = fr_test_read_file(path);
    char *at = strstr(csv, "SO-5,P000006,2026-11-02,5.25");
    assert_non_null(at);
    memcpy(strstr(at, "5.25"), "9.99", 4);
    free(fr_test_write_file(e->dir, "orders.csv", csv));
    free(csv);
    free(path);
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "changed"), 1);
    assert_int_equal(summary_count(err, "skipped"), 19);
    assert_int_equal(summary_count(err, "sent"), 0);
    assert_non_null(strstr(out, "changed  SO-5"));
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 20);
    json_decref(stats);
}

/* A key the export holds twice is sent once; the repeats are rejected with a reason. */
static void test_duplicate_keys_in_source(void **state)
{
    struct env *e = *state = env_new(fault_free);
    struct fr_buf csv = FR_BUF_INIT;
    fr_buf_adds(&csv, "order_id,participant_id,order_date,amount\n");
    for (int i = 1; i <= 300; i++)
        fr_buf_addf(&csv, "SO-%d,P000001,2026-11-02,%d\n", i, i);
    fr_buf_adds(&csv, "SO-300,P000001,2026-11-02,300\n"); /* same batch as its twin */
    fr_buf_adds(&csv, "SO-7,P000001,2026-11-02,7\n");     /* batches later */
    free(fr_test_write_file(e->dir, "orders.csv", fr_buf_str(&csv)));
    fr_buf_release(&csv);
    write_config(e, "batch", "    alert: { max_errors: 10 }\n", NULL);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 300);
    assert_counts_add_up(err);
    assert_int_equal(summary_count(err, "rejected"), 2);
    assert_int_equal(summary_count(err, "skipped"), 0);
    assert_non_null(strstr(err, "key appears again in the source"));
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 300);
    assert_int_equal(fr_test_mock_credits(stats, "duplicate_attempts"), 0);
    json_decref(stats);
    free(out);
    free(err);
}

/* A JSONL source: a bad line is a rejected record naming its line; runs show lists it. */
static void test_jsonl_source_and_runs_show(void **state)
{
    struct env *e = *state = env_new(fault_free);
    free(fr_test_write_file(
        e->dir, "orders.jsonl",
        "{\"order_id\":\"J-1\",\"participant_id\":\"P000001\",\"order_date\":\"2026-11-02\","
        "\"amount\":10.5}\n"
        "{\"order_id\":\"J-2\",\"participant_id\":\n"
        "{\"order_id\":\"J-3\",\"participant_id\":\"P000003\",\"order_date\":\"2026-11-02\","
        "\"amount\":\"7\"}\n"));
    write_config(e, "batch", "    alert: { max_errors: 5 }\n", NULL);
    char *yaml = fr_test_read_file(e->config);
    char *at = strstr(yaml, "{ type: csv, path: orders.csv }");
    assert_non_null(at);
    char *jsonl = fr_asprintf("%.*s{ type: jsonl, path: orders.jsonl }%s", (int)(at - yaml), yaml,
                              at + strlen("{ type: csv, path: orders.csv }"));
    free(fr_test_write_file(e->dir, "ferry.yaml", jsonl));
    free(jsonl);
    free(yaml);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 2);
    assert_int_equal(summary_count(err, "rejected"), 1);
    char run_id[64] = "";
    sscanf(strstr(out, "run ") + 4, "%63s", run_id);
    free(out);
    free(err);
    const char *show[] = {"runs", "show", run_id, "--failed", "--json", NULL};
    assert_int_equal(ferry(e, show, &out, &err), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "created")),
                     2);
    json_t *f = json_array_get(json_object_get(j, "failures"), 0);
    assert_int_equal(json_integer_value(json_object_get(f, "line")), 2);
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "rejected");
    assert_non_null(strstr(json_string_value(json_object_get(f, "reason")), "line 2"));
    json_decref(j);
    free(out);
    free(err);
    const char *missing[] = {"runs", "show", "no-such-run", NULL};
    assert_int_equal(ferry(e, missing, &out, &err), 2);
    assert_non_null(strstr(err, "no run with id no-such-run"));
    free(out);
    free(err);
}

/* `ferry demo` (what `make demo` runs) pushes once, then posts nothing on the rerun. */
static void test_demo(void **state)
{
    char *dir = fr_test_tmpdir();
    char *demo_dir = fr_asprintf("%s/demo", dir);
    const char *args[] = {"demo", "--dir", demo_dir, "--records", "600", NULL};
    char *out, *err;
    assert_int_equal(fr_test_run(args, NULL, NULL, 120000, &out, &err), 0);
    assert_non_null(strstr(out, "largest store count of any one order 1"));
    assert_non_null(strstr(out, "credits stored 600,"));
    /* The second run skipped everything that was accepted. */
    const char *second = strstr(out, "== second run");
    assert_non_null(second);
    assert_non_null(strstr(second, "sent 0"));
    char *log_path = fr_asprintf("%s/ferry.log", demo_dir);
    char *log = fr_test_read_file(log_path);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"msg\":\"run summary\""));
    assert_null(strstr(log, "demo-secret"));
    free(log);
    free(log_path);
    free(out);
    free(err);
    fr_test_rmtree(dir);
    free(demo_dir);
    free(dir);
}

/* Wrong credentials stop the run with exit 3 and lose nothing: the next run sends it all. */
static void test_auth_failure_exit_3(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 150, 0);
    write_config(e, "batch", NULL, NULL);
    const char *argv[] = {"run", "credits", "-c", e->config, NULL};
    const char *bad_env[] = {"IT_SECRET=not-the-secret", NULL};
    char *out, *err;
    assert_int_equal(fr_test_run(argv, e->dir, bad_env, 60000, &out, &err), 3);
    assert_non_null(strstr(out, "rejected the credentials"));
    assert_null(strstr(err, "not-the-secret"));
    assert_null(strstr(out, "not-the-secret"));
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /oauth/token", "401"), 1);
    assert_int_equal(fr_test_route_total(stats, "POST /credits/batch"), 0);
    json_decref(stats);
    const char *run[] = {"run", "credits", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_int_equal(summary_count(err, "created"), 150);
    free(out);
    free(err);
}

/* A target that cannot be reached: exit 4, and every record is still to send. */
static void test_unreachable_exit_4(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 150, 0);
    write_config(e, "batch", NULL, NULL);
    char *yaml = fr_test_read_file(e->config);
    struct fr_buf b = FR_BUF_INIT;
    for (const char *p = yaml; *p;) {
        /* Port 1 on loopback refuses at once; two attempts keep the test short. */
        if (strncmp(p, e->mock.base_url, strlen(e->mock.base_url)) == 0) {
            fr_buf_adds(&b, "http://127.0.0.1:1");
            p += strlen(e->mock.base_url);
        } else if (strncmp(p, "max_attempts: 10", 16) == 0) {
            fr_buf_adds(&b, "max_attempts: 2");
            p += 16;
        } else {
            fr_buf_addc(&b, *p++);
        }
    }
    free(fr_test_write_file(e->dir, "ferry.yaml", fr_buf_str(&b)));
    fr_buf_release(&b);
    free(yaml);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 4);
    assert_non_null(strstr(out, "reason: target unreachable:"));
    assert_counts_add_up(err);
    assert_int_equal(summary_count(err, "created"), 0);
    free(out);
    free(err);
}

/* A store that cannot be opened: exit 5 naming it, and nothing sent. */
static void test_store_failure_exit_5(void **state)
{
    struct env *e = *state = env_new(fault_free);
    write_orders(e, 10, 0);
    write_config(e, "batch", NULL, NULL);
    char *yaml = fr_test_read_file(e->config);
    char *at = strstr(yaml, "sqlite:ferry.db");
    assert_non_null(at);
    char *moved = fr_asprintf("%.*ssqlite:no-such-dir/ferry.db%s", (int)(at - yaml), yaml,
                              at + strlen("sqlite:ferry.db"));
    free(fr_test_write_file(e->dir, "ferry.yaml", moved));
    free(moved);
    free(yaml);
    const char *run[] = {"run", "credits", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 5);
    assert_non_null(strstr(err, "no-such-dir/ferry.db"));
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_route_total(stats, "POST /credits/batch"), 0);
    json_decref(stats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rerun_sends_nothing, teardown),
        cmocka_unit_test_teardown(test_single_record_shape, teardown),
        cmocka_unit_test_teardown(test_single_record_422, teardown),
        cmocka_unit_test_teardown(test_alert_sinks, teardown),
        cmocka_unit_test_teardown(test_rollback, teardown),
        cmocka_unit_test_teardown(test_dry_run_limit_only, teardown),
        cmocka_unit_test_teardown(test_changed_payload, teardown),
        cmocka_unit_test_teardown(test_duplicate_keys_in_source, teardown),
        cmocka_unit_test_teardown(test_jsonl_source_and_runs_show, teardown),
        cmocka_unit_test_teardown(test_auth_failure_exit_3, teardown),
        cmocka_unit_test_teardown(test_unreachable_exit_4, teardown),
        cmocka_unit_test_teardown(test_store_failure_exit_5, teardown),
        cmocka_unit_test(test_demo),
        cmocka_unit_test_teardown(test_every_fault, teardown),
        cmocka_unit_test_teardown(test_crash_safety, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
