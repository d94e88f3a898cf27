/*
 * sqlite_checkpoint.h: the WAL checkpointer of the SQLite backend
 * (sqlite_checkpoint.c). Only store_sqlite.c includes it.
 *
 * A handle on a database file takes the file's checkpointer and installs
 * its hook on its connection in place of SQLite's automatic checkpoints:
 * after each commit the hook wakes the checkpointer's thread, which copies
 * the WAL into the database file with a connection of its own while the
 * writers go on; past a hard limit the committing handle copies the rest
 * itself. One checkpointer per file and process; its thread starts at the
 * first copy wanted and stops when the last handle on the file lets go.
 *
 * Threads: get and put may be called from any thread. The hook runs on
 * the thread committing on the handle's connection, and may wait there
 * for the thread's copy in progress to end. The last put stops the thread
 * and joins it, so it may wait for one copy.
 */
#ifndef FR_STORE_SQLITE_CHECKPOINT_H
#define FR_STORE_SQLITE_CHECKPOINT_H

#include "core/common.h"

#include <sqlite3.h>

struct fr__sqlite_checkpointer;

/*
 * The checkpointer of the database file at path (as the handle opened it),
 * made if the process has none; NULL for ":memory:" or "" (no file to
 * copy into). Each non-NULL result is given back once with
 * fr__sqlite_checkpointer_put, after the handle's connection is closed.
 */
struct fr__sqlite_checkpointer *fr__sqlite_checkpointer_get(const char *path);

/* Lets go of c; the last user stops its thread and frees it. NULL is a no-op. */
void fr__sqlite_checkpointer_put(struct fr__sqlite_checkpointer *c);

/*
 * The sqlite3_wal_hook of every connection on c's file, arg being c: after
 * each commit, with the WAL's size in frames. Always SQLITE_OK.
 */
int fr__sqlite_checkpointer_wal_hook(void *arg, sqlite3 *db, const char *name, int frames);

#endif
