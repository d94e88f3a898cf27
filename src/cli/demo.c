/*
 * ferry demo: the push job end to end against the built-in simulator, with
 * faults, twice (the second run posts nothing), explained as it goes.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "job/push.h"
#include "mock/mock.h"
#include "store/store.h"
#include "cli/sections.h"

#define DEMO_RECORDS 10000
#define DEMO_FAULTS  "rate=20/s,error5xx=0.03,reset=0.01,truncate=0.01,revoke_every=2s"

static const char usage[] =
    "usage: ferry demo [--dir DIR] [--records N]\n"
    "\n"
    "Shows the nightly credit push end to end on this machine: writes a sample CRM\n"
    "export (a few of its orders invalid), starts the built-in simulator of the\n"
    "target API on a free loopback port with faults on (rate limit, 5xx, resets,\n"
    "truncated answers, tokens revoked mid-run), pushes the export, pushes it again\n"
    "to show that nothing is posted twice, and stops the simulator.\n"
    "\n"
    "options:\n"
    "      --dir DIR         where to write the export, config, log and store\n"
    "                        (default ./ferry-demo; its old store is replaced)\n"
    "      --records N       orders in the export (default 10000)\n" FR_CLI_COMMON_HELP;

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* The export: every 997th amount malformed, every 1999th order id empty, every 2503rd participant
 * unknown. */
static int write_export(const char *path, long n, long *invalid_local, long *invalid_remote)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("order_id,participant_id,order_date,amount,currency,customer\n", f);
    *invalid_local = *invalid_remote = 0;
    for (long i = 1; i <= n; i++) {
        char amount[32], order[32], participant[16];
        snprintf(amount, sizeof(amount), "%ld.%02ld", 50 + (i * 37) % 950, (i * 13) % 100);
        snprintf(order, sizeof(order), "SO-%07ld", 1000000 + i);
        snprintf(participant, sizeof(participant), "P%06ld", 1 + (i * 7) % 1000);
        if (i % 997 == 0) {
            snprintf(amount, sizeof(amount), "\"1.234,50\""); /* a European number */
            (*invalid_local)++;
        } else if (i % 1999 == 0) {
            order[0] = '\0';
            (*invalid_local)++;
        } else if (i % 2503 == 0) {
            snprintf(participant, sizeof(participant), "P999999"); /* the API does not know it */
            (*invalid_remote)++;
        }
        fprintf(f, "%s,%s,2026-11-%02ld,%s,USD,\"Customer %ld, Inc.\"\n", order, participant,
                1 + i % 28, amount, i % 500);
    }
    return fclose(f);
}

static int write_config(const char *path, const char *base_url)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "# Written by `ferry demo` for the simulator it started at %s.\n"
            "store: sqlite:ferry.db\n"
            "targets:\n"
            "  im:\n"
            "    base_url: %s\n"
            "    auth:\n"
            "      type: oauth2_client_credentials\n"
            "      token_url: %s/oauth/token\n"
            "      client_id: demo\n"
            "      client_secret: file:client-secret.txt\n"
            "    retry: { max_attempts: 8, base: 200ms, cap: 5s, max_elapsed: 2m, budget: 50%% }\n"
            "    max_in_flight: 4\n"
            "    probe: { path: \"/participants?$top=1\" }\n"
            "jobs:\n"
            "  nightly-credits:\n"
            "    kind: push\n"
            "    target: im\n"
            "    source: { type: csv, path: data/crm_orders.csv }\n"
            "    request: { method: POST, path: /credits/batch, batch_size: 100 }\n"
            "    key: sourceRef\n"
            "    map:\n"
            "      participantId: participant_id\n"
            "      transactionDate: { from: order_date, type: date }\n"
            "      amount: { from: amount, type: number, required: true }\n"
            "      currencyCode: { from: currency }\n"
            "      periodId: { value: \"2026-11\" }\n"
            "      sourceRef: { from: order_id, required: true }\n"
            "    results: { path: /results, key: sourceRef, status: status, message: message }\n"
            "    body_errors: [ { path: /success, equals: false, message: /error } ]\n"
            "    lookup: { method: GET, path: \"/credits?$filter=sourceRef eq '{{key}}'\", "
            "found: /value/0 }\n"
            "    rollback: { method: DELETE, path: \"/credits/{{key}}\" }\n"
            "    alert: { max_errors: 50, max_error_rate: 1%% }\n",
            base_url, base_url, base_url);
    return fclose(f);
}

/* The simulator's client secret, readable by its owner only, as a real one would be. */
static int write_secret(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, "demo-secret\n", 12) == 12;
    return close(fd) == 0 && ok ? 0 : -1;
}

static void say(const char *fmt, ...) FR_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static long stat_of(json_t *stats, const char *group, const char *name)
{
    return (long)json_integer_value(json_object_get(json_object_get(stats, group), name));
}

static long requests_with(json_t *stats, const char *route, const char *status)
{
    return (long)json_integer_value(
        json_object_get(json_object_get(json_object_get(stats, "requests"), route), status));
}

static int run_once(const struct fr_config *cfg, struct fr_store *st, const char *title)
{
    say("\n== %s\n", title);
    bool tty = isatty(STDERR_FILENO);
    struct fr_push_opts opts = {.limit = -1,
                                .progress = tty ? fr_cli_draw_progress : NULL,
                                .exit_status = fr_cli_run_exit_status};
    struct fr_push_result res;
    fr_log_set_progress_line(tty);
    fr_push_run(&cfg->jobs[0], fr_target_find(cfg, cfg->jobs[0].target), st, &opts, &res);
    fr_log_set_progress_line(false);
    fr_cli_print_run_summary(&res, false);
    int status = res.run.exit_code;
    fr_push_result_release(&res);
    return status;
}

static int demo(const char *dir, long records)
{
    char *data_dir = fr_asprintf("%s/data", dir);
    char *csv = fr_asprintf("%s/crm_orders.csv", data_dir);
    char *yaml = fr_asprintf("%s/ferry.yaml", dir);
    char *log_path = fr_asprintf("%s/ferry.log", dir);
    char *db = fr_asprintf("%s/ferry.db", dir);
    char *secret = fr_asprintf("%s/client-secret.txt", dir);
    long bad_local = 0, bad_remote = 0;
    int status = FR_EXIT_USAGE;
    struct fr_mock *mock = NULL;
    struct fr_config *cfg = NULL;
    struct fr_store *st = NULL;
    FILE *log = NULL;
    struct fr_err err = {0};

    if (mkdir_p(dir) || mkdir_p(data_dir) || write_export(csv, records, &bad_local, &bad_remote)) {
        fprintf(stderr, "ferry demo: cannot write into %s: %s\n", dir, strerror(errno));
        goto out;
    }
    for (const char *suffix = ""; suffix; suffix = *suffix ? NULL : "-wal") {
        char *old = fr_asprintf("%s%s", db, suffix);
        unlink(old); /* a fresh simulator needs a fresh journal */
        free(old);
    }
    say("ferry demo: the nightly credit push, end to end, on this machine\n\n"
        "1. wrote %s: %ld CRM orders; %ld cannot be mapped (a malformed amount, a\n"
        "   missing order id) and %ld name a participant the API does not know\n",
        csv, records, bad_local, bad_remote);

    struct fr_mock_opts mo = {.listen = "127.0.0.1:0", .seeded = true, .seed = 42};
    const char *why = NULL;
    if (fr_mock_parse_faults(DEMO_FAULTS, &mo.faults, &why) || fr_mock_start(&mo, &mock, &err)) {
        fprintf(stderr, "ferry demo: cannot start the simulator: %s\n", why ? why : err.msg);
        status = FR_EXIT_UNREACHABLE;
        goto out;
    }
    char base[80];
    snprintf(base, sizeof(base), "http://%s:%d", fr_mock_host(mock), fr_mock_port(mock));
    say("2. started the simulated incentive-management API at %s with faults:\n"
        "   at most 20 requests/s (then 429 + Retry-After), 3%% 5xx, 1%% dropped\n"
        "   connections, 1%% truncated answers, every token revoked every 2 s\n",
        base);

    if (write_secret(secret) || write_config(yaml, base) ||
        fr_config_load(yaml, fr_cli_sections(), &cfg, &err)) {
        fprintf(stderr, "ferry demo: %s\n", err.msg[0] ? err.msg : strerror(errno));
        goto out;
    }
    if (fr_store_open_config(cfg, 0, &st, &err)) {
        fprintf(stderr, "ferry demo: %s\n", err.msg);
        status = FR_EXIT_STORE;
        goto out;
    }
    log = fopen(log_path, "w");
    if (!log) {
        fprintf(stderr, "ferry demo: cannot write %s: %s\n", log_path, strerror(errno));
        goto out;
    }
    fr_log_setup(FR_LOG_JSON, FR_LOG_INFO, log);
    say("3. wrote %s (job nightly-credits: CSV -> POST /credits/batch, 100 a batch)\n"
        "   ferry's own log goes to %s\n",
        yaml, log_path);

    status = run_once(cfg, st, "first run: everything valid is posted once, through the faults");
    run_once(cfg, st, "second run: the journal knows every key, so nothing is posted again");

    json_t *stats = fr_mock_stats(mock);
    say("\n== what the simulated API saw\n"
        "  credits stored %ld, largest store count of any one order %ld (1 = nothing twice)\n"
        "  batch requests: %ld accepted, %ld rate-limited (429), %ld server errors, %ld dropped\n"
        "  tokens issued %ld (revoked every 2 s and fetched again)\n",
        stat_of(stats, "credits", "stored"), stat_of(stats, "credits", "max_store_count"),
        requests_with(stats, "POST /credits/batch", "200"),
        requests_with(stats, "POST /credits/batch", "429"),
        requests_with(stats, "POST /credits/batch", "500") +
            requests_with(stats, "POST /credits/batch", "502") +
            requests_with(stats, "POST /credits/batch", "503"),
        requests_with(stats, "POST /credits/batch", "reset"),
        (long)json_integer_value(json_object_get(stats, "tokens_issued")));
    json_decref(stats);
    const char *self = program_invocation_name; /* as the user typed it */
    say("\n== look around\n"
        "  %s runs list -c %s\n"
        "  %s runs show RUN --failed -c %s\n"
        "  %s rollback RUN -c %s    (undo a run)\n"
        "  the log: %s   the store: %s\n",
        self, yaml, self, yaml, self, yaml, log_path, db);
out:
    if (log) {
        fr_log_setup(FR_LOG_JSON, FR_LOG_INFO, NULL);
        fclose(log);
    }
    fr_store_close(st);
    fr_config_free(cfg);
    fr_mock_stop(mock);
    free(data_dir);
    free(csv);
    free(yaml);
    free(log_path);
    free(db);
    free(secret);
    return status;
}

struct demo_opts {
    const char *dir;
    long records;
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    enum { OPT_DIR = 0x4001, OPT_RECORDS };
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"records", required_argument, NULL, OPT_RECORDS},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct demo_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->dir = "ferry-demo";
    o->records = DEMO_RECORDS;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case OPT_DIR:
            o->dir = optarg;
            break;
        case OPT_RECORDS: {
            char *end;
            errno = 0;
            o->records = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->records < 1 || o->records > 10000000)
                return fr_cli_usage_error("demo", "--records must be between 1 and 10000000");
            break;
        }
        default: {
            int rc = fr_cli_other_option("demo", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    if (optind < argc)
        return fr_cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct demo_opts *o = c->opts;
    return demo(o->dir, o->records);
}

const struct fr_cli_ops fr_cli_demo = {.parse = parse, .run = run};
