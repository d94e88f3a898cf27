#include "core/common.h"
#include "core/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>

#include "core/error.h"

struct unit {
    const char *name;
    double factor;
};

static const struct unit duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
};

static const struct unit size_units[] = {
    {"B", 1},
    {"KB", 1024.0},
    {"KiB", 1024.0},
    {"MB", 1024.0 * 1024},
    {"MiB", 1024.0 * 1024},
    {"GB", 1024.0 * 1024 * 1024},
    {"GiB", 1024.0 * 1024 * 1024},
};

static const struct unit rate_units[] = {
    {"s", 1000},    {"sec", 1000},     {"second", 1000}, {"m", 60000},
    {"min", 60000}, {"minute", 60000}, {"h", 3600000},   {"hour", 3600000},
};

/* Splits "<number><unit>" into a non-negative number and a unit string. */
static int split_number(const char *s, double *value, const char **unit, const char **why)
{
    if (!s || !*s) {
        *why = "empty value";
        return FR_EINVAL;
    }
    if (!isdigit((unsigned char)s[0])) {
        *why = "must start with a non-negative number";
        return FR_EINVAL;
    }
    /* Plain decimal only: strtod alone would take hex, exponents and "inf". */
    size_t digits = strspn(s, "0123456789.");
    size_t dots = 0;
    for (size_t i = 0; i < digits; i++)
        dots += s[i] == '.';
    if (dots > 1) {
        *why = "malformed number";
        return FR_EINVAL;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s + digits) {
        *why = "malformed number";
        return FR_EINVAL;
    }
    if (errno || !isfinite(v)) {
        *why = "number out of range";
        return FR_EINVAL;
    }
    *value = v;
    *unit = end;
    return 0;
}

static const struct unit *find_unit(const struct unit *units, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(units[i].name, name) == 0)
            return &units[i];
    return NULL;
}

/* A kind of quantity: its units, bounds and the sentences for its errors. */
struct quantity {
    const struct unit *units;
    size_t nunits;
    bool bare_zero; /* "0" without a unit is allowed */
    double max;
    const char *missing, *unknown, *too_large, *fraction;
};

static const struct quantity duration = {
    duration_units,
    FR_ARRAY_LEN(duration_units),
    true,
    1e15,
    "missing unit; write e.g. 250ms, 90s, 5m or 2h",
    "unknown duration unit; use ms, s, m, h or d",
    "duration too large",
    "duration must be a whole number of milliseconds",
};

static const struct quantity size = {
    size_units,
    FR_ARRAY_LEN(size_units),
    false,
    1e18,
    "missing unit; write e.g. 512B, 64KB or 1MB",
    "unknown size unit; use B, KB, MB or GB",
    "size too large",
    "size must be a whole number of bytes",
};

/* "<number><unit>" as a whole number of the quantity's base unit. */
static int parse_quantity(const char *s, const struct quantity *q, double *total, const char **why)
{
    double v;
    const char *unit;
    int rc = split_number(s, &v, &unit, why);
    if (rc)
        return rc;
    if (!*unit) {
        if (q->bare_zero && v == 0) {
            *total = 0;
            return 0;
        }
        *why = q->missing;
        return FR_EINVAL;
    }
    const struct unit *u = find_unit(q->units, q->nunits, unit);
    if (!u) {
        *why = q->unknown;
        return FR_EINVAL;
    }
    double t = v * u->factor;
    if (t > q->max) {
        *why = q->too_large;
        return FR_EINVAL;
    }
    if (t != floor(t)) {
        *why = q->fraction;
        return FR_EINVAL;
    }
    *total = t;
    return 0;
}

int fr_parse_duration(const char *s, int64_t *ms, const char **why)
{
    double total;
    int rc = parse_quantity(s, &duration, &total, why);
    if (rc == 0)
        *ms = (int64_t)total;
    return rc;
}

int fr_parse_size(const char *s, uint64_t *bytes, const char **why)
{
    double total;
    int rc = parse_quantity(s, &size, &total, why);
    if (rc == 0)
        *bytes = (uint64_t)total;
    return rc;
}

int fr_parse_rate(const char *s, struct fr_rate *rate, const char **why)
{
    double v;
    const char *unit;
    int rc = split_number(s, &v, &unit, why);
    if (rc)
        return rc;
    if (*unit != '/') {
        *why = "a rate is COUNT/UNIT, e.g. 100/min or 20/s";
        return FR_EINVAL;
    }
    const struct unit *u = find_unit(rate_units, FR_ARRAY_LEN(rate_units), unit + 1);
    if (!u) {
        *why = "unknown rate unit; use /s, /min or /h";
        return FR_EINVAL;
    }
    if (v != floor(v) || v < 1 || v > 1e9) {
        *why = "the count of a rate must be a whole number from 1 to 1000000000";
        return FR_EINVAL;
    }
    rate->count = (uint32_t)v;
    rate->window_ms = (int64_t)u->factor;
    return 0;
}

int fr_parse_percent(const char *s, double *fraction, const char **why)
{
    double v;
    const char *unit;
    int rc = split_number(s, &v, &unit, why);
    if (rc)
        return rc;
    if (strcmp(unit, "%") != 0) {
        *why = "a percentage ends in %, e.g. 20%";
        return FR_EINVAL;
    }
    if (v > 100) {
        *why = "a percentage must be between 0% and 100%";
        return FR_EINVAL;
    }
    *fraction = v / 100.0;
    return 0;
}
