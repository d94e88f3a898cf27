#include "core/common.h"
#include "core/log.h"

#include <ctype.h>
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

/* A field's value as JSON; NULL when a string is not UTF-8 (the caller marks it). */
static json_t *json_value(const struct fr_log_field *f)
{
    switch (f->type) {
    case FR_LT_STR: {
        if (!f->v.s)
            return json_null();
        char *s = safe_value(f->key, f->v.s);
        json_t *v = json_string(s);
        free(s);
        return v;
    }
    case FR_LT_INT:
        return json_integer(f->v.i);
    case FR_LT_DOUBLE:
        return isfinite(f->v.d) ? json_real(f->v.d) : json_null();
    case FR_LT_BOOL:
    default:
        return json_boolean(f->v.b);
    }
}

/* Appends v as jansson encodes it (strings escaped) and releases v. */
static void add_encoded(struct fr_buf *b, json_t *v)
{
    char tmp[512];
    size_t need = json_dumpb(v, tmp, sizeof(tmp), JSON_ENCODE_ANY | JSON_COMPACT);
    if (need <= sizeof(tmp)) {
        fr_buf_add(b, tmp, need);
    } else {
        char *big = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (big)
            fr_buf_adds(b, big);
        free(big);
    }
    json_decref(v);
}

/* Appends a member name: as is when it needs no escaping (ferry's own names), else encoded. */
static void add_key(struct fr_buf *b, const char *key)
{
    const char *p = key;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-')
        p++;
    if (*p) {
        json_t *k = json_string(key);
        add_encoded(b, k ? k : json_string("(invalid UTF-8)"));
    } else {
        fr_buf_addc(b, '"');
        fr_buf_adds(b, key);
        fr_buf_addc(b, '"');
    }
    fr_buf_addc(b, ':');
}

/*
 * {"ts","level","msg",context...,fields...} on one line. A name given twice
 * keeps its first place and its last value, as in a JSON object built
 * member by member. Values are encoded by jansson; the braces, names,
 * integers and the plain-ASCII ts and level are written here.
 */
static void format_json(struct fr_buf *b, const char *ts, enum fr_log_level level, const char *msg,
                        const struct fr_log_field *fields, size_t n)
{
    struct member {
        const char *key;
        const struct fr_log_field *f; /* NULL for ts and level */
        const char *fixed;            /* ts or level, written as is */
    };
    struct member small[3 + CTX_MAX + 8];
    struct member *m = n <= 8 ? small : fr_calloc(3 + CTX_MAX + n, sizeof(*m));
    struct fr_log_field msg_field = FR_LS("msg", msg), ctx_fields[CTX_MAX];
    size_t nm = 0;
    m[nm++] = (struct member){"ts", NULL, ts};
    m[nm++] = (struct member){"level", NULL, level_names[level]};
    m[nm++] = (struct member){"msg", &msg_field, NULL};
    for (size_t i = 0; i < CTX_MAX; i++) {
        if (ctx[i].key) {
            ctx_fields[i] = FR_LS(ctx[i].key, ctx[i].value);
            m[nm++] = (struct member){ctx[i].key, &ctx_fields[i], NULL};
        }
    }
    for (size_t i = 0; i < n; i++)
        m[nm++] = (struct member){fields[i].key, &fields[i], NULL};

    fr_buf_addc(b, '{');
    for (size_t i = 0; i < nm; i++) {
        if (!m[i].key)
            continue; /* its name came earlier */
        struct member v = m[i];
        for (size_t j = i + 1; j < nm; j++) {
            if (m[j].key && strcmp(m[j].key, m[i].key) == 0) {
                v = m[j];
                m[j].key = NULL;
            }
        }
        if (i > 0)
            fr_buf_addc(b, ',');
        add_key(b, m[i].key);
        if (v.fixed) {
            fr_buf_addc(b, '"');
            fr_buf_adds(b, v.fixed);
            fr_buf_addc(b, '"');
        } else if (v.f->type == FR_LT_INT) {
            char num[24];
            int len = snprintf(num, sizeof(num), "%lld", (long long)v.f->v.i);
            fr_buf_add(b, num, (size_t)len);
        } else {
            json_t *j = json_value(v.f);
            add_encoded(b, j ? j : json_string("(invalid UTF-8)"));
        }
    }
    fr_buf_addc(b, '}');
    if (m != small)
        free(m);
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

static void format_text(struct fr_buf *b, const char *ts, enum fr_log_level level, const char *msg,
                        const struct fr_log_field *fields, size_t n)
{
    char *m = fr_redact_str(msg);
    fr_buf_addf(b, "%s %-5s %s", ts, level_names[level], m);
    free(m);
    for (size_t i = 0; i < CTX_MAX; i++) {
        if (ctx[i].key)
            add_text_field(b, &FR_LS(ctx[i].key, ctx[i].value));
    }
    for (size_t i = 0; i < n; i++)
        add_text_field(b, &fields[i]);
}

/* Appends the line for level, msg and fields to b, newline included. */
static void format_line(struct fr_buf *b, enum fr_log_level level, const char *msg,
                        const struct fr_log_field *fields, size_t n)
{
    char ts[40];
    fr_format_rfc3339(fr_wall_ms(), ts, sizeof(ts));
    if (log_format == FR_LOG_TEXT)
        format_text(b, ts, level, msg, fields, n);
    else
        format_json(b, ts, level, msg, fields, n);
    fr_buf_addc(b, '\n');
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
    struct fr_buf line = FR_BUF_INIT;
    format_line(&line, level, msg, fields, n);
    FILE *out = log_out ? log_out : stderr;
    pthread_mutex_lock(&log_lock);
    write_locked(out, line.data, line.len);
    pthread_mutex_unlock(&log_lock);
    fr_buf_release(&line);
}

/* PIPE_BUF: a write of at most this many bytes to a pipe is never split. */
#define BATCH_WRITE_MAX 4096

void fr_log_batch_add(struct fr_log_batch *b, enum fr_log_level level, const char *msg,
                      const struct fr_log_field *fields, size_t n)
{
    if (!fr_log_enabled(level))
        return;
    format_line(&b->lines, level, msg, fields, n);
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
