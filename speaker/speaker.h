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

#endif
