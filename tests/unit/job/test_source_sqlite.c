#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <unistd.h>

#include "core/error.h"
#include "job/source.h"
#include "job/job_conf.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    fr_strlcpy(dir, "/tmp/fr_sqlite_XXXXXX", sizeof(dir));
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/in.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db,
                          "CREATE TABLE orders (id TEXT, amount REAL, qty INTEGER, note TEXT, "
                          "  raw BLOB);"
                          "INSERT INTO orders VALUES ('A1', 12.5, 3, 'first', NULL);"
                          "INSERT INTO orders VALUES ('A2', -3.25, NULL, NULL, NULL);"
                          "INSERT INTO orders VALUES ('A3', 1, 9007199254740993, 'x', X'00FF');"
                          "INSERT INTO orders VALUES ('A4', 0, 0, 'caf\xc3\xa9', NULL);",
                          NULL, NULL, &msg);
    if (rc)
        print_error("%s\n", msg);
    assert_int_equal(rc, SQLITE_OK);
    sqlite3_close(db);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static int open_query(const char *query, struct fr_source **src, struct fr_err *err)
{
    struct fr_source_conf conf = {.type = FR_SOURCE_SQLITE, .path = path, .query = (char *)query};
    return fr_source_open(&conf, src, err);
}

static void next(struct fr_source *src, struct fr_record *rec)
{
    bool eof = true;
    struct fr_err err = {0};
    int rc = fr_source_next(src, rec, &eof, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_false(eof);
}

static void expect_json(const struct fr_record *rec, const char *want)
{
    assert_null(rec->error);
    char *text = json_dumps(rec->fields, JSON_COMPACT | JSON_SORT_KEYS);
    if (strcmp(text, want) != 0)
        print_error("got %s\n", text);
    assert_string_equal(text, want);
    free(text);
}

static void test_types(void **state)
{
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    assert_int_equal(open_query("SELECT id, amount, qty, note FROM orders ORDER BY id", &src, &err),
                     0);
    struct fr_record rec;
    next(src, &rec);
    assert_int_equal(rec.line, 1);
    expect_json(&rec, "{\"amount\":12.5,\"id\":\"A1\",\"note\":\"first\",\"qty\":3}");
    fr_record_release(&rec);
    next(src, &rec);
    assert_int_equal(rec.line, 2);
    expect_json(&rec, "{\"amount\":-3.25,\"id\":\"A2\",\"note\":null,\"qty\":null}");
    assert_true(json_is_null(json_object_get(rec.fields, "qty")));
    fr_record_release(&rec);
    next(src, &rec);
    expect_json(&rec, "{\"amount\":1.0,\"id\":\"A3\",\"note\":\"x\",\"qty\":9007199254740993}");
    fr_record_release(&rec);
    next(src, &rec);
    expect_json(&rec, "{\"amount\":0.0,\"id\":\"A4\",\"note\":\"caf\xc3\xa9\",\"qty\":0}");
    fr_record_release(&rec);
    int64_t done, total;
    fr_source_progress(src, &done, &total);
    assert_int_equal(done, 4);
    assert_int_equal(total, -1);
    bool eof = false;
    assert_int_equal(fr_source_next(src, &rec, &eof, NULL), 0);
    assert_true(eof);
    fr_source_close(src);
}

static void test_blob_is_record_error(void **state)
{
    struct fr_source *src = NULL;
    assert_int_equal(open_query("SELECT id, raw FROM orders ORDER BY id", &src, NULL), 0);
    struct fr_record rec;
    next(src, &rec); /* A1: raw is NULL */
    expect_json(&rec, "{\"id\":\"A1\",\"raw\":null}");
    fr_record_release(&rec);
    next(src, &rec);
    fr_record_release(&rec);
    next(src, &rec);
    assert_null(rec.fields);
    assert_int_equal(rec.line, 3);
    assert_non_null(rec.error);
    assert_string_equal(rec.error,
                        "row 3: column \"raw\" is a blob (cast it to text in the query)");
    fr_record_release(&rec);
    next(src, &rec); /* and the source goes on */
    expect_json(&rec, "{\"id\":\"A4\",\"raw\":null}");
    fr_record_release(&rec);
    fr_source_close(src);
}

static void open_fails(const char *query, int code, const char *part)
{
    struct fr_source *src = (struct fr_source *)1;
    struct fr_err err = {0};
    assert_int_equal(open_query(query, &src, &err), code);
    assert_null(src);
    if (!strstr(err.msg, part))
        print_error("%s\n", err.msg);
    assert_non_null(strstr(err.msg, part));
}

static void test_bad_queries(void **state)
{
    open_fails("SELECT nope FROM orders", FR_ECONFIG, "no such column: nope");
    open_fails("SELEC id FROM orders", FR_ECONFIG, "syntax error");
    open_fails("SELECT id FROM missing_table", FR_ECONFIG, "no such table: missing_table");
    open_fails("", FR_ECONFIG, "needs a query");
    open_fails("SELECT id, id FROM orders", FR_ECONFIG, "column \"id\" appears twice");
    open_fails("SELECT 1; DELETE FROM orders", FR_ECONFIG, "one statement only");
    open_fails("DELETE FROM orders", FR_ECONFIG, "must only read");
    /* read-only: nothing was deleted */
    struct fr_source *src = NULL;
    assert_int_equal(open_query("SELECT count(*) AS n FROM orders;", &src, NULL), 0);
    struct fr_record rec;
    next(src, &rec);
    expect_json(&rec, "{\"n\":4}");
    fr_record_release(&rec);
    fr_source_close(src);
}

static void test_missing_file(void **state)
{
    struct fr_source_conf conf = {
        .type = FR_SOURCE_SQLITE, .path = "/nonexistent/dir/x.db", .query = "SELECT 1"};
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_source_open(&conf, &src, &err), FR_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/dir/x.db"));

    /* a file that is not a database is an I/O error, not a bad query */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("id,amount\nthis is a CSV file, not a database, and long enough to have a header\n", fp);
    fclose(fp);
    fr_err_clear(&err);
    assert_int_equal(open_query("SELECT id FROM orders", &src, &err), FR_EIO);
    assert_non_null(strstr(err.msg, "not a database"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_is_record_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
