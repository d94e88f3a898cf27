#include "core/common.h"
#include "mock/mock.h"

#include "mock/mock_int.h"

#define SOURCE_REF_MAX 256
#define STORE_ROWS_MAX 1000000
#define LIST_MAX       100

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int number(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* YYYY-MM-DD naming a day that exists (leap years included). */
static bool valid_date(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2))
        return false;
    int y = number(s, 4), mo = number(s + 5, 2), d = number(s + 8, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[mo - 1] + (mo == 2 && leap);
}

static bool valid_participant(const char *id, unsigned participants)
{
    if (strlen(id) != 7 || id[0] != 'P' || !all_digits(id + 1, 6))
        return false;
    int n = number(id + 1, 6);
    return n >= 1 && (unsigned)n <= participants;
}

static bool valid_currency(const char *s)
{
    return strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           s[2] >= 'A' && s[2] <= 'Z';
}

/* How long the "unknown participant" message quotes an id: 40 bytes, whole UTF-8 characters. */
static int quoted_len(const char *s)
{
    size_t n = strnlen(s, 41);
    if (n <= 40)
        return (int)n;
    n = 40;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

const char *fr__mock_credit_invalid(const json_t *credit, unsigned participants, char *buf,
                                    size_t buflen)
{
    if (!json_is_object(credit))
        return "credit must be a JSON object";
    const char *pid = json_string_value(json_object_get(credit, "participantId"));
    const char *date = json_string_value(json_object_get(credit, "transactionDate"));
    const char *cur = json_string_value(json_object_get(credit, "currencyCode"));
    const char *period = json_string_value(json_object_get(credit, "periodId"));
    const char *ref = json_string_value(json_object_get(credit, "sourceRef"));
    if (!ref || !*ref)
        return "sourceRef is required (a non-empty string)";
    if (strlen(ref) > SOURCE_REF_MAX)
        return "sourceRef is longer than 256 bytes";
    if (!pid)
        return "participantId is required (a string)";
    if (!valid_participant(pid, participants)) {
        snprintf(buf, buflen, "participantId: unknown participant \"%.*s\"", quoted_len(pid), pid);
        return buf;
    }
    if (!date || !valid_date(date))
        return "transactionDate must be a valid date YYYY-MM-DD";
    if (!json_is_number(json_object_get(credit, "amount")))
        return "amount is required (a JSON number)";
    if (!cur || !valid_currency(cur))
        return "currencyCode must be 3 capital letters (e.g. EUR)";
    if (!period)
        return "periodId is required (a string)";
    return NULL;
}

enum store_result { STORED_NEW, STORED_AGAIN, DUPLICATE, STORE_FULL };

/* A valid credit, ready to store: its sourceRef, and where it is frozen in a buffer. */
struct frozen_credit {
    const char *ref;
    size_t ref_len;
    size_t off;
    size_t len;
};

/* Locked. Stores a credit (frozen in buf at c->off) unless its sourceRef is there. */
static enum store_result store_credit(struct fr_mock *m, const struct frozen_credit *c,
                                      const char *buf)
{
    /* The store is full only for a sourceRef it does not hold yet. */
    if (fr__mock_store_len(&m->credits) >= STORE_ROWS_MAX &&
        !fr__mock_store_find(&m->credits, c->ref))
        return STORE_FULL;
    bool added;
    struct fr__mock_row *row =
        fr__mock_store_add(&m->credits, c->ref, c->ref_len, buf + c->off, c->len, &added);
    if (!added) {
        m->duplicate_attempts++;
        if (!m->faults.no_dedupe)
            return DUPLICATE;
        row->count++;
    }
    m->credits_stored++;
    m->max_store_count = FR_MAX(m->max_store_count, row->count);
    return added ? STORED_NEW : STORED_AGAIN;
}

/* The parsed body, or NULL after setting a 400 in out. Caller json_decrefs. */
static json_t *parse_body(struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    json_error_t e;
    json_t *j = json_loadb(fr_buf_str(rq->body), rq->body->len, 0, &e);
    if (!j) {
        char msg[256];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", e.line, e.column,
                 e.text);
        fr__mock_error(out, 400, "bad_request", msg);
    }
    return j;
}

/* One credit of a batch, from validation to its line of the answer. */
struct batch_item {
    const json_t *credit;
    const char *why;            /* NULL when valid; else static or in buf */
    struct frozen_credit valid; /* when valid; frozen in the request's answer buffer */
    const char *status;
    const char *message;
    char buf[96];
};

#define ECHO_AUTH_MAX 512

char *fr__mock_echo_auth_message(struct fr__mock_req *rq)
{
    const char *auth = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "token ");
    for (size_t i = 0; auth && auth[i] && i < ECHO_AUTH_MAX; i++)
        fr_buf_addc(&b, auth[i] >= 0x20 && auth[i] < 0x7f ? auth[i] : '?');
    fr_buf_adds(&b, " lacks scope");
    return fr_buf_detach(&b, NULL);
}

/*
 * Locked. Draws record_error for every credit, in order, and stores the valid
 * ones, frozen in buf, unless echo (the echo_auth fault's message, or NULL)
 * refuses them.
 */
static void batch_store(struct fr_mock *m, struct batch_item *items, size_t n, const char *buf,
                        const char *echo)
{
    for (size_t i = 0; i < n; i++) {
        struct batch_item *it = &items[i];
        bool record_error =
            m->faults.record_error > 0 && fr_rng_double(&m->rng) < m->faults.record_error;
        it->status = "ERROR";
        if (it->why) {
            it->message = it->why;
        } else if (echo) {
            fr__mock_count_fault(m, "echo_auth");
            it->message = echo;
        } else if (record_error) {
            fr__mock_count_fault(m, "record_error");
            it->message = "simulated record failure";
        } else {
            switch (store_credit(m, &it->valid, buf)) {
            case STORED_NEW:
            case STORED_AGAIN:
                it->status = "CREATED";
                it->message = "created";
                break;
            case DUPLICATE:
                it->status = "DUPLICATE";
                it->message = "sourceRef already exists";
                break;
            case STORE_FULL:
                it->message = "mock store full (POST /mock/reset empties it)";
                break;
            }
        }
    }
}

/* {"results":[{"sourceRef":..,"status":..,"message":..},...]}, as json_dumps(JSON_COMPACT) would.
 */
static void batch_answer(struct fr_buf *b, const struct batch_item *items, size_t n)
{
    fr_buf_adds(b, "{\"results\":[");
    for (size_t i = 0; i < n; i++) {
        const json_t *ref = json_object_get(items[i].credit, "sourceRef");
        fr_buf_adds(b, i ? ",{\"sourceRef\":" : "{\"sourceRef\":");
        fr__mock_json_put(b, json_is_string(ref) ? ref : json_null());
        fr_buf_adds(b, ",\"status\":");
        fr__mock_json_put_string(b, items[i].status);
        fr_buf_adds(b, ",\"message\":");
        fr__mock_json_put_string(b, items[i].message);
        fr_buf_addc(b, '}');
    }
    fr_buf_adds(b, "]}");
}

/* Freezes a valid credit (sourceRef is a string) at the end of buf and describes it in c. */
static void freeze_credit(const json_t *credit, struct fr_buf *buf, struct frozen_credit *c)
{
    const json_t *ref = json_object_get(credit, "sourceRef");
    c->ref = json_string_value(ref);
    c->ref_len = json_string_length(ref);
    c->off = buf->len;
    fr__mock_json_freeze(buf, credit);
    c->len = buf->len - c->off;
}

void fr__mock_handle_batch(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    json_t *body = parse_body(rq, out);
    if (!body)
        return;
    json_t *value = json_object_get(body, "value");
    size_t n = json_array_size(value);
    if (!json_is_array(value) || n < 1 || n > FR__MOCK_BATCH_MAX) {
        fr__mock_error(out, 400, "bad_request",
                       "body must be {\"value\": [credit, ...]} with 1 to 100 credits");
        json_decref(body);
        return;
    }
    /* Validation needs no lock; only the draws and the store do. */
    struct batch_item items[FR__MOCK_BATCH_MAX];
    fr_buf_reset(rq->answer);
    for (size_t i = 0; i < n; i++) {
        struct batch_item *it = &items[i];
        it->credit = json_array_get(value, i);
        it->why = fr__mock_credit_invalid(it->credit, m->participants, it->buf, sizeof(it->buf));
        if (!it->why)
            freeze_credit(it->credit, rq->answer, &it->valid);
    }
    char *echo = rq->echo_auth ? fr__mock_echo_auth_message(rq) : NULL;
    pthread_mutex_lock(&m->lock);
    batch_store(m, items, n, rq->answer->data, echo);
    pthread_mutex_unlock(&m->lock);

    fr_buf_reset(rq->answer);
    batch_answer(rq->answer, items, n);
    out->status = 200;
    out->text = true;
    free(echo);
    json_decref(body);
}

/* The echo_auth fault's refusal of a request about one credit: 403, nothing done. */
static void refuse_echo_auth(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    char *echo = fr__mock_echo_auth_message(rq);
    fr__mock_error(out, 403, "insufficient_scope", echo);
    free(echo);
    pthread_mutex_lock(&m->lock);
    fr__mock_count_fault(m, "echo_auth");
    pthread_mutex_unlock(&m->lock);
}

void fr__mock_handle_post_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out)
{
    json_t *credit = parse_body(rq, out);
    if (!credit)
        return;
    char buf[96];
    const char *why = fr__mock_credit_invalid(credit, m->participants, buf, sizeof(buf));
    if (why) {
        fr__mock_error(out, 422, "invalid_credit", why);
        json_decref(credit);
        return;
    }
    if (rq->echo_auth) {
        refuse_echo_auth(m, rq, out);
        json_decref(credit);
        return;
    }
    struct frozen_credit c;
    fr_buf_reset(rq->answer);
    freeze_credit(credit, rq->answer, &c);
    pthread_mutex_lock(&m->lock);
    enum store_result r = store_credit(m, &c, rq->answer->data);
    pthread_mutex_unlock(&m->lock);
    if (r == DUPLICATE) {
        fr__mock_error(out, 409, "duplicate", "sourceRef already exists");
    } else if (r == STORE_FULL) {
        fr__mock_error(out, 507, "store_full", "mock store full (POST /mock/reset empties it)");
    } else {
        out->status = 201;
        out->body = json_incref(credit);
    }
    json_decref(credit);
}

/* Parses "sourceRef eq 'X'" ('' inside quotes is one quote); X is a new string or NULL. */
static char *parse_filter(const char *filter)
{
    static const char prefix[] = "sourceRef eq '";
    while (*filter == ' ')
        filter++;
    if (strncmp(filter, prefix, sizeof(prefix) - 1) != 0)
        return NULL;
    const char *p = filter + sizeof(prefix) - 1;
    struct fr_buf b;
    fr_buf_init(&b, SOURCE_REF_MAX * 2);
    for (;; p++) {
        if (*p == '\0')
            goto bad;
        if (*p == '\'') {
            if (p[1] != '\'')
                break;
            p++;
        }
        if (fr_buf_addc(&b, *p))
            goto bad;
    }
    for (p++; *p == ' '; p++)
        ;
    if (*p)
        goto bad;
    return fr_buf_detach(&b, NULL);
bad:
    fr_buf_release(&b);
    return NULL;
}

/* Appends a stored credit as JSON. */
static void put_row(struct fr_buf *b, const struct fr__mock_row *row)
{
    json_t *credit = fr__mock_json_thaw(row->credit, row->credit_len);
    FR_ASSERT(credit);
    fr__mock_json_put(b, credit);
    json_decref(credit);
}

void fr__mock_handle_get_credits(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out)
{
    const char *filter = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "$filter");
    char *ref = NULL;
    if (filter && !(ref = parse_filter(filter))) {
        fr__mock_error(out, 400, "bad_request",
                       "unsupported $filter; use $filter=sourceRef eq 'VALUE'");
        return;
    }
    /* {"value":[credit,...]}, as json_dumps(JSON_COMPACT) would write it. */
    struct fr_buf *b = rq->answer;
    fr_buf_adds(b, "{\"value\":[");
    pthread_mutex_lock(&m->lock);
    if (ref) {
        const struct fr__mock_row *row = fr__mock_store_find(&m->credits, ref);
        if (row)
            put_row(b, row);
    } else {
        size_t listed = 0;
        for (const struct fr__mock_row *row = m->credits.head; row && listed < LIST_MAX;
             row = row->next, listed++) {
            if (listed)
                fr_buf_addc(b, ',');
            put_row(b, row);
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(ref);
    fr_buf_adds(b, "]}");
    out->status = 200;
    out->text = true;
}

void fr__mock_handle_delete_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                   struct fr__mock_reply *out)
{
    if (rq->echo_auth) {
        refuse_echo_auth(m, rq, out);
        return;
    }
    pthread_mutex_lock(&m->lock);
    uint64_t count = fr__mock_store_remove(&m->credits, rq->param);
    m->credits_stored -= count;
    pthread_mutex_unlock(&m->lock);
    if (count)
        out->status = 204;
    else
        fr__mock_error(out, 404, "not_found", "no credit with this sourceRef");
}
