/*
 * azure_int.h — what the parts of the Azure provider share (internal).
 *
 * config.c reads azure.json and picks the endpoints and token source;
 * arm.c makes one ARM call (api-version, bearer token, error envelope,
 * throttling headers) and polls asynchronous operations; shared.c owns the
 * writes to the objects every Service shares (the cluster's load balancers
 * and security group: one writer at a time per object, GET-modify-PUT with
 * If-Match, parts of many Services in one PUT); service.c builds one
 * Service's part (names, frontend, rules, probes, security rules, public
 * IP) and pool.c the cluster backend pool; azure.c is the vtable.
 */
#ifndef LBP_CLOUDS_AZURE_INT_H
#define LBP_CLOUDS_AZURE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider/http.h"
#include "provider/lro.h"
#include "provider/nodes.h"
#include "provider/provider.h"
#include "provider/rest.h"
#include "provider/token.h"

struct json_object;

#define AZ_NET_API "2024-01-01"
#define AZ_COMPUTE_API "2024-07-01"
#define AZ_GROUP_API "2021-04-01"
#define AZ_NAME_MAX 80 /* ARM names of rules, probes, public IPs */
#define AZ_ID_MAX 600
#define AZ_URL_MAX 1024

#define AZ_TAG_CLUSTER "k8s-azure-cluster-name"
#define AZ_TAG_SERVICE "k8s-azure-service"
#define AZ_TAG_DNS "k8s-azure-dns-label-service"

enum az_auth { AZ_AUTH_SECRET, AZ_AUTH_MSI, AZ_AUTH_WORKLOAD };
enum az_pool_type { AZ_POOL_NIC, AZ_POOL_NODEIP };

/* azure.json, as far as lbprov reads it (keys as cloud-provider-azure names them). */
struct az_config {
    char cloud[48];
    char tenant[64];
    char subscription[64];
    char rg[90];    /* resourceGroup: nodes, public IPs, and by default the LBs */
    char lb_rg[90]; /* loadBalancerResourceGroup (default rg) */
    char location[64];
    char vnet[80];
    char vnet_rg[90];
    char subnet[80];
    char nsg[80];
    char nsg_rg[90];
    char lb_name[80]; /* loadBalancerName (default: the cluster name) */
    char client_id[64];
    char *client_secret; /* wiped and freed by az_config_free */
    char secret_file[512];
    enum az_auth auth;
    char user_identity[300]; /* userAssignedIdentityID: a client id or a resource id */
    char fed_token_file[512];
    enum az_pool_type pool;
    bool disable_outbound_snat;
    double qps;
    int burst;
    /* Endpoints (overrides, else the cloud's), each ending in '/'. */
    char arm[256];
    char aad[256];
    char imds[256];
    char resource[128]; /* the token audience: the cloud's ARM resource */
};

/* Parses azure.json text; cluster is --cluster-name. err names the key and what is wrong. */
int az_config_parse(const char *text, size_t len, const char *cluster, struct az_config *c,
                    char *err, size_t errlen);
void az_config_free(struct az_config *c);

/* ---- shared objects (shared.c) ---- */

enum az_slot_kind { AZ_SLOT_LB, AZ_SLOT_NSG };

/* One Service's wish for a shared object: its items, or none (removal). */
struct az_part {
    char owner[48];           /* "a<uid32>": every item named owner or owner-* is this Service's */
    struct json_object *want; /* {"<array path>":[items]}; NULL: own nothing */
};

struct az_slot {
    enum az_slot_kind kind;
    bool internal;
    char name[AZ_NAME_MAX + 1];
    char path[AZ_ID_MAX];  /* ARM id */
    pthread_mutex_t plock; /* the pending parts */
    struct az_part *parts;
    size_t n_parts, cap_parts;
    pthread_mutex_t mu; /* one writer at a time */
    char op_url[LBP_LRO_REF_MAX];
    bool op_delete;
    uint64_t op_next_ms;
    unsigned op_delay_s;
    /* IP-based pool: the addresses it should hold (NULL: leave as is), under plock;
       pool_gen counts its settings (az_pool_want). */
    struct json_object *pool_want;
    uint64_t pool_gen;
    char nodes_applied[65]; /* digest of the node set last written or seen in place */
    /* The object as last read or written (NULL: unknown, or a write is running). */
    struct json_object *last;
    uint64_t last_ms;
    /* The object as last seen Succeeded, kept while a later write runs (NULL: none). */
    struct json_object *good;
    uint64_t good_ms;
    /* Whose parts the last PUT carried (its operation may still run). */
    char (*op_owners)[48];
    size_t n_op_owners;

    uint64_t puts, deletes;
};

/* How long a read of a shared object stands in for a new GET (writes still carry its
   etag, so a stale copy costs a 412, never a lost write). */
#define AZ_CACHE_MS 3000
/* How long the last Succeeded state answers a Service whose part it shows while another
   Service's write runs (past it, the Service waits for that write and reads again). */
#define AZ_GOOD_MS 60000

struct lbp_provider_ctx {
    struct az_config cfg;
    char cluster[64];
    struct lbp_http_client *http;
    struct lbp_token_cache *token;
    struct lbp_rest rest;
    struct lbp_lro_table *ops; /* per Service: its public IP's operations */
    struct lbp_node_cache *nics;
    struct az_slot lb[2]; /* external, internal */
    struct az_slot nsg;
    pthread_mutex_t pace_mu;
    long
        remaining[3]; /* x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}; -1 unknown */
    pthread_mutex_t del_mu;
    struct json_object *pip_del; /* {lb_name: public IP id} seen while removing */
    /* {lb_name: {"id","ip","want","ms"}}: the public IP an ensure in progress found ready,
       so the calls after its LBP_PENDING do not read it again (az_pip_forget ends it). */
    struct json_object *pip_ready;
};

/* ---- ARM calls (arm.c) ---- */

struct az_resp {
    long status;
    struct json_object *json;
    char async_url[LBP_LRO_REF_MAX];
    char location[LBP_LRO_REF_MAX];
    unsigned retry_after_s;
};

/*
 * One ARM call. path is an ARM id ("/subscriptions/...") or an absolute URL
 * (operation status). if_match / if_none_match may be NULL. The answer's
 * body is parsed into out->json for every status.
 */
int az_arm(struct lbp_provider_ctx *ctx, const char *method, const char *path,
           struct json_object *body, const char *if_match, const char *if_none_match,
           const char *operation, struct az_resp *out, struct lbp_call *call);
void az_resp_free(struct az_resp *r);
/* Polls an Azure-AsyncOperation or Location URL (lbp_lro_poll_fn; ud is the ctx). */
int az_op_poll(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen);
/* The error-envelope mapper. */
void az_map_error(struct json_object *body, struct lbp_rest_error *e);
/* How long to wait before the next call when this many calls of its kind are left. */
unsigned az_pace_ms(long remaining);
/* ARM ids. */
void az_id(const struct lbp_provider_ctx *ctx, const char *rg, const char *type, const char *name,
           char *out, size_t cap);

/* ---- JSON helpers (shared.c) ---- */

struct json_object *az_jobj(struct json_object *parent, const char *key); /* made if absent */
struct json_object *az_jarr(struct json_object *parent, const char *key); /* made if absent */
/* Every field of want is in have with the same value (ids compared without case). */
bool az_json_covers(struct json_object *have, struct json_object *want, const char *key);
bool az_owned_name(const char *name, const char *owner);

int az_slot_init(struct az_slot *s, enum az_slot_kind kind, bool internal, const char *name,
                 const char *path);
void az_slot_free(struct az_slot *s);
/*
 * The IP-based pool's addresses from now on (takes want). A call sets them
 * when it begins, before any ARM call, so the node set of a call that began
 * later is never replaced by that of one that began earlier and was slower.
 * Returns the setting's generation for az_pool_applied.
 */
uint64_t az_pool_want(struct az_slot *s, struct json_object *want);
/* The pool now holds digest's node set, if setting gen is still the latest. */
void az_pool_applied(struct az_slot *s, uint64_t gen, const char *digest);
/*
 * Brings this Service's part into the shared object and returns the object
 * as it now is (*out, NULL when it does not exist; the caller puts it).
 * part NULL: only the pool. LBP_PENDING while a write of the object runs.
 */
int az_slot_sync(struct lbp_provider_ctx *ctx, struct az_slot *s, const struct az_part *part,
                 struct json_object **out, struct lbp_call *call);

/* ---- one Service (service.c) ---- */

struct az_opts {
    bool internal;
    char subnet[80];
    char pip_name[AZ_NAME_MAX + 1];
    bool pip_named; /* the user named it */
    char pip_rg[90];
    struct json_object *pip_tags; /* user tags, NULL when none */
    char dns_label[64];
    char probe_proto[8]; /* "Tcp", "Http", "Https"; "" default */
    char probe_path[256];
    int idle_timeout;
    bool tcp_reset;
};

int az_opts_parse(const struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct az_opts *o, struct lbp_call *call);
void az_opts_free(struct az_opts *o);
/* Names as cloud-provider-azure makes them (each at most AZ_NAME_MAX characters). */
void az_pip_default_name(const char *cluster, const char *owner, char out[AZ_NAME_MAX + 1]);
void az_rule_name(const char *owner, const char *proto, int port, char out[AZ_NAME_MAX + 1]);
void az_nsg_rule_name(const char *owner, const char *proto, int port, const char *source,
                      char out[AZ_NAME_MAX + 1]);
/* The LB part: frontend, rules, probes. pip_id for external, else the subnet from opts. */
struct json_object *az_lb_part(const struct lbp_provider_ctx *ctx, const struct az_slot *slot,
                               const struct lbp_lb_spec *spec, const struct az_opts *o,
                               const char *pip_id);
/* The security rules for spec with dest as the destination address. */
struct json_object *az_nsg_part(const struct lbp_lb_spec *spec, const char *dest);
/* The public IP: LBP_OK with its address and id, LBP_PENDING while it is made. */
int az_pip_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  const struct az_opts *o, char *ip, size_t ipcap, char *id, size_t idcap,
                  struct lbp_call *call);
/* Ends what az_pip_ensure remembered for this Service (its ensure is over either way). */
void az_pip_forget(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec);
/* Deletes the public IPs made for this Service (tags say so). */
int az_pip_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  const char *known_id, struct lbp_call *call);

/* ---- backend pool (pool.c) ---- */

/* SHA-256 hex of the node set as the pool sees it. */
void az_nodes_digest(const struct lbp_lb_spec *spec, char out[65]);
/* The IP-based pool's addresses for spec's nodes. */
struct json_object *az_pool_addresses(const struct lbp_provider_ctx *ctx,
                                      const struct lbp_lb_spec *spec);
/* NIC-based pool: bring the nodes' NIC ip configurations into line with spec (lb: the LB JSON). */
int az_nic_sync(struct lbp_provider_ctx *ctx, struct az_slot *s, struct json_object *lb,
                const struct lbp_lb_spec *spec, struct lbp_call *call);
/* Takes every NIC out of the slot's pool (before the LB is deleted). */
int az_nic_release(struct lbp_provider_ctx *ctx, struct az_slot *s, struct json_object *lb,
                   struct lbp_call *call);

#endif
