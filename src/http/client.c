#include "core/common.h"
#include "http/client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "http/auth.h"
#include "http/breaker.h"
#include "http/ratelimit.h"
#include "http/retry.h"
#include "core/observer.h"
#include "http/http_conf.h"

/* The first bytes of a failed response quoted in an error message. */
#define ERR_BODY_EXCERPT 200

/*
 * A request of a target, a target's token fetch, or a one-shot POST outside
 * any target (fr_http_post_once).
 */
enum xfer_kind { XFER_REQUEST, XFER_TOKEN, XFER_ONCE };

struct xfer {
    struct xfer *next; /* in the target's pending list, or the client's active list */
    struct xfer *prev; /* in the client's active list */
    struct fr_http_client *client;
    struct fr_http_target *t; /* NULL for XFER_ONCE */
    enum xfer_kind kind;
    char *method;
    char *url;
    char *log_path; /* path and query for logs, secrets redacted */
    char *body;
    size_t body_len;
    char *content_type;
    const struct fr_body_rule *rules;
    size_t nrules;
    fr_http_done_fn done;
    void *ud;
    bool safe;          /* GET or HEAD: acting twice changes nothing, so never in doubt */
    bool resolve_doubt; /* the caller resolves in-doubt outcomes: never resend them */
    bool maybe_acted;   /* some attempt may have been acted on */

    int attempts;          /* attempts sent so far */
    int64_t first_sent_ms; /* 0 until the first send */
    int64_t ready_at_ms;   /* not to be sent before */
    int64_t sent_at_ms;
    int64_t sent_at_us; /* monotonic, for the latency histogram */
    bool auth_retried;
    uint64_t token_generation;

    CURL *easy;
    struct curl_slist *headers;
    struct fr_buf resp;
    bool too_big;
    long status;
    char retry_after[64];
    char request_id[128];
    char resp_type[128];
    struct fr_buf link;  /* Link header fields, joined by ", " */
    int sends;           /* times libcurl started sending this attempt (a re-send: 2) */
    bool resend_refused; /* libcurl wanted to send the request again; we said no */
    long request_size;   /* request bytes written by this attempt */
    char errbuf[CURL_ERROR_SIZE];

    /* XFER_ONCE only */
    size_t keep;            /* answer bytes kept in resp; the rest is read and dropped */
    const atomic_int *stop; /* ends the transfer when non-zero */
    bool completed;         /* libcurl finished it; once_rc says how */
    CURLcode once_rc;
};

struct fr_http_target {
    struct fr_http_client *client;
    struct fr_http_target *next;
    struct fr_target_conf conf;
    char *auth_header; /* "Name: value" for api_key and bearer; a secret */
    char *secrets[3];  /* the auth secrets of conf, registered while the target lives */
    struct fr_ratelimit limiter;
    struct fr_breaker breaker;
    struct fr_budget budget;
    struct fr_token_cache token;
    struct xfer *pending_head, *pending_tail;
    size_t active;
    struct xfer *token_xfer; /* the running or scheduled token fetch */
    bool force_token;        /* fetch a token even with nothing pending */
    struct fr_err token_err; /* why the last token fetch failed */
    bool token_settled;      /* the last forced fetch finished (either way) */
    struct fr_rng rng;
    struct fr_http_stats stats;
    bool warned_blind_resend;
    uint64_t token_worked; /* the newest token generation a request succeeded with */
};

struct fr_http_client {
    CURLM *multi;
    struct fr_http_target *targets;
    size_t pending;                     /* submitted, not yet final */
    struct xfer *active_head;           /* transfers in the multi handle */
    const struct fr_observer *observer; /* the targets' metrics; NULL: none */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int fr_http_init(struct fr_err *err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return fr_err_set(err, FR_EHTTP, curl_init_rc, "libcurl failed to initialise: %s",
                          curl_easy_strerror(curl_init_rc));
    return 0;
}

const char *fr_http_lib_version(void)
{
    return curl_version_info(CURLVERSION_NOW)->version;
}

void fr_http_result_release(struct fr_http_result *res)
{
    free(res->body);
    free(res->link);
    json_decref(res->json);
    res->body = NULL;
    res->link = NULL;
    res->json = NULL;
}

void fr_http_client_set_observer(struct fr_http_client *c, const struct fr_observer *o)
{
    c->observer = o;
}

int fr_http_client_new(struct fr_http_client **out, struct fr_err *err)
{
    int rc = fr_http_init(err);
    if (rc)
        return rc;
    struct fr_http_client *c = fr_calloc(1, sizeof(*c));
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        return fr_err_set(err, FR_EHTTP, 0, "libcurl: cannot create a multi handle");
    }
    *out = c;
    return 0;
}

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    if (x->easy) {
        curl_multi_remove_handle(x->client->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->headers);
    fr_buf_release(&x->resp);
    fr_buf_release(&x->link);
    free(x->method);
    free(x->url);
    free(x->log_path);
    free(x->body);
    free(x->content_type);
    free(x);
}

void fr_http_client_free(struct fr_http_client *c)
{
    if (!c)
        return;
    for (struct fr_http_target *t = c->targets; t; t = t->next) {
        for (struct xfer *x = t->pending_head, *n; x; x = n) {
            n = x->next;
            xfer_free(x);
        }
        if (t->token_xfer && !t->token_xfer->easy) /* scheduled, not on the wire */
            xfer_free(t->token_xfer);
    }
    while (c->active_head) {
        struct xfer *x = c->active_head;
        c->active_head = x->next;
        xfer_free(x);
    }
    for (struct fr_http_target *t = c->targets, *n; t; t = n) {
        n = t->next;
        fr_token_cache_release(&t->token);
        if (t->auth_header) {
            fr_redact_remove_secret(t->auth_header);
            free(t->auth_header);
        }
        for (size_t i = 0; i < FR_ARRAY_LEN(t->secrets); i++) {
            if (t->secrets[i]) {
                fr_redact_remove_secret(t->secrets[i]);
                explicit_bzero(t->secrets[i], strlen(t->secrets[i]));
                free(t->secrets[i]);
            }
        }
        free(t);
    }
    curl_multi_cleanup(c->multi);
    free(c);
}

int fr_http_target_new(struct fr_http_client *c, const struct fr_target_conf *conf,
                       struct fr_http_target **out, struct fr_err *err)
{
    if (!conf->base_url || strncmp(conf->base_url, "http", 4) != 0)
        return fr_err_set(err, FR_EINVAL, 0, "target %s: base_url must be an http(s) URL",
                          conf->name ? conf->name : "?");
    if (conf->missing_secret) /* the config message: the variable's name and where, no value */
        return fr_err_set(err, FR_ECONFIG, 0, "%s", conf->missing_secret);
    struct fr_http_target *t = fr_calloc(1, sizeof(*t));
    t->client = c;
    t->conf = *conf;
    fr_ratelimit_init(&t->limiter, &conf->rate_limit);
    fr_breaker_init(&t->breaker, FR_BREAKER_DEFAULT_THRESHOLD, FR_BREAKER_DEFAULT_OPEN_MS,
                    FR_BREAKER_DEFAULT_MAX_OPEN_MS);
    fr_budget_init(&t->budget, conf->retry.budget);
    fr_token_cache_init(&t->token, conf->auth.refresh_before_ms);
    fr_rng_seed_random(&t->rng);
    if (conf->auth.type == FR_AUTH_API_KEY)
        t->auth_header = fr_asprintf("%s: %s", conf->auth.header ? conf->auth.header : "X-API-Key",
                                     conf->auth.value ? conf->auth.value : "");
    else if (conf->auth.type == FR_AUTH_BEARER)
        t->auth_header =
            fr_asprintf("Authorization: Bearer %s", conf->auth.token ? conf->auth.token : "");
    if (t->auth_header)
        fr_redact_add_secret(t->auth_header);
    /* Registered by the config loader too; here also for a conf built by hand. Copies: conf's
     * strings may go before the target does. */
    const char *const secrets[] = {conf->auth.client_secret, conf->auth.value, conf->auth.token};
    for (size_t i = 0; i < FR_ARRAY_LEN(secrets); i++) {
        if (secrets[i] && *secrets[i]) {
            t->secrets[i] = fr_strdup(secrets[i]);
            fr_redact_add_secret(t->secrets[i]);
        }
    }
    if (conf->insecure_skip_verify)
        FR_LOG_WARN("TLS certificate verification is OFF for this target: anyone on the network "
                    "path can read and change its traffic",
                    FR_LS("target", conf->name));
    t->next = c->targets;
    c->targets = t;
    *out = t;
    return 0;
}

const struct fr_http_stats *fr_http_target_stats(const struct fr_http_target *t)
{
    return &t->stats;
}

const struct fr_target_conf *fr_http_target_conf(const struct fr_http_target *t)
{
    return &t->conf;
}

size_t fr_http_pending(const struct fr_http_client *c)
{
    return c->pending;
}

/* ---- building requests ---------------------------------------------------------------- */

char *fr_http_escape(const char *s)
{
    char *enc = curl_easy_escape(NULL, s, 0);
    if (!enc)
        fr_die(__FILE__, __LINE__, "curl_easy_escape failed");
    char *out = fr_strdup(enc);
    curl_free(enc);
    return out;
}

/*
 * Percent-encodes the bytes that may not appear raw in a URL (spaces,
 * quotes, brackets, controls, non-ASCII) so templates such as
 * "$filter=sourceRef eq 'A1'" can be written as people read them.
 */
static char *encode_unsafe(const char *url)
{
    static const char unsafe[] = " \"'<>`{}|\\^";
    struct fr_buf b = FR_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || strchr(unsafe, *p))
            fr_buf_addf(&b, "%%%02X", *p);
        else
            fr_buf_addc(&b, (char)*p);
    }
    return fr_buf_detach(&b, NULL);
}

static bool is_absolute_url(const char *p)
{
    return strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0;
}

static char *build_url(const struct fr_target_conf *conf, const char *path)
{
    char *raw;
    if (is_absolute_url(path))
        raw = fr_strdup(path);
    else if (conf->api_version_path && *conf->api_version_path)
        raw = fr_asprintf("%s/%s%s", conf->base_url, conf->api_version_path, path);
    else
        raw = fr_asprintf("%s%s", conf->base_url, path);
    char *url = encode_unsafe(raw);
    free(raw);
    return url;
}

/* The path and query of a URL, for logs and errors; a secret URL as scheme://host/[REDACTED]. */
static char *log_path_of(const struct fr_target_conf *conf, const char *url)
{
    if (conf->secret_url)
        return fr_redact_url_path(url);
    const char *p = url;
    if (is_absolute_url(url)) {
        p = strstr(url, "://") + 3;
        p = strchr(p, '/');
        if (!p)
            p = "/";
    }
    return fr_redact_str(p);
}

static void enqueue(struct fr_http_target *t, struct xfer *x)
{
    x->next = NULL;
    if (t->pending_tail)
        t->pending_tail->next = x;
    else
        t->pending_head = x;
    t->pending_tail = x;
}

/*
 * Puts x first in line: a request answered 401 goes out again as soon as
 * the new token is there, not behind everything queued since, so the new
 * token is still fresh when it is used (a token revoked again while the
 * request waited would look like credentials the API refuses).
 */
static void enqueue_first(struct fr_http_target *t, struct xfer *x)
{
    x->next = t->pending_head;
    t->pending_head = x;
    if (!t->pending_tail)
        t->pending_tail = x;
}

static void unlink_pending(struct fr_http_target *t, struct xfer *x, struct xfer *prev)
{
    if (prev)
        prev->next = x->next;
    else
        t->pending_head = x->next;
    if (t->pending_tail == x)
        t->pending_tail = prev;
    x->next = NULL;
}

int fr_http_submit(struct fr_http_target *t, const struct fr_http_request *req,
                   fr_http_done_fn done, void *ud)
{
    if (!req->method || !*req->method || !req->path ||
        (req->path[0] != '/' && !is_absolute_url(req->path)))
        return FR_EINVAL;
    struct xfer *x = fr_calloc(1, sizeof(*x));
    x->client = t->client;
    x->t = t;
    x->kind = XFER_REQUEST;
    x->method = fr_strdup(req->method);
    x->url = build_url(&t->conf, req->path);
    x->log_path = log_path_of(&t->conf, x->url);
    if (req->body) {
        x->body = fr_malloc(req->body_len + 1);
        memcpy(x->body, req->body, req->body_len);
        x->body[req->body_len] = '\0';
        x->body_len = req->body_len;
        x->content_type = fr_strdup(req->content_type ? req->content_type : "application/json");
    }
    x->rules = req->body_rules;
    x->nrules = req->nbody_rules;
    x->safe = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    x->resolve_doubt = req->resolve_doubt && !x->safe;
    x->done = done;
    x->ud = ud;
    fr_buf_init(&x->resp, FR_HTTP_MAX_BODY);
    fr_buf_init(&x->link, FR_HTTP_MAX_LINK);
    enqueue(t, x);
    t->client->pending++;
    return 0;
}

/* ---- libcurl callbacks -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (x->kind == XFER_ONCE) {
        if (x->resp.len < x->keep)
            fr_buf_add(&x->resp, data, FR_MIN(n, x->keep - x->resp.len));
        return n;
    }
    if (fr_buf_add(&x->resp, data, n)) {
        x->too_big = true;
        return 0; /* aborts the transfer */
    }
    return n;
}

static void copy_header_value(char *dst, size_t dstlen, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    size_t c = FR_MIN(len, dstlen - 1);
    memcpy(dst, v, c);
    dst[c] = '\0';
}

/* Appends one Link header field's value to x->link; what passes the cap is dropped. */
static void add_link(struct xfer *x, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (!len)
        return;
    if (x->link.len && fr_buf_add(&x->link, ", ", 2))
        return;
    size_t room = FR_HTTP_MAX_LINK - x->link.len;
    fr_buf_add(&x->link, v, FR_MIN(len, room));
}

static const char *const request_id_headers[] = {"x-request-id", "request-id", "x-correlation-id",
                                                 "x-vcap-request-id"};

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, say): forget the previous one's headers. */
        x->retry_after[0] = x->request_id[0] = x->resp_type[0] = '\0';
        fr_buf_reset(&x->link);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - nlen - 1;
    if (nlen == 11 && strncasecmp(data, "retry-after", 11) == 0)
        copy_header_value(x->retry_after, sizeof(x->retry_after), v, vlen);
    else if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0)
        copy_header_value(x->resp_type, sizeof(x->resp_type), v, vlen);
    else if (nlen == 4 && strncasecmp(data, "link", 4) == 0)
        add_link(x, v, vlen);
    else {
        for (size_t i = 0; i < FR_ARRAY_LEN(request_id_headers); i++) {
            if (strlen(request_id_headers[i]) == nlen &&
                strncasecmp(data, request_id_headers[i], nlen) == 0 && !x->request_id[0])
                copy_header_value(x->request_id, sizeof(x->request_id), v, vlen);
        }
    }
    return n;
}

/*
 * Called by libcurl right before it sends the request on a connection. A
 * second call for one attempt is libcurl re-sending the request by itself:
 * a reused connection died before any answer came (lib/transfer.c,
 * Curl_retry_request), and the request may have been written and acted
 * on. For a caller that resolves doubt the re-send is refused (the
 * attempt ends in doubt); otherwise it goes ahead, counted as a retry in
 * doubt. Token requests are left alone: fetching a token twice is harmless.
 */
static int on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    struct xfer *x = ud;
    if (x->sends++ == 0 || x->kind != XFER_REQUEST || x->safe)
        return CURL_PREREQFUNC_OK;
    struct fr_http_target *t = x->t;
    if (x->resolve_doubt) {
        x->resend_refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    x->maybe_acted = true;
    t->stats.retries++;
    t->stats.in_doubt++;
    t->stats.in_doubt_resent++;
    FR_LOG_WARN("libcurl re-sends a request whose connection died before an answer came; "
                "counted as a retry in doubt",
                FR_LS("target", t->conf.name), FR_LS("method", x->method),
                FR_LS("path", x->log_path));
    return CURL_PREREQFUNC_OK;
}

/* ---- sending -------------------------------------------------------------------------- */

static void add_header(struct xfer *x, const char *line)
{
    struct curl_slist *l = curl_slist_append(x->headers, line);
    if (!l)
        fr_die(__FILE__, __LINE__, "curl_slist_append failed");
    x->headers = l;
}

/*
 * A new easy handle for x's next attempt, with what every transfer shares:
 * its URL, no signals, http(s) only, no redirects, our user agent, its
 * timeouts, the answer's callbacks and TLS verification.
 */
static CURL *easy_new(struct xfer *x, int64_t connect_timeout_ms, int64_t total_timeout_ms,
                      bool verify_tls)
{
    if (x->easy) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    fr_buf_reset(&x->resp);
    fr_buf_reset(&x->link);
    x->too_big = false;
    x->status = 0;
    x->sends = 0;
    x->resend_refused = false;
    x->request_size = 0;
    x->retry_after[0] = x->request_id[0] = x->resp_type[0] = x->errbuf[0] = '\0';

    CURL *e = curl_easy_init();
    if (!e)
        fr_die(__FILE__, __LINE__, "curl_easy_init failed");
    x->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify_tls ? 2L : 0L);
    return e;
}

/* Puts x's easy handle on the wire: into the client's active list and its multi handle. */
static void activate(struct xfer *x)
{
    struct fr_http_client *c = x->client;
    x->prev = NULL;
    x->next = c->active_head;
    if (c->active_head)
        c->active_head->prev = x;
    c->active_head = x;
    CURLMcode mrc = curl_multi_add_handle(c->multi, x->easy);
    if (mrc != CURLM_OK)
        fr_die(__FILE__, __LINE__, "curl_multi_add_handle failed");
}

static void start_xfer(struct xfer *x, int64_t now_ms)
{
    struct fr_http_target *t = x->t;
    const struct fr_target_conf *conf = &t->conf;
    CURL *e =
        easy_new(x, conf->connect_timeout_ms, conf->total_timeout_ms, !conf->insecure_skip_verify);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, x);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (strcmp(x->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(x->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
        if (x->body || strcmp(x->method, "POST") == 0 || strcmp(x->method, "PUT") == 0 ||
            strcmp(x->method, "PATCH") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
        }
    }
    add_header(x, "Accept: application/json");
    add_header(x, "Expect:"); /* no 100-continue round trip */
    if (x->content_type) {
        char line[256];
        snprintf(line, sizeof(line), "Content-Type: %s", x->content_type);
        add_header(x, line);
    }
    if (x->kind == XFER_REQUEST) {
        if (conf->api_version_header && conf->api_version_value) {
            char *line = fr_asprintf("%s: %s", conf->api_version_header, conf->api_version_value);
            add_header(x, line);
            free(line);
        }
        if (conf->auth.type == FR_AUTH_OAUTH2_CC && t->token.access_token) {
            char *line = fr_asprintf("Authorization: Bearer %s", t->token.access_token);
            add_header(x, line);
            free(line);
            x->token_generation = t->token.generation;
        } else if (t->auth_header) {
            add_header(x, t->auth_header);
        }
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);

    x->attempts++;
    x->sent_at_ms = now_ms;
    x->sent_at_us = fr_now_us();
    if (!x->first_sent_ms)
        x->first_sent_ms = now_ms;
    t->active++;
    if (x->kind == XFER_REQUEST) {
        t->stats.sent++;
        if (x->attempts > 1) {
            t->stats.retries++;
            fr_observer_add(t->client->observer, FR_M_HTTP_RETRIES, (const char *[]){t->conf.name},
                            1);
        }
    }
    activate(x);
}

/* ---- outcomes ------------------------------------------------------------------------- */

static enum fr_transport transport_of(CURLcode rc, const struct xfer *x)
{
    if (x->resend_refused)
        return FR_TR_RESEND;
    switch (rc) {
    case CURLE_OK:
        return FR_TR_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return FR_TR_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return FR_TR_CONNECT;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return FR_TR_RESET;
    case CURLE_PARTIAL_FILE:
        return FR_TR_TRUNCATED;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return FR_TR_TLS;
    default:
        return FR_TR_OTHER;
    }
}

/* A short description of what came back, for logs and errors. */
static void describe_outcome(const struct xfer *x, CURLcode rc, char *out, size_t outlen)
{
    if (rc == CURLE_OK)
        snprintf(out, outlen, "HTTP %ld", x->status);
    else if (x->too_big)
        snprintf(out, outlen, "response body larger than %u bytes", FR_HTTP_MAX_BODY);
    else
        snprintf(out, outlen, "%s", x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

static bool looks_like_json(const struct xfer *x)
{
    if (strncasecmp(x->resp_type, "application/json", 16) == 0 || strstr(x->resp_type, "+json"))
        return true;
    /* No content type but a body that starts like JSON. */
    if (!x->resp_type[0] && x->resp.len) {
        const char *p = fr_buf_str(&x->resp);
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
            p++;
        return *p == '{' || *p == '[';
    }
    return false;
}

static void log_request(const struct xfer *x, CURLcode rc, const struct fr_verdict *v,
                        int64_t now_ms)
{
    enum fr_log_level level = v->action == FR_ACT_DONE ? FR_LOG_INFO : FR_LOG_WARN;
    if (x->kind == XFER_TOKEN && v->action == FR_ACT_DONE)
        level = FR_LOG_INFO;
    char what[CURL_ERROR_SIZE + 64];
    describe_outcome(x, rc, what, sizeof(what));
    FR__LOG(level, x->kind == XFER_TOKEN ? "token request" : "request",
            FR_LS("target", x->t->conf.name), FR_LS("method", x->method),
            FR_LS("path", x->log_path), FR_LI("status", x->status),
            FR_LS("outcome", fr_class_name(v->cls)), FR_LS("error", rc == CURLE_OK ? NULL : what),
            FR_LI("ms", now_ms - x->sent_at_ms), FR_LI("attempt", x->attempts),
            FR_LS("request_id", x->request_id[0] ? x->request_id : NULL));
}

static void excerpt(const struct xfer *x, char *out, size_t outlen)
{
    char *safe = fr_redact_excerpt(fr_buf_str(&x->resp), x->resp.len, ERR_BODY_EXCERPT);
    snprintf(out, outlen, "%s", safe);
    free(safe);
}

/* The answer's Retry-After as ms from now, not capped; -1 for none or one that does not parse. */
static int64_t retry_after_of(const struct xfer *x)
{
    int64_t ms = -1;
    if (x->retry_after[0])
        fr_parse_retry_after(x->retry_after, fr_wall_ms(), &ms);
    return ms;
}

/* Makes x final: fills the result, calls back, frees x. */
static void finish(struct xfer *x, int code, enum fr_class cls, json_t *json,
                   const char *body_error, const struct fr_err *err, int64_t now_ms)
{
    struct fr_http_target *t = x->t;
    struct fr_http_result res = {0};
    res.code = code;
    res.cls = cls;
    res.status = (int)x->status;
    res.body = fr_buf_detach(&x->resp, &res.body_len);
    res.json = json;
    res.body_error = body_error;
    res.attempts = x->attempts;
    res.maybe_acted = x->maybe_acted;
    res.elapsed_ms = x->first_sent_ms ? now_ms - x->first_sent_ms : 0;
    fr_strlcpy(res.request_id, x->request_id, sizeof(res.request_id));
    if (x->link.len)
        res.link = fr_buf_detach(&x->link, NULL);
    res.retry_after_ms = retry_after_of(x);
    if (err)
        res.err = *err;
    if (code == FR_OK)
        t->stats.succeeded++;
    else
        t->stats.failed++;
    t->client->pending--;
    if (x->done)
        x->done(&res, x->ud);
    fr_http_result_release(&res);
    xfer_free(x);
}

static uint64_t rng_next(void *rng)
{
    return fr_rng_next(rng);
}

/* What to do after x's attempt with verdict v (retry.h decides; this only reads the clock). */
static struct fr_retry_decision decide(const struct xfer *x, const struct fr_verdict *v,
                                       int64_t now_ms, int64_t wall_ms)
{
    struct fr_http_target *t = x->t;
    struct fr_retry_in in = {.verdict = *v,
                             .attempts = x->attempts,
                             .elapsed_ms = now_ms - x->first_sent_ms,
                             .retry_after = x->retry_after,
                             .now_wall_ms = wall_ms,
                             .resolve_doubt = x->resolve_doubt,
                             .idempotent = x->safe,
                             .rand = {rng_next, &t->rng}};
    struct fr_retry_decision d = fr_retry_decide(&t->conf.retry, &in);
    if (d.retry_after_ignored)
        FR_LOG_WARN("ignoring an unparsable Retry-After header; backing off instead",
                    FR_LS("target", t->conf.name), FR_LS("retry_after", x->retry_after));
    return d;
}

/* One attempt's answer in the metrics: its status class and how long it took. */
static void count_request(const struct xfer *x)
{
    const struct fr_observer *o = x->t->client->observer;
    const char *name = x->t->conf.name;
    fr_observer_add(o, FR_M_HTTP_REQUESTS,
                    (const char *[]){name, x->method, fr_metric_status_class((int)x->status)}, 1);
    fr_observer_observe(o, FR_M_HTTP_DURATION, (const char *[]){name, x->method},
                        (double)(fr_now_us() - x->sent_at_us) / 1e6);
}

static void note_breaker(struct fr_http_target *t, bool transient, int64_t now_ms)
{
    enum fr_breaker_event ev = fr_breaker_record(&t->breaker, transient, now_ms);
    if (ev == FR_BREAKER_OPENED) {
        t->stats.breaker_opened++;
        fr_observer_add(t->client->observer, FR_M_HTTP_BREAKER_TRIPS,
                        (const char *[]){t->conf.name}, 1);
        fr_observer_set(t->client->observer, FR_M_HTTP_BREAKER_OPEN, (const char *[]){t->conf.name},
                        1);
        FR_LOG_WARN("circuit breaker opened: the target keeps failing; holding requests",
                    FR_LS("target", t->conf.name), FR_LI("open_ms", t->breaker.current_open_ms));
    } else if (ev == FR_BREAKER_CLOSED_AGAIN) {
        fr_observer_set(t->client->observer, FR_M_HTTP_BREAKER_OPEN, (const char *[]){t->conf.name},
                        0);
        FR_LOG_INFO("circuit breaker closed: the target answers again",
                    FR_LS("target", t->conf.name));
    }
}

static void request_done(struct xfer *x, CURLcode rc, int64_t now_ms)
{
    struct fr_http_target *t = x->t;
    const struct fr_target_conf *conf = &t->conf;
    int64_t wall_ms = fr_wall_ms(); /* for a Retry-After date */
    /*
     * A 401 after a refresh means the credentials or permissions are wrong
     * only when the token never worked: a token other requests succeeded
     * with was revoked (or expired early), and earns one more refresh,
     * within max_attempts.
     */
    bool token_revoked = x->token_generation && t->token_worked >= x->token_generation &&
                         x->attempts < conf->retry.max_attempts;
    struct fr_classify_in in = {.transport = transport_of(rc, x),
                                .status = (int)x->status,
                                .auth_retried = x->auth_retried && !token_revoked,
                                .sent = x->request_size > 0};
    json_t *json = NULL;
    const char *body_error = NULL;
    if (in.transport == FR_TR_OK && x->resp.len && looks_like_json(x)) {
        json = json_loadb(fr_buf_str(&x->resp), x->resp.len, 0, NULL);
        if (!json && x->status >= 200 && x->status < 300)
            in.body_unparsable = true;
    }
    if (json && x->status >= 200 && x->status < 300) {
        const struct fr_body_rule *hit =
            fr_body_rules_match(conf->body_errors, conf->nbody_errors, json, &body_error);
        if (!hit)
            hit = fr_body_rules_match(x->rules, x->nrules, json, &body_error);
        if (hit)
            in.body_rule = hit->retry ? FR_BODY_RULE_RETRY : FR_BODY_RULE_NO_RETRY;
    }
    struct fr_verdict v = fr_classify(&in);
    if (x->too_big)
        v = (struct fr_verdict){FR_CLASS_REJECTED, FR_ACT_FAIL, false, "response too large"};
    if (x->safe)
        v.in_doubt = false;
    log_request(x, rc, &v, now_ms);
    count_request(x);
    if (v.in_doubt || v.action == FR_ACT_DONE)
        x->maybe_acted = true;
    if (v.action == FR_ACT_DONE && x->token_generation > t->token_worked)
        t->token_worked = x->token_generation;
    if (v.in_doubt)
        t->stats.in_doubt++;

    note_breaker(t, v.cls == FR_CLASS_TRANSIENT, now_ms);
    if (v.cls == FR_CLASS_TRANSIENT)
        t->stats.transient++;
    if (v.cls == FR_CLASS_RATE_LIMITED) {
        t->stats.rate_limited++;
        fr_observer_add(t->client->observer, FR_M_HTTP_RATE_LIMITED, (const char *[]){conf->name},
                        1);
        int64_t ra = -1;
        if (!x->retry_after[0] ||
            fr_retry_after_capped(&conf->retry, x->retry_after, wall_ms, &ra) != 0)
            ra = -1;
        bool cut = fr_ratelimit_on_429(&t->limiter, fr_now_us(), ra);
        FR_LOG_WARN("rate limited by the target", FR_LS("target", conf->name),
                    FR_LS("method", x->method), FR_LS("path", x->log_path),
                    FR_LI("retry_after_ms", ra), FR_LI("attempt", x->attempts));
        if (cut)
            FR_LOG_WARN("adaptive rate limit lowered", FR_LS("target", conf->name),
                        FR_LD("rate_per_s", fr_ratelimit_rate(&t->limiter)));
    } else if (in.transport == FR_TR_OK) {
        fr_ratelimit_on_success(&t->limiter, fr_now_us());
    }

    char what[CURL_ERROR_SIZE + 64], body[ERR_BODY_EXCERPT + 8];
    describe_outcome(x, rc, what, sizeof(what));
    struct fr_err err = {0};
    struct fr_retry_decision d = decide(x, &v, now_ms, wall_ms);
    switch (d.kind) {
    case FR_RETRY_DONE:
        finish(x, FR_OK, v.cls, json, NULL, NULL, now_ms);
        return;
    case FR_RETRY_REFRESH:
        if (fr_token_cache_invalidate(&t->token, x->token_generation))
            FR_LOG_WARN("token rejected (401); fetching a new one", FR_LS("target", conf->name));
        x->auth_retried = true;
        x->ready_at_ms = now_ms;
        json_decref(json);
        enqueue_first(t, x);
        return;
    case FR_RETRY_IN_DOUBT:
        fr_err_set(&err, FR_EINDOUBT, x->status ? x->status : rc,
                   "%s %s: no complete answer after sending (%s: %s); the target may have "
                   "acted",
                   x->method, x->log_path, v.reason, what);
        finish(x, FR_EINDOUBT, v.cls, json, NULL, &err, now_ms);
        return;
    case FR_RETRY_AFTER:
        x->ready_at_ms = now_ms + d.delay_ms;
        if (v.in_doubt) {
            t->stats.in_doubt_resent++;
            if (!t->warned_blind_resend)
                FR_LOG_WARN("resending a request whose answer was lost after it was sent: "
                            "only the target's duplicate check keeps it from acting twice",
                            FR_LS("target", conf->name), FR_LS("method", x->method),
                            FR_LS("path", x->log_path));
            t->warned_blind_resend = true;
        }
        FR_LOG_DEBUG("retry scheduled", FR_LS("target", conf->name), FR_LS("path", x->log_path),
                     FR_LI("delay_ms", d.delay_ms), FR_LI("attempt", x->attempts));
        json_decref(json);
        enqueue(t, x);
        return;
    case FR_RETRY_GIVE_UP:
    default:
        break;
    }
    if (d.give_up != FR_GIVE_UP_FINAL) { /* a retry the limits refused */
        if (v.cls == FR_CLASS_BODY_ERROR)
            fr_err_set(&err, FR_EREJECTED, x->status,
                       "%s %s: the response body reports a failure: %s", x->method, x->log_path,
                       body_error ? body_error : "(no message)");
        else
            fr_err_set(&err, FR_EUNREACHABLE, x->status ? x->status : rc,
                       "%s %s: gave up after %d attempts in %.1f s; last: %s (%s)", x->method,
                       x->log_path, x->attempts, (double)(now_ms - x->first_sent_ms) / 1000.0, what,
                       v.reason);
        finish(x, err.code, v.cls, json, body_error, &err, now_ms);
        return;
    }
    excerpt(x, body, sizeof(body));
    if (v.cls == FR_CLASS_AUTH)
        fr_err_set(&err, FR_EAUTH, x->status,
                   "%s %s: the target rejected a fresh token (401): check the client's "
                   "permissions and credentials: %s",
                   x->method, x->log_path, body);
    else if (v.cls == FR_CLASS_BODY_ERROR)
        fr_err_set(&err, FR_EREJECTED, x->status, "%s %s: the response body reports a failure: %s",
                   x->method, x->log_path, body_error ? body_error : body);
    else if (x->too_big)
        fr_err_set(&err, FR_ETOOBIG, 0, "%s %s: %s", x->method, x->log_path, what);
    else if (in.transport != FR_TR_OK)
        fr_err_set(&err, FR_EUNREACHABLE, rc, "%s %s: %s (%s)", x->method, x->log_path, what,
                   v.reason);
    else
        fr_err_set(&err, FR_EREJECTED, x->status, "%s %s: %s: %s", x->method, x->log_path, what,
                   body);
    finish(x, err.code, v.cls, json, body_error, &err, now_ms);
}

/* ---- tokens --------------------------------------------------------------------------- */

static void fail_pending(struct fr_http_target *t, const struct fr_err *err, int64_t now_ms)
{
    struct xfer *x = t->pending_head;
    t->pending_head = t->pending_tail = NULL;
    while (x) {
        struct xfer *n = x->next;
        finish(x, err->code, err->code == FR_EAUTH ? FR_CLASS_AUTH : FR_CLASS_TRANSIENT, NULL, NULL,
               err, now_ms);
        x = n;
    }
}

static void schedule_token_fetch(struct fr_http_target *t, int64_t now_ms)
{
    struct xfer *x = fr_calloc(1, sizeof(*x));
    x->client = t->client;
    x->t = t;
    x->kind = XFER_TOKEN;
    x->method = fr_strdup("POST");
    x->url = fr_strdup(t->conf.auth.token_url);
    x->log_path = log_path_of(&t->conf, x->url);
    x->body = fr_auth_token_request_body(&t->conf.auth);
    x->body_len = strlen(x->body);
    x->content_type = fr_strdup("application/x-www-form-urlencoded");
    x->ready_at_ms = now_ms;
    fr_buf_init(&x->resp, 1024 * 1024);
    fr_buf_init(&x->link, FR_HTTP_MAX_LINK);
    t->token_xfer = x;
    fr_token_cache_begin(&t->token);
}

static void token_settle(struct fr_http_target *t, struct xfer *x, const struct fr_err *err,
                         int64_t now_ms)
{
    t->token_xfer = NULL;
    t->token_settled = true;
    t->force_token = false;
    if (err) {
        fr_token_cache_fail(&t->token);
        fr_err_clear(&t->token_err);
        t->token_err = *err;
        FR_LOG_ERROR("token fetch failed", FR_LS("target", t->conf.name), FR_LS("error", err->msg));
        /* Nothing waiting for a token can proceed: fail it with the reason. */
        fail_pending(t, err, now_ms);
    } else {
        fr_err_clear(&t->token_err);
    }
    xfer_free(x);
}

static void token_done(struct xfer *x, CURLcode rc, int64_t now_ms)
{
    struct fr_http_target *t = x->t;
    t->active--;
    struct fr_classify_in in = {.transport = transport_of(rc, x), .status = (int)x->status};
    if (x->status == 401)
        in.auth_retried = true; /* a 401 from the token endpoint is final */
    struct fr_verdict v = fr_classify(&in);
    char what[CURL_ERROR_SIZE + 64];
    describe_outcome(x, rc, what, sizeof(what));
    struct fr_err err = {0};

    if (v.cls == FR_CLASS_SUCCESS) {
        char *token = NULL;
        int64_t expires_in = 0;
        if (fr_auth_parse_token_response(fr_buf_str(&x->resp), x->resp.len, &token, &expires_in,
                                         NULL) == 0) {
            fr_token_cache_set(&t->token, token, expires_in, now_ms);
            free(token);
            t->stats.token_fetches++;
            fr_observer_add(t->client->observer, FR_M_HTTP_TOKEN_REFRESHES,
                            (const char *[]){t->conf.name}, 1);
            fr_observer_set(t->client->observer, FR_M_HTTP_TOKEN_LIFETIME,
                            (const char *[]){t->conf.name}, (double)expires_in);
            log_request(x, rc, &v, now_ms);
            FR_LOG_INFO("token refreshed", FR_LS("target", t->conf.name),
                        FR_LI("expires_in_s", expires_in), FR_LI("attempt", x->attempts));
            token_settle(t, x, NULL, now_ms);
            return;
        }
        /* A 200 without a token: a broken or cut response, worth another try. */
        v = (struct fr_verdict){FR_CLASS_TRANSIENT, FR_ACT_RETRY, false,
                                "token response without a token"};
    }
    log_request(x, rc, &v, now_ms);
    struct fr_retry_decision d = decide(x, &v, now_ms, fr_wall_ms());
    if (d.kind == FR_RETRY_AFTER) {
        x->ready_at_ms = now_ms + d.delay_ms;
        return; /* stays t->token_xfer, sent again by pump */
    }
    char *shown = fr_redact_url(x->url); /* a password in the URL's userinfo too */
    if (d.kind == FR_RETRY_GIVE_UP && d.give_up != FR_GIVE_UP_FINAL) {
        fr_err_set(&err, FR_EUNREACHABLE, x->status ? x->status : rc,
                   "token endpoint %s unreachable: gave up after %d attempts; last: %s (%s)", shown,
                   x->attempts, what, v.reason);
    } else if (in.transport != FR_TR_OK) {
        fr_err_set(&err, FR_EUNREACHABLE, rc, "token endpoint %s: %s", shown, what);
    } else {
        const char *code = fr_auth_error_code(fr_buf_str(&x->resp), x->resp.len);
        fr_err_set(&err, FR_EAUTH, x->status,
                   "token endpoint %s rejected the credentials (HTTP %ld%s%s): check client_id "
                   "and client_secret of target %s",
                   shown, x->status, code ? " " : "", code ? code : "", t->conf.name);
    }
    free(shown);
    token_settle(t, x, &err, now_ms);
}

/* ---- the loop ------------------------------------------------------------------------- */

static void on_complete(CURLMsg *msg, int64_t now_ms)
{
    struct xfer *x = NULL;
    /* msg belongs to the easy handle: read it before the handle goes. */
    CURLcode result = msg->data.result;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_REQUEST_SIZE, &x->request_size);
    struct fr_http_client *c = x->client;
    if (x->prev)
        x->prev->next = x->next;
    else
        c->active_head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->next = x->prev = NULL;
    curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    if (x->kind == XFER_ONCE) {
        x->completed = true; /* fr_http_post_once takes it from here */
        x->once_rc = result;
    } else if (x->kind == XFER_TOKEN) {
        token_done(x, result, now_ms);
    } else {
        x->t->active--;
        request_done(x, result, now_ms);
    }
}

static void wake_at(int64_t *wake, int64_t when)
{
    if (when < *wake)
        *wake = when;
}

/* Whether the target's requests may go out now as far as auth goes; starts token fetches. */
static bool auth_ready(struct fr_http_target *t, int64_t now_ms, int64_t *wake)
{
    if (t->conf.auth.type != FR_AUTH_OAUTH2_CC)
        return true;
    if (!t->token_xfer && (t->pending_head || t->force_token)) {
        if (fr_token_cache_state(&t->token, now_ms) == FR_TOKEN_REFRESH_NOW)
            schedule_token_fetch(t, now_ms);
    }
    struct xfer *tx = t->token_xfer;
    if (tx && !tx->easy) {
        if (tx->ready_at_ms <= now_ms)
            start_xfer(tx, now_ms);
        else
            wake_at(wake, tx->ready_at_ms);
    }
    return fr_token_cache_state(&t->token, now_ms) == FR_TOKEN_VALID;
}

/* Fails requests that have waited past max_elapsed since their first attempt. */
static void expire_waiting(struct fr_http_target *t, int64_t now_ms)
{
    struct xfer *prev = NULL;
    for (struct xfer *x = t->pending_head, *n; x; x = n) {
        n = x->next;
        if (x->first_sent_ms && fr_retry_expired(&t->conf.retry, now_ms - x->first_sent_ms)) {
            unlink_pending(t, x, prev);
            struct fr_err err = {0};
            fr_err_set(&err, FR_EUNREACHABLE, 0,
                       "%s %s: gave up after %d attempts: no answer within max_elapsed %lld ms "
                       "(circuit breaker or retry budget held it)",
                       x->method, x->log_path, x->attempts,
                       (long long)t->conf.retry.max_elapsed_ms);
            finish(x, err.code, FR_CLASS_TRANSIENT, NULL, NULL, &err, now_ms);
            continue;
        }
        prev = x;
    }
}

static void pump(struct fr_http_target *t, int64_t now_ms, int64_t *wake)
{
    expire_waiting(t, now_ms);
    if (!auth_ready(t, now_ms, wake))
        return;
    struct xfer *prev = NULL;
    int max = t->conf.max_in_flight > 0 ? t->conf.max_in_flight : 1;
    for (struct xfer *x = t->pending_head, *n; x && t->active < (size_t)max; x = n) {
        n = x->next;
        if (x->ready_at_ms > now_ms) {
            wake_at(wake, x->ready_at_ms);
            prev = x;
            continue;
        }
        bool is_retry = x->attempts > 0;
        if (is_retry && !x->auth_retried) {
            bool was_exhausted = t->budget.exhausted;
            if (!fr_budget_allow_retry(&t->budget, now_ms)) {
                if (!was_exhausted)
                    FR_LOG_WARN("retry budget exhausted: retries wait so an outage does not "
                                "become a retry storm",
                                FR_LS("target", t->conf.name));
                wake_at(wake, now_ms + FR_BUDGET_RECHECK_MS);
                prev = x;
                continue;
            } else if (was_exhausted) {
                FR_LOG_INFO("retry budget available again", FR_LS("target", t->conf.name));
            }
        }
        int64_t wait_us = fr_ratelimit_wait_us(&t->limiter, fr_now_us());
        if (wait_us > 0) {
            wake_at(wake, now_ms + (wait_us + 999) / 1000);
            return;
        }
        if (!fr_breaker_allow(&t->breaker, now_ms)) {
            wake_at(wake, now_ms + FR_MAX(fr_breaker_wait_ms(&t->breaker, now_ms), 1));
            return;
        }
        fr_ratelimit_take(&t->limiter, fr_now_us());
        fr_budget_record(&t->budget, now_ms, is_retry);
        unlink_pending(t, x, prev);
        start_xfer(x, now_ms);
    }
}

void fr_http_step(struct fr_http_client *c, int64_t max_wait_ms)
{
    int64_t now = fr_now_ms();
    int64_t wake = now + FR_MIN(max_wait_ms, 1000);
    for (struct fr_http_target *t = c->targets; t; t = t->next)
        pump(t, now, &wake);
    int running = 0;
    curl_multi_perform(c->multi, &running);
    CURLMsg *msg;
    int left;
    bool progressed = false;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg == CURLMSG_DONE) {
            on_complete(msg, fr_now_ms());
            progressed = true;
        }
    }
    if (progressed)
        return; /* completions may have freed slots: pump again before waiting */
    int timeout = (int)FR_MAX(wake - fr_now_ms(), 0);
    curl_multi_poll(c->multi, NULL, 0, timeout, NULL);
}

int fr_http_run(struct fr_http_client *c, int64_t max_wait_ms)
{
    int64_t deadline = max_wait_ms < 0 ? INT64_MAX : fr_now_ms() + max_wait_ms;
    while (c->pending > 0) {
        int64_t now = fr_now_ms();
        if (now >= deadline)
            return FR_ETIMEOUT;
        fr_http_step(c, deadline - now);
    }
    return 0;
}

void fr_http_cancel(struct fr_http_client *c, bool on_the_wire)
{
    int64_t now_ms = fr_now_ms();
    struct fr_err err = {0};
    fr_err_set(&err, FR_ECANCELED, 0, "canceled: the run is stopping");
    for (struct fr_http_target *t = c->targets; t; t = t->next) {
        struct xfer *x = t->pending_head;
        t->pending_head = t->pending_tail = NULL;
        while (x) {
            struct xfer *n = x->next;
            finish(x, FR_ECANCELED, FR_CLASS_TRANSIENT, NULL, NULL, &err, now_ms);
            x = n;
        }
    }
    if (!on_the_wire)
        return;
    for (struct xfer *x = c->active_head, *n; x; x = n) {
        n = x->next;
        if (x->kind != XFER_REQUEST)
            continue;
        if (x->prev)
            x->prev->next = x->next;
        else
            c->active_head = x->next;
        if (x->next)
            x->next->prev = x->prev;
        x->next = x->prev = NULL;
        x->t->active--;
        x->maybe_acted = true; /* on the wire: an answer may have been on its way */
        finish(x, FR_ECANCELED, FR_CLASS_TRANSIENT, NULL, NULL, &err, now_ms);
    }
}

struct perform_ctx {
    struct fr_http_result *res;
    bool done;
};

static void perform_done(struct fr_http_result *res, void *ud)
{
    struct perform_ctx *ctx = ud;
    *ctx->res = *res;
    /* Ownership of body, json and link moves to the caller's result. */
    res->body = NULL;
    res->json = NULL;
    res->link = NULL;
    ctx->done = true;
}

int fr_http_perform(struct fr_http_target *t, const struct fr_http_request *req,
                    struct fr_http_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    struct perform_ctx ctx = {.res = res};
    int rc = fr_http_submit(t, req, perform_done, &ctx);
    if (rc)
        return fr_err_set(&res->err, rc, 0, "malformed request");
    while (!ctx.done)
        fr_http_step(t->client, INT64_MAX);
    return res->code;
}

/* ---- one-shot POSTs ------------------------------------------------------------------- */

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct xfer *x = ud;
    return atomic_load(x->stop) ? 1 : 0; /* non-zero aborts: CURLE_ABORTED_BY_CALLBACK */
}

/* Fills res from a finished one-shot x, classified by the hand-off table. */
static void once_result(struct xfer *x, int64_t elapsed_ms, struct fr_http_result *res)
{
    CURLcode rc = x->once_rc;
    res->status = (int)x->status;
    res->attempts = 1;
    res->elapsed_ms = elapsed_ms;
    res->body = fr_buf_detach(&x->resp, &res->body_len);
    if (x->link.len)
        res->link = fr_buf_detach(&x->link, NULL);
    fr_strlcpy(res->request_id, x->request_id, sizeof(res->request_id));
    res->retry_after_ms = retry_after_of(x);
    if (rc == CURLE_ABORTED_BY_CALLBACK) { /* on_progress: *stop */
        res->cls = FR_CLASS_TRANSIENT;
        res->code = fr_err_set(&res->err, FR_ECANCELED, rc, "canceled: stopping");
        return;
    }
    struct fr_classify_in in = {
        .transport = transport_of(rc, x), .status = (int)x->status, .sent = x->request_size > 0};
    struct fr_verdict v = fr_classify_handoff(&in);
    res->cls = v.cls;
    if (v.action == FR_ACT_DONE) {
        res->code = FR_OK;
        res->maybe_acted = true;
    } else if (in.transport != FR_TR_OK) {
        res->code = fr_err_set(&res->err, FR_EUNREACHABLE, rc, "%s",
                               x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    } else {
        res->code =
            fr_err_set(&res->err, FR_EREJECTED, x->status, "HTTP %ld (%s)", x->status, v.reason);
    }
}

int fr_http_post_once(struct fr_http_client *c, const struct fr_http_post *req,
                      struct fr_http_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    if (!req->url || !is_absolute_url(req->url))
        return res->code = fr_err_set(&res->err, FR_EINVAL, 0, "not an http(s) URL");
    struct xfer *x = fr_calloc(1, sizeof(*x));
    x->client = c;
    x->kind = XFER_ONCE;
    x->method = fr_strdup("POST");
    x->url = fr_strdup(req->url);
    x->keep = req->keep;
    x->stop = req->stop;
    fr_buf_init(&x->resp, 0);
    fr_buf_init(&x->link, FR_HTTP_MAX_LINK);
    CURL *e = easy_new(x, req->connect_timeout_ms, req->total_timeout_ms, true);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    for (size_t i = 0; i < req->nheaders; i++)
        add_header(x, req->headers[i]);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    if (x->stop) {
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
    }
    x->attempts = 1;
    int64_t t0 = fr_now_ms();
    x->sent_at_ms = x->first_sent_ms = t0;
    activate(x);
    while (!x->completed)
        fr_http_step(c, INT64_MAX);
    once_result(x, fr_now_ms() - t0, res);
    xfer_free(x);
    return res->code;
}

int fr_http_target_authenticate(struct fr_http_target *t, int64_t *expires_in_s, struct fr_err *err)
{
    if (t->conf.auth.type != FR_AUTH_OAUTH2_CC)
        return 0;
    if (fr_token_cache_state(&t->token, fr_now_ms()) != FR_TOKEN_VALID) {
        t->force_token = true;
        t->token_settled = false;
        while (!t->token_settled)
            fr_http_step(t->client, INT64_MAX);
        if (t->token_err.code) {
            if (err)
                *err = t->token_err;
            return t->token_err.code;
        }
    }
    if (expires_in_s)
        *expires_in_s = (t->token.expires_at_ms - fr_now_ms()) / 1000;
    return 0;
}
