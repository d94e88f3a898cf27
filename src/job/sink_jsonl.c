#include "core/common.h"
#include "job/sink_int.h"
#include "job/job_conf.h"

static int jsonl_open(const struct fr_sink_conf *conf, int64_t now_ms, void **impl,
                      struct fr_err *err)
{
    struct fr__sink_file *sf = fr_calloc(1, sizeof(*sf));
    int rc = fr__sink_file_open(sf, conf->path, err);
    if (rc) {
        free(sf);
        return rc;
    }
    *impl = sf;
    return 0;
}

static int jsonl_write(void *impl, json_t *record, const char *key, struct fr_err *err)
{
    struct fr__sink_file *sf = impl;
    if (json_dumpf(record, sf->f, FR_SINK_DUMP_FLAGS | JSON_ENCODE_ANY) != 0 ||
        fputc('\n', sf->f) == EOF)
        return fr__sink_file_check(sf, err)
                   ? FR_EIO
                   : fr_err_set(err, FR_EIO, 0, "sink %s: cannot write a record", sf->path);
    return 0;
}

static int jsonl_commit(void *impl, struct fr_err *err)
{
    return fr__sink_file_commit(impl, err);
}

static void jsonl_close(void *impl)
{
    fr__sink_file_release(impl);
    free(impl);
}

const struct fr__sink_ops fr__sink_jsonl_ops = {
    "jsonl", jsonl_open, jsonl_write, jsonl_commit, jsonl_close,
};
