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
 * re-created), deletion (finalizer released), leader election in the
 * controller's namespace (the Lease read, created, renewed, and released on
 * SIGTERM).
 *
 * With the argument "baremetal" the controller runs --cloud baremetal with
 * the bare-metal overlay's extra role (MetalLB pools, listed by polling)
 * applied too, and a pool config like the overlay's.
 *
 * Then, from the fake's /_fake/audit: zero denials for the ServiceAccount,
 * and every (API group, resource, verb) each bound role grants was allowed
 * at least once through that very role. A rule lbprov stops using, or a
 * call it starts making without a rule, fails this test.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "test/integration/ctl_env.h"
#include "test/integration/rbac_env.h"

#define ADMIN_TOKEN "deploy-admin"
#define CTL_TOKEN "deploy-controller-sa"
#define CTL_NS "lbprov-system"
#define CTL_SA "lbprov-controller"
#define CTL_USER "system:serviceaccount:" CTL_NS ":" CTL_SA

static struct ctl_env env;

/* Rules a test cannot reach, each with the reason (none for the controller today). */
static const char *const not_exercised[] = {NULL};
/*
 * In bare-metal mode the provider has no update_targets and Services need no
 * nodes, so a node joining and leaving changes no load balancer: no
 * "UpdatedLoadBalancer" is repeated and no Event is patched. The mock-mode
 * run proves that rule; this run proves the MetalLB one.
 */
static const char *const not_exercised_baremetal[] = {"ClusterRole/lbprov-controller  events patch",
                                                      NULL};

static long count_of(const char *key)
{
    return lbp_fake_api_count(&env.api, key);
}

/* On a failed step, show what RBAC denied first: it is the likely cause. */
#define STEP(cond) RBAC_STEP(&env.api, cond)

static int events(const char *svc, const char *reason)
{
    return ctl_events(&env, svc, reason, NULL, 0);
}

int main(int argc, char **argv)
{
    bool baremetal = argc > 1 && strcmp(argv[1], "baremetal") == 0;
    struct lbp_fake_api_opts o = {.token = ADMIN_TOKEN, .extra_arg = "--authorization-mode=RBAC"};
    char kubeconfig[600], ip[64];
    const char *docs_files[] = {"deploy/base/namespace.yaml", "deploy/base/serviceaccounts.yaml",
                                "deploy/base/rbac.yaml",
                                "deploy/overlays/baremetal/controller-metallb-rbac.yaml"};
    size_t n_docs = LBP_ARRAY_LEN(docs_files) - (baremetal ? 0 : 1);
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
    if (baremetal)
        fprintf(f, "pools:\n  - name: lan\n    addresses: [\"192.168.77.100-192.168.77.150\"]\n");
    else
        fprintf(f, "state_file=%s\n", env.state_file);
    fclose(f);
    json_object *all = rbac_apply_all(&env.api, docs_files, n_docs);
    CHECK(all != NULL);
    CHECK(rbac_add_token(&env.api, CTL_TOKEN, CTL_USER) == 0);
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/controller.kubeconfig", env.api.dir);
    CHECK(rbac_write_kubeconfig(&env.api, kubeconfig, CTL_TOKEN) == 0);
    CHECK(lbp_fake_api_request(&env.api, "POST", "/_fake/audit/reset", NULL, NULL, NULL) == 200);

    ctl_node(&env, "n1", "10.0.0.1");
    ctl_node(&env, "n2", "10.0.0.2");
    /* Leader election in its own namespace, as in the Deployment; short timings so it renews. */
    const char *const extra[] = {"--cloud",
                                 baremetal ? "baremetal" : "mock",
                                 "--metallb-poll-period",
                                 "500ms",
                                 "--kubeconfig",
                                 kubeconfig,
                                 "--leader-elect-resource-namespace",
                                 CTL_NS,
                                 "--leader-elect-lease-duration",
                                 "3s",
                                 "--leader-elect-renew-deadline",
                                 "2s",
                                 "--leader-elect-retry-period",
                                 "200ms",
                                 NULL};
    ctl_env_start_controller(&env, extra);

    /* The first finalizer write conflicts: the controller re-reads the Service (get). */
    CHECK(lbp_fake_api_fault(&env.api, "{\"conflictNextWrites\":1,\"resource\":"
                                       "\"services/status\",\"verb\":\"PATCH\"}") == 0);
    ctl_service(&env, "web", NULL, 80);
    STEP(WAIT_FOR(10000, (ctl_ingress(&env, "web", ip, sizeof(ip)), ip[0] != '\0')));
    STEP(ctl_has_finalizer(&env, "web"));
    STEP(count_of("GET services") >= 1);
    STEP(WAIT_FOR(5000, events("web", "EnsuredLoadBalancer") >= 1));

    if (baremetal) {
        /* The MetalLB pools were polled (404 here: not installed). */
        STEP(WAIT_FOR(5000, count_of("LIST ipaddresspools") >= 1));
    } else {
        /* A node joins and leaves: the same "Updated load balancer with new hosts" twice. */
        ctl_node(&env, "n3", "10.0.0.3");
        STEP(WAIT_FOR(10000, events("web", "UpdatedLoadBalancer") >= 1));
        CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/n3", NULL, NULL) == 200);
        STEP(WAIT_FOR(10000, events("web", "UpdatedLoadBalancer") >= 2));
        STEP(count_of("PATCH events") >= 1);
    }

    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/web", NULL, NULL) == 200);
    STEP(WAIT_FOR(
        10000, ctl_api(&env, "GET", "/api/v1/namespaces/default/services/web", NULL, NULL) == 404));
    STEP(WAIT_FOR(5000, events("web", "DeletedLoadBalancer") >= 1));

    /* The Lease was read, created and renewed by now; stopping releases it (another update). */
    STEP(WAIT_FOR(5000, count_of("PUT leases") >= 1));
    long puts = count_of("PUT leases");
    CHECK(lbp_test_stop(env.ctl, SIGTERM, 8000) == 0);
    env.ctl = 0;
    STEP(count_of("PUT leases") > puts);

    int failures = rbac_check_exact(&env.api, all, CTL_NS, CTL_SA, CTL_USER,
                                    baremetal ? not_exercised_baremetal : not_exercised);
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
    ctl_env_stop(&env);
    printf("controller RBAC (%s): exact\n", baremetal ? "baremetal" : "mock");
    return 0;
}
