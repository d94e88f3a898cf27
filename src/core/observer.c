#include "core/common.h"
#include "core/observer.h"

void fr_observer_add(const struct fr_observer *o, enum fr_metric_id id, const char *const *labels,
                     double v)
{
    if (o && o->add)
        o->add(o->ctx, id, labels, v);
}

void fr_observer_set(const struct fr_observer *o, enum fr_metric_id id, const char *const *labels,
                     double v)
{
    if (o && o->set)
        o->set(o->ctx, id, labels, v);
}

void fr_observer_observe(const struct fr_observer *o, enum fr_metric_id id,
                         const char *const *labels, double v)
{
    if (o && o->observe)
        o->observe(o->ctx, id, labels, v);
}
