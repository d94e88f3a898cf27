#include "core/common.h"
#include "core/config.h"

#include <ctype.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_int.h"
#include "core/redact.h"

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_source_type) == sizeof(int), "enum fr_source_type is not an int");
_Static_assert(sizeof(enum fr_field_type) == sizeof(int), "enum fr_field_type is not an int");
_Static_assert(sizeof(enum fr_alert_type) == sizeof(int), "enum fr_alert_type is not an int");
_Static_assert(sizeof(enum fr_job_kind) == sizeof(int), "enum fr_job_kind is not an int");
_Static_assert(sizeof(enum fr_paging_type) == sizeof(int), "enum fr_paging_type is not an int");
_Static_assert(sizeof(enum fr_sink_type) == sizeof(int), "enum fr_sink_type is not an int");

/* The placeholder a lookup or rollback path must contain. */
#define KEY_PLACEHOLDER "{{key}}"

static const char *const http_methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                           "PATCH", "DELETE", "OPTIONS", NULL};

static const char *const job_kinds[] = {[FR_JOB_PUSH] = "push", [FR_JOB_PULL] = "pull", NULL};

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

static const char *const source_types[] = {
    [FR_SOURCE_CSV] = "csv",
    [FR_SOURCE_JSONL] = "jsonl",
    [FR_SOURCE_SQLITE] = "sqlite",
    NULL,
};

static const char *const field_types[] = {
    [FR_FIELD_STRING] = "string",   [FR_FIELD_NUMBER] = "number", [FR_FIELD_INTEGER] = "integer",
    [FR_FIELD_BOOLEAN] = "boolean", [FR_FIELD_DATE] = "date",     NULL,
};

static const char *const alert_types[] = {
    [FR_ALERT_WEBHOOK] = "webhook",
    [FR_ALERT_EXEC] = "exec",
    NULL,
};

/* "\"a\", \"b\"": the quoted names, for messages. The caller frees. */
static char *quoted_list(const char *const *names, size_t n)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    for (size_t i = 0; i < n; i++)
        fr_buf_addf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
    return fr_buf_detach(&b, NULL);
}

/* ---- lists of strings ---------------------------------------------------- */

/* results.created and friends: a char ** followed by its size_t count (struct fr__cfg_strings). */
_Static_assert(offsetof(struct fr_results_conf, ncreated) ==
                   offsetof(struct fr_results_conf, created) + sizeof(char **),
               "created and ncreated are not adjacent");
_Static_assert(offsetof(struct fr_results_conf, nduplicate) ==
                   offsetof(struct fr_results_conf, duplicate) + sizeof(char **),
               "duplicate and nduplicate are not adjacent");
_Static_assert(offsetof(struct fr_results_conf, nretry) ==
                   offsetof(struct fr_results_conf, retry) + sizeof(char **),
               "retry and nretry are not adjacent");
_Static_assert(offsetof(struct fr_paging_conf, nallow_hosts) ==
                   offsetof(struct fr_paging_conf, allow_hosts) + sizeof(char **),
               "allow_hosts and nallow_hosts are not adjacent");
_Static_assert(offsetof(struct fr_sink_conf, ncolumns) ==
                   offsetof(struct fr_sink_conf, columns) + sizeof(char **),
               "columns and ncolumns are not adjacent");

static int parse_string_list(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                             void *field)
{
    return fr__cfg_parse_strings(ld, node, path, field, "a status such as CREATED", true);
}

/* ---- source -------------------------------------------------------------- */

#define SOURCE_SQLITE (1u << FR_SOURCE_SQLITE)

static const struct fr__cfg_key source_keys[] = {
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_source_conf, type),
     .names = source_types,
     .required = ALWAYS,
     .help = "csv, jsonl or sqlite"},
    {.name = "path",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_source_conf, path),
     .required = ALWAYS,
     .help = "the file to read, relative to the config file's directory"},
    {.name = "query",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_source_conf, query),
     .only = SOURCE_SQLITE,
     .required = SOURCE_SQLITE,
     .help = "the SELECT whose columns are the record's fields"},
};

static const struct fr__cfg_table source_table;

/* A relative path is relative to the config file's directory, not the working directory. */
static int check_source(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    struct fr_source_conf *s = base;
    s->path_pos = fr__cfg_pos(fr__cfg_found(&source_table, found, "path"));
    s->query_pos = fr__cfg_pos(fr__cfg_found(&source_table, found, "query"));
    if (s->path[0] != '/') {
        char *joined = fr_asprintf("%s/%s", ld->dir, s->path);
        free(s->path);
        s->path = joined;
    }
    return 0;
}

static const struct fr__cfg_table source_table = {
    source_keys, FR_ARRAY_LEN(source_keys), "type", "source type", check_source,
};

/* ---- request ------------------------------------------------------------- */

static const struct fr__cfg_key request_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_push_request_conf, method),
     .def = "POST",
     .names = http_methods,
     .help = "the HTTP method of each batch"},
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_push_request_conf, path),
     .required = ALWAYS,
     .help = "the path batches are sent to, relative to the target's base_url"},
    {.name = "batch_size",
     .type = FR__CFG_INT,
     .offset = offsetof(struct fr_push_request_conf, batch_size),
     .def = "100",
     .min = 1,
     .max = 10000,
     .help = "records per request"},
    {.name = "envelope",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_push_request_conf, envelope),
     .def = "value",
     .help = "the member holding the batch's array"},
    {.name = "max_bytes",
     .type = FR__CFG_SIZE,
     .offset = offsetof(struct fr_push_request_conf, max_bytes),
     .def = "1MB",
     .min = 1024,
     .help = "the largest request body"},
};

static const struct fr__cfg_table request_table = {request_keys, FR_ARRAY_LEN(request_keys), NULL,
                                                   NULL, NULL};

/* ---- map ----------------------------------------------------------------- */

static const struct fr__cfg_key field_keys[] = {
    {.name = "from",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_map_field, from),
     .help = "the source column to copy"},
    {.name = "value",
     .type = FR__CFG_JSON,
     .offset = offsetof(struct fr_map_field, value),
     .help = "a literal value"},
    {.name = "type",
     .type = FR__CFG_ENUM,
     .offset = offsetof(struct fr_map_field, type),
     .def = "string",
     .names = field_types,
     .help = "string, number, integer, boolean or date"},
    {.name = "required",
     .type = FR__CFG_BOOL,
     .offset = offsetof(struct fr_map_field, required),
     .def = "false",
     .help = "reject a record whose value is empty or missing"},
};

static int check_field(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                       yaml_node_t **found);

static const struct fr__cfg_table field_table = {field_keys, FR_ARRAY_LEN(field_keys), NULL, NULL,
                                                 check_field};

static int check_field(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                       yaml_node_t **found)
{
    yaml_node_t *from = fr__cfg_found(&field_table, found, "from");
    yaml_node_t *value = fr__cfg_found(&field_table, found, "value");
    if (from && value)
        return fr__cfg_fail(ld, map, path,
                            "set either from (a source column) or value (a literal), not both");
    if (!from && !value)
        return fr__cfg_fail(ld, map, path,
                            "missing \"from\" or \"value\" (from: a source column to copy, "
                            "value: a literal)");
    static const char *const from_only[] = {"type", "required"};
    for (size_t i = 0; value && i < FR_ARRAY_LEN(from_only); i++) {
        yaml_node_t *at = fr__cfg_found(&field_table, found, from_only[i]);
        if (at)
            return fr__cfg_fail(ld, at, path,
                                "\"%s\" applies only with from; a literal value is sent "
                                "as written",
                                from_only[i]);
    }
    return 0;
}

/* A map entry: a column name (shorthand for { from: NAME }) or a mapping of field_table. */
static int parse_field(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                       struct fr_map_field *f)
{
    if (node->type != YAML_SCALAR_NODE)
        return fr__cfg_parse_mapping(ld, node, path, &field_table, f);
    char *text;
    int rc = fr__cfg_expand(ld, node, path, fr__cfg_text(node), &text);
    if (rc)
        return rc;
    if (!*text) {
        free(text);
        return fr__cfg_fail(ld, node, path,
                            "empty value (write a source column, or { value: ... } for a "
                            "literal)");
    }
    f->from = text;
    return 0;
}

static int parse_map_entry(struct fr__cfg_loader *ld, void *entry, const char *name,
                           yaml_node_t *key, yaml_node_t *value, const char *path)
{
    struct fr_map_field *f = entry;
    fr__cfg_apply_defaults(&field_table, f);
    f->name = fr_strdup(name);
    f->line = (int)key->start_mark.line + 1;
    f->col = (int)key->start_mark.column + 1;
    return parse_field(ld, value, path, f);
}

static int parse_map(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_job_conf *j = field;
    return fr__cfg_parse_entries(ld, node, path, "payload field", true,
                                 "the map is empty (name each payload field, the key included)",
                                 sizeof(*j->map), (void **)&j->map, &j->nmap, parse_map_entry);
}

/* ---- results, lookup, rollback, alert ------------------------------------ */

static const struct fr__cfg_key results_keys[] = {
    {.name = "path",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_results_conf, path),
     .def = "/results",
     .help = "a JSON pointer to the array of per-record results"},
    {.name = "key",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_results_conf, key),
     .help = "the member holding the record's key (default: the job's key)"},
    {.name = "status",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_results_conf, status),
     .def = "status",
     .help = "the member holding the record's status"},
    {.name = "message",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_results_conf, message),
     .def = "message",
     .help = "the member holding the record's message"},
    {.name = "created",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_results_conf, created),
     .custom = parse_string_list,
     .help = "statuses meaning created"},
    {.name = "duplicate",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_results_conf, duplicate),
     .custom = parse_string_list,
     .help = "statuses meaning already there"},
    {.name = "retry",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_results_conf, retry),
     .custom = parse_string_list,
     .help = "statuses worth one more pass"},
};

static const struct fr__cfg_table results_table = {results_keys, FR_ARRAY_LEN(results_keys), NULL,
                                                   NULL, NULL};

static int check_key_request(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                             void *base, yaml_node_t **found);

static const struct fr__cfg_key lookup_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_key_request_conf, method),
     .def = "GET",
     .names = http_methods,
     .help = "the HTTP method of the lookup"},
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_key_request_conf, path),
     .required = ALWAYS,
     .help = "the path asked, with {{key}} where the record's key goes"},
    {.name = "found",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_key_request_conf, found),
     .required = ALWAYS,
     .help = "a JSON pointer that exists in the answer when the key is found, e.g. /value/0"},
};

static const struct fr__cfg_table lookup_table = {lookup_keys, FR_ARRAY_LEN(lookup_keys), NULL,
                                                  NULL, check_key_request};

static const struct fr__cfg_key rollback_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_key_request_conf, method),
     .def = "DELETE",
     .names = http_methods,
     .help = "the HTTP method that undoes a record"},
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_key_request_conf, path),
     .required = ALWAYS,
     .help = "the path that undoes a record, with {{key}} where the record's key goes"},
};

static const struct fr__cfg_table rollback_table = {rollback_keys, FR_ARRAY_LEN(rollback_keys),
                                                    NULL, NULL, check_key_request};

static int check_key_request(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                             void *base, yaml_node_t **found)
{
    struct fr_key_request_conf *r = base;
    if (strstr(r->path, KEY_PLACEHOLDER))
        return 0;
    /* Both tables have "path" at index 1. */
    char *cp = fr__cfg_child_path(path, "path");
    int rc = fr__cfg_fail(ld, found[1], cp,
                          "\"%s\" does not contain " KEY_PLACEHOLDER
                          " (write where the record's key goes, e.g. /credits/" KEY_PLACEHOLDER ")",
                          r->path);
    free(cp);
    return rc;
}

/* Present means configured; the defaults were applied with the job's. */
static int parse_configured(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                            const struct fr__cfg_table *tab, void *base, bool *configured)
{
    *configured = true;
    return fr__cfg_parse_mapping(ld, node, path, tab, base);
}

static int parse_results(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_results_conf *r = field;
    return parse_configured(ld, node, path, &results_table, r, &r->configured);
}

static int parse_lookup(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_key_request_conf *r = field;
    return parse_configured(ld, node, path, &lookup_table, r, &r->configured);
}

static int parse_rollback(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field)
{
    struct fr_key_request_conf *r = field;
    return parse_configured(ld, node, path, &rollback_table, r, &r->configured);
}

static const struct fr__cfg_key alert_keys[] = {
    {.name = "max_errors",
     .type = FR__CFG_INT64,
     .offset = offsetof(struct fr_job_alert_conf, max_errors),
     .min = 0,
     .max = INT64_MAX,
     .help = "alert when a run has more failed records than this"},
    {.name = "max_error_rate",
     .type = FR__CFG_PERCENT,
     .offset = offsetof(struct fr_job_alert_conf, max_error_rate),
     .help = "alert when a run's failed share is above this"},
};

static const struct fr__cfg_table alert_table = {alert_keys, FR_ARRAY_LEN(alert_keys), NULL, NULL,
                                                 NULL};

static const struct fr__cfg_table job_table;

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

static const struct fr__cfg_table pull_request_table = {
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

static const struct fr__cfg_table paging_table = {
    paging_keys, FR_ARRAY_LEN(paging_keys), "type", "paging type", NULL,
};

/* paging: a type name (odata, link, none), or a mapping of paging_table. */
static int parse_paging(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_paging_conf *pg = field;
    if (node->type != YAML_SCALAR_NODE)
        return fr__cfg_parse_mapping(ld, node, path, &paging_table, pg);
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
    char *known = quoted_list(paging_types, FR_ARRAY_LEN(paging_types) - 1);
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

static int parse_watermark(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                           void *field)
{
    struct fr_watermark_conf *w = field;
    return parse_configured(ld, node, path, &watermark_table, w, &w->configured);
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

static const struct fr__cfg_table pull_sink_table = {
    pull_sink_keys, FR_ARRAY_LEN(pull_sink_keys), "type", "sink type", check_pull_sink,
};

static char *resolve_path(struct fr__cfg_loader *ld, char *p)
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
    k->path = resolve_path(ld, k->path);
    k->path_pos = fr__cfg_pos(fr__cfg_found(&pull_sink_table, found, "path"));
    if (k->table && !identifier_ok(k->table)) {
        char *cp = fr__cfg_child_path(path, "table");
        int rc = fr__cfg_fail(ld, fr__cfg_found(&pull_sink_table, found, "table"), cp,
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
        int rc = fr__cfg_fail(ld, fr__cfg_found(&pull_sink_table, found, "columns"), cp,
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
static int parse_request(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_job_conf *j = field;
    if (j->kind == FR_JOB_PULL)
        return fr__cfg_parse_mapping(ld, node, path, &pull_request_table, &j->pull.request);
    return fr__cfg_parse_mapping(ld, node, path, &request_table, &j->request);
}

/* The value node of key name in the mapping node, or NULL. */
static yaml_node_t *member(struct fr__cfg_loader *ld, yaml_node_t *node, const char *name)
{
    if (!node || node->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++)
        if (strcmp(fr__cfg_text(fr__cfg_node(ld, p->key)), name) == 0)
            return fr__cfg_node(ld, p->value);
    return NULL;
}

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
static int check_pull(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                      struct fr_job_conf *j, yaml_node_t **found)
{
    struct fr_pull_conf *pl = &j->pull;
    yaml_node_t *request = fr__cfg_found(&job_table, found, "request");
    yaml_node_t *params = member(ld, request, "params");
    char *cp = NULL;
    int rc = 0;
    if (pl->schema)
        pl->schema = resolve_path(ld, pl->schema);
    if (pl->rejects)
        pl->rejects = resolve_path(ld, pl->rejects);
    pl->schema_pos = fr__cfg_pos(fr__cfg_found(&job_table, found, "schema"));
    pl->rejects_pos = fr__cfg_pos(fr__cfg_found(&job_table, found, "rejects"));
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
        rc = fr__cfg_fail(ld, fr__cfg_found(&job_table, found, "rejects"), cp,
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
            ld, fr__cfg_found(&job_table, found, "watermark"),
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

/* ---- job ----------------------------------------------------------------- */

/* kind has its own message: the known kinds are listed, never guessed at. */
static int parse_kind(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    if (rc)
        return rc;
    for (size_t i = 0; job_kinds[i]; i++) {
        if (strcmp(fr__cfg_text(node), job_kinds[i]) == 0) {
            *(enum fr_job_kind *)field = (enum fr_job_kind)i;
            return 0;
        }
    }
    char *known = quoted_list(job_kinds, FR_ARRAY_LEN(job_kinds) - 1);
    rc = fr__cfg_fail(ld, node, path, "unknown job kind \"%s\" (known kinds: %s)",
                      fr__cfg_text(node), known);
    free(known);
    return rc;
}

static int parse_job_body_rules(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                                void *field)
{
    struct fr_job_conf *j = field;
    return fr__cfg_parse_body_rules(ld, node, path, &j->body_errors, &j->nbody_errors);
}

#define PUSH (1u << FR_JOB_PUSH)
#define PULL (1u << FR_JOB_PULL)

static int parse_schedule(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field)
{
    struct fr_job_conf *j = field;
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    if (rc)
        return rc;
    char why[256];
    if (fr_cron_parse(fr__cfg_text(node), &j->cron, why, sizeof(why)))
        return fr__cfg_fail(ld, node, path, "invalid schedule \"%s\": %s", fr__cfg_text(node), why);
    free(j->schedule);
    j->schedule = fr_strdup(fr__cfg_text(node));
    return 0;
}

/* The operations keys of both kinds: a zone this machine knows, paths resolved. */
static int check_ops(struct fr__cfg_loader *ld, const char *path, struct fr_job_conf *j,
                     yaml_node_t **found)
{
    if (j->metrics_file)
        j->metrics_file = resolve_path(ld, j->metrics_file);
    yaml_node_t *tz = fr__cfg_found(&job_table, found, "timezone");
    int rc = 0;
    char *cp = NULL;
    if (j->timezone && !fr_cron_tz_known(j->timezone)) {
        cp = fr__cfg_child_path(path, "timezone");
        rc = fr__cfg_fail(ld, tz, cp,
                          "unknown time zone \"%s\" (write an IANA name such as Europe/Berlin "
                          "or UTC; see /usr/share/zoneinfo)",
                          j->timezone);
    } else if (j->timezone && !j->schedule) {
        cp = fr__cfg_child_path(path, "timezone");
        rc = fr__cfg_fail(ld, tz, cp, "a timezone applies to a schedule, and this job has none");
    }
    free(cp);
    return rc;
}

static const struct fr__cfg_key job_keys[] = {
    {.name = "kind",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, kind),
     .custom = parse_kind,
     .names = job_kinds,
     .required = ALWAYS,
     .help = "what the job does: push or pull"},
    {.name = "target",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, target),
     .required = ALWAYS,
     .help = "the name of a target under targets"},
    {.name = "source",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_job_conf, source),
     .sub = &source_table,
     .only = PUSH,
     .required = PUSH,
     .help = "where records come from: { type, path[, query] }"},
    {.name = "request",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_request,
     .required = ALWAYS,
     .help = "push: how batches are sent { method, path, batch_size, envelope, max_bytes }; "
             "pull: the first page { path, params }"},
    {.name = "key",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, key),
     .required = PUSH,
     .help = "push: the payload field that is the record's idempotency key; pull: the record "
             "field that identifies a record"},
    {.name = "map",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_map,
     .only = PUSH,
     .required = PUSH,
     .help = "the payload fields, each a source column or a literal"},
    {.name = "results",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, results),
     .custom = parse_results,
     .only = PUSH,
     .help = "how to read per-record outcomes from a batch answer"},
    {.name = "body_errors",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_job_body_rules,
     .help = "rules that turn a 2xx body into a failure"},
    {.name = "lookup",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, lookup),
     .custom = parse_lookup,
     .only = PUSH,
     .help = "a request that tells whether a key already exists"},
    {.name = "rollback",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, rollback),
     .custom = parse_rollback,
     .only = PUSH,
     .help = "a request that undoes a record"},
    {.name = "alert",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_job_conf, alert),
     .sub = &alert_table,
     .help = "failure thresholds: { max_errors, max_error_rate }"},
    {.name = "paging",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, pull.paging),
     .custom = parse_paging,
     .only = PULL,
     .help = "how the next page is found: odata, link, none, or { type: cursor, path, param }"},
    {.name = "records",
     .type = FR__CFG_POINTER,
     .offset = offsetof(struct fr_job_conf, pull.records),
     .def = "/value",
     .only = PULL,
     .help = "a JSON pointer to the array of records in each page"},
    {.name = "watermark",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, pull.watermark),
     .custom = parse_watermark,
     .only = PULL,
     .help = "incremental runs: { field, initial }"},
    {.name = "schema",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, pull.schema),
     .only = PULL,
     .help = "a JSON Schema file every record is validated against"},
    {.name = "sink",
     .type = FR__CFG_MAP,
     .offset = offsetof(struct fr_job_conf, pull.sink),
     .sub = &pull_sink_table,
     .only = PULL,
     .required = PULL,
     .help = "where records are written: { type: jsonl|csv|sqlite, path[, columns][, table] }"},
    {.name = "rejects",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, pull.rejects),
     .only = PULL,
     .help = "a JSONL file for the records the schema rejects, with the reasons"},
    {.name = "max_age",
     .type = FR__CFG_DURATION,
     .offset = offsetof(struct fr_job_conf, max_age_ms),
     .min = 60000,
     .max = 366LL * 24 * 3600 * 1000,
     .help = "how old the last success may be before the job counts as stale, e.g. 26h"},
    {.name = "schedule",
     .type = FR__CFG_CUSTOM,
     .offset = 0,
     .custom = parse_schedule,
     .help = "when `ferry serve` runs the job: 5 cron fields, e.g. \"0 2 * * *\""},
    {.name = "timezone",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, timezone),
     .help = "the IANA time zone the schedule is read in, e.g. Europe/Berlin (default: local)"},
    {.name = "metrics_file",
     .type = FR__CFG_STR,
     .offset = offsetof(struct fr_job_conf, metrics_file),
     .help = "a file `ferry run` writes the run's metrics to (Prometheus text, for "
             "node_exporter's textfile collector)"},
};

static int check_job(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found);

static const struct fr__cfg_table job_table = {job_keys, FR_ARRAY_LEN(job_keys), "kind", "job kind",
                                               check_job};

static int check_job(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found)
{
    struct fr_job_conf *j = base;
    int ops = check_ops(ld, path, j, found);
    if (ops)
        return ops;
    if (j->kind == FR_JOB_PULL)
        return check_pull(ld, map, path, j, found);
    const char **names = fr_calloc(j->nmap, sizeof(*names));
    bool mapped = false;
    for (size_t i = 0; i < j->nmap; i++) {
        names[i] = j->map[i].name;
        mapped = mapped || strcmp(j->map[i].name, j->key) == 0;
    }
    int rc = 0;
    if (!mapped) {
        char *cp = fr__cfg_child_path(path, "key");
        char *list = quoted_list(names, j->nmap);
        const char *near = fr__cfg_suggest(j->key, names, j->nmap);
        rc = fr__cfg_fail(ld, fr__cfg_found(&job_table, found, "key"), cp,
                          "\"%s\" is not a field of the map (fields: %s%s%s%s)", j->key, list,
                          near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
        free(list);
        free(cp);
    }
    free(names);
    if (!rc && !j->results.key)
        j->results.key = fr_strdup(j->key);
    return rc;
}

/* Defaults, nested ones included; the strings are allocated (release frees them). */
static void job_defaults(struct fr_job_conf *j)
{
    memset(j, 0, sizeof(*j));
    fr__cfg_apply_defaults(&job_table, j);
    fr__cfg_apply_defaults(&request_table, &j->request);
    fr__cfg_apply_defaults(&paging_table, &j->pull.paging);
    fr__cfg_apply_defaults(&results_table, &j->results);
    j->results.created = fr_calloc(1, sizeof(*j->results.created));
    j->results.created[0] = fr_strdup("CREATED");
    j->results.ncreated = 1;
    j->results.duplicate = fr_calloc(1, sizeof(*j->results.duplicate));
    j->results.duplicate[0] = fr_strdup("DUPLICATE");
    j->results.nduplicate = 1;
    fr__cfg_apply_defaults(&lookup_table, &j->lookup);
    fr__cfg_apply_defaults(&rollback_table, &j->rollback);
    j->alert.max_errors = -1;
    j->alert.max_error_rate = -1.0;
}

static void job_release(struct fr_job_conf *j)
{
    free(j->name);
    free(j->target);
    free(j->source.path);
    free(j->source.query);
    free(j->request.method);
    free(j->request.path);
    free(j->request.envelope);
    free(j->key);
    for (size_t i = 0; i < j->nmap; i++) {
        free(j->map[i].name);
        free(j->map[i].from);
        json_decref(j->map[i].value);
    }
    free(j->map);
    free(j->results.path);
    free(j->results.key);
    free(j->results.status);
    free(j->results.message);
    fr__cfg_free_strings(j->results.created, j->results.ncreated);
    fr__cfg_free_strings(j->results.duplicate, j->results.nduplicate);
    fr__cfg_free_strings(j->results.retry, j->results.nretry);
    fr__cfg_free_body_rules(j->body_errors, j->nbody_errors);
    struct fr_key_request_conf *reqs[] = {&j->lookup, &j->rollback};
    for (size_t i = 0; i < FR_ARRAY_LEN(reqs); i++) {
        free(reqs[i]->method);
        free(reqs[i]->path);
        free(reqs[i]->found);
    }
    struct fr_pull_conf *pl = &j->pull;
    free(pl->request.path);
    for (size_t i = 0; i < pl->request.nparams; i++) {
        free(pl->request.params[i].name);
        free(pl->request.params[i].value);
    }
    free(pl->request.params);
    free(pl->paging.cursor_path);
    free(pl->paging.cursor_param);
    fr__cfg_free_strings(pl->paging.allow_hosts, pl->paging.nallow_hosts);
    free(pl->records);
    free(pl->watermark.field);
    json_decref(pl->watermark.initial);
    free(pl->schema);
    free(pl->sink.path);
    free(j->schedule);
    free(j->timezone);
    free(j->metrics_file);
    fr__cfg_free_strings(pl->sink.columns, pl->sink.ncolumns);
    free(pl->sink.table);
    free(pl->rejects);
    memset(j, 0, sizeof(*j));
}

static int parse_job(struct fr__cfg_loader *ld, void *entry, const char *name, yaml_node_t *key,
                     yaml_node_t *value, const char *path)
{
    struct fr_job_conf *j = entry;
    job_defaults(j);
    j->name = fr_strdup(name);
    j->line = (int)key->start_mark.line + 1;
    j->col = (int)key->start_mark.column + 1;
    return fr__cfg_parse_mapping(ld, value, path, &job_table, j);
}

int fr__cfg_parse_jobs(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    return fr__cfg_parse_entries(ld, node, path, "job", false, NULL, sizeof(*cfg->jobs),
                                 (void **)&cfg->jobs, &cfg->njobs, parse_job);
}

/*
 * A sqlite sink in the store's own file would hold a write transaction for
 * the whole run while the store writes the run's rows: refused.
 */
static int check_sink_not_store(struct fr__cfg_loader *ld, yaml_node_t *job,
                                const struct fr_job_conf *j)
{
    const char *store = ld->cfg->store;
    if (j->kind != FR_JOB_PULL || j->pull.sink.type != FR_SINK_SQLITE || !store ||
        strncmp(store, "sqlite:", 7) != 0)
        return 0;
    const char *rest = store + 7;
    char *resolved = rest[0] == '/' ? fr_strdup(rest) : fr_asprintf("%s/%s", ld->dir, rest);
    int rc = 0;
    if (strcmp(resolved, j->pull.sink.path) == 0) {
        char *cp = fr_asprintf("jobs.%s.sink.path", j->name);
        yaml_node_t *sink = member(ld, job, "sink");
        rc = fr__cfg_fail(ld, sink ? sink : job, cp,
                          "the sink is the store's own file (%s); write records to another file",
                          store);
        free(cp);
    }
    free(resolved);
    return rc;
}

int fr__cfg_check_job_targets(struct fr__cfg_loader *ld, yaml_node_t *jobs)
{
    struct fr_config *cfg = ld->cfg;
    yaml_node_pair_t *p = jobs->data.mapping.pairs.start;
    for (size_t i = 0; i < cfg->njobs; i++, p++) {
        const struct fr_job_conf *j = &cfg->jobs[i];
        int rc = check_sink_not_store(ld, fr__cfg_node(ld, p->value), j);
        if (rc)
            return rc;
        if (fr_config_find_target(cfg, j->target))
            continue;
        /* The node of the job's target value, for its line and column. */
        yaml_node_t *job = fr__cfg_node(ld, p->value);
        yaml_node_t *at = job;
        for (yaml_node_pair_t *q = job->data.mapping.pairs.start; q < job->data.mapping.pairs.top;
             q++)
            if (strcmp(fr__cfg_text(fr__cfg_node(ld, q->key)), "target") == 0)
                at = fr__cfg_node(ld, q->value);
        const char **names = fr_calloc(cfg->ntargets + 1, sizeof(*names));
        for (size_t t = 0; t < cfg->ntargets; t++)
            names[t] = cfg->targets[t].name;
        char *list = quoted_list(names, cfg->ntargets);
        const char *near = fr__cfg_suggest(j->target, names, cfg->ntargets);
        char *cp = fr_asprintf("jobs.%s.target", j->name);
        if (cfg->ntargets == 0)
            rc = fr__cfg_fail(ld, at, cp,
                              "job %s names target \"%s\", but no targets are defined (add it "
                              "under targets)",
                              j->name, j->target);
        else
            rc = fr__cfg_fail(
                ld, at, cp, "job %s names target \"%s\", which is not defined (targets: %s%s%s%s)",
                j->name, j->target, list, near ? "; did you mean \"" : "", near ? near : "",
                near ? "\"?" : "");
        free(cp);
        free(list);
        free(names);
        return rc;
    }
    return 0;
}

void fr__cfg_free_jobs(struct fr_config *cfg)
{
    for (size_t i = 0; i < cfg->njobs; i++)
        job_release(&cfg->jobs[i]);
    free(cfg->jobs);
    cfg->jobs = NULL;
    cfg->njobs = 0;
}

const struct fr_job_conf *fr_config_find_job(const struct fr_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->njobs; i++)
        if (strcmp(cfg->jobs[i].name, name) == 0)
            return &cfg->jobs[i];
    return NULL;
}

/* ---- alerts -------------------------------------------------------------- */

#define ALERT_WEBHOOK (1u << FR_ALERT_WEBHOOK)
#define ALERT_EXEC    (1u << FR_ALERT_EXEC)

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

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
        wipe_free(url);
        return fr__cfg_fail(ld, node, path,
                            "invalid URL (write http://HOST[/PATH] or https://...; the value is "
                            "not shown as it may hold a secret)");
    }
    fr_redact_add_secret(url);
    char **dst = field;
    wipe_free(*dst);
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

static int parse_sinks(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
{
    struct fr_config *cfg = field;
    int rc = fr__cfg_expect(ld, node, path, YAML_SEQUENCE_NODE);
    if (rc)
        return rc;
    yaml_node_item_t *start = node->data.sequence.items.start;
    yaml_node_item_t *top = node->data.sequence.items.top;
    cfg->alerts = fr_calloc((size_t)(top - start), sizeof(*cfg->alerts));
    for (yaml_node_item_t *it = start; it < top && !rc; it++) {
        yaml_node_t *item = fr__cfg_node(ld, *it);
        struct fr_alert_sink_conf *a = &cfg->alerts[cfg->nalerts++];
        a->line = (int)item->start_mark.line + 1;
        a->col = (int)item->start_mark.column + 1;
        char *cp = fr_asprintf("%s[%zu]", path, (size_t)(it - start));
        rc = fr__cfg_parse_mapping(ld, item, cp, &sink_table, a);
        free(cp);
    }
    return rc;
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

void fr__cfg_alerts_defaults(struct fr_config *cfg)
{
    fr__cfg_apply_defaults(&trends_table, &cfg->trends);
}

/* A list of sinks (the short form), or a mapping of sinks and trend rules. */
int fr__cfg_parse_alerts(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_config *cfg = field;
    if (node->type == YAML_SEQUENCE_NODE)
        return parse_sinks(ld, node, path, cfg);
    int rc = fr__cfg_expect(ld, node, path, YAML_MAPPING_NODE);
    return rc ? rc : fr__cfg_parse_mapping(ld, node, path, &trends_table, &cfg->trends);
}

void fr__cfg_free_alerts(struct fr_config *cfg)
{
    for (size_t i = 0; i < cfg->nalerts; i++) {
        wipe_free(cfg->alerts[i].url);
        free(cfg->alerts[i].command);
    }
    free(cfg->alerts);
    cfg->alerts = NULL;
    cfg->nalerts = 0;
}
