#include "core/common.h"
#include "mock/mock.h"

#include <setjmp.h>
#include <cmocka.h>

#include "mock/mock_int.h"

static void test_empty_spec_means_no_faults(void **state)
{
    struct fr_mock_faults f;
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("", &f, &why), 0);
    assert_false(f.rate_limited);
    assert_true(f.error5xx == 0 && f.reset == 0 && f.slow == 0);
    assert_int_equal(f.token_ttl_ms, 3600 * 1000);
    assert_int_equal(f.revoke_every_ms, 0);
    assert_false(f.no_dedupe);
    assert_true(f.drop_after == 0);
    assert_int_equal(f.drop_nth, 0);
    assert_false(f.echo_auth);
    assert_int_equal(fr_mock_parse_faults(NULL, &f, &why), 0);
}

static void test_echo_auth_is_a_flag(void **state)
{
    struct fr_mock_faults f;
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("record_error=0.5,echo_auth", &f, &why), 0);
    assert_true(f.echo_auth);
    assert_int_equal(fr_mock_parse_faults("echo_auth=1", &f, &why), FR_EINVAL);
    assert_string_equal(why, "echo_auth=1: takes no value");
    assert_false(f.echo_auth);
    assert_int_equal(fr_mock_parse_faults("echo_auth,echo_auth", &f, &why), FR_EINVAL);
    assert_string_equal(why, "echo_auth given twice");
}

static void test_full_spec(void **state)
{
    struct fr_mock_faults f;
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("rate=600/min,error5xx=0.05,reset=0.01,truncate=0.01,"
                                          "slow=0.02:1500ms,body_error=0.01,record_error=0.02,"
                                          "token_ttl=30s,revoke_every=10s,no_dedupe,"
                                          "drop_after=0.03,drop_nth=5",
                                          &f, &why),
                     0);
    assert_true(f.rate_limited);
    assert_int_equal(f.rate.count, 600);
    assert_int_equal(f.rate.window_ms, 60000);
    assert_true(f.error5xx == 0.05);
    assert_true(f.reset == 0.01);
    assert_true(f.truncate == 0.01);
    assert_true(f.slow == 0.02);
    assert_int_equal(f.slow_ms, 1500);
    assert_true(f.body_error == 0.01);
    assert_true(f.record_error == 0.02);
    assert_int_equal(f.token_ttl_ms, 30000);
    assert_int_equal(f.revoke_every_ms, 10000);
    assert_true(f.no_dedupe);
    assert_true(f.drop_after == 0.03);
    assert_int_equal(f.drop_nth, 5);
}

static void test_drop_faults(void **state)
{
    struct fr_mock_faults f;
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("drop_after=1", &f, &why), 0);
    assert_true(f.drop_after == 1.0);
    assert_int_equal(f.drop_nth, 0);
    assert_int_equal(fr_mock_parse_faults("drop_nth=2", &f, &why), 0);
    assert_int_equal(f.drop_nth, 2);
    assert_true(f.drop_after == 0);
    assert_int_equal(fr_mock_parse_faults("drop_nth=1000000", &f, &why), 0);
    assert_int_equal(f.drop_nth, 1000000);
    /* POST /mock/faults parses with the same function: a good spec replaces, a bad one says why. */
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"drop_after=1.5", "drop_after=1.5: probability must be between 0 and 1"},
        {"drop_after=-1", "drop_after=-1: probability must be between 0 and 1"},
        {"drop_after=", "drop_after=: probability must be between 0 and 1"},
        {"drop_after", "drop_after needs a value (drop_after=...)"},
        {"drop_nth", "drop_nth needs a value (drop_nth=...)"},
        {"drop_nth=1", "drop_nth=1: must be at least 2 (request 1 never reuses a connection)"},
        {"drop_nth=0", "drop_nth=0: must be at least 2 (request 1 never reuses a connection)"},
        {"drop_nth=", "drop_nth=: must be a whole number from 2 to 1000000"},
        {"drop_nth=-2", "drop_nth=-2: must be a whole number from 2 to 1000000"},
        {"drop_nth=2.5", "drop_nth=2.5: must be a whole number from 2 to 1000000"},
        {"drop_nth=0.5", "drop_nth=0.5: must be a whole number from 2 to 1000000"},
        {"drop_nth=3x", "drop_nth=3x: must be a whole number from 2 to 1000000"},
        {"drop_nth= 3", "drop_nth= 3: must be a whole number from 2 to 1000000"},
        {"drop_nth=1000001", "drop_nth=1000001: must be a whole number from 2 to 1000000"},
        {"drop_nth=99999999999999999999",
         "drop_nth=99999999999999999999: must be a whole number from 2 to 1000000"},
        {"drop_nth=2,drop_nth=3", "drop_nth given twice"},
        {"drop_after=0.1,drop_after=0.2", "drop_after given twice"},
        {"drop_nth=2,drop_after=2", "drop_after=2: probability must be between 0 and 1"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        why = NULL;
        assert_int_equal(fr_mock_parse_faults(bad[i].spec, &f, &why), FR_EINVAL);
        assert_non_null(why);
        assert_string_equal(why, bad[i].why);
        /* A bad spec leaves no fault behind. */
        assert_int_equal(f.drop_nth, 0);
        assert_true(f.drop_after == 0);
    }
}

static void test_probability_bounds(void **state)
{
    struct fr_mock_faults f;
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("error5xx=1", &f, &why), 0);
    assert_true(f.error5xx == 1.0);
    assert_int_equal(fr_mock_parse_faults("error5xx=0", &f, &why), 0);
    assert_int_equal(fr_mock_parse_faults("error5xx=1.5", &f, &why), FR_EINVAL);
    assert_string_equal(why, "error5xx=1.5: probability must be between 0 and 1");
    assert_true(f.error5xx == 0); /* reset on failure */
    assert_int_equal(fr_mock_parse_faults("reset=-0.1", &f, &why), FR_EINVAL);
    assert_int_equal(fr_mock_parse_faults("reset=0.1x", &f, &why), FR_EINVAL);
    assert_int_equal(fr_mock_parse_faults("reset=nan", &f, &why), FR_EINVAL);
    assert_int_equal(fr_mock_parse_faults("reset=", &f, &why), FR_EINVAL);
}

struct bad_case {
    const char *spec;
    const char *why;
};

static void test_bad_specs_name_the_item(void **state)
{
    static const struct bad_case cases[] = {
        {"errr5xx=0.1", "unknown fault \"errr5xx\""},
        {"error5xx=0.1,bogus", "unknown fault \"bogus\""},
        {"error5xx", "error5xx needs a value (error5xx=...)"},
        {"no_dedupe=1", "no_dedupe=1: takes no value"},
        {"error5xx=0.1,,reset=0.1", "empty item (two commas, or a comma at an end)"},
        {"error5xx=0.1,", "empty item (two commas, or a comma at an end)"},
        {"error5xx=0.1,error5xx=0.2", "error5xx given twice"},
        {"slow=0.5", "slow=0.5: expected slow=PROBABILITY:DURATION"},
        {"slow=2:10ms", "slow=2:10ms: probability must be between 0 and 1"},
        {"token_ttl=0", "token_ttl=0: must be longer than 0"},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        struct fr_mock_faults f;
        const char *why = NULL;
        assert_int_equal(fr_mock_parse_faults(cases[i].spec, &f, &why), FR_EINVAL);
        assert_non_null(why);
        assert_string_equal(why, cases[i].why);
    }
}

static void test_bad_units_are_explained(void **state)
{
    static const char *const specs[] = {"rate=5/fortnight", "rate=abc",       "slow=0.5:10parsecs",
                                        "token_ttl=30",     "revoke_every=x", "rate=0/s"};
    for (size_t i = 0; i < FR_ARRAY_LEN(specs); i++) {
        struct fr_mock_faults f;
        const char *why = NULL;
        assert_int_equal(fr_mock_parse_faults(specs[i], &f, &why), FR_EINVAL);
        /* The message starts with the item as written. */
        assert_int_equal(strncmp(why, specs[i], strlen(specs[i])), 0);
        assert_true(strlen(why) > strlen(specs[i]) + 2);
    }
}

static void test_help_lists_every_fault(void **state)
{
    const char *help = fr_mock_faults_help();
    static const char *const names[] = {
        "rate=",       "reset=",        "error5xx=",  "body_error=",   "truncate=",
        "slow=",       "record_error=", "token_ttl=", "revoke_every=", "no_dedupe",
        "drop_after=", "drop_nth=",     "echo_auth"};
    for (size_t i = 0; i < FR_ARRAY_LEN(names); i++)
        assert_non_null(strstr(help, names[i]));
}

static void test_rate_window_and_retry_after(void **state)
{
    struct fr__mock_ratelog log = {0};
    struct fr_rate rate = {.count = 3, .window_ms = 10000};
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 1000), 0);
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 2000), 0);
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 2500), 0);
    /* Full: the oldest (t=1000) leaves at 11000 -> 8.5 s -> ceil 9. */
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 2500), 9);
    /* Rejected requests are not admitted: still 3 in the log. */
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 10999), 1);
    /* At 11000 the first leaves the window and one more fits. */
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 11000), 0);
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 11000), 1);
    /* Retry-After is at least 1 even when the slot frees in under a second. */
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 11999), 1);
    /* Much later, all three fit again. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(fr__mock_rate_admit(&log, &rate, 60000), 0);
    assert_true(fr__mock_rate_admit(&log, &rate, 60000) > 0);
    fr__mock_ratelog_release(&log);
}

static void test_rate_log_grows(void **state)
{
    struct fr__mock_ratelog log = {0};
    struct fr_rate rate = {.count = 1000, .window_ms = 1000};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fr__mock_rate_admit(&log, &rate, 5000 + i / 10), 0);
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 5100), 1);
    /* t=5000's ten arrivals leave at 6000. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(fr__mock_rate_admit(&log, &rate, 6000), 0);
    assert_int_equal(fr__mock_rate_admit(&log, &rate, 6000), 1);
    fr__mock_ratelog_release(&log);
}

static void test_credit_validation_names_the_field(void **state)
{
    char buf[128];
    json_t *c = json_pack("{s:s,s:s,s:f,s:s,s:s,s:s}", "participantId", "P000010",
                          "transactionDate", "2024-02-29", "amount", 12.5, "currencyCode", "EUR",
                          "periodId", "2024-02", "sourceRef", "o-1");
    assert_null(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)));
    assert_non_null(strstr(fr__mock_credit_invalid(c, 5, buf, sizeof(buf)), "participantId"));
    json_object_set_new(c, "transactionDate", json_string("2023-02-29"));
    assert_non_null(strstr(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)), "transactionDate"));
    json_object_set_new(c, "transactionDate", json_string("2024-01-31"));
    json_object_set_new(c, "amount", json_string("12"));
    assert_non_null(strstr(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)), "amount"));
    json_object_set_new(c, "amount", json_integer(12));
    json_object_set_new(c, "currencyCode", json_string("eur"));
    assert_non_null(strstr(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)), "currencyCode"));
    json_object_set_new(c, "currencyCode", json_string("USD"));
    json_object_del(c, "periodId");
    assert_non_null(strstr(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)), "periodId"));
    json_object_set_new(c, "periodId", json_string("p"));
    json_object_set_new(c, "sourceRef", json_string(""));
    assert_non_null(strstr(fr__mock_credit_invalid(c, 1000, buf, sizeof(buf)), "sourceRef"));
    json_decref(c);
    json_t *arr = json_array();
    assert_non_null(fr__mock_credit_invalid(arr, 1000, buf, sizeof(buf)));
    json_decref(arr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_spec_means_no_faults),
        cmocka_unit_test(test_echo_auth_is_a_flag),
        cmocka_unit_test(test_full_spec),
        cmocka_unit_test(test_drop_faults),
        cmocka_unit_test(test_probability_bounds),
        cmocka_unit_test(test_bad_specs_name_the_item),
        cmocka_unit_test(test_bad_units_are_explained),
        cmocka_unit_test(test_help_lists_every_fault),
        cmocka_unit_test(test_rate_window_and_retry_after),
        cmocka_unit_test(test_rate_log_grows),
        cmocka_unit_test(test_credit_validation_names_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
