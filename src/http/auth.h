/*
 * auth.h: credentials for a target's requests.
 *
 * The token cache is a pure state machine for OAuth2 client credentials:
 * the HTTP client asks it what to do at `now`, fetches when told, and
 * reports back. It guarantees one refresh at a time however many requests
 * wait, refreshes `refresh_before` ahead of expiry (never more than half
 * the token's lifetime ahead, so a short-lived token is not refetched in a
 * loop), and drops a token on 401 only if it is the one the request used,
 * so a burst of 401s causes one refresh, not one each.
 */
#ifndef FR_HTTP_AUTH_H
#define FR_HTTP_AUTH_H

#include "core/common.h"

#include "http/http_conf.h"
#include "core/error.h"

/* expires_in assumed when a token response has none. */
#define FR_TOKEN_DEFAULT_LIFETIME_S 3600
/* The longest lifetime believed (30 days): a token said to live longer is fetched again then. */
#define FR_TOKEN_MAX_LIFETIME_S (30LL * 24 * 3600)

enum fr_token_state {
    FR_TOKEN_VALID,       /* use fr_token_cache.access_token */
    FR_TOKEN_REFRESH_NOW, /* no usable token and no fetch running: start one */
    FR_TOKEN_WAIT,        /* a fetch is running: wait for it */
};

/*
 * Replaced tokens kept registered with the redactor: an answer to a request
 * still on the wire with one of them may quote it.
 */
#define FR_TOKEN_RETIRED_KEEP 4

struct fr_token_cache {
    char *access_token;                   /* NULL when none; registered with the redactor */
    char *retired[FR_TOKEN_RETIRED_KEEP]; /* the last tokens replaced or dropped, registered */
    size_t next_retired;
    int64_t fetched_at_ms;
    int64_t expires_at_ms;
    int64_t refresh_before_ms;
    uint64_t generation; /* increments with every token stored */
    bool refreshing;
};

void fr_token_cache_init(struct fr_token_cache *c, int64_t refresh_before_ms);
/* Frees the token and the retired ones, and unregisters them. */
void fr_token_cache_release(struct fr_token_cache *c);
/* What a request should do now (see enum). */
enum fr_token_state fr_token_cache_state(const struct fr_token_cache *c, int64_t now_ms);
/* Marks a fetch as running. */
void fr_token_cache_begin(struct fr_token_cache *c);
/* Stores a fetched token (copied) valid for expires_in_s from now. */
void fr_token_cache_set(struct fr_token_cache *c, const char *token, int64_t expires_in_s,
                        int64_t now_ms);
/* Marks the running fetch as failed; the cache stays as it was. */
void fr_token_cache_fail(struct fr_token_cache *c);
/*
 * A request that used token generation `generation` got a 401. Drops the
 * token if it is still the current one and returns true (the caller logs
 * and refreshes); returns false when a newer token already replaced it.
 */
bool fr_token_cache_invalidate(struct fr_token_cache *c, uint64_t generation);

/*
 * The form body of a client-credentials token request
 * (grant_type, client_id, client_secret, scope), URL-encoded. Caller frees.
 * It holds the secret: never log it.
 */
char *fr_auth_token_request_body(const struct fr_auth_conf *auth);

/*
 * Parses a token endpoint's 200 body. On success *token is the access token
 * (caller frees) and *expires_in_s its lifetime: expires_in as an integer,
 * a number or a string of digits, at most FR_TOKEN_MAX_LIFETIME_S;
 * FR_TOKEN_DEFAULT_LIFETIME_S when absent, not positive or unreadable.
 * FR_EPARSE when the body is not JSON or has no access_token.
 */
int fr_auth_parse_token_response(const char *body, size_t len, char **token, int64_t *expires_in_s,
                                 struct fr_err *err);

/*
 * The OAuth2 error code of a failed token response ("invalid_client"), or
 * NULL. Borrowed from a static copy valid until the next call on this thread.
 */
const char *fr_auth_error_code(const char *body, size_t len);

#endif
