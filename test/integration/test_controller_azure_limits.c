/*
 * test_controller_azure_limits.c — `lbprov controller --cloud azure`
 * against fake-azure with Azure's hard limits made small, each at its turn
 * (/_fake/config): frontends per load balancer, rules per NIC ip
 * configuration, security rules per group.
 *
 * Per limit: Services that fit get their addresses; the one past the limit
 * gets a Warning Event naming the limit, no status, and is retried with the
 * reconciler's backoff (the refusals come 1 s, then 2 s apart), not in a
 * loop; it keeps the one public IP made for it (reused, never a second);
 * the Services already there keep working (a port change goes through);
 * any Service's removal asks it again at once (the log says so); and once
 * a Service that held the room is deleted it fits. At the end every
 * Service is deleted and nothing lbprov made is left in fake-azure.
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/util.h"
#include "provider/provider.h"
#include "test/fakes/azure/fake_azure_client.h"
#include "test/integration/ctl_env.h"

#define CLUSTER "lc"
#define RG "lbprov-rg"
#define WAIT_MS 30000
#define ANN "service.beta.kubernetes.io/"
#define REASON "SyncLoadBalancerFailed"

static struct ctl_env env;
static struct fake_azure g_az;
static bool g_az_up;
static json_object *g_state;

static void stop_fake_azure(void)
{
    if (g_az_up)
        fake_azure_stop(&g_az);
    g_az_up = false;
    json_object_put(g_state);
    g_state = NULL;
}

static size_t alen(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
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
            "\",\"aadClientSecret\":\"" FAKE_AZURE_CLIENT_SECRET "\","
            "\"resourceManagerEndpoint\":\"%s\",\"activeDirectoryEndpoint\":\"%s\"}\n",
            g_az.proc.url, g_az.proc.url);
    fclose(f);
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

/* A Service with ports 80 and 443 (two LB rules, two security rules). */
static void service(const char *name, const char *annotations)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"annotations\":{%s}},\"spec\":{\"type\":"
             "\"LoadBalancer\",\"selector\":{\"app\":\"%s\"},\"ports\":["
             "{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080},"
             "{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":8443}]}}",
             name, annotations, name);
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services", body, NULL) == 201);
}

static void svc_delete(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    CHECK(ctl_api(&env, "DELETE", path, NULL, NULL) == 200);
}

static bool svc_gone(void *p)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", (const char *)p);
    return ctl_api(&env, "GET", path, NULL, NULL) == 404;
}

static bool has_ingress(void *p)
{
    return ctl_has_ingress(&env, p);
}

/* The Service's "a<uid32>". */
static void owner_of(const char *name, char out[LBP_LB_NAME_LEN + 1])
{
    ctl_lb_name_of(&env, name, out);
}

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

/* Items named owner or owner-* in the resource's properties.<arr>. */
static int n_owned(json_object *r, const char *arr, const char *owner)
{
    json_object *a = jget(jget(r, "properties"), arr);
    size_t l = strlen(owner);
    int n = 0;
    for (size_t i = 0; i < alen(a); i++) {
        const char *nm = jstr(json_object_array_get_idx(a, i), "name");
        n += strncmp(nm, owner, l) == 0 && (!nm[l] || nm[l] == '-');
    }
    return n;
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

struct refusal {
    const char *svc;
    int want; /* Warning Events at least */
};

static bool refused(void *p)
{
    struct refusal *f = p;
    return ctl_events(&env, f->svc, REASON, NULL, 0) >= f->want;
}

static bool frontend_port(void *p)
{
    const char *owner = p; /* owner-TCP-8080 on the public LB */
    char name[128];
    json_object *rules;
    snprintf(name, sizeof(name), "%s-TCP-8080", owner);
    state();
    rules = jget(jget(res("loadBalancers", CLUSTER), "properties"), "loadBalancingRules");
    for (size_t i = 0; i < alen(rules); i++)
        if (strcmp(jstr(json_object_array_get_idx(rules, i), "name"), name) == 0)
            return true;
    return false;
}

static bool no_objects(void *p)
{
    (void)p;
    return fake_azure_objects(&g_az) == 0;
}

/* The log line the controller wrote for the refusal. */
static bool log_has(const char *needle)
{
    FILE *f = fopen(env.ctl_log, "r");
    char line[4096];
    bool hit = false;
    if (!f)
        return false;
    while (!hit && fgets(line, sizeof(line), f))
        hit = strstr(line, needle) != NULL;
    fclose(f);
    return hit;
}

static void limits(const char *json)
{
    CHECK(fake_azure_control(&g_az, "/_fake/config", json) == 200);
}

/*
 * `name` is past a limit: a Warning Event whose message holds each of
 * want[] (NULL-ended), no status, and three refusals spaced by the
 * backoff (1 s, then 2 s), each one refused PUT, not a loop.
 */
static void expect_refused(const char *name, const char *const *want)
{
    struct refusal f = {.svc = name, .want = 1};
    char msg[1024] = "";
    long put400;
    uint64_t t1;
    CHECK(lbp_test_poll(refused, &f, WAIT_MS));
    t1 = lbp_now_ms();
    put400 = fake_azure_statuses(&g_az, 400);
    CHECK(ctl_events(&env, name, REASON, msg, sizeof(msg)) >= 1);
    for (size_t i = 0; want[i]; i++)
        if (!strstr(msg, want[i])) {
            fprintf(stderr, "Event message lacks \"%s\": %s\n", want[i], msg);
            CHECK(false);
        }
    CHECK(log_has("Error syncing load balancer") && log_has(want[0]));
    CHECK(!ctl_has_ingress(&env, name));
    f.want = 3;
    CHECK(lbp_test_poll(refused, &f, WAIT_MS));
    /* Two more attempts: at least 1 s + 2 s of backoff, one refused PUT each. */
    CHECK(lbp_now_ms() - t1 >= 2000);
    CHECK(fake_azure_statuses(&g_az, 400) - put400 <= 3);
}

int main(void)
{
    const char *fargs[] = {"--nodes", "3", "--op-polls", "1", "--op-ms", "4000", NULL};
    const char *extra[] = {
        "--cluster-name", CLUSTER, "--backoff-base", "1s", "--backoff-max", "60s", NULL};
    char owner[LBP_LB_NAME_LEN + 1], pip[128];

    ctl_env_init(&env, NULL);
    atexit(stop_fake_azure);
    CHECK(fake_azure_start(&g_az, fargs) == 0);
    g_az_up = true;
    write_config();
    for (int i = 0; i < 3; i++)
        node(i);
    snprintf(env.cloud, sizeof(env.cloud), "azure");
    ctl_env_start_controller(&env, extra);

    /* 1. Two frontends per load balancer: a and b fit (z on the internal one), c does not. */
    limits("{\"max_lb_frontends\":2}");
    service("a", "");
    service("b", "");
    service("z", "\"" ANN "azure-load-balancer-internal\":\"true\"");
    CHECK(lbp_test_poll(has_ingress, "a", WAIT_MS));
    CHECK(lbp_test_poll(has_ingress, "b", WAIT_MS));
    CHECK(lbp_test_poll(has_ingress, "z", WAIT_MS));
    service("c", "");
    {
        const char *want[] = {"LoadBalancerFrontendIPConfigurationCountLimitReached",
                              "A load balancer cannot have more than 2 FrontendIPConfigurations.",
                              "load balancer " CLUSTER, "is at an Azure limit", NULL};
        expect_refused("c", want);
    }
    owner_of("c", owner);
    state();
    CHECK(n_owned(res("loadBalancers", CLUSTER), "frontendIPConfigurations", owner) == 0);
    /* The public IP made for it is kept for the next attempt, never made twice. */
    CHECK(pips_of("c") == 1);
    snprintf(pip, sizeof(pip), CLUSTER "-%s", owner);
    CHECK(res("publicIPAddresses", pip) != NULL);
    /* The others keep working: a's port change goes through. */
    {
        char a_owner[LBP_LB_NAME_LEN + 1];
        owner_of("a", a_owner);
        CHECK(ctl_svc_port(&env, "a", 80, 8080) == 200);
        CHECK(lbp_test_poll(frontend_port, a_owner, WAIT_MS));
    }
    /* z goes, from the other load balancer: c is asked again at once (it is marked as
       waiting for room), and is still refused. */
    CHECK(!log_has("Services waiting for room"));
    svc_delete("z");
    CHECK(lbp_test_poll(svc_gone, "z", WAIT_MS));
    CHECK(log_has("requeued 1 Services waiting for room"));
    CHECK(!ctl_has_ingress(&env, "c"));
    /* a goes: c fits, on the public IP it had. */
    svc_delete("a");
    CHECK(lbp_test_poll(has_ingress, "c", WAIT_MS));
    CHECK(lbp_test_poll(svc_gone, "a", WAIT_MS));
    CHECK(pips_of("c") == 1);
    CHECK(pips_of("a") == 0);
    state();
    CHECK(n_owned(res("loadBalancers", CLUSTER), "loadBalancingRules", owner) == 2);

    /* 2. Five rules per NIC ip configuration: b and c hold four on every node. */
    limits("{\"max_lb_frontends\":600,\"max_nic_rules\":5}");
    service("d", "");
    {
        const char *want[] = {"cannot have more than 5 NAT or load balancing rules combined",
                              "/networkInterfaces/node-", "is at an Azure limit", NULL};
        expect_refused("d", want);
    }
    CHECK(pips_of("d") == 1);
    svc_delete("c");
    CHECK(lbp_test_poll(has_ingress, "d", WAIT_MS));
    CHECK(lbp_test_poll(svc_gone, "c", WAIT_MS));
    CHECK(pips_of("d") == 1);
    CHECK(pips_of("c") == 0);

    /* 3. Four security rules in the group: b and d hold them; e (internal) waits. */
    limits("{\"max_nic_rules\":299,\"max_nsg_rules\":4}");
    service("e", "\"" ANN "azure-load-balancer-internal\":\"true\"");
    {
        const char *want[] = {"SecurityRuleCountLimitReached",
                              "A security group cannot have more than 4 security rules.",
                              "security group lbprov-nsg", NULL};
        expect_refused("e", want);
    }
    owner_of("e", owner);
    state();
    CHECK(n_owned(res("networkSecurityGroups", "lbprov-nsg"), "securityRules", owner) == 0);
    svc_delete("b");
    CHECK(lbp_test_poll(has_ingress, "e", WAIT_MS));
    state();
    CHECK(n_owned(res("networkSecurityGroups", "lbprov-nsg"), "securityRules", owner) == 2);

    /* Everything goes; nothing lbprov made is left. */
    limits("{\"max_nsg_rules\":1000}");
    svc_delete("d");
    svc_delete("e");
    CHECK(lbp_test_poll(svc_gone, "d", WAIT_MS));
    CHECK(lbp_test_poll(svc_gone, "e", WAIT_MS));
    CHECK(lbp_test_poll(no_objects, NULL, WAIT_MS));

    CHECK(ctl_env_stop(&env) == 0);
    stop_fake_azure();
    printf("ok\n");
    return 0;
}
