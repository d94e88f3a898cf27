#include "core/common.h"
#include "http/breaker.h"

/* ---- circuit breaker ---------------------------------------------------- */

void fr_breaker_init(struct fr_breaker *b, int threshold, int64_t open_ms, int64_t max_open_ms)
{
    memset(b, 0, sizeof(*b));
    b->state = FR_BREAKER_CLOSED;
    b->threshold = threshold > 0 ? threshold : FR_BREAKER_DEFAULT_THRESHOLD;
    b->open_ms = open_ms > 0 ? open_ms : FR_BREAKER_DEFAULT_OPEN_MS;
    b->max_open_ms = FR_MAX(max_open_ms, b->open_ms);
    b->current_open_ms = b->open_ms;
}

static void trip(struct fr_breaker *b, int64_t now_ms, int64_t period_ms)
{
    b->state = FR_BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->current_open_ms = FR_MIN(period_ms, b->max_open_ms);
    b->probe_in_flight = false;
}

bool fr_breaker_allow(struct fr_breaker *b, int64_t now_ms)
{
    switch (b->state) {
    case FR_BREAKER_CLOSED:
        return true;
    case FR_BREAKER_OPEN:
        if (now_ms - b->opened_at_ms < b->current_open_ms)
            return false;
        b->state = FR_BREAKER_HALF_OPEN;
        b->probe_in_flight = true;
        return true;
    case FR_BREAKER_HALF_OPEN:
        if (b->probe_in_flight)
            return false;
        b->probe_in_flight = true;
        return true;
    }
    return false;
}

int64_t fr_breaker_wait_ms(const struct fr_breaker *b, int64_t now_ms)
{
    switch (b->state) {
    case FR_BREAKER_CLOSED:
        return 0;
    case FR_BREAKER_OPEN: {
        int64_t left = b->opened_at_ms + b->current_open_ms - now_ms;
        return left > 0 ? left : 0;
    }
    case FR_BREAKER_HALF_OPEN:
        /* the probe's outcome decides; until then, re-check after the base period */
        return b->probe_in_flight ? b->open_ms : 0;
    }
    return 0;
}

enum fr_breaker_event fr_breaker_record(struct fr_breaker *b, bool transient_failure,
                                        int64_t now_ms)
{
    switch (b->state) {
    case FR_BREAKER_CLOSED:
        if (!transient_failure) {
            b->consecutive_failures = 0;
            return FR_BREAKER_NO_CHANGE;
        }
        if (++b->consecutive_failures < b->threshold)
            return FR_BREAKER_NO_CHANGE;
        trip(b, now_ms, b->open_ms);
        return FR_BREAKER_OPENED;
    case FR_BREAKER_OPEN:
        /* a request sent before the trip: the open period stands */
        return FR_BREAKER_NO_CHANGE;
    case FR_BREAKER_HALF_OPEN:
        if (transient_failure) {
            int64_t doubled =
                b->current_open_ms > INT64_MAX / 2 ? INT64_MAX : b->current_open_ms * 2;
            trip(b, now_ms, doubled);
            return FR_BREAKER_OPENED;
        }
        /* any answer that is not transient proves the target is back */
        b->state = FR_BREAKER_CLOSED;
        b->consecutive_failures = 0;
        b->current_open_ms = b->open_ms;
        b->probe_in_flight = false;
        return FR_BREAKER_CLOSED_AGAIN;
    }
    return FR_BREAKER_NO_CHANGE;
}
