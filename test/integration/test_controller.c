/*
 * test_controller.c — the service controller end to end: fake API server +
 * `lbprov controller --cloud mock`, asserting both the API objects and the
 * mock cloud's state (/debug/mockcloud).
 *
 * create → ingress + finalizer with exactly two Service writes; a port
 * change reaches the cloud; node add / exclude / delete update every LB
 * through update_targets only (no ensure, no API write); a foreign class is
 * never touched; LoadBalancer → ClusterIP removes the LB and clears status;
 * delete removes the LB, then the finalizer, then the object is gone.
 */
#include "test/integration/ctl_env.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

static long lb_int(const char *svc, const char *path)
{
    json_object *lb = ctl_cloud_lb(&env, svc);
    long v = lb ? jpath_int(lb, path) : -1;
    json_object_put(lb);
    return v;
}

static bool gone(const char *name)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    return ctl_api(&env, "GET", path, NULL, NULL) == 404;
}

int main(void)
{
    char ip[128], path[256];
    long writes0, ensures;

    ctl_env_init(&env, NULL);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_node(&env, "node-2", "10.0.0.2");
    ctl_node(&env, "node-3", "10.0.0.3");
    ctl_env_start_controller(&env, NULL);

    /* create → ingress and finalizer, two writes on the critical path */
    writes0 = lbp_fake_api_count(&env.api, "PATCH services/status");
    ctl_service(&env, "web", NULL, 80);
    CHECK(WAIT_FOR(10000, ctl_has_ingress(&env, "web")));
    CHECK(ctl_has_finalizer(&env, "web"));
    ctl_ingress(&env, "web", ip, sizeof(ip));
    CHECK(strncmp(ip, "203.0.113.", 10) == 0);
    json_object *lb = ctl_cloud_lb(&env, "default/web");
    CHECK(lb != NULL);
    CHECK(strcmp(jpath_str(lb, "vip"), ip) == 0);
    CHECK(jpath_int(lb, "listeners.0.port") == 80);
    CHECK(jpath_int(lb, "listeners.0.nodePort") > 0);
    CHECK(json_object_array_length(json_object_object_get(
              json_object_array_get_idx(json_object_object_get(lb, "listeners"), 0), "backends")) ==
          3);
    json_object_put(lb);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "EnsuredLoadBalancer", NULL, 0) > 0));
    CHECK(lbp_fake_api_count(&env.api, "PATCH services/status") - writes0 == 2);
    CHECK(lb_int("default/web", "ensureCalls") == 1); /* our own writes caused no second ensure */

    /* lbprov status shows it, kubectl-style */
    const char *st_args[] = {"status", "--kubeconfig", env.api.kubeconfig, NULL};
    const char *json_args[] = {"status", "--kubeconfig", env.api.kubeconfig, "-o", "json", NULL};
    const char *bad_args[] = {"controller", "--cloud", "mock", "--resync-period", "soon", NULL};
    const char *unknown_args[] = {"controller", "--no-such-flag", NULL};
    char *out = NULL, want[160];
    CHECK(ctl_run_lbprov(&env, st_args, &out) == 0);
    snprintf(want, sizeof(want), "%s", ip);
    CHECK(strstr(out, "EXTERNAL-IP") && strstr(out, want) && strstr(out, "/TCP") &&
          strstr(out, "EnsuredLoadBalancer: Ensured load balancer"));
    free(out);
    CHECK(ctl_run_lbprov(&env, json_args, &out) == 0);
    json_object *js = json_tokener_parse(out);
    CHECK(js && strcmp(jpath_str(js, "0.name"), "web") == 0 &&
          strcmp(jpath_str(js, "0.externalIP"), ip) == 0);
    json_object_put(js);
    free(out);
    /* bad flags: one clear line, exit 2 */
    CHECK(ctl_run_lbprov(&env, bad_args, &out) == 2);
    CHECK(strstr(out, "--resync-period") != NULL);
    free(out);
    CHECK(ctl_run_lbprov(&env, unknown_args, &out) == 2);
    CHECK(strstr(out, "--no-such-flag") != NULL);
    free(out);

    /* a foreign class is left alone entirely */
    ctl_service(&env, "foreign", "\"loadBalancerClass\":\"example.com/other\"", 81);
    /* ports change → cloud updated */
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/web");
    CHECK(ctl_api(&env, "PATCH", path,
                  "{\"spec\":{\"ports\":[{\"name\":\"p\",\"protocol\":\"TCP\",\"port\":8080,"
                  "\"targetPort\":80}]}}",
                  NULL) == 200);
    CHECK(WAIT_FOR(10000, lb_int("default/web", "listeners.0.port") == 8080));
    ctl_service(&env, "api", NULL, 443);
    CHECK(WAIT_FOR(10000, ctl_has_ingress(&env, "api")));
    CHECK(!ctl_has_finalizer(&env, "foreign"));
    CHECK(!ctl_has_ingress(&env, "foreign"));
    CHECK(ctl_lb_missing(&env, "default/foreign"));

    /* status -n: one namespace; -o json: null where the table shows a placeholder */
    const char *ns_args[] = {
        "status", "--kubeconfig", env.api.kubeconfig, "-n", "default", "-o", "json", NULL};
    CHECK(ctl_run_lbprov(&env, ns_args, &out) == 0);
    js = json_tokener_parse(out);
    free(out);
    CHECK(js && json_object_is_type(js, json_type_array));
    json_object *foreign = NULL, *web = NULL;
    for (size_t i = 0; i < json_object_array_length(js); i++) {
        json_object *row = json_object_array_get_idx(js, i);
        if (strcmp(jpath_str(row, "name"), "foreign") == 0)
            foreign = row;
        if (strcmp(jpath_str(row, "name"), "web") == 0)
            web = row;
    }
    CHECK(foreign && web);
    json_object *v = NULL;
    CHECK(json_object_object_get_ex(foreign, "externalIP", &v) && v == NULL);
    CHECK(json_object_object_get_ex(foreign, "lastEvent", &v) && v == NULL);
    CHECK(strcmp(jpath_str(foreign, "class"), "example.com/other") == 0);
    CHECK(json_object_object_get_ex(web, "class", &v) && v == NULL);
    CHECK(strcmp(jpath_str(web, "externalIP"), ip) == 0);
    json_object_put(js);
    const char *other_ns[] = {
        "status", "--kubeconfig", env.api.kubeconfig, "-n", "kube-system", "-o", "json", NULL};
    CHECK(ctl_run_lbprov(&env, other_ns, &out) == 0);
    js = json_tokener_parse(out);
    free(out);
    CHECK(js && json_object_is_type(js, json_type_array) && json_object_array_length(js) == 0);
    json_object_put(js);
    const char *all_ns[] = {"status", "--kubeconfig", env.api.kubeconfig, "-A", NULL};
    CHECK(ctl_run_lbprov(&env, all_ns, &out) == 0);
    CHECK(strstr(out, "foreign") && strstr(out, "<pending>") && strstr(out, "example.com/other"));
    free(out);

    /* externalTrafficPolicy: Local reaches the cloud with the healthCheckNodePort */
    ctl_service(&env, "local", "\"externalTrafficPolicy\":\"Local\"", 9000);
    CHECK(WAIT_FOR(10000, ctl_has_ingress(&env, "local")));
    json_object *svc = NULL;
    CHECK(ctl_api(&env, "GET", "/api/v1/namespaces/default/services/local", NULL, &svc) == 200);
    long hc = jpath_int(svc, "spec.healthCheckNodePort");
    json_object_put(svc);
    CHECK(hc > 0);
    CHECK(lb_int("default/local", "healthCheckNodePort") == hc);
    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/local", NULL, NULL) == 200);
    CHECK(WAIT_FOR(10000, gone("local") && ctl_lb_missing(&env, "default/local")));

    /* node added → every LB gets it via update_targets; no ensure, no API write */
    ensures = ctl_cloud_calls(&env, "ensure");
    writes0 = lbp_fake_api_count(&env.api, "PATCH services/status");
    long upd_web = lb_int("default/web", "updateCalls"),
         upd_api = lb_int("default/api", "updateCalls");
    ctl_node(&env, "node-4", "10.0.0.4");
    CHECK(WAIT_FOR(10000, ctl_lb_nodes(&env, "default/web") == 4 &&
                              ctl_lb_nodes(&env, "default/api") == 4));
    CHECK(lb_int("default/web", "updateCalls") == upd_web + 1);
    CHECK(lb_int("default/api", "updateCalls") == upd_api + 1);
    /* excluded by label → removed from backends */
    CHECK(ctl_api(&env, "PATCH", "/api/v1/nodes/node-2",
                  "{\"metadata\":{\"labels\":{\"node.kubernetes.io/"
                  "exclude-from-external-load-balancers\":\"true\"}}}",
                  NULL) == 200);
    CHECK(WAIT_FOR(10000, ctl_lb_nodes(&env, "default/web") == 3 &&
                              ctl_lb_nodes(&env, "default/api") == 3));
    /* deleted → removed */
    CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/node-1", NULL, NULL) == 200);
    CHECK(WAIT_FOR(10000, ctl_lb_nodes(&env, "default/web") == 2 &&
                              ctl_lb_nodes(&env, "default/api") == 2));
    CHECK(lb_int("default/web", "updateCalls") == upd_web + 3);
    CHECK(ctl_cloud_calls(&env, "ensure") == ensures);
    CHECK(lbp_fake_api_count(&env.api, "PATCH services/status") == writes0);
    CHECK(ctl_events(&env, "web", "UpdatedLoadBalancer", NULL, 0) >= 1);

    /* LoadBalancer → ClusterIP: LB deleted, status cleared, finalizer dropped */
    CHECK(ctl_api(&env, "PATCH", "/api/v1/namespaces/default/services/api",
                  "{\"spec\":{\"type\":\"ClusterIP\"}}", NULL) == 200);
    CHECK(WAIT_FOR(10000, ctl_lb_missing(&env, "default/api")));
    CHECK(WAIT_FOR(10000, !ctl_has_ingress(&env, "api") && !ctl_has_finalizer(&env, "api")));

    /* delete: LB gone, finalizer removed, object gone */
    CHECK(ctl_api(&env, "DELETE", path, NULL, NULL) == 200);
    CHECK(WAIT_FOR(10000, gone("web")));
    CHECK(ctl_lb_missing(&env, "default/web"));
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "DeletedLoadBalancer", NULL, 0) > 0));
    CHECK(ctl_cloud_lb_count(&env) == 0);
    /* one remove per LB: clean-up writes did not make the key run again */
    CHECK(ctl_cloud_calls(&env, "remove") == 3);
    CHECK(ctl_events(&env, "web", "DeletedLoadBalancer", NULL, 0) == 1);
    CHECK(ctl_cloud_calls(&env, "ensure") == ensures); /* nothing re-ensured along the way */

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
