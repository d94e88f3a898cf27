#include "core/common.h"
#include "http/auth.h"

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"
#include "core/redact.h"

void fr_token_cache_init(struct fr_token_cache *c, int64_t refresh_before_ms)
{
    memset(c, 0, sizeof(*c));
    c->refresh_before_ms = refresh_before_ms;
}

static void forget(char *token)
{
    if (token) {
        fr_redact_remove_secret(token);
        free(token);
    }
}

/* The current token leaves, still registered: the oldest retired one is forgotten instead. */
static void retire(struct fr_token_cache *c)
{
    if (!c->access_token)
        return;
    forget(c->retired[c->next_retired]);
    c->retired[c->next_retired] = c->access_token;
    c->next_retired = (c->next_retired + 1) % FR_TOKEN_RETIRED_KEEP;
    c->access_token = NULL;
}

void fr_token_cache_release(struct fr_token_cache *c)
{
    forget(c->access_token);
    c->access_token = NULL;
    for (size_t i = 0; i < FR_TOKEN_RETIRED_KEEP; i++) {
        forget(c->retired[i]);
        c->retired[i] = NULL;
    }
}

/* When to refresh: refresh_before ahead of expiry, but at most half the lifetime ahead. */
static int64_t refresh_at(const struct fr_token_cache *c)
{
    int64_t lifetime = c->expires_at_ms - c->fetched_at_ms;
    int64_t ahead = FR_MIN(c->refresh_before_ms, lifetime / 2);
    return c->expires_at_ms - ahead;
}

enum fr_token_state fr_token_cache_state(const struct fr_token_cache *c, int64_t now_ms)
{
    bool have = c->access_token && now_ms < c->expires_at_ms;
    if (c->refreshing)
        return have ? FR_TOKEN_VALID : FR_TOKEN_WAIT;
    if (!have || now_ms >= refresh_at(c))
        return FR_TOKEN_REFRESH_NOW;
    return FR_TOKEN_VALID;
}

void fr_token_cache_begin(struct fr_token_cache *c)
{
    c->refreshing = true;
}

void fr_token_cache_set(struct fr_token_cache *c, const char *token, int64_t expires_in_s,
                        int64_t now_ms)
{
    retire(c);
    c->access_token = fr_strdup(token);
    /* Tokens are registered secrets: they never reach a log line. */
    fr_redact_add_secret(token);
    if (expires_in_s <= 0)
        expires_in_s = FR_TOKEN_DEFAULT_LIFETIME_S;
    expires_in_s = FR_MIN(expires_in_s, FR_TOKEN_MAX_LIFETIME_S);
    c->fetched_at_ms = now_ms;
    c->expires_at_ms = now_ms + expires_in_s * 1000;
    c->generation++;
    c->refreshing = false;
}

void fr_token_cache_fail(struct fr_token_cache *c)
{
    c->refreshing = false;
}

bool fr_token_cache_invalidate(struct fr_token_cache *c, uint64_t generation)
{
    if (generation != c->generation || !c->access_token)
        return false;
    retire(c);
    return true;
}

static void add_form_field(struct fr_buf *b, const char *name, const char *value)
{
    char *enc = curl_easy_escape(NULL, value, 0);
    if (!enc)
        fr_die(__FILE__, __LINE__, "curl_easy_escape failed");
    fr_buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, enc);
    curl_free(enc);
}

char *fr_auth_token_request_body(const struct fr_auth_conf *auth)
{
    struct fr_buf b = FR_BUF_INIT;
    add_form_field(&b, "grant_type", "client_credentials");
    add_form_field(&b, "client_id", auth->client_id ? auth->client_id : "");
    add_form_field(&b, "client_secret", auth->client_secret ? auth->client_secret : "");
    if (auth->scope && *auth->scope)
        add_form_field(&b, "scope", auth->scope);
    return fr_buf_detach(&b, NULL);
}

/*
 * expires_in as a lifetime in seconds: compared as a double before any
 * conversion, so a value past int64_t (9223372036854775807, 1e300, a string
 * of forty digits) is the cap, never an overflow.
 */
static int64_t lifetime(const json_t *exp)
{
    double secs = 0;
    if (json_is_integer(exp))
        secs = (double)json_integer_value(exp);
    else if (json_is_real(exp))
        secs = json_real_value(exp);
    else if (json_is_string(exp)) /* some servers send "3600" */
        secs = strtod(json_string_value(exp), NULL);
    if (!(secs >= 1)) /* absent, zero, negative, NaN */
        return FR_TOKEN_DEFAULT_LIFETIME_S;
    return secs >= (double)FR_TOKEN_MAX_LIFETIME_S ? FR_TOKEN_MAX_LIFETIME_S : (int64_t)secs;
}

int fr_auth_parse_token_response(const char *body, size_t len, char **token, int64_t *expires_in_s,
                                 struct fr_err *err)
{
    json_t *j = json_loadb(body ? body : "", len, 0, NULL);
    json_t *tok = json_object_get(j, "access_token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        json_decref(j);
        return fr_err_set(err, FR_EPARSE, 0,
                          "token response is not JSON with a non-empty access_token");
    }
    *token = fr_strdup(json_string_value(tok));
    *expires_in_s = lifetime(json_object_get(j, "expires_in"));
    json_decref(j);
    return 0;
}

const char *fr_auth_error_code(const char *body, size_t len)
{
    static _Thread_local char code[64];
    json_t *j = json_loadb(body ? body : "", len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    const char *result = NULL;
    if (json_is_string(e)) {
        fr_strlcpy(code, json_string_value(e), sizeof(code));
        result = code;
    }
    json_decref(j);
    return result;
}
