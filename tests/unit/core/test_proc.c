/*
 * The command runner: exit status and signal, stdin and output, the
 * working directory and environment, a timeout that kills the whole
 * process group, a stop flag, and a command that does not read its stdin
 * (SIGPIPE) not killing the caller.
 */
#include "core/common.h"
#include "core/proc.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

/* Runs command with input and env (may be NULL), output captured (1 MB of its end). */
static void run(const char *command, const char *input, char *const *env, size_t nenv,
                struct fr_proc_result *res)
{
    struct fr_proc_opts o = {.command = command,
                             .what = "the test command",
                             .input = input,
                             .input_len = input ? strlen(input) : 0,
                             .env = env,
                             .nenv = nenv,
                             .timeout_ms = 20000,
                             .output_keep = 1024 * 1024};
    struct fr_err err = {0};
    assert_int_equal(fr_proc_run(&o, res, &err), FR_OK);
}

static void test_exit_status_and_signal(void **state)
{
    struct fr_proc_result res;
    run("exit 3", NULL, NULL, 0, &res);
    assert_int_equal(res.end, FR_PROC_EXITED);
    assert_int_equal(res.status, 3);
    fr_proc_result_release(&res);
    run("true", NULL, NULL, 0, &res);
    assert_int_equal(res.end, FR_PROC_EXITED);
    assert_int_equal(res.status, 0);
    fr_proc_result_release(&res);
    run("kill -TERM $$", NULL, NULL, 0, &res);
    assert_int_equal(res.end, FR_PROC_SIGNALED);
    assert_int_equal(res.status, SIGTERM);
    fr_proc_result_release(&res);
}

static void test_stdin_and_output(void **state)
{
    struct fr_proc_result res;
    run("cat; echo to-stderr >&2", "{\"a\":1}\n", NULL, 0, &res);
    assert_int_equal(res.end, FR_PROC_EXITED);
    assert_string_equal(fr_buf_str(&res.output), "{\"a\":1}\nto-stderr\n");
    assert_int_equal(res.input_taken, 8);
    fr_proc_result_release(&res);

    /* More than a pipe holds, each way at once: fed and read together, nothing lost. */
    size_t n = 256 * 1024;
    char *big = fr_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    run("cat", big, NULL, 0, &res);
    assert_int_equal(res.input_taken, n);
    assert_int_equal(res.output.len, n);
    assert_memory_equal(res.output.data, big, n);
    fr_proc_result_release(&res);
    free(big);

    /* Only the end of the output is kept. */
    struct fr_proc_opts o = {.command = "printf 0123456789",
                             .what = "the test command",
                             .timeout_ms = 20000,
                             .output_keep = 4};
    assert_int_equal(fr_proc_run(&o, &res, NULL), FR_OK);
    assert_string_equal(fr_buf_str(&res.output), "6789");
    fr_proc_result_release(&res);
}

/* output_to_stderr: both of its streams go to ferry's stderr (here a pipe), nothing captured. */
static void test_output_to_stderr(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    close(p[1]);
    struct fr_proc_opts o = {.command = "echo out; echo err >&2",
                             .what = "the test command",
                             .timeout_ms = 20000,
                             .output_to_stderr = true,
                             .output_keep = 100};
    struct fr_proc_result res;
    int rc = fr_proc_run(&o, &res, NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(rc, FR_OK);
    assert_int_equal(res.end, FR_PROC_EXITED);
    assert_int_equal(res.output.len, 0);
    fr_proc_result_release(&res);
    char got[64] = "";
    ssize_t len = read(p[0], got, sizeof(got) - 1);
    close(p[0]);
    assert_true(len > 0);
    got[len] = '\0';
    assert_string_equal(got, "out\nerr\n");
}

static void test_workdir_and_environment(void **state)
{
    char dir[] = "/tmp/ferry-proc-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char real[PATH_MAX];
    assert_non_null(realpath(dir, real));
    struct fr_proc_opts o = {.command = "pwd",
                             .what = "the test command",
                             .workdir = dir,
                             .timeout_ms = 20000,
                             .output_keep = 4096};
    struct fr_proc_result res;
    assert_int_equal(fr_proc_run(&o, &res, NULL), FR_OK);
    char *want = fr_asprintf("%s\n", real);
    assert_string_equal(fr_buf_str(&res.output), want);
    free(want);
    fr_proc_result_release(&res);

    /* A variable given replaces the inherited one of its name; the others are inherited. */
    setenv("FR_PROC_TEST_GIVEN", "inherited", 1);
    setenv("FR_PROC_TEST_KEPT", "kept", 1);
    char *env[] = {"FR_PROC_TEST_GIVEN=given", "FR_PROC_TEST_NEW=new value"};
    run("printf '%s|%s|%s' \"$FR_PROC_TEST_GIVEN\" \"$FR_PROC_TEST_NEW\" \"$FR_PROC_TEST_KEPT\"",
        NULL, env, FR_ARRAY_LEN(env), &res);
    assert_string_equal(fr_buf_str(&res.output), "given|new value|kept");
    fr_proc_result_release(&res);
    run("printf '%s|%s' \"$FR_PROC_TEST_GIVEN\" \"$FR_PROC_TEST_NEW\"", NULL, NULL, 0, &res);
    assert_string_equal(fr_buf_str(&res.output), "inherited|");
    fr_proc_result_release(&res);
    unsetenv("FR_PROC_TEST_GIVEN");
    unsetenv("FR_PROC_TEST_KEPT");

    /* A directory that does not exist: not started, and said so. */
    char *gone = fr_asprintf("%s/gone", dir);
    o.workdir = gone;
    struct fr_err err = {0};
    assert_int_equal(fr_proc_run(&o, &res, &err), FR_EIO);
    assert_string_equal(err.msg, "cannot run the test command: No such file or directory");
    free(gone);
    rmdir(dir);
}

/*
 * At the timeout the whole process group dies, the background sleep too:
 * both hold the write end of a pipe, so its read end sees end of file only
 * once neither is alive.
 */
static void test_timeout_kills_the_group(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0); /* no O_CLOEXEC: the command and its sleep inherit p[1] */
    struct fr_proc_opts o = {.command = "sleep 30 & wait",
                             .what = "the test command",
                             .timeout_ms = 200,
                             .output_keep = 100};
    struct fr_proc_result res;
    assert_int_equal(fr_proc_run(&o, &res, NULL), FR_OK);
    close(p[1]);
    assert_int_equal(res.end, FR_PROC_TIMED_OUT);
    assert_int_equal(res.status, -1);
    fr_proc_result_release(&res);
    /* The bound only keeps a broken runner from hanging the test (the sleep lasts 30 s). */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    int ready = poll(&pf, 1, 20000);
    if (ready != 1)
        fail_msg("the background sleep still holds the pipe: its group was not killed");
    char c;
    assert_int_equal(read(p[0], &c, 1), 0);
    close(p[0]);
}

static void test_stop_flag(void **state)
{
    atomic_int stop = 1;
    struct fr_proc_opts o = {.command = "sleep 30",
                             .what = "the test command",
                             .timeout_ms = 60000,
                             .output_keep = 100,
                             .stop = &stop};
    struct fr_proc_result res;
    assert_int_equal(fr_proc_run(&o, &res, NULL), FR_OK);
    assert_int_equal(res.end, FR_PROC_STOPPED);
    fr_proc_result_release(&res);
}

/*
 * A command that closes its stdin unread, then writes more than a pipe
 * holds: ferry's writes meet a pipe without reader while it runs (EPIPE
 * and SIGPIPE), which must neither kill this process (SIGPIPE at its
 * default here) nor leave the signal pending or blocked.
 */
static void test_unread_stdin_does_not_kill_the_caller(void **state)
{
    signal(SIGPIPE, SIG_DFL);
    size_t n = 4 * 1024 * 1024;
    char *input = fr_malloc(n);
    memset(input, 'x', n);
    struct fr_proc_opts o = {.command = "exec 0<&-; head -c 1000000 /dev/zero",
                             .what = "the test command",
                             .input = input,
                             .input_len = n,
                             .timeout_ms = 20000,
                             .output_keep = 16};
    struct fr_proc_result res;
    assert_int_equal(fr_proc_run(&o, &res, NULL), FR_OK);
    assert_int_equal(res.end, FR_PROC_EXITED);
    assert_int_equal(res.status, 0);
    assert_true(res.input_taken < n); /* the writes did meet the closed pipe */
    assert_int_equal(res.output.len, 16);
    fr_proc_result_release(&res);
    free(input);
    sigset_t pending, mask;
    sigpending(&pending);
    assert_int_equal(sigismember(&pending, SIGPIPE), 0);
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    assert_int_equal(sigismember(&mask, SIGPIPE), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_status_and_signal),
        cmocka_unit_test(test_stdin_and_output),
        cmocka_unit_test(test_output_to_stderr),
        cmocka_unit_test(test_workdir_and_environment),
        cmocka_unit_test(test_timeout_kills_the_group),
        cmocka_unit_test(test_stop_flag),
        cmocka_unit_test(test_unread_stdin_does_not_kill_the_caller),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
