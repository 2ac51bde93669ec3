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

/* Upstream: metrics.ExponentialBuckets(1, 2, 15). */
static const double sync_buckets[] = {1,   2,   4,    8,    16,   32,   64,   128,
                                      256, 512, 1024, 2048, 4096, 8192, 16384};
#define N_SYNC_BUCKETS (sizeof(sync_buckets) / sizeof(sync_buckets[0]))

static struct {
    struct lbp_metric *syncs, *sync_errors, *nodesyncs, *nodesync_errors, *skipped;
    struct lbp_metric *cloud_calls, *cloud_errors, *api_writes, *orphans_removed;
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
    lbp_metric_set(m.syncs, NULL, load(&r->m_syncs));
    lbp_metric_set(m.sync_errors, NULL, load(&r->m_sync_errors));
    lbp_metric_set(m.nodesyncs, NULL, load(&r->m_nodesyncs));
    lbp_metric_set(m.nodesync_errors, NULL, load(&r->m_nodesync_errors));
    lbp_metric_set(m.skipped, NULL, load(&r->m_skipped));
    lbp_metric_set(m.cloud_calls, NULL, load(&r->m_cloud_calls));
    lbp_metric_set(m.cloud_errors, NULL, load(&r->m_cloud_errors));
    lbp_metric_set(m.api_writes, NULL, load(&r->m_api_writes));
    lbp_metric_set(m.orphans_removed, NULL, load(&r->m_orphans_removed));
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
    m.syncs = lbp_metric_new(LBP_COUNTER, "service_controller_loadbalancer_sync_total",
                             "Load balancer ensures that succeeded.", NULL);
    m.sync_errors = lbp_metric_new(LBP_COUNTER, "service_controller_sync_errors_total",
                                   "Service syncs that failed and were queued for a retry.", NULL);
    m.nodesyncs = lbp_metric_new(LBP_COUNTER, "service_controller_nodesync_total",
                                 "Load balancer backend updates after node changes.", NULL);
    m.nodesync_errors = lbp_metric_new(LBP_COUNTER, "service_controller_nodesync_error_total",
                                       "Load balancer backend updates that failed.", NULL);
    m.skipped = lbp_metric_new(LBP_COUNTER, "service_controller_skipped_total",
                               "Service syncs that found nothing to do.", NULL);
    m.cloud_calls = lbp_metric_new(LBP_COUNTER, "service_controller_cloud_calls_total",
                                   "Provider calls made by the service controller.", NULL);
    m.cloud_errors = lbp_metric_new(LBP_COUNTER, "service_controller_cloud_errors_total",
                                    "Provider calls that failed.", NULL);
    m.api_writes = lbp_metric_new(LBP_COUNTER, "service_controller_api_writes_total",
                                  "Service PATCHes (finalizer and status).", NULL);
    m.orphans_removed = lbp_metric_new(LBP_COUNTER, "service_controller_orphans_removed_total",
                                       "Orphaned load balancers removed.", NULL);
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
