#include "core/common.h"
#include "job/push_int.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "job/report.h"

/*
 * push_report.c: what a push run says when it ends: the summary log line,
 * the summary JSON the alert sinks get, and the success rate both carry
 * (the CLI prints it too).
 */

double fr_push_success_rate(const struct fr_run_counts *c)
{
    uint64_t ok = c->created + c->duplicate + c->skipped;
    uint64_t all = ok + c->failed + c->rejected;
    return all ? (double)ok / (double)all : 1.0;
}

void fr__push_log_summary(const struct push *p)
{
    const struct fr_push_result *r = p->out;
    const struct fr_run_counts *c = &r->run.counts;
    struct fr_buf keys = FR_BUF_INIT;
    fr_report_failure_keys(&keys, r->failures, r->failures_total, r->run.id, "line");
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
