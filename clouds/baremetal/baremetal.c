/*
 * baremetal.c — the bare-metal cloud: IP address management only.
 *
 * There is no cloud API. ensure hands the Service an address per IP family
 * from the pools (lbprov's YAML file given as --cloud-config, plus MetalLB
 * IPAddressPool/L2Advertisement objects passed in through configure); the
 * speaker announces it. Allocations live in memory and are rebuilt after a
 * restart from the Services' own status (restore), which is the record of
 * truth: lbprov stores nothing else.
 *
 * Which address a Service gets, first rule that applies:
 *   1. metallb.io/loadBalancerIPs (or metallb.universe.tf/...), else
 *      spec.loadBalancerIP, else lbprov.io/load-balancer-ips: that address,
 *      which must be inside a pool that admits the Service;
 *   2. the address it already holds, while its pool still admits it;
 *   3. the pool named by metallb.io/address-pool (metallb.universe.tf/...,
 *      lbprov.io/address-pool), or else every autoAssign pool admitting the
 *      Service, by serviceAllocation.priority (lower first, unset last,
 *      then by name): an address shared under the same allow-shared-ip key,
 *      else the lowest free one.
 * A family nothing can serve is LBP_INVALID; a full pool is LBP_PENDING
 * with event_reason "AllocationFailed" (it clears when an address frees).
 * Changes are all-or-nothing across the families of one Service.
 *
 * One mutex covers the pool set and the table: allocation is fast and
 * never blocks on I/O, so workers serialise only briefly.
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clouds/baremetal/baremetal_int.h"
#include "common/file.h"
#include "pools/api.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define PENDING_RETRY_S 30
#define REASON_FAILED "AllocationFailed"

struct lbp_provider_ctx {
    pthread_mutex_t mu;
    char *yaml_text; /* --cloud-config contents, re-parsed with every CRD change */
    size_t yaml_len;
    char **crd[2]; /* [0] IPAddressPool, [1] L2Advertisement JSON texts */
    size_t n_crd[2];
    struct lbp_pool_set *set;
    struct lbp_bm_table table;
};

static const char *const ann_ips[] = {"metallb.io/loadBalancerIPs",
                                      "metallb.universe.tf/loadBalancerIPs", NULL};
static const char *const ann_own_ips = "lbprov.io/load-balancer-ips";
static const char *const ann_pool[] = {
    "metallb.io/address-pool", "metallb.universe.tf/address-pool", "lbprov.io/address-pool", NULL};
static const char *const ann_share[] = {"metallb.io/allow-shared-ip",
                                        "metallb.universe.tf/allow-shared-ip",
                                        "lbprov.io/allow-shared-ip", NULL};

/* ------------------------------------------------------------ config */

static void log_warnings(const struct lbp_pools_diag *d)
{
    const char *p = d->warn;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        lbp_warn("baremetal: %.*s", n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* Builds and checks the pool set from the YAML text and the given CRD lists. */
static int build_set_from(const char *yaml_text, size_t yaml_len, const char *const *pools,
                          size_t n_pools, const char *const *l2, size_t n_l2,
                          struct lbp_pool_set **out, struct lbp_pools_diag *d)
{
    int rc;
    struct lbp_pool_set *set = lbp_pool_set_new();
    if (!set)
        return LBP_NOMEM;
    if (yaml_text && (rc = lbp_pools_add_yaml(set, yaml_text, yaml_len, d)))
        goto out;
    if ((rc = lbp_pools_add_metallb(set, pools, n_pools, l2, n_l2, d)))
        goto out;
    rc = lbp_pool_set_check(set, d);
out:
    if (rc)
        lbp_pool_set_free(set);
    else
        *out = set;
    return rc;
}

static int build_set(const struct lbp_provider_ctx *ctx, const char *const *pools, size_t n_pools,
                     const char *const *l2, size_t n_l2, struct lbp_pool_set **out,
                     struct lbp_pools_diag *d)
{
    return build_set_from(ctx->yaml_text, ctx->yaml_len, pools, n_pools, l2, n_l2, out, d);
}

static void ctx_free(struct lbp_provider_ctx *ctx)
{
    if (!ctx)
        return;
    lbp_bm_table_clear(&ctx->table);
    lbp_pool_set_free(ctx->set);
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ctx->n_crd[k]; i++)
            free(ctx->crd[k][i]);
        free(ctx->crd[k]);
    }
    free(ctx->yaml_text);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

static int bm_init(const char *cloud_config_path, const char *cluster_name,
                   struct lbp_provider_ctx **out, char *err, size_t errlen)
{
    int rc = LBP_OK;
    struct lbp_pools_diag d = {0};
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));

    if (!ctx)
        return LBP_NOMEM;
    pthread_mutex_init(&ctx->mu, NULL);
    if (cloud_config_path && *cloud_config_path) {
        if (lbp_file_read_err(cloud_config_path, LBP_POOLS_MAX_FILE, 0, &ctx->yaml_text,
                              &ctx->yaml_len, err, errlen)) {
            rc = LBP_IO;
            goto out;
        }
    }
    if ((rc = build_set(ctx, NULL, 0, NULL, 0, &ctx->set, &d))) {
        snprintf(err, errlen, "%s: %s", cloud_config_path ? cloud_config_path : "config", d.err);
        goto out;
    }
    log_warnings(&d);
    lbp_info("baremetal: %zu pools from %s", ctx->set->n_pools,
             cloud_config_path ? cloud_config_path : "(no file; MetalLB objects only)");
out:
    if (rc)
        ctx_free(ctx);
    else
        *out = ctx;
    return rc;
}

static void bm_cleanup(struct lbp_provider_ctx *ctx)
{
    ctx_free(ctx);
}

/*
 * SIGHUP: the pool file again, combined with the MetalLB objects in force.
 * All or nothing, like configure: a file that does not parse or check
 * leaves the running pools as they are. Allocations stay; the reconciler
 * re-ensures every Service, which moves an address that left every pool.
 */
static int bm_reload(struct lbp_provider_ctx *ctx, const char *path, char *err, size_t errlen)
{
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = NULL;
    size_t len = 0;
    char *text = NULL;
    int rc;

    if (lbp_file_read_err(path, LBP_POOLS_MAX_FILE, 0, &text, &len, err, errlen))
        return LBP_IO;
    pthread_mutex_lock(&ctx->mu);
    rc = build_set_from(text, len, (const char *const *)ctx->crd[0], ctx->n_crd[0],
                        (const char *const *)ctx->crd[1], ctx->n_crd[1], &set, &d);
    if (rc == LBP_OK) {
        lbp_pool_set_free(ctx->set);
        ctx->set = set;
        free(ctx->yaml_text);
        ctx->yaml_text = text;
        ctx->yaml_len = len;
        text = NULL;
    }
    pthread_mutex_unlock(&ctx->mu);
    free(text);
    if (rc != LBP_OK) {
        snprintf(err, errlen, "%s: %s", path, d.err);
        return rc == LBP_PARSE ? LBP_INVALID : rc;
    }
    log_warnings(&d);
    lbp_info("baremetal: pools reloaded from %s", path);
    return LBP_OK;
}

static int bm_configure(struct lbp_provider_ctx *ctx, const char *kind, const char *const *objs,
                        size_t n, char *err, size_t errlen)
{
    int rc;
    int k;
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = NULL;
    char **copy = NULL;

    if (lbp_streq(kind, LBP_METALLB_POOLS_KIND))
        k = 0;
    else if (lbp_streq(kind, LBP_METALLB_L2ADVS_KIND))
        k = 1;
    else {
        snprintf(err, errlen, "baremetal: unknown configuration kind \"%s\"", kind ? kind : "");
        return LBP_INVALID;
    }
    if (n > LBP_POOLS_MAX_POOLS) {
        snprintf(err, errlen, "%s: more than %d objects", kind, LBP_POOLS_MAX_POOLS);
        return LBP_TOOBIG;
    }
    if (n && !(copy = calloc(n, sizeof(*copy))))
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(copy[i] = strdup(objs[i] ? objs[i] : ""))) {
            rc = LBP_NOMEM;
            goto out;
        }

    pthread_mutex_lock(&ctx->mu);
    const char *const *pools =
        k == 0 ? (const char *const *)copy : (const char *const *)ctx->crd[0];
    size_t n_pools = k == 0 ? n : ctx->n_crd[0];
    const char *const *l2 = k == 1 ? (const char *const *)copy : (const char *const *)ctx->crd[1];
    size_t n_l2 = k == 1 ? n : ctx->n_crd[1];
    rc = build_set(ctx, pools, n_pools, l2, n_l2, &set, &d);
    if (rc == LBP_OK) {
        lbp_pool_set_free(ctx->set);
        ctx->set = set;
        char **old = ctx->crd[k];
        size_t n_old = ctx->n_crd[k];
        ctx->crd[k] = copy;
        ctx->n_crd[k] = n;
        copy = old;
        n = n_old;
    }
    pthread_mutex_unlock(&ctx->mu);

    if (rc == LBP_OK) {
        log_warnings(&d);
        lbp_info("baremetal: %s objects updated", kind);
    } else {
        /* keep the pools in force: refusing beats half-applying a bad config */
        snprintf(err, errlen, "%s rejected, previous pools kept: %s", kind, d.err);
        if (rc == LBP_PARSE)
            rc = LBP_INVALID;
    }
out:
    for (size_t i = 0; i < n && copy; i++)
        free(copy[i]);
    free(copy);
    return rc;
}

/* ------------------------------------------------------------ requests */

static const char *annotation(const struct lbp_lb_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (lbp_streq(spec->annotations[i].key, key))
            return spec->annotations[i].value ? spec->annotations[i].value : "";
    return NULL;
}

/* The first of keys present on the Service; *which says which one. */
static const char *first_annotation(const struct lbp_lb_spec *spec, const char *const *keys,
                                    const char **which)
{
    for (size_t i = 0; keys[i]; i++) {
        const char *v = annotation(spec, keys[i]);
        if (v) {
            *which = keys[i];
            return v;
        }
    }
    return NULL;
}

static int family_of(const char *s)
{
    if (lbp_streq(s, "IPv4"))
        return AF_INET;
    if (lbp_streq(s, "IPv6"))
        return AF_INET6;
    return -1;
}

static const char *family_name(int f)
{
    return f == AF_INET ? "IPv4" : "IPv6";
}

struct request {
    int families[2];
    size_t n_families;
    struct lbp_ip want[2]; /* requested address per family slot */
    bool has_want[2];
    const struct lbp_pool *pool; /* pool annotation, NULL when absent */
    const char *pool_ann;
    const char *share_key;
};

/* Parses a comma list of at most one address per family. */
static int parse_ip_list(const char *src, const char *list, struct lbp_ip out[2], size_t *n,
                         struct lbp_call *call)
{
    char buf[256];
    *n = 0;
    if (strlen(list) >= sizeof(buf)) {
        lbp_failf(call, "%s: too long", src);
        return LBP_INVALID;
    }
    lbp_strlcpy(buf, list, sizeof(buf));
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        size_t len = strlen(tok);
        while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
            tok[--len] = '\0';
        if (!*tok)
            continue;
        struct lbp_ip ip;
        if (lbp_ip_parse(tok, &ip)) {
            lbp_failf(call, "%s: \"%s\" is not an IP address", src, tok);
            return LBP_INVALID;
        }
        for (size_t i = 0; i < *n; i++)
            if (out[i].family == ip.family) {
                lbp_failf(call, "%s: more than one %s address", src, family_name(ip.family));
                return LBP_INVALID;
            }
        out[(*n)++] = ip;
    }
    return LBP_OK;
}

static int parse_request(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                         struct request *rq, struct lbp_call *call)
{
    int rc;
    const char *which = NULL, *v;
    struct lbp_ip ips[2];
    size_t n_ips = 0;

    memset(rq, 0, sizeof(*rq));
    if ((v = first_annotation(spec, ann_ips, &which))) {
        if ((rc = parse_ip_list(which, v, ips, &n_ips, call)))
            return rc;
    } else if (spec->requested_ip && *spec->requested_ip) {
        if ((rc = parse_ip_list("spec.loadBalancerIP", spec->requested_ip, ips, &n_ips, call)))
            return rc;
    } else if ((v = annotation(spec, ann_own_ips))) {
        if ((rc = parse_ip_list(ann_own_ips, v, ips, &n_ips, call)))
            return rc;
    }

    for (size_t i = 0; i < spec->n_ip_families; i++) {
        int f = family_of(spec->ip_families[i]);
        if (f < 0) {
            lbp_failf(call, "unknown IP family \"%s\"",
                      spec->ip_families[i] ? spec->ip_families[i] : "");
            return LBP_INVALID;
        }
        if (rq->n_families == 2 || (rq->n_families == 1 && rq->families[0] == f))
            continue;
        rq->families[rq->n_families++] = f;
    }
    if (rq->n_families == 0) /* no ipFamilies: what was asked for, else IPv4 */
        for (size_t i = 0; i < n_ips; i++)
            rq->families[rq->n_families++] = ips[i].family;
    if (rq->n_families == 0)
        rq->families[rq->n_families++] = AF_INET;

    for (size_t i = 0; i < n_ips; i++) {
        size_t slot = 0;
        while (slot < rq->n_families && rq->families[slot] != ips[i].family)
            slot++;
        if (slot == rq->n_families) {
            char text[LBP_IP_STRLEN];
            lbp_ip_format(&ips[i], text);
            lbp_failf(call,
                      "requested address %s is %s but the Service's ipFamilies do not include it",
                      text, family_name(ips[i].family));
            return LBP_INVALID;
        }
        rq->want[slot] = ips[i];
        rq->has_want[slot] = true;
    }

    if ((v = first_annotation(spec, ann_pool, &rq->pool_ann)) && *v) {
        if (!(rq->pool = lbp_pool_set_find(ctx->set, v))) {
            lbp_failf(call, "%s: pool \"%s\" does not exist", rq->pool_ann, v);
            return LBP_INVALID;
        }
    }
    rq->share_key = first_annotation(spec, ann_share, &which);
    return LBP_OK;
}

static void spec_labels(const struct lbp_lb_spec *spec, const struct lbp_pools_label **out,
                        size_t *n)
{
    /* lbp_lb_annotation and lbp_pools_label are both {const char *key, *value} */
    _Static_assert(sizeof(struct lbp_lb_annotation) == sizeof(struct lbp_pools_label),
                   "label layouts differ");
    *out = (const struct lbp_pools_label *)spec->labels;
    *n = spec->labels ? spec->n_labels : 0;
}

static bool pool_admits(const struct lbp_pool *p, const struct lbp_lb_spec *spec)
{
    const struct lbp_pools_label *l;
    size_t n;
    spec_labels(spec, &l, &n);
    return lbp_pool_allows(p, spec->namespace, l, n);
}

static int cmp_pool(const void *a, const void *b)
{
    const struct lbp_pool *x = *(const struct lbp_pool *const *)a;
    const struct lbp_pool *y = *(const struct lbp_pool *const *)b;
    unsigned px = x->priority ? (unsigned)x->priority : ~0u;
    unsigned py = y->priority ? (unsigned)y->priority : ~0u;
    if (px != py)
        return px < py ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Picks an address of family f for s; the three outcomes as in the file comment. */
static int allocate(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct request *rq, const struct lbp_bm_svc *s, int f, struct lbp_ip *out,
                    struct lbp_call *call)
{
    int rc = LBP_OK;
    const struct lbp_pool **cands = NULL;
    size_t n = 0;
    char names[200] = "";

    if (rq->pool) {
        if (!pool_admits(rq->pool, spec)) {
            lbp_failf(call, "pool %s (%s) does not admit %s (serviceAllocation)", rq->pool->name,
                      rq->pool_ann, s->key);
            return LBP_INVALID;
        }
        if (!lbp_pool_has_family(rq->pool, f)) {
            lbp_failf(call, "pool %s (%s) has no %s addresses", rq->pool->name, rq->pool_ann,
                      family_name(f));
            return LBP_INVALID;
        }
    }
    if (!(cands = calloc(ctx->set->n_pools + 1, sizeof(*cands))))
        return LBP_NOMEM;
    if (rq->pool)
        cands[n++] = rq->pool;
    else
        for (size_t i = 0; i < ctx->set->n_pools; i++) {
            const struct lbp_pool *p = &ctx->set->pools[i];
            if (p->auto_assign && lbp_pool_has_family(p, f) && pool_admits(p, spec))
                cands[n++] = p;
        }
    if (n == 0) {
        lbp_failf(call, "no pool with autoAssign offers %s addresses to %s", family_name(f),
                  s->key);
        rc = LBP_INVALID;
        goto out;
    }
    qsort(cands, n, sizeof(*cands), cmp_pool);
    for (size_t i = 0; i < n; i++)
        if (lbp_bm_pick(&ctx->table, cands[i], f, s, out))
            goto out;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names);
        snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", cands[i]->name);
    }
    lbp_failf(call, "no free %s address: pool%s %s %s full", family_name(f), n > 1 ? "s" : "",
              names, n > 1 ? "are" : "is");
    rc = LBP_PENDING;
out:
    free(cands);
    return rc;
}

/* A requested address: inside a pool that admits the Service, and free to take. */
static int check_wanted(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct request *rq, const struct lbp_bm_svc *s,
                        const struct lbp_ip *ip, struct lbp_call *call)
{
    char text[LBP_IP_STRLEN], why[LBP_ERRBUF_SIZE];
    const struct lbp_pool *p = lbp_pool_set_lookup(ctx->set, ip);
    lbp_ip_format(ip, text);
    if (!p) {
        lbp_failf(call, "requested address %s is not in any pool", text);
        return LBP_INVALID;
    }
    if (rq->pool && rq->pool != p) {
        lbp_failf(call, "requested address %s is in pool %s, not in pool %s (%s)", text, p->name,
                  rq->pool->name, rq->pool_ann);
        return LBP_INVALID;
    }
    if (!pool_admits(p, spec)) {
        lbp_failf(call, "pool %s does not admit %s (serviceAllocation)", p->name, s->key);
        return LBP_INVALID;
    }
    if (!lbp_pool_usable(p, ip)) {
        lbp_failf(call, "requested address %s is skipped by avoidBuggyIPs in pool %s", text,
                  p->name);
        return LBP_INVALID;
    }
    if (!lbp_bm_can_hold(&ctx->table, s, ip, why, sizeof(why))) {
        lbp_failf(call, "%s", why);
        return LBP_INVALID;
    }
    return LBP_OK;
}

/* May s keep an address it already holds? */
static bool keepable(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     const struct request *rq, const struct lbp_bm_svc *s, const struct lbp_ip *ip)
{
    char why[LBP_ERRBUF_SIZE];
    const struct lbp_pool *p = lbp_pool_set_lookup(ctx->set, ip);
    return p && (!rq->pool || rq->pool == p) && pool_admits(p, spec) && lbp_pool_usable(p, ip) &&
           lbp_bm_can_hold(&ctx->table, s, ip, why, sizeof(why));
}

static void fill_status(const struct lbp_bm_svc *s, struct lbp_lb_status *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof(*st));
    for (size_t i = 0; i < s->n_addrs && i < LBP_LB_MAX_INGRESS; i++)
        lbp_ip_format(&s->addrs[i], st->ingress[i].ip);
    st->n_ingress = s->n_addrs < LBP_LB_MAX_INGRESS ? s->n_addrs : LBP_LB_MAX_INGRESS;
}

static bool key_ok(const struct lbp_lb_spec *spec, struct lbp_call *call)
{
    if (!spec || !spec->namespace || !*spec->namespace || !spec->name || !*spec->name) {
        lbp_failf(call, "Service namespace and name are required");
        return false;
    }
    return true;
}

/* A record from an older incarnation of the same ns/name (the UID changed). */
static bool stale(const struct lbp_bm_svc *s, const struct lbp_lb_spec *spec)
{
    return s && spec->uid && *spec->uid && *s->uid && strcmp(s->uid, spec->uid) != 0;
}

static int ensure_locked(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                         struct lbp_lb_status *st, struct lbp_call *call)
{
    int rc;
    struct request rq;
    struct lbp_bm_svc *s = NULL;
    struct lbp_bm_svc *old;

    if ((rc = parse_request(ctx, spec, &rq, call)))
        return rc;
    if (!(s = lbp_bm_svc_new(spec, rq.share_key)))
        return LBP_NOMEM;
    old = lbp_bm_find_svc(&ctx->table, spec->namespace, spec->name);
    if (stale(old, spec)) {
        lbp_info("%s: releasing the addresses of a previous Service with this name", s->key);
        lbp_bm_release(&ctx->table, old);
        old = NULL;
    }

    for (size_t i = 0; i < rq.n_families; i++) {
        int f = rq.families[i];
        const struct lbp_ip *cur = NULL;
        for (size_t j = 0; old && j < old->n_addrs; j++)
            if (old->addrs[j].family == f)
                cur = &old->addrs[j];
        if (rq.has_want[i]) {
            if ((rc = check_wanted(ctx, spec, &rq, s, &rq.want[i], call)))
                goto out;
            s->addrs[i] = rq.want[i];
        } else if (cur && keepable(ctx, spec, &rq, s, cur)) {
            s->addrs[i] = *cur;
        } else if ((rc = allocate(ctx, spec, &rq, s, f, &s->addrs[i], call))) {
            goto out;
        }
        s->n_addrs = i + 1;
    }
    bool changed = !old || old->n_addrs != s->n_addrs;
    for (size_t i = 0; !changed && i < s->n_addrs; i++)
        changed = !lbp_ip_equal(&old->addrs[i], &s->addrs[i]);

    /* All families settled: swap the record in one step. */
    if (old)
        lbp_bm_release(&ctx->table, old);
    if ((rc = lbp_bm_insert(&ctx->table, s)))
        goto out;
    if (changed) {
        char a[LBP_IP_STRLEN], b[LBP_IP_STRLEN] = "";
        lbp_ip_format(&s->addrs[0], a);
        if (s->n_addrs > 1)
            lbp_ip_format(&s->addrs[1], b);
        lbp_info("%s: assigned %s%s%s", s->key, a, s->n_addrs > 1 ? "," : "", b);
    }
    fill_status(s, st);
    s = NULL;
out:
    if (rc && call && !call->event_reason)
        call->event_reason = REASON_FAILED;
    if (rc == LBP_PENDING) {
        if (call)
            call->retry_after_s = PENDING_RETRY_S;
        if (st)
            st->retry_after_s = PENDING_RETRY_S;
    }
    lbp_bm_svc_free(s);
    return rc;
}

static int bm_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_lb_status *st, struct lbp_call *call)
{
    int rc;
    if (!key_ok(spec, call))
        return LBP_INVALID;
    pthread_mutex_lock(&ctx->mu);
    rc = ensure_locked(ctx, spec, st, call);
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

static int bm_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct lbp_lb_status *st, struct lbp_call *call)
{
    int rc = LBP_NOT_FOUND;
    if (!key_ok(spec, call))
        return LBP_INVALID;
    pthread_mutex_lock(&ctx->mu);
    struct lbp_bm_svc *s = lbp_bm_find_svc(&ctx->table, spec->namespace, spec->name);
    if (s && !stale(s, spec)) {
        fill_status(s, st);
        rc = LBP_OK;
    }
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

static int bm_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_call *call)
{
    if (!key_ok(spec, call))
        return LBP_INVALID;
    pthread_mutex_lock(&ctx->mu);
    struct lbp_bm_svc *s = lbp_bm_find_svc(&ctx->table, spec->namespace, spec->name);
    /* a different UID is a newer Service of the same name: not ours to free */
    if (s && !stale(s, spec)) {
        lbp_info("%s: released its addresses", s->key);
        lbp_bm_release(&ctx->table, s);
    }
    pthread_mutex_unlock(&ctx->mu);
    return LBP_OK;
}

static int bm_restore(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      const struct lbp_lb_status *current)
{
    int rc = LBP_OK;
    struct lbp_bm_svc *s = NULL;
    const char *which = NULL;
    char why[LBP_ERRBUF_SIZE];

    if (!spec || !spec->namespace || !spec->name || !current)
        return LBP_INVALID;
    pthread_mutex_lock(&ctx->mu);
    if (lbp_bm_find_svc(&ctx->table, spec->namespace, spec->name))
        goto out; /* already known: ensure owns it now */
    if (!(s = lbp_bm_svc_new(spec, first_annotation(spec, ann_share, &which)))) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < current->n_ingress && i < LBP_LB_MAX_INGRESS; i++) {
        struct lbp_ip ip;
        bool dup = false;
        if (lbp_ip_parse(current->ingress[i].ip, &ip))
            continue; /* a hostname or garbage: nothing to hold */
        for (size_t j = 0; j < s->n_addrs; j++)
            dup |= s->addrs[j].family == ip.family;
        if (dup || s->n_addrs == 2)
            continue;
        /* Held even when outside every pool (the pools may not be configured
         * yet): the next ensure moves it if it has to. */
        if (!lbp_bm_can_hold(&ctx->table, s, &ip, why, sizeof(why))) {
            lbp_warn("%s/%s: cannot restore %s: %s", spec->namespace, spec->name,
                     current->ingress[i].ip, why);
            rc = LBP_CONFLICT;
            continue;
        }
        s->addrs[s->n_addrs++] = ip;
    }
    if (s->n_addrs == 0)
        goto out;
    if (lbp_bm_insert(&ctx->table, s)) {
        rc = LBP_NOMEM;
        goto out;
    }
    lbp_v(1, "%s: restored %zu address(es)", s->key, s->n_addrs);
    s = NULL;
out:
    pthread_mutex_unlock(&ctx->mu);
    lbp_bm_svc_free(s);
    return rc;
}

static int bm_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                         struct lbp_call *call)
{
    struct lbp_owned_list l;
    struct lbp_bm_svc *s, *tmp;
    int rc = LBP_OK;
    lbp_owned_init(&l);
    pthread_mutex_lock(&ctx->mu);
    HASH_ITER(hh, ctx->table.svcs, s, tmp)
    {
        char lb[LBP_LB_NAME_LEN + 1] = "";
        if (*s->uid)
            lbp_lb_name(s->uid, lb);
        if ((rc = lbp_owned_add(&l, lb, s->ns, s->name)))
            break;
    }
    pthread_mutex_unlock(&ctx->mu);
    if (rc)
        lbp_owned_free(&l);
    else
        rc = lbp_owned_take(&l, out, n);
    return rc;
}

static int bm_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    return LBP_OK; /* nothing remote to reach */
}

/* Pools with in-use/available counts (the allocator metrics) and the table. */
static char *bm_debug_json(struct lbp_provider_ctx *ctx)
{
    char *out = NULL;
    json_object *root = json_object_new_object(), *pools = json_object_new_array(),
                *allocs = json_object_new_array();
    char text[LBP_IP_STRLEN], num[40];

    pthread_mutex_lock(&ctx->mu);
    for (size_t i = 0; i < ctx->set->n_pools; i++) {
        const struct lbp_pool *p = &ctx->set->pools[i];
        json_object *o = json_object_new_object(), *ranges = json_object_new_array();
        unsigned __int128 size = 0;
        for (size_t j = 0; j < p->n_ranges; j++) {
            unsigned __int128 rs = lbp_ip_range_size(&p->ranges[j], p->avoid_buggy_ips);
            size = size + rs < size ? ~(unsigned __int128)0 : size + rs;
            json_object_array_add(ranges, json_object_new_string(p->range_text[j]));
        }
        size_t used = lbp_bm_in_use(&ctx->table, p);
        json_object_object_add(o, "name", json_object_new_string(p->name));
        json_object_object_add(
            o, "source",
            json_object_new_string(p->source == LBP_POOL_YAML ? "config" : "IPAddressPool"));
        json_object_object_add(o, "addresses", ranges);
        json_object_object_add(o, "autoAssign", json_object_new_boolean(p->auto_assign));
        json_object_object_add(o, "avoidBuggyIPs", json_object_new_boolean(p->avoid_buggy_ips));
        json_object_object_add(o, "priority", json_object_new_int(p->priority));
        json_object_object_add(o, "announcedBy", json_object_new_int((int)p->n_advs));
        json_object_object_add(o, "inUse", json_object_new_int64((int64_t)used));
        /* decimal strings: an IPv6 pool's size does not fit a JSON number */
        lbp_u128_format(size, num);
        json_object_object_add(o, "size", json_object_new_string(num));
        lbp_u128_format(size - used, num);
        json_object_object_add(o, "available", json_object_new_string(num));
        json_object_array_add(pools, o);
    }
    struct lbp_bm_addr *a, *tmp;
    HASH_ITER(hh, ctx->table.addrs, a, tmp)
    {
        json_object *o = json_object_new_object(), *svcs = json_object_new_array();
        const struct lbp_pool *p = lbp_pool_set_lookup(ctx->set, &a->ip);
        lbp_ip_format(&a->ip, text);
        json_object_object_add(o, "address", json_object_new_string(text));
        json_object_object_add(o, "pool", p ? json_object_new_string(p->name) : NULL);
        for (size_t j = 0; j < a->n_holders; j++)
            json_object_array_add(svcs, json_object_new_string(a->holders[j]->key));
        json_object_object_add(o, "services", svcs);
        if (a->n_holders && a->holders[0]->share_key)
            json_object_object_add(o, "sharingKey",
                                   json_object_new_string(a->holders[0]->share_key));
        json_object_array_add(allocs, o);
    }
    pthread_mutex_unlock(&ctx->mu);
    json_object_object_add(root, "pools", pools);
    json_object_object_add(root, "allocations", allocs);
    out = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(root);
    return out;
}

/* MetalLB's objects, where the speaker reads them too (pools/api.h). */
static const struct lbp_config_kind bm_config_kinds[] = {
    {LBP_METALLB_POOLS_KIND, LBP_METALLB_POOLS_PATH, LBP_METALLB_SOURCE},
    {LBP_METALLB_L2ADVS_KIND, LBP_METALLB_L2ADVS_PATH, LBP_METALLB_SOURCE},
    {NULL, NULL, NULL},
};

const struct lbp_provider lbp_provider_baremetal = {
    .name = "baremetal",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_SCTP | LBP_CAP_MIXED_PROTOCOLS | LBP_CAP_IPV6 |
            LBP_CAP_REQUESTED_IP | LBP_CAP_RUNTIME_CONFIG | LBP_CAP_ALLOCATES_ADDRESSES |
            LBP_CAP_SERVICE_LABELS,
    .config_kinds = bm_config_kinds,
    .init = bm_init,
    .cleanup = bm_cleanup,
    .get = bm_get,
    .ensure = bm_ensure,
    .update_targets = NULL,
    .remove = bm_remove,
    .list_owned = bm_list_owned,
    .ping = bm_ping,
    .debug_json = bm_debug_json,
    .configure = bm_configure,
    .restore = bm_restore,
    .reload = bm_reload,
};
