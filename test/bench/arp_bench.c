/*
 * arp_bench — how many ARP replies per second one announcer sustains with
 * no request dropped. Prints figures; not a test. Run through arp_bench.sh,
 * which builds the namespaces and starts the announcer (see arp_bench.md).
 *
 *   arp_bench --iface eth0 --vip 192.168.77.100 --src 192.168.77.50
 *             [--trial-ms 400] [--max-seconds 25] [--start-rate 2000]
 *
 * From the client side of a veth it sends ARP requests for the VIP at a
 * paced rate (batches every millisecond, sendmmsg) for one trial, waits for
 * the stragglers, and counts the replies addressed to it. The rate doubles
 * while every request is answered, then a bisection between the last clean
 * rate and the first lossy one narrows the answer. The sender's own limit
 * is reported too: a trial only counts at the rate it actually achieved.
 */
#include "common/rc.h"
#include "common/util.h"
#include "speaker/speaker_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX 1024

/* Only ARP replies (oper 2) reach the counting socket. */
static struct sock_filter reply_insns[] = {
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 0, 3),
    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 20), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 64),          BPF_STMT(BPF_RET | BPF_K, 0),
};

struct bench {
    int fd;
    uint8_t mac[6];
    uint8_t vip[4], src[4];
    uint8_t frame[LBP_ARP_FRAME_LEN];
};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t drain(struct bench *b)
{
    uint8_t f[128];
    uint64_t n = 0;
    for (;;) {
        ssize_t r = recv(b->fd, f, sizeof(f), MSG_DONTWAIT);
        if (r < 0)
            return n;
        /* A reply from the VIP to us: sender IP = VIP, target MAC = ours. */
        if (r >= 42 && memcmp(f + 28, b->vip, 4) == 0 && memcmp(f + 32, b->mac, 6) == 0)
            n++;
    }
}

struct trial {
    uint64_t sent, replies;
    double achieved; /* requests per second actually sent */
};

static void run_trial(struct bench *b, unsigned rate, unsigned ms, struct trial *t)
{
    static struct mmsghdr msgs[BATCH_MAX];
    static struct iovec iov[BATCH_MAX];
    for (int i = 0; i < BATCH_MAX; i++) {
        iov[i] = (struct iovec){.iov_base = b->frame, .iov_len = sizeof(b->frame)};
        msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
    }
    memset(t, 0, sizeof(*t));
    uint64_t total = (uint64_t)rate * ms / 1000;
    uint64_t t0 = now_us(), end = t0 + (uint64_t)ms * 1000;
    while (t->sent < total) {
        uint64_t now = now_us();
        if (now >= end + 50000)
            break; /* the sender cannot keep up: stop, report what it did */
        uint64_t due = (now - t0) * rate / 1000000 + 1;
        if (due > total)
            due = total;
        if (due > t->sent) {
            unsigned n = (unsigned)(due - t->sent);
            if (n > BATCH_MAX)
                n = BATCH_MAX;
            int r = sendmmsg(b->fd, msgs, n, 0);
            if (r > 0)
                t->sent += (uint64_t)r;
        } else {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        t->replies += drain(b);
    }
    double secs = (double)(now_us() - t0) / 1e6;
    t->achieved = secs > 0 ? (double)t->sent / secs : 0;
    /* Stragglers: wait until 100 ms pass without a reply (at most 1 s). */
    uint64_t quiet = now_us(), stop = quiet + 1000000;
    while (now_us() < stop && now_us() - quiet < 100000) {
        uint64_t n = drain(b);
        if (n) {
            t->replies += n;
            quiet = now_us();
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *ifname = NULL, *vip = NULL, *src = NULL;
    long trial_ms = 400, max_s = 25, start = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (strcmp(k, "--iface") == 0)
            ifname = v;
        else if (strcmp(k, "--vip") == 0)
            vip = v;
        else if (strcmp(k, "--src") == 0)
            src = v;
        else if (strcmp(k, "--trial-ms") == 0 && lbp_parse_long(v, 50, 5000, &trial_ms) == LBP_OK)
            ;
        else if (strcmp(k, "--max-seconds") == 0 && lbp_parse_long(v, 1, 30, &max_s) == LBP_OK)
            ;
        else if (strcmp(k, "--start-rate") == 0 &&
                 lbp_parse_long(v, 100, 10000000, &start) == LBP_OK)
            ;
        else
            ifname = NULL;
    }
    struct bench b;
    memset(&b, 0, sizeof(b));
    if (!ifname || !vip || !src || strlen(ifname) >= IFNAMSIZ ||
        inet_pton(AF_INET, vip, b.vip) != 1 || inet_pton(AF_INET, src, b.src) != 1) {
        fprintf(stderr, "usage: arp_bench --iface IF --vip A.B.C.D --src A.B.C.D"
                        " [--trial-ms N] [--max-seconds N] [--start-rate N]\n");
        return 2;
    }
    int ifindex = (int)if_nametoindex(ifname);
    b.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (!ifindex || b.fd < 0) {
        fprintf(stderr, "arp_bench: %s: %s\n", ifname, strerror(errno));
        return 1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    lbp_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    struct sock_fprog prog = {.len = LBP_ARRAY_LEN(reply_insns), .filter = reply_insns};
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP), .sll_ifindex = ifindex};
    int big = 8 << 20;
    if (ioctl(b.fd, SIOCGIFHWADDR, &ifr) < 0 ||
        setsockopt(b.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ||
        bind(b.fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "arp_bench: socket setup: %s\n", strerror(errno));
        return 1;
    }
    (void)setsockopt(b.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    memcpy(b.mac, ifr.ifr_hwaddr.sa_data, 6);
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, zero[6];
    lbp_arp_build(b.frame, LBP_ARPOP_REQUEST, bcast, b.mac, b.src, zero, b.vip);

    printf("arp_bench: %s -> %s on %s, %ld ms trials, at most %ld s\n", src, vip, ifname, trial_ms,
           max_s);
    printf("%12s %12s %10s %10s %s\n", "target/s", "sent/s", "sent", "replies", "result");
    uint64_t deadline = lbp_now_ms() + (uint64_t)max_s * 1000;
    unsigned good = 0, bad = 0, rate = (unsigned)start;
    bool sender_bound = false;
    uint64_t total_sent = 0;
    while (lbp_now_ms() + (uint64_t)trial_ms + 1200 < deadline) {
        struct trial t;
        run_trial(&b, rate, (unsigned)trial_ms, &t);
        total_sent += t.sent;
        bool clean = t.sent > 0 && t.replies >= t.sent;
        bool reached = t.achieved >= 0.95 * rate;
        printf("%12u %12.0f %10llu %10llu %s\n", rate, t.achieved, (unsigned long long)t.sent,
               (unsigned long long)t.replies,
               clean ? (reached ? "no loss" : "no loss (sender limit)")
                     : (reached ? "LOSS" : "LOSS (sender limit)"));
        fflush(stdout);
        if (!reached) {
            /* Judge the trial at the rate the sender managed. */
            if (clean) {
                sender_bound = true;
                if ((unsigned)t.achieved > good)
                    good = (unsigned)t.achieved;
                break;
            }
            bad = (unsigned)t.achieved;
        } else if (clean) {
            good = rate;
        } else {
            bad = rate;
        }
        if (!bad)
            rate *= 2;
        else if (!good || bad <= good || bad - good <= bad / 20)
            break; /* within 5 % */
        else
            rate = good + (bad - good) / 2;
    }
    if (good)
        printf("RESULT: %u ARP replies/s with zero loss (%s)\n", good,
               bad            ? "first loss above that"
               : sender_bound ? "the sender hit its own limit"
                              : "no loss found within the time");
    else
        printf("RESULT: loss even at %u requests/s\n", (unsigned)start);
    /* Compare with the announcer's requests_seen: equal means its socket
     * dropped nothing and any loss happened elsewhere in the path. */
    printf("total requests sent: %llu\n", (unsigned long long)total_sent);
    close(b.fd);
    return 0;
}
