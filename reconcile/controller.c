/*
 * controller.c — wiring: informer handlers, the sync thread (node set,
 * resync, orphans), start and bounded stop.
 *
 * Informer handlers run on watch threads and never call the API or the
 * cloud: a Service event enqueues its key (add_now when the sync inputs
 * changed, so a pending backoff does not delay a real change); a Node
 * event only marks the node set dirty and wakes the sync thread, which
 * rebuilds the set from the cache and enqueues exactly the keys whose LB
 * was built from another set.
 */
#include "reconcile/reconcile_int.h"
#include "common/health.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool relevant(struct lbp_reconcile *r, const struct lbp_service *svc)
{
    return lbp_service_handled(svc, r->lb_class) ||
           lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER);
}

uint64_t lbp_reconcile_svc_hash(const struct lbp_reconcile *r, const struct lbp_service *svc)
{
    uint64_t h = lbp_service_hash(svc);
    /*
     * Upstream re-syncs on annotations, not labels. A provider that reads
     * them (bare metal chooses pools by Service label and shares addresses
     * by selector) needs a label or selector change to reach ensure too.
     */
    if (r->o.provider && (r->o.provider->caps & LBP_CAP_SERVICE_LABELS))
        h = (h ^ lbp_service_label_hash(svc)) * 1099511628211ull;
    return h;
}

static void requeue_where(struct lbp_reconcile *r, bool waiting_only)
{
    struct lbp_svc_state *st, *tmp;
    char **keys = NULL;
    size_t n = 0, cap;
    pthread_mutex_lock(&r->mu);
    cap = HASH_COUNT(r->states);
    if (cap && (keys = calloc(cap, sizeof(char *))))
        HASH_ITER(hh, r->states, st, tmp)
        {
            if (n < cap && (!waiting_only || st->waiting))
                keys[n++] = strdup(st->key);
        }
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < n; i++) {
        if (keys[i])
            lbp_queue_add_now(r->q, keys[i]);
        free(keys[i]);
    }
    free(keys);
    if (n)
        lbp_v(1, "requeued %zu Services%s", n, waiting_only ? " waiting for room" : "");
}

void lbp_reconcile_wake_waiting(struct lbp_reconcile *r)
{
    requeue_where(r, true);
}

void lbp_reconcile_requeue_all(struct lbp_reconcile *r)
{
    /* states cover every Service a worker has seen; resync covers the rest */
    requeue_where(r, false);
}

static void svc_add(void *ctx, const void *obj)
{
    struct lbp_reconcile *r = ctx;
    const struct lbp_service *svc = obj;
    if (relevant(r, svc))
        lbp_queue_add_now(r->q, svc->meta.key);
}

static void svc_update(void *ctx, const void *old_obj, const void *new_obj)
{
    struct lbp_reconcile *r = ctx;
    const struct lbp_service *o = old_obj, *n = new_obj;
    if (!relevant(r, n) && !relevant(r, o))
        return;
    if (o == n) {
        lbp_queue_add(r->q, n->meta.key);
        return;
    }
    if (lbp_reconcile_svc_hash(r, o) != lbp_reconcile_svc_hash(r, n) ||
        o->meta.deleting != n->meta.deleting) {
        lbp_queue_add_now(r->q, n->meta.key);
        return;
    }
    /*
     * The rest matters only while the Service wants an LB: during clean-up
     * the status and finalizer changes are our own writes, and re-running
     * the key against a cache that has not caught up would repeat them.
     * Our finalizer appearing is our own write, which ended its sync: the
     * ensure waits for the cache to show it (worker.c). Its removal by
     * someone else needs a sync at once.
     */
    if (!lbp_service_handled(n, r->lb_class) || n->meta.deleting)
        return;
    bool had = lbp_meta_has_finalizer(&o->meta, LBP_FINALIZER);
    bool has = lbp_meta_has_finalizer(&n->meta, LBP_FINALIZER);
    if (had && !has)
        lbp_queue_add_now(r->q, n->meta.key);
    else if (!had && has)
        lbp_queue_add(r->q, n->meta.key);
    else if (lbp_ingress_hash_service(o) != lbp_ingress_hash_service(n))
        lbp_queue_add(r->q, n->meta.key); /* usually our own write: the worker skips it */
}

static void svc_delete(void *ctx, const void *obj)
{
    struct lbp_reconcile *r = ctx;
    const struct lbp_service *svc = obj;
    lbp_queue_add_now(r->q, svc->meta.key);
}

/*
 * The informer could not decode a Service: it keeps the last version it
 * read (or none), so the worker leaves the load balancer as it is and the
 * orphan scan spares it. Say so on the Service; nothing else can.
 */
static void svc_unreadable(void *ctx, const void *obj, int rc)
{
    char msg[256];
    snprintf(msg, sizeof(msg),
             "cannot read this Service (%s); its load balancer, if any, is left as it is until "
             "a version can be read",
             lbp_rc_str(rc));
    lbp_reconcile_event(ctx, obj, "Warning", "SyncLoadBalancerFailed", msg);
}

static void node_changed(struct lbp_reconcile *r)
{
    pthread_mutex_lock(&r->mu);
    r->nodes_dirty = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void node_add(void *ctx, const void *obj)
{
    (void)obj;
    node_changed(ctx);
}

static void node_update(void *ctx, const void *old_obj, const void *new_obj)
{
    if (old_obj != new_obj)
        node_changed(ctx);
}

static void node_delete(void *ctx, const void *obj)
{
    (void)obj;
    node_changed(ctx);
}

void lbp_reconcile_handlers(struct lbp_reconcile *r, struct lbp_informer_handlers *services,
                            struct lbp_informer_handlers *nodes)
{
    services->on_add = svc_add;
    services->on_update = svc_update;
    services->on_delete = svc_delete;
    services->on_unreadable = svc_unreadable;
    services->ctx = r;
    nodes->on_add = node_add;
    nodes->on_update = node_update;
    nodes->on_delete = node_delete;
    nodes->ctx = r;
}

int lbp_reconcile_new(const struct lbp_reconcile_opts *opts, struct lbp_reconcile **out)
{
    struct lbp_reconcile *r = calloc(1, sizeof(*r));
    int rc;
    if (!r)
        return LBP_NOMEM;
    r->o = *opts;
    if (!r->o.workers)
        r->o.workers = 4;
    /* as many writers as workers (the API saw that many writes at once before), at least 4 */
    if (!r->o.status_writers)
        r->o.status_writers = r->o.workers > 4 ? r->o.workers : 4;
    if (!r->o.resync_s)
        r->o.resync_s = 30;
    if (!r->o.node_resync_s)
        r->o.node_resync_s = 100;
    if (!r->o.orphan_interval_s)
        r->o.orphan_interval_s = 30;
    r->cluster_name = strdup(opts->cluster_name ? opts->cluster_name : "kubernetes");
    r->lb_class = lbp_strdup(opts->lb_class);
    rc = lbp_queue_new(opts->backoff_base_ms ? opts->backoff_base_ms : 5000,
                       opts->backoff_max_ms ? opts->backoff_max_ms : 300000, &r->q);
    if (rc || !r->cluster_name) {
        free(r->cluster_name);
        free(r->lb_class);
        free(r);
        return rc ? rc : LBP_NOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    lbp_cond_init_monotonic(&r->cond);
    lbp_reconcile_metrics_init(r);
    *out = r;
    return LBP_OK;
}

/* Rebuilds the eligible set; when it changed, enqueues every LB built from another. */
static void nodesync(struct lbp_reconcile *r)
{
    uint64_t t0 = lbp_now_ms();
    void **objs = NULL;
    size_t n = lbp_informer_list(r->nodes, &objs), queued = 0, cap = 0;
    struct lbp_nodeset *ns = lbp_nodeset_build(objs, n, r->o.node_ready_filter), *old = NULL;
    struct lbp_svc_state *st, *tmp;
    char **keys = NULL;
    lbp_informer_list_free(objs, n);
    if (!ns) {
        lbp_error("node sync: out of memory");
        return;
    }
    pthread_mutex_lock(&r->mu);
    if (r->nodeset && r->nodeset->hash == ns->hash) {
        pthread_mutex_unlock(&r->mu);
        lbp_nodeset_unref(ns);
        return;
    }
    old = r->nodeset;
    r->nodeset = ns;
    cap = HASH_COUNT(r->states);
    keys = calloc(cap ? cap : 1, sizeof(char *));
    if (keys)
        HASH_ITER(hh, r->states, st, tmp)
        {
            if (st->node_hash != ns->hash && queued < cap)
                keys[queued++] = strdup(st->key);
        }
    r->nodesync_started_ms = t0;
    r->nodesync_pending = queued;
    pthread_mutex_unlock(&r->mu);
    lbp_nodeset_unref(old);
    for (size_t i = 0; i < queued; i++) {
        if (keys[i])
            lbp_queue_add_now(r->q, keys[i]);
        free(keys[i]);
    }
    free(keys);
    lbp_info("node set changed: %zu eligible of %zu nodes; %zu load balancers to update", ns->n, n,
             queued);
    __atomic_store_n(&r->m_nodesync_last_us, (lbp_now_ms() - t0) * 1000u, __ATOMIC_RELAXED);
}

static void resync(struct lbp_reconcile *r)
{
    void **objs = NULL;
    size_t n = lbp_informer_list(r->services, &objs);
    for (size_t i = 0; i < n; i++) {
        const struct lbp_service *svc = objs[i];
        if (relevant(r, svc))
            lbp_queue_add(r->q, svc->meta.key);
    }
    lbp_informer_list_free(objs, n);
}

static void *sync_main(void *arg)
{
    struct lbp_reconcile *r = arg;
    uint64_t now = lbp_now_ms();
    uint64_t next_resync = now + r->o.resync_s * 1000ull;
    uint64_t next_nodes = now + r->o.node_resync_s * 1000ull;
    uint64_t orphan_every = r->o.orphan_interval_s * 1000ull;
    uint64_t next_orphans = now;
    struct lbp_heartbeat *hb = lbp_heartbeat_new("reconcile-sync");
    if (r->o.cleanup_orphans && r->o.orphan_grace_s * 1000ull / 2 < orphan_every)
        orphan_every = r->o.orphan_grace_s * 1000ull / 2 > 200 ? r->o.orphan_grace_s * 500ull : 200;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        uint64_t next = next_resync < next_nodes ? next_resync : next_nodes;
        if (r->o.cleanup_orphans && next_orphans < next)
            next = next_orphans;
        now = lbp_now_ms();
        if (!r->nodes_dirty && now < next) {
            struct timespec ts;
            lbp_deadline_ts(next - now, &ts);
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
            continue;
        }
        bool dirty = r->nodes_dirty;
        r->nodes_dirty = false;
        pthread_mutex_unlock(&r->mu);
        lbp_heartbeat_busy(hb); /* orphan scans call the cloud: covered by the bound */
        if (dirty || now >= next_nodes) {
            nodesync(r);
            if (now >= next_nodes)
                next_nodes = now + r->o.node_resync_s * 1000ull;
        }
        if (now >= next_resync) {
            resync(r);
            next_resync = now + r->o.resync_s * 1000ull;
        }
        if (r->o.cleanup_orphans && now >= next_orphans) {
            lbp_orphans_scan(r);
            next_orphans = lbp_now_ms() + orphan_every;
        }
        lbp_heartbeat_idle(hb);
        pthread_mutex_lock(&r->mu);
    }
    r->live_threads--;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    lbp_heartbeat_free(hb);
    return NULL;
}

int lbp_reconcile_start(struct lbp_reconcile *r, struct lbp_informer *services,
                        struct lbp_informer *nodes)
{
    r->services = services;
    r->nodes = nodes;
    nodesync(r);
    /* pools first, then the addresses already handed out, then any ensure */
    lbp_config_initial(r);
    lbp_reconcile_restore(r);
    resync(r);
    struct lbp_sw_hooks hooks;
    lbp_reconcile_sw_hooks(r, &hooks);
    if (lbp_sw_new(&hooks, r->o.status_writers, &r->sw))
        return LBP_NOMEM;
    r->workers = calloc(r->o.workers, sizeof(pthread_t));
    if (!r->workers)
        return LBP_NOMEM;
    pthread_mutex_lock(&r->mu);
    r->nodes_dirty = false;
    for (unsigned i = 0; i < r->o.workers; i++) {
        if (pthread_create(&r->workers[i], NULL, lbp_reconcile_worker, r) != 0) {
            pthread_mutex_unlock(&r->mu);
            return LBP_NOMEM;
        }
        r->live_threads++;
    }
    if (pthread_create(&r->sync_thread, NULL, sync_main, r) != 0) {
        pthread_mutex_unlock(&r->mu);
        return LBP_NOMEM;
    }
    r->live_threads++;
    if (lbp_config_start(r)) {
        pthread_mutex_unlock(&r->mu);
        return LBP_NOMEM;
    }
    r->started = true;
    pthread_mutex_unlock(&r->mu);
    lbp_info("service controller started: %u workers, %u status writers, cluster %s, class %s",
             r->o.workers, r->o.status_writers, r->cluster_name,
             r->lb_class ? r->lb_class : "(none)");
    return LBP_OK;
}

bool lbp_reconcile_running(struct lbp_reconcile *r)
{
    bool s;
    pthread_mutex_lock(&r->mu);
    s = r->started && !r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

int lbp_reconcile_stop(struct lbp_reconcile *r, unsigned timeout_ms)
{
    struct timespec ts;
    uint64_t t0 = lbp_now_ms(), spent;
    int rc = LBP_OK;
    lbp_queue_shutdown(r->q);
    /*
     * Status writes not yet sent are dropped (the next leader makes them),
     * those in flight finish; a worker that submits from now on is refused.
     */
    if (r->sw && lbp_sw_stop(r->sw, timeout_ms) != LBP_OK) {
        pthread_mutex_lock(&r->mu);
        r->stopping = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->mu);
        return LBP_RETRY;
    }
    spent = lbp_now_ms() - t0;
    lbp_deadline_ts(spent < timeout_ms ? timeout_ms - (unsigned)spent : 0, &ts);
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cond);
    while (r->live_threads > 0)
        if (pthread_cond_timedwait(&r->cond, &r->mu, &ts) == ETIMEDOUT)
            break;
    if (r->live_threads > 0)
        rc = LBP_RETRY;
    pthread_mutex_unlock(&r->mu);
    if (rc) {
        lbp_warn("service controller: %d threads still busy after %u ms; abandoning them",
                 r->live_threads, timeout_ms);
        return rc;
    }
    if (r->started) {
        for (unsigned i = 0; i < r->o.workers; i++)
            pthread_join(r->workers[i], NULL);
        pthread_join(r->sync_thread, NULL);
        if (r->config_started)
            pthread_join(r->config_thread, NULL);
        r->config_started = false;
        r->started = false;
    }
    return LBP_OK;
}

void lbp_reconcile_free(struct lbp_reconcile *r)
{
    struct lbp_svc_state *st, *tmp;
    if (!r)
        return;
    lbp_reconcile_metrics_fini(r);
    HASH_ITER(hh, r->states, st, tmp)
    {
        HASH_DEL(r->states, st);
        free(st);
    }
    lbp_orphans_free(r);
    lbp_sw_free(r->sw);
    lbp_nodeset_unref(r->nodeset);
    lbp_queue_free(r->q);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    free(r->workers);
    free(r->cluster_name);
    free(r->lb_class);
    free(r);
}
