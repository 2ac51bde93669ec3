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
     * environment the controller inherits. 0 on success.
     */
    int (*start)(const char *dir, const char *cluster, int n_nodes, const char *cfg_path);
    void (*stop)(void);
    /* spec.providerID of node i (1-based). */
    void (*provider_id)(int i, char *out, size_t cap);
    /* The target name node i has in the cloud state (an instance ID). */
    void (*target_id)(int i, char *out, size_t cap);
    /* Annotations fixed at creation for Service k ("" or JSON members, e.g. the LB kind). */
    const char *(*fixed_annotations)(unsigned k);
    /* A JSON member that changes something harmless the cloud applies ("k":"v"). */
    void (*changing_annotation)(unsigned k, char *out, size_t cap);
    /* Faults at the soak's rates (errors, throttling, lost replies), or none. */
    int (*faults)(bool on, unsigned seed);
    int (*snapshot)(struct soak_cloud_state *out);
    int (*counts)(struct soak_cloud_counts *out);
    /* Strings that must never appear in any log (credentials the fake accepts). */
    const char *const *secrets;
};

void soak_cloud_state_free(struct soak_cloud_state *s);
/* Appends an LB named name at addr (zeroed otherwise); NULL when out of memory. */
struct soak_lb *soak_cloud_state_add(struct soak_cloud_state *s, const char *name,
                                     const char *addr);
/* ids sorted in place and comma-joined into out. */
void soak_join_sorted(const char **ids, size_t n, char *out, size_t cap);
/* Adds an owned object; 0 or -1 (no memory). */
int soak_cloud_state_own(struct soak_cloud_state *s, const char *what, const char *owner);

/* GET http://127.0.0.1:PORT/PATH: the body of a 200 answer (free it), else NULL. */
char *soak_http_get(int port, const char *path, long timeout_ms);
/* The HTTP port of the replica that leads now, or 0 (for clouds read through lbprov). */
int soak_leader_port(void);

extern const struct soak_cloud soak_cloud_aws;
extern const struct soak_cloud soak_cloud_gce;
extern const struct soak_cloud soak_cloud_azure;
extern const struct soak_cloud soak_cloud_cloudstack;
extern const struct soak_cloud soak_cloud_mock;

#endif
