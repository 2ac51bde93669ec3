/*
 * test_aws_provider.c — lbp_provider_aws's vtable driven directly against
 * fake-aws (a separate process speaking the AWS wire protocols and checking
 * every SigV4 signature).
 *
 * Each test starts its own fake, seeds a VPC (3 zones, tagged subnets, a
 * node security group, instances), points the provider at it through the
 * environment, and asserts on the fake's state and per-operation counters:
 * what exists after ensure, that a second ensure only reads, that node and
 * port changes touch only the difference, clean-up, orphan listing,
 * recovery from a half-done ensure, throttling, the client rate limit,
 * eventual consistency, classic proxy-protocol policies, the node group's
 * rule quota, DisableSecurityGroupIngress and bad credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/aws/fake_aws_client.h"
#include "test/integration/prov_svc.h"

extern const struct lbp_provider lbp_provider_aws;
static const struct lbp_provider *P = &lbp_provider_aws;

#define CLUSTER "test-cluster"
struct env {
    struct fake_aws f;
    struct lbp_provider_ctx *ctx;
    char cfg[256];
};

/* Node i is instance i-<i> in the fake. */
static void aws_pid(int i, char *out, size_t cap)
{
    snprintf(out, cap, "aws:///us-east-1a/i-%017d", i);
}

static void three_ports(struct prov_svc *s)
{
    prov_svc_port(s, "TCP", 80, 30080);
    prov_svc_port(s, "TCP", 443, 30443);
    prov_svc_port(s, "UDP", 53, 30053);
}

static int env_start(struct env *e, const char *extra_cfg, int n_instances)
{
    FILE *f;
    char err[256] = "";
    int rc;
    memset(e, 0, sizeof(*e));
    if (fake_aws_start(&e->f, NULL) != 0)
        return -1;
    fake_aws_env(&e->f);
    if (fake_aws_seed_cluster(&e->f, CLUSTER, n_instances) != 0)
        return -1;
    snprintf(e->cfg, sizeof(e->cfg), "/tmp/lbp-aws-cfg-%d-%p", (int)getpid(), (void *)e);
    f = fopen(e->cfg, "w");
    if (!f)
        return -1;
    /* Fast retries; a generous rate limit unless the test sets its own (later keys win). */
    fprintf(f, "[Global]\nRetryBaseDelayMs = 10\nRetryMaxDelayMs = 100\n%s\n%s\n",
            extra_cfg ? extra_cfg : "", extra_cfg && strstr(extra_cfg, "QPS") ? "" : "QPS = 1000");
    fclose(f);
    rc = P->init(e->cfg, CLUSTER, &e->ctx, err, sizeof(err));
    if (rc)
        fprintf(stderr, "init: %s\n", err);
    return rc;
}

static void env_stop(struct env *e)
{
    P->cleanup(e->ctx);
    e->ctx = NULL;
    lbp_http_thread_cleanup(); /* closes our connection before the fake stops */
    fake_aws_stop(&e->f);
    unlink(e->cfg);
}

static struct json_object *state(struct env *e, const char *arr)
{
    static struct json_object *last;
    struct json_object *a = NULL;
    json_object_put(last);
    last = fake_aws_json(&e->f, "/_fake/state");
    assert_non_null(last);
    if (!json_object_object_get_ex(last, arr, &a))
        return NULL;
    return a;
}

static size_t alen(struct json_object *a)
{
    return a ? json_object_array_length(a) : 0;
}

static const char *js(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int ji(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int(v) : -1;
}

static struct json_object *find(struct json_object *a, const char *k, int v)
{
    for (size_t i = 0; i < alen(a); i++)
        if (ji(json_object_array_get_idx(a, i), k) == v)
            return json_object_array_get_idx(a, i);
    return NULL;
}

/* Every operation counted since the reset is a Describe*. */
static void assert_only_describes(struct env *e)
{
    struct json_object *c = fake_aws_json(&e->f, "/_fake/counters"), *ops;
    int n = 0;
    assert_non_null(c);
    assert_true(json_object_object_get_ex(c, "ops", &ops));
    json_object_object_foreach(ops, k, v)
    {
        if (strncmp(k, "Describe", 8) != 0)
            fail_msg("second ensure called %s %d times", k, json_object_get_int(v));
        n += json_object_get_int(v);
    }
    assert_true(n > 0);
    json_object_put(c);
}

static int count_rules(struct env *e, const char *desc_prefix)
{
    struct json_object *sgs = state(e, "sgs");
    int n = 0;
    for (size_t i = 0; i < alen(sgs); i++) {
        struct json_object *rules, *g = json_object_array_get_idx(sgs, i);
        if (!json_object_object_get_ex(g, "rules", &rules))
            continue;
        for (size_t k = 0; k < alen(rules); k++)
            if (strncmp(js(json_object_array_get_idx(rules, k), "desc"), desc_prefix,
                        strlen(desc_prefix)) == 0)
                n++;
    }
    return n;
}

/* ---- NLB ---- */

static void nlb_create_converge_remove(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct json_object *lbs, *tgs, *ls, *t;
    const char *nlb_ann = "service.beta.kubernetes.io/aws-load-balancer-type";
    assert_int_equal(env_start(&e, NULL, 8), 0);

    prov_svc_init(&s, "default", "web", "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    prov_svc_ann(&s, nlb_ann, "nlb");
    three_ports(&s);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);

    lbs = state(&e, "lbs");
    assert_int_equal(alen(lbs), 1);
    t = json_object_array_get_idx(lbs, 0);
    assert_string_equal(js(t, "name"), s.spec.lb_name);
    assert_string_equal(js(t, "type"), "network");
    assert_string_equal(js(t, "scheme"), "internet-facing");
    assert_int_equal(status.n_ingress, 1);
    assert_string_equal(status.ingress[0].hostname, js(t, "dns"));
    {
        struct json_object *tags = json_object_object_get(t, "tags");
        assert_string_equal(js(tags, "kubernetes.io/cluster/" CLUSTER), "owned");
        assert_string_equal(js(tags, "kubernetes.io/service-name"), "default/web");
        assert_int_equal(alen(json_object_object_get(t, "azs")), 3);
    }
    tgs = state(&e, "tgs");
    assert_int_equal(alen(tgs), 3);
    for (int i = 0; i < 3; i++) {
        struct json_object *tg = find(tgs, "port", s.ports[i].node_port);
        assert_non_null(tg);
        assert_string_equal(js(tg, "protocol"), s.ports[i].protocol);
        assert_string_equal(js(tg, "hc_protocol"), "TCP");
        assert_string_equal(js(tg, "hc_port"), "traffic-port");
        assert_int_equal(alen(json_object_object_get(tg, "targets")), 5);
        assert_int_equal(
            ji(json_object_array_get_idx(json_object_object_get(tg, "targets"), 0), "port"),
            s.ports[i].node_port);
    }
    ls = state(&e, "listeners");
    assert_int_equal(alen(ls), 3);
    for (int i = 0; i < 3; i++) {
        struct json_object *l = find(ls, "port", s.ports[i].port);
        assert_non_null(l);
        assert_string_equal(js(l, "protocol"), s.ports[i].protocol);
    }
    /* client rules: one per port from 0.0.0.0/0; health rules from the 3 subnets per TCP port */
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/client="), 3);
    assert_true(count_rules(&e, "kubernetes.io/rule/nlb/health=") >= 3);

    /* Second ensure: reads only. */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);

    /* get */
    memset(&status, 0, sizeof(status));
    assert_int_equal(P->get(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_string_equal(status.ingress[0].hostname,
                        js(json_object_array_get_idx(state(&e, "lbs"), 0), "dns"));

    /* Tags asked for later are added to the existing LB. */
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags",
                 "team=blue");
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_string_equal(
        js(json_object_object_get(json_object_array_get_idx(state(&e, "lbs"), 0), "tags"), "team"),
        "blue");

    /* Port change: 80 -> 8080 on the same nodePort. */
    s.ports[0].port = 8080;
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    ls = state(&e, "listeners");

    assert_int_equal(alen(ls), 3);
    assert_non_null(find(ls, "port", 8080));
    assert_null(find(ls, "port", 80));
    assert_int_equal(alen(state(&e, "tgs")), 3);

    /* Node change: 1..5 -> 3..7 registers 2 and deregisters 2 per group. */
    prov_svc_nodes(&s, 3, 7, aws_pid);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->update_targets(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(fake_aws_counter(&e.f, "targets_registered"), 2 * 3);
    assert_int_equal(fake_aws_counter(&e.f, "targets_deregistered"), 2 * 3);
    tgs = state(&e, "tgs");
    for (size_t i = 0; i < alen(tgs); i++) {
        struct json_object *ts =
            json_object_object_get(json_object_array_get_idx(tgs, i), "targets");
        char want[32];
        assert_int_equal(alen(ts), 5);
        snprintf(want, sizeof(want), "i-%017d", 7);
        bool seen = false;
        for (size_t k = 0; k < alen(ts); k++) {
            assert_string_not_equal(js(json_object_array_get_idx(ts, k), "id"),
                                    "i-00000000000000001");
            seen = seen || strcmp(js(json_object_array_get_idx(ts, k), "id"), want) == 0;
        }
        assert_true(seen);
    }

    /* Source ranges become client rules, the old 0.0.0.0/0 ones go. */
    s.ranges[0] = "203.0.113.0/24";
    s.ranges[1] = "198.51.100.7/32";
    s.n_ranges = 2;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/client="), 3 * 2);

    /* Local: HTTP /healthz on the health-check node port. */
    s.local = true;
    s.hc_port = 32123;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    tgs = state(&e, "tgs");
    for (size_t i = 0; i < alen(tgs); i++) {
        struct json_object *tg = json_object_array_get_idx(tgs, i);
        assert_string_equal(js(tg, "hc_protocol"), "HTTP");
        assert_string_equal(js(tg, "hc_port"), "32123");
        assert_string_equal(js(tg, "hc_path"), "/healthz");
    }

    /* internal: the scheme is fixed at creation, so the LB is replaced in place. */
    {
        char old_dns[256];
        snprintf(old_dns, sizeof(old_dns), "%s", status.ingress[0].hostname);
        prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-internal", "true");
        assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
        lbs = state(&e, "lbs");
        assert_int_equal(alen(lbs), 1);
        assert_string_equal(js(json_object_array_get_idx(lbs, 0), "scheme"), "internal");
        assert_string_not_equal(status.ingress[0].hostname, old_dns);
        assert_string_equal(
            js(json_object_array_get_idx(
                   json_object_object_get(json_object_array_get_idx(lbs, 0), "azs"), 0),
               "subnet"),
            "subnet-int0");
        assert_int_equal(alen(state(&e, "tgs")), 3);
        assert_int_equal(alen(state(&e, "listeners")), 3);
    }

    /* Remove, with the target groups "in use" for a while. */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"DeleteTargetGroup\",\"code\":\"ResourceInUse\","
                                  "\"count\":2}",
                                  NULL),
                     200);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(alen(state(&e, "lbs")), 0);
    assert_int_equal(alen(state(&e, "tgs")), 0);
    assert_int_equal(alen(state(&e, "listeners")), 0);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/"), 0);
    assert_int_equal(fake_aws_count(&e.f, "DeleteTargetGroup"), 3 + 2);
    /* Gone is success. */
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(P->get(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_NOT_FOUND);
    env_stop(&e);
}

static void nlb_tcp_udp_and_tls(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct json_object *tgs, *ls, *l;
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 3), 0);
    prov_svc_init(&s, "default", "dns", "d0000000-0000-0000-0000-00000000000d");
    prov_svc_port(&s, "TCP", 53, 30053);
    prov_svc_port(&s, "UDP", 53, 30053);
    prov_svc_port(&s, "TCP", 443, 30443);
    prov_svc_nodes(&s, 1, 3, aws_pid);
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-ssl-cert",
                 "arn:aws:acm:us-east-1:123456789012:certificate/abc");
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-ssl-ports", "443");
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval", "10");
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    tgs = state(&e, "tgs");
    assert_int_equal(alen(tgs), 2);
    assert_string_equal(js(find(tgs, "port", 30053), "protocol"), "TCP_UDP");
    assert_int_equal(ji(find(tgs, "port", 30053), "hc_interval"), 10);
    ls = state(&e, "listeners");
    assert_int_equal(alen(ls), 2);
    assert_string_equal(js(find(ls, "port", 53), "protocol"), "TCP_UDP");
    l = find(ls, "port", 443);
    assert_string_equal(js(l, "protocol"), "TLS");
    assert_string_equal(js(l, "cert"), "arn:aws:acm:us-east-1:123456789012:certificate/abc");
    /* TCP and UDP node-port rules for the shared port. */
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/client="), 3);
    /* Different nodePorts for TCP and UDP on one port cannot share a group. */
    s.ports[1].node_port = 30054;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "nodePorts"));
    env_stop(&e);
}

static const char *tg_attr(struct json_object *tg, const char *k)
{
    return js(json_object_object_get(tg, "attrs"), k);
}

static void nlb_affinity_and_proxy_protocol(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct json_object *tgs, *ls;
    char old_tg[300];
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 3), 0);
    prov_svc_init(&s, "default", "sticky", "5a000000-0000-0000-0000-00000000005a");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_nodes(&s, 1, 3, aws_pid);
    s.affinity = "ClientIP";
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol", "*");
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    tgs = state(&e, "tgs");
    assert_int_equal(alen(tgs), 1);
    assert_string_equal(tg_attr(json_object_array_get_idx(tgs, 0), "stickiness.enabled"), "true");
    assert_string_equal(tg_attr(json_object_array_get_idx(tgs, 0), "stickiness.type"), "source_ip");
    assert_string_equal(tg_attr(json_object_array_get_idx(tgs, 0), "proxy_protocol_v2.enabled"),
                        "true");
    snprintf(old_tg, sizeof(old_tg), "%s", js(json_object_array_get_idx(tgs, 0), "arn"));
    /* Steady state reads nothing extra for the attributes. */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);
    assert_int_equal(fake_aws_count(&e.f, "DescribeTargetGroupAttributes"), 0);
    /* Both switched off: a fresh group with the defaults takes over, the old one goes. */
    s.affinity = "None";
    s.n_ann = 0;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    tgs = state(&e, "tgs");
    assert_int_equal(alen(tgs), 1);
    assert_string_not_equal(js(json_object_array_get_idx(tgs, 0), "arn"), old_tg);
    assert_string_not_equal(tg_attr(json_object_array_get_idx(tgs, 0), "stickiness.enabled"),
                            "true");
    assert_string_not_equal(tg_attr(json_object_array_get_idx(tgs, 0), "proxy_protocol_v2.enabled"),
                            "true");
    assert_int_equal(alen(json_object_object_get(json_object_array_get_idx(tgs, 0), "targets")), 3);
    ls = state(&e, "listeners");
    assert_int_equal(alen(ls), 1);
    env_stop(&e);
}

static void nlb_midway_failure_converges(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 5), 0);
    prov_svc_init(&s, "shop", "cart", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    three_ports(&s);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    /* The second listener fails: LB, groups and one listener exist. */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"CreateListener\",\"code\":\"TooManyListeners\","
                                  "\"count\":1}",
                                  NULL),
                     200);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "TooManyListeners"));
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "lbs")), 1);
    assert_int_equal(alen(state(&e, "tgs")), 3);
    assert_int_equal(alen(state(&e, "listeners")), 3);
    /* A restart (fresh provider, empty caches) converges to the same. */
    P->cleanup(e.ctx);
    {
        char err[128];
        assert_int_equal(P->init(e.cfg, CLUSTER, &e.ctx, err, sizeof(err)), LBP_OK);
    }
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);
    env_stop(&e);
}

/*
 * Target groups a failed ensure leaves attached to nothing: one created
 * whose listener change failed and that the Service no longer wants by the
 * next ensure, and an old one whose delete failed after its listener moved.
 * Both are gone after the next converged ensure, not only at delete.
 */
static void nlb_unattached_groups_swept(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 3), 0);
    prov_svc_init(&s, "shop", "sweep", "abababab-bbbb-cccc-dddd-eeeeeeeeeeee");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_nodes(&s, 1, 3, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 1);

    /* NodePort 30081: its group is made, the listener cannot move to it. */
    s.ports[0].node_port = 30081;
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"ModifyListener\",\"code\":\"ValidationError\","
                                  "\"count\":1}",
                                  NULL),
                     200);
    assert_int_not_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 2);
    /* The Service changed again before the retry: 30081's group is wanted no more. */
    s.ports[0].node_port = 30082;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 1);
    assert_int_equal(ji(json_object_array_get_idx(state(&e, "tgs"), 0), "port"), 30082);

    /* NodePort 30083: the listener moves, the old group's delete fails. */
    s.ports[0].node_port = 30083;
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"DeleteTargetGroup\",\"code\":\"ValidationError\","
                                  "\"count\":1}",
                                  NULL),
                     200);
    assert_int_not_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 2);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 1);
    assert_int_equal(ji(json_object_array_get_idx(state(&e, "tgs"), 0), "port"), 30083);
    /* Nothing left to suspect: a converged ensure only reads. */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(alen(state(&e, "tgs")), 0);
    env_stop(&e);
}

/* Queues a lost reply for the next successful call of op (fake-aws README). */
static void lose_reply(struct env *e, const char *op)
{
    char body[160];
    snprintf(body, sizeof(body), "{\"op\":\"%s\",\"lose_reply\":true,\"count\":1}", op);
    assert_int_equal(fake_aws_req(&e->f, "POST", "/_fake/fault", body, NULL), 200);
}

/* Ensures until OK (a lost reply may surface as RETRY once per call). */
static void ensure_until_ok(struct env *e, struct prov_svc *s, struct lbp_lb_status *status)
{
    struct lbp_call call = {0};
    enum lbp_rc rc = LBP_RETRY;
    for (int i = 0; i < 8 && rc != LBP_OK; i++) {
        rc = P->ensure(e->ctx, prov_svc_spec(s, CLUSTER), status, &call);
        if (rc != LBP_OK && rc != LBP_RETRY)
            fail_msg("ensure: rc %d: %s", rc, call.err);
    }
    assert_int_equal(rc, LBP_OK);
}

/*
 * Every create answered by nobody: the call was done, the connection broke.
 * Ensure must find what it made instead of failing for good or making a
 * second one, and end with exactly one of everything.
 */
static void nlb_lost_replies_converge(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    static const char *const ops[] = {"CreateLoadBalancer", "CreateTargetGroup", "CreateListener",
                                      "RegisterTargets", "AuthorizeSecurityGroupIngress"};
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 5), 0);
    prov_svc_init(&s, "shop", "lost", "0f0f0f0f-bbbb-cccc-dddd-eeeeeeeeeeee");
    three_ports(&s);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        lose_reply(&e, ops[i]);
    ensure_until_ok(&e, &s, &status);
    assert_int_equal(fake_aws_counter(&e.f, "lost_replies"), 5);
    assert_int_equal(alen(state(&e, "lbs")), 1);
    assert_int_equal(alen(state(&e, "tgs")), 3);
    assert_int_equal(alen(state(&e, "listeners")), 3);
    assert_string_equal(status.ingress[0].hostname,
                        js(json_object_array_get_idx(state(&e, "lbs"), 0), "dns"));
    fake_aws_reset_counters(&e.f);
    ensure_until_ok(&e, &s, &status);
    assert_only_describes(&e);
    env_stop(&e);
}

static void classic_lost_replies_converge(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    static const char *const ops[] = {"CreateSecurityGroup", "CreateLoadBalancer",
                                      "RegisterInstancesWithLoadBalancer",
                                      "AuthorizeSecurityGroupIngress"};
    assert_int_equal(env_start(&e, NULL, 5), 0);
    prov_svc_init(&s, "default", "lostc", "c0c0c0c0-2fa1-11d2-883f-0016d3cca427");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_port(&s, "TCP", 443, 30443);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        lose_reply(&e, ops[i]);
    ensure_until_ok(&e, &s, &status);
    assert_int_equal(fake_aws_counter(&e.f, "lost_replies"), 4);
    assert_int_equal(alen(state(&e, "clbs")), 1);
    assert_int_equal(
        alen(json_object_object_get(json_object_array_get_idx(state(&e, "clbs"), 0), "instances")),
        5);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 1);
    fake_aws_reset_counters(&e.f);
    ensure_until_ok(&e, &s, &status);
    assert_only_describes(&e);
    env_stop(&e);
}

static void nlb_throttling_and_rate_limit(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    uint64_t t0, ms;
    long total;
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb\nQPS = 40\nBurst = 1", 5), 0);
    prov_svc_init(&s, "default", "storm", "11111111-2222-3333-4444-555555555555");
    three_ports(&s);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    /* A storm: 4 throttled ELBv2 answers and 2 EC2 ones, spread over calls. */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"service\":\"elbv2\",\"code\":\"Throttling\",\"count\":4}",
                                  NULL),
                     200);
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"service\":\"ec2\",\"code\":\"RequestLimitExceeded\","
                                  "\"status\":503,\"count\":2}",
                                  NULL),
                     200);
    t0 = lbp_now_ms();
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    ms = lbp_now_ms() - t0;
    assert_int_equal(fake_aws_counter(&e.f, "throttled"), 6);
    total = fake_aws_counter(&e.f, "total");
    assert_true(total > 10);
    /* QPS 40, burst 1: n calls take at least (n-1)/40 s. */
    assert_true(ms >= (uint64_t)(total - 1) * 1000 / 40);
    assert_int_equal(alen(state(&e, "lbs")), 1);
    env_stop(&e);
}

static void nlb_eventual_consistency(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    assert_int_equal(env_start(&e, "DefaultLoadBalancerType = nlb", 3), 0);
    assert_int_equal(
        fake_aws_req(&e.f, "POST", "/_fake/config", "{\"consistency_ms\":60000}", NULL), 200);
    prov_svc_init(&s, "default", "slow", "99999999-2222-3333-4444-555555555555");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_nodes(&s, 1, 3, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    /* Not yet visible to Describe: the next ensure must not make a second LB. */
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_count(&e.f, "CreateLoadBalancer"), 2);
    assert_int_equal(alen(state(&e, "lbs")), 1);
    assert_int_equal(alen(state(&e, "tgs")), 1);
    assert_int_equal(alen(state(&e, "listeners")), 1);
    env_stop(&e);
}

static void list_owned_finds_orphans(void **st)
{
    struct env e;
    struct prov_svc a, b;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned = NULL;
    size_t n = 0;
    bool seen_a = false, seen_b = false;
    assert_int_equal(env_start(&e, NULL, 3), 0);
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/config", "{\"page_size\":1}", NULL), 200);
    prov_svc_init(&a, "ns1", "alpha", "a0000000-0000-0000-0000-000000000001");
    prov_svc_ann(&a, "service.beta.kubernetes.io/aws-load-balancer-type", "nlb");
    prov_svc_port(&a, "TCP", 80, 30001);
    prov_svc_nodes(&a, 1, 3, aws_pid);
    prov_svc_init(&b, "ns2", "beta", "b0000000-0000-0000-0000-000000000002");
    prov_svc_port(&b, "TCP", 80, 30002);
    prov_svc_nodes(&b, 1, 3, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&a, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&b, CLUSTER), &status, &call),
                     LBP_OK); /* classic */
    assert_int_equal(P->list_owned(e.ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(owned[i].namespace, "ns1") && !strcmp(owned[i].name, "alpha")) {
            assert_string_equal(owned[i].lb_name, a.spec.lb_name);
            seen_a = true;
        }
        if (!strcmp(owned[i].namespace, "ns2") && !strcmp(owned[i].name, "beta")) {
            assert_string_equal(owned[i].lb_name, b.spec.lb_name);
            seen_b = true;
        }
    }
    assert_true(seen_a && seen_b);
    free(owned);
    /*
     * An LB deleted between the listing and DescribeTags fails that batch
     * with LoadBalancerNotFound: the scan still completes, without that
     * one, as it must under churn or orphans are never cleaned.
     */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"DescribeTags\",\"code\":\"LoadBalancerNotFound\","
                                  "\"count\":1}",
                                  NULL),
                     200);
    owned = NULL;
    assert_int_equal(P->list_owned(e.ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 1);
    free(owned);
    env_stop(&e);
}

/* ---- classic ---- */

static void classic_create_converge_remove(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct json_object *clbs, *lb, *hc;
    assert_int_equal(env_start(&e, NULL, 8), 0);
    prov_svc_init(&s, "default", "legacy", "c1c1c1c1-2fa1-11d2-883f-0016d3cca427");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_port(&s, "TCP", 443, 30443);
    prov_svc_port(&s, "TCP", 8443, 30843);
    prov_svc_nodes(&s, 1, 5, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    clbs = state(&e, "clbs");
    assert_int_equal(alen(clbs), 1);
    lb = json_object_array_get_idx(clbs, 0);
    assert_string_equal(js(lb, "name"), s.spec.lb_name);
    assert_string_equal(status.ingress[0].hostname, js(lb, "dns"));
    assert_int_equal(alen(json_object_object_get(lb, "listeners")), 3);
    assert_non_null(find(json_object_object_get(lb, "listeners"), "instance_port", 30843));
    assert_int_equal(alen(json_object_object_get(lb, "instances")), 5);
    hc = json_object_object_get(lb, "hc");
    assert_string_equal(js(hc, "target"), "TCP:30080");
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/client="), 3);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 1);

    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);

    prov_svc_nodes(&s, 2, 6, aws_pid);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->update_targets(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(fake_aws_counter(&e.f, "targets_registered"), 1);
    assert_int_equal(fake_aws_counter(&e.f, "targets_deregistered"), 1);

    s.local = true;
    s.hc_port = 31999;
    s.ranges[0] = "192.0.2.0/24";
    s.n_ranges = 1;
    s.ports[1].port = 4443;
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    lb = json_object_array_get_idx(state(&e, "clbs"), 0);
    assert_string_equal(js(json_object_object_get(lb, "hc"), "target"), "HTTP:31999/healthz");
    assert_non_null(find(json_object_object_get(lb, "listeners"), "lb_port", 4443));
    assert_null(find(json_object_object_get(lb, "listeners"), "lb_port", 443));
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/client="), 3);

    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-internal", "true");
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "clbs")), 1);
    lb = json_object_array_get_idx(state(&e, "clbs"), 0);
    assert_string_equal(js(lb, "scheme"), "internal");
    assert_string_equal(status.ingress[0].hostname, js(lb, "dns"));
    assert_int_equal(alen(json_object_object_get(lb, "instances")), 5);

    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(alen(state(&e, "clbs")), 0);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/"), 0);
    assert_int_equal(alen(state(&e, "sgs")), 1); /* only the nodes' group is left */
    env_stop(&e);
}

/* A classic Service k: one port, its own UID. */
static void classic_svc(struct prov_svc *s, int k)
{
    char name[32], uid[40];
    snprintf(name, sizeof(name), "q%d", k);
    snprintf(uid, sizeof(uid), "c2c2c2c%d-2fa1-11d2-883f-0016d3cca427", k);
    prov_svc_init(s, "default", name, uid);
    prov_svc_port(s, "TCP", 80, 30100 + k);
    prov_svc_nodes(s, 1, 3, aws_pid);
}

/*
 * The nodes' group holds at most its quota of rules (the fake enforces it as
 * AWS does): a full group is a retry whose message names the quota and the
 * way out, and a delete finds the node rules through the ELB's own group
 * (ip-permission.group-id) instead of reading every group of the cluster.
 */
static void classic_node_rules_quota_and_removal(void **st)
{
    struct env e;
    struct prov_svc s[3];
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    assert_int_equal(env_start(&e, NULL, 4), 0);
    /* room for two "nodes" rules: one source each */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/config", "{\"sg_rules_max\":2}", NULL),
                     200);
    for (int k = 0; k < 3; k++)
        classic_svc(&s[k], k);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s[0], CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s[1], CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 2);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s[2], CLUSTER), &status, &call), LBP_RETRY);
    assert_non_null(strstr(call.err, "RulesPerSecurityGroupLimitExceeded"));
    assert_non_null(strstr(call.err, "DisableSecurityGroupIngress"));
    assert_non_null(strstr(call.err, "sg-nodes"));
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 2);

    /* Three ELB groups and the nodes' group are tagged for the cluster; the delete reads two. */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s[0], CLUSTER), &call), LBP_OK);
    assert_int_equal(fake_aws_counter(&e.f, "sgs_described"), 2);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 1);
    {
        char d[128];
        snprintf(d, sizeof(d), "kubernetes.io/rule/elb/nodes=%s", s[1].spec.lb_name);
        assert_int_equal(count_rules(&e, d), 1); /* the other ELB's rule stays */
    }
    /* The room freed lets the third converge. */
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s[2], CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 2);
    for (int k = 1; k < 3; k++)
        assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s[k], CLUSTER), &call), LBP_OK);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/"), 0);
    assert_int_equal(alen(state(&e, "sgs")), 1);
    env_stop(&e);
}

/*
 * DisableSecurityGroupIngress: the nodes' groups are never read nor written,
 * for either kind; a value other than true/false is refused naming the key;
 * an NLB delete that finds no NLB reads no group either way.
 */
static void sg_ingress_disabled(void **st)
{
    struct env e;
    struct prov_svc c, n;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct lbp_provider_ctx *ctx = NULL;
    char err[256] = "", cfg[] = "/tmp/lbp-aws-sgi-XXXXXX";
    int fd = mkstemp(cfg);
    assert_true(fd >= 0);
    assert_true(write(fd, "[Global]\nDisableSecurityGroupIngress = yes\n", 43) == 43);
    close(fd);
    assert_int_equal(P->init(cfg, CLUSTER, &ctx, err, sizeof(err)), LBP_INVALID);
    assert_null(ctx);
    assert_non_null(strstr(err, "DisableSecurityGroupIngress"));
    unlink(cfg);

    assert_int_equal(env_start(&e, "DisableSecurityGroupIngress = true", 4), 0);
    classic_svc(&c, 7);
    prov_svc_init(&n, "default", "n1", "d3d3d3d3-2fa1-11d2-883f-0016d3cca427");
    prov_svc_ann(&n, "service.beta.kubernetes.io/aws-load-balancer-type", "nlb");
    prov_svc_port(&n, "TCP", 443, 30443);
    n.ranges[0] = "192.0.2.0/24";
    n.n_ranges = 1;
    prov_svc_nodes(&n, 1, 3, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&c, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&n, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(alen(state(&e, "clbs")), 1);
    assert_int_equal(alen(state(&e, "lbs")), 1);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/nodes="), 0);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/"), 0);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/elb/client="), 1); /* the ELB's own */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&n, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_counter(&e.f, "sgs_described"), 0);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&n, CLUSTER), &call), LBP_OK);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&c, CLUSTER), &call), LBP_OK);
    assert_int_equal(alen(state(&e, "lbs")), 0);
    assert_int_equal(alen(state(&e, "clbs")), 0);
    env_stop(&e);

    /* With rules managed: the delete revokes them first, so a second finds nothing to read. */
    assert_int_equal(env_start(&e, NULL, 4), 0);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&n, CLUSTER), &status, &call), LBP_OK);
    assert_true(count_rules(&e, "kubernetes.io/rule/nlb/client=") > 0);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&n, CLUSTER), &call), LBP_OK);
    assert_int_equal(count_rules(&e, "kubernetes.io/rule/nlb/"), 0);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&n, CLUSTER), &call), LBP_OK);
    assert_int_equal(fake_aws_counter(&e.f, "sgs_described"), 0);
    env_stop(&e);
}

#define PP_ANN "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"
#define PP_POLICY "k8s-proxyprotocol-enabled"

/* The policy names on one instance port of the only classic ELB ("" joined by ","). */
static void clb_backend(struct env *e, int port, char *out, size_t cap)
{
    struct json_object *lb = json_object_array_get_idx(state(e, "clbs"), 0), *be, *names;
    char key[16];
    size_t off = 0;
    out[0] = 0;
    assert_non_null(lb);
    snprintf(key, sizeof(key), "%d", port);
    if (!json_object_object_get_ex(lb, "backends", &be) ||
        !json_object_object_get_ex(be, key, &names))
        return;
    for (size_t i = 0; i < alen(names) && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "," : "",
                                json_object_get_string(json_object_array_get_idx(names, i)));
}

static size_t clb_backend_ports(struct env *e)
{
    struct json_object *lb = json_object_array_get_idx(state(e, "clbs"), 0), *be;
    return json_object_object_get_ex(lb, "backends", &be) ? (size_t)json_object_object_length(be)
                                                          : 0;
}

static void classic_proxy_protocol(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    struct json_object *pol, *attrs;
    char names[512], err[128];
    assert_int_equal(env_start(&e, NULL, 4), 0);
    prov_svc_init(&s, "default", "ingress", "d4d4d4d4-2fa1-11d2-883f-0016d3cca427");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_port(&s, "TCP", 443, 30443);
    prov_svc_nodes(&s, 1, 3, aws_pid);
    prov_svc_ann(&s, PP_ANN, "*");
    /* The first attach fails after the policy is made: the next ensure must not re-create it. */
    assert_int_equal(fake_aws_req(&e.f, "POST", "/_fake/fault",
                                  "{\"op\":\"SetLoadBalancerPoliciesForBackendServer\",\"code\":"
                                  "\"InvalidConfigurationRequest\",\"status\":409,\"count\":1}",
                                  NULL),
                     200);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "InvalidConfigurationRequest"));
    /* A restart in between: only what AWS holds is known. */
    P->cleanup(e.ctx);
    assert_int_equal(P->init(e.cfg, CLUSTER, &e.ctx, err, sizeof(err)), LBP_OK);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_count(&e.f, "CreateLoadBalancerPolicy"), 0);
    assert_int_equal(fake_aws_count(&e.f, "SetLoadBalancerPoliciesForBackendServer"), 2);

    pol = json_object_object_get(
        json_object_object_get(json_object_array_get_idx(state(&e, "clbs"), 0), "policies"),
        PP_POLICY);
    assert_non_null(pol);
    assert_string_equal(js(pol, "type"), "ProxyProtocolPolicyType");
    attrs = json_object_object_get(pol, "attrs");
    assert_string_equal(js(attrs, "ProxyProtocol"), "true");
    clb_backend(&e, 30080, names, sizeof(names));
    assert_string_equal(names, PP_POLICY);
    clb_backend(&e, 30443, names, sizeof(names));
    assert_string_equal(names, PP_POLICY);
    assert_int_equal(clb_backend_ports(&e), 2);

    /* Converged: reads only. */
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);

    /* A new NodePort: the policy moves with it, the old port is cleared. */
    s.ports[1].node_port = 31443;
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_count(&e.f, "CreateLoadBalancerPolicy"), 0);
    assert_int_equal(fake_aws_count(&e.f, "SetLoadBalancerPoliciesForBackendServer"), 2);
    clb_backend(&e, 31443, names, sizeof(names));
    assert_string_equal(names, PP_POLICY);
    clb_backend(&e, 30443, names, sizeof(names));
    assert_string_equal(names, "");
    clb_backend(&e, 30080, names, sizeof(names));
    assert_string_equal(names, PP_POLICY);

    /* An invalid value is refused, naming the allowed one, and changes nothing. */
    s.ann[0].value = "true";
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, PP_ANN));
    assert_non_null(strstr(call.err, "*"));
    assert_int_equal(fake_aws_count(&e.f, "SetLoadBalancerPoliciesForBackendServer"), 0);
    assert_int_equal(clb_backend_ports(&e), 2);

    /* Annotation gone: detached from every port. */
    s.n_ann = 0;
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_count(&e.f, "SetLoadBalancerPoliciesForBackendServer"), 2);
    assert_int_equal(clb_backend_ports(&e), 0);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);

    assert_int_equal(P->remove(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(alen(state(&e, "clbs")), 0);
    env_stop(&e);
}

/* ---- errors ---- */

static void bad_credentials_are_auth(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    char err[128];
    assert_int_equal(env_start(&e, NULL, 3), 0);
    P->cleanup(e.ctx);
    setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    assert_int_equal(P->init(e.cfg, CLUSTER, &e.ctx, err, sizeof(err)), LBP_OK);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ping(e.ctx, &call), LBP_AUTH);
    assert_non_null(strstr(call.err, "SignatureDoesNotMatch"));
    /* One request, no retry storm. */
    assert_int_equal(fake_aws_counter(&e.f, "auth_failures"), 1);
    prov_svc_init(&s, "default", "x", "12345678-1234-1234-1234-123456789012");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_nodes(&s, 1, 2, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_AUTH);
    /* An unknown key id is refused with the service's own code. */
    P->cleanup(e.ctx);
    setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
    assert_int_equal(P->init(e.cfg, CLUSTER, &e.ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(P->ping(e.ctx, &call), LBP_AUTH);
    assert_non_null(strstr(call.err, "InvalidClientTokenId"));
    env_stop(&e);
}

static void bad_subnet_and_annotation(void **st)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status status;
    struct lbp_call call = {0};
    assert_int_equal(env_start(&e, NULL, 3), 0);
    prov_svc_init(&s, "default", "y", "22345678-1234-1234-1234-123456789012");
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-type", "nlb");
    prov_svc_ann(&s, "service.beta.kubernetes.io/aws-load-balancer-subnets",
                 "subnet-pub0,subnet-nope");
    prov_svc_port(&s, "TCP", 80, 30080);
    prov_svc_nodes(&s, 1, 2, aws_pid);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "subnet-nope"));
    assert_int_equal(alen(state(&e, "lbs")), 0);
    assert_int_equal(alen(state(&e, "tgs")), 0);
    /* Subnets given by id converge on an existing NLB (SetSubnets). */
    s.ann[1].value = "subnet-pub0";
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(
        alen(json_object_object_get(json_object_array_get_idx(state(&e, "lbs"), 0), "azs")), 1);
    s.ann[1].value = "subnet-pub0,subnet-pub1";
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_int_equal(fake_aws_count(&e.f, "SetSubnets"), 1);
    assert_int_equal(fake_aws_count(&e.f, "CreateLoadBalancer"), 0);
    assert_int_equal(
        alen(json_object_object_get(json_object_array_get_idx(state(&e, "lbs"), 0), "azs")), 2);
    fake_aws_reset_counters(&e.f);
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_OK);
    assert_only_describes(&e);
    s.ann[0].value = "alb";
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "aws-load-balancer-type"));
    assert_non_null(strstr(call.err, "nlb, classic"));
    env_stop(&e);

    /* A configured node security group that does not exist is named. */
    assert_int_equal(env_start(&e, "NodeSecurityGroup = sg-nope", 3), 0);
    s.ann[0].value = "nlb";
    assert_int_equal(P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &status, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "security group"));
    assert_non_null(strstr(call.err, "sg-nope"));
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nlb_create_converge_remove),
        cmocka_unit_test(nlb_tcp_udp_and_tls),
        cmocka_unit_test(nlb_affinity_and_proxy_protocol),
        cmocka_unit_test(nlb_midway_failure_converges),
        cmocka_unit_test(nlb_unattached_groups_swept),
        cmocka_unit_test(nlb_lost_replies_converge),
        cmocka_unit_test(classic_lost_replies_converge),
        cmocka_unit_test(nlb_throttling_and_rate_limit),
        cmocka_unit_test(nlb_eventual_consistency),
        cmocka_unit_test(list_owned_finds_orphans),
        cmocka_unit_test(classic_create_converge_remove),
        cmocka_unit_test(classic_node_rules_quota_and_removal),
        cmocka_unit_test(sg_ingress_disabled),
        cmocka_unit_test(classic_proxy_protocol),
        cmocka_unit_test(bad_credentials_are_auth),
        cmocka_unit_test(bad_subnet_and_annotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
