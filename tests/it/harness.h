/*
 * harness.h: helpers for end-to-end tests that drive the real ferry binary
 * on loopback. Every child process is started with PR_SET_PDEATHSIG, so it
 * dies with the test even when the test crashes, and is killed by PID in
 * teardown; nothing else is ever signalled.
 *
 * The binary is $FERRY_BIN (ctest sets it).
 */
#ifndef FR_TEST_HARNESS_H
#define FR_TEST_HARNESS_H

#include "core/common.h"

#include <jansson.h>
#include <sys/types.h>

#include <setjmp.h>
#include <cmocka.h>

struct fr_proc {
    pid_t pid;         /* 0 when not running */
    int stdout_fd;     /* read end of the child's stdout, -1 if not piped */
    char *stderr_path; /* the child's stderr, kept in a file for assertions */
    bool help;         /* asked for --help: static text, left out of the secrets scan */
};

/*
 * Starts ferry with args (NULL-terminated; args[0] is the subcommand), in
 * cwd (NULL: the current one), with extra environment entries env
 * ("NAME=value", NULL-terminated, may be NULL). Returns 0 or -1.
 */
int fr_test_spawn(struct fr_proc *p, const char *const *args, const char *cwd,
                  const char *const *env);
/*
 * Records value as a secret for the secrets scan, for one ferry gets some
 * other way than its environment (a password in a store URL in the config
 * or on the command line). fr_test_spawn records the environment's itself.
 */
void fr_test_secret(const char *value);

/*
 * Waits up to timeout_ms for the process; returns its exit status, 128+N
 * for a signal, or -1 on timeout (the process is then killed).
 */
int fr_test_wait(struct fr_proc *p, int timeout_ms);
/* SIGTERM, then SIGKILL after 3 s; reaps. No-op when not running. */
void fr_test_kill(struct fr_proc *p);
/* Frees the stderr file and path. */
void fr_test_proc_release(struct fr_proc *p);
/* The child's stderr so far; caller frees. */
char *fr_test_proc_stderr(const struct fr_proc *p);

/*
 * Reads p's first stdout line ("listening on http://127.0.0.1:PORT", what
 * ferry serve and ferry mock print when ready) for at most timeout_ms;
 * returns PORT, or 0 with p's stderr printed when it did not come.
 */
int fr_test_ready_port(struct fr_proc *p, int timeout_ms);

/*
 * Runs ferry to completion (timeout_ms, then killed) and returns its exit
 * status; *out and *err (if not NULL) receive stdout and stderr (caller frees).
 */
int fr_test_run(const char *const *args, const char *cwd, const char *const *env, int timeout_ms,
                char **out, char **err);

struct fr_test_mock {
    struct fr_proc proc;
    int port;
    char base_url[64]; /* http://127.0.0.1:PORT */
};

/*
 * Starts `ferry mock --listen 127.0.0.1:0 EXTRA...` and waits for its
 * "listening on http://127.0.0.1:PORT" line. extra may be NULL.
 */
int fr_test_mock_start(struct fr_test_mock *m, const char *const *extra);
void fr_test_mock_stop(struct fr_test_mock *m);
/* GET /mock/stats, parsed; caller json_decrefs. NULL on failure. */
json_t *fr_test_mock_stats(const struct fr_test_mock *m);
/* stats.requests[route][status] as an integer, 0 when absent. */
long fr_test_stat_requests(json_t *stats, const char *route, const char *status);

/*
 * One HTTP request with libcurl (tests only; the product's client is in
 * src/http). headers is NULL-terminated or NULL. Returns 0 when a response
 * arrived (*status set), -1 otherwise. *resp may be NULL.
 */
int fr_test_http(const char *method, const char *url, const char *const *headers, const char *body,
                 long *status, char **resp);

/*
 * A webhook receiver on 127.0.0.1 (libmicrohttpd, a free port) that
 * answers 200 to every POST, whatever its path, and keeps the bodies, for
 * alert tests. The bodies, ferry's output, go to the transcripts the
 * secrets scan reads; the paths (a sink's secret) do not.
 */
struct fr_test_receiver;
/* Starts one; *url receives "http://127.0.0.1:PORT/hook" (caller frees). NULL on failure. */
struct fr_test_receiver *fr_test_receiver_start(char **url);
size_t fr_test_receiver_count(struct fr_test_receiver *r);
/* The i-th body received; caller frees. */
char *fr_test_receiver_body(struct fr_test_receiver *r, size_t i);
void fr_test_receiver_stop(struct fr_test_receiver *r);
/*
 * The next n requests are answered with status (e.g. 500) instead of 200;
 * they are kept and counted like the others. n 0 ends a failure spell.
 */
void fr_test_receiver_fail_next(struct fr_test_receiver *r, size_t n, unsigned status);
/*
 * Each answer waits ms first (0: none), after the request is kept. One
 * thread answers every request: requests queue behind the one waiting.
 */
void fr_test_receiver_delay(struct fr_test_receiver *r, int ms);
/* The path the i-th request was sent to ("/hook"); caller frees; NULL if absent. */
char *fr_test_receiver_path(struct fr_test_receiver *r, size_t i);
/* The value of header name (case-insensitive) of the i-th request; caller frees; NULL if absent. */
char *fr_test_receiver_header(struct fr_test_receiver *r, size_t i, const char *name);

/* A new temporary directory; caller frees the path (fr_test_rmtree removes it). */
char *fr_test_tmpdir(void);
void fr_test_rmtree(const char *path);
/* Writes a file (path joined under dir); returns the full path, caller frees. */
char *fr_test_write_file(const char *dir, const char *name, const char *content);
/* Reads a whole file; caller frees; NULL when absent. */
char *fr_test_read_file(const char *path);

/*
 * Writes DIR/orders.csv with n orders SO-1..SO-n (order_id, participant_id,
 * order_date, amount); every bad_every-th has a malformed amount (0: none).
 */
void fr_test_write_orders(const char *dir, int n, int bad_every);
/* stats.credits[name] ("stored", "max_store_count", ...) of GET /mock/stats, 0 when absent. */
long fr_test_mock_credits(json_t *stats, const char *name);
/* Every answer the mock counted for route ("POST /credits/batch"), whatever its status. */
long fr_test_route_total(json_t *stats, const char *route);
/* A count from the "run summary" log line in a run's stderr (fails the test without one). */
long fr_test_summary_count(const char *err, const char *name);

/*
 * Straight into the store at DIR/ferry.db, as ferry would have left it:
 * one event of source dead-lettered after a failed delivery ("HTTP 500"),
 * and one successful run of job that ended ago_ms ago ("old-run").
 */
void fr_test_store_dead_letter(const char *dir, const char *source, const char *event_id,
                               const char *body);
void fr_test_store_old_success(const char *dir, const char *job, int64_t ago_ms);

#endif
