/*
 * sink.h: where a pull job's records land, written atomically.
 *
 * jsonl: one compact JSON object per line, as received (members in their
 * order; reals to 15 significant digits). csv: a header row of the
 * configured columns, then one row per record: strings as they are,
 * numbers and booleans as JSON writes them, null or missing as an empty
 * field, objects and arrays as compact JSON; a column is a top-level
 * field name or a JSON pointer (/address/city); fields are quoted (libcsv)
 * only when they hold a quote, a comma, a line break or edge spaces.
 * sqlite: the table (created if missing) has `key TEXT PRIMARY KEY`,
 * `record TEXT` (the record as compact JSON), `pulled_at TEXT` (RFC 3339)
 * and one column per configured column; records are upserted by key.
 *
 * Atomic: a file sink writes PATH.tmp and, on commit, flushes it, fsyncs
 * it, renames it over PATH and fsyncs the directory, so PATH is always
 * either the previous complete output or the new one; a run that never
 * commits leaves PATH untouched (fr_sink_free removes PATH.tmp; a killed
 * process leaves it, and the next run truncates it). The sqlite sink
 * writes the whole run in one transaction, committed by fr_sink_commit
 * and rolled back otherwise. The directory must exist.
 *
 * Errors: FR_EIO for files (err names the file and the OS reason),
 * FR_ESTORE never (the sink is not the store): SQLite failures are FR_EIO
 * too, naming the file and table; FR_EINVAL for a record a sqlite sink
 * cannot key.
 */
#ifndef FR_JOB_SINK_H
#define FR_JOB_SINK_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/error.h"
#include "job/job_conf.h"

struct fr_sink;

/*
 * Opens conf's sink for one run (conf is borrowed for the sink's life).
 * now_ms (wall clock) is the pulled_at of a sqlite sink's rows.
 */
int fr_sink_open(const struct fr_sink_conf *conf, int64_t now_ms, struct fr_sink **out,
                 struct fr_err *err);

/*
 * Writes one record (borrowed). key is the record's key as text (required
 * by the sqlite sink, ignored by the others; may be NULL for them).
 */
int fr_sink_write(struct fr_sink *s, json_t *record, const char *key, struct fr_err *err);

/* Makes every record written visible at once (see above). Once only. */
int fr_sink_commit(struct fr_sink *s, struct fr_err *err);

/* Frees the sink; what was not committed is discarded. NULL is a no-op. */
void fr_sink_free(struct fr_sink *s);

/*
 * A record's field as sinks and the pull engine read it: a JSON pointer
 * when field starts with "/", else a top-level member. Borrowed; NULL
 * when absent.
 */
json_t *fr_sink_field(json_t *record, const char *field);

/* The dump flags of records written as JSON (compact, reals to 15 significant digits). */
#define FR_SINK_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#endif
