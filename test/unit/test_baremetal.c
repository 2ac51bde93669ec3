/*
 * test_baremetal.c — the bare-metal cloud driven through its vtable:
 * allocation order, requests, sharing, exhaustion, restore, run-time
 * configuration and concurrent workers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/provider.h"

extern const struct lbp_provider lbp_provider_baremetal;
static const struct lbp_provider *P = &lbp_provider_baremetal;

/* ------------------------------------------------------------ helpers */

static struct lbp_provider_ctx *start(const char *yaml)
{
    char path[] = "/tmp/lbp-bm-XXXXXX";
    char err[512] = "";
    struct lbp_provider_ctx *ctx = NULL;
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int rc = P->init(path, "test", &ctx, err, sizeof(err));
    unlink(path);
    if (rc)
        fail_msg("init: %s", err);
    return ctx;
}

/* A Service under construction: owns copies of everything the spec points to. */
struct svc {
    struct lbp_lb_spec spec;
    char ns[64], name[64], uid[64];
    struct lbp_lb_port ports[4];
    const char *fams[2];
    struct lbp_lb_annotation ann[8];
    struct lbp_lb_annotation labels[4];
};

static void svc_init(struct svc *s, const char *ns, const char *name)
{
    memset(s, 0, sizeof(*s));
    lbp_strlcpy(s->ns, ns, sizeof(s->ns));
    lbp_strlcpy(s->name, name, sizeof(s->name));
    snprintf(s->uid, sizeof(s->uid), "uid-%s-%s", ns, name);
    s->spec.namespace = s->ns;
    s->spec.name = s->name;
    s->spec.uid = s->uid;
    lbp_lb_name(s->uid, s->spec.lb_name);
    s->ports[0] = (struct lbp_lb_port){"http", "TCP", 80, 0}; /* no NodePort needed */
    s->spec.ports = s->ports;
    s->spec.n_ports = 1;
    s->spec.annotations = s->ann;
    s->spec.labels = s->labels;
}

static void svc_ann(struct svc *s, const char *k, const char *v)
{
    s->ann[s->spec.n_annotations++] = (struct lbp_lb_annotation){k, v};
}

static void svc_label(struct svc *s, const char *k, const char *v)
{
    s->labels[s->spec.n_labels++] = (struct lbp_lb_annotation){k, v};
}

static void svc_fams(struct svc *s, const char *a, const char *b)
{
    s->fams[0] = a;
    s->fams[1] = b;
    s->spec.ip_families = s->fams;
    s->spec.n_ip_families = b ? 2 : 1;
}

static void svc_port(struct svc *s, int i, const char *proto, int port)
{
    s->ports[i] = (struct lbp_lb_port){NULL, proto, port, 0};
    if ((size_t)i >= s->spec.n_ports)
        s->spec.n_ports = (size_t)i + 1;
}

/* ensure, expecting rc; returns the first ingress IP (static buffer) or the error. */
static const char *ensure(struct lbp_provider_ctx *ctx, struct svc *s, int want_rc,
                          struct lbp_call *out_call, struct lbp_lb_status *out_st)
{
    static char buf[LBP_ERRBUF_SIZE];
    struct lbp_call call = {0};
    struct lbp_lb_status st;
    int rc = P->ensure(ctx, &s->spec, &st, &call);
    if (rc != want_rc)
        fail_msg("%s/%s: ensure rc %s, want %s (%s)", s->ns, s->name, lbp_rc_str(rc),
                 lbp_rc_str(want_rc), call.err);
    if (out_call)
        *out_call = call;
    if (out_st)
        *out_st = st;
    if (rc == LBP_OK) {
        assert_true(st.n_ingress >= 1);
        lbp_strlcpy(buf, st.ingress[0].ip, sizeof(buf));
    } else {
        lbp_strlcpy(buf, call.err, sizeof(buf));
    }
    return buf;
}

static void svc_init_abc(struct svc *a, struct svc *b, struct svc *c)
{
    svc_init(a, "ns", "a");
    svc_init(b, "ns", "b");
    svc_init(c, "ns", "c");
}

/* ns/name asking for IP families fam (and fam2, when not NULL), in that order. */
static void svc_dual(struct svc *s, const char *name, const char *fam, const char *fam2)
{
    svc_init(s, "ns", name);
    svc_fams(s, fam, fam2);
}

/* ensure succeeds with n ingress addresses: ip0 (and ip1). */
static void expect_ingress(struct lbp_provider_ctx *ctx, struct svc *s, size_t n, const char *ip0,
                           const char *ip1)
{
    struct lbp_lb_status st;
    ensure(ctx, s, LBP_OK, NULL, &st);
    assert_int_equal(st.n_ingress, n);
    assert_string_equal(st.ingress[0].ip, ip0);
    if (ip1)
        assert_string_equal(st.ingress[1].ip, ip1);
}

static void removes(struct lbp_provider_ctx *ctx, struct svc *s)
{
    struct lbp_call call = {0};
    assert_int_equal(P->remove(ctx, &s->spec, &call), LBP_OK);
}

static const char *const basic_yaml = "pools:\n"
                                      "  - name: lan\n"
                                      "    addresses: [10.0.0.1-10.0.0.4]\n"
                                      "  - name: dmz\n"
                                      "    addresses: [203.0.113.8/30]\n"
                                      "    autoAssign: false\n";

/* ------------------------------------------------------------ tests */

static void caps_and_slots(void **state)
{
    assert_true(P->caps & LBP_CAP_REQUESTED_IP);
    assert_true(P->caps & LBP_CAP_IPV6);
    assert_true(P->caps & LBP_CAP_MIXED_PROTOCOLS);
    assert_false(P->caps & LBP_CAP_NEEDS_NODEPORTS);
    assert_false(P->caps & LBP_CAP_HOSTNAME);
    assert_false(P->caps & LBP_CAP_HEALTH_CHECKS);
    assert_non_null(P->configure);
    assert_non_null(P->restore);
    assert_ptr_equal(lbp_provider_find("baremetal"), P);
}

static void init_rejects_bad_config(void **state)
{
    char err[512] = "";
    struct lbp_provider_ctx *ctx = NULL;
    char path[] = "/tmp/lbp-bm-XXXXXX";
    const char *y = "pools:\n  - name: a\n    addresses: [10.0.0.0/24]\n"
                    "  - name: b\n    addresses: [10.0.0.5-10.0.0.6]\n";
    int fd = mkstemp(path);
    assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    assert_int_equal(P->init(path, "t", &ctx, err, sizeof(err)), LBP_INVALID);
    assert_null(ctx);
    assert_non_null(strstr(err, "pools \"a\" (10.0.0.0/24) and \"b\" (10.0.0.5-10.0.0.6) overlap"));
    unlink(path);
    assert_int_equal(P->init("/nonexistent.yaml", "t", &ctx, err, sizeof(err)), LBP_IO);
    /* no file: pools come from MetalLB objects only */
    assert_int_equal(P->init(NULL, "t", &ctx, err, sizeof(err)), LBP_OK);
    struct svc s;
    svc_init(&s, "ns", "a");
    assert_string_equal(ensure(ctx, &s, LBP_INVALID, NULL, NULL),
                        "no pool with autoAssign offers IPv4 addresses to ns/a");
    P->cleanup(ctx);
}

static void auto_assign_get_remove(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    struct svc a, b, c;
    svc_init_abc(&a, &b, &c);
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.0.0.2");
    /* idempotent */
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    assert_int_equal(P->get(ctx, &b.spec, &st, &call), LBP_OK);
    assert_int_equal(st.n_ingress, 1);
    assert_string_equal(st.ingress[0].ip, "10.0.0.2");
    assert_int_equal(P->get(ctx, &c.spec, &st, &call), LBP_NOT_FOUND);
    assert_int_equal(P->ping(ctx, &call), LBP_OK);

    struct lbp_lb_owned *owned = NULL;
    size_t n = 0;
    assert_int_equal(P->list_owned(ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 2);
    bool saw_a = false;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(owned[i].name, "a")) {
            saw_a = true;
            assert_string_equal(owned[i].namespace, "ns");
            assert_string_equal(owned[i].lb_name, a.spec.lb_name);
        }
    assert_true(saw_a);
    free(owned);

    removes(ctx, &a);
    removes(ctx, &a); /* gone counts as success */
    assert_int_equal(P->get(ctx, &a.spec, &st, &call), LBP_NOT_FOUND);
    assert_string_equal(ensure(ctx, &c, LBP_OK, NULL, NULL), "10.0.0.1");

    /* a remove for an older incarnation (other UID) leaves the new one alone */
    struct svc old = b;
    old.spec.namespace = old.ns;
    old.spec.name = old.name;
    old.spec.uid = "some-older-uid";
    removes(ctx, &old);
    assert_int_equal(P->get(ctx, &b.spec, &st, &call), LBP_OK);
    /* a new incarnation with the same name gets a fresh allocation (old one freed) */
    b.spec.uid = "new-uid";
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.0.0.2");
    P->cleanup(ctx);
}

static void requested_ips(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    struct svc a, b, c, d, e;
    svc_init(&a, "ns", "a");
    a.spec.requested_ip = "10.0.0.3";
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.3");
    /* autoAssign false pools serve explicit requests */
    svc_init(&b, "ns", "b");
    b.spec.requested_ip = "203.0.113.9";
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "203.0.113.9");
    svc_init(&c, "ns", "c");
    c.spec.requested_ip = "10.9.9.9";
    struct lbp_call call;
    assert_string_equal(ensure(ctx, &c, LBP_INVALID, &call, NULL),
                        "requested address 10.9.9.9 is not in any pool");
    assert_string_equal(call.event_reason, "AllocationFailed");
    svc_init(&d, "other", "d");
    d.spec.requested_ip = "10.0.0.3";
    assert_string_equal(ensure(ctx, &d, LBP_INVALID, NULL, NULL),
                        "address 10.0.0.3 is already in use by ns/a");
    svc_init(&e, "ns", "e");
    e.spec.requested_ip = "not-an-ip";
    assert_string_equal(ensure(ctx, &e, LBP_INVALID, NULL, NULL),
                        "spec.loadBalancerIP: \"not-an-ip\" is not an IP address");
    /* auto-assignment steps over the requested one */
    struct svc f;
    svc_init(&f, "ns", "f");
    svc_init(&e, "ns", "e");
    assert_string_equal(ensure(ctx, &e, LBP_OK, NULL, NULL), "10.0.0.1");
    assert_string_equal(ensure(ctx, &f, LBP_OK, NULL, NULL), "10.0.0.2");
    struct svc g;
    svc_init(&g, "ns", "g");
    assert_string_equal(ensure(ctx, &g, LBP_OK, NULL, NULL), "10.0.0.4");
    /* changing the request moves the Service and frees the old address */
    a.spec.requested_ip = "203.0.113.10";
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "203.0.113.10");
    d.spec.requested_ip = "10.0.0.3";
    assert_string_equal(ensure(ctx, &d, LBP_OK, NULL, NULL), "10.0.0.3");
    P->cleanup(ctx);
}

static void annotation_precedence(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    struct svc a;
    svc_init(&a, "ns", "a");
    svc_ann(&a, "lbprov.io/load-balancer-ips", "10.0.0.4");
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.4");
    a.spec.requested_ip = "10.0.0.3"; /* spec.loadBalancerIP beats lbprov's annotation */
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.3");
    svc_ann(&a, "metallb.universe.tf/loadBalancerIPs", "10.0.0.2");
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.2");
    svc_ann(&a, "metallb.io/loadBalancerIPs", " 10.0.0.1 ");
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");

    struct svc b;
    svc_init(&b, "ns", "b");
    svc_ann(&b, "metallb.io/loadBalancerIPs", "10.0.0.2,10.0.0.3");
    assert_string_equal(ensure(ctx, &b, LBP_INVALID, NULL, NULL),
                        "metallb.io/loadBalancerIPs: more than one IPv4 address");
    /* requested address must be in the named pool */
    struct svc c;
    svc_init(&c, "ns", "c");
    svc_ann(&c, "metallb.io/address-pool", "dmz");
    svc_ann(&c, "metallb.io/loadBalancerIPs", "10.0.0.2");
    assert_string_equal(ensure(ctx, &c, LBP_INVALID, NULL, NULL),
                        "requested address 10.0.0.2 is in pool lan, not in pool dmz "
                        "(metallb.io/address-pool)");
    P->cleanup(ctx);
}

static void dual_stack(void **state)
{
    struct lbp_provider_ctx *ctx =
        start("pools:\n"
              "  - name: v4\n    addresses: [10.0.0.1-10.0.0.4]\n"
              "  - name: v6\n    addresses: [fd00:77::100-fd00:77::1ff]\n"
              "  - name: v4only\n    addresses: [10.1.0.1]\n"
              "    autoAssign: false\n");
    struct svc a;
    struct lbp_lb_status st;
    svc_dual(&a, "a", "IPv6", "IPv4");
    expect_ingress(ctx, &a, 2, "fd00:77::100", "10.0.0.1");

    struct svc b;
    svc_dual(&b, "b", "IPv4", "IPv6");
    svc_ann(&b, "metallb.io/loadBalancerIPs", "fd00:77::1ff,10.0.0.4");
    expect_ingress(ctx, &b, 2, "10.0.0.4", "fd00:77::1ff");

    /* single-stack now: the IPv6 address is released */
    svc_fams(&a, "IPv4", NULL);
    expect_ingress(ctx, &a, 1, "10.0.0.1", NULL);
    struct svc c;
    svc_dual(&c, "c", "IPv6", NULL);
    assert_string_equal(ensure(ctx, &c, LBP_OK, NULL, NULL), "fd00:77::100");

    /* a family no usable pool offers */
    struct svc d;
    svc_dual(&d, "d", "IPv4", "IPv6");
    svc_ann(&d, "metallb.io/address-pool", "v4only");
    assert_string_equal(ensure(ctx, &d, LBP_INVALID, NULL, NULL),
                        "pool v4only (metallb.io/address-pool) has no IPv6 addresses");
    struct svc e;
    svc_dual(&e, "e", "IPv4", NULL);
    svc_ann(&e, "metallb.io/loadBalancerIPs", "fd00:77::150");
    assert_string_equal(ensure(ctx, &e, LBP_INVALID, NULL, NULL),
                        "requested address fd00:77::150 is IPv6 but the Service's ipFamilies do "
                        "not include it");
    svc_fams(&e, "IPv5", NULL);
    assert_string_equal(ensure(ctx, &e, LBP_INVALID, NULL, NULL), "unknown IP family \"IPv5\"");
    P->cleanup(ctx);

    ctx = start("pools:\n  - name: v4\n    addresses: [10.0.0.1-10.0.0.4]\n");
    svc_dual(&a, "a", "IPv4", "IPv6");
    assert_string_equal(ensure(ctx, &a, LBP_INVALID, NULL, NULL),
                        "no pool with autoAssign offers IPv6 addresses to ns/a");
    /* all or nothing: the IPv4 half was not kept */
    struct lbp_call call = {0};
    assert_int_equal(P->get(ctx, &a.spec, &st, &call), LBP_NOT_FOUND);
    P->cleanup(ctx);
}

static void pool_selection(void **state)
{
    struct lbp_provider_ctx *ctx =
        start("pools:\n"
              "  - name: zz-default\n    addresses: [10.0.0.1-10.0.0.9]\n"
              "  - name: web\n    addresses: [10.1.0.1-10.1.0.9]\n"
              "    serviceAllocation: {priority: 20, serviceSelectors: [{matchLabels: {tier: "
              "web}}]}\n"
              "  - name: prod\n    addresses: [10.2.0.1-10.2.0.9]\n"
              "    serviceAllocation: {priority: 10, namespaces: [prod]}\n"
              "  - name: aa-noprio\n    addresses: [10.3.0.1-10.3.0.9]\n"
              "    serviceAllocation: {namespaces: [prod, dev]}\n"
              "  - name: manual\n    addresses: [10.4.0.1-10.4.0.9]\n    autoAssign: false\n");
    /* Each Service in turn: where it lands, or why not. */
    static const struct {
        const char *ns, *name, *tier; /* tier: the label's value, if any */
        const char *ann, *pool;       /* a pool annotation, if any */
        const char *ip;               /* spec.loadBalancerIP, if any */
        int rc;
        const char *want;
    } cases[] = {
        /* no serviceAllocation match: unrestricted pools only, by name */
        {"dev2", "plain", NULL, NULL, NULL, NULL, LBP_OK, "10.0.0.1"},
        /* labels: the web pool (priority 20) beats unprioritised ones */
        {"dev", "web", "web", NULL, NULL, NULL, LBP_OK, "10.1.0.1"},
        /* namespace prod and tier web: priority 10 beats 20 */
        {"prod", "web", "web", NULL, NULL, NULL, LBP_OK, "10.2.0.1"},
        /* namespace dev: only aa-noprio and zz-default admit it; unset priority, by name */
        {"dev", "api", NULL, NULL, NULL, NULL, LBP_OK, "10.3.0.1"},
        /* pool annotations, three spellings */
        {"dev", "m1", NULL, "metallb.io/address-pool", "manual", NULL, LBP_OK, "10.4.0.1"},
        {"dev", "m2", NULL, "metallb.universe.tf/address-pool", "manual", NULL, LBP_OK, "10.4.0.2"},
        {"dev", "m3", NULL, "lbprov.io/address-pool", "manual", NULL, LBP_OK, "10.4.0.3"},
        {"dev", "m4", NULL, "metallb.io/address-pool", "nope", NULL, LBP_INVALID,
         "metallb.io/address-pool: pool \"nope\" does not exist"},
        {"dev", "m5", NULL, "metallb.io/address-pool", "prod", NULL, LBP_INVALID,
         "pool prod (metallb.io/address-pool) does not admit dev/m5 (serviceAllocation)"},
        /* requested address in a pool that does not admit the Service */
        {"dev", "m6", NULL, NULL, NULL, "10.2.0.5", LBP_INVALID,
         "pool prod does not admit dev/m6 (serviceAllocation)"},
        /* the pool annotation moves an existing allocation */
        {"dev2", "plain", NULL, "metallb.io/address-pool", "manual", NULL, LBP_OK, "10.4.0.4"},
    };
    for (size_t i = 0; i < LBP_ARRAY_LEN(cases); i++) {
        struct svc s;
        svc_init(&s, cases[i].ns, cases[i].name);
        if (cases[i].tier)
            svc_label(&s, "tier", cases[i].tier);
        if (cases[i].ann)
            svc_ann(&s, cases[i].ann, cases[i].pool);
        s.spec.requested_ip = cases[i].ip;
        assert_string_equal(ensure(ctx, &s, cases[i].rc, NULL, NULL), cases[i].want);
    }
    P->cleanup(ctx);
}

static void avoid_buggy_ips(void **state)
{
    struct lbp_provider_ctx *ctx =
        start("pools:\n  - name: p\n    addresses: [10.0.0.254-10.0.1.1]\n"
              "    avoidBuggyIPs: true\n");
    struct svc a, b, c;
    svc_init_abc(&a, &b, &c);
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.254");
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.0.1.1");
    assert_non_null(strstr(ensure(ctx, &c, LBP_PENDING, NULL, NULL), "pool p is full"));
    c.spec.requested_ip = "10.0.1.0";
    assert_string_equal(ensure(ctx, &c, LBP_INVALID, NULL, NULL),
                        "requested address 10.0.1.0 is skipped by avoidBuggyIPs in pool p");
    P->cleanup(ctx);
}

static void exhaustion_then_freed(void **state)
{
    struct lbp_provider_ctx *ctx = start("pools:\n  - name: tiny\n    addresses: [10.0.0.1/31]\n");
    struct svc a, b, c;
    struct lbp_call call;
    struct lbp_lb_status st;
    svc_init(&a, "ns", "a");
    svc_init(&b, "ns", "b");
    svc_init(&c, "ns", "c");
    ensure(ctx, &a, LBP_OK, NULL, NULL);
    ensure(ctx, &b, LBP_OK, NULL, NULL);
    assert_string_equal(ensure(ctx, &c, LBP_PENDING, &call, &st),
                        "no free IPv4 address: pool tiny is full");
    assert_string_equal(call.event_reason, "AllocationFailed");
    assert_true(call.retry_after_s > 0);
    assert_int_equal(st.retry_after_s, call.retry_after_s);
    removes(ctx, &a);
    assert_string_equal(ensure(ctx, &c, LBP_OK, &call, NULL), "10.0.0.0");
    assert_null(call.event_reason);
    P->cleanup(ctx);
}

static void restore_rebuilds(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    struct svc a, b, c, x;
    struct lbp_lb_status cur = {0};
    svc_init(&a, "ns", "a");
    svc_init(&b, "ns", "b");
    svc_init(&c, "ns", "c");
    svc_init(&x, "ns", "x");
    /* after a restart: a held 10.0.0.1, x held an address outside every pool */
    lbp_strlcpy(cur.ingress[0].ip, "10.0.0.1", sizeof(cur.ingress[0].ip));
    cur.n_ingress = 1;
    assert_int_equal(P->restore(ctx, &a.spec, &cur), LBP_OK);
    /* b claims the same address (corrupt status): refused */
    assert_int_equal(P->restore(ctx, &b.spec, &cur), LBP_CONFLICT);
    lbp_strlcpy(cur.ingress[0].ip, "192.0.2.50", sizeof(cur.ingress[0].ip));
    lbp_strlcpy(cur.ingress[1].hostname, "lb.example", sizeof(cur.ingress[1].hostname));
    cur.n_ingress = 2;
    assert_int_equal(P->restore(ctx, &x.spec, &cur), LBP_OK);

    /* nothing is handed out twice */
    assert_string_equal(ensure(ctx, &c, LBP_OK, NULL, NULL), "10.0.0.2");
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.0.0.3");
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");
    /* the out-of-pool address moves into a pool */
    assert_string_equal(ensure(ctx, &x, LBP_OK, NULL, NULL), "10.0.0.4");
    P->cleanup(ctx);
}

static const char *crd_pool(char *buf, size_t cap, const char *name, const char *addr)
{
    snprintf(buf, cap,
             "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
             "\"metadata\":{\"name\":\"%s\",\"namespace\":\"metallb-system\"},"
             "\"spec\":{\"addresses\":[\"%s\"]}}",
             name, addr);
    return buf;
}

static void configure_at_run_time(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    char err[512] = "", b1[512], b2[512];
    const char *objs[2];
    struct svc a, b;
    svc_init(&a, "ns", "a");
    svc_init(&b, "ns", "b");
    svc_ann(&b, "metallb.io/address-pool", "crd");

    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");
    objs[0] = crd_pool(b1, sizeof(b1), "crd", "10.50.0.0/30");
    assert_int_equal(P->configure(ctx, "IPAddressPool", objs, 1, err, sizeof(err)), LBP_OK);
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.50.0.0");

    /* an overlapping CRD pool is refused whole and the old pools stay */
    objs[0] = crd_pool(b1, sizeof(b1), "crd", "10.60.0.0/30");
    objs[1] = crd_pool(b2, sizeof(b2), "clash", "10.0.0.4/32");
    assert_int_equal(P->configure(ctx, "IPAddressPool", objs, 2, err, sizeof(err)), LBP_INVALID);
    assert_string_equal(err, "IPAddressPool rejected, previous pools kept: pools \"lan\" "
                             "(10.0.0.1-10.0.0.4) and \"clash\" (10.0.0.4/32) overlap");
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.50.0.0");
    assert_int_equal(P->configure(ctx, "Widget", objs, 1, err, sizeof(err)), LBP_INVALID);

    /* the pool's range moves: the address outside it is reallocated */
    assert_int_equal(P->configure(ctx, "IPAddressPool", objs, 1, err, sizeof(err)), LBP_OK);
    assert_string_equal(ensure(ctx, &b, LBP_OK, NULL, NULL), "10.60.0.0");
    /* still-valid allocations stay put, though "crd" now sorts before "lan" */
    assert_string_equal(ensure(ctx, &a, LBP_OK, NULL, NULL), "10.0.0.1");

    /* L2Advertisements are kept next to the pools and show in the debug view */
    const char *l2[] = {"{\"metadata\":{\"name\":\"l2\"},\"spec\":{\"ipAddressPools\":[\"crd\"]}}"};
    assert_int_equal(P->configure(ctx, "L2Advertisement", l2, 1, err, sizeof(err)), LBP_OK);
    char *dbg = P->debug_json(ctx);
    json_object *root = json_tokener_parse(dbg), *pools, *allocs;
    assert_non_null(root);
    assert_true(json_object_object_get_ex(root, "pools", &pools));
    assert_true(json_object_object_get_ex(root, "allocations", &allocs));
    assert_int_equal(json_object_array_length(pools), 3);
    assert_int_equal(json_object_array_length(allocs), 2);
    bool seen = false;
    for (size_t i = 0; i < json_object_array_length(pools); i++) {
        json_object *p = json_object_array_get_idx(pools, i), *v;
        json_object_object_get_ex(p, "name", &v);
        if (strcmp(json_object_get_string(v), "crd") != 0)
            continue;
        seen = true;
        json_object_object_get_ex(p, "inUse", &v);
        assert_int_equal(json_object_get_int(v), 1);
        json_object_object_get_ex(p, "available", &v);
        assert_string_equal(json_object_get_string(v), "3");
        json_object_object_get_ex(p, "announcedBy", &v);
        assert_int_equal(json_object_get_int(v), 1);
    }
    assert_true(seen);
    json_object_put(root);
    free(dbg);

    /* pools removed altogether: the named pool is gone */
    assert_int_equal(P->configure(ctx, "IPAddressPool", NULL, 0, err, sizeof(err)), LBP_OK);
    assert_string_equal(ensure(ctx, &b, LBP_INVALID, NULL, NULL),
                        "metallb.io/address-pool: pool \"crd\" does not exist");
    P->cleanup(ctx);
}

/* ns/name on one port proto/port, asking to share its address under key (annotation k). */
static void shared_svc(struct svc *s, const char *name, const char *proto, int port, const char *k,
                       const char *key)
{
    svc_init(s, "ns", name);
    svc_port(s, 0, proto, port);
    svc_ann(s, k, key);
}

static void sharing(void **state)
{
    struct lbp_provider_ctx *ctx = start(basic_yaml);
    struct svc tcp, udp, other, clash, nokey, loc1, loc2;
    const char *ip;

    shared_svc(&tcp, "dns-tcp", "TCP", 53, "metallb.io/allow-shared-ip", "dns");
    ip = ensure(ctx, &tcp, LBP_OK, NULL, NULL);
    assert_string_equal(ip, "10.0.0.1");
    /* same key, no port collision (same port, other protocol), both Cluster */
    shared_svc(&udp, "dns-udp", "UDP", 53, "metallb.universe.tf/allow-shared-ip", "dns");
    assert_string_equal(ensure(ctx, &udp, LBP_OK, NULL, NULL), "10.0.0.1");
    /* same key, colliding port: auto-assignment takes another address ... */
    shared_svc(&clash, "clash", "TCP", 53, "metallb.io/allow-shared-ip", "dns");
    assert_string_equal(ensure(ctx, &clash, LBP_OK, NULL, NULL), "10.0.0.2");
    /* ... and asking for the shared one explains why not */
    clash.spec.requested_ip = "10.0.0.1";
    assert_string_equal(ensure(ctx, &clash, LBP_INVALID, NULL, NULL),
                        "address 10.0.0.1 is shared with ns/dns-tcp, which also uses port 53/TCP");
    /* a different key never shares */
    shared_svc(&other, "other", "TCP", 8080, "metallb.io/allow-shared-ip", "web");
    other.spec.requested_ip = "10.0.0.1";
    assert_non_null(strstr(ensure(ctx, &other, LBP_INVALID, NULL, NULL),
                           "address 10.0.0.1 is already in use by ns/dns-"));
    /* Local with different selectors: no */
    shared_svc(&loc1, "loc1", "TCP", 1000, "metallb.io/allow-shared-ip", "dns");
    loc1.spec.local_traffic = true;
    loc1.spec.selector_hash = "aaa";
    loc1.spec.requested_ip = "10.0.0.1";
    assert_non_null(strstr(ensure(ctx, &loc1, LBP_INVALID, NULL, NULL),
                           "with externalTrafficPolicy Local, sharing Services need the same "
                           "pod selector"));
    /* two Local Services with the same selector share */
    loc1.spec.requested_ip = NULL;
    assert_string_equal(ensure(ctx, &loc1, LBP_OK, NULL, NULL), "10.0.0.3");
    shared_svc(&loc2, "loc2", "TCP", 1001, "metallb.io/allow-shared-ip", "dns");
    loc2.spec.local_traffic = true;
    loc2.spec.selector_hash = "aaa";
    loc2.spec.requested_ip = "10.0.0.3";
    assert_string_equal(ensure(ctx, &loc2, LBP_OK, NULL, NULL), "10.0.0.3");

    /* a shared address is freed only when its last holder goes */
    svc_init(&nokey, "ns", "nokey");
    nokey.spec.requested_ip = "10.0.0.1";
    removes(ctx, &tcp);
    assert_non_null(strstr(ensure(ctx, &nokey, LBP_INVALID, NULL, NULL),
                           "address 10.0.0.1 is already in use by ns/dns-udp"));
    removes(ctx, &udp);
    assert_string_equal(ensure(ctx, &nokey, LBP_OK, NULL, NULL), "10.0.0.1");
    /* dropping the key while sharing moves the Service off the shared address */
    loc2.spec.requested_ip = NULL;
    loc2.spec.n_annotations = 0;
    assert_string_equal(ensure(ctx, &loc2, LBP_OK, NULL, NULL), "10.0.0.4");
    P->cleanup(ctx);
}

/* ------------------------------------------------------------ concurrency */

#define CONC_THREADS 4
#define CONC_SVCS 6
#define CONC_ROUNDS 150

struct conc {
    struct lbp_provider_ctx *ctx;
    int id;
    int owner[256]; /* last octet -> holder token, 0 free (atomics) */
    int failures;
};

static struct conc g_conc;

static void *conc_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct svc s[CONC_SVCS];
    int held[CONC_SVCS];
    char name[32];
    for (int i = 0; i < CONC_SVCS; i++) {
        snprintf(name, sizeof(name), "t%d-s%d", id, i);
        svc_init(&s[i], "conc", name);
        held[i] = -1;
    }
    for (int r = 0; r < CONC_ROUNDS; r++) {
        int i = (r * 7 + id) % CONC_SVCS;
        int token = id * 100 + i + 1;
        if (held[i] >= 0) {
            int expect = token;
            /* give the slot back before the provider frees it */
            if (!__atomic_compare_exchange_n(&g_conc.owner[held[i]], &expect, 0, false,
                                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                __atomic_fetch_add(&g_conc.failures, 1, __ATOMIC_SEQ_CST);
            struct lbp_call call = {0};
            if (P->remove(g_conc.ctx, &s[i].spec, &call) != LBP_OK)
                __atomic_fetch_add(&g_conc.failures, 1, __ATOMIC_SEQ_CST);
            held[i] = -1;
            continue;
        }
        struct lbp_call call = {0};
        struct lbp_lb_status st;
        if (P->ensure(g_conc.ctx, &s[i].spec, &st, &call) != LBP_OK) {
            __atomic_fetch_add(&g_conc.failures, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        long octet = 0;
        const char *dot = strrchr(st.ingress[0].ip, '.');
        if (!dot || lbp_parse_long(dot + 1, 0, 255, &octet) != LBP_OK) {
            __atomic_fetch_add(&g_conc.failures, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        int expect = 0;
        if (!__atomic_compare_exchange_n(&g_conc.owner[octet], &expect, token, false,
                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            __atomic_fetch_add(&g_conc.failures, 1, __ATOMIC_SEQ_CST); /* handed out twice */
        held[i] = (int)octet;
    }
    return NULL;
}

static void concurrent_workers(void **state)
{
    pthread_t th[CONC_THREADS];
    memset(&g_conc, 0, sizeof(g_conc));
    /* exactly as many addresses as Services: any double hand-out shows up */
    g_conc.ctx = start("pools:\n  - name: p\n    addresses: [10.0.0.1-10.0.0.24]\n");
    for (int i = 0; i < CONC_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, conc_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < CONC_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(g_conc.failures, 0);
    P->cleanup(g_conc.ctx);
}

static void huge_ipv6_range(void **state)
{
    struct lbp_provider_ctx *ctx = start("pools:\n  - name: big\n    addresses: [fd00:1::/64]\n"
                                         "  - name: all\n    addresses: [\"fd00:2::/32\"]\n"
                                         "    autoAssign: false\n");
    struct svc s;
    char name[32], want[64];
    uint64_t t0 = lbp_now_ms();
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        svc_init(&s, "ns", name);
        svc_fams(&s, "IPv6", NULL);
        if (i == 0)
            snprintf(want, sizeof(want), "fd00:1::");
        else
            snprintf(want, sizeof(want), "fd00:1::%x", i);
        assert_string_equal(ensure(ctx, &s, LBP_OK, NULL, NULL), want);
    }
    /* a request near the end of a /32 costs nothing either */
    svc_init(&s, "ns", "far");
    svc_fams(&s, "IPv6", NULL);
    s.spec.requested_ip = "fd00:2:ffff:ffff:ffff:ffff:ffff:ffff";
    assert_string_equal(ensure(ctx, &s, LBP_OK, NULL, NULL), s.spec.requested_ip);
    assert_true(lbp_now_ms() - t0 < 5000);

    char *dbg = P->debug_json(ctx);
    assert_non_null(strstr(dbg, "\"size\":\"18446744073709551616\""));
    assert_non_null(strstr(dbg, "\"available\":\"18446744073709551116\""));
    free(dbg);
    P->cleanup(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(caps_and_slots),         cmocka_unit_test(init_rejects_bad_config),
        cmocka_unit_test(auto_assign_get_remove), cmocka_unit_test(requested_ips),
        cmocka_unit_test(annotation_precedence),  cmocka_unit_test(dual_stack),
        cmocka_unit_test(pool_selection),         cmocka_unit_test(avoid_buggy_ips),
        cmocka_unit_test(exhaustion_then_freed),  cmocka_unit_test(restore_rebuilds),
        cmocka_unit_test(configure_at_run_time),  cmocka_unit_test(sharing),
        cmocka_unit_test(concurrent_workers),     cmocka_unit_test(huge_ipv6_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
