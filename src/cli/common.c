#include "core/common.h"
#include "cli/cli.h"

#include "core/log.h"
#include "job/push.h"
#include "store/store.h"
#include "cli/sections.h"

int fr_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = fr_vasprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "ferry %s: %s (see 'ferry %s --help')\n", cmd, msg, cmd);
    free(msg);
    return FR_EXIT_USAGE;
}

/* The usage error for the option getopt_long just refused. */
static int bad_option(const char *cmd, char **argv)
{
    const char *arg = argv[optind - 1];
    if (optopt && !(arg[0] == '-' && arg[1] == '-'))
        return fr_cli_usage_error(cmd, "unknown option '-%c' or missing value", optopt);
    return fr_cli_usage_error(cmd, "unknown option or missing value: '%s'", arg);
}

int fr_cli_other_option(const char *cmd, int opt, const char *arg, char **argv)
{
    enum fr_log_format format;
    enum fr_log_level level;
    switch (opt) {
    case FR_CLI_OPT_LOG_FORMAT:
        if (fr_log_parse_format(arg, &format))
            return fr_cli_usage_error(cmd, "--log-format must be json or text, not '%s'", arg);
        fr_log_set_format(format);
        return 0;
    case FR_CLI_OPT_LOG_LEVEL:
        if (fr_log_parse_level(arg, &level))
            return fr_cli_usage_error(
                cmd, "--log-level must be debug, info, warn or error, not '%s'", arg);
        fr_log_set_level(level);
        return 0;
    default:
        return bad_option(cmd, argv);
    }
}

void fr_cli_log_init(void)
{
    enum fr_log_format format = FR_LOG_JSON;
    enum fr_log_level level = FR_LOG_INFO;
    const char *f = getenv("FERRY_LOG_FORMAT");
    const char *l = getenv("FERRY_LOG_LEVEL");
    if (f)
        fr_log_parse_format(f, &format);
    if (l)
        fr_log_parse_level(l, &level);
    fr_log_setup(format, level, NULL);
    opterr = 0; /* commands report unknown options themselves */
}
void fr_cli_draw_progress(void *ud, const struct fr_progress *pg)
{
    (void)ud;
    if (pg->final) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        return;
    }
    const struct fr_run_counts *c = pg->counts;
    double secs = (double)pg->elapsed_ms / 1000.0;
    double rate = secs > 0 ? (double)c->read / secs : 0;
    if (pg->pull) {
        fprintf(stderr,
                "\r\033[K pages %llu  records %llu  written %llu  rejected %llu  %.0f rec/s",
                (unsigned long long)c->pages, (unsigned long long)c->read,
                (unsigned long long)c->written, (unsigned long long)c->rejected, rate);
    } else {
        char pct[16] = "";
        if (pg->total > 0)
            snprintf(pct, sizeof(pct), " %3d%%",
                     (int)(100.0 * (double)pg->done / (double)pg->total));
        fprintf(stderr,
                "\r\033[K%s read %llu  sent %llu  created %llu  duplicate %llu  skipped %llu  "
                "errors %llu  %.0f rec/s",
                pct, (unsigned long long)c->read, (unsigned long long)c->sent,
                (unsigned long long)c->created, (unsigned long long)c->duplicate,
                (unsigned long long)c->skipped, (unsigned long long)(c->failed + c->rejected),
                rate);
    }
    fflush(stderr);
}

void fr_cli_print_run_summary(const struct fr_push_result *r, bool dry_run)
{
    const struct fr_run *run = &r->run;
    const struct fr_run_counts *c = &run->counts;
    printf("%srun %s  job %s  %s  exit %d  %.1f s\n", dry_run ? "dry " : "", run->id, run->job,
           run->status, run->exit_code, (double)(run->ended_ms - run->started_ms) / 1000.0);
    printf("  read %llu  %s %llu  created %llu  duplicate %llu  skipped %llu  rejected %llu  "
           "failed %llu  changed %llu\n",
           (unsigned long long)c->read, dry_run ? "would send" : "sent",
           (unsigned long long)c->sent, (unsigned long long)c->created,
           (unsigned long long)c->duplicate, (unsigned long long)c->skipped,
           (unsigned long long)c->rejected, (unsigned long long)c->failed,
           (unsigned long long)c->changed);
    printf(
        "  requests %llu  retries %llu  rate-limited %llu  token refreshes %llu  success %.2f%%\n",
        (unsigned long long)c->requests, (unsigned long long)c->retries,
        (unsigned long long)c->rate_limited, (unsigned long long)c->token_refreshes,
        100.0 * fr_push_success_rate(c));
    if (r->in_doubt || r->lookups)
        printf("  in doubt %llu batches (answer lost after sending)  lookups %llu\n",
               (unsigned long long)r->in_doubt, (unsigned long long)r->lookups);
    if (r->in_doubt_resent)
        printf("  resent in doubt %llu requests: the job has no lookup, so only the target's "
               "duplicate check kept them from being stored twice\n",
               (unsigned long long)r->in_doubt_resent);
    size_t i;
    json_t *f;
    json_array_foreach(r->failures, i, f)
    {
        const char *key = json_string_value(json_object_get(f, "key"));
        printf("  %-8s %s (line %lld): %s\n", json_string_value(json_object_get(f, "kind")),
               key ? key : "-", (long long)json_integer_value(json_object_get(f, "line")),
               json_string_value(json_object_get(f, "reason")));
    }
    if (r->failures_total > json_array_size(r->failures))
        printf("  ... %llu in all: ferry runs show %s --failed\n",
               (unsigned long long)r->failures_total, run->id);
    if (r->run.reason[0])
        printf("  reason: %s\n", r->run.reason);
    fflush(stdout);
}

int fr_cli_wait_stop_signal(const sigset_t *set)
{
    int sig = 0;
    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}
