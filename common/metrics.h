/*
 * metrics.h — a process-wide Prometheus registry: counters, gauges and
 * histograms with labels, rendered in the text exposition format (0.0.4).
 *
 * Metrics are registered once at start-up and never removed; a metric's
 * children (one per label-value tuple) are created on first use. Updates
 * take the metric's own mutex, so hot paths in different modules never
 * contend. Gauges may instead be computed at scrape time by a callback
 * (queue depth, cache sizes), which costs nothing between scrapes.
 */
#ifndef LBP_COMMON_METRICS_H
#define LBP_COMMON_METRICS_H

#include <stddef.h>

#include "common/buf.h"

enum lbp_metric_type { LBP_COUNTER, LBP_GAUGE, LBP_HISTOGRAM };

struct lbp_metric;

/*
 * Registers a metric. labels is a comma-separated list of label names
 * ("cloud,operation") or NULL. Registering the same name twice returns the
 * first one (so modules may register idempotently); a type or label
 * mismatch returns NULL.
 */
struct lbp_metric *lbp_metric_new(enum lbp_metric_type type, const char *name, const char *help,
                                  const char *labels);
/* A histogram with the given upper bounds (ascending; +Inf is implicit). */
struct lbp_metric *lbp_histogram_new(const char *name, const char *help, const char *labels,
                                     const double *bounds, size_t n_bounds);
/* A gauge whose value is fn(ctx), read at scrape time; no labels. */
struct lbp_metric *lbp_gauge_fn_new(const char *name, const char *help, double (*fn)(void *ctx),
                                    void *ctx);

/* values: one string per label name, in order (NULL when the metric has no labels). */
void lbp_metric_add(struct lbp_metric *m, const char *const *values, double v);
void lbp_metric_set(struct lbp_metric *m, const char *const *values, double v);
void lbp_metric_observe(struct lbp_metric *m, const char *const *values, double v);
/* The current value of a counter/gauge child (0 when it does not exist); for tests. */
double lbp_metric_value(struct lbp_metric *m, const char *const *values);

/* Default buckets for API latency in seconds: 5 ms … 60 s. */
extern const double lbp_latency_buckets[];
extern const size_t lbp_latency_buckets_n;

/*
 * A collector runs at the start of every render, before any metric is
 * written: it copies counters a module keeps elsewhere (client stats,
 * /proc/self) into registered metrics with lbp_metric_set. At most 16.
 */
int lbp_metrics_collector_add(void (*fn)(void *ctx), void *ctx);
/* Removes the collector registered with exactly this fn and ctx. */
void lbp_metrics_collector_remove(void (*fn)(void *ctx), void *ctx);

/* Appends every registered metric to out in the text format. */
int lbp_metrics_render(struct lbp_buf *out);
/* Frees everything registered; at exit, so leak checkers stay quiet. */
void lbp_metrics_reset(void);

#endif
