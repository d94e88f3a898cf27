/*
 * metrics.h: ferry's metrics (counters, gauges, histograms with labels)
 * and their Prometheus text exposition (format 0.0.4).
 *
 * Every family ferry exposes is a row of one catalogue (enum fr_metric_id,
 * described in docs/operations.md): its name (ferry_ prefix, base units,
 * _total on counters), help, type, label names and, for histograms, the
 * bucket bounds. A family is written with its HELP and TYPE even before it
 * has a sample, so a scrape always shows the whole catalogue.
 *
 * A registry holds the samples; fr_metrics_global() is the process's, the
 * one the HTTP client, the jobs, the webhook server and the dispatcher
 * write to. Label values are given in the catalogue's label order, as an
 * array of exactly that many strings (never NULL; copied on first use).
 *
 * Threads: every function is thread-safe (one mutex per registry; a sample
 * costs one lock and a short linear search among the family's series).
 * Label values must not carry secrets: they end up on a scrape.
 */
#ifndef FR_OBS_METRICS_H
#define FR_OBS_METRICS_H

#include "core/common.h"

#include "core/error.h"

#define FR_METRIC_MAX_LABELS 3

enum fr_metric_type { FR_METRIC_COUNTER, FR_METRIC_GAUGE, FR_METRIC_HISTOGRAM };

/* The catalogue: ID, type, name, labels (a parenthesised list), help. */
#define FR_METRICS_CATALOGUE(X)                                                                    \
    X(BUILD_INFO, GAUGE, "ferry_build_info", ("version"), "Always 1; the version is a label.")     \
    X(HTTP_REQUESTS, COUNTER, "ferry_http_requests_total", ("target", "method", "status_class"),   \
      "Requests put on the wire to a target (every attempt), by status class: 2xx, 3xx, 4xx, "     \
      "5xx, or error when no response arrived.")                                                   \
    X(HTTP_DURATION, HISTOGRAM, "ferry_http_request_duration_seconds", ("target", "method"),       \
      "Time from sending a request to its response (each attempt).")                               \
    X(HTTP_RETRIES, COUNTER, "ferry_http_retries_total", ("target"),                               \
      "Attempts after the first one of a request.")                                                \
    X(HTTP_RATE_LIMITED, COUNTER, "ferry_http_rate_limited_total", ("target"),                     \
      "429 responses from a target.")                                                              \
    X(HTTP_TOKEN_REFRESHES, COUNTER, "ferry_http_token_refreshes_total", ("target"),               \
      "OAuth2 tokens fetched for a target.")                                                       \
    X(HTTP_TOKEN_LIFETIME, GAUGE, "ferry_http_token_lifetime_seconds", ("target"),                 \
      "expires_in of the last token fetched for a target.")                                        \
    X(HTTP_BREAKER_OPEN, GAUGE, "ferry_http_breaker_open", ("target"),                             \
      "1 while the target's circuit breaker is open, else 0.")                                     \
    X(HTTP_BREAKER_TRIPS, COUNTER, "ferry_http_breaker_trips_total", ("target"),                   \
      "Times the target's circuit breaker opened.")                                                \
    X(JOB_RECORDS, COUNTER, "ferry_job_records_total", ("job", "outcome"),                         \
      "Records of a job's runs by outcome: read, created, duplicate, skipped, failed, rejected, "  \
      "changed, written.")                                                                         \
    X(JOB_RUNS, COUNTER, "ferry_job_runs_total", ("job", "status"),                                \
      "Runs of a job by final status: ok or failed.")                                              \
    X(JOB_LAST_RUN, GAUGE, "ferry_job_last_run_timestamp_seconds", ("job"),                        \
      "When the job's last run ended (Unix time).")                                                \
    X(JOB_LAST_SUCCESS, GAUGE, "ferry_job_last_success_timestamp_seconds", ("job"),                \
      "When the job's last successful run ended (Unix time).")                                     \
    X(JOB_LAST_DURATION, GAUGE, "ferry_job_last_run_duration_seconds", ("job"),                    \
      "How long the job's last run took.")                                                         \
    X(WEBHOOK_RECEIVED, COUNTER, "ferry_webhook_received_total", ("source"),                       \
      "Webhook requests that reached a source's path.")                                            \
    X(WEBHOOK_ACCEPTED, COUNTER, "ferry_webhook_accepted_total", ("source"),                       \
      "Webhook events verified and stored.")                                                       \
    X(WEBHOOK_DUPLICATE, COUNTER, "ferry_webhook_duplicate_total", ("source"),                     \
      "Webhook events verified and already stored (answered 200, not stored again).")              \
    X(WEBHOOK_REJECTED, COUNTER, "ferry_webhook_rejected_total", ("source", "reason"),             \
      "Webhook requests refused, by reason: method, too_large, signature, store, budget.")         \
    X(WEBHOOK_CONNECTIONS_CLOSED, COUNTER, "ferry_webhook_connections_closed_total", ("reason"),   \
      "Connections the webhook server closed before a request on them was complete, by reason: "   \
      "header_timeout, body_timeout, slow_body, framing.")                                         \
    X(WEBHOOK_QUEUE_DEPTH, GAUGE, "ferry_webhook_queue_depth", ("source"),                         \
      "Events stored and not yet delivered or dead-lettered.")                                     \
    X(WEBHOOK_OLDEST_PENDING, GAUGE, "ferry_webhook_oldest_pending_age_seconds", ("source"),       \
      "Age of the oldest pending event; 0 when none is pending.")                                  \
    X(WEBHOOK_DEAD_LETTERS, GAUGE, "ferry_webhook_dead_letters", ("source"),                       \
      "Events in the dead-letter queue.")                                                          \
    X(DELIVERY_ATTEMPTS, COUNTER, "ferry_delivery_attempts_total", ("source", "outcome"),          \
      "Delivery attempts of webhook events by outcome: delivered, retry, dead.")                   \
    X(DELIVERY_DURATION, HISTOGRAM, "ferry_delivery_duration_seconds", ("source"),                 \
      "Time one delivery attempt took.")                                                           \
    X(ALERTS_FIRING, GAUGE, "ferry_alerts_firing", ("alert"),                                      \
      "Trend alerts firing now (1) or not (0).")

enum fr_metric_id {
#define FR__METRIC_ENUM(id, type, name, labels, help) FR_M_##id,
    FR_METRICS_CATALOGUE(FR__METRIC_ENUM)
#undef FR__METRIC_ENUM
        FR_M__COUNT
};

struct fr_metric_def {
    const char *name;
    enum fr_metric_type type;
    const char *help;
    const char *labels[FR_METRIC_MAX_LABELS]; /* NULL after the last */
    size_t nlabels;
};

/* The catalogue row of id. Borrowed, static. */
const struct fr_metric_def *fr_metric_def(enum fr_metric_id id);

/* Histogram bucket upper bounds, in seconds (the same for every histogram; +Inf is implied). */
#define FR_METRIC_NBUCKETS 14
extern const double fr_metric_buckets[FR_METRIC_NBUCKETS];

struct fr_metrics;

struct fr_metrics *fr_metrics_new(void);
void fr_metrics_free(struct fr_metrics *m);
/* The process's registry, created on first use, never freed. */
struct fr_metrics *fr_metrics_global(void);

/* Counter or gauge: adds v (a counter takes v >= 0 only; a negative v is ignored). */
void fr_metric_add(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels, double v);
/* Gauge: sets v. */
void fr_metric_set(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels, double v);
/* Histogram: one observation of v (seconds). */
void fr_metric_observe(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels,
                       double v);
/* A counter's or gauge's value (a histogram's count); 0 when the series does not exist. */
double fr_metric_get(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels);

/* One series as handed to fr_metrics_each; everything borrowed for the call. */
struct fr_metric_sample {
    const char *const *labels; /* nlabels values */
    double value;              /* counter, gauge */
    /* histogram: buckets[i] counts observations <= fr_metric_buckets[i] (cumulative) */
    const uint64_t *buckets;
    uint64_t count;
    double sum;
};

/*
 * Calls fn for every series of family id, under the registry's lock: fn
 * must not call into the registry.
 */
void fr_metrics_each(struct fr_metrics *m, enum fr_metric_id id,
                     void (*fn)(const struct fr_metric_sample *s, void *ud), void *ud);

/* The whole registry in the Prometheus text format. Caller frees. */
char *fr_metrics_text(struct fr_metrics *m);

/*
 * Writes the exposition to path atomically: a temporary file in the same
 * directory, fsync'd, renamed over path (for node_exporter's textfile
 * collector, which must never read half a file). FR_EIO with err on failure.
 */
int fr_metrics_write_file(struct fr_metrics *m, const char *path, struct fr_err *err);

struct fr_run;
/*
 * A finished run of a job in the metrics: its records by outcome (only the
 * outcomes with a non-zero count, so a push job shows no "written"), its
 * status, when it ended and, when ok, the last success.
 */
void fr_metrics_note_run(struct fr_metrics *m, const struct fr_run *run);

/* "2xx".."5xx" for an HTTP status, "error" for 0 (no response), "other" otherwise. */
const char *fr_metric_status_class(int status);

#endif
