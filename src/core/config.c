#include "core/common.h"
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "core/buf.h"
#include "core/config_table.h"

/* A config file larger than this is a mistake (a log file passed with -c). */
#define CONFIG_FILE_MAX (4 * 1024 * 1024)

/* ---- shared by the sections ------------------------------------------- */

const char *const fr__cfg_http_methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                            "PATCH", "DELETE", "OPTIONS", NULL};

bool fr__cfg_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

char *fr__cfg_quoted_list(const char *const *names, size_t n)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    for (size_t i = 0; i < n; i++)
        fr_buf_addf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
    return fr_buf_detach(&b, NULL);
}

yaml_node_t *fr__cfg_member(struct fr__cfg_loader *ld, yaml_node_t *node, const char *name)
{
    if (!node || node->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++)
        if (strcmp(fr__cfg_text(fr__cfg_node(ld, p->key)), name) == 0)
            return fr__cfg_node(ld, p->value);
    return NULL;
}

/* ---- the file ---------------------------------------------------------- */

void fr_config_free(struct fr_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; cfg->sections && cfg->sections[i]; i++)
        if (cfg->sections[i]->release)
            cfg->sections[i]->release(cfg);
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

/* Every section's finish, in list order; found[i] is section i's value node or NULL. */
static int check_top(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found)
{
    (void)map;
    (void)path;
    (void)base;
    const struct fr_config_section *const *s = ld->cfg->sections;
    for (size_t i = 0; s[i]; i++) {
        int rc = s[i]->finish ? s[i]->finish(ld, found[i]) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

int fr_config_load_string(const char *yaml, size_t len, const char *name,
                          const struct fr_config_section *const *sections, struct fr_config **out,
                          struct fr_err *err)
{
    *out = NULL;
    struct fr__cfg_key keys[FR__CFG_TABLE_MAX];
    size_t n = 0;
    for (; sections[n]; n++) {
        FR_ASSERT(n < FR__CFG_TABLE_MAX);
        keys[n] = sections[n]->key;
    }
    const struct fr__cfg_table top = {keys, n, NULL, NULL, check_top};
    yaml_document_t doc;
    int rc = load_document(yaml, len, name, &doc, err);
    if (rc)
        return rc;
    struct fr_config *cfg = fr_calloc(1, sizeof(*cfg));
    cfg->path = fr_strdup(name);
    cfg->dir = dir_of(name);
    cfg->sections = sections;
    fr__cfg_apply_defaults(&top, cfg);
    for (size_t i = 0; i < n; i++)
        if (sections[i]->defaults)
            sections[i]->defaults(cfg);
    struct fr__cfg_loader ld = {.doc = &doc, .name = name, .dir = cfg->dir, .cfg = cfg, .err = err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        rc = fr__cfg_parse_mapping(&ld, root, "", &top, cfg);
    } else {
        yaml_node_t *none[FR__CFG_TABLE_MAX] = {0};
        rc = check_top(&ld, NULL, "", cfg, none);
    }
    fr__cfg_loader_release(&ld);
    yaml_document_delete(&doc);
    if (rc) {
        fr_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int fr_config_load(const char *path, const struct fr_config_section *const *sections,
                   struct fr_config **out, struct fr_err *err)
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
        rc = fr_config_load_string(fr_buf_str(&b), b.len, path, sections, out, err);
    fr_buf_release(&b);
    return rc;
}
