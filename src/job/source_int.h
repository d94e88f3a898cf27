/*
 * source_int.h: what source.c shares with the per-type sources
 * (source_csv.c, source_jsonl.c, source_sqlite.c). Not for other modules.
 *
 * Each type fills one operations table; fr_source_* dispatch through it.
 */
#ifndef FR_JOB_SOURCE_INT_H
#define FR_JOB_SOURCE_INT_H

#include "core/common.h"

#include "job/source.h"
#include "job/job_conf.h"

struct fr__source_ops {
    const char *name;
    /* *impl is the type's own state, freed by close. Errors as fr_source_open. */
    int (*open)(const struct fr_source_conf *conf, void **impl, struct fr_err *err);
    int (*next)(void *impl, struct fr_record *rec, bool *eof, struct fr_err *err);
    void (*progress)(const void *impl, int64_t *done, int64_t *total);
    void (*close)(void *impl);
};

extern const struct fr__source_ops fr__source_csv_ops;
extern const struct fr__source_ops fr__source_jsonl_ops;
extern const struct fr__source_ops fr__source_sqlite_ops;

/* Fills rec with an error "<unit> N: <fmt...>" ("line 4: ...", "row 4: ..."), fields NULL. */
void fr__record_fail(struct fr_record *rec, const char *unit, uint64_t n, const char *fmt, ...)
    FR_PRINTF(4, 5);

/* Bytes read from a file at a time, and the cap on one record's bytes. */
#define FR__SOURCE_CHUNK    (64 * 1024)
#define FR__SOURCE_MAX_LINE ((size_t)16 * 1024 * 1024)

#endif
