/*
 * ferry-loadgen: sends unique, signed webhook events (Standard Webhooks:
 * webhook-id, webhook-timestamp, webhook-signature) to one URL on
 * 127.0.0.1 over N keep-alive HTTP/1.1 connections, and reports the answers
 * and the ack latency. A benchmark tool (bench/webhooks.sh), not a test.
 *
 * Closed loop (default): each connection sends its next request as soon as
 * the answer to the previous one is complete. Open loop (--rate R): requests
 * are due at a fixed rate whatever the answers do; a due request waits for
 * an idle connection, and its latency counts from when it was due, so a
 * slow server is not hidden by the generator slowing down with it.
 *
 * One thread, non-blocking sockets and epoll. It stops by itself after
 * --duration seconds or --requests requests, then waits at most --timeout
 * for the answers in flight.
 */
#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hooks/verify.h"

#define IN_CAP          8192 /* the largest answer read (status line, headers, body) */
#define MAX_CONNECTIONS 1024
#define MAX_SAMPLES     (32u * 1024 * 1024) /* latency samples kept (8 bytes each) */
#define MAX_BODY        (1024u * 1024)

static const char usage[] =
    "usage: ferry-loadgen --url http://127.0.0.1:PORT/PATH [options]\n"
    "\n"
    "Sends unique webhook events signed with the Standard Webhooks scheme over\n"
    "keep-alive connections and reports answers by status, the rate of 2xx\n"
    "answers and the ack latency (send to complete answer) percentiles.\n"
    "\n"
    "options:\n"
    "  --url URL           target; the host must be 127.0.0.1\n"
    "  --secret-env NAME   environment variable holding the whsec_ secret\n"
    "                      (default BENCH_WEBHOOK_SECRET)\n"
    "  -c, --connections N keep-alive connections (default 16, 1..1024)\n"
    "  -d, --duration S    seconds to send for (default 10)\n"
    "  -n, --requests N    stop after N requests instead (whichever comes first)\n"
    "  -r, --rate R        open loop: R requests/s in total (default: closed loop)\n"
    "  --body-size B       bytes of JSON body per event (default 256, 64..1048576)\n"
    "  --id-prefix P       event id prefix (default evt_PID_MS, unique per run)\n"
    "  --timeout S         per-request timeout and the drain at the end (default 10)\n"
    "  --acked FILE        write the id of every 2xx-answered event, one a line\n"
    "  -h, --help          this text\n"
    "\n"
    "Output: one 'key value' line per figure (sent, ok_2xx, status_NNN, errors,\n"
    "timeouts, elapsed_s, ok_per_s, lat_p50_ms, lat_p90_ms, lat_p99_ms, lat_max_ms,\n"
    "cpu_s). Exit status: 0 when every request got a 2xx, 1 otherwise, 2 usage.\n";

struct options {
    char path[512];
    int port;
    const char *secret_env;
    int connections;
    double duration_s;
    uint64_t requests; /* 0: no cap */
    double rate;       /* 0: closed loop */
    size_t body_size;
    char id_prefix[64];
    double timeout_s;
    const char *acked_path;
};

struct conn {
    int fd; /* -1: not connected */
    bool busy;
    bool want_out;     /* registered for EPOLLOUT */
    int64_t origin_ns; /* latency origin of the request in flight */
    char id[96];       /* its event id */
    char *out;         /* the request being written */
    size_t out_len, out_off, out_cap;
    char in[IN_CAP];
    size_t in_len;
};

struct stats {
    uint64_t sent, answered, ok, errors, timeouts;
    uint64_t by_status[600];
    uint64_t *lat_ns;
    size_t nlat, caplat;
    bool lat_capped;
};

struct gen {
    struct options o;
    int ep;
    struct conn *conns;
    int *idle; /* stack of idle connected connections */
    int nidle;
    int busy;
    struct sockaddr_in addr;
    const char *secret;
    struct fr_verify_conf sign_conf;
    char *body; /* body template, o.body_size bytes */
    int seq_at; /* offset of the 20-digit sequence number in body */
    uint64_t next_seq;
    FILE *acked;
    struct stats st;
    int64_t start_ns, last_answer_ns;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- options ---------------------------------------------------------------------------- */

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "ferry-loadgen: %s '%s' (see --help)\n", msg, arg);
    return 2;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* http://127.0.0.1:PORT/PATH only: this tool talks to nothing else. */
static bool parse_url(const char *url, struct options *o)
{
    static const char prefix[] = "http://127.0.0.1:";
    if (strncmp(url, prefix, strlen(prefix)) != 0)
        return false;
    char *end;
    errno = 0;
    long port = strtol(url + strlen(prefix), &end, 10);
    if (errno || port < 1 || port > 65535 || *end != '/')
        return false;
    o->port = (int)port;
    return fr_strlcpy(o->path, end, sizeof(o->path)) < sizeof(o->path);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum { OPT_URL = 0x100, OPT_SECRET_ENV, OPT_BODY, OPT_PREFIX, OPT_TIMEOUT, OPT_ACKED };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"secret-env", required_argument, NULL, OPT_SECRET_ENV},
        {"connections", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"requests", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"body-size", required_argument, NULL, OPT_BODY},
        {"id-prefix", required_argument, NULL, OPT_PREFIX},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"acked", required_argument, NULL, OPT_ACKED},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    *o = (struct options){
        .secret_env = "BENCH_WEBHOOK_SECRET",
        .connections = 16,
        .duration_s = 10,
        .body_size = 256,
        .timeout_s = 10,
    };
    snprintf(o->id_prefix, sizeof(o->id_prefix), "evt_%ld_%lld", (long)getpid(),
             (long long)(time(NULL) * 1000LL + now_ns() / 1000000 % 1000));
    bool have_url = false;
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "c:d:n:r:h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_URL:
            if (!parse_url(optarg, o))
                return usage_error("--url must be http://127.0.0.1:PORT/PATH, not", optarg);
            have_url = true;
            break;
        case OPT_SECRET_ENV:
            o->secret_env = optarg;
            break;
        case 'c':
            if (!parse_double(optarg, 1, MAX_CONNECTIONS, &v) || v != (int)v)
                return usage_error("--connections must be 1 to 1024, not", optarg);
            o->connections = (int)v;
            break;
        case 'd':
            if (!parse_double(optarg, 0.1, 3600, &o->duration_s))
                return usage_error("--duration must be 0.1 to 3600 seconds, not", optarg);
            break;
        case 'n':
            if (!parse_double(optarg, 1, 1e9, &v) || v != (uint64_t)v)
                return usage_error("--requests must be 1 to 1e9, not", optarg);
            o->requests = (uint64_t)v;
            break;
        case 'r':
            if (!parse_double(optarg, 1, 1e7, &o->rate))
                return usage_error("--rate must be 1 to 1e7 requests/s, not", optarg);
            break;
        case OPT_BODY:
            if (!parse_double(optarg, 64, MAX_BODY, &v) || v != (size_t)v)
                return usage_error("--body-size must be 64 to 1048576 bytes, not", optarg);
            o->body_size = (size_t)v;
            break;
        case OPT_PREFIX:
            if (strlen(optarg) == 0 || strlen(optarg) >= 64 || strpbrk(optarg, " \r\n"))
                return usage_error("--id-prefix must be 1 to 63 bytes without spaces, not", optarg);
            fr_strlcpy(o->id_prefix, optarg, sizeof(o->id_prefix));
            break;
        case OPT_TIMEOUT:
            if (!parse_double(optarg, 0.1, 600, &o->timeout_s))
                return usage_error("--timeout must be 0.1 to 600 seconds, not", optarg);
            break;
        case OPT_ACKED:
            o->acked_path = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            return 2;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (!have_url)
        return usage_error("--url is required", "");
    return 0;
}

/* ---- requests --------------------------------------------------------------------------- */

/* A JSON body of exactly body_size bytes with a 20-digit sequence number at *seq_at. */
static char *make_body(size_t body_size, int *seq_at)
{
    static const char head[] = "{\"type\":\"bench.event\",\"seq\":";
    static const char mid[] = ",\"data\":\"";
    static const char tail[] = "\"}";
    size_t fixed = strlen(head) + 20 + strlen(mid) + strlen(tail);
    FR_ASSERT(body_size >= fixed);
    char *b = fr_malloc(body_size + 1);
    size_t at = 0;
    memcpy(b + at, head, strlen(head));
    at += strlen(head);
    *seq_at = (int)at;
    memset(b + at, '0', 20);
    at += 20;
    memcpy(b + at, mid, strlen(mid));
    at += strlen(mid);
    size_t pad = body_size - fixed;
    for (size_t i = 0; i < pad; i++)
        b[at + i] = (char)('a' + i % 26);
    at += pad;
    memcpy(b + at, tail, strlen(tail));
    at += strlen(tail);
    b[at] = '\0';
    return b;
}

static void put_seq(char *at, uint64_t seq)
{
    for (int i = 19; i >= 0; i--, seq /= 10)
        at[i] = (char)('0' + seq % 10);
}

/* Builds the next unique signed event into c->out. */
static void build_request(struct gen *g, struct conn *c)
{
    uint64_t seq = g->next_seq++;
    put_seq(g->body + g->seq_at, seq);
    snprintf(c->id, sizeof(c->id), "%s_%llu", g->o.id_prefix, (unsigned long long)seq);
    int64_t ts = (int64_t)time(NULL);
    char *sig = fr_verify_sign(&g->sign_conf, g->secret, c->id, ts, g->body, g->o.body_size);
    FR_ASSERT(sig); /* the secret was checked at start */
    size_t need = g->o.body_size + strlen(g->o.path) + strlen(sig) + 512;
    if (c->out_cap < need) {
        c->out = fr_realloc(c->out, need);
        c->out_cap = need;
    }
    int n = snprintf(c->out, c->out_cap,
                     "POST %s HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "webhook-id: %s\r\n"
                     "webhook-timestamp: %lld\r\n"
                     "webhook-signature: %s\r\n"
                     "\r\n",
                     g->o.path, g->o.port, g->o.body_size, c->id, (long long)ts, sig);
    free(sig);
    FR_ASSERT(n > 0 && (size_t)n + g->o.body_size < c->out_cap);
    memcpy(c->out + n, g->body, g->o.body_size);
    c->out_len = (size_t)n + g->o.body_size;
    c->out_off = 0;
}

/* ---- connections ------------------------------------------------------------------------ */

static void set_out_interest(struct gen *g, struct conn *c, bool want)
{
    if (c->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u),
                             .data.u32 = (uint32_t)(c - g->conns)};
    epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* A blocking connect (loopback, bounded by SO_SNDTIMEO), then non-blocking. */
static bool conn_open(struct gen *g, struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&g->addr, sizeof(g->addr)) < 0) {
        close(fd);
        return false;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - g->conns)};
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return false;
    }
    c->fd = fd;
    c->busy = false;
    c->want_out = false;
    c->in_len = 0;
    g->idle[g->nidle++] = (int)(c - g->conns);
    return true;
}

static void conn_close(struct gen *g, struct conn *c)
{
    if (c->fd < 0)
        return;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    if (c->busy) {
        c->busy = false;
        g->busy--;
    } else {
        for (int i = 0; i < g->nidle; i++)
            if (g->idle[i] == (int)(c - g->conns)) {
                g->idle[i] = g->idle[--g->nidle];
                break;
            }
    }
}

/* A failed request or a broken connection: counted, the connection reopened once. */
static void conn_fail(struct gen *g, struct conn *c, bool timeout, bool reopen)
{
    if (c->busy) {
        if (timeout)
            g->st.timeouts++;
        else
            g->st.errors++;
    }
    conn_close(g, c);
    if (reopen && !conn_open(g, c))
        g->st.errors++;
}

static void conn_write(struct gen *g, struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(g, c, true);
            return;
        } else {
            conn_fail(g, c, false, true);
            return;
        }
    }
    set_out_interest(g, c, false);
}

/* Sends the next event on an idle connection; origin is its latency origin. */
static void send_on(struct gen *g, int idx, int64_t origin)
{
    struct conn *c = &g->conns[idx];
    build_request(g, c);
    c->busy = true;
    c->origin_ns = origin;
    c->in_len = 0;
    g->busy++;
    g->st.sent++;
    conn_write(g, c);
}

static void record_latency(struct stats *st, int64_t ns)
{
    if (st->nlat == st->caplat) {
        if (st->caplat >= MAX_SAMPLES) {
            st->lat_capped = true;
            return;
        }
        st->caplat = st->caplat ? st->caplat * 2 : 65536;
        st->lat_ns = fr_reallocarray(st->lat_ns, st->caplat, sizeof(*st->lat_ns));
    }
    st->lat_ns[st->nlat++] = (uint64_t)ns;
}

/*
 * Parses c->in: 1 when a whole answer is there (*status, *keep_alive set), 0 when more is
 * needed, -1 when it is not an HTTP/1.x answer with a Content-Length ferry and nginx send.
 */
static int parse_answer(struct conn *c, int *status, bool *keep_alive)
{
    const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len >= IN_CAP ? -1 : 0;
    size_t head_len = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (c->in[i] < '0' || c->in[i] > '9')
            return -1;
        s = s * 10 + (c->in[i] - '0');
    }
    *keep_alive = c->in[7] == '1';
    long long clen = -1;
    for (const char *p = memchr(c->in, '\n', head_len); p && p < end;
         p = memchr(p, '\n', (size_t)(end - p))) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            clen = strtoll(p + 15, NULL, 10);
        else if (strncasecmp(p, "connection:", 11) == 0) {
            const char *v = p + 11;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, "close", 5) == 0)
                *keep_alive = false;
            else if (strncasecmp(v, "keep-alive", 10) == 0)
                *keep_alive = true;
        } else if (strncasecmp(p, "transfer-encoding:", 18) == 0)
            return -1;
    }
    if (clen < 0 || (size_t)clen > IN_CAP - head_len)
        return -1;
    if (c->in_len < head_len + (size_t)clen)
        return 0;
    if (c->in_len > head_len + (size_t)clen)
        return -1; /* nothing was asked for */
    *status = s;
    return 1;
}

/* Reads what is there; true when an answer completed and the connection is idle again. */
static bool conn_read(struct gen *g, struct conn *c)
{
    bool closed = false; /* EOF or a read error: what came before it may still be an answer */
    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            if (c->in_len < IN_CAP)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            closed = true;
        }
        break;
    }
    if (!c->busy) {
        conn_fail(g, c, false, true); /* bytes nobody asked for, or the server closed */
        return false;
    }
    int status = 0;
    bool keep_alive = true;
    int r = parse_answer(c, &status, &keep_alive);
    if (r < 0 || (r == 0 && closed)) {
        conn_fail(g, c, false, true);
        return false;
    }
    if (r == 0)
        return false;
    int64_t t = now_ns();
    record_latency(&g->st, t - c->origin_ns);
    g->last_answer_ns = t;
    g->st.answered++;
    g->st.by_status[status < 600 ? status : 0]++;
    if (status >= 200 && status < 300) {
        g->st.ok++;
        if (g->acked)
            fprintf(g->acked, "%s\n", c->id);
    }
    c->busy = false;
    g->busy--;
    c->in_len = 0;
    if (!keep_alive || closed) {
        conn_close(g, c);
        if (!conn_open(g, c))
            g->st.errors++;
        return false;
    }
    g->idle[g->nidle++] = (int)(c - g->conns);
    return true;
}

/* ---- the run ---------------------------------------------------------------------------- */

static bool may_send(const struct gen *g, bool issuing)
{
    return issuing && (!g->o.requests || g->st.sent < g->o.requests);
}

/* Requests in flight for longer than timeout_ns are timeouts; their connections reopened. */
static void expire(struct gen *g, int64_t now, int64_t timeout_ns, bool reopen)
{
    for (int i = 0; i < g->o.connections; i++) {
        struct conn *c = &g->conns[i];
        if (c->fd >= 0 && c->busy && now - c->origin_ns > timeout_ns)
            conn_fail(g, c, true, reopen);
    }
}

static void run(struct gen *g)
{
    const struct options *o = &g->o;
    int64_t timeout_ns = (int64_t)(o->timeout_s * 1e9);
    int64_t interval_ns = o->rate > 0 ? (int64_t)(1e9 / o->rate) : 0;
    g->start_ns = now_ns();
    g->last_answer_ns = g->start_ns;
    int64_t end_ns = g->start_ns + (int64_t)(o->duration_s * 1e9);
    int64_t last_expire = g->start_ns;
    uint64_t scheduled = 0; /* open loop: requests taken from the schedule */
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ns();
        bool issuing = now < end_ns && may_send(g, true);
        if (!issuing && g->busy == 0)
            break;
        if (!issuing && now > end_ns + timeout_ns) {
            expire(g, INT64_MAX, 0, false);
            break;
        }
        /* Requests to send now. */
        if (interval_ns) {
            while (may_send(g, issuing) && g->nidle > 0) {
                int64_t due = g->start_ns + (int64_t)scheduled * interval_ns;
                if (due > now)
                    break;
                scheduled++;
                send_on(g, g->idle[--g->nidle], due);
            }
        } else {
            while (may_send(g, issuing) && g->nidle > 0)
                send_on(g, g->idle[--g->nidle], now_ns());
        }
        if (now - last_expire > 100000000) {
            expire(g, now, timeout_ns, true);
            last_expire = now;
        }
        /* Wait: for an answer, the next due request, or the end. */
        int64_t wait_ns = 100000000;
        if (issuing && interval_ns && g->nidle > 0) {
            int64_t due = g->start_ns + (int64_t)scheduled * interval_ns;
            wait_ns = FR_MAX(0, due - now);
        }
        if (issuing)
            wait_ns = FR_MIN(wait_ns, FR_MAX(0, end_ns - now));
        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
        int n = epoll_pwait2(g->ep, evs, (int)FR_ARRAY_LEN(evs), &ts, NULL);
        for (int i = 0; i < n; i++) {
            struct conn *c = &g->conns[evs[i].data.u32];
            if (c->fd < 0)
                continue;
            if (evs[i].events & EPOLLOUT)
                conn_write(g, c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
                bool idle = conn_read(g, c);
                /* Closed loop: the next request goes out at once on the same connection. */
                if (idle && !interval_ns && may_send(g, now_ns() < end_ns)) {
                    g->nidle--; /* it is on top of the idle stack */
                    send_on(g, (int)(c - g->conns), now_ns());
                }
            }
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const struct stats *st, double p)
{
    if (!st->nlat)
        return 0;
    size_t i = (size_t)(p * (double)(st->nlat - 1) + 0.5);
    return (double)st->lat_ns[i] / 1e6;
}

static void report(struct gen *g)
{
    struct stats *st = &g->st;
    qsort(st->lat_ns, st->nlat, sizeof(*st->lat_ns), cmp_u64);
    double elapsed = (double)(g->last_answer_ns - g->start_ns) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("mode %s\n", g->o.rate > 0 ? "open" : "closed");
    if (g->o.rate > 0)
        printf("offered_per_s %.0f\n", g->o.rate);
    printf("connections %d\n", g->o.connections);
    printf("sent %llu\n", (unsigned long long)st->sent);
    printf("ok_2xx %llu\n", (unsigned long long)st->ok);
    for (int s = 100; s < 600; s++)
        if (st->by_status[s] && (s < 200 || s >= 300))
            printf("status_%d %llu\n", s, (unsigned long long)st->by_status[s]);
    printf("errors %llu\n", (unsigned long long)st->errors);
    printf("timeouts %llu\n", (unsigned long long)st->timeouts);
    printf("elapsed_s %.3f\n", elapsed);
    printf("ok_per_s %.0f\n", elapsed > 0 ? (double)st->ok / elapsed : 0);
    printf("lat_p50_ms %.3f\n", pct_ms(st, 0.50));
    printf("lat_p90_ms %.3f\n", pct_ms(st, 0.90));
    printf("lat_p99_ms %.3f\n", pct_ms(st, 0.99));
    printf("lat_max_ms %.3f\n", st->nlat ? (double)st->lat_ns[st->nlat - 1] / 1e6 : 0);
    if (st->lat_capped)
        printf("lat_samples_capped_at %zu\n", st->nlat);
    printf("cpu_s %.2f\n", cpu);
}

int main(int argc, char **argv)
{
    struct gen g = {0};
    int rc = parse_options(argc, argv, &g.o);
    if (rc)
        return rc;
    g.secret = getenv(g.o.secret_env);
    if (!g.secret || !*g.secret) {
        fprintf(stderr, "ferry-loadgen: set %s to the source's whsec_ secret\n", g.o.secret_env);
        return 2;
    }
    g.sign_conf = (struct fr_verify_conf){.scheme = FR_VERIFY_STANDARD};
    char *probe = fr_verify_sign(&g.sign_conf, g.secret, "probe", 1, "{}", 2);
    if (!probe) {
        fprintf(stderr, "ferry-loadgen: the secret in %s is not a whsec_ base64 secret\n",
                g.o.secret_env);
        return 2;
    }
    free(probe);
    if (g.o.acked_path && !(g.acked = fopen(g.o.acked_path, "w"))) {
        fprintf(stderr, "ferry-loadgen: cannot write %s: %s\n", g.o.acked_path, strerror(errno));
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g.body = make_body(g.o.body_size, &g.seq_at);
    g.addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)g.o.port)};
    g.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.conns = fr_calloc((size_t)g.o.connections, sizeof(*g.conns));
    g.idle = fr_calloc((size_t)g.o.connections, sizeof(*g.idle));
    int up = 0;
    for (int i = 0; i < g.o.connections; i++) {
        g.conns[i].fd = -1;
        up += conn_open(&g, &g.conns[i]);
    }
    if (up == 0) {
        fprintf(stderr, "ferry-loadgen: cannot connect to 127.0.0.1:%d\n", g.o.port);
        return 1;
    }
    run(&g);
    report(&g);
    for (int i = 0; i < g.o.connections; i++) {
        conn_close(&g, &g.conns[i]);
        free(g.conns[i].out);
    }
    if (g.acked && fclose(g.acked) != 0) {
        fprintf(stderr, "ferry-loadgen: cannot write %s\n", g.o.acked_path);
        rc = 1;
    }
    close(g.ep);
    free(g.conns);
    free(g.idle);
    free(g.body);
    free(g.st.lat_ns);
    bool all_ok = g.st.ok == g.st.sent && g.st.errors == 0 && g.st.timeouts == 0;
    return rc ? rc : all_ok ? 0 : 1;
}
