/*
 * jsonptr.h: RFC 6901 JSON pointers over jansson values.
 *
 * jansson has no pointer lookup of its own. "" is the whole document;
 * "/a/0/b" walks object members and array indices; "~1" stands for "/"
 * and "~0" for "~" inside a reference token.
 */
#ifndef FR_CORE_JSONPTR_H
#define FR_CORE_JSONPTR_H

#include "core/common.h"

#include <jansson.h>

/*
 * The value at pointer inside root, or NULL when the pointer is malformed
 * (does not start with "/", a bad "~" escape, an index with a leading zero
 * or a sign, "-") or names nothing. The result is borrowed from root: no
 * json_decref, valid while root is. root or pointer NULL gives NULL.
 */
json_t *fr_json_pointer(json_t *root, const char *pointer);

#endif
