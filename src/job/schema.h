/*
 * schema.h: the JSON Schema subset a pull job validates every record
 * against (docs/pull.md lists it for operators).
 *
 * Keywords: type (a name or a list of names: string, number, integer,
 * boolean, object, array, null), required, properties, items, enum,
 * minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
 * minLength, maxLength (in characters), pattern, format (date, date-time).
 * A schema may also be true or false. Annotations ($schema, $id, $comment,
 * title, description, default, examples, deprecated, readOnly, writeOnly)
 * are ignored; any other keyword is an error at load, so that a misspelt
 * or unsupported rule is never silently not applied.
 *
 * pattern is a POSIX extended regular expression (glibc regcomp), searched
 * anywhere in the string as JSON Schema does (anchor it with ^ and $);
 * \d and \D are accepted and mean [0-9] and [^0-9]. Refused at load, as
 * glibc's regcomp would take minutes and gigabytes on them: a repetition of
 * a repetition (a++, a{2}{3}; a lazy a+? is accepted) and a pattern that
 * expands past 1,000 nodes (nested or long repetitions: (a+)+ 20 deep,
 * (a{100}){100}, .{0,5000}). Number bounds compare
 * as doubles. integer accepts a real with no fractional part (3.0).
 */
#ifndef FR_JOB_SCHEMA_H
#define FR_JOB_SCHEMA_H

#include "core/common.h"

#include <jansson.h>

#include "core/error.h"
#include "job/job_conf.h"

/* The most reasons one record collects; the last one then says more were cut. */
#define FR_SCHEMA_MAX_REASONS 10

struct fr_schema;

/*
 * Reads and compiles the schema file at path. FR_EIO when it cannot be
 * read; FR_ECONFIG when it is not JSON ("FILE:LINE:COL: ...") or not a
 * schema ferry can apply ("FILE: /properties/email/maxLength: must be a
 * non-negative integer"). *out is freed with fr_schema_free.
 */
int fr_schema_load(const char *path, struct fr_schema **out, struct fr_err *err);

/* The same from a parsed document (borrowed); name stands for the file in messages. */
int fr_schema_compile(json_t *doc, const char *name, struct fr_schema **out, struct fr_err *err);

void fr_schema_free(struct fr_schema *s);

/*
 * Validates value. Returns true when it is valid; otherwise false and
 * *reasons is a new array (caller json_decrefs) of strings, one per
 * violation in schema order, each "where: why" ("email: required but
 * missing", "tags[2]: expected a string, found a number"; "(record)" for
 * the value itself), at most FR_SCHEMA_MAX_REASONS. Values are quoted up
 * to 60 bytes. *reasons is NULL when valid.
 */
bool fr_schema_validate(const struct fr_schema *s, json_t *value, json_t **reasons);

/* The reasons joined by "; ", for logs and the store. Caller frees. */
char *fr_schema_reasons_text(json_t *reasons);

#endif
