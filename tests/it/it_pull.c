/*
 * End-to-end: `ferry run` for pull jobs with the real binary against
 * `ferry mock` on loopback. The witnesses are what a user checks: the
 * sink's records (count, order, uniqueness), the mock's /mock/stats
 * (pages fetched), the watermark in the store, the exit status and the
 * log lines.
 */
#include "core/common.h"
#include "harness.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/buf.h"
#include "core/clock.h"
#include "store/store.h"

#define BASE_MS 1704067200000LL /* the mock's participant N: BASE_MS + N minutes */

struct env {
    struct fr_test_mock mock;
    char *dir;
    char *config;
};

static const char *const secret_env[] = {"IT_SECRET=demo-secret", NULL};

static struct env *env_new(const char *const *mock_args)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    e->dir = fr_test_tmpdir();
    char *out = fr_asprintf("%s/out", e->dir);
    assert_int_equal(mkdir(out, 0755), 0);
    free(out);
    return e;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e) {
        fr_test_mock_stop(&e->mock);
        fr_test_rmtree(e->dir);
        free(e->dir);
        free(e->config);
        free(e);
    }
    *state = NULL;
    return 0;
}

/*
 * ferry.yaml with one pull job "people" against the mock. params are the
 * request's extra parameters (YAML flow entries, may be ""), job_extra more
 * job keys. host is the target's host ("127.0.0.1" or "localhost").
 */
static void write_config_at(struct env *e, const char *host, const char *params,
                            const char *job_extra)
{
    char *yaml = fr_asprintf(
        "store: sqlite:ferry.db\n"
        "targets:\n"
        "  im:\n"
        "    base_url: http://%s:%d\n"
        "    auth:\n"
        "      type: oauth2_client_credentials\n"
        "      token_url: http://%s:%d/oauth/token\n"
        "      client_id: demo\n"
        "      client_secret: ${IT_SECRET}\n"
        "    retry: { max_attempts: 10, base: 20ms, cap: 1s, max_elapsed: 60s, budget: 100%% }\n"
        "jobs:\n"
        "  people:\n"
        "    kind: pull\n"
        "    target: im\n"
        "    request:\n"
        "      path: /participants\n"
        "      params: { $orderby: participantId, $top: 100, $filter: \"lastModified gt "
        "{{watermark}}\"%s%s }\n"
        "    key: participantId\n"
        "    watermark: { field: lastModified, initial: \"1970-01-01T00:00:00Z\" }\n"
        "%s",
        host, e->mock.port, host, e->mock.port, params[0] ? ", " : "", params,
        job_extra ? job_extra : "    sink: { type: jsonl, path: out/people.jsonl }\n");
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

static void write_config(struct env *e, const char *params, const char *job_extra)
{
    write_config_at(e, "127.0.0.1", params, job_extra);
}

/* Runs `ferry ARGS... -c config` (and --no-progress for run); returns the exit status. */
static int ferry(struct env *e, const char *const *args, char **out, char **err)
{
    const char *argv[16];
    size_t n = 0;
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = e->config;
    if (strcmp(args[0], "run") == 0)
        argv[n++] = "--no-progress";
    argv[n] = NULL;
    return fr_test_run(argv, e->dir, secret_env, 120000, out, err);
}

/* Runs `ferry run people EXTRA` and returns the status; *err kept when err is not NULL. */
static int run_people(struct env *e, const char *extra, char **err)
{
    const char *args[] = {"run", "people", extra, NULL};
    char *out = NULL, *e2 = NULL;
    int status = ferry(e, args, &out, &e2);
    if (status > 5)
        print_error("ferry run people %s: exit %d\n%s\n", extra ? extra : "", status, e2);
    free(out);
    if (err)
        *err = e2;
    else
        free(e2);
    return status;
}

/* A count from the "run summary" log line. */
static long summary_count(const char *err, const char *name)
{
    const char *line = strstr(err, "\"msg\":\"run summary\"");
    assert_non_null(line);
    char *pat = fr_asprintf("\"%s\":", name);
    const char *at = strstr(line, pat);
    free(pat);
    assert_non_null(at);
    return strtol(strchr(at, ':') + 1, NULL, 10);
}

static char *file_in(struct env *e, const char *name)
{
    char *path = fr_asprintf("%s/%s", e->dir, name);
    char *text = fr_test_read_file(path);
    free(path);
    return text;
}

static bool exists_in(struct env *e, const char *name)
{
    char *path = fr_asprintf("%s/%s", e->dir, name);
    struct stat sb;
    bool yes = stat(path, &sb) == 0;
    free(path);
    return yes;
}

/*
 * Asserts the sink holds exactly the participants ids[0..n) in that order,
 * each once, as complete JSON records.
 */
static void assert_sink_ids(struct env *e, const unsigned *ids, size_t n)
{
    char *text = file_in(e, "out/people.jsonl");
    assert_non_null(text);
    size_t lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        assert_true(lines < n);
        json_t *r = json_loads(line, 0, NULL);
        assert_non_null(r);
        char want[16];
        snprintf(want, sizeof(want), "P%06u", ids[lines]);
        const char *got = json_string_value(json_object_get(r, "participantId"));
        if (!got || strcmp(got, want) != 0)
            fail_msg("record %zu: got %s, want %s", lines + 1, got ? got : "(none)", want);
        assert_non_null(json_object_get(r, "email"));
        json_decref(r);
        lines++;
    }
    assert_int_equal(lines, n);
    free(text);
}

static void assert_sink_range(struct env *e, unsigned first, unsigned count)
{
    unsigned *ids = fr_calloc(count + 1, sizeof(*ids));
    for (unsigned i = 0; i < count; i++)
        ids[i] = first + i;
    assert_sink_ids(e, ids, count);
    free(ids);
}

/* The watermark the store holds for job people, as saved (JSON text); NULL for none. */
static char *stored_watermark(struct env *e)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, &err), 0);
    char *value = NULL;
    int rc = fr_store_watermark_get(st, "people", &value, NULL, NULL, &err);
    assert_true(rc == FR_OK || rc == FR_ENOTFOUND);
    fr_store_close(st);
    return value;
}

/* The JSON text of participant n's initial lastModified, as the mock writes it. */
static char *lastmodified_of(int64_t ms)
{
    char buf[40];
    fr_format_rfc3339(ms, buf, sizeof(buf));
    return fr_asprintf("\"%s\"", buf);
}

static void assert_watermark(struct env *e, int64_t ms)
{
    char *got = stored_watermark(e), *want = lastmodified_of(ms);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static long pages_200(struct env *e)
{
    json_t *stats = fr_test_mock_stats(&e->mock);
    long n = fr_test_stat_requests(stats, "GET /participants", "200");
    json_decref(stats);
    return n;
}

/* ---- the tests ---------------------------------------------------------------- */

/* 10,000 participants over 100 OData pages: every one, once, in order. */
static void test_odata_10000(void **state)
{
    const char *args[] = {"--participants", "10000", NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "", NULL);
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "pages"), 100);
    assert_int_equal(summary_count(err, "read"), 10000);
    assert_int_equal(summary_count(err, "written"), 10000);
    assert_int_equal(summary_count(err, "rejected"), 0);
    assert_non_null(strstr(err, "\"msg\":\"watermark saved\""));
    assert_null(strstr(err, "without $orderby"));
    free(err);
    assert_sink_range(e, 1, 10000);
    assert_int_equal(pages_200(e), 100);
    assert_watermark(e, BASE_MS + 10000 * 60000LL);
    assert_false(exists_in(e, "out/people.jsonl.tmp"));

    /* ferry runs shows the pull run with its pages and records */
    const char *list[] = {"runs", "list", "--json", NULL};
    char *out = NULL;
    assert_int_equal(ferry(e, list, &out, &err), 0);
    json_t *runs = json_loads(out, 0, NULL);
    json_t *counts = json_object_get(json_array_get(runs, 0), "counts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "status")),
                        "ok");
    assert_int_equal(json_integer_value(json_object_get(counts, "pages")), 100);
    assert_int_equal(json_integer_value(json_object_get(counts, "read")), 10000);
    assert_int_equal(json_integer_value(json_object_get(counts, "written")), 10000);
    json_decref(runs);
    free(out);
    free(err);
}

/* The same under 5xx, resets, truncated bodies, 429s and revoked tokens: the same result. */
static void test_odata_10000_faults(void **state)
{
    const char *args[] = {"--participants",
                          "10000",
                          "--faults",
                          "rate=60/s,error5xx=0.08,reset=0.05,truncate=0.05,revoke_every=700ms",
                          "--seed",
                          "11",
                          NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "", NULL);
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "pages"), 100);
    assert_int_equal(summary_count(err, "read"), 10000);
    assert_true(summary_count(err, "retries") > 0);
    free(err);
    assert_sink_range(e, 1, 10000);
    assert_watermark(e, BASE_MS + 10000 * 60000LL);

    json_t *stats = fr_test_mock_stats(&e->mock);
    json_t *faults = json_object_get(stats, "faults");
    static const char *const names[] = {"rate", "error5xx", "reset", "truncate"};
    for (size_t i = 0; i < FR_ARRAY_LEN(names); i++)
        if (json_integer_value(json_object_get(faults, names[i])) < 1)
            fail_msg("fault %s never hit", names[i]);
    assert_true(fr_test_stat_requests(stats, "GET /participants", "401") >= 1);
    assert_true(json_integer_value(json_object_get(stats, "tokens_issued")) >= 2);
    /* a failed page was retried, not the run: every 200 is one page, or one a truncate cut */
    long ok = fr_test_stat_requests(stats, "GET /participants", "200");
    assert_true(ok >= 100);
    assert_true(ok <= 100 + json_integer_value(json_object_get(faults, "truncate")));
    json_decref(stats);
}

/* Link rel="next" headers (relative links) and cursors: every page, in order. */
static void test_link_and_cursor_paging(void **state)
{
    const char *args[] = {"--participants", "250", NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "paging: link",
                 "    paging: link\n    sink: { type: jsonl, path: out/people.jsonl }\n");
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "pages"), 3);
    free(err);
    assert_sink_range(e, 1, 250);
    assert_int_equal(pages_200(e), 3);

    write_config(e, "paging: cursor",
                 "    paging: { type: cursor, path: /next_cursor, param: cursor }\n"
                 "    sink: { type: jsonl, path: out/people.jsonl }\n");
    assert_int_equal(run_people(e, "--full", &err), 0);
    assert_int_equal(summary_count(err, "pages"), 3);
    free(err);
    assert_sink_range(e, 1, 250);
    assert_int_equal(pages_200(e), 6);
    assert_watermark(e, BASE_MS + 250 * 60000LL);
}

/* A next link that repeats, and a page whose records are no array: stopped, nothing written. */
static void test_broken_pages(void **state)
{
    const char *args[] = {"--participants", "250", NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "", NULL);
    assert_int_equal(run_people(e, NULL, NULL), 0);
    char *before = file_in(e, "out/people.jsonl");
    assert_non_null(before);
    long pages = pages_200(e);

    write_config(e, "broken: repeat", NULL);
    char *err = NULL;
    assert_int_equal(run_people(e, "--full", &err), 1);
    assert_non_null(strstr(err, "page 3: the API's next link repeats one already followed"));
    free(err);
    assert_int_equal(pages_200(e) - pages, 2); /* the repeated link was never fetched */

    write_config(e, "broken: not_array", NULL);
    char *out = NULL;
    const char *run[] = {"run", "people", "--full", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 1);
    assert_non_null(strstr(out, "reason: page 2: the records at /value are not an array (found "
                                "an object)"));
    free(out);
    free(err);

    /* the previous output and watermark stand; no temporary file is left */
    char *after = file_in(e, "out/people.jsonl");
    assert_string_equal(after, before);
    free(after);
    free(before);
    assert_false(exists_in(e, "out/people.jsonl.tmp"));
    assert_watermark(e, BASE_MS + 250 * 60000LL);
}

static const char schema_json[] =
    "{\"type\": \"object\", \"required\": [\"participantId\", \"email\", \"lastModified\"],\n"
    " \"properties\": {\"participantId\": {\"type\": \"string\", \"pattern\": \"^P\\\\d{6}$\"},\n"
    "  \"email\": {\"type\": \"string\", \"pattern\": \"@\"},\n"
    "  \"lastModified\": {\"type\": \"string\", \"format\": \"date-time\"}}}\n";

/* Invalid records go to the rejects file with reasons; the rest go on. */
static void test_invalid_records(void **state)
{
    const char *args[] = {"--participants", "250", NULL};
    struct env *e = *state = env_new(args);
    free(fr_test_write_file(e->dir, "participant.schema.json", schema_json));
    const char *job = "    schema: participant.schema.json\n"
                      "    sink: { type: jsonl, path: out/people.jsonl }\n"
                      "    rejects: out/people.rejects.jsonl\n";
    write_config(e, "broken: invalid", job);
    char *out = NULL, *err = NULL;
    const char *run[] = {"run", "people", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 1); /* no alert block: any reject is exit 1 */
    assert_int_equal(summary_count(err, "read"), 250);
    assert_int_equal(summary_count(err, "written"), 225);
    assert_int_equal(summary_count(err, "rejected"), 25);
    assert_non_null(strstr(err, "\"msg\":\"record rejected\""));
    assert_non_null(strstr(out, "rejected P000010 (record 10): email: required but missing; "
                                "lastModified: \\\"yesterday\\\" is not a date-time") ||
                    strstr(out, "rejected P000010 (record 10): email: required but missing; "
                                "lastModified: \"yesterday\" is not a date-time"));
    free(out);
    free(err);
    /* the sink has the 225 valid ones, in order */
    unsigned ids[225];
    size_t n = 0;
    for (unsigned i = 1; i <= 250; i++)
        if (i % 10)
            ids[n++] = i;
    assert_sink_ids(e, ids, n);
    /* the rejects file has the 25 others, each with its record and reasons */
    char *rejects = file_in(e, "out/people.rejects.jsonl");
    assert_non_null(rejects);
    size_t lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(rejects, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *r = json_loads(line, 0, NULL);
        assert_non_null(r);
        char want[16];
        snprintf(want, sizeof(want), "P%06zu", (lines + 1) * 10);
        assert_string_equal(json_string_value(json_object_get(r, "key")), want);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "record"), "participantId")),
            want);
        assert_int_equal(json_array_size(json_object_get(r, "reasons")), 2);
        json_decref(r);
        lines++;
    }
    assert_int_equal(lines, 25);
    free(rejects);
    /* rejected records do not move the watermark: P000249 is the newest valid one */
    assert_watermark(e, BASE_MS + 249 * 60000LL);
    /* and the run's failures are in the store */
    const char *list[] = {"runs", "list", "--json", NULL};
    assert_int_equal(ferry(e, list, &out, &err), 0);
    json_t *runs = json_loads(out, 0, NULL);
    char *id = fr_strdup(json_string_value(json_object_get(json_array_get(runs, 0), "run_id")));
    json_decref(runs);
    free(out);
    free(err);
    const char *show[] = {"runs", "show", id, "--failed", "--json", NULL};
    assert_int_equal(ferry(e, show, &out, &err), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "failures")), 25);
    json_decref(j);
    free(out);
    free(err);
    /* a pull run has nothing to roll back: refused, with the reason */
    const char *undo[] = {"rollback", id, NULL};
    assert_int_equal(ferry(e, undo, &out, &err), 2);
    assert_non_null(strstr(err, "a pull job: only push runs create records"));
    free(out);
    free(err);
    free(id);

    /* under an alert threshold that allows them, the same run exits 0 */
    char *job2 = fr_asprintf("%s    alert: { max_errors: 25 }\n", job);
    write_config(e, "broken: invalid", job2);
    free(job2);
    assert_int_equal(run_people(e, "--full", NULL), 0);
}

/*
 * Incremental runs: after a touch only the touched come back; a run killed
 * before its sink commits leaves the output and the watermark as they were.
 */
static void test_incremental_and_kill(void **state)
{
    const char *args[] = {"--participants", "1000", "--faults", "slow=1:250ms",
                          "--seed",         "3",    NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "", NULL);
    assert_int_equal(run_people(e, NULL, NULL), 0);
    assert_sink_range(e, 1, 1000);
    int64_t w1 = BASE_MS + 1000 * 60000LL;
    assert_watermark(e, w1);

    /* touch three: the next run fetches exactly those, in order, on one page */
    char *url = fr_asprintf("%s/mock/participants/touch", e->mock.base_url);
    long status = 0;
    char *resp = NULL;
    assert_int_equal(fr_test_http("POST", url, NULL,
                                  "{\"ids\": [\"P000500\", \"P000003\", \"P000999\"]}", &status,
                                  &resp),
                     0);
    assert_int_equal(status, 200);
    free(resp);
    long pages = pages_200(e);
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "read"), 3);
    free(err);
    const unsigned touched[] = {3, 500, 999};
    assert_sink_ids(e, touched, 3);
    assert_int_equal(pages_200(e) - pages, 1);
    int64_t w2 = w1 + 60000;
    assert_watermark(e, w2);

    /* nothing changed: nothing comes back, the watermark stays */
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "read"), 0);
    free(err);
    assert_sink_ids(e, touched, 0);
    assert_watermark(e, w2);

    /* --since overrides it; --full ignores it */
    assert_int_equal(run_people(e, "--since=2024-01-01T16:30:00Z", &err), 0);
    assert_int_equal(summary_count(err, "read"), 12); /* 991..1000, and 3 and 500 (999 is in) */
    free(err);
    assert_int_equal(run_people(e, "--full", &err), 0);
    assert_int_equal(summary_count(err, "read"), 1000);
    free(err);
    assert_watermark(e, w2);
    char *before = file_in(e, "out/people.jsonl");

    /* 300 more change; the run is killed after its first page, before the sink commits */
    struct fr_buf body = FR_BUF_INIT;
    fr_buf_adds(&body, "{\"ids\": [");
    for (int i = 1; i <= 300; i++)
        fr_buf_addf(&body, "%s\"P%06d\"", i > 1 ? ", " : "", i * 3);
    fr_buf_adds(&body, "]}");
    assert_int_equal(fr_test_http("POST", url, NULL, fr_buf_str(&body), &status, &resp), 0);
    assert_int_equal(status, 200);
    free(resp);
    fr_buf_release(&body);
    const char *argv[] = {"run", "people", "-c", e->config, "--no-progress", NULL};
    struct fr_proc p;
    assert_int_equal(fr_test_spawn(&p, argv, e->dir, secret_env), 0);
    bool first_page = false;
    for (int i = 0; i < 400 && !first_page; i++) {
        char *so_far = fr_test_proc_stderr(&p);
        first_page = so_far && strstr(so_far, "\"path\":\"/participants");
        free(so_far);
        if (!first_page)
            fr_sleep_ms(10);
    }
    assert_true(first_page);
    assert_int_equal(waitpid(p.pid, NULL, WNOHANG), 0); /* still paging */
    kill(p.pid, SIGKILL);
    fr_test_wait(&p, 10000);
    fr_test_proc_release(&p);
    assert_watermark(e, w2);
    char *after = file_in(e, "out/people.jsonl");
    assert_string_equal(after, before);
    free(after);
    free(before);

    /* the next run fetches the 300 again (and marks the killed run interrupted) */
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "read"), 300);
    assert_int_equal(summary_count(err, "pages"), 3);
    free(err);
    assert_watermark(e, w2 + 60000);
    assert_false(exists_in(e, "out/people.jsonl.tmp"));
    const char *list[] = {"runs", "list", "--json", NULL};
    char *out = NULL;
    assert_int_equal(ferry(e, list, &out, &err), 0);
    assert_non_null(strstr(out, "\"status\": \"interrupted\""));
    free(out);
    free(err);
    free(url);
}

/* A next link to another host is refused before the token goes there, unless allowed. */
static void test_next_link_to_other_host(void **state)
{
    const char *args[] = {"--participants", "250", NULL};
    struct env *e = *state = env_new(args);
    /* the target is "localhost"; the mock's absolute next links say 127.0.0.1 */
    write_config_at(e, "localhost", "", NULL);
    char *out = NULL, *err = NULL;
    const char *run[] = {"run", "people", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 1);
    assert_non_null(strstr(out, "page 2: the next link \"http://127.0.0.1:"));
    assert_non_null(strstr(out, "not to the target's host localhost:"));
    free(out);
    free(err);
    assert_int_equal(pages_200(e), 1);
    assert_false(exists_in(e, "out/people.jsonl"));
    assert_null(stored_watermark(e));

    write_config_at(e, "localhost", "",
                    "    paging: { type: odata, allow_hosts: [127.0.0.1] }\n"
                    "    sink: { type: jsonl, path: out/people.jsonl }\n");
    assert_int_equal(run_people(e, NULL, NULL), 0);
    assert_sink_range(e, 1, 250);
}

static long sqlite_count(struct env *e, const char *sql)
{
    char *path = fr_asprintf("%s/out/people.db", e->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(path);
    return n;
}

/* The sqlite sink upserts by key across runs; the csv sink writes the columns asked for. */
static void test_sqlite_and_csv_sinks(void **state)
{
    const char *args[] = {"--participants", "250", NULL};
    struct env *e = *state = env_new(args);
    write_config(e, "",
                 "    sink: { type: sqlite, path: out/people.db, table: people, columns: "
                 "[email, lastModified] }\n");
    assert_int_equal(run_people(e, NULL, NULL), 0);
    assert_int_equal(sqlite_count(e, "SELECT count(*) FROM people"), 250);
    char *url = fr_asprintf("%s/mock/participants/touch", e->mock.base_url);
    long status = 0;
    char *resp = NULL;
    assert_int_equal(
        fr_test_http("POST", url, NULL, "{\"ids\": [\"P000007\", \"P000100\"]}", &status, &resp),
        0);
    free(resp);
    free(url);
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_int_equal(summary_count(err, "written"), 2);
    free(err);
    assert_int_equal(sqlite_count(e, "SELECT count(*) FROM people"), 250);
    assert_int_equal(sqlite_count(e, "SELECT count(*) FROM people WHERE lastModified ="
                                     " '2024-01-01T04:11:00.000Z' AND key IN ('P000007', 'P000100')"
                                     " AND json_extract(record, '$.email') = email"),
                     2);

    write_config(e, "",
                 "    sink: { type: csv, path: out/people.csv, columns: [participantId, "
                 "email] }\n");
    assert_int_equal(run_people(e, "--full", NULL), 0);
    char *csv = file_in(e, "out/people.csv");
    assert_non_null(csv);
    assert_memory_equal(csv, "participantId,email\r\nP000001,p000001@example.com\r\n", 50);
    size_t rows = 0;
    for (char *p = csv; (p = strstr(p, "\r\n")); p += 2)
        rows++;
    assert_int_equal(rows, 251);
    free(csv);
}

/* Configuration problems: clear messages, exit 2, and nothing fetched. */
static void test_config_problems(void **state)
{
    struct env *e = *state = env_new(NULL);
    /* OData without $orderby: a warning naming the risk */
    char *yaml = fr_asprintf(
        "targets:\n  im: { base_url: \"%s\", auth: { type: oauth2_client_credentials, token_url: "
        "\"%s/oauth/token\", client_id: demo, client_secret: \"${IT_SECRET}\" } }\n"
        "jobs:\n  people:\n    kind: pull\n    target: im\n    request: { path: /participants }\n"
        "    sink: { type: jsonl, path: out/people.jsonl }\n",
        e->mock.base_url, e->mock.base_url);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
    char *err = NULL;
    assert_int_equal(run_people(e, NULL, &err), 0);
    assert_non_null(strstr(err, "OData paging without $orderby: pages can shift between requests"));
    free(err);
    assert_sink_range(e, 1, 1000);

    /* a schema file that is missing, and a sink directory that is */
    write_config(e, "", "    schema: nowhere.json\n    sink: { type: jsonl, path: out/p.jsonl }\n");
    char *out = NULL;
    const char *run[] = {"run", "people", NULL};
    assert_int_equal(ferry(e, run, &out, &err), 2);
    assert_non_null(strstr(out, "nowhere.json: cannot read it"));
    free(out);
    free(err);
    write_config(e, "", "    sink: { type: jsonl, path: missing/p.jsonl }\n");
    assert_int_equal(ferry(e, run, &out, &err), 2);
    assert_non_null(strstr(out, "missing/p.jsonl.tmp: No such file or directory"));
    free(out);
    free(err);
    /* options of the other kind */
    const char *only[] = {"run", "people", "--only", "P000001", NULL};
    assert_int_equal(ferry(e, only, &out, &err), 2);
    assert_non_null(strstr(err, "--only does not apply to pull job \"people\""));
    free(out);
    free(err);
    const char *help[] = {"run", "--help", NULL};
    assert_int_equal(ferry(e, help, &out, &err), 0);
    assert_non_null(strstr(out, "A pull job (kind: pull)"));
    assert_non_null(strstr(out, "--since VALUE"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_odata_10000, teardown),
        cmocka_unit_test_teardown(test_odata_10000_faults, teardown),
        cmocka_unit_test_teardown(test_link_and_cursor_paging, teardown),
        cmocka_unit_test_teardown(test_broken_pages, teardown),
        cmocka_unit_test_teardown(test_invalid_records, teardown),
        cmocka_unit_test_teardown(test_incremental_and_kill, teardown),
        cmocka_unit_test_teardown(test_next_link_to_other_host, teardown),
        cmocka_unit_test_teardown(test_sqlite_and_csv_sinks, teardown),
        cmocka_unit_test_teardown(test_config_problems, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
