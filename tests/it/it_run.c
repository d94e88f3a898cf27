/*
 * End-to-end: the run-level failure contract of `ferry run` (issue 15).
 * A request whose answer was lost after the API acted is never resent
 * blindly; two runs of a job never overlap; every failed run tells the
 * alert sinks why; SIGINT/SIGTERM stop cleanly with true counts; a run that
 * failed before sending leaves nothing in doubt. The mock's /mock/stats
 * (with no_dedupe: a record posted twice is stored twice) is the witness.
 */
#include "core/common.h"
#include "harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

struct env {
    struct fr_test_mock mock;
    char *dir;
    char *config;
    struct fr_test_receiver *hook; /* the alert webhook's receiver, when a test starts one */
    char *hook_url;
};

static const char *const secret_env[] = {"IT_SECRET=demo-secret", NULL};

/*
 * Writes ferry.yaml for a batch push job against base_url (NULL: the mock;
 * tokens always come from the mock) with retry settings `retry`, the target's `timeout` block, and
 * extra lines for the job and the top level.
 */
static void write_config(struct env *e, const char *base_url, const char *retry,
                         const char *timeout, bool with_lookup, const char *extra_job,
                         const char *extra_top)
{
    const char *url = base_url ? base_url : e->mock.base_url;
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
        "    retry: %s\n"
        "    timeout: %s\n"
        "    max_in_flight: 4\n"
        "jobs:\n"
        "  credits:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: /credits/batch, batch_size: 50 }\n"
        "    key: sourceRef\n"
        "    map:\n"
        "      participantId: participant_id\n"
        "      transactionDate: { from: order_date, type: date }\n"
        "      amount: { from: amount, type: number, required: true }\n"
        "      currencyCode: { value: USD }\n"
        "      periodId: { value: \"2026-11\" }\n"
        "      sourceRef: { from: order_id, required: true }\n"
        "    results: { path: /results, key: sourceRef }\n"
        "    body_errors: [ { path: /success, equals: false, message: /error } ]\n"
        "%s"
        "%s%s",
        url, e->mock.base_url,
        retry ? retry : "{ max_attempts: 10, base: 20ms, cap: 1s, max_elapsed: 60s, budget: 100% }",
        timeout ? timeout : "{ connect: 2s, total: 10s }",
        with_lookup ? "    lookup: { method: GET, path: \"/credits?$filter=sourceRef eq "
                      "'{{key}}'\", found: /value/0 }\n"
                    : "",
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
        if (e->hook)
            fr_test_receiver_stop(e->hook);
        free(e->hook_url);
        fr_test_mock_stop(&e->mock);
        fr_test_rmtree(e->dir);
        free(e->dir);
        free(e->config);
        free(e);
    }
    *state = NULL;
    return 0;
}

/* Runs `ferry ARGS... -c config` to completion; returns the exit status. */
static int ferry(struct env *e, const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = e->config;
    argv[n] = NULL;
    return fr_test_run(argv, e->dir, secret_env, 240000, out, err);
}

/* Replaces the mock's faults (POST /mock/faults). */
static void set_faults(struct env *e, const char *spec)
{
    char *url = fr_asprintf("%s/mock/faults", e->mock.base_url);
    long status = 0;
    assert_int_equal(fr_test_http("POST", url, NULL, spec, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(url);
}

/* The mock stored n credits, none of them twice. */
static void assert_stored_once(struct env *e, long n)
{
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"), 1);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), n);
    json_decref(stats);
}

static void assert_counts_add_up(const char *err)
{
    long read = fr_test_summary_count(err, "read");
    long sum = fr_test_summary_count(err, "created") + fr_test_summary_count(err, "duplicate") +
               fr_test_summary_count(err, "skipped") + fr_test_summary_count(err, "rejected") +
               fr_test_summary_count(err, "failed") + fr_test_summary_count(err, "changed");
    assert_int_equal(read, sum);
}

/*
 * 10,000 records against an API without duplicate detection that loses
 * answers after acting (faults): every record stored exactly once, the
 * lost answers resolved by lookups, the counts add up.
 */
static void in_doubt_case(void **state, const char *faults, const char *timeout)
{
    const char *args[] = {"--faults", faults, "--seed", "3", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 10000, 0);
    write_config(e, NULL, NULL, timeout, true, NULL, NULL);
    const char *run[] = {"run", "credits", "--no-progress", NULL};
    char *out, *err;
    int status = ferry(e, run, &out, &err);
    if (status != 0)
        fprintf(stderr, "%s\n", out);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"), 1);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 10000);
    assert_int_equal(status, 0);
    assert_counts_add_up(err);
    assert_int_equal(fr_test_summary_count(err, "created"), 10000);
    assert_true(fr_test_summary_count(err, "in_doubt") > 0);
    long lookups = fr_test_summary_count(err, "lookups");
    assert_true(lookups > 0);
    /* every lookup answered reached the mock (some were asked again after a lost answer) */
    assert_true(fr_test_route_total(stats, "GET /credits") >= lookups);
    assert_int_equal(fr_test_summary_count(err, "in_doubt_resent"), 0);
    assert_non_null(strstr(out, "lookups"));
    json_decref(stats);
    free(out);
    free(err);
}

static void test_in_doubt_truncate(void **state)
{
    in_doubt_case(state, "no_dedupe,truncate=0.1", NULL);
}

static void test_in_doubt_with_refusals(void **state)
{
    /* Answers lost after acting, among refusals that never act (429, 503, resets). */
    in_doubt_case(state, "no_dedupe,truncate=0.05,error5xx=0.05,reset=0.02,rate=400/s", NULL);
}

static void test_in_doubt_drop_after(void **state)
{
    in_doubt_case(state, "no_dedupe,drop_after=0.1", NULL);
}

static void test_in_doubt_slow_past_the_timeout(void **state)
{
    /* The mock stores, then answers after 3 s; the client gave up after 1 s. */
    in_doubt_case(state, "no_dedupe,slow=0.03:3s", "{ connect: 2s, total: 1s }");
}

static void test_in_doubt_reused_connection_dropped(void **state)
{
    /* The 4th request of every connection is stored and its connection closed unanswered. */
    in_doubt_case(state, "no_dedupe,drop_nth=4", NULL);
}

static void test_in_doubt_every_fault(void **state)
{
    in_doubt_case(state,
                  "no_dedupe,truncate=0.03,drop_after=0.03,drop_nth=7,slow=0.01:3s,error5xx=0.05,"
                  "reset=0.02,rate=400/s",
                  "{ connect: 2s, total: 1s }");
}

/*
 * Without a lookup, libcurl's own re-send on a reused connection that died
 * after the batch was written is allowed, but counted: a retry, in doubt.
 */
static void test_reused_connection_resend_counted(void **state)
{
    const char *args[] = {"--faults", "drop_nth=3", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 500, 0);
    write_config(e, NULL, NULL, NULL, false, NULL, NULL);
    const char *run[] = {"run", "credits", "--no-progress", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    json_t *stats = fr_test_mock_stats(&e->mock);
    long dropped = fr_test_stat_requests(stats, "POST /credits/batch", "drop_nth");
    assert_true(dropped > 0);
    /* every batch the mock dropped was sent again, and each such re-send is counted */
    assert_true(fr_test_summary_count(err, "retries") >= dropped);
    assert_true(fr_test_summary_count(err, "in_doubt_resent") >= dropped);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"), 1);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 500);
    json_decref(stats);
    free(out);
    free(err);
}

/* Without a lookup the resend is blind: the summary and the log say so. */
static void test_in_doubt_without_lookup_says_so(void **state)
{
    const char *args[] = {"--faults", "truncate=0.2", "--seed", "4", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 500, 0);
    write_config(e, NULL, NULL, NULL, false, NULL, NULL);
    const char *run[] = {"run", "credits", "--no-progress", NULL};
    char *out, *err;
    assert_int_equal(ferry(e, run, &out, &err), 0);
    assert_true(fr_test_summary_count(err, "in_doubt_resent") > 0);
    assert_non_null(strstr(out, "the job has no lookup"));
    assert_non_null(strstr(err, "only the target's duplicate check"));
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "max_store_count"),
                     1); /* the mock dedupes: 200 + DUPLICATE */
    json_decref(stats);
    free(out);
    free(err);
}

/*
 * A run that failed at the token step sent nothing: the next run, against
 * an API that is down (its port closed), makes no lookup and ends with
 * exit 4 within about one max_elapsed. (Before: every key was in flight,
 * and each was looked up in turn, max_elapsed apiece.)
 */
static void test_no_poison_after_token_failure(void **state)
{
    const char *args[] = {"--faults", "no_dedupe", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 400, 0);
    write_config(e, NULL, NULL, NULL, true, NULL, NULL);
    const char *argv[] = {"run", "credits", "--no-progress", "-c", e->config, NULL};
    const char *bad_env[] = {"IT_SECRET=not-the-secret", NULL};
    char *out, *err;
    assert_int_equal(fr_test_run(argv, e->dir, bad_env, 60000, &out, &err), 3);
    assert_int_equal(fr_test_summary_count(err, "sent"), 0);
    assert_int_equal(fr_test_summary_count(err, "requests"), 0);
    free(out);
    free(err);
    /* The API is down now (port 1 on loopback refuses at once); tokens still come. */
    write_config(e, "http://127.0.0.1:1",
                 "{ max_attempts: 100, base: 50ms, cap: 200ms, max_elapsed: 2s, budget: 100% }",
                 NULL, true, NULL, NULL);
    int64_t t0 = fr_now_ms();
    const char *run[] = {"run", "credits", "--no-progress", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 4);
    int64_t took = fr_now_ms() - t0;
    assert_true(took < 2 * 2000 + 3000); /* 2 x max_elapsed, and the process's own start and stop */
    assert_int_equal(fr_test_summary_count(err, "lookups"), 0);
    assert_null(strstr(err, "keys were in flight when earlier runs stopped"));
    free(out);
    free(err);
}

/* Everything left on fd until EOF (a child's stdout after it exited). Caller frees. */
static char *drain_fd(int fd)
{
    struct fr_buf b = FR_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        fr_buf_add(&b, chunk, (size_t)n);
    return fr_buf_detach(&b, NULL);
}

/* Waits (bounded) until the mock has stored at least n credits. */
static void wait_stored(struct env *e, long n)
{
    for (int i = 0; i < 600; i++) {
        json_t *stats = fr_test_mock_stats(&e->mock);
        long stored = fr_test_mock_credits(stats, "stored");
        json_decref(stats);
        if (stored >= n)
            return;
        fr_sleep_ms(50);
    }
    fail_msg("the mock never stored %ld credits", n);
}

/* The run id on the first line of a summary ("run ID  job ..."). Caller frees. */
static char *summary_run_id(const char *out)
{
    const char *at = strstr(out, "run ");
    assert_non_null(at);
    at += 4;
    return fr_strndup(at, strcspn(at, " "));
}

/*
 * Two `ferry run` of one job, the second started while the first posts to
 * a slow API: the second exits 6 naming the first's run; nothing is posted
 * twice.
 */
static void test_overlapping_runs_exit_6(void **state)
{
    const char *args[] = {"--faults", "no_dedupe,slow=1:100ms", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 1000, 0);
    write_config(e, NULL, NULL, NULL, true, NULL, NULL);
    const char *argv[] = {"run", "credits", "--no-progress", "-c", e->config, NULL};
    struct fr_proc first;
    assert_int_equal(fr_test_spawn(&first, argv, e->dir, secret_env), 0);
    char *pid = fr_asprintf("pid %d", (int)first.pid);
    wait_stored(e, 50); /* the first run is posting */
    char *out, *err;
    int status = ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err);
    assert_int_equal(status, 6);
    assert_non_null(strstr(err, "another run of job credits is in progress: run "));
    free(out);
    assert_int_equal(fr_test_wait(&first, 120000), 0);
    char *first_out = drain_fd(first.stdout_fd);
    char *id = summary_run_id(first_out);
    assert_non_null(strstr(err, id));
    assert_non_null(strstr(err, pid));
    free(pid);
    free(id);
    free(first_out);
    free(err);
    fr_test_proc_release(&first);
    /* --wait waits for the lock instead: it runs, and finds everything done. */
    const char *wait_args[] = {"run", "credits", "--no-progress", "--wait=1m", NULL};
    assert_int_equal(ferry(e, wait_args, &out, &err), 0);
    assert_int_equal(fr_test_summary_count(err, "skipped"), 1000);
    free(out);
    free(err);
    assert_stored_once(e, 1000);
}

/* What an exec sink and a webhook sink received for a failed run: once, with its reason. */
static void assert_alerted(struct env *e, const char *reason_part, int exit_status)
{
    struct fr_test_receiver *hook = e->hook;
    assert_int_equal(fr_test_receiver_count(hook), 1);
    char *posted = fr_test_receiver_body(hook, 0);
    json_t *w = json_loads(posted, 0, NULL);
    assert_non_null(w);
    const char *reason =
        json_string_value(json_object_get(json_object_get(w, "summary"), "reason"));
    assert_non_null(reason);
    assert_non_null(strstr(reason, reason_part));
    assert_non_null(strstr(json_string_value(json_object_get(w, "text")), reason_part));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(w, "summary"), "exit_code")),
        exit_status);
    json_decref(w);
    free(posted);
    char *path = fr_asprintf("%s/alerts.jsonl", e->dir);
    char *lines = fr_test_read_file(path);
    assert_non_null(lines);
    assert_null(strchr(strchr(lines, '\n') + 1, '\n')); /* one line: one alert */
    json_t *x = json_loads(lines, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(x);
    assert_non_null(strstr(json_string_value(json_object_get(x, "reason")), reason_part));
    json_decref(x);
    free(lines);
    free(path);
    /* and the store keeps the reason */
    char *out, *err;
    assert_int_equal(ferry(e, (const char *[]){"runs", "list", "--json", NULL}, &out, &err), 0);
    json_t *runs = json_loads(out, 0, NULL);
    assert_non_null(runs);
    json_t *last = json_is_array(runs) ? json_array_get(runs, 0)
                                       : json_array_get(json_object_get(runs, "runs"), 0);
    const char *id = json_string_value(json_object_get(last, "id"));
    if (!id)
        id = json_string_value(json_object_get(last, "run_id"));
    assert_non_null(id);
    char *show_out, *show_err;
    assert_int_equal(
        ferry(e, (const char *[]){"runs", "show", id, "--json", NULL}, &show_out, &show_err), 0);
    assert_non_null(strstr(show_out, reason_part));
    free(show_out);
    free(show_err);
    json_decref(runs);
    free(out);
    free(err);
}

/*
 * Starts the webhook receiver (stopped by teardown, also when a test fails)
 * and returns the alerts section: an exec sink appending to alerts.jsonl
 * and a webhook sink to the receiver. Caller frees.
 */
static char *alert_sinks(struct env *e)
{
    e->hook = fr_test_receiver_start(&e->hook_url);
    assert_non_null(e->hook);
    return fr_asprintf(
        "alerts:\n"
        "  - { type: exec, command: \"cat >> alerts.jsonl; echo >> alerts.jsonl\" }\n"
        "  - { type: webhook, url: \"%s\" }\n",
        e->hook_url);
}

/* Wrong credentials (exit 3): both sinks are told once, with the reason. */
static void test_auth_failure_alerts(void **state)
{
    struct env *e = *state = env_new((const char *[]){NULL});
    fr_test_write_orders(e->dir, 100, 0);
    char *alerts = alert_sinks(e);
    write_config(e, NULL, NULL, NULL, true, NULL, alerts);
    const char *argv[] = {"run", "credits", "--no-progress", "-c", e->config, NULL};
    const char *bad_env[] = {"IT_SECRET=not-the-secret", NULL};
    char *out, *err;
    assert_int_equal(fr_test_run(argv, e->dir, bad_env, 60000, &out, &err), 3);
    assert_non_null(strstr(out, "reason: authentication failed:"));
    assert_non_null(strstr(err, "\"level\":\"error\",\"msg\":\"run summary\""));
    free(out);
    free(err);
    assert_alerted(e, "rejected the credentials (HTTP 401 invalid_client)", 3);
    free(alerts);
}

/* An unreachable target (exit 4, a closed port, a short max_elapsed): both sinks told once. */
static void test_unreachable_alerts(void **state)
{
    struct env *e = *state = env_new((const char *[]){NULL});
    fr_test_write_orders(e->dir, 100, 0);
    char *alerts = alert_sinks(e);
    write_config(e, "http://127.0.0.1:1",
                 "{ max_attempts: 100, base: 50ms, cap: 200ms, max_elapsed: 1s, budget: 100% }",
                 NULL, true, NULL, alerts);
    char *out, *err;
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err), 4);
    assert_non_null(strstr(out, "reason: target unreachable:"));
    free(out);
    free(err);
    assert_alerted(e, "target unreachable:", 4);
    free(alerts);
}

/*
 * SIGTERM or SIGINT while a slow run posts: the run stops within the grace,
 * prints its summary, stores itself `interrupted` with the same counts,
 * `ferry status --check` reports it, and the rerun completes the rest with
 * every record stored exactly once. signals: how many to send.
 */
static void interrupted_case(void **state, int signo, int signals)
{
    const char *args[] = {"--faults", "no_dedupe,slow=1:200ms", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 3000, 0);
    write_config(e, NULL, NULL, NULL, true, "    metrics_file: metrics.prom\n", NULL);
    const char *argv[] = {"run", "credits", "--no-progress", "--grace",
                          "5s",  "-c",      e->config,       NULL};
    struct fr_proc p;
    assert_int_equal(fr_test_spawn(&p, argv, e->dir, secret_env), 0);
    wait_stored(e, 250); /* past the first 4 batches of 50 in flight: one was answered */
    int64_t t0 = fr_now_ms();
    kill(p.pid, signo);
    if (signals > 1)
        kill(p.pid, signo);
    int status = fr_test_wait(&p, 30000);
    assert_int_equal(status, 128 + signo);
    assert_true(fr_now_ms() - t0 < 5000 + 2000); /* within the grace */
    char *out = drain_fd(p.stdout_fd);
    char *err = fr_test_proc_stderr(&p);
    fr_test_proc_release(&p);
    long created = fr_test_summary_count(err, "created");
    assert_true(created > 0);
    assert_non_null(strstr(out, signo == SIGTERM ? "reason: interrupted by SIGTERM"
                                                 : "reason: interrupted by SIGINT"));
    char *prom_path = fr_asprintf("%s/metrics.prom", e->dir);
    char *prom = fr_test_read_file(prom_path);
    assert_non_null(prom);
    assert_non_null(strstr(prom, "ferry_job_runs_total{job=\"credits\",status=\"interrupted\"} 1"));
    free(prom);
    free(prom_path);
    char *id = summary_run_id(out);
    char *show_out, *show_err;
    assert_int_equal(
        ferry(e, (const char *[]){"runs", "show", id, "--json", NULL}, &show_out, &show_err), 0);
    json_t *shown = json_loads(show_out, 0, NULL);
    assert_non_null(shown);
    json_t *run = json_object_get(shown, "run") ? json_object_get(shown, "run") : shown;
    assert_string_equal(json_string_value(json_object_get(run, "status")), "interrupted");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(run, "counts"), "created")),
                     created);
    json_decref(shown);
    free(show_out);
    free(show_err);
    free(id);
    free(out);
    free(err);
    assert_int_equal(ferry(e, (const char *[]){"status", "--check", NULL}, &out, &err), 1);
    assert_non_null(strstr(err, "interrupted"));
    free(out);
    free(err);
    /* The rerun sends the rest; what was on the wire when it stopped is looked up. */
    set_faults(e, "no_dedupe");
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err), 0);
    free(out);
    free(err);
    assert_stored_once(e, 3000);
}

/*
 * Keys a killed run left in flight are looked up concurrently, behind the
 * breaker: against an API that is down, the next run ends with exit 4
 * within about one max_elapsed, not one per key; once the API is back, the
 * run after stores every record exactly once.
 */
static void test_leftovers_against_a_dead_api(void **state)
{
    const char *args[] = {"--faults", "no_dedupe,slow=1:300ms", NULL};
    struct env *e = *state = env_new(args);
    fr_test_write_orders(e->dir, 2000, 0);
    write_config(e, NULL,
                 "{ max_attempts: 100, base: 50ms, cap: 200ms, max_elapsed: 2s, budget: 100% }",
                 NULL, true, NULL, NULL);
    const char *argv[] = {"run", "credits", "--no-progress", "-c", e->config, NULL};
    struct fr_proc p;
    assert_int_equal(fr_test_spawn(&p, argv, e->dir, secret_env), 0);
    wait_stored(e, 200); /* posting, with batches on the wire */
    kill(p.pid, SIGKILL);
    fr_test_wait(&p, 10000);
    fr_test_proc_release(&p);
    set_faults(e, "no_dedupe,error5xx=1");
    int64_t t0 = fr_now_ms();
    char *out, *err;
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err), 4);
    int64_t took = fr_now_ms() - t0;
    assert_non_null(strstr(err, "keys were in flight when earlier runs stopped"));
    if (took >= 2 * 2000 + 3000)
        fail_msg("the run against a dead API took %lld ms (max_elapsed 2s)", (long long)took);
    free(out);
    free(err);
    set_faults(e, "no_dedupe");
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err), 0);
    assert_true(fr_test_summary_count(err, "lookups") > 0);
    free(out);
    free(err);
    assert_stored_once(e, 2000);
}

/* --dry-run checks the job's files first: a missing source is exit 2 naming the key's place. */
static void test_dry_run_missing_source(void **state)
{
    struct env *e = *state = env_new((const char *[]){NULL});
    write_config(e, NULL, NULL, NULL, true, NULL, NULL); /* no orders.csv written */
    char *out, *err;
    assert_int_equal(ferry(e,
                           (const char *[]){"run", "credits", "--dry-run", "--no-progress", NULL},
                           &out, &err),
                     2);
    assert_non_null(strstr(err, "ferry.yaml:17:"));
    assert_non_null(strstr(err, ": jobs.credits.source.path: cannot open orders.csv: No such file "
                                "or directory"));
    free(out);
    free(err);
}

/* The pull job "people" for write_config's extra_job, writing its sink at sink_path. */
static char *people_job(const char *sink_path)
{
    return fr_asprintf("  people:\n"
                       "    kind: pull\n"
                       "    target: im\n"
                       "    request:\n"
                       "      path: /participants\n"
                       "      params: { $orderby: participantId, $top: 100, broken: not_array }\n"
                       "    key: participantId\n"
                       "    sink: { type: jsonl, path: %s }\n",
                       sink_path);
}

/* `ferry run JOB`'s exit status; *err (the caller frees it) holds its stderr. */
static int run_job(struct env *e, const char *job, char **err)
{
    char *out = NULL;
    int status = ferry(e, (const char *[]){"run", job, "--no-progress", NULL}, &out, err);
    free(out);
    return status;
}

/*
 * One exit status for the same kind of failure, from push and pull alike
 * (one table, src/cli/exit.c): a job whose input cannot be used at all
 * (the push's source file is missing, the pull's sink directory) could not
 * run: 2, as ferry check says; a job whose input breaks mid-way (the CSV's
 * last quote never closes, a page's records are not an array) ran and
 * failed: 1.
 */
static void test_broken_input_same_status_push_and_pull(void **state)
{
    struct env *e = *state = env_new((const char *[]){"--participants", "250", NULL});
    char *people = people_job("no-such-dir/people.jsonl");
    write_config(e, NULL, NULL, NULL, true, people, NULL); /* no orders.csv written */
    free(people);
    char *err = NULL;
    assert_int_equal(run_job(e, "credits", &err), 2);
    assert_non_null(strstr(err, "orders.csv: No such file or directory"));
    free(err);
    assert_int_equal(run_job(e, "people", &err), 2);
    assert_non_null(strstr(err, "no-such-dir"));
    free(err);

    people = people_job("people.jsonl");
    write_config(e, NULL, NULL, NULL, true, people, NULL);
    free(people);
    free(fr_test_write_file(e->dir, "orders.csv",
                            "order_id,participant_id,order_date,amount\n"
                            "B-1,P000001,2026-11-01,10.00\n"
                            "B-2,P000002,2026-11-01,\"20.00\n"));
    assert_int_equal(run_job(e, "credits", &err), 1);
    assert_non_null(strstr(err, "a quoted field is not closed"));
    free(err);
    assert_int_equal(run_job(e, "people", &err), 1);
    assert_non_null(strstr(err, "are not an array"));
    free(err);
}

static void test_sigterm_stops_cleanly(void **state)
{
    interrupted_case(state, SIGTERM, 1);
}

static void test_sigint_stops_cleanly(void **state)
{
    interrupted_case(state, SIGINT, 1);
}

static void test_second_signal_stops_at_once(void **state)
{
    interrupted_case(state, SIGTERM, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_in_doubt_truncate, teardown),
        cmocka_unit_test_teardown(test_in_doubt_with_refusals, teardown),
        cmocka_unit_test_teardown(test_in_doubt_drop_after, teardown),
        cmocka_unit_test_teardown(test_in_doubt_slow_past_the_timeout, teardown),
        cmocka_unit_test_teardown(test_in_doubt_reused_connection_dropped, teardown),
        cmocka_unit_test_teardown(test_in_doubt_every_fault, teardown),
        cmocka_unit_test_teardown(test_reused_connection_resend_counted, teardown),
        cmocka_unit_test_teardown(test_in_doubt_without_lookup_says_so, teardown),
        cmocka_unit_test_teardown(test_no_poison_after_token_failure, teardown),
        cmocka_unit_test_teardown(test_overlapping_runs_exit_6, teardown),
        cmocka_unit_test_teardown(test_auth_failure_alerts, teardown),
        cmocka_unit_test_teardown(test_unreachable_alerts, teardown),
        cmocka_unit_test_teardown(test_leftovers_against_a_dead_api, teardown),
        cmocka_unit_test_teardown(test_dry_run_missing_source, teardown),
        cmocka_unit_test_teardown(test_broken_input_same_status_push_and_pull, teardown),
        cmocka_unit_test_teardown(test_sigterm_stops_cleanly, teardown),
        cmocka_unit_test_teardown(test_sigint_stops_cleanly, teardown),
        cmocka_unit_test_teardown(test_second_signal_stops_at_once, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
