/*
 * config_table.h: the config engine, for the layers' section parsers.
 *
 * A layer that owns a section of ferry.yaml (see core/config.h) describes
 * it with key tables (struct fr__cfg_table: key, type, default, bounds,
 * variants, help) and exports a struct fr_config_section; the engine walks
 * the YAML against the tables (config_walk.c), converts and checks scalars,
 * expands ${ENV} and resolves secrets (config_value.c), keeps a file within
 * its limits before any tree is built (config_limits.c), and loads the
 * file section by section (config.c). The fr__cfg_ prefix marks what only
 * section parsers use: code that reads a loaded config never needs it.
 */
#ifndef FR_CORE_CONFIG_TABLE_H
#define FR_CORE_CONFIG_TABLE_H

#include "core/common.h"

#include <jansson.h>
#include <yaml.h>

#include "core/config.h"
#include "core/units.h"

/* One load in progress. Everything borrowed except doc, which the loader owns. */
struct fr__cfg_loader {
    yaml_document_t *doc;
    const char *name; /* the file as named in messages */
    const char *dir;  /* directory for relative file: paths */
    struct fr_config *cfg;
    struct fr_err *err;
    /* every ${NAME} expanded so far: messages show "${NAME}", never its value */
    char **env_names;
    size_t nenv;
};

/* Frees what the loader kept (the names of the variables it expanded). */
void fr__cfg_loader_release(struct fr__cfg_loader *ld);

/*
 * Records "name:line:col: path: message" (line and column of node, 1-based)
 * as FR_ECONFIG in ld->err and returns FR_ECONFIG. path may be NULL or ""
 * (no path written). The message must not contain secret values: the value
 * of any ${NAME} the loader expanded is written back as ${NAME}, whatever
 * quoted it, so a bad value built from the environment is named as written.
 */
int fr__cfg_fail(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                 const char *fmt, ...) FR_PRINTF(4, 5);
/* Appends "name:line:col: message" to cfg->warnings. */
void fr__cfg_warn(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *fmt, ...)
    FR_PRINTF(3, 4);

/* "30s", "5m", "250ms": the shortest exact form of ms, in buf. Returns buf. */
const char *fr__cfg_fmt_duration(int64_t ms, char *buf, size_t size);

/*
 * The candidate nearest to word by edit distance (Damerau, optimal string
 * alignment), or NULL when none is close enough to be a likely typo.
 * Borrowed from candidates.
 */
const char *fr__cfg_suggest(const char *word, const char *const *candidates, size_t n);

/*
 * Replaces each ${NAME} in the scalar text of node by the environment
 * variable; a '$' not followed by '{' is literal. *out is a new string the
 * caller frees. FR_ECONFIG (recorded) for an unset variable or a malformed
 * reference.
 */
int fr__cfg_expand(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                   const char *text, char **out);

/*
 * Resolves a secret field: ${ENV}, file:/path (relative to ld->dir), or a
 * literal (a warning). The value is registered with the redactor. *out is
 * a new string the caller frees (wipe it before freeing). A well-formed
 * ${NAME} whose variable is unset is not an error: it is appended to
 * ld->cfg->missing_secrets (with path and node's position) and *out is NULL.
 */
int fr__cfg_secret(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                   char **out);

/*
 * A YAML scalar as JSON: quoted scalars are strings; plain ones resolve by
 * the YAML 1.2 core schema (null, true/false, integers, floats, else a
 * string). *out is a new reference. FR_ECONFIG for .inf/.nan.
 */
int fr__cfg_scalar_json(struct fr__cfg_loader *ld, const yaml_node_t *node, const char *path,
                        const char *text, json_t **out);

/* ---- limits of a file (config_limits.c) ------------------------------- */

/* Collections nested in one another: a ferry config needs fewer than ten. */
#define FR__CFG_MAX_DEPTH 64
/* Anchors (&name) in one document: libyaml's loader looks each alias up among all of them. */
#define FR__CFG_MAX_ANCHORS 1000
/*
 * Nodes reached through aliases (*name), counting every node an alias stands
 * for, aliases within it expanded: the walk parses each of them again.
 */
#define FR__CFG_MAX_ALIAS_NODES 100000

/*
 * Reads yaml (len bytes, name as in messages) with libyaml's event parser,
 * before any tree is built, and stops at the first event past a limit:
 * FR_ECONFIG (recorded in err) with "name:line:col: ..." at that event for
 * a collection nested deeper than FR__CFG_MAX_DEPTH, an anchor past
 * FR__CFG_MAX_ANCHORS, an alias that takes the nodes reached through
 * aliases past FR__CFG_MAX_ALIAS_NODES, or an alias inside the node it
 * names (a cycle). Covers the first two documents (what the load reads).
 * A syntax error is not reported here: the load that follows reports it.
 * 0 when the file keeps the limits.
 */
int fr__cfg_check_limits(const char *yaml, size_t len, const char *name, struct fr_err *err);

/* ---- key tables (config.c) walked generically (config_walk.c) ---------- */

/* The most keys one mapping table may have. */
#define FR__CFG_TABLE_MAX 32
/* A key required whatever the variant. */
#define FR__CFG_ALWAYS (~0u)

enum fr__cfg_type {
    FR__CFG_STR,      /* non-empty string, ${ENV} expanded */
    FR__CFG_SECRET,   /* ${ENV}, file:/path or a literal (warning); registered with the redactor */
    FR__CFG_URL,      /* http:// or https:// URL; trailing slashes stripped */
    FR__CFG_SEGMENT,  /* path prefix such as "v2"; surrounding slashes stripped */
    FR__CFG_PATH,     /* request path starting with "/" */
    FR__CFG_POINTER,  /* JSON pointer: "" or starting with "/" */
    FR__CFG_HEADER,   /* HTTP header name */
    FR__CFG_METHOD,   /* HTTP method, one of names */
    FR__CFG_ENUM,     /* one of names, stored as its index (int) */
    FR__CFG_INT,      /* int within min..max */
    FR__CFG_INT64,    /* int64_t within min..max */
    FR__CFG_SIZE,     /* uint64_t bytes ("1MB"), at least min, at most max unless max is 0 */
    FR__CFG_DURATION, /* int64_t milliseconds within min..max */
    FR__CFG_PERCENT,  /* double fraction */
    FR__CFG_BOOL,     /* true or false */
    FR__CFG_RATE,     /* struct fr_rate_conf: COUNT/UNIT or "adaptive" */
    FR__CFG_JSON,     /* json_t *, any scalar (core schema) */
    FR__CFG_MAP,      /* a nested mapping described by sub */
    FR__CFG_CUSTOM,   /* parsed by custom */
};

struct fr__cfg_table;

struct fr__cfg_key {
    const char *name;
    enum fr__cfg_type type;
    size_t offset;     /* of the field, from the table's base */
    const char *def;   /* default, written as in the file; NULL: none (zero) */
    int64_t min, max;  /* FR__CFG_INT, FR__CFG_INT64, FR__CFG_DURATION, FR__CFG_SIZE */
    unsigned only;     /* variants (1u << index) the key belongs to; 0 = all */
    unsigned required; /* variants in which the key is required; FR__CFG_ALWAYS = all */
    const struct fr__cfg_table *sub; /* FR__CFG_MAP */
    const char *const *names;        /* FR__CFG_ENUM, FR__CFG_METHOD: NULL-terminated */
    int (*custom)(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field);
    const char *help; /* what the key is for; named when it is missing */
};

struct fr__cfg_table {
    const struct fr__cfg_key *keys;
    size_t nkeys;
    /*
     * A FR__CFG_ENUM key (or a FR__CFG_CUSTOM one with names, writing an int
     * index into them) whose value selects which other keys apply (auth: type;
     * job: kind); parsed first. NULL for tables without variants.
     */
    const char *variant_key;
    const char *variant_what; /* "auth type" */
    /* Cross-checks once every key is set; found[i] is the value node of keys[i] or NULL. */
    int (*check)(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                 yaml_node_t **found);
};

/* Node number index of the document. Borrowed. */
yaml_node_t *fr__cfg_node(struct fr__cfg_loader *ld, int index);

/* A list of strings as the config keeps one: a char ** then its count, adjacent. */
struct fr__cfg_strings {
    char **items;
    size_t n;
};
/*
 * A sequence of non-empty strings (${ENV} expanded) into field (a struct
 * fr__cfg_strings), replacing what it held; example names what to write
 * instead of an empty item. At least one item unless allow_empty.
 */
int fr__cfg_parse_strings(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field, const char *example, bool allow_empty);
/* Frees n strings and the array; NULL with 0 is a no-op. */
void fr__cfg_free_strings(char **v, size_t n);
/* FR_ECONFIG (recorded) unless node is of type: "expected a mapping, found a sequence". */
int fr__cfg_expect(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                   yaml_node_type_t type);
/* Keys of a mapping node must be scalars and appear once (duplicates name both places). */
int fr__cfg_check_keys(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path);
/* "path.key" ("key" at the top level); the caller frees. */
char *fr__cfg_child_path(const char *path, const char *key);
/*
 * Checks node against tab and sets the fields of base: unknown keys (with a
 * suggestion), keys of another variant, wrong types, bounds, missing
 * required keys, then tab->check. Fields already set (defaults) are replaced.
 */
int fr__cfg_parse_mapping(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          const struct fr__cfg_table *tab, void *base);
/*
 * One entry of a mapping of named entries (targets, jobs, sources, map
 * fields): entry is its zeroed slot in the array, path its own path.
 */
typedef int (*fr__cfg_entry_fn)(struct fr__cfg_loader *ld, void *entry, const char *name,
                                yaml_node_t *key, yaml_node_t *value, const char *path);
/*
 * Walks a mapping of named entries: checks it is a mapping with unique keys
 * (empty_msg, when not NULL, refuses an empty one), allocates *array with one
 * elem_size slot per entry, and calls fn for each in file order, counting *n
 * first so a failed parse frees what it began. Names are letters, digits, _
 * and - unless free_form (then only non-empty); what names the kind in
 * errors ("target", "payload field").
 */
int fr__cfg_parse_entries(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          const char *what, bool free_form, const char *empty_msg, size_t elem_size,
                          void **array, size_t *n, fr__cfg_entry_fn fn);
/*
 * One item of a sequence: slot its zeroed slot in the array (counted before
 * the call, so a failed parse frees what it began), item its node, path its
 * own path ("path[i]"); ud as passed to fr__cfg_parse_list.
 */
typedef int (*fr__cfg_item_fn)(struct fr__cfg_loader *ld, void *slot, yaml_node_t *item,
                               const char *path, void *ud);
/*
 * Walks a sequence: checks node is one (empty_msg, when not NULL, refuses an
 * empty one: "the list is empty (EMPTY_MSG)"), allocates *array with one
 * zeroed elem_size slot per item and one more, and calls fn for each in
 * order, stopping at the first failure. *n counts the slots handed out.
 * The one walk of a YAML list: strings, secrets, body rules, alert sinks.
 */
int fr__cfg_parse_list(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                       const char *empty_msg, size_t elem_size, void **array, size_t *n,
                       fr__cfg_item_fn fn, void *ud);
/* Sets the defaults tab declares, nested tables included, on base. */
void fr__cfg_apply_defaults(const struct fr__cfg_table *tab, void *base);
/* The value node found for the key named name, or NULL; found as passed to check. */
yaml_node_t *fr__cfg_found(const struct fr__cfg_table *tab, yaml_node_t **found, const char *name);

/* ---- shared by the sections ------------------------------------------- */

/* A name of a target, a job or a source: non-empty, letters, digits, _ and -. */
bool fr__cfg_name_ok(const char *s);
/* The HTTP methods FR__CFG_METHOD keys accept (NULL-terminated). */
extern const char *const fr__cfg_http_methods[];
/* "\"a\", \"b\"": the quoted names, for messages. The caller frees. */
char *fr__cfg_quoted_list(const char *const *names, size_t n);
/* Wipes a secret string, then frees it. NULL is a no-op. */
void fr__cfg_free_secret(char *s);
/* The value node of key name in the mapping node, or NULL (NULL or not a mapping: NULL). */
yaml_node_t *fr__cfg_member(struct fr__cfg_loader *ld, yaml_node_t *node, const char *name);

/* ---- sections ------------------------------------------------------------ */

/*
 * A top-level section of the file, owned by the layer that reads it. The
 * load applies every section's defaults, parses the keys present (key: its
 * name, type, help and where in struct fr_config it goes; a FR__CFG_CUSTOM
 * key's field is the struct fr_config itself when offset is 0), then calls
 * every section's finish in list order, with the section's value node or
 * NULL when the file has none (checks that span sections go there: a job's
 * target must exist). release frees what the section owns in cfg.
 */
struct fr_config_section {
    struct fr__cfg_key key;
    void (*defaults)(struct fr_config *cfg);
    int (*finish)(struct fr__cfg_loader *ld, yaml_node_t *value);
    void (*release)(struct fr_config *cfg);
};

/* Where node starts, 1-based; {0, 0} for NULL. */
static inline struct fr_conf_pos fr__cfg_pos(const yaml_node_t *node)
{
    if (!node)
        return (struct fr_conf_pos){0, 0};
    return (struct fr_conf_pos){(int)node->start_mark.line + 1, (int)node->start_mark.column + 1};
}

/* The scalar text of a node (NUL-terminated by libyaml). Borrowed from the document. */
static inline const char *fr__cfg_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

#endif
