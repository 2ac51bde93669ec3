/*
 * test_rbac_deploy.c — the RBAC shipped in examples/deploy is exactly what
 * lbprov needs: enough (no request denied) and no more (every rule used).
 *
 * The fake API server runs with --authorization-mode=RBAC. The Namespace,
 * ServiceAccounts and RBAC objects of examples/deploy/base are read with
 * libyaml and created through the API as the admin (system:masters), as
 * `kubectl apply` would. The real `lbprov controller --cloud mock` then runs
 * with a kubeconfig holding the lbprov-controller ServiceAccount's token
 * while the test drives a full lifecycle: nodes, a LoadBalancer Service
 * whose first status write meets a conflict (the path that re-reads the
 * Service), a node joining and leaving (a repeated Event is patched, not
 * re-created), deletion (finalizer released). Leader election is driven
 * with kube/leader.c under the same identity, in the controller's
 * namespace, until a renewal has happened.
 *
 * Then, from the fake's /_fake/audit: zero denials for the ServiceAccount,
 * and every (API group, resource, verb) each bound role grants was allowed
 * at least once through that very role. A rule lbprov stops using, or a
 * call it starts making without a rule, fails this test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "test/integration/ctl_env.h"
#include "test/integration/yaml_json.h"

#define ADMIN_TOKEN "deploy-admin"
#define CTL_TOKEN "deploy-controller-sa"
#define CTL_NS "lbprov-system"
#define CTL_SA "lbprov-controller"
#define CTL_USER "system:serviceaccount:" CTL_NS ":" CTL_SA

static struct ctl_env env;

/* Rules a test cannot reach, each with the reason (none for the controller today). */
static const char *const not_exercised[] = {NULL};

static const char *str(json_object *o, const char *path)
{
    const char *s = jpath_str(o, path);
    return s ? s : "";
}

/* The collection path for an object from the manifests. */
static void collection_path(json_object *o, char *out, size_t len)
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
    const char *av = str(o, "apiVersion"), *kind = str(o, "kind"),
               *ns = str(o, "metadata.namespace");
    const char *res = NULL;
    for (size_t i = 0; i < LBP_ARRAY_LEN(map); i++)
        if (strcmp(map[i].kind, kind) == 0)
            res = map[i].resource;
    CHECK(res != NULL);
    snprintf(out, len, "/%s%s%s%s/%s", strchr(av, '/') ? "apis/" : "api/", av,
             *ns ? "/namespaces/" : "", ns, res);
}

/* Creates every object of a manifest file as the admin; returns them (caller puts). */
static json_object *apply_file(const char *rel)
{
    char path[600], err[512], coll[400];
    json_object *docs = NULL;
    snprintf(path, sizeof(path), "%s/%s", LBP_EXAMPLES_DIR, rel);
    if (lbp_test_yaml_load(path, &docs, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        CHECK(!"manifest loads");
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        json_object *o = json_object_array_get_idx(docs, i);
        collection_path(o, coll, sizeof(coll));
        long code = ctl_api(&env, "POST", coll,
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), NULL);
        if (code != 201)
            fprintf(stderr, "POST %s (%s) -> %ld\n", coll, str(o, "metadata.name"), code);
        CHECK(code == 201);
    }
    return docs;
}

static bool binds_user(json_object *b, const char *ns, const char *sa)
{
    json_object *subs = json_object_object_get(b, "subjects");
    for (size_t i = 0; i < json_object_array_length(subs); i++) {
        json_object *s = json_object_array_get_idx(subs, i);
        if (strcmp(str(s, "kind"), "ServiceAccount") == 0 && strcmp(str(s, "name"), sa) == 0 &&
            strcmp(*str(s, "namespace") ? str(s, "namespace") : str(b, "metadata.namespace"), ns) ==
                0)
            return true;
    }
    return false;
}

static bool audited(json_object *allowed, const char *user, const char *role, const char *group,
                    const char *resource, const char *verb, long *count)
{
    *count = 0;
    for (size_t i = 0; i < json_object_array_length(allowed); i++) {
        json_object *t = json_object_array_get_idx(allowed, i);
        if (strcmp(str(t, "user"), user) == 0 && strcmp(str(t, "role"), role) == 0 &&
            strcmp(str(t, "group"), group) == 0 && strcmp(str(t, "resource"), resource) == 0 &&
            strcmp(str(t, "verb"), verb) == 0)
            *count += jpath_int(t, "count");
    }
    return *count > 0;
}

static bool allow_listed(const char *role, const char *group, const char *resource,
                         const char *verb)
{
    char key[400];
    snprintf(key, sizeof(key), "%s %s %s %s", role, group, resource, verb);
    for (size_t i = 0; not_exercised[i]; i++)
        if (strcmp(not_exercised[i], key) == 0)
            return true;
    return false;
}

/*
 * Every rule of every role bound to ns/sa in docs was used by user through
 * that role, and user was never denied. Returns the number of failures.
 */
static int check_exact(json_object *docs, const char *ns, const char *sa, const char *user)
{
    char *body = NULL;
    int failures = 0, rules = 0;
    CHECK(lbp_fake_api_request(&env.api, "GET", "/_fake/audit", NULL, NULL, &body) == 200);
    json_object *audit = json_tokener_parse(body);
    free(body);
    CHECK(audit != NULL);
    json_object *allowed = json_object_object_get(audit, "allowed");
    json_object *denied = json_object_object_get(audit, "denied");

    for (size_t i = 0; i < json_object_array_length(denied); i++) {
        json_object *t = json_object_array_get_idx(denied, i);
        if (strcmp(str(t, "user"), user) == 0) {
            fprintf(stderr, "DENIED (%ld): %s\n", jpath_int(t, "count"), str(t, "message"));
            failures++;
        }
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        json_object *b = json_object_array_get_idx(docs, i);
        const char *bk = str(b, "kind");
        if ((strcmp(bk, "ClusterRoleBinding") != 0 && strcmp(bk, "RoleBinding") != 0) ||
            !binds_user(b, ns, sa))
            continue;
        const char *rk = str(b, "roleRef.kind"), *rn = str(b, "roleRef.name");
        char role[300];
        if (strcmp(rk, "Role") == 0)
            snprintf(role, sizeof(role), "Role/%s/%s", str(b, "metadata.namespace"), rn);
        else
            snprintf(role, sizeof(role), "ClusterRole/%s", rn);
        json_object *r = NULL;
        for (size_t j = 0; j < json_object_array_length(docs); j++) {
            json_object *c = json_object_array_get_idx(docs, j);
            if (strcmp(str(c, "kind"), rk) == 0 && strcmp(str(c, "metadata.name"), rn) == 0)
                r = c;
        }
        CHECK(r != NULL); /* a binding to a role the manifests do not ship */
        json_object *rl = json_object_object_get(r, "rules");
        for (size_t k = 0; k < json_object_array_length(rl); k++) {
            json_object *rule = json_object_array_get_idx(rl, k);
            json_object *gs = json_object_object_get(rule, "apiGroups");
            json_object *rs = json_object_object_get(rule, "resources");
            json_object *vs = json_object_object_get(rule, "verbs");
            /* least privilege: no wildcards, no resourceNames-free write on everything */
            CHECK(gs && rs && vs);
            for (size_t g = 0; g < json_object_array_length(gs); g++)
                for (size_t x = 0; x < json_object_array_length(rs); x++)
                    for (size_t v = 0; v < json_object_array_length(vs); v++) {
                        const char *gn = json_object_get_string(json_object_array_get_idx(gs, g));
                        const char *xn = json_object_get_string(json_object_array_get_idx(rs, x));
                        const char *vn = json_object_get_string(json_object_array_get_idx(vs, v));
                        long n;
                        CHECK(strcmp(gn, "*") && strcmp(xn, "*") && strcmp(vn, "*"));
                        rules++;
                        if (audited(allowed, user, role, gn, xn, vn, &n)) {
                            printf("  used  %-45s %-22s %-20s %-7s x%ld\n", role,
                                   gn[0] ? gn : "\"\"", xn, vn, n);
                        } else if (allow_listed(role, gn, xn, vn)) {
                            printf("  (not exercised, allow-listed) %s %s %s %s\n", role, gn, xn,
                                   vn);
                        } else {
                            fprintf(stderr, "UNUSED rule: %s grants %s on %s in group \"%s\"\n",
                                    role, vn, xn, gn);
                            failures++;
                        }
                    }
        }
    }
    printf("%s: %d granted (group, resource, verb) triples checked, %d failures\n", user, rules,
           failures);
    CHECK(rules > 0);
    json_object_put(audit);
    return failures;
}

static void write_kubeconfig(const char *path, const char *token)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: %s\n"
            "users:\n- name: sa\n  user:\n    token: %s\ncontexts:\n- name: sa\n  context:\n"
            "    cluster: fake\n    user: sa\ncurrent-context: sa\n",
            env.api.url, token);
    CHECK(fclose(f) == 0);
}

static void add_token(const char *token, const char *user)
{
    char body[400];
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"user\":\"%s\"}", token, user);
    CHECK(lbp_fake_api_request(&env.api, "POST", "/_fake/tokens", "application/json", body, NULL) ==
          201);
}

static long count_of(const char *key)
{
    return lbp_fake_api_count(&env.api, key);
}

/* On a failed step, show what RBAC denied first: it is the likely cause. */
static void print_denials(void)
{
    char *body = NULL;
    if (lbp_fake_api_request(&env.api, "GET", "/_fake/audit", NULL, NULL, &body) == 200) {
        json_object *a = json_tokener_parse(body);
        json_object *de = json_object_object_get(a, "denied");
        for (size_t i = 0; i < json_object_array_length(de); i++)
            fprintf(stderr, "DENIED: %s\n", str(json_object_array_get_idx(de, i), "message"));
        json_object_put(a);
    }
    free(body);
}

#define STEP(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_denials();                                                                       \
            CHECK(cond);                                                                           \
        }                                                                                          \
    } while (0)

/* kube/leader.c as the controller's ServiceAccount, in its namespace, until it has renewed. */
static void drive_leader_election(void)
{
    char err[256];
    struct lbp_kube_config *cfg = calloc(1, sizeof(*cfg));
    struct lbp_kube_client *client = NULL;
    struct lbp_leader *le = NULL;
    CHECK(cfg != NULL);
    cfg->server = strdup(env.api.url);
    cfg->token = strdup(CTL_TOKEN);
    struct lbp_kube_client_opts co = {.timeout_ms = 2000, .max_retries = 1};
    CHECK(lbp_kube_client_new(cfg, &co, &client, err, sizeof(err)) == LBP_OK);
    struct lbp_leader_opts lo = {
        .namespace = CTL_NS,
        .name = "lbprov-controller",
        .identity = "rbac-test",
        .lease_duration_ms = 1500,
        .renew_deadline_ms = 1000,
        .retry_period_ms = 100,
    };
    CHECK(lbp_leader_new(client, &lo, &le, err, sizeof(err)) == LBP_OK);
    CHECK(lbp_leader_start(le) == LBP_OK);
    STEP(lbp_leader_wait(le, 5000) == LBP_OK);
    STEP(WAIT_FOR(5000, count_of("PUT leases") >= 1));
    lbp_leader_stop(le, true);
    lbp_leader_free(le);
    lbp_kube_client_free(client);
    lbp_kube_config_free(cfg);
}

static int events(const char *svc, const char *reason)
{
    return ctl_events(&env, svc, reason, NULL, 0);
}

int main(void)
{
    struct lbp_fake_api_opts o = {.token = ADMIN_TOKEN, .extra_arg = "--authorization-mode=RBAC"};
    char kubeconfig[600], ip[64];
    const char *docs_files[] = {"deploy/base/namespace.yaml", "deploy/base/serviceaccounts.yaml",
                                "deploy/base/rbac.yaml"};
    json_object *all = json_object_new_array();
    FILE *f;

    memset(&env, 0, sizeof(env));
    if (lbp_fake_api_start(&o, &env.api)) {
        fprintf(stderr, "cannot start the fake API server\n");
        return 1;
    }
    snprintf(env.cloud_conf, sizeof(env.cloud_conf), "%s/cloud.conf", env.api.dir);
    snprintf(env.state_file, sizeof(env.state_file), "%s/mockcloud.json", env.api.dir);
    snprintf(env.ctl_log, sizeof(env.ctl_log), "%s/controller.log", env.api.dir);
    f = fopen(env.cloud_conf, "w");
    CHECK(f != NULL);
    fprintf(f, "state_file=%s\n", env.state_file);
    fclose(f);
    for (size_t i = 0; i < LBP_ARRAY_LEN(docs_files); i++) {
        json_object *d = apply_file(docs_files[i]);
        for (size_t j = 0; j < json_object_array_length(d); j++)
            json_object_array_add(all, json_object_get(json_object_array_get_idx(d, j)));
        json_object_put(d);
    }
    add_token(CTL_TOKEN, CTL_USER);
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/controller.kubeconfig", env.api.dir);
    write_kubeconfig(kubeconfig, CTL_TOKEN);
    CHECK(lbp_fake_api_request(&env.api, "POST", "/_fake/audit/reset", NULL, NULL, NULL) == 200);

    ctl_node(&env, "n1", "10.0.0.1");
    ctl_node(&env, "n2", "10.0.0.2");
    const char *const extra[] = {"--kubeconfig", kubeconfig, NULL};
    ctl_env_start_controller(&env, extra);

    /* The first finalizer write conflicts: the controller re-reads the Service (get). */
    CHECK(lbp_fake_api_fault(&env.api, "{\"conflictNextWrites\":1,\"resource\":"
                                       "\"services/status\",\"verb\":\"PATCH\"}") == 0);
    ctl_service(&env, "web", NULL, 80);
    STEP(WAIT_FOR(10000, (ctl_ingress(&env, "web", ip, sizeof(ip)), ip[0] != '\0')));
    STEP(ctl_has_finalizer(&env, "web"));
    STEP(count_of("GET services") >= 1);
    STEP(WAIT_FOR(5000, events("web", "EnsuredLoadBalancer") >= 1));

    /* A node joins and leaves: the same "Updated load balancer with new hosts" twice. */
    ctl_node(&env, "n3", "10.0.0.3");
    STEP(WAIT_FOR(10000, events("web", "UpdatedLoadBalancer") >= 1));
    CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/n3", NULL, NULL) == 200);
    STEP(WAIT_FOR(10000, events("web", "UpdatedLoadBalancer") >= 2));
    STEP(count_of("PATCH events") >= 1);

    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/web", NULL, NULL) == 200);
    STEP(WAIT_FOR(
        10000, ctl_api(&env, "GET", "/api/v1/namespaces/default/services/web", NULL, NULL) == 404));
    STEP(WAIT_FOR(5000, events("web", "DeletedLoadBalancer") >= 1));

    drive_leader_election();

    int failures = check_exact(all, CTL_NS, CTL_SA, CTL_USER);
    json_object_put(all);
    CHECK(failures == 0);

    /* The controller can never change a Service's spec. */
    char *resp = NULL;
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"},"
                  "\"spec\":{\"ports\":[{\"port\":1}]}}",
                  NULL) == 201);
    struct lbp_fake_api as_sa = env.api;
    snprintf(as_sa.dir, sizeof(as_sa.dir), "/tmp/lbp-rbac-sa-XXXXXX");
    CHECK(mkdtemp(as_sa.dir) != NULL);
    char tpath[700];
    snprintf(tpath, sizeof(tpath), "%s/token", as_sa.dir);
    f = fopen(tpath, "w");
    CHECK(f != NULL);
    fputs(CTL_TOKEN, f);
    fclose(f);
    CHECK(lbp_fake_api_request(&as_sa, "PATCH", "/api/v1/namespaces/default/services/x",
                               "application/merge-patch+json", "{\"spec\":{\"type\":\"NodePort\"}}",
                               &resp) == 403);
    CHECK(strstr(resp, "cannot patch resource \\\"services\\\"") != NULL);
    free(resp);
    unlink(tpath);
    rmdir(as_sa.dir);
    CHECK(ctl_env_stop(&env) == 0);
    printf("controller RBAC: exact\n");
    return 0;
}
