#include "core/common.h"
#include "core/log.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/redact.h"

#define CTX_MAX 8

static enum fr_log_format log_format = FR_LOG_JSON;
static enum fr_log_level log_min = FR_LOG_INFO;
static FILE *log_out;
static bool clear_progress_line;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

struct ctx_entry {
    char *key;
    char *value;
};
static _Thread_local struct ctx_entry ctx[CTX_MAX];

static const char *const level_names[] = {"debug", "info", "warn", "error", "critical"};

void fr_log_setup(enum fr_log_format format, enum fr_log_level min_level, FILE *out)
{
    log_format = format;
    log_min = min_level;
    log_out = out;
}

void fr_log_set_progress_line(bool on)
{
    clear_progress_line = on;
}

void fr_log_set_format(enum fr_log_format format)
{
    log_format = format;
}

void fr_log_set_level(enum fr_log_level min_level)
{
    log_min = min_level;
}

int fr_log_parse_format(const char *s, enum fr_log_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = FR_LOG_JSON;
    else if (strcmp(s, "text") == 0)
        *out = FR_LOG_TEXT;
    else
        return FR_EINVAL;
    return 0;
}

int fr_log_parse_level(const char *s, enum fr_log_level *out)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum fr_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = FR_LOG_WARN;
        return 0;
    }
    return FR_EINVAL;
}

bool fr_log_enabled(enum fr_log_level level)
{
    return level >= log_min;
}

void fr_log_ctx_set(const char *key, const char *value)
{
    struct ctx_entry *free_slot = NULL;
    for (size_t i = 0; i < CTX_MAX; i++) {
        if (ctx[i].key && strcmp(ctx[i].key, key) == 0) {
            free(ctx[i].value);
            if (value) {
                ctx[i].value = fr_strdup(value);
            } else {
                free(ctx[i].key);
                ctx[i].key = ctx[i].value = NULL;
            }
            return;
        }
        if (!ctx[i].key && !free_slot)
            free_slot = &ctx[i];
    }
    if (value && free_slot) {
        free_slot->key = fr_strdup(key);
        free_slot->value = fr_strdup(value);
    }
}

void fr_log_ctx_clear(void)
{
    for (size_t i = 0; i < CTX_MAX; i++) {
        free(ctx[i].key);
        free(ctx[i].value);
        ctx[i].key = ctx[i].value = NULL;
    }
}

/* A string value as it may be written: masked for sensitive keys, else redacted. */
static char *safe_value(const char *key, const char *value)
{
    if (fr_redact_is_sensitive_name(key, strlen(key)))
        return fr_strdup(FR_REDACTED);
    return fr_redact_str(value);
}

static void add_json_field(json_t *obj, const struct fr_log_field *f)
{
    json_t *v;
    switch (f->type) {
    case FR_LT_STR:
        if (f->v.s) {
            char *s = safe_value(f->key, f->v.s);
            v = json_string(s);
            if (!v) /* not UTF-8: keep the line, mark the value */
                v = json_string("(invalid UTF-8)");
            free(s);
        } else {
            v = json_null();
        }
        break;
    case FR_LT_INT:
        v = json_integer(f->v.i);
        break;
    case FR_LT_DOUBLE:
        v = isfinite(f->v.d) ? json_real(f->v.d) : json_null();
        break;
    case FR_LT_BOOL:
    default:
        v = json_boolean(f->v.b);
        break;
    }
    json_object_set_new(obj, f->key, v);
}

static char *format_json(const char *ts, enum fr_log_level level, const char *msg,
                         const struct fr_log_field *fields, size_t n)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "ts", json_string(ts));
    json_object_set_new(obj, "level", json_string(level_names[level]));
    char *m = fr_redact_str(msg);
    json_t *jm = json_string(m);
    json_object_set_new(obj, "msg", jm ? jm : json_string("(invalid UTF-8)"));
    free(m);
    for (size_t i = 0; i < CTX_MAX; i++) {
        if (ctx[i].key)
            add_json_field(obj, &FR_LS(ctx[i].key, ctx[i].value));
    }
    for (size_t i = 0; i < n; i++)
        add_json_field(obj, &fields[i]);
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    return line;
}

static void add_text_field(struct fr_buf *b, const struct fr_log_field *f)
{
    if (f->type == FR_LT_STR && !f->v.s)
        return; /* people need no "error=null" */
    fr_buf_addf(b, " %s=", f->key);
    switch (f->type) {
    case FR_LT_STR: {
        char *s = safe_value(f->key, f->v.s);
        if (strpbrk(s, " \t\"=") || !*s)
            fr_buf_addf(b, "\"%s\"", s);
        else
            fr_buf_adds(b, s);
        free(s);
        break;
    }
    case FR_LT_INT:
        fr_buf_addf(b, "%lld", (long long)f->v.i);
        break;
    case FR_LT_DOUBLE:
        fr_buf_addf(b, "%g", f->v.d);
        break;
    case FR_LT_BOOL:
    default:
        fr_buf_adds(b, f->v.b ? "true" : "false");
        break;
    }
}

static char *format_text(const char *ts, enum fr_log_level level, const char *msg,
                         const struct fr_log_field *fields, size_t n)
{
    struct fr_buf b = FR_BUF_INIT;
    char *m = fr_redact_str(msg);
    fr_buf_addf(&b, "%s %-5s %s", ts, level_names[level], m);
    free(m);
    for (size_t i = 0; i < CTX_MAX; i++) {
        if (ctx[i].key)
            add_text_field(&b, &FR_LS(ctx[i].key, ctx[i].value));
    }
    for (size_t i = 0; i < n; i++)
        add_text_field(&b, &fields[i]);
    return fr_buf_detach(&b, NULL);
}

/* The line for level, msg and fields, newline-terminated; NULL if it cannot be made. */
static char *format_line(enum fr_log_level level, const char *msg,
                         const struct fr_log_field *fields, size_t n, size_t *len)
{
    char ts[40];
    fr_format_rfc3339(fr_wall_ms(), ts, sizeof(ts));
    char *line = log_format == FR_LOG_TEXT ? format_text(ts, level, msg, fields, n)
                                           : format_json(ts, level, msg, fields, n);
    if (!line)
        return NULL;
    *len = strlen(line);
    line = fr_realloc(line, *len + 2);
    memcpy(line + *len, "\n", 2);
    *len += 1;
    return line;
}

/* Under log_lock: len bytes of whole lines, then flushed (stderr is unbuffered: one write(2)). */
static void write_locked(FILE *out, const char *lines, size_t len)
{
    if (clear_progress_line && out == stderr) /* the progress line is on stderr */
        fputs("\r\033[K", out);
    fwrite(lines, 1, len, out);
    fflush(out);
}

void fr_log_emit(enum fr_log_level level, const char *msg, const struct fr_log_field *fields,
                 size_t n)
{
    if (!fr_log_enabled(level))
        return;
    size_t len = 0;
    char *line = format_line(level, msg, fields, n, &len);
    if (!line)
        return;
    FILE *out = log_out ? log_out : stderr;
    pthread_mutex_lock(&log_lock);
    write_locked(out, line, len);
    pthread_mutex_unlock(&log_lock);
    free(line);
}

/* PIPE_BUF: a write of at most this many bytes to a pipe is never split. */
#define BATCH_WRITE_MAX 4096

void fr_log_batch_add(struct fr_log_batch *b, enum fr_log_level level, const char *msg,
                      const struct fr_log_field *fields, size_t n)
{
    if (!fr_log_enabled(level))
        return;
    size_t len = 0;
    char *line = format_line(level, msg, fields, n, &len);
    if (!line)
        return;
    fr_buf_add(&b->lines, line, len);
    free(line);
}

void fr_log_batch_flush(struct fr_log_batch *b)
{
    if (!b->lines.len)
        return;
    FILE *out = log_out ? log_out : stderr;
    const char *p = b->lines.data, *end = b->lines.data + b->lines.len;
    pthread_mutex_lock(&log_lock);
    while (p < end) {
        /* as many whole lines as fit in one write; a longer line goes alone */
        const char *cut = p, *nl;
        while (cut < end && (nl = memchr(cut, '\n', (size_t)(end - cut))) &&
               (cut == p || nl + 1 - p <= BATCH_WRITE_MAX))
            cut = nl + 1;
        if (cut == p) /* no newline left: cannot happen, format_line ends each line */
            cut = end;
        write_locked(out, p, (size_t)(cut - p));
        p = cut;
    }
    pthread_mutex_unlock(&log_lock);
    fr_buf_reset(&b->lines);
}

void fr_log_batch_release(struct fr_log_batch *b)
{
    fr_buf_release(&b->lines);
}
