/*
 * job_conf.h: the jobs section of ferry.yaml (jobs: NAME: {...}), push and
 * pull, parsed in the layer that runs them: job_conf.c (the job table and
 * the keys of both kinds), push_conf.c (source, request, map, results,
 * lookup, rollback), pull_conf.c (request, paging, watermark, sink). See
 * core/config.h for the file as a whole.
 */
#ifndef FR_JOB_JOB_CONF_H
#define FR_JOB_JOB_CONF_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "core/cron.h"
#include "http/http_conf.h"

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

/* The section "jobs", for the list src/cli loads with; after "targets" and "store". */
extern const struct fr_config_section fr_jobs_section;

/* The job of that name, or NULL. Borrowed from cfg. */
const struct fr_job_conf *fr_job_find(const struct fr_config *cfg, const char *name);

/* The secrets a run of job uses (its target's): fr_config_require_secrets for them. */
int fr_job_require_secrets(const struct fr_config *cfg, const struct fr_job_conf *job,
                           struct fr_err *err);

#endif
