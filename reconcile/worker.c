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
 *
 * The API writes of an ensure leave the worker: sync_ensure hands the
 * finalizer, and later the status, to the status writer (status_writer.c)
 * and the worker takes its next key. The key stays taken in the queue
 * (ACTIVE) until the write ends, and the writer's done hook (status_done)
 * ends it exactly as a synchronous sync would have: done, or retry with the
 * key's backoff; meanwhile a change to the Service only marks the key to
 * run again, so one key never has two syncs, and a deletion's clean-up never
 * runs beside its write. A sync that wrote the finalizer ends there; the
 * watch event that shows the finalizer brings the key back for the ensure.
 */
#include "reconcile/reconcile_int.h"
#include "common/health.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lbp_reconcile_event(struct lbp_reconcile *r, const struct lbp_service *svc, const char *type,
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
 * only for clouds that hand out addresses themselves
 * (LBP_CAP_ALLOCATES_ADDRESSES: their record is the Service status). Users of other clouds
 * get upstream's Events alone, and the API one write fewer per Service.
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
    lbp_reconcile_event(r, svc, "Normal", "IPAllocated", msg);
}

/*
 * What one sync decided for its key. The sync functions only compute it;
 * sync_key alone hands it to the queue, so every way a sync can end is
 * one of these and nowhere else is the key re-queued or forgotten.
 */
enum sync_next {
    NEXT_DONE,   /* finished (or nothing to do until the Service changes): forget failures */
    NEXT_POLL,   /* a cloud operation in progress: again after after_s, not a failure */
    NEXT_RETRY,  /* failed: again after after_s, or the key's growing backoff when 0 */
    NEXT_HANDED, /* its API write is with the status writer, which ends the key */
};

struct sync_outcome {
    enum sync_next next;
    unsigned after_s;
    bool forget; /* also drop the controller's memory of the key */
};

static struct sync_outcome done(void)
{
    return (struct sync_outcome){.next = NEXT_DONE};
}

static struct sync_outcome retry(unsigned after_s)
{
    return (struct sync_outcome){.next = NEXT_RETRY, .after_s = after_s};
}

static struct sync_outcome poll_after(unsigned after_s)
{
    /* a provider that names no delay is asked again in a second */
    return (struct sync_outcome){.next = NEXT_POLL, .after_s = after_s ? after_s : 1};
}

static struct sync_outcome handed(void)
{
    return (struct sync_outcome){.next = NEXT_HANDED};
}

/* lbp_sw_job.flags: the ensure changed the LB (EnsuredLoadBalancer follows the write). */
#define SW_ENSURED 1u

/*
 * A status write that did not happen: the state must not claim the ensure
 * applied, so the key's next sync ensures and writes again.
 */
static void status_unapply(struct lbp_reconcile *r, const char *key)
{
    struct lbp_svc_state *st;
    pthread_mutex_lock(&r->mu);
    st = lbp_state_get(r, key, false);
    if (st) {
        st->status_pending = false;
        st->svc_hash = 0;
        st->ingress_hash = 0;
    }
    pthread_mutex_unlock(&r->mu);
}

/*
 * The reason of the Event for an operation begun: upstream's Ensuring and
 * Deleting, and Updating for the host update upstream makes synchronously.
 */
static const char *const op_reason[] = {
    [LBP_OP_ENSURE] = "EnsuringLoadBalancer",
    [LBP_OP_UPDATE] = "UpdatingLoadBalancer",
    [LBP_OP_REMOVE] = "DeletingLoadBalancer",
};
static const char *const op_what[] = {
    [LBP_OP_ENSURE] = "provisioning",
    [LBP_OP_UPDATE] = "updating the hosts of",
    [LBP_OP_REMOVE] = "deleting",
};

/*
 * The provider answered LBP_PENDING: its operation runs in the cloud and
 * the key comes back after the retry-after to poll it. Not a failure: no
 * Warning, no error count, no backoff. One Normal Event per operation (not
 * per poll) tells kubectl describe and lbprov status that it is under way.
 */
static struct sync_outcome pending(struct lbp_reconcile *r, const char *key,
                                   const struct lbp_service *svc, struct lbp_svc_state *st,
                                   enum lbp_cloud_op op, const struct lbp_call *call,
                                   unsigned after_s)
{
    struct sync_outcome out = poll_after(after_s);
    bool first;
    uint64_t since;
    pthread_mutex_lock(&r->mu);
    first = st->op_pending != op;
    if (first) {
        st->op_pending = op;
        st->op_since_ms = lbp_now_ms();
    }
    since = st->op_since_ms;
    pthread_mutex_unlock(&r->mu);
    if (first) {
        char msg[LBP_ERRBUF_SIZE + 96];
        snprintf(msg, sizeof(msg), "Cloud is %s the load balancer: %s", op_what[op],
                 call->err[0] ? call->err : "operation in progress");
        lbp_info("%s: %s; asking again in %u s", key, msg, out.after_s);
        lbp_reconcile_event(r, svc, "Normal", op_reason[op], msg);
    } else {
        lbp_v(1, "%s: %s still in progress after %llu s; asking again in %u s", key, op_reason[op],
              (unsigned long long)((lbp_now_ms() - since) / 1000u), out.after_s);
    }
    return out;
}

/* The operation answered something other than LBP_PENDING: it is over. */
static void op_finished(struct lbp_reconcile *r, const char *key, struct lbp_svc_state *st,
                        enum lbp_cloud_op op)
{
    uint64_t since = 0;
    pthread_mutex_lock(&r->mu);
    if (st->op_pending == op) {
        since = st->op_since_ms;
        st->op_pending = LBP_OP_NONE;
    }
    pthread_mutex_unlock(&r->mu);
    if (since)
        lbp_v(1, "%s: cloud operation (%s) over after %llu ms", key, op_reason[op],
              (unsigned long long)(lbp_now_ms() - since));
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
static struct sync_outcome cleanup(struct lbp_reconcile *r, const char *key,
                                   const struct lbp_service *svc)
{
    struct lbp_lb_spec spec = {0};
    struct lbp_call call = {0};
    struct lbp_svc_state *st;
    char msg[LBP_ERRBUF_SIZE + 64];
    bool polling;
    int rc;
    spec.cluster_name = r->cluster_name;
    spec.namespace = svc->meta.namespace;
    spec.name = svc->meta.name;
    spec.uid = svc->meta.uid;
    lbp_lb_name(svc->meta.uid ? svc->meta.uid : "", spec.lb_name);
    /*
     * The key's last API write may still be finishing on a writer thread
     * (it released the key just before): nothing is cleared beside it.
     */
    if (r->sw)
        lbp_sw_cancel(r->sw, key);
    pthread_mutex_lock(&r->mu);
    st = lbp_state_get(r, key, true);
    polling = st && st->op_pending == LBP_OP_REMOVE;
    pthread_mutex_unlock(&r->mu);
    if (!st)
        return retry(1);
    if (!polling) /* a poll of a removal in progress has said so already */
        lbp_reconcile_event(r, svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer");
    if (lbp_reconcile_fenced(r, key))
        return done();
    __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
    rc = r->o.provider->remove(r->o.pctx, &spec, &call);
    /* the finalizer stays until the cloud says the LB is gone */
    if (rc == LBP_PENDING)
        return pending(r, key, svc, st, LBP_OP_REMOVE, &call, call.retry_after_s);
    op_finished(r, key, st, LBP_OP_REMOVE);
    if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
        __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
        snprintf(msg, sizeof(msg), "Error deleting load balancer: %s",
                 call.err[0] ? call.err : lbp_rc_str(rc));
        lbp_warn("%s: %s", key, msg);
        lbp_reconcile_event(r, svc, "Warning", "DeleteLoadBalancerFailed", msg);
        return retry(call.retry_after_s);
    }
    /* its address is free now: whoever waits for one should not wait for a timer */
    lbp_reconcile_wake_waiting(r);
    if (lbp_reconcile_fenced(r, key))
        return done();
    if (svc->n_ingress) {
        rc = lbp_svc_write_status(r->o.client, svc, NULL);
        __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
        if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
            lbp_warn("%s: clearing status: %s", key, lbp_rc_str(rc));
            return retry(0);
        }
    }
    rc = lbp_svc_finalizer(r->o.client, svc, false);
    __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
    if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
        lbp_warn("%s: removing finalizer: %s", key, lbp_rc_str(rc));
        return retry(0);
    }
    lbp_info("%s: deleted load balancer %s", key, spec.lb_name);
    lbp_reconcile_event(r, svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer");
    struct sync_outcome out = done();
    out.forget = true;
    return out;
}

/* What one sync of a wanted LB works from: taken once, under r->mu. */
struct sync_ctx {
    const char *key;
    const struct lbp_service *svc;
    struct lbp_nodeset *ns;
    struct lbp_svc_state *st; /* write under r->mu */
    struct lbp_svc_state snap;
    struct lbp_desired d;
    uint64_t h, gen;
    bool has_fin;
};

/*
 * Only the node set changed: update_targets. *handled is false when the LB
 * turned out to be gone, and the caller recreates it with ensure.
 */
static struct sync_outcome sync_targets(struct lbp_reconcile *r, struct sync_ctx *c, bool *handled)
{
    struct lbp_call call = {0};
    char msg[LBP_ERRBUF_SIZE + 64];
    uint64_t t0 = lbp_now_ms();
    int rc;

    *handled = true;
    if (lbp_reconcile_fenced(r, c->key))
        return done();
    __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
    rc = r->o.provider->update_targets(r->o.pctx, &c->d.spec, &call);
    if (rc == LBP_PENDING)
        return pending(r, c->key, c->svc, c->st, LBP_OP_UPDATE, &call, call.retry_after_s);
    op_finished(r, c->key, c->st, LBP_OP_UPDATE);
    if (rc == LBP_OK) {
        pthread_mutex_lock(&r->mu);
        c->st->node_hash = c->ns->hash;
        bool last = false;
        if (r->nodesync_pending > 0 && c->ns == r->nodeset && --r->nodesync_pending == 0) {
            r->nodesync_latency_s = (double)(lbp_now_ms() - r->nodesync_started_ms) / 1e3;
            last = true;
        }
        double lat = r->nodesync_latency_s;
        pthread_mutex_unlock(&r->mu);
        if (last)
            lbp_reconcile_observe_nodesync(lat);
        lbp_reconcile_observe_host_update((double)(lbp_now_ms() - t0) / 1e3);
        __atomic_add_fetch(&r->m_nodesyncs, 1, __ATOMIC_RELAXED);
        lbp_v(1, "%s: updated backends to %zu nodes in %llu ms", c->key, c->ns->n,
              (unsigned long long)(lbp_now_ms() - t0));
        /* as upstream: with no hosts left the Warning replaces the Normal event */
        if (c->ns->n == 0)
            lbp_reconcile_event(r, c->svc, "Warning", "UnAvailableLoadBalancer",
                                "There are no available nodes for LoadBalancer");
        else
            lbp_reconcile_event(r, c->svc, "Normal", "UpdatedLoadBalancer",
                                "Updated load balancer with new hosts");
        return done();
    }
    if (rc == LBP_NOT_FOUND) {
        *handled = false; /* the LB vanished behind our back: recreate it */
        return done();
    }
    __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&r->m_nodesync_errors, 1, __ATOMIC_RELAXED);
    snprintf(msg, sizeof(msg), "Error updating load balancer with new hosts: %s",
             call.err[0] ? call.err : lbp_rc_str(rc));
    lbp_warn("%s: %s", c->key, msg);
    lbp_reconcile_event(r, c->svc, "Warning", "UpdateLoadBalancerFailed", msg);
    return retry(call.retry_after_s);
}

/* Finalizer, ensure, status: create the LB or converge it to the Service. */
static struct sync_outcome sync_ensure(struct lbp_reconcile *r, struct sync_ctx *c)
{
    struct lbp_lb_status lbst = {0};
    struct lbp_call call = {0};
    char msg[LBP_ERRBUF_SIZE + 64];
    int rc;

    if (lbp_reconcile_fenced(r, c->key))
        return done();
    if (!c->has_fin) {
        /*
         * The finalizer comes before any cloud call. Its write leaves the
         * worker too; once made, the watch shows it and svc_update brings
         * the key back, with a cache that has it, for the ensure.
         */
        rc = lbp_sw_submit(r->sw, LBP_SW_FINALIZER, (struct lbp_service *)c->svc, NULL, 0);
        if (rc == LBP_OK)
            return handed();
        return rc == LBP_RETRY ? done() : retry(0);
    }
    /* a poll of a create or change in progress has said both already */
    if (c->snap.svc_hash != c->h && c->snap.op_pending != LBP_OP_ENSURE)
        lbp_reconcile_event(r, c->svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    if (c->ns->n == 0 && c->snap.op_pending != LBP_OP_ENSURE)
        lbp_reconcile_event(r, c->svc, "Warning", "UnAvailableLoadBalancer",
                            "There are no available nodes for LoadBalancer");
    __atomic_add_fetch(&r->m_cloud_calls, 1, __ATOMIC_RELAXED);
    rc = r->o.provider->ensure(r->o.pctx, &c->d.spec, &lbst, &call);
    if (rc == LBP_PENDING) {
        unsigned after = lbst.retry_after_s ? lbst.retry_after_s : call.retry_after_s;
        if (call.event_reason) {
            /*
             * Waiting for something another Service holds (an address): say
             * so once per change of inputs or message, poll at the provider's
             * pace, and let any LB removal wake it early.
             */
            bool again = c->snap.waiting && c->snap.fail_rc == rc && c->snap.invalid_hash == c->h &&
                         c->snap.config_gen == c->gen;
            lbp_info("%s: waiting: %s", c->key, call.err[0] ? call.err : lbp_rc_str(rc));
            if (!again)
                lbp_reconcile_event(r, c->svc, "Warning", call.event_reason,
                                    call.err[0] ? call.err : "pending");
            pthread_mutex_lock(&r->mu);
            c->st->waiting = true;
            c->st->fail_rc = rc;
            c->st->invalid_hash = c->h;
            c->st->config_gen = c->gen;
            pthread_mutex_unlock(&r->mu);
            return poll_after(after);
        }
        return pending(r, c->key, c->svc, c->st, LBP_OP_ENSURE, &call, after);
    }
    op_finished(r, c->key, c->st, LBP_OP_ENSURE);
    if (rc != LBP_OK) {
        bool repeat = rc == LBP_INVALID && c->snap.fail_rc == rc && c->snap.invalid_hash == c->h &&
                      c->snap.config_gen == c->gen && call.event_reason;
        __atomic_add_fetch(&r->m_cloud_errors, 1, __ATOMIC_RELAXED);
        snprintf(msg, sizeof(msg), "Error syncing load balancer: %s",
                 call.err[0] ? call.err : lbp_rc_str(rc));
        if (repeat)
            lbp_v(1, "%s: still: %s", c->key, msg);
        else
            lbp_warn("%s: %s", c->key, msg);
        /* a provider reason (e.g. AllocationFailed) replaces upstream's generic one */
        if (!repeat)
            lbp_reconcile_event(r, c->svc, "Warning",
                                call.event_reason ? call.event_reason : "SyncLoadBalancerFailed",
                                call.event_reason && call.err[0] ? call.err : msg);
        if (rc != LBP_INVALID) {
            /*
             * A failure with a reason of the provider's may be room that
             * other Services hold (a cloud's limit on a shared object): a
             * removal requeues it early, besides the backoff.
             */
            if (call.event_reason) {
                pthread_mutex_lock(&r->mu);
                c->st->waiting = true;
                pthread_mutex_unlock(&r->mu);
            }
            return retry(lbst.retry_after_s ? lbst.retry_after_s : call.retry_after_s);
        }
        pthread_mutex_lock(&r->mu);
        c->st->invalid_hash = c->h;
        c->st->config_gen = c->gen;
        c->st->fail_rc = rc;
        c->st->waiting = call.event_reason != NULL;
        pthread_mutex_unlock(&r->mu);
        return done(); /* no retry until the Service or the configuration changes */
    }
    if (lbp_reconcile_fenced(r, c->key)) /* the cloud call may have outlasted the lease */
        return done();
    bool write = !lbp_ingress_equal(c->svc, &lbst);
    pthread_mutex_lock(&r->mu);
    c->st->status_pending = write;
    c->st->status_written_ms = 0;
    c->st->has_lb = true;
    c->st->svc_hash = c->h;
    c->st->node_hash = c->ns->hash;
    c->st->ingress_hash = lbp_ingress_hash_status(&lbst);
    c->st->invalid_hash = 0;
    c->st->config_gen = c->gen;
    c->st->waiting = false;
    c->st->fail_rc = 0;
    pthread_mutex_unlock(&r->mu);
    if (write) {
        /* the status write and what follows it (Events, the key's end) leave the worker */
        rc = lbp_sw_submit(r->sw, LBP_SW_STATUS, (struct lbp_service *)c->svc, &lbst,
                           c->snap.svc_hash != c->h ? SW_ENSURED : 0);
        if (rc == LBP_OK)
            return handed();
        status_unapply(r, c->key);
        if (rc == LBP_RETRY) /* stopping: the next leader ensures it again */
            return done();
        return retry(0);
    }
    __atomic_add_fetch(&r->m_syncs, 1, __ATOMIC_RELAXED);
    if (c->snap.svc_hash != c->h) {
        lbp_info("%s: ensured load balancer %s (%s%s)", c->key, c->d.spec.lb_name,
                 lbst.n_ingress ? lbst.ingress[0].ip : "",
                 lbst.n_ingress ? lbst.ingress[0].hostname : "");
        lbp_reconcile_event(r, c->svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer");
    }
    return done();
}

/* A Service that wants an LB: validate, skip, update_targets or ensure. */
static struct sync_outcome sync_service(struct lbp_reconcile *r, const char *key,
                                        const struct lbp_service *svc)
{
    struct sync_ctx c = {.key = key, .svc = svc};
    struct sync_outcome out;
    char msg[LBP_ERRBUF_SIZE + 64];
    uint64_t ing = lbp_ingress_hash_service(svc);

    c.has_fin = lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER);
    c.h = lbp_reconcile_svc_hash(r, svc);
    pthread_mutex_lock(&r->mu);
    c.ns = lbp_nodeset_ref(r->nodeset);
    c.st = lbp_state_get(r, key, true);
    if (c.st)
        c.snap = *c.st;
    c.gen = r->config_gen;
    pthread_mutex_unlock(&r->mu);
    if (!c.ns || !c.st) {
        lbp_nodeset_unref(c.ns);
        return retry(1);
    }
    if (lbp_desired_build(svc, c.ns, r->cluster_name, &c.d)) {
        lbp_nodeset_unref(c.ns);
        return retry(0);
    }

    if (lbp_validate(svc, &c.d, r->o.provider->caps, msg, sizeof(msg)) != LBP_OK) {
        if (c.snap.invalid_hash != c.h) {
            lbp_warn("%s: not provisioning: %s", key, msg);
            lbp_reconcile_event(r, svc, "Warning", "SyncLoadBalancerFailed", msg);
            pthread_mutex_lock(&r->mu);
            c.st->invalid_hash = c.h;
            pthread_mutex_unlock(&r->mu);
        }
        out = done(); /* no retry until the Service changes */
        goto out;
    }

    /*
     * Our status write, in flight or made but not yet in the cache, counts
     * as applied: the cached ingress lags it (see status_pending).
     */
    bool unseen =
        c.snap.status_pending &&
        (!c.snap.status_written_ms || lbp_now_ms() - c.snap.status_written_ms < LBP_STATUS_LAG_MS);
    if (c.snap.status_pending && (!unseen || c.snap.ingress_hash == ing)) {
        pthread_mutex_lock(&r->mu);
        c.st->status_pending = false;
        pthread_mutex_unlock(&r->mu);
        unseen = false;
    }
    if (c.snap.has_lb && c.has_fin && c.snap.svc_hash == c.h &&
        (c.snap.ingress_hash == ing || unseen) && c.snap.config_gen == c.gen) {
        if (c.snap.node_hash == c.ns->hash) {
            __atomic_add_fetch(&r->m_skipped, 1, __ATOMIC_RELAXED);
            out = done();
            goto out;
        }
        if (r->o.provider->update_targets) {
            bool handled;
            out = sync_targets(r, &c, &handled);
            if (handled)
                goto out;
        }
    }
    out = sync_ensure(r, &c);
out:
    lbp_desired_free(&c.d);
    lbp_nodeset_unref(c.ns);
    return out;
}

/* The one place a key goes back to the queue, or leaves it. */
static void sync_key(struct lbp_reconcile *r, const char *key)
{
    struct lbp_service *svc = lbp_informer_get(r->services, key);
    struct sync_outcome out;
    uint64_t d;
    lbp_v(4, "%s: syncing (%s)", key, svc ? "cached" : "not in the cache");
    if (!svc) {
        /* Gone from the cache: it had no finalizer of ours left (or it was forced). */
        out = done();
        out.forget = true;
    } else if (svc->meta.partial && !svc->meta.deleting) {
        /* Only its name could be read (the informer caches no such object; be sure). */
        out = done();
    } else if (lbp_service_handled(svc, r->lb_class) && !svc->meta.deleting) {
        out = sync_service(r, key, svc);
    } else if (lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER)) {
        out = cleanup(r, key, svc);
    } else {
        out = done();
        out.forget = true;
    }
    lbp_kube_obj_unref(svc);
    if (out.forget)
        state_drop(r, key);
    switch (out.next) {
    case NEXT_DONE:
        lbp_queue_done(r->q, key);
        break;
    case NEXT_POLL:
        lbp_queue_after(r->q, key, (uint64_t)out.after_s * 1000u);
        lbp_v(2, "%s: asking the cloud again in %u s", key, out.after_s);
        break;
    case NEXT_RETRY:
        d = lbp_queue_retry(r->q, key, (uint64_t)out.after_s * 1000u);
        __atomic_add_fetch(&r->m_sync_errors, 1, __ATOMIC_RELAXED);
        lbp_v(1, "%s: retrying in %llu ms", key, (unsigned long long)d);
        break;
    case NEXT_HANDED:
        break;
    }
}

/* ------------------------------------------------------------ the status writer's hooks */

static int status_write(void *ctx, const struct lbp_sw_job *job)
{
    struct lbp_reconcile *r = ctx;
    __atomic_add_fetch(&r->m_api_writes, 1, __ATOMIC_RELAXED);
    if (job->kind == LBP_SW_FINALIZER)
        return lbp_svc_finalizer(r->o.client, job->svc, true);
    return lbp_svc_write_status(r->o.client, job->svc, &job->st);
}

/* How a handed-over finalizer write ended: the key's end (the watch brings it back). */
static void finalizer_done(struct lbp_reconcile *r, const char *key, enum lbp_sw_result res, int rc)
{
    uint64_t d;
    switch (res) {
    case LBP_SW_REPLACED:
        return;
    case LBP_SW_FAILED:
        lbp_warn("%s: adding finalizer: %s", key, lbp_rc_str(rc));
        d = lbp_queue_retry(r->q, key, 0);
        __atomic_add_fetch(&r->m_sync_errors, 1, __ATOMIC_RELAXED);
        lbp_v(1, "%s: retrying in %llu ms", key, (unsigned long long)d);
        return;
    default:
        lbp_v(4, "%s: finalizer %s", key, res == LBP_SW_WRITTEN ? "added" : "not added");
        lbp_queue_done(r->q, key);
        return;
    }
}

/*
 * Just before a write: not while fenced (a write dropped so is left to the
 * next leader), and only to the object it was computed for — the cache
 * still holds it under the same uid, not being deleted.
 */
static int status_check(void *ctx, const struct lbp_service *svc)
{
    struct lbp_reconcile *r = ctx;
    struct lbp_service *cur;
    int rc = LBP_OK;
    if (lbp_reconcile_fenced(r, svc->meta.key))
        return LBP_RETRY;
    if (!r->services)
        return LBP_OK;
    cur = lbp_informer_get(r->services, svc->meta.key);
    if (!cur || cur->meta.deleting ||
        !lbp_streq(cur->meta.uid ? cur->meta.uid : "", svc->meta.uid ? svc->meta.uid : ""))
        rc = LBP_NOT_FOUND;
    lbp_kube_obj_unref(cur);
    return rc;
}

/* How a handed-over status write ended: the rest of sync_ensure, and the key's end. */
static void status_done(void *ctx, const struct lbp_sw_job *job, enum lbp_sw_result res, int rc)
{
    struct lbp_reconcile *r = ctx;
    const struct lbp_service *svc = job->svc;
    const char *key = svc->meta.key;
    uint64_t d;
    if (job->kind == LBP_SW_FINALIZER) {
        finalizer_done(r, key, res, rc);
        return;
    }
    switch (res) {
    case LBP_SW_REPLACED: /* the newer write ends the key */
        return;
    case LBP_SW_WRITTEN:
    case LBP_SW_SAME:
        pthread_mutex_lock(&r->mu);
        struct lbp_svc_state *st = lbp_state_get(r, key, false);
        if (st && st->status_pending) /* made: now until the cache shows it */
            st->status_written_ms = lbp_now_ms();
        pthread_mutex_unlock(&r->mu);
        if (r->o.provider->caps & LBP_CAP_ALLOCATES_ADDRESSES)
            ip_allocated_event(r, svc, &job->st);
        __atomic_add_fetch(&r->m_syncs, 1, __ATOMIC_RELAXED);
        if (job->flags & SW_ENSURED) {
            char lb_name[LBP_LB_NAME_LEN + 1];
            lbp_lb_name(svc->meta.uid ? svc->meta.uid : "", lb_name);
            lbp_info("%s: ensured load balancer %s (%s%s)", key, lb_name,
                     job->st.n_ingress ? job->st.ingress[0].ip : "",
                     job->st.n_ingress ? job->st.ingress[0].hostname : "");
            lbp_reconcile_event(r, svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer");
        }
        lbp_queue_done(r->q, key);
        return;
    case LBP_SW_FAILED:
        lbp_warn("%s: writing status: %s", key, lbp_rc_str(rc));
        status_unapply(r, key);
        d = lbp_queue_retry(r->q, key, 0);
        __atomic_add_fetch(&r->m_sync_errors, 1, __ATOMIC_RELAXED);
        lbp_v(1, "%s: retrying in %llu ms", key, (unsigned long long)d);
        return;
    case LBP_SW_GONE:
        lbp_v(1, "%s: not writing status: the Service is gone or another one now", key);
        status_unapply(r, key);
        lbp_queue_done(r->q, key);
        return;
    case LBP_SW_DROPPED:
        status_unapply(r, key);
        lbp_queue_done(r->q, key);
        return;
    }
}

void lbp_reconcile_sw_hooks(struct lbp_reconcile *r, struct lbp_sw_hooks *h)
{
    *h = (struct lbp_sw_hooks){
        .ctx = r, .write = status_write, .check = status_check, .done = status_done};
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
