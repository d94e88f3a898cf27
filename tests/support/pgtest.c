#include "core/common.h"
#include "pgtest.h"

#include <libpq-fe.h>
#include <unistd.h>

static const char *env_url(const char **why)
{
    const char *url = getenv("FERRY_TEST_PG_URL");
    if (!url || !url[0]) {
        *why = "FERRY_TEST_PG_URL is not set: run the tests through `make test` or "
               "`scripts/pg-test-cluster run -- COMMAND`, or set FERRY_TEST_PG_URL=skip to skip "
               "the PostgreSQL cases";
        return NULL;
    }
    return url;
}

bool fr_pgtest_skipped(void)
{
    const char *url = getenv("FERRY_TEST_PG_URL");
    return url && strcmp(url, "skip") == 0;
}

/* base with its database name (the path) replaced by db. */
static char *with_db(const char *base, const char *db)
{
    const char *auth = strstr(base, "://");
    auth = auth ? auth + 3 : base;
    size_t alen = strcspn(auth, "/?");
    const char *query = strchr(auth + alen, '?');
    return fr_asprintf("%.*s/%s%s", (int)(auth + alen - base), base, db, query ? query : "");
}

static int admin_exec(const char *base, const char *sql)
{
    PGconn *c = PQconnectdb(base);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *res = PQexec(c, sql);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
        PQclear(res);
    } else {
        fprintf(stderr, "pgtest: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

char *fr_pgtest_db_new(const char **why)
{
    static unsigned counter;
    const char *base = env_url(why);
    if (!base)
        return NULL;
    char db[64];
    snprintf(db, sizeof(db), "ferry_t_%ld_%u", (long)getpid(), counter++);
    char *sql = fr_asprintf("CREATE DATABASE %s", db);
    int rc = admin_exec(base, sql);
    free(sql);
    if (rc) {
        *why = "cannot create a database in the cluster of FERRY_TEST_PG_URL";
        return NULL;
    }
    return with_db(base, db);
}

void fr_pgtest_db_drop(const char *url)
{
    const char *base = getenv("FERRY_TEST_PG_URL");
    const char *slash = url ? strrchr(url, '/') : NULL;
    if (!base || !slash)
        return;
    size_t len = strcspn(slash + 1, "?");
    char *sql = fr_asprintf("DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int)len, slash + 1);
    admin_exec(base, sql);
    free(sql);
}

int fr_pgtest_cluster_start(char **url, char **dir, const char **why)
{
    const char *script = getenv("FERRY_TEST_PG_CLUSTER");
    const char *tmp = getenv("FERRY_TEST_PG_TMP");
    *url = *dir = NULL;
    if (!script || !tmp) {
        *why = "FERRY_TEST_PG_CLUSTER or FERRY_TEST_PG_TMP is not set: run the tests through "
               "`make test` or `scripts/pg-test-cluster run -- COMMAND`";
        return -1;
    }
    static unsigned counter;
    *dir = fr_asprintf("%s/own-%ld-%u", tmp, (long)getpid(), counter++);
    char *cmd = fr_asprintf("'%s' start '%s'", script, *dir);
    FILE *p = popen(cmd, "r");
    free(cmd);
    char line[256] = "";
    if (p) {
        if (!fgets(line, sizeof(line), p))
            line[0] = '\0';
        if (pclose(p) != 0)
            line[0] = '\0';
    }
    line[strcspn(line, "\n")] = '\0';
    if (!line[0]) {
        *why = "cannot start a PostgreSQL cluster of the test's own";
        free(*dir);
        *dir = NULL;
        return -1;
    }
    *url = fr_strdup(line);
    return 0;
}

static int run_script(const char *verb, const char *dir)
{
    const char *script = getenv("FERRY_TEST_PG_CLUSTER");
    if (!script || !dir)
        return -1;
    char *cmd = fr_asprintf("'%s' %s '%s'", script, verb, dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

int fr_pgtest_cluster_restart(const char *dir)
{
    return run_script("restart", dir);
}

int fr_pgtest_cluster_down(const char *dir)
{
    return run_script("down", dir);
}

int fr_pgtest_cluster_up(const char *dir)
{
    return run_script("up", dir);
}

void fr_pgtest_cluster_stop(const char *dir)
{
    run_script("stop", dir);
}
