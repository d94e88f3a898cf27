#include "core/common.h"
#include "job/rollback.h"

#include "core/clock.h"
#include "core/log.h"
#include "http/client.h"
#include "job/job_conf.h"
#include "job/key_request.h"

struct keys {
    char **v;
    size_t n, cap;
};

static int collect(const char *key, const struct fr_journal_entry *e, void *ud)
{
    struct keys *k = ud;
    FR_ALLOC_GROW(k->v, k->n + 1, k->cap);
    k->v[k->n++] = fr_strdup(key);
    return 0;
}

struct del {
    struct fr_rollback_ctx *ctx;
    char *key;
};

struct fr_rollback_ctx {
    const struct fr_job_conf *job;
    struct fr_store *st;
    const char *run_id;
    struct fr_rollback_result *out;
    size_t in_flight;
};

static void deleted(struct fr_http_result *res, void *ud)
{
    struct del *d = ud;
    struct fr_rollback_ctx *ctx = d->ctx;
    ctx->in_flight--;
    bool gone = res->code == FR_OK || res->status == 404;
    if (gone) {
        if (res->status == 404)
            ctx->out->already_gone++;
        else
            ctx->out->removed++;
        struct fr_journal_update u = {.key = d->key, .state = FR_JOURNAL_ROLLED_BACK};
        struct fr_err err = {0};
        /* Keep the run id: the row still says which run created and undid it. */
        if (fr_store_journal_update(ctx->st, ctx->job->name, ctx->run_id, &u, 1, fr_wall_ms(),
                                    &err) &&
            !ctx->out->code) {
            ctx->out->code = FR_ESTORE;
            ctx->out->err = err;
        }
        FR_LOG_INFO("rolled back", FR_LS("source_ref", d->key), FR_LI("status", res->status));
    } else {
        ctx->out->failed++;
        FR_LOG_WARN("rollback failed; the key stays created", FR_LS("source_ref", d->key),
                    FR_LS("error", res->err.msg));
        if (res->code == FR_EAUTH && !ctx->out->code) {
            ctx->out->code = FR_EAUTH;
            ctx->out->err = res->err;
        }
    }
    free(d->key);
    free(d);
}

int fr_rollback_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                    struct fr_store *st, const char *run_id, bool dry_run,
                    struct fr_rollback_result *out)
{
    memset(out, 0, sizeof(*out));
    if (!job->rollback.configured)
        return fr_err_set(&out->err, FR_ECONFIG, 0,
                          "job %s has no rollback request (add rollback: { method, path })",
                          job->name);
    struct keys keys = {0};
    int rc = fr_store_journal_by_run(st, run_id, FR_JOURNAL_CREATED, collect, &keys, &out->err);
    if (rc) {
        out->code = rc;
        return rc;
    }
    out->keys = keys.n;
    FR_LOG_INFO("rollback", FR_LS("run_id", run_id), FR_LS("job", job->name), FR_LI("keys", keys.n),
                FR_LB("dry_run", dry_run));
    struct fr_http_client *client = NULL;
    struct fr_http_target *target = NULL;
    if (dry_run || keys.n == 0) {
        for (size_t i = 0; i < keys.n; i++)
            FR_LOG_INFO("would roll back", FR_LS("source_ref", keys.v[i]));
    } else if ((rc = fr_http_client_new(&client, &out->err)) ||
               (rc = fr_http_target_new(client, tconf, &target, &out->err))) {
        out->code = rc;
    } else {
        struct fr_rollback_ctx ctx = {.job = job, .st = st, .run_id = run_id, .out = out};
        size_t max = (size_t)FR_MAX(tconf->max_in_flight, 1);
        for (size_t i = 0; i < keys.n && !out->code; i++) {
            struct del *d = fr_calloc(1, sizeof(*d));
            d->ctx = &ctx;
            d->key = fr_strdup(keys.v[i]);
            char *path = fr_key_request_path(job->rollback.path, keys.v[i]);
            struct fr_http_request req = {.method = job->rollback.method, .path = path};
            if (fr_http_submit(target, &req, deleted, d) == 0)
                ctx.in_flight++;
            else {
                free(d->key);
                free(d);
            }
            free(path);
            while (ctx.in_flight >= max)
                fr_http_step(client, 250);
        }
        while (ctx.in_flight > 0)
            fr_http_step(client, 250);
    }
    fr_http_client_free(client);
    for (size_t i = 0; i < keys.n; i++)
        free(keys.v[i]);
    free(keys.v);
    return out->code;
}
