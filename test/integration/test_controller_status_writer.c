/*
 * test_controller_status_writer.c — status writes leave the worker. With
 * one worker: a Service whose status write is held by the API server (429,
 * Retry-After 5 s) does not hold up the next Service, which is provisioned
 * and written first; the held Service's key, re-queued by resyncs meanwhile,
 * costs no second ensure; its Event follows its write. A status write that
 * fails (409 on every attempt) re-queues the key with backoff, and the next
 * sync ensures and writes again rather than believing the write was made.
 * A Service whose finalizer write is held does not hold up the next one
 * either, and gets no LB before the finalizer is on.
 *
 * The Services of parts 1 and 2 are created with the finalizer already on,
 * so their first services/status request is the status write the fault hits.
 */
#include "test/integration/ctl_env.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

/* One sample's value from /metrics, or -1. */
static double metric(const char *series)
{
    char *b = NULL;
    double v = -1;
    if (ctl_http_get(&env, "/metrics", &b) == 200 && b) {
        size_t l = strlen(series);
        for (char *p = strstr(b, series); p; p = strstr(p + 1, series))
            if ((p == b || p[-1] == '\n') && p[l] == ' ') {
                v = strtod(p + l + 1, NULL);
                break;
            }
    }
    free(b);
    return v;
}

/* A LoadBalancer Service that carries lbprov's finalizer from the start. */
static void finalized_service(const char *name, int port)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"finalizers\":[\"service.kubernetes.io/"
             "load-balancer-cleanup\"]},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"name\":"
             "\"p\",\"protocol\":\"TCP\",\"port\":%d,\"targetPort\":%d}],\"selector\":{\"app\":"
             "\"%s\"}}}",
             name, port, port, name);
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services", body, NULL) == 201);
}

int main(void)
{
    static const char *const flags[] = {"--concurrent-service-syncs", "1", "--resync-period", "1s",
                                        NULL};
    json_object *lb;

    ctl_env_init(&env, NULL);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_env_start_controller(&env, flags);

    /* 1. held's status write waits 5 s on a 429; next goes by it. */
    CHECK(lbp_fake_api_fault(
              &env.api, "{\"throttleNext\":1,\"retryAfter\":5,\"resource\":\"services/status\"}") ==
          0);
    finalized_service("held", 80);
    CHECK(WAIT_FOR(15000, (lb = ctl_cloud_lb(&env, "default/held")) != NULL));
    json_object_put(lb);
    ctl_service(&env, "next", NULL, 81);
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "next") || ctl_has_ingress(&env, "held")));
    /* one worker, and it was not the one waiting */
    CHECK(ctl_has_ingress(&env, "next"));
    CHECK(!ctl_has_ingress(&env, "held"));
    double skipped = metric("service_controller_skipped_total");
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "held")));
    CHECK(lbp_fake_api_count(&env.api, "FAULT error") == 1);
    /* resyncs came while held's write waited: no second ensure, no second write */
    CHECK(ctl_cloud_calls(&env, "ensure") == 2);
    CHECK(WAIT_FOR(10000, metric("service_controller_skipped_total") >= skipped + 4));
    CHECK(ctl_cloud_calls(&env, "ensure") == 2);
    /* held: its status (answered 429, then made); next: finalizer and status */
    CHECK(lbp_fake_api_count(&env.api, "PATCH services/status") == 4);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "held", "EnsuredLoadBalancer", NULL, 0) == 1));

    /* 2. Every attempt of the status write gets 409: a failed sync, then ensure + write again. */
    double errors = metric("service_controller_sync_errors_total");
    CHECK(lbp_fake_api_fault(&env.api,
                             "{\"conflictNextWrites\":5,\"resource\":\"services/status\"}") == 0);
    finalized_service("refused", 82);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "refused")));
    CHECK(metric("service_controller_sync_errors_total") == errors + 1);
    CHECK(ctl_cloud_calls(&env, "ensure") == 4);
    CHECK(lbp_fake_api_count(&env.api, "FAULT error") == 6);
    CHECK(lbp_fake_api_count(&env.api, "PATCH services/status") == 10);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "refused", "EnsuredLoadBalancer", NULL, 0) == 1));

    /*
     * 3. The finalizer write leaves the worker too: fheld's waits 5 s on a
     * 429, fnext goes by it; fheld gets no LB before its finalizer is on.
     */
    long patches = lbp_fake_api_count(&env.api, "PATCH services/status");
    CHECK(lbp_fake_api_fault(
              &env.api, "{\"throttleNext\":1,\"retryAfter\":5,\"resource\":\"services/status\"}") ==
          0);
    ctl_service(&env, "fheld", NULL, 83);
    CHECK(WAIT_FOR(10000, lbp_fake_api_count(&env.api, "FAULT error") == 7));
    ctl_service(&env, "fnext", NULL, 84);
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "fnext") || ctl_has_finalizer(&env, "fheld")));
    CHECK(ctl_has_ingress(&env, "fnext"));
    CHECK(!ctl_has_finalizer(&env, "fheld"));
    CHECK(ctl_lb_missing(&env, "default/fheld"));
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "fheld")));
    CHECK(ctl_cloud_calls(&env, "ensure") == 6);
    /*
     * fheld: finalizer (answered 429, then made) and status; fnext: finalizer
     * and status. fheld's finalizer patch carries the resourceVersion its
     * sync saw; when the object moved on meanwhile it is refused once (409)
     * and made again after a re-read, as without the writer.
     */
    long made = lbp_fake_api_count(&env.api, "PATCH services/status") - patches;
    CHECK(made == 5 || made == 6);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "fheld", "EnsuredLoadBalancer", NULL, 0) == 1));

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
