/*
 * exit.h: ferry's exit statuses, a contract with schedulers and monitors
 * (DESIGN.md: never change their meaning), and the one table that maps a
 * library error code to one of them (exit.c). Every command's status for
 * an error comes from here; a run's status too, through the function the
 * job layer is handed (fr_cli_run_exit_status) to store with the run.
 */
#ifndef FR_CLI_EXIT_H
#define FR_CLI_EXIT_H

#include "core/common.h"

enum fr_exit {
    FR_EXIT_OK = 0,          /* all accepted */
    FR_EXIT_FAILURES = 1,    /* ran, but failures crossed the alert threshold or a step failed */
    FR_EXIT_USAGE = 2,       /* usage or configuration error */
    FR_EXIT_AUTH = 3,        /* authentication failed */
    FR_EXIT_UNREACHABLE = 4, /* target stayed unreachable (serve, mock: cannot listen) */
    FR_EXIT_STORE = 5,       /* the store failed */
    FR_EXIT_BUSY = 6,        /* another run of this job is in progress */
};

/* 128 + N: interrupted by signal N (130 SIGINT, 143 SIGTERM) after a clean stop. */
#define FR_EXIT_SIGNAL_BASE 128

/*
 * The exit status for an error code from the library: FR_OK 0, and each
 * FR_E* code its row of the table in exit.c. A number that is no code: 1.
 */
int fr_cli_exit_status(int code);

/*
 * The exit status of a run that ended with code (FR_OK, or what stopped
 * it), over_threshold (its failures crossed the job's alert limits) and
 * signo (the stop signal that interrupted it; 0 none): 128 + signo when
 * interrupted, else code's status, where FR_OK is 1 over the threshold
 * and 0 otherwise. The job layer is handed it (fr_push_opts.exit_status).
 */
int fr_cli_run_exit_status(int code, bool over_threshold, int signo);

#endif
