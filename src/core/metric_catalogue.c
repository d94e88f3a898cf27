#include "core/common.h"
#include "core/metric_catalogue.h"

#define STRIP_PARENS(...) __VA_ARGS__
#define COUNT_LABELS(...) (sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *))

static const struct fr_metric_def defs[FR_M__COUNT] = {
#define DEF_ROW(id, type, name, labels, help)                                                      \
    [FR_M_##id] = {name, FR_METRIC_##type, help, {STRIP_PARENS labels}, COUNT_LABELS labels},
    FR_METRICS_CATALOGUE(DEF_ROW)
#undef DEF_ROW
};

const struct fr_metric_def *fr_metric_def(enum fr_metric_id id)
{
    FR_ASSERT(id < FR_M__COUNT);
    return &defs[id];
}

const char *fr_metric_status_class(int status)
{
    static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    if (status == 0)
        return "error";
    if (status >= 100 && status < 600)
        return classes[status / 100 - 1];
    return "other";
}
