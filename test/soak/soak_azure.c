/*
 * soak_azure.c — fake-azure (test/fakes/azure) as the soak's cloud. Every
 * Service is a share of the cluster's one load balancer: a frontend
 * a<uid> on the public IP <cluster>-a<uid>, one rule a<uid>-TCP-<port>
 * (frontend port -> the shared pool of every node's NIC, probed on the
 * NodePort) and security rules a<uid>-TCP-<port>-<source> on the
 * cluster's NSG. The state comes from GET /_fake/state; rules, probes,
 * security rules and public IPs are owned by the frontend their name
 * starts with, and a load balancer left with no frontend is a leak of its
 * own (lbprov deletes it with its last Service). Faults: 5 % 500, 5 % 429
 * with Retry-After, 5 % of accepted writes whose reply is lost (writes are
 * few: Services share PUTs of the one load balancer); the
 * subscription's budgets are lifted, so only injected throttling slows it.
 */
#include "test/soak/soak.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "test/fakes/azure/fake_azure_client.h"

#define RG "lbprov-rg"

static struct fake_azure g_az;
static char g_cluster[64];

static int az_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    char nodes[16];
    const char *args[] = {"--nodes", nodes,  "--op-polls",     "1",
                          "--op-ms", "2000", "--public-range", SOAK_PUBLIC_RANGE,
                          NULL};
    FILE *f;
    (void)dir;
    snprintf(g_cluster, sizeof(g_cluster), "%s", cluster);
    snprintf(nodes, sizeof(nodes), "%d", n_nodes + 1); /* node-0 .. node-N: the soak's are 1..N */
    if (fake_azure_start(&g_az, args) != 0)
        return -1;
    if (!(f = fopen(cfg_path, "w")))
        return -1;
    /* A client-side limit well above the churn rate: throttling comes from the fake. */
    fprintf(f,
            "{\"cloud\":\"AzurePublicCloud\",\"tenantId\":\"" FAKE_AZURE_TENANT "\","
            "\"subscriptionId\":\"" FAKE_AZURE_SUBSCRIPTION "\",\"resourceGroup\":\"" RG "\","
            "\"location\":\"eastus\",\"vnetName\":\"lbprov-vnet\",\"subnetName\":"
            "\"lbprov-subnet\",\"securityGroupName\":\"lbprov-nsg\",\"loadBalancerSku\":"
            "\"standard\",\"aadClientId\":\"" FAKE_AZURE_CLIENT_ID
            "\",\"aadClientSecret\":\"" FAKE_AZURE_CLIENT_SECRET "\","
            "\"cloudProviderRateLimit\":true,\"cloudProviderRateLimitQPS\":500,"
            "\"cloudProviderRateLimitBucket\":500,"
            "\"resourceManagerEndpoint\":\"%s\",\"activeDirectoryEndpoint\":\"%s\"}\n",
            g_az.proc.url, g_az.proc.url);
    return fclose(f) == 0 ? 0 : -1;
}

static void az_stop(void)
{
    if (g_az.proc.pid > 0 && fake_azure_stop(&g_az) != 0)
        fprintf(stderr, "soak: fake-azure did not exit cleanly\n");
}

static void az_provider_id(int i, char *out, size_t cap)
{
    snprintf(out, cap,
             "azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION "/resourceGroups/" RG
             "/providers/Microsoft.Compute/virtualMachines/node-%d",
             i);
}

static void az_target_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "node-%d-nic", i);
}

static void az_changing(unsigned k, char *out, size_t cap)
{
    snprintf(out, cap, "\"service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout\":\"%u\"",
             4 + k % 20);
}

static int az_faults(bool on, unsigned seed)
{
    char body[300];
    (void)seed; /* the fake draws from OpenSSL's generator */
    snprintf(body, sizeof(body),
             "{\"error_rate\":%s,\"throttle_rate\":%s,\"lost_reply_rate\":%s,"
             "\"retry_after_s\":1,\"reads_budget\":100000000,\"writes_budget\":100000000,"
             "\"deletes_budget\":100000000}",
             on ? "0.05" : "0", on ? "0.05" : "0", on ? "0.05" : "0");
    return fake_azure_control(&g_az, "/_fake/faults", body) == 200 ? 0 : -1;
}

static json_object *props(json_object *o, const char *k)
{
    return soak_jget(soak_jget(o, "properties"), k);
}

/* The segment after "/<kind>/" in an ARM id ("" when absent), into out. */
static const char *id_part(const char *id, const char *kind, char *out, size_t cap)
{
    char needle[64];
    const char *p, *end;
    snprintf(needle, sizeof(needle), "/%s/", kind);
    p = strcasestr(id, needle);
    out[0] = 0;
    if (!p)
        return out;
    p += strlen(needle);
    end = strchr(p, '/');
    snprintf(out, cap, "%.*s", (int)(end ? (size_t)(end - p) : strlen(p)), p);
    return out;
}

/* An item's owner: its name up to the first '-' ("a<uid>-TCP-80" -> "a<uid>"). */
static void owner_of(const char *name, char *out, size_t cap)
{
    const char *dash = strchr(name, '-');
    snprintf(out, cap, "%.*s", (int)(dash ? (size_t)(dash - name) : strlen(name)), name);
}

static json_object *by_id(json_object *arr, const char *id)
{
    for (size_t i = 0; i < soak_jlen(arr); i++)
        if (!strcasecmp(soak_jstr(json_object_array_get_idx(arr, i), "id"), id))
            return json_object_array_get_idx(arr, i);
    return NULL;
}

/* One frontend of a load balancer: its Service's LB, listeners and sources. */
static int frontend(json_object *all, json_object *nsg, json_object *lbo, json_object *fe,
                    struct soak_cloud_state *s)
{
    const char *name = soak_jstr(fe, "name");
    json_object *pip = by_id(all, soak_jstr(props(fe, "publicIPAddress"), "id"));
    json_object *rules = props(lbo, "loadBalancingRules"), *srules = props(nsg, "securityRules");
    const char *srcs[64], *ip = json_object_get_string(props(pip, "ipAddress"));
    size_t n_src = 0, nl = strlen(name);
    struct soak_lb *lb = soak_cloud_state_add(s, name, ip ? ip : "");
    if (!lb)
        return -1;
    for (size_t i = 0; i < soak_jlen(rules); i++) {
        json_object *r = json_object_array_get_idx(rules, i), *probe, *pool, *cfgs;
        const char *ids[64];
        char part[128], nics[64][96];
        size_t n = 0;
        struct soak_listener *x;
        if (strcasecmp(id_part(soak_jstr(props(r, "frontendIPConfiguration"), "id"),
                               "frontendIPConfigurations", part, sizeof(part)),
                       name) != 0 ||
            lb->n_listeners >= SOAK_MAX_PORTS)
            continue;
        x = &lb->l[lb->n_listeners++];
        x->port = json_object_get_int(props(r, "frontendPort"));
        probe = by_id(props(lbo, "probes"), soak_jstr(props(r, "probe"), "id"));
        x->node_port = probe ? json_object_get_int(props(probe, "port")) : -1;
        pool = by_id(props(lbo, "backendAddressPools"),
                     soak_jstr(props(r, "backendAddressPool"), "id"));
        cfgs = props(pool, "backendIPConfigurations");
        for (size_t j = 0; j < soak_jlen(cfgs) && n < 64; j++) {
            id_part(soak_jstr(json_object_array_get_idx(cfgs, j), "id"), "networkInterfaces",
                    nics[n], sizeof(nics[0]));
            ids[n] = nics[n];
            n++;
        }
        soak_join_sorted(ids, n, x->targets, sizeof(x->targets));
    }
    /* Sources: every security rule of this frontend ("Internet" is everyone). */
    for (size_t i = 0; i < soak_jlen(srules) && n_src < 64; i++) {
        json_object *r = json_object_array_get_idx(srules, i);
        const char *rn = soak_jstr(r, "name");
        const char *src = json_object_get_string(props(r, "sourceAddressPrefix"));
        bool dup = false;
        if (strncmp(rn, name, nl) != 0 || rn[nl] != '-' || !src)
            continue;
        if (!strcmp(src, "Internet"))
            src = "0.0.0.0/0";
        for (size_t j = 0; j < n_src && !dup; j++)
            dup = !strcmp(srcs[j], src);
        if (!dup)
            srcs[n_src++] = src;
    }
    soak_join_sorted(srcs, n_src, lb->sources, sizeof(lb->sources));
    if (!n_src)
        snprintf(lb->sources, sizeof(lb->sources), "none (no security rule)");
    return 0;
}

static int own_items(struct soak_cloud_state *s, json_object *arr, const char *kind)
{
    for (size_t i = 0; i < soak_jlen(arr); i++) {
        const char *name = soak_jstr(json_object_array_get_idx(arr, i), "name");
        char what[200], who[96];
        if (name[0] != 'a' || !strchr(name, '-'))
            continue; /* not named after a Service: the cluster's own */
        owner_of(name, who, sizeof(who));
        snprintf(what, sizeof(what), "%s %s", kind, name);
        if (soak_cloud_state_own(s, what, who) != 0)
            return -1;
    }
    return 0;
}

static json_object *az_fetch(const char *path)
{
    return fake_azure_json(&g_az, path);
}

static int az_snapshot(json_object *st, struct soak_cloud_state *s)
{
    json_object *all = soak_jget(st, "resources"), *nsg = NULL;
    char prefix[80];
    snprintf(prefix, sizeof(prefix), "%s-", g_cluster);
    for (size_t i = 0; i < soak_jlen(all); i++) {
        json_object *r = json_object_array_get_idx(all, i);
        if (strcasestr(soak_jstr(r, "id"), "/networkSecurityGroups/lbprov-nsg") &&
            !strcasestr(soak_jstr(r, "id"), "/securityRules/"))
            nsg = r;
    }
    for (size_t i = 0; i < soak_jlen(all); i++) {
        json_object *r = json_object_array_get_idx(all, i), *fes;
        const char *id = soak_jstr(r, "id"), *name = soak_jstr(r, "name");
        char what[200];
        if (strcasestr(id, "/publicIPAddresses/") && !strncmp(name, prefix, strlen(prefix))) {
            snprintf(what, sizeof(what), "public IP %s", name);
            if (soak_cloud_state_own(s, what, name + strlen(prefix)) != 0)
                return -1;
        }
        if (!strcasestr(id, "/loadBalancers/"))
            continue;
        fes = props(r, "frontendIPConfigurations");
        if (!soak_jlen(fes)) {
            snprintf(what, sizeof(what), "load balancer %s (no frontend left)", name);
            if (soak_cloud_state_own(s, what, "") != 0)
                return -1;
        }
        for (size_t j = 0; j < soak_jlen(fes); j++)
            if (frontend(all, nsg, r, json_object_array_get_idx(fes, j), s) != 0)
                return -1;
        if (own_items(s, props(r, "loadBalancingRules"), "rule") != 0 ||
            own_items(s, props(r, "probes"), "probe") != 0)
            return -1;
    }
    if (own_items(s, props(nsg, "securityRules"), "security rule") != 0)
        return -1;
    return 0;
}

static int az_counts(json_object *o, struct soak_cloud_counts *c)
{
    json_object *st;
    c->calls = 0;
    {
        json_object_object_foreach(soak_jget(o, "calls"), k, v)
        {
            (void)k;
            c->calls += (long)json_object_get_int64(v);
        }
    }
    st = soak_jget(o, "statuses");
    c->faults = (long)json_object_get_int64(soak_jget(st, "429")) +
                (long)json_object_get_int64(soak_jget(st, "500"));
    c->lost_replies = (long)json_object_get_int64(soak_jget(o, "lost_replies"));
    return 0;
}

static const char *const az_secrets[] = {FAKE_AZURE_CLIENT_SECRET, NULL};

const struct soak_cloud soak_cloud_azure = {.name = "azure",
                                            SOAK_CLOUD_OPS(az),
                                            .state_path = "/_fake/state",
                                            .counters_path = "/_fake/counters",
                                            .changing_annotation = az_changing,
                                            .secrets = az_secrets};
