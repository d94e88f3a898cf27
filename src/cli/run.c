/*
 * ferry run JOB: run a push or a pull job once, with its summary, alerts
 * and exit status.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <unistd.h>

#include "core/log.h"
#include "job/pull.h"
#include "job/push.h"
#include "obs/alert.h"
#include "obs/metrics.h"
#include "store/store.h"

static const char usage[] =
    "usage: ferry run [options] JOB\n"
    "\n"
    "Runs a job once, prints a summary, records the run in the store (ferry runs),\n"
    "and alerts when failures cross the job's threshold.\n"
    "\n"
    "A push job (kind: push) reads its source, maps every record, skips what the\n"
    "journal says is done, posts the rest in batches and journals every outcome.\n"
    "\n"
    "A pull job (kind: pull) fetches the first page of request.path and follows\n"
    "the next pages exactly as the API gives them (paging: odata, link, cursor or\n"
    "none), through the same rate limiter, token refresh and retries; it checks\n"
    "every record against the job's schema, writes the valid ones to the sink\n"
    "(jsonl, csv or sqlite; atomically, at the end of a successful run) and the\n"
    "others to the rejects file with the reasons. With a watermark, only what\n"
    "changed since the last successful run is fetched ({{watermark}} in\n"
    "request.params), and the new watermark is saved after the sink commits.\n"
    "See docs/pull.md.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "  -n, --dry-run         push: map and validate, send nothing; pull: fetch and\n"
    "                        validate, write no sink, watermark or run\n"
    "      --limit N         push: stop after N records\n"
    "      --only KEY        push: push only the record with this key\n"
    "      --fresh           push: ignore the journal, send every record again\n"
    "      --full            pull: ignore the saved watermark, fetch everything\n"
    "                        (from watermark.initial)\n"
    "      --since VALUE     pull: fetch what changed after VALUE instead of the saved\n"
    "                        watermark\n"
    "      --no-progress     no progress line, even on a terminal\n" FR_CLI_COMMON_HELP "\n"
    "exit status: 0 every record accepted (push: created or duplicate; pull: valid\n"
    "and written), 1 failures or rejects crossed the alert threshold, or a pull\n"
    "stopped on a bad page or an unwritable sink, 2 usage or configuration error,\n"
    "3 authentication failed, 4 the target stayed unreachable, 5 the store failed.\n"
    "\n"
    "A job with metrics_file: PATH gets the run's metrics written there atomically\n"
    "(Prometheus text format, for node_exporter's textfile collector).\n";

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

static void send_pull_alerts(const struct fr_config *cfg, const struct fr_pull_result *r)
{
    if (!cfg->nalerts)
        return;
    const struct fr_run_counts *c = &r->run.counts;
    char *text = fr_asprintf("ferry: job %s run %s crossed its alert threshold: %llu rejected of "
                             "%llu records read (exit %d)",
                             r->run.job, r->run.id, (unsigned long long)c->rejected,
                             (unsigned long long)c->read, r->run.exit_code);
    json_t *summary = fr_pull_summary_json(r);
    fr_alert_notify(cfg->alerts, cfg->nalerts, cfg->dir, summary, text);
    json_decref(summary);
    free(text);
}

/* A pull run's summary for people on stdout. */
static void print_pull_summary(const struct fr_pull_result *r, bool dry_run)
{
    const struct fr_run *run = &r->run;
    const struct fr_run_counts *c = &run->counts;
    double secs = (double)(run->ended_ms - run->started_ms) / 1000.0;
    printf("%srun %s  job %s  %s  exit %d  %.1f s\n", dry_run ? "dry " : "", run->id, run->job,
           run->status, run->exit_code, secs);
    printf("  pages %llu  records %llu  %s %llu  rejected %llu  %.0f records/s\n",
           (unsigned long long)c->pages, (unsigned long long)c->read,
           dry_run ? "would write" : "written", (unsigned long long)c->written,
           (unsigned long long)c->rejected, secs > 0 ? (double)c->read / secs : 0.0);
    printf("  requests %llu  retries %llu  rate-limited %llu  token refreshes %llu\n",
           (unsigned long long)c->requests, (unsigned long long)c->retries,
           (unsigned long long)c->rate_limited, (unsigned long long)c->token_refreshes);
    if (r->watermark_from)
        printf("  watermark %s -> %s\n", r->watermark_from,
               r->watermark_to ? r->watermark_to : "(not saved)");
    size_t i;
    json_t *f;
    json_array_foreach(r->failures, i, f)
    {
        const char *key = json_string_value(json_object_get(f, "key"));
        printf("  rejected %s (record %lld): %s\n", key ? key : "-",
               (long long)json_integer_value(json_object_get(f, "line")),
               json_string_value(json_object_get(f, "reason")));
    }
    if (r->failures_total > json_array_size(r->failures))
        printf("  ... %llu in all: ferry runs show %s --failed\n",
               (unsigned long long)r->failures_total, run->id);
    if (r->code)
        printf("  stopped: %s\n", r->err.msg);
    fflush(stdout);
}

static int run_pull(const struct fr_config *cfg, const struct fr_job_conf *job, struct fr_store *st,
                    const struct fr_pull_opts *opts)
{
    struct fr_pull_result res;
    fr_pull_run(cfg, job, st, opts, &res);
    print_pull_summary(&res, opts->dry_run);
    if (res.over_threshold && !opts->dry_run)
        send_pull_alerts(cfg, &res);
    int status = res.run.exit_code;
    fr_pull_result_release(&res);
    return status;
}

/* The run's metrics to the job's metrics_file, if it has one (not for a dry run). */
static void write_metrics(const struct fr_job_conf *job, bool dry_run)
{
    if (!job->metrics_file || dry_run)
        return;
    struct fr_err err = {0};
    if (fr_metrics_write_file(fr_metrics_global(), job->metrics_file, &err))
        FR_LOG_ERROR("metrics file not written", FR_LS("job", job->name), FR_LS("error", err.msg));
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
    enum { OPT_LIMIT = 0x2001, OPT_ONLY, OPT_FRESH, OPT_NO_PROGRESS, OPT_FULL, OPT_SINCE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"only", required_argument, NULL, OPT_ONLY},
        {"fresh", no_argument, NULL, OPT_FRESH},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"full", no_argument, NULL, OPT_FULL},
        {"since", required_argument, NULL, OPT_SINCE},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    const char *config_path = NULL;
    struct fr_push_opts opts = {.limit = -1, .progress = isatty(STDERR_FILENO)};
    struct fr_pull_opts pull = {0};
    const char *push_only = NULL, *pull_only = NULL; /* an option given that only one kind takes */
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
            push_only = "--limit";
            break;
        case OPT_ONLY:
            opts.only_key = optarg;
            push_only = "--only";
            break;
        case OPT_FRESH:
            opts.fresh = true;
            push_only = "--fresh";
            break;
        case OPT_FULL:
            pull.full = true;
            pull_only = "--full";
            break;
        case OPT_SINCE:
            if (!*optarg)
                return fr_cli_usage_error("run", "--since needs a value");
            pull.since = optarg;
            pull_only = "--since";
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
    const char *misplaced = job->kind == FR_JOB_PULL ? push_only : pull_only;
    if (misplaced || (pull.full && pull.since)) {
        status = misplaced
                     ? fr_cli_usage_error("run", "%s does not apply to %s job \"%s\"", misplaced,
                                          job->kind == FR_JOB_PULL ? "pull" : "push", name)
                     : fr_cli_usage_error("run", "--full and --since exclude each other");
        fr_config_free(cfg);
        return status;
    }
    if (job->kind == FR_JOB_PULL && (pull.full || pull.since) && !job->pull.watermark.configured)
        FR_LOG_WARN("job has no watermark: --full and --since change nothing",
                    FR_LS("job", job->name));
    struct fr_store *st = NULL;
    if ((status = fr_cli_open_store("run", cfg, &st))) {
        fr_config_free(cfg);
        return status;
    }
    if (job->kind == FR_JOB_PULL) {
        pull.dry_run = opts.dry_run;
        pull.progress = opts.progress;
        status = run_pull(cfg, job, st, &pull);
        write_metrics(job, pull.dry_run);
        fr_store_close(st);
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
    write_metrics(job, opts.dry_run);
    fr_store_close(st);
    fr_config_free(cfg);
    return status;
}
