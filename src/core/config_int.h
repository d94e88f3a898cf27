/*
 * config_int.h: shared between the files of the config module only
 * (config.c: key tables and the YAML walk; config_value.c: messages, scalar
 * conversions, ${ENV} expansion and secrets). Not for other modules.
 */
#ifndef FR_CORE_CONFIG_INT_H
#define FR_CORE_CONFIG_INT_H

#include "core/common.h"

#include <yaml.h>

#include "core/config.h"

/* One load in progress. Everything borrowed except doc, which the loader owns. */
struct fr__cfg_loader {
    yaml_document_t *doc;
    const char *name; /* the file as named in messages */
    const char *dir;  /* directory for relative file: paths */
    struct fr_config *cfg;
    struct fr_err *err;
};

/*
 * Records "name:line:col: path: message" (line and column of node, 1-based)
 * as FR_ECONFIG in ld->err and returns FR_ECONFIG. path may be NULL or ""
 * (no path written). The message must not contain secret values.
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
 * a new string the caller frees (wipe it before freeing).
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

/* The scalar text of a node (NUL-terminated by libyaml). Borrowed from the document. */
static inline const char *fr__cfg_text(const yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

#endif
