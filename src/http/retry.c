#include "core/common.h"
#include "http/retry.h"

#include <math.h>

#include "core/error.h"

/* ---- the decision --------------------------------------------------------------------- */

int fr_retry_after_capped(const struct fr_retry_conf *rc, const char *value, int64_t now_wall_ms,
                          int64_t *delay_ms)
{
    int64_t ms;
    if (fr_parse_retry_after(value, now_wall_ms, &ms) != 0)
        return FR_EINVAL;
    *delay_ms = FR_MIN(ms, rc->cap_ms);
    return 0;
}

/* The delay before the next attempt: a 429's Retry-After, else a backoff. */
static void retry_delay(const struct fr_retry_conf *rc, const struct fr_retry_in *in,
                        struct fr_retry_decision *d)
{
    if (in->verdict.cls == FR_CLASS_RATE_LIMITED && in->retry_after && in->retry_after[0]) {
        if (fr_retry_after_capped(rc, in->retry_after, in->now_wall_ms, &d->delay_ms) == 0) {
            d->retry_after_used = true;
            return;
        }
        d->retry_after_ignored = true;
    }
    d->delay_ms = fr_backoff_delay(rc, in->attempts, in->rand.next(in->rand.state));
}

struct fr_retry_decision fr_retry_decide(const struct fr_retry_conf *rc,
                                         const struct fr_retry_in *in)
{
    const struct fr_verdict *v = &in->verdict;
    struct fr_retry_decision d = {.reason = v->reason};
    switch (v->action) {
    case FR_ACT_DONE:
        d.kind = FR_RETRY_DONE;
        return d;
    case FR_ACT_REFRESH_RETRY:
        d.kind = FR_RETRY_REFRESH;
        return d;
    case FR_ACT_RETRY:
        break;
    case FR_ACT_FAIL:
    default:
        d.kind = FR_RETRY_GIVE_UP;
        d.give_up = FR_GIVE_UP_FINAL;
        return d;
    }
    if (v->in_doubt && in->resolve_doubt && !in->idempotent) {
        d.kind = FR_RETRY_IN_DOUBT;
        return d;
    }
    retry_delay(rc, in, &d);
    if (fr_retry_allowed(rc, in->attempts, in->elapsed_ms, d.delay_ms)) {
        d.kind = FR_RETRY_AFTER;
        return d;
    }
    d.kind = FR_RETRY_GIVE_UP;
    if (in->attempts >= rc->max_attempts) {
        d.give_up = FR_GIVE_UP_ATTEMPTS;
        d.reason = "max_attempts reached";
    } else {
        d.give_up = FR_GIVE_UP_ELAPSED;
        d.reason = "max_elapsed reached";
    }
    return d;
}

static const char *const kind_names[] = {
    [FR_RETRY_DONE] = "done",       [FR_RETRY_AFTER] = "retry",
    [FR_RETRY_REFRESH] = "refresh", [FR_RETRY_IN_DOUBT] = "in_doubt",
    [FR_RETRY_GIVE_UP] = "give_up",
};

const char *fr_retry_kind_name(enum fr_retry_kind kind)
{
    if ((unsigned)kind >= FR_ARRAY_LEN(kind_names) || !kind_names[kind])
        return "unknown";
    return kind_names[kind];
}

/* ---- backoff and limits --------------------------------------------------------------- */

int64_t fr_backoff_delay(const struct fr_retry_conf *rc, int retry, uint64_t rnd)
{
    if (rc->base_ms <= 0 || rc->cap_ms <= 0)
        return 0;
    /* Double base retry-1 times, stopping at the cap: no overflow however large retry is. */
    int64_t ceiling = rc->base_ms;
    for (int i = 1; i < retry && ceiling < rc->cap_ms; i++)
        ceiling = ceiling > INT64_MAX / 2 ? INT64_MAX : ceiling * 2;
    ceiling = FR_MIN(ceiling, rc->cap_ms);
    return (int64_t)(rnd % ((uint64_t)ceiling + 1));
}

bool fr_retry_allowed(const struct fr_retry_conf *rc, int attempts_made, int64_t elapsed_ms,
                      int64_t delay_ms)
{
    if (attempts_made >= rc->max_attempts)
        return false;
    if (elapsed_ms < 0)
        elapsed_ms = 0;
    if (delay_ms < 0)
        delay_ms = 0;
    /* elapsed + delay <= max_elapsed, written so the sum cannot overflow */
    return elapsed_ms <= rc->max_elapsed_ms && delay_ms <= rc->max_elapsed_ms - elapsed_ms;
}

bool fr_retry_expired(const struct fr_retry_conf *rc, int64_t elapsed_ms)
{
    return elapsed_ms > rc->max_elapsed_ms;
}

/* ---- the retry budget ----------------------------------------------------------------- */

void fr_budget_init(struct fr_budget *bg, double ratio)
{
    memset(bg, 0, sizeof(*bg));
    bg->ratio = ratio > 0 ? ratio : 0;
    for (size_t i = 0; i < FR_BUDGET_SLOTS; i++)
        bg->slot_second[i] = -1;
}

static int64_t second_of(int64_t now_ms)
{
    return now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000;
}

static size_t slot_of(int64_t second)
{
    int64_t m = second % FR_BUDGET_SLOTS;
    return (size_t)(m < 0 ? m + FR_BUDGET_SLOTS : m);
}

void fr_budget_record(struct fr_budget *bg, int64_t now_ms, bool is_retry)
{
    int64_t sec = second_of(now_ms);
    size_t i = slot_of(sec);
    if (bg->slot_second[i] != sec) {
        /* the slot last counted a second at least a minute ago: reuse it */
        bg->slot_second[i] = sec;
        bg->firsts[i] = 0;
        bg->retries[i] = 0;
    }
    uint32_t *counter = is_retry ? &bg->retries[i] : &bg->firsts[i];
    if (*counter < UINT32_MAX)
        (*counter)++;
}

bool fr_budget_allow_retry(struct fr_budget *bg, int64_t now_ms)
{
    int64_t sec = second_of(now_ms);
    uint64_t firsts = 0, retries = 0;
    for (size_t i = 0; i < FR_BUDGET_SLOTS; i++) {
        int64_t age = sec - bg->slot_second[i];
        if (bg->slot_second[i] < 0 || age < 0 || age >= FR_BUDGET_SLOTS)
            continue;
        firsts += bg->firsts[i];
        retries += bg->retries[i];
    }
    /* the small epsilon keeps 0.2 * 100 at 20 despite binary fractions */
    double allowed = floor(bg->ratio * (double)firsts + 1e-9);
    allowed = FR_MAX(allowed, (double)FR_BUDGET_MIN_RETRIES);
    bg->exhausted = (double)(retries + 1) > allowed;
    return !bg->exhausted;
}
