#include "core/common.h"
#include "job/source.h"

#include <math.h>
#include <sqlite3.h>

#include "job/source_int.h"
#include "job/job_conf.h"

struct sqlite_src {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *stmt;
    int ncols;
    uint64_t rows;
    int fatal;
};

static void sqlite_close(void *impl)
{
    struct sqlite_src *s = impl;
    if (!s)
        return;
    sqlite3_finalize(s->stmt);
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* Two columns of one name would silently overwrite each other in the record. */
static int check_columns(struct sqlite_src *s, struct fr_err *err)
{
    json_t *seen = json_object();
    int rc = 0;
    for (int i = 0; i < s->ncols && !rc; i++) {
        const char *name = sqlite3_column_name(s->stmt, i);
        if (!name || json_object_get(seen, name))
            rc = fr_err_set(err, FR_ECONFIG, 0,
                            "%s: query: column \"%s\" appears twice (rename one with AS)", s->path,
                            name ? name : "?");
        else
            json_object_set_new(seen, name, json_true());
    }
    json_decref(seen);
    return rc;
}

static bool only_space(const char *p)
{
    for (; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != ';')
            return false;
    return true;
}

static int sqlite_open(const struct fr_source_conf *conf, void **impl, struct fr_err *err)
{
    if (!conf->query || !*conf->query)
        return fr_err_set(err, FR_ECONFIG, 0, "%s: a sqlite source needs a query", conf->path);
    struct sqlite_src *s = fr_calloc(1, sizeof(*s));
    s->path = fr_strdup(conf->path);
    int rc = sqlite3_open_v2(conf->path, &s->db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        fr_err_set(err, FR_EIO, rc, "cannot open %s: %s", conf->path,
                   s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite_close(s);
        return FR_EIO;
    }
    sqlite3_busy_timeout(s->db, 5000);
    const char *tail = NULL;
    rc = sqlite3_prepare_v2(s->db, conf->query, -1, &s->stmt, &tail);
    int code = 0;
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT || rc == SQLITE_IOERR)
        code = fr_err_set(err, FR_EIO, rc, "cannot read %s: %s", conf->path, sqlite3_errmsg(s->db));
    else if (rc != SQLITE_OK)
        code = fr_err_set(err, FR_ECONFIG, rc, "%s: query: %s", conf->path, sqlite3_errmsg(s->db));
    else if (!s->stmt)
        code = fr_err_set(err, FR_ECONFIG, 0, "%s: query is empty", conf->path);
    else if (tail && !only_space(tail))
        code = fr_err_set(err, FR_ECONFIG, 0,
                          "%s: query: one statement only (more after \"%.40s\")", conf->path, tail);
    else if (!sqlite3_stmt_readonly(s->stmt))
        code = fr_err_set(err, FR_ECONFIG, 0, "%s: query must only read (a SELECT)", conf->path);
    if (!code) {
        s->ncols = sqlite3_column_count(s->stmt);
        code = check_columns(s, err);
    }
    if (code) {
        sqlite_close(s);
        return code;
    }
    *impl = s;
    return 0;
}

static int sqlite_next(void *impl, struct fr_record *rec, bool *eof, struct fr_err *err)
{
    struct sqlite_src *s = impl;
    if (s->fatal)
        return s->fatal;
    int rc = sqlite3_step(s->stmt);
    if (rc == SQLITE_DONE) {
        *eof = true;
        return 0;
    }
    if (rc != SQLITE_ROW) {
        s->fatal = FR_EIO;
        return fr_err_set(err, FR_EIO, rc, "%s: row %llu: %s", s->path,
                          (unsigned long long)s->rows + 1, sqlite3_errmsg(s->db));
    }
    uint64_t row = ++s->rows;
    rec->line = row;
    rec->fields = json_object();
    for (int i = 0; i < s->ncols; i++) {
        const char *name = sqlite3_column_name(s->stmt, i);
        json_t *v = NULL;
        switch (sqlite3_column_type(s->stmt, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(s->stmt, i));
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_column_double(s->stmt, i);
            v = isfinite(d) ? json_real(d) : NULL;
            if (!v) {
                fr__record_fail(rec, "row", row, "column \"%s\" is not a finite number", name);
                return 0;
            }
            break;
        }
        case SQLITE_TEXT:
            v = json_stringn((const char *)sqlite3_column_text(s->stmt, i),
                             (size_t)sqlite3_column_bytes(s->stmt, i));
            if (!v) {
                fr__record_fail(rec, "row", row, "column \"%s\" is not valid UTF-8", name);
                return 0;
            }
            break;
        case SQLITE_NULL:
            v = json_null();
            break;
        default:
            fr__record_fail(rec, "row", row,
                            "column \"%s\" is a blob (cast it to text in the query)", name);
            return 0;
        }
        json_object_set_new(rec->fields, name, v);
    }
    return 0;
}

static void sqlite_progress(const void *impl, int64_t *done, int64_t *total)
{
    const struct sqlite_src *s = impl;
    *done = (int64_t)s->rows;
    *total = -1;
}

const struct fr__source_ops fr__source_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .next = sqlite_next,
    .progress = sqlite_progress,
    .close = sqlite_close,
};
