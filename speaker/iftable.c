/*
 * iftable.c — this host's interfaces and their addresses, read with two
 * rtnetlink dumps (RTM_GETLINK, RTM_GETADDR), and the rule that picks the
 * interfaces a VIP is announced on.
 *
 * The table is rebuilt whole on every change notification rather than
 * patched from the individual events: a dump costs a few kilobytes, changes
 * are rare, and a missed or overrun event can then never leave it stale.
 */
#include "speaker/speaker_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <errno.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF 32768

void lbp_iftable_clear(struct lbp_iftable *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].addrs);
    free(t->v);
    memset(t, 0, sizeof(*t));
}

struct lbp_iface *lbp_iftable_get(struct lbp_iftable *t, int index, bool create)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].index == index)
            return &t->v[i];
    if (!create || t->n >= LBP_IFTABLE_MAX_IFACES)
        return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct lbp_iface *v = realloc(t->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    struct lbp_iface *ifc = &t->v[t->n++];
    memset(ifc, 0, sizeof(*ifc));
    ifc->index = index;
    return ifc;
}

int lbp_iface_add_addr(struct lbp_iface *ifc, int family, const uint8_t *addr, uint8_t plen)
{
    if ((family != AF_INET && family != AF_INET6) || plen > (family == AF_INET ? 32 : 128))
        return LBP_INVALID;
    if (ifc->n_addrs >= LBP_IFACE_MAX_ADDRS)
        return LBP_TOOBIG;
    if (ifc->n_addrs == ifc->cap_addrs) {
        size_t cap = ifc->cap_addrs ? ifc->cap_addrs * 2 : 4;
        struct lbp_ifaddr *v = realloc(ifc->addrs, cap * sizeof(*v));
        if (!v)
            return LBP_NOMEM;
        ifc->addrs = v;
        ifc->cap_addrs = cap;
    }
    struct lbp_ifaddr *a = &ifc->addrs[ifc->n_addrs++];
    memset(a, 0, sizeof(*a));
    a->family = family;
    memcpy(a->addr, addr, family == AF_INET ? 4 : 16);
    a->prefixlen = plen;
    return LBP_OK;
}

bool lbp_prefix_contains(int family, const uint8_t *net, unsigned plen, const uint8_t *addr)
{
    unsigned bits = family == AF_INET ? 32 : 128;
    if (plen > bits)
        return false;
    unsigned full = plen / 8, rest = plen % 8;
    if (memcmp(net, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net[full] & mask) == (addr[full] & mask);
}

static bool usable(const struct lbp_iface *ifc)
{
    return ifc->up && ifc->ether;
}

size_t lbp_iftable_pick(const struct lbp_iftable *t, const struct lbp_vip *v, size_t *out,
                        size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct lbp_iface *ifc = &t->v[i];
        if (!usable(ifc))
            continue;
        bool match = false;
        if (v->n_ifaces) {
            for (size_t k = 0; k < v->n_ifaces && !match; k++)
                match = strcmp(v->ifaces[k], ifc->name) == 0;
        } else {
            /* A host route (/32, /128) holds only itself, not a subnet: a VIP
             * that happens to be configured on this NIC does not make the NIC
             * the VIP's segment. */
            unsigned host = v->family == AF_INET ? 32 : 128;
            for (size_t k = 0; k < ifc->n_addrs && !match; k++) {
                const struct lbp_ifaddr *a = &ifc->addrs[k];
                match = a->family == v->family && a->prefixlen < host &&
                        lbp_prefix_contains(a->family, a->addr, a->prefixlen, v->addr);
            }
        }
        if (match && n < cap)
            out[n++] = i;
    }
    return n;
}

/* ---- rtnetlink dump ---------------------------------------------------- */

static void parse_link(struct lbp_iftable *t, const struct nlmsghdr *h)
{
    const struct ifinfomsg *ifi = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
        return;
    struct lbp_iface *ifc = lbp_iftable_get(t, ifi->ifi_index, true);
    if (!ifc)
        return;
    ifc->up = (ifi->ifi_flags & IFF_UP) != 0;
    bool mac6 = false;
    int len = (int)IFLA_PAYLOAD(h);
    for (const struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        size_t plen = RTA_PAYLOAD(rta);
        if (rta->rta_type == IFLA_IFNAME && plen > 0) {
            size_t n = plen < sizeof(ifc->name) ? plen : sizeof(ifc->name) - 1;
            memcpy(ifc->name, RTA_DATA(rta), n);
            ifc->name[n] = 0;
        } else if (rta->rta_type == IFLA_ADDRESS && plen == LBP_ETH_ALEN) {
            memcpy(ifc->mac, RTA_DATA(rta), LBP_ETH_ALEN);
            mac6 = true;
        }
    }
    ifc->ether = ifi->ifi_type == ARPHRD_ETHER && mac6 && !(ifi->ifi_flags & IFF_NOARP);
}

static void parse_addr(struct lbp_iftable *t, const struct nlmsghdr *h)
{
    const struct ifaddrmsg *ifa = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
        return;
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
        return;
    struct lbp_iface *ifc = lbp_iftable_get(t, (int)ifa->ifa_index, false);
    if (!ifc)
        return;
    size_t alen = ifa->ifa_family == AF_INET ? 4 : 16;
    const void *local = NULL, *address = NULL;
    int len = (int)IFA_PAYLOAD(h);
    for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (RTA_PAYLOAD(rta) != alen)
            continue;
        if (rta->rta_type == IFA_LOCAL)
            local = RTA_DATA(rta);
        else if (rta->rta_type == IFA_ADDRESS)
            address = RTA_DATA(rta);
    }
    /* IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
     * point-to-point links and equal to it otherwise. */
    const void *a = local ? local : address;
    if (a)
        (void)lbp_iface_add_addr(ifc, ifa->ifa_family, a, ifa->ifa_prefixlen);
}

static int dump(int fd, uint16_t type, uint32_t seq, struct lbp_iftable *t, uint8_t *buf)
{
    struct {
        struct nlmsghdr h;
        struct rtgenmsg g;
    } req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.g));
    req.h.nlmsg_type = type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = seq;
    req.g.rtgen_family = AF_UNSPEC;
    if (send(fd, &req, req.h.nlmsg_len, 0) < 0)
        return LBP_IO;
    for (;;) {
        ssize_t n = recv(fd, buf, NL_BUF, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return LBP_IO; /* includes the SO_RCVTIMEO timeout */
        }
        int len = (int)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
             h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return LBP_OK;
            if (h->nlmsg_type == NLMSG_ERROR)
                return LBP_IO;
            if (h->nlmsg_type == RTM_NEWLINK)
                parse_link(t, h);
            else if (h->nlmsg_type == RTM_NEWADDR)
                parse_addr(t, h);
        }
    }
}

int lbp_iftable_dump(struct lbp_iftable *t)
{
    int rc = LBP_IO;
    uint8_t *buf = NULL;
    static uint32_t seq_base;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        goto out;
    struct timeval tv = {.tv_sec = 1};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    buf = malloc(NL_BUF);
    if (!buf) {
        rc = LBP_NOMEM;
        goto out;
    }
    lbp_iftable_clear(t);
    uint32_t seq = __atomic_add_fetch(&seq_base, 2, __ATOMIC_RELAXED);
    rc = dump(fd, RTM_GETLINK, seq, t, buf);
    if (rc == LBP_OK)
        rc = dump(fd, RTM_GETADDR, seq + 1, t, buf);
    if (rc != LBP_OK)
        lbp_warn("speaker: rtnetlink dump failed: %s", strerror(errno));
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
