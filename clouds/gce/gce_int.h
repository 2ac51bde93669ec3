/*
 * gce_int.h — what the GCE provider's files share: the configuration from
 * gce.conf, the provider context, the Compute call wrapper (requestId,
 * Operations), names and ownership markers, and the two load-balancer
 * models (external.c: address + target pool + forwarding rule; internal.c:
 * instance groups + regional backend service + INTERNAL forwarding rule).
 *
 * Only lbp_provider_gce leaves the folder; the gce_ functions here are
 * non-static so the unit tests can reach the rules (names, providerIDs,
 * descriptions, Operation errors) without a network.
 */
#ifndef LBP_CLOUDS_GCE_INT_H
#define LBP_CLOUDS_GCE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "provider/http.h"
#include "provider/lro.h"
#include "provider/nodes.h"
#include "provider/provider.h"
#include "provider/rest.h"
#include "provider/token.h"

struct json_object;

#define GCE_NAME_MAX 64 /* GCE names are at most 63 characters */
#define GCE_MAX_TAGS 16
#define GCE_URL_MAX 1024
#define GCE_SCOPE "https://www.googleapis.com/auth/compute"
#define GCE_DEFAULT_ENDPOINT "https://compute.googleapis.com/compute/v1/"
#define GCE_OPS_MAX 8 /* Operations followed at once for one LB */

/* Annotations. */
#define GCE_ANN_LB_TYPE "networking.gke.io/load-balancer-type"
#define GCE_ANN_LB_TYPE_LEGACY "cloud.google.com/load-balancer-type"
#define GCE_ANN_SUBNET "networking.gke.io/internal-load-balancer-subnet"
#define GCE_ANN_GLOBAL_ACCESS "networking.gke.io/internal-load-balancer-allow-global-access"
#define GCE_ANN_TIER "cloud.google.com/network-tier"

/* Ownership keys written into each object's description. */
#define GCE_DESC_SERVICE "kubernetes.io/service-name"
#define GCE_DESC_CLUSTER "kubernetes.io/cluster-id"

/* gce.conf, as read at start and on SIGHUP. */
struct gce_conf {
    char project[128];         /* project-id */
    char network_project[128]; /* network-project-id (default: project) */
    char network[128];         /* network-name (default "default") */
    char subnetwork[256];      /* subnetwork-name: internal LBs' default subnet */
    char region[64];
    char zone[64]; /* local-zone */
    char tags[GCE_MAX_TAGS][64];
    size_t n_tags;        /* node-tags; 0: the instances' own tags */
    char node_prefix[64]; /* node-instance-prefix: which instance tags count */
    bool regional, multizone;
    char endpoint[512];  /* api-endpoint, ends in "/" */
    char token_url[512]; /* token-url: overrides the key file's token_uri */
    char key_file[512];  /* service-account key (or external_account) file */
    char cluster[64];    /* the cluster id in names and descriptions */
    long qps, burst;     /* client-side rate limit (lbprov's own keys) */
};

/* One VM, as a node cache entry. */
struct gce_instance {
    bool exists;
    char zone[64];
    char name[GCE_NAME_MAX];
    char tags[GCE_MAX_TAGS][64];
    size_t n_tags;
};

struct lbp_provider_ctx {
    pthread_rwlock_t lock; /* guards conf against reload */
    struct gce_conf conf;
    char cred_kind[32]; /* "service-account", "external-account", "metadata" */
    struct lbp_http_client *http;
    struct lbp_rest rest;
    struct lbp_lro_table *ops;
    struct lbp_node_cache *cache;
    pthread_mutex_t lookup_mu;     /* one instance lookup at a time: a node change costs one */
    struct gce_prefetch *prefetch; /* a new leader's bulk read (prefetch.c) */
};

/* What one Service asks for, from its spec and annotations. */
struct gce_opts {
    bool internal;
    bool global_access;
    char tier[16];    /* "PREMIUM" or "STANDARD" */
    char subnet[512]; /* internal: subnetwork reference (partial URL) */
    char proto[8];    /* "TCP" or "UDP" */
    int port_lo, port_hi;
    char affinity[16];    /* "NONE" or "CLIENT_IP" */
    struct gce_conf conf; /* a snapshot: reload may change ctx->conf meanwhile */
};

/* ---- rules (gce.c) ---- */

/* A GCE resource name: [a-z]([-a-z0-9]{0,61}[a-z0-9])? */
bool gce_name_valid(const char *s);
/* gce://project/zone/name → its parts; LBP_INVALID (err says why) for any other shape. */
int gce_provider_id(const char *pid, char *project, size_t pcap, char *zone, size_t zcap,
                    char *name, size_t ncap, char *err, size_t errlen);
/* "us-central1-a" → "us-central1"; LBP_INVALID when it is not a zone name. */
int gce_zone_region(const char *zone, char *region, size_t cap);
/* The annotations and spec into o (o->conf must be set); LBP_INVALID with call->err. */
int gce_opts_parse(const struct lbp_lb_spec *spec, struct gce_opts *o, struct lbp_call *call);
/* The description JSON marking an object as the Service's (svc NULL: the cluster's shared). */
void gce_desc(const struct gce_conf *c, const char *ns, const char *name, char *out, size_t cap);
/* Reads a description: true when it carries this cluster's id (svc gets "ns/name" or ""). */
bool gce_desc_owned(const char *desc, const char *cluster, char *svc, size_t cap);
/* Parses gce.conf text into c (defaults filled); LBP_INVALID with err naming the key. */
int gce_conf_parse(const char *text, const char *cluster, struct gce_conf *c, char *err,
                   size_t errlen);

/* ---- Compute calls (api.c) ---- */

/* An answer: the parsed JSON (NULL for none), freed with gce_resp_free. */
struct gce_resp {
    struct json_object *json;
};
void gce_resp_free(struct gce_resp *r);

/*
 * One Compute call. path is relative to the project ("regions/r/addresses/x",
 * "global/firewalls"). Mutating methods get a fresh requestId, which makes
 * them safe to re-send. LBP_OK with r->json, or the error (call->err).
 */
/* The Compute method a call is ("forwardingRules.insert"): the bounded metrics label. */
void gce_method_name(const char *method, const char *path, char *out, size_t cap);
int gce_call(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *method,
             const char *path, struct json_object *body, const char *what, struct gce_resp *r,
             struct lbp_rest_error *e, struct lbp_call *call);
/* GET; LBP_NOT_FOUND when absent (call->err untouched then). */
int gce_get(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *path,
            const char *what, struct gce_resp *r, struct lbp_call *call);
/* Every item of a collection (filter may be NULL). */
int gce_list(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *path,
             const char *filter, const char *what, int (*each)(void *ud, struct json_object *item),
             void *ud, struct lbp_call *call);

/*
 * A set of Operations started by one step. A mutating call's answer goes
 * through gce_ops_add: an Operation already DONE is checked at once (its
 * error returned), one still running is kept to be followed.
 */
struct gce_ops {
    char ref[LBP_LRO_REF_MAX]; /* "scope:name scope:name ...", scope r, g or z/<zone> */
    size_t n;
    char what[96];
};
void gce_ops_init(struct gce_ops *s, const char *what);
int gce_ops_add(struct gce_ops *s, struct json_object *op, const char *what, struct lbp_call *call);
/* Queues a delete of path behind the set's Operations (issued by the poll once they are done). */
void gce_ops_then_delete(struct gce_ops *s, const char *path);
/* LBP_OK when nothing runs; else lbp_lro_start (LBP_PENDING). */
int gce_ops_wait(struct lbp_provider_ctx *ctx, const char *lb_name, struct gce_ops *s,
                 struct lbp_call *call);
/* The lbp_lro_poll_fn for a gce_ops ref (ud: the ctx). */
int gce_ops_poll(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen);
/* A DONE Operation's error → lbp_rc (LBP_OK for none or "already exists"); err says which. */
int gce_op_error(struct json_object *op, char *err, size_t errlen);
/* Mutating call + gce_ops_add; a synchronous 409 alreadyExists / 404 on delete count as done. */
int gce_mutate(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct gce_ops *s,
               const char *method, const char *path, struct json_object *body, const char *what,
               struct lbp_call *call);

/* Nodes' instances (cached): the wanted ones, in spec order, skipping nodes without a VM. */
struct gce_target {
    char project[128], zone[64], name[GCE_NAME_MAX];
    char url[GCE_URL_MAX]; /* "projects/p/zones/z/instances/n" */
};
int gce_targets(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                const struct lbp_lb_spec *spec, bool lookup, struct gce_target **out, size_t *n,
                char tags[GCE_MAX_TAGS][64], size_t *n_tags, struct lbp_call *call);
/* The path of a reference URL from "projects/" on ("" when it has none). */
const char *gce_ref_path(const char *url);

/* ---- a new leader's bulk read (prefetch.c) ---- */

struct gce_prefetch *gce_prefetch_new(void);
void gce_prefetch_free(struct gce_prefetch *p);
/* The first call of the process lists the collections; later ones return (or wait for it). */
void gce_prefetch_begin(struct lbp_provider_ctx *ctx);
/* true with r->json when the object at path was listed and is still trusted. */
bool gce_prefetch_read(struct gce_prefetch *p, const char *path, struct gce_resp *r);
/* A change sent to path (body: a POST's, naming the new object): its object is read again. */
void gce_prefetch_forget(struct gce_prefetch *p, const char *path, struct json_object *body);
/* A finished Operation: its target is read again. */
void gce_prefetch_forget_target(struct gce_prefetch *p, const char *project,
                                struct json_object *op);
/* A refusal that a stale object may explain: everything kept goes. */
void gce_prefetch_drop(struct gce_prefetch *p, const char *why);
/* Its state as "prefetch" in o (/debug/gce). */
void gce_prefetch_debug(struct gce_prefetch *p, struct json_object *o);

/* ---- shared pieces of both models (api.c) ---- */

/* Firewall k8s-fw-<lb> (ports, source ranges) or a health-check one; converged in s. */
int gce_firewall_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                        const struct lbp_lb_spec *spec, const char *fw_name,
                        struct json_object *want, struct gce_ops *s, struct lbp_call *call);
struct json_object *gce_firewall_body(const struct gce_opts *o, const char *name, const char *desc,
                                      const char *proto, const char *const *ports, size_t n_ports,
                                      const char *const *ranges, size_t n_ranges,
                                      char tags[GCE_MAX_TAGS][64], size_t n_tags);
/* The client firewall k8s-fw-<lb>: the Service's ports from its source ranges (or anyone). */
int gce_client_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                         const struct lbp_lb_spec *spec, char tags[GCE_MAX_TAGS][64], size_t n_tags,
                         struct gce_ops *s, struct lbp_call *call);
/* The firewall for Google's probes (gce_probe_ranges) to port on the nodes' tags. */
int gce_probe_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                        const struct lbp_lb_spec *spec, const char *fw_name, const char *desc,
                        int port, char tags[GCE_MAX_TAGS][64], size_t n_tags, struct gce_ops *s,
                        struct lbp_call *call);
/* Google's health-check probe ranges. */
extern const char *const gce_probe_ranges[];
extern const size_t gce_n_probe_ranges;
/* The health-check names: shared k8s-<cluster>-node or the LB's own. */
void gce_hc_name(const struct gce_conf *c, const struct lbp_lb_spec *spec, bool local, char *out,
                 size_t cap);
/* Deletes path when it exists and (when owned_only) carries this cluster's description. */
int gce_delete_if(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct gce_ops *s,
                  const char *path, const char *what, bool owned_only, struct lbp_call *call);

/* ---- the models ---- */
/*
 * Both models converge in steps: read what exists, change the first thing
 * that differs, and answer GCE_STEP_AGAIN when that change is already done
 * (read again) — at most GCE_MAX_STEPS in one call.
 */
#define GCE_STEP_AGAIN 1000
#define GCE_MAX_STEPS 8
typedef int (*gce_step_fn)(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                           const struct gce_opts *o, struct lbp_lb_status *st,
                           struct lbp_call *call);
/*
 * A model's ensure: the LB's operation in flight is polled first, then
 * step runs until it settles.
 */
int gce_converge(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                 const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call,
                 gce_step_fn step);
/* A step's end after rc: the changes in s are followed (gce_ops_wait), none: GCE_STEP_AGAIN. */
int gce_step_end(struct lbp_provider_ctx *ctx, const char *lb_name, struct gce_ops *s, int rc,
                 struct lbp_call *call);
/* The forwarding rule fr's address as the LB's one ingress (none while GCE has not set it). */
void gce_rule_status(struct json_object *fr, struct lbp_lb_status *st);
/* The rule fr holds spec.loadBalancerIP (true when none is asked for). */
bool gce_rule_has_requested_ip(struct json_object *fr, const struct lbp_lb_spec *spec);
/* The health check's name (gce_hc_name) and description: the Service's, or the cluster's. */
void gce_hc_ident(const struct gce_conf *c, const struct lbp_lb_spec *spec, bool local, char *name,
                  size_t ncap, char *desc, size_t dcap);
/*
 * The probe firewall for health check name: k8s-<lb><suffix> for the
 * Service's own check, <name><suffix> for the cluster's (each model's
 * upstream naming).
 */
int gce_hc_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                     const struct lbp_lb_spec *spec, bool local, const char *name,
                     const char *suffix, const char *desc, int port, char tags[GCE_MAX_TAGS][64],
                     size_t n_tags, struct gce_ops *s, struct lbp_call *call);

int gce_ext_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call);
int gce_ext_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_call *call);
int gce_ext_remove(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                   const struct lbp_lb_spec *spec, struct lbp_call *call);
int gce_int_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call);
int gce_int_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_call *call);
int gce_int_remove(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                   const struct lbp_lb_spec *spec, struct lbp_call *call);

#endif
