/*
 * ratelimit.h: client-side pacing, so a configured limit is never exceeded.
 *
 * A fixed rate of N per window W spaces requests W/N apart (plus a small
 * safety margin), with no burst: a server that counts a sliding window at
 * arrival never sees more than N in any window, however many requests are
 * in flight. (A token bucket whose burst is the whole limit would send N at
 * once and N more right after the window turns: 2N in one sliding window.)
 *
 * Adaptive mode starts unpaced. The first 429 sets the rate to half the
 * sends of the last full second (at least 1/s); each later 429 halves it,
 * at most once per second, so one burst of 429s counts once; the floor is
 * one request per 10 s. While responses succeed, the rate grows by 10%
 * every 5 s without a cut (rate *= 1.1), so it probes back up slowly.
 * A cut also pushes the next send a full new interval past the 429.
 *
 * Fixed mode: the spacing is (W * 1.01 + 10 ms) / N; fr_ratelimit_rate
 * reports that effective rate (19.6/s for "20/s", 9.9/s for "600/min"). A fixed rate of 0 or an
 * empty window is treated as unpaced (the config loader rejects both).
 *
 * A 429 with Retry-After holds every request of the target until then, in
 * both modes. Pure: the caller passes the time; nothing sleeps.
 */
#ifndef FR_HTTP_RATELIMIT_H
#define FR_HTTP_RATELIMIT_H

#include "core/common.h"

#include "http/http_conf.h"

struct fr_ratelimit {
    enum fr_rate_mode mode;
    double interval_us;    /* spacing between sends; 0 = unpaced */
    int64_t next_us;       /* earliest time of the next send */
    int64_t hold_until_us; /* Retry-After hold */
    /* adaptive state */
    double rate_per_s;      /* current adaptive rate; 0 = not yet limited */
    int64_t last_cut_us;    /* last halving */
    int64_t last_growth_us; /* last increase */
    int64_t sent_window_start_us;
    uint32_t sent_in_window; /* sends in the current 1 s window (to seed the first cut) */
    uint32_t sent_last_window;
};

void fr_ratelimit_init(struct fr_ratelimit *rl, const struct fr_rate_conf *conf);
/* Microseconds to wait before a send is allowed; 0 = now. */
int64_t fr_ratelimit_wait_us(const struct fr_ratelimit *rl, int64_t now_us);
/* Records a send at now_us; call only when fr_ratelimit_wait_us returned 0. */
void fr_ratelimit_take(struct fr_ratelimit *rl, int64_t now_us);
/*
 * Records a 429. retry_after_ms < 0 when the response had none (or garbage).
 * Holds all sends until now + retry_after; adaptive mode also cuts the rate.
 * Returns true when the adaptive rate was cut (for logging).
 */
bool fr_ratelimit_on_429(struct fr_ratelimit *rl, int64_t now_us, int64_t retry_after_ms);
/* Records a response that was not a 429 (adaptive growth). */
void fr_ratelimit_on_success(struct fr_ratelimit *rl, int64_t now_us);
/* The current pacing rate in requests per second; 0 when unpaced. */
double fr_ratelimit_rate(const struct fr_ratelimit *rl);

#endif
