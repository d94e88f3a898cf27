#include "core/common.h"
#include "http/ratelimit.h"

#include <math.h>

/*
 * Fixed spacing is W/N stretched by a relative margin and an absolute
 * allowance, so that timer and arrival jitter cannot squeeze N+1 sends into
 * one sliding window at the server: N+1 sends spaced (1.01 W + 50 ms) / N
 * apart span 1.01 W + 50 ms, so the requests of a window may arrive up to
 * 0.01 W + 50 ms unevenly late. Jitter is absolute, so the allowance matters
 * for short windows (20/s: 60 ms of slack for 6% of the pace) and vanishes
 * in long ones (600/min: 650 ms for 1.1%). 10 ms was too little: a loaded
 * server delays some arrivals by more than that, and each 429 costs a
 * Retry-After (a second or more), far more than the 4% it saved.
 */
#define FIXED_MARGIN       0.01
#define FIXED_ALLOWANCE_US 50000.0

#define US_PER_S           1000000
#define ADAPTIVE_MIN_RATE  0.1 /* one request per 10 s */
#define ADAPTIVE_CUT_GAP   US_PER_S
#define ADAPTIVE_GROW_GAP  (5 * (int64_t)US_PER_S)
#define ADAPTIVE_GROW_STEP 1.1

static void set_rate(struct fr_ratelimit *rl, double rate_per_s)
{
    rl->rate_per_s = FR_MAX(rate_per_s, ADAPTIVE_MIN_RATE);
    rl->interval_us = US_PER_S / rl->rate_per_s;
}

void fr_ratelimit_init(struct fr_ratelimit *rl, const struct fr_rate_conf *conf)
{
    memset(rl, 0, sizeof(*rl));
    rl->mode = conf ? conf->mode : FR_RATE_NONE;
    if (rl->mode == FR_RATE_FIXED) {
        if (conf->rate.count == 0 || conf->rate.window_ms <= 0) {
            rl->mode = FR_RATE_NONE; /* the loader rejects these; stay unpaced */
            return;
        }
        rl->interval_us =
            ((double)conf->rate.window_ms * 1000.0 * (1.0 + FIXED_MARGIN) + FIXED_ALLOWANCE_US) /
            conf->rate.count;
    }
}

int64_t fr_ratelimit_wait_us(const struct fr_ratelimit *rl, int64_t now_us)
{
    int64_t ready = FR_MAX(rl->next_us, rl->hold_until_us);
    return ready > now_us ? ready - now_us : 0;
}

/* Counts sends per one-second window, to know the rate before the first 429. */
static void count_send(struct fr_ratelimit *rl, int64_t now_us)
{
    int64_t since = now_us - rl->sent_window_start_us;
    if (since >= US_PER_S) {
        /* the window just ended is "the last full second" only if it is adjacent */
        rl->sent_last_window = since < 2 * US_PER_S ? rl->sent_in_window : 0;
        rl->sent_window_start_us = now_us - since % US_PER_S;
        rl->sent_in_window = 0;
    }
    if (rl->sent_in_window < UINT32_MAX)
        rl->sent_in_window++;
}

void fr_ratelimit_take(struct fr_ratelimit *rl, int64_t now_us)
{
    if (rl->mode == FR_RATE_ADAPTIVE) {
        if (rl->sent_window_start_us == 0 && rl->sent_in_window == 0 && rl->sent_last_window == 0)
            rl->sent_window_start_us = now_us;
        count_send(rl, now_us);
    }
    /*
     * Burst of one: the next slot counts from this send, never from an
     * earlier slot left unused, so idle time does not bank credit.
     */
    if (rl->interval_us > 0)
        rl->next_us = now_us + (int64_t)ceil(rl->interval_us);
}

bool fr_ratelimit_on_429(struct fr_ratelimit *rl, int64_t now_us, int64_t retry_after_ms)
{
    if (retry_after_ms >= 0) {
        int64_t max_ms = (INT64_MAX - now_us) / 1000;
        int64_t until = now_us + FR_MIN(retry_after_ms, max_ms) * 1000;
        rl->hold_until_us = FR_MAX(rl->hold_until_us, until);
    }
    if (rl->mode != FR_RATE_ADAPTIVE)
        return false;
    if (rl->rate_per_s <= 0) {
        /* first cut: half of what was sent in the last full second */
        uint32_t observed = rl->sent_last_window;
        if (now_us - rl->sent_window_start_us >= US_PER_S)
            observed = now_us - rl->sent_window_start_us < 2 * US_PER_S ? rl->sent_in_window : 0;
        else if (observed == 0)
            observed = rl->sent_in_window; /* less than a second of history */
        set_rate(rl, FR_MAX(observed / 2.0, 1.0));
    } else {
        if (now_us - rl->last_cut_us < ADAPTIVE_CUT_GAP)
            return false; /* the same burst of 429s */
        set_rate(rl, rl->rate_per_s / 2);
    }
    rl->last_cut_us = now_us;
    rl->last_growth_us = now_us;
    /* the 429 says we are already too fast: the next send waits a full new interval */
    rl->next_us = FR_MAX(rl->next_us, now_us + (int64_t)ceil(rl->interval_us));
    return true;
}

void fr_ratelimit_on_success(struct fr_ratelimit *rl, int64_t now_us)
{
    if (rl->mode != FR_RATE_ADAPTIVE || rl->rate_per_s <= 0)
        return;
    if (now_us - rl->last_growth_us < ADAPTIVE_GROW_GAP)
        return;
    set_rate(rl, rl->rate_per_s * ADAPTIVE_GROW_STEP);
    rl->last_growth_us = now_us;
}

double fr_ratelimit_rate(const struct fr_ratelimit *rl)
{
    if (rl->mode == FR_RATE_ADAPTIVE)
        return rl->rate_per_s;
    return rl->interval_us > 0 ? US_PER_S / rl->interval_us : 0;
}
