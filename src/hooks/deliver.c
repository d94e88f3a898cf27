#include "core/common.h"
#include "hooks/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "hooks/hooks_conf.h"
#include "http/client.h"

extern char **environ;

/* Bytes of a handler's answer or output kept for the error message. */
#define EXCERPT_MAX 300
/* The longest connect phase of a url delivery (the whole attempt has deliver.timeout). */
#define CONNECT_TIMEOUT_MS 10000

struct fr_deliverer {
    struct fr_http_client *http; /* created by the first url delivery, in the worker's thread */
    const atomic_int *stop;
};

struct fr_deliverer *fr_deliverer_new(const atomic_int *stop)
{
    /* libcurl's process-wide setup, here in the thread that starts the workers; a failure
     * is reported by the first url delivery, which cannot create its client then. */
    fr_http_init(NULL);
    struct fr_deliverer *d = fr_calloc(1, sizeof(*d));
    d->stop = stop;
    return d;
}

void fr_deliverer_free(struct fr_deliverer *d)
{
    if (!d)
        return;
    fr_http_client_free(d->http);
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

bool fr_deliver_header_value_ok(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* "POST failed: why" in res->error; why is cut to fit. */
static void post_failed(struct fr_deliver_result *res, const char *why)
{
    static const char prefix[] = "POST failed: ";
    snprintf(res->error, sizeof(res->error), "%s%.*s", prefix,
             (int)(sizeof(res->error) - sizeof(prefix)), why);
}

static void deliver_url(struct fr_deliverer *d, const struct fr_webhook_source_conf *src,
                        const struct fr_event *e, int attempt, struct fr_deliver_result *res)
{
    struct fr_err err = {0};
    if (!d->http && fr_http_client_new(&d->http, &err) != 0) {
        res->outcome = FR_DELIVER_FAILED;
        post_failed(res, err.msg);
        return;
    }
    /* The content type is the sender's: one holding line breaks or other control bytes
     * could add header lines of its own, so it is not forwarded. */
    const char *ct = e->content_type;
    if (ct && !fr_deliver_header_value_ok(ct)) {
        FR_LOG_WARN("content type not forwarded: it holds control characters",
                    FR_LS("source", e->source), FR_LS("event_id", e->event_id));
        ct = NULL;
    }
    /* "Content-Type:" with no value removes the one libcurl would add to a POST. */
    char *headers[] = {fr_asprintf("Content-Type:%s%s", ct ? " " : "", ct ? ct : ""),
                       fr_strdup("Expect:"), fr_asprintf("X-Ferry-Event-Id: %s", e->event_id),
                       fr_asprintf("X-Ferry-Source: %s", e->source),
                       fr_asprintf("X-Ferry-Attempt: %d", attempt)};
    struct fr_http_post req = {
        .url = src->deliver_url,
        .body = e->body ? (const char *)e->body : "",
        .body_len = e->body_len,
        .headers = (const char *const *)headers,
        .nheaders = FR_ARRAY_LEN(headers),
        .connect_timeout_ms = FR_MIN(src->deliver_timeout_ms, CONNECT_TIMEOUT_MS),
        .total_timeout_ms = src->deliver_timeout_ms,
        .keep = EXCERPT_KEEP + 1,
        .stop = d->stop,
    };
    struct fr_http_result r;
    int rc = fr_http_post_once(d->http, &req, &r);
    for (size_t i = 0; i < FR_ARRAY_LEN(headers); i++)
        free(headers[i]);
    res->status = r.status;
    if (rc == FR_OK) {
        res->outcome = FR_DELIVER_OK;
    } else if (rc == FR_ECANCELED) {
        res->outcome = FR_DELIVER_ABORTED;
        snprintf(res->error, sizeof(res->error), "stopped: ferry serve is shutting down");
    } else if (rc == FR_EREJECTED) { /* an answer, not a 2xx */
        res->outcome = FR_DELIVER_FAILED;
        char body[EXCERPT_MAX + 8];
        excerpt(r.body, r.body_len, false, body, sizeof(body));
        snprintf(res->error, sizeof(res->error), "HTTP %d%s%s", r.status, body[0] ? ": " : "",
                 body);
        res->retry_after_ms = r.retry_after_ms;
    } else { /* no answer: r.err holds the transport's words, redacted */
        res->outcome = FR_DELIVER_FAILED;
        post_failed(res, r.err.msg);
    }
    fr_http_result_release(&r);
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
