#include "core/common.h"
#include "job/map.h"

#include <errno.h>
#include <math.h>
#include <openssl/evp.h>

/* How long a value may be when quoted back in a reason. */
#define QUOTE_MAX 60

/*
 * One conversion per field type: from a non-empty source value (a string
 * as read, or a JSON value) to the payload value, or NULL with *why set.
 */
typedef json_t *(*convert_fn)(const char *field, json_t *v, char **why);

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

static json_t *reject(const char *field, json_t *v, const char *what, char **why)
{
    char *q = quote_value(v);
    *why = fr_asprintf("%s: %s %s", field, q, what);
    free(q);
    return NULL;
}

/* Shortest %g text that reads back as d (what fr_map_key writes for reals). */
static char *format_real(double d)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return fr_strdup(buf);
}

static json_t *to_string(const char *field, json_t *v, char **why)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_incref(v);
    case JSON_INTEGER: {
        char buf[32];
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_string(buf);
    }
    case JSON_REAL: {
        char *s = format_real(json_real_value(v));
        json_t *r = json_string(s);
        free(s);
        return r;
    }
    case JSON_TRUE:
        return json_string("true");
    case JSON_FALSE:
        return json_string("false");
    default:
        return reject(field, v, "is not a string", why);
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
    char buf[64];
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *dot = strchr(buf, '.');
    if (dot)
        *dot = '\0';
    errno = 0;
    long long x = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = (json_int_t)x;
    return true;
}

static json_t *to_number(const char *field, json_t *v, char **why)
{
    if (json_is_number(v))
        return json_incref(v);
    if (!json_is_string(v))
        return reject(field, v, "is not a number", why);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    trim(&s, &n);
    bool has_frac, frac_zero;
    if (!plain_decimal(s, n, &has_frac, &frac_zero))
        return reject(field, v, "is not a number", why);
    json_int_t whole;
    if (!has_frac) {
        if (!parse_whole(s, n, &whole))
            return reject(field, v, "is out of range", why);
        return json_integer(whole);
    }
    if (significant_digits(s, n) > 15)
        return reject(field, v, "has more than 15 significant digits", why);
    char *text = fr_strndup(s, n);
    double d = strtod(text, NULL);
    free(text);
    if (!isfinite(d))
        return reject(field, v, "is out of range", why);
    return json_real(d);
}

static json_t *to_integer(const char *field, json_t *v, char **why)
{
    if (json_is_integer(v))
        return json_incref(v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d))
            return reject(field, v, "is not a whole number", why);
        if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return reject(field, v, "is out of range", why);
        return json_integer((json_int_t)d);
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
    json_int_t whole;
    if (!parse_whole(s, n, &whole))
        return reject(field, v, "is out of range", why);
    return json_integer(whole);
}

static const struct {
    const char *text;
    bool value;
} boolean_words[] = {
    {"true", true}, {"false", false}, {"yes", true}, {"no", false}, {"1", true}, {"0", false},
};

static json_t *to_boolean(const char *field, json_t *v, char **why)
{
    if (json_is_boolean(v))
        return json_incref(v);
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return json_boolean(json_integer_value(v) == 1);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        trim(&s, &n);
        for (size_t i = 0; i < FR_ARRAY_LEN(boolean_words); i++)
            if (strlen(boolean_words[i].text) == n && strncasecmp(s, boolean_words[i].text, n) == 0)
                return json_boolean(boolean_words[i].value);
    }
    return reject(field, v, "is not a boolean (true/false, yes/no, 1/0)", why);
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

static json_t *to_date(const char *field, json_t *v, char **why)
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
    char out[48];
    snprintf(out, sizeof(out), "%04d-%02d-%02d", y, m, d);
    return json_string(out);
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
        json_t *v = json_object_get(record, f->from);
        if (is_empty(v)) {
            if (!f->required)
                continue;
            *why = fr_asprintf("%s: required but empty", f->name);
            break;
        }
        FR_ASSERT((size_t)f->type < FR_ARRAY_LEN(converters) && converters[f->type]);
        json_t *conv = converters[f->type](f->name, v, why);
        if (!conv)
            break;
        json_object_set_new(out, f->name, conv);
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
    char buf[32];
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        return json_string_length(v) ? fr_strndup(json_string_value(v), json_string_length(v))
                                     : NULL;
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return fr_strdup(buf);
    case JSON_REAL:
        return format_real(json_real_value(v));
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

void fr_map_hash_text(const char *text, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    FR_ASSERT(EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < mdlen; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void fr_map_hash(json_t *payload, char out[65])
{
    char *text = fr_map_canonical(payload);
    fr_map_hash_text(text, strlen(text), out);
    free(text);
}
