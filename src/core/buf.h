/*
 * buf.h: a growable byte buffer, always NUL-terminated, with an optional cap.
 *
 * Every buffer filled from the network sets max so that a hostile or broken
 * peer cannot make ferry allocate without bound (after git's strbuf).
 */
#ifndef FR_CORE_BUF_H
#define FR_CORE_BUF_H

#include "core/common.h"

struct fr_buf {
    char *data; /* NUL-terminated once anything was added; NULL before */
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed; 0 = no cap */
};

#define FR_BUF_INIT                                                                                \
    {                                                                                              \
        0                                                                                          \
    }

void fr_buf_init(struct fr_buf *b, size_t max);
/* Frees the data; the buffer can be reused after fr_buf_init. */
void fr_buf_release(struct fr_buf *b);
/* Empties the buffer, keeping its allocation and cap. */
void fr_buf_reset(struct fr_buf *b);
/* Returns the data, which the caller now owns (never NULL), and empties b. */
char *fr_buf_detach(struct fr_buf *b, size_t *len);

/*
 * Makes room for extra more bytes, so that adding them does not allocate:
 * when the buffer must grow for it, it grows to exactly len + extra + 1
 * bytes (the NUL's). FR_ETOOBIG (and nothing changed) when len + extra
 * would pass max. A buffer never grows past max + 1 bytes, by this or by
 * the appends below.
 */
int fr_buf_reserve(struct fr_buf *b, size_t extra);

/* Appends; FR_ETOOBIG (and nothing appended) when max would be passed. */
int fr_buf_add(struct fr_buf *b, const void *data, size_t len);
int fr_buf_adds(struct fr_buf *b, const char *s);
int fr_buf_addc(struct fr_buf *b, char c);
int fr_buf_addf(struct fr_buf *b, const char *fmt, ...) FR_PRINTF(2, 3);

/* The contents as a string: "" when empty, never NULL. Borrowed. */
const char *fr_buf_str(const struct fr_buf *b);

#endif
