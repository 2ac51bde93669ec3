/*
 * reconcile.h — the service controller: the one header cmd/ uses.
 *
 * Services and Nodes arrive through informers whose handlers only enqueue
 * keys (or mark the node set dirty); N workers take keys off a
 * de-duplicating queue with per-key backoff and drive the provider:
 * finalizer first, then ensure / update_targets / remove, then the status
 * write, with Events through the recorder's own thread. The finalizer and
 * status PATCHes of an ensure are handed to a few status-writer threads so
 * a worker does not wait for them; the key stays taken until its write
 * ends. A sync thread
 * recomputes the eligible node set, resyncs from the cache and removes
 * orphaned load balancers. For a provider with a restore slot (bare metal,
 * mock), allocations are restored from Service status before the workers
 * start; for one with LBP_CAP_RUNTIME_CONFIG a config thread feeds it the
 * objects of the kinds it names (bare metal: MetalLB's pools) (config.c).
 */
#ifndef LBP_RECONCILE_H
#define LBP_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "kube/kube.h"
#include "provider/provider.h"

#define LBP_FINALIZER "service.kubernetes.io/load-balancer-cleanup"
#define LBP_EXCLUDE_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"
#define LBP_CA_TAINT "ToBeDeletedByClusterAutoscaler"
#define LBP_SOURCE_RANGES_ANNOTATION "service.beta.kubernetes.io/load-balancer-source-ranges"

struct lbp_reconcile_opts {
    const struct lbp_provider *provider;
    struct lbp_provider_ctx *pctx;
    struct lbp_kube_client *client;
    struct lbp_event_recorder *events; /* may be NULL: no Events */
    const char *cluster_name;          /* default "kubernetes" */
    const char *lb_class;              /* NULL: only Services without a class */
    unsigned workers;                  /* default 4 */
    unsigned status_writers; /* threads making the Service PATCHes; default workers, at least 4 */
    bool node_ready_filter;
    unsigned resync_s;        /* full resync from the cache; default 30 */
    unsigned node_resync_s;   /* node set recomputed regardless of events; default 100 */
    unsigned backoff_base_ms; /* default 5000 */
    unsigned backoff_max_ms;  /* default 300000 */
    bool cleanup_orphans;
    unsigned orphan_grace_s;    /* default 60 */
    unsigned orphan_interval_s; /* default 30 */
    /*
     * Write fence (leader election): checked at the start of every sync and
     * before every cloud call and API write; when it says no, the work is
     * dropped, not retried — the next leader resyncs everything. NULL:
     * always allowed.
     */
    bool (*may_write)(void *ctx);
    void *may_write_ctx;
    /*
     * Providers with LBP_CAP_RUNTIME_CONFIG (bare metal): how often to LIST
     * their configuration objects (MetalLB's pools) for changes;
     * default 5000. While neither kind is installed (404) the check runs
     * every 30 s (or 10 periods, when that is shorter).
     */
    unsigned config_poll_ms;
};

struct lbp_reconcile;

int lbp_reconcile_new(const struct lbp_reconcile_opts *opts, struct lbp_reconcile **out);
/* The handlers to give the Service and Node informers (ctx is the reconciler). */
void lbp_reconcile_handlers(struct lbp_reconcile *r, struct lbp_informer_handlers *services,
                            struct lbp_informer_handlers *nodes);
/* Call after both informers synced: starts the workers and the sync thread. */
int lbp_reconcile_start(struct lbp_reconcile *r, struct lbp_informer *services,
                        struct lbp_informer *nodes);
bool lbp_reconcile_running(struct lbp_reconcile *r);
/*
 * The provider's configuration changed under it (a SIGHUP reload): every
 * Service is ensured again, since addresses or settings may have moved.
 */
void lbp_reconcile_config_changed(struct lbp_reconcile *r);
/*
 * Stops taking work and waits up to timeout_ms for in-flight syncs.
 * Returns LBP_OK when every thread ended, LBP_RETRY when some were
 * abandoned (then lbp_reconcile_free must not be called).
 */
int lbp_reconcile_stop(struct lbp_reconcile *r, unsigned timeout_ms);
void lbp_reconcile_free(struct lbp_reconcile *r);

#endif
