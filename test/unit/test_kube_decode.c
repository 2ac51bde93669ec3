/*
 * test_kube_decode.c — lbp_kube_decode on realistic objects (fixtures in
 * test/data/kube/) and on hostile ones: wrong types, missing fields, huge
 * values, non-objects. Also lbp_kube_kind_path.
 */
#include "kube/kube.h"
#include "kube/kube_int.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/rc.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Decodes the recorded object data/kube/name as kind; *len gets the file's size. */
static void *decode_fixture(enum lbp_kind kind, const char *name, size_t *len)
{
    char path[512], *json = NULL;
    void *obj = NULL;
    snprintf(path, sizeof(path), "%s/kube/%s", LBP_TEST_DATA_DIR, name);
    assert_int_equal(lbp_file_read(path, 1 << 20, 0, &json, len), LBP_OK);
    assert_int_equal(lbp_kube_decode(kind, json, *len, &obj), LBP_OK);
    free(json);
    return obj;
}

static void *decode_ok(enum lbp_kind kind, const char *json)
{
    void *obj = NULL;
    assert_int_equal(lbp_kube_decode(kind, json, strlen(json), &obj), LBP_OK);
    assert_non_null(obj);
    return obj;
}

static int decode_rc(enum lbp_kind kind, const char *json)
{
    void *obj = (void *)1;
    int rc = lbp_kube_decode(kind, json, strlen(json), &obj);
    if (rc == LBP_OK)
        lbp_kube_obj_unref(obj);
    else
        assert_null(obj);
    return rc;
}

static void test_service_fixture(void **state)
{
    size_t len;
    struct lbp_service *s = decode_fixture(LBP_KIND_SERVICE, "service_lb.json", &len);

    assert_string_equal(s->meta.name, "web");
    assert_string_equal(s->meta.namespace, "shop");
    assert_string_equal(s->meta.key, "shop/web");
    assert_string_equal(s->meta.uid, "6f0c8e2a-3b1d-4c6e-9a57-0d2f4b8e1c93");
    assert_string_equal(s->meta.resource_version, "48213");
    assert_int_equal(s->meta.creation_s, 1795162530); /* 2026-11-20T08:15:30Z */
    assert_false(s->meta.deleting);
    assert_int_equal(s->meta.refs, 1);
    assert_int_equal(s->meta.n_labels, 2);
    assert_string_equal(lbp_meta_label(&s->meta, "app.kubernetes.io/part-of"), "shop");
    assert_int_equal(s->meta.n_annotations, 2); /* the third, last-applied-configuration, dropped */
    assert_string_equal(lbp_meta_annotation(&s->meta, "lbprov.io/pool"), "public");
    assert_true(lbp_meta_has_finalizer(&s->meta, "service.kubernetes.io/load-balancer-cleanup"));

    assert_string_equal(s->type, "LoadBalancer");
    assert_string_equal(s->lb_class, "lbprov.io/baremetal");
    assert_null(s->lb_ip);
    assert_int_equal(s->n_lb_source_ranges, 2);
    assert_string_equal(s->lb_source_ranges[1], "198.51.100.0/25");
    assert_int_equal(s->n_ports, 3);
    assert_string_equal(s->ports[0].name, "http");
    assert_string_equal(s->ports[0].protocol, "TCP");
    assert_string_equal(s->ports[0].app_protocol, "http");
    assert_int_equal(s->ports[0].port, 80);
    assert_int_equal(s->ports[0].node_port, 31080);
    assert_string_equal(s->ports[0].target_port, "8080");
    assert_string_equal(s->ports[1].target_port, "https");
    assert_null(s->ports[1].app_protocol);
    assert_string_equal(s->ports[2].protocol, "UDP");
    assert_int_equal(s->ports[2].port, 53);
    assert_int_equal(s->ports[2].node_port, 31053);
    assert_int_equal(s->n_selector, 1);
    assert_string_equal(s->selector[0].value, "web");
    assert_string_equal(s->session_affinity, "ClientIP");
    assert_int_equal(s->session_affinity_timeout, 10800);
    assert_string_equal(s->external_traffic_policy, "Local");
    assert_string_equal(s->internal_traffic_policy, "Cluster");
    assert_int_equal(s->health_check_node_port, 32111);
    assert_int_equal(s->n_ip_families, 1);
    assert_string_equal(s->ip_families[0], "IPv4");
    assert_string_equal(s->ip_family_policy, "SingleStack");
    assert_int_equal(s->allocate_lb_node_ports, 1);
    assert_int_equal(s->n_external_ips, 0);
    assert_string_equal(s->cluster_ip, "10.96.14.7");
    assert_int_equal(s->n_ingress, 2);
    assert_string_equal(s->ingress[0].ip, "192.0.2.10");
    assert_string_equal(s->ingress[0].ip_mode, "VIP");
    assert_null(s->ingress[0].hostname);
    assert_string_equal(s->ingress[1].hostname, "web-shop.lb.example.net");
    assert_null(s->ingress[1].ip);

    /* A reference outlives the first unref. */
    lbp_kube_obj_ref(s);
    lbp_kube_obj_unref(s);
    assert_string_equal(s->meta.key, "shop/web");
    lbp_kube_obj_unref(s);
}

static void test_node_fixture(void **state)
{
    size_t len;
    struct lbp_node *n = decode_fixture(LBP_KIND_NODE, "node_40images.json", &len);
    assert_true(len > 4000);

    assert_string_equal(n->meta.key, "worker-1");
    assert_null(n->meta.namespace);
    assert_string_equal(n->provider_id, "aws:///eu-west-1a/i-0abc123def4567890");
    assert_int_equal(n->n_addresses, 3);
    assert_string_equal(n->addresses[0].type, "InternalIP");
    assert_string_equal(n->addresses[0].address, "172.31.5.21");
    assert_string_equal(n->addresses[2].address, "worker-1");
    assert_int_equal(n->n_taints, 2);
    assert_string_equal(n->taints[0].key, "node.kubernetes.io/unreachable");
    assert_null(n->taints[0].value);
    assert_string_equal(n->taints[0].effect, "NoExecute");
    assert_string_equal(n->taints[1].value, "edge");
    assert_false(n->unschedulable);
    assert_int_equal(n->ready, 1);
    assert_int_equal(n->meta.n_labels, 5);
    /* The image list, nodeInfo and conditions' text are not kept. */
    size_t sz = malloc_usable_size(n);
    assert_true(sz < 1024);
    lbp_kube_obj_unref(n);
}

static void test_node_ready_states(void **state)
{
    struct lbp_node *n = decode_ok(
        LBP_KIND_NODE, "{\"metadata\":{\"name\":\"a\",\"namespace\":\"ignored\"},\"spec\":"
                       "{\"unschedulable\":true},\"status\":{\"conditions\":[{\"type\":\"Ready\","
                       "\"status\":\"False\"}]}}");
    assert_int_equal(n->ready, 0);
    assert_true(n->unschedulable);
    assert_string_equal(n->meta.key, "a");
    assert_null(n->meta.namespace);
    lbp_kube_obj_unref(n);
    n = decode_ok(LBP_KIND_NODE, "{\"metadata\":{\"name\":\"a\"},\"status\":{\"conditions\":[{"
                                 "\"type\":\"Ready\",\"status\":\"Unknown\"}]}}");
    assert_int_equal(n->ready, -1);
    lbp_kube_obj_unref(n);
    n = decode_ok(LBP_KIND_NODE, "{\"metadata\":{\"name\":\"a\"}}");
    assert_int_equal(n->ready, -1);
    assert_int_equal(n->n_addresses, 0);
    lbp_kube_obj_unref(n);
}

static void test_endpointslice_fixture(void **state)
{
    size_t len;
    struct lbp_endpointslice *es =
        decode_fixture(LBP_KIND_ENDPOINTSLICE, "endpointslice.json", &len);

    assert_string_equal(es->meta.key, "shop/web-x7k2p");
    assert_string_equal(es->service_name, "web");
    assert_string_equal(es->address_type, "IPv4");
    assert_int_equal(es->n_endpoints, 3);
    assert_int_equal(es->endpoints[0].n_addresses, 1);
    assert_string_equal(es->endpoints[0].addresses[0], "10.244.1.17");
    assert_string_equal(es->endpoints[0].node_name, "worker-1");
    assert_int_equal(es->endpoints[0].ready, 1);
    assert_int_equal(es->endpoints[0].serving, 1);
    assert_int_equal(es->endpoints[0].terminating, 0);
    assert_int_equal(es->endpoints[1].ready, 0);
    assert_int_equal(es->endpoints[1].serving, 1);
    assert_int_equal(es->endpoints[1].terminating, 1);
    assert_int_equal(es->endpoints[2].ready, -1);
    assert_int_equal(es->endpoints[2].serving, -1);
    assert_int_equal(es->endpoints[2].terminating, -1);
    assert_string_equal(es->endpoints[2].node_name, "worker-3");
    lbp_kube_obj_unref(es);
}

static void test_lease_fixture(void **state)
{
    size_t len;
    struct lbp_lease *l = decode_fixture(LBP_KIND_LEASE, "lease.json", &len);
    assert_string_equal(l->meta.key, "lbprov-system/lbprov-speaker-worker-1");
    assert_string_equal(l->holder_identity, "worker-1_3f2a");
    assert_int_equal(l->lease_duration_s, 15);
    assert_int_equal(l->lease_transitions, 3);
    /* 2026-11-26T09:58:01.25Z and 2026-11-26T10:00:02.123456Z */
    assert_int_equal(l->acquire_time_us, 1795687081250000LL);
    assert_int_equal(l->renew_time_us, 1795687202123456LL);
    lbp_kube_obj_unref(l);

    l = decode_ok(LBP_KIND_LEASE,
                  "{\"metadata\":{\"name\":\"l\",\"namespace\":\"n\"},\"spec\":{\"renewTime\":"
                  "\"2026-11-26T10:00:02Z\",\"acquireTime\":\"yesterday\",\"leaseDurationSeconds\":"
                  "\"15\"}}");
    assert_int_equal(l->renew_time_us, 1795687202000000LL);
    assert_int_equal(l->acquire_time_us, 0);
    assert_int_equal(l->lease_duration_s, 0);
    assert_null(l->holder_identity);
    lbp_kube_obj_unref(l);
}

/* kubectl's last-applied-configuration is not cached; other annotations are, and a Lease keeps it.
 */
static void test_last_applied_dropped(void **state)
{
    static const char *const svc =
        "{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\",\"annotations\":{"
        "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"kind\\\":\\\"Service\\\"}\","
        "\"lbprov.io/pool\":\"public\"}},\"spec\":{\"type\":\"LoadBalancer\"}}";
    static const char *const lease =
        "{\"metadata\":{\"name\":\"l\",\"namespace\":\"n\",\"annotations\":{"
        "\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},\"spec\":{}}";
    struct lbp_service *s;
    struct lbp_lease *l;
    (void)state;
    s = decode_ok(LBP_KIND_SERVICE, svc);
    assert_int_equal(s->meta.n_annotations, 1);
    assert_string_equal(lbp_meta_annotation(&s->meta, "lbprov.io/pool"), "public");
    assert_null(lbp_meta_annotation(&s->meta, "kubectl.kubernetes.io/last-applied-configuration"));
    lbp_kube_obj_unref(s);
    l = decode_ok(LBP_KIND_LEASE, lease);
    assert_string_equal(
        lbp_meta_annotation(&l->meta, "kubectl.kubernetes.io/last-applied-configuration"), "{}");
    lbp_kube_obj_unref(l);
}

static void test_wrong_types(void **state)
{
    /* Identity fields of the wrong type refuse the object. */
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":42}}"), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\",\"namespace\":7}}"),
                     LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":[]}"), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a/b\"}}"), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\\u0000b\"}}"),
                     LBP_PARSE);

    /* Everything else of the wrong type is skipped. */
    struct lbp_service *s = decode_ok(
        LBP_KIND_SERVICE,
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"labels\":[\"x\"],\"annotations\":"
        "{\"ok\":\"1\",\"bad\":2,\"nul\":\"x\\u0000y\"},\"finalizers\":[1,\"f\",null],"
        "\"uid\":{},\"creationTimestamp\":12},"
        "\"spec\":{\"type\":5,\"ports\":[7,{\"port\":\"80\",\"nodePort\":70000,\"protocol\":"
        "\"TCP\",\"targetPort\":true},{\"port\":443.5}],\"selector\":\"app\","
        "\"healthCheckNodePort\":-1,\"allocateLoadBalancerNodePorts\":\"yes\","
        "\"ipFamilies\":\"IPv4\"},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":1},\"x\"]}}}");
    assert_string_equal(s->meta.key, "n/a");
    assert_int_equal(s->meta.n_labels, 0);
    assert_int_equal(s->meta.n_annotations, 1);
    assert_string_equal(s->meta.annotations[0].value, "1");
    assert_int_equal(s->meta.n_finalizers, 1);
    assert_string_equal(s->meta.finalizers[0], "f");
    assert_null(s->meta.uid);
    assert_int_equal(s->meta.creation_s, 0);
    assert_null(s->type);
    assert_int_equal(s->n_ports, 2);
    assert_int_equal(s->ports[0].port, 0);
    assert_int_equal(s->ports[0].node_port, 0);
    assert_string_equal(s->ports[0].protocol, "TCP");
    assert_null(s->ports[0].target_port);
    assert_int_equal(s->ports[1].port, 0);
    assert_int_equal(s->n_selector, 0);
    assert_int_equal(s->health_check_node_port, 0);
    assert_int_equal(s->allocate_lb_node_ports, -1);
    assert_int_equal(s->n_ip_families, 0);
    assert_int_equal(s->n_ingress, 1);
    assert_null(s->ingress[0].ip);
    lbp_kube_obj_unref(s);

    struct lbp_endpointslice *es =
        decode_ok(LBP_KIND_ENDPOINTSLICE,
                  "{\"metadata\":{\"name\":\"e\",\"namespace\":\"n\",\"labels\":{"
                  "\"kubernetes.io/service-name\":3}},\"endpoints\":[{\"addresses\":\"1.2.3.4\","
                  "\"conditions\":{\"ready\":\"true\",\"serving\":null}}]}");
    assert_null(es->service_name);
    assert_int_equal(es->n_endpoints, 1);
    assert_int_equal(es->endpoints[0].n_addresses, 0);
    assert_int_equal(es->endpoints[0].ready, -1);
    assert_int_equal(es->endpoints[0].serving, -1);
    lbp_kube_obj_unref(es);
}

static void test_missing_fields(void **state)
{
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{}"), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{}}"), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"\"}}"), LBP_PARSE);

    struct lbp_service *s = decode_ok(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"bare\"}}");
    assert_string_equal(s->meta.key, "bare");
    assert_null(s->meta.namespace);
    assert_null(s->meta.resource_version);
    assert_null(s->type);
    assert_int_equal(s->n_ports, 0);
    assert_null(s->ports);
    assert_int_equal(s->allocate_lb_node_ports, -1);
    lbp_kube_obj_unref(s);

    s = decode_ok(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\","
                                    "\"deletionTimestamp\":\"2026-11-26T10:00:00Z\"}}");
    assert_true(s->meta.deleting);
    lbp_kube_obj_unref(s);
}

static char *repeat(const char *prefix, char c, size_t n, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + n + sl + 1);
    assert_non_null(s);
    memcpy(s, prefix, pl);
    memset(s + pl, c, n);
    memcpy(s + pl + n, suffix, sl + 1);
    return s;
}

/*
 * Everything a real API server stores decodes: lists and maps have no cap
 * of their own (a cap of 1,024 list entries and 4,096 map entries once
 * made such Services invisible to the controller).
 */
static void test_large_legal_objects(void **state)
{
    struct lbp_buf b;
    struct lbp_service *s;
    (void)state;
    lbp_buf_init(&b, 4 << 20);
    assert_int_equal(lbp_buf_adds(&b, "{\"metadata\":{\"name\":\"big\",\"namespace\":\"default\","
                                      "\"finalizers\":["),
                     0);
    for (int i = 0; i < 1100; i++)
        assert_int_equal(lbp_buf_addf(&b, "%s\"example.com/f%d\"", i ? "," : "", i), 0);
    assert_int_equal(lbp_buf_adds(&b, "],\"labels\":{"), 0);
    for (int i = 0; i < 4097; i++)
        assert_int_equal(lbp_buf_addf(&b, "%s\"l%d\":\"v%d\"", i ? "," : "", i, i), 0);
    assert_int_equal(lbp_buf_adds(&b, "},\"annotations\":{"), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(lbp_buf_addf(&b, "%s\"a%d\":\"\"", i ? "," : "", i), 0);
    assert_int_equal(lbp_buf_adds(&b, "}},\"spec\":{\"type\":\"LoadBalancer\","
                                      "\"loadBalancerSourceRanges\":["),
                     0);
    for (int i = 0; i < 1025; i++)
        assert_int_equal(lbp_buf_addf(&b, "%s\"10.%d.%d.0/24\"", i ? "," : "", i / 256, i % 256),
                         0);
    assert_int_equal(lbp_buf_adds(&b, "],\"ports\":["), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(
            lbp_buf_addf(&b, "%s{\"port\":%d,\"nodePort\":%d}", i ? "," : "", i + 1, 30000 + i), 0);
    assert_int_equal(lbp_buf_adds(&b, "]}}"), 0);
    s = decode_ok(LBP_KIND_SERVICE, b.data);
    lbp_buf_free(&b);
    assert_int_equal(s->meta.n_finalizers, 1100);
    assert_int_equal(s->meta.n_labels, 4097);
    assert_string_equal(lbp_meta_label(&s->meta, "l4096"), "v4096");
    assert_int_equal(s->meta.n_annotations, 5000);
    assert_int_equal(s->n_lb_source_ranges, 1025);
    assert_string_equal(s->lb_source_ranges[1024], "10.4.0.0/24");
    assert_int_equal(s->n_ports, 2000);
    assert_int_equal(s->ports[1999].node_port, 31999);
    lbp_kube_obj_unref(s);
}

/* A source range that is not a usable string stays, as "", so validation refuses it. */
static void test_bad_source_range_kept(void **state)
{
    (void)state;
    struct lbp_service *s = decode_ok(
        LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"loadBalancerSourceRanges\":"
                          "[7,null,\"10.0.0.0/8\"]}}");
    assert_int_equal(s->n_lb_source_ranges, 3);
    assert_string_equal(s->lb_source_ranges[0], "");
    assert_string_equal(s->lb_source_ranges[1], "");
    assert_string_equal(s->lb_source_ranges[2], "10.0.0.0/8");
    lbp_kube_obj_unref(s);
}

static void test_huge_values(void **state)
{
    char *j = repeat("{\"metadata\":{\"name\":\"", 'a', 254, "\"}}");
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, j), LBP_PARSE);
    free(j);
    j = repeat("{\"metadata\":{\"name\":\"", 'a', 253, "\"}}");
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, j), LBP_OK);
    free(j);
    j = repeat("{\"metadata\":{\"name\":\"a\",\"namespace\":\"", 'n', 64, "\"}}");
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, j), LBP_PARSE);
    free(j);

    /* An over-long label value is dropped (the API allows 63 bytes), the object kept. */
    j = repeat("{\"metadata\":{\"name\":\"a\",\"labels\":{\"ok\":\"v\",\"big\":\"", 'v', 5000,
               "\"}}}");
    struct lbp_service *s = decode_ok(LBP_KIND_SERVICE, j);
    free(j);
    assert_int_equal(s->meta.n_labels, 1);
    assert_null(lbp_meta_label(&s->meta, "big"));
    lbp_kube_obj_unref(s);
    /* An annotation is never dropped for its length: it may be a restriction. */
    j = repeat("{\"metadata\":{\"name\":\"a\",\"annotations\":{\"big\":\"", 'v', 1 << 20,
               "\"}},\"spec\":{\"type\":\"LoadBalancer\"}}");
    s = decode_ok(LBP_KIND_SERVICE, j);
    free(j);
    assert_int_equal(s->meta.n_annotations, 1);
    assert_int_equal(strlen(lbp_meta_annotation(&s->meta, "big")), 1 << 20);
    assert_string_equal(s->type, "LoadBalancer");
    lbp_kube_obj_unref(s);

    /* Only an object no API server can store is refused: here over 16 MiB decoded. */
    struct lbp_buf b;
    lbp_buf_init(&b, 8 << 20);
    assert_int_equal(lbp_buf_adds(&b, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"ports\":["), 0);
    for (size_t i = 0; i < (16u << 20) / sizeof(struct lbp_service_port) + 1024; i++)
        assert_int_equal(lbp_buf_adds(&b, i ? ",{}" : "{}"), 0);
    assert_int_equal(lbp_buf_adds(&b, "]}}"), 0);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, b.data), LBP_TOOBIG);
    lbp_buf_free(&b);

    /* Nesting deeper than the tokener allows. */
    j = repeat("{\"metadata\":{\"name\":\"a\"},\"x\":", '[', 200, "");
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, j), LBP_PARSE);
    free(j);
}

/*
 * Values most Services repeat are shared, not copied into each object: two
 * decodes point at the same string, a value spelled with escapes decodes to
 * the same text, and duplicate keys that are shared words still keep the
 * first value.
 */
static void test_shared_words(void **state)
{
    static const char svc[] =
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"default\",\"labels\":"
        "{\"app.kubernetes.io/name\":\"a\"},\"finalizers\":[\"service.kubernetes.io/"
        "load-balancer-cleanup\"]},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80,"
        "\"protocol\":\"TCP\"}],\"externalTrafficPolicy\":\"Cluster\",\"ipFamilies\":"
        "[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\",\"sessionAffinity\":\"None\"},"
        "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"10.0.0.1\",\"ipMode\":\"VIP\"}]}}}";
    (void)state;
    struct lbp_service *a = decode_ok(LBP_KIND_SERVICE, svc);
    struct lbp_service *b = decode_ok(LBP_KIND_SERVICE, svc);
    assert_ptr_equal(a->type, b->type);
    assert_ptr_equal(a->meta.namespace, b->meta.namespace);
    assert_ptr_equal(a->meta.labels[0].key, b->meta.labels[0].key);
    assert_ptr_equal(a->meta.finalizers[0], b->meta.finalizers[0]);
    assert_ptr_equal(a->ports[0].protocol, b->ports[0].protocol);
    assert_ptr_equal(a->external_traffic_policy, b->external_traffic_policy);
    assert_ptr_equal(a->ip_families[0], b->ip_families[0]);
    assert_ptr_equal(a->ip_family_policy, b->ip_family_policy);
    assert_ptr_equal(a->session_affinity, b->session_affinity);
    assert_ptr_equal(a->ingress[0].ip_mode, b->ingress[0].ip_mode);
    assert_string_equal(a->meta.key, "default/a");
    assert_string_equal(a->meta.finalizers[0], "service.kubernetes.io/load-balancer-cleanup");
    /* the rest is each object's own copy */
    assert_ptr_not_equal(a->meta.name, b->meta.name);
    assert_ptr_not_equal(a->meta.labels[0].value, b->meta.labels[0].value);
    assert_ptr_not_equal(a->ingress[0].ip, b->ingress[0].ip);
    lbp_kube_obj_unref(b);

    /* escaped: copied, the same text */
    b = decode_ok(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"type\":"
                                    "\"\\u004coadBalancer\",\"selector\":{\"app\":\"x\","
                                    "\"app\":\"y\"}}}");
    assert_string_equal(b->type, "LoadBalancer");
    assert_ptr_not_equal(b->type, a->type);
    assert_int_equal(b->n_selector, 1);
    assert_string_equal(b->selector[0].value, "x");
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(a);
}

/* Duplicate keys: the first wins, in a map as in any lookup; strict JSON only. */
static void test_duplicates_and_strictness(void **state)
{
    struct lbp_service *s = decode_ok(
        LBP_KIND_SERVICE,
        "{\"metadata\":{\"name\":\"a\",\"name\":\"b\",\"labels\":{\"z\":\"1\",\"y\":\"2\","
        "\"z\":\"3\"}},\"spec\":{\"type\":\"LoadBalancer\",\"type\":\"NodePort\","
        "\"selector\":{\"app\":\"x\",\"app\":\"y\"}}}");
    assert_string_equal(s->meta.name, "a");
    assert_int_equal(s->meta.n_labels, 2);
    assert_string_equal(lbp_meta_label(&s->meta, "z"), "1");
    assert_string_equal(lbp_meta_label(&s->meta, "y"), "2");
    assert_string_equal(s->type, "LoadBalancer");
    assert_int_equal(s->n_selector, 1);
    assert_string_equal(s->selector[0].value, "x");
    lbp_kube_obj_unref(s);

    /* Escaped names decode; a lone surrogate is a bad string like a NUL. */
    s = decode_ok(LBP_KIND_SERVICE, "{\"metadata\":{\"n\\u0061me\":\"caf\\u00e9\","
                                    "\"uid\":\"\\ud800\"}}");
    assert_string_equal(s->meta.name, "caf\xc3\xa9");
    assert_null(s->meta.uid);
    lbp_kube_obj_unref(s);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"\\udc00\"}}"),
                     LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\\/b\"}}"), LBP_PARSE);

    /* What a lax tokeniser would let through. */
    assert_int_equal(
        decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"x\":tru}}"),
        LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\"} \"spec\":{}}"),
                     LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\tb\"}}"), LBP_PARSE);
}

static void test_not_an_object(void **state)
{
    const char *bad[] = {"",
                         "[]",
                         "42",
                         "\"svc\"",
                         "null",
                         "{",
                         "{\"metadata\":",
                         "garbage",
                         "{}x",
                         "{\"metadata\":{\"name\":\"a\"}} {}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode_rc(LBP_KIND_SERVICE, bad[i]), LBP_PARSE);
    assert_int_equal(decode_rc(LBP_KIND_SERVICE, "{\"metadata\":{\"name\":\"a\"}}\n"), LBP_OK);
    void *obj = NULL;
    assert_int_equal(lbp_kube_decode(LBP_KIND_SERVICE, NULL, 0, &obj), LBP_PARSE);
    assert_int_equal(lbp_kube_decode((enum lbp_kind)99, "{}", 2, &obj), LBP_INVALID);
    assert_null(obj);
}

static void test_kind_path(void **state)
{
    char p[128];
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_SERVICE, NULL, p, sizeof(p)), LBP_OK);
    assert_string_equal(p, "/api/v1/services");
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_SERVICE, "shop", p, sizeof(p)), LBP_OK);
    assert_string_equal(p, "/api/v1/namespaces/shop/services");
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_NODE, "shop", p, sizeof(p)), LBP_OK);
    assert_string_equal(p, "/api/v1/nodes");
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_ENDPOINTSLICE, "a", p, sizeof(p)), LBP_OK);
    assert_string_equal(p, "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices");
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_LEASE, NULL, p, sizeof(p)), LBP_OK);
    assert_string_equal(p, "/apis/coordination.k8s.io/v1/leases");
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_SERVICE, "a/../b", p, sizeof(p)), LBP_INVALID);
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_SERVICE, "a?b", p, sizeof(p)), LBP_INVALID);
    assert_int_equal(lbp_kube_kind_path(LBP_KIND_SERVICE, "shop", p, 10), LBP_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_fixture),
        cmocka_unit_test(test_node_fixture),
        cmocka_unit_test(test_node_ready_states),
        cmocka_unit_test(test_endpointslice_fixture),
        cmocka_unit_test(test_last_applied_dropped),
        cmocka_unit_test(test_lease_fixture),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_huge_values),
        cmocka_unit_test(test_large_legal_objects),
        cmocka_unit_test(test_bad_source_range_kept),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_shared_words),
        cmocka_unit_test(test_duplicates_and_strictness),
        cmocka_unit_test(test_kind_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
