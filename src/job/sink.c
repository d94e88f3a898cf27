#include "core/common.h"
#include "job/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <unistd.h>

#include "core/jsonptr.h"
#include "job/sink_int.h"
#include "job/job_conf.h"

/* Records are small and many: a large stdio buffer makes one write(2) per many of them. */
#define FILE_BUFFER (256 * 1024)

struct fr_sink {
    const struct fr__sink_ops *ops;
    void *impl;
};

static const struct fr__sink_ops *const sink_ops[] = {
    [FR_SINK_JSONL] = &fr__sink_jsonl_ops,
    [FR_SINK_CSV] = &fr__sink_csv_ops,
    [FR_SINK_SQLITE] = &fr__sink_sqlite_ops,
};

int fr_sink_open(const struct fr_sink_conf *conf, int64_t now_ms, struct fr_sink **out,
                 struct fr_err *err)
{
    *out = NULL;
    if ((size_t)conf->type >= FR_ARRAY_LEN(sink_ops))
        return fr_err_set(err, FR_EINVAL, 0, "unknown sink type %d", (int)conf->type);
    struct fr_sink *s = fr_calloc(1, sizeof(*s));
    s->ops = sink_ops[conf->type];
    int rc = s->ops->open(conf, now_ms, &s->impl, err);
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int fr_sink_write(struct fr_sink *s, json_t *record, const char *key, struct fr_err *err)
{
    return s->ops->write(s->impl, record, key, err);
}

int fr_sink_commit(struct fr_sink *s, struct fr_err *err)
{
    return s->ops->commit(s->impl, err);
}

void fr_sink_free(struct fr_sink *s)
{
    if (!s)
        return;
    s->ops->close(s->impl);
    free(s);
}

json_t *fr_sink_field(json_t *record, const char *field)
{
    if (field[0] == '/')
        return fr_json_pointer(record, field);
    return json_object_get(record, field);
}

/* ---- files written beside their path ----------------------------------------------- */

int fr__sink_file_open(struct fr__sink_file *sf, const char *path, struct fr_err *err)
{
    memset(sf, 0, sizeof(*sf));
    sf->path = (char *)path;
    sf->tmp = fr_asprintf("%s.tmp", path);
    /* Whatever is at the temporary name (a killed run's file, or a link planted to make
     * ferry write elsewhere) is removed, not followed: the new file is created here, fresh
     * (O_EXCL also refuses a link put back in between). */
    if (unlink(sf->tmp) != 0 && errno != ENOENT) {
        int e = errno;
        fr_err_set(err, FR_EIO, e, "sink %s: cannot remove the leftover %s: %s", path, sf->tmp,
                   strerror(e));
        free(sf->tmp);
        sf->tmp = NULL;
        return FR_EIO;
    }
    int fd = open(sf->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    sf->f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!sf->f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        fr_err_set(err, FR_EIO, e, "sink %s: cannot create %s: %s%s", path, sf->tmp, strerror(e),
                   e == ENOENT ? " (create its directory first)" : "");
        free(sf->tmp);
        sf->tmp = NULL;
        return FR_EIO;
    }
    sf->buf = fr_malloc(FILE_BUFFER);
    setvbuf(sf->f, sf->buf, _IOFBF, FILE_BUFFER);
    return 0;
}

int fr__sink_file_check(struct fr__sink_file *sf, struct fr_err *err)
{
    if (!ferror(sf->f))
        return 0;
    return fr_err_set(err, FR_EIO, errno, "sink %s: writing %s failed: %s", sf->path, sf->tmp,
                      strerror(errno));
}

/* fsync of the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path)
{
    char *copy = fr_strdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int fr__sink_file_commit(struct fr__sink_file *sf, struct fr_err *err)
{
    FR_ASSERT(sf->f && !sf->committed);
    int e = 0;
    if (fflush(sf->f) != 0 || ferror(sf->f))
        e = errno ? errno : EIO;
    else if (fsync(fileno(sf->f)) != 0)
        e = errno;
    if (fclose(sf->f) != 0 && !e)
        e = errno;
    sf->f = NULL;
    if (e)
        return fr_err_set(err, FR_EIO, e, "sink %s: writing %s failed: %s", sf->path, sf->tmp,
                          strerror(e));
    if (rename(sf->tmp, sf->path) != 0) {
        e = errno;
        return fr_err_set(err, FR_EIO, e, "sink %s: cannot rename %s over it: %s", sf->path,
                          sf->tmp, strerror(e));
    }
    sf->committed = true;
    sync_dir(sf->path);
    return 0;
}

void fr__sink_file_release(struct fr__sink_file *sf)
{
    if (sf->f)
        fclose(sf->f);
    if (sf->tmp && !sf->committed)
        unlink(sf->tmp);
    free(sf->tmp);
    free(sf->buf);
    memset(sf, 0, sizeof(*sf));
}
