/*
 * prov_svc.h — a Service as the provider integration tests build it (ports,
 * nodes, annotations, source ranges, policy) and the lbp_lb_spec the
 * reconciler would hand the provider for it. The tests drive a cloud's
 * vtable with these directly, against that cloud's fake.
 */
#ifndef LBP_TEST_PROV_SVC_H
#define LBP_TEST_PROV_SVC_H

#include <stdbool.h>
#include <stddef.h>

#include "provider/provider.h"

#define PROV_SVC_MAXN 128

struct prov_svc {
    char uid[64], ns[64], name[64];
    struct lbp_lb_port ports[8];
    size_t n_ports;
    struct lbp_lb_node nodes[PROV_SVC_MAXN];
    char pid[PROV_SVC_MAXN][96], nname[PROV_SVC_MAXN][32];
    size_t n_nodes;
    struct lbp_lb_annotation ann[16];
    size_t n_ann;
    const char *ranges[8];
    size_t n_ranges;
    bool local;
    int hc_port;               /* healthCheckNodePort */
    const char *affinity, *ip; /* NULL: "None", no loadBalancerIP */
    struct lbp_lb_spec spec;
};

/* An empty Service ns/name with this uid. */
void prov_svc_init(struct prov_svc *s, const char *ns, const char *name, const char *uid);
void prov_svc_port(struct prov_svc *s, const char *proto, int port, int node_port);
/* One more node; provider_id (copied) may be NULL. */
void prov_svc_node(struct prov_svc *s, const char *name, const char *provider_id);
/* Nodes first..last named node-<i> (in place of any before), each with the providerID pid(i)
 * writes. */
void prov_svc_nodes(struct prov_svc *s, int first, int last,
                    void (*pid)(int i, char *out, size_t cap));
void prov_svc_ann(struct prov_svc *s, const char *key, const char *value);
/* The spec for cluster, pointing into s (valid while s is). */
const struct lbp_lb_spec *prov_svc_spec(struct prov_svc *s, const char *cluster);

#endif
