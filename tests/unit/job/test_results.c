#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/redact.h"
#include "job/results.h"

static char *retry_statuses[] = {"THROTTLED", "LOCKED"};
static char *created_statuses[] = {"CREATED", "OK"};

static struct fr_results_conf conf(void)
{
    struct fr_results_conf c = {.configured = true, .key = "sourceRef"};
    return c;
}

static void release_all(struct fr_record_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fr_record_result_release(&r[i]);
}

static void expect(const struct fr_record_result *r, enum fr_outcome o, const char *msg)
{
    if (r->outcome != o)
        print_error("outcome %s, want %s\n", fr_outcome_name(r->outcome), fr_outcome_name(o));
    assert_int_equal(r->outcome, o);
    if (msg) {
        assert_non_null(r->message);
        assert_string_equal(r->message, msg);
    } else {
        assert_null(r->message);
    }
}

static void test_outcome_names(void **state)
{
    assert_string_equal(fr_outcome_name(FR_OUTCOME_CREATED), "created");
    assert_string_equal(fr_outcome_name(FR_OUTCOME_DUPLICATE), "duplicate");
    assert_string_equal(fr_outcome_name(FR_OUTCOME_FAILED), "failed");
    assert_string_equal(fr_outcome_name(FR_OUTCOME_RETRY), "retry");
    assert_string_equal(fr_outcome_name(FR_OUTCOME_MISSING), "missing");
}

static void test_statuses_by_key(void **state)
{
    struct fr_results_conf c = conf();
    c.retry = retry_statuses;
    c.nretry = FR_ARRAY_LEN(retry_statuses);
    json_error_t jerr;
    json_t *body =
        json_loads("{\"results\": ["
                   " {\"sourceRef\": \"E\", \"status\": \"REJECTED\", \"message\": "
                   "\"amount must be positive\"},"
                   " {\"sourceRef\": \"C\", \"status\": \"THROTTLED\"},"
                   " {\"sourceRef\": \"A\", \"status\": \"CREATED\", \"message\": \"ok\"},"
                   " {\"sourceRef\": \"B\", \"status\": \"DUPLICATE\"},"
                   " {\"sourceRef\": \"F\", \"status\": \"WEIRD\"},"
                   " {\"sourceRef\": \"G\"},"
                   " {\"sourceRef\": \"A\", \"status\": \"REJECTED\"},"
                   " {\"sourceRef\": \"H\", \"status\": \"created\"},"
                   " \"not an object\","
                   " {\"status\": \"CREATED\"}"
                   "]}",
                   0, &jerr);
    assert_non_null(body);
    const char *keys[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    struct fr_record_result r[8];
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, body, keys, 8, r, &why), 0);
    assert_null(why);
    expect(&r[0], FR_OUTCOME_CREATED, "ok"); /* the first of two results for A */
    expect(&r[1], FR_OUTCOME_DUPLICATE, NULL);
    expect(&r[2], FR_OUTCOME_RETRY, NULL);
    expect(&r[3], FR_OUTCOME_MISSING, "not in the batch answer");
    expect(&r[4], FR_OUTCOME_FAILED, "amount must be positive");
    expect(&r[5], FR_OUTCOME_FAILED, "status WEIRD");
    expect(&r[6], FR_OUTCOME_FAILED, "no status in the result");
    expect(&r[7], FR_OUTCOME_CREATED, NULL); /* statuses compare without case */
    release_all(r, 8);
    json_decref(body);
}

static void test_configured_members(void **state)
{
    struct fr_results_conf c = conf();
    c.path = "/d/items";
    c.key = "ref";
    c.status = "state";
    c.message = "error";
    c.created = created_statuses;
    c.ncreated = FR_ARRAY_LEN(created_statuses);
    json_t *body = json_pack("{s:{s:[{s:s,s:s},{s:s,s:s,s:{s:s}},{s:s,s:s}]}}", "d", "items", "ref",
                             "1", "state", "OK", "ref", "2", "state", "BAD", "error", "code", "E42",
                             "ref", "3", "state", "CREATED");
    const char *keys[] = {"3", "2", "1"};
    struct fr_record_result r[3];
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, body, keys, 3, r, &why), 0);
    expect(&r[0], FR_OUTCOME_CREATED, NULL);
    expect(&r[1], FR_OUTCOME_FAILED, "{\"code\":\"E42\"}");
    expect(&r[2], FR_OUTCOME_CREATED, NULL);
    release_all(r, 3);
    json_decref(body);
}

static void test_numeric_keys(void **state)
{
    struct fr_results_conf c = conf();
    json_t *body = json_pack("{s:[{s:i,s:s},{s:f,s:s},{s:I,s:s}]}", "results", "sourceRef", 17,
                             "status", "CREATED", "sourceRef", 2.5, "status", "DUPLICATE",
                             "sourceRef", (json_int_t)9007199254740993LL, "status", "CREATED");
    const char *keys[] = {"2.5", "17", "9007199254740993", "017"};
    struct fr_record_result r[4];
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, body, keys, 4, r, &why), 0);
    expect(&r[0], FR_OUTCOME_DUPLICATE, NULL);
    expect(&r[1], FR_OUTCOME_CREATED, NULL);
    expect(&r[2], FR_OUTCOME_CREATED, NULL);
    expect(&r[3], FR_OUTCOME_MISSING, "not in the batch answer");
    release_all(r, 4);
    json_decref(body);
}

static void test_no_array(void **state)
{
    struct fr_results_conf c = conf();
    const char *keys[] = {"A", "B"};
    json_t *bodies[] = {json_pack("{s:s}", "status", "ok"), json_pack("{s:{}}", "results"),
                        json_pack("[]")};
    for (size_t b = 0; b < FR_ARRAY_LEN(bodies); b++) {
        struct fr_record_result r[2];
        char *why = NULL;
        assert_int_equal(fr_results_parse(&c, bodies[b], keys, 2, r, &why), FR_EPARSE);
        assert_non_null(why);
        assert_string_equal(why, "the batch answer has no array at /results");
        assert_int_equal(r[0].outcome, FR_OUTCOME_MISSING);
        assert_int_equal(r[1].outcome, FR_OUTCOME_MISSING);
        free(why);
        release_all(r, 2);
        json_decref(bodies[b]);
    }
    /* an empty array is an answer: every record missing, not a parse error */
    json_t *empty = json_pack("{s:[]}", "results");
    struct fr_record_result r[2];
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, empty, keys, 2, r, &why), 0);
    expect(&r[0], FR_OUTCOME_MISSING, "not in the batch answer");
    release_all(r, 2);
    json_decref(empty);
}

/* 10,000 records answered in reverse order, every third one missing. */
static void test_ten_thousand(void **state)
{
    enum { N = 10000 };
    struct fr_results_conf c = conf();
    json_t *arr = json_array();
    for (int i = N - 1; i >= 0; i--) {
        if (i % 3 == 0)
            continue;
        char key[16];
        snprintf(key, sizeof(key), "K%d", i);
        json_array_append_new(arr, json_pack("{s:s,s:s}", "sourceRef", key, "status",
                                             i % 3 == 1 ? "CREATED" : "DUPLICATE"));
    }
    json_t *body = json_pack("{s:o}", "results", arr);
    char **owned = fr_calloc(N, sizeof(char *));
    const char **keys = fr_calloc(N, sizeof(char *));
    for (int i = 0; i < N; i++) {
        owned[i] = fr_asprintf("K%d", i);
        keys[i] = owned[i];
    }
    struct fr_record_result *r = fr_calloc(N, sizeof(*r));
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, body, keys, N, r, &why), 0);
    for (int i = 0; i < N; i++) {
        enum fr_outcome want = i % 3 == 0   ? FR_OUTCOME_MISSING
                               : i % 3 == 1 ? FR_OUTCOME_CREATED
                                            : FR_OUTCOME_DUPLICATE;
        assert_int_equal(r[i].outcome, want);
    }
    release_all(r, N);
    for (int i = 0; i < N; i++)
        free(owned[i]);
    free(owned);
    free(keys);
    free(r);
    json_decref(body);
}

/*
 * An API that quotes the token it was sent: the message is redacted as it
 * is read, before the journal, the failures or an alert can keep it; so is
 * a status quoted in its place. The token is masked because it is
 * registered (as every token fetched is), not because of its shape.
 */
static void test_messages_redacted(void **state)
{
    fr_redact_add_secret("mock_at_0123456789abcdef");
    struct fr_results_conf c = conf();
    json_t *body =
        json_pack("{s:[{s:s,s:s,s:s},{s:s,s:s},{s:s,s:s,s:{s:s}}]}", "results", "sourceRef", "A",
                  "status", "ERROR", "message", "token mock_at_0123456789abcdef lacks scope",
                  "sourceRef", "B", "status", "DENIED mock_at_0123456789abcdef", "sourceRef", "C",
                  "status", "ERROR", "message", "access_token", "mock_at_unregistered");
    const char *keys[] = {"A", "B", "C"};
    struct fr_record_result r[3];
    char *why = NULL;
    assert_int_equal(fr_results_parse(&c, body, keys, 3, r, &why), 0);
    expect(&r[0], FR_OUTCOME_FAILED, "token [REDACTED] lacks scope");
    expect(&r[1], FR_OUTCOME_FAILED, "status DENIED [REDACTED]");
    expect(&r[2], FR_OUTCOME_FAILED, "{\"access_token\":\"[REDACTED]\"}");
    release_all(r, 3);
    json_decref(body);
    fr_redact_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcome_names),      cmocka_unit_test(test_statuses_by_key),
        cmocka_unit_test(test_configured_members), cmocka_unit_test(test_numeric_keys),
        cmocka_unit_test(test_no_array),           cmocka_unit_test(test_ten_thousand),
        cmocka_unit_test(test_messages_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
