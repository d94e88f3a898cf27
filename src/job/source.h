/*
 * source.h: where a push job's records come from, one at a time.
 *
 * Sources stream: memory stays flat however large the input. A record is a
 * JSON object of field name -> value: CSV fields are strings (keyed by the
 * header row), JSONL records are the parsed objects, SQLite rows map each
 * column to a string, number or null.
 *
 * A record the source cannot read (a bad JSONL line) is not an error of
 * the whole source: it comes back with rec->error set and rec->fields NULL,
 * so the job rejects it by its line number and goes on. Its error starts
 * with where: "line 7: 5 fields, the header has 6" ("row 7: ..." for SQLite).
 *
 * Per type: CSV (libcsv, not strict: stray quotes inside unquoted fields
 * are kept; spaces around unquoted fields are trimmed) strips a UTF-8 BOM,
 * skips empty lines, rejects a duplicate header name at open (FR_EPARSE),
 * and stops with FR_ETOOBIG on a record over 16 MB (an unclosed quote) or
 * FR_EPARSE on a quote still open at the end. JSONL skips blank lines and
 * rejects, per record, a line that is not one JSON object, has a duplicate
 * key or is longer than 16 MB. SQLite opens the file read-only and rejects
 * at open a query that is not one read-only statement or that names a
 * column twice (FR_ECONFIG); a blob value is a record error.
 */
#ifndef FR_JOB_SOURCE_H
#define FR_JOB_SOURCE_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"
#include "job/job_conf.h"

struct fr_source;

struct fr_record {
    json_t *fields; /* owned object, NULL when error is set */
    char *error;    /* owned; why this record could not be read */
    uint64_t line;  /* where it starts: 1-based line of the file (sqlite: row number) */
};

/* Frees what a record holds and zeroes it. */
void fr_record_release(struct fr_record *rec);

/*
 * Opens the source described by conf (its path already resolved).
 * FR_EIO when the file cannot be opened, FR_EPARSE for a CSV without a
 * header row, FR_ECONFIG for a bad SQL query; err says which and where.
 */
int fr_source_open(const struct fr_source_conf *conf, struct fr_source **out, struct fr_err *err);

/*
 * The next record into *rec (released by the caller). Returns 0 with
 * *eof false and a record, 0 with *eof true at the end, or an error code
 * when the source as a whole failed (I/O error, a CSV the parser gives up
 * on); err says where.
 */
int fr_source_next(struct fr_source *src, struct fr_record *rec, bool *eof, struct fr_err *err);

/*
 * How far the source has got, for progress lines: bytes consumed and the
 * total (for files), or rows and -1 when the total is unknown.
 */
void fr_source_progress(const struct fr_source *src, int64_t *done, int64_t *total);

void fr_source_close(struct fr_source *src);

#endif
