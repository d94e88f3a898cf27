#include "core/common.h"
#include "job/push_int.h"

#include "core/clock.h"
#include "core/jsonptr.h"
#include "core/log.h"
#include "http/client.h"
#include "job/key_request.h"

/*
 * push_recover.c: what a push run does about keys whose outcome it does
 * not know (in doubt): never resend blindly. Two ways a key gets there:
 *  - this run sent its batch and the answer was lost (a reset after
 *    sending, a timeout, a 502): each key is looked up on the target, what
 *    it has is settled, what it lacks is sent again;
 *  - an earlier run stopped (a crash, a kill, a cut-off stop) with the
 *    key's batch on the wire: the journal still holds that batch in
 *    flight. The run reads those batches first, and when the source gives
 *    the key again it is looked up before it is sent; the earlier batch's
 *    row is forgotten once each of its keys is resolved.
 * Without a lookup request the key is sent again and only the target's
 * duplicate check keeps it from being stored twice; the run says so.
 */

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
        fr__push_fatal(p, res->code, res->err.msg);
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
            fr__push_defer_outcome(p, r, FR_JOURNAL_CREATED, NULL);
        } else if (b->found[i] == 0 && !p->stop && b->doubt_rounds < max_rounds) {
            if (!again) {
                again = fr__push_batch_new(p, b->retry_pass);
                again->doubt_rounds = b->doubt_rounds;
            }
            r->sent_before = true;
            fr__push_batch_add(again, r);
        } else if (b->found[i] == 0) {
            fr__push_defer_outcome(p, r, FR_JOURNAL_FAILED,
                                   "not stored: answers kept getting lost");
            fr__push_record_failure(
                p, r->key, r->line, "failed",
                p->stop ? "not stored (the lookup says so); not resent: the run is stopping"
                        : "not stored: the target lost the answer to every send of it");
        } else {
            unknown++;
            fr__push_record_failure(p, r->key, r->line, "failed", b->why[i]);
        }
    }
    FR_LOG_INFO("in-doubt batch checked", FR_LI("records", b->n),
                FR_LI("resend", again ? again->n : 0), FR_LI("unknown", unknown));
    if (unknown)
        b->keep_row = true; /* the next run looks those up again */
    else if (b->seq)
        fr__push_seqs_add(&p->done, b->seq); /* goes with the resend's mark, in one commit */
    b->seq = unknown ? b->seq : 0;
    if (again)
        fr__push_send_batch(p, again);
    fr__push_batch_release(p, b);
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
void fr__push_look_up_batch(struct push *p, struct batch *b, const char *why)
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
        char *path = fr_key_request_path(lk->path, b->recs[i].key);
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

/* ---- in flight when an earlier run stopped ---------------------------------------------- */

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
int fr__push_load_in_doubt(struct push *p, struct fr_err *err)
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

static void repeated_key(struct push *p, const struct rec *r)
{
    fr__push_record_failure(p, r->key, r->line, "rejected",
                            "key appears again in the source; the first record with it was sent");
}

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
    FR_ALLOC_GROW(p->ready, p->nready + 1, p->capready);
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
            fr__push_store_failed(p, &jerr);
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
        fr__push_record_failure(p, r->key, r->line, "failed", why);
    }
    free(why);
    fr__push_rec_release(r);
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
    char *path = fr_key_request_path(p->job->lookup.path, r->key);
    struct fr_http_request req = {.method = p->job->lookup.method, .path = path};
    int rc = fr_http_submit(p->target, &req, leftover_done, lo);
    free(path);
    if (rc) {
        free(lo);
        fr__push_record_failure(p, r->key, r->line, "failed",
                                "the job's lookup request is malformed");
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
enum verdict fr__push_needs_sending(struct push *p, struct rec *r)
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
        fr__push_store_failed(p, &err);
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
            fr__push_record_failure(p, r->key, r->line, "changed", why);
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

/* ---- the run's end ---------------------------------------------------------------------- */

/*
 * The last commit: outcomes, settled batches, the batches held for a retry
 * pass that resent them all, and earlier runs' batches now resolved.
 */
void fr__push_finish_journal(struct push *p)
{
    if (p->retry_pass_complete)
        for (size_t i = 0; i < p->held.n; i++)
            fr__push_seqs_add(&p->done, p->held.v[i]);
    fr__push_commit(p, NULL);
    size_t left = 0;
    for (size_t i = 0; i < p->ndead && !p->stop && !p->opts->dry_run; i++) {
        struct dead *d = &p->dead[i];
        if (d->resolved < d->keys) {
            left += d->keys - d->resolved;
            continue;
        }
        struct fr_err err = {0};
        if (fr_store_journal_forget(p->st, p->job->name, d->run_id, d->seq, &err))
            fr__push_store_failed(p, &err);
    }
    if (left)
        FR_LOG_WARN("keys an earlier run left in flight are still unresolved (not in this run's "
                    "records, or not checked); the next run checks them again",
                    FR_LI("keys", left));
}
