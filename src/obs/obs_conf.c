#include "core/common.h"
#include "obs/obs_conf.h"

#include <strings.h>

#include "core/config_table.h"
#include "core/redact.h"

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_alert_type) == sizeof(int), "enum fr_alert_type is not an int");

static const char *const alert_types[] = {
    [FR_ALERT_WEBHOOK] = "webhook",
    [FR_ALERT_EXEC] = "exec",
    NULL,
};

/* ---- alerts -------------------------------------------------------------- */

#define ALERT_WEBHOOK (1u << FR_ALERT_WEBHOOK)
#define ALERT_EXEC    (1u << FR_ALERT_EXEC)

/*
 * A webhook URL often carries its credential in the path (Slack's do): it is
 * registered with the redactor and no message ever quotes it.
 */
static int parse_webhook_url(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             void *field)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    char *url = NULL;
    if (rc || (rc = fr__cfg_expand(ld, node, path, fr__cfg_text(node), &url)))
        return rc;
    const char *host = NULL;
    if (strncasecmp(url, "http://", 7) == 0)
        host = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        host = url + 8;
    if (!host || !*host || *host == '/' || strpbrk(url, " \t\r\n")) {
        fr__cfg_free_secret(url);
        return fr__cfg_fail(ld, node, path,
                            "invalid URL (write http://HOST[/PATH] or https://...; the value is "
                            "not shown as it may hold a secret)");
    }
    fr_redact_add_secret(url);
    char **dst = field;
    fr__cfg_free_secret(*dst);
    *dst = url;
    return 0;
}

static const struct fr__cfg_key sink_keys[] = {
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_alert_sink_conf, type),
     .names = alert_types,
     .required = ALWAYS,
     .help = "webhook or exec"},
    {.name = "url",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_alert_sink_conf, url),
     .custom = parse_webhook_url,
     .only = ALERT_WEBHOOK,
     .required = ALERT_WEBHOOK,
     .help = "the http(s) URL alerts are POSTed to, e.g. ${ALERT_WEBHOOK_URL}"},
    {.name = "command",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_alert_sink_conf, command),
     .only = ALERT_EXEC,
     .required = ALERT_EXEC,
     .help = "the command run with /bin/sh -c, the summary JSON on its stdin"},
};

static const struct fr__cfg_table sink_table = {
    sink_keys, FR_ARRAY_LEN(sink_keys), "type", "alert type", NULL,
};

static int parse_sink(struct fr__cfg_loader *ld, void *slot, yaml_node_t *item, const char *path,
                      void *ud)
{
    (void)ud;
    struct fr_alert_sink_conf *a = slot;
    a->line = (int)item->start_mark.line + 1;
    a->col = (int)item->start_mark.column + 1;
    return fr__cfg_parse_mapping(ld, item, path, &sink_table, a);
}

static int parse_sinks(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    return fr__cfg_parse_list(ld, node, path, NULL, sizeof(*cfg->alerts), (void **)&cfg->alerts,
                              &cfg->nalerts, parse_sink, NULL);
}

/* ---- trend alerts (alerts: as a mapping) --------------------------------- */

#define DAY_MS (24LL * 3600 * 1000)

static const struct fr__cfg_key error_rate_keys[] = {
    {.name = "above",
     .type = FR__CFG_PERCENT,
     .offset = offsetof(struct fr_trend_rule_conf, above),
     .required = ALWAYS,
     .help = "fire when the share of failed requests to a target is above this, e.g. 5%"},
    {.name = "window",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trend_rule_conf, window_ms),
     .def = "5m",
     .min = 1000,
     .max = DAY_MS,
     .help = "the sliding window the rate is taken over"},
    {.name = "min_requests",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_trend_rule_conf, min),
     .def = "10",
     .min = 1,
     .max = INT64_MAX,
     .help = "the fewest requests in the window worth judging"},
};

static const struct fr__cfg_key latency_keys[] = {
    {.name = "above",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trend_rule_conf, above_ms),
     .min = 1,
     .max = DAY_MS,
     .required = ALWAYS,
     .help = "fire when a target's 95th percentile response time is above this, e.g. 2s"},
    {.name = "window",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trend_rule_conf, window_ms),
     .def = "5m",
     .min = 1000,
     .max = DAY_MS,
     .help = "the sliding window the percentile is taken over"},
    {.name = "min_requests",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_trend_rule_conf, min),
     .def = "10",
     .min = 1,
     .max = INT64_MAX,
     .help = "the fewest requests in the window worth judging"},
};

static const struct fr__cfg_key token_refresh_keys[] = {
    {.name = "factor",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_trend_rule_conf, min),
     .def = "3",
     .min = 2,
     .max = 1000,
     .help = "fire when a target fetches more than factor times the tokens their lifetime "
             "implies over the window"},
    {.name = "window",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trend_rule_conf, window_ms),
     .def = "1h",
     .min = 1000,
     .max = DAY_MS,
     .help = "the sliding window refreshes are counted over"},
};

static const struct fr__cfg_key dead_letters_keys[] = {
    {.name = "growth",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_trend_rule_conf, min),
     .def = "1",
     .min = 1,
     .max = INT64_MAX,
     .help = "fire when a source's dead letters grew by at least this over the window"},
    {.name = "window",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trend_rule_conf, window_ms),
     .def = "15m",
     .min = 1000,
     .max = DAY_MS,
     .help = "the sliding window growth is measured over"},
};

#define RULE_TABLE(name, keys)                                                                     \
    static const struct fr__cfg_table name = {keys, FR_ARRAY_LEN(keys), NULL, NULL, NULL}
RULE_TABLE(error_rate_table, error_rate_keys);
RULE_TABLE(latency_table, latency_keys);
RULE_TABLE(token_refresh_table, token_refresh_keys);
RULE_TABLE(dead_letters_table, dead_letters_keys);

static int parse_rule(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                      const struct fr__cfg_table *tab, struct fr_trend_rule_conf *r)
{
    fr__cfg_apply_defaults(tab, r);
    r->enabled = true;
    return fr__cfg_parse_mapping(ld, node, path, tab, r);
}

#define RULE_PARSER(fn, tab, member)                                                               \
    static int fn(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)     \
    {                                                                                              \
        struct fr_trends_conf *t = field;                                                          \
        return parse_rule(ld, node, path, &tab, &t->member);                                       \
    }
RULE_PARSER(parse_error_rate, error_rate_table, error_rate)
RULE_PARSER(parse_latency, latency_table, latency_p95)
RULE_PARSER(parse_token_refresh, token_refresh_table, token_refresh)
RULE_PARSER(parse_dead_letters, dead_letters_table, dead_letters)

static int parse_sinks_field(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             void *field)
{
    return parse_sinks(ld, node, path, ld->cfg);
}

static const struct fr__cfg_key trends_keys[] = {
    {.name = "sinks",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_sinks_field,
     .help = "where alerts go: a list of { type: webhook, url } or { type: exec, command }"},
    {.name = "evaluate_every",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_trends_conf, evaluate_ms),
     .def = "15s",
     .min = 100,
     .max = 3600000,
     .help = "how often `ferry serve` evaluates the trend rules"},
    {.name = "error_rate",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_error_rate,
     .help = "{ above, window, min_requests }: failed requests per target"},
    {.name = "latency_p95",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_latency,
     .help = "{ above, window, min_requests }: 95th percentile response time per target"},
    {.name = "token_refresh",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_token_refresh,
     .help = "{ factor, window }: token fetches far more often than their lifetime implies"},
    {.name = "dead_letters",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_dead_letters,
     .help = "{ growth, window }: dead letters growing per source"},
    {.name = "stale_jobs",
     .type = FR__CFG_BOOL,
     .offset = offsetof(struct fr_trends_conf, stale_jobs),
     .def = "true",
     .help = "alert when a job with max_age has not succeeded within it"},
};

static const struct fr__cfg_table trends_table = {trends_keys, FR_ARRAY_LEN(trends_keys), NULL,
                                                  NULL, NULL};

/* The trend rules' defaults apply also when the file has no alerts mapping. */
static void alerts_defaults(struct fr_config *cfg)
{
    cfg->trends = fr_calloc(1, sizeof(*cfg->trends));
    fr__cfg_apply_defaults(&trends_table, cfg->trends);
}

/* A list of sinks (the short form), or a mapping of sinks and trend rules. */
static int parse_alerts(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    if (node->type == YAML_SEQUENCE_NODE)
        return parse_sinks(ld, node, path, cfg);
    int rc = fr__cfg_expect(ld, node, path, YAML_MAPPING_NODE);
    return rc ? rc : fr__cfg_parse_mapping(ld, node, path, &trends_table, cfg->trends);
}

static void release_alerts(struct fr_config *cfg)
{
    for (size_t i = 0; i < cfg->nalerts; i++) {
        fr__cfg_free_secret(cfg->alerts[i].url);
        free(cfg->alerts[i].command);
    }
    free(cfg->alerts);
    cfg->alerts = NULL;
    cfg->nalerts = 0;
    free(cfg->trends);
    cfg->trends = NULL;
}

const struct fr_config_section fr_alerts_section = {
    .key = {.name = "alerts",
            .type = FR__CFG_CUSTOM,
            .offset = 0,
            .custom = parse_alerts,
            .help = "where alerts are sent: a list of sinks, or { sinks, evaluate_every, "
                    "error_rate, latency_p95, token_refresh, dead_letters, stale_jobs }"},
    .defaults = alerts_defaults,
    .release = release_alerts,
};

/* ---- status ---------------------------------------------------------------- */

static const struct fr__cfg_key status_keys[] = {
    {.name = "recent_runs",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_status_conf, recent_runs),
     .def = "10",
     .min = 1,
     .max = 1000,
     .help = "how many of a job's latest runs its success rate is taken over"},
    {.name = "min_success_rate",
     .type = FR__CFG_PERCENT,
     .offset = offsetof(struct fr_status_conf, min_success_rate),
     .def = "0%",
     .help = "ferry status --check fails when a job's recent success rate is below this"},
    {.name = "max_dead_letters",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_status_conf, max_dead_letters),
     .def = "0",
     .min = 0,
     .max = INT64_MAX,
     .help = "ferry status --check fails when a webhook source has more dead letters"},
    {.name = "max_pending_age",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_status_conf, max_pending_age_ms),
     .min = 1000,
     .max = 366LL * 24 * 3600 * 1000,
     .help = "ferry status --check fails when a source's oldest pending event is older"},
};

static const struct fr__cfg_table status_table = {status_keys, FR_ARRAY_LEN(status_keys), NULL,
                                                  NULL, NULL};

static void status_defaults(struct fr_config *cfg)
{
    cfg->status = fr_calloc(1, sizeof(*cfg->status));
    fr__cfg_apply_defaults(&status_table, cfg->status);
}

static int parse_status(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    return fr__cfg_parse_mapping(ld, node, path, &status_table, cfg->status);
}

static void release_status(struct fr_config *cfg)
{
    free(cfg->status);
    cfg->status = NULL;
}

const struct fr_config_section fr_status_section = {
    .key = {.name = "status",
            .type = FR__CFG_CUSTOM,
            .offset = 0,
            .custom = parse_status,
            .help = "thresholds of ferry status --check: { recent_runs, min_success_rate, "
                    "max_dead_letters, max_pending_age }"},
    .defaults = status_defaults,
    .release = release_status,
};
