/*
 * observer.h: how a layer reports metrics without knowing who keeps them.
 *
 * A lower floor (http, job, hooks) is handed a const struct fr_observer *
 * by its caller and reports each sample through it, naming the family by
 * its catalogue id (core/metric_catalogue.h). obs implements it on a
 * registry (fr_metrics_observer in obs/metrics.h) and src/cli hands that
 * down; a unit test or a command that does not care hands NULL, and every
 * report is then a no-op. No floor below obs reaches a registry itself.
 *
 * labels: the catalogue's label values for id, in its label order, exactly
 * that many strings, borrowed for the call. A member function left NULL
 * ignores that kind of report.
 *
 * Threads: the reporting layer may call from any of its threads at once,
 * so an implementation must be thread-safe (the registry's is). The
 * observer is borrowed: it outlives whatever it was handed to.
 */
#ifndef FR_CORE_OBSERVER_H
#define FR_CORE_OBSERVER_H

#include "core/common.h"

#include "core/metric_catalogue.h"

struct fr_observer {
    /* Counter or gauge: adds v (a counter ignores a negative v). */
    void (*add)(void *ctx, enum fr_metric_id id, const char *const *labels, double v);
    /* Gauge: sets v. */
    void (*set)(void *ctx, enum fr_metric_id id, const char *const *labels, double v);
    /* Histogram: one observation of v (seconds). */
    void (*observe)(void *ctx, enum fr_metric_id id, const char *const *labels, double v);
    void *ctx; /* handed to each function */
};

/* o->add, or nothing when o (or its add) is NULL. */
void fr_observer_add(const struct fr_observer *o, enum fr_metric_id id, const char *const *labels,
                     double v);
/* o->set, or nothing when o (or its set) is NULL. */
void fr_observer_set(const struct fr_observer *o, enum fr_metric_id id, const char *const *labels,
                     double v);
/* o->observe, or nothing when o (or its observe) is NULL. */
void fr_observer_observe(const struct fr_observer *o, enum fr_metric_id id,
                         const char *const *labels, double v);

#endif
