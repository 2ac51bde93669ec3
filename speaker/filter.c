/*
 * filter.c — the classic BPF programs attached (SO_ATTACH_FILTER) to the
 * announcer's packet sockets, so the kernel drops everything but the frames
 * the announcer answers and user space wakes only for those. Offsets are for
 * untagged Ethernet frames; the parsers in packet.c check every field again.
 */
#include "speaker/speaker_int.h"

#define SNAPLEN 0x40000 /* keep the whole frame */

static struct sock_filter arp_request_insns[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),            /* ethertype */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 0, 3), /* ARP? else drop */
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20),            /* ARP oper */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1),      /* request? else drop */
    BPF_STMT(BPF_RET | BPF_K, SNAPLEN),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

static struct sock_filter ns_insns[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),            /* ethertype */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 0, 5), /* IPv6? */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 20),            /* next header */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 58, 0, 3),     /* ICMPv6? */
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 54),            /* ICMPv6 type */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 135, 0, 1),    /* NS? */
    BPF_STMT(BPF_RET | BPF_K, SNAPLEN),
    BPF_STMT(BPF_RET | BPF_K, 0),
};

static const struct sock_fprog arp_request_prog = {
    .len = sizeof(arp_request_insns) / sizeof(arp_request_insns[0]),
    .filter = arp_request_insns,
};

static const struct sock_fprog ns_prog = {
    .len = sizeof(ns_insns) / sizeof(ns_insns[0]),
    .filter = ns_insns,
};

const struct sock_fprog *lbp_filter_arp_request(void)
{
    return &arp_request_prog;
}

const struct sock_fprog *lbp_filter_ns(void)
{
    return &ns_prog;
}
