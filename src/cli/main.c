/*
 * main.c: only dispatches. Each subcommand is one file in src/cli.
 */
#include "core/common.h"

#include "cli/cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", fr_cli_run, "run a push or pull job once, journaled (metrics_file: for node_exporter)"},
    {"runs", fr_cli_runs, "list runs, or show one run's counts and failures"},
    {"rollback", fr_cli_rollback, "undo what a run created (the manual escape hatch)"},
    {"serve", fr_cli_serve, "the webhook gateway: verify, store durably, deliver with retries"},
    {"status", fr_cli_status, "jobs and webhook queues at a glance; --check for monitoring"},
    {"dlq", fr_cli_dlq, "list, show, replay or purge dead-lettered webhook events"},
    {"migrate", fr_cli_migrate, "apply the store's schema migrations; --check for pending ones"},
    {"check", fr_cli_check, "validate a target's config, credentials and reachability"},
    {"demo", fr_cli_demo, "the nightly push end to end against the built-in simulator"},
    {"mock", fr_cli_mock, "run the simulated target API (with fault injection)"},
    {"version", fr_cli_version, "print ferry's version and its libraries'"},
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FR_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2 && strcmp(name, "help") == 0) {
            char *help_argv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < FR_ARRAY_LEN(commands); i++)
                if (strcmp(commands[i].name, argv[2]) == 0)
                    return commands[i].fn(2, help_argv);
        }
        usage(stdout);
        return FR_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0)
        name = "version";
    fr_cli_log_init();
    for (size_t i = 0; i < FR_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "ferry: unknown command '%s' (see 'ferry --help')\n", name);
    return FR_EXIT_USAGE;
}
