#include "core/common.h"
#include "http/policy.h"

#include "core/error.h"
#include "core/jsonptr.h"
#include "http/http_conf.h"

/* ---- classification ---------------------------------------------------- */

/* An extra condition a row needs besides its transport and status range. */
enum cond {
    COND_ANY,
    COND_UNPARSABLE,    /* body_unparsable */
    COND_BODY_RETRY,    /* body_rule == FR_BODY_RULE_RETRY */
    COND_BODY_NO_RETRY, /* body_rule == FR_BODY_RULE_NO_RETRY */
    COND_AUTH_RETRIED,  /* auth_retried */
    COND_SENT,          /* sent: the request went out before the transfer failed */
};

struct row {
    enum fr_transport transport;
    int lo, hi; /* status range, FR_TR_OK rows only */
    enum cond cond;
    enum fr_class cls;
    enum fr_action action;
    bool in_doubt; /* sent, no complete answer: the target may have acted */
    const char *reason;
};

enum { SURE = false, DOUBT = true };

/*
 * The failure contract (DESIGN.md). First match wins: specific rows come
 * before the ranges that contain them. The DOUBT column is the in-doubt
 * row of the contract: what may have been acted on is never resent blindly.
 */
static const struct row table[] = {
    /* transport failures: no status to read */
    {FR_TR_TIMEOUT, 0, 0, COND_SENT, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "timeout after sending"},
    {FR_TR_TIMEOUT, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, SURE, "timeout"},
    {FR_TR_CONNECT, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, SURE, "connect failed"},
    {FR_TR_RESET, 0, 0, COND_SENT, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "connection closed after sending"},
    {FR_TR_RESET, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, SURE, "connection reset"},
    {FR_TR_TRUNCATED, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "truncated response"},
    {FR_TR_RESEND, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "connection died after sending (re-send refused)"},
    {FR_TR_OTHER, 0, 0, COND_SENT, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "transfer failed after sending"},
    {FR_TR_OTHER, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, SURE, "transfer failed"},
    /* a certificate problem never heals by retrying */
    {FR_TR_TLS, 0, 0, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "TLS failure"},

    /* complete responses */
    {FR_TR_OK, 200, 299, COND_UNPARSABLE, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT,
     "unparsable body"},
    {FR_TR_OK, 200, 299, COND_BODY_NO_RETRY, FR_CLASS_BODY_ERROR, FR_ACT_FAIL, SURE, "body error"},
    {FR_TR_OK, 200, 299, COND_BODY_RETRY, FR_CLASS_BODY_ERROR, FR_ACT_RETRY, SURE, "body error"},
    {FR_TR_OK, 200, 299, COND_ANY, FR_CLASS_SUCCESS, FR_ACT_DONE, SURE, "accepted"},
    {FR_TR_OK, 401, 401, COND_AUTH_RETRIED, FR_CLASS_AUTH, FR_ACT_FAIL, SURE,
     "unauthorized after token refresh"},
    {FR_TR_OK, 401, 401, COND_ANY, FR_CLASS_AUTH, FR_ACT_REFRESH_RETRY, SURE, "unauthorized"},
    {FR_TR_OK, 409, 409, COND_ANY, FR_CLASS_DUPLICATE, FR_ACT_DONE, SURE, "duplicate"},
    {FR_TR_OK, 429, 429, COND_ANY, FR_CLASS_RATE_LIMITED, FR_ACT_RETRY, SURE, "rate limited"},
    /* a gateway that lost the upstream's answer: the upstream may have acted */
    {FR_TR_OK, 502, 502, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT, "bad gateway"},
    {FR_TR_OK, 504, 504, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, DOUBT, "gateway timeout"},
    {FR_TR_OK, 500, 599, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_RETRY, SURE, "server error"},
    {FR_TR_OK, 400, 499, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "request rejected"},
    /* the client follows no redirects: 1xx and 3xx are unexpected */
    {FR_TR_OK, 100, 199, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "unexpected status"},
    {FR_TR_OK, 300, 399, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "unexpected redirect"},
};

/*
 * The hand-off table: a request whose caller owns every retry (a webhook
 * delivery; the dispatcher retries it from its durable queue with its own
 * backoff and dead letters). Only a 2xx is done; any other answer, 4xx
 * included (a handler being redeployed may answer 404 for a moment), and
 * any transport failure is a failed attempt: FR_ACT_FAIL here, because
 * nothing is retried below the caller. No row is in doubt: the caller
 * delivers at least once and its receivers deduplicate by event id.
 */
static const struct row handoff_table[] = {
    {FR_TR_TIMEOUT, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "timeout"},
    {FR_TR_CONNECT, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "connect failed"},
    {FR_TR_RESET, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "connection reset"},
    {FR_TR_TRUNCATED, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "truncated response"},
    {FR_TR_RESEND, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE,
     "connection died after sending"},
    {FR_TR_OTHER, 0, 0, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "transfer failed"},
    {FR_TR_TLS, 0, 0, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "TLS failure"},
    {FR_TR_OK, 200, 299, COND_ANY, FR_CLASS_SUCCESS, FR_ACT_DONE, SURE, "delivered"},
    {FR_TR_OK, 429, 429, COND_ANY, FR_CLASS_RATE_LIMITED, FR_ACT_FAIL, SURE, "rate limited"},
    {FR_TR_OK, 500, 599, COND_ANY, FR_CLASS_TRANSIENT, FR_ACT_FAIL, SURE, "server error"},
    {FR_TR_OK, 400, 499, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "not accepted"},
    {FR_TR_OK, 100, 199, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "unexpected status"},
    {FR_TR_OK, 300, 399, COND_ANY, FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "unexpected redirect"},
};

/* Anything a table does not name (a status outside 100..599). */
static const struct fr_verdict fallback = {FR_CLASS_REJECTED, FR_ACT_FAIL, SURE, "invalid status"};

static bool cond_holds(enum cond cond, const struct fr_classify_in *in)
{
    switch (cond) {
    case COND_ANY:
        return true;
    case COND_UNPARSABLE:
        return in->body_unparsable;
    case COND_BODY_RETRY:
        return in->body_rule == FR_BODY_RULE_RETRY;
    case COND_BODY_NO_RETRY:
        return in->body_rule == FR_BODY_RULE_NO_RETRY;
    case COND_AUTH_RETRIED:
        return in->auth_retried;
    case COND_SENT:
        return in->sent;
    }
    return false;
}

static struct fr_verdict classify(const struct row *rows, size_t n, const struct fr_classify_in *in)
{
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (r->transport != in->transport)
            continue;
        if (r->transport == FR_TR_OK && (in->status < r->lo || in->status > r->hi))
            continue;
        if (!cond_holds(r->cond, in))
            continue;
        return (struct fr_verdict){r->cls, r->action, r->in_doubt, r->reason};
    }
    return fallback;
}

struct fr_verdict fr_classify(const struct fr_classify_in *in)
{
    return classify(table, FR_ARRAY_LEN(table), in);
}

struct fr_verdict fr_classify_handoff(const struct fr_classify_in *in)
{
    return classify(handoff_table, FR_ARRAY_LEN(handoff_table), in);
}

static const char *const class_names[] = {
    [FR_CLASS_SUCCESS] = "success",     [FR_CLASS_DUPLICATE] = "duplicate",
    [FR_CLASS_AUTH] = "auth",           [FR_CLASS_RATE_LIMITED] = "rate_limited",
    [FR_CLASS_TRANSIENT] = "transient", [FR_CLASS_BODY_ERROR] = "body_error",
    [FR_CLASS_REJECTED] = "rejected",
};

const char *fr_class_name(enum fr_class cls)
{
    if ((unsigned)cls >= FR_ARRAY_LEN(class_names) || !class_names[cls])
        return "unknown";
    return class_names[cls];
}

/* ---- body-error rules --------------------------------------------------- */

const struct fr_body_rule *fr_body_rules_match(const struct fr_body_rule *rules, size_t n,
                                               json_t *body, const char **message)
{
    for (size_t i = 0; i < n; i++) {
        const struct fr_body_rule *rule = &rules[i];
        json_t *v = fr_json_pointer(body, rule->path);
        if (!v || !rule->equals || !json_equal(v, rule->equals))
            continue;
        if (message && rule->message) {
            json_t *m = fr_json_pointer(body, rule->message);
            if (json_is_string(m))
                *message = json_string_value(m);
        }
        return rule;
    }
    return NULL;
}

/* ---- Retry-After -------------------------------------------------------- */

/* Larger delta-seconds clamp here (about 68 years) instead of overflowing. */
#define RETRY_AFTER_MAX_S INT32_MAX

/* A cursor over [p, end): the parsers below advance it only on success. */
struct cur {
    const char *p, *end;
};

static bool lit(struct cur *c, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Exactly n digits. */
static bool digits(struct cur *c, int n, int *v)
{
    if (c->end - c->p < n)
        return false;
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (c->p[i] < '0' || c->p[i] > '9')
            return false;
        x = x * 10 + (c->p[i] - '0');
    }
    c->p += n;
    *v = x;
    return true;
}

/* One of names[0..n) (case-sensitive, as RFC 9110 says); *index is its position. */
static bool name(struct cur *c, const char *const *names, int n, int *index)
{
    for (int i = 0; i < n; i++) {
        if (lit(c, names[i])) {
            *index = i;
            return true;
        }
    }
    return false;
}

static const char *const short_days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const long_days[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct date {
    int year, month /* 1..12 */, day, hour, min, sec;
};

/* "08:49:37" */
static bool time_of_day(struct cur *c, struct date *d)
{
    return digits(c, 2, &d->hour) && lit(c, ":") && digits(c, 2, &d->min) && lit(c, ":") &&
           digits(c, 2, &d->sec);
}

static bool month_name(struct cur *c, struct date *d)
{
    int m;
    if (!name(c, months, 12, &m))
        return false;
    d->month = m + 1;
    return true;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool imf_fixdate(struct cur c, struct date *d)
{
    int wd;
    return name(&c, short_days, 7, &wd) && lit(&c, ", ") && digits(&c, 2, &d->day) &&
           lit(&c, " ") && month_name(&c, d) && lit(&c, " ") && digits(&c, 4, &d->year) &&
           lit(&c, " ") && time_of_day(&c, d) && lit(&c, " GMT") && c.p == c.end;
}

/*
 * RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". The two-digit year is the one
 * in now_year's century unless that is more than 50 years ahead (RFC 9110).
 */
static bool rfc850_date(struct cur c, int now_year, struct date *d)
{
    int wd, yy;
    if (!(name(&c, long_days, 7, &wd) && lit(&c, ", ") && digits(&c, 2, &d->day) && lit(&c, "-") &&
          month_name(&c, d) && lit(&c, "-") && digits(&c, 2, &yy) && lit(&c, " ") &&
          time_of_day(&c, d) && lit(&c, " GMT") && c.p == c.end))
        return false;
    d->year = now_year - now_year % 100 + yy;
    if (d->year > now_year + 50)
        d->year -= 100;
    return true;
}

/* asctime: "Sun Nov  6 08:49:37 1994" (day as two digits or space and digit) */
static bool asctime_date(struct cur c, struct date *d)
{
    int wd;
    if (!(name(&c, short_days, 7, &wd) && lit(&c, " ") && month_name(&c, d) && lit(&c, " ")))
        return false;
    if (!(lit(&c, " ") ? digits(&c, 1, &d->day) : digits(&c, 2, &d->day)))
        return false;
    return lit(&c, " ") && time_of_day(&c, d) && lit(&c, " ") && digits(&c, 4, &d->year) &&
           c.p == c.end;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool date_valid(const struct date *d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = mdays[d->month - 1] + (d->month == 2 && is_leap(d->year));
    /* sec 60: a leap second is a valid time of day */
    return d->day >= 1 && d->day <= dim && d->hour <= 23 && d->min <= 59 && d->sec <= 60;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil year of a day count (the inverse of days_from_civil, year only). */
static int year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    return (int)(yoe + era * 400 + (m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int parse_delta_seconds(struct cur c, int64_t *delay_ms)
{
    int64_t secs = 0;
    for (const char *p = c.p; p < c.end; p++) {
        if (*p < '0' || *p > '9')
            return FR_EINVAL;
        if (secs < RETRY_AFTER_MAX_S)
            secs = secs * 10 + (*p - '0');
    }
    *delay_ms = FR_MIN(secs, (int64_t)RETRY_AFTER_MAX_S) * 1000;
    return 0;
}

int fr_parse_retry_after(const char *value, int64_t now_wall_ms, int64_t *delay_ms)
{
    if (!value)
        return FR_EINVAL;
    struct cur c = {value, value + strlen(value)};
    while (c.p < c.end && is_ows(*c.p))
        c.p++;
    while (c.end > c.p && is_ows(c.end[-1]))
        c.end--;
    if (c.p == c.end)
        return FR_EINVAL;
    if (*c.p >= '0' && *c.p <= '9')
        return parse_delta_seconds(c, delay_ms);

    int now_year = year_of_days(floor_div(now_wall_ms, 86400000));
    struct date d;
    if (!imf_fixdate(c, &d) && !rfc850_date(c, now_year, &d) && !asctime_date(c, &d))
        return FR_EINVAL;
    if (!date_valid(&d))
        return FR_EINVAL;
    int64_t secs =
        days_from_civil(d.year, d.month, d.day) * 86400 + d.hour * 3600 + d.min * 60 + d.sec;
    int64_t delta = secs * 1000 - now_wall_ms;
    *delay_ms = delta > 0 ? delta : 0;
    return 0;
}
