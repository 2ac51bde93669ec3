/*
 * nodes.h — Kubernetes nodes as a cloud sees them.
 *
 * - providerID parsing: "aws:///us-east-1a/i-0abc", "gce://proj/zone/vm",
 *   "azure:///subscriptions/.../virtualMachines/vm" split into the host
 *   and path segments, so a cloud only checks the shape it expects.
 * - a node → instance cache with a TTL: a node change on 100 Services
 *   costs one instance lookup, not 100. Values are fixed-size copies (the
 *   cloud's own struct), the cache is thread-safe.
 * - a target-set diff: which wanted targets to add, which present ones to
 *   remove, with a hook for entries another party owns (left alone).
 * - the Kubernetes node health check: for externalTrafficPolicy Local the
 *   Service's healthCheckNodePort at /healthz (only nodes with a ready
 *   endpoint answer 200); for Cluster kube-proxy's own port 10256 at
 *   /healthz. Timings are upstream's (cloud-provider-gcp's node checks:
 *   every 8 s, 1 s timeout, healthy after 1, unhealthy after 3).
 */
#ifndef LBP_PROVIDER_NODES_H
#define LBP_PROVIDER_NODES_H

#include <stdbool.h>
#include <stddef.h>

#include "provider/provider.h"

#define LBP_PROVIDER_ID_MAX_SEGS 12

struct lbp_provider_id {
    char buf[512];                        /* the segments point in here */
    const char *host;                     /* after "scheme://", up to '/'; may be "" */
    const char *seg[LBP_PROVIDER_ID_MAX_SEGS]; /* non-empty path segments */
    size_t n_seg;
};

/*
 * Splits pid if it starts with "<scheme>://". LBP_INVALID for another
 * scheme, no segments, or an over-long ID; LBP_NOT_FOUND for an empty one.
 */
int lbp_provider_id_parse(const char *pid, const char *scheme, struct lbp_provider_id *out);
/* The last path segment (the instance name or id in every cloud's scheme). */
const char *lbp_provider_id_last(const struct lbp_provider_id *id);

struct lbp_node_cache;

int lbp_node_cache_new(size_t value_size, unsigned ttl_s, struct lbp_node_cache **out);
void lbp_node_cache_free(struct lbp_node_cache *c);
/* Copies the value cached for key into out when younger than the TTL. */
bool lbp_node_cache_get(struct lbp_node_cache *c, const char *key, void *out);
int lbp_node_cache_put(struct lbp_node_cache *c, const char *key, const void *value);
void lbp_node_cache_set_ttl(struct lbp_node_cache *c, unsigned ttl_s);
size_t lbp_node_cache_count(struct lbp_node_cache *c);

struct lbp_diff_ops {
    /* have and want denote the same target */
    bool (*match)(const void *have, const void *want, void *ud);
    /* NULL or false: ours. true: someone else's (or on its way out): never matched, never removed */
    bool (*ignore)(const void *have, void *ud);
    /* NULL: wants are distinct; else two wants that are one target are added once */
    bool (*same_want)(const void *a, const void *b, void *ud);
};

/*
 * add[] gets the indexes of wants no present target matches, del[] those
 * of present targets no want matches (malloc'd, the caller frees both,
 * even when a count is 0).
 */
int lbp_target_diff(const void *have, size_t n_have, size_t have_size, const void *want,
                    size_t n_want, size_t want_size, const struct lbp_diff_ops *ops, void *ud,
                    size_t **add, size_t *n_add, size_t **del, size_t *n_del);

#define LBP_KUBE_PROXY_HEALTH_PORT 10256
#define LBP_HC_INTERVAL_S 8
#define LBP_HC_TIMEOUT_S 1
#define LBP_HC_HEALTHY 1
#define LBP_HC_UNHEALTHY 3

struct lbp_health_check {
    bool local;      /* the Service's own check (externalTrafficPolicy Local) */
    int port;        /* healthCheckNodePort, or kube-proxy's 10256 */
    char path[16];   /* "/healthz" */
    char protocol[8]; /* "HTTP" */
    int interval_s, timeout_s, healthy, unhealthy;
};

/* The node health check Kubernetes expects for spec; returns out->local. */
bool lbp_health_check_kube(const struct lbp_lb_spec *spec, struct lbp_health_check *out);

#endif
