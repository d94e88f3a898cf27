#include "core/common.h"
#include "job/job_conf.h"

#include <ctype.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_table.h"
#include "job/job_conf_int.h"

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_paging_type) == sizeof(int), "enum fr_paging_type is not an int");
_Static_assert(sizeof(enum fr_sink_type) == sizeof(int), "enum fr_sink_type is not an int");

_Static_assert(offsetof(struct fr_paging_conf, nallow_hosts) ==
                   offsetof(struct fr_paging_conf, allow_hosts) + sizeof(char **),
               "allow_hosts and nallow_hosts are not adjacent");
_Static_assert(offsetof(struct fr_sink_conf, ncolumns) ==
                   offsetof(struct fr_sink_conf, columns) + sizeof(char **),
               "columns and ncolumns are not adjacent");

/* The placeholder a pull request parameter may contain. */
#define WATERMARK_PLACEHOLDER "{{watermark}}"

static const char *const paging_types[] = {
    [FR_PAGING_ODATA] = "odata",
    [FR_PAGING_LINK] = "link",
    [FR_PAGING_CURSOR] = "cursor",
    [FR_PAGING_NONE] = "none",
    NULL,
};

static const char *const sink_types[] = {
    [FR_SINK_JSONL] = "jsonl",
    [FR_SINK_CSV] = "csv",
    [FR_SINK_SQLITE] = "sqlite",
    NULL,
};

/* ---- pull jobs ----------------------------------------------------------- */

#define PAGING_CURSOR (1u << FR_PAGING_CURSOR)
#define PAGING_LINKS  ((1u << FR_PAGING_ODATA) | (1u << FR_PAGING_LINK))
#define SINK_CSV      (1u << FR_SINK_CSV)
#define SINK_SQLITE   (1u << FR_SINK_SQLITE)

/* request.params: a mapping of query parameter -> scalar, kept in file order. */
static int parse_params(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_pull_request_conf *r = field;
    int rc = fr__cfg_expect(ld, node, path, YAML_MAPPING_NODE);
    if (rc || (rc = fr__cfg_check_keys(ld, node, path)))
        return rc;
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;
    r->params = fr_calloc((size_t)(top - start) + 1, sizeof(*r->params));
    for (yaml_node_pair_t *p = start; p < top; p++) {
        yaml_node_t *key = fr__cfg_node(ld, p->key);
        yaml_node_t *value = fr__cfg_node(ld, p->value);
        const char *name = fr__cfg_text(key);
        if (!*name)
            return fr__cfg_fail(ld, key, path, "a query parameter needs a name");
        char *cp = fr__cfg_child_path(path, name);
        char *text = NULL;
        rc = fr__cfg_expect(ld, value, cp, YAML_SCALAR_NODE);
        if (!rc)
            rc = fr__cfg_expand(ld, value, cp, fr__cfg_text(value), &text);
        free(cp);
        if (rc)
            return rc;
        struct fr_query_param *q = &r->params[r->nparams++];
        q->name = fr_strdup(name);
        q->value = text;
    }
    return 0;
}

static const struct fr__cfg_key pull_request_keys[] = {
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_pull_request_conf, path),
     .required = ALWAYS,
     .help = "the path of the first page, relative to the target's base_url"},
    {.name = "params",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_params,
     .help = "query parameters of the first page; {{watermark}} is replaced by the watermark"},
};

const struct fr__cfg_table fr__job_pull_request_table = {
    pull_request_keys, FR_ARRAY_LEN(pull_request_keys), NULL, NULL, NULL};

static int parse_allow_hosts(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             void *field)
{
    return fr__cfg_parse_strings(ld, node, path, field, "a host name such as api.example.com",
                                 false);
}

static const struct fr__cfg_key paging_keys[] = {
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_paging_conf, type),
     .names = paging_types,
     .required = ALWAYS,
     .help = "odata, link, cursor or none"},
    {.name = "path",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_paging_conf, cursor_path),
     .only = PAGING_CURSOR,
     .required = PAGING_CURSOR,
     .help = "a JSON pointer to the next cursor in a page, e.g. /next_cursor"},
    {.name = "param",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_paging_conf, cursor_param),
     .only = PAGING_CURSOR,
     .required = PAGING_CURSOR,
     .help = "the query parameter that sends the cursor back, e.g. cursor"},
    {.name = "allow_hosts",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_paging_conf, allow_hosts),
     .custom = parse_allow_hosts,
     .only = PAGING_LINKS,
     .help = "other hosts next links may point to (the token is sent there too)"},
    {.name = "max_pages",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_paging_conf, max_pages),
     .def = "1000000",
     .min = 1,
     .max = INT64_MAX,
     .help = "the most pages one run fetches before it stops with an error"},
};

const struct fr__cfg_table fr__job_paging_table = {
    paging_keys, FR_ARRAY_LEN(paging_keys), "type", "paging type", NULL,
};

/* paging: a type name (odata, link, none), or a mapping of fr__job_paging_table. */
int fr__job_parse_paging(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_paging_conf *pg = field;
    if (node->type != YAML_SCALAR_NODE)
        return fr__cfg_parse_mapping(ld, node, path, &fr__job_paging_table, pg);
    const char *s = fr__cfg_text(node);
    for (int i = 0; paging_types[i]; i++) {
        if (strcmp(s, paging_types[i]) != 0)
            continue;
        if (i == FR_PAGING_CURSOR)
            return fr__cfg_fail(ld, node, path,
                                "cursor paging needs to know where the cursor is and how to send "
                                "it back: write { type: cursor, path: /next_cursor, param: "
                                "cursor }");
        pg->type = (enum fr_paging_type)i;
        return 0;
    }
    char *known = fr__cfg_quoted_list(paging_types, FR_ARRAY_LEN(paging_types) - 1);
    const char *near = fr__cfg_suggest(s, paging_types, FR_ARRAY_LEN(paging_types) - 1);
    int rc =
        near ? fr__cfg_fail(ld, node, path, "invalid paging \"%s\" (did you mean \"%s\"?)", s, near)
             : fr__cfg_fail(ld, node, path, "invalid paging \"%s\" (use one of %s)", s, known);
    free(known);
    return rc;
}

static int check_watermark(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                           void *base, yaml_node_t **found);

static const struct fr__cfg_key watermark_keys[] = {
    {.name = "field",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_watermark_conf, field),
     .required = ALWAYS,
     .help = "the record field whose largest value is kept, e.g. lastModified"},
    {.name = "initial",
     .type = FR__CFG_JSON,
     .offset = offsetof(struct fr_watermark_conf, initial),
     .required = ALWAYS,
     .help = "the watermark before the first run, e.g. \"1970-01-01T00:00:00Z\""},
};

static const struct fr__cfg_table watermark_table = {
    watermark_keys, FR_ARRAY_LEN(watermark_keys), NULL, NULL, check_watermark,
};

static int check_watermark(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                           void *base, yaml_node_t **found)
{
    struct fr_watermark_conf *w = base;
    if (json_is_string(w->initial) || json_is_number(w->initial))
        return 0;
    char *cp = fr__cfg_child_path(path, "initial");
    int rc = fr__cfg_fail(ld, fr__cfg_found(&watermark_table, found, "initial"), cp,
                          "the initial watermark must be a string or a number (e.g. "
                          "\"1970-01-01T00:00:00Z\" or 0)");
    free(cp);
    return rc;
}

int fr__job_parse_watermark(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                            void *field)
{
    struct fr_watermark_conf *w = field;
    w->configured = true;
    return fr__cfg_parse_mapping(ld, node, path, &watermark_table, w);
}

static int parse_columns(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    return fr__cfg_parse_strings(ld, node, path, field, "a record field such as participantId",
                                 false);
}

static bool identifier_ok(const char *s)
{
    if (!*s || (!isalpha((unsigned char)*s) && *s != '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static int check_pull_sink(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                           void *base, yaml_node_t **found);

static const struct fr__cfg_key pull_sink_keys[] = {
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_sink_conf, type),
     .names = sink_types,
     .required = ALWAYS,
     .help = "jsonl, csv or sqlite"},
    {.name = "path",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_sink_conf, path),
     .required = ALWAYS,
     .help = "the file written, relative to the config file's directory"},
    {.name = "columns",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_sink_conf, columns),
     .custom = parse_columns,
     .only = SINK_CSV | SINK_SQLITE,
     .required = SINK_CSV,
     .help = "the record fields written, in order (names, or JSON pointers such as /address/city)"},
    {.name = "table",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_sink_conf, table),
     .only = SINK_SQLITE,
     .required = SINK_SQLITE,
     .help = "the table records are upserted into by the job's key"},
};

const struct fr__cfg_table fr__job_pull_sink_table = {
    pull_sink_keys, FR_ARRAY_LEN(pull_sink_keys), "type", "sink type", check_pull_sink,
};

char *fr__job_resolve_path(struct fr__cfg_loader *ld, char *p)
{
    if (p[0] == '/')
        return p;
    char *joined = fr_asprintf("%s/%s", ld->dir, p);
    free(p);
    return joined;
}

static int check_pull_sink(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                           void *base, yaml_node_t **found)
{
    struct fr_sink_conf *k = base;
    k->path = fr__job_resolve_path(ld, k->path);
    k->path_pos = fr__cfg_pos(fr__cfg_found(&fr__job_pull_sink_table, found, "path"));
    if (k->table && !identifier_ok(k->table)) {
        char *cp = fr__cfg_child_path(path, "table");
        int rc = fr__cfg_fail(ld, fr__cfg_found(&fr__job_pull_sink_table, found, "table"), cp,
                              "invalid table name \"%s\" (letters, digits and _, not starting "
                              "with a digit)",
                              k->table);
        free(cp);
        return rc;
    }
    for (size_t i = 0; k->type == FR_SINK_SQLITE && i < k->ncolumns; i++) {
        if (identifier_ok(k->columns[i]) && strcmp(k->columns[i], "key") != 0 &&
            strcmp(k->columns[i], "record") != 0)
            continue;
        char *cp = fr_asprintf("%s.columns[%zu]", path, i);
        int rc = fr__cfg_fail(ld, fr__cfg_found(&fr__job_pull_sink_table, found, "columns"), cp,
                              "invalid column \"%s\" for a sqlite sink (a top-level field name: "
                              "letters, digits and _; not \"key\" or \"record\", which the sink "
                              "writes itself)",
                              k->columns[i]);
        free(cp);
        return rc;
    }
    return 0;
}

/* request: a push job's batches or a pull job's first page; kind is parsed first. */
static bool has_param(const struct fr_pull_request_conf *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return true;
    const char *q = strchr(r->path, '?');
    size_t n = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, n) == 0 && (q[n] == '=' || q[n] == '&' || !q[n]))
            return true;
        q = strchr(q, '&');
    }
    return false;
}

/* Cross-checks of a pull job; found as for a table check. */
int fr__job_check_pull(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                       struct fr_job_conf *j, yaml_node_t **found)
{
    struct fr_pull_conf *pl = &j->pull;
    yaml_node_t *request = fr__cfg_found(&fr__job_job_table, found, "request");
    yaml_node_t *params = fr__cfg_member(ld, request, "params");
    char *cp = NULL;
    int rc = 0;
    if (pl->schema)
        pl->schema = fr__job_resolve_path(ld, pl->schema);
    if (pl->rejects)
        pl->rejects = fr__job_resolve_path(ld, pl->rejects);
    pl->schema_pos = fr__cfg_pos(fr__cfg_found(&fr__job_job_table, found, "schema"));
    pl->rejects_pos = fr__cfg_pos(fr__cfg_found(&fr__job_job_table, found, "rejects"));
    bool uses_watermark = false;
    for (size_t i = 0; i < pl->request.nparams; i++)
        uses_watermark =
            uses_watermark || strstr(pl->request.params[i].value, WATERMARK_PLACEHOLDER);
    if (pl->sink.type == FR_SINK_SQLITE && !j->key) {
        cp = fr__cfg_child_path(path, "key");
        rc = fr__cfg_fail(ld, map, cp,
                          "a sqlite sink upserts by key: name the record field that identifies a "
                          "record, e.g. key: participantId");
    } else if (pl->rejects && strcmp(pl->rejects, pl->sink.path) == 0) {
        cp = fr__cfg_child_path(path, "rejects");
        rc = fr__cfg_fail(ld, fr__cfg_found(&fr__job_job_table, found, "rejects"), cp,
                          "the rejects file is the sink's own file; give it another path");
    } else if (uses_watermark && !pl->watermark.configured) {
        cp = fr__cfg_child_path(path, "request.params");
        rc = fr__cfg_fail(ld, params ? params : map, cp,
                          "a parameter uses " WATERMARK_PLACEHOLDER " but the job has no "
                          "watermark (add watermark: { field: ..., initial: ... })");
    } else if (pl->paging.type == FR_PAGING_CURSOR &&
               has_param(&pl->request, pl->paging.cursor_param)) {
        cp = fr__cfg_child_path(path, "paging.param");
        rc = fr__cfg_fail(ld, params ? params : map, cp,
                          "\"%s\" is also in request.params; ferry sets the cursor parameter "
                          "itself on every page after the first",
                          pl->paging.cursor_param);
    }
    free(cp);
    if (rc)
        return rc;
    if (pl->watermark.configured && !uses_watermark)
        fr__cfg_warn(
            ld, fr__cfg_found(&fr__job_job_table, found, "watermark"),
            "jobs.%s: the watermark is kept but no request parameter uses " WATERMARK_PLACEHOLDER
            ", so every run fetches everything",
            j->name);
    if (pl->paging.type == FR_PAGING_ODATA && !has_param(&pl->request, "$orderby"))
        fr__cfg_warn(ld, request ? request : map,
                     "jobs.%s: OData paging without $orderby: pages can shift between requests, "
                     "so records may be skipped or repeated; add request.params.$orderby (e.g. "
                     "the key)",
                     j->name);
    return 0;
}
