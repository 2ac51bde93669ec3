/*
 * dataplane.h — the mock cloud's load balancers as real L4 proxies.
 *
 * With dataPlane=on the mock cloud hands each LB's desired state to this
 * module, which listens on VIP:port (TCP and UDP) and forwards to the
 * nodes' NodePorts, health-checking them the way a cloud LB does. The
 * mock cloud stays the owner of what an LB is; this module owns sockets.
 * Design notes are at the top of dataplane.c.
 */
#ifndef LBP_MOCK_DATAPLANE_H
#define LBP_MOCK_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lbp_dp;

struct lbp_dp_opts {
    unsigned hc_interval_ms; /* between two checks of one node */
    unsigned hc_timeout_ms;  /* a check not answered by then failed */
    unsigned hc_rise;        /* consecutive passes that bring a node back */
    unsigned hc_fall;        /* consecutive failures that take it out */
    unsigned udp_idle_ms;    /* a UDP flow with no packet for this long is closed */
    char vip_interface[16];  /* "": VIPs are already local (127.0.0.0/8); else a dummy link */
};

void lbp_dp_opts_default(struct lbp_dp_opts *o);

struct lbp_dp_port {
    int port;
    int node_port;
    bool udp;
};

/* One LB's desired state; everything is copied, the caller keeps ownership. */
struct lbp_dp_lb {
    const char *name;    /* the LB's name (key) */
    const char *service; /* "namespace/name", the metrics' label */
    const char *vips[2];
    size_t n_vips;
    const struct lbp_dp_port *ports;
    size_t n_ports;
    const char *const *ranges; /* loadBalancerSourceRanges; none: everyone */
    size_t n_ranges;
    const char *const *nodes; /* node addresses, in node order */
    size_t n_nodes;
    bool local;  /* externalTrafficPolicy Local: check hc_port's /healthz */
    int hc_port; /* healthCheckNodePort */
    bool affinity;
    int affinity_timeout_s;
};

/* Starts the loop thread; with vip_interface set, creates that dummy link (CAP_NET_ADMIN). */
int lbp_dp_new(const struct lbp_dp_opts *opts, struct lbp_dp **out, char *err, size_t errlen);
/*
 * Makes the LB's listeners, backends and checks match lb (n_ports 0: none),
 * and returns once the loop thread has done it. LBP_INVALID names a bad
 * source range; LBP_RETRY says which listener could not be opened (the rest
 * are open, and the next call tries again).
 */
int lbp_dp_apply(struct lbp_dp *dp, const struct lbp_dp_lb *lb, char *err, size_t errlen);
/* Closes the LB's listeners; its open connections drain. */
void lbp_dp_remove(struct lbp_dp *dp, const char *name);
void lbp_dp_free(struct lbp_dp *dp);

/* Exposed for unit tests. */
bool lbp_dp_range_match(const char *cidr, const char *addr, bool *ok);
int lbp_dp_http_status(const char *buf, size_t len);

#endif
