/*
 * test_controller_baremetal.c — `lbprov controller --cloud baremetal` end
 * to end against the fake API server, with lbprov's pool YAML as
 * --cloud-config and MetalLB IPAddressPool objects in the API.
 *
 * Proves, reading Services and Events from the API, /metrics and
 * /debug/baremetalcloud: an address from the pool with the finalizer and
 * IPAllocated (no NodePorts needed); requested addresses honoured, one
 * outside every pool refused with a Warning naming it; an exhausted pool
 * gives AllocationFailed and the waiting Service gets a freed address
 * promptly (well before the provider's 30 s poll); a label change re-syncs
 * (pool serviceSelectors); sharing by allow-shared-ip, colliding ports
 * refused; dual-stack; IPAddressPool objects are applied and a change to
 * one moves its Services, an overlapping one is refused whole; an
 * L2Advertisement kind that answers 404 at first is picked up once it is
 * served; the allocator gauges; and after SIGKILL and a
 * restart every Service keeps its exact address and none is handed out
 * twice.
 */
#include "common/util.h"
#include "test/integration/ctl_env.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

static const char pools_yaml[] = "pools:\n"
                                 "  - name: small\n"
                                 "    addresses: [192.168.77.100-192.168.77.101]\n"
                                 "  - name: big\n"
                                 "    autoAssign: false\n"
                                 "    addresses: [192.168.78.10-192.168.78.50, "
                                 "\"fd00:78::10-fd00:78::50\"]\n"
                                 "  - name: web\n"
                                 "    autoAssign: false\n"
                                 "    addresses: [192.168.76.10-192.168.76.12]\n"
                                 "    serviceAllocation:\n"
                                 "      serviceSelectors: [{matchLabels: {tier: web}}]\n";

/* A Service with metadata and spec fragments (each may be NULL) and ports JSON. */
static void svc(const char *name, const char *meta_extra, const char *spec_extra, const char *ports)
{
    char body[4096];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"%s%s},\"spec\":{\"type\":\"LoadBalancer\",%s%s"
             "\"ports\":%s,\"selector\":{\"app\":\"%s\"}}}",
             name, meta_extra ? "," : "", meta_extra ? meta_extra : "",
             spec_extra ? spec_extra : "", spec_extra ? "," : "", ports, name);
    long code = ctl_api(&env, "POST", "/api/v1/namespaces/default/services", body, NULL);
    if (code != 201) {
        fprintf(stderr, "cannot create service %s: HTTP %ld\n%s\n", name, code, body);
        ctl_env_stop(&env);
        exit(1);
    }
}

static const char tcp80[] = "[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80}]";
static const char tcp443[] = "[{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443}]";

static bool ingress_is(const char *name, const char *want)
{
    char ip[128];
    ctl_ingress(&env, name, ip, sizeof(ip));
    return strcmp(ip, want) == 0;
}

static bool has_ingress(const char *name)
{
    char ip[128];
    ctl_ingress(&env, name, ip, sizeof(ip));
    return ip[0] != '\0';
}

static bool event_with(const char *name, const char *reason, const char *needle)
{
    char msg[600] = "";
    return ctl_events(&env, name, reason, msg, sizeof(msg)) > 0 && strstr(msg, needle);
}

static bool log_has(const char *needle)
{
    char line[2048];
    bool found = false;
    FILE *f = fopen(env.ctl_log, "r");
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

static bool metrics_have(const char *line)
{
    char *b = NULL;
    bool ok = ctl_http_get(&env, "/metrics", &b) == 200 && b && strstr(b, line);
    free(b);
    return ok;
}

/* /debug/baremetalcloud as text (a static buffer, overwritten by the next call) */
static const char *ctl_cloud_text(void)
{
    static char text[1 << 16];
    char *b = NULL;
    text[0] = '\0';
    if (ctl_http_get(&env, "/debug/baremetalcloud", &b) == 200 && b)
        snprintf(text, sizeof(text), "%s", b);
    free(b);
    return text;
}

/* announcedBy of one pool in /debug/baremetalcloud, or -1 */
static long pool_announced_by(const char *pool)
{
    json_object *root = json_tokener_parse(ctl_cloud_text()), *pools;
    long n = -1;
    if (root && json_object_object_get_ex(root, "pools", &pools))
        for (size_t i = 0; i < json_object_array_length(pools); i++) {
            json_object *p = json_object_array_get_idx(pools, i);
            const char *name = jpath_str(p, "name");
            if (name && strcmp(name, pool) == 0)
                n = jpath_int(p, "announcedBy");
        }
    json_object_put(root);
    return n;
}

/* Every IP of every ingress of the Service, "a,b" */
static void all_ips(const char *name, char *out, size_t len)
{
    char path[300];
    json_object *o = NULL, *ing;
    size_t used = 0;
    out[0] = '\0';
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    if (ctl_api(&env, "GET", path, NULL, &o) == 200 && o &&
        json_object_object_get_ex(o, "status", &ing) &&
        json_object_object_get_ex(ing, "loadBalancer", &ing) &&
        json_object_object_get_ex(ing, "ingress", &ing))
        for (size_t i = 0; i < json_object_array_length(ing) && used < len; i++) {
            const char *ip = jpath_str(json_object_array_get_idx(ing, i), "ip");
            used += (size_t)snprintf(out + used, len - used, "%s%s", i ? "," : "", ip ? ip : "");
        }
    json_object_put(o);
}

static void patch(const char *path, const char *body)
{
    long code = ctl_api(&env, "PATCH", path, body, NULL);
    if (code != 200) {
        fprintf(stderr, "PATCH %s: HTTP %ld\n", path, code);
        ctl_env_stop(&env);
        exit(1);
    }
}

int main(void)
{
    static const char *names[] = {"b", "c", "req1", "req2", "sh1", "sh2", "ds", "lbl", "m"};
    enum { N_NAMES = sizeof(names) / sizeof(names[0]) };
    char pools_path[400], ip[128], sh1[128], before[N_NAMES][200], buf[1024];
    FILE *f;

    ctl_env_init(&env, NULL);
    snprintf(pools_path, sizeof(pools_path), "%s/pools.yaml", env.api.dir);
    f = fopen(pools_path, "w");
    CHECK(f != NULL);
    fputs(pools_yaml, f);
    fclose(f);
    const char *const flags[] = {"--cloud",
                                 "baremetal",
                                 "--cloud-config",
                                 pools_path,
                                 "--metallb-poll-period",
                                 "200ms",
                                 CTL_SHORT_LEASE_FLAGS,
                                 NULL};
    /* MetalLB's CRDs are installed; the pools live in metallb-system */
    CHECK(ctl_api(&env, "POST", "/_fake/resources",
                  "{\"group\":\"metallb.io\",\"version\":\"v1beta1\",\"resource\":"
                  "\"ipaddresspools\",\"kind\":\"IPAddressPool\",\"namespaced\":true}",
                  NULL) == 201);
    CHECK(ctl_api(&env, "POST", "/_fake/resources",
                  "{\"group\":\"metallb.io\",\"version\":\"v1beta1\",\"resource\":"
                  "\"l2advertisements\",\"kind\":\"L2Advertisement\",\"namespaced\":true}",
                  NULL) == 201);
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces",
                  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                  "\"metallb-system\"}}",
                  NULL) == 201);
    /* L2Advertisement is not served at first (404): no error, pools still work */
    CHECK(ctl_api(&env, "POST", "/_fake/faults",
                  "{\"errorNext\":1000000,\"code\":404,\"resource\":\"l2advertisements\"}",
                  NULL) == 200);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_env_start_controller(&env, flags);

    /* an address from the pool, finalizer, IPAllocated; no NodePorts needed */
    svc("a", NULL, "\"allocateLoadBalancerNodePorts\":false", tcp80);
    CHECK(WAIT_FOR(10000, ingress_is("a", "192.168.77.100")));
    CHECK(ctl_has_finalizer(&env, "a"));
    CHECK(WAIT_FOR(5000, event_with("a", "IPAllocated", "Assigned IP [\"192.168.77.100\"]")));
    CHECK(WAIT_FOR(5000, ctl_events(&env, "a", "EnsuredLoadBalancer", NULL, 0) > 0));
    json_object *o = NULL;
    CHECK(ctl_api(&env, "GET", "/api/v1/namespaces/default/services/a", NULL, &o) == 200);
    CHECK(jpath_int(o, "spec.ports.0.nodePort") == -1); /* none allocated */
    json_object_put(o);

    /* exhausted: the third waits with AllocationFailed, then takes the freed address */
    svc("b", NULL, NULL, tcp80);
    CHECK(WAIT_FOR(10000, ingress_is("b", "192.168.77.101")));
    svc("c", NULL, NULL, tcp80);
    CHECK(WAIT_FOR(10000, event_with("c", "AllocationFailed", "pool small is full")));
    CHECK(!has_ingress("c"));
    /* the allocator gauges */
    CHECK(
        WAIT_FOR(5000, metrics_have("lbprov_allocator_addresses_in_use_total{pool=\"small\"} 2")));
    CHECK(metrics_have("lbprov_allocator_addresses_total{pool=\"small\"} 2"));
    /* 41 IPv4 + 65 IPv6 */
    CHECK(metrics_have("lbprov_allocator_addresses_total{pool=\"big\"} 106"));
    uint64_t t0 = lbp_now_ms();
    CHECK(ctl_api(&env, "DELETE", "/api/v1/namespaces/default/services/a", NULL, NULL) == 200);
    CHECK(WAIT_FOR(10000, ingress_is("c", "192.168.77.100")));
    uint64_t took = lbp_now_ms() - t0;
    fprintf(stderr, "freed address reached the waiting Service in %llu ms\n",
            (unsigned long long)took);
    CHECK(took < 10000); /* the provider's own retry is 30 s */

    /* requested addresses; one outside every pool is refused by name */
    svc("req1", NULL, "\"loadBalancerIP\":\"192.168.78.20\"", tcp80);
    svc("req2", "\"annotations\":{\"metallb.io/loadBalancerIPs\":\"192.168.78.21\"}", NULL, tcp80);
    svc("out", NULL, "\"loadBalancerIP\":\"10.99.0.1\"", tcp80);
    CHECK(WAIT_FOR(10000, ingress_is("req1", "192.168.78.20")));
    CHECK(WAIT_FOR(10000, ingress_is("req2", "192.168.78.21")));
    CHECK(WAIT_FOR(10000, event_with("out", "AllocationFailed", "10.99.0.1")));
    CHECK(!has_ingress("out"));

    /* sharing: same key, ports apart → one address; colliding ports → Warning */
    svc("sh1",
        "\"annotations\":{\"metallb.io/allow-shared-ip\":\"k1\",\"metallb.io/address-pool\":"
        "\"big\"}",
        NULL, tcp80);
    CHECK(WAIT_FOR(10000, has_ingress("sh1")));
    ctl_ingress(&env, "sh1", sh1, sizeof(sh1));
    svc("sh2",
        "\"annotations\":{\"metallb.io/allow-shared-ip\":\"k1\",\"metallb.io/address-pool\":"
        "\"big\"}",
        NULL, tcp443);
    CHECK(WAIT_FOR(10000, ingress_is("sh2", sh1)));
    snprintf(buf, sizeof(buf),
             "\"annotations\":{\"metallb.io/allow-shared-ip\":\"k1\","
             "\"metallb.io/loadBalancerIPs\":\"%s\"}",
             sh1);
    svc("sh3", buf, NULL, tcp80);
    CHECK(WAIT_FOR(10000, ctl_events(&env, "sh3", "AllocationFailed", NULL, 0) > 0));
    CHECK(!has_ingress("sh3"));

    /* dual-stack: one address of each family */
    svc("ds", "\"annotations\":{\"metallb.io/address-pool\":\"big\"}",
        "\"ipFamilies\":[\"IPv4\",\"IPv6\"],\"ipFamilyPolicy\":\"RequireDualStack\"", tcp80);
    CHECK(WAIT_FOR(10000, (all_ips("ds", buf, sizeof(buf)), strchr(buf, ',') != NULL)));
    CHECK(strncmp(buf, "192.168.78.", 11) == 0 && strstr(buf, ",fd00:78::") != NULL);

    /* a label change re-syncs: the web pool admits only tier=web */
    svc("lbl", "\"annotations\":{\"metallb.io/address-pool\":\"web\"}", NULL, tcp80);
    CHECK(WAIT_FOR(10000, event_with("lbl", "AllocationFailed", "does not admit")));
    patch("/api/v1/namespaces/default/services/lbl",
          "{\"metadata\":{\"labels\":{\"tier\":\"web\"}}}");
    /* well under the 30 s resync that would otherwise be the only retry */
    CHECK(WAIT_FOR(10000, ingress_is("lbl", "192.168.76.10")));

    /* MetalLB IPAddressPool objects: applied, and a change moves the Service */
    CHECK(ctl_api(&env, "POST", "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
                  "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
                  "\"metadata\":{\"name\":\"crd\",\"namespace\":\"metallb-system\"},"
                  "\"spec\":{\"addresses\":[\"192.168.79.10-192.168.79.12\"],"
                  "\"autoAssign\":false}}",
                  NULL) == 201);
    svc("m", "\"annotations\":{\"metallb.io/address-pool\":\"crd\"}", NULL, tcp80);
    CHECK(WAIT_FOR(10000, ingress_is("m", "192.168.79.10")));
    patch("/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/crd",
          "{\"spec\":{\"addresses\":[\"192.168.80.10-192.168.80.12\"]}}");
    CHECK(WAIT_FOR(10000, ingress_is("m", "192.168.80.10")));
    CHECK(WAIT_FOR(5000, event_with("m", "IPAllocated", "Assigned IP [\"192.168.80.10\"]")));
    /* the kind appears: an L2Advertisement for the pool is applied */
    CHECK(log_has("MetalLB L2Advertisement objects are not served"));
    CHECK(ctl_api(&env, "POST", "/_fake/faults", "{\"reset\":true}", NULL) == 200);
    CHECK(ctl_api(&env, "POST",
                  "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements",
                  "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"L2Advertisement\","
                  "\"metadata\":{\"name\":\"l2\",\"namespace\":\"metallb-system\"},"
                  "\"spec\":{\"ipAddressPools\":[\"crd\"]}}",
                  NULL) == 201);
    CHECK(WAIT_FOR(10000, pool_announced_by("crd") == 1));

    /* an overlapping pool is refused whole and reported; the pools in force stay */
    CHECK(ctl_api(&env, "POST", "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
                  "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
                  "\"metadata\":{\"name\":\"clash\",\"namespace\":\"metallb-system\"},"
                  "\"spec\":{\"addresses\":[\"192.168.77.0/24\"]}}",
                  NULL) == 201);
    CHECK(WAIT_FOR(10000, log_has("IPAddressPool objects not applied")));
    CHECK(strstr(ctl_cloud_text(), "\"clash\"") == NULL);
    CHECK(ingress_is("m", "192.168.80.10"));
    CHECK(ctl_api(&env, "DELETE",
                  "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/clash", NULL,
                  NULL) == 200);

    /* SIGHUP re-reads the pool file: the web pool moves and its Service follows */
    {
        char moved[sizeof(pools_yaml) + 16];
        lbp_strlcpy(moved, pools_yaml, sizeof(moved));
        char *w = strstr(moved, "192.168.76.10-192.168.76.12");
        CHECK(w != NULL);
        memcpy(w, "192.168.75.10-192.168.75.12", strlen("192.168.75.10-192.168.75.12"));
        f = fopen(pools_path, "w");
        CHECK(f != NULL);
        fputs(moved, f);
        fclose(f);
        kill(env.ctl, SIGHUP);
        CHECK(WAIT_FOR(10000, ingress_is("lbl", "192.168.75.10")));
        CHECK(log_has("pools reloaded from"));
        /* a bad file (pools overlap) is refused whole: nothing moves */
        f = fopen(pools_path, "w");
        CHECK(f != NULL);
        fputs("pools:\n  - name: a\n    addresses: [10.0.0.0/24]\n"
              "  - name: b\n    addresses: [10.0.0.128/25]\n",
              f);
        fclose(f);
        kill(env.ctl, SIGHUP);
        CHECK(WAIT_FOR(10000, log_has("keeping the running configuration")));
        CHECK(ingress_is("lbl", "192.168.75.10"));
        CHECK(ingress_is("m", "192.168.80.10"));
        f = fopen(pools_path, "w"); /* the good file again, for the restart below */
        CHECK(f != NULL);
        fputs(moved, f);
        fclose(f);
    }

    /* restart: SIGKILL, more Services meanwhile, then every address is kept */
    for (int i = 0; i < N_NAMES; i++) {
        all_ips(names[i], before[i], sizeof(before[i]));
        CHECK(before[i][0] != '\0');
    }
    lbp_test_stop(env.ctl, SIGKILL, 5000);
    env.ctl = 0;
    svc("r1", NULL, NULL, tcp80); /* small is full: must not get .100 or .101 */
    svc("r2", "\"annotations\":{\"metallb.io/address-pool\":\"big\"}", NULL, tcp80);
    ctl_env_start_controller(&env, flags);
    CHECK(WAIT_FOR(15000, has_ingress("r2")));
    CHECK(WAIT_FOR(10000, event_with("r1", "AllocationFailed", "pool small is full")));
    CHECK(!has_ingress("r1"));
    ctl_ingress(&env, "r2", ip, sizeof(ip));
    for (int i = 0; i < N_NAMES; i++) {
        char now[200];
        all_ips(names[i], now, sizeof(now));
        if (strcmp(now, before[i]) != 0)
            fprintf(stderr, "%s: %s before, %s after\n", names[i], before[i], now);
        CHECK(strcmp(now, before[i]) == 0);
        CHECK(strstr(before[i], ip) == NULL);
    }
    /* the CRD pool was applied again before m was ensured: it kept its address */
    CHECK(ingress_is("m", "192.168.80.10"));
    CHECK(strstr(ctl_cloud_text(), "\"crd\"") != NULL);

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
