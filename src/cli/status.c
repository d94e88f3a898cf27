/*
 * ferry status: jobs and webhook queues at a glance, and a check for cron
 * and monitoring (--check).
 */
#include "core/common.h"
#include "cli/cli.h"

#include <jansson.h>

#include "core/clock.h"
#include "obs/status.h"
#include "store/store.h"

static const char usage[] =
    "usage: ferry status [--json] [--check] [-c FILE]\n"
    "\n"
    "Shows per job its last run (and why it failed or was interrupted), its last\n"
    "success and that success's age against the job's max_age (stale or not), and\n"
    "the success rate of its recent runs; per webhook source the queue depth, the\n"
    "oldest pending event and the dead letters. The same data as GET /api/status\n"
    "on ferry serve.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "      --json            the status as JSON\n"
    "      --check           exit 1 when a job's last run failed or was interrupted,\n"
    "                        a job is stale or failing, or a source has dead letters\n"
    "                        or old pending events beyond the status: thresholds\n"
    "                        (docs/operations.md); the problems go to stderr\n" FR_CLI_COMMON_HELP
    "\n"
    "Exit status: 0 ok (or without --check), 1 --check found problems, 2 usage or\n"
    "config error, 5 the store failed.\n";

static const char *str_or(json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_text(json_t *s)
{
    size_t i;
    json_t *j;
    printf("%-20s %-5s %-12s %-25s %-25s %-6s %s\n", "JOB", "KIND", "LAST", "LAST RUN",
           "LAST SUCCESS", "STALE", "SUCCESS");
    json_array_foreach(json_object_get(s, "jobs"), i, j)
    {
        json_t *last = json_object_get(j, "last_run"), *ok = json_object_get(j, "last_success");
        json_t *rate = json_object_get(j, "success_rate");
        char pct[16] = "-";
        if (json_is_number(rate))
            snprintf(pct, sizeof(pct), "%.0f%%", json_number_value(rate) * 100);
        printf("%-20s %-5s %-12s %-25s %-25s %-6s %s\n",
               json_string_value(json_object_get(j, "name")),
               json_string_value(json_object_get(j, "kind")),
               str_or(json_object_get(last, "status"), "never"),
               str_or(json_object_get(last, "started_at"), "-"),
               str_or(json_object_get(ok, "ended_at"), "-"),
               json_is_true(json_object_get(j, "stale")) ? "STALE" : "no", pct);
    }
    json_t *sources = json_object_get(s, "sources");
    if (json_array_size(sources)) {
        printf("\n%-20s %-10s %-10s %-10s %s\n", "SOURCE", "PENDING", "DELIVERED", "DEAD",
               "OLDEST PENDING");
        json_array_foreach(sources, i, j)
        {
            json_t *age = json_object_get(j, "oldest_pending_age_s");
            char a[32] = "-";
            if (json_is_integer(age))
                snprintf(a, sizeof(a), "%llds", (long long)json_integer_value(age));
            printf("%-20s %-10lld %-10lld %-10lld %s\n",
                   json_string_value(json_object_get(j, "name")),
                   (long long)json_integer_value(json_object_get(j, "pending")),
                   (long long)json_integer_value(json_object_get(j, "delivered")),
                   (long long)json_integer_value(json_object_get(j, "dead")), a);
        }
    }
    json_t *problems = json_object_get(s, "problems");
    printf("\n%s\n", json_array_size(problems) ? "problems:" : "ok: no problems");
    json_array_foreach(problems, i, j) printf("  %s\n", json_string_value(j));
}

struct status_opts {
    bool as_json, check;
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    enum { OPT_JSON = 0x5001, OPT_CHECK };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, OPT_JSON},
        {"check", no_argument, NULL, OPT_CHECK},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct status_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            c->config_path = optarg;
            break;
        case OPT_JSON:
            o->as_json = true;
            break;
        case OPT_CHECK:
            o->check = true;
            break;
        default:
            if ((rc = fr_cli_other_option("status", opt, optarg, argv)))
                return rc;
        }
    }
    if (optind < argc)
        return fr_cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct status_opts *o = c->opts;
    int status = FR_EXIT_OK;
    json_t *s = NULL;
    struct fr_err err = {0};
    if (fr_status_build(c->cfg, c->store, fr_wall_ms(), &s, &err)) {
        fprintf(stderr, "ferry status: %s\n", err.msg);
        return FR_EXIT_STORE;
    }
    if (o->as_json) {
        char *text = json_dumps(s, JSON_INDENT(2));
        puts(text);
        free(text);
    } else {
        print_text(s);
    }
    fflush(stdout);
    json_t *problems = json_object_get(s, "problems");
    if (o->check && json_array_size(problems)) {
        size_t i;
        json_t *p;
        json_array_foreach(problems, i, p)
            fprintf(stderr, "ferry status: %s\n", json_string_value(p));
        status = FR_EXIT_FAILURES;
    }
    json_decref(s);
    return status;
}

const struct fr_cli_ops fr_cli_status = {.parse = parse, .run = run};
