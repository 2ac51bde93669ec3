/*
 * test_rbac.c — the fake API server's RBAC authorizer
 * (--authorization-mode=RBAC): decisions made from Roles and bindings
 * created through the API, upstream's exact 403 Status, namespace scoping,
 * ClusterRole via RoleBinding, subresources, resourceNames, Group / User /
 * ServiceAccount subjects, system:masters, discovery for every
 * authenticated user, and the denial counters and audit a least-privilege
 * test relies on. Also: without the flag everything stays allowed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define ADMIN "admin-token-rbac"
#define SA_TOKEN "sa-token-ctl"
#define SA_USER "system:serviceaccount:lbprov-system:lbprov-controller"
#define OTHER_TOKEN "other-token"
#define OTHER_USER "jane"
#define RBAC "/apis/rbac.authorization.k8s.io/v1"

static struct lbp_fake_api api;

/* A request as the holder of token (lbp_fake_api_request speaks as the admin). */
static long req_as(const char *token, const char *method, const char *path, const char *body,
                   char **resp)
{
    const char *ct = !body                          ? NULL
                     : strcmp(method, "PATCH") == 0 ? "application/merge-patch+json"
                                                    : "application/json";
    return lbp_fake_api_request_as(&api, token, method, path, ct, body, resp);
}

static long sa(const char *method, const char *path, const char *body)
{
    char *resp = NULL;
    long code = req_as(SA_TOKEN, method, path, body, &resp);
    free(resp);
    return code;
}

/* The request is 403 with exactly this message and these details. */
static void assert_forbidden(const char *token, const char *method, const char *path,
                             const char *body, const char *message, const char *name,
                             const char *group, const char *kind)
{
    char *resp = NULL;
    long code = req_as(token, method, path, body, &resp);
    if (code != 403)
        fprintf(stderr, "%s %s -> %ld %s\n", method, path, code, resp ? resp : "");
    assert_int_equal(code, 403);
    json_object *o = json_tokener_parse(resp);
    assert_non_null(o);
    assert_string_equal(json_object_get_string(json_object_object_get(o, "kind")), "Status");
    assert_string_equal(json_object_get_string(json_object_object_get(o, "reason")), "Forbidden");
    assert_string_equal(json_object_get_string(json_object_object_get(o, "message")), message);
    assert_int_equal(json_object_get_int(json_object_object_get(o, "code")), 403);
    json_object *d = json_object_object_get(o, "details");
    if (kind) {
        assert_non_null(d);
        assert_string_equal(json_object_get_string(json_object_object_get(d, "kind")), kind);
        json_object *g = json_object_object_get(d, "group");
        if (group && *group)
            assert_string_equal(json_object_get_string(g), group);
        else
            assert_null(g);
        json_object *n = json_object_object_get(d, "name");
        if (name)
            assert_string_equal(json_object_get_string(n), name);
        else
            assert_null(n);
    }
    json_object_put(o);
    free(resp);
}

static void admin_create(const char *path, const char *json)
{
    char *resp = NULL;
    long code = lbp_fake_api_request(&api, "POST", path, "application/json", json, &resp);
    if (code != 201)
        fprintf(stderr, "POST %s -> %ld %s\n", path, code, resp ? resp : "");
    assert_int_equal(code, 201);
    free(resp);
}

static void admin_delete(const char *path)
{
    assert_int_equal(lbp_fake_api_request(&api, "DELETE", path, NULL, NULL, NULL), 200);
}

static void add_token(const char *token, const char *user)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user\":\"%s\"}", token, user);
    assert_int_equal(
        lbp_fake_api_request(&api, "POST", "/_fake/tokens", "application/json", body, NULL), 201);
}

static void cluster_role(const char *name, const char *rules)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRole\","
             "\"metadata\":{\"name\":\"%s\"},\"rules\":%s}",
             name, rules);
    admin_create(RBAC "/clusterroles", body);
}

static void binding(const char *ns, const char *name, const char *role_kind, const char *role,
                    const char *subjects)
{
    char body[4096], path[512];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"%s\","
             "\"metadata\":{\"name\":\"%s\"%s%s%s},"
             "\"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"%s\","
             "\"name\":\"%s\"},\"subjects\":%s}",
             ns ? "RoleBinding" : "ClusterRoleBinding", name, ns ? ",\"namespace\":\"" : "",
             ns ? ns : "", ns ? "\"" : "", role_kind, role, subjects);
    if (ns)
        snprintf(path, sizeof(path), RBAC "/namespaces/%s/rolebindings", ns);
    else
        snprintf(path, sizeof(path), RBAC "/clusterrolebindings");
    admin_create(path, body);
}

static const char *const sa_subject = "[{\"kind\":\"ServiceAccount\",\"name\":\"lbprov-"
                                      "controller\",\"namespace\":\"lbprov-system\"}]";

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lbp_fake_api_opts o = {.token = ADMIN, .extra_arg = "--authorization-mode=RBAC"};
    if (lbp_fake_api_start(&o, &api))
        return -1;
    if (lbp_fake_api_request(&api, "POST", "/api/v1/namespaces", "application/json",
                             "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                             "\"metadata\":{\"name\":\"lbprov-system\"}}",
                             NULL) != 201)
        return -1;
    char body[256];
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user\":\"%s\"}", SA_TOKEN, SA_USER);
    if (lbp_fake_api_request(&api, "POST", "/_fake/tokens", "application/json", body, NULL) != 201)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    lbp_fake_api_stop(&api);
    curl_global_cleanup();
    return 0;
}

/* Nothing granted: upstream's messages, namespaced and cluster scope, named and not. */
static void test_denied_by_default(void **state)
{
    assert_forbidden(SA_TOKEN, "PATCH", "/api/v1/namespaces/default/services/x/status", "{}",
                     "services \"x\" is forbidden: User \"" SA_USER
                     "\" cannot patch resource \"services/status\" in API group \"\" in the "
                     "namespace \"default\"",
                     "x", "", "services");
    assert_forbidden(SA_TOKEN, "GET", "/api/v1/nodes?watch=true", NULL,
                     "nodes is forbidden: User \"" SA_USER
                     "\" cannot watch resource \"nodes\" in API group \"\" at the cluster scope",
                     NULL, "", "nodes");
    assert_forbidden(SA_TOKEN, "GET",
                     "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases/lbprov", NULL,
                     "leases.coordination.k8s.io \"lbprov\" is forbidden: User \"" SA_USER
                     "\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in "
                     "the namespace \"lbprov-system\"",
                     "lbprov", "coordination.k8s.io", "leases");
    assert_forbidden(SA_TOKEN, "POST", "/api/v1/namespaces/default/events", "{}",
                     "events is forbidden: User \"" SA_USER
                     "\" cannot create resource \"events\" in API group \"\" in the namespace "
                     "\"default\"",
                     NULL, "", "events");
    /* A Namespace is in its own namespace, as upstream's RequestInfo has it. */
    assert_forbidden(SA_TOKEN, "DELETE", "/api/v1/namespaces/lbprov-system", NULL,
                     "namespaces \"lbprov-system\" is forbidden: User \"" SA_USER
                     "\" cannot delete resource \"namespaces\" in API group \"\" in the namespace "
                     "\"lbprov-system\"",
                     "lbprov-system", "", "namespaces");
    /* Authorization comes before routing: an unknown resource is 403, not 404. */
    assert_forbidden(SA_TOKEN, "GET", "/apis/example.com/v1/widgets", NULL,
                     "widgets.example.com is forbidden: User \"" SA_USER
                     "\" cannot list resource \"widgets\" in API group \"example.com\" at the "
                     "cluster scope",
                     NULL, "example.com", "widgets");
    assert_forbidden(SA_TOKEN, "GET", "/metrics", NULL,
                     "forbidden: User \"" SA_USER "\" cannot get path \"/metrics\"", NULL, NULL,
                     NULL);
    /* Discovery and health are open to every authenticated user (system:discovery). */
    assert_int_equal(sa("GET", "/api", NULL), 200);
    assert_int_equal(sa("GET", "/api/v1", NULL), 200);
    assert_int_equal(sa("GET", "/apis", NULL), 200);
    assert_int_equal(sa("GET", "/apis/rbac.authorization.k8s.io/v1", NULL), 200);
    assert_int_equal(sa("GET", "/version", NULL), 200);
    assert_int_equal(sa("GET", "/openapi/v3", NULL), 200);
    /* An unknown token is still 401, before any authorization. */
    assert_int_equal(req_as("nope", "GET", "/api", NULL, NULL), 401);
}

/* The admin token is in system:masters: everything, without a binding. */
static void test_masters(void **state)
{
    char *resp = NULL;
    assert_int_equal(lbp_fake_api_request(&api, "GET", "/api/v1/nodes", NULL, NULL, NULL), 200);
    assert_int_equal(lbp_fake_api_request(&api, "GET", RBAC "/clusterroles", NULL, NULL, &resp),
                     200);
    free(resp);
    /* Discovery lists the RBAC kinds, so kubectl can create them. */
    assert_int_equal(lbp_fake_api_request(&api, "GET", RBAC, NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"clusterrolebindings\""));
    assert_non_null(strstr(resp, "\"rolebindings\""));
    free(resp);
    /* --admin-token / a named token in masters is covered by the user's groups: a second
     * unnamed token is an ordinary user. */
    add_token(OTHER_TOKEN, OTHER_USER);
    assert_int_equal(req_as(OTHER_TOKEN, "GET", "/api/v1/nodes", NULL, NULL), 403);
}

/* ClusterRoleBinding: cluster-wide; verbs, groups and resources each have to match. */
static void test_cluster_role_binding(void **state)
{
    cluster_role("crb-test", "[{\"apiGroups\":[\"\"],\"resources\":[\"nodes\",\"services\"],"
                             "\"verbs\":[\"list\",\"watch\"]},"
                             "{\"apiGroups\":[\"\"],\"resources\":[\"services/status\"],"
                             "\"verbs\":[\"patch\"]}]");
    binding(NULL, "crb-test", "ClusterRole", "crb-test", sa_subject);
    assert_int_equal(sa("GET", "/api/v1/nodes", NULL), 200);
    assert_int_equal(sa("GET", "/api/v1/services", NULL), 200);
    assert_int_equal(sa("GET", "/api/v1/namespaces/default/services", NULL), 200);
    /* list does not give get; services/status does not give the main resource, nor the reverse */
    assert_forbidden(SA_TOKEN, "GET", "/api/v1/nodes/n1", NULL,
                     "nodes \"n1\" is forbidden: User \"" SA_USER
                     "\" cannot get resource \"nodes\" in API group \"\" at the cluster scope",
                     "n1", "", "nodes");
    assert_int_equal(sa("PATCH", "/api/v1/namespaces/default/services/x/status", "{}"), 404);
    assert_forbidden(SA_TOKEN, "PATCH", "/api/v1/namespaces/default/services/x", "{}",
                     "services \"x\" is forbidden: User \"" SA_USER
                     "\" cannot patch resource \"services\" in API group \"\" in the namespace "
                     "\"default\"",
                     "x", "", "services");
    /* the empty group is the core group only */
    assert_int_equal(sa("GET", "/apis/discovery.k8s.io/v1/endpointslices", NULL), 403);
    /* Deleting the binding takes the grant away at once. */
    admin_delete(RBAC "/clusterrolebindings/crb-test");
    assert_int_equal(sa("GET", "/api/v1/nodes", NULL), 403);
    admin_delete(RBAC "/clusterroles/crb-test");
}

/* Role + RoleBinding, and a ClusterRole bound by a RoleBinding: only in that namespace. */
static void test_namespace_scoping(void **state)
{
    admin_create(RBAC "/namespaces/lbprov-system/roles",
                 "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"Role\","
                 "\"metadata\":{\"name\":\"leases\",\"namespace\":\"lbprov-system\"},"
                 "\"rules\":[{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],"
                 "\"verbs\":[\"get\",\"create\",\"update\"]}]}");
    binding("lbprov-system", "leases", "Role", "leases",
            "[{\"kind\":\"ServiceAccount\",\"name\":\"lbprov-controller\"}]");
    const char *lease = "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"l1\"},\"spec\":{}}";
    assert_int_equal(
        sa("POST", "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases", lease), 201);
    assert_int_equal(
        sa("GET", "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases/l1", NULL), 200);
    assert_forbidden(SA_TOKEN, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                     lease,
                     "leases.coordination.k8s.io is forbidden: User \"" SA_USER
                     "\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" "
                     "in the namespace \"default\"",
                     NULL, "coordination.k8s.io", "leases");
    /* A namespaced grant never covers the cluster-wide collection. */
    assert_int_equal(sa("GET", "/apis/coordination.k8s.io/v1/leases", NULL), 403);
    assert_int_equal(
        sa("DELETE", "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases/l1", NULL), 403);

    cluster_role("svc-reader", "[{\"apiGroups\":[\"\"],\"resources\":[\"services\"],"
                               "\"verbs\":[\"get\",\"list\"]}]");
    binding("lbprov-system", "svc-reader", "ClusterRole", "svc-reader", sa_subject);
    assert_int_equal(sa("GET", "/api/v1/namespaces/lbprov-system/services", NULL), 200);
    assert_int_equal(sa("GET", "/api/v1/namespaces/default/services", NULL), 403);
    assert_int_equal(sa("GET", "/api/v1/services", NULL), 403);
    /* A RoleBinding whose ServiceAccount subject names another namespace does not match. */
    binding("default", "other-ns-sa", "ClusterRole", "svc-reader",
            "[{\"kind\":\"ServiceAccount\",\"name\":\"lbprov-controller\",\"namespace\":\"x\"}]");
    assert_int_equal(sa("GET", "/api/v1/namespaces/default/services", NULL), 403);
    /* A Role is looked up in the binding's own namespace only. */
    binding("default", "role-elsewhere", "Role", "leases", sa_subject);
    assert_int_equal(sa("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/l1", NULL),
                     403);
}

/* resourceNames, "*"+"/status", Group and User subjects. */
static void test_names_subresources_subjects(void **state)
{
    cluster_role("named", "[{\"apiGroups\":[\"coordination.k8s.io\"],\"resources\":[\"leases\"],"
                          "\"resourceNames\":[\"lbprov-controller\"],"
                          "\"verbs\":[\"get\",\"list\",\"create\",\"update\"]}]");
    binding("default", "named", "ClusterRole", "named", sa_subject);
    const char *base = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    char path[512];
    snprintf(path, sizeof(path), "%s/lbprov-controller", base);
    assert_int_equal(sa("GET", path, NULL), 404); /* allowed; it does not exist */
    snprintf(path, sizeof(path), "%s/someone-else", base);
    assert_int_equal(sa("GET", path, NULL), 403);
    /* create carries no name for the authorizer: resourceNames cannot allow it */
    assert_int_equal(sa("POST", base,
                        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"lbprov-controller\"},\"spec\":{}}"),
                     403);
    /* a list filtered to that one name is allowed, an unfiltered one is not */
    snprintf(path, sizeof(path), "%s?fieldSelector=metadata.name%%3Dlbprov-controller", base);
    assert_int_equal(sa("GET", path, NULL), 200);
    assert_int_equal(sa("GET", base, NULL), 403);

    cluster_role("any-status", "[{\"apiGroups\":[\"*\"],\"resources\":[\"*/status\"],"
                               "\"verbs\":[\"update\"]}]");
    binding(NULL, "any-status", "ClusterRole", "any-status",
            "[{\"kind\":\"Group\",\"name\":\"system:serviceaccounts:lbprov-system\"}]");
    assert_int_equal(sa("PUT", "/api/v1/nodes/n1/status", "{}"), 404);
    assert_int_equal(sa("PUT", "/api/v1/namespaces/default/services/s/status", "{}"), 404);
    assert_int_equal(sa("PUT", "/api/v1/nodes/n1", "{}"), 403);

    add_token("user-tok", "alice");
    cluster_role("alice", "[{\"apiGroups\":[\"\"],\"resources\":[\"configmaps\"],"
                          "\"verbs\":[\"*\"]},{\"nonResourceURLs\":[\"/metrics\",\"/debug/*\"],"
                          "\"verbs\":[\"get\"]}]");
    binding(NULL, "alice", "ClusterRole", "alice", "[{\"kind\":\"User\",\"name\":\"alice\"}]");
    assert_int_equal(req_as("user-tok", "GET", "/api/v1/configmaps", NULL, NULL), 200);
    assert_int_equal(req_as("user-tok", "GET", "/api/v1/secrets", NULL, NULL), 403);
    /* allowed paths reach routing (the fake serves neither: 404, not 403) */
    assert_int_equal(req_as("user-tok", "GET", "/metrics", NULL, NULL), 404);
    assert_int_equal(req_as("user-tok", "GET", "/debug/pprof", NULL, NULL), 404);
    assert_int_equal(req_as("user-tok", "GET", "/metricsz", NULL, NULL), 403);
    assert_int_equal(sa("GET", "/api/v1/configmaps", NULL), 403);
}

/* Denials are counted by reason in /_fake/stats; /_fake/audit lists allowed and denied tuples. */
static void test_stats_and_audit(void **state)
{
    char *resp = NULL;
    assert_int_equal(lbp_fake_api_request(&api, "POST", "/_fake/audit/reset", NULL, NULL, NULL),
                     200);
    cluster_role("audit",
                 "[{\"apiGroups\":[\"\"],\"resources\":[\"nodes\"],\"verbs\":[\"list\"]}]");
    binding(NULL, "audit", "ClusterRole", "audit", sa_subject);
    assert_int_equal(sa("GET", "/api/v1/nodes", NULL), 200);
    assert_int_equal(sa("GET", "/api/v1/nodes", NULL), 200);
    assert_int_equal(sa("DELETE", "/api/v1/nodes/gone", NULL), 403);
    assert_int_equal(sa("DELETE", "/api/v1/nodes/gone", NULL), 403);
    long before =
        lbp_fake_api_count(&api, "DENIED User \"" SA_USER
                                 "\" cannot delete resource \"nodes\" in API group \"\" at the "
                                 "cluster scope");
    assert_true(before >= 2);

    assert_int_equal(lbp_fake_api_request(&api, "GET", "/_fake/audit", NULL, NULL, &resp), 200);
    json_object *o = json_tokener_parse(resp);
    free(resp);
    assert_non_null(o);
    assert_true(json_object_get_boolean(json_object_object_get(o, "enabled")));
    json_object *al = json_object_object_get(o, "allowed"),
                *de = json_object_object_get(o, "denied");
    bool saw_list = false, saw_delete = false;
    for (size_t i = 0; i < json_object_array_length(al); i++) {
        json_object *t = json_object_array_get_idx(al, i);
        const char *u = json_object_get_string(json_object_object_get(t, "user"));
        const char *v = json_object_get_string(json_object_object_get(t, "verb"));
        const char *r = json_object_get_string(json_object_object_get(t, "resource"));
        const char *role = json_object_get_string(json_object_object_get(t, "role"));
        if (strcmp(u, SA_USER) == 0 && strcmp(v, "list") == 0 && strcmp(r, "nodes") == 0) {
            assert_string_equal(role, "ClusterRole/audit");
            assert_int_equal(json_object_get_int(json_object_object_get(t, "count")), 2);
            saw_list = true;
        }
    }
    for (size_t i = 0; i < json_object_array_length(de); i++) {
        json_object *t = json_object_array_get_idx(de, i);
        if (strcmp(json_object_get_string(json_object_object_get(t, "verb")), "delete") == 0 &&
            strcmp(json_object_get_string(json_object_object_get(t, "resource")), "nodes") == 0) {
            assert_int_equal(json_object_get_int(json_object_object_get(t, "count")), 2);
            assert_non_null(strstr(json_object_get_string(json_object_object_get(t, "message")),
                                   "is forbidden"));
            saw_delete = true;
        }
    }
    assert_true(saw_list);
    assert_true(saw_delete);
    json_object_put(o);
}

/* Without --authorization-mode=RBAC any authenticated user may do anything, as before. */
static void test_always_allow_default(void **state)
{
    struct lbp_fake_api plain;
    struct lbp_fake_api_opts o = {.token = ADMIN};
    assert_int_equal(lbp_fake_api_start(&o, &plain), 0);
    struct lbp_fake_api saved = api;
    api = plain;
    add_token(OTHER_TOKEN, OTHER_USER);
    assert_int_equal(req_as(OTHER_TOKEN, "GET", "/api/v1/nodes", NULL, NULL), 200);
    assert_int_equal(req_as(OTHER_TOKEN, "DELETE", "/api/v1/nodes/x", NULL, NULL), 404);
    char *resp = NULL;
    assert_int_equal(lbp_fake_api_request(&api, "GET", "/_fake/audit", NULL, NULL, &resp), 200);
    json_object *a = json_tokener_parse(resp);
    assert_false(json_object_get_boolean(json_object_object_get(a, "enabled")));
    json_object_put(a);
    free(resp);
    api = saved;
    lbp_fake_api_stop(&plain);
}

static bool port_written(void *ctx)
{
    FILE *f = fopen(ctx, "r");
    long port = 0;
    if (f) {
        if (fscanf(f, "%ld", &port) != 1)
            port = 0;
        fclose(f);
    }
    return port > 0;
}

/* --token T:USER and --admin-token from the command line; a malformed ServiceAccount is refused. */
static void test_cli_tokens(void **state)
{
    char dir[] = "/tmp/lbp-rbac-cli-XXXXXX", pf[64], log[64], *resp = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(pf, sizeof(pf), "%s/port", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    char *argv[] = {(char *)lbp_test_fake_api_bin(),
                    "--port",
                    "0",
                    "--port-file",
                    pf,
                    "--authorization-mode",
                    "RBAC",
                    "--token",
                    "cli-first",
                    "--token",
                    "cli-sa:system:serviceaccount:ns1:sa1",
                    "--admin-token",
                    "cli-admin",
                    NULL};
    pid_t pid = lbp_test_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(lbp_test_poll(port_written, pf, 10000));
    FILE *f = fopen(pf, "r");
    long port = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld", &port), 1);
    fclose(f);
    struct lbp_fake_api saved = api;
    snprintf(api.url, sizeof(api.url), "http://127.0.0.1:%ld", port);
    assert_int_equal(req_as("cli-first", "GET", "/api/v1/nodes", NULL, NULL), 200);
    assert_int_equal(req_as("cli-admin", "GET", "/api/v1/nodes", NULL, NULL), 200);
    assert_int_equal(req_as("cli-sa", "GET", "/api/v1/nodes", NULL, &resp), 403);
    assert_non_null(strstr(resp, "User \\\"system:serviceaccount:ns1:sa1\\\" cannot list"));
    free(resp);
    /* its groups are the token authenticator's: a Group binding for the namespace works */
    assert_int_equal(
        req_as("cli-admin", "POST", RBAC "/clusterroles",
               "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":"
               "\"ClusterRole\",\"metadata\":{\"name\":\"n\"},\"rules\":[{"
               "\"apiGroups\":[\"\"],\"resources\":[\"nodes\"],\"verbs\":[\"list\"]}]}",
               NULL),
        201);
    assert_int_equal(
        req_as("cli-admin", "POST", RBAC "/clusterrolebindings",
               "{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRoleBinding\","
               "\"metadata\":{\"name\":\"n\"},\"roleRef\":{\"apiGroup\":"
               "\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"n\"},"
               "\"subjects\":[{\"kind\":\"Group\",\"name\":\"system:serviceaccounts:ns1\"}]}",
               NULL),
        201);
    assert_int_equal(req_as("cli-sa", "GET", "/api/v1/nodes", NULL, NULL), 200);
    api = saved;
    assert_int_equal(lbp_test_stop(pid, SIGTERM, 10000), 0);

    char *bad[] = {(char *)lbp_test_fake_api_bin(), "--token", "x:system:serviceaccount:nocolon",
                   NULL};
    pid = lbp_test_spawn(bad, log);
    assert_true(pid > 0);
    int st = lbp_test_stop(pid, 0, 10000); /* signal 0: just wait for it to exit */
    assert_int_equal(st, 2);
    unlink(pf);
    unlink(log);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_denied_by_default),
        cmocka_unit_test(test_masters),
        cmocka_unit_test(test_cluster_role_binding),
        cmocka_unit_test(test_namespace_scoping),
        cmocka_unit_test(test_names_subresources_subjects),
        cmocka_unit_test(test_stats_and_audit),
        cmocka_unit_test(test_always_allow_default),
        cmocka_unit_test(test_cli_tokens),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
