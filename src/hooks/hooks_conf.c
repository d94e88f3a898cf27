#include "core/common.h"
#include "hooks/hooks_conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <strings.h>

#include "core/config_table.h"

#define ALWAYS FR__CFG_ALWAYS

#define ONE_HOUR_MS (3600000LL)
#define ONE_DAY_MS  (86400000LL)

#define DELIVER_URL_TIMEOUT  "10s"
#define DELIVER_EXEC_TIMEOUT "30s"

/* A request body larger than this is not a webhook. */
#define MAX_BODY_LIMIT (1024LL * 1024 * 1024)

_Static_assert(offsetof(struct fr_webhooks_conf, nallowed_hosts) ==
                   offsetof(struct fr_webhooks_conf, allowed_hosts) + sizeof(char **),
               "allowed_hosts and nallowed_hosts are not adjacent");

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_dedupe) == sizeof(int), "enum fr_dedupe is not an int");

static const char *const dedupe_names[] = {"id", "content", "delivery_id", NULL};

/* The scheme names into names, and "\"standard\", \"github\", ..." for messages. The caller frees.
 */
static char *scheme_list(const char **names)
{
    for (int i = 0; i < FR_VERIFY_SCHEME__COUNT; i++)
        names[i] = fr_verify_scheme_name((enum fr_verify_scheme)i);
    return fr__cfg_quoted_list(names, FR_VERIFY_SCHEME__COUNT);
}

/* ---- verify -------------------------------------------------------------- */

static int parse_scheme(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    char *text = NULL;
    if (rc || (rc = fr__cfg_expand(ld, node, path, fr__cfg_text(node), &text)))
        return rc;
    if (fr_verify_parse_scheme(text, field) != 0) {
        const char *names[FR_VERIFY_SCHEME__COUNT];
        char *list = scheme_list(names);
        const char *near = fr__cfg_suggest(text, names, FR_VERIFY_SCHEME__COUNT);
        rc = fr__cfg_fail(ld, node, path, "unknown scheme \"%s\" (schemes: %s%s%s%s)", text, list,
                          near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
        free(list);
    }
    free(text);
    return rc;
}

/* A non-empty sequence of secrets, each ${ENV} or file:/path (a literal is a warning). */
static int parse_secret_item(struct fr__cfg_loader *ld, void *slot, yaml_node_t *item,
                             const char *path, void *ud)
{
    (void)ud;
    int rc = fr__cfg_expect(ld, item, path, YAML_SCALAR_NODE);
    return rc ? rc : fr__cfg_secret(ld, item, path, slot);
}

static int parse_secrets(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_webhook_source_conf *s = field;
    return fr__cfg_parse_list(
        ld, node, path, "give at least one secret, e.g. [\"${CRM_WEBHOOK_SECRET}\"]",
        sizeof(*s->secrets), (void **)&s->secrets, &s->nsecrets, parse_secret_item, NULL);
}

static int parse_encoding(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    if (rc)
        return rc;
    const char *text = fr__cfg_text(node);
    if (strcmp(text, "hex") == 0 || strcmp(text, "base64") == 0) {
        *(bool *)field = strcmp(text, "base64") == 0;
        return 0;
    }
    return fr__cfg_fail(ld, node, path, "invalid value \"%s\" (use \"hex\" or \"base64\")", text);
}

static const struct fr__cfg_key verify_keys[] = {
    {.name = "scheme",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_webhook_source_conf, scheme),
     .custom = parse_scheme,
     .required = ALWAYS,
     .help = "standard, github, stripe, convoy or hmac"},
    {.name = "secrets",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_secrets,
     .required = ALWAYS,
     .help = "the signing secrets, each as ${ENV} or file:/path"},
    {.name = "tolerance",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhook_source_conf, tolerance_ms),
     .def = "5m",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "how far a signed timestamp may be from now"},
    {.name = "header",
     .type = FR__CFG_HEADER,
     .offset = offsetof(struct fr_webhook_source_conf, hmac_header),
     .help = "the header carrying the signature (scheme hmac)"},
    {.name = "encoding",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_webhook_source_conf, hmac_base64),
     .custom = parse_encoding,
     .help = "hex or base64 (scheme hmac)"},
    {.name = "prefix",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_webhook_source_conf, hmac_prefix),
     .help = "text before the MAC in the header, e.g. sha256= (scheme hmac)"},
    {.name = "timestamp_header",
     .type = FR__CFG_HEADER,
     .offset = offsetof(struct fr_webhook_source_conf, hmac_timestamp_header),
     .help = "the header carrying the signed timestamp (scheme hmac)"},
};

static int check_verify(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found);

static const struct fr__cfg_table verify_table = {verify_keys, FR_ARRAY_LEN(verify_keys), NULL,
                                                  NULL, check_verify};

/* The generic hmac scheme takes four more keys; the named schemes fix them. */
static int check_verify(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    static const char *const hmac_only[] = {"header", "encoding", "prefix", "timestamp_header"};
    struct fr_webhook_source_conf *s = base;
    if (s->scheme == FR_VERIFY_HMAC) {
        if (!s->hmac_header)
            return fr__cfg_fail(ld, map, path,
                                "missing required key \"header\" (the header carrying the "
                                "signature; scheme hmac needs it)");
        return 0;
    }
    for (size_t i = 0; i < FR_ARRAY_LEN(hmac_only); i++) {
        yaml_node_t *at = fr__cfg_found(&verify_table, found, hmac_only[i]);
        if (at)
            return fr__cfg_fail(ld, at, path,
                                "key \"%s\" does not apply to scheme \"%s\" (it belongs to "
                                "\"hmac\")",
                                hmac_only[i], fr_verify_scheme_name(s->scheme));
    }
    return 0;
}

/* ---- deliver ------------------------------------------------------------- */

static const struct fr__cfg_key deliver_keys[] = {
    {.name = "url",
     .type = FR__CFG_URL,
     .offset = offsetof(struct fr_webhook_source_conf, deliver_url),
     .help = "the http(s) URL each event is POSTed to"},
    {.name = "exec",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_webhook_source_conf, deliver_exec),
     .help = "the command run for each event, in the config file's directory"},
    {.name = "timeout",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhook_source_conf, deliver_timeout_ms),
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "time allowed for one attempt"},
    {.name = "max_attempts",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_webhook_source_conf, max_attempts),
     .def = "8",
     .min = 1,
     .max = 100,
     .help = "attempts in all, the first included"},
    {.name = "base",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhook_source_conf, base_ms),
     .def = "1s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the first backoff delay, doubled each retry"},
    {.name = "cap",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhook_source_conf, cap_ms),
     .def = "10m",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the longest backoff delay"},
};

static int check_deliver(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                         yaml_node_t **found);

static const struct fr__cfg_table deliver_table = {deliver_keys, FR_ARRAY_LEN(deliver_keys), NULL,
                                                   NULL, check_deliver};

static int check_deliver(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                         yaml_node_t **found)
{
    struct fr_webhook_source_conf *s = base;
    if (s->deliver_url && s->deliver_exec)
        return fr__cfg_fail(ld, fr__cfg_found(&deliver_table, found, "exec"), path,
                            "set either url (POST each event) or exec (run a command), not both");
    if (!s->deliver_url && !s->deliver_exec)
        return fr__cfg_fail(ld, map, path,
                            "missing \"url\" or \"exec\" (url: an http(s) URL each event is "
                            "POSTed to, exec: a command run for each event)");
    if (s->deliver_exec && strspn(s->deliver_exec, " \t\r\n") == strlen(s->deliver_exec))
        return fr__cfg_fail(ld, fr__cfg_found(&deliver_table, found, "exec"), path,
                            "exec is blank (write the command to run)");
    if (!fr__cfg_found(&deliver_table, found, "timeout")) {
        const char *def = s->deliver_url ? DELIVER_URL_TIMEOUT : DELIVER_EXEC_TIMEOUT;
        const char *why = NULL;
        if (fr_parse_duration(def, &s->deliver_timeout_ms, &why) != 0)
            FR_ASSERT(!"bad built-in deliver timeout");
    }
    char b1[32], b2[32];
    if (s->base_ms > s->cap_ms) {
        yaml_node_t *at = fr__cfg_found(&deliver_table, found, "base");
        return fr__cfg_fail(ld, at ? at : map, path, "base (%s) must not be greater than cap (%s)",
                            fr__cfg_fmt_duration(s->base_ms, b1, sizeof(b1)),
                            fr__cfg_fmt_duration(s->cap_ms, b2, sizeof(b2)));
    }
    return 0;
}

/* ---- source -------------------------------------------------------------- */

static const struct fr__cfg_key source_keys[] = {
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_webhook_source_conf, path),
     .required = ALWAYS,
     .help = "the request path deliveries are POSTed to, e.g. /hooks/crm"},
    {.name = "verify",
     .type = FR__CFG_MAP,
     .offset = 0,
     .sub = &verify_table,
     .required = ALWAYS,
     .help = "how signatures are checked: { scheme, secrets[, tolerance] }"},
    {.name = "deliver",
     .type = FR__CFG_MAP,
     .offset = 0,
     .sub = &deliver_table,
     .required = ALWAYS,
     .help = "where events go: { url | exec, timeout, max_attempts, base, cap }"},
    {.name = "dedupe",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_webhook_source_conf, dedupe),
     .names = dedupe_names,
     .help = "what makes two deliveries one event: id (the sender's event id; delivery_id is "
             "its name for github) or content (the signed body's SHA-256); github's default is "
             "content, the others' id"},
};

static int check_source(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found);

static const struct fr__cfg_table source_table = {source_keys, FR_ARRAY_LEN(source_keys), NULL,
                                                  NULL, check_source};

/* Paths are unique: the sources parsed so far precede this one in ld->cfg. */
static int check_source(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    const struct fr_webhooks_conf *w = ld->cfg->webhooks;
    struct fr_webhook_source_conf *s = base;
    /* GitHub signs no timestamp and not its delivery id: a captured body re-sent with a new
     * id would be a new event, so its deliveries are told apart by what is signed. */
    if (!fr__cfg_found(&source_table, found, "dedupe"))
        s->dedupe = s->scheme == FR_VERIFY_GITHUB ? FR_DEDUPE_CONTENT : FR_DEDUPE_ID;
    for (const struct fr_webhook_source_conf *o = w->sources; o < s; o++) {
        if (strcmp(o->path, s->path) != 0)
            continue;
        char *cp = fr__cfg_child_path(path, "path");
        int rc = fr__cfg_fail(ld, fr__cfg_found(&source_table, found, "path"), cp,
                              "\"%s\" is already the path of source %s (line %d); each source "
                              "needs its own path",
                              s->path, o->name, o->line);
        free(cp);
        return rc;
    }
    return 0;
}

static void source_release(struct fr_webhook_source_conf *s)
{
    free(s->name);
    free(s->path);
    for (size_t i = 0; i < s->nsecrets; i++)
        fr__cfg_free_secret(s->secrets[i]);
    free(s->secrets);
    free(s->hmac_header);
    free(s->hmac_prefix);
    free(s->hmac_timestamp_header);
    free(s->deliver_url);
    free(s->deliver_exec);
    memset(s, 0, sizeof(*s));
}

static int parse_source(struct fr__cfg_loader *ld, void *entry, const char *name, yaml_node_t *key,
                        yaml_node_t *value, const char *path)
{
    struct fr_webhook_source_conf *s = entry;
    fr__cfg_apply_defaults(&source_table, s);
    s->name = fr_strdup(name);
    s->line = (int)key->start_mark.line + 1;
    s->col = (int)key->start_mark.column + 1;
    return fr__cfg_parse_mapping(ld, value, path, &source_table, s);
}

static int parse_sources(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_webhooks_conf *w = field;
    return fr__cfg_parse_entries(
        ld, node, path, "source", false,
        "no sources (name at least one, with its path, verify and deliver)", sizeof(*w->sources),
        (void **)&w->sources, &w->nsources, parse_source);
}

/* ---- webhooks ------------------------------------------------------------ */

/*
 * "IP:PORT" or "[IPv6]:PORT" with a numeric address (no host names: what the
 * server binds must be plain in the file) and a port 0..65535 (0: any free
 * port). Sets *any when the address is every interface (0.0.0.0 or ::).
 */
static bool listen_ok(const char *s, bool *any)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port;
    int family = AF_INET;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return false;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return false;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    unsigned char addr[16];
    if (inet_pton(family, host, addr) != 1)
        return false;
    size_t digits = strspn(port, "0123456789");
    if (digits == 0 || digits > 5 || port[digits] || strtol(port, NULL, 10) > 65535)
        return false;
    static const unsigned char zero[16];
    *any = memcmp(addr, zero, family == AF_INET ? 4 : 16) == 0;
    return true;
}

/*
 * webhooks.allowed_hosts: a list of host names (a port, if written, is
 * ignored), "*.example.com" for any name under example.com, or "*" for any.
 */
static int parse_allowed_hosts(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                               void *field)
{
    struct fr_webhooks_conf *w = field;
    int rc = fr__cfg_parse_strings(ld, node, path, &w->allowed_hosts,
                                   "a host name such as ferry.example.com", true);
    for (size_t i = 0; !rc && i < w->nallowed_hosts; i++) {
        /* A name, with an optional port: no scheme, path, spaces or user. */
        char *text = w->allowed_hosts[i];
        bool bracketed = text[0] == '[';
        size_t n = bracketed ? strcspn(text, "]") + 1 : strcspn(text, ":");
        if (strcspn(text, "/@ \t?#") != strlen(text) || (bracketed && text[n - 1] != ']')) {
            char *cp = fr_asprintf("%s[%zu]", path, i);
            rc = fr__cfg_fail(ld, fr__cfg_node(ld, node->data.sequence.items.start[i]), cp,
                              "\"%s\" is not a host name (write the name the browser or proxy "
                              "sends in Host, such as ferry.internal.example, *.example.com or *)",
                              text);
            free(cp);
            break;
        }
        text[n] = '\0';
        for (char *c = text; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    return rc;
}

static const struct fr__cfg_key webhooks_keys[] = {
    {.name = "listen",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_webhooks_conf, listen),
     .def = "127.0.0.1:8080",
     .help = "IP:PORT the webhook server listens on ([::1]:PORT for IPv6)"},
    {.name = "max_body",
     .type = FR__CFG_SIZE,
     .offset = offsetof(struct fr_webhooks_conf, max_body),
     .def = "1MB",
     .min = 1024,
     .max = MAX_BODY_LIMIT,
     .help = "the largest request body accepted"},
    {.name = "timeout",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhooks_conf, timeout_ms),
     .def = "10s",
     .min = 1,
     .max = ONE_HOUR_MS,
     .help = "time a connection may stay idle (between requests, or with nothing arriving)"},
    {.name = "header_timeout",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhooks_conf, header_timeout_ms),
     .def = "10s",
     .min = 100,
     .max = ONE_HOUR_MS,
     .help = "a request's head must arrive within this of the connection opening or of the "
             "previous answer"},
    {.name = "body_timeout",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhooks_conf, body_timeout_ms),
     .def = "60s",
     .min = 100,
     .max = ONE_HOUR_MS,
     .help = "a request's body must arrive within this of its head"},
    {.name = "min_body_rate",
     .type = FR__CFG_SIZE,
     .offset = offsetof(struct fr_webhooks_conf, min_body_rate),
     .def = "1KB",
     .max = MAX_BODY_LIMIT,
     .help = "bytes a second a body must average once it has been arriving for 5s (0: no "
             "minimum)"},
    {.name = "max_connections",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_webhooks_conf, max_connections),
     .def = "4096",
     .min = 16,
     .max = 1000000,
     .help = "connections served at once (as far as the open-file limit allows)"},
    {.name = "max_connections_per_client",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_webhooks_conf, max_connections_per_client),
     .def = "256",
     .min = 0,
     .max = 1000000,
     .help = "connections one client address may hold at once (0: no limit; behind a proxy "
             "every connection is the proxy's)"},
    {.name = "unverified_budget",
     .type = FR__CFG_SIZE,
     .offset = offsetof(struct fr_webhooks_conf, unverified_budget),
     .def = "64MB",
     .min = 1024,
     .max = 64 * MAX_BODY_LIMIT,
     .help = "memory all request bodies not yet verified may take together; past it, 503 "
             "with Retry-After"},
    {.name = "allowed_hosts",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_allowed_hosts,
     .help = "Host names the dashboard, /api and /metrics answer besides IP addresses and "
             "localhost, e.g. [ferry.internal.example]"},
    {.name = "retention",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_webhooks_conf, retention_ms),
     .def = "7d",
     .min = 1000,
     .max = 3650 * ONE_DAY_MS,
     .help = "how long delivered events are kept after delivery: a sender's retry of one is "
             "answered duplicate until then"},
    {.name = "admin_token",
     .type = FR__CFG_SECRET,
     .offset = offsetof(struct fr_webhooks_conf, admin_token),
     .help = "the Bearer token admin actions need (dashboard replay, run now), e.g. "
             "${FERRY_ADMIN_TOKEN}"},
    {.name = "protect_reads",
     .type = FR__CFG_BOOL,
     .offset = offsetof(struct fr_webhooks_conf, protect_reads),
     .def = "false",
     .help = "true: GET /api/status and /api/dlq need the admin token on a loopback listener "
             "too (on any other address they always do)"},
    {.name = "sources",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_sources,
     .required = ALWAYS,
     .help = "the named senders: { NAME: { path, verify, deliver } }"},
};

static int check_webhooks(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                          yaml_node_t **found);

static const struct fr__cfg_table webhooks_table = {
    webhooks_keys, FR_ARRAY_LEN(webhooks_keys), NULL, NULL, check_webhooks,
};

static int check_webhooks(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                          yaml_node_t **found)
{
    struct fr_webhooks_conf *w = base;
    yaml_node_t *at = fr__cfg_found(&webhooks_table, found, "listen");
    bool any = false;
    if (!listen_ok(w->listen, &any)) {
        char *cp = fr__cfg_child_path(path, "listen");
        int rc = fr__cfg_fail(ld, at ? at : map, cp,
                              "invalid address \"%s\" (write IP:PORT such as 127.0.0.1:8080, or "
                              "[::1]:8080 for IPv6; port 0..65535)",
                              w->listen);
        free(cp);
        return rc;
    }
    if (any)
        fr__cfg_warn(ld, at,
                     "%s.listen %s listens on every interface: anyone who can reach this host "
                     "can send to the webhook server; bind 127.0.0.1 behind a proxy unless "
                     "that is intended",
                     path, w->listen);
    yaml_node_t *b = fr__cfg_found(&webhooks_table, found, "unverified_budget");
    if (!b && w->unverified_budget < w->max_body)
        w->unverified_budget = w->max_body; /* the default yields to a larger max_body */
    if (w->unverified_budget < w->max_body) {
        char *cp = fr__cfg_child_path(path, "unverified_budget");
        int rc =
            fr__cfg_fail(ld, b ? b : map, cp,
                         "unverified_budget (%llu bytes) is smaller than max_body (%llu "
                         "bytes): no body that large could ever be received",
                         (unsigned long long)w->unverified_budget, (unsigned long long)w->max_body);
        free(cp);
        return rc;
    }
    w->configured = true;
    return 0;
}

static void webhooks_defaults(struct fr_config *cfg)
{
    cfg->webhooks = fr_calloc(1, sizeof(*cfg->webhooks));
    fr__cfg_apply_defaults(&webhooks_table, cfg->webhooks);
    cfg->webhooks->dir = fr_strdup(cfg->dir); /* where exec handlers run */
}

static int parse_webhooks(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field)
{
    struct fr_config *cfg = field;
    return fr__cfg_parse_mapping(ld, node, path, &webhooks_table, cfg->webhooks);
}

static void release_webhooks(struct fr_config *cfg)
{
    struct fr_webhooks_conf *w = cfg->webhooks;
    if (!w)
        return;
    for (size_t i = 0; i < w->nsources; i++)
        source_release(&w->sources[i]);
    free(w->sources);
    free(w->listen);
    free(w->dir);
    fr__cfg_free_strings(w->allowed_hosts, w->nallowed_hosts);
    fr__cfg_free_secret(w->admin_token);
    free(w);
    cfg->webhooks = NULL;
}

const struct fr_config_section fr_webhooks_section = {
    .key = {.name = "webhooks",
            .type = FR__CFG_CUSTOM,
            .offset = 0,
            .custom = parse_webhooks,
            .help = "inbound webhooks: { listen, max_body, timeout, sources }"},
    .defaults = webhooks_defaults,
    .release = release_webhooks,
};

const struct fr_webhook_source_conf *fr_webhook_source_find(const struct fr_webhooks_conf *w,
                                                            const char *name)
{
    if (!w || !name)
        return NULL;
    for (size_t i = 0; i < w->nsources; i++)
        if (strcmp(w->sources[i].name, name) == 0)
            return &w->sources[i];
    return NULL;
}
