/*
 * soak_aws.c — fake-aws (test/fakes/aws) as the soak's cloud. Half the
 * Services get a Network Load Balancer, half a Classic ELB (the kind is
 * fixed at creation: changing it replaces the LB and so its address).
 * The state is read from GET /_fake/state: classic ELBs carry their
 * listeners and instances; an NLB's listeners name target groups whose
 * targets are instance:nodePort pairs. Target groups no listener uses and
 * "k8s-elb-<lb>" security groups count as owned by that LB, so a leaked
 * one shows up like a leaked LB; so do node-group rules whose description
 * names an LB (kubernetes.io/rule/<kind>/<role>=<lb>).
 *
 * Node rules: every NLB port adds a rule per source range plus one per LB
 * subnet to the one shared node group, more than AWS's default quota of 60
 * after a handful of LBs. The fake is given the largest quota AWS grants
 * (1,000), which a few hundred Services fit; past 300 slots lbprov runs with
 * DisableSecurityGroupIngress, as a cluster that size must.
 */
#include "test/soak/soak.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fakes/aws/fake_aws_client.h"

static struct fake_aws g_aws;

static int aws_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    FILE *f;
    (void)dir; /* fake-aws logs only errors, to the soak's stderr */
    if (fake_aws_start(&g_aws, NULL) != 0)
        return -1;
    fake_aws_env(&g_aws); /* inherited by the controllers */
    if (fake_aws_seed_cluster(&g_aws, cluster, n_nodes) != 0)
        return -1;
    if (!(f = fopen(cfg_path, "w")))
        return -1;
    /* A client-side limit well above the churn rate: throttling comes from the fake. */
    fprintf(f, "[Global]\nQPS = 500\nBurst = 500\nRetryBaseDelayMs = 50\nRetryMaxDelayMs = 1000\n");
    if (soak_slots() > 300)
        fprintf(f, "DisableSecurityGroupIngress = true\n");
    if (fclose(f) != 0)
        return -1;
    return fake_aws_req(&g_aws, "POST", "/_fake/config", "{\"sg_rules_max\":1000}", NULL) == 200
               ? 0
               : -1;
}

static void aws_stop(void)
{
    fake_aws_stop(&g_aws);
}

static void aws_provider_id(int i, char *out, size_t cap)
{
    static const char *const az[3] = {"us-east-1a", "us-east-1b", "us-east-1c"};
    snprintf(out, cap, "aws:///%s/i-%017d", az[i % 3], i);
}

static void aws_target_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "i-%017d", i);
}

static const char *aws_fixed(unsigned k)
{
    return k % 2 ? "\"service.beta.kubernetes.io/aws-load-balancer-type\":\"nlb\"" : "";
}

static void aws_changing(unsigned k, char *out, size_t cap)
{
    snprintf(out, cap,
             "\"service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval\":\"%u\"",
             10 + k % 20);
}

static int aws_faults(bool on, unsigned seed)
{
    char body[200];
    snprintf(body, sizeof(body),
             "{\"error_pct\":%d,\"throttle_pct\":%d,\"lost_reply_pct\":%d,\"seed\":%u}", on ? 5 : 0,
             on ? 5 : 0, on ? 2 : 0, seed);
    return fake_aws_req(&g_aws, "POST", "/_fake/config", body, NULL) == 200 ? 0 : -1;
}

static int classic(json_object *clb, struct soak_cloud_state *s)
{
    json_object *ls = soak_jget(clb, "listeners"), *in = soak_jget(clb, "instances");
    const char *ids[64];
    size_t n = 0;
    struct soak_lb *lb = soak_cloud_state_add(s, soak_jstr(clb, "name"), soak_jstr(clb, "dns"));
    char targets[512];
    if (!lb)
        return -1;
    for (size_t i = 0; i < soak_jlen(in) && n < 64; i++)
        ids[n++] = json_object_get_string(json_object_array_get_idx(in, i));
    soak_join_sorted(ids, n, targets, sizeof(targets));
    for (size_t i = 0; i < soak_jlen(ls) && lb->n_listeners < SOAK_MAX_PORTS; i++) {
        json_object *l = json_object_array_get_idx(ls, i);
        struct soak_listener *x = &lb->l[lb->n_listeners++];
        x->port = json_object_get_int(soak_jget(l, "lb_port"));
        x->node_port = json_object_get_int(soak_jget(l, "instance_port"));
        snprintf(x->targets, sizeof(x->targets), "%s", targets);
    }
    return 0;
}

static json_object *by(json_object *arr, const char *key, const char *val)
{
    for (size_t i = 0; i < soak_jlen(arr); i++)
        if (strcmp(soak_jstr(json_object_array_get_idx(arr, i), key), val) == 0)
            return json_object_array_get_idx(arr, i);
    return NULL;
}

static int nlb(json_object *st, json_object *o, struct soak_cloud_state *s)
{
    json_object *ls = soak_jget(st, "listeners"), *tgs = soak_jget(st, "tgs");
    struct soak_lb *lb = soak_cloud_state_add(s, soak_jstr(o, "name"), soak_jstr(o, "dns"));
    if (!lb)
        return -1;
    for (size_t i = 0; i < soak_jlen(ls); i++) {
        json_object *l = json_object_array_get_idx(ls, i), *tg, *t;
        const char *ids[64];
        size_t n = 0;
        struct soak_listener *x;
        if (strcmp(soak_jstr(l, "lb_arn"), soak_jstr(o, "arn")) != 0 ||
            lb->n_listeners >= SOAK_MAX_PORTS)
            continue;
        x = &lb->l[lb->n_listeners++];
        x->port = json_object_get_int(soak_jget(l, "port"));
        tg = by(tgs, "arn", soak_jstr(l, "tg_arn"));
        t = soak_jget(tg, "targets");
        x->node_port = soak_jlen(t)
                           ? json_object_get_int(soak_jget(json_object_array_get_idx(t, 0), "port"))
                           : json_object_get_int(soak_jget(tg, "port"));
        for (size_t j = 0; j < soak_jlen(t) && n < 64; j++) {
            json_object *e = json_object_array_get_idx(t, j);
            if (json_object_get_int(soak_jget(e, "port")) != x->node_port)
                x->node_port = -1; /* targets disagree: never what a Service asks for */
            ids[n++] = soak_jstr(e, "id");
        }
        soak_join_sorted(ids, n, x->targets, sizeof(x->targets));
    }
    return 0;
}

static json_object *aws_fetch(const char *path)
{
    return fake_aws_json(&g_aws, path);
}

static int aws_snapshot(json_object *st, struct soak_cloud_state *s)
{
    json_object *a = soak_jget(st, "clbs");
    for (size_t i = 0; i < soak_jlen(a); i++)
        if (classic(json_object_array_get_idx(a, i), s) != 0)
            return -1;
    a = soak_jget(st, "lbs");
    for (size_t i = 0; i < soak_jlen(a); i++)
        if (nlb(st, json_object_array_get_idx(a, i), s) != 0)
            return -1;
    /* A target group belongs to the LB whose listener forwards to it. */
    a = soak_jget(st, "tgs");
    for (size_t i = 0; i < soak_jlen(a); i++) {
        json_object *tg = json_object_array_get_idx(a, i);
        json_object *l = by(soak_jget(st, "listeners"), "tg_arn", soak_jstr(tg, "arn"));
        json_object *lb = l ? by(soak_jget(st, "lbs"), "arn", soak_jstr(l, "lb_arn")) : NULL;
        char what[128];
        snprintf(what, sizeof(what), "target group %s", soak_jstr(tg, "name"));
        if (soak_cloud_state_own(s, what, lb ? soak_jstr(lb, "name") : "") != 0)
            return -1;
    }
    a = soak_jget(st, "sgs");
    for (size_t i = 0; i < soak_jlen(a); i++) {
        json_object *g = json_object_array_get_idx(a, i), *rules = soak_jget(g, "rules");
        const char *name = soak_jstr(g, "name");
        char what[128];
        for (size_t k = 0; k < soak_jlen(rules); k++) {
            const char *desc = soak_jstr(json_object_array_get_idx(rules, k), "desc");
            const char *eq = strchr(desc, '=');
            if (strncmp(desc, "kubernetes.io/rule/", 19) != 0 || !eq)
                continue;
            snprintf(what, sizeof(what), "rule %.80s on %.30s", desc, soak_jstr(g, "id"));
            if (soak_cloud_state_own(s, what, eq + 1) != 0)
                return -1;
        }
        if (strncmp(name, "k8s-elb-", 8) != 0)
            continue;
        snprintf(what, sizeof(what), "security group %s", name);
        if (soak_cloud_state_own(s, what, name + 8) != 0)
            return -1;
    }
    return 0;
}

static int aws_counts(json_object *unused, struct soak_cloud_counts *c)
{
    (void)unused; /* one counter a request */
    c->calls = fake_aws_counter(&g_aws, "total");
    c->faults = fake_aws_counter(&g_aws, "injected");
    c->lost_replies = fake_aws_counter(&g_aws, "lost_replies");
    return c->calls < 0 ? -1 : 0;
}

static const char *const aws_secrets[] = {FAKE_AWS_SK, NULL};

const struct soak_cloud soak_cloud_aws = {.name = "aws",
                                          SOAK_CLOUD_OPS(aws),
                                          .state_path = "/_fake/state",
                                          .fixed_annotations = aws_fixed,
                                          .changing_annotation = aws_changing,
                                          .secrets = aws_secrets};
