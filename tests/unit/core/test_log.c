#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <jansson.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "core/redact.h"

/* Log lines go to a memory stream per test. */
struct capture {
    char *buf;
    size_t size;
    FILE *f;
};

static struct capture cap;

static int setup(void **state)
{
    cap.buf = NULL;
    cap.size = 0;
    cap.f = open_memstream(&cap.buf, &cap.size);
    assert_non_null(cap.f);
    fr_log_setup(FR_LOG_JSON, FR_LOG_DEBUG, cap.f);
    fr_redact_reset();
    return 0;
}

static int teardown(void **state)
{
    fr_log_setup(FR_LOG_JSON, FR_LOG_INFO, NULL);
    fr_log_ctx_clear();
    fr_redact_reset();
    fclose(cap.f);
    free(cap.buf);
    return 0;
}

/* The lines written so far (each log call flushes the stream). */
static size_t count_lines(void)
{
    size_t n = 0;
    for (size_t i = 0; i < cap.size; i++)
        n += cap.buf[i] == '\n';
    return n;
}

/* Line number idx (0-based) parsed as a JSON object; the caller decrefs. */
static json_t *json_line(size_t idx)
{
    const char *p = cap.buf;
    for (size_t i = 0; i < idx; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *end = strchr(p, '\n');
    assert_non_null(end);
    json_error_t jerr;
    json_t *obj = json_loadb(p, (size_t)(end - p), 0, &jerr);
    if (!obj)
        print_error("not JSON: %.*s (%s)\n", (int)(end - p), p, jerr.text);
    assert_non_null(obj);
    assert_true(json_is_object(obj));
    return obj;
}

static const char *str_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_json_line(void **state)
{
    FR_LOG_INFO("request", FR_LS("method", "POST"), FR_LI("status", 201), FR_LD("ms", 12.5),
                FR_LB("retry", false), FR_LS("request_id", NULL));
    assert_int_equal(count_lines(), 1);
    /* ts, level and msg come first, in that order. */
    assert_true(strncmp(cap.buf, "{\"ts\":\"", 7) == 0);
    json_t *o = json_line(0);
    const char *ts = str_member(o, "ts");
    /* 2026-11-22T06:25:13.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[19], '.');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(str_member(o, "level"), "info");
    assert_string_equal(str_member(o, "msg"), "request");
    assert_string_equal(str_member(o, "method"), "POST");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 201);
    assert_true(json_real_value(json_object_get(o, "ms")) == 12.5);
    assert_true(json_is_false(json_object_get(o, "retry")));
    assert_true(json_is_null(json_object_get(o, "request_id")));
    assert_int_equal(json_object_size(o), 8);
    json_decref(o);

    FR_LOG_ERROR("second");
    FR_LOG_DEBUG("third");
    assert_int_equal(count_lines(), 3);
    o = json_line(1);
    assert_string_equal(str_member(o, "level"), "error");
    assert_string_equal(str_member(o, "msg"), "second");
    assert_int_equal(json_object_size(o), 3);
    json_decref(o);
    o = json_line(2);
    assert_string_equal(str_member(o, "level"), "debug");
    json_decref(o);
}

static void test_sensitive_fields_masked(void **state)
{
    FR_LOG_INFO("token", FR_LS("access_token", "eyJ.not-a-registered-one"),
                FR_LS("Authorization", "Bearer abc"), FR_LS("client_id", "ferry"),
                FR_LS("header", "Authorization: Bearer zzz"));
    json_t *o = json_line(0);
    assert_string_equal(str_member(o, "access_token"), FR_REDACTED);
    assert_string_equal(str_member(o, "Authorization"), FR_REDACTED);
    assert_string_equal(str_member(o, "client_id"), "ferry");
    assert_string_equal(str_member(o, "header"), "Authorization: [REDACTED]");
    json_decref(o);
    assert_null(strstr(cap.buf, "eyJ.not-a-registered-one"));
    assert_null(strstr(cap.buf, "zzz"));
}

static void test_registered_secret_redacted(void **state)
{
    fr_redact_add_secret("topsecret-77");
    FR_LOG_WARN("token endpoint said topsecret-77 is wrong", FR_LS("body", "x=topsecret-77;"),
                FR_LS("note", "plain"));
    json_t *o = json_line(0);
    assert_string_equal(str_member(o, "msg"), "token endpoint said [REDACTED] is wrong");
    assert_string_equal(str_member(o, "body"), "x=[REDACTED];");
    assert_string_equal(str_member(o, "note"), "plain");
    assert_string_equal(str_member(o, "level"), "warn");
    json_decref(o);
    assert_null(strstr(cap.buf, "topsecret-77"));

    fr_log_set_format(FR_LOG_TEXT);
    FR_LOG_INFO("again topsecret-77", FR_LS("v", "topsecret-77"));
    assert_null(strstr(cap.buf, "topsecret-77"));
}

static void test_text_format(void **state)
{
    fr_log_setup(FR_LOG_TEXT, FR_LOG_INFO, cap.f);
    FR_LOG_INFO("job finished", FR_LS("job", "nightly"), FR_LI("created", 42),
                FR_LS("summary", "all good"), FR_LB("ok", true), FR_LS("empty", ""));
    assert_int_equal(count_lines(), 1);
    /* "<ts> info  job finished job=nightly ..." */
    assert_int_equal(cap.buf[23], 'Z');
    assert_non_null(strstr(cap.buf, " info  job finished job=nightly created=42 "
                                    "summary=\"all good\" ok=true empty=\"\"\n"));
    assert_null(strchr(cap.buf, '{'));
}

static void test_level_filtering(void **state)
{
    fr_log_setup(FR_LOG_JSON, FR_LOG_WARN, cap.f);
    assert_false(fr_log_enabled(FR_LOG_DEBUG));
    assert_false(fr_log_enabled(FR_LOG_INFO));
    assert_true(fr_log_enabled(FR_LOG_WARN));
    assert_true(fr_log_enabled(FR_LOG_ERROR));
    FR_LOG_DEBUG("no");
    FR_LOG_INFO("no");
    FR_LOG_WARN("yes-warn");
    FR_LOG_ERROR("yes-error");
    fr_log_emit(FR_LOG_INFO, "no-direct", NULL, 0);
    assert_int_equal(count_lines(), 2);
    assert_null(strstr(cap.buf, "\"no"));
    json_t *o = json_line(1);
    assert_string_equal(str_member(o, "msg"), "yes-error");
    json_decref(o);

    fr_log_set_level(FR_LOG_ERROR);
    FR_LOG_WARN("no-more");
    assert_int_equal(count_lines(), 2);
}

static void test_context_fields(void **state)
{
    fr_log_ctx_set("run_id", "r-20261122-1");
    fr_log_ctx_set("job", "nightly");
    FR_LOG_INFO("start", FR_LI("records", 3));
    fr_log_ctx_set("job", "other"); /* replaced */
    fr_log_ctx_set("run_id", NULL); /* removed */
    FR_LOG_INFO("next");
    fr_log_ctx_clear();
    FR_LOG_INFO("bare");

    json_t *o = json_line(0);
    assert_string_equal(str_member(o, "run_id"), "r-20261122-1");
    assert_string_equal(str_member(o, "job"), "nightly");
    assert_int_equal(json_integer_value(json_object_get(o, "records")), 3);
    json_decref(o);
    o = json_line(1);
    assert_null(json_object_get(o, "run_id"));
    assert_string_equal(str_member(o, "job"), "other");
    json_decref(o);
    o = json_line(2);
    assert_int_equal(json_object_size(o), 3);
    json_decref(o);
}

static void test_parse_names(void **state)
{
    enum fr_log_format f;
    enum fr_log_level l;
    assert_int_equal(fr_log_parse_format("json", &f), 0);
    assert_int_equal(f, FR_LOG_JSON);
    assert_int_equal(fr_log_parse_format("text", &f), 0);
    assert_int_equal(f, FR_LOG_TEXT);
    assert_int_equal(fr_log_parse_format("xml", &f), FR_EINVAL);
    assert_int_equal(fr_log_parse_level("debug", &l), 0);
    assert_int_equal(l, FR_LOG_DEBUG);
    assert_int_equal(fr_log_parse_level("WARN", &l), 0);
    assert_int_equal(l, FR_LOG_WARN);
    assert_int_equal(fr_log_parse_level("warning", &l), 0);
    assert_int_equal(l, FR_LOG_WARN);
    assert_int_equal(fr_log_parse_level("error", &l), 0);
    assert_int_equal(l, FR_LOG_ERROR);
    assert_int_equal(fr_log_parse_level("loud", &l), FR_EINVAL);
}

/*
 * A batch's lines, written through a SOCK_SEQPACKET socket so that every
 * write(2) arrives as one record: each record is whole lines and at most
 * 4096 bytes (PIPE_BUF) unless it is one longer line; nothing is lost, the
 * order is kept, lines below the level are not added, and the redactor
 * applies as to single lines.
 */
static void test_batch_written_in_whole_lines(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    FILE *out = fdopen(sv[0], "w");
    assert_non_null(out);
    setvbuf(out, NULL, _IONBF, 0);
    fr_log_setup(FR_LOG_JSON, FR_LOG_INFO, out);
    fr_redact_add_secret("hunter2-batch-secret");

    struct fr_log_batch b = {0};
    char pad[200], big[6000];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 60; i++) {
        const struct fr_log_field f[] = {FR_LI("i", i), FR_LS("pad", i == 30 ? big : pad),
                                         FR_LS("note", "token hunter2-batch-secret")};
        fr_log_batch_add(&b, FR_LOG_INFO, "batched", f, FR_ARRAY_LEN(f));
        fr_log_batch_add(&b, FR_LOG_DEBUG, "below the level", NULL, 0);
    }
    fr_log_batch_flush(&b);
    fr_log_batch_flush(&b); /* empty: writes nothing */
    FR_LOG_INFO("after");
    fclose(out);

    int next = 0, records = 0;
    bool after = false;
    static char rec[16384];
    ssize_t got;
    while ((got = read(sv[1], rec, sizeof(rec))) > 0) {
        records++;
        assert_int_equal(rec[got - 1], '\n');
        int lines = 0;
        for (char *p = rec, *nl; p < rec + got; p = nl + 1) {
            nl = memchr(p, '\n', (size_t)(rec + got - p));
            json_error_t jerr;
            json_t *o = json_loadb(p, (size_t)(nl - p), 0, &jerr);
            assert_non_null(o);
            if (strcmp(str_member(o, "msg"), "after") == 0) {
                after = true;
            } else {
                assert_string_equal(str_member(o, "msg"), "batched");
                assert_int_equal(json_integer_value(json_object_get(o, "i")), next++);
                assert_null(strstr(str_member(o, "note"), "hunter2"));
            }
            json_decref(o);
            lines++;
        }
        assert_true(got <= 4096 || lines == 1);
    }
    close(sv[1]);
    fr_log_batch_release(&b);
    assert_int_equal(next, 60);
    assert_true(after);
    assert_true(records >= 5); /* 60 lines of about 300 bytes and one of 6 KB */
    assert_true(records < 61);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sensitive_fields_masked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_secret_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filtering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_written_in_whole_lines, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
