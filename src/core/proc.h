/*
 * proc.h: the one command runner. Runs /bin/sh -c COMMAND as a child of
 * ferry and waits for it: in a directory, a buffer on its stdin (then end
 * of file), extra environment variables, in a process group of its own, and
 * bounded by a timeout after which the whole group is killed (SIGKILL), so
 * nothing it started in the background outlives it. Webhook handlers
 * (hooks/deliver.c, deliver.exec) and alert commands (obs/alert.c, exec
 * sinks) both run through it.
 *
 * Signals: the child starts with an empty signal mask and SIGPIPE, SIGINT
 * and SIGTERM at their defaults, whatever ferry blocks or ignores. A
 * command that does not read its stdin cannot kill ferry: while it runs,
 * the calling thread blocks SIGPIPE and consumes the one a write to the
 * closed pipe raised; no disposition changes, nothing process-wide.
 *
 * Threads: fr_proc_run may run in several threads at once; each waits for
 * its own child only.
 */
#ifndef FR_CORE_PROC_H
#define FR_CORE_PROC_H

#include "core/common.h"

#include <stdatomic.h>

#include "core/buf.h"
#include "core/error.h"

struct fr_proc_opts {
    const char *command; /* given to /bin/sh -c */
    const char *what;    /* names the command in error messages: "the handler" */
    const char *workdir; /* where it runs; NULL: ferry's working directory */
    const void *input;   /* written to its stdin, then end of file; NULL with input_len 0 */
    size_t input_len;
    /* NAME=value entries added to ferry's environment, each replacing an inherited
     * variable of that name; borrowed for the call; NULL with nenv 0: ferry's as it is. */
    char *const *env;
    size_t nenv;
    int64_t timeout_ms; /* from the start; then its process group is killed */
    /* Where its stdout and stderr go: false, captured into the result (their end, see
     * output_keep); true, to ferry's stderr. */
    bool output_to_stderr;
    size_t output_keep; /* captured: bytes of the output's end kept */
    /* Looked at while it runs (every 20 ms at most): non-zero kills its group; NULL: never. */
    const atomic_int *stop;
};

enum fr_proc_end {
    FR_PROC_EXITED,    /* it exited: status is its exit status */
    FR_PROC_SIGNALED,  /* a signal ended it: status is the signal's number */
    FR_PROC_TIMED_OUT, /* timeout_ms passed: its group was killed */
    FR_PROC_STOPPED,   /* *stop became non-zero: its group was killed */
};

struct fr_proc_result {
    enum fr_proc_end end;
    int status; /* see end; -1 for FR_PROC_TIMED_OUT and FR_PROC_STOPPED */
    /* Captured: the last output_keep bytes of stdout and stderr together (all of it when
     * shorter), including what the command wrote just before it ended; what a background
     * process it left holding the pipe writes later is not waited for. Owned. */
    struct fr_buf output;
    size_t input_taken; /* bytes of input written before it ended or closed its stdin */
};

/*
 * Runs o->command and waits until it ends, passes its timeout or is
 * stopped. Returns FR_OK when it ran, whatever its outcome (*res says;
 * release it with fr_proc_result_release); FR_EIO when it could not be
 * started, err saying why ("cannot create a pipe: ...", "cannot run the
 * handler: No such file or directory" for a workdir that does not exist);
 * FR_EINTERNAL when it could not be waited for (something else reaped it).
 * After an error *res holds nothing to release.
 */
int fr_proc_run(const struct fr_proc_opts *o, struct fr_proc_result *res, struct fr_err *err);
void fr_proc_result_release(struct fr_proc_result *res);

#endif
