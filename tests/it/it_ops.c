/*
 * End-to-end: operations. The metrics a push run writes to its
 * metrics_file and ferry serve's /metrics (checked by promtool, counters
 * asserted by value), /healthz, /readyz, /api/status, the dashboard page,
 * `ferry status --check` for healthy, stale, dead-lettered and failed
 * states, a stored run's reason wherever a person reads runs, and the
 * admin token on the replay action.
 */
#include "core/common.h"
#include "harness.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "hooks/verify.h"
#include "store/store.h"

#define GH_SECRET   "gh-secret-ops-4b1d"
#define ADMIN_TOKEN "adm-token-9c2e77"

static const char *const env_vars[] = {"IT_SECRET=demo-secret", "S_GH=" GH_SECRET,
                                       "FERRY_ADMIN_TOKEN=" ADMIN_TOKEN, NULL};

struct env {
    struct fr_test_mock mock;
    struct fr_test_receiver *recv;
    char *recv_url;
    char *dir;
    char *config;
    struct fr_proc serve;
    int port;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    if (fr_test_mock_start(&e->mock, NULL) != 0)
        return -1;
    e->recv = fr_test_receiver_start(&e->recv_url);
    e->dir = fr_test_tmpdir();
    if (!e->recv || !e->dir)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fr_test_kill(&e->serve);
    fr_test_proc_release(&e->serve);
    fr_test_mock_stop(&e->mock);
    fr_test_receiver_stop(e->recv);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->config);
    free(e->recv_url);
    free(e);
    return 0;
}

/* ferry.yaml: a push job of n records to the mock, a GitHub webhook source, extra at the end. */
static void write_config(struct env *e, int n, const char *job_extra, const char *extra)
{
    char *csv_path = fr_asprintf("%s/orders.csv", e->dir);
    FILE *f = fopen(csv_path, "w");
    assert_non_null(f);
    fputs("order_id,participant_id,order_date,amount\n", f);
    for (int i = 1; i <= n; i++)
        fprintf(f, "SO-%d,P%06d,2026-11-02,%d.25\n", i, i, i);
    fclose(f);
    free(csv_path);
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
        "    retry: { max_attempts: 3, base: 10ms, cap: 50ms, max_elapsed: 10s, budget: 100%% }\n"
        "jobs:\n"
        "  credits:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: /credits/batch, batch_size: 4 }\n"
        "    key: sourceRef\n"
        "    map:\n"
        "      participantId: participant_id\n"
        "      transactionDate: { from: order_date, type: date }\n"
        "      amount: { from: amount, type: number }\n"
        "      currencyCode: { value: USD }\n"
        "      periodId: { value: \"2026-11\" }\n"
        "      sourceRef: { from: order_id }\n"
        "    results: { path: /results, key: sourceRef }\n"
        "    metrics_file: credits.prom\n"
        "%s"
        "webhooks:\n"
        "  listen: 127.0.0.1:0\n"
        "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n"
        "  sources:\n"
        "    gh:\n"
        "      path: /hooks/gh\n"
        "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
        "      deliver: { url: %s, max_attempts: 1 }\n"
        "%s",
        e->mock.base_url, e->mock.base_url, job_extra ? job_extra : "", e->recv_url,
        extra ? extra : "");
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

static int ferry(struct env *e, const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = e->config;
    argv[n] = NULL;
    return fr_test_run(argv, e->dir, env_vars, 60000, out, err);
}

static void start_serve(struct env *e)
{
    const char *args[] = {"serve", "-c", e->config, NULL};
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, env_vars), 0);
    e->port = fr_test_ready_port(&e->serve, 15000);
    if (e->port <= 0)
        fail();
}

static long http(struct env *e, const char *method, const char *path, const char *const *headers,
                 const char *body, char **resp)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port, path);
    long status = 0;
    if (fr_test_http(method, url, headers, body, &status, resp) < 0)
        status = 0;
    return status;
}

static long post_github(struct env *e, const char *secret, const char *id, const char *body)
{
    static const struct fr_verify_conf gh = {.scheme = FR_VERIFY_GITHUB};
    char *sig = fr_verify_sign(&gh, secret, NULL, 0, body, strlen(body));
    char *h1 = fr_asprintf("X-Hub-Signature-256: %s", sig);
    char *h2 = fr_asprintf("X-GitHub-Delivery: %s", id);
    const char *h[] = {h1, h2, "Content-Type: application/json", NULL};
    long status = http(e, "POST", "/hooks/gh", h, body, NULL);
    free(sig);
    free(h1);
    free(h2);
    return status;
}

/* promtool check metrics on text; fails the test when promtool is missing or complains. */
static void promtool_accepts(struct env *e, const char *text)
{
    char *path = fr_test_write_file(e->dir, "scrape.prom", text);
    char *cmd = fr_asprintf("promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        char *out_path = fr_asprintf("%s.out", path);
        char *out = fr_test_read_file(out_path);
        fprintf(stderr,
                "promtool check metrics failed (%d; is promtool installed? "
                "scripts/install-deps installs it):\n%s\n",
                rc, out ? out : "");
        free(out);
        free(out_path);
    }
    assert_int_equal(rc, 0);
    free(cmd);
    free(path);
}

/* The value of the sample line that starts with series (name and labels); fails when absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    fail_msg("no sample %s in:\n%s", series, text);
    return -1;
}

static void wait_count(struct fr_test_receiver *r, size_t n, int timeout_ms)
{
    int64_t deadline = fr_now_ms() + timeout_ms;
    while (fr_test_receiver_count(r) < n && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(fr_test_receiver_count(r), n);
}

/* A push run's metrics file, then serve's /metrics after webhooks: promtool and exact counts. */
static void test_metrics_after_push_and_webhooks(void **state)
{
    struct env *e = *state;
    write_config(e, 10, NULL, NULL);
    char *out = NULL, *err = NULL;
    int rc = ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err);
    if (rc != 0)
        fprintf(stderr, "%s\n%s\n", out, err);
    assert_int_equal(rc, 0);
    free(out);
    free(err);
    char *path = fr_asprintf("%s/credits.prom", e->dir);
    char *text = fr_test_read_file(path);
    assert_non_null(text);
    promtool_accepts(e, text);
    /* 10 records in batches of 4: 3 POSTs, one token. */
    assert_true(sample(text, "ferry_job_records_total{job=\"credits\",outcome=\"read\"}") == 10);
    assert_true(sample(text, "ferry_job_records_total{job=\"credits\",outcome=\"created\"}") == 10);
    assert_true(sample(text, "ferry_job_runs_total{job=\"credits\",status=\"ok\"}") == 1);
    assert_true(sample(text, "ferry_http_requests_total{target=\"im\",method=\"POST\","
                             "status_class=\"2xx\"}") == 3);
    assert_true(sample(text, "ferry_http_request_duration_seconds_count{target=\"im\","
                             "method=\"POST\"}") == 3);
    assert_true(sample(text, "ferry_http_token_refreshes_total{target=\"im\"}") == 1);
    assert_true(sample(text, "ferry_job_last_success_timestamp_seconds{job=\"credits\"}") >
                (double)(fr_wall_ms() / 1000 - 120));
    assert_null(strstr(text, "demo-secret"));
    free(text);

    /* A second run: everything is journaled, so 10 skipped and no POST; the file is replaced. */
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, NULL, NULL), 0);
    text = fr_test_read_file(path);
    assert_true(sample(text, "ferry_job_records_total{job=\"credits\",outcome=\"skipped\"}") == 10);
    assert_null(strstr(text, "outcome=\"created\""));
    free(text);
    free(path);

    fr_test_receiver_delay(e->recv, 1500);
    start_serve(e);
    assert_int_equal(post_github(e, GH_SECRET, "d-1", "{\"n\":1}"), 200);
    assert_int_equal(post_github(e, GH_SECRET, "d-1", "{\"n\":1}"), 200); /* duplicate */
    assert_int_equal(post_github(e, GH_SECRET, "d-2", "{\"n\":2}"), 200);
    assert_int_equal(post_github(e, "wrong-secret", "d-3", "{\"n\":3}"), 401);
    assert_int_equal(http(e, "GET", "/hooks/gh", NULL, NULL, NULL), 405);
    /* While the receiver takes 1.5 s to answer, both events are pending... */
    char *scrape = NULL;
    assert_int_equal(http(e, "GET", "/metrics", NULL, NULL, &scrape), 200);
    assert_true(sample(scrape, "ferry_webhook_queue_depth{source=\"gh\"}") == 2);
    /* ...and once delivered, none: the gauge does not keep the earlier scrape's value. */
    wait_count(e->recv, 2, 10000);
    /* The delivered outcome is recorded after the receiver answered: wait for the metric. */
    for (int i = 0; i < 100; i++) {
        free(scrape);
        scrape = NULL;
        assert_int_equal(http(e, "GET", "/metrics", NULL, NULL, &scrape), 200);
        /* the attempt is counted before its outcome is stored: wait for both */
        if (strstr(scrape,
                   "ferry_delivery_attempts_total{source=\"gh\",outcome=\"delivered\"} 2") &&
            strstr(scrape, "ferry_webhook_queue_depth{source=\"gh\"} 0"))
            break;
        fr_sleep_ms(50);
    }
    promtool_accepts(e, scrape);
    assert_true(sample(scrape, "ferry_webhook_received_total{source=\"gh\"}") == 5);
    assert_true(sample(scrape, "ferry_webhook_accepted_total{source=\"gh\"}") == 2);
    assert_true(sample(scrape, "ferry_webhook_duplicate_total{source=\"gh\"}") == 1);
    assert_true(
        sample(scrape, "ferry_webhook_rejected_total{source=\"gh\",reason=\"signature\"}") == 1);
    assert_true(sample(scrape, "ferry_webhook_rejected_total{source=\"gh\",reason=\"method\"}") ==
                1);
    assert_true(
        sample(scrape, "ferry_delivery_attempts_total{source=\"gh\",outcome=\"delivered\"}") == 2);
    assert_true(sample(scrape, "ferry_delivery_duration_seconds_count{source=\"gh\"}") == 2);
    assert_true(sample(scrape, "ferry_webhook_queue_depth{source=\"gh\"}") == 0);
    assert_true(sample(scrape, "ferry_webhook_dead_letters{source=\"gh\"}") == 0);
    assert_null(strstr(scrape, GH_SECRET));
    assert_null(strstr(scrape, ADMIN_TOKEN));
    free(scrape);
}

/* /healthz, /readyz, /api/status and the page, with the run recorded by ferry run. */
static void test_health_status_page(void **state)
{
    struct env *e = *state;
    write_config(e, 3, "    max_age: 1h\n", NULL);
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, NULL, NULL), 0);
    start_serve(e);
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/healthz", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "\"alive\""));
    free(body);
    assert_int_equal(http(e, "GET", "/readyz", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ready");
    assert_int_equal(json_array_size(json_object_get(j, "failed")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "checks")), 3);
    json_decref(j);
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    free(body);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_t *job = json_array_get(json_object_get(j, "jobs"), 0);
    assert_string_equal(json_string_value(json_object_get(job, "name")), "credits");
    assert_false(json_is_true(json_object_get(job, "stale")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(job, "last_run"), "counts"), "created")),
                     3);
    json_t *src = json_array_get(json_object_get(j, "sources"), 0);
    assert_string_equal(json_string_value(json_object_get(src, "name")), "gh");
    json_decref(j);
    assert_int_equal(http(e, "GET", "/", NULL, NULL, &body), 200);
    assert_non_null(strstr(body, "<!doctype html>"));
    assert_non_null(strstr(body, "api(\"/api/status\")"));              /* reads the status */
    assert_non_null(strstr(body, "\"/api/dlq/\" + seq + \"/replay\"")); /* the replay button */
    assert_non_null(strstr(body, "setInterval(refresh"));               /* refreshes itself */
    assert_null(strstr(body, "http://")); /* nothing loaded from elsewhere */
    assert_null(strstr(body, "https://"));
    free(body);
    assert_int_equal(http(e, "GET", "/nothing-here", NULL, NULL, NULL), 404);
    assert_int_equal(http(e, "POST", "/metrics", NULL, "", NULL), 405);
}

static int status_check(struct env *e, char **err)
{
    char *out = NULL;
    int rc = ferry(e, (const char *[]){"status", "--check", NULL}, &out, err);
    free(out);
    return rc;
}

/* ferry status --check: stale without a success, healthy after one, dead-lettered, stale again. */
static void test_status_check_exit_codes(void **state)
{
    struct env *e = *state;
    write_config(e, 2, "    max_age: 2h\n", NULL);
    char *err = NULL;
    /* Never succeeded: stale. */
    assert_int_equal(status_check(e, &err), 1);
    assert_non_null(strstr(err, "job credits is stale: last success never"));
    free(err);
    /* A success three hours ago is stale too. */
    fr_test_store_old_success(e->dir, "credits", 3 * 3600 * 1000);
    assert_int_equal(status_check(e, &err), 1);
    assert_non_null(strstr(err, "job credits is stale: last success 10"));
    free(err);
    /* A run now: healthy. */
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, NULL, NULL), 0);
    assert_int_equal(status_check(e, &err), 0);
    free(err);
    char *out = NULL;
    assert_int_equal(ferry(e, (const char *[]){"status", "--json", NULL}, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_t *job = json_array_get(json_object_get(j, "jobs"), 0);
    assert_true(json_number_value(json_object_get(job, "success_rate")) == 1.0);
    assert_int_equal(json_integer_value(json_object_get(job, "recent_runs")), 2);
    json_decref(j);
    /* One dead letter: over max_dead_letters (0). */
    fr_test_store_dead_letter(e->dir, "gh", "dead-1", "{\"dead\":1}");
    assert_int_equal(status_check(e, &err), 1);
    assert_non_null(strstr(err, "webhook source gh has 1 dead letters (max 0)"));
    free(err);
    /* ... unless the threshold allows it. */
    write_config(e, 2, "    max_age: 2h\n", "status: { max_dead_letters: 1 }\n");
    assert_int_equal(status_check(e, &err), 0);
    free(err);
    /* Without --check problems do not change the exit status. */
    write_config(e, 2, "    max_age: 2h\n", NULL);
    assert_int_equal(ferry(e, (const char *[]){"status", NULL}, NULL, NULL), 0);
}

/*
 * A run of credits recorded as the run envelope records one: begun on host
 * and pid, then (status not NULL) finished with status, exit code and reason.
 */
static void add_run(struct env *e, const char *id, int64_t started_ms, const char *host,
                    int64_t pid, const char *status, int exit_code, const char *reason)
{
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, NULL), 0);
    struct fr_run r = {.exit_code = -1, .started_ms = started_ms, .pid = pid};
    fr_strlcpy(r.id, id, sizeof(r.id));
    fr_strlcpy(r.job, "credits", sizeof(r.job));
    fr_strlcpy(r.host, host, sizeof(r.host));
    assert_int_equal(fr_store_run_begin(st, &r, NULL), 0);
    if (status) {
        fr_strlcpy(r.status, status, sizeof(r.status));
        r.exit_code = exit_code;
        r.ended_ms = started_ms + 600000;
        r.counts.read = 30;
        r.counts.created = 12;
        fr_strlcpy(r.reason, reason, sizeof(r.reason));
        assert_int_equal(fr_store_run_finish(st, &r, NULL), 0);
    }
    fr_store_close(st);
}

#define FAILED_ID     "20261207T020000Z-ab12cd"
#define FAILED_REASON "target unreachable: 3 batches gave up after 10m"

/*
 * A run stored failed with a reason: `runs list`, `runs show` (text and
 * JSON), `status --json` and /api/status show it, and `status --check`
 * names it; a run still going is no problem, an interrupted one is.
 */
static void test_failed_run_reason_shown(void **state)
{
    struct env *e = *state;
    write_config(e, 2, "    max_age: 2h\n", NULL);
    int64_t now = fr_wall_ms();
    fr_test_store_old_success(e->dir, "credits", 3600 * 1000); /* within max_age: not stale */
    add_run(e, FAILED_ID, now - 20 * 60 * 1000, "batch-7.example.com", 4242, "failed", 4,
            FAILED_REASON);

    char *out = NULL, *err = NULL;
    assert_int_equal(ferry(e, (const char *[]){"runs", "list", NULL}, &out, NULL), 0);
    const char *line = strstr(out, FAILED_ID);
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    const char *why = strstr(line, FAILED_REASON);
    assert_true(why && (!eol || why < eol)); /* on the run's own line */
    free(out);

    assert_int_equal(ferry(e, (const char *[]){"runs", "list", "--json", NULL}, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    json_t *run = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(run, "run_id")), FAILED_ID);
    assert_string_equal(json_string_value(json_object_get(run, "reason")), FAILED_REASON);
    assert_true(json_is_null(json_object_get(json_array_get(j, 1), "reason")));
    json_decref(j);

    assert_int_equal(
        ferry(e, (const char *[]){"runs", "show", FAILED_ID, "--json", NULL}, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 4);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), FAILED_REASON);
    assert_string_equal(json_string_value(json_object_get(j, "host")), "batch-7.example.com");
    assert_int_equal(json_integer_value(json_object_get(j, "pid")), 4242);
    json_decref(j);

    assert_int_equal(ferry(e, (const char *[]){"runs", "show", FAILED_ID, NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, "status   failed (exit 4)\nreason   " FAILED_REASON "\n"));
    assert_non_null(strstr(out, "process  batch-7.example.com, pid 4242\n"));
    free(out);

    /* status --check names the run, its exit code and its reason */
    assert_int_equal(status_check(e, &err), 1);
    assert_non_null(strstr(err, "ferry status: job credits: last run " FAILED_ID
                                " failed (exit 4): " FAILED_REASON "\n"));
    free(err);

    /* status --json and GET /api/status: the last run's status, exit code and reason */
    assert_int_equal(ferry(e, (const char *[]){"status", "--json", NULL}, &out, NULL), 0);
    j = json_loads(out, 0, NULL);
    free(out);
    json_t *last = json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "last_run");
    assert_string_equal(json_string_value(json_object_get(last, "id")), FAILED_ID);
    assert_string_equal(json_string_value(json_object_get(last, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(last, "exit_code")), 4);
    assert_string_equal(json_string_value(json_object_get(last, "reason")), FAILED_REASON);
    assert_false(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    start_serve(e);
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    free(body);
    last = json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "last_run");
    assert_string_equal(json_string_value(json_object_get(last, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(last, "exit_code")), 4);
    assert_string_equal(json_string_value(json_object_get(last, "reason")), FAILED_REASON);
    json_t *problems = json_object_get(j, "problems");
    assert_int_equal(json_array_size(problems), 1);
    assert_string_equal(json_string_value(json_array_get(problems, 0)),
                        "job credits: last run " FAILED_ID " failed (exit 4): " FAILED_REASON);
    json_decref(j);

    /* a run still going is not a problem */
    add_run(e, "20261207T030000Z-cd34ef", now - 60 * 1000, "batch-7.example.com", 4300, NULL, 0,
            NULL);
    assert_int_equal(status_check(e, &err), 0);
    free(err);
    /* one that was interrupted is, with its true exit code */
    add_run(e, "20261207T040000Z-ef56ab", now - 30 * 1000, "batch-7.example.com", 4400,
            "interrupted", 130, "SIGINT: stopped reading; 2 batches settled");
    assert_int_equal(status_check(e, &err), 1);
    assert_non_null(strstr(err, "job credits: last run 20261207T040000Z-ef56ab interrupted "
                                "(exit 130): SIGINT: stopped reading; 2 batches settled\n"));
    assert_null(strstr(err, FAILED_ID)); /* only the last run counts */
    free(err);
}

/* The replay action needs the admin token; with it the dead letter is delivered. */
static void test_replay_needs_admin_token(void **state)
{
    struct env *e = *state;
    write_config(e, 1, NULL, NULL);
    fr_test_store_dead_letter(e->dir, "gh", "dead-1", "{\"dead\":1}");
    start_serve(e);
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/api/dlq", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    json_t *dl = json_array_get(json_object_get(j, "dead_letters"), 0);
    assert_non_null(dl);
    char path[64];
    snprintf(path, sizeof(path), "/api/dlq/%lld/replay",
             (long long)json_integer_value(json_object_get(dl, "seq")));
    json_decref(j);
    assert_int_equal(http(e, "POST", path, NULL, "", NULL), 401);
    const char *wrong[] = {"Authorization: Bearer adm-token-9c2e7", NULL};
    assert_int_equal(http(e, "POST", path, wrong, "", NULL), 401);
    assert_int_equal(fr_test_receiver_count(e->recv), 0);
    const char *right[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    assert_int_equal(http(e, "POST", path, right, "", &body), 200);
    assert_null(strstr(body, ADMIN_TOKEN));
    free(body);
    wait_count(e->recv, 1, 10000);
    char *got = fr_test_receiver_body(e->recv, 0);
    assert_string_equal(got, "{\"dead\":1}");
    free(got);
    assert_int_equal(http(e, "POST", path, right, "", NULL), 404); /* not dead any more */
    kill(e->serve.pid, SIGTERM);
    assert_int_equal(fr_test_wait(&e->serve, 15000), 0);
    char *log = fr_test_proc_stderr(&e->serve);
    assert_null(strstr(log, ADMIN_TOKEN));
    assert_null(strstr(log, "adm-token-9c2e7"));
    free(log);
}

/* protect_reads: the API's reads need the token too; monitoring endpoints stay open. */
static void test_protected_reads(void **state)
{
    struct env *e = *state;
    write_config(e, 1, NULL, NULL);
    char *yaml = fr_test_read_file(e->config);
    const char *at = "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n";
    char *cut = strstr(yaml, at);
    assert_non_null(cut);
    cut += strlen(at);
    char *with = fr_asprintf("%.*s  protect_reads: true\n%s", (int)(cut - yaml), yaml, cut);
    free(yaml);
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", with);
    free(with);
    start_serve(e);
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 401);
    assert_null(strstr(body, ADMIN_TOKEN));
    free(body);
    assert_int_equal(http(e, "GET", "/api/dlq", NULL, NULL, NULL), 401);
    const char *wrong[] = {"Authorization: Bearer adm-token-9c2e7", NULL};
    assert_int_equal(http(e, "GET", "/api/status", wrong, NULL, NULL), 401);
    const char *right[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    assert_int_equal(http(e, "GET", "/api/status", right, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(json_object_get(j, "jobs"));
    json_decref(j);
    free(body);
    assert_int_equal(http(e, "GET", "/api/dlq", right, NULL, NULL), 200);
    assert_int_equal(http(e, "GET", "/metrics", NULL, NULL, NULL), 200);
    assert_int_equal(http(e, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_int_equal(http(e, "GET", "/", NULL, NULL, NULL), 200);
    kill(e->serve.pid, SIGTERM);
    assert_int_equal(fr_test_wait(&e->serve, 15000), 0);
    char *log = fr_test_proc_stderr(&e->serve);
    assert_non_null(strstr(log, "admin request refused"));
    assert_null(strstr(log, "adm-token-9c2e7"));
    free(log);
}

/* POST /mock/faults with spec (may be ""). */
static void set_faults(struct env *e, const char *spec)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/mock/faults", e->mock.base_url);
    long status = 0;
    assert_int_equal(fr_test_http("POST", url, NULL, spec, &status, NULL), 0);
    assert_int_equal(status, 200);
}

/* POST /api/jobs/credits/run with the admin token, then waits until the run is over. */
static void run_now(struct env *e)
{
    const char *auth[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    assert_int_equal(http(e, "POST", "/api/jobs/credits/run", auth, "", NULL), 202);
    for (int i = 0; i < 600; i++) {
        char *body = NULL;
        assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
        json_t *j = json_loads(body, 0, NULL);
        free(body);
        bool running =
            json_is_true(json_object_get(json_array_get(json_object_get(j, "jobs"), 0), "running"));
        json_decref(j);
        if (!running)
            return;
        fr_sleep_ms(50);
    }
    fail_msg("the job run did not finish");
}

/* How many notifications of alert in state the exec sink wrote to alerts.jsonl. */
static int notified(struct env *e, const char *alert, const char *state)
{
    char *path = fr_asprintf("%s/alerts.jsonl", e->dir);
    char *text = fr_test_read_file(path);
    free(path);
    int n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        json_t *j = json_loads(line, 0, NULL);
        /* Runs over their threshold alert the same sinks, without "alert". */
        const char *a = json_string_value(json_object_get(j, "alert"));
        const char *st = json_string_value(json_object_get(j, "state"));
        if (a && st && strcmp(a, alert) == 0 && strcmp(st, state) == 0)
            n++;
        json_decref(j);
    }
    free(text);
    return n;
}

static void wait_notified(struct env *e, const char *alert, const char *state)
{
    for (int i = 0; i < 300 && notified(e, alert, state) == 0; i++)
        fr_sleep_ms(50);
    if (notified(e, alert, state) == 0) {
        char *path = fr_asprintf("%s/alerts.jsonl", e->dir);
        char *text = fr_test_read_file(path);
        fail_msg("no %s notification for %s; alerts.jsonl:\n%s", state, alert, text);
    }
}

/* Whether GET /api/status lists alert as firing (set when judged, before any sink runs). */
static bool status_firing(struct env *e, const char *alert)
{
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    bool found = false;
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(j, "alerts"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "alert")), alert) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

/*
 * Each trend alert fires once when its condition starts and resolves once
 * when it ends, with the mock's faults switched on and off while serve runs.
 */
static void test_trend_alerts_fire_and_clear_once(void **state)
{
    struct env *e = *state;
    write_config(e, 10, "    max_age: 1m\n",
                 "alerts:\n"
                 "  sinks: [ { type: exec, command: \"cat >> alerts.jsonl; echo >> alerts.jsonl\" "
                 "} ]\n"
                 "  evaluate_every: 100ms\n"
                 "  error_rate: { above: 90%, window: 2s, min_requests: 2 }\n"
                 "  latency_p95: { above: 1s, window: 2s, min_requests: 1 }\n"
                 "  token_refresh: { factor: 3, window: 2s }\n"
                 "  dead_letters: { growth: 1, window: 2s }\n");
    /* A success two minutes ago: over max_age (1m) from the start. */
    fr_test_store_old_success(e->dir, "credits", 2 * 60 * 1000);
    start_serve(e);
    wait_notified(e, "stale_job:credits", "firing");

    /* Every request fails: the error rate fires; without faults it clears. */
    set_faults(e, "error5xx=1");
    run_now(e);
    wait_notified(e, "error_rate:im", "firing");
    set_faults(e, "");
    wait_notified(e, "error_rate:im", "resolved");

    /* Tokens are revoked within a millisecond of being issued, so a run fetches one or more;
     * every record fails, so each run sends them again. Runs go on until the alert fires, and
     * no longer: how many fetches a run makes depends on the machine's speed, and a run after
     * the firing could start once the earlier fetches left the window, so the alert would
     * resolve and fire again. */
    set_faults(e, "revoke_every=1ms,record_error=1");
    bool firing = false;
    for (int run = 0; run < 20 && !firing; run++) {
        run_now(e);
        for (int i = 0; i < 10 && !(firing = status_firing(e, "token_refresh:im")); i++)
            fr_sleep_ms(50);
    }
    wait_notified(e, "token_refresh:im", "firing");
    set_faults(e, "");
    wait_notified(e, "token_refresh:im", "resolved");
    /* It resolves as soon as the window holds 3 fetches or fewer, not none: the next phase's
     * run fetches a token of its own, which would make 4 in the window and fire it again.
     * Let the whole window (2s, sampled every 100ms) pass first. */
    fr_sleep_ms(2500);

    /* Slow answers: p95 over 1s fires; the run succeeds, so the job is no longer stale. The
     * thresholds are far from what the other phases produce (revoked tokens answer 401 to
     * about half the requests; a loaded sanitizer build is slow), so each phase moves only
     * its own alert. */
    set_faults(e, "slow=1:1500ms");
    run_now(e);
    wait_notified(e, "latency_p95:im", "firing");
    wait_notified(e, "stale_job:credits", "resolved");
    set_faults(e, "");
    wait_notified(e, "latency_p95:im", "resolved");

    /* A new dead letter: growth fires, and clears once the window holds no growth. */
    fr_test_store_dead_letter(e->dir, "gh", "dead-1", "{\"dead\":1}");
    wait_notified(e, "dead_letters:gh", "firing");
    wait_notified(e, "dead_letters:gh", "resolved");

    /* A little longer: nothing fires or clears twice. */
    fr_sleep_ms(500);
    const char *alerts[] = {"stale_job:credits", "error_rate:im", "token_refresh:im",
                            "latency_p95:im", "dead_letters:gh"};
    for (size_t i = 0; i < FR_ARRAY_LEN(alerts); i++) {
        int fired = notified(e, alerts[i], "firing"), resolved = notified(e, alerts[i], "resolved");
        if (fired != 1 || resolved != 1)
            fail_msg("%s: fired %d and resolved %d times (want 1 and 1)", alerts[i], fired,
                     resolved);
    }
    char *body = NULL;
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_int_equal(json_array_size(json_object_get(j, "alerts")), 0);
    json_decref(j);
}

/* The runs of credits in the store, newest first, as "status,status,...". */
static char *run_statuses(struct env *e)
{
    char *out = NULL;
    assert_int_equal(
        ferry(e, (const char *[]){"runs", "list", "--json", "--job", "credits", NULL}, &out, NULL),
        0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    size_t i;
    json_t *r;
    json_array_foreach(j, i, r)
        fr_buf_addf(&b, "%s%s", i ? "," : "", json_string_value(json_object_get(r, "status")));
    json_decref(j);
    return fr_buf_detach(&b, NULL);
}

/*
 * SIGTERM to `ferry serve` while a job it runs posts to a slow API: the run
 * stops as `ferry run` does (reads no more, settles what is on the wire),
 * is stored `interrupted` with its counts, and serve exits soon after
 * instead of waiting for the whole job.
 */
static void test_serve_stop_interrupts_runs(void **state)
{
    struct env *e = *state;
    write_config(e, 2000, NULL, NULL);
    set_faults(e, "slow=1:200ms");
    start_serve(e);
    const char *auth[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    assert_int_equal(http(e, "POST", "/api/jobs/credits/run", auth, "", NULL), 202);
    for (int i = 0; i < 300; i++) { /* wait until the run posts */
        json_t *stats = fr_test_mock_stats(&e->mock);
        long stored =
            (long)json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored"));
        json_decref(stats);
        if (stored > 0)
            break;
        fr_sleep_ms(50);
    }
    int64_t t0 = fr_now_ms();
    kill(e->serve.pid, SIGTERM);
    /* 2000 records at 4 a batch and 200 ms an answer would take minutes; the grace is 10s. */
    assert_int_equal(fr_test_wait(&e->serve, 30000), 0);
    assert_true(fr_now_ms() - t0 < 15000);
    char *statuses = run_statuses(e);
    assert_string_equal(statuses, "interrupted");
    free(statuses);
    char *out = NULL;
    assert_int_equal(ferry(e, (const char *[]){"runs", "list", "--json", NULL}, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    json_t *run = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(run, "reason")),
                        "interrupted by SIGTERM");
    assert_int_equal(json_integer_value(json_object_get(run, "exit_code")), 143);
    assert_true(json_integer_value(json_object_get(json_object_get(run, "counts"), "created")) > 0);
    json_decref(j);
}

/*
 * The scheduler: a slot missed while the server was down (the last run is
 * two hours old, the schedule is every minute, max_age 1h) runs once at
 * start; a run requested while one runs is refused (no overlap).
 */
static void test_scheduler_catch_up_and_no_overlap(void **state)
{
    struct env *e = *state;
    write_config(e, 8, "    max_age: 1h\n    schedule: \"* * * * *\"\n    timezone: UTC\n", NULL);
    fr_test_store_old_success(e->dir, "credits", 2 * 3600 * 1000);
    set_faults(e, "slow=1:400ms");
    /* Everything below happens within one minute, so no new slot comes due: start early in one. */
    int64_t second = fr_wall_ms() / 1000 % 60;
    if (second >= 45)
        fr_sleep_ms((61 - second) * 1000);
    int64_t minute = fr_wall_ms() / 60000;
    start_serve(e);
    /* The catch-up run starts at once and is slow: a second run now is refused. */
    const char *auth[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    char *body = NULL;
    assert_int_equal(http(e, "POST", "/api/jobs/credits/run", auth, "", &body), 409);
    assert_non_null(strstr(body, "running already"));
    free(body);
    assert_int_equal(http(e, "POST", "/api/jobs/nope/run", auth, "", NULL), 404);
    /* Wait for it to end, then look at the runs: one new ok run besides the old one. */
    char *runs = NULL;
    for (int i = 0; i < 200; i++) {
        free(runs);
        runs = run_statuses(e);
        if (strcmp(runs, "ok,ok") == 0)
            break;
        fr_sleep_ms(50);
    }
    assert_string_equal(runs, "ok,ok");
    free(runs);
    assert_int_equal(http(e, "GET", "/api/status", NULL, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    json_t *job = json_array_get(json_object_get(j, "jobs"), 0);
    const char *next = json_string_value(json_object_get(job, "next_run"));
    assert_non_null(next);
    assert_non_null(strstr(next, ":00.000Z")); /* a whole minute */
    assert_false(json_is_true(json_object_get(job, "stale")));
    json_decref(j);
    /* The scheduled run shows in serve's metrics (once it has ended, just after it is stored). */
    char *scrape = NULL;
    for (int i = 0; i < 200; i++) {
        free(scrape);
        scrape = NULL;
        assert_int_equal(http(e, "GET", "/metrics", NULL, NULL, &scrape), 200);
        if (strstr(scrape, "\nferry_job_runs_total{"))
            break;
        fr_sleep_ms(50);
    }
    assert_true(sample(scrape, "ferry_job_runs_total{job=\"credits\",status=\"ok\"}") == 1);
    assert_true(sample(scrape, "ferry_job_records_total{job=\"credits\",outcome=\"read\"}") == 8);
    free(scrape);
    /* A restart right away: the slot ran, so nothing runs at start. */
    kill(e->serve.pid, SIGTERM);
    assert_int_equal(fr_test_wait(&e->serve, 15000), 0);
    fr_test_proc_release(&e->serve);
    start_serve(e);
    fr_sleep_ms(1500);
    runs = run_statuses(e);
    assert_true(fr_wall_ms() / 60000 == minute); /* no new slot came due */
    assert_string_equal(runs, "ok,ok");
    free(runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_after_push_and_webhooks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_status_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_check_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_run_reason_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_needs_admin_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protected_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trend_alerts_fire_and_clear_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_stop_interrupts_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler_catch_up_and_no_overlap, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
