/*
 * speaker_int.h — the announcer's inner parts, shared by its files and the
 * unit tests: frame builders and parsers (packet.c), socket filters
 * (filter.c), VIP sets (vip.c) and the interface table (iftable.c).
 * Nothing here is for the rest of the program; speaker.h is.
 */
#ifndef LBP_SPEAKER_INT_H
#define LBP_SPEAKER_INT_H

#include "speaker/speaker.h"

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBP_ETH_ALEN 6
#define LBP_ETH_HLEN 14
#define LBP_ETH_MIN_FRAME 60 /* without FCS; shorter frames are padded */
#define LBP_ARP_FRAME_LEN 60
#define LBP_NA_FRAME_LEN (14 + 40 + 24 + 8) /* eth + IPv6 + NA + target LLA option */
#define LBP_FRAME_MAX 1518

#define LBP_ARPOP_REQUEST 1
#define LBP_ARPOP_REPLY 2
#define LBP_ND_NS 135
#define LBP_ND_NA 136
#define LBP_NA_FLAG_ROUTER 0x80000000u
#define LBP_NA_FLAG_SOLICITED 0x40000000u
#define LBP_NA_FLAG_OVERRIDE 0x20000000u

/* ---- packet.c ---------------------------------------------------------- */

/* What the announcer needs from an ARP request. */
struct lbp_arp_req {
    uint8_t eth_src[LBP_ETH_ALEN];
    uint8_t sha[LBP_ETH_ALEN];
    uint8_t spa[4];
    uint8_t tpa[4];
};

/* LBP_OK when f is a well-formed Ethernet/IPv4 ARP request; LBP_PARSE otherwise. */
int lbp_arp_parse_request(const uint8_t *f, size_t len, struct lbp_arp_req *out);
/* Builds a 60-byte Ethernet ARP frame (padded). */
void lbp_arp_build(uint8_t f[LBP_ARP_FRAME_LEN], uint16_t oper, const uint8_t eth_dst[6],
                   const uint8_t sha[6], const uint8_t spa[4], const uint8_t tha[6],
                   const uint8_t tpa[4]);
/* The reply to req for vip from mac: unicast to the requester. */
void lbp_arp_build_reply(uint8_t f[LBP_ARP_FRAME_LEN], const struct lbp_arp_req *req,
                         const uint8_t mac[6], const uint8_t vip[4]);
/* Gratuitous ARP (oper: request or reply form), broadcast, sender = target = vip. */
void lbp_arp_build_garp(uint8_t f[LBP_ARP_FRAME_LEN], uint16_t oper, const uint8_t mac[6],
                        const uint8_t vip[4]);

/* What the announcer needs from a Neighbor Solicitation. */
struct lbp_ns {
    uint8_t eth_src[LBP_ETH_ALEN];
    uint8_t ip_src[16];
    uint8_t target[16];
    bool has_slla; /* source link-layer address option present */
    uint8_t slla[LBP_ETH_ALEN];
};

/* LBP_OK for a valid NS (RFC 4861 7.1.1: hop limit 255, code 0, checksum, options). */
int lbp_ns_parse(const uint8_t *f, size_t len, struct lbp_ns *out);
/* Builds an Ethernet/IPv6 Neighbor Advertisement with a target LLA option. */
void lbp_na_build(uint8_t f[LBP_NA_FRAME_LEN], const uint8_t eth_dst[6], const uint8_t mac[6],
                  const uint8_t ip_src[16], const uint8_t ip_dst[16], const uint8_t target[16],
                  uint32_t flags);
/* The solicited answer to ns for vip (Solicited+Override; to ff02::1 for DAD probes). */
void lbp_na_build_reply(uint8_t f[LBP_NA_FRAME_LEN], const struct lbp_ns *ns, const uint8_t mac[6],
                        const uint8_t vip[16]);
/* Unsolicited NA to all nodes (ff02::1), Override set. */
void lbp_na_build_unsolicited(uint8_t f[LBP_NA_FRAME_LEN], const uint8_t mac[6],
                              const uint8_t vip[16]);
/* ICMPv6 checksum over the pseudo-header and msg (checksum field as found). */
uint16_t lbp_icmp6_checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg,
                            size_t len);
/* 33:33:ff:xx:xx:xx, the MAC of addr's solicited-node multicast group. */
void lbp_solicited_node_mac(const uint8_t addr[16], uint8_t mac[6]);

/* ---- filter.c ---------------------------------------------------------- */

/* Classic BPF: pass only Ethernet ARP requests (ethertype 0x0806, oper 1). */
const struct sock_fprog *lbp_filter_arp_request(void);
/* Classic BPF: pass only Ethernet IPv6, next header 58, ICMPv6 type 135. */
const struct sock_fprog *lbp_filter_ns(void);

/* ---- vip.c ------------------------------------------------------------- */

/* Orders by family, then address; interfaces are not part of the identity. */
int lbp_vip_cmp(const struct lbp_vip *a, const struct lbp_vip *b);
/* Sorts v and merges duplicates in place (their interface lists are united). */
void lbp_vipset_normalize(struct lbp_vip *v, size_t *n);
/*
 * Both sets normalized. Writes indexes into b of VIPs not in a (added) and
 * indexes into a of VIPs not in b (removed). added has room for nb entries,
 * removed for na.
 */
void lbp_vipset_diff(const struct lbp_vip *a, size_t na, const struct lbp_vip *b, size_t nb,
                     size_t *added, size_t *nadded, size_t *removed, size_t *nremoved);

/* ---- iftable.c --------------------------------------------------------- */

struct lbp_ifaddr {
    int family;
    uint8_t addr[16];
    uint8_t prefixlen;
};

struct lbp_iface {
    int index;
    char name[LBP_IFNAME_MAX];
    uint8_t mac[LBP_ETH_ALEN];
    bool up;
    bool ether; /* ARPHRD_ETHER with a 6-byte address: the only kind we answer on */
    size_t n_addrs, cap_addrs;
    struct lbp_ifaddr *addrs;
};

struct lbp_iftable {
    size_t n, cap;
    struct lbp_iface *v;
};

#define LBP_IFTABLE_MAX_IFACES 4096
#define LBP_IFACE_MAX_ADDRS 256

/* Fills t (emptied first) from an rtnetlink dump of links and addresses. */
int lbp_iftable_dump(struct lbp_iftable *t);
void lbp_iftable_clear(struct lbp_iftable *t);
/* Adds or finds an interface by index (tests build tables by hand with these). */
struct lbp_iface *lbp_iftable_get(struct lbp_iftable *t, int index, bool create);
int lbp_iface_add_addr(struct lbp_iface *ifc, int family, const uint8_t *addr, uint8_t plen);
bool lbp_prefix_contains(int family, const uint8_t *net, unsigned plen, const uint8_t *addr);
/*
 * The interfaces v should be answered on: its configured interfaces when it
 * has any, else every Ethernet interface holding a same-family subnet that
 * contains v. Only interfaces that are up with a MAC count. Writes up to cap
 * indexes into t->v and returns how many there are.
 */
size_t lbp_iftable_pick(const struct lbp_iftable *t, const struct lbp_vip *v, size_t *out,
                        size_t cap);

#endif
