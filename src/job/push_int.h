/*
 * push_int.h: what push.c (the run: read, map, batch, send, settle, the
 * retry pass) shares with push_recover.c (keys in doubt: looked up on the
 * target before anything is resent) and push_report.c (the summary). Not
 * for other modules.
 *
 * Threads: one run is one thread; the client's callbacks run inside
 * fr_http_step on it. Functions marked "safe in callbacks" may be called
 * from them.
 */
#ifndef FR_JOB_PUSH_INT_H
#define FR_JOB_PUSH_INT_H

#include "core/common.h"

#include "job/push.h"

#include "core/buf.h"

struct fr_http_client;
struct fr_http_target;
struct fr_map;
struct fr_source;

/* A record on its way: what is needed to journal, resend and report it. */
struct rec {
    char *key;
    char hash[65];
    uint64_t line;
    char *text; /* the payload as sent (compact JSON) */
    size_t len;
    bool sent_before; /* counted in `sent` already (a retry-pass resend) */
    size_t dead;      /* 1 + the index in push.dead of the batch that left it in doubt; 0 none */
};

struct batch;

/* One key of a batch in doubt, being looked up. */
struct probe {
    struct batch *b;
    size_t i;
};

struct batch {
    struct push *p;
    struct rec *recs;
    size_t n, cap;
    size_t bytes; /* the body's size with these records */
    bool retry_pass;
    uint64_t seq;        /* its in-flight row in the journal; 0 until marked */
    bool held;           /* records of it wait for the retry pass: the row stays until then */
    bool keep_row;       /* outcome still unknown for some record: the row stays for the next run */
    size_t counted_sent; /* records counted in `sent` when it was handed to the client */
    /* In doubt (sent, answer lost): each key is looked up before anything is resent. */
    int doubt_rounds; /* times a send of these records ended in doubt */
    struct probe *probes;
    signed char *found; /* per record: 1 on the target, 0 not, -1 could not tell */
    char **why;         /* per record: why the lookup could not tell */
    size_t probes_left;
};

/* An in-flight batch of a run that stopped before it settled every key. */
struct dead {
    char run_id[FR_RUN_ID_MAX];
    uint64_t seq;
    int64_t sent_ms;
    size_t keys, resolved; /* the row is forgotten once every key is resolved */
};

/* A list of batch numbers. */
struct seqs {
    uint64_t *v;
    size_t n, cap;
};

struct push {
    const struct fr_target_conf *tconf; /* the job's target, or NULL */
    const struct fr_job_conf *job;
    const struct fr_push_opts *opts;
    struct fr_store *st;
    struct fr_push_result *out;
    struct fr_run_counts *counts;
    struct fr_http_client *client;
    struct fr_http_target *target;
    char *envelope_prefix; /* {"value":[ */
    size_t in_flight;
    struct batch *cur;
    /* Outcomes not yet committed: they go in with the next batch's inflight mark. */
    struct fr_journal_update *settled;
    size_t nsettled, capsettled;
    uint64_t next_seq;
    struct seqs done; /* batches settled: their rows go with the next commit */
    struct seqs held; /* batches with records for the retry pass */
    bool retry_pass_complete;
    json_t *unsettled; /* keys of this run sent and not committed settled: a repeat is rejected */
    struct dead *dead; /* in-flight batches that earlier runs left */
    size_t ndead;
    json_t *dead_keys; /* key -> index in dead (the newest batch holding it) */
    struct rec *again; /* records for the retry pass */
    size_t nagain, capagain;
    struct rec *ready; /* earlier runs' in-flight records the target lacks: to send */
    size_t nready, capready;
    bool stop;              /* something fatal happened, or a stop signal: read no more */
    int signo;              /* the stop signal the run noticed; 0 none */
    int64_t grace_until_ms; /* after a stop signal: when what is on the wire is left in flight */
    bool cut_off;           /* the wire was cut (second signal, or the grace ran out) */
    bool store_broken;      /* the journal cannot be written: nothing more is committed */
    size_t gave_up_batches;
    bool warned_no_lookup;
    int64_t started_ms, last_progress_ms;
    struct fr_source *src;
    struct fr_map *map;
    struct fr_buf text; /* the payload being written */
};

/* What the journal and the target say of a record: send it, it is settled, or wait. */
enum verdict { SETTLED, SEND, LOOKING_UP };

/* ---- push.c ----------------------------------------------------------------------------- */

/* Frees what r holds and zeroes it. */
void fr__push_rec_release(struct rec *r);
/* Stops the run with code and msg (the first reason wins): read no more. */
void fr__push_fatal(struct push *p, int code, const char *msg);
/* The journal cannot be written: logged; the run stops with FR_ESTORE and commits nothing more. */
void fr__push_store_failed(struct push *p, const struct fr_err *err);
/*
 * One record that did not make it (kind "rejected", "changed" or "failed";
 * key may be NULL): counted, logged, kept in the store and the summary.
 */
void fr__push_record_failure(struct push *p, const char *key, uint64_t line, const char *kind,
                             const char *reason);
/* Appends a batch number to l. */
void fr__push_seqs_add(struct seqs *l, uint64_t seq);
/* Keeps r's outcome for the next journal commit; r is copied, not taken. */
void fr__push_defer_outcome(struct push *p, const struct rec *r, enum fr_journal_state state,
                            const char *error);
/* Commits the deferred outcomes, the settled batches' rows and sent's in-flight row (or NULL). */
void fr__push_commit(struct push *p, const struct fr_journal_batch *sent);
/* A new, empty batch; freed by fr__push_batch_release or by sending it. */
struct batch *fr__push_batch_new(struct push *p, bool retry_pass);
/* Appends r to b (takes r: it is zeroed). */
void fr__push_batch_add(struct batch *b, struct rec *r);
/* Hands b's journal row to the next commit (done or held), unless it is kept; frees b. */
void fr__push_batch_release(struct push *p, struct batch *b);
/* Journals b's keys in flight, then hands b to the client. Takes b. Safe in callbacks. */
void fr__push_send_batch(struct push *p, struct batch *b);

/* ---- push_report.c ---------------------------------------------------------------------- */

/* Logs the run summary (info when it exited 0, critical for 1, error otherwise). */
void fr__push_log_summary(const struct push *p);

/* ---- push_recover.c --------------------------------------------------------------------- */

/*
 * b was sent and its answer lost: each key is looked up before anything of
 * it is resent. b lives on until its lookups are answered. Safe in callbacks.
 */
void fr__push_look_up_batch(struct push *p, struct batch *b, const char *why);
/*
 * What the journal says about r: SEND, SETTLED here (skipped, changed, a
 * repeat), or LOOKING_UP (r was taken: its key is being looked up).
 */
enum verdict fr__push_needs_sending(struct push *p, struct rec *r);
/* Reads the in-flight batches earlier runs of the job left behind (none with --fresh). */
int fr__push_load_in_doubt(struct push *p, struct fr_err *err);
/* The run's last journal commit, and earlier runs' batches now resolved forgotten. */
void fr__push_finish_journal(struct push *p);

#endif
