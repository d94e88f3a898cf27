#include "core/common.h"
#include "job/run.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "job/job_conf.h"

/* How often a run waiting for the job's run lock asks again. */
#define LOCK_POLL_MS 200

const char *fr_run_status_name(int exit_status, int signo)
{
    if (signo)
        return "interrupted";
    return exit_status == 0 ? "ok" : "failed";
}

void fr_run_reason(char *reason, size_t n, int code, const struct fr_err *err,
                   const struct fr_run_counts *c, bool over_threshold, int signo)
{
    const char *msg = err && err->msg[0] ? err->msg : fr_strerror(code);
    if (signo) {
        snprintf(reason, n, "interrupted by %s", signo == SIGINT ? "SIGINT" : "SIGTERM");
        return;
    }
    switch (code) {
    case FR_OK:
        if (over_threshold)
            snprintf(reason, n,
                     "%llu failed and %llu rejected of %llu records read: over the job's alert "
                     "threshold",
                     (unsigned long long)c->failed, (unsigned long long)c->rejected,
                     (unsigned long long)c->read);
        else
            reason[0] = '\0';
        return;
    case FR_EAUTH:
        snprintf(reason, n, "authentication failed: %s", msg);
        return;
    case FR_EUNREACHABLE:
    case FR_ETIMEOUT:
    case FR_EHTTP:
        snprintf(reason, n, "target unreachable: %s", msg);
        return;
    case FR_ESTORE:
        snprintf(reason, n, "store failed: %s", msg);
        return;
    default:
        snprintf(reason, n, "%s", msg);
        return;
    }
}

void fr_run_identify(struct fr_run *run)
{
    char host[sizeof(run->host)] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    fr_strlcpy(run->host, host, sizeof(run->host));
    run->pid = (int64_t)getpid();
}

/* Who holds job's run lock, for the message of a run that found it held. */
static void describe_holder(struct fr_store *st, const char *job, char *out, size_t n)
{
    struct fr_run holder;
    struct fr_err err = {0};
    struct fr_run me = {0};
    fr_run_identify(&me);
    int found = fr_store_run_last(st, job, "running", &holder, &err);
    /* The newest run still marked running may be one a killed process left on this host,
     * while the holder has taken the lock and not yet recorded itself. */
    if (!found && holder.pid > 0 && strcmp(holder.host, me.host) == 0 &&
        kill((pid_t)holder.pid, 0) != 0 && errno == ESRCH)
        found = FR_ENOTFOUND;
    if (found) {
        snprintf(out, n,
                 "another run of job %s is in progress (it has not recorded itself yet, or runs "
                 "on an older ferry)",
                 job);
        return;
    }
    char since[40];
    fr_format_rfc3339(holder.started_ms, since, sizeof(since));
    snprintf(out, n, "another run of job %s is in progress: run %s on host %s pid %lld since %s",
             job, holder.id, holder.host[0] ? holder.host : "?", (long long)holder.pid, since);
}

/*
 * Takes job's run lock, waiting up to wait_ms (< 0: no limit) when another
 * process holds it. FR_EBUSY with out->busy filled when it stays held.
 */
static int take_lock(struct fr_store *st, const struct fr_job_conf *job, int64_t wait_ms,
                     const struct fr_run_stop *stop, struct fr_run_result *out)
{
    int64_t deadline = wait_ms < 0 ? INT64_MAX : fr_now_ms() + wait_ms;
    bool said = false;
    for (;;) {
        bool held = false;
        struct fr_err err = {0};
        if (fr_store_job_lock(st, job->name, &held, &err)) {
            snprintf(out->busy, sizeof(out->busy), "cannot take the job's run lock: %s", err.msg);
            return FR_ESTORE;
        }
        if (held)
            return FR_OK;
        describe_holder(st, job->name, out->busy, sizeof(out->busy));
        if (fr_now_ms() >= deadline || fr_run_stop_signo(stop))
            return FR_EBUSY;
        if (!said)
            FR_LOG_INFO("waiting for the job's run lock", FR_LS("job", job->name),
                        FR_LS("holder", out->busy));
        said = true;
        fr_sleep_ms(FR_MIN(LOCK_POLL_MS, deadline - fr_now_ms()));
    }
}

int fr_run_job(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
               struct fr_store *st, const struct fr_run_opts *opts, struct fr_run_result *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = job->kind;
    bool dry_run = opts->push.dry_run;
    bool locked = false;
    if (!dry_run && !opts->lock_held) {
        int rc = take_lock(st, job, opts->lock_wait_ms, opts->push.stop, out);
        if (rc) {
            out->exit_status = opts->push.exit_status(rc, false, 0);
            return rc;
        }
        locked = true;
    }
    json_t *summary;
    const struct fr_run *run;
    if (job->kind == FR_JOB_PULL) {
        struct fr_pull_opts pull = opts->pull;
        pull.dry_run = dry_run;
        pull.progress = opts->push.progress;
        pull.progress_ud = opts->push.progress_ud;
        pull.stop = opts->push.stop;
        pull.observer = opts->push.observer;
        pull.exit_status = opts->push.exit_status;
        fr_pull_run(job, tconf, st, &pull, &out->pull);
        run = &out->pull.run;
        summary = fr_pull_summary_json(&out->pull);
    } else {
        fr_push_run(job, tconf, st, &opts->push, &out->push);
        run = &out->push.run;
        summary = fr_push_summary_json(&out->push);
    }
    out->exit_status = run->exit_code;
    if (!dry_run && run->exit_code != 0 && opts->alert) {
        char *text = fr_asprintf("ferry: job %s run %s %s (exit %d): %s", run->job, run->id,
                                 run->status, run->exit_code, run->reason);
        if (summary)
            json_object_set_new(summary, "reason", json_string(run->reason));
        opts->alert(opts->alert_ud, summary, text);
        free(text);
    }
    json_decref(summary);
    if (locked)
        fr_store_job_unlock(st, job->name, NULL);
    return FR_OK;
}

void fr_run_result_release(struct fr_run_result *r)
{
    if (r->kind == FR_JOB_PULL)
        fr_pull_result_release(&r->pull);
    else
        fr_push_result_release(&r->push);
}
