#include "core/common.h"
#include "mock/mock.h"

#include "mock/mock_int.h"

/* Every fault that /mock/stats reports, present with 0 so the shape is stable. */
static const char *const fault_names[] = {"rate",         "reset",    "error5xx",   "body_error",
                                          "truncate",     "slow",     "drop_after", "drop_nth",
                                          "record_error", "echo_auth"};

static void zero_faults(struct fr_mock *m)
{
    json_object_clear(m->fault_hits);
    for (size_t i = 0; i < FR_ARRAY_LEN(fault_names); i++)
        json_object_set_new(m->fault_hits, fault_names[i], json_integer(0));
}

void fr__mock_stats_init(struct fr_mock *m)
{
    m->tokens = json_object();
    fr__mock_store_init(&m->credits);
    m->requests = json_object();
    m->fault_hits = json_object();
    zero_faults(m);
}

void fr__mock_stats_release(struct fr_mock *m)
{
    json_decref(m->tokens);
    fr__mock_store_release(&m->credits);
    json_decref(m->requests);
    json_decref(m->fault_hits);
}

static void bump(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (v)
        json_integer_set(v, json_integer_value(v) + 1);
    else
        json_object_set_new(obj, key, json_integer(1));
}

void fr__mock_count_request(struct fr_mock *m, const char *key, const char *status)
{
    json_t *route = json_object_get(m->requests, key);
    if (!route) {
        route = json_object();
        json_object_set_new(m->requests, key, route);
    }
    bump(route, status);
}

void fr__mock_count_fault(struct fr_mock *m, const char *name)
{
    bump(m->fault_hits, name);
}

/* Locked. Caller json_decrefs. */
static json_t *stats_locked(struct fr_mock *m)
{
    return json_pack("{s:O,s:I,s:{s:I,s:I,s:I},s:O}", "requests", m->requests, "tokens_issued",
                     (json_int_t)m->tokens_issued, "credits", "stored",
                     (json_int_t)m->credits_stored, "duplicate_attempts",
                     (json_int_t)m->duplicate_attempts, "max_store_count",
                     (json_int_t)m->max_store_count, "faults", m->fault_hits);
}

json_t *fr_mock_stats(struct fr_mock *m)
{
    pthread_mutex_lock(&m->lock);
    /* A deep copy: the live counters keep changing after the lock is released. */
    json_t *tmp = stats_locked(m);
    json_t *copy = json_deep_copy(tmp);
    pthread_mutex_unlock(&m->lock);
    json_decref(tmp);
    return copy;
}

void fr_mock_totals(struct fr_mock *m, struct fr_mock_totals *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&m->lock);
    const char *route, *status;
    json_t *statuses, *n;
    json_object_foreach(m->requests, route, statuses)
    {
        json_object_foreach(statuses, status, n)
        {
            out->requests += (uint64_t)json_integer_value(n);
        }
    }
    const char *name;
    json_object_foreach(m->fault_hits, name, n)
    {
        out->faults += (uint64_t)json_integer_value(n);
    }
    out->tokens_issued = m->tokens_issued;
    out->credits_stored = m->credits_stored;
    pthread_mutex_unlock(&m->lock);
}

void fr__mock_handle_stats(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    out->status = 200;
    out->body = fr_mock_stats(m);
}

void fr__mock_handle_reset(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    pthread_mutex_lock(&m->lock);
    fr__mock_store_clear(&m->credits);
    json_object_clear(m->requests);
    zero_faults(m);
    fr__mock_ratelog_release(&m->ratelog);
    m->tokens_issued = 0;
    m->credits_stored = 0;
    m->duplicate_attempts = 0;
    m->max_store_count = 0;
    pthread_mutex_unlock(&m->lock);
    out->status = 200;
    out->body = json_pack("{s:b}", "reset", 1);
}
