/*
 * speaker.h — the L2 announcer: makes a LAN deliver a set of VIPs to this node.
 *
 * The caller (later: the Lease-based owner election in `lbprov speaker`) tells
 * the announcer the full set of VIPs this node owns. For each owned VIP the
 * announcer picks the interfaces that should carry it (the VIP's configured
 * interfaces, else every Ethernet interface whose IPv4/IPv6 subnet holds the
 * VIP), answers ARP requests (IPv4) and Neighbor Solicitations (IPv6) for it
 * there with that interface's MAC, and sends gratuitous announcements when it
 * takes a VIP over. One packet thread does all of it; rtnetlink events make it
 * re-evaluate the interface choice.
 *
 * Fail-static: the owned set changes only through lbp_announcer_set_vips();
 * nothing inside the announcer drops a VIP on its own (an interface going away
 * only pauses the VIP on that interface until it comes back).
 */
#ifndef LBP_SPEAKER_SPEAKER_H
#define LBP_SPEAKER_SPEAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBP_VIP_MAX_IFACES 4
#define LBP_IFNAME_MAX 16 /* IFNAMSIZ, NUL included */
#define LBP_ANNOUNCER_MAX_VIPS 4096

/* One owned VIP. addr holds 4 (AF_INET) or 16 (AF_INET6) bytes, network order. */
struct lbp_vip {
    int family;
    uint8_t addr[16];
    /* Optional: announce only on these interfaces (n_ifaces == 0: pick by subnet). */
    size_t n_ifaces;
    char ifaces[LBP_VIP_MAX_IFACES][LBP_IFNAME_MAX];
};

/* Parses "192.0.2.1" or "2001:db8::1" into v (no interfaces). LBP_PARSE on error. */
int lbp_vip_parse(const char *s, struct lbp_vip *v);
/* Adds an interface name to v. LBP_TOOBIG when full or the name is too long. */
int lbp_vip_add_iface(struct lbp_vip *v, const char *ifname);
/* "192.0.2.1" / "2001:db8::1" into out (at least 46 bytes). */
const char *lbp_vip_str(const struct lbp_vip *v, char *out, size_t cap);

struct lbp_announcer_opts {
    /* Gratuitous announcements on takeover: one at once, then every
     * garp_interval_ms until garp_duration_ms has passed (0: 1100 / 5000,
     * MetalLB's schedule). */
    unsigned garp_interval_ms;
    unsigned garp_duration_ms;
    /* Receive buffer per packet socket in bytes (0: 1 MiB, capped by rmem_max). */
    int rcvbuf;
};

struct lbp_announcer_stats {
    uint64_t requests_seen;     /* ARP requests / NS that passed the socket filters */
    uint64_t requests_received; /* ... of which asked for an owned VIP on its interface */
    uint64_t replies_sent;      /* ARP replies / solicited NAs sent */
    uint64_t gratuitous_sent;   /* gratuitous ARPs (both forms) and unsolicited NAs sent */
    uint64_t send_errors;
    uint64_t owned_vips;     /* VIPs in the owned set */
    uint64_t announced_vips; /* VIPs with at least one interface to answer on */
};

struct lbp_announcer;

/* opts may be NULL for defaults. Returns LBP_OK and *out, or LBP_NOMEM/LBP_INVALID. */
int lbp_announcer_new(const struct lbp_announcer_opts *opts, struct lbp_announcer **out);
/*
 * Replaces the owned set with vips[0..n) (copied; duplicates merged).
 * Newly owned VIPs get gratuitous announcements at once; VIPs no longer owned
 * are not answered any more once this returns (when the thread runs, the call
 * waits — at most about a second — until the packet thread has applied the set).
 */
int lbp_announcer_set_vips(struct lbp_announcer *a, const struct lbp_vip *vips, size_t n);
/* Starts the packet thread. LBP_IO when sockets cannot be opened (no CAP_NET_RAW). */
int lbp_announcer_start(struct lbp_announcer *a);
/* Stops and joins the packet thread (within about a second). Idempotent. */
void lbp_announcer_stop(struct lbp_announcer *a);
void lbp_announcer_get_stats(const struct lbp_announcer *a, struct lbp_announcer_stats *st);
/* Stops if needed and frees; NULL is a no-op. */
void lbp_announcer_free(struct lbp_announcer *a);

/*
 * Drops every capability but CAP_NET_RAW (permitted, effective and bounding
 * set) and keeps it across a later setuid. LBP_AUTH when CAP_NET_RAW is not
 * held to begin with, LBP_IO on other failures.
 */
int lbp_speaker_drop_caps(void);

/* ------------------------------------------------------------ membership */

/*
 * Which speakers are alive, from two signals (see speaker/README.md):
 *
 * - the peer's Lease (lbprov-speaker-<node>, holder = node name). Expiry is
 *   judged on this process's monotonic clock from when it last saw the Lease
 *   record change, as client-go's leader election does; a Lease never seen to
 *   change (start-up) is trusted for what is left of lease_duration after
 *   its renewTime, and never longer than lease_duration from now;
 * - UDP heartbeats, which can only shorten that: a peer that said it is
 *   leaving, whose heartbeat port answers ICMP port-unreachable, or that has
 *   been heard before and then missed `misses` intervals is down even while
 *   its Lease still runs. A heartbeat never makes a peer live whose Lease is
 *   not. A "down" verdict is lifted by the peer's next heartbeat, or when its
 *   Lease keeps being renewed for a full lease_duration after the verdict
 *   (heartbeats blocked, API fine: the Lease alone decides again).
 *
 * Times: now_ms is lbp_now_ms() (monotonic), now_wall_us epoch microseconds.
 * Thread-safe (one mutex).
 */
struct lbp_members;

struct lbp_members_opts {
    unsigned hb_interval_ms; /* 0: 200 */
    unsigned hb_misses;      /* 0: 3 */
};

int lbp_members_new(const struct lbp_members_opts *opts, struct lbp_members **out);
void lbp_members_free(struct lbp_members *m);
/* The node's speaker Lease as last read (ADDED, MODIFIED or a resync). */
void lbp_members_lease(struct lbp_members *m, const char *node, const char *holder,
                       int64_t renew_time_us, int duration_s, uint64_t now_ms, int64_t now_wall_us);
void lbp_members_lease_gone(struct lbp_members *m, const char *node);
/* A heartbeat from node arrived; leaving: the peer is stopping. */
void lbp_members_heartbeat(struct lbp_members *m, const char *node, bool leaving, bool api_ok,
                           uint64_t now_ms);
/* Our heartbeat to node drew ICMP port-unreachable: the node is up, its speaker is not.
 * Ignored, until the peer is heard again, once the renewal rule has lifted a
 * refusal verdict for it (a firewall REJECTing the port while the speaker runs). */
void lbp_members_refused(struct lbp_members *m, const char *node, uint64_t now_ms);
bool lbp_members_live(struct lbp_members *m, const char *node, uint64_t now_ms);
/* The node's Lease is held (by its node); heartbeats are sent to such nodes. */
bool lbp_members_held(struct lbp_members *m, const char *node, uint64_t now_ms);
/* Did some peer whose API access works say so within the last `misses` intervals? */
bool lbp_members_peer_api_ok(struct lbp_members *m, uint64_t now_ms);
/* Names of the nodes whose Lease is held (callers free with lbp_members_names_free). */
size_t lbp_members_held_names(struct lbp_members *m, uint64_t now_ms, char ***out);
/* Names of every node with a speaker Lease, held or not (heartbeats go to
 * these: a node whose Lease expired must still hear that peers reach the API). */
size_t lbp_members_lease_names(struct lbp_members *m, char ***out);
void lbp_members_names_free(char **names, size_t n);

/* ------------------------------------------------------------- ownership */

struct lbp_pool;
struct lbp_pools_label;

/* A node as the owner election sees it. */
struct lbp_owner_node {
    const char *name;
    const struct lbp_pools_label *labels;
    size_t n_labels;
    bool live;     /* its speaker is live (lbp_members_live) */
    bool excluded; /* label node.kubernetes.io/exclude-from-external-load-balancers */
};

/* One Service's endpoints, as far as ownership cares. */
struct lbp_owner_svc {
    bool local;                     /* externalTrafficPolicy: Local */
    bool any_ready;                 /* some endpoint is ready (ready unset counts as ready) */
    const char *const *ready_nodes; /* nodeName of every ready endpoint (duplicates allowed) */
    size_t n_ready_nodes;
};

/* The rank of node for ip: SHA-256 of "node#ip". Lower ranks win. */
void lbp_owner_rank(const char *node, const char *ip, uint8_t out[32]);
/*
 * The owner of VIP ip (text as in the Service status) of a Service in pool:
 * among the eligible nodes (live, not excluded, selected by one of the
 * pool's advertisements and, with Local, holding a ready endpoint) the one
 * with the lowest rank. -1 when nobody may announce it, including when the
 * Service has no ready endpoint at all.
 */
int lbp_owner_pick(const struct lbp_pool *pool, const char *ip, const struct lbp_owner_svc *svc,
                   const struct lbp_owner_node *nodes, size_t n_nodes);
/*
 * The interfaces a node may announce pool's VIPs on, from the advertisements
 * that select it: 0 with *any = true when one of them names none (no
 * restriction); else up to cap names copied into out.
 */
size_t lbp_owner_interfaces(const struct lbp_pool *pool, const struct lbp_pools_label *labels,
                            size_t n_labels, char out[][LBP_IFNAME_MAX], size_t cap, bool *any);

/* A node carrying this label (any value) never announces. */
bool lbp_owner_node_excluded(const struct lbp_pools_label *labels, size_t n_labels);

/* ---------------------------------------------------------------- daemon */

/*
 * `lbprov speaker` without its flags: keeps this node's speaker Lease,
 * exchanges heartbeats with the other speakers, watches Services, Nodes,
 * EndpointSlices and speaker Leases, re-reads MetalLB pools, computes the
 * VIPs this node owns and hands them to the announcer (or, in a dry run,
 * only publishes them). Threads: one loop (heartbeats, liveness, ownership),
 * one for the Lease, one for MetalLB objects, plus the informers'.
 */
struct lbp_kube_client;
struct lbp_event_recorder;
struct lbp_buf;

struct lbp_speaker_opts {
    const char *node_name;
    const char *namespace;                /* where the speaker Leases live */
    struct lbp_kube_client *client;       /* informers and LISTs */
    struct lbp_kube_client *lease_client; /* Lease writes, MetalLB LISTs: short timeout */
    struct lbp_event_recorder *events;    /* nodeAssigned; may be NULL */
    struct lbp_announcer *announcer;      /* started by the caller; NULL: dry run */
    const char *pool_yaml;                /* text of --pool-config, or NULL */
    size_t pool_yaml_len;
    unsigned lease_duration_ms; /* 0: 3000 */
    unsigned lease_renew_ms;    /* 0: 1000 */
    unsigned hb_port;           /* 0: 7473 */
    unsigned hb_interval_ms;    /* 0: 200 */
    unsigned hb_misses;         /* 0: 3 */
    unsigned metallb_poll_ms;   /* 0: 30000 */
};

struct lbp_speaker;

/* Checks options and the pool YAML; LBP_INVALID/LBP_PARSE with a line in err. */
int lbp_speaker_new(const struct lbp_speaker_opts *opts, struct lbp_speaker **out, char *err,
                    size_t errlen);
int lbp_speaker_start(struct lbp_speaker *s);
/*
 * Leaves the cluster: a "leaving" heartbeat to every peer, the announcer
 * emptied (nothing answered after this), the Lease released, every thread
 * joined. Idempotent.
 */
void lbp_speaker_leave(struct lbp_speaker *s);
void lbp_speaker_free(struct lbp_speaker *s);
/* Ready: the Lease is held (last write within lease_duration) and caches synced. */
/*
 * SIGHUP: a new --pool-config text. Checked alone first and refused whole
 * (LBP_INVALID, err says why) so the pools in force stay; else it replaces
 * the old file and the pools are rebuilt with the MetalLB objects.
 */
int lbp_speaker_reload_pools(struct lbp_speaker *s, const char *yaml, size_t len, char *err,
                             size_t errlen);
bool lbp_speaker_ready(struct lbp_speaker *s, char *why, size_t len);
/* {"node":...,"apiHealthy":...,"frozen":...,"live":[...],"owned":[{"ip","service"}...]} */
int lbp_speaker_debug_json(struct lbp_speaker *s, struct lbp_buf *out);

#endif
