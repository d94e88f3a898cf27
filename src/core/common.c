#include "core/common.h"

#include <errno.h>

static FR_NORETURN void out_of_memory(size_t size)
{
    fprintf(stderr, "ferry: out of memory allocating %zu bytes\n", size);
    abort();
}

void *fr_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

void *fr_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        out_of_memory(nmemb * size);
    return p;
}

void *fr_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

void *fr_reallocarray(void *ptr, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        out_of_memory(SIZE_MAX);
    return fr_realloc(ptr, nmemb * size);
}

char *fr_strdup(const char *s)
{
    return fr_strndup(s, strlen(s));
}

char *fr_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = fr_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *fr_vasprintf(const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        fr_die(__FILE__, __LINE__, "vsnprintf failed");
    char *p = fr_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *fr_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = fr_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

size_t fr_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n) {
        size_t c = len < n - 1 ? len : n - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return len;
}

void fr_die(const char *file, int line, const char *msg)
{
    fprintf(stderr, "ferry: %s:%d: %s\n", file, line, msg);
    abort();
}
