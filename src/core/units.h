/*
 * units.h: the one place durations, sizes, rates and percentages are parsed.
 *
 * Each parser takes the whole string (no trailing garbage, no sign, no
 * spaces inside) and returns 0 or FR_EINVAL; on error *why is set to a
 * static sentence a person can act on ("unknown unit \"sec\"; use ms, s, m or h").
 */
#ifndef FR_CORE_UNITS_H
#define FR_CORE_UNITS_H

#include "core/common.h"

/* "250ms", "90s", "5m", "2h", "1d" -> milliseconds. A unit is required; "0" alone is allowed. */
int fr_parse_duration(const char *s, int64_t *ms, const char **why);
/* "512B", "64KB", "1MB", "2GB" (1 KB = 1024 bytes; KiB/MiB/GiB accepted too). */
int fr_parse_size(const char *s, uint64_t *bytes, const char **why);

/* A rate: count events per window. */
struct fr_rate {
    uint32_t count;
    int64_t window_ms;
};

/* A target's rate_limit as written: none, COUNT/UNIT (rate), or adaptive. */
enum fr_rate_mode { FR_RATE_NONE, FR_RATE_FIXED, FR_RATE_ADAPTIVE };

struct fr_rate_conf {
    enum fr_rate_mode mode;
    struct fr_rate rate; /* FR_RATE_FIXED only */
};

/* "100/min", "20/s", "5000/h" (also /sec, /second, /m, /minute, /hour). */
int fr_parse_rate(const char *s, struct fr_rate *rate, const char **why);
/* "20%" or "0.5%" -> 0.20, 0.005. Must be within 0%..100%. */
int fr_parse_percent(const char *s, double *fraction, const char **why);

#endif
