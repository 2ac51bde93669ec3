/*
 * test_controller_async.c — an asynchronous cloud through `lbprov
 * controller`: the mock cloud with pendingPolls=3 answers every change
 * LBP_PENDING three times (one operation per LB, retry-after 2 s) before
 * it takes effect. Create, node change and delete each go pending and
 * converge, polled at the cloud's pace rather than the (much shorter)
 * backoff; there is no Warning Event, no sync error and no workqueue retry;
 * `lbprov status` shows the Service InProgress meanwhile; the finalizer is
 * held until the LB is gone from the cloud; and a controller restarted in
 * the middle of an operation converges from the cloud's state.
 */
#include "test/integration/ctl_env.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

static bool svc_exists(const char *name)
{
    char path[300];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    return ctl_api(&env, "GET", path, NULL, NULL) == 200;
}

/* The slot of the operation the mock cloud has in flight ("" when none). */
static void cloud_op(char *out, size_t len)
{
    json_object *root = ctl_cloud(&env);
    const char *c = root ? jpath_str(root, "operations.0.call") : NULL;
    snprintf(out, len, "%s", c ? c : "");
    json_object_put(root);
}

static bool op_is(const char *call)
{
    char got[32];
    cloud_op(got, sizeof(got));
    return strcmp(got, call) == 0;
}

/* Warning Events of any reason for the Service. */
static int warnings(const char *name)
{
    json_object *o = NULL, *items;
    int n = 0;
    if (ctl_api(&env, "GET", "/api/v1/namespaces/default/events", NULL, &o) == 200 && o &&
        json_object_object_get_ex(o, "items", &items))
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *ev = json_object_array_get_idx(items, i);
            const char *t = jpath_str(ev, "type"), *nm = jpath_str(ev, "involvedObject.name");
            if (t && nm && strcmp(t, "Warning") == 0 && strcmp(nm, name) == 0) {
                fprintf(stderr, "Warning Event: %s: %s\n", jpath_str(ev, "reason"),
                        jpath_str(ev, "message"));
                n++;
            }
        }
    json_object_put(o);
    return n;
}

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

/* STATE of the Service in `lbprov status -o json`, copied into out ("" when absent). */
static void status_state(const char *name, char *out, size_t len)
{
    const char *args[] = {"status", "--kubeconfig", env.api.kubeconfig, "-o", "json", NULL};
    char *buf = NULL;
    json_object *js;
    out[0] = '\0';
    if (ctl_run_lbprov(&env, args, &buf) == 0 && (js = json_tokener_parse(buf))) {
        for (size_t i = 0; i < json_object_array_length(js); i++) {
            json_object *row = json_object_array_get_idx(js, i);
            if (strcmp(jpath_str(row, "name"), name) == 0)
                snprintf(out, len, "%s", jpath_str(row, "state"));
        }
        json_object_put(js);
    }
    free(buf);
}

static bool state_is(const char *name, const char *want)
{
    char got[32];
    status_state(name, got, sizeof(got));
    return strcmp(got, want) == 0;
}

int main(void)
{
    char msg[512];
    uint64_t t0;

    /* 2 s between polls leaves `lbprov status` time to see each operation */
    ctl_env_init(&env, "pendingPolls=3\nretry_after_s=2");
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_node(&env, "node-2", "10.0.0.2");
    ctl_env_start_controller(&env, NULL);

    /* create: the finalizer first, then three pending answers a second apart */
    t0 = lbp_now_ms();
    ctl_service(&env, "web", NULL, 80);
    CHECK(WAIT_FOR(5000, op_is("ensure")));
    CHECK(ctl_has_finalizer(&env, "web"));
    CHECK(!ctl_has_ingress(&env, "web"));
    CHECK(ctl_lb_missing(&env, "default/web"));
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "EnsuringLoadBalancer", msg, sizeof(msg)) >= 2));
    CHECK(strstr(msg, "Cloud is provisioning the load balancer") && strstr(msg, "RUNNING"));
    CHECK(state_is("web", "InProgress"));
    CHECK(WAIT_FOR(5000, metric("service_controller_cloud_operations_in_progress") == 1));
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "web")));
    /* polled at the cloud's retry-after (3 x 2 s), not the 200 ms backoff */
    CHECK(lbp_now_ms() - t0 >= 5900);
    CHECK(ctl_cloud_calls(&env, "ensure") == 4);
    CHECK(ctl_cloud_calls(&env, "pending") == 3);
    CHECK(ctl_lb_nodes(&env, "default/web") == 2);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "EnsuredLoadBalancer", NULL, 0) == 1));
    /* one "Ensuring" when it began and one for the operation, not one per poll */
    CHECK(ctl_events(&env, "web", "EnsuringLoadBalancer", NULL, 0) == 2);
    CHECK(WAIT_FOR(5000, state_is("web", "Ready")));
    CHECK(metric("service_controller_cloud_operations_in_progress") == 0);

    /* a node change: update_targets goes pending; the old backends serve meanwhile */
    ctl_node(&env, "node-3", "10.0.0.3");
    CHECK(WAIT_FOR(5000, op_is("update_targets")));
    CHECK(ctl_lb_nodes(&env, "default/web") == 2);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "UpdatingLoadBalancer", msg, sizeof(msg)) == 1));
    CHECK(strstr(msg, "Cloud is updating the hosts of the load balancer") != NULL);
    CHECK(state_is("web", "InProgress"));
    CHECK(WAIT_FOR(20000, ctl_lb_nodes(&env, "default/web") == 3));
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "UpdatedLoadBalancer", NULL, 0) == 1));
    CHECK(ctl_cloud_calls(&env, "update_targets") == 4);
    CHECK(ctl_cloud_calls(&env, "ensure") == 4); /* no fall back to ensure */
    CHECK(WAIT_FOR(5000, state_is("web", "Ready")));

    /*
     * delete: the finalizer holds the Service for as long as the LB exists.
     * Each sample reads the Service before the cloud, so "no finalizer"
     * must always come with "no LB".
     */
    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/web", NULL, NULL) == 200);
    bool held_while_pending = false, deleting_shown = false;
    t0 = lbp_now_ms();
    for (;;) {
        bool fin = ctl_has_finalizer(&env, "web"), exists = fin || svc_exists("web");
        bool pending = op_is("remove"), missing = ctl_lb_missing(&env, "default/web");
        CHECK(fin || missing);
        if (fin && pending && !missing) {
            if (!held_while_pending)
                deleting_shown = state_is("web", "Deleting");
            held_while_pending = true;
        }
        if (!exists)
            break;
        CHECK(lbp_now_ms() - t0 < 20000);
        usleep(50000);
    }
    CHECK(held_while_pending);
    CHECK(deleting_shown);
    CHECK(ctl_lb_missing(&env, "default/web"));
    CHECK(ctl_cloud_calls(&env, "remove") == 4);
    CHECK(WAIT_FOR(5000, ctl_events(&env, "web", "DeletedLoadBalancer", NULL, 0) == 1));
    /* "Deleting load balancer" once, then the operation once: not one per poll */
    CHECK(ctl_events(&env, "web", "DeletingLoadBalancer", msg, sizeof(msg)) == 2);

    /* waiting was never failing */
    CHECK(warnings("web") == 0);
    CHECK(metric("service_controller_sync_errors_total") == 0);
    CHECK(metric("workqueue_retries_total{name=\"service\"}") == 0);
    CHECK(metric("service_controller_cloud_errors_total") == 0);

    /*
     * A restart in the middle of a create: the operation handle dies with
     * the controller; the new one finds no LB in the cloud, begins again
     * and converges to one LB with an address.
     */
    ctl_service(&env, "api", NULL, 443);
    CHECK(WAIT_FOR(5000, op_is("ensure")));
    CHECK(lbp_test_stop(env.ctl, SIGTERM, 6000) == 0);
    env.ctl = 0;
    CHECK(!ctl_has_ingress(&env, "api"));
    ctl_env_start_controller(&env, NULL);
    CHECK(WAIT_FOR(5000, op_is("ensure")));
    CHECK(WAIT_FOR(20000, ctl_has_ingress(&env, "api")));
    CHECK(ctl_cloud_lb_count(&env) == 1);
    CHECK(ctl_lb_nodes(&env, "default/api") == 3);
    CHECK(warnings("api") == 0);

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
