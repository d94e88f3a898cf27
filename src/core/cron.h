/*
 * cron.h: 5-field cron schedules ("minute hour day-of-month month
 * day-of-week") and the next time one fires, in a named time zone.
 *
 * Each field takes "*", a number, a range a-b, a list a,b,c and a step "*\/n"
 * or "a-b/n"; months also take jan..dec and days of the week sun..sat (0 and
 * 7 are Sunday). As in Vixie cron, when both day fields are restricted a
 * day matches either one; otherwise both must match.
 */
#ifndef FR_CORE_CRON_H
#define FR_CORE_CRON_H

#include "core/common.h"

#include <time.h>

#include "core/error.h"

struct fr_cron {
    uint64_t minute; /* bit n: minute n, 0..59 */
    uint32_t hour;   /* 0..23 */
    uint32_t dom;    /* 1..31 */
    uint16_t month;  /* 1..12 */
    uint8_t dow;     /* 0..6, Sunday 0 */
    bool dom_any, dow_any;
};

/*
 * Parses spec into *out. On failure returns FR_EPARSE and writes a
 * sentence for people to why (e.g. "field 2 (hour): 24 is out of range
 * 0-23"). Pure.
 */
int fr_cron_parse(const char *spec, struct fr_cron *out, char *why, size_t why_len);

/* Whether the broken-down local time tm (minute, hour, day, month, weekday) matches. Pure. */
bool fr_cron_matches(const struct fr_cron *c, const struct tm *tm);

/*
 * The first minute strictly after `after` (Unix seconds) that matches, as
 * Unix seconds, reckoning in time zone tz (an IANA name such as
 * "Europe/Berlin"; NULL or "" for the process's local time, from TZ or
 * /etc/localtime). A local time that a daylight-saving change skips does
 * not happen that day (no run); one that happens twice runs the first
 * time. -1 when nothing matches
 * within 5 years (e.g. "0 0 31 2 *").
 *
 * Threads: reckoning in a zone sets TZ for the call, under a lock; call
 * fr_cron_tz_init once before other threads start, so that setting TZ
 * later only replaces a value and never reallocates the environment.
 */
time_t fr_cron_next(const struct fr_cron *c, const char *tz, time_t after);
void fr_cron_tz_init(void);

/* Whether tz names a zone this machine knows (a TZif file under TZDIR or /usr/share/zoneinfo). */
bool fr_cron_tz_known(const char *tz);

#endif
