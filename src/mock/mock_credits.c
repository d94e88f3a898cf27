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
        snprintf(buf, buflen, "participantId: unknown participant \"%.40s\"", pid);
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

/* Locked. Stores a valid credit (copied) unless its sourceRef is there already. */
static enum store_result store_credit(struct fr_mock *m, json_t *credit)
{
    const char *ref = json_string_value(json_object_get(credit, "sourceRef"));
    json_t *row = json_object_get(m->credits, ref);
    if (row) {
        m->duplicate_attempts++;
        if (!m->faults.no_dedupe)
            return DUPLICATE;
        json_t *count = json_object_get(row, "count");
        uint64_t n = (uint64_t)json_integer_value(count) + 1;
        json_integer_set(count, (json_int_t)n);
        m->credits_stored++;
        m->max_store_count = FR_MAX(m->max_store_count, n);
        return STORED_AGAIN;
    }
    if (json_object_size(m->credits) >= STORE_ROWS_MAX)
        return STORE_FULL;
    json_object_set_new(m->credits, ref,
                        json_pack("{s:o,s:i}", "credit", json_deep_copy(credit), "count", 1));
    m->credits_stored++;
    m->max_store_count = FR_MAX(m->max_store_count, 1);
    return STORED_NEW;
}

/* The parsed body, or NULL after setting a 400 in out. Caller json_decrefs. */
static json_t *parse_body(struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    json_error_t e;
    json_t *j = json_loadb(rq->body.data ? rq->body.data : "", rq->body.len, 0, &e);
    if (!j) {
        char msg[256];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d column %d: %s", e.line, e.column,
                 e.text);
        fr__mock_error(out, 400, "bad_request", msg);
    }
    return j;
}

static json_t *result(json_t *credit, const char *status, const char *message)
{
    json_t *ref = json_object_get(credit, "sourceRef");
    return json_pack("{s:O,s:s,s:s}", "sourceRef", json_is_string(ref) ? ref : json_null(),
                     "status", status, "message", message);
}

/* Locked. One credit of a batch. */
static json_t *batch_one(struct fr_mock *m, json_t *credit)
{
    char buf[128];
    const char *why = fr__mock_credit_invalid(credit, m->participants, buf, sizeof(buf));
    bool record_error =
        m->faults.record_error > 0 && fr_rng_double(&m->rng) < m->faults.record_error;
    if (why)
        return result(credit, "ERROR", why);
    if (record_error) {
        fr__mock_count_fault(m, "record_error");
        return result(credit, "ERROR", "simulated record failure");
    }
    switch (store_credit(m, credit)) {
    case STORED_NEW:
    case STORED_AGAIN:
        return result(credit, "CREATED", "created");
    case DUPLICATE:
        return result(credit, "DUPLICATE", "sourceRef already exists");
    case STORE_FULL:
        break;
    }
    return result(credit, "ERROR", "mock store full (POST /mock/reset empties it)");
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
    json_t *results = json_array();
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(results, batch_one(m, json_array_get(value, i)));
    pthread_mutex_unlock(&m->lock);
    json_decref(body);
    out->status = 200;
    out->body = json_pack("{s:o}", "results", results);
}

void fr__mock_handle_post_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out)
{
    json_t *credit = parse_body(rq, out);
    if (!credit)
        return;
    char buf[128];
    const char *why = fr__mock_credit_invalid(credit, m->participants, buf, sizeof(buf));
    if (why) {
        fr__mock_error(out, 422, "invalid_credit", why);
        json_decref(credit);
        return;
    }
    pthread_mutex_lock(&m->lock);
    enum store_result r = store_credit(m, credit);
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
FR_STATIC char *fr__mock_parse_filter(const char *filter)
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

void fr__mock_handle_get_credits(struct fr_mock *m, struct fr__mock_req *rq,
                                 struct fr__mock_reply *out)
{
    const char *filter = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "$filter");
    char *ref = NULL;
    if (filter && !(ref = fr__mock_parse_filter(filter))) {
        fr__mock_error(out, 400, "bad_request",
                       "unsupported $filter; use $filter=sourceRef eq 'VALUE'");
        return;
    }
    json_t *value = json_array();
    pthread_mutex_lock(&m->lock);
    if (ref) {
        json_t *row = json_object_get(m->credits, ref);
        if (row)
            json_array_append_new(value, json_deep_copy(json_object_get(row, "credit")));
    } else {
        const char *key;
        json_t *row;
        json_object_foreach(m->credits, key, row)
        {
            if (json_array_size(value) >= LIST_MAX)
                break;
            json_array_append_new(value, json_deep_copy(json_object_get(row, "credit")));
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(ref);
    out->status = 200;
    out->body = json_pack("{s:o}", "value", value);
}

void fr__mock_handle_delete_credit(struct fr_mock *m, struct fr__mock_req *rq,
                                   struct fr__mock_reply *out)
{
    pthread_mutex_lock(&m->lock);
    json_t *row = json_object_get(m->credits, rq->param);
    if (row) {
        m->credits_stored -= (uint64_t)json_integer_value(json_object_get(row, "count"));
        json_object_del(m->credits, rq->param);
    }
    pthread_mutex_unlock(&m->lock);
    if (row)
        out->status = 204;
    else
        fr__mock_error(out, 404, "not_found", "no credit with this sourceRef");
}
