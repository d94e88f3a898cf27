#include "core/common.h"
#include "core/buf.h"

#include "core/error.h"

void fr_buf_init(struct fr_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void fr_buf_release(struct fr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void fr_buf_reset(struct fr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *fr_buf_detach(struct fr_buf *b, size_t *len)
{
    char *p = b->data ? b->data : fr_strdup("");
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* Room for extra more bytes and the NUL; exact: exactly that much when it must grow. */
static int grow(struct fr_buf *b, size_t extra, bool exact)
{
    if (extra > SIZE_MAX - b->len - 1)
        return FR_ETOOBIG;
    size_t need = b->len + extra;
    if (b->max && need > b->max)
        return FR_ETOOBIG;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = exact ? need + 1 : b->cap ? b->cap : 64;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    if (b->max && cap > b->max + 1)
        cap = b->max + 1; /* doubling stops at the cap: never more than could be used */
    b->data = fr_realloc(b->data, cap);
    if (!b->cap)
        b->data[0] = '\0';
    b->cap = cap;
    return 0;
}

int fr_buf_reserve(struct fr_buf *b, size_t extra)
{
    return grow(b, extra, true);
}

int fr_buf_add(struct fr_buf *b, const void *data, size_t len)
{
    int rc = grow(b, len, false);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int fr_buf_adds(struct fr_buf *b, const char *s)
{
    return fr_buf_add(b, s, strlen(s));
}

int fr_buf_addc(struct fr_buf *b, char c)
{
    return fr_buf_add(b, &c, 1);
}

int fr_buf_addf(struct fr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = fr_vasprintf(fmt, ap);
    va_end(ap);
    int rc = fr_buf_adds(b, s);
    free(s);
    return rc;
}

const char *fr_buf_str(const struct fr_buf *b)
{
    return b->data ? b->data : "";
}
