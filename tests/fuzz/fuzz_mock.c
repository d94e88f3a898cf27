/*
 * The mock's request handling (src/mock): routing, the token form, credit
 * bodies (single and batch), the $filter, $top and $skip of the listings.
 * An in-process mock (no faults) listens on 127.0.0.1; the input is one
 * request as text: "METHOD TARGET", header lines, an empty line, the body.
 * The target adds Host, Content-Length, Connection: close and a live
 * bearer token (unless the input brings its own Authorization), so that
 * the fuzzer reaches the handlers rather than the 401.
 * Properties: every request gets a complete HTTP answer within 5 s, and
 * never a 5xx (with no faults on, a 5xx is the mock failing).
 * An input may switch faults on through POST /mock/faults (also spelled
 * /mock/%66aults): they are switched off again after every input, or a
 * slow=1:6s would fail the next input, which is innocent.
 */
#include "core/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/error.h"
#include "mock/mock.h"
#include "fuzz_util.h"

#define ANSWER_MAX   (4u * 1024 * 1024)
#define RESET_EVERY  2000 /* inputs between two POST /mock/reset: the store stays small */
#define TIMEOUT_SECS 5

static struct fr_mock *mock;
static struct fr_mock_faults no_faults;
static char token[128];
static unsigned long inputs;

/* Why the last exchange failed, for the report ("" after one that did not). */
static char exchange_error[128];

/* Waits for an interrupted connect on fd to end; 0 or the errno it ended with. */
static int finish_connect(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n;
    do
        n = poll(&p, 1, TIMEOUT_SECS * 1000);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? ETIMEDOUT : errno;
    int e = 0;
    socklen_t len = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
        return errno;
    return e;
}

/* A socket connected to the mock. A loopback connect fails at once only when
 * this machine is out of local ports (connections of earlier tests waiting
 * out TIME_WAIT): that is retried for up to 5 s, as it is not the mock's. */
static int connect_mock(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)fr_mock_port(mock))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int attempt = 0;; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        FUZZ_CHECK(fd >= 0);
        struct timeval tv = {.tv_sec = TIMEOUT_SECS};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        int e = errno;
        /* libFuzzer's timer signal can interrupt it; the connect goes on. */
        if (e == EINTR)
            e = finish_connect(fd);
        if (e == 0)
            return fd;
        close(fd);
        if (e != EADDRNOTAVAIL || attempt == 500) {
            snprintf(exchange_error, sizeof(exchange_error), "connect: %s", strerror(e));
            return -1;
        }
        usleep(10000);
    }
}

/* Sends req (len bytes) and reads the answer to EOF into ans; false on timeout or error. */
static bool exchange(const char *req, size_t len, struct fr_buf *ans)
{
    exchange_error[0] = '\0';
    int fd = connect_mock();
    if (fd < 0)
        return false;
    bool ok = true;
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        /* The mock may answer (413, 404) and close before reading all of a body. */
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    char chunk[16384];
    while (ok) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            snprintf(exchange_error, sizeof(exchange_error), "no answer within %d s", TIMEOUT_SECS);
            ok = false;
        }
        if (n <= 0)
            break;
        if (fr_buf_add(ans, chunk, (size_t)n) != 0) {
            snprintf(exchange_error, sizeof(exchange_error), "answer over %u bytes", ANSWER_MAX);
            ok = false;
        }
    }
    close(fd);
    return ok;
}

/* The status of an answer ("HTTP/1.1 201 Created"), skipping 100 Continue; 0 when none. */
static int status_of(const char *ans)
{
    for (;;) {
        if (strncmp(ans, "HTTP/1.1 ", 9) != 0 && strncmp(ans, "HTTP/1.0 ", 9) != 0)
            return 0;
        char *end;
        long status = strtol(ans + 9, &end, 10);
        if (end != ans + 12)
            return 0;
        if (status != 100)
            return (int)status;
        const char *blank = strstr(ans, "\r\n\r\n");
        if (!blank)
            return 0;
        ans = blank + 4;
    }
}

/* Headers the target sets itself, so that every request is framed the same way. */
static const char *const framing[] = {"content-length", "transfer-encoding", "connection", "host",
                                      "expect"};

static bool framing_header(const char *line, size_t namelen)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(framing); i++)
        if (strlen(framing[i]) == namelen && strncasecmp(line, framing[i], namelen) == 0)
            return true;
    return false;
}

/*
 * Builds the request from the input into req; false when the input is not
 * one request (a request line without a method and a target, a header line
 * without a name, CR or NUL in the head).
 */
static bool build_request(const uint8_t *data, size_t size, struct fr_buf *req)
{
    const uint8_t *head, *body;
    size_t headlen, bodylen;
    fuzz_split(data, size, "\n\n", &head, &headlen, &body, &bodylen);
    if (memchr(head, '\r', headlen) || memchr(head, '\0', headlen))
        return false;
    char *text = fuzz_cstr(head, headlen);
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    /* "METHOD TARGET": a method of letters, a target without spaces. */
    char *sp = strchr(text, ' ');
    bool ok = sp && sp > text && sp[1] && !strchr(sp + 1, ' ') && !strchr(sp + 1, '\t');
    for (const char *c = text; ok && c < sp; c++)
        ok = *c >= 'A' && *c <= 'Z';
    bool own_auth = false;
    if (ok) {
        fr_buf_addf(req, "%s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n", text);
        for (char *line = nl ? nl + 1 : NULL; ok && line && *line;) {
            char *next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            size_t namelen = strcspn(line, ":");
            ok = namelen > 0 && line[namelen] == ':' && strcspn(line, " \t") > namelen;
            if (ok && !framing_header(line, namelen)) {
                own_auth |= namelen == 13 && strncasecmp(line, "authorization", 13) == 0;
                fr_buf_addf(req, "%s\r\n", line);
            }
            line = next;
        }
    }
    if (ok) {
        if (!own_auth)
            fr_buf_addf(req, "Authorization: Bearer %s\r\n", token);
        fr_buf_addf(req, "Content-Length: %zu\r\n\r\n", bodylen);
        fr_buf_add(req, body, bodylen);
    }
    free(text);
    return ok;
}

/* One request from text (a seed-like literal); returns the answer's body, caller frees. */
static char *request(const char *text, int *status)
{
    struct fr_buf req = FR_BUF_INIT, ans = FR_BUF_INIT;
    FUZZ_CHECK(build_request((const uint8_t *)text, strlen(text), &req));
    FUZZ_CHECK(exchange(req.data, req.len, &ans));
    *status = status_of(fr_buf_str(&ans));
    const char *blank = strstr(fr_buf_str(&ans), "\r\n\r\n");
    char *body = fr_strdup(blank ? blank + 4 : "");
    fr_buf_release(&req);
    fr_buf_release(&ans);
    return body;
}

static void fetch_token(void)
{
    int status = 0;
    char *body = request("POST /oauth/token\nAuthorization: none\n"
                         "Content-Type: application/x-www-form-urlencoded\n\n"
                         "grant_type=client_credentials&client_id=demo&client_secret=demo-secret",
                         &status);
    json_t *j = json_loads(body, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "access_token"));
    if (status != 200 || !t || strlen(t) >= sizeof(token)) {
        fprintf(stderr, "fuzz_mock: no token from the mock (status %d)\n", status);
        abort();
    }
    fr_strlcpy(token, t, sizeof(token));
    json_decref(j);
    free(body);
}

static void stop_mock(void)
{
    fr_mock_stop(mock);
    mock = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_quiet_logs();
    struct fr_mock_opts opts = {.listen = "127.0.0.1:0", .seeded = true, .seed = 1};
    fr_mock_faults_init(&no_faults);
    opts.faults = no_faults;
    struct fr_err err = {0};
    if (fr_mock_start(&opts, &mock, &err) != 0) {
        fprintf(stderr, "fuzz_mock: cannot start the mock: %s\n", err.msg);
        abort();
    }
    atexit(stop_mock);
    fetch_token();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return -1;
    struct fr_buf req = FR_BUF_INIT;
    if (!build_request(data, size, &req)) {
        fr_buf_release(&req);
        return -1;
    }
    struct fr_buf ans;
    fr_buf_init(&ans, ANSWER_MAX);
    bool answered = exchange(req.data, req.len, &ans);
    int status = status_of(fr_buf_str(&ans));
    if (!answered || status < 100 || status >= 500)
        fprintf(stderr, "fuzz_mock: request:\n%s\nanswer (%zu bytes%s%s):\n%.2000s\n",
                fr_buf_str(&req), ans.len, exchange_error[0] ? ", " : "", exchange_error,
                fr_buf_str(&ans));
    FUZZ_CHECK(answered);
    FUZZ_CHECK(status >= 100 && status < 500);
    fr_buf_release(&req);
    fr_buf_release(&ans);
    fr_mock_set_faults(mock, &no_faults);

    if (++inputs % RESET_EVERY == 0) {
        int st = 0;
        free(request("POST /mock/reset\n\n", &st));
        FUZZ_CHECK(st >= 200 && st < 300);
        /* A reset forgets the tokens too. */
        fetch_token();
    }
    return 0;
}
