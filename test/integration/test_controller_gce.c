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
#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/gce/fake_gce_client.h"
#include "test/integration/harness.h"

#define CLUSTER "lc"
#define WAIT_MS 30000

extern const struct lbp_provider lbp_provider_gce;

static struct lbp_fake_api g_api;
static struct fake_gce g_gce;
static pid_t g_ctl;
static char g_cfg[400], g_log[400];

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            dump_and_exit();                                                                       \
        }                                                                                          \
    } while (0)

static void dump_and_exit(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "tail -40 '%s' >&2", g_log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no controller log)\n");
    if (g_ctl > 0)
        lbp_test_stop(g_ctl, SIGKILL, 2000);
    fake_gce_stop(&g_gce);
    lbp_fake_api_stop(&g_api);
    exit(1);
}

static void start_controller(void)
{
    char bind[64];
    const char *argv[] = {lbp_test_lbprov_bin(), "controller", "--cloud", "gce", "--cloud-config",
                          g_cfg, "--cluster-name", CLUSTER, "--kubeconfig", g_api.kubeconfig,
                          "--http-bind-address", bind, "--kube-api-qps", "0", "--backoff-base",
                          "200ms", "--backoff-max", "1s", "--orphan-grace-period", "1s",
                          /* one controller at a time: no Lease to wait for after a kill,
                             none to lose on a loaded machine */
                          "--leader-elect=false", "-v", "2", NULL};
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", lbp_test_free_port());
    g_ctl = lbp_test_spawn((char *const *)argv, g_log);
    CHECK(g_ctl > 0);
}

static json_object *api_get(const char *path)
{
    char *resp = NULL;
    json_object *o = NULL;
    if (lbp_fake_api_request(&g_api, "GET", path, NULL, NULL, &resp) == 200)
        o = json_tokener_parse(resp);
    free(resp);
    return o;
}

static void node(int i)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%d\"},"
             "\"spec\":{\"providerID\":\"gce://fake-project/us-central1-%c/node-%d\"},"
             "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.128.0.%d\"}],"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
             i, "abc"[i % 3], i, 10 + i);
    CHECK(lbp_fake_api_request(&g_api, "POST", "/api/v1/nodes", "application/json", body, NULL) ==
          201);
}

static void service(const char *name, const char *annotations, const char *spec_extra,
                    const char *ports)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"annotations\":{%s}},\"spec\":{\"type\":"
             "\"LoadBalancer\",\"selector\":{\"app\":\"%s\"}%s,\"ports\":[%s]}}",
             name, annotations, name, spec_extra,
             ports ? ports
                   : "{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080},"
                     "{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":8443},"
                     "{\"name\":\"admin\",\"protocol\":\"TCP\",\"port\":9000,\"targetPort\":9000}");
    CHECK(lbp_fake_api_request(&g_api, "POST", "/api/v1/namespaces/default/services",
                               "application/json", body, NULL) == 201);
}

static json_object *svc_get(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    return api_get(path);
}

static void svc_put(const char *name, json_object *o)
{
    char path[256];
    long code;
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    code = lbp_fake_api_request(&g_api, "PUT", path, "application/json",
                                json_object_to_json_string(o), NULL);
    CHECK(code == 200);
}

static void svc_delete(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    CHECK(lbp_fake_api_request(&g_api, "DELETE", path, NULL, NULL, NULL) == 200);
}

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (o)
        json_object_object_get_ex(o, k, &v);
    return v;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = jget(o, k);
    return v ? json_object_get_string(v) : "";
}

/* The LB name of a Service: "a" + its UID without dashes. */
static void lb_of(const char *svc, char out[LBP_LB_NAME_LEN + 1])
{
    json_object *s = svc_get(svc);
    lbp_lb_name(jstr(jget(s, "metadata"), "uid"), out);
    json_object_put(s);
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

/* Objects lbprov made that are still there (the VMs aside). */
static int leftovers(void)
{
    json_object *st = fake_gce_json(&g_gce, "/_fake/state");
    int n = 0;
    json_object_object_foreach(jget(st, "resources"), coll, objs)
    {
        if (strstr(coll, "/instances"))
            continue;
        json_object_object_foreach(objs, name, o)
        {
            (void)o;
            fprintf(stderr, "present: %s/%s\n", coll, name);
            n++;
        }
    }
    json_object_put(st);
    return n;
}

struct cond {
    const char *svc;
    int want;
    const char *str;
};

static void ingress(const char *svc, char *out, size_t cap)
{
    json_object *s = svc_get(svc), *ing = jget(jget(jget(s, "status"), "loadBalancer"), "ingress");
    snprintf(out, cap, "%s",
             ing && json_object_array_length(ing) ? jstr(json_object_array_get_idx(ing, 0), "ip")
                                                  : "");
    json_object_put(s);
}

/* The Service's ingress IP is its forwarding rule's (and c->str when set). */
static bool has_ip(void *ctx)
{
    struct cond *c = ctx;
    char ip[64], lb[LBP_LB_NAME_LEN + 1];
    ingress(c->svc, ip, sizeof(ip));
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
    return leftovers() == 0;
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

/* Warning Events with this reason for the Service. */
static int events(const char *name, const char *reason, char *msg, size_t cap)
{
    json_object *o = api_get("/api/v1/namespaces/default/events"), *items = jget(o, "items");
    int n = 0;
    for (size_t i = 0; items && i < json_object_array_length(items); i++) {
        json_object *ev = json_object_array_get_idx(items, i);
        if (strcmp(jstr(ev, "reason"), reason) ||
            strcmp(jstr(jget(ev, "involvedObject"), "name"), name))
            continue;
        n +=
            json_object_get_int(jget(ev, "count")) > 0 ? json_object_get_int(jget(ev, "count")) : 1;
        if (msg)
            snprintf(msg, cap, "%s", jstr(ev, "message"));
    }
    json_object_put(o);
    return n;
}

struct evc {
    const char *svc, *reason;
};

static bool has_event(void *ctx)
{
    struct evc *e = ctx;
    return events(e->svc, e->reason, NULL, 0) > 0;
}

/* One Warning for a Service whose input is wrong, naming what, and no second one. */
static void one_warning(const char *svc, const char *needle)
{
    struct evc e = {svc, "SyncLoadBalancerFailed"};
    char msg[1024] = "";
    CHECK(lbp_test_poll(has_event, &e, WAIT_MS));
    usleep(3000 * 1000); /* several backoff rounds: a retry storm would add Events */
    CHECK(events(svc, "SyncLoadBalancerFailed", msg, sizeof(msg)) == 1);
    if (!strstr(msg, needle))
        fprintf(stderr, "event for %s: %s (want %s)\n", svc, msg, needle);
    CHECK(strstr(msg, needle) != NULL);
}

int main(void)
{
    struct lbp_fake_api_opts ao = {0};
    const char *fargs[] = {"--instances", "10", "--op-polls", "1", "--op-ms", "1000", NULL};
    struct cond c = {0};
    char ip[64], lb[LBP_LB_NAME_LEN + 1];
    json_object *s;
    FILE *f;

#ifndef LBP_HAVE_CONTROLLER
    printf("skipped: this build has no `lbprov controller` (cmd/controller.c)\n");
    return 77;
#endif
    if (lbp_fake_api_start(&ao, &g_api) != 0) {
        fprintf(stderr, "cannot start the fake API server\n");
        return 1;
    }
    CHECK(fake_gce_start(&g_gce, fargs) == 0);
    snprintf(g_cfg, sizeof(g_cfg), "%s/gce.conf", g_api.dir);
    snprintf(g_log, sizeof(g_log), "%s/controller.log", g_api.dir);
    f = fopen(g_cfg, "w");
    CHECK(f != NULL);
    /* what a user of another GCE-compatible endpoint writes: nothing names the fake */
    fprintf(f,
            "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
            "network-name = default\nsubnetwork-name = default\n"
            "api-endpoint = %s/compute/v1/\ncredentials-file = %s\n",
            g_gce.proc.url, g_gce.key_file);
    fclose(f);
    for (int i = 1; i <= 5; i++)
        node(i);
    start_controller();

    /* Create: an external LB on an address of its own. */
    service("web", "", "", NULL);
    c.svc = "web";
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));
    ingress("web", ip, sizeof(ip));
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
    CHECK(lbp_fake_api_request(&g_api, "DELETE", "/api/v1/nodes/node-2", NULL, NULL, NULL) == 200);
    c.want = 5;
    CHECK(lbp_test_poll(pool_size, &c, WAIT_MS));
    CHECK(fake_gce_calls(&g_gce, "POST targetPools/addInstance") == 1);
    CHECK(fake_gce_calls(&g_gce, "POST targetPools/removeInstance") == 1);
    CHECK(fake_gce_calls(&g_gce, "POST forwardingRules") == 0);

    /* Port change: the rule is made again, on the same address. */
    s = svc_get("web");
    json_object_object_add(json_object_array_get_idx(jget(jget(s, "spec"), "ports"), 2), "port",
                           json_object_new_int(9090));
    svc_put("web", s);
    json_object_put(s);
    c.str = "portRange=80-9090";
    CHECK(lbp_test_poll(fr_field, &c, WAIT_MS));
    c.str = ip;
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));

    /* Local traffic policy: the Service's own check on its healthCheckNodePort. */
    s = svc_get("web");
    json_object_object_add(jget(s, "spec"), "externalTrafficPolicy",
                           json_object_new_string("Local"));
    svc_put("web", s);
    json_object_put(s);
    s = svc_get("web");
    c.want = json_object_get_int(jget(jget(s, "spec"), "healthCheckNodePort"));
    json_object_put(s);
    CHECK(c.want > 0);
    CHECK(lbp_test_poll(pool_hc_local, &c, WAIT_MS));

    /* An internal LB: an address of the subnetwork, a backend service over the groups. */
    service("ilb", "\"networking.gke.io/load-balancer-type\":\"Internal\"", "",
            "{\"name\":\"grpc\",\"protocol\":\"TCP\",\"port\":8443}");
    c.svc = "ilb";
    c.str = NULL;
    CHECK(lbp_test_poll(has_ip, &c, WAIT_MS));
    {
        char ilb_ip[64], ilb[LBP_LB_NAME_LEN + 1];
        ingress("ilb", ilb_ip, sizeof(ilb_ip));
        lb_of("ilb", ilb);
        CHECK(strncmp(ilb_ip, "10.128.", 7) == 0);
        CHECK(!strcmp(jstr(gobj("regions/us-central1/forwardingRules", ilb), "loadBalancingScheme"),
                      "INTERNAL"));
        CHECK(gobj("regions/us-central1/backendServices", ilb) != NULL);
    }
    svc_delete("ilb");

    /* Bad input: one clear Warning Event each, no retry storm. */
    service("badrange", "", ",\"loadBalancerSourceRanges\":[\"10.0.0.0/33\"]", NULL);
    one_warning("badrange", "10.0.0.0/33");
    service("mixed", "", "",
            "{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53},"
            "{\"name\":\"dnst\",\"protocol\":\"TCP\",\"port\":53}");
    one_warning("mixed", "protocol");
    {
        char extra[128];
        snprintf(extra, sizeof(extra), ",\"loadBalancerIP\":\"%s\"", ip);
        service("clash", "", extra, NULL);
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
    service("mid", "", "", "{\"name\":\"u\",\"protocol\":\"UDP\",\"port\":5000}");
    CHECK(lbp_test_poll(mid_started, NULL, WAIT_MS));
    lbp_test_stop(g_ctl, SIGKILL, 2000);
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
        struct lbp_provider_ctx *pctx = NULL;
        struct lbp_lb_port ports[1] = {{"p", "TCP", 80, 31000}};
        struct lbp_lb_node nodes[1] = {
            {"node-1", "gce://fake-project/us-central1-b/node-1", NULL, NULL, NULL, 0}};
        struct lbp_lb_spec sp = {.cluster_name = CLUSTER,
                                 .namespace = "default",
                                 .name = "ghost",
                                 .uid = "0badc0de-0000-4000-8000-000000000001",
                                 .ports = ports,
                                 .n_ports = 1,
                                 .nodes = nodes,
                                 .n_nodes = 1,
                                 .session_affinity = "None"};
        struct lbp_lb_status st;
        struct lbp_call call;
        char err[256];
        int rc = LBP_PENDING;
        lbp_lb_name(sp.uid, sp.lb_name);
        CHECK(lbp_provider_gce.init(g_cfg, CLUSTER, &pctx, err, sizeof(err)) == LBP_OK);
        for (int i = 0; i < 100 && rc == LBP_PENDING; i++) {
            memset(&call, 0, sizeof(call));
            rc = lbp_provider_gce.ensure(pctx, &sp, &st, &call);
            if (rc == LBP_PENDING)
                usleep(100 * 1000);
        }
        lbp_provider_gce.cleanup(pctx);
        lbp_http_thread_cleanup();
        CHECK(rc == LBP_OK);
        c.str = sp.lb_name;
        CHECK(!fr_gone(&c));
        /* Restart so the orphan scan runs at start-up. */
        lbp_test_stop(g_ctl, SIGTERM, 5000);
        start_controller();
        CHECK(lbp_test_poll(fr_gone, &c, WAIT_MS));
        CHECK(lbp_test_poll(no_objects, NULL, WAIT_MS));
    }

    CHECK(lbp_test_stop(g_ctl, SIGTERM, 5000) == 0);
    g_ctl = 0;
    CHECK(fake_gce_stop(&g_gce) == 0);
    lbp_fake_api_stop(&g_api);
    printf("ok\n");
    return 0;
}
