#include "core/common.h"
#include "hooks/connwatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"

/* The watchdog looks this often at least, and at most every 10 ms. */
#define LOOK_MAX_MS 250
#define LOOK_MIN_MS 10

struct fr_conn {
    struct fr_conn *prev, *next;
    int fd;
    enum fr_conn_phase phase; /* under the lock, as since_ms */
    int64_t since_ms;
    bool closing; /* under the lock: shut down, waiting for the server to remove it */
    _Atomic uint64_t body_bytes;
};

struct fr_connwatch {
    struct fr_conn_limits limits;
    void (*on_look)(const size_t closed[FR_CONN__COUNT], void *ud);
    void *ud;
    int64_t look_ms;
    pthread_mutex_t lock;
    pthread_cond_t wake;  /* stop */
    bool stopping;        /* under lock */
    struct fr_conn *head; /* under lock */
    pthread_t thread;
};

static const char *const close_names[] = {
#define FR__CONN_NAME(id, name) name,
    FR_CONN_CLOSE_REASONS(FR__CONN_NAME)
#undef FR__CONN_NAME
};

const char *fr_conn_close_name(enum fr_conn_close why)
{
    return (unsigned)why < FR_ARRAY_LEN(close_names) ? close_names[why] : "unknown";
}

enum fr_conn_close fr_conn_verdict(const struct fr_conn_limits *l, enum fr_conn_phase phase,
                                   int64_t since_ms, uint64_t body_bytes, int64_t now_ms)
{
    int64_t elapsed = now_ms - since_ms;
    switch (phase) {
    case FR_CONN_HEAD:
        return elapsed >= l->header_timeout_ms ? FR_CONN_HEADER_TIMEOUT : FR_CONN_OPEN;
    case FR_CONN_BODY:
        if (elapsed >= l->body_timeout_ms)
            return FR_CONN_BODY_TIMEOUT;
        /* bytes / seconds < rate, without dividing; elapsed < 1h and rate <= 1 GB/s fit. */
        if (l->min_body_rate && elapsed >= FR_CONN_RATE_GRACE_MS &&
            body_bytes * 1000 < l->min_body_rate * (uint64_t)elapsed)
            return FR_CONN_SLOW_BODY;
        return FR_CONN_OPEN;
    case FR_CONN_BUSY:
        break;
    }
    return FR_CONN_OPEN;
}

/* One look at every connection: those past their deadline are shut down. */
static void look(struct fr_connwatch *w, size_t closed[FR_CONN__COUNT])
{
    int64_t now = fr_now_ms();
    for (struct fr_conn *c = w->head; c; c = c->next) {
        if (c->closing)
            continue;
        enum fr_conn_close why =
            fr_conn_verdict(&w->limits, c->phase, c->since_ms,
                            atomic_load_explicit(&c->body_bytes, memory_order_relaxed), now);
        if (why == FR_CONN_OPEN)
            continue;
        /* The server reads end-of-file (or an error) and closes the connection itself. */
        shutdown(c->fd, SHUT_RDWR);
        c->closing = true;
        closed[why]++;
    }
}

static void *watch_main(void *arg)
{
    struct fr_connwatch *w = arg;
    pthread_setname_np(pthread_self(), "ferry-connwatch");
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        int64_t due_us = fr_now_us() + w->look_ms * 1000;
        struct timespec at = {.tv_sec = (time_t)(due_us / 1000000),
                              .tv_nsec = (long)(due_us % 1000000) * 1000};
        while (!w->stopping && pthread_cond_timedwait(&w->wake, &w->lock, &at) == 0)
            ;
        if (w->stopping)
            break;
        size_t closed[FR_CONN__COUNT] = {0};
        look(w, closed);
        if (w->on_look) {
            pthread_mutex_unlock(&w->lock);
            w->on_look(closed, w->ud);
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int fr_connwatch_start(const struct fr_conn_limits *limits,
                       void (*on_look)(const size_t closed[FR_CONN__COUNT], void *ud), void *ud,
                       struct fr_connwatch **out, struct fr_err *err)
{
    *out = NULL;
    struct fr_connwatch *w = fr_calloc(1, sizeof(*w));
    w->limits = *limits;
    w->on_look = on_look;
    w->ud = ud;
    /* A few looks per shortest deadline: a connection is closed at most a look after it. */
    int64_t shortest = FR_MIN(limits->header_timeout_ms, limits->body_timeout_ms);
    w->look_ms = FR_MAX((int64_t)LOOK_MIN_MS, FR_MIN((int64_t)LOOK_MAX_MS, shortest / 8));
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t mono; /* the timed waits are on fr_now_us's clock */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &mono);
    pthread_condattr_destroy(&mono);
    int e = pthread_create(&w->thread, NULL, watch_main, w);
    if (e) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return fr_err_set(err, FR_EINTERNAL, e, "cannot start the connection watchdog thread");
    }
    *out = w;
    return 0;
}

void fr_connwatch_stop(struct fr_connwatch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    for (struct fr_conn *c = w->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

struct fr_conn *fr_connwatch_add(struct fr_connwatch *w, int fd)
{
    struct fr_conn *c = fr_calloc(1, sizeof(*c));
    c->fd = fd;
    c->phase = FR_CONN_HEAD;
    c->since_ms = fr_now_ms();
    atomic_init(&c->body_bytes, 0);
    pthread_mutex_lock(&w->lock);
    c->next = w->head;
    if (w->head)
        w->head->prev = c;
    w->head = c;
    pthread_mutex_unlock(&w->lock);
    return c;
}

void fr_connwatch_remove(struct fr_connwatch *w, struct fr_conn *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&w->lock);
    free(c);
}

void fr_connwatch_enter(struct fr_connwatch *w, struct fr_conn *c, enum fr_conn_phase phase)
{
    int64_t now = fr_now_ms();
    pthread_mutex_lock(&w->lock);
    c->phase = phase;
    c->since_ms = now;
    if (phase == FR_CONN_BODY)
        atomic_store_explicit(&c->body_bytes, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->lock);
}

void fr_connwatch_body(struct fr_conn *c, size_t n)
{
    atomic_fetch_add_explicit(&c->body_bytes, n, memory_order_relaxed);
}
