/*
 * map.h: turning a source record into an API payload, as the job's `map`
 * says: copy columns with types, set literals, enforce `required`.
 *
 * Types: string (as read), number (a decimal such as 12.50 or -3; no
 * thousands separators), integer, boolean (true/false/yes/no/1/0, any
 * case), date (YYYY-MM-DD out; YYYY-MM-DD, YYYY/MM/DD or an RFC 3339
 * date-time in). A value that does not convert rejects the record with a
 * reason naming the field and the value. An empty or missing value of a
 * field that is not required is left out of the payload.
 *
 * Values come as CSV strings or as JSON values (JSONL, SQLite); both are
 * accepted: string takes strings as they are and numbers or booleans as
 * their text (an object or array is rejected); number keeps a JSON number
 * and takes a string -?digits(.digits)? with surrounding spaces (at most 15
 * significant digits; whole numbers become JSON integers); integer also
 * takes a whole real (3.0) or "3.00"; boolean also takes the JSON integers
 * 1 and 0; date takes strings only, and a date-time without an offset
 * ("2024-03-01 10:00:00", as many exports write) as well; only the date
 * part is used, never converted between zones. Empty means missing, null, or a string
 * of spaces; the reason is then "amount: required but empty". Reasons quote
 * at most 60 bytes of the value. Literals are deep copies of field->value.
 */
#ifndef FR_JOB_MAP_H
#define FR_JOB_MAP_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "job/job_conf.h"

/*
 * The json_dumps flags for sending a payload: reals are written with 15
 * significant digits, so that "19.99" read from a CSV goes out as 19.99 and
 * not as 19.989999999999998 (jansson's default is 17 digits). The number
 * type accepts at most 15 significant digits for this reason; a JSON real
 * from a JSONL or SQLite source is carried to 15 digits.
 */
#define FR_MAP_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/*
 * Builds the payload for record. On success returns 0 and *payload is a new
 * object (caller json_decrefs). On failure returns FR_EINVAL and *why is a
 * new string (caller frees) such as `amount: "12,5" is not a number`.
 */
int fr_map_apply(const struct fr_map_field *fields, size_t n, json_t *record, json_t **payload,
                 char **why);

/*
 * The payload's key as a string (strings copied, integers in decimal,
 * reals in the shortest %g form that reads back the same, e.g. 12.5), or
 * NULL when the payload has no such field, it is "" or of another type.
 * Caller frees.
 */
char *fr_map_key(json_t *payload, const char *key_field);

/*
 * A stable hash of the payload (SHA-256 of its canonical JSON: sorted keys,
 * FR_MAP_DUMP_FLAGS), as 64 hex characters plus NUL in out.
 */
void fr_map_hash(json_t *payload, char out[65]);

/*
 * The canonical text fr_map_hash hashes (sorted keys, FR_MAP_DUMP_FLAGS),
 * which is also a valid body to send. Caller frees.
 */
char *fr_map_canonical(json_t *payload);

/*
 * A job's map prepared for the hot path: fr_map_write gives, byte for
 * byte, fr_map_canonical(fr_map_apply(...)) and fr_map_key of it, without
 * building the payload. fields and key_field are borrowed and must outlive it.
 */
struct fr_map;
struct fr_buf;

struct fr_map *fr_map_new(const struct fr_map_field *fields, size_t n, const char *key_field);
void fr_map_free(struct fr_map *m);

/*
 * Writes record's payload as canonical JSON into out (reset first) and its
 * key into *key (caller frees; NULL when the payload has no usable key).
 * FR_EINVAL with *why (caller frees) as fr_map_apply gives it.
 */
int fr_map_write(struct fr_map *m, json_t *record, struct fr_buf *out, char **key, char **why);

/* fr_map_hash of an already canonical text, with m's reusable digest context. */
void fr_map_digest(struct fr_map *m, const char *text, size_t len, char out[65]);

#endif
