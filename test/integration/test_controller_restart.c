/*
 * test_controller_restart.c — SIGKILL the controller while it is working
 * and start it again: everything converges, with one LB per Service and no
 * leaked or duplicated LB (the mock cloud keeps its state in a file, as a
 * real cloud would). Also: SIGTERM makes it exit 0 promptly.
 */
#include "test/integration/ctl_env.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 20

static struct ctl_env env;

int main(void)
{
    /* The restarted process is a new candidate: it leads once the killed
     * one's Lease expires, so a short Lease keeps the test quick. */
    static const char *const flags[] = {"--concurrent-service-syncs", "2", CTL_SHORT_LEASE_FLAGS,
                                        NULL};
    uint64_t t0;
    int st;

    ctl_env_init(&env, "latency_ms=200"); /* 20 Services take 2 s on 2 workers */
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_node(&env, "node-2", "10.0.0.2");
    ctl_env_start_controller(&env, flags);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%d", i);
        ctl_service(&env, name, NULL, 80 + i);
    }
    /* kill it mid-run: some LBs exist, not all */
    CHECK(WAIT_FOR(10000, ctl_cloud_lb_count(&env) >= 3));
    lbp_test_stop(env.ctl, SIGKILL, 5000);
    env.ctl = 0;
    CHECK(ctl_count_ingress(&env, "svc-", N) < N);

    ctl_env_start_controller(&env, flags);
    CHECK(WAIT_FOR(20000, ctl_count_ingress(&env, "svc-", N) == N));
    CHECK(ctl_cloud_lb_count(&env) == N);
    /* every Service's ingress is its own LB's VIP: no duplicates */
    json_object *root = ctl_cloud(&env), *lbs = json_object_object_get(root, "loadBalancers");
    for (size_t i = 0; i < json_object_array_length(lbs); i++)
        for (size_t j = i + 1; j < json_object_array_length(lbs); j++)
            CHECK(strcmp(jpath_str(json_object_array_get_idx(lbs, i), "vip"),
                         jpath_str(json_object_array_get_idx(lbs, j), "vip")) != 0);
    for (int i = 0; i < N; i++) {
        char name[32], ip[128], key[64];
        snprintf(name, sizeof(name), "svc-%d", i);
        snprintf(key, sizeof(key), "default/%s", name);
        ctl_ingress(&env, name, ip, sizeof(ip));
        json_object *lb = ctl_cloud_lb(&env, key);
        CHECK(lb && strcmp(jpath_str(lb, "vip"), ip) == 0);
        json_object_put(lb);
        CHECK(ctl_has_finalizer(&env, name));
    }
    json_object_put(root);

    /* SIGTERM: exit 0 within the bound */
    t0 = lbp_now_ms();
    st = lbp_test_stop(env.ctl, SIGTERM, 6000);
    env.ctl = 0;
    CHECK(st == 0);
    CHECK(lbp_now_ms() - t0 < 5500);

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
