/*
 * config.h: ferry.yaml loaded into typed structs.
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
 * fr_config_require_secrets (or fr_config_require_job_secrets) for its part
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

#include <jansson.h>

#include "core/cron.h"
#include "core/error.h"
#include "core/units.h"
#include "hooks/verify.h"

/*
 * Where a value stands in the config file: the 1-based line and column of
 * the value's node as libyaml saw it; {0, 0} when the key was not written
 * (or the struct was built by hand).
 */
struct fr_conf_pos {
    int line, col;
};

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

enum fr_rate_mode { FR_RATE_NONE, FR_RATE_FIXED, FR_RATE_ADAPTIVE };

struct fr_rate_conf {
    enum fr_rate_mode mode;
    struct fr_rate rate; /* FR_RATE_FIXED only */
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

/* ---- jobs ----------------------------------------------------------------------------- */

enum fr_job_kind { FR_JOB_PUSH, FR_JOB_PULL };

enum fr_source_type { FR_SOURCE_CSV, FR_SOURCE_JSONL, FR_SOURCE_SQLITE };

struct fr_source_conf {
    enum fr_source_type type;
    char *path;  /* resolved against the config file's directory */
    char *query; /* sqlite only: the SELECT whose columns are the record's fields */
    struct fr_conf_pos path_pos, query_pos;
};

enum fr_field_type {
    FR_FIELD_STRING, /* the default */
    FR_FIELD_NUMBER,
    FR_FIELD_INTEGER,
    FR_FIELD_BOOLEAN,
    FR_FIELD_DATE, /* YYYY-MM-DD out; accepts YYYY-MM-DD, YYYY/MM/DD, RFC 3339 date-times */
};

/* One payload field: copied from a source column, or a literal. */
struct fr_map_field {
    char *name;    /* payload field name */
    char *from;    /* source column; NULL for a literal */
    json_t *value; /* the literal (after ${ENV} expansion), owned; NULL when from is set */
    enum fr_field_type type;
    bool required; /* an empty or missing source value rejects the record */
    int line, col;
};

struct fr_push_request_conf {
    char *method;   /* default POST */
    char *path;     /* required */
    int batch_size; /* default 100, 1..10000 */
    char
        *envelope; /* default "value": the body is {"value": [...]}; ignored when batch_size is 1 */
    uint64_t max_bytes; /* default 1MB: a batch body never exceeds it */
};

/* How to read per-record outcomes from a batch answer (absent: use the HTTP status). */
struct fr_results_conf {
    bool configured;
    char *path;     /* JSON pointer to the array of results; default "/results" */
    char *key;      /* member holding the record's key; default the job's key */
    char *status;   /* member holding the status; default "status" */
    char *message;  /* member holding the message; default "message" */
    char **created; /* status values meaning created; default ["CREATED"] */
    size_t ncreated;
    char **duplicate; /* default ["DUPLICATE"] */
    size_t nduplicate;
    char **retry; /* statuses worth one more pass; default none */
    size_t nretry;
};

/* A request built from a template where {{key}} is the record's key (URL-encoded in paths). */
struct fr_key_request_conf {
    bool configured;
    char *method;
    char *path;
    char *found; /* lookup only: JSON pointer that exists when the key is found */
};

/* ---- pull jobs (docs/pull.md) ---- */

/* One query parameter of a pull request; {{watermark}} in value is replaced at run time. */
struct fr_query_param {
    char *name;
    char *value; /* as written (numbers as their text), ${ENV} expanded */
};

struct fr_pull_request_conf {
    char *path; /* relative to the target's base_url, starting with "/", may hold a query */
    struct fr_query_param *params;
    size_t nparams;
};

enum fr_paging_type {
    FR_PAGING_ODATA,  /* @odata.nextLink in the page body (the default) */
    FR_PAGING_LINK,   /* RFC 8288 Link header with rel="next" */
    FR_PAGING_CURSOR, /* a cursor in the body, sent back as a query parameter */
    FR_PAGING_NONE,   /* one page */
};

struct fr_paging_conf {
    enum fr_paging_type type;
    char *cursor_path;  /* cursor only: JSON pointer to the next cursor in a page */
    char *cursor_param; /* cursor only: the query parameter that carries it */
    char *
        *allow_hosts; /* hosts ([host] or host:port) next links may point to besides the target's */
    size_t nallow_hosts;
    int64_t max_pages; /* a run stops with an error after this many pages; default 1000000 */
};

struct fr_watermark_conf {
    bool configured;
    char *field;     /* the record field whose largest value is kept */
    json_t *initial; /* the value before the first run: a string or a number; owned */
};

enum fr_sink_type { FR_SINK_JSONL, FR_SINK_CSV, FR_SINK_SQLITE };

struct fr_sink_conf {
    enum fr_sink_type type;
    char *path;     /* resolved against the config file's directory */
    char **columns; /* csv (required), sqlite (optional): field names or JSON pointers */
    size_t ncolumns;
    char *table; /* sqlite only: the table records are upserted into by key */
    struct fr_conf_pos path_pos;
};

struct fr_pull_conf {
    struct fr_pull_request_conf request;
    struct fr_paging_conf paging;
    char *records; /* JSON pointer to the array of records in a page; default "/value" */
    struct fr_watermark_conf watermark;
    char *schema; /* path of a JSON Schema file (resolved), or NULL */
    struct fr_sink_conf sink;
    char *rejects; /* path of the rejects file (resolved), or NULL: rejects are only counted */
    struct fr_conf_pos schema_pos, rejects_pos;
};

struct fr_job_alert_conf {
    int64_t max_errors;    /* -1: no limit */
    double max_error_rate; /* fraction; < 0: no limit */
};

struct fr_job_conf {
    char *name;
    enum fr_job_kind kind;
    char *target; /* the name of a target (checked to exist) */
    /* push jobs */
    struct fr_source_conf source;
    struct fr_push_request_conf request;
    /*
     * push: the payload field that is the idempotency key (must be mapped);
     * pull: the record field that identifies a record (required by a sqlite sink), or NULL
     */
    char *key;
    struct fr_map_field *map;
    size_t nmap;
    struct fr_results_conf results;
    struct fr_body_rule *body_errors;
    size_t nbody_errors;
    struct fr_key_request_conf lookup;
    struct fr_key_request_conf rollback;
    struct fr_job_alert_conf alert; /* both kinds */
    /* pull jobs */
    struct fr_pull_conf pull;
    /* operations (docs/operations.md) */
    int64_t max_age_ms;  /* a success older than this is stale; 0: no limit */
    char *schedule;      /* 5-field cron spec as written, or NULL: `ferry serve` never runs it */
    struct fr_cron cron; /* schedule parsed */
    char *timezone;      /* IANA zone the schedule is read in, or NULL: local time */
    char *metrics_file;  /* resolved path `ferry run` writes the run's metrics to, or NULL */
    int line, col;
};

/* ---- alerts --------------------------------------------------------------------------- */

enum fr_alert_type { FR_ALERT_WEBHOOK, FR_ALERT_EXEC };

struct fr_alert_sink_conf {
    enum fr_alert_type type;
    char *url;     /* webhook: POST JSON with a Slack-compatible "text" */
    char *command; /* exec: run with /bin/sh -c, the summary JSON on stdin */
    int line, col;
};

/*
 * Trend alerts (alerts: as a mapping): each rule is evaluated every
 * evaluate_ms over a sliding window and notifies the sinks once when it
 * starts to hold and once when it stops.
 */
struct fr_trend_rule_conf {
    bool enabled;      /* the key is present */
    int64_t window_ms; /* the sliding window */
    double above;      /* error_rate: the fraction of failed requests */
    int64_t above_ms;  /* latency_p95: the threshold */
    int64_t min;       /* error_rate, latency_p95: the fewest requests in the window to judge;
                          token_refresh: the factor; dead_letters: the growth that fires */
};

struct fr_trends_conf {
    int64_t evaluate_ms; /* default 15s */
    struct fr_trend_rule_conf error_rate, latency_p95, token_refresh, dead_letters;
    bool stale_jobs; /* default true: a job with max_age whose last success is older */
};

/* Thresholds of `ferry status --check` and /readyz's view of jobs and queues. */
struct fr_status_conf {
    int recent_runs;            /* runs the success rate is taken over; default 10 */
    double min_success_rate;    /* a lower recent success rate fails the check; default 0 (off) */
    int64_t max_dead_letters;   /* more dead letters in a source fail the check; default 0 */
    int64_t max_pending_age_ms; /* an older pending event fails the check; default 0 (off) */
};

/* ---- webhooks ------------------------------------------------------------------------- */

/*
 * One inbound webhook source: deliveries POSTed to path are verified under
 * scheme with any of secrets, then handed on to deliver_url (POST) or
 * deliver_exec (exactly one is set), retried with backoff.
 */
/* What makes two deliveries of a source the same event (webhooks.sources.NAME.dedupe). */
enum fr_dedupe {
    FR_DEDUPE_ID,          /* "id": the id the scheme names (webhook-id, X-GitHub-Delivery, ...) */
    FR_DEDUPE_CONTENT,     /* "content": the SHA-256 of the signed body */
    FR_DEDUPE_DELIVERY_ID, /* "delivery_id": github's word for FR_DEDUPE_ID */
};

struct fr_webhook_source_conf {
    char *name; /* the key under webhooks.sources */
    char *path; /* starts with "/", unique across sources */
    enum fr_verify_scheme scheme;
    char **secrets; /* signing secrets (rotation), each redacted; at least one */
    size_t nsecrets;
    int64_t tolerance_ms;        /* timestamp tolerance; default 5m, > 0 */
    char *hmac_header;           /* scheme hmac only (required there); else NULL */
    bool hmac_base64;            /* scheme hmac: encoding base64 (default hex: false) */
    char *hmac_prefix;           /* scheme hmac: optional, e.g. "sha256="; else NULL */
    char *hmac_timestamp_header; /* scheme hmac: optional; else NULL */
    char *deliver_url;           /* http(s) URL the event is POSTed to, or NULL */
    char *deliver_exec; /* command run by the shell in the config file's directory, or NULL */
    int64_t deliver_timeout_ms; /* default 10s for url, 30s for exec */
    int max_attempts;           /* default 8, 1..100 */
    int64_t base_ms, cap_ms;    /* backoff: default 1s and 10m, base <= cap */
    enum fr_dedupe dedupe;      /* default FR_DEDUPE_CONTENT for github, else FR_DEDUPE_ID */
    int line, col;              /* where the source is defined */
};

struct fr_webhooks_conf {
    bool configured;           /* the file has a webhooks section (then nsources >= 1) */
    char *listen;              /* "IP:PORT" or "[IPv6]:PORT"; default "127.0.0.1:8080" */
    uint64_t max_body;         /* bytes; default 1MB, at least 1KB */
    int64_t timeout_ms;        /* idle time allowed a connection; default 10s */
    int64_t header_timeout_ms; /* a request head must arrive within this; default 10s */
    int64_t body_timeout_ms;   /* a body must arrive within this of its head; default 60s */
    uint64_t min_body_rate;    /* bytes/s a body must average after its first seconds; 0: any */
    int max_connections;       /* connections served at once; default 4096 */
    int max_connections_per_client; /* from one client address; default 256, 0: no limit */
    uint64_t unverified_budget;     /* bytes of bodies held before verification; default 64MB */
    char **allowed_hosts;           /* Host names the operations endpoints answer; NULL: defaults */
    size_t nallowed_hosts;          /* follows allowed_hosts (a struct fr__cfg_strings) */
    int64_t retention_ms; /* delivered events are deleted this long after delivery; default 7d */
    char *admin_token;    /* secret: Bearer token for admin actions (replay, run now); NULL: none */
    bool protect_reads;   /* reads of the API need admin_token on a loopback listener too */
    struct fr_webhook_source_conf *sources;
    size_t nsources;
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

struct fr_config {
    char *path;  /* as given */
    char *dir;   /* directory of the file, for relative paths */
    char *store; /* "sqlite:ferry.db" by default; its password is registered with the redactor */
    struct fr_conf_pos store_pos; /* where store is written; {0, 0} for the default */
    struct fr_target_conf *targets;
    size_t ntargets;
    struct fr_job_conf *jobs;
    size_t njobs;
    struct fr_alert_sink_conf *alerts;
    size_t nalerts;
    struct fr_trends_conf trends;
    struct fr_status_conf status;
    struct fr_webhooks_conf webhooks;
    char **warnings; /* "file:line:col: ..." sentences, for the CLI to log */
    size_t nwarnings;
    struct fr_missing_secret *missing_secrets; /* in file order */
    size_t nmissing_secrets;
};

/*
 * The path to load: explicit (from -c) if not NULL, else $FERRY_CONFIG if
 * set and non-empty, else "ferry.yaml". Borrowed.
 */
const char *fr_config_default_path(const char *explicit_path);

/*
 * Loads and validates a file. On success *out is a new config (free with
 * fr_config_free). On failure returns FR_ECONFIG (or FR_EIO when the file
 * cannot be read) and err->msg says file:line:col, the key and what to do.
 */
int fr_config_load(const char *path, struct fr_config **out, struct fr_err *err);
/*
 * The same from a string; name stands for the file in messages, and its
 * directory is the base of relative file: secret paths ("." for a bare name).
 */
int fr_config_load_string(const char *yaml, size_t len, const char *name, struct fr_config **out,
                          struct fr_err *err);
void fr_config_free(struct fr_config *cfg);

/* The target of that name, or NULL. Borrowed from cfg. */
const struct fr_target_conf *fr_config_find_target(const struct fr_config *cfg, const char *name);
/* The job of that name, or NULL. Borrowed from cfg. */
const struct fr_job_conf *fr_config_find_job(const struct fr_config *cfg, const char *name);

/* The webhook source of that name, or NULL. Borrowed from cfg. */
const struct fr_webhook_source_conf *fr_config_find_source(const struct fr_config *cfg,
                                                           const char *name);

/*
 * Fails for the first secret under scope whose ${NAME} was unset at load:
 * FR_ECONFIG, err->msg the load's message for it (file:line:col, the key,
 * the variable's name; never a value). scope is a key path: "targets.im"
 * (target im's secrets), "webhooks" (every webhook source's secrets and the
 * admin token), "webhooks.sources.crm"; NULL means every secret of the
 * file. Returns 0 when every secret under scope resolved.
 */
int fr_config_require_secrets(const struct fr_config *cfg, const char *scope, struct fr_err *err);
/* The secrets a run of job uses (its target's): fr_config_require_secrets for them. */
int fr_config_require_job_secrets(const struct fr_config *cfg, const struct fr_job_conf *job,
                                  struct fr_err *err);

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
