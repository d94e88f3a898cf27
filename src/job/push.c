#include "core/common.h"
#include "job/push.h"

#include <math.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/jsonptr.h"
#include "core/log.h"
#include "http/client.h"
#include "job/map.h"
#include "job/results.h"
#include "job/run.h"
#include "job/source.h"
#include "obs/metrics.h"

/* Batches that gave up on transient errors before the run stops reading: the target is down. */
#define GIVE_UP_BATCHES 3

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
    const struct fr_config *cfg;
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

static void rec_release(struct rec *r)
{
    free(r->key);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

static bool single_shape(const struct push *p)
{
    return p->job->request.batch_size == 1;
}

/* ---- failures and counts ---------------------------------------------------------------- */

static void fatal(struct push *p, int code, const char *msg);

/* Notices a stop signal: read no more, cancel what is not on the wire, start the grace. */
static void stop_requested(struct push *p)
{
    const struct fr_run_stop *stop = p->opts->stop;
    if (!fr_run_stop_signo(stop) || p->signo)
        return;
    p->signo = fr_run_stop_signo(stop);
    int64_t grace = p->opts->grace_ms > 0 ? p->opts->grace_ms : 0;
    p->grace_until_ms = fr_now_ms() + grace;
    char reason[64];
    fr_run_reason(reason, sizeof(reason), FR_OK, NULL, NULL, false, p->signo);
    FR_LOG_WARN("stop signal: reading no more; batches on the wire settle within the grace "
                "period",
                FR_LS("signal", reason), FR_LI("grace_ms", grace), FR_LI("requests", p->in_flight));
    fatal(p, FR_ECANCELED, reason);
}

/* Stops the run with code (the first reason wins). */
static void fatal(struct push *p, int code, const char *msg)
{
    if (!p->out->code) {
        p->out->code = code;
        fr_err_set(&p->out->err, code, 0, "%s", msg);
    }
    p->stop = true;
}

static void store_failed(struct push *p, const struct fr_err *err)
{
    FR_LOG_ERROR("store failed", FR_LS("error", err->msg));
    fatal(p, FR_ESTORE, err->msg);
    p->store_broken = true;
}

/* Reports one record that did not make it: counted, logged, kept in the store and the summary. */
static void report(struct push *p, const char *key, uint64_t line, const char *kind,
                   const char *reason)
{
    if (strcmp(kind, "rejected") == 0)
        p->counts->rejected++;
    else if (strcmp(kind, "changed") == 0)
        p->counts->changed++;
    else
        p->counts->failed++;
    FR_LOG_WARN(strcmp(kind, "changed") == 0 ? "record changed since it was posted; not resent"
                                             : "record failed",
                FR_LS("source_ref", key), FR_LI("line", line), FR_LS("kind", kind),
                FR_LS("reason", reason));
    p->out->failures_total++;
    if (json_array_size(p->out->failures) < FR_PUSH_SUMMARY_FAILURES) {
        json_t *f = json_pack("{s:s?, s:I, s:s, s:s}", "key", key, "line", (json_int_t)line, "kind",
                              kind, "reason", reason);
        if (f)
            json_array_append_new(p->out->failures, f);
    }
    if (p->opts->dry_run)
        return;
    struct fr_run_failure f = {.key = key, .line = line, .kind = kind, .reason = reason};
    struct fr_err err = {0};
    if (fr_store_run_add_failures(p->st, p->out->run.id, &f, 1, &err))
        store_failed(p, &err);
}

static void seqs_add(struct seqs *l, uint64_t seq)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = fr_reallocarray(l->v, l->cap, sizeof(*l->v));
    }
    l->v[l->n++] = seq;
}

/*
 * Keeps an outcome to commit with the next journal write. Until then the
 * key's batch is still in flight in the store: a crash in between only
 * costs the next run a lookup, never a duplicate.
 */
static void defer_outcome(struct push *p, const struct rec *r, enum fr_journal_state state,
                          const char *error)
{
    if (p->nsettled == p->capsettled) {
        p->capsettled = p->capsettled ? p->capsettled * 2 : 256;
        p->settled = fr_reallocarray(p->settled, p->capsettled, sizeof(*p->settled));
    }
    p->settled[p->nsettled++] = (struct fr_journal_update){.key = fr_strdup(r->key),
                                                           .state = state,
                                                           .payload_hash = fr_strdup(r->hash),
                                                           .error = error ? fr_strdup(error) : NULL,
                                                           .sent = r->sent_before ? 2 : 1};
}

/*
 * Commits, in one transaction, the deferred outcomes, the rows of the
 * batches they settled, and sent's in-flight row (sent may be NULL).
 */
static void commit(struct push *p, const struct fr_journal_batch *sent)
{
    struct fr_err err = {0};
    if (!p->opts->dry_run && !p->store_broken &&
        fr_store_journal_commit(p->st, p->job->name, p->out->run.id, p->settled, p->nsettled,
                                p->done.v, p->done.n, sent, fr_wall_ms(), &err))
        store_failed(p, &err);
    for (size_t i = 0; i < p->nsettled; i++) {
        if (!p->store_broken)
            json_object_del(p->unsettled, p->settled[i].key);
        free((char *)p->settled[i].key);
        free((char *)p->settled[i].payload_hash);
        free((char *)p->settled[i].error);
    }
    p->nsettled = 0;
    p->done.n = 0;
}

/* ---- progress --------------------------------------------------------------------------- */

static void progress(struct push *p, bool final)
{
    if (!p->opts->progress)
        return;
    int64_t now = fr_now_ms();
    if (!final && now - p->last_progress_ms < FR_PROGRESS_EVERY_MS)
        return;
    p->last_progress_ms = now;
    struct fr_progress pg = {
        .counts = p->counts, .total = -1, .elapsed_ms = now - p->started_ms, .final = final};
    if (p->src)
        fr_source_progress(p->src, &pg.done, &pg.total);
    p->opts->progress(p->opts->progress_ud, &pg);
}

/* ---- batches ---------------------------------------------------------------------------- */

static struct batch *batch_new(struct push *p, bool retry_pass)
{
    struct batch *b = fr_calloc(1, sizeof(*b));
    b->p = p;
    b->retry_pass = retry_pass;
    b->bytes = single_shape(p) ? 0 : strlen(p->envelope_prefix) + 2; /* prefix + "]}" */
    return b;
}

static void batch_free(struct batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        rec_release(&b->recs[i]);
        if (b->why)
            free(b->why[i]);
    }
    free(b->recs);
    free(b->probes);
    free(b->found);
    free(b->why);
    free(b);
}

/* Whether r fits in b without passing batch_size or max_bytes. */
static bool batch_fits(const struct push *p, const struct batch *b, const struct rec *r)
{
    if (b->n == 0)
        return true;
    if (b->n >= (size_t)p->job->request.batch_size)
        return false;
    return b->bytes + r->len + 1 <= p->job->request.max_bytes;
}

static void batch_add(struct batch *b, struct rec *r)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->recs = fr_reallocarray(b->recs, b->cap, sizeof(*b->recs));
    }
    b->bytes += r->len + (b->n ? 1 : 0);
    b->recs[b->n++] = *r;
    memset(r, 0, sizeof(*r)); /* moved */
}

static char *batch_body(const struct push *p, const struct batch *b, size_t *len)
{
    if (single_shape(p)) {
        *len = b->recs[0].len;
        return fr_strndup(b->recs[0].text, b->recs[0].len);
    }
    struct fr_buf body = FR_BUF_INIT;
    fr_buf_adds(&body, p->envelope_prefix);
    for (size_t i = 0; i < b->n; i++) {
        if (i)
            fr_buf_addc(&body, ',');
        fr_buf_add(&body, b->recs[i].text, b->recs[i].len);
    }
    fr_buf_adds(&body, "]}");
    return fr_buf_detach(&body, len);
}

/* Keeps r for the retry pass (moves it). */
static void keep_for_retry(struct push *p, struct rec *r)
{
    if (p->nagain == p->capagain) {
        p->capagain = p->capagain ? p->capagain * 2 : 64;
        p->again = fr_reallocarray(p->again, p->capagain, sizeof(*p->again));
    }
    r->sent_before = true;
    p->again[p->nagain++] = *r;
    memset(r, 0, sizeof(*r));
}

/* Applies per-record outcomes to the journal, the counts and the failure report. */
static void settle(struct push *p, struct batch *b, const struct fr_record_result *results)
{
    for (size_t i = 0; i < b->n; i++) {
        struct rec *r = &b->recs[i];
        const struct fr_record_result *res = &results[i];
        switch (res->outcome) {
        case FR_OUTCOME_CREATED:
        case FR_OUTCOME_DUPLICATE: {
            bool created = res->outcome == FR_OUTCOME_CREATED;
            if (created)
                p->counts->created++;
            else
                p->counts->duplicate++;
            defer_outcome(p, r, created ? FR_JOURNAL_CREATED : FR_JOURNAL_DUPLICATE, NULL);
            break;
        }
        case FR_OUTCOME_FAILED:
            defer_outcome(p, r, FR_JOURNAL_FAILED, res->message);
            report(p, r->key, r->line, "failed", res->message ? res->message : "refused");
            break;
        case FR_OUTCOME_RETRY:
        case FR_OUTCOME_MISSING:
        default:
            if (!b->retry_pass) {
                keep_for_retry(p, r);
                b->held = true;
            } else if (res->outcome == FR_OUTCOME_RETRY) {
                defer_outcome(p, r, FR_JOURNAL_FAILED, res->message);
                report(p, r->key, r->line, "failed", res->message ? res->message : "retry");
            } else {
                /* Unknown: stays in flight so the next run looks it up before resending. */
                b->keep_row = true;
                report(p, r->key, r->line, "failed",
                       "outcome unknown: missing from the batch answer twice; the next run "
                       "checks it with the lookup request");
            }
            break;
        }
    }
}

/* The whole batch shares one outcome. */
static void settle_all(struct push *p, struct batch *b, enum fr_outcome outcome, const char *msg)
{
    struct fr_record_result *rs = fr_calloc(b->n, sizeof(*rs));
    for (size_t i = 0; i < b->n; i++) {
        rs[i].outcome = outcome;
        rs[i].message = msg ? fr_strdup(msg) : NULL;
    }
    settle(p, b, rs);
    for (size_t i = 0; i < b->n; i++)
        fr_record_result_release(&rs[i]);
    free(rs);
}

static void settle_from_answer(struct push *p, struct batch *b, struct fr_http_result *res)
{
    const struct fr_results_conf *rc = &p->job->results;
    if (!rc->configured) {
        /* The HTTP status says it all: 2xx created, 409 duplicate. */
        settle_all(p, b, res->cls == FR_CLASS_DUPLICATE ? FR_OUTCOME_DUPLICATE : FR_OUTCOME_CREATED,
                   NULL);
        return;
    }
    const char **keys = fr_calloc(b->n, sizeof(*keys));
    for (size_t i = 0; i < b->n; i++)
        keys[i] = b->recs[i].key;
    struct fr_record_result *rs = fr_calloc(b->n, sizeof(*rs));
    char *why = NULL;
    if (res->cls == FR_CLASS_DUPLICATE && b->n == 1) {
        rs[0].outcome = FR_OUTCOME_DUPLICATE;
    } else if (fr_results_parse(rc, res->json, keys, b->n, rs, &why)) {
        FR_LOG_WARN("batch answer without per-record results; its records get another pass",
                    FR_LS("reason", why), FR_LS("request_id", res->request_id));
    }
    free(why);
    settle(p, b, rs);
    for (size_t i = 0; i < b->n; i++)
        fr_record_result_release(&rs[i]);
    free(rs);
    free(keys);
}

static void send_batch(struct push *p, struct batch *b);
static void look_up_batch(struct push *p, struct batch *b, const char *why);

/* A batch that gave up on transient errors: its outcome is known only if nothing acted. */
static void gave_up(struct push *p, struct batch *b, struct fr_http_result *res)
{
    FR_LOG_WARN("batch gave up on transient errors", FR_LS("error", res->err.msg),
                FR_LI("records", b->n), FR_LB("retry_pass", b->retry_pass),
                FR_LB("may_have_acted", res->maybe_acted));
    if (!b->retry_pass && ++p->gave_up_batches >= GIVE_UP_BATCHES)
        fatal(p, FR_EUNREACHABLE, res->err.msg);
    if (!b->retry_pass) {
        for (size_t i = 0; i < b->n; i++)
            keep_for_retry(p, &b->recs[i]);
        b->held = true;
    } else if (!res->maybe_acted) {
        /* Every attempt was refused before the target acted: not stored, known. */
        char *msg = fr_asprintf("not stored: %s", res->err.msg);
        settle_all(p, b, FR_OUTCOME_FAILED, msg);
        free(msg);
        if (!p->out->code)
            fatal(p, FR_EUNREACHABLE, res->err.msg);
    } else {
        b->keep_row = true;
        for (size_t i = 0; i < b->n; i++)
            report(p, b->recs[i].key, b->recs[i].line, "failed",
                   "outcome unknown: the target stayed unreachable; the next run checks it "
                   "with the lookup request");
        if (!p->out->code)
            fatal(p, FR_EUNREACHABLE, res->err.msg);
    }
}

/* The batch's row is done with, held for the retry pass, or kept; then it goes. */
static void batch_release(struct push *p, struct batch *b)
{
    if (b->seq && !b->keep_row)
        seqs_add(b->held ? &p->held : &p->done, b->seq);
    batch_free(b);
}

static void batch_done(struct fr_http_result *res, void *ud)
{
    struct batch *b = ud;
    struct push *p = b->p;
    p->in_flight--;
    if (res->attempts == 0) {
        /* Never on the wire (the token step failed, or the run stopped): not sent. */
        p->counts->sent -= b->counted_sent;
        b->counted_sent = 0;
    }
    if (res->code == FR_OK) {
        settle_from_answer(p, b, res);
    } else if (res->code == FR_EINDOUBT) {
        look_up_batch(p, b, res->err.msg);
        return; /* b lives on until its lookups are answered */
    } else if (res->code == FR_EAUTH) {
        settle_all(p, b, FR_OUTCOME_FAILED, res->err.msg);
        fatal(p, FR_EAUTH, res->err.msg);
    } else if (res->code == FR_EREJECTED || res->code == FR_ETOOBIG) {
        /* The API refused the request: every record in it failed with that reason. */
        settle_all(p, b, FR_OUTCOME_FAILED, res->err.msg);
    } else if (res->code == FR_ECANCELED && !res->maybe_acted) {
        settle_all(p, b, FR_OUTCOME_FAILED,
                   "not sent: the run stopped before this record's batch went out");
    } else if (res->code == FR_ECANCELED) {
        /* Cut off on the wire: in doubt; the row stays so the next run looks the keys up. */
        b->keep_row = true;
        for (size_t i = 0; i < b->n; i++)
            report(p, b->recs[i].key, b->recs[i].line, "failed",
                   "outcome unknown: the run stopped while this record's batch was on the wire; "
                   "the next run checks it with the lookup request");
    } else {
        gave_up(p, b, res);
    }
    batch_release(p, b);
}

/* ---- in doubt: look the keys up, resend only what the target does not have ------------- */

/*
 * What a lookup's answer res says of its key: 1 on the target, 0 not, -1
 * could not tell (*why set, caller frees; a target that is unreachable or
 * refuses the credentials stops the run).
 */
static int lookup_verdict(struct push *p, const struct fr_http_result *res, char **why)
{
    const struct fr_key_request_conf *lk = &p->job->lookup;
    if (res->code == FR_ECANCELED) {
        *why = fr_strdup("outcome unknown: the run stopped before its key was looked up; the "
                         "next run checks it");
        return -1;
    }
    p->out->lookups++;
    if (res->code == FR_OK) {
        json_t *hit = res->json ? fr_json_pointer(res->json, lk->found) : NULL;
        return hit && !json_is_null(hit) ? 1 : 0;
    }
    if (res->status == 404)
        return 0;
    *why =
        fr_asprintf("in-doubt key could not be checked with the lookup request: %s", res->err.msg);
    if (res->code == FR_EAUTH || res->code == FR_EUNREACHABLE)
        fatal(p, res->code, res->err.msg);
    return -1;
}

/* Every key of b is answered: settle what the target has, resend what it has not. */
static void doubt_resolved(struct push *p, struct batch *b)
{
    int max_rounds = fr_http_target_conf(p->target)->retry.max_attempts;
    struct batch *again = NULL;
    size_t unknown = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct rec *r = &b->recs[i];
        if (b->found[i] == 1) {
            /* The lost answer was a success: this run created it. */
            p->counts->created++;
            defer_outcome(p, r, FR_JOURNAL_CREATED, NULL);
        } else if (b->found[i] == 0 && !p->stop && b->doubt_rounds < max_rounds) {
            if (!again) {
                again = batch_new(p, b->retry_pass);
                again->doubt_rounds = b->doubt_rounds;
            }
            r->sent_before = true;
            batch_add(again, r);
        } else if (b->found[i] == 0) {
            defer_outcome(p, r, FR_JOURNAL_FAILED, "not stored: answers kept getting lost");
            report(p, r->key, r->line, "failed",
                   p->stop ? "not stored (the lookup says so); not resent: the run is stopping"
                           : "not stored: the target lost the answer to every send of it");
        } else {
            unknown++;
            report(p, r->key, r->line, "failed", b->why[i]);
        }
    }
    FR_LOG_INFO("in-doubt batch checked", FR_LI("records", b->n),
                FR_LI("resend", again ? again->n : 0), FR_LI("unknown", unknown));
    if (unknown)
        b->keep_row = true; /* the next run looks those up again */
    else if (b->seq)
        seqs_add(&p->done, b->seq); /* goes with the resend's mark, in one commit */
    b->seq = unknown ? b->seq : 0;
    if (again)
        send_batch(p, again);
    batch_release(p, b);
}

static void probe_done(struct fr_http_result *res, void *ud)
{
    struct probe *pr = ud;
    struct batch *b = pr->b;
    struct push *p = b->p;
    p->in_flight--;
    b->found[pr->i] = (signed char)lookup_verdict(p, res, &b->why[pr->i]);
    if (--b->probes_left == 0)
        doubt_resolved(p, b);
}

/*
 * b was sent and its answer lost: the target may have stored its records.
 * Each key is looked up (concurrently, within max_in_flight and the rate
 * limiter); doubt_resolved takes it from there.
 */
static void look_up_batch(struct push *p, struct batch *b, const char *why)
{
    b->doubt_rounds++;
    p->out->in_doubt++;
    FR_LOG_WARN("batch answer lost after sending; looking its keys up before resending any",
                FR_LS("error", why), FR_LI("records", b->n), FR_LI("round", b->doubt_rounds));
    if (!b->found) {
        b->found = fr_calloc(b->n, sizeof(*b->found));
        b->why = fr_calloc(b->n, sizeof(*b->why));
        b->probes = fr_calloc(b->n, sizeof(*b->probes));
    }
    b->probes_left = b->n;
    const struct fr_key_request_conf *lk = &p->job->lookup;
    for (size_t i = 0; i < b->n; i++) {
        b->found[i] = -1;
        free(b->why[i]);
        b->why[i] = NULL;
        b->probes[i] = (struct probe){.b = b, .i = i};
        char *path = fr_push_expand_key(lk->path, b->recs[i].key);
        struct fr_http_request req = {.method = lk->method, .path = path};
        if (fr_http_submit(p->target, &req, probe_done, &b->probes[i])) {
            b->why[i] = fr_strdup("the job's lookup request is malformed (method or path)");
            b->probes_left--;
        } else {
            p->in_flight++;
        }
        free(path);
    }
    if (b->probes_left == 0)
        doubt_resolved(p, b);
}

/*
 * Waits until fewer than `below` requests of the run are with the client.
 * Once the run stops, what has not gone out yet (queued, or waiting for a
 * retry, a token, the rate limiter or the circuit breaker) is canceled:
 * only what is on the wire is waited for.
 */
static void drain(struct push *p, size_t below)
{
    while (p->in_flight >= below && p->in_flight > 0) {
        stop_requested(p);
        if (p->signo && !p->cut_off &&
            (fr_run_stop_count(p->opts->stop) > 1 || fr_now_ms() >= p->grace_until_ms)) {
            FR_LOG_WARN(fr_run_stop_count(p->opts->stop) > 1
                            ? "second stop signal: batches still on the wire stay in flight; "
                              "the next run looks them up"
                            : "grace period over: batches still on the wire stay in flight; "
                              "the next run looks them up",
                        FR_LI("requests", p->in_flight));
            p->cut_off = true;
            fr_http_cancel(p->client, true);
        }
        if (p->stop)
            fr_http_cancel(p->client, false);
        if (p->in_flight < below || !p->in_flight)
            break;
        fr_http_step(p->client, 250);
        progress(p, false);
    }
}

/* Records of a batch that will not be sent because the run stopped. */
static void abandon(struct push *p, struct batch *b)
{
    for (size_t i = 0; b && i < b->n; i++)
        report(p, b->recs[i].key, b->recs[i].line, "failed",
               "not sent: the run stopped before this record's batch went out");
    batch_free(b);
}

/*
 * Journals b's keys as in flight (with the outcomes settled so far), then
 * hands b to the client. Takes b. Safe inside the client's callbacks.
 */
static void send_batch(struct push *p, struct batch *b)
{
    if (b->n == 0 || p->stop) {
        abandon(p, b);
        return;
    }
    if (p->opts->dry_run) {
        p->counts->sent += b->n;
        batch_free(b);
        return;
    }
    const char **keys = fr_calloc(b->n, sizeof(*keys));
    for (size_t i = 0; i < b->n; i++)
        keys[i] = b->recs[i].key;
    b->seq = ++p->next_seq;
    struct fr_journal_batch sent = {.seq = b->seq, .keys = keys, .n = b->n};
    commit(p, &sent);
    free(keys);
    if (p->store_broken) { /* the journal failed: sending now could post twice later */
        abandon(p, b);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        struct rec *r = &b->recs[i];
        if (!r->sent_before) {
            p->counts->sent++;
            b->counted_sent++;
        }
        json_object_set_nocheck(p->unsettled, r->key, json_true());
        if (r->dead) { /* marked in flight again: the earlier batch's doubt is covered */
            p->dead[r->dead - 1].resolved++;
            r->dead = 0;
        }
    }
    size_t len;
    char *body = batch_body(p, b, &len);
    const struct fr_job_conf *job = p->job;
    struct fr_http_request req = {.method = job->request.method,
                                  .path = job->request.path,
                                  .body = body,
                                  .body_len = len,
                                  .body_rules = job->body_errors,
                                  .nbody_rules = job->nbody_errors,
                                  .resolve_doubt = job->lookup.configured};
    if (fr_http_submit(p->target, &req, batch_done, b)) {
        fatal(p, FR_EINVAL, "the job's request is malformed (method or path)");
        batch_free(b);
    } else {
        p->in_flight++;
    }
    free(body);
}

/* Sends b, then waits while max_in_flight requests are on the wire. Takes b. */
static void dispatch(struct push *p, struct batch *b)
{
    send_batch(p, b);
    int max = fr_http_target_conf(p->target)->max_in_flight;
    drain(p, (size_t)(max > 0 ? max : 1));
}

/* Adds r to the current batch, sending the batch first when r does not fit. Takes r. */
static void enqueue(struct push *p, struct rec *r, bool retry_pass)
{
    if (!p->cur)
        p->cur = batch_new(p, retry_pass);
    if (!batch_fits(p, p->cur, r)) {
        struct batch *full = p->cur;
        p->cur = batch_new(p, retry_pass);
        dispatch(p, full);
    }
    batch_add(p->cur, r);
    if (p->cur->n >= (size_t)p->job->request.batch_size) {
        struct batch *full = p->cur;
        p->cur = NULL;
        dispatch(p, full);
    }
}

/* Queues the records whose lookup found them missing on the target (main loop only). */
static void send_ready(struct push *p)
{
    while (p->nready) {
        struct rec *ready = p->ready;
        size_t n = p->nready;
        p->ready = NULL;
        p->nready = p->capready = 0;
        for (size_t i = 0; i < n; i++) {
            if (p->stop) {
                report(p, ready[i].key, ready[i].line, "failed",
                       "not sent: the run stopped before this record's batch went out");
                rec_release(&ready[i]);
            } else {
                enqueue(p, &ready[i], false);
            }
        }
        free(ready);
    }
}

/* Sends what is queued and waits for every answer, lookups and what they bring back included. */
static void flush(struct push *p)
{
    do {
        send_ready(p);
        struct batch *b = p->cur;
        p->cur = NULL;
        if (b)
            dispatch(p, b);
        drain(p, 1);
    } while (p->nready);
}

/* ---- records ---------------------------------------------------------------------------- */

char *fr_push_expand_key(const char *tmpl, const char *key)
{
    char *enc = fr_http_escape(key);
    struct fr_buf b = FR_BUF_INIT;
    const char *at;
    while ((at = strstr(tmpl, "{{key}}"))) {
        fr_buf_add(&b, tmpl, (size_t)(at - tmpl));
        fr_buf_adds(&b, enc);
        tmpl = at + strlen("{{key}}");
    }
    fr_buf_adds(&b, tmpl);
    free(enc);
    return fr_buf_detach(&b, NULL);
}

static void repeated_key(struct push *p, const struct rec *r)
{
    report(p, r->key, r->line, "rejected",
           "key appears again in the source; the first record with it was sent");
}

/* What the journal and the target say of a record: send it, it is settled, or wait. */
enum verdict { SETTLED, SEND, LOOKING_UP };

/* A key an earlier run left in flight, being looked up; the record waits here. */
struct leftover {
    struct push *p;
    struct rec r;
    char run_id[FR_RUN_ID_MAX];
    size_t dead; /* 1 + its index in push.dead; 0 none */
};

/* A record whose lookup said "not there": it is sent from the main loop (send_ready). */
static void ready_add(struct push *p, struct rec *r)
{
    if (p->nready == p->capready) {
        p->capready = p->capready ? p->capready * 2 : 64;
        p->ready = fr_reallocarray(p->ready, p->capready, sizeof(*p->ready));
    }
    p->ready[p->nready++] = *r;
    memset(r, 0, sizeof(*r));
}

static void leftover_done(struct fr_http_result *res, void *ud)
{
    struct leftover *lo = ud;
    struct push *p = lo->p;
    struct rec *r = &lo->r;
    p->in_flight--;
    char *why = NULL;
    int found = lookup_verdict(p, res, &why);
    if (found == 1) {
        /* Created by the run that died: credit it to that run. */
        struct fr_journal_update u = {
            .key = r->key, .state = FR_JOURNAL_CREATED, .payload_hash = r->hash};
        struct fr_err jerr = {0};
        if (fr_store_journal_update(p->st, p->job->name, lo->run_id, &u, 1, fr_wall_ms(), &jerr))
            store_failed(p, &jerr);
        else if (lo->dead)
            p->dead[lo->dead - 1].resolved++;
        p->counts->duplicate++;
        json_object_del(p->unsettled, r->key);
        FR_LOG_INFO("in-flight key found on the target; not resent", FR_LS("source_ref", r->key),
                    FR_LS("run_id", lo->run_id));
    } else if (found == 0) {
        r->dead = lo->dead;
        ready_add(p, r);
    } else {
        report(p, r->key, r->line, "failed", why);
    }
    free(why);
    rec_release(r);
    free(lo);
}

/*
 * r's key was in flight when run_id stopped: maybe created, maybe not.
 * With a lookup request the target is asked, concurrently with the rest of
 * the run (within max_in_flight, the rate limiter and the breaker): r is
 * taken and comes back through send_ready when the target lacks it.
 * dead (0 for none) is the in-flight batch that left it in doubt.
 */
static enum verdict in_doubt(struct push *p, struct rec *r, const char *run_id, size_t dead)
{
    if (!p->job->lookup.configured) {
        if (!p->warned_no_lookup)
            FR_LOG_WARN("keys were in flight when an earlier run stopped and the job has no "
                        "lookup request: resending them relies on the target refusing "
                        "duplicates",
                        FR_LS("job", p->job->name));
        p->warned_no_lookup = true;
        r->dead = dead;
        return SEND;
    }
    if (p->opts->dry_run)
        return SEND;
    struct leftover *lo = fr_calloc(1, sizeof(*lo));
    lo->p = p;
    lo->dead = dead;
    fr_strlcpy(lo->run_id, run_id, sizeof(lo->run_id));
    char *path = fr_push_expand_key(p->job->lookup.path, r->key);
    struct fr_http_request req = {.method = p->job->lookup.method, .path = path};
    int rc = fr_http_submit(p->target, &req, leftover_done, lo);
    free(path);
    if (rc) {
        free(lo);
        report(p, r->key, r->line, "failed", "the job's lookup request is malformed");
        return SETTLED;
    }
    /* A repeat of the key later in the source waits for this answer: it is rejected. */
    json_object_set_nocheck(p->unsettled, r->key, json_true());
    lo->r = *r;
    memset(r, 0, sizeof(*r));
    p->in_flight++;
    return LOOKING_UP;
}

/*
 * What the journal says about r: SEND, SETTLED here (skipped, changed, a
 * repeat), or LOOKING_UP (r was taken: its key is being looked up).
 */
static enum verdict needs_sending(struct push *p, struct rec *r)
{
    if (p->opts->fresh)
        return SEND;
    if (json_object_get(p->unsettled, r->key)) {
        repeated_key(p, r); /* sent by this run a moment ago, outcome not yet committed */
        return SETTLED;
    }
    struct fr_journal_entry e = {0};
    struct fr_err err = {0};
    int rc = fr_store_journal_get(p->st, p->job->name, r->key, &e, &err);
    if (rc && rc != FR_ENOTFOUND) {
        store_failed(p, &err);
        return SETTLED;
    }
    json_t *di = json_object_get(p->dead_keys, r->key);
    if (di) {
        size_t dead = (size_t)json_integer_value(di);
        struct dead *d = &p->dead[dead];
        json_object_del(p->dead_keys, r->key); /* a repeat later in the source is not in doubt */
        if (rc == FR_ENOTFOUND || e.updated_ms <= d->sent_ms) {
            enum verdict v = in_doubt(p, r, d->run_id, dead + 1);
            fr_journal_entry_release(&e);
            return v;
        }
        d->resolved++; /* settled after that batch went out: a later run knew the outcome */
    }
    if (rc == FR_ENOTFOUND)
        return SEND;
    enum verdict send = SEND;
    bool same = strcmp(e.payload_hash, r->hash) == 0;
    bool mine = strcmp(e.run_id, p->out->run.id) == 0;
    switch (e.state) {
    case FR_JOURNAL_CREATED:
    case FR_JOURNAL_DUPLICATE:
        send = SETTLED;
        if (mine) {
            repeated_key(p, r);
        } else if (same) {
            p->counts->skipped++;
        } else {
            char *why = fr_asprintf("payload changed since run %s posted it; not resent "
                                    "(roll that run back, or run with --fresh)",
                                    e.run_id);
            report(p, r->key, r->line, "changed", why);
            free(why);
        }
        break;
    case FR_JOURNAL_INFLIGHT: /* a per-key mark, as journals of schema 2 and before hold */
        if (mine) {
            repeated_key(p, r);
            send = SETTLED;
        } else {
            send = in_doubt(p, r, e.run_id, 0);
        }
        break;
    default:
        break;
    }
    fr_journal_entry_release(&e);
    return send;
}

/*
 * The key of a record that could not be mapped, read straight from the
 * column the key field copies, so the report names the order. Caller frees.
 */
static char *source_key(const struct fr_job_conf *job, json_t *fields)
{
    for (size_t i = 0; i < job->nmap; i++) {
        const struct fr_map_field *f = &job->map[i];
        if (f->from && strcmp(f->name, job->key) == 0)
            return fr_map_key(fields, f->from);
    }
    return NULL;
}

/* Maps one source record and queues it; rejects it locally when it cannot be sent. */
static void process(struct push *p, struct fr_record *in)
{
    const struct fr_job_conf *job = p->job;
    if (in->error) {
        report(p, NULL, in->line, "rejected", in->error);
        return;
    }
    struct rec r = {.line = in->line};
    char *why = NULL;
    if (fr_map_write(p->map, in->fields, &p->text, &r.key, &why)) {
        char *key = source_key(job, in->fields);
        report(p, key, in->line, "rejected", why);
        free(key);
        free(why);
        return;
    }
    if (!r.key) {
        char *msg = fr_asprintf("%s: the key field is empty", job->key);
        report(p, NULL, in->line, "rejected", msg);
        free(msg);
        return;
    }
    if (p->opts->only_key && strcmp(p->opts->only_key, r.key) != 0) {
        rec_release(&r);
        return;
    }
    /* The canonical text is both the body and what the hash covers. */
    r.len = p->text.len;
    r.text = fr_strndup(fr_buf_str(&p->text), r.len);
    fr_map_digest(p->map, r.text, r.len, r.hash);
    if (r.len + strlen(p->envelope_prefix) + 2 > job->request.max_bytes) {
        char *msg = fr_asprintf("payload of %zu bytes does not fit request.max_bytes", r.len);
        report(p, r.key, r.line, "rejected", msg);
        free(msg);
        rec_release(&r);
        return;
    }
    /* The same key twice in the batch being built: the journal cannot see it yet. */
    for (size_t i = 0; p->cur && i < p->cur->n; i++) {
        if (strcmp(p->cur->recs[i].key, r.key) == 0) {
            char *msg = fr_asprintf("key appears again in the source (first at line %llu)",
                                    (unsigned long long)p->cur->recs[i].line);
            report(p, r.key, r.line, "rejected", msg);
            free(msg);
            rec_release(&r);
            return;
        }
    }
    switch (needs_sending(p, &r)) {
    case SEND:
        enqueue(p, &r, false);
        break;
    case LOOKING_UP: /* r was taken; it comes back through send_ready if it must go */
        drain(p, (size_t)FR_MAX(fr_http_target_conf(p->target)->max_in_flight, 1));
        break;
    case SETTLED:
        rec_release(&r);
        break;
    }
}

/* Records kept for the retry pass that a stopped run will not send: reported, still inflight. */
static void abandon_again(struct push *p)
{
    for (size_t i = 0; i < p->nagain; i++) {
        report(p, p->again[i].key, p->again[i].line, "failed",
               "outcome unknown: the run stopped before its retry pass; the next run checks it "
               "with the lookup request");
        rec_release(&p->again[i]);
    }
    p->nagain = 0;
}

static void retry_pass(struct push *p)
{
    if (p->stop)
        abandon_again(p);
    if (!p->nagain) {
        p->retry_pass_complete = !p->stop;
        return;
    }
    FR_LOG_INFO("retry pass: sending once more the records whose outcome was not final",
                FR_LI("records", p->nagain));
    struct rec *again = p->again;
    size_t n = p->nagain;
    p->again = NULL;
    p->nagain = p->capagain = 0;
    bool all_sent = true;
    for (size_t i = 0; i < n; i++) {
        if (p->stop) {
            report(p, again[i].key, again[i].line, "failed",
                   "outcome unknown: the run stopped before resending it");
            rec_release(&again[i]);
            all_sent = false;
            continue;
        }
        enqueue(p, &again[i], true);
    }
    flush(p);
    /* every record held back was marked in flight again, in a batch of its own */
    p->retry_pass_complete = all_sent && !p->stop;
    /* Anything that asked for yet another pass was reported by settle(). */
    for (size_t i = 0; i < p->nagain; i++)
        rec_release(&p->again[i]);
    p->nagain = 0;
    free(again);
}

/* ---- the run ---------------------------------------------------------------------------- */

static int load_dead(const char *run_id, uint64_t seq, int64_t sent_ms, const char *key, void *ud)
{
    struct push *p = ud;
    struct dead *d = p->ndead ? &p->dead[p->ndead - 1] : NULL;
    if (!d || d->seq != seq || strcmp(d->run_id, run_id) != 0) {
        p->dead = fr_reallocarray(p->dead, p->ndead + 1, sizeof(*p->dead));
        d = &p->dead[p->ndead++];
        *d = (struct dead){.seq = seq, .sent_ms = sent_ms};
        fr_strlcpy(d->run_id, run_id, sizeof(d->run_id));
    }
    d->keys++;
    /* Oldest first: a newer batch with the same key supersedes the older one's doubt. */
    json_t *older = json_object_get(p->dead_keys, key);
    if (older)
        p->dead[json_integer_value(older)].resolved++;
    json_object_set_new_nocheck(p->dead_keys, key, json_integer((json_int_t)(p->ndead - 1)));
    return 0;
}

/* Reads the in-flight batches earlier runs of the job left behind. */
static int load_in_doubt(struct push *p, struct fr_err *err)
{
    if (p->opts->fresh)
        return FR_OK;
    int rc = fr_store_journal_inflight(p->st, p->job->name, p->out->run.id, load_dead, p, err);
    if (!rc && p->ndead)
        FR_LOG_WARN("keys were in flight when earlier runs stopped; each is checked before it is "
                    "sent again",
                    FR_LI("keys", json_object_size(p->dead_keys)), FR_LI("batches", p->ndead));
    return rc;
}

/*
 * The last commit: outcomes, settled batches, the batches held for a retry
 * pass that resent them all, and earlier runs' batches now resolved.
 */
static void finish_journal(struct push *p)
{
    if (p->retry_pass_complete)
        for (size_t i = 0; i < p->held.n; i++)
            seqs_add(&p->done, p->held.v[i]);
    commit(p, NULL);
    size_t left = 0;
    for (size_t i = 0; i < p->ndead && !p->stop && !p->opts->dry_run; i++) {
        struct dead *d = &p->dead[i];
        if (d->resolved < d->keys) {
            left += d->keys - d->resolved;
            continue;
        }
        struct fr_err err = {0};
        if (fr_store_journal_forget(p->st, p->job->name, d->run_id, d->seq, &err))
            store_failed(p, &err);
    }
    if (left)
        FR_LOG_WARN("keys an earlier run left in flight are still unresolved (not in this run's "
                    "records, or not checked); the next run checks them again",
                    FR_LI("keys", left));
}

static int setup(struct push *p, struct fr_err *err)
{
    const struct fr_target_conf *tconf = fr_config_find_target(p->cfg, p->job->target);
    if (!tconf)
        return fr_err_set(err, FR_ECONFIG, 0, "job %s: no target named %s", p->job->name,
                          p->job->target);
    int rc = fr_http_client_new(&p->client, err);
    if (!rc)
        rc = fr_http_target_new(p->client, tconf, &p->target, err);
    if (rc)
        return rc;
    json_t *env = json_string(p->job->request.envelope ? p->job->request.envelope : "value");
    char *enc = json_dumps(env, JSON_ENCODE_ANY);
    p->envelope_prefix = fr_asprintf("{%s:[", enc);
    free(enc);
    json_decref(env);
    p->map = fr_map_new(p->job->map, p->job->nmap, p->job->key);
    /* A source that does not open is the config's (its path, its query: as ferry check
     * says); one that fails once the run is under way is the run's (read_all). */
    if (fr_source_open(&p->job->source, &p->src, err))
        return err->code = FR_ECONFIG;
    return load_in_doubt(p, err);
}

static void read_all(struct push *p)
{
    for (;;) {
        stop_requested(p);
        if (p->stop)
            return;
        if (p->opts->limit >= 0 && (int64_t)p->counts->read >= p->opts->limit)
            return;
        struct fr_record rec = {0};
        bool eof = false;
        struct fr_err err = {0};
        int rc = fr_source_next(p->src, &rec, &eof, &err);
        if (rc) {
            FR_LOG_ERROR("source failed", FR_LS("error", err.msg));
            fatal(p, rc == FR_EIO ? FR_EIO : FR_EPARSE, err.msg);
            fr_record_release(&rec);
            return;
        }
        if (eof)
            return;
        p->counts->read++;
        process(p, &rec);
        fr_record_release(&rec);
        send_ready(p);
        progress(p, false);
    }
}

bool fr_push_over_threshold(const struct fr_job_alert_conf *alert, const struct fr_run_counts *c)
{
    uint64_t errors = c->failed + c->rejected;
    int64_t max_errors = alert->max_errors;
    if (max_errors < 0 && alert->max_error_rate < 0)
        max_errors = 0; /* no alert block: every error counts */
    if (max_errors >= 0 && errors > (uint64_t)max_errors)
        return true;
    if (alert->max_error_rate >= 0 && c->read > 0 &&
        (double)errors / (double)c->read > alert->max_error_rate)
        return true;
    return false;
}

void fr_push_settle_status(struct fr_push_result *r,
                           int (*exit_status)(int code, bool over_threshold, int signo))
{
    struct fr_run *run = &r->run;
    run->exit_code = exit_status(r->code, r->over_threshold, r->signo);
    fr_strlcpy(run->status, fr_run_status_name(run->exit_code, r->signo), sizeof(run->status));
    fr_run_reason(run->reason, sizeof(run->reason), r->code, &r->err, &run->counts,
                  r->over_threshold, r->signo);
}

double fr_push_success_rate(const struct fr_run_counts *c)
{
    uint64_t ok = c->created + c->duplicate + c->skipped;
    uint64_t all = ok + c->failed + c->rejected;
    return all ? (double)ok / (double)all : 1.0;
}

void fr_push_failure_keys(struct fr_buf *keys, json_t *failures, uint64_t total, const char *run_id,
                          const char *unit)
{
    size_t i;
    json_t *f;
    json_array_foreach(failures, i, f)
    {
        const char *k = json_string_value(json_object_get(f, "key"));
        if (k)
            fr_buf_addf(keys, "%s%s", i ? "," : "", k);
        else
            fr_buf_addf(keys, "%s(%s %lld)", i ? "," : "", unit,
                        (long long)json_integer_value(json_object_get(f, "line")));
    }
    if (total > json_array_size(failures))
        fr_buf_addf(keys, ",... (%llu in all; ferry runs show %s --failed)",
                    (unsigned long long)total, run_id);
}

static void log_summary(const struct push *p)
{
    const struct fr_push_result *r = p->out;
    const struct fr_run_counts *c = &r->run.counts;
    struct fr_buf keys = FR_BUF_INIT;
    fr_push_failure_keys(&keys, r->failures, r->failures_total, r->run.id, "line");
    char started[40], ended[40];
    fr_format_rfc3339(r->run.started_ms, started, sizeof(started));
    fr_format_rfc3339(r->run.ended_ms, ended, sizeof(ended));
    enum fr_log_level level = r->run.exit_code == 0   ? FR_LOG_INFO
                              : r->run.exit_code == 1 ? FR_LOG_CRITICAL
                                                      : FR_LOG_ERROR;
    FR__LOG(level, "run summary", FR_LS("job", r->run.job), FR_LS("status", r->run.status),
            FR_LS("started", started), FR_LS("ended", ended), FR_LI("exit_code", r->run.exit_code),
            FR_LB("dry_run", p->opts->dry_run),
            FR_LI("duration_ms", r->run.ended_ms - r->run.started_ms), FR_LI("read", c->read),
            FR_LI("sent", c->sent), FR_LI("created", c->created), FR_LI("duplicate", c->duplicate),
            FR_LI("rejected", c->rejected), FR_LI("failed", c->failed),
            FR_LI("changed", c->changed), FR_LI("skipped", c->skipped),
            FR_LI("requests", c->requests), FR_LI("retries", c->retries),
            FR_LI("rate_limited", c->rate_limited), FR_LI("token_refreshes", c->token_refreshes),
            FR_LI("in_doubt", r->in_doubt), FR_LI("lookups", r->lookups),
            FR_LI("in_doubt_resent", r->in_doubt_resent),
            FR_LD("success_rate", fr_push_success_rate(c)),
            FR_LS("failed_keys", keys.len ? fr_buf_str(&keys) : NULL),
            FR_LS("error", r->code ? r->err.msg : NULL),
            FR_LS("reason", r->run.reason[0] ? r->run.reason : NULL));
    fr_buf_release(&keys);
}

int fr_push_run(const struct fr_config *cfg, const struct fr_job_conf *job, struct fr_store *st,
                const struct fr_push_opts *opts, struct fr_push_result *out)
{
    FR_ASSERT(opts->exit_status);
    memset(out, 0, sizeof(*out));
    out->failures = json_array();
    struct fr_run *run = &out->run;
    fr_run_new_id(run->id, fr_wall_ms());
    fr_strlcpy(run->job, job->name, sizeof(run->job));
    fr_strlcpy(run->status, "running", sizeof(run->status));
    run->exit_code = -1;
    run->started_ms = fr_wall_ms();
    fr_run_identify(run);

    struct push p = {.cfg = cfg,
                     .job = job,
                     .opts = opts,
                     .st = st,
                     .out = out,
                     .counts = &run->counts,
                     .started_ms = fr_now_ms(),
                     .last_progress_ms = fr_now_ms(),
                     .text = FR_BUF_INIT,
                     .unsettled = json_object(),
                     .dead_keys = json_object()};
    fr_log_ctx_set("run_id", run->id);
    fr_log_ctx_set("job", job->name);
    if (opts->fresh)
        FR_LOG_WARN("--fresh: the journal is ignored; every record is sent again");
    FR_LOG_INFO("run started", FR_LS("target", job->target), FR_LB("dry_run", opts->dry_run),
                FR_LS("only", opts->only_key), FR_LI("limit", opts->limit));

    struct fr_err err = {0};
    int rc = 0;
    if (!opts->dry_run)
        rc = fr_store_run_begin(st, run, &err);
    if (rc) {
        fatal(&p, FR_ESTORE, err.msg);
    } else if ((rc = setup(&p, &err))) {
        fatal(&p, rc, err.msg);
    } else {
        read_all(&p);
        flush(&p);
        retry_pass(&p);
        drain(&p, 1);
    }
    stop_requested(&p);
    finish_journal(&p);
    progress(&p, true);

    if (p.target) {
        const struct fr_http_stats *hs = fr_http_target_stats(p.target);
        run->counts.requests = hs->sent;
        run->counts.retries = hs->retries;
        run->counts.rate_limited = hs->rate_limited;
        run->counts.token_refreshes = hs->token_fetches;
        out->in_doubt_resent = hs->in_doubt_resent;
        if (hs->in_doubt_resent)
            FR_LOG_WARN("requests whose answers were lost after sending were sent again: the job "
                        "has no lookup request, so only the target's duplicate check kept them "
                        "from being stored twice",
                        FR_LI("requests", hs->in_doubt_resent));
    }
    run->ended_ms = fr_wall_ms();
    out->signo = p.signo;
    out->over_threshold = !out->code && fr_push_over_threshold(&job->alert, &run->counts);
    fr_push_settle_status(out, opts->exit_status);
    if (!opts->dry_run && out->code != FR_ESTORE) {
        struct fr_err ferr = {0};
        if (fr_store_run_finish(st, run, &ferr)) {
            out->code = FR_ESTORE;
            out->err = ferr;
            fr_push_settle_status(out, opts->exit_status);
        }
    }
    if (!opts->dry_run)
        fr_metrics_note_run(fr_metrics_global(), run);
    log_summary(&p);
    fr_log_ctx_clear();

    abandon(&p, p.cur); /* only left when the run stopped early */
    for (size_t i = 0; i < p.nagain; i++)
        rec_release(&p.again[i]);
    free(p.again);
    for (size_t i = 0; i < p.nready; i++)
        rec_release(&p.ready[i]);
    free(p.ready);
    free(p.settled);
    free(p.done.v);
    free(p.held.v);
    free(p.dead);
    fr_map_free(p.map);
    fr_buf_release(&p.text);
    json_decref(p.unsettled);
    json_decref(p.dead_keys);
    fr_http_client_free(p.client);
    fr_source_close(p.src);
    free(p.envelope_prefix);
    return out->code;
}

void fr_push_result_release(struct fr_push_result *r)
{
    json_decref(r->failures);
    r->failures = NULL;
}

json_t *fr_push_summary_json(const struct fr_push_result *r)
{
    const struct fr_run *run = &r->run;
    const struct fr_run_counts *c = &run->counts;
    char started[40], ended[40];
    fr_format_rfc3339(run->started_ms, started, sizeof(started));
    fr_format_rfc3339(run->ended_ms, ended, sizeof(ended));
    json_t *fails = r->failures ? json_incref(r->failures) : json_array();
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I}, s:f, s:o, s:I, s:b}",
        "job", run->job, "run_id", run->id, "status", run->status, "exit_code", run->exit_code,
        "started", started, "ended", ended, "duration_ms",
        (json_int_t)(run->ended_ms - run->started_ms), "counts", "read", (json_int_t)c->read,
        "sent", (json_int_t)c->sent, "created", (json_int_t)c->created, "duplicate",
        (json_int_t)c->duplicate, "rejected", (json_int_t)c->rejected, "failed",
        (json_int_t)c->failed, "changed", (json_int_t)c->changed, "skipped", (json_int_t)c->skipped,
        "requests", (json_int_t)c->requests, "retries", (json_int_t)c->retries, "rate_limited",
        (json_int_t)c->rate_limited, "token_refreshes", (json_int_t)c->token_refreshes,
        "success_rate", fr_push_success_rate(c), "failures", fails, "failures_total",
        (json_int_t)r->failures_total, "over_threshold", r->over_threshold);
    if (j) {
        json_t *counts = json_object_get(j, "counts");
        json_object_set_new(counts, "in_doubt", json_integer((json_int_t)r->in_doubt));
        json_object_set_new(counts, "lookups", json_integer((json_int_t)r->lookups));
        json_object_set_new(counts, "in_doubt_resent",
                            json_integer((json_int_t)r->in_doubt_resent));
    }
    if (r->code && j)
        json_object_set_new(j, "error", json_string(r->err.msg));
    if (j && run->reason[0])
        json_object_set_new(j, "reason", json_string(run->reason));
    return j;
}
