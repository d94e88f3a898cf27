/*
 * ferry serve: the webhook gateway (receiver + dispatch workers) until
 * SIGINT or SIGTERM.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/cron.h"
#include "core/log.h"
#include "core/units.h"
#include "hooks/dispatch.h"
#include "hooks/server.h"
#include "job/sched.h"
#include "obs/admin.h"
#include "obs/alert.h"
#include "obs/metrics.h"
#include "obs/trend.h"
#include "store/store.h"
#include "job/job_conf.h"

static const char usage[] =
    "usage: ferry serve [-c FILE] [--workers N] [--commit-batch N] [--commit-interval D]\n"
    "\n"
    "Runs the webhook gateway of the config's webhooks section: verifies each\n"
    "delivery's signature, stores it durably before answering 200, and hands it\n"
    "to the source's handler (deliver.url or deliver.exec) with retries; events\n"
    "that exhaust max_attempts go to the dead-letter queue (see 'ferry dlq').\n"
    "Prints 'listening on http://IP:PORT' on stdout once it accepts connections.\n"
    "The same listener serves the operations endpoints (docs/operations.md):\n"
    "GET /metrics (Prometheus), /healthz, /readyz, /api/status, /api/dlq, the\n"
    "dashboard at /, and the admin actions POST /api/dlq/SEQ/replay and\n"
    "POST /api/jobs/JOB/run, which need 'Authorization: Bearer' with\n"
    "webhooks.admin_token.\n"
    "Jobs with a schedule (5 cron fields, optional timezone) run when due, never\n"
    "two runs of one job at once; a slot missed while the server was down runs\n"
    "once at start if within the job's max_age. The trend rules under alerts:\n"
    "are evaluated every alerts.evaluate_every; each alert notifies the sinks\n"
    "once when it starts and once when it clears. SIGTERM waits for job runs in\n"
    "progress to finish.\n"
    "A config with scheduled jobs needs no webhooks section (it then listens on\n"
    "127.0.0.1:8080).\n"
    "The ${VAR}s of the webhook sources' secrets, of webhooks.admin_token and of\n"
    "the scheduled jobs' targets must be set; a missing one is named at start.\n"
    "SIGINT or SIGTERM stops it: no new connections, answers in flight finish,\n"
    "deliveries in progress are abandoned and their events left due, exit 0.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "      --workers N       delivery workers (default 4, 1..64)\n"
    "      --commit-batch N  most events stored by one commit (default 512, 1..512);\n"
    "                        1 disables group commit: one fsync per event\n"
    "      --commit-interval D\n"
    "                        least time from one commit's start to the next's\n"
    "                        unless 24 events wait (default 1ms, 0 to 1s): the\n"
    "                        events arriving meanwhile share one fsync; 0 commits\n"
    "                        as soon as the last is done\n" FR_CLI_COMMON_HELP "\n"
    "Exit status: 0 after a clean stop, 2 usage or config error, 4 cannot listen,\n"
    "5 the store cannot be opened.\n";

struct serve_opts {
    size_t workers;      /* 0: the default */
    size_t commit_batch; /* 0: the default */
    int64_t commit_interval_ms;
    bool help;
};

/* A count from 1 to max, or a usage error naming the flag. */
static int parse_count(const char *flag, const char *arg, long max, size_t *out)
{
    char *end;
    errno = 0;
    long n = strtol(arg, &end, 10);
    if (errno || *end || end == arg || n < 1 || n > max)
        return fr_cli_usage_error("serve", "%s must be 1 to %ld, not '%s'", flag, max, arg);
    *out = (size_t)n;
    return 0;
}

static int parse_args(int argc, char **argv, struct fr_cli *c, struct serve_opts *o)
{
    enum { OPT_WORKERS = 0x4001, OPT_COMMIT_BATCH, OPT_COMMIT_INTERVAL };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"commit-batch", required_argument, NULL, OPT_COMMIT_BATCH},
        {"commit-interval", required_argument, NULL, OPT_COMMIT_INTERVAL},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            o->help = true;
            return 0;
        case 'c':
            c->config_path = optarg;
            break;
        case OPT_WORKERS:
            if ((rc = parse_count("--workers", optarg, 64, &o->workers)))
                return rc;
            break;
        case OPT_COMMIT_BATCH:
            if ((rc = parse_count("--commit-batch", optarg, FR_HOOK_BATCH_MAX, &o->commit_batch)))
                return rc;
            break;
        case OPT_COMMIT_INTERVAL: {
            const char *why = NULL;
            if (fr_parse_duration(optarg, &o->commit_interval_ms, &why))
                return fr_cli_usage_error("serve", "--commit-interval '%s': %s", optarg, why);
            if (o->commit_interval_ms > 1000)
                return fr_cli_usage_error("serve", "--commit-interval must be 0 to 1s, not '%s'",
                                          optarg);
            break;
        }
        default:
            if ((rc = fr_cli_other_option("serve", opt, optarg, argv)))
                return rc;
        }
    }
    if (optind < argc)
        return fr_cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The checks the config loader cannot make because they are the store's limits. */
static int check_sources(const struct fr_config *cfg)
{
    bool scheduled = false;
    for (size_t i = 0; i < cfg->njobs; i++)
        scheduled = scheduled || cfg->jobs[i].schedule;
    /* Without sources it still serves the operations endpoints for its scheduled jobs. */
    if ((!cfg->webhooks->configured || cfg->webhooks->nsources == 0) && !scheduled) {
        fprintf(stderr,
                "ferry serve: %s has no webhooks section and no job with a schedule: nothing to "
                "serve (see docs/webhooks.md and docs/operations.md)\n",
                cfg->path);
        return FR_EXIT_USAGE;
    }
    for (size_t i = 0; i < cfg->webhooks->nsources; i++) {
        if (strlen(cfg->webhooks->sources[i].name) >= FR_EVENT_SOURCE_MAX) {
            fprintf(stderr,
                    "ferry serve: webhook source name \"%.40s...\" is longer than %d bytes\n",
                    cfg->webhooks->sources[i].name, FR_EVENT_SOURCE_MAX - 1);
            return FR_EXIT_USAGE;
        }
    }
    return FR_EXIT_OK;
}

/*
 * The secrets serve uses: every webhook source's and the admin token, and
 * the targets of the jobs it runs on schedule. (A job run on demand from
 * the dashboard needs its target's too; without them that run fails and
 * says which variable is unset.)
 */
static int require_secrets(const struct fr_config *cfg)
{
    struct fr_err err = {0};
    int rc = fr_config_require_secrets(cfg, "webhooks", &err);
    for (size_t i = 0; i < cfg->njobs && !rc; i++)
        if (cfg->jobs[i].schedule)
            rc = fr_job_require_secrets(cfg, &cfg->jobs[i], &err);
    if (!rc)
        return FR_EXIT_OK;
    fprintf(stderr, "ferry serve: %s\n", err.msg);
    return FR_EXIT_USAGE;
}

/* What the admin endpoints borrow from the rest of serve. */
struct parts {
    struct fr_dispatch *dispatch;
    struct fr_sched *sched;
    struct fr_trends *trends;
    /* set once the server runs: the admin may answer /readyz before start returns */
    struct fr_hook_server *_Atomic server;
};

static void status_extras(void *ud, json_t *status)
{
    struct parts *p = ud;
    fr_sched_annotate(p->sched, status);
    fr_trends_annotate(p->trends, status);
}

static int run_job(void *ud, const char *job)
{
    struct parts *p = ud;
    return fr_sched_run_now(p->sched, job);
}

static void ready_checks(void *ud, json_t *checks)
{
    struct parts *p = ud;
    size_t running = 0, workers = fr_dispatch_workers(p->dispatch, &running);
    char detail[96];
    snprintf(detail, sizeof(detail), "%zu of %zu delivery workers running", running, workers);
    json_array_append_new(checks, json_pack("{s:s, s:b, s:s}", "name", "workers", "ok",
                                            running == workers, "detail", detail));
}

static int64_t commit_failed_ms(void *ud)
{
    struct parts *p = ud;
    struct fr_hook_server *s = atomic_load(&p->server);
    return s ? fr_hook_server_commit_failed_ms(s) : 0;
}

static void wake_workers(void *ud)
{
    struct parts *p = ud;
    fr_dispatch_wake(p->dispatch);
}

static int serve(const struct fr_config *cfg, struct fr_store *st, const struct serve_opts *o,
                 const sigset_t *stop)
{
    struct fr_err err = {0};
    struct parts parts = {0};
    /* what the lower floors report their metrics to: the registry /metrics shows */
    const struct fr_observer metrics = fr_metrics_observer(fr_metrics_global());
    struct fr_store_opener opener = fr_store_opener_config(cfg);
    int rc = fr_dispatch_start(cfg->webhooks, &opener, o->workers, &metrics, &parts.dispatch, &err);
    if (rc) {
        fprintf(stderr, "ferry serve: %s\n", err.msg);
        return fr_cli_exit_status(rc);
    }
    struct fr_dispatch *d = parts.dispatch;
    struct fr_admin_hooks hooks = {
        .ud = &parts,
        .ready = ready_checks,
        .status = status_extras,
        .run_job = run_job,
        .wake = wake_workers,
        .commit_failed_ms = commit_failed_ms,
    };
    const struct fr_sched_opts sched = {.alert = fr_alert_failed_run,
                                        .alert_ud = (void *)cfg,
                                        .observer = &metrics,
                                        .exit_status = fr_cli_run_exit_status};
    struct fr_admin *admin = NULL;
    if ((rc = fr_trends_start(cfg, &parts.trends, &err)) ||
        (rc = fr_sched_start(cfg, &sched, &parts.sched, &err)) ||
        (rc = fr_admin_new(cfg, &hooks, &admin, &err))) {
        fprintf(stderr, "ferry serve: %s\n", err.msg);
        fr_sched_stop(parts.sched);
        fr_trends_stop(parts.trends);
        fr_dispatch_stop(d);
        return fr_cli_exit_status(rc);
    }
    struct fr_hook_server *s = NULL;
    const struct fr_hook_commit commit = {o->commit_batch, o->commit_interval_ms};
    const struct fr_hook_routes routes = fr_admin_routes(admin);
    rc = fr_hook_server_start(cfg->webhooks, st, &commit, fr_dispatch_wake, d, &routes, &metrics,
                              &s, &err);
    if (rc) {
        fprintf(stderr, "ferry serve: %s\n", err.msg);
        fr_admin_free(admin);
        fr_sched_stop(parts.sched);
        fr_trends_stop(parts.trends);
        fr_dispatch_stop(d);
        /* a listener that does not start: a bad address (usage), or cannot listen there */
        return fr_cli_exit_status(rc == FR_EINVAL ? FR_EINVAL : FR_EUNREACHABLE);
    }
    atomic_store(&parts.server, s);
    printf("listening on http://%s:%d\n", fr_hook_server_host(s), fr_hook_server_port(s));
    fflush(stdout);
    FR_LOG_INFO("serve started", FR_LS("listen", cfg->webhooks->listen),
                FR_LI("port", fr_hook_server_port(s)), FR_LI("sources", cfg->webhooks->nsources),
                FR_LI("workers", o->workers ? o->workers : FR_DISPATCH_DEFAULT_WORKERS),
                FR_LI("commit_batch", o->commit_batch ? o->commit_batch : FR_HOOK_BATCH_MAX),
                FR_LI("commit_interval_ms", o->commit_interval_ms));
    int sig = fr_cli_wait_stop_signal(stop);
    FR_LOG_INFO("serve stopping", FR_LS("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    fr_hook_server_stop(s); /* first: the answers in flight still need the committer's store */
    atomic_store(&parts.server, NULL);
    fr_admin_free(admin);
    fr_sched_interrupt(parts.sched, sig); /* runs in progress stop cleanly, within their grace */
    fr_sched_stop(parts.sched);           /* and are waited for */
    fr_trends_stop(parts.trends);
    fr_dispatch_stop(d);
    FR_LOG_INFO("serve stopped");
    return FR_EXIT_OK;
}

static int parse(struct fr_cli *c, int argc, char **argv)
{
    struct serve_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->commit_interval_ms = FR_HOOK_COMMIT_INTERVAL_DEFAULT_MS;
    int status = parse_args(argc, argv, c, o);
    if (status)
        return status;
    if (o->help) {
        fputs(usage, stdout);
        return FR_EXIT_OK;
    }
    return FR_CLI_GO_ON;
}

/* What serves and the secrets it uses, before the stop signals are blocked and the store opens. */
static int prepare(struct fr_cli *c)
{
    int status = check_sources(c->cfg);
    if (status || (status = require_secrets(c->cfg)))
        return status;
    /*
     * Before the first thread (the store's checkpointer, opened after this):
     * the scheduler switches TZ, which is safe only once TZ exists (core/cron.h).
     */
    fr_cron_tz_init();
    return FR_EXIT_OK;
}

static int run(struct fr_cli *c)
{
    return serve(c->cfg, c->store, c->opts, &c->stop_signals);
}

const struct fr_cli_ops fr_cli_serve = {.parse = parse, .prepare = prepare, .run = run};
