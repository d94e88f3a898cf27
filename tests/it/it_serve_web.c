/*
 * End-to-end: what `ferry serve` does for the browsers and load balancers
 * in front of it, with the real binary on loopback.
 *
 * Browsers: a Host that is not an address, localhost or a name in
 * webhooks.allowed_hosts gets 421 from /api/..., /metrics and the
 * dashboard (DNS rebinding), while /healthz, /readyz and the webhook paths
 * answer it as before; every operations answer carries the security
 * headers; an admin action from another site's page (its Origin, or
 * Sec-Fetch-Site) gets 403 even with the right token.
 *
 * Readiness: /readyz fails its "store" check when the store cannot write,
 * though it still reads: a full filesystem (a small tmpfs the test mounts;
 * skipped with a message where it cannot mount), an immutable database file
 * (skipped where the attribute cannot be set), another process holding the
 * write lock, and for a while after a commit of webhooks failed. Each
 * comes back to 200 once the cause is gone.
 */
#include "core/common.h"
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "hooks/verify.h"
#include "store/store.h"

#define GH_SECRET   "gh-web-secret-3e71"
#define ADMIN_TOKEN "web-admin-token-90a2"

static const char *const secret_env[] = {"S_GH=" GH_SECRET, "FERRY_ADMIN_TOKEN=" ADMIN_TOKEN, NULL};

struct env {
    char *dir;
    struct fr_test_receiver *recv;
    char *recv_url;
    struct fr_proc serve;
    int port;
    char *mnt;       /* a tmpfs this test mounted, or NULL */
    char *immutable; /* a file this test made immutable, or NULL */
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    e->dir = fr_test_tmpdir();
    e->recv = fr_test_receiver_start(&e->recv_url);
    *state = e;
    return e->dir && e->recv ? 0 : -1;
}

static bool set_immutable(const char *path, bool on);

/* Also after a failed assertion: nothing mounted or immutable is left behind. */
static int teardown(void **state)
{
    struct env *e = *state;
    fr_test_proc_release(&e->serve); /* first: its files keep the mount busy */
    if (e->immutable)
        set_immutable(e->immutable, false);
    if (e->mnt && umount2(e->mnt, 0) != 0 && umount2(e->mnt, MNT_DETACH) != 0)
        print_error("cannot unmount %s: %s\n", e->mnt, strerror(errno));
    fr_test_receiver_stop(e->recv);
    fr_test_rmtree(e->dir);
    free(e->immutable);
    free(e->mnt);
    free(e->dir);
    free(e->recv_url);
    free(e);
    return 0;
}

/* ---- ferry serve ---------------------------------------------------------------------- */

static void wait_ready(struct env *e);

/* Starts ferry serve with the store at store_path (relative to e->dir) and more webhooks keys. */
static void start_serve(struct env *e, const char *store_path, const char *more)
{
    char *yaml = fr_asprintf("store: sqlite:%s\n"
                             "webhooks:\n"
                             "  listen: 127.0.0.1:0\n"
                             "%s"
                             "  sources:\n"
                             "    gh:\n"
                             "      path: /hooks/gh\n"
                             "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                             "      deliver: { url: \"%s\", timeout: 5s }\n",
                             store_path, more, e->recv_url);
    char *config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
    const char *args[] = {"serve", "-c", config, NULL};
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, secret_env), 0);
    free(config);
    e->port = fr_test_ready_port(&e->serve, 15000);
    if (e->port <= 0)
        fail_msg("ferry serve did not start");
    wait_ready(e);
}

/* ---- requests ------------------------------------------------------------------------- */

struct answer {
    long status; /* 0: no answer */
    char *body;
    struct fr_buf head; /* the header lines as received */
};

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    fr_buf_add(ud, data, size * n);
    return size * n;
}

/*
 * One request to the server e runs, with headers (NULL-terminated, may be
 * NULL; "Host: x" replaces curl's, "Host:" leaves it out); body (may be
 * NULL) is POSTed as JSON. http10: as HTTP/1.0, where a Host is optional.
 */
static struct answer request_v(struct env *e, const char *method, const char *path,
                               const char *const *headers, const char *body, bool http10)
{
    struct answer a = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (body)
        hl = curl_slist_append(hl, "Content-Type: application/json");
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port, path);
    struct fr_buf out = FR_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a.head);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    if (http10)
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_0);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    a.body = fr_buf_detach(&out, NULL);
    if (!a.body)
        a.body = fr_strdup("");
    return a;
}

static struct answer request(struct env *e, const char *method, const char *path,
                             const char *const *headers, const char *body)
{
    return request_v(e, method, path, headers, body, false);
}

/* The value of header name in a's answer (the last one), or NULL; caller frees. */
static char *header_of(const struct answer *a, const char *name)
{
    char *found = NULL;
    size_t n = strlen(name);
    const char *p = a->head.len ? fr_buf_str(&a->head) : "";
    for (const char *line = p; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            free(found);
            found = fr_strndup(v, (size_t)(line + len - v));
        }
        line += len + (eol ? 2 : 0);
    }
    return found;
}

static void answer_release(struct answer *a)
{
    free(a->body);
    fr_buf_release(&a->head);
}

/* A GitHub delivery of body, signed, with extra headers (may be NULL). */
static struct answer post_github(struct env *e, const char *id, const char *body,
                                 const char *const *extra)
{
    static const struct fr_verify_conf gh = {.scheme = FR_VERIFY_GITHUB};
    char *sig = fr_verify_sign(&gh, GH_SECRET, NULL, 0, body, strlen(body));
    char *h1 = fr_asprintf("X-Hub-Signature-256: %s", sig);
    char *h2 = fr_asprintf("X-GitHub-Delivery: %s", id);
    const char *h[8] = {h1, h2};
    for (size_t i = 0; extra && extra[i] && i + 3 < FR_ARRAY_LEN(h); i++)
        h[i + 2] = extra[i];
    struct answer a = request(e, "POST", "/hooks/gh", h, body);
    free(sig);
    free(h1);
    free(h2);
    return a;
}

/* ---- hosts and browsers --------------------------------------------------------------- */

static const char allowed_hosts[] = "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n"
                                    "  allowed_hosts: [ferry.example.test]\n";

/* GET path with Host host: 421 naming the host and the key to set. */
static void assert_misdirected(struct env *e, const char *path, const char *host)
{
    char *h = fr_asprintf("Host: %s", host);
    const char *hs[] = {h, NULL};
    struct answer a = request(e, "GET", path, hs, NULL);
    if (a.status != 421)
        fail_msg("GET %s with Host %s answered %ld, not 421: %.200s", path, host, a.status, a.body);
    json_t *j = json_loads(a.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "host")), host);
    assert_non_null(
        strstr(json_string_value(json_object_get(j, "error")), "webhooks.allowed_hosts"));
    json_decref(j);
    free(h);
    answer_release(&a);
}

/* GET path with Host host (NULL: curl's own, 127.0.0.1:PORT); the status. */
static long get_as(struct env *e, const char *path, const char *host)
{
    char *h = host ? fr_asprintf("Host: %s", host) : NULL;
    const char *hs[] = {h, NULL};
    struct answer a = request(e, "GET", path, hs, NULL);
    long status = a.status;
    free(h);
    answer_release(&a);
    return status;
}

/*
 * A page on evil.example rebound to 127.0.0.1 sends Host: evil.example: the
 * operations reads refuse it, the probes and the webhook path do not.
 */
static void test_hosts_rebinding(void **state)
{
    struct env *e = *state;
    start_serve(e, "ferry.db", allowed_hosts);
    static const char *const guarded[] = {"/api/status", "/api/dlq", "/metrics", "/",
                                          "/api/dlq/1/replay"};
    for (size_t i = 0; i < FR_ARRAY_LEN(guarded); i++) {
        assert_misdirected(e, guarded[i], "evil.example");
        char *with_port = fr_asprintf("evil.example:%d", e->port);
        assert_misdirected(e, guarded[i], with_port);
        free(with_port);
    }
    /* the names it knows: addresses, localhost, the configured name */
    char *local = fr_asprintf("localhost:%d", e->port);
    char *named = fr_asprintf("ferry.example.test:%d", e->port);
    char *v6 = fr_asprintf("[::1]:%d", e->port);
    const char *const good[] = {NULL, local, named, v6, "FERRY.Example.Test"};
    for (size_t i = 0; i < FR_ARRAY_LEN(good); i++) {
        assert_int_equal(get_as(e, "/api/status", good[i]), 200);
        assert_int_equal(get_as(e, "/metrics", good[i]), 200);
        assert_int_equal(get_as(e, "/", good[i]), 200);
    }
    free(local);
    free(named);
    free(v6);
    /* an HTTP/1.0 request without a Host */
    const char *no_host[] = {"Host:", NULL};
    struct answer a = request_v(e, "GET", "/api/status", no_host, NULL, true);
    assert_int_equal(a.status, 421);
    assert_non_null(strstr(a.body, "without a Host header"));
    answer_release(&a);
    /* load balancers probe with any Host */
    assert_int_equal(get_as(e, "/healthz", "evil.example"), 200);
    assert_int_equal(get_as(e, "/readyz", "evil.example"), 200);
    assert_int_equal(get_as(e, "/readyz", "10.0.0.7:8080"), 200);
    /* senders use public names: a webhook path is verified as usual, whatever the Host */
    const char *evil[] = {"Host: evil.example", NULL};
    a = post_github(e, "host-1", "{\"host\":1}", evil);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"status\":\"accepted\""));
    answer_release(&a);
    const char *forged[] = {"Host: evil.example", "X-Hub-Signature-256: sha256=00",
                            "X-GitHub-Delivery: host-2", NULL};
    a = request(e, "POST", "/hooks/gh", forged, "{\"host\":2}");
    assert_int_equal(a.status, 401);
    answer_release(&a);
    int64_t deadline = fr_now_ms() + 10000;
    while (fr_test_receiver_count(e->recv) < 1 && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
}

/* The security headers on a's answer to what. */
static void assert_security_headers(const struct answer *a, const char *what)
{
    static const struct {
        const char *name, *value;
    } want[] = {
        {"X-Frame-Options", "DENY"},
        {"X-Content-Type-Options", "nosniff"},
        {"Referrer-Policy", "no-referrer"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(want); i++) {
        char *v = header_of(a, want[i].name);
        if (!v || strcmp(v, want[i].value) != 0)
            fail_msg("%s: %s is %s, not %s", what, want[i].name, v ? v : "missing", want[i].value);
        free(v);
    }
    char *csp = header_of(a, "Content-Security-Policy");
    if (!csp || strncmp(csp, "default-src 'self';", 19) != 0 ||
        !strstr(csp, "frame-ancestors 'none'"))
        fail_msg("%s: Content-Security-Policy is %s", what, csp ? csp : "missing");
    free(csp);
}

static void test_security_headers(void **state)
{
    struct env *e = *state;
    start_serve(e, "ferry.db", allowed_hosts);
    static const char *const paths[] = {"/",        "/api/status", "/api/dlq",
                                        "/metrics", "/healthz",    "/readyz"};
    for (size_t i = 0; i < FR_ARRAY_LEN(paths); i++) {
        struct answer a = request(e, "GET", paths[i], NULL, NULL);
        assert_int_equal(a.status, 200);
        assert_security_headers(&a, paths[i]);
        char *csp = header_of(&a, "Content-Security-Policy");
        if (strcmp(paths[i], "/") == 0) {
            /* the page's own inline script and style, by hash; nothing else inline */
            assert_non_null(strstr(csp, "script-src 'sha256-"));
            assert_non_null(strstr(csp, "style-src 'sha256-"));
            assert_null(strstr(csp, "unsafe-inline"));
        } else {
            assert_string_equal(csp, "default-src 'self'; frame-ancestors 'none'");
        }
        free(csp);
        answer_release(&a);
    }
    /* also on refusals */
    const char *evil[] = {"Host: evil.example", NULL};
    struct answer a = request(e, "GET", "/api/status", evil, NULL);
    assert_int_equal(a.status, 421);
    assert_security_headers(&a, "a 421");
    answer_release(&a);
    a = request(e, "POST", "/api/dlq/1/replay", NULL, NULL);
    assert_int_equal(a.status, 401);
    assert_security_headers(&a, "a 401");
    answer_release(&a);
}

/* POST /api/dlq/1/replay with the admin token and more headers; the answer. */
static struct answer replay(struct env *e, const char *const *more)
{
    const char *h[8] = {"Authorization: Bearer " ADMIN_TOKEN};
    for (size_t i = 0; more && more[i] && i + 2 < FR_ARRAY_LEN(h); i++)
        h[i + 1] = more[i];
    return request(e, "POST", "/api/dlq/1/replay", h, NULL);
}

/*
 * A page of another site posting to the admin API with the right token
 * (a leaked token, a rebound name): 403, nothing replayed; the same
 * request from the listener's own origin, or from no browser, works.
 */
static void test_admin_action_origin(void **state)
{
    struct env *e = *state;
    fr_test_store_dead_letter(e->dir, "gh", "evt-dead-1", "{\"dead\":1}");
    start_serve(e, "ferry.db", allowed_hosts);
    char *own = fr_asprintf("Origin: http://127.0.0.1:%d", e->port);
    char *other_port = fr_asprintf("Origin: http://127.0.0.1:%d", e->port + 1);
    const char *const foreign[][3] = {
        {"Origin: http://evil.example", NULL},
        {"Origin: null", NULL},
        {other_port, NULL},
        {own, "Sec-Fetch-Site: cross-site", NULL},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(foreign); i++) {
        struct answer a = replay(e, foreign[i]);
        if (a.status != 403)
            fail_msg("%s %s: %ld, not 403: %s", foreign[i][0], foreign[i][1] ? foreign[i][1] : "",
                     a.status, a.body);
        assert_non_null(strstr(a.body, "another site"));
        answer_release(&a);
    }
    struct answer a = request(e, "GET", "/api/dlq", NULL, NULL);
    assert_non_null(strstr(a.body, "evt-dead-1")); /* still dead */
    answer_release(&a);
    fr_sleep_ms(600); /* a replay would have been picked up by now */
    assert_int_equal(fr_test_receiver_count(e->recv), 0);

    /* the dashboard's own request */
    const char *same[] = {own, "Sec-Fetch-Site: same-origin", NULL};
    a = replay(e, same);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "\"replayed\""));
    answer_release(&a);
    int64_t deadline = fr_now_ms() + 10000;
    while (fr_test_receiver_count(e->recv) < 1 && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
    /* and curl's, which sends no Origin: the dead letter is gone, so 404 */
    a = replay(e, NULL);
    assert_int_equal(a.status, 404);
    answer_release(&a);
    free(own);
    free(other_port);
}

/* ---- readiness ------------------------------------------------------------------------ */

/*
 * GET /readyz: expects want (200 or 503); for a 503, that "store" is the
 * one failed check and its detail holds why. Returns the store's detail
 * (caller frees).
 */
static char *readyz(struct env *e, long want, const char *why)
{
    struct answer a = request(e, "GET", "/readyz", NULL, NULL);
    if (a.status != want)
        fail_msg("/readyz answered %ld, not %ld: %s", a.status, want, a.body);
    json_t *j = json_loads(a.body, 0, NULL);
    assert_non_null(j);
    json_t *failed = json_object_get(j, "failed");
    char *detail = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "checks"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), "store") == 0)
            detail = fr_strdup(json_string_value(json_object_get(c, "detail")));
    }
    assert_non_null(detail);
    if (want == 503) {
        assert_string_equal(json_string_value(json_object_get(j, "status")), "not ready");
        assert_int_equal(json_array_size(failed), 1);
        assert_string_equal(json_string_value(json_array_get(failed, 0)), "store");
        if (why && !strstr(detail, why))
            fail_msg("the store's detail does not say \"%s\": %s", why, detail);
    } else {
        assert_int_equal(json_array_size(failed), 0);
    }
    json_decref(j);
    answer_release(&a);
    return detail;
}

/*
 * Waits until /readyz says 200: the delivery workers count as running once
 * their threads have begun, which may be a moment after "listening on".
 */
static void wait_ready(struct env *e)
{
    int64_t deadline = fr_now_ms() + 10000;
    for (;;) {
        struct answer a = request(e, "GET", "/readyz", NULL, NULL);
        long status = a.status;
        answer_release(&a);
        if (status == 200)
            return;
        if (fr_now_ms() > deadline)
            fail_msg("ferry serve is not ready 10 s after it started listening");
        fr_sleep_ms(20);
    }
}

/* Writes path until its filesystem is full; returns the bytes written. */
static size_t fill(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    static char chunk[64 * 1024];
    size_t total = 0;
    for (;;) {
        ssize_t w = write(fd, chunk, sizeof(chunk));
        if (w <= 0)
            break;
        total += (size_t)w;
    }
    assert_int_equal(errno, ENOSPC);
    close(fd);
    return total;
}

/*
 * The store on a 4 MB tmpfs: ready; the test fills the filesystem: 503
 * naming the store (a read still answers, a rolled-back write would too);
 * the filler removed: ready again.
 */
static void test_readyz_store_filesystem_full(void **state)
{
    struct env *e = *state;
    char *mnt = fr_asprintf("%s/fs", e->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m,mode=0700") != 0) {
        print_message("skipped: cannot mount a tmpfs on %s (%s): this needs root or "
                      "CAP_SYS_ADMIN. test_readyz_store_locked_and_failed_commit covers a store "
                      "that cannot write by other means.\n",
                      mnt, strerror(errno));
        free(mnt);
        skip();
    }
    e->mnt = mnt;
    start_serve(e, "fs/ferry.db", "");
    free(readyz(e, 200, NULL));
    char *filler = fr_asprintf("%s/filler", mnt);
    size_t filled = fill(filler);
    assert_true(filled > 0);
    char *detail = readyz(e, 503, "is full");
    assert_non_null(strstr(detail, "fs/ferry.db"));
    free(detail);
    assert_int_equal(unlink(filler), 0);
    free(filler);
    free(readyz(e, 200, "the store takes writes"));
    /* and it stores webhooks, as a ready instance must */
    struct answer a = post_github(e, "full-1", "{\"after\":\"full\"}", NULL);
    assert_int_equal(a.status, 200);
    answer_release(&a);
}

/* Sets or clears the immutable attribute of path; false when the filesystem or we cannot. */
static bool set_immutable(const char *path, bool on)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    int flags = 0;
    bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
    ok = ok && ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    close(fd);
    return ok;
}

/* The database file made immutable (chattr +i) under the running server: 503; cleared: 200. */
static void test_readyz_store_immutable(void **state)
{
    struct env *e = *state;
    start_serve(e, "ferry.db", "");
    free(readyz(e, 200, NULL));
    char *db = fr_asprintf("%s/ferry.db", e->dir);
    if (!set_immutable(db, true)) {
        print_message("skipped: cannot make %s immutable here (%s): this needs "
                      "CAP_LINUX_IMMUTABLE and a filesystem with the attribute (ext4, xfs)\n",
                      db, strerror(errno));
        free(db);
        skip();
    }
    e->immutable = db;
    free(readyz(e, 503, "cannot be written"));
    assert_true(set_immutable(db, false));
    free(readyz(e, 200, NULL));
}

/*
 * Another process holds the store's write lock: 503 naming the lock (the
 * old read ping answered 200). A webhook meanwhile gets 503 once ferry's
 * commit gives up; after the lock is released, /readyz still says not
 * ready because that commit failed just now, until a commit succeeds.
 */
static void test_readyz_store_locked_and_failed_commit(void **state)
{
    struct env *e = *state;
    start_serve(e, "ferry.db", "");
    free(readyz(e, 200, NULL));
    char *db_path = fr_asprintf("%s/ferry.db", e->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    free(db_path);
    sqlite3_busy_timeout(db, 5000); /* the workers claim now and then */
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    free(readyz(e, 503, "database is locked"));
    struct answer a = post_github(e, "lock-1", "{\"lock\":1}", NULL);
    assert_int_equal(a.status, 503);
    answer_release(&a);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    char *detail = readyz(e, 503, "the last commit of webhook events failed");
    assert_non_null(strstr(detail, "a test write passes now"));
    free(detail);
    /* the sender's retry is stored: the last commit succeeded, ready again */
    a = post_github(e, "lock-1", "{\"lock\":1}", NULL);
    assert_int_equal(a.status, 200);
    answer_release(&a);
    free(readyz(e, 200, "the store takes writes"));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hosts_rebinding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_security_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_action_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_store_filesystem_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_store_immutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_store_locked_and_failed_commit, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
