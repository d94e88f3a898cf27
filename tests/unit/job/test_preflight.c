#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "job/preflight.h"
#include "cli/sections.h"
#include "job/job_conf.h"

/* The config file's directory: every job's files are relative to it. */
static char dir[64];
static char name[128]; /* DIR/ferry.yaml */

static int setup(void **state)
{
    fr_strlcpy(dir, "/tmp/fr_preflight_XXXXXX", sizeof(dir));
    assert_non_null(mkdtemp(dir));
    snprintf(name, sizeof(name), "%s/ferry.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    char *cmd = fr_asprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static char *at(const char *rel)
{
    return fr_asprintf("%s/%s", dir, rel);
}

static void write_file(const char *rel, const char *content)
{
    char *path = at(rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    free(path);
}

static void make_dir(const char *rel)
{
    char *path = at(rel);
    assert_int_equal(mkdir(path, 0700), 0);
    free(path);
}

static bool exists(const char *rel)
{
    char *path = at(rel);
    bool ok = access(path, F_OK) == 0;
    free(path);
    return ok;
}

#define HEAD                                                                                       \
    "targets:\n"                                                                                   \
    "  im: { base_url: http://127.0.0.1:1 }\n"                                                     \
    "jobs:\n"                                                                                      \
    "  nightly:\n"                                                                                 \
    "    target: im\n" /* line 5 */

/* A push job whose source is line 7; what follows source: on it is given. */
static char *push_yaml(const char *source)
{
    return fr_asprintf(HEAD "    kind: push\n"
                            "    source: %s\n"
                            "    request: { path: /credits }\n"
                            "    key: id\n"
                            "    map: { id: order_id }\n",
                       source);
}

/* A pull job with the keys given (from line 9 on). */
static char *pull_yaml(const char *keys)
{
    return fr_asprintf(HEAD "    kind: pull\n"
                            "    request: { path: /participants }\n"
                            "    paging: none\n"
                            "%s",
                       keys);
}

/* Loads yaml as DIR/ferry.yaml and runs the preflight of job nightly; err holds its verdict. */
static int preflight(const char *yaml, struct fr_err *err)
{
    struct fr_config *cfg = NULL;
    struct fr_err lerr = {0};
    int rc = fr_config_load_string(yaml, strlen(yaml), name, fr_cli_sections(), &cfg, &lerr);
    if (rc)
        print_error("%s\n", lerr.msg);
    assert_int_equal(rc, 0);
    fr_err_clear(err);
    rc = fr_preflight_job(fr_job_find(cfg, "nightly"), cfg->path, cfg->dir, err);
    fr_config_free(cfg);
    return rc;
}

/* err->msg is "NAME:" followed by rest. */
static void assert_msg(const struct fr_err *err, const char *rest)
{
    char *want = fr_asprintf("%s:%s", name, rest);
    if (strcmp(err->msg, want) != 0)
        print_error("got  %s\nwant %s\n", err->msg, want);
    assert_string_equal(err->msg, want);
    free(want);
}

static void test_csv_source(void **state)
{
    struct fr_err err;
    char *yaml = push_yaml("{ type: csv, path: data/orders.csv }");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "7:32: jobs.nightly.source.path: cannot open data/orders.csv: No such file "
                     "or directory");
    assert_int_equal(err.native, ENOENT);

    make_dir("data");
    make_dir("data/orders.csv");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "7:32: jobs.nightly.source.path: cannot open data/orders.csv: Is a directory");
    char *sub = at("data/orders.csv");
    rmdir(sub);
    free(sub);

    /* Read as a run reads it: a CSV without a header row fails here too. */
    write_file("data/orders.csv", "");
    assert_int_equal(preflight(yaml, &err), FR_EPARSE);
    assert_non_null(strstr(err.msg, ":7:32: jobs.nightly.source.path: data/orders.csv"));

    write_file("data/orders.csv", "order_id,amount\nA1,12\n");
    assert_int_equal(preflight(yaml, &err), 0);
    assert_int_equal(err.code, 0);
    free(yaml);

    /* An absolute path elsewhere is shown as written. */
    yaml = push_yaml("{ type: jsonl, path: /nonexistent-ferry/orders.jsonl }");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "7:34: jobs.nightly.source.path: cannot open /nonexistent-ferry/orders.jsonl: "
                     "No such file or directory");
    free(yaml);
}

static void test_jsonl_source(void **state)
{
    struct fr_err err;
    char *yaml = push_yaml("{ type: jsonl, path: in.jsonl }");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err,
               "7:34: jobs.nightly.source.path: cannot open in.jsonl: No such file or directory");
    write_file("in.jsonl", "{\"order_id\": \"A1\"}\n");
    assert_int_equal(preflight(yaml, &err), 0);
    free(yaml);
}

static void test_sqlite_source(void **state)
{
    struct fr_err err;
    char *yaml =
        push_yaml("{ type: sqlite, path: crm.db, query: \"SELECT id AS order_id FROM orders\" }");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err,
               "7:35: jobs.nightly.source.path: cannot open crm.db: No such file or directory");
    assert_false(exists("crm.db")); /* checked, not created */

    /* The database opens but the query does not prepare: the query's key and position. */
    char *path = at("crm.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE customers (id TEXT)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(preflight(yaml, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, ":7:50: jobs.nightly.source.query: crm.db: query: "));
    assert_non_null(strstr(err.msg, "no such table: orders"));

    /* It prepares: ready, and nothing was read or written. */
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE orders (id TEXT)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(preflight(yaml, &err), 0);
    free(path);
    free(yaml);
}

#define SCHEMA_KEY "    schema: schemas/p.json\n" /* line 9 */
#define SINK_KEY                                                                                   \
    "    sink: { type: jsonl, path: out/p.jsonl }\n" /* line 10 with the schema, else 9 */

static void test_pull_schema(void **state)
{
    struct fr_err err;
    make_dir("out");
    char *yaml = pull_yaml(SCHEMA_KEY SINK_KEY);
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "9:13: jobs.nightly.schema: cannot open schemas/p.json: No such file or "
                     "directory");

    make_dir("schemas");
    write_file("schemas/p.json", "{\"type\": \"object\"");
    assert_int_equal(preflight(yaml, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, ":9:13: jobs.nightly.schema: schemas/p.json:"));
    assert_non_null(strstr(err.msg, "not valid JSON"));

    write_file("schemas/p.json", "{\"type\": \"object\", \"required\": 3}");
    assert_int_equal(preflight(yaml, &err), FR_ECONFIG);
    assert_non_null(strstr(err.msg, ":9:13: jobs.nightly.schema: schemas/p.json: /required"));

    write_file("schemas/p.json", "{\"type\": \"object\", \"required\": [\"id\"]}");
    assert_int_equal(preflight(yaml, &err), 0);
    free(yaml);
}

static void test_pull_sink(void **state)
{
    struct fr_err err;
    char *yaml = pull_yaml(SINK_KEY);
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "9:32: jobs.nightly.sink.path: cannot write out/p.jsonl: directory out: No "
                     "such file or directory (create it first)");
    assert_int_equal(err.native, ENOENT);

    write_file("out", "a file, not a directory");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "9:32: jobs.nightly.sink.path: cannot write out/p.jsonl: directory out: Not "
                     "a directory");
    char *out = at("out");
    unlink(out);
    free(out);

    make_dir("out");
    make_dir("out/p.jsonl");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "9:32: jobs.nightly.sink.path: cannot write out/p.jsonl: Is a directory");
    char *sub = at("out/p.jsonl");
    rmdir(sub);
    free(sub);

    assert_int_equal(preflight(yaml, &err), 0);
    /* Nothing was created: no temporary file, no sink. */
    out = at("out");
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            fail_msg("preflight left %s in out/", e->d_name);
    closedir(d);
    free(out);
    free(yaml);

    /* The rejects file's directory too, under its own key. */
    yaml = pull_yaml(SINK_KEY "    rejects: bad/p.rejects.jsonl\n");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "10:14: jobs.nightly.rejects: cannot write bad/p.rejects.jsonl: directory "
                     "bad: No such file or directory (create it first)");
    make_dir("bad");
    assert_int_equal(preflight(yaml, &err), 0);
    free(yaml);

    /* A sqlite sink: its directory, and the file is not created by the check. */
    yaml = pull_yaml("    key: id\n"
                     "    sink: { type: sqlite, path: db/p.db, table: participants }\n");
    assert_int_equal(preflight(yaml, &err), FR_EIO);
    assert_msg(&err, "10:33: jobs.nightly.sink.path: cannot write db/p.db: directory db: No such "
                     "file or directory (create it first)");
    make_dir("db");
    assert_int_equal(preflight(yaml, &err), 0);
    assert_false(exists("db/p.db"));
    free(yaml);
}

/* A job built by hand has no positions: the message names the file and the key only. */
static void test_without_positions(void **state)
{
    char *path = at("none.csv");
    struct fr_job_conf job = {
        .name = "manual", .kind = FR_JOB_PUSH, .source = {.type = FR_SOURCE_CSV, .path = path}};
    struct fr_err err = {0};
    assert_int_equal(fr_preflight_job(&job, "ferry.yaml", dir, &err), FR_EIO);
    assert_string_equal(err.msg, "ferry.yaml: jobs.manual.source.path: cannot open none.csv: No "
                                 "such file or directory");
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_sink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_positions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
