/*
 * End-to-end: secrets stay out of every way out of ferry (issue 16, item 8),
 * not only out of its log lines. Each case hands ferry secrets that outside
 * text carries back in: an API that quotes the token it was sent in its
 * per-record messages (the mock's echo_auth fault), with a token ferry
 * fetched and with a configured bearer secret; a Slack-style alert webhook
 * URL whose path is the credential; a store URL with a password, written
 * whole in a variable, in the middle of the URL, broken, or without its
 * scheme. Each asserts that no secret shows in what the user would check:
 * stdout, stderr, the store file, `ferry runs show --failed` (text and
 * --json), `ferry status`, what `ferry serve` answers on /api/... and
 * /metrics, the metrics file, and the alert payloads the test's sinks got.
 * The harness also records every secret (fr_test_secret and the
 * environment) and all that output for the suite's secrets scan.
 */
#include "core/common.h"
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/redact.h"
#include "mock/mock.h"
#include "store/store.h"

/* The credential part of the alert webhook URL, and the whole path (Slack's shape). */
#define ALERT_SECRET "SECRETPART-6f1d0c9e2b7a"
#define ALERT_PATH   "/services/T000/B000/" ALERT_SECRET
#define ADMIN_TOKEN  "admin-token-secrets-41c7"
#define GH_SECRET    "gh-secret-secrets-93ab"

#define MAX_SECRETS 16

struct env {
    struct fr_test_mock mock;
    char *dir;
    char *config;
    struct fr_test_receiver *hook; /* the alert webhook's receiver */
    char *hook_url;                /* http://127.0.0.1:PORT/hook, as the harness names it */
    char *alert_url;               /* http://127.0.0.1:PORT/services/T000/B000/SECRET */
    char *token;                   /* the bearer case: a token of the mock, fetched here */
    struct fr_proc serve;
    int port;
    const char *secrets[MAX_SECRETS]; /* what no output may show (besides the mock's tokens) */
    size_t nsecrets;
    char *envv[12]; /* "NAME=value" for every ferry this test runs */
    size_t nenv;
};

static void add_secret(struct env *e, const char *s)
{
    assert_true(e->nsecrets < MAX_SECRETS);
    e->secrets[e->nsecrets++] = s;
    fr_test_secret(s);
}

static void add_env(struct env *e, const char *name, const char *value)
{
    assert_true(e->nenv + 1 < FR_ARRAY_LEN(e->envv));
    e->envv[e->nenv++] = fr_asprintf("%s=%s", name, value);
    e->envv[e->nenv] = NULL;
}

static struct env *env_new(const char *const *mock_args)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    e->dir = fr_test_tmpdir();
    e->hook = fr_test_receiver_start(&e->hook_url);
    assert_non_null(e->hook);
    const char *port = strrchr(e->hook_url, ':');
    e->alert_url = fr_asprintf("http://127.0.0.1:%ld" ALERT_PATH, strtol(port + 1, NULL, 10));
    add_env(e, "IT_SECRET", FR_MOCK_DEFAULT_CLIENT_SECRET);
    add_env(e, "IT_ALERT_URL", e->alert_url);
    add_env(e, "FERRY_ADMIN_TOKEN", ADMIN_TOKEN);
    add_env(e, "S_GH", GH_SECRET);
    add_secret(e, FR_MOCK_DEFAULT_CLIENT_SECRET);
    add_secret(e, ALERT_SECRET);
    add_secret(e, ALERT_PATH);
    add_secret(e, e->alert_url);
    add_secret(e, ADMIN_TOKEN);
    add_secret(e, GH_SECRET);
    return e;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e) {
        fr_test_kill(&e->serve);
        fr_test_proc_release(&e->serve);
        fr_test_receiver_stop(e->hook);
        free(e->hook_url);
        free(e->alert_url);
        fr_test_mock_stop(&e->mock);
        fr_test_rmtree(e->dir);
        free(e->dir);
        free(e->config);
        free(e->token);
        for (size_t i = 0; i < e->nenv; i++)
            free(e->envv[i]);
        free(e);
    }
    *state = NULL;
    return 0;
}

/*
 * Fails when data[0..len) shows a secret of the test or a token of the
 * mock; names the secret by number, never quotes it.
 */
static void assert_clean_mem(const struct env *e, const char *what, const char *data, size_t len)
{
    if (!data)
        return;
    for (size_t i = 0; i <= e->nsecrets; i++) {
        const char *s = i < e->nsecrets ? e->secrets[i] : FR_MOCK_TOKEN_PREFIX;
        if (memmem(data, len, s, strlen(s)))
            fail_msg("%s shows %s%zu", what, i < e->nsecrets ? "secret #" : "a mock token, #",
                     i + 1);
    }
}

static void assert_clean(const struct env *e, const char *what, const char *text)
{
    if (text)
        assert_clean_mem(e, what, text, strlen(text));
}

/* The whole file, NULs and all; *len its size. NULL when absent. */
static char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct fr_buf b = FR_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fr_buf_add(&b, chunk, n);
    fclose(f);
    return fr_buf_detach(&b, len);
}

/* The SQLite store and its WAL, byte for byte. */
static void assert_store_clean(const struct env *e)
{
    static const char *const files[] = {"ferry.db", "ferry.db-wal"};
    bool any = false;
    for (size_t i = 0; i < FR_ARRAY_LEN(files); i++) {
        char *path = fr_asprintf("%s/%s", e->dir, files[i]);
        size_t len = 0;
        char *data = read_bytes(path, &len);
        if (data) {
            any = true;
            assert_clean_mem(e, files[i], data, len);
        }
        free(data);
        free(path);
    }
    assert_true(any);
}

#define MAP                                                                                        \
    "    key: sourceRef\n"                                                                         \
    "    map:\n"                                                                                   \
    "      participantId: participant_id\n"                                                        \
    "      transactionDate: { from: order_date, type: date }\n"                                    \
    "      amount: { from: amount, type: number }\n"                                               \
    "      currencyCode: { value: USD }\n"                                                         \
    "      periodId: { value: \"2026-11\" }\n"                                                     \
    "      sourceRef: { from: order_id }\n"

/*
 * ferry.yaml: two push jobs of the orders to the mock, the target's auth
 * block given: credits posts batches whose answer has a result per record
 * (the API's message is the failure's reason); credits1 posts one credit per
 * request (the API's 403 body is). Then the alert sinks (the secret webhook
 * URL and a command that keeps what it gets) and a webhook source, for
 * ferry serve.
 */
static void write_config(struct env *e, const char *auth)
{
    char *yaml = fr_asprintf(
        "store: sqlite:ferry.db\n"
        "targets:\n"
        "  im:\n"
        "    base_url: %s\n"
        "    auth:\n"
        "%s"
        "    retry: { max_attempts: 3, base: 10ms, cap: 50ms, max_elapsed: 10s, budget: 100%% }\n"
        "jobs:\n"
        "  credits:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: /credits/batch, batch_size: 4 }\n"
        "    results: { path: /results, key: sourceRef }\n" MAP
        "    rollback: { method: DELETE, path: \"/credits/{{key}}\" }\n"
        "    metrics_file: credits.prom\n"
        "    max_age: 1m\n"
        "  credits1:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: /credits, batch_size: 1 }\n" MAP
        "    metrics_file: credits1.prom\n"
        "alerts:\n"
        "  sinks:\n"
        "    - { type: webhook, url: \"${IT_ALERT_URL}\" }\n"
        "    - { type: exec, command: \"cat >> alerts.jsonl; echo >> alerts.jsonl\" }\n"
        "  evaluate_every: 100ms\n"
        "webhooks:\n"
        "  listen: 127.0.0.1:0\n"
        "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n"
        "  sources:\n"
        "    gh:\n"
        "      path: /hooks/gh\n"
        "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
        "      deliver: { url: \"http://127.0.0.1:1/none\", max_attempts: 1 }\n",
        e->mock.base_url, auth);
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

static const char oauth_auth[] = "      type: oauth2_client_credentials\n"
                                 "      token_url: %s/oauth/token\n"
                                 "      client_id: demo\n"
                                 "      client_secret: ${IT_SECRET}\n";

/* Runs `ferry ARGS... -c config`; returns the exit status; out and err are checked, then kept. */
static int ferry(struct env *e, const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = e->config;
    argv[n] = NULL;
    char *o = NULL, *r = NULL;
    int status = fr_test_run(argv, e->dir, (const char *const *)e->envv, 120000, &o, &r);
    char what[96];
    snprintf(what, sizeof(what), "the stdout of ferry %s", args[0]);
    assert_clean(e, what, o);
    snprintf(what, sizeof(what), "the stderr of ferry %s", args[0]);
    assert_clean(e, what, r);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = r;
    else
        free(r);
    return status;
}

static void set_faults(struct env *e, const char *spec)
{
    char *url = fr_asprintf("%s/mock/faults", e->mock.base_url);
    long status = 0;
    assert_int_equal(fr_test_http("POST", url, NULL, spec, &status, NULL), 0);
    assert_int_equal(status, 200);
    free(url);
}

/* The id of the newest run of credits. The caller frees it. */
static char *last_run_id(struct env *e)
{
    char *out = NULL;
    assert_int_equal(ferry(e, (const char *[]){"runs", "list", "--json", NULL}, &out, NULL), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    char *id = fr_strdup(json_string_value(json_object_get(json_array_get(j, 0), "run_id")));
    json_decref(j);
    free(out);
    return id;
}

/*
 * `ferry runs show RUN --failed` in text and JSON: clean, and the failures
 * are there with the API's message, masked (the message did reach them).
 * Returns how many failures the JSON lists.
 */
static size_t assert_failures_masked(struct env *e, const char *run_id, const char *masked)
{
    char *out = NULL;
    assert_int_equal(
        ferry(e, (const char *[]){"runs", "show", run_id, "--failed", NULL}, &out, NULL), 0);
    assert_non_null(strstr(out, masked));
    free(out);
    assert_int_equal(
        ferry(e, (const char *[]){"runs", "show", run_id, "--failed", "--json", NULL}, &out, NULL),
        0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    free(out);
    json_t *failures = json_object_get(j, "failures");
    size_t n = json_array_size(failures);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        const char *reason =
            json_string_value(json_object_get(json_array_get(failures, i), "reason"));
        assert_non_null(reason);
        if (!strstr(reason, masked))
            fail_msg("failure %zu: the reason does not hold \"%s\": %s", i, masked, reason);
    }
    json_decref(j);
    return n;
}

/* The alert payloads the receiver got and the exec sink kept: clean, and about the failures. */
static void assert_alerts_clean(struct env *e, size_t min_posts)
{
    size_t n = fr_test_receiver_count(e->hook);
    assert_true(n >= min_posts);
    for (size_t i = 0; i < n; i++) {
        char *path = fr_test_receiver_path(e->hook, i);
        assert_string_equal(path, ALERT_PATH); /* the sink is the secret URL, as configured */
        free(path);
        char *body = fr_test_receiver_body(e->hook, i);
        assert_clean(e, "an alert the webhook sink got", body);
        free(body);
    }
    char *kept_path = fr_asprintf("%s/alerts.jsonl", e->dir);
    char *kept = fr_test_read_file(kept_path);
    assert_non_null(kept);
    assert_clean(e, "an alert the exec sink got", kept);
    free(kept);
    free(kept_path);
}

/* The metrics file the run wrote. */
static void assert_metrics_file_clean(struct env *e)
{
    char *path = fr_asprintf("%s/credits.prom", e->dir);
    char *prom = fr_test_read_file(path);
    assert_non_null(prom);
    assert_clean(e, "the metrics file", prom);
    free(prom);
    free(path);
}

/* The request log lines of the alert webhook show its URL as scheme, host and [REDACTED]. */
static void assert_alert_url_masked(const char *err)
{
    assert_non_null(strstr(err, "\"target\":\"alert-webhook\""));
    assert_non_null(strstr(err, "/" FR_REDACTED));
}

static long serve_get(struct env *e, const char *path, char **body)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port, path);
    long status = 0;
    assert_int_equal(fr_test_http("GET", url, NULL, NULL, &status, body), 0);
    return status;
}

/* Waits up to timeout_ms for text in the stderr of ferry serve. */
static bool wait_serve_log(struct env *e, const char *text, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        char *log = fr_test_proc_stderr(&e->serve);
        bool found = log && strstr(log, text);
        free(log);
        if (found)
            return true;
        fr_sleep_ms(100);
    }
    return false;
}

/*
 * ferry serve on the store the runs left: its /api/... answers, /metrics and
 * the dashboard are clean. With stale (the job never succeeded), its trend
 * alert (stale_job, from an old success put in the store) goes to the
 * secret webhook URL, which fails: the error and the request lines show the
 * URL masked.
 */
static void serve_is_clean(struct env *e, bool stale)
{
    if (stale)
        fr_test_store_old_success(e->dir, "credits", 2 * 60 * 1000);
    size_t before = fr_test_receiver_count(e->hook);
    fr_test_receiver_fail_next(e->hook, 100, 500);
    const char *args[] = {"serve", "-c", e->config, NULL};
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, (const char *const *)e->envv), 0);
    e->port = fr_test_ready_port(&e->serve, 15000);
    assert_true(e->port > 0);
    static const char *const paths[] = {"/api/status", "/api/dlq", "/metrics", "/", "/readyz"};
    for (size_t i = 0; i < FR_ARRAY_LEN(paths); i++) {
        char *body = NULL;
        assert_int_equal(serve_get(e, paths[i], &body), 200);
        assert_clean(e, paths[i], body);
        free(body);
    }
    if (stale) {
        assert_true(wait_serve_log(e, "alert webhook failed", 30000));
        assert_true(fr_test_receiver_count(e->hook) > before);
    }
    fr_test_kill(&e->serve);
    char *log = fr_test_proc_stderr(&e->serve);
    assert_clean(e, "the log of ferry serve", log);
    if (stale)
        assert_alert_url_masked(log);
    free(log);
    fr_test_receiver_fail_next(e->hook, 0, 200);
}

/*
 * The API quotes the OAuth token ferry fetched in every record's message
 * ("token Bearer mock_at_... lacks scope"): every record fails, and the
 * token shows nowhere: not in the summary, the store, runs show, the alert
 * payloads, the metrics, ferry serve's answers.
 */
static void test_echoed_token_never_shown(void **state)
{
    static const char *const mock_args[] = {"--faults", "echo_auth", NULL};
    struct env *e = env_new(mock_args);
    *state = e;
    char *auth = fr_asprintf(oauth_auth, e->mock.base_url);
    write_config(e, auth);
    free(auth);
    fr_test_write_orders(e->dir, 10, 0);

    char *out = NULL, *err = NULL;
    int status = ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err);
    if (status != 1)
        fail_msg("ferry run exited %d, not 1:\n%s", status, err);
    assert_int_equal(fr_test_summary_count(err, "failed"), 10);
    assert_non_null(strstr(err, "lacks scope"));
    assert_alert_url_masked(err);
    free(out);
    free(err);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_mock_credits(stats, "stored"), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "faults"), "echo_auth")), 10);
    json_decref(stats);

    char *run_id = last_run_id(e);
    assert_int_equal(assert_failures_masked(e, run_id, "token Bearer " FR_REDACTED " lacks scope"),
                     10);
    free(run_id);
    assert_int_equal(ferry(e, (const char *[]){"status", "--json", NULL}, NULL, NULL), 0);
    assert_alerts_clean(e, 1);
    char *body = fr_test_receiver_body(e->hook, 0);
    assert_non_null(strstr(body, "lacks scope")); /* the payload names the failures */
    free(body);
    assert_metrics_file_clean(e);
    assert_store_clean(e);
    serve_is_clean(e, true);
    assert_store_clean(e);
}

/*
 * A configured bearer secret (from the environment), quoted back by the
 * API on every per-record path: a batch's per-record results, the 403 of a
 * one-credit POST, the 403 of a rollback's DELETE. The alert webhook fails
 * once: its error shows the URL masked.
 */
static void test_echoed_bearer_secret_never_shown(void **state)
{
    struct env *e = env_new(NULL);
    *state = e;
    /* The bearer secret: a token of the mock, so that the mock lets the requests through. */
    char *url = fr_asprintf("%s/oauth/token", e->mock.base_url);
    long code = 0;
    char *resp = NULL;
    assert_int_equal(fr_test_http("POST", url, NULL,
                                  "grant_type=client_credentials&client_id=demo&client_secret="
                                  "demo-secret",
                                  &code, &resp),
                     0);
    assert_int_equal(code, 200);
    json_t *tok = json_loads(resp, 0, NULL);
    e->token = fr_strdup(json_string_value(json_object_get(tok, "access_token")));
    json_decref(tok);
    free(resp);
    free(url);
    add_env(e, "IT_BEARER", e->token);
    add_secret(e, e->token);
    write_config(e, "      type: bearer\n      token: ${IT_BEARER}\n");

    /* A first run is accepted; with echo_auth on, its rollback is refused key by key. */
    fr_test_write_orders(e->dir, 3, 0);
    assert_int_equal(
        ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, NULL, NULL), 0);
    char *first = last_run_id(e);
    set_faults(e, "echo_auth");
    char *out = NULL, *err = NULL;
    int status = ferry(e, (const char *[]){"rollback", first, NULL}, &out, &err);
    assert_int_not_equal(status, 0);
    assert_non_null(strstr(err, "rollback failed"));
    assert_non_null(strstr(err, "lacks scope"));
    free(out);
    free(err);
    free(first);

    /* New orders: each refused in the batch's results, quoting the secret; the alert sink
     * fails. */
    fr_test_write_orders(e->dir, 6, 0);
    fr_test_receiver_fail_next(e->hook, 100, 500);
    status = ferry(e, (const char *[]){"run", "credits", "--no-progress", NULL}, &out, &err);
    if (status != 1)
        fail_msg("ferry run exited %d, not 1:\n%s", status, err);
    assert_int_equal(fr_test_summary_count(err, "failed"), 3);
    assert_non_null(strstr(err, "alert webhook failed"));
    assert_alert_url_masked(err);
    free(out);
    free(err);
    fr_test_receiver_fail_next(e->hook, 0, 200);
    char *run_id = last_run_id(e);
    assert_int_equal(assert_failures_masked(e, run_id, "token Bearer " FR_REDACTED " lacks scope"),
                     3);
    free(run_id);

    /* One credit per request: each refused with a 403 whose body quotes the secret. */
    status = ferry(e, (const char *[]){"run", "credits1", "--no-progress", NULL}, &out, &err);
    if (status != 1)
        fail_msg("ferry run exited %d, not 1:\n%s", status, err);
    assert_int_equal(fr_test_summary_count(err, "failed"), 6);
    free(out);
    free(err);
    run_id = last_run_id(e);
    assert_int_equal(assert_failures_masked(e, run_id, "HTTP 403"), 6);
    free(run_id);
    assert_alerts_clean(e, 1);
    assert_metrics_file_clean(e);
    assert_store_clean(e);
    serve_is_clean(e, false);
}

/* ---- the store URL -------------------------------------------------------------------- */

/* A loopback port nothing listens on (it was free a moment ago). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

#define PW_WHOLE   "Sup3rSecretPw-whole-5e1"
#define PW_MIDDLE  "Sup3rSecretPw-middle-0c8"
#define PW_BROKEN  "Sup3r%ZZSecretPw-b7"
#define PW_NOSCHEM "Sup3rSecretPw-noscheme-2d"
#define PW_QUERY   "Sup3rSecretPw-query-91f"

/*
 * A store URL with a password (a postgres server need not be there: the
 * port is closed), written whole in a variable, in the middle of the URL,
 * with a broken percent-encoding, without its scheme, as ?password=: every
 * command that opens the store fails without showing it, naming where the
 * URL is written (file:line:col).
 */
static void test_store_url_password_never_shown(void **state)
{
    struct env *e = env_new(NULL);
    *state = e;
    int port = closed_port();
    static const char *const passwords[] = {PW_WHOLE, PW_MIDDLE, PW_BROKEN, PW_NOSCHEM, PW_QUERY};
    for (size_t i = 0; i < FR_ARRAY_LEN(passwords); i++)
        add_secret(e, passwords[i]);
    add_secret(e, "Sup3r%ZZ");
    char *whole =
        fr_asprintf("postgresql://app:" PW_WHOLE "@127.0.0.1:%d/ferry?connect_timeout=3", port);
    char *broken = fr_asprintf("postgresql://app:%s@127.0.0.1:%d/ferry", PW_BROKEN, port);
    char *noscheme = fr_asprintf("app:" PW_NOSCHEM "@127.0.0.1:%d/ferry", port);
    char *query = fr_asprintf(
        "postgresql://app@127.0.0.1:%d/ferry?password=" PW_QUERY "&connect_timeout=3", port);
    char *middle =
        fr_asprintf("\"postgresql://app:${IT_DB_PW}@127.0.0.1:%d/ferry?connect_timeout=3\"", port);
    add_env(e, "IT_DB_PW", PW_MIDDLE);
    const struct {
        const char *store; /* as written in the file */
        const char *var;   /* IT_DBURL's value, or NULL */
        int exit;          /* of the commands that open the store */
    } cases[] = {
        {"${IT_DBURL}", whole, 5},    {middle, NULL, 5},         {"${IT_DBURL}", broken, 5},
        {"${IT_DBURL}", noscheme, 2}, {"${IT_DBURL}", query, 5},
    };
    size_t base_env = e->nenv;
    for (size_t c = 0; c < FR_ARRAY_LEN(cases); c++) {
        if (cases[c].var)
            add_env(e, "IT_DBURL", cases[c].var);
        char *yaml = fr_asprintf("# the store, line 2 column 8\n"
                                 "store: %s\n"
                                 "targets:\n"
                                 "  im:\n"
                                 "    base_url: %s\n"
                                 "    auth: { type: bearer, token: \"${IT_SECRET}\" }\n"
                                 "jobs:\n"
                                 "  credits:\n"
                                 "    kind: push\n"
                                 "    target: im\n"
                                 "    source: { type: csv, path: orders.csv }\n"
                                 "    request: { method: POST, path: /credits/batch }\n"
                                 "    key: sourceRef\n"
                                 "    map: { sourceRef: order_id }\n"
                                 "webhooks:\n"
                                 "  listen: 127.0.0.1:0\n"
                                 "  sources:\n"
                                 "    gh:\n"
                                 "      path: /hooks/gh\n"
                                 "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                                 "      deliver: { url: \"http://127.0.0.1:1/none\" }\n",
                                 cases[c].store, e->mock.base_url);
        free(e->config);
        e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
        free(yaml);
        fr_test_write_orders(e->dir, 2, 0);
        const char *const *const commands[] = {
            (const char *const[]){"run", "credits", "--no-progress", NULL},
            (const char *const[]){"runs", "list", NULL},
            (const char *const[]){"status", NULL},
            (const char *const[]){"serve", NULL},
            (const char *const[]){"migrate", "--check", NULL},
        };
        for (size_t k = 0; k < FR_ARRAY_LEN(commands); k++) {
            char *err = NULL;
            int status = ferry(e, commands[k], NULL, &err);
            if (status != cases[c].exit)
                fail_msg("case %zu: ferry %s exited %d, not %d:\n%s", c, commands[k][0], status,
                         cases[c].exit, err);
            char *where = fr_asprintf("%s:2:8: store: ", e->config);
            if (!strstr(err, where))
                fail_msg("case %zu: ferry %s does not name %s:\n%s", c, commands[k][0], where, err);
            free(where);
            free(err);
        }
        /* Only this case's variable. */
        while (e->nenv > base_env)
            free(e->envv[--e->nenv]);
        e->envv[e->nenv] = NULL;
    }
    free(whole);
    free(broken);
    free(noscheme);
    free(query);
    free(middle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_echoed_token_never_shown, teardown),
        cmocka_unit_test_teardown(test_echoed_bearer_secret_never_shown, teardown),
        cmocka_unit_test_teardown(test_store_url_password_never_shown, teardown),
    };
    if (getenv("ITF"))
        cmocka_set_test_filter(getenv("ITF"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
