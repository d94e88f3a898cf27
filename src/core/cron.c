#include "core/common.h"
#include "core/cron.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"

struct field {
    const char *name;
    int min, max;
    const char *const *names; /* names for min, min+1, ...; NULL when none */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},          {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL},    {"month", 1, 12, month_names},
    {"day of week", 0, 7, dow_names},
};

/* A number or a name at *p; advances *p. -1 when there is neither. */
static int read_value(const struct field *f, const char **p)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        *p = s;
        return (int)v;
    }
    if (f->names)
        for (int i = 0; f->names[i]; i++)
            if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
                *p = s + 3;
                return f->min + i;
            }
    return -1;
}

/* One field (text up to its end) into the bit set *bits; *any when it is "*" alone. */
static int parse_field(int idx, const char *text, uint64_t *bits, bool *any, char *why,
                       size_t why_len)
{
    const struct field *f = &fields[idx];
    *bits = 0;
    *any = strcmp(text, "*") == 0;
    const char *p = text;
    for (;;) {
        int lo, hi, step = 1;
        if (*p == '*') {
            lo = f->min;
            hi = f->max == 7 ? 6 : f->max;
            p++;
        } else {
            if ((lo = read_value(f, &p)) < 0)
                goto bad;
            hi = lo;
            if (*p == '-') {
                p++;
                if ((hi = read_value(f, &p)) < 0)
                    goto bad;
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                goto bad;
            step = 0;
            while (isdigit((unsigned char)*p) && step < 1000)
                step = step * 10 + (*p++ - '0');
            if (step < 1) {
                snprintf(why, why_len, "field %d (%s): a step must be at least 1", idx + 1,
                         f->name);
                return FR_EPARSE;
            }
        }
        if (lo < f->min || hi > f->max || lo > hi) {
            snprintf(why, why_len, "field %d (%s): %d-%d is out of range %d-%d", idx + 1, f->name,
                     lo, hi, f->min, f->max);
            return FR_EPARSE;
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << (idx == 4 && v == 7 ? 0 : v); /* 7 is Sunday too */
        if (*p == '\0')
            return 0;
        if (*p != ',')
            goto bad;
        p++;
    }
bad:
    snprintf(why, why_len, "field %d (%s): cannot read \"%s\" (write *, N, A-B, A,B or */N)",
             idx + 1, f->name, text);
    return FR_EPARSE;
}

int fr_cron_parse(const char *spec, struct fr_cron *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    char buf[256];
    if (!spec || strlen(spec) >= sizeof(buf)) {
        snprintf(why, why_len,
                 "a schedule is 5 fields: minute hour day-of-month month "
                 "day-of-week, e.g. \"0 2 * * *\"");
        return FR_EPARSE;
    }
    fr_strlcpy(buf, spec, sizeof(buf));
    char *save = NULL, *tok[6];
    int n = 0;
    for (char *t = strtok_r(buf, " \t", &save); t && n < 6; t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    if (n != 5) {
        snprintf(why, why_len,
                 "a schedule is 5 fields (minute hour day-of-month month day-of-week), "
                 "found %d; e.g. \"0 2 * * *\"",
                 n);
        return FR_EPARSE;
    }
    uint64_t bits[5];
    bool any[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(i, tok[i], &bits[i], &any[i], why, why_len))
            return FR_EPARSE;
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)bits[4];
    out->dom_any = any[2];
    out->dow_any = any[4];
    return 0;
}

static bool day_matches(const struct fr_cron *c, const struct tm *tm)
{
    bool dom = (c->dom >> tm->tm_mday) & 1, dow = (c->dow >> tm->tm_wday) & 1;
    if (!c->dom_any && !c->dow_any)
        return dom || dow;
    return dom && dow;
}

bool fr_cron_matches(const struct fr_cron *c, const struct tm *tm)
{
    return ((c->minute >> tm->tm_min) & 1) && ((c->hour >> tm->tm_hour) & 1) &&
           ((c->month >> (tm->tm_mon + 1)) & 1) && day_matches(c, tm);
}

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static char *local_tz; /* TZ as the process started, or NULL when unset */

void fr_cron_tz_init(void)
{
    pthread_mutex_lock(&tz_lock);
    if (!local_tz) {
        const char *tz = getenv("TZ");
        local_tz = fr_strdup(tz ? tz : ":/etc/localtime");
        setenv("TZ", local_tz, 1); /* from now on TZ exists: setting it replaces in place */
        tzset();
    }
    pthread_mutex_unlock(&tz_lock);
}

bool fr_cron_tz_known(const char *tz)
{
    if (!tz || !*tz || tz[0] == '/' || strstr(tz, ".."))
        return false;
    const char *dir = getenv("TZDIR");
    char *path = fr_asprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
    struct stat sb;
    bool ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    free(path);
    return ok;
}

/* The search, in whatever zone TZ names now. */
static time_t next_local(const struct fr_cron *c, time_t after)
{
    time_t t = after - after % 60 + 60; /* the next whole minute */
    struct tm tm;
    localtime_r(&t, &tm);
    /* Each turn either matches or skips at least a minute; 5 years of skips is the bound. */
    for (int turn = 0; turn < 100000; turn++) {
        if (tm.tm_year > 1900 + 10000)
            return -1;
        struct tm want = tm;
        want.tm_isdst = -1;
        if (!((c->month >> (tm.tm_mon + 1)) & 1)) {
            want.tm_mon++;
            want.tm_mday = 1;
            want.tm_hour = want.tm_min = 0;
        } else if (!day_matches(c, &tm)) {
            want.tm_mday++;
            want.tm_hour = want.tm_min = 0;
        } else if (!((c->hour >> tm.tm_hour) & 1)) {
            want.tm_hour++;
            want.tm_min = 0;
        } else if (!((c->minute >> tm.tm_min) & 1)) {
            want.tm_min++;
        } else {
            return t;
        }
        want.tm_sec = 0;
        time_t next = mktime(&want);
        if (next <= t) /* a daylight-saving fold took us back: step on by a minute */
            next = t + 60;
        if (next - after > 5LL * 366 * 24 * 3600)
            return -1;
        t = next;
        localtime_r(&t, &tm);
    }
    return -1;
}

time_t fr_cron_next(const struct fr_cron *c, const char *tz, time_t after)
{
    pthread_mutex_lock(&tz_lock);
    bool zoned = tz && *tz;
    if (zoned) {
        setenv("TZ", tz, 1);
        tzset();
    }
    time_t t = next_local(c, after);
    if (zoned) {
        if (local_tz)
            setenv("TZ", local_tz, 1);
        else
            unsetenv("TZ");
        tzset();
    }
    pthread_mutex_unlock(&tz_lock);
    return t;
}
