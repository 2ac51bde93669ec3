/*
 * metrics.c — the Prometheus registry (see metrics.h).
 *
 * The registry is a list of metrics under one lock taken only to register
 * and to render. Each metric keeps its children in a uthash keyed by the
 * label values joined with a 0x1f separator (a byte no label value carries
 * in practice; values holding it still work, they only share a hash
 * bucket more often).
 */
#include "common/metrics.h"
#include "common/rc.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_LABELS 8

const double lbp_latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                      1,     2.5,  5,     10,   30,  60};
const size_t lbp_latency_buckets_n = sizeof(lbp_latency_buckets) / sizeof(lbp_latency_buckets[0]);

struct metric_child {
    char *key; /* joined label values */
    char *values[MAX_LABELS];
    double value; /* counter/gauge; histogram sum */
    unsigned long long count;
    unsigned long long *buckets; /* histogram: per-bound counts (not cumulative) */
    UT_hash_handle hh;
};

struct lbp_metric {
    enum lbp_metric_type type;
    char *name;
    char *help;
    char *labels[MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    double (*fn)(void *ctx);
    void *fn_ctx;
    pthread_mutex_t mu;
    struct metric_child *children;
    struct lbp_metric *next;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lbp_metric *registry_head, *registry_tail;

#define MAX_COLLECTORS 16
struct collector {
    void (*fn)(void *ctx);
    void *ctx;
};
/* Separate from registry_mu: collectors call lbp_metric_set, which never takes it. */
static pthread_mutex_t collectors_mu = PTHREAD_MUTEX_INITIALIZER;
static struct collector collectors[MAX_COLLECTORS];

static size_t split_labels(const char *labels, char **out)
{
    size_t n = 0;
    if (!labels || !*labels)
        return 0;
    const char *p = labels;
    while (*p && n < MAX_LABELS) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        out[n++] = strndup(p, len);
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

static void metric_free(struct lbp_metric *m)
{
    struct metric_child *c, *tmp;
    HASH_ITER(hh, m->children, c, tmp)
    {
        HASH_DEL(m->children, c);
        for (size_t i = 0; i < m->n_labels; i++)
            free(c->values[i]);
        free(c->buckets);
        free(c->key);
        free(c);
    }
    for (size_t i = 0; i < m->n_labels; i++)
        free(m->labels[i]);
    pthread_mutex_destroy(&m->mu);
    free(m->bounds);
    free(m->name);
    free(m->help);
    free(m);
}

static bool same_labels(const struct lbp_metric *m, char **labels, size_t n)
{
    if (m->n_labels != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(m->labels[i], labels[i]) != 0)
            return false;
    return true;
}

static struct lbp_metric *metric_register(enum lbp_metric_type type, const char *name,
                                          const char *help, const char *labels,
                                          const double *bounds, size_t n_bounds)
{
    struct lbp_metric *m, *found = NULL;
    char *names[MAX_LABELS];
    size_t n = split_labels(labels, names);

    pthread_mutex_lock(&registry_mu);
    for (m = registry_head; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            break;
    if (m) {
        found = (m->type == type && same_labels(m, names, n)) ? m : NULL;
        pthread_mutex_unlock(&registry_mu);
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        return found;
    }
    m = calloc(1, sizeof(*m));
    if (!m)
        goto fail;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    memcpy(m->labels, names, n * sizeof(char *));
    m->n_labels = n;
    n = 0;
    if (n_bounds) {
        m->bounds = malloc(n_bounds * sizeof(double));
        if (m->bounds)
            memcpy(m->bounds, bounds, n_bounds * sizeof(double));
        m->n_bounds = n_bounds;
    }
    pthread_mutex_init(&m->mu, NULL);
    if (!m->name || !m->help || (n_bounds && !m->bounds)) {
        metric_free(m);
        m = NULL;
        goto fail;
    }
    if (registry_tail)
        registry_tail->next = m;
    else
        registry_head = m;
    registry_tail = m;
fail:
    pthread_mutex_unlock(&registry_mu);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return m;
}

struct lbp_metric *lbp_metric_new(enum lbp_metric_type type, const char *name, const char *help,
                                  const char *labels)
{
    if (type == LBP_HISTOGRAM)
        return lbp_histogram_new(name, help, labels, lbp_latency_buckets, lbp_latency_buckets_n);
    return metric_register(type, name, help, labels, NULL, 0);
}

struct lbp_metric *lbp_histogram_new(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t n_bounds)
{
    return metric_register(LBP_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

struct lbp_metric *lbp_gauge_fn_new(const char *name, const char *help, double (*fn)(void *ctx),
                                    void *ctx)
{
    struct lbp_metric *m = metric_register(LBP_GAUGE, name, help, NULL, NULL, 0);
    if (m) {
        pthread_mutex_lock(&m->mu);
        m->fn = fn;
        m->fn_ctx = ctx;
        pthread_mutex_unlock(&m->mu);
    }
    return m;
}

/* Finds or creates the child for values; called with m->mu held. */
static struct metric_child *child_get(struct lbp_metric *m, const char *const *values, bool create)
{
    char key[1024];
    size_t off = 0;
    struct metric_child *c;

    /* Runs on every update: joined by hand, as printf costs more than the lookup. */
    key[0] = '\0';
    for (size_t i = 0; i < m->n_labels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        size_t sep = i ? 1 : 0, n = strlen(v);
        if (off + sep + n >= sizeof(key))
            return NULL; /* absurdly long label values are not recorded */
        if (sep)
            key[off++] = '\x1f';
        memcpy(key + off, v, n);
        off += n;
        key[off] = '\0';
    }
    HASH_FIND_STR(m->children, key, c);
    if (c || !create)
        return c;
    c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->key = strdup(key);
    bool ok = c->key != NULL;
    for (size_t i = 0; i < m->n_labels && ok; i++)
        ok = (c->values[i] = strdup(values && values[i] ? values[i] : "")) != NULL;
    if (ok && m->type == LBP_HISTOGRAM)
        ok = (c->buckets = calloc(m->n_bounds ? m->n_bounds : 1, sizeof(*c->buckets))) != NULL;
    if (!ok) {
        for (size_t i = 0; i < m->n_labels; i++)
            free(c->values[i]);
        free(c->buckets);
        free(c->key);
        free(c);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, m->children, c->key, strlen(c->key), c);
    return c;
}

void lbp_metric_add(struct lbp_metric *m, const char *const *values, double v)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    struct metric_child *c = child_get(m, values, true);
    if (c)
        c->value += v;
    pthread_mutex_unlock(&m->mu);
}

void lbp_metric_set(struct lbp_metric *m, const char *const *values, double v)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    struct metric_child *c = child_get(m, values, true);
    if (c)
        c->value = v;
    pthread_mutex_unlock(&m->mu);
}

void lbp_metric_observe(struct lbp_metric *m, const char *const *values, double v)
{
    if (!m || m->type != LBP_HISTOGRAM)
        return;
    pthread_mutex_lock(&m->mu);
    struct metric_child *c = child_get(m, values, true);
    if (c) {
        c->value += v;
        c->count++;
        for (size_t i = 0; i < m->n_bounds; i++)
            if (v <= m->bounds[i]) {
                c->buckets[i]++;
                break;
            }
    }
    pthread_mutex_unlock(&m->mu);
}

double lbp_metric_value(struct lbp_metric *m, const char *const *values)
{
    double v = 0;
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    struct metric_child *c = child_get(m, values, false);
    if (c)
        v = m->type == LBP_HISTOGRAM ? (double)c->count : c->value;
    pthread_mutex_unlock(&m->mu);
    return v;
}

/* Label values escaped as the text format requires: backslash, quote, newline. */
static int add_escaped(struct lbp_buf *out, const char *s)
{
    int rc = LBP_OK;
    for (; *s && !rc; s++) {
        if (*s == '\\')
            rc = lbp_buf_adds(out, "\\\\");
        else if (*s == '"')
            rc = lbp_buf_adds(out, "\\\"");
        else if (*s == '\n')
            rc = lbp_buf_adds(out, "\\n");
        else
            rc = lbp_buf_add(out, s, 1);
    }
    return rc;
}

static int add_value(struct lbp_buf *out, double v)
{
    if (isinf(v))
        return lbp_buf_adds(out, v > 0 ? "+Inf" : "-Inf");
    if (isnan(v))
        return lbp_buf_adds(out, "NaN");
    return lbp_buf_addf(out, "%.17g", v);
}

/* name{a="x",b="y"[,le="..."]} value */
static int add_sample(struct lbp_buf *out, const struct lbp_metric *m, const char *suffix,
                      const struct metric_child *c, const char *le, double v)
{
    int rc = lbp_buf_addf(out, "%s%s", m->name, suffix);
    bool any = (c && m->n_labels) || le;
    if (!rc && any)
        rc = lbp_buf_adds(out, "{");
    for (size_t i = 0; c && !rc && i < m->n_labels; i++) {
        rc = lbp_buf_addf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        if (!rc)
            rc = add_escaped(out, c->values[i]);
        if (!rc)
            rc = lbp_buf_adds(out, "\"");
    }
    if (!rc && le)
        rc = lbp_buf_addf(out, "%sle=\"%s\"", c && m->n_labels ? "," : "", le);
    if (!rc && any)
        rc = lbp_buf_adds(out, "}");
    if (!rc)
        rc = lbp_buf_adds(out, " ");
    if (!rc)
        rc = add_value(out, v);
    if (!rc)
        rc = lbp_buf_adds(out, "\n");
    return rc;
}

static int render_metric(struct lbp_buf *out, struct lbp_metric *m)
{
    static const char *types[] = {"counter", "gauge", "histogram"};
    struct metric_child *c, *tmp;
    int rc = lbp_buf_adds(out, "# HELP ");

    if (!rc)
        rc = lbp_buf_adds(out, m->name);
    if (!rc)
        rc = lbp_buf_adds(out, " ");
    for (const char *h = m->help; !rc && *h; h++) /* HELP escapes only \ and newline */
        rc = *h == '\\'   ? lbp_buf_adds(out, "\\\\")
             : *h == '\n' ? lbp_buf_adds(out, "\\n")
                          : lbp_buf_add(out, h, 1);
    if (!rc)
        rc = lbp_buf_addf(out, "\n# TYPE %s %s\n", m->name, types[m->type]);
    if (rc)
        return rc;
    if (m->fn)
        return add_sample(out, m, "", NULL, NULL, m->fn(m->fn_ctx));
    if (!m->children && m->n_labels == 0 && m->type != LBP_HISTOGRAM)
        return add_sample(out, m, "", NULL, NULL, 0); /* an unlabelled metric always shows */
    HASH_ITER(hh, m->children, c, tmp)
    {
        if (m->type != LBP_HISTOGRAM) {
            rc = add_sample(out, m, "", c, NULL, c->value);
        } else {
            unsigned long long cum = 0;
            char le[32];
            for (size_t i = 0; !rc && i < m->n_bounds; i++) {
                cum += c->buckets[i];
                snprintf(le, sizeof(le), "%g", m->bounds[i]);
                rc = add_sample(out, m, "_bucket", c, le, (double)cum);
            }
            if (!rc)
                rc = add_sample(out, m, "_bucket", c, "+Inf", (double)c->count);
            if (!rc)
                rc = add_sample(out, m, "_sum", c, NULL, c->value);
            if (!rc)
                rc = add_sample(out, m, "_count", c, NULL, (double)c->count);
        }
        if (rc)
            break;
    }
    return rc;
}

int lbp_metrics_collector_add(void (*fn)(void *ctx), void *ctx)
{
    int rc = LBP_NOMEM;
    pthread_mutex_lock(&collectors_mu);
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (!collectors[i].fn) {
            collectors[i].fn = fn;
            collectors[i].ctx = ctx;
            rc = LBP_OK;
            break;
        }
    pthread_mutex_unlock(&collectors_mu);
    return rc;
}

void lbp_metrics_collector_remove(void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&collectors_mu);
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (collectors[i].fn == fn && collectors[i].ctx == ctx)
            collectors[i].fn = NULL;
    pthread_mutex_unlock(&collectors_mu);
}

int lbp_metrics_render(struct lbp_buf *out)
{
    int rc = LBP_OK;
    /* Held through the calls so a module cannot remove (and free) its context mid-scrape. */
    pthread_mutex_lock(&collectors_mu);
    for (size_t i = 0; i < MAX_COLLECTORS; i++)
        if (collectors[i].fn)
            collectors[i].fn(collectors[i].ctx);
    pthread_mutex_unlock(&collectors_mu);
    pthread_mutex_lock(&registry_mu);
    for (struct lbp_metric *m = registry_head; m && !rc; m = m->next) {
        pthread_mutex_lock(&m->mu);
        rc = render_metric(out, m);
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_unlock(&registry_mu);
    return rc;
}

void lbp_metrics_reset(void)
{
    pthread_mutex_lock(&collectors_mu);
    memset(collectors, 0, sizeof(collectors));
    pthread_mutex_unlock(&collectors_mu);
    pthread_mutex_lock(&registry_mu);
    struct lbp_metric *m = registry_head;
    registry_head = registry_tail = NULL;
    pthread_mutex_unlock(&registry_mu);
    while (m) {
        struct lbp_metric *next = m->next;
        metric_free(m);
        m = next;
    }
}
