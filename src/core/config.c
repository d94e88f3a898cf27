#include "core/common.h"
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_int.h"

/* A config file larger than this is a mistake (a log file passed with -c). */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)
/* The most keys one mapping table may have. */
#define TABLE_MAX 32

typedef struct fr__cfg_loader loader;

enum key_type {
    K_STR,      /* non-empty string, ${ENV} expanded */
    K_SECRET,   /* ${ENV}, file:/path or a literal (warning); registered with the redactor */
    K_URL,      /* http:// or https:// URL; trailing slashes stripped */
    K_SEGMENT,  /* path prefix such as "v2"; surrounding slashes stripped */
    K_PATH,     /* request path starting with "/" */
    K_POINTER,  /* JSON pointer: "" or starting with "/" */
    K_HEADER,   /* HTTP header name */
    K_METHOD,   /* HTTP method, one of names */
    K_ENUM,     /* one of names, stored as its index (int) */
    K_INT,      /* int within min..max */
    K_DURATION, /* int64_t milliseconds within min..max */
    K_PERCENT,  /* double fraction */
    K_BOOL,     /* true or false */
    K_RATE,     /* struct fr_rate_conf: COUNT/UNIT or "adaptive" */
    K_JSON,     /* json_t *, any scalar (core schema) */
    K_MAP,      /* a nested mapping described by sub */
    K_CUSTOM,   /* parsed by custom */
};

#define ALWAYS (~0u)

struct key_table;

struct key_spec {
    const char *name;
    enum key_type type;
    size_t offset;               /* of the field, from the table's base */
    const char *def;             /* default, written as in the file; NULL: none (zero) */
    int64_t min, max;            /* K_INT, K_DURATION */
    unsigned only;               /* variants (1u << index) the key belongs to; 0 = all */
    unsigned required;           /* variants in which the key is required; ALWAYS = all */
    const struct key_table *sub; /* K_MAP */
    const char *const *names;    /* K_ENUM, K_METHOD: NULL-terminated */
    int (*custom)(loader *ld, yaml_node_t *node, const char *path, void *field);
    const char *help; /* what the key is for; named when it is missing */
};

struct key_table {
    const struct key_spec *keys;
    size_t nkeys;
    /*
     * A K_ENUM key whose value selects which other keys apply (auth: type);
     * parsed first. NULL for tables without variants.
     */
    const char *variant_key;
    const char *variant_what; /* "auth type" */
    /* Cross-checks once every key is set; found[i] is the value node of keys[i] or NULL. */
    int (*check)(loader *ld, yaml_node_t *map, const char *path, void *base, yaml_node_t **found);
};

/* ---- conversions of scalar text ---------------------------------------- */

static yaml_node_t *node_at(loader *ld, int index)
{
    return yaml_document_get_node(ld->doc, index);
}

static const char *node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a sequence";
    case YAML_SCALAR_NODE:
        return node->data.scalar.length ? "a scalar" : "an empty value";
    default:
        return "nothing";
    }
}

static int expect(loader *ld, yaml_node_t *node, const char *path, yaml_node_type_t type)
{
    static const char *const wanted[] = {
        [YAML_SCALAR_NODE] = "a single value",
        [YAML_SEQUENCE_NODE] = "a sequence (a list)",
        [YAML_MAPPING_NODE] = "a mapping (key: value pairs)",
    };
    if (node->type == type)
        return 0;
    return fr__cfg_fail(ld, node, path, "expected %s, found %s", wanted[type], node_kind(node));
}

static void set_str(void *field, char *value)
{
    char **dst = field;
    free(*dst);
    *dst = value;
}

static int names_index(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int bad_choice(loader *ld, yaml_node_t *node, const char *path, const char *s,
                      const char *const *names)
{
    size_t n = 0;
    struct fr_buf list = FR_BUF_INIT;
    for (; names[n]; n++)
        fr_buf_addf(&list, "%s\"%s\"", n ? ", " : "", names[n]);
    const char *near = fr__cfg_suggest(s, names, n);
    int rc =
        near ? fr__cfg_fail(ld, node, path, "invalid value \"%s\" (did you mean \"%s\"?)", s, near)
             : fr__cfg_fail(ld, node, path, "invalid value \"%s\" (use one of %s)", s,
                            fr_buf_str(&list));
    fr_buf_release(&list);
    return rc;
}

static int conv_url(loader *ld, yaml_node_t *node, const char *path, char *s, void *field)
{
    const char *host = NULL;
    if (strncasecmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        host = s + 8;
    if (!host || !*host || *host == '/' || strpbrk(s, " \t\r\n")) {
        int rc = fr__cfg_fail(ld, node, path,
                              "invalid URL \"%s\" (write http://HOST[:PORT][/PATH] "
                              "or https://...)",
                              s);
        free(s);
        return rc;
    }
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '/')
        s[--len] = '\0';
    set_str(field, s);
    return 0;
}

static bool header_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

/* Converts text (already ${ENV}-expanded; ownership taken) into the field. */
static int convert(loader *ld, const struct key_spec *k, yaml_node_t *node, const char *path,
                   char *s, void *field)
{
    const char *why = NULL;
    char buf[2][32];
    int rc = 0;
    switch (k->type) {
    case K_URL:
        return conv_url(ld, node, path, s, field);
    case K_SEGMENT: {
        const char *b = s;
        while (*b == '/')
            b++;
        size_t len = strlen(b);
        while (len > 0 && b[len - 1] == '/')
            len--;
        if (len == 0 || memchr(b, ' ', len)) {
            rc = fr__cfg_fail(ld, node, path, "invalid path prefix \"%s\" (write e.g. v2)", s);
            break;
        }
        set_str(field, fr_strndup(b, len));
        break;
    }
    case K_PATH:
        if (s[0] != '/') {
            rc = fr__cfg_fail(ld, node, path, "invalid path \"%s\" (it must start with /)", s);
            break;
        }
        set_str(field, s);
        return 0;
    case K_POINTER:
        if (s[0] != '\0' && s[0] != '/') {
            rc = fr__cfg_fail(ld, node, path,
                              "invalid JSON pointer \"%s\" (it must start with /, e.g. /success)",
                              s);
            break;
        }
        set_str(field, s);
        return 0;
    case K_HEADER:
        if (!header_name_ok(s)) {
            rc = fr__cfg_fail(ld, node, path, "invalid header name \"%s\"", s);
            break;
        }
        set_str(field, s);
        return 0;
    case K_STR:
        if (!*s) {
            rc = fr__cfg_fail(ld, node, path, "empty value (remove the key or give a value)");
            break;
        }
        set_str(field, s);
        return 0;
    case K_METHOD:
        if (names_index(k->names, s) < 0) {
            rc = bad_choice(ld, node, path, s, k->names);
            break;
        }
        set_str(field, s);
        return 0;
    case K_ENUM: {
        int i = names_index(k->names, s);
        if (i < 0)
            rc = bad_choice(ld, node, path, s, k->names);
        else
            *(int *)field = i;
        break;
    }
    case K_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno) {
            rc = fr__cfg_fail(ld, node, path, "invalid integer \"%s\"", s);
        } else if (v < k->min || v > k->max) {
            rc = fr__cfg_fail(ld, node, path, "%lld is out of range (%lld..%lld)", v,
                              (long long)k->min, (long long)k->max);
        } else {
            *(int *)field = (int)v;
        }
        break;
    }
    case K_DURATION: {
        int64_t ms;
        if (fr_parse_duration(s, &ms, &why) != 0)
            rc = fr__cfg_fail(ld, node, path, "invalid duration \"%s\" (%s)", s, why);
        else if (ms < k->min)
            rc = fr__cfg_fail(ld, node, path, "%s is too short (at least %s)", s,
                              fr__cfg_fmt_duration(k->min, buf[0], sizeof(buf[0])));
        else if (k->max && ms > k->max)
            rc = fr__cfg_fail(ld, node, path, "%s is too long (at most %s)", s,
                              fr__cfg_fmt_duration(k->max, buf[1], sizeof(buf[1])));
        else
            *(int64_t *)field = ms;
        break;
    }
    case K_PERCENT:
        if (fr_parse_percent(s, (double *)field, &why) != 0)
            rc = fr__cfg_fail(ld, node, path, "invalid percentage \"%s\" (%s)", s, why);
        break;
    case K_BOOL:
        if (strcmp(s, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(s, "false") == 0)
            *(bool *)field = false;
        else
            rc = fr__cfg_fail(ld, node, path, "invalid boolean \"%s\" (write true or false)", s);
        break;
    case K_RATE: {
        struct fr_rate_conf *rate = field;
        if (strcmp(s, "adaptive") == 0) {
            rate->mode = FR_RATE_ADAPTIVE;
        } else if (fr_parse_rate(s, &rate->rate, &why) == 0) {
            rate->mode = FR_RATE_FIXED;
        } else {
            rc = fr__cfg_fail(ld, node, path, "invalid rate \"%s\" (%s, or adaptive)", s, why);
        }
        break;
    }
    default:
        FR_ASSERT(!"not a scalar key type");
    }
    free(s);
    return rc;
}

/* ---- the generic mapping walk ------------------------------------------ */

static int parse_mapping(loader *ld, yaml_node_t *node, const char *path,
                         const struct key_table *tab, void *base);

static char *child_path(const char *path, const char *key)
{
    return *path ? fr_asprintf("%s.%s", path, key) : fr_strdup(key);
}

static int parse_value(loader *ld, const struct key_spec *k, yaml_node_t *node, const char *path,
                       void *base)
{
    void *field = (char *)base + k->offset;
    if (k->type == K_MAP)
        return parse_mapping(ld, node, path, k->sub, field);
    if (k->type == K_CUSTOM)
        return k->custom(ld, node, path, field);
    int rc = expect(ld, node, path, YAML_SCALAR_NODE);
    if (rc)
        return rc;
    if (k->type == K_SECRET) {
        char *secret;
        rc = fr__cfg_secret(ld, node, path, &secret);
        if (rc == 0) {
            char **dst = field;
            if (*dst) {
                explicit_bzero(*dst, strlen(*dst));
                free(*dst);
            }
            *dst = secret;
        }
        return rc;
    }
    char *text;
    rc = fr__cfg_expand(ld, node, path, fr__cfg_text(node), &text);
    if (rc)
        return rc;
    if (k->type == K_JSON) {
        json_t *v;
        rc = fr__cfg_scalar_json(ld, node, path, text, &v);
        free(text);
        if (rc == 0) {
            json_decref(*(json_t **)field);
            *(json_t **)field = v;
        }
        return rc;
    }
    return convert(ld, k, node, path, text, field);
}

/* Sets the defaults a table declares (nested tables included) on base. */
static void apply_defaults(const struct key_table *tab, void *base)
{
    struct fr_err err = {0};
    loader ld = {.name = "(built-in default)", .err = &err};
    for (size_t i = 0; i < tab->nkeys; i++) {
        const struct key_spec *k = &tab->keys[i];
        void *field = (char *)base + k->offset;
        if (k->type == K_MAP)
            apply_defaults(k->sub, field);
        else if (k->def && convert(&ld, k, NULL, k->name, fr_strdup(k->def), field) != 0)
            fr_die(__FILE__, __LINE__, err.msg);
    }
}

static const struct key_spec *find_key(const struct key_table *tab, const char *name, size_t *idx)
{
    for (size_t i = 0; i < tab->nkeys; i++) {
        if (strcmp(tab->keys[i].name, name) == 0) {
            *idx = i;
            return &tab->keys[i];
        }
    }
    return NULL;
}

static int unknown_key(loader *ld, yaml_node_t *key, const char *path, const struct key_table *tab)
{
    const char *names[TABLE_MAX];
    for (size_t i = 0; i < tab->nkeys; i++)
        names[i] = tab->keys[i].name;
    const char *near = fr__cfg_suggest(fr__cfg_text(key), names, tab->nkeys);
    char *where = *path ? fr_asprintf("under %s", path) : fr_strdup("at the top level");
    int rc = near ? fr__cfg_fail(ld, key, NULL, "unknown key \"%s\" %s (did you mean \"%s\"?)",
                                 fr__cfg_text(key), where, near)
                  : fr__cfg_fail(ld, key, NULL, "unknown key \"%s\" %s", fr__cfg_text(key), where);
    free(where);
    return rc;
}

/* The names of the variants in mask, quoted, for "it belongs to ...". */
static char *variant_list(const struct key_spec *selector, unsigned mask)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    for (int i = 0; selector->names[i]; i++)
        if (mask & (1u << i))
            fr_buf_addf(&b, "%s\"%s\"", b.len ? " or " : "", selector->names[i]);
    return fr_buf_detach(&b, NULL);
}

/* Keys must be plain scalars and appear once. */
static int check_keys(loader *ld, yaml_node_t *node, const char *path)
{
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *key = node_at(ld, p->key);
        if (key->type != YAML_SCALAR_NODE)
            return fr__cfg_fail(ld, key, path, "a key must be a plain name, found %s",
                                node_kind(key));
        for (yaml_node_pair_t *q = start; q < p; q++) {
            yaml_node_t *prev = node_at(ld, q->key);
            if (strcmp(fr__cfg_text(prev), fr__cfg_text(key)) == 0)
                return fr__cfg_fail(ld, key, NULL,
                                    "duplicate key \"%s\" %s%s (first at line %zu:%zu)",
                                    fr__cfg_text(key), *path ? "under " : "at the top level", path,
                                    prev->start_mark.line + 1, prev->start_mark.column + 1);
        }
    }
    return 0;
}

static int parse_mapping(loader *ld, yaml_node_t *node, const char *path,
                         const struct key_table *tab, void *base)
{
    FR_ASSERT(tab->nkeys <= TABLE_MAX);
    int rc = expect(ld, node, path, YAML_MAPPING_NODE);
    if (rc || (rc = check_keys(ld, node, path)))
        return rc;
    yaml_node_t *found[TABLE_MAX] = {0};
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;

    /* The variant selector first: it decides which other keys belong. */
    unsigned variant = 1;
    const struct key_spec *selector = NULL;
    size_t sel_idx = 0;
    if (tab->variant_key) {
        selector = find_key(tab, tab->variant_key, &sel_idx);
        FR_ASSERT(selector && selector->type == K_ENUM);
        for (yaml_node_pair_t *p = start; p < top; p++) {
            if (strcmp(fr__cfg_text(node_at(ld, p->key)), tab->variant_key) != 0)
                continue;
            char *cp = child_path(path, selector->name);
            found[sel_idx] = node_at(ld, p->value);
            rc = parse_value(ld, selector, found[sel_idx], cp, base);
            free(cp);
            if (rc)
                return rc;
        }
        if (!found[sel_idx])
            return fr__cfg_fail(ld, node, path, "missing required key \"%s\" (%s)", selector->name,
                                selector->help);
        variant = 1u << *(int *)((char *)base + selector->offset);
    }

    for (yaml_node_pair_t *p = start; p < top && !rc; p++) {
        yaml_node_t *key = node_at(ld, p->key);
        size_t idx;
        const struct key_spec *k = find_key(tab, fr__cfg_text(key), &idx);
        if (!k)
            return unknown_key(ld, key, path, tab);
        if (k == selector)
            continue;
        if (k->only && !(k->only & variant)) {
            char *owners = variant_list(selector, k->only);
            rc = fr__cfg_fail(ld, key, path,
                              "key \"%s\" does not apply to %s \"%s\" (it belongs "
                              "to %s)",
                              k->name, tab->variant_what,
                              selector->names[*(int *)((char *)base + selector->offset)], owners);
            free(owners);
            return rc;
        }
        char *cp = child_path(path, k->name);
        found[idx] = node_at(ld, p->value);
        rc = parse_value(ld, k, found[idx], cp, base);
        free(cp);
    }
    for (size_t i = 0; i < tab->nkeys && !rc; i++) {
        const struct key_spec *k = &tab->keys[i];
        if (!found[i] && (k->required & variant))
            rc = fr__cfg_fail(ld, node, path, "missing required key \"%s\" (%s)", k->name, k->help);
    }
    if (!rc && tab->check)
        rc = tab->check(ld, node, path, base, found);
    return rc;
}

/* found[] entry of the key named name. */
static yaml_node_t *found_node(const struct key_table *tab, yaml_node_t **found, const char *name)
{
    size_t idx;
    return find_key(tab, name, &idx) ? found[idx] : NULL;
}

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

static const struct key_spec auth_keys[] = {
    {.name = "type",
     .type = K_ENUM,
     .offset = offsetof(struct fr_auth_conf, type),
     .def = "none",
     .names = auth_types,
     .required = ALWAYS,
     .help = "none, oauth2_client_credentials, api_key or bearer"},
    {.name = "token_url",
     .type = K_URL,
     .offset = offsetof(struct fr_auth_conf, token_url),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 token endpoint"},
    {.name = "client_id",
     .type = K_STR,
     .offset = offsetof(struct fr_auth_conf, client_id),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 client id"},
    {.name = "client_secret",
     .type = K_SECRET,
     .offset = offsetof(struct fr_auth_conf, client_secret),
     .only = AUTH_OAUTH2,
     .required = AUTH_OAUTH2,
     .help = "the OAuth2 client secret, as ${ENV} or file:/path"},
    {.name = "scope",
     .type = K_STR,
     .offset = offsetof(struct fr_auth_conf, scope),
     .only = AUTH_OAUTH2,
     .help = "the OAuth2 scope to request"},
    {.name = "refresh_before",
     .type = K_DURATION,
     .offset = offsetof(struct fr_auth_conf, refresh_before_ms),
     .def = "60s",
     .min = 0,
     .max = ONE_DAY_MS,
     .only = AUTH_OAUTH2,
     .help = "refresh a token this long before it expires"},
    {.name = "header",
     .type = K_HEADER,
     .offset = offsetof(struct fr_auth_conf, header),
     .def = "X-API-Key",
     .only = AUTH_API_KEY,
     .help = "the header carrying the API key"},
    {.name = "value",
     .type = K_SECRET,
     .offset = offsetof(struct fr_auth_conf, value),
     .only = AUTH_API_KEY,
     .required = AUTH_API_KEY,
     .help = "the API key, as ${ENV} or file:/path"},
    {.name = "token",
     .type = K_SECRET,
     .offset = offsetof(struct fr_auth_conf, token),
     .only = AUTH_BEARER,
     .required = AUTH_BEARER,
     .help = "the bearer token, as ${ENV} or file:/path"},
};

static int check_auth(loader *ld, yaml_node_t *map, const char *path, void *base,
                      yaml_node_t **found);

static const struct key_table auth_table = {
    auth_keys, FR_ARRAY_LEN(auth_keys), "type", "auth type", check_auth,
};

static int check_auth(loader *ld, yaml_node_t *map, const char *path, void *base,
                      yaml_node_t **found)
{
    struct fr_auth_conf *a = base;
    if (a->type == FR_AUTH_OAUTH2_CC && strncasecmp(a->token_url, "http://", 7) == 0 &&
        !is_loopback(a->token_url)) {
        yaml_node_t *at = found_node(&auth_table, found, "token_url");
        fr__cfg_warn(ld, at,
                     "%s.token_url uses http:// to a host that is not loopback: the client "
                     "credentials would travel in clear text; use https://",
                     path);
    }
    return 0;
}

static const struct key_spec api_version_keys[] = {
    {.name = "header",
     .type = K_HEADER,
     .offset = offsetof(struct fr_target_conf, api_version_header),
     .help = "the header naming the API version"},
    {.name = "value",
     .type = K_STR,
     .offset = offsetof(struct fr_target_conf, api_version_value),
     .help = "the API version sent in header"},
    {.name = "path",
     .type = K_SEGMENT,
     .offset = offsetof(struct fr_target_conf, api_version_path),
     .help = "a path prefix such as v2"},
};

static int check_api_version(loader *ld, yaml_node_t *map, const char *path, void *base,
                             yaml_node_t **found)
{
    bool header = found[0], value = found[1], prefix = found[2];
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

static const struct key_table api_version_table = {
    api_version_keys, FR_ARRAY_LEN(api_version_keys), NULL, NULL, check_api_version,
};

static const struct key_spec retry_keys[] = {
    {.name = "max_attempts",
     .type = K_INT,
     .offset = offsetof(struct fr_retry_conf, max_attempts),
     .def = "5",
     .min = 1,
     .max = 100,
     .help = "attempts in all, the first included"},
    {.name = "base",
     .type = K_DURATION,
     .offset = offsetof(struct fr_retry_conf, base_ms),
     .def = "1s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the first backoff delay, doubled each retry"},
    {.name = "cap",
     .type = K_DURATION,
     .offset = offsetof(struct fr_retry_conf, cap_ms),
     .def = "30s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "the longest backoff delay"},
    {.name = "max_elapsed",
     .type = K_DURATION,
     .offset = offsetof(struct fr_retry_conf, max_elapsed_ms),
     .def = "10m",
     .min = 1,
     .max = 7 * ONE_DAY_MS,
     .help = "give up on a request after this long"},
    {.name = "budget",
     .type = K_PERCENT,
     .offset = offsetof(struct fr_retry_conf, budget),
     .def = "20%",
     .help = "retries as a share of the last minute's requests"},
};

static int check_retry(loader *ld, yaml_node_t *map, const char *path, void *base,
                       yaml_node_t **found)
{
    struct fr_retry_conf *r = base;
    char b1[32], b2[32];
    if (r->base_ms > r->cap_ms)
        return fr__cfg_fail(ld, found[1] ? found[1] : map, path,
                            "base (%s) must not be greater than cap (%s)",
                            fr__cfg_fmt_duration(r->base_ms, b1, sizeof(b1)),
                            fr__cfg_fmt_duration(r->cap_ms, b2, sizeof(b2)));
    return 0;
}

static const struct key_table retry_table = {
    retry_keys, FR_ARRAY_LEN(retry_keys), NULL, NULL, check_retry,
};

static const struct key_spec timeout_keys[] = {
    {.name = "connect",
     .type = K_DURATION,
     .offset = offsetof(struct fr_target_conf, connect_timeout_ms),
     .def = "5s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "time allowed to open a connection"},
    {.name = "total",
     .type = K_DURATION,
     .offset = offsetof(struct fr_target_conf, total_timeout_ms),
     .def = "30s",
     .min = 1,
     .max = ONE_DAY_MS,
     .help = "time allowed for a whole request"},
};

static const struct key_table timeout_table = {timeout_keys, FR_ARRAY_LEN(timeout_keys), NULL, NULL,
                                               NULL};

static const struct key_spec probe_keys[] = {
    {.name = "method",
     .type = K_METHOD,
     .offset = offsetof(struct fr_target_conf, probe_method),
     .def = "GET",
     .names = http_methods,
     .help = "the HTTP method of the probe"},
    {.name = "path",
     .type = K_PATH,
     .offset = offsetof(struct fr_target_conf, probe_path),
     .def = "/",
     .help = "the path probed, relative to base_url"},
};

static const struct key_table probe_table = {probe_keys, FR_ARRAY_LEN(probe_keys), NULL, NULL,
                                             NULL};

static const struct key_spec body_rule_keys[] = {
    {.name = "path",
     .type = K_POINTER,
     .offset = offsetof(struct fr_body_rule, path),
     .required = ALWAYS,
     .help = "a JSON pointer into the response body, e.g. /success"},
    {.name = "equals",
     .type = K_JSON,
     .offset = offsetof(struct fr_body_rule, equals),
     .required = ALWAYS,
     .help = "the value at path that means failure, e.g. false"},
    {.name = "message",
     .type = K_POINTER,
     .offset = offsetof(struct fr_body_rule, message),
     .help = "a JSON pointer to the error text"},
    {.name = "retry",
     .type = K_BOOL,
     .offset = offsetof(struct fr_body_rule, retry),
     .def = "true",
     .help = "retry such a response like a 5xx"},
};

static const struct key_table body_rule_table = {body_rule_keys, FR_ARRAY_LEN(body_rule_keys), NULL,
                                                 NULL, NULL};

static int parse_body_rules(loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_target_conf *t =
        (struct fr_target_conf *)((char *)field - offsetof(struct fr_target_conf, body_errors));
    int rc = expect(ld, node, path, YAML_SEQUENCE_NODE);
    if (rc)
        return rc;
    yaml_node_item_t *start = node->data.sequence.items.start;
    yaml_node_item_t *top = node->data.sequence.items.top;
    t->body_errors = fr_calloc((size_t)(top - start), sizeof(*t->body_errors));
    for (yaml_node_item_t *it = start; it < top && !rc; it++) {
        struct fr_body_rule *r = &t->body_errors[t->nbody_errors++];
        apply_defaults(&body_rule_table, r);
        char *cp = fr_asprintf("%s[%zu]", path, (size_t)(it - start));
        rc = parse_mapping(ld, node_at(ld, *it), cp, &body_rule_table, r);
        free(cp);
    }
    return rc;
}

static const struct key_spec target_keys[] = {
    {.name = "base_url",
     .type = K_URL,
     .offset = offsetof(struct fr_target_conf, base_url),
     .required = ALWAYS,
     .help = "the API's root URL, http:// or https://"},
    {.name = "api_version",
     .type = K_MAP,
     .offset = 0,
     .sub = &api_version_table,
     .help = "{ header, value } or { path }"},
    {.name = "auth",
     .type = K_MAP,
     .offset = offsetof(struct fr_target_conf, auth),
     .sub = &auth_table,
     .help = "how requests authenticate"},
    {.name = "rate_limit",
     .type = K_RATE,
     .offset = offsetof(struct fr_target_conf, rate_limit),
     .help = "COUNT/UNIT such as 600/min, or adaptive"},
    {.name = "retry",
     .type = K_MAP,
     .offset = offsetof(struct fr_target_conf, retry),
     .sub = &retry_table,
     .help = "backoff and retry limits"},
    {.name = "timeout",
     .type = K_MAP,
     .offset = 0,
     .sub = &timeout_table,
     .help = "{ connect, total }"},
    {.name = "max_in_flight",
     .type = K_INT,
     .offset = offsetof(struct fr_target_conf, max_in_flight),
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "concurrent requests to this target"},
    {.name = "probe",
     .type = K_MAP,
     .offset = 0,
     .sub = &probe_table,
     .help = "the request ferry check sends"},
    {.name = "insecure_skip_verify",
     .type = K_BOOL,
     .offset = offsetof(struct fr_target_conf, insecure_skip_verify),
     .def = "false",
     .help = "turn TLS certificate verification off (testing only)"},
    {.name = "body_errors",
     .type = K_CUSTOM,
     .offset = offsetof(struct fr_target_conf, body_errors),
     .custom = parse_body_rules,
     .help = "rules that turn a 2xx body into a failure"},
};

static int check_target(loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found);

static const struct key_table target_table = {target_keys, FR_ARRAY_LEN(target_keys), NULL, NULL,
                                              check_target};

static int check_target(loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    struct fr_target_conf *t = base;
    if (t->insecure_skip_verify)
        fr__cfg_warn(ld, found_node(&target_table, found, "insecure_skip_verify"),
                     "TLS certificate verification is OFF for target %s "
                     "(insecure_skip_verify: true); anyone on the path can read and alter its "
                     "traffic; use only for testing",
                     t->name);
    return 0;
}

static bool target_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

static int parse_targets(loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    int rc = expect(ld, node, path, YAML_MAPPING_NODE);
    if (rc || (rc = check_keys(ld, node, path)))
        return rc;
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;
    cfg->targets = fr_calloc((size_t)(top - start), sizeof(*cfg->targets));
    for (yaml_node_pair_t *p = start; p < top && !rc; p++) {
        yaml_node_t *key = node_at(ld, p->key);
        const char *name = fr__cfg_text(key);
        if (!target_name_ok(name))
            return fr__cfg_fail(ld, key, path,
                                "invalid target name \"%s\" (letters, digits, _ and -)", name);
        struct fr_target_conf *t = &cfg->targets[cfg->ntargets++];
        fr_target_conf_defaults(t);
        t->name = fr_strdup(name);
        t->line = (int)key->start_mark.line + 1;
        t->col = (int)key->start_mark.column + 1;
        char *cp = child_path(path, name);
        rc = parse_mapping(ld, node_at(ld, p->value), cp, &target_table, t);
        free(cp);
    }
    return rc;
}

/* Later sections (jobs, webhooks, alerts) are new rows here. */
static const struct key_spec top_keys[] = {
    {.name = "store",
     .type = K_STR,
     .offset = offsetof(struct fr_config, store),
     .def = "sqlite:ferry.db",
     .help = "where runs and the journal are kept"},
    {.name = "targets",
     .type = K_CUSTOM,
     .offset = 0,
     .custom = parse_targets,
     .help = "named API connections"},
};

static const struct key_table top_table = {top_keys, FR_ARRAY_LEN(top_keys), NULL, NULL, NULL};

/* ---- public API -------------------------------------------------------- */

void fr_target_conf_defaults(struct fr_target_conf *t)
{
    memset(t, 0, sizeof(*t));
    apply_defaults(&target_table, t);
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
    for (size_t i = 0; i < t->nbody_errors; i++) {
        free(t->body_errors[i].path);
        json_decref(t->body_errors[i].equals);
        free(t->body_errors[i].message);
    }
    free(t->body_errors);
    memset(t, 0, sizeof(*t));
}

void fr_config_free(struct fr_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->ntargets; i++)
        fr_target_conf_release(&cfg->targets[i]);
    free(cfg->targets);
    for (size_t i = 0; i < cfg->nwarnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
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

/* Parses the (single) document of the input into doc. */
static int load_document(const char *yaml, size_t len, const char *name, yaml_document_t *doc,
                         struct fr_err *err)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    int rc = 0;
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
    apply_defaults(&top_table, cfg);
    loader ld = {.doc = &doc, .name = name, .dir = cfg->dir, .cfg = cfg, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = parse_mapping(&ld, root, "", &top_table, cfg);
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
