#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/error.h"
#include "store/store.h"
#include "store/store_int.h"

#include "pgtest.h"
#include "cli/sections.h"

/*
 * The store contract: every test in `contract[]` runs against every
 * backend in `backends[]` (SQLite file and memory, PostgreSQL); a backend
 * whose data outlives its handle also runs `durable[]`, which reopens the
 * store by URL. Each case gets a fresh store: a new file, or a new
 * database in the cluster of FERRY_TEST_PG_URL (tests/support/pgtest.h).
 */

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* ---- helpers -------------------------------------------------------------------------- */

static char *make_temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = fr_asprintf("%s/ferry-store-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void remove_temp_dir(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *path = fr_asprintf("%s/%s", dir, de->d_name);
            unlink(path);
            free(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static struct fr_store *open_ok(const char *url)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    int rc = fr_store_open(url, NULL, &st, &err);
    if (rc)
        fail_msg("open %s: %s", url, err.msg);
    assert_non_null(st);
    return st;
}

static struct fr_run make_run(const char *id, const char *job, int64_t started_ms)
{
    struct fr_run r = {.exit_code = -1, .started_ms = started_ms};
    fr_strlcpy(r.id, id, sizeof(r.id));
    fr_strlcpy(r.job, job, sizeof(r.job));
    fr_strlcpy(r.status, "running", sizeof(r.status));
    return r;
}

static void begin_ok(struct fr_store *st, const char *id, const char *job, int64_t started_ms)
{
    struct fr_run r = make_run(id, job, started_ms);
    struct fr_err err = {0};
    if (fr_store_run_begin(st, &r, &err))
        fail_msg("run begin %s: %s", id, err.msg);
}

static void update_ok(struct fr_store *st, const char *job, const char *run_id,
                      const struct fr_journal_update *u, size_t n, int64_t now_ms)
{
    struct fr_err err = {0};
    if (fr_store_journal_update(st, job, run_id, u, n, now_ms, &err))
        fail_msg("journal update: %s", err.msg);
}

static struct fr_journal_entry get_ok(struct fr_store *st, const char *job, const char *key)
{
    struct fr_journal_entry e;
    struct fr_err err = {0};
    int rc = fr_store_journal_get(st, job, key, &e, &err);
    if (rc)
        fail_msg("journal get %s/%s: %s (%s)", job, key, fr_errname(rc), err.msg);
    return e;
}

static void assert_absent(struct fr_store *st, const char *job, const char *key)
{
    struct fr_journal_entry e;
    e.state = FR_JOURNAL_CREATED;
    assert_int_equal(fr_store_journal_get(st, job, key, &e, NULL), FR_ENOTFOUND);
    assert_int_equal(e.state, FR_JOURNAL_NONE);
    assert_null(e.last_error);
}

/* Collects what a listing returns, with a stop after `stop_after` rows (0: never). */
struct collected {
    char items[64][96];
    size_t n;
    size_t stop_after;
};

static int collect_run(const struct fr_run *run, void *ud)
{
    struct collected *c = ud;
    assert_true(c->n < FR_ARRAY_LEN(c->items));
    fr_strlcpy(c->items[c->n++], run->id, sizeof(c->items[0]));
    return c->stop_after && c->n >= c->stop_after;
}

static int collect_failure(const struct fr_run_failure *f, void *ud)
{
    struct collected *c = ud;
    assert_true(c->n < FR_ARRAY_LEN(c->items));
    snprintf(c->items[c->n++], sizeof(c->items[0]), "%s|%llu|%s|%s", f->key ? f->key : "(null)",
             (unsigned long long)f->line, f->kind, f->reason ? f->reason : "(null)");
    return c->stop_after && c->n >= c->stop_after;
}

static int collect_entry(const char *key, const struct fr_journal_entry *e, void *ud)
{
    struct collected *c = ud;
    assert_true(c->n < FR_ARRAY_LEN(c->items));
    snprintf(c->items[c->n++], sizeof(c->items[0]), "%s=%s/%d", key,
             fr_journal_state_name(e->state), e->attempts);
    return c->stop_after && c->n >= c->stop_after;
}

static int cmp_item(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The listing's rows sorted and joined with spaces, for order-free comparisons. */
static const char *sorted(struct collected *c, char *out, size_t outlen)
{
    qsort(c->items, c->n, sizeof(c->items[0]), cmp_item);
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < c->n; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? " " : "", c->items[i]);
    return out;
}

static const char *joined(const struct collected *c, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < c->n; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? " " : "", c->items[i]);
    return out;
}

/* ---- contract: runs ------------------------------------------------------------------- */

static void c_run_begin_finish_get(struct fr_store *st)
{
    begin_ok(st, "r1", "push-a", 1000);
    struct fr_run got;
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_get(st, "r1", &got, &err), FR_OK);
    assert_string_equal(got.id, "r1");
    assert_string_equal(got.job, "push-a");
    assert_string_equal(got.status, "running");
    assert_int_equal(got.exit_code, -1);
    assert_int_equal(got.started_ms, 1000);
    assert_int_equal(got.ended_ms, 0);
    assert_int_equal(got.counts.read, 0);

    struct fr_run fin = make_run("r1", "push-a", 1000);
    fr_strlcpy(fin.status, "failed", sizeof(fin.status));
    fin.exit_code = 1;
    fin.ended_ms = 5000;
    fin.counts = (struct fr_run_counts){.read = 1,
                                        .sent = 2,
                                        .created = 3,
                                        .duplicate = 4,
                                        .rejected = 5,
                                        .failed = 6,
                                        .changed = 7,
                                        .skipped = 8,
                                        .requests = 9,
                                        .retries = 10,
                                        .rate_limited = 11,
                                        .token_refreshes = (uint64_t)1 << 40,
                                        .pages = 12,
                                        .written = 13};
    assert_int_equal(fr_store_run_finish(st, &fin, &err), FR_OK);
    assert_int_equal(fr_store_run_get(st, "r1", &got, &err), FR_OK);
    assert_string_equal(got.status, "failed");
    assert_int_equal(got.exit_code, 1);
    assert_int_equal(got.started_ms, 1000);
    assert_int_equal(got.ended_ms, 5000);
    assert_memory_equal(&got.counts, &fin.counts, sizeof(got.counts));
}

static void c_run_notfound(struct fr_store *st)
{
    struct fr_run got;
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_get(st, "nope", &got, &err), FR_ENOTFOUND);
    assert_int_equal(err.code, FR_ENOTFOUND);
    struct fr_run fin = make_run("nope", "job", 1);
    fr_err_clear(&err);
    assert_int_equal(fr_store_run_finish(st, &fin, &err), FR_ENOTFOUND);
}

static void c_runs_list(struct fr_store *st)
{
    begin_ok(st, "a-100", "a", 100);
    begin_ok(st, "a-300", "a", 300);
    begin_ok(st, "a-200", "a", 200);
    begin_ok(st, "b-400", "b", 400);
    begin_ok(st, "b-400x", "b", 400); /* same start: the id decides */
    char buf[512];
    struct collected c = {0};
    assert_int_equal(fr_store_runs_list(st, NULL, 0, collect_run, &c, NULL), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)), "b-400x b-400 a-300 a-200 a-100");

    c = (struct collected){0};
    assert_int_equal(fr_store_runs_list(st, "a", 0, collect_run, &c, NULL), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)), "a-300 a-200 a-100");

    c = (struct collected){0};
    assert_int_equal(fr_store_runs_list(st, "a", 2, collect_run, &c, NULL), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)), "a-300 a-200");

    c = (struct collected){.stop_after = 1};
    assert_int_equal(fr_store_runs_list(st, NULL, 0, collect_run, &c, NULL), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)), "b-400x");

    c = (struct collected){0};
    assert_int_equal(fr_store_runs_list(st, "zzz", 0, collect_run, &c, NULL), FR_OK);
    assert_int_equal(c.n, 0);
}

static void c_run_begin_interrupts_earlier(struct fr_store *st)
{
    begin_ok(st, "done", "a", 10);
    struct fr_run fin = make_run("done", "a", 10);
    fr_strlcpy(fin.status, "ok", sizeof(fin.status));
    fin.exit_code = 0;
    fin.ended_ms = 20;
    assert_int_equal(fr_store_run_finish(st, &fin, NULL), FR_OK);
    begin_ok(st, "crashed", "a", 100);
    begin_ok(st, "other-job", "b", 150);
    begin_ok(st, "rerun", "a", 200);

    struct fr_run got;
    assert_int_equal(fr_store_run_get(st, "crashed", &got, NULL), FR_OK);
    assert_string_equal(got.status, "interrupted");
    assert_int_equal(got.ended_ms, 0); /* nobody knows when it died */
    assert_int_equal(got.exit_code, -1);
    /* a person reading it learns what happened and which run found it */
    assert_string_equal(got.reason, "its process stopped without recording how the run ended;"
                                    " found when run rerun began");
    assert_int_equal(fr_store_run_get(st, "rerun", &got, NULL), FR_OK);
    assert_string_equal(got.status, "running");
    assert_int_equal(fr_store_run_get(st, "other-job", &got, NULL), FR_OK);
    assert_string_equal(got.status, "running");
    assert_int_equal(fr_store_run_get(st, "done", &got, NULL), FR_OK);
    assert_string_equal(got.status, "ok");
    assert_string_equal(got.reason, "");
}

static void finish_ok(struct fr_store *st, const char *id, const char *job, int64_t started_ms,
                      const char *status)
{
    struct fr_run fin = make_run(id, job, started_ms);
    fr_strlcpy(fin.status, status, sizeof(fin.status));
    fin.exit_code = strcmp(status, "ok") == 0 ? 0 : 1;
    fin.ended_ms = started_ms + 5;
    assert_int_equal(fr_store_run_finish(st, &fin, NULL), FR_OK);
}

static void c_run_last(struct fr_store *st)
{
    struct fr_run got;
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_last(st, "a", "ok", &got, &err), FR_ENOTFOUND);
    assert_int_equal(err.code, FR_OK); /* an answer, not a failure */
    begin_ok(st, "a-100", "a", 100);
    finish_ok(st, "a-100", "a", 100, "ok");
    begin_ok(st, "a-200", "a", 200);
    finish_ok(st, "a-200", "a", 200, "ok");
    begin_ok(st, "a-300", "a", 300);
    finish_ok(st, "a-300", "a", 300, "failed");
    begin_ok(st, "b-400", "b", 400);
    finish_ok(st, "b-400", "b", 400, "ok");
    assert_int_equal(fr_store_run_last(st, "a", "ok", &got, &err), FR_OK);
    assert_string_equal(got.id, "a-200");
    assert_int_equal(got.ended_ms, 205);
    assert_int_equal(fr_store_run_last(st, "a", "failed", &got, &err), FR_OK);
    assert_string_equal(got.id, "a-300");
    assert_int_equal(fr_store_run_last(st, "b", "failed", &got, &err), FR_ENOTFOUND);
    assert_int_equal(fr_store_run_last(st, "zzz", "ok", &got, &err), FR_ENOTFOUND);
    assert_int_equal(fr_store_ping(st, &err), FR_OK);
}

/* What a listing callback saw of each run: "id|status|exit|reason|host|pid", space-joined. */
struct collected_who {
    char text[2048];
    size_t n;
};

static int collect_run_who(const struct fr_run *run, void *ud)
{
    struct collected_who *c = ud;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof(c->text) - used, "%s%s|%s|%d|%s|%s|%lld", c->n ? " " : "",
             run->id, run->status, run->exit_code, run->reason, run->host, (long long)run->pid);
    c->n++;
    return 0;
}

static void begin_on(struct fr_store *st, const char *id, const char *job, int64_t started_ms,
                     const char *host, int64_t pid)
{
    struct fr_run r = make_run(id, job, started_ms);
    fr_strlcpy(r.host, host, sizeof(r.host));
    r.pid = pid;
    fr_strlcpy(r.reason, "ignored by begin", sizeof(r.reason));
    struct fr_err err = {0};
    if (fr_store_run_begin(st, &r, &err))
        fail_msg("run begin %s: %s", id, err.msg);
}

/* begin stores host and pid; finish stores the reason; get, list and last read all three. */
static void c_run_reason_host_pid(struct fr_store *st)
{
    begin_on(st, "r1", "nightly", 1000, "batch-7.example.com", 4242);
    struct fr_run got;
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_get(st, "r1", &got, &err), FR_OK);
    assert_string_equal(got.host, "batch-7.example.com");
    assert_int_equal(got.pid, 4242);
    assert_string_equal(got.reason, "");

    /* finish sets the reason; host and pid stay as begun */
    struct fr_run fin = make_run("r1", "nightly", 1000);
    fr_strlcpy(fin.status, "failed", sizeof(fin.status));
    fin.exit_code = 4;
    fin.ended_ms = 601000;
    fin.counts.read = 30;
    fr_strlcpy(fin.reason, "target unreachable: 3 batches gave up after 10m", sizeof(fin.reason));
    assert_int_equal(fr_store_run_finish(st, &fin, &err), FR_OK);
    assert_int_equal(fr_store_run_get(st, "r1", &got, &err), FR_OK);
    assert_string_equal(got.status, "failed");
    assert_int_equal(got.exit_code, 4);
    assert_string_equal(got.reason, "target unreachable: 3 batches gave up after 10m");
    assert_string_equal(got.host, "batch-7.example.com");
    assert_int_equal(got.pid, 4242);

    begin_on(st, "r2", "nightly", 2000, "batch-8", 77);
    struct fr_run ok = make_run("r2", "nightly", 2000);
    fr_strlcpy(ok.status, "ok", sizeof(ok.status));
    ok.exit_code = 0;
    ok.ended_ms = 3000;
    assert_int_equal(fr_store_run_finish(st, &ok, &err), FR_OK);

    static const char want[] = "r2|ok|0||batch-8|77 "
                               "r1|failed|4|target unreachable: 3 batches gave up after 10m|"
                               "batch-7.example.com|4242";
    struct collected_who c = {0};
    assert_int_equal(fr_store_runs_list(st, "nightly", 0, collect_run_who, &c, &err), FR_OK);
    assert_string_equal(c.text, want);
    c = (struct collected_who){0};
    assert_int_equal(fr_store_runs_list(st, NULL, 0, collect_run_who, &c, &err), FR_OK);
    assert_string_equal(c.text, want);

    assert_int_equal(fr_store_run_last(st, "nightly", "failed", &got, &err), FR_OK);
    assert_string_equal(got.id, "r1");
    assert_string_equal(got.reason, "target unreachable: 3 batches gave up after 10m");
    assert_string_equal(got.host, "batch-7.example.com");
    assert_int_equal(got.pid, 4242);
    assert_int_equal(fr_store_run_last(st, "nightly", "ok", &got, &err), FR_OK);
    assert_string_equal(got.reason, "");
    assert_string_equal(got.host, "batch-8");

    /* a second finish replaces the reason, also with none */
    fr_strlcpy(fin.reason, "", sizeof(fin.reason));
    assert_int_equal(fr_store_run_finish(st, &fin, &err), FR_OK);
    assert_int_equal(fr_store_run_get(st, "r1", &got, &err), FR_OK);
    assert_string_equal(got.reason, "");
}

/* The reason is one line whatever it was given, and a full one comes back whole. */
static void c_run_reason_one_line(struct fr_store *st)
{
    begin_on(st, "r1", "a", 1, "h", 1);
    struct fr_run fin = make_run("r1", "a", 1);
    fr_strlcpy(fin.status, "failed", sizeof(fin.status));
    fin.exit_code = 5;
    fin.ended_ms = 2;
    fr_strlcpy(fin.reason, "store failed:\ndisk full\r\tretry", sizeof(fin.reason));
    assert_int_equal(fr_store_run_finish(st, &fin, NULL), FR_OK);
    struct fr_run got;
    assert_int_equal(fr_store_run_get(st, "r1", &got, NULL), FR_OK);
    assert_string_equal(got.reason, "store failed: disk full  retry");

    memset(fin.reason, 'x', sizeof(fin.reason)); /* no NUL: the store ends it */
    memcpy(fin.reason, "\xc3\xa9", 2);           /* UTF-8 passes through */
    assert_int_equal(fr_store_run_finish(st, &fin, NULL), FR_OK);
    assert_int_equal(fr_store_run_get(st, "r1", &got, NULL), FR_OK);
    assert_int_equal(strlen(got.reason), sizeof(got.reason) - 1);
    assert_memory_equal(got.reason, "\xc3\xa9xxx", 5);
}

/* An interrupted run keeps its true exit code, end time and counts. */
static void c_run_interrupted_finish(struct fr_store *st)
{
    begin_on(st, "r1", "a", 1000, "h", 99);
    struct fr_run fin = make_run("r1", "a", 1000);
    fr_strlcpy(fin.status, "interrupted", sizeof(fin.status));
    fin.exit_code = 143;
    fin.ended_ms = 4000;
    fin.counts.read = 12;
    fin.counts.sent = 8;
    fin.counts.created = 8;
    fr_strlcpy(fin.reason, "SIGTERM: stopped after the batches on the wire settled",
               sizeof(fin.reason));
    assert_int_equal(fr_store_run_finish(st, &fin, NULL), FR_OK);
    struct fr_run got;
    assert_int_equal(fr_store_run_last(st, "a", "interrupted", &got, NULL), FR_OK);
    assert_string_equal(got.id, "r1");
    assert_int_equal(got.exit_code, 143);
    assert_int_equal(got.ended_ms, 4000);
    assert_memory_equal(&got.counts, &fin.counts, sizeof(got.counts));
    assert_string_equal(got.reason, "SIGTERM: stopped after the batches on the wire settled");
    /* a later run of the job leaves a finished interrupted run as it is */
    begin_on(st, "r2", "a", 5000, "h", 100);
    assert_int_equal(fr_store_run_get(st, "r1", &got, NULL), FR_OK);
    assert_int_equal(got.exit_code, 143);
    assert_int_equal(got.ended_ms, 4000);
    assert_string_equal(got.reason, "SIGTERM: stopped after the batches on the wire settled");
}

/* The holder of a job's run lock: its newest "running" run, with id, host, pid and start. */
static void c_run_last_running(struct fr_store *st)
{
    struct fr_run got;
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_last(st, "a", "running", &got, &err), FR_ENOTFOUND);
    assert_int_equal(err.code, FR_OK);
    begin_on(st, "a-100", "a", 100, "old-host", 1);
    finish_ok(st, "a-100", "a", 100, "ok");
    begin_on(st, "a-200", "a", 200, "worker-2", 31337);
    begin_on(st, "b-300", "b", 300, "worker-3", 5); /* another job's run */
    assert_int_equal(fr_store_run_last(st, "a", "running", &got, &err), FR_OK);
    assert_string_equal(got.id, "a-200");
    assert_string_equal(got.host, "worker-2");
    assert_int_equal(got.pid, 31337);
    assert_int_equal(got.started_ms, 200);
    assert_int_equal(got.exit_code, -1);
    assert_int_equal(got.ended_ms, 0);
    assert_int_equal(fr_store_run_last(st, "b", "running", &got, &err), FR_OK);
    assert_string_equal(got.id, "b-300");
    finish_ok(st, "a-200", "a", 200, "failed");
    assert_int_equal(fr_store_run_last(st, "a", "running", &got, &err), FR_ENOTFOUND);
}

static void c_run_failures_in_order(struct fr_store *st)
{
    begin_ok(st, "r1", "a", 1);
    begin_ok(st, "r2", "b", 1);
    struct fr_run_failure first[] = {
        {.key = "K-9", .line = 9, .kind = "failed", .reason = "HTTP 422: bad amount"},
        {.key = NULL, .line = 3, .kind = "rejected", .reason = "no sourceRef"},
    };
    struct fr_run_failure second[] = {
        {.key = "K-1", .line = 0, .kind = "changed", .reason = "payload differs"},
    };
    struct fr_err err = {0};
    assert_int_equal(fr_store_run_add_failures(st, "r1", first, 2, &err), FR_OK);
    assert_int_equal(fr_store_run_add_failures(st, "r2", second, 1, &err), FR_OK);
    assert_int_equal(fr_store_run_add_failures(st, "r1", second, 1, &err), FR_OK);
    assert_int_equal(fr_store_run_add_failures(st, "r1", NULL, 0, &err), FR_OK);

    char buf[1024];
    struct collected c = {0};
    assert_int_equal(fr_store_run_failures(st, "r1", collect_failure, &c, &err), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)),
                        "K-9|9|failed|HTTP 422: bad amount (null)|3|rejected|no sourceRef "
                        "K-1|0|changed|payload differs");
    c = (struct collected){.stop_after = 1};
    assert_int_equal(fr_store_run_failures(st, "r1", collect_failure, &c, &err), FR_OK);
    assert_int_equal(c.n, 1);
    c = (struct collected){0};
    assert_int_equal(fr_store_run_failures(st, "r2", collect_failure, &c, &err), FR_OK);
    assert_string_equal(joined(&c, buf, sizeof(buf)), "K-1|0|changed|payload differs");
    c = (struct collected){0};
    assert_int_equal(fr_store_run_failures(st, "none", collect_failure, &c, &err), FR_OK);
    assert_int_equal(c.n, 0);
}

/* ---- contract: journal ---------------------------------------------------------------- */

static void c_journal_get_notfound(struct fr_store *st)
{
    assert_absent(st, "a", "K-1");
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED};
    update_ok(st, "a", "r1", &u, 1, 10);
    assert_absent(st, "b", "K-1"); /* keys belong to a job */
    assert_absent(st, "a", "K-2");
}

static void c_journal_upsert(struct fr_store *st)
{
    struct fr_journal_update u = {
        .key = "K-1", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = 1};
    update_ok(st, "a", "r1", &u, 1, 1000);
    struct fr_journal_entry e = get_ok(st, "a", "K-1");
    assert_int_equal(e.state, FR_JOURNAL_INFLIGHT);
    assert_string_equal(e.payload_hash, HASH_A);
    assert_string_equal(e.run_id, "r1");
    assert_int_equal(e.attempts, 1);
    assert_null(e.last_error);
    assert_int_equal(e.first_ms, 1000);
    assert_int_equal(e.updated_ms, 1000);
    fr_journal_entry_release(&e);

    /* the API refused it: no new attempt, hash kept, error stored */
    u = (struct fr_journal_update){
        .key = "K-1", .state = FR_JOURNAL_FAILED, .error = "HTTP 500: upstream down"};
    update_ok(st, "a", "r2", &u, 1, 2000);
    e = get_ok(st, "a", "K-1");
    assert_int_equal(e.state, FR_JOURNAL_FAILED);
    assert_string_equal(e.payload_hash, HASH_A);
    assert_string_equal(e.run_id, "r2");
    assert_int_equal(e.attempts, 1);
    assert_non_null(e.last_error);
    assert_string_equal(e.last_error, "HTTP 500: upstream down");
    assert_int_equal(e.first_ms, 1000);
    assert_int_equal(e.updated_ms, 2000);
    fr_journal_entry_release(&e);
    assert_null(e.last_error);

    /* resent with a new payload: attempt counted, hash replaced, error cleared */
    u = (struct fr_journal_update){
        .key = "K-1", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_B, .sent = 1};
    update_ok(st, "a", "r3", &u, 1, 3000);
    u = (struct fr_journal_update){.key = "K-1", .state = FR_JOURNAL_CREATED};
    update_ok(st, "a", "r3", &u, 1, 3500);
    e = get_ok(st, "a", "K-1");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    assert_string_equal(e.payload_hash, HASH_B);
    assert_int_equal(e.attempts, 2);
    assert_null(e.last_error);
    assert_int_equal(e.first_ms, 1000);
    assert_int_equal(e.updated_ms, 3500);
    fr_journal_entry_release(&e);

    /* a key first seen without a hash has an empty one */
    u = (struct fr_journal_update){.key = "K-2", .state = FR_JOURNAL_DUPLICATE, .sent = 1};
    update_ok(st, "a", "r3", &u, 1, 4000);
    e = get_ok(st, "a", "K-2");
    assert_int_equal(e.state, FR_JOURNAL_DUPLICATE);
    assert_string_equal(e.payload_hash, "");
    assert_int_equal(e.attempts, 1);
    fr_journal_entry_release(&e);

    /* one key twice in one batch: both apply, in order */
    struct fr_journal_update twice[] = {
        {.key = "K-3", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = 1},
        {.key = "K-3", .state = FR_JOURNAL_ROLLED_BACK, .sent = 1},
    };
    update_ok(st, "a", "r4", twice, 2, 5000);
    e = get_ok(st, "a", "K-3");
    assert_int_equal(e.state, FR_JOURNAL_ROLLED_BACK);
    assert_int_equal(e.attempts, 2);
    assert_string_equal(e.payload_hash, HASH_A);
    fr_journal_entry_release(&e);

    /* the same inside a batch of 137 (backends may write big batches in chunks) */
    struct fr_journal_update big[137];
    char keys[137][16];
    for (int i = 0; i < 137; i++) {
        snprintf(keys[i], sizeof(keys[i]), "BIG-%d", i);
        big[i] = (struct fr_journal_update){
            .key = keys[i], .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = 1};
    }
    big[60] = (struct fr_journal_update){
        .key = "BIG-10", .state = FR_JOURNAL_FAILED, .error = "second", .sent = 1};
    big[136] = (struct fr_journal_update){.key = "BIG-10", .state = FR_JOURNAL_CREATED};
    update_ok(st, "a", "r5", big, 137, 6000);
    e = get_ok(st, "a", "BIG-10");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    assert_int_equal(e.attempts, 2);
    assert_null(e.last_error);
    fr_journal_entry_release(&e);
    e = get_ok(st, "a", "BIG-135");
    assert_int_equal(e.state, FR_JOURNAL_INFLIGHT);
    assert_string_equal(e.run_id, "r5");
    fr_journal_entry_release(&e);
    assert_absent(st, "a", "BIG-60");
}

static void c_journal_update_all_or_none(struct fr_store *st)
{
    struct fr_journal_update first[] = {
        {.key = "A-0", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = 1},
        {.key = "A-1", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = 1},
    };
    update_ok(st, "a", "r1", first, 2, 100);

    /* a NULL key in the middle breaks the NOT NULL rule after two rows were written */
    struct fr_journal_update bad[] = {
        {.key = "B-0", .state = FR_JOURNAL_INFLIGHT, .sent = 1},
        {.key = "A-0", .state = FR_JOURNAL_FAILED, .payload_hash = HASH_B, .error = "x"},
        {.key = NULL, .state = FR_JOURNAL_INFLIGHT, .sent = 1},
        {.key = "B-3", .state = FR_JOURNAL_INFLIGHT, .sent = 1},
    };
    struct fr_err err = {0};
    assert_int_equal(fr_store_journal_update(st, "a", "r2", bad, FR_ARRAY_LEN(bad), 200, &err),
                     FR_ESTORE);
    assert_int_equal(err.code, FR_ESTORE);
    assert_non_null(strstr(err.msg, "journal update: "));
    assert_absent(st, "a", "B-0");
    assert_absent(st, "a", "B-3");
    struct fr_journal_entry e = get_ok(st, "a", "A-0");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    assert_string_equal(e.payload_hash, HASH_A);
    assert_string_equal(e.run_id, "r1");
    assert_int_equal(e.attempts, 1);
    assert_null(e.last_error);
    assert_int_equal(e.updated_ms, 100);
    fr_journal_entry_release(&e);

    /* a failure in a later chunk of a big batch undoes the earlier chunks too */
    struct fr_journal_update big[120];
    char keys[120][16];
    for (int i = 0; i < 120; i++) {
        snprintf(keys[i], sizeof(keys[i]), "C-%d", i);
        big[i] = (struct fr_journal_update){.key = keys[i], .state = FR_JOURNAL_CREATED};
    }
    big[110].state = FR_JOURNAL_NONE; /* not a state a row can be in */
    fr_err_clear(&err);
    assert_int_equal(fr_store_journal_update(st, "a", "r2", big, 120, 250, &err), FR_ESTORE);
    assert_absent(st, "a", "C-0");
    assert_absent(st, "a", "C-109");
    assert_absent(st, "a", "C-119");

    /* the store stays usable after the rollback */
    update_ok(st, "a", "r2", bad, 2, 300);
    e = get_ok(st, "a", "B-0");
    assert_int_equal(e.state, FR_JOURNAL_INFLIGHT);
    fr_journal_entry_release(&e);
    e = get_ok(st, "a", "A-0");
    assert_int_equal(e.state, FR_JOURNAL_FAILED);
    fr_journal_entry_release(&e);
}

static int collect_inflight(const char *run_id, uint64_t seq, int64_t sent_ms, const char *key,
                            void *ud)
{
    struct fr_buf *b = ud;
    fr_buf_addf(b, "%s/%llu@%lld:%s;", run_id, (unsigned long long)seq, (long long)sent_ms, key);
    return 0;
}

/* The in-flight keys of job outside except, as "run/seq@ms:key;" in the store's order. */
static char *inflight_of(struct fr_store *st, const char *job, const char *except)
{
    struct fr_buf b = FR_BUF_INIT;
    struct fr_err err = {0};
    if (fr_store_journal_inflight(st, job, except, collect_inflight, &b, &err))
        fail_msg("journal inflight: %s", err.msg);
    fr_buf_addc(&b, '\0');
    return fr_buf_detach(&b, NULL);
}

static void c_journal_batches(struct fr_store *st)
{
    const char *b1[] = {"K-1", "K-2", "K-3"};
    const char *b2[] = {"K-4"};
    struct fr_journal_batch s1 = {.seq = 1, .keys = b1, .n = 3};
    struct fr_journal_batch s2 = {.seq = 2, .keys = b2, .n = 1};
    struct fr_err err = {0};
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", NULL, 0, NULL, 0, &s1, 100, &err), 0);
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", NULL, 0, NULL, 0, &s2, 110, &err), 0);
    /* another job's batches are not this job's */
    assert_int_equal(fr_store_journal_commit(st, "b", "r9", NULL, 0, NULL, 0, &s1, 120, &err), 0);
    char *got = inflight_of(st, "a", NULL);
    assert_string_equal(got, "r1/1@100:K-1;r1/1@100:K-2;r1/1@100:K-3;r1/2@110:K-4;");
    free(got);
    got = inflight_of(st, "a", "r1"); /* a run does not see its own batches as left over */
    assert_string_equal(got, "");
    free(got);

    /* outcomes, the settled batch's row and the next batch, all in one transaction */
    struct fr_journal_update done1[] = {
        {.key = "K-1", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = 1},
        {.key = "K-2",
         .state = FR_JOURNAL_FAILED,
         .payload_hash = HASH_B,
         .error = "no",
         .sent = 2},
    };
    const char *b3[] = {"K-3", "K-5"};
    struct fr_journal_batch s3 = {.seq = 3, .keys = b3, .n = 2};
    uint64_t done[] = {1};
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", done1, 2, done, 1, &s3, 130, &err), 0);
    got = inflight_of(st, "a", "r2");
    assert_string_equal(got, "r1/2@110:K-4;r1/3@130:K-3;r1/3@130:K-5;");
    free(got);
    struct fr_journal_entry e = get_ok(st, "a", "K-2");
    assert_int_equal(e.state, FR_JOURNAL_FAILED);
    assert_string_equal(e.payload_hash, HASH_B);
    assert_int_equal(e.attempts, 2);
    assert_int_equal(e.updated_ms, 130);
    assert_string_equal(e.run_id, "r1");
    fr_journal_entry_release(&e);

    /* all or none: a batch number used twice undoes the outcomes with it */
    struct fr_journal_update late[] = {{.key = "K-4", .state = FR_JOURNAL_CREATED, .sent = 1}};
    uint64_t done2[] = {2};
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", late, 1, done2, 1, &s3, 140, &err),
                     FR_ESTORE);
    assert_non_null(strstr(err.msg, "journal commit: "));
    assert_absent(st, "a", "K-4");
    got = inflight_of(st, "a", NULL);
    assert_string_equal(got, "r1/2@110:K-4;r1/3@130:K-3;r1/3@130:K-5;");
    free(got);

    /* forgetting: one batch, and one that does not exist */
    fr_err_clear(&err);
    assert_int_equal(fr_store_journal_forget(st, "a", "r1", 2, &err), 0);
    assert_int_equal(fr_store_journal_forget(st, "a", "r1", 99, &err), 0);
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", NULL, 0, done2, 0, NULL, 150, &err), 0);
    got = inflight_of(st, "a", NULL);
    assert_string_equal(got, "r1/3@130:K-3;r1/3@130:K-5;");
    free(got);
    got = inflight_of(st, "b", NULL);
    assert_string_equal(got, "r9/1@120:K-1;r9/1@120:K-2;r9/1@120:K-3;");
    free(got);

    /* arguments every backend would refuse */
    struct fr_journal_batch empty = {.seq = 4, .keys = b1, .n = 0};
    assert_int_equal(fr_store_journal_commit(st, "a", "r1", NULL, 0, NULL, 0, &empty, 1, &err),
                     FR_EINVAL);
    assert_int_equal(fr_store_journal_inflight(st, "a", NULL, NULL, NULL, &err), FR_EINVAL);
}

static void c_journal_by_run(struct fr_store *st)
{
    struct fr_journal_update r1[] = {
        {.key = "K-1", .state = FR_JOURNAL_CREATED, .sent = 1},
        {.key = "K-2", .state = FR_JOURNAL_CREATED, .sent = 1},
        {.key = "K-3", .state = FR_JOURNAL_FAILED, .sent = true, .error = "HTTP 422"},
        {.key = "K-4", .state = FR_JOURNAL_DUPLICATE, .sent = 1},
    };
    update_ok(st, "a", "r1", r1, FR_ARRAY_LEN(r1), 100);
    struct fr_journal_update r1_other_job = {.key = "K-9", .state = FR_JOURNAL_CREATED};
    update_ok(st, "b", "r1b", &r1_other_job, 1, 100);
    /* r2 takes K-2 over: it is no longer r1's */
    struct fr_journal_update r2 = {.key = "K-2", .state = FR_JOURNAL_FAILED, .sent = 1};
    update_ok(st, "a", "r2", &r2, 1, 200);

    char buf[512];
    struct collected c = {0};
    assert_int_equal(fr_store_journal_by_run(st, "r1", FR_JOURNAL_NONE, collect_entry, &c, NULL),
                     FR_OK);
    assert_string_equal(sorted(&c, buf, sizeof(buf)), "K-1=created/1 K-3=failed/1 K-4=duplicate/1");
    c = (struct collected){0};
    assert_int_equal(fr_store_journal_by_run(st, "r1", FR_JOURNAL_CREATED, collect_entry, &c, NULL),
                     FR_OK);
    assert_string_equal(sorted(&c, buf, sizeof(buf)), "K-1=created/1");
    c = (struct collected){0};
    assert_int_equal(fr_store_journal_by_run(st, "r2", FR_JOURNAL_FAILED, collect_entry, &c, NULL),
                     FR_OK);
    assert_string_equal(sorted(&c, buf, sizeof(buf)), "K-2=failed/2");
    c = (struct collected){0};
    assert_int_equal(fr_store_journal_by_run(st, "r2", FR_JOURNAL_CREATED, collect_entry, &c, NULL),
                     FR_OK);
    assert_int_equal(c.n, 0);
    c = (struct collected){.stop_after = 2};
    assert_int_equal(fr_store_journal_by_run(st, "r1", FR_JOURNAL_NONE, collect_entry, &c, NULL),
                     FR_OK);
    assert_int_equal(c.n, 2);
}

/* Timing-free scale: 100,000 keys in batches of 100, every one read back. */
static void c_journal_scale(struct fr_store *st)
{
    enum { KEYS = 100000, BATCH = 100 };
    char keys[BATCH][24];
    char hashes[BATCH][65];
    struct fr_journal_update u[BATCH];
    for (int base = 0; base < KEYS; base += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            snprintf(keys[i], sizeof(keys[i]), "ORD-%07d", base + i);
            snprintf(hashes[i], sizeof(hashes[i]), "%064d", base + i);
            u[i] = (struct fr_journal_update){.key = keys[i],
                                              .state = (base + i) % 7 ? FR_JOURNAL_CREATED
                                                                      : FR_JOURNAL_FAILED,
                                              .payload_hash = hashes[i],
                                              .sent = 1};
        }
        update_ok(st, "scale", "r-scale", u, BATCH, base);
    }
    for (int k = 0; k < KEYS; k++) {
        char key[24], hash[65];
        snprintf(key, sizeof(key), "ORD-%07d", k);
        snprintf(hash, sizeof(hash), "%064d", k);
        struct fr_journal_entry e = get_ok(st, "scale", key);
        assert_int_equal(e.state, k % 7 ? FR_JOURNAL_CREATED : FR_JOURNAL_FAILED);
        assert_string_equal(e.payload_hash, hash);
        assert_int_equal(e.first_ms, k - k % BATCH);
        fr_journal_entry_release(&e);
    }
    assert_absent(st, "scale", "ORD-0100000");
}

/* ---- contract: webhook events --------------------------------------------------------- */

static struct fr_event_in event_in(const char *source, const char *event_id, const char *body,
                                   int64_t received_ms)
{
    return (struct fr_event_in){.source = source,
                                .event_id = event_id,
                                .content_type = "application/json",
                                .body = body,
                                .body_len = body ? strlen(body) : 0,
                                .received_ms = received_ms};
}

static void add_ok(struct fr_store *st, const struct fr_event_in *ev, size_t n, int *outcome)
{
    struct fr_err err = {0};
    if (fr_store_events_add(st, ev, n, outcome, &err))
        fail_msg("events add: %s", err.msg);
}

/* Claims; ids gets the event ids, space-joined, seqs (NULL or room for max) the seqs. */
static size_t claim_ids(struct fr_store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                        size_t max, char *ids, size_t idslen, int64_t *seqs)
{
    struct fr_event *evs = NULL;
    size_t n = 99;
    struct fr_err err = {0};
    if (fr_store_events_claim(st, owner, now_ms, lease_ms, max, &evs, &n, &err))
        fail_msg("events claim: %s", err.msg);
    size_t used = 0;
    ids[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(evs[i].state, FR_EVENT_PENDING);
        used += (size_t)snprintf(ids + used, idslen - used, "%s%s", i ? " " : "", evs[i].event_id);
        if (seqs)
            seqs[i] = evs[i].seq;
        fr_event_release(&evs[i]);
    }
    free(evs);
    return n;
}

static int64_t seq_of(struct fr_store *st, const char *source, const char *event_id);

static void c_events_add_duplicates(struct fr_store *st)
{
    struct fr_event_in batch[] = {
        event_in("github", "e1", "{\"a\":1}", 100), event_in("github", "e2", "{\"a\":2}", 101),
        event_in("github", "e1", "{\"a\":1,\"again\":true}", 102), /* repeat within the batch */
        event_in("stripe", "e1", "{}", 103), /* same id, another source: not a duplicate */
    };
    int outcome[4] = {-1, -1, -1, -1};
    add_ok(st, batch, 4, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[1], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[2], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(outcome[3], FR_EVENT_ADD_STORED);

    /* across batches, whatever the stored event's state */
    char ids[256];
    int64_t seqs[10];
    assert_int_equal(claim_ids(st, "w1", 200, 1000, 1, ids, sizeof(ids), seqs), 1);
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "w1", 210, NULL), FR_OK);
    struct fr_event_in again[] = {
        event_in("github", "e1", "x", 300),
        event_in("github", "e3", "y", 301),
        event_in("stripe", "e1", "z", 302),
    };
    add_ok(st, again, 3, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(outcome[1], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[2], FR_EVENT_ADD_DUPLICATE);
    add_ok(st, again, 3, NULL); /* outcome is optional */

    /* the first copy is the one kept */
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seq_of(st, "github", "e1"), &e, NULL), FR_OK);
    assert_string_equal((char *)e.body, "{\"a\":1}");
    assert_int_equal(e.state, FR_EVENT_DELIVERED);
    assert_int_equal(e.attempts, 1);
    fr_event_release(&e);
    assert_int_equal(fr_store_events_add(st, NULL, 0, NULL, NULL), FR_OK);
}

/* A content key is a second key: a repeat of it is a duplicate whatever the event id. */
static void c_events_add_content_key(struct fr_store *st)
{
    struct fr_event_in batch[] = {
        event_in("gh", "guid-1", "{\"a\":1}", 100), event_in("gh", "guid-2", "{\"a\":1}", 101),
        event_in("gh", "guid-3", "{\"a\":2}", 102), event_in("other", "guid-4", "{\"a\":1}", 103),
        event_in("gh", "guid-5", "{}", 104), /* no content key: only its id counts */
        event_in("gh", "guid-6", "{}", 105),
    };
    batch[0].content_key = "k1";
    batch[1].content_key = "k1"; /* repeat within the batch, under a new id */
    batch[2].content_key = "k2";
    batch[3].content_key = "k1"; /* same key, another source: not a duplicate */
    int outcome[6] = {-1, -1, -1, -1, -1, -1};
    add_ok(st, batch, 6, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[1], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(outcome[2], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[3], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[4], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[5], FR_EVENT_ADD_STORED);
    /* across batches; the event id alone still dedupes too */
    struct fr_event_in again[] = {event_in("gh", "guid-7", "x", 200),
                                  event_in("gh", "guid-3", "y", 201)};
    again[0].content_key = "k2";
    again[1].content_key = "k9";
    add_ok(st, again, 2, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(outcome[1], FR_EVENT_ADD_DUPLICATE);
    /* five stored, the first copy of k1 kept */
    int stored = 0;
    for (int64_t seq = 1; seq <= 100; seq++) {
        struct fr_event e;
        if (fr_store_event_get(st, seq, &e, NULL) != FR_OK)
            continue;
        stored++;
        assert_string_not_equal(e.event_id, "guid-2");
        assert_string_not_equal(e.event_id, "guid-7");
        fr_event_release(&e);
    }
    assert_int_equal(stored, 5);
    assert_true(seq_of(st, "gh", "guid-1") > 0);
}

/* The seq of a stored event, found without claiming: event_get over seqs 1..1000. */
static int64_t seq_of(struct fr_store *st, const char *source, const char *event_id)
{
    for (int64_t seq = 1; seq <= 1000; seq++) {
        struct fr_event e;
        if (fr_store_event_get(st, seq, &e, NULL) != FR_OK)
            continue;
        bool match = strcmp(e.source, source) == 0 && strcmp(e.event_id, event_id) == 0;
        fr_event_release(&e);
        if (match)
            return seq;
    }
    fail_msg("no event %s/%s", source, event_id);
    return 0;
}

static void c_events_body_bytes(struct fr_store *st)
{
    static const unsigned char raw[] = {'a', 0, 'b', 0xff, 0, 0, '\n', 0x80};
    struct fr_event_in ev[] = {
        {.source = "s", .event_id = "bin", .body = raw, .body_len = sizeof(raw), .received_ms = 5},
        {.source = "s", .event_id = "empty", .body = NULL, .body_len = 0, .received_ms = 6},
    };
    add_ok(st, ev, 2, NULL);
    struct fr_event *evs = NULL;
    size_t n = 0;
    assert_int_equal(fr_store_events_claim(st, "w", 10, 100, 10, &evs, &n, NULL), FR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(evs[0].event_id, "bin");
    assert_string_equal(evs[0].source, "s");
    assert_null(evs[0].content_type);
    assert_int_equal(evs[0].body_len, sizeof(raw));
    assert_memory_equal(evs[0].body, raw, sizeof(raw));
    assert_int_equal(evs[0].received_ms, 5);
    assert_int_equal(evs[0].next_attempt_ms, 5);
    assert_int_equal(evs[0].attempts, 0);
    assert_true(evs[0].seq < evs[1].seq);
    assert_int_equal(evs[1].body_len, 0);
    assert_non_null(evs[1].body);
    assert_int_equal(evs[1].body[0], 0);
    for (size_t i = 0; i < n; i++)
        fr_event_release(&evs[i]);
    free(evs);

    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seq_of(st, "s", "bin"), &e, NULL), FR_OK);
    assert_int_equal(e.body_len, sizeof(raw));
    assert_memory_equal(e.body, raw, sizeof(raw));
    fr_event_release(&e);
    assert_null(e.body);
    fr_event_release(NULL);
    struct fr_err err = {0};
    assert_int_equal(fr_store_event_get(st, 999, &e, &err), FR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "999"));
}

static void c_events_add_all_or_none(struct fr_store *st)
{
    char long_source[200];
    memset(long_source, 'x', sizeof(long_source) - 1);
    long_source[sizeof(long_source) - 1] = '\0';
    struct fr_event_in bad[][3] = {
        {event_in("s", "a1", "1", 1), event_in(NULL, "a2", "2", 2), event_in("s", "a3", "3", 3)},
        {event_in("s", "a1", "1", 1), event_in("s", NULL, "2", 2), event_in("s", "a3", "3", 3)},
        {event_in("s", "a1", "1", 1), event_in(long_source, "a2", "2", 2),
         event_in("s", "a3", "3", 3)},
        {event_in("s", "a1", "1", 1), event_in("s", "a2", NULL, 2), event_in("s", "a3", "3", 3)},
    };
    bad[3][1].body_len = 4; /* four bytes promised, none given */
    for (size_t b = 0; b < FR_ARRAY_LEN(bad); b++) {
        struct fr_err err = {0};
        int outcome[3];
        assert_int_equal(fr_store_events_add(st, bad[b], 3, outcome, &err), FR_ESTORE);
        assert_non_null(strstr(err.msg, "events add: "));
        char ids[64];
        assert_int_equal(claim_ids(st, "w", 100, 10, 10, ids, sizeof(ids), NULL), 0);
    }
    /* the store stays usable after the rollback */
    struct fr_event_in good[] = {event_in("s", "a1", "1", 1), event_in("s", "a3", "3", 3)};
    int outcome[2];
    add_ok(st, good, 2, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_STORED);
    assert_int_equal(outcome[1], FR_EVENT_ADD_STORED);
    char ids[64];
    assert_int_equal(claim_ids(st, "w", 100, 10, 10, ids, sizeof(ids), NULL), 2);
    assert_string_equal(ids, "a1 a3");
}

static void c_events_claim_order_max(struct fr_store *st)
{
    struct fr_event_in ev[] = {
        event_in("s", "e3", "", 300),     event_in("s", "e1", "", 100),
        event_in("t", "e2", "", 200),     event_in("s", "e4", "", 400),
        event_in("s", "later", "", 5000),
    };
    add_ok(st, ev, 5, NULL);
    char ids[128];
    struct fr_err err = {0};
    struct fr_event *evs = (struct fr_event *)&err;
    size_t n = 7;
    assert_int_equal(fr_store_events_claim(st, "w", 1000, 100, 0, &evs, &n, NULL), FR_OK);
    assert_null(evs);
    assert_int_equal(n, 0);
    assert_int_equal(fr_store_events_claim(st, "w", 1000, 0, 5, &evs, &n, &err), FR_EINVAL);
    /* due first, oldest due first; the one due at 5000 waits */
    assert_int_equal(claim_ids(st, "w", 1000, 100, 2, ids, sizeof(ids), NULL), 2);
    assert_string_equal(ids, "e1 e2");
    assert_int_equal(claim_ids(st, "w", 1000, 100, 10, ids, sizeof(ids), NULL), 2);
    assert_string_equal(ids, "e3 e4");
    /* all leased until 1100: nothing more, whoever asks */
    assert_int_equal(claim_ids(st, "x", 1050, 100, 10, ids, sizeof(ids), NULL), 0);
    assert_int_equal(claim_ids(st, "x", 5000, 100, 10, ids, sizeof(ids), NULL), 5);
    assert_string_equal(ids, "e1 e2 e3 e4 later"); /* leases ended at 1100 */
}

static void c_events_lease_expiry(struct fr_store *st)
{
    struct fr_event_in ev[] = {event_in("s", "e1", "b", 10)};
    add_ok(st, ev, 1, NULL);
    char ids[64];
    int64_t seqs[10], seqs2[10];
    assert_int_equal(claim_ids(st, "old", 100, 50, 10, ids, sizeof(ids), seqs), 1);
    assert_int_equal(claim_ids(st, "new", 149, 50, 10, ids, sizeof(ids), NULL), 0);
    /* the lease ends at 150: another owner takes the event */
    assert_int_equal(claim_ids(st, "new", 150, 50, 10, ids, sizeof(ids), seqs2), 1);
    assert_int_equal(seqs2[0], seqs[0]);
    struct fr_err err = {0};
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "old", 160, &err), FR_ENOTFOUND);
    assert_int_equal(err.code, FR_ENOTFOUND);
    assert_non_null(strstr(err.msg, "\"old\""));
    assert_int_equal(fr_store_event_retry(st, seqs[0], "old", 500, "x", 160, NULL), FR_ENOTFOUND);
    assert_int_equal(fr_store_event_dead(st, seqs[0], "old", "x", 160, NULL), FR_ENOTFOUND);
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "new", 170, NULL), FR_OK);
    /* once delivered, no outcome applies any more, not even the owner's */
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "new", 180, NULL), FR_ENOTFOUND);
    assert_int_equal(fr_store_event_delivered(st, 999, "new", 180, NULL), FR_ENOTFOUND);
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seqs[0], &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_DELIVERED);
    assert_int_equal(e.attempts, 1); /* the old owner's refused outcomes did not count */
    assert_int_equal(e.updated_ms, 170);
    fr_event_release(&e);
    assert_int_equal(claim_ids(st, "new", 10000, 50, 10, ids, sizeof(ids), NULL), 0);

    /* an expired lease nobody claimed since still lets its owner report */
    struct fr_event_in ev2[] = {event_in("s", "e2", "b", 10)};
    add_ok(st, ev2, 1, NULL);
    assert_int_equal(claim_ids(st, "slow", 200, 50, 10, ids, sizeof(ids), seqs), 1);
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "slow", 900, NULL), FR_OK);
}

static void c_events_retry(struct fr_store *st)
{
    struct fr_event_in ev[] = {event_in("s", "e1", "b", 10)};
    add_ok(st, ev, 1, NULL);
    char ids[64];
    int64_t seqs[10];
    assert_int_equal(claim_ids(st, "w", 100, 1000, 10, ids, sizeof(ids), seqs), 1);
    assert_int_equal(fr_store_event_retry(st, seqs[0], "w", 600, "HTTP 503", 110, NULL), FR_OK);
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seqs[0], &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_PENDING);
    assert_int_equal(e.attempts, 1);
    assert_int_equal(e.next_attempt_ms, 600);
    assert_int_equal(e.updated_ms, 110);
    assert_string_equal(e.last_error, "HTTP 503");
    fr_event_release(&e);
    /* the retry ended the lease (until 1100) but the event is not due before 600 */
    assert_int_equal(claim_ids(st, "w", 599, 1000, 10, ids, sizeof(ids), NULL), 0);
    assert_int_equal(claim_ids(st, "other", 600, 1000, 10, ids, sizeof(ids), seqs), 1);
    assert_int_equal(fr_store_event_retry(st, seqs[0], "other", 700, NULL, 610, NULL), FR_OK);
    assert_int_equal(fr_store_event_get(st, seqs[0], &e, NULL), FR_OK);
    assert_int_equal(e.attempts, 2);
    assert_null(e.last_error);
    fr_event_release(&e);
}

struct collected_events {
    char items[16][256];
    size_t n;
    size_t stop_after;
};

static int collect_event(const struct fr_event *e, void *ud)
{
    struct collected_events *c = ud;
    assert_true(c->n < FR_ARRAY_LEN(c->items));
    assert_null(e->body); /* listings do not load bodies */
    assert_int_equal(e->state, FR_EVENT_DEAD);
    snprintf(c->items[c->n++], sizeof(c->items[0]), "%s/%s:%d:%s", e->source, e->event_id,
             e->attempts, e->last_error ? e->last_error : "-");
    return c->stop_after && c->n >= c->stop_after;
}

static const char *joined_events(const struct collected_events *c, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < c->n; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? " " : "", c->items[i]);
    return out;
}

/* Claims the one event event_id of source and reports it dead at now_ms. */
static int64_t kill_event(struct fr_store *st, const char *source, const char *event_id,
                          int64_t now_ms)
{
    int64_t seq = seq_of(st, source, event_id);
    struct fr_event *evs = NULL;
    size_t n = 0;
    /* claim everything due, report the one, hand the rest back */
    assert_int_equal(fr_store_events_claim(st, "killer", now_ms, 10, 100, &evs, &n, NULL), FR_OK);
    for (size_t i = 0; i < n; i++)
        fr_event_release(&evs[i]);
    free(evs);
    char *why = fr_asprintf("gave up on %s", event_id);
    assert_int_equal(fr_store_event_dead(st, seq, "killer", why, now_ms, NULL), FR_OK);
    free(why);
    assert_int_equal(fr_store_events_release(st, "killer", NULL), FR_OK);
    return seq;
}

static void c_events_dlq(struct fr_store *st)
{
    struct fr_event_in ev[] = {
        event_in("gh", "a", "body-a", 1),
        event_in("gh", "b", "body-b", 2),
        event_in("st", "c", "body-c", 3),
        event_in("gh", "d", "body-d", 4),
    };
    add_ok(st, ev, 4, NULL);
    int64_t a = kill_event(st, "gh", "a", 100);
    kill_event(st, "st", "c", 200);
    int64_t b = kill_event(st, "gh", "b", 300);

    char out[512];
    struct collected_events c = {0};
    assert_int_equal(fr_store_dlq_list(st, NULL, 0, collect_event, &c, NULL), FR_OK);
    assert_string_equal(joined_events(&c, out, sizeof(out)),
                        "gh/b:1:gave up on b st/c:1:gave up on c gh/a:1:gave up on a");
    c = (struct collected_events){0};
    assert_int_equal(fr_store_dlq_list(st, "gh", 0, collect_event, &c, NULL), FR_OK);
    assert_string_equal(joined_events(&c, out, sizeof(out)),
                        "gh/b:1:gave up on b gh/a:1:gave up on a");
    c = (struct collected_events){0};
    assert_int_equal(fr_store_dlq_list(st, NULL, 2, collect_event, &c, NULL), FR_OK);
    assert_int_equal(c.n, 2);
    c = (struct collected_events){.stop_after = 1};
    assert_int_equal(fr_store_dlq_list(st, NULL, 0, collect_event, &c, NULL), FR_OK);
    assert_int_equal(c.n, 1);

    /* get: with the body */
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, a, &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_DEAD);
    assert_string_equal((char *)e.body, "body-a");
    assert_string_equal(e.last_error, "gave up on a");
    fr_event_release(&e);

    /* replay one: pending, attempts 0, due now, claimable again */
    uint64_t count = 99;
    assert_int_equal(fr_store_dlq_replay(st, a, NULL, 1000, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fr_store_event_get(st, a, &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_PENDING);
    assert_int_equal(e.attempts, 0);
    assert_int_equal(e.next_attempt_ms, 1000);
    fr_event_release(&e);
    struct fr_err err = {0};
    assert_int_equal(fr_store_dlq_replay(st, a, NULL, 1000, &count, &err), FR_ENOTFOUND);
    assert_int_equal(count, 0);
    char ids[128];
    assert_int_equal(claim_ids(st, "w", 999, 10, 10, ids, sizeof(ids), NULL), 1);
    assert_string_equal(ids, "d"); /* a is not due before 1000 */
    assert_int_equal(claim_ids(st, "w", 1000, 10, 10, ids, sizeof(ids), NULL), 1);
    assert_string_equal(ids, "a");
    assert_int_equal(fr_store_events_release(st, "w", NULL), FR_OK);

    /* replay by source, then all */
    assert_int_equal(fr_store_dlq_replay(st, 0, "nobody", 1100, &count, NULL), FR_OK);
    assert_int_equal(count, 0);
    assert_int_equal(fr_store_dlq_replay(st, 0, "st", 1100, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    c = (struct collected_events){0};
    assert_int_equal(fr_store_dlq_list(st, NULL, 0, collect_event, &c, NULL), FR_OK);
    assert_string_equal(joined_events(&c, out, sizeof(out)), "gh/b:1:gave up on b");
    assert_int_equal(fr_store_dlq_replay(st, 0, NULL, 1200, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fr_store_dlq_replay(st, 0, NULL, 1200, &count, NULL), FR_OK);
    assert_int_equal(count, 0);

    /* purge: one by seq (only a dead one), then by age */
    kill_event(st, "gh", "a", 2000);
    kill_event(st, "gh", "b", 3000);
    kill_event(st, "st", "c", 4000);
    assert_int_equal(fr_store_dlq_purge(st, seq_of(st, "gh", "d"), 0, &count, &err),
                     FR_ENOTFOUND); /* pending, not dead */
    assert_int_equal(fr_store_dlq_purge(st, b, 0, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    assert_int_equal(fr_store_event_get(st, b, &e, NULL), FR_ENOTFOUND);
    assert_int_equal(fr_store_dlq_purge(st, 0, 2000, &count, NULL), FR_OK);
    assert_int_equal(count, 0); /* a died at 2000: not older than 2000 */
    assert_int_equal(fr_store_dlq_purge(st, 0, 4000, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    c = (struct collected_events){0};
    assert_int_equal(fr_store_dlq_list(st, NULL, 0, collect_event, &c, NULL), FR_OK);
    assert_string_equal(joined_events(&c, out, sizeof(out)), "st/c:1:gave up on c");
    /* a purged event is forgotten: the sender's retry is stored anew */
    int outcome[1];
    struct fr_event_in again[] = {event_in("gh", "a", "body-a", 5000)};
    add_ok(st, again, 1, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_STORED);
}

static void c_events_release(struct fr_store *st)
{
    struct fr_event_in ev[] = {event_in("s", "e1", "", 1), event_in("s", "e2", "", 2),
                               event_in("s", "e3", "", 3)};
    add_ok(st, ev, 3, NULL);
    char ids[64];
    assert_int_equal(claim_ids(st, "a", 10, 100000, 2, ids, sizeof(ids), NULL), 2);
    assert_int_equal(claim_ids(st, "b", 10, 100000, 1, ids, sizeof(ids), NULL), 1);
    assert_int_equal(fr_store_events_release(st, "a", NULL), FR_OK);
    assert_int_equal(fr_store_events_release(st, "nobody", NULL), FR_OK);
    /* a's two are claimable at once; b's lease still holds */
    assert_int_equal(claim_ids(st, "c", 11, 100, 10, ids, sizeof(ids), NULL), 2);
    assert_string_equal(ids, "e1 e2");
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seq_of(st, "s", "e1"), &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_PENDING);
    assert_int_equal(e.attempts, 0); /* a release is no attempt */
    fr_event_release(&e);
}

struct collected_stats {
    char items[8][256];
    size_t n;
};

static int collect_stats(const struct fr_queue_stats *q, void *ud)
{
    struct collected_stats *c = ud;
    assert_true(c->n < FR_ARRAY_LEN(c->items));
    snprintf(c->items[c->n++], sizeof(c->items[0]), "%s p%llu d%llu x%llu o%lld", q->source,
             (unsigned long long)q->pending, (unsigned long long)q->delivered,
             (unsigned long long)q->dead, (long long)q->oldest_pending_ms);
    return 0;
}

static void c_events_queue_stats(struct fr_store *st)
{
    struct collected_stats c = {0};
    assert_int_equal(fr_store_queue_stats(st, true, collect_stats, &c, NULL), FR_OK);
    assert_int_equal(c.n, 0);
    struct fr_event_in ev[] = {
        event_in("gh", "1", "", 10), event_in("gh", "2", "", 20), event_in("gh", "3", "", 30),
        event_in("gh", "4", "", 40), event_in("st", "1", "", 50),
    };
    add_ok(st, ev, 5, NULL);
    char ids[64];
    int64_t seqs[10];
    assert_int_equal(claim_ids(st, "w", 100, 10, 2, ids, sizeof(ids), seqs), 2);
    assert_int_equal(fr_store_event_delivered(st, seqs[0], "w", 100, NULL), FR_OK);
    assert_int_equal(fr_store_event_dead(st, seqs[1], "w", "no", 100, NULL), FR_OK);
    assert_int_equal(claim_ids(st, "w", 200, 10, 10, ids, sizeof(ids), seqs), 3);
    assert_int_equal(fr_store_event_delivered(st, seq_of(st, "st", "1"), "w", 200, NULL), FR_OK);
    assert_int_equal(fr_store_queue_stats(st, true, collect_stats, &c, NULL), FR_OK);
    assert_int_equal(c.n, 2);
    /* leased events are still pending */
    assert_string_equal(c.items[0], "gh p2 d1 x1 o30");
    assert_string_equal(c.items[1], "st p0 d1 x0 o0");
    /* without the delivered count: a source with only delivered events is not listed */
    c = (struct collected_stats){0};
    assert_int_equal(fr_store_queue_stats(st, false, collect_stats, &c, NULL), FR_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0], "gh p2 d0 x1 o30");
}

/* Delivers the pending event source/id at now_ms. */
static int64_t deliver_at(struct fr_store *st, const char *source, const char *id, int64_t now_ms)
{
    int64_t seq = seq_of(st, source, id);
    char ids[64];
    /* claim everything due, deliver the one asked for, release the rest */
    int64_t seqs[10];
    size_t n = claim_ids(st, "w", now_ms, 1000, 10, ids, sizeof(ids), seqs);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= seqs[i] == seq;
    assert_true(found);
    assert_int_equal(fr_store_event_delivered(st, seq, "w", now_ms, NULL), FR_OK);
    assert_int_equal(fr_store_events_release(st, "w", NULL), FR_OK);
    return seq;
}

static bool event_exists(struct fr_store *st, int64_t seq)
{
    struct fr_event e;
    int rc = fr_store_event_get(st, seq, &e, NULL);
    if (rc == FR_OK)
        fr_event_release(&e);
    else
        assert_int_equal(rc, FR_ENOTFOUND);
    return rc == FR_OK;
}

static void c_events_purge_delivered(struct fr_store *st)
{
    struct fr_event_in ev[] = {
        event_in("gh", "a", "", 10), event_in("gh", "b", "", 20), event_in("st", "c", "", 30),
        event_in("gh", "d", "", 40), event_in("gh", "e", "", 50),
    };
    add_ok(st, ev, 5, NULL);
    /* delivered out of order: c first, then a, then b */
    int64_t c = deliver_at(st, "st", "c", 100);
    int64_t a = deliver_at(st, "gh", "a", 200);
    int64_t b = deliver_at(st, "gh", "b", 300);
    int64_t d = seq_of(st, "gh", "d");
    char ids[64];
    int64_t seqs[10];
    assert_int_equal(claim_ids(st, "w", 400, 1000, 10, ids, sizeof(ids), seqs), 2);
    assert_int_equal(fr_store_event_dead(st, d, "w", "no", 150, NULL), FR_OK);
    assert_int_equal(fr_store_events_release(st, "w", NULL), FR_OK);

    uint64_t count = 99;
    struct fr_err err = {0};
    assert_int_equal(fr_store_events_purge_delivered(st, 100, 10, &count, &err), FR_OK);
    assert_int_equal(count, 0); /* c was delivered at 100: not before 100 */
    /* the limit takes source by source, each source's delivered first: gh's a */
    assert_int_equal(fr_store_events_purge_delivered(st, 1000, 1, &count, &err), FR_OK);
    assert_int_equal(count, 1);
    assert_false(event_exists(st, a));
    assert_true(event_exists(st, b));
    assert_true(event_exists(st, c));
    /* before 250: not gh's b (300), but st's c (100) */
    assert_int_equal(fr_store_events_purge_delivered(st, 250, 10, &count, &err), FR_OK);
    assert_int_equal(count, 1);
    assert_false(event_exists(st, c));
    assert_true(event_exists(st, b));
    assert_int_equal(fr_store_events_purge_delivered(st, 1000, 10, &count, NULL), FR_OK);
    assert_int_equal(count, 1);
    assert_false(event_exists(st, b));
    /* dead and pending events stay, however old */
    assert_true(event_exists(st, d));
    struct collected_stats cs = {0};
    assert_int_equal(fr_store_queue_stats(st, true, collect_stats, &cs, NULL), FR_OK);
    assert_int_equal(cs.n, 1);
    assert_string_equal(cs.items[0], "gh p1 d0 x1 o50");
    /* a deleted event is forgotten: the sender's retry is stored anew */
    int outcome[1];
    struct fr_event_in again[] = {event_in("gh", "a", "", 500)};
    add_ok(st, again, 1, outcome);
    assert_int_equal(outcome[0], FR_EVENT_ADD_STORED);
    assert_int_equal(fr_store_events_purge_delivered(st, 1000, 0, &count, &err), FR_EINVAL);
}

/* ---- contract: watermarks ------------------------------------------------------------- */

static void c_watermarks(struct fr_store *st)
{
    struct fr_err err = {0};
    char *value = (char *)"untouched";
    char run_id[FR_RUN_ID_MAX] = "";
    int64_t updated = -1;
    /* none saved: an answer, not a failure */
    assert_int_equal(fr_store_watermark_get(st, "pull-a", &value, run_id, &updated, &err),
                     FR_ENOTFOUND);
    assert_null(value);
    assert_int_equal(err.code, 0);

    assert_int_equal(
        fr_store_watermark_set(st, "pull-a", "\"2024-01-01T00:00:00Z\"", "r1", 100, &err), FR_OK);
    assert_int_equal(fr_store_watermark_get(st, "pull-a", &value, run_id, &updated, &err), FR_OK);
    assert_string_equal(value, "\"2024-01-01T00:00:00Z\"");
    assert_string_equal(run_id, "r1");
    assert_int_equal(updated, 100);
    free(value);

    /* a later save replaces it; other jobs keep theirs */
    assert_int_equal(fr_store_watermark_set(st, "pull-b", "42", "r2", 150, &err), FR_OK);
    assert_int_equal(
        fr_store_watermark_set(st, "pull-a", "\"2024-02-01T00:00:00Z\"", "r3", 200, &err), FR_OK);
    assert_int_equal(fr_store_watermark_get(st, "pull-a", &value, NULL, NULL, &err), FR_OK);
    assert_string_equal(value, "\"2024-02-01T00:00:00Z\"");
    free(value);
    assert_int_equal(fr_store_watermark_get(st, "pull-b", &value, run_id, &updated, &err), FR_OK);
    assert_string_equal(value, "42");
    assert_string_equal(run_id, "r2");
    assert_int_equal(updated, 150);
    free(value);

    /* arguments every backend would check */
    assert_int_equal(fr_store_watermark_set(st, "pull-a", NULL, "r4", 1, NULL), FR_EINVAL);
    assert_int_equal(fr_store_watermark_set(st, "pull-a", "1", NULL, 1, NULL), FR_EINVAL);
    assert_int_equal(fr_store_watermark_get(st, NULL, &value, NULL, NULL, NULL), FR_EINVAL);
    assert_int_equal(fr_store_watermark_get(st, "pull-a", &value, NULL, NULL, NULL), FR_OK);
    assert_string_equal(value, "\"2024-02-01T00:00:00Z\"");
    free(value);
}

/* ---- contract: schedules and job run locks -------------------------------------------- */

static bool claim(struct fr_store *st, const char *job, int64_t slot_ms, const char *owner)
{
    bool claimed = true;
    struct fr_err err = {0};
    if (fr_store_schedule_claim(st, job, slot_ms, owner, 5, &claimed, &err))
        fail_msg("schedule claim %s/%lld: %s", job, (long long)slot_ms, err.msg);
    return claimed;
}

static void c_schedule_claim(struct fr_store *st)
{
    assert_true(claim(st, "nightly", 60000, "host-a:1"));
    assert_false(claim(st, "nightly", 60000, "host-b:2")); /* the slot is taken */
    assert_false(claim(st, "nightly", 60000, "host-a:1")); /* also for its owner: once */
    assert_true(claim(st, "nightly", 120000, "host-b:2")); /* the next slot */
    assert_true(claim(st, "hourly", 60000, "host-b:2"));   /* another job's slot */
    bool claimed = true;
    assert_int_equal(fr_store_schedule_claim(st, NULL, 1, "o", 1, &claimed, NULL), FR_EINVAL);
    assert_false(claimed);
}

static bool lock_job(struct fr_store *st, const char *job)
{
    bool held = true;
    struct fr_err err = {0};
    if (fr_store_job_lock(st, job, &held, &err))
        fail_msg("job lock %s: %s", job, err.msg);
    assert_int_equal(err.code, 0); /* held elsewhere is an answer, not a failure */
    return held;
}

static void unlock_job(struct fr_store *st, const char *job)
{
    struct fr_err err = {0};
    if (fr_store_job_unlock(st, job, &err))
        fail_msg("job unlock %s: %s", job, err.msg);
}

/* One handle: one job's lock at a time, released by unlock; misuse is FR_EINVAL. */
static void c_job_lock_one_per_handle(struct fr_store *st)
{
    struct fr_err err = {0};
    bool held = true;
    assert_int_equal(fr_store_job_unlock(st, "nightly", &err), FR_EINVAL); /* not held */
    assert_true(lock_job(st, "nightly"));
    fr_err_clear(&err);
    assert_int_equal(fr_store_job_lock(st, "nightly", &held, &err), FR_EINVAL);
    assert_false(held);
    assert_non_null(strstr(err.msg, "holds the run lock of job \"nightly\" already"));
    assert_int_equal(fr_store_job_lock(st, "hourly", &held, NULL), FR_EINVAL);
    assert_int_equal(fr_store_job_unlock(st, "hourly", NULL), FR_EINVAL);
    /* the handle works as before while it holds the lock */
    begin_ok(st, "r1", "nightly", 10);
    unlock_job(st, "nightly");
    assert_int_equal(fr_store_job_unlock(st, "nightly", NULL), FR_EINVAL);
    assert_true(lock_job(st, "hourly"));
    unlock_job(st, "hourly");
    assert_true(lock_job(st, "nightly")); /* the case's close releases it */
    assert_int_equal(fr_store_job_lock(NULL, "x", &held, NULL), FR_EINVAL);
    assert_int_equal(fr_store_job_lock(st, "", &held, NULL), FR_EINVAL);
    assert_int_equal(fr_store_job_lock(st, NULL, &held, NULL), FR_EINVAL);
    assert_int_equal(fr_store_job_lock(st, "x", NULL, NULL), FR_EINVAL);
}

/* ---- contract: the write check -------------------------------------------------------- */

static void write_check_ok(struct fr_store *st)
{
    struct fr_err err = {0};
    if (fr_store_write_check(st, &err))
        fail_msg("write check: %s", err.msg);
}

/*
 * A healthy store passes, again and again (the check's row is rolled back, or
 * the second would collide with it), between reads, and leaves nothing behind.
 */
static void c_write_check(struct fr_store *st)
{
    write_check_ok(st);
    write_check_ok(st);
    struct fr_journal_entry e;
    assert_int_equal(fr_store_journal_get(st, "a", "K-1", &e, NULL), FR_ENOTFOUND);
    write_check_ok(st); /* inside journal_get's read snapshot */
    begin_ok(st, "r1", "nightly", 10);
    write_check_ok(st);
    int64_t current = 0, latest = -1;
    assert_int_equal(fr_store_schema(st, &current, &latest, NULL), FR_OK);
    assert_int_equal(current, latest);
    struct fr_run run;
    assert_int_equal(fr_store_run_get(st, "r1", &run, NULL), FR_OK);
    assert_int_equal(fr_store_write_check(NULL, NULL), FR_EINVAL);
}

/* ---- contract: backends whose data outlives the handle -------------------------------- */

/* A store no ferry has opened: version 0 (not an error); migrate applies every version once. */
static void d_schema_from_empty(const char *url)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    if (fr_store_open_flags(url, NULL, FR_STORE_NO_MIGRATE, &st, &err))
        fail_msg("open %s: %s", url, err.msg);
    int64_t current = -1, latest = 0, applied = -1;
    if (fr_store_schema(st, &current, &latest, &err))
        fail_msg("schema: %s", err.msg);
    assert_int_equal(current, 0);
    assert_true(latest >= 6);
    assert_int_equal(fr_store_migrate(st, &applied, &err), FR_OK);
    assert_int_equal(applied, latest);
    assert_int_equal(fr_store_schema(st, &current, &latest, &err), FR_OK);
    assert_int_equal(current, latest);
    assert_int_equal(fr_store_migrate(st, &applied, &err), FR_OK);
    assert_int_equal(applied, 0);
    begin_ok(st, "r1", "a", 1); /* the schema is there */
    fr_store_close(st);
}

/* Two handles, as two instances would be: one slot, one claim. */
static void d_schedule_claim_two_handles(const char *url)
{
    struct fr_store *a = open_ok(url);
    struct fr_store *b = open_ok(url);
    assert_true(claim(a, "nightly", 60000, "a"));
    assert_false(claim(b, "nightly", 60000, "b"));
    assert_true(claim(b, "nightly", 120000, "b"));
    assert_false(claim(a, "nightly", 120000, "a"));
    fr_store_close(a);
    fr_store_close(b);
}

/* Two handles: one holds a job's lock; the other gets it after unlock, or after close. */
static void d_job_lock_two_handles(const char *url)
{
    struct fr_store *a = open_ok(url);
    struct fr_store *b = open_ok(url);
    assert_true(lock_job(a, "nightly"));
    assert_false(lock_job(b, "nightly"));
    assert_false(lock_job(b, "nightly")); /* asking again changes nothing */
    assert_true(lock_job(b, "hourly"));   /* another job's lock is another lock */
    unlock_job(b, "hourly");
    unlock_job(a, "nightly");
    assert_true(lock_job(b, "nightly"));
    assert_false(lock_job(a, "nightly"));
    fr_store_close(b); /* with the lock held: close lets it go */
    assert_true(lock_job(a, "nightly"));
    fr_store_close(a);
    /* a new handle after the holder closed */
    a = open_ok(url);
    assert_true(lock_job(a, "nightly"));
    fr_store_close(a);
}

/* A process holding a job's lock is killed: the lock goes with it. */
static void d_job_lock_holder_killed(const char *url)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        struct fr_store *cs = NULL;
        bool held = false;
        char ok = fr_store_open(url, NULL, &cs, NULL) == 0 &&
                          fr_store_job_lock(cs, "nightly", &held, NULL) == 0 && held
                      ? 'y'
                      : 'n';
        if (write(ready[1], &ok, 1) != 1)
            _exit(1);
        for (int i = 0; i < 600; i++) /* until killed; never longer than a minute */
            fr_sleep_ms(100);
        _exit(0);
    }
    close(ready[1]);
    char ok = 0;
    ssize_t got = read(ready[0], &ok, 1);
    close(ready[0]);
    /* no assertion until the child is gone: a failed one would leave it behind */
    struct fr_store *st = NULL;
    bool held = true;
    struct fr_err err = {0};
    int rc = fr_store_open(url, NULL, &st, &err);
    if (!rc)
        rc = fr_store_job_lock(st, "nightly", &held, &err);
    kill(pid, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(got, 1);
    assert_int_equal(ok, 'y');
    if (rc)
        fail_msg("open and lock %s: %s", url, err.msg);
    assert_false(held);
    /* the server notices the closed connection within moments: bounded wait */
    int64_t deadline = fr_now_ms() + 10000;
    while (!(held = lock_job(st, "nightly")) && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_true(held);
    fr_store_close(st);
}

static void d_watermark_persists(const char *url)
{
    struct fr_store *st = open_ok(url);
    assert_int_equal(fr_store_watermark_set(st, "pull-a", "7", "r1", 10, NULL), FR_OK);
    fr_store_close(st);
    st = open_ok(url);
    char *value = NULL;
    assert_int_equal(fr_store_watermark_get(st, "pull-a", &value, NULL, NULL, NULL), FR_OK);
    assert_string_equal(value, "7");
    free(value);
    fr_store_close(st);
}

static void d_persists_across_reopen(const char *url)
{
    struct fr_store *st = open_ok(url);
    begin_ok(st, "r1", "a", 10);
    struct fr_run_failure f = {.key = "K-1", .line = 4, .kind = "failed", .reason = "HTTP 400"};
    assert_int_equal(fr_store_run_add_failures(st, "r1", &f, 1, NULL), FR_OK);
    struct fr_journal_update u = {
        .key = "K-1", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = 1};
    update_ok(st, "a", "r1", &u, 1, 20);
    fr_store_close(st);

    st = open_ok(url);
    struct fr_run run;
    assert_int_equal(fr_store_run_get(st, "r1", &run, NULL), FR_OK);
    assert_string_equal(run.job, "a");
    struct fr_journal_entry e = get_ok(st, "a", "K-1");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    assert_string_equal(e.payload_hash, HASH_A);
    fr_journal_entry_release(&e);
    struct collected c = {0};
    assert_int_equal(fr_store_run_failures(st, "r1", collect_failure, &c, NULL), FR_OK);
    assert_int_equal(c.n, 1);
    /* a rerun after the crash marks the run that never finished */
    begin_ok(st, "r2", "a", 30);
    assert_int_equal(fr_store_run_get(st, "r1", &run, NULL), FR_OK);
    assert_string_equal(run.status, "interrupted");
    fr_store_close(st);
}

static void d_two_handles(const char *url)
{
    struct fr_store *a = open_ok(url);
    struct fr_store *b = open_ok(url);
    begin_ok(a, "r1", "job", 10);
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED, .sent = 1};
    update_ok(a, "job", "r1", &u, 1, 20);
    struct fr_run run;
    assert_int_equal(fr_store_run_get(b, "r1", &run, NULL), FR_OK);
    struct fr_journal_entry e = get_ok(b, "job", "K-1");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    fr_journal_entry_release(&e);

    /* b writes; a reads it (a's last call was a write: no snapshot to renew) */
    u = (struct fr_journal_update){.key = "K-2", .state = FR_JOURNAL_FAILED};
    update_ok(b, "job", "r1", &u, 1, 30);
    e = get_ok(a, "job", "K-2");
    assert_int_equal(e.state, FR_JOURNAL_FAILED);
    fr_journal_entry_release(&e);

    /* a's reads may share a snapshot for a few ms (store.h); then b's commits show */
    assert_absent(a, "job", "K-3");
    u = (struct fr_journal_update){.key = "K-3", .state = FR_JOURNAL_CREATED};
    update_ok(b, "job", "r1", &u, 1, 40);
    fr_sleep_ms(50);
    e = get_ok(a, "job", "K-3");
    assert_int_equal(e.state, FR_JOURNAL_CREATED);
    fr_journal_entry_release(&e);

    /* a write on one handle waits for the other's, it does not fail (busy timeout) */
    begin_ok(b, "r2", "job", 50);
    assert_int_equal(fr_store_run_get(a, "r1", &run, NULL), FR_OK);
    assert_string_equal(run.status, "interrupted");
    fr_store_close(a);
    fr_store_close(b);
}

static void d_events_persist(const char *url)
{
    struct fr_store *st = open_ok(url);
    static const unsigned char raw[] = {1, 0, 2, 0};
    struct fr_event_in ev[] = {
        {.source = "gh", .event_id = "e1", .body = raw, .body_len = 4, .received_ms = 10},
        {.source = "gh", .event_id = "e2", .body = "x", .body_len = 1, .received_ms = 20},
    };
    add_ok(st, ev, 2, NULL);
    char ids[64];
    int64_t seqs[10];
    assert_int_equal(claim_ids(st, "w", 100, 50, 1, ids, sizeof(ids), seqs), 1);
    assert_int_equal(fr_store_event_dead(st, seqs[0], "w", "broken", 100, NULL), FR_OK);
    fr_store_close(st);

    st = open_ok(url);
    struct fr_event e;
    assert_int_equal(fr_store_event_get(st, seqs[0], &e, NULL), FR_OK);
    assert_int_equal(e.state, FR_EVENT_DEAD);
    assert_int_equal(e.body_len, 4);
    assert_memory_equal(e.body, raw, 4);
    assert_string_equal(e.last_error, "broken");
    fr_event_release(&e);
    int outcome[2];
    add_ok(st, ev, 2, outcome); /* the dedupe keys survived too */
    assert_int_equal(outcome[0], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(outcome[1], FR_EVENT_ADD_DUPLICATE);
    assert_int_equal(claim_ids(st, "w", 100, 50, 10, ids, sizeof(ids), NULL), 1);
    assert_string_equal(ids, "e2");
    fr_store_close(st);
}

/* Two handles on one file, as two processes would be: a claim never hands out a leased event. */
static void d_events_claim_two_handles(const char *url)
{
    struct fr_store *a = open_ok(url);
    struct fr_store *b = open_ok(url);
    struct fr_event_in ev[8];
    char names[8][8];
    for (int i = 0; i < 8; i++) {
        snprintf(names[i], sizeof(names[i]), "e%d", i);
        ev[i] = event_in("s", names[i], "", i);
    }
    add_ok(a, ev, 8, NULL);
    char ids_a[128], ids_b[128];
    assert_int_equal(claim_ids(a, "wa", 100, 1000, 3, ids_a, sizeof(ids_a), NULL), 3);
    assert_int_equal(claim_ids(b, "wb", 100, 1000, 10, ids_b, sizeof(ids_b), NULL), 5);
    assert_string_equal(ids_a, "e0 e1 e2");
    assert_string_equal(ids_b, "e3 e4 e5 e6 e7");
    assert_int_equal(claim_ids(a, "wa", 100, 1000, 10, ids_a, sizeof(ids_a), NULL), 0);
    fr_store_close(a);
    fr_store_close(b);
}

/* Processes claiming from one file at once: each event is handed out exactly once. */
static void d_events_claim_processes(const char *url)
{
    enum { EVENTS = 200, PROCS = 4 };
    struct fr_store *st = open_ok(url);
    struct fr_event_in ev[EVENTS];
    char names[EVENTS][8];
    for (int i = 0; i < EVENTS; i++) {
        snprintf(names[i], sizeof(names[i]), "e%d", i);
        ev[i] = event_in("s", names[i], "", i);
    }
    add_ok(st, ev, EVENTS, NULL);
    fr_store_close(st);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            /* each child marks what it claimed delivered; a second claim would fail that */
            struct fr_store *cs = NULL;
            int bad = fr_store_open(url, NULL, &cs, NULL);
            char owner[16];
            snprintf(owner, sizeof(owner), "p%d", p);
            for (;;) {
                struct fr_event *evs = NULL;
                size_t n = 0;
                if (bad || fr_store_events_claim(cs, owner, 1000, 60000, 3, &evs, &n, NULL)) {
                    bad = 1;
                    break;
                }
                for (size_t i = 0; i < n; i++) {
                    if (fr_store_event_delivered(cs, evs[i].seq, owner, 1000, NULL))
                        bad = 1;
                    fr_event_release(&evs[i]);
                }
                free(evs);
                if (n == 0)
                    break;
            }
            fr_store_close(cs);
            _exit(bad);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    st = open_ok(url);
    struct collected_stats c = {0};
    assert_int_equal(fr_store_queue_stats(st, true, collect_stats, &c, NULL), FR_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.items[0], "s p0 d200 x0 o0");
    for (int i = 0; i < EVENTS; i += 37) {
        struct fr_event e;
        assert_int_equal(fr_store_event_get(st, seq_of(st, "s", names[i]), &e, NULL), FR_OK);
        assert_int_equal(e.attempts, 1); /* delivered once, by one process */
        fr_event_release(&e);
    }
    fr_store_close(st);
}

/* ---- the backends --------------------------------------------------------------------- */

static char *sqlite_file_url(const char *dir)
{
    return fr_asprintf("sqlite:%s/ferry.db", dir);
}

static char *sqlite_memory_url(const char *dir)
{
    (void)dir;
    return fr_strdup("sqlite::memory:");
}

/* A new database; NULL (the case fails, or skips with FERRY_TEST_PG_URL=skip) without a cluster. */
static char *pg_url(const char *dir)
{
    (void)dir;
    const char *why = NULL;
    char *url = fr_pgtest_db_new(&why);
    if (!url && !fr_pgtest_skipped())
        print_error("%s\n", why);
    return url;
}

struct backend {
    const char *name;
    char *(*url_new)(const char *dir); /* a URL for a fresh, empty store; caller frees */
    void (*url_done)(const char *url); /* removes what url_new made outside dir; may be NULL */
    bool durable;                      /* data outlives the handle: run durable[] too */
};

static const struct backend backends[] = {
    {"sqlite-file", sqlite_file_url, NULL, true},
    {"sqlite-memory", sqlite_memory_url, NULL, false},
    {"postgresql", pg_url, fr_pgtest_db_drop, true},
};

static const struct {
    const char *name;
    void (*fn)(struct fr_store *st);
} contract[] = {
    {"run_begin_finish_get", c_run_begin_finish_get},
    {"run_notfound", c_run_notfound},
    {"runs_list", c_runs_list},
    {"run_begin_interrupts_earlier", c_run_begin_interrupts_earlier},
    {"run_failures_in_order", c_run_failures_in_order},
    {"run_last", c_run_last},
    {"run_reason_host_pid", c_run_reason_host_pid},
    {"run_reason_one_line", c_run_reason_one_line},
    {"run_interrupted_finish", c_run_interrupted_finish},
    {"run_last_running", c_run_last_running},
    {"journal_get_notfound", c_journal_get_notfound},
    {"journal_upsert", c_journal_upsert},
    {"journal_update_all_or_none", c_journal_update_all_or_none},
    {"journal_by_run", c_journal_by_run},
    {"journal_batches", c_journal_batches},
    {"journal_scale", c_journal_scale},
    {"events_add_duplicates", c_events_add_duplicates},
    {"events_add_content_key", c_events_add_content_key},
    {"events_body_bytes", c_events_body_bytes},
    {"events_add_all_or_none", c_events_add_all_or_none},
    {"events_claim_order_max", c_events_claim_order_max},
    {"events_lease_expiry", c_events_lease_expiry},
    {"events_retry", c_events_retry},
    {"events_dlq", c_events_dlq},
    {"events_release", c_events_release},
    {"events_queue_stats", c_events_queue_stats},
    {"events_purge_delivered", c_events_purge_delivered},
    {"watermarks", c_watermarks},
    {"schedule_claim", c_schedule_claim},
    {"job_lock_one_per_handle", c_job_lock_one_per_handle},
    {"write_check", c_write_check},
};

static const struct {
    const char *name;
    void (*fn)(const char *url);
} durable[] = {
    {"persists_across_reopen", d_persists_across_reopen},
    {"two_handles", d_two_handles},
    {"events_persist", d_events_persist},
    {"events_claim_two_handles", d_events_claim_two_handles},
    {"events_claim_processes", d_events_claim_processes},
    {"watermark_persists", d_watermark_persists},
    {"schema_from_empty", d_schema_from_empty},
    {"schedule_claim_two_handles", d_schedule_claim_two_handles},
    {"job_lock_two_handles", d_job_lock_two_handles},
    {"job_lock_holder_killed", d_job_lock_holder_killed},
};

/* One test of the matrix: the backend, which test, and what setup made. */
struct contract_case {
    const struct backend *backend;
    void (*store_fn)(struct fr_store *st);
    void (*url_fn)(const char *url);
    char *dir;
    char *url;
    struct fr_store *st;
};

static int case_setup(void **state)
{
    struct contract_case *cc = *state;
    cc->dir = make_temp_dir();
    cc->url = cc->backend->url_new(cc->dir);
    if (!cc->url) /* PostgreSQL without a cluster: case_run fails or skips */
        return 0;
    if (cc->store_fn)
        cc->st = open_ok(cc->url);
    return 0;
}

static int case_teardown(void **state)
{
    struct contract_case *cc = *state;
    fr_store_close(cc->st);
    cc->st = NULL;
    if (cc->url && cc->backend->url_done)
        cc->backend->url_done(cc->url);
    free(cc->url);
    cc->url = NULL;
    remove_temp_dir(cc->dir);
    cc->dir = NULL;
    return 0;
}

static void case_run(void **state)
{
    struct contract_case *cc = *state;
    if (!cc->url) {
        if (fr_pgtest_skipped())
            skip();
        fail_msg("%s: no store to test (see above)", cc->backend->name);
    }
    if (cc->store_fn)
        cc->store_fn(cc->st);
    else
        cc->url_fn(cc->url);
}

/* ---- not backend-specific ------------------------------------------------------------- */

static void test_unknown_scheme(void **state)
{
    (void)state;
    struct fr_store *st = (struct fr_store *)&st;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open("mysql://db/ferry", NULL, &st, &err), FR_ECONFIG);
    assert_null(st);
    assert_non_null(strstr(err.msg, "\"mysql\""));
    assert_non_null(strstr(err.msg, "sqlite:"));
    fr_err_clear(&err);
    /* Without a scheme the value is not shown (it may be a password in the wrong variable). */
    assert_int_equal(fr_store_open("ferry.db", NULL, &st, &err), FR_ECONFIG);
    assert_null(strstr(err.msg, "\"ferry.db\""));
    assert_non_null(strstr(err.msg, "\"sqlite:ferry.db\""));
    fr_err_clear(&err);
    assert_int_equal(fr_store_open("sqlite:", NULL, &st, &err), FR_ECONFIG);
}

/*
 * A store URL's password never shows in the messages of opening it,
 * however the URL is written: the scheme forgotten, "//" missing, a broken
 * percent-encoding libpq quotes back, refused at a closed port.
 */
static void test_url_password_never_shown(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        int code;
    } cases[] = {
        {"app:Sup3rSecretPw@db.internal/ferry", FR_ECONFIG},
        {"Sup3rSecretPw", FR_ECONFIG},
        {"postgresql://app:Sup3r%ZZSecretPw@127.0.0.1:1/ferry", FR_ESTORE},
        {"postgresql:app:Sup3rSecretPw@127.0.0.1:1/ferry", FR_ESTORE},
        {"postgresql://app:Sup3rSecretPw@127.0.0.1:1/ferry?connect_timeout=2", FR_ESTORE},
        {"postgresql://app@127.0.0.1:1/ferry?password=Sup3rSecretPw&connect_timeout=2", FR_ESTORE},
        {"postgresql://app:Sup3r Secret@127.0.0.1:1/ferry", FR_ESTORE},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        struct fr_store *st = NULL;
        struct fr_err err = {0};
        assert_int_equal(fr_store_open(cases[i].url, NULL, &st, &err), cases[i].code);
        assert_null(st);
        if (strstr(err.msg, "Sup3r") || strstr(err.msg, "Secret"))
            fail_msg("%s: the message shows the password: %s", cases[i].url, err.msg);
    }
}

/* Opened from a config, a failure names where the URL is written. */
static void test_open_config_names_the_key(void **state)
{
    (void)state;
    setenv("FR_TEST_DBURL", "app:Sup3rSecretPw@db.internal/ferry", 1);
    struct fr_config *cfg = NULL;
    struct fr_err err = {0};
    const char *yaml = "# the store\nstore: ${FR_TEST_DBURL}\n";
    assert_int_equal(
        fr_config_load_string(yaml, strlen(yaml), "ferry.yaml", fr_cli_sections(), &cfg, &err), 0);
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open_config(cfg, 0, &st, &err), FR_ECONFIG);
    assert_null(st);
    assert_true(strncmp(err.msg, "ferry.yaml:2:8: store: ", 23) == 0);
    assert_null(strstr(err.msg, "Sup3r"));
    fr_config_free(cfg);
    unsetenv("FR_TEST_DBURL");
}

static void test_unwritable_path(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = fr_asprintf("sqlite:%s/missing-dir/ferry.db", dir);
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open(url, NULL, &st, &err), FR_ESTORE);
    assert_null(st);
    assert_non_null(strstr(err.msg, "missing-dir/ferry.db"));
    /* the directory was not created behind the operator's back */
    char *missing = fr_asprintf("%s/missing-dir", dir);
    assert_int_equal(access(missing, F_OK), -1);
    free(missing);
    free(url);
    remove_temp_dir(dir);
}

static void test_relative_to_base_dir(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open("sqlite:rel.db", dir, &st, &err), FR_OK);
    fr_store_close(st);
    char *path = fr_asprintf("%s/rel.db", dir);
    assert_int_equal(access(path, F_OK), 0);
    free(path);
    remove_temp_dir(dir);
}

static void test_run_new_id(void **state)
{
    (void)state;
    char a[FR_RUN_ID_MAX], b[FR_RUN_ID_MAX];
    fr_run_new_id(a, 1700000000123); /* 2023-11-14 22:13:20.123 UTC */
    fr_run_new_id(b, 1700000000123);
    assert_int_equal(strlen(a), 23);
    assert_memory_equal(a, "20231114T221320Z-", 17);
    for (int i = 17; i < 23; i++)
        assert_non_null(strchr("0123456789abcdef", a[i]));
    assert_string_not_equal(a, b); /* 24 random bits */
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_NONE), "none");
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_INFLIGHT), "inflight");
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_CREATED), "created");
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_DUPLICATE), "duplicate");
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_FAILED), "failed");
    assert_string_equal(fr_journal_state_name(FR_JOURNAL_ROLLED_BACK), "rolled_back");
    assert_string_equal(fr_journal_state_name((enum fr_journal_state)99), "unknown");
    fr_journal_entry_release(NULL);
}

/* ---- SQLite specifics ----------------------------------------------------------------- */

/* schema_migrations: rows, distinct versions, highest version. */
static void read_migrations(const char *path, int64_t out[3])
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*), count(DISTINCT version), max(version)"
                                        " FROM schema_migrations",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    for (int i = 0; i < 3; i++)
        out[i] = sqlite3_column_int64(q, i);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void test_sqlite_migrations_once(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    for (int i = 0; i < 3; i++)
        fr_store_close(open_ok(url));
    int64_t m[3];
    read_migrations(path, m);
    assert_true(m[2] >= 1);
    assert_int_equal(m[0], m[2]); /* one row per version */
    assert_int_equal(m[1], m[2]);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/*
 * A store written by the release before migration 4 (schema version 3, runs
 * without pages and written) upgrades on open, its runs intact.
 */
static void test_sqlite_migration_4_upgrades(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    struct fr_store *st = open_ok(url);
    begin_ok(st, "r-old", "push-a", 1000);
    fr_store_close(st);
    /* back to version 3, as the previous release left it */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE watermarks; ALTER TABLE runs DROP COLUMN pages;"
                                  " ALTER TABLE runs DROP COLUMN written;"
                                  " DROP INDEX runs_job_status_started;"
                                  " DROP TABLE schedule_claims; DROP INDEX events_delivered;"
                                  " ALTER TABLE runs DROP COLUMN reason;"
                                  " ALTER TABLE runs DROP COLUMN host;"
                                  " ALTER TABLE runs DROP COLUMN pid;"
                                  " DROP INDEX events_content;"
                                  " ALTER TABLE events DROP COLUMN content_key;"
                                  " DELETE FROM schema_migrations WHERE version >= 4",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    int64_t m[3];
    read_migrations(path, m);
    assert_int_equal(m[2], 3);

    st = open_ok(url);
    read_migrations(path, m);
    int64_t current = 0, latest = 0;
    assert_int_equal(fr_store_schema(st, &current, &latest, NULL), FR_OK);
    assert_int_equal(m[2], latest); /* 4 and every later one */
    assert_int_equal(current, latest);
    assert_true(latest >= 6);
    struct fr_run run;
    assert_int_equal(fr_store_run_get(st, "r-old", &run, NULL), FR_OK);
    assert_string_equal(run.job, "push-a");
    assert_int_equal(run.counts.pages, 0);
    assert_int_equal(fr_store_watermark_set(st, "pull-a", "1", "r1", 1, NULL), FR_OK);
    fr_store_close(st);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/*
 * A store written by the release before migration 8 (schema version 7, runs
 * without reason, host and pid) upgrades on open: its runs read with none,
 * and a run finished after takes a reason.
 */
static void test_sqlite_migration_8_upgrades(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    struct fr_store *st = open_ok(url);
    begin_ok(st, "r-old", "push-a", 1000);
    fr_store_close(st);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE runs DROP COLUMN reason;"
                                  " ALTER TABLE runs DROP COLUMN host;"
                                  " ALTER TABLE runs DROP COLUMN pid;"
                                  " DROP INDEX events_content;"
                                  " ALTER TABLE events DROP COLUMN content_key;"
                                  " DELETE FROM schema_migrations WHERE version >= 8",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    int64_t m[3];
    read_migrations(path, m);
    assert_int_equal(m[2], 7);

    st = open_ok(url);
    read_migrations(path, m);
    assert_true(m[2] >= 8);
    struct fr_run run;
    assert_int_equal(fr_store_run_get(st, "r-old", &run, NULL), FR_OK);
    assert_string_equal(run.status, "running");
    assert_string_equal(run.reason, "");
    assert_string_equal(run.host, "");
    assert_int_equal(run.pid, 0);
    fr_strlcpy(run.status, "failed", sizeof(run.status));
    run.exit_code = 4;
    run.ended_ms = 2000;
    fr_strlcpy(run.reason, "target unreachable", sizeof(run.reason));
    assert_int_equal(fr_store_run_finish(st, &run, NULL), FR_OK);
    assert_int_equal(fr_store_run_get(st, "r-old", &run, NULL), FR_OK);
    assert_string_equal(run.reason, "target unreachable");
    fr_store_close(st);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/* ---- checkpoints (SQLite) ------------------------------------------------------------- */

static off_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? sb.st_size : 0;
}

/* Adds n events of about a page each, in commits of 50; returns the WAL's largest size seen. */
static off_t add_page_events(struct fr_store *st, const char *wal, int *next_id, int n)
{
    enum { PER_COMMIT = 50, BODY = 4000 };
    static char body[BODY];
    memset(body, 'x', sizeof(body));
    char ids[PER_COMMIT][32];
    struct fr_event_in ev[PER_COMMIT];
    int outcome[PER_COMMIT];
    off_t most = 0;
    for (int done = 0; done < n; done += PER_COMMIT) {
        for (int i = 0; i < PER_COMMIT; i++) {
            snprintf(ids[i], sizeof(ids[i]), "evt-%d", (*next_id)++);
            ev[i] = (struct fr_event_in){.source = "bulk",
                                         .event_id = ids[i],
                                         .body = body,
                                         .body_len = sizeof(body),
                                         .received_ms = 1000};
        }
        struct fr_err err = {0};
        if (fr_store_events_add(st, ev, PER_COMMIT, outcome, &err))
            fail_msg("events add: %s", err.msg);
        off_t size = file_size(wal);
        if (size > most)
            most = size;
    }
    return most;
}

/*
 * ferry copies the WAL into the database in the background once 1000 pages
 * were written since the last copy, and the committing handle copies the rest
 * itself at 16,000 pages, so the WAL stays bounded under continuous writes
 * (a background copy alone never lets the WAL start again).
 */
static void test_sqlite_wal_checkpoints(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *db = fr_asprintf("%s/ferry.db", dir);
    char *wal = fr_asprintf("%s/ferry.db-wal", dir);
    struct fr_store *st = open_ok(url);
    int next_id = 0;
    off_t before = file_size(db);

    /* 1,500 pages: past the background threshold, far below the inline one */
    add_page_events(st, wal, &next_id, 1500);
    /* no commit from here on: only the checkpointer can grow the database file */
    bool copied = false;
    for (int i = 0; i < 200 && !copied; i++) {
        copied = file_size(db) > before + 500 * 4096;
        if (!copied)
            fr_sleep_ms(50);
    }
    assert_true(copied);

    /* 24,000 pages in a row: the WAL never holds much more than 16,000 of them */
    off_t most = add_page_events(st, wal, &next_id, 24000);
    if (most > (off_t)20000 * 4096)
        fail_msg("the WAL grew to %lld bytes", (long long)most);

    fr_store_close(st);
    free(wal);
    free(db);
    free(url);
    remove_temp_dir(dir);
}

/* Processes opening one new file at once: each succeeds, the schema is applied once. */
static void test_sqlite_concurrent_open(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    enum { PROCS = 4 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct fr_store *st = NULL;
            struct fr_err err = {0};
            int rc = fr_store_open(url, NULL, &st, &err);
            if (rc)
                fprintf(stderr, "child %d: %s\n", i, err.msg);
            fr_store_close(st);
            _exit(rc ? 1 : 0);
        }
    }
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    int64_t m[3];
    read_migrations(path, m);
    assert_int_equal(m[0], m[2]);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/* Another process holding the write lock past the busy timeout: a clear error, not a hang. */
static void test_sqlite_locked(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    struct fr_store *st = open_ok(url);
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED};
    struct fr_err err = {0};
    int64_t t0 = fr_now_ms();
    assert_int_equal(fr_store_journal_update(st, "a", "r1", &u, 1, 1, &err), FR_ESTORE);
    assert_true(fr_now_ms() - t0 >= 4000); /* it waited for the lock first */
    assert_non_null(strstr(err.msg, "journal update: database is locked"));
    assert_non_null(strstr(err.msg, path));

    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    update_ok(st, "a", "r1", &u, 1, 2);
    fr_store_close(st);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/*
 * SQLite: another process holding the write lock. A read still answers; the
 * write check waits FR_STORE_WRITE_CHECK_WAIT_MS for the lock, then says it
 * is locked; once it is free, the check passes.
 */
static void test_sqlite_write_check_locked(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    struct fr_store *st = open_ok(url);
    sqlite3 *other = NULL;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    struct fr_err err = {0};
    assert_int_equal(fr_store_ping(st, &err), FR_OK);
    int64_t t0 = fr_now_ms();
    assert_int_equal(fr_store_write_check(st, &err), FR_ESTORE);
    int64_t waited = fr_now_ms() - t0;
    assert_true(waited >= FR_STORE_WRITE_CHECK_WAIT_MS - 100);
    assert_true(waited < FR_STORE_WRITE_CHECK_WAIT_MS + 2000); /* not the 5 s of a commit */
    assert_non_null(strstr(err.msg, "write check: database is locked"));
    assert_non_null(strstr(err.msg, path));

    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    write_check_ok(st);
    /* the handle's own waits are as before: a commit still waits 5 s for the lock */
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED};
    update_ok(st, "a", "r1", &u, 1, 2);
    fr_store_close(st);
    free(path);
    free(url);
    remove_temp_dir(dir);
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

/*
 * SQLite: a database file made immutable (chattr +i) under a running
 * handle. Reads answer and a rolled-back write would pass (WAL mode writes
 * the WAL, not the file), but no checkpoint can ever write the file: the
 * write check fails and names it. Needs CAP_LINUX_IMMUTABLE and a
 * filesystem with the attribute (ext4, xfs; not tmpfs): skipped otherwise.
 */
static void test_sqlite_write_check_immutable(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char *url = sqlite_file_url(dir);
    char *path = fr_asprintf("%s/ferry.db", dir);
    struct fr_store *st = open_ok(url);
    write_check_ok(st);
    if (!set_immutable(path, true)) {
        print_message("skipped: cannot make %s immutable here (%s)\n", path, strerror(errno));
        fr_store_close(st);
        free(path);
        free(url);
        remove_temp_dir(dir);
        skip();
    }
    struct fr_err err = {0};
    assert_int_equal(fr_store_ping(st, &err), FR_OK);
    int rc = fr_store_write_check(st, &err);
    set_immutable(path, false); /* before any assertion: the directory must be removable */
    assert_int_equal(rc, FR_ESTORE);
    char *want = fr_asprintf("write check: %s cannot be written: Operation not permitted", path);
    assert_non_null(strstr(err.msg, want));
    free(want);
    write_check_ok(st);
    fr_store_close(st);
    free(path);
    free(url);
    remove_temp_dir(dir);
}

/*
 * PostgreSQL: a database whose transactions are read-only (as on a standby,
 * or with default_transaction_read_only): reads answer, the write check
 * fails and says so.
 */
static void test_pg_write_check_read_only(void **state)
{
    (void)state;
    if (fr_pgtest_skipped())
        skip();
    const char *why = NULL;
    char *url = fr_pgtest_db_new(&why);
    if (!url)
        fail_msg("%s", why);
    struct fr_store *st = open_ok(url);
    write_check_ok(st);
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET"
                              " default_transaction_read_only = on', current_database()); END $$");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(c);
    /* a new session takes the database's default */
    struct fr_store *ro = NULL;
    struct fr_err err = {0};
    if (fr_store_open_flags(url, NULL, FR_STORE_NO_MIGRATE, &ro, &err))
        fail_msg("open %s: %s", url, err.msg);
    assert_int_equal(fr_store_ping(ro, &err), FR_OK);
    assert_int_equal(fr_store_write_check(ro, &err), FR_ESTORE);
    assert_non_null(strstr(err.msg, "write check: transactions are read-only here"));
    write_check_ok(st); /* the older session keeps its own setting */
    fr_store_close(ro);
    fr_store_close(st);
    fr_pgtest_db_drop(url);
    free(url);
}

/* Terminates the sessions of url's database that hold an advisory lock; how many. */
static int pg_terminate_lock_holders(const char *url)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *res = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_locks"
                              " WHERE locktype = 'advisory' AND granted"
                              " AND database = (SELECT oid FROM pg_database"
                              "  WHERE datname = current_database())");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    int n = PQntuples(res);
    PQclear(res);
    PQfinish(c);
    return n;
}

/*
 * PostgreSQL: the connection of a handle holding a job's lock dies. The
 * server lets the lock go; the handle's next operation takes it again, or,
 * when another handle took it meanwhile, fails (the run stops) until the
 * handle lets go of the lock.
 */
static void test_pg_job_lock_connection_lost(void **state)
{
    (void)state;
    if (fr_pgtest_skipped())
        skip();
    const char *why = NULL;
    char *url = fr_pgtest_db_new(&why);
    if (!url)
        fail_msg("%s", why);
    struct fr_store *a = open_ok(url);
    struct fr_store *b = open_ok(url);
    begin_ok(a, "r1", "nightly", 10);

    /* nobody takes it meanwhile: a's next operation reconnects and holds it again */
    assert_true(lock_job(a, "nightly"));
    assert_int_equal(pg_terminate_lock_holders(url), 1);
    struct fr_run run;
    struct fr_err err = {0};
    int64_t deadline = fr_now_ms() + 10000;
    while (fr_store_run_get(a, "r1", &run, NULL) && fr_now_ms() < deadline)
        fr_sleep_ms(20); /* the operation that finds the connection broken fails */
    assert_int_equal(fr_store_run_get(a, "r1", &run, &err), FR_OK);
    assert_false(lock_job(b, "nightly"));

    /* b takes it while a's connection is down: a's operations fail from then on */
    assert_int_equal(pg_terminate_lock_holders(url), 1);
    deadline = fr_now_ms() + 10000;
    bool held = false;
    while (!(held = lock_job(b, "nightly")) && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_true(held);
    for (int i = 0; i < 3; i++) {
        fr_err_clear(&err);
        assert_int_equal(fr_store_run_get(a, "r1", &run, &err), FR_ESTORE);
    }
    assert_non_null(strstr(err.msg, "lost the run lock of job \"nightly\""));
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED};
    assert_int_equal(fr_store_journal_update(a, "nightly", "r1", &u, 1, 20, NULL), FR_ESTORE);
    unlock_job(a, "nightly"); /* a's run ends: the handle works again, without the lock */
    assert_int_equal(fr_store_run_get(a, "r1", &run, NULL), FR_OK);
    assert_false(lock_job(a, "nightly"));
    fr_store_close(a);
    fr_store_close(b);
    fr_pgtest_db_drop(url);
    free(url);
}

static int reentry_seen;

static int reenter_runs_list(const struct fr_run *run, void *ud)
{
    struct fr_store *st = ud;
    struct fr_err err = {0};
    struct collected c = {0};
    assert_int_equal(fr_store_runs_list(st, NULL, 0, collect_run, &c, &err), FR_EINVAL);
    assert_non_null(strstr(err.msg, "own callback"));
    /* reading something else is fine, in any mix */
    struct fr_journal_entry e;
    assert_int_equal(fr_store_journal_get(st, "a", "K-1", &e, NULL), FR_OK);
    fr_journal_entry_release(&e);
    struct fr_run other;
    assert_int_equal(fr_store_run_get(st, run->id, &other, NULL), FR_OK);
    assert_int_equal(fr_store_journal_get(st, "a", "K-1", &e, NULL), FR_OK);
    fr_journal_entry_release(&e);
    reentry_seen++;
    return 0;
}

static void test_sqlite_listing_reentry_refused(void **state)
{
    (void)state;
    struct fr_store *st = open_ok("sqlite::memory:");
    begin_ok(st, "r1", "a", 1);
    begin_ok(st, "r2", "b", 2);
    begin_ok(st, "r3", "c", 3);
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED};
    update_ok(st, "a", "r1", &u, 1, 1);
    reentry_seen = 0;
    assert_int_equal(fr_store_runs_list(st, NULL, 0, reenter_runs_list, st, NULL), FR_OK);
    assert_int_equal(reentry_seen, 3); /* the listing went on to the end */
    fr_store_close(st);
}

int main(void)
{
    size_t max = FR_ARRAY_LEN(backends) * (FR_ARRAY_LEN(contract) + FR_ARRAY_LEN(durable)) + 32;
    struct CMUnitTest *tests = fr_calloc(max, sizeof(*tests));
    struct contract_case *cases = fr_calloc(max, sizeof(*cases));
    char **names = fr_calloc(max, sizeof(*names));
    size_t n = 0;
    for (size_t b = 0; b < FR_ARRAY_LEN(backends); b++) {
        for (size_t t = 0; t < FR_ARRAY_LEN(contract); t++) {
            cases[n] = (struct contract_case){.backend = &backends[b], .store_fn = contract[t].fn};
            names[n] = fr_asprintf("%s/%s", backends[b].name, contract[t].name);
            tests[n] =
                (struct CMUnitTest){names[n], case_run, case_setup, case_teardown, &cases[n]};
            n++;
        }
        for (size_t t = 0; backends[b].durable && t < FR_ARRAY_LEN(durable); t++) {
            cases[n] = (struct contract_case){.backend = &backends[b], .url_fn = durable[t].fn};
            names[n] = fr_asprintf("%s/%s", backends[b].name, durable[t].name);
            tests[n] =
                (struct CMUnitTest){names[n], case_run, case_setup, case_teardown, &cases[n]};
            n++;
        }
    }
    const struct CMUnitTest plain[] = {
        cmocka_unit_test(test_unknown_scheme),
        cmocka_unit_test(test_url_password_never_shown),
        cmocka_unit_test(test_open_config_names_the_key),
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_relative_to_base_dir),
        cmocka_unit_test(test_run_new_id),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_sqlite_migrations_once),
        cmocka_unit_test(test_sqlite_concurrent_open),
        cmocka_unit_test(test_sqlite_migration_4_upgrades),
        cmocka_unit_test(test_sqlite_migration_8_upgrades),
        cmocka_unit_test(test_sqlite_listing_reentry_refused),
        cmocka_unit_test(test_sqlite_locked),
        cmocka_unit_test(test_sqlite_write_check_locked),
        cmocka_unit_test(test_sqlite_write_check_immutable),
        cmocka_unit_test(test_pg_write_check_read_only),
        cmocka_unit_test(test_sqlite_wal_checkpoints),
        cmocka_unit_test(test_pg_job_lock_connection_lost),
    };
    FR_ASSERT(n + FR_ARRAY_LEN(plain) <= max);
    for (size_t i = 0; i < FR_ARRAY_LEN(plain); i++)
        tests[n++] = plain[i];
    int failed = _cmocka_run_group_tests("store", tests, n, NULL, NULL);
    for (size_t i = 0; i < max; i++)
        free(names[i]);
    free(names);
    free(cases);
    free(tests);
    return failed;
}
