#include "core/common.h"
#include "job/report.h"

bool fr_report_over_threshold(const struct fr_job_alert_conf *alert, const struct fr_run_counts *c)
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

void fr_report_failure_keys(struct fr_buf *keys, json_t *failures, uint64_t total,
                            const char *run_id, const char *unit)
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
