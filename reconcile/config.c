/*
 * config.c — the provider's extra contract, for clouds that keep their own
 * state (bare metal, mock: restore) and take run-time configuration (bare
 * metal: configure):
 *
 *   restore   (the slot) once, after the caches synced and before any
 *             worker runs: every handled Service's
 *             status.loadBalancer.ingress is replayed into the provider, so
 *             allocations are rebuilt from the record of truth and nothing
 *             is handed out twice.
 *   configure (LBP_CAP_RUNTIME_CONFIG) the objects of each of the
 *             provider's config_kinds (bare metal: MetalLB's IPAddressPool
 *             and L2Advertisement), LISTed from the path the provider names
 *             once before the workers start and then every config_poll_ms.
 *             A kind whose LIST changed (its items' uid and resourceVersion)
 *             is handed over whole; on success every handled Service is
 *             requeued (addresses may move), on LBP_INVALID the error is
 *             logged once and the provider keeps its previous configuration
 *             until the objects change again.
 *
 * Polling, not a watch: the informer decodes four built-in kinds only, a
 * pool set is a handful of objects that change rarely, and a LIST of each
 * kind every few seconds costs the API server next to nothing. The price
 * is up to one period of delay after an edit. A 404 means the kind's CRDs
 * are not installed; that is checked again every 30 s. The LIST itself is
 * bare metal's (pools/api.c), shared with the speaker.
 *
 * The same thread refreshes the allocator gauges (addresses in use and in
 * total per pool) from the provider's debug JSON, which lists "pools" with
 * "inUse" and "size".
 */
#include "reconcile/reconcile_int.h"
#include "pools/api.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOT_INSTALLED_RECHECK_MS 30000u

/* ------------------------------------------------------------ restore */

void lbp_reconcile_restore(struct lbp_reconcile *r)
{
    void **objs = NULL;
    size_t n, restored = 0, refused = 0;

    if (!r->o.provider->restore)
        return;
    n = lbp_informer_list(r->services, &objs);
    for (size_t i = 0; i < n; i++) {
        const struct lbp_service *svc = objs[i];
        struct lbp_desired d;
        struct lbp_lb_status st = {0};
        int rc;
        /* a Service being deleted still holds its address until its LB is removed */
        if (!svc->n_ingress || (!lbp_service_handled(svc, r->lb_class) &&
                                !lbp_meta_has_finalizer(&svc->meta, LBP_FINALIZER)))
            continue;
        if (lbp_desired_build(svc, NULL, r->cluster_name, &d))
            continue;
        for (size_t j = 0; j < svc->n_ingress && st.n_ingress < LBP_LB_MAX_INGRESS; j++) {
            struct lbp_lb_ingress_addr *a = &st.ingress[st.n_ingress++];
            lbp_strlcpy(a->ip, svc->ingress[j].ip ? svc->ingress[j].ip : "", sizeof(a->ip));
            lbp_strlcpy(a->hostname, svc->ingress[j].hostname ? svc->ingress[j].hostname : "",
                        sizeof(a->hostname));
            lbp_strlcpy(a->ip_mode, svc->ingress[j].ip_mode ? svc->ingress[j].ip_mode : "",
                        sizeof(a->ip_mode));
        }
        rc = r->o.provider->restore(r->o.pctx, &d.spec, &st);
        if (rc == LBP_OK)
            restored++;
        else {
            refused++;
            lbp_warn("%s: could not restore its address %s (%s); the next sync picks one",
                     svc->meta.key, st.ingress[0].ip, lbp_rc_str(rc));
        }
        lbp_desired_free(&d);
    }
    lbp_informer_list_free(objs, n);
    lbp_info("restored the addresses of %zu Services from their status (%zu refused)", restored,
             refused);
}

/* ------------------------------------------------------------ metrics */

/* Sets the per-pool gauges from the provider's debug JSON ("pools": [...]). */
static void pool_metrics(struct lbp_reconcile *r)
{
    char *js;
    json_object *root, *pools;
    if (!r->o.provider->debug_json || !r->m_pool_in_use || !r->m_pool_size)
        return;
    if (!(js = r->o.provider->debug_json(r->o.pctx)))
        return;
    root = json_tokener_parse(js);
    free(js);
    if (root && json_object_object_get_ex(root, "pools", &pools) &&
        json_object_is_type(pools, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(pools); i++) {
            json_object *p = json_object_array_get_idx(pools, i), *v;
            const char *name = NULL;
            if (json_object_object_get_ex(p, "name", &v) &&
                json_object_is_type(v, json_type_string))
                name = json_object_get_string(v);
            if (!name)
                continue;
            const char *labels[] = {name};
            if (json_object_object_get_ex(p, "inUse", &v))
                lbp_metric_set(r->m_pool_in_use, labels, json_object_get_double(v));
            /* a decimal string: an IPv6 pool's size does not fit an integer */
            if (json_object_object_get_ex(p, "size", &v)) {
                const char *s = json_object_get_string(v);
                char *end = NULL;
                errno = 0;
                double d = s ? strtod(s, &end) : 0;
                if (s && end != s && !errno)
                    lbp_metric_set(r->m_pool_size, labels, d);
            }
        }
    }
    json_object_put(root);
}

/* ------------------------------------------------------------ configure */

static size_t n_kinds(const struct lbp_reconcile *r)
{
    size_t n = 0;
    while (r->o.provider->config_kinds && r->o.provider->config_kinds[n].kind &&
           n < LBP_CONFIG_KINDS_MAX)
        n++;
    return n;
}

/*
 * One round over the provider's kinds. Returns how many are installed (so
 * the caller can slow down when there are none); *changed is set when a
 * configuration was applied.
 */
static int config_round(struct lbp_reconcile *r, bool *changed, int *last_rc)
{
    int installed = 0;
    *changed = false;
    for (size_t k = 0; k < n_kinds(r); k++) {
        const struct lbp_config_kind *kind = &r->o.provider->config_kinds[k];
        struct lbp_pools_listing l;
        char err[LBP_ERRBUF_SIZE] = "";
        int rc = lbp_pools_list(r->o.client, kind->path, &l);
        if (rc != LBP_NOT_FOUND && rc != LBP_OK) {
            if (last_rc[k] != rc)
                lbp_warn("%s: cannot list %s objects: %s; keeping the pools in force", kind->path,
                         kind->kind, lbp_rc_str(rc));
            last_rc[k] = rc;
            installed++; /* unknown: keep the normal pace */
            continue;
        }
        if (rc == LBP_NOT_FOUND && last_rc[k] != rc)
            lbp_info("%s %s objects are not served (%s: 404); checking again later", kind->source,
                     kind->kind, kind->path);
        installed += rc == LBP_OK;
        last_rc[k] = rc;
        if (l.digest != r->config_digest[k]) {
            r->config_digest[k] = l.digest; /* a rejected set is not retried until it changes */
            rc = r->o.provider->configure(r->o.pctx, kind->kind, (const char *const *)l.objects,
                                          l.n, err, sizeof(err));
            if (rc == LBP_OK) {
                lbp_info("applied %zu %s objects", l.n, kind->kind);
                *changed = true;
            } else {
                lbp_error("%s %s objects not applied: %s", kind->source, kind->kind,
                          err[0] ? err : lbp_rc_str(rc));
                if (rc != LBP_INVALID)
                    r->config_digest[k] = 0; /* not their fault: try again next round */
            }
        }
        lbp_pools_listing_free(&l);
    }
    return installed;
}

static void applied(struct lbp_reconcile *r)
{
    pthread_mutex_lock(&r->mu);
    r->config_gen++;
    pthread_mutex_unlock(&r->mu);
    pool_metrics(r);
}

void lbp_reconcile_config_changed(struct lbp_reconcile *r)
{
    applied(r);
    lbp_reconcile_requeue_all(r);
}

void lbp_config_initial(struct lbp_reconcile *r)
{
    int last_rc[LBP_CONFIG_KINDS_MAX] = {-1, -1, -1, -1};
    bool changed = false;
    if (!(r->o.provider->caps & LBP_CAP_RUNTIME_CONFIG))
        return;
    r->m_pool_in_use = lbp_metric_new(LBP_GAUGE, "lbprov_allocator_addresses_in_use_total",
                                      "Addresses handed out from each pool.", "pool");
    r->m_pool_size = lbp_metric_new(LBP_GAUGE, "lbprov_allocator_addresses_total",
                                    "Addresses each pool may hand out.", "pool");
    /* nothing has been applied yet: an empty listing needs no call */
    for (size_t k = 0; k < LBP_CONFIG_KINDS_MAX; k++)
        r->config_digest[k] = LBP_POOLS_LISTING_EMPTY;
    config_round(r, &changed, last_rc);
    if (changed)
        applied(r);
    else
        pool_metrics(r);
}

static void *config_main(void *arg)
{
    struct lbp_reconcile *r = arg;
    int last_rc[LBP_CONFIG_KINDS_MAX] = {-1, -1, -1, -1};
    unsigned period = r->o.config_poll_ms ? r->o.config_poll_ms : 5000;
    unsigned idle = period * 10 < NOT_INSTALLED_RECHECK_MS ? period * 10 : NOT_INSTALLED_RECHECK_MS;
    uint64_t next = lbp_now_ms() + period;

    if (idle < period)
        idle = period;
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        uint64_t now = lbp_now_ms();
        if (now < next) {
            struct timespec ts;
            lbp_deadline_ts(next - now, &ts);
            pthread_cond_timedwait(&r->cond, &r->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&r->mu);
        bool changed = false;
        int installed = config_round(r, &changed, last_rc);
        if (changed) {
            applied(r);
            lbp_reconcile_requeue_all(r);
        } else {
            pool_metrics(r);
        }
        next = lbp_now_ms() + (installed ? period : idle);
        pthread_mutex_lock(&r->mu);
    }
    r->live_threads--;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Called with r->mu held, like the other thread starts. */
int lbp_config_start(struct lbp_reconcile *r)
{
    if (!(r->o.provider->caps & LBP_CAP_RUNTIME_CONFIG))
        return LBP_OK;
    if (pthread_create(&r->config_thread, NULL, config_main, r) != 0)
        return LBP_NOMEM;
    r->config_started = true;
    r->live_threads++;
    return LBP_OK;
}
