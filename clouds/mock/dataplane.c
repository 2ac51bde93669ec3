/*
 * dataplane.c — the mock cloud's L4 load balancers, inside the controller.
 *
 * Design. One thread runs a libevent loop that owns every socket; the mock
 * cloud's slots (on worker threads) hand it an LB's desired state with
 * lbp_dp_apply, which queues a deep copy, wakes the loop and waits until
 * the loop has applied it, so an ensure that returns OK means the VIP
 * answers, and a listener that cannot be opened fails the ensure with its
 * reason. Nothing else crosses threads; the loop takes no lock but the
 * queue's.
 *
 *  - Listeners: one per VIP x Service port. TCP: accept, check the source
 *    ranges (outside: reset at once), pick a node, connect to its
 *    NodePort, then move bytes both ways. A direction starts with
 *    read/write through a 16 KiB buffer (a request/response pair costs two
 *    syscalls a way); once it has carried 256 KiB it switches to splice
 *    through a pipe of its own, so a long stream is never copied to user
 *    space. Half-closes pass through (shutdown), errors reset both sides.
 *    UDP: each client address:port is a flow with its own connected socket
 *    to the node chosen for its first packet, closed after udp_idle_ms
 *    without a packet either way.
 *  - Choice: round robin over healthy nodes; when none is healthy, over all
 *    of them (fail open, as cloud LBs do). ClientIP affinity keeps a client
 *    address on its node while that node is in the set, healthy and the
 *    entry younger than the timeout.
 *  - Health: per LB and node, every hc_interval_ms, a TCP connect to the
 *    first TCP NodePort (externalTrafficPolicy Cluster; a UDP-only LB has
 *    nothing to connect to and keeps its nodes healthy), or an HTTP GET
 *    /healthz on healthCheckNodePort answered 200 (Local). hc_fall failures
 *    in a row take a node out, hc_rise passes bring it back. A new node
 *    starts healthy and is checked at once.
 *  - Drain: connections hold their backend's address, not the node: a node
 *    leaving the set (or an LB deleted) only stops new connections and
 *    flows going to it; what is open runs to its end. A removed port or a
 *    deleted LB closes its listeners (the kernel then refuses) and its UDP
 *    flows (they answer through the listener's socket).
 *  - VIPs are local addresses: 127.0.0.0/8 needs nothing; a routable range
 *    is put, one /32 or /128 at a time, on a dummy link (vip_interface),
 *    which needs CAP_NET_ADMIN.
 */
#include "clouds/mock/dataplane.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#define DP_BUF 16384
#define DP_SPLICE_AFTER (256u * 1024)
#define DP_PIPE_SIZE (256 * 1024)
#define DP_SPLICE_CHUNK (256 * 1024)
#define DP_ROUNDS 16    /* reads per wake-up of one direction, so no stream starves the rest */
#define DP_UDP_BATCH 32 /* datagrams per wake-up of one socket */
#define DP_MAX_RANGES 64

/* ------------------------------------------------------------ metrics */

static struct lbp_metric *m_conns, *m_active, *m_refused, *m_bytes, *m_checks, *m_healthy,
    *m_backends;

static void metrics_register(void)
{
    m_conns = lbp_metric_new(LBP_COUNTER, "lbprov_mock_lb_connections_total",
                             "Connections (TCP) and flows (UDP) the mock cloud's LBs forwarded.",
                             "service,protocol");
    m_active = lbp_metric_new(LBP_GAUGE, "lbprov_mock_lb_connections_active",
                              "Open TCP connections and UDP flows of the mock cloud's LBs.",
                              "service,protocol");
    m_refused = lbp_metric_new(LBP_COUNTER, "lbprov_mock_lb_refused_total",
                               "Connections and flows refused: source_range, backend_error.",
                               "service,reason");
    m_bytes =
        lbp_metric_new(LBP_COUNTER, "lbprov_mock_lb_bytes_total",
                       "Bytes forwarded, by direction (in: client to node).", "service,direction");
    m_checks = lbp_metric_new(LBP_COUNTER, "lbprov_mock_lb_health_checks_total",
                              "Health checks of nodes by the mock cloud's LBs, by result.",
                              "service,node,result");
    m_healthy =
        lbp_metric_new(LBP_GAUGE, "lbprov_mock_lb_backends_healthy",
                       "Nodes an LB sends new connections to (passing health checks).", "service");
    m_backends = lbp_metric_new(LBP_GAUGE, "lbprov_mock_lb_backends",
                                "Nodes in an LB's backend set.", "service");
}

/* ------------------------------------------------------------ types */

struct dp_cidr {
    int family;
    uint8_t addr[16];
    unsigned bits;
};

/* A deep copy of struct lbp_dp_lb, queued for the loop. */
struct dp_conf {
    char *name, *service;
    char vips[2][64];
    size_t n_vips;
    struct lbp_dp_port *ports;
    size_t n_ports;
    struct dp_cidr *ranges;
    size_t n_ranges;
    char (*nodes)[64];
    size_t n_nodes;
    bool local, affinity;
    int hc_port, affinity_timeout_s;
};

struct dp_req {
    struct dp_req *next;
    struct dp_conf *conf; /* NULL with remove */
    char name[64];
    bool remove, done;
    int rc;
    char err[256];
};

struct dp_lb;

struct dp_node {
    struct dp_lb *lb;
    char addr[64];
    struct sockaddr_storage sa; /* port 0 */
    socklen_t salen;
    bool healthy;
    unsigned ok_run, fail_run;
    struct event timer;
    struct event io;
    int fd;
    bool sent;
    char rbuf[64];
    size_t rlen;
};

struct dp_flow;

struct dp_listener {
    struct dp_lb *lb;
    char vip[64];
    int port, node_port;
    bool udp, alive;
    int fd;
    struct event ev;
    struct dp_flow *flows;
};

struct dp_aff {
    UT_hash_handle hh;
    uint8_t key[17]; /* family byte + address */
    char node[64];
    uint64_t expires_ms;
};

struct dp_lb {
    UT_hash_handle hh;
    struct lbp_dp *dp;
    char *name;
    struct dp_conf *conf;
    struct dp_listener **ls;
    size_t n_ls;
    struct dp_node **nodes;
    size_t n_nodes;
    unsigned rr;
    struct dp_aff *aff;
    char added[2][64]; /* VIPs this module put on vip_interface */
};

struct dp_dir {
    int from, to;
    struct event ev_r, ev_w;
    char *buf;
    size_t off, len;
    int pipe[2];
    size_t inpipe;
    uint64_t total;
    bool eof, done;
};

struct dp_conn {
    struct dp_conn *prev, *next;
    struct lbp_dp *dp;
    char *service;
    int cfd, bfd;
    struct event ev_connect;
    struct dp_dir d[2]; /* 0: client to node, 1: node to client */
};

struct dp_flow {
    UT_hash_handle hh;
    struct sockaddr_storage client; /* the key: zeroed, then the client address */
    socklen_t clen;
    struct dp_listener *l;
    int fd;
    struct event ev, timer;
    uint64_t last_ms;
};

struct lbp_dp {
    struct lbp_dp_opts o;
    struct event_base *base;
    struct event *wake;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct dp_req *queue;
    bool stopping;
    struct dp_lb *lbs;
    struct dp_conn *conns;
    int ifindex;
    char rbuf[65536]; /* one datagram at a time, loop thread only */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval tv_ms(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};
    return tv;
}

/* ------------------------------------------------------------ addresses */

static int parse_cidr(const char *s, struct dp_cidr *c)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    long bits;
    if (n == 0 || n >= sizeof(ip))
        return LBP_INVALID;
    memcpy(ip, s, n);
    ip[n] = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, ip, c->addr) == 1)
        c->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, c->addr) == 1)
        c->family = AF_INET6;
    else
        return LBP_INVALID;
    long max = c->family == AF_INET ? 32 : 128;
    if (!slash)
        bits = max;
    else if (lbp_parse_long(slash + 1, 0, max, &bits))
        return LBP_INVALID;
    c->bits = (unsigned)bits;
    return LBP_OK;
}

/* The family and bytes of sa; an IPv4-mapped IPv6 address counts as IPv4. */
static int sa_addr(const struct sockaddr_storage *sa, uint8_t out[16])
{
    if (sa->ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) {
        memcpy(out, a->s6_addr + 12, 4);
        return AF_INET;
    }
    memcpy(out, a->s6_addr, 16);
    return AF_INET6;
}

static bool cidr_has(const struct dp_cidr *c, int family, const uint8_t *a)
{
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (c->family != family)
        return false;
    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a[full] & mask);
}

bool lbp_dp_range_match(const char *cidr, const char *addr, bool *ok)
{
    struct dp_cidr c;
    struct sockaddr_storage ss = {0};
    uint8_t a[16];
    *ok = parse_cidr(cidr, &c) == LBP_OK;
    if (!*ok)
        return false;
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        return false;
    int fam = sa_addr(&ss, a);
    return cidr_has(&c, fam, a);
}

static bool allowed(const struct dp_conf *c, const struct sockaddr_storage *sa)
{
    uint8_t a[16];
    int fam;
    if (c->n_ranges == 0)
        return true;
    fam = sa_addr(sa, a);
    for (size_t i = 0; i < c->n_ranges; i++)
        if (cidr_has(&c->ranges[i], fam, a))
            return true;
    return false;
}

static int make_sa(const char *ip, int port, struct sockaddr_storage *sa, socklen_t *len)
{
    memset(sa, 0, sizeof(*sa));
    struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        *len = sizeof(*s4);
        return LBP_OK;
    }
    if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return LBP_OK;
    }
    return LBP_INVALID;
}

static void sa_set_port(struct sockaddr_storage *sa, int port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

/* ------------------------------------------------------------ the dummy link */

/* One rtnetlink request; 0 or -errno from the kernel's acknowledgement. */
static int nl_talk(void *req, size_t len)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    char ack[1024];
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = -EIO;
    if (fd < 0)
        return -errno;
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        rc = -errno;
        goto out;
    }
    for (;;) {
        ssize_t n = recv(fd, ack, sizeof(ack), 0);
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)ack; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                rc = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                goto out;
            }
        }
    }
out:
    close(fd);
    return rc;
}

static void nl_attr(struct nlmsghdr *h, size_t cap, unsigned short type, const void *data,
                    size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    if (NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len) > cap)
        return; /* the callers' buffers are sized for what they add */
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    h->nlmsg_len = (unsigned)(NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len));
}

/*
 * Creates the dummy link unless a link of that name exists (of any kind: an
 * operator may hand over one of their own), and brings it up.
 */
static int link_ensure(const char *name, int *ifindex, char *err, size_t errlen)
{
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        char attrs[256];
    } req = {0};
    int rc;
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
    req.h.nlmsg_type = RTM_NEWLINK;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_flags = IFF_UP;
    req.i.ifi_change = IFF_UP;
    nl_attr(&req.h, sizeof(req), IFLA_IFNAME, name, strlen(name) + 1);
    struct rtattr *li = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.h.nlmsg_len));
    nl_attr(&req.h, sizeof(req), IFLA_LINKINFO, NULL, 0);
    nl_attr(&req.h, sizeof(req), IFLA_INFO_KIND, "dummy", 6);
    li->rta_len = (unsigned short)((char *)&req + req.h.nlmsg_len - (char *)li);
    rc = if_nametoindex(name) ? 0 : nl_talk(&req, req.h.nlmsg_len);
    if (rc == -EEXIST)
        rc = 0;
    if (rc == 0) {
        /* Up, whether new or already there. */
        req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.i));
        req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nl_attr(&req.h, sizeof(req), IFLA_IFNAME, name, strlen(name) + 1);
        rc = nl_talk(&req, req.h.nlmsg_len);
    }
    if (rc) {
        snprintf(err, errlen, "vipInterface %s: cannot create the dummy link: %s%s", name,
                 strerror(-rc), rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
        return LBP_AUTH;
    }
    *ifindex = (int)if_nametoindex(name);
    if (*ifindex == 0) {
        snprintf(err, errlen, "vipInterface %s: %s", name, strerror(errno));
        return LBP_IO;
    }
    return LBP_OK;
}

static int addr_change(int ifindex, const char *ip, bool add)
{
    struct {
        struct nlmsghdr h;
        struct ifaddrmsg a;
        char attrs[64];
    } req = {0};
    uint8_t bytes[16];
    size_t len;
    if (inet_pton(AF_INET, ip, bytes) == 1) {
        req.a.ifa_family = AF_INET;
        len = 4;
    } else if (inet_pton(AF_INET6, ip, bytes) == 1) {
        req.a.ifa_family = AF_INET6;
        len = 16;
    } else {
        return -EINVAL;
    }
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.a));
    req.h.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    req.a.ifa_prefixlen = (unsigned char)(len * 8);
    req.a.ifa_index = (unsigned)ifindex;
    req.a.ifa_flags = req.a.ifa_family == AF_INET6 ? IFA_F_NODAD : 0;
    nl_attr(&req.h, sizeof(req), IFA_LOCAL, bytes, len);
    nl_attr(&req.h, sizeof(req), IFA_ADDRESS, bytes, len);
    return nl_talk(&req, req.h.nlmsg_len);
}

/* ------------------------------------------------------------ choosing a node */

static bool node_usable(const struct dp_lb *lb, const struct dp_node *n)
{
    if (n->healthy)
        return true;
    for (size_t i = 0; i < lb->n_nodes; i++)
        if (lb->nodes[i]->healthy)
            return false;
    return true; /* none healthy: fail open */
}

static struct dp_node *pick_rr(struct dp_lb *lb)
{
    for (size_t i = 0; i < lb->n_nodes; i++) {
        struct dp_node *n = lb->nodes[lb->rr++ % lb->n_nodes];
        if (node_usable(lb, n))
            return n;
    }
    return NULL;
}

static struct dp_node *node_by_addr(struct dp_lb *lb, const char *addr)
{
    for (size_t i = 0; i < lb->n_nodes; i++)
        if (strcmp(lb->nodes[i]->addr, addr) == 0)
            return lb->nodes[i];
    return NULL;
}

static struct dp_node *pick(struct dp_lb *lb, const struct sockaddr_storage *client)
{
    struct dp_aff *a = NULL;
    struct dp_node *n;
    uint8_t key[17] = {0};
    uint64_t now;
    if (lb->n_nodes == 0)
        return NULL;
    if (!lb->conf->affinity)
        return pick_rr(lb);
    key[0] = (uint8_t)sa_addr(client, key + 1);
    now = now_ms();
    HASH_FIND(hh, lb->aff, key, sizeof(key), a);
    if (a && a->expires_ms > now && (n = node_by_addr(lb, a->node)) && node_usable(lb, n)) {
        a->expires_ms = now + (uint64_t)lb->conf->affinity_timeout_s * 1000u;
        return n;
    }
    if (!(n = pick_rr(lb)))
        return NULL;
    if (!a && (a = calloc(1, sizeof(*a)))) {
        memcpy(a->key, key, sizeof(key));
        HASH_ADD(hh, lb->aff, key, sizeof(a->key), a);
    }
    if (a) {
        lbp_strlcpy(a->node, n->addr, sizeof(a->node));
        a->expires_ms = now + (uint64_t)lb->conf->affinity_timeout_s * 1000u;
    }
    /* Expired entries go when the table grows past what the live clients need. */
    if (HASH_COUNT(lb->aff) > 4096) {
        struct dp_aff *e, *t;
        HASH_ITER(hh, lb->aff, e, t)
        if (e->expires_ms <= now && e != a) {
            HASH_DEL(lb->aff, e);
            free(e);
        }
    }
    return n;
}

/* ------------------------------------------------------------ TCP */

static void count(struct lbp_metric *m, const char *a, const char *b, double v)
{
    const char *l[] = {a, b};
    lbp_metric_add(m, l, v);
}

static void hard_close(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* RST, not FIN */
    close(fd);
}

static void conn_close(struct dp_conn *c, bool reset)
{
    struct lbp_dp *dp = c->dp;
    for (int i = 0; i < 2; i++) {
        struct dp_dir *d = &c->d[i];
        event_del(&d->ev_r);
        event_del(&d->ev_w);
        free(d->buf);
        if (d->pipe[0] >= 0) {
            close(d->pipe[0]);
            close(d->pipe[1]);
        }
    }
    event_del(&c->ev_connect);
    if (reset) {
        hard_close(c->cfd);
        hard_close(c->bfd);
    } else {
        close(c->cfd);
        if (c->bfd >= 0)
            close(c->bfd);
    }
    count(m_bytes, c->service, "in", (double)c->d[0].total);
    count(m_bytes, c->service, "out", (double)c->d[1].total);
    count(m_active, c->service, "TCP", -1);
    if (c->prev)
        c->prev->next = c->next;
    else
        dp->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->service);
    free(c);
}

/* Moves what it can from d->from to d->to; returns false when it closed the connection. */
static bool pump(struct dp_conn *c, struct dp_dir *d)
{
    bool drained = false; /* the last read came up short: the socket is empty */
    for (int round = 0; round < DP_ROUNDS; round++) {
        ssize_t n;
        if (d->len || d->inpipe) {
            if (d->inpipe)
                n = splice(d->pipe[0], NULL, d->to, NULL, d->inpipe,
                           SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
            else
                n = send(d->to, d->buf + d->off, d->len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    event_add(&d->ev_w, NULL);
                    return true;
                }
                conn_close(c, true);
                return false;
            }
            if (d->inpipe) {
                d->inpipe -= (size_t)n;
            } else {
                d->off += (size_t)n;
                d->len -= (size_t)n;
                if (!d->len)
                    d->off = 0;
            }
            continue;
        }
        if (drained && !d->eof) {
            /* Saves the read that would only say EAGAIN: the next byte wakes us. */
            event_add(&d->ev_r, NULL);
            return true;
        }
        if (d->eof) {
            shutdown(d->to, SHUT_WR);
            d->done = true;
            if (c->d[0].done && c->d[1].done) {
                conn_close(c, false);
                return false;
            }
            return true;
        }
        if (d->pipe[0] < 0 && d->total >= DP_SPLICE_AFTER) {
            /* A long stream: from here on the bytes stay in the kernel. */
            if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0)
                (void)fcntl(d->pipe[1], F_SETPIPE_SZ, DP_PIPE_SIZE);
            else
                d->pipe[0] = d->pipe[1] = -1;
        }
        if (d->pipe[0] >= 0) {
            n = splice(d->from, NULL, d->pipe[1], NULL, DP_SPLICE_CHUNK,
                       SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
        } else {
            if (!d->buf && !(d->buf = malloc(DP_BUF))) {
                conn_close(c, true);
                return false;
            }
            n = recv(d->from, d->buf, DP_BUF, MSG_DONTWAIT);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                event_add(&d->ev_r, NULL);
                return true;
            }
            conn_close(c, true);
            return false;
        }
        if (n == 0) {
            d->eof = true;
            continue;
        }
        d->total += (uint64_t)n;
        if (d->pipe[0] >= 0) {
            d->inpipe = (size_t)n;
            drained = n < DP_SPLICE_CHUNK;
        } else {
            d->len = (size_t)n;
            drained = n < DP_BUF;
        }
    }
    /* Used its share: come back when the loop has served the others. */
    if (d->len || d->inpipe)
        event_add(&d->ev_w, NULL);
    else
        event_add(&d->ev_r, NULL);
    return true;
}

static void on_dir0(evutil_socket_t fd, short what, void *arg)
{
    struct dp_conn *c = arg;
    (void)fd;
    (void)what;
    pump(c, &c->d[0]);
}

static void on_dir1(evutil_socket_t fd, short what, void *arg)
{
    struct dp_conn *c = arg;
    (void)fd;
    (void)what;
    pump(c, &c->d[1]);
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
    struct dp_conn *c = arg;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    (void)what;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
        lbp_v(2, "mock data plane: %s: connect to a node failed: %s", c->service,
              strerror(soerr ? soerr : errno));
        count(m_refused, c->service, "backend_error", 1);
        conn_close(c, true);
        return;
    }
    /* The client may have spoken already; the node cannot have answered yet. */
    if (pump(c, &c->d[0]))
        event_add(&c->d[1].ev_r, NULL);
}

static void tcp_accept_one(struct lbp_dp *dp, struct dp_listener *l, int cfd,
                           const struct sockaddr_storage *peer)
{
    struct dp_lb *lb = l->lb;
    const char *svc = lb->conf->service;
    struct dp_node *n;
    struct dp_conn *c;
    struct sockaddr_storage to;
    int one = 1;
    if (!allowed(lb->conf, peer)) {
        count(m_refused, svc, "source_range", 1);
        hard_close(cfd);
        return;
    }
    if (!(n = pick(lb, peer))) {
        count(m_refused, svc, "no_backend", 1);
        hard_close(cfd);
        return;
    }
    if (!(c = calloc(1, sizeof(*c))) || !(c->service = lbp_strdup(svc))) {
        free(c);
        hard_close(cfd);
        return;
    }
    c->dp = dp;
    c->cfd = cfd;
    to = n->sa;
    sa_set_port(&to, l->node_port);
    c->bfd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    for (int i = 0; i < 2; i++)
        c->d[i].pipe[0] = c->d[i].pipe[1] = -1;
    c->d[0].from = c->d[1].to = cfd;
    c->d[0].to = c->d[1].from = c->bfd;
    event_assign(&c->d[0].ev_r, dp->base, cfd, EV_READ, on_dir0, c);
    event_assign(&c->d[0].ev_w, dp->base, c->bfd, EV_WRITE, on_dir0, c);
    event_assign(&c->d[1].ev_r, dp->base, c->bfd, EV_READ, on_dir1, c);
    event_assign(&c->d[1].ev_w, dp->base, cfd, EV_WRITE, on_dir1, c);
    event_assign(&c->ev_connect, dp->base, c->bfd, EV_WRITE, on_connected, c);
    c->next = dp->conns;
    if (dp->conns)
        dp->conns->prev = c;
    dp->conns = c;
    count(m_conns, svc, "TCP", 1);
    count(m_active, svc, "TCP", 1);
    if (c->bfd < 0) {
        count(m_refused, svc, "backend_error", 1);
        conn_close(c, true);
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->bfd, (struct sockaddr *)&to, n->salen) == 0) {
        on_connected(c->bfd, EV_WRITE, c);
    } else if (errno == EINPROGRESS) {
        event_add(&c->ev_connect, NULL);
    } else {
        lbp_v(2, "mock data plane: %s: connect to %s: %s", svc, n->addr, strerror(errno));
        count(m_refused, svc, "backend_error", 1);
        conn_close(c, true);
    }
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct dp_listener *l = arg;
    (void)what;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        int cfd = accept4(fd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                lbp_warn("mock data plane: accept on %s:%d: %s", l->vip, l->port, strerror(errno));
            return;
        }
        tcp_accept_one(l->lb->dp, l, cfd, &peer);
    }
}

/* ------------------------------------------------------------ UDP */

/* A flow's key: family, port and address of the client, nothing else. */
static void flow_key(const struct sockaddr_storage *sa, struct sockaddr_storage *key)
{
    memset(key, 0, sizeof(*key));
    if (sa->ss_family == AF_INET) {
        struct sockaddr_in *k = (struct sockaddr_in *)key;
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        k->sin_family = AF_INET;
        k->sin_port = s->sin_port;
        k->sin_addr = s->sin_addr;
    } else {
        struct sockaddr_in6 *k = (struct sockaddr_in6 *)key;
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        k->sin6_family = AF_INET6;
        k->sin6_port = s->sin6_port;
        k->sin6_addr = s->sin6_addr;
    }
}

#define FLOW_KEYLEN sizeof(struct sockaddr_in6)

static void flow_free(struct dp_flow *f)
{
    event_del(&f->ev);
    event_del(&f->timer);
    close(f->fd);
    HASH_DEL(f->l->flows, f);
    count(m_active, f->l->lb->conf->service, "UDP", -1);
    free(f);
}

static void on_flow_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dp_flow *f = arg;
    uint64_t idle = now_ms() - f->last_ms, limit = f->l->lb->dp->o.udp_idle_ms;
    struct timeval tv;
    (void)fd;
    (void)what;
    if (idle >= limit) {
        flow_free(f);
        return;
    }
    tv = tv_ms((unsigned)(limit - idle));
    evtimer_add(&f->timer, &tv);
}

/* Datagrams from the node: back to the client, from the VIP. */
static void on_flow(evutil_socket_t fd, short what, void *arg)
{
    struct dp_flow *f = arg;
    struct lbp_dp *dp = f->l->lb->dp;
    uint64_t bytes = 0;
    (void)what;
    for (int i = 0; i < DP_UDP_BATCH; i++) {
        ssize_t n = recv(fd, dp->rbuf, sizeof(dp->rbuf), MSG_DONTWAIT);
        if (n < 0)
            break; /* EAGAIN, or an ICMP error from the node: the client's retry decides */
        sendto(f->l->fd, dp->rbuf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&f->client, f->clen);
        bytes += (uint64_t)n;
    }
    f->last_ms = now_ms();
    if (bytes)
        count(m_bytes, f->l->lb->conf->service, "out", (double)bytes);
}

static struct dp_flow *flow_new(struct dp_listener *l, const struct sockaddr_storage *key,
                                socklen_t clen)
{
    struct dp_lb *lb = l->lb;
    const char *svc = lb->conf->service;
    struct dp_node *n;
    struct dp_flow *f;
    struct sockaddr_storage to;
    struct timeval tv = tv_ms(lb->dp->o.udp_idle_ms);
    if (!allowed(lb->conf, key)) {
        count(m_refused, svc, "source_range", 1);
        return NULL;
    }
    if (!(n = pick(lb, key))) {
        count(m_refused, svc, "no_backend", 1);
        return NULL;
    }
    if (!(f = calloc(1, sizeof(*f))))
        return NULL;
    to = n->sa;
    sa_set_port(&to, l->node_port);
    f->fd = socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || connect(f->fd, (struct sockaddr *)&to, n->salen) != 0) {
        lbp_v(2, "mock data plane: %s: UDP to %s: %s", svc, n->addr, strerror(errno));
        count(m_refused, svc, "backend_error", 1);
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        return NULL;
    }
    f->client = *key;
    f->clen = clen;
    f->l = l;
    f->last_ms = now_ms();
    event_assign(&f->ev, lb->dp->base, f->fd, EV_READ | EV_PERSIST, on_flow, f);
    evtimer_assign(&f->timer, lb->dp->base, on_flow_timer, f);
    event_add(&f->ev, NULL);
    evtimer_add(&f->timer, &tv);
    HASH_ADD(hh, l->flows, client, FLOW_KEYLEN, f);
    count(m_conns, svc, "UDP", 1);
    count(m_active, svc, "UDP", 1);
    return f;
}

/* Datagrams from clients: each client address:port is one flow to one node. */
static void on_udp(evutil_socket_t fd, short what, void *arg)
{
    struct dp_listener *l = arg;
    struct lbp_dp *dp = l->lb->dp;
    uint64_t bytes = 0;
    (void)what;
    for (int i = 0; i < DP_UDP_BATCH; i++) {
        struct sockaddr_storage peer, key;
        socklen_t pl = sizeof(peer);
        struct dp_flow *f = NULL;
        ssize_t n =
            recvfrom(fd, dp->rbuf, sizeof(dp->rbuf), MSG_DONTWAIT, (struct sockaddr *)&peer, &pl);
        if (n < 0)
            break;
        flow_key(&peer, &key);
        HASH_FIND(hh, l->flows, &key, FLOW_KEYLEN, f);
        if (!f && !(f = flow_new(l, &key, pl)))
            continue;
        send(f->fd, dp->rbuf, (size_t)n, MSG_DONTWAIT);
        f->last_ms = now_ms();
        bytes += (uint64_t)n;
    }
    if (bytes)
        count(m_bytes, l->lb->conf->service, "in", (double)bytes);
}

/* ------------------------------------------------------------ health checks */

int lbp_dp_http_status(const char *buf, size_t len)
{
    long code;
    char digits[4];
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    memcpy(digits, buf + 9, 3);
    digits[3] = '\0';
    if (lbp_parse_long(digits, 100, 599, &code))
        return -1;
    return (int)code;
}

static void lb_gauges(struct dp_lb *lb)
{
    size_t up = 0;
    const char *l[] = {lb->conf->service};
    for (size_t i = 0; i < lb->n_nodes; i++)
        up += lb->nodes[i]->healthy;
    lbp_metric_set(m_healthy, l, (double)up);
    lbp_metric_set(m_backends, l, (double)lb->n_nodes);
}

/* The port a check of this LB connects to; 0: nothing to check. */
static int hc_port(const struct dp_conf *c)
{
    if (c->local)
        return c->hc_port;
    for (size_t i = 0; i < c->n_ports; i++)
        if (!c->ports[i].udp && c->ports[i].node_port)
            return c->ports[i].node_port;
    return 0;
}

static void hc_done(struct dp_node *n, bool ok, const char *why)
{
    struct dp_lb *lb = n->lb;
    struct timeval tv = tv_ms(lb->dp->o.hc_interval_ms);
    const char *l[] = {lb->conf->service, n->addr, ok ? "pass" : "fail"};
    if (n->fd >= 0) {
        event_del(&n->io);
        close(n->fd);
        n->fd = -1;
    }
    lbp_metric_add(m_checks, l, 1);
    if (ok) {
        n->fail_run = 0;
        if (!n->healthy && ++n->ok_run >= lb->dp->o.hc_rise) {
            n->healthy = true;
            lbp_info("mock data plane: %s: node %s is healthy again", lb->conf->service, n->addr);
            lb_gauges(lb);
        }
    } else {
        n->ok_run = 0;
        if (n->healthy && ++n->fail_run >= lb->dp->o.hc_fall) {
            n->healthy = false;
            lbp_info("mock data plane: %s: node %s is unhealthy (%s): no new connections",
                     lb->conf->service, n->addr, why);
            lb_gauges(lb);
        }
    }
    evtimer_add(&n->timer, &tv);
}

static void on_hc_io(evutil_socket_t fd, short what, void *arg)
{
    struct dp_node *n = arg;
    struct timeval tv = tv_ms(n->lb->dp->o.hc_timeout_ms);
    if (what & EV_TIMEOUT) {
        hc_done(n, false, "timed out");
        return;
    }
    if (!n->sent) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        char req[160];
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            hc_done(n, false, strerror(soerr ? soerr : errno));
            return;
        }
        if (!n->lb->conf->local) {
            hc_done(n, true, NULL);
            return;
        }
        int len = snprintf(req, sizeof(req),
                           "GET /healthz HTTP/1.1\r\nHost: %s\r\nUser-Agent: lbprov-mock-lb\r\n"
                           "Connection: close\r\n\r\n",
                           n->addr);
        if (send(fd, req, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len) {
            hc_done(n, false, "cannot send the request");
            return;
        }
        n->sent = true;
        n->rlen = 0;
        event_del(&n->io);
        event_assign(&n->io, n->lb->dp->base, fd, EV_READ, on_hc_io, n);
        event_add(&n->io, &tv);
        return;
    }
    ssize_t r = recv(fd, n->rbuf + n->rlen, sizeof(n->rbuf) - 1 - n->rlen, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        event_add(&n->io, &tv);
        return;
    }
    if (r > 0)
        n->rlen += (size_t)r;
    if (r > 0 && n->rlen < 12 && n->rlen < sizeof(n->rbuf) - 1) {
        event_add(&n->io, &tv);
        return;
    }
    int code = lbp_dp_http_status(n->rbuf, n->rlen);
    hc_done(n, code == 200, code < 0 ? "no HTTP answer" : "/healthz did not answer 200");
}

static void on_hc_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dp_node *n = arg;
    struct timeval tv = tv_ms(n->lb->dp->o.hc_timeout_ms);
    struct sockaddr_storage to = n->sa;
    int port = hc_port(n->lb->conf);
    (void)fd;
    (void)what;
    if (port == 0) { /* UDP only: no TCP port to knock on */
        hc_done(n, true, NULL);
        return;
    }
    sa_set_port(&to, port);
    n->sent = false;
    n->fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (n->fd < 0) {
        hc_done(n, false, strerror(errno));
        return;
    }
    if (connect(n->fd, (struct sockaddr *)&to, n->salen) != 0 && errno != EINPROGRESS) {
        hc_done(n, false, strerror(errno));
        return;
    }
    event_assign(&n->io, n->lb->dp->base, n->fd, EV_WRITE, on_hc_io, n);
    event_add(&n->io, &tv);
}

static void node_free(struct dp_node *n)
{
    event_del(&n->timer);
    if (n->fd >= 0) {
        event_del(&n->io);
        close(n->fd);
    }
    free(n);
}

/* ------------------------------------------------------------ applying a conf */

static void conf_free(struct dp_conf *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->service);
    free(c->ports);
    free(c->ranges);
    free(c->nodes);
    free(c);
}

static void listener_close(struct dp_listener *l)
{
    struct dp_flow *f, *t;
    HASH_ITER(hh, l->flows, f, t)
    flow_free(f);
    event_del(&l->ev);
    close(l->fd);
    free(l);
}

static struct dp_listener *listener_open(struct dp_lb *lb, const char *vip,
                                         const struct lbp_dp_port *p, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    struct dp_listener *l;
    int one = 1;
    const char *proto = p->udp ? "UDP" : "TCP";
    if (make_sa(vip, p->port, &sa, &salen)) {
        snprintf(err, errlen, "VIP %s is not an IP address", vip);
        return NULL;
    }
    if (!(l = calloc(1, sizeof(*l))))
        return NULL;
    l->lb = lb;
    lbp_strlcpy(l->vip, vip, sizeof(l->vip));
    l->port = p->port;
    l->node_port = p->node_port;
    l->udp = p->udp;
    l->fd =
        socket(sa.ss_family, (p->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0)
        goto fail;
    if (!p->udp) /* TIME_WAIT must not block a listener reopened; on UDP it would allow twins */
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa.ss_family == AF_INET6)
        setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(l->fd, (struct sockaddr *)&sa, salen) != 0 ||
        (!p->udp && listen(l->fd, SOMAXCONN) != 0))
        goto fail;
    event_assign(&l->ev, lb->dp->base, l->fd, EV_READ | EV_PERSIST, p->udp ? on_udp : on_accept, l);
    event_add(&l->ev, NULL);
    lbp_v(1, "mock data plane: %s: listening on %s:%d/%s -> NodePort %d", lb->conf->service, vip,
          p->port, proto, p->node_port);
    return l;
fail:;
    int e = errno;
    snprintf(err, errlen, "mock data plane: cannot listen on %s:%d/%s: %s%s", vip, p->port, proto,
             strerror(e),
             e == EACCES          ? " (ports below 1024 need CAP_NET_BIND_SERVICE, or lower "
                                    "net.ipv4.ip_unprivileged_port_start)"
             : e == EADDRNOTAVAIL ? " (the VIP is not on this host: use a vipRange in "
                                    "127.0.0.0/8, or set vipInterface)"
                                  : "");
    if (l->fd >= 0)
        close(l->fd);
    free(l);
    return NULL;
}

static void lb_destroy(struct lbp_dp *dp, struct dp_lb *lb)
{
    struct dp_aff *a, *t;
    const char *l[] = {lb->conf->service};
    for (size_t i = 0; i < lb->n_ls; i++)
        listener_close(lb->ls[i]);
    for (size_t i = 0; i < lb->n_nodes; i++)
        node_free(lb->nodes[i]);
    HASH_ITER(hh, lb->aff, a, t)
    {
        HASH_DEL(lb->aff, a);
        free(a);
    }
    for (int i = 0; i < 2; i++)
        if (lb->added[i][0])
            addr_change(dp->ifindex, lb->added[i], false);
    lbp_metric_set(m_healthy, l, 0);
    lbp_metric_set(m_backends, l, 0);
    HASH_DEL(dp->lbs, lb);
    free(lb->ls);
    free(lb->nodes);
    free(lb->name);
    conf_free(lb->conf);
    free(lb);
}

static bool conf_has_vip(const struct dp_conf *c, const char *vip)
{
    for (size_t i = 0; i < c->n_vips; i++)
        if (strcmp(c->vips[i], vip) == 0)
            return true;
    return false;
}

/* VIPs onto (and off) the dummy link. */
static void lb_vips(struct lbp_dp *dp, struct dp_lb *lb, bool add, char *err, size_t errlen,
                    int *rc)
{
    if (!dp->o.vip_interface[0])
        return;
    for (int i = 0; i < 2; i++) {
        if (!add && lb->added[i][0] && !conf_has_vip(lb->conf, lb->added[i])) {
            addr_change(dp->ifindex, lb->added[i], false);
            lb->added[i][0] = '\0';
        }
    }
    for (size_t i = 0; add && i < lb->conf->n_vips; i++) {
        const char *v = lb->conf->vips[i];
        int slot = -1, e;
        for (int j = 0; j < 2; j++)
            if (strcmp(lb->added[j], v) == 0)
                slot = j;
        if (slot >= 0)
            continue;
        for (int j = 0; j < 2 && slot < 0; j++)
            if (!lb->added[j][0])
                slot = j;
        if (slot < 0)
            continue;
        if ((e = addr_change(dp->ifindex, v, true)) != 0) {
            if (!*rc)
                snprintf(err, errlen, "mock data plane: cannot put %s on %s: %s", v,
                         dp->o.vip_interface, strerror(-e));
            *rc = LBP_RETRY;
            continue;
        }
        lbp_strlcpy(lb->added[slot], v, sizeof(lb->added[slot]));
    }
}

static int lb_apply(struct lbp_dp *dp, struct dp_req *r)
{
    struct dp_lb *lb = NULL;
    struct dp_conf *c = r->conf;
    struct dp_listener **ls = NULL;
    struct dp_node **nodes = NULL;
    size_t n_ls = 0, n_nodes = 0;
    int rc = LBP_OK;
    char why[256];

    HASH_FIND_STR(dp->lbs, r->name, lb);
    if (r->remove) {
        if (lb)
            lb_destroy(dp, lb);
        return LBP_OK;
    }
    r->conf = NULL;
    if (!(ls = calloc(c->n_vips * c->n_ports + 1, sizeof(*ls))) ||
        !(nodes = calloc(c->n_nodes + 1, sizeof(*nodes)))) {
        free(ls);
        conf_free(c);
        return LBP_NOMEM;
    }
    if (!lb) {
        if (!(lb = calloc(1, sizeof(*lb))) || !(lb->name = lbp_strdup(r->name))) {
            free(lb);
            free(ls);
            free(nodes);
            conf_free(c);
            return LBP_NOMEM;
        }
        lb->dp = dp;
        HASH_ADD_KEYPTR(hh, dp->lbs, lb->name, strlen(lb->name), lb);
    }
    conf_free(lb->conf);
    lb->conf = c;
    lb_vips(dp, lb, true, r->err, sizeof(r->err), &rc);
    /* Listeners: keep those still wanted (their flows too), open the new ones. */
    for (size_t v = 0; v < c->n_vips; v++) {
        for (size_t p = 0; p < c->n_ports; p++) {
            struct dp_listener *l = NULL;
            for (size_t k = 0; k < lb->n_ls && !l; k++) {
                struct dp_listener *o = lb->ls[k];
                if (o && o->port == c->ports[p].port && o->udp == c->ports[p].udp &&
                    strcmp(o->vip, c->vips[v]) == 0) {
                    l = o;
                    lb->ls[k] = NULL;
                }
            }
            if (l) {
                l->node_port = c->ports[p].node_port;
            } else if (!(l = listener_open(lb, c->vips[v], &c->ports[p], why, sizeof(why)))) {
                if (!rc)
                    lbp_strlcpy(r->err, why, sizeof(r->err));
                rc = LBP_RETRY;
                continue;
            }
            ls[n_ls++] = l;
        }
    }
    for (size_t k = 0; k < lb->n_ls; k++)
        if (lb->ls[k]) {
            lbp_v(1, "mock data plane: %s: closing %s:%d/%s", c->service, lb->ls[k]->vip,
                  lb->ls[k]->port, lb->ls[k]->udp ? "UDP" : "TCP");
            listener_close(lb->ls[k]);
        }
    free(lb->ls);
    lb->ls = ls;
    lb->n_ls = n_ls;
    lb_vips(dp, lb, false, NULL, 0, &rc);
    /* Nodes: those staying keep their health; a new one is checked at once. */
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct dp_node *n = NULL;
        for (size_t k = 0; k < lb->n_nodes && !n; k++)
            if (lb->nodes[k] && strcmp(lb->nodes[k]->addr, c->nodes[i]) == 0) {
                n = lb->nodes[k];
                lb->nodes[k] = NULL;
            }
        if (!n) {
            struct timeval now = {0, 0};
            if (!(n = calloc(1, sizeof(*n))))
                continue;
            if (make_sa(c->nodes[i], 0, &n->sa, &n->salen)) {
                lbp_warn("mock data plane: %s: node address '%s' is not an IP address", c->service,
                         c->nodes[i]);
                free(n);
                continue;
            }
            n->lb = lb;
            n->fd = -1;
            n->healthy = true;
            lbp_strlcpy(n->addr, c->nodes[i], sizeof(n->addr));
            evtimer_assign(&n->timer, dp->base, on_hc_timer, n);
            evtimer_add(&n->timer, &now);
        }
        nodes[n_nodes++] = n;
    }
    for (size_t k = 0; k < lb->n_nodes; k++)
        if (lb->nodes[k]) {
            lbp_v(1, "mock data plane: %s: node %s left: its connections drain", c->service,
                  lb->nodes[k]->addr);
            node_free(lb->nodes[k]);
        }
    free(lb->nodes);
    lb->nodes = nodes;
    lb->n_nodes = n_nodes;
    if (!c->affinity) {
        struct dp_aff *a, *t;
        HASH_ITER(hh, lb->aff, a, t)
        {
            HASH_DEL(lb->aff, a);
            free(a);
        }
    }
    lb_gauges(lb);
    return rc;
}

/* ------------------------------------------------------------ the loop thread */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct lbp_dp *dp = arg;
    struct dp_req *q, *rev = NULL;
    (void)fd;
    (void)what;
    pthread_mutex_lock(&dp->mu);
    q = dp->queue;
    dp->queue = NULL;
    if (dp->stopping)
        event_base_loopbreak(dp->base);
    pthread_mutex_unlock(&dp->mu);
    while (q) { /* the queue is pushed at the head: apply oldest first */
        struct dp_req *next = q->next;
        q->next = rev;
        rev = q;
        q = next;
    }
    for (struct dp_req *r = rev, *next; r; r = next) {
        int rc = lb_apply(dp, r);
        next = r->next;
        pthread_mutex_lock(&dp->mu);
        r->rc = rc;
        r->done = true;
        pthread_cond_broadcast(&dp->cv);
        pthread_mutex_unlock(&dp->mu);
    }
}

static void *loop_main(void *arg)
{
    struct lbp_dp *dp = arg;
    event_base_loop(dp->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;
static void evthread_init(void)
{
    evthread_rc = evthread_use_pthreads();
}

void lbp_dp_opts_default(struct lbp_dp_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->hc_interval_ms = 2000;
    o->hc_timeout_ms = 1000;
    o->hc_rise = 2;
    o->hc_fall = 2;
    o->udp_idle_ms = 60000;
}

int lbp_dp_new(const struct lbp_dp_opts *opts, struct lbp_dp **out, char *err, size_t errlen)
{
    struct lbp_dp *dp;
    sigset_t all, old;
    int rc = LBP_OK;
    pthread_once(&evthread_once, evthread_init);
    if (evthread_rc != 0) {
        snprintf(err, errlen, "mock data plane: libevent has no pthreads support");
        return LBP_IO;
    }
    if (!(dp = calloc(1, sizeof(*dp))))
        return LBP_NOMEM;
    dp->o = *opts;
    pthread_mutex_init(&dp->mu, NULL);
    pthread_cond_init(&dp->cv, NULL);
    if (dp->o.vip_interface[0] &&
        (rc = link_ensure(dp->o.vip_interface, &dp->ifindex, err, errlen)))
        goto out;
    struct event_config *ec = event_config_new();
    if (ec) /* batch the epoll_ctl calls of events re-armed in the same turn */
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    dp->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    if (!dp->base || !(dp->wake = event_new(dp->base, -1, 0, on_wake, dp))) {
        snprintf(err, errlen, "mock data plane: cannot create the event loop");
        rc = LBP_IO;
        goto out;
    }
    metrics_register();
    /* The loop thread takes no signal: the controller's main thread handles them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&dp->thread, NULL, loop_main, dp) != 0) {
        snprintf(err, errlen, "mock data plane: cannot start its thread");
        rc = LBP_IO;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        goto out;
    lbp_info("mock data plane: on (health checks every %u ms, %u to fail, %u to recover; UDP "
             "flows idle out after %u ms%s%s)",
             dp->o.hc_interval_ms, dp->o.hc_fall, dp->o.hc_rise, dp->o.udp_idle_ms,
             dp->o.vip_interface[0] ? "; VIPs on " : "", dp->o.vip_interface);
out:
    if (rc) {
        if (dp->wake)
            event_free(dp->wake);
        if (dp->base)
            event_base_free(dp->base);
        pthread_cond_destroy(&dp->cv);
        pthread_mutex_destroy(&dp->mu);
        free(dp);
        return rc;
    }
    *out = dp;
    return LBP_OK;
}

/* Queues r for the loop and waits until it is applied. */
static void submit(struct lbp_dp *dp, struct dp_req *r)
{
    pthread_mutex_lock(&dp->mu);
    r->next = dp->queue;
    dp->queue = r;
    event_active(dp->wake, 0, 0);
    while (!r->done)
        pthread_cond_wait(&dp->cv, &dp->mu);
    pthread_mutex_unlock(&dp->mu);
}

int lbp_dp_apply(struct lbp_dp *dp, const struct lbp_dp_lb *lb, char *err, size_t errlen)
{
    struct dp_req r = {0};
    struct dp_conf *c = calloc(1, sizeof(*c));
    int rc = LBP_NOMEM;
    if (!c)
        return LBP_NOMEM;
    if (!(c->name = lbp_strdup(lb->name)) || !(c->service = lbp_strdup(lb->service)) ||
        !(c->ports = calloc(lb->n_ports + 1, sizeof(*c->ports))) ||
        !(c->ranges = calloc(lb->n_ranges + 1, sizeof(*c->ranges))) ||
        !(c->nodes = calloc(lb->n_nodes + 1, sizeof(*c->nodes))))
        goto out;
    for (size_t i = 0; i < lb->n_vips && i < 2; i++)
        lbp_strlcpy(c->vips[c->n_vips++], lb->vips[i], sizeof(c->vips[0]));
    memcpy(c->ports, lb->ports, lb->n_ports * sizeof(*c->ports));
    c->n_ports = lb->n_ports;
    for (size_t i = 0; i < lb->n_ranges; i++, c->n_ranges++)
        if (parse_cidr(lb->ranges[i], &c->ranges[i])) {
            snprintf(err, errlen, "source range '%s' is not a CIDR", lb->ranges[i]);
            rc = LBP_INVALID;
            goto out;
        }
    for (size_t i = 0; i < lb->n_nodes; i++)
        lbp_strlcpy(c->nodes[c->n_nodes++], lb->nodes[i], sizeof(c->nodes[0]));
    c->local = lb->local;
    c->hc_port = lb->hc_port;
    c->affinity = lb->affinity;
    c->affinity_timeout_s = lb->affinity_timeout_s > 0 ? lb->affinity_timeout_s : 10800;
    lbp_strlcpy(r.name, lb->name, sizeof(r.name));
    r.conf = c;
    c = NULL;
    submit(dp, &r);
    conf_free(r.conf); /* set only when the loop did not take it */
    rc = r.rc;
    if (rc)
        snprintf(err, errlen, "%s", r.err[0] ? r.err : lbp_rc_str(rc));
out:
    conf_free(c);
    return rc;
}

void lbp_dp_remove(struct lbp_dp *dp, const char *name)
{
    struct dp_req r = {0};
    lbp_strlcpy(r.name, name, sizeof(r.name));
    r.remove = true;
    submit(dp, &r);
}

void lbp_dp_free(struct lbp_dp *dp)
{
    struct dp_lb *lb, *t;
    if (!dp)
        return;
    pthread_mutex_lock(&dp->mu);
    dp->stopping = true;
    event_active(dp->wake, 0, 0);
    pthread_mutex_unlock(&dp->mu);
    pthread_join(dp->thread, NULL);
    HASH_ITER(hh, dp->lbs, lb, t)
    lb_destroy(dp, lb);
    while (dp->conns)
        conn_close(dp->conns, false);
    event_free(dp->wake);
    event_base_free(dp->base);
    pthread_cond_destroy(&dp->cv);
    pthread_mutex_destroy(&dp->mu);
    free(dp);
}
