/*
 * clock.h: the only place ferry reads time or draws random numbers.
 *
 * Policy code (backoff, limiter, breaker, token expiry) never calls these:
 * it takes `now` and a random value as arguments so tests control them.
 */
#ifndef FR_CORE_CLOCK_H
#define FR_CORE_CLOCK_H

#include "core/common.h"

#include <time.h>

/* Monotonic milliseconds (CLOCK_MONOTONIC), for intervals and deadlines. */
int64_t fr_now_ms(void);
/* Monotonic microseconds, for pacing at sub-millisecond precision. */
int64_t fr_now_us(void);
/* Wall-clock milliseconds since the epoch, for timestamps people read. */
int64_t fr_wall_ms(void);
/* Formats wall-clock ms as RFC 3339 UTC with milliseconds into out (>= 25 bytes). */
void fr_format_rfc3339(int64_t wall_ms, char *out, size_t outlen);

/*
 * Parses an RFC 3339 date-time ("2024-03-01T10:00:00Z",
 * "2024-03-01t10:00:00.250+02:00"; fractions beyond milliseconds are
 * truncated; a leap second 60 is accepted) into wall-clock ms since the
 * epoch. The whole string must match and every field be in range (the day
 * exists in its month). Returns 0, or FR_EINVAL.
 */
int fr_parse_rfc3339(const char *s, int64_t *wall_ms);
/* Parses a full-date "YYYY-MM-DD" (a day that exists) into ms at 00:00 UTC; 0 or FR_EINVAL. */
int fr_parse_date(const char *s, int64_t *wall_ms);

/* Sleeps ms milliseconds, resuming after signals. */
void fr_sleep_ms(int64_t ms);

/*
 * A small seedable generator (splitmix64). Not for secrets: those use
 * OpenSSL's RAND_bytes.
 */
struct fr_rng {
    uint64_t state;
};
void fr_rng_seed(struct fr_rng *r, uint64_t seed);
/* Seeds from the OS entropy source. */
void fr_rng_seed_random(struct fr_rng *r);
uint64_t fr_rng_next(struct fr_rng *r);
/* A uniform double in [0, 1). */
double fr_rng_double(struct fr_rng *r);

#endif
