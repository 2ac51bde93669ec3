/*
 * worker.c — one sync of one Service key, and the worker threads.
 *
 * Order matters and mirrors upstream: the finalizer is written before the
 * first cloud call (an LB never exists without it); on deletion the LB is
 * removed, then status cleared, then the finalizer dropped. Cheap checks
 * come first: a key whose Service hash, node-set hash and ingress all
 * match what was last applied costs no cloud call and no API write. When
 * only the node set changed, update_targets is called and nothing is
 * written to the API.
 */
#include "reconcile/reconcile_int.h"
#include "common/health.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void event(struct lbp_reconcile *r, const struct lbp_service *svc, const char *type,
                  const char *reason, const char *msg)
{
    struct lbp_object_ref ref = {
        .kind = "Service",
        .api_version = "v1",
        .namespace = svc->meta.namespace,
        .name = svc->meta.name,
        .uid = svc->meta.uid,
        .resource_version = svc->meta.resource_version,
    };
    if (r->o.events)
        lbp_event_record(r->o.events, &ref, type, reason, "%s", msg);
}

/*
 * MetalLB's IPAllocated ("Assigned IP [\"192.168.77.100\"]"), in addition to
 * upstream's EnsuredLoadBalancer, whenever the set of IPs in status changes —
 * only for the cloud that stands in for MetalLB (the one that takes
 * MetalLB's pool objects through the configure slot), whose users' tooling
 * looks for it. Users of other clouds (the mock too, though it also
 * restores addresses from status) get upstream's Events alone, and the API
 * one write fewer per Service.
 */
static void ip_allocated_event(struct lbp_reconcile *r, const struct lbp_service *svc,
                               const struct lbp_lb_status *st)
{
    char list[LBP_LB_MAX_INGRESS * 70 + 8];
    size_t len = 0, ips = 0;
    bool same = true;
    for (size_t i = 0; i < st->n_ingress; i++) {
        if (!st->ingress[i].ip[0])
            continue;
        bool known = false;
        for (size_t j = 0; j < svc->n_ingress; j++)
            known |= lbp_streq(svc->ingress[j].ip, st->ingress[i].ip);
        same &= known;
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"", ips ? "," : "",
                                st->ingress[i].ip);
        if (len >= sizeof(list))
            len = sizeof(list) - 1;
        ips++;
    }
    if (!ips || same)
        return;
    char msg[sizeof(list) + 16];
    snprintf(msg, sizeof(msg), "Assigned IP [%s]", list);
    event(r, svc, "Normal", "IPAllocated", msg);
}

static void retry(struct lbp_reconcile *r, const char *key, unsigned retry_after_s)
{
    uint64_t d = lbp_queue_retry(r->q, key, (uint64_t)retry_after_s * 1000u);
    __atomic_add_fetch(&r->m_sync_errors, 1, __ATOMIC_RELAXED);
    lbp_v(1, "%s: retrying in %llu ms", key, (unsigned long long)d);
}

static void state_drop(struct lbp_reconcile *r, const char *key)
{
    struct lbp_svc_state *st;
    pthread_mutex_lock(&r->mu);
    HASH_FIND_STR(r->states, key, st);
    if (st) {
        HASH_DEL(r->states, st);
        free(st);
    }
    pthread_mutex_unlock(&r->mu);
}

struct lbp_svc_state *lbp_state_get(struct lbp_reconcile *r, const char *key, bool create)
{
    struct lbp_svc_state *st;
    HASH_FIND_STR(r->states, key, st);
    if (!st && create) {
        size_t l = strlen(key);
        st = calloc(1, sizeof(*st) + l + 1);
        if (!st)
            return NULL;
        memcpy(st->key, key, l + 1);
        HASH_ADD_STR(r->states, key, st);
    }
    return st;
}

bool lbp_reconcile_fenced(struct lbp_reconcile *r, const char *what)
{
    if (!r->o.may_write || r->o.may_write(r->o.may_write_ctx))
        return false;
    lbp_warn("%s: not leading any more; leaving it to the next leader", what);
    return true;
}

/* Delete the LB, clear status, drop the finalizer — in that order. */
static void cleanup(struct lbp_reconcile *r, const char *key, const struct lbp_service *svc)
{
    struct lbp_lb_spec spec = {0};
    struct lbp_call call = {0};
    char msg[LBP_ERRBUF_SIZE + 64];
    int rc;
    spec.cluster_name = r->cluster_name;
    spec.namespace = svc->meta.namespace;
    spec.name = svc->meta.name;
    spec.uid = svc->meta.uid;
    lbp_lb_name(svc->meta.uid ? svc->meta.uid : "", spec.lb_name);
    event(r, svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer");
    if (lbp_reconcile_fenced(r, key))
        goto fenced;
    __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
    rc = r->o.provider->remove(r->o.pctx, &spec, &call);
    if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
        __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
        snprintf(msg, sizeof(msg), "Error deleting load balancer: %s",
                 call.err[0] ? call.err : lbp_rc_str(rc));
        lbp_warn("%s: %s", key, msg);
        event(r, svc, "Warning", "DeleteLoadBalancerFailed", msg);
        retry(r, key, call.retry_after_s);
        return;
    }
    /* its address is free now: whoever waits for one should not wait for a timer */
    lbp_reconcile_wake_waiting(r);
    if (lbp_reconcile_fenced(r, key))
        goto fenced;
    if (svc->n_ingress) {
        rc = lbp_svc_write_status(r->o.client, svc, NULL);
        __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
        if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
            lbp_warn("%s: clearing status: %s", key, lbp_rc_str(rc));
            retry(r, key, 0);
            return;
        }
    }
    rc = lbp_svc_finalizer(r->o.client, svc, false);
    __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
    if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
        lbp_warn("%s: removing finalizer: %s", key, lbp_rc_str(rc));
        retry(r, key, 0);
        return;
    }
    lbp_info("%s: deleted load balancer %s", key, spec.lb_name);
    event(r, svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer");
    state_drop(r, key);
fenced:
    lbp_queue_done(r->q, key);
}

static void sync_service(struct lbp_reconcile *r, const char *key, const struct lbp_service *svc)
{
    struct lbp_desired d;
    struct lbp_nodeset *ns;
    struct lbp_svc_state *st, snap = {0};
    struct lbp_lb_status lbst;
    struct lbp_call call = {0};
    char msg[LBP_ERRBUF_SIZE + 64];
    bool has_fin = lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER);
    uint64_t h = lbp_reconcile_svc_hash(r, svc), ing = lbp_ingress_hash_service(svc), gen;
    int rc;

    pthread_mutex_lock(&r->mu);
    ns = lbp_nodeset_ref(r->nodeset);
    st = lbp_state_get(r, key, true);
    if (st)
        snap = *st;
    gen = r->config_gen;
    pthread_mutex_unlock(&r->mu);
    if (!ns || !st) {
        lbp_nodeset_unref(ns);
        retry(r, key, 1);
        return;
    }
    if (lbp_desired_build(svc, ns, r->cluster_name, &d)) {
        lbp_nodeset_unref(ns);
        retry(r, key, 0);
        return;
    }

    if (lbp_validate(svc, &d, r->o.provider->caps, msg, sizeof(msg)) != LBP_OK) {
        if (snap.invalid_hash != h) {
            lbp_warn("%s: not provisioning: %s", key, msg);
            event(r, svc, "Warning", "SyncLoadBalancerFailed", msg);
            pthread_mutex_lock(&r->mu);
            st->invalid_hash = h;
            pthread_mutex_unlock(&r->mu);
        }
        lbp_queue_done(r->q, key); /* no retry until the Service changes */
        goto out;
    }

    if (snap.has_lb && has_fin && snap.svc_hash == h && snap.ingress_hash == ing &&
        snap.config_gen == gen) {
        if (snap.node_hash == ns->hash) {
            __atomic_add_fetch(&r->m_skipped, 1, __ATOMIC_RELAXED);
            lbp_queue_done(r->q, key);
            goto out;
        }
        if (r->o.provider->update_targets) {
            uint64_t t0 = lbp_now_ms();
            if (lbp_reconcile_fenced(r, key)) {
                lbp_queue_done(r->q, key);
                goto out;
            }
            __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
            rc = r->o.provider->update_targets(r->o.pctx, &d.spec, &call);
            if (rc == LBP_OK) {
                pthread_mutex_lock(&r->mu);
                st->node_hash = ns->hash;
                bool last = false;
                if (r->nodesync_pending > 0 && ns == r->nodeset && --r->nodesync_pending == 0) {
                    r->nodesync_latency_s = (double)(lbp_now_ms() - r->nodesync_started_ms) / 1e3;
                    last = true;
                }
                double lat = r->nodesync_latency_s;
                pthread_mutex_unlock(&r->mu);
                if (last)
                    lbp_reconcile_observe_nodesync(lat);
                lbp_reconcile_observe_host_update((double)(lbp_now_ms() - t0) / 1e3);
                __atomic_add_fetch(&r->m_nodesyncs, 1, __ATOMIC_RELAXED);
                lbp_v(1, "%s: updated backends to %zu nodes in %llu ms", key, ns->n,
                      (unsigned long long)(lbp_now_ms() - t0));
                /* as upstream: with no hosts left the Warning replaces the Normal event */
                if (ns->n == 0)
                    event(r, svc, "Warning", "UnAvailableLoadBalancer",
                          "There are no available nodes for LoadBalancer");
                else
                    event(r, svc, "Normal", "UpdatedLoadBalancer",
                          "Updated load balancer with new hosts");
                lbp_queue_done(r->q, key);
                goto out;
            }
            if (rc != LBP_NOT_FOUND) {
                __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
                __atomic_add_fetch(&r->m_nodesync_errors, 1, __ATOMIC_RELAXED);
                snprintf(msg, sizeof(msg), "Error updating load balancer with new hosts: %s",
                         call.err[0] ? call.err : lbp_rc_str(rc));
                lbp_warn("%s: %s", key, msg);
                event(r, svc, "Warning", "UpdateLoadBalancerFailed", msg);
                retry(r, key, call.retry_after_s);
                goto out;
            }
            /* The LB vanished behind our back: fall through and recreate it. */
            memset(&call, 0, sizeof(call));
        }
    }

    if (lbp_reconcile_fenced(r, key)) {
        lbp_queue_done(r->q, key);
        goto out;
    }
    if (!has_fin) {
        rc = lbp_svc_finalizer(r->o.client, svc, true);
        __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
        if (rc) {
            lbp_warn("%s: adding finalizer: %s", key, lbp_rc_str(rc));
            retry(r, key, 0);
            goto out;
        }
    }
    if (snap.svc_hash != h)
        event(r, svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    if (ns->n == 0)
        event(r, svc, "Warning", "UnAvailableLoadBalancer",
              "There are no available nodes for LoadBalancer");
    memset(&lbst, 0, sizeof(lbst));
    __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
    rc = r->o.provider->ensure(r->o.pctx, &d.spec, &lbst, &call);
    if (rc == LBP_PENDING) {
        unsigned after = lbst.retry_after_s ? lbst.retry_after_s : call.retry_after_s;
        if (call.event_reason) {
            /*
             * Waiting for something another Service holds (an address): say
             * so once per change of inputs or message, poll at the provider's
             * pace, and let any LB removal wake it early.
             */
            bool again = snap.waiting && snap.fail_rc == rc && snap.invalid_hash == h &&
                         snap.config_gen == gen;
            lbp_info("%s: waiting: %s", key, call.err[0] ? call.err : lbp_rc_str(rc));
            if (!again)
                event(r, svc, "Warning", call.event_reason, call.err[0] ? call.err : "pending");
            pthread_mutex_lock(&r->mu);
            st->waiting = true;
            st->fail_rc = rc;
            st->invalid_hash = h;
            st->config_gen = gen;
            pthread_mutex_unlock(&r->mu);
        } else {
            lbp_v(1, "%s: load balancer pending", key);
        }
        lbp_queue_retry(r->q, key, (uint64_t)(after ? after : 1) * 1000u);
        goto out;
    }
    if (rc != LBP_OK) {
        bool repeat = rc == LBP_INVALID && snap.fail_rc == rc && snap.invalid_hash == h &&
                      snap.config_gen == gen && call.event_reason;
        __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
        snprintf(msg, sizeof(msg), "Error syncing load balancer: %s",
                 call.err[0] ? call.err : lbp_rc_str(rc));
        if (repeat)
            lbp_v(1, "%s: still: %s", key, msg);
        else
            lbp_warn("%s: %s", key, msg);
        /* a provider reason (e.g. AllocationFailed) replaces upstream's generic one */
        if (!repeat)
            event(r, svc, "Warning",
                  call.event_reason ? call.event_reason : "SyncLoadBalancerFailed",
                  call.event_reason && call.err[0] ? call.err : msg);
        if (rc == LBP_INVALID) {
            pthread_mutex_lock(&r->mu);
            st->invalid_hash = h;
            st->config_gen = gen;
            st->fail_rc = rc;
            st->waiting = call.event_reason != NULL;
            pthread_mutex_unlock(&r->mu);
            lbp_queue_done(r->q, key);
        } else {
            unsigned after = lbst.retry_after_s ? lbst.retry_after_s : call.retry_after_s;
            retry(r, key, after);
        }
        goto out;
    }
    if (lbp_reconcile_fenced(r, key)) { /* the cloud call may have outlasted the lease */
        lbp_queue_done(r->q, key);
        goto out;
    }
    if (!lbp_ingress_equal(svc, &lbst)) {
        rc = lbp_svc_write_status(r->o.client, svc, &lbst);
        __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
        if (rc) {
            lbp_warn("%s: writing status: %s", key, lbp_rc_str(rc));
            retry(r, key, 0);
            goto out;
        }
        if (r->o.provider->configure)
            ip_allocated_event(r, svc, &lbst);
    }
    pthread_mutex_lock(&r->mu);
    st->has_lb = true;
    st->svc_hash = h;
    st->node_hash = ns->hash;
    st->ingress_hash = lbp_ingress_hash_status(&lbst);
    st->invalid_hash = 0;
    st->config_gen = gen;
    st->waiting = false;
    st->fail_rc = 0;
    pthread_mutex_unlock(&r->mu);
    __atomic_add_fetch(&r->m_syncs, 1, __ATOMIC_RELAXED);
    if (snap.svc_hash != h) {
        lbp_info("%s: ensured load balancer %s (%s%s)", key, d.spec.lb_name,
                 lbst.n_ingress ? lbst.ingress[0].ip : "",
                 lbst.n_ingress ? lbst.ingress[0].hostname : "");
        event(r, svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer");
    }
    lbp_queue_done(r->q, key);
out:
    lbp_desired_free(&d);
    lbp_nodeset_unref(ns);
}

static void sync_key(struct lbp_reconcile *r, const char *key)
{
    struct lbp_service *svc = lbp_informer_get(r->services, key);
    lbp_v(4, "%s: syncing (%s)", key, svc ? "cached" : "not in the cache");
    if (!svc) {
        /* Gone from the cache: it had no finalizer of ours left (or it was forced). */
        state_drop(r, key);
        lbp_queue_done(r->q, key);
        return;
    }
    if (lbp_service_handled(svc, r->lb_class) && !svc->meta.deleting)
        sync_service(r, key, svc);
    else if (lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER))
        cleanup(r, key, svc);
    else {
        state_drop(r, key);
        lbp_queue_done(r->q, key);
    }
    lbp_kube_obj_unref(svc);
}

void *lbp_reconcile_worker(void *arg)
{
    static unsigned next_id; /* atomic: names the heartbeat */
    struct lbp_reconcile *r = arg;
    struct lbp_heartbeat *hb;
    char name[32];
    char *key;
    snprintf(name, sizeof(name), "worker-%u", __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED));
    hb = lbp_heartbeat_new(name);
    /* Waiting on the queue is idle, not stuck; only a sync that never ends is. */
    while (lbp_queue_get(r->q, &key)) {
        lbp_heartbeat_busy(hb);
        sync_key(r, key);
        lbp_heartbeat_idle(hb);
        free(key);
    }
    lbp_heartbeat_free(hb);
    pthread_mutex_lock(&r->mu);
    r->live_threads--;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}
