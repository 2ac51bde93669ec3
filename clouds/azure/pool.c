/*
 * pool.c — the cluster's backend pool, shared by every Service on a load
 * balancer.
 *
 * Two kinds, as cloud-provider-azure's loadBalancerBackendPoolConfigurationType:
 *   - nodeIPConfiguration (the default): membership lives on the nodes'
 *     NICs. A node's providerID names its VM; the VM names its primary NIC,
 *     whose primary ip configuration lists the pool. Adding or removing a
 *     node is a GET-modify-PUT (If-Match) of that NIC. The VM → NIC lookup
 *     is cached, so a node change under 100 Services costs the NIC writes
 *     once, not 100 times.
 *   - nodeIP: the pool holds the nodes' InternalIPs itself
 *     (loadBalancerBackendAddresses), written with the load balancer.
 * Either way the pool is one object per load balancer, so a node change is
 * written once: update_targets compares a digest of the node set with the
 * one last written and returns at once when they match.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/azure/azure_int.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/sha256.h"
#include "common/util.h"

#define NIC_ATTEMPTS 4

struct nic_ref {
    char nic[AZ_ID_MAX];
    char ipc[AZ_ID_MAX + 128];
};

void az_nodes_digest(const struct lbp_lb_spec *spec, char out[65])
{
    struct lbp_buf b;
    lbp_buf_init(&b, 1 << 22);
    for (size_t i = 0; i < spec->n_nodes; i++)
        lbp_buf_addf(&b, "%s|%s|%s\n", spec->nodes[i].name ? spec->nodes[i].name : "",
                     spec->nodes[i].provider_id ? spec->nodes[i].provider_id : "",
                     spec->nodes[i].internal_ip ? spec->nodes[i].internal_ip : "");
    lbp_sha256_hex(b.data ? b.data : "", b.len, out);
    lbp_buf_free(&b);
}

struct json_object *az_pool_addresses(const struct lbp_provider_ctx *ctx,
                                      const struct lbp_lb_spec *spec)
{
    struct json_object *a = json_object_new_array();
    (void)ctx;
    for (size_t i = 0; i < spec->n_nodes; i++) {
        struct json_object *o, *p;
        if (!spec->nodes[i].internal_ip || !*spec->nodes[i].internal_ip ||
            strchr(spec->nodes[i].internal_ip, ':'))
            continue;
        o = json_object_new_object();
        p = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(spec->nodes[i].name));
        json_object_object_add(p, "ipAddress", json_object_new_string(spec->nodes[i].internal_ip));
        json_object_object_add(o, "properties", p);
        json_object_array_add(a, o);
    }
    return a;
}

static struct json_object *primary(struct json_object *arr)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        if (json_object_get_boolean(lbp_json_at(o, "properties.primary")))
            return o;
    }
    return arr && json_object_array_length(arr) ? json_object_array_get_idx(arr, 0) : NULL;
}

/* The node's primary NIC ip configuration: LBP_NOT_FOUND for a node that is no VM of ours. */
static int resolve(struct lbp_provider_ctx *ctx, const struct lbp_lb_node *n, struct nic_ref *out,
                   struct lbp_call *call)
{
    struct lbp_provider_id pid;
    char vm[AZ_ID_MAX] = "";
    struct az_resp r;
    struct json_object *ni, *ipc;
    const char *id;
    int rc;
    if (!n->provider_id || lbp_provider_id_parse(n->provider_id, "azure", &pid) != LBP_OK)
        return LBP_NOT_FOUND;
    if (lbp_node_cache_get(ctx->nics, n->provider_id, out))
        return LBP_OK;
    if (pid.n_seg != 8 || strcasecmp(pid.seg[6], "virtualMachines") != 0) {
        lbp_v(2,
              "azure: node %s: %s is no standalone VM (scale-set nodes need "
              "loadBalancerBackendPoolConfigurationType nodeIP)",
              n->name, n->provider_id);
        return LBP_NOT_FOUND;
    }
    for (size_t i = 0; i < pid.n_seg; i++) {
        size_t l = strlen(vm);
        snprintf(vm + l, sizeof(vm) - l, "/%s", pid.seg[i]);
    }
    rc = az_arm(ctx, "GET", vm, NULL, NULL, NULL, "GetVirtualMachine", &r, call);
    if (rc) {
        az_resp_free(&r);
        return rc == LBP_NOT_FOUND ? LBP_NOT_FOUND : rc;
    }
    ni = primary(lbp_json_at(r.json, "properties.networkProfile.networkInterfaces"));
    id = ni ? json_object_get_string(lbp_json_at(ni, "id")) : NULL;
    if (!id || strlen(id) >= sizeof(out->nic)) {
        az_resp_free(&r);
        lbp_v(2, "azure: node %s: VM has no network interface", n->name);
        return LBP_NOT_FOUND;
    }
    lbp_strlcpy(out->nic, id, sizeof(out->nic));
    az_resp_free(&r);
    rc = az_arm(ctx, "GET", out->nic, NULL, NULL, NULL, "GetNetworkInterface", &r, call);
    if (rc) {
        az_resp_free(&r);
        return rc;
    }
    ipc = primary(lbp_json_at(r.json, "properties.ipConfigurations"));
    id = ipc ? json_object_get_string(lbp_json_at(ipc, "id")) : NULL;
    if (!id) {
        az_resp_free(&r);
        return LBP_NOT_FOUND;
    }
    lbp_strlcpy(out->ipc, id, sizeof(out->ipc));
    az_resp_free(&r);
    lbp_node_cache_put(ctx->nics, n->provider_id, out);
    return LBP_OK;
}

/* Adds (add) or removes the pool from the NIC's ip configuration ipc (NULL: all of them). */
static int nic_edit(struct lbp_provider_ctx *ctx, const char *nic, const char *ipc,
                    const char *pool_id, bool add, struct lbp_call *call)
{
    for (int attempt = 0; attempt < NIC_ATTEMPTS; attempt++) {
        struct az_resp r;
        struct json_object *cfgs, *body;
        bool changed = false;
        char etag[128];
        int rc = az_arm(ctx, "GET", nic, NULL, NULL, NULL, "GetNetworkInterface", &r, call);
        if (rc) {
            az_resp_free(&r);
            return rc == LBP_NOT_FOUND && !add ? LBP_OK : rc;
        }
        body = r.json;
        lbp_strlcpy(etag, json_object_get_string(lbp_json_at(body, "etag")) ?: "*", sizeof(etag));
        cfgs = lbp_json_at(body, "properties.ipConfigurations");
        for (size_t i = 0; cfgs && i < json_object_array_length(cfgs); i++) {
            struct json_object *c = json_object_array_get_idx(cfgs, i);
            const char *cid = json_object_get_string(lbp_json_at(c, "id"));
            struct json_object *pools, *next;
            bool has = false;
            if (ipc && (!cid || strcasecmp(cid, ipc) != 0))
                continue;
            pools = az_jarr(az_jobj(c, "properties"), "loadBalancerBackendAddressPools");
            next = json_object_new_array();
            for (size_t j = 0; j < json_object_array_length(pools); j++) {
                struct json_object *p = json_object_array_get_idx(pools, j);
                const char *pid = json_object_get_string(lbp_json_at(p, "id"));
                if (pid && strcasecmp(pid, pool_id) == 0) {
                    has = true;
                    if (!add)
                        continue;
                }
                json_object_array_add(next, json_object_get(p));
            }
            if (add && !has) {
                struct json_object *ref = json_object_new_object();
                json_object_object_add(ref, "id", json_object_new_string(pool_id));
                json_object_array_add(next, ref);
            }
            changed |= add != has;
            json_object_object_add(az_jobj(c, "properties"), "loadBalancerBackendAddressPools",
                                   next);
        }
        if (!changed) {
            az_resp_free(&r);
            return LBP_OK;
        }
        {
            struct az_resp w;
            rc = az_arm(ctx, "PUT", nic, body, etag, NULL, "PutNetworkInterface", &w, call);
            az_resp_free(&w);
        }
        az_resp_free(&r);
        if (rc != LBP_CONFLICT)
            return rc;
    }
    lbp_failf(call, "network interface %s: changed by another writer %d times in a row", nic,
              NIC_ATTEMPTS);
    return LBP_RETRY;
}

static bool in_list(struct json_object *arr, const char *id)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        const char *x =
            json_object_get_string(lbp_json_at(json_object_array_get_idx(arr, i), "id"));
        if (x && strcasecmp(x, id) == 0)
            return true;
    }
    return false;
}

static void nic_of(const char *ipc, char *out, size_t cap)
{
    const char *p = strcasestr(ipc, "/ipConfigurations/");
    size_t n = p ? (size_t)(p - ipc) : strlen(ipc);
    snprintf(out, cap, "%.*s", (int)n, ipc);
}

int az_nic_sync(struct lbp_provider_ctx *ctx, struct az_slot *s, struct json_object *lb,
                const struct lbp_lb_spec *spec, struct lbp_call *call)
{
    char pool_id[AZ_ID_MAX + 128], digest[65];
    struct json_object *present = NULL, *pools, *wanted = json_object_new_array();
    int rc = LBP_OK;

    snprintf(pool_id, sizeof(pool_id), "%s/backendAddressPools/%s", s->path, ctx->cluster);
    pools = lbp_json_at(lb, "properties.backendAddressPools");
    for (size_t i = 0; pools && i < json_object_array_length(pools); i++) {
        struct json_object *p = json_object_array_get_idx(pools, i);
        if (strcasecmp(json_object_get_string(lbp_json_at(p, "name")) ?: "", ctx->cluster) == 0)
            present = lbp_json_at(p, "properties.backendIPConfigurations");
    }
    az_nodes_digest(spec, digest);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < spec->n_nodes && rc == LBP_OK; i++) {
        struct nic_ref nr;
        int r2 = resolve(ctx, &spec->nodes[i], &nr, call);
        if (r2 == LBP_NOT_FOUND)
            continue;
        if (r2) {
            rc = r2;
            break;
        }
        {
            struct json_object *ref = json_object_new_object();
            json_object_object_add(ref, "id", json_object_new_string(nr.ipc));
            json_object_array_add(wanted, ref);
        }
        if (!in_list(present, nr.ipc))
            rc = nic_edit(ctx, nr.nic, nr.ipc, pool_id, true, call);
    }
    for (size_t i = 0; rc == LBP_OK && present && i < json_object_array_length(present); i++) {
        const char *ipc =
            json_object_get_string(lbp_json_at(json_object_array_get_idx(present, i), "id"));
        char nic[AZ_ID_MAX];
        if (!ipc || in_list(wanted, ipc))
            continue;
        nic_of(ipc, nic, sizeof(nic));
        rc = nic_edit(ctx, nic, ipc, pool_id, false, call);
    }
    if (rc == LBP_OK)
        lbp_strlcpy(s->nodes_applied, digest, sizeof(s->nodes_applied));
    pthread_mutex_unlock(&s->mu);
    json_object_put(wanted);
    return rc;
}

int az_nic_release(struct lbp_provider_ctx *ctx, struct az_slot *s, struct json_object *lb,
                   struct lbp_call *call)
{
    char pool_id[AZ_ID_MAX + 128];
    struct json_object *pools = lbp_json_at(lb, "properties.backendAddressPools");
    int rc = LBP_OK;
    snprintf(pool_id, sizeof(pool_id), "%s/backendAddressPools/%s", s->path, ctx->cluster);
    for (size_t i = 0; pools && i < json_object_array_length(pools) && rc == LBP_OK; i++) {
        struct json_object *present =
            lbp_json_at(json_object_array_get_idx(pools, i), "properties.backendIPConfigurations");
        const char *pid =
            json_object_get_string(lbp_json_at(json_object_array_get_idx(pools, i), "id"));
        for (size_t j = 0; present && j < json_object_array_length(present) && rc == LBP_OK; j++) {
            const char *ipc =
                json_object_get_string(lbp_json_at(json_object_array_get_idx(present, j), "id"));
            char nic[AZ_ID_MAX];
            if (!ipc)
                continue;
            nic_of(ipc, nic, sizeof(nic));
            rc = nic_edit(ctx, nic, ipc, pid ? pid : pool_id, false, call);
        }
    }
    s->nodes_applied[0] = 0;
    return rc;
}
