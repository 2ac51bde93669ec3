/*
 * baremetal_int.h — the allocation table shared by the files of the
 * bare-metal cloud. Not for other modules: the cloud exports only its vtable.
 *
 * Two uthash tables under one mutex (the caller's): Services by "ns/name",
 * each with at most one address per family, and addresses, each with the
 * Services holding it (more than one only when sharing).
 */
#ifndef LBP_BAREMETAL_INT_H
#define LBP_BAREMETAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <uthash.h>

#include "pools/pools.h"
#include "provider/provider.h"

#define LBP_BM_ADDR_KEY 17 /* family byte + 16 address bytes */

struct lbp_bm_port {
    char proto[8];
    int port;
};

struct lbp_bm_svc {
    char *key; /* "ns/name" */
    char *ns, *name, *uid;
    char *share_key; /* allow-shared-ip, NULL when absent */
    bool local;      /* externalTrafficPolicy: Local */
    char *selector_hash;
    struct lbp_bm_port *ports;
    size_t n_ports;
    struct lbp_ip addrs[2];
    size_t n_addrs;
    UT_hash_handle hh;
};

struct lbp_bm_addr {
    unsigned char key[LBP_BM_ADDR_KEY];
    struct lbp_ip ip;
    struct lbp_bm_svc **holders;
    size_t n_holders;
    UT_hash_handle hh;
};

struct lbp_bm_table {
    struct lbp_bm_svc *svcs;
    struct lbp_bm_addr *addrs;
};

/* A Service record from a spec, holding no address yet; NULL on ENOMEM. */
struct lbp_bm_svc *lbp_bm_svc_new(const struct lbp_lb_spec *spec, const char *share_key);
void lbp_bm_svc_free(struct lbp_bm_svc *s);

struct lbp_bm_svc *lbp_bm_find_svc(struct lbp_bm_table *t, const char *ns, const char *name);
struct lbp_bm_addr *lbp_bm_find_addr(struct lbp_bm_table *t, const struct lbp_ip *ip);

/*
 * May s hold ip next to its current holders (other than s's own key)? When
 * not, why says who holds it and what collides.
 */
bool lbp_bm_can_hold(struct lbp_bm_table *t, const struct lbp_bm_svc *s, const struct lbp_ip *ip,
                     char *why, size_t whylen);

/*
 * First address of the family in pool p that s may take: an address already
 * shared under s's key when compatible, else the lowest free one. The work
 * is bounded by the number of allocated addresses, never the range size.
 */
bool lbp_bm_pick(struct lbp_bm_table *t, const struct lbp_pool *p, int family,
                 const struct lbp_bm_svc *s, struct lbp_ip *out);

/* Inserts s (which must hold its addresses in s->addrs) and takes ownership. */
int lbp_bm_insert(struct lbp_bm_table *t, struct lbp_bm_svc *s);
/* Removes s from the tables and frees it; shared addresses stay with the others. */
void lbp_bm_release(struct lbp_bm_table *t, struct lbp_bm_svc *s);
void lbp_bm_table_clear(struct lbp_bm_table *t);

/* In-use addresses inside p that p may hand out (metrics, debug). */
size_t lbp_bm_in_use(struct lbp_bm_table *t, const struct lbp_pool *p);

#endif
