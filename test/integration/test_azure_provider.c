/*
 * test_azure_provider.c — lbp_provider_azure's vtable driven in-process
 * against fake-azure (a separate process), for what needs calls to overlap
 * in a known order, which a controller run cannot arrange.
 *
 * The IP-based backend pool (loadBalancerBackendPoolConfigurationType
 * nodeIP) is one list per load balancer that every Service's call may set.
 * An ensure that began with the old node set and was held up (here: a 429
 * with a Retry-After of seconds on its first ARM call) must not put the old
 * set back after an update_targets that began later wrote the new one.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/azure/fake_azure_client.h"

#define CLUSTER "pc"
#define RG "lbprov-rg"

extern const struct lbp_provider lbp_provider_azure;
static const struct lbp_provider *P = &lbp_provider_azure;

static struct fake_azure g_az;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            fake_azure_stop(&g_az);                                                                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define VM                                                                                         \
    "azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION "/resourceGroups/" RG                        \
    "/providers/Microsoft.Compute/virtualMachines/node-"

static const struct lbp_lb_node NODES[3] = {
    {"node-0", VM "0", "10.224.0.4", NULL, NULL, 0},
    {"node-1", VM "1", "10.224.0.5", NULL, NULL, 0},
    {"node-2", VM "2", "10.224.0.6", NULL, NULL, 0},
};
static const struct lbp_lb_port PORTS[1] = {{"http", "TCP", 80, 30080}};

static void spec_of(struct lbp_lb_spec *sp, size_t n_nodes)
{
    memset(sp, 0, sizeof(*sp));
    sp->cluster_name = CLUSTER;
    sp->namespace = "default";
    sp->name = "web";
    sp->uid = "5eed0000-0000-4000-8000-000000000001";
    sp->ports = PORTS;
    sp->n_ports = 1;
    sp->nodes = NODES;
    sp->n_nodes = n_nodes;
    lbp_lb_name(sp->uid, sp->lb_name);
}

static struct lbp_provider_ctx *g_ctx;

static int ensure_ok(const struct lbp_lb_spec *sp)
{
    int rc = LBP_PENDING;
    for (int i = 0; i < 60 && rc == LBP_PENDING; i++) {
        struct lbp_call call = {0};
        struct lbp_lb_status st;
        rc = P->ensure(g_ctx, sp, &st, &call);
        if (rc == LBP_PENDING)
            usleep(300000);
    }
    return rc;
}

static int update_ok(const struct lbp_lb_spec *sp)
{
    int rc = LBP_PENDING;
    for (int i = 0; i < 60 && rc == LBP_PENDING; i++) {
        struct lbp_call call = {0};
        rc = P->update_targets(g_ctx, sp, &call);
        if (rc == LBP_PENDING)
            usleep(300000);
    }
    return rc;
}

/* The addresses in the shared LB's pool, as ARM holds them (-1: no LB or pool). */
static int pool_addresses(void)
{
    json_object *st = fake_azure_json(&g_az, "/_fake/state"), *a, *v;
    int n = -1;
    CHECK(st != NULL);
    json_object_object_get_ex(st, "resources", &a);
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *r = json_object_array_get_idx(a, i), *pools;
        const char *id = json_object_object_get_ex(r, "id", &v) ? json_object_get_string(v) : "";
        size_t l = strlen(id);
        if (l < strlen("/loadBalancers/" CLUSTER) ||
            strcasecmp(id + l - strlen("/loadBalancers/" CLUSTER), "/loadBalancers/" CLUSTER))
            continue;
        if (!json_object_object_get_ex(r, "properties", &v) ||
            !json_object_object_get_ex(v, "backendAddressPools", &pools))
            break;
        for (size_t j = 0; j < json_object_array_length(pools); j++) {
            json_object *p = json_object_array_get_idx(pools, j), *addrs;
            if (json_object_object_get_ex(p, "properties", &v) &&
                json_object_object_get_ex(v, "loadBalancerBackendAddresses", &addrs))
                n = (int)json_object_array_length(addrs);
        }
    }
    json_object_put(st);
    return n;
}

struct late {
    struct lbp_lb_spec spec;
    int rc;
};

/* One ensure call with the old node set (the reconciler asks again with a new spec). */
static void *late_ensure(void *p)
{
    struct late *l = p;
    struct lbp_call call = {0};
    struct lbp_lb_status st;
    l->rc = P->ensure(g_ctx, &l->spec, &st, &call);
    lbp_http_thread_cleanup();
    return NULL;
}

int main(void)
{
    const char *fargs[] = {"--nodes", "3", "--op-polls", "0", NULL};
    char cfg[400], err[256] = "";
    struct lbp_lb_spec two, three;
    struct late late;
    pthread_t th;
    FILE *f;

    CHECK(fake_azure_start(&g_az, fargs) == 0);
    snprintf(cfg, sizeof(cfg), "%s/azure.json", g_az.proc.dir);
    f = fopen(cfg, "w");
    CHECK(f != NULL);
    fprintf(f,
            "{\"tenantId\":\"" FAKE_AZURE_TENANT "\",\"subscriptionId\":\"" FAKE_AZURE_SUBSCRIPTION
            "\",\"resourceGroup\":\"" RG "\",\"location\":\"eastus\",\"vnetName\":"
            "\"lbprov-vnet\",\"subnetName\":\"lbprov-subnet\",\"securityGroupName\":"
            "\"lbprov-nsg\",\"aadClientId\":\"" FAKE_AZURE_CLIENT_ID
            "\",\"aadClientSecret\":\"" FAKE_AZURE_CLIENT_SECRET
            "\",\"loadBalancerBackendPoolConfigurationType\":\"nodeIP\","
            "\"resourceManagerEndpoint\":\"%s\",\"activeDirectoryEndpoint\":\"%s\"}\n",
            g_az.proc.url, g_az.proc.url);
    fclose(f);
    CHECK(P->init(cfg, CLUSTER, &g_ctx, err, sizeof(err)) == LBP_OK);

    spec_of(&two, 2);
    spec_of(&three, 3);
    CHECK(ensure_ok(&two) == LBP_OK);
    CHECK(pool_addresses() == 2);

    /* An ensure with the old set begins; its first ARM call is throttled for 3 s. */
    CHECK(fake_azure_control(&g_az, "/_fake/faults", "{\"throttle\":1,\"retry_after_s\":3}") ==
          200);
    late.spec = two;
    late.rc = -1;
    CHECK(pthread_create(&th, NULL, late_ensure, &late) == 0);
    for (int i = 0; i < 200 && fake_azure_statuses(&g_az, 429) < 1; i++)
        usleep(10000);
    CHECK(fake_azure_statuses(&g_az, 429) == 1);
    /* Meanwhile a node joins: update_targets writes the pool with three. */
    CHECK(update_ok(&three) == LBP_OK);
    CHECK(pool_addresses() == 3);
    pthread_join(th, NULL);
    CHECK(late.rc == LBP_OK || late.rc == LBP_PENDING);
    /* ARM shows a PUT's body at once: had the late call written, it would show here. */
    if (pool_addresses() != 3)
        fprintf(stderr, "the late ensure put the old node set back: %d addresses\n",
                pool_addresses());
    CHECK(pool_addresses() == 3);

    /* A node leaves: the next update_targets writes two. */
    CHECK(update_ok(&two) == LBP_OK);
    CHECK(pool_addresses() == 2);

    { /* removal may answer PENDING: run it out */
        int rc = LBP_PENDING;
        for (int i = 0; i < 60 && rc == LBP_PENDING; i++) {
            struct lbp_call call = {0};
            rc = P->remove(g_ctx, &two, &call);
            if (rc == LBP_PENDING)
                usleep(300000);
        }
        CHECK(rc == LBP_OK || rc == LBP_NOT_FOUND);
    }
    CHECK(pool_addresses() == -1);
    P->cleanup(g_ctx);
    lbp_http_thread_cleanup();
    CHECK(fake_azure_objects(&g_az) == 0);
    CHECK(fake_azure_stop(&g_az) == 0);
    printf("ok\n");
    return 0;
}
