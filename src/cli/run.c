/*
 * ferry run JOB: run a push job once, with its summary, journal, alerts and
 * exit status.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <unistd.h>

#include "core/log.h"
#include "job/push.h"
#include "obs/alert.h"
#include "store/store.h"

static const char usage[] =
    "usage: ferry run [options] JOB\n"
    "\n"
    "Runs a push job: reads its source, maps every record, skips what the journal\n"
    "says is done, posts the rest in batches, journals every outcome, prints a\n"
    "summary, and alerts when failures cross the job's threshold.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "  -n, --dry-run         map and validate everything, send nothing, write nothing\n"
    "      --limit N         stop after N records\n"
    "      --only KEY        push only the record with this key\n"
    "      --fresh           ignore the journal: send every record again (a warning is logged)\n"
    "      --no-progress     no progress line, even on a terminal\n" FR_CLI_COMMON_HELP "\n"
    "exit status: 0 every record accepted (created or duplicate), 1 failures crossed\n"
    "the alert threshold, 2 usage or configuration error, 3 authentication failed,\n"
    "4 the target stayed unreachable, 5 the store failed.\n";

static void send_alerts(const struct fr_config *cfg, const struct fr_push_result *r)
{
    if (!cfg->nalerts)
        return;
    const struct fr_run_counts *c = &r->run.counts;
    char *text = fr_asprintf(
        "ferry: job %s run %s crossed its alert threshold: %llu failed and %llu rejected of %llu "
        "records read (exit %d)",
        r->run.job, r->run.id, (unsigned long long)c->failed, (unsigned long long)c->rejected,
        (unsigned long long)c->read, r->run.exit_code);
    json_t *summary = fr_push_summary_json(r);
    fr_alert_notify(cfg->alerts, cfg->nalerts, cfg->dir, summary, text);
    json_decref(summary);
    free(text);
}

static int parse_limit(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < 0)
        return -1;
    *out = v;
    return 0;
}

int fr_cli_run(int argc, char **argv)
{
    enum { OPT_LIMIT = 0x2001, OPT_ONLY, OPT_FRESH, OPT_NO_PROGRESS };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"only", required_argument, NULL, OPT_ONLY},
        {"fresh", no_argument, NULL, OPT_FRESH},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    const char *config_path = NULL;
    struct fr_push_opts opts = {.limit = -1, .progress = isatty(STDERR_FILENO)};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:nh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            config_path = optarg;
            break;
        case 'n':
            opts.dry_run = true;
            break;
        case OPT_LIMIT:
            if (parse_limit(optarg, &opts.limit))
                return fr_cli_usage_error("run", "--limit must be a whole number >= 0, not '%s'",
                                          optarg);
            break;
        case OPT_ONLY:
            opts.only_key = optarg;
            break;
        case OPT_FRESH:
            opts.fresh = true;
            break;
        case OPT_NO_PROGRESS:
            opts.progress = false;
            break;
        default: {
            int rc = fr_cli_other_option("run", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    if (optind >= argc)
        return fr_cli_usage_error("run", "missing JOB");
    if (optind + 1 < argc)
        return fr_cli_usage_error("run", "unexpected argument '%s'", argv[optind + 1]);
    const char *name = argv[optind];

    struct fr_config *cfg = NULL;
    int status = fr_cli_load_config("run", config_path, &cfg);
    if (status)
        return status;
    const struct fr_job_conf *job = fr_config_find_job(cfg, name);
    if (!job) {
        fprintf(stderr, "ferry run: %s: no job named \"%s\"", cfg->path, name);
        for (size_t i = 0; i < cfg->njobs; i++)
            fprintf(stderr, "%s%s", i ? " " : " (jobs: ", cfg->jobs[i].name);
        fputs(cfg->njobs ? ")\n" : "\n", stderr);
        fr_config_free(cfg);
        return FR_EXIT_USAGE;
    }
    struct fr_store *st = NULL;
    if ((status = fr_cli_open_store("run", cfg, &st))) {
        fr_config_free(cfg);
        return status;
    }
    struct fr_push_result res;
    fr_push_run(cfg, job, st, &opts, &res);
    fr_cli_print_run_summary(&res, opts.dry_run);
    if (res.over_threshold && !opts.dry_run)
        send_alerts(cfg, &res);
    status = res.run.exit_code;
    fr_push_result_release(&res);
    fr_store_close(st);
    fr_config_free(cfg);
    return status;
}
