/*
 * ferry rollback RUN: undo what a push run created.
 */
#include "core/common.h"
#include "cli/cli.h"

#include "job/rollback.h"
#include "store/store.h"
#include "job/job_conf.h"

static const char usage[] =
    "usage: ferry rollback [options] RUN\n"
    "\n"
    "Sends the job's rollback request (e.g. DELETE /credits/{{key}}) for every\n"
    "record the run created, and marks each rolled back in the journal. A 404\n"
    "counts as already gone. Keys whose request failed stay as they were, so\n"
    "running the same rollback again finishes the job safely.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "  -n, --dry-run         list what would be rolled back, send nothing\n" FR_CLI_COMMON_HELP "\n"
    "exit status: 0 all rolled back, 1 some keys could not be, 2 usage or config\n"
    "error, 3 authentication failed, 4 target unreachable, 5 the store failed.\n";

/* Rolls back run_id and prints the outcome; returns the exit status. */
static int rollback(const struct fr_config *cfg, struct fr_store *st, const char *run_id,
                    bool dry_run)
{
    struct fr_err err = {0};
    struct fr_run run;
    if (fr_store_run_get(st, run_id, &run, &err)) {
        bool missing = err.code == FR_ENOTFOUND;
        fprintf(stderr, "ferry rollback: %s\n",
                missing ? "no such run (see 'ferry runs list')" : err.msg);
        return fr_cli_exit_status(missing ? FR_EINVAL : FR_ESTORE); /* a bad RUN, or the store */
    }
    const struct fr_job_conf *job = fr_job_find(cfg, run.job);
    if (!job) {
        fprintf(stderr, "ferry rollback: run %s belongs to job %s, which %s no longer has\n",
                run_id, run.job, cfg->path);
        return FR_EXIT_USAGE;
    }
    if (job->kind != FR_JOB_PUSH) {
        fprintf(stderr,
                "ferry rollback: run %s is of job %s, a pull job: only push runs create records "
                "to roll back\n",
                run_id, run.job);
        return FR_EXIT_USAGE;
    }
    struct fr_rollback_result res;
    if (fr_rollback_run(job, fr_target_find(cfg, job->target), st, run_id, dry_run, &res) &&
        !res.keys) {
        fprintf(stderr, "ferry rollback: %s\n", res.err.msg);
        return fr_cli_exit_status(res.code);
    }
    if (dry_run)
        printf("dry run: %llu records created by run %s would be rolled back\n",
               (unsigned long long)res.keys, run_id);
    else
        printf("rollback of run %s (job %s): %llu keys, %llu removed, %llu already gone, "
               "%llu failed\n",
               run_id, run.job, (unsigned long long)res.keys, (unsigned long long)res.removed,
               (unsigned long long)res.already_gone, (unsigned long long)res.failed);
    if (res.code) {
        printf("stopped: %s\n", res.err.msg);
        return fr_cli_exit_status(res.code);
    }
    return res.failed ? FR_EXIT_FAILURES : FR_EXIT_OK;
}

struct rollback_opts {
    const char *run_id;
    bool dry_run;
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct rollback_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    int opt;
    while ((opt = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            c->config_path = optarg;
            break;
        case 'n':
            o->dry_run = true;
            break;
        default: {
            int rc = fr_cli_other_option("rollback", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    if (optind >= argc)
        return fr_cli_usage_error("rollback", "missing RUN (see 'ferry runs list')");
    if (optind + 1 < argc)
        return fr_cli_usage_error("rollback", "unexpected argument '%s'", argv[optind + 1]);
    o->run_id = argv[optind];
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct rollback_opts *o = c->opts;
    return rollback(c->cfg, c->store, o->run_id, o->dry_run);
}

const struct fr_cli_ops fr_cli_rollback = {.parse = parse, .run = run};
