/*
 * End-to-end: the dashboard in headless Chromium (Debian's chromium),
 * driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
 * JSON messages ended by NUL on fds 3 and 4). The page loads with no
 * console error or exception, shows a job's run and a dead letter, and
 * its replay button replays the dead letter with the admin token (the
 * request carries the page's own Origin, which admin actions require); an
 * inline script the page did not ship is refused by its
 * Content-Security-Policy; a job whose last run failed shows the run's
 * reason, as text.
 * Chromium missing fails the test (scripts/install-deps installs it).
 */
#include "core/common.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "store/store.h"

#define ADMIN_TOKEN "dash-admin-token-51f0"

static const char *const env_vars[] = {"FERRY_ADMIN_TOKEN=" ADMIN_TOKEN, NULL};

struct browser {
    pid_t pid;
    int to, from; /* our ends: commands to fd 3, answers from fd 4 */
    struct fr_buf in;
    int next_id;
    char session[128];
    json_t *errors; /* console errors and exceptions seen */
};

struct env {
    struct fr_test_receiver *recv;
    char *recv_url;
    char *dir;
    struct fr_proc serve;
    int port;
    struct browser b;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    e->recv = fr_test_receiver_start(&e->recv_url);
    e->dir = fr_test_tmpdir();
    e->b.pid = 0;
    e->b.to = e->b.from = -1;
    e->b.errors = json_array();
    *state = e;
    return e->recv && e->dir ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e->b.pid > 0) {
        kill(e->b.pid, SIGTERM);
        int64_t deadline = fr_now_ms() + 3000;
        while (waitpid(e->b.pid, NULL, WNOHANG) == 0 && fr_now_ms() < deadline)
            fr_sleep_ms(20);
        if (waitpid(e->b.pid, NULL, WNOHANG) == 0) {
            kill(e->b.pid, SIGKILL);
            waitpid(e->b.pid, NULL, 0);
        }
    }
    if (e->b.to >= 0)
        close(e->b.to);
    if (e->b.from >= 0)
        close(e->b.from);
    fr_buf_release(&e->b.in);
    json_decref(e->b.errors);
    fr_test_kill(&e->serve);
    fr_test_proc_release(&e->serve);
    fr_test_receiver_stop(e->recv);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->recv_url);
    free(e);
    return 0;
}

/* ---- the browser ---------------------------------------------------------------------- */

static void browser_start(struct env *e)
{
    int cmd[2], ans[2];
    assert_int_equal(pipe(cmd), 0);
    assert_int_equal(pipe(ans), 0);
    char *profile = fr_asprintf("--user-data-dir=%s/chromium", e->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* fd 3: commands in; fd 4: answers out. */
        int in = dup(cmd[0]), out = dup(ans[1]);
        dup2(in, 3);
        dup2(out, 4);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        execlp("chromium", "chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--disable-extensions", "--remote-debugging-pipe", profile,
               "about:blank", (char *)NULL);
        _exit(127);
    }
    free(profile);
    close(cmd[0]);
    close(ans[1]);
    e->b.pid = pid;
    e->b.to = cmd[1];
    e->b.from = ans[0];
}

/* Notes a console error or an exception among the events. */
static void note_event(struct browser *b, json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    if (!method)
        return;
    if (strcmp(method, "Runtime.exceptionThrown") == 0 ||
        (strcmp(method, "Runtime.consoleAPICalled") == 0 &&
         strcmp(json_string_value(json_object_get(params, "type")), "error") == 0) ||
        (strcmp(method, "Log.entryAdded") == 0 &&
         strcmp(json_string_value(json_object_get(json_object_get(params, "entry"), "level")),
                "error") == 0))
        json_array_append(b->errors, params);
}

/* Sends method with params (stolen) and returns the result of its answer (new reference). */
static json_t *cdp(struct browser *b, const char *method, json_t *params)
{
    int id = ++b->next_id;
    json_t *msg = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
                            params ? params : json_object());
    if (b->session[0])
        json_object_set_new(msg, "sessionId", json_string(b->session));
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    size_t len = strlen(text) + 1; /* with its NUL */
    assert_int_equal(write(b->to, text, len), (ssize_t)len);
    free(text);
    int64_t deadline = fr_now_ms() + 20000;
    for (;;) {
        char *nul;
        while ((nul = b->in.len ? memchr(b->in.data, '\0', b->in.len) : NULL)) {
            size_t n = (size_t)(nul - b->in.data) + 1;
            json_t *got = json_loadb(b->in.data, n - 1, 0, NULL);
            memmove(b->in.data, b->in.data + n, b->in.len - n);
            b->in.len -= n;
            if (!got)
                continue;
            note_event(b, got);
            if (json_integer_value(json_object_get(got, "id")) == id) {
                json_t *err = json_object_get(got, "error");
                if (err) {
                    char *et = json_dumps(err, 0);
                    fail_msg("%s failed: %s", method, et);
                }
                json_t *result = json_incref(json_object_get(got, "result"));
                json_decref(got);
                return result;
            }
            json_decref(got);
        }
        if (fr_now_ms() > deadline)
            fail_msg("no answer to %s from chromium", method);
        struct pollfd pfd = {.fd = b->from, .events = POLLIN};
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        char buf[65536];
        ssize_t r = read(b->from, buf, sizeof(buf));
        if (r <= 0)
            fail_msg("chromium closed its pipe (is the chromium package installed? "
                     "scripts/install-deps installs it)");
        fr_buf_add(&b->in, buf, (size_t)r);
    }
}

/* The value of a JavaScript expression in the page; new reference. */
static json_t *eval(struct browser *b, const char *expr)
{
    json_t *r = cdp(
        b, "Runtime.evaluate",
        json_pack("{s:s, s:b, s:b}", "expression", expr, "returnByValue", 1, "awaitPromise", 1));
    json_t *v = json_incref(json_object_get(json_object_get(r, "result"), "value"));
    json_decref(r);
    return v ? v : json_null();
}

/* Waits until the expression is true in the page. */
static void wait_true(struct browser *b, const char *expr)
{
    for (int i = 0; i < 200; i++) {
        json_t *v = eval(b, expr);
        bool ok = json_is_true(v);
        json_decref(v);
        if (ok)
            return;
        fr_sleep_ms(50);
    }
    fail_msg("never true in the page: %s", expr);
}

/* ---- the server ----------------------------------------------------------------------- */

static void seed_store(struct env *e)
{
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, NULL), 0);
    struct fr_run r = {.exit_code = -1, .started_ms = fr_wall_ms() - 60000};
    fr_strlcpy(r.id, "20261122T020000Z-abc123", sizeof(r.id));
    fr_strlcpy(r.job, "credits", sizeof(r.job));
    assert_int_equal(fr_store_run_begin(st, &r, NULL), 0);
    fr_strlcpy(r.status, "ok", sizeof(r.status));
    r.exit_code = 0;
    r.ended_ms = r.started_ms + 2000;
    r.counts.read = r.counts.created = 42;
    assert_int_equal(fr_store_run_finish(st, &r, NULL), 0);
    fr_store_close(st);
    fr_test_store_dead_letter(e->dir, "gh", "evt-dead-77", "{\"dead\":77}");
}

static void start_serve(struct env *e)
{
    char *yaml = fr_asprintf("store: sqlite:ferry.db\n"
                             "targets:\n  im: { base_url: \"http://127.0.0.1:9\" }\n"
                             "jobs:\n  credits:\n    kind: push\n    target: im\n"
                             "    source: { type: csv, path: orders.csv }\n"
                             "    request: { path: /credits/batch }\n"
                             "    key: k\n    map: { k: order_id }\n    max_age: 1h\n"
                             "webhooks:\n  listen: 127.0.0.1:0\n"
                             "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n"
                             "  sources:\n    gh:\n      path: /hooks/gh\n"
                             "      verify: { scheme: github, secrets: [\"not-used-here\"] }\n"
                             "      deliver: { url: %s }\n",
                             e->recv_url);
    char *config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
    const char *args[] = {"serve", "-c", config, NULL};
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, env_vars), 0);
    free(config);
    e->port = fr_test_ready_port(&e->serve, 15000);
    assert_true(e->port > 0);
}

/* Starts the browser on the dashboard of the server e runs. */
static struct browser *open_dashboard(struct env *e)
{
    browser_start(e);
    struct browser *b = &e->b;
    json_t *r = cdp(b, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"));
    char *target = fr_strdup(json_string_value(json_object_get(r, "targetId")));
    json_decref(r);
    r = cdp(b, "Target.attachToTarget", json_pack("{s:s, s:b}", "targetId", target, "flatten", 1));
    free(target);
    fr_strlcpy(b->session, json_string_value(json_object_get(r, "sessionId")), sizeof(b->session));
    json_decref(r);
    json_decref(cdp(b, "Runtime.enable", NULL));
    json_decref(cdp(b, "Log.enable", NULL));
    json_decref(cdp(b, "Page.enable", NULL));
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", e->port);
    json_decref(cdp(b, "Page.navigate", json_pack("{s:s}", "url", url)));
    return b;
}

static void assert_no_errors(struct browser *b)
{
    if (json_array_size(b->errors)) {
        char *t = json_dumps(b->errors, JSON_INDENT(2));
        fail_msg("console errors or exceptions in the page:\n%s", t);
    }
}

/* No console error or exception in the page; then closes the browser. */
static void close_dashboard(struct browser *b)
{
    assert_no_errors(b);
    b->session[0] = '\0'; /* Browser.* is the browser's, not the page's */
    json_decref(cdp(b, "Browser.close", NULL));
}

/*
 * The page runs under its Content-Security-Policy, which lets its own
 * inline script and style run (the page works, without errors) and nothing
 * else inline: a script added the way an injection would is not run, and
 * the browser reports the violation. That report is a console error: the
 * errors before it are checked first, and it is dropped.
 */
static void assert_policy_enforced(struct browser *b)
{
    assert_no_errors(b);
    json_t *v = eval(b, "document.addEventListener('securitypolicyviolation',"
                        " function (ev) { window.refused = ev.violatedDirective; });"
                        "var s = document.createElement('script');"
                        "s.textContent = 'window.injected = 1';"
                        "document.body.appendChild(s);"
                        "window.injected === undefined");
    assert_true(json_is_true(v)); /* without the policy it would have run at once */
    json_decref(v);
    wait_true(b, "String(window.refused).indexOf('script-src') === 0");
    json_array_clear(b->errors);
}

static void test_dashboard_in_chromium(void **state)
{
    struct env *e = *state;
    seed_store(e);
    start_serve(e);
    struct browser *b = open_dashboard(e);

    /* The job's run and the dead letter show once the page has fetched the status. */
    wait_true(b, "document.getElementById('jobs').textContent.indexOf('credits') >= 0");
    wait_true(b, "document.getElementById('jobs').textContent.indexOf('ok 20') >= 0");
    wait_true(b, "document.querySelectorAll('#jobs .bar').length === 1");
    wait_true(b, "document.getElementById('dlq').textContent.indexOf('evt-dead-77') >= 0");

    /* The replay button, with the admin token as the user would type it. */
    json_decref(eval(b, "sessionStorage.setItem('ferry-admin-token', '" ADMIN_TOKEN "');"
                        "document.querySelector('#dlq button').click(); true"));
    int64_t deadline = fr_now_ms() + 10000;
    while (fr_test_receiver_count(e->recv) < 1 && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
    char *body = fr_test_receiver_body(e->recv, 0);
    assert_string_equal(body, "{\"dead\":77}");
    free(body);
    /* The list refreshes: the dead letter is gone. */
    wait_true(b, "document.getElementById('dlq').textContent.indexOf('evt-dead-77') < 0");
    /* a run that succeeded has no reason to show */
    wait_true(b, "document.querySelectorAll('#jobs .reason').length === 0");
    assert_policy_enforced(b);
    close_dashboard(b);
}

/* A reason that quotes an API's answer, markup included: shown as text, never as HTML. */
#define HOSTILE_REASON                                                                             \
    "target unreachable: HTTP 503 <img src=x onerror=\"window.pwned=1\"><b>down</b> & out"

/* Records a failed run of credits, the job's last, with HOSTILE_REASON. */
static void seed_failed_run(struct env *e)
{
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, NULL), 0);
    struct fr_run r = {.exit_code = -1, .started_ms = fr_wall_ms() - 30000, .pid = 4242};
    fr_strlcpy(r.id, "20261122T030000Z-def456", sizeof(r.id));
    fr_strlcpy(r.job, "credits", sizeof(r.job));
    fr_strlcpy(r.host, "batch-7", sizeof(r.host));
    assert_int_equal(fr_store_run_begin(st, &r, NULL), 0);
    fr_strlcpy(r.status, "failed", sizeof(r.status));
    r.exit_code = 4;
    r.ended_ms = r.started_ms + 20000;
    fr_strlcpy(r.reason, HOSTILE_REASON, sizeof(r.reason));
    assert_int_equal(fr_store_run_finish(st, &r, NULL), 0);
    fr_store_close(st);
}

/* The job's row shows why its last run failed, with the exit code, as plain text. */
static void test_dashboard_failed_run_reason(void **state)
{
    struct env *e = *state;
    seed_store(e);
    seed_failed_run(e);
    start_serve(e);
    struct browser *b = open_dashboard(e);
    wait_true(b, "document.getElementById('jobs').textContent.indexOf('failed (exit 4) 20') >= 0");
    /* the reason, character for character, in its own element of the job's row */
    json_t *v = eval(b, "(function () { var r = document.querySelectorAll('#jobs .reason');"
                        " return r.length === 1 ? r[0].textContent : null; })()");
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), HOSTILE_REASON);
    json_decref(v);
    /* its markup made no element and ran nothing */
    wait_true(b, "document.querySelectorAll('#jobs img, #jobs b').length === 0");
    wait_true(b, "window.pwned === undefined");
    close_dashboard(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dashboard_in_chromium, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dashboard_failed_run_reason, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
