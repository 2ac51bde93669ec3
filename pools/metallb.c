/*
 * metallb.c — MetalLB's IPAddressPool and L2Advertisement objects (JSON text
 * as the API server returns them) into pools.
 *
 * An IPAddressPool's spec is the same shape as a YAML pool and goes through
 * the same walker. L2Advertisements are attached afterwards: one with
 * neither ipAddressPools nor ipAddressPoolSelectors applies to every pool
 * (as in MetalLB); a pool no advertisement selects gets no advertisement,
 * so it still allocates but nobody announces its addresses.
 */
#include "pools/pools_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/rc.h"

#define MAX_OBJECT (1024 * 1024)

static int parse_json(const char *text, const char *kind, size_t idx, json_object **out,
                      struct lbp_pools_diag *d)
{
    char why[128];
    size_t len = text ? strlen(text) : 0;
    int rc;
    if (len == 0 || len > MAX_OBJECT) {
        lbp_pools_errf(d, "%s[%zu]: empty or larger than %d bytes", kind, idx, MAX_OBJECT);
        return LBP_TOOBIG;
    }
    rc = lbp_json_parse(text, len, MAX_OBJECT, out, why, sizeof(why));
    if (rc == LBP_OK && !json_object_is_type(*out, json_type_object)) {
        snprintf(why, sizeof(why), "wrong type");
        json_object_put(*out);
        *out = NULL;
        rc = LBP_PARSE;
    }
    if (rc && strcmp(why, "trailing data") == 0)
        lbp_pools_errf(d, "%s[%zu]: trailing data after the JSON object", kind, idx);
    else if (rc)
        lbp_pools_errf(d, "%s[%zu]: not a JSON object (%s)", kind, idx, why);
    return rc;
}

/* metadata.name (required) and the spec object (required). */
static int object_head(json_object *o, const char *kind, size_t idx, const char **name,
                       json_object **spec, struct lbp_pools_diag *d)
{
    json_object *meta = NULL, *v = NULL;
    if (json_object_object_get_ex(o, "kind", &v) && json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), kind) != 0) {
        lbp_pools_errf(d, "%s[%zu]: kind is \"%.64s\"", kind, idx, json_object_get_string(v));
        return LBP_INVALID;
    }
    if (!json_object_object_get_ex(o, "metadata", &meta) ||
        !json_object_object_get_ex(meta, "name", &v) || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0 || json_object_get_string_len(v) > 253) {
        lbp_pools_errf(d, "%s[%zu]: metadata.name: required string", kind, idx);
        return LBP_INVALID;
    }
    *name = json_object_get_string(v);
    if (!json_object_object_get_ex(o, "spec", spec) ||
        !json_object_is_type(*spec, json_type_object)) {
        lbp_pools_errf(d, "%s %s: spec: required mapping", kind, *name);
        return LBP_INVALID;
    }
    return LBP_OK;
}

static int parse_pool(const char *text, size_t idx, struct lbp_pool *p, struct lbp_pools_diag *d)
{
    int rc;
    json_object *o = NULL, *spec, *meta, *labels;
    const char *name;
    char path[300];

    if ((rc = parse_json(text, "IPAddressPool", idx, &o, d)))
        return rc;
    if ((rc = object_head(o, "IPAddressPool", idx, &name, &spec, d)))
        goto out;
    p->source = LBP_POOL_CRD;
    if (!(p->name = strdup(name))) {
        rc = LBP_NOMEM;
        goto out;
    }
    if (json_object_object_get_ex(o, "metadata", &meta) &&
        json_object_object_get_ex(meta, "labels", &labels) &&
        json_object_is_type(labels, json_type_object)) {
        json_object_object_foreach(labels, k, v)
        {
            if (!json_object_is_type(v, json_type_string))
                continue; /* the API server never sends these */
            size_t nk = p->n_labels;
            if ((rc = lbp_pools_strv_push(&p->label_keys, &nk, k)))
                goto out;
            if ((rc = lbp_pools_strv_push(&p->label_values, &p->n_labels,
                                          json_object_get_string(v)))) {
                free(p->label_keys[nk - 1]);
                goto out;
            }
        }
    }
    lbp_pools_pathf(path, sizeof(path), "IPAddressPool %s: spec.", name);
    rc = lbp_pools_parse_spec(spec, path, p, NULL, d);
out:
    json_object_put(o);
    return rc;
}

static bool pool_labels_match(const struct lbp_pool *p, const struct lbp_selector *sels, size_t n)
{
    struct lbp_pools_label l[64];
    size_t k = p->n_labels < 64 ? p->n_labels : 64;
    for (size_t i = 0; i < k; i++)
        l[i] = (struct lbp_pools_label){p->label_keys[i], p->label_values[i]};
    return n && lbp_selectors_match(sels, n, l, k);
}

/* Copies an advertisement onto a pool (each pool owns its copy). */
static int attach(struct lbp_pool *p, const struct lbp_pool_adv *a)
{
    int rc;
    struct lbp_pool_adv *na = realloc(p->advs, (p->n_advs + 1) * sizeof(*na));
    if (!na)
        return LBP_NOMEM;
    p->advs = na;
    struct lbp_pool_adv *c = &na[p->n_advs++];
    memset(c, 0, sizeof(*c));
    if (!(c->name = strdup(a->name)))
        return LBP_NOMEM;
    for (size_t i = 0; i < a->n_interfaces; i++)
        if ((rc = lbp_pools_strv_push(&c->interfaces, &c->n_interfaces, a->interfaces[i])))
            return rc;
    if (a->n_node_selectors) {
        if (!(c->node_selectors = calloc(a->n_node_selectors, sizeof(*c->node_selectors))))
            return LBP_NOMEM;
        for (size_t i = 0; i < a->n_node_selectors; i++) {
            const struct lbp_selector *s = &a->node_selectors[i];
            struct lbp_selector *t = &c->node_selectors[i];
            c->n_node_selectors = i + 1;
            for (size_t j = 0; j < s->n_match; j++) {
                size_t nk = t->n_match;
                if ((rc = lbp_pools_strv_push(&t->match_keys, &nk, s->match_keys[j])))
                    return rc;
                if ((rc = lbp_pools_strv_push(&t->match_values, &t->n_match, s->match_values[j]))) {
                    free(t->match_keys[nk - 1]);
                    return rc;
                }
            }
            if (s->n_exprs && !(t->exprs = calloc(s->n_exprs, sizeof(*t->exprs))))
                return LBP_NOMEM;
            for (size_t j = 0; j < s->n_exprs; j++) {
                t->n_exprs = j + 1;
                t->exprs[j].op = s->exprs[j].op;
                if (!(t->exprs[j].key = strdup(s->exprs[j].key)))
                    return LBP_NOMEM;
                for (size_t k = 0; k < s->exprs[j].n_values; k++)
                    if ((rc = lbp_pools_strv_push(&t->exprs[j].values, &t->exprs[j].n_values,
                                                  s->exprs[j].values[k])))
                        return rc;
            }
        }
    }
    return LBP_OK;
}

static int parse_l2(const char *text, size_t idx, struct lbp_pool *pools, size_t n_pools,
                    struct lbp_pools_diag *d)
{
    static const char *const known[] = {"ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors",
                                        "interfaces", NULL};
    int rc;
    json_object *o = NULL, *spec, *v;
    const char *name;
    char path[300], fp[340];
    struct lbp_pool_adv adv = {0};
    char **names = NULL;
    size_t n_names = 0;
    struct lbp_selector *psel = NULL;
    size_t n_psel = 0;

    if ((rc = parse_json(text, "L2Advertisement", idx, &o, d)))
        return rc;
    if ((rc = object_head(o, "L2Advertisement", idx, &name, &spec, d)))
        goto out;
    lbp_pools_pathf(path, sizeof(path), "L2Advertisement %s: spec.", name);
    lbp_pools_warn_unknown(spec, path, known, NULL, d);
    if (!(adv.name = strdup(name))) {
        rc = LBP_NOMEM;
        goto out;
    }
    if (json_object_object_get_ex(spec, "ipAddressPools", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%sipAddressPools", path);
        if ((rc = lbp_pools_parse_strings(v, fp, &names, &n_names, d)))
            goto out;
    }
    if (json_object_object_get_ex(spec, "ipAddressPoolSelectors", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%sipAddressPoolSelectors", path);
        if ((rc = lbp_pools_parse_selectors(v, fp, &psel, &n_psel, d)))
            goto out;
    }
    if (json_object_object_get_ex(spec, "nodeSelectors", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%snodeSelectors", path);
        if ((rc = lbp_pools_parse_selectors(v, fp, &adv.node_selectors, &adv.n_node_selectors, d)))
            goto out;
    }
    if (json_object_object_get_ex(spec, "interfaces", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%sinterfaces", path);
        if ((rc = lbp_pools_parse_strings(v, fp, &adv.interfaces, &adv.n_interfaces, d)))
            goto out;
    }
    for (size_t i = 0; i < n_names; i++) {
        bool found = false;
        for (size_t j = 0; j < n_pools && !found; j++)
            found = strcmp(pools[j].name, names[i]) == 0;
        if (!found)
            lbp_pools_warnf(d, "%sipAddressPools[%zu]: pool \"%s\" does not exist", path, i,
                            names[i]);
    }
    for (size_t j = 0; j < n_pools; j++) {
        bool sel = n_names == 0 && n_psel == 0;
        for (size_t i = 0; i < n_names && !sel; i++)
            sel = strcmp(pools[j].name, names[i]) == 0;
        if (!sel)
            sel = pool_labels_match(&pools[j], psel, n_psel);
        if (sel && (rc = attach(&pools[j], &adv)))
            goto out;
    }
out:
    lbp_pool_adv_clear(&adv);
    lbp_pools_strv_free(names, n_names);
    lbp_selectors_free(psel, n_psel);
    json_object_put(o);
    return rc;
}

int lbp_pools_add_metallb(struct lbp_pool_set *set, const char *const *pools_json, size_t n_pools,
                          const char *const *l2_json, size_t n_l2, struct lbp_pools_diag *d)
{
    int rc = LBP_OK;
    struct lbp_pool *arr = NULL;
    size_t done = 0;

    if (n_pools > LBP_POOLS_MAX_POOLS || n_l2 > LBP_POOLS_MAX_POOLS) {
        lbp_pools_errf(d, "more than %d objects", LBP_POOLS_MAX_POOLS);
        return LBP_TOOBIG;
    }
    if (n_pools && !(arr = calloc(n_pools, sizeof(*arr))))
        return LBP_NOMEM;
    for (done = 0; done < n_pools; done++)
        if ((rc = parse_pool(pools_json[done], done, &arr[done], d))) {
            done++;
            goto out;
        }
    for (size_t i = 0; i < n_l2; i++)
        if ((rc = parse_l2(l2_json[i], i, arr, n_pools, d)))
            goto out;
    if ((rc = lbp_pool_set_take(set, arr, n_pools)) == LBP_OK)
        done = 0;
out:
    for (size_t i = 0; i < done; i++)
        lbp_pool_clear(&arr[i]);
    free(arr);
    return rc;
}
