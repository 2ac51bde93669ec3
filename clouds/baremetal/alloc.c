/*
 * alloc.c — the bare-metal allocation table: who holds which address, the
 * sharing rules, and the search for a free address.
 *
 * Nothing here enumerates a range. A free address is found by walking from
 * the start of each range and stepping over addresses that are allocated
 * (a hash lookup each) or skipped by avoidBuggyIPs; every step past the
 * first lands on an allocated or skipped address, so the walk is bounded
 * by the allocations, and an IPv6 /64 costs the same as a /30.
 *
 * Sharing (allow-shared-ip): Services may hold the same address when they
 * carry the same non-empty key, no port+protocol appears in both, and either
 * both use externalTrafficPolicy Cluster or both have the same pod selector
 * (selector_hash) — with Local, the address can only be announced from a
 * node that has endpoints of every sharer, which identical selectors
 * guarantee.
 */
#include "clouds/baremetal/baremetal_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rc.h"
#include "common/util.h"

static void addr_key(const struct lbp_ip *ip, unsigned char key[LBP_BM_ADDR_KEY])
{
    unsigned __int128 v = ip->v;
    key[0] = (unsigned char)ip->family;
    for (int i = 16; i >= 1; i--) {
        key[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

struct lbp_bm_svc *lbp_bm_svc_new(const struct lbp_lb_spec *spec, const char *share_key)
{
    struct lbp_bm_svc *s = calloc(1, sizeof(*s));
    size_t klen;
    if (!s)
        return NULL;
    klen = strlen(spec->namespace) + strlen(spec->name) + 2;
    if (!(s->key = malloc(klen)))
        goto fail;
    snprintf(s->key, klen, "%s/%s", spec->namespace, spec->name);
    s->ns = strdup(spec->namespace);
    s->name = strdup(spec->name);
    s->uid = strdup(spec->uid ? spec->uid : "");
    if (!s->ns || !s->name || !s->uid)
        goto fail;
    if (share_key && *share_key && !(s->share_key = strdup(share_key)))
        goto fail;
    if (spec->selector_hash && *spec->selector_hash &&
        !(s->selector_hash = strdup(spec->selector_hash)))
        goto fail;
    s->local = spec->local_traffic;
    if (spec->n_ports) {
        if (!(s->ports = calloc(spec->n_ports, sizeof(*s->ports))))
            goto fail;
        for (size_t i = 0; i < spec->n_ports; i++) {
            lbp_strlcpy(s->ports[i].proto,
                        spec->ports[i].protocol ? spec->ports[i].protocol : "TCP",
                        sizeof(s->ports[i].proto));
            s->ports[i].port = spec->ports[i].port;
        }
        s->n_ports = spec->n_ports;
    }
    return s;
fail:
    lbp_bm_svc_free(s);
    return NULL;
}

void lbp_bm_svc_free(struct lbp_bm_svc *s)
{
    if (!s)
        return;
    free(s->key);
    free(s->ns);
    free(s->name);
    free(s->uid);
    free(s->share_key);
    free(s->selector_hash);
    free(s->ports);
    free(s);
}

struct lbp_bm_svc *lbp_bm_find_svc(struct lbp_bm_table *t, const char *ns, const char *name)
{
    char key[600];
    struct lbp_bm_svc *s = NULL;
    if (snprintf(key, sizeof(key), "%s/%s", ns, name) >= (int)sizeof(key))
        return NULL;
    HASH_FIND_STR(t->svcs, key, s);
    return s;
}

struct lbp_bm_addr *lbp_bm_find_addr(struct lbp_bm_table *t, const struct lbp_ip *ip)
{
    unsigned char key[LBP_BM_ADDR_KEY];
    struct lbp_bm_addr *a = NULL;
    addr_key(ip, key);
    HASH_FIND(hh, t->addrs, key, LBP_BM_ADDR_KEY, a);
    return a;
}

/* The first port both use with the same protocol, or NULL. */
static const struct lbp_bm_port *port_collision(const struct lbp_bm_svc *a,
                                                const struct lbp_bm_svc *b)
{
    for (size_t i = 0; i < a->n_ports; i++)
        for (size_t j = 0; j < b->n_ports; j++)
            if (a->ports[i].port == b->ports[j].port &&
                strcmp(a->ports[i].proto, b->ports[j].proto) == 0)
                return &a->ports[i];
    return NULL;
}

static bool compatible(const struct lbp_bm_svc *a, const struct lbp_bm_svc *b, const char *ip,
                       char *why, size_t whylen)
{
    const struct lbp_bm_port *p;
    if (!a->share_key || !b->share_key || strcmp(a->share_key, b->share_key) != 0) {
        snprintf(why, whylen, "address %s is already in use by %s", ip, b->key);
        return false;
    }
    if ((p = port_collision(a, b))) {
        snprintf(why, whylen, "address %s is shared with %s, which also uses port %d/%s", ip,
                 b->key, p->port, p->proto);
        return false;
    }
    bool same_pods =
        a->selector_hash && b->selector_hash && strcmp(a->selector_hash, b->selector_hash) == 0;
    if ((a->local || b->local) && !same_pods) {
        snprintf(why, whylen,
                 "address %s is shared with %s: with externalTrafficPolicy Local, sharing "
                 "Services need the same pod selector",
                 ip, b->key);
        return false;
    }
    return true;
}

bool lbp_bm_can_hold(struct lbp_bm_table *t, const struct lbp_bm_svc *s, const struct lbp_ip *ip,
                     char *why, size_t whylen)
{
    struct lbp_bm_addr *a = lbp_bm_find_addr(t, ip);
    char text[LBP_IP_STRLEN];
    if (!a)
        return true;
    lbp_ip_format(ip, text);
    for (size_t i = 0; i < a->n_holders; i++) {
        const struct lbp_bm_svc *h = a->holders[i];
        if (strcmp(h->key, s->key) == 0)
            continue;
        if (!compatible(s, h, text, why, whylen))
            return false;
    }
    return true;
}

/* A held address s could share: the lowest one inside p, for determinism. */
static bool pick_shared(struct lbp_bm_table *t, const struct lbp_pool *p, int family,
                        const struct lbp_bm_svc *s, struct lbp_ip *out)
{
    char why[LBP_ERRBUF_SIZE];
    bool found = false;
    struct lbp_bm_addr *a, *tmp;
    HASH_ITER(hh, t->addrs, a, tmp)
    {
        if (a->ip.family != family || (found && a->ip.v >= out->v))
            continue;
        if (!lbp_pool_usable(p, &a->ip) || !lbp_bm_can_hold(t, s, &a->ip, why, sizeof(why)))
            continue;
        *out = a->ip;
        found = true;
    }
    return found;
}

bool lbp_bm_pick(struct lbp_bm_table *t, const struct lbp_pool *p, int family,
                 const struct lbp_bm_svc *s, struct lbp_ip *out)
{
    if (s->share_key && pick_shared(t, p, family, s, out))
        return true;
    for (size_t i = 0; i < p->n_ranges; i++) {
        const struct lbp_ip_range *r = &p->ranges[i];
        if (r->family != family)
            continue;
        struct lbp_ip ip = {family, r->first};
        for (;;) {
            bool skip = (p->avoid_buggy_ips && lbp_ip_is_buggy(&ip)) || lbp_bm_find_addr(t, &ip);
            if (!skip) {
                *out = ip;
                return true;
            }
            if (ip.v == r->last)
                break;
            ip.v++;
        }
    }
    return false;
}

static int hold(struct lbp_bm_table *t, struct lbp_bm_svc *s, const struct lbp_ip *ip)
{
    struct lbp_bm_addr *a = lbp_bm_find_addr(t, ip);
    if (!a) {
        if (!(a = calloc(1, sizeof(*a))))
            return LBP_NOMEM;
        a->ip = *ip;
        addr_key(ip, a->key);
        HASH_ADD(hh, t->addrs, key, LBP_BM_ADDR_KEY, a);
    }
    struct lbp_bm_svc **nh = realloc(a->holders, (a->n_holders + 1) * sizeof(*nh));
    if (!nh) {
        if (a->n_holders == 0) {
            HASH_DEL(t->addrs, a);
            free(a);
        }
        return LBP_NOMEM;
    }
    a->holders = nh;
    nh[a->n_holders++] = s;
    return LBP_OK;
}

static void unhold(struct lbp_bm_table *t, struct lbp_bm_svc *s, const struct lbp_ip *ip)
{
    struct lbp_bm_addr *a = lbp_bm_find_addr(t, ip);
    if (!a)
        return;
    for (size_t i = 0; i < a->n_holders; i++)
        if (a->holders[i] == s) {
            a->holders[i] = a->holders[--a->n_holders];
            break;
        }
    if (a->n_holders == 0) {
        HASH_DEL(t->addrs, a);
        free(a->holders);
        free(a);
    }
}

int lbp_bm_insert(struct lbp_bm_table *t, struct lbp_bm_svc *s)
{
    for (size_t i = 0; i < s->n_addrs; i++) {
        if (hold(t, s, &s->addrs[i]) != LBP_OK) {
            while (i-- > 0)
                unhold(t, s, &s->addrs[i]);
            return LBP_NOMEM;
        }
    }
    HASH_ADD_KEYPTR(hh, t->svcs, s->key, strlen(s->key), s);
    return LBP_OK;
}

void lbp_bm_release(struct lbp_bm_table *t, struct lbp_bm_svc *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_addrs; i++)
        unhold(t, s, &s->addrs[i]);
    HASH_DEL(t->svcs, s);
    lbp_bm_svc_free(s);
}

void lbp_bm_table_clear(struct lbp_bm_table *t)
{
    struct lbp_bm_svc *s, *tmp;
    HASH_ITER(hh, t->svcs, s, tmp)
    {
        lbp_bm_release(t, s);
    }
}

size_t lbp_bm_in_use(struct lbp_bm_table *t, const struct lbp_pool *p)
{
    size_t n = 0;
    struct lbp_bm_addr *a, *tmp;
    HASH_ITER(hh, t->addrs, a, tmp)
    {
        if (lbp_pool_usable(p, &a->ip))
            n++;
    }
    return n;
}
