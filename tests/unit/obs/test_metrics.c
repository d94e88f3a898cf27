#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>

#include "core/observer.h"
#include "obs/admin.h"
#include "obs/metrics.h"

static void test_counter_gauge_text(void **state)
{
    struct fr_metrics *m = fr_metrics_new();
    fr_metric_add(m, FR_M_HTTP_RETRIES, (const char *[]){"im"}, 2);
    fr_metric_add(m, FR_M_HTTP_RETRIES, (const char *[]){"im"}, 1);
    fr_metric_add(m, FR_M_HTTP_RETRIES, (const char *[]){"im"}, -5); /* counters never go down */
    fr_metric_set(m, FR_M_JOB_LAST_RUN, (const char *[]){"j"}, 1700000000.5);
    fr_metric_add(m, FR_M_WEBHOOK_REJECTED, (const char *[]){"a\"b\\c\nd", "signature"}, 1);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, (const char *[]){"im"}) == 3);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, (const char *[]){"other"}) == 0);
    char *text = fr_metrics_text(m);
    assert_non_null(strstr(text, "# HELP ferry_http_retries_total Attempts after the first"));
    assert_non_null(strstr(text, "# TYPE ferry_http_retries_total counter\n"));
    assert_non_null(strstr(text, "\nferry_http_retries_total{target=\"im\"} 3\n"));
    assert_non_null(
        strstr(text, "\nferry_job_last_run_timestamp_seconds{job=\"j\"} 1700000000.5\n"));
    assert_non_null(strstr(
        text, "ferry_webhook_rejected_total{source=\"a\\\"b\\\\c\\nd\",reason=\"signature\"} 1\n"));
    /* A family without samples still has its HELP and TYPE. */
    assert_non_null(strstr(text, "# TYPE ferry_delivery_duration_seconds histogram\n"));
    free(text);
    fr_metrics_free(m);
}

static void test_histogram(void **state)
{
    struct fr_metrics *m = fr_metrics_new();
    const char *l[] = {"im", "POST"};
    fr_metric_observe(m, FR_M_HTTP_DURATION, l, 0.004);
    fr_metric_observe(m, FR_M_HTTP_DURATION, l, 0.3);
    fr_metric_observe(m, FR_M_HTTP_DURATION, l, 500);
    char *text = fr_metrics_text(m);
    const char *p = "ferry_http_request_duration_seconds_bucket{target=\"im\",method=\"POST\",le=";
    char want[256];
    snprintf(want, sizeof(want), "%s\"0.005\"} 1\n", p);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s\"0.25\"} 1\n", p);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s\"0.5\"} 2\n", p);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s\"120\"} 2\n", p);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s\"+Inf\"} 3\n", p);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(
        text, "ferry_http_request_duration_seconds_count{target=\"im\",method=\"POST\"} 3\n"));
    assert_non_null(strstr(text,
                           "ferry_http_request_duration_seconds_sum{target=\"im\",method=\"POST\"} "
                           "500.304\n"));
    free(text);
    fr_metrics_free(m);
}

static void *hammer(void *arg)
{
    for (int i = 0; i < 10000; i++)
        fr_metric_add(arg, FR_M_HTTP_RETRIES, (const char *[]){i % 2 ? "a" : "b"}, 1);
    return NULL;
}

/* Four threads adding at once lose nothing. */
static void test_threads(void **state)
{
    struct fr_metrics *m = fr_metrics_new();
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, m);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, (const char *[]){"a"}) == 20000);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, (const char *[]){"b"}) == 20000);
    fr_metrics_free(m);
}

/*
 * The observer the lower floors are handed records into the registry it was
 * made from, with the registry's rules (a counter never goes down, a gauge
 * is set, a histogram observes), and into no other registry.
 */
static void test_observer_records_into_its_registry(void **state)
{
    struct fr_metrics *m = fr_metrics_new(), *other = fr_metrics_new();
    const struct fr_observer o = fr_metrics_observer(m);
    const char *target[] = {"im"};
    fr_observer_add(&o, FR_M_HTTP_RETRIES, target, 2);
    fr_observer_add(&o, FR_M_HTTP_RETRIES, target, 1);
    fr_observer_add(&o, FR_M_HTTP_RETRIES, target, -5);
    fr_observer_set(&o, FR_M_HTTP_BREAKER_OPEN, target, 1);
    fr_observer_set(&o, FR_M_HTTP_BREAKER_OPEN, target, 0.5);
    fr_observer_observe(&o, FR_M_DELIVERY_DURATION, (const char *[]){"gh"}, 0.3);
    fr_observer_observe(&o, FR_M_DELIVERY_DURATION, (const char *[]){"gh"}, 7);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, target) == 3);
    assert_true(fr_metric_get(m, FR_M_HTTP_BREAKER_OPEN, target) == 0.5);
    assert_true(fr_metric_get(m, FR_M_DELIVERY_DURATION, (const char *[]){"gh"}) == 2);
    char *text = fr_metrics_text(m);
    assert_non_null(strstr(text, "\nferry_http_retries_total{target=\"im\"} 3\n"));
    assert_non_null(strstr(text, "\nferry_http_breaker_open{target=\"im\"} 0.5\n"));
    assert_non_null(strstr(text, "\nferry_delivery_duration_seconds_sum{source=\"gh\"} 7.3\n"));
    free(text);
    assert_true(fr_metric_get(other, FR_M_HTTP_RETRIES, target) == 0);
    fr_metrics_free(other);
    fr_metrics_free(m);
}

/* A NULL observer, or one without a function, takes every report and does nothing. */
static void test_observer_null_is_a_no_op(void **state)
{
    const char *target[] = {"im"};
    fr_observer_add(NULL, FR_M_HTTP_RETRIES, target, 1);
    fr_observer_set(NULL, FR_M_HTTP_BREAKER_OPEN, target, 1);
    fr_observer_observe(NULL, FR_M_HTTP_DURATION, (const char *[]){"im", "POST"}, 0.1);
    struct fr_metrics *m = fr_metrics_new();
    struct fr_observer only_set = fr_metrics_observer(m);
    only_set.add = NULL;
    only_set.observe = NULL;
    fr_observer_add(&only_set, FR_M_HTTP_RETRIES, target, 1);
    fr_observer_observe(&only_set, FR_M_HTTP_DURATION, (const char *[]){"im", "POST"}, 0.1);
    fr_observer_set(&only_set, FR_M_HTTP_BREAKER_OPEN, target, 1);
    assert_true(fr_metric_get(m, FR_M_HTTP_RETRIES, target) == 0);
    assert_true(fr_metric_get(m, FR_M_HTTP_DURATION, (const char *[]){"im", "POST"}) == 0);
    assert_true(fr_metric_get(m, FR_M_HTTP_BREAKER_OPEN, target) == 1);
    fr_metrics_free(m);
}

static void test_status_class(void **state)
{
    assert_string_equal(fr_metric_status_class(0), "error");
    assert_string_equal(fr_metric_status_class(204), "2xx");
    assert_string_equal(fr_metric_status_class(429), "4xx");
    assert_string_equal(fr_metric_status_class(503), "5xx");
    assert_string_equal(fr_metric_status_class(999), "other");
}

/* Catalogue names follow the conventions: ferry_ prefix, counters end in _total. */
static void test_catalogue_names(void **state)
{
    for (int id = 0; id < FR_M__COUNT; id++) {
        const struct fr_metric_def *d = fr_metric_def((enum fr_metric_id)id);
        assert_int_equal(strncmp(d->name, "ferry_", 6), 0);
        size_t n = strlen(d->name);
        bool total = n > 6 && strcmp(d->name + n - 6, "_total") == 0;
        assert_true(d->type == FR_METRIC_COUNTER ? total : !total);
        assert_true(d->nlabels >= 1 && d->nlabels <= FR_METRIC_MAX_LABELS);
    }
}

static void test_admin_token(void **state)
{
    assert_true(fr_admin_token_ok("s3cret", "Bearer s3cret"));
    assert_true(fr_admin_token_ok("s3cret", "bearer s3cret"));
    assert_false(fr_admin_token_ok("s3cret", "Bearer s3cre"));
    assert_false(fr_admin_token_ok("s3cret", "Bearer s3cret2"));
    assert_false(fr_admin_token_ok("s3cret", "s3cret"));
    assert_false(fr_admin_token_ok("s3cret", NULL));
    assert_false(fr_admin_token_ok(NULL, "Bearer "));
    assert_false(fr_admin_token_ok("", "Bearer "));
}

/* API reads are open only where the listener is loopback. */
static void test_listen_loopback(void **state)
{
    (void)state;
    assert_true(fr_admin_listen_is_loopback(NULL));
    assert_true(fr_admin_listen_is_loopback("127.0.0.1:8080"));
    assert_true(fr_admin_listen_is_loopback("127.8.9.10:0"));
    assert_true(fr_admin_listen_is_loopback("[::1]:8080"));
    assert_false(fr_admin_listen_is_loopback("0.0.0.0:8080"));
    assert_false(fr_admin_listen_is_loopback("10.1.2.3:8080"));
    assert_false(fr_admin_listen_is_loopback("[::]:8080"));
    assert_false(fr_admin_listen_is_loopback("[fe80::1]:8080"));
    assert_false(fr_admin_listen_is_loopback("128.0.0.1:8080"));
    assert_false(fr_admin_listen_is_loopback("garbage"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_text),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_observer_records_into_its_registry),
        cmocka_unit_test(test_observer_null_is_a_no_op),
        cmocka_unit_test(test_status_class),
        cmocka_unit_test(test_catalogue_names),
        cmocka_unit_test(test_admin_token),
        cmocka_unit_test(test_listen_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
