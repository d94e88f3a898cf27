#include "core/common.h"
#include "core/log_limit.h"

#include <inttypes.h>
#include <pthread.h>

#include "core/buf.h"

/* The occurrences of one key: the window open now and what earlier ones did not log. */
struct window {
    int64_t start;
    uint64_t count;      /* occurrences in the open window; 0: none open */
    uint64_t unreported; /* not logged, in windows over, not yet summarised */
    int64_t since;       /* start of the first window they fell in */
    int64_t until;       /* end of the last */
};

struct key {
    struct key *next; /* in its bucket */
    uint64_t hash;
    struct window w;
    const char *kind, *source, *client; /* into text */
    char text[];                        /* kind, source and client, each NUL-terminated */
};

/* Where occurrences of new keys go while the table is full. */
struct catch_all {
    struct window w;
    char kind[FR_LOG_LIMIT_STR_MAX + 1];
    char source[FR_LOG_LIMIT_STR_MAX + 1];
    bool mixed_kinds, mixed_sources; /* since it was last idle */
};

struct fr_log_limit {
    pthread_mutex_t lock;
    uint64_t burst;
    int64_t window_ms;
    size_t max_keys;
    struct key **buckets;
    size_t nbuckets; /* a power of two */
    size_t nkeys;
    struct catch_all other;
    int64_t next_due; /* no flush has work before this; INT64_MAX: none */
};

struct fr_log_limit *fr_log_limit_new(unsigned burst, int64_t window_ms, size_t max_keys)
{
    FR_ASSERT(window_ms >= 1 && max_keys >= 1 && max_keys <= SIZE_MAX / 4);
    struct fr_log_limit *lim = fr_calloc(1, sizeof(*lim));
    pthread_mutex_init(&lim->lock, NULL);
    lim->burst = burst;
    lim->window_ms = window_ms;
    lim->max_keys = max_keys;
    lim->nbuckets = 16;
    while (lim->nbuckets < 2 * max_keys)
        lim->nbuckets *= 2;
    lim->buckets = fr_calloc(lim->nbuckets, sizeof(*lim->buckets));
    lim->next_due = INT64_MAX;
    return lim;
}

void fr_log_limit_free(struct fr_log_limit *lim)
{
    if (!lim)
        return;
    for (size_t i = 0; i < lim->nbuckets; i++) {
        for (struct key *k = lim->buckets[i], *next; k; k = next) {
            next = k->next;
            free(k);
        }
    }
    free(lim->buckets);
    pthread_mutex_destroy(&lim->lock);
    free(lim);
}

/* ---- windows ------------------------------------------------------------ */

/* Closes the open window: what it did not log waits for the next summary. */
static void window_end(const struct fr_log_limit *lim, struct window *w)
{
    if (w->count > lim->burst) {
        if (!w->unreported)
            w->since = w->start;
        w->unreported += w->count - lim->burst;
        w->until = w->start + lim->window_ms;
    }
    w->count = 0;
}

static bool window_over(const struct fr_log_limit *lim, const struct window *w, int64_t now)
{
    return w->count && now - w->start >= lim->window_ms;
}

/* One occurrence; true when it is logged. */
static bool window_hit(struct fr_log_limit *lim, struct window *w, int64_t now)
{
    if (window_over(lim, w, now)) {
        window_end(lim, w);
        if (w->unreported)
            lim->next_due = FR_MIN(lim->next_due, now);
    }
    if (!w->count) {
        w->start = now;
        lim->next_due = FR_MIN(lim->next_due, now + lim->window_ms);
    }
    w->count++;
    return w->count <= lim->burst;
}

/* ---- keys --------------------------------------------------------------- */

/* FNV-1a over the three strings, each with its NUL. */
static uint64_t hash_add(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h * 1099511628211ull; /* the NUL */
}

struct lookup {
    const char *s[3]; /* kind, source, client */
    size_t len[3];    /* truncated to FR_LOG_LIMIT_STR_MAX */
    uint64_t hash;
};

static void lookup_init(struct lookup *l, const char *kind, const char *source, const char *client)
{
    l->s[0] = kind;
    l->s[1] = source ? source : "";
    l->s[2] = client ? client : "";
    l->hash = 14695981039346656037ull;
    for (int i = 0; i < 3; i++) {
        l->len[i] = strnlen(l->s[i], FR_LOG_LIMIT_STR_MAX);
        l->hash = hash_add(l->hash, l->s[i], l->len[i]);
    }
}

static bool same(const char *stored, const char *s, size_t len)
{
    return memcmp(stored, s, len) == 0 && stored[len] == '\0';
}

static struct key **bucket_of(struct fr_log_limit *lim, uint64_t hash)
{
    return &lim->buckets[hash & (lim->nbuckets - 1)];
}

static struct key *find_key(struct fr_log_limit *lim, const struct lookup *l)
{
    for (struct key *k = *bucket_of(lim, l->hash); k; k = k->next)
        if (k->hash == l->hash && same(k->kind, l->s[0], l->len[0]) &&
            same(k->source, l->s[1], l->len[1]) && same(k->client, l->s[2], l->len[2]))
            return k;
    return NULL;
}

static struct key *add_key(struct fr_log_limit *lim, const struct lookup *l)
{
    struct key *k = fr_calloc(1, sizeof(*k) + l->len[0] + l->len[1] + l->len[2] + 3);
    char *p = k->text;
    const char **dst[3] = {&k->kind, &k->source, &k->client};
    for (int i = 0; i < 3; i++) {
        memcpy(p, l->s[i], l->len[i]);
        p[l->len[i]] = '\0';
        *dst[i] = p;
        p += l->len[i] + 1;
    }
    k->hash = l->hash;
    struct key **b = bucket_of(lim, l->hash);
    k->next = *b;
    *b = k;
    lim->nkeys++;
    return k;
}

static bool catch_all_hit(struct fr_log_limit *lim, const struct lookup *l, int64_t now)
{
    struct catch_all *o = &lim->other;
    /* Nothing left to report: what the next summary names starts with this occurrence. */
    bool idle = !o->w.unreported &&
                (!o->w.count || (window_over(lim, &o->w, now) && o->w.count <= lim->burst));
    if (idle) {
        memcpy(o->kind, l->s[0], l->len[0]);
        o->kind[l->len[0]] = '\0';
        memcpy(o->source, l->s[1], l->len[1]);
        o->source[l->len[1]] = '\0';
        o->mixed_kinds = o->mixed_sources = false;
    } else {
        o->mixed_kinds |= !same(o->kind, l->s[0], l->len[0]);
        o->mixed_sources |= !same(o->source, l->s[1], l->len[1]);
    }
    return window_hit(lim, &o->w, now);
}

bool fr_log_limit_hit(struct fr_log_limit *lim, const char *kind, const char *source,
                      const char *client, int64_t now_ms)
{
    struct lookup l;
    lookup_init(&l, kind, source, client);
    pthread_mutex_lock(&lim->lock);
    struct key *k = find_key(lim, &l);
    if (!k && lim->nkeys < lim->max_keys)
        k = add_key(lim, &l);
    bool logged = k ? window_hit(lim, &k->w, now_ms) : catch_all_hit(lim, &l, now_ms);
    pthread_mutex_unlock(&lim->lock);
    return logged;
}

/* ---- flush ------------------------------------------------------------- */

/* Summaries copied out under the lock, handed to the callback after it. */
struct due {
    struct fr_log_limit_summary *items;
    size_t n;
};

/*
 * Ends w's window if it is over at now and takes what it did not log into
 * due (strings copied); returns true when w has nothing left (it can go).
 */
static bool flush_window(struct fr_log_limit *lim, struct window *w, int64_t now,
                         const struct fr_log_limit_summary *key, struct due *due)
{
    if (window_over(lim, w, now))
        window_end(lim, w);
    if (w->unreported) {
        struct fr_log_limit_summary *s = &due->items[due->n++];
        s->kind = key->kind ? fr_strdup(key->kind) : NULL;
        s->source = key->source ? fr_strdup(key->source) : NULL;
        s->client = key->client ? fr_strdup(key->client) : NULL;
        s->catch_all = key->catch_all;
        s->suppressed = w->unreported;
        s->window_ms = w->until - w->since;
        w->unreported = 0;
    }
    if (w->count)
        lim->next_due = FR_MIN(lim->next_due, w->start + lim->window_ms);
    return !w->count;
}

size_t fr_log_limit_flush(struct fr_log_limit *lim, int64_t now_ms, fr_log_limit_fn cb, void *ud)
{
    pthread_mutex_lock(&lim->lock);
    if (now_ms < lim->next_due) {
        pthread_mutex_unlock(&lim->lock);
        return 0;
    }
    lim->next_due = INT64_MAX;
    struct due due = {fr_calloc(lim->nkeys + 1, sizeof(*due.items)), 0};
    for (size_t i = 0; i < lim->nbuckets; i++) {
        for (struct key **pk = &lim->buckets[i]; *pk;) {
            struct key *k = *pk;
            const struct fr_log_limit_summary as = {k->kind, k->source, k->client, false, 0, 0};
            if (flush_window(lim, &k->w, now_ms, &as, &due)) {
                *pk = k->next;
                free(k);
                lim->nkeys--;
            } else {
                pk = &k->next;
            }
        }
    }
    struct catch_all *o = &lim->other;
    const struct fr_log_limit_summary as = {
        o->mixed_kinds ? NULL : o->kind, o->mixed_sources ? NULL : o->source, NULL, true, 0, 0};
    flush_window(lim, &o->w, now_ms, &as, &due);
    pthread_mutex_unlock(&lim->lock);

    for (size_t i = 0; i < due.n; i++) {
        struct fr_log_limit_summary *s = &due.items[i];
        if (cb)
            cb(s, ud);
        free((char *)s->kind);
        free((char *)s->source);
        free((char *)s->client);
    }
    free(due.items);
    return due.n;
}

/* ---- the sentence ------------------------------------------------------ */

/* n with a comma between thousands: 2,341. */
static void add_count(struct fr_buf *b, uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%" PRIu64, n);
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            fr_buf_addc(b, ',');
        fr_buf_addc(b, digits[i]);
    }
}

char *fr_log_limit_sentence(const struct fr_log_limit_summary *s)
{
    struct fr_buf b = FR_BUF_INIT;
    add_count(&b, s->suppressed);
    fr_buf_addf(&b, " more %s", s->kind && *s->kind ? s->kind : "warnings");
    if (s->catch_all)
        fr_buf_adds(&b, " from other clients");
    else if (s->client && *s->client)
        fr_buf_addf(&b, " from %s", s->client);
    if (s->source && *s->source)
        fr_buf_addf(&b, " on %s", s->source);
    if (s->window_ms < 1000)
        fr_buf_addf(&b, " in the last %" PRId64 " ms", s->window_ms);
    else
        fr_buf_addf(&b, " in the last %" PRId64 " s", (s->window_ms + 999) / 1000);
    return fr_buf_detach(&b, NULL);
}
