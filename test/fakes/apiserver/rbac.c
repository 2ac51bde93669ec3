/*
 * rbac.c — the RBAC authorizer of --authorization-mode=RBAC, evaluated per
 * request the way kube-apiserver's RBAC plugin does, from ClusterRoles,
 * ClusterRoleBindings, Roles and RoleBindings (rbac.authorization.k8s.io/v1)
 * that clients created through the API like any other object.
 *
 * A request is allowed when the user is in system:masters (upstream's
 * privileged-group authorizer), or it is a discovery / health path and the
 * user is authenticated (upstream's system:discovery and
 * system:public-info-viewer bindings, which kube-apiserver creates at start),
 * or some binding whose subjects name the user grants a rule matching it:
 * a ClusterRoleBinding anywhere, a RoleBinding (to a Role or a ClusterRole)
 * only in its own namespace. Rule matching is upstream's: verb, API group,
 * "resource" or "resource/subresource" (and "*" / "*"+"/sub"), resourceNames
 * (never matching a request without a name, such as create or an unfiltered
 * list), nonResourceURLs with a trailing "*" as a prefix. Aggregated
 * ClusterRoles are not expanded.
 *
 * A denial answers with upstream's 403 Forbidden Status text, is logged,
 * counted in /_fake/stats as "DENIED <reason>" and kept for /_fake/audit.
 * Every allowed request is kept there too as a distinct (user, verb, group,
 * resource, namespace, role) tuple with a count, so a test can prove that
 * each rule it ships is used — least privilege checked, not assumed.
 *
 * Bindings are read from the store under fake_lock at each request: there is
 * no cache to go stale, and a test's role change takes effect at once.
 */
#include "fake.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RBAC_GROUP "rbac.authorization.k8s.io"
#define AUDIT_MAX 100000 /* distinct tuples kept; more are counted in "dropped" only */
#define MSG_MAX 1024

struct audit {
    char *key;
    bool allowed;
    char *user, *verb, *group, *resource, *ns, *role, *msg;
    long count;
    UT_hash_handle hh;
};

static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct audit *audits;
static size_t naudits;
static long audit_dropped;

/* ---- matching ----------------------------------------------------------- */

/* Some string item v of arr (items of other types are skipped) has match(v, want). */
static bool any_item(json_object *arr, bool (*match)(const char *v, const void *want),
                     const void *want)
{
    if (!json_object_is_type(arr, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (json_object_is_type(e, json_type_string) && match(json_object_get_string(e), want))
            return true;
    }
    return false;
}

static bool is(const char *v, const void *want)
{
    return strcmp(v, want) == 0;
}

static bool is_or_star(const char *v, const void *want)
{
    return strcmp(v, want) == 0 || strcmp(v, "*") == 0;
}

struct res_want {
    const char *combined; /* "resource" or "resource/sub" */
    const char *sub;
};

static bool resource_is(const char *v, const void *want)
{
    const struct res_want *w = want;
    if (strcmp(v, "*") == 0 || strcmp(v, w->combined) == 0)
        return true;
    /* "*" + "/status": that subresource of every resource */
    return *w->sub && strncmp(v, "*/", 2) == 0 && strcmp(v + 2, w->sub) == 0;
}

static bool url_is(const char *v, const void *path)
{
    size_t n = strlen(v);
    return strcmp(v, path) == 0 || strcmp(v, "*") == 0 ||
           (n && v[n - 1] == '*' && strncmp(path, v, n - 1) == 0);
}

static bool resource_matches(json_object *arr, const char *resource, const char *sub)
{
    char combined[160];
    struct res_want w = {combined, sub};
    snprintf(combined, sizeof(combined), "%s%s%s", resource, *sub ? "/" : "", sub);
    return any_item(arr, resource_is, &w);
}

static bool rule_allows(json_object *rule, const struct fake_authz *a)
{
    if (!any_item(json_object_object_get(rule, "verbs"), is_or_star, a->verb))
        return false;
    if (!a->resource_request)
        return any_item(json_object_object_get(rule, "nonResourceURLs"), url_is, a->path);
    if (!any_item(json_object_object_get(rule, "apiGroups"), is_or_star, a->group) ||
        !resource_matches(json_object_object_get(rule, "resources"), a->resource, a->sub))
        return false;
    json_object *names = json_object_object_get(rule, "resourceNames");
    if (json_object_is_type(names, json_type_array) && json_object_array_length(names) > 0)
        return any_item(names, is, a->name); /* "" (create, unfiltered list) never matches */
    return true;
}

/* binding_ns: "" for a ClusterRoleBinding (a ServiceAccount subject must then name its namespace).
 */
static bool subject_matches(json_object *s, const struct fake_user *u, const char *binding_ns)
{
    const char *kind = fake_get_str(s, "kind"), *name = fake_get_str(s, "name");
    if (!kind || !name)
        return false;
    if (strcmp(kind, "User") == 0)
        return strcmp(u->name, name) == 0;
    if (strcmp(kind, "Group") == 0)
        return fake_user_in_group(u, name);
    if (strcmp(kind, "ServiceAccount") == 0) {
        const char *ns = fake_get_str(s, "namespace");
        char full[FAKE_NAME_MAX * 2 + 32];
        if (!ns || !*ns)
            ns = binding_ns;
        if (!*ns)
            return false;
        snprintf(full, sizeof(full), "system:serviceaccount:%s:%s", ns, name);
        return strcmp(u->name, full) == 0;
    }
    return false;
}

static bool binding_applies(json_object *b, const struct fake_user *u, const char *binding_ns)
{
    json_object *subs = json_object_object_get(b, "subjects");
    if (!json_object_is_type(subs, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(subs); i++)
        if (subject_matches(json_object_array_get_idx(subs, i), u, binding_ns))
            return true;
    return false;
}

static json_object *find_obj(const char *resource, const char *key)
{
    struct fake_rtype *rt = fake_rtype_lookup(RBAC_GROUP, "v1", resource, false);
    struct fake_obj *o = NULL;
    if (rt)
        HASH_FIND_STR(rt->objs, key, o);
    return o ? o->o : NULL;
}

/*
 * The role b points at grants a: fills role ("ClusterRole/x" or "Role/ns/x").
 * A ClusterRoleBinding may only point at a ClusterRole; a RoleBinding at
 * either (a Role of its own namespace). A missing role grants nothing.
 */
static bool role_allows(json_object *b, const char *binding_ns, const struct fake_authz *a,
                        char *role, size_t rolelen)
{
    const char *kind = fake_get_str(b, "roleRef.kind"), *name = fake_get_str(b, "roleRef.name");
    json_object *r = NULL;
    char key[FAKE_NAME_MAX * 2 + 2];
    if (!kind || !name)
        return false;
    if (strcmp(kind, "ClusterRole") == 0) {
        r = find_obj("clusterroles", name);
        snprintf(role, rolelen, "ClusterRole/%s", name);
    } else if (strcmp(kind, "Role") == 0 && *binding_ns) {
        snprintf(key, sizeof(key), "%s/%s", binding_ns, name);
        r = find_obj("roles", key);
        snprintf(role, rolelen, "Role/%s/%s", binding_ns, name);
    }
    json_object *rules = r ? json_object_object_get(r, "rules") : NULL;
    if (!json_object_is_type(rules, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(rules); i++)
        if (rule_allows(json_object_array_get_idx(rules, i), a))
            return true;
    return false;
}

/* Paths kube-apiserver's bootstrap roles open to every authenticated user (and health to all). */
static bool discovery_path(const char *p, bool authenticated)
{
    static const char *const pub[] = {"/healthz", "/livez", "/readyz", "/version", "/version/"};
    for (size_t i = 0; i < LBP_ARRAY_LEN(pub); i++)
        if (strcmp(p, pub[i]) == 0)
            return true;
    if (!authenticated)
        return false;
    return strcmp(p, "/api") == 0 || strncmp(p, "/api/", 5) == 0 || strcmp(p, "/apis") == 0 ||
           strncmp(p, "/apis/", 6) == 0 || strcmp(p, "/openapi") == 0 ||
           strncmp(p, "/openapi/", 9) == 0;
}

static bool decide(const struct fake_authz *a, char *role, size_t rolelen)
{
    const struct fake_user *u = a->user;
    if (fake_user_in_group(u, "system:masters")) {
        snprintf(role, rolelen, "Group/system:masters");
        return true;
    }
    if (!a->resource_request && strcmp(a->verb, "get") == 0 &&
        discovery_path(a->path, fake_user_in_group(u, "system:authenticated"))) {
        snprintf(role, rolelen, "ClusterRole/system:discovery");
        return true;
    }
    struct fake_rtype *crb = fake_rtype_lookup(RBAC_GROUP, "v1", "clusterrolebindings", false);
    for (struct fake_obj *o = crb ? crb->objs : NULL; o; o = o->hh.next)
        if (binding_applies(o->o, u, "") && role_allows(o->o, "", a, role, rolelen))
            return true;
    /* Namespaced bindings grant resources in their namespace, never paths or cluster scope. */
    if (!a->resource_request || !*a->ns)
        return false;
    struct fake_rtype *rb = fake_rtype_lookup(RBAC_GROUP, "v1", "rolebindings", false);
    size_t nslen = strlen(a->ns);
    for (struct fake_obj *o = rb ? rb->objs : NULL; o; o = o->hh.next)
        if (strncmp(o->key, a->ns, nslen) == 0 && o->key[nslen] == '/' &&
            binding_applies(o->o, u, a->ns) && role_allows(o->o, a->ns, a, role, rolelen))
            return true;
    return false;
}

/* ---- audit -------------------------------------------------------------- */

static char *dup_or_empty(const char *s)
{
    return strdup(s ? s : "");
}

static void audit_free_entry(struct audit *e)
{
    free(e->key);
    free(e->user);
    free(e->verb);
    free(e->group);
    free(e->resource);
    free(e->ns);
    free(e->role);
    free(e->msg);
    free(e);
}

static void audit_add(const struct fake_authz *a, bool allowed, const char *role, const char *msg)
{
    char key[2048], res[160];
    const char *sep = "\x1f";
    snprintf(res, sizeof(res), "%s%s%s", a->resource_request ? a->resource : a->path,
             a->resource_request && *a->sub ? "/" : "", a->resource_request ? a->sub : "");
    snprintf(key, sizeof(key), "%d%s%s%s%s%s%s%s%s%s%s%s%s", allowed, sep, a->user->name, sep,
             a->verb, sep, a->group ? a->group : "", sep, res, sep, a->ns ? a->ns : "", sep,
             role ? role : "");
    pthread_mutex_lock(&audit_lock);
    struct audit *e;
    HASH_FIND_STR(audits, key, e);
    if (!e && naudits < AUDIT_MAX && (e = calloc(1, sizeof(*e)))) {
        e->allowed = allowed;
        e->key = strdup(key);
        e->user = dup_or_empty(a->user->name);
        e->verb = dup_or_empty(a->verb);
        e->group = dup_or_empty(a->group);
        e->resource = dup_or_empty(res);
        e->ns = dup_or_empty(a->ns);
        e->role = dup_or_empty(role);
        e->msg = dup_or_empty(msg);
        if (!e->key || !e->user || !e->verb || !e->group || !e->resource || !e->ns || !e->role ||
            !e->msg) {
            audit_free_entry(e);
            e = NULL;
        } else {
            HASH_ADD_KEYPTR(hh, audits, e->key, strlen(e->key), e);
            naudits++;
        }
    }
    if (e)
        e->count++;
    else
        audit_dropped++;
    pthread_mutex_unlock(&audit_lock);
}

void fake_rbac_audit_reply(struct fake_reply *r)
{
    json_object *o = json_object_new_object();
    json_object *al = json_object_new_array(), *de = json_object_new_array();
    pthread_mutex_lock(&audit_lock);
    for (struct audit *e = audits; e; e = e->hh.next) {
        json_object *t = json_object_new_object();
        json_object_object_add(t, "user", json_object_new_string(e->user));
        json_object_object_add(t, "verb", json_object_new_string(e->verb));
        json_object_object_add(t, "group", json_object_new_string(e->group));
        json_object_object_add(t, "resource", json_object_new_string(e->resource));
        json_object_object_add(t, "namespace", json_object_new_string(e->ns));
        if (e->allowed)
            json_object_object_add(t, "role", json_object_new_string(e->role));
        else
            json_object_object_add(t, "message", json_object_new_string(e->msg));
        json_object_object_add(t, "count", json_object_new_int64(e->count));
        json_object_array_add(e->allowed ? al : de, t);
    }
    json_object_object_add(o, "enabled", json_object_new_boolean(fake_cfg.rbac));
    json_object_object_add(o, "allowed", al);
    json_object_object_add(o, "denied", de);
    json_object_object_add(o, "dropped", json_object_new_int64(audit_dropped));
    pthread_mutex_unlock(&audit_lock);
    fake_reply_json(r, 200, o);
}

void fake_rbac_audit_reset(void)
{
    struct audit *e, *tmp;
    pthread_mutex_lock(&audit_lock);
    HASH_ITER(hh, audits, e, tmp)
    {
        HASH_DEL(audits, e);
        audit_free_entry(e);
    }
    naudits = 0;
    audit_dropped = 0;
    pthread_mutex_unlock(&audit_lock);
}

void fake_rbac_free(void)
{
    fake_rbac_audit_reset();
}

/* ---- the decision ------------------------------------------------------- */

bool fake_rbac_authorize(const struct fake_authz *a, struct fake_reply *r)
{
    char role[FAKE_NAME_MAX * 2 + 32] = "", why[MSG_MAX], msg[MSG_MAX + FAKE_NAME_MAX + 200];
    pthread_mutex_lock(&fake_lock);
    bool ok = decide(a, role, sizeof(role));
    pthread_mutex_unlock(&fake_lock);
    if (ok) {
        audit_add(a, true, role, NULL);
        return true;
    }
    /* Upstream's forbiddenMessage, wrapped by apierrors.NewForbidden. */
    if (!a->resource_request) {
        snprintf(why, sizeof(why), "User \"%s\" cannot %s path \"%s\"", a->user->name, a->verb,
                 a->path);
        snprintf(msg, sizeof(msg), "forbidden: %s", why);
    } else {
        char scope[FAKE_NAME_MAX + 32], qual[200];
        if (*a->ns)
            snprintf(scope, sizeof(scope), "in the namespace \"%s\"", a->ns);
        else
            snprintf(scope, sizeof(scope), "at the cluster scope");
        snprintf(why, sizeof(why),
                 "User \"%s\" cannot %s resource \"%s%s%s\" in API group \"%s\" %s", a->user->name,
                 a->verb, a->resource, *a->sub ? "/" : "", a->sub, a->group, scope);
        snprintf(qual, sizeof(qual), "%s%s%s", a->resource, *a->group ? "." : "", a->group);
        if (*a->name)
            snprintf(msg, sizeof(msg), "%s \"%s\" is forbidden: %s", qual, a->name, why);
        else
            snprintf(msg, sizeof(msg), "%s is forbidden: %s", qual, why);
    }
    lbp_warn("RBAC DENY %s", msg);
    char key[MSG_MAX + 16];
    snprintf(key, sizeof(key), "DENIED %s", why);
    fake_stats_add(key);
    audit_add(a, false, NULL, msg);
    if (a->resource_request)
        fake_reply_status(r, 403, "Forbidden", msg, *a->name ? a->name : NULL, a->group,
                          a->resource);
    else
        fake_reply_status(r, 403, "Forbidden", msg, NULL, NULL, NULL);
    return false;
}
