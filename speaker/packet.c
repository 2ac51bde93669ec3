/*
 * packet.c — builds and parses the few Ethernet frames the announcer speaks:
 * ARP requests in, ARP replies and gratuitous ARPs out (RFC 826, RFC 5227),
 * Neighbor Solicitations in, Neighbor Advertisements out (RFC 4861).
 *
 * Frames are handled as byte arrays at fixed offsets rather than through
 * packed structs, so nothing depends on the compiler's layout or on the
 * alignment of a receive buffer. Every parser checks the length before it
 * reads a field.
 */
#include "speaker/speaker_int.h"
#include "common/rc.h"

#include <string.h>

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6];
static const uint8_t all_nodes_ip[16] = {0xff, 0x02, [15] = 0x01};
static const uint8_t all_nodes_mac[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};

#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define IPPROTO_ICMPV6_NUM 58

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int lbp_arp_parse_request(const uint8_t *f, size_t len, struct lbp_arp_req *out)
{
    /* eth(14) + htype ptype hlen plen oper (8) + sha spa tha tpa (20) */
    if (!f || len < 42)
        return LBP_PARSE;
    const uint8_t *a = f + LBP_ETH_HLEN;
    if (get16(f + 12) != ETHERTYPE_ARP || get16(a) != 1 || get16(a + 2) != ETHERTYPE_IPV4 ||
        a[4] != 6 || a[5] != 4 || get16(a + 6) != LBP_ARPOP_REQUEST)
        return LBP_PARSE;
    memcpy(out->eth_src, f + 6, 6);
    memcpy(out->sha, a + 8, 6);
    memcpy(out->spa, a + 14, 4);
    memcpy(out->tpa, a + 24, 4);
    return LBP_OK;
}

void lbp_arp_build(uint8_t f[LBP_ARP_FRAME_LEN], uint16_t oper, const uint8_t eth_dst[6],
                   const uint8_t sha[6], const uint8_t spa[4], const uint8_t tha[6],
                   const uint8_t tpa[4])
{
    memset(f, 0, LBP_ARP_FRAME_LEN);
    memcpy(f, eth_dst, 6);
    memcpy(f + 6, sha, 6);
    put16(f + 12, ETHERTYPE_ARP);
    uint8_t *a = f + LBP_ETH_HLEN;
    put16(a, 1);
    put16(a + 2, ETHERTYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, oper);
    memcpy(a + 8, sha, 6);
    memcpy(a + 14, spa, 4);
    memcpy(a + 18, tha, 6);
    memcpy(a + 24, tpa, 4);
}

void lbp_arp_build_reply(uint8_t f[LBP_ARP_FRAME_LEN], const struct lbp_arp_req *req,
                         const uint8_t mac[6], const uint8_t vip[4])
{
    lbp_arp_build(f, LBP_ARPOP_REPLY, req->sha, mac, vip, req->sha, req->spa);
}

void lbp_arp_build_garp(uint8_t f[LBP_ARP_FRAME_LEN], uint16_t oper, const uint8_t mac[6],
                        const uint8_t vip[4])
{
    /* Request form: target hardware address unknown (zero). Reply form:
     * broadcast, as most implementations send it. Receivers key on sender
     * fields either way. */
    lbp_arp_build(f, oper, bcast_mac, mac, vip, oper == LBP_ARPOP_REQUEST ? zero_mac : bcast_mac,
                  vip);
}

uint16_t lbp_icmp6_checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg,
                            size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < 16; i += 2)
        sum += get16(src + i) + get16(dst + i);
    sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
    sum += IPPROTO_ICMPV6_NUM;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(msg + i);
    if (len & 1)
        sum += (uint32_t)msg[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

void lbp_solicited_node_mac(const uint8_t addr[16], uint8_t mac[6])
{
    mac[0] = 0x33;
    mac[1] = 0x33;
    mac[2] = 0xff;
    memcpy(mac + 3, addr + 13, 3);
}

static bool is_unspecified(const uint8_t a[16])
{
    static const uint8_t zero[16];
    return memcmp(a, zero, 16) == 0;
}

int lbp_ns_parse(const uint8_t *f, size_t len, struct lbp_ns *out)
{
    /* eth(14) + IPv6(40) + type code cksum reserved(8) + target(16) */
    if (!f || len < 14 + 40 + 24)
        return LBP_PARSE;
    const uint8_t *ip = f + LBP_ETH_HLEN;
    if (get16(f + 12) != ETHERTYPE_IPV6 || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_ICMPV6_NUM ||
        ip[7] != 255)
        return LBP_PARSE;
    size_t plen = get16(ip + 4);
    if (plen < 24 || plen > len - 14 - 40)
        return LBP_PARSE;
    const uint8_t *icmp = ip + 40;
    if (icmp[0] != LBP_ND_NS || icmp[1] != 0)
        return LBP_PARSE;
    if (lbp_icmp6_checksum(ip + 8, ip + 24, icmp, plen) != 0)
        return LBP_PARSE;
    const uint8_t *target = icmp + 8;
    if (target[0] == 0xff)
        return LBP_PARSE; /* multicast target */
    memset(out, 0, sizeof(*out));
    memcpy(out->eth_src, f + 6, 6);
    memcpy(out->ip_src, ip + 8, 16);
    memcpy(out->target, target, 16);
    /* Options: type, length in units of 8 octets (0 is invalid). */
    size_t off = 24;
    while (off < plen) {
        if (plen - off < 2)
            return LBP_PARSE;
        size_t olen = (size_t)icmp[off + 1] * 8;
        if (olen == 0 || olen > plen - off)
            return LBP_PARSE;
        if (icmp[off] == 1 && olen >= 8) {
            out->has_slla = true;
            memcpy(out->slla, icmp + off + 2, 6);
        }
        off += olen;
    }
    /* A DAD probe (source ::) must not carry a source link-layer address. */
    if (is_unspecified(out->ip_src) && out->has_slla)
        return LBP_PARSE;
    return LBP_OK;
}

void lbp_na_build(uint8_t f[LBP_NA_FRAME_LEN], const uint8_t eth_dst[6], const uint8_t mac[6],
                  const uint8_t ip_src[16], const uint8_t ip_dst[16], const uint8_t target[16],
                  uint32_t flags)
{
    memset(f, 0, LBP_NA_FRAME_LEN);
    memcpy(f, eth_dst, 6);
    memcpy(f + 6, mac, 6);
    put16(f + 12, ETHERTYPE_IPV6);
    uint8_t *ip = f + LBP_ETH_HLEN;
    ip[0] = 0x60;
    put16(ip + 4, 32);
    ip[6] = IPPROTO_ICMPV6_NUM;
    ip[7] = 255;
    memcpy(ip + 8, ip_src, 16);
    memcpy(ip + 24, ip_dst, 16);
    uint8_t *icmp = ip + 40;
    icmp[0] = LBP_ND_NA;
    put32(icmp + 4, flags);
    memcpy(icmp + 8, target, 16);
    icmp[24] = 2; /* target link-layer address */
    icmp[25] = 1;
    memcpy(icmp + 26, mac, 6);
    put16(icmp + 2, lbp_icmp6_checksum(ip_src, ip_dst, icmp, 32));
}

void lbp_na_build_reply(uint8_t f[LBP_NA_FRAME_LEN], const struct lbp_ns *ns, const uint8_t mac[6],
                        const uint8_t vip[16])
{
    if (is_unspecified(ns->ip_src)) {
        /* RFC 4861 7.2.4: answer a DAD probe to all nodes, Solicited clear. */
        lbp_na_build(f, all_nodes_mac, mac, vip, all_nodes_ip, vip, LBP_NA_FLAG_OVERRIDE);
        return;
    }
    const uint8_t *dst_mac = ns->has_slla ? ns->slla : ns->eth_src;
    lbp_na_build(f, dst_mac, mac, vip, ns->ip_src, vip,
                 LBP_NA_FLAG_SOLICITED | LBP_NA_FLAG_OVERRIDE);
}

void lbp_na_build_unsolicited(uint8_t f[LBP_NA_FRAME_LEN], const uint8_t mac[6],
                              const uint8_t vip[16])
{
    lbp_na_build(f, all_nodes_mac, mac, vip, all_nodes_ip, vip, LBP_NA_FLAG_OVERRIDE);
}
