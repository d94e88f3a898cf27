#include "core/common.h"
#include "mock/mock.h"

#include <sys/mman.h>

#include "mock/mock_int.h"

#define MIN_SLOTS  64
#define BLOCK_SIZE (1u << 20)

/* FNV-1a, 64 bits: sourceRefs are short, and the mock only listens on trusted addresses. */
static uint64_t hash_ref(const char *ref, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)ref[i];
        h *= 1099511628211ull;
    }
    return h;
}

/*
 * Zeroed memory mapped in one go, for the row blocks and the table: a store
 * grows by a hundred thousand rows in a benchmark, and faulting its pages in
 * one call is much cheaper than a page fault (and a heap extension) every
 * few rows. Free with munmap.
 */
static void *map_zeroed(size_t size)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
    flags |= MAP_POPULATE;
#endif
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        fr_die(__FILE__, __LINE__, "out of memory for mock credits");
    return p;
}

/* Memory for a row of size bytes (a multiple of FR__MOCK_ROW_ALIGN). */
static struct fr__mock_row *row_alloc(struct fr__mock_store *s, size_t size)
{
    if (size > FR__MOCK_ROW_SMALL)
        return fr_malloc(size);
    size_t cls = size / FR__MOCK_ROW_ALIGN - 1;
    struct fr__mock_row *r = s->free_rows[cls];
    if (r) {
        s->free_rows[cls] = r->next;
        return r;
    }
    /* The first FR__MOCK_ROW_ALIGN bytes of a block chain the blocks. */
    if (!s->blocks || s->block_used + size > BLOCK_SIZE) {
        void **b = map_zeroed(BLOCK_SIZE);
        *b = s->blocks;
        s->blocks = b;
        s->block_used = FR__MOCK_ROW_ALIGN;
    }
    r = (struct fr__mock_row *)((char *)s->blocks + s->block_used);
    s->block_used += size;
    return r;
}

static void row_free(struct fr__mock_store *s, struct fr__mock_row *r)
{
    if (r->size > FR__MOCK_ROW_SMALL) {
        free(r);
        return;
    }
    size_t cls = r->size / FR__MOCK_ROW_ALIGN - 1;
    r->next = s->free_rows[cls];
    s->free_rows[cls] = r;
}

static struct fr__mock_row *row_new(struct fr__mock_store *s, const char *ref, size_t ref_len,
                                    uint64_t hash, const char *credit, size_t credit_len)
{
    size_t size = sizeof(struct fr__mock_row) + ref_len + 1 + credit_len;
    size = (size + FR__MOCK_ROW_ALIGN - 1) / FR__MOCK_ROW_ALIGN * FR__MOCK_ROW_ALIGN;
    struct fr__mock_row *r = row_alloc(s, size);
    memset(r, 0, sizeof(*r));
    r->size = size;
    r->hash = hash;
    r->count = 1;
    r->ref_len = ref_len;
    memcpy(r->ref, ref, ref_len);
    r->ref[ref_len] = '\0';
    r->credit = r->ref + ref_len + 1;
    r->credit_len = credit_len;
    memcpy(r->credit, credit, credit_len);
    return r;
}

void fr__mock_store_init(struct fr__mock_store *s)
{
    memset(s, 0, sizeof(*s));
}

void fr__mock_store_release(struct fr__mock_store *s)
{
    fr__mock_store_clear(s);
    if (s->slots)
        munmap(s->slots, s->cap * sizeof(*s->slots));
    memset(s, 0, sizeof(*s));
}

void fr__mock_store_clear(struct fr__mock_store *s)
{
    for (struct fr__mock_row *r = s->head, *next; r; r = next) {
        next = r->next;
        if (r->size > FR__MOCK_ROW_SMALL)
            free(r);
    }
    while (s->blocks) {
        void *b = s->blocks;
        s->blocks = *(void **)b;
        munmap(b, BLOCK_SIZE);
    }
    s->block_used = 0;
    memset(s->free_rows, 0, sizeof(s->free_rows));
    if (s->slots)
        memset(s->slots, 0, s->cap * sizeof(*s->slots));
    s->len = 0;
    s->head = s->tail = NULL;
}

/* The slot holding ref, or the empty slot where it would go. cap > 0. */
static size_t probe(const struct fr__mock_store *s, const char *ref, size_t len, uint64_t hash)
{
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
        const struct fr__mock_row *r = s->slots[i];
        if (!r || (r->hash == hash && r->ref_len == len && memcmp(r->ref, ref, len) == 0))
            return i;
    }
}

static void grow(struct fr__mock_store *s)
{
    size_t old_cap = s->cap;
    struct fr__mock_row **old = s->slots;
    s->cap = old_cap ? old_cap * 2 : MIN_SLOTS;
    s->slots = map_zeroed(s->cap * sizeof(*s->slots));
    for (size_t i = 0; i < old_cap; i++) {
        struct fr__mock_row *r = old[i];
        if (r)
            s->slots[probe(s, r->ref, r->ref_len, r->hash)] = r;
    }
    if (old)
        munmap(old, old_cap * sizeof(*old));
}

struct fr__mock_row *fr__mock_store_find(const struct fr__mock_store *s, const char *ref)
{
    if (!s->len)
        return NULL;
    size_t len = strlen(ref);
    return s->slots[probe(s, ref, len, hash_ref(ref, len))];
}

struct fr__mock_row *fr__mock_store_add(struct fr__mock_store *s, const char *ref, size_t ref_len,
                                        const char *credit, size_t credit_len, bool *added)
{
    /* At most 3/4 full, so probes stay short and always end at an empty slot. */
    if ((s->len + 1) * 4 > s->cap * 3)
        grow(s);
    uint64_t hash = hash_ref(ref, ref_len);
    size_t i = probe(s, ref, ref_len, hash);
    *added = !s->slots[i];
    if (!*added)
        return s->slots[i];
    struct fr__mock_row *row = row_new(s, ref, ref_len, hash, credit, credit_len);
    s->slots[i] = row;
    s->len++;
    row->prev = s->tail;
    if (s->tail)
        s->tail->next = row;
    else
        s->head = row;
    s->tail = row;
    return row;
}

uint64_t fr__mock_store_remove(struct fr__mock_store *s, const char *ref)
{
    if (!s->len)
        return 0;
    size_t len = strlen(ref);
    size_t mask = s->cap - 1;
    size_t hole = probe(s, ref, len, hash_ref(ref, len));
    struct fr__mock_row *row = s->slots[hole];
    if (!row)
        return 0;
    /* Backward-shift deletion: a later row of the run moves into the hole
     * unless its home slot lies cyclically in (hole, j]. */
    s->slots[hole] = NULL;
    for (size_t j = (hole + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
        size_t home = (size_t)s->slots[j]->hash & mask;
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        s->slots[hole] = s->slots[j];
        s->slots[j] = NULL;
        hole = j;
    }
    s->len--;
    if (row->prev)
        row->prev->next = row->next;
    else
        s->head = row->next;
    if (row->next)
        row->next->prev = row->prev;
    else
        s->tail = row->prev;
    uint64_t count = row->count;
    row_free(s, row);
    return count;
}

size_t fr__mock_store_len(const struct fr__mock_store *s)
{
    return s->len;
}
