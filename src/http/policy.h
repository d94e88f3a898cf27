/*
 * policy.h: the failure contract as data, and the Retry-After parser.
 *
 * Everything here is a pure function of its arguments: no clock, no
 * sleeping, no randomness of its own. The classification table in
 * policy.c is the single place that decides what a response means:
 *
 *   2xx               success (a matching body-error rule makes it a failure)
 *   401               refresh the token and retry once; a second 401 fails (auth)
 *   409               duplicate: idempotent success
 *   429               rate limited: wait Retry-After or back off, retry
 *   5xx, timeout, reset, truncated or unparsable body: transient, retry
 *   other 4xx         rejected: never retried
 *
 * A verdict is also *in doubt* when the request was sent but no complete
 * answer came back (reset or close after the request was written, a
 * timeout after sending, a truncated or unparsable body, 502, 504, or a
 * re-send libcurl wanted to make on its own): the API may have acted, so
 * the request must not be resent blindly (docs/http.md).
 *
 * A second table, the hand-off table, classifies a request whose caller
 * owns every retry (webhook delivery, fr_http_post_once): 2xx is done, and
 * any other status or transport failure is a failed attempt the caller
 * retries (FR_ACT_FAIL: nothing is retried below it, 401 and 409 included).
 */
#ifndef FR_HTTP_POLICY_H
#define FR_HTTP_POLICY_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "http/http_conf.h"

/* What happened on the wire, before any HTTP status could be read. */
enum fr_transport {
    FR_TR_OK,        /* a complete response arrived */
    FR_TR_TIMEOUT,   /* connect or total timeout */
    FR_TR_CONNECT,   /* could not connect (refused, unreachable, DNS) */
    FR_TR_RESET,     /* connection closed or reset without a full response */
    FR_TR_TRUNCATED, /* body shorter than announced */
    FR_TR_TLS,       /* certificate or handshake failure: not transient */
    FR_TR_RESEND,    /* the connection died after the request was written and libcurl
                        wanted to send it again on a new one; refused, so it was not */
    FR_TR_OTHER,     /* any other transfer failure: treated as transient */
};

enum fr_class {
    FR_CLASS_SUCCESS,
    FR_CLASS_DUPLICATE,    /* 409 */
    FR_CLASS_AUTH,         /* 401 */
    FR_CLASS_RATE_LIMITED, /* 429 */
    FR_CLASS_TRANSIENT,    /* 5xx, transport failures, unparsable body */
    FR_CLASS_BODY_ERROR,   /* 2xx whose body matched a body-error rule */
    FR_CLASS_REJECTED,     /* other 4xx, and anything not worth retrying */
};

enum fr_action {
    FR_ACT_DONE,          /* final: success or duplicate */
    FR_ACT_RETRY,         /* back off (or honour Retry-After) and send again */
    FR_ACT_REFRESH_RETRY, /* drop the token, fetch a new one, send again */
    FR_ACT_FAIL,          /* final: a failure */
};

enum fr_body_rule_hit {
    FR_BODY_RULE_NONE,
    FR_BODY_RULE_RETRY,    /* matched a rule with retry: true (the default) */
    FR_BODY_RULE_NO_RETRY, /* matched a rule with retry: false */
};

struct fr_classify_in {
    enum fr_transport transport;
    int status;           /* HTTP status when transport is FR_TR_OK */
    bool body_unparsable; /* a 2xx that should be JSON and is not */
    enum fr_body_rule_hit body_rule;
    bool auth_retried; /* a 401 was already answered by a refresh */
    bool sent;         /* request bytes went out (transport failures: after or before) */
};

struct fr_verdict {
    enum fr_class cls;
    enum fr_action action;
    bool in_doubt;      /* sent, no complete answer: the target may have acted */
    const char *reason; /* static text for logs: "server error", "rate limited", ... */
};

struct fr_verdict fr_classify(const struct fr_classify_in *in);
/* The hand-off table: 2xx done, anything else a failed attempt its caller retries. */
struct fr_verdict fr_classify_handoff(const struct fr_classify_in *in);
/* "success", "duplicate", "auth", "rate_limited", "transient", "body_error", "rejected". */
const char *fr_class_name(enum fr_class cls);

/*
 * Checks a parsed 2xx body against the rules. Returns the first rule that
 * matches (borrowed) or NULL. When message is not NULL and the rule names a
 * message pointer that resolves to a string, *message is set to it
 * (borrowed from body).
 */
const struct fr_body_rule *fr_body_rules_match(const struct fr_body_rule *rules, size_t n,
                                               json_t *body, const char **message);

/*
 * Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"; RFC 850 and asctime forms too),
 * relative to now_wall_ms. A date in the past gives 0. Returns FR_EINVAL
 * for anything else (negative, fractional, garbage, empty, an impossible
 * date such as 31 Feb). Whitespace around the value (OWS, and a stray CR/LF
 * from a raw header line) is ignored. Delta-seconds beyond INT32_MAX clamp
 * to INT32_MAX seconds rather than overflow. Dates are parsed here, not by
 * curl_getdate(), which accepts far more than RFC 9110 allows.
 */
int fr_parse_retry_after(const char *value, int64_t now_wall_ms, int64_t *delay_ms);

#endif
