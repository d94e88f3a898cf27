#include "core/common.h"
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_int.h"
#include "core/redact.h"

/* A config file larger than this is a mistake (a log file passed with -c). */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_auth_type) == sizeof(int), "enum fr_auth_type is not an int");

/* ---- the tables -------------------------------------------------------- */

#define AUTH_OAUTH2  (1u << FR_AUTH_OAUTH2_CC)
#define AUTH_API_KEY (1u << FR_AUTH_API_KEY)
#define AUTH_BEARER  (1u << FR_AUTH_BEARER)

#define ONE_DAY_MS (86400000LL)

static const char *const auth_types[] = {
    [FR_AUTH_NONE] = "none",
    [FR_AUTH_OAUTH2_CC] = "oauth2_client_credentials",
    [FR_AUTH_API_KEY] = "api_key",
    [FR_AUTH_BEARER] = "bearer",
    NULL,
};

static const char *const http_methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                           "PATCH", "DELETE", "OPTIONS", NULL};

static bool is_loopback(const char *url)
{
    const char *host = url + 7; /* after http:// */
    size_t len = strcspn(host, ":/?#");
    if (host[0] == '[')
        len = strcspn(host, "]") + 1;
    return (len == 9 && strncasecmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0 ||
           (len == 5 && strncmp(host, "[::1]", 5) == 0);
}

static const struct fr__cfg_key auth_keys[] = {
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_auth_conf, type),
     .def = "none",
     .names = auth_types,
     .required = ALWAYS,
     .help = "none, oauth2_client_credentials, api_key or bearer"},
    {.name = "token_url",
     .type = FR__CFG_URL,
     .offset = offsetof(struct fr_auth_conf, token_url),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 token endpoint"},
    {.name = "client_id",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_auth_conf, client_id),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 client id"},
    {.name = "client_secret",
     .type = FR__CFG_SECRET,
     .offset = offsetof(struct fr_auth_conf, client_secret),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 client secret, as ${ENV} or file:/path"},
    {.name = "scope",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_auth_conf, scope),
     .only = AUTH_OAUTH2,
     .help = "the OAuth2 scope to request"},
    {.name = "refresh_before",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_auth_conf, refresh_before_ms),
     .def = "60s",
     .min = 0,
     .max = ONE_DAY_MS,
     .only = AUTH_OAUTH2,
     .help = "refresh a token this long before it expires"},
    {.name = "header",
     .type = FR__CFG_HEADER,
     .offset = offsetof(struct fr_auth_conf, header),
     .def = "X-API-Key",
     .only = AUTH_API_KEY,
     .help = "the header carrying the API key"},
    {.name = "value",
     .type = FR__CFG_SECRET,
     .offset = offsetof(struct fr_auth_conf, value),
     .only = AUTH_API_KEY,
     .required = AUTH_API_KEY,
     .help = "the API key, as ${ENV} or file:/path"},
    {.name = "token",
     .type = FR__CFG_SECRET,
     .offset = offsetof(struct fr_auth_conf, token),
     .only = AUTH_BEARER,
     .required = AUTH_BEARER,
     .help = "the bearer token, as ${ENV} or file:/path"},
};

static int check_auth(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                      yaml_node_t **found);

static const struct fr__cfg_table auth_table = {
    auth_keys, FR_ARRAY_LEN(auth_keys), "type", "auth type", check_auth,
};

static int check_auth(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                      yaml_node_t **found)
{
    struct fr_auth_conf *a = base;
    if (a->type == FR_AUTH_OAUTH2_CC && strncasecmp(a->token_url, "http://", 7) == 0 &&
        !is_loopback(a->token_url)) {
        yaml_node_t *at = fr__cfg_found(&auth_table, found, "token_url");
        fr__cfg_warn(ld, at,
                     "%s.token_url uses http:// to a host that is not loopback: the client "
                     "credentials would travel in clear text; use https://",
                     path);
    }
    return 0;
}

static const struct fr__cfg_key api_version_keys[] = {
    {.name = "header",
     .type = FR__CFG_HEADER,
     .offset = offsetof(struct fr_target_conf, api_version_header),
     .help = "the header naming the API version"},
    {.name = "value",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_target_conf, api_version_value),
     .help = "the API version sent in header"},
    {.name = "path",
     .type = FR__CFG_SEGMENT,
     .offset = offsetof(struct fr_target_conf, api_version_path),
     .help = "a path prefix such as v2"},
};

static int check_api_version(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                             void *base, yaml_node_t **found);

static const struct fr__cfg_table api_version_table = {
    api_version_keys, FR_ARRAY_LEN(api_version_keys), NULL, NULL, check_api_version,
};

static int check_api_version(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                             void *base, yaml_node_t **found)
{
    bool header = fr__cfg_found(&api_version_table, found, "header") != NULL;
    bool value = fr__cfg_found(&api_version_table, found, "value") != NULL;
    bool prefix = fr__cfg_found(&api_version_table, found, "path") != NULL;
    if (prefix && (header || value))
        return fr__cfg_fail(ld, map, path, "use either header and value, or path, not both");
    if (header != value)
        return fr__cfg_fail(ld, map, path,
                            "missing required key \"%s\" (header and value go "
                            "together)",
                            header ? "value" : "header");
    if (!header && !prefix)
        return fr__cfg_fail(ld, map, path, "set header and value, or path");
    return 0;
}

static const struct fr__cfg_key retry_keys[] = {
    {.name = "max_attempts",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_retry_conf, max_attempts),
     .def = "5",
     .min = 1,
     .max = 100,
     .help = "attempts in all, the first included"},
    {.name = "base",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_retry_conf, base_ms),
     .def = "1s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the first backoff delay, doubled each retry"},
    {.name = "cap",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_retry_conf, cap_ms),
     .def = "30s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the longest backoff delay"},
    {.name = "max_elapsed",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_retry_conf, max_elapsed_ms),
     .def = "10m",
     .min = 1,
     .max = 7 * ONE_DAY_MS,
     .help = "give up on a request after this long"},
    {.name = "budget",
     .type = FR__CFG_PERCENT,
     .offset = offsetof(struct fr_retry_conf, budget),
     .def = "20%",
     .help = "retries as a share of the last minute's requests"},
};

static int check_retry(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                       yaml_node_t **found);

static const struct fr__cfg_table retry_table = {
    retry_keys, FR_ARRAY_LEN(retry_keys), NULL, NULL, check_retry,
};

static int check_retry(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                       yaml_node_t **found)
{
    struct fr_retry_conf *r = base;
    yaml_node_t *base_node = fr__cfg_found(&retry_table, found, "base");
    char b1[32], b2[32];
    if (r->base_ms > r->cap_ms)
        return fr__cfg_fail(ld, base_node ? base_node : map, path,
                            "base (%s) must not be greater than cap (%s)",
                            fr__cfg_fmt_duration(r->base_ms, b1, sizeof(b1)),
                            fr__cfg_fmt_duration(r->cap_ms, b2, sizeof(b2)));
    return 0;
}

static const struct fr__cfg_key timeout_keys[] = {
    {.name = "connect",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_target_conf, connect_timeout_ms),
     .def = "5s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "time allowed to open a connection"},
    {.name = "total",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_target_conf, total_timeout_ms),
     .def = "30s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "time allowed for a whole request"},
};

static const struct fr__cfg_table timeout_table = {timeout_keys, FR_ARRAY_LEN(timeout_keys), NULL,
                                                   NULL, NULL};

static const struct fr__cfg_key probe_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_target_conf, probe_method),
     .def = "GET",
     .names = http_methods,
     .help = "the HTTP method of the probe"},
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_target_conf, probe_path),
     .def = "/",
     .help = "the path probed, relative to base_url"},
};

static const struct fr__cfg_table probe_table = {probe_keys, FR_ARRAY_LEN(probe_keys), NULL, NULL,
                                                 NULL};

static const struct fr__cfg_key body_rule_keys[] = {
    {.name = "path",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_body_rule, path),
     .required = ALWAYS,
     .help = "a JSON pointer into the response body, e.g. /success"},
    {.name = "equals",
     .type = FR__CFG_JSON,
     .offset = offsetof(struct fr_body_rule, equals),
     .required = ALWAYS,
     .help = "the value at path that means failure, e.g. false"},
    {.name = "message",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_body_rule, message),
     .help = "a JSON pointer to the error text"},
    {.name = "retry",
     .type = FR__CFG_BOOL,
     .offset = offsetof(struct fr_body_rule, retry),
     .def = "true",
     .help = "retry such a response like a 5xx"},
};

static const struct fr__cfg_table body_rule_table = {body_rule_keys, FR_ARRAY_LEN(body_rule_keys),
                                                     NULL, NULL, NULL};

int fr__cfg_parse_body_rules(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             struct fr_body_rule **rules, size_t *n)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SEQUENCE_NODE);
    if (rc)
        return rc;
    yaml_node_item_t *start = node->data.sequence.items.start;
    yaml_node_item_t *top = node->data.sequence.items.top;
    *rules = fr_calloc((size_t)(top - start), sizeof(**rules));
    for (yaml_node_item_t *it = start; it < top && !rc; it++) {
        struct fr_body_rule *r = &(*rules)[(*n)++];
        fr__cfg_apply_defaults(&body_rule_table, r);
        char *cp = fr_asprintf("%s[%zu]", path, (size_t)(it - start));
        rc = fr__cfg_parse_mapping(ld, fr__cfg_node(ld, *it), cp, &body_rule_table, r);
        free(cp);
    }
    return rc;
}

void fr__cfg_free_body_rules(struct fr_body_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].path);
        json_decref(rules[i].equals);
        free(rules[i].message);
    }
    free(rules);
}

static int parse_body_rules(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                            void *field)
{
    struct fr_target_conf *t =
        (struct fr_target_conf *)((char *)field - offsetof(struct fr_target_conf, body_errors));
    return fr__cfg_parse_body_rules(ld, node, path, &t->body_errors, &t->nbody_errors);
}

static const struct fr__cfg_key target_keys[] = {
    {.name = "base_url",
     .type = FR__CFG_URL,
     .offset = offsetof(struct fr_target_conf, base_url),
     .required = ALWAYS,
     .help = "the API's root URL, http:// or https://"},
    {.name = "api_version",
     .type = FR__CFG_MAP,
     .offset = 0,
     .sub = &api_version_table,
     .help = "{ header, value } or { path }"},
    {.name = "auth",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_target_conf, auth),
     .sub = &auth_table,
     .help = "how requests authenticate"},
    {.name = "rate_limit",
     .type = FR__CFG_RATE,
     .offset = offsetof(struct fr_target_conf, rate_limit),
     .help = "COUNT/UNIT such as 600/min, or adaptive"},
    {.name = "retry",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_target_conf, retry),
     .sub = &retry_table,
     .help = "backoff and retry limits"},
    {.name = "timeout",
     .type = FR__CFG_MAP,
     .offset = 0,
     .sub = &timeout_table,
     .help = "{ connect, total }"},
    {.name = "max_in_flight",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_target_conf, max_in_flight),
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "concurrent requests to this target"},
    {.name = "probe",
     .type = FR__CFG_MAP,
     .offset = 0,
     .sub = &probe_table,
     .help = "the request ferry check sends"},
    {.name = "insecure_skip_verify",
     .type = FR__CFG_BOOL,
     .offset = offsetof(struct fr_target_conf, insecure_skip_verify),
     .def = "false",
     .help = "turn TLS certificate verification off (testing only)"},
    {.name = "body_errors",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_target_conf, body_errors),
     .custom = parse_body_rules,
     .help = "rules that turn a 2xx body into a failure"},
};

static int check_target(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found);

static const struct fr__cfg_table target_table = {target_keys, FR_ARRAY_LEN(target_keys), NULL,
                                                  NULL, check_target};

static int check_target(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    struct fr_target_conf *t = base;
    if (t->insecure_skip_verify)
        fr__cfg_warn(ld, fr__cfg_found(&target_table, found, "insecure_skip_verify"),
                     "TLS certificate verification is OFF for target %s "
                     "(insecure_skip_verify: true); anyone on the path can read and alter its "
                     "traffic; use only for testing",
                     t->name);
    if (t->auth.type != FR_AUTH_NONE && strncasecmp(t->base_url, "http://", 7) == 0 &&
        !is_loopback(t->base_url))
        fr__cfg_warn(ld, fr__cfg_found(&target_table, found, "base_url"),
                     "%s.base_url uses http:// to a host that is not loopback: the credentials "
                     "sent with every request would travel in clear text; use https://",
                     path);
    return 0;
}

bool fr__cfg_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static int parse_target(struct fr__cfg_loader *ld, void *entry, const char *name, yaml_node_t *key,
                        yaml_node_t *value, const char *path)
{
    struct fr_target_conf *t = entry;
    fr_target_conf_defaults(t);
    t->name = fr_strdup(name);
    t->line = (int)key->start_mark.line + 1;
    t->col = (int)key->start_mark.column + 1;
    size_t missing = ld->cfg->nmissing_secrets;
    int rc = fr__cfg_parse_mapping(ld, value, path, &target_table, t);
    if (!rc && ld->cfg->nmissing_secrets > missing)
        t->missing_secret = fr_strdup(ld->cfg->missing_secrets[missing].msg);
    return rc;
}

static int parse_targets(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_config *cfg = field;
    return fr__cfg_parse_entries(ld, node, path, "target", false, NULL, sizeof(*cfg->targets),
                                 (void **)&cfg->targets, &cfg->ntargets, parse_target);
}

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

/* The sections of the file: each new section is one more row. */
static const struct fr__cfg_key top_keys[] = {
    {.name = "store",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_config, store),
     .def = "sqlite:ferry.db",
     .help = "where runs and the journal are kept"},
    {.name = "targets",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_targets,
     .help = "named API connections"},
    {.name = "jobs",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = fr__cfg_parse_jobs,
     .help = "named jobs (push or pull)"},
    {.name = "alerts",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = fr__cfg_parse_alerts,
     .help = "where alerts are sent: a list of sinks, or { sinks, evaluate_every, error_rate, "
             "latency_p95, token_refresh, dead_letters, stale_jobs }"},
    {.name = "status",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_config, status),
     .sub = &status_table,
     .help = "thresholds of ferry status --check: { recent_runs, min_success_rate, "
             "max_dead_letters, max_pending_age }"},
    {.name = "webhooks",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_config, webhooks),
     .sub = &fr__cfg_webhooks_table,
     .help = "inbound webhooks: { listen, max_body, timeout, sources }"},
};

static int check_top(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found);

static const struct fr__cfg_table top_table = {top_keys, FR_ARRAY_LEN(top_keys), NULL, NULL,
                                               check_top};

/*
 * Jobs name targets, which may come later in the file: checked once both are
 * read. The store URL's password (however written: ${DBURL} whole or in
 * part, percent-encoded) is a secret from here on, and where the URL is
 * written is kept for the messages of opening it.
 */
static int check_top(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found)
{
    struct fr_config *cfg = base;
    fr_redact_add_url_credentials(cfg->store);
    cfg->store_pos = fr__cfg_pos(fr__cfg_found(&top_table, found, "store"));
    yaml_node_t *jobs = fr__cfg_found(&top_table, found, "jobs");
    return jobs ? fr__cfg_check_job_targets(ld, jobs) : 0;
}

/* ---- public API -------------------------------------------------------- */

void fr_target_conf_defaults(struct fr_target_conf *t)
{
    memset(t, 0, sizeof(*t));
    fr__cfg_apply_defaults(&target_table, t);
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void fr_target_conf_release(struct fr_target_conf *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->base_url);
    free(t->api_version_header);
    free(t->api_version_value);
    free(t->api_version_path);
    free(t->auth.token_url);
    free(t->auth.client_id);
    free_secret(t->auth.client_secret);
    free(t->auth.scope);
    free(t->auth.header);
    free_secret(t->auth.value);
    free_secret(t->auth.token);
    free(t->probe_method);
    free(t->probe_path);
    fr__cfg_free_body_rules(t->body_errors, t->nbody_errors);
    free(t->missing_secret);
    memset(t, 0, sizeof(*t));
}

void fr_config_free(struct fr_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->ntargets; i++)
        fr_target_conf_release(&cfg->targets[i]);
    free(cfg->targets);
    fr__cfg_free_jobs(cfg);
    fr__cfg_free_alerts(cfg);
    fr__cfg_free_webhooks(cfg);
    for (size_t i = 0; i < cfg->nwarnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    for (size_t i = 0; i < cfg->nmissing_secrets; i++) {
        free(cfg->missing_secrets[i].key);
        free(cfg->missing_secrets[i].var);
        free(cfg->missing_secrets[i].msg);
    }
    free(cfg->missing_secrets);
    free(cfg->path);
    free(cfg->dir);
    free(cfg->store);
    free(cfg);
}

const char *fr_config_default_path(const char *explicit_path)
{
    if (explicit_path)
        return explicit_path;
    const char *env = getenv("FERRY_CONFIG");
    return env && *env ? env : "ferry.yaml";
}

const struct fr_target_conf *fr_config_find_target(const struct fr_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}

/* key is scope or under it: "targets.im" holds "targets.im.auth.token", not "targets.imx.x". */
static bool key_under(const char *key, const char *scope)
{
    size_t n = strlen(scope);
    return strncmp(key, scope, n) == 0 && (key[n] == '\0' || key[n] == '.' || key[n] == '[');
}

int fr_config_require_secrets(const struct fr_config *cfg, const char *scope, struct fr_err *err)
{
    for (size_t i = 0; i < cfg->nmissing_secrets; i++) {
        const struct fr_missing_secret *m = &cfg->missing_secrets[i];
        if (!scope || key_under(m->key, scope))
            return fr_err_set(err, FR_ECONFIG, 0, "%s", m->msg);
    }
    return 0;
}

int fr_config_require_job_secrets(const struct fr_config *cfg, const struct fr_job_conf *job,
                                  struct fr_err *err)
{
    char *scope = fr_asprintf("targets.%s", job->target);
    int rc = fr_config_require_secrets(cfg, scope, err);
    free(scope);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return fr_strdup(".");
    if (slash == path)
        return fr_strdup("/");
    return fr_strndup(path, (size_t)(slash - path));
}

static int syntax_error(yaml_parser_t *parser, const char *name, struct fr_err *err)
{
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    if (parser->context)
        return fr_err_set(err, FR_ECONFIG, 0, "%s:%zu:%zu: YAML syntax error %s: %s", name,
                          parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                          parser->context, problem);
    return fr_err_set(err, FR_ECONFIG, 0, "%s:%zu:%zu: YAML syntax error: %s", name,
                      parser->problem_mark.line + 1, parser->problem_mark.column + 1, problem);
}

/* Parses the (single) document of the input into doc, once it keeps the limits. */
static int load_document(const char *yaml, size_t len, const char *name, yaml_document_t *doc,
                         struct fr_err *err)
{
    int rc = fr__cfg_check_limits(yaml, len, name, err);
    if (rc)
        return rc;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = syntax_error(&parser, name, err);
    } else {
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            rc = syntax_error(&parser, name, err);
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&extra);
            if (root)
                rc = fr_err_set(err, FR_ECONFIG, 0,
                                "%s:%zu:%zu: a second YAML document; ferry.yaml holds one "
                                "(remove the --- line)",
                                name, extra.start_mark.line + 1, extra.start_mark.column + 1);
            yaml_document_delete(&extra);
        }
        if (rc)
            yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int fr_config_load_string(const char *yaml, size_t len, const char *name, struct fr_config **out,
                          struct fr_err *err)
{
    *out = NULL;
    yaml_document_t doc;
    int rc = load_document(yaml, len, name, &doc, err);
    if (rc)
        return rc;
    struct fr_config *cfg = fr_calloc(1, sizeof(*cfg));
    cfg->path = fr_strdup(name);
    cfg->dir = dir_of(name);
    fr__cfg_apply_defaults(&top_table, cfg);
    fr__cfg_alerts_defaults(cfg);
    struct fr__cfg_loader ld = {.doc = &doc, .name = name, .dir = cfg->dir, .cfg = cfg, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = fr__cfg_parse_mapping(&ld, root, "", &top_table, cfg);
    fr__cfg_loader_release(&ld);
    yaml_document_delete(&doc);
    if (rc) {
        fr_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int fr_config_load(const char *path, struct fr_config **out, struct fr_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fr_err_set(err, FR_EIO, errno, "cannot read config file \"%s\": %s", path,
                          strerror(errno));
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_init(&b, CONFIG_FILE_MAX);
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (fr_buf_add(&b, chunk, n) != 0) {
            rc = fr_err_set(err, FR_ECONFIG, 0, "%s: config file larger than %d bytes", path,
                            CONFIG_FILE_MAX);
            break;
        }
    }
    if (!rc && ferror(f))
        rc = fr_err_set(err, FR_EIO, errno, "cannot read config file \"%s\": %s", path,
                        strerror(errno));
    fclose(f);
    if (!rc)
        rc = fr_config_load_string(fr_buf_str(&b), b.len, path, out, err);
    fr_buf_release(&b);
    return rc;
}
