/*
 * owner.c — which node announces a VIP: rendezvous hashing over the
 * eligible nodes.
 *
 * Every node ranks itself for a VIP by SHA-256("node#ip") and the lowest
 * rank wins — MetalLB's choice exactly (it sorts candidates by the same
 * digest and takes the first), so a cluster moving over keeps its VIPs on
 * the nodes that held them. Because each (node, VIP) rank is independent of
 * the other nodes, a node leaving moves only the VIPs it won, and a node
 * joining takes only the VIPs it now wins. Every speaker computes the same
 * answer from the same caches; nothing is negotiated.
 */
#include "speaker/speaker.h"

#include "common/util.h"
#include "pools/pools.h"

#include <openssl/evp.h>
#include <string.h>

#define EXCLUDE_LABEL "node.kubernetes.io/exclude-from-external-load-balancers"

void lbp_owner_rank(const char *node, const char *ip, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 32;
    memset(out, 0xff, 32);
    if (!ctx)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, node, strlen(node)) != 1 || EVP_DigestUpdate(ctx, "#", 1) != 1 ||
        EVP_DigestUpdate(ctx, ip, strlen(ip)) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1)
        memset(out, 0xff, 32);
    EVP_MD_CTX_free(ctx);
}

static bool has_ready_endpoint(const struct lbp_owner_svc *svc, const char *node)
{
    for (size_t i = 0; i < svc->n_ready_nodes; i++)
        if (lbp_streq(svc->ready_nodes[i], node))
            return true;
    return false;
}

static bool eligible(const struct lbp_pool *pool, const struct lbp_owner_svc *svc,
                     const struct lbp_owner_node *n)
{
    if (!n->live || n->excluded || !n->name)
        return false;
    if (!lbp_pool_node_allowed(pool, n->labels, n->n_labels))
        return false;
    return !svc->local || has_ready_endpoint(svc, n->name);
}

int lbp_owner_pick(const struct lbp_pool *pool, const char *ip, const struct lbp_owner_svc *svc,
                   const struct lbp_owner_node *nodes, size_t n_nodes)
{
    uint8_t best[32], r[32];
    int owner = -1;
    if (!pool || !ip || !svc || !svc->any_ready)
        return -1;
    for (size_t i = 0; i < n_nodes; i++) {
        if (!eligible(pool, svc, &nodes[i]))
            continue;
        lbp_owner_rank(nodes[i].name, ip, r);
        int c = owner < 0 ? -1 : memcmp(r, best, sizeof(r));
        /* A tie (never seen with SHA-256) falls to the smaller name, so every speaker agrees. */
        if (c < 0 || (c == 0 && strcmp(nodes[i].name, nodes[owner].name) < 0)) {
            memcpy(best, r, sizeof(best));
            owner = (int)i;
        }
    }
    return owner;
}

size_t lbp_owner_interfaces(const struct lbp_pool *pool, const struct lbp_pools_label *labels,
                            size_t n_labels, char out[][LBP_IFNAME_MAX], size_t cap, bool *any)
{
    size_t n = 0;
    *any = false;
    for (size_t i = 0; pool && i < pool->n_advs; i++) {
        const struct lbp_pool_adv *a = &pool->advs[i];
        if (!lbp_selectors_match(a->node_selectors, a->n_node_selectors, labels, n_labels))
            continue;
        if (a->n_interfaces == 0) {
            *any = true;
            return 0;
        }
        for (size_t j = 0; j < a->n_interfaces; j++) {
            bool dup = false;
            if (strlen(a->interfaces[j]) >= LBP_IFNAME_MAX)
                continue;
            for (size_t k = 0; k < n; k++)
                dup = dup || strcmp(out[k], a->interfaces[j]) == 0;
            if (!dup && n < cap)
                lbp_strlcpy(out[n++], a->interfaces[j], LBP_IFNAME_MAX);
        }
    }
    return n;
}

bool lbp_owner_node_excluded(const struct lbp_pools_label *labels, size_t n_labels)
{
    for (size_t i = 0; i < n_labels; i++)
        if (lbp_streq(labels[i].key, EXCLUDE_LABEL))
            return true;
    return false;
}
