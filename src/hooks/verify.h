/*
 * verify.h: webhook signature verification for the schemes ferry accepts.
 *
 * Pure functions: no I/O, no clock reads (the caller passes `now`), no
 * global state. Verification runs over the raw body bytes as received and
 * the header values as received (leading and trailing spaces and tabs
 * removed); MACs are compared in constant time (CRYPTO_memcmp).
 *
 * Schemes (byte-exact with the public specifications):
 *   standard  Standard Webhooks / Svix. Headers webhook-id, webhook-timestamp,
 *             webhook-signature (svix-id, svix-timestamp, svix-signature are
 *             accepted as aliases). Signature: space-separated "v1,<base64>"
 *             entries over "id.timestamp.body". Secret "whsec_<base64>": the
 *             key is the base64-decoded bytes (a secret without the prefix is
 *             decoded as base64 too). Event id: webhook-id.
 *   github    X-Hub-Signature-256: "sha256=<hex>" over the body; key = secret
 *             bytes; no timestamp. Event id: X-GitHub-Delivery, else "".
 *   stripe    Stripe-Signature: "t=<ts>,v1=<hex>[,v1=<hex>...]" (other keys
 *             such as v0 ignored) over "t.body"; key = the whole secret string
 *             ("whsec_" included, not decoded). Event id: the body's
 *             top-level JSON "id" string, else "".
 *   convoy    X-Convoy-Signature: plain "<hex>" over the body, or
 *             "t=<ts>,v1=<hex>[,v1=...]" over "ts,body" (a comma). Event id: "".
 *   hmac      Generic: conf->header carries prefix + hex or base64 of the
 *             HMAC-SHA256; with conf->timestamp_header the content is
 *             "ts.body" and the timestamp is checked. Event id: "".
 *
 * Signature versions a scheme does not know (v0, v2, ...) are skipped. With
 * several secrets (rotation) any one that verifies any known signature is
 * accepted. Timestamps more than the tolerance away from now in either
 * direction are rejected (replay protection).
 *
 * Thread-safe: nothing is shared between calls.
 */
#ifndef FR_HOOKS_VERIFY_H
#define FR_HOOKS_VERIFY_H

#include "core/common.h"

enum fr_verify_scheme {
    FR_VERIFY_STANDARD,
    FR_VERIFY_GITHUB,
    FR_VERIFY_STRIPE,
    FR_VERIFY_CONVOY,
    FR_VERIFY_HMAC,
    FR_VERIFY_SCHEME__COUNT
};

/* Used when fr_verify_conf.tolerance_s is 0 or negative. */
#define FR_VERIFY_DEFAULT_TOLERANCE_S 300

/*
 * All pointers are borrowed for the duration of each call; fr_verify keeps
 * nothing. secrets[0..nsecrets) are NUL-terminated strings.
 */
struct fr_verify_conf {
    enum fr_verify_scheme scheme;
    const char *const *secrets;
    size_t nsecrets;
    int64_t tolerance_s; /* <= 0: FR_VERIFY_DEFAULT_TOLERANCE_S */
    /* hmac scheme only: */
    const char *header;           /* required: the signature header's name */
    bool base64;                  /* MAC encoding: false = hex, true = base64 */
    const char *prefix;           /* optional, e.g. "sha256="; matched ignoring case */
    const char *timestamp_header; /* optional; then the content is "ts.body" */
};

/* A request header as received; both strings borrowed. */
struct fr_header {
    const char *name;
    const char *value;
};

#define FR_VERIFY_RESULT_MAP(X)                                                                    \
    X(OK, "ok")                                                                                    \
    X(MISSING_HEADER, "missing_header")                                                            \
    X(MALFORMED, "malformed")                                                                      \
    X(STALE, "stale")                                                                              \
    X(FUTURE, "future")                                                                            \
    X(MISMATCH, "mismatch")                                                                        \
    X(BAD_SECRET, "bad_secret")                                                                    \
    X(BAD_CONFIG, "bad_config")

enum fr_verify_result {
#define FR_VERIFY_RESULT_ENUM(name, str) FR_VERIFY_##name,
    FR_VERIFY_RESULT_MAP(FR_VERIFY_RESULT_ENUM)
#undef FR_VERIFY_RESULT_ENUM
        FR_VERIFY_RESULT__COUNT
};

/*
 * Verifies a delivery. headers[0..nheaders) are looked up by name ignoring
 * case; the first header of a name wins. body[0..len) is the raw body.
 *
 * Returns FR_VERIFY_OK, or why not:
 *   MISSING_HEADER  a header the scheme needs is absent or empty
 *   MALFORMED       a header is not in the scheme's format (bad timestamp,
 *                   bad hex/base64, no signature of a known version)
 *   STALE, FUTURE   the timestamp is more than the tolerance before/after now
 *   MISMATCH        well-formed, but no secret produces any signature given
 *   BAD_SECRET      no secret configured, or none usable (standard: not base64)
 *   BAD_CONFIG      unknown scheme, or hmac without conf->header
 *
 * event_id (may be NULL when idlen is 0) is a caller-provided buffer of
 * idlen bytes. It always receives a NUL-terminated string: on OK the
 * scheme's event id, or "" when the scheme has none or the id does not fit
 * in idlen - 1 bytes (it is never truncated); on failure "". The caller
 * falls back to a hash of the body for "".
 *
 * reason (may be NULL) receives a static sentence for logs; it never
 * contains secrets, signatures or header values.
 */
enum fr_verify_result fr_verify(const struct fr_verify_conf *conf, const struct fr_header *headers,
                                size_t nheaders, const void *body, size_t len, int64_t now_s,
                                char *event_id, size_t idlen, const char **reason);

/* "standard", "github", "stripe", "convoy", "hmac"; "unknown" otherwise. Static. */
const char *fr_verify_scheme_name(enum fr_verify_scheme scheme);
/* Parses a scheme name (exact, lower case; "svix" is an alias of standard).
 * Returns 0 and sets *out, or FR_EINVAL and leaves *out alone. */
int fr_verify_parse_scheme(const char *name, enum fr_verify_scheme *out);
/* "ok", "mismatch", ... for metrics labels; "unknown" otherwise. Static. */
const char *fr_verify_result_name(enum fr_verify_result result);

/*
 * The signature header value a sender would send for body[0..len) under
 * conf's scheme, signed with secret (borrowed). id (borrowed) is signed only
 * by standard, which requires it (the caller sends it as webhook-id); ts is
 * the unix time for schemes with a timestamp (the caller sends it too). For
 * convoy, ts <= 0 gives the plain hex form, else "t=<ts>,v1=<hex>". For
 * hmac, the timestamp is signed only when conf->timestamp_header is set.
 *
 * Returns a new string the caller frees, or NULL when the secret is unusable
 * (standard: not base64) or conf is invalid. For tests, the bench load
 * generator and the docs.
 */
char *fr_verify_sign(const struct fr_verify_conf *conf, const char *secret, const char *id,
                     int64_t ts, const void *body, size_t len);

#endif
