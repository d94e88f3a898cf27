#include "core/common.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/sqlite_checkpoint.h"
#include "store/store_int.h"

/*
 * The SQLite backend: one connection per struct fr_store.
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction is in
 * the WAL file before COMMIT returns, so it survives the ferry process
 * being killed at any instant (what the crash tests do); only a power loss
 * or OS crash can lose the last transactions, never corrupt the file.
 * synchronous=FULL would fsync every commit, which costs more than the
 * journal writes themselves and buys nothing against a killed process.
 * SQLite's automatic checkpoints are replaced by a checkpointer thread per
 * file (sqlite_checkpoint.c), so no commit waits for the WAL to be copied.
 */

/* ---- schema --------------------------------------------------------------------------- */

/*
 * Migrations, applied in order, each once, each in its own transaction.
 * Never edit one that has shipped: append a new one instead.
 */
static const char *const migrations[] = {
    /* 1: runs, their failures, and the per-key journal */
    "CREATE TABLE runs ("
    " id TEXT NOT NULL PRIMARY KEY,"
    " job TEXT NOT NULL,"
    " status TEXT NOT NULL,"
    " exit_code INTEGER NOT NULL DEFAULT -1,"
    " started_ms INTEGER NOT NULL,"
    " ended_ms INTEGER NOT NULL DEFAULT 0,"
    " read INTEGER NOT NULL DEFAULT 0,"
    " sent INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL DEFAULT 0,"
    " duplicate INTEGER NOT NULL DEFAULT 0,"
    " rejected INTEGER NOT NULL DEFAULT 0,"
    " failed INTEGER NOT NULL DEFAULT 0,"
    " changed INTEGER NOT NULL DEFAULT 0,"
    " skipped INTEGER NOT NULL DEFAULT 0,"
    " requests INTEGER NOT NULL DEFAULT 0,"
    " retries INTEGER NOT NULL DEFAULT 0,"
    " rate_limited INTEGER NOT NULL DEFAULT 0,"
    " token_refreshes INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX runs_job_started ON runs(job, started_ms);"
    "CREATE TABLE run_failures ("
    " run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " key TEXT,"
    " line INTEGER NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL,"
    " reason TEXT,"
    " PRIMARY KEY (run_id, seq));"
    /*
     * WITHOUT ROWID: the (job, key) primary key is the table, one b-tree fewer per upsert.
     * No index on run_id: every push writes each key twice, and such an index cost about a
     * third of ferry's CPU per record; journal_by_run (rollback) scans instead.
     */
    "CREATE TABLE journal ("
    " job TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " state TEXT NOT NULL"
    /* OR, not IN (...): SQLite builds an ephemeral table for IN on every execution */
    "  CHECK (state = 'inflight' OR state = 'created' OR state = 'duplicate'"
    "   OR state = 'failed' OR state = 'rolled_back'),"
    " payload_hash TEXT,"
    " run_id TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " first_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (job, key)) WITHOUT ROWID;",
    /*
     * 2: received webhook events. seq is the rowid (no AUTOINCREMENT: its extra table buys
     * nothing while rows are rarely deleted). lease_until_ms 0 means no lease. events_due
     * serves claim in its order (the rowid ends every index entry) and, by state, the dead
     * rows for the dead-letter listing (sorted: the queue is small) and purge; the partial
     * indexes hold only dead rows, for one source's listing and replay, and only leased rows,
     * for release.
     */
    "CREATE TABLE events ("
    " seq INTEGER PRIMARY KEY,"
    " source TEXT NOT NULL CHECK (length(source) BETWEEN 1 AND 127),"
    " event_id TEXT NOT NULL,"
    " content_type TEXT,"
    " body BLOB NOT NULL,"
    " state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'dead'),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " received_ms INTEGER NOT NULL,"
    " next_attempt_ms INTEGER NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " updated_ms INTEGER NOT NULL,"
    " UNIQUE (source, event_id));"
    "CREATE INDEX events_due ON events(state, next_attempt_ms);"
    "CREATE INDEX events_dead_source ON events(source, updated_ms) WHERE state = 'dead';"
    "CREATE INDEX events_leased ON events(lease_owner) WHERE lease_owner IS NOT NULL;",
    /*
     * 3: keys in flight, one row per batch sent (keys joined by NUL bytes): marking a batch
     * costs one row instead of one upsert per key, and a run that finishes leaves none.
     */
    "CREATE TABLE journal_inflight ("
    " job TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL,"
    " sent_ms INTEGER NOT NULL,"
    " keys BLOB NOT NULL,"
    " PRIMARY KEY (job, run_id, seq)) WITHOUT ROWID;",
    /*
     * 4: pull jobs: each job's watermark (saved after its sink commits), and the pages
     * fetched and records written per run.
     */
    "CREATE TABLE watermarks ("
    " job TEXT NOT NULL PRIMARY KEY,"
    " value TEXT NOT NULL,"
    " run_id TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "ALTER TABLE runs ADD COLUMN pages INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN written INTEGER NOT NULL DEFAULT 0;",
    /* 5: status and alerts ask for each job's newest run in a given status (the last success). */
    "CREATE INDEX runs_job_status_started ON runs(job, status, started_ms);",
    /* 6: which instance took each scheduled slot of each job: one run per slot */
    "CREATE TABLE schedule_claims ("
    " job TEXT NOT NULL,"
    " slot_ms INTEGER NOT NULL,"
    " owner TEXT NOT NULL,"
    " claimed_ms INTEGER NOT NULL,"
    " PRIMARY KEY (job, slot_ms)) WITHOUT ROWID;",
    /*
     * 7: delivered events by source and delivery time: each source's past
     * webhooks.retention are deleted in order, and counted in source order without
     * reading the events (state too is in the index, or SQLite 3.40 would read each
     * event to test it).
     */
    "CREATE INDEX events_delivered ON events(source, updated_ms, state) WHERE state = 'delivered';",
    /*
     * 8: why a run failed or was interrupted, in one line ('' when nothing went wrong), and
     * the host and process that ran it (the holder a second run names).
     */
    "ALTER TABLE runs ADD COLUMN reason TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE runs ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;",
    /*
     * 9: an event's second key (the body's SHA-256 for a source that dedupes by content):
     * unique within its source where given.
     */
    "ALTER TABLE events ADD COLUMN content_key TEXT;"
    "CREATE UNIQUE INDEX events_content ON events(source, content_key)"
    " WHERE content_key IS NOT NULL;",
};

/* ---- cached statements ---------------------------------------------------------------- */

#define COUNT_NAME(f)  ", " #f
#define COUNT_PARAM(f) ", ?"
#define RUN_COLUMNS                                                                                \
    "id, job, status, exit_code, started_ms, ended_ms" FR__RUN_COUNTS(                             \
        COUNT_NAME) ", reason, host, pid"
#define JOURNAL_COLUMNS "state, payload_hash, run_id, attempts, last_error, first_ms, updated_ms"
/* read_event's order; EVENT_BODY_COL is the body where a query selects it */
#define EVENT_COLUMNS                                                                              \
    "seq, source, event_id, content_type, state, attempts, received_ms, next_attempt_ms,"          \
    " updated_ms, last_error"
#define EVENT_BODY_COL 10
/* the ownership check of every outcome: ?1 seq, ?2 owner */
#define EVENT_HELD " WHERE seq = ?1 AND lease_owner = ?2 AND state = 'pending'"

enum stmt_id {
    ST_BEGIN,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_JOURNAL_GET,
    ST_JOURNAL_UPSERT,       /* one row: SQL from upsert_sql() */
    ST_JOURNAL_UPSERT_CHUNK, /* UPSERT_CHUNK rows: SQL from upsert_sql() */
    ST_JOURNAL_BY_RUN,
    ST_INFLIGHT_INSERT,
    ST_INFLIGHT_DELETE,
    ST_INFLIGHT_LIST,
    ST_JOURNAL_BY_RUN_STATE,
    ST_RUN_INTERRUPT,
    ST_RUN_INSERT,
    ST_RUN_FINISH,
    ST_RUN_GET,
    ST_RUNS_ALL,
    ST_RUNS_JOB,
    ST_FAILURE_NEXT_SEQ,
    ST_FAILURE_INSERT,
    ST_FAILURES,
    ST_SYNC_FULL,
    ST_SYNC_NORMAL,
    ST_EVENT_INSERT,
    ST_EVENTS_DUE,
    ST_EVENT_LEASE,
    ST_EVENT_DELIVERED,
    ST_EVENT_RETRY,
    ST_EVENT_DEAD,
    ST_EVENTS_RELEASE,
    ST_DLQ_ALL,
    ST_DLQ_SOURCE,
    ST_EVENT_GET,
    ST_DLQ_REPLAY_ONE,
    ST_DLQ_REPLAY_ALL,
    ST_DLQ_REPLAY_SOURCE,
    ST_DLQ_PURGE_ONE,
    ST_DLQ_PURGE_OLDER,
    ST_DELIVERED_NEXT_SOURCE,
    ST_PURGE_DELIVERED,
    ST_QUEUE_STATS,
    ST_WATERMARK_GET,
    ST_WATERMARK_SET,
    ST_RUN_LAST_STATUS,
    ST_PING,
    ST_WRITE_CHECK,
    ST_SCHEDULE_CLAIM,
    ST__COUNT
};

#define COUNT_SET(f) ", " #f " = ?"
/* the reason of a run found "running" when a later run of its job begins (?2) */
#define RUN_DIED_REASON                                                                            \
    "'its process stopped without recording how the run ended; found when run ' || ?2 || ' began'"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_JOURNAL_GET] = "SELECT " JOURNAL_COLUMNS " FROM journal WHERE job = ?1 AND key = ?2",
    /* ?6 is 1 when the update counts as an attempt; ?4 NULL keeps the stored hash */
    [ST_JOURNAL_BY_RUN] = "SELECT key, " JOURNAL_COLUMNS " FROM journal WHERE run_id = ?1",
    [ST_JOURNAL_BY_RUN_STATE] =
        "SELECT key, " JOURNAL_COLUMNS " FROM journal WHERE run_id = ?1 AND state = ?2",
    [ST_INFLIGHT_INSERT] = "INSERT INTO journal_inflight (job, run_id, seq, sent_ms, keys)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_INFLIGHT_DELETE] =
        "DELETE FROM journal_inflight WHERE job = ?1 AND run_id = ?2 AND seq = ?3",
    [ST_INFLIGHT_LIST] = "SELECT run_id, seq, sent_ms, keys FROM journal_inflight"
                         " WHERE job = ?1 AND run_id IS NOT ?2 ORDER BY sent_ms, run_id, seq",
    [ST_RUN_INTERRUPT] = "UPDATE runs SET status = 'interrupted', reason = CASE WHEN reason = ''"
                         " THEN " RUN_DIED_REASON " ELSE reason END"
                         " WHERE job = ?1 AND status = 'running' AND id <> ?2",
    [ST_RUN_INSERT] = "INSERT INTO runs (" RUN_COLUMNS
                      ") VALUES (?, ?, ?, ?, ?, ?" FR__RUN_COUNTS(COUNT_PARAM) ", ?, ?, ?)",
    [ST_RUN_FINISH] = "UPDATE runs SET status = ?, exit_code = ?, ended_ms = ?" FR__RUN_COUNTS(
        COUNT_SET) ", reason = ? WHERE id = ?",
    [ST_RUN_GET] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1",
    [ST_RUNS_ALL] = "SELECT " RUN_COLUMNS " FROM runs ORDER BY started_ms DESC, id DESC LIMIT ?1",
    [ST_RUNS_JOB] = "SELECT " RUN_COLUMNS " FROM runs WHERE job = ?2"
                    " ORDER BY started_ms DESC, id DESC LIMIT ?1",
    [ST_RUN_LAST_STATUS] = "SELECT " RUN_COLUMNS " FROM runs WHERE job = ?1 AND status = ?2"
                           " ORDER BY started_ms DESC, id DESC LIMIT 1",
    [ST_PING] = "SELECT count(*) FROM schema_migrations",
    /* rolled back at once: it only proves that a row could be written */
    [ST_WRITE_CHECK] =
        "INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 'write check')",
    [ST_SCHEDULE_CLAIM] = "INSERT INTO schedule_claims (job, slot_ms, owner, claimed_ms)"
                          " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (job, slot_ms) DO NOTHING",
    [ST_FAILURE_NEXT_SEQ] = "SELECT coalesce(max(seq), 0) + 1 FROM run_failures WHERE run_id = ?1",
    [ST_FAILURE_INSERT] =
        "INSERT INTO run_failures (run_id, seq, key, line, kind, reason) VALUES (?, ?, ?, ?, ?, ?)",
    [ST_FAILURES] =
        "SELECT key, line, kind, reason FROM run_failures WHERE run_id = ?1 ORDER BY seq",
    /* SQLite refuses to change synchronous inside a transaction: around it, then */
    [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
    [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
    /* no conflict target: a repeat of either key, (source, event_id) or (source, content_key) */
    [ST_EVENT_INSERT] = "INSERT INTO events (source, event_id, content_type, body, state,"
                        " received_ms, next_attempt_ms, updated_ms, content_key)"
                        " VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5, ?6)"
                        " ON CONFLICT DO NOTHING",
    /* literal 'pending' (not a parameter) so the planner can use events_due for the order */
    [ST_EVENTS_DUE] = "SELECT " EVENT_COLUMNS ", body FROM events"
                      " WHERE state = 'pending' AND next_attempt_ms <= ?1 AND lease_until_ms <= ?1"
                      " ORDER BY next_attempt_ms, seq LIMIT ?2",
    [ST_EVENT_LEASE] = "UPDATE events SET lease_owner = ?2, lease_until_ms = ?3 WHERE seq = ?1",
    /* ?3 now_ms, ?4 error */
    [ST_EVENT_DELIVERED] = "UPDATE events SET state = 'delivered', attempts = attempts + 1,"
                           " lease_owner = NULL, lease_until_ms = 0, updated_ms = ?3" EVENT_HELD,
    [ST_EVENT_RETRY] = "UPDATE events SET attempts = attempts + 1, next_attempt_ms = ?5,"
                       " last_error = ?4, lease_owner = NULL, lease_until_ms = 0,"
                       " updated_ms = ?3" EVENT_HELD,
    [ST_EVENT_DEAD] = "UPDATE events SET state = 'dead', attempts = attempts + 1,"
                      " last_error = ?4, lease_owner = NULL, lease_until_ms = 0,"
                      " updated_ms = ?3" EVENT_HELD,
    [ST_EVENTS_RELEASE] = "UPDATE events SET lease_owner = NULL, lease_until_ms = 0"
                          " WHERE lease_owner = ?1",
    [ST_DLQ_ALL] = "SELECT " EVENT_COLUMNS " FROM events WHERE state = 'dead'"
                   " ORDER BY updated_ms DESC, seq DESC LIMIT ?1",
    [ST_DLQ_SOURCE] = "SELECT " EVENT_COLUMNS " FROM events WHERE state = 'dead' AND source = ?2"
                      " ORDER BY updated_ms DESC, seq DESC LIMIT ?1",
    [ST_EVENT_GET] = "SELECT " EVENT_COLUMNS ", body FROM events WHERE seq = ?1",
    /* ?1 now_ms */
    [ST_DLQ_REPLAY_ONE] = "UPDATE events SET state = 'pending', attempts = 0,"
                          " next_attempt_ms = ?1, updated_ms = ?1, lease_owner = NULL,"
                          " lease_until_ms = 0 WHERE state = 'dead' AND seq = ?2",
    [ST_DLQ_REPLAY_ALL] = "UPDATE events SET state = 'pending', attempts = 0,"
                          " next_attempt_ms = ?1, updated_ms = ?1, lease_owner = NULL,"
                          " lease_until_ms = 0 WHERE state = 'dead'",
    [ST_DLQ_REPLAY_SOURCE] = "UPDATE events SET state = 'pending', attempts = 0,"
                             " next_attempt_ms = ?1, updated_ms = ?1, lease_owner = NULL,"
                             " lease_until_ms = 0 WHERE state = 'dead' AND source = ?2",
    [ST_DLQ_PURGE_ONE] = "DELETE FROM events WHERE state = 'dead' AND seq = ?1",
    [ST_DLQ_PURGE_OLDER] = "DELETE FROM events WHERE state = 'dead' AND updated_ms < ?1",
    [ST_DELIVERED_NEXT_SOURCE] = "SELECT source FROM events INDEXED BY events_delivered"
                                 " WHERE state = 'delivered' AND source > ?1"
                                 " ORDER BY source LIMIT 1",
    [ST_PURGE_DELIVERED] = "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
                           " INDEXED BY events_delivered WHERE state = 'delivered'"
                           " AND source = ?1 AND updated_ms < ?2 ORDER BY updated_ms LIMIT ?3)",
    /*
     * Each state through its own index (named: without statistics SQLite would take
     * events_due for all three); ?1 false skips the delivered ones.
     */
    [ST_QUEUE_STATS] = "SELECT source, sum(p), sum(d), sum(x), coalesce(min(o), 0) FROM ("
                       "SELECT source, count(*) AS p, 0 AS d, 0 AS x, min(received_ms) AS o"
                       " FROM events WHERE state = 'pending' GROUP BY source"
                       " UNION ALL SELECT source, 0, count(*), 0, NULL"
                       " FROM events INDEXED BY events_delivered"
                       " WHERE state = 'delivered' AND ?1 GROUP BY source"
                       " UNION ALL SELECT source, 0, 0, count(*), NULL"
                       " FROM events INDEXED BY events_dead_source"
                       " WHERE state = 'dead' GROUP BY source)"
                       " GROUP BY source ORDER BY source",
    [ST_WATERMARK_GET] = "SELECT value, run_id, updated_ms FROM watermarks WHERE job = ?1",
    [ST_WATERMARK_SET] = "INSERT INTO watermarks (job, value, run_id, updated_ms)"
                         " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (job) DO UPDATE SET"
                         " value = excluded.value, run_id = excluded.run_id,"
                         " updated_ms = excluded.updated_ms",
};

struct sqlite_store {
    struct fr_store base; /* first: the handle is a struct fr_store */
    sqlite3 *db;
    char *path; /* as opened, for messages */
    sqlite3_stmt *stmts[ST__COUNT];
    /* the file's checkpointer, shared with the process's other handles on it */
    struct fr__sqlite_checkpointer *ckpt;
    /* the read snapshot that consecutive journal_get calls share (see journal_get) */
    bool reading;
    unsigned read_gets;
    int64_t read_since_ms;
};

/*
 * Consecutive journal_get calls share one read transaction, for at most
 * this many calls and this long: an autocommit SELECT costs four fcntl
 * lock calls, more than the lookup itself. Any other operation ends the
 * snapshot first, so a handle always sees its own writes; another
 * handle's commits show up within READ_SNAPSHOT_MS. The price: a handle
 * that goes idle right after a get keeps its snapshot until its next call,
 * and meanwhile no checkpoint can move the WAL past it (the WAL grows; no
 * writer waits).
 */
#define READ_SNAPSHOT_GETS 1000
#define READ_SNAPSHOT_MS   10

/* How long an operation waits for another connection's write lock before "database is locked". */
#define BUSY_TIMEOUT_MS 5000

static const struct fr_store_ops sqlite_ops;

static struct sqlite_store *from_base(struct fr_store *st)
{
    return (struct sqlite_store *)st;
}

static int run_cached(struct sqlite_store *s, enum stmt_id id, struct fr_err *err, const char *op);

/* Ends the journal_get read snapshot, if one is open. */
static void end_read(struct sqlite_store *s)
{
    if (!s->reading)
        return;
    s->reading = false;
    /* a read transaction has nothing to lose: if COMMIT fails, ROLLBACK */
    if (run_cached(s, ST_COMMIT, NULL, "end read") && !sqlite3_get_autocommit(s->db))
        run_cached(s, ST_ROLLBACK, NULL, "end read");
}

/* The handle of an operation other than journal_get, with no read snapshot open. */
static struct sqlite_store *enter(struct fr_store *st)
{
    struct sqlite_store *s = from_base(st);
    end_read(s);
    return s;
}

/* Opens or renews the read snapshot journal_get runs in; on failure gets run in autocommit. */
static void begin_read(struct sqlite_store *s)
{
    if (s->reading && (++s->read_gets >= READ_SNAPSHOT_GETS ||
                       fr_now_ms() - s->read_since_ms >= READ_SNAPSHOT_MS))
        end_read(s);
    if (s->reading || !sqlite3_get_autocommit(s->db))
        return;
    if (run_cached(s, ST_BEGIN_READ, NULL, "begin read") == FR_OK) {
        s->reading = true;
        s->read_gets = 0;
        s->read_since_ms = fr_now_ms();
    }
}

/* Records SQLite's current error for op ("journal update: database is locked"). */
static int fail(struct sqlite_store *s, struct fr_err *err, const char *op)
{
    return fr_err_set(err, FR_ESTORE, sqlite3_extended_errcode(s->db), "%s: %s (sqlite:%s)", op,
                      sqlite3_errmsg(s->db), s->path);
}

/*
 * Journal rows are upserted UPSERT_CHUNK at a time by one multi-row
 * statement: a statement execution costs about as much as the row it
 * writes, so batches of 100 take two executions instead of 100.
 */
#define UPSERT_CHUNK   50
#define UPSERT_SHARED  3 /* ?1 job, ?2 run_id, ?3 now_ms */
#define UPSERT_PER_ROW 5 /* key, state, payload_hash, attempts, last_error */

/* The upsert of rows rows; the caller frees it. ?4 NULL keeps the stored hash. */
static char *upsert_sql(size_t rows)
{
    size_t cap = 512 + rows * 64, used = 0;
    char *sql = fr_malloc(cap);
    used += (size_t)snprintf(sql, cap,
                             "INSERT INTO journal (job, key, state, payload_hash, run_id, attempts,"
                             " last_error, first_ms, updated_ms) VALUES ");
    for (size_t r = 0; r < rows; r++) {
        int p = UPSERT_SHARED + 1 + (int)r * UPSERT_PER_ROW;
        used +=
            (size_t)snprintf(sql + used, cap - used, "%s(?1, ?%d, ?%d, ?%d, ?2, ?%d, ?%d, ?3, ?3)",
                             r ? ", " : "", p, p + 1, p + 2, p + 3, p + 4);
    }
    snprintf(sql + used, cap - used,
             " ON CONFLICT (job, key) DO UPDATE SET state = excluded.state,"
             " payload_hash = coalesce(excluded.payload_hash, journal.payload_hash),"
             " run_id = excluded.run_id, attempts = journal.attempts + excluded.attempts,"
             " last_error = excluded.last_error, updated_ms = excluded.updated_ms");
    return sql;
}

/* The cached statement id, prepared on first use; reset and ready to bind. */
static int stmt(struct sqlite_store *s, enum stmt_id id, sqlite3_stmt **out, struct fr_err *err,
                const char *op)
{
    if (!s->stmts[id]) {
        char *generated = NULL;
        if (id == ST_JOURNAL_UPSERT || id == ST_JOURNAL_UPSERT_CHUNK)
            generated = upsert_sql(id == ST_JOURNAL_UPSERT ? 1 : UPSERT_CHUNK);
        int prc = sqlite3_prepare_v3(s->db, generated ? generated : stmt_sql[id], -1,
                                     SQLITE_PREPARE_PERSISTENT, &s->stmts[id], NULL);
        free(generated);
        if (prc != SQLITE_OK)
            return fail(s, err, op);
    }
    *out = s->stmts[id];
    return FR_OK;
}

/* Steps a statement that returns no rows, then resets it. */
static int run_stmt(struct sqlite_store *s, sqlite3_stmt *st, struct fr_err *err, const char *op)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? FR_OK : fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

static int run_cached(struct sqlite_store *s, enum stmt_id id, struct fr_err *err, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, id, &st, err, op);
    return rc ? rc : run_stmt(s, st, err, op);
}

static int tx_begin(struct sqlite_store *s, struct fr_err *err, const char *op)
{
    return run_cached(s, ST_BEGIN, err, op);
}

static void tx_rollback(struct sqlite_store *s)
{
    /* the error that made us roll back is already recorded; this one would not win */
    if (!sqlite3_get_autocommit(s->db))
        run_cached(s, ST_ROLLBACK, NULL, "rollback");
}

static int tx_commit(struct sqlite_store *s, struct fr_err *err, const char *op)
{
    int rc = run_cached(s, ST_COMMIT, err, op);
    if (rc)
        tx_rollback(s);
    return rc;
}

/* Ends a transaction: commits when rc is FR_OK, else rolls back. Returns the outcome. */
static int tx_end(struct sqlite_store *s, int rc, struct fr_err *err, const char *op)
{
    if (rc) {
        tx_rollback(s);
        return rc;
    }
    return tx_commit(s, err, op);
}

/* Iterating statements are shared: a callback that restarts its own listing would reset it. */
static int check_not_busy(sqlite3_stmt *st, struct fr_err *err, const char *op)
{
    if (sqlite3_stmt_busy(st))
        return fr_err_set(err, FR_EINVAL, 0, "%s: called again from its own callback", op);
    return FR_OK;
}

static const char *column_str(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* ---- runs ----------------------------------------------------------------------------- */

/* Binds the counts from parameter index first on; returns the next free index. */
static int bind_counts(sqlite3_stmt *st, int first, const struct fr_run_counts *c)
{
    int i = first;
#define BIND_COUNT(f) sqlite3_bind_int64(st, i++, (sqlite3_int64)c->f);
    FR__RUN_COUNTS(BIND_COUNT)
#undef BIND_COUNT
    return i;
}

static void read_run(sqlite3_stmt *st, struct fr_run *r)
{
    memset(r, 0, sizeof(*r));
    fr_strlcpy(r->id, column_str(st, 0), sizeof(r->id));
    fr_strlcpy(r->job, column_str(st, 1), sizeof(r->job));
    fr_strlcpy(r->status, column_str(st, 2), sizeof(r->status));
    r->exit_code = sqlite3_column_int(st, 3);
    r->started_ms = sqlite3_column_int64(st, 4);
    r->ended_ms = sqlite3_column_int64(st, 5);
    int i = 6;
#define READ_COUNT(f) r->counts.f = (uint64_t)sqlite3_column_int64(st, i++);
    FR__RUN_COUNTS(READ_COUNT)
#undef READ_COUNT
    fr_strlcpy(r->reason, column_str(st, i), sizeof(r->reason));
    fr_strlcpy(r->host, column_str(st, i + 1), sizeof(r->host));
    r->pid = sqlite3_column_int64(st, i + 2);
}

static int sq_run_begin(struct fr_store *base, const struct fr_run *run, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "run begin";
    sqlite3_stmt *interrupt = NULL, *insert = NULL;
    int rc = stmt(s, ST_RUN_INTERRUPT, &interrupt, err, op);
    if (!rc)
        rc = stmt(s, ST_RUN_INSERT, &insert, err, op);
    if (!rc)
        rc = tx_begin(s, err, op);
    if (rc)
        return rc;
    /* ended_ms of an interrupted run stays 0: nobody knows when that process died */
    sqlite3_bind_text(interrupt, 1, run->job, -1, SQLITE_STATIC);
    sqlite3_bind_text(interrupt, 2, run->id, -1, SQLITE_STATIC);
    rc = run_stmt(s, interrupt, err, op);
    if (!rc) {
        sqlite3_bind_text(insert, 1, run->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 2, run->job, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, "running", -1, SQLITE_STATIC);
        sqlite3_bind_int(insert, 4, -1);
        sqlite3_bind_int64(insert, 5, run->started_ms);
        sqlite3_bind_int64(insert, 6, 0);
        int next = bind_counts(insert, 7, &run->counts);
        sqlite3_bind_text(insert, next, "", -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, next + 1, run->host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, next + 2, run->pid);
        rc = run_stmt(s, insert, err, op);
    }
    return tx_end(s, rc, err, op);
}

static int sq_run_finish(struct fr_store *base, const struct fr_run *run, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_RUN_FINISH, &st, err, "run finish");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, run->status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, run->exit_code);
    sqlite3_bind_int64(st, 3, run->ended_ms);
    int next = bind_counts(st, 4, &run->counts);
    sqlite3_bind_text(st, next, run->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, next + 1, run->id, -1, SQLITE_STATIC);
    rc = run_stmt(s, st, err, "run finish");
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "run finish: no run \"%s\"", run->id);
    return rc;
}

static int sq_run_get(struct fr_store *base, const char *id, struct fr_run *out, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_RUN_GET, &st, err, "run get");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        read_run(st, out);
    else if (step == SQLITE_DONE)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "run get: no run \"%s\"", id);
    else
        rc = fail(s, err, "run get");
    sqlite3_reset(st);
    return rc;
}

static int sq_runs_list(struct fr_store *base, const char *job, size_t limit,
                        int (*fn)(const struct fr_run *run, void *ud), void *ud, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "runs list";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, job ? ST_RUNS_JOB : ST_RUNS_ALL, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
    if (job)
        sqlite3_bind_text(st, 2, job, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct fr_run run;
        read_run(st, &run);
        if (fn(&run, ud))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

static int sq_run_last(struct fr_store *base, const char *job, const char *status,
                       struct fr_run *out, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_RUN_LAST_STATUS, &st, err, "run last");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        read_run(st, out);
    else if (step == SQLITE_DONE)
        rc = FR_ENOTFOUND; /* an answer, not a failure: err untouched */
    else
        rc = fail(s, err, "run last");
    sqlite3_reset(st);
    return rc;
}

static int sq_ping(struct fr_store *base, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_PING, &st, err, "ping");
    if (rc)
        return rc;
    if (sqlite3_step(st) != SQLITE_ROW)
        rc = fail(s, err, "ping");
    sqlite3_reset(st);
    return rc;
}

/*
 * What a rolled-back write cannot see, for a database file: that the file and
 * its WAL may be written (access(2) answers for read-only mounts, immutable
 * files and permissions, also for root) and that their filesystem has room.
 */
static int check_file(struct sqlite_store *s, struct fr_err *err)
{
    const char *op = "write check";
    char *wal = fr_asprintf("%s-wal", s->path);
    const char *const files[] = {s->path, wal};
    int rc = FR_OK;
    for (size_t i = 0; i < FR_ARRAY_LEN(files) && !rc; i++)
        if (access(files[i], W_OK) != 0 && errno != ENOENT)
            rc = fr_err_set(err, FR_ESTORE, errno, "%s: %s cannot be written: %s (sqlite:%s)", op,
                            files[i], strerror(errno), s->path);
    free(wal);
    struct statvfs fs;
    if (!rc && statvfs(s->path, &fs) != 0)
        rc = fr_err_set(err, FR_ESTORE, errno, "%s: cannot read the free space of sqlite:%s: %s",
                        op, s->path, strerror(errno));
    if (rc)
        return rc;
    if (fs.f_flag & ST_RDONLY)
        return fr_err_set(err, FR_ESTORE, EROFS,
                          "%s: the filesystem holding sqlite:%s is mounted read-only", op, s->path);
    /* root may also use the blocks the filesystem reserves for it */
    uint64_t room = (uint64_t)(geteuid() == 0 ? fs.f_bfree : fs.f_bavail) * fs.f_frsize;
    if (room < FR_STORE_WRITE_MIN_FREE)
        return fr_err_set(err, FR_ESTORE, ENOSPC,
                          "%s: the filesystem holding sqlite:%s is full (%llu bytes free, fewer "
                          "than %llu)",
                          op, s->path, (unsigned long long)room,
                          (unsigned long long)FR_STORE_WRITE_MIN_FREE);
    return FR_OK;
}

static int sq_write_check(struct fr_store *base, struct fr_err *err)
{
    const char *op = "write check";
    struct sqlite_store *s = enter(base);
    int rc = strcmp(s->path, ":memory:") == 0 ? FR_OK : check_file(s, err);
    if (rc)
        return rc;
    /* The write lock (a read-only or locked file fails here), then a row in the page cache,
     * which the rollback drops: nothing reaches the disk. */
    sqlite3_busy_timeout(s->db, FR_STORE_WRITE_CHECK_WAIT_MS);
    rc = tx_begin(s, err, op);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (!rc)
        rc = run_cached(s, ST_WRITE_CHECK, err, op);
    tx_rollback(s);
    return rc;
}

static int sq_run_add_failures(struct fr_store *base, const char *run_id,
                               const struct fr_run_failure *failures, size_t n, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "run add failures";
    sqlite3_stmt *next_seq = NULL, *insert = NULL;
    int rc = stmt(s, ST_FAILURE_NEXT_SEQ, &next_seq, err, op);
    if (!rc)
        rc = stmt(s, ST_FAILURE_INSERT, &insert, err, op);
    if (!rc)
        rc = tx_begin(s, err, op);
    if (rc)
        return rc;
    sqlite3_int64 seq = 0;
    sqlite3_bind_text(next_seq, 1, run_id, -1, SQLITE_STATIC);
    if (sqlite3_step(next_seq) == SQLITE_ROW)
        seq = sqlite3_column_int64(next_seq, 0);
    else
        rc = fail(s, err, op);
    sqlite3_reset(next_seq);
    for (size_t i = 0; !rc && i < n; i++) {
        const struct fr_run_failure *f = &failures[i];
        sqlite3_bind_text(insert, 1, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 2, seq + (sqlite3_int64)i);
        sqlite3_bind_text(insert, 3, f->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 4, (sqlite3_int64)f->line);
        sqlite3_bind_text(insert, 5, f->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 6, f->reason, -1, SQLITE_STATIC);
        rc = run_stmt(s, insert, err, op);
    }
    return tx_end(s, rc, err, op);
}

static int sq_run_failures(struct fr_store *base, const char *run_id,
                           int (*fn)(const struct fr_run_failure *f, void *ud), void *ud,
                           struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "run failures";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_FAILURES, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct fr_run_failure f = {
            .key = column_str(st, 0),
            .line = (uint64_t)sqlite3_column_int64(st, 1),
            .kind = column_str(st, 2),
            .reason = column_str(st, 3),
        };
        if (fn(&f, ud))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

/* ---- the journal ---------------------------------------------------------------------- */

/* Reads JOURNAL_COLUMNS starting at column first into e (whose last_error it allocates). */
static int read_entry(struct sqlite_store *s, sqlite3_stmt *st, int first,
                      struct fr_journal_entry *e, struct fr_err *err, const char *op)
{
    memset(e, 0, sizeof(*e));
    const char *state = column_str(st, first);
    if (!state || !fr__journal_state_parse(state, &e->state))
        return fr_err_set(err, FR_ESTORE, 0, "%s: unknown journal state \"%s\" (sqlite:%s)", op,
                          state ? state : "(null)", s->path);
    const char *hash = column_str(st, first + 1);
    if (hash)
        fr_strlcpy(e->payload_hash, hash, sizeof(e->payload_hash));
    fr_strlcpy(e->run_id, column_str(st, first + 2), sizeof(e->run_id));
    e->attempts = sqlite3_column_int(st, first + 3);
    const char *last_error = column_str(st, first + 4);
    e->last_error = last_error ? fr_strdup(last_error) : NULL;
    e->first_ms = sqlite3_column_int64(st, first + 5);
    e->updated_ms = sqlite3_column_int64(st, first + 6);
    return FR_OK;
}

static int sq_journal_get(struct fr_store *base, const char *job, const char *key,
                          struct fr_journal_entry *out, struct fr_err *err)
{
    struct sqlite_store *s = from_base(base);
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    begin_read(s);
    int rc = stmt(s, ST_JOURNAL_GET, &st, err, "journal get");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = read_entry(s, st, 0, out, err, "journal get");
    else if (step == SQLITE_DONE)
        rc = FR_ENOTFOUND; /* the common answer on a first run: no message to format */
    else
        rc = fail(s, err, "journal get");
    sqlite3_reset(st);
    if (rc && rc != FR_ENOTFOUND)
        end_read(s); /* a fresh snapshot next time */
    return rc;
}

/* The upserts of journal_update, inside a transaction the caller holds. */
static int upsert_updates(struct sqlite_store *s, const char *job, const char *run_id,
                          const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                          struct fr_err *err, const char *op)
{
    sqlite3_stmt *one = NULL, *chunk = NULL;
    int rc = stmt(s, ST_JOURNAL_UPSERT, &one, err, op);
    if (!rc && n >= UPSERT_CHUNK)
        rc = stmt(s, ST_JOURNAL_UPSERT_CHUNK, &chunk, err, op);
    for (size_t i = 0; !rc && i < n;) {
        size_t rows = n - i >= UPSERT_CHUNK ? UPSERT_CHUNK : 1;
        sqlite3_stmt *st = rows > 1 ? chunk : one;
        sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, run_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_ms);
        for (size_t r = 0; r < rows; r++, i++) {
            const struct fr_journal_update *u = &updates[i];
            int p = UPSERT_SHARED + 1 + (int)r * UPSERT_PER_ROW;
            sqlite3_bind_text(st, p, u->key, -1,
                              SQLITE_STATIC); /* NULL: NOT NULL fails, all undone */
            sqlite3_bind_text(st, p + 1, fr_journal_state_name(u->state), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, p + 2, u->payload_hash, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, p + 3, u->sent);
            sqlite3_bind_text(st, p + 4, u->error, -1, SQLITE_STATIC);
        }
        rc = run_stmt(s, st, err, op);
    }
    return rc;
}

static int sq_journal_update(struct fr_store *base, const char *job, const char *run_id,
                             const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                             struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "journal update";
    int rc = tx_begin(s, err, op);
    if (rc)
        return rc;
    rc = upsert_updates(s, job, run_id, updates, n, now_ms, err, op);
    return tx_end(s, rc, err, op);
}

/* Deletes run_id's in-flight batch seq, inside a transaction the caller holds (or autocommit). */
static int delete_inflight(struct sqlite_store *s, const char *job, const char *run_id,
                           uint64_t seq, struct fr_err *err, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_INFLIGHT_DELETE, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)seq);
    return run_stmt(s, st, err, op);
}

static int sq_journal_commit(struct fr_store *base, const char *job, const char *run_id,
                             const struct fr_journal_update *updates, size_t n,
                             const uint64_t *done, size_t ndone,
                             const struct fr_journal_batch *sent, int64_t now_ms,
                             struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "journal commit";
    int rc = tx_begin(s, err, op);
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
        sqlite3_stmt *st = NULL;
        rc = stmt(s, ST_INFLIGHT_INSERT, &st, err, op);
        if (!rc) {
            sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, run_id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, (sqlite3_int64)sent->seq);
            sqlite3_bind_int64(st, 4, now_ms);
            sqlite3_bind_blob(st, 5, keys, (int)len, SQLITE_STATIC);
            rc = run_stmt(s, st, err, op);
        }
        free(keys);
    }
    return tx_end(s, rc, err, op);
}

static int sq_journal_inflight(struct fr_store *base, const char *job, const char *except_run_id,
                               int (*fn)(const char *run_id, uint64_t seq, int64_t sent_ms,
                                         const char *key, void *ud),
                               void *ud, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "journal inflight";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_INFLIGHT_LIST, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, except_run_id, -1, SQLITE_STATIC);
    int step, stop = 0;
    while (!stop && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char run_id[FR_RUN_ID_MAX];
        fr_strlcpy(run_id, column_str(st, 0), sizeof(run_id));
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
        int64_t sent_ms = sqlite3_column_int64(st, 2);
        const char *keys = sqlite3_column_blob(st, 3);
        size_t len = (size_t)sqlite3_column_bytes(st, 3);
        /* copied: fn may run other operations, which would invalidate the column */
        char *copy = fr_malloc(len + 1);
        if (len)
            memcpy(copy, keys, len);
        copy[len] = '\0';
        for (size_t at = 0; !stop && at < len; at += strlen(copy + at) + 1)
            stop = fn(run_id, seq, sent_ms, copy + at, ud);
        free(copy);
    }
    if (!stop && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

static int sq_journal_forget(struct fr_store *base, const char *job, const char *run_id,
                             uint64_t seq, struct fr_err *err)
{
    return delete_inflight(enter(base), job, run_id, seq, err, "journal forget");
}

static int sq_journal_by_run(struct fr_store *base, const char *run_id, enum fr_journal_state state,
                             int (*fn)(const char *key, const struct fr_journal_entry *e, void *ud),
                             void *ud, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "journal by run";
    sqlite3_stmt *st = NULL;
    bool filter = state != FR_JOURNAL_NONE;
    int rc = stmt(s, filter ? ST_JOURNAL_BY_RUN_STATE : ST_JOURNAL_BY_RUN, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    if (filter)
        sqlite3_bind_text(st, 2, fr_journal_state_name(state), -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct fr_journal_entry e;
        rc = read_entry(s, st, 1, &e, err, op);
        if (rc)
            break;
        int stop = fn(column_str(st, 0), &e, ud);
        fr_journal_entry_release(&e);
        if (stop)
            break;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

/* ---- webhook events ------------------------------------------------------------------- */

/* Reads EVENT_COLUMNS into e, allocating its strings; the body too when with_body. */
static int read_event(struct sqlite_store *s, sqlite3_stmt *st, bool with_body, struct fr_event *e,
                      struct fr_err *err, const char *op)
{
    memset(e, 0, sizeof(*e));
    const char *state = column_str(st, 4);
    if (!state || !fr__event_state_parse(state, &e->state))
        return fr_err_set(err, FR_ESTORE, 0, "%s: unknown event state \"%s\" (sqlite:%s)", op,
                          state ? state : "(null)", s->path);
    e->seq = sqlite3_column_int64(st, 0);
    fr_strlcpy(e->source, column_str(st, 1), sizeof(e->source));
    e->event_id = fr_strdup(column_str(st, 2));
    const char *content_type = column_str(st, 3);
    e->content_type = content_type ? fr_strdup(content_type) : NULL;
    e->attempts = sqlite3_column_int(st, 5);
    e->received_ms = sqlite3_column_int64(st, 6);
    e->next_attempt_ms = sqlite3_column_int64(st, 7);
    e->updated_ms = sqlite3_column_int64(st, 8);
    const char *last_error = column_str(st, 9);
    e->last_error = last_error ? fr_strdup(last_error) : NULL;
    if (with_body) {
        const void *body = sqlite3_column_blob(st, EVENT_BODY_COL);
        e->body_len = (size_t)sqlite3_column_bytes(st, EVENT_BODY_COL);
        e->body = fr_malloc(e->body_len + 1);
        if (e->body_len)
            memcpy(e->body, body, e->body_len);
        e->body[e->body_len] = '\0';
    }
    return FR_OK;
}

static int sq_events_add(struct fr_store *base, const struct fr_event_in *ev, size_t n,
                         int *outcome, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "events add";
    sqlite3_stmt *insert = NULL;
    int rc = stmt(s, ST_EVENT_INSERT, &insert, err, op);
    /* the one fsync'd commit of ferry: a 2xx follows it, and the sender forgets the event */
    if (!rc)
        rc = run_cached(s, ST_SYNC_FULL, err, op);
    if (!rc)
        rc = tx_begin(s, err, op);
    for (size_t i = 0; !rc && i < n; i++) {
        const struct fr_event_in *e = &ev[i];
        /* a NULL source or event_id binds NULL: NOT NULL fails and the batch is undone */
        sqlite3_bind_text(insert, 1, e->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 2, e->event_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, e->content_type, -1, SQLITE_STATIC);
        if (e->body || !e->body_len)
            sqlite3_bind_blob64(insert, 4, e->body ? e->body : "", e->body_len, SQLITE_STATIC);
        else
            sqlite3_bind_null(insert, 4); /* bytes promised and none given: NOT NULL fails */
        sqlite3_bind_int64(insert, 5, e->received_ms);
        sqlite3_bind_text(insert, 6, e->content_key, -1, SQLITE_STATIC);
        rc = run_stmt(s, insert, err, op);
        if (!rc && outcome)
            outcome[i] = sqlite3_changes(s->db) ? FR_EVENT_ADD_STORED : FR_EVENT_ADD_DUPLICATE;
    }
    if (!rc || !sqlite3_get_autocommit(s->db))
        rc = tx_end(s, rc, err, op);
    run_cached(s, ST_SYNC_NORMAL, NULL, op); /* can only fail inside a transaction: none is open */
    return rc;
}

static int sq_events_claim(struct fr_store *base, const char *owner, int64_t now_ms,
                           int64_t lease_ms, size_t max, struct fr_event **out, size_t *n,
                           struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "events claim";
    sqlite3_stmt *due = NULL, *lease = NULL;
    int rc = stmt(s, ST_EVENTS_DUE, &due, err, op);
    if (!rc)
        rc = stmt(s, ST_EVENT_LEASE, &lease, err, op);
    /* IMMEDIATE: the write lock before the SELECT, so no other handle picks the same rows */
    if (!rc)
        rc = tx_begin(s, err, op);
    if (rc)
        return rc;
    struct fr_event *events = NULL;
    size_t got = 0, cap = 0;
    sqlite3_bind_int64(due, 1, now_ms);
    sqlite3_bind_int64(due, 2, max > INT64_MAX ? -1 : (sqlite3_int64)max);
    int step;
    while ((step = sqlite3_step(due)) == SQLITE_ROW) {
        FR_ALLOC_GROW(events, got + 1, cap);
        rc = read_event(s, due, true, &events[got], err, op);
        if (rc)
            break;
        got++;
    }
    if (!rc && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(due);
    int64_t until = lease_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + lease_ms;
    for (size_t i = 0; !rc && i < got; i++) {
        sqlite3_bind_int64(lease, 1, events[i].seq);
        sqlite3_bind_text(lease, 2, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int64(lease, 3, until);
        rc = run_stmt(s, lease, err, op);
    }
    rc = tx_end(s, rc, err, op);
    if (rc) {
        for (size_t i = 0; i < got; i++)
            fr_event_release(&events[i]);
        free(events);
        return rc;
    }
    *out = events;
    *n = got;
    return FR_OK;
}

static int sq_event_outcome(struct fr_store *base, int64_t seq, const char *owner,
                            enum fr_event_state state, int64_t next_attempt_ms, const char *error,
                            int64_t now_ms, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    static const struct {
        enum stmt_id id;
        const char *op;
    } by_state[] = {
        [FR_EVENT_PENDING] = {ST_EVENT_RETRY, "event retry"},
        [FR_EVENT_DELIVERED] = {ST_EVENT_DELIVERED, "event delivered"},
        [FR_EVENT_DEAD] = {ST_EVENT_DEAD, "event dead"},
    };
    FR_ASSERT((size_t)state < FR_ARRAY_LEN(by_state));
    const char *op = by_state[state].op;
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, by_state[state].id, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    if (state != FR_EVENT_DELIVERED)
        sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    if (state == FR_EVENT_PENDING)
        sqlite3_bind_int64(st, 5, next_attempt_ms);
    rc = run_stmt(s, st, err, op);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = fr_err_set(err, FR_ENOTFOUND, 0,
                        "%s: event %lld is not pending under a lease of \"%s\" (sqlite:%s)", op,
                        (long long)seq, owner, s->path);
    return rc;
}

static int sq_events_release(struct fr_store *base, const char *owner, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_EVENTS_RELEASE, &st, err, "events release");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
    return run_stmt(s, st, err, "events release");
}

static int sq_dlq_list(struct fr_store *base, const char *source, size_t limit,
                       int (*fn)(const struct fr_event *e, void *ud), void *ud, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "dlq list";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, source ? ST_DLQ_SOURCE : ST_DLQ_ALL, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit);
    if (source)
        sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct fr_event e;
        rc = read_event(s, st, false, &e, err, op);
        if (rc)
            break;
        int stop = fn(&e, ud);
        fr_event_release(&e);
        if (stop)
            break;
    }
    if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

static int sq_event_get(struct fr_store *base, int64_t seq, struct fr_event *out,
                        struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "event get";
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof(*out));
    int rc = stmt(s, ST_EVENT_GET, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, seq);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = read_event(s, st, true, out, err, op);
    else if (step == SQLITE_DONE)
        rc = fr_err_set(err, FR_ENOTFOUND, 0, "event get: no event %lld", (long long)seq);
    else
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

/* Runs a dead-letter change; FR_ENOTFOUND when one named event (seq) was not dead. */
static int dlq_change(struct sqlite_store *s, sqlite3_stmt *st, int64_t seq, uint64_t *count,
                      struct fr_err *err, const char *op)
{
    int rc = run_stmt(s, st, err, op);
    if (rc)
        return rc;
    uint64_t changed = (uint64_t)sqlite3_changes64(s->db);
    if (count)
        *count = changed;
    if (seq && changed == 0)
        return fr_err_set(err, FR_ENOTFOUND, 0, "%s: event %lld is not dead (sqlite:%s)", op,
                          (long long)seq, s->path);
    return FR_OK;
}

static int sq_dlq_replay(struct fr_store *base, int64_t seq, const char *source, int64_t now_ms,
                         uint64_t *count, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "dlq replay";
    enum stmt_id id = seq ? ST_DLQ_REPLAY_ONE : source ? ST_DLQ_REPLAY_SOURCE : ST_DLQ_REPLAY_ALL;
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, id, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, now_ms);
    if (seq)
        sqlite3_bind_int64(st, 2, seq);
    else if (source)
        sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
    return dlq_change(s, st, seq, count, err, op);
}

static int sq_dlq_purge(struct fr_store *base, int64_t seq, int64_t older_than_ms, uint64_t *count,
                        struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "dlq purge";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, seq ? ST_DLQ_PURGE_ONE : ST_DLQ_PURGE_OLDER, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, seq ? seq : older_than_ms);
    return dlq_change(s, st, seq, count, err, op);
}

/* The first source after source (replaced in place) with delivered events; FR_ENOTFOUND if none. */
static int next_delivered_source(struct sqlite_store *s, char source[FR_EVENT_SOURCE_MAX],
                                 struct fr_err *err, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_DELIVERED_NEXT_SOURCE, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        fr_strlcpy(source, column_str(st, 0), FR_EVENT_SOURCE_MAX);
    else
        rc = step == SQLITE_DONE ? FR_ENOTFOUND : fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

static int sq_events_purge_delivered(struct fr_store *base, int64_t before_ms, size_t limit,
                                     uint64_t *count, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "purge delivered";
    char source[FR_EVENT_SOURCE_MAX] = "";
    uint64_t total = 0;
    int rc = FR_OK;
    while (total < limit && (rc = next_delivered_source(s, source, err, op)) == FR_OK) {
        sqlite3_stmt *st = NULL;
        if ((rc = stmt(s, ST_PURGE_DELIVERED, &st, err, op)) != FR_OK)
            break;
        sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, before_ms);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)(limit - total));
        if ((rc = run_stmt(s, st, err, op)) != FR_OK)
            break;
        total += (uint64_t)sqlite3_changes64(s->db);
    }
    if (count)
        *count = total;
    return rc == FR_ENOTFOUND ? FR_OK : rc;
}

static int sq_queue_stats(struct fr_store *base, bool with_delivered,
                          int (*fn)(const struct fr_queue_stats *q, void *ud), void *ud,
                          struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "queue stats";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_QUEUE_STATS, &st, err, op);
    if (!rc)
        rc = check_not_busy(st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_int(st, 1, with_delivered);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct fr_queue_stats q = {
            .source = column_str(st, 0),
            .pending = (uint64_t)sqlite3_column_int64(st, 1),
            .delivered = (uint64_t)sqlite3_column_int64(st, 2),
            .dead = (uint64_t)sqlite3_column_int64(st, 3),
            .oldest_pending_ms = sqlite3_column_int64(st, 4),
        };
        if (fn(&q, ud))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = fail(s, err, op);
    sqlite3_reset(st);
    return rc;
}

/* ---- watermarks ---------------------------------------------------------------------- */

static int sq_watermark_get(struct fr_store *base, const char *job, char **value,
                            char run_id[FR_RUN_ID_MAX], int64_t *updated_ms, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    const char *op = "watermark get";
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_WATERMARK_GET, &st, err, op);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *value = fr_strdup(column_str(st, 0));
        if (run_id)
            fr_strlcpy(run_id, column_str(st, 1), FR_RUN_ID_MAX);
        if (updated_ms)
            *updated_ms = sqlite3_column_int64(st, 2);
    } else if (step == SQLITE_DONE) {
        rc = FR_ENOTFOUND;
    } else {
        rc = fail(s, err, op);
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_watermark_set(struct fr_store *base, const char *job, const char *value,
                            const char *run_id, int64_t now_ms, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_WATERMARK_SET, &st, err, "watermark set");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    return run_stmt(s, st, err, "watermark set");
}

/* ---- open, migrate, close ------------------------------------------------------------- */

static int exec(struct sqlite_store *s, const char *sql, struct fr_err *err, const char *op)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, err, op);
    return FR_OK;
}

static int schema_version(struct sqlite_store *s, int64_t *out, struct fr_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(s, err, "schema version");
    int rc = FR_OK;
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = fail(s, err, "schema version");
    sqlite3_finalize(st);
    return rc;
}

/* Applies migration version (1-based) unless another process did while we waited for the lock. */
static int apply_migration(struct sqlite_store *s, int64_t version, struct fr_err *err)
{
    char op[64];
    snprintf(op, sizeof(op), "schema migration %lld", (long long)version);
    int rc = exec(s, "BEGIN IMMEDIATE", err, op);
    if (rc)
        return rc;
    int64_t current = 0;
    rc = schema_version(s, &current, err);
    if (!rc && current < version) {
        rc = exec(s, migrations[version - 1], err, op);
        if (!rc) {
            char now[40];
            fr_format_rfc3339(fr_wall_ms(), now, sizeof(now));
            char *sql = fr_asprintf(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (%lld, '%s')",
                (long long)version, now);
            rc = exec(s, sql, err, op);
            free(sql);
        }
    }
    if (rc) {
        exec(s, "ROLLBACK", NULL, op);
        return rc;
    }
    rc = exec(s, "COMMIT", err, op);
    if (rc)
        exec(s, "ROLLBACK", NULL, op);
    return rc;
}

static int migrate(struct sqlite_store *s, int64_t *applied, struct fr_err *err)
{
    int rc = exec(s,
                  "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
                  err, "schema migrations");
    int64_t current = 0;
    if (!rc)
        rc = schema_version(s, &current, err);
    if (rc)
        return rc;
    int64_t known = (int64_t)FR_ARRAY_LEN(migrations);
    if (current > known)
        return fr_err_set(err, FR_ESTORE, 0,
                          "store sqlite:%s has schema version %lld, newer than this ferry knows "
                          "(%lld); upgrade ferry",
                          s->path, (long long)current, (long long)known);
    for (int64_t v = current + 1; !rc && v <= known; v++)
        rc = apply_migration(s, v, err);
    if (!rc && applied) /* another process may have applied some while we waited: good enough */
        *applied = known - current;
    return rc;
}

static int sq_migrate(struct fr_store *base, int64_t *applied, struct fr_err *err)
{
    return migrate(enter(base), applied, err);
}

static int sq_schema(struct fr_store *base, int64_t *current, int64_t *latest, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    *latest = (int64_t)FR_ARRAY_LEN(migrations);
    *current = 0;
    sqlite3_stmt *st = NULL;
    /* a file no ferry has opened has no schema_migrations table: version 0 */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                           " AND name = 'schema_migrations'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(s, err, "schema version");
    int step = sqlite3_step(st);
    bool exists = step == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (step != SQLITE_ROW)
        return fail(s, err, "schema version");
    return exists ? schema_version(s, current, err) : FR_OK;
}

static int sq_schedule_claim(struct fr_store *base, const char *job, int64_t slot_ms,
                             const char *owner, int64_t now_ms, bool *claimed, struct fr_err *err)
{
    struct sqlite_store *s = enter(base);
    sqlite3_stmt *st = NULL;
    int rc = stmt(s, ST_SCHEDULE_CLAIM, &st, err, "schedule claim");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, slot_ms);
    sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    rc = run_stmt(s, st, err, "schedule claim");
    if (!rc)
        *claimed = sqlite3_changes(s->db) == 1;
    return rc;
}

static void sq_close(struct fr_store *base)
{
    struct sqlite_store *s = enter(base);
    for (size_t i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(s->db);
    fr__sqlite_checkpointer_put(s->ckpt);
    free(s->path);
    free(s);
}

int fr__store_sqlite_open(const char *url, const char *rest, const char *base_dir, unsigned flags,
                          struct fr_store **out, struct fr_err *err)
{
    if (!rest[0])
        return fr_err_set(err, FR_ECONFIG, 0, "store URL \"%s\" names no file (sqlite:PATH)", url);
    struct sqlite_store *s = fr_calloc(1, sizeof(*s));
    s->base.ops = &sqlite_ops;
    if (strcmp(rest, ":memory:") == 0 || rest[0] == '/' || !base_dir || !base_dir[0])
        s->path = fr_strdup(rest);
    else
        s->path = fr_asprintf("%s/%s", base_dir, rest);

    int open_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (!(flags & FR_STORE_NO_CREATE))
        open_flags |= SQLITE_OPEN_CREATE;
    int rc = FR_OK;
    int orc = sqlite3_open_v2(s->path, &s->db, open_flags, NULL);
    if (orc != SQLITE_OK && (flags & FR_STORE_NO_CREATE) && access(s->path, F_OK) != 0 &&
        errno == ENOENT)
        rc = fr_err_set(err, FR_ENOTFOUND, orc, "no store at sqlite:%s", s->path);
    else if (orc != SQLITE_OK) /* ferry does not create directories: a typo should not become one */
        rc = fr_err_set(err, FR_ESTORE, orc,
                        "open: %s (sqlite:%s); check that its directory exists and is writable",
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(orc), s->path);
    if (!rc && sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK)
        rc = fail(s, err, "open");
    /* journal_mode answers "memory" for :memory:, which is fine. An 8 MB page cache keeps a
     * million-key journal fast without making ferry large. */
    if (!rc)
        rc = exec(s,
                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                  " PRAGMA foreign_keys = ON; PRAGMA cache_size = -8192",
                  err, "open");
    /* after journal_mode: sqlite3_wal_hook replaces SQLite's own checkpoints */
    if (!rc && (s->ckpt = fr__sqlite_checkpointer_get(s->path)))
        sqlite3_wal_hook(s->db, fr__sqlite_checkpointer_wal_hook, s->ckpt);
    if (!rc && !(flags & FR_STORE_NO_MIGRATE))
        rc = migrate(s, NULL, err);
    if (rc) {
        sq_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return FR_OK;
}

/* ---- job run locks -------------------------------------------------------------------- */

/*
 * A job's run lock is one byte of PATH-joblock, at an offset made of the
 * job's key, under an open file description lock: it belongs to the
 * handle's own descriptor (two handles of one process exclude each other,
 * unlike with POSIX record locks) and goes when the descriptor is closed,
 * the process dying included. WAL mode keeps every process using the
 * database on this machine, so a file lock reaches them all.
 */
static int sq_job_lock(struct fr_store *base, const char *job, uint64_t key, bool *held,
                       void **state, struct fr_err *err)
{
    (void)job;
    struct sqlite_store *s = enter(base);
    const char *db = sqlite3_db_filename(s->db, "main");
    if (!db || !db[0]) { /* a memory database: no other handle shares it */
        *held = true;
        return FR_OK;
    }
    char *path = fr_asprintf("%s-joblock", db);
    struct stat dbst;
    mode_t mode = stat(db, &dbst) == 0 ? (dbst.st_mode & 0666) : 0600;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode);
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)(key >> 2), .l_len = 1};
    int rc = FR_OK;
    if (fd >= 0 && fcntl(fd, F_OFD_SETLK, &fl) == 0) {
        *held = true;
        int *kept = fr_malloc(sizeof(*kept));
        *kept = fd;
        *state = kept;
    } else if (fd >= 0 && (errno == EAGAIN || errno == EACCES)) {
        *held = false;
        close(fd);
    } else {
        rc = fr_err_set(err, FR_ESTORE, errno, "job lock: %s: %s (sqlite:%s)", path,
                        strerror(errno), s->path);
        if (fd >= 0)
            close(fd);
    }
    free(path);
    return rc;
}

static int sq_job_unlock(struct fr_store *base, const char *job, uint64_t key, void *state,
                         struct fr_err *err)
{
    (void)base;
    (void)job;
    (void)key;
    (void)err;
    int *kept = state;
    if (kept)
        close(*kept); /* releases the lock */
    free(kept);
    return FR_OK;
}

static const struct fr_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .run_begin = sq_run_begin,
    .run_finish = sq_run_finish,
    .run_get = sq_run_get,
    .runs_list = sq_runs_list,
    .run_add_failures = sq_run_add_failures,
    .run_failures = sq_run_failures,
    .journal_get = sq_journal_get,
    .journal_update = sq_journal_update,
    .journal_by_run = sq_journal_by_run,
    .journal_commit = sq_journal_commit,
    .journal_inflight = sq_journal_inflight,
    .journal_forget = sq_journal_forget,
    .watermark_get = sq_watermark_get,
    .watermark_set = sq_watermark_set,
    .events_add = sq_events_add,
    .events_claim = sq_events_claim,
    .event_outcome = sq_event_outcome,
    .events_release = sq_events_release,
    .dlq_list = sq_dlq_list,
    .event_get = sq_event_get,
    .dlq_replay = sq_dlq_replay,
    .dlq_purge = sq_dlq_purge,
    .events_purge_delivered = sq_events_purge_delivered,
    .queue_stats = sq_queue_stats,
    .run_last = sq_run_last,
    .ping = sq_ping,
    .write_check = sq_write_check,
    .schedule_claim = sq_schedule_claim,
    .job_lock = sq_job_lock,
    .job_unlock = sq_job_unlock,
    .schema = sq_schema,
    .migrate = sq_migrate,
};
