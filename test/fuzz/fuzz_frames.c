/*
 * fuzz_frames.c — what arrives on the speaker's packet sockets: Ethernet
 * frames that should be ARP requests (RFC 826) or IPv6 Neighbor
 * Solicitations (RFC 4861). Byte 0 picks which parser; the rest is the
 * frame. A frame that parses is answered as the announcer would, and the
 * answer must parse back (an NA's checksum must verify).
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "speaker/speaker_int.h"

#include <string.h>

static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    if (size < 1)
        return 0;
    const uint8_t *f = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        struct lbp_arp_req req;
        uint8_t out[LBP_ARP_FRAME_LEN];
        if (lbp_arp_parse_request(f, n, &req) != LBP_OK)
            return 0;
        lbp_arp_build_reply(out, &req, mac, req.tpa);
        lbp_arp_build_garp(out, 1, mac, req.tpa);
        /* A gratuitous request is itself a well-formed request. */
        struct lbp_arp_req back;
        FZ_CHECK(lbp_arp_parse_request(out, sizeof(out), &back) == LBP_OK);
        FZ_CHECK(memcmp(back.tpa, req.tpa, 4) == 0);
    } else {
        struct lbp_ns ns;
        uint8_t out[LBP_NA_FRAME_LEN], smac[6];
        if (lbp_ns_parse(f, n, &ns) != LBP_OK)
            return 0;
        lbp_na_build_reply(out, &ns, mac, ns.target);
        lbp_na_build_unsolicited(out, mac, ns.target);
        lbp_solicited_node_mac(ns.target, smac);
        FZ_CHECK(smac[0] == 0x33 && smac[1] == 0x33 && smac[2] == 0xff);
    }
    return 0;
}
