#include "core/common.h"
#include "job/pull.h"

#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/hex.h"
#include "core/jsonptr.h"
#include "core/log.h"
#include "core/redact.h"
#include "http/client.h"
#include "http/url.h"
#include "job/map.h"
#include "job/report.h"
#include "job/run.h"
#include "job/run_metrics.h"
#include "job/schema.h"
#include "job/sink.h"
#include "job/job_conf.h"

/* The placeholder of request parameters. */
#define WATERMARK_PLACEHOLDER "{{watermark}}"

struct pull {
    const struct fr_target_conf *tconf; /* the job's target, or NULL */
    const struct fr_job_conf *job;
    const struct fr_pull_conf *conf;
    const struct fr_pull_opts *opts;
    struct fr_store *st;
    struct fr_pull_result *out;
    struct fr_run_counts *counts;
    struct fr_http_client *client;
    struct fr_http_target *target;
    struct fr_url_origin origin; /* where the first page is: next links must stay there */
    struct fr_schema *schema;
    struct fr_sink *sink, *rejects;
    struct fr_sink_conf rejects_conf;
    json_t *wm;       /* the largest watermark so far (owned), NULL without a watermark */
    bool wm_warned;   /* a record's watermark field was of another type: said once */
    char *first_url;  /* absolute */
    json_t *followed; /* SHA-256 (hex) of every URL fetched -> true */
    struct fr_run_failure *failures; /* of the current page, for the store */
    size_t nfailures, capfailures;
    bool stop;
    int64_t started_ms, last_progress_ms;
};

/* ---- helpers the unit tests reach ----------------------------------------------------- */

/*
 * The target of the first link with rel "next" in a Link header value
 * (RFC 8288: `<url>; rel="next"`, links separated by commas, rel may hold
 * several space-separated types, quoted or not). Caller frees; NULL when none.
 */
char *fr__pull_link_next(const char *header)
{
    const char *p = header;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p != '<')
            return NULL; /* malformed: nothing to trust */
        const char *end = strchr(p, '>');
        if (!end)
            return NULL;
        const char *target = p + 1;
        size_t target_len = (size_t)(end - target);
        p = end + 1;
        bool next = false;
        /* parameters up to the comma that ends this link (commas inside quotes do not) */
        while (*p && *p != ',') {
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            const char *name = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                p++;
            size_t name_len = (size_t)(p - name);
            while (*p == ' ')
                p++;
            const char *value = NULL;
            size_t value_len = 0;
            if (*p == '=') {
                p++;
                while (*p == ' ')
                    p++;
                if (*p == '"') {
                    value = ++p;
                    while (*p && *p != '"')
                        p++;
                    value_len = (size_t)(p - value);
                    if (*p == '"')
                        p++;
                } else {
                    value = p;
                    while (*p && *p != ';' && *p != ',' && *p != ' ')
                        p++;
                    value_len = (size_t)(p - value);
                }
            }
            if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && value) {
                /* space-separated relation types */
                const char *v = value, *vend = value + value_len;
                while (v < vend) {
                    while (v < vend && *v == ' ')
                        v++;
                    const char *t = v;
                    while (v < vend && *v != ' ')
                        v++;
                    if (v - t == 4 && strncasecmp(t, "next", 4) == 0)
                        next = true;
                }
            }
            while (*p == ' ')
                p++;
            if (*p && *p != ';' && *p != ',')
                p++; /* skip what cannot be parsed */
        }
        if (next)
            return fr_strndup(target, target_len);
    }
    return NULL;
}

/*
 * Orders two watermark values: < 0, 0, > 0; 2 when they cannot be
 * compared (a string and a number). Numbers compare as numbers; two
 * RFC 3339 date-times compare as instants (so "...:00Z" equals
 * "...:00.000Z" and offsets are honoured); other strings compare bytewise.
 */
int fr__pull_watermark_cmp(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) < json_integer_value(b)   ? -1
                   : json_integer_value(a) > json_integer_value(b) ? 1
                                                                   : 0;
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (!json_is_string(a) || !json_is_string(b))
        return 2;
    int64_t x, y;
    if (fr_parse_rfc3339(json_string_value(a), &x) == 0 &&
        fr_parse_rfc3339(json_string_value(b), &y) == 0)
        return x < y ? -1 : x > y ? 1 : 0;
    int c = strcmp(json_string_value(a), json_string_value(b));
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* The text a watermark stands for in a request parameter. Caller frees. */
static char *watermark_text(json_t *wm)
{
    if (json_is_string(wm))
        return fr_strdup(json_string_value(wm));
    char *s = json_dumps(wm, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    return s ? s : fr_strdup("");
}

/* A query parameter name: unreserved characters and "$" (OData's system options) stay. */
static void add_query_name(struct fr_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~$", c))
            fr_buf_addc(b, (char)c);
        else
            fr_buf_addf(b, "%%%02X", c);
    }
}

/*
 * The first page's URL: base (the target's base_url and api_version path),
 * the request path, and each parameter with {{watermark}} replaced by wm
 * (NULL: none). Values are percent-encoded. Caller frees.
 */
char *fr__pull_first_url(const char *base, const struct fr_pull_request_conf *req, json_t *wm)
{
    struct fr_buf b = FR_BUF_INIT;
    fr_buf_addf(&b, "%s%s", base, req->path);
    char sep = strchr(req->path, '?') ? '&' : '?';
    char *wm_text = wm ? watermark_text(wm) : NULL;
    for (size_t i = 0; i < req->nparams; i++) {
        const struct fr_query_param *q = &req->params[i];
        struct fr_buf value = FR_BUF_INIT;
        fr_buf_adds(&value, "");
        for (const char *v = q->value; *v;) {
            const char *at = strstr(v, WATERMARK_PLACEHOLDER);
            if (!at || !wm_text) {
                fr_buf_adds(&value, v);
                break;
            }
            fr_buf_add(&value, v, (size_t)(at - v));
            fr_buf_adds(&value, wm_text);
            v = at + strlen(WATERMARK_PLACEHOLDER);
        }
        char *enc = fr_http_escape(fr_buf_str(&value));
        fr_buf_addc(&b, sep);
        add_query_name(&b, q->name);
        fr_buf_addc(&b, '=');
        fr_buf_adds(&b, enc);
        free(enc);
        fr_buf_release(&value);
        sep = '&';
    }
    free(wm_text);
    return fr_buf_detach(&b, NULL);
}

/* ---- failures and counts ------------------------------------------------------------- */

static void fatal(struct pull *p, int code, const char *fmt, ...) FR_PRINTF(3, 4);
static void fatal(struct pull *p, int code, const char *fmt, ...)
{
    if (!p->out->code) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = fr_vasprintf(fmt, ap);
        va_end(ap);
        p->out->code = code;
        fr_err_set(&p->out->err, code, 0, "%s", msg);
        FR_LOG_ERROR("pull stopped", FR_LS("error", p->out->err.msg));
        free(msg);
    }
    p->stop = true;
}

static void flush_failures(struct pull *p)
{
    if (p->nfailures && !p->opts->dry_run && !p->stop) {
        struct fr_err err = {0};
        if (fr_store_run_add_failures(p->st, p->out->run.id, p->failures, p->nfailures, &err))
            fatal(p, FR_ESTORE, "%s", err.msg);
    }
    for (size_t i = 0; i < p->nfailures; i++) {
        free((char *)p->failures[i].key);
        free((char *)p->failures[i].reason);
    }
    p->nfailures = 0;
}

/* A record that does not go to the sink: counted, logged, kept (rejects file, store, summary). */
static void reject(struct pull *p, json_t *record, const char *key, json_t *reasons)
{
    uint64_t n = p->counts->read;
    p->counts->rejected++;
    /* The reasons may quote the API's values: redacted before the summary and the store keep
     * them (the rejects file keeps the record as it came, like the sink). */
    char *raw = fr_schema_reasons_text(reasons);
    char *text = fr_redact_str(raw);
    free(raw);
    FR_LOG_WARN("record rejected", FR_LS("source_ref", key), FR_LI("record", n),
                FR_LS("reasons", text));
    if (p->rejects) {
        json_t *line = json_pack("{s:s?, s:I, s:O, s:O}", "key", key, "record_number",
                                 (json_int_t)n, "reasons", reasons, "record", record);
        struct fr_err err = {0};
        if (fr_sink_write(p->rejects, line, NULL, &err))
            fatal(p, FR_EIO, "%s", err.msg);
        json_decref(line);
    }
    if (json_array_size(p->out->failures) < FR_PULL_SUMMARY_FAILURES)
        json_array_append_new(p->out->failures,
                              json_pack("{s:s?, s:I, s:s, s:s}", "key", key, "line", (json_int_t)n,
                                        "kind", "rejected", "reason", text));
    p->out->failures_total++;
    if (p->nfailures == p->capfailures) {
        p->capfailures = p->capfailures ? 2 * p->capfailures : 16;
        p->failures = fr_reallocarray(p->failures, p->capfailures, sizeof(*p->failures));
    }
    p->failures[p->nfailures++] = (struct fr_run_failure){
        .key = key ? fr_strdup(key) : NULL, .line = n, .kind = "rejected", .reason = text};
}

static void reject_one(struct pull *p, json_t *record, const char *key, const char *reason)
{
    json_t *reasons = json_pack("[s]", reason);
    reject(p, record, key, reasons);
    json_decref(reasons);
}

/* ---- records ------------------------------------------------------------------------- */

static void note_watermark(struct pull *p, json_t *record)
{
    if (!p->wm)
        return;
    json_t *v = fr_sink_field(record, p->conf->watermark.field);
    if (!v || json_is_null(v))
        return;
    int c = fr__pull_watermark_cmp(v, p->wm);
    if (c == 2) {
        if (!p->wm_warned)
            FR_LOG_WARN("a record's watermark field is not of the watermark's type; such values "
                        "are ignored",
                        FR_LS("field", p->conf->watermark.field));
        p->wm_warned = true;
        return;
    }
    if (c > 0) {
        json_decref(p->wm);
        p->wm = json_incref(v);
    }
}

static void process(struct pull *p, json_t *record)
{
    p->counts->read++;
    char *key = NULL;
    if (json_is_object(record) && p->job->key)
        key = fr_map_key(record, p->job->key);
    if (!json_is_object(record)) {
        char *why = fr_asprintf("(record): expected an object, found %s",
                                json_is_array(record)    ? "an array"
                                : json_is_string(record) ? "a string"
                                : json_is_null(record)   ? "null"
                                                         : "a scalar");
        reject_one(p, record, NULL, why);
        free(why);
        return;
    }
    json_t *reasons = NULL;
    if (p->schema && !fr_schema_validate(p->schema, record, &reasons)) {
        reject(p, record, key, reasons);
        json_decref(reasons);
    } else if (p->job->key && !key) {
        char *why =
            fr_asprintf("%s: the key is missing, empty or not a string or number", p->job->key);
        reject_one(p, record, NULL, why);
        free(why);
    } else {
        struct fr_err err = {0};
        if (p->sink && fr_sink_write(p->sink, record, key, &err))
            fatal(p, FR_EIO, "%s", err.msg);
        else
            p->counts->written++;
        note_watermark(p, record);
    }
    free(key);
}

/* ---- pages --------------------------------------------------------------------------- */

static void progress(struct pull *p, bool final)
{
    if (!p->opts->progress)
        return;
    int64_t now = fr_now_ms();
    if (!final && now - p->last_progress_ms < FR_PROGRESS_EVERY_MS)
        return;
    p->last_progress_ms = now;
    struct fr_progress pg = {.pull = true,
                             .counts = p->counts,
                             .total = -1,
                             .elapsed_ms = now - p->started_ms,
                             .final = final};
    p->opts->progress(p->opts->progress_ud, &pg);
}

/* url for messages: secrets in it redacted. Caller frees. */
static char *shown(const char *url)
{
    return fr_redact_str(url);
}

/* Whether url may be fetched with the target's credentials; fatal otherwise. */
static bool allowed(struct pull *p, const char *url, uint64_t page)
{
    struct fr_url_origin o;
    if (fr_url_origin(url, &o) != 0) {
        char *s = shown(url);
        fatal(p, FR_EPARSE, "page %llu: the next link \"%s\" is not an http(s) URL",
              (unsigned long long)page, s);
        free(s);
        return false;
    }
    bool same = strcmp(o.host, p->origin.host) == 0 && o.port == p->origin.port;
    for (size_t i = 0; !same && i < p->conf->paging.nallow_hosts; i++)
        same = fr_url_origin_matches(&o, p->conf->paging.allow_hosts[i]);
    if (same && strcmp(p->origin.scheme, "https") == 0 && strcmp(o.scheme, "https") != 0) {
        char *s = shown(url);
        fatal(p, FR_EPARSE,
              "page %llu: the next link \"%s\" leaves https for %s; refused (the token would go "
              "in clear)",
              (unsigned long long)page, s, o.scheme);
        free(s);
        return false;
    }
    if (!same) {
        char *s = shown(url);
        fatal(p, FR_EPARSE,
              "page %llu: the next link \"%s\" points to %s:%ld, not to the target's host %s:%ld; "
              "refused, so the token is not sent there (list the host under paging.allow_hosts "
              "if the API really pages across hosts)",
              (unsigned long long)page, s, o.host, o.port, p->origin.host, p->origin.port);
        free(s);
        return false;
    }
    return true;
}

/* Marks url followed; false (and fatal) when it was already. */
static bool first_visit(struct pull *p, const char *url, uint64_t page)
{
    char hex[FR_SHA256_HEX_LEN + 1];
    fr_sha256_hex(url, strlen(url), hex);
    if (json_object_get(p->followed, hex)) {
        char *s = shown(url);
        fatal(p, FR_EPARSE,
              "page %llu: the API's next link repeats one already followed (\"%s\"); stopped "
              "instead of looping (a server-side paging bug)",
              (unsigned long long)page, s);
        free(s);
        return false;
    }
    json_object_set_new(p->followed, hex, json_true());
    return true;
}

/* The next page's URL (caller frees), NULL after the last page or when p->stop. */
static char *next_url(struct pull *p, const char *url, json_t *page, const char *link_header)
{
    uint64_t n = p->counts->pages;
    char *ref = NULL;
    switch (p->conf->paging.type) {
    case FR_PAGING_NONE:
        return NULL;
    case FR_PAGING_ODATA: {
        json_t *l = json_object_get(page, "@odata.nextLink");
        if (!l || json_is_null(l))
            return NULL;
        if (!json_is_string(l) || !json_string_length(l)) {
            fatal(p, FR_EPARSE, "page %llu: @odata.nextLink is not a URL string",
                  (unsigned long long)n);
            return NULL;
        }
        ref = fr_strdup(json_string_value(l));
        break;
    }
    case FR_PAGING_LINK:
        ref = link_header ? fr__pull_link_next(link_header) : NULL;
        if (!ref)
            return NULL;
        break;
    case FR_PAGING_CURSOR: {
        json_t *c = fr_json_pointer(page, p->conf->paging.cursor_path);
        if (!c || json_is_null(c) || (json_is_string(c) && !json_string_length(c)))
            return NULL;
        if (!json_is_string(c) && !json_is_integer(c)) {
            fatal(p, FR_EPARSE, "page %llu: the cursor at %s is neither a string nor an integer",
                  (unsigned long long)n, p->conf->paging.cursor_path);
            return NULL;
        }
        char *text = watermark_text(c);
        char *enc = fr_http_escape(text);
        struct fr_buf b = FR_BUF_INIT;
        fr_buf_addf(&b, "%s%c", p->first_url, strchr(p->first_url, '?') ? '&' : '?');
        add_query_name(&b, p->conf->paging.cursor_param);
        fr_buf_addf(&b, "=%s", enc);
        free(text);
        free(enc);
        return fr_buf_detach(&b, NULL); /* built on the first URL: same host */
    }
    }
    char *abs = NULL;
    if (fr_url_resolve(url, ref, &abs) != 0) {
        char *s = shown(ref);
        fatal(p, FR_EPARSE, "page %llu: the next link \"%s\" is not a URL", (unsigned long long)n,
              s);
        free(s);
    }
    free(ref);
    return abs;
}

static const char *kind_name(json_t *v)
{
    if (!v)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_STRING:
        return "a string";
    case JSON_NULL:
        return "null";
    default:
        return "a scalar";
    }
}

/* Fetches url as page number p->counts->pages + 1; returns the next URL or NULL. */
static char *fetch(struct pull *p, const char *url)
{
    uint64_t n = p->counts->pages + 1;
    if (n > (uint64_t)p->conf->paging.max_pages) {
        fatal(p, FR_EPARSE,
              "more than %lld pages (paging.max_pages); stopped. Raise it if the API really has "
              "that many pages",
              (long long)p->conf->paging.max_pages);
        return NULL;
    }
    if (!first_visit(p, url, n) || (n > 1 && !allowed(p, url, n)))
        return NULL;
    struct fr_http_request req = {.method = "GET",
                                  .path = url,
                                  .body_rules = p->job->body_errors,
                                  .nbody_rules = p->job->nbody_errors};
    struct fr_http_result res;
    int64_t t0 = fr_now_ms();
    int rc = fr_http_perform(p->target, &req, &res);
    if (rc == FR_EINVAL) {
        fr_http_result_release(&res);
        char *s = shown(url);
        fatal(p, FR_EPARSE, "page %llu: cannot request \"%s\"", (unsigned long long)n, s);
        free(s);
        return NULL;
    }
    if (res.code != FR_OK) {
        fatal(p, res.code, "page %llu: %s", (unsigned long long)n, res.err.msg);
        fr_http_result_release(&res);
        return NULL;
    }
    p->counts->pages++;
    json_t *records = res.json ? fr_json_pointer(res.json, p->conf->records) : NULL;
    if (!res.json) {
        fatal(p, FR_EPARSE, "page %llu: the answer is not JSON (HTTP %d, %zu bytes)",
              (unsigned long long)n, res.status, res.body_len);
    } else if (!json_is_array(records)) {
        fatal(p, FR_EPARSE,
              "page %llu: the records at %s are not an array (found %s); nothing of this run "
              "was written",
              (unsigned long long)n, p->conf->records[0] ? p->conf->records : "(the page)",
              kind_name(records));
    }
    char *next = NULL;
    if (!p->stop) {
        size_t i;
        json_t *r;
        json_array_foreach(records, i, r)
        {
            process(p, r);
            if (p->stop)
                break;
        }
        FR_LOG_DEBUG("page", FR_LI("page", n), FR_LI("records", json_array_size(records)),
                     FR_LI("ms", fr_now_ms() - t0));
        flush_failures(p);
        if (!p->stop)
            next = next_url(p, url, res.json, res.link);
    }
    fr_http_result_release(&res);
    progress(p, false);
    return next;
}

/* ---- the run -------------------------------------------------------------------------- */

/* A watermark value from text: JSON for a number when the initial is one, else the text. */
static int parse_since(const struct fr_pull_conf *conf, const char *text, json_t **out)
{
    *out = NULL;
    if (json_is_number(conf->watermark.initial)) {
        json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
        if (!json_is_number(v)) {
            json_decref(v);
            return FR_EINVAL;
        }
        *out = v;
        return 0;
    }
    *out = json_string(text);
    return *out ? 0 : FR_EINVAL;
}

/* The watermark the run starts from (new reference into *out). */
static int load_watermark(struct pull *p, json_t **out, struct fr_err *err)
{
    const struct fr_pull_conf *c = p->conf;
    *out = NULL;
    if (!c->watermark.configured)
        return 0;
    if (p->opts->since) {
        if (parse_since(c, p->opts->since, out))
            return fr_err_set(err, FR_ECONFIG, 0,
                              "--since %s: the watermark of job %s is a %s; give one",
                              p->opts->since, p->job->name,
                              json_is_number(c->watermark.initial) ? "number" : "string");
        return 0;
    }
    if (!p->opts->full) {
        char *text = NULL;
        int rc = fr_store_watermark_get(p->st, p->job->name, &text, NULL, NULL, err);
        if (rc == FR_OK) {
            *out = json_loads(text, JSON_DECODE_ANY, NULL);
            free(text);
            if (*out)
                return 0;
            FR_LOG_WARN("the saved watermark is unreadable; starting from watermark.initial");
        } else if (rc != FR_ENOTFOUND) {
            return rc;
        }
    }
    *out = json_incref(c->watermark.initial);
    return 0;
}

static int setup(struct pull *p, json_t **start_wm, struct fr_err *err)
{
    const struct fr_target_conf *tconf = p->tconf;
    if (!tconf)
        return fr_err_set(err, FR_ECONFIG, 0, "job %s: no target named %s", p->job->name,
                          p->job->target);
    int rc = load_watermark(p, start_wm, err);
    if (rc)
        return rc;
    if (*start_wm) {
        p->wm = json_incref(*start_wm);
        p->out->watermark_from = json_dumps(*start_wm, JSON_ENCODE_ANY);
    }
    char *base = tconf->api_version_path && *tconf->api_version_path
                     ? fr_asprintf("%s/%s", tconf->base_url, tconf->api_version_path)
                     : fr_strdup(tconf->base_url);
    p->first_url = fr__pull_first_url(base, &p->conf->request, *start_wm);
    free(base);
    if (fr_url_origin(p->first_url, &p->origin) != 0)
        return fr_err_set(err, FR_ECONFIG, 0, "job %s: the first page's URL is not http(s)",
                          p->job->name);
    if (p->conf->schema) {
        rc = fr_schema_load(p->conf->schema, &p->schema, err);
        if (rc) {
            err->code = FR_ECONFIG;
            return FR_ECONFIG;
        }
    }
    rc = fr_http_client_new(&p->client, err);
    if (!rc)
        fr_http_client_set_observer(p->client, p->opts->observer);
    if (!rc)
        rc = fr_http_target_new(p->client, tconf, &p->target, err);
    if (rc || p->opts->dry_run)
        return rc;
    int64_t now = fr_wall_ms();
    if ((rc = fr_sink_open(&p->conf->sink, now, &p->sink, err)))
        return err->code = FR_ECONFIG;
    if (p->conf->rejects) {
        p->rejects_conf = (struct fr_sink_conf){.type = FR_SINK_JSONL, .path = p->conf->rejects};
        if ((rc = fr_sink_open(&p->rejects_conf, now, &p->rejects, err)))
            return err->code = FR_ECONFIG;
    }
    return 0;
}

/* Commits the sink, then the rejects, then saves the watermark: in that order only. */
static void commit(struct pull *p)
{
    if (p->opts->dry_run || p->stop)
        return;
    struct fr_err err = {0};
    if (fr_sink_commit(p->sink, &err) || (p->rejects && fr_sink_commit(p->rejects, &err))) {
        fatal(p, FR_EIO, "%s", err.msg);
        return;
    }
    if (!p->wm)
        return;
    char *text = json_dumps(p->wm, JSON_ENCODE_ANY);
    if (fr_store_watermark_set(p->st, p->job->name, text, p->out->run.id, fr_wall_ms(), &err)) {
        fatal(p, FR_ESTORE, "%s (the sink was written; the next run fetches these records again)",
              err.msg);
        free(text);
        return;
    }
    FR_LOG_INFO("watermark saved", FR_LS("field", p->conf->watermark.field),
                FR_LS("from", p->out->watermark_from), FR_LS("to", text));
    p->out->watermark_to = text;
}

/* The run's exit code (opts->exit_status), status and reason from its code, threshold, signal. */
static void settle_status(struct fr_pull_result *r, const struct fr_pull_opts *opts)
{
    struct fr_run *run = &r->run;
    run->exit_code = opts->exit_status(r->code, r->over_threshold, r->signo);
    fr_strlcpy(run->status, fr_run_status_name(run->exit_code, r->signo), sizeof(run->status));
    fr_run_reason(run->reason, sizeof(run->reason), r->code, &r->err, &run->counts,
                  r->over_threshold, r->signo);
}

static void log_summary(const struct pull *p)
{
    const struct fr_pull_result *r = p->out;
    const struct fr_run_counts *c = &r->run.counts;
    struct fr_buf keys = FR_BUF_INIT;
    fr_report_failure_keys(&keys, r->failures, r->failures_total, r->run.id, "record");
    char started[40], ended[40];
    fr_format_rfc3339(r->run.started_ms, started, sizeof(started));
    fr_format_rfc3339(r->run.ended_ms, ended, sizeof(ended));
    int64_t ms = r->run.ended_ms - r->run.started_ms;
    double secs = ms > 0 ? (double)ms / 1000.0 : 0.001;
    enum fr_log_level level = r->run.exit_code == 0   ? FR_LOG_INFO
                              : r->run.exit_code == 1 ? FR_LOG_CRITICAL
                                                      : FR_LOG_ERROR;
    FR__LOG(level, "run summary", FR_LS("job", r->run.job), FR_LS("kind", "pull"),
            FR_LS("status", r->run.status), FR_LS("started", started), FR_LS("ended", ended),
            FR_LI("exit_code", r->run.exit_code), FR_LB("dry_run", p->opts->dry_run),
            FR_LI("duration_ms", ms), FR_LI("pages", c->pages), FR_LI("read", c->read),
            FR_LI("written", c->written), FR_LI("rejected", c->rejected),
            FR_LI("requests", c->requests), FR_LI("retries", c->retries),
            FR_LI("rate_limited", c->rate_limited), FR_LI("token_refreshes", c->token_refreshes),
            FR_LD("records_per_s", (double)c->read / secs),
            FR_LD("pages_per_s", (double)c->pages / secs),
            FR_LS("watermark_from", r->watermark_from), FR_LS("watermark_to", r->watermark_to),
            FR_LS("rejected_keys", keys.len ? fr_buf_str(&keys) : NULL),
            FR_LS("error", r->code ? r->err.msg : NULL),
            FR_LS("reason", r->run.reason[0] ? r->run.reason : NULL));
    fr_buf_release(&keys);
}

int fr_pull_run(const struct fr_job_conf *job, const struct fr_target_conf *tconf,
                struct fr_store *st, const struct fr_pull_opts *opts, struct fr_pull_result *out)
{
    FR_ASSERT(opts->exit_status);
    memset(out, 0, sizeof(*out));
    out->failures = json_array();
    struct fr_run *run = &out->run;
    fr_run_new_id(run->id, fr_wall_ms());
    fr_strlcpy(run->job, job->name, sizeof(run->job));
    fr_strlcpy(run->status, "running", sizeof(run->status));
    run->exit_code = -1;
    run->started_ms = fr_wall_ms();
    fr_run_identify(run);
    struct pull p = {.tconf = tconf,
                     .job = job,
                     .conf = &job->pull,
                     .opts = opts,
                     .st = st,
                     .out = out,
                     .counts = &run->counts,
                     .followed = json_object(),
                     .started_ms = fr_now_ms(),
                     .last_progress_ms = fr_now_ms()};
    fr_log_ctx_set("run_id", run->id);
    fr_log_ctx_set("job", job->name);

    struct fr_err err = {0};
    json_t *start_wm = NULL;
    bool begun = false;
    int rc = 0;
    if (!opts->dry_run) {
        rc = fr_store_run_begin(st, run, &err) ? FR_ESTORE : 0;
        begun = !rc;
    }
    if (!rc)
        rc = setup(&p, &start_wm, &err);
    FR_LOG_INFO("run started", FR_LS("kind", "pull"), FR_LS("target", job->target),
                FR_LB("dry_run", opts->dry_run), FR_LB("full", opts->full),
                FR_LS("since", opts->since), FR_LS("watermark_from", out->watermark_from),
                FR_LS("url", p.first_url ? p.first_url : NULL));
    if (rc) {
        fatal(&p, rc, "%s", err.msg);
    } else {
        char *url = fr_strdup(p.first_url);
        while (url && !p.stop) {
            if (fr_run_stop_signo(opts->stop)) {
                out->signo = fr_run_stop_signo(opts->stop);
                fatal(&p, FR_ECANCELED, "interrupted before fetching the next page");
                break;
            }
            char *next = fetch(&p, url);
            free(url);
            url = next;
        }
        free(url);
        flush_failures(&p);
        commit(&p);
    }
    progress(&p, true);

    if (p.target) {
        const struct fr_http_stats *hs = fr_http_target_stats(p.target);
        run->counts.requests = hs->sent;
        run->counts.retries = hs->retries;
        run->counts.rate_limited = hs->rate_limited;
        run->counts.token_refreshes = hs->token_fetches;
    }
    run->ended_ms = fr_wall_ms();
    out->over_threshold = !out->code && fr_report_over_threshold(&job->alert, &run->counts);
    settle_status(out, opts);
    if (begun) {
        struct fr_err ferr = {0};
        if (fr_store_run_finish(st, run, &ferr)) {
            out->code = FR_ESTORE;
            out->err = ferr;
            settle_status(out, opts);
        }
        fr_run_metrics_note(opts->observer, run);
    }
    log_summary(&p);
    fr_log_ctx_clear();

    json_decref(start_wm);
    json_decref(p.wm);
    json_decref(p.followed);
    for (size_t i = 0; i < p.nfailures; i++) {
        free((char *)p.failures[i].key);
        free((char *)p.failures[i].reason);
    }
    free(p.failures);
    fr_sink_free(p.sink);
    fr_sink_free(p.rejects);
    fr_schema_free(p.schema);
    fr_http_client_free(p.client);
    free(p.first_url);
    return out->code;
}

void fr_pull_result_release(struct fr_pull_result *r)
{
    json_decref(r->failures);
    free(r->watermark_from);
    free(r->watermark_to);
    r->failures = NULL;
    r->watermark_from = r->watermark_to = NULL;
}

json_t *fr_pull_summary_json(const struct fr_pull_result *r)
{
    const struct fr_run *run = &r->run;
    const struct fr_run_counts *c = &run->counts;
    char started[40], ended[40];
    fr_format_rfc3339(run->started_ms, started, sizeof(started));
    fr_format_rfc3339(run->ended_ms, ended, sizeof(ended));
    json_t *fails = r->failures ? json_incref(r->failures) : json_array();
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, "
                          "s:I, s:I, s:I}, s:o, s:I, s:b, s:s?, s:s?}",
                          "job", run->job, "kind", "pull", "run_id", run->id, "status", run->status,
                          "exit_code", run->exit_code, "started", started, "ended", ended,
                          "duration_ms", (json_int_t)(run->ended_ms - run->started_ms), "counts",
                          "pages", (json_int_t)c->pages, "read", (json_int_t)c->read, "written",
                          (json_int_t)c->written, "rejected", (json_int_t)c->rejected, "requests",
                          (json_int_t)c->requests, "retries", (json_int_t)c->retries,
                          "rate_limited", (json_int_t)c->rate_limited, "token_refreshes",
                          (json_int_t)c->token_refreshes, "failures", fails, "failures_total",
                          (json_int_t)r->failures_total, "over_threshold", r->over_threshold,
                          "watermark_from", r->watermark_from, "watermark_to", r->watermark_to);
    if (r->code && j)
        json_object_set_new(j, "error", json_string(r->err.msg));
    return j;
}
