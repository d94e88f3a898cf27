#include "core/common.h"
#include "core/clock.h"

#include <errno.h>
#include <sys/random.h>

int64_t fr_now_ms(void)
{
    return fr_now_us() / 1000;
}

int64_t fr_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t fr_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fr_format_rfc3339(int64_t wall_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

void fr_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void fr_rng_seed(struct fr_rng *r, uint64_t seed)
{
    r->state = seed;
}

void fr_rng_seed_random(struct fr_rng *r)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
        seed = (uint64_t)fr_now_us() ^ ((uint64_t)fr_wall_ms() << 20);
    r->state = seed;
}

uint64_t fr_rng_next(struct fr_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double fr_rng_double(struct fr_rng *r)
{
    return (double)(fr_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
