/*
 * api.h — bare metal's configuration as the Kubernetes API serves it: where
 * MetalLB's IPAddressPool and L2Advertisement objects live, and the one
 * LIST that fetches them, for the controller (reconcile/config.c, through
 * the bare-metal cloud's config_kinds) and the speaker alike.
 *
 * Kept apart from pools.h, whose parsers take text and never talk to the
 * API.
 */
#ifndef LBP_POOLS_API_H
#define LBP_POOLS_API_H

#include <stddef.h>
#include <stdint.h>

#include "kube/kube.h"

#define LBP_METALLB_SOURCE "MetalLB"
#define LBP_METALLB_POOLS_KIND "IPAddressPool"
#define LBP_METALLB_POOLS_PATH "/apis/metallb.io/v1beta1/ipaddresspools"
#define LBP_METALLB_L2ADVS_KIND "L2Advertisement"
#define LBP_METALLB_L2ADVS_PATH "/apis/metallb.io/v1beta1/l2advertisements"

/* The objects of one LIST. */
struct lbp_pools_listing {
    char **objects; /* each item as compact JSON text */
    size_t n;
    /*
     * Over the items' uid and resourceVersion: equal digests, same objects.
     * (The LIST's own resourceVersion moves with every write in the
     * cluster; the items' do not.) An empty or absent collection has
     * LBP_POOLS_LISTING_EMPTY.
     */
    uint64_t digest;
};
#define LBP_POOLS_LISTING_EMPTY 14695981039346656037ull

/*
 * LISTs the collection at path (at most LBP_POOLS_MAX_POOLS items).
 * LBP_NOT_FOUND — the kind is not served (the CRDs are not installed) — comes
 * with an empty listing; on any other error the listing is empty too.
 * Free with lbp_pools_listing_free.
 */
int lbp_pools_list(struct lbp_kube_client *c, const char *path, struct lbp_pools_listing *out);
void lbp_pools_listing_free(struct lbp_pools_listing *l);

#endif
