/*
 * test_controller_refusals.c — what lbprov cannot apply is refused with a
 * Warning Event naming the field, through the fake API server and
 * `lbprov controller --cloud mock`; it never becomes something weaker. A
 * source-range annotation with more CIDRs than the cloud applies, or with
 * an empty entry, gets no load balancer (not one open to everyone); one
 * that grows that way leaves the existing LB as it was. An annotation over
 * the API server's 256 KiB total is refused by the server itself. 100 ports
 * (the mock has at most 64 listeners) and loadBalancerIP 999.1.2.3 are
 * refused too, and growing to 100 ports leaves the LB as it was.
 */
#include "test/integration/ctl_env.h"
#include "common/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct ctl_env env;

#define SVC_PATH "/api/v1/namespaces/default/services/"
#define RANGES_ANN "service.beta.kubernetes.io/load-balancer-source-ranges"

/* n comma-separated distinct CIDRs into b. */
static void add_cidrs(struct lbp_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(lbp_buf_addf(b, "%s10.%d.%d.0/24", i ? "," : "", (i / 256) % 256, i % 256) == 0);
}

/* POST a Service with the source-range annotation; returns the HTTP status. */
static long create_annotated(const char *name, int port, const char *ranges)
{
    struct lbp_buf b;
    long code;
    lbp_buf_init(&b, 4 << 20);
    CHECK(lbp_buf_addf(&b,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                       "\"%s\",\"namespace\":\"default\",\"annotations\":{\"" RANGES_ANN
                       "\":\"%s\"}},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"name\":"
                       "\"p\",\"protocol\":\"TCP\",\"port\":%d}],\"selector\":{\"app\":\"%s\"}}}",
                       name, ranges, port, name) == 0);
    code = ctl_api(&env, "POST", "/api/v1/namespaces/default/services", b.data, NULL);
    lbp_buf_free(&b);
    return code;
}

/* The mock LB's source ranges joined with ',' ("" for none; "-" when there is no LB). */
static void lb_ranges(const char *key, char *out, size_t len)
{
    json_object *lb = ctl_cloud_lb(&env, key), *rs = NULL;
    size_t off = 0;
    snprintf(out, len, "%s", lb ? "" : "-");
    if (lb && json_object_object_get_ex(lb, "sourceRanges", &rs))
        for (size_t i = 0; i < json_object_array_length(rs) && off < len; i++)
            off += (size_t)snprintf(out + off, len - off, "%s%s", i ? "," : "",
                                    json_object_get_string(json_object_array_get_idx(rs, i)));
    json_object_put(lb);
}

/* '"ports":[...]' with n ports from first. */
static void add_ports(struct lbp_buf *b, int first, int n)
{
    CHECK(lbp_buf_adds(b, "\"ports\":[") == 0);
    for (int i = 0; i < n; i++)
        CHECK(lbp_buf_addf(b, "%s{\"name\":\"p%d\",\"protocol\":\"TCP\",\"port\":%d}", i ? "," : "",
                           i, first + i) == 0);
    CHECK(lbp_buf_adds(b, "]") == 0);
}

/* POST a Service with n ports and spec_extra ("" or '"field":value,'). */
static void create_ports(const char *name, int n, const char *spec_extra)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 1 << 20);
    CHECK(lbp_buf_addf(&b,
                       "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                       "\"%s\",\"namespace\":\"default\"},\"spec\":{\"type\":\"LoadBalancer\","
                       "%s",
                       name, spec_extra) == 0);
    add_ports(&b, 1000, n);
    CHECK(lbp_buf_adds(&b, "}}") == 0);
    CHECK(ctl_api(&env, "POST", "/api/v1/namespaces/default/services", b.data, NULL) == 201);
    lbp_buf_free(&b);
}

/* The number of listeners of the mock LB, or -1. */
static int lb_listeners(const char *key)
{
    json_object *lb = ctl_cloud_lb(&env, key), *ls = NULL;
    int n = lb && json_object_object_get_ex(lb, "listeners", &ls)
                ? (int)json_object_array_length(ls)
                : -1;
    json_object_put(lb);
    return n;
}

static bool event_says(const char *name, const char *a, const char *b)
{
    char msg[1024] = "";
    return ctl_events(&env, name, "SyncLoadBalancerFailed", msg, sizeof(msg)) > 0 &&
           strstr(msg, a) && (!b || strstr(msg, b));
}

int main(void)
{
    struct lbp_buf b;
    char ranges[256];

    ctl_env_init(&env, NULL);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_env_start_controller(&env, NULL);

    /* 200 KiB of CIDRs, within the API server's limit: more than the cloud applies */
    lbp_buf_init(&b, 4 << 20);
    add_cidrs(&b, 14000);
    CHECK(b.len > (190u << 10) && b.len < (250u << 10));
    CHECK(create_annotated("ann-big", 80, b.data) == 201);
    /* an empty entry */
    CHECK(create_annotated("ann-empty", 81, ",") == 201);
    CHECK(create_annotated("ann-gap", 82, "10.0.0.0/8,,192.168.0.0/16") == 201);
    /* one that starts small */
    CHECK(create_annotated("ann-grow", 83, "10.0.0.0/8") == 201);

    CHECK(WAIT_FOR(15000, event_says("ann-big", "annotation " RANGES_ANN, "14000 source ranges")));
    CHECK(WAIT_FOR(15000, event_says("ann-empty", "annotation " RANGES_ANN, "invalid CIDR \"\"")));
    CHECK(WAIT_FOR(15000, event_says("ann-gap", "annotation " RANGES_ANN, "invalid CIDR \"\"")));
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "ann-grow")));
    lb_ranges("default/ann-grow", ranges, sizeof(ranges));
    CHECK(strcmp(ranges, "10.0.0.0/8") == 0);

    /* ann-grow's annotation grows past what the cloud applies: refused, LB as it was */
    lbp_buf_reset(&b);
    CHECK(lbp_buf_adds(&b, "{\"metadata\":{\"annotations\":{\"" RANGES_ANN "\":\"") == 0);
    add_cidrs(&b, 14000);
    CHECK(lbp_buf_adds(&b, "\"}}}") == 0);
    CHECK(ctl_api(&env, "PATCH", SVC_PATH "ann-grow", b.data, NULL) == 200);
    CHECK(WAIT_FOR(15000, event_says("ann-grow", "annotation " RANGES_ANN, "at most 64")));
    lb_ranges("default/ann-grow", ranges, sizeof(ranges));
    CHECK(strcmp(ranges, "10.0.0.0/8") == 0);
    CHECK(ctl_has_ingress(&env, "ann-grow"));

    /* 1 MiB: the API server refuses it (annotations total at most 256 KiB) */
    lbp_buf_reset(&b);
    add_cidrs(&b, 80000);
    CHECK(b.len > (1u << 20));
    CHECK(create_annotated("ann-mib", 84, b.data) == 422);
    lbp_buf_free(&b);

    /* 100 ports, an impossible loadBalancerIP, and a Service that grows to 100 ports */
    create_ports("ports100", 100, "");
    create_ports("badip", 1, "\"loadBalancerIP\":\"999.1.2.3\",");
    create_ports("ports-grow", 1, "");
    CHECK(WAIT_FOR(15000, event_says("ports100", "spec.ports", "at most 64 listeners")));
    CHECK(WAIT_FOR(15000, event_says("badip", "spec.loadBalancerIP", "999.1.2.3")));
    CHECK(WAIT_FOR(15000, ctl_has_ingress(&env, "ports-grow")));
    CHECK(lb_listeners("default/ports-grow") == 1);
    lbp_buf_init(&b, 1 << 20);
    CHECK(lbp_buf_adds(&b, "{\"spec\":{") == 0);
    add_ports(&b, 2000, 100);
    CHECK(lbp_buf_adds(&b, "}}") == 0);
    CHECK(ctl_api(&env, "PATCH", SVC_PATH "ports-grow", b.data, NULL) == 200);
    lbp_buf_free(&b);
    CHECK(WAIT_FOR(15000, event_says("ports-grow", "spec.ports", "at most 64 listeners")));
    CHECK(lb_listeners("default/ports-grow") == 1);
    CHECK(ctl_has_ingress(&env, "ports-grow"));
    CHECK(ctl_lb_missing(&env, "default/ports100"));
    CHECK(ctl_lb_missing(&env, "default/badip"));
    CHECK(!ctl_has_ingress(&env, "ports100") && !ctl_has_ingress(&env, "badip"));
    CHECK(!ctl_has_finalizer(&env, "badip"));

    /*
     * None of the refused Services got an LB or an address. Those refused
     * before any cloud call have no finalizer either; the cloud's refusal
     * comes after the finalizer, which upstream also writes first.
     */
    static const char *const refused[] = {"ann-big", "ann-empty", "ann-gap"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "default/%s", refused[i]);
        CHECK(ctl_lb_missing(&env, key));
        CHECK(!ctl_has_ingress(&env, refused[i]));
        CHECK(i == 0 || !ctl_has_finalizer(&env, refused[i]));
    }
    CHECK(ctl_cloud_lb_count(&env) == 2); /* ann-grow and ports-grow */

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
