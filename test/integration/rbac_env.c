/*
 * rbac_env.c — see rbac_env.h. The manifests are the shipped files under
 * examples/, read with libyaml (yaml_json.c), so what is checked is what a
 * user applies. Roles are matched to audit tuples by the name the fake
 * records for the granting role ("ClusterRole/x", "Role/ns/x"), so a verb
 * counts as used only when that role — not some other grant — allowed it.
 */
#include "test/integration/rbac_env.h"
#include "test/integration/yaml_json.h"

#include "common/util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *get(json_object *o, const char *path)
{
    char key[128];
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        o = json_object_object_get(o, key);
        path = dot + 1;
    }
    o = json_object_object_get(o, path);
    return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
}

static long get_int(json_object *o, const char *key)
{
    return (long)json_object_get_int64(json_object_object_get(o, key));
}

/* The collection an object of the manifests is created in; false for an unknown kind. */
static bool collection_path(json_object *o, char *out, size_t len)
{
    static const struct {
        const char *kind, *resource;
    } map[] = {
        {"Namespace", "namespaces"},
        {"ServiceAccount", "serviceaccounts"},
        {"ClusterRole", "clusterroles"},
        {"ClusterRoleBinding", "clusterrolebindings"},
        {"Role", "roles"},
        {"RoleBinding", "rolebindings"},
        {"ConfigMap", "configmaps"},
        {"Secret", "secrets"},
        {"Deployment", "deployments"},
        {"DaemonSet", "daemonsets"},
    };
    const char *av = get(o, "apiVersion"), *kind = get(o, "kind"),
               *ns = get(o, "metadata.namespace");
    for (size_t i = 0; i < LBP_ARRAY_LEN(map); i++)
        if (strcmp(map[i].kind, kind) == 0) {
            snprintf(out, len, "/%s%s%s%s/%s", strchr(av, '/') ? "apis/" : "api/", av,
                     *ns ? "/namespaces/" : "", ns, map[i].resource);
            return true;
        }
    return false;
}

json_object *rbac_apply(struct lbp_fake_api *api, const char *rel)
{
    char path[600], err[512], coll[400];
    json_object *docs = NULL;
    snprintf(path, sizeof(path), "%s/%s", LBP_EXAMPLES_DIR, rel);
    if (lbp_test_yaml_load(path, &docs, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        json_object *o = json_object_array_get_idx(docs, i);
        char *resp = NULL;
        if (!collection_path(o, coll, sizeof(coll))) {
            fprintf(stderr, "%s: no collection known for kind %s\n", path, get(o, "kind"));
            json_object_put(docs);
            return NULL;
        }
        long code =
            lbp_fake_api_request(api, "POST", coll, "application/json",
                                 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &resp);
        if (code != 201) {
            fprintf(stderr, "POST %s (%s) -> %ld %s\n", coll, get(o, "metadata.name"), code,
                    resp ? resp : "");
            free(resp);
            json_object_put(docs);
            return NULL;
        }
        free(resp);
    }
    return docs;
}

json_object *rbac_apply_all(struct lbp_fake_api *api, const char *const *rels, size_t n)
{
    json_object *all = json_object_new_array();
    for (size_t i = 0; i < n && all; i++) {
        json_object *d = rbac_apply(api, rels[i]);
        if (!d) {
            json_object_put(all);
            return NULL;
        }
        for (size_t j = 0; j < json_object_array_length(d); j++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(d, j)));
        json_object_put(d);
    }
    return all;
}

int rbac_add_token(struct lbp_fake_api *api, const char *token, const char *user)
{
    char body[600];
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user\":\"%s\"}", token, user);
    return lbp_fake_api_request(api, "POST", "/_fake/tokens", "application/json", body, NULL) == 201
               ? 0
               : -1;
}

int rbac_write_kubeconfig(const struct lbp_fake_api *api, const char *path, const char *token)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n"
            "users:\n- name: sa\n  user:\n    token: %s\ncontexts:\n- name: sa\n  context:\n"
            "    cluster: fake\n    user: sa\ncurrent-context: sa\n",
            api->url, token);
    return fclose(f) == 0 ? 0 : -1;
}

static json_object *audit(struct lbp_fake_api *api)
{
    char *body = NULL;
    json_object *o = NULL;
    if (lbp_fake_api_request(api, "GET", "/_fake/audit", NULL, NULL, &body) == 200 && body)
        o = json_tokener_parse(body);
    free(body);
    return o;
}

void rbac_print_denials(struct lbp_fake_api *api)
{
    json_object *a = audit(api);
    json_object *de = json_object_object_get(a, "denied");
    for (size_t i = 0; json_object_is_type(de, json_type_array) && i < json_object_array_length(de);
         i++)
        fprintf(stderr, "DENIED: %s\n", get(json_object_array_get_idx(de, i), "message"));
    json_object_put(a);
}

static bool binds(json_object *b, const char *ns, const char *sa)
{
    json_object *subs = json_object_object_get(b, "subjects");
    if (!json_object_is_type(subs, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *s = json_object_array_get_idx(subs, i);
        const char *sns = *get(s, "namespace") ? get(s, "namespace") : get(b, "metadata.namespace");
        if (strcmp(get(s, "kind"), "ServiceAccount") == 0 && strcmp(get(s, "name"), sa) == 0 &&
            strcmp(sns, ns) == 0)
            return true;
    }
    return false;
}

static long used(json_object *allowed, const char *user, const char *role, const char *group,
                 const char *resource, const char *verb)
{
    long n = 0;
    for (size_t i = 0; i < json_object_array_length(allowed); i++) {
        json_object *t = json_object_array_get_idx(allowed, i);
        if (strcmp(get(t, "user"), user) == 0 && strcmp(get(t, "role"), role) == 0 &&
            strcmp(get(t, "group"), group) == 0 && strcmp(get(t, "resource"), resource) == 0 &&
            strcmp(get(t, "verb"), verb) == 0)
            n += get_int(t, "count");
    }
    return n;
}

static bool listed(const char *const *l, const char *role, const char *g, const char *r,
                   const char *v)
{
    char key[400];
    snprintf(key, sizeof(key), "%s %s %s %s", role, g, r, v);
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], key) == 0)
            return true;
    return false;
}

static json_object *find_role(json_object *docs, const char *kind, const char *name)
{
    for (size_t j = 0; j < json_object_array_length(docs); j++) {
        json_object *c = json_object_array_get_idx(docs, j);
        if (strcmp(get(c, "kind"), kind) == 0 && strcmp(get(c, "metadata.name"), name) == 0)
            return c;
    }
    return NULL;
}

/* Checks one rule's (group, resource, verb) triples; returns failures, counts triples. */
static int check_rule(json_object *allowed, json_object *rule, const char *role, const char *user,
                      const char *const *not_exercised, int *triples)
{
    json_object *gs = json_object_object_get(rule, "apiGroups");
    json_object *rs = json_object_object_get(rule, "resources");
    json_object *vs = json_object_object_get(rule, "verbs");
    int failures = 0;
    if (!json_object_is_type(gs, json_type_array) || !json_object_is_type(rs, json_type_array) ||
        !json_object_is_type(vs, json_type_array) ||
        json_object_object_get(rule, "nonResourceURLs")) {
        fprintf(stderr, "%s: a rule without apiGroups/resources/verbs, or with paths\n", role);
        return 1;
    }
    for (size_t g = 0; g < json_object_array_length(gs); g++)
        for (size_t x = 0; x < json_object_array_length(rs); x++)
            for (size_t v = 0; v < json_object_array_length(vs); v++) {
                const char *gn = json_object_get_string(json_object_array_get_idx(gs, g));
                const char *xn = json_object_get_string(json_object_array_get_idx(rs, x));
                const char *vn = json_object_get_string(json_object_array_get_idx(vs, v));
                (*triples)++;
                if (!strcmp(gn, "*") || !strcmp(xn, "*") || !strcmp(vn, "*")) {
                    fprintf(stderr, "WILDCARD in %s: %s %s %s\n", role, gn, xn, vn);
                    failures++;
                    continue;
                }
                long n = used(allowed, user, role, gn, xn, vn);
                if (n > 0) {
                    printf("  used  %-50s %-20s %-18s %-7s x%ld\n", role, *gn ? gn : "\"\"", xn, vn,
                           n);
                } else if (listed(not_exercised, role, gn, xn, vn)) {
                    printf("  (not exercised here, allow-listed) %s %s %s %s\n", role, gn, xn, vn);
                } else {
                    fprintf(stderr, "UNUSED rule: %s grants %s on %s in group \"%s\"\n", role, vn,
                            xn, gn);
                    failures++;
                }
            }
    return failures;
}

int rbac_check_exact(struct lbp_fake_api *api, json_object *docs, const char *ns, const char *sa,
                     const char *user, const char *const *not_exercised)
{
    int failures = 0, triples = 0, bindings = 0;
    json_object *a = audit(api);
    if (!a)
        return -1;
    json_object *allowed = json_object_object_get(a, "allowed");
    json_object *denied = json_object_object_get(a, "denied");
    if (!json_object_is_type(allowed, json_type_array) ||
        !json_object_is_type(denied, json_type_array)) {
        json_object_put(a);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(denied); i++) {
        json_object *t = json_object_array_get_idx(denied, i);
        if (strcmp(get(t, "user"), user) == 0) {
            fprintf(stderr, "DENIED (x%ld): %s\n", get_int(t, "count"), get(t, "message"));
            failures++;
        }
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        json_object *b = json_object_array_get_idx(docs, i);
        const char *bk = get(b, "kind");
        if ((strcmp(bk, "ClusterRoleBinding") != 0 && strcmp(bk, "RoleBinding") != 0) ||
            !binds(b, ns, sa))
            continue;
        bindings++;
        const char *rk = get(b, "roleRef.kind"), *rn = get(b, "roleRef.name");
        char role[300];
        if (strcmp(rk, "Role") == 0)
            snprintf(role, sizeof(role), "Role/%s/%s", get(b, "metadata.namespace"), rn);
        else
            snprintf(role, sizeof(role), "ClusterRole/%s", rn);
        json_object *r = find_role(docs, rk, rn);
        if (!r) {
            fprintf(stderr, "%s %s binds %s, which the manifests do not ship\n", bk,
                    get(b, "metadata.name"), role);
            failures++;
            continue;
        }
        json_object *rules = json_object_object_get(r, "rules");
        if (!json_object_is_type(rules, json_type_array)) {
            fprintf(stderr, "%s has no rules\n", role);
            failures++;
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(rules); k++)
            failures += check_rule(allowed, json_object_array_get_idx(rules, k), role, user,
                                   not_exercised, &triples);
    }
    printf("%s: %d bindings, %d granted (group, resource, verb) checked, %d failures\n", user,
           bindings, triples, failures);
    if (bindings == 0 || triples == 0)
        failures++;
    json_object_put(a);
    return failures;
}
