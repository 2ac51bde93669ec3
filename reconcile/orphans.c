/*
 * orphans.c — load balancers this cluster owns whose Service is gone.
 *
 * Upstream leaks an LB when a finalizer is force-removed; lbprov lists
 * what the provider says it owns (tagged with the cluster name), and an LB
 * whose Service no longer exists, has another UID, or no longer wants a
 * load balancer (with no finalizer of ours left) is removed once it has
 * been seen orphaned for the whole grace period — long enough for any
 * cache lag or in-flight sync to settle. A Service the informer could not
 * decode is not missing (lbp_informer_unreadable): its LB stays.
 */
#include "reconcile/reconcile_int.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lbp_orphan {
    UT_hash_handle hh;
    char lb_name[128];
    uint64_t first_ms;
    bool seen;
};

static bool is_orphan(struct lbp_reconcile *r, const struct lbp_lb_owned *o)
{
    char key[520], want[LBP_LB_NAME_LEN + 1];
    struct lbp_service *svc;
    bool orphan;
    snprintf(key, sizeof(key), "%s/%s", o->namespace, o->name);
    /* A Service that exists but could not be decoded is never taken for a missing one. */
    if (lbp_informer_unreadable(r->services, key))
        return false;
    svc = lbp_informer_get(r->services, key);
    if (!svc)
        return true;
    lbp_lb_name(svc->meta.uid ? svc->meta.uid : "", want);
    orphan = strcmp(want, o->lb_name) != 0 || (!lbp_service_handled(svc, r->lb_class) &&
                                               !lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER));
    lbp_kube_obj_unref(svc);
    return orphan;
}

void lbp_orphans_scan(struct lbp_reconcile *r)
{
    struct lbp_lb_owned *owned = NULL;
    size_t n = 0;
    struct lbp_call call = {0};
    struct lbp_orphan *e, *tmp;
    uint64_t now = lbp_now_ms();
    int rc;
    if (!r->o.provider->list_owned)
        return;
    rc = r->o.provider->list_owned(r->o.pctx, &owned, &n, &call);
    if (rc) {
        lbp_warn("orphan scan: listing load balancers: %s",
                 call.err[0] ? call.err : lbp_rc_str(rc));
        return;
    }
    HASH_ITER(hh, r->orphans, e, tmp) e->seen = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_orphan(r, &owned[i]))
            continue;
        HASH_FIND_STR(r->orphans, owned[i].lb_name, e);
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e)
                continue;
            lbp_strlcpy(e->lb_name, owned[i].lb_name, sizeof(e->lb_name));
            e->first_ms = now;
            HASH_ADD_STR(r->orphans, lb_name, e);
            lbp_info("orphan scan: %s (was %s/%s) has no Service; removing it after %u s",
                     e->lb_name, owned[i].namespace, owned[i].name, r->o.orphan_grace_s);
        }
        e->seen = true;
        if (now - e->first_ms >= (uint64_t)r->o.orphan_grace_s * 1000u) {
            struct lbp_lb_spec spec = {0};
            spec.cluster_name = r->cluster_name;
            spec.namespace = owned[i].namespace;
            spec.name = owned[i].name;
            lbp_strlcpy(spec.lb_name, owned[i].lb_name, sizeof(spec.lb_name));
            memset(&call, 0, sizeof(call));
            if (lbp_reconcile_fenced(r, "orphan scan"))
                break;
            rc = r->o.provider->remove(r->o.pctx, &spec, &call);
            if (rc == LBP_OK || rc == LBP_NOT_FOUND) {
                lbp_info("orphan scan: removed orphaned load balancer %s (was %s/%s)", spec.lb_name,
                         spec.namespace, spec.name);
                __atomic_add_fetch(&r->m_orphans_removed, 1, __ATOMIC_RELAXED);
                e->seen = false;               /* dropped below */
                lbp_reconcile_wake_waiting(r); /* what it held may be what they wait for */
            } else if (rc == LBP_PENDING) {
                /* kept in the table: the next scan polls the removal in progress */
                lbp_v(1, "orphan scan: removing %s: in progress", spec.lb_name);
            } else {
                lbp_warn("orphan scan: removing %s: %s", spec.lb_name,
                         call.err[0] ? call.err : lbp_rc_str(rc));
            }
        }
    }
    HASH_ITER(hh, r->orphans, e, tmp)
    {
        if (!e->seen) {
            HASH_DEL(r->orphans, e);
            free(e);
        }
    }
    free(owned);
}

void lbp_orphans_free(struct lbp_reconcile *r)
{
    struct lbp_orphan *e, *tmp;
    HASH_ITER(hh, r->orphans, e, tmp)
    {
        HASH_DEL(r->orphans, e);
        free(e);
    }
}
