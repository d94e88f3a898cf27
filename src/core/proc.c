#include "core/common.h"
#include "core/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

extern char **environ;

/* The longest wait for the child's pipes: how often its end, the timeout and *stop are seen. */
#define PUMP_MS 20
/* What is read of the output once the command has ended: what it wrote before (a pipe's
 * capacity at most), not what a process it left behind goes on writing. */
#define DRAIN_MAX (1024 * 1024)

/* environ plus vars, each replacing an inherited variable of its name; free the array only. */
static char **child_env(char *const *vars, size_t nvars)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = fr_calloc(n + nvars + 1, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nvars && !replaced; j++) {
            const char *eq = strchr(vars[j], '=');
            size_t nlen = eq ? (size_t)(eq - vars[j]) + 1 : strlen(vars[j]);
            replaced = strncmp(environ[i], vars[j], nlen) == 0;
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nvars; j++)
        env[k++] = vars[j];
    return env;
}

/* posix_spawn of /bin/sh -c: stdin from in_fd, stdout and stderr to out_fd. 0 or an errno. */
static int spawn(const struct fr_proc_opts *o, int in_fd, int out_fd, char **env, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    if (out_fd != STDERR_FILENO)
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
    if (o->workdir)
        posix_spawn_file_actions_addchdir_np(&fa, o->workdir);
    posix_spawnattr_init(&at);
    /* Its own process group (so that a timeout kills everything it started), signals as new. */
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
    char *argv[] = {"sh", "-c", (char *)o->command, NULL};
    int rc = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc;
}

struct child {
    pid_t pid;
    int in_fd, out_fd; /* ours: the write end of its stdin, the read end of its output; -1 */
    const unsigned char *input;
    size_t len, off;
    bool epipe; /* a write found its stdin closed (and raised SIGPIPE) */
    struct fr_buf *out;
    size_t keep;
};

/* Keeps the end of the output: between keep and 4 * keep bytes until the end trims it. */
static void keep_tail(struct child *ch, const char *data, size_t n)
{
    if (ch->keep == 0)
        return;
    fr_buf_add(ch->out, data, n);
    if (ch->out->len > 4 * ch->keep) {
        memmove(ch->out->data, ch->out->data + ch->out->len - ch->keep, ch->keep);
        ch->out->len = ch->keep;
        ch->out->data[ch->keep] = '\0';
    }
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void read_output(struct child *ch)
{
    char chunk[4096];
    ssize_t r = read(ch->out_fd, chunk, sizeof(chunk));
    if (r > 0)
        keep_tail(ch, chunk, (size_t)r);
    else if (r == 0 || (errno != EINTR && errno != EAGAIN))
        close_fd(&ch->out_fd);
}

static void write_input(struct child *ch)
{
    ssize_t w = ch->len > ch->off ? write(ch->in_fd, ch->input + ch->off, ch->len - ch->off) : 0;
    if (w > 0)
        ch->off += (size_t)w;
    if (w < 0 && errno == EPIPE)
        ch->epipe = true;
    /* all written, or the command closed its stdin (EPIPE): its stdin ends */
    if (ch->off >= ch->len || (w < 0 && errno != EINTR && errno != EAGAIN))
        close_fd(&ch->in_fd);
}

/* Feeds its stdin and reads its output for up to wait_ms. */
static void pump(struct child *ch, int wait_ms)
{
    struct pollfd pf[2];
    nfds_t n = 0;
    if (ch->out_fd >= 0)
        pf[n++] = (struct pollfd){.fd = ch->out_fd, .events = POLLIN};
    if (ch->in_fd >= 0)
        pf[n++] = (struct pollfd){.fd = ch->in_fd, .events = POLLOUT};
    if (n == 0) {
        fr_sleep_ms(wait_ms);
        return;
    }
    if (poll(pf, n, wait_ms) <= 0)
        return;
    for (nfds_t i = 0; i < n; i++) {
        if (pf[i].fd == ch->out_fd && (pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            read_output(ch);
        else if (pf[i].fd == ch->in_fd && pf[i].revents)
            write_input(ch);
    }
}

/* What it wrote before it ended, without waiting for a process it left holding the pipe. */
static void drain(struct child *ch)
{
    if (ch->out_fd < 0)
        return;
    fcntl(ch->out_fd, F_SETFL, O_NONBLOCK);
    char chunk[4096];
    ssize_t r;
    size_t got = 0;
    while (got < DRAIN_MAX && (r = read(ch->out_fd, chunk, sizeof(chunk))) > 0) {
        keep_tail(ch, chunk, (size_t)r);
        got += (size_t)r;
    }
}

/*
 * Waits for the child, feeding and reading it, until it ends or its time
 * is up or *stop is set (then its group is killed). 0 with *status, or
 * the errno of a waitpid that failed.
 */
static int wait_child(struct child *ch, const struct fr_proc_opts *o, int *status, bool *timed_out,
                      bool *stopped)
{
    int64_t deadline = fr_now_ms() + o->timeout_ms;
    for (;;) {
        pid_t r = waitpid(ch->pid, status, WNOHANG);
        if (r == ch->pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return errno;
        int64_t now = fr_now_ms();
        *timed_out = now >= deadline;
        *stopped = o->stop && atomic_load(o->stop) != 0;
        if (*timed_out || *stopped) {
            kill(-ch->pid, SIGKILL);
            while ((r = waitpid(ch->pid, status, 0)) < 0 && errno == EINTR)
                ;
            return r == ch->pid ? 0 : errno;
        }
        pump(ch, (int)FR_MIN(PUMP_MS, deadline - now));
    }
}

/* Consumes the SIGPIPE a write of this thread raised, unless one was pending before. */
static void consume_sigpipe(const sigset_t *pipe_only)
{
    struct timespec zero = {0, 0};
    while (sigtimedwait(pipe_only, NULL, &zero) < 0 && errno == EINTR)
        ;
}

int fr_proc_run(const struct fr_proc_opts *o, struct fr_proc_result *res, struct fr_err *err)
{
    memset(res, 0, sizeof(*res));
    res->status = -1;
    fr_buf_init(&res->output, 0);
    int in[2], out[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0)
        return fr_err_set(err, FR_EIO, errno, "cannot create a pipe: %s", strerror(errno));
    if (!o->output_to_stderr && pipe2(out, O_CLOEXEC) < 0) {
        int e = errno;
        close(in[0]);
        close(in[1]);
        return fr_err_set(err, FR_EIO, e, "cannot create a pipe: %s", strerror(e));
    }
    /* A write to a stdin the command closed raises SIGPIPE in this thread: blocked here, and
     * consumed below, so that neither ferry's disposition nor other threads are touched. */
    sigset_t pipe_only, old_mask, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    sigpending(&pending);
    bool pending_before = sigismember(&pending, SIGPIPE) == 1;

    char **env = o->nenv ? child_env(o->env, o->nenv) : environ;
    struct child ch = {.in_fd = in[1],
                       .out_fd = out[0],
                       .input = o->input,
                       .len = o->input ? o->input_len : 0,
                       .out = &res->output,
                       .keep = o->output_keep};
    int rc = spawn(o, in[0], o->output_to_stderr ? STDERR_FILENO : out[1], env, &ch.pid);
    close(in[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (o->nenv) /* the array built above; never environ, which a setenv may move meanwhile */
        free(env);
    int status = 0;
    bool timed_out = false, stopped = false;
    int wait_rc = 0;
    if (rc == 0) {
        fcntl(ch.in_fd, F_SETFL, O_NONBLOCK);
        if (ch.len == 0)
            close_fd(&ch.in_fd);
        wait_rc = wait_child(&ch, o, &status, &timed_out, &stopped);
        drain(&ch);
    }
    close_fd(&ch.in_fd);
    close_fd(&ch.out_fd);
    if (ch.epipe && !pending_before)
        consume_sigpipe(&pipe_only);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    if (rc != 0) {
        fr_buf_release(&res->output);
        return fr_err_set(err, FR_EIO, rc, "cannot run %s: %s", o->what, strerror(rc));
    }
    if (wait_rc != 0) {
        fr_buf_release(&res->output);
        return fr_err_set(err, FR_EINTERNAL, wait_rc, "cannot wait for %s: %s", o->what,
                          strerror(wait_rc));
    }
    if (res->output.len > o->output_keep) { /* its end only */
        size_t cut = res->output.len - o->output_keep;
        memmove(res->output.data, res->output.data + cut, o->output_keep);
        res->output.len = o->output_keep;
        res->output.data[o->output_keep] = '\0';
    }
    res->input_taken = ch.off;
    if (stopped) {
        res->end = FR_PROC_STOPPED;
    } else if (timed_out) {
        res->end = FR_PROC_TIMED_OUT;
    } else if (WIFEXITED(status)) {
        res->end = FR_PROC_EXITED;
        res->status = WEXITSTATUS(status);
    } else {
        res->end = FR_PROC_SIGNALED;
        res->status = WTERMSIG(status);
    }
    return FR_OK;
}

void fr_proc_result_release(struct fr_proc_result *res)
{
    fr_buf_release(&res->output);
}
