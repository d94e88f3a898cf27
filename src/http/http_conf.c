#include "core/common.h"
#include "http/http_conf.h"

#include <ctype.h>
#include <strings.h>

#include "core/config_table.h"

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
     .names = fr__cfg_http_methods,
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

static int parse_body_rule(struct fr__cfg_loader *ld, void *slot, yaml_node_t *item,
                           const char *path, void *ud)
{
    (void)ud;
    fr__cfg_apply_defaults(&body_rule_table, slot);
    return fr__cfg_parse_mapping(ld, item, path, &body_rule_table, slot);
}

int fr__cfg_parse_body_rules(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             struct fr_body_rule **rules, size_t *n)
{
    return fr__cfg_parse_list(ld, node, path, NULL, sizeof(**rules), (void **)rules, n,
                              parse_body_rule, NULL);
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

/* The section: targets is a mapping of named targets. */
static void release_targets(struct fr_config *cfg)
{
    for (size_t i = 0; i < cfg->ntargets; i++)
        fr_target_conf_release(&cfg->targets[i]);
    free(cfg->targets);
    cfg->targets = NULL;
    cfg->ntargets = 0;
}

const struct fr_config_section fr_targets_section = {
    .key = {.name = "targets",
            .type = FR__CFG_CUSTOM,
            .offset = 0,
            .custom = parse_targets,
            .help = "named API connections"},
    .release = release_targets,
};

void fr_target_conf_defaults(struct fr_target_conf *t)
{
    memset(t, 0, sizeof(*t));
    fr__cfg_apply_defaults(&target_table, t);
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
    fr__cfg_free_secret(t->auth.client_secret);
    free(t->auth.scope);
    free(t->auth.header);
    fr__cfg_free_secret(t->auth.value);
    fr__cfg_free_secret(t->auth.token);
    free(t->probe_method);
    free(t->probe_path);
    fr__cfg_free_body_rules(t->body_errors, t->nbody_errors);
    free(t->missing_secret);
    memset(t, 0, sizeof(*t));
}

const struct fr_target_conf *fr_target_find(const struct fr_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->ntargets; i++)
        if (strcmp(cfg->targets[i].name, name) == 0)
            return &cfg->targets[i];
    return NULL;
}
