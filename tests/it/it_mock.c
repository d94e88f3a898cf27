/*
 * it_mock.c: `ferry mock` end to end, over loopback, with libcurl.
 */
#include "core/common.h"
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"

#define CLIENT_SECRET "it-secret-7f3a"

static const char *const group_args[] = {
    "--participants",  "250",         "--seed", "1", "--client-id", "demo",
    "--client-secret", CLIENT_SECRET, NULL};

struct reply {
    int rc;        /* 0 when a response arrived */
    CURLcode code; /* what libcurl said: CURLE_GOT_NOTHING is a close without a byte */
    long ms;       /* how long it took */
    long status;
    char *body;
    char *headers;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    fr_buf_add(ud, data, size * nmemb);
    return size * nmemb;
}

/* One request on handle c (a new one when NULL: a new connection), with the response
 * headers kept; body of body_len bytes (binary allowed); gives up after timeout_ms. */
static struct reply http_on(CURL *handle, const char *method, const char *url,
                            const char *const *headers, const char *body, size_t body_len,
                            long timeout_ms)
{
    struct reply r = {0};
    CURL *c = handle ? handle : curl_easy_init();
    struct curl_slist *hl = NULL;
    struct fr_buf out = FR_BUF_INIT, hdr = FR_BUF_INIT;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hdr);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    int64_t t0 = fr_now_ms();
    r.code = curl_easy_perform(c);
    r.ms = (long)(fr_now_ms() - t0);
    r.rc = r.code == CURLE_OK ? 0 : -1;
    if (r.rc == 0)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hl);
    if (handle) /* the handle outlives this call: unhook what it borrowed */
        curl_easy_reset(handle);
    else
        curl_easy_cleanup(c);
    r.body = fr_buf_detach(&out, NULL);
    r.headers = fr_buf_detach(&hdr, NULL);
    return r;
}

static struct reply http(const char *method, const char *url, const char *const *headers,
                         const char *body, size_t body_len)
{
    return http_on(NULL, method, url, headers, body, body_len, 30000);
}

static void reply_release(struct reply *r)
{
    free(r->body);
    free(r->headers);
}

/* The value of a response header (case-insensitive name), copied into out; false if absent. */
static bool header(const struct reply *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strchr(line, '\n');
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t len = eol ? (size_t)(eol - v) : strlen(v);
            while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == ' '))
                len--;
            snprintf(out, outlen, "%.*s", (int)len, v);
            return true;
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

static char *url(const struct fr_test_mock *m, const char *path)
{
    return fr_asprintf("%s%s", m->base_url, path);
}

/* request, on handle (NULL: a new connection), giving up after timeout_ms. */
static struct reply request_on(CURL *handle, const struct fr_test_mock *m, const char *method,
                               const char *path, const char *token, const char *body,
                               long timeout_ms)
{
    char *u = url(m, path);
    char auth[160];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    struct reply r = http_on(handle, method, u, headers, body, body ? strlen(body) : 0, timeout_ms);
    free(u);
    return r;
}

static struct reply request(const struct fr_test_mock *m, const char *method, const char *path,
                            const char *token, const char *body)
{
    return request_on(NULL, m, method, path, token, body, 30000);
}

static json_t *parse(const struct reply *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    if (!j)
        fprintf(stderr, "not JSON: %s\n", r->body);
    assert_non_null(j);
    return j;
}

/* A fresh token for demo/CLIENT_SECRET; caller frees. */
static char *get_token(const struct fr_test_mock *m)
{
    char *u = url(m, "/oauth/token");
    const char *body = "grant_type=client_credentials&client_id=demo&client_secret=" CLIENT_SECRET;
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    struct reply r = http("POST", u, headers, body, strlen(body));
    free(u);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    char *tok = fr_strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    reply_release(&r);
    return tok;
}

static char *credit(const char *ref, const char *participant)
{
    return fr_asprintf("{\"participantId\":\"%s\",\"transactionDate\":\"2024-03-31\","
                       "\"amount\":125.5,\"currencyCode\":\"EUR\",\"periodId\":\"2024-03\","
                       "\"sourceRef\":\"%s\"}",
                       participant, ref);
}

static void mock_reset(const struct fr_test_mock *m)
{
    struct reply r = request(m, "POST", "/mock/reset", NULL, "");
    assert_int_equal(r.status, 200);
    reply_release(&r);
}

/* ---- a shared mock for the functional tests ---- */

static int group_setup(void **state)
{
    struct fr_test_mock *m = fr_calloc(1, sizeof(*m));
    if (fr_test_mock_start(m, group_args) < 0) {
        free(m);
        return -1;
    }
    *state = m;
    return 0;
}

static int group_teardown(void **state)
{
    struct fr_test_mock *m = *state;
    if (m) {
        /* The client secret must never reach the logs. */
        char *err = fr_test_proc_stderr(&m->proc);
        bool leaked = strstr(err, CLIENT_SECRET) != NULL;
        free(err);
        fr_test_mock_stop(m);
        free(m);
        if (leaked) {
            fprintf(stderr, "client secret found in the mock's stderr\n");
            return -1;
        }
    }
    return 0;
}

static void test_token_form(void **state)
{
    struct fr_test_mock *m = *state;
    char *u = url(m, "/oauth/token");
    const char *body = "grant_type=client_credentials&client_id=demo&client_secret=" CLIENT_SECRET
                       "&scope=credits";
    struct reply r = http("POST", u, NULL, body, strlen(body));
    assert_int_equal(r.status, 200);
    char v[64];
    assert_true(header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_true(header(&r, "X-Request-Id", v, sizeof(v)));
    assert_int_equal(strncmp(v, "mock-", 5), 0);
    json_t *j = parse(&r);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    assert_non_null(tok);
    assert_true(strlen(tok) >= 32);
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 3600);
    json_decref(j);
    reply_release(&r);
    free(u);
}

static void test_token_basic(void **state)
{
    struct fr_test_mock *m = *state;
    char *u = url(m, "/oauth/token");
    /* base64("demo:it-secret-7f3a") */
    const char *headers[] = {"Authorization: Basic ZGVtbzppdC1zZWNyZXQtN2YzYQ==", NULL};
    const char *body = "grant_type=client_credentials";
    struct reply r = http("POST", u, headers, body, strlen(body));
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_true(json_is_string(json_object_get(j, "access_token")));
    json_decref(j);
    reply_release(&r);
    free(u);
}

static void test_token_refusals(void **state)
{
    struct fr_test_mock *m = *state;
    char *u = url(m, "/oauth/token");
    const char *wrong = "grant_type=client_credentials&client_id=demo&client_secret=nope";
    struct reply r = http("POST", u, NULL, wrong, strlen(wrong));
    assert_int_equal(r.status, 401);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_client");
    json_decref(j);
    reply_release(&r);

    const char *grant = "grant_type=password&client_id=demo&client_secret=" CLIENT_SECRET;
    r = http("POST", u, NULL, grant, strlen(grant));
    assert_int_equal(r.status, 400);
    j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "unsupported_grant_type");
    json_decref(j);
    reply_release(&r);

    const char *badpct = "grant_type=client_credentials&client_id=%zz";
    r = http("POST", u, NULL, badpct, strlen(badpct));
    assert_int_equal(r.status, 400);
    reply_release(&r);
    free(u);
}

static void test_no_token_401(void **state)
{
    struct fr_test_mock *m = *state;
    static const char *const paths[] = {"/participants", "/credits"};
    for (size_t i = 0; i < FR_ARRAY_LEN(paths); i++) {
        struct reply r = request(m, "GET", paths[i], NULL, NULL);
        assert_int_equal(r.status, 401);
        char v[64];
        assert_true(header(&r, "WWW-Authenticate", v, sizeof(v)));
        assert_string_equal(v, "Bearer error=\"invalid_token\"");
        json_t *j = parse(&r);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "invalid_token");
        json_decref(j);
        reply_release(&r);
    }
    struct reply r = request(m, "GET", "/participants", "0123456789abcdef0123456789abcdef", NULL);
    assert_int_equal(r.status, 401);
    reply_release(&r);
}

static json_t *post_batch(const struct fr_test_mock *m, const char *token, const char *body)
{
    struct reply r = request(m, "POST", "/credits/batch", token, body);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    reply_release(&r);
    return j;
}

static void assert_statuses(json_t *resp, const char *status, size_t n)
{
    json_t *results = json_object_get(resp, "results");
    assert_int_equal(json_array_size(results), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(results, i), "status")), status);
}

static void test_batch_dedupe_and_stats(void **state)
{
    struct fr_test_mock *m = *state;
    mock_reset(m);
    char *tok = get_token(m);
    char *c1 = credit("ORD-1", "P000001"), *c2 = credit("ORD-2", "P000002"),
         *c3 = credit("ORD-3", "P000250");
    char *body = fr_asprintf("{\"value\":[%s,%s,%s]}", c1, c2, c3);
    json_t *j = post_batch(m, tok, body);
    assert_statuses(j, "CREATED", 3);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "results"), 1), "sourceRef")),
                        "ORD-2");
    json_decref(j);
    j = post_batch(m, tok, body);
    assert_statuses(j, "DUPLICATE", 3);
    json_decref(j);

    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    json_t *credits = json_object_get(stats, "credits");
    assert_int_equal(json_integer_value(json_object_get(credits, "stored")), 3);
    assert_int_equal(json_integer_value(json_object_get(credits, "duplicate_attempts")), 3);
    assert_int_equal(json_integer_value(json_object_get(credits, "max_store_count")), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 2);
    json_decref(stats);
    free(body);
    free(c1);
    free(c2);
    free(c3);
    free(tok);
}

static void test_batch_invalid_credit_names_field(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *good = credit("INV-OK", "P000003");
    char *unknown = credit("INV-P", "P000999"); /* only 250 participants */
    const char *bad_date = "{\"participantId\":\"P000001\",\"transactionDate\":\"2024-02-30\","
                           "\"amount\":1,\"currencyCode\":\"EUR\",\"periodId\":\"p\","
                           "\"sourceRef\":\"INV-D\"}";
    const char *bad_amount = "{\"participantId\":\"P000001\",\"transactionDate\":\"2024-02-29\","
                             "\"amount\":\"1\",\"currencyCode\":\"EUR\",\"periodId\":\"p\","
                             "\"sourceRef\":\"INV-A\"}";
    char *body = fr_asprintf("{\"value\":[%s,%s,%s,%s]}", good, unknown, bad_date, bad_amount);
    json_t *j = post_batch(m, tok, body);
    json_t *res = json_object_get(j, "results");
    assert_int_equal(json_array_size(res), 4);
    static const char *const want_status[] = {"CREATED", "ERROR", "ERROR", "ERROR"};
    static const char *const want_field[] = {NULL, "participantId", "transactionDate", "amount"};
    for (size_t i = 0; i < 4; i++) {
        json_t *one = json_array_get(res, i);
        assert_string_equal(json_string_value(json_object_get(one, "status")), want_status[i]);
        if (want_field[i])
            assert_non_null(
                strstr(json_string_value(json_object_get(one, "message")), want_field[i]));
    }
    json_decref(j);
    free(body);
    free(good);
    free(unknown);
    free(tok);
}

static void test_batch_size_limits(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "{\"value\":[");
    for (int i = 0; i < 101; i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "BIG-%d", i);
        char *c = credit(ref, "P000001");
        fr_buf_addf(&b, "%s%s", i ? "," : "", c);
        free(c);
    }
    fr_buf_adds(&b, "]}");
    struct reply r = request(m, "POST", "/credits/batch", tok, fr_buf_str(&b));
    assert_int_equal(r.status, 400);
    json_t *j = parse(&r);
    assert_non_null(json_object_get(j, "error"));
    json_decref(j);
    reply_release(&r);
    r = request(m, "POST", "/credits/batch", tok, "{\"value\":[]}");
    assert_int_equal(r.status, 400);
    reply_release(&r);
    fr_buf_release(&b);
    free(tok);
}

static void test_single_credit(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *c = credit("ONE-1", "P000007");
    struct reply r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 201);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "sourceRef")), "ONE-1");
    json_decref(j);
    reply_release(&r);
    r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 409);
    reply_release(&r);
    const char *invalid = "{\"participantId\":\"P000001\",\"transactionDate\":\"2024-01-01\","
                          "\"amount\":1,\"currencyCode\":\"euro\",\"periodId\":\"p\","
                          "\"sourceRef\":\"ONE-2\"}";
    r = request(m, "POST", "/credits", tok, invalid);
    assert_int_equal(r.status, 422);
    j = parse(&r);
    assert_non_null(strstr(json_string_value(json_object_get(j, "message")), "currencyCode"));
    json_decref(j);
    reply_release(&r);
    r = request(m, "POST", "/credits", tok, "{\"participantId\":");
    assert_int_equal(r.status, 400);
    reply_release(&r);
    free(c);
    free(tok);
}

static void test_get_filter(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *c = credit("FIL'1", "P000008");
    struct reply r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 201);
    reply_release(&r);
    r = request(m, "GET", "/credits?$filter=sourceRef%20eq%20'FIL''1'", tok, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    json_t *v = json_object_get(j, "value");
    assert_int_equal(json_array_size(v), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "sourceRef")),
                        "FIL'1");
    json_decref(j);
    reply_release(&r);
    r = request(m, "GET", "/credits?$filter=sourceRef%20eq%20'absent'", tok, NULL);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_int_equal(json_array_size(json_object_get(j, "value")), 0);
    json_decref(j);
    reply_release(&r);
    r = request(m, "GET", "/credits?$filter=amount%20gt%205", tok, NULL);
    assert_int_equal(r.status, 400);
    reply_release(&r);
    r = request(m, "GET", "/credits", tok, NULL);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_true(json_array_size(json_object_get(j, "value")) >= 1);
    json_decref(j);
    reply_release(&r);
    free(c);
    free(tok);
}

static void test_delete(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *c = credit("DEL 1/x", "P000009");
    struct reply r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 201);
    reply_release(&r);
    r = request(m, "DELETE", "/credits/DEL%201%2Fx", tok, NULL);
    assert_int_equal(r.status, 204);
    reply_release(&r);
    r = request(m, "DELETE", "/credits/DEL%201%2Fx", tok, NULL);
    assert_int_equal(r.status, 404);
    reply_release(&r);
    r = request(m, "POST", "/credits", tok, c); /* gone, so it can be created again */
    assert_int_equal(r.status, 201);
    reply_release(&r);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(fr_test_stat_requests(stats, "DELETE /credits/{sourceRef}", "204"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "DELETE /credits/{sourceRef}", "404"), 1);
    json_decref(stats);
    free(c);
    free(tok);
}

static void test_participants_paging(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *next = url(m, "/participants?$top=100&$orderby=participantId");
    int pages = 0, seen = 0;
    while (next) {
        char auth[160];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
        const char *headers[] = {auth, NULL};
        struct reply r = http("GET", next, headers, NULL, 0);
        assert_int_equal(r.status, 200);
        free(next);
        next = NULL;
        json_t *j = parse(&r);
        json_t *v = json_object_get(j, "value");
        assert_true(json_array_size(v) <= 100);
        for (size_t i = 0; i < json_array_size(v); i++) {
            char want[16];
            snprintf(want, sizeof(want), "P%06d", ++seen);
            json_t *p = json_array_get(v, i);
            assert_string_equal(json_string_value(json_object_get(p, "participantId")), want);
            assert_non_null(json_string_value(json_object_get(p, "email")));
            assert_non_null(json_string_value(json_object_get(p, "lastModified")));
        }
        const char *link = json_string_value(json_object_get(j, "@odata.nextLink"));
        if (link) {
            assert_int_equal(strncmp(link, m->base_url, strlen(m->base_url)), 0);
            assert_non_null(strstr(link, "$top=100"));
            next = fr_strdup(link);
        }
        json_decref(j);
        reply_release(&r);
        pages++;
        assert_true(pages <= 3);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(seen, 250);

    struct reply r = request(m, "GET", "/participants?$skiptoken=%21%21bad", tok, NULL);
    assert_int_equal(r.status, 400);
    reply_release(&r);
    r = request(m, "GET", "/participants?$orderby=email", tok, NULL);
    assert_int_equal(r.status, 400);
    reply_release(&r);
    r = request(m, "GET", "/participants?$top=2&$orderby=participantId%20desc", tok, NULL);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "value"), 0), "participantId")),
                        "P000250");
    json_decref(j);
    reply_release(&r);
    free(tok);
}

static void test_stats_shape(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    assert_int_equal(json_object_size(stats), 4);
    json_t *requests = json_object_get(stats, "requests");
    assert_true(json_is_object(requests));
    const char *route;
    json_t *statuses;
    json_object_foreach(requests, route, statuses)
    {
        assert_non_null(strchr(route, ' '));
        assert_null(strchr(route, '?'));
        const char *status;
        json_t *n;
        json_object_foreach(statuses, status, n)
        {
            assert_true(json_is_integer(n));
        }
    }
    assert_true(fr_test_stat_requests(stats, "POST /oauth/token", "200") >= 1);
    assert_true(json_is_integer(json_object_get(stats, "tokens_issued")));
    assert_true(json_integer_value(json_object_get(stats, "tokens_issued")) >= 1);
    json_t *credits = json_object_get(stats, "credits");
    assert_int_equal(json_object_size(credits), 3);
    assert_true(json_is_integer(json_object_get(credits, "stored")));
    assert_true(json_is_integer(json_object_get(credits, "duplicate_attempts")));
    assert_true(json_is_integer(json_object_get(credits, "max_store_count")));
    json_t *faults = json_object_get(stats, "faults");
    assert_true(json_is_object(faults));
    assert_int_equal(json_integer_value(json_object_get(faults, "rate")), 0);
    json_decref(stats);
    free(tok);
}

static void test_unknown_routes(void **state)
{
    struct fr_test_mock *m = *state;
    struct reply r = request(m, "GET", "/nope/%zz", NULL, NULL);
    assert_int_equal(r.status, 404);
    json_decref(parse(&r));
    reply_release(&r);
    r = request(m, "PUT", "/credits", NULL, "{}");
    assert_int_equal(r.status, 405);
    reply_release(&r);
    json_t *stats = fr_test_mock_stats(m);
    assert_true(fr_test_stat_requests(stats, "GET (unmatched)", "404") >= 1);
    json_decref(stats);
}

static void test_garbage_survives(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char auth[160];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *headers[] = {auth, NULL};
    char *u = url(m, "/credits/batch");
    static const char binary[] = "\x00\xff\xfe{\"value\":[\x01\x02]}\x00garbage";
    struct reply r = http("POST", u, headers, binary, sizeof(binary) - 1);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.status, 400);
    reply_release(&r);
    static const char *const bodies[] = {"not json", "{\"value\":{}}", "[]", "{\"value\":[1,2]}",
                                         "{\"value\":[null]}"};
    for (size_t i = 0; i < FR_ARRAY_LEN(bodies); i++) {
        r = http("POST", u, headers, bodies[i], strlen(bodies[i]));
        assert_int_equal(r.rc, 0);
        assert_true(r.status == 400 || r.status == 200);
        reply_release(&r);
    }
    /* Over the 8 MB cap. */
    size_t big = 9u * 1024 * 1024;
    char *huge = fr_malloc(big);
    memset(huge, '[', big);
    r = http("POST", u, headers, huge, big);
    assert_true(r.rc != 0 || r.status == 413);
    reply_release(&r);
    free(huge);
    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    json_decref(stats);
    free(u);
    free(tok);
}

/* ---- one mock per test, with faults ---- */

static int fault_setup(void **state)
{
    const char *const *args = *state;
    struct fr_test_mock *m = fr_calloc(1, sizeof(*m));
    if (fr_test_mock_start(m, args) < 0) {
        free(m);
        *state = NULL;
        return -1;
    }
    *state = m;
    return 0;
}

static int fault_teardown(void **state)
{
    struct fr_test_mock *m = *state;
    if (m) {
        fr_test_mock_stop(m);
        free(m);
    }
    return 0;
}

/* Five a minute, not a second: the sixth request must fall in the first one's window however
 * slowly a loaded machine sends them. */
static const char *const rate_args[] = {"--faults", "rate=5/min", "--client-secret", CLIENT_SECRET,
                                        NULL};
static void test_fault_rate(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m); /* the token route is never limited */
    for (int i = 0; i < 5; i++) {
        struct reply r = request(m, "GET", "/participants?$top=1", tok, NULL);
        assert_int_equal(r.status, 200);
        reply_release(&r);
    }
    struct reply r = request(m, "GET", "/participants?$top=1", tok, NULL);
    assert_int_equal(r.status, 429);
    char v[32];
    assert_true(header(&r, "Retry-After", v, sizeof(v)));
    assert_true(strtol(v, NULL, 10) >= 1);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "rate_limited");
    json_decref(j);
    reply_release(&r);
    json_t *stats = fr_test_mock_stats(m); /* the /mock routes are never limited */
    assert_non_null(stats);
    assert_int_equal(fr_test_stat_requests(stats, "GET /participants", "429"), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "faults"), "rate")),
                     1);
    json_decref(stats);
    free(tok);
}

static const char *const nodedupe_args[] = {"--faults", "no_dedupe", "--client-secret",
                                            CLIENT_SECRET, NULL};
static void test_fault_no_dedupe(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *c = credit("DUP-1", "P000001");
    for (int i = 0; i < 2; i++) {
        struct reply r = request(m, "POST", "/credits", tok, c);
        assert_int_equal(r.status, 201);
        reply_release(&r);
    }
    json_t *stats = fr_test_mock_stats(m);
    json_t *credits = json_object_get(stats, "credits");
    assert_int_equal(json_integer_value(json_object_get(credits, "max_store_count")), 2);
    assert_int_equal(json_integer_value(json_object_get(credits, "stored")), 2);
    assert_int_equal(json_integer_value(json_object_get(credits, "duplicate_attempts")), 1);
    json_decref(stats);
    free(c);
    free(tok);
}

static const char *const error5xx_args[] = {"--faults", "error5xx=1", "--client-secret",
                                            CLIENT_SECRET, NULL};
static void test_fault_error5xx(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    struct reply r = request(m, "GET", "/participants", tok, NULL);
    assert_int_equal(r.rc, 0);
    assert_true(r.status >= 500 && r.status <= 599);
    json_decref(parse(&r));
    reply_release(&r);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "faults"), "error5xx")), 1);
    json_decref(stats);
    free(tok);
}

static const char *const reset_args[] = {"--faults", "reset=1", "--client-secret", CLIENT_SECRET,
                                         NULL};
static void test_fault_reset(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    long status = 0;
    char *u = url(m, "/participants");
    char auth[160];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *headers[] = {auth, NULL};
    assert_int_equal(fr_test_http("GET", u, headers, NULL, &status, NULL), -1);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(fr_test_stat_requests(stats, "GET /participants", "reset"), 1);
    json_decref(stats);
    free(u);
    free(tok);
}

static const char *const truncate_args[] = {"--faults", "truncate=1", "--client-secret",
                                            CLIENT_SECRET, NULL};
static void test_fault_truncate(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    long status = 0;
    char *u = url(m, "/participants");
    char auth[160];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
    const char *headers[] = {auth, NULL};
    assert_int_equal(fr_test_http("GET", u, headers, NULL, &status, NULL), -1);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "faults"), "truncate")), 1);
    json_decref(stats);
    free(u);
    free(tok);
}

static const char *const ttl_args[] = {"--faults", "token_ttl=1s,body_error=1", NULL};
static void test_fault_token_ttl_and_body_error(void **state)
{
    struct fr_test_mock *m = *state;
    char *u = url(m, "/oauth/token");
    const char *body = "grant_type=client_credentials&client_id=demo&client_secret=demo-secret";
    struct reply r = http("POST", u, NULL, body, strlen(body));
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")), 1);
    char *tok = fr_strdup(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    reply_release(&r);
    char *c = credit("BE-1", "P000001");
    r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_true(json_is_false(json_object_get(j, "success")));
    json_decref(j);
    reply_release(&r);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored")), 0);
    json_decref(stats);
    fr_sleep_ms(1100);
    r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.status, 401);
    reply_release(&r);
    free(c);
    free(tok);
    free(u);
}

static const char *const record_args[] = {"--faults", "record_error=1", "--client-secret",
                                          CLIENT_SECRET, NULL};
static void test_fault_record_error(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    char *c1 = credit("RE-1", "P000001"), *c2 = credit("RE-2", "P000002");
    char *body = fr_asprintf("{\"value\":[%s,%s]}", c1, c2);
    json_t *j = post_batch(m, tok, body);
    assert_statuses(j, "ERROR", 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(j, "results"), 0), "message")),
                        "simulated record failure");
    json_decref(j);
    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored")), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "faults"), "record_error")), 2);
    json_decref(stats);
    free(body);
    free(c1);
    free(c2);
    free(tok);
}

struct slow_call {
    const struct fr_test_mock *m;
    const char *token;
    long status;
    int64_t ms;
};

static void *slow_thread(void *arg)
{
    struct slow_call *sc = arg;
    int64_t t0 = fr_now_ms();
    struct reply r = request(sc->m, "GET", "/participants?$top=1", sc->token, NULL);
    sc->ms = fr_now_ms() - t0;
    sc->status = r.status;
    reply_release(&r);
    return NULL;
}

static const char *const slow_args[] = {"--faults", "slow=1:800ms", "--client-secret",
                                        CLIENT_SECRET, NULL};
static void test_fault_slow_does_not_block_others(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    struct slow_call sc = {.m = m, .token = tok};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_thread, &sc), 0);
    fr_sleep_ms(100);
    int64_t t0 = fr_now_ms();
    json_t *stats = fr_test_mock_stats(m); /* another connection answers meanwhile */
    int64_t stats_ms = fr_now_ms() - t0;
    pthread_join(th, NULL);
    assert_non_null(stats);
    json_decref(stats);
    assert_true(stats_ms < 500);
    assert_int_equal(sc.status, 200);
    assert_true(sc.ms >= 800);
    stats = fr_test_mock_stats(m);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "faults"), "slow")),
                     1);
    json_decref(stats);
    free(tok);
}

/* stats[group][name] as an integer (0 when absent). */
static long stat_of(json_t *stats, const char *group, const char *name)
{
    return (long)json_integer_value(json_object_get(json_object_get(stats, group), name));
}

/* A batch body of credits with the given sourceRefs (NULL-terminated); caller frees. */
static char *batch_of(const char *const *refs)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "{\"value\":[");
    for (size_t i = 0; refs[i]; i++) {
        char *c = credit(refs[i], "P000001");
        fr_buf_addf(&b, "%s%s", i ? "," : "", c);
        free(c);
    }
    fr_buf_adds(&b, "]}");
    return fr_buf_detach(&b, NULL);
}

/* The mock acts (stores) and then closes the connection: not a byte of answer. */
static const char *const drop_after_args[] = {"--faults", "drop_after=1", "--client-secret",
                                              CLIENT_SECRET, NULL};
static void test_fault_drop_after_stores_then_closes(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m); /* the token route is never faulted */
    static const char *const refs[] = {"DA-1", "DA-2", NULL};
    char *body = batch_of(refs);
    struct reply r = request(m, "POST", "/credits/batch", tok, body);
    /* libcurl's "Empty reply from server": closed before a status line. */
    assert_int_equal(r.code, CURLE_GOT_NOTHING);
    assert_string_equal(r.headers, "");
    reply_release(&r);
    /* The single-credit route and the lookup route are dropped the same way. */
    char *c = credit("DA-3", "P000002");
    r = request(m, "POST", "/credits", tok, c);
    assert_int_equal(r.code, CURLE_GOT_NOTHING);
    reply_release(&r);
    r = request(m, "GET", "/credits?$filter=sourceRef%20eq%20'DA-3'", tok, NULL);
    assert_int_equal(r.code, CURLE_GOT_NOTHING);
    reply_release(&r);

    /* Counted before the close, so the stats are final once the client saw it. */
    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    assert_int_equal(stat_of(stats, "credits", "stored"), 3);
    assert_int_equal(stat_of(stats, "faults", "drop_after"), 3);
    assert_int_equal(stat_of(stats, "faults", "reset"), 0);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "drop_after"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits", "drop_after"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "GET /credits", "drop_after"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 0);
    json_decref(stats);

    /* POST /mock/faults parses the new faults too: a bad one is 400, with the reason. */
    r = request(m, "POST", "/mock/faults", NULL, "drop_nth=1");
    assert_int_equal(r.status, 400);
    json_t *j = parse(&r);
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "drop_nth=1: must be at least 2 (request 1 never reuses a connection)");
    json_decref(j);
    reply_release(&r);
    /* With the fault off, a lookup finds what the unanswered requests stored. */
    r = request(m, "POST", "/mock/faults", NULL, "");
    assert_int_equal(r.status, 200);
    reply_release(&r);
    r = request(m, "GET", "/credits?$filter=sourceRef%20eq%20'DA-2'", tok, NULL);
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_int_equal(json_array_size(json_object_get(j, "value")), 1);
    json_decref(j);
    reply_release(&r);
    free(c);
    free(body);
    free(tok);
}

/*
 * A client whose timeout is shorter than the slow fault's delay gives up;
 * the mock has stored the credits by then: they must show in the stats
 * before the delayed answer was due (a mock that delays first stores only
 * after it).
 */
static const char *const slow_acts_args[] = {"--faults", "slow=1:2s", "--client-secret",
                                             CLIENT_SECRET, NULL};
static void test_fault_slow_stores_before_the_delay(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    static const char *const refs[] = {"SL-1", "SL-2", NULL};
    char *body = batch_of(refs);
    int64_t sent = fr_now_ms();
    struct reply r = request_on(NULL, m, "POST", "/credits/batch", tok, body, 300);
    assert_int_equal(r.code, CURLE_OPERATION_TIMEDOUT);
    assert_true(r.ms < 2000);
    reply_release(&r);
    /* Wait for the store, at most until the answer was due (2 s after sending). */
    long stored = 0, slow = 0;
    int64_t seen_at = 0;
    while (fr_now_ms() < sent + 2000) {
        json_t *stats = fr_test_mock_stats(m);
        assert_non_null(stats);
        stored = stat_of(stats, "credits", "stored");
        slow = stat_of(stats, "faults", "slow");
        json_decref(stats);
        seen_at = fr_now_ms();
        if (stored == 2)
            break;
        fr_sleep_ms(20);
    }
    if (stored != 2)
        fprintf(stderr, "credits stored %ld ms after sending: %ld (want 2 before 2000 ms)\n",
                (long)(seen_at - sent), stored);
    assert_int_equal(stored, 2);
    assert_true(seen_at < sent + 2000);
    assert_int_equal(slow, 1); /* counted when the delay starts */
    free(body);
    free(tok);
}

/* A TCP connection to the mock, with 10 s send and receive timeouts. */
static int raw_connect(const struct fr_test_mock *m)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends one HTTP/1.1 (keep-alive) POST of body to path with a bearer token. */
static void raw_post(int fd, const char *path, const char *token, const char *body)
{
    char *req = fr_asprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                            "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            path, token, strlen(body), body);
    size_t len = strlen(req);
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        off += (size_t)n;
    }
    free(req);
}

/*
 * Reads one answer (head, then a Content-Length body) into out and returns
 * its status; 0 when the mock closed the connection (EOF or reset) before
 * sending a byte; -1 on a timeout or a close in the middle of an answer.
 */
static int raw_answer(int fd, struct fr_buf *out)
{
    size_t want = 0; /* the whole answer's length, once the head is in */
    while (!want || out->len < want) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (out->len == 0 && (n == 0 || (n < 0 && errno == ECONNRESET)))
            return 0;
        if (n <= 0)
            return -1;
        fr_buf_add(out, chunk, (size_t)n);
        const char *blank = want ? NULL : strstr(fr_buf_str(out), "\r\n\r\n");
        if (blank) {
            const char *cl = strcasestr(fr_buf_str(out), "\r\nContent-Length:");
            assert_non_null(cl);
            want = (size_t)(blank + 4 - fr_buf_str(out)) + strtoul(cl + 17, NULL, 10);
        }
    }
    if (strncmp(fr_buf_str(out), "HTTP/1.1 ", 9) != 0)
        return -1;
    return (int)strtol(fr_buf_str(out) + 9, NULL, 10);
}

/* Two requests on one keep-alive connection: the first answered, the second
 * stored and then the connection closed without a byte. */
static const char *const drop_nth_args[] = {"--faults", "drop_nth=2", "--client-secret",
                                            CLIENT_SECRET, NULL};
static void test_fault_drop_nth_closes_the_reused_connection(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m); /* on a connection of its own */
    static const char *const first[] = {"DN-1", NULL}, *const second[] = {"DN-2", NULL};
    char *b1 = batch_of(first), *b2 = batch_of(second);
    int fd = raw_connect(m);
    struct fr_buf ans = FR_BUF_INIT;
    raw_post(fd, "/credits/batch", tok, b1);
    assert_int_equal(raw_answer(fd, &ans), 200);
    assert_non_null(strstr(fr_buf_str(&ans), "\"CREATED\""));
    assert_null(strcasestr(fr_buf_str(&ans), "Connection: close"));
    fr_buf_reset(&ans);
    raw_post(fd, "/credits/batch", tok, b2);
    assert_int_equal(raw_answer(fd, &ans), 0);
    assert_int_equal(ans.len, 0);
    close(fd);
    fr_buf_release(&ans);

    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    assert_int_equal(stat_of(stats, "credits", "stored"), 2);
    assert_int_equal(stat_of(stats, "faults", "drop_nth"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "drop_nth"), 1);
    json_decref(stats);
    free(b1);
    free(b2);
    free(tok);
}

/*
 * What drop_nth is for: libcurl re-sends a request whose reused connection
 * closed before a byte of answer, on a new connection, without telling its
 * caller. The mock had stored the credit: the silent re-send is a duplicate.
 */
static void test_fault_drop_nth_libcurl_resends_silently(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    static const char *const first[] = {"RS-1", NULL}, *const second[] = {"RS-2", NULL};
    char *b1 = batch_of(first), *b2 = batch_of(second);
    CURL *h = curl_easy_init();
    struct reply r = request_on(h, m, "POST", "/credits/batch", tok, b1, 30000);
    assert_int_equal(r.status, 200);
    json_t *j = parse(&r);
    assert_statuses(j, "CREATED", 1);
    json_decref(j);
    reply_release(&r);
    r = request_on(h, m, "POST", "/credits/batch", tok, b2, 30000); /* reuses the connection */
    assert_int_equal(r.status, 200);
    j = parse(&r);
    assert_statuses(j, "DUPLICATE", 1);
    json_decref(j);
    reply_release(&r);
    curl_easy_cleanup(h);

    json_t *stats = fr_test_mock_stats(m);
    assert_int_equal(stat_of(stats, "credits", "stored"), 2);
    assert_int_equal(stat_of(stats, "credits", "duplicate_attempts"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "drop_nth"), 1);
    assert_int_equal(fr_test_stat_requests(stats, "POST /credits/batch", "200"), 2);
    json_decref(stats);
    free(b1);
    free(b2);
    free(tok);
}

static const char *const revoke_args[] = {"--faults", "revoke_every=1s", "--client-secret",
                                          CLIENT_SECRET, NULL};
static void test_fault_revoke_every(void **state)
{
    struct fr_test_mock *m = *state;
    char *tok = get_token(m);
    struct reply r = request(m, "GET", "/participants?$top=1", tok, NULL);
    long first = r.status;
    reply_release(&r);
    fr_sleep_ms(1100); /* a revocation falls in between, whenever the period began */
    r = request(m, "GET", "/participants?$top=1", tok, NULL);
    assert_int_equal(r.status, 401);
    reply_release(&r);
    free(tok);
    tok = get_token(m);
    r = request(m, "GET", "/participants?$top=1", tok, NULL);
    /* A fresh token works (unless issued just before a boundary: then retry once). */
    if (r.status == 401) {
        reply_release(&r);
        free(tok);
        tok = get_token(m);
        r = request(m, "GET", "/participants?$top=1", tok, NULL);
    }
    assert_int_equal(r.status, 200);
    assert_true(first == 200 || first == 401);
    reply_release(&r);
    free(tok);
}

/* The statuses of n GET /participants on a fresh mock with args. */
static void status_sequence(const char *const *args, long *out, size_t n)
{
    struct fr_test_mock m;
    assert_int_equal(fr_test_mock_start(&m, args), 0);
    char *tok = get_token(&m);
    for (size_t i = 0; i < n; i++) {
        struct reply r = request(&m, "GET", "/participants?$top=1", tok, NULL);
        out[i] = r.status;
        reply_release(&r);
    }
    free(tok);
    fr_test_mock_stop(&m);
}

static void test_seed_replays_faults(void **state)
{
    static const char *const args[] = {"--faults",        "error5xx=0.5", "--seed", "7",
                                       "--client-secret", CLIENT_SECRET,  NULL};
    long a[24], b[24];
    status_sequence(args, a, FR_ARRAY_LEN(a));
    status_sequence(args, b, FR_ARRAY_LEN(b));
    int ok = 0, failed = 0;
    for (size_t i = 0; i < FR_ARRAY_LEN(a); i++) {
        assert_int_equal(a[i], b[i]);
        if (a[i] == 200)
            ok++;
        else if (a[i] >= 500)
            failed++;
    }
    assert_true(ok > 0 && failed > 0);
    assert_int_equal(ok + failed, (int)FR_ARRAY_LEN(a));
}

/* drop_after draws from the seed like the other faults: the same answers and the same
 * dropped requests, in the same places. */
static void test_seed_replays_drop_after(void **state)
{
    static const char *const args[] = {
        "--faults", "error5xx=0.3,drop_after=0.4", "--seed", "11", "--client-secret", CLIENT_SECRET,
        NULL};
    long a[24], b[24];
    status_sequence(args, a, FR_ARRAY_LEN(a));
    status_sequence(args, b, FR_ARRAY_LEN(b));
    int ok = 0, failed = 0, dropped = 0;
    for (size_t i = 0; i < FR_ARRAY_LEN(a); i++) {
        assert_int_equal(a[i], b[i]);
        if (a[i] == 200)
            ok++;
        else if (a[i] >= 500)
            failed++;
        else if (a[i] == 0) /* no answer */
            dropped++;
    }
    assert_true(ok > 0 && failed > 0 && dropped > 0);
    assert_int_equal(ok + failed + dropped, (int)FR_ARRAY_LEN(a));
}

/* ---- the command line ---- */

static void test_cli_bad_option(void **state)
{
    char *err = NULL;
    const char *args[] = {"mock", "--bogus", NULL};
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "--bogus"));
    free(err);
}

static void test_cli_bad_fault(void **state)
{
    char *err = NULL;
    const char *args[] = {"mock", "--listen", "127.0.0.1:0", "--faults", "errr5xx=0.1", NULL};
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "errr5xx"));
    free(err);
    const char *args2[] = {"mock", "--listen", "127.0.0.1:0", "--faults", "error5xx=1.5", NULL};
    assert_int_equal(fr_test_run(args2, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "error5xx=1.5: probability must be between 0 and 1"));
    free(err);
}

static void test_cli_bad_listen(void **state)
{
    char *err = NULL;
    const char *args[] = {"mock", "--listen", "localhost:8089", NULL};
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "localhost"));
    free(err);
}

static void test_cli_help(void **state)
{
    char *out = NULL;
    const char *args[] = {"mock", "--help", NULL};
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, &out, NULL), 0);
    static const char *const words[] = {
        "--listen", "--faults",  "--seed",    "--client-id",   "--client-secret", "--participants",
        "rate=",    "error5xx=", "no_dedupe", "revoke_every=", "drop_after=",     "drop_nth="};
    for (size_t i = 0; i < FR_ARRAY_LEN(words); i++)
        assert_non_null(strstr(out, words[i]));
    free(out);
}

static void test_cli_bind_failure_and_clean_stop(void **state)
{
    struct fr_test_mock m;
    assert_int_equal(fr_test_mock_start(&m, NULL), 0);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", m.port);
    char *err = NULL;
    const char *args[] = {"mock", "--listen", addr, NULL};
    assert_int_equal(fr_test_run(args, NULL, NULL, 10000, NULL, &err), 4);
    assert_non_null(strstr(err, "cannot listen"));
    free(err);
    /* SIGTERM: a clean stop with a summary line. */
    kill(m.proc.pid, SIGTERM);
    assert_int_equal(fr_test_wait(&m.proc, 10000), 0);
    char *log = fr_test_proc_stderr(&m.proc);
    assert_non_null(strstr(log, "\"mock started\""));
    assert_non_null(strstr(log, "\"mock stopped\""));
    assert_null(strstr(log, "demo-secret"));
    free(log);
    fr_test_mock_stop(&m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest shared[] = {
        cmocka_unit_test(test_token_form),
        cmocka_unit_test(test_token_basic),
        cmocka_unit_test(test_token_refusals),
        cmocka_unit_test(test_no_token_401),
        cmocka_unit_test(test_batch_dedupe_and_stats),
        cmocka_unit_test(test_batch_invalid_credit_names_field),
        cmocka_unit_test(test_batch_size_limits),
        cmocka_unit_test(test_single_credit),
        cmocka_unit_test(test_get_filter),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_participants_paging),
        cmocka_unit_test(test_stats_shape),
        cmocka_unit_test(test_unknown_routes),
        cmocka_unit_test(test_garbage_survives),
    };
#define FAULT_TEST(fn, args)                                                                       \
    cmocka_unit_test_prestate_setup_teardown(fn, fault_setup, fault_teardown, (void *)(args))
    const struct CMUnitTest faults[] = {
        FAULT_TEST(test_fault_rate, rate_args),
        FAULT_TEST(test_fault_no_dedupe, nodedupe_args),
        FAULT_TEST(test_fault_error5xx, error5xx_args),
        FAULT_TEST(test_fault_reset, reset_args),
        FAULT_TEST(test_fault_truncate, truncate_args),
        FAULT_TEST(test_fault_token_ttl_and_body_error, ttl_args),
        FAULT_TEST(test_fault_record_error, record_args),
        FAULT_TEST(test_fault_slow_does_not_block_others, slow_args),
        FAULT_TEST(test_fault_drop_after_stores_then_closes, drop_after_args),
        FAULT_TEST(test_fault_slow_stores_before_the_delay, slow_acts_args),
        FAULT_TEST(test_fault_drop_nth_closes_the_reused_connection, drop_nth_args),
        FAULT_TEST(test_fault_drop_nth_libcurl_resends_silently, drop_nth_args),
        FAULT_TEST(test_fault_revoke_every, revoke_args),
        cmocka_unit_test(test_seed_replays_faults),
        cmocka_unit_test(test_seed_replays_drop_after),
    };
    const struct CMUnitTest cli[] = {
        cmocka_unit_test(test_cli_bad_option),
        cmocka_unit_test(test_cli_bad_fault),
        cmocka_unit_test(test_cli_bad_listen),
        cmocka_unit_test(test_cli_help),
        cmocka_unit_test(test_cli_bind_failure_and_clean_stop),
    };
    int failed = cmocka_run_group_tests_name("mock", shared, group_setup, group_teardown);
    failed += cmocka_run_group_tests_name("mock faults", faults, NULL, NULL);
    failed += cmocka_run_group_tests_name("mock cli", cli, NULL, NULL);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
