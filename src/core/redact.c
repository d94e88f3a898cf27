#include "core/common.h"
#include "core/redact.h"

#include <ctype.h>
#include <pthread.h>
#include <strings.h>

#include "core/buf.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t nsecrets;

static const char *const sensitive_names[] = {
    "authorization", "proxy-authorization",
    "client_secret", "access_token",
    "refresh_token", "id_token",
    "password",      "passwd",
    "api_key",       "apikey",
    "x-api-key",     "cookie",
    "set-cookie",    "secret",
};

void fr_redact_add_secret(const char *value)
{
    if (!value || !*value)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            pthread_mutex_unlock(&lock);
            return;
        }
    }
    secrets = fr_reallocarray(secrets, nsecrets + 1, sizeof(*secrets));
    secrets[nsecrets++] = fr_strdup(value);
    pthread_mutex_unlock(&lock);
}

void fr_redact_remove_secret(const char *value)
{
    if (!value)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nsecrets; i++) {
        if (strcmp(secrets[i], value) == 0) {
            free(secrets[i]);
            secrets[i] = secrets[--nsecrets];
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
    secrets = NULL;
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
