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

struct fr_store;

/*
 * What a command needs before it runs, the flags of its row in main.c's
 * command table. main.c sets them up once, in this order, for every
 * command alike:
 *
 *   parse    the command's options and arguments (fr_cli_ops.parse); no
 *            config yet, so --help and usage errors need none
 *   config   FR_CLI_NEED_CONFIG: -c FILE, else $FERRY_CONFIG, else
 *            ./ferry.yaml, loaded, its warnings logged; on failure
 *            "ferry CMD: FILE:LINE:COL: why" and exit 2
 *   prepare  the command's own checks that need the config (its job, the
 *            secrets it uses), before anything starts (fr_cli_ops.prepare)
 *   signals  FR_CLI_STOP_SIGNALS: SIGINT and SIGTERM blocked before any
 *            thread starts, for fr_cli_wait_stop_signal, and SIGPIPE
 *            ignored (a peer that hung up is an error to report, not a
 *            reason to die)
 *   store    FR_CLI_NEED_STORE (implies the config): the config's store
 *            opened, its migrations applied; on failure "ferry CMD: why"
 *            and exit 2 for a bad store URL, 5 otherwise
 *   run      the command (fr_cli_ops.run)
 *
 * and afterwards closes the store and frees the config, whatever the
 * command returned.
 */
enum fr_cli_need {
    FR_CLI_NEED_CONFIG = 1 << 0,
    FR_CLI_NEED_STORE = 1 << 1,
    FR_CLI_STOP_SIGNALS = 1 << 2,
};

/* What main.c hands a command: its name, what was set up, what it parsed. */
struct fr_cli {
    const char *name; /* "run", for messages: "ferry run: ..." */
    unsigned need;    /* the table's flags; parse may drop FR_CLI_NEED_CONFIG (migrate --store) */
    const char *config_path; /* parse sets it from -c FILE; NULL: $FERRY_CONFIG, ./ferry.yaml */
    struct fr_config *cfg;   /* FR_CLI_NEED_CONFIG: loaded; owned by main.c */
    struct fr_store *store;  /* FR_CLI_NEED_STORE: open; owned by main.c */
    sigset_t stop_signals;   /* FR_CLI_STOP_SIGNALS: the set to wait for */
    void *opts;              /* the command's parsed options: set by parse, free()d by main.c */
};

/* parse's answer when setup and run are to follow (any other value is the exit status). */
#define FR_CLI_GO_ON (-1)

/* A command: one src/cli/NAME.c each, listed in main.c's table with its flags. */
struct fr_cli_ops {
    /* argv[0] is the command's name. FR_CLI_GO_ON, or the exit status now (0 after --help). */
    int (*parse)(struct fr_cli *c, int argc, char **argv);
    /* After the config, before signals and store; FR_EXIT_OK to go on. NULL: nothing. */
    int (*prepare)(struct fr_cli *c);
    /* The command; returns the exit status. */
    int (*run)(struct fr_cli *c);
};

extern const struct fr_cli_ops fr_cli_check, fr_cli_demo, fr_cli_dlq, fr_cli_migrate, fr_cli_mock,
    fr_cli_rollback, fr_cli_run, fr_cli_runs, fr_cli_serve, fr_cli_status, fr_cli_version;

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

/* Waits for one of the signals in set (struct fr_cli's stop_signals); returns it. */
int fr_cli_wait_stop_signal(const sigset_t *set);

#endif
