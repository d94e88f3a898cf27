#include "core/common.h"
#include "job/sink_int.h"

#include <csv.h>

#include "core/buf.h"
#include "job/job_conf.h"

struct csv_sink {
    struct fr__sink_file file;
    const struct fr_sink_conf *conf;
};

/* One field: quoted by libcsv when it has to be, else as it is. */
static void put_field(FILE *f, const char *s, size_t len, bool first)
{
    if (!first)
        fputc(',', f);
    bool quote = len && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t');
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == '"' || s[i] == ',' || s[i] == '\n' || s[i] == '\r';
    if (quote)
        csv_fwrite(f, s, len);
    else
        fwrite(s, 1, len, f);
}

static int csv_open(const struct fr_sink_conf *conf, int64_t now_ms, void **impl,
                    struct fr_err *err)
{
    struct csv_sink *c = fr_calloc(1, sizeof(*c));
    c->conf = conf;
    int rc = fr__sink_file_open(&c->file, conf->path, err);
    if (rc) {
        free(c);
        return rc;
    }
    for (size_t i = 0; i < conf->ncolumns; i++)
        put_field(c->file.f, conf->columns[i], strlen(conf->columns[i]), i == 0);
    fputs("\r\n", c->file.f);
    *impl = c;
    return fr__sink_file_check(&c->file, err);
}

static int csv_write_record(void *impl, json_t *record, const char *key, struct fr_err *err)
{
    struct csv_sink *c = impl;
    FILE *f = c->file.f;
    for (size_t i = 0; i < c->conf->ncolumns; i++) {
        json_t *v = fr_sink_field(record, c->conf->columns[i]);
        if (!v || json_is_null(v)) {
            put_field(f, "", 0, i == 0);
        } else if (json_is_string(v)) {
            put_field(f, json_string_value(v), json_string_length(v), i == 0);
        } else {
            char *text = json_dumps(v, FR_SINK_DUMP_FLAGS | JSON_ENCODE_ANY);
            put_field(f, text ? text : "", text ? strlen(text) : 0, i == 0);
            free(text);
        }
    }
    fputs("\r\n", f);
    return fr__sink_file_check(&c->file, err);
}

static int csv_commit(void *impl, struct fr_err *err)
{
    struct csv_sink *c = impl;
    return fr__sink_file_commit(&c->file, err);
}

static void csv_close(void *impl)
{
    struct csv_sink *c = impl;
    fr__sink_file_release(&c->file);
    free(c);
}

const struct fr__sink_ops fr__sink_csv_ops = {
    "csv", csv_open, csv_write_record, csv_commit, csv_close,
};
