/*
 * store_int.h: what the store backends share, like curl's vtls_int.h.
 * Only src/store includes it.
 *
 * A backend defines a `struct fr_store_ops` with one function per store.h
 * operation, embeds `struct fr_store` as the first member of its own
 * handle, and registers an open function in the scheme table of store.c.
 * store.c checks the arguments every backend would check (NULL pointers,
 * n == 0) before dispatching, so backends may assume them valid.
 */
#ifndef FR_STORE_STORE_INT_H
#define FR_STORE_STORE_INT_H

#include "core/common.h"

#include "store/store.h"

struct fr_store_ops {
    const char *name; /* "sqlite", in messages */
    /* Frees the handle; st is never NULL. */
    void (*close)(struct fr_store *st);

    int (*run_begin)(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
    int (*run_finish)(struct fr_store *st, const struct fr_run *run, struct fr_err *err);
    int (*run_get)(struct fr_store *st, const char *id, struct fr_run *out, struct fr_err *err);
    int (*runs_list)(struct fr_store *st, const char *job, size_t limit,
                     int (*fn)(const struct fr_run *run, void *ud), void *ud, struct fr_err *err);
    int (*run_add_failures)(struct fr_store *st, const char *run_id,
                            const struct fr_run_failure *failures, size_t n, struct fr_err *err);
    int (*run_failures)(struct fr_store *st, const char *run_id,
                        int (*fn)(const struct fr_run_failure *f, void *ud), void *ud,
                        struct fr_err *err);

    int (*journal_get)(struct fr_store *st, const char *job, const char *key,
                       struct fr_journal_entry *out, struct fr_err *err);
    int (*journal_update)(struct fr_store *st, const char *job, const char *run_id,
                          const struct fr_journal_update *updates, size_t n, int64_t now_ms,
                          struct fr_err *err);
    int (*journal_by_run)(struct fr_store *st, const char *run_id, enum fr_journal_state state,
                          int (*fn)(const char *key, const struct fr_journal_entry *e, void *ud),
                          void *ud, struct fr_err *err);

    int (*journal_commit)(struct fr_store *st, const char *job, const char *run_id,
                          const struct fr_journal_update *updates, size_t n, const uint64_t *done,
                          size_t ndone, const struct fr_journal_batch *sent, int64_t now_ms,
                          struct fr_err *err);
    int (*journal_inflight)(struct fr_store *st, const char *job, const char *except_run_id,
                            int (*fn)(const char *run_id, uint64_t seq, int64_t sent_ms,
                                      const char *key, void *ud),
                            void *ud, struct fr_err *err);
    int (*journal_forget)(struct fr_store *st, const char *job, const char *run_id, uint64_t seq,
                          struct fr_err *err);

    int (*watermark_get)(struct fr_store *st, const char *job, char **value,
                         char run_id[FR_RUN_ID_MAX], int64_t *updated_ms, struct fr_err *err);
    int (*watermark_set)(struct fr_store *st, const char *job, const char *value,
                         const char *run_id, int64_t now_ms, struct fr_err *err);

    int (*events_add)(struct fr_store *st, const struct fr_event_in *ev, size_t n, int *outcome,
                      struct fr_err *err);
    int (*events_claim)(struct fr_store *st, const char *owner, int64_t now_ms, int64_t lease_ms,
                        size_t max, struct fr_event **out, size_t *n, struct fr_err *err);
    /* delivered, retry and dead in one: next_attempt_ms and error only matter where they apply */
    int (*event_outcome)(struct fr_store *st, int64_t seq, const char *owner,
                         enum fr_event_state state, int64_t next_attempt_ms, const char *error,
                         int64_t now_ms, struct fr_err *err);
    int (*events_release)(struct fr_store *st, const char *owner, struct fr_err *err);
    int (*dlq_list)(struct fr_store *st, const char *source, size_t limit,
                    int (*fn)(const struct fr_event *e, void *ud), void *ud, struct fr_err *err);
    int (*event_get)(struct fr_store *st, int64_t seq, struct fr_event *out, struct fr_err *err);
    int (*dlq_replay)(struct fr_store *st, int64_t seq, const char *source, int64_t now_ms,
                      uint64_t *count, struct fr_err *err);
    int (*dlq_purge)(struct fr_store *st, int64_t seq, int64_t older_than_ms, uint64_t *count,
                     struct fr_err *err);
    int (*events_purge_delivered)(struct fr_store *st, int64_t before_ms, size_t limit,
                                  uint64_t *count, struct fr_err *err);
    int (*queue_stats)(struct fr_store *st, bool with_delivered,
                       int (*fn)(const struct fr_queue_stats *q, void *ud), void *ud,
                       struct fr_err *err);
    int (*run_last)(struct fr_store *st, const char *job, const char *status, struct fr_run *out,
                    struct fr_err *err);
    int (*ping)(struct fr_store *st, struct fr_err *err);
    int (*write_check)(struct fr_store *st, struct fr_err *err);
    int (*schedule_claim)(struct fr_store *st, const char *job, int64_t slot_ms, const char *owner,
                          int64_t now_ms, bool *claimed, struct fr_err *err);
    /*
     * The job run lock. store.c keeps which job the handle holds (one at a
     * time) and releases it before close; *state is the backend's own note
     * of the lock (e.g. a file descriptor), handed back to unlock.
     */
    int (*job_lock)(struct fr_store *st, const char *job, uint64_t key, bool *held, void **state,
                    struct fr_err *err);
    int (*job_unlock)(struct fr_store *st, const char *job, uint64_t key, void *state,
                      struct fr_err *err);
    int (*schema)(struct fr_store *st, int64_t *current, int64_t *latest, struct fr_err *err);
    int (*migrate)(struct fr_store *st, int64_t *applied, struct fr_err *err);
};

/*
 * The base every backend handle starts with. A backend allocates its
 * handle zeroed and sets ops; the other fields are store.c's.
 */
struct fr_store {
    const struct fr_store_ops *ops;
    char *locked_job; /* the job whose run lock the handle holds; NULL for none */
    void *lock_state; /* the backend's note of that lock */
};

/*
 * A backend's open function. url is the whole URL as the user wrote it
 * (for messages, and for backends whose client library parses URLs, like
 * libpq); rest is what follows "scheme:". flags: FR_STORE_NO_MIGRATE
 * (store.h). On success *out is a handle the caller frees through
 * ops->close.
 */
typedef int (*fr__store_open_fn)(const char *url, const char *rest, const char *base_dir,
                                 unsigned flags, struct fr_store **out, struct fr_err *err);

int fr__store_sqlite_open(const char *url, const char *rest, const char *base_dir, unsigned flags,
                          struct fr_store **out, struct fr_err *err);
int fr__store_pg_open(const char *url, const char *rest, const char *base_dir, unsigned flags,
                      struct fr_store **out, struct fr_err *err);

/*
 * The key of job's run lock: a stable 64-bit hash of its name (FNV-1a),
 * the same in every process and every ferry version.
 */
uint64_t fr__store_job_key(const char *job);

/*
 * The columns of struct fr_run_counts, in declaration order, for backends
 * that bind and read them one by one. Adding a counter means adding it
 * here, to the struct, and a schema migration in every backend.
 */
#define FR__RUN_COUNTS(X)                                                                          \
    X(read)                                                                                        \
    X(sent)                                                                                        \
    X(created)                                                                                     \
    X(duplicate)                                                                                   \
    X(rejected)                                                                                    \
    X(failed)                                                                                      \
    X(changed)                                                                                     \
    X(skipped)                                                                                     \
    X(requests)                                                                                    \
    X(retries)                                                                                     \
    X(rate_limited)                                                                                \
    X(token_refreshes)                                                                             \
    X(pages)                                                                                       \
    X(written)

/* The state named name ("created"); false when name is no state's name. */
bool fr__journal_state_parse(const char *name, enum fr_journal_state *out);
/* The event state named name ("dead"); false when name is no state's name. */
bool fr__event_state_parse(const char *name, enum fr_event_state *out);

#endif
