#include "core/common.h"
#include "job/source.h"

#include <errno.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "job/source_int.h"
#include "job/job_conf.h"

struct jsonl_src {
    char *path;
    FILE *fp;
    int64_t size;
    int64_t consumed;
    char *chunk;
    size_t chunk_len, chunk_pos;
    bool first_chunk, read_eof;
    int fatal;
    uint64_t line;      /* number of the next line to start */
    struct fr_buf text; /* the line being read, capped at FR__SOURCE_MAX_LINE */
    bool too_long;      /* the line passed the cap: the rest of it is skipped */
};

static int read_chunk(struct jsonl_src *c, struct fr_err *err)
{
    size_t n = fread(c->chunk, 1, FR__SOURCE_CHUNK, c->fp);
    if (n == 0) {
        if (ferror(c->fp)) {
            c->fatal = FR_EIO;
            return fr_err_set(err, FR_EIO, errno, "%s:%llu: read failed", c->path,
                              (unsigned long long)c->line);
        }
        c->read_eof = true;
        return 0;
    }
    c->chunk_len = n;
    c->chunk_pos = 0;
    if (c->first_chunk && n >= 3 && memcmp(c->chunk, "\xEF\xBB\xBF", 3) == 0) {
        c->chunk_pos = 3;
        c->consumed += 3;
    }
    c->first_chunk = false;
    return 0;
}

/* The next whole line into c->text (without its newline); *got false at the end. */
static int read_line(struct jsonl_src *c, bool *got, struct fr_err *err)
{
    fr_buf_reset(&c->text);
    c->too_long = false;
    bool any = false;
    for (;;) {
        if (c->chunk_pos == c->chunk_len) {
            if (!c->read_eof) {
                int rc = read_chunk(c, err);
                if (rc)
                    return rc;
                continue;
            }
            *got = any;
            return 0;
        }
        any = true;
        const char *seg = c->chunk + c->chunk_pos;
        size_t left = c->chunk_len - c->chunk_pos;
        const char *nl = memchr(seg, '\n', left);
        size_t len = nl ? (size_t)(nl - seg) : left;
        if (!c->too_long && fr_buf_add(&c->text, seg, len) != 0)
            c->too_long = true;
        size_t used = nl ? len + 1 : len;
        c->chunk_pos += used;
        c->consumed += (int64_t)used;
        if (nl) {
            *got = true;
            return 0;
        }
    }
}

static const char *json_kind(const json_t *v)
{
    static const char *const kinds[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "a number", [JSON_REAL] = "a number",  [JSON_TRUE] = "true",
        [JSON_FALSE] = "false",      [JSON_NULL] = "null",
    };
    return kinds[json_typeof(v)];
}

static int jsonl_next(void *impl, struct fr_record *rec, bool *eof, struct fr_err *err)
{
    struct jsonl_src *c = impl;
    if (c->fatal)
        return c->fatal;
    for (;;) {
        bool got = false;
        int rc = read_line(c, &got, err);
        if (rc)
            return rc;
        if (!got) {
            *eof = true;
            return 0;
        }
        uint64_t line = c->line++;
        rec->line = line;
        if (c->too_long) {
            fr__record_fail(rec, "line", line, "longer than %zu MB", FR__SOURCE_MAX_LINE >> 20);
            return 0;
        }
        const char *s = fr_buf_str(&c->text);
        size_t len = c->text.len;
        while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        size_t start = 0;
        while (start < len && (s[start] == ' ' || s[start] == '\t'))
            start++;
        if (start == len)
            continue; /* a blank line */
        json_error_t jerr;
        json_t *v =
            json_loadb(s + start, len - start, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!v) {
            fr__record_fail(rec, "line", line, "%s", jerr.text);
            return 0;
        }
        if (!json_is_object(v)) {
            fr__record_fail(rec, "line", line, "%s, not a JSON object", json_kind(v));
            json_decref(v);
            return 0;
        }
        rec->fields = v;
        return 0;
    }
}

static void jsonl_close(void *impl)
{
    struct jsonl_src *c = impl;
    if (!c)
        return;
    if (c->fp)
        fclose(c->fp);
    fr_buf_release(&c->text);
    free(c->chunk);
    free(c->path);
    free(c);
}

static int jsonl_open(const struct fr_source_conf *conf, void **impl, struct fr_err *err)
{
    FILE *fp = fopen(conf->path, "rb");
    if (!fp)
        return fr_err_set(err, FR_EIO, errno, "cannot open %s: %s", conf->path, strerror(errno));
    struct jsonl_src *c = fr_calloc(1, sizeof(*c));
    c->path = fr_strdup(conf->path);
    c->fp = fp;
    struct stat st;
    c->size = fstat(fileno(fp), &st) == 0 ? (int64_t)st.st_size : -1;
    c->chunk = fr_malloc(FR__SOURCE_CHUNK);
    c->first_chunk = true;
    c->line = 1;
    fr_buf_init(&c->text, FR__SOURCE_MAX_LINE);
    *impl = c;
    return 0;
}

static void jsonl_progress(const void *impl, int64_t *done, int64_t *total)
{
    const struct jsonl_src *c = impl;
    *done = c->consumed;
    *total = c->size;
}

const struct fr__source_ops fr__source_jsonl_ops = {
    .name = "jsonl",
    .open = jsonl_open,
    .next = jsonl_next,
    .progress = jsonl_progress,
    .close = jsonl_close,
};
