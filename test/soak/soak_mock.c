/*
 * soak_mock.c — the mock cloud (`--cloud mock`) as the soak's cloud. The
 * mock lives inside each controller, so each replica has a table of its
 * own: a replica that takes the Lease starts empty and rebuilds every
 * Service's LB from its status (the restore slot) before any ensure. That
 * is what this soak puts under faults: an address that moved, or one held
 * by two live Services, fails the run.
 *
 * The state is the leading replica's, read from GET /debug/mockcloud.
 * Faults are the mock's own (errors and throttling at the soak's rates),
 * switched by rewriting the cloud-config, which the mock re-reads when it
 * changes. The mock has no way to lose a reply after a write.
 */
#include "test/soak/soak.h"
#include "common/rc.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_cfg[600];

static int write_cfg(bool faults)
{
    FILE *f = fopen(g_cfg, "w");
    if (!f)
        return -1;
    /* Room for every Service the soak can make, and then some. */
    fprintf(f, "vip_range=10.200.0.0/16\n");
    if (faults)
        fprintf(f, "error_rate=0.05\nthrottle_rate=0.05\nretry_after_s=1\n");
    return fclose(f) == 0 ? 0 : -1;
}

static int mock_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    (void)dir;
    (void)cluster;
    (void)n_nodes;
    snprintf(g_cfg, sizeof(g_cfg), "%s", cfg_path);
    return write_cfg(false);
}

static void mock_stop(void)
{
}

static void mock_provider_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "mock:///node-%d", i);
}

/* The mock's backends are the nodes' InternalIPs (soak.c gives node i 10.0.0.i). */
static void mock_target_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "10.0.0.%d", i);
}

static int mock_faults(bool on, unsigned seed)
{
    (void)seed;
    return write_cfg(on);
}

/* The leading replica's GET path (/debug/mockcloud), parsed; NULL when no replica leads. */
static json_object *mock_fetch(const char *path)
{
    int port = soak_leader_port();
    char *body = port > 0 ? soak_http_get(port, path, 5000) : NULL;
    json_object *js = body ? json_tokener_parse(body) : NULL;
    free(body);
    return js;
}

static const char *str(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mock_snapshot(json_object *js, struct soak_cloud_state *out)
{
    json_object *lbs;
    if (!json_object_object_get_ex(js, "loadBalancers", &lbs))
        return -1;
    size_t n = json_object_array_length(lbs);
    out->lbs = calloc(n + 1, sizeof(*out->lbs));
    if (!out->lbs)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(lbs, i), *ls;
        struct soak_lb *lb = &out->lbs[out->n_lbs++];
        snprintf(lb->name, sizeof(lb->name), "%s", str(o, "name"));
        snprintf(lb->addr, sizeof(lb->addr), "%s",
                 str(o, "hostname")[0] ? str(o, "hostname") : str(o, "vip"));
        if (!json_object_object_get_ex(o, "listeners", &ls))
            continue;
        for (size_t j = 0; j < json_object_array_length(ls) && j < SOAK_MAX_PORTS; j++) {
            json_object *l = json_object_array_get_idx(ls, j), *bs;
            struct soak_listener *sl = &lb->l[lb->n_listeners++];
            const char *t[64];
            size_t nt = 0, off = 0;
            long port = 0, node_port = 0;
            (void)lbp_parse_long(str(l, "port"), 1, 65535, &port);
            (void)lbp_parse_long(str(l, "nodePort"), 1, 65535, &node_port);
            sl->port = (int)port;
            sl->node_port = (int)node_port;
            if (!json_object_object_get_ex(l, "backends", &bs))
                continue;
            /* "10.0.0.1:30080" → "10.0.0.1": the node, as target_id names it */
            char hosts[64][64];
            for (size_t b = 0; b < json_object_array_length(bs) && nt < 64; b++, nt++) {
                snprintf(hosts[nt], sizeof(hosts[nt]), "%s",
                         json_object_get_string(json_object_array_get_idx(bs, b)));
                char *colon = strrchr(hosts[nt], ':');
                long bp = -1;
                if (colon && lbp_parse_long(colon + 1, 0, 65535, &bp) == LBP_OK &&
                    bp == sl->node_port)
                    *colon = '\0';
                t[nt] = hosts[nt];
            }
            qsort(t, nt, sizeof(t[0]), cmp_str);
            for (size_t b = 0; b < nt && off < sizeof(sl->targets); b++)
                off += (size_t)snprintf(sl->targets + off, sizeof(sl->targets) - off, "%s%s",
                                        b ? "," : "", t[b]);
        }
    }
    return 0;
}

static int mock_counts(json_object *js, struct soak_cloud_counts *out)
{
    json_object *calls;
    memset(out, 0, sizeof(*out));
    /* The leader's process only: a killed replica's counts died with it. */
    if (json_object_object_get_ex(js, "calls", &calls)) {
        json_object_object_foreach(calls, k, v)
        {
            if (strcmp(k, "failed") == 0)
                out->faults = json_object_get_int64(v);
            else if (strcmp(k, "pending") != 0)
                out->calls += json_object_get_int64(v);
        }
    }
    return 0;
}

static const char *const mock_secrets[] = {NULL};

const struct soak_cloud soak_cloud_mock = {.name = "mock",
                                           SOAK_CLOUD_OPS(mock),
                                           .state_path = "/debug/mockcloud",
                                           .counters_path = "/debug/mockcloud",
                                           .secrets = mock_secrets};
