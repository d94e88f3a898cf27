/*
 * test_mock.c: the in-process API of src/mock (start on a free port, stats,
 * stop), with libcurl on loopback.
 */
#include "core/common.h"
#include "mock/mock.h"

#include <curl/curl.h>
#include <dirent.h>

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    fr_buf_add(ud, data, size * nmemb);
    return size * nmemb;
}

static long get(int port, const char *path, const char *method, char **body, char **allow)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct fr_buf out = FR_BUF_INIT, hdr = FR_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    *body = fr_buf_detach(&out, NULL);
    *allow = fr_buf_detach(&hdr, NULL);
    return status;
}

static void test_start_stats_stop(void **state)
{
    int fds = count_fds();
    struct fr_mock_opts opts = {.listen = "127.0.0.1:0", .seeded = true, .seed = 42};
    fr_mock_faults_init(&opts.faults);
    struct fr_mock *m = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_mock_start(&opts, &m, &err), 0);
    assert_true(fr_mock_port(m) > 0);
    assert_int_equal(fr_mock_seed(m), 42);
    assert_string_equal(fr_mock_host(m), "127.0.0.1");

    char *body, *headers;
    assert_int_equal(get(fr_mock_port(m), "/mock/stats", "GET", &body, &headers), 200);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(json_object_get(j, "requests"));
    json_decref(j);
    free(body);
    free(headers);
    assert_int_equal(get(fr_mock_port(m), "/credits", "PUT", &body, &headers), 405);
    assert_non_null(strstr(headers, "Allow: POST, GET"));
    free(body);
    free(headers);

    json_t *stats = fr_mock_stats(m);
    json_t *n = json_object_get(
        json_object_get(json_object_get(stats, "requests"), "GET /mock/stats"), "200");
    assert_int_equal(json_integer_value(n), 1);
    json_decref(stats);
    struct fr_mock_totals t;
    fr_mock_totals(m, &t);
    assert_int_equal(t.requests, 2);
    fr_mock_stop(m);
    fr_mock_stop(NULL);
    /* The listening socket and every connection are gone. */
    assert_int_equal(count_fds(), fds);
}

static void test_bad_listen_addresses(void **state)
{
    static const char *const bad[] = {
        "localhost:80", "127.0.0.1", "127.0.0.1:",     "127.0.0.1:x", "127.0.0.1:70000",
        ":80",          "::1:80",    "[127.0.0.1]:80", "127.0.0.1:-1"};
    for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
        struct fr_mock_opts opts = {.listen = bad[i]};
        fr_mock_faults_init(&opts.faults);
        struct fr_mock *m = NULL;
        struct fr_err err = {0};
        assert_int_equal(fr_mock_start(&opts, &m, &err), FR_EINVAL);
        assert_null(m);
        assert_non_null(strstr(err.msg, bad[i]));
    }
}

static void test_bind_failure_is_eio(void **state)
{
    struct fr_mock_opts opts = {.listen = "127.0.0.1:0"};
    fr_mock_faults_init(&opts.faults);
    struct fr_mock *a = NULL, *b = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_mock_start(&opts, &a, &err), 0);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", fr_mock_port(a));
    opts.listen = addr;
    assert_int_equal(fr_mock_start(&opts, &b, &err), FR_EIO);
    assert_non_null(strstr(err.msg, "cannot listen"));
    fr_mock_stop(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stats_stop),
        cmocka_unit_test(test_bad_listen_addresses),
        cmocka_unit_test(test_bind_failure_is_eio),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
