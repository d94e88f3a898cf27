#include "core/common.h"
#include "job/push.h"

#include <math.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/client.h"
#include "job/map.h"
#include "job/push_int.h"
#include "job/report.h"
#include "job/results.h"
#include "job/run.h"
#include "job/run_metrics.h"
#include "job/source.h"
#include "job/job_conf.h"

/* Batches that gave up on transient errors before the run stops reading: the target is down. */
#define GIVE_UP_BATCHES 3

void fr__push_rec_release(struct rec *r)
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
    fr__push_fatal(p, FR_ECANCELED, reason);
}

/* Stops the run with code (the first reason wins). */
void fr__push_fatal(struct push *p, int code, const char *msg)
{
    if (!p->out->code) {
        p->out->code = code;
        fr_err_set(&p->out->err, code, 0, "%s", msg);
    }
    p->stop = true;
}

void fr__push_store_failed(struct push *p, const struct fr_err *err)
{
    FR_LOG_ERROR("store failed", FR_LS("error", err->msg));
    fr__push_fatal(p, FR_ESTORE, err->msg);
    p->store_broken = true;
}

/* Reports one record that did not make it: counted, logged, kept in the store and the summary. */
void fr__push_record_failure(struct push *p, const char *key, uint64_t line, const char *kind,
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
        fr__push_store_failed(p, &err);
}

void fr__push_seqs_add(struct seqs *l, uint64_t seq)
{
    FR_ALLOC_GROW(l->v, l->n + 1, l->cap);
    l->v[l->n++] = seq;
}

/*
 * Keeps an outcome to commit with the next journal write. Until then the
 * key's batch is still in flight in the store: a crash in between only
 * costs the next run a lookup, never a duplicate.
 */
void fr__push_defer_outcome(struct push *p, const struct rec *r, enum fr_journal_state state,
                            const char *error)
{
    FR_ALLOC_GROW(p->settled, p->nsettled + 1, p->capsettled);
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
void fr__push_commit(struct push *p, const struct fr_journal_batch *sent)
{
    struct fr_err err = {0};
    if (!p->opts->dry_run && !p->store_broken &&
        fr_store_journal_commit(p->st, p->job->name, p->out->run.id, p->settled, p->nsettled,
                                p->done.v, p->done.n, sent, fr_wall_ms(), &err))
        fr__push_store_failed(p, &err);
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

struct batch *fr__push_batch_new(struct push *p, bool retry_pass)
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
        fr__push_rec_release(&b->recs[i]);
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

void fr__push_batch_add(struct batch *b, struct rec *r)
{
    FR_ALLOC_GROW(b->recs, b->n + 1, b->cap);
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
    FR_ALLOC_GROW(p->again, p->nagain + 1, p->capagain);
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
            fr__push_defer_outcome(p, r, created ? FR_JOURNAL_CREATED : FR_JOURNAL_DUPLICATE, NULL);
            break;
        }
        case FR_OUTCOME_FAILED:
            fr__push_defer_outcome(p, r, FR_JOURNAL_FAILED, res->message);
            fr__push_record_failure(p, r->key, r->line, "failed",
                                    res->message ? res->message : "refused");
            break;
        case FR_OUTCOME_RETRY:
        case FR_OUTCOME_MISSING:
        default:
            if (!b->retry_pass) {
                keep_for_retry(p, r);
                b->held = true;
            } else if (res->outcome == FR_OUTCOME_RETRY) {
                fr__push_defer_outcome(p, r, FR_JOURNAL_FAILED, res->message);
                fr__push_record_failure(p, r->key, r->line, "failed",
                                        res->message ? res->message : "retry");
            } else {
                /* Unknown: stays in flight so the next run looks it up before resending. */
                b->keep_row = true;
                fr__push_record_failure(
                    p, r->key, r->line, "failed",
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

/* A batch that gave up on transient errors: its outcome is known only if nothing acted. */
static void gave_up(struct push *p, struct batch *b, struct fr_http_result *res)
{
    FR_LOG_WARN("batch gave up on transient errors", FR_LS("error", res->err.msg),
                FR_LI("records", b->n), FR_LB("retry_pass", b->retry_pass),
                FR_LB("may_have_acted", res->maybe_acted));
    if (!b->retry_pass && ++p->gave_up_batches >= GIVE_UP_BATCHES)
        fr__push_fatal(p, FR_EUNREACHABLE, res->err.msg);
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
            fr__push_fatal(p, FR_EUNREACHABLE, res->err.msg);
    } else {
        b->keep_row = true;
        for (size_t i = 0; i < b->n; i++)
            fr__push_record_failure(
                p, b->recs[i].key, b->recs[i].line, "failed",
                "outcome unknown: the target stayed unreachable; the next run checks it "
                "with the lookup request");
        if (!p->out->code)
            fr__push_fatal(p, FR_EUNREACHABLE, res->err.msg);
    }
}

/* The batch's row is done with, held for the retry pass, or kept; then it goes. */
void fr__push_batch_release(struct push *p, struct batch *b)
{
    if (b->seq && !b->keep_row)
        fr__push_seqs_add(b->held ? &p->held : &p->done, b->seq);
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
        fr__push_look_up_batch(p, b, res->err.msg);
        return; /* b lives on until its lookups are answered */
    } else if (res->code == FR_EAUTH) {
        settle_all(p, b, FR_OUTCOME_FAILED, res->err.msg);
        fr__push_fatal(p, FR_EAUTH, res->err.msg);
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
            fr__push_record_failure(
                p, b->recs[i].key, b->recs[i].line, "failed",
                "outcome unknown: the run stopped while this record's batch was on the wire; "
                "the next run checks it with the lookup request");
    } else {
        gave_up(p, b, res);
    }
    fr__push_batch_release(p, b);
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
        fr__push_record_failure(p, b->recs[i].key, b->recs[i].line, "failed",
                                "not sent: the run stopped before this record's batch went out");
    batch_free(b);
}

/*
 * Journals b's keys as in flight (with the outcomes settled so far), then
 * hands b to the client. Takes b. Safe inside the client's callbacks.
 */
void fr__push_send_batch(struct push *p, struct batch *b)
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
    fr__push_commit(p, &sent);
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
        fr__push_fatal(p, FR_EINVAL, "the job's request is malformed (method or path)");
        batch_free(b);
    } else {
        p->in_flight++;
    }
    free(body);
}

/* Sends b, then waits while max_in_flight requests are on the wire. Takes b. */
static void dispatch(struct push *p, struct batch *b)
{
    fr__push_send_batch(p, b);
    int max = fr_http_target_conf(p->target)->max_in_flight;
    drain(p, (size_t)(max > 0 ? max : 1));
}

/* Adds r to the current batch, sending the batch first when r does not fit. Takes r. */
static void enqueue(struct push *p, struct rec *r, bool retry_pass)
{
    if (!p->cur)
        p->cur = fr__push_batch_new(p, retry_pass);
    if (!batch_fits(p, p->cur, r)) {
        struct batch *full = p->cur;
        p->cur = fr__push_batch_new(p, retry_pass);
        dispatch(p, full);
    }
    fr__push_batch_add(p->cur, r);
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
                fr__push_record_failure(
                    p, ready[i].key, ready[i].line, "failed",
                    "not sent: the run stopped before this record's batch went out");
                fr__push_rec_release(&ready[i]);
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
        fr__push_record_failure(p, NULL, in->line, "rejected", in->error);
        return;
    }
    struct rec r = {.line = in->line};
    char *why = NULL;
    if (fr_map_write(p->map, in->fields, &p->text, &r.key, &why)) {
        char *key = source_key(job, in->fields);
        fr__push_record_failure(p, key, in->line, "rejected", why);
        free(key);
        free(why);
        return;
    }
    if (!r.key) {
        char *msg = fr_asprintf("%s: the key field is empty", job->key);
        fr__push_record_failure(p, NULL, in->line, "rejected", msg);
        free(msg);
        return;
    }
    if (p->opts->only_key && strcmp(p->opts->only_key, r.key) != 0) {
        fr__push_rec_release(&r);
        return;
    }
    /* The canonical text is both the body and what the hash covers. */
    r.len = p->text.len;
    r.text = fr_strndup(fr_buf_str(&p->text), r.len);
    fr_map_digest(p->map, r.text, r.len, r.hash);
    if (r.len + strlen(p->envelope_prefix) + 2 > job->request.max_bytes) {
        char *msg = fr_asprintf("payload of %zu bytes does not fit request.max_bytes", r.len);
        fr__push_record_failure(p, r.key, r.line, "rejected", msg);
        free(msg);
        fr__push_rec_release(&r);
        return;
    }
    /* The same key twice in the batch being built: the journal cannot see it yet. */
    for (size_t i = 0; p->cur && i < p->cur->n; i++) {
        if (strcmp(p->cur->recs[i].key, r.key) == 0) {
            char *msg = fr_asprintf("key appears again in the source (first at line %llu)",
                                    (unsigned long long)p->cur->recs[i].line);
            fr__push_record_failure(p, r.key, r.line, "rejected", msg);
            free(msg);
            fr__push_rec_release(&r);
            return;
        }
    }
    switch (fr__push_needs_sending(p, &r)) {
    case SEND:
        enqueue(p, &r, false);
        break;
    case LOOKING_UP: /* r was taken; it comes back through send_ready if it must go */
        drain(p, (size_t)FR_MAX(fr_http_target_conf(p->target)->max_in_flight, 1));
        break;
    case SETTLED:
        fr__push_rec_release(&r);
        break;
    }
}

/* Records kept for the retry pass that a stopped run will not send: reported, still inflight. */
static void abandon_again(struct push *p)
{
    for (size_t i = 0; i < p->nagain; i++) {
        fr__push_record_failure(
            p, p->again[i].key, p->again[i].line, "failed",
            "outcome unknown: the run stopped before its retry pass; the next run checks it "
            "with the lookup request");
        fr__push_rec_release(&p->again[i]);
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
            fr__push_record_failure(p, again[i].key, again[i].line, "failed",
                                    "outcome unknown: the run stopped before resending it");
            fr__push_rec_release(&again[i]);
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
        fr__push_rec_release(&p->again[i]);
    p->nagain = 0;
    free(again);
}

/* ---- the run ---------------------------------------------------------------------------- */

static int setup(struct push *p, struct fr_err *err)
{
    const struct fr_target_conf *tconf = p->tconf;
    if (!tconf)
        return fr_err_set(err, FR_ECONFIG, 0, "job %s: no target named %s", p->job->name,
                          p->job->target);
    int rc = fr_http_client_new(&p->client, err);
    if (!rc)
        fr_http_client_set_observer(p->client, p->opts->observer);
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
    return fr__push_load_in_doubt(p, err);
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
            fr__push_fatal(p, rc == FR_EIO ? FR_EIO : FR_EPARSE, err.msg);
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

void fr_push_settle_status(struct fr_push_result *r,
                           int (*exit_status)(int code, bool over_threshold, int signo))
{
    struct fr_run *run = &r->run;
    run->exit_code = exit_status(r->code, r->over_threshold, r->signo);
    fr_strlcpy(run->status, fr_run_status_name(run->exit_code, r->signo), sizeof(run->status));
    fr_run_reason(run->reason, sizeof(run->reason), r->code, &r->err, &run->counts,
                  r->over_threshold, r->signo);
}

int fr_push_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                struct fr_store *st, const struct fr_push_opts *opts, struct fr_push_result *out)
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

    struct push p = {.tconf = tconf,
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
        fr__push_fatal(&p, FR_ESTORE, err.msg);
    } else if ((rc = setup(&p, &err))) {
        fr__push_fatal(&p, rc, err.msg);
    } else {
        read_all(&p);
        flush(&p);
        retry_pass(&p);
        drain(&p, 1);
    }
    stop_requested(&p);
    fr__push_finish_journal(&p);
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
    out->over_threshold = !out->code && fr_report_over_threshold(&job->alert, &run->counts);
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
        fr_run_metrics_note(opts->observer, run);
    fr__push_log_summary(&p);
    fr_log_ctx_clear();

    abandon(&p, p.cur); /* only left when the run stopped early */
    for (size_t i = 0; i < p.nagain; i++)
        fr__push_rec_release(&p.again[i]);
    free(p.again);
    for (size_t i = 0; i < p.nready; i++)
        fr__push_rec_release(&p.ready[i]);
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
