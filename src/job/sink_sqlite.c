#include "core/common.h"
#include "job/sink_int.h"

#include <sqlite3.h>

#include "core/buf.h"
#include "core/clock.h"
#include "job/job_conf.h"

struct sqlite_sink {
    const struct fr_sink_conf *conf;
    sqlite3 *db;
    sqlite3_stmt *upsert;
    char pulled_at[40];
    bool in_tx;
};

/* FR_EIO naming the file, the table, what was done and SQLite's message. */
static int fail(struct sqlite_sink *k, struct fr_err *err, const char *op)
{
    return fr_err_set(err, FR_EIO, k->db ? sqlite3_extended_errcode(k->db) : 0,
                      "sink sqlite:%s table %s: %s: %s", k->conf->path, k->conf->table, op,
                      k->db ? sqlite3_errmsg(k->db) : "out of memory");
}

static int exec(struct sqlite_sink *k, const char *sql, struct fr_err *err, const char *op)
{
    return sqlite3_exec(k->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(k, err, op);
}

/* Table and column names were checked to be plain identifiers by the config loader. */
static char *create_sql(const struct fr_sink_conf *conf)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b,
                "CREATE TABLE IF NOT EXISTS \"%s\" (key TEXT NOT NULL PRIMARY KEY,"
                " record TEXT NOT NULL, pulled_at TEXT NOT NULL",
                conf->table);
    for (size_t i = 0; i < conf->ncolumns; i++)
        fr_buf_addf(&b, ", \"%s\"", conf->columns[i]);
    fr_buf_adds(&b, ")");
    return fr_buf_detach(&b, NULL);
}

static char *upsert_sql(const struct fr_sink_conf *conf)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b, "INSERT INTO \"%s\" (key, record, pulled_at", conf->table);
    for (size_t i = 0; i < conf->ncolumns; i++)
        fr_buf_addf(&b, ", \"%s\"", conf->columns[i]);
    fr_buf_adds(&b, ") VALUES (?, ?, ?");
    for (size_t i = 0; i < conf->ncolumns; i++)
        fr_buf_adds(&b, ", ?");
    fr_buf_adds(&b, ") ON CONFLICT (key) DO UPDATE SET record = excluded.record,"
                    " pulled_at = excluded.pulled_at");
    for (size_t i = 0; i < conf->ncolumns; i++)
        fr_buf_addf(&b, ", \"%s\" = excluded.\"%s\"", conf->columns[i], conf->columns[i]);
    return fr_buf_detach(&b, NULL);
}

static void sqlite_close(void *impl)
{
    struct sqlite_sink *k = impl;
    sqlite3_finalize(k->upsert);
    if (k->in_tx)
        sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(k->db);
    free(k);
}

static int sqlite_open(const struct fr_sink_conf *conf, int64_t now_ms, void **impl,
                       struct fr_err *err)
{
    struct sqlite_sink *k = fr_calloc(1, sizeof(*k));
    k->conf = conf;
    fr_format_rfc3339(now_ms, k->pulled_at, sizeof(k->pulled_at));
    int rc = 0;
    /* NOFOLLOW: a link planted at the path would send the writes wherever it points */
    int orc = sqlite3_open_v2(conf->path, &k->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                  SQLITE_OPEN_NOFOLLOW,
                              NULL);
    if (orc != SQLITE_OK)
        rc = fr_err_set(err, FR_EIO, orc,
                        "sink sqlite:%s: cannot open it: %s (check that its directory exists)",
                        conf->path, k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(orc));
    if (!rc && sqlite3_busy_timeout(k->db, 5000) != SQLITE_OK)
        rc = fail(k, err, "open");
    if (!rc)
        rc = exec(k, "PRAGMA journal_mode = WAL", err, "open");
    char *sql = rc ? NULL : create_sql(conf);
    if (!rc)
        rc = exec(k, sql, err, "create table");
    free(sql);
    sql = rc ? NULL : upsert_sql(conf);
    if (!rc && sqlite3_prepare_v3(k->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &k->upsert, NULL) !=
                   SQLITE_OK)
        rc = fail(k, err, "prepare the upsert (does the table have other columns?)");
    free(sql);
    if (!rc && !(rc = exec(k, "BEGIN IMMEDIATE", err, "begin")))
        k->in_tx = true;
    if (rc) {
        sqlite_close(k);
        return rc;
    }
    *impl = k;
    return 0;
}

static void bind_value(sqlite3_stmt *st, int i, json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v),
                          SQLITE_TRANSIENT);
        break;
    case JSON_INTEGER:
        sqlite3_bind_int64(st, i, (sqlite3_int64)json_integer_value(v));
        break;
    case JSON_REAL:
        sqlite3_bind_double(st, i, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        sqlite3_bind_int(st, i, json_is_true(v));
        break;
    case JSON_OBJECT:
    case JSON_ARRAY: {
        char *text = json_dumps(v, FR_SINK_DUMP_FLAGS);
        sqlite3_bind_text(st, i, text ? text : "", -1, SQLITE_TRANSIENT);
        free(text);
        break;
    }
    default:
        sqlite3_bind_null(st, i);
    }
}

static int sqlite_write(void *impl, json_t *record, const char *key, struct fr_err *err)
{
    struct sqlite_sink *k = impl;
    if (!key)
        return fr_err_set(err, FR_EINVAL, 0, "sink sqlite:%s: a record without a key",
                          k->conf->path);
    char *text = json_dumps(record, FR_SINK_DUMP_FLAGS);
    sqlite3_stmt *st = k->upsert;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, text ? text : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->pulled_at, -1, SQLITE_STATIC);
    for (size_t i = 0; i < k->conf->ncolumns; i++)
        bind_value(st, (int)i + 4, fr_sink_field(record, k->conf->columns[i]));
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fail(k, err, "upsert");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(text);
    return rc;
}

static int sqlite_commit(void *impl, struct fr_err *err)
{
    struct sqlite_sink *k = impl;
    FR_ASSERT(k->in_tx);
    int rc = exec(k, "COMMIT", err, "commit");
    if (!rc)
        k->in_tx = false;
    return rc;
}

const struct fr__sink_ops fr__sink_sqlite_ops = {
    "sqlite", sqlite_open, sqlite_write, sqlite_commit, sqlite_close,
};
