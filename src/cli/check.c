/*
 * ferry check TARGET|JOB: validate the config, check a job's local files,
 * fetch a token, call the probe, and print a verdict a person can act on.
 */
#include "core/common.h"
#include "cli/cli.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/units.h"
#include "http/client.h"
#include "job/preflight.h"
#include "job/job_conf.h"

static const char usage[] =
    "usage: ferry check [options] TARGET|JOB\n"
    "\n"
    "Validates the configuration, fetches a token from the target's token\n"
    "endpoint (credential validation), calls the target's probe request, and\n"
    "prints a verdict. Only the secrets of that target need to be set.\n"
    "\n"
    "Given a job, it first checks what the job needs on this machine, then the\n"
    "job's target: a push job's source opens (a csv or jsonl file is readable,\n"
    "a sqlite database opens and its query prepares); a pull job's schema file\n"
    "is read and compiled, and the directories of its sink and rejects file\n"
    "exist and are writable. A failure names the key and where it is written\n"
    "(ferry.yaml:LINE:COL: jobs.JOB.source.path: cannot open ...).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "      --timeout DUR     give up after this long, retries included (default "
    "30s)\n" FR_CLI_COMMON_HELP "\n"
    "exit status: 0 ready, 2 configuration error (a job's file or directory\n"
    "included), 3 authentication failed, 4 target unreachable.\n";

/* Prints one line of the verdict table. */
static void line(const char *what, const char *state, const char *fmt, ...) FR_PRINTF(3, 4);
static void line(const char *what, const char *state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *detail = fr_vasprintf(fmt, ap);
    va_end(ap);
    printf("  %-8s %-6s %s\n", what, state, detail);
    fflush(stdout);
    free(detail);
}

/*
 * What a failed probe says: 401/403 are the credentials (FR_EAUTH), another
 * 4xx the config (FR_ECONFIG: base_url, api_version, probe.path), another
 * refusal FR_EREJECTED; anything else did not reach the target.
 */
static int probe_failure(const struct fr_http_result *res)
{
    if (res->code == FR_EAUTH || res->status == 401 || res->status == 403)
        return FR_EAUTH;
    if (res->code == FR_EREJECTED && res->status >= 400 && res->status < 500)
        return FR_ECONFIG;
    if (res->code == FR_EREJECTED)
        return FR_EREJECTED;
    return FR_EUNREACHABLE;
}

/* The job's local files (fr_preflight_job): a verdict line, and on failure the error. */
static int check_files(const struct fr_config *cfg, const struct fr_job_conf *job)
{
    struct fr_err err = {0};
    int rc = fr_preflight_job(job, cfg->path, cfg->dir, &err);
    if (!rc) {
        line("files", "ok", "%s",
             job->kind == FR_JOB_PUSH ? "the source opens"
             : job->pull.schema       ? "the schema compiles, the sink's directory is writable"
                                      : "the sink's directory is writable");
        return 0;
    }
    line("files", "FAILED", "(the error follows)");
    fprintf(stderr, "ferry check: %s\n", err.msg);
    printf("not ready: job \"%s\" cannot use a file or directory it needs\n", job->name);
    fflush(stdout);
    return rc;
}

static int run_check(const struct fr_config *cfg, const char *name, int64_t timeout_ms)
{
    const struct fr_target_conf *conf = fr_target_find(cfg, name);
    const struct fr_job_conf *job = conf ? NULL : fr_job_find(cfg, name);
    if (job) /* a job is checked through its target */
        conf = fr_target_find(cfg, job->target);
    if (!conf) {
        fprintf(stderr, "ferry check: %s: no target or job named \"%s\"", cfg->path, name);
        if (cfg->ntargets) {
            fprintf(stderr, " (targets:");
            for (size_t i = 0; i < cfg->ntargets; i++)
                fprintf(stderr, " %s", cfg->targets[i].name);
            fprintf(stderr, ")");
        }
        fputc('\n', stderr);
        return FR_EXIT_USAGE;
    }
    /* Only the secrets this check uses need to be set. */
    struct fr_err err = {0};
    char *scope = fr_asprintf("targets.%s", conf->name);
    bool missing = fr_config_require_secrets(cfg, scope, &err) != 0;
    free(scope);
    if (missing) {
        fprintf(stderr, "ferry check: %s\n", err.msg);
        return FR_EXIT_USAGE;
    }
    /* The check obeys the target's retry policy, but within --timeout. */
    struct fr_target_conf probe_conf = *conf;
    probe_conf.retry.max_elapsed_ms = FR_MIN(probe_conf.retry.max_elapsed_ms, timeout_ms);
    probe_conf.total_timeout_ms = FR_MIN(probe_conf.total_timeout_ms, timeout_ms);

    char *base_url = fr_redact_url(conf->base_url); /* as every URL ferry shows: no password */
    if (job)
        printf("ferry check: job \"%s\" %s target \"%s\" at %s\n", job->name,
               job->kind == FR_JOB_PULL ? "pulls from" : "pushes to", conf->name, base_url);
    else
        printf("ferry check: target \"%s\" at %s\n", conf->name, base_url);
    free(base_url);
    line("config", "ok", "%s", cfg->path);
    if (job && check_files(cfg, job))
        return FR_EXIT_USAGE;

    struct fr_http_client *client = NULL;
    struct fr_http_target *target = NULL;
    int status = FR_EXIT_OK;
    if (fr_http_client_new(&client, &err) ||
        fr_http_target_new(client, &probe_conf, &target, &err)) {
        fprintf(stderr, "ferry check: %s\n", err.msg);
        fr_http_client_free(client);
        return FR_EXIT_USAGE;
    }

    if (conf->auth.type == FR_AUTH_OAUTH2_CC) {
        int64_t start = fr_now_ms(), expires_in = 0;
        int rc = fr_http_target_authenticate(target, &expires_in, &err);
        if (rc) {
            line("token", "FAILED", "%s", err.msg);
            printf("not ready: %s\n", rc == FR_EAUTH ? "the token endpoint refused the credentials"
                                                     : "the token endpoint could not be reached");
            fr_http_client_free(client);
            return fr_cli_exit_status(rc == FR_EAUTH ? FR_EAUTH : FR_EUNREACHABLE);
        }
        char *token_url = fr_redact_url(conf->auth.token_url);
        line("token", "ok", "from %s, valid %lld s (%lld ms)", token_url, (long long)expires_in,
             (long long)(fr_now_ms() - start));
        free(token_url);
    } else {
        line("token", "-", "%s",
             conf->auth.type == FR_AUTH_NONE      ? "no authentication configured"
             : conf->auth.type == FR_AUTH_API_KEY ? "API key (sent with the probe)"
                                                  : "static bearer token (sent with the probe)");
    }

    struct fr_http_request req = {.method = conf->probe_method ? conf->probe_method : "GET",
                                  .path = conf->probe_path ? conf->probe_path : "/"};
    struct fr_http_result res;
    int64_t start = fr_now_ms();
    fr_http_perform(target, &req, &res);
    if (res.code == FR_OK) {
        line("probe", "ok", "%s %s -> %d (%lld ms, %d attempt%s%s%s)", req.method, req.path,
             res.status, (long long)(fr_now_ms() - start), res.attempts,
             res.attempts == 1 ? "" : "s", res.request_id[0] ? ", request id " : "",
             res.request_id);
        printf("ready: target \"%s\" answers with these credentials\n", conf->name);
    } else {
        int failure = probe_failure(&res);
        status = fr_cli_exit_status(failure);
        line("probe", "FAILED", "%s", res.err.msg);
        printf("not ready: %s\n", failure == FR_EAUTH ? "the target refused the credentials"
                                  : failure == FR_ECONFIG
                                      ? "the target rejected the probe: check base_url, "
                                        "api_version and probe.path"
                                      : "the target could not be reached");
    }
    fr_http_result_release(&res);
    fr_http_client_free(client);
    return status;
}

struct check_opts {
    const char *name; /* TARGET or JOB */
    int64_t timeout_ms;
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct check_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->timeout_ms = 30000;
    const char *why;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            c->config_path = optarg;
            break;
        case 't':
            if (fr_parse_duration(optarg, &o->timeout_ms, &why) || o->timeout_ms <= 0)
                return fr_cli_usage_error("check", "--timeout %s: %s", optarg,
                                          o->timeout_ms <= 0 ? "must be positive" : why);
            break;
        default: {
            int rc = fr_cli_other_option("check", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    if (optind >= argc)
        return fr_cli_usage_error("check", "missing TARGET or JOB");
    if (optind + 1 < argc)
        return fr_cli_usage_error("check", "unexpected argument '%s'", argv[optind + 1]);
    o->name = argv[optind];
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct check_opts *o = c->opts;
    return run_check(c->cfg, o->name, o->timeout_ms);
}

const struct fr_cli_ops fr_cli_check = {.parse = parse, .run = run};
