/*
 * config.h: ferry.yaml loaded into typed structs, section by section.
 *
 * core holds the engine (core/config_table.h: the key tables, file:line:col
 * errors, did-you-mean, ${ENV} and file: secrets, units) and this slim
 * struct fr_config. Each section of the file belongs to the layer that reads
 * it, which defines its structs and its key table and exports a struct
 * fr_config_section: targets in src/http (http/http_conf.h), jobs in src/job
 * (job/job_conf.h), webhooks in src/hooks (hooks/hooks_conf.h), alerts and
 * status in src/obs (obs/obs_conf.h), the store URL in src/store
 * (store/store.h). src/cli hands the list of sections to the load
 * (cli/sections.h); a section that is not in the list is an unknown key.
 *
 * The file is parsed with libyaml; every key is checked against a table
 * (unknown keys are errors naming the nearest known key), every value is
 * typed and bounded, and every error names file:line:column and the key:
 *
 *   ferry.yaml:12:5: unknown key "retires" under targets.im (did you mean "retry"?)
 *
 * Strings may reference environment variables as ${NAME}; an unset variable
 * is an error naming it. Secret fields (client_secret, api_key value,
 * bearer token) also accept file:/path (read, trailing whitespace trimmed;
 * a file readable by group or others is a warning); a literal secret in the
 * file is a warning. Webhook verification secrets (webhooks.sources.*.verify
 * .secrets) and webhooks.admin_token are secret fields too. Every resolved
 * secret is registered with the redactor, and so is every alert webhook URL
 * (Slack-style URLs carry a token).
 *
 * Secrets are needed only where they are used: an unset ${NAME} in a secret
 * field does not fail the load. The field is left NULL and the reference is
 * kept in cfg->missing_secrets; a command that uses the secret calls
 * fr_config_require_secrets (or fr_job_require_secrets) for its part
 * of the file and fails then, with the message the load would have given.
 * A target with a missing secret also carries it (missing_secret), and
 * fr_http_target_new refuses such a target, so no request goes out without
 * its credential.
 *
 * All strings in these structs are owned by the struct fr_config.
 */
#ifndef FR_CORE_CONFIG_H
#define FR_CORE_CONFIG_H

#include "core/common.h"

#include "core/error.h"

/*
 * Where a value stands in the config file: the 1-based line and column of
 * the value's node as libyaml saw it; {0, 0} when the key was not written
 * (or the struct was built by hand).
 */
struct fr_conf_pos {
    int line, col;
};

/*
 * A secret field whose ${NAME} was unset when the file was loaded (see the
 * top of this file). Names only: it never holds a value.
 */
struct fr_missing_secret {
    char *key; /* key path: "targets.im.auth.client_secret", "webhooks.sources.crm.verify
                  .secrets[0]", "webhooks.admin_token" */
    char *var; /* the unset variable, e.g. "ICM_CLIENT_SECRET" */
    struct fr_conf_pos pos;
    char *msg; /* "ferry.yaml:8:22: KEY (secret): environment variable VAR is not set" */
};

/* The sections' own types, defined by the layers that parse them (see the top). */
struct fr_target_conf;
struct fr_job_conf;
struct fr_alert_sink_conf;
struct fr_trends_conf;
struct fr_status_conf;
struct fr_webhooks_conf;
struct fr_config_section;

struct fr_config {
    char *path;  /* as given */
    char *dir;   /* directory of the file, for relative paths */
    char *store; /* section "store": "sqlite:ferry.db" by default; its password is redacted */
    struct fr_conf_pos store_pos;   /* where store is written; {0, 0} for the default */
    struct fr_target_conf *targets; /* section "targets" */
    size_t ntargets;
    struct fr_job_conf *jobs; /* section "jobs" */
    size_t njobs;
    struct fr_alert_sink_conf *alerts; /* section "alerts" */
    size_t nalerts;
    struct fr_trends_conf *trends;     /* section "alerts" (as a mapping); defaults without it */
    struct fr_status_conf *status;     /* section "status" */
    struct fr_webhooks_conf *webhooks; /* section "webhooks" */
    char **warnings;                   /* "file:line:col: ..." sentences, for the CLI to log */
    size_t nwarnings;
    struct fr_missing_secret *missing_secrets; /* in file order */
    size_t nmissing_secrets;
    /* the sections this config was loaded with (NULL-terminated), which free it */
    const struct fr_config_section *const *sections;
};

/*
 * The path to load: explicit (from -c) if not NULL, else $FERRY_CONFIG if
 * set and non-empty, else "ferry.yaml". Borrowed.
 */
const char *fr_config_default_path(const char *explicit_path);

/*
 * Loads and validates a file holding the sections listed (a NULL-terminated
 * array, borrowed for the life of the config; src/cli's is
 * fr_cli_sections()). On success *out is a new config (free with
 * fr_config_free). On failure returns FR_ECONFIG (or FR_EIO when the file
 * cannot be read) and err->msg says file:line:col, the key and what to do.
 */
int fr_config_load(const char *path, const struct fr_config_section *const *sections,
                   struct fr_config **out, struct fr_err *err);
/*
 * The same from a string; name stands for the file in messages, and its
 * directory is the base of relative file: secret paths ("." for a bare name).
 */
int fr_config_load_string(const char *yaml, size_t len, const char *name,
                          const struct fr_config_section *const *sections, struct fr_config **out,
                          struct fr_err *err);
void fr_config_free(struct fr_config *cfg);

/*
 * Fails for the first secret under scope whose ${NAME} was unset at load:
 * FR_ECONFIG, err->msg the load's message for it (file:line:col, the key,
 * the variable's name; never a value). scope is a key path: "targets.im"
 * (target im's secrets), "webhooks" (every webhook source's secrets and the
 * admin token), "webhooks.sources.crm"; NULL means every secret of the
 * file. Returns 0 when every secret under scope resolved.
 */
int fr_config_require_secrets(const struct fr_config *cfg, const char *scope, struct fr_err *err);

#endif
