/*
 * End-to-end: `ferry serve` facing the internet, with the real binary on
 * loopback. Slow senders (600 connections from 127.0.0.2 trickling a byte a
 * second into heads and bodies, reopened as they are closed) while signed
 * webhooks from 127.0.0.1 keep getting their 2xx; greedy senders (500
 * connections each sending most of a 1 MB body) that do not grow the
 * process past the budget for unverified bodies; requests whose framing is
 * ambiguous (request smuggling), answered 400 once and closed; the limit
 * per client address; a body below the minimum rate; an open-file limit
 * too low for max_connections.
 *
 * The attackers connect from 127.0.0.2 (bound before connect), so the
 * per-client limit that holds them back leaves 127.0.0.1 alone.
 */
#include "core/common.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/clock.h"
#include "hooks/verify.h"
#include "store/store.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define ATTACKER   "127.0.0.2"
#define SENDER     "127.0.0.1"
/* How late after its deadline a connection may still be seen open: the watchdog's look
 * (an eighth of the shortest deadline) and the scheduling of a busy two-core machine. */
#define SLACK_MS 1000

static const char *const secret_env[] = {"S_STD=" STD_SECRET, NULL};

struct env {
    char *dir;
    char *config;
    struct fr_test_receiver *recv;
    char *recv_url;
    struct fr_proc serve;
    int port;
    struct attack *attack; /* running slow senders, stopped by teardown */
    struct rlimit saved_nofile;
    bool nofile_lowered;
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

static void attack_stop(struct attack *a);
static void attack_free(struct attack *a);

static int teardown(void **state)
{
    struct env *e = *state;
    attack_stop(e->attack);
    attack_free(e->attack);
    if (e->nofile_lowered)
        setrlimit(RLIMIT_NOFILE, &e->saved_nofile); /* may fail without privilege: this is last */
    fr_test_proc_release(&e->serve);
    fr_test_receiver_stop(e->recv);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->config);
    free(e->recv_url);
    free(e);
    return 0;
}

/* ferry.yaml with one source, std (standard scheme), and these webhooks keys (two spaces). */
static void write_config(struct env *e, const char *keys)
{
    char *yaml = fr_asprintf("store: sqlite:ferry.db\n"
                             "webhooks:\n"
                             "  listen: 127.0.0.1:0\n"
                             "  timeout: 10s\n"
                             "%s"
                             "  sources:\n"
                             "    std:\n"
                             "      path: /hooks/std\n"
                             "      verify: { scheme: standard, secrets: [\"${S_STD}\"] }\n"
                             "      deliver: { url: \"%s\", timeout: 5s }\n",
                             keys, e->recv_url);
    free(e->config);
    e->config = fr_test_write_file(e->dir, "ferry.yaml", yaml);
    free(yaml);
}

static void start_serve(struct env *e)
{
    const char *args[] = {"serve", "-c", e->config, NULL};
    assert_int_equal(fr_test_spawn(&e->serve, args, e->dir, secret_env), 0);
    e->port = fr_test_ready_port(&e->serve, 15000);
    if (e->port <= 0)
        fail();
}

static int stop_serve(struct env *e)
{
    kill(e->serve.pid, SIGTERM);
    return fr_test_wait(&e->serve, 20000);
}

/* ---- raw HTTP on loopback -------------------------------------------------------------- */

/* A TCP connection from address from to 127.0.0.1:port; nonblocking: connecting, or -1. */
static int dial(const char *from, int port, bool nonblocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    int one = 1;
    /* The port is chosen at connect, per destination: thousands of reopened sockets
     * from one address do not exhaust or search the ports as bind(port 0) would. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in local = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &local.sin_addr);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
        (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Closes with a reset: no TIME_WAIT left behind by the test's thousands of sockets. */
static void close_hard(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* What came back on one connection. */
struct exchange {
    char *data; /* everything read, NUL-terminated */
    size_t len;
    bool eof;    /* the server closed the connection */
    long status; /* of the first answer; 0 for none */
    int answers; /* complete answers one after another in data */
    int64_t ms;  /* from connect to EOF, or to the timeout */
};

/* The answers in data: status lines each followed by headers and Content-Length bytes. */
static int count_answers(const char *data, size_t len)
{
    int n = 0;
    size_t off = 0;
    while (off < len && strncmp(data + off, "HTTP/1.", 7) == 0) {
        const char *end = strstr(data + off, "\r\n\r\n");
        if (!end)
            return n;
        const char *cl = strcasestr(data + off, "\r\nContent-Length:");
        size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        off = (size_t)(end + 4 - data) + body;
        n++;
    }
    return n;
}

/*
 * Sends req (len bytes) from address from on a new connection, then (if
 * shut_write) closes the sending side, and reads until the server closes
 * the connection or timeout_ms pass.
 */
static void exchange(const char *from, int port, const char *req, size_t len, bool shut_write,
                     int timeout_ms, struct exchange *x)
{
    memset(x, 0, sizeof(*x));
    int64_t t0 = fr_now_ms();
    int fd = dial(from, port, false);
    assert_true(fd >= 0);
    for (size_t off = 0; off < len;) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close before it has read everything */
        off += (size_t)w;
    }
    if (shut_write)
        shutdown(fd, SHUT_WR);
    struct fr_buf b = FR_BUF_INIT;
    int64_t deadline = t0 + timeout_ms;
    while (fr_now_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)FR_MIN((int64_t)100, deadline - fr_now_ms())) <= 0)
            continue;
        char buf[4096];
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0) {
            x->eof = true;
            break;
        }
        fr_buf_add(&b, buf, (size_t)r);
    }
    x->ms = fr_now_ms() - t0;
    close_hard(fd);
    x->data = fr_buf_detach(&b, &x->len);
    if (sscanf(x->data, "HTTP/1.%*d %ld", &x->status) != 1)
        x->status = 0;
    x->answers = count_answers(x->data, x->len);
}

/* A request of a Standard Webhooks sender: body signed, id and timestamp headers. */
static char *signed_post(const char *id, const char *body, size_t len, const char *extra_headers)
{
    struct fr_verify_conf c = {.scheme = FR_VERIFY_STANDARD};
    int64_t ts = fr_wall_ms() / 1000;
    char *sig = fr_verify_sign(&c, STD_SECRET, id, ts, body, len);
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b,
                "POST /hooks/std HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                "webhook-id: %s\r\nwebhook-timestamp: %lld\r\nwebhook-signature: %s\r\n%s",
                id, (long long)ts, sig, extra_headers);
    free(sig);
    return fr_buf_detach(&b, NULL);
}

/* A complete signed webhook from SENDER: its exchange (Connection: close). */
static void send_webhook(struct env *e, const char *id, const char *body, size_t len,
                         int timeout_ms, struct exchange *x)
{
    char *extra = fr_asprintf("Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
    char *head = signed_post(id, body, len, extra);
    free(extra);
    size_t hl = strlen(head);
    char *req = fr_malloc(hl + len);
    memcpy(req, head, hl);
    memcpy(req + hl, body, len);
    exchange(SENDER, e->port, req, hl + len, false, timeout_ms, x);
    free(req);
    free(head);
}

static long get_status(struct env *e, const char *path, int timeout_ms, int64_t *ms)
{
    char *req =
        fr_asprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    struct exchange x;
    exchange(SENDER, e->port, req, strlen(req), false, timeout_ms, &x);
    free(req);
    long status = x.status;
    if (ms)
        *ms = x.ms;
    free(x.data);
    return status;
}

/* A sample of GET /metrics ("name{labels}"), 0 when absent. */
static double metric(struct env *e, const char *series)
{
    char *req =
        fr_asprintf("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    struct exchange x;
    exchange(SENDER, e->port, req, strlen(req), false, 5000, &x);
    free(req);
    double v = 0;
    char *line = fr_asprintf("\n%s ", series);
    const char *at = strstr(x.data, line);
    if (at)
        v = strtod(at + strlen(line), NULL);
    free(line);
    free(x.data);
    return v;
}

static int add_counts(const struct fr_queue_stats *q, void *ud)
{
    *(uint64_t *)ud += q->pending + q->delivered + q->dead;
    return 0;
}

/* Events in the store, in every state. */
static uint64_t stored_events(struct env *e)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open("sqlite:ferry.db", e->dir, &st, &err), 0);
    uint64_t n = 0;
    assert_int_equal(fr_store_queue_stats(st, true, add_counts, &n, &err), 0);
    fr_store_close(st);
    return n;
}

/* VmRSS or VmHWM of a process, in KB. */
static long proc_kb(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *status = fr_test_read_file(path);
    assert_non_null(status);
    char *key = fr_asprintf("\n%s:", field);
    const char *at = strstr(status, key);
    long kb = at ? strtol(at + strlen(key), NULL, 10) : -1;
    free(key);
    free(status);
    return kb;
}

/* ---- slow senders ------------------------------------------------------------------------ */

enum slow_kind { SLOW_HEAD, SLOW_BODY };

struct slot {
    int fd; /* -1: closed, to be reopened at next_ms */
    enum slow_kind kind;
    int64_t connected_ms; /* its first byte sent; 0: still connecting */
    int64_t next_ms;
    size_t sent;
};

/* Ages of connections as the server closed them, by kind. */
struct lives {
    size_t closed;           /* EOF seen */
    size_t by_deadline;      /* EOF at least 80% of the deadline after opening */
    int64_t longest_ms;      /* the longest life that ended in EOF */
    int64_t longest_open_ms; /* the oldest still open when the attack stopped */
};

/*
 * n connections from ATTACKER, half trickling a request head a byte a
 * second (never finishing it), half a body (head at once, Content-Length
 * 100000, then a byte a second). A connection the server closes is
 * reopened reopen_ms later. One thread; stopped by attack_stop.
 */
struct attack {
    pthread_t thread;
    atomic_bool stop;
    int port;
    int64_t head_deadline_ms, body_deadline_ms; /* for by_deadline */
    size_t n;
    struct slot *slots;
    struct lives lives[2];
    size_t opened;
};

static const char slow_head[] =
    "POST /hooks/std HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char body_head[] = "POST /hooks/std HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n";

static void slot_open(struct attack *a, struct slot *s, int64_t now)
{
    s->fd = dial(ATTACKER, a->port, true);
    s->connected_ms = 0;
    s->next_ms = now;
    s->sent = 0;
    if (s->fd >= 0)
        a->opened++;
}

static void slot_closed(struct attack *a, struct slot *s, int64_t now)
{
    struct lives *l = &a->lives[s->kind];
    int64_t life = s->connected_ms ? now - s->connected_ms : 0;
    int64_t deadline = s->kind == SLOW_HEAD ? a->head_deadline_ms : a->body_deadline_ms;
    l->closed++;
    l->by_deadline += life * 10 >= deadline * 8;
    l->longest_ms = FR_MAX(l->longest_ms, life);
    close(s->fd);
    s->fd = -1;
    s->next_ms = now + 500; /* reopened, but not in a tight loop against the per-client limit */
}

/*
 * The next byte (the body's head at once) when due. A connection's life
 * counts from its first byte: a connect the kernel delays (a full listen
 * queue drops a SYN, retried a second later) is not the server's deadline.
 */
static void slot_send(struct slot *s, int64_t now)
{
    if (!s->connected_ms && s->sent == 0)
        s->connected_ms = now; /* reset below when nothing could be sent yet */
    const char *text = s->kind == SLOW_HEAD ? slow_head : body_head;
    size_t len = s->kind == SLOW_HEAD ? sizeof(slow_head) - 1 : sizeof(body_head) - 1;
    if (s->kind == SLOW_BODY && s->sent < len) {
        ssize_t w = send(s->fd, text + s->sent, len - s->sent, MSG_NOSIGNAL);
        if (w > 0)
            s->sent += (size_t)w;
        else if (s->sent == 0)
            s->connected_ms = 0; /* connecting: EAGAIN, tried again at the next tick */
        return;
    }
    char c = s->kind == SLOW_HEAD ? text[FR_MIN(s->sent, len - 1)] : '7';
    if (send(s->fd, &c, 1, MSG_NOSIGNAL) == 1) {
        s->sent++;
        s->next_ms = now + 1000;
    } else if (s->sent == 0) {
        s->connected_ms = 0;
    }
}

static void *attack_main(void *arg)
{
    struct attack *a = arg;
    struct pollfd *p = fr_calloc(a->n, sizeof(*p));
    while (!atomic_load(&a->stop)) {
        int64_t now = fr_now_ms();
        for (size_t i = 0; i < a->n; i++) {
            struct slot *s = &a->slots[i];
            if (s->fd < 0 && now >= s->next_ms)
                slot_open(a, s, now);
            p[i] = (struct pollfd){.fd = s->fd, .events = POLLIN};
        }
        poll(p, a->n, 50);
        now = fr_now_ms();
        for (size_t i = 0; i < a->n; i++) {
            struct slot *s = &a->slots[i];
            if (s->fd < 0)
                continue;
            if (p[i].revents) {
                char buf[1024];
                ssize_t r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    slot_closed(a, s, now);
                    continue;
                }
            }
            if (now >= s->next_ms)
                slot_send(s, now);
        }
    }
    int64_t now = fr_now_ms();
    for (size_t i = 0; i < a->n; i++) {
        struct slot *s = &a->slots[i];
        if (s->fd < 0)
            continue;
        struct lives *l = &a->lives[s->kind];
        if (s->connected_ms)
            l->longest_open_ms = FR_MAX(l->longest_open_ms, now - s->connected_ms);
        close_hard(s->fd);
        s->fd = -1;
    }
    free(p);
    return NULL;
}

static struct attack *attack_start(int port, size_t n, int64_t head_deadline_ms,
                                   int64_t body_deadline_ms)
{
    struct attack *a = fr_calloc(1, sizeof(*a));
    a->port = port;
    a->n = n;
    a->head_deadline_ms = head_deadline_ms;
    a->body_deadline_ms = body_deadline_ms;
    a->slots = fr_calloc(n, sizeof(*a->slots));
    for (size_t i = 0; i < n; i++)
        a->slots[i] = (struct slot){.fd = -1, .kind = i % 2 ? SLOW_BODY : SLOW_HEAD};
    atomic_init(&a->stop, false);
    assert_int_equal(pthread_create(&a->thread, NULL, attack_main, a), 0);
    return a;
}

/* Stops and joins the attacker; its results stay readable until attack_free. */
static void attack_stop(struct attack *a)
{
    if (!a || atomic_load(&a->stop))
        return;
    atomic_store(&a->stop, true);
    pthread_join(a->thread, NULL);
}

static void attack_free(struct attack *a)
{
    if (a) {
        free(a->slots);
        free(a);
    }
}

static int cmp_ms(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

#define LEGIT_EVENTS 30

static void test_slow_senders_do_not_starve_others(void **state)
{
    struct env *e = *state;
    /* The attack: ~550 such connections filled the old 512 slots. */
    write_config(e, "  max_body: 1MB\n"
                    "  header_timeout: 1s\n"
                    "  body_timeout: 2s\n");
    start_serve(e);
    e->attack = attack_start(e->port, 600, 1000, 2000);
    fr_sleep_ms(1500); /* every slot taken or refused, the first deadlines passed */

    /* Signed webhooks and health checks from another address meanwhile. */
    int64_t ms[LEGIT_EVENTS];
    size_t sent = 0, ok = 0;
    int64_t phase_end = fr_now_ms() + 12000; /* bounded even when everything times out */
    char failures[512] = "";
    for (; sent < LEGIT_EVENTS && fr_now_ms() < phase_end; sent++) {
        char id[32], body[64];
        snprintf(id, sizeof(id), "legit-%zu", sent);
        snprintf(body, sizeof(body), "{\"legit\":%zu}", sent);
        struct exchange x;
        send_webhook(e, id, body, strlen(body), 2000, &x);
        ms[sent] = x.ms;
        if (x.status >= 200 && x.status < 300)
            ok++;
        else if (strlen(failures) < sizeof(failures) - 40)
            snprintf(failures + strlen(failures), sizeof(failures) - strlen(failures),
                     " %s:%ld(%lldms)", id, x.status, (long long)x.ms);
        free(x.data);
        fr_sleep_ms(100);
    }
    int64_t health_ms = 0;
    long health = get_status(e, "/healthz", 2000, &health_ms);
    fr_sleep_ms(2500); /* the attack goes on: every connection lived through a deadline */
    attack_stop(e->attack);

    struct attack *a = e->attack;
    const struct lives *head = &a->lives[SLOW_HEAD], *body = &a->lives[SLOW_BODY];
    print_message("attack: %zu connections opened; heads: %zu closed (%zu at their deadline), "
                  "longest %lld ms, oldest left open %lld ms; bodies: %zu closed (%zu at their "
                  "deadline), longest %lld ms, oldest left open %lld ms\n",
                  a->opened, head->closed, head->by_deadline, (long long)head->longest_ms,
                  (long long)head->longest_open_ms, body->closed, body->by_deadline,
                  (long long)body->longest_ms, (long long)body->longest_open_ms);
    qsort(ms, sent, sizeof(ms[0]), cmp_ms);
    int64_t p99 = sent ? ms[(sent * 99 + 99) / 100 - 1] : -1;
    print_message("legit: %zu of %zu sent answered 2xx, p50 %lld ms, p99 %lld ms;%s healthz %ld "
                  "in %lld ms\n",
                  ok, sent, (long long)(sent ? ms[sent / 2] : -1), (long long)p99, failures, health,
                  (long long)health_ms);

    /* Every legitimate sender served, quickly, and /healthz answers. */
    assert_int_equal(sent, LEGIT_EVENTS);
    assert_int_equal(ok, LEGIT_EVENTS);
    assert_true(p99 < 1000);
    assert_int_equal(health, 200);
    /* No slow connection outlives its deadline: closed (EOF seen) within it, and none
     * older is still open; most closes were by deadline, not the per-client refusal. */
    assert_true(head->longest_ms <= 1000 + SLACK_MS);
    assert_true(body->longest_ms <= 2000 + SLACK_MS);
    assert_true(head->longest_open_ms <= 1000 + SLACK_MS);
    assert_true(body->longest_open_ms <= 2000 + SLACK_MS);
    assert_true(head->by_deadline >= 100);
    assert_true(body->by_deadline >= 100);
    /* ... and counted by reason. */
    assert_true(metric(e, "ferry_webhook_connections_closed_total{reason=\"header_timeout\"}") >=
                (double)head->by_deadline);
    assert_true(metric(e, "ferry_webhook_connections_closed_total{reason=\"body_timeout\"}") >=
                (double)body->by_deadline);
    assert_int_equal(stored_events(e), LEGIT_EVENTS);
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    /* What the open-file limit allowed, once; the closes in summary lines, not one each. */
    assert_non_null(strstr(err, "\"msg\":\"open-file limit\""));
    size_t summaries = 0;
    for (const char *p = err; (p = strstr(p, "connections closed before their request")); p++)
        summaries++;
    assert_true(summaries >= 1 && summaries <= 3);
    free(err);
}

/* ---- greedy senders ----------------------------------------------------------------------- */

#define GREEDY       500
#define GREEDY_CL    (1024u * 1024)
#define GREEDY_SENDS (900u * 1024)
#define BUDGET_MB    16
/* libmicrohttpd's pool per connection (request head, read buffer), as documented. */
#define POOL_KB 64

static void test_greedy_senders_stay_within_budget(void **state)
{
    struct env *e = *state;
    write_config(e, "  max_body: 1MB\n"
                    "  unverified_budget: 16MB\n"
                    "  header_timeout: 10s\n"
                    "  body_timeout: 30s\n"
                    "  min_body_rate: 0B\n"
                    "  max_connections_per_client: 0\n");
    start_serve(e);
    struct exchange x;
    send_webhook(e, "warm-up", "{}", 2, 5000, &x);
    assert_int_equal(x.status, 200);
    free(x.data);
    long base_kb = proc_kb(e->serve.pid, "VmRSS");

    /* 500 connections, each declaring 1 MB and sending 900 KB of it, 64 KB at a time. */
    static char chunk[64 * 1024];
    memset(chunk, 'g', sizeof(chunk));
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST /hooks/std HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                      "application/json\r\nContent-Length: %u\r\n\r\n",
                      GREEDY_CL);
    int fds[GREEDY];
    size_t sent[GREEDY] = {0};
    bool done[GREEDY] = {0};
    size_t answered_503 = 0, retry_after = 0;
    for (int i = 0; i < GREEDY; i++) {
        fds[i] = dial(ATTACKER, e->port, false);
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], head, (size_t)hl, MSG_NOSIGNAL), hl);
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
    }
    int64_t end = fr_now_ms() + 15000;
    for (size_t left = GREEDY; left && fr_now_ms() < end;) {
        left = 0;
        for (int i = 0; i < GREEDY; i++) {
            if (done[i])
                continue;
            char buf[1024];
            ssize_t r = recv(fds[i], buf, sizeof(buf) - 1, 0);
            if (r >= 0 || errno != EAGAIN) {
                /* an answer before the body: the budget's 503 (the connection then closes) */
                if (r > 0) {
                    buf[r] = '\0';
                    answered_503 += strncmp(buf, "HTTP/1.1 503", 12) == 0;
                    retry_after += strcasestr(buf, "\r\nRetry-After: ") != NULL;
                }
                done[i] = true;
                continue;
            }
            if (sent[i] >= GREEDY_SENDS) {
                done[i] = true; /* holds what it sent */
                continue;
            }
            ssize_t w =
                send(fds[i], chunk, FR_MIN(sizeof(chunk), GREEDY_SENDS - sent[i]), MSG_NOSIGNAL);
            if (w > 0)
                sent[i] += (size_t)w;
            left++;
        }
        fr_sleep_ms(20);
    }
    fr_sleep_ms(500); /* what is on the wire arrives */
    long peak_kb = proc_kb(e->serve.pid, "VmHWM");
    long limit_kb = base_kb + BUDGET_MB * 1024 + GREEDY * POOL_KB + 16 * 1024;
    size_t holding = 0;
    for (int i = 0; i < GREEDY; i++)
        holding += sent[i] >= GREEDY_SENDS;
    print_message("greedy: %d connections, %zu sent 900 KB, %zu answered 503 (%zu with "
                  "Retry-After); RSS %ld KB at start, peak %ld KB, limit %ld KB\n",
                  GREEDY, holding, answered_503, retry_after, base_kb, peak_kb, limit_kb);
    for (int i = 0; i < GREEDY; i++)
        close_hard(fds[i]);
#ifndef __SANITIZE_THREAD__ /* whose shadow memory multiplies every byte the process touches */
    /* Under the budget plus the documented constant, not 500 bodies' worth. */
    assert_true(peak_kb < limit_kb);
#endif
    /* The requests the budget could not hold were told so before their bodies were read. */
    assert_true(answered_503 >= GREEDY - BUDGET_MB);
    assert_int_equal(retry_after, answered_503);

    /* Later senders get the memory back: twenty near-1 MB events (more than the budget). */
    char *big = fr_malloc(GREEDY_SENDS + 1);
    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof(id), "after-%d", i);
        int n = snprintf(big, GREEDY_SENDS, "{\"i\":%d,\"pad\":\"", i);
        memset(big + n, 'p', GREEDY_SENDS - (size_t)n - 2);
        memcpy(big + GREEDY_SENDS - 2, "\"}", 2);
        send_webhook(e, id, big, GREEDY_SENDS, 10000, &x);
        if (x.status != 200)
            fail_msg("%s: %ld %s", id, x.status, x.data);
        free(x.data);
    }
    free(big);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- framing ------------------------------------------------------------------------------- */

static void test_ambiguous_framing_refused_and_closed(void **state)
{
    struct env *e = *state;
    write_config(e, "  max_body: 64KB\n");
    start_serve(e);
    /* Each carries a correctly signed {"a":N} and, after it, a second request that a front
     * proxy reading the framing the other way would not see. */
    static const char follow[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    struct {
        const char *name;
        const char *headers; /* after the signature headers; %zu: the body's length */
        const char *body;    /* what is sent after the head; the signed part is {"a":N} */
        bool shut_write;     /* send EOF: a body "until close" ends there */
    } cases[] = {
        {"two Content-Lengths", "Content-Length: 7\r\nContent-Length: 48\r\n\r\n", "{\"a\":0}",
         false},
        {"Content-Length and chunked", "Content-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n",
         "7\r\n{\"a\":1}\r\n0\r\n\r\n", false},
        {"Transfer-Encoding other than chunked", "Transfer-Encoding: identity\r\n\r\n", "{\"a\":2}",
         true},
        {"chunked, then another coding",
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
         "gzip\r\n\r\n",
         "7\r\n{\"a\":3}\r\n0\r\n\r\n", false},
        {"space before the colon", "Content-Length : 7\r\n\r\n", "{\"a\":4}", false},
        /* a proxy may route by one Host, ferry check another (RFC 9112 section 3.2) */
        {"two Hosts", "Host: evil.example\r\nContent-Length: 7\r\n\r\n", "{\"a\":5}", false},
    };
    for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
        char id[16], signed_body[16];
        snprintf(id, sizeof(id), "smuggle-%zu", i);
        snprintf(signed_body, sizeof(signed_body), "{\"a\":%zu}", i);
        char *head = signed_post(id, signed_body, strlen(signed_body), cases[i].headers);
        char *req = fr_asprintf("%s%s%s", head, cases[i].body, follow);
        struct exchange x;
        exchange(SENDER, e->port, req, strlen(req), cases[i].shut_write, 5000, &x);
        print_message("%s: %ld, %d answer(s), %s after %lld ms\n", cases[i].name, x.status,
                      x.answers, x.eof ? "closed" : "open", (long long)x.ms);
        if (x.status != 400 || x.answers != 1 || !x.eof)
            fail_msg("%s: want one 400 and the connection closed, got:\n%s", cases[i].name, x.data);
        assert_non_null(strstr(x.data, "\r\nConnection: close\r\n"));
        assert_non_null(strstr(x.data, "{\"error\":\"ambiguous request framing: "));
        free(x.data);
        free(req);
        free(head);
    }
    /* The operations endpoints too. */
    static const char ops[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: "
                              "0\r\nContent-Length: 0\r\n\r\n";
    struct exchange x;
    exchange(SENDER, e->port, ops, strlen(ops), false, 5000, &x);
    assert_int_equal(x.status, 400);
    assert_int_equal(x.answers, 1);
    assert_true(x.eof);
    free(x.data);

    /* Nothing stored, delivered or counted as accepted; the refusals counted. */
    assert_int_equal(stored_events(e), 0);
    assert_int_equal(metric(e, "ferry_webhook_accepted_total{source=\"std\"}"), 0);
    assert_int_equal(metric(e, "ferry_webhook_connections_closed_total{reason=\"framing\"}"),
                     FR_ARRAY_LEN(cases) + 1);
    /* An ordinary delivery still goes through (the checks above are not vacuous). */
    send_webhook(e, "plain", "{\"a\":9}", 7, 5000, &x);
    assert_int_equal(x.status, 200);
    free(x.data);
    assert_int_equal(stored_events(e), 1);
    fr_sleep_ms(300);
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
    assert_int_equal(stop_serve(e), 0);
}

/* ---- per client, slow bodies, open files ---------------------------------------------------- */

static void test_per_client_limit(void **state)
{
    struct env *e = *state;
    write_config(e, "  max_body: 64KB\n"
                    "  header_timeout: 20s\n"
                    "  max_connections_per_client: 8\n");
    start_serve(e);
    int fds[12];
    for (int i = 0; i < 12; i++) {
        fds[i] = dial(ATTACKER, e->port, false);
        assert_true(fds[i] >= 0);
        assert_true(send(fds[i], "POST /hooks/std HTTP/1.1\r\n", 26, MSG_NOSIGNAL) == 26);
        fr_sleep_ms(20); /* in order: the first eight are the ones served */
    }
    /* The four over the limit are closed at once, without an answer; the eight stay. */
    int64_t end = fr_now_ms() + 3000;
    size_t closed = 0;
    bool is_closed[12] = {0};
    while (closed < 4 && fr_now_ms() < end) {
        for (int i = 0; i < 12; i++) {
            char c;
            ssize_t r = is_closed[i] ? 1 : recv(fds[i], &c, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                is_closed[i] = true;
                closed++;
            }
        }
        fr_sleep_ms(20);
    }
    fr_sleep_ms(300);
    for (int i = 0; i < 12; i++) {
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
        bool open = r < 0 && errno == EAGAIN;
        if (open == (i >= 8))
            fail_msg("connection %d from one address: %s", i, open ? "open" : "closed");
    }
    /* Another address is served. */
    struct exchange x;
    send_webhook(e, "other-client", "{}", 2, 5000, &x);
    assert_int_equal(x.status, 200);
    free(x.data);
    for (int i = 0; i < 12; i++)
        close_hard(fds[i]);
    assert_int_equal(stop_serve(e), 0);
}

static void test_slow_body_closed_after_grace(void **state)
{
    struct env *e = *state;
    write_config(e, "  max_body: 64KB\n"
                    "  body_timeout: 30s\n"
                    "  min_body_rate: 1KB\n");
    start_serve(e);
    int fd = dial(ATTACKER, e->port, false);
    assert_true(fd >= 0);
    static const char head[] = "POST /hooks/std HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Length: 60000\r\n\r\n";
    assert_int_equal(send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL), sizeof(head) - 1);
    /* 100 bytes a second: well below 1 KB/s, and never idle long enough for `timeout`. */
    int64_t t0 = fr_now_ms();
    bool eof = false;
    char pad[10];
    memset(pad, 'x', sizeof(pad));
    while (!eof && fr_now_ms() - t0 < 12000) {
        send(fd, pad, sizeof(pad), MSG_NOSIGNAL);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            char c;
            eof = recv(fd, &c, 1, 0) <= 0;
        }
    }
    int64_t life = fr_now_ms() - t0;
    close_hard(fd);
    print_message("slow body closed after %lld ms\n", (long long)life);
    assert_true(eof);
    assert_true(life >= 4500 && life <= 5000 + SLACK_MS);
    assert_int_equal(metric(e, "ferry_webhook_connections_closed_total{reason=\"slow_body\"}"), 1);
    assert_int_equal(stop_serve(e), 0);
}

/* Last: lowering the hard limit cannot always be undone without privilege. */
static void test_open_file_limit_too_low(void **state)
{
    struct env *e = *state;
    write_config(e, "  max_body: 64KB\n"
                    "  max_connections: 4096\n");
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &e->saved_nofile), 0);
    struct rlimit low = {300, 300};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    e->nofile_lowered = true;
    start_serve(e); /* inherits the limit */
    assert_int_equal(get_status(e, "/healthz", 5000, NULL), 200);
    assert_int_equal(stop_serve(e), 0);
    char *err = fr_test_proc_stderr(&e->serve);
    const char *warn = strstr(err, "the open-file limit cannot cover webhooks.max_connections");
    if (!warn)
        fail_msg("no warning about the open-file limit in:\n%s", err);
    assert_non_null(strstr(warn, "\"hard_limit\":300"));
    assert_non_null(strstr(warn, "\"connections\":44")); /* 300 less a margin of 256 */
    free(err);
}

int main(void)
{
    /* The attackers need more sockets than a default soft limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_senders_do_not_starve_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_greedy_senders_stay_within_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ambiguous_framing_refused_and_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_client_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_body_closed_after_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_file_limit_too_low, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
