/*
 * retry.h: what happens after an attempt, as a pure function; the backoff
 * it draws; and the retry budget a retry answers to when it is due.
 *
 * The decision. After every attempt the client (client.c) hands
 * fr_retry_decide the verdict of policy.c's table on the attempt's outcome
 * and what it knows of the request, and executes the answer:
 *
 *   verdict                                         decision
 *   FR_ACT_DONE                                     DONE
 *   FR_ACT_FAIL                                     GIVE_UP (FR_GIVE_UP_FINAL)
 *   FR_ACT_REFRESH_RETRY                            REFRESH: drop the token, fetch a new
 *                                                   one, send again first in line, at once
 *   FR_ACT_RETRY, in doubt, resolve_doubt, not      IN_DOUBT: final (FR_EINDOUBT); the
 *     idempotent                                    caller asks the target, nothing resent
 *   FR_ACT_RETRY, attempts >= max_attempts          GIVE_UP (FR_GIVE_UP_ATTEMPTS)
 *   FR_ACT_RETRY, elapsed + delay > max_elapsed     GIVE_UP (FR_GIVE_UP_ELAPSED)
 *   FR_ACT_RETRY otherwise                          AFTER: send again in delay_ms
 *
 * checked in that order: an in-doubt outcome goes back to its caller before
 * any limit is looked at. "Only once" for a 401 is the classification's
 * (a 401 after a refresh is FR_ACT_FAIL there), so REFRESH is never
 * limited here.
 *
 * The delay of a retry, computed before the limits are checked:
 *   - a 429 with a Retry-After that parses (fr_parse_retry_after: seconds,
 *     or an HTTP-date relative to now_wall_ms): that many ms, at most cap;
 *   - otherwise full-jitter backoff (fr_backoff_delay) for retry number
 *     `attempts`, from one draw of the random source. A Retry-After on any
 *     other status is not used; one on a 429 that does not parse sets
 *     retry_after_ignored (the caller logs it) and the backoff is used.
 * The random source is drawn only for a backoff, at most once per call.
 *
 * The budget. Retries may add at most `ratio` of the first attempts sent
 * in the last 60 s, with a floor of FR_BUDGET_MIN_RETRIES per minute so a
 * small job can still retry. It counts what is sent, so it is asked when a
 * retry is due to go out, not when the retry is decided (a hundred failures
 * decided at once would all see room): the client asks
 * fr_budget_allow_retry before sending a retry, and a refusal makes the
 * retry wait (asked again within FR_BUDGET_RECHECK_MS), never drops it.
 * A retry that follows a token refresh is not counted against it. A
 * request that waits for its next attempt (for the budget, the breaker,
 * the rate limiter or a token) gives up when fr_retry_expired says it has
 * waited past max_elapsed since its first attempt.
 *
 * Pure: no clock, no libcurl, no globals, no I/O. Time (now_wall_ms,
 * elapsed_ms, now_ms) and randomness come in as arguments.
 */
#ifndef FR_HTTP_RETRY_H
#define FR_HTTP_RETRY_H

#include "core/common.h"

#include "core/config.h"
#include "http/policy.h"

/* A random source: next(state) returns any 64-bit value (fr_rng_next, or a fixed one in tests). */
struct fr_retry_rand {
    uint64_t (*next)(void *state);
    void *state;
};

struct fr_retry_in {
    struct fr_verdict verdict; /* fr_classify's answer for the attempt (policy.h) */
    int attempts;              /* attempts made, this one included (1 after the first) */
    int64_t elapsed_ms;        /* from the first attempt's send to now */
    const char *retry_after;   /* the answer's Retry-After value; NULL or "" when none */
    int64_t now_wall_ms;       /* wall clock, ms since the epoch, for a Retry-After date */
    bool resolve_doubt;        /* the caller resolves in-doubt outcomes (client.h) */
    bool idempotent;           /* GET or HEAD: acting twice changes nothing, never in doubt */
    struct fr_retry_rand rand;
};

enum fr_retry_kind {
    FR_RETRY_DONE,     /* final: success or duplicate */
    FR_RETRY_AFTER,    /* send again in delay_ms */
    FR_RETRY_REFRESH,  /* drop the token, fetch a new one, send again at once */
    FR_RETRY_IN_DOUBT, /* final: the target may have acted; the caller finds out */
    FR_RETRY_GIVE_UP,  /* final: a failure */
};

enum fr_give_up {
    FR_GIVE_UP_NONE,     /* not giving up */
    FR_GIVE_UP_FINAL,    /* the verdict itself is final (rejected, auth, TLS, ...) */
    FR_GIVE_UP_ATTEMPTS, /* max_attempts made */
    FR_GIVE_UP_ELAPSED,  /* the delay would end past max_elapsed since the first attempt */
};

struct fr_retry_decision {
    enum fr_retry_kind kind;
    enum fr_give_up give_up;  /* FR_RETRY_GIVE_UP: why */
    int64_t delay_ms;         /* FR_RETRY_AFTER: from now; also set when a limit refused it */
    bool retry_after_used;    /* delay_ms is the answer's Retry-After (capped) */
    bool retry_after_ignored; /* a 429's Retry-After did not parse: backed off instead */
    const char *reason;       /* static text for logs: the verdict's, or the limit's */
};

struct fr_retry_decision fr_retry_decide(const struct fr_retry_conf *rc,
                                         const struct fr_retry_in *in);
/* "done", "retry", "refresh", "in_doubt", "give_up". */
const char *fr_retry_kind_name(enum fr_retry_kind kind);

/*
 * A Retry-After value as the delay it asks for, at most rc->cap_ms: 0 and
 * *delay_ms set, or FR_EINVAL when value does not parse (then *delay_ms is
 * untouched). The bound every user of Retry-After applies (the retry delay,
 * the adaptive rate limiter's pause).
 */
int fr_retry_after_capped(const struct fr_retry_conf *rc, const char *value, int64_t now_wall_ms,
                          int64_t *delay_ms);

/*
 * Full-jitter exponential backoff before retry number `retry` (1 for the
 * first retry): a uniform delay in [0, min(cap, base * 2^(retry-1))], drawn
 * from rnd (any 64-bit random value).
 */
int64_t fr_backoff_delay(const struct fr_retry_conf *rc, int retry, uint64_t rnd);

/*
 * Whether another attempt may be made: attempts_made < max_attempts and the
 * elapsed time plus the coming delay stays within max_elapsed.
 */
bool fr_retry_allowed(const struct fr_retry_conf *rc, int attempts_made, int64_t elapsed_ms,
                      int64_t delay_ms);

/* Whether a request waiting for its next attempt has waited past max_elapsed since its first. */
bool fr_retry_expired(const struct fr_retry_conf *rc, int64_t elapsed_ms);

/* ---- the retry budget ------------------------------------------------------------------ */

#define FR_BUDGET_MIN_RETRIES 10
#define FR_BUDGET_SLOTS       60   /* one per second */
#define FR_BUDGET_RECHECK_MS  1000 /* a retry the budget refused is asked about again this soon */

struct fr_budget {
    double ratio;
    int64_t slot_second[FR_BUDGET_SLOTS]; /* which second each slot counts */
    uint32_t firsts[FR_BUDGET_SLOTS];
    uint32_t retries[FR_BUDGET_SLOTS];
    bool exhausted; /* last answer of fr_budget_allow_retry, to log transitions */
};

void fr_budget_init(struct fr_budget *bg, double ratio);
/* Records a sent request (a first attempt or a retry) at now_ms (monotonic). */
void fr_budget_record(struct fr_budget *bg, int64_t now_ms, bool is_retry);
/* Whether one more retry fits in the budget at now_ms; remembers the answer in exhausted. */
bool fr_budget_allow_retry(struct fr_budget *bg, int64_t now_ms);

#endif
