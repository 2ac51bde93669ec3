/*
 * test_provider_nodes.c — providerID parsing, the node → instance cache
 * with its TTL, the target-set diff and the Kubernetes health-check
 * defaults (provider/nodes.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "provider/nodes.h"

static void provider_ids(void **st)
{
    struct lbp_provider_id id;
    assert_int_equal(lbp_provider_id_parse("aws:///us-east-1a/i-0abc", "aws", &id), LBP_OK);
    assert_string_equal(id.host, "");
    assert_int_equal(id.n_seg, 2);
    assert_string_equal(id.seg[0], "us-east-1a");
    assert_string_equal(lbp_provider_id_last(&id), "i-0abc");
    assert_int_equal(lbp_provider_id_parse("gce://my-proj/us-central1-b/node-1", "gce", &id),
                     LBP_OK);
    assert_string_equal(id.host, "my-proj");
    assert_string_equal(id.seg[0], "us-central1-b");
    assert_string_equal(lbp_provider_id_last(&id), "node-1");
    assert_int_equal(
        lbp_provider_id_parse("azure:///subscriptions/s/resourceGroups/rg/providers/"
                              "Microsoft.Compute/virtualMachines/vm-0",
                              "azure", &id),
        LBP_OK);
    assert_int_equal(id.n_seg, 8);
    assert_string_equal(lbp_provider_id_last(&id), "vm-0");
    assert_int_equal(lbp_provider_id_parse("gce://p/z/n", "aws", &id), LBP_INVALID);
    assert_int_equal(lbp_provider_id_parse("aws://", "aws", &id), LBP_INVALID);
    assert_int_equal(lbp_provider_id_parse("", "aws", &id), LBP_NOT_FOUND);
    assert_int_equal(lbp_provider_id_parse("awsx:///a/b", "aws", &id), LBP_INVALID);
}

struct inst {
    char id[16];
    int zone;
};

static void cache_ttl(void **st)
{
    struct lbp_node_cache *c;
    struct inst a = {"i-1", 3}, got = {"", 0};
    assert_int_equal(lbp_node_cache_new(sizeof(struct inst), 300, &c), LBP_OK);
    assert_false(lbp_node_cache_get(c, "i-1", &got));
    assert_int_equal(lbp_node_cache_put(c, "i-1", &a), LBP_OK);
    assert_true(lbp_node_cache_get(c, "i-1", &got));
    assert_string_equal(got.id, "i-1");
    assert_int_equal(got.zone, 3);
    a.zone = 4; /* a copy was kept, not the caller's struct */
    assert_true(lbp_node_cache_get(c, "i-1", &got));
    assert_int_equal(got.zone, 3);
    assert_int_equal(lbp_node_cache_put(c, "i-1", &a), LBP_OK);
    assert_int_equal(lbp_node_cache_count(c), 1);
    assert_true(lbp_node_cache_get(c, "i-1", &got));
    assert_int_equal(got.zone, 4);
    lbp_node_cache_set_ttl(c, 0); /* everything is now too old */
    assert_false(lbp_node_cache_get(c, "i-1", &got));
    lbp_node_cache_free(c);
}

struct tgt {
    char id[8];
    int port;
    int draining;
};

static bool m(const void *h, const void *w, void *ud)
{
    const struct tgt *a = h, *b = w;
    return strcmp(a->id, b->id) == 0 && a->port == b->port;
}

static bool ign(const void *h, void *ud)
{
    return ((const struct tgt *)h)->draining;
}

static void target_diff(void **st)
{
    struct tgt have[] = {{"a", 80, 0}, {"b", 80, 0}, {"c", 80, 1}, {"d", 81, 0}};
    struct tgt want[] = {{"a", 80, 0}, {"c", 80, 0}, {"e", 80, 0}, {"e", 80, 0}};
    struct lbp_diff_ops ops = {.match = m, .ignore = ign, .same_want = m};
    size_t *add, *del, na, nd;
    assert_int_equal(lbp_target_diff(have, 4, sizeof(*have), want, 4, sizeof(*want), &ops, NULL,
                                     &add, &na, &del, &nd),
                     LBP_OK);
    /* c is draining: it does not count as present, so it is added again; e once */
    assert_int_equal(na, 2);
    assert_int_equal(add[0], 1);
    assert_int_equal(add[1], 2);
    /* b and d (wrong port) go; draining c is left alone */
    assert_int_equal(nd, 2);
    assert_int_equal(del[0], 1);
    assert_int_equal(del[1], 3);
    free(add);
    free(del);
    ops.same_want = NULL;
    ops.ignore = NULL;
    assert_int_equal(lbp_target_diff(have, 4, sizeof(*have), want, 4, sizeof(*want), &ops, NULL,
                                     &add, &na, &del, &nd),
                     LBP_OK);
    assert_int_equal(na, 2); /* e twice */
    assert_int_equal(nd, 2); /* b, d; c matches */
    free(add);
    free(del);
    assert_int_equal(lbp_target_diff(NULL, 0, sizeof(*have), NULL, 0, sizeof(*want), &ops, NULL,
                                     &add, &na, &del, &nd),
                     LBP_OK);
    assert_int_equal(na + nd, 0);
    free(add);
    free(del);
}

static void health_checks(void **st)
{
    struct lbp_lb_spec spec = {0};
    struct lbp_health_check hc;
    spec.health_check_node_port = 31234;
    /* Cluster: kube-proxy's own health port */
    assert_false(lbp_health_check_kube(&spec, &hc));
    assert_int_equal(hc.port, 10256);
    assert_string_equal(hc.path, "/healthz");
    assert_string_equal(hc.protocol, "HTTP");
    assert_int_equal(hc.interval_s, 8);
    assert_int_equal(hc.timeout_s, 1);
    assert_int_equal(hc.healthy, 1);
    assert_int_equal(hc.unhealthy, 3);
    /* Local: the Service's healthCheckNodePort */
    spec.local_traffic = true;
    assert_true(lbp_health_check_kube(&spec, &hc));
    assert_int_equal(hc.port, 31234);
    assert_string_equal(hc.path, "/healthz");
    /* Local without a port allocated yet falls back to kube-proxy's */
    spec.health_check_node_port = 0;
    assert_false(lbp_health_check_kube(&spec, &hc));
    assert_int_equal(hc.port, 10256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(provider_ids),
        cmocka_unit_test(cache_ttl),
        cmocka_unit_test(target_diff),
        cmocka_unit_test(health_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
