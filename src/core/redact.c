#include "core/common.h"
#include "core/redact.h"

#include <ctype.h>
#include <pthread.h>
#include <strings.h>

#include "core/buf.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* The registered values, each with how many times it was added and not yet removed. */
static char **secrets;
static size_t *refs;
static size_t nsecrets;

static const char *const sensitive_names[] = {
    "authorization", "proxy-authorization",
    "client_secret", "access_token",
    "refresh_token", "id_token",
    "password",      "passwd",
    "api_key",       "apikey",
    "x-api-key",     "cookie",
    "set-cookie",    "secret",
    "sslpassword",
};

void fr_redact_add_secret(const char *value)
{
    if (!value || !*value)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            refs[i]++;
            pthread_mutex_unlock(&lock);
            return;
        }
    }
    secrets = fr_reallocarray(secrets, nsecrets + 1, sizeof(*secrets));
    refs = fr_reallocarray(refs, nsecrets + 1, sizeof(*refs));
    secrets[nsecrets] = fr_strdup(value);
    refs[nsecrets++] = 1;
    pthread_mutex_unlock(&lock);
}

void fr_redact_remove_secret(const char *value)
{
    if (!value)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            if (--refs[i] == 0) {
                free(secrets[i]);
                nsecrets--;
                secrets[i] = secrets[nsecrets];
                refs[i] = refs[nsecrets];
            }
            break;
        }
    }
    pthread_mutex_unlock(&lock);
}

void fr_redact_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    free(secrets);
    free(refs);
    secrets = NULL;
    refs = NULL;
    nsecrets = 0;
    pthread_mutex_unlock(&lock);
}

bool fr_redact_is_sensitive_name(const char *name, size_t len)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(sensitive_names); i++) {
        if (strlen(sensitive_names[i]) == len && strncasecmp(sensitive_names[i], name, len) == 0)
            return true;
    }
    return false;
}

/*
 * Replaces every registered secret in text with the marker: at each
 * position the longest secret that starts there. Text between hits is
 * copied in runs; only positions whose byte starts some secret are compared.
 */
static char *replace_secrets(const char *text, size_t len)
{
    struct fr_buf out = FR_BUF_INIT;
    pthread_mutex_lock(&lock);
    bool first[256] = {false};
    for (size_t k = 0; k < nsecrets; k++)
        first[(unsigned char)secrets[k][0]] = true;
    size_t i = 0, done = 0; /* text[0..done) is in out */
    while (i < len) {
        size_t hit = 0;
        if (first[(unsigned char)text[i]]) {
            for (size_t k = 0; k < nsecrets; k++) {
                size_t sl = strlen(secrets[k]);
                if (sl <= len - i && sl > hit && memcmp(text + i, secrets[k], sl) == 0)
                    hit = sl;
            }
        }
        if (hit) {
            fr_buf_add(&out, text + done, i - done);
            fr_buf_adds(&out, FR_REDACTED);
            i += hit;
            done = i;
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&lock);
    fr_buf_add(&out, text + done, len - done);
    return fr_buf_detach(&out, NULL);
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/*
 * The quote opening at text[j], or NULL: a JSON or single quote, or an
 * escaped \" (a JSON document carried inside a JSON string, as error
 * bodies that wrap an upstream response do).
 */
static const char *quote_at(const char *text, size_t len, size_t j)
{
    if (j < len && (text[j] == '"' || text[j] == '\''))
        return text[j] == '"' ? "\"" : "'";
    if (j + 1 < len && text[j] == '\\' && text[j + 1] == '"')
        return "\\\"";
    return NULL;
}

/*
 * At text[i] a sensitive name was found followed by a separator; returns
 * the index where its value ends. Quoted values end at the closing quote
 * (honouring backslash escapes, on both levels for an escaped \"...\");
 * header values (name followed by ':' and not quoted) run to the end of
 * the line; others end at a delimiter.
 */
static size_t value_end(const char *text, size_t len, size_t i, const char *quote, bool header)
{
    if (quote && quote[0] == '\\') {
        bool inner_escape = false;
        while (i < len && text[i] != '"') {
            char c = text[i];
            size_t step = 1;
            if (c == '\\' && i + 1 < len) {
                c = text[i + 1];
                step = 2;
            }
            if (step == 2 && c == '"' && !inner_escape)
                return i;
            inner_escape = step == 2 && c == '\\' && !inner_escape;
            i += step;
        }
        return i;
    }
    if (quote) {
        while (i < len && text[i] != quote[0]) {
            if (text[i] == '\\' && i + 1 < len)
                i++;
            i++;
        }
        return i;
    }
    if (header) {
        while (i < len && text[i] != '\r' && text[i] != '\n')
            i++;
        return i;
    }
    while (i < len && !strchr("&,;}] \t\r\n\"'", text[i]))
        i++;
    return i;
}

/* Masks values of sensitive names and Bearer/Basic credentials; the rest is copied in runs. */
static char *mask_fields(const char *text, size_t len)
{
    struct fr_buf out = FR_BUF_INIT;
    size_t i = 0, done = 0; /* text[0..done) is in out */
    while (i < len) {
        /* A name starts where the previous char is not a name char. */
        if (is_name_char(text[i]) && (i == 0 || !is_name_char(text[i - 1]))) {
            size_t start = i, end = i;
            while (end < len && is_name_char(text[end]))
                end++;
            const char *name = text + start;
            size_t nlen = end - start;
            if ((nlen == 6 && strncasecmp(name, "Bearer", 6) == 0) ||
                (nlen == 5 && strncasecmp(name, "Basic", 5) == 0)) {
                size_t j = end;
                while (j < len && text[j] == ' ')
                    j++;
                if (j > end && j < len && !strchr("\r\n\"", text[j])) {
                    size_t v = j;
                    while (v < len && !strchr(" \t\r\n\",;}", text[v]))
                        v++;
                    if (v - j != strlen(FR_REDACTED) || memcmp(text + j, FR_REDACTED, v - j)) {
                        fr_buf_add(&out, text + done, j - done);
                        fr_buf_adds(&out, FR_REDACTED);
                        i = done = v;
                        continue;
                    }
                }
            } else if (fr_redact_is_sensitive_name(name, nlen)) {
                size_t j = end;
                const char *name_quote = quote_at(text, len, j);
                bool was_quoted_name = name_quote != NULL;
                if (name_quote)
                    j += strlen(name_quote);
                while (j < len && text[j] == ' ')
                    j++;
                if (j < len && (text[j] == ':' || text[j] == '=')) {
                    bool header = text[j] == ':' && !was_quoted_name;
                    j++;
                    while (j < len && (text[j] == ' ' || text[j] == '\t'))
                        j++;
                    const char *quote = quote_at(text, len, j);
                    if (quote)
                        j += strlen(quote);
                    size_t mark = strlen(FR_REDACTED);
                    if (len - j >= mark && memcmp(text + j, FR_REDACTED, mark) == 0) {
                        i = j + mark; /* masked already */
                        continue;
                    }
                    size_t v = value_end(text, len, j, quote, header);
                    fr_buf_add(&out, text + done, j - done);
                    if (v > j)
                        fr_buf_adds(&out, FR_REDACTED);
                    i = done = v;
                    continue;
                }
            }
            i = end;
            continue;
        }
        i++;
    }
    fr_buf_add(&out, text + done, len - done);
    return fr_buf_detach(&out, NULL);
}

char *fr_redact_mem(const char *text, size_t len)
{
    char *step = replace_secrets(text, len);
    char *out = mask_fields(step, strlen(step));
    free(step);
    return out;
}

char *fr_redact_str(const char *s)
{
    return s ? fr_redact_mem(s, strlen(s)) : NULL;
}

/* ---- excerpts ---------------------------------------------------------------------------- */

char *fr_redact_excerpt(const char *text, size_t len, size_t max)
{
    size_t window = FR_MIN(len, max + FR_REDACT_EXCERPT_SLACK);
    char *safe = fr_redact_mem(text, window);
    size_t n = strlen(safe);
    bool cut = len > window || n > max;
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)safe[n] & 0xC0) == 0x80) /* a whole UTF-8 character */
            n--;
    }
    struct fr_buf out = FR_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        fr_buf_addc(&out, (unsigned char)safe[i] < 0x20 ? ' ' : safe[i]);
    if (cut)
        fr_buf_adds(&out, "...");
    free(safe);
    return fr_buf_detach(&out, NULL);
}

char *fr_redact_excerpt_tail(const char *text, size_t len, size_t max)
{
    size_t window = FR_MIN(len, max + FR_REDACT_EXCERPT_SLACK);
    char *safe = fr_redact_mem(text + len - window, window);
    size_t n = strlen(safe), start = 0;
    bool cut = len > window || n > max;
    if (n > max) {
        start = n - max;
        while (start < n && ((unsigned char)safe[start] & 0xC0) == 0x80)
            start++;
    }
    struct fr_buf out = FR_BUF_INIT;
    if (cut)
        fr_buf_adds(&out, "...");
    for (size_t i = start; i < n; i++)
        fr_buf_addc(&out, (unsigned char)safe[i] < 0x20 ? ' ' : safe[i]);
    free(safe);
    return fr_buf_detach(&out, NULL);
}

/* ---- URLs -------------------------------------------------------------------------------- */

struct span {
    size_t start, end; /* url[start..end) */
};

#define MAX_SPANS 8

/* The credential parameters of a URL's query or of a libpq conninfo string. */
static bool is_password_param(const char *name, size_t len)
{
    return (len == 8 && strncasecmp(name, "password", 8) == 0) ||
           (len == 11 && strncasecmp(name, "sslpassword", 11) == 0);
}

/*
 * Where url holds a credential: the password of its userinfo, and the value
 * of each password=/sslpassword= parameter (query or conninfo). Returns how
 * many spans were found, at most MAX_SPANS.
 *
 * The userinfo password runs from the first ':' after "scheme://" to the
 * last '@', wider than in a valid URL on purpose: a password holding a raw
 * '@', '/', '?' or '#' (libpq takes some of those) is covered whole, at
 * worst with a port or path. Without "://" ("app:pw@host", a scheme
 * forgotten or mistyped), from the first ':' to the last '@'.
 */
static size_t credential_spans(const char *url, struct span *out)
{
    size_t n = 0, len = strlen(url);
    const char *sep = strstr(url, "://");
    const char *authority = sep ? sep + 3 : url;
    const char *at = strrchr(authority, '@');
    const char *colon = at ? memchr(authority, ':', (size_t)(at - authority)) : NULL;
    if (colon && at > colon + 1)
        out[n++] = (struct span){(size_t)(colon + 1 - url), (size_t)(at - url)};
    for (size_t i = 0; i < len && n < MAX_SPANS; i++) {
        if (i > 0 && !strchr("?&; \t", url[i - 1]))
            continue;
        size_t e = i;
        while (e < len && (isalnum((unsigned char)url[e]) || url[e] == '_'))
            e++;
        if (e >= len || url[e] != '=' || !is_password_param(url + i, e - i))
            continue;
        size_t v = e + 1, end;
        if (v < len && url[v] == '\'') { /* conninfo: 'a quoted value' */
            end = ++v;
            while (end < len && url[end] != '\'') {
                if (url[end] == '\\' && end + 1 < len)
                    end++;
                end++;
            }
        } else {
            end = v;
            while (end < len && !strchr("& \t#", url[end]))
                end++;
        }
        if (end > v)
            out[n++] = (struct span){v, end};
        i = end;
    }
    return n;
}

static bool overlaps(const struct span *spans, size_t n, size_t start, size_t end)
{
    for (size_t i = 0; i < n; i++)
        if (start < spans[i].end && spans[i].start < end)
            return true;
    return false;
}

char *fr_redact_url(const char *url)
{
    if (!url)
        return NULL;
    struct span spans[MAX_SPANS];
    size_t n = credential_spans(url, spans);
    /* In order of start (a handful: insertion sort); overlapping spans are masked as one. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && spans[j].start < spans[j - 1].start; j--) {
            struct span t = spans[j];
            spans[j] = spans[j - 1];
            spans[j - 1] = t;
        }
    struct fr_buf b = FR_BUF_INIT;
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (spans[i].start < done) {
            done = FR_MAX(done, spans[i].end);
            continue;
        }
        fr_buf_add(&b, url + done, spans[i].start - done);
        fr_buf_adds(&b, FR_REDACTED);
        done = spans[i].end;
    }
    fr_buf_adds(&b, url + done);
    char *out = fr_redact_str(fr_buf_str(&b));
    fr_buf_release(&b);
    return out;
}

char *fr_redact_url_path(const char *url)
{
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep)
        return fr_strdup(FR_REDACTED);
    const char *authority = sep + 3;
    const char *end = authority + strcspn(authority, "/?#");
    const char *host = authority;
    for (const char *p = authority; p < end; p++)
        if (*p == '@')
            host = p + 1;
    return fr_asprintf("%.*s%.*s%s", (int)(authority - url), url, (int)(end - host), host,
                       *end ? "/" FR_REDACTED : "");
}

/* %XX decoded, or NULL when s[0..len) holds no valid escape to decode. */
static char *percent_decoded(const char *s, size_t len)
{
    if (!memchr(s, '%', len))
        return NULL;
    struct fr_buf b = FR_BUF_INIT;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            fr_buf_addc(&b, (char)strtol(hex, NULL, 16));
            i += 2;
        } else {
            fr_buf_addc(&b, s[i]);
        }
    }
    char *out = fr_buf_detach(&b, NULL);
    if (strlen(out) == len && memcmp(out, s, len) == 0) {
        free(out);
        return NULL;
    }
    return out;
}

void fr_redact_add_url_credentials(const char *url)
{
    if (!url)
        return;
    struct span spans[MAX_SPANS];
    size_t n = credential_spans(url, spans);
    for (size_t i = 0; i < n; i++) {
        size_t len = spans[i].end - spans[i].start;
        if (len < FR_REDACT_MIN_URL_SECRET)
            continue;
        char *raw = fr_strndup(url + spans[i].start, len);
        char *decoded = percent_decoded(raw, len);
        fr_redact_add_secret(raw);
        if (decoded && strlen(decoded) >= FR_REDACT_MIN_URL_SECRET)
            fr_redact_add_secret(decoded);
        explicit_bzero(raw, len);
        free(raw);
        if (decoded) {
            explicit_bzero(decoded, strlen(decoded));
            free(decoded);
        }
    }
}

char *fr_redact_url_quotes(const char *msg, const char *url)
{
    if (!msg)
        return NULL;
    struct span spans[MAX_SPANS];
    size_t n = url ? credential_spans(url, spans) : 0;
    struct fr_buf b = FR_BUF_INIT;
    const char *p = msg;
    for (;;) {
        const char *open = strchr(p, '"');
        const char *close = open ? strchr(open + 1, '"') : NULL;
        if (!close)
            break;
        size_t qlen = (size_t)(close - open - 1);
        bool secret = false;
        if (qlen && n) {
            size_t ulen = strlen(url);
            for (const char *hit = url; !secret && hit < url + ulen; hit++) {
                hit = memmem(hit, (size_t)(url + ulen - hit), open + 1, qlen);
                if (!hit)
                    break;
                secret = overlaps(spans, n, (size_t)(hit - url), (size_t)(hit - url) + qlen);
            }
        }
        fr_buf_add(&b, p, (size_t)(open + 1 - p));
        if (secret)
            fr_buf_adds(&b, FR_REDACTED);
        else
            fr_buf_add(&b, open + 1, qlen);
        fr_buf_addc(&b, '"');
        p = close + 1;
    }
    fr_buf_adds(&b, p);
    return fr_buf_detach(&b, NULL);
}
