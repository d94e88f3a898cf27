/*
 * End-to-end: the HTTP client (src/http) against the real `ferry mock` on
 * loopback, with faults. Each case asserts what the mock's /mock/stats
 * counted, so the wire is the witness, not the client's own opinion.
 */
#include "core/common.h"
#include "harness.h"

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/redact.h"
#include "http/breaker.h"
#include "http/retry.h"
#include "http/client.h"
#include "cli/sections.h"

struct env {
    struct fr_test_mock mock;
    struct fr_config *cfg;
    struct fr_http_client *client;
    struct fr_http_target *target;
};

/* Starts a mock with faults and a client whose target "im" points at it. */
static struct env *env_new(const char *const *mock_args, const char *target_extra)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    setenv("IT_CLIENT_SECRET", "demo-secret", 1);
    char *yaml = fr_asprintf("targets:\n"
                             "  im:\n"
                             "    base_url: %s\n"
                             "    auth:\n"
                             "      type: oauth2_client_credentials\n"
                             "      token_url: %s/oauth/token\n"
                             "      client_id: demo\n"
                             "      client_secret: ${IT_CLIENT_SECRET}\n"
                             "%s",
                             e->mock.base_url, e->mock.base_url, target_extra ? target_extra : "");
    struct fr_err err = {0};
    int rc = fr_config_load_string(yaml, strlen(yaml), "it.yaml", fr_cli_sections(), &e->cfg, &err);
    if (rc)
        fail_msg("config: %s", err.msg);
    free(yaml);
    assert_int_equal(fr_http_client_new(&e->client, &err), 0);
    assert_int_equal(fr_http_target_new(e->client, &e->cfg->targets[0], &e->target, &err), 0);
    return e;
}

static void env_free(struct env *e)
{
    if (!e)
        return;
    fr_http_client_free(e->client);
    fr_config_free(e->cfg);
    fr_test_mock_stop(&e->mock);
    free(e);
}

static int teardown(void **state)
{
    env_free(*state);
    *state = NULL;
    return 0;
}

/* A batch body of n valid credits with sourceRefs PREFIX-<first>..; caller frees. */
static char *batch_body(const char *prefix, int first, int n)
{
    char *body = fr_strdup("{\"value\":[");
    for (int i = 0; i < n; i++) {
        char *next =
            fr_asprintf("%s%s{\"participantId\":\"P%06d\",\"transactionDate\":\"2026-11-01\","
                        "\"amount\":%d.5,\"currencyCode\":\"USD\",\"periodId\":\"2026-11\","
                        "\"sourceRef\":\"%s-%d\"}",
                        body, i ? "," : "", (first + i) % 1000 + 1, first + i, prefix, first + i);
        free(body);
        body = next;
    }
    char *done = fr_asprintf("%s]}", body);
    free(body);
    return done;
}

struct tally {
    int ok, failed;
    int max_attempts;
};

static void count_done(struct fr_http_result *res, void *ud)
{
    struct tally *t = ud;
    if (res->code == FR_OK)
        t->ok++;
    else
        t->failed++;
    if (res->attempts > t->max_attempts)
        t->max_attempts = res->attempts;
}

static void submit_batches(struct env *e, const char *prefix, int batches, int per_batch,
                           struct tally *tally)
{
    for (int b = 0; b < batches; b++) {
        char *body = batch_body(prefix, b * per_batch, per_batch);
        struct fr_http_request req = {
            .method = "POST", .path = "/credits/batch", .body = body, .body_len = strlen(body)};
        assert_int_equal(fr_http_submit(e->target, &req, count_done, tally), 0);
        free(body);
    }
}

static long fault_count(json_t *stats, const char *name)
{
    json_t *v = json_object_get(json_object_get(stats, "faults"), name);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

static long credits_stat(json_t *stats, const char *name)
{
    json_t *v = json_object_get(json_object_get(stats, "credits"), name);
    return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* 5xx, resets and truncated bodies are retried until every batch is stored. */
static void test_transient_faults_are_retried(void **state)
{
    const char *args[] = {"--faults", "error5xx=0.2,reset=0.1,truncate=0.1", "--seed", "7", NULL};
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 10, base: 10ms, cap: 100ms, max_elapsed: 60s, "
                      "budget: 100% }\n"
                      "    max_in_flight: 4\n");
    struct tally tally = {0};
    submit_batches(e, "tr", 40, 5, &tally);
    assert_int_equal(fr_http_run(e->client, 60000), 0);
    assert_int_equal(tally.ok, 40);
    assert_int_equal(tally.failed, 0);
    assert_true(tally.max_attempts > 1);

    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_non_null(stats);
    assert_true(fault_count(stats, "error5xx") > 0);
    assert_true(fault_count(stats, "reset") > 0);
    assert_true(fault_count(stats, "truncate") > 0);
    /* Every record stored exactly once: none lost, none twice. */
    assert_int_equal(credits_stat(stats, "stored"), 200);
    assert_int_equal(credits_stat(stats, "max_store_count"), 1);
    const struct fr_http_stats *cs = fr_http_target_stats(e->target);
    assert_true(cs->retries > 0);
    json_decref(stats);
}

/* A 429 is answered by waiting Retry-After, not by hammering with short backoffs. */
static void test_429_waits_retry_after(void **state)
{
    const char *args[] = {"--faults", "rate=5/s", NULL};
    /* Backoff alone would retry within 10..50 ms and collect many 429s. */
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 10, base: 10ms, cap: 5s, max_elapsed: 60s }\n"
                      "    max_in_flight: 4\n");
    struct tally tally = {0};
    int64_t start = fr_now_ms();
    submit_batches(e, "ra", 12, 1, &tally);
    assert_int_equal(fr_http_run(e->client, 60000), 0);
    int64_t elapsed = fr_now_ms() - start;
    assert_int_equal(tally.ok, 12);
    json_t *stats = fr_test_mock_stats(&e->mock);
    long n429 = fr_test_stat_requests(stats, "POST /credits/batch", "429");
    long n200 = fr_test_stat_requests(stats, "POST /credits/batch", "200");
    assert_int_equal(n200, 12);
    assert_true(n429 >= 1);
    /* Each 429 holds the whole target for Retry-After (1 s here): only the
     * requests already in flight when the limit hit can see a 429. */
    assert_true(n429 <= 2 * 4);
    /* 12 requests at 5/s with 1 s holds take at least 2 s. */
    assert_true(elapsed >= 1900);
    assert_int_equal(fr_http_target_stats(e->target)->rate_limited, (uint64_t)n429);
    json_decref(stats);
}

/* A configured client-side limit keeps the mock's sliding window from ever answering 429. */
static void test_rate_limit_yields_zero_429(void **state)
{
    const char *args[] = {"--faults", "rate=20/s", NULL};
    struct env *e = *state = env_new(args, "    rate_limit: 20/s\n"
                                           "    max_in_flight: 8\n");
    struct tally tally = {0};
    int64_t start = fr_now_ms();
    submit_batches(e, "rl", 70, 1, &tally);
    assert_int_equal(fr_http_run(e->client, 60000), 0);
    int64_t elapsed = fr_now_ms() - start;
    assert_int_equal(tally.ok, 70);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "429"), 0);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 70);
    assert_int_equal(fault_count(stats, "rate"), 0);
    /* Paced, not bursted: 70 requests 53 ms apart (docs/http.md) take about 3.7 s. */
    assert_true(elapsed >= 3300);
    json_decref(stats);
}

/* Tokens revoked mid-run: one refresh for the whole burst of 401s, then success. */
static void test_revoked_token_is_refreshed_once(void **state)
{
    const char *args[] = {"--faults", "revoke_every=2s", NULL};
    struct env *e = *state = env_new(args, "    max_in_flight: 4\n");
    struct tally tally = {0};
    submit_batches(e, "rv-a", 1, 1, &tally);
    assert_int_equal(fr_http_run(e->client, 10000), 0);
    assert_int_equal(tally.ok, 1);
    /* Past the revocation at 2 s after the mock's start. */
    fr_sleep_ms(2300);
    submit_batches(e, "rv-b", 8, 1, &tally);
    assert_int_equal(fr_http_run(e->client, 10000), 0);
    assert_int_equal(tally.ok, 9);
    assert_int_equal(tally.failed, 0);
    json_t *stats = fr_test_mock_stats(&e->mock);
    long n401 = fr_test_stat_requests(stats, "POST /credits/batch", "401");
    assert_true(n401 >= 1 && n401 <= 4);
    assert_int_equal(fr_test_stat_requests(stats, "POST /oauth/token", "200"), 2);
    assert_int_equal(json_integer_value(json_object_get(stats, "tokens_issued")), 2);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 9);
    assert_int_equal(fr_http_target_stats(e->target)->token_fetches, 2);
    json_decref(stats);
}

/* A 422 and a 400 mean the request is wrong: sent exactly once, never retried. */
static void test_client_errors_are_sent_once(void **state)
{
    struct env *e = *state =
        env_new(NULL, "    retry: { max_attempts: 5, base: 10ms, cap: 50ms }\n");
    const char *bad =
        "{\"participantId\":\"P000001\",\"transactionDate\":\"2026-13-45\","
        "\"amount\":1,\"currencyCode\":\"USD\",\"periodId\":\"p\",\"sourceRef\":\"x1\"}";
    struct fr_http_request req = {
        .method = "POST", .path = "/credits", .body = bad, .body_len = strlen(bad)};
    struct fr_http_result res;
    assert_int_equal(fr_http_perform(e->target, &req, &res), FR_EREJECTED);
    assert_int_equal(res.status, 422);
    assert_int_equal(res.attempts, 1);
    assert_non_null(strstr(res.err.msg, "422"));
    fr_http_result_release(&res);

    char *big = batch_body("big", 0, 101);
    struct fr_http_request req2 = {
        .method = "POST", .path = "/credits/batch", .body = big, .body_len = strlen(big)};
    assert_int_equal(fr_http_perform(e->target, &req2, &res), FR_EREJECTED);
    assert_int_equal(res.status, 400);
    fr_http_result_release(&res);
    free(big);

    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits", "422"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "400"), 1);
    json_decref(stats);
}

/* A 409 is an idempotent success, counted as a duplicate. */
static void test_409_is_duplicate_success(void **state)
{
    struct env *e = *state = env_new(NULL, NULL);
    const char *c =
        "{\"participantId\":\"P000002\",\"transactionDate\":\"2026-11-01\","
        "\"amount\":10,\"currencyCode\":\"USD\",\"periodId\":\"p\",\"sourceRef\":\"dup-1\"}";
    struct fr_http_request req = {
        .method = "POST", .path = "/credits", .body = c, .body_len = strlen(c)};
    struct fr_http_result res;
    assert_int_equal(fr_http_perform(e->target, &req, &res), FR_OK);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.cls, FR_CLASS_SUCCESS);
    fr_http_result_release(&res);
    assert_int_equal(fr_http_perform(e->target, &req, &res), FR_OK);
    assert_int_equal(res.status, 409);
    assert_int_equal(res.cls, FR_CLASS_DUPLICATE);
    assert_int_equal(res.attempts, 1);
    fr_http_result_release(&res);
}

/* A target that keeps failing: bounded attempts, then "unreachable". */
static void test_outage_gives_up_after_max_attempts(void **state)
{
    const char *args[] = {"--faults", "error5xx=1", NULL};
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 4, base: 10ms, cap: 40ms, max_elapsed: 30s }\n");
    char *body = batch_body("out", 0, 1);
    struct fr_http_request req = {
        .method = "POST", .path = "/credits/batch", .body = body, .body_len = strlen(body)};
    struct fr_http_result res;
    assert_int_equal(fr_http_perform(e->target, &req, &res), FR_EUNREACHABLE);
    assert_int_equal(res.attempts, 4);
    assert_non_null(strstr(res.err.msg, "gave up after 4 attempts"));
    fr_http_result_release(&res);
    free(body);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(fault_count(stats, "error5xx"), 4);
    json_decref(stats);
}

/* A 200 whose body says {"success": false} is a failure, retried like a 5xx. */
static void test_body_error_is_retried(void **state)
{
    const char *args[] = {"--faults", "body_error=0.5", "--seed", "3", NULL};
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 12, base: 10ms, cap: 50ms, budget: 100% }\n"
                      "    body_errors: [ { path: /success, equals: false, message: /error } ]\n");
    struct tally tally = {0};
    submit_batches(e, "be", 10, 2, &tally);
    assert_int_equal(fr_http_run(e->client, 30000), 0);
    assert_int_equal(tally.ok, 10);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_true(fault_count(stats, "body_error") > 0);
    assert_int_equal(credits_stat(stats, "stored"), 20);
    json_decref(stats);
}

static long batch_requests(json_t *stats)
{
    long total = 0;
    const char *status;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(stats, "requests"), "POST /credits/batch"),
                        status, v) total += (long)json_integer_value(v);
    return total;
}

/* Under a steady 50% failure rate, retries stay within the budget: no retry storm. */
static void test_retry_budget_bounds_retries(void **state)
{
    const char *args[] = {"--faults", "error5xx=0.5", "--seed", "11", NULL};
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 10, base: 1ms, cap: 5ms, max_elapsed: 60s, "
                      "budget: 10% }\n"
                      "    max_in_flight: 8\n");
    struct tally tally = {0};
    submit_batches(e, "bg", 60, 1, &tally);
    /* Three seconds: without a budget every batch would be through by then. */
    assert_int_equal(fr_http_run(e->client, 3000), FR_ETIMEOUT);
    json_t *stats = fr_test_mock_stats(&e->mock);
    long total = batch_requests(stats);
    /* 60 first attempts plus max(10, 10% of 60) retries in the minute. */
    assert_true(total >= 60);
    assert_true(total <= 60 + FR_BUDGET_MIN_RETRIES);
    assert_true(fr_http_target_stats(e->target)->retries <= FR_BUDGET_MIN_RETRIES);
    assert_true(tally.ok < 60);
    json_decref(stats);
}

/* A target that fails everything trips the breaker: traffic stops instead of hammering. */
static void test_breaker_holds_a_failing_target(void **state)
{
    const char *args[] = {"--faults", "error5xx=1", NULL};
    struct env *e = *state =
        env_new(args, "    retry: { max_attempts: 10, base: 1ms, cap: 5ms, max_elapsed: 60s, "
                      "budget: 100% }\n"
                      "    max_in_flight: 2\n");
    struct tally tally = {0};
    submit_batches(e, "br", 30, 1, &tally);
    assert_int_equal(fr_http_run(e->client, 2000), FR_ETIMEOUT);
    json_t *stats = fr_test_mock_stats(&e->mock);
    long total = batch_requests(stats);
    /* It opens after 10 consecutive failures (plus the one still in flight) and holds 5 s. */
    assert_true(total >= FR_BREAKER_DEFAULT_THRESHOLD);
    assert_true(total <= FR_BREAKER_DEFAULT_THRESHOLD + 2);
    assert_int_equal(fr_http_target_stats(e->target)->breaker_opened, 1);
    json_decref(stats);
}

int main(void)
{
    fr_log_setup(FR_LOG_JSON, FR_LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_transient_faults_are_retried, teardown),
        cmocka_unit_test_teardown(test_429_waits_retry_after, teardown),
        cmocka_unit_test_teardown(test_rate_limit_yields_zero_429, teardown),
        cmocka_unit_test_teardown(test_revoked_token_is_refreshed_once, teardown),
        cmocka_unit_test_teardown(test_client_errors_are_sent_once, teardown),
        cmocka_unit_test_teardown(test_409_is_duplicate_success, teardown),
        cmocka_unit_test_teardown(test_outage_gives_up_after_max_attempts, teardown),
        cmocka_unit_test_teardown(test_body_error_is_retried, teardown),
        cmocka_unit_test_teardown(test_retry_budget_bounds_retries, teardown),
        cmocka_unit_test_teardown(test_breaker_holds_a_failing_target, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fr_redact_reset();
    return rc;
}
