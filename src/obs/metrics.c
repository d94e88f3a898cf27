#include "core/common.h"
#include "obs/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "core/buf.h"

const double fr_metric_buckets[FR_METRIC_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60,   120};

struct series {
    char *labels[FR_METRIC_MAX_LABELS];
    double value;
    uint64_t buckets[FR_METRIC_NBUCKETS]; /* non-cumulative while stored */
    uint64_t count;
    double sum;
};

struct family {
    struct series *v;
    size_t n, cap;
};

struct fr_metrics {
    pthread_mutex_t lock;
    struct family fam[FR_M__COUNT];
};

struct fr_metrics *fr_metrics_new(void)
{
    struct fr_metrics *m = fr_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void fr_metrics_free(struct fr_metrics *m)
{
    if (!m)
        return;
    for (size_t f = 0; f < FR_M__COUNT; f++) {
        for (size_t i = 0; i < m->fam[f].n; i++)
            for (size_t l = 0; l < fr_metric_def((enum fr_metric_id)f)->nlabels; l++)
                free(m->fam[f].v[i].labels[l]);
        free(m->fam[f].v);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static struct fr_metrics *global;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    global = fr_metrics_new();
    fr_metric_set(global, FR_M_BUILD_INFO, (const char *[]){FERRY_VERSION}, 1);
}

struct fr_metrics *fr_metrics_global(void)
{
    pthread_once(&global_once, global_init);
    return global;
}

static void observer_add(void *m, enum fr_metric_id id, const char *const *labels, double v)
{
    fr_metric_add(m, id, labels, v);
}

static void observer_set(void *m, enum fr_metric_id id, const char *const *labels, double v)
{
    fr_metric_set(m, id, labels, v);
}

static void observer_observe(void *m, enum fr_metric_id id, const char *const *labels, double v)
{
    fr_metric_observe(m, id, labels, v);
}

struct fr_observer fr_metrics_observer(struct fr_metrics *m)
{
    return (struct fr_observer){
        .add = observer_add, .set = observer_set, .observe = observer_observe, .ctx = m};
}

/* The series of id with these label values, or NULL; under the lock. */
static struct series *find(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels)
{
    struct family *f = &m->fam[id];
    size_t nl = fr_metric_def(id)->nlabels;
    for (size_t i = 0; i < f->n; i++) {
        size_t l = 0;
        while (l < nl && strcmp(f->v[i].labels[l], labels[l] ? labels[l] : "") == 0)
            l++;
        if (l == nl)
            return &f->v[i];
    }
    return NULL;
}

/* The series, created when new; under the lock. */
static struct series *get(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels)
{
    FR_ASSERT(id < FR_M__COUNT);
    struct series *s = find(m, id, labels);
    if (s)
        return s;
    struct family *f = &m->fam[id];
    FR_ALLOC_GROW(f->v, f->n + 1, f->cap);
    s = &f->v[f->n++];
    memset(s, 0, sizeof(*s));
    for (size_t l = 0; l < fr_metric_def(id)->nlabels; l++)
        s->labels[l] = fr_strdup(labels[l] ? labels[l] : "");
    return s;
}

void fr_metric_add(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels, double v)
{
    enum fr_metric_type type = fr_metric_def(id)->type;
    if (type == FR_METRIC_HISTOGRAM || (type == FR_METRIC_COUNTER && v < 0))
        return;
    pthread_mutex_lock(&m->lock);
    get(m, id, labels)->value += v;
    pthread_mutex_unlock(&m->lock);
}

void fr_metric_set(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels, double v)
{
    if (fr_metric_def(id)->type != FR_METRIC_GAUGE)
        return;
    pthread_mutex_lock(&m->lock);
    get(m, id, labels)->value = v;
    pthread_mutex_unlock(&m->lock);
}

void fr_metric_observe(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels,
                       double v)
{
    if (fr_metric_def(id)->type != FR_METRIC_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&m->lock);
    struct series *s = get(m, id, labels);
    size_t b = 0;
    while (b < FR_METRIC_NBUCKETS && v > fr_metric_buckets[b])
        b++;
    if (b < FR_METRIC_NBUCKETS)
        s->buckets[b]++;
    s->count++;
    s->sum += v;
    pthread_mutex_unlock(&m->lock);
}

double fr_metric_get(struct fr_metrics *m, enum fr_metric_id id, const char *const *labels)
{
    FR_ASSERT(id < FR_M__COUNT);
    pthread_mutex_lock(&m->lock);
    struct series *s = find(m, id, labels);
    bool histogram = fr_metric_def(id)->type == FR_METRIC_HISTOGRAM;
    double v = !s ? 0 : histogram ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

void fr_metrics_each(struct fr_metrics *m, enum fr_metric_id id,
                     void (*fn)(const struct fr_metric_sample *s, void *ud), void *ud)
{
    FR_ASSERT(id < FR_M__COUNT);
    pthread_mutex_lock(&m->lock);
    struct family *f = &m->fam[id];
    for (size_t i = 0; i < f->n; i++) {
        struct series *s = &f->v[i];
        uint64_t cum[FR_METRIC_NBUCKETS], acc = 0;
        for (size_t b = 0; b < FR_METRIC_NBUCKETS; b++)
            cum[b] = acc += s->buckets[b];
        struct fr_metric_sample sample = {
            .labels = (const char *const *)s->labels,
            .value = s->value,
            .buckets = cum,
            .count = s->count,
            .sum = s->sum,
        };
        fn(&sample, ud);
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- exposition ----------------------------------------------------------------------- */

/* A sample value as Prometheus reads it (Go's ParseFloat): integers without a fraction. */
static void add_number(struct fr_buf *b, double v)
{
    if (isnan(v))
        fr_buf_adds(b, "NaN");
    else if (isinf(v))
        fr_buf_adds(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        fr_buf_addf(b, "%.0f", v);
    else
        fr_buf_addf(b, "%.15g", v);
}

/* A label value escaped as the text format requires: \\, \" and \n. */
static void add_label_value(struct fr_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            fr_buf_adds(b, "\\\\");
        else if (*v == '"')
            fr_buf_adds(b, "\\\"");
        else if (*v == '\n')
            fr_buf_adds(b, "\\n");
        else
            fr_buf_addc(b, *v);
    }
}

/* HELP text escaped: \\ and \n. */
static void add_help(struct fr_buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            fr_buf_adds(b, "\\\\");
        else if (*v == '\n')
            fr_buf_adds(b, "\\n");
        else
            fr_buf_addc(b, *v);
    }
}

/* {a="x",b="y"} with an optional le; nothing when there are no labels at all. */
static void add_labels(struct fr_buf *b, const struct fr_metric_def *d, char *const *values,
                       const char *le)
{
    if (d->nlabels == 0 && !le)
        return;
    fr_buf_addc(b, '{');
    for (size_t l = 0; l < d->nlabels; l++) {
        fr_buf_addf(b, "%s%s=\"", l ? "," : "", d->labels[l]);
        add_label_value(b, values[l]);
        fr_buf_addc(b, '"');
    }
    if (le)
        fr_buf_addf(b, "%sle=\"%s\"", d->nlabels ? "," : "", le);
    fr_buf_addc(b, '}');
}

static void write_family(struct fr_buf *b, enum fr_metric_id id, const struct family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    const struct fr_metric_def *d = fr_metric_def(id);
    fr_buf_addf(b, "# HELP %s ", d->name);
    add_help(b, d->help);
    fr_buf_addf(b, "\n# TYPE %s %s\n", d->name, type_names[d->type]);
    for (size_t i = 0; i < f->n; i++) {
        const struct series *s = &f->v[i];
        if (d->type != FR_METRIC_HISTOGRAM) {
            fr_buf_adds(b, d->name);
            add_labels(b, d, s->labels, NULL);
            fr_buf_addc(b, ' ');
            add_number(b, s->value);
            fr_buf_addc(b, '\n');
            continue;
        }
        uint64_t acc = 0;
        for (size_t k = 0; k <= FR_METRIC_NBUCKETS; k++) {
            char le[32];
            if (k < FR_METRIC_NBUCKETS) {
                acc += s->buckets[k];
                snprintf(le, sizeof(le), "%g", fr_metric_buckets[k]);
            } else {
                acc = s->count;
                fr_strlcpy(le, "+Inf", sizeof(le));
            }
            fr_buf_addf(b, "%s_bucket", d->name);
            add_labels(b, d, s->labels, le);
            fr_buf_addf(b, " %llu\n", (unsigned long long)acc);
        }
        fr_buf_addf(b, "%s_sum", d->name);
        add_labels(b, d, s->labels, NULL);
        fr_buf_addc(b, ' ');
        add_number(b, s->sum);
        fr_buf_addf(b, "\n%s_count", d->name);
        add_labels(b, d, s->labels, NULL);
        fr_buf_addf(b, " %llu\n", (unsigned long long)s->count);
    }
}

char *fr_metrics_text(struct fr_metrics *m)
{
    struct fr_buf b;
    fr_buf_init(&b, 0);
    pthread_mutex_lock(&m->lock);
    for (size_t id = 0; id < FR_M__COUNT; id++)
        write_family(&b, (enum fr_metric_id)id, &m->fam[id]);
    pthread_mutex_unlock(&m->lock);
    size_t len;
    return fr_buf_detach(&b, &len);
}

int fr_metrics_write_file(struct fr_metrics *m, const char *path, struct fr_err *err)
{
    char *text = fr_metrics_text(m);
    char *tmp = fr_asprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = FR_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = fr_err_set(err, FR_EIO, errno, "metrics file %s: cannot create %s: %s", path, tmp,
                        strerror(errno));
        goto out;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc =
                fr_err_set(err, FR_EIO, errno, "metrics file %s: write: %s", path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!rc && fsync(fd) < 0)
        rc = fr_err_set(err, FR_EIO, errno, "metrics file %s: fsync: %s", path, strerror(errno));
    close(fd);
    if (!rc && rename(tmp, path) < 0)
        rc = fr_err_set(err, FR_EIO, errno, "metrics file %s: rename: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
out:
    free(tmp);
    free(text);
    return rc;
}
