/*
 * metrics.c — the service controller's metrics in the shared registry.
 *
 * The names follow upstream's service controller (subsystem
 * service_controller): loadbalancer_sync_total, nodesync_error_total and
 * the two latency histograms with upstream's buckets (1 s … 16384 s,
 * doubling). Hot paths keep bumping the plain atomics in struct
 * lbp_reconcile; a collector copies them into the registry at scrape
 * time, so a sync never takes a metric lock. Only the histograms are
 * observed where the event happens.
 */
#include "reconcile/reconcile_int.h"
#include "common/metrics.h"

#include <stddef.h>
#include <stdio.h>

/* Upstream: metrics.ExponentialBuckets(1, 2, 15). */
static const double sync_buckets[] = {1,   2,   4,    8,    16,   32,   64,   128,
                                      256, 512, 1024, 2048, 4096, 8192, 16384};
#define N_SYNC_BUCKETS (sizeof(sync_buckets) / sizeof(sync_buckets[0]))

/*
 * The counters, in registration order, by name within upstream's subsystem
 * (SUBSYSTEM "_" name, as upstream declares them): each mirrors one
 * uint64_t of struct lbp_reconcile that the hot paths bump.
 */
#define SUBSYSTEM "service_controller"
#define AT(field) offsetof(struct lbp_reconcile, field)
static const struct {
    size_t off;
    const char *name, *help;
} counters[] = {
    {AT(m_syncs), "loadbalancer_sync_total", "Load balancer ensures that succeeded."},
    {AT(m_sync_errors), "sync_errors_total",
     "Service syncs that failed and were queued for a retry."},
    {AT(m_nodesyncs), "nodesync_total", "Load balancer backend updates after node changes."},
    {AT(m_nodesync_errors), "nodesync_error_total", "Load balancer backend updates that failed."},
    {AT(m_skipped), "skipped_total", "Service syncs that found nothing to do."},
    {AT(m_cloud_calls), "cloud_calls_total", "Provider calls made by the service controller."},
    {AT(m_cloud_errors), "cloud_errors_total", "Provider calls that failed."},
    {AT(m_api_writes), "api_writes_total", "Service PATCHes (finalizer and status)."},
    {AT(m_orphans_removed), "orphans_removed_total", "Orphaned load balancers removed."},
};
#define N_COUNTERS (sizeof(counters) / sizeof(counters[0]))

static struct {
    struct lbp_metric *counter[N_COUNTERS]; /* counters[i]'s */
    struct lbp_metric *depth, *pending, *in_progress;
    struct lbp_metric *nodesync_latency, *host_latency;
} m;

static double load(uint64_t *p)
{
    return (double)__atomic_load_n(p, __ATOMIC_RELAXED);
}

static void collect(void *ctx)
{
    struct lbp_reconcile *r = ctx;
    size_t pending, in_progress = 0;
    struct lbp_svc_state *st, *tmp;
    for (size_t i = 0; i < N_COUNTERS; i++)
        lbp_metric_set(m.counter[i], NULL, load((uint64_t *)((char *)r + counters[i].off)));
    lbp_metric_set(m.depth, NULL, (double)lbp_queue_len(r->q));
    pthread_mutex_lock(&r->mu);
    pending = r->nodesync_pending;
    HASH_ITER(hh, r->states, st, tmp) in_progress += st->op_pending != LBP_OP_NONE;
    pthread_mutex_unlock(&r->mu);
    lbp_metric_set(m.pending, NULL, (double)pending);
    lbp_metric_set(m.in_progress, NULL, (double)in_progress);
}

void lbp_reconcile_metrics_init(struct lbp_reconcile *r)
{
    for (size_t i = 0; i < N_COUNTERS; i++) {
        char name[96];
        snprintf(name, sizeof(name), SUBSYSTEM "_%s", counters[i].name);
        m.counter[i] = lbp_metric_new(LBP_COUNTER, name, counters[i].help, NULL);
    }
    m.depth = lbp_metric_new(LBP_GAUGE, "service_controller_queue_depth",
                             "Service keys queued, in progress or backing off.", NULL);
    m.pending =
        lbp_metric_new(LBP_GAUGE, "service_controller_nodesync_pending",
                       "Load balancers still to update for the last node-set change.", NULL);
    m.in_progress = lbp_metric_new(
        LBP_GAUGE, "service_controller_cloud_operations_in_progress",
        "Load balancers whose cloud operation answered pending and is being polled.", NULL);
    m.nodesync_latency =
        lbp_histogram_new("service_controller_nodesync_latency_seconds",
                          "From a node-set change to the last load balancer updated for it.", NULL,
                          sync_buckets, N_SYNC_BUCKETS);
    m.host_latency = lbp_histogram_new(
        "service_controller_update_loadbalancer_host_latency_seconds",
        "Time to update one load balancer's hosts.", NULL, sync_buckets, N_SYNC_BUCKETS);
    lbp_metrics_collector_add(collect, r);
}

void lbp_reconcile_metrics_fini(struct lbp_reconcile *r)
{
    lbp_metrics_collector_remove(collect, r);
}

void lbp_reconcile_observe_nodesync(double seconds)
{
    lbp_metric_observe(m.nodesync_latency, NULL, seconds);
}

void lbp_reconcile_observe_host_update(double seconds)
{
    lbp_metric_observe(m.host_latency, NULL, seconds);
}
