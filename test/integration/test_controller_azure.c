/*
 * test_controller_azure.c — the whole path: `lbprov controller --cloud
 * azure` as a real process against the fake API server and fake-azure
 * (ARM, Entra ID), reached through azure.json's endpoint overrides.
 *
 * One scenario, step by step, each waiting (with a deadline) for the state
 * it expects in fake-azure and in the Service's status: a public Service
 * on the shared load balancer (public IP, frontend, rules, probes, NIC
 * pool, security rules), a port change, a node added and removed, source
 * ranges, externalTrafficPolicy Local, an internal Service, a user's named
 * public IP, a second writer changing the LB between our GET and PUT
 * (412), a Service that gets its address while another's port changes
 * keep a write of the shared LB always running, bad annotations and a
 * subnet that does not exist (one Warning Event each), a controller killed
 * while ARM still runs its operations, deletes (the LB goes with its last
 * frontend), and an orphan cleaned up.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/azure/fake_azure_client.h"
#include "test/integration/ctl_env.h"

#define CLUSTER "lc"
#define RG "lbprov-rg"
#define WAIT_MS 30000
#define ANN "service.beta.kubernetes.io/"

extern const struct lbp_provider lbp_provider_azure;

static struct ctl_env env; /* the fake API server and the controller (ctl_env.h's CHECK) */
static struct fake_azure g_az;
static bool g_az_up;

/* On every exit, a failed CHECK's too: fake-azure does not outlive the test. */
static void stop_fake_azure(void)
{
    if (g_az_up)
        fake_azure_stop(&g_az);
    g_az_up = false;
}

/* Orphan scans read both LBs every grace/2: kept rare until the orphan step. */
static const char *g_grace = "60s";

static void start_controller(void)
{
    /* A lease short enough that a controller started after a SIGKILL leads within seconds,
       long enough that a slow API server answer under load does not end the leadership. */
    const char *extra[] = {"--cluster-name",
                           CLUSTER,
                           "--orphan-grace-period",
                           g_grace,
                           "--leader-elect-lease-duration",
                           "6s",
                           "--leader-elect-renew-deadline",
                           "4s",
                           "--leader-elect-retry-period",
                           "500ms",
                           NULL};
    snprintf(env.cloud, sizeof(env.cloud), "azure");
    ctl_env_start_controller(&env, extra);
}

static json_object *api_get(const char *path)
{
    json_object *o = NULL;
    if (ctl_api(&env, "GET", path, NULL, &o) != 200) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static void node(int i)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%d\"},"
             "\"spec\":{\"providerID\":\"azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION
             "/resourceGroups/" RG "/providers/Microsoft.Compute/virtualMachines/node-%d\"},"
             "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.224.0.%d\"}],"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
             i, i, i + 4);
    CHECK(ctl_api(&env, "POST", "/api/v1/nodes", body, NULL) == 201);
}

static void service(const char *name, const char *annotations, const char *spec_extra)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"annotations\":{%s}},\"spec\":{\"type\":"
             "\"LoadBalancer\",\"selector\":{\"app\":\"%s\"},%s\"ports\":["
             "{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080},"
             "{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":8443}]}}",
             name, annotations, name, spec_extra ? spec_extra : "");
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services", body, NULL) == 201);
}

static void svc_delete(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    CHECK(ctl_api(&env, "DELETE", path, NULL, NULL) == 200);
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
    code = ctl_api(&env, "PUT", path, json_object_to_json_string(o), NULL);
    CHECK(code == 200);
}

static size_t alen(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

/* The Service's "a<uid32>". */
static void owner_of(const char *name, char out[LBP_LB_NAME_LEN + 1])
{
    json_object *s = svc_get(name);
    lbp_lb_name(jstr(jget(s, "metadata"), "uid"), out);
    json_object_put(s);
}

static void ingress(const char *name, char *out, size_t cap)
{
    json_object *s = svc_get(name), *ing;
    ing = jget(jget(jget(s, "status"), "loadBalancer"), "ingress");
    snprintf(out, cap, "%s", alen(ing) ? jstr(json_object_array_get_idx(ing, 0), "ip") : "");
    json_object_put(s);
}

/* ---- fake-azure's state ---- */

static json_object *g_state;

static json_object *state(void)
{
    json_object_put(g_state);
    g_state = fake_azure_json(&g_az, "/_fake/state");
    return g_state;
}

/* The resource whose id ends with "/<type>/<name>" (any case), from the last state(). */
static json_object *res(const char *type, const char *name)
{
    char tail[256];
    json_object *a = jget(g_state, "resources");
    size_t tl;
    snprintf(tail, sizeof(tail), "/%s/%s", type, name);
    tl = strlen(tail);
    for (size_t i = 0; i < alen(a); i++) {
        json_object *r = json_object_array_get_idx(a, i);
        const char *id = jstr(r, "id");
        size_t n = strlen(id);
        if (n >= tl && strcasecmp(id + n - tl, tail) == 0)
            return r;
    }
    return NULL;
}

static json_object *lb(const char *name)
{
    state();
    return res("loadBalancers", name);
}

static json_object *props_arr(json_object *o, const char *k)
{
    return jget(jget(o, "properties"), k);
}

/* Items of arr named owner or owner-*. */
static int n_owned(json_object *arr, const char *owner)
{
    int n = 0;
    size_t l = strlen(owner);
    for (size_t i = 0; i < alen(arr); i++) {
        const char *nm = jstr(json_object_array_get_idx(arr, i), "name");
        n += strncmp(nm, owner, l) == 0 && (!nm[l] || nm[l] == '-');
    }
    return n;
}

static json_object *named(json_object *arr, const char *name)
{
    for (size_t i = 0; i < alen(arr); i++)
        if (strcmp(jstr(json_object_array_get_idx(arr, i), "name"), name) == 0)
            return json_object_array_get_idx(arr, i);
    return NULL;
}

struct cond {
    const char *svc;
    const char *lb;
    int want;
    const char *str;
    char owner[LBP_LB_NAME_LEN + 1];
};

/* The Service has an ingress IP and it is its frontend's address. */
static bool has_ingress(void *p)
{
    struct cond *c = p;
    char ip[64];
    ingress(c->svc, ip, sizeof(ip));
    return ip[0] != 0;
}

static bool rules_are(void *p)
{
    struct cond *c =
        p; /* want rules of owner on lb c->lb; str: a rule name suffix that must exist */
    json_object *l = lb(c->lb);
    char name[128];
    if (!l || n_owned(props_arr(l, "loadBalancingRules"), c->owner) != c->want)
        return false;
    snprintf(name, sizeof(name), "%s-%s", c->owner, c->str ? c->str : "TCP-443");
    return named(props_arr(l, "loadBalancingRules"), name) != NULL;
}

/* The LB's pool holds want NIC ip configurations, and want NICs list it. */
static bool pool_is(void *p)
{
    struct cond *c = p;
    json_object *l = lb(c->lb), *pool, *nics = jget(g_state, "resources");
    int on_nics = 0;
    pool = named(props_arr(l, "backendAddressPools"), CLUSTER);
    if (!pool || (int)alen(props_arr(pool, "backendIPConfigurations")) != c->want)
        return false;
    for (size_t i = 0; i < alen(nics); i++) {
        json_object *n = json_object_array_get_idx(nics, i), *cfgs;
        if (!strstr(jstr(n, "type"), "networkInterfaces"))
            continue;
        cfgs = props_arr(n, "ipConfigurations");
        for (size_t j = 0; j < alen(cfgs); j++) {
            json_object *pools =
                props_arr(json_object_array_get_idx(cfgs, j), "loadBalancerBackendAddressPools");
            for (size_t k = 0; k < alen(pools); k++)
                on_nics += strcasecmp(jstr(json_object_array_get_idx(pools, k), "id"),
                                      jstr(pool, "id")) == 0;
        }
    }
    return on_nics == c->want;
}

/* want security rules of owner, each from source c->str (NULL: any) to the Service's IP. */
static bool nsg_rules(void *p)
{
    struct cond *c = p;
    json_object *nsg, *rules;
    char ip[64];
    int n = 0;
    ingress(c->svc, ip, sizeof(ip));
    state();
    nsg = res("networkSecurityGroups", "lbprov-nsg");
    rules = props_arr(nsg, "securityRules");
    for (size_t i = 0; i < alen(rules); i++) {
        json_object *r = json_object_array_get_idx(rules, i), *rp = jget(r, "properties");
        if (strncmp(jstr(r, "name"), c->owner, strlen(c->owner)) != 0)
            continue;
        if (strcmp(jstr(rp, "destinationAddressPrefix"), ip) != 0)
            return false;
        if (c->str && strcmp(jstr(rp, "sourceAddressPrefix"), c->str) != 0)
            return false;
        n++;
    }
    return n == c->want;
}

static bool no_ops(void *p)
{
    (void)p;
    return json_object_get_int(jget(state(), "pending_operations")) == 0;
}

/*
 * Until ARM has no operation running, and a moment more for the controller
 * to see the last one end: the next step then starts from objects at rest,
 * so the calls and states it checks are its own and not the tail of the
 * step before.
 */
static void settle(void)
{
    CHECK(lbp_test_poll(no_ops, NULL, WAIT_MS));
    sleep(2);
}

static bool nsg_has(void *p)
{
    struct cond *c = p; /* a security rule owner-<c->str> */
    char name[128];
    snprintf(name, sizeof(name), "%s-%s", c->owner, c->str);
    state();
    return named(props_arr(res("networkSecurityGroups", "lbprov-nsg"), "securityRules"), name) !=
           NULL;
}

static bool probes_local(void *p)
{
    struct cond *c = p; /* want: healthCheckNodePort */
    json_object *l = lb(c->lb), *probes = props_arr(l, "probes");
    int n = 0;
    for (size_t i = 0; i < alen(probes); i++) {
        json_object *pr = json_object_array_get_idx(probes, i), *pp = jget(pr, "properties");
        if (strncmp(jstr(pr, "name"), c->owner, strlen(c->owner)) != 0)
            continue;
        if (strcmp(jstr(pp, "protocol"), "Http") ||
            json_object_get_int(jget(pp, "port")) != c->want ||
            strcmp(jstr(pp, "requestPath"), "/healthz"))
            return false;
        n++;
    }
    return n == 2;
}

static bool svc_gone(void *p)
{
    struct cond *c = p;
    json_object *s = svc_get(c->svc);
    json_object_put(s);
    return s == NULL;
}

static bool lb_gone(void *p)
{
    struct cond *c = p;
    return lb(c->lb) == NULL;
}

static bool frontend_gone(void *p)
{
    struct cond *c = p;
    json_object *l = lb(c->lb);
    return !l || n_owned(props_arr(l, "frontendIPConfigurations"), c->owner) == 0;
}

static bool pip_gone(void *p)
{
    struct cond *c = p;
    state();
    return res("publicIPAddresses", c->str) == NULL;
}

/* Warning Events for the Service, and the last one's message. */
static int warnings(const char *name, char *msg, size_t cap)
{
    json_object *ev = api_get("/api/v1/namespaces/default/events"), *items = jget(ev, "items");
    int n = 0;
    for (size_t i = 0; i < alen(items); i++) {
        json_object *e = json_object_array_get_idx(items, i);
        if (strcmp(jstr(e, "type"), "Warning") ||
            strcmp(jstr(jget(e, "involvedObject"), "name"), name))
            continue;
        n += jget(e, "count") ? json_object_get_int(jget(e, "count")) : 1;
        snprintf(msg, cap, "%s", jstr(e, "message"));
    }
    json_object_put(ev);
    return n;
}

static bool has_warning(void *p)
{
    struct cond *c = p;
    char m[512] = "";
    return warnings(c->svc, m, sizeof(m)) > 0;
}

/* The Service's public IPs (tagged for it). */
static int pips_of(const char *svc)
{
    json_object *a;
    char want[128];
    int n = 0;
    snprintf(want, sizeof(want), "default/%s", svc);
    state();
    a = jget(g_state, "resources");
    for (size_t i = 0; i < alen(a); i++) {
        json_object *r = json_object_array_get_idx(a, i);
        if (strstr(jstr(r, "type"), "publicIPAddresses") &&
            strcmp(jstr(jget(r, "tags"), "k8s-azure-service"), want) == 0)
            n++;
    }
    return n;
}

static bool op_running(void *p)
{
    (void)p;
    return json_object_get_int(jget(state(), "pending_operations")) > 0 &&
           fake_azure_calls(&g_az, "PUT loadBalancers") > 0;
}

/* Sets the Service's first port, again if the API server answers 409 (a status write won). */
static void set_port(const char *name, int port)
{
    char path[256];
    long code = 0;
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    for (int i = 0; i < 10 && code != 200; i++) {
        json_object *s = svc_get(name);
        CHECK(s != NULL);
        json_object_object_add(json_object_array_get_idx(jget(jget(s, "spec"), "ports"), 0), "port",
                               json_object_new_int(port));
        code = ctl_api(&env, "PUT", path, json_object_to_json_string(s), NULL);
        json_object_put(s);
    }
    CHECK(code == 200);
}

static void write_config(void)
{
    FILE *f;
    snprintf(env.cloud_conf, sizeof(env.cloud_conf), "%s/azure.json", env.api.dir);
    f = fopen(env.cloud_conf, "w");
    CHECK(f != NULL);
    fprintf(f,
            "{\"cloud\":\"AzurePublicCloud\",\"tenantId\":\"" FAKE_AZURE_TENANT "\","
            "\"subscriptionId\":\"" FAKE_AZURE_SUBSCRIPTION "\",\"resourceGroup\":\"" RG "\","
            "\"location\":\"eastus\",\"vnetName\":\"lbprov-vnet\",\"subnetName\":"
            "\"lbprov-subnet\",\"securityGroupName\":\"lbprov-nsg\",\"loadBalancerSku\":"
            "\"standard\",\"aadClientId\":\"" FAKE_AZURE_CLIENT_ID
            "\",\"aadClientSecret\":\"" FAKE_AZURE_CLIENT_SECRET "\",\"useInstanceMetadata\":true,"
            "\"resourceManagerEndpoint\":\"%s\",\"activeDirectoryEndpoint\":\"%s\"}\n",
            g_az.proc.url, g_az.proc.url);
    fclose(f);
}

int main(void)
{
    struct cond c = {.lb = CLUSTER};
    const char *fargs[] = {"--nodes", "7", "--op-polls", "1", "--op-ms", "4000", NULL};
    char web_ip[64], owner_web[LBP_LB_NAME_LEN + 1];
    json_object *s;

    ctl_env_init(&env, NULL);
    atexit(stop_fake_azure);
    CHECK(fake_azure_start(&g_az, fargs) == 0);
    g_az_up = true;
    write_config();
    for (int i = 0; i < 5; i++)
        node(i);
    start_controller();

    /* A public Service: public IP, frontend, rules, probes, pool on 5 NICs, NSG rules. */
    service("web", "", NULL);
    c.svc = "web";
    CHECK(lbp_test_poll(has_ingress, &c, WAIT_MS));
    owner_of("web", c.owner);
    snprintf(owner_web, sizeof(owner_web), "%s", c.owner);
    ingress("web", web_ip, sizeof(web_ip));
    {
        char pip[128];
        json_object *l = lb(CLUSTER), *p, *probe;
        snprintf(pip, sizeof(pip), CLUSTER "-%s", c.owner);
        p = res("publicIPAddresses", pip);
        CHECK(p != NULL);
        CHECK(strcmp(jstr(jget(p, "properties"), "ipAddress"), web_ip) == 0);
        CHECK(strcmp(jstr(jget(p, "sku"), "name"), "Standard") == 0);
        CHECK(strcmp(jstr(jget(p, "tags"), "k8s-azure-service"), "default/web") == 0);
        CHECK(strcmp(jstr(jget(l, "sku"), "name"), "Standard") == 0);
        CHECK(n_owned(props_arr(l, "frontendIPConfigurations"), c.owner) == 1);
        CHECK(n_owned(props_arr(l, "loadBalancingRules"), c.owner) == 2);
        CHECK(n_owned(props_arr(l, "probes"), c.owner) == 2);
        {
            char pn[128];
            snprintf(pn, sizeof(pn), "%s-TCP-80", c.owner);
            probe = named(props_arr(l, "probes"), pn);
            CHECK(probe && strcmp(jstr(jget(probe, "properties"), "protocol"), "Tcp") == 0);
            CHECK(json_object_get_int(jget(jget(probe, "properties"), "port")) >= 30000);
            probe = named(props_arr(l, "loadBalancingRules"), pn);
            CHECK(probe &&
                  json_object_get_boolean(jget(jget(probe, "properties"), "enableFloatingIP")));
        }
    }
    c.want = 5;
    CHECK(lbp_test_poll(pool_is, &c, WAIT_MS));
    c.want = 2;
    c.str = "Internet";
    CHECK(lbp_test_poll(nsg_rules, &c, WAIT_MS));

    /* Port change: 80 -> 8080. */
    s = svc_get("web");
    json_object_object_add(json_object_array_get_idx(jget(jget(s, "spec"), "ports"), 0), "port",
                           json_object_new_int(8080));
    svc_put("web", s);
    json_object_put(s);
    c.want = 2;
    c.str = "TCP-8080";
    CHECK(lbp_test_poll(rules_are, &c, WAIT_MS));
    c.str = "TCP-8080-Internet";
    CHECK(lbp_test_poll(nsg_has, &c, WAIT_MS));
    settle();

    /* Node added, node removed: the shared pool follows through the NICs. */
    node(5);
    c.want = 6;
    CHECK(lbp_test_poll(pool_is, &c, WAIT_MS));
    settle();
    CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/node-5", NULL, NULL) == 200);
    c.want = 5;
    CHECK(lbp_test_poll(pool_is, &c, WAIT_MS));

    /* Source ranges: the security rules admit only them. */
    s = svc_get("web");
    {
        json_object *r = json_object_new_array();
        json_object_array_add(r, json_object_new_string("198.51.100.0/24"));
        json_object_object_add(jget(s, "spec"), "loadBalancerSourceRanges", r);
    }
    svc_put("web", s);
    json_object_put(s);
    c.want = 2;
    c.str = "198.51.100.0/24";
    CHECK(lbp_test_poll(nsg_rules, &c, WAIT_MS));

    /* externalTrafficPolicy Local: HTTP /healthz on the health-check node port. */
    s = svc_get("web");
    json_object_object_add(jget(s, "spec"), "externalTrafficPolicy",
                           json_object_new_string("Local"));
    svc_put("web", s);
    json_object_put(s);
    s = svc_get("web");
    c.want = json_object_get_int(jget(jget(s, "spec"), "healthCheckNodePort"));
    json_object_put(s);
    CHECK(c.want > 0);
    CHECK(lbp_test_poll(probes_local, &c, WAIT_MS));

    /* An internal Service: a private frontend on <cluster>-internal. */
    {
        struct cond ic = {.svc = "inner", .lb = CLUSTER "-internal"};
        char ip[64];
        json_object *l, *fe;
        service("inner", "\"" ANN "azure-load-balancer-internal\":\"true\"", NULL);
        CHECK(lbp_test_poll(has_ingress, &ic, WAIT_MS));
        owner_of("inner", ic.owner);
        ingress("inner", ip, sizeof(ip));
        l = lb(CLUSTER "-internal");
        CHECK(l != NULL);
        fe = named(props_arr(l, "frontendIPConfigurations"), ic.owner);
        CHECK(fe && strcmp(jstr(jget(fe, "properties"), "privateIPAddress"), ip) == 0);
        CHECK(strncmp(ip, "10.224.", 7) == 0);
        CHECK(pips_of("inner") == 0);
        ic.want = 5;
        CHECK(lbp_test_poll(pool_is, &ic, WAIT_MS));
        /* the public LB was not touched by it */
        CHECK(n_owned(props_arr(lb(CLUSTER), "frontendIPConfigurations"), ic.owner) == 0);
    }

    /* A user's public IP named by annotation: used, and left alone on delete. */
    {
        char tok[8192], ip[64], path[512];
        struct fake_azure_resp r = {0};
        struct cond nc = {.svc = "named", .lb = CLUSTER, .str = "user-pip"};
        const char *hdr[2] = {NULL, NULL};
        char auth[8300];
        CHECK(fake_azure_token(&g_az, tok, sizeof(tok)) == 0);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
        hdr[0] = auth;
        snprintf(path, sizeof(path),
                 "/subscriptions/" FAKE_AZURE_SUBSCRIPTION "/resourceGroups/" RG
                 "/providers/Microsoft.Network/publicIPAddresses/user-pip?api-version=2024-01-01");
        CHECK(fake_azure_req(&g_az, "PUT", path, NULL,
                             "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},"
                             "\"properties\":{\"publicIPAllocationMethod\":\"Static\"}}",
                             hdr, &r) == 201);
        fake_azure_resp_free(&r);
        service("named", "\"" ANN "azure-pip-name\":\"user-pip\"", NULL);
        CHECK(lbp_test_poll(has_ingress, &nc, WAIT_MS));
        ingress("named", ip, sizeof(ip));
        state();
        CHECK(strcmp(jstr(jget(res("publicIPAddresses", "user-pip"), "properties"), "ipAddress"),
                     ip) == 0);
        owner_of("named", nc.owner);
        svc_delete("named");
        CHECK(lbp_test_poll(frontend_gone, &nc, WAIT_MS));
        CHECK(lbp_test_poll(svc_gone, &nc, WAIT_MS)); /* the finalizer: removal done */
        state();
        CHECK(res("publicIPAddresses", "user-pip") != NULL);
    }

    /* A second writer changes the LB between our GET and PUT: 412, re-read, re-apply. */
    {
        struct cond rc = {.svc = "race", .lb = CLUSTER, .want = 2, .str = "TCP-443"};
        json_object *l;
        CHECK(fake_azure_control(&g_az, "/_fake/counters/reset", "{}") == 200);
        CHECK(fake_azure_control(&g_az, "/_fake/faults", "{\"conflicts\":5}") == 200);
        service("race", "", NULL);
        CHECK(lbp_test_poll(has_ingress, &rc, WAIT_MS));
        owner_of("race", rc.owner);
        CHECK(lbp_test_poll(rules_are, &rc, WAIT_MS));
        /* get, the internal LB and the public one are read before the first PUT: the
           last two of the five conflicting writes land between our GET and PUT */
        CHECK(fake_azure_statuses(&g_az, 412) >= 1);
        CHECK(fake_azure_calls(&g_az, "PUT loadBalancers") >= 2);
        l = lb(CLUSTER);
        /* the other writer's change survived, and so did web's part */
        CHECK(jget(jget(l, "tags"), "fake-azure-other-writer") != NULL);
        CHECK(n_owned(props_arr(l, "loadBalancingRules"), owner_web) == 2);
    }

    /*
     * Starvation under churn: web's port changes every 300 ms, so a new PUT of
     * the shared LB (carrying web's next rules) is always running, and each
     * operation ends while web's next part already waits. "steady" must get
     * its address once the LB shows its part Succeeded, even though no
     * moment comes when no write of that LB runs.
     */
    {
        struct cond sc = {.svc = "steady", .lb = CLUSTER, .want = 2, .str = "TCP-443"};
        uint64_t deadline;
        int port = 9000;
        bool got = false;
        settle();
        service("steady", "", NULL);
        owner_of("steady", sc.owner);
        deadline = lbp_now_ms() + 20000;
        while (!got && lbp_now_ms() < deadline) {
            set_port("web", port++);
            usleep(300000);
            got = has_ingress(&sc);
        }
        if (!got)
            fprintf(stderr, "steady: no address after %d port changes of web\n", port - 9000);
        CHECK(got);
        /* the address is the LB's: steady's part is in it, served by its public IP */
        CHECK(rules_are(&sc));
        svc_delete("steady");
        CHECK(lbp_test_poll(frontend_gone, &sc, WAIT_MS));
        CHECK(lbp_test_poll(svc_gone, &sc, WAIT_MS));
        settle();
    }

    /* Bad input: one Warning Event each, naming what is wrong; nothing made. */
    {
        static const struct {
            const char *svc, *annotations, *says;
        } bad[] = {
            {"bad-idle", "\"" ANN "azure-load-balancer-tcp-idle-timeout\":\"2\"",
             "azure-load-balancer-tcp-idle-timeout"},
            {"bad-idle-hi", "\"" ANN "azure-load-balancer-tcp-idle-timeout\":\"101\"",
             "azure-load-balancer-tcp-idle-timeout"},
            {"bad-pip", "\"" ANN "azure-pip-name\":\"-bad\"", "azure-pip-name"},
            {"bad-probe", "\"" ANN "azure-load-balancer-health-probe-protocol\":\"Smtp\"",
             "azure-load-balancer-health-probe-protocol"},
            {"bad-subnet",
             "\"" ANN "azure-load-balancer-internal\":\"true\",\"" ANN
             "azure-load-balancer-internal-subnet\":\"no-such-subnet\"",
             "no-such-subnet"},
        };
        const size_t n = sizeof(bad) / sizeof(bad[0]);
        for (size_t i = 0; i < n; i++)
            service(bad[i].svc, bad[i].annotations, NULL);
        for (size_t i = 0; i < n; i++) {
            struct cond bc = {.svc = bad[i].svc};
            CHECK(lbp_test_poll(has_warning, &bc, WAIT_MS));
        }
        sleep(3);
        /* A node joins: every Service is synced again, these too; bad input is still bad,
           and said once. */
        node(6);
        sleep(3);
        CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/node-6", NULL, NULL) == 200);
        for (size_t i = 0; i < n; i++) {
            char msg[512] = "", owner[LBP_LB_NAME_LEN + 1];
            int nw = warnings(bad[i].svc, msg, sizeof(msg));
            if (nw != 1 || !strstr(msg, bad[i].says))
                fprintf(stderr, "%s: %d warnings, last: %s\n", bad[i].svc, nw, msg);
            CHECK(nw == 1);
            CHECK(strstr(msg, bad[i].says) != NULL);
            CHECK(pips_of(bad[i].svc) == 0);
            owner_of(bad[i].svc, owner);
            CHECK(n_owned(props_arr(lb(CLUSTER), "frontendIPConfigurations"), owner) == 0);
            CHECK(n_owned(props_arr(lb(CLUSTER "-internal"), "frontendIPConfigurations"), owner) ==
                  0);
        }
        for (size_t i = 0; i < n; i++)
            svc_delete(bad[i].svc);
        for (size_t i = 0; i < n; i++) {
            struct cond bc = {.svc = bad[i].svc};
            CHECK(lbp_test_poll(svc_gone, &bc, WAIT_MS));
        }
    }

    /*
     * Killed while ARM still runs its operations, a restart: the Service
     * converges from ARM's state, with one public IP, not two.
     */
    {
        struct cond mc = {.svc = "mid", .lb = CLUSTER, .want = 2, .str = "TCP-443"};
        CHECK(fake_azure_control(&g_az, "/_fake/config", "{\"op_polls\":50}") == 200);
        CHECK(fake_azure_control(&g_az, "/_fake/counters/reset", "{}") == 200);
        service("mid", "", NULL);
        CHECK(lbp_test_poll(op_running, NULL, WAIT_MS));
        lbp_test_stop(env.ctl, SIGKILL, 2000);
        env.ctl = 0;
        CHECK(!has_ingress(&mc));
        CHECK(fake_azure_control(&g_az, "/_fake/config", "{\"op_polls\":1}") == 200);
        start_controller();
        CHECK(lbp_test_poll(has_ingress, &mc, WAIT_MS));
        owner_of("mid", mc.owner);
        CHECK(lbp_test_poll(rules_are, &mc, WAIT_MS));
        CHECK(pips_of("mid") == 1);
    }

    /* Deletes: parts go one by one; the LB goes with its last frontend. */
    {
        struct cond dc = {.lb = CLUSTER};
        char pip[128];
        snprintf(pip, sizeof(pip), CLUSTER "-%s", owner_web);
        svc_delete("web");
        snprintf(dc.owner, sizeof(dc.owner), "%s", owner_web);
        CHECK(lbp_test_poll(frontend_gone, &dc, WAIT_MS));
        dc.str = pip;
        CHECK(lbp_test_poll(pip_gone, &dc, WAIT_MS));
        CHECK(lb(CLUSTER) != NULL); /* race and mid are still on it */
        svc_delete("race");
        svc_delete("mid");
        svc_delete("inner");
        CHECK(lbp_test_poll(lb_gone, &dc, WAIT_MS));
        dc.lb = CLUSTER "-internal";
        CHECK(lbp_test_poll(lb_gone, &dc, WAIT_MS));
        for (int i = 0; i < 3; i++) { /* removal done: finalizers off, Services gone */
            dc.svc = (const char *[]){"race", "mid", "inner"}[i];
            CHECK(lbp_test_poll(svc_gone, &dc, WAIT_MS));
        }
        /* no security rule of ours is left, no NIC still lists a pool */
        {
            json_object *nsg, *a;
            int left = 0;
            state();
            nsg = res("networkSecurityGroups", "lbprov-nsg");
            CHECK(alen(props_arr(nsg, "securityRules")) == 0);
            a = jget(g_state, "resources");
            for (size_t i = 0; i < alen(a); i++) {
                json_object *r = json_object_array_get_idx(a, i), *cfgs;
                if (!strstr(jstr(r, "type"), "networkInterfaces"))
                    continue;
                cfgs = props_arr(r, "ipConfigurations");
                for (size_t j = 0; j < alen(cfgs); j++)
                    left += (int)alen(props_arr(json_object_array_get_idx(cfgs, j),
                                                "loadBalancerBackendAddressPools"));
            }
            CHECK(left == 0);
        }
        /* only the user's own public IP is left of what clients made */
        CHECK(fake_azure_objects(&g_az) == 1);
    }

    /* An orphan: a frontend made for a Service that does not exist. */
    {
        struct lbp_provider_ctx *pctx = NULL;
        struct lbp_lb_port ports[1] = {{"p", "TCP", 80, 31000}};
        struct lbp_lb_node nodes[1] = {{"node-1",
                                        "azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION
                                        "/resourceGroups/" RG
                                        "/providers/Microsoft.Compute/virtualMachines/node-1",
                                        "10.224.0.5", NULL, NULL, 0}};
        struct lbp_lb_spec sp = {.cluster_name = CLUSTER,
                                 .namespace = "default",
                                 .name = "ghost",
                                 .uid = "0badc0de-0000-4000-8000-000000000001",
                                 .ports = ports,
                                 .n_ports = 1,
                                 .nodes = nodes,
                                 .n_nodes = 1};
        struct lbp_lb_status st;
        struct cond oc = {.lb = CLUSTER};
        char err[256] = "";
        int rc = LBP_PENDING;
        lbp_lb_name(sp.uid, sp.lb_name);
        CHECK(lbp_provider_azure.init(env.cloud_conf, CLUSTER, &pctx, err, sizeof(err)) == LBP_OK);
        for (int i = 0; i < 60 && rc == LBP_PENDING; i++) {
            struct lbp_call call = {0};
            rc = lbp_provider_azure.ensure(pctx, &sp, &st, &call);
            if (rc == LBP_PENDING)
                usleep(300000);
        }
        lbp_provider_azure.cleanup(pctx);
        lbp_http_thread_cleanup();
        CHECK(rc == LBP_OK);
        snprintf(oc.owner, sizeof(oc.owner), "%s", sp.lb_name);
        CHECK(!frontend_gone(&oc));
        lbp_test_stop(env.ctl, SIGTERM, 5000);
        env.ctl = 0;
        g_grace = "1s";
        start_controller();
        CHECK(lbp_test_poll(lb_gone, &oc, WAIT_MS));
        {
            char pip[128];
            snprintf(pip, sizeof(pip), CLUSTER "-%s", sp.lb_name);
            oc.str = pip;
            CHECK(lbp_test_poll(pip_gone, &oc, WAIT_MS));
        }
    }

    CHECK(ctl_env_stop(&env) == 0);
    json_object_put(g_state);
    g_az_up = false;
    CHECK(fake_azure_stop(&g_az) == 0);
    printf("ok\n");
    return 0;
}
