/*
 * test_controller_gce.c — the whole path: `lbprov controller --cloud gce`
 * as a real process against the fake API server and fake-gce (Operations
 * that stay RUNNING for a poll, tokens only for JWTs signed with the key
 * file fake-gce wrote).
 *
 * One scenario, step by step, each waiting (with a deadline) for the state
 * it expects in the fake cloud and in the Service's status: create
 * (external, 3 ports, 5 nodes), node added and removed, port change on the
 * same address, externalTrafficPolicy Local, an internal LB, bad input (an
 * invalid source range, a protocol mix, an address in use) giving one
 * Warning Event each, a controller killed in the middle of provisioning and
 * restarted, delete with nothing left, and an orphan cleaned up.
 *
 * Needs the controller (cmd/controller.c); without it the test exits 77.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/provider.h"
#include "test/fakes/gce/fake_gce_client.h"
#include "test/integration/ctl_env.h"

#define CLUSTER "lc"
#define WAIT_MS 30000

extern const struct lbp_provider lbp_provider_gce;

static struct ctl_env env;
static struct fake_gce g_gce;

static void stop_gce(void)
{
    fake_gce_stop(&g_gce);
}

static void start_controller(void)
{
    const char *extra[] = {"--cluster-name", CLUSTER, "--orphan-grace-period", "1s",
                           /* one controller at a time: no Lease to wait for after a kill,
                              none to lose on a loaded machine */
                           "--leader-elect=false", NULL};
    ctl_env_start_controller(&env, extra);
}

static void node(int i)
{
    char name[32], ip[32], pid[96];
    snprintf(name, sizeof(name), "node-%d", i);
    snprintf(ip, sizeof(ip), "10.128.0.%d", 10 + i);
    snprintf(pid, sizeof(pid), "gce://fake-project/us-central1-%c/node-%d", "abc"[i % 3], i);
    ctl_node_full(&env, name, ip, pid, NULL);
}

static void svc_delete(const char *name)
{
    CHECK(ctl_svc_delete(&env, name) == 200);
}

static void lb_of(const char *svc, char out[LBP_LB_NAME_LEN + 1])
{
    ctl_lb_name_of(&env, svc, out);
}

/* One object of fake-gce's state (valid until the next call). */
static json_object *gobj(const char *coll, const char *name)
{
    static json_object *last;
    json_object *o = NULL;
    json_object_put(last);
    last = fake_gce_json(&g_gce, "/_fake/state");
    json_object_object_get_ex(jget(jget(last, "resources"), coll), name, &o);
    return o;
}

struct cond {
    const char *svc;
    int want;
    const char *str;
};

/* The Service's ingress IP is its forwarding rule's (and c->str when set). */
static bool has_ip(void *ctx)
{
    struct cond *c = ctx;
    char ip[64], lb[LBP_LB_NAME_LEN + 1];
    ctl_ingress(&env, c->svc, ip, sizeof(ip));
    lb_of(c->svc, lb);
    return ip[0] &&
           !strcmp(ip, jstr(gobj("regions/us-central1/forwardingRules", lb), "IPAddress")) &&
           (!c->str || !strcmp(ip, c->str));
}

static bool pool_size(void *ctx)
{
    struct cond *c = ctx;
    char lb[LBP_LB_NAME_LEN + 1];
    json_object *insts;
    lb_of(c->svc, lb);
    insts = jget(gobj("regions/us-central1/targetPools", lb), "instances");
    return insts && (int)json_object_array_length(insts) == c->want;
}

static bool fr_field(void *ctx)
{
    struct cond *c = ctx; /* str: "field=value" */
    char lb[LBP_LB_NAME_LEN + 1], field[64];
    const char *eq = strchr(c->str, '=');
    lb_of(c->svc, lb);
    snprintf(field, sizeof(field), "%.*s", (int)(eq - c->str), c->str);
    return !strcmp(jstr(gobj("regions/us-central1/forwardingRules", lb), field), eq + 1);
}

static bool pool_hc_local(void *ctx)
{
    struct cond *c = ctx;
    char lb[LBP_LB_NAME_LEN + 1];
    json_object *hc;
    lb_of(c->svc, lb);
    hc = gobj("global/httpHealthChecks", lb);
    if (!hc || json_object_get_int(jget(hc, "port")) != c->want)
        return false;
    return strstr(json_object_to_json_string(gobj("regions/us-central1/targetPools", lb)), lb) !=
           NULL;
}

static bool no_objects(void *ctx)
{
    (void)ctx;
    return fake_gce_leftovers(&g_gce) == 0;
}

static bool fr_gone(void *ctx)
{
    struct cond *c = ctx;
    return gobj("regions/us-central1/forwardingRules", c->str) == NULL;
}

static bool mid_started(void *ctx)
{
    char lb[LBP_LB_NAME_LEN + 1], fw[64];
    (void)ctx;
    lb_of("mid", lb);
    snprintf(fw, sizeof(fw), "k8s-fw-%s", lb);
    return gobj("global/firewalls", fw) != NULL ||
           gobj("regions/us-central1/addresses", lb) != NULL;
}

struct evc {
    const char *svc, *reason;
};

static bool has_event(void *ctx)
{
    struct evc *e = ctx;
    return ctl_events(&env, e->svc, e->reason, NULL, 0) > 0;
}

/* One Warning for a Service whose input is wrong, naming what, and no second one. */
static void one_warning(const char *svc, const char *needle)
{
    struct evc e = {svc, "SyncLoadBalancerFailed"};
    char msg[1024] = "";
    CHECK(lbp_test_poll(has_event, &e, WAIT_MS));
    usleep(3000 * 1000); /* several backoff rounds: a retry storm would add Events */
    CHECK(ctl_events(&env, svc, "SyncLoadBalancerFailed", msg, sizeof(msg)) == 1);
    if (!strstr(msg, needle))
        fprintf(stderr, "event for %s: %s (want %s)\n", svc, msg, needle);
    CHECK(strstr(msg, needle) != NULL);
}

int main(void)
{
    const char *fargs[] = {"--instances", "10", "--op-polls", "1", "--op-ms", "1000", NULL};
    struct cond c = {0};
    char ip[64], lb[LBP_LB_NAME_LEN + 1];

#ifndef LBP_HAVE_CONTROLLER
    printf("skipped: this build has no `lbprov controller` (cmd/controller.c)\n");
    return 77;
#endif
    ctl_env_init(&env, NULL);
    CHECK(fake_gce_start(&g_gce, fargs) == 0);
    env.on_fail = stop_gce;
    /* what a user of another GCE-compatible endpoint writes: nothing names the fake */
    ctl_env_cloud(&env, "gce",
                  "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
                  "network-name = default\nsubnetwork-name = default\n"
                  "api-endpoint = %s/compute/v1/\ncredentials-file = %s\n",
                  g_gce.proc.url, g_gce.key_file);
    for (int i = 1; i <= 5; i++)
        node(i);
    start_controller();

    /* Create: an external LB on an address of its own. */
    ctl_service_full(&env, "web", "", NULL, NULL);
    c.svc = "web";
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));
    ctl_ingress(&env, "web", ip, sizeof(ip));
    lb_of("web", lb);
    c.want = 5;
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));
    CHECK(!strcmp(jstr(gobj("regions/us-central1/addresses", lb), "address"), ip));
    c.str = "portRange=80-9000";
    CHECK(lbp_test_poll(fr_field, &c, WAIT_MS));

    /* Node added, node removed: only the pool's members change. */
    fake_gce_control(&g_gce, "/_fake/counters/reset", "{}");
    node(6);
    c.want = 6;
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));
    CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/node-2", NULL, NULL) == 200);
    c.want = 5;
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));
    CHECK(fake_gce_calls(&g_gce, "POST targetPools/addInstance") == 1);
    CHECK(fake_gce_calls(&g_gce, "POST targetPools/removeInstance") == 1);
    CHECK(fake_gce_calls(&g_gce, "POST forwardingRules") == 0);

    /* Port change: the rule is made again, on the same address. */
    CHECK(ctl_svc_port(&env, "web", 9000, 9090) == 200);
    c.str = "portRange=80-9090";
    CHECK(lbp_test_poll(fr_field, &c, WAIT_MS));
    c.str = ip;
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));

    /* Local traffic policy: the Service's own check on its healthCheckNodePort. */
    c.want = ctl_svc_local(&env, "web");
    CHECK(c.want > 0);
    CHECK(lbp_test_poll(pool_hc_local, &c, WAIT_MS));

    /* An internal LB: an address of the subnetwork, a backend service over the groups. */
    ctl_service_full(&env, "ilb", "\"networking.gke.io/load-balancer-type\":\"Internal\"", NULL,
                     "{\"name\":\"grpc\",\"protocol\":\"TCP\",\"port\":8443}");
    c.svc = "ilb";
    c.str = NULL;
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));
    {
        char ilb_ip[64], ilb[LBP_LB_NAME_LEN + 1];
        ctl_ingress(&env, "ilb", ilb_ip, sizeof(ilb_ip));
        lb_of("ilb", ilb);
        CHECK(strncmp(ilb_ip, "10.128.", 7) == 0);
        CHECK(!strcmp(jstr(gobj("regions/us-central1/forwardingRules", ilb), "loadBalancingScheme"),
                      "INTERNAL"));
        CHECK(gobj("regions/us-central1/backendServices", ilb) != NULL);
    }
    svc_delete("ilb");

    /* Bad input: one clear Warning Event each, no retry storm. */
    ctl_service_full(&env, "badrange", "", "\"loadBalancerSourceRanges\":[\"10.0.0.0/33\"]", NULL);
    one_warning("badrange", "10.0.0.0/33");
    ctl_service_full(&env, "mixed", "", NULL,
                     "{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53},"
                     "{\"name\":\"dnst\",\"protocol\":\"TCP\",\"port\":53}");
    one_warning("mixed", "protocol");
    {
        char extra[128];
        snprintf(extra, sizeof(extra), "\"loadBalancerIP\":\"%s\"", ip);
        ctl_service_full(&env, "clash", "", extra, NULL);
        one_warning("clash", "spec.loadBalancerIP");
    }
    svc_delete("badrange");
    svc_delete("mixed");
    svc_delete("clash");

    /*
     * A crash in the middle of provisioning "mid" (Operations slowed to
     * several polls), a node added while the controller is down, a
     * restart: it converges from the cloud's state, with nothing twice.
     */
    CHECK(fake_gce_control(&g_gce, "/_fake/config", "{\"op_polls\":4}") == 200);
    ctl_service_full(&env, "mid", "", NULL, "{\"name\":\"u\",\"protocol\":\"UDP\",\"port\":5000}");
    CHECK(lbp_test_poll(mid_started, NULL, WAIT_MS));
    ctl_env_end_controller(&env, SIGKILL);
    {
        char mlb[LBP_LB_NAME_LEN + 1];
        lb_of("mid", mlb);
        CHECK(gobj("regions/us-central1/forwardingRules", mlb) == NULL); /* not finished */
    }
    CHECK(fake_gce_control(&g_gce, "/_fake/config", "{\"op_polls\":1}") == 200);
    node(7);
    start_controller();
    c.svc = "mid";
    c.str = NULL;
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));
    c.want = 6;
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));
    c.svc = "web";
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));

    /* Delete: nothing left behind (the shared check goes with the last pool). */
    svc_delete("web");
    svc_delete("mid");
    CHECK(lbp_test_poll(no_objects, NULL, WAIT_MS));

    /* An orphan: an LB described as this cluster's whose Service does not exist. */
    {
        char ghost[LBP_LB_NAME_LEN + 1];
        CHECK(ctl_make_orphan(&lbp_provider_gce, env.cloud_conf, CLUSTER,
                              "gce://fake-project/us-central1-b/node-1", NULL, 0, ghost) == LBP_OK);
        c.str = ghost;
        CHECK(!fr_gone(&c));
        /* Restart so the orphan scan runs at start-up. */
        ctl_env_end_controller(&env, SIGTERM);
        start_controller();
        CHECK(lbp_test_poll(fr_gone, &c, WAIT_MS));
        CHECK(lbp_test_poll(no_objects, NULL, WAIT_MS));
    }

    CHECK(ctl_env_stop(&env) == 0);
    CHECK(fake_gce_stop(&g_gce) == 0);
    printf("ok\n");
    return 0;
}
