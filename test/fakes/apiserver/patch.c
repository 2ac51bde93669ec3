/*
 * patch.c — the three PATCH flavours the real server accepts from clients
 * like lbprov:
 *
 *  - JSON merge patch (RFC 7386): objects merge, null deletes, anything else
 *    replaces.
 *  - JSON patch (RFC 6902): add, remove, replace, test, move, copy over JSON
 *    pointers (RFC 6901). An op that does not apply is a 422, as upstream.
 *  - Strategic merge patch: merge patch plus the per-field list strategies of
 *    the built-in types that matter here (metadata.finalizers merges as a
 *    set, ports/conditions/addresses/ownerReferences merge by key, every
 *    other list is replaced) and the directives "$patch: replace|delete",
 *    "$deleteFromPrimitiveList/<field>", "$setElementOrder/<field>" and
 *    "$retainKeys".
 *
 * All three work on a deep copy of the stored object.
 */
#include "fake.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_MAX_OPS 10000 /* upstream's cap on JSON patch operations */

static json_object *copy_of(json_object *v)
{
    json_object *c = NULL;
    if (v && json_object_deep_copy(v, &c, NULL))
        return NULL;
    return c;
}

/* ---- RFC 7386 ------------------------------------------------------------ */

static json_object *merge(json_object *target, json_object *patch)
{
    if (!json_object_is_type(patch, json_type_object)) {
        json_object_put(target);
        return copy_of(patch);
    }
    if (!json_object_is_type(target, json_type_object)) {
        json_object_put(target);
        target = json_object_new_object();
    }
    json_object_object_foreach(patch, k, v)
    {
        if (!v) {
            json_object_object_del(target, k);
            continue;
        }
        json_object *cur = json_object_get(json_object_object_get(target, k));
        json_object_object_add(target, k, merge(cur, v));
    }
    return target;
}

/* ---- strategic merge ----------------------------------------------------- */

struct strategy {
    const char *path;
    const char *merge_key; /* NULL: primitive list merged as a set */
};
static const struct strategy strategies[] = {
    {"metadata.finalizers", NULL},
    {"metadata.ownerReferences", "uid"},
    {"spec.ports", "port"},
    {"spec.taints", "key"},
    {"status.conditions", "type"},
    {"status.addresses", "type"},
    {"spec.template.spec.containers", "name"},
};

static const struct strategy *strategy_for(const char *path)
{
    for (size_t i = 0; i < LBP_ARRAY_LEN(strategies); i++)
        if (strcmp(strategies[i].path, path) == 0)
            return &strategies[i];
    return NULL;
}

static bool elem_key_eq(json_object *a, json_object *b, const char *key)
{
    json_object *x = json_object_object_get(a, key), *y = json_object_object_get(b, key);
    return x && y && json_object_equal(x, y);
}

static json_object *smp(json_object *target, json_object *patch, const char *path);

static json_object *smp_list(json_object *target, json_object *patch, const char *path)
{
    const struct strategy *st = strategy_for(path);
    size_t n = json_object_array_length(patch);
    for (size_t i = 0; i < n; i++) {
        json_object *pe = json_object_array_get_idx(patch, i);
        if (json_object_is_type(pe, json_type_object) &&
            lbp_streq(fake_get_str(pe, "$patch"), "replace")) {
            /* The list is replaced by the other elements. */
            json_object *out = json_object_new_array();
            for (size_t j = 0; j < n; j++)
                if (j != i)
                    json_object_array_add(out, copy_of(json_object_array_get_idx(patch, j)));
            json_object_put(target);
            return out;
        }
    }
    if (!st) {
        json_object_put(target);
        return copy_of(patch);
    }
    if (!json_object_is_type(target, json_type_array)) {
        json_object_put(target);
        target = json_object_new_array();
    }
    for (size_t i = 0; i < n; i++) {
        json_object *pe = json_object_array_get_idx(patch, i);
        size_t tn = json_object_array_length(target), j;
        if (!st->merge_key) {
            for (j = 0; j < tn; j++)
                if (json_object_equal(json_object_array_get_idx(target, j), pe))
                    break;
            if (j == tn)
                json_object_array_add(target, copy_of(pe));
            continue;
        }
        if (!json_object_is_type(pe, json_type_object))
            continue;
        for (j = 0; j < tn; j++)
            if (elem_key_eq(json_object_array_get_idx(target, j), pe, st->merge_key))
                break;
        if (lbp_streq(fake_get_str(pe, "$patch"), "delete")) {
            if (j < tn)
                json_object_array_del_idx(target, j, 1);
            continue;
        }
        char sub[300];
        int sn = snprintf(sub, sizeof(sub), "%s[]", path);
        if (sn < 0 || (size_t)sn >= sizeof(sub))
            sub[0] = '\0'; /* too deep to name: no list strategy applies */
        if (j < tn) {
            json_object *cur = json_object_get(json_object_array_get_idx(target, j));
            json_object_array_put_idx(target, j, smp(cur, pe, sub));
        } else {
            json_object_array_add(target, smp(NULL, pe, sub));
        }
    }
    return target;
}

static void delete_from_list(json_object *target, const char *key, json_object *vals)
{
    json_object *l = json_object_object_get(target, key);
    if (!l || !json_object_is_type(l, json_type_array) ||
        !json_object_is_type(vals, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(vals); i++) {
        json_object *v = json_object_array_get_idx(vals, i);
        for (size_t j = json_object_array_length(l); j-- > 0;)
            if (json_object_equal(json_object_array_get_idx(l, j), v))
                json_object_array_del_idx(l, j, 1);
    }
}

/* Returns the merged value; NULL means "delete this key" ($patch: delete). */
static json_object *smp(json_object *target, json_object *patch, const char *path)
{
    if (!json_object_is_type(patch, json_type_object)) {
        json_object_put(target);
        return copy_of(patch);
    }
    const char *directive = fake_get_str(patch, "$patch");
    if (lbp_streq(directive, "delete")) {
        json_object_put(target);
        return NULL;
    }
    if (lbp_streq(directive, "replace") || !json_object_is_type(target, json_type_object)) {
        json_object_put(target);
        target = json_object_new_object();
    }
    json_object_object_foreach(patch, k, v)
    {
        if (strncmp(k, "$deleteFromPrimitiveList/", 25) == 0) {
            delete_from_list(target, k + 25, v);
            continue;
        }
        if (k[0] == '$')
            continue; /* $patch, $setElementOrder/..., $retainKeys: order/shape hints */
        if (!v) {
            json_object_object_del(target, k);
            continue;
        }
        char sub[300];
        int sn = snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", k);
        if (sn < 0 || (size_t)sn >= sizeof(sub))
            sub[0] = '\0';
        json_object *cur = json_object_get(json_object_object_get(target, k));
        json_object *res;
        if (json_object_is_type(v, json_type_array))
            res = smp_list(cur, v, sub);
        else
            res = smp(cur, v, sub);
        if (res)
            json_object_object_add(target, k, res);
        else
            json_object_object_del(target, k);
    }
    return target;
}

/* ---- RFC 6902 ------------------------------------------------------------ */

/* Splits a JSON pointer; tokens are unescaped in place. Returns the count or -1. */
static int split_pointer(char *p, char **tok, int max)
{
    int n = 0;
    if (*p == '\0')
        return 0;
    if (*p != '/')
        return -1;
    while (*p == '/') {
        if (n >= max)
            return -1;
        *p++ = '\0';
        tok[n++] = p;
        char *w = p;
        while (*p && *p != '/') {
            if (*p == '~' && p[1] == '0') {
                *w++ = '~';
                p += 2;
            } else if (*p == '~' && p[1] == '1') {
                *w++ = '/';
                p += 2;
            } else {
                *w++ = *p++;
            }
        }
        char next = *p;
        *w = '\0';
        if (next == '/')
            *p = '/';
    }
    return n;
}

static bool array_index(const char *t, size_t len, bool allow_end, size_t *out)
{
    long v;
    if (allow_end && strcmp(t, "-") == 0) {
        *out = len;
        return true;
    }
    if (!*t || (t[0] == '0' && t[1]) || lbp_parse_long(t, 0, 1000000, &v))
        return false;
    *out = (size_t)v;
    return allow_end ? *out <= len : *out < len;
}

/* Walks to the container holding the last token. */
static json_object *walk(json_object *doc, char **tok, int n)
{
    json_object *cur = doc;
    for (int i = 0; i < n - 1 && cur; i++) {
        if (json_object_is_type(cur, json_type_object)) {
            cur = json_object_object_get(cur, tok[i]);
        } else if (json_object_is_type(cur, json_type_array)) {
            size_t idx;
            if (!array_index(tok[i], json_object_array_length(cur), false, &idx))
                return NULL;
            cur = json_object_array_get_idx(cur, idx);
        } else {
            return NULL;
        }
    }
    return cur;
}

static json_object *ptr_get(json_object *doc, const char *path)
{
    char buf[1024], *tok[64];
    if (strlen(path) >= sizeof(buf))
        return NULL;
    lbp_strlcpy(buf, path, sizeof(buf));
    int n = split_pointer(buf, tok, 64);
    if (n < 0)
        return NULL;
    if (n == 0)
        return doc;
    json_object *parent = walk(doc, tok, n);
    if (json_object_is_type(parent, json_type_object)) {
        json_object *v;
        return json_object_object_get_ex(parent, tok[n - 1], &v) ? v : NULL;
    }
    if (json_object_is_type(parent, json_type_array)) {
        size_t idx;
        if (!array_index(tok[n - 1], json_object_array_length(parent), false, &idx))
            return NULL;
        return json_object_array_get_idx(parent, idx);
    }
    return NULL;
}

static void array_insert(json_object *arr, size_t idx, json_object *v)
{
    size_t len = json_object_array_length(arr);
    if (idx >= len) {
        json_object_array_add(arr, v);
        return;
    }
    json_object_array_add(arr, NULL);
    for (size_t i = len; i > idx; i--)
        json_object_array_put_idx(arr, i, json_object_get(json_object_array_get_idx(arr, i - 1)));
    json_object_array_put_idx(arr, idx, v);
}

/* add/replace/remove at path; v is taken. *doc may be replaced (root). */
static int ptr_op(json_object **doc, const char *path, const char *op, json_object *v)
{
    char buf[1024], *tok[64];
    int rc = -1;
    if (strlen(path) >= sizeof(buf))
        goto out;
    lbp_strlcpy(buf, path, sizeof(buf));
    int n = split_pointer(buf, tok, 64);
    if (n < 0)
        goto out;
    if (n == 0) {
        if (strcmp(op, "remove") == 0)
            goto out;
        json_object_put(*doc);
        *doc = v;
        return 0;
    }
    json_object *parent = walk(*doc, tok, n);
    const char *last = tok[n - 1];
    if (json_object_is_type(parent, json_type_object)) {
        bool exists = json_object_object_get_ex(parent, last, NULL);
        if (strcmp(op, "add") == 0) {
            json_object_object_add(parent, last, v);
            return 0;
        }
        if (!exists)
            goto out;
        if (strcmp(op, "remove") == 0)
            json_object_object_del(parent, last);
        else
            json_object_object_add(parent, last, v), v = NULL;
        rc = 0;
    } else if (json_object_is_type(parent, json_type_array)) {
        size_t idx, len = json_object_array_length(parent);
        if (strcmp(op, "add") == 0) {
            if (!array_index(last, len, true, &idx))
                goto out;
            array_insert(parent, idx, v);
            return 0;
        }
        if (!array_index(last, len, false, &idx))
            goto out;
        if (strcmp(op, "remove") == 0)
            json_object_array_del_idx(parent, idx, 1);
        else
            json_object_array_put_idx(parent, idx, v), v = NULL;
        rc = 0;
    }
out:
    json_object_put(v);
    return rc;
}

static int json_patch(json_object **doc, json_object *ops, char *msg, size_t msglen)
{
    if (!json_object_is_type(ops, json_type_array)) {
        snprintf(msg, msglen,
                 "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
        return 400;
    }
    size_t n = json_object_array_length(ops);
    if (n > PATCH_MAX_OPS) {
        snprintf(msg, msglen, "The allowed maximum operations in a JSON patch is %d, got %zu",
                 PATCH_MAX_OPS, n);
        return 413;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(ops, i);
        const char *op = fake_get_str(o, "op"), *path = fake_get_str(o, "path");
        const char *from = fake_get_str(o, "from");
        json_object *value = NULL;
        bool has_value = o && json_object_is_type(o, json_type_object) &&
                         json_object_object_get_ex(o, "value", &value);
        if (!op || !path) {
            snprintf(msg, msglen, "operation %zu lacks op or path", i);
            return 422;
        }
        int rc = -1;
        if (strcmp(op, "add") == 0 || strcmp(op, "replace") == 0) {
            if (has_value)
                rc = ptr_op(doc, path, op, copy_of(value));
        } else if (strcmp(op, "remove") == 0) {
            rc = ptr_op(doc, path, op, NULL);
        } else if (strcmp(op, "test") == 0) {
            json_object *cur = ptr_get(*doc, path);
            rc = has_value && ((!cur && !value) || (cur && value && json_object_equal(cur, value)))
                     ? 0
                     : -1;
        } else if ((strcmp(op, "move") == 0 || strcmp(op, "copy") == 0) && from) {
            json_object *src = copy_of(ptr_get(*doc, from));
            if (src && (strcmp(op, "copy") == 0 || ptr_op(doc, from, "remove", NULL) == 0))
                rc = ptr_op(doc, path, "add", src);
            else
                json_object_put(src);
        }
        if (rc) {
            snprintf(msg, msglen, "%s operation does not apply: doc is missing path: \"%s\"", op,
                     path);
            return 422;
        }
    }
    return 0;
}

int fake_patch_apply(enum fake_patch_type type, json_object *doc, const char *patch, size_t len,
                     json_object **out, char *msg, size_t msglen)
{
    struct json_tokener *tok = json_tokener_new();
    json_object *p = tok ? json_tokener_parse_ex(tok, patch ? patch : "", (int)len) : NULL;
    bool ok = tok && json_tokener_get_error(tok) == json_tokener_success && len > 0;
    int rc = 0;
    json_tokener_free(tok);
    *out = NULL;
    if (!ok) {
        snprintf(msg, msglen, "error decoding patch: invalid JSON");
        json_object_put(p);
        return 400;
    }
    json_object *target = copy_of(doc);
    switch (type) {
    case PATCH_MERGE:
        if (!json_object_is_type(p, json_type_object)) {
            snprintf(msg, msglen, "error decoding patch: a merge patch must be a JSON object");
            rc = 400;
            break;
        }
        target = merge(target, p);
        break;
    case PATCH_STRATEGIC:
        if (!json_object_is_type(p, json_type_object)) {
            snprintf(msg, msglen,
                     "error decoding patch: a strategic merge patch must be a JSON object");
            rc = 400;
            break;
        }
        target = smp(target, p, "");
        if (!target)
            target = json_object_new_object();
        break;
    case PATCH_JSON:
        rc = json_patch(&target, p, msg, msglen);
        break;
    }
    json_object_put(p);
    if (rc) {
        json_object_put(target);
        return rc;
    }
    *out = target;
    return 0;
}
