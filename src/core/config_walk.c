#include "core/common.h"
#include "core/config_table.h"

#include <ctype.h>
#include <errno.h>
#include <strings.h>

#include "core/buf.h"

/* ---- conversions of scalar text ---------------------------------------- */

yaml_node_t *fr__cfg_node(struct fr__cfg_loader *ld, int index)
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

int fr__cfg_expect(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                   yaml_node_type_t type)
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

static int bad_choice(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, const char *s,
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

static int conv_url(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, char *s,
                    void *field)
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
static int convert(struct fr__cfg_loader *ld, const struct fr__cfg_key *k, yaml_node_t *node,
                   const char *path, char *s, void *field)
{
    const char *why = NULL;
    char buf[2][32];
    int rc = 0;
    switch (k->type) {
    case FR__CFG_URL:
        return conv_url(ld, node, path, s, field);
    case FR__CFG_SEGMENT: {
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
    case FR__CFG_PATH:
        if (s[0] != '/') {
            rc = fr__cfg_fail(ld, node, path, "invalid path \"%s\" (it must start with /)", s);
            break;
        }
        set_str(field, s);
        return 0;
    case FR__CFG_POINTER:
        if (s[0] != '\0' && s[0] != '/') {
            rc = fr__cfg_fail(ld, node, path,
                              "invalid JSON pointer \"%s\" (it must start with /, e.g. /success)",
                              s);
            break;
        }
        set_str(field, s);
        return 0;
    case FR__CFG_HEADER:
        if (!header_name_ok(s)) {
            rc = fr__cfg_fail(ld, node, path, "invalid header name \"%s\"", s);
            break;
        }
        set_str(field, s);
        return 0;
    case FR__CFG_STR:
        if (!*s) {
            rc = fr__cfg_fail(ld, node, path, "empty value (remove the key or give a value)");
            break;
        }
        set_str(field, s);
        return 0;
    case FR__CFG_METHOD:
        if (names_index(k->names, s) < 0) {
            rc = bad_choice(ld, node, path, s, k->names);
            break;
        }
        set_str(field, s);
        return 0;
    case FR__CFG_ENUM: {
        int i = names_index(k->names, s);
        if (i < 0)
            rc = bad_choice(ld, node, path, s, k->names);
        else
            *(int *)field = i;
        break;
    }
    case FR__CFG_INT:
    case FR__CFG_INT64: {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!*s || *end || errno) {
            rc = fr__cfg_fail(ld, node, path, "invalid integer \"%s\"", s);
        } else if (v < k->min || v > k->max) {
            rc = fr__cfg_fail(ld, node, path, "%lld is out of range (%lld..%lld)", v,
                              (long long)k->min, (long long)k->max);
        } else if (k->type == FR__CFG_INT) {
            *(int *)field = (int)v;
        } else {
            *(int64_t *)field = (int64_t)v;
        }
        break;
    }
    case FR__CFG_SIZE: {
        uint64_t bytes;
        if (fr_parse_size(s, &bytes, &why) != 0)
            rc = fr__cfg_fail(ld, node, path, "invalid size \"%s\" (%s)", s, why);
        else if (bytes < (uint64_t)k->min)
            rc = fr__cfg_fail(ld, node, path, "%s is too small (at least %lld bytes)", s,
                              (long long)k->min);
        else if (k->max && bytes > (uint64_t)k->max)
            rc = fr__cfg_fail(ld, node, path, "%s is too large (at most %lld bytes)", s,
                              (long long)k->max);
        else
            *(uint64_t *)field = bytes;
        break;
    }
    case FR__CFG_DURATION: {
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
    case FR__CFG_PERCENT:
        if (fr_parse_percent(s, (double *)field, &why) != 0)
            rc = fr__cfg_fail(ld, node, path, "invalid percentage \"%s\" (%s)", s, why);
        break;
    case FR__CFG_BOOL:
        if (strcmp(s, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(s, "false") == 0)
            *(bool *)field = false;
        else
            rc = fr__cfg_fail(ld, node, path, "invalid boolean \"%s\" (write true or false)", s);
        break;
    case FR__CFG_RATE: {
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

char *fr__cfg_child_path(const char *path, const char *key)
{
    return *path ? fr_asprintf("%s.%s", path, key) : fr_strdup(key);
}

static int parse_value(struct fr__cfg_loader *ld, const struct fr__cfg_key *k, yaml_node_t *node,
                       const char *path, void *base)
{
    void *field = (char *)base + k->offset;
    if (k->type == FR__CFG_MAP)
        return fr__cfg_parse_mapping(ld, node, path, k->sub, field);
    if (k->type == FR__CFG_CUSTOM)
        return k->custom(ld, node, path, field);
    int rc = fr__cfg_expect(ld, node, path, YAML_SCALAR_NODE);
    if (rc)
        return rc;
    if (k->type == FR__CFG_SECRET) {
        char *secret;
        rc = fr__cfg_secret(ld, node, path, &secret);
        if (rc == 0) {
            char **dst = field;
            fr__cfg_free_secret(*dst);
            *dst = secret;
        }
        return rc;
    }
    char *text;
    rc = fr__cfg_expand(ld, node, path, fr__cfg_text(node), &text);
    if (rc)
        return rc;
    if (k->type == FR__CFG_JSON) {
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
void fr__cfg_apply_defaults(const struct fr__cfg_table *tab, void *base)
{
    struct fr_err err = {0};
    struct fr__cfg_loader ld = {.name = "(built-in default)", .err = &err};
    for (size_t i = 0; i < tab->nkeys; i++) {
        const struct fr__cfg_key *k = &tab->keys[i];
        void *field = (char *)base + k->offset;
        if (k->type == FR__CFG_MAP)
            fr__cfg_apply_defaults(k->sub, field);
        else if (k->def && convert(&ld, k, NULL, k->name, fr_strdup(k->def), field) != 0)
            fr_die(__FILE__, __LINE__, err.msg);
    }
}

static const struct fr__cfg_key *find_key(const struct fr__cfg_table *tab, const char *name,
                                          size_t *idx)
{
    for (size_t i = 0; i < tab->nkeys; i++) {
        if (strcmp(tab->keys[i].name, name) == 0) {
            *idx = i;
            return &tab->keys[i];
        }
    }
    return NULL;
}

static int unknown_key(struct fr__cfg_loader *ld, yaml_node_t *key, const char *path,
                       const struct fr__cfg_table *tab)
{
    const char *names[FR__CFG_TABLE_MAX];
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
static char *variant_list(const struct fr__cfg_key *selector, unsigned mask)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_adds(&b, "");
    for (int i = 0; selector->names[i]; i++)
        if (mask & (1u << i))
            fr_buf_addf(&b, "%s\"%s\"", b.len ? " or " : "", selector->names[i]);
    return fr_buf_detach(&b, NULL);
}

int fr__cfg_parse_entries(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          const char *what, bool free_form, const char *empty_msg, size_t elem_size,
                          void **array, size_t *n, fr__cfg_entry_fn fn)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_MAPPING_NODE);
    if (rc || (rc = fr__cfg_check_keys(ld, node, path)))
        return rc;
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;
    if (start == top && empty_msg)
        return fr__cfg_fail(ld, node, path, "%s", empty_msg);
    *array = fr_calloc((size_t)(top - start), elem_size);
    for (yaml_node_pair_t *p = start; p < top && !rc; p++) {
        yaml_node_t *key = fr__cfg_node(ld, p->key);
        const char *name = fr__cfg_text(key);
        if (free_form && !*name)
            return fr__cfg_fail(ld, key, path, "a %s needs a name", what);
        if (!free_form && !fr__cfg_name_ok(name))
            return fr__cfg_fail(ld, key, path, "invalid %s name \"%s\" (letters, digits, _ and -)",
                                what, name);
        void *entry = (char *)*array + (*n)++ * elem_size;
        char *cp = fr__cfg_child_path(path, name);
        rc = fn(ld, entry, name, key, fr__cfg_node(ld, p->value), cp);
        free(cp);
    }
    return rc;
}

int fr__cfg_parse_list(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                       const char *empty_msg, size_t elem_size, void **array, size_t *n,
                       fr__cfg_item_fn fn, void *ud)
{
    int rc = fr__cfg_expect(ld, node, path, YAML_SEQUENCE_NODE);
    if (rc)
        return rc;
    yaml_node_item_t *start = node->data.sequence.items.start;
    yaml_node_item_t *top = node->data.sequence.items.top;
    if (start == top && empty_msg)
        return fr__cfg_fail(ld, node, path, "the list is empty (%s)", empty_msg);
    /* one slot more, zeroed: an array of strings stays NULL-terminated */
    *array = fr_calloc((size_t)(top - start) + 1, elem_size);
    for (yaml_node_item_t *it = start; it < top && !rc; it++) {
        void *slot = (char *)*array + (*n)++ * elem_size;
        char *cp = fr_asprintf("%s[%zu]", path, (size_t)(it - start));
        rc = fn(ld, slot, fr__cfg_node(ld, *it), cp, ud);
        free(cp);
    }
    return rc;
}

/* A key of a mapping, for the duplicate check: its text and its place in the mapping. */
struct key_ref {
    const char *text;
    size_t index;
};

static int key_ref_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * Keys must be plain scalars and appear once. The error is the one a walk
 * in file order meets first: the first key that is not a scalar or repeats
 * an earlier one. Sorted, not compared pair by pair: a mapping may have
 * hundreds of thousands of keys.
 */
int fr__cfg_check_keys(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path)
{
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    size_t n = (size_t)(node->data.mapping.pairs.top - start);
    size_t not_scalar = n;
    for (size_t i = 0; i < n && not_scalar == n; i++)
        if (fr__cfg_node(ld, start[i].key)->type != YAML_SCALAR_NODE)
            not_scalar = i;
    /* Only the keys before the first non-scalar one can be reported as duplicates. */
    size_t dup = not_scalar, first = 0;
    if (not_scalar > 1) {
        struct key_ref *refs = fr_calloc(not_scalar, sizeof(*refs));
        for (size_t i = 0; i < not_scalar; i++)
            refs[i] = (struct key_ref){fr__cfg_text(fr__cfg_node(ld, start[i].key)), i};
        qsort(refs, not_scalar, sizeof(*refs), key_ref_cmp);
        /* In a run of equal keys, the second is the earliest repeat and the first its original. */
        for (size_t i = 1; i < not_scalar; i++) {
            if (refs[i].index < dup && strcmp(refs[i].text, refs[i - 1].text) == 0) {
                dup = refs[i].index;
                first = refs[i - 1].index;
            }
        }
        free(refs);
    }
    if (dup < not_scalar) {
        yaml_node_t *key = fr__cfg_node(ld, start[dup].key);
        yaml_node_t *prev = fr__cfg_node(ld, start[first].key);
        return fr__cfg_fail(ld, key, NULL, "duplicate key \"%s\" %s%s (first at line %zu:%zu)",
                            fr__cfg_text(key), *path ? "under " : "at the top level", path,
                            prev->start_mark.line + 1, prev->start_mark.column + 1);
    }
    if (not_scalar < n) {
        yaml_node_t *key = fr__cfg_node(ld, start[not_scalar].key);
        return fr__cfg_fail(ld, key, path, "a key must be a plain name, found %s", node_kind(key));
    }
    return 0;
}

int fr__cfg_parse_mapping(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          const struct fr__cfg_table *tab, void *base)
{
    FR_ASSERT(tab->nkeys <= FR__CFG_TABLE_MAX);
    int rc = fr__cfg_expect(ld, node, path, YAML_MAPPING_NODE);
    if (rc || (rc = fr__cfg_check_keys(ld, node, path)))
        return rc;
    yaml_node_t *found[FR__CFG_TABLE_MAX] = {0};
    yaml_node_pair_t *start = node->data.mapping.pairs.start;
    yaml_node_pair_t *top = node->data.mapping.pairs.top;

    /* The variant selector first: it decides which other keys belong. */
    unsigned variant = 1;
    const struct fr__cfg_key *selector = NULL;
    size_t sel_idx = 0;
    if (tab->variant_key) {
        selector = find_key(tab, tab->variant_key, &sel_idx);
        /* An enum, or a custom parser that writes the index of one of selector->names. */
        FR_ASSERT(selector && selector->names &&
                  (selector->type == FR__CFG_ENUM || selector->type == FR__CFG_CUSTOM));
        for (yaml_node_pair_t *p = start; p < top; p++) {
            if (strcmp(fr__cfg_text(fr__cfg_node(ld, p->key)), tab->variant_key) != 0)
                continue;
            char *cp = fr__cfg_child_path(path, selector->name);
            found[sel_idx] = fr__cfg_node(ld, p->value);
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
        yaml_node_t *key = fr__cfg_node(ld, p->key);
        size_t idx;
        const struct fr__cfg_key *k = find_key(tab, fr__cfg_text(key), &idx);
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
        char *cp = fr__cfg_child_path(path, k->name);
        found[idx] = fr__cfg_node(ld, p->value);
        rc = parse_value(ld, k, found[idx], cp, base);
        free(cp);
    }
    for (size_t i = 0; i < tab->nkeys && !rc; i++) {
        const struct fr__cfg_key *k = &tab->keys[i];
        if (!found[i] && (k->required & variant))
            rc = fr__cfg_fail(ld, node, path, "missing required key \"%s\" (%s)", k->name, k->help);
    }
    if (!rc && tab->check)
        rc = tab->check(ld, node, path, base, found);
    return rc;
}

/* found[] entry of the key named name. */
yaml_node_t *fr__cfg_found(const struct fr__cfg_table *tab, yaml_node_t **found, const char *name)
{
    size_t idx;
    return find_key(tab, name, &idx) ? found[idx] : NULL;
}
