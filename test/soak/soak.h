/*
 * soak.h — what the chaos soak (soak.c) needs from a cloud fake. Each
 * cloud is one `struct soak_cloud` in its own file (soak_aws.c, ...),
 * listed in soak.c's table: it starts its fake as a separate process,
 * seeds the nodes, turns its faults on and off, and describes every load
 * balancer the fake holds in one cloud-neutral shape, so the checks
 * (leaks, listeners, targets, addresses) are written once.
 */
#ifndef LBP_SOAK_H
#define LBP_SOAK_H

#include <stdbool.h>
#include <stddef.h>

#define SOAK_MAX_PORTS 8
/*
 * The public addresses every cloud fake hands out in a soak: 4,096 (the
 * fakes' default /24 holds about 240, and 2,000 slots keep up to 2,000
 * Services live). 198.18.0.0/15 is set aside for benchmarks (RFC 2544);
 * the addresses are only strings in the fakes, never routed.
 */
#define SOAK_PUBLIC_RANGE "198.18.0.0/20"

/* Lenient readers for the fakes' JSON: member k (NULL), its string (""), an array's length (0). */
struct json_object;
struct json_object *soak_jget(struct json_object *o, const char *k);
const char *soak_jstr(struct json_object *o, const char *k);
size_t soak_jlen(struct json_object *a);

/* One listener: the port clients use and where it forwards. */
struct soak_listener {
    int port;
    int node_port;
    char targets[512]; /* sorted, comma-joined instance IDs or node names */
};

struct soak_lb {
    char name[80];  /* the LB's name: lbprov's "a" + UID without dashes */
    char addr[256]; /* what the Service's status must show (hostname or IP) */
    int n_listeners;
    struct soak_listener l[SOAK_MAX_PORTS];
    /*
     * A cloud that forwards one range of ports to the nodes' same ports
     * (GCE's forwarding rule and target pool) has no listeners: the range
     * must be the Service's lowest to highest port, the targets every node.
     */
    int range_lo, range_hi; /* 0: the LB has listeners */
    char range_targets[512];
    /* The source CIDRs the cloud admits, sorted and comma-joined ("" when not checked). */
    char sources[512];
    /* Only the address is checked (bare metal: answered on the LAN, no listeners). */
    bool addr_only;
};

/* Everything the cloud holds that lbprov made. */
struct soak_cloud_state {
    struct soak_lb *lbs;
    size_t n_lbs;
    /* Other objects lbprov made (target groups, security groups): what, and
     * the LB name they belong to ("" when no LB refers to them any more). */
    char (*owned)[2][128];
    size_t n_owned;
};

struct soak_cloud_counts {
    long calls, faults, lost_replies;
};

struct soak_cloud {
    const char *name; /* --cloud NAME, as lbprov calls it */
    /*
     * Starts the fake (logging to dir/<name>.log), seeds n_nodes machines,
     * writes the controller's cloud-config to cfg_path and sets the
     * environment the controller inherits. 0 on success; 77 when this
     * machine cannot run it (the soak then exits 77: skipped).
     */
    int (*start)(const char *dir, const char *cluster, int n_nodes, const char *cfg_path);
    void (*stop)(void);
    /* spec.providerID of node i (1-based). */
    void (*provider_id)(int i, char *out, size_t cap);
    /* The target name node i has in the cloud state (an instance ID). */
    void (*target_id)(int i, char *out, size_t cap);
    /* Annotations fixed at creation for Service k ("" or JSON members, e.g. the LB kind); NULL:
     * none. */
    const char *(*fixed_annotations)(unsigned k);
    /* A JSON member that changes something harmless the cloud applies ("k":"v"); NULL: an
     * annotation no cloud reads. */
    void (*changing_annotation)(unsigned k, char *out, size_t cap);
    /* Faults at the soak's rates (errors, throttling, lost replies), or none. */
    int (*faults)(bool on, unsigned seed);
    /*
     * GET path from the fake as JSON (NULL on failure); soak.c fetches
     * state_path and counters_path with it and hands the result (NULL when
     * the path is NULL) to snapshot and counts, which only read it.
     */
    struct json_object *(*fetch)(const char *path);
    const char *state_path, *counters_path;
    int (*snapshot)(struct json_object *st, struct soak_cloud_state *out);
    int (*counts)(struct json_object *c, struct soak_cloud_counts *out);
    /* Strings that must never appear in any log (credentials the fake accepts). */
    const char *const *secrets;
    /* Optional: things a namespace-built cloud adds to the run. */
    const char *api_bind;  /* the fake API server's --bind (NULL: loopback) */
    bool no_source_ranges; /* the cloud refuses loadBalancerSourceRanges: the soak sends none */
    int (*prepare)(const char *dir, int n_nodes); /* before the API server starts; 0, 77, -1 */
    void (*created)(const char *svc);             /* after the soak creates a Service */
    void (*tick)(bool faults);                    /* every churn step, and while settling */
    /* After the replicas stopped: stops the cloud's own processes; how many ended badly. */
    long (*finish)(void);
    const char *const *(*logs)(void); /* more logs to scan, NULL-terminated */
    void (*report)(void);             /* more figure lines */
};

/* The members every out-of-process fake names after its prefix p (p_start, p_snapshot, ...). */
#define SOAK_CLOUD_OPS(p)                                                                          \
    .start = p##_start, .stop = p##_stop, .provider_id = p##_provider_id,                          \
    .target_id = p##_target_id, .faults = p##_faults, .fetch = p##_fetch,                          \
    .snapshot = p##_snapshot, .counts = p##_counts
/* The optional hooks, for a cloud that has them all (bare metal). */
#define SOAK_CLOUD_HOOKS(p)                                                                        \
    .prepare = p##_prepare, .created = p##_created, .tick = p##_tick, .finish = p##_finish,        \
    .logs = p##_logs, .report = p##_report

void soak_cloud_state_free(struct soak_cloud_state *s);
/* Appends an LB named name at addr (zeroed otherwise); NULL when out of memory. */
struct soak_lb *soak_cloud_state_add(struct soak_cloud_state *s, const char *name,
                                     const char *addr);
/* ids sorted in place and comma-joined into out. */
void soak_join_sorted(const char **ids, size_t n, char *out, size_t cap);
/* Adds an owned object; 0 or -1 (no memory). */
int soak_cloud_state_own(struct soak_cloud_state *s, const char *what, const char *owner);

/* lbprov's LB name for a Service UID ("a" + the UID without dashes); cap at least 34. */
void soak_lb_name(const char *uid, char *out, size_t cap);
/* The Service's first ingress address (IP or hostname), or "". */
const char *soak_ingress(struct json_object *svc);

/* GET http://127.0.0.1:PORT/PATH: the body of a 200 answer (free it), else NULL. */
char *soak_http_get(int port, const char *path, long timeout_ms);
/* The HTTP port of the replica that leads now, or 0 (for clouds read through lbprov). */
int soak_leader_port(void);
/* --services: how many Service slots the soak churns. */
int soak_slots(void);

/* The soak's own API access (retrying injected faults like a user): status, *resp malloc'd. */
long soak_api_do(const char *method, const char *path, const char *ctype, const char *body,
                 char **resp);
struct json_object *soak_api_json(const char *path);
/* Writes a kubeconfig (with the bearer token) for the fake API server at http://host:port. */
int soak_api_kubeconfig(const char *host, const char *path);
/* Every address the sampler ever saw a Service hold (calls fn for each). */
void soak_seen_addresses(void (*fn)(const char *addr, void *ctx), void *ctx);

extern const struct soak_cloud soak_cloud_aws;
extern const struct soak_cloud soak_cloud_gce;
extern const struct soak_cloud soak_cloud_azure;
extern const struct soak_cloud soak_cloud_cloudstack;
extern const struct soak_cloud soak_cloud_mock;
extern const struct soak_cloud soak_cloud_baremetal;

#endif
