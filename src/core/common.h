/*
 * common.h: included first by every .c file of ferry.
 *
 * Feature macros, attributes, the allocator, and the banned-functions list.
 * Allocation never fails from a caller's point of view: the fr_ wrappers
 * abort on exhaustion, so callers carry no dead NULL checks.
 *
 * No test hooks: nothing changes linkage for tests. A unit test reaches what
 * a module's files share (fr__ names) through the module's _int.h, and a
 * file-local static function through the module's interface.
 */
#ifndef FR_CORE_COMMON_H
#define FR_CORE_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define FR_NORETURN          __attribute__((noreturn))
#define FR_UNUSED            __attribute__((unused))
#define FR_WARN_UNUSED       __attribute__((warn_unused_result))
#define FR_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))
#define FR_MIN(a, b)         ((a) < (b) ? (a) : (b))
#define FR_MAX(a, b)         ((a) > (b) ? (a) : (b))

/* Allocation wrappers: abort with a message on exhaustion, never NULL. */
void *fr_malloc(size_t size);
void *fr_calloc(size_t nmemb, size_t size);
void *fr_realloc(void *ptr, size_t size);
/* Grows an array of nmemb elements of size bytes, checking the product. */
void *fr_reallocarray(void *ptr, size_t nmemb, size_t size);

/*
 * The size an array of alloc elements grows to when it must hold nr:
 * double (16 at first), at least nr. See FR_ALLOC_GROW.
 */
static inline size_t fr_alloc_nr(size_t alloc, size_t nr)
{
    size_t grown = alloc < 8 ? 16 : alloc > SIZE_MAX / 2 ? SIZE_MAX : alloc * 2;
    return grown < nr ? nr : grown;
}

/*
 * Makes the array v, of alloc elements, hold at least nr (git's ALLOC_GROW):
 *
 *     FR_ALLOC_GROW(l->v, l->n + 1, l->cap);
 *     l->v[l->n++] = x;
 *
 * v and alloc are lvalues (alloc any unsigned type wide enough), updated
 * when the array grows; the new slots are not initialised. Appends cost
 * amortised O(1); an overflow aborts as in fr_reallocarray.
 */
#define FR_ALLOC_GROW(v, nr, alloc)                                                                \
    do {                                                                                           \
        if ((size_t)(nr) > (size_t)(alloc)) {                                                      \
            size_t fr__grown = fr_alloc_nr((size_t)(alloc), (size_t)(nr));                         \
            (v) = fr_reallocarray((v), fr__grown, sizeof(*(v)));                                   \
            (alloc) = fr__grown;                                                                   \
        }                                                                                          \
    } while (0)
char *fr_strdup(const char *s);
char *fr_strndup(const char *s, size_t n);
/* A new string formatted like printf; the caller frees it. */
char *fr_asprintf(const char *fmt, ...) FR_PRINTF(1, 2);
char *fr_vasprintf(const char *fmt, va_list ap) FR_PRINTF(1, 0);

/* Copies src into dst of size n, always NUL-terminated; returns strlen(src). */
size_t fr_strlcpy(char *dst, const char *src, size_t n);

/* A broken invariant: print where and abort. Never for input errors. */
FR_NORETURN void fr_die(const char *file, int line, const char *msg);
#define FR_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fr_die(__FILE__, __LINE__, "assertion failed: " #cond);                                \
    } while (0)

#include "core/banned.h"

#endif
