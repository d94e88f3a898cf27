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
#include "job/preflight.h"
#include "job/push.h"
#include "job/run.h"
#include "obs/alert.h"
#include "obs/metrics.h"
#include "store/store.h"
#include "job/job_conf.h"

static const char usage[] =
    "usage: ferry run [options] JOB\n"
    "\n"
    "Runs a job once, prints a summary, records the run in the store (ferry runs),\n"
    "and tells every alert sink when the run fails, with the reason.\n"
    "\n"
    "One run of a job at a time: a run holds the job's run lock (in the store, so\n"
    "over every machine sharing it); another run of the same job exits 6 naming\n"
    "the one in progress, or waits for it with --wait.\n"
    "\n"
    "SIGINT or SIGTERM: reading stops, the batches on the wire settle within the\n"
    "grace period and are journaled, the run is stored `interrupted` with its\n"
    "counts, the summary is printed, and ferry exits 130 or 143. A second signal\n"
    "stops at once; what was on the wire is looked up by the next run.\n"
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
    "                        validate, write no sink, watermark or run; both first\n"
    "                        check the job's files as ferry check JOB does\n"
    "      --limit N         push: stop after N records\n"
    "      --only KEY        push: push only the record with this key\n"
    "      --fresh           push: ignore the journal, send every record again\n"
    "      --full            pull: ignore the saved watermark, fetch everything\n"
    "                        (from watermark.initial)\n"
    "      --since VALUE     pull: fetch what changed after VALUE instead of the saved\n"
    "                        watermark\n"
    "      --no-progress     no progress line, even on a terminal\n"
    "      --wait[=DURATION] when another run of the job is in progress, wait for it\n"
    "                        (at most DURATION, e.g. 30m; without one: as long as it\n"
    "                        takes) instead of exiting 6\n"
    "      --grace DURATION  after SIGINT/SIGTERM, how long the batches on the wire\n"
    "                        may take to settle (default 10s)\n" FR_CLI_COMMON_HELP "\n"
    "exit status: 0 every record accepted (push: created or duplicate; pull: valid\n"
    "and written), 1 failures or rejects crossed the alert threshold, or the run\n"
    "stopped on input that broke mid-way (a source's read error or bad CSV, a bad\n"
    "page, an unwritable sink), 2 usage or configuration error (a source, sink or\n"
    "schema that cannot be opened included), 3 authentication failed, 4 the target\n"
    "stayed unreachable, 5 the store failed, 6 another run of this job is in\n"
    "progress, 130/143 interrupted by SIGINT/SIGTERM.\n"
    "\n"
    "A job with metrics_file: PATH gets the run's metrics written there atomically\n"
    "(Prometheus text format, for node_exporter's textfile collector).\n";

/*
 * SIGINT/SIGTERM during a run: noted for the engines (job/stop.h), which
 * stop cleanly; the second cuts what is on the wire; a third, should the
 * run be stuck where it cannot look, ends the process as by default.
 */
static struct fr_run_stop stop;

static void on_stop_signal(int signo)
{
    if (!stop.signo)
        stop.signo = signo;
    if (++stop.count >= 2) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
}

static void watch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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
    if (run->reason[0])
        printf("  reason: %s\n", run->reason);
    fflush(stdout);
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

/* What ferry run parsed, and the job prepare found. */
struct run_opts {
    struct fr_push_opts push;
    struct fr_pull_opts pull;
    int64_t lock_wait_ms;
    bool progress;
    const char *push_only, *pull_only; /* an option given that only one kind takes */
    const char *name;                  /* JOB */
    const struct fr_job_conf *job;     /* its config (prepare) */
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    enum {
        OPT_LIMIT = 0x2001,
        OPT_ONLY,
        OPT_FRESH,
        OPT_NO_PROGRESS,
        OPT_FULL,
        OPT_SINCE,
        OPT_WAIT,
        OPT_GRACE
    };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, 'n'},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"only", required_argument, NULL, OPT_ONLY},
        {"fresh", no_argument, NULL, OPT_FRESH},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        {"full", no_argument, NULL, OPT_FULL},
        {"since", required_argument, NULL, OPT_SINCE},
        {"wait", optional_argument, NULL, OPT_WAIT},
        {"grace", required_argument, NULL, OPT_GRACE},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct run_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->progress = isatty(STDERR_FILENO);
    o->push = (struct fr_push_opts){.limit = -1,
                                    .stop = &stop,
                                    .grace_ms = FR_RUN_GRACE_DEFAULT_MS,
                                    .exit_status = fr_cli_run_exit_status};
    const char *why = NULL;
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
            o->push.dry_run = true;
            break;
        case OPT_LIMIT:
            if (parse_limit(optarg, &o->push.limit))
                return fr_cli_usage_error("run", "--limit must be a whole number >= 0, not '%s'",
                                          optarg);
            o->push_only = "--limit";
            break;
        case OPT_ONLY:
            o->push.only_key = optarg;
            o->push_only = "--only";
            break;
        case OPT_FRESH:
            o->push.fresh = true;
            o->push_only = "--fresh";
            break;
        case OPT_FULL:
            o->pull.full = true;
            o->pull_only = "--full";
            break;
        case OPT_SINCE:
            if (!*optarg)
                return fr_cli_usage_error("run", "--since needs a value");
            o->pull.since = optarg;
            o->pull_only = "--since";
            break;
        case OPT_NO_PROGRESS:
            o->progress = false;
            break;
        case OPT_WAIT:
            o->lock_wait_ms = -1;
            if (optarg && fr_parse_duration(optarg, &o->lock_wait_ms, &why))
                return fr_cli_usage_error("run", "--wait=%s: %s", optarg, why);
            break;
        case OPT_GRACE:
            if (fr_parse_duration(optarg, &o->push.grace_ms, &why))
                return fr_cli_usage_error("run", "--grace %s: %s", optarg, why);
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
    o->name = argv[optind];
    return FR_CLI_GO_ON;
}

/* The job, the options that fit it, its secrets and (--dry-run) its files: before the store. */
static int prepare(struct fr_cli *c)
{
    struct run_opts *o = c->opts;
    const struct fr_config *cfg = c->cfg;
    const struct fr_job_conf *job = o->job = fr_job_find(cfg, o->name);
    if (!job) {
        fprintf(stderr, "ferry run: %s: no job named \"%s\"", cfg->path, o->name);
        for (size_t i = 0; i < cfg->njobs; i++)
            fprintf(stderr, "%s%s", i ? " " : " (jobs: ", cfg->jobs[i].name);
        fputs(cfg->njobs ? ")\n" : "\n", stderr);
        return FR_EXIT_USAGE;
    }
    const char *misplaced = job->kind == FR_JOB_PULL ? o->push_only : o->pull_only;
    if (misplaced)
        return fr_cli_usage_error("run", "%s does not apply to %s job \"%s\"", misplaced,
                                  job->kind == FR_JOB_PULL ? "pull" : "push", o->name);
    if (o->pull.full && o->pull.since)
        return fr_cli_usage_error("run", "--full and --since exclude each other");
    if (job->kind == FR_JOB_PULL && (o->pull.full || o->pull.since) &&
        !job->pull.watermark.configured)
        FR_LOG_WARN("job has no watermark: --full and --since change nothing",
                    FR_LS("job", job->name));
    struct fr_err err = {0};
    if (fr_job_require_secrets(cfg, job, &err) ||
        (o->push.dry_run && fr_preflight_job(job, cfg->path, cfg->dir, &err))) {
        fprintf(stderr, "ferry run: %s\n", err.msg);
        return FR_EXIT_USAGE;
    }
    return FR_EXIT_OK;
}

static int run(struct fr_cli *c)
{
    struct run_opts *o = c->opts;
    const struct fr_job_conf *job = o->job;
    watch_stop_signals();
    if (o->progress) {
        o->push.progress = fr_cli_draw_progress;
        fr_log_set_progress_line(true);
    }
    const struct fr_observer metrics = fr_metrics_observer(fr_metrics_global());
    o->push.observer = &metrics; /* what write_metrics writes */
    struct fr_run_opts ropts = {.push = o->push,
                                .pull = o->pull,
                                .lock_wait_ms = o->lock_wait_ms,
                                .alert = fr_alert_failed_run,
                                .alert_ud = c->cfg};
    struct fr_run_result res;
    int status;
    int rc = fr_run_job(job, fr_target_find(c->cfg, job->target), c->store, &ropts, &res);
    fr_log_set_progress_line(false);
    if (rc) {
        fprintf(stderr, "ferry run: %s\n", res.busy);
        status = res.exit_status;
    } else {
        if (job->kind == FR_JOB_PULL)
            print_pull_summary(&res.pull, o->push.dry_run);
        else
            fr_cli_print_run_summary(&res.push, o->push.dry_run);
        status = res.exit_status;
        fr_run_result_release(&res);
        write_metrics(job, o->push.dry_run);
    }
    return status;
}

const struct fr_cli_ops fr_cli_run = {.parse = parse, .prepare = prepare, .run = run};
