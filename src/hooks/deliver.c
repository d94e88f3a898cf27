#include "core/common.h"
#include "hooks/deliver.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "http/policy.h"
#include "hooks/hooks_conf.h"

extern char **environ;

/* Bytes of a handler's answer or output kept for the error message. */
#define EXCERPT_MAX 300
/* The longest connect phase of a url delivery (the whole attempt has deliver.timeout). */
#define CONNECT_TIMEOUT_MS 10000

struct fr_deliverer {
    CURL *easy;
    const atomic_int *stop;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fr_deliverer *fr_deliverer_new(const atomic_int *stop)
{
    pthread_once(&curl_once, curl_init);
    struct fr_deliverer *d = fr_calloc(1, sizeof(*d));
    d->stop = stop;
    return d;
}

void fr_deliverer_free(struct fr_deliverer *d)
{
    if (!d)
        return;
    if (d->easy)
        curl_easy_cleanup(d->easy);
    free(d);
}

/*
 * Writes a one-line, redacted excerpt of text[0..len) into out: its start,
 * or (tail) its end. What is kept of an answer or an output is
 * EXCERPT_KEEP bytes, so that a secret the excerpt's edge would cut is
 * still matched whole.
 */
#define EXCERPT_KEEP (EXCERPT_MAX + FR_REDACT_EXCERPT_SLACK)

static void excerpt(const char *text, size_t len, bool tail, char *out, size_t outlen)
{
    char *safe = tail ? fr_redact_excerpt_tail(text, len, EXCERPT_MAX)
                      : fr_redact_excerpt(text, len, EXCERPT_MAX);
    snprintf(out, outlen, "%s", safe);
    free(safe);
}

/* ---- url ------------------------------------------------------------------------------ */

struct answer {
    struct fr_buf head; /* the start of the response body */
    char retry_after[64];
    const atomic_int *stop;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    if (a->head.len < EXCERPT_KEEP + 1)
        fr_buf_add(&a->head, data, FR_MIN(n, EXCERPT_KEEP + 1 - a->head.len));
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct answer *a = ud;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        a->retry_after[0] = '\0'; /* a new response (after a 100 Continue) */
    else if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        size_t len = FR_MIN(n - 12, sizeof(a->retry_after) - 1);
        memcpy(a->retry_after, data + 12, len);
        a->retry_after[len] = '\0';
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct answer *a = ud;
    return atomic_load(a->stop) ? 1 : 0;
}

static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...) FR_PRINTF(2, 3);
static struct curl_slist *add_header(struct curl_slist *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = fr_vasprintf(fmt, ap);
    va_end(ap);
    struct curl_slist *n = curl_slist_append(l, line);
    free(line);
    if (!n)
        fr_die(__FILE__, __LINE__, "curl_slist_append failed");
    return n;
}

bool fr_deliver_header_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static void deliver_url(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                        const struct fr_event *e, int attempt, struct fr_deliver_result *res)
{
    if (!d->easy && !(d->easy = curl_easy_init()))
        fr_die(__FILE__, __LINE__, "curl_easy_init failed");
    CURL *c = d->easy;
    curl_easy_reset(c); /* keeps the connection cache */
    struct answer a = {.stop = d->stop};
    fr_buf_init(&a.head, 0);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = NULL;
    /* The content type is the sender's: one holding line breaks or other control bytes
     * could add header lines of its own, so it is not forwarded. */
    const char *ct = e->content_type;
    if (ct && !fr_deliver_header_value_ok(ct)) {
        FR_LOG_WARN("content type not forwarded: it holds control characters",
                    FR_LS("source", e->source), FR_LS("event_id", e->event_id));
        ct = NULL;
    }
    /* "Content-Type:" with no value removes the one curl would add to a POST. */
    h = add_header(h, "Content-Type:%s%s", ct ? " " : "", ct ? ct : "");
    h = add_header(h, "Expect:");
    h = add_header(h, "X-Ferry-Event-Id: %s", e->event_id);
    h = add_header(h, "X-Ferry-Source: %s", e->source);
    h = add_header(h, "X-Ferry-Attempt: %d", attempt);
    curl_easy_setopt(c, CURLOPT_URL, src->deliver_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)src->deliver_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)FR_MIN(src->deliver_timeout_ms, CONNECT_TIMEOUT_MS));
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, e->body ? (const char *)e->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)e->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    res->status = (int)status;
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
    } else if (rc != CURLE_OK) {
        res->outcome = FR_DELIVER_FAILED;
        char *safe = fr_redact_str(errbuf[0] ? errbuf : curl_easy_strerror(rc));
        snprintf(res->error, sizeof(res->error), "POST failed: %s", safe);
        free(safe);
    } else if (status >= 200 && status < 300) {
        res->outcome = FR_DELIVER_OK;
    } else {
        res->outcome = FR_DELIVER_FAILED;
        char body[EXCERPT_MAX + 8];
        excerpt(fr_buf_str(&a.head), a.head.len, false, body, sizeof(body));
        snprintf(res->error, sizeof(res->error), "HTTP %ld%s%s", status, body[0] ? ": " : "", body);
        int64_t ms;
        if (a.retry_after[0] && fr_parse_retry_after(a.retry_after, fr_wall_ms(), &ms) == 0)
            res->retry_after_ms = ms;
    }
    fr_buf_release(&a.head);
}

/* ---- exec ----------------------------------------------------------------------------- */

/* environ plus the event's variables (replacing any inherited ones); free the array only. */
static char **event_env(char *vars[], size_t nvars)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = fr_calloc(n + nvars + 1, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nvars && !replaced; j++) {
            size_t nlen = (size_t)(strchr(vars[j], '=') - vars[j]) + 1;
            replaced = strncmp(environ[i], vars[j], nlen) == 0;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nvars; j++)
        env[k++] = vars[j];
    return env;
}

static int spawn_handler(const char *command, const char *workdir, int in_fd, int out_fd,
                         char **env, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
    if (workdir)
        posix_spawn_file_actions_addchdir_np(&fa, workdir);
    posix_spawnattr_init(&at);
    /* Its own process group (so a timeout kills everything it started), signals as new. */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none, defaults;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigdefault(&at, &defaults);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

/* Keeps the last EXCERPT_KEEP bytes of the handler's output. */
static void keep_tail(struct fr_buf *out, const char *data, size_t n)
{
    fr_buf_add(out, data, n);
    if (out->len > 4 * EXCERPT_KEEP) {
        size_t keep = EXCERPT_KEEP;
        memmove(out->data, out->data + out->len - keep, keep);
        out->len = keep;
        out->data[keep] = '\0';
    }
}

struct child {
    pid_t pid;
    int in_fd, out_fd; /* ours: the write end of its stdin, the read end of its output */
    const unsigned char *body;
    size_t len, off;
    struct fr_buf out;
};

/* Feeds stdin and reads output for up to wait_ms. */
static void pump_child(struct child *ch, int wait_ms)
{
    struct pollfd pf[2];
    nfds_t n = 0;
    if (ch->out_fd >= 0)
        pf[n++] = (struct pollfd){.fd = ch->out_fd, .events = POLLIN};
    if (ch->in_fd >= 0)
        pf[n++] = (struct pollfd){.fd = ch->in_fd, .events = POLLOUT};
    if (n == 0 || poll(pf, n, wait_ms) <= 0) {
        if (n == 0)
            fr_sleep_ms(wait_ms);
        return;
    }
    for (nfds_t i = 0; i < n; i++) {
        if (pf[i].fd == ch->out_fd && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
            char chunk[4096];
            ssize_t r = read(ch->out_fd, chunk, sizeof(chunk));
            if (r > 0)
                keep_tail(&ch->out, chunk, (size_t)r);
            else if (r == 0 || errno != EINTR) {
                close(ch->out_fd);
                ch->out_fd = -1;
            }
        } else if (pf[i].fd == ch->in_fd && pf[i].revents) {
            ssize_t w =
                ch->len > ch->off ? write(ch->in_fd, ch->body + ch->off, ch->len - ch->off) : 0;
            if (w > 0)
                ch->off += (size_t)w;
            /* all written, or the handler closed its stdin (EPIPE): stdin ends */
            if (ch->off >= ch->len || (w < 0 && errno != EINTR && errno != EAGAIN)) {
                close(ch->in_fd);
                ch->in_fd = -1;
            }
        }
    }
}

static void close_child_fds(struct child *ch)
{
    if (ch->in_fd >= 0)
        close(ch->in_fd);
    if (ch->out_fd >= 0)
        close(ch->out_fd);
    ch->in_fd = ch->out_fd = -1;
}

static void deliver_exec(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                         const char *workdir, const struct fr_event *e, int attempt,
                         struct fr_deliver_result *res)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "cannot create a pipe: %s", strerror(errno));
        return;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "cannot create a pipe: %s", strerror(errno));
        return;
    }
    char *vars[] = {fr_asprintf("FERRY_EVENT_ID=%s", e->event_id),
                    fr_asprintf("FERRY_SOURCE=%s", e->source),
                    fr_asprintf("FERRY_ATTEMPT=%d", attempt),
                    fr_asprintf("FERRY_EVENT_SEQ=%lld", (long long)e->seq)};
    char **env = event_env(vars, FR_ARRAY_LEN(vars));
    struct child ch = {.in_fd = in[1], .out_fd = out[0], .body = e->body, .len = e->body_len};
    fr_buf_init(&ch.out, 0);
    int rc = spawn_handler(src->deliver_exec, workdir, in[0], out[1], env, &ch.pid);
    close(in[0]);
    close(out[1]);
    free(env);
    for (size_t i = 0; i < FR_ARRAY_LEN(vars); i++)
        free(vars[i]);
    if (rc != 0) {
        close_child_fds(&ch);
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "cannot run the handler: %s", strerror(rc));
        return;
    }
    fcntl(ch.in_fd, F_SETFL, O_NONBLOCK);
    int64_t deadline = fr_now_ms() + src->deliver_timeout_ms;
    int status = 0;
    bool timed_out = false, stopped = false;
    for (;;) {
        pid_t r = waitpid(ch.pid, &status, WNOHANG);
        if (r == ch.pid)
            break;
        timed_out = fr_now_ms() >= deadline;
        stopped = atomic_load(d->stop) != 0;
        if (timed_out || stopped) {
            kill(-ch.pid, SIGKILL);
            waitpid(ch.pid, &status, 0);
            break;
        }
        pump_child(&ch, 20);
    }
    /* What it wrote before exiting; a background grandchild holding the pipe is not waited for. */
    if (ch.out_fd >= 0) {
        fcntl(ch.out_fd, F_SETFL, O_NONBLOCK);
        char chunk[4096];
        ssize_t r;
        while ((r = read(ch.out_fd, chunk, sizeof(chunk))) > 0)
            keep_tail(&ch.out, chunk, (size_t)r);
    }
    close_child_fds(&ch);
    char tail[EXCERPT_MAX + 8];
    excerpt(fr_buf_str(&ch.out), ch.out.len, true, tail, sizeof(tail));
    fr_buf_release(&ch.out);
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (stopped) {
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
    } else if (timed_out) {
        res->outcome = FR_DELIVER_FAILED;
        snprintf(res->error, sizeof(res->error), "handler timed out after %lld ms and was killed",
                 (long long)src->deliver_timeout_ms);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        res->outcome = FR_DELIVER_OK;
    } else {
        res->outcome = FR_DELIVER_FAILED;
        if (WIFEXITED(status))
            snprintf(res->error, sizeof(res->error), "handler exited with status %d%s%s",
                     WEXITSTATUS(status), tail[0] ? ": " : "", tail);
        else
            snprintf(res->error, sizeof(res->error), "handler killed by signal %d%s%s",
                     WTERMSIG(status), tail[0] ? ": " : "", tail);
    }
}

void fr_deliver(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                const char *workdir, const struct fr_event *e, int attempt,
                struct fr_deliver_result *res)
{
    memset(res, 0, sizeof(*res));
    res->retry_after_ms = -1;
    if (src->deliver_url)
        deliver_url(d, src, e, attempt, res);
    else
        deliver_exec(d, src, workdir, e, attempt, res);
}
