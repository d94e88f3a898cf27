#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>

#include "core/log.h"
#include "mock/mock.h"

static const char usage_head[] =
    "usage: ferry mock [--listen IP:PORT] [--faults SPEC] [--seed N]\n"
    "                  [--client-id ID --client-secret SECRET] [--participants N]\n\n"
    "Runs the simulated incentive-management API (OAuth2 token, credits,\n"
    "participants, /mock/stats) until SIGINT or SIGTERM. Prints\n"
    "'listening on http://IP:PORT' on stdout once it accepts connections.\n\n"
    "options:\n"
    "      --listen IP:PORT    address to listen on (default 127.0.0.1:8089; port 0 = any\n"
    "                          free port; IPv6 as [::1]:PORT)\n"
    "      --faults SPEC       comma-separated faults to inject (below)\n"
    "      --seed N            seed of the fault draws, for reproducible runs (default: random,\n"
    "                          logged at start)\n"
    "      --client-id ID      OAuth2 client id accepted by POST /oauth/token (default demo)\n"
    "      --client-secret S   its secret (default demo-secret; never logged)\n"
    "      --participants N    participants P000001.. served (default 1000, at most "
    "999999)\n" FR_CLI_COMMON_HELP
    "\nfaults (each applies to every route except /oauth/token and /mock/*, unless said):\n";

static const char usage_tail[] =
    "  P is a probability from 0 to 1; DURATION is like 1500ms, 30s, 5m. Each request\n"
    "  draws its faults once, in the order rate, reset, error5xx, body_error, truncate, slow,\n"
    "  drop_after. truncate, slow, drop_after and drop_nth act first (store), then spoil\n"
    "  the answer: the outcome is in doubt. The others store nothing.\n"
    "  Example: --faults rate=600/min,error5xx=0.05,slow=0.02:1500ms,token_ttl=30s\n\n"
    "Exit status: 0 after a clean stop, 2 usage error, 4 cannot listen.\n";

enum {
    OPT_LISTEN = 0x2001,
    OPT_FAULTS,
    OPT_SEED,
    OPT_CLIENT_ID,
    OPT_CLIENT_SECRET,
    OPT_PARTICIPANTS
};

static int parse_unsigned(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* One mock option into opts; 0, or the exit status of a usage error. */
static int mock_option(int opt, const char *arg, struct fr_mock_opts *opts, const char **spec)
{
    const char *why;
    uint64_t v;
    switch (opt) {
    case OPT_LISTEN:
        opts->listen = arg;
        return 0;
    case OPT_FAULTS:
        if (fr_mock_parse_faults(arg, &opts->faults, &why))
            return fr_cli_usage_error("mock", "--faults: %s", why);
        *spec = arg;
        return 0;
    case OPT_SEED:
        if (parse_unsigned(arg, UINT64_MAX, &opts->seed))
            return fr_cli_usage_error("mock", "--seed must be a non-negative integer, not '%s'",
                                      arg);
        opts->seeded = true;
        return 0;
    case OPT_CLIENT_ID:
        if (!*arg)
            return fr_cli_usage_error("mock", "--client-id must not be empty");
        opts->client_id = arg;
        return 0;
    case OPT_CLIENT_SECRET:
        if (!*arg)
            return fr_cli_usage_error("mock", "--client-secret must not be empty");
        opts->client_secret = arg;
        return 0;
    case OPT_PARTICIPANTS:
        if (parse_unsigned(arg, FR_MOCK_MAX_PARTICIPANTS, &v) || v == 0)
            return fr_cli_usage_error("mock", "--participants must be 1 to %d, not '%s'",
                                      FR_MOCK_MAX_PARTICIPANTS, arg);
        opts->participants = (unsigned)v;
        return 0;
    }
    return -1;
}

static int parse_args(int argc, char **argv, struct fr_mock_opts *opts, const char **spec,
                      bool *help)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"faults", required_argument, NULL, OPT_FAULTS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"client-secret", required_argument, NULL, OPT_CLIENT_SECRET},
        {"participants", required_argument, NULL, OPT_PARTICIPANTS},
        FR_CLI_COMMON_LONGOPTS,
        {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            *help = true;
            return 0;
        }
        int rc = mock_option(opt, optarg, opts, spec);
        if (rc < 0)
            rc = fr_cli_other_option("mock", opt, optarg, argv);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return fr_cli_usage_error("mock", "unexpected argument '%s'", argv[optind]);
    return 0;
}

static void log_stopped(struct fr_mock *m)
{
    struct fr_mock_totals t;
    fr_mock_totals(m, &t);
    FR_LOG_INFO("mock stopped", FR_LI("requests", t.requests),
                FR_LI("tokens_issued", t.tokens_issued), FR_LI("credits_stored", t.credits_stored),
                FR_LI("faults", t.faults));
}

struct mock_cli_opts {
    struct fr_mock_opts mock;
    const char *spec; /* --faults as given, for the log */
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    struct mock_cli_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    fr_mock_faults_init(&o->mock.faults);
    bool help = false;
    int rc = parse_args(argc, argv, &o->mock, &o->spec, &help);
    if (rc)
        return rc;
    if (help) {
        fputs(usage_head, stdout);
        fputs(fr_mock_faults_help(), stdout);
        fputs(usage_tail, stdout);
        return FR_EXIT_OK;
    }
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct mock_cli_opts *o = c->opts;
    const struct fr_mock_opts *opts = &o->mock;
    struct fr_mock *m;
    struct fr_err err = {0};
    int rc = fr_mock_start(opts, &m, &err);
    if (rc) {
        fprintf(stderr, "ferry mock: %s\n", err.msg);
        /* a listener that does not start: a bad address (usage), or cannot listen there */
        return fr_cli_exit_status(rc == FR_EINVAL ? FR_EINVAL : FR_EUNREACHABLE);
    }
    printf("listening on http://%s:%d\n", fr_mock_host(m), fr_mock_port(m));
    fflush(stdout);
    char seed[24];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)fr_mock_seed(m));
    FR_LOG_INFO("mock started",
                FR_LS("listen", opts->listen ? opts->listen : FR_MOCK_DEFAULT_LISTEN),
                FR_LI("port", fr_mock_port(m)), FR_LS("seed", seed),
                FR_LS("faults", o->spec ? o->spec : ""),
                FR_LS("client_id", opts->client_id ? opts->client_id : FR_MOCK_DEFAULT_CLIENT_ID));
    int sig = fr_cli_wait_stop_signal(&c->stop_signals);
    FR_LOG_INFO("mock stopping", FR_LS("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    log_stopped(m);
    fr_mock_stop(m);
    return FR_EXIT_OK;
}

const struct fr_cli_ops fr_cli_mock = {.parse = parse, .run = run};
