#include "core/common.h"
#include "job/source.h"

#include <csv.h>
#include <errno.h>
#include <sys/stat.h>

#include "job/source_int.h"
#include "job/job_conf.h"

/*
 * The file is read FR__SOURCE_CHUNK bytes at a time and handed to libcsv one
 * line at a time, so that the rows it completes in one call are few (the
 * queue stays small) and each row's first line is known: libcsv itself
 * does not report positions.
 */

struct csv_row {
    uint64_t line;
    size_t n;
    char **v;
    size_t *len;
};

struct csv_src {
    char *path;
    FILE *fp;
    int64_t size;
    int64_t consumed;
    struct csv_parser parser;
    char *chunk;
    size_t chunk_len, chunk_pos;
    bool first_chunk, read_eof, finished;
    int fatal;      /* the error that stopped the source, 0 while fine */
    uint64_t line;  /* line of the next byte to parse */
    bool in_record; /* libcsv has started a record not yet ended */
    uint64_t record_line;
    struct csv_row cur; /* the record being assembled */
    size_t cur_cap, cur_bytes;
    struct csv_row *queue; /* completed rows, queue[head..count) */
    size_t head, count, queue_cap;
    char **header;
    size_t nheader;
    json_t *rec; /* the record object, reused while no caller holds it */
};

static void row_free(struct csv_row *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i]);
    free(r->v);
    free(r->len);
    memset(r, 0, sizeof(*r));
}

static void on_field(void *s, size_t len, void *data)
{
    struct csv_src *c = data;
    if (!c->in_record) {
        c->in_record = true;
        c->record_line = c->line;
    }
    size_t had = c->cur_cap;
    FR_ALLOC_GROW(c->cur.v, c->cur.n + 1, c->cur_cap);
    if (c->cur_cap != had) /* len runs beside v */
        c->cur.len = fr_reallocarray(c->cur.len, c->cur_cap, sizeof(*c->cur.len));
    char *v = fr_malloc(len + 1);
    if (len)
        memcpy(v, s, len);
    v[len] = '\0';
    c->cur.v[c->cur.n] = v;
    c->cur.len[c->cur.n] = len;
    c->cur.n++;
    c->cur_bytes += len;
}

static void on_row(int term, void *data)
{
    struct csv_src *c = data;
    FR_ALLOC_GROW(c->queue, c->count + 1, c->queue_cap);
    c->cur.line = c->record_line;
    c->queue[c->count++] = c->cur;
    memset(&c->cur, 0, sizeof(c->cur));
    c->cur_cap = c->cur_bytes = 0;
    c->in_record = false;
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static int fail(struct csv_src *c, int code, long native, struct fr_err *err, const char *what)
{
    c->fatal = code;
    return fr_err_set(err, code, native, "%s:%llu: %s", c->path, (unsigned long long)c->line, what);
}

static int read_chunk(struct csv_src *c, struct fr_err *err)
{
    size_t n = fread(c->chunk, 1, FR__SOURCE_CHUNK, c->fp);
    if (n == 0) {
        if (ferror(c->fp))
            return fail(c, FR_EIO, errno, err, "read failed");
        c->read_eof = true;
        return 0;
    }
    c->chunk_len = n;
    c->chunk_pos = 0;
    if (c->first_chunk && n >= 3 && memcmp(c->chunk, "\xEF\xBB\xBF", 3) == 0) {
        c->chunk_pos = 3; /* a UTF-8 byte order mark, as spreadsheet exports write */
        c->consumed += 3;
    }
    c->first_chunk = false;
    return 0;
}

/* Feeds libcsv one more line (or the end of the file); rows land in the queue. */
static int pump(struct csv_src *c, struct fr_err *err)
{
    if (c->chunk_pos == c->chunk_len) {
        if (!c->read_eof) {
            int rc = read_chunk(c, err);
            if (rc || !c->read_eof)
                return rc;
        }
        /* libcsv reports an unclosed quote at the end only in strict mode. */
        csv_set_opts(&c->parser, (unsigned char)(csv_get_opts(&c->parser) | CSV_STRICT));
        if (csv_fini(&c->parser, on_field, on_row, c) != 0)
            return fail(c, FR_EPARSE, 0, err, "a quoted field is not closed");
        c->finished = true;
        return 0;
    }
    const char *seg = c->chunk + c->chunk_pos;
    size_t left = c->chunk_len - c->chunk_pos;
    const char *nl = memchr(seg, '\n', left);
    size_t len = nl ? (size_t)(nl - seg) + 1 : left;
    if (!c->in_record && !blank(seg, len)) {
        c->in_record = true;
        c->record_line = c->line;
    }
    if (csv_parse(&c->parser, seg, len, on_field, on_row, c) != len)
        return fail(c, FR_EPARSE, csv_error(&c->parser), err, csv_strerror(csv_error(&c->parser)));
    c->chunk_pos += len;
    c->consumed += (int64_t)len;
    if (nl)
        c->line++;
    /* libcsv grows its field buffer by blk_size at a time: keep that geometric */
    csv_set_blk_size(&c->parser, FR_MAX(c->parser.entry_size, (size_t)4096));
    if (c->parser.entry_pos + c->cur_bytes > FR__SOURCE_MAX_LINE)
        return fail(c, FR_ETOOBIG, 0, err, "a record is larger than 16 MB (an unclosed quote?)");
    return 0;
}

/* Waits for a row in the queue; false at the end of the file. */
static int pop(struct csv_src *c, struct csv_row *row, bool *got, struct fr_err *err)
{
    *got = false;
    if (c->fatal)
        return c->fatal;
    while (c->head == c->count) {
        c->head = c->count = 0;
        if (c->finished)
            return 0;
        int rc = pump(c, err);
        if (rc)
            return rc;
    }
    *row = c->queue[c->head++];
    *got = true;
    return 0;
}

static void csv_close(void *impl)
{
    struct csv_src *c = impl;
    if (!c)
        return;
    for (size_t i = c->head; i < c->count; i++)
        row_free(&c->queue[i]);
    free(c->queue);
    row_free(&c->cur);
    for (size_t i = 0; i < c->nheader; i++)
        free(c->header[i]);
    free(c->header);
    json_decref(c->rec);
    csv_free(&c->parser);
    if (c->fp)
        fclose(c->fp);
    free(c->chunk);
    free(c->path);
    free(c);
}

static int take_header(struct csv_src *c, struct fr_err *err)
{
    struct csv_row row;
    bool got;
    int rc = pop(c, &row, &got, err);
    if (rc)
        return rc;
    if (!got)
        return fr_err_set(err, FR_EPARSE, 0, "%s: no header row (the file is empty)", c->path);
    for (size_t i = 0; i < row.n && !rc; i++) {
        json_t *probe = json_stringn(row.v[i], row.len[i]);
        if (!probe || strlen(row.v[i]) != row.len[i])
            rc = fr_err_set(err, FR_EPARSE, 0,
                            "%s:%llu: column %zu of the header is not valid UTF-8", c->path,
                            (unsigned long long)row.line, i + 1);
        json_decref(probe);
        for (size_t j = 0; j < i && !rc; j++)
            if (strcmp(row.v[i], row.v[j]) == 0)
                rc = fr_err_set(
                    err, FR_EPARSE, 0,
                    "%s:%llu: the header names column \"%s\" twice (columns %zu and %zu)", c->path,
                    (unsigned long long)row.line, row.v[i], j + 1, i + 1);
    }
    if (rc) {
        row_free(&row);
        return rc;
    }
    c->header = row.v;
    c->nheader = row.n;
    free(row.len);
    return 0;
}

static int csv_open(const struct fr_source_conf *conf, void **impl, struct fr_err *err)
{
    FILE *fp = fopen(conf->path, "rb");
    if (!fp)
        return fr_err_set(err, FR_EIO, errno, "cannot open %s: %s", conf->path, strerror(errno));
    struct csv_src *c = fr_calloc(1, sizeof(*c));
    c->path = fr_strdup(conf->path);
    c->fp = fp;
    struct stat st;
    c->size = fstat(fileno(fp), &st) == 0 ? (int64_t)st.st_size : -1;
    c->chunk = fr_malloc(FR__SOURCE_CHUNK);
    c->first_chunk = true;
    c->line = 1;
    /* Not CSV_STRICT: real exports have stray quotes inside unquoted fields. */
    if (csv_init(&c->parser, CSV_APPEND_NULL | CSV_STRICT_FINI) != 0) {
        csv_close(c);
        return fr_err_set(err, FR_EINTERNAL, 0, "%s: cannot start the CSV parser", conf->path);
    }
    int rc = take_header(c, err);
    if (rc) {
        csv_close(c);
        return rc;
    }
    *impl = c;
    return 0;
}

static int csv_next(void *impl, struct fr_record *rec, bool *eof, struct fr_err *err)
{
    struct csv_src *c = impl;
    struct csv_row row;
    bool got;
    int rc = pop(c, &row, &got, err);
    if (rc || !got) {
        *eof = !rc;
        return rc;
    }
    rec->line = row.line;
    if (row.n != c->nheader) {
        fr__record_fail(rec, "line", row.line, "%zu field%s, the header has %zu", row.n,
                        row.n == 1 ? "" : "s", c->nheader);
        row_free(&row);
        return 0;
    }
    /*
     * One object serves every row: its values are set in place, which saves
     * the allocations of an object, its table and every value per row. A
     * caller still holding the previous record gets a new object instead.
     */
    if (c->rec && c->rec->refcount > 1) {
        json_decref(c->rec);
        c->rec = NULL;
    }
    if (!c->rec) {
        c->rec = json_object();
        for (size_t i = 0; i < c->nheader; i++)
            json_object_set_new_nocheck(c->rec, c->header[i], json_string(""));
    }
    for (size_t i = 0; i < row.n; i++) {
        if (json_string_setn(json_object_get(c->rec, c->header[i]), row.v[i], row.len[i])) {
            fr__record_fail(rec, "line", row.line, "column \"%s\" is not valid UTF-8",
                            c->header[i]);
            break;
        }
    }
    if (!rec->error)
        rec->fields = json_incref(c->rec);
    row_free(&row);
    return 0;
}

static void csv_progress(const void *impl, int64_t *done, int64_t *total)
{
    const struct csv_src *c = impl;
    *done = c->consumed;
    *total = c->size;
}

const struct fr__source_ops fr__source_csv_ops = {
    .name = "csv",
    .open = csv_open,
    .next = csv_next,
    .progress = csv_progress,
    .close = csv_close,
};
