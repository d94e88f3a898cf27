#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "store/store.h"

/*
 * The store contract: every test in `contract[]` runs against every
 * backend in `backends[]`. A new backend (PostgreSQL) is one more row in
 * backends[]; a backend whose data outlives its handle also runs
 * `durable[]`, which reopens the store by URL.
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
                                        .token_refreshes = (uint64_t)1 << 40};
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
    assert_int_equal(fr_store_run_get(st, "rerun", &got, NULL), FR_OK);
    assert_string_equal(got.status, "running");
    assert_int_equal(fr_store_run_get(st, "other-job", &got, NULL), FR_OK);
    assert_string_equal(got.status, "running");
    assert_int_equal(fr_store_run_get(st, "done", &got, NULL), FR_OK);
    assert_string_equal(got.status, "ok");
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
        .key = "K-1", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = true};
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
        .key = "K-1", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_B, .sent = true};
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
    u = (struct fr_journal_update){.key = "K-2", .state = FR_JOURNAL_DUPLICATE, .sent = true};
    update_ok(st, "a", "r3", &u, 1, 4000);
    e = get_ok(st, "a", "K-2");
    assert_int_equal(e.state, FR_JOURNAL_DUPLICATE);
    assert_string_equal(e.payload_hash, "");
    assert_int_equal(e.attempts, 1);
    fr_journal_entry_release(&e);

    /* one key twice in one batch: both apply, in order */
    struct fr_journal_update twice[] = {
        {.key = "K-3", .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = true},
        {.key = "K-3", .state = FR_JOURNAL_ROLLED_BACK, .sent = true},
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
            .key = keys[i], .state = FR_JOURNAL_INFLIGHT, .payload_hash = HASH_A, .sent = true};
    }
    big[60] = (struct fr_journal_update){
        .key = "BIG-10", .state = FR_JOURNAL_FAILED, .error = "second", .sent = true};
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
        {.key = "A-0", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = true},
        {.key = "A-1", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = true},
    };
    update_ok(st, "a", "r1", first, 2, 100);

    /* a NULL key in the middle breaks the NOT NULL rule after two rows were written */
    struct fr_journal_update bad[] = {
        {.key = "B-0", .state = FR_JOURNAL_INFLIGHT, .sent = true},
        {.key = "A-0", .state = FR_JOURNAL_FAILED, .payload_hash = HASH_B, .error = "x"},
        {.key = NULL, .state = FR_JOURNAL_INFLIGHT, .sent = true},
        {.key = "B-3", .state = FR_JOURNAL_INFLIGHT, .sent = true},
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

static void c_journal_by_run(struct fr_store *st)
{
    struct fr_journal_update r1[] = {
        {.key = "K-1", .state = FR_JOURNAL_CREATED, .sent = true},
        {.key = "K-2", .state = FR_JOURNAL_CREATED, .sent = true},
        {.key = "K-3", .state = FR_JOURNAL_FAILED, .sent = true, .error = "HTTP 422"},
        {.key = "K-4", .state = FR_JOURNAL_DUPLICATE, .sent = true},
    };
    update_ok(st, "a", "r1", r1, FR_ARRAY_LEN(r1), 100);
    struct fr_journal_update r1_other_job = {.key = "K-9", .state = FR_JOURNAL_CREATED};
    update_ok(st, "b", "r1b", &r1_other_job, 1, 100);
    /* r2 takes K-2 over: it is no longer r1's */
    struct fr_journal_update r2 = {.key = "K-2", .state = FR_JOURNAL_FAILED, .sent = true};
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
                                              .sent = true};
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

/* ---- contract: backends whose data outlives the handle -------------------------------- */

static void d_persists_across_reopen(const char *url)
{
    struct fr_store *st = open_ok(url);
    begin_ok(st, "r1", "a", 10);
    struct fr_run_failure f = {.key = "K-1", .line = 4, .kind = "failed", .reason = "HTTP 400"};
    assert_int_equal(fr_store_run_add_failures(st, "r1", &f, 1, NULL), FR_OK);
    struct fr_journal_update u = {
        .key = "K-1", .state = FR_JOURNAL_CREATED, .payload_hash = HASH_A, .sent = true};
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
    struct fr_journal_update u = {.key = "K-1", .state = FR_JOURNAL_CREATED, .sent = true};
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

struct backend {
    const char *name;
    char *(*url_new)(const char *dir); /* a URL for a fresh, empty store; caller frees */
    bool durable;                      /* data outlives the handle: run durable[] too */
};

static const struct backend backends[] = {
    {"sqlite-file", sqlite_file_url, true},
    {"sqlite-memory", sqlite_memory_url, false},
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
    {"journal_get_notfound", c_journal_get_notfound},
    {"journal_upsert", c_journal_upsert},
    {"journal_update_all_or_none", c_journal_update_all_or_none},
    {"journal_by_run", c_journal_by_run},
    {"journal_scale", c_journal_scale},
};

static const struct {
    const char *name;
    void (*fn)(const char *url);
} durable[] = {
    {"persists_across_reopen", d_persists_across_reopen},
    {"two_handles", d_two_handles},
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
    if (cc->store_fn)
        cc->st = open_ok(cc->url);
    return 0;
}

static int case_teardown(void **state)
{
    struct contract_case *cc = *state;
    fr_store_close(cc->st);
    cc->st = NULL;
    free(cc->url);
    cc->url = NULL;
    remove_temp_dir(cc->dir);
    cc->dir = NULL;
    return 0;
}

static void case_run(void **state)
{
    struct contract_case *cc = *state;
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
    assert_int_equal(fr_store_open("ferry.db", NULL, &st, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, "ferry.db"));
    fr_err_clear(&err);
    assert_int_equal(fr_store_open("sqlite:", NULL, &st, &err), FR_ECONFIG);
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
    size_t max = FR_ARRAY_LEN(backends) * (FR_ARRAY_LEN(contract) + FR_ARRAY_LEN(durable)) + 16;
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
        cmocka_unit_test(test_unwritable_path),
        cmocka_unit_test(test_relative_to_base_dir),
        cmocka_unit_test(test_run_new_id),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_sqlite_migrations_once),
        cmocka_unit_test(test_sqlite_concurrent_open),
        cmocka_unit_test(test_sqlite_listing_reentry_refused),
        cmocka_unit_test(test_sqlite_locked),
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
