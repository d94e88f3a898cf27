/*
 * pgtest.h: the PostgreSQL cluster the tests share, found through the
 * environment that scripts/pg-test-cluster sets (`make test` runs every
 * test under it):
 *
 *   FERRY_TEST_PG_URL      the cluster's URL ("skip": skip PostgreSQL cases)
 *   FERRY_TEST_PG_CLUSTER  the script, for tests that start a cluster of their own
 *   FERRY_TEST_PG_TMP      where such clusters go (the script removes them)
 *
 * Unset, a PostgreSQL case fails: a CI run must never pass by skipping
 * them. A developer without a server sets FERRY_TEST_PG_URL=skip.
 */
#ifndef FR_TESTS_PGTEST_H
#define FR_TESTS_PGTEST_H

#include <stdbool.h>

/* True when FERRY_TEST_PG_URL is "skip". */
bool fr_pgtest_skipped(void);

/*
 * A URL of a new, empty database in the shared cluster; the caller frees
 * it. NULL with *why set (a static message) when there is no cluster.
 */
char *fr_pgtest_db_new(const char **why);

/* Drops the database of url (made by fr_pgtest_db_new), disconnecting its sessions. */
void fr_pgtest_db_drop(const char *url);

/*
 * A cluster of the test's own, in a new directory under FERRY_TEST_PG_TMP:
 * *url gets its URL, *dir its directory (both the caller's to free).
 * Returns 0, or -1 with *why set.
 */
int fr_pgtest_cluster_start(char **url, char **dir, const char **why);
/* Stops it immediately (like a crash) and starts it again on the same port. */
int fr_pgtest_cluster_restart(const char *dir);
/* Stops it immediately and leaves it down; _up starts it again on the same port. */
int fr_pgtest_cluster_down(const char *dir);
int fr_pgtest_cluster_up(const char *dir);
/* Stops it and removes its directory. */
void fr_pgtest_cluster_stop(const char *dir);

#endif
