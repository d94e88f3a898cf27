/*
 * ferry runs list|show: what ran, when, with what result, from the store.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>

#include "core/clock.h"
#include "store/store.h"

static const char usage[] =
    "usage: ferry runs list [--job JOB] [--limit N] [--json] [-c FILE]\n"
    "       ferry runs show RUN [--failed] [--json] [-c FILE]\n"
    "\n"
    "Lists the runs recorded in the store (newest first), or shows one run: its\n"
    "counts, the host and process that ran it and, with --failed, every record it\n"
    "could not push (or, for a pull job, every record the schema rejected) and\n"
    "why. Pull runs also count the pages fetched and the records written to the\n"
    "sink (PAGES, WRITTEN). A run that failed or was interrupted says why (REASON).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "      --job JOB         only runs of this job (list)\n"
    "      --limit N         at most N runs (list; default 20, 0 for all)\n"
    "      --failed          also list the failed, rejected and changed records (show)\n"
    "      --json            JSON instead of a table\n" FR_CLI_COMMON_HELP;

static json_t *run_json(const struct fr_run *r)
{
    char started[40] = "", ended[40] = "";
    fr_format_rfc3339(r->started_ms, started, sizeof(started));
    if (r->ended_ms)
        fr_format_rfc3339(r->ended_ms, ended, sizeof(ended));
    const struct fr_run_counts *c = &r->counts;
    return json_pack("{s:s, s:s, s:s, s:i, s:s?, s:s?, s:o, s:s, s:s?, s:{s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
                     "run_id", r->id, "job", r->job, "status", r->status, "exit_code", r->exit_code,
                     "reason", r->reason[0] ? r->reason : NULL, "host", r->host[0] ? r->host : NULL,
                     "pid", r->pid > 0 ? json_integer((json_int_t)r->pid) : json_null(), "started",
                     started, "ended", r->ended_ms ? ended : NULL, "counts", "read",
                     (json_int_t)c->read, "sent", (json_int_t)c->sent, "created",
                     (json_int_t)c->created, "duplicate", (json_int_t)c->duplicate, "rejected",
                     (json_int_t)c->rejected, "failed", (json_int_t)c->failed, "changed",
                     (json_int_t)c->changed, "skipped", (json_int_t)c->skipped, "requests",
                     (json_int_t)c->requests, "retries", (json_int_t)c->retries, "rate_limited",
                     (json_int_t)c->rate_limited, "token_refreshes", (json_int_t)c->token_refreshes,
                     "pages", (json_int_t)c->pages, "written", (json_int_t)c->written);
}

struct list_ctx {
    bool json;
    json_t *array;
    size_t n;
};

static int list_one(const struct fr_run *r, void *ud)
{
    struct list_ctx *ctx = ud;
    ctx->n++;
    if (ctx->json) {
        json_array_append_new(ctx->array, run_json(r));
        return 0;
    }
    char started[40];
    fr_format_rfc3339(r->started_ms, started, sizeof(started));
    started[19] = '\0'; /* to the second */
    char took[32] = "-";
    if (r->ended_ms)
        snprintf(took, sizeof(took), "%.1fs", (double)(r->ended_ms - r->started_ms) / 1000.0);
    const struct fr_run_counts *c = &r->counts;
    printf("%-24s %-20s %-11s %4d %-19s %8s %8llu %8llu %8llu %8llu %8llu %8llu %8llu%s%s\n", r->id,
           r->job, r->status, r->exit_code, started, took, (unsigned long long)c->read,
           (unsigned long long)c->created, (unsigned long long)c->duplicate,
           (unsigned long long)c->skipped, (unsigned long long)(c->failed + c->rejected),
           (unsigned long long)c->pages, (unsigned long long)c->written, r->reason[0] ? "  " : "",
           r->reason);
    return 0;
}

static int print_failure(const struct fr_run_failure *f, void *ud)
{
    json_t *array = ud;
    if (array) {
        json_array_append_new(array,
                              json_pack("{s:s?, s:I, s:s, s:s}", "key", f->key, "line",
                                        (json_int_t)f->line, "kind", f->kind, "reason", f->reason));
        return 0;
    }
    printf("  %-9s %-20s line %-8llu %s\n", f->kind, f->key ? f->key : "-",
           (unsigned long long)f->line, f->reason);
    return 0;
}

static int show(struct fr_store *st, const char *id, bool failed, bool json)
{
    struct fr_run r;
    struct fr_err err = {0};
    int rc = fr_store_run_get(st, id, &r, &err);
    if (rc == FR_ENOTFOUND) {
        fprintf(stderr, "ferry runs: no run with id %s (see 'ferry runs list')\n", id);
        return FR_EXIT_USAGE;
    }
    if (rc) {
        fprintf(stderr, "ferry runs: %s\n", err.msg);
        return FR_EXIT_STORE;
    }
    json_t *failures = failed && json ? json_array() : NULL;
    if (json) {
        json_t *j = run_json(&r);
        if (failed) {
            rc = fr_store_run_failures(st, id, print_failure, failures, &err);
            json_object_set_new(j, "failures", failures);
        }
        char *s = json_dumps(j, JSON_INDENT(2));
        puts(s);
        free(s);
        json_decref(j);
    } else {
        const struct fr_run_counts *c = &r.counts;
        char started[40], ended[40] = "-";
        fr_format_rfc3339(r.started_ms, started, sizeof(started));
        if (r.ended_ms)
            fr_format_rfc3339(r.ended_ms, ended, sizeof(ended));
        printf("run      %s\njob      %s\nstatus   %s (exit %d)\n", r.id, r.job, r.status,
               r.exit_code);
        if (r.reason[0])
            printf("reason   %s\n", r.reason);
        printf("started  %s\nended    %s\n", started, ended);
        if (r.host[0] || r.pid > 0) {
            char pid[32] = "pid unknown";
            if (r.pid > 0)
                snprintf(pid, sizeof(pid), "pid %lld", (long long)r.pid);
            printf("process  %s, %s\n", r.host[0] ? r.host : "host unknown", pid);
        }
        printf("records  read %llu, sent %llu, created %llu, duplicate %llu, skipped %llu, "
               "rejected %llu, failed %llu, changed %llu\n",
               (unsigned long long)c->read, (unsigned long long)c->sent,
               (unsigned long long)c->created, (unsigned long long)c->duplicate,
               (unsigned long long)c->skipped, (unsigned long long)c->rejected,
               (unsigned long long)c->failed, (unsigned long long)c->changed);
        if (c->pages || c->written)
            printf("pull     pages %llu, written %llu\n", (unsigned long long)c->pages,
                   (unsigned long long)c->written);
        printf("requests %llu, retries %llu, rate-limited %llu, token refreshes %llu\n",
               (unsigned long long)c->requests, (unsigned long long)c->retries,
               (unsigned long long)c->rate_limited, (unsigned long long)c->token_refreshes);
        if (failed) {
            printf("failures:\n");
            rc = fr_store_run_failures(st, id, print_failure, NULL, &err);
        }
    }
    if (rc) {
        fprintf(stderr, "ferry runs: %s\n", err.msg);
        return FR_EXIT_STORE;
    }
    return FR_EXIT_OK;
}

struct runs_opts {
    const char *job; /* --job */
    long limit;
    bool failed, json;
    const char *show; /* show RUN; NULL: list */
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    enum { OPT_JOB = 0x3001, OPT_LIMIT, OPT_FAILED, OPT_JSON };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"job", required_argument, NULL, OPT_JOB},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"failed", no_argument, NULL, OPT_FAILED},
        {"json", no_argument, NULL, OPT_JSON},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct runs_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->limit = 20;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            c->config_path = optarg;
            break;
        case OPT_JOB:
            o->job = optarg;
            break;
        case OPT_LIMIT: {
            char *end;
            errno = 0;
            o->limit = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->limit < 0)
                return fr_cli_usage_error("runs", "--limit must be a whole number >= 0");
            break;
        }
        case OPT_FAILED:
            o->failed = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        default: {
            int rc = fr_cli_other_option("runs", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    if (optind >= argc)
        return fr_cli_usage_error("runs", "missing list or show");
    const char *sub = argv[optind];
    bool is_list = strcmp(sub, "list") == 0, is_show = strcmp(sub, "show") == 0;
    if (!is_list && !is_show)
        return fr_cli_usage_error("runs", "unknown subcommand '%s'; use list or show", sub);
    if (is_show && optind + 1 >= argc)
        return fr_cli_usage_error("runs", "show needs a RUN id");
    if (optind + (is_show ? 2 : 1) < argc)
        return fr_cli_usage_error("runs", "unexpected argument '%s'",
                                  argv[optind + (is_show ? 2 : 1)]);
    o->show = is_show ? argv[optind + 1] : NULL;
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct runs_opts *o = c->opts;
    if (o->show)
        return show(c->store, o->show, o->failed, o->json);
    int status = FR_EXIT_OK;
    struct fr_err err = {0};
    struct list_ctx ctx = {.json = o->json, .array = o->json ? json_array() : NULL};
    if (!o->json)
        printf("%-24s %-20s %-11s %4s %-19s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "RUN", "JOB",
               "STATUS", "EXIT", "STARTED (UTC)", "TOOK", "READ", "CREATED", "DUPL", "SKIPPED",
               "ERRORS", "PAGES", "WRITTEN", "REASON");
    if (fr_store_runs_list(c->store, o->job, (size_t)o->limit, list_one, &ctx, &err)) {
        fprintf(stderr, "ferry runs: %s\n", err.msg);
        status = FR_EXIT_STORE;
    } else if (o->json) {
        char *s = json_dumps(ctx.array, JSON_INDENT(2));
        puts(s);
        free(s);
    }
    json_decref(ctx.array);
    return status;
}

const struct fr_cli_ops fr_cli_runs = {.parse = parse, .run = run};
