/*
 * yaml.c — lbprov's own pool file: YAML (libyaml) into the shared json-c walker.
 *
 * libyaml's document loader builds the node graph; it is converted to a
 * json-c tree with a depth limit and a node budget (aliases can make a small
 * document into a huge tree), resolving plain scalars as YAML 1.2's core
 * schema does for the types the schema needs: booleans, integers, null.
 * Quoted scalars are always strings.
 */
#include "pools/pools_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/rc.h"
#include "common/util.h"

#define MAX_DEPTH 32
#define MAX_NODES 200000

struct conv {
    yaml_document_t *doc;
    size_t nodes;
    struct lbp_pools_diag *d;
};

static bool is_int(const char *s)
{
    if (*s == '-' || *s == '+')
        s++;
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static json_object *scalar(yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    long v;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
            return json_object_new_boolean(1);
        if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
            return json_object_new_boolean(0);
        if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL"))
            return NULL; /* json-c spells null as NULL */
        if (is_int(s) && lbp_parse_long(s, -2147483647L, 2147483647L, &v) == LBP_OK)
            return json_object_new_int64(v);
    }
    return json_object_new_string_len(s, (int)n->data.scalar.length);
}

static int convert(struct conv *c, yaml_node_t *n, int depth, json_object **out)
{
    int rc;
    *out = NULL;
    if (!n)
        return LBP_OK;
    if (++c->nodes > MAX_NODES || depth > MAX_DEPTH) {
        lbp_pools_errf(c->d, "line %zu: document too large or too deeply nested",
                       n->start_mark.line + 1);
        return LBP_TOOBIG;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        *out = scalar(n);
        return LBP_OK;
    case YAML_SEQUENCE_NODE: {
        json_object *a = json_object_new_array();
        if (!a)
            return LBP_NOMEM;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            json_object *v;
            if ((rc = convert(c, yaml_document_get_node(c->doc, *it), depth + 1, &v))) {
                json_object_put(a);
                return rc;
            }
            json_object_array_add(a, v);
        }
        *out = a;
        return LBP_OK;
    }
    case YAML_MAPPING_NODE: {
        json_object *o = json_object_new_object();
        if (!o)
            return LBP_NOMEM;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
            json_object *v;
            if (!k || k->type != YAML_SCALAR_NODE) {
                lbp_pools_errf(c->d, "line %zu: mapping keys must be scalars",
                               n->start_mark.line + 1);
                json_object_put(o);
                return LBP_PARSE;
            }
            const char *key = (const char *)k->data.scalar.value;
            if (json_object_object_get_ex(o, key, NULL)) {
                lbp_pools_errf(c->d, "line %zu: duplicate key \"%.64s\"", k->start_mark.line + 1,
                               key);
                json_object_put(o);
                return LBP_PARSE;
            }
            if ((rc = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1, &v))) {
                json_object_put(o);
                return rc;
            }
            json_object_object_add(o, key, v);
        }
        *out = o;
        return LBP_OK;
    }
    default:
        return LBP_OK;
    }
}

static bool dns_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && ch != '-' && ch != '.')
            return false;
        if (!alnum && (i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static int parse_pool(json_object *o, size_t idx, struct lbp_pool *p, struct lbp_pools_diag *d)
{
    static const char *const extra[] = {"name", "nodeSelectors", "interfaces", NULL};
    char path[64], fp[96];
    int rc;
    json_object *v = NULL;

    lbp_pools_pathf(path, sizeof(path), "pools[%zu].", idx);
    if (!json_object_is_type(o, json_type_object)) {
        lbp_pools_errf(d, "pools[%zu]: expected a mapping", idx);
        return LBP_INVALID;
    }
    if (!json_object_object_get_ex(o, "name", &v) || !json_object_is_type(v, json_type_string)) {
        lbp_pools_errf(d, "pools[%zu].name: required string", idx);
        return LBP_INVALID;
    }
    if (!dns_name(json_object_get_string(v))) {
        lbp_pools_errf(d,
                       "pools[%zu].name: \"%.64s\": must be a DNS name (lowercase letters, "
                       "digits, '-' and '.')",
                       idx, json_object_get_string(v));
        return LBP_INVALID;
    }
    if (!(p->name = strdup(json_object_get_string(v))))
        return LBP_NOMEM;
    p->source = LBP_POOL_YAML;
    if ((rc = lbp_pools_parse_spec(o, path, p, extra, d)))
        return rc;

    /* A YAML pool carries its own announcement settings: one advertisement. */
    if (!(p->advs = calloc(1, sizeof(*p->advs))))
        return LBP_NOMEM;
    p->n_advs = 1;
    if (!(p->advs[0].name = strdup(p->name)))
        return LBP_NOMEM;
    if (json_object_object_get_ex(o, "nodeSelectors", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%snodeSelectors", path);
        if ((rc = lbp_pools_parse_selectors(v, fp, &p->advs[0].node_selectors,
                                            &p->advs[0].n_node_selectors, d)))
            return rc;
    }
    if (json_object_object_get_ex(o, "interfaces", &v) && v) {
        lbp_pools_pathf(fp, sizeof(fp), "%sinterfaces", path);
        if ((rc = lbp_pools_parse_strings(v, fp, &p->advs[0].interfaces, &p->advs[0].n_interfaces,
                                          d)))
            return rc;
    }
    return LBP_OK;
}

static int parse_root(json_object *root, struct lbp_pool_set *set, struct lbp_pools_diag *d)
{
    static const char *const known[] = {"pools", NULL};
    int rc = LBP_OK;
    json_object *pools = NULL;
    struct lbp_pool *arr = NULL;
    size_t n = 0, done = 0;

    if (!root)
        return LBP_OK; /* an empty file: no pools */
    if (!json_object_is_type(root, json_type_object)) {
        lbp_pools_errf(d, "expected a mapping with a \"pools\" list");
        return LBP_INVALID;
    }
    lbp_pools_warn_unknown(root, "", known, NULL, d);
    if (!json_object_object_get_ex(root, "pools", &pools) || !pools)
        return LBP_OK;
    if (!json_object_is_type(pools, json_type_array)) {
        lbp_pools_errf(d, "pools: expected a list");
        return LBP_INVALID;
    }
    n = json_object_array_length(pools);
    if (n > LBP_POOLS_MAX_POOLS) {
        lbp_pools_errf(d, "pools: more than %d pools", LBP_POOLS_MAX_POOLS);
        return LBP_TOOBIG;
    }
    if (n == 0)
        return LBP_OK;
    if (!(arr = calloc(n, sizeof(*arr))))
        return LBP_NOMEM;
    for (done = 0; done < n; done++)
        if ((rc = parse_pool(json_object_array_get_idx(pools, done), done, &arr[done], d))) {
            done++; /* the failed one is partly filled */
            goto out;
        }
    if ((rc = lbp_pool_set_take(set, arr, n)) == LBP_OK)
        done = 0; /* the set owns them now */
out:
    for (size_t i = 0; i < done; i++)
        lbp_pool_clear(&arr[i]);
    free(arr);
    return rc;
}

int lbp_pools_add_yaml(struct lbp_pool_set *set, const char *text, size_t len,
                       struct lbp_pools_diag *d)
{
    int rc = LBP_OK;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    json_object *root = NULL;

    if (len > LBP_POOLS_MAX_FILE) {
        lbp_pools_errf(d, "config larger than %d bytes", LBP_POOLS_MAX_FILE);
        return LBP_TOOBIG;
    }
    if (!yaml_parser_initialize(&parser))
        return LBP_NOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        lbp_pools_errf(d, "line %zu column %zu: %s", parser.problem_mark.line + 1,
                       parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "invalid YAML");
        rc = LBP_PARSE;
        goto out;
    }
    have_doc = true;
    struct conv c = {.doc = &doc, .d = d};
    if ((rc = convert(&c, yaml_document_get_root_node(&doc), 0, &root)))
        goto out;
    rc = parse_root(root, set, d);
out:
    json_object_put(root);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

int lbp_pools_add_yaml_file(struct lbp_pool_set *set, const char *path, struct lbp_pools_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    char ferr[LBP_POOLS_ERR_LEN];
    int rc = lbp_file_read_err(path, LBP_POOLS_MAX_FILE, 0, &text, &len, ferr, sizeof(ferr));

    if (rc) {
        lbp_pools_errf(d, "%s", ferr);
        return rc;
    }
    rc = lbp_pools_add_yaml(set, text, len, d);
    if (rc && d && d->err[0]) {
        /* prefix the file name so the operator knows which file */
        char tmp[LBP_POOLS_ERR_LEN];
        lbp_strlcpy(tmp, d->err, sizeof(tmp));
        snprintf(d->err, sizeof(d->err), "%.200s: %.300s", path, tmp);
    }
    free(text);
    return rc;
}
