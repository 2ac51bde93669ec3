/* test_reconcile_desired.c — Service → spec, the sync hash, validation, node eligibility. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reconcile/reconcile_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct lbp_service *svc_from(const char *json)
{
    void *o = NULL;
    assert_int_equal(lbp_kube_decode(LBP_KIND_SERVICE, json, strlen(json), &o), LBP_OK);
    return o;
}

static struct lbp_node *node_from(const char *json)
{
    void *o = NULL;
    assert_int_equal(lbp_kube_decode(LBP_KIND_NODE, json, strlen(json), &o), LBP_OK);
    return o;
}

#define SVC(extra_meta, spec, status)                                                              \
    "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","                  \
    "\"namespace\":\"default\",\"uid\":\"0b2c6c1e-1111-2222-3333-444455556666\","                  \
    "\"resourceVersion\":\"5\"" extra_meta "},\"spec\":{" spec "},\"status\":{" status "}}"

#define PORTS                                                                                      \
    "\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"nodePort\":30080,"           \
    "\"targetPort\":8080}]"
/* One ports[] entry: protocol, port and nodePort. */
#define PORT(proto, port, node_port)                                                               \
    "{\"protocol\":\"" proto "\",\"port\":" #port ",\"nodePort\":" #node_port "}"

static void test_handled_and_hash(void **state)
{
    struct lbp_service *a = svc_from(SVC("", "\"type\":\"LoadBalancer\"," PORTS, ""));
    struct lbp_service *b =
        svc_from(SVC(",\"finalizers\":[\"service.kubernetes.io/load-balancer-cleanup\"]",
                     "\"type\":\"LoadBalancer\"," PORTS,
                     "\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.1\"}]}"));
    struct lbp_service *c =
        svc_from(SVC("", "\"type\":\"LoadBalancer\",\"ports\":[" PORT("TCP", 81, 30080) "]", ""));
    struct lbp_service *foreign =
        svc_from(SVC("", "\"type\":\"LoadBalancer\",\"loadBalancerClass\":\"other\"," PORTS, ""));
    struct lbp_service *cip = svc_from(SVC("", "\"type\":\"ClusterIP\"," PORTS, ""));
    (void)state;
    assert_true(lbp_service_handled(a, NULL));
    assert_false(lbp_service_handled(foreign, NULL));
    assert_false(lbp_service_handled(foreign, "mine"));
    assert_true(lbp_service_handled(foreign, "other"));
    assert_false(lbp_service_handled(cip, NULL));
    /* our own status and finalizer writes do not change the hash */
    assert_true(lbp_service_hash(a) == lbp_service_hash(b));
    assert_true(lbp_service_hash(a) != lbp_service_hash(c));
    assert_true(lbp_service_hash(a) != lbp_service_hash(cip));
    assert_true(lbp_ingress_hash_service(a) != lbp_ingress_hash_service(b));
    struct lbp_lb_status st = {0};
    snprintf(st.ingress[0].ip, sizeof(st.ingress[0].ip), "203.0.113.1");
    st.n_ingress = 1;
    assert_true(lbp_ingress_equal(b, &st));
    assert_false(lbp_ingress_equal(a, &st));
    assert_true(lbp_ingress_hash_status(&st) == lbp_ingress_hash_service(b));
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(c);
    lbp_kube_obj_unref(foreign);
    lbp_kube_obj_unref(cip);
}

static void test_desired_and_ranges(void **state)
{
    struct lbp_service *s =
        svc_from(SVC(",\"annotations\":{\"service.beta.kubernetes.io/load-balancer-source-ranges\":"
                     "\"10.0.0.0/8, 192.168.0.0/16\"}",
                     "\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"Local\","
                     "\"healthCheckNodePort\":32000," PORTS,
                     ""));
    struct lbp_service *both = svc_from(
        SVC(",\"annotations\":{\"service.beta.kubernetes.io/load-balancer-source-ranges\":"
            "\"10.0.0.0/8\"}",
            "\"type\":\"LoadBalancer\",\"loadBalancerSourceRanges\":[\"1.2.3.0/24\"]," PORTS, ""));
    struct lbp_desired d;
    char msg[256];
    (void)state;
    assert_int_equal(lbp_desired_build(s, NULL, "kubernetes", &d), LBP_OK);
    assert_string_equal(d.spec.lb_name, "a0b2c6c1e11112222333344445555666");
    assert_int_equal(strlen(d.spec.lb_name), 32);
    assert_int_equal(d.spec.n_source_ranges, 2);
    assert_string_equal(d.spec.source_ranges[1], "192.168.0.0/16");
    assert_true(d.spec.local_traffic);
    assert_int_equal(d.spec.health_check_node_port, 32000);
    assert_int_equal(d.spec.n_ports, 1);
    assert_int_equal(d.spec.ports[0].node_port, 30080);
    assert_int_equal(lbp_validate(s, &d, LBP_CAP_TCP | LBP_CAP_SOURCE_RANGES, msg, sizeof(msg)),
                     LBP_OK);
    lbp_desired_free(&d);
    assert_int_equal(lbp_desired_build(both, NULL, "kubernetes", &d), LBP_OK);
    assert_int_equal(d.spec.n_source_ranges, 1);
    assert_string_equal(d.spec.source_ranges[0], "1.2.3.0/24"); /* the spec field wins */
    lbp_desired_free(&d);
    lbp_kube_obj_unref(s);
    lbp_kube_obj_unref(both);
}

/* The source-range annotation with value v (built at run time: it may be large). */
static struct lbp_service *svc_ranges_annotation(const char *v)
{
    size_t cap = strlen(v) + 1024;
    char *j = malloc(cap);
    assert_non_null(j);
    snprintf(j, cap,
             SVC(",\"annotations\":{\"service.beta.kubernetes.io/load-balancer-source-ranges\":"
                 "\"%s\"}",
                 "\"type\":\"LoadBalancer\"," PORTS, ""),
             v);
    struct lbp_service *s = svc_from(j);
    free(j);
    return s;
}

/*
 * A restriction never becomes no restriction: an empty entry in the
 * annotation is refused (not skipped into "no ranges"), a very large one is
 * kept whole, and where the ranges came from is named for the provider.
 */
static void test_ranges_fail_closed(void **state)
{
    unsigned caps = LBP_CAP_TCP | LBP_CAP_SOURCE_RANGES;
    static const char *const refused[] = {",", "10.0.0.0/8,,", " , ", "10.0.0.0/8, ,1.2.3.0/24",
                                          ",10.0.0.0/8"};
    struct lbp_desired d;
    char msg[256];
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct lbp_service *s = svc_ranges_annotation(refused[i]);
        assert_int_equal(lbp_desired_build(s, NULL, "k", &d), LBP_OK);
        assert_true(d.spec.n_source_ranges > 0);
        if (lbp_validate(s, &d, caps, msg, sizeof(msg)) != LBP_INVALID)
            fail_msg("annotation \"%s\" accepted with %zu ranges", refused[i],
                     d.spec.n_source_ranges);
        assert_non_null(strstr(msg, "annotation service.beta.kubernetes.io/"
                                    "load-balancer-source-ranges entry "));
        assert_non_null(strstr(msg, "invalid CIDR \"\""));
        lbp_desired_free(&d);
        lbp_kube_obj_unref(s);
    }
    /* only spaces: no restriction, as upstream */
    struct lbp_service *s = svc_ranges_annotation("  ");
    assert_int_equal(lbp_desired_build(s, NULL, "k", &d), LBP_OK);
    assert_int_equal(d.spec.n_source_ranges, 0);
    lbp_desired_free(&d);
    lbp_kube_obj_unref(s);

    /* 1 MiB of CIDRs: every one of them reaches the provider, with the field named */
    size_t n = (1u << 20) / 14 + 1, len = 0;
    char *v = malloc(n * 16);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(v + len, n * 16 - len, "%s10.%zu.%zu.0/24", i ? "," : "",
                                (i / 256) % 256, i % 256);
    assert_true(len >= (1u << 20));
    s = svc_ranges_annotation(v);
    free(v);
    assert_int_equal(lbp_desired_build(s, NULL, "k", &d), LBP_OK);
    assert_int_equal(d.spec.n_source_ranges, n);
    assert_string_equal(d.spec.source_ranges_field,
                        "annotation service.beta.kubernetes.io/load-balancer-source-ranges");
    assert_int_equal(lbp_validate(s, &d, caps, msg, sizeof(msg)), LBP_OK);
    lbp_desired_free(&d);
    lbp_kube_obj_unref(s);

    /* an over-long entry is named without being copied whole */
    v = malloc(4096);
    assert_non_null(v);
    memset(v, '1', 4095);
    v[4095] = '\0';
    s = svc_ranges_annotation(v);
    free(v);
    assert_int_equal(lbp_desired_build(s, NULL, "k", &d), LBP_OK);
    assert_int_equal(lbp_validate(s, &d, caps, msg, sizeof(msg)), LBP_INVALID);
    assert_non_null(strstr(msg, "...\""));
    lbp_desired_free(&d);
    lbp_kube_obj_unref(s);
}

/*
 * s builds but fails validation under caps with a message naming want (and
 * want2 when given); under ok_caps (when not 0) the same desired state passes.
 * Drops s.
 */
static void refused(struct lbp_service *s, unsigned caps, const char *want, const char *want2,
                    unsigned ok_caps)
{
    struct lbp_desired d;
    char msg[256];
    assert_int_equal(lbp_desired_build(s, NULL, "k", &d), LBP_OK);
    assert_int_equal(lbp_validate(s, &d, caps, msg, sizeof(msg)), LBP_INVALID);
    assert_non_null(strstr(msg, want));
    if (want2)
        assert_non_null(strstr(msg, want2));
    if (ok_caps)
        assert_int_equal(lbp_validate(s, &d, ok_caps, msg, sizeof(msg)), LBP_OK);
    lbp_desired_free(&d);
    lbp_kube_obj_unref(s);
}

static void test_validate(void **state)
{
    unsigned caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_SOURCE_RANGES | LBP_CAP_NEEDS_NODEPORTS;
    (void)state;
    assert_true(lbp_cidr_valid("10.0.0.0/8"));
    assert_true(lbp_cidr_valid("2001:db8::/32"));
    assert_false(lbp_cidr_valid("10.0.0.0"));
    assert_false(lbp_cidr_valid("10.0.0.0/x"));
    assert_false(lbp_cidr_valid("2001:db8::/129"));
    refused(
        svc_from(SVC(
            "", "\"type\":\"LoadBalancer\",\"loadBalancerSourceRanges\":[\"10.0.0.0/33\"]," PORTS,
            "")),
        caps, "spec.loadBalancerSourceRanges", "10.0.0.0/33", 0);
    refused(svc_from(SVC(",\"annotations\":{\"service.beta.kubernetes.io/"
                         "load-balancer-source-ranges\":\"nope\"}",
                         "\"type\":\"LoadBalancer\"," PORTS, "")),
            caps, "load-balancer-source-ranges", NULL, 0);
    /* TCP and UDP on one Service */
    refused(svc_from(SVC("",
                         "\"type\":\"LoadBalancer\",\"ports\":[" PORT("TCP", 53, 30053) "," PORT(
                             "UDP", 53, 30054) "]",
                         "")),
            caps, "mixed", NULL, caps | LBP_CAP_MIXED_PROTOCOLS);
    refused(
        svc_from(SVC("", "\"type\":\"LoadBalancer\",\"ports\":[" PORT("SCTP", 9, 30009) "]", "")),
        caps, "SCTP", NULL, 0);
    refused(svc_from(SVC("",
                         "\"type\":\"LoadBalancer\",\"allocateLoadBalancerNodePorts\":false,"
                         "\"ports\":[{\"protocol\":\"TCP\",\"port\":80}]",
                         "")),
            caps, "nodePort", NULL, caps & ~LBP_CAP_NEEDS_NODEPORTS);
}

#define NODE(name, labels, extra, ready)                                                           \
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"" name "\","                \
    "\"uid\":\"u-" name "\",\"labels\":{" labels "}},\"spec\":{\"providerID\":\"mock://" name      \
    "\"" extra "},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0." name  \
    "\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"" ready "\"}]}}"

static void test_nodes(void **state)
{
    struct lbp_node *n[6];
    struct lbp_nodeset *s, *s2;
    (void)state;
    n[0] = node_from(NODE("3", "", "", "True"));
    n[1] = node_from(NODE("1", "", "", "False"));
    n[2] = node_from(
        NODE("2", "\"node.kubernetes.io/exclude-from-external-load-balancers\":\"\"", "", "True"));
    n[3] = node_from(NODE(
        "4", "\"node.kubernetes.io/exclude-from-external-load-balancers\":\"false\"", "", "True"));
    n[4] = node_from(NODE("5", "",
                          ",\"taints\":[{\"key\":\"ToBeDeletedByClusterAutoscaler\","
                          "\"effect\":\"NoSchedule\"}]",
                          "True"));
    n[5] = node_from(NODE(
        "6", "\"node.kubernetes.io/exclude-from-external-load-balancers\":\"true\"", "", "True"));
    assert_true(lbp_node_eligible(n[0], true));
    assert_true(lbp_node_eligible(n[1], false));
    assert_false(lbp_node_eligible(n[1], true));
    assert_false(lbp_node_eligible(n[2], false));
    assert_true(lbp_node_eligible(n[3], false));
    assert_false(lbp_node_eligible(n[4], false));
    assert_false(lbp_node_eligible(n[5], false));
    s = lbp_nodeset_build((void *const *)n, 6, false);
    assert_int_equal(s->n, 3);
    assert_string_equal(s->nodes[0].name, "1"); /* sorted */
    assert_string_equal(s->nodes[1].name, "3");
    assert_string_equal(s->nodes[2].internal_ip, "10.0.0.4");
    assert_string_equal(s->nodes[2].provider_id, "mock://4");
    s2 = lbp_nodeset_build((void *const *)n, 6, true);
    assert_int_equal(s2->n, 2);
    assert_true(s->hash != s2->hash);
    lbp_nodeset_unref(s2);
    s2 = lbp_nodeset_build((void *const *)n, 6, false);
    assert_true(s->hash == s2->hash);
    lbp_nodeset_unref(s2);
    lbp_nodeset_unref(s);
    for (int i = 0; i < 6; i++)
        lbp_kube_obj_unref(n[i]);
}

/* Node labels reach the provider (AWS target-node-labels) but, as upstream, do not re-sync. */
static void test_node_labels(void **state)
{
    struct lbp_node *a = node_from(NODE("1", "\"role\":\"lb\",\"zone\":\"a\"", "", "True"));
    struct lbp_node *b = node_from(NODE("1", "\"role\":\"db\"", "", "True"));
    struct lbp_node *c = node_from(NODE("2", "", "", "True"));
    struct lbp_node *ac[] = {a, c}, *bc[] = {b, c};
    struct lbp_nodeset *sa = lbp_nodeset_build((void *const *)ac, 2, false);
    struct lbp_nodeset *sb = lbp_nodeset_build((void *const *)bc, 2, false);
    (void)state;
    assert_int_equal(sa->nodes[0].n_labels, 2);
    const char *role = NULL, *zone = NULL;
    for (size_t i = 0; i < sa->nodes[0].n_labels; i++) {
        if (strcmp(sa->nodes[0].labels[i].key, "role") == 0)
            role = sa->nodes[0].labels[i].value;
        if (strcmp(sa->nodes[0].labels[i].key, "zone") == 0)
            zone = sa->nodes[0].labels[i].value;
    }
    assert_string_equal(role, "lb");
    assert_string_equal(zone, "a");
    assert_int_equal(sa->nodes[1].n_labels, 0);
    assert_null(sa->nodes[1].labels);
    assert_string_equal(sb->nodes[0].labels[0].value, "db");
    assert_true(sa->hash == sb->hash); /* a relabel alone is no node-set change */
    lbp_nodeset_unref(sa);
    lbp_nodeset_unref(sb);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(c);
}

/* Labels and selector reach the spec; the selector digest ignores order. */
static void test_labels_and_selector(void **state)
{
    struct lbp_service *a = svc_from(SVC(",\"labels\":{\"tier\":\"web\"}",
                                         "\"type\":\"LoadBalancer\",\"selector\":{\"app\":\"x\","
                                         "\"role\":\"db\"}," PORTS,
                                         ""));
    struct lbp_service *b = svc_from(SVC("",
                                         "\"type\":\"LoadBalancer\",\"selector\":{\"role\":"
                                         "\"db\",\"app\":\"x\"}," PORTS,
                                         ""));
    struct lbp_service *c = svc_from(SVC("",
                                         "\"type\":\"LoadBalancer\",\"selector\":{\"app\":"
                                         "\"y\",\"role\":\"db\"}," PORTS,
                                         ""));
    struct lbp_service *none = svc_from(SVC("", "\"type\":\"LoadBalancer\"," PORTS, ""));
    struct lbp_desired da, db, dn;
    (void)state;
    assert_int_equal(lbp_desired_build(a, NULL, "k", &da), LBP_OK);
    assert_int_equal(lbp_desired_build(b, NULL, "k", &db), LBP_OK);
    assert_int_equal(lbp_desired_build(none, NULL, "k", &dn), LBP_OK);
    assert_int_equal(da.spec.n_labels, 1);
    assert_string_equal(da.spec.labels[0].key, "tier");
    assert_string_equal(da.spec.labels[0].value, "web");
    assert_int_equal(db.spec.n_labels, 0);
    /* sha256("app=x,role=db") */
    assert_non_null(da.spec.selector_hash);
    assert_string_equal(da.spec.selector_hash,
                        "1af31278cc4e39e4a3e5306398f4e7da1541d06daa921a300a48b6fde987b099");
    assert_string_equal(da.spec.selector_hash, db.spec.selector_hash);
    assert_null(dn.spec.selector_hash);
    /* upstream's hash ignores labels; the label hash sees labels and selector */
    assert_true(lbp_service_hash(a) == lbp_service_hash(b));
    assert_true(lbp_service_label_hash(a) != lbp_service_label_hash(b));
    assert_true(lbp_service_label_hash(b) != lbp_service_label_hash(c));
    lbp_desired_free(&da);
    lbp_desired_free(&db);
    lbp_desired_free(&dn);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(c);
    lbp_kube_obj_unref(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handled_and_hash),
        cmocka_unit_test(test_desired_and_ranges),
        cmocka_unit_test(test_ranges_fail_closed),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_node_labels),
        cmocka_unit_test(test_labels_and_selector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
