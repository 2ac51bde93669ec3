/*
 * managed.c — metadata.managedFields, kept as a real API server keeps them
 * for Update operations (create, PUT, PATCH), so objects weigh what a real
 * server's do on the wire and in a client's cache.
 *
 * The manager is the User-Agent up to its first '/' (upstream's
 * prefixFromUserAgent), "unknown" without one. Each write adds the fields
 * it changed, in FieldsV1 form, to the entry of its (manager, operation,
 * subresource) and stamps the entry's time. Field sets follow the shape the
 * real server writes: "f:<name>" per struct or map member, "k:{...}" per
 * element of a list keyed by name or by port+protocol, "v:<json>" per
 * element of finalizers, other lists atomic ({}), and "." on every list
 * element and keyed or set list. Ownership is only ever added: a field
 * another manager also wrote stays in that manager's set, which matters to
 * server-side apply conflicts, a path lbprov never takes.
 */
#include "fake.h"

#include <stdio.h>
#include <string.h>

/* Members the server owns itself; never part of a field set. */
static bool system_field(const char *parent, const char *k)
{
    static const char *const meta[] = {"uid",
                                       "resourceVersion",
                                       "creationTimestamp",
                                       "generation",
                                       "managedFields",
                                       "name",
                                       "namespace",
                                       "selfLink",
                                       "deletionTimestamp",
                                       "deletionGracePeriodSeconds"};
    if (!parent)
        return strcmp(k, "apiVersion") == 0 || strcmp(k, "kind") == 0;
    if (strcmp(parent, "metadata") != 0)
        return false;
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
        if (strcmp(k, meta[i]) == 0)
            return true;
    return false;
}

static json_object *fields_of(json_object *v, const char *key);

/* The "k:" or "v:" name of one list element, or false when the list is atomic. */
static bool elem_key(const char *list, json_object *e, char *out, size_t len)
{
    json_object *n, *p;
    if (json_object_is_type(e, json_type_object)) {
        if (json_object_object_get_ex(e, "port", &p) && json_object_is_type(p, json_type_int)) {
            json_object *proto = json_object_object_get(e, "protocol");
            snprintf(out, len, "k:{\"port\":%lld,\"protocol\":\"%s\"}",
                     (long long)json_object_get_int64(p),
                     proto ? json_object_get_string(proto) : "TCP");
            return true;
        }
        if (json_object_object_get_ex(e, "name", &n) && json_object_is_type(n, json_type_string)) {
            snprintf(out, len, "k:{\"name\":\"%s\"}", json_object_get_string(n));
            return true;
        }
        if (json_object_object_get_ex(e, "type", &n) && json_object_is_type(n, json_type_string) &&
            strcmp(list, "conditions") == 0) {
            snprintf(out, len, "k:{\"type\":\"%s\"}", json_object_get_string(n));
            return true;
        }
        return false;
    }
    if (strcmp(list, "finalizers") == 0 && json_object_is_type(e, json_type_string)) {
        snprintf(out, len, "v:\"%s\"", json_object_get_string(e));
        return true;
    }
    return false;
}

/* The field set of value v found under key (NULL at the root). */
static json_object *fields_of(json_object *v, const char *key)
{
    json_object *set = json_object_new_object();
    char name[512];
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, child)
        {
            if (system_field(key, k))
                continue;
            snprintf(name, sizeof(name), "f:%s", k);
            json_object_object_add(set, name, fields_of(child, k));
        }
    } else if (json_object_is_type(v, json_type_array) && key) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);
            if (!elem_key(key, e, name, sizeof(name))) {
                /* atomic list: the list itself is the field */
                json_object_put(set);
                return json_object_new_object();
            }
            json_object *es = json_object_is_type(e, json_type_object) ? fields_of(e, NULL)
                                                                       : json_object_new_object();
            if (json_object_is_type(e, json_type_object))
                json_object_object_add(es, ".", json_object_new_object());
            json_object_object_add(set, name, es);
        }
        if (n)
            json_object_object_add(set, ".", json_object_new_object());
    }
    return set;
}

/* The field set of what nw changed against old (both objects). */
static json_object *changed_fields(json_object *old, json_object *nw, const char *key)
{
    json_object *set = json_object_new_object();
    char name[512];
    json_object_object_foreach(nw, k, v)
    {
        if (system_field(key, k))
            continue;
        json_object *ov = old ? json_object_object_get(old, k) : NULL;
        if (ov && json_object_equal(ov, v))
            continue;
        snprintf(name, sizeof(name), "f:%s", k);
        if (ov && json_object_is_type(ov, json_type_object) &&
            json_object_is_type(v, json_type_object))
            json_object_object_add(set, name, changed_fields(ov, v, k));
        else
            json_object_object_add(set, name, fields_of(v, k));
    }
    return set;
}

/* Deep union of field set src into dst. */
static void merge_fields(json_object *dst, json_object *src)
{
    json_object_object_foreach(src, k, v)
    {
        json_object *d = json_object_object_get(dst, k);
        json_object *c = NULL;
        if (d)
            merge_fields(d, v);
        else if (json_object_deep_copy(v, &c, NULL) == 0) /* dst is changed later: no sharing */
            json_object_object_add(dst, k, c);
    }
}

void fake_managed_update(const struct fake_req *q, json_object *old, json_object *nw)
{
    json_object *meta = fake_ensure_obj(nw, "metadata");
    json_object *omf = old ? fake_get(old, "metadata.managedFields") : NULL;
    json_object *mf = json_object_new_array(), *mine = NULL;
    char manager[128] = "unknown", api_version[160], ts[32];
    const char *sub = q->sub[0] ? q->sub : NULL;
    if (q->user_agent && *q->user_agent) {
        size_t n = strcspn(q->user_agent, "/");
        if (n >= sizeof(manager))
            n = sizeof(manager) - 1;
        memcpy(manager, q->user_agent, n);
        manager[n] = '\0';
    }
    if (q->group[0])
        snprintf(api_version, sizeof(api_version), "%s/%s", q->group, q->version);
    else
        snprintf(api_version, sizeof(api_version), "%s", q->version);

    json_object *changed = changed_fields(old, nw, NULL);
    if (!sub) /* the main resource ignores status, so owns none of it */
        json_object_object_del(changed, "f:status");
    size_t n = omf && json_object_is_type(omf, json_type_array) ? json_object_array_length(omf) : 0;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(omf, i);
        const char *m = fake_get_str(e, "manager"), *s = fake_get_str(e, "subresource");
        const char *op = fake_get_str(e, "operation");
        if (!mine && m && strcmp(m, manager) == 0 && op && strcmp(op, "Update") == 0 &&
            ((!s && !sub) || (s && sub && strcmp(s, sub) == 0))) {
            mine = json_object_new_object();
            json_object_object_foreach(e, k, v)
            {
                json_object_object_add(mine, k, json_object_get(v));
            }
            json_object *fs = json_object_new_object();
            json_object *ofs = json_object_object_get(e, "fieldsV1");
            if (ofs)
                merge_fields(fs, ofs);
            json_object_object_add(mine, "fieldsV1", fs);
            json_object_array_add(mf, mine);
        } else {
            json_object_array_add(mf, json_object_get(e));
        }
    }
    if (!mine) {
        if (!json_object_object_length(changed)) {
            /* a write that changed nothing another manager could not own adds no entry */
            json_object_put(changed);
            goto out;
        }
        mine = json_object_new_object();
        json_object_object_add(mine, "manager", json_object_new_string(manager));
        json_object_object_add(mine, "operation", json_object_new_string("Update"));
        json_object_object_add(mine, "apiVersion", json_object_new_string(api_version));
        json_object_object_add(mine, "fieldsType", json_object_new_string("FieldsV1"));
        json_object_object_add(mine, "fieldsV1", json_object_new_object());
        if (sub)
            json_object_object_add(mine, "subresource", json_object_new_string(sub));
        json_object_array_add(mf, mine);
    }
    merge_fields(json_object_object_get(mine, "fieldsV1"), changed);
    json_object_put(changed);
    fake_now_rfc3339(ts);
    json_object_object_add(mine, "time", json_object_new_string(ts));
out:
    if (json_object_array_length(mf))
        json_object_object_add(meta, "managedFields", mf);
    else {
        json_object_put(mf);
        json_object_object_del(meta, "managedFields");
    }
}
