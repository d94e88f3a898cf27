#include "core/common.h"
#include "job/map.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "core/hex.h"

/* How long a value may be when quoted back in a reason. */
#define QUOTE_MAX 60

/*
 * A converted value, held without allocation: strings point into the
 * source record or into tmp. Both outputs (a jansson payload for
 * fr_map_apply, canonical text for fr_map_write) are made from it.
 */
enum val_type { V_STR, V_INT, V_REAL, V_TRUE, V_FALSE };

struct val {
    enum val_type t;
    const char *s; /* V_STR; for V_REAL read from text, that text (see decimal_text) */
    size_t n;
    json_int_t i; /* V_INT */
    double d;     /* V_REAL */
    char tmp[40]; /* text s may point to */
};

/*
 * One conversion per field type: from a non-empty source value (a string
 * as read, or a JSON value) to out, or FR_EINVAL with *why set.
 */
typedef int (*convert_fn)(const char *field, json_t *v, struct val *out, char **why);

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* [*s, *s + *n) without surrounding white space. */
static void trim(const char **s, size_t *n)
{
    while (*n && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_space((*s)[*n - 1]))
        (*n)--;
}

/* A value for a reason: a string quoted and cut at QUOTE_MAX bytes, others as JSON. */
static char *quote_value(json_t *v)
{
    if (!json_is_string(v)) {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char *r = fr_strdup(s ? s : "?");
        free(s);
        return r;
    }
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n <= QUOTE_MAX)
        return fr_asprintf("\"%s\"", s);
    size_t cut = QUOTE_MAX;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* not inside a UTF-8 sequence */
    return fr_asprintf("\"%.*s...\"", (int)cut, s);
}

static int reject(const char *field, json_t *v, const char *what, char **why)
{
    char *q = quote_value(v);
    *why = fr_asprintf("%s: %s %s", field, q, what);
    free(q);
    return FR_EINVAL;
}

/* Shortest %g text that reads back as d (what fr_map_key writes for reals). */
static void format_real(double d, char *buf, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
}

static void set_str(struct val *out, const char *s, size_t n)
{
    out->t = V_STR;
    out->s = s;
    out->n = n;
}

static void set_tmp(struct val *out)
{
    set_str(out, out->tmp, strlen(out->tmp));
}

static int to_string(const char *field, json_t *v, struct val *out, char **why)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        set_str(out, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        snprintf(out->tmp, sizeof(out->tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        set_tmp(out);
        return 0;
    case JSON_REAL:
        format_real(json_real_value(v), out->tmp, sizeof(out->tmp));
        set_tmp(out);
        return 0;
    case JSON_TRUE:
        set_str(out, "true", 4);
        return 0;
    case JSON_FALSE:
        set_str(out, "false", 5);
        return 0;
    default:
        return reject(field, v, "is not a string", why);
    }
}

/* A JSON number as it is. */
static void set_number(struct val *out, json_t *v)
{
    if (json_is_integer(v)) {
        out->t = V_INT;
        out->i = json_integer_value(v);
    } else {
        out->t = V_REAL;
        out->d = json_real_value(v);
        out->s = NULL; /* no text: put_val formats d */
    }
}

/*
 * A plain decimal: -?digits(.digits)? and nothing else (no thousands
 * separators, exponents, hex, inf or nan, which strtod alone would take).
 * *frac_zero says whether the fraction, if any, is all zeros.
 */
static bool plain_decimal(const char *s, size_t n, bool *has_frac, bool *frac_zero)
{
    size_t i = 0, digits = 0;
    *has_frac = false;
    *frac_zero = true;
    if (i < n && s[i] == '-')
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (!digits)
        return false;
    if (i < n && s[i] == '.') {
        i++;
        size_t fdigits = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (s[i] != '0')
                *frac_zero = false;
            i++;
            fdigits++;
        }
        if (!fdigits)
            return false;
        *has_frac = true;
    }
    return i == n;
}

/*
 * Significant digits of a plain decimal: up to 15 survive a double and
 * FR_MAP_DUMP_FLAGS exactly (DBL_DIG); more would be sent altered.
 */
static size_t significant_digits(const char *s, size_t n)
{
    size_t first = n, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '1' && s[i] <= '9') {
            if (first == n)
                first = i;
            last = i;
        }
    }
    if (first == n)
        return 0;
    size_t count = 0;
    for (size_t i = first; i <= last; i++)
        count += s[i] >= '0' && s[i] <= '9';
    return count;
}

/* The whole-number part of a plain decimal text as an integer, or false when out of range. */
static bool parse_whole(const char *s, size_t n, json_int_t *out)
{
    bool neg = n && s[0] == '-';
    size_t i = neg ? 1 : 0;
    unsigned long long x = 0, limit = neg ? 9223372036854775808ULL : 9223372036854775807ULL;
    for (; i < n && s[i] != '.'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (limit - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *out = neg ? (json_int_t)(0 - x) : (json_int_t)x;
    return true;
}

static int to_number(const char *field, json_t *v, struct val *out, char **why)
{
    if (json_is_number(v)) {
        set_number(out, v);
        return 0;
    }
    if (!json_is_string(v))
        return reject(field, v, "is not a number", why);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    trim(&s, &n);
    bool has_frac, frac_zero;
    if (!plain_decimal(s, n, &has_frac, &frac_zero))
        return reject(field, v, "is not a number", why);
    if (!has_frac) {
        out->t = V_INT;
        return parse_whole(s, n, &out->i) ? 0 : reject(field, v, "is out of range", why);
    }
    if (significant_digits(s, n) > 15)
        return reject(field, v, "has more than 15 significant digits", why);
    /* s is not NUL-terminated where the value ends (surrounding spaces) */
    char small[64];
    char *text = n < sizeof(small) ? small : fr_malloc(n + 1);
    memcpy(text, s, n);
    text[n] = '\0';
    double d = strtod(text, NULL);
    if (text != small)
        free(text);
    if (!isfinite(d))
        return reject(field, v, "is out of range", why);
    out->t = V_REAL;
    out->d = d;
    out->s = s; /* the text it came from: put_val may write it without formatting d */
    out->n = n;
    return 0;
}

/*
 * The canonical text of a plain decimal with a fraction and at most 15
 * significant digits, as jansson writes its double with
 * FR_MAP_DUMP_FLAGS ("%.15g", then ".0" when that has no point): the
 * digits survive the double exactly, so that text is the decimal without
 * leading zeros of the whole part and trailing zeros of the fraction.
 * %g switches to an exponent outside 1e-4 <= |d| < 1e15; false then (and
 * for zero), and the caller formats d. out holds at least n + 3 bytes.
 */
static bool decimal_text(const char *s, size_t n, char *out, size_t *len)
{
    size_t o = 0, i = 0;
    if (s[i] == '-')
        out[o++] = s[i++];
    const char *dot = memchr(s, '.', n);
    size_t whole_start = i, whole_end = (size_t)(dot - s);
    while (whole_start + 1 < whole_end && s[whole_start] == '0')
        whole_start++;
    size_t frac_end = n;
    while (frac_end > whole_end + 1 && s[frac_end - 1] == '0')
        frac_end--;
    int exp; /* of the first significant digit */
    if (whole_end - whole_start > 1 || s[whole_start] != '0') {
        exp = (int)(whole_end - whole_start) - 1;
    } else {
        size_t f = whole_end + 1;
        while (f < frac_end && s[f] == '0')
            f++;
        if (f == frac_end)
            return false; /* zero: "-0.0" and "0.0" differ; leave the sign to printf */
        exp = -(int)(f - whole_end);
    }
    if (exp < -4 || exp >= 15)
        return false;
    memcpy(out + o, s + whole_start, whole_end - whole_start);
    o += whole_end - whole_start;
    out[o++] = '.';
    if (frac_end == whole_end + 1) {
        out[o++] = '0';
    } else {
        memcpy(out + o, s + whole_end + 1, frac_end - whole_end - 1);
        o += frac_end - whole_end - 1;
    }
    *len = o;
    return true;
}

static int to_integer(const char *field, json_t *v, struct val *out, char **why)
{
    out->t = V_INT;
    if (json_is_integer(v)) {
        out->i = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d))
            return reject(field, v, "is not a whole number", why);
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return reject(field, v, "is out of range", why);
        out->i = (json_int_t)d;
        return 0;
    }
    if (!json_is_string(v))
        return reject(field, v, "is not an integer", why);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    trim(&s, &n);
    bool has_frac, frac_zero;
    if (!plain_decimal(s, n, &has_frac, &frac_zero))
        return reject(field, v, "is not an integer", why);
    if (!frac_zero)
        return reject(field, v, "is not a whole number", why);
    return parse_whole(s, n, &out->i) ? 0 : reject(field, v, "is out of range", why);
}

static const struct {
    const char *text;
    bool value;
} boolean_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"1", true}, {"0", false},
};

static int to_boolean(const char *field, json_t *v, struct val *out, char **why)
{
    int b = -1;
    if (json_is_boolean(v))
        b = json_is_true(v);
    else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        b = json_integer_value(v) == 1;
    else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        trim(&s, &n);
        for (size_t i = 0; b < 0 && i < FR_ARRAY_LEN(boolean_words); i++)
            if (strlen(boolean_words[i].text) == n && strncasecmp(s, boolean_words[i].text, n) == 0)
                b = boolean_words[i].value;
    }
    if (b < 0)
        return reject(field, v, "is not a boolean (true/false, yes/no, 1/0)", why);
    out->t = b ? V_TRUE : V_FALSE;
    return 0;
}

/* n decimal digits at s into *out. */
static bool digits(const char *s, int n, int *out)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *out = x;
    return true;
}

static bool valid_date(int y, int m, int d)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

/* The time part of an RFC 3339 date-time: HH:MM:SS(.frac)?(Z|+HH:MM|-HH:MM)?. */
static bool valid_time(const char *s, size_t n)
{
    int hh, mm, ss;
    if (n < 8 || !digits(s, 2, &hh) || s[2] != ':' || !digits(s + 3, 2, &mm) || s[5] != ':' ||
        !digits(s + 6, 2, &ss))
        return false;
    if (hh > 23 || mm > 59 || ss > 60) /* 60: a leap second */
        return false;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i == n)
        return true; /* no offset: not RFC 3339, but what many exports write */
    if (s[i] == 'Z' || s[i] == 'z')
        return i + 1 == n;
    int oh, om;
    return i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
           s[i + 3] == ':' && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
}

static int to_date(const char *field, json_t *v, struct val *out, char **why)
{
    const char *what = "is not a date (YYYY-MM-DD)";
    if (!json_is_string(v))
        return reject(field, v, what, why);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    trim(&s, &n);
    int y, m, d;
    if (n < 10 || !digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return reject(field, v, what, why);
    char sep = s[4];
    if ((sep != '-' && sep != '/') || s[7] != sep)
        return reject(field, v, what, why);
    if (n > 10) {
        /* only the RFC 3339 form carries a time */
        if (sep != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            !valid_time(s + 11, n - 11))
            return reject(field, v, what, why);
    }
    if (!valid_date(y, m, d))
        return reject(field, v, "is not a calendar date", why);
    snprintf(out->tmp, sizeof(out->tmp), "%04d-%02d-%02d", y, m, d);
    set_tmp(out);
    return 0;
}

/* Indexed by enum fr_field_type. */
static const convert_fn converters[] = {
    [FR_FIELD_STRING] = to_string,   [FR_FIELD_NUMBER] = to_number, [FR_FIELD_INTEGER] = to_integer,
    [FR_FIELD_BOOLEAN] = to_boolean, [FR_FIELD_DATE] = to_date,
};

static bool is_empty(json_t *v)
{
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    trim(&s, &n);
    return n == 0;
}

/*
 * Converts field f of record: 1 with *out set, 0 when the field is left
 * out (empty and not required), -1 with *why set when it does not convert.
 */
static int convert(const struct fr_map_field *f, json_t *record, struct val *out, char **why)
{
    json_t *v = json_object_get(record, f->from);
    if (is_empty(v)) {
        if (!f->required)
            return 0;
        *why = fr_asprintf("%s: required but empty", f->name);
        return -1;
    }
    FR_ASSERT((size_t)f->type < FR_ARRAY_LEN(converters) && converters[f->type]);
    return converters[f->type](f->name, v, out, why) ? -1 : 1;
}

static json_t *val_json(const struct val *v)
{
    switch (v->t) {
    case V_STR:
        return json_stringn(v->s, v->n);
    case V_INT:
        return json_integer(v->i);
    case V_REAL:
        return json_real(v->d);
    case V_TRUE:
        return json_true();
    default:
        return json_false();
    }
}

int fr_map_apply(const struct fr_map_field *fields, size_t n, json_t *record, json_t **payload,
                 char **why)
{
    *payload = NULL;
    *why = NULL;
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        const struct fr_map_field *f = &fields[i];
        if (!f->from) {
            if (f->value)
                json_object_set_new(out, f->name, json_deep_copy(f->value));
            continue;
        }
        struct val v;
        int rc = convert(f, record, &v, why);
        if (rc < 0)
            break;
        if (rc == 1)
            json_object_set_new(out, f->name, val_json(&v));
    }
    if (*why) {
        json_decref(out);
        return FR_EINVAL;
    }
    *payload = out;
    return 0;
}

char *fr_map_key(json_t *payload, const char *key_field)
{
    json_t *v = json_object_get(payload, key_field);
    char buf[40];
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return json_string_length(v) ? fr_strndup(json_string_value(v), json_string_length(v))
                                     : NULL;
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return fr_strdup(buf);
    case JSON_REAL:
        format_real(json_real_value(v), buf, sizeof(buf));
        return fr_strdup(buf);
    default:
        return NULL;
    }
}

char *fr_map_canonical(json_t *payload)
{
    char *text = json_dumps(payload, FR_MAP_DUMP_FLAGS | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    FR_ASSERT(text);
    return text;
}

/* ---- the writer: canonical text straight from the record -------------------------------- */

struct fr_map {
    const struct fr_map_field *fields;  /* as configured */
    const struct fr_map_field **sorted; /* the fields in the canonical (byte) order of names */
    char **prefix;                      /* per sorted field: `"name":` as JSON */
    char **literal;                     /* per sorted field: the literal's canonical text */
    size_t n;
    size_t key;        /* index in sorted of the key field; n when the map has none */
    char *literal_key; /* a literal key field's key, as fr_map_key gives it; else NULL */
    json_t *real;      /* reused to format reals exactly as the canonical dump does */
    EVP_MD *sha256;
    EVP_MD_CTX *md;
};

static int by_name(const void *a, const void *b)
{
    const struct fr_map_field *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static char *dump_any(json_t *v)
{
    char *text = json_dumps(v, FR_MAP_DUMP_FLAGS | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    FR_ASSERT(text);
    return text;
}

/* The key of a literal key field, as fr_map_key gives it. */
static char *literal_key(json_t *value)
{
    json_t *wrap = json_object();
    json_object_set(wrap, "k", value);
    char *key = fr_map_key(wrap, "k");
    json_decref(wrap);
    return key;
}

struct fr_map *fr_map_new(const struct fr_map_field *fields, size_t n, const char *key_field)
{
    struct fr_map *m = fr_calloc(1, sizeof(*m));
    m->fields = fields;
    m->n = n;
    m->key = n;
    m->sorted = fr_calloc(n ? n : 1, sizeof(*m->sorted));
    m->prefix = fr_calloc(n ? n : 1, sizeof(*m->prefix));
    m->literal = fr_calloc(n ? n : 1, sizeof(*m->literal));
    for (size_t i = 0; i < n; i++)
        m->sorted[i] = &fields[i];
    qsort(m->sorted, n, sizeof(*m->sorted), by_name);
    for (size_t i = 0; i < n; i++) {
        const struct fr_map_field *f = m->sorted[i];
        json_t *name = json_string(f->name);
        FR_ASSERT(name);
        char *enc = dump_any(name);
        m->prefix[i] = fr_asprintf("%s:", enc);
        free(enc);
        json_decref(name);
        if (!f->from && f->value)
            m->literal[i] = dump_any(f->value);
        if (strcmp(f->name, key_field) == 0) {
            m->key = i;
            if (!f->from && f->value)
                m->literal_key = literal_key(f->value);
        }
    }
    m->real = json_real(0);
    m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    m->md = EVP_MD_CTX_new();
    FR_ASSERT(m->real && m->sha256 && m->md);
    return m;
}

void fr_map_free(struct fr_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->prefix[i]);
        free(m->literal[i]);
    }
    free(m->sorted);
    free(m->prefix);
    free(m->literal);
    free(m->literal_key);
    json_decref(m->real);
    EVP_MD_CTX_free(m->md);
    EVP_MD_free(m->sha256);
    free(m);
}

/* s as a JSON string, escaped as jansson escapes (s is valid UTF-8: it came from jansson). */
static void put_string(struct fr_buf *out, const char *s, size_t n)
{
    fr_buf_addc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fr_buf_add(out, s + run, i - run);
        run = i + 1;
        char esc[8];
        switch (c) {
        case '"':
            fr_buf_add(out, "\\\"", 2);
            break;
        case '\\':
            fr_buf_add(out, "\\\\", 2);
            break;
        case '\b':
            fr_buf_add(out, "\\b", 2);
            break;
        case '\f':
            fr_buf_add(out, "\\f", 2);
            break;
        case '\n':
            fr_buf_add(out, "\\n", 2);
            break;
        case '\r':
            fr_buf_add(out, "\\r", 2);
            break;
        case '\t':
            fr_buf_add(out, "\\t", 2);
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            fr_buf_add(out, esc, 6);
            break;
        }
    }
    fr_buf_add(out, s + run, n - run);
    fr_buf_addc(out, '"');
}

static void put_val(struct fr_map *m, struct fr_buf *out, const struct val *v)
{
    char text[64];
    switch (v->t) {
    case V_STR:
        put_string(out, v->s, v->n);
        break;
    case V_INT: {
        int len = snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, v->i);
        fr_buf_add(out, text, (size_t)len);
        break;
    }
    case V_REAL: {
        size_t fast;
        if (v->s && v->n + 3 <= sizeof(text) && decimal_text(v->s, v->n, text, &fast)) {
            fr_buf_add(out, text, fast);
            break;
        }
        json_real_set(m->real, v->d);
        size_t len = json_dumpb(m->real, text, sizeof(text), FR_MAP_DUMP_FLAGS | JSON_ENCODE_ANY);
        FR_ASSERT(len > 0 && len <= sizeof(text));
        fr_buf_add(out, text, len);
        break;
    }
    case V_TRUE:
        fr_buf_add(out, "true", 4);
        break;
    default:
        fr_buf_add(out, "false", 5);
        break;
    }
}

/* The key as fr_map_key gives it, or NULL. */
static char *val_key(const struct val *v)
{
    char buf[40];
    switch (v->t) {
    case V_STR:
        return v->n ? fr_strndup(v->s, v->n) : NULL;
    case V_INT:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, v->i);
        return fr_strdup(buf);
    case V_REAL:
        format_real(v->d, buf, sizeof(buf));
        return fr_strdup(buf);
    default:
        return NULL;
    }
}

/* Replaces *why with the reason of the first failing field in the configured order. */
static void first_reason(struct fr_map *m, json_t *record, char **why)
{
    const struct fr_map_field *fields = m->fields;
    for (size_t i = 0; i < m->n; i++) {
        struct val v;
        char *reason = NULL;
        if (fields[i].from && convert(&fields[i], record, &v, &reason) < 0) {
            free(*why);
            *why = reason;
            return;
        }
    }
}

int fr_map_write(struct fr_map *m, json_t *record, struct fr_buf *out, char **key, char **why)
{
    *key = NULL;
    *why = NULL;
    fr_buf_reset(out);
    fr_buf_addc(out, '{');
    bool first = true;
    for (size_t i = 0; i < m->n; i++) {
        const struct fr_map_field *f = m->sorted[i];
        if (!f->from) {
            if (!m->literal[i])
                continue;
            if (!first)
                fr_buf_addc(out, ',');
            first = false;
            fr_buf_adds(out, m->prefix[i]);
            fr_buf_adds(out, m->literal[i]);
            if (i == m->key && m->literal_key)
                *key = fr_strdup(m->literal_key);
            continue;
        }
        struct val v;
        int rc = convert(f, record, &v, why);
        if (rc < 0) {
            free(*key);
            *key = NULL;
            first_reason(m, record, why);
            return FR_EINVAL;
        }
        if (rc == 0)
            continue;
        if (!first)
            fr_buf_addc(out, ',');
        first = false;
        fr_buf_adds(out, m->prefix[i]);
        put_val(m, out, &v);
        if (i == m->key)
            *key = val_key(&v);
    }
    fr_buf_addc(out, '}');
    return 0;
}

void fr_map_digest(struct fr_map *m, const char *text, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    FR_ASSERT(EVP_DigestInit_ex2(m->md, m->sha256, NULL) == 1 &&
              EVP_DigestUpdate(m->md, text, len) == 1 &&
              EVP_DigestFinal_ex(m->md, md, &mdlen) == 1 && mdlen == 32);
    fr_hex_encode(md, mdlen, out);
}

void fr_map_hash(json_t *payload, char out[65])
{
    char *text = fr_map_canonical(payload);
    fr_sha256_hex(text, strlen(text), out);
    free(text);
}
