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

/* One request with an optional bearer token and body; *resp receives the body. */
static long call(int port, const char *method, const char *path, const char *token,
                 const char *body, char **resp)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[256];
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    struct fr_buf out = FR_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    *resp = fr_buf_detach(&out, NULL);
    return status;
}

#define CREDIT(ref, pid)                                                                           \
    "{\"sourceRef\":\"" ref "\",\"participantId\":\"" pid "\",\"transactionDate\":"                \
    "\"2026-11-02\",\"amount\":1,\"currencyCode\":\"EUR\",\"periodId\":\"2026-11\"}"

/*
 * echo_auth: every valid credit is refused with a message quoting the
 * Authorization header it came with (batch: per record; POST, DELETE: 403);
 * nothing is stored or deleted; reads still work.
 */
static void test_echo_auth(void **state)
{
    struct fr_mock_opts opts = {.listen = "127.0.0.1:0", .seeded = true, .seed = 7};
    const char *why = NULL;
    assert_int_equal(fr_mock_parse_faults("echo_auth", &opts.faults, &why), 0);
    struct fr_mock *m = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_mock_start(&opts, &m, &err), 0);
    int port = fr_mock_port(m);
    char *resp = NULL;
    assert_int_equal(call(port, "POST", "/oauth/token", NULL,
                          "grant_type=client_credentials&client_id=demo&client_secret=demo-secret",
                          &resp),
                     200);
    json_t *tok = json_loads(resp, 0, NULL);
    free(resp);
    char *token = fr_strdup(json_string_value(json_object_get(tok, "access_token")));
    json_decref(tok);
    char *want = fr_asprintf("token Bearer %s lacks scope", token);

    assert_int_equal(call(port, "POST", "/credits/batch", token,
                          "{\"value\":[" CREDIT("E-1", "P000001") "," CREDIT("E-2", "nobody") "]}",
                          &resp),
                     200);
    json_t *answer = json_loads(resp, 0, NULL);
    free(resp);
    json_t *r0 = json_array_get(json_object_get(answer, "results"), 0);
    json_t *r1 = json_array_get(json_object_get(answer, "results"), 1);
    assert_string_equal(json_string_value(json_object_get(r0, "status")), "ERROR");
    assert_string_equal(json_string_value(json_object_get(r0, "message")), want);
    /* an invalid credit keeps its own message */
    assert_string_equal(json_string_value(json_object_get(r1, "status")), "ERROR");
    assert_non_null(strstr(json_string_value(json_object_get(r1, "message")), "participantId"));
    json_decref(answer);

    assert_int_equal(call(port, "POST", "/credits", token, CREDIT("E-3", "P000001"), &resp), 403);
    answer = json_loads(resp, 0, NULL);
    free(resp);
    assert_string_equal(json_string_value(json_object_get(answer, "message")), want);
    json_decref(answer);
    assert_int_equal(call(port, "DELETE", "/credits/E-1", token, NULL, &resp), 403);
    assert_non_null(strstr(resp, token));
    free(resp);
    assert_int_equal(call(port, "GET", "/credits", token, NULL, &resp), 200);
    assert_string_equal(resp, "{\"value\":[]}");
    free(resp);

    json_t *stats = fr_mock_stats(m);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "faults"), "echo_auth")), 3);
    json_decref(stats);
    free(want);
    free(token);
    fr_mock_stop(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stats_stop),
        cmocka_unit_test(test_bad_listen_addresses),
        cmocka_unit_test(test_bind_failure_is_eio),
        cmocka_unit_test(test_echo_auth),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
