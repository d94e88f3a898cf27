/*
 * End-to-end: `ferry migrate`, on PostgreSQL (a new database per test in
 * the cluster of FERRY_TEST_PG_URL) and on SQLite. On an empty store
 * --check exits 1 and names the pending versions; ferry migrate applies
 * them and --check then exits 0; several ferry migrate started at once
 * all succeed and record each version once; a store whose schema is newer
 * than the binary is refused with "upgrade ferry" (exit 5, --check 1), by
 * ferry migrate and by any command that opens the store.
 */
#include "core/common.h"
#include "harness.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include "core/clock.h"
#include "pgtest.h"
#include "store/store.h"

struct env {
    char *dir;
    char *url;    /* the store under test */
    char *config; /* a ferry.yaml naming it */
    bool pg;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    *state = e;
    e->dir = fr_test_tmpdir();
    return e->dir ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e->pg && e->url)
        fr_pgtest_db_drop(e->url);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->url);
    free(e->config);
    free(e);
    return 0;
}

/* The store of the test: a new PostgreSQL database, or a SQLite file not yet created. */
static void use_store(struct env *e, bool pg)
{
    e->pg = pg;
    if (pg) {
        if (fr_pgtest_skipped())
            skip();
        const char *why = NULL;
        e->url = fr_pgtest_db_new(&why);
        if (!e->url)
            fail_msg("%s", why);
    } else {
        e->url = fr_asprintf("sqlite:%s/ferry.db", e->dir);
    }
    char *yaml = fr_asprintf("store: %s\n", e->url);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

/* The newest schema version this ferry knows. */
static int64_t latest_version(void)
{
    struct fr_store *st = NULL;
    int64_t current = 0, latest = 0;
    assert_int_equal(fr_store_open("sqlite::memory:", NULL, &st, NULL), 0);
    assert_int_equal(fr_store_schema(st, &current, &latest, NULL), 0);
    fr_store_close(st);
    assert_true(latest >= 6);
    return latest;
}

/* ferry migrate ARGS... --store URL; the exit status, *out and *err its output. */
static int migrate(struct env *e, const char *arg, char **out, char **err)
{
    const char *args[] = {"migrate", "--store", e->url, arg, NULL};
    return fr_test_run(args, e->dir, NULL, 60000, out, err);
}

/* SQL on the store of the test; the first column of the first row, or -1 for none. */
static int64_t sql(struct env *e, const char *query)
{
    int64_t v = -1;
    if (e->pg) {
        PGconn *c = PQconnectdb(e->url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *res = PQexec(c, query);
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
            fail_msg("%s: %s", query, PQerrorMessage(c));
        if (st == PGRES_TUPLES_OK && PQntuples(res) > 0)
            v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(e->url + strlen("sqlite:"), &db), SQLITE_OK);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, query, -1, &st, NULL) != SQLITE_OK)
            fail_msg("%s: %s", query, sqlite3_errmsg(db));
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        else if (rc != SQLITE_DONE)
            fail_msg("%s: %s", query, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return v;
}

/* schema_migrations holds each version from 1 to latest once, and nothing else. */
static void assert_each_version_once(struct env *e, int64_t latest)
{
    assert_int_equal(sql(e, "SELECT count(*) FROM schema_migrations"), latest);
    assert_int_equal(sql(e, "SELECT count(DISTINCT version) FROM schema_migrations"), latest);
    assert_int_equal(sql(e, "SELECT min(version) FROM schema_migrations"), 1);
    assert_int_equal(sql(e, "SELECT max(version) FROM schema_migrations"), latest);
}

/* ---- check, apply, check -------------------------------------------------------------- */

static void check_apply_check(struct env *e)
{
    int64_t latest = latest_version();
    char *out = NULL, *err = NULL;
    assert_int_equal(migrate(e, "--check", &out, &err), 1);
    char *want = fr_asprintf("schema version 0 of %lld: migrations pending", (long long)latest);
    assert_non_null(strstr(out, want));
    free(want);
    want =
        fr_asprintf("%lld migration(s) pending (1 to %lld)", (long long)latest, (long long)latest);
    assert_non_null(strstr(err, want));
    free(want);
    free(out);
    free(err);
    /* --check changed nothing: on SQLite not even an empty file was made */
    if (!e->pg && access(e->url + strlen("sqlite:"), F_OK) == 0)
        fail_msg("ferry migrate --check created %s", e->url);
    assert_int_equal(sql(e, e->pg ? "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                  : "SELECT count(*) FROM sqlite_master"),
                     0);

    assert_int_equal(migrate(e, NULL, &out, &err), 0);
    want = fr_asprintf("schema version %lld of %lld: up to date (%lld applied now)",
                       (long long)latest, (long long)latest, (long long)latest);
    assert_non_null(strstr(out, want));
    free(want);
    free(out);
    free(err);
    assert_each_version_once(e, latest);

    assert_int_equal(migrate(e, "--check", &out, &err), 0);
    want = fr_asprintf("schema version %lld of %lld: up to date", (long long)latest,
                       (long long)latest);
    assert_non_null(strstr(out, want));
    free(want);
    free(out);
    free(err);
    /* applied again: nothing to do */
    assert_int_equal(migrate(e, NULL, &out, &err), 0);
    assert_non_null(strstr(out, "(0 applied now)"));
    free(out);
    free(err);
    assert_each_version_once(e, latest);
}

static void test_pg_check_apply_check(void **state)
{
    struct env *e = *state;
    use_store(e, true);
    check_apply_check(e);
}

static void test_sqlite_check_apply_check(void **state)
{
    struct env *e = *state;
    use_store(e, false);
    check_apply_check(e);
}

/* ---- several at once ------------------------------------------------------------------ */

#define TOGETHER 4

/*
 * TOGETHER ferry migrate at once on the empty store; returns the sum of "N
 * applied now". held_sqlite, when not NULL, is a connection to the SQLite
 * store holding its write lock: released once they all wait for it.
 */
static int64_t migrate_together(struct env *e, sqlite3 *held_sqlite)
{
    int64_t latest = latest_version();
    struct fr_proc p[TOGETHER];
    const char *args[] = {"migrate", "--store", e->url, NULL};
    for (int i = 0; i < TOGETHER; i++)
        assert_int_equal(fr_test_spawn(&p[i], args, e->dir, NULL), 0);
    if (held_sqlite) {
        fr_sleep_ms(500); /* well within their 5 s busy timeout */
        assert_int_equal(sqlite3_exec(held_sqlite, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    }
    int status[TOGETHER];
    char *errs[TOGETHER];
    int64_t applied = 0;
    for (int i = 0; i < TOGETHER; i++) {
        status[i] = fr_test_wait(&p[i], 60000);
        char line[256] = "";
        ssize_t n = read(p[i].stdout_fd, line, sizeof(line) - 1);
        line[n > 0 ? n : 0] = '\0';
        const char *at = strstr(line, "up to date (");
        applied += at ? strtoll(at + strlen("up to date ("), NULL, 10) : 0;
        errs[i] = fr_test_proc_stderr(&p[i]);
        fr_test_proc_release(&p[i]);
    }
    for (int i = 0; i < TOGETHER; i++) {
        if (status[i] != 0)
            fprintf(stderr, "ferry migrate %d exited %d:\n%s\n", i, status[i], errs[i]);
        free(errs[i]);
    }
    for (int i = 0; i < TOGETHER; i++)
        assert_int_equal(status[i], 0);
    assert_each_version_once(e, latest);
    return applied;
}

static void test_pg_migrate_together(void **state)
{
    struct env *e = *state;
    use_store(e, true);
    /* one transaction under the advisory lock: the first applies all, the others none */
    assert_int_equal(migrate_together(e, NULL), latest_version());
}

static void test_sqlite_migrate_together(void **state)
{
    struct env *e = *state;
    use_store(e, false);
    migrate_together(e, NULL); /* SQLite counts what was pending at its start: no sum to check */

    /*
     * Again on a new file that has an empty schema_migrations table (a ferry
     * killed right after creating it), its write lock held while they start:
     * each reads version 0, then waits for the lock to apply version 1.
     */
    free(e->url);
    e->url = fr_asprintf("sqlite:%s/held.db", e->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(e->url + strlen("sqlite:"), &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode = WAL; CREATE TABLE schema_migrations ("
                                  " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);"
                                  " BEGIN IMMEDIATE",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    migrate_together(e, db);
    sqlite3_close(db);
}

/* ---- a store newer than this ferry ---------------------------------------------------- */

static void newer_refused(struct env *e)
{
    char *out = NULL, *err = NULL;
    assert_int_equal(migrate(e, NULL, &out, &err), 0);
    free(out);
    free(err);
    int64_t latest = latest_version();
    char *insert = fr_asprintf(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (%lld, '2099-01-01')",
        (long long)latest + 1);
    sql(e, insert);
    free(insert);

    assert_int_equal(migrate(e, NULL, &out, &err), 5);
    assert_non_null(strstr(err, "upgrade ferry"));
    free(out);
    free(err);
    assert_int_equal(migrate(e, "--check", &out, &err), 1);
    assert_non_null(strstr(err, "upgrade ferry"));
    free(out);
    free(err);
    /* any command that opens the store: it migrates first, and refuses */
    const char *args[] = {"status", "-c", e->config, NULL};
    assert_int_equal(fr_test_run(args, e->dir, NULL, 60000, &out, &err), 5);
    assert_non_null(strstr(err, "upgrade ferry"));
    free(out);
    free(err);
    /* nothing was changed */
    assert_int_equal(sql(e, "SELECT max(version) FROM schema_migrations"), latest + 1);
    assert_int_equal(sql(e, "SELECT count(*) FROM schema_migrations"), latest + 1);
}

static void test_pg_newer_refused(void **state)
{
    struct env *e = *state;
    use_store(e, true);
    newer_refused(e);
}

static void test_sqlite_newer_refused(void **state)
{
    struct env *e = *state;
    use_store(e, false);
    newer_refused(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pg_check_apply_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_newer_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_check_apply_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_migrate_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_newer_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
