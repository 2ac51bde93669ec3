/*
 * test_controller_limits.c — Services as large as a real API server
 * stores them, through the fake API server and `lbprov controller --cloud
 * mock`: none is invisible. One with 1,025 source ranges (more than the
 * mock cloud applies) gets a Warning Event naming the field and no LB; one
 * with 4,097 labels gets an address. Services that grow past those sizes
 * are still seen (a port change with the labels is applied; the ranges are
 * refused and the LB kept as it was), a relist does not make the orphan
 * scan delete their LBs, and their deletion is processed.
 */
#include "test/integration/ctl_env.h"
#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

#define SVC_PATH "/api/v1/namespaces/default/services/"

/* '"loadBalancerSourceRanges":[...]' with n distinct valid CIDRs. */
static void add_ranges(struct lbp_buf *b, int n)
{
    CHECK(lbp_buf_adds(b, "\"loadBalancerSourceRanges\":[") == 0);
    for (int i = 0; i < n; i++)
        CHECK(lbp_buf_addf(b, "%s\"10.%d.%d.0/24\"", i ? "," : "", i / 256, i % 256) == 0);
    CHECK(lbp_buf_adds(b, "]") == 0);
}

/* '"labels":{...}' with n labels. */
static void add_labels(struct lbp_buf *b, int n)
{
    CHECK(lbp_buf_adds(b, "\"labels\":{") == 0);
    for (int i = 0; i < n; i++)
        CHECK(lbp_buf_addf(b, "%s\"example.com/l%d\":\"v%d\"", i ? "," : "", i, i) == 0);
    CHECK(lbp_buf_adds(b, "}") == 0);
}

static void create(const char *name, int port, int n_ranges, int n_labels)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 4 << 20);
    CHECK(lbp_buf_addf(&b,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                       "\"%s\",\"namespace\":\"default\"",
                       name) == 0);
    if (n_labels) {
        CHECK(lbp_buf_adds(&b, ",") == 0);
        add_labels(&b, n_labels);
    }
    CHECK(lbp_buf_adds(&b, "},\"spec\":{\"type\":\"LoadBalancer\",") == 0);
    if (n_ranges) {
        add_ranges(&b, n_ranges);
        CHECK(lbp_buf_adds(&b, ",") == 0);
    }
    CHECK(lbp_buf_addf(&b,
                       "\"ports\":[{\"name\":\"p\",\"protocol\":\"TCP\",\"port\":%d}],"
                       "\"selector\":{\"app\":\"%s\"}}}",
                       port, name) == 0);
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services", b.data, NULL) == 201);
    lbp_buf_free(&b);
}

static bool svc_gone(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), SVC_PATH "%s", name);
    return ctl_api(&env, "GET", path, NULL, NULL) == 404;
}

/* The mock LB's first listener port, or -1. */
static long lb_port(const char *key)
{
    json_object *lb = ctl_cloud_lb(&env, key);
    long p = lb ? jpath_int(lb, "listeners.0.port") : -1;
    json_object_put(lb);
    return p;
}

static bool event_says(const char *name, const char *reason, const char *a, const char *b)
{
    char msg[1024] = "";
    return ctl_events(&env, name, reason, msg, sizeof(msg)) > 0 && strstr(msg, a) &&
           (!b || strstr(msg, b));
}

int main(void)
{
    static const char *const flags[] = {"--orphan-grace-period", "1s", NULL};
    struct lbp_buf b;
    char vip[128], vip_after[128];

    ctl_env_init(&env, NULL);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_env_start_controller(&env, flags);

    /* two ordinary Services with load balancers */
    create("grow-ranges", 80, 0, 0);
    create("grow-labels", 81, 0, 0);
    CHECK(WAIT_FOR(15000,
                   ctl_has_ingress(&env, "grow-ranges") && ctl_has_ingress(&env, "grow-labels")));
    CHECK(WAIT_FOR(5000, ctl_has_finalizer(&env, "grow-ranges") &&
                             ctl_has_finalizer(&env, "grow-labels")));
    ctl_ingress(&env, "grow-ranges", vip, sizeof(vip));

    /* they grow past the sizes the decoder once refused */
    lbp_buf_init(&b, 4 << 20);
    CHECK(lbp_buf_adds(&b, "{\"spec\":{") == 0);
    add_ranges(&b, 1025);
    CHECK(lbp_buf_adds(&b, "}}") == 0);
    CHECK(ctl_api(&env, "PATCH", SVC_PATH "grow-ranges", b.data, NULL) == 200);
    lbp_buf_reset(&b);
    CHECK(lbp_buf_adds(&b, "{\"metadata\":{") == 0);
    add_labels(&b, 4097);
    CHECK(lbp_buf_adds(&b, "},\"spec\":{\"ports\":[{\"name\":\"p\",\"protocol\":\"TCP\","
                           "\"port\":8081}]}}") == 0);
    CHECK(ctl_api(&env, "PATCH", SVC_PATH "grow-labels", b.data, NULL) == 200);
    lbp_buf_free(&b);

    /* still seen: the port change is applied, the ranges refused by name */
    CHECK(WAIT_FOR(15000, lb_port("default/grow-labels") == 8081));
    CHECK(WAIT_FOR(15000, event_says("grow-ranges", "SyncLoadBalancerFailed",
                                     "spec.loadBalancerSourceRanges", "1025")));

    /*
     * A relist (410 on the next watches), then several orphan scans (every
     * 500 ms with a 1 s grace): neither LB is taken for an orphan.
     */
    long lists = lbp_fake_api_count(&env.api, "LIST services");
    CHECK(lbp_fake_api_fault(&env.api, "{\"goneNextWatches\":10}") == 0);
    CHECK(lbp_fake_api_fault(&env.api, "{\"dropWatches\":true}") == 0);
    CHECK(WAIT_FOR(15000, lbp_fake_api_count(&env.api, "LIST services") > lists));
    sleep(3);
    CHECK(ctl_cloud_calls(&env, "remove") == 0);
    CHECK(!ctl_lb_missing(&env, "default/grow-ranges"));
    CHECK(!ctl_lb_missing(&env, "default/grow-labels"));
    /* the refused change left the LB as it was */
    json_object *lb = ctl_cloud_lb(&env, "default/grow-ranges");
    CHECK(lb && jpath_str(lb, "vip") && strcmp(jpath_str(lb, "vip"), vip) == 0);
    json_object *rs = NULL;
    CHECK(json_object_object_get_ex(lb, "sourceRanges", &rs) && json_object_array_length(rs) == 0);
    json_object_put(lb);
    ctl_ingress(&env, "grow-ranges", vip_after, sizeof(vip_after));
    CHECK(strcmp(vip, vip_after) == 0);

    /* new Services of those sizes: an address, or a Warning Event naming the field */
    create("many-labels", 82, 0, 4097);
    create("many-ranges", 83, 1025, 0);
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "many-labels")));
    CHECK(WAIT_FOR(15000, event_says("many-ranges", "SyncLoadBalancerFailed",
                                     "spec.loadBalancerSourceRanges", "at most 64")));
    CHECK(ctl_lb_missing(&env, "default/many-ranges"));
    CHECK(!ctl_has_ingress(&env, "many-ranges"));

    /* their deletion is processed: LB removed, finalizer dropped, object gone */
    CHECK(ctl_api(&env, "DELETE", SVC_PATH "grow-ranges", NULL, NULL) == 200);
    CHECK(ctl_api(&env, "DELETE", SVC_PATH "grow-labels", NULL, NULL) == 200);
    CHECK(ctl_api(&env, "DELETE", SVC_PATH "many-labels", NULL, NULL) == 200);
    CHECK(WAIT_FOR(15000,
                   svc_gone("grow-ranges") && svc_gone("grow-labels") && svc_gone("many-labels")));
    CHECK(ctl_lb_missing(&env, "default/grow-ranges"));
    CHECK(ctl_lb_missing(&env, "default/grow-labels"));
    CHECK(ctl_lb_missing(&env, "default/many-labels"));

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
