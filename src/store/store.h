/*
 * store.h: the one interface to ferry's durable state: runs, the per-key
 * journal of push jobs, each run's failures, the watermarks of pull jobs,
 * and the received webhook events. Nothing outside src/store knows an SQL dialect.
 *
 * Backends sit behind an operations table (store_int.h), like curl's TLS
 * backends; `sqlite:PATH` is the embedded default (WAL mode; a transaction
 * survives the ferry process being killed at any instant);
 * `postgresql://` (or `postgres://`) URLs select PostgreSQL, which many
 * ferry processes share. One contract test suite runs against every
 * backend.
 *
 * Threads: a struct fr_store is used by one thread at a time.
 * Errors: FR_ESTORE with err naming the backend's own message; FR_ENOTFOUND
 * for a missing row; FR_ECONFIG for an unknown URL scheme.
 */
#ifndef FR_STORE_STORE_H
#define FR_STORE_STORE_H

#include "core/common.h"

#include "core/error.h"

struct fr_store;
struct fr_config;

/*
 * Opens (creating if needed) the store named by url: "sqlite:PATH", PATH
 * relative to base_dir unless absolute ("sqlite::memory:" for tests); or
 * "postgresql://user@host:port/db" ("postgres://" too; what the URL
 * leaves out, libpq takes from PGHOST, PGPORT, PGUSER, PGPASSWORD,
 * PGDATABASE, ~/.pgpass). Applies pending schema migrations, under a lock
 * so processes starting together apply each once. Free with
 * fr_store_close. The URL's password is registered with the redactor
 * (fr_redact_add_url_credentials) and messages never show it, however the
 * URL is written (an unknown scheme, no "//", a broken percent-encoding
 * libpq quotes back).
 */
int fr_store_open(const char *url, const char *base_dir, struct fr_store **out, struct fr_err *err);

/* The section "store" of ferry.yaml (store_conf.c), for the list src/cli loads with; first. */
extern const struct fr_config_section fr_store_section;

/*
 * fr_store_open_flags for the store of a loaded config (cfg->store, relative
 * to cfg->dir; borrowed). A failure's message starts with where the URL is
 * written ("ferry.yaml:1:8: store: ...") when the file wrote it.
 */
int fr_store_open_config(const struct fr_config *cfg, unsigned flags, struct fr_store **out,
                         struct fr_err *err);

/*
 * A way to open one more handle on a store, for a layer that opens its own
 * (webhook delivery: one per worker) without knowing the config it came
 * from. fr_store_opener_config gives the one for a loaded config's store
 * (cfg borrowed for as long as the opener is used).
 */
struct fr_store_opener {
    int (*open)(void *ud, struct fr_store **out, struct fr_err *err);
    void *ud;
};
struct fr_store_opener fr_store_opener_config(const struct fr_config *cfg);

/*
 * fr_store_open's flags: FR_STORE_NO_MIGRATE opens without applying
 * migrations; FR_STORE_NO_CREATE opens only a store that exists (SQLite: a
 * missing file is FR_ENOTFOUND instead of a new, empty one).
 */
#define FR_STORE_NO_MIGRATE 1u
#define FR_STORE_NO_CREATE  2u
int fr_store_open_flags(const char *url, const char *base_dir, unsigned flags,
                        struct fr_store **out, struct fr_err *err);
/* Releases the job run lock the handle holds, if any, and frees it. NULL is a no-op. */
void fr_store_close(struct fr_store *st);

/* ---- schema --------------------------------------------------------------------------- */

/*
 * The schema version the store is at (0: none yet) and the newest this
 * ferry knows. Versions are recorded in the store's schema_migrations table.
 */
int fr_store_schema(struct fr_store *st, int64_t *current, int64_t *latest, struct fr_err *err);
/*
 * Applies the pending migrations (each once, in order, under the lock);
 * *applied (may be NULL) says how many this call applied. A store newer
 * than this ferry is FR_ESTORE.
 */
int fr_store_migrate(struct fr_store *st, int64_t *applied, struct fr_err *err);

/* ---- runs ----------------------------------------------------------------------------- */

#define FR_RUN_ID_MAX 48

struct fr_run_counts {
    uint64_t read, sent, created, duplicate, rejected, failed, changed, skipped;
    uint64_t requests, retries, rate_limited, token_refreshes;
    uint64_t pages;   /* pull: pages fetched */
    uint64_t written; /* pull: records written to the sink */
};

struct fr_run {
    char id[FR_RUN_ID_MAX];
    char job[128];
    char status[16];    /* "running", "ok", "failed", "interrupted" */
    int exit_code;      /* the ferry run exit status; -1 while running */
    int64_t started_ms; /* wall clock */
    int64_t ended_ms;   /* 0 while running */
    struct fr_run_counts counts;
    /* one line a person needs: why the run failed or was interrupted; "" when none */
    char reason[512];
    char host[64]; /* host name of the process that ran it ("" unknown) */
    int64_t pid;   /* its process id (0 unknown) */
};

/* A new run id: "YYYYMMDDTHHMMSSZ-" and 6 random hex digits. */
void fr_run_new_id(char out[FR_RUN_ID_MAX], int64_t wall_ms);

/*
 * Records a run as started (status "running"), with its id, job,
 * started_ms, counts, host and pid; its reason starts "". Runs of the
 * same job still "running" from an earlier process are marked
 * "interrupted", in the same transaction; their ended_ms stays 0 and
 * exit_code -1 (nobody knows when that process died), and their reason,
 * when they have none, says that run's process stopped without a result
 * and which run found it. A run id already stored is FR_ESTORE.
 */
int fr_store_run_begin(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
/*
 * Stores a run's final status, exit code, end time, counts and reason
 * (host and pid stay as begun); any status, "interrupted" with a real exit
 * code, end time and counts included. The reason is kept as one line:
 * control characters (a newline) become spaces. FR_ENOTFOUND for an
 * unknown id.
 */
int fr_store_run_finish(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
/* Every field of the run, reason, host and pid included; FR_ENOTFOUND for an unknown id. */
int fr_store_run_get(struct fr_store *st, const char *id, struct fr_run *out, struct fr_err *err);
/*
 * Newest first (by started_ms, then id); job NULL for all jobs; limit 0
 * for all. fn returning non-zero stops (the call still returns FR_OK).
 *
 * For every listing below too: the pointers fn receives are borrowed for
 * that call only. fn may read from the store but must not write to it,
 * and must not start the same listing again (FR_EINVAL): collect what to
 * change and change it after the listing returns.
 */
int fr_store_runs_list(struct fr_store *st, const char *job, size_t limit,
                       int (*fn)(const struct fr_run *run, void *ud), void *ud, struct fr_err *err);

/*
 * The newest run of job (by started_ms, then id) whose status is status
 * ("ok" for the last success; "running" for the run that holds the job's
 * run lock, to name its id, host, pid and start). FR_ENOTFOUND when there
 * is none; that is an answer, not a failure, so err is left untouched.
 */
int fr_store_run_last(struct fr_store *st, const char *job, const char *status, struct fr_run *out,
                      struct fr_err *err);

/* A record a run could not push, with the reason. */
struct fr_run_failure {
    const char *key;  /* NULL when the record has no usable key */
    uint64_t line;    /* where the record is in the source; 0 if unknown */
    const char *kind; /* "rejected" (mapping), "failed" (the API refused), "changed" */
    const char *reason;
};

/* Appends n failures in one transaction; run_id must name a run begun in this store. */
int fr_store_run_add_failures(struct fr_store *st, const char *run_id,
                              const struct fr_run_failure *failures, size_t n, struct fr_err *err);
/* In the order they were added. fn returning non-zero stops. */
int fr_store_run_failures(struct fr_store *st, const char *run_id,
                          int (*fn)(const struct fr_run_failure *f, void *ud), void *ud,
                          struct fr_err *err);

/* ---- the journal: one row per (job, key) ---------------------------------------------- */

enum fr_journal_state {
    FR_JOURNAL_NONE,     /* not in the journal */
    FR_JOURNAL_INFLIGHT, /* sent, outcome unknown (the run may have died) */
    FR_JOURNAL_CREATED,
    FR_JOURNAL_DUPLICATE,   /* the API already had it */
    FR_JOURNAL_FAILED,      /* the API refused it; a rerun sends it again */
    FR_JOURNAL_ROLLED_BACK, /* removed by ferry rollback; a rerun sends it again */
};

/* "none", "inflight", "created", "duplicate", "failed", "rolled_back". */
const char *fr_journal_state_name(enum fr_journal_state s);

struct fr_journal_entry {
    enum fr_journal_state state;
    char payload_hash[65];      /* of the payload last sent */
    char run_id[FR_RUN_ID_MAX]; /* the run that set the current state */
    int attempts;               /* times the key was sent, over all runs */
    char *last_error;           /* owned, NULL when none */
    int64_t first_ms;           /* wall clock of the first entry */
    int64_t updated_ms;
};

void fr_journal_entry_release(struct fr_journal_entry *e);

/*
 * FR_ENOTFOUND (and out->state FR_JOURNAL_NONE) when the key was never
 * journaled; that is an answer, not a failure, so err is left untouched.
 * On FR_OK the caller owns out->last_error: fr_journal_entry_release(out).
 *
 * Freshness: a handle always sees its own writes. Consecutive gets may
 * share one read snapshot for up to 10 ms (SQLite: it cuts their cost 4x),
 * so another handle's commits can show up that much later.
 */
int fr_store_journal_get(struct fr_store *st, const char *job, const char *key,
                         struct fr_journal_entry *out, struct fr_err *err);

struct fr_journal_update {
    const char *key;
    enum fr_journal_state state;
    const char *payload_hash; /* NULL keeps the stored one */
    const char *error;        /* NULL clears last_error */
    int sent;                 /* sends to add to attempts (0, 1, 2 with a retry pass) */
};

/*
 * Applies n updates for job in one transaction (all or none), setting
 * run_id and updated_ms on each row; inserts rows that do not exist
 * (first_ms = now_ms). The same key may appear twice: updates apply in
 * order. Any failure (a NULL key, state FR_JOURNAL_NONE, the backend) is
 * FR_ESTORE and nothing of the batch is applied.
 */
int fr_store_journal_update(struct fr_store *st, const char *job, const char *run_id,
                            const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                            struct fr_err *err);

/*
 * The journal rows whose current state was set by run_id, optionally only
 * those in state (FR_JOURNAL_NONE: all), in no particular order. fn
 * returning non-zero stops. See fr_store_runs_list for what fn may do.
 */
int fr_store_journal_by_run(struct fr_store *st, const char *run_id, enum fr_journal_state state,
                            int (*fn)(const char *key, const struct fr_journal_entry *e, void *ud),
                            void *ud, struct fr_err *err);

/* ---- keys in flight: one row per batch sent -------------------------------------------- */

/*
 * A push run marks each batch in flight before sending it, one row for
 * the whole batch, and commits the outcomes of its keys (the updates
 * above) later. A batch row that outlives its run (the run died) says:
 * these keys may have reached the target, look before resending.
 */
struct fr_journal_batch {
    uint64_t seq;            /* unique within the run */
    const char *const *keys; /* n keys, none NULL (a key holds no NUL byte) */
    size_t n;
};

/*
 * In one transaction, all or none: applies the n updates (as
 * fr_store_journal_update; n may be 0), forgets run_id's in-flight
 * batches whose seq is in done[ndone], and records sent (may be NULL) as
 * in flight for run_id at now_ms. FR_ESTORE when anything fails; a batch
 * seq recorded twice for one run is a failure.
 */
int fr_store_journal_commit(struct fr_store *st, const char *job, const char *run_id,
                            const struct fr_journal_update *updates, size_t n, const uint64_t *done,
                            size_t ndone, const struct fr_journal_batch *sent, int64_t now_ms,
                            struct fr_err *err);

/*
 * Calls fn once per key of job in an in-flight batch of a run other than
 * except_run_id (NULL: of any run), batch by batch, oldest first; fn
 * returning non-zero stops. See fr_store_runs_list for what fn may do.
 */
int fr_store_journal_inflight(struct fr_store *st, const char *job, const char *except_run_id,
                              int (*fn)(const char *run_id, uint64_t seq, int64_t sent_ms,
                                        const char *key, void *ud),
                              void *ud, struct fr_err *err);

/* Forgets one in-flight batch of job's run run_id; FR_OK also when there was none. */
int fr_store_journal_forget(struct fr_store *st, const char *job, const char *run_id, uint64_t seq,
                            struct fr_err *err);

/* ---- watermarks: where each pull job's incremental reads resume ------------------------ */

/*
 * The watermark saved for job: *value is a new string (caller frees),
 * opaque to the store (the pull engine keeps JSON text in it). FR_ENOTFOUND
 * (and *value NULL) when none was ever saved; that is an answer, not a
 * failure, so err is left untouched. run_id and updated_ms may be NULL.
 */
int fr_store_watermark_get(struct fr_store *st, const char *job, char **value,
                           char run_id[FR_RUN_ID_MAX], int64_t *updated_ms, struct fr_err *err);
/*
 * Saves value as job's watermark (replacing any), with the run that saved
 * it and now_ms, in one transaction.
 */
int fr_store_watermark_set(struct fr_store *st, const char *job, const char *value,
                           const char *run_id, int64_t now_ms, struct fr_err *err);

/* ---- webhook events: the durable queue and its dead letters --------------------------- */

/*
 * Every webhook request ferry answered with a 2xx is a row here until it
 * is purged: pending (due at next_attempt_ms), delivered, or dead (in the
 * dead-letter queue after its last attempt). Workers claim pending events
 * under a lease; a worker that dies leaves its lease to expire and the
 * events become claimable again, so delivery is at least once.
 */
enum fr_event_state { FR_EVENT_PENDING, FR_EVENT_DELIVERED, FR_EVENT_DEAD };

/* "pending", "delivered", "dead"; "unknown" for anything else. */
const char *fr_event_state_name(enum fr_event_state s);

#define FR_EVENT_SOURCE_MAX 128 /* bytes of a source name, with its NUL */

/* One received webhook; every pointer is borrowed for the call. */
struct fr_event_in {
    const char *source;       /* the webhook source's name, shorter than FR_EVENT_SOURCE_MAX */
    const char *event_id;     /* the scheme's id, or the SHA-256 of the body */
    const char *content_type; /* may be NULL */
    const void *body;         /* raw bytes, may contain NUL; NULL only when body_len is 0 */
    size_t body_len;
    int64_t received_ms; /* wall clock; also when the event is first due */
    /*
     * NULL, or a second key that makes the event unique within its source (the signed
     * body's SHA-256 for a source that dedupes by content): an event whose source already
     * has one with this key is a duplicate, whatever its event_id.
     */
    const char *content_key;
};

enum fr_event_add_outcome {
    FR_EVENT_ADD_STORED,
    FR_EVENT_ADD_DUPLICATE, /* source + event_id (or + content_key) already stored, any state */
};

/*
 * Stores n events in one transaction: the webhook server batches
 * concurrent requests into one call (group commit). outcome, when not
 * NULL, has n slots and gets an enum fr_event_add_outcome per event; a
 * repeat within the batch is a duplicate of the first. When it returns
 * FR_OK the events are durable: this transaction commits with
 * synchronous=FULL (the WAL is fsync'd; the handle returns to NORMAL
 * after), so a power loss after the 2xx loses nothing. Any failure (a
 * NULL source or event_id, a source too long, the backend) is FR_ESTORE
 * and none of the batch is stored; outcome is then meaningless.
 */
int fr_store_events_add(struct fr_store *st, const struct fr_event_in *ev, size_t n, int *outcome,
                        struct fr_err *err);

/* A stored event. Filled by claim and get; release with fr_event_release. */
struct fr_event {
    int64_t seq; /* store-assigned, increasing (a purged newest seq may be given again) */
    char source[FR_EVENT_SOURCE_MAX];
    char *event_id;      /* owned */
    char *content_type;  /* owned, NULL when none */
    char *last_error;    /* owned, the last failed attempt's error; NULL when none */
    unsigned char *body; /* owned, body_len bytes and a NUL after them; NULL when not loaded */
    size_t body_len;
    enum fr_event_state state;
    int attempts; /* outcomes reported: delivered, retry and dead each count one */
    int64_t received_ms, next_attempt_ms, updated_ms;
};

/* Frees what e owns and NULLs the pointers; e itself is the caller's. NULL is a no-op. */
void fr_event_release(struct fr_event *e);

/*
 * Claims up to max due events for owner in one transaction: pending,
 * next_attempt_ms <= now_ms, and no live lease (none, or one that ended
 * by now_ms). Each is leased to owner until now_ms + lease_ms (lease_ms
 * > 0, else FR_EINVAL). Oldest due first: by next_attempt_ms, then seq.
 * Two handles (processes) never claim the same event while its lease
 * lives. On FR_OK *out is a new array of *n events with their bodies
 * (NULL when *n is 0): fr_event_release each, then free(*out).
 */
int fr_store_events_claim(struct fr_store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                          size_t max, struct fr_event **out, size_t *n, struct fr_err *err);

/*
 * The outcome of an event owner claimed: delivered; retry (pending again,
 * due at next_attempt_ms, error kept as last_error); dead (to the
 * dead-letter queue, error kept). Each counts one attempt, ends the lease
 * and sets updated_ms = now_ms. Owner still holds the event when its
 * lease expired but nobody claimed it since. FR_ENOTFOUND (err set) when
 * owner no longer holds it: another owner claimed it after the lease
 * expired (that owner reports the outcome), or it is no longer pending.
 * error may be NULL.
 */
int fr_store_event_delivered(struct fr_store *st, int64_t seq, const char *owner, int64_t now_ms,
                             struct fr_err *err);
int fr_store_event_retry(struct fr_store *st, int64_t seq, const char *owner,
                         int64_t next_attempt_ms, const char *error, int64_t now_ms,
                         struct fr_err *err);
int fr_store_event_dead(struct fr_store *st, int64_t seq, const char *owner, const char *error,
                        int64_t now_ms, struct fr_err *err);

/* Ends every lease owner holds (graceful shutdown); the events stay pending and due. */
int fr_store_events_release(struct fr_store *st, const char *owner, struct fr_err *err);

/*
 * The dead-letter queue, newest first (by updated_ms, then seq); source
 * NULL for all sources; limit 0 for all. The events fn receives have no
 * body (body NULL, body_len 0) and are borrowed for that call. fn
 * returning non-zero stops. See fr_store_runs_list for what fn may do.
 */
int fr_store_dlq_list(struct fr_store *st, const char *source, size_t limit,
                      int (*fn)(const struct fr_event *e, void *ud), void *ud, struct fr_err *err);

/* One event in any state, with its body; release with fr_event_release. FR_ENOTFOUND for none. */
int fr_store_event_get(struct fr_store *st, int64_t seq, struct fr_event *out, struct fr_err *err);

/*
 * Sends dead events back to the queue: pending, attempts 0, due at
 * now_ms, last_error kept. seq non-zero: that event (FR_ENOTFOUND when
 * it is not dead); seq 0: every dead event of source (NULL: of all
 * sources). *count (may be NULL) says how many were replayed.
 */
int fr_store_dlq_replay(struct fr_store *st, int64_t seq, const char *source, int64_t now_ms,
                        uint64_t *count, struct fr_err *err);

/*
 * Deletes dead events: seq non-zero, that event (FR_ENOTFOUND when it is
 * not dead); seq 0, every dead event whose updated_ms < older_than_ms.
 * *count (may be NULL) says how many. A purged event is forgotten: the
 * same source + event_id would be stored again.
 */
int fr_store_dlq_purge(struct fr_store *st, int64_t seq, int64_t older_than_ms, uint64_t *count,
                       struct fr_err *err);

/*
 * Deletes up to limit delivered events delivered (updated_ms) before
 * before_ms: source by source in source order, each source's delivered
 * first, each source's share in a statement (a transaction) of its own, so
 * a caller deleting many keeps the store's writers waiting for one batch at
 * most. *count (may be NULL) says how many. A deleted event is forgotten:
 * a sender's retry of it would be stored and delivered again.
 */
int fr_store_events_purge_delivered(struct fr_store *st, int64_t before_ms, size_t limit,
                                    uint64_t *count, struct fr_err *err);

/* One source's queue figures, for status and metrics. */
struct fr_queue_stats {
    const char *source;                /* borrowed for the callback */
    uint64_t pending, delivered, dead; /* delivered: 0 unless asked for */
    int64_t oldest_pending_ms;         /* received_ms of the oldest pending event; 0 if none */
};

/*
 * Calls fn once per source that has events, in source order; fn
 * returning non-zero stops. Reads the pending and the dead events, and
 * with_delivered the index of the delivered ones kept (webhooks.retention):
 * the cost grows with the backlog, not with the history.
 */
int fr_store_queue_stats(struct fr_store *st, bool with_delivered,
                         int (*fn)(const struct fr_queue_stats *q, void *ud), void *ud,
                         struct fr_err *err);

/* ---- schedules ----------------------------------------------------------------------- */

/*
 * Claims the scheduled slot slot_ms (the slot's start, wall clock) of job
 * for owner: *claimed is true for the one caller, over all processes
 * sharing the store, that gets it first, and false for every later one.
 * So a schedule runs once per slot however many `ferry serve` instances
 * share the store.
 */
int fr_store_schedule_claim(struct fr_store *st, const char *job, int64_t slot_ms,
                            const char *owner, int64_t now_ms, bool *claimed, struct fr_err *err);

/* ---- job run locks: one run of a job at a time, over every process sharing the store ---- */

/*
 * Takes job's run lock for this handle. *held is true when the handle now
 * holds it, false when another handle holds it, in this process or any
 * other sharing the store; that is an answer, not a failure, so err is
 * left untouched. The lock lasts until fr_store_job_unlock or
 * fr_store_close, or until the process dies: a killed ferry leaves no
 * lock behind. A handle holds one job's lock at a time: taking one while
 * it holds one is FR_EINVAL.
 *
 * PostgreSQL: a session advisory lock (pg_try_advisory_lock) on a 64-bit
 * hash of the job name, held by the handle's connection. When that
 * connection breaks, the server lets the lock go; the operation that
 * reconnects takes it again, and when another handle took it meanwhile,
 * that operation and every later one but unlock and close fail with
 * FR_ESTORE ("lost the run lock"): the run stops instead of overlapping.
 * SQLite: a lock on one byte of the file PATH-joblock beside the database
 * (an open file description lock, released with the handle or the
 * process); "sqlite::memory:" is one handle's own store, so its lock is
 * always free.
 */
int fr_store_job_lock(struct fr_store *st, const char *job, bool *held, struct fr_err *err);

/* Releases job's run lock, which this handle holds (else FR_EINVAL). */
int fr_store_job_unlock(struct fr_store *st, const char *job, struct fr_err *err);

/*
 * A cheap read that proves the store answers (readiness checks). FR_ESTORE
 * with err saying why when it does not.
 */
int fr_store_ping(struct fr_store *st, struct fr_err *err);

/* The free space below which fr_store_write_check calls a SQLite store's filesystem full. */
#define FR_STORE_WRITE_MIN_FREE (1024u * 1024u)
/* How long fr_store_write_check waits for a lock another writer holds. */
#define FR_STORE_WRITE_CHECK_WAIT_MS 2000

/*
 * Proves that a write could commit now, and leaves nothing behind: for
 * readiness checks, since a store that answers reads may still refuse every
 * write (a full disk, a read-only file or database). FR_ESTORE with err
 * saying why when it could not (the URL's password is never in it).
 *
 * SQLite: the database file and its WAL may be written (access(2): a
 * read-only mount, an immutable file, permissions), their filesystem is not
 * mounted read-only and has FR_STORE_WRITE_MIN_FREE bytes free for this
 * process (statvfs: the rolled-back write below never reaches the disk, so
 * a full disk would go unseen), and within FR_STORE_WRITE_CHECK_WAIT_MS the
 * write lock is taken and a row written in a transaction that is rolled
 * back. "sqlite::memory:" has no file: only the last.
 * PostgreSQL: the server is not a standby in recovery, the session's
 * transactions are not read-only, and a row is inserted in a transaction
 * that is rolled back, waiting at most FR_STORE_WRITE_CHECK_WAIT_MS for a
 * lock. (The server's own disk is not measured: a full one shows when a
 * commit fails.)
 */
int fr_store_write_check(struct fr_store *st, struct fr_err *err);

#endif
