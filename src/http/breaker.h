/*
 * breaker.h: the circuit breaker of a target.
 *
 * Breaker: closed until `threshold` consecutive transient failures, then
 * open for `open_ms` (doubling on each failed probe up to `max_open_ms`);
 * then half-open: one probe request goes; its success closes the circuit,
 * its failure opens it again. Only transient failures (5xx, timeouts,
 * resets) count; 4xx, 409 and 429 do not.
 *
 * (The retry budget lives beside the retry decision, in retry.h.)
 *
 * Pure: the caller passes the time.
 */
#ifndef FR_HTTP_BREAKER_H
#define FR_HTTP_BREAKER_H

#include "core/common.h"

enum fr_breaker_state { FR_BREAKER_CLOSED, FR_BREAKER_OPEN, FR_BREAKER_HALF_OPEN };

/* What a call changed, so the caller can log trips and recoveries. */
enum fr_breaker_event { FR_BREAKER_NO_CHANGE, FR_BREAKER_OPENED, FR_BREAKER_CLOSED_AGAIN };

struct fr_breaker {
    enum fr_breaker_state state;
    int threshold;
    int consecutive_failures;
    int64_t open_ms; /* base open period */
    int64_t max_open_ms;
    int64_t current_open_ms;
    int64_t opened_at_ms;
    bool probe_in_flight;
};

#define FR_BREAKER_DEFAULT_THRESHOLD   10
#define FR_BREAKER_DEFAULT_OPEN_MS     5000
#define FR_BREAKER_DEFAULT_MAX_OPEN_MS 60000

void fr_breaker_init(struct fr_breaker *b, int threshold, int64_t open_ms, int64_t max_open_ms);
/*
 * Whether a request may be sent now. In half-open state the first caller
 * gets true and becomes the probe; others get false until it reports.
 */
bool fr_breaker_allow(struct fr_breaker *b, int64_t now_ms);
/*
 * Milliseconds until fr_breaker_allow could return true; 0 when closed.
 * While a half-open probe is in flight the answer depends on the probe, so
 * this returns the base open period as a re-check interval.
 */
int64_t fr_breaker_wait_ms(const struct fr_breaker *b, int64_t now_ms);
/*
 * Reports the outcome of a sent request: transient_failure or not. Closed:
 * counts consecutive transient failures (OPENED at the threshold). Open:
 * ignored (requests sent before the trip). Half-open: the probe's outcome;
 * a transient failure reopens (OPENED, period doubled up to max_open_ms),
 * anything else closes (CLOSED_AGAIN, period back to open_ms).
 */
enum fr_breaker_event fr_breaker_record(struct fr_breaker *b, bool transient_failure,
                                        int64_t now_ms);

#endif
