#include "core/common.h"
#include "core/config_table.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/redact.h"

/* A secret file larger than this is certainly not a secret. */
#define SECRET_FILE_MAX (64 * 1024)

/*
 * "path: " before a message. When the last segment of the path is itself a
 * sensitive name (client_secret), "client_secret: text" would read to the
 * redactor as a header whose value is the rest of the message, so the
 * separator becomes " (secret): " which it leaves alone.
 */
static void add_path(struct fr_buf *b, const char *path)
{
    if (!path || !*path)
        return;
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    if (fr_redact_is_sensitive_name(last, strlen(last)))
        fr_buf_addf(b, "%s (secret): ", path);
    else
        fr_buf_addf(b, "%s: ", path);
}

/*
 * Values shorter than this are left as they are: "8" or "on" written back as
 * ${NAME} wherever they stand would garble messages, and hide nothing.
 */
#define ENV_VALUE_MIN 4

/* Appends msg to b with the value of every expanded ${NAME} written back as ${NAME}. */
static void add_unexpanded(const struct fr__cfg_loader *ld, struct fr_buf *b, const char *msg)
{
    const char *p = msg;
    while (*p) {
        const char *first = NULL, *name = NULL;
        size_t flen = 0;
        for (size_t i = 0; i < ld->nenv; i++) {
            const char *value = getenv(ld->env_names[i]);
            size_t vlen = value ? strlen(value) : 0;
            if (vlen < ENV_VALUE_MIN)
                continue;
            const char *at = strstr(p, value);
            if (at && (!first || at < first || (at == first && vlen > flen))) {
                first = at;
                flen = vlen;
                name = ld->env_names[i];
            }
        }
        if (!first) {
            fr_buf_adds(b, p);
            return;
        }
        fr_buf_add(b, p, (size_t)(first - p));
        fr_buf_addf(b, "${%s}", name);
        p = first + flen;
    }
}

void fr__cfg_loader_release(struct fr__cfg_loader *ld)
{
    for (size_t i = 0; i < ld->nenv; i++)
        free(ld->env_names[i]);
    free(ld->env_names);
    ld->env_names = NULL;
    ld->nenv = 0;
}

/* Remembers that var (owned) was expanded. */
static void remember_env(struct fr__cfg_loader *ld, char *var)
{
    for (size_t i = 0; i < ld->nenv; i++) {
        if (strcmp(ld->env_names[i], var) == 0) {
            free(var);
            return;
        }
    }
    ld->env_names = fr_reallocarray(ld->env_names, ld->nenv + 1, sizeof(*ld->env_names));
    ld->env_names[ld->nenv++] = var;
}

static FR_PRINTF(4, 0) char *vformat(struct fr__cfg_loader *ld, const yaml_node_t *node,
                                     const char *path, const char *fmt, va_list ap)
{
    struct fr_buf b = FR_BUF_INIT;
    if (node)
        fr_buf_addf(&b, "%s:%zu:%zu: ", ld->name, node->start_mark.line + 1,
                    node->start_mark.column + 1);
    else
        fr_buf_addf(&b, "%s: ", ld->name);
    add_path(&b, path);
    char *msg = fr_vasprintf(fmt, ap);
    add_unexpanded(ld, &b, msg);
    free(msg);
    return fr_buf_detach(&b, NULL);
}

static FR_PRINTF(4, 5) char *format(struct fr__cfg_loader *ld, const yaml_node_t *node,
                                    const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(ld, node, path, fmt, ap);
    va_end(ap);
    return msg;
}

int fr__cfg_fail(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(ld, node, path, fmt, ap);
    va_end(ap);
    fr_err_set(ld->err, FR_ECONFIG, 0, "%s", msg);
    free(msg);
    return FR_ECONFIG;
}

void fr__cfg_warn(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(ld, node, NULL, fmt, ap);
    va_end(ap);
    struct fr_config *cfg = ld->cfg;
    cfg->warnings = fr_reallocarray(cfg->warnings, cfg->nwarnings + 1, sizeof(*cfg->warnings));
    cfg->warnings[cfg->nwarnings++] = msg;
}

const char *fr__cfg_fmt_duration(int64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < FR_ARRAY_LEN(units); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, size, "%lldms", (long long)ms);
    return buf;
}

/* Optimal string alignment distance (Damerau-Levenshtein without repeated edits). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t *d = fr_calloc((n + 1) * (m + 1), sizeof(*d));
#define D(i, j) d[(i) * (m + 1) + (j)]
    for (size_t i = 0; i <= n; i++)
        D(i, 0) = i;
    for (size_t j = 0; j <= m; j++)
        D(0, j) = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = FR_MIN(D(i - 1, j) + 1, D(i, j - 1) + 1);
            v = FR_MIN(v, D(i - 1, j - 1) + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = FR_MIN(v, D(i - 2, j - 2) + 1);
            D(i, j) = v;
        }
    }
    size_t r = D(n, m);
#undef D
    free(d);
    return r;
}

const char *fr__cfg_suggest(const char *word, const char *const *candidates, size_t n)
{
    /* Close enough: at most 2 edits, or half the typed word for longer words. */
    size_t limit = FR_MAX(2, strlen(word) / 2);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(word, candidates[i]);
        if (dist < best_d) {
            best_d = dist;
            best = candidates[i];
        }
    }
    return best_d <= limit && best_d < strlen(word) ? best : NULL;
}

static bool env_name_ok(const char *s, size_t len)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            return false;
    return true;
}

int fr__cfg_expand(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                   const char *text, char **out)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    const char *p = text;
    while (*p) {
        const char *dollar = strstr(p, "${");
        if (!dollar) {
            fr_buf_adds(&b, p);
            break;
        }
        fr_buf_add(&b, p, (size_t)(dollar - p));
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close) {
            fr_buf_release(&b);
            return fr__cfg_fail(ld, node, path, "unterminated ${ (write ${NAME})");
        }
        size_t len = (size_t)(close - name);
        if (!env_name_ok(name, len)) {
            fr_buf_release(&b);
            return fr__cfg_fail(ld, node, path,
                                "invalid environment variable name \"%.*s\" (letters, digits "
                                "and _, not starting with a digit)",
                                (int)len, name);
        }
        char *var = fr_strndup(name, len);
        const char *value = getenv(var);
        if (!value) {
            int rc = fr__cfg_fail(ld, node, path, "environment variable %s is not set", var);
            free(var);
            fr_buf_release(&b);
            return rc;
        }
        remember_env(ld, var);
        fr_buf_adds(&b, value);
        p = close + 1;
    }
    *out = fr_buf_detach(&b, NULL);
    return 0;
}

void fr__cfg_free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Reads a secret file whole; trailing whitespace trimmed. */
/* shown: how messages name the file (never an expanded ${ENV}: its value may be secret). */
static int read_secret_file(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                            const char *file, const char *shown, char **out)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fr__cfg_fail(ld, node, path, "cannot read secret file \"%s\": %s", shown,
                            strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fr__cfg_fail(ld, node, path, "secret file \"%s\" is not a regular file", shown);
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
        fr__cfg_warn(ld, node,
                     "secret file \"%s\" is readable by group or others; run chmod 600 on it",
                     shown);
    char *data = fr_malloc(SECRET_FILE_MAX + 1);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, data + len, SECRET_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(data);
            return fr__cfg_fail(ld, node, path, "cannot read secret file \"%s\": %s", shown,
                                strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > SECRET_FILE_MAX) {
            close(fd);
            explicit_bzero(data, len);
            free(data);
            return fr__cfg_fail(ld, node, path, "secret file \"%s\" is larger than %d bytes", shown,
                                SECRET_FILE_MAX);
        }
    }
    close(fd);
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        len--;
    data[len] = '\0';
    *out = data;
    return 0;
}

/*
 * The name of the first ${NAME} in text whose variable is unset (the caller
 * frees), or NULL when all are set or one is malformed (fr__cfg_expand then
 * says how).
 */
static char *first_unset(const char *text)
{
    char *unset = NULL;
    for (const char *p = strstr(text, "${"); p; p = strstr(p, "${")) {
        const char *name = p + 2;
        const char *close = strchr(name, '}');
        if (!close || !env_name_ok(name, (size_t)(close - name))) {
            free(unset);
            return NULL;
        }
        if (!unset) {
            char *var = fr_strndup(name, (size_t)(close - name));
            if (getenv(var))
                free(var);
            else
                unset = var;
        }
        p = close + 1;
    }
    return unset;
}

/* Keeps the secret at path, whose variable var (owned) is unset, for a command that needs it. */
static void defer_secret(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                         char *var)
{
    struct fr_config *cfg = ld->cfg;
    cfg->missing_secrets = fr_reallocarray(cfg->missing_secrets, cfg->nmissing_secrets + 1,
                                           sizeof(*cfg->missing_secrets));
    struct fr_missing_secret *m = &cfg->missing_secrets[cfg->nmissing_secrets++];
    m->key = fr_strdup(path);
    m->var = var;
    m->pos = fr__cfg_pos(node);
    m->msg = format(ld, node, path, "environment variable %s is not set", var);
}

int fr__cfg_secret(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path, char **out)
{
    const char *raw = fr__cfg_text(node);
    char *value = NULL;
    int rc;
    char *unset = first_unset(raw);
    if (unset) {
        defer_secret(ld, node, path, unset);
        *out = NULL;
        return 0;
    }
    if (strncmp(raw, "file:", 5) == 0) {
        char *file;
        rc = fr__cfg_expand(ld, node, path, raw + 5, &file);
        if (rc)
            return rc;
        if (!*file) {
            free(file);
            return fr__cfg_fail(ld, node, path, "file: needs a path, e.g. file:/run/secrets/x");
        }
        if (file[0] != '/') {
            char *abs = fr_asprintf("%s/%s", ld->dir, file);
            free(file);
            file = abs;
        }
        /* a path built from ${ENV} is named as written: the variable may hold a secret */
        const char *shown = strstr(raw, "${") ? raw + 5 : file;
        rc = read_secret_file(ld, node, path, file, shown, &value);
        if (rc == 0 && !*value)
            rc = fr__cfg_fail(ld, node, path, "secret file \"%s\" is empty", shown);
        free(file);
    } else if (strstr(raw, "${")) {
        rc = fr__cfg_expand(ld, node, path, raw, &value);
        if (rc == 0 && !*value)
            rc = fr__cfg_fail(ld, node, path,
                              "the secret is empty (its environment variable is "
                              "set to an empty string)");
    } else {
        if (!*raw)
            return fr__cfg_fail(ld, node, path, "the secret is empty");
        fr__cfg_warn(ld, node,
                     "%s is a literal secret in the config file; use ${ENV} or file:/path", path);
        value = fr_strdup(raw);
        rc = 0;
    }
    if (rc) {
        fr__cfg_free_secret(value);
        return rc;
    }
    fr_redact_add_secret(value);
    *out = value;
    return 0;
}

/* YAML 1.2 core schema integer: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ */
static bool core_int(const char *s, json_int_t *v)
{
    int base = 10;
    const char *digits = s;
    if (s[0] == '0' && s[1] == 'o') {
        base = 8;
        digits = s + 2;
    } else if (s[0] == '0' && s[1] == 'x') {
        base = 16;
        digits = s + 2;
    } else if (*s == '-' || *s == '+') {
        digits = s + 1;
    }
    if (!*digits)
        return false;
    for (const char *p = digits; *p; p++) {
        bool ok = base == 16 ? isxdigit((unsigned char)*p) != 0 : (*p >= '0' && *p < '0' + base);
        if (!ok)
            return false;
    }
    errno = 0;
    char *end;
    long long n = strtoll(base == 10 ? s : digits, &end, base);
    if (errno || *end)
        return false;
    *v = (json_int_t)n;
    return true;
}

/* YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool core_float(const char *s, double *v)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t before = 0, after = 0;
    while (isdigit((unsigned char)*p))
        p++, before++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, after++;
    }
    if (before == 0 && after == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (*p)
        return false;
    *v = strtod(s, NULL);
    return isfinite(*v);
}

static bool one_of(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

int fr__cfg_scalar_json(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                        const char *text, json_t **out)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    static const char *const specials[] = {".inf",  ".Inf",  ".INF", "-.inf", "-.Inf",
                                           "-.INF", "+.inf", ".nan", ".NaN",  ".NAN"};
    json_int_t i;
    double d;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        *out = json_stringn(text, strlen(text));
    else if (one_of(text, nulls, FR_ARRAY_LEN(nulls)))
        *out = json_null();
    else if (one_of(text, trues, FR_ARRAY_LEN(trues)))
        *out = json_true();
    else if (one_of(text, falses, FR_ARRAY_LEN(falses)))
        *out = json_false();
    else if (core_int(text, &i))
        *out = json_integer(i);
    else if (core_float(text, &d))
        *out = json_real(d);
    else if (one_of(text, specials, FR_ARRAY_LEN(specials)))
        return fr__cfg_fail(ld, node, path, "\"%s\" has no JSON form (JSON has no infinity or NaN)",
                            text);
    else
        *out = json_stringn(text, strlen(text));
    if (!*out)
        return fr__cfg_fail(ld, node, path, "value is not valid UTF-8");
    return 0;
}

/* ---- lists of strings ---------------------------------------------------- */

_Static_assert(offsetof(struct fr__cfg_strings, n) == sizeof(char **),
               "struct fr__cfg_strings layout");

void fr__cfg_free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* One item of a list of strings; ud is the example of a good value. */
static int parse_string_item(struct fr__cfg_loader *ld, void *slot, yaml_node_t *item,
                             const char *path, void *ud)
{
    char **dst = slot;
    int rc = fr__cfg_expect(ld, item, path, YAML_SCALAR_NODE);
    if (!rc)
        rc = fr__cfg_expand(ld, item, path, fr__cfg_text(item), dst);
    if (!rc && !**dst)
        rc = fr__cfg_fail(ld, item, path, "empty value (write %s)", (const char *)ud);
    return rc;
}

int fr__cfg_parse_strings(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field, const char *example, bool allow_empty)
{
    struct fr__cfg_strings *list = field;
    fr__cfg_free_strings(list->items, list->n);
    list->items = NULL;
    list->n = 0;
    char *empty = allow_empty ? NULL : fr_asprintf("write %s", example);
    int rc = fr__cfg_parse_list(ld, node, path, empty, sizeof(*list->items), (void **)&list->items,
                                &list->n, parse_string_item, (void *)example);
    free(empty);
    return rc;
}
