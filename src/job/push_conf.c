#include "core/common.h"
#include "job/job_conf.h"

#include <ctype.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_table.h"
#include "job/job_conf_int.h"

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_source_type) == sizeof(int), "enum fr_source_type is not an int");
_Static_assert(sizeof(enum fr_field_type) == sizeof(int), "enum fr_field_type is not an int");

/* The placeholder a lookup or rollback path must contain. */
#define KEY_PLACEHOLDER "{{key}}"

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

/* A relative path is relative to the config file's directory, not the working directory. */
static int check_source(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                        yaml_node_t **found)
{
    struct fr_source_conf *s = base;
    s->path_pos = fr__cfg_pos(fr__cfg_found(&fr__job_source_table, found, "path"));
    s->query_pos = fr__cfg_pos(fr__cfg_found(&fr__job_source_table, found, "query"));
    if (s->path[0] != '/') {
        char *joined = fr_asprintf("%s/%s", ld->dir, s->path);
        free(s->path);
        s->path = joined;
    }
    return 0;
}

const struct fr__cfg_table fr__job_source_table = {
    source_keys, FR_ARRAY_LEN(source_keys), "type", "source type", check_source,
};

/* ---- request ------------------------------------------------------------- */

static const struct fr__cfg_key request_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_push_request_conf, method),
     .def = "POST",
     .names = fr__cfg_http_methods,
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

const struct fr__cfg_table fr__job_request_table = {request_keys, FR_ARRAY_LEN(request_keys), NULL,
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

int fr__job_parse_map(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
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

const struct fr__cfg_table fr__job_results_table = {results_keys, FR_ARRAY_LEN(results_keys), NULL,
                                                    NULL, NULL};

static int check_key_request(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                             void *base, yaml_node_t **found);

static const struct fr__cfg_key lookup_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_key_request_conf, method),
     .def = "GET",
     .names = fr__cfg_http_methods,
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

const struct fr__cfg_table fr__job_lookup_table = {lookup_keys, FR_ARRAY_LEN(lookup_keys), NULL,
                                                   NULL, check_key_request};

static const struct fr__cfg_key rollback_keys[] = {
    {.name = "method",
     .type = FR__CFG_METHOD,
     .offset = offsetof(struct fr_key_request_conf, method),
     .def = "DELETE",
     .names = fr__cfg_http_methods,
     .help = "the HTTP method that undoes a record"},
    {.name = "path",
     .type = FR__CFG_PATH,
     .offset = offsetof(struct fr_key_request_conf, path),
     .required = ALWAYS,
     .help = "the path that undoes a record, with {{key}} where the record's key goes"},
};

const struct fr__cfg_table fr__job_rollback_table = {rollback_keys, FR_ARRAY_LEN(rollback_keys),
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

int fr__job_parse_results(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field)
{
    struct fr_results_conf *r = field;
    return parse_configured(ld, node, path, &fr__job_results_table, r, &r->configured);
}

int fr__job_parse_lookup(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_key_request_conf *r = field;
    return parse_configured(ld, node, path, &fr__job_lookup_table, r, &r->configured);
}

int fr__job_parse_rollback(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                           void *field)
{
    struct fr_key_request_conf *r = field;
    return parse_configured(ld, node, path, &fr__job_rollback_table, r, &r->configured);
}
