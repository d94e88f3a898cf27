#include "core/common.h"
#include "job/job_conf.h"

#include <ctype.h>
#include <strings.h>

#include "core/buf.h"
#include "core/config_table.h"
#include "job/job_conf_int.h"

#define ALWAYS FR__CFG_ALWAYS

/* FR__CFG_ENUM fields are written through an int. */
_Static_assert(sizeof(enum fr_job_kind) == sizeof(int), "enum fr_job_kind is not an int");

static const char *const job_kinds[] = {[FR_JOB_PUSH] = "push", [FR_JOB_PULL] = "pull", NULL};

/* ---- alert thresholds (both kinds) ---------------------------------------- */

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

static int parse_request(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field)
{
    struct fr_job_conf *j = field;
    if (j->kind == FR_JOB_PULL)
        return fr__cfg_parse_mapping(ld, node, path, &fr__job_pull_request_table, &j->pull.request);
    return fr__cfg_parse_mapping(ld, node, path, &fr__job_request_table, &j->request);
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
    char *known = fr__cfg_quoted_list(job_kinds, FR_ARRAY_LEN(job_kinds) - 1);
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
        j->metrics_file = fr__job_resolve_path(ld, j->metrics_file);
    yaml_node_t *tz = fr__cfg_found(&fr__job_job_table, found, "timezone");
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
     .sub = &fr__job_source_table,
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
     .custom = fr__job_parse_map,
     .only = PUSH,
     .required = PUSH,
     .help = "the payload fields, each a source column or a literal"},
    {.name = "results",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, results),
     .custom = fr__job_parse_results,
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
     .custom = fr__job_parse_lookup,
     .only = PUSH,
     .help = "a request that tells whether a key already exists"},
    {.name = "rollback",
     .type = FR__CFG_CUSTOM,
     .offset = offsetof(struct fr_job_conf, rollback),
     .custom = fr__job_parse_rollback,
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
     .custom = fr__job_parse_paging,
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
     .custom = fr__job_parse_watermark,
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
     .sub = &fr__job_pull_sink_table,
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

const struct fr__cfg_table fr__job_job_table = {job_keys, FR_ARRAY_LEN(job_keys), "kind",
                                                "job kind", check_job};

static int check_job(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path, void *base,
                     yaml_node_t **found)
{
    struct fr_job_conf *j = base;
    int ops = check_ops(ld, path, j, found);
    if (ops)
        return ops;
    if (j->kind == FR_JOB_PULL)
        return fr__job_check_pull(ld, map, path, j, found);
    const char **names = fr_calloc(j->nmap, sizeof(*names));
    bool mapped = false;
    for (size_t i = 0; i < j->nmap; i++) {
        names[i] = j->map[i].name;
        mapped = mapped || strcmp(j->map[i].name, j->key) == 0;
    }
    int rc = 0;
    if (!mapped) {
        char *cp = fr__cfg_child_path(path, "key");
        char *list = fr__cfg_quoted_list(names, j->nmap);
        const char *near = fr__cfg_suggest(j->key, names, j->nmap);
        rc = fr__cfg_fail(ld, fr__cfg_found(&fr__job_job_table, found, "key"), cp,
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
    fr__cfg_apply_defaults(&fr__job_job_table, j);
    fr__cfg_apply_defaults(&fr__job_request_table, &j->request);
    fr__cfg_apply_defaults(&fr__job_paging_table, &j->pull.paging);
    fr__cfg_apply_defaults(&fr__job_results_table, &j->results);
    j->results.created = fr_calloc(1, sizeof(*j->results.created));
    j->results.created[0] = fr_strdup("CREATED");
    j->results.ncreated = 1;
    j->results.duplicate = fr_calloc(1, sizeof(*j->results.duplicate));
    j->results.duplicate[0] = fr_strdup("DUPLICATE");
    j->results.nduplicate = 1;
    fr__cfg_apply_defaults(&fr__job_lookup_table, &j->lookup);
    fr__cfg_apply_defaults(&fr__job_rollback_table, &j->rollback);
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
    return fr__cfg_parse_mapping(ld, value, path, &fr__job_job_table, j);
}

static int parse_jobs(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field)
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
        yaml_node_t *sink = fr__cfg_member(ld, job, "sink");
        rc = fr__cfg_fail(ld, sink ? sink : job, cp,
                          "the sink is the store's own file (%s); write records to another file",
                          store);
        free(cp);
    }
    free(resolved);
    return rc;
}

/* Jobs name targets, which may come later in the file: checked once both are read. */
static int check_jobs(struct fr__cfg_loader *ld, yaml_node_t *jobs)
{
    struct fr_config *cfg = ld->cfg;
    if (!jobs)
        return 0;
    yaml_node_pair_t *p = jobs->data.mapping.pairs.start;
    for (size_t i = 0; i < cfg->njobs; i++, p++) {
        const struct fr_job_conf *j = &cfg->jobs[i];
        int rc = check_sink_not_store(ld, fr__cfg_node(ld, p->value), j);
        if (rc)
            return rc;
        if (fr_target_find(cfg, j->target))
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
        char *list = fr__cfg_quoted_list(names, cfg->ntargets);
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

static void release_jobs(struct fr_config *cfg)
{
    for (size_t i = 0; i < cfg->njobs; i++)
        job_release(&cfg->jobs[i]);
    free(cfg->jobs);
    cfg->jobs = NULL;
    cfg->njobs = 0;
}

const struct fr_job_conf *fr_job_find(const struct fr_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->njobs; i++)
        if (strcmp(cfg->jobs[i].name, name) == 0)
            return &cfg->jobs[i];
    return NULL;
}

int fr_job_require_secrets(const struct fr_config *cfg, const struct fr_job_conf *job,
                           struct fr_err *err)
{
    char *scope = fr_asprintf("targets.%s", job->target);
    int rc = fr_config_require_secrets(cfg, scope, err);
    free(scope);
    return rc;
}

const struct fr_config_section fr_jobs_section = {
    .key = {.name = "jobs",
            .type = FR__CFG_CUSTOM,
            .offset = 0,
            .custom = parse_jobs,
            .help = "named jobs (push or pull)"},
    .finish = check_jobs,
    .release = release_jobs,
};
