/*
 * soak_cloudstack.c — fake-cloudstack (test/fakes/cloudstack) as the
 * soak's cloud. A Service is a public IP tagged lbprov-lb=<LB name> with
 * one load-balancer rule per port (public port -> NodePort, the nodes' VMs
 * as members) and, in the isolated network the soak uses, one firewall
 * rule per port. The state comes from GET /_fake/state: rules are grouped
 * under their IP; a rule or firewall rule on an IP no live Service owns
 * counts as leaked, as does a tagged IP itself.
 */
#include "test/soak/soak.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "test/fakes/cloudstack/fake_cs_client.h"

#define CS_MAX_NODES 64

static struct fake_cs g_cs;

/* VM ids the fake is seeded with: fixed, so providerIDs and members can be compared. */
static void vm_uuid(int i, char *out, size_t cap)
{
    snprintf(out, cap, "5e0a4c1d-0000-4000-8000-%012d", i);
}

static int cs_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    char vms[CS_MAX_NODES][96];
    const char *args[2 * CS_MAX_NODES + 8];
    size_t na = 0;
    FILE *f;
    (void)dir;
    (void)cluster;
    args[na++] = "--job-polls";
    args[na++] = "1";
    args[na++] = "--job-ms";
    args[na++] = "2000";
    args[na++] = "--public-range";
    args[na++] = SOAK_PUBLIC_RANGE;
    for (int i = 1; i <= n_nodes && i <= CS_MAX_NODES; i++) {
        char id[64];
        vm_uuid(i, id, sizeof(id));
        snprintf(vms[i - 1], sizeof(vms[0]), "node-%d:%s", i, id);
        args[na++] = "--vm";
        args[na++] = vms[i - 1];
    }
    args[na] = NULL;
    if (fake_cs_start(&g_cs, args) != 0)
        return -1;
    if (!(f = fopen(cfg_path, "w")))
        return -1;
    /* A client-side limit well above the churn rate: throttling comes from the fake. */
    fprintf(f,
            "[Global]\napi-url = %s\napi-key = %s\nsecret-key = %s\nqps = 500\n"
            "retry-base-delay-ms = 50\nretry-max-delay-ms = 1000\n",
            g_cs.api_url, FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY);
    return fclose(f) == 0 ? 0 : -1;
}

static void cs_stop(void)
{
    if (g_cs.pid > 0 && fake_cs_stop(&g_cs) != 0)
        fprintf(stderr, "soak: fake-cloudstack did not exit cleanly\n");
}

static void cs_provider_id(int i, char *out, size_t cap)
{
    char id[64];
    vm_uuid(i, id, sizeof(id));
    snprintf(out, cap, "cloudstack:///%s", id);
}

static int cs_faults(bool on, unsigned seed)
{
    char body[200];
    (void)seed; /* the fake's rate faults use its own --seed */
    snprintf(body, sizeof(body), "{\"error_rate\":%s,\"throttle_rate\":%s,\"drop_rate\":%s}",
             on ? "0.05" : "0", on ? "0.05" : "0", on ? "0.02" : "0");
    return fake_cs_post(&g_cs, "/_fake/config", body);
}

static const char *tag(json_object *o, const char *key)
{
    json_object *tags = soak_jget(o, "tags");
    for (size_t i = 0; i < soak_jlen(tags); i++) {
        json_object *t = json_object_array_get_idx(tags, i);
        if (strcmp(soak_jstr(t, "key"), key) == 0)
            return soak_jstr(t, "value");
    }
    return "";
}

static int port_of(json_object *o, const char *k)
{
    json_object *v = soak_jget(o, k);
    long port;
    if (!v || lbp_parse_long(json_object_get_string(v), 0, 65535, &port) != 0)
        return -1;
    return (int)port;
}

/* The LB name the IP with this id is tagged with, or "" (not ours, or gone). */
static const char *owner_of(json_object *ips, const char *ip_id)
{
    for (size_t i = 0; i < soak_jlen(ips); i++) {
        json_object *ip = json_object_array_get_idx(ips, i);
        if (strcmp(soak_jstr(ip, "id"), ip_id) == 0)
            return tag(ip, "lbprov-lb");
    }
    return "";
}

static int add_rules(json_object *st, json_object *ip, struct soak_lb *lb)
{
    json_object *rules = soak_jget(st, "lbrules");
    for (size_t i = 0; i < soak_jlen(rules); i++) {
        json_object *r = json_object_array_get_idx(rules, i), *m = soak_jget(r, "members");
        const char *ids[CS_MAX_NODES];
        size_t n = 0;
        struct soak_listener *x;
        if (strcmp(soak_jstr(r, "publicipid"), soak_jstr(ip, "id")) != 0 ||
            lb->n_listeners >= SOAK_MAX_PORTS)
            continue;
        x = &lb->l[lb->n_listeners++];
        x->port = port_of(r, "publicport");
        x->node_port = port_of(r, "privateport");
        for (size_t j = 0; j < soak_jlen(m) && n < CS_MAX_NODES; j++)
            ids[n++] = json_object_get_string(json_object_array_get_idx(m, j));
        soak_join_sorted(ids, n, x->targets, sizeof(x->targets));
    }
    return 0;
}

/*
 * The CIDRs the IP's firewall rules admit: every rule (one a port) must
 * say the same, else "differ" (never what a Service asks for).
 */
static void add_sources(json_object *st, json_object *ip, struct soak_lb *lb)
{
    json_object *fw = soak_jget(st, "firewallrules");
    for (size_t i = 0; i < soak_jlen(fw); i++) {
        json_object *r = json_object_array_get_idx(fw, i);
        char list[512], *save = NULL, joined[512];
        const char *cidrs[16];
        size_t n = 0;
        if (strcmp(soak_jstr(r, "ipaddressid"), soak_jstr(ip, "id")) != 0)
            continue;
        snprintf(list, sizeof(list), "%s", soak_jstr(r, "cidrlist"));
        for (char *t = strtok_r(list, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
            cidrs[n++] = t;
        soak_join_sorted(cidrs, n, joined, sizeof(joined));
        if (!lb->sources[0])
            snprintf(lb->sources, sizeof(lb->sources), "%s", joined);
        else if (strcmp(lb->sources, joined) != 0)
            snprintf(lb->sources, sizeof(lb->sources), "differ");
    }
    if (!lb->sources[0] && lb->n_listeners)
        snprintf(lb->sources, sizeof(lb->sources), "none (no firewall rule)");
}

static json_object *cs_fetch(const char *path)
{
    return fake_cs_json(&g_cs, path);
}

static int cs_snapshot(json_object *st, struct soak_cloud_state *s)
{
    json_object *ips = soak_jget(st, "publicips"), *a;
    for (size_t i = 0; i < soak_jlen(ips); i++) {
        json_object *ip = json_object_array_get_idx(ips, i);
        const char *name = tag(ip, "lbprov-lb");
        struct soak_lb *lb;
        if (!*name)
            continue; /* the source NAT addresses, and any the soak did not make */
        if (!(lb = soak_cloud_state_add(s, name, soak_jstr(ip, "ipaddress"))))
            return -1;
        add_rules(st, ip, lb);
        add_sources(st, ip, lb);
    }
    /* Rules whose address is not an LB's any more are leaks of their own. */
    a = soak_jget(st, "lbrules");
    for (size_t i = 0; i < soak_jlen(a); i++) {
        json_object *r = json_object_array_get_idx(a, i);
        char what[128];
        snprintf(what, sizeof(what), "load-balancer rule %s", soak_jstr(r, "name"));
        if (soak_cloud_state_own(s, what, owner_of(ips, soak_jstr(r, "publicipid"))) != 0)
            return -1;
    }
    a = soak_jget(st, "firewallrules");
    for (size_t i = 0; i < soak_jlen(a); i++) {
        json_object *r = json_object_array_get_idx(a, i);
        const char *ip_id = soak_jstr(r, "ipaddressid");
        char what[128];
        bool snat = false;
        for (size_t j = 0; j < soak_jlen(ips); j++)
            if (!strcmp(soak_jstr(json_object_array_get_idx(ips, j), "id"), ip_id))
                snat = json_object_get_boolean(
                    soak_jget(json_object_array_get_idx(ips, j), "issourcenat"));
        if (snat)
            continue;
        snprintf(what, sizeof(what), "firewall rule %s (port %d)", soak_jstr(r, "id"),
                 json_object_get_int(soak_jget(r, "startport")));
        if (soak_cloud_state_own(s, what, owner_of(ips, ip_id)) != 0)
            return -1;
    }
    return 0;
}

static long counter(json_object *c, const char *k)
{
    json_object *v = soak_jget(c, k);
    return v ? (long)json_object_get_int64(v) : 0;
}

static int cs_counts(json_object *c, struct soak_cloud_counts *out)
{
    out->calls = counter(c, "calls") + counter(c, "throttled");
    out->faults = counter(c, "throttled") + counter(c, "errors");
    out->lost_replies = counter(c, "dropped");
    return 0;
}

static const char *const cs_secrets[] = {FAKE_CS_SECRET_KEY, NULL};

#define cs_target_id vm_uuid
const struct soak_cloud soak_cloud_cloudstack = {.name = "cloudstack",
                                                 SOAK_CLOUD_OPS(cs),
                                                 .state_path = "/_fake/state",
                                                 .counters_path = "/_fake/counters",
                                                 .secrets = cs_secrets};
