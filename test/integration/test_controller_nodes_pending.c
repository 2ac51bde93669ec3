/*
 * test_controller_nodes_pending.c — a node-set change that lands while a
 * Service's cloud operation is pending reaches that Service's LB as soon as
 * the operation is over, not at the next resync (30 s): through `lbprov
 * controller --cloud mock` with pendingPolls=3 (every change answers
 * LBP_PENDING three times, a second apart). Three cases: a new Service
 * whose first ensure is pending, an existing Service whose port change is
 * pending, and a second node change during a pending host update.
 */
#include "test/integration/ctl_env.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

/* The slot of the operation the mock cloud has in flight is call. */
static bool op_is(const char *call)
{
    json_object *root = ctl_cloud(&env);
    const char *c = root ? jpath_str(root, "operations.0.call") : NULL;
    bool r = c && strcmp(c, call) == 0;
    json_object_put(root);
    return r;
}

int main(void)
{
    ctl_env_init(&env, "pendingPolls=3\nretry_after_s=1");
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_node(&env, "node-2", "10.0.0.2");
    ctl_env_start_controller(&env, NULL);

    /* a new Service: node-3 arrives while its first ensure is pending */
    ctl_service(&env, "web", NULL, 80);
    CHECK(WAIT_FOR(5000, op_is("ensure")));
    ctl_node(&env, "node-3", "10.0.0.3");
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "web")));
    /* well before the 30 s resync */
    CHECK(WAIT_FOR(8000, ctl_lb_nodes(&env, "default/web") == 3));

    /* an existing Service: node-4 arrives while its port change is pending */
    ctl_service(&env, "api", NULL, 443);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "api")));
    CHECK(WAIT_FOR(8000, !op_is("ensure") && !op_is("update_targets")));
    CHECK(ctl_api(&env, "PATCH", "/api/v1/namespaces/default/services/api",
                  "{\"spec\":{\"ports\":[{\"name\":\"p\",\"port\":8443,\"protocol\":\"TCP\","
                  "\"nodePort\":30444}]}}",
                  NULL) == 200);
    CHECK(WAIT_FOR(5000, op_is("ensure")));
    ctl_node(&env, "node-4", "10.0.0.4");
    CHECK(WAIT_FOR(12000, ctl_lb_nodes(&env, "default/api") == 4));
    CHECK(WAIT_FOR(8000, ctl_lb_nodes(&env, "default/web") == 4));

    /* node-6 arrives while the host update for node-5 is pending */
    ctl_node(&env, "node-5", "10.0.0.5");
    CHECK(WAIT_FOR(5000, op_is("update_targets")));
    ctl_node(&env, "node-6", "10.0.0.6");
    CHECK(WAIT_FOR(15000, ctl_lb_nodes(&env, "default/api") == 6 &&
                              ctl_lb_nodes(&env, "default/web") == 6));

    CHECK(ctl_env_stop(&env) == 0);
    return 0;
}
