/*
 * metric_catalogue.h: the families of metrics ferry exposes, as data.
 *
 * Every family is a row of one catalogue (described in docs/operations.md):
 * its id (enum fr_metric_id, FR_M_*), type, name (ferry_ prefix, base
 * units, _total on counters), label names and help. It lives in core so
 * that every floor can name a metric when it reports one through the
 * observer it is handed (core/observer.h); the registry that keeps the
 * samples and writes the Prometheus text is obs/metrics.h.
 */
#ifndef FR_CORE_METRIC_CATALOGUE_H
#define FR_CORE_METRIC_CATALOGUE_H

#include "core/common.h"

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

/* "2xx".."5xx" for an HTTP status, "error" for 0 (no response), "other" otherwise. */
const char *fr_metric_status_class(int status);

#endif
