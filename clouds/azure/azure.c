/*
 * azure.c — the Azure provider's vtable: configuration, and each slot as
 * the steps over the shared objects (shared.c) and the Service's own
 * public IP (service.c).
 *
 * ensure, in order, each step converging from what ARM shows:
 *   1. the public IP (external Services): made, or found; LBP_PENDING while
 *      ARM provisions it;
 *   2. the Service's part on its load balancer (and none on the other one,
 *      should it have moved between public and internal); the backend pool
 *      rides along (nodeIP) or follows through the NICs
 *      (nodeIPConfiguration);
 *   3. its security rules, aimed at the frontend address.
 * A step that ARM still runs answers LBP_PENDING; the next call picks up
 * from ARM's state, so a restart mid-way never makes a second object.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/azure/azure_int.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/vec.h"
#include "provider/ratelimit.h"

static void az_cleanup(struct lbp_provider_ctx *ctx)
{
    if (!ctx)
        return;
    lbp_token_cache_free(ctx->token);
    lbp_lro_table_free(ctx->ops);
    lbp_node_cache_free(ctx->nics);
    lbp_http_client_free(ctx->http);
    for (int i = 0; i < 2; i++)
        if (ctx->lb[i].name[0])
            az_slot_free(&ctx->lb[i]);
    if (ctx->nsg.name[0])
        az_slot_free(&ctx->nsg);
    json_object_put(ctx->pip_del);
    json_object_put(ctx->pip_ready);
    pthread_mutex_destroy(&ctx->pace_mu);
    pthread_mutex_destroy(&ctx->del_mu);
    az_config_free(&ctx->cfg);
    free(ctx);
}

static int az_init(const char *path, const char *cluster_name, struct lbp_provider_ctx **out,
                   char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));
    struct lbp_http_opts ho = {.cloud = "azure"};
    struct lbp_token_source *src = NULL;
    char *text = NULL, ferr[300], url[600], scope[200], id[AZ_ID_MAX], name[AZ_NAME_MAX + 1];
    size_t len = 0;
    int rc;

    if (!ctx)
        return LBP_NOMEM;
    pthread_mutex_init(&ctx->pace_mu, NULL);
    pthread_mutex_init(&ctx->del_mu, NULL);
    for (int i = 0; i < 3; i++)
        ctx->remaining[i] = -1;
    ctx->pip_del = json_object_new_object();
    ctx->pip_ready = json_object_new_object();
    if (!path || !*path) {
        snprintf(err, errlen, "azure: --cloud-config azure.json is required");
        rc = LBP_INVALID;
        goto out;
    }
    if (lbp_file_read_err(path, 1 << 20, LBP_FILE_SECRET, &text, &len, ferr, sizeof(ferr))) {
        snprintf(err, errlen, "azure: cannot read cloud-config: %s", ferr);
        rc = LBP_INVALID;
        goto out;
    }
    lbp_strlcpy(ctx->cluster, cluster_name && *cluster_name ? cluster_name : "kubernetes",
                sizeof(ctx->cluster));
    rc = az_config_parse(text, len, ctx->cluster, &ctx->cfg, err, errlen);
    explicit_bzero(text, len);
    if (rc)
        goto out;
    ho.qps = ctx->cfg.qps;
    ho.burst = (unsigned)ctx->cfg.burst;
    if ((rc = lbp_http_client_new(&ho, &ctx->http)))
        goto out;
    snprintf(scope, sizeof(scope), "%s.default", ctx->cfg.resource);
    snprintf(url, sizeof(url), "%s%s/oauth2/v2.0/token", ctx->cfg.aad, ctx->cfg.tenant);
    switch (ctx->cfg.auth) {
    case AZ_AUTH_SECRET:
        rc = lbp_token_client_credentials(ctx->http, url, ctx->cfg.client_id,
                                          ctx->cfg.client_secret, scope, &src, err, errlen);
        break;
    case AZ_AUTH_WORKLOAD:
        rc =
            lbp_token_federated(ctx->http, LBP_FEDERATION_CLIENT_ASSERTION, url, ctx->cfg.client_id,
                                ctx->cfg.fed_token_file, scope, &src, err, errlen);
        break;
    case AZ_AUTH_MSI: {
        char base[256];
        size_t n;
        if (ctx->cfg.user_identity[0] == '/') {
            snprintf(err, errlen,
                     "azure: azure.json: userAssignedIdentityID: give the identity's client id, "
                     "not its resource id");
            rc = LBP_INVALID;
            goto out;
        }
        lbp_strlcpy(base, ctx->cfg.imds, sizeof(base));
        n = strlen(base);
        if (n && base[n - 1] == '/')
            base[n - 1] = 0;
        rc = lbp_token_azure_imds(ctx->http, base[0] ? base : NULL, ctx->cfg.resource,
                                  ctx->cfg.user_identity[0] ? ctx->cfg.user_identity : NULL, &src);
        break;
    }
    }
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "azure: token source: %s", lbp_rc_str(rc));
        goto out;
    }
    if ((rc = lbp_token_cache_new(src, 0, &ctx->token)))
        goto out;
    ctx->rest.http = ctx->http;
    ctx->rest.token = ctx->token;
    ctx->rest.map_error = az_map_error;
    if ((rc = lbp_lro_table_new(&ctx->ops)) || (rc = lbp_node_cache_new(sizeof(struct {
                                                                            char a[AZ_ID_MAX];
                                                                            char b[AZ_ID_MAX + 128];
                                                                        }),
                                                                        300, &ctx->nics)))
        goto out;
    az_id(ctx, ctx->cfg.lb_rg, "Microsoft.Network/loadBalancers", ctx->cfg.lb_name, id, sizeof(id));
    az_slot_init(&ctx->lb[0], AZ_SLOT_LB, false, ctx->cfg.lb_name, id);
    snprintf(name, sizeof(name), "%.*s-internal", AZ_NAME_MAX - 9, ctx->cfg.lb_name);
    az_id(ctx, ctx->cfg.lb_rg, "Microsoft.Network/loadBalancers", name, id, sizeof(id));
    az_slot_init(&ctx->lb[1], AZ_SLOT_LB, true, name, id);
    if (ctx->cfg.nsg[0]) {
        az_id(ctx, ctx->cfg.nsg_rg, "Microsoft.Network/networkSecurityGroups", ctx->cfg.nsg, id,
              sizeof(id));
        az_slot_init(&ctx->nsg, AZ_SLOT_NSG, false, ctx->cfg.nsg, id);
    }
    lbp_info("azure: %s, subscription %s, resource group %s, load balancers %s and %s, "
             "%s pool, auth %s, ARM %s",
             ctx->cfg.cloud, ctx->cfg.subscription, ctx->cfg.lb_rg, ctx->lb[0].name,
             ctx->lb[1].name, ctx->cfg.pool == AZ_POOL_NIC ? "nodeIPConfiguration" : "nodeIP",
             ctx->cfg.auth == AZ_AUTH_SECRET ? "client secret"
             : ctx->cfg.auth == AZ_AUTH_MSI  ? "managed identity"
                                             : "workload identity",
             ctx->cfg.arm);
out:
    free(text);
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "azure: %s", lbp_rc_str(rc));
        az_cleanup(ctx);
        return rc == LBP_NOMEM ? rc : LBP_INVALID;
    }
    *out = ctx;
    return LBP_OK;
}

/* The frontend's address on this LB JSON: its private IP, or NULL. */
static const char *frontend_private_ip(struct json_object *lb, const char *owner)
{
    struct json_object *fes = lbp_json_at(lb, "properties.frontendIPConfigurations");
    for (size_t i = 0; fes && i < json_object_array_length(fes); i++) {
        struct json_object *f = json_object_array_get_idx(fes, i);
        if (lbp_streq(json_object_get_string(lbp_json_at(f, "name")), owner))
            return json_object_get_string(lbp_json_at(f, "properties.privateIPAddress"));
    }
    return NULL;
}

static struct json_object *frontend(struct json_object *lb, const char *owner)
{
    struct json_object *fes = lbp_json_at(lb, "properties.frontendIPConfigurations");
    for (size_t i = 0; fes && i < json_object_array_length(fes); i++) {
        struct json_object *f = json_object_array_get_idx(fes, i);
        if (lbp_streq(json_object_get_string(lbp_json_at(f, "name")), owner))
            return f;
    }
    return NULL;
}

/* The backend pool for spec, through the LB (nodeIP) or the NICs. */
static int pool_sync(struct lbp_provider_ctx *ctx, struct az_slot *s, struct json_object *lb,
                     const struct lbp_lb_spec *spec, bool force, struct lbp_call *call)
{
    char digest[65];
    struct json_object *again = NULL;
    uint64_t gen;
    int rc;
    az_nodes_digest(spec, digest);
    if (!force && strcmp(digest, s->nodes_applied) == 0)
        return LBP_OK; /* written once already for this node set */
    if (ctx->cfg.pool == AZ_POOL_NIC) {
        if (!lb) {
            rc = az_slot_sync(ctx, s, NULL, &again, call);
            if (rc)
                return rc;
            lb = again;
        }
        rc = lb ? az_nic_sync(ctx, s, lb, spec, call) : LBP_OK;
        json_object_put(again);
        return rc;
    }
    gen = az_pool_want(s, az_pool_addresses(ctx, spec));
    rc = az_slot_sync(ctx, s, NULL, &again, call);
    json_object_put(again);
    if (rc == LBP_OK)
        az_pool_applied(s, gen, digest);
    return rc;
}

/* The Service's security rules, aimed at dest, on the cluster's group (when it has one). */
static int nsg_sync(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *dest,
                    struct lbp_call *call)
{
    struct az_part rules = {0};
    struct json_object *nsg = NULL;
    int rc;
    if (!ctx->nsg.name[0])
        return LBP_OK;
    lbp_strlcpy(rules.owner, spec->lb_name, sizeof(rules.owner));
    rules.want = az_nsg_part(spec, dest);
    rc = az_slot_sync(ctx, &ctx->nsg, &rules, &nsg, call);
    json_object_put(rules.want);
    json_object_put(nsg);
    return rc;
}

static int az_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_lb_status *st, struct lbp_call *call)
{
    struct az_opts o;
    struct az_part part = {0}, gone = {0};
    struct json_object *lb = NULL, *other = NULL;
    struct az_slot *s;
    char ip[64] = "", pip_id[AZ_ID_MAX] = "";
    uint64_t pool_gen = 0;
    int rc;

    memset(st, 0, sizeof(*st));
    if ((rc = az_opts_parse(ctx, spec, &o, call)))
        goto out;
    s = &ctx->lb[o.internal ? 1 : 0];
    if (ctx->cfg.pool == AZ_POOL_NODEIP) /* first: see az_pool_want */
        pool_gen = az_pool_want(s, az_pool_addresses(ctx, spec));
    lbp_strlcpy(part.owner, spec->lb_name, sizeof(part.owner));
    lbp_strlcpy(gone.owner, spec->lb_name, sizeof(gone.owner));
    if (!o.internal &&
        (rc = az_pip_ensure(ctx, spec, &o, ip, sizeof(ip), pip_id, sizeof(pip_id), call)))
        goto out;
    /* Nothing of this Service on the other LB (it moved between public and internal). */
    if ((rc = az_slot_sync(ctx, &ctx->lb[o.internal ? 0 : 1], &gone, &other, call)))
        goto out;
    part.want = az_lb_part(ctx, s, spec, &o, o.internal ? NULL : pip_id);
    rc = az_slot_sync(ctx, s, &part, &lb, call);
    /*
     * A public frontend's address is its public IP's, known already: its
     * security rules need not wait for the load balancer's operation and go
     * to the security group while ARM still runs that one, so the two
     * operations overlap rather than follow each other. An internal
     * frontend's address is ARM's to choose: its rules follow the LB.
     */
    if (rc == LBP_PENDING && !o.internal) {
        struct lbp_call lb_call = *call;
        int nrc = nsg_sync(ctx, spec, ip, call);
        if (nrc && nrc != LBP_PENDING)
            rc = nrc;
        else
            *call = lb_call; /* the LB's answer is the one to report */
        goto out;
    }
    if (rc)
        goto out;
    if (o.internal) {
        const char *pip = frontend_private_ip(lb, spec->lb_name);
        if (!pip || !*pip) {
            lbp_failf(call, "load balancer %s: frontend %s has no address yet", s->name,
                      spec->lb_name);
            call->retry_after_s = 1;
            rc = LBP_PENDING;
            goto out;
        }
        lbp_strlcpy(ip, pip, sizeof(ip));
        /* It was public before? Its public IP goes. */
        if ((rc = az_pip_remove(ctx, spec, NULL, call)))
            goto out;
    }
    if (ctx->cfg.pool == AZ_POOL_NIC) {
        if ((rc = pool_sync(ctx, s, lb, spec, true, call)))
            goto out;
    } else {
        char digest[65];
        az_nodes_digest(spec, digest);
        az_pool_applied(s, pool_gen, digest);
    }
    if ((rc = nsg_sync(ctx, spec, ip, call)))
        goto out;
    lbp_strlcpy(st->ingress[0].ip, ip, sizeof(st->ingress[0].ip));
    st->n_ingress = 1;
out:
    /*
     * Bad input stays bad until the Service or the configuration changes: a
     * reason of our own lets the reconciler tell a repeat (the same Service
     * synced again after a relist or resync) from a new failure, so the
     * Service gets one Warning Event, not one per sync.
     */
    if (rc == LBP_INVALID && call && !call->event_reason)
        call->event_reason = "SyncLoadBalancerFailed";
    if (rc == LBP_PENDING && call && !st->retry_after_s)
        st->retry_after_s = call->retry_after_s;
    if (rc != LBP_PENDING)
        az_pip_forget(ctx, spec); /* the next ensure reads the public IP again */
    json_object_put(part.want);
    json_object_put(lb);
    json_object_put(other);
    az_opts_free(&o);
    if (rc && rc != LBP_PENDING)
        lbp_v(2, "azure %s/%s: ensure: %s: %s", spec->namespace, spec->name, lbp_rc_str(rc),
              call ? call->err : "");
    return rc;
}

static int az_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct lbp_lb_status *st, struct lbp_call *call)
{
    struct az_opts o;
    struct az_resp r;
    struct json_object *f;
    const char *ip = NULL;
    int rc;
    memset(st, 0, sizeof(*st));
    if ((rc = az_opts_parse(ctx, spec, &o, call)))
        return rc;
    rc = az_arm(ctx, "GET", ctx->lb[o.internal ? 1 : 0].path, NULL, NULL, NULL, "GetLoadBalancer",
                &r, call);
    if (rc == LBP_OK && !(f = frontend(r.json, spec->lb_name)))
        rc = LBP_NOT_FOUND;
    if (rc == LBP_OK && o.internal) {
        ip = json_object_get_string(lbp_json_at(f, "properties.privateIPAddress"));
        if (ip)
            lbp_strlcpy(st->ingress[0].ip, ip, sizeof(st->ingress[0].ip));
    } else if (rc == LBP_OK) {
        const char *pid = json_object_get_string(lbp_json_at(f, "properties.publicIPAddress.id"));
        struct az_resp p;
        rc = pid ? az_arm(ctx, "GET", pid, NULL, NULL, NULL, "GetPublicIPAddress", &p, call)
                 : LBP_NOT_FOUND;
        if (rc == LBP_OK &&
            (ip = json_object_get_string(lbp_json_at(p.json, "properties.ipAddress"))))
            lbp_strlcpy(st->ingress[0].ip, ip, sizeof(st->ingress[0].ip));
        if (pid)
            az_resp_free(&p);
    }
    if (rc == LBP_OK && st->ingress[0].ip[0])
        st->n_ingress = 1;
    az_resp_free(&r);
    az_opts_free(&o);
    return rc;
}

static int az_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                             struct lbp_call *call)
{
    struct az_opts o;
    int rc = az_opts_parse(ctx, spec, &o, call);
    if (rc)
        return rc;
    rc = pool_sync(ctx, &ctx->lb[o.internal ? 1 : 0], NULL, spec, false, call);
    az_opts_free(&o);
    return rc;
}

static int az_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_call *call)
{
    struct az_part gone = {0};
    char pip_id[AZ_ID_MAX] = "";
    int rc = LBP_OK;
    lbp_strlcpy(gone.owner, spec->lb_name, sizeof(gone.owner));
    /* The public IP the frontend holds (maybe in another resource group): noted before
       the frontend goes, for the calls after an LBP_PENDING. */
    {
        struct az_resp r;
        int r2 = az_arm(ctx, "GET", ctx->lb[0].path, NULL, NULL, NULL, "GetLoadBalancer", &r, call);
        const char *pid = r2 == LBP_OK
                              ? json_object_get_string(lbp_json_at(frontend(r.json, spec->lb_name),
                                                                   "properties.publicIPAddress.id"))
                              : NULL;
        pthread_mutex_lock(&ctx->del_mu);
        if (pid)
            json_object_object_add(ctx->pip_del, spec->lb_name, json_object_new_string(pid));
        pid = json_object_get_string(lbp_json_at(ctx->pip_del, spec->lb_name));
        if (pid)
            lbp_strlcpy(pip_id, pid, sizeof(pip_id));
        pthread_mutex_unlock(&ctx->del_mu);
        az_resp_free(&r);
        if (r2 && r2 != LBP_NOT_FOUND)
            return r2;
    }
    for (int i = 0; i < 2 && rc == LBP_OK; i++) {
        struct json_object *lb = NULL;
        rc = az_slot_sync(ctx, &ctx->lb[i], &gone, &lb, call);
        json_object_put(lb);
    }
    if (rc == LBP_OK && ctx->nsg.name[0]) {
        struct json_object *nsg = NULL;
        rc = az_slot_sync(ctx, &ctx->nsg, &gone, &nsg, call);
        json_object_put(nsg);
    }
    if (rc == LBP_OK)
        rc = az_pip_remove(ctx, spec, pip_id, call);
    if (rc == LBP_OK) {
        pthread_mutex_lock(&ctx->del_mu);
        json_object_object_del(ctx->pip_del, spec->lb_name);
        pthread_mutex_unlock(&ctx->del_mu);
    }
    az_pip_forget(ctx, spec);
    return rc;
}

/* ---- list_owned ---- */

static bool owner_name(const char *n)
{
    if (!n || strlen(n) != LBP_LB_NAME_LEN || n[0] != 'a')
        return false;
    for (size_t i = 1; i < LBP_LB_NAME_LEN; i++)
        if (!strchr("0123456789abcdef", n[i]))
            return false;
    return true;
}

static void add_owned(struct lbp_owned_list *l, const char *lb_name, const char *svc)
{
    const char *slash = svc ? strchr(svc, '/') : NULL;
    if (!slash || slash == svc || !slash[1] || lbp_owned_has(l, lb_name))
        return;
    /* no memory: this LB waits for the next scan, as one not listed yet would */
    (void)lbp_owned_add_key(l, lb_name, svc);
}

struct owned_ud {
    struct lbp_provider_ctx *ctx;
    struct lbp_owned_list *l;
    struct json_object *svc_of; /* owner → "ns/name" */
};

static int each_owned_pip(void *ud, struct json_object *item)
{
    struct owned_ud *u = ud;
    const char *svc = json_object_get_string(lbp_json_at(item, "tags." AZ_TAG_SERVICE));
    const char *name = json_object_get_string(lbp_json_at(item, "name"));
    char owner[AZ_NAME_MAX + 1];
    size_t n = strlen(u->ctx->cluster);
    if (!svc || !lbp_streq(json_object_get_string(lbp_json_at(item, "tags." AZ_TAG_CLUSTER)),
                           u->ctx->cluster))
        return LBP_OK;
    /* By its default name <cluster>-a<uid32>; a named one through the frontend using it. */
    if (name && strncmp(name, u->ctx->cluster, n) == 0 && name[n] == '-' &&
        owner_name(name + n + 1)) {
        lbp_strlcpy(owner, name + n + 1, sizeof(owner));
        add_owned(u->l, owner, svc);
    }
    {
        const char *cfg =
            json_object_get_string(lbp_json_at(item, "properties.ipConfiguration.id"));
        const char *fe = cfg ? strrchr(cfg, '/') : NULL;
        if (fe && owner_name(fe + 1))
            add_owned(u->l, fe + 1, svc);
    }
    return LBP_OK;
}

static int az_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                         struct lbp_call *call)
{
    struct lbp_owned_list l;
    struct owned_ud u = {ctx, &l, json_object_new_object()};
    char id[AZ_ID_MAX], url[AZ_URL_MAX];
    int rc = LBP_OK;
    lbp_owned_init(&l);
    /* Who a frontend belongs to: its security rules say (description "ns/name"). */
    if (ctx->nsg.name[0]) {
        struct az_resp r;
        rc = az_arm(ctx, "GET", ctx->nsg.path, NULL, NULL, NULL, "GetSecurityGroup", &r, call);
        struct json_object *rules =
            rc == LBP_OK ? lbp_json_at(r.json, "properties.securityRules") : NULL;
        for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
            struct json_object *ru = json_object_array_get_idx(rules, i);
            const char *name = json_object_get_string(lbp_json_at(ru, "name"));
            const char *desc = json_object_get_string(lbp_json_at(ru, "properties.description"));
            char owner[LBP_LB_NAME_LEN + 1];
            if (!name || strlen(name) <= LBP_LB_NAME_LEN || name[LBP_LB_NAME_LEN] != '-')
                continue;
            lbp_strlcpy(owner, name, sizeof(owner));
            if (owner_name(owner) && desc)
                json_object_object_add(u.svc_of, owner, json_object_new_string(desc));
        }
        az_resp_free(&r);
        if (rc && rc != LBP_NOT_FOUND)
            goto out;
    }
    for (int i = 0; i < 2; i++) {
        struct az_resp r;
        struct json_object *fes;
        rc = az_arm(ctx, "GET", ctx->lb[i].path, NULL, NULL, NULL, "GetLoadBalancer", &r, call);
        fes = rc == LBP_OK ? lbp_json_at(r.json, "properties.frontendIPConfigurations") : NULL;
        for (size_t j = 0; fes && j < json_object_array_length(fes); j++) {
            const char *name =
                json_object_get_string(lbp_json_at(json_object_array_get_idx(fes, j), "name"));
            if (owner_name(name))
                add_owned(&l, name, json_object_get_string(lbp_json_at(u.svc_of, name)));
        }
        az_resp_free(&r);
        if (rc && rc != LBP_NOT_FOUND)
            goto out;
    }
    az_id(ctx, ctx->cfg.rg, "Microsoft.Network/publicIPAddresses", "", id, sizeof(id));
    id[strlen(id) - 1] = 0;
    snprintf(url, sizeof(url), "%s%s?api-version=%s", ctx->cfg.arm, id + 1, AZ_NET_API);
    rc = lbp_rest_list(&ctx->rest, url, "ListPublicIPAddresses", "value", "nextLink", NULL,
                       each_owned_pip, &u, NULL, call);
    if (rc == LBP_NOT_FOUND)
        rc = LBP_OK;
out:
    json_object_put(u.svc_of);
    if (rc) {
        lbp_owned_free(&l);
        return rc;
    }
    return lbp_owned_take(&l, out, n);
}

static int az_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    char id[300];
    struct az_resp r;
    int rc;
    snprintf(id, sizeof(id), "/subscriptions/%s/resourceGroups/%s", ctx->cfg.subscription,
             ctx->cfg.rg);
    rc = az_arm(ctx, "GET", id, NULL, NULL, NULL, "GetResourceGroup", &r, call);
    az_resp_free(&r);
    return rc;
}

/* /debug/azurecloud: configuration and counters, never a credential. */
static char *az_debug_json(struct lbp_provider_ctx *ctx)
{
    struct json_object *o = json_object_new_object(), *lbs = json_object_new_array();
    json_object_object_add(o, "cloud", json_object_new_string(ctx->cfg.cloud));
    json_object_object_add(o, "resourceManagerEndpoint", json_object_new_string(ctx->cfg.arm));
    json_object_object_add(o, "resourceGroup", json_object_new_string(ctx->cfg.rg));
    json_object_object_add(
        o, "backendPool",
        json_object_new_string(ctx->cfg.pool == AZ_POOL_NIC ? "nodeIPConfiguration" : "nodeIP"));
    for (int i = 0; i < 3; i++) {
        struct az_slot *s = i < 2 ? &ctx->lb[i] : &ctx->nsg;
        struct json_object *e;
        if (!s->name[0])
            continue;
        e = json_object_new_object();
        pthread_mutex_lock(&s->plock);
        json_object_object_add(e, "name", json_object_new_string(s->name));
        lbp_json_add_u64(e, "puts", s->puts);
        lbp_json_add_u64(e, "deletes", s->deletes);
        lbp_json_add_u64(e, "waitingParts", s->n_parts);
        json_object_object_add(e, "operationRunning", json_object_new_boolean(s->op_url[0] != 0));
        pthread_mutex_unlock(&s->plock);
        json_object_array_add(lbs, e);
    }
    json_object_object_add(o, "shared", lbs);
    lbp_json_add_u64(o, "operations", lbp_lro_count(ctx->ops));
    lbp_json_add_u64(o, "tokenFetches", lbp_token_fetches(ctx->token));
    return lbp_http_debug_text(o, ctx->http);
}

const struct lbp_provider lbp_provider_azure = {
    .name = "azure",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_MIXED_PROTOCOLS | LBP_CAP_SOURCE_RANGES |
            LBP_CAP_NEEDS_NODEPORTS | LBP_CAP_HEALTH_CHECKS,
    .init = az_init,
    .cleanup = az_cleanup,
    .get = az_get,
    .ensure = az_ensure,
    .update_targets = az_update_targets,
    .remove = az_remove,
    .list_owned = az_list_owned,
    .ping = az_ping,
    .debug_json = az_debug_json,
};
