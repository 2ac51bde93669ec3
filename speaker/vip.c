/*
 * vip.c — VIP values and sets: parsing, printing, a total order by
 * (family, address), normalization (sort + merge duplicates) and the diff the
 * announcer uses to tell taken-over VIPs from released ones.
 */
#include "speaker/speaker_int.h"
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int lbp_vip_parse(const char *s, struct lbp_vip *v)
{
    if (!s || !v)
        return LBP_PARSE;
    memset(v, 0, sizeof(*v));
    if (strlen(s) >= INET6_ADDRSTRLEN)
        return LBP_PARSE;
    if (inet_pton(AF_INET, s, v->addr) == 1) {
        v->family = AF_INET;
        return LBP_OK;
    }
    if (inet_pton(AF_INET6, s, v->addr) == 1) {
        v->family = AF_INET6;
        return LBP_OK;
    }
    return LBP_PARSE;
}

int lbp_vip_add_iface(struct lbp_vip *v, const char *ifname)
{
    if (!ifname || !*ifname || strlen(ifname) >= LBP_IFNAME_MAX)
        return LBP_INVALID;
    for (size_t i = 0; i < v->n_ifaces; i++)
        if (strcmp(v->ifaces[i], ifname) == 0)
            return LBP_OK;
    if (v->n_ifaces >= LBP_VIP_MAX_IFACES)
        return LBP_TOOBIG;
    lbp_strlcpy(v->ifaces[v->n_ifaces++], ifname, LBP_IFNAME_MAX);
    return LBP_OK;
}

const char *lbp_vip_str(const struct lbp_vip *v, char *out, size_t cap)
{
    if (!v || !inet_ntop(v->family, v->addr, out, (socklen_t)cap))
        lbp_strlcpy(out, "?", cap);
    return out;
}

static size_t addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

int lbp_vip_cmp(const struct lbp_vip *a, const struct lbp_vip *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->addr, b->addr, addr_len(a->family));
}

static int cmp_qsort(const void *a, const void *b)
{
    return lbp_vip_cmp(a, b);
}

void lbp_vipset_normalize(struct lbp_vip *v, size_t *n)
{
    if (*n < 2)
        return;
    qsort(v, *n, sizeof(*v), cmp_qsort);
    size_t w = 0;
    for (size_t r = 1; r < *n; r++) {
        if (lbp_vip_cmp(&v[w], &v[r]) == 0) {
            /* Same VIP twice: announce on the union of both interface lists;
             * "any interface" (an empty list) wins over a restriction. */
            if (v[w].n_ifaces == 0 || v[r].n_ifaces == 0) {
                v[w].n_ifaces = 0;
            } else {
                for (size_t i = 0; i < v[r].n_ifaces; i++)
                    (void)lbp_vip_add_iface(&v[w], v[r].ifaces[i]);
            }
            continue;
        }
        v[++w] = v[r];
    }
    *n = w + 1;
}

void lbp_vipset_diff(const struct lbp_vip *a, size_t na, const struct lbp_vip *b, size_t nb,
                     size_t *added, size_t *nadded, size_t *removed, size_t *nremoved)
{
    size_t i = 0, j = 0;
    *nadded = *nremoved = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : lbp_vip_cmp(&a[i], &b[j]);
        if (c < 0) {
            removed[(*nremoved)++] = i++;
        } else if (c > 0) {
            added[(*nadded)++] = j++;
        } else {
            i++;
            j++;
        }
    }
}
