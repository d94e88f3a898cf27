/* test_pull.c: the pure helpers of src/job/pull.c (Link headers, watermarks, the first URL). */
#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "core/config.h"
#include "job/pull.h"

static void expect_next(const char *header, const char *want)
{
    char *got = fr__pull_link_next(header);
    if (want == NULL ? got != NULL : !got || strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", header, got ? got : "(none)", want ? want : "(none)");
    free(got);
}

static void test_link_next(void **state)
{
    expect_next("</p?page=2>; rel=\"next\"", "/p?page=2");
    expect_next("<https://api.example.com/p?page=2>; rel=next", "https://api.example.com/p?page=2");
    /* GitHub's style: several links, next not first */
    expect_next("<https://api.github.com/r?page=1>; rel=\"prev\", "
                "<https://api.github.com/r?page=3>; rel=\"next\", "
                "<https://api.github.com/r?page=9>; rel=\"last\"",
                "https://api.github.com/r?page=3");
    /* several relation types, other parameters, any case */
    expect_next("</a>; title=\"a, b; c\"; REL=\"last next\"", "/a");
    expect_next("</a>; rel=\"prev\"; type=\"text/html\", </b>; Rel=Next", "/b");
    /* no next */
    expect_next("</a>; rel=\"prev\"", NULL);
    expect_next("</a>; rel=\"nextpage\"", NULL);
    expect_next("", NULL);
    expect_next("garbage", NULL);
    expect_next("</a; rel=next", NULL);
}

static int cmp(const char *a, const char *b)
{
    json_t *x = json_loads(a, JSON_DECODE_ANY, NULL), *y = json_loads(b, JSON_DECODE_ANY, NULL);
    assert_non_null(x);
    assert_non_null(y);
    int c = fr__pull_watermark_cmp(x, y);
    json_decref(x);
    json_decref(y);
    return c;
}

static void test_watermark_cmp(void **state)
{
    /* date-times as instants: precision and offsets do not fool it */
    assert_int_equal(cmp("\"2024-01-01T00:01:00Z\"", "\"2024-01-01T00:01:00.000Z\""), 0);
    assert_int_equal(cmp("\"2024-01-01T00:01:00.001Z\"", "\"2024-01-01T00:01:00Z\""), 1);
    assert_int_equal(cmp("\"2024-01-01T02:00:00+02:00\"", "\"2024-01-01T00:30:00Z\""), -1);
    assert_int_equal(cmp("\"1970-01-01T00:00:00Z\"", "\"2024-01-01T00:00:00.000Z\""), -1);
    /* other strings bytewise, numbers as numbers */
    assert_int_equal(cmp("\"v10\"", "\"v9\""), -1);
    assert_int_equal(cmp("10", "9"), 1);
    assert_int_equal(cmp("9.5", "10"), -1);
    assert_int_equal(cmp("7", "7.0"), 0);
    /* not comparable */
    assert_int_equal(cmp("\"10\"", "9"), 2);
    assert_int_equal(cmp("null", "\"x\""), 2);
}

static void test_first_url(void **state)
{
    struct fr_query_param params[] = {
        {"$orderby", "participantId"},
        {"$top", "100"},
        {"$filter", "lastModified gt {{watermark}}"},
        {"q", "a&b=c/d"},
    };
    struct fr_pull_request_conf req = {.path = "/participants", .params = params, .nparams = 4};
    json_t *wm = json_string("2024-01-01T00:00:00Z");
    char *url = fr__pull_first_url("http://127.0.0.1:8089/v2", &req, wm);
    assert_string_equal(url, "http://127.0.0.1:8089/v2/participants?$orderby=participantId&$top=100"
                             "&$filter=lastModified%20gt%202024-01-01T00%3A00%3A00Z"
                             "&q=a%26b%3Dc%2Fd");
    free(url);
    json_decref(wm);
    /* a number watermark, a path with its own query, no watermark */
    struct fr_query_param since[] = {{"since", "{{watermark}}"}};
    struct fr_pull_request_conf req2 = {.path = "/items?limit=50", .params = since, .nparams = 1};
    wm = json_integer(1700000000);
    url = fr__pull_first_url("https://api.example.com", &req2, wm);
    assert_string_equal(url, "https://api.example.com/items?limit=50&since=1700000000");
    free(url);
    json_decref(wm);
    url = fr__pull_first_url("https://api.example.com", &req2, NULL);
    assert_string_equal(url, "https://api.example.com/items?limit=50&since=%7B%7Bwatermark%7D%7D");
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_next),
        cmocka_unit_test(test_watermark_cmp),
        cmocka_unit_test(test_first_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
