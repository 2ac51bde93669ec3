/*
 * parse.c — walks a json-c tree into pools and selectors, checking every
 * type and naming the field in each message.
 *
 * The YAML file is converted to the same tree (yaml.c) and MetalLB objects
 * arrive as JSON (metallb.c), so a pool's fields are validated here once.
 * A JSON null counts as absent, as the API server and YAML's empty values do.
 * Unknown keys are warnings so that configs written for a newer release
 * still load.
 */
#include "pools/pools_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"

#define PATH_LEN 256

static bool in_list(const char *k, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(k, list[i]) == 0)
            return true;
    return false;
}

void lbp_pools_warn_unknown(json_object *obj, const char *path, const char *const *known,
                            const char *const *known2, struct lbp_pools_diag *d)
{
    json_object_object_foreach(obj, k, v)
    {
        (void)v;
        if (!in_list(k, known) && !in_list(k, known2))
            lbp_pools_warnf(d, "%s%s: unknown field, ignored", path, k);
    }
}

int lbp_pools_parse_bool(json_object *v, const char *path, bool *out, struct lbp_pools_diag *d)
{
    if (!json_object_is_type(v, json_type_boolean)) {
        lbp_pools_errf(d, "%s: expected true or false", path);
        return LBP_INVALID;
    }
    *out = json_object_get_boolean(v);
    return LBP_OK;
}

static json_object *get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

static int expect_array(json_object *v, const char *path, struct lbp_pools_diag *d)
{
    if (!json_object_is_type(v, json_type_array)) {
        lbp_pools_errf(d, "%s: expected a list", path);
        return LBP_INVALID;
    }
    if (json_object_array_length(v) > LBP_POOLS_MAX_LIST) {
        lbp_pools_errf(d, "%s: more than %d entries", path, LBP_POOLS_MAX_LIST);
        return LBP_TOOBIG;
    }
    return LBP_OK;
}

int lbp_pools_parse_strings(json_object *arr, const char *path, char ***out, size_t *n_out,
                            struct lbp_pools_diag *d)
{
    int rc = expect_array(arr, path, d);
    if (rc)
        return rc;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
            lbp_pools_errf(d, "%s[%zu]: expected a non-empty string", path, i);
            return LBP_INVALID;
        }
        if ((rc = lbp_pools_strv_push(out, n_out, json_object_get_string(v))))
            return rc;
    }
    return LBP_OK;
}

static int parse_op(const char *s, enum lbp_sel_op *op)
{
    static const struct {
        const char *name;
        enum lbp_sel_op op;
    } ops[] = {{"In", LBP_SEL_IN},
               {"NotIn", LBP_SEL_NOT_IN},
               {"Exists", LBP_SEL_EXISTS},
               {"DoesNotExist", LBP_SEL_DOES_NOT_EXIST}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (strcmp(s, ops[i].name) == 0) {
            *op = ops[i].op;
            return LBP_OK;
        }
    return LBP_INVALID;
}

static int parse_expr(json_object *e, const char *path, struct lbp_sel_expr *x,
                      struct lbp_pools_diag *d)
{
    static const char *const known[] = {"key", "operator", "values", NULL};
    char p[PATH_LEN];
    int rc;
    json_object *v;

    if (!json_object_is_type(e, json_type_object)) {
        lbp_pools_errf(d, "%s: expected a mapping", path);
        return LBP_INVALID;
    }
    lbp_pools_pathf(p, sizeof(p), "%s.", path);
    lbp_pools_warn_unknown(e, p, known, NULL, d);
    v = get(e, "key");
    if (!v || !json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0) {
        lbp_pools_errf(d, "%s.key: required string", path);
        return LBP_INVALID;
    }
    if (!(x->key = strdup(json_object_get_string(v))))
        return LBP_NOMEM;
    v = get(e, "operator");
    if (!v || !json_object_is_type(v, json_type_string)) {
        lbp_pools_errf(d, "%s.operator: required string", path);
        return LBP_INVALID;
    }
    if (parse_op(json_object_get_string(v), &x->op)) {
        lbp_pools_errf(d,
                       "%s.operator: unknown operator \"%.64s\" (In, NotIn, Exists, DoesNotExist)",
                       path, json_object_get_string(v));
        return LBP_INVALID;
    }
    const char *opname = json_object_get_string(v);
    if ((v = get(e, "values"))) {
        lbp_pools_pathf(p, sizeof(p), "%s.values", path);
        if ((rc = lbp_pools_parse_strings(v, p, &x->values, &x->n_values, d)))
            return rc;
    }
    bool wants = x->op == LBP_SEL_IN || x->op == LBP_SEL_NOT_IN;
    if (wants && x->n_values == 0) {
        lbp_pools_errf(d, "%s.values: required for operator %s", path, opname);
        return LBP_INVALID;
    }
    if (!wants && x->n_values) {
        lbp_pools_errf(d, "%s.values: must be empty for operator %s", path, opname);
        return LBP_INVALID;
    }
    return LBP_OK;
}

static int parse_selector(json_object *o, const char *path, struct lbp_selector *s,
                          struct lbp_pools_diag *d)
{
    static const char *const known[] = {"matchLabels", "matchExpressions", NULL};
    char p[PATH_LEN];
    int rc;
    json_object *v;

    if (!json_object_is_type(o, json_type_object)) {
        lbp_pools_errf(d, "%s: expected a label selector (matchLabels, matchExpressions)", path);
        return LBP_INVALID;
    }
    lbp_pools_pathf(p, sizeof(p), "%s.", path);
    lbp_pools_warn_unknown(o, p, known, NULL, d);
    if ((v = get(o, "matchLabels"))) {
        if (!json_object_is_type(v, json_type_object)) {
            lbp_pools_errf(d, "%s.matchLabels: expected a mapping", path);
            return LBP_INVALID;
        }
        if (json_object_object_length(v) > LBP_POOLS_MAX_LIST) {
            lbp_pools_errf(d, "%s.matchLabels: too many entries", path);
            return LBP_TOOBIG;
        }
        json_object_object_foreach(v, key, val)
        {
            if (!json_object_is_type(val, json_type_string)) {
                lbp_pools_errf(d,
                               "%s.matchLabels.%s: expected a string (quote numbers and booleans)",
                               path, key);
                return LBP_INVALID;
            }
            size_t nk = s->n_match;
            if ((rc = lbp_pools_strv_push(&s->match_keys, &nk, key)))
                return rc;
            if ((rc = lbp_pools_strv_push(&s->match_values, &s->n_match,
                                          json_object_get_string(val)))) {
                /* keep keys and values the same length for clear() */
                free(s->match_keys[nk - 1]);
                return rc;
            }
        }
    }
    if ((v = get(o, "matchExpressions"))) {
        lbp_pools_pathf(p, sizeof(p), "%s.matchExpressions", path);
        if ((rc = expect_array(v, p, d)))
            return rc;
        size_t n = json_object_array_length(v);
        if (n && !(s->exprs = calloc(n, sizeof(*s->exprs))))
            return LBP_NOMEM;
        for (size_t i = 0; i < n; i++) {
            lbp_pools_pathf(p, sizeof(p), "%s.matchExpressions[%zu]", path, i);
            s->n_exprs = i + 1; /* so clear() frees the partial entry */
            if ((rc = parse_expr(json_object_array_get_idx(v, i), p, &s->exprs[i], d)))
                return rc;
        }
    }
    return LBP_OK;
}

int lbp_pools_parse_selectors(json_object *arr, const char *path, struct lbp_selector **out,
                              size_t *n_out, struct lbp_pools_diag *d)
{
    char p[PATH_LEN];
    int rc = expect_array(arr, path, d);
    if (rc)
        return rc;
    size_t n = json_object_array_length(arr);
    if (n == 0)
        return LBP_OK;
    struct lbp_selector *s = calloc(n, sizeof(*s));
    if (!s)
        return LBP_NOMEM;
    *out = s;
    for (size_t i = 0; i < n; i++) {
        *n_out = i + 1;
        lbp_pools_pathf(p, sizeof(p), "%s[%zu]", path, i);
        if ((rc = parse_selector(json_object_array_get_idx(arr, i), p, &s[i], d)))
            return rc;
    }
    return LBP_OK;
}

static int parse_addresses(json_object *arr, const char *path, struct lbp_pool *pool,
                           struct lbp_pools_diag *d)
{
    char p[PATH_LEN], why[96];
    int rc;

    lbp_pools_pathf(p, sizeof(p), "%saddresses", path);
    if ((rc = expect_array(arr, p, d)))
        return rc;
    size_t n = json_object_array_length(arr);
    if (n == 0) {
        lbp_pools_errf(d, "%s: at least one address range is required", p);
        return LBP_INVALID;
    }
    if (!(pool->ranges = calloc(n, sizeof(*pool->ranges))))
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string)) {
            lbp_pools_errf(d, "%s[%zu]: expected a string", p, i);
            return LBP_INVALID;
        }
        const char *text = json_object_get_string(v);
        bool masked = false;
        size_t k = pool->n_ranges;
        if (lbp_ip_range_parse(text, &pool->ranges[k], &masked, why, sizeof(why))) {
            lbp_pools_errf(d, "%s[%zu]: \"%.100s\": %s", p, i, text, why);
            return LBP_INVALID;
        }
        if (masked)
            lbp_pools_warnf(d, "%s[%zu]: \"%.100s\" has host bits set; the whole prefix is used", p,
                            i, text);
        if ((rc = lbp_pools_strv_push(&pool->range_text, &pool->n_ranges, text)))
            return rc;
    }
    return LBP_OK;
}

static int parse_allocation(json_object *o, const char *path, struct lbp_pool *pool,
                            struct lbp_pools_diag *d)
{
    static const char *const known[] = {"priority", "namespaces", "namespaceSelectors",
                                        "serviceSelectors", NULL};
    char p[PATH_LEN];
    int rc;
    json_object *v;

    if (!json_object_is_type(o, json_type_object)) {
        lbp_pools_errf(d, "%sserviceAllocation: expected a mapping", path);
        return LBP_INVALID;
    }
    pool->has_allocation = true;
    lbp_pools_pathf(p, sizeof(p), "%sserviceAllocation.", path);
    lbp_pools_warn_unknown(o, p, known, NULL, d);
    if ((v = get(o, "priority"))) {
        int64_t pr = json_object_get_int64(v);
        if (!json_object_is_type(v, json_type_int) || pr < 0 || pr > 1000000) {
            lbp_pools_errf(d, "%sserviceAllocation.priority: expected an integer 0..1000000", path);
            return LBP_INVALID;
        }
        pool->priority = (int)pr;
    }
    if ((v = get(o, "namespaces"))) {
        lbp_pools_pathf(p, sizeof(p), "%sserviceAllocation.namespaces", path);
        if ((rc = lbp_pools_parse_strings(v, p, &pool->namespaces, &pool->n_namespaces, d)))
            return rc;
    }
    if ((v = get(o, "namespaceSelectors"))) {
        lbp_pools_pathf(p, sizeof(p), "%sserviceAllocation.namespaceSelectors", path);
        if ((rc = lbp_pools_parse_selectors(v, p, &pool->namespace_selectors,
                                            &pool->n_namespace_selectors, d)))
            return rc;
    }
    if ((v = get(o, "serviceSelectors"))) {
        lbp_pools_pathf(p, sizeof(p), "%sserviceAllocation.serviceSelectors", path);
        if ((rc = lbp_pools_parse_selectors(v, p, &pool->service_selectors,
                                            &pool->n_service_selectors, d)))
            return rc;
    }
    return LBP_OK;
}

int lbp_pools_parse_spec(json_object *obj, const char *path, struct lbp_pool *p,
                         const char *const *skip, struct lbp_pools_diag *d)
{
    static const char *const known[] = {"addresses", "autoAssign", "avoidBuggyIPs",
                                        "serviceAllocation", NULL};
    char fp[PATH_LEN];
    int rc;
    json_object *v;

    lbp_pools_warn_unknown(obj, path, known, skip, d);
    p->auto_assign = true;
    if (!(v = get(obj, "addresses"))) {
        lbp_pools_errf(d, "%saddresses: required", path);
        return LBP_INVALID;
    }
    if ((rc = parse_addresses(v, path, p, d)))
        return rc;
    if ((v = get(obj, "autoAssign"))) {
        lbp_pools_pathf(fp, sizeof(fp), "%sautoAssign", path);
        if ((rc = lbp_pools_parse_bool(v, fp, &p->auto_assign, d)))
            return rc;
    }
    if ((v = get(obj, "avoidBuggyIPs"))) {
        lbp_pools_pathf(fp, sizeof(fp), "%savoidBuggyIPs", path);
        if ((rc = lbp_pools_parse_bool(v, fp, &p->avoid_buggy_ips, d)))
            return rc;
    }
    if ((v = get(obj, "serviceAllocation")) && (rc = parse_allocation(v, path, p, d)))
        return rc;
    return LBP_OK;
}
