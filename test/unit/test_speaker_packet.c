/*
 * test_speaker_packet.c — the announcer's frames, filters, VIP sets and
 * interface choice, without sockets.
 *
 * Checksums: the expected values were computed outside this code with the
 * RFC 1071 one's-complement sum over the RFC 8200 8.1 pseudo-header
 * (source, destination, 32-bit upper-layer length, 3 zero bytes, next header
 * 58) followed by the ICMPv6 message, in 16-bit big-endian words:
 *   NA fd00:77::100 -> fd00:77::50, flags S|O, target fd00:77::100,
 *      TLLA 02:00:00:00:00:01                               => 0x18eb
 *   NS fd00:77::50 -> ff02::1:ff00:100, target fd00:77::100,
 *      SLLA 02:00:00:00:00:50                               => 0x7a0f
 * The netns tests check the same frames against a real kernel, which drops
 * NAs with a bad checksum or hop limit.
 *
 * The socket filters run here on a minimal classic-BPF interpreter that
 * knows only the instructions they use (absolute loads, jeq, ret); the netns
 * tests exercise them in the kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/rc.h"
#include "common/util.h"
#include "speaker/speaker.h"
#include "speaker/speaker_int.h"

static const uint8_t our_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t client_mac[6] = {0x02, 0, 0, 0, 0, 0x50};

/* An ARP request from 192.168.77.50 (02:..:50) for 192.168.77.100, padded to 60. */
static const uint8_t arp_req[60] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x50, 0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x50,
    192,  168,  77,   50,   0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192,  168,  77,   100,
};

/* The NS described in the header comment (86 bytes). */
static const uint8_t ns_frame[86] = {
    0x33, 0x33, 0xff, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x50, 0x86, 0xdd, 0x60,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0xfd, 0x00, 0x00, 0x77, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x01, 0x00, 0x87, 0x00, 0x7a, 0x0f, 0x00, 0x00,
    0x00, 0x00, 0xfd, 0x00, 0x00, 0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x50,
};

static void ip6(const char *s, uint8_t out[16])
{
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

static void arp_request_parses(void **state)
{
    struct lbp_arp_req r;
    assert_int_equal(lbp_arp_parse_request(arp_req, sizeof(arp_req), &r), LBP_OK);
    assert_memory_equal(r.sha, client_mac, 6);
    assert_memory_equal(r.eth_src, client_mac, 6);
    const uint8_t spa[4] = {192, 168, 77, 50}, tpa[4] = {192, 168, 77, 100};
    assert_memory_equal(r.spa, spa, 4);
    assert_memory_equal(r.tpa, tpa, 4);
    assert_int_equal(lbp_arp_parse_request(arp_req, 41, &r), LBP_PARSE);
    assert_int_equal(lbp_arp_parse_request(NULL, 60, &r), LBP_PARSE);

    /* Each wrong field on its own is rejected. */
    static const struct {
        size_t off;
        uint8_t val;
    } bad[] = {{13, 0x00}, {15, 0x06}, {16, 0x86}, {18, 8}, {19, 16}, {21, 2}};
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++) {
        uint8_t f[60];
        memcpy(f, arp_req, sizeof(f));
        f[bad[i].off] = bad[i].val;
        assert_int_equal(lbp_arp_parse_request(f, sizeof(f), &r), LBP_PARSE);
    }
}

static void arp_reply_is_unicast_from_our_mac(void **state)
{
    struct lbp_arp_req r;
    assert_int_equal(lbp_arp_parse_request(arp_req, sizeof(arp_req), &r), LBP_OK);
    uint8_t f[LBP_ARP_FRAME_LEN];
    lbp_arp_build_reply(f, &r, our_mac, r.tpa);
    static const uint8_t want[42] = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        192,  168,  77,   100,  0x02, 0x00, 0x00, 0x00, 0x00, 0x50, 192,  168,  77,   50,
    };
    assert_memory_equal(f, want, sizeof(want));
    static const uint8_t zero[18];
    assert_memory_equal(f + 42, zero, sizeof(zero)); /* padding */
}

static void garp_both_forms(void **state)
{
    const uint8_t vip[4] = {192, 168, 77, 100};
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[6];
    uint8_t f[LBP_ARP_FRAME_LEN];
    for (int oper = LBP_ARPOP_REQUEST; oper <= LBP_ARPOP_REPLY; oper++) {
        lbp_arp_build_garp(f, (uint16_t)oper, our_mac, vip);
        assert_memory_equal(f, bcast, 6);
        assert_memory_equal(f + 6, our_mac, 6);
        assert_int_equal(f[21], oper);
        assert_memory_equal(f + 22, our_mac, 6); /* sha */
        assert_memory_equal(f + 28, vip, 4);     /* spa = VIP */
        assert_memory_equal(f + 32, oper == LBP_ARPOP_REQUEST ? zero : bcast, 6);
        assert_memory_equal(f + 38, vip, 4); /* tpa = VIP */
    }
    /* The request form is itself an ARP request our parser (and the filter) accept. */
    struct lbp_arp_req r;
    lbp_arp_build_garp(f, LBP_ARPOP_REQUEST, our_mac, vip);
    assert_int_equal(lbp_arp_parse_request(f, sizeof(f), &r), LBP_OK);
}

/* ns_frame parsed; vip is the address it asks for, peer the solicitor's. */
static void parse_ns_frame(struct lbp_ns *ns, uint8_t vip[16], uint8_t peer[16])
{
    ip6("fd00:77::100", vip);
    ip6("fd00:77::50", peer);
    assert_int_equal(lbp_ns_parse(ns_frame, sizeof(ns_frame), ns), LBP_OK);
}

static void ns_parses_and_checks(void **state)
{
    struct lbp_ns ns;
    uint8_t vip[16], src[16];
    parse_ns_frame(&ns, vip, src);
    assert_memory_equal(ns.target, vip, 16);
    assert_memory_equal(ns.ip_src, src, 16);
    assert_true(ns.has_slla);
    assert_memory_equal(ns.slla, client_mac, 6);

    static const struct {
        size_t off;
        uint8_t val;
    } bad[] = {
        {21, 254},  /* hop limit must be 255 */
        {20, 17},   /* not ICMPv6 */
        {54, 136},  /* an NA, not an NS */
        {55, 1},    /* code */
        {57, 0x10}, /* checksum */
        {70, 0x01}, /* target changed: checksum no longer matches */
        {79, 0},    /* option length 0 */
        {19, 0x40}, /* payload length beyond the frame */
    };
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++) {
        uint8_t f[86];
        memcpy(f, ns_frame, sizeof(f));
        f[bad[i].off] = bad[i].val;
        assert_int_equal(lbp_ns_parse(f, sizeof(f), &ns), LBP_PARSE);
    }
    assert_int_equal(lbp_ns_parse(ns_frame, 77, &ns), LBP_PARSE);
}

static void na_reply_checksum_and_fields(void **state)
{
    struct lbp_ns ns;
    uint8_t vip[16], dst[16];
    parse_ns_frame(&ns, vip, dst);
    uint8_t f[LBP_NA_FRAME_LEN];
    lbp_na_build_reply(f, &ns, our_mac, vip);
    assert_memory_equal(f, client_mac, 6); /* to the solicitor's SLLA */
    assert_memory_equal(f + 6, our_mac, 6);
    assert_int_equal(f[12], 0x86);
    assert_int_equal(f[13], 0xdd);
    assert_int_equal(f[14] >> 4, 6);
    assert_int_equal(f[18] << 8 | f[19], 32); /* payload length */
    assert_int_equal(f[20], 58);
    assert_int_equal(f[21], 255); /* hop limit */
    assert_memory_equal(f + 22, vip, 16);
    assert_memory_equal(f + 38, dst, 16);
    const uint8_t *icmp = f + 54;
    assert_int_equal(icmp[0], 136);
    assert_int_equal(icmp[1], 0);
    assert_int_equal(icmp[2] << 8 | icmp[3], 0x18eb); /* see the header comment */
    assert_int_equal(icmp[4], 0x60);                  /* Solicited | Override */
    assert_memory_equal(icmp + 8, vip, 16);
    assert_int_equal(icmp[24], 2); /* target link-layer address option */
    assert_int_equal(icmp[25], 1);
    assert_memory_equal(icmp + 26, our_mac, 6);
    /* A correct checksum makes the sum over the whole message come out 0. */
    assert_int_equal(lbp_icmp6_checksum(vip, dst, icmp, 32), 0);
}

static void na_unsolicited_and_dad(void **state)
{
    uint8_t vip[16], all[16];
    ip6("fd00:77::100", vip);
    ip6("ff02::1", all);
    static const uint8_t all_mac[6] = {0x33, 0x33, 0, 0, 0, 1};
    uint8_t f[LBP_NA_FRAME_LEN];
    lbp_na_build_unsolicited(f, our_mac, vip);
    assert_memory_equal(f, all_mac, 6);
    assert_memory_equal(f + 38, all, 16);
    assert_int_equal(f[54 + 4], 0x20); /* Override only */
    assert_int_equal(lbp_icmp6_checksum(vip, all, f + 54, 32), 0);

    /* A DAD probe (source ::, no SLLA) is answered to all nodes, S clear. */
    uint8_t probe[78];
    memcpy(probe, ns_frame, sizeof(probe));
    memset(probe + 22, 0, 16);
    probe[19] = 24;
    probe[56] = probe[57] = 0;
    uint8_t sn[16];
    ip6("ff02::1:ff00:100", sn);
    uint16_t c = lbp_icmp6_checksum(probe + 22, sn, probe + 54, 24);
    probe[56] = (uint8_t)(c >> 8);
    probe[57] = (uint8_t)c;
    struct lbp_ns ns;
    assert_int_equal(lbp_ns_parse(probe, sizeof(probe), &ns), LBP_OK);
    assert_false(ns.has_slla);
    lbp_na_build_reply(f, &ns, our_mac, vip);
    assert_memory_equal(f, all_mac, 6);
    assert_int_equal(f[54 + 4], 0x20);
    /* A DAD probe carrying an SLLA is malformed (RFC 4861 7.1.1). */
    uint8_t bad[86];
    memcpy(bad, ns_frame, sizeof(bad));
    memset(bad + 22, 0, 16);
    bad[56] = bad[57] = 0;
    c = lbp_icmp6_checksum(bad + 22, sn, bad + 54, 32);
    bad[56] = (uint8_t)(c >> 8);
    bad[57] = (uint8_t)c;
    assert_int_equal(lbp_ns_parse(bad, sizeof(bad), &ns), LBP_PARSE);
}

static void solicited_node_mac(void **state)
{
    uint8_t vip[16], mac[6];
    ip6("fd00:77::12:3456", vip);
    lbp_solicited_node_mac(vip, mac);
    const uint8_t want[6] = {0x33, 0x33, 0xff, 0x12, 0x34, 0x56};
    assert_memory_equal(mac, want, 6);
}

/* ---- classic BPF, just enough for the two filters ---------------------- */

static uint32_t bpf_run(const struct sock_fprog *p, const uint8_t *pkt, size_t len)
{
    uint32_t A = 0;
    for (size_t pc = 0; pc < p->len; pc++) {
        const struct sock_filter *in = &p->filter[pc];
        switch (in->code) {
        case BPF_LD | BPF_H | BPF_ABS:
            if (in->k + 2 > len)
                return 0; /* the kernel drops on an out-of-range load */
            A = (uint32_t)(pkt[in->k] << 8 | pkt[in->k + 1]);
            break;
        case BPF_LD | BPF_B | BPF_ABS:
            if (in->k + 1 > len)
                return 0;
            A = pkt[in->k];
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += A == in->k ? in->jt : in->jf;
            break;
        case BPF_RET | BPF_K:
            return in->k;
        default:
            fail_msg("instruction 0x%x not supported by the test interpreter", in->code);
        }
    }
    fail_msg("filter fell off its end");
    return 0;
}

static void filters_accept_only_their_frames(void **state)
{
    const struct sock_fprog *arp = lbp_filter_arp_request(), *nd = lbp_filter_ns();
    uint8_t f[LBP_NA_FRAME_LEN];
    const uint8_t vip4[4] = {192, 168, 77, 100};
    uint8_t vip6[16];
    ip6("fd00:77::100", vip6);

    assert_true(bpf_run(arp, arp_req, sizeof(arp_req)) > 0);
    assert_int_equal(bpf_run(nd, arp_req, sizeof(arp_req)), 0);
    lbp_arp_build_garp(f, LBP_ARPOP_REPLY, our_mac, vip4);
    assert_int_equal(bpf_run(arp, f, LBP_ARP_FRAME_LEN), 0); /* replies never reach us */

    assert_true(bpf_run(nd, ns_frame, sizeof(ns_frame)) > 0);
    assert_int_equal(bpf_run(arp, ns_frame, sizeof(ns_frame)), 0);
    lbp_na_build_unsolicited(f, our_mac, vip6);
    assert_int_equal(bpf_run(nd, f, sizeof(f)), 0); /* NA */

    uint8_t other[86];
    memcpy(other, ns_frame, sizeof(other));
    other[20] = 17; /* UDP over IPv6 */
    assert_int_equal(bpf_run(nd, other, sizeof(other)), 0);
    memcpy(other, arp_req, sizeof(arp_req));
    other[12] = 0x08;
    other[13] = 0x00; /* IPv4 */
    assert_int_equal(bpf_run(arp, other, 60), 0);
    assert_int_equal(bpf_run(arp, arp_req, 12), 0); /* truncated */
}

/* ---- VIP sets ----------------------------------------------------------- */

static struct lbp_vip vip(const char *s)
{
    struct lbp_vip v;
    assert_int_equal(lbp_vip_parse(s, &v), LBP_OK);
    return v;
}

static void vip_parse_and_print(void **state)
{
    struct lbp_vip v;
    char buf[64];
    assert_int_equal(lbp_vip_parse("192.168.77.100", &v), LBP_OK);
    assert_int_equal(v.family, AF_INET);
    assert_string_equal(lbp_vip_str(&v, buf, sizeof(buf)), "192.168.77.100");
    assert_int_equal(lbp_vip_parse("FD00:77::100", &v), LBP_OK);
    assert_int_equal(v.family, AF_INET6);
    assert_string_equal(lbp_vip_str(&v, buf, sizeof(buf)), "fd00:77::100");
    const char *bad[] = {"", "1.2.3", "1.2.3.4/32", "example.com", "fd00::1::2", " 1.2.3.4", NULL};
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++)
        assert_int_equal(lbp_vip_parse(bad[i], &v), LBP_PARSE);
    v = vip("10.0.0.1");
    for (int i = 0; i < LBP_VIP_MAX_IFACES; i++) {
        snprintf(buf, sizeof(buf), "eth%d", i);
        assert_int_equal(lbp_vip_add_iface(&v, buf), LBP_OK);
    }
    assert_int_equal(lbp_vip_add_iface(&v, "eth0"), LBP_OK); /* already there */
    assert_int_equal(lbp_vip_add_iface(&v, "eth9"), LBP_TOOBIG);
    assert_int_equal(lbp_vip_add_iface(&v, "a-name-far-too-long"), LBP_INVALID);
}

static void vipset_diff_finds_changes(void **state)
{
    struct lbp_vip a[] = {vip("10.0.0.3"), vip("fd00::1"), vip("10.0.0.1"), vip("10.0.0.2"),
                          vip("10.0.0.1")};
    struct lbp_vip b[] = {vip("fd00::2"), vip("10.0.0.2"), vip("10.0.0.4"), vip("fd00::1")};
    size_t na = LBP_ARRAY_LEN(a), nb = LBP_ARRAY_LEN(b);
    lbp_vipset_normalize(a, &na);
    lbp_vipset_normalize(b, &nb);
    assert_int_equal(na, 4); /* the duplicate merged */
    assert_int_equal(nb, 4);
    size_t added[4], removed[4], nadded, nremoved;
    lbp_vipset_diff(a, na, b, nb, added, &nadded, removed, &nremoved);
    char s[64];
    assert_int_equal(nadded, 2);
    assert_string_equal(lbp_vip_str(&b[added[0]], s, sizeof(s)), "10.0.0.4");
    assert_string_equal(lbp_vip_str(&b[added[1]], s, sizeof(s)), "fd00::2");
    assert_int_equal(nremoved, 2);
    assert_string_equal(lbp_vip_str(&a[removed[0]], s, sizeof(s)), "10.0.0.1");
    assert_string_equal(lbp_vip_str(&a[removed[1]], s, sizeof(s)), "10.0.0.3");

    lbp_vipset_diff(a, na, a, na, added, &nadded, removed, &nremoved);
    assert_int_equal(nadded + nremoved, 0);
    lbp_vipset_diff(NULL, 0, b, nb, added, &nadded, removed, &nremoved);
    assert_int_equal(nadded, nb);
    lbp_vipset_diff(a, na, NULL, 0, added, &nadded, removed, &nremoved);
    assert_int_equal(nremoved, na);
}

static void vipset_merges_interfaces(void **state)
{
    struct lbp_vip v[3] = {vip("10.0.0.1"), vip("10.0.0.1"), vip("10.0.0.2")};
    lbp_vip_add_iface(&v[0], "eth0");
    lbp_vip_add_iface(&v[1], "eth1");
    lbp_vip_add_iface(&v[2], "eth0");
    size_t n = 3;
    lbp_vipset_normalize(v, &n);
    assert_int_equal(n, 2);
    assert_int_equal(v[0].n_ifaces, 2);
    /* Unrestricted wins over restricted. */
    struct lbp_vip w[2] = {vip("10.0.0.1"), vip("10.0.0.1")};
    lbp_vip_add_iface(&w[0], "eth0");
    n = 2;
    lbp_vipset_normalize(w, &n);
    assert_int_equal(n, 1);
    assert_int_equal(w[0].n_ifaces, 0);
}

/* ---- interface choice (MetalLB #531/#597: never the wrong NIC) ---------- */

static struct lbp_iface *mkif(struct lbp_iftable *t, int index, const char *name, bool ether,
                              bool up)
{
    struct lbp_iface *ifc = lbp_iftable_get(t, index, true);
    assert_non_null(ifc);
    lbp_strlcpy(ifc->name, name, sizeof(ifc->name));
    ifc->ether = ether;
    ifc->up = up;
    ifc->mac[5] = (uint8_t)index;
    return ifc;
}

static void addif(struct lbp_iface *ifc, const char *addr, uint8_t plen)
{
    struct lbp_vip v = vip(addr);
    assert_int_equal(lbp_iface_add_addr(ifc, v.family, v.addr, plen), LBP_OK);
}

static void pick_by_subnet(void **state)
{
    struct lbp_iftable t = {0};
    struct lbp_iface *lo = mkif(&t, 1, "lo", false, true);
    addif(lo, "127.0.0.1", 8);
    addif(lo, "192.168.77.100", 32);
    struct lbp_iface *a = mkif(&t, 2, "ethA", true, true);
    addif(a, "192.168.77.10", 24);
    addif(a, "fd00:77::10", 64);
    struct lbp_iface *b = mkif(&t, 3, "ethB", true, true);
    addif(b, "192.168.78.10", 24);
    addif(b, "192.168.77.101", 32); /* a host address from A's range: not A's segment */
    struct lbp_iface *down = mkif(&t, 4, "ethC", true, false);
    addif(down, "192.168.77.20", 24);

    size_t out[8];
    struct lbp_vip v = vip("192.168.77.100");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 1);
    assert_string_equal(t.v[out[0]].name, "ethA");
    v = vip("192.168.77.101");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 1);
    assert_string_equal(t.v[out[0]].name, "ethA");
    v = vip("fd00:77::100");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 1);
    assert_string_equal(t.v[out[0]].name, "ethA");
    v = vip("192.168.79.1");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 0);
    v = vip("fd00:78::1");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 0);

    /* Configured interfaces override the subnet rule, but never lo or a down NIC. */
    v = vip("192.168.77.100");
    lbp_vip_add_iface(&v, "ethB");
    lbp_vip_add_iface(&v, "lo");
    lbp_vip_add_iface(&v, "ethC");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 1);
    assert_string_equal(t.v[out[0]].name, "ethB");

    /* The cap holds. */
    struct lbp_iface *d = mkif(&t, 5, "ethD", true, true);
    addif(d, "192.168.77.30", 25);
    v = vip("192.168.77.100");
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 8), 2);
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 1), 1);
    lbp_iftable_clear(&t);
    lbp_iftable_clear(&t);
}

static void prefixes(void **state)
{
    struct lbp_vip n = vip("192.168.77.128"), x = vip("192.168.77.200"), y = vip("192.168.77.1");
    assert_true(lbp_prefix_contains(AF_INET, n.addr, 25, x.addr));
    assert_false(lbp_prefix_contains(AF_INET, n.addr, 25, y.addr));
    assert_true(lbp_prefix_contains(AF_INET, n.addr, 0, y.addr));
    assert_false(lbp_prefix_contains(AF_INET, n.addr, 33, y.addr));
    struct lbp_vip n6 = vip("fd00::"), a6 = vip("fd00::1"), b6 = vip("fd00::2");
    assert_true(lbp_prefix_contains(AF_INET6, n6.addr, 127, a6.addr));
    assert_false(lbp_prefix_contains(AF_INET6, n6.addr, 127, b6.addr));
    assert_false(lbp_prefix_contains(AF_INET6, a6.addr, 128, b6.addr));
}

static void dump_sees_loopback(void **state)
{
    /* A read-only rtnetlink dump of this host: lo is always there, up, not
     * Ethernet (so never announced on), holding 127.0.0.1/8. */
    struct lbp_iftable t = {0};
    assert_int_equal(lbp_iftable_dump(&t), LBP_OK);
    const struct lbp_iface *lo = NULL;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.v[i].name, "lo") == 0)
            lo = &t.v[i];
    assert_non_null(lo);
    assert_true(lo->up);
    assert_false(lo->ether);
    bool v4 = false;
    for (size_t i = 0; i < lo->n_addrs; i++)
        v4 |= lo->addrs[i].family == AF_INET && lo->addrs[i].prefixlen == 8 &&
              lo->addrs[i].addr[0] == 127 && lo->addrs[i].addr[3] == 1;
    assert_true(v4);
    struct lbp_vip v = vip("127.0.0.2");
    size_t out[4];
    assert_int_equal(lbp_iftable_pick(&t, &v, out, 4), 0);
    lbp_iftable_clear(&t);
}

/* ---- the object without a network -------------------------------------- */

static void announcer_lifecycle(void **state)
{
    struct lbp_announcer *a = NULL;
    struct lbp_announcer_stats st;
    lbp_announcer_free(NULL);
    assert_int_equal(lbp_announcer_new(NULL, &a), LBP_OK);
    struct lbp_vip v[2] = {vip("192.0.2.1"), vip("192.0.2.1")};
    assert_int_equal(lbp_announcer_set_vips(a, v, 2), LBP_OK);
    lbp_announcer_get_stats(a, &st);
    assert_int_equal(st.owned_vips, 1);
    struct lbp_vip badv = v[0];
    badv.family = 12345;
    assert_int_equal(lbp_announcer_set_vips(a, &badv, 1), LBP_INVALID);
    assert_int_equal(lbp_announcer_set_vips(a, NULL, 1), LBP_INVALID);
    lbp_announcer_get_stats(a, &st);
    assert_int_equal(st.owned_vips, 1); /* fail-static: a bad update changes nothing */
    assert_int_equal(lbp_announcer_set_vips(a, NULL, 0), LBP_OK);
    lbp_announcer_get_stats(a, &st);
    assert_int_equal(st.owned_vips, 0);

    /* With an empty set the thread opens no packet socket and sends nothing,
     * so start/stop can run anywhere; without CAP_NET_RAW start refuses. */
    int rc = lbp_announcer_start(a);
    if (rc == LBP_OK) {
        uint64_t t0 = lbp_now_ms();
        lbp_announcer_stop(a);
        assert_true(lbp_now_ms() - t0 < 1500);
        lbp_announcer_stop(a);
    } else {
        assert_int_equal(rc, LBP_IO);
    }
    lbp_announcer_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arp_request_parses),
        cmocka_unit_test(arp_reply_is_unicast_from_our_mac),
        cmocka_unit_test(garp_both_forms),
        cmocka_unit_test(ns_parses_and_checks),
        cmocka_unit_test(na_reply_checksum_and_fields),
        cmocka_unit_test(na_unsolicited_and_dad),
        cmocka_unit_test(solicited_node_mac),
        cmocka_unit_test(filters_accept_only_their_frames),
        cmocka_unit_test(vip_parse_and_print),
        cmocka_unit_test(vipset_diff_finds_changes),
        cmocka_unit_test(vipset_merges_interfaces),
        cmocka_unit_test(pick_by_subnet),
        cmocka_unit_test(prefixes),
        cmocka_unit_test(dump_sees_loopback),
        cmocka_unit_test(announcer_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
