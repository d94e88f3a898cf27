/*
 * End-to-end: `ferry serve` and `ferry dlq` with the real binary on
 * loopback: signed webhooks of every scheme in, a harness receiver (or a
 * command) out; duplicates, limits, retries, the dead-letter queue and its
 * replay, exec timeouts, SIGKILL under load, SIGTERM, and a store that
 * cannot commit.
 */
#include "core/common.h"
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/clock.h"
#include "hooks/verify.h"
#include "store/store.h"

#define STD_SECRET    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define GH_SECRET     "gh-secret-current-7f3a"
#define GH_OLD_SECRET "gh-secret-previous-11b2"
#define ST_SECRET     "whsec_stripe-secret-93c1"
#define CV_SECRET     "convoy-secret-5d0e"
#define HM_SECRET     "hmac-secret-a8e4"

static const char *const secret_env[] = {"S_STD=" STD_SECRET,
                                         "S_GH=" GH_SECRET,
                                         "S_GH_OLD=" GH_OLD_SECRET,
                                         "S_ST=" ST_SECRET,
                                         "S_CV=" CV_SECRET,
                                         "S_HM=" HM_SECRET,
                                         NULL};
static const char *const all_secrets[] = {STD_SECRET, GH_SECRET, GH_OLD_SECRET,
                                          ST_SECRET,  CV_SECRET, HM_SECRET};

struct env {
    char *dir;
    char *config;
    struct fr_test_receiver *recv;
    char *recv_url;
    struct fr_proc serve;
    int port;
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    e->dir = fr_test_tmpdir();
    e->recv = fr_test_receiver_start(&e->recv_url);
    if (!e->dir || !e->recv)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    fr_test_proc_release(&e->serve);
    fr_test_receiver_stop(e->recv);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->config);
    free(e->recv_url);
    free(e);
    return 0;
}

/*
 * ferry.yaml with these sources ({URL} in them becomes the receiver's URL) and
 * more webhooks keys (lines indented by two spaces, or "").
 */
static void write_config_with(struct env *e, const char *max_body, const char *more,
                              const char *sources)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b,
                "store: sqlite:ferry.db\n"
                "webhooks:\n"
                "  listen: 127.0.0.1:0\n"
                "  max_body: %s\n"
                "  timeout: 5s\n"
                "%s"
                "  sources:\n",
                max_body, more);
    for (const char *p = sources; *p;) {
        const char *at = strstr(p, "{URL}");
        if (!at) {
            fr_buf_adds(&b, p);
            break;
        }
        fr_buf_add(&b, p, (size_t)(at - p));
        fr_buf_adds(&b, e->recv_url);
        p = at + 5;
    }
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", fr_buf_str(&b));
    fr_buf_release(&b);
}

static void write_config(struct env *e, const char *max_body, const char *sources)
{
    write_config_with(e, max_body, "", sources);
}

/* Starts ferry serve on e->config with env and the options in extra (NULL-terminated, may be
 * NULL), and reads its "listening on" line. */
static void start_serve_args(struct env *e, const char *const *env, const char *const *extra)
{
    const char *args[16] = {"serve", "-c", e->config};
    size_t n = 3;
    for (; extra && *extra && n < FR_ARRAY_LEN(args) - 1; extra++)
        args[n++] = *extra;
    args[n] = NULL;
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, env), 0);
    e->port = fr_test_ready_port(&e->serve, 15000);
    if (e->port <= 0)
        fail();
}

static void start_serve_env(struct env *e, const char *const *env)
{
    start_serve_args(e, env, NULL);
}

static void start_serve(struct env *e)
{
    start_serve_env(e, secret_env);
}

/* SIGTERM and the exit status (-1 when it did not stop within 15 s). */
static int stop_serve(struct env *e)
{
    kill(e->serve.pid, SIGTERM);
    return fr_test_wait(&e->serve, 15000);
}

/* POSTs body to path with headers (plus a JSON content type); returns the status, 0 for none. */
static long post(int port, const char *path, const char *const *headers, const char *body,
                 char **resp)
{
    const char *h[16];
    size_t n = 0;
    for (; headers && headers[n] && n < FR_ARRAY_LEN(h) - 2; n++)
        h[n] = headers[n];
    h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    long status = 0;
    if (fr_test_http("POST", url, h, body, &status, resp) < 0)
        status = 0;
    return status;
}

static const struct fr_verify_conf gh_conf = {.scheme = FR_VERIFY_GITHUB};

/* A GitHub delivery of body with id signed by secret; returns the HTTP status. */
static long post_github(int port, const char *path, const char *secret, const char *id,
                        const char *body, char **resp)
{
    char *sig = fr_verify_sign(&gh_conf, secret, NULL, 0, body, strlen(body));
    char *h1 = fr_asprintf("X-Hub-Signature-256: %s", sig);
    char *h2 = fr_asprintf("X-GitHub-Delivery: %s", id);
    const char *h[] = {h1, h2, NULL};
    long status = post(port, path, h, body, resp);
    free(sig);
    free(h1);
    free(h2);
    return status;
}

static void wait_count(struct fr_test_receiver *r, size_t n, int timeout_ms)
{
    int64_t deadline = fr_now_ms() + timeout_ms;
    while (fr_test_receiver_count(r) < n && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(fr_test_receiver_count(r), n);
}

static struct fr_store *open_store(struct env *e)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, &err), 0);
    return st;
}

/* Rows in the store, in every state. */
static int add_counts(const struct fr_queue_stats *q, void *ud)
{
    *(uint64_t *)ud += q->pending + q->delivered + q->dead;
    return 0;
}

static uint64_t stored_events(struct env *e)
{
    struct fr_store *st = open_store(e);
    uint64_t n = 0;
    struct fr_err err = {0};
    assert_int_equal(fr_store_queue_stats(st, true, add_counts, &n, &err), 0);
    fr_store_close(st);
    return n;
}

/* Event seq in *out (release it); waits up to timeout_ms for it to reach state. */
static void wait_state(struct env *e, int64_t seq, enum fr_event_state state, int timeout_ms,
                       struct fr_event *out)
{
    struct fr_store *st = open_store(e);
    int64_t deadline = fr_now_ms() + timeout_ms;
    for (;;) {
        struct fr_err err = {0};
        int rc = fr_store_event_get(st, seq, out, &err);
        if (rc == 0 && (out->state == state || fr_now_ms() >= deadline))
            break;
        if (rc == 0)
            fr_event_release(out);
        assert_true(fr_now_ms() < deadline);
        fr_sleep_ms(50);
    }
    fr_store_close(st);
    assert_string_equal(fr_event_state_name(out->state), fr_event_state_name(state));
}

static void assert_no_secrets(const char *text)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(all_secrets); i++)
        assert_null(strstr(text, all_secrets[i]));
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- schemes -------------------------------------------------------------------------- */

static const char scheme_sources[] =
    "    std:\n"
    "      path: /hooks/std\n"
    "      verify: { scheme: standard, secrets: [\"${S_STD}\"], tolerance: 5m }\n"
    "      deliver: { url: \"{URL}\", timeout: 5s }\n"
    "    gh:\n"
    "      path: /hooks/gh\n"
    "      verify: { scheme: github, secrets: [\"${S_GH}\", \"${S_GH_OLD}\"] }\n"
    "      deliver: { url: \"{URL}\", timeout: 5s }\n"
    "    st:\n"
    "      path: /hooks/st\n"
    "      verify: { scheme: stripe, secrets: [\"${S_ST}\"] }\n"
    "      deliver: { url: \"{URL}\", timeout: 5s }\n"
    "    cv:\n"
    "      path: /hooks/cv\n"
    "      verify: { scheme: convoy, secrets: [\"${S_CV}\"] }\n"
    "      deliver: { url: \"{URL}\", timeout: 5s }\n"
    "    hm:\n"
    "      path: /hooks/hm\n"
    "      verify: { scheme: hmac, secrets: [\"${S_HM}\"], header: X-Sig, encoding: base64,"
    " prefix: \"sha256=\", timestamp_header: X-Ts }\n"
    "      deliver: { url: \"{URL}\", timeout: 5s }\n";

/* One scheme's signed request: the headers a sender would send. */
struct signed_req {
    char *h[4];
    const char *hp[5];
};

static void sign_req(struct signed_req *r, const char *scheme, const char *secret, const char *id,
                     int64_t ts, const char *body)
{
    memset(r, 0, sizeof(*r));
    struct fr_verify_conf c = {0};
    if (strcmp(scheme, "std") == 0) {
        c.scheme = FR_VERIFY_STANDARD;
        char *sig = fr_verify_sign(&c, secret, id, ts, body, strlen(body));
        r->h[0] = fr_asprintf("webhook-id: %s", id);
        r->h[1] = fr_asprintf("webhook-timestamp: %lld", (long long)ts);
        r->h[2] = fr_asprintf("webhook-signature: %s", sig);
        free(sig);
    } else if (strcmp(scheme, "gh") == 0) {
        c.scheme = FR_VERIFY_GITHUB;
        char *sig = fr_verify_sign(&c, secret, NULL, 0, body, strlen(body));
        r->h[0] = fr_asprintf("X-Hub-Signature-256: %s", sig);
        r->h[1] = fr_asprintf("X-GitHub-Delivery: %s", id);
        free(sig);
    } else if (strcmp(scheme, "st") == 0) {
        c.scheme = FR_VERIFY_STRIPE;
        char *sig = fr_verify_sign(&c, secret, NULL, ts, body, strlen(body));
        r->h[0] = fr_asprintf("Stripe-Signature: %s", sig);
        free(sig);
    } else if (strcmp(scheme, "cv") == 0) {
        c.scheme = FR_VERIFY_CONVOY;
        char *sig = fr_verify_sign(&c, secret, NULL, ts, body, strlen(body));
        r->h[0] = fr_asprintf("X-Convoy-Signature: %s", sig);
        free(sig);
    } else {
        c = (struct fr_verify_conf){.scheme = FR_VERIFY_HMAC,
                                    .header = "X-Sig",
                                    .base64 = true,
                                    .prefix = "sha256=",
                                    .timestamp_header = "X-Ts"};
        char *sig = fr_verify_sign(&c, secret, NULL, ts, body, strlen(body));
        r->h[0] = fr_asprintf("X-Sig: %s", sig);
        r->h[1] = fr_asprintf("X-Ts: %lld", (long long)ts);
        free(sig);
    }
    size_t n = 0;
    for (size_t i = 0; i < FR_ARRAY_LEN(r->h); i++)
        if (r->h[i])
            r->hp[n++] = r->h[i];
    r->hp[n] = NULL;
}

static void signed_release(struct signed_req *r)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(r->h); i++)
        free(r->h[i]);
}

static long send_signed(struct env *e, const char *scheme, const char *secret, const char *id,
                        int64_t ts, const char *signed_body, const char *sent_body, char **resp)
{
    struct signed_req r;
    sign_req(&r, scheme, secret, id, ts, signed_body);
    char path[32];
    snprintf(path, sizeof(path), "/hooks/%s", scheme);
    long status = post(e->port, path, r.hp, sent_body, resp);
    signed_release(&r);
    return status;
}

static void test_each_scheme_end_to_end(void **state)
{
    struct env *e = *state;
    write_config(e, "64KB", scheme_sources);
    start_serve(e);
    int64_t now = fr_wall_ms() / 1000;
    static const struct {
        const char *scheme, *secret, *wrong;
    } schemes[] = {{"std", STD_SECRET, "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
                   {"gh", GH_SECRET, "not-the-secret"},
                   {"st", ST_SECRET, "whsec_wrong"},
                   {"cv", CV_SECRET, "not-the-secret"},
                   {"hm", HM_SECRET, "not-the-secret"}};
    char bodies[FR_ARRAY_LEN(schemes)][128], ids[FR_ARRAY_LEN(schemes)][80];
    for (size_t i = 0; i < FR_ARRAY_LEN(schemes); i++) {
        const char *s = schemes[i].scheme;
        char id[64];
        snprintf(id, sizeof(id), "evt_%s_1", s);
        snprintf(bodies[i], sizeof(bodies[i]), "{\"id\":\"%s\",\"scheme\":\"%s\",\"n\":%zu}", id, s,
                 i);
        char *resp = NULL;
        /* tampered body, wrong secret: 401 and nothing stored */
        assert_int_equal(
            send_signed(e, s, schemes[i].secret, id, now, bodies[i], "{\"id\":\"x\"}", &resp), 401);
        assert_non_null(strstr(resp, "signature verification failed"));
        free(resp);
        assert_int_equal(send_signed(e, s, schemes[i].wrong, id, now, bodies[i], bodies[i], NULL),
                         401);
        /* valid: 200 with the scheme's id (convoy and hmac have none: the body's SHA-256) */
        assert_int_equal(send_signed(e, s, schemes[i].secret, id, now, bodies[i], bodies[i], &resp),
                         200);
        if (strcmp(s, "cv") == 0 || strcmp(s, "hm") == 0)
            sha256_hex(bodies[i], ids[i]);
        else
            snprintf(ids[i], sizeof(ids[i]), "%s", id);
        char *want = fr_asprintf("{\"status\":\"accepted\",\"id\":\"%s\"}", ids[i]);
        assert_non_null(strstr(resp, want));
        free(want);
        free(resp);
    }
    /* Timestamps outside the tolerance, either way, and missing headers. */
    const char *b = "{\"id\":\"evt_late\"}";
    assert_int_equal(send_signed(e, "std", STD_SECRET, "m_old", now - 3600, b, b, NULL), 401);
    assert_int_equal(send_signed(e, "std", STD_SECRET, "m_new", now + 3600, b, b, NULL), 401);
    assert_int_equal(send_signed(e, "st", ST_SECRET, NULL, now - 3600, b, b, NULL), 401);
    assert_int_equal(send_signed(e, "hm", HM_SECRET, NULL, now + 3600, b, b, NULL), 401);
    assert_int_equal(post(e->port, "/hooks/gh", NULL, b, NULL), 401);
    /* A secret being rotated out still verifies. */
    const char *rot = "{\"rotated\":true}";
    assert_int_equal(send_signed(e, "gh", GH_OLD_SECRET, "gh-rotated", now, rot, rot, NULL), 200);

    wait_count(e->recv, FR_ARRAY_LEN(schemes) + 1, 15000);
    assert_int_equal(stored_events(e), FR_ARRAY_LEN(schemes) + 1);
    /* Each valid body arrived once, as sent, with ferry's headers. */
    for (size_t i = 0; i < FR_ARRAY_LEN(schemes); i++) {
        size_t found = 0;
        for (size_t k = 0; k < fr_test_receiver_count(e->recv); k++) {
            char *got = fr_test_receiver_body(e->recv, k);
            if (strcmp(got, bodies[i]) == 0) {
                found++;
                char *src = fr_test_receiver_header(e->recv, k, "X-Ferry-Source");
                char *id = fr_test_receiver_header(e->recv, k, "X-Ferry-Event-Id");
                char *attempt = fr_test_receiver_header(e->recv, k, "X-Ferry-Attempt");
                char *type = fr_test_receiver_header(e->recv, k, "Content-Type");
                assert_string_equal(src, schemes[i].scheme);
                assert_string_equal(id, ids[i]);
                assert_string_equal(attempt, "1");
                assert_string_equal(type, "application/json");
                free(src);
                free(id);
                free(attempt);
                free(type);
            }
            free(got);
        }
        assert_int_equal(found, 1);
    }
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    assert_non_null(strstr(err, "\"msg\":\"webhook rejected: signature not verified\","
                                "\"source\":\"gh\",\"result\":\"mismatch\""));
    assert_non_null(strstr(err, "\"result\":\"stale\""));
    assert_non_null(strstr(err, "\"result\":\"future\""));
    assert_non_null(strstr(err, "\"result\":\"missing_header\""));
    assert_non_null(strstr(err, "\"msg\":\"serve stopped\""));
    assert_no_secrets(err);
    free(err);
}

/* ---- duplicates and limits ------------------------------------------------------------ */

static const char gh_source[] = "    gh:\n"
                                "      path: /hooks/gh\n"
                                "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                                "      deliver: { url: \"{URL}\", timeout: 2s, max_attempts: %d,"
                                " base: 50ms, cap: 100ms }\n";

static void write_gh_config(struct env *e, const char *max_body, int max_attempts)
{
    char *src = fr_asprintf(gh_source, max_attempts);
    write_config(e, max_body, src);
    free(src);
}

static void test_duplicate_stored_once_delivered_once(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 3);
    start_serve(e);
    const char *body = "{\"order\":42}";
    char *resp = NULL;
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "dup-1", body, &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "dup-1", body, &resp), 200);
    assert_non_null(strstr(resp, "{\"status\":\"duplicate\",\"id\":\"dup-1\"}"));
    free(resp);
    wait_count(e->recv, 1, 10000);
    /* A sender retrying after the delivery: still a duplicate, not delivered again. */
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "dup-1", body, &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"duplicate\""));
    free(resp);
    fr_sleep_ms(1500); /* more than two idle polls of the workers */
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
    assert_int_equal(stored_events(e), 1);
    assert_int_equal(stop_serve(e), 0);
}

/*
 * GitHub signs neither a timestamp nor X-GitHub-Delivery: a captured delivery re-sent
 * with a new delivery id is a duplicate by its body, stored and delivered once; with
 * dedupe: delivery_id it is a new event, as it was before.
 */
static void test_github_resend_with_new_delivery_id(void **state)
{
    struct env *e = *state;
    write_config(e, "64KB",
                 "    gh:\n"
                 "      path: /hooks/gh\n"
                 "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                 "      deliver: { url: \"{URL}\", timeout: 2s, base: 50ms, cap: 100ms }\n"
                 "    byid:\n"
                 "      path: /hooks/byid\n"
                 "      dedupe: delivery_id\n"
                 "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                 "      deliver: { url: \"{URL}\", timeout: 2s, base: 50ms, cap: 100ms }\n");
    start_serve(e);
    const char *body = "{\"action\":\"opened\",\"number\":7}";
    char *resp = NULL;
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "guid-1", body, &resp), 200);
    assert_non_null(strstr(resp, "{\"status\":\"accepted\",\"id\":\"guid-1\"}"));
    free(resp);
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "guid-2", body, &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"duplicate\""));
    free(resp);
    /* A different body under a new id is a new event. */
    assert_int_equal(
        post_github(e->port, "/hooks/gh", GH_SECRET, "guid-3", "{\"number\":8}", &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    /* dedupe: delivery_id: the same body under two ids is two events. */
    assert_int_equal(post_github(e->port, "/hooks/byid", GH_SECRET, "guid-1", body, &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    assert_int_equal(post_github(e->port, "/hooks/byid", GH_SECRET, "guid-2", body, &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    /* Only stored events are delivered: four stored, four delivered, the resend never. */
    assert_int_equal(stored_events(e), 4);
    wait_count(e->recv, 4, 10000);
    size_t gh_deliveries = 0;
    for (size_t i = 0; i < fr_test_receiver_count(e->recv); i++) {
        char *src = fr_test_receiver_header(e->recv, i, "X-Ferry-Source");
        char *id = fr_test_receiver_header(e->recv, i, "X-Ferry-Event-Id");
        assert_non_null(src);
        assert_non_null(id);
        if (strcmp(src, "gh") == 0) {
            gh_deliveries++;
            assert_string_not_equal(id, "guid-2");
        }
        free(src);
        free(id);
    }
    assert_int_equal(gh_deliveries, 2);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- a flood of bad signatures ------------------------------------------------------ */

#define FLOOD_CONNS    4
#define FLOOD_REQUESTS 100000

struct flood {
    int port;
    int n;         /* requests to send on this connection */
    int first_id;  /* X-GitHub-Delivery of the first */
    long answered; /* 401s read back */
};

/* "HTTP/1.1 401 ..." -> 401 */
static int atoi_status(const char *line)
{
    const char *sp = strchr(line, ' ');
    return sp ? (int)strtol(sp + 1, NULL, 10) : -1;
}

/* Reads one answer from fd into buf; returns its status, or -1. Keeps what follows it. */
static int read_answer(int fd, struct fr_buf *buf)
{
    for (;;) {
        const char *data = fr_buf_str(buf);
        const char *end = memmem(data, buf->len, "\r\n\r\n", 4);
        if (end) {
            const char *cl = strcasestr(data, "\r\nContent-Length:");
            size_t head = (size_t)(end + 4 - data);
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (buf->len >= head + body) {
                int status = buf->len > 12 ? atoi_status(data) : -1;
                memmove(buf->data, data + head + body, buf->len - head - body);
                buf->len -= head + body;
                return status;
            }
        }
        char chunk[4096];
        ssize_t got = recv(fd, chunk, sizeof(chunk), 0);
        if (got <= 0)
            return -1;
        fr_buf_add(buf, chunk, (size_t)got);
    }
}

/* One keep-alive connection sending f->n deliveries with a wrong signature, one at a time. */
static void *flood_main(void *arg)
{
    struct flood *f = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct fr_buf in = FR_BUF_INIT;
    for (int i = 0; i < f->n; i++) {
        char req[512];
        int len = snprintf(req, sizeof(req),
                           "POST /hooks/gh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "X-GitHub-Delivery: flood-%d\r\n"
                           "X-Hub-Signature-256: sha256=%064d\r\n"
                           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                           f->first_id + i, 0);
        if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
            break;
        if (read_answer(fd, &in) != 401)
            break;
        f->answered++;
    }
    fr_buf_release(&in);
    close(fd);
    return NULL;
}

static long count_lines(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (memmem(p, len, needle, strlen(needle)))
            n++;
        p = eol ? eol + 1 : NULL;
    }
    return n;
}

/*
 * 100,000 deliveries with a wrong signature: every one answered 401 and counted in
 * /metrics, but the log holds the first few and a summary per window, not a line each.
 */
static void test_rejection_flood_summarised(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 3);
    start_serve(e);
    struct flood f[FLOOD_CONNS];
    pthread_t t[FLOOD_CONNS];
    for (int i = 0; i < FLOOD_CONNS; i++) {
        f[i] = (struct flood){.port = e->port,
                              .n = FLOOD_REQUESTS / FLOOD_CONNS,
                              .first_id = i * (FLOOD_REQUESTS / FLOOD_CONNS)};
        assert_int_equal(pthread_create(&t[i], NULL, flood_main, &f[i]), 0);
    }
    long answered = 0;
    for (int i = 0; i < FLOOD_CONNS; i++) {
        pthread_join(t[i], NULL);
        answered += f[i].answered;
    }
    assert_int_equal(answered, FLOOD_REQUESTS);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", e->port);
    long status = 0;
    char *metrics = NULL;
    assert_int_equal(fr_test_http("GET", url, NULL, NULL, &status, &metrics), 0);
    assert_int_equal(status, 200);
    assert_non_null(strstr(
        metrics, "ferry_webhook_rejected_total{source=\"gh\",reason=\"signature\"} 100000\n"));
    free(metrics);
    assert_int_equal(stop_serve(e), 0); /* a stop writes what was held back */
    char *err = fr_test_proc_stderr(&e->serve);
    long lines = count_lines(err, "\n") + 1;
    long rejected = count_lines(err, "signature not verified");
    /* the held-back count in the summaries adds up to the rest */
    long summarised = 0;
    for (const char *p = err; (p = strstr(p, "\"suppressed\":"));) {
        summarised += strtol(p + 13, NULL, 10);
        p += 13;
    }
    free(err);
    assert_true(lines < 1000);
    assert_true(rejected > 0);
    assert_true(summarised > 0);
    assert_int_equal(summarised + rejected, FLOOD_REQUESTS);
    assert_int_equal(stored_events(e), 0);
    assert_int_equal(fr_test_receiver_count(e->recv), 0);
}

/* The sum of the counts of the serve log's "deleted past retention" lines. */
static long purged_in_log(struct env *e)
{
    char *err = fr_test_proc_stderr(&e->serve);
    long total = 0;
    for (const char *p = err; (p = strstr(p, "delivered events past their retention deleted"));) {
        const char *count = strstr(p, "\"count\":");
        const char *eol = strchr(p, '\n');
        assert_non_null(count);
        assert_true(!eol || count < eol);
        total += strtol(count + 8, NULL, 10);
        p = count;
    }
    free(err);
    return total;
}

static void test_delivered_events_deleted_after_retention(void **state)
{
    struct env *e = *state;
    char *src = fr_asprintf(gh_source, 1);
    write_config_with(e, "64KB", "  retention: 1s\n", src);
    free(src);
    /* One dead event, which retention leaves alone. */
    fr_test_receiver_fail_next(e->recv, 1, 500);
    start_serve(e);
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "dead-1", "{\"n\":0}", NULL),
                     200);
    struct fr_event ev;
    wait_state(e, 1, FR_EVENT_DEAD, 10000, &ev);
    fr_event_release(&ev);
    /* Each its own body: GitHub's events are told apart by what is signed. */
    const char *ids[] = {"kept-1", "kept-2", "kept-3"};
    const char *bodies[] = {"{\"n\":1}", "{\"n\":2}", "{\"n\":3}"};
    for (size_t i = 0; i < FR_ARRAY_LEN(ids); i++)
        assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, ids[i], bodies[i], NULL),
                         200);
    wait_count(e->recv, 4, 10000);
    /* Deleted about a second after delivery; the dead one stays. */
    int64_t deadline = fr_now_ms() + 10000;
    while (stored_events(e) > 1 && fr_now_ms() < deadline)
        fr_sleep_ms(100);
    assert_int_equal(stored_events(e), 1);
    struct fr_store *st = open_store(e);
    assert_int_equal(fr_store_event_get(st, 1, &ev, NULL), FR_OK);
    assert_int_equal(ev.state, FR_EVENT_DEAD);
    fr_event_release(&ev);
    fr_store_close(st);
    assert_int_equal(purged_in_log(e), 3);
    /* Forgotten: the sender's retry of one is stored and delivered again. */
    char *resp = NULL;
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "kept-2", bodies[1], &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    wait_count(e->recv, 5, 10000);
    assert_int_equal(stop_serve(e), 0);
}

static void test_limits_413_405_404(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "1KB", 3);
    start_serve(e);
    char big[2048], edge[1025];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memset(edge, 'b', sizeof(edge) - 1); /* exactly max_body */
    edge[sizeof(edge) - 1] = '\0';
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "big", big, NULL), 413);
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "edge", edge, NULL), 200);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/gh", e->port);
    long status = 0;
    assert_int_equal(fr_test_http("GET", url, NULL, NULL, &status, NULL), 0);
    assert_int_equal(status, 405);
    assert_int_equal(fr_test_http("PUT", url, NULL, "{}", &status, NULL), 0);
    assert_int_equal(status, 405);
    assert_int_equal(post_github(e->port, "/hooks/other", GH_SECRET, "x", "{}", NULL), 404);
    assert_int_equal(post_github(e->port, "/hooks/gh/", GH_SECRET, "x", "{}", NULL), 404);
    wait_count(e->recv, 1, 10000);
    assert_int_equal(stored_events(e), 1);
    char *got = fr_test_receiver_body(e->recv, 0);
    assert_string_equal(got, edge);
    free(got);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- retries, dead letters, replay ---------------------------------------------------- */

static void test_retries_until_delivered(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 5);
    fr_test_receiver_fail_next(e->recv, 3, 500);
    start_serve(e);
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "r-1", "{\"r\":1}", NULL), 200);
    wait_count(e->recv, 4, 15000);
    for (size_t i = 0; i < 4; i++) {
        char *attempt = fr_test_receiver_header(e->recv, i, "X-Ferry-Attempt");
        char want[8];
        snprintf(want, sizeof(want), "%zu", i + 1);
        assert_string_equal(attempt, want);
        free(attempt);
    }
    struct fr_event ev;
    wait_state(e, 1, FR_EVENT_DELIVERED, 5000, &ev);
    assert_int_equal(ev.attempts, 4);
    fr_event_release(&ev);
    fr_sleep_ms(1000);
    assert_int_equal(fr_test_receiver_count(e->recv), 4); /* nothing after the 200 */
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    size_t retries = 0;
    for (const char *p = err; (p = strstr(p, "event delivery failed; retrying")); p++)
        retries++;
    assert_int_equal(retries, 3);
    assert_non_null(strstr(err, "\"error\":\"HTTP 500: ok\""));
    free(err);
}

static int dlq(struct env *e, const char *const *args, char **out)
{
    const char *full[16] = {"dlq"};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < FR_ARRAY_LEN(full) - 3; i++)
        full[n++] = args[i];
    full[n++] = "-c";
    full[n++] = e->config;
    full[n] = NULL;
    char *err = NULL;
    int status = fr_test_run(full, e->dir, secret_env, 30000, out, &err);
    assert_no_secrets(err);
    free(err);
    return status;
}

static void test_dead_letter_and_replay(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 3);
    fr_test_receiver_fail_next(e->recv, 1000, 503);
    start_serve(e);
    const char *body = "{\"doomed\":true}";
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "d-1", body, NULL), 200);
    struct fr_event ev;
    wait_state(e, 1, FR_EVENT_DEAD, 15000, &ev);
    assert_int_equal(ev.attempts, 3);
    assert_non_null(strstr(ev.last_error, "HTTP 503"));
    fr_event_release(&ev);
    assert_int_equal(fr_test_receiver_count(e->recv), 3);

    char *out = NULL;
    const char *list[] = {"list", "--json", NULL};
    assert_int_equal(dlq(e, list, &out), 0);
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(j), 1);
    json_t *first = json_array_get(j, 0);
    assert_int_equal(json_integer_value(json_object_get(first, "seq")), 1);
    assert_string_equal(json_string_value(json_object_get(first, "source")), "gh");
    assert_string_equal(json_string_value(json_object_get(first, "event_id")), "d-1");
    assert_int_equal(json_integer_value(json_object_get(first, "attempts")), 3);
    json_decref(j);
    const char *show[] = {"show", "1", NULL};
    assert_int_equal(dlq(e, show, &out), 0);
    assert_non_null(strstr(out, body));
    assert_non_null(strstr(out, "HTTP 503"));
    free(out);

    /* The receiver is fixed; replay hands the event to the running server again. */
    fr_test_receiver_fail_next(e->recv, 0, 200);
    const char *replay[] = {"replay", "1", NULL};
    assert_int_equal(dlq(e, replay, &out), 0);
    assert_non_null(strstr(out, "replayed 1 event"));
    free(out);
    wait_count(e->recv, 4, 10000);
    char *got = fr_test_receiver_body(e->recv, 3);
    assert_string_equal(got, body);
    free(got);
    wait_state(e, 1, FR_EVENT_DELIVERED, 5000, &ev);
    assert_int_equal(ev.attempts, 1); /* a fresh count after the replay */
    fr_event_release(&ev);
    assert_int_equal(dlq(e, list, &out), 0);
    j = json_loads(out, 0, NULL);
    free(out);
    assert_int_equal(json_array_size(j), 0);
    json_decref(j);
    /* Not dead any more: replaying or purging it again is an error. */
    assert_int_equal(dlq(e, replay, NULL), 2);
    const char *purge[] = {"purge", "1", NULL};
    assert_int_equal(dlq(e, purge, NULL), 2);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- exec handlers -------------------------------------------------------------------- */

static const char exec_sources[] =
    "    ok:\n"
    "      path: /hooks/ok\n"
    "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
    "      deliver: { exec: \"cat > got-$FERRY_EVENT_ID.json && echo $FERRY_SOURCE "
    "$FERRY_ATTEMPT > env-$FERRY_EVENT_ID\", timeout: 5s }\n"
    "    hang:\n"
    "      path: /hooks/hang\n"
    "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
    "      deliver: { exec: \"sleep 30 & echo $! > sleeper-$FERRY_ATTEMPT; wait\", timeout: 300ms,"
    " max_attempts: 2, base: 50ms, cap: 50ms }\n";

/* Whether a process is gone (or a zombie nobody reaped yet). */
static bool process_gone(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *stat = fr_test_read_file(path);
    if (!stat)
        return true;
    const char *close_paren = strrchr(stat, ')');
    bool zombie = close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
    free(stat);
    return zombie;
}

static void test_exec_handler_and_timeout(void **state)
{
    struct env *e = *state;
    write_config(e, "64KB", exec_sources);
    start_serve(e);
    const char *body = "{\"via\":\"exec\"}";
    assert_int_equal(post_github(e->port, "/hooks/ok", GH_SECRET, "x-1", body, NULL), 200);
    struct fr_event ev;
    wait_state(e, 1, FR_EVENT_DELIVERED, 10000, &ev);
    fr_event_release(&ev);
    char *path = fr_asprintf("%s/got-x-1.json", e->dir);
    char *got = fr_test_read_file(path);
    assert_non_null(got);
    assert_string_equal(got, body);
    free(got);
    free(path);
    path = fr_asprintf("%s/env-x-1", e->dir);
    got = fr_test_read_file(path);
    assert_non_null(got);
    assert_string_equal(got, "ok 1\n");
    free(got);
    free(path);

    int64_t t0 = fr_now_ms();
    assert_int_equal(post_github(e->port, "/hooks/hang", GH_SECRET, "h-1", "{}", NULL), 200);
    wait_state(e, 2, FR_EVENT_DEAD, 10000, &ev);
    assert_true(fr_now_ms() - t0 < 8000); /* two attempts of 300 ms, not 30 s each */
    assert_int_equal(ev.attempts, 2);
    assert_non_null(strstr(ev.last_error, "timed out after 300 ms"));
    fr_event_release(&ev);
    /* The whole process group died at the timeout, the background sleep too. */
    for (int attempt = 1; attempt <= 2; attempt++) {
        path = fr_asprintf("%s/sleeper-%d", e->dir, attempt);
        got = fr_test_read_file(path);
        assert_non_null(got);
        pid_t pid = (pid_t)strtol(got, NULL, 10);
        assert_true(pid > 0);
        int64_t deadline = fr_now_ms() + 3000;
        while (!process_gone(pid) && fr_now_ms() < deadline)
            fr_sleep_ms(20);
        assert_true(process_gone(pid));
        free(got);
        free(path);
    }
    assert_int_equal(stop_serve(e), 0);
}

/* SIGTERM during a delivery: exit 0, the event left pending with no attempt counted and no
 * lease, so the next start delivers it at once. */
static void test_sigterm_releases_in_flight(void **state)
{
    struct env *e = *state;
    write_config(e, "64KB",
                 "    slow:\n"
                 "      path: /hooks/slow\n"
                 "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                 "      deliver: { exec: \"if [ -e started ]; then cat > done.json; else touch "
                 "started; sleep 60; fi\", timeout: 2m }\n");
    start_serve(e);
    const char *body = "{\"slow\":1}";
    assert_int_equal(post_github(e->port, "/hooks/slow", GH_SECRET, "s-1", body, NULL), 200);
    char *started = fr_asprintf("%s/started", e->dir);
    int64_t deadline = fr_now_ms() + 10000;
    while (access(started, F_OK) != 0 && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    assert_int_equal(access(started, F_OK), 0);
    free(started);
    int64_t t0 = fr_now_ms();
    assert_int_equal(stop_serve(e), 0);
    assert_true(fr_now_ms() - t0 < 5000);
    struct fr_event ev;
    wait_state(e, 1, FR_EVENT_PENDING, 0, &ev);
    assert_int_equal(ev.attempts, 0);
    fr_event_release(&ev);
    fr_test_proc_release(&e->serve);

    /* The lease (2m + margin) was released: the restart delivers without waiting for it. */
    start_serve(e);
    wait_state(e, 1, FR_EVENT_DELIVERED, 10000, &ev);
    fr_event_release(&ev);
    char *path = fr_asprintf("%s/done.json", e->dir);
    char *got = fr_test_read_file(path);
    assert_non_null(got);
    assert_string_equal(got, body);
    free(got);
    free(path);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- the store failing ---------------------------------------------------------------- */

static void test_store_failure_is_503(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 3);
    start_serve(e);
    /* Another writer holds the database longer than ferry's busy timeout (5 s). */
    char *db_path = fr_asprintf("%s/ferry.db", e->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    free(db_path);
    sqlite3_busy_timeout(db, 5000); /* the workers claim now and then */
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    char *resp = NULL;
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "f-1", "{\"f\":1}", &resp), 503);
    assert_non_null(strstr(resp, "could not be stored"));
    free(resp);
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(stored_events(e), 0);
    /* The sender's retry succeeds once the store is back. */
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "f-1", "{\"f\":1}", &resp), 200);
    assert_non_null(strstr(resp, "\"status\":\"accepted\""));
    free(resp);
    wait_count(e->recv, 1, 10000);
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    assert_non_null(strstr(err, "webhook events not stored: answering 503"));
    free(err);
}

/* ---- header injection ---------------------------------------------------------------- */

/*
 * Sends req as it is on a new connection to 127.0.0.1:port and returns the
 * status of the answer (0 when none came: the server closed the connection).
 */
static long raw_request(int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t w = write(fd, req + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    char buf[4096];
    size_t got = 0;
    int64_t deadline = fr_now_ms() + 10000;
    while (got < sizeof(buf) - 1 && fr_now_ms() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break; /* the answers here have small bodies: the status line is what counts */
    }
    close(fd);
    buf[got] = '\0';
    long status = 0;
    if (sscanf(buf, "HTTP/1.%*d %ld", &status) != 1)
        status = 0;
    return status;
}

/*
 * A sender that folds or splits its Content-Type header to smuggle another
 * header into the delivery: whatever libmicrohttpd makes of it (refused, or
 * one value), the handler never gets the smuggled header, and the content
 * type it gets holds no line break.
 */
static void test_forwarded_header_cannot_inject(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 3);
    start_serve(e);
    static const char *const content_types[] = {
        "application/json\r\n X-Injected: folded", /* an obsolete line folding */
        "application/json\r\n\tX-Injected: tab",   /* folded with a tab */
        "application/json\rX-Injected: bare-cr",   /* a bare CR inside the value */
        "application/json\nX-Injected: bare-lf",   /* a bare LF ends the line for some */
    };
    size_t accepted = 0;
    for (size_t i = 0; i < FR_ARRAY_LEN(content_types); i++) {
        char body[64], id[32];
        snprintf(body, sizeof(body), "{\"inject\":%zu}", i);
        snprintf(id, sizeof(id), "inj-%zu", i);
        char *sig = fr_verify_sign(&gh_conf, GH_SECRET, NULL, 0, body, strlen(body));
        char *req = fr_asprintf("POST /hooks/gh HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: %s\r\nX-Hub-Signature-256: %s\r\n"
                                "X-GitHub-Delivery: %s\r\nContent-Length: %zu\r\n"
                                "Connection: close\r\n\r\n%s",
                                content_types[i], sig, id, strlen(body), body);
        long status = raw_request(e->port, req);
        free(req);
        free(sig);
        /* a refusal (4xx, or the connection closed) is as good as an acceptance here */
        if (status == 200)
            accepted++;
        else if (status != 0 && (status < 400 || status > 499))
            fail_msg("content type %zu: answered %ld", i, status);
    }
    /* one ordinary event after them, so the wait below has something to wait for */
    assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "inj-plain", "{}", NULL), 200);
    wait_count(e->recv, accepted + 1, 15000);
    for (size_t k = 0; k < fr_test_receiver_count(e->recv); k++) {
        char *injected = fr_test_receiver_header(e->recv, k, "X-Injected");
        if (injected)
            fail_msg("delivery %zu carried X-Injected: %s", k, injected);
        char *type = fr_test_receiver_header(e->recv, k, "Content-Type");
        assert_true(!type || !strpbrk(type, "\r\n"));
        free(type);
    }
    assert_int_equal(stop_serve(e), 0);
}

/* ---- SIGKILL under load --------------------------------------------------------------- */

#define LOAD_THREADS 4
#define LOAD_MAX     4000

struct load;

struct loader {
    pthread_t thread;
    int index;
    struct load *load;
    char *acked[LOAD_MAX]; /* ids answered 200 */
    size_t nacked;
    size_t duplicates_sent;
};

struct load {
    atomic_int port; /* 0 while no server is up */
    atomic_int stop;
    atomic_int acked_total;
    struct loader t[LOAD_THREADS];
};

static void *load_main(void *arg)
{
    struct loader *me = arg;
    struct load *l = me->load;
    for (int i = 0; !atomic_load(&l->stop) && me->nacked < LOAD_MAX; i++) {
        int port = atomic_load(&l->port);
        if (!port) {
            fr_sleep_ms(5);
            continue;
        }
        /* Every fifth request repeats the previous event, as at-least-once senders do. */
        bool repeat = i % 5 == 4;
        int n = repeat ? i - 1 : i;
        char id[48], body[96];
        snprintf(id, sizeof(id), "load-%d-%d", me->index, n);
        snprintf(body, sizeof(body), "{\"thread\":%d,\"n\":%d}", me->index, n);
        long status = post_github(port, "/hooks/gh", GH_SECRET, id, body, NULL);
        if (status == 200) {
            me->acked[me->nacked++] = fr_strdup(id);
            me->duplicates_sent += repeat;
            atomic_fetch_add(&l->acked_total, 1);
        }
    }
    return NULL;
}

struct id_set {
    char **ids;
    size_t n;
};

static bool set_has(const struct id_set *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return true;
    return false;
}

static void test_sigkill_under_load_loses_nothing(void **state)
{
    struct env *e = *state;
    write_gh_config(e, "64KB", 8);
    struct load *l = fr_calloc(1, sizeof(*l));
    for (int i = 0; i < LOAD_THREADS; i++) {
        l->t[i].index = i;
        l->t[i].load = l;
        assert_int_equal(pthread_create(&l->t[i].thread, NULL, load_main, &l->t[i]), 0);
    }
    for (int round = 0; round < 3; round++) {
        start_serve(e);
        int before = atomic_load(&l->acked_total);
        atomic_store(&l->port, e->port);
        int64_t deadline = fr_now_ms() + 15000;
        while (atomic_load(&l->acked_total) < before + 40 && fr_now_ms() < deadline)
            fr_sleep_ms(5);
        assert_true(atomic_load(&l->acked_total) >= before + 40);
        /* Killed while requests are in flight: no chance to flush or answer anything. */
        kill(e->serve.pid, SIGKILL);
        assert_int_equal(fr_test_wait(&e->serve, 5000), 128 + SIGKILL);
        atomic_store(&l->port, 0);
        fr_test_proc_release(&e->serve);
    }
    atomic_store(&l->stop, 1);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(l->t[i].thread, NULL);

    /* Restart: every acknowledged event reaches the receiver (leases of the dead processes
     * expire after the delivery timeout plus the margin). */
    start_serve(e);
    struct id_set acked = {0};
    size_t dups = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        for (size_t k = 0; k < l->t[i].nacked; k++) {
            if (!set_has(&acked, l->t[i].acked[k])) {
                acked.ids = fr_reallocarray(acked.ids, acked.n + 1, sizeof(char *));
                acked.ids[acked.n++] = l->t[i].acked[k];
            }
        }
        dups += l->t[i].duplicates_sent;
    }
    assert_true(acked.n >= 60); /* 3 rounds of at least 40 answers, a fifth of them repeats */
    assert_true(dups > 0);
    struct id_set received = {0};
    int64_t deadline = fr_now_ms() + 60000;
    size_t missing = acked.n;
    while (missing > 0 && fr_now_ms() < deadline) {
        fr_sleep_ms(200);
        for (size_t k = received.n; k < fr_test_receiver_count(e->recv); k++) {
            received.ids = fr_reallocarray(received.ids, received.n + 1, sizeof(char *));
            received.ids[received.n++] = fr_test_receiver_header(e->recv, k, "X-Ferry-Event-Id");
        }
        missing = 0;
        for (size_t k = 0; k < acked.n; k++)
            missing += !set_has(&received, acked.ids[k]);
    }
    assert_int_equal(missing, 0);
    /* In the store: each acknowledged id once (duplicates stored once), all delivered. */
    struct fr_store *st = open_store(e);
    uint64_t total = 0;
    struct fr_err err = {0};
    assert_int_equal(fr_store_queue_stats(st, true, add_counts, &total, &err), 0);
    assert_true(total >= acked.n);
    struct id_set stored = {0};
    for (int64_t seq = 1; seq <= (int64_t)total; seq++) {
        struct fr_event ev;
        assert_int_equal(fr_store_event_get(st, seq, &ev, &err), 0);
        assert_false(set_has(&stored, ev.event_id));
        stored.ids = fr_reallocarray(stored.ids, stored.n + 1, sizeof(char *));
        stored.ids[stored.n++] = fr_strdup(ev.event_id);
        fr_event_release(&ev);
    }
    for (size_t k = 0; k < acked.n; k++)
        assert_true(set_has(&stored, acked.ids[k]));
    fr_store_close(st);
    assert_int_equal(stop_serve(e), 0);

    for (size_t k = 0; k < received.n; k++)
        free(received.ids[k]);
    free(received.ids);
    for (size_t k = 0; k < stored.n; k++)
        free(stored.ids[k]);
    free(stored.ids);
    free(acked.ids);
    for (int i = 0; i < LOAD_THREADS; i++)
        for (size_t k = 0; k < l->t[i].nacked; k++)
            free(l->t[i].acked[k]);
    free(l);
}

/* ---- group commit --------------------------------------------------------------------- */

#define BURST_THREADS     8
#define BURST_THREADS_MAX 30
#define BURST_EVENTS      15

struct burster {
    pthread_t thread;
    int index, port, events;
    pthread_barrier_t *start; /* all senders begin together */
    int accepted;
};

static void *burst_main(void *arg)
{
    struct burster *b = arg;
    pthread_barrier_wait(b->start);
    for (int i = 0; i < b->events; i++) {
        char id[32], body[64];
        snprintf(id, sizeof(id), "burst-%d-%d", b->index, i);
        snprintf(body, sizeof(body), "{\"burst\":%d,\"i\":%d}", b->index, i);
        char *resp = NULL;
        if (post_github(b->port, "/hooks/gh", GH_SECRET, id, body, &resp) == 200 &&
            strstr(resp, "\"accepted\""))
            b->accepted++;
        free(resp);
    }
    return NULL;
}

struct commits {
    long commits, stored, largest;
    long min_gap_ms;     /* least time between two commits' starts; -1 with fewer than two */
    long min_gap_big_ms; /* the same before a commit of 24 events or more; -1 if none */
};

static bool line_has(const char *line, size_t len, const char *needle)
{
    return memmem(line, len, needle, strlen(needle)) != NULL;
}

/* A log line's "ts" as milliseconds into its day (RFC 3339 with milliseconds, UTC). */
static long line_day_ms(const char *line)
{
    const char *ts = strstr(line, "\"ts\":\"");
    assert_non_null(ts);
    int h = 0, m = 0, sec = 0, ms = 0;
    assert_int_equal(sscanf(strchr(ts, 'T'), "T%d:%d:%d.%d", &h, &m, &sec, &ms), 4);
    return ((h * 60L + m) * 60 + sec) * 1000 + ms;
}

/*
 * threads senders of events events each, started together, against ferry
 * serve with the options in extra; with warmup, one event is stored first.
 * Every event is accepted, stored and logged. Returns what the debug log
 * says of the commits.
 */
static struct commits burst_with(struct env *e, const char *const *extra, int threads, int events,
                                 bool warmup)
{
    write_gh_config(e, "64KB", 3);
    const char *env[FR_ARRAY_LEN(secret_env) + 1];
    size_t n = 0;
    for (; secret_env[n]; n++)
        env[n] = secret_env[n];
    env[n++] = "FERRY_LOG_LEVEL=debug";
    env[n] = NULL;
    start_serve_args(e, env, extra);
    int total = threads * events + warmup;
    if (warmup)
        assert_int_equal(post_github(e->port, "/hooks/gh", GH_SECRET, "burst-warmup", "{}", NULL),
                         200);
    struct burster b[BURST_THREADS_MAX];
    pthread_barrier_t start;
    assert_true(threads <= BURST_THREADS_MAX);
    assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)threads), 0);
    for (int i = 0; i < threads; i++) {
        b[i] = (struct burster){.index = i, .port = e->port, .events = events, .start = &start};
        assert_int_equal(pthread_create(&b[i].thread, NULL, burst_main, &b[i]), 0);
    }
    int accepted = warmup;
    for (int i = 0; i < threads; i++) {
        pthread_join(b[i].thread, NULL);
        accepted += b[i].accepted;
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(accepted, total);
    assert_int_equal(stored_events(e), total);
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    struct commits c = {.min_gap_ms = -1, .min_gap_big_ms = -1};
    long last_start_ms = -1;
    for (const char *p = err; (p = strstr(p, "\"msg\":\"webhook events committed\"")); p++) {
        const char *line = p;
        while (line > err && line[-1] != '\n')
            line--;
        const char *ev = strstr(p, "\"events\":");
        const char *st = strstr(p, "\"stored\":");
        const char *us = strstr(p, "\"us\":");
        assert_non_null(ev);
        assert_non_null(st);
        assert_non_null(us);
        long k = strtol(ev + strlen("\"events\":"), NULL, 10);
        c.largest = FR_MAX(c.largest, k);
        c.stored += strtol(st + strlen("\"stored\":"), NULL, 10);
        c.commits++;
        /* logged when the commit is done: its start is "us" before (ms rounding: +-1) */
        long start_ms = line_day_ms(line) - strtol(us + strlen("\"us\":"), NULL, 10) / 1000;
        if (last_start_ms >= 0) {
            long gap = start_ms - last_start_ms;
            if (gap < 0)
                gap += 24L * 3600 * 1000; /* past midnight */
            c.min_gap_ms = c.min_gap_ms < 0 ? gap : FR_MIN(c.min_gap_ms, gap);
            if (k >= 24)
                c.min_gap_big_ms = c.min_gap_big_ms < 0 ? gap : FR_MIN(c.min_gap_big_ms, gap);
        }
        last_start_ms = start_ms;
    }
    /* and one "webhook accepted" line per event, each whole */
    long lines = 0;
    for (const char *p = err; (p = strstr(p, "{\"ts\":")); p++) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - p);
        if (line_has(p, len, "\"msg\":\"webhook accepted\"")) {
            assert_true(line_has(p, len, "\"source\":\"gh\""));
            assert_true(line_has(p, len, "\"event_id\":\"burst-"));
            lines++;
        }
    }
    free(err);
    assert_int_equal(c.stored, total);
    assert_int_equal(lines, total);
    return c;
}

/* BURST_THREADS senders of BURST_EVENTS events each. */
static struct commits burst(struct env *e, const char *const *extra)
{
    return burst_with(e, extra, BURST_THREADS, BURST_EVENTS, false);
}

/* Concurrent senders share commits: some commit stores more than one event. */
static void test_concurrent_requests_share_commits(void **state)
{
    struct commits c = burst(*state, NULL);
    assert_true(c.largest >= 2);
    assert_true(c.commits < BURST_THREADS * BURST_EVENTS);
}

/* --commit-interval: commits start that far apart, and the senders waiting meanwhile share them. */
static void test_commit_interval_paces_commits(void **state)
{
    const char *extra[] = {"--commit-interval", "200ms", NULL};
    struct commits c = burst(*state, extra);
    assert_true(c.commits >= 2);
    assert_true(c.min_gap_ms >= 198); /* 200 less the log's millisecond rounding */
    assert_true(c.largest >= 2);
}

/* Pacing waits only for small batches: after one event, 30 sent at once
 * are committed, 24 or more together, long before a 500 ms interval. */
static void test_commit_interval_not_for_enough_events(void **state)
{
    const char *extra[] = {"--commit-interval", "500ms", NULL};
    struct commits c = burst_with(*state, extra, 30, 1, true);
    assert_true(c.largest >= 24);
    assert_true(c.min_gap_big_ms >= 0);
    assert_true(c.min_gap_big_ms < 400);
}

/* --commit-batch 1: the same burst, one commit per event. */
static void test_commit_batch_one_commits_each_event(void **state)
{
    const char *extra[] = {"--commit-batch", "1", "--commit-interval", "0", NULL};
    struct commits c = burst(*state, extra);
    assert_int_equal(c.largest, 1);
    assert_int_equal(c.commits, BURST_THREADS * BURST_EVENTS);
}

/* ---- the command line ----------------------------------------------------------------- */

/* ferry ARGS exits 2 and says want on stderr. */
static void usage_error(struct env *e, const char *const *args, const char *want)
{
    char *err = NULL;
    assert_int_equal(fr_test_run(args, e->dir, NULL, 10000, NULL, &err), 2);
    if (!strstr(err, want))
        print_error("stderr lacks \"%s\":\n%s\n", want, err);
    assert_non_null(strstr(err, want));
    free(err);
}

static void test_command_line(void **state)
{
    struct env *e = *state;
    char *out = NULL, *err = NULL;
    const char *serve_help[] = {"serve", "--help", NULL};
    assert_int_equal(fr_test_run(serve_help, e->dir, NULL, 10000, &out, NULL), 0);
    assert_non_null(strstr(out, "usage: ferry serve"));
    free(out);
    const char *dlq_help[] = {"dlq", "--help", NULL};
    assert_int_equal(fr_test_run(dlq_help, e->dir, NULL, 10000, &out, NULL), 0);
    assert_non_null(strstr(out, "usage: ferry dlq list"));
    free(out);
    const char *bad_flag[] = {"serve", "--frobnicate", NULL};
    usage_error(e, bad_flag, "ferry serve: unknown option");
    const char *bad_batch[] = {"serve", "--commit-batch", "513", NULL};
    usage_error(e, bad_batch, "--commit-batch must be 1 to 512");
    const char *long_interval[] = {"serve", "--commit-interval", "2s", NULL};
    usage_error(e, long_interval, "--commit-interval must be 0 to 1s, not '2s'");
    const char *no_unit[] = {"serve", "--commit-interval", "5", NULL};
    usage_error(e, no_unit, "--commit-interval '5': missing unit");
    const char *bad_sub[] = {"dlq", "frob", NULL};
    assert_int_equal(fr_test_run(bad_sub, e->dir, NULL, 10000, NULL, NULL), 2);
    const char *bad_dlq_flag[] = {"dlq", "list", "--frobnicate", NULL};
    assert_int_equal(fr_test_run(bad_dlq_flag, e->dir, NULL, 10000, NULL, NULL), 2);
    /* A config without a webhooks section cannot be served. */
    char *cfg = fr_test_write_file(e->dir, "plain.yaml", "store: sqlite:ferry.db\n");
    const char *no_hooks[] = {"serve", "-c", cfg, NULL};
    assert_int_equal(fr_test_run(no_hooks, e->dir, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(err, "has no webhooks section"));
    free(err);
    const char *show_bad[] = {"dlq", "show", "abc", "-c", cfg, NULL};
    assert_int_equal(fr_test_run(show_bad, e->dir, NULL, 10000, NULL, NULL), 2);
    const char *show_none[] = {"dlq", "show", "7", "-c", cfg, NULL};
    assert_int_equal(fr_test_run(show_none, e->dir, NULL, 10000, NULL, NULL), 2);
    const char *purge_old[] = {"dlq", "purge", "--older-than", "30d", "-c", cfg, NULL};
    assert_int_equal(fr_test_run(purge_old, e->dir, NULL, 10000, &out, NULL), 0);
    assert_non_null(strstr(out, "purged 0 events"));
    free(out);
    const char *purge_bad[] = {"dlq", "purge", "--older-than", "30", "-c", cfg, NULL};
    assert_int_equal(fr_test_run(purge_bad, e->dir, NULL, 10000, NULL, NULL), 2);
    free(cfg);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_each_scheme_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_stored_once_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_github_resend_with_new_delivery_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejection_flood_summarised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delivered_events_deleted_after_retention, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limits_413_405_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_until_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_handler_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_releases_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failure_is_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forwarded_header_cannot_inject, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_under_load_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests_share_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_interval_paces_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_interval_not_for_enough_events, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_commit_batch_one_commits_each_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
