#include "core/common.h"
#include "mock/mock.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>

#include "mock/mock_int.h"

#define FIELD_MAX 1024

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decodes one application/x-www-form-urlencoded component of len bytes.
 * Returns a new string (caller frees), or NULL on bad percent-encoding,
 * an embedded NUL or a value over FIELD_MAX.
 */
static char *form_decode(const char *s, size_t len)
{
    if (len > FIELD_MAX)
        return NULL;
    char *out = fr_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

/* The decoded value of the first field called name in body; caller frees; NULL if absent. */
static char *form_get(const char *body, const char *name, bool *bad)
{
    size_t nlen = strlen(name);
    const char *p = body;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == nlen && memcmp(p, name, nlen) == 0) {
            char *v = form_decode(eq + 1, len - nlen - 1);
            if (!v)
                *bad = true;
            return v;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return NULL;
}

/* Splits "Basic base64(id:secret)" into new strings; false when absent or malformed. */
static bool basic_credentials(const char *auth, char **id, char **secret)
{
    if (!auth || strncasecmp(auth, "Basic ", 6) != 0)
        return false;
    const char *b64 = auth + 6;
    while (*b64 == ' ')
        b64++;
    size_t len = strlen(b64);
    if (len == 0 || len % 4 != 0 || len > 4 * FIELD_MAX)
        return false;
    unsigned char *raw = fr_malloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    if (n < 0) {
        free(raw);
        return false;
    }
    /* EVP_DecodeBlock counts the '=' padding as zero bytes. */
    if (len >= 1 && b64[len - 1] == '=')
        n--;
    if (len >= 2 && b64[len - 2] == '=')
        n--;
    raw[n] = '\0';
    char *colon = memchr(raw, ':', (size_t)n);
    if (!colon || memchr(raw, '\0', (size_t)n)) {
        free(raw);
        return false;
    }
    *id = fr_strndup((char *)raw, (size_t)(colon - (char *)raw));
    *secret = fr_strdup(colon + 1);
    free(raw);
    return true;
}

static bool secure_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* Locked. Which revocation period a time falls in (0 when revocation is off). */
static int64_t revoke_epoch(const struct fr_mock *m, int64_t t)
{
    if (m->faults.revoke_every_ms <= 0)
        return 0;
    return (t - m->started_ms) / m->faults.revoke_every_ms;
}

static bool token_live(const struct fr_mock *m, int64_t issued, int64_t now)
{
    return now < issued + m->faults.token_ttl_ms && revoke_epoch(m, issued) == revoke_epoch(m, now);
}

/* Locked. Drops dead tokens once the table is full; clears it if all are live. */
static void prune_tokens(struct fr_mock *m, int64_t now)
{
    if (json_object_size(m->tokens) < FR__MOCK_TOKENS_MAX)
        return;
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(m->tokens, tmp, key, v)
    {
        if (!token_live(m, json_integer_value(v), now))
            json_object_del(m->tokens, key);
    }
    if (json_object_size(m->tokens) >= FR__MOCK_TOKENS_MAX)
        json_object_clear(m->tokens);
}

static void issue_token(struct fr_mock *m, struct fr__mock_reply *out)
{
    unsigned char raw[20];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        fr__mock_error(out, 500, "server_error", "no randomness for a token");
        return;
    }
    /* A fixed prefix lets the test suite search its whole output for a leaked token. */
    char token[sizeof(FR_MOCK_TOKEN_PREFIX) + 2 * sizeof(raw)];
    memcpy(token, FR_MOCK_TOKEN_PREFIX, sizeof(FR_MOCK_TOKEN_PREFIX) - 1);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(token + sizeof(FR_MOCK_TOKEN_PREFIX) - 1 + 2 * i, 3, "%02x", raw[i]);
    int64_t now = fr_now_ms();
    pthread_mutex_lock(&m->lock);
    prune_tokens(m, now);
    json_object_set_new(m->tokens, token, json_integer(now));
    m->tokens_issued++;
    int64_t ttl_s = (m->faults.token_ttl_ms + 999) / 1000;
    pthread_mutex_unlock(&m->lock);
    out->status = 200;
    out->body = json_pack("{s:s,s:s,s:I}", "access_token", token, "token_type", "Bearer",
                          "expires_in", (json_int_t)ttl_s);
}

void fr__mock_handle_token(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    const char *body = fr_buf_str(rq->body);
    bool bad = false;
    char *grant = form_get(body, "grant_type", &bad);
    char *id = form_get(body, "client_id", &bad);
    char *secret = form_get(body, "client_secret", &bad);
    const char *auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
    char *bid, *bsecret;
    if (basic_credentials(auth, &bid, &bsecret)) {
        free(id);
        free(secret);
        id = bid;
        secret = bsecret;
    }
    if (bad)
        fr__mock_error(out, 400, "invalid_request", "malformed form body");
    else if (!grant || strcmp(grant, "client_credentials") != 0)
        fr__mock_error(out, 400, "unsupported_grant_type", NULL);
    else if (!id || !secret || !secure_eq(id, m->client_id) || !secure_eq(secret, m->client_secret))
        fr__mock_error(out, 401, "invalid_client", NULL);
    else
        issue_token(m, out);
    free(grant);
    free(id);
    free(secret);
}

bool fr__mock_token_ok(struct fr_mock *m, struct fr__mock_req *rq)
{
    const char *auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    int64_t now = fr_now_ms();
    pthread_mutex_lock(&m->lock);
    json_t *issued = json_object_get(m->tokens, token);
    bool ok = issued && token_live(m, json_integer_value(issued), now);
    pthread_mutex_unlock(&m->lock);
    return ok;
}
