/*
 * key_request.h: the requests a job makes about one record's key (its
 * lookup and rollback requests, struct fr_key_request_conf), built from a
 * template where {{key}} stands for the key.
 */
#ifndef FR_JOB_KEY_REQUEST_H
#define FR_JOB_KEY_REQUEST_H

#include "core/common.h"

/*
 * A lookup or rollback path template with every {{key}} replaced by the
 * URL-encoded key. Caller frees.
 */
char *fr_key_request_path(const char *tmpl, const char *key);

#endif
