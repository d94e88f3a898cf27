/* test_sink.c: the pull sinks (src/job/sink*.c): contents, atomic commit, discard. */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "job/sink.h"
#include "job/job_conf.h"

struct env {
    char *dir;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    const char *tmp = getenv("TMPDIR");
    e->dir = fr_asprintf("%s/ferry-sink-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(e->dir));
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    DIR *d = opendir(e->dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = fr_asprintf("%s/%s", e->dir, de->d_name);
        unlink(p);
        free(p);
    }
    if (d)
        closedir(d);
    rmdir(e->dir);
    free(e->dir);
    free(e);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = fr_calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void spit(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void write_ok(struct fr_sink *s, const char *json, const char *key)
{
    json_t *r = json_loads(json, 0, NULL);
    assert_non_null(r);
    struct fr_err err = {0};
    int rc = fr_sink_write(s, r, key, &err);
    if (rc)
        fail_msg("write: %s", err.msg);
    json_decref(r);
}

static void test_jsonl_atomic(void **state)
{
    struct env *e = *state;
    struct fr_sink_conf conf = {.type = FR_SINK_JSONL};
    conf.path = fr_asprintf("%s/p.jsonl", e->dir);
    char *tmp = fr_asprintf("%s.tmp", conf.path);
    spit(conf.path, "{\"old\":1}\n");

    struct fr_sink *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), 0);
    write_ok(s, "{\"participantId\":\"P000001\",\"amount\":0.1,\"n\":3,\"z\":null}", NULL);
    write_ok(s, "{\"participantId\":\"P000002\",\"b\":[1,{\"c\":true}]}", NULL);
    /* until the commit, the previous output is what readers see */
    char *text = slurp(conf.path);
    assert_string_equal(text, "{\"old\":1}\n");
    free(text);
    assert_true(exists(tmp));
    assert_int_equal(fr_sink_commit(s, &err), 0);
    fr_sink_free(s);
    text = slurp(conf.path);
    assert_string_equal(text, "{\"participantId\":\"P000001\",\"amount\":0.1,\"n\":3,\"z\":null}\n"
                              "{\"participantId\":\"P000002\",\"b\":[1,{\"c\":true}]}\n");
    free(text);
    assert_false(exists(tmp));

    /* a run that never commits leaves the output as it was and no temporary file */
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), 0);
    write_ok(s, "{\"participantId\":\"P000003\"}", NULL);
    fr_sink_free(s);
    text = slurp(conf.path);
    assert_non_null(strstr(text, "P000002"));
    assert_null(strstr(text, "P000003"));
    free(text);
    assert_false(exists(tmp));

    /* a run with no records commits an empty file */
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), 0);
    assert_int_equal(fr_sink_commit(s, &err), 0);
    fr_sink_free(s);
    text = slurp(conf.path);
    assert_string_equal(text, "");
    free(text);
    free(tmp);
    free(conf.path);
}

/* One run of conf's sink that writes one record and commits. */
static void commit_one(const struct fr_sink_conf *conf)
{
    struct fr_sink *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_sink_open(conf, 0, &s, &err), 0);
    write_ok(s, "{\"participantId\":\"P000001\"}", NULL);
    assert_int_equal(fr_sink_commit(s, &err), 0);
    fr_sink_free(s);
}

/* The file a planted link pointed to still holds what it held. */
static void assert_untouched(const char *victim)
{
    char *text = slurp(victim);
    assert_string_equal(text, "precious\n");
    free(text);
}

/* A link planted at the temporary name is not followed: what it points to stays as it was. */
static void test_planted_link(void **state)
{
    struct env *e = *state;
    struct fr_sink_conf conf = {.type = FR_SINK_JSONL};
    conf.path = fr_asprintf("%s/p.jsonl", e->dir);
    char *tmp = fr_asprintf("%s.tmp", conf.path);
    char *victim = fr_asprintf("%s/victim", e->dir);
    spit(victim, "precious\n");
    assert_int_equal(symlink(victim, tmp), 0);

    commit_one(&conf);
    assert_untouched(victim);
    char *text = slurp(conf.path);
    assert_string_equal(text, "{\"participantId\":\"P000001\"}\n");
    free(text);
    struct stat sb;
    assert_int_equal(lstat(conf.path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    free(victim);
    free(tmp);
    free(conf.path);
}

/* A link planted at the path itself: file sinks replace it, the SQLite sink refuses it. */
static void test_link_at_path(void **state)
{
    struct env *e = *state;
    char *victim = fr_asprintf("%s/victim", e->dir);
    struct fr_sink *s = NULL;
    struct fr_err err = {0};

    struct fr_sink_conf conf = {.type = FR_SINK_JSONL};
    conf.path = fr_asprintf("%s/p.jsonl", e->dir);
    spit(victim, "precious\n");
    assert_int_equal(symlink(victim, conf.path), 0);
    commit_one(&conf);
    assert_untouched(victim);
    struct stat sb;
    assert_int_equal(lstat(conf.path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    free(conf.path);

    char *columns[] = {"name"};
    struct fr_sink_conf sq = {
        .type = FR_SINK_SQLITE, .table = "people", .columns = columns, .ncolumns = 1};
    sq.path = fr_asprintf("%s/out.db", e->dir);
    char *empty = fr_asprintf("%s/empty", e->dir); /* SQLite would make a database of it */
    spit(empty, "");
    assert_int_equal(symlink(empty, sq.path), 0);
    assert_int_equal(fr_sink_open(&sq, 0, &s, &err), FR_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "out.db"));
    assert_int_equal(stat(empty, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    free(empty);
    free(sq.path);
    free(victim);
}

static void test_missing_directory(void **state)
{
    struct env *e = *state;
    struct fr_sink_conf conf = {.type = FR_SINK_JSONL};
    conf.path = fr_asprintf("%s/no-such-dir/p.jsonl", e->dir);
    struct fr_sink *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), FR_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "no-such-dir/p.jsonl.tmp: No such file or directory (create "
                                    "its directory first)"));
    free(conf.path);
}

static void test_csv(void **state)
{
    struct env *e = *state;
    char *columns[] = {"participantId", "name", "/address/city", "quota", "active", "tags"};
    struct fr_sink_conf conf = {
        .type = FR_SINK_CSV, .columns = columns, .ncolumns = FR_ARRAY_LEN(columns)};
    conf.path = fr_asprintf("%s/p.csv", e->dir);
    struct fr_sink *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), 0);
    write_ok(s,
             "{\"participantId\":\"P1\",\"name\":\"Smith, \\\"Jo\\\"\",\"address\":{\"city\":"
             "\"Lyon\"},\"quota\":12.5,\"active\":true,\"tags\":[\"a\",\"b\"]}",
             NULL);
    write_ok(s, "{\"participantId\":\"P2\",\"name\":\"two\\nlines\",\"quota\":null}", NULL);
    write_ok(s, "{\"participantId\":\"P3\",\"name\":\" padded\",\"quota\":7}", NULL);
    assert_int_equal(fr_sink_commit(s, &err), 0);
    fr_sink_free(s);
    char *text = slurp(conf.path);
    assert_string_equal(text,
                        "participantId,name,/address/city,quota,active,tags\r\n"
                        "P1,\"Smith, \"\"Jo\"\"\",Lyon,12.5,true,\"[\"\"a\"\",\"\"b\"\"]\"\r\n"
                        "P2,\"two\nlines\",,,,\r\n"
                        "P3,\" padded\",,7,,\r\n");
    free(text);
    free(conf.path);
}

static long count_rows(const char *path, const char *where)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char *sql = fr_asprintf("SELECT count(*) FROM people WHERE %s", where);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(sql);
    return n;
}

static void test_sqlite_upsert(void **state)
{
    struct env *e = *state;
    char *columns[] = {"name", "quota"};
    struct fr_sink_conf conf = {
        .type = FR_SINK_SQLITE, .table = "people", .columns = columns, .ncolumns = 2};
    conf.path = fr_asprintf("%s/out.db", e->dir);
    struct fr_sink *s = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_sink_open(&conf, 1704067200000LL, &s, &err), 0);
    write_ok(s, "{\"id\":\"P1\",\"name\":\"Ann\",\"quota\":3}", "P1");
    write_ok(s, "{\"id\":\"P2\",\"name\":\"Bob\",\"quota\":4.5}", "P2");
    write_ok(s, "{\"id\":\"P1\",\"name\":\"Ann B\",\"quota\":5}", "P1"); /* the same key again */
    json_t *r = json_pack("{s:s}", "id", "P9");
    assert_int_equal(fr_sink_write(s, r, NULL, &err), FR_EINVAL);
    json_decref(r);
    assert_int_equal(fr_sink_commit(s, &err), 0);
    fr_sink_free(s);
    assert_int_equal(count_rows(conf.path, "1"), 2);
    assert_int_equal(count_rows(conf.path, "key = 'P1' AND name = 'Ann B' AND quota = 5"
                                           " AND json_extract(record, '$.name') = 'Ann B'"
                                           " AND pulled_at = '2024-01-01T00:00:00.000Z'"),
                     1);
    assert_int_equal(count_rows(conf.path, "key = 'P2' AND quota = 4.5"), 1);

    /* a run that does not commit changes nothing */
    assert_int_equal(fr_sink_open(&conf, 0, &s, &err), 0);
    write_ok(s, "{\"id\":\"P1\",\"name\":\"changed\"}", "P1");
    write_ok(s, "{\"id\":\"P3\",\"name\":\"new\"}", "P3");
    fr_sink_free(s);
    assert_int_equal(count_rows(conf.path, "1"), 2);
    assert_int_equal(count_rows(conf.path, "name = 'Ann B'"), 1);

    /* a table with other columns: a clear error at open */
    char *other[] = {"email"};
    struct fr_sink_conf conf2 = conf;
    conf2.columns = other;
    conf2.ncolumns = 1;
    fr_err_clear(&err);
    assert_int_equal(fr_sink_open(&conf2, 0, &s, &err), FR_EIO);
    assert_non_null(strstr(err.msg, "table people: prepare the upsert"));
    assert_non_null(strstr(err.msg, "email"));
    free(conf.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jsonl_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_at_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_upsert, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
