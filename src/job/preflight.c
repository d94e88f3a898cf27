#include "core/common.h"
#include "job/preflight.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/schema.h"
#include "job/source.h"
#include "job/job_conf.h"

/* One preflight: the job and how messages name the config. Borrowed. */
struct preflight {
    const struct fr_job_conf *job;
    const char *file; /* the config file, as named */
    const char *dir;  /* its directory, the base of relative paths */
    struct fr_err *err;
};

/* path as the config file writes it: without the config's directory in front. */
static const char *shown(const struct preflight *p, const char *path)
{
    size_t n = strlen(p->dir);
    if (n && strncmp(path, p->dir, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

/*
 * Another module's message about the file at path, with the path (resolved)
 * written as the config file writes it. Caller frees.
 */
static char *as_written(const struct preflight *p, const char *msg, const char *path)
{
    const char *at = strstr(msg, path);
    if (!at || shown(p, path) == path)
        return fr_strdup(msg);
    return fr_asprintf("%.*s%s%s", (int)(at - msg), msg, shown(p, path), at + strlen(path));
}

/* "FILE:LINE:COL: jobs.NAME.KEY: what" as code; returns code. */
static FR_PRINTF(6, 7) int fail(const struct preflight *p, int code, long native, const char *key,
                                struct fr_conf_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = fr_vasprintf(fmt, ap);
    va_end(ap);
    if (pos.line > 0)
        fr_err_set(p->err, code, native, "%s:%d:%d: jobs.%s.%s: %s", p->file, pos.line, pos.col,
                   p->job->name, key, what);
    else
        fr_err_set(p->err, code, native, "%s: jobs.%s.%s: %s", p->file, p->job->name, key, what);
    free(what);
    return code;
}

/* The file at path opens for reading and is not a directory (a FIFO is not waited on). */
static int check_readable(const struct preflight *p, const char *key, struct fr_conf_pos pos,
                          const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int e = 0;
    struct stat st;
    if (fd < 0)
        e = errno;
    else if (fstat(fd, &st) != 0)
        e = errno;
    else if (S_ISDIR(st.st_mode))
        e = EISDIR;
    if (fd >= 0)
        close(fd);
    if (e)
        return fail(p, FR_EIO, e, key, pos, "cannot open %s: %s", shown(p, path), strerror(e));
    return 0;
}

/* The directory part of path ("." when it has none). Caller frees. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return fr_strdup(".");
    if (slash == path)
        return fr_strdup("/");
    return fr_strndup(path, (size_t)(slash - path));
}

/*
 * A file the run will create or replace at path: its directory exists and
 * files can be created in it; path is not a directory; an existing file
 * that is opened in place (a sqlite database: in_place) is read-write.
 */
static int check_writable(const struct preflight *p, const char *key, struct fr_conf_pos pos,
                          const char *path, bool in_place)
{
    char *dir = dir_of(path);
    struct stat st;
    int e = 0;
    if (stat(dir, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    else if (access(dir, W_OK | X_OK) != 0)
        e = errno;
    if (e) {
        int rc = fail(p, FR_EIO, e, key, pos, "cannot write %s: directory %s: %s%s", shown(p, path),
                      shown(p, dir), strerror(e), e == ENOENT ? " (create it first)" : "");
        free(dir);
        return rc;
    }
    free(dir);
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            e = EISDIR;
        else if (in_place && access(path, R_OK | W_OK) != 0)
            e = errno;
    }
    if (e)
        return fail(p, FR_EIO, e, key, pos, "cannot write %s: %s", shown(p, path), strerror(e));
    return 0;
}

/* The source opens as the run opens it (header read, query prepared), and is closed again. */
static int check_source(const struct preflight *p)
{
    const struct fr_source_conf *conf = &p->job->source;
    int rc = check_readable(p, "source.path", conf->path_pos, conf->path);
    if (rc)
        return rc;
    struct fr_source *src = NULL;
    struct fr_err e = {0};
    rc = fr_source_open(conf, &src, &e);
    fr_source_close(src);
    if (!rc)
        return 0;
    /* The source's message names the file and what is wrong in it. */
    char *msg = as_written(p, e.msg, conf->path);
    if (rc == FR_ECONFIG && conf->type == FR_SOURCE_SQLITE)
        fail(p, rc, e.native, "source.query", conf->query_pos, "%s", msg);
    else
        fail(p, rc, e.native, "source.path", conf->path_pos, "%s", msg);
    free(msg);
    return rc;
}

static int check_pull(const struct preflight *p)
{
    const struct fr_pull_conf *pl = &p->job->pull;
    int rc = 0;
    if (pl->schema && !(rc = check_readable(p, "schema", pl->schema_pos, pl->schema))) {
        struct fr_schema *schema = NULL;
        struct fr_err e = {0};
        rc = fr_schema_load(pl->schema, &schema, &e);
        fr_schema_free(schema);
        if (rc) {
            char *msg = as_written(p, e.msg, pl->schema);
            fail(p, rc, e.native, "schema", pl->schema_pos, "%s", msg);
            free(msg);
            return rc;
        }
    }
    if (!rc)
        rc = check_writable(p, "sink.path", pl->sink.path_pos, pl->sink.path,
                            pl->sink.type == FR_SINK_SQLITE);
    if (!rc && pl->rejects)
        rc = check_writable(p, "rejects", pl->rejects_pos, pl->rejects, false);
    return rc;
}

int fr_preflight_job(const struct fr_job_conf *job, const char *config_file, const char *config_dir,
                     struct fr_err *err)
{
    struct preflight p = {.job = job, .file = config_file, .dir = config_dir, .err = err};
    return job->kind == FR_JOB_PULL ? check_pull(&p) : check_source(&p);
}
