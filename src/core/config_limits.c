#include "core/common.h"
#include "core/config_table.h"

#include <stdarg.h>

/*
 * One pass of libyaml's event parser over the file before the document is
 * built: libyaml's scanner spends time in proportion to the open flow
 * levels on every token (100,000 nested "[" took half a minute), its
 * loader looks each alias up among all anchors, and the config walk
 * follows aliases into shared nodes, so a small file can stand for a huge
 * one. The pass stops at the first event past a limit, before the scanner
 * has read much beyond it.
 */

/* An anchor of the document, with the nodes it stands for (aliases inside expanded). */
struct anchor {
    char *name;
    uint64_t hash;  /* of name: most names are told apart without strcmp */
    uint64_t nodes; /* UINT64_MAX while its collection is still open */
};

/* A collection still open: where the count stood before it, and its anchor. */
struct open_node {
    uint64_t nodes_before;
    struct anchor *anchor; /* NULL: none */
};

struct limits_pass {
    const char *name;
    struct fr_err *err;
    struct anchor *anchors; /* FR__CFG_MAX_ANCHORS slots */
    size_t nanchors;
    struct open_node open[FR__CFG_MAX_DEPTH];
    size_t depth;
    uint64_t nodes;       /* nodes of the document so far, aliases expanded */
    uint64_t alias_nodes; /* of which reached through aliases */
};

static int fail_at(struct limits_pass *p, const yaml_mark_t *mark, const char *fmt, ...)
    FR_PRINTF(3, 4);

/* Records "name:line:col: message" (mark is 0-based) and returns FR_ECONFIG. */
static int fail_at(struct limits_pass *p, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = fr_vasprintf(fmt, ap);
    va_end(ap);
    int rc = fr_err_set(p->err, FR_ECONFIG, 0, "%s:%zu:%zu: %s", p->name, mark->line + 1,
                        mark->column + 1, what);
    free(what);
    return rc;
}

/* FNV-1a. */
static uint64_t name_hash(const yaml_char_t *name)
{
    uint64_t h = 14695981039346656037ull;
    for (; *name; name++)
        h = (h ^ *name) * 1099511628211ull;
    return h;
}

static void forget_anchors(struct limits_pass *p)
{
    for (size_t i = 0; i < p->nanchors; i++)
        free(p->anchors[i].name);
    p->nanchors = 0;
}

/* Registers the anchor of a node starting at mark; *out is its slot (NULL for no anchor). */
static int add_anchor(struct limits_pass *p, const yaml_char_t *name, const yaml_mark_t *mark,
                      struct anchor **out)
{
    *out = NULL;
    if (!name)
        return 0;
    if (p->nanchors == FR__CFG_MAX_ANCHORS)
        return fail_at(p, mark, "anchor &%.40s: more than %d anchors in one file (the limit)",
                       (const char *)name, FR__CFG_MAX_ANCHORS);
    *out = &p->anchors[p->nanchors++];
    (*out)->name = fr_strdup((const char *)name);
    (*out)->hash = name_hash(name);
    (*out)->nodes = UINT64_MAX;
    return 0;
}

/* The latest anchor of that name (libyaml's loader refuses duplicates itself), or NULL. */
static struct anchor *find_anchor(struct limits_pass *p, const yaml_char_t *name)
{
    uint64_t hash = name_hash(name);
    for (size_t i = p->nanchors; i > 0; i--)
        if (p->anchors[i - 1].hash == hash &&
            strcmp(p->anchors[i - 1].name, (const char *)name) == 0)
            return &p->anchors[i - 1];
    return NULL;
}

static int on_alias(struct limits_pass *p, const yaml_event_t *ev)
{
    const yaml_char_t *name = ev->data.alias.anchor;
    struct anchor *a = find_anchor(p, name);
    if (!a) {
        p->nodes++; /* an undefined alias: the loader names it */
        return 0;
    }
    if (a->nodes == UINT64_MAX)
        return fail_at(p, &ev->start_mark, "alias *%.40s is inside the node it names (a cycle)",
                       (const char *)name);
    /* Each count stays under the limit, so these sums cannot overflow. */
    p->alias_nodes += a->nodes;
    p->nodes += a->nodes;
    if (p->alias_nodes > FR__CFG_MAX_ALIAS_NODES)
        return fail_at(p, &ev->start_mark,
                       "alias *%.40s: aliases expand to more than %d nodes (the limit)",
                       (const char *)name, FR__CFG_MAX_ALIAS_NODES);
    return 0;
}

static int on_start(struct limits_pass *p, const yaml_event_t *ev, const yaml_char_t *anchor)
{
    if (p->depth == FR__CFG_MAX_DEPTH)
        return fail_at(p, &ev->start_mark, "nested deeper than %d levels (the limit)",
                       FR__CFG_MAX_DEPTH);
    struct open_node *o = &p->open[p->depth];
    o->nodes_before = p->nodes++;
    int rc = add_anchor(p, anchor, &ev->start_mark, &o->anchor);
    if (rc == 0)
        p->depth++;
    return rc;
}

static void on_end(struct limits_pass *p)
{
    FR_ASSERT(p->depth > 0);
    struct open_node *o = &p->open[--p->depth];
    if (o->anchor)
        o->anchor->nodes = p->nodes - o->nodes_before;
}

/* One event: 0 or FR_ECONFIG (recorded); *done at the end of the stream or of a second document. */
static int on_event(struct limits_pass *p, const yaml_event_t *ev, int *documents, bool *done)
{
    struct anchor *a;
    int rc;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        forget_anchors(p); /* anchors belong to one document */
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        /* The load refuses a second document and never parses a third. */
        *done = ++*documents == 2;
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = true;
        return 0;
    case YAML_SCALAR_EVENT:
        if ((rc = add_anchor(p, ev->data.scalar.anchor, &ev->start_mark, &a)))
            return rc;
        p->nodes++;
        if (a)
            a->nodes = 1;
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(p, ev, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(p, ev, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_end(p);
        return 0;
    default:
        return 0;
    }
}

int fr__cfg_check_limits(const char *yaml, size_t len, const char *name, struct fr_err *err)
{
    struct limits_pass p = {.name = name, .err = err};
    p.anchors = fr_calloc(FR__CFG_MAX_ANCHORS, sizeof(*p.anchors));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    int documents = 0;
    bool done = false;
    int rc = 0;
    while (!rc && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break; /* a syntax error: the load that follows reports it */
        rc = on_event(&p, &ev, &documents, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    forget_anchors(&p);
    free(p.anchors);
    return rc;
}
