/*
 * provider.h — the interface between the reconciler and a cloud.
 *
 * A cloud is one `const struct lbp_provider` (its vtable) exported from
 * clouds/<name>/; the registry (provider.c) lists the ones built in and
 * picks one by --cloud NAME, the way curl picks a TLS backend from
 * available_backends[]. The reconciler owns all Kubernetes knowledge and
 * hands the provider a plain-C spec; the provider owns all cloud knowledge.
 *
 * Every slot is idempotent: called again with the same spec after a crash
 * or a timeout, it converges from whatever exists instead of failing or
 * duplicating. Slots may be called from several worker threads at once for
 * different Services (never two at once for the same LB name).
 *
 * DESIGN — writing a cloud (details and a checklist in provider/README.md).
 * The toolkit gives: http.h (retries only where safe, a prepare hook that
 * may rewrite URL and body), rest.h (JSON call, the cloud's error-envelope
 * mapper, paged lists), token.h (cached bearer tokens, one refresh in
 * flight: client credentials, RS256 JWT bearer, GCE metadata, Azure IMDS,
 * federated token files), lro.h (the in-flight operation per LB name, so a
 * slot polls instead of re-issuing and returns LBP_PENDING), paging.h,
 * nodes.h (providerID parsing, node cache with TTL, target diff, the
 * Kubernetes health check) and common/json.h, file.h, vec.h, sha256.h.
 * A cloud writes: its vtable and init, its error mapper, its resource
 * model as idempotent read-diff-change slots, an operation poll function
 * when changes are asynchronous, the choice for each POST of idempotent /
 * no_effect, its annotations, and a fake speaking its wire format.
 *
 * Asynchronous clouds (LBP_PENDING). Many clouds answer a change with an
 * operation to poll (GCE Operations, Azure 202 + Azure-AsyncOperation,
 * CloudStack async jobs), and a change can take minutes. A slot must never
 * hold a worker polling it: ensure, update_targets and remove may instead
 * return LBP_PENDING with call->retry_after_s (ensure may use
 * st->retry_after_s) saying when to ask again. The reconciler then:
 *   - requeues the key after that delay (1 s when 0), with no Warning Event,
 *     no error counted and no growth of the key's backoff; a change to the
 *     Service meanwhile requeues it at once, with the new spec;
 *   - writes no status until ensure returns LBP_OK, and keeps the finalizer
 *     until remove returns LBP_OK or LBP_NOT_FOUND;
 *   - records one Normal Event per operation, not per poll:
 *     EnsuringLoadBalancer, UpdatingLoadBalancer or DeletingLoadBalancer
 *     with "Cloud is <doing> the load balancer: <call->err>", for which
 *     `lbprov status` shows the Service as InProgress (so say in call->err
 *     what the cloud is doing, e.g. "operation operation-123 RUNNING");
 *   - counts the Services being polled in the gauge
 *     service_controller_cloud_operations_in_progress.
 * What the provider must do:
 *   - keep its in-flight operation per LB name (a small table under its own
 *     lock: the next call for that LB may come on another worker thread)
 *     and, on the next call for that LB — whichever slot it is — poll that
 *     operation instead of issuing the change again;
 *   - when it finishes, compare the cloud with the spec of the call at hand
 *     (the Service may have changed while it ran) and issue the next change
 *     if they differ, or return LBP_OK with the result; when it failed,
 *     forget it and return the failure (LBP_RETRY, LBP_INVALID...) so the
 *     next call starts afresh;
 *   - after a controller restart (an empty table) converge from what the
 *     cloud shows — a resource still provisioning, an operation or job the
 *     cloud lists against the resource — never from a lost handle, and
 *     never create a second resource because the first one is not ready.
 * LBP_PENDING with call->event_reason set means something else: the LB
 * waits for a resource another Service holds (see struct lbp_call).
 */
#ifndef LBP_PROVIDER_H
#define LBP_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/rc.h"
#include "common/vec.h"

/* Capability bits. */
#define LBP_CAP_TCP (1u << 0)
#define LBP_CAP_UDP (1u << 1)
#define LBP_CAP_SCTP (1u << 2)
#define LBP_CAP_MIXED_PROTOCOLS (1u << 3) /* TCP and UDP on one LB */
#define LBP_CAP_SOURCE_RANGES (1u << 4)
#define LBP_CAP_HOSTNAME (1u << 5) /* ingress may be a hostname */
#define LBP_CAP_NEEDS_NODEPORTS (1u << 6)
#define LBP_CAP_HEALTH_CHECKS (1u << 7) /* the LB health-checks nodes itself */
#define LBP_CAP_IPV6 (1u << 8)
#define LBP_CAP_REQUESTED_IP (1u << 9) /* honours spec.loadBalancerIP */
/*
 * Behaviour the reconciler adapts to. Each is a promise the cloud states,
 * never something guessed from which optional slots it fills (a slot only
 * says a call is possible); lbp_provider_check holds each bit to the slots
 * it needs.
 */
/* Takes run-time configuration objects from the API: configure + config_kinds. */
#define LBP_CAP_RUNTIME_CONFIG (1u << 10)
/*
 * Hands out addresses itself, and Service status is its only record of
 * them: restore is required, and the reconciler reports each assignment
 * with an IPAllocated Event (as MetalLB does).
 */
#define LBP_CAP_ALLOCATES_ADDRESSES (1u << 11)
/*
 * Reads the Service's labels and selector (spec.labels, selector_hash): a
 * change to either must reach ensure, which upstream's sync rules skip.
 */
#define LBP_CAP_SERVICE_LABELS (1u << 12)

#define LBP_LB_NAME_LEN 32 /* "a" + UID without dashes, cut to 32 (upstream) */

struct lbp_lb_port {
    const char *name;
    const char *protocol; /* "TCP", "UDP", "SCTP" */
    int port;
    int node_port; /* 0 when allocateLoadBalancerNodePorts is false */
};

struct lbp_lb_annotation {
    const char *key;
    const char *value;
};

struct lbp_lb_node {
    const char *name;
    const char *provider_id;
    const char *internal_ip; /* first InternalIP, may be NULL */
    const char *external_ip; /* first ExternalIP, may be NULL */
    /* The Node's labels (for annotations that select nodes); may be NULL. */
    const struct lbp_lb_annotation *labels;
    size_t n_labels;
};

/* What the reconciler wants. All strings are owned by the caller. */
struct lbp_lb_spec {
    const char *cluster_name;
    const char *namespace;
    const char *name;
    const char *uid;
    char lb_name[LBP_LB_NAME_LEN + 1];
    const struct lbp_lb_port *ports;
    size_t n_ports;
    const struct lbp_lb_node *nodes; /* eligible backends, sorted by name */
    size_t n_nodes;
    const char *const *source_ranges; /* CIDRs; empty means everyone */
    size_t n_source_ranges;
    /* Where the ranges came from, for a message that names it (NULL: none given). */
    const char *source_ranges_field;
    const char *session_affinity; /* "None" or "ClientIP" */
    int session_affinity_timeout;
    bool local_traffic; /* externalTrafficPolicy: Local */
    int health_check_node_port;
    const char *requested_ip;       /* spec.loadBalancerIP, may be NULL */
    const char *const *ip_families; /* "IPv4", "IPv6" */
    size_t n_ip_families;
    const struct lbp_lb_annotation *annotations;
    size_t n_annotations;
    /* Service metadata.labels (bare metal matches pool serviceSelectors). */
    const struct lbp_lb_annotation *labels;
    size_t n_labels;
    /*
     * A digest of spec.selector (e.g. hex sha256 of the sorted "k=v" pairs),
     * NULL when the Service has no selector. Bare metal lets a Service with
     * externalTrafficPolicy Local share an address only when these are equal.
     */
    const char *selector_hash;
};

#define LBP_LB_MAX_INGRESS 4

struct lbp_lb_ingress_addr {
    char ip[64];
    char hostname[256];
    char ip_mode[8]; /* "", "VIP" or "Proxy" */
};

/* What exists. */
struct lbp_lb_status {
    struct lbp_lb_ingress_addr ingress[LBP_LB_MAX_INGRESS];
    size_t n_ingress;
    unsigned retry_after_s; /* ensure with LBP_PENDING or LBP_RETRY: when to ask again */
};

/*
 * One LB this cluster owns, as list_owned reports it. The strings live in
 * the same malloc'd block as the array (lbp_owned_take), so one free()
 * releases both and an entry costs its three pointers and the bytes of its
 * names, not three arrays sized for the longest name.
 */
struct lbp_lb_owned {
    const char *lb_name;   /* at most LBP_OWNED_LB_NAME_MAX bytes */
    const char *namespace; /* at most LBP_OWNED_NAME_MAX bytes each */
    const char *name;
};
#define LBP_OWNED_LB_NAME_MAX 127
#define LBP_OWNED_NAME_MAX 253

/*
 * Builds list_owned's answer: add copies the strings (cut at the limits
 * above), take hands back the one block. Offsets, not pointers, are kept
 * while the string buffer grows.
 */
struct lbp_owned_list {
    struct lbp_vec ent; /* struct { size_t lb_name, namespace, name; }: offsets into str */
    struct lbp_buf str; /* the strings, each NUL-terminated */
};
void lbp_owned_init(struct lbp_owned_list *l);
int lbp_owned_add(struct lbp_owned_list *l, const char *lb_name, const char *ns, const char *name);
/* key is "namespace/name"; without a '/' both are empty. */
int lbp_owned_add_key(struct lbp_owned_list *l, const char *lb_name, const char *key);
bool lbp_owned_has(const struct lbp_owned_list *l, const char *lb_name);
size_t lbp_owned_count(const struct lbp_owned_list *l);
/* *out: one malloc'd block (free() it); l is empty after, even on LBP_NOMEM. */
int lbp_owned_take(struct lbp_owned_list *l, struct lbp_lb_owned **out, size_t *n);
void lbp_owned_free(struct lbp_owned_list *l);

/*
 * A failure message for the Warning Event (lbp_failf fills it). One per call,
 * owned by the caller, so concurrent workers never share it.
 */
#define LBP_ERRBUF_SIZE 512
struct lbp_call {
    char err[LBP_ERRBUF_SIZE];
    unsigned retry_after_s; /* with LBP_PENDING or LBP_RETRY: when to ask again, in seconds */
    /*
     * Optional, set by the provider with a failure: the Warning Event's
     * reason (a static string, e.g. "AllocationFailed"); NULL lets the
     * reconciler choose. With LBP_PENDING it means "waiting for a resource
     * another Service holds": poll after retry_after_s without growing the
     * backoff, and requeue such Services early when any LB is removed.
     * With another failure (LBP_RETRY...) the backoff applies and an LB's
     * removal requeues the Service early too (room on a shared object).
     */
    const char *event_reason;
};

void lbp_failf(struct lbp_call *call, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct lbp_provider_ctx; /* a configured instance of a cloud */

/*
 * One kind of run-time configuration object (LBP_CAP_RUNTIME_CONFIG): its
 * name as configure receives it, the API collection the reconciler LISTs
 * it from, and who defines it (for messages: "MetalLB").
 */
struct lbp_config_kind {
    const char *kind;
    const char *path;
    const char *source;
};
#define LBP_CONFIG_KINDS_MAX 4

struct lbp_provider {
    const char *name; /* --cloud NAME */
    unsigned caps;
    /* With LBP_CAP_RUNTIME_CONFIG: the kinds configure takes, ended by {NULL}. */
    const struct lbp_config_kind *config_kinds;

    /* Reads --cloud-config (may be NULL) and the environment. */
    int (*init)(const char *cloud_config_path, const char *cluster_name,
                struct lbp_provider_ctx **out, char *err, size_t errlen);
    void (*cleanup)(struct lbp_provider_ctx *ctx);

    int (*get)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
               struct lbp_lb_status *st, struct lbp_call *call);
    int (*ensure)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct lbp_lb_status *st, struct lbp_call *call);
    /*
     * ensure, update_targets and remove may answer LBP_PENDING: see
     * "Asynchronous clouds" at the top of this file.
     */
    /* NULL: the reconciler calls ensure. */
    int (*update_targets)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                          struct lbp_call *call);
    /* Gone counts as success. Only namespace/name/uid/lb_name are set. */
    int (*remove)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct lbp_call *call);
    /*
     * Every LB tagged for this cluster, as one malloc'd block the caller
     * frees with free() (built with lbp_owned_add and lbp_owned_take).
     */
    int (*list_owned)(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                      struct lbp_call *call);
    int (*ping)(struct lbp_provider_ctx *ctx, struct lbp_call *call);

    /* Optional: a JSON document of internal state for /debug/<name>; caller frees. */
    char *(*debug_json)(struct lbp_provider_ctx *ctx);
    /*
     * Optional: settings POSTed to /debug/<name> at run time (test doubles:
     * fault injection such as "failNext=3"). LBP_INVALID with err on a bad body.
     */
    int (*debug_post)(struct lbp_provider_ctx *ctx, const char *body, char *err, size_t errlen);

    /*
     * With LBP_CAP_RUNTIME_CONFIG (else NULL). Replaces every object of one
     * kind (of config_kinds) with json_objects (the items of a LIST, each
     * one JSON object as text; n may be 0). Bare metal takes MetalLB's
     * "IPAddressPool" and "L2Advertisement". On error the previous configuration stays in
     * force and err says why (LBP_INVALID: the objects are wrong; report it,
     * do not retry until they change). After LBP_OK the reconciler should
     * requeue every Service this cloud handles: addresses may have moved.
     */
    int (*configure)(struct lbp_provider_ctx *ctx, const char *kind,
                     const char *const *json_objects, size_t n, char *err, size_t errlen);
    /*
     * Optional (NULL: nothing to restore). For a cloud whose state is not
     * stored anywhere but the Services themselves (bare metal: the address
     * allocations; the mock: its in-memory LBs' addresses), the reconciler calls this once per
     * handled Service with its current status.loadBalancer.ingress after the caches sync and before
     * any ensure, so a restart never hands out an address twice. Best effort: LBP_OK, or
     * LBP_CONFLICT/LBP_INVALID when the recorded address cannot be kept (the next ensure picks
     * another one).
     */
    int (*restore)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct lbp_lb_status *current);
    /*
     * Optional (NULL: a changed cloud-config needs a restart). Re-reads the
     * cloud-config at path on SIGHUP while calls continue on other threads.
     * On error (LBP_PARSE, LBP_IO, LBP_INVALID) the running configuration
     * stays in force, untouched, and err says why.
     */
    int (*reload)(struct lbp_provider_ctx *ctx, const char *path, char *err, size_t errlen);
};

/* NULL-terminated table of the clouds built into this binary. */
extern const struct lbp_provider *const lbp_providers[];
const struct lbp_provider *lbp_provider_find(const char *name);
/*
 * LBP_OK when the vtable keeps its own promises: the slots every cloud
 * needs are set and each behaviour bit has the slots it relies on; else
 * LBP_INVALID with err naming the cloud and what is missing.
 */
int lbp_provider_check(const struct lbp_provider *p, char *err, size_t errlen);

/* "a" + uid without dashes, cut to LBP_LB_NAME_LEN characters. */
void lbp_lb_name(const char *uid, char out[LBP_LB_NAME_LEN + 1]);

#endif
