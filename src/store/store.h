/*
 * store.h: the one interface to ferry's durable state: runs, the per-key
 * journal of push jobs, and each run's failures. Nothing outside src/store
 * knows an SQL dialect.
 *
 * Backends sit behind an operations table (store_int.h), like curl's TLS
 * backends; `sqlite:PATH` is the embedded default (WAL mode; a transaction
 * survives the ferry process being killed at any instant). One contract
 * test suite runs against every backend.
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

/*
 * Opens (creating if needed) the store named by url: "sqlite:PATH", PATH
 * relative to base_dir unless absolute ("sqlite::memory:" for tests).
 * Applies schema migrations. Free with fr_store_close.
 */
int fr_store_open(const char *url, const char *base_dir, struct fr_store **out, struct fr_err *err);
void fr_store_close(struct fr_store *st);

/* ---- runs ----------------------------------------------------------------------------- */

#define FR_RUN_ID_MAX 48

struct fr_run_counts {
    uint64_t read, sent, created, duplicate, rejected, failed, changed, skipped;
    uint64_t requests, retries, rate_limited, token_refreshes;
};

struct fr_run {
    char id[FR_RUN_ID_MAX];
    char job[128];
    char status[16];    /* "running", "ok", "failed", "interrupted" */
    int exit_code;      /* the ferry run exit status; -1 while running */
    int64_t started_ms; /* wall clock */
    int64_t ended_ms;   /* 0 while running */
    struct fr_run_counts counts;
};

/* A new run id: "YYYYMMDDTHHMMSSZ-" and 6 random hex digits. */
void fr_run_new_id(char out[FR_RUN_ID_MAX], int64_t wall_ms);

/*
 * Records a run as started (status "running"). Runs of the same job still
 * "running" from an earlier process are marked "interrupted", in the same
 * transaction; their ended_ms stays 0 and exit_code -1 (nobody knows when
 * that process died). A run id already stored is FR_ESTORE.
 */
int fr_store_run_begin(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
/* Stores a run's final status, exit code, end time and counts; FR_ENOTFOUND for an unknown id. */
int fr_store_run_finish(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
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
    bool sent;                /* counts one more attempt */
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

#endif
