/*
 * http_conf.h: the targets section of ferry.yaml (targets: NAME: {...}),
 * parsed here, in the layer that uses it, from the key tables of
 * http_conf.c (see core/config.h for the file as a whole).
 */
#ifndef FR_HTTP_HTTP_CONF_H
#define FR_HTTP_HTTP_CONF_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/units.h"

enum fr_auth_type {
    FR_AUTH_NONE,
    FR_AUTH_OAUTH2_CC, /* oauth2_client_credentials */
    FR_AUTH_API_KEY,   /* api_key { header, value } */
    FR_AUTH_BEARER,    /* bearer { token } */
};

struct fr_auth_conf {
    enum fr_auth_type type;
    /* oauth2_client_credentials */
    char *token_url;
    char *client_id;
    char *client_secret;       /* secret */
    char *scope;               /* NULL when not set */
    int64_t refresh_before_ms; /* default 60s */
    /* api_key */
    char *header; /* default "X-API-Key" */
    char *value;  /* secret */
    /* bearer */
    char *token; /* secret */
};

struct fr_retry_conf {
    int max_attempts;       /* total attempts including the first; default 5, 1..100 */
    int64_t base_ms;        /* default 1s */
    int64_t cap_ms;         /* default 30s */
    int64_t max_elapsed_ms; /* default 10m */
    double budget;          /* fraction of last minute's requests; default 0.20 */
};

/*
 * A body-error rule: a 2xx response whose JSON body has `equals` at
 * `path` (a JSON pointer) is a failure; `message` points at the text to
 * report. Retried like a 5xx unless retry is false.
 */
struct fr_body_rule {
    char *path;
    json_t *equals; /* owned reference */
    char *message;  /* JSON pointer or NULL */
    bool retry;     /* default true */
};

struct fr_target_conf {
    char *name;
    char *base_url;           /* without trailing slash */
    char *api_version_header; /* api_version { header, value } */
    char *api_version_value;
    char *api_version_path; /* api_version { path }: prefix, without slashes */
    struct fr_auth_conf auth;
    struct fr_rate_conf rate_limit;
    struct fr_retry_conf retry;
    int64_t connect_timeout_ms; /* default 5s */
    int64_t total_timeout_ms;   /* default 30s */
    int max_in_flight;          /* default 4, 1..256 */
    char *probe_method;         /* default "GET" */
    char *probe_path;           /* default "/" */
    bool insecure_skip_verify;  /* default false; a warning at every load */
    struct fr_body_rule *body_errors;
    size_t nbody_errors;
    int line, col; /* where the target is defined */
    /*
     * Not a key of the file: the URL's path and query hold a credential (an
     * alert webhook's, built by src/obs/alert.c), so the HTTP client shows
     * it as scheme://host/[REDACTED] in its log lines and errors.
     */
    bool secret_url;
    /*
     * NULL, or the message of the first secret of auth whose ${NAME} was unset
     * at load ("ferry.yaml:8:22: targets.im.auth.client_secret (secret):
     * environment variable ICM_CLIENT_SECRET is not set"); the secret's field is
     * then NULL and fr_http_target_new refuses the target with this message.
     */
    char *missing_secret;
};

/*
 * body_errors rules (a target's and a job's): parses the sequence into a new
 * array *rules of *n rules. On failure *rules and *n hold what was parsed so
 * far: free them either way with fr__cfg_free_body_rules. For section
 * parsers (core/config_table.h).
 */
struct fr__cfg_loader;
struct yaml_node_s;
int fr__cfg_parse_body_rules(struct fr__cfg_loader *ld, struct yaml_node_s *node, const char *path,
                             struct fr_body_rule **rules, size_t *n);
/* Frees the rules and the array. NULL is a no-op. */
void fr__cfg_free_body_rules(struct fr_body_rule *rules, size_t n);

/* The section "targets", for the list src/cli loads with. */
extern const struct fr_config_section fr_targets_section;

/* The target of that name, or NULL. Borrowed from cfg. */
const struct fr_target_conf *fr_target_find(const struct fr_config *cfg, const char *name);

/*
 * Defaults for a target (used by the loader and by tests building one by hand).
 * Overwrites *t without freeing; the default strings (probe_method "GET",
 * probe_path "/", auth.header "X-API-Key") are allocated, so a target built
 * this way is released with fr_target_conf_release.
 */
void fr_target_conf_defaults(struct fr_target_conf *t);
/*
 * Frees every string, equals value and body rule a target owns (secrets are
 * wiped first) and zeroes it. NULL is a no-op. fr_config_free calls it for
 * each target; call it yourself only for targets you built by hand.
 */
void fr_target_conf_release(struct fr_target_conf *t);

#endif
