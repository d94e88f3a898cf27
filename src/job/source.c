#include "core/common.h"
#include "job/source.h"

#include "job/source_int.h"
#include "job/job_conf.h"

struct fr_source {
    const struct fr__source_ops *ops;
    void *impl;
};

/* Indexed by enum fr_source_type. */
static const struct fr__source_ops *const source_types[] = {
    [FR_SOURCE_CSV] = &fr__source_csv_ops,
    [FR_SOURCE_JSONL] = &fr__source_jsonl_ops,
    [FR_SOURCE_SQLITE] = &fr__source_sqlite_ops,
};

void fr_record_release(struct fr_record *rec)
{
    if (!rec)
        return;
    json_decref(rec->fields);
    free(rec->error);
    memset(rec, 0, sizeof(*rec));
}

void fr__record_fail(struct fr_record *rec, const char *unit, uint64_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = fr_vasprintf(fmt, ap);
    va_end(ap);
    json_decref(rec->fields);
    free(rec->error);
    rec->fields = NULL;
    rec->line = n;
    rec->error = fr_asprintf("%s %llu: %s", unit, (unsigned long long)n, what);
    free(what);
}

int fr_source_open(const struct fr_source_conf *conf, struct fr_source **out, struct fr_err *err)
{
    *out = NULL;
    if ((size_t)conf->type >= FR_ARRAY_LEN(source_types) || !source_types[conf->type])
        return fr_err_set(err, FR_ECONFIG, 0, "unknown source type %d", (int)conf->type);
    const struct fr__source_ops *ops = source_types[conf->type];
    void *impl = NULL;
    int rc = ops->open(conf, &impl, err);
    if (rc)
        return rc;
    struct fr_source *src = fr_calloc(1, sizeof(*src));
    src->ops = ops;
    src->impl = impl;
    *out = src;
    return 0;
}

int fr_source_next(struct fr_source *src, struct fr_record *rec, bool *eof, struct fr_err *err)
{
    memset(rec, 0, sizeof(*rec));
    *eof = false;
    return src->ops->next(src->impl, rec, eof, err);
}

void fr_source_progress(const struct fr_source *src, int64_t *done, int64_t *total)
{
    src->ops->progress(src->impl, done, total);
}

void fr_source_close(struct fr_source *src)
{
    if (!src)
        return;
    src->ops->close(src->impl);
    free(src);
}
