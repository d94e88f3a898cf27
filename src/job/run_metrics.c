#include "core/common.h"
#include "job/run_metrics.h"

void fr_run_metrics_note(const struct fr_observer *o, const struct fr_run *run)
{
    if (!o)
        return;
    const struct fr_run_counts *c = &run->counts;
    const struct {
        const char *outcome;
        uint64_t n;
    } rows[] = {
        {"read", c->read},       {"created", c->created}, {"duplicate", c->duplicate},
        {"skipped", c->skipped}, {"failed", c->failed},   {"rejected", c->rejected},
        {"changed", c->changed}, {"written", c->written},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(rows); i++)
        if (rows[i].n)
            fr_observer_add(o, FR_M_JOB_RECORDS, (const char *[]){run->job, rows[i].outcome},
                            (double)rows[i].n);
    bool ok = strcmp(run->status, "ok") == 0;
    const char *status = ok                                        ? "ok"
                         : strcmp(run->status, "interrupted") == 0 ? "interrupted"
                                                                   : "failed";
    fr_observer_add(o, FR_M_JOB_RUNS, (const char *[]){run->job, status}, 1);
    const char *job[] = {run->job};
    fr_observer_set(o, FR_M_JOB_LAST_RUN, job, (double)run->ended_ms / 1000.0);
    fr_observer_set(o, FR_M_JOB_LAST_DURATION, job,
                    (double)(run->ended_ms - run->started_ms) / 1000.0);
    if (ok)
        fr_observer_set(o, FR_M_JOB_LAST_SUCCESS, job, (double)run->ended_ms / 1000.0);
}
