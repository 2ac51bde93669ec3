/*
 * test_controller_aws.c — the whole path: `lbprov controller --cloud aws`
 * as a real process against the fake API server and fake-aws.
 *
 * One scenario, step by step, each waiting (with a deadline) for the state
 * it expects in the fake cloud and in the Service's status: create (NLB,
 * 3 ports, 5 nodes), port change, node added, source ranges, Local traffic
 * policy, a controller killed and restarted, delete, an orphaned LB cleaned
 * up, and a throttling storm the controller rides out.
 *
 * Needs the controller (cmd/controller.c); without it the test exits 77.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/provider.h"
#include "test/fakes/aws/fake_aws_client.h"
#include "test/integration/ctl_env.h"

#define CLUSTER "lc"
#define WAIT_MS 20000

extern const struct lbp_provider lbp_provider_aws;

static struct ctl_env env;
static struct fake_aws g_aws;

static void stop_aws(void)
{
    fake_aws_stop(&g_aws);
}

static void start_controller(void)
{
    const char *extra[] = {"--cluster-name", CLUSTER, "--orphan-grace-period", "1s",
                           /* the restarted process waits for the killed one's Lease */
                           CTL_SHORT_LEASE_FLAGS, NULL};
    ctl_env_start_controller(&env, extra);
}

static void node(int i)
{
    char name[32], ip[32], pid[64];
    snprintf(name, sizeof(name), "node-%d", i);
    snprintf(ip, sizeof(ip), "10.0.0.%d", i);
    snprintf(pid, sizeof(pid), "aws:///us-east-1a/i-%017d", i);
    ctl_node_full(&env, name, ip, pid, i % 2 ? "\"role\":\"lb\"" : "\"role\":\"app\"");
}

static void service(const char *name, const char *annotations)
{
    ctl_service_full(&env, name, annotations, NULL, NULL);
}

/* ---- conditions ---- */

struct cond {
    const char *svc;
    int want;
    const char *str;
};

static json_object *aws_arr(const char *name)
{
    static json_object *last;
    json_object_put(last);
    last = fake_aws_json(&g_aws, "/_fake/state");
    return jget(last, name);
}

static size_t n_of(const char *arr)
{
    json_object *a = aws_arr(arr);
    return a ? json_object_array_length(a) : 0;
}

/* The Service's ingress hostname equals the one NLB's DNS name. */
static bool has_hostname(void *ctx)
{
    struct cond *c = ctx;
    json_object *s = ctl_svc_get(&env, c->svc), *ing, *lbs;
    bool ok = false;
    ing = jget(jget(jget(s, "status"), "loadBalancer"), "ingress");
    lbs = aws_arr("lbs");
    if (ing && json_object_array_length(ing) && lbs) {
        const char *h = jstr(json_object_array_get_idx(ing, 0), "hostname");
        for (size_t i = 0; i < json_object_array_length(lbs); i++)
            ok = ok || (h[0] && strcmp(h, jstr(json_object_array_get_idx(lbs, i), "dns")) == 0);
    }
    json_object_put(s);
    return ok;
}

static bool listeners_are(void *ctx)
{
    struct cond *c = ctx; /* want: count; str: "port,port,..." that must all exist */
    json_object *ls = aws_arr("listeners");
    char buf[128], *save = NULL;
    if (!ls || (int)json_object_array_length(ls) != c->want)
        return false;
    snprintf(buf, sizeof(buf), "%s", c->str);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool seen = false;
        long want = 0;
        if (lbp_parse_long(t, 1, 65535, &want) != LBP_OK)
            return false;
        for (size_t i = 0; i < json_object_array_length(ls); i++)
            seen =
                seen || json_object_get_int(jget(json_object_array_get_idx(ls, i), "port")) == want;
        if (!seen)
            return false;
    }
    return true;
}

static bool targets_each(void *ctx)
{
    struct cond *c = ctx;
    json_object *tgs = aws_arr("tgs");
    if (!tgs || json_object_array_length(tgs) == 0)
        return false;
    for (size_t i = 0; i < json_object_array_length(tgs); i++)
        if ((int)json_object_array_length(jget(json_object_array_get_idx(tgs, i), "targets")) !=
            c->want)
            return false;
    return true;
}

/* Every target group of Service c->svc has c->want targets. */
static bool svc_targets(void *ctx)
{
    struct cond *c = ctx;
    json_object *tgs = aws_arr("tgs");
    char infix[96];
    int seen = 0;
    snprintf(infix, sizeof(infix), "-%s-", c->svc);
    for (size_t i = 0; tgs && i < json_object_array_length(tgs); i++) {
        json_object *tg = json_object_array_get_idx(tgs, i);
        if (!strstr(jstr(tg, "name"), infix))
            continue;
        seen++;
        if ((int)json_object_array_length(jget(tg, "targets")) != c->want)
            return false;
    }
    return seen > 0;
}

static bool client_rules(void *ctx)
{
    struct cond *c = ctx; /* want rules with cidr c->str carrying the NLB client description */
    json_object *sgs = aws_arr("sgs");
    int n = 0;
    for (size_t i = 0; sgs && i < json_object_array_length(sgs); i++) {
        json_object *rules = jget(json_object_array_get_idx(sgs, i), "rules");
        for (size_t k = 0; rules && k < json_object_array_length(rules); k++) {
            json_object *r = json_object_array_get_idx(rules, k);
            if (strncmp(jstr(r, "desc"), "kubernetes.io/rule/nlb/client=", 30) == 0) {
                if (strcmp(jstr(r, "cidr"), c->str) != 0)
                    return false;
                n++;
            }
        }
    }
    return n == c->want;
}

static bool hc_is_local(void *ctx)
{
    struct cond *c = ctx; /* want: healthCheckNodePort */
    json_object *tgs = aws_arr("tgs");
    char port[16];
    snprintf(port, sizeof(port), "%d", c->want);
    if (!tgs || json_object_array_length(tgs) == 0)
        return false;
    for (size_t i = 0; i < json_object_array_length(tgs); i++) {
        json_object *t = json_object_array_get_idx(tgs, i);
        if (strcmp(jstr(t, "hc_protocol"), "HTTP") || strcmp(jstr(t, "hc_port"), port) ||
            strcmp(jstr(t, "hc_path"), "/healthz"))
            return false;
    }
    return true;
}

/* The second Service's LB exists (its provisioning is under way). */
static bool mid_lb_created(void *ctx)
{
    return fake_aws_count(&g_aws, "CreateLoadBalancer") >= 1;
}

static bool lbs_are(void *ctx)
{
    struct cond *c = ctx;
    return (int)n_of("lbs") == c->want && (c->want || n_of("tgs") == 0);
}

static bool no_lb_named(void *ctx)
{
    struct cond *c = ctx;
    json_object *lbs = aws_arr("lbs");
    for (size_t i = 0; lbs && i < json_object_array_length(lbs); i++)
        if (strcmp(jstr(json_object_array_get_idx(lbs, i), "name"), c->str) == 0)
            return false;
    return true;
}

int main(void)
{
    struct cond c = {0};

#ifndef LBP_HAVE_CONTROLLER
    printf("skipped: this build has no `lbprov controller` (cmd/controller.c)\n");
    return 77;
#endif
    ctl_env_init(&env, NULL);
    CHECK(fake_aws_start(&g_aws, NULL) == 0);
    env.on_fail = stop_aws;
    fake_aws_env(&g_aws); /* inherited by the controller */
    CHECK(fake_aws_seed_cluster(&g_aws, CLUSTER, 8) == 0);
    ctl_env_cloud(&env, "aws",
                  "[Global]\nDefaultLoadBalancerType = nlb\nRetryBaseDelayMs = 20\n"
                  "RetryMaxDelayMs = 200\nQPS = 200\n");
    for (int i = 1; i <= 5; i++)
        node(i);
    start_controller();

    /* Create. */
    service("web", "");
    c.svc = "web";
    CHECK(lbp_test_poll(has_hostname, &c, WAIT_MS));
    CHECK(n_of("lbs") == 1 && n_of("tgs") == 3);
    c.want = 3;
    c.str = "80,443,9000";
    CHECK(lbp_test_poll(listeners_are, &c, WAIT_MS));
    c.want = 5;
    CHECK(lbp_test_poll(targets_each, &c, WAIT_MS));

    /* Port change: 80 -> 8080. */
    CHECK(ctl_svc_port(&env, "web", 80, 8080) == 200);
    c.want = 3;
    c.str = "8080,443,9000";
    CHECK(lbp_test_poll(listeners_are, &c, WAIT_MS));

    /* Node added. */
    node(6);
    c.want = 6;
    CHECK(lbp_test_poll(targets_each, &c, WAIT_MS));

    /* target-node-labels: only the role=lb nodes (1, 3, 5 of 6) are targets. */
    {
        struct cond p = {.svc = "picky", .want = 3};
        struct cond n = {.want = (int)n_of("lbs")};
        service("picky", "\"service.beta.kubernetes.io/aws-load-balancer-target-node-labels\":"
                         "\"role=lb\"");
        CHECK(lbp_test_poll(svc_targets, &p, WAIT_MS));
        CHECK(ctl_svc_delete(&env, "picky") == 200);
        CHECK(lbp_test_poll(lbs_are, &n, WAIT_MS));
    }

    /* Source ranges. */
    CHECK(ctl_svc_set(&env, "web", "loadBalancerSourceRanges",
                      json_tokener_parse("[\"203.0.113.0/24\"]")) == 200);
    c.want = 3;
    c.str = "203.0.113.0/24";
    CHECK(lbp_test_poll(client_rules, &c, WAIT_MS));

    /* Local traffic policy: HTTP /healthz on the health-check node port. */
    c.want = ctl_svc_local(&env, "web");
    CHECK(c.want > 0);
    CHECK(lbp_test_poll(hc_is_local, &c, WAIT_MS));

    /*
     * A crash in the middle of provisioning a second Service (the cloud slowed
     * down so the kill lands between its calls), a node added while the
     * controller is down, a restart: both converge without duplicates.
     */
    CHECK(fake_aws_req(&g_aws, "POST", "/_fake/config", "{\"latency_ms\":40}", NULL) == 200);
    fake_aws_reset_counters(&g_aws);
    service("mid", "");
    CHECK(lbp_test_poll(mid_lb_created, NULL, WAIT_MS));
    ctl_env_end_controller(&env, SIGKILL);
    CHECK(n_of("listeners") < 6); /* killed before "mid" was complete */
    CHECK(fake_aws_req(&g_aws, "POST", "/_fake/config", "{\"latency_ms\":0}", NULL) == 200);
    node(7);
    start_controller();
    c.svc = "mid";
    CHECK(lbp_test_poll(has_hostname, &c, WAIT_MS));
    c.want = 7;
    CHECK(lbp_test_poll(targets_each, &c, WAIT_MS));
    CHECK(n_of("lbs") == 2 && n_of("tgs") == 6);
    c.want = 6;
    c.str = "8080,443,9000,80";
    CHECK(lbp_test_poll(listeners_are, &c, WAIT_MS));

    /* Delete: everything goes, with the groups "in use" for a while. */
    CHECK(fake_aws_req(&g_aws, "POST", "/_fake/fault",
                       "{\"op\":\"DeleteTargetGroup\",\"code\":\"ResourceInUse\",\"count\":2}",
                       NULL) == 200);
    CHECK(ctl_svc_delete(&env, "web") == 200);
    CHECK(ctl_svc_delete(&env, "mid") == 200);
    c.want = 0;
    CHECK(lbp_test_poll(lbs_are, &c, WAIT_MS));
    CHECK(n_of("listeners") == 0);

    /* An orphan: an LB tagged for this cluster whose Service does not exist. */
    {
        struct lbp_lb_annotation ann[1] = {
            {"service.beta.kubernetes.io/aws-load-balancer-type", "nlb"}};
        char ghost[LBP_LB_NAME_LEN + 1];
        CHECK(ctl_make_orphan(&lbp_provider_aws, env.cloud_conf, CLUSTER,
                              "aws:///us-east-1a/i-00000000000000001", ann, 1, ghost) == LBP_OK);
        c.str = ghost;
        CHECK(!no_lb_named(&c));
        /* Restart so the orphan scan runs at start-up. */
        ctl_env_end_controller(&env, SIGTERM);
        start_controller();
        CHECK(lbp_test_poll(no_lb_named, &c, 30000));
    }

    /* A throttling storm: the next 8 ELBv2 and 4 EC2 calls are refused, then served. */
    fake_aws_reset_counters(&g_aws);
    CHECK(fake_aws_req(&g_aws, "POST", "/_fake/fault",
                       "{\"service\":\"elbv2\",\"code\":\"Throttling\",\"count\":8}", NULL) == 200);
    CHECK(fake_aws_req(&g_aws, "POST", "/_fake/fault",
                       "{\"service\":\"ec2\",\"code\":\"RequestLimitExceeded\",\"status\":503,"
                       "\"count\":4}",
                       NULL) == 200);
    service("storm", "");
    c.svc = "storm";
    CHECK(lbp_test_poll(has_hostname, &c, 30000));
    CHECK(fake_aws_counter(&g_aws, "throttled") == 12);
    CHECK(n_of("lbs") == 1);

    CHECK(ctl_env_stop(&env) == 0);
    fake_aws_stop(&g_aws);
    printf("ok\n");
    return 0;
}
