/*
 * api.c — one LIST of pool configuration objects (see api.h).
 *
 * The items are handed on as text, re-serialised compactly by json-c, so
 * the parsers in metallb.c see exactly what the API held and nothing here
 * interprets them beyond metadata.uid and metadata.resourceVersion.
 */
#include "pools/api.h"
#include "pools/pools.h"
#include "common/rc.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the text, with a separator so fields never run together. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    h ^= 0xff;
    return h * 1099511628211ull;
}

static const char *meta_str(json_object *item, const char *field)
{
    json_object *meta, *v;
    if (!json_object_object_get_ex(item, "metadata", &meta) ||
        !json_object_object_get_ex(meta, field, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void lbp_pools_listing_free(struct lbp_pools_listing *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->objects[i]);
    free(l->objects);
    l->objects = NULL;
    l->n = 0;
    l->digest = LBP_POOLS_LISTING_EMPTY;
}

int lbp_pools_list(struct lbp_kube_client *c, const char *path, struct lbp_pools_listing *out)
{
    struct lbp_kube_response resp = {0};
    json_object *root = NULL, *items;
    size_t n;
    int rc;

    memset(out, 0, sizeof(*out));
    out->digest = LBP_POOLS_LISTING_EMPTY;
    rc = lbp_kube_get(c, path, &resp);
    if (rc != LBP_OK)
        goto out;
    root = json_tokener_parse(resp.body ? resp.body : "");
    if (!root || !json_object_object_get_ex(root, "items", &items) ||
        !json_object_is_type(items, json_type_array)) {
        rc = LBP_PARSE;
        goto out;
    }
    n = json_object_array_length(items);
    if (n > LBP_POOLS_MAX_POOLS) {
        rc = LBP_TOOBIG;
        goto out;
    }
    if (n && !(out->objects = calloc(n, sizeof(char *)))) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(items, i);
        out->digest = fnv(fnv(out->digest, meta_str(it, "uid")), meta_str(it, "resourceVersion"));
        out->objects[i] = strdup(json_object_to_json_string_ext(it, JSON_C_TO_STRING_PLAIN));
        if (!out->objects[i]) {
            rc = LBP_NOMEM;
            goto out;
        }
        out->n++;
    }
out:
    if (rc != LBP_OK)
        lbp_pools_listing_free(out);
    json_object_put(root);
    lbp_kube_response_free(&resp);
    return rc;
}
