/*
 * End-to-end on PostgreSQL: several ferry processes on one database.
 * Two `ferry serve` instances share one queue under a load of signed
 * webhooks while one is SIGKILLed and restarted; a push job killed on one
 * instance resumes on another; the database server restarts under load;
 * two instances with one scheduled job run each slot once, and a run asked
 * for on one while the other runs the job is refused; two `ferry run` of
 * one job on two machines: the second exits 6 naming the first, and a
 * SIGKILLed run's lock goes with its database session; a password in the
 * store URL never shows in output, logs or answers.
 * The cluster comes from FERRY_TEST_PG_URL (tests/support/pgtest.h); the
 * restart test starts one of its own.
 */
#include "core/common.h"
#include "harness.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/redact.h"
#include "hooks/verify.h"
#include "pgtest.h"
#include "store/store.h"

#define GH_SECRET "gh-secret-current-7f3a"
#define WORKERS   4 /* delivery workers per instance: at most this many in flight at a kill */

static const char *const secret_env[] = {"S_GH=" GH_SECRET, "IT_SECRET=demo-secret", NULL};

struct env {
    char *dir;
    char *db_url;      /* the test's database */
    char *cluster_dir; /* a cluster of the test's own, or NULL */
    struct fr_test_receiver *recv;
    char *recv_url;
    struct fr_proc serve[2];
    int port[2];
    struct fr_proc run[2];    /* ferry run processes a test starts; killed in teardown */
    struct fr_test_mock mock; /* stopped in teardown when started */
};

static int setup(void **state)
{
    struct env *e = fr_calloc(1, sizeof(*e));
    *state = e;
    e->serve[0].stdout_fd = e->serve[1].stdout_fd = -1; /* not 0: release would close stdin */
    e->run[0].stdout_fd = e->run[1].stdout_fd = -1;
    e->dir = fr_test_tmpdir();
    e->recv = fr_test_receiver_start(&e->recv_url);
    return e->dir && e->recv ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    for (int i = 0; i < 2; i++) {
        fr_test_kill(&e->serve[i]);
        fr_test_proc_release(&e->serve[i]);
        fr_test_kill(&e->run[i]);
        fr_test_proc_release(&e->run[i]);
    }
    fr_test_mock_stop(&e->mock);
    fr_test_receiver_stop(e->recv);
    if (e->cluster_dir)
        fr_pgtest_cluster_stop(e->cluster_dir);
    else if (e->db_url)
        fr_pgtest_db_drop(e->db_url);
    fr_test_rmtree(e->dir);
    free(e->dir);
    free(e->db_url);
    free(e->cluster_dir);
    free(e->recv_url);
    free(e);
    return 0;
}

/* A new database in the shared cluster, or the test fails (skips with FERRY_TEST_PG_URL=skip). */
static void use_shared_db(struct env *e)
{
    if (fr_pgtest_skipped())
        skip();
    const char *why = NULL;
    e->db_url = fr_pgtest_db_new(&why);
    if (!e->db_url)
        fail_msg("%s", why);
}

static void write_serve_config(struct env *e)
{
    char *yaml = fr_asprintf("store: %s\n"
                             "webhooks:\n"
                             "  listen: 127.0.0.1:0\n"
                             "  timeout: 5s\n"
                             "  sources:\n"
                             "    gh:\n"
                             "      path: /hooks/gh\n"
                             "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                             "      deliver: { url: \"%s\", timeout: 2s, max_attempts: 20,"
                             " base: 50ms, cap: 200ms }\n",
                             e->db_url, e->recv_url);
    free(fr_test_write_file(e->dir, "ferry.yaml", yaml));
    free(yaml);
}

/* Starts instance i and reads its port from the "listening on" line. */
static void start_serve(struct env *e, int i)
{
    const char *args[] = {"serve", "-c", "ferry.yaml", NULL};
    assert_int_equal(fr_test_spawn(&e->serve[i], args, e->dir, secret_env), 0);
    e->port[i] = fr_test_ready_port(&e->serve[i], 20000);
    if (e->port[i] <= 0)
        fail();
}

static const struct fr_verify_conf gh_conf = {.scheme = FR_VERIFY_GITHUB};

/* A GitHub delivery of body with id; the HTTP status, 0 when none came. */
static long post_github(int port, const char *id, const char *body)
{
    char *sig = fr_verify_sign(&gh_conf, GH_SECRET, NULL, 0, body, strlen(body));
    char *h1 = fr_asprintf("X-Hub-Signature-256: %s", sig);
    char *h2 = fr_asprintf("X-GitHub-Delivery: %s", id);
    const char *h[] = {h1, h2, "Content-Type: application/json", NULL};
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hooks/gh", port);
    long status = 0;
    if (fr_test_http("POST", url, h, body, &status, NULL) < 0)
        status = 0;
    free(sig);
    free(h1);
    free(h2);
    return status;
}

/* ---- load ----------------------------------------------------------------------------- */

#define LOAD_THREADS 4
#define LOAD_MAX     3000

struct load;

struct loader {
    pthread_t thread;
    int index;
    struct load *load;
    char *acked[LOAD_MAX]; /* ids answered 200 */
    size_t nacked;
    size_t other; /* answers neither 200 nor 503 (nor no answer) */
};

struct load {
    atomic_int port[2]; /* 0 while that instance is down */
    atomic_int stop;
    atomic_int acked_total;
    atomic_int unavailable; /* 503 answers */
    struct loader t[LOAD_THREADS];
};

static void *load_main(void *arg)
{
    struct loader *me = arg;
    struct load *l = me->load;
    for (int i = 0; !atomic_load(&l->stop) && me->nacked < LOAD_MAX; i++) {
        /* spread over both instances, each request to the next one that is up */
        int port = atomic_load(&l->port[i % 2]);
        if (!port)
            port = atomic_load(&l->port[(i + 1) % 2]);
        if (!port) {
            fr_sleep_ms(5);
            continue;
        }
        char id[48], body[96];
        snprintf(id, sizeof(id), "load-%d-%d", me->index, i);
        snprintf(body, sizeof(body), "{\"thread\":%d,\"n\":%d}", me->index, i);
        long status = post_github(port, id, body);
        if (status == 200) {
            me->acked[me->nacked++] = fr_strdup(id);
            atomic_fetch_add(&l->acked_total, 1);
        } else if (status == 503) {
            atomic_fetch_add(&l->unavailable, 1);
            fr_sleep_ms(10);
        } else if (status != 0) {
            me->other++;
        }
    }
    return NULL;
}

static struct load *load_start(void)
{
    struct load *l = fr_calloc(1, sizeof(*l));
    for (int i = 0; i < LOAD_THREADS; i++) {
        l->t[i].index = i;
        l->t[i].load = l;
        assert_int_equal(pthread_create(&l->t[i].thread, NULL, load_main, &l->t[i]), 0);
    }
    return l;
}

static void load_stop(struct load *l)
{
    atomic_store(&l->stop, 1);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(l->t[i].thread, NULL);
}

static void load_free(struct load *l)
{
    for (int i = 0; i < LOAD_THREADS; i++)
        for (size_t k = 0; k < l->t[i].nacked; k++)
            free(l->t[i].acked[k]);
    free(l);
}

static void wait_acked(struct load *l, int more, int timeout_ms)
{
    int target = atomic_load(&l->acked_total) + more;
    int64_t deadline = fr_now_ms() + timeout_ms;
    while (atomic_load(&l->acked_total) < target && fr_now_ms() < deadline)
        fr_sleep_ms(5);
    assert_true(atomic_load(&l->acked_total) >= target);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Waits until every acknowledged id reached the receiver; returns how many
 * deliveries repeated an id already delivered.
 */
static size_t check_delivered(struct env *e, struct load *l, int timeout_ms, size_t *distinct)
{
    size_t nacked = 0;
    for (int i = 0; i < LOAD_THREADS; i++)
        nacked += l->t[i].nacked;
    char **acked = fr_calloc(nacked ? nacked : 1, sizeof(char *));
    size_t n = 0;
    for (int i = 0; i < LOAD_THREADS; i++)
        for (size_t k = 0; k < l->t[i].nacked; k++)
            acked[n++] = l->t[i].acked[k];
    qsort(acked, n, sizeof(char *), cmp_str);
    size_t missing = n, repeats = 0, got = 0;
    char **received = NULL;
    int64_t deadline = fr_now_ms() + timeout_ms;
    while (fr_now_ms() < deadline) {
        for (size_t k = got; k < fr_test_receiver_count(e->recv); k++) {
            received = fr_reallocarray(received, got + 1, sizeof(char *));
            received[got++] = fr_test_receiver_header(e->recv, k, "X-Ferry-Event-Id");
        }
        char **sorted = fr_calloc(got ? got : 1, sizeof(char *));
        memcpy(sorted, received, got * sizeof(char *));
        qsort(sorted, got, sizeof(char *), cmp_str);
        repeats = 0;
        for (size_t k = 1; k < got; k++)
            repeats += strcmp(sorted[k - 1], sorted[k]) == 0;
        missing = 0;
        for (size_t k = 0; k < n; k++)
            missing += !bsearch(&acked[k], sorted, got, sizeof(char *), cmp_str);
        free(sorted);
        if (!missing)
            break;
        fr_sleep_ms(200);
    }
    if (missing)
        fprintf(stderr, "%zu of %zu acknowledged events never delivered\n", missing, n);
    assert_int_equal(missing, 0);
    assert_true(n >= 100);
    *distinct = got - repeats;
    for (size_t k = 0; k < got; k++)
        free(received[k]);
    free(received);
    free(acked);
    return repeats;
}

static int add_stats(const struct fr_queue_stats *q, void *ud)
{
    uint64_t *t = ud;
    t[0] += q->pending;
    t[1] += q->delivered;
    t[2] += q->dead;
    return 0;
}

/* The distinct event ids the receiver has seen so far. */
static size_t received_distinct(struct env *e)
{
    size_t got = fr_test_receiver_count(e->recv), distinct = 0;
    char **ids = fr_calloc(got ? got : 1, sizeof(char *));
    for (size_t k = 0; k < got; k++)
        ids[k] = fr_test_receiver_header(e->recv, k, "X-Ferry-Event-Id");
    qsort(ids, got, sizeof(char *), cmp_str);
    for (size_t k = 0; k < got; k++)
        distinct += k == 0 || strcmp(ids[k - 1], ids[k]) != 0;
    for (size_t k = 0; k < got; k++)
        free(ids[k]);
    free(ids);
    return distinct;
}

/*
 * In the database: every event delivered, each id once. Compared once the
 * queue is empty: events stored but never acknowledged arrive after the
 * acknowledged ones that check_delivered waits for.
 */
static void check_stored_once(struct env *e)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_store_open(e->db_url, NULL, &st, &err), 0);
    uint64_t t[3] = {0};
    /* stored but never acknowledged (the instance died, or the connection before the answer
     * to COMMIT) and leased by a worker that died: pending until its lease expires */
    int64_t deadline = fr_now_ms() + 40000;
    do {
        memset(t, 0, sizeof(t));
        assert_int_equal(fr_store_queue_stats(st, true, add_stats, t, &err), 0);
    } while (t[0] && fr_now_ms() < deadline && (fr_sleep_ms(100), 1));
    fr_store_close(st);
    assert_int_equal(t[0], 0);
    assert_int_equal(t[2], 0);
    fr_sleep_ms(200); /* the receiver has answered the last delivery before the store knew */
    assert_int_equal(t[1], received_distinct(e));
}

/* ---- two instances, one killed -------------------------------------------------------- */

static void test_two_instances_one_killed(void **state)
{
    struct env *e = *state;
    use_shared_db(e);
    write_serve_config(e);
    /* slow deliveries: the kill finds instance 0's workers holding leases */
    fr_test_receiver_delay(e->recv, 10);
    start_serve(e, 0);
    start_serve(e, 1);
    struct load *l = load_start();
    atomic_store(&l->port[0], e->port[0]);
    atomic_store(&l->port[1], e->port[1]);
    /* one event sent to both instances: stored once (the unique key), delivered once */
    assert_int_equal(post_github(e->port[0], "both-1", "{\"both\":1}"), 200);
    assert_int_equal(post_github(e->port[1], "both-1", "{\"both\":1}"), 200);
    wait_acked(l, 150, 30000);
    /* instance 0 dies with requests and deliveries in flight: no chance to answer or release */
    atomic_store(&l->port[0], 0);
    kill(e->serve[0].pid, SIGKILL);
    assert_int_equal(fr_test_wait(&e->serve[0], 5000), 128 + SIGKILL);
    fr_test_proc_release(&e->serve[0]);
    wait_acked(l, 100, 30000); /* instance 1 alone */
    start_serve(e, 0);
    atomic_store(&l->port[0], e->port[0]);
    wait_acked(l, 150, 30000);
    load_stop(l);
    for (int i = 0; i < LOAD_THREADS; i++)
        assert_int_equal(l->t[i].other, 0);
    /* the killed instance's leases expire (delivery timeout + margin); then everything arrives */
    size_t distinct = 0;
    size_t repeats = check_delivered(e, l, 90000, &distinct);
    /* at least once: only what was on the wire at the kill may arrive twice */
    assert_true(repeats <= WORKERS);
    check_stored_once(e);
    load_free(l);
}

/* A cluster of e's own (teardown stops it), for tests that stop or restart the server. */
static void own_cluster(struct env *e)
{
    const char *why = NULL;
    if (fr_pgtest_cluster_start(&e->db_url, &e->cluster_dir, &why))
        fail_msg("%s", why);
}

/* ---- the database restarted under load ----------------------------------------------- */

static void test_database_restart_under_load(void **state)
{
    struct env *e = *state;
    if (fr_pgtest_skipped())
        skip();
    own_cluster(e);
    write_serve_config(e);
    start_serve(e, 0);
    struct load *l = load_start();
    atomic_store(&l->port[0], e->port[0]);
    wait_acked(l, 100, 30000);
    /* the server dies (immediate shutdown, like a crash) and comes back on the same port */
    assert_int_equal(fr_pgtest_cluster_restart(e->cluster_dir), 0);
    wait_acked(l, 100, 60000); /* the receiver answered 503 meanwhile, then reconnected */
    load_stop(l);
    for (int i = 0; i < LOAD_THREADS; i++)
        assert_int_equal(l->t[i].other, 0);
    size_t distinct = 0;
    check_delivered(e, l, 60000, &distinct);
    check_stored_once(e);
    load_free(l);
    /* and it still stops cleanly */
    kill(e->serve[0].pid, SIGTERM);
    assert_int_equal(fr_test_wait(&e->serve[0], 15000), 0);
}

/* /readyz says why when the database is gone, and the receiver answers 503, never 2xx. */
static void test_database_down_readyz_and_503(void **state)
{
    struct env *e = *state;
    if (fr_pgtest_skipped())
        skip();
    own_cluster(e);
    write_serve_config(e);
    start_serve(e, 0);
    char ready[96];
    snprintf(ready, sizeof(ready), "http://127.0.0.1:%d/readyz", e->port[0]);
    long status = 0;
    char *resp = NULL;
    assert_int_equal(fr_test_http("GET", ready, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    free(resp);
    assert_int_equal(fr_pgtest_cluster_down(e->cluster_dir), 0);
    assert_int_equal(post_github(e->port[0], "down-1", "{\"d\":1}"), 503);
    assert_int_equal(fr_test_http("GET", ready, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 503);
    assert_non_null(strstr(resp, "127.0.0.1")); /* why: the server it cannot reach */
    free(resp);
    assert_int_equal(fr_pgtest_cluster_up(e->cluster_dir), 0);
    /* the sender's retry is stored once the database is back, and delivered */
    int64_t deadline = fr_now_ms() + 20000;
    long got = 0;
    while ((got = post_github(e->port[0], "down-1", "{\"d\":1}")) != 200 && fr_now_ms() < deadline)
        fr_sleep_ms(200);
    assert_int_equal(got, 200);
    deadline = fr_now_ms() + 20000;
    while (fr_test_receiver_count(e->recv) < 1 && fr_now_ms() < deadline)
        fr_sleep_ms(50);
    assert_int_equal(fr_test_receiver_count(e->recv), 1);
    assert_int_equal(fr_test_http("GET", ready, NULL, NULL, &status, &resp), 0);
    assert_int_equal(status, 200);
    free(resp);
}

/* ---- a push job killed on one instance, resumed on another --------------------------- */

/*
 * dir/ferry.yaml on e's database: the target "im" (the mock at mock_url)
 * and the push job "credits" of n records of dir/orders.csv (written
 * too), in batches of batch, in_flight at a time; job_extra ends the job's
 * keys, tail the file.
 */
static void write_credits_config(struct env *e, const char *dir, const char *mock_url, int n,
                                 int batch, int in_flight, const char *job_extra, const char *tail)
{
    char *yaml = fr_asprintf(
        "store: %s\n"
        "targets:\n"
        "  im:\n"
        "    base_url: %s\n"
        "    auth:\n"
        "      type: oauth2_client_credentials\n"
        "      token_url: %s/oauth/token\n"
        "      client_id: demo\n"
        "      client_secret: ${IT_SECRET}\n"
        "    retry: { max_attempts: 10, base: 20ms, cap: 1s, max_elapsed: 60s, budget: 100%% }\n"
        "    max_in_flight: %d\n"
        "jobs:\n"
        "  credits:\n"
        "    kind: push\n"
        "    target: im\n"
        "    source: { type: csv, path: orders.csv }\n"
        "    request: { method: POST, path: /credits/batch, batch_size: %d }\n"
        "    key: sourceRef\n"
        "    map:\n"
        "      participantId: participant_id\n"
        "      transactionDate: { from: order_date, type: date }\n"
        "      amount: { from: amount, type: number, required: true }\n"
        "      currencyCode: { value: USD }\n"
        "      periodId: { value: \"2026-11\" }\n"
        "      sourceRef: { from: order_id, required: true }\n"
        "    results: { path: /results, key: sourceRef }\n"
        "%s%s",
        e->db_url, mock_url, mock_url, in_flight, batch, job_extra, tail);
    free(fr_test_write_file(dir, "ferry.yaml", yaml));
    free(yaml);
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "order_id,participant_id,order_date,amount\n");
    for (int i = 1; i <= n; i++)
        fr_buf_addf(&b, "SO-%d,P%06d,2026-11-02,%d.25\n", i, 1 + i % 1000, i);
    free(fr_test_write_file(dir, "orders.csv", fr_buf_str(&b)));
    fr_buf_release(&b);
}

/* The job's keys for an API without idempotency: body errors, and a lookup for keys in doubt. */
#define LOOKUP_JOB_EXTRA                                                                           \
    "    body_errors: [ { path: /success, equals: false, message: /error } ]\n"                    \
    "    lookup: { method: GET, path: \"/credits?$filter=sourceRef eq '{{key}}'\", found: "        \
    "/value/0 }\n"

static void write_push_config(struct env *e, const char *dir, const char *mock_url)
{
    write_credits_config(e, dir, mock_url, 5000, 50, 4, LOOKUP_JOB_EXTRA, "");
}

static void test_push_killed_on_a_resumed_on_b(void **state)
{
    struct env *e = *state;
    use_shared_db(e);
    /* an API without idempotency, slow enough that the kill finds batches on the wire */
    const char *mock_args[] = {"--faults", "no_dedupe,slow=1:50ms", "--seed", "7", NULL};
    struct fr_test_mock mock;
    assert_int_equal(fr_test_mock_start(&mock, mock_args), 0);
    /* two machines: two directories, one database */
    char *dir_a = fr_asprintf("%s/a", e->dir), *dir_b = fr_asprintf("%s/b", e->dir);
    assert_int_equal(mkdir(dir_a, 0700), 0);
    assert_int_equal(mkdir(dir_b, 0700), 0);
    write_push_config(e, dir_a, mock.base_url);
    write_push_config(e, dir_b, mock.base_url);
    const char *argv[] = {"run", "credits", "-c", "ferry.yaml", "--no-progress", NULL};
    struct fr_proc a;
    assert_int_equal(fr_test_spawn(&a, argv, dir_a, secret_env), 0);
    /* killed once part of the records are stored */
    int64_t deadline = fr_now_ms() + 60000;
    long stored = 0;
    while (fr_now_ms() < deadline && stored < 500) {
        fr_sleep_ms(50);
        json_t *stats = fr_test_mock_stats(&mock);
        stored =
            (long)json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored"));
        json_decref(stats);
    }
    assert_true(stored >= 500);
    kill(a.pid, SIGKILL);
    assert_int_equal(fr_test_wait(&a, 10000), 128 + SIGKILL);
    fr_test_proc_release(&a);
    char *out = NULL, *err = NULL;
    assert_int_equal(fr_test_run(argv, dir_b, secret_env, 180000, &out, &err), 0);
    json_t *stats = fr_test_mock_stats(&mock);
    json_t *credits = json_object_get(stats, "credits");
    assert_int_equal(json_integer_value(json_object_get(credits, "stored")), 5000);
    assert_int_equal(json_integer_value(json_object_get(credits, "max_store_count")), 1);
    json_decref(stats);
    /* B saw A's run as interrupted and skipped what A had finished */
    assert_non_null(strstr(err, "\"msg\":\"run summary\""));
    free(out);
    free(err);
    fr_test_mock_stop(&mock);
    free(dir_a);
    free(dir_b);
}

/* ---- one run of a job at a time, over machines ---------------------------------------- */

/*
 * The records of the overlap cases: 100 batches of 20, two on the wire at a
 * time, each answered 100 ms after the mock acted (slow=1:100ms): a run
 * posts for about 5 s, time enough for another to start beside it.
 */
#define OVERLAP_RECORDS 2000

/* A "machine": the directory e->dir/name (made here) with its own ferry.yaml on e's database. */
static char *machine_dir(struct env *e, const char *name)
{
    char *dir = fr_asprintf("%s/%s", e->dir, name);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_credits_config(e, dir, e->mock.base_url, OVERLAP_RECORDS, 20, 2, LOOKUP_JOB_EXTRA, "");
    return dir;
}

static long mock_credits(const struct fr_test_mock *m, const char *name)
{
    json_t *stats = fr_test_mock_stats(m);
    assert_non_null(stats);
    long v = (long)json_integer_value(json_object_get(json_object_get(stats, "credits"), name));
    json_decref(stats);
    return v;
}

/* Waits (bounded) until the mock has stored a credit: a run is posting. */
static void wait_posting(const struct fr_test_mock *m)
{
    int64_t deadline = fr_now_ms() + 30000;
    while (mock_credits(m, "stored") == 0 && fr_now_ms() < deadline)
        fr_sleep_ms(20);
    if (mock_credits(m, "stored") == 0)
        fail_msg("no run posted a credit within 30 s");
}

/* Everything left on fd until EOF (a child's stdout after it exited). Caller frees. */
static char *drain_fd(int fd)
{
    struct fr_buf b = FR_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        fr_buf_add(&b, chunk, (size_t)n);
    return fr_buf_detach(&b, NULL);
}

/* The run id on the first line of a run's summary ("run ID  job ..."). Caller frees. */
static char *summary_run_id(const char *out)
{
    assert_true(strncmp(out, "run ", 4) == 0);
    return fr_strndup(out + 4, strcspn(out + 4, " \n"));
}

/* Whether p has exited, without waiting; then *status is what fr_test_wait gives, p->pid 0. */
static bool exited(struct fr_proc *p, int *status)
{
    int st;
    if (!p->pid || waitpid(p->pid, &st, WNOHANG) != p->pid)
        return false;
    p->pid = 0;
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return true;
}

/* For a run that should have been refused: its exit status, what the mock stored, its stderr. */
static void explain_not_refused(const struct fr_test_mock *m, int status, const char *err)
{
    fprintf(stderr,
            "the run beside a running one exited %d, not 6; the mock stored %ld credits of %d, "
            "one of them %ld times\n%s\n",
            status, mock_credits(m, "stored"), OVERLAP_RECORDS, mock_credits(m, "max_store_count"),
            err ? err : "");
}

static const char *const run_args[] = {"run", "credits", "-c", "ferry.yaml", "--no-progress", NULL};

/*
 * Two `ferry run` of one job on two machines (two directories, one
 * database), the second started while the first posts to a slow API
 * without idempotency: the second exits 6 naming the first's run id and
 * pid, and changes nothing; the first stores every record once; a later
 * run with --wait finds every record done.
 */
static void test_overlapping_runs_exit_6(void **state)
{
    struct env *e = *state;
    use_shared_db(e);
    const char *mock_args[] = {"--faults", "no_dedupe,slow=1:100ms", NULL};
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    char *dir_a = machine_dir(e, "a"), *dir_b = machine_dir(e, "b");
    struct fr_proc *first = &e->run[0];
    assert_int_equal(fr_test_spawn(first, run_args, dir_a, secret_env), 0);
    /* the pid the refusal must name, taken now: fr_test_wait zeroes first->pid */
    char *first_pid = fr_asprintf(" pid %d since ", (int)first->pid);
    wait_posting(&e->mock);

    char *out = NULL, *err = NULL;
    int status = fr_test_run(run_args, dir_b, secret_env, 180000, &out, &err);
    if (status != 6)
        explain_not_refused(&e->mock, status, err);
    assert_int_equal(status, 6);
    assert_non_null(strstr(err, "another run of job credits is in progress: run "));
    assert_non_null(strstr(err, first_pid));
    assert_null(strstr(err, "\"msg\":\"request\"")); /* it asked the API nothing */
    free(out);

    assert_int_equal(fr_test_wait(first, 120000), 0);
    char *first_out = drain_fd(first->stdout_fd);
    char *id = summary_run_id(first_out);
    char *named = fr_asprintf("in progress: run %s on host ", id);
    assert_non_null(strstr(err, named));
    free(err);
    assert_int_equal(mock_credits(&e->mock, "stored"), OVERLAP_RECORDS);
    assert_int_equal(mock_credits(&e->mock, "max_store_count"), 1);

    /* --wait waits for the lock instead (free now): it runs, and finds every record done */
    const char *wait_args[] = {"run",           "credits",   "-c", "ferry.yaml",
                               "--no-progress", "--wait=1m", NULL};
    assert_int_equal(fr_test_run(wait_args, dir_b, secret_env, 120000, &out, &err), 0);
    assert_int_equal(fr_test_summary_count(err, "skipped"), OVERLAP_RECORDS);
    assert_int_equal(fr_test_summary_count(err, "sent"), 0);
    assert_int_equal(mock_credits(&e->mock, "stored"), OVERLAP_RECORDS);
    assert_int_equal(mock_credits(&e->mock, "max_store_count"), 1);
    free(out);
    free(err);
    free(named);
    free(id);
    free(first_out);
    free(first_pid);
    free(dir_a);
    free(dir_b);
}

/*
 * A run SIGKILLed while it posts holds the run lock in its database
 * session, which dies with the process: the next run takes the lock at
 * once, not after a timeout, looks up what the killed run had on the wire
 * and stores every record exactly once; while it runs, it holds the lock (a
 * third run exits 6 naming it).
 */
static void test_run_lock_released_with_killed_session(void **state)
{
    struct env *e = *state;
    use_shared_db(e);
    const char *mock_args[] = {"--faults", "no_dedupe,slow=1:100ms", NULL};
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    char *dir_a = machine_dir(e, "a"), *dir_b = machine_dir(e, "b");
    struct fr_proc *killed = &e->run[0];
    assert_int_equal(fr_test_spawn(killed, run_args, dir_a, secret_env), 0);
    wait_posting(&e->mock);
    assert_int_equal(kill(killed->pid, SIGKILL), 0);
    assert_int_equal(fr_test_wait(killed, 10000), 128 + SIGKILL);

    /*
     * The next run, on the other machine. The kernel closed the killed
     * process's connection as it died, but its server process may take a
     * moment to read the end and let the session's locks go: a run that
     * still finds the lock held (exit 6, at once) is started again, at
     * most 25 times 200 ms apart. A lock that outlived its session would
     * fail here.
     */
    struct fr_proc *next = &e->run[1];
    int tries = 0, status = -1;
    bool working = false;
    while (!working && tries < 25) {
        tries++;
        assert_int_equal(fr_test_spawn(next, run_args, dir_b, secret_env), 0);
        int64_t deadline = fr_now_ms() + 30000;
        bool done = false;
        while (!working && !done) {
            if (fr_now_ms() > deadline)
                fail_msg("the run after the kill asked the API nothing in 30 s");
            done = exited(next, &status);
            char *err = fr_test_proc_stderr(next);
            /* any request to the API is made under the lock: it took it */
            working = strstr(err, "\"msg\":\"request\"") != NULL;
            if (done && !working && status != 6)
                fail_msg("the run after the kill exited %d before asking the API anything:\n%s",
                         status, err);
            free(err);
            if (!working && !done)
                fr_sleep_ms(20);
        }
        if (!working) {
            fr_test_proc_release(next);
            fr_sleep_ms(200);
        }
    }
    if (!working)
        fail_msg("the run lock of the killed run's session was still held after %d tries", tries);
    if (tries > 1)
        fprintf(stderr, "the killed run's lock was free on try %d\n", tries);

    /* it holds the lock now: a run on the first machine is refused, naming it */
    char *next_pid = fr_asprintf(" pid %d since ", (int)next->pid);
    char *out = NULL, *err = NULL;
    status = fr_test_run(run_args, dir_a, secret_env, 180000, &out, &err);
    if (status != 6)
        explain_not_refused(&e->mock, status, err);
    assert_int_equal(status, 6);
    assert_non_null(strstr(err, next_pid));
    free(out);
    free(err);

    assert_int_equal(fr_test_wait(next, 120000), 0);
    err = fr_test_proc_stderr(next);
    /* what the killed run had on the wire was looked up, not resent blindly */
    assert_true(fr_test_summary_count(err, "lookups") > 0);
    assert_int_equal(fr_test_summary_count(err, "in_doubt_resent"), 0);
    free(err);
    assert_int_equal(mock_credits(&e->mock, "stored"), OVERLAP_RECORDS);
    assert_int_equal(mock_credits(&e->mock, "max_store_count"), 1);
    free(next_pid);
    free(dir_a);
    free(dir_b);
}

/* ---- one schedule, two instances ----------------------------------------------------- */

#define ADMIN_TOKEN "adm-token-pg-5e81a0"

static const char *const sched_env[] = {"IT_SECRET=demo-secret", "S_GH=" GH_SECRET,
                                        "FERRY_ADMIN_TOKEN=" ADMIN_TOKEN, NULL};

/* dir/ferry.yaml: the push job "credits" of 8 records, every minute, on e's database. */
static void write_sched_config(struct env *e, const char *dir, const char *mock_url)
{
    char *webhooks = fr_asprintf("webhooks:\n"
                                 "  listen: 127.0.0.1:0\n"
                                 "  admin_token: \"${FERRY_ADMIN_TOKEN}\"\n"
                                 "  sources:\n"
                                 "    gh:\n"
                                 "      path: /hooks/gh\n"
                                 "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                                 "      deliver: { url: \"%s\" }\n",
                                 e->recv_url);
    write_credits_config(e, dir, mock_url, 8, 2, 1,
                         "    schedule: \"* * * * *\"\n"
                         "    timezone: UTC\n"
                         "    max_age: 1h\n",
                         webhooks);
    free(webhooks);
}

static void start_serve_in(struct env *e, int i, const char *dir)
{
    const char *args[] = {"serve", "-c", "ferry.yaml", NULL};
    assert_int_equal(fr_test_spawn(&e->serve[i], args, dir, sched_env), 0);
    e->port[i] = fr_test_ready_port(&e->serve[i], 20000);
    if (e->port[i] <= 0)
        fail();
}

static void set_faults(const struct fr_test_mock *m, const char *spec)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/mock/faults", m->base_url);
    long status = 0;
    assert_int_equal(fr_test_http("POST", url, NULL, spec, &status, NULL), 0);
    assert_int_equal(status, 200);
}

/* POST /api/jobs/credits/run on instance i with the admin token; the status, *body the answer. */
static long run_now_on(struct env *e, int i, char **body)
{
    const char *auth[] = {"Authorization: Bearer " ADMIN_TOKEN, NULL};
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/jobs/credits/run", e->port[i]);
    long status = 0;
    if (fr_test_http("POST", url, auth, "", &status, body) < 0)
        status = 0;
    return status;
}

/* The runs of job credits in the store: how many per minute since first_minute, and running. */
struct run_tally {
    int64_t first_minute;
    int per_minute[8];
    int other; /* started before first_minute or after the 8th minute */
    int running, not_ok;
};

static int tally_run(const struct fr_run *run, void *ud)
{
    struct run_tally *t = ud;
    int64_t m = run->started_ms / 60000 - t->first_minute;
    if (m >= 0 && m < (int64_t)FR_ARRAY_LEN(t->per_minute))
        t->per_minute[m]++;
    else
        t->other++;
    t->running += strcmp(run->status, "running") == 0;
    t->not_ok += strcmp(run->status, "running") != 0 && strcmp(run->status, "ok") != 0;
    return 0;
}

static struct run_tally tally_runs(struct env *e, int64_t first_minute)
{
    struct run_tally t = {.first_minute = first_minute};
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    if (fr_store_open(e->db_url, NULL, &st, &err) ||
        fr_store_runs_list(st, "credits", 0, tally_run, &t, &err))
        fail_msg("runs of credits: %s", err.msg);
    fr_store_close(st);
    return t;
}

/* Waits (bounded) until no run of credits is running; the tally then. */
static struct run_tally wait_runs_done(struct env *e, int64_t first_minute, int timeout_ms)
{
    int64_t deadline = fr_now_ms() + timeout_ms;
    struct run_tally t = tally_runs(e, first_minute);
    while (t.running && fr_now_ms() < deadline) {
        fr_sleep_ms(100);
        t = tally_runs(e, first_minute);
    }
    assert_int_equal(t.running, 0);
    return t;
}

/* Lines of both instances' logs that say the slot at minute was skipped, and why. */
static int slot_skips(struct env *e, int64_t minute)
{
    char at[64];
    fr_format_rfc3339(minute * 60000, at, sizeof(at));
    char *want = fr_asprintf("\"slot\":\"%s\"", at);
    int n = 0;
    for (int i = 0; i < 2; i++) {
        char *log = fr_test_proc_stderr(&e->serve[i]);
        for (char *line = log; line && *line;) {
            char *eol = strchr(line, '\n');
            if (eol)
                *eol = '\0';
            n += strstr(line, "scheduled run skipped") && strstr(line, want);
            line = eol ? eol + 1 : NULL;
        }
        free(log);
    }
    free(want);
    return n;
}

/*
 * Two `ferry serve` instances on one database with the same job, every
 * minute. The slot missed before they started runs once, slowly: asked to
 * run the job then, the instance running it answers 409 (running already)
 * and the other 409 too (running on another instance: the run lock). The
 * next two slots, quick runs, each run once over both instances: the
 * instance that reaches the slot later (about half a second: their
 * scheduler ticks are offset) finds it claimed.
 */
static void test_schedule_once_per_slot_two_instances(void **state)
{
    struct env *e = *state;
    use_shared_db(e);
    const char *mock_args[] = {"--faults", "slow=1:1s", NULL};
    assert_int_equal(fr_test_mock_start(&e->mock, mock_args), 0);
    char *dir[2] = {fr_asprintf("%s/a", e->dir), fr_asprintf("%s/b", e->dir)};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mkdir(dir[i], 0700), 0);
        write_sched_config(e, dir[i], e->mock.base_url);
    }
    /* the slow run and the requests fit in the minute they start in */
    if (fr_wall_ms() / 1000 % 60 > 35)
        fr_sleep_ms((62 - fr_wall_ms() / 1000 % 60) * 1000);
    int64_t minute = fr_wall_ms() / 60000;
    int64_t a_started = fr_now_ms();
    start_serve_in(e, 0, dir[0]);
    /* B's scheduler ticks about half a second after A's */
    int64_t b_at = a_started + 1500;
    while (fr_now_ms() < b_at)
        fr_sleep_ms(5);
    start_serve_in(e, 1, dir[1]);

    /* the missed slot: one instance runs it (a second and more per request) */
    int64_t deadline = fr_now_ms() + 20000;
    struct run_tally t = tally_runs(e, minute);
    while (!t.running && fr_now_ms() < deadline) {
        fr_sleep_ms(20);
        t = tally_runs(e, minute);
    }
    assert_int_equal(t.running, 1);
    char *body[2] = {NULL, NULL};
    long status[2];
    for (int i = 0; i < 2; i++)
        status[i] = run_now_on(e, i, &body[i]);
    assert_int_equal(status[0], 409);
    assert_int_equal(status[1], 409);
    int here = strstr(body[0], "running already") ? 0 : 1;
    assert_non_null(strstr(body[here], "running already"));
    assert_non_null(strstr(body[1 - here], "running on another instance"));
    free(body[0]);
    free(body[1]);
    t = wait_runs_done(e, minute, 30000);
    assert_int_equal(t.per_minute[0], 1);
    assert_true(fr_wall_ms() / 60000 == minute); /* done before the next slot */

    /* the next two slots, quick runs */
    set_faults(&e->mock, "");
    while (fr_wall_ms() < (minute + 2) * 60000 + 5000)
        fr_sleep_ms(200);
    t = wait_runs_done(e, minute, 30000);
    assert_int_equal(t.per_minute[0], 1);
    assert_int_equal(t.per_minute[1], 1);
    assert_int_equal(t.per_minute[2], 1);
    assert_int_equal(t.other, 0);
    assert_int_equal(t.not_ok, 0);
    /* both instances saw each slot come: one ran it, the other logged why it did not */
    assert_int_equal(slot_skips(e, minute + 1), 1);
    assert_int_equal(slot_skips(e, minute + 2), 1);
    json_t *stats = fr_test_mock_stats(&e->mock);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(stats, "credits"), "stored")), 8);
    json_decref(stats);
    free(dir[0]);
    free(dir[1]);
}

/* ---- a password in the store URL ------------------------------------------------------ */

#define PW_USERINFO "pg-pw-userinfo-8d2c41"
#define PW_QUERY    "pg-pw-query-3a9f07"

/* A loopback port nothing listens on (it was free a moment ago). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/*
 * base ("postgresql://ferry@HOST:PORT/db") with a password: in the
 * userinfo, or (query) as the ?password= parameter. The caller frees it.
 */
static char *with_password(const char *base, bool query)
{
    if (query)
        return fr_asprintf("%s%spassword=" PW_QUERY "&connect_timeout=5", base,
                           strchr(base, '?') ? "&" : "?");
    const char *at = strchr(base, '@');
    assert_non_null(at);
    return fr_asprintf("%.*s:" PW_USERINFO "%s", (int)(at - base), base, at);
}

static void assert_no_password(const char *what, const char *text)
{
    if (text && (strstr(text, PW_USERINFO) || strstr(text, PW_QUERY)))
        fail_msg("%s shows the store password:\n%s", what, text);
}

/* dir/ferry.yaml: store url and a webhook source (ferry serve needs something to serve). */
static void write_store_config(struct env *e, const char *dir, const char *url)
{
    char *yaml = fr_asprintf("store: \"%s\"\n"
                             "webhooks:\n"
                             "  listen: 127.0.0.1:0\n"
                             "  sources:\n"
                             "    gh:\n"
                             "      path: /hooks/gh\n"
                             "      verify: { scheme: github, secrets: [\"${S_GH}\"] }\n"
                             "      deliver: { url: \"%s\" }\n",
                             url, e->recv_url);
    free(fr_test_write_file(dir, "ferry.yaml", yaml));
    free(yaml);
}

/*
 * ferry ARGS in dir: exits with want, shows neither password, and names
 * the store (masked) when it fails.
 */
static void run_without_password(const char *const *args, const char *dir, int want)
{
    char *out = NULL, *err = NULL;
    int status = fr_test_run(args, dir, secret_env, 60000, &out, &err);
    char what[96];
    snprintf(what, sizeof(what), "ferry %s", args[0]);
    assert_no_password(what, out);
    assert_no_password(what, err);
    if (status != want)
        fail_msg("%s exited %d, not %d:\n%s", what, status, want, err);
    if (want)
        assert_non_null(
            strstr(err, FR_REDACTED "@127.0.0.1") ? err : strstr(err, "password=" FR_REDACTED));
    free(out);
    free(err);
}

/* GET path on instance i: status want, and neither password in the answer; the body. */
static char *get_without_password(struct env *e, int i, const char *path, long want)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", e->port[i], path);
    long status = 0;
    char *body = NULL;
    assert_int_equal(fr_test_http("GET", url, NULL, NULL, &status, &body), 0);
    assert_no_password(path, body);
    if (status != want)
        fail_msg("GET %s: %ld, not %ld: %s", path, status, want, body);
    return body;
}

/*
 * A store URL with a password, in the userinfo or as ?password=: it never
 * shows in what ferry prints, logs or answers, whether the server cannot be
 * reached (nothing listens), answers (trust: the password is not even
 * needed) or goes down under a running ferry serve.
 */
static void test_store_password_never_shown(void **state)
{
    struct env *e = *state;
    if (fr_pgtest_skipped())
        skip();
    fr_test_secret(PW_USERINFO);
    fr_test_secret(PW_QUERY);
    char *dir[2] = {fr_asprintf("%s/a", e->dir), fr_asprintf("%s/b", e->dir)};
    for (int i = 0; i < 2; i++)
        assert_int_equal(mkdir(dir[i], 0700), 0);

    /* nobody listens */
    char *base = fr_asprintf("postgresql://ferry@127.0.0.1:%d/ferry", closed_port());
    for (int q = 0; q < 2; q++) {
        char *url = with_password(base, q);
        write_store_config(e, dir[q], url);
        const char *status_args[] = {"status", "-c", "ferry.yaml", NULL};
        run_without_password(status_args, dir[q], 5);
        const char *runs_args[] = {"runs", "list", "-c", "ferry.yaml", NULL};
        run_without_password(runs_args, dir[q], 5);
        const char *serve_args[] = {"serve", "-c", "ferry.yaml", NULL};
        run_without_password(serve_args, dir[q], 5);
        const char *migrate_args[] = {"migrate", "--check", "--store", url, NULL};
        run_without_password(migrate_args, dir[q], 5);
        free(url);
    }
    free(base);

    /* a server that answers, then goes down under two ferry serve, one per spelling */
    own_cluster(e);
    for (int q = 0; q < 2; q++) {
        char *url = with_password(e->db_url, q);
        write_store_config(e, dir[q], url);
        free(url);
        start_serve_in(e, q, dir[q]);
        free(get_without_password(e, q, "/readyz", 200));
        free(get_without_password(e, q, "/api/status", 200));
        const char *status_args[] = {"status", "-c", "ferry.yaml", NULL};
        run_without_password(status_args, dir[q], 0);
    }
    assert_int_equal(fr_pgtest_cluster_down(e->cluster_dir), 0);
    for (int q = 0; q < 2; q++) {
        char *body = get_without_password(e, q, "/readyz", 503);
        assert_non_null(strstr(body, "127.0.0.1")); /* it says which server */
        assert_non_null(strstr(body, FR_REDACTED)); /* and shows the URL, masked */
        free(body);
        const char *status_args[] = {"status", "-c", "ferry.yaml", NULL};
        run_without_password(status_args, dir[q], 5);
    }
    assert_int_equal(fr_pgtest_cluster_up(e->cluster_dir), 0);
    for (int q = 0; q < 2; q++) {
        kill(e->serve[q].pid, SIGTERM);
        assert_int_equal(fr_test_wait(&e->serve[q], 15000), 0);
        char *log = fr_test_proc_stderr(&e->serve[q]);
        assert_no_password("the log of ferry serve", log);
        free(log);
        free(dir[q]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_instances_one_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_killed_on_a_resumed_on_b, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlapping_runs_exit_6, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_lock_released_with_killed_session, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_database_down_readyz_and_503, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_restart_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schedule_once_per_slot_two_instances, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_password_never_shown, setup, teardown),
    };
    if (getenv("ITF"))
        cmocka_set_test_filter(getenv("ITF"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
