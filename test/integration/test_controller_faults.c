/*
 * test_controller_faults.c — the controller under trouble: the cloud fails
 * three times (backoff, SyncLoadBalancerFailed events, then success), a
 * 409 on the status write is retried, a dropped watch loses no update, a
 * bad source range and zero nodes become Warning Events without a cloud
 * call, and an orphaned LB (finalizer force-removed) is cleaned up.
 */
#include "test/integration/ctl_env.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

int main(void)
{
    static const char *const flags[] = {"--orphan-grace-period", "1s", NULL};
    char msg[512];
    uint64_t t0;

    /* zero nodes at first: the LB is made without backends and a Warning says why */
    ctl_env_init(&env, "fail_next=3");
    ctl_env_start_controller(&env, flags);

    /* the cloud fails three times: backoff (200, 400, 800 ms), events, then success */
    t0 = lbp_now_ms();
    ctl_service(&env, "flaky", NULL, 80);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "flaky")));
    CHECK(lbp_now_ms() - t0 >= 1200); /* waited out the backoff */
    CHECK(ctl_cloud_calls(&env, "failed") == 3);
    CHECK(ctl_cloud_calls(&env, "ensure") == 4);
    CHECK(
        WAIT_FOR(5000, ctl_events(&env, "flaky", "SyncLoadBalancerFailed", msg, sizeof(msg)) >= 3));
    CHECK(strstr(msg, "injected failure") != NULL);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "flaky", "UnAvailableLoadBalancer", NULL, 0) > 0));

    ctl_node(&env, "node-1", "10.0.0.1");
    /*
     * Let flaky's update for the new node land first (no check: only a
     * wait), or under load it takes the failures meant for flaky2.
     */
    (void)WAIT_FOR(10000, ctl_lb_nodes(&env, "default/flaky") == 1);
    /* faults injected at run time through the debug endpoint */
    CHECK(ctl_cloud_post(&env, "failNext=2") == 200);
    CHECK(ctl_cloud_post(&env, "failNext=many") == 400);
    ctl_service(&env, "flaky2", NULL, 84);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "flaky2")));
    CHECK(ctl_cloud_calls(&env, "failed") == 5);
    CHECK(ctl_events(&env, "flaky2", "SyncLoadBalancerFailed", NULL, 0) >= 1);
    /* 409 on the status write is retried */
    CHECK(lbp_fake_api_fault(&env.api,
                             "{\"conflictNextWrites\":2,\"resource\":\"services/status\"}") == 0);
    ctl_service(&env, "conflicted", NULL, 81);
    CHECK(WAIT_FOR(10000,
                   ctl_has_ingress(&env, "conflicted") && ctl_has_finalizer(&env, "conflicted")));

    /* bad source range: Warning naming the value, no cloud call, no finalizer */
    long ensures = ctl_cloud_calls(&env, "ensure");
    ctl_service(&env, "badrange", "\"loadBalancerSourceRanges\":[\"10.0.0.0/33\"]", 82);
    CHECK(WAIT_FOR(10000,
                   ctl_events(&env, "badrange", "SyncLoadBalancerFailed", msg, sizeof(msg)) > 0));
    CHECK(strstr(msg, "10.0.0.0/33") != NULL);
    CHECK(strstr(msg, "loadBalancerSourceRanges") != NULL);
    CHECK(ctl_cloud_calls(&env, "ensure") == ensures);
    CHECK(!ctl_has_finalizer(&env, "badrange"));

    /* a dropped watch loses no update */
    CHECK(lbp_fake_api_fault(&env.api, "{\"dropWatches\":true}") == 0);
    ctl_service(&env, "afterdrop", NULL, 83);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "afterdrop")));

    /*
     * orphan: while the controller is down, someone force-removes the
     * finalizer and deletes the Service; the LB survives in the cloud (its
     * state file) and the restarted controller removes it after the grace.
     */
    CHECK(!ctl_lb_missing(&env, "default/afterdrop"));
    CHECK(lbp_test_stop(env.ctl, SIGTERM, 6000) == 0);
    env.ctl = 0;
    FILE *f = fopen(env.cloud_conf, "w");
    CHECK(f != NULL);
    fprintf(f, "state_file=%s\n", env.state_file);
    fclose(f);
    CHECK(ctl_api(&env, "PATCH", "/api/v1/namespaces/default/services/afterdrop/status",
                  "{\"metadata\":{\"finalizers\":null}}", NULL) == 200);
    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/afterdrop", NULL, NULL) ==
          200);
    ctl_env_start_controller(&env, flags);
    CHECK(!ctl_lb_missing(&env, "default/afterdrop") || ctl_cloud_calls(&env, "remove") == 1);
    CHECK(WAIT_FOR(15000, ctl_lb_missing(&env, "default/afterdrop")));
    CHECK(!ctl_lb_missing(&env, "default/flaky"));
    CHECK(!ctl_lb_missing(&env, "default/conflicted"));
    CHECK(WAIT_FOR(5000, ctl_has_ingress(&env, "flaky")));

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
