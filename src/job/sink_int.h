/*
 * sink_int.h: what sink.c shares with the per-type sinks (sink_jsonl.c,
 * sink_csv.c, sink_sqlite.c). Not for other modules.
 */
#ifndef FR_JOB_SINK_INT_H
#define FR_JOB_SINK_INT_H

#include "core/common.h"

#include "job/sink.h"
#include "job/job_conf.h"

struct fr__sink_ops {
    const char *name;
    /* *impl is the type's own state, freed by close. */
    int (*open)(const struct fr_sink_conf *conf, int64_t now_ms, void **impl, struct fr_err *err);
    int (*write)(void *impl, json_t *record, const char *key, struct fr_err *err);
    int (*commit)(void *impl, struct fr_err *err);
    /* Discards what was not committed and frees. */
    void (*close)(void *impl);
};

extern const struct fr__sink_ops fr__sink_jsonl_ops;
extern const struct fr__sink_ops fr__sink_csv_ops;
extern const struct fr__sink_ops fr__sink_sqlite_ops;

/*
 * A file written beside its final path and renamed over it on commit
 * (shared by the jsonl and csv sinks).
 */
struct fr__sink_file {
    char *path; /* the final path, borrowed from the config */
    char *tmp;  /* path + ".tmp", owned */
    FILE *f;
    char *buf; /* the stdio buffer */
    bool committed;
};

/* Creates (truncating) the temporary file. FR_EIO naming it. */
int fr__sink_file_open(struct fr__sink_file *sf, const char *path, struct fr_err *err);
/* FR_EIO naming the file when a write failed (checked with ferror). */
int fr__sink_file_check(struct fr__sink_file *sf, struct fr_err *err);
/* Flushes, fsyncs, closes, renames over the path, fsyncs the directory. */
int fr__sink_file_commit(struct fr__sink_file *sf, struct fr_err *err);
/* Closes and, unless committed, removes the temporary file. */
void fr__sink_file_release(struct fr__sink_file *sf);

#endif
