#include "core/common.h"
#include "store/store.h"

#include <libpq-fe.h>

#include "core/clock.h"
#include "core/redact.h"
#include "store/store_int.h"

/*
 * The PostgreSQL backend: one libpq connection per struct fr_store, many
 * ferry processes on one database.
 *
 * Durability: every transaction commits with synchronous_commit on (set
 * for the session at open), so COMMIT returns once the WAL is flushed.
 * Claims take rows FOR UPDATE SKIP LOCKED: two workers never wait for
 * each other and never take the same due event. A connection that broke
 * is reset at the start of the next operation; the operation that saw it
 * break fails with FR_ESTORE (a webhook is then answered 503, a worker
 * backs off), so nothing is half-done behind anyone's back.
 */

/* The advisory lock key migrations run under: "ferry" in ASCII, one per database. */
#define MIGRATION_LOCK_KEY 0x6665727279LL

/*
 * Migrations, applied in order, each once; all pending ones in one
 * transaction under the advisory lock. Never edit one that has shipped:
 * append a new one instead. Version numbers match the SQLite backend's
 * where the change is the same, so `ferry migrate --check` reads alike.
 */
static const char *const migrations[] = {
    /* 1: runs, their failures, and the per-key journal */
    "CREATE TABLE runs ("
    " id TEXT NOT NULL PRIMARY KEY,"
    " job TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " exit_code INTEGER NOT NULL DEFAULT -1,"
    " started_ms BIGINT NOT NULL,"
    " ended_ms BIGINT NOT NULL DEFAULT 0,"
    " read BIGINT NOT NULL DEFAULT 0,"
    " sent BIGINT NOT NULL DEFAULT 0,"
    " created BIGINT NOT NULL DEFAULT 0,"
    " duplicate BIGINT NOT NULL DEFAULT 0,"
    " rejected BIGINT NOT NULL DEFAULT 0,"
    " failed BIGINT NOT NULL DEFAULT 0,"
    " changed BIGINT NOT NULL DEFAULT 0,"
    " skipped BIGINT NOT NULL DEFAULT 0,"
    " requests BIGINT NOT NULL DEFAULT 0,"
    " retries BIGINT NOT NULL DEFAULT 0,"
    " rate_limited BIGINT NOT NULL DEFAULT 0,"
    " token_refreshes BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_job_started ON runs(job, started_ms);"
    "CREATE TABLE run_failures ("
    " run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " seq BIGINT NOT NULL,"
    " key TEXT,"
    " line BIGINT NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL,"
    " reason TEXT,"
    " PRIMARY KEY (run_id, seq));"
    "CREATE TABLE journal ("
    " job TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('inflight', 'created', 'duplicate', 'failed', 'rolled_back')),"
    " payload_hash TEXT,"
    " run_id TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " first_ms BIGINT NOT NULL,"
    " updated_ms BIGINT NOT NULL,"
    " PRIMARY KEY (job, key));"
    "CREATE INDEX journal_run ON journal(run_id);",
    /* 2: received webhook events; lease_until_ms 0 means no lease */
    "CREATE TABLE events ("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " source TEXT NOT NULL CHECK (octet_length(source) BETWEEN 1 AND 127),"
    " event_id TEXT NOT NULL,"
    " content_type TEXT,"
    " body BYTEA NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " received_ms BIGINT NOT NULL,"
    " next_attempt_ms BIGINT NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " updated_ms BIGINT NOT NULL,"
    " UNIQUE (source, event_id));"
    "CREATE INDEX events_due ON events(next_attempt_ms, seq) WHERE state = 'pending';"
    "CREATE INDEX events_dead ON events(updated_ms, seq) WHERE state = 'dead';"
    "CREATE INDEX events_leased ON events(lease_owner) WHERE lease_owner IS NOT NULL;",
    /* 3: keys in flight, one row per batch sent (keys joined by NUL bytes) */
    "CREATE TABLE journal_inflight ("
    " job TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " seq BIGINT NOT NULL,"
    " sent_ms BIGINT NOT NULL,"
    " keys BYTEA NOT NULL,"
    " PRIMARY KEY (job, run_id, seq));",
    /* 4: pull jobs' watermarks, and pages and records written per run */
    "CREATE TABLE watermarks ("
    " job TEXT NOT NULL PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " updated_ms BIGINT NOT NULL);"
    "ALTER TABLE runs ADD COLUMN pages BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN written BIGINT NOT NULL DEFAULT 0;",
    /* 5: each job's newest run in a given status (the last success) */
    "CREATE INDEX runs_job_status_started ON runs(job, status, started_ms);",
    /* 6: which instance took each scheduled slot of each job: one run per slot */
    "CREATE TABLE schedule_claims ("
    " job TEXT NOT NULL,"
    " slot_ms BIGINT NOT NULL,"
    " owner TEXT NOT NULL,"
    " claimed_ms BIGINT NOT NULL,"
    " PRIMARY KEY (job, slot_ms));",
    /* 7: delivered events by source and delivery time: deleted past webhooks.retention, counted */
    "CREATE INDEX events_delivered ON events(source, updated_ms, state) WHERE state = 'delivered';",
    /* 8: why a run failed or was interrupted ('' when nothing went wrong), its host and pid */
    "ALTER TABLE runs ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN pid BIGINT NOT NULL DEFAULT 0;",
    /* 9: an event's second key (the body's SHA-256 under dedupe: content), unique per source */
    "ALTER TABLE events ADD COLUMN content_key TEXT;"
    "CREATE UNIQUE INDEX events_content ON events(source, content_key)"
    " WHERE content_key IS NOT NULL;",
};

#define COUNT_NAME(f) ", " #f
#define RUN_COLUMNS                                                                                \
    "id, job, status, exit_code, started_ms, ended_ms" FR__RUN_COUNTS(                             \
        COUNT_NAME) ", reason, host, pid"
#define JOURNAL_COLUMNS "state, payload_hash, run_id, attempts, last_error, first_ms, updated_ms"
#define EVENT_COLUMNS                                                                              \
    "seq, source, event_id, content_type, state, attempts, received_ms, next_attempt_ms,"          \
    " updated_ms, last_error"
#define EVENT_BODY_COL 10
/* binary-safe, locale-independent orderings, as SQLite compares */
#define C_ORDER " COLLATE \"C\""

struct pg_store {
    struct fr_store base; /* first: the handle is a struct fr_store */
    PGconn *conn;
    char *where; /* the URL with any password masked, for messages */
    /* the job run lock the connection holds (base.locked_job names the job) */
    bool locked;
    bool relock;    /* reconnected: the lock is to be taken again */
    bool lock_lost; /* a reconnect found another session holding it */
    int64_t lock_key;
};

static const struct fr_store_ops pg_ops;

/* ---- parameters and results ----------------------------------------------------------- */

#define MAX_PARAMS 24

/* Text parameters (bytes: binary), each borrowed or in num[]. */
struct params {
    const char *v[MAX_PARAMS];
    int len[MAX_PARAMS];
    int fmt[MAX_PARAMS];
    char num[MAX_PARAMS][24];
    int n;
};

static void p_text(struct params *p, const char *s)
{
    FR_ASSERT(p->n < MAX_PARAMS);
    p->v[p->n] = s; /* NULL is SQL NULL */
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_int(struct params *p, int64_t v)
{
    FR_ASSERT(p->n < MAX_PARAMS);
    snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", (long long)v);
    p_text(p, p->num[p->n]);
}

static void p_bytes(struct params *p, const void *b, size_t n)
{
    FR_ASSERT(p->n < MAX_PARAMS && n <= INT32_MAX);
    p->v[p->n] = b ? b : "";
    p->len[p->n] = (int)n;
    p->fmt[p->n] = 1;
    p->n++;
}

/* A LIMIT: limit rows, or NULL (no limit) for 0. */
static void p_limit(struct params *p, size_t limit)
{
    if (limit == 0 || limit > INT64_MAX)
        p_text(p, NULL);
    else
        p_int(p, (int64_t)limit);
}

static struct pg_store *from_base(struct fr_store *st)
{
    return (struct pg_store *)st;
}

/* libpq's message for the last failure, without its trailing newline. */
static int fail_msg(struct pg_store *s, const PGresult *res, struct fr_err *err, const char *op)
{
    const char *m = res ? PQresultErrorMessage(res) : "";
    if (!m || !m[0])
        m = PQerrorMessage(s->conn);
    size_t len = strlen(m);
    while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
        len--;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    long native = state ? strtol(state, NULL, 36) : 0;
    return fr_err_set(err, FR_ESTORE, native, "%s: %.*s (%s)", op, (int)len, m, s->where);
}

/*
 * Runs sql with p (may be NULL). On success *out (may be NULL: the result
 * is cleared) holds the result; on failure the error is recorded.
 */
static int exec_p(struct pg_store *s, const char *sql, const struct params *p, PGresult **out,
                  struct fr_err *err, const char *op)
{
    if (out)
        *out = NULL;
    /* without parameters: the simple protocol, which takes several statements (migrations) */
    PGresult *res =
        p ? PQexecParams(s->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0) : PQexec(s->conn, sql);
    ExecStatusType est = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (est != PGRES_COMMAND_OK && est != PGRES_TUPLES_OK) {
        int rc = fail_msg(s, res, err, op);
        PQclear(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return FR_OK;
}

static int exec_sql(struct pg_store *s, const char *sql, struct fr_err *err, const char *op)
{
    return exec_p(s, sql, NULL, NULL, err, op);
}

/* Rows a command changed (UPDATE, DELETE, INSERT). */
static uint64_t changed(PGresult *res)
{
    const char *t = PQcmdTuples(res);
    return t && t[0] ? strtoull(t, NULL, 10) : 0;
}

static const char *col(const PGresult *res, int row, int c)
{
    return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static int64_t col_i64(const PGresult *res, int row, int c)
{
    const char *v = col(res, row, c);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* A bytea column (text format, hex) decoded into a new buffer with a NUL after it. */
static unsigned char *col_bytes(const PGresult *res, int row, int c, size_t *len)
{
    size_t n = 0;
    unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, c), &n);
    FR_ASSERT(raw);
    unsigned char *out = fr_malloc(n + 1);
    if (n)
        memcpy(out, raw, n);
    out[n] = '\0';
    PQfreemem(raw);
    *len = n;
    return out;
}

/* ---- connection and transactions ------------------------------------------------------ */

/* pg_try_advisory_lock(key) on the session: *held says whether it got it. */
static int try_advisory_lock(struct pg_store *s, int64_t key, bool *held, struct fr_err *err,
                             const char *op)
{
    struct params p = {0};
    p_int(&p, key);
    PGresult *res = NULL;
    int rc = exec_p(s, "SELECT pg_try_advisory_lock($1::bigint)", &p, &res, err, op);
    if (!rc)
        *held = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return rc;
}

/*
 * The handle of an operation. A connection that broke (the server
 * restarted, the network dropped) is reset here; when that fails too the
 * operation fails with why. The server let the job run lock go with the
 * old connection: it is taken again, and if another session has it now,
 * this handle's run has lost it for good (store.h).
 */
static int enter(struct fr_store *st, struct pg_store **out, struct fr_err *err, const char *op)
{
    struct pg_store *s = from_base(st);
    *out = s;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        PQreset(s->conn);
        if (PQstatus(s->conn) != CONNECTION_OK)
            return fail_msg(s, NULL, err, op);
        exec_sql(s, "SET synchronous_commit = on", NULL, op);
        s->relock = s->locked; /* the server let it go with the old connection */
    }
    if (s->relock && !s->lock_lost) {
        bool held = false;
        int rc = try_advisory_lock(s, s->lock_key, &held, err, op);
        if (rc)
            return rc; /* the next operation tries again */
        s->relock = false;
        s->lock_lost = !held;
    }
    if (s->lock_lost)
        return fr_err_set(err, FR_ESTORE, 0,
                          "%s: lost the run lock of job \"%s\" with the connection, and another "
                          "instance holds it now: this run stops (%s)",
                          op, s->base.locked_job ? s->base.locked_job : "", s->where);
    if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF)
        PQexitPipelineMode(s->conn);
    /* a transaction left open by a failure that lost its ROLLBACK */
    if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        exec_sql(s, "ROLLBACK", NULL, op);
    return FR_OK;
}

static int tx_begin(struct pg_store *s, struct fr_err *err, const char *op)
{
    return exec_sql(s, "BEGIN", err, op);
}

/* enter, then BEGIN: the operation's transaction, which tx_end ends. */
static int enter_tx(struct fr_store *st, struct pg_store **out, struct fr_err *err, const char *op)
{
    int rc = enter(st, out, err, op);
    return rc ? rc : tx_begin(*out, err, op);
}

/* enter, then the operation's one statement: sql with p, *res as exec_p's. */
static int enter_exec(struct fr_store *st, struct pg_store **out, const char *sql,
                      const struct params *p, PGresult **res, struct fr_err *err, const char *op)
{
    if (res)
        *res = NULL;
    int rc = enter(st, out, err, op);
    return rc ? rc : exec_p(*out, sql, p, res, err, op);
}

/* Ends a transaction: commits when rc is FR_OK, else rolls back. Returns the outcome. */
static int tx_end(struct pg_store *s, int rc, struct fr_err *err, const char *op)
{
    if (rc) {
        exec_sql(s, "ROLLBACK", NULL, op); /* the first error is the one that matters */
        return rc;
    }
    rc = exec_sql(s, "COMMIT", err, op);
    if (rc && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        exec_sql(s, "ROLLBACK", NULL, op);
    return rc;
}

/* ---- runs ----------------------------------------------------------------------------- */

static void bind_counts(struct params *p, const struct fr_run_counts *c)
{
#define BIND_COUNT(f) p_int(p, (int64_t)c->f);
    FR__RUN_COUNTS(BIND_COUNT)
#undef BIND_COUNT
}

static void read_run(const PGresult *res, int row, struct fr_run *r)
{
    memset(r, 0, sizeof(*r));
    fr_strlcpy(r->id, PQgetvalue(res, row, 0), sizeof(r->id));
    fr_strlcpy(r->job, PQgetvalue(res, row, 1), sizeof(r->job));
    fr_strlcpy(r->status, PQgetvalue(res, row, 2), sizeof(r->status));
    r->exit_code = (int)col_i64(res, row, 3);
    r->started_ms = col_i64(res, row, 4);
    r->ended_ms = col_i64(res, row, 5);
    int i = 6;
#define READ_COUNT(f) r->counts.f = (uint64_t)col_i64(res, row, i++);
    FR__RUN_COUNTS(READ_COUNT)
#undef READ_COUNT
    fr_strlcpy(r->reason, PQgetvalue(res, row, i), sizeof(r->reason));
    fr_strlcpy(r->host, PQgetvalue(res, row, i + 1), sizeof(r->host));
    r->pid = col_i64(res, row, i + 2);
}

static int pg_run_begin(struct fr_store *base, const struct fr_run *run, struct fr_err *err)
{
    const char *op = "run begin";
    struct pg_store *s;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    struct params p = {0};
    p_text(&p, run->job);
    p_text(&p, run->id);
    rc = exec_p(s,
                "UPDATE runs SET status = 'interrupted', reason = CASE WHEN reason = '' THEN"
                " 'its process stopped without recording how the run ended; found when run '"
                " || $2::text || ' began' ELSE reason END"
                " WHERE job = $1 AND status = 'running' AND id <> $2",
                &p, NULL, err, op);
    if (!rc) {
        p = (struct params){0};
        p_text(&p, run->id);
        p_text(&p, run->job);
        p_int(&p, run->started_ms);
        bind_counts(&p, &run->counts);
        p_text(&p, run->host);
        p_int(&p, run->pid);
        rc = exec_p(s,
                    "INSERT INTO runs (" RUN_COLUMNS ") VALUES ($1, $2, 'running', -1, $3, 0,"
                    " $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, '', $18,"
                    " $19)",
                    &p, NULL, err, op);
    }
    return tx_end(s, rc, err, op);
}

static int pg_run_finish(struct fr_store *base, const struct fr_run *run, struct fr_err *err)
{
    const char *op = "run finish";
    struct params p = {0};
    p_text(&p, run->id);
    p_text(&p, run->status);
    p_int(&p, run->exit_code);
    p_int(&p, run->ended_ms);
    bind_counts(&p, &run->counts);
    p_text(&p, run->reason);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "UPDATE runs SET status = $2, exit_code = $3, ended_ms = $4, read = $5,"
                        " sent = $6, created = $7, duplicate = $8, rejected = $9, failed = $10,"
                        " changed = $11, skipped = $12, requests = $13, retries = $14,"
                        " rate_limited = $15, token_refreshes = $16, pages = $17, written = $18,"
                        " reason = $19 WHERE id = $1",
                        &p, &res, err, op);
    if (!rc && changed(res) == 0)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "run finish: no run \"%s\"", run->id);
    PQclear(res);
    return rc;
}

static int pg_run_get(struct fr_store *base, const char *id, struct fr_run *out, struct fr_err *err)
{
    const char *op = "run get";
    struct params p = {0};
    p_text(&p, id);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc =
        enter_exec(base, &s, "SELECT " RUN_COLUMNS " FROM runs WHERE id = $1", &p, &res, err, op);
    if (!rc && PQntuples(res) == 1)
        read_run(res, 0, out);
    else if (!rc)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "run get: no run \"%s\"", id);
    PQclear(res);
    return rc;
}

static int pg_runs_list(struct fr_store *base, const char *job, size_t limit,
                        int (*fn)(const struct fr_run *run, void *ud), void *ud, struct fr_err *err)
{
    const char *op = "runs list";
    struct params p = {0};
    p_limit(&p, limit);
    if (job)
        p_text(&p, job);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        job ? "SELECT " RUN_COLUMNS " FROM runs WHERE job = $2"
                              " ORDER BY started_ms DESC, id" C_ORDER " DESC LIMIT $1::bigint"
                            : "SELECT " RUN_COLUMNS " FROM runs"
                              " ORDER BY started_ms DESC, id" C_ORDER " DESC LIMIT $1::bigint",
                        &p, &res, err, op);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct fr_run run;
        read_run(res, i, &run);
        if (fn(&run, ud))
            break;
    }
    PQclear(res);
    return rc;
}

static int pg_run_last(struct fr_store *base, const char *job, const char *status,
                       struct fr_run *out, struct fr_err *err)
{
    const char *op = "run last";
    struct params p = {0};
    p_text(&p, job);
    p_text(&p, status);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "SELECT " RUN_COLUMNS " FROM runs WHERE job = $1 AND status = $2"
                        " ORDER BY started_ms DESC, id" C_ORDER " DESC LIMIT 1",
                        &p, &res, err, op);
    if (!rc && PQntuples(res) == 1)
        read_run(res, 0, out);
    else if (!rc)
        rc = FR_ENOTFOUND; /* an answer, not a failure: err untouched */
    PQclear(res);
    return rc;
}

static int pg_ping(struct fr_store *base, struct fr_err *err)
{
    struct pg_store *s;
    return enter_exec(base, &s, "SELECT count(*) FROM schema_migrations", NULL, NULL, err, "ping");
}

static int pg_write_check(struct fr_store *base, struct fr_err *err)
{
    const char *op = "write check";
    struct pg_store *s;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    /* A standby or a read-only default refuses every write: say which, before trying one. */
    PGresult *res = NULL;
    rc = exec_p(s, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')", NULL,
                &res, err, op);
    if (!rc && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
        rc = fr_err_set(err, FR_ESTORE, 0,
                        "%s: the server is a standby in recovery and takes no writes (%s)", op,
                        s->where);
    else if (!rc && strcmp(PQgetvalue(res, 0, 1), "on") == 0)
        rc = fr_err_set(err, FR_ESTORE, 0,
                        "%s: transactions are read-only here (default_transaction_read_only is "
                        "on for this server, database or user) (%s)",
                        op, s->where);
    PQclear(res);
    char limits[128];
    snprintf(limits, sizeof(limits),
             "SET LOCAL lock_timeout = %d; SET LOCAL statement_timeout = %d",
             FR_STORE_WRITE_CHECK_WAIT_MS, FR_STORE_WRITE_CHECK_WAIT_MS);
    if (!rc)
        rc = exec_sql(s, limits, err, op);
    /* The session's own version number: checks of other instances never wait for this row. */
    if (!rc)
        rc = exec_sql(s,
                      "INSERT INTO schema_migrations (version, applied_at)"
                      " VALUES (-pg_backend_pid(), 'write check')",
                      err, op);
    exec_sql(s, "ROLLBACK", NULL, op); /* always: nothing of the check stays */
    return rc;
}

static int pg_run_add_failures(struct fr_store *base, const char *run_id,
                               const struct fr_run_failure *failures, size_t n, struct fr_err *err)
{
    const char *op = "run add failures";
    struct pg_store *s;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    struct params p = {0};
    p_text(&p, run_id);
    PGresult *res = NULL;
    /* the run row, locked: two handles adding failures to one run number them in turn */
    rc = exec_p(s, "SELECT 1 FROM runs WHERE id = $1 FOR UPDATE", &p, NULL, err, op);
    if (!rc)
        rc = exec_p(s, "SELECT coalesce(max(seq), 0) + 1 FROM run_failures WHERE run_id = $1", &p,
                    &res, err, op);
    int64_t seq = rc ? 0 : col_i64(res, 0, 0);
    PQclear(res);
    for (size_t i = 0; !rc && i < n; i++) {
        const struct fr_run_failure *f = &failures[i];
        p = (struct params){0};
        p_text(&p, run_id);
        p_int(&p, seq + (int64_t)i);
        p_text(&p, f->key);
        p_int(&p, (int64_t)f->line);
        p_text(&p, f->kind);
        p_text(&p, f->reason);
        rc = exec_p(s,
                    "INSERT INTO run_failures (run_id, seq, key, line, kind, reason)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    &p, NULL, err, op);
    }
    return tx_end(s, rc, err, op);
}

static int pg_run_failures(struct fr_store *base, const char *run_id,
                           int (*fn)(const struct fr_run_failure *f, void *ud), void *ud,
                           struct fr_err *err)
{
    const char *op = "run failures";
    struct params p = {0};
    p_text(&p, run_id);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(
        base, &s, "SELECT key, line, kind, reason FROM run_failures WHERE run_id = $1 ORDER BY seq",
        &p, &res, err, op);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct fr_run_failure f = {
            .key = col(res, i, 0),
            .line = (uint64_t)col_i64(res, i, 1),
            .kind = col(res, i, 2),
            .reason = col(res, i, 3),
        };
        if (fn(&f, ud))
            break;
    }
    PQclear(res);
    return rc;
}

/* ---- the journal ---------------------------------------------------------------------- */

static int read_entry(struct pg_store *s, const PGresult *res, int row, int first,
                      struct fr_journal_entry *e, struct fr_err *err, const char *op)
{
    memset(e, 0, sizeof(*e));
    const char *state = col(res, row, first);
    if (!state || !fr__journal_state_parse(state, &e->state))
        return fr_err_set(err, FR_ESTORE, 0, "%s: unknown journal state \"%s\" (%s)", op,
                          state ? state : "(null)", s->where);
    const char *hash = col(res, row, first + 1);
    if (hash)
        fr_strlcpy(e->payload_hash, hash, sizeof(e->payload_hash));
    fr_strlcpy(e->run_id, PQgetvalue(res, row, first + 2), sizeof(e->run_id));
    e->attempts = (int)col_i64(res, row, first + 3);
    const char *last_error = col(res, row, first + 4);
    e->last_error = last_error ? fr_strdup(last_error) : NULL;
    e->first_ms = col_i64(res, row, first + 5);
    e->updated_ms = col_i64(res, row, first + 6);
    return FR_OK;
}

static int pg_journal_get(struct fr_store *base, const char *job, const char *key,
                          struct fr_journal_entry *out, struct fr_err *err)
{
    const char *op = "journal get";
    memset(out, 0, sizeof(*out));
    struct params p = {0};
    p_text(&p, job);
    p_text(&p, key);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc =
        enter_exec(base, &s, "SELECT " JOURNAL_COLUMNS " FROM journal WHERE job = $1 AND key = $2",
                   &p, &res, err, op);
    if (!rc && PQntuples(res) == 1)
        rc = read_entry(s, res, 0, 0, out, err, op);
    else if (!rc)
        rc = FR_ENOTFOUND;
    PQclear(res);
    return rc;
}

/* The upserts of journal_update, inside a transaction the caller holds. */
static int upsert_updates(struct pg_store *s, const char *job, const char *run_id,
                          const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                          struct fr_err *err, const char *op)
{
    int rc = FR_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        const struct fr_journal_update *u = &updates[i];
        if (!u->key || u->state == FR_JOURNAL_NONE)
            return fr_err_set(err, FR_ESTORE, 0, "%s: update %zu has no key or no state (%s)", op,
                              i, s->where);
        struct params p = {0};
        p_text(&p, job);
        p_text(&p, run_id);
        p_int(&p, now_ms);
        p_text(&p, u->key);
        p_text(&p, fr_journal_state_name(u->state));
        p_text(&p, u->payload_hash);
        p_int(&p, u->sent);
        p_text(&p, u->error);
        rc = exec_p(s,
                    "INSERT INTO journal AS j (job, key, state, payload_hash, run_id, attempts,"
                    " last_error, first_ms, updated_ms) VALUES ($1, $4, $5, $6, $2, $7, $8, $3, $3)"
                    " ON CONFLICT (job, key) DO UPDATE SET state = excluded.state,"
                    " payload_hash = coalesce(excluded.payload_hash, j.payload_hash),"
                    " run_id = excluded.run_id, attempts = j.attempts + excluded.attempts,"
                    " last_error = excluded.last_error, updated_ms = excluded.updated_ms",
                    &p, NULL, err, op);
    }
    return rc;
}

static int pg_journal_update(struct fr_store *base, const char *job, const char *run_id,
                             const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                             struct fr_err *err)
{
    const char *op = "journal update";
    struct pg_store *s;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    rc = upsert_updates(s, job, run_id, updates, n, now_ms, err, op);
    return tx_end(s, rc, err, op);
}

static int delete_inflight(struct pg_store *s, const char *job, const char *run_id, uint64_t seq,
                           struct fr_err *err, const char *op)
{
    struct params p = {0};
    p_text(&p, job);
    p_text(&p, run_id);
    p_int(&p, (int64_t)seq);
    return exec_p(s, "DELETE FROM journal_inflight WHERE job = $1 AND run_id = $2 AND seq = $3", &p,
                  NULL, err, op);
}

static int pg_journal_commit(struct fr_store *base, const char *job, const char *run_id,
                             const struct fr_journal_update *updates, size_t n,
                             const uint64_t *done, size_t ndone,
                             const struct fr_journal_batch *sent, int64_t now_ms,
                             struct fr_err *err)
{
    const char *op = "journal commit";
    struct pg_store *s;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    /* outcomes first: a key may be settled, then sent again in the new batch */
    rc = upsert_updates(s, job, run_id, updates, n, now_ms, err, op);
    for (size_t i = 0; !rc && i < ndone; i++)
        rc = delete_inflight(s, job, run_id, done[i], err, op);
    if (!rc && sent) {
        size_t len = 0;
        for (size_t i = 0; i < sent->n; i++)
            len += strlen(sent->keys[i]) + 1;
        char *keys = fr_malloc(len);
        char *at = keys;
        for (size_t i = 0; i < sent->n; i++) {
            size_t kl = strlen(sent->keys[i]) + 1;
            memcpy(at, sent->keys[i], kl);
            at += kl;
        }
        struct params p = {0};
        p_text(&p, job);
        p_text(&p, run_id);
        p_int(&p, (int64_t)sent->seq);
        p_int(&p, now_ms);
        p_bytes(&p, keys, len);
        rc = exec_p(s,
                    "INSERT INTO journal_inflight (job, run_id, seq, sent_ms, keys)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    &p, NULL, err, op);
        free(keys);
    }
    return tx_end(s, rc, err, op);
}

static int pg_journal_inflight(struct fr_store *base, const char *job, const char *except_run_id,
                               int (*fn)(const char *run_id, uint64_t seq, int64_t sent_ms,
                                         const char *key, void *ud),
                               void *ud, struct fr_err *err)
{
    const char *op = "journal inflight";
    struct params p = {0};
    p_text(&p, job);
    p_text(&p, except_run_id);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "SELECT run_id, seq, sent_ms, keys FROM journal_inflight"
                        " WHERE job = $1 AND run_id IS DISTINCT FROM $2"
                        " ORDER BY sent_ms, run_id" C_ORDER ", seq",
                        &p, &res, err, op);
    int stop = 0;
    for (int i = 0; !rc && !stop && i < PQntuples(res); i++) {
        size_t len = 0;
        char *keys = (char *)col_bytes(res, i, 3, &len);
        for (size_t at = 0; !stop && at < len; at += strlen(keys + at) + 1)
            stop = fn(PQgetvalue(res, i, 0), (uint64_t)col_i64(res, i, 1), col_i64(res, i, 2),
                      keys + at, ud);
        free(keys);
    }
    PQclear(res);
    return rc;
}

static int pg_journal_forget(struct fr_store *base, const char *job, const char *run_id,
                             uint64_t seq, struct fr_err *err)
{
    struct pg_store *s;
    int rc = enter(base, &s, err, "journal forget");
    return rc ? rc : delete_inflight(s, job, run_id, seq, err, "journal forget");
}

static int pg_journal_by_run(struct fr_store *base, const char *run_id, enum fr_journal_state state,
                             int (*fn)(const char *key, const struct fr_journal_entry *e, void *ud),
                             void *ud, struct fr_err *err)
{
    const char *op = "journal by run";
    struct params p = {0};
    p_text(&p, run_id);
    p_text(&p, state == FR_JOURNAL_NONE ? NULL : fr_journal_state_name(state));
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "SELECT key, " JOURNAL_COLUMNS " FROM journal"
                        " WHERE run_id = $1 AND ($2::text IS NULL OR state = $2)",
                        &p, &res, err, op);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct fr_journal_entry e;
        rc = read_entry(s, res, i, 1, &e, err, op);
        if (rc)
            break;
        int stop = fn(PQgetvalue(res, i, 0), &e, ud);
        fr_journal_entry_release(&e);
        if (stop)
            break;
    }
    PQclear(res);
    return rc;
}

/* ---- watermarks ---------------------------------------------------------------------- */

static int pg_watermark_get(struct fr_store *base, const char *job, char **value,
                            char run_id[FR_RUN_ID_MAX], int64_t *updated_ms, struct fr_err *err)
{
    const char *op = "watermark get";
    struct params p = {0};
    p_text(&p, job);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s, "SELECT value, run_id, updated_ms FROM watermarks WHERE job = $1",
                        &p, &res, err, op);
    if (!rc && PQntuples(res) == 1) {
        *value = fr_strdup(PQgetvalue(res, 0, 0));
        if (run_id)
            fr_strlcpy(run_id, PQgetvalue(res, 0, 1), FR_RUN_ID_MAX);
        if (updated_ms)
            *updated_ms = col_i64(res, 0, 2);
    } else if (!rc) {
        rc = FR_ENOTFOUND;
    }
    PQclear(res);
    return rc;
}

static int pg_watermark_set(struct fr_store *base, const char *job, const char *value,
                            const char *run_id, int64_t now_ms, struct fr_err *err)
{
    const char *op = "watermark set";
    struct params p = {0};
    p_text(&p, job);
    p_text(&p, value);
    p_text(&p, run_id);
    p_int(&p, now_ms);
    struct pg_store *s;
    return enter_exec(base, &s,
                      "INSERT INTO watermarks (job, value, run_id, updated_ms)"
                      " VALUES ($1, $2, $3, $4) ON CONFLICT (job) DO UPDATE SET"
                      " value = excluded.value, run_id = excluded.run_id,"
                      " updated_ms = excluded.updated_ms",
                      &p, NULL, err, op);
}

/* ---- webhook events ------------------------------------------------------------------- */

static int read_event(struct pg_store *s, const PGresult *res, int row, bool with_body,
                      struct fr_event *e, struct fr_err *err, const char *op)
{
    memset(e, 0, sizeof(*e));
    const char *state = col(res, row, 4);
    if (!state || !fr__event_state_parse(state, &e->state))
        return fr_err_set(err, FR_ESTORE, 0, "%s: unknown event state \"%s\" (%s)", op,
                          state ? state : "(null)", s->where);
    e->seq = col_i64(res, row, 0);
    fr_strlcpy(e->source, PQgetvalue(res, row, 1), sizeof(e->source));
    e->event_id = fr_strdup(PQgetvalue(res, row, 2));
    const char *content_type = col(res, row, 3);
    e->content_type = content_type ? fr_strdup(content_type) : NULL;
    e->attempts = (int)col_i64(res, row, 5);
    e->received_ms = col_i64(res, row, 6);
    e->next_attempt_ms = col_i64(res, row, 7);
    e->updated_ms = col_i64(res, row, 8);
    const char *last_error = col(res, row, 9);
    e->last_error = last_error ? fr_strdup(last_error) : NULL;
    if (with_body)
        e->body = col_bytes(res, row, EVENT_BODY_COL, &e->body_len);
    return FR_OK;
}

/* no conflict target: a repeat of either key, (source, event_id) or (source, content_key) */
#define EVENT_INSERT_SQL                                                                           \
    "INSERT INTO events (source, event_id, content_type, body, state, received_ms,"                \
    " next_attempt_ms, updated_ms, content_key)"                                                   \
    " VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, $6) ON CONFLICT DO NOTHING"

static void event_params(struct params *p, const struct fr_event_in *e)
{
    p_text(p, e->source);
    p_text(p, e->event_id);
    p_text(p, e->content_type);
    if (e->body || !e->body_len)
        p_bytes(p, e->body, e->body_len);
    else
        p_text(p, NULL); /* bytes promised and none given: NOT NULL fails */
    p_int(p, e->received_ms);
    p_text(p, e->content_key);
}

/*
 * The events of a group commit in one transaction, sent as one pipeline:
 * BEGIN, n inserts and COMMIT cost one round trip to the server, not n + 2.
 * COMMIT returns once the WAL is flushed (synchronous_commit on).
 */
static int pg_events_add(struct fr_store *base, const struct fr_event_in *ev, size_t n,
                         int *outcome, struct fr_err *err)
{
    const char *op = "events add";
    struct pg_store *s;
    int rc = enter(base, &s, err, op);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!ev[i].source || !ev[i].event_id)
            return fr_err_set(err, FR_ESTORE, 0, "%s: event %zu has no source or id (%s)", op, i,
                              s->where);
    if (PQenterPipelineMode(s->conn) != 1)
        return fail_msg(s, NULL, err, op);
    bool sent = PQsendQueryParams(s->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) == 1;
    for (size_t i = 0; sent && i < n; i++) {
        struct params p = {0};
        event_params(&p, &ev[i]);
        sent = PQsendQueryParams(s->conn, EVENT_INSERT_SQL, p.n, NULL, p.v, p.len, p.fmt, 0) == 1;
    }
    sent = sent && PQsendQueryParams(s->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) == 1;
    sent = sent && PQpipelineSync(s->conn) == 1;
    if (!sent)
        rc = fail_msg(s, NULL, err, op);
    /* Results: BEGIN, n inserts, COMMIT, then the sync. After an error the rest are aborted. */
    size_t expected = sent ? n + 2 : 0;
    for (size_t i = 0; sent && i < expected; i++) {
        PGresult *res = PQgetResult(s->conn);
        if (!res) {
            rc = fail_msg(s, NULL, err, op);
            break;
        }
        ExecStatusType est = PQresultStatus(res);
        if (est == PGRES_COMMAND_OK) {
            if (i >= 1 && i <= n && outcome)
                outcome[i - 1] = changed(res) ? FR_EVENT_ADD_STORED : FR_EVENT_ADD_DUPLICATE;
            if (i == n + 1 && strcmp(PQcmdStatus(res), "COMMIT") != 0) /* "ROLLBACK" */
                rc = fr_err_set(err, FR_ESTORE, 0, "%s: the transaction was rolled back (%s)", op,
                                s->where);
        } else if (est != PGRES_PIPELINE_ABORTED || !rc) {
            rc = rc ? rc : fail_msg(s, res, err, op);
        }
        PQclear(res);
        /* each query's results end with a NULL */
        PGresult *end = PQgetResult(s->conn);
        PQclear(end);
    }
    /* drain up to and including the sync; bounded: a broken connection yields NULLs */
    for (size_t guard = 0; sent && guard < 2 * n + 8; guard++) {
        PGresult *res = PQgetResult(s->conn);
        if (!res) {
            if (PQstatus(s->conn) != CONNECTION_OK)
                break;
            continue;
        }
        ExecStatusType est = PQresultStatus(res);
        PQclear(res);
        if (est == PGRES_PIPELINE_SYNC)
            break;
    }
    if (PQexitPipelineMode(s->conn) != 1 && !rc)
        rc = fail_msg(s, NULL, err, op);
    if (rc && PQtransactionStatus(s->conn) == PQTRANS_INERROR)
        exec_sql(s, "ROLLBACK", NULL, op);
    return rc;
}

static int cmp_due(const void *a, const void *b)
{
    const struct fr_event *x = a, *y = b;
    if (x->next_attempt_ms != y->next_attempt_ms)
        return x->next_attempt_ms < y->next_attempt_ms ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int pg_events_claim(struct fr_store *base, const char *owner, int64_t now_ms,
                           int64_t lease_ms, size_t max, struct fr_event **out, size_t *n,
                           struct fr_err *err)
{
    const char *op = "events claim";
    int64_t until = lease_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + lease_ms;
    struct params p = {0};
    p_int(&p, now_ms);
    p_int(&p, max > INT64_MAX ? INT64_MAX : (int64_t)max);
    p_text(&p, owner);
    p_int(&p, until);
    struct pg_store *s;
    PGresult *res = NULL;
    /* SKIP LOCKED: a row another claim is taking is passed over, never waited for */
    int rc =
        enter_exec(base, &s,
                   "WITH due AS (SELECT seq FROM events WHERE state = 'pending'"
                   " AND next_attempt_ms <= $1 AND lease_until_ms <= $1"
                   " ORDER BY next_attempt_ms, seq LIMIT $2 FOR UPDATE SKIP LOCKED)"
                   " UPDATE events e SET lease_owner = $3, lease_until_ms = $4 FROM due"
                   " WHERE e.seq = due.seq RETURNING e.seq, e.source, e.event_id, e.content_type,"
                   " e.state, e.attempts, e.received_ms, e.next_attempt_ms, e.updated_ms,"
                   " e.last_error, e.body",
                   &p, &res, err, op);
    if (rc)
        return rc;
    size_t got = (size_t)PQntuples(res);
    struct fr_event *events = got ? fr_calloc(got, sizeof(*events)) : NULL;
    for (size_t i = 0; !rc && i < got; i++)
        rc = read_event(s, res, (int)i, true, &events[i], err, op);
    PQclear(res);
    if (rc) {
        for (size_t i = 0; i < got; i++)
            fr_event_release(&events[i]);
        free(events);
        return rc;
    }
    if (got > 1)
        qsort(events, got, sizeof(*events), cmp_due);
    *out = events;
    *n = got;
    return FR_OK;
}

static int pg_event_outcome(struct fr_store *base, int64_t seq, const char *owner,
                            enum fr_event_state state, int64_t next_attempt_ms, const char *error,
                            int64_t now_ms, struct fr_err *err)
{
    static const struct {
        const char *sql;
        const char *op;
    } by_state[] = {
        [FR_EVENT_PENDING] = {"UPDATE events SET attempts = attempts + 1, next_attempt_ms = $5,"
                              " last_error = $4, lease_owner = NULL, lease_until_ms = 0,"
                              " updated_ms = $3"
                              " WHERE seq = $1 AND lease_owner = $2 AND state = 'pending'",
                              "event retry"},
        [FR_EVENT_DELIVERED] = {"UPDATE events SET state = 'delivered', attempts = attempts + 1,"
                                " lease_owner = NULL, lease_until_ms = 0, updated_ms = $3"
                                " WHERE seq = $1 AND lease_owner = $2 AND state = 'pending'",
                                "event delivered"},
        [FR_EVENT_DEAD] = {"UPDATE events SET state = 'dead', attempts = attempts + 1,"
                           " last_error = $4, lease_owner = NULL, lease_until_ms = 0,"
                           " updated_ms = $3"
                           " WHERE seq = $1 AND lease_owner = $2 AND state = 'pending'",
                           "event dead"},
    };
    FR_ASSERT((size_t)state < FR_ARRAY_LEN(by_state));
    const char *op = by_state[state].op;
    struct params p = {0};
    p_int(&p, seq);
    p_text(&p, owner);
    p_int(&p, now_ms);
    /* only the parameters the statement uses: the server must infer every one's type */
    if (state != FR_EVENT_DELIVERED)
        p_text(&p, error);
    if (state == FR_EVENT_PENDING)
        p_int(&p, next_attempt_ms);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s, by_state[state].sql, &p, &res, err, op);
    if (!rc && changed(res) == 0)
        rc = fr_err_set(err, FR_ENOTFOUND, 0,
                        "%s: event %lld is not pending under a lease of \"%s\" (%s)", op,
                        (long long)seq, owner, s->where);
    PQclear(res);
    return rc;
}

static int pg_events_release(struct fr_store *base, const char *owner, struct fr_err *err)
{
    const char *op = "events release";
    struct params p = {0};
    p_text(&p, owner);
    struct pg_store *s;
    return enter_exec(
        base, &s, "UPDATE events SET lease_owner = NULL, lease_until_ms = 0 WHERE lease_owner = $1",
        &p, NULL, err, op);
}

static int pg_dlq_list(struct fr_store *base, const char *source, size_t limit,
                       int (*fn)(const struct fr_event *e, void *ud), void *ud, struct fr_err *err)
{
    const char *op = "dlq list";
    struct params p = {0};
    p_limit(&p, limit);
    p_text(&p, source);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "SELECT " EVENT_COLUMNS " FROM events WHERE state = 'dead'"
                        " AND ($2::text IS NULL OR source = $2)"
                        " ORDER BY updated_ms DESC, seq DESC LIMIT $1::bigint",
                        &p, &res, err, op);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct fr_event e;
        rc = read_event(s, res, i, false, &e, err, op);
        if (rc)
            break;
        int stop = fn(&e, ud);
        fr_event_release(&e);
        if (stop)
            break;
    }
    PQclear(res);
    return rc;
}

static int pg_event_get(struct fr_store *base, int64_t seq, struct fr_event *out,
                        struct fr_err *err)
{
    const char *op = "event get";
    memset(out, 0, sizeof(*out));
    struct params p = {0};
    p_int(&p, seq);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s, "SELECT " EVENT_COLUMNS ", body FROM events WHERE seq = $1", &p,
                        &res, err, op);
    if (!rc && PQntuples(res) == 1)
        rc = read_event(s, res, 0, true, out, err, op);
    else if (!rc)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "event get: no event %lld", (long long)seq);
    PQclear(res);
    return rc;
}

/* Runs a dead-letter change; FR_ENOTFOUND when one named event (seq) was not dead. */
static int dlq_change(struct fr_store *base, const char *sql, const struct params *p, int64_t seq,
                      uint64_t *count, struct fr_err *err, const char *op)
{
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s, sql, p, &res, err, op);
    if (rc)
        return rc;
    uint64_t n = changed(res);
    PQclear(res);
    if (count)
        *count = n;
    if (seq && n == 0)
        return fr_err_set(err, FR_ENOTFOUND, 0, "%s: event %lld is not dead (%s)", op,
                          (long long)seq, s->where);
    return FR_OK;
}

static int pg_dlq_replay(struct fr_store *base, int64_t seq, const char *source, int64_t now_ms,
                         uint64_t *count, struct fr_err *err)
{
    const char *op = "dlq replay";
    struct params p = {0};
    p_int(&p, now_ms);
    p_int(&p, seq);
    p_text(&p, source);
    return dlq_change(base,
                      "UPDATE events SET state = 'pending', attempts = 0, next_attempt_ms = $1,"
                      " updated_ms = $1, lease_owner = NULL, lease_until_ms = 0"
                      " WHERE state = 'dead' AND ($2::bigint = 0 OR seq = $2::bigint)"
                      " AND ($2::bigint <> 0 OR $3::text IS NULL OR source = $3)",
                      &p, seq, count, err, op);
}

static int pg_dlq_purge(struct fr_store *base, int64_t seq, int64_t older_than_ms, uint64_t *count,
                        struct fr_err *err)
{
    const char *op = "dlq purge";
    struct params p = {0};
    p_int(&p, seq);
    p_int(&p, older_than_ms);
    return dlq_change(base,
                      "DELETE FROM events WHERE state = 'dead'"
                      " AND (CASE WHEN $1::bigint <> 0 THEN seq = $1::bigint"
                      " ELSE updated_ms < $2::bigint END)",
                      &p, seq, count, err, op);
}

static int pg_events_purge_delivered(struct fr_store *base, int64_t before_ms, size_t limit,
                                     uint64_t *count, struct fr_err *err)
{
    const char *op = "purge delivered";
    char source[FR_EVENT_SOURCE_MAX] = "";
    uint64_t total = 0;
    int rc = FR_OK;
    while (total < limit && rc == FR_OK) {
        /* The next source with delivered events: one probe of events_delivered. */
        struct params p = {0};
        p_text(&p, source);
        struct pg_store *s;
        PGresult *res = NULL;
        rc = enter_exec(base, &s,
                        "SELECT source FROM events WHERE state = 'delivered' AND source > $1"
                        " ORDER BY source LIMIT 1",
                        &p, &res, err, op);
        bool found = rc == FR_OK && PQntuples(res) == 1;
        if (found)
            fr_strlcpy(source, PQgetvalue(res, 0, 0), sizeof(source));
        PQclear(res);
        if (!found)
            break;
        p = (struct params){0};
        p_text(&p, source);
        p_int(&p, before_ms);
        p_int(&p, (int64_t)(limit - total));
        res = NULL;
        rc = enter_exec(base, &s,
                        "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
                        " WHERE state = 'delivered' AND source = $1 AND updated_ms < $2::bigint"
                        " ORDER BY updated_ms LIMIT $3::bigint)",
                        &p, &res, err, op);
        if (rc == FR_OK)
            total += changed(res);
        PQclear(res);
    }
    if (count)
        *count = total;
    return rc;
}

static int pg_queue_stats(struct fr_store *base, bool with_delivered,
                          int (*fn)(const struct fr_queue_stats *q, void *ud), void *ud,
                          struct fr_err *err)
{
    const char *op = "queue stats";
    struct params p = {0};
    p_text(&p, with_delivered ? "true" : "false");
    struct pg_store *s;
    PGresult *res = NULL;
    /* Each state through its own index; $1 false skips the delivered ones. */
    int rc = enter_exec(base, &s,
                        "SELECT source, sum(p), sum(d), sum(x), coalesce(min(o), 0) FROM ("
                        "SELECT source, count(*) AS p, 0 AS d, 0 AS x, min(received_ms) AS o"
                        " FROM events WHERE state = 'pending' GROUP BY source"
                        " UNION ALL SELECT source, 0, count(*), 0, NULL"
                        " FROM events WHERE state = 'delivered' AND $1::boolean GROUP BY source"
                        " UNION ALL SELECT source, 0, 0, count(*), NULL"
                        " FROM events WHERE state = 'dead' GROUP BY source) AS q"
                        " GROUP BY source ORDER BY source" C_ORDER,
                        &p, &res, err, op);
    for (int i = 0; !rc && i < PQntuples(res); i++) {
        struct fr_queue_stats q = {
            .source = PQgetvalue(res, i, 0),
            .pending = (uint64_t)col_i64(res, i, 1),
            .delivered = (uint64_t)col_i64(res, i, 2),
            .dead = (uint64_t)col_i64(res, i, 3),
            .oldest_pending_ms = col_i64(res, i, 4),
        };
        if (fn(&q, ud))
            break;
    }
    PQclear(res);
    return rc;
}

/* ---- schedule ------------------------------------------------------------------------- */

static int pg_schedule_claim(struct fr_store *base, const char *job, int64_t slot_ms,
                             const char *owner, int64_t now_ms, bool *claimed, struct fr_err *err)
{
    const char *op = "schedule claim";
    struct params p = {0};
    p_text(&p, job);
    p_int(&p, slot_ms);
    p_text(&p, owner);
    p_int(&p, now_ms);
    struct pg_store *s;
    PGresult *res = NULL;
    int rc = enter_exec(base, &s,
                        "INSERT INTO schedule_claims (job, slot_ms, owner, claimed_ms)"
                        " VALUES ($1, $2, $3, $4) ON CONFLICT (job, slot_ms) DO NOTHING",
                        &p, &res, err, op);
    if (!rc)
        *claimed = changed(res) == 1;
    PQclear(res);
    return rc;
}

/* ---- job run locks -------------------------------------------------------------------- */

static int pg_job_lock(struct fr_store *base, const char *job, uint64_t key, bool *held,
                       void **state, struct fr_err *err)
{
    (void)job;
    (void)state;
    const char *op = "job lock";
    struct pg_store *s;
    int rc = enter(base, &s, err, op);
    if (!rc)
        rc = try_advisory_lock(s, (int64_t)key, held, err, op);
    if (!rc && *held) {
        s->locked = true;
        s->relock = s->lock_lost = false;
        s->lock_key = (int64_t)key;
    }
    return rc;
}

static int pg_job_unlock(struct fr_store *base, const char *job, uint64_t key, void *state,
                         struct fr_err *err)
{
    (void)job;
    (void)key;
    (void)state;
    const char *op = "job unlock";
    struct pg_store *s = from_base(base);
    bool holds = s->locked && !s->lock_lost && !s->relock;
    s->locked = s->relock = s->lock_lost = false;
    if (!holds || PQstatus(s->conn) != CONNECTION_OK)
        return FR_OK; /* the server let it go with the connection */
    int rc = enter(base, &s, err, op);
    struct params p = {0};
    p_int(&p, s->lock_key);
    return rc ? rc : exec_p(s, "SELECT pg_advisory_unlock($1::bigint)", &p, NULL, err, op);
}

/* ---- open, migrate, close ------------------------------------------------------------- */

/* The newest version in schema_migrations; 0 when the table does not exist (yet). */
static int schema_version(struct pg_store *s, int64_t *out, struct fr_err *err)
{
    *out = 0;
    PGresult *res = NULL;
    /* two statements: one naming a missing table fails to plan, whatever branch would run */
    int rc = exec_p(s, "SELECT to_regclass('schema_migrations') IS NOT NULL", NULL, &res, err,
                    "schema version");
    bool exists = !rc && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (rc || !exists)
        return rc;
    rc = exec_p(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, &res, err,
                "schema version");
    if (!rc)
        *out = col_i64(res, 0, 0);
    PQclear(res);
    return rc;
}

static int pg_schema(struct fr_store *base, int64_t *current, int64_t *latest, struct fr_err *err)
{
    struct pg_store *s;
    int rc = enter(base, &s, err, "schema version");
    *latest = (int64_t)FR_ARRAY_LEN(migrations);
    return rc ? rc : schema_version(s, current, err);
}

/*
 * Applies every pending migration in one transaction under an advisory
 * lock: instances starting together wait for the first, then find nothing
 * to do. *applied (may be NULL) says how many this call applied.
 */
static int pg_migrate(struct fr_store *base, int64_t *applied, struct fr_err *err)
{
    const char *op = "schema migration";
    struct pg_store *s;
    if (applied)
        *applied = 0;
    int rc = enter_tx(base, &s, err, op);
    if (rc)
        return rc;
    struct params p = {0};
    p_int(&p, MIGRATION_LOCK_KEY);
    rc = exec_p(s, "SELECT pg_advisory_xact_lock($1)", &p, NULL, err, op);
    if (!rc)
        rc = exec_sql(s,
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                      err, op);
    int64_t current = 0, known = (int64_t)FR_ARRAY_LEN(migrations);
    if (!rc)
        rc = schema_version(s, &current, err);
    if (!rc && current > known)
        rc = fr_err_set(err, FR_ESTORE, 0,
                        "store %s has schema version %lld, newer than this ferry knows (%lld); "
                        "upgrade ferry",
                        s->where, (long long)current, (long long)known);
    char now[40];
    fr_format_rfc3339(fr_wall_ms(), now, sizeof(now));
    for (int64_t v = current + 1; !rc && v <= known; v++) {
        char what[64];
        snprintf(what, sizeof(what), "schema migration %lld", (long long)v);
        rc = exec_sql(s, migrations[v - 1], err, what);
        p = (struct params){0};
        p_int(&p, v);
        p_text(&p, now);
        if (!rc)
            rc = exec_p(s, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        &p, NULL, err, what);
    }
    rc = tx_end(s, rc, err, op);
    if (!rc && applied)
        *applied = known > current ? known - current : 0;
    return rc;
}

static void pg_close(struct fr_store *base)
{
    struct pg_store *s = from_base(base);
    PQfinish(s->conn);
    free(s->where);
    free(s);
}

/*
 * libpq's connect messages may quote the conninfo it was handed (`invalid
 * percent-encoded token: "..."`, `missing "=" after "..."`): the quoted
 * parts that hold the URL's password are masked before the message is kept.
 */
static int connect_failed(struct pg_store *s, const char *url, struct fr_err *err)
{
    if (!s->conn)
        return fr_err_set(err, FR_ESTORE, 0, "connect: out of memory (%s)", s->where);
    char *m = fr_redact_url_quotes(PQerrorMessage(s->conn), url);
    size_t len = strlen(m);
    while (len && (m[len - 1] == '\n' || m[len - 1] == ' '))
        len--;
    int rc = fr_err_set(err, FR_ESTORE, 0, "connect: %.*s (%s)", (int)len, m, s->where);
    free(m);
    return rc;
}

/* libpq prints the server's notices on stderr by default; ferry's stderr is JSON log lines. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int fr__store_pg_open(const char *url, const char *rest, const char *base_dir, unsigned flags,
                      struct fr_store **out, struct fr_err *err)
{
    (void)rest;
    (void)base_dir;
    struct pg_store *s = fr_calloc(1, sizeof(*s));
    s->base.ops = &pg_ops;
    s->where = fr_redact_url(url);
    /* a URL, with libpq's PG* environment variables filling what it leaves out */
    s->conn = PQconnectdb(url);
    int rc = FR_OK;
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK)
        rc = connect_failed(s, url, err);
    if (!rc) {
        PQsetNoticeProcessor(s->conn, ignore_notice, NULL);
        rc = exec_sql(s, "SET synchronous_commit = on", err, "connect");
    }
    if (!rc && !(flags & FR_STORE_NO_MIGRATE))
        rc = pg_migrate(&s->base, NULL, err);
    if (rc) {
        pg_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return FR_OK;
}

static const struct fr_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .run_begin = pg_run_begin,
    .run_finish = pg_run_finish,
    .run_get = pg_run_get,
    .runs_list = pg_runs_list,
    .run_add_failures = pg_run_add_failures,
    .run_failures = pg_run_failures,
    .journal_get = pg_journal_get,
    .journal_update = pg_journal_update,
    .journal_by_run = pg_journal_by_run,
    .journal_commit = pg_journal_commit,
    .journal_inflight = pg_journal_inflight,
    .journal_forget = pg_journal_forget,
    .watermark_get = pg_watermark_get,
    .watermark_set = pg_watermark_set,
    .events_add = pg_events_add,
    .events_claim = pg_events_claim,
    .event_outcome = pg_event_outcome,
    .events_release = pg_events_release,
    .dlq_list = pg_dlq_list,
    .event_get = pg_event_get,
    .dlq_replay = pg_dlq_replay,
    .dlq_purge = pg_dlq_purge,
    .events_purge_delivered = pg_events_purge_delivered,
    .queue_stats = pg_queue_stats,
    .run_last = pg_run_last,
    .ping = pg_ping,
    .write_check = pg_write_check,
    .schedule_claim = pg_schedule_claim,
    .job_lock = pg_job_lock,
    .job_unlock = pg_job_unlock,
    .schema = pg_schema,
    .migrate = pg_migrate,
};
