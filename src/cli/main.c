/*
 * main.c: only dispatches. Each subcommand is one file in src/cli; its row
 * here says what it needs, and main.c sets that up once for all of them
 * (the order and the messages: cli.h, enum fr_cli_need).
 */
#include "core/common.h"

#include <pthread.h>

#include "cli/cli.h"
#include "cli/sections.h"
#include "core/log.h"
#include "store/store.h"

struct command {
    const char *name;
    const struct fr_cli_ops *ops;
    unsigned need; /* enum fr_cli_need */
    const char *summary;
};

static const struct command commands[] = {
    {"run", &fr_cli_run, FR_CLI_NEED_CONFIG | FR_CLI_NEED_STORE,
     "run a push or pull job once, journaled (metrics_file: for node_exporter)"},
    {"runs", &fr_cli_runs, FR_CLI_NEED_CONFIG | FR_CLI_NEED_STORE,
     "list runs, or show one run's counts and failures"},
    {"rollback", &fr_cli_rollback, FR_CLI_NEED_CONFIG | FR_CLI_NEED_STORE,
     "undo what a run created (the manual escape hatch)"},
    {"serve", &fr_cli_serve, FR_CLI_NEED_CONFIG | FR_CLI_STOP_SIGNALS | FR_CLI_NEED_STORE,
     "the webhook gateway: verify, store durably, deliver with retries"},
    {"status", &fr_cli_status, FR_CLI_NEED_CONFIG | FR_CLI_NEED_STORE,
     "jobs and webhook queues at a glance; --check for monitoring"},
    {"dlq", &fr_cli_dlq, FR_CLI_NEED_CONFIG | FR_CLI_NEED_STORE,
     "list, show, replay or purge dead-lettered webhook events"},
    {"migrate", &fr_cli_migrate, FR_CLI_NEED_CONFIG, /* it opens the store itself, unmigrated */
     "apply the store's schema migrations; --check for pending ones"},
    {"check", &fr_cli_check, FR_CLI_NEED_CONFIG,
     "validate a target's config, credentials and reachability"},
    {"demo", &fr_cli_demo, 0, "the nightly push end to end against the built-in simulator"},
    {"mock", &fr_cli_mock, FR_CLI_STOP_SIGNALS,
     "run the simulated target API (with fault injection)"},
    {"version", &fr_cli_version, 0, "print ferry's version and its libraries'"},
};

static void usage(FILE *out)
{
    fputs("usage: ferry COMMAND [options]\n\n"
          "ferry moves business records between systems over REST APIs and keeps\n"
          "working when those APIs misbehave.\n\n"
          "commands:\n",
          out);
    for (size_t i = 0; i < FR_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'ferry COMMAND --help' describes a command.\n"
          "Exit status (the same for every command): 0 ok, 1 failures over threshold\n"
          "or a step that failed, 2 usage or config error, 3 authentication failed,\n"
          "4 target unreachable, 5 store failed, 6 another run of the job is in\n"
          "progress, 130/143 interrupted by SIGINT/SIGTERM.\n",
          out);
}

/* The config of c->config_path, $FERRY_CONFIG or ./ferry.yaml, its warnings logged. */
static int load_config(struct fr_cli *c)
{
    struct fr_err err = {0};
    const char *file = fr_config_default_path(c->config_path);
    int rc = fr_config_load(file, fr_cli_sections(), &c->cfg, &err);
    if (rc) {
        fprintf(stderr, "ferry %s: %s\n", c->name, err.msg[0] ? err.msg : fr_strerror(rc));
        return FR_EXIT_USAGE;
    }
    for (size_t i = 0; i < c->cfg->nwarnings; i++)
        FR_LOG_WARN(c->cfg->warnings[i], FR_LS("config", file));
    return FR_EXIT_OK;
}

/*
 * SIGINT and SIGTERM blocked in this thread before any other starts, so
 * that every thread inherits the mask and the command waits for them.
 */
static void block_stop_signals(struct fr_cli *c)
{
    sigemptyset(&c->stop_signals);
    sigaddset(&c->stop_signals, SIGINT);
    sigaddset(&c->stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &c->stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int open_store(struct fr_cli *c)
{
    struct fr_err err = {0};
    if (fr_store_open_config(c->cfg, 0, &c->store, &err) == 0)
        return FR_EXIT_OK;
    fprintf(stderr, "ferry %s: %s\n", c->name, err.msg);
    /* a store that does not open is a store failure, unless its URL is wrong */
    return fr_cli_exit_status(err.code == FR_ECONFIG ? FR_ECONFIG : FR_ESTORE);
}

/* What the command's flags ask for, in cli.h's order; FR_EXIT_OK, or the status to exit with. */
static int setup(const struct command *cmd, struct fr_cli *c)
{
    int status = FR_EXIT_OK;
    if (c->need & FR_CLI_NEED_STORE)
        c->need |= FR_CLI_NEED_CONFIG;
    if ((c->need & FR_CLI_NEED_CONFIG) && (status = load_config(c)))
        return status;
    if (cmd->ops->prepare && (status = cmd->ops->prepare(c)))
        return status;
    if (c->need & FR_CLI_STOP_SIGNALS)
        block_stop_signals(c);
    if (c->need & FR_CLI_NEED_STORE)
        status = open_store(c);
    return status;
}

static int dispatch(const struct command *cmd, int argc, char **argv)
{
    struct fr_cli c = {.name = cmd->name, .need = cmd->need};
    int status = cmd->ops->parse(&c, argc, argv);
    if (status == FR_CLI_GO_ON && (status = setup(cmd, &c)) == FR_EXIT_OK)
        status = cmd->ops->run(&c);
    fr_store_close(c.store);
    fr_config_free(c.cfg);
    free(c.opts);
    return status;
}

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < FR_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FR_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        const struct command *cmd = argc > 2 && strcmp(name, "help") == 0 ? find(argv[2]) : NULL;
        if (cmd) {
            char *help_argv[] = {argv[2], "--help", NULL};
            return dispatch(cmd, 2, help_argv);
        }
        usage(stdout);
        return FR_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    fr_cli_log_init();
    const struct command *cmd = find(name);
    if (cmd)
        return dispatch(cmd, argc - 1, argv + 1);
    fprintf(stderr, "ferry: unknown command '%s' (see 'ferry --help')\n", name);
    return FR_EXIT_USAGE;
}
