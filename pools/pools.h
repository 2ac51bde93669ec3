/*
 * pools.h — bare-metal address pools: addresses, ranges, label selectors and
 * the pool set, parsed from lbprov's YAML file or MetalLB's CRD objects.
 *
 * Inputs are text (a YAML document, JSON objects as the API returned them);
 * nothing here talks to Kubernetes (api.h is the one LIST of MetalLB's
 * objects, for the controller and the speaker). The bare-metal cloud uses a pool set to
 * allocate addresses, the speaker uses the same set to learn, for a VIP,
 * which nodes may announce it and on which interfaces.
 *
 * Addresses of both families live in one 128-bit integer so that range
 * arithmetic is the same code for IPv4 and IPv6; ranges are never
 * enumerated (an IPv6 /64 has 2^64 addresses).
 *
 * The schema is documented in pools/README.md.
 */
#ifndef LBP_POOLS_H
#define LBP_POOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ addresses */

#define LBP_IP_STRLEN 46 /* INET6_ADDRSTRLEN */

struct lbp_ip {
    int family;          /* AF_INET or AF_INET6 */
    unsigned __int128 v; /* host order; IPv4 uses the low 32 bits */
};

struct lbp_ip_range {
    int family;
    unsigned __int128 first, last; /* inclusive */
};

/* "192.0.2.1" or "2001:db8::1"; LBP_PARSE otherwise. */
int lbp_ip_parse(const char *s, struct lbp_ip *out);
void lbp_ip_format(const struct lbp_ip *ip, char out[LBP_IP_STRLEN]);
bool lbp_ip_equal(const struct lbp_ip *a, const struct lbp_ip *b);
/* IPv4 address ending in .0 or .255 (what avoidBuggyIPs skips). */
bool lbp_ip_is_buggy(const struct lbp_ip *ip);

/*
 * "a-b" (spaces around '-' allowed), "prefix/len" or a single address.
 * LBP_PARSE with a reason in why ("range end before start", "mixed address
 * families", ...). *masked is set when a CIDR had host bits (they are cleared).
 */
int lbp_ip_range_parse(const char *s, struct lbp_ip_range *out, bool *masked, char *why,
                       size_t whylen);
bool lbp_ip_range_contains(const struct lbp_ip_range *r, const struct lbp_ip *ip);
bool lbp_ip_range_overlaps(const struct lbp_ip_range *a, const struct lbp_ip_range *b);
/* Number of addresses, saturating at 2^128-1; with avoid_buggy, minus .0/.255 (IPv4). */
unsigned __int128 lbp_ip_range_size(const struct lbp_ip_range *r, bool avoid_buggy);
/* Decimal text of a 128-bit count (JSON numbers would lose precision). */
void lbp_u128_format(unsigned __int128 v, char out[40]);

/* ------------------------------------------------------------ selectors */

/* A label as callers hold it (same shape as kube's lbp_kv / provider annotations). */
struct lbp_pools_label {
    const char *key;
    const char *value;
};

enum lbp_sel_op { LBP_SEL_IN, LBP_SEL_NOT_IN, LBP_SEL_EXISTS, LBP_SEL_DOES_NOT_EXIST };

struct lbp_sel_expr {
    char *key;
    enum lbp_sel_op op;
    char **values;
    size_t n_values;
};

/* metav1.LabelSelector: every matchLabels entry and every expression must hold. */
struct lbp_selector {
    char **match_keys;
    char **match_values;
    size_t n_match;
    struct lbp_sel_expr *exprs;
    size_t n_exprs;
};

bool lbp_selector_matches(const struct lbp_selector *sel, const struct lbp_pools_label *labels,
                          size_t n_labels);
/* A list of selectors: empty matches everything, else any one must match. */
bool lbp_selectors_match(const struct lbp_selector *sels, size_t n_sels,
                         const struct lbp_pools_label *labels, size_t n_labels);

/* ---------------------------------------------------------------- pools */

/* Where a pool may be announced: one per L2Advertisement (or the YAML pool itself). */
struct lbp_pool_adv {
    char *name;                          /* L2Advertisement name, or the pool name for YAML */
    struct lbp_selector *node_selectors; /* empty: every node */
    size_t n_node_selectors;
    char **interfaces; /* empty: any interface */
    size_t n_interfaces;
};

enum lbp_pool_source { LBP_POOL_YAML, LBP_POOL_CRD };

struct lbp_pool {
    char *name;
    enum lbp_pool_source source;
    struct lbp_ip_range *ranges;
    char **range_text; /* as written, for messages */
    size_t n_ranges;
    bool auto_assign;     /* default true */
    bool avoid_buggy_ips; /* default false */
    /* serviceAllocation */
    bool has_allocation;
    int priority; /* 0: unset (after every pool that sets one) */
    char **namespaces;
    size_t n_namespaces;
    struct lbp_selector *namespace_selectors;
    size_t n_namespace_selectors;
    struct lbp_selector *service_selectors;
    size_t n_service_selectors;
    /* CRD pools: metadata.labels, for L2Advertisement ipAddressPoolSelectors */
    char **label_keys;
    char **label_values;
    size_t n_labels;
    /* announcement; a CRD pool no L2Advertisement selects has none (not announced) */
    struct lbp_pool_adv *advs;
    size_t n_advs;
};

struct lbp_pool_set {
    struct lbp_pool *pools;
    size_t n_pools;
};

/*
 * Diagnostics of a parse: the first error (naming the pool and field, e.g.
 * `pools[0].addresses[1]: "10.0.0.9-10.0.0.1": range end before start`) and
 * warnings (unknown fields, masked CIDRs...), one per line, truncated at the cap.
 */
#define LBP_POOLS_ERR_LEN 512
#define LBP_POOLS_WARN_LEN 2048
struct lbp_pools_diag {
    char err[LBP_POOLS_ERR_LEN];
    char warn[LBP_POOLS_WARN_LEN];
    unsigned n_warn;
};

/* Caps on input, so a hostile config cannot make the parser work without bound. */
#define LBP_POOLS_MAX_FILE (1024 * 1024)
#define LBP_POOLS_MAX_POOLS 1024
#define LBP_POOLS_MAX_LIST 1024 /* entries in any one list */

struct lbp_pool_set *lbp_pool_set_new(void);
void lbp_pool_set_free(struct lbp_pool_set *set);

/*
 * Adds the pools of lbprov's YAML config (text, or a file read with a cap).
 * Returns LBP_OK, LBP_PARSE/LBP_INVALID (diag->err says where), LBP_IO,
 * LBP_TOOBIG or LBP_NOMEM. On failure the set is unchanged.
 */
int lbp_pools_add_yaml(struct lbp_pool_set *set, const char *text, size_t len,
                       struct lbp_pools_diag *diag);
int lbp_pools_add_yaml_file(struct lbp_pool_set *set, const char *path,
                            struct lbp_pools_diag *diag);

/*
 * Adds MetalLB IPAddressPool objects (JSON text, one object each) and attaches
 * the L2Advertisements' nodeSelectors/interfaces to the pools they select.
 * An advertisement naming a pool that does not exist is a warning. On failure
 * the set is unchanged.
 */
int lbp_pools_add_metallb(struct lbp_pool_set *set, const char *const *pools_json, size_t n_pools,
                          const char *const *l2_json, size_t n_l2, struct lbp_pools_diag *diag);

/*
 * Whole-set rules: names are unique and no two ranges overlap (within one
 * pool or across pools). LBP_INVALID with both pools named in diag->err.
 */
int lbp_pool_set_check(const struct lbp_pool_set *set, struct lbp_pools_diag *diag);

const struct lbp_pool *lbp_pool_set_find(const struct lbp_pool_set *set, const char *name);
/* The pool whose ranges hold ip, or NULL. */
const struct lbp_pool *lbp_pool_set_lookup(const struct lbp_pool_set *set, const struct lbp_ip *ip);
bool lbp_pool_has_family(const struct lbp_pool *p, int family);
bool lbp_pool_contains(const struct lbp_pool *p, const struct lbp_ip *ip);
/* In a range and not skipped by avoidBuggyIPs. */
bool lbp_pool_usable(const struct lbp_pool *p, const struct lbp_ip *ip);

/*
 * serviceAllocation: may a Service in namespace ns with these labels use the
 * pool? namespaces and namespaceSelectors together say which namespaces
 * (either one admits); serviceSelectors must match when given. Namespace
 * labels are not known to lbprov, so namespaceSelectors see only the label
 * Kubernetes puts on every namespace: kubernetes.io/metadata.name=<ns>.
 */
bool lbp_pool_allows(const struct lbp_pool *p, const char *ns,
                     const struct lbp_pools_label *svc_labels, size_t n_svc_labels);

/* Speaker side: may a node with these labels announce the pool's VIPs? */
bool lbp_pool_node_allowed(const struct lbp_pool *p, const struct lbp_pools_label *node_labels,
                           size_t n_node_labels);
/* ... and on interface ifname? */
bool lbp_pool_interface_allowed(const struct lbp_pool *p, const struct lbp_pools_label *node_labels,
                                size_t n_node_labels, const char *ifname);

#endif
