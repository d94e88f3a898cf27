#include "core/common.h"
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/buf.h"
#include "core/clock.h"
#include "store/store.h"

extern char **environ;

static const char *ferry_bin(void)
{
    const char *bin = getenv("FERRY_BIN");
    return bin && *bin ? bin : "ferry";
}

/* ---- transcripts: everything ferry printed, answered or stored, for the secrets scan ---- */

/* The directory named by FERRY_TEST_TRANSCRIPTS, or NULL when not collecting. */
static const char *transcript_dir(void)
{
    const char *d = getenv("FERRY_TEST_TRANSCRIPTS");
    return d && *d ? d : NULL;
}

/* Appends what (a label) and data to this test program's transcript file. */
static void transcript_add(const char *what, const void *data, size_t len)
{
    const char *dir = transcript_dir();
    if (!dir || !len)
        return;
    char *path = fr_asprintf("%s/out-%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return;
    char *head = fr_asprintf("\n==== %s (%zu bytes)\n", what, len);
    ssize_t ignored = write(fd, head, strlen(head));
    ignored = write(fd, data, len);
    (void)ignored;
    free(head);
    close(fd);
}

/* Records a secret the tests hand to ferry (an environment value, a --client-secret). */
static void transcript_secret(const char *value)
{
    const char *dir = transcript_dir();
    if (!dir || strlen(value) < 6 || strchr(value, '\n'))
        return;
    char *path = fr_asprintf("%s/secrets-%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return;
    char *line = fr_asprintf("%s\n", value);
    ssize_t ignored = write(fd, line, strlen(line));
    (void)ignored;
    free(line);
    close(fd);
}

void fr_test_secret(const char *value)
{
    transcript_secret(value);
}

static void transcript_file(const char *path)
{
    char *data = fr_test_read_file(path);
    if (data) {
        transcript_add(path, data, strlen(data));
        free(data);
    }
}

int fr_test_spawn(struct fr_proc *p, const char *const *args, const char *cwd,
                  const char *const *env)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq && strncmp(env[i], "FERRY_", 6) != 0)
            transcript_secret(eq + 1);
        else if (eq && strncmp(env[i], "FERRY_ADMIN_TOKEN=", 18) == 0)
            transcript_secret(eq + 1);
    }
    for (size_t i = 0; args[i]; i++)
        if (strcmp(args[i], "--client-secret") == 0 && args[i + 1])
            transcript_secret(args[i + 1]);
    memset(p, 0, sizeof(*p));
    p->stdout_fd = -1;
    for (size_t i = 0; args[i]; i++)
        p->help = p->help || strcmp(args[i], "--help") == 0 || strcmp(args[i], "-h") == 0;
    char tmpl[] = "/tmp/ferry-it-stderr-XXXXXX";
    int errfd = mkstemp(tmpl);
    if (errfd < 0)
        return -1;
    p->stderr_path = fr_strdup(tmpl);
    int pipefd[2];
    if (pipe(pipefd) < 0) {
        close(errfd);
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(errfd);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(errfd, STDERR_FILENO);
        close(pipefd[0]);
        close(pipefd[1]);
        close(errfd);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        if (cwd && chdir(cwd) < 0)
            _exit(126);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        size_t n = 0;
        while (args[n])
            n++;
        char **argv = fr_calloc(n + 2, sizeof(char *));
        argv[0] = (char *)ferry_bin();
        for (size_t i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    close(errfd);
    p->pid = pid;
    p->stdout_fd = pipefd[0];
    return 0;
}

int fr_test_wait(struct fr_proc *p, int timeout_ms)
{
    if (!p->pid)
        return -1;
    int64_t deadline = fr_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        if (r < 0 && errno != EINTR) {
            p->pid = 0;
            return -1;
        }
        if (fr_now_ms() >= deadline) {
            fr_test_kill(p);
            return -1;
        }
        fr_sleep_ms(10);
    }
}

void fr_test_kill(struct fr_proc *p)
{
    if (!p->pid)
        return;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = 0;
            return;
        }
        fr_sleep_ms(10);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

void fr_test_proc_release(struct fr_proc *p)
{
    if (!p->stderr_path)
        return; /* never spawned (a zeroed fr_proc: its stdout_fd 0 is not ours), or released */
    fr_test_kill(p);
    if (p->stdout_fd >= 0 && transcript_dir() && !p->help) {
        /* what the test did not read; a grandchild may hold the pipe: bounded */
        struct fr_buf b = FR_BUF_INIT;
        for (int i = 0; i < 20; i++) {
            struct pollfd pfd = {.fd = p->stdout_fd, .events = POLLIN};
            if (poll(&pfd, 1, 50) <= 0)
                break;
            char chunk[4096];
            ssize_t n = read(p->stdout_fd, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            fr_buf_add(&b, chunk, (size_t)n);
        }
        transcript_add("stdout", b.data, b.len);
        fr_buf_release(&b);
    }
    if (p->stderr_path && transcript_dir() && !p->help)
        transcript_file(p->stderr_path);
    if (p->stdout_fd >= 0)
        close(p->stdout_fd);
    p->stdout_fd = -1;
    if (p->stderr_path) {
        unlink(p->stderr_path);
        free(p->stderr_path);
        p->stderr_path = NULL;
    }
}

char *fr_test_proc_stderr(const struct fr_proc *p)
{
    char *s = p->stderr_path ? fr_test_read_file(p->stderr_path) : NULL;
    return s ? s : fr_strdup("");
}

int fr_test_ready_port(struct fr_proc *p, int timeout_ms)
{
    static const char ready[] = "listening on http://127.0.0.1:";
    struct fr_buf line = FR_BUF_INIT;
    int64_t deadline = fr_now_ms() + timeout_ms;
    while (fr_now_ms() < deadline && !strchr(fr_buf_str(&line), '\n')) {
        struct pollfd pfd = {.fd = p->stdout_fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            char c;
            if (read(p->stdout_fd, &c, 1) != 1)
                break;
            fr_buf_addc(&line, c);
        }
    }
    const char *at = strstr(fr_buf_str(&line), ready);
    int port = at ? (int)strtol(at + strlen(ready), NULL, 10) : 0;
    fr_buf_release(&line);
    if (port <= 0) {
        char *err = fr_test_proc_stderr(p);
        fprintf(stderr, "ferry did not start; its stderr:\n%s\n", err);
        free(err);
        port = 0;
    }
    return port;
}

static void drain(int fd, struct fr_buf *b)
{
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        fr_buf_add(b, chunk, (size_t)n);
}

int fr_test_run(const char *const *args, const char *cwd, const char *const *env, int timeout_ms,
                char **out, char **err)
{
    struct fr_proc p;
    if (fr_test_spawn(&p, args, cwd, env) < 0)
        return -1;
    struct fr_buf ob = FR_BUF_INIT;
    int64_t deadline = fr_now_ms() + timeout_ms;
    /* Read stdout while waiting so a chatty child never blocks on a full pipe. */
    for (;;) {
        struct pollfd pfd = {.fd = p.stdout_fd, .events = POLLIN};
        int left = (int)(deadline - fr_now_ms());
        if (left <= 0)
            break;
        int r = poll(&pfd, 1, FR_MIN(left, 100));
        if (r > 0) {
            char chunk[4096];
            ssize_t n = read(p.stdout_fd, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            fr_buf_add(&ob, chunk, (size_t)n);
        }
    }
    int left = (int)(deadline - fr_now_ms());
    int status = fr_test_wait(&p, left > 0 ? left : 1);
    drain(p.stdout_fd, &ob);
    if (!p.help)
        transcript_add("stdout", ob.data, ob.len);
    if (out)
        *out = fr_buf_detach(&ob, NULL);
    else
        fr_buf_release(&ob);
    if (err)
        *err = fr_test_proc_stderr(&p);
    fr_test_proc_release(&p);
    return status;
}

int fr_test_mock_start(struct fr_test_mock *m, const char *const *extra)
{
    memset(m, 0, sizeof(*m));
    const char *args[64] = {"mock", "--listen", "127.0.0.1:0"};
    size_t n = 3;
    for (size_t i = 0; extra && extra[i] && n < FR_ARRAY_LEN(args) - 1; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    if (fr_test_spawn(&m->proc, args, NULL, NULL) < 0)
        return -1;
    m->port = fr_test_ready_port(&m->proc, 10000);
    if (m->port <= 0) {
        fr_test_proc_release(&m->proc);
        return -1;
    }
    snprintf(m->base_url, sizeof(m->base_url), "http://127.0.0.1:%d", m->port);
    return 0;
}

void fr_test_mock_stop(struct fr_test_mock *m)
{
    fr_test_proc_release(&m->proc);
}

json_t *fr_test_mock_stats(const struct fr_test_mock *m)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/mock/stats", m->base_url);
    long status = 0;
    char *body = NULL;
    if (fr_test_http("GET", url, NULL, NULL, &status, &body) < 0 || status != 200) {
        free(body);
        return NULL;
    }
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

long fr_test_stat_requests(json_t *stats, const char *route, const char *status)
{
    json_t *v = json_object_get(json_object_get(json_object_get(stats, "requests"), route), status);
    return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    fr_buf_add(ud, data, size * nmemb);
    return size * nmemb;
}

int fr_test_http(const char *method, const char *url, const char *const *headers, const char *body,
                 long *status, char **resp)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct fr_buf out = FR_BUF_INIT;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!strstr(url, "/oauth/token")) /* the tests fetch the mock's tokens themselves */
        transcript_add(url, out.data, out.len);
    if (resp)
        *resp = fr_buf_detach(&out, NULL);
    else
        fr_buf_release(&out);
    return rc == CURLE_OK ? 0 : -1;
}

char *fr_test_tmpdir(void)
{
    char tmpl[] = "/tmp/ferry-it-XXXXXX";
    if (!mkdtemp(tmpl))
        return NULL;
    return fr_strdup(tmpl);
}

/* What ferry wrote in a test's directory: stores, logs, sinks, metrics files. */
static bool ferry_output(const char *path)
{
    static const char *const ends[] = {".db",      ".db-wal", ".log", ".jsonl",
                                       ".csv.out", ".prom",   ".out", ".json"};
    size_t n = strlen(path);
    for (size_t i = 0; i < FR_ARRAY_LEN(ends); i++) {
        size_t m = strlen(ends[i]);
        if (n >= m && strcmp(path + n - m, ends[i]) == 0)
            return true;
    }
    return false;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F && transcript_dir() && ferry_output(path)) {
        FILE *f = fopen(path, "rb");
        if (f) {
            struct fr_buf b = FR_BUF_INIT;
            char chunk[65536];
            size_t n;
            while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                fr_buf_add(&b, chunk, n);
            fclose(f);
            transcript_add(path, b.data, b.len);
            fr_buf_release(&b);
        }
    }
    return remove(path);
}

void fr_test_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *fr_test_write_file(const char *dir, const char *name, const char *content)
{
    char *path = fr_asprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        free(path);
        return NULL;
    }
    fputs(content, f);
    fclose(f);
    return path;
}

char *fr_test_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct fr_buf b = FR_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fr_buf_add(&b, chunk, n);
    fclose(f);
    return fr_buf_detach(&b, NULL);
}

void fr_test_write_orders(const char *dir, int n, int bad_every)
{
    char *path = fr_asprintf("%s/orders.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("order_id,participant_id,order_date,amount\n", f);
    for (int i = 1; i <= n; i++) {
        if (bad_every && i % bad_every == 0)
            fprintf(f, "SO-%d,P%06d,2026-11-02,\"12,5\"\n", i, 1 + i % 1000);
        else
            fprintf(f, "SO-%d,P%06d,2026-11-02,%d.25\n", i, 1 + i % 1000, i);
    }
    fclose(f);
    free(path);
}

long fr_test_mock_credits(json_t *stats, const char *name)
{
    return (long)json_integer_value(json_object_get(json_object_get(stats, "credits"), name));
}

long fr_test_route_total(json_t *stats, const char *route)
{
    long total = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(json_object_get(stats, "requests"), route), k, v) total +=
        (long)json_integer_value(v);
    return total;
}

long fr_test_summary_count(const char *err, const char *name)
{
    const char *line = strstr(err, "\"msg\":\"run summary\"");
    assert_non_null(line);
    char *pat = fr_asprintf("\"%s\":", name);
    const char *at = strstr(line, pat);
    free(pat);
    assert_non_null(at);
    return strtol(strchr(at, ':') + 1, NULL, 10);
}

struct fr_test_receiver {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char **bodies;
    size_t n;
    char **headers; /* per request: "name: value\n" lines, names lower-cased */
    char **paths;   /* per request: the path it was sent to */
    size_t fail_left;
    unsigned fail_status;
    int delay_ms; /* before each answer */
};

static enum MHD_Result add_header_line(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    struct fr_buf *b = cls;
    for (const char *k = key; *k; k++)
        fr_buf_addc(b, (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k));
    fr_buf_addf(b, ": %s\n", value ? value : "");
    return MHD_YES;
}

static enum MHD_Result on_hook(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    struct fr_test_receiver *r = cls;
    struct fr_buf *body = *con_cls;
    if (!body) {
        body = fr_calloc(1, sizeof(*body));
        *con_cls = body;
        return MHD_YES;
    }
    if (*size) {
        fr_buf_add(body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    struct fr_buf lines = FR_BUF_INIT;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_line, &lines);
    unsigned status = MHD_HTTP_OK;
    pthread_mutex_lock(&r->lock);
    r->bodies = fr_reallocarray(r->bodies, r->n + 1, sizeof(*r->bodies));
    r->headers = fr_reallocarray(r->headers, r->n + 1, sizeof(*r->headers));
    r->paths = fr_reallocarray(r->paths, r->n + 1, sizeof(*r->paths));
    r->headers[r->n] = fr_buf_detach(&lines, NULL);
    r->paths[r->n] = fr_strdup(url);
    r->bodies[r->n++] = fr_buf_detach(body, NULL);
    if (r->fail_left > 0) {
        r->fail_left--;
        status = r->fail_status;
    }
    int delay_ms = r->delay_ms;
    /* What ferry sent is its output, scanned like the rest; the path is the sink's (a
     * secret one, in the secrets tests) and stays out of the label. */
    transcript_add("a POST to a test receiver", r->bodies[r->n - 1], strlen(r->bodies[r->n - 1]));
    pthread_mutex_unlock(&r->lock);
    if (delay_ms > 0)
        fr_sleep_ms(delay_ms);
    free(body);
    *con_cls = NULL;
    static const char ok[] = "ok";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(ok), (void *)ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

struct fr_test_receiver *fr_test_receiver_start(char **url)
{
    struct fr_test_receiver *r = fr_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_hook, r,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!r->daemon) {
        free(r);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT);
    *url = fr_asprintf("http://127.0.0.1:%u/hook", info ? info->port : 0);
    return r;
}

size_t fr_test_receiver_count(struct fr_test_receiver *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

char *fr_test_receiver_body(struct fr_test_receiver *r, size_t i)
{
    pthread_mutex_lock(&r->lock);
    char *b = i < r->n ? fr_strdup(r->bodies[i]) : NULL;
    pthread_mutex_unlock(&r->lock);
    return b;
}

void fr_test_receiver_stop(struct fr_test_receiver *r)
{
    if (!r)
        return;
    MHD_stop_daemon(r->daemon);
    for (size_t i = 0; i < r->n; i++) {
        free(r->bodies[i]);
        free(r->headers[i]);
        free(r->paths[i]);
    }
    free(r->bodies);
    free(r->headers);
    free(r->paths);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void fr_test_receiver_fail_next(struct fr_test_receiver *r, size_t n, unsigned status)
{
    pthread_mutex_lock(&r->lock);
    r->fail_left = n;
    r->fail_status = status;
    pthread_mutex_unlock(&r->lock);
}

void fr_test_receiver_delay(struct fr_test_receiver *r, int ms)
{
    pthread_mutex_lock(&r->lock);
    r->delay_ms = ms;
    pthread_mutex_unlock(&r->lock);
}

char *fr_test_receiver_path(struct fr_test_receiver *r, size_t i)
{
    pthread_mutex_lock(&r->lock);
    char *p = i < r->n ? fr_strdup(r->paths[i]) : NULL;
    pthread_mutex_unlock(&r->lock);
    return p;
}

char *fr_test_receiver_header(struct fr_test_receiver *r, size_t i, const char *name)
{
    char *want = fr_asprintf("%s: ", name);
    for (char *p = want; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    char *value = NULL;
    pthread_mutex_lock(&r->lock);
    for (const char *line = i < r->n ? r->headers[i] : NULL; line && *line && !value;) {
        const char *eol = strchr(line, '\n');
        if (strncmp(line, want, strlen(want)) == 0)
            value = fr_strndup(line + strlen(want), (size_t)(eol - line) - strlen(want));
        line = eol + 1;
    }
    pthread_mutex_unlock(&r->lock);
    free(want);
    return value;
}

void fr_test_store_dead_letter(const char *dir, const char *source, const char *event_id,
                               const char *body)
{
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open("sqlite:ferry.db", dir, &st, NULL), 0);
    struct fr_event_in ev = {.source = source,
                             .event_id = event_id,
                             .body = body,
                             .body_len = strlen(body),
                             .received_ms = fr_wall_ms()};
    assert_int_equal(fr_store_events_add(st, &ev, 1, NULL, NULL), 0);
    struct fr_event *got = NULL;
    size_t n = 0;
    assert_int_equal(fr_store_events_claim(st, "test", fr_wall_ms(), 60000, 1, &got, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(fr_store_event_dead(st, got[0].seq, "test", "HTTP 500", fr_wall_ms(), NULL),
                     0);
    fr_event_release(&got[0]);
    free(got);
    fr_store_close(st);
}

void fr_test_store_old_success(const char *dir, const char *job, int64_t ago_ms)
{
    struct fr_store *st = NULL;
    assert_int_equal(fr_store_open("sqlite:ferry.db", dir, &st, NULL), 0);
    struct fr_run r = {.exit_code = -1, .started_ms = fr_wall_ms() - ago_ms};
    fr_strlcpy(r.id, "old-run", sizeof(r.id));
    fr_strlcpy(r.job, job, sizeof(r.job));
    assert_int_equal(fr_store_run_begin(st, &r, NULL), 0);
    fr_strlcpy(r.status, "ok", sizeof(r.status));
    r.exit_code = 0;
    r.ended_ms = r.started_ms + 1000;
    assert_int_equal(fr_store_run_finish(st, &r, NULL), 0);
    fr_store_close(st);
}
