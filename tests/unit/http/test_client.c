/*
 * The HTTP client's one-shot POST (fr_http_post_once), the path webhook
 * delivery takes: against a small HTTP/1.1 server on 127.0.0.1 that records
 * every request byte and answers what each case sets. What goes on the
 * wire, what the hand-off table makes of the answer, what is kept of it,
 * connection reuse, timeouts and the stop flag.
 */
#include "core/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/error.h"
#include "http/client.h"

/* ---- a loopback server ------------------------------------------------------------------ */

struct answer {
    int status;
    const char *headers; /* extra header lines, each ending in \r\n */
    size_t body_len;     /* bytes of 'x' */
    int delay_ms;        /* before answering */
};

#define MAX_REQUESTS 8

struct server {
    int lfd;
    int port;
    pthread_t thread;
    atomic_int quit;
    pthread_mutex_t lock;
    struct answer answer;         /* for every request */
    char *requests[MAX_REQUESTS]; /* head and body as received */
    size_t nrequests;
    int accepts;
};

/* Sleeps ms, or less when the server is told to quit. */
static void nap(struct server *s, int ms)
{
    for (int i = 0; i < ms / 10 && !atomic_load(&s->quit); i++)
        fr_sleep_ms(10);
}

static size_t content_length(const char *head)
{
    for (const char *p = head; (p = strchr(p, '\n')); p++)
        if (strncasecmp(p + 1, "content-length:", 15) == 0)
            return (size_t)strtoul(p + 16, NULL, 10);
    return 0;
}

/* Reads what arrived on fd into in; false when the client closed or the server quits. */
static bool recv_some(struct server *s, int fd, struct fr_buf *in)
{
    for (;;) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n > 0) {
            fr_buf_add(in, chunk, (size_t)n);
            return true;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
            atomic_load(&s->quit))
            return false;
    }
}

/* Serves requests on one connection until the client closes it. */
static void serve_connection(struct server *s, int fd)
{
    struct fr_buf in = FR_BUF_INIT;
    for (;;) {
        char *end;
        while (!(end = strstr(fr_buf_str(&in), "\r\n\r\n")))
            if (!recv_some(s, fd, &in))
                goto out;
        size_t head_len = (size_t)(end + 4 - in.data);
        size_t want = head_len + content_length(in.data);
        while (in.len < want)
            if (!recv_some(s, fd, &in))
                goto out;
        pthread_mutex_lock(&s->lock);
        if (s->nrequests < MAX_REQUESTS)
            s->requests[s->nrequests++] = fr_strndup(in.data, want);
        struct answer a = s->answer;
        pthread_mutex_unlock(&s->lock);
        memmove(in.data, in.data + want, in.len - want);
        in.len -= want;
        in.data[in.len] = '\0';

        nap(s, a.delay_ms);
        char *body = fr_malloc(a.body_len + 1);
        memset(body, 'x', a.body_len);
        char *head = fr_asprintf("HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\n%s\r\n", a.status,
                                 a.body_len, a.headers ? a.headers : "");
        bool ok = send(fd, head, strlen(head), MSG_NOSIGNAL) >= 0 &&
                  send(fd, body, a.body_len, MSG_NOSIGNAL) >= 0;
        free(head);
        free(body);
        if (!ok)
            break;
    }
out:
    fr_buf_release(&in);
    close(fd);
}

static void *server_main(void *ud)
{
    struct server *s = ud;
    while (!atomic_load(&s->quit)) {
        struct pollfd pf = {.fd = s->lfd, .events = POLLIN};
        if (poll(&pf, 1, 20) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->lock);
        s->accepts++;
        pthread_mutex_unlock(&s->lock);
        struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        serve_connection(s, fd);
    }
    return NULL;
}

/* A listening socket on 127.0.0.1 with a free port. */
static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static struct server *server_start(struct answer a)
{
    struct server *s = fr_calloc(1, sizeof(*s));
    s->lfd = listen_loopback(&s->port);
    s->answer = a;
    pthread_mutex_init(&s->lock, NULL);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
    return s;
}

static void server_stop(struct server *s)
{
    atomic_store(&s->quit, 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (size_t i = 0; i < s->nrequests; i++)
        free(s->requests[i]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The value of header name in a recorded request (case-insensitive name), or NULL. Caller frees. */
static char *header_of(const char *request, const char *name)
{
    size_t n = strlen(name);
    const char *end = strstr(request, "\r\n\r\n");
    for (const char *p = strstr(request, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 2 + n + 1;
            while (*v == ' ')
                v++;
            return fr_strndup(v, (size_t)(strstr(v, "\r\n") - v));
        }
    }
    return NULL;
}

/* ---- cases ------------------------------------------------------------------------------ */

struct env {
    struct server *server;
    struct fr_http_client *client;
    char *url;
};

static struct env *env_new(struct answer a)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    e->server = server_start(a);
    e->url = fr_asprintf("http://127.0.0.1:%d/hook", e->server->port);
    struct fr_err err = {0};
    assert_int_equal(fr_http_client_new(&e->client, &err), 0);
    return e;
}

static int teardown(void **state)
{
    struct env *e = *state;
    if (e) {
        fr_http_client_free(e->client);
        server_stop(e->server);
        free(e->url);
        free(e);
    }
    return 0;
}

static const char *const delivery_headers[] = {"Content-Type: application/json",
                                               "Expect:", "X-Ferry-Event-Id: evt-1",
                                               "X-Ferry-Source: crm", "X-Ferry-Attempt: 2"};

static struct fr_http_post post_of(const struct env *e, const char *body)
{
    return (struct fr_http_post){.url = e->url,
                                 .body = body,
                                 .body_len = strlen(body),
                                 .headers = delivery_headers,
                                 .nheaders = FR_ARRAY_LEN(delivery_headers),
                                 .connect_timeout_ms = 5000,
                                 .total_timeout_ms = 10000,
                                 .keep = 301};
}

/* What a delivery puts on the wire: its headers as given, libcurl's few, nothing else. */
static void test_sends_the_request_as_given(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200});
    struct fr_http_post req = post_of(e, "{\"id\":1}");
    struct fr_http_result res;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_OK);
    assert_int_equal(res.code, FR_OK);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.cls, FR_CLASS_SUCCESS);
    assert_int_equal(res.attempts, 1);
    assert_int_equal(res.retry_after_ms, -1);
    fr_http_result_release(&res);

    assert_int_equal(e->server->nrequests, 1);
    const char *got = e->server->requests[0];
    assert_true(strncmp(got, "POST /hook HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strstr(got, "\r\n\r\n{\"id\":1}"));
    const char *want[][2] = {{"Content-Type", "application/json"},
                             {"X-Ferry-Event-Id", "evt-1"},
                             {"X-Ferry-Source", "crm"},
                             {"X-Ferry-Attempt", "2"},
                             {"Content-Length", "8"},
                             {"User-Agent", "ferry/" FERRY_VERSION},
                             {"Accept", "*/*"}};
    for (size_t i = 0; i < FR_ARRAY_LEN(want); i++) {
        char *v = header_of(got, want[i][0]);
        if (!v || strcmp(v, want[i][1]) != 0)
            fail_msg("%s: got %s, want %s", want[i][0], v ? v : "(none)", want[i][1]);
        free(v);
    }
    /* no 100-continue, no compression, no credentials, no target headers */
    const char *absent[] = {"Expect", "Accept-Encoding", "Authorization", "Transfer-Encoding"};
    for (size_t i = 0; i < FR_ARRAY_LEN(absent); i++) {
        char *v = header_of(got, absent[i]);
        if (v)
            fail_msg("%s sent: %s", absent[i], v);
    }
    /* Host, User-Agent, Accept, the caller's four and Content-Length: nothing else */
    int lines = 0;
    for (const char *p = strstr(got, "\r\n"); p && p < strstr(got, "\r\n\r\n");
         p = strstr(p + 2, "\r\n"))
        lines++;
    assert_int_equal(lines, 8);
}

/* "Content-Type:" with no value: no Content-Type at all, not libcurl's form type. */
static void test_header_line_removes_content_type(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 204});
    const char *const headers[] = {"Content-Type:", "Expect:"};
    struct fr_http_post req = post_of(e, "raw bytes");
    req.headers = headers;
    req.nheaders = FR_ARRAY_LEN(headers);
    struct fr_http_result res;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_OK);
    fr_http_result_release(&res);
    assert_null(header_of(e->server->requests[0], "Content-Type"));
}

/*
 * The hand-off table: only a 2xx is done. 401, 409, 429 and 503 are failed
 * attempts for the caller to retry, never refreshed, counted as duplicates
 * or retried here: one request each on the wire.
 */
static void test_not_2xx_is_a_failed_attempt(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200});
    const struct {
        int status;
        enum fr_class cls;
    } cases[] = {{401, FR_CLASS_REJECTED},     {404, FR_CLASS_REJECTED},  {409, FR_CLASS_REJECTED},
                 {429, FR_CLASS_RATE_LIMITED}, {503, FR_CLASS_TRANSIENT}, {301, FR_CLASS_REJECTED},
                 {201, FR_CLASS_SUCCESS}};
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        pthread_mutex_lock(&e->server->lock);
        e->server->answer = (struct answer){.status = cases[i].status, .body_len = 12};
        pthread_mutex_unlock(&e->server->lock);
        struct fr_http_post req = post_of(e, "{}");
        struct fr_http_result res;
        int rc = fr_http_post_once(e->client, &req, &res);
        int want = cases[i].status / 100 == 2 ? FR_OK : FR_EREJECTED;
        if (rc != want || res.status != cases[i].status || res.cls != cases[i].cls)
            fail_msg("HTTP %d: code %s, status %d, class %s", cases[i].status, fr_errname(rc),
                     res.status, fr_class_name(res.cls));
        assert_int_equal(res.body_len, 12);
        fr_http_result_release(&res);
        assert_int_equal(e->server->nrequests, i + 1);
    }
}

/* A failed answer: its status, the start of its body and its Retry-After. */
static void test_failed_answer_keeps_its_start(void **state)
{
    struct env *e = *state =
        env_new((struct answer){.status = 503, .headers = "Retry-After: 7\r\n", .body_len = 10000});
    struct fr_http_post req = post_of(e, "{}");
    struct fr_http_result res;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_EREJECTED);
    assert_int_equal(res.status, 503);
    assert_int_equal(res.body_len, 301); /* keep; the rest was read and dropped */
    assert_int_equal(strlen(res.body), 301);
    assert_int_equal(res.retry_after_ms, 7000);
    assert_int_equal(res.err.code, FR_EREJECTED);
    fr_http_result_release(&res);
}

/* A long 2xx answer is never a failure, however little of it is kept. */
static void test_long_answer_is_delivered(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200, .body_len = 3u << 20});
    struct fr_http_post req = post_of(e, "{}");
    req.keep = 10;
    struct fr_http_result res;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_OK);
    assert_int_equal(res.body_len, 10);
    fr_http_result_release(&res);
    req.keep = 0;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_OK);
    assert_int_equal(res.body_len, 0);
    fr_http_result_release(&res);
}

/* One client, one connection: deliveries in a row reuse it. */
static void test_connection_reused(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200, .body_len = 5});
    for (int i = 0; i < 3; i++) {
        struct fr_http_post req = post_of(e, "{}");
        struct fr_http_result res;
        assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_OK);
        fr_http_result_release(&res);
    }
    assert_int_equal(e->server->nrequests, 3);
    assert_int_equal(e->server->accepts, 1);
}

/* No answer: a transport failure in libcurl's words, no status. */
static void test_transport_failures(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200, .delay_ms = 3000});
    struct fr_http_post req = post_of(e, "{}");
    req.total_timeout_ms = 300;
    struct fr_http_result res;
    int64_t t0 = fr_now_ms();
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_EUNREACHABLE);
    assert_true(fr_now_ms() - t0 < 2500);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.cls, FR_CLASS_TRANSIENT);
    if (!strstr(res.err.msg, "timed out"))
        fail_msg("error: %s", res.err.msg);
    fr_http_result_release(&res);

    /* a port nobody listens on */
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    char *closed = fr_asprintf("http://127.0.0.1:%d/hook", port);
    req = post_of(e, "{}");
    req.url = closed;
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_EUNREACHABLE);
    assert_int_equal(res.status, 0);
    assert_true(res.err.msg[0] != '\0');
    fr_http_result_release(&res);
    free(closed);

    req.url = "ftp://127.0.0.1/hook";
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_EINVAL);
    fr_http_result_release(&res);
}

struct stopper {
    atomic_int *stop;
    int after_ms;
};

static void *stop_later(void *ud)
{
    struct stopper *s = ud;
    fr_sleep_ms(s->after_ms);
    atomic_store(s->stop, 1);
    return NULL;
}

/* The stop flag ends a transfer waiting for its answer: canceled, not failed. */
static void test_stop_ends_the_transfer(void **state)
{
    struct env *e = *state = env_new((struct answer){.status = 200, .delay_ms = 8000});
    atomic_int stop = 0;
    struct fr_http_post req = post_of(e, "{}");
    req.stop = &stop;
    struct stopper st = {&stop, 200};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, &st), 0);
    struct fr_http_result res;
    int64_t t0 = fr_now_ms();
    assert_int_equal(fr_http_post_once(e->client, &req, &res), FR_ECANCELED);
    int64_t took = fr_now_ms() - t0;
    pthread_join(th, NULL);
    assert_true(took >= 200);
    assert_true(took < 3000); /* noticed within about a second, not at the answer */
    assert_false(res.maybe_acted);
    fr_http_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sends_the_request_as_given, teardown),
        cmocka_unit_test_teardown(test_header_line_removes_content_type, teardown),
        cmocka_unit_test_teardown(test_not_2xx_is_a_failed_attempt, teardown),
        cmocka_unit_test_teardown(test_failed_answer_keeps_its_start, teardown),
        cmocka_unit_test_teardown(test_long_answer_is_delivered, teardown),
        cmocka_unit_test_teardown(test_connection_reused, teardown),
        cmocka_unit_test_teardown(test_transport_failures, teardown),
        cmocka_unit_test_teardown(test_stop_ends_the_transfer, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
