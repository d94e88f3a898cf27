#include "core/common.h"
#include "mock/mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "mock/mock_int.h"

/* Order matters only for readability: matching is exact per method and path. */
static const struct fr__mock_route routes[] = {
    {"POST", "/oauth/token", "POST /oauth/token", fr__mock_handle_token, 0},
    {"POST", "/credits/batch", "POST /credits/batch", fr__mock_handle_batch,
     FR__MOCK_AUTH | FR__MOCK_FAULTS},
    {"POST", "/credits", "POST /credits", fr__mock_handle_post_credit,
     FR__MOCK_AUTH | FR__MOCK_FAULTS},
    {"GET", "/credits", "GET /credits", fr__mock_handle_get_credits,
     FR__MOCK_AUTH | FR__MOCK_FAULTS},
    {"DELETE", "/credits/{sourceRef}", "DELETE /credits/{sourceRef}", fr__mock_handle_delete_credit,
     FR__MOCK_AUTH | FR__MOCK_FAULTS},
    {"GET", "/participants", "GET /participants", fr__mock_handle_participants,
     FR__MOCK_AUTH | FR__MOCK_FAULTS},
    {"GET", "/mock/stats", "GET /mock/stats", fr__mock_handle_stats, 0},
    {"POST", "/mock/reset", "POST /mock/reset", fr__mock_handle_reset, 0},
    {"POST", "/mock/faults", "POST /mock/faults", fr__mock_handle_faults, 0},
    {"POST", "/mock/participants/touch", "POST /mock/participants/touch", fr__mock_handle_touch, 0},
};

/* Methods kept as they are in stats keys; any other is "OTHER" so keys stay bounded. */
static const char *const known_methods[] = {"GET",    "POST", "PUT",    "PATCH",
                                            "DELETE", "HEAD", "OPTIONS"};

static const char *stats_method(const char *method)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(known_methods); i++)
        if (strcmp(known_methods[i], method) == 0)
            return known_methods[i];
    return "OTHER";
}

/*
 * Matches a decoded path against a route path; *param receives the value of a
 * trailing "{...}", which may hold '/' (sourceRef "a/b" arrives as a%2Fb).
 */
static bool path_matches(const char *pattern, const char *path, const char **param)
{
    const char *brace = strchr(pattern, '{');
    if (!brace)
        return strcmp(pattern, path) == 0;
    size_t prefix = (size_t)(brace - pattern);
    if (strncmp(pattern, path, prefix) != 0 || path[prefix] == '\0')
        return false;
    *param = path + prefix;
    return true;
}

/* The route for method+path; *method_ok false when only the path is known (405). */
static const struct fr__mock_route *match_route(const char *method, const char *path,
                                                bool *method_ok, const char **param)
{
    const struct fr__mock_route *path_only = NULL;
    for (size_t i = 0; i < FR_ARRAY_LEN(routes); i++) {
        const char *p = NULL;
        if (!path_matches(routes[i].path, path, &p))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            *method_ok = true;
            *param = p;
            return &routes[i];
        }
        if (!path_only)
            path_only = &routes[i];
    }
    *method_ok = false;
    return path_only;
}

/* "GET, POST": the methods the route table has for path. */
static void allowed_methods(const char *path, char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < FR_ARRAY_LEN(routes) && off < outlen; i++) {
        const char *p;
        if (path_matches(routes[i].path, path, &p))
            off += (size_t)snprintf(out + off, outlen - off, "%s%s", off ? ", " : "",
                                    routes[i].method);
    }
}

void fr__mock_error(struct fr__mock_reply *out, unsigned status, const char *code,
                    const char *message)
{
    out->status = status;
    json_decref(out->body);
    out->body = json_pack("{s:s}", "error", code);
    if (message)
        json_object_set_new(out->body, "message", json_string(message));
}

/* Draws this request's faults at arrival, in the documented order (locked). */
static void draw_faults(struct fr_mock *m, struct fr__mock_req *rq)
{
    const struct fr_mock_faults *f = &m->faults;
    if (f->rate_limited) {
        rq->retry_after_s = fr__mock_rate_admit(&m->ratelog, &f->rate, rq->arrival_ms);
        if (rq->retry_after_s > 0) {
            fr__mock_count_fault(m, "rate");
            return;
        }
    }
    /* Every configured fault draws once, hit or not, so runs replay exactly. */
    rq->reset = f->reset > 0 && fr_rng_double(&m->rng) < f->reset;
    rq->error5xx = f->error5xx > 0 && fr_rng_double(&m->rng) < f->error5xx;
    rq->body_error = f->body_error > 0 && fr_rng_double(&m->rng) < f->body_error;
    rq->truncate = f->truncate > 0 && fr_rng_double(&m->rng) < f->truncate;
    rq->slow = f->slow > 0 && fr_rng_double(&m->rng) < f->slow;
    rq->slow_ms = rq->slow ? f->slow_ms : 0;
    rq->drop_after = f->drop_after > 0 && fr_rng_double(&m->rng) < f->drop_after;
    /* Not drawn. ">=": when request N was not faulted (a token, /mock/stats, a 429),
     * the next faulted one on the connection is dropped instead. */
    rq->drop_nth = f->drop_nth >= 2 && rq->conn_seq >= f->drop_nth;
    rq->echo_auth = f->echo_auth; /* not drawn */
    if (rq->error5xx) {
        static const unsigned statuses[] = {503, 503, 500, 502};
        rq->error_status = statuses[fr_rng_next(&m->rng) % FR_ARRAY_LEN(statuses)];
    }
}

/* What a connection keeps from one request to the next: its buffers, so they grow
 * once, and how many requests it carried, for drop_nth. */
struct conn_bufs {
    struct fr_buf body;
    struct fr_buf answer;
    uint64_t requests;
};

/* A buffer grown above this is freed rather than kept for the next request. */
#define CONN_BUF_KEEP (256u * 1024)

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct conn_bufs *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        c = fr_malloc(sizeof(*c));
        c->requests = 0;
        fr_buf_init(&c->body, FR__MOCK_BODY_MAX);
        fr_buf_init(&c->answer, 0);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && c) {
        fr_buf_release(&c->body);
        fr_buf_release(&c->answer);
        free(c);
        *socket_context = NULL;
    }
}

/* Empties b for the next request. */
static void recycle(struct fr_buf *b)
{
    if (b->cap > CONN_BUF_KEEP)
        fr_buf_release(b);
    else
        fr_buf_reset(b);
}

static struct fr__mock_req *req_new(struct fr_mock *m, struct MHD_Connection *conn,
                                    const char *method, const char *url)
{
    struct fr__mock_req *rq = fr_calloc(1, sizeof(*rq));
    rq->conn = conn;
    rq->method = method;
    rq->path = fr_strdup(url);
    rq->arrival_ms = fr_now_ms();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_bufs *c = ci ? ci->socket_context : NULL;
    FR_ASSERT(c);
    rq->body = &c->body;
    rq->answer = &c->answer;
    rq->conn_seq = ++c->requests;
    recycle(rq->body);
    recycle(rq->answer);
    rq->route = match_route(method, rq->path, &rq->method_ok, &rq->param);
    pthread_mutex_lock(&m->lock);
    snprintf(rq->request_id, sizeof(rq->request_id), "mock-%06llu",
             (unsigned long long)++m->next_request_id);
    if (rq->route && rq->method_ok && (rq->route->flags & FR__MOCK_FAULTS))
        draw_faults(m, rq);
    pthread_mutex_unlock(&m->lock);
    return rq;
}

static void req_free(struct fr__mock_req *rq)
{
    if (!rq)
        return;
    free(rq->path);
    free(rq);
}

/* The body sent when a truncate fault hits: Content-Length says len, half is sent. */
struct truncated {
    char *data;
    size_t cut;
};

static ssize_t truncated_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct truncated *t = cls;
    if (pos >= t->cut)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = FR_MIN(max, t->cut - (size_t)pos);
    memcpy(buf, t->data + pos, n);
    return (ssize_t)n;
}

static void truncated_free(void *cls)
{
    struct truncated *t = cls;
    free(t->data);
    free(t);
}

/* A response taking text (len bytes, malloc'd; NULL for no body). */
static struct MHD_Response *make_response(struct fr__mock_req *rq, char *text, size_t len,
                                          bool *truncated)
{
    *truncated = rq->truncate && len >= 2;
    if (*truncated) {
        struct truncated *t = fr_malloc(sizeof(*t));
        t->data = text;
        t->cut = len / 2;
        return MHD_create_response_from_callback(len, 4096, truncated_read, t, truncated_free);
    }
    if (!text)
        return MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    return MHD_create_response_from_buffer_with_free_callback(len, text, free);
}

/* Sleeps for a slow fault, waking early when the server stops. */
static void slow_sleep(struct fr_mock *m, int64_t ms)
{
    int64_t until = fr_now_ms() + ms;
    while (!atomic_load(&m->stopping) && fr_now_ms() < until)
        fr_sleep_ms(FR_MIN(50, until - fr_now_ms()));
}

static enum MHD_Result send_reply(struct fr_mock *m, struct fr__mock_req *rq, const char *key,
                                  struct fr__mock_reply *out)
{
    char *text = NULL;
    size_t len = 0;
    if (out->text) {
        /* A copy, so that the connection keeps its grown buffer for the next answer. */
        len = rq->answer->len;
        text = fr_malloc(len + 1);
        memcpy(text, fr_buf_str(rq->answer), len + 1);
    } else if (out->body) {
        text = json_dumps(out->body, JSON_COMPACT);
        len = text ? strlen(text) : 0;
    }
    json_decref(out->body);
    out->body = NULL;
    bool truncated;
    struct MHD_Response *resp = make_response(rq, text, len, &truncated);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, "X-Request-Id", rq->request_id);
    if (out->header_name)
        MHD_add_response_header(resp, out->header_name, out->header_value);

    char status[16];
    snprintf(status, sizeof(status), "%u", out->status);
    pthread_mutex_lock(&m->lock);
    fr__mock_count_request(m, key, status);
    if (truncated)
        fr__mock_count_fault(m, "truncate");
    pthread_mutex_unlock(&m->lock);

    FR_LOG_DEBUG("request", FR_LS("request_id", rq->request_id), FR_LS("route", key),
                 FR_LI("status", out->status), FR_LI("ms", fr_now_ms() - rq->arrival_ms));
    enum MHD_Result rc = MHD_queue_response(rq->conn, out->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static void count_and_note(struct fr_mock *m, const char *key, const char *status,
                           const char *fault)
{
    pthread_mutex_lock(&m->lock);
    if (key)
        fr__mock_count_request(m, key, status);
    if (fault)
        fr__mock_count_fault(m, fault);
    pthread_mutex_unlock(&m->lock);
}

/* Everything before the handler: routing errors, size cap, faults, auth. */
static bool preempt(struct fr_mock *m, struct fr__mock_req *rq, struct fr__mock_reply *out)
{
    if (!rq->route) {
        fr__mock_error(out, 404, "not_found", "no such route");
    } else if (!rq->method_ok) {
        fr__mock_error(out, 405, "method_not_allowed", "method not allowed on this path");
        out->header_name = "Allow";
        allowed_methods(rq->path, out->header_value, sizeof(out->header_value));
    } else if (rq->retry_after_s > 0) {
        fr__mock_error(out, 429, "rate_limited", NULL);
        out->header_name = "Retry-After";
        snprintf(out->header_value, sizeof(out->header_value), "%lld",
                 (long long)rq->retry_after_s);
    } else if (rq->too_big) {
        fr__mock_error(out, 413, "payload_too_large", "request body over 8 MB");
    } else if (rq->error5xx) {
        fr__mock_error(out, rq->error_status, "server_error", "simulated server error");
        count_and_note(m, NULL, NULL, "error5xx");
    } else if ((rq->route->flags & FR__MOCK_AUTH) && !fr__mock_token_ok(m, rq)) {
        fr__mock_error(out, 401, "invalid_token", NULL);
        out->header_name = "WWW-Authenticate";
        fr_strlcpy(out->header_value, "Bearer error=\"invalid_token\"", sizeof(out->header_value));
    } else if (rq->body_error) {
        out->status = 200;
        out->body = json_pack("{s:b,s:s}", "success", 0, "error", "simulated backend failure");
        count_and_note(m, NULL, NULL, "body_error");
    } else {
        return false;
    }
    return true;
}

static enum MHD_Result finish(struct fr_mock *m, struct fr__mock_req *rq)
{
    char key[96];
    if (rq->route)
        snprintf(key, sizeof(key), "%s %s", stats_method(rq->method), rq->route->path);
    else
        snprintf(key, sizeof(key), "%s (unmatched)", stats_method(rq->method));
    if (rq->reset) {
        /* Before the handler: nothing is stored. MHD_NO closes without a byte of answer. */
        count_and_note(m, key, "reset", "reset");
        return MHD_NO;
    }
    struct fr__mock_reply out = {0};
    if (!preempt(m, rq, &out))
        rq->route->fn(m, rq, &out);
    /* The handler has acted (stored, deleted); the faults below only spoil the answer,
     * so a client that gives up or gets nothing cannot tell whether it was acted on. */
    if (rq->slow) {
        count_and_note(m, NULL, NULL, "slow");
        slow_sleep(m, rq->slow_ms);
    }
    if (rq->drop_after || rq->drop_nth) {
        const char *fault = rq->drop_after ? "drop_after" : "drop_nth";
        json_decref(out.body);
        count_and_note(m, key, fault, fault);
        FR_LOG_DEBUG("request", FR_LS("request_id", rq->request_id), FR_LS("route", key),
                     FR_LS("status", fault), FR_LI("ms", fr_now_ms() - rq->arrival_ms));
        return MHD_NO;
    }
    return send_reply(m, rq, key, &out);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fr_mock *m = cls;
    struct fr__mock_req *rq = *con_cls;
    if (!rq) {
        *con_cls = req_new(m, conn, method, url ? url : "");
        return MHD_YES;
    }
    rq->conn = conn;
    if (*upload_data_size > 0) {
        if (!rq->too_big && fr_buf_add(rq->body, upload_data, *upload_data_size) != 0) {
            rq->too_big = true;
            fr_buf_release(rq->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return finish(m, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_free(*con_cls);
    *con_cls = NULL;
}

/* Parses "IPv4:PORT" or "[IPv6]:PORT"; host receives the IP as written. */
static struct fr_mock *mock_new(const struct fr_mock_opts *opts, const char *host)
{
    struct fr_mock *m = fr_calloc(1, sizeof(*m));
    bool wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    bool v6 = strchr(host, ':') != NULL;
    if (wildcard)
        fr_strlcpy(m->host, "127.0.0.1", sizeof(m->host));
    else
        snprintf(m->host, sizeof(m->host), v6 ? "[%s]" : "%s", host);
    m->client_id = fr_strdup(opts->client_id ? opts->client_id : FR_MOCK_DEFAULT_CLIENT_ID);
    m->client_secret =
        fr_strdup(opts->client_secret ? opts->client_secret : FR_MOCK_DEFAULT_CLIENT_SECRET);
    m->participants = opts->participants ? opts->participants : FR_MOCK_DEFAULT_PARTICIPANTS;
    m->faults = opts->faults;
    if (opts->seeded) {
        m->seed = opts->seed;
    } else {
        struct fr_rng r;
        fr_rng_seed_random(&r);
        m->seed = fr_rng_next(&r);
    }
    fr_rng_seed(&m->rng, m->seed);
    m->started_ms = fr_now_ms();
    pthread_mutex_init(&m->lock, NULL);
    fr__mock_stats_init(m);
    fr__mock_participants_init(m);
    return m;
}

static void mock_free(struct fr_mock *m)
{
    fr__mock_stats_release(m);
    fr__mock_participants_release(m);
    fr__mock_ratelog_release(&m->ratelog);
    pthread_mutex_destroy(&m->lock);
    free(m->client_id);
    free(m->client_secret);
    free(m);
}

int fr_mock_start(const struct fr_mock_opts *opts, struct fr_mock **out, struct fr_err *err)
{
    *out = NULL;
    const char *addr = opts->listen ? opts->listen : FR_MOCK_DEFAULT_LISTEN;
    if (opts->participants > FR_MOCK_MAX_PARTICIPANTS)
        return fr_err_set(err, FR_EINVAL, 0, "participants: at most %d", FR_MOCK_MAX_PARTICIPANTS);
    char host[64];
    int fd = -1, port = 0;
    bool v6 = false;
    int rc = fr_net_listen(addr, host, sizeof(host), &fd, &port, &v6, err);
    if (rc)
        return rc;
    struct fr_mock *m = mock_new(opts, host);
    m->port = port;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC;
    if (v6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, m, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, m, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        m, MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!m->daemon) {
        close(fd);
        mock_free(m);
        return fr_err_set(err, FR_EINTERNAL, 0, "libmicrohttpd could not start on %s", addr);
    }
    *out = m;
    return 0;
}

const char *fr_mock_host(const struct fr_mock *m)
{
    return m->host;
}

int fr_mock_port(const struct fr_mock *m)
{
    return m->port;
}

uint64_t fr_mock_seed(const struct fr_mock *m)
{
    return m->seed;
}

void fr_mock_stop(struct fr_mock *m)
{
    if (!m)
        return;
    atomic_store(&m->stopping, 1);
    MHD_stop_daemon(m->daemon);
    mock_free(m);
}
