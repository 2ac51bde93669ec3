/*
 * pool.c — the pool set: ownership, whole-set checks, label selectors and
 * the questions the allocator and the speaker ask of a pool.
 *
 * The overlap check sorts every range once and compares neighbours, so a
 * config with many ranges costs n log n, not n^2.
 */
#include "pools/pools_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rc.h"
#include "common/util.h"

void lbp_pools_errf(struct lbp_pools_diag *d, const char *fmt, ...)
{
    va_list ap;
    if (!d || d->err[0])
        return; /* the first error is the useful one */
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof(d->err), fmt, ap);
    va_end(ap);
}

void lbp_pools_warnf(struct lbp_pools_diag *d, const char *fmt, ...)
{
    va_list ap;
    if (!d)
        return;
    size_t len = strlen(d->warn);
    d->n_warn++;
    if (len + 2 >= sizeof(d->warn))
        return;
    va_start(ap, fmt);
    vsnprintf(d->warn + len, sizeof(d->warn) - len - 1, fmt, ap);
    va_end(ap);
    len = strlen(d->warn);
    d->warn[len] = '\n';
    d->warn[len + 1] = '\0';
}

void lbp_pools_pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

int lbp_pools_strv_push(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return LBP_NOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return LBP_NOMEM;
    (*n)++;
    return LBP_OK;
}

void lbp_pools_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void lbp_selector_clear(struct lbp_selector *s)
{
    lbp_pools_strv_free(s->match_keys, s->n_match);
    lbp_pools_strv_free(s->match_values, s->n_match);
    for (size_t i = 0; i < s->n_exprs; i++) {
        free(s->exprs[i].key);
        lbp_pools_strv_free(s->exprs[i].values, s->exprs[i].n_values);
    }
    free(s->exprs);
    memset(s, 0, sizeof(*s));
}

void lbp_selectors_free(struct lbp_selector *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lbp_selector_clear(&s[i]);
    free(s);
}

void lbp_pool_adv_clear(struct lbp_pool_adv *a)
{
    free(a->name);
    lbp_selectors_free(a->node_selectors, a->n_node_selectors);
    lbp_pools_strv_free(a->interfaces, a->n_interfaces);
    memset(a, 0, sizeof(*a));
}

void lbp_pool_clear(struct lbp_pool *p)
{
    free(p->name);
    free(p->ranges);
    lbp_pools_strv_free(p->range_text, p->n_ranges);
    lbp_pools_strv_free(p->namespaces, p->n_namespaces);
    lbp_selectors_free(p->namespace_selectors, p->n_namespace_selectors);
    lbp_selectors_free(p->service_selectors, p->n_service_selectors);
    lbp_pools_strv_free(p->label_keys, p->n_labels);
    lbp_pools_strv_free(p->label_values, p->n_labels);
    for (size_t i = 0; i < p->n_advs; i++)
        lbp_pool_adv_clear(&p->advs[i]);
    free(p->advs);
    memset(p, 0, sizeof(*p));
}

struct lbp_pool_set *lbp_pool_set_new(void)
{
    return calloc(1, sizeof(struct lbp_pool_set));
}

void lbp_pool_set_free(struct lbp_pool_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_pools; i++)
        lbp_pool_clear(&set->pools[i]);
    free(set->pools);
    free(set);
}

int lbp_pool_set_take(struct lbp_pool_set *set, struct lbp_pool *pools, size_t n)
{
    if (n == 0)
        return LBP_OK;
    struct lbp_pool *np = realloc(set->pools, (set->n_pools + n) * sizeof(*np));
    if (!np)
        return LBP_NOMEM;
    set->pools = np;
    memcpy(np + set->n_pools, pools, n * sizeof(*np));
    set->n_pools += n;
    return LBP_OK;
}

/* ------------------------------------------------------------ selectors */

static const char *label_get(const struct lbp_pools_label *labels, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i].key && strcmp(labels[i].key, key) == 0)
            return labels[i].value ? labels[i].value : "";
    return NULL;
}

static bool in_values(const struct lbp_sel_expr *e, const char *v)
{
    for (size_t i = 0; i < e->n_values; i++)
        if (strcmp(e->values[i], v) == 0)
            return true;
    return false;
}

bool lbp_selector_matches(const struct lbp_selector *sel, const struct lbp_pools_label *labels,
                          size_t n_labels)
{
    for (size_t i = 0; i < sel->n_match; i++) {
        const char *v = label_get(labels, n_labels, sel->match_keys[i]);
        if (!v || strcmp(v, sel->match_values[i]) != 0)
            return false;
    }
    for (size_t i = 0; i < sel->n_exprs; i++) {
        const struct lbp_sel_expr *e = &sel->exprs[i];
        const char *v = label_get(labels, n_labels, e->key);
        switch (e->op) {
        case LBP_SEL_IN:
            if (!v || !in_values(e, v))
                return false;
            break;
        case LBP_SEL_NOT_IN: /* as Kubernetes: a missing label is "not in" */
            if (v && in_values(e, v))
                return false;
            break;
        case LBP_SEL_EXISTS:
            if (!v)
                return false;
            break;
        case LBP_SEL_DOES_NOT_EXIST:
            if (v)
                return false;
            break;
        }
    }
    return true;
}

bool lbp_selectors_match(const struct lbp_selector *sels, size_t n_sels,
                         const struct lbp_pools_label *labels, size_t n_labels)
{
    if (n_sels == 0)
        return true;
    for (size_t i = 0; i < n_sels; i++)
        if (lbp_selector_matches(&sels[i], labels, n_labels))
            return true;
    return false;
}

/* ------------------------------------------------------------ the set */

struct range_ref {
    const struct lbp_ip_range *r;
    size_t pool, idx;
};

static int cmp_range_ref(const void *a, const void *b)
{
    const struct range_ref *x = a, *y = b;
    if (x->r->family != y->r->family)
        return x->r->family < y->r->family ? -1 : 1;
    if (x->r->first != y->r->first)
        return x->r->first < y->r->first ? -1 : 1;
    return 0;
}

int lbp_pool_set_check(const struct lbp_pool_set *set, struct lbp_pools_diag *d)
{
    int rc = LBP_OK;
    size_t total = 0, k = 0;
    struct range_ref *refs = NULL;

    for (size_t i = 0; i < set->n_pools; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(set->pools[i].name, set->pools[j].name) == 0) {
                lbp_pools_errf(d, "pool \"%s\" is defined twice", set->pools[i].name);
                return LBP_INVALID;
            }
        total += set->pools[i].n_ranges;
    }
    if (total == 0)
        return LBP_OK;
    if (!(refs = calloc(total, sizeof(*refs))))
        return LBP_NOMEM;
    for (size_t i = 0; i < set->n_pools; i++)
        for (size_t j = 0; j < set->pools[i].n_ranges; j++)
            refs[k++] = (struct range_ref){&set->pools[i].ranges[j], i, j};
    qsort(refs, total, sizeof(*refs), cmp_range_ref);
    /* Sorted by start: a range overlaps an earlier one iff it starts before the
     * furthest end seen so far in its family. */
    size_t far = 0;
    for (size_t i = 1; i < total; i++) {
        if (refs[i].r->family != refs[far].r->family) {
            far = i;
            continue;
        }
        if (refs[i].r->first <= refs[far].r->last) {
            const struct lbp_pool *a = &set->pools[refs[far].pool];
            const struct lbp_pool *b = &set->pools[refs[i].pool];
            if (a == b)
                lbp_pools_errf(d, "pool \"%s\": addresses \"%s\" and \"%s\" overlap", a->name,
                               a->range_text[refs[far].idx], b->range_text[refs[i].idx]);
            else
                lbp_pools_errf(d, "pools \"%s\" (%s) and \"%s\" (%s) overlap", a->name,
                               a->range_text[refs[far].idx], b->name, b->range_text[refs[i].idx]);
            rc = LBP_INVALID;
            goto out;
        }
        if (refs[i].r->last > refs[far].r->last)
            far = i;
    }
out:
    free(refs);
    return rc;
}

const struct lbp_pool *lbp_pool_set_find(const struct lbp_pool_set *set, const char *name)
{
    if (!set || !name)
        return NULL;
    for (size_t i = 0; i < set->n_pools; i++)
        if (strcmp(set->pools[i].name, name) == 0)
            return &set->pools[i];
    return NULL;
}

bool lbp_pool_contains(const struct lbp_pool *p, const struct lbp_ip *ip)
{
    for (size_t i = 0; i < p->n_ranges; i++)
        if (lbp_ip_range_contains(&p->ranges[i], ip))
            return true;
    return false;
}

const struct lbp_pool *lbp_pool_set_lookup(const struct lbp_pool_set *set, const struct lbp_ip *ip)
{
    if (!set)
        return NULL;
    for (size_t i = 0; i < set->n_pools; i++)
        if (lbp_pool_contains(&set->pools[i], ip))
            return &set->pools[i];
    return NULL;
}

bool lbp_pool_has_family(const struct lbp_pool *p, int family)
{
    for (size_t i = 0; i < p->n_ranges; i++)
        if (p->ranges[i].family == family)
            return true;
    return false;
}

bool lbp_pool_usable(const struct lbp_pool *p, const struct lbp_ip *ip)
{
    if (p->avoid_buggy_ips && lbp_ip_is_buggy(ip))
        return false;
    return lbp_pool_contains(p, ip);
}

bool lbp_pool_allows(const struct lbp_pool *p, const char *ns,
                     const struct lbp_pools_label *svc_labels, size_t n_svc_labels)
{
    if (p->n_namespaces || p->n_namespace_selectors) {
        bool ok = false;
        for (size_t i = 0; i < p->n_namespaces && !ok; i++)
            ok = lbp_streq(p->namespaces[i], ns);
        if (!ok && p->n_namespace_selectors) {
            struct lbp_pools_label nl = {"kubernetes.io/metadata.name", ns ? ns : ""};
            ok = lbp_selectors_match(p->namespace_selectors, p->n_namespace_selectors, &nl, 1);
        }
        if (!ok)
            return false;
    }
    return lbp_selectors_match(p->service_selectors, p->n_service_selectors, svc_labels,
                               n_svc_labels);
}

bool lbp_pool_node_allowed(const struct lbp_pool *p, const struct lbp_pools_label *node_labels,
                           size_t n_node_labels)
{
    for (size_t i = 0; i < p->n_advs; i++)
        if (lbp_selectors_match(p->advs[i].node_selectors, p->advs[i].n_node_selectors, node_labels,
                                n_node_labels))
            return true;
    return false;
}

bool lbp_pool_interface_allowed(const struct lbp_pool *p, const struct lbp_pools_label *node_labels,
                                size_t n_node_labels, const char *ifname)
{
    for (size_t i = 0; i < p->n_advs; i++) {
        const struct lbp_pool_adv *a = &p->advs[i];
        if (!lbp_selectors_match(a->node_selectors, a->n_node_selectors, node_labels,
                                 n_node_labels))
            continue;
        if (a->n_interfaces == 0)
            return true;
        for (size_t j = 0; j < a->n_interfaces; j++)
            if (lbp_streq(a->interfaces[j], ifname))
                return true;
    }
    return false;
}
