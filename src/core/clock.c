#include "core/common.h"
#include "core/clock.h"

#include "core/error.h"

#include <errno.h>
#include <string.h>
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

/* n decimal digits at s into *out; false unless all are digits. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" at s (10 bytes) into days since the epoch; false when malformed or no such day. */
static bool parse_full_date(const char *s, int64_t *days)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > month_days[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

int fr_parse_date(const char *s, int64_t *wall_ms)
{
    int64_t days;
    if (strlen(s) != 10 || !parse_full_date(s, &days))
        return FR_EINVAL;
    *wall_ms = days * 86400000;
    return 0;
}

int fr_parse_rfc3339(const char *s, int64_t *wall_ms)
{
    int64_t days;
    int hh, mm, ss;
    if (strlen(s) < 20 || !parse_full_date(s, &days) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mm) || s[16] != ':' ||
        !digits(s + 17, 2, &ss) || hh > 23 || mm > 59 || ss > 60)
        return FR_EINVAL;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        for (; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (n == 0)
            return FR_EINVAL;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    int64_t offset_min = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_min = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return FR_EINVAL;
        offset_min = (*p == '-' ? -1 : 1) * (oh * 60 + om);
    } else {
        return FR_EINVAL;
    }
    int64_t secs = days * 86400 + hh * 3600 + mm * 60 + ss - offset_min * 60;
    *wall_ms = secs * 1000 + frac_ms;
    return 0;
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
