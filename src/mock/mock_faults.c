#include "core/common.h"
#include "mock/mock.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>

#include "core/log.h"
#include "mock/mock_int.h"

enum fault_kind {
    FK_PROB,     /* name=P */
    FK_PROB_DUR, /* name=P:DURATION */
    FK_RATE,     /* name=N/WINDOW */
    FK_DURATION, /* name=DURATION, > 0 */
    FK_NTH,      /* name=N, a whole number from 2 to NTH_MAX (uint32_t) */
    FK_FLAG,     /* name */
};

struct fault_def {
    const char *name;
    enum fault_kind kind;
    size_t field;     /* offsetof the double, fr_rate or int64_t */
    size_t dur_field; /* FK_PROB_DUR: offsetof the int64_t duration */
    const char *help;
};

#define F(member) offsetof(struct fr_mock_faults, member)

static const struct fault_def faults[] = {
    {"rate", FK_RATE, F(rate), 0,
     "rate=N/WINDOW       at most N requests in any sliding WINDOW (s, min, h);\n"
     "                      beyond it 429 with Retry-After"},
    {"reset", FK_PROB, F(reset), 0,
     "reset=P             with probability P, close the connection before acting, without\n"
     "                      answering"},
    {"error5xx", FK_PROB, F(error5xx), 0,
     "error5xx=P          with probability P, answer 500, 502 or 503 with a JSON error"},
    {"body_error", FK_PROB, F(body_error), 0,
     "body_error=P        with probability P, answer 200 {\"success\":false,...}, store nothing"},
    {"truncate", FK_PROB, F(truncate), 0,
     "truncate=P          with probability P, act, then announce the full Content-Length\n"
     "                      and send half the body"},
    {"slow", FK_PROB_DUR, F(slow), F(slow_ms),
     "slow=P:DURATION     with probability P, act, then delay the answer by DURATION\n"
     "                      (e.g. 0.02:1500ms)"},
    {"drop_after", FK_PROB, F(drop_after), 0,
     "drop_after=P        with probability P, act on the request (store), then close\n"
     "                      the connection without answering"},
    {"drop_nth", FK_NTH, F(drop_nth), 0,
     "drop_nth=N          act on the Nth request of each connection (N >= 2), then close\n"
     "                      the connection without answering (a reused connection dying)"},
    {"record_error", FK_PROB, F(record_error), 0,
     "record_error=P      each batch record independently fails with probability P"},
    {"token_ttl", FK_DURATION, F(token_ttl_ms), 0,
     "token_ttl=DURATION  tokens expire after DURATION (default 1h); expires_in says so"},
    {"revoke_every", FK_DURATION, F(revoke_every_ms), 0,
     "revoke_every=DURATION  every DURATION since start, all tokens issued so far are revoked"},
    {"no_dedupe", FK_FLAG, F(no_dedupe), 0,
     "no_dedupe           store duplicate sourceRefs again instead of refusing them"},
    {"echo_auth", FK_FLAG, F(echo_auth), 0,
     "echo_auth           refuse every valid credit (batch: ERROR; POST, DELETE: 403) with\n"
     "                      a message quoting the request's Authorization header, as an\n"
     "                      API that echoes the token it was sent does"},
};

#undef F

#define NTH_MAX 1000000

static _Thread_local char why_buf[256];

static int fail(const char **why, const char *fmt, ...) FR_PRINTF(2, 3);
static int fail(const char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
    va_end(ap);
    if (why)
        *why = why_buf;
    return FR_EINVAL;
}

void fr_mock_faults_init(struct fr_mock_faults *f)
{
    memset(f, 0, sizeof(*f));
    f->token_ttl_ms = 3600 * 1000;
}

static char help_text[4096];

static void build_help(void)
{
    size_t off = 0;
    for (size_t i = 0; i < FR_ARRAY_LEN(faults) && off < sizeof(help_text); i++)
        off += (size_t)snprintf(help_text + off, sizeof(help_text) - off, "  %s\n", faults[i].help);
}

const char *fr_mock_faults_help(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_help);
    return help_text;
}

/* Strict decimal probability in [0, 1]. */
static bool parse_prob(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (!(tmp[0] >= '0' && tmp[0] <= '9') && tmp[0] != '.')
        return false;
    char *end;
    errno = 0;
    double p = strtod(tmp, &end);
    if (errno || *end || !isfinite(p) || p < 0 || p > 1)
        return false;
    *out = p;
    return true;
}

/* Strict decimal whole number in [0, NTH_MAX]: digits only. */
static bool parse_nth(const char *s, size_t len, uint32_t *out)
{
    if (len == 0 || len > 7)
        return false;
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        n = n * 10 + (uint32_t)(s[i] - '0');
    }
    if (n > NTH_MAX)
        return false;
    *out = n;
    return true;
}

/* Copies value[0..len) into a NUL-terminated buffer for the units parsers. */
static bool copy_value(const char *value, size_t len, char *tmp, size_t cap)
{
    if (len >= cap)
        return false;
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    return true;
}

static int parse_value(const struct fault_def *d, const char *item, size_t name_len,
                       const char *value, size_t vlen, struct fr_mock_faults *out, const char **why)
{
    char *base = (char *)out;
    char tmp[64];
    const char *uwhy = "value too long";
    int n = (int)FR_MIN(name_len + 1 + vlen, 80);
    switch (d->kind) {
    case FK_FLAG:
        return fail(why, "%.*s: takes no value", n, item);
    case FK_PROB:
        if (!parse_prob(value, vlen, (double *)(base + d->field)))
            return fail(why, "%.*s: probability must be between 0 and 1", n, item);
        return 0;
    case FK_PROB_DUR: {
        const char *colon = memchr(value, ':', vlen);
        if (!colon)
            return fail(why, "%.*s: expected %s=PROBABILITY:DURATION", n, item, d->name);
        if (!parse_prob(value, (size_t)(colon - value), (double *)(base + d->field)))
            return fail(why, "%.*s: probability must be between 0 and 1", n, item);
        size_t dlen = vlen - (size_t)(colon - value) - 1;
        int64_t *ms = (int64_t *)(base + d->dur_field);
        if (!copy_value(colon + 1, dlen, tmp, sizeof(tmp)) || fr_parse_duration(tmp, ms, &uwhy))
            return fail(why, "%.*s: %s", n, item, uwhy);
        return 0;
    }
    case FK_RATE: {
        struct fr_rate *r = (struct fr_rate *)(base + d->field);
        if (!copy_value(value, vlen, tmp, sizeof(tmp)) || fr_parse_rate(tmp, r, &uwhy))
            return fail(why, "%.*s: %s", n, item, uwhy);
        if (r->count == 0 || r->window_ms <= 0)
            return fail(why, "%.*s: the rate must allow at least one request", n, item);
        if (r->count > 10000000)
            return fail(why, "%.*s: at most 10000000 requests per window", n, item);
        out->rate_limited = true;
        return 0;
    }
    case FK_NTH: {
        uint32_t *nth = (uint32_t *)(base + d->field);
        if (!parse_nth(value, vlen, nth))
            return fail(why, "%.*s: must be a whole number from 2 to %d", n, item, NTH_MAX);
        if (*nth < 2)
            return fail(why, "%.*s: must be at least 2 (request 1 never reuses a connection)", n,
                        item);
        return 0;
    }
    case FK_DURATION: {
        int64_t *ms = (int64_t *)(base + d->field);
        if (!copy_value(value, vlen, tmp, sizeof(tmp)) || fr_parse_duration(tmp, ms, &uwhy))
            return fail(why, "%.*s: %s", n, item, uwhy);
        if (*ms <= 0)
            return fail(why, "%.*s: must be longer than 0", n, item);
        return 0;
    }
    }
    return fail(why, "%.*s: unsupported", n, item);
}

static int parse_item(const char *item, size_t len, struct fr_mock_faults *out, uint32_t *seen,
                      const char **why)
{
    if (len == 0)
        return fail(why, "empty item (two commas, or a comma at an end)");
    const char *eq = memchr(item, '=', len);
    size_t name_len = eq ? (size_t)(eq - item) : len;
    for (size_t i = 0; i < FR_ARRAY_LEN(faults); i++) {
        const struct fault_def *d = &faults[i];
        if (strlen(d->name) != name_len || memcmp(d->name, item, name_len) != 0)
            continue;
        if (*seen & (1u << i))
            return fail(why, "%s given twice", d->name);
        *seen |= 1u << i;
        if (d->kind == FK_FLAG && !eq) {
            *(bool *)((char *)out + d->field) = true;
            return 0;
        }
        if (!eq)
            return fail(why, "%s needs a value (%s=...)", d->name, d->name);
        return parse_value(d, item, name_len, eq + 1, len - name_len - 1, out, why);
    }
    return fail(why, "unknown fault \"%.*s\"", (int)FR_MIN(name_len, 64), item);
}

int fr_mock_parse_faults(const char *spec, struct fr_mock_faults *out, const char **why)
{
    fr_mock_faults_init(out);
    if (!spec || !*spec)
        return 0;
    uint32_t seen = 0;
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int rc = parse_item(p, len, out, &seen, why);
        if (rc) {
            struct fr_mock_faults clean;
            fr_mock_faults_init(&clean);
            *out = clean;
            return rc;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int64_t fr__mock_rate_admit(struct fr__mock_ratelog *log, const struct fr_rate *rate,
                            int64_t now_ms)
{
    /* Evict arrivals that left the window. */
    while (log->len > 0 && log->at[log->head] <= now_ms - rate->window_ms) {
        log->head = (log->head + 1) % log->cap;
        log->len--;
    }
    if (log->len < rate->count) {
        if (log->len == log->cap) {
            uint32_t ncap = log->cap ? FR_MIN(log->cap * 2, rate->count) : FR_MIN(64, rate->count);
            int64_t *at = fr_reallocarray(NULL, ncap, sizeof(*at));
            for (uint32_t i = 0; i < log->len; i++)
                at[i] = log->at[(log->head + i) % log->cap];
            free(log->at);
            log->at = at;
            log->cap = ncap;
            log->head = 0;
        }
        log->at[(log->head + log->len) % log->cap] = now_ms;
        log->len++;
        return 0;
    }
    int64_t wait_ms = log->at[log->head] + rate->window_ms - now_ms;
    int64_t s = (wait_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

void fr__mock_ratelog_release(struct fr__mock_ratelog *log)
{
    free(log->at);
    memset(log, 0, sizeof(*log));
}

void fr_mock_set_faults(struct fr_mock *m, const struct fr_mock_faults *f)
{
    pthread_mutex_lock(&m->lock);
    /* The rate window restarts with a new spec: requests before it do not count. */
    fr__mock_ratelog_release(&m->ratelog);
    m->faults = *f;
    pthread_mutex_unlock(&m->lock);
}

/*
 * POST /mock/faults: the body is a fault spec (as --faults takes it) that
 * replaces the faults in force from the next request on; an empty body
 * clears them. A bad spec is 400 and changes nothing.
 */
void fr__mock_handle_faults(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    char *spec = fr_strndup(rq->body->data ? rq->body->data : "", rq->body->len);
    struct fr_mock_faults f;
    const char *why = NULL;
    if (fr_mock_parse_faults(spec, &f, &why) != 0) {
        fr__mock_error(out, 400, "bad_faults", why);
        free(spec);
        return;
    }
    fr_mock_set_faults(m, &f);
    FR_LOG_INFO("faults changed", FR_LS("faults", spec));
    out->status = 200;
    out->body = json_pack("{s:s}", "faults", spec);
    free(spec);
}
