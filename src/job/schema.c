#include "core/common.h"
#include "job/schema.h"

#include <errno.h>
#include <math.h>
#include <regex.h>

#include "core/buf.h"
#include "core/clock.h"

/* Bytes of a value quoted in a reason. */
#define QUOTE_MAX 60

enum type_bit {
    T_STRING = 1u << 0,
    T_NUMBER = 1u << 1,
    T_INTEGER = 1u << 2,
    T_BOOLEAN = 1u << 3,
    T_OBJECT = 1u << 4,
    T_ARRAY = 1u << 5,
    T_NULL = 1u << 6,
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"string", T_STRING}, {"number", T_NUMBER}, {"integer", T_INTEGER}, {"boolean", T_BOOLEAN},
    {"object", T_OBJECT}, {"array", T_ARRAY},   {"null", T_NULL},
};

enum format { F_NONE, F_DATE, F_DATE_TIME };

struct prop {
    char *name;
    struct node *schema;
};

/* One compiled (sub)schema. */
struct node {
    bool never;     /* the schema false */
    unsigned types; /* 0: any */
    char **required;
    size_t nrequired;
    struct prop *props;
    size_t nprops;
    struct node *items;
    json_t *enum_values; /* owned array, or NULL */
    bool has_min, has_max, has_xmin, has_xmax;
    double min, max, xmin, xmax;
    int64_t min_len, max_len; /* -1: none */
    char *pattern;            /* as written, for messages */
    regex_t re;
    enum format format;
};

struct fr_schema {
    struct node *root;
};

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nrequired; i++)
        free(n->required[i]);
    free(n->required);
    for (size_t i = 0; i < n->nprops; i++) {
        free(n->props[i].name);
        node_free(n->props[i].schema);
    }
    free(n->props);
    node_free(n->items);
    json_decref(n->enum_values);
    if (n->pattern) {
        regfree(&n->re);
        free(n->pattern);
    }
    free(n);
}

void fr_schema_free(struct fr_schema *s)
{
    if (!s)
        return;
    node_free(s->root);
    free(s);
}

/* ---- compiling ----------------------------------------------------------------------- */

struct compiler {
    const char *name;
    struct fr_err *err;
};

/* "NAME: /properties/x/type: message"; returns FR_ECONFIG. */
static int bad(struct compiler *c, const char *where, const char *fmt, ...) FR_PRINTF(3, 4);
static int bad(struct compiler *c, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = fr_vasprintf(fmt, ap);
    va_end(ap);
    fr_err_set(c->err, FR_ECONFIG, 0, "%s: %s: %s", c->name, *where ? where : "(the schema)", msg);
    free(msg);
    return FR_ECONFIG;
}

static const char *const annotations[] = {
    "$schema", "$id",      "$comment",   "title",    "description",
    "default", "examples", "deprecated", "readOnly", "writeOnly",
};

#define SUPPORTED                                                                                  \
    "type, required, properties, items, enum, minimum, maximum, exclusiveMinimum, "                \
    "exclusiveMaximum, minLength, maxLength, pattern, format"

/* A JSON pointer token: "~" and "/" escaped. Caller frees. */
static char *child_where(const char *where, const char *token)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b, "%s/", where);
    for (const char *p = token; *p; p++) {
        if (*p == '~')
            fr_buf_adds(&b, "~0");
        else if (*p == '/')
            fr_buf_adds(&b, "~1");
        else
            fr_buf_addc(&b, *p);
    }
    return fr_buf_detach(&b, NULL);
}

static int compile_node(struct compiler *c, json_t *j, const char *where, struct node **out);

static int compile_type(struct compiler *c, json_t *v, const char *where, struct node *n)
{
    json_t *one = v;
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && count == 0)
        return bad(c, where, "an empty list of types");
    for (size_t i = 0; i < count; i++) {
        if (json_is_array(v))
            one = json_array_get(v, i);
        const char *name = json_string_value(one);
        unsigned bit = 0;
        for (size_t t = 0; name && t < FR_ARRAY_LEN(type_names); t++)
            if (strcmp(name, type_names[t].name) == 0)
                bit = type_names[t].bit;
        if (!bit)
            return bad(c, where,
                       "unknown type %s%s%s (use string, number, integer, boolean, object, array "
                       "or null)",
                       name ? "\"" : "", name ? name : "(not a string)", name ? "\"" : "");
        n->types |= bit;
    }
    return 0;
}

static int compile_number(struct compiler *c, json_t *v, const char *where, bool *has, double *to)
{
    if (!json_is_number(v))
        return bad(c, where, "must be a number");
    *has = true;
    *to = json_number_value(v);
    return 0;
}

static int compile_length(struct compiler *c, json_t *v, const char *where, int64_t *to)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(c, where, "must be a non-negative integer");
    *to = (int64_t)json_integer_value(v);
    return 0;
}

/* ECMA-262 shorthands POSIX ERE lacks, written out: \d -> [0-9], \D -> [^0-9]. Caller frees. */
static char *posix_pattern(const char *src)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    bool in_class = false;
    for (const char *p = src; *p; p++) {
        if (*p == '\\' && p[1]) {
            if (p[1] == 'd') {
                fr_buf_adds(&b, in_class ? "0-9" : "[0-9]");
            } else if (p[1] == 'D' && !in_class) {
                fr_buf_adds(&b, "[^0-9]");
            } else {
                fr_buf_addc(&b, *p);
                fr_buf_addc(&b, p[1]);
            }
            p++;
            continue;
        }
        if (*p == '[' && !in_class) {
            in_class = true;
            fr_buf_addc(&b, *p);
            /* a ] right after [ or [^ is a literal member */
            if (p[1] == '^')
                fr_buf_addc(&b, *++p);
            if (p[1] == ']')
                fr_buf_addc(&b, *++p);
            continue;
        }
        if (*p == ']' && in_class)
            in_class = false;
        fr_buf_addc(&b, *p);
    }
    return fr_buf_detach(&b, NULL);
}

/*
 * The most nodes a pattern may expand to. glibc's regcomp copies the
 * subexpression of x+ and x{n,m} once per repetition, and its epsilon
 * closures grow with the square of the nodes, so nested or stacked
 * repetitions take minutes and gigabytes to compile ("a" and 25 "+",
 * "((a+)+)+..." 20 deep, "(a{100}){100}"). Real patterns
 * ("^[A-Z]{2}[0-9]{10}$", "^.{1,255}$") stay far below this.
 */
#define PATTERN_MAX_NODES 1000
#define PATTERN_MAX_DEPTH 32

static bool is_quantifier(const char *p, const char **end)
{
    *end = p;
    if (*p == '*' || *p == '+' || *p == '?')
        return true;
    if (*p != '{')
        return false;
    const char *q = p + 1;
    size_t digits = strspn(q, "0123456789");
    q += digits;
    if (*q == ',')
        q += strspn(q + 1, "0123456789") + 1;
    if (*q != '}' || (digits == 0 && q[-1] == ','))
        return false;
    *end = q;
    return true;
}

/*
 * Why an ERE (after posix_pattern) is refused before regcomp sees it, or
 * NULL. Counts an upper bound of the nodes regcomp builds: an atom or a
 * quantifier 1, and x+ or x{n,m} copies x max(n, m) times. A quantifier of
 * a quantifier is refused as ECMA-262 refuses it ("nothing to repeat"),
 * except the lazy "?" (a+?), which POSIX reads as optional.
 */
static const char *pattern_problem(const char *re)
{
    struct {
        uint64_t total, last; /* the group so far; the atom a quantifier would repeat */
    } st[PATTERN_MAX_DEPTH + 1] = {{0, 0}};
    size_t depth = 0;
    const uint64_t cap = PATTERN_MAX_NODES + 1;
    int quantified = 0; /* 1 after a quantifier, 2 after a lazy "?" that followed one */
    for (const char *p = re; *p; p++) {
        const char *end;
        if (is_quantifier(p, &end)) {
            if (quantified == 2 || (quantified == 1 && *p != '?'))
                return "repeats a repetition (as in a++ or a{2}{3})";
            uint64_t times = 0; /* copies of the last atom */
            if (*p == '+')
                times = 1;
            if (*p == '{') {
                char *e;
                unsigned long n = strtoul(p + 1, &e, 10),
                              m = *e == ',' && e[1] != '}' ? strtoul(e + 1, NULL, 10) : 0;
                times = FR_MIN(FR_MAX(n, m), cap);
            }
            st[depth].total = FR_MIN(st[depth].total + 1 + st[depth].last * times, cap);
            st[depth].last = FR_MIN(st[depth].last * (times + 1) + 1, cap);
            quantified = quantified ? 2 : 1;
            p = end;
            continue;
        }
        quantified = 0;
        uint64_t atom = 1;
        if (*p == '(') {
            if (depth == PATTERN_MAX_DEPTH)
                return "nests groups too deep";
            depth++;
            st[depth].total = 0;
            st[depth].last = 0;
            continue;
        } else if (*p == ')' && depth > 0) {
            atom = st[depth].total + 1;
            depth--;
        } else if (*p == '|') {
            st[depth].total = FR_MIN(st[depth].total + 1, cap);
            st[depth].last = 0;
            continue;
        } else if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '[') {
            /* a bracket expression is one atom; "]" right after "[" or "[^" is a member */
            p += p[1] == '^';
            p += p[1] == ']';
            while (p[1] && p[1] != ']')
                p++;
            if (p[1])
                p++;
        }
        st[depth].total = FR_MIN(st[depth].total + atom, cap);
        st[depth].last = FR_MIN(atom, cap);
    }
    /* Groups left open count too: regcomp builds them before it finds the missing ")". */
    uint64_t total = 0;
    for (size_t d = 0; d <= depth; d++)
        total = FR_MIN(total + st[d].total, cap);
    if (total > PATTERN_MAX_NODES)
        return "is too complex (nested or long repetitions such as (a+)+ or a{5000}; bound "
               "lengths with minLength and maxLength)";
    return NULL;
}

static int compile_keyword(struct compiler *c, const char *key, json_t *v, const char *where,
                           struct node *n)
{
    if (strcmp(key, "type") == 0)
        return compile_type(c, v, where, n);
    if (strcmp(key, "required") == 0) {
        if (!json_is_array(v))
            return bad(c, where, "must be a list of field names");
        n->required = fr_calloc(json_array_size(v) + 1, sizeof(*n->required));
        size_t i;
        json_t *f;
        json_array_foreach(v, i, f)
        {
            if (!json_is_string(f))
                return bad(c, where, "item %zu is not a field name", i);
            n->required[n->nrequired++] = fr_strdup(json_string_value(f));
        }
        return 0;
    }
    if (strcmp(key, "properties") == 0) {
        if (!json_is_object(v))
            return bad(c, where, "must be an object of field name -> schema");
        n->props = fr_calloc(json_object_size(v) + 1, sizeof(*n->props));
        const char *name;
        json_t *sub;
        json_object_foreach(v, name, sub)
        {
            struct prop *p = &n->props[n->nprops++];
            p->name = fr_strdup(name);
            char *w = child_where(where, name);
            int rc = compile_node(c, sub, w, &p->schema);
            free(w);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(key, "items") == 0)
        return compile_node(c, v, where, &n->items);
    if (strcmp(key, "enum") == 0) {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return bad(c, where, "must be a non-empty list of values");
        n->enum_values = json_incref(v);
        return 0;
    }
    if (strcmp(key, "minimum") == 0)
        return compile_number(c, v, where, &n->has_min, &n->min);
    if (strcmp(key, "maximum") == 0)
        return compile_number(c, v, where, &n->has_max, &n->max);
    if (strcmp(key, "exclusiveMinimum") == 0)
        return compile_number(c, v, where, &n->has_xmin, &n->xmin);
    if (strcmp(key, "exclusiveMaximum") == 0)
        return compile_number(c, v, where, &n->has_xmax, &n->xmax);
    if (strcmp(key, "minLength") == 0)
        return compile_length(c, v, where, &n->min_len);
    if (strcmp(key, "maxLength") == 0)
        return compile_length(c, v, where, &n->max_len);
    if (strcmp(key, "pattern") == 0) {
        if (!json_is_string(v))
            return bad(c, where, "must be a regular expression in a string");
        char *posix = posix_pattern(json_string_value(v));
        const char *problem = pattern_problem(posix);
        if (problem) {
            free(posix);
            return bad(c, where, "regular expression \"%s\" %s", json_string_value(v), problem);
        }
        int rc = regcomp(&n->re, posix, REG_EXTENDED | REG_NOSUB);
        free(posix);
        if (rc) {
            char why[128];
            regerror(rc, &n->re, why, sizeof(why));
            return bad(c, where, "invalid regular expression \"%s\": %s", json_string_value(v),
                       why);
        }
        n->pattern = fr_strdup(json_string_value(v));
        return 0;
    }
    if (strcmp(key, "format") == 0) {
        const char *f = json_string_value(v);
        if (f && strcmp(f, "date") == 0)
            n->format = F_DATE;
        else if (f && strcmp(f, "date-time") == 0)
            n->format = F_DATE_TIME;
        else
            return bad(c, where, "unsupported format %s%s%s (ferry checks date and date-time)",
                       f ? "\"" : "", f ? f : "(not a string)", f ? "\"" : "");
        return 0;
    }
    for (size_t i = 0; i < FR_ARRAY_LEN(annotations); i++)
        if (strcmp(key, annotations[i]) == 0)
            return 0;
    return bad(c, where[0] ? where : "",
               "keyword \"%s\" is not supported (ferry checks " SUPPORTED ")", key);
}

static int compile_node(struct compiler *c, json_t *j, const char *where, struct node **out)
{
    struct node *n = fr_calloc(1, sizeof(*n));
    n->min_len = n->max_len = -1;
    *out = n;
    if (json_is_true(j))
        return 0;
    if (json_is_false(j)) {
        n->never = true;
        return 0;
    }
    if (!json_is_object(j))
        return bad(c, where, "a schema must be an object (or true or false)");
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        char *w = child_where(where, key);
        int rc = compile_keyword(c, key, v, w, n);
        free(w);
        if (rc)
            return rc;
    }
    return 0;
}

int fr_schema_compile(json_t *doc, const char *name, struct fr_schema **out, struct fr_err *err)
{
    *out = NULL;
    struct compiler c = {.name = name, .err = err};
    struct fr_schema *s = fr_calloc(1, sizeof(*s));
    int rc = compile_node(&c, doc, "", &s->root);
    if (rc) {
        fr_schema_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int fr_schema_load(const char *path, struct fr_schema **out, struct fr_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return fr_err_set(err, FR_EIO, errno, "schema %s: cannot read it: %s", path,
                          strerror(errno));
    json_error_t je;
    json_t *doc = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!doc)
        return fr_err_set(err, FR_ECONFIG, 0, "%s:%d:%d: not valid JSON: %s", path, je.line,
                          je.column, je.text);
    int rc = fr_schema_compile(doc, path, out, err);
    json_decref(doc);
    return rc;
}

/* ---- validating ---------------------------------------------------------------------- */

struct check {
    json_t *reasons;
    bool full; /* FR_SCHEMA_MAX_REASONS reached */
};

static const char *kind_of(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* v as compact JSON, cut at QUOTE_MAX bytes (on a UTF-8 boundary) with "...". Caller frees. */
static char *quote(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return fr_strdup("(value)");
    size_t len = strlen(s);
    if (len <= QUOTE_MAX)
        return s;
    size_t cut = QUOTE_MAX;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    char *q = fr_asprintf("%.*s...", (int)cut, s);
    free(s);
    return q;
}

static void reason(struct check *ck, const char *where, const char *fmt, ...) FR_PRINTF(3, 4);
static void reason(struct check *ck, const char *where, const char *fmt, ...)
{
    if (ck->full)
        return;
    if (json_array_size(ck->reasons) == FR_SCHEMA_MAX_REASONS - 1) {
        json_array_append_new(ck->reasons, json_string("(more reasons not shown)"));
        ck->full = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = fr_vasprintf(fmt, ap);
    va_end(ap);
    char *line = fr_asprintf("%s: %s", *where ? where : "(record)", msg);
    json_t *s = json_string(line);
    /* a reason quotes the record, which may not be valid UTF-8 only if jansson let it in */
    json_array_append_new(ck->reasons, s ? s : json_string("(reason not shown)"));
    free(line);
    free(msg);
}

static bool is_integral(json_t *v)
{
    if (json_is_integer(v))
        return true;
    double d = json_real_value(v);
    return json_is_real(v) && isfinite(d) && floor(d) == d;
}

static bool type_ok(unsigned types, json_t *v)
{
    if (!types)
        return true;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return types & T_STRING;
    case JSON_INTEGER:
    case JSON_REAL:
        return (types & T_NUMBER) || ((types & T_INTEGER) && is_integral(v));
    case JSON_TRUE:
    case JSON_FALSE:
        return types & T_BOOLEAN;
    case JSON_OBJECT:
        return types & T_OBJECT;
    case JSON_ARRAY:
        return types & T_ARRAY;
    default:
        return types & T_NULL;
    }
}

static char *type_list(unsigned types)
{
    struct fr_buf b = FR_BUF_INIT;
    size_t n = 0, total = 0;
    for (size_t t = 0; t < FR_ARRAY_LEN(type_names); t++)
        total += (types & type_names[t].bit) != 0;
    for (size_t t = 0; t < FR_ARRAY_LEN(type_names); t++) {
        if (!(types & type_names[t].bit))
            continue;
        const char *name = type_names[t].name;
        const char *article = strchr("aeiou", name[0]) ? "an " : "a ";
        if (strcmp(name, "null") == 0)
            article = "";
        fr_buf_addf(&b, "%s%s%s", n == 0 ? "" : n + 1 == total ? " or " : ", ", article, name);
        n++;
    }
    return fr_buf_detach(&b, NULL);
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static char *join_where(const char *where, const char *name)
{
    return *where ? fr_asprintf("%s.%s", where, name) : fr_strdup(name);
}

static void check_node(struct check *ck, const struct node *n, json_t *v, const char *where);

static void check_string(struct check *ck, const struct node *n, json_t *v, const char *where)
{
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (n->min_len >= 0 || n->max_len >= 0) {
        size_t chars = utf8_chars(s, len);
        if (n->min_len >= 0 && chars < (size_t)n->min_len)
            reason(ck, where, "%zu characters, fewer than the minimum %lld", chars,
                   (long long)n->min_len);
        if (n->max_len >= 0 && chars > (size_t)n->max_len)
            reason(ck, where, "%zu characters, more than the maximum %lld", chars,
                   (long long)n->max_len);
    }
    if (n->pattern && (strlen(s) != len || regexec(&n->re, s, 0, NULL, 0) != 0)) {
        char *q = quote(v);
        reason(ck, where, "%s does not match %s", q, n->pattern);
        free(q);
    }
    int64_t ms;
    if (n->format == F_DATE && fr_parse_date(s, &ms) != 0) {
        char *q = quote(v);
        reason(ck, where, "%s is not a date (YYYY-MM-DD)", q);
        free(q);
    } else if (n->format == F_DATE_TIME && fr_parse_rfc3339(s, &ms) != 0) {
        char *q = quote(v);
        reason(ck, where, "%s is not a date-time (RFC 3339, e.g. 2024-01-31T12:00:00Z)", q);
        free(q);
    }
}

static void check_number(struct check *ck, const struct node *n, json_t *v, const char *where)
{
    double d = json_number_value(v);
    char *q = NULL;
    if ((n->has_min && d < n->min) || (n->has_max && d > n->max) || (n->has_xmin && d <= n->xmin) ||
        (n->has_xmax && d >= n->xmax))
        q = quote(v);
    if (n->has_min && d < n->min)
        reason(ck, where, "%s is less than the minimum %g", q, n->min);
    if (n->has_max && d > n->max)
        reason(ck, where, "%s is more than the maximum %g", q, n->max);
    if (n->has_xmin && d <= n->xmin)
        reason(ck, where, "%s is not more than %g (exclusiveMinimum)", q, n->xmin);
    if (n->has_xmax && d >= n->xmax)
        reason(ck, where, "%s is not less than %g (exclusiveMaximum)", q, n->xmax);
    free(q);
}

static void check_object(struct check *ck, const struct node *n, json_t *v, const char *where)
{
    for (size_t i = 0; i < n->nrequired; i++) {
        if (!json_object_get(v, n->required[i])) {
            char *w = join_where(where, n->required[i]);
            reason(ck, w, "required but missing");
            free(w);
        }
    }
    for (size_t i = 0; i < n->nprops; i++) {
        json_t *child = json_object_get(v, n->props[i].name);
        if (!child)
            continue;
        char *w = join_where(where, n->props[i].name);
        check_node(ck, n->props[i].schema, child, w);
        free(w);
    }
}

static void check_node(struct check *ck, const struct node *n, json_t *v, const char *where)
{
    if (ck->full)
        return;
    if (n->never) {
        reason(ck, where, "not allowed");
        return;
    }
    if (!type_ok(n->types, v)) {
        char *want = type_list(n->types);
        reason(ck, where, "expected %s, found %s", want, kind_of(v));
        free(want);
        return; /* the other keywords would only repeat it */
    }
    if (n->enum_values) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(n->enum_values, i, e) found = found || json_equal(e, v);
        if (!found) {
            char *q = quote(v), *allowed = quote(n->enum_values);
            reason(ck, where, "%s is not one of %s", q, allowed);
            free(q);
            free(allowed);
        }
    }
    if (json_is_string(v))
        check_string(ck, n, v, where);
    else if (json_is_number(v))
        check_number(ck, n, v, where);
    else if (json_is_object(v))
        check_object(ck, n, v, where);
    else if (json_is_array(v) && n->items) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char *w = fr_asprintf("%s[%zu]", *where ? where : "(record)", i);
            check_node(ck, n->items, item, w);
            free(w);
        }
    }
}

bool fr_schema_validate(const struct fr_schema *s, json_t *value, json_t **reasons)
{
    struct check ck = {.reasons = json_array()};
    check_node(&ck, s->root, value, "");
    if (json_array_size(ck.reasons) == 0) {
        json_decref(ck.reasons);
        *reasons = NULL;
        return true;
    }
    *reasons = ck.reasons;
    return false;
}

char *fr_schema_reasons_text(json_t *reasons)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    size_t i;
    json_t *r;
    json_array_foreach(reasons, i, r) fr_buf_addf(&b, "%s%s", i ? "; " : "", json_string_value(r));
    return fr_buf_detach(&b, NULL);
}
