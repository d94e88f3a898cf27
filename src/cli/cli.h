/*
 * cli.h: what the subcommands share. Only src/cli prints to the user and
 * maps error codes to exit statuses.
 */
#ifndef FR_CLI_CLI_H
#define FR_CLI_CLI_H

#include "core/common.h"

#include <getopt.h>
#include <signal.h>

#include "cli/exit.h"
#include "core/config.h"
#include "core/error.h"

/* Subcommands: argv[0] is the command name. */
int fr_cli_check(int argc, char **argv);
int fr_cli_mock(int argc, char **argv);
int fr_cli_run(int argc, char **argv);
int fr_cli_runs(int argc, char **argv);
int fr_cli_rollback(int argc, char **argv);
int fr_cli_demo(int argc, char **argv);
int fr_cli_serve(int argc, char **argv);
int fr_cli_status(int argc, char **argv);
int fr_cli_dlq(int argc, char **argv);
int fr_cli_migrate(int argc, char **argv);
int fr_cli_version(int argc, char **argv);

/*
 * Options every command takes, to put in a getopt_long table:
 * -c/--config FILE, --log-format json|text, --log-level LEVEL, -h/--help.
 */
#define FR_CLI_OPT_LOG_FORMAT 0x1001
#define FR_CLI_OPT_LOG_LEVEL  0x1002
#define FR_CLI_COMMON_LONGOPTS                                                                     \
    {"log-format", required_argument, NULL, FR_CLI_OPT_LOG_FORMAT},                                \
        {"log-level", required_argument, NULL, FR_CLI_OPT_LOG_LEVEL},                              \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

#define FR_CLI_COMMON_HELP                                                                         \
    "      --log-format FMT  json (default) or text\n"                                             \
    "      --log-level LVL   debug, info (default), warn or error\n"                               \
    "  -h, --help            show this help\n"

/*
 * For an option the command's own switch does not know: applies a common
 * one (--log-format, --log-level) and returns 0, or prints the one-line
 * usage error (unknown option, missing or bad value) and returns
 * FR_EXIT_USAGE.
 */
int fr_cli_other_option(const char *cmd, int opt, const char *arg, char **argv);

/* Prints "ferry CMD: MESSAGE (see 'ferry CMD --help')" and returns FR_EXIT_USAGE. */
int fr_cli_usage_error(const char *cmd, const char *fmt, ...) FR_PRINTF(2, 3);

/*
 * Loads the config named by -c, $FERRY_CONFIG or ./ferry.yaml and logs its
 * warnings. On failure prints the error and returns its exit status.
 */
int fr_cli_load_config(const char *cmd, const char *path, struct fr_config **out);

struct fr_store;
/*
 * Opens the config's store. On failure prints "ferry CMD: why" and returns
 * the exit status (2 for a bad store URL, 5 otherwise); *out is then NULL.
 */
int fr_cli_open_store(const char *cmd, const struct fr_config *cfg, struct fr_store **out);

struct fr_push_result;
struct fr_progress;
/* Prints a run's summary for people on stdout (counts, failures, why it stopped). */
void fr_cli_print_run_summary(const struct fr_push_result *r, bool dry_run);

/*
 * Draws a run's progress line on stderr (fr_progress_fn; ud unused): pass
 * it only when stderr is a terminal, with fr_log_set_progress_line(true)
 * so that log lines clear it first.
 */
void fr_cli_draw_progress(void *ud, const struct fr_progress *pg);

/* Sets up logging from the environment before option parsing. */
void fr_cli_log_init(void);

/*
 * For long-running commands: blocks SIGINT and SIGTERM in the calling
 * thread (call it before any thread starts, so every thread inherits the
 * mask) into *set, and ignores SIGPIPE (a peer that hung up is an error
 * to report, not a reason to die).
 */
void fr_cli_block_stop_signals(sigset_t *set);
/* Waits for one of the signals in set; returns it. */
int fr_cli_wait_stop_signal(const sigset_t *set);

#endif
