/*
 * announcer.c — the announcer object and its packet thread.
 *
 * Callers hand over the owned VIP set under a mutex and bump a generation;
 * the packet thread picks it up (woken through an eventfd), works out the
 * bindings — one per (VIP, interface) the VIP is answered on, kept in a
 * uthash keyed by (ifindex, family, address) — and opens one AF_PACKET socket
 * per interface and protocol that has bindings: ETH_P_ARP with a filter for
 * ARP requests, ETH_P_IPV6 with a filter for Neighbor Solicitations (and a
 * link-layer membership in each owned VIP's solicited-node group). Sockets
 * are created with protocol 0, filtered, then bound, so no unfiltered frame
 * is ever queued. Only the thread touches bindings and sockets, so the hot
 * path (request in, reply out) takes no lock.
 *
 * A new binding is announced at once and then every garp_interval_ms until
 * garp_duration_ms has passed; a binding that disappears stops being
 * answered as soon as the thread applies the set, and set_vips waits for that.
 * rtnetlink link/address events mark the interface table dirty; the thread
 * re-dumps it and recomputes the bindings, so VIPs follow their subnets.
 */
#include "speaker/speaker_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#define MAX_IFACES_PER_VIP 64
#define RX_BUDGET 256 /* frames read from one socket per wake-up, for fairness */
#define APPLY_WAIT_MS 1000
/* Interface dumps are at least this far apart: on a Kubernetes node every pod
 * start adds a veth, and a burst of events should cost one dump, not one each. */
#define DUMP_GAP_MS 200

struct bkey {
    int ifindex;
    int family;
    uint8_t addr[16];
};

struct binding {
    struct bkey key;
    uint64_t garp_next_ms; /* UINT64_MAX: schedule done */
    uint64_t garp_until_ms;
    int joined_fd; /* nd socket holding our solicited-node membership, or -1 */
    UT_hash_handle hh;
};

struct psock {
    int ifindex;
    char name[LBP_IFNAME_MAX];
    uint8_t mac[LBP_ETH_ALEN];
    int arp_fd, nd_fd;
    bool need_arp, need_nd;
};

struct lbp_announcer {
    struct lbp_announcer_opts opts;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct lbp_vip *want; /* under mu */
    size_t want_n;
    uint64_t want_gen, applied_gen;
    bool running;

    pthread_t thread;
    int efd, nlfd;
    atomic_bool stopping;

    /* Packet thread only. */
    struct lbp_vip *cur;
    size_t cur_n;
    struct lbp_iftable ift;
    bool if_dirty;
    uint64_t next_dump_ms;
    struct binding *bindings;
    struct psock *socks;
    size_t nsocks;

    atomic_uint_fast64_t seen, received, replies, garps, errors, owned, announced;
};

/* ---- sockets ----------------------------------------------------------- */

static int open_packet_socket(int ifindex, uint16_t proto, const struct sock_fprog *prog,
                              int rcvbuf)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(proto),
        .sll_ifindex = ifindex,
    };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof(*prog)) < 0 ||
        bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    return fd;
}

static int membership(int fd, int ifindex, const uint8_t vip[16], bool add)
{
    struct packet_mreq mr;
    memset(&mr, 0, sizeof(mr));
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_MULTICAST;
    mr.mr_alen = LBP_ETH_ALEN;
    lbp_solicited_node_mac(vip, mr.mr_address);
    return setsockopt(fd, SOL_PACKET, add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr,
                      sizeof(mr));
}

static struct psock *find_sock(struct lbp_announcer *a, int ifindex)
{
    for (size_t i = 0; i < a->nsocks; i++)
        if (a->socks[i].ifindex == ifindex)
            return &a->socks[i];
    return NULL;
}

static struct psock *add_sock(struct lbp_announcer *a, int ifindex)
{
    struct psock *s = find_sock(a, ifindex);
    if (s)
        return s;
    struct psock *v = realloc(a->socks, (a->nsocks + 1) * sizeof(*v));
    if (!v)
        return NULL;
    a->socks = v;
    s = &a->socks[a->nsocks++];
    memset(s, 0, sizeof(*s));
    s->ifindex = ifindex;
    s->arp_fd = s->nd_fd = -1;
    return s;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void send_frame(struct lbp_announcer *a, struct psock *s, int fd, const uint8_t *f,
                       size_t len, atomic_uint_fast64_t *ok)
{
    if (send(fd, f, len, MSG_DONTWAIT) == (ssize_t)len) {
        atomic_fetch_add_explicit(ok, 1, memory_order_relaxed);
        return;
    }
    uint64_t n = atomic_fetch_add_explicit(&a->errors, 1, memory_order_relaxed);
    if (n < 10 || n % 1000 == 0)
        lbp_warn("speaker: send on %s failed: %s", s->name, strerror(errno));
}

/* ---- bindings ---------------------------------------------------------- */

static void key_of(struct bkey *k, const struct lbp_vip *v, int ifindex)
{
    memset(k, 0, sizeof(*k));
    k->ifindex = ifindex;
    k->family = v->family;
    memcpy(k->addr, v->addr, v->family == AF_INET ? 4 : 16);
}

static const char *key_str(const struct bkey *k, char *out, size_t cap)
{
    if (!inet_ntop(k->family, k->addr, out, (socklen_t)cap))
        lbp_strlcpy(out, "?", cap);
    return out;
}

static void reconcile(struct lbp_announcer *a)
{
    char ip[INET6_ADDRSTRLEN];
    uint64_t now = lbp_now_ms();
    if (a->if_dirty && now >= a->next_dump_ms) {
        struct lbp_iftable t = {0};
        a->next_dump_ms = now + DUMP_GAP_MS;
        if (lbp_iftable_dump(&t) == LBP_OK) {
            lbp_iftable_clear(&a->ift);
            a->ift = t;
            a->if_dirty = false;
        } else {
            lbp_iftable_clear(&t); /* keep the last good table; retried after the gap */
        }
    }

    struct binding *next = NULL, *b, *tmp;
    uint64_t announced = 0;
    for (size_t i = 0; i < a->cur_n; i++) {
        size_t idx[MAX_IFACES_PER_VIP];
        size_t n = lbp_iftable_pick(&a->ift, &a->cur[i], idx, MAX_IFACES_PER_VIP);
        if (n > MAX_IFACES_PER_VIP)
            n = MAX_IFACES_PER_VIP;
        if (n == 0)
            lbp_v(1, "speaker: %s: no interface holds its subnet",
                  lbp_vip_str(&a->cur[i], ip, sizeof(ip)));
        announced += n > 0;
        for (size_t j = 0; j < n; j++) {
            const struct lbp_iface *ifc = &a->ift.v[idx[j]];
            struct bkey k;
            key_of(&k, &a->cur[i], ifc->index);
            HASH_FIND(hh, a->bindings, &k, sizeof(k), b);
            if (b) {
                HASH_DEL(a->bindings, b);
            } else {
                b = calloc(1, sizeof(*b));
                if (!b)
                    continue; /* retried on the next reconcile */
                b->key = k;
                b->garp_next_ms = now;
                b->garp_until_ms = now + a->opts.garp_duration_ms;
                b->joined_fd = -1;
                lbp_info("speaker: announcing %s on %s", key_str(&k, ip, sizeof(ip)), ifc->name);
            }
            HASH_ADD(hh, next, key, sizeof(b->key), b);
        }
    }
    /* What is left in the old table is no longer ours (or its interface went). */
    HASH_ITER(hh, a->bindings, b, tmp)
    {
        HASH_DEL(a->bindings, b);
        struct psock *s = find_sock(a, b->key.ifindex);
        if (s && b->joined_fd >= 0 && b->joined_fd == s->nd_fd)
            (void)membership(s->nd_fd, s->ifindex, b->key.addr, false);
        lbp_info("speaker: stopped announcing %s on %s", key_str(&b->key, ip, sizeof(ip)),
                 s ? s->name : "(gone)");
        free(b);
    }
    a->bindings = next;
    atomic_store(&a->announced, announced);

    /* Sockets follow the bindings. */
    for (size_t i = 0; i < a->nsocks; i++)
        a->socks[i].need_arp = a->socks[i].need_nd = false;
    HASH_ITER(hh, a->bindings, b, tmp)
    {
        struct psock *s = add_sock(a, b->key.ifindex);
        if (!s)
            continue;
        if (b->key.family == AF_INET)
            s->need_arp = true;
        else
            s->need_nd = true;
    }
    for (size_t i = 0; i < a->nsocks;) {
        struct psock *s = &a->socks[i];
        const struct lbp_iface *ifc = lbp_iftable_get(&a->ift, s->ifindex, false);
        if (ifc && memcmp(s->mac, ifc->mac, LBP_ETH_ALEN) != 0) {
            /* A new MAC (or a new socket): neighbours must learn it again. */
            HASH_ITER(hh, a->bindings, b, tmp)
            {
                if (b->key.ifindex == s->ifindex) {
                    b->garp_next_ms = now;
                    b->garp_until_ms = now + a->opts.garp_duration_ms;
                }
            }
        }
        if (ifc) {
            memcpy(s->mac, ifc->mac, LBP_ETH_ALEN);
            lbp_strlcpy(s->name, ifc->name, sizeof(s->name));
        }
        int rcvbuf = a->opts.rcvbuf;
        if (s->need_arp && s->arp_fd < 0) {
            s->arp_fd = open_packet_socket(s->ifindex, ETH_P_ARP, lbp_filter_arp_request(), rcvbuf);
            if (s->arp_fd < 0)
                lbp_error("speaker: ARP socket on %s: %s", s->name, strerror(errno));
        } else if (!s->need_arp) {
            close_fd(&s->arp_fd);
        }
        if (s->need_nd && s->nd_fd < 0) {
            s->nd_fd = open_packet_socket(s->ifindex, ETH_P_IPV6, lbp_filter_ns(), rcvbuf);
            if (s->nd_fd < 0)
                lbp_error("speaker: NDP socket on %s: %s", s->name, strerror(errno));
        } else if (!s->need_nd) {
            close_fd(&s->nd_fd);
        }
        if (!s->need_arp && !s->need_nd) {
            a->socks[i] = a->socks[--a->nsocks];
            continue;
        }
        i++;
    }
    /* Multicast memberships: the kernel counts them per socket, so one add per
     * binding and one drop per released binding balance out. */
    HASH_ITER(hh, a->bindings, b, tmp)
    {
        if (b->key.family != AF_INET6)
            continue;
        struct psock *s = find_sock(a, b->key.ifindex);
        if (!s || s->nd_fd < 0 || b->joined_fd == s->nd_fd)
            continue;
        if (membership(s->nd_fd, s->ifindex, b->key.addr, true) == 0)
            b->joined_fd = s->nd_fd;
        else
            lbp_warn("speaker: joining the solicited-node group of %s on %s: %s",
                     key_str(&b->key, ip, sizeof(ip)), s->name, strerror(errno));
    }
}

/* ---- the packet path --------------------------------------------------- */

/*
 * The next frame waiting on fd, into f (cap bytes): its length, 0 for one
 * this host sent (a packet socket sees those too), -1 when none is waiting.
 */
static ssize_t next_frame(int fd, uint8_t *f, size_t cap)
{
    struct sockaddr_ll sll;
    socklen_t sl = sizeof(sll);
    ssize_t n = recvfrom(fd, f, cap, MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
    if (n < 0)
        return -1;
    return sll.sll_pkttype == PACKET_OUTGOING ? 0 : n;
}

/*
 * A request for addr (len bytes of family) on s's interface is ours to
 * answer when we announce that address there; counted as received.
 */
static bool answers(struct lbp_announcer *a, const struct psock *s, int family, const uint8_t *addr,
                    size_t len)
{
    struct bkey k = {.ifindex = s->ifindex, .family = family};
    struct binding *b;
    memcpy(k.addr, addr, len);
    HASH_FIND(hh, a->bindings, &k, sizeof(k), b);
    if (!b)
        return false;
    atomic_fetch_add_explicit(&a->received, 1, memory_order_relaxed);
    return true;
}

static void on_arp(struct lbp_announcer *a, struct psock *s)
{
    uint8_t f[LBP_FRAME_MAX], out[LBP_ARP_FRAME_LEN];
    for (int i = 0; i < RX_BUDGET; i++) {
        ssize_t n = next_frame(s->arp_fd, f, sizeof(f));
        struct lbp_arp_req req;
        if (n < 0)
            return;
        if (!n || lbp_arp_parse_request(f, (size_t)n, &req) != LBP_OK)
            continue;
        atomic_fetch_add_explicit(&a->seen, 1, memory_order_relaxed);
        /* Someone else's announcement (sender = target), or our own frame. */
        if (memcmp(req.spa, req.tpa, 4) == 0 || memcmp(req.sha, s->mac, 6) == 0)
            continue;
        if (!answers(a, s, AF_INET, req.tpa, 4))
            continue;
        lbp_arp_build_reply(out, &req, s->mac, req.tpa);
        send_frame(a, s, s->arp_fd, out, sizeof(out), &a->replies);
    }
}

static void on_ns(struct lbp_announcer *a, struct psock *s)
{
    uint8_t f[LBP_FRAME_MAX], out[LBP_NA_FRAME_LEN];
    for (int i = 0; i < RX_BUDGET; i++) {
        ssize_t n = next_frame(s->nd_fd, f, sizeof(f));
        struct lbp_ns ns;
        if (n < 0)
            return;
        if (!n || lbp_ns_parse(f, (size_t)n, &ns) != LBP_OK)
            continue;
        atomic_fetch_add_explicit(&a->seen, 1, memory_order_relaxed);
        if (memcmp(ns.eth_src, s->mac, 6) == 0)
            continue;
        if (!answers(a, s, AF_INET6, ns.target, 16))
            continue;
        lbp_na_build_reply(out, &ns, s->mac, ns.target);
        send_frame(a, s, s->nd_fd, out, sizeof(out), &a->replies);
    }
}

static void announce(struct lbp_announcer *a, struct binding *b)
{
    struct psock *s = find_sock(a, b->key.ifindex);
    if (!s)
        return;
    if (b->key.family == AF_INET && s->arp_fd >= 0) {
        uint8_t f[LBP_ARP_FRAME_LEN];
        lbp_arp_build_garp(f, LBP_ARPOP_REQUEST, s->mac, b->key.addr);
        send_frame(a, s, s->arp_fd, f, sizeof(f), &a->garps);
        lbp_arp_build_garp(f, LBP_ARPOP_REPLY, s->mac, b->key.addr);
        send_frame(a, s, s->arp_fd, f, sizeof(f), &a->garps);
    } else if (b->key.family == AF_INET6 && s->nd_fd >= 0) {
        uint8_t f[LBP_NA_FRAME_LEN];
        lbp_na_build_unsolicited(f, s->mac, b->key.addr);
        send_frame(a, s, s->nd_fd, f, sizeof(f), &a->garps);
    }
}

/* Sends what is due; returns the poll timeout until the next one (-1: none). */
static int run_schedule(struct lbp_announcer *a)
{
    uint64_t now = lbp_now_ms(), due = UINT64_MAX;
    struct binding *b, *tmp;
    HASH_ITER(hh, a->bindings, b, tmp)
    {
        if (b->garp_next_ms <= now) {
            announce(a, b);
            b->garp_next_ms += a->opts.garp_interval_ms;
            if (b->garp_next_ms > b->garp_until_ms)
                b->garp_next_ms = UINT64_MAX;
        }
        if (b->garp_next_ms < due)
            due = b->garp_next_ms;
    }
    if (due == UINT64_MAX)
        return -1;
    return due <= now ? 0 : (int)(due - now);
}

static void drain_netlink(struct lbp_announcer *a)
{
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = recv(a->nlfd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0 || (n < 0 && errno == ENOBUFS)) {
            a->if_dirty = true; /* any event (or a lost one): re-dump */
            continue;
        }
        return;
    }
}

/* Applies a new owned set if there is one; wakes set_vips() waiters. */
static void apply_wanted(struct lbp_announcer *a, bool force)
{
    uint64_t gen;
    bool changed = false;
    pthread_mutex_lock(&a->mu);
    gen = a->want_gen;
    if (gen != a->applied_gen) {
        struct lbp_vip *copy = NULL;
        if (a->want_n) {
            copy = malloc(a->want_n * sizeof(*copy));
            if (copy)
                memcpy(copy, a->want, a->want_n * sizeof(*copy));
        }
        if (copy || a->want_n == 0) {
            free(a->cur);
            a->cur = copy;
            a->cur_n = a->want_n;
            changed = true;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (changed || force || (a->if_dirty && lbp_now_ms() >= a->next_dump_ms))
        reconcile(a);
    if (changed) {
        pthread_mutex_lock(&a->mu);
        a->applied_gen = gen;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->mu);
    }
}

enum { FD_SOCK_ARP = 1, FD_SOCK_ND = 2 };

static void *packet_thread(void *arg)
{
    struct lbp_announcer *a = arg;
    struct pollfd *pfd = NULL;
    size_t *owner = NULL;
    size_t cap = 0;
    apply_wanted(a, true);
    while (!atomic_load(&a->stopping)) {
        size_t need = 2 + 2 * a->nsocks;
        if (need > cap) {
            struct pollfd *np = realloc(pfd, need * sizeof(*np));
            if (np)
                pfd = np;
            size_t *no = realloc(owner, need * sizeof(*no));
            if (no)
                owner = no;
            if (!np || !no) {
                lbp_error("speaker: out of memory in the packet thread");
                break;
            }
            cap = need;
        }
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = a->efd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = a->nlfd, .events = POLLIN};
        for (size_t i = 0; i < a->nsocks; i++) {
            if (a->socks[i].arp_fd >= 0) {
                owner[n] = i * 4 + FD_SOCK_ARP;
                pfd[n++] = (struct pollfd){.fd = a->socks[i].arp_fd, .events = POLLIN};
            }
            if (a->socks[i].nd_fd >= 0) {
                owner[n] = i * 4 + FD_SOCK_ND;
                pfd[n++] = (struct pollfd){.fd = a->socks[i].nd_fd, .events = POLLIN};
            }
        }
        int timeout = run_schedule(a);
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (a->if_dirty) {
            uint64_t now = lbp_now_ms();
            int gap = a->next_dump_ms > now ? (int)(a->next_dump_ms - now) : 0;
            if (gap < timeout)
                timeout = gap;
        }
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            lbp_error("speaker: poll: %s", strerror(errno));
            break;
        }
        if (r < 0)
            continue;
        if (r == 0) {
            apply_wanted(a, false); /* a deferred interface dump may be due */
            continue;
        }
        if (pfd[0].revents) {
            uint64_t v;
            (void)!read(a->efd, &v, sizeof(v));
        }
        if (pfd[1].revents)
            drain_netlink(a);
        /* Apply a new set before answering anything queued behind it. */
        apply_wanted(a, false);
        size_t nsocks_polled = a->nsocks;
        for (size_t i = 2; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            size_t si = owner[i] / 4;
            if (si >= nsocks_polled || si >= a->nsocks)
                continue; /* the socket table changed under this poll round */
            struct psock *s = &a->socks[si];
            int kind = (int)(owner[i] % 4);
            int fd = kind == FD_SOCK_ARP ? s->arp_fd : s->nd_fd;
            if (fd != pfd[i].fd)
                continue;
            if (pfd[i].revents & POLLERR) {
                int err = 0;
                socklen_t el = sizeof(err);
                (void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
                a->if_dirty = true; /* usually the interface went down or away */
            }
            if (pfd[i].revents & POLLIN) {
                if (kind == FD_SOCK_ARP)
                    on_arp(a, s);
                else
                    on_ns(a, s);
            }
        }
    }
    free(pfd);
    free(owner);
    return NULL;
}

/* ---- public API -------------------------------------------------------- */

int lbp_announcer_new(const struct lbp_announcer_opts *opts, struct lbp_announcer **out)
{
    *out = NULL;
    struct lbp_announcer *a = calloc(1, sizeof(*a));
    if (!a)
        return LBP_NOMEM;
    if (opts)
        a->opts = *opts;
    if (!a->opts.garp_interval_ms)
        a->opts.garp_interval_ms = 1100;
    if (!a->opts.garp_duration_ms)
        a->opts.garp_duration_ms = 5000;
    if (a->opts.rcvbuf <= 0)
        a->opts.rcvbuf = 1 << 20;
    a->efd = a->nlfd = -1;
    lbp_cond_init_monotonic(&a->cond);
    pthread_mutex_init(&a->mu, NULL);
    a->if_dirty = true;
    *out = a;
    return LBP_OK;
}

/* Waits (mu held) until the thread has applied generation gen, or a second. */
static void wait_applied(struct lbp_announcer *a, uint64_t gen)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += APPLY_WAIT_MS / 1000;
    while (a->running && a->applied_gen < gen)
        if (pthread_cond_timedwait(&a->cond, &a->mu, &dl) == ETIMEDOUT)
            break;
    if (a->running && a->applied_gen < gen)
        lbp_warn("speaker: the packet thread has not applied the new VIP set yet");
}

static void wake(struct lbp_announcer *a)
{
    uint64_t one = 1;
    if (a->efd >= 0)
        (void)!write(a->efd, &one, sizeof(one));
}

int lbp_announcer_set_vips(struct lbp_announcer *a, const struct lbp_vip *vips, size_t n)
{
    if (!a || (n && !vips) || n > LBP_ANNOUNCER_MAX_VIPS)
        return LBP_INVALID;
    for (size_t i = 0; i < n; i++)
        if (vips[i].family != AF_INET && vips[i].family != AF_INET6)
            return LBP_INVALID;
    int rc = LBP_NOMEM;
    struct lbp_vip *v = NULL;
    size_t *added = NULL, *removed = NULL;
    if (n) {
        v = malloc(n * sizeof(*v));
        added = malloc(n * sizeof(*added));
        if (!v || !added)
            goto out;
        memcpy(v, vips, n * sizeof(*v));
        lbp_vipset_normalize(v, &n);
    }
    pthread_mutex_lock(&a->mu);
    if (a->want_n) {
        removed = malloc(a->want_n * sizeof(*removed));
        if (!removed) {
            pthread_mutex_unlock(&a->mu);
            goto out;
        }
    }
    size_t nadded, nremoved;
    lbp_vipset_diff(a->want, a->want_n, v, n, added, &nadded, removed, &nremoved);
    char ip[INET6_ADDRSTRLEN];
    for (size_t i = 0; i < nadded; i++)
        lbp_info("speaker: now owning %s", lbp_vip_str(&v[added[i]], ip, sizeof(ip)));
    for (size_t i = 0; i < nremoved; i++)
        lbp_info("speaker: no longer owning %s", lbp_vip_str(&a->want[removed[i]], ip, sizeof(ip)));
    free(a->want);
    a->want = v;
    a->want_n = n;
    v = NULL;
    uint64_t gen = ++a->want_gen;
    atomic_store(&a->owned, n);
    wake(a);
    wait_applied(a, gen);
    pthread_mutex_unlock(&a->mu);
    rc = LBP_OK;
out:
    free(v);
    free(added);
    free(removed);
    return rc;
}

int lbp_announcer_start(struct lbp_announcer *a)
{
    if (!a)
        return LBP_INVALID;
    if (a->running)
        return LBP_OK;
    int rc = LBP_IO;
    /* Fail here, with a clear reason, rather than in the thread. */
    int probe = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        lbp_error("speaker: cannot open a packet socket (CAP_NET_RAW needed): %s", strerror(errno));
        goto out;
    }
    close(probe);
    a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    a->nlfd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (a->efd < 0 || a->nlfd < 0) {
        lbp_error("speaker: eventfd/netlink: %s", strerror(errno));
        goto out;
    }
    struct sockaddr_nl snl = {
        .nl_family = AF_NETLINK,
        .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
    };
    if (bind(a->nlfd, (struct sockaddr *)&snl, sizeof(snl)) < 0) {
        lbp_error("speaker: rtnetlink subscribe: %s", strerror(errno));
        goto out;
    }
    atomic_store(&a->stopping, false);
    a->if_dirty = true;
    a->next_dump_ms = 0;
    pthread_mutex_lock(&a->mu);
    /* The thread applies whatever set was given before start. */
    a->applied_gen = 0;
    a->want_gen++;
    uint64_t gen = a->want_gen;
    if (pthread_create(&a->thread, NULL, packet_thread, a) != 0) {
        pthread_mutex_unlock(&a->mu);
        lbp_error("speaker: cannot start the packet thread");
        goto out;
    }
    a->running = true;
    wait_applied(a, gen);
    pthread_mutex_unlock(&a->mu);
    rc = LBP_OK;
out:
    if (rc != LBP_OK) {
        close_fd(&a->efd);
        close_fd(&a->nlfd);
    }
    return rc;
}

void lbp_announcer_stop(struct lbp_announcer *a)
{
    if (!a || !a->running)
        return;
    atomic_store(&a->stopping, true);
    wake(a);
    pthread_join(a->thread, NULL);
    pthread_mutex_lock(&a->mu);
    a->running = false;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    struct binding *b, *tmp;
    HASH_ITER(hh, a->bindings, b, tmp)
    {
        HASH_DEL(a->bindings, b);
        free(b);
    }
    for (size_t i = 0; i < a->nsocks; i++) {
        close_fd(&a->socks[i].arp_fd);
        close_fd(&a->socks[i].nd_fd);
    }
    free(a->socks);
    a->socks = NULL;
    a->nsocks = 0;
    free(a->cur);
    a->cur = NULL;
    a->cur_n = 0;
    lbp_iftable_clear(&a->ift);
    close_fd(&a->efd);
    close_fd(&a->nlfd);
    atomic_store(&a->announced, 0);
}

void lbp_announcer_get_stats(const struct lbp_announcer *a, struct lbp_announcer_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (!a)
        return;
    struct lbp_announcer *m = (struct lbp_announcer *)a;
    st->requests_seen = atomic_load(&m->seen);
    st->requests_received = atomic_load(&m->received);
    st->replies_sent = atomic_load(&m->replies);
    st->gratuitous_sent = atomic_load(&m->garps);
    st->send_errors = atomic_load(&m->errors);
    st->owned_vips = atomic_load(&m->owned);
    st->announced_vips = atomic_load(&m->announced);
}

void lbp_announcer_free(struct lbp_announcer *a)
{
    if (!a)
        return;
    lbp_announcer_stop(a);
    free(a->want);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cond);
    free(a);
}
