/*
 * discovery.c — /version, /api, /api/v1, /apis, /apis/G and /apis/G/V, in
 * the legacy (v1) discovery format. Clients that ask for aggregated
 * discovery (apidiscovery.k8s.io/v2 in Accept) get this JSON too; client-go
 * and kubectl see the plain application/json Content-Type and fall back to
 * the per-group documents, as they do against older servers.
 */
#include "fake.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static json_object *str_array(const char *const *v)
{
    json_object *a = json_object_new_array();
    for (; *v; v++)
        json_object_array_add(a, json_object_new_string(*v));
    return a;
}

static json_object *resource_entry(const struct fake_rtype *rt, const char *sub)
{
    static const char *const verbs[] = {"create", "delete", "get",   "list",
                                        "patch",  "update", "watch", NULL};
    static const char *const sub_verbs[] = {"get", "patch", "update", NULL};
    char name[128], singular[64];
    json_object *o = json_object_new_object();
    snprintf(name, sizeof(name), "%s%s%s", rt->resource, sub ? "/" : "", sub ? sub : "");
    size_t i;
    for (i = 0; rt->kind[i] && i + 1 < sizeof(singular); i++)
        singular[i] = (char)tolower((unsigned char)rt->kind[i]);
    singular[i] = '\0';
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "singularName", json_object_new_string(sub ? "" : singular));
    json_object_object_add(o, "namespaced", json_object_new_boolean(rt->namespaced));
    json_object_object_add(o, "kind", json_object_new_string(rt->kind));
    json_object_object_add(o, "verbs", str_array(sub ? sub_verbs : verbs));
    if (!sub && rt->short_name[0]) {
        const char *sn[] = {rt->short_name, NULL};
        json_object_object_add(o, "shortNames", str_array(sn));
    }
    return o;
}

static json_object *resource_list(const char *group, const char *version)
{
    char gv[160];
    json_object *o = json_object_new_object(), *res = json_object_new_array();
    snprintf(gv, sizeof(gv), "%s%s%s", group, *group ? "/" : "", version);
    json_object_object_add(o, "kind", json_object_new_string("APIResourceList"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "groupVersion", json_object_new_string(gv));
    int n = 0;
    for (struct fake_rtype *rt = fake_rtype_iter(NULL); rt; rt = fake_rtype_iter(rt)) {
        if (strcmp(rt->group, group) != 0 || strcmp(rt->version, version) != 0)
            continue;
        json_object_array_add(res, resource_entry(rt, NULL));
        if (rt->has_status)
            json_object_array_add(res, resource_entry(rt, "status"));
        n++;
    }
    json_object_object_add(o, "resources", res);
    if (n == 0) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *group_entry(const char *group, const char *version)
{
    char gv[160];
    json_object *g = json_object_new_object(), *vs = json_object_new_array();
    snprintf(gv, sizeof(gv), "%s/%s", group, version);
    json_object *v = json_object_new_object();
    json_object_object_add(v, "groupVersion", json_object_new_string(gv));
    json_object_object_add(v, "version", json_object_new_string(version));
    json_object_array_add(vs, v);
    json_object_object_add(g, "name", json_object_new_string(group));
    json_object_object_add(g, "versions", vs);
    json_object_object_add(g, "preferredVersion", json_object_get(v));
    return g;
}

static json_object *group_list(const char *only)
{
    json_object *o = json_object_new_object(), *groups = json_object_new_array();
    json_object_object_add(o, "kind", json_object_new_string("APIGroupList"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    for (struct fake_rtype *rt = fake_rtype_iter(NULL); rt; rt = fake_rtype_iter(rt)) {
        if (!rt->group[0] || (only && strcmp(only, rt->group) != 0))
            continue;
        bool seen = false;
        for (size_t i = 0; i < json_object_array_length(groups); i++)
            seen = seen ||
                   lbp_streq(fake_get_str(json_object_array_get_idx(groups, i), "name"), rt->group);
        if (!seen)
            json_object_array_add(groups, group_entry(rt->group, rt->version));
    }
    json_object_object_add(o, "groups", groups);
    return o;
}

/*
 * /openapi/v3: just enough for kubectl's field-validation probe. kubectl
 * (client-go's QueryParamVerifierV3) looks for a PATCH operation tagged with
 * the object's GVK that lists the fieldValidation query parameter; finding
 * it, kubectl leaves validation to the server instead of downloading full
 * schemas. The fake accepts and ignores fieldValidation.
 */
static json_object *openapi_root(void)
{
    json_object *o = json_object_new_object(), *paths = json_object_new_object();
    for (struct fake_rtype *rt = fake_rtype_iter(NULL); rt; rt = fake_rtype_iter(rt)) {
        char key[200], url[260];
        if (rt->group[0])
            snprintf(key, sizeof(key), "apis/%s/%s", rt->group, rt->version);
        else
            snprintf(key, sizeof(key), "api/%s", rt->version);
        snprintf(url, sizeof(url), "/openapi/v3/%s?hash=0", key);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "serverRelativeURL", json_object_new_string(url));
        json_object_object_add(paths, key, e);
    }
    json_object_object_add(o, "paths", paths);
    return o;
}

static json_object *openapi_gv(const char *group, const char *version)
{
    json_object *o = json_object_new_object(), *paths = json_object_new_object();
    json_object *info = json_object_new_object();
    int n = 0;
    json_object_object_add(o, "openapi", json_object_new_string("3.0.0"));
    json_object_object_add(info, "title", json_object_new_string("Kubernetes"));
    json_object_object_add(info, "version", json_object_new_string("v1.32.0-fake"));
    json_object_object_add(o, "info", info);
    for (struct fake_rtype *rt = fake_rtype_iter(NULL); rt; rt = fake_rtype_iter(rt)) {
        if (strcmp(rt->group, group) != 0 || strcmp(rt->version, version) != 0)
            continue;
        char path[300];
        snprintf(path, sizeof(path), "/%s%s/%s/%s%s/{name}", group[0] ? "apis/" : "api", group,
                 version, rt->namespaced ? "namespaces/{namespace}/" : "", rt->resource);
        json_object *gvk = json_object_new_object(), *op = json_object_new_object();
        json_object *params = json_object_new_array(), *p = json_object_new_object();
        json_object *schema = json_object_new_object(), *item = json_object_new_object();
        json_object_object_add(gvk, "group", json_object_new_string(group));
        json_object_object_add(gvk, "version", json_object_new_string(version));
        json_object_object_add(gvk, "kind", json_object_new_string(rt->kind));
        json_object_object_add(p, "name", json_object_new_string("fieldValidation"));
        json_object_object_add(p, "in", json_object_new_string("query"));
        json_object_object_add(schema, "type", json_object_new_string("string"));
        json_object_object_add(p, "schema", schema);
        json_object_array_add(params, p);
        json_object_object_add(op, "parameters", params);
        json_object_object_add(op, "x-kubernetes-action", json_object_new_string("patch"));
        json_object_object_add(op, "x-kubernetes-group-version-kind", gvk);
        json_object_object_add(item, "patch", op);
        json_object_object_add(paths, path, item);
        n++;
    }
    json_object_object_add(o, "paths", paths);
    if (!n) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

bool fake_discovery(const char *url, struct fake_reply *r)
{
    json_object *o = NULL;
    char group[100], version[40];
    if (strcmp(url, "/version") == 0 || strcmp(url, "/version/") == 0) {
        o = json_object_new_object();
        json_object_object_add(o, "major", json_object_new_string("1"));
        json_object_object_add(o, "minor", json_object_new_string("32"));
        json_object_object_add(o, "gitVersion", json_object_new_string("v1.32.0-fake"));
        json_object_object_add(o, "gitCommit",
                               json_object_new_string("0000000000000000000000000000000000000000"));
        json_object_object_add(o, "gitTreeState", json_object_new_string("clean"));
        json_object_object_add(o, "buildDate", json_object_new_string("2026-01-01T00:00:00Z"));
        json_object_object_add(o, "goVersion", json_object_new_string("go1.23.0"));
        json_object_object_add(o, "compiler", json_object_new_string("gc"));
        json_object_object_add(o, "platform", json_object_new_string("linux/amd64"));
        fake_reply_json(r, 200, o);
        return true;
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 || strcmp(url, "/livez") == 0) {
        r->code = 200;
        r->body = strdup("ok");
        r->len = r->body ? 2 : 0;
        return true;
    }
    pthread_mutex_lock(&fake_lock);
    if (strcmp(url, "/api") == 0 || strcmp(url, "/api/") == 0) {
        char addr[64];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", fake_cfg.port);
        o = json_object_new_object();
        const char *v[] = {"v1", NULL};
        json_object_object_add(o, "kind", json_object_new_string("APIVersions"));
        json_object_object_add(o, "versions", str_array(v));
        json_object *cidr = json_object_new_object();
        json_object_object_add(cidr, "clientCIDR", json_object_new_string("0.0.0.0/0"));
        json_object_object_add(cidr, "serverAddress", json_object_new_string(addr));
        json_object *l = json_object_new_array();
        json_object_array_add(l, cidr);
        json_object_object_add(o, "serverAddressByClientCIDRs", l);
    } else if (strcmp(url, "/openapi/v3") == 0 || strcmp(url, "/openapi/v3/") == 0) {
        o = openapi_root();
    } else if (strcmp(url, "/openapi/v3/api/v1") == 0) {
        o = openapi_gv("", "v1");
    } else if (sscanf(url, "/openapi/v3/apis/%99[^/]/%39[^/]", group, version) == 2) {
        o = openapi_gv(group, version);
    } else if (strcmp(url, "/api/v1") == 0 || strcmp(url, "/api/v1/") == 0) {
        o = resource_list("", "v1");
    } else if (strcmp(url, "/apis") == 0 || strcmp(url, "/apis/") == 0) {
        o = group_list(NULL);
    } else if (sscanf(url, "/apis/%99[^/]/%39[^/]", group, version) == 2 &&
               strchr(url + 6 + strlen(group) + 1, '/') == NULL) {
        o = resource_list(group, version);
    } else if (sscanf(url, "/apis/%99[^/]", group) == 1 && strchr(url + 6, '/') == NULL) {
        json_object *gl = group_list(group);
        json_object *g = json_object_array_get_idx(json_object_object_get(gl, "groups"), 0);
        if (g) {
            o = json_object_new_object();
            json_object_object_add(o, "kind", json_object_new_string("APIGroup"));
            json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
            json_object_object_foreach(g, k, v)
            {
                json_object_object_add(o, k, json_object_get(v));
            }
        }
        json_object_put(gl);
    } else {
        pthread_mutex_unlock(&fake_lock);
        return false;
    }
    pthread_mutex_unlock(&fake_lock);
    if (!o)
        return false;
    fake_reply_json(r, 200, o);
    return true;
}
