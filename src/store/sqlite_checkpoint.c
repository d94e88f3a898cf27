#include "core/common.h"
#include "store/sqlite_checkpoint.h"

#include <pthread.h>

/*
 * sqlite_checkpoint.c: the SQLite backend's WAL checkpointer, a thread per
 * database file and process that copies the WAL into the file beside the
 * writers, and the process-wide registry that finds a file's checkpointer.
 *
 * Threads and locks: registry_lock guards the registry list and each
 * checkpointer's users; a checkpointer's lock guards the rest of its state.
 * registry_lock is never held while a checkpointer's lock is taken. The
 * thread alone uses its own connection; the hook runs on whichever thread
 * commits on a handle's connection (sqlite_checkpoint.h).
 *
 * SQLite's automatic checkpoint copies the WAL into the database file inside
 * the COMMIT that takes the WAL past 1000 pages: that commit, and every
 * webhook sender waiting for it, waits for the copy and its fsyncs (several
 * times a second under webhook load; moving it out took the commits' p99
 * from about 2 ms to 1.2 ms, bench/README.md). ferry turns it off and
 * checkpoints so:
 *  - once CKPT_SOFT_PAGES pages were written since the last copy, a commit
 *    wakes the file's checkpointer: a thread with its own connection that
 *    copies while the writers go on (PASSIVE: it never waits for a reader or
 *    a writer, nor makes one wait);
 *  - the WAL starts again from its beginning only when a write begins with
 *    every frame copied, which a copy running beside continuous writes never
 *    achieves; so once the WAL holds CKPT_HARD_PAGES the committing handle
 *    copies what is left itself, as SQLite would, after its commit. The
 *    checkpointer has copied most of it by then.
 * The WAL therefore stays under about CKPT_HARD_PAGES pages (64 MB of 4 KB pages).
 * One checkpointer per file and process, started at the first copy wanted,
 * stopped when the last handle on the file closes.
 */
#define CKPT_SOFT_PAGES 1000
#define CKPT_HARD_PAGES 16000

struct fr__sqlite_checkpointer {
    struct fr__sqlite_checkpointer *next; /* under registry_lock */
    unsigned users;                       /* under registry_lock: handles open on path */
    char *path;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the thread's: wanted, held or stopping changed */
    pthread_cond_t done; /* a writer's: copying fell */
    pthread_t thread;
    bool started;  /* under lock */
    bool wanted;   /* under lock: a copy is asked for */
    bool copying;  /* under lock: the thread copies now */
    unsigned held; /* under lock: writers copying themselves; the thread waits for them */
    bool stopping; /* under lock */
    int copied;    /* under lock: the WAL's frames already copied, after the last copy */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fr__sqlite_checkpointer *registry;

static void *checkpointer_main(void *arg)
{
    struct fr__sqlite_checkpointer *c = arg;
    sqlite3 *db = NULL;
    pthread_setname_np(pthread_self(), "ferry-wal-copy");
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while ((!c->wanted || c->held) && !c->stopping)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stopping)
            break;
        c->wanted = false;
        c->copying = true;
        pthread_mutex_unlock(&c->lock);
        /* A failure here costs nothing but the copy: the committing handles
         * still copy past CKPT_HARD_PAGES, and the next wake tries again. */
        /* a read first: a connection knows the file is in WAL mode once it has read it */
        if (!db && (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                    NULL) != SQLITE_OK ||
                    sqlite3_exec(db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK)) {
            sqlite3_close(db);
            db = NULL;
        }
        int frames = 0, copied = 0;
        if (db && sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames,
                                            &copied) != SQLITE_OK)
            copied = 0;
        pthread_mutex_lock(&c->lock);
        c->copied = copied;
        c->copying = false;
        pthread_cond_broadcast(&c->done);
    }
    pthread_mutex_unlock(&c->lock);
    sqlite3_close(db);
    return NULL;
}

/* The checkpointer of path, made if the process has none (NULL for :memory:). */
struct fr__sqlite_checkpointer *fr__sqlite_checkpointer_get(const char *path)
{
    if (!path[0] || strcmp(path, ":memory:") == 0)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    struct fr__sqlite_checkpointer *c = registry;
    while (c && strcmp(c->path, path) != 0)
        c = c->next;
    if (!c) {
        c = fr_calloc(1, sizeof(*c));
        c->path = fr_strdup(path);
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->wake, NULL);
        pthread_cond_init(&c->done, NULL);
        c->next = registry;
        registry = c;
    }
    c->users++;
    pthread_mutex_unlock(&registry_lock);
    return c;
}

void fr__sqlite_checkpointer_put(struct fr__sqlite_checkpointer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&registry_lock);
    bool last = --c->users == 0;
    if (last) {
        struct fr__sqlite_checkpointer **pp = &registry;
        while (*pp != c)
            pp = &(*pp)->next;
        *pp = c->next;
    }
    pthread_mutex_unlock(&registry_lock);
    if (!last)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    bool started = c->started;
    pthread_mutex_unlock(&c->lock);
    if (started)
        pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->done);
    pthread_mutex_destroy(&c->lock);
    free(c->path);
    free(c);
}

/* sqlite3_wal_hook: after each commit of the handle, with the WAL's size in frames. */
int fr__sqlite_checkpointer_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct fr__sqlite_checkpointer *c = arg;
    pthread_mutex_lock(&c->lock);
    if (frames >= CKPT_HARD_PAGES) {
        /* Two checkpoints cannot run at once (the second gets SQLITE_BUSY at
         * once, whatever its mode), and under continuous writes the thread
         * always has more to copy: hold it back and wait for its copy to end. */
        c->held++;
        while (c->copying)
            pthread_cond_wait(&c->done, &c->lock);
        pthread_mutex_unlock(&c->lock);
        /* SQLITE_BUSY only if another process checkpoints: the next commit tries again */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
        c->held--;
        c->copied = 0;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        return SQLITE_OK;
    }
    if (frames < c->copied) /* the WAL started again */
        c->copied = 0;
    if (frames - c->copied >= CKPT_SOFT_PAGES && !c->wanted && !c->stopping) {
        if (!c->started)
            c->started = pthread_create(&c->thread, NULL, checkpointer_main, c) == 0;
        c->wanted = c->started;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}
