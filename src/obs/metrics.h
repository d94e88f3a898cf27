/*
 * metrics.h: ferry's metrics (counters, gauges, histograms with labels)
 * and their Prometheus text exposition (format 0.0.4).
 *
 * Every family ferry exposes is a row of one catalogue (enum fr_metric_id,
 * core/metric_catalogue.h, described in docs/operations.md); histograms
 * share the bucket bounds below. A family is written with its HELP and
 * TYPE even before it has a sample, so a scrape always shows the whole
 * catalogue.
 *
 * A registry holds the samples. The floors below obs do not reach one:
 * they report through the observer they are handed (core/observer.h),
 * which src/cli makes from the process's registry with
 * fr_metrics_observer (the HTTP client through fr_http_client_set_observer).
 * Label values are given in the catalogue's label order, as an array of
 * exactly that many strings (never NULL; copied on first use).
 *
 * Threads: every function is thread-safe (one mutex per registry; a sample
 * costs one lock and a short linear search among the family's series).
 * Label values must not carry secrets: they end up on a scrape.
 */
#ifndef FR_OBS_METRICS_H
#define FR_OBS_METRICS_H

#include "core/common.h"

#include "core/error.h"
#include "core/metric_catalogue.h"
#include "core/observer.h"

/* Histogram bucket upper bounds, in seconds (the same for every histogram; +Inf is implied). */
#define FR_METRIC_NBUCKETS 14
extern const double fr_metric_buckets[FR_METRIC_NBUCKETS];

struct fr_metrics;

struct fr_metrics *fr_metrics_new(void);
void fr_metrics_free(struct fr_metrics *m);
/*
 * The process's registry, created on first use with ferry_build_info set,
 * never freed: what `ferry serve` scrapes and `ferry run` writes to its
 * metrics_file. Only src/obs and src/cli use it; everything else is
 * handed an observer.
 */
struct fr_metrics *fr_metrics_global(void);

/*
 * An observer that records into m (borrowed: m outlives every holder of
 * the observer), with fr_metric_add, fr_metric_set and fr_metric_observe.
 */
struct fr_observer fr_metrics_observer(struct fr_metrics *m);

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

#endif
