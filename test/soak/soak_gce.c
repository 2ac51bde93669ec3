/*
 * soak_gce.c — fake-gce (test/fakes/gce) as the soak's cloud. A Service is
 * GCE's external passthrough LB: a reserved address, a forwarding rule
 * a<uid> over the range of its ports to the target pool a<uid> (every
 * node's instance), and the firewall k8s-fw-a<uid> admitting its source
 * ranges. Every other object lbprov names after a Service (addresses,
 * pools, firewalls, health checks) is owned by that LB, so a leaked one
 * shows up like a leaked rule; the cluster's shared node health check and
 * its firewall are not counted. Faults: 5 % 503, 5 % 403
 * rateLimitExceeded, and 2 % of accepted changes whose reply is lost.
 */
#include "test/soak/soak.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fakes/gce/fake_gce_client.h"

#define REGION "regions/us-central1/"

static struct fake_gce g_gce;
/* A line of the key file's private key, and the prefix of every access token. */
static char g_key_line[128];
static const char *g_secrets[] = {g_key_line, "ya29.", NULL};
static char g_cluster[64];

static int gce_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    char instances[16];
    const char *args[] = {"--instances", instances,          "--op-polls",      "1", "--op-ms",
                          "1000",        "--external-range", SOAK_PUBLIC_RANGE, NULL};
    json_object *key;
    const char *pem, *nl;
    FILE *f;
    (void)dir;
    snprintf(g_cluster, sizeof(g_cluster), "%s", cluster);
    /* node-0 .. node-N: the soak's nodes are 1..N */
    snprintf(instances, sizeof(instances), "%d", n_nodes + 1);
    if (fake_gce_start(&g_gce, args) != 0)
        return -1;
    /* The second line of the PEM: base64 of the key itself, never to be logged. */
    key = json_object_from_file(g_gce.key_file);
    pem = soak_jstr(key, "private_key");
    nl = strchr(pem, '\n');
    snprintf(g_key_line, sizeof(g_key_line), "%.40s", nl ? nl + 1 : "");
    json_object_put(key);
    if (strlen(g_key_line) < 40)
        return -1;
    if (!(f = fopen(cfg_path, "w")))
        return -1;
    /* A client-side limit well above the churn rate: throttling comes from the fake. */
    fprintf(f,
            "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
            "network-name = default\napi-endpoint = %s/compute/v1/\ncredentials-file = %s\n"
            "qps = 500\nburst = 500\n",
            g_gce.proc.url, g_gce.key_file);
    return fclose(f) == 0 ? 0 : -1;
}

static void gce_stop(void)
{
    if (g_gce.proc.pid > 0 && fake_gce_stop(&g_gce) != 0)
        fprintf(stderr, "soak: fake-gce did not exit cleanly\n");
}

static void gce_provider_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "gce://fake-project/us-central1-%c/node-%d", "abc"[i % 3], i);
}

static void gce_target_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "node-%d", i);
}

static int gce_faults(bool on, unsigned seed)
{
    char body[200];
    (void)seed; /* the fake draws from its own generator */
    snprintf(body, sizeof(body),
             "{\"clear\":true,\"error_rate\":%s,\"throttle_rate\":%s,\"lost_reply_rate\":%s}",
             on ? "0.05" : "0", on ? "0.05" : "0", on ? "0.02" : "0");
    return fake_gce_control(&g_gce, "/_fake/faults", body) == 200 ? 0 : -1;
}

static const char *last_segment(const char *url)
{
    const char *s = strrchr(url, '/');
    return s ? s + 1 : url;
}

/*
 * The Service LB an object belongs to, from its name: "a<uid>",
 * "k8s-fw-a<uid>", "k8s-a<uid>-http-hc"; NULL for the cluster's shared ones.
 */
static const char *owner(const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    char shared[96];
    snprintf(shared, sizeof(shared), "k8s-%s-node", g_cluster);
    if (!strncmp(name, shared, strlen(shared)))
        return NULL;
    if (!strncmp(name, "k8s-fw-", 7))
        snprintf(out, cap, "%s", name + 7);
    else if (!strncmp(name, "k8s-", 4) && n > 12 && !strcmp(name + n - 8, "-http-hc"))
        snprintf(out, cap, "%.*s", (int)(n - 12), name + 4);
    else
        snprintf(out, cap, "%s", name);
    return out;
}

static int rule(json_object *res, const char *name, json_object *fr, struct soak_cloud_state *s)
{
    json_object *pool =
        soak_jget(soak_jget(res, REGION "targetPools"), last_segment(soak_jstr(fr, "target")));
    json_object *insts = soak_jget(pool, "instances");
    json_object *fw_coll = soak_jget(res, "global/firewalls"), *fw, *src;
    const char *ids[64];
    char fw_name[128];
    size_t n = 0;
    struct soak_lb *lb = soak_cloud_state_add(s, name, soak_jstr(fr, "IPAddress"));
    if (!lb)
        return -1;
    if (sscanf(soak_jstr(fr, "portRange"), "%d-%d", &lb->range_lo, &lb->range_hi) != 2)
        lb->range_lo = lb->range_hi = -1; /* never what a Service asks for */
    for (size_t i = 0; i < soak_jlen(insts) && n < 64; i++)
        ids[n++] = last_segment(json_object_get_string(json_object_array_get_idx(insts, i)));
    soak_join_sorted(ids, n, lb->range_targets, sizeof(lb->range_targets));
    snprintf(fw_name, sizeof(fw_name), "k8s-fw-%s", name);
    fw = soak_jget(fw_coll, fw_name);
    src = soak_jget(fw, "sourceRanges");
    n = 0;
    for (size_t i = 0; i < soak_jlen(src) && n < 64; i++)
        ids[n++] = json_object_get_string(json_object_array_get_idx(src, i));
    soak_join_sorted(ids, n, lb->sources, sizeof(lb->sources));
    if (!fw)
        snprintf(lb->sources, sizeof(lb->sources), "none (no firewall %s)", fw_name);
    return 0;
}

static json_object *gce_fetch(const char *path)
{
    return fake_gce_json(&g_gce, path);
}

/* Every object named after a Service but its forwarding rule is owned by that LB. */
static int own_named(json_object *res, struct soak_cloud_state *s)
{
    json_object_object_foreach(res, coll, objs)
    {
        if (strstr(coll, "/instances") || strstr(coll, "forwardingRules"))
            continue;
        json_object_object_foreach(objs, name, obj)
        {
            char what[160], who[96];
            const char *w = owner(name, who, sizeof(who));
            (void)obj;
            if (!w)
                continue;
            snprintf(what, sizeof(what), "%s/%s", coll, name);
            if (soak_cloud_state_own(s, what, w) != 0)
                return -1;
        }
    }
    return 0;
}

static int gce_snapshot(json_object *st, struct soak_cloud_state *s)
{
    json_object *res = soak_jget(st, "resources");
    json_object_object_foreach(soak_jget(res, REGION "forwardingRules"), name, fr)
    {
        if (rule(res, name, fr, s) != 0)
            return -1;
    }
    return own_named(res, s);
}

static int gce_counts(json_object *o, struct soak_cloud_counts *c)
{
    c->calls = (long)json_object_get_int64(soak_jget(o, "total"));
    c->faults = (long)json_object_get_int64(soak_jget(o, "injected"));
    c->lost_replies = (long)json_object_get_int64(soak_jget(o, "lost_replies"));
    return 0;
}

const struct soak_cloud soak_cloud_gce = {.name = "gce",
                                          SOAK_CLOUD_OPS(gce),
                                          .state_path = "/_fake/state",
                                          .counters_path = "/_fake/counters",
                                          .secrets = g_secrets};
