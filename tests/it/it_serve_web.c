/*
 * End-to-end: what `ferry serve` does for the browsers and load balancers
 * in front of it, with the real binary on loopback.
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

#define GH_SECRET "gh-web-secret-3e71"

static const char *const secret_env[] = {"S_GH=" GH_SECRET, NULL};

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
 * NULL; "Host: x" replaces curl's); body (may be NULL) is POSTed as JSON.
 */
static struct answer request(struct env *e, const char *method, const char *path,
                             const char *const *headers, const char *body)
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
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    a.body = fr_buf_detach(&out, NULL);
    if (!a.body)
        a.body = fr_strdup("");
    return a;
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
        cmocka_unit_test_setup_teardown(test_readyz_store_filesystem_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_store_immutable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_store_locked_and_failed_commit, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
