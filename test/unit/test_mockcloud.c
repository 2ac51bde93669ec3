/* test_mockcloud.c — the in-process cloud: VIPs, idempotence, faults, state file, parallel latency.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/util.h"
#include "provider/provider.h"
#include "tmpdir.h"

#include <json-c/json.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct lbp_provider *P;

static char dir[64];

static int setup(void **state)
{
    (void)state;
    P = lbp_provider_find("mock");
    snprintf(dir, sizeof(dir), "/tmp/lbp-mock-XXXXXX");
    return P && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes dir/file and starts the mock cloud on it; path receives the file's name. */
static struct lbp_provider_ctx *init_from(const char *file, const char *text, char *path,
                                          size_t len)
{
    struct lbp_provider_ctx *ctx = NULL;
    char err[256];
    snprintf(path, len, "%s/%s", dir, file);
    write_text(path, text);
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    return ctx;
}

static const struct lbp_lb_port ports[] = {{"http", "TCP", 80, 30080}, {"dns", "UDP", 53, 30053}};
static const struct lbp_lb_node nodes[] = {{"n1", "mock://n1", "10.0.0.1", NULL, NULL, 0},
                                           {"n2", "mock://n2", "10.0.0.2", NULL, NULL, 0}};

static void spec_init(struct lbp_lb_spec *s, const char *name, const char *uid)
{
    memset(s, 0, sizeof(*s));
    s->cluster_name = "kubernetes";
    s->namespace = "default";
    s->name = name;
    s->uid = uid;
    lbp_lb_name(uid, s->lb_name);
    s->ports = ports;
    s->n_ports = 2;
    s->nodes = nodes;
    s->n_nodes = 2;
}

/*
 * The LB record keeps its strings compactly (one block, the cloud's own
 * cluster name shared, addresses in buffers of an address's largest
 * size): every field still reads back, a Service's own cluster name is
 * kept, the longest IPv6 text fits, and what is longer than any address
 * is refused, not cut.
 */
static void test_record_fields(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a, b, c;
    struct lbp_lb_status st, cur = {0};
    struct lbp_call call = {0};
    char err[256], *js;
    static const char *const v6max = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
    (void)state;
    assert_int_equal(P->init(NULL, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    spec_init(&a, "a", "11111111-aaaa");
    spec_init(&b, "b", "22222222-bbbb");
    b.cluster_name = "other-cluster";
    b.namespace = "team-b";
    b.n_ports = 1; /* only a lists 30053 below */
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_int_equal(P->ensure(ctx, &b, &st, &call), LBP_OK);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"default/a\""));
    assert_non_null(strstr(js, "\"team-b/b\""));
    assert_non_null(strstr(js, "\"other-cluster\""));
    assert_non_null(strstr(js, "\"11111111-aaaa\""));
    assert_non_null(strstr(js, "\"22222222-bbbb\""));
    free(js);

    /* one listener lives in the record, more in an array: 2 -> 1 -> 0 -> 2 ports */
    a.n_ports = 1;
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "30080"));
    assert_null(strstr(js, "30053"));
    free(js);
    a.n_ports = 0;
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    a.n_ports = 2;
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "30053"));
    free(js);

    spec_init(&c, "c", "33333333-cccc");
    c.requested_ip = "0000:0000:0000:0000:0000:ffff:255.255.255.2555"; /* 46 characters */
    assert_int_equal(P->ensure(ctx, &c, &st, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "not an address"));

    /* restore: the longest IPv6 text is kept; a longer "ip" is not an address */
    spec_init(&c, "c", "44444444-dddd");
    cur.n_ingress = 1;
    lbp_strlcpy(cur.ingress[0].ip, v6max, sizeof(cur.ingress[0].ip));
    assert_int_equal(P->restore(ctx, &c, &cur), LBP_OK);
    assert_int_equal(P->get(ctx, &c, &st, &call), LBP_OK);
    assert_int_equal(st.n_ingress, 1);
    assert_string_equal(st.ingress[0].ip, v6max);
    spec_init(&c, "c", "55555555-eeee");
    lbp_strlcpy(cur.ingress[0].ip, "not-an-address-at-all", sizeof(cur.ingress[0].ip));
    P->restore(ctx, &c, &cur);
    assert_int_equal(P->get(ctx, &c, &st, &call), LBP_NOT_FOUND);
    P->cleanup(ctx);
}

static void test_ensure_remove(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a, b;
    struct lbp_lb_status st, st2;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned;
    size_t n;
    char err[256], *js;
    (void)state;
    assert_int_equal(P->init(NULL, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    spec_init(&a, "a", "11111111-aaaa");
    spec_init(&b, "b", "22222222-bbbb");
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_NOT_FOUND);
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_int_equal(st.n_ingress, 1);
    assert_string_equal(st.ingress[0].ip, "203.0.113.1");
    assert_int_equal(P->ensure(ctx, &a, &st2, &call), LBP_OK); /* idempotent: same VIP */
    assert_string_equal(st2.ingress[0].ip, "203.0.113.1");
    b.requested_ip = "203.0.113.77";
    assert_int_equal(P->ensure(ctx, &b, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "203.0.113.77");
    /* a requested IP in use by another LB can never work */
    struct lbp_lb_spec c;
    spec_init(&c, "c", "33333333");
    c.requested_ip = "203.0.113.77";
    assert_int_equal(P->ensure(ctx, &c, &st, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "in use"));
    assert_int_equal(P->list_owned(ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 2);
    free(owned);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"10.0.0.2:30053\""));
    assert_non_null(strstr(js, "\"default/a\""));
    free(js);
    /* node set changes through update_targets */
    a.n_nodes = 1;
    assert_int_equal(P->update_targets(ctx, &a, &call), LBP_OK);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"updateCalls\":1"));
    free(js);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK); /* gone counts as success */
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_NOT_FOUND);
    assert_int_equal(P->update_targets(ctx, &a, &call), LBP_NOT_FOUND);
    P->cleanup(ctx);
}

static void test_faults_and_hostname(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char err[256], path[128];
    (void)state;
    ctx = init_from("cloud.conf", "# test\nfail_next = 2\nhostname=true\n", path, sizeof(path));
    spec_init(&a, "a", "abcdef");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_RETRY);
    assert_non_null(strstr(call.err, "injected"));
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_RETRY);
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].hostname, "aabcdef.elb.mock.internal");
    assert_string_equal(st.ingress[0].ip, "");
    /* rewriting the file injects more at run time */
    usleep(20000);
    write_text(path, "fail_next=1\nthrottle_rate=0\nretry_after_s=9\n");
    assert_int_equal(P->ping(ctx, &call), LBP_OK); /* reads do not use up injected failures */
    assert_int_equal(P->remove(ctx, &a, &call), LBP_RETRY);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    /* and so does the debug endpoint's POST */
    assert_int_equal(P->debug_post(ctx, "failNext=1\n", err, sizeof(err)), LBP_OK);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_RETRY);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    assert_int_equal(P->debug_post(ctx, "failNext=lots", err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "fail_next"));
    write_text(path, "throttle_rate=1\nretry_after_s=9\nlatency_ms=1\n");
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->ping(ctx, &call), LBP_RETRY);
    assert_int_equal(call.retry_after_s, 9);
    P->cleanup(ctx);
    write_text(path, "bogus=1\n");
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "bogus"));
    write_text(path, "latency_ms=-4\n");
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
}

/* The cloud's backends for a's LB, from the debug JSON: "10.0.0.1,10.0.0.2" or "" */
static void lb_nodes(struct lbp_provider_ctx *ctx, char *out, size_t len)
{
    char *js = P->debug_json(ctx);
    const char *p = strstr(js, "\"nodes\"");
    size_t n = 0;
    out[0] = '\0';
    if (p && (p = strchr(p, '[')))
        for (p++; *p && *p != ']' && n + 1 < len; p++)
            if (*p != '"' && *p != ' ' && *p != '\n')
                out[n++] = *p;
    out[n] = '\0';
    free(js);
}

/*
 * pendingPolls=N: each change answers LBP_PENDING N times (one in-flight
 * operation per LB, polled by whichever call comes next) before it takes
 * effect; reads see the cloud as it is meanwhile.
 */
static void test_pending_polls(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a, b;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char err[256], path[128], got[128], *js;
    (void)state;
    ctx = init_from("cloud.conf", "pendingPolls=3\nretry_after_s=4\n", path, sizeof(path));
    spec_init(&a, "a", "aaaa-1");
    spec_init(&b, "b", "bbbb-2");
    for (int i = 0; i < 3; i++) {
        memset(&call, 0, sizeof(call));
        assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_PENDING);
        assert_int_equal(call.retry_after_s, 4);
        assert_non_null(strstr(call.err, "op-1 (ensure) RUNNING"));
        assert_int_equal(P->get(ctx, &a, &st, &call), LBP_NOT_FOUND); /* not there yet */
    }
    /* another LB has its own operation */
    assert_int_equal(P->ensure(ctx, &b, &st, &call), LBP_PENDING);
    assert_non_null(strstr(call.err, "op-2"));
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"pollsLeft\":0"));
    assert_non_null(strstr(js, "\"pollsLeft\":2"));
    free(js);
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_int_equal(st.n_ingress, 1);
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_OK);

    /* a node change: the old backends stay until the operation is over */
    a.n_nodes = 1;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(P->update_targets(ctx, &a, &call), LBP_PENDING);
        lb_nodes(ctx, got, sizeof(got));
        assert_string_equal(got, "10.0.0.1,10.0.0.2");
    }
    assert_int_equal(P->update_targets(ctx, &a, &call), LBP_OK);
    lb_nodes(ctx, got, sizeof(got));
    assert_string_equal(got, "10.0.0.1");

    /* a removal polled by the next call, whichever slot, then gone */
    assert_int_equal(P->remove(ctx, &a, &call), LBP_PENDING);
    assert_int_equal(P->update_targets(ctx, &a, &call), LBP_PENDING);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_PENDING);
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_OK);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_NOT_FOUND);
    /* nothing to operate on: answered at once */
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    assert_int_equal(P->update_targets(ctx, &a, &call), LBP_NOT_FOUND);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"pending\":10"));
    free(js);

    /* set at run time; 0 makes every change synchronous again */
    assert_int_equal(P->debug_post(ctx, "pendingPolls=0", err, sizeof(err)), LBP_OK);
    spec_init(&a, "a", "aaaa-3");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_int_equal(P->debug_post(ctx, "pendingPolls=1", err, sizeof(err)), LBP_OK);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_PENDING);
    assert_int_equal(P->remove(ctx, &a, &call), LBP_OK);
    assert_int_equal(P->debug_post(ctx, "pendingPolls=-1", err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "pending_polls"));
    P->cleanup(ctx); /* b's operation is still in flight: freed, not leaked */
}

static void test_state_file(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a, b;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned;
    size_t n;
    char err[256], path[128], text[256];
    (void)state;
    snprintf(path, sizeof(path), "%s/state.conf", dir);
    snprintf(text, sizeof(text), "state_file=%s/state.json\nvip6_range=2001:db8:1::/64\n", dir);
    write_text(path, text);
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    spec_init(&a, "a", "aaaa");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    P->cleanup(ctx);
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_OK); /* survived the restart */
    assert_string_equal(st.ingress[0].ip, "203.0.113.1");
    spec_init(&b, "b", "bbbb");
    static const char *const fam[] = {"IPv6"};
    b.ip_families = fam;
    b.n_ip_families = 1;
    assert_int_equal(P->ensure(ctx, &b, &st, &call), LBP_OK);
    assert_int_equal(st.n_ingress, 1);
    assert_string_equal(st.ingress[0].ip, "2001:db8:1::1"); /* v4 .1 is still taken by a */
    assert_int_equal(P->list_owned(ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 2);
    free(owned);
    P->cleanup(ctx);
    /* another cluster's LBs are not listed as ours */
    assert_int_equal(P->init(path, "other", &ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(P->list_owned(ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 0);
    free(owned);
    P->cleanup(ctx);
}

/*
 * list_owned answers one block: the entries, then their strings, sized to
 * fit. With fixed-size name arrays (636 bytes an entry) the block for 200
 * LBs would be over 120 KB; here it is what the names take.
 */
static void test_list_owned_compact(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec s;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned;
    size_t n, size;
    char err[256], name[32], uid[40];
    (void)state;
    assert_int_equal(P->init(NULL, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "svc-%d", i);
        snprintf(uid, sizeof(uid), "%08d-0000-4000-8000-000000000000", i);
        spec_init(&s, name, uid);
        assert_int_equal(P->ensure(ctx, &s, &st, &call), LBP_OK);
    }
    assert_int_equal(P->list_owned(ctx, &owned, &n, &call), LBP_OK);
    assert_int_equal(n, 200);
    size = malloc_usable_size(owned);
    assert_true(size < 200 * 128);
    for (size_t i = 0; i < n; i++) {
        const char *lo = (const char *)owned, *hi = lo + size;
        assert_true(owned[i].lb_name > lo && owned[i].lb_name < hi);
        assert_true(owned[i].name > lo && owned[i].name < hi);
        assert_true(owned[i].namespace > lo && owned[i].namespace < hi);
        assert_string_equal(owned[i].namespace, "default");
        assert_int_equal(strncmp(owned[i].name, "svc-", 4), 0);
        assert_int_equal(strlen(owned[i].lb_name), LBP_LB_NAME_LEN);
    }
    free(owned);
    P->cleanup(ctx);
}

/* The builder behind every cloud's list_owned: "ns/name" keys, caps, look-up. */
static void test_owned_builder(void **state)
{
    struct lbp_owned_list l;
    struct lbp_lb_owned *o;
    char long_name[400];
    size_t n;
    (void)state;
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    lbp_owned_init(&l);
    assert_int_equal(lbp_owned_add_key(&l, "a1", "ns1/svc1"), LBP_OK);
    assert_int_equal(lbp_owned_add_key(&l, "a2", "noslash"), LBP_OK);
    assert_int_equal(lbp_owned_add(&l, long_name, NULL, long_name), LBP_OK);
    assert_true(lbp_owned_has(&l, "a2"));
    assert_false(lbp_owned_has(&l, "a3"));
    assert_int_equal(lbp_owned_count(&l), 3);
    assert_int_equal(lbp_owned_take(&l, &o, &n), LBP_OK);
    assert_int_equal(lbp_owned_count(&l), 0); /* emptied */
    assert_int_equal(n, 3);
    assert_string_equal(o[0].lb_name, "a1");
    assert_string_equal(o[0].namespace, "ns1");
    assert_string_equal(o[0].name, "svc1");
    assert_string_equal(o[1].namespace, "");
    assert_string_equal(o[1].name, "");
    assert_int_equal(strlen(o[2].lb_name), LBP_OWNED_LB_NAME_MAX);
    assert_int_equal(strlen(o[2].name), LBP_OWNED_NAME_MAX);
    assert_string_equal(o[2].namespace, "");
    free(o);
    lbp_owned_free(&l); /* after take: nothing left, freeing again is harmless */
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    assert_non_null(f);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    assert_true(n > 0 && n < (1 << 16) - 1);
    fclose(f);
    return buf;
}

/*
 * A damaged state file (a null or a wrong type in any field) stops the
 * start with the field named, and the file is left exactly as it was.
 */
static void test_state_file_checked(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char err[512], path[128], text[256], sf[128];
    static const char *const ranges[] = {"10.0.0.0/8"};
    static const struct {
        const char *path; /* "field" of lbs[0], or "field.index" into an array */
        const char *value;
        const char *named;
    } cases[] = {
        {"nodes.0", "null", "lbs[0].nodes[0]: expected string, got null"},
        {"sourceRanges.0", "null", "lbs[0].sourceRanges[0]: expected string, got null"},
        {"sourceRanges.0", "7", "lbs[0].sourceRanges[0]: expected string, got int"},
        {"nodes", "null", "lbs[0].nodes: expected array, got null"},
        {"sourceRanges", "{}", "lbs[0].sourceRanges: expected array, got object"},
        {"name", "null", "lbs[0].name: expected string, got null"},
        {"tags", "null", "lbs[0].tags: expected object, got null"},
        {"vip", "null", "lbs[0].vip: expected string, got null"},
        {"hostname", "null", "lbs[0].hostname: expected string, got null"},
        {"listeners", "null", "lbs[0].listeners: expected array, got null"},
        {"listeners.0", "null", "lbs[0].listeners[0]: expected object, got null"},
        {"healthCheckNodePort", "\"x\"", "lbs[0].healthCheckNodePort: expected int, got string"},
        {"healthCheckNodePort", "70000", "lbs[0].healthCheckNodePort: 70000 is outside"},
        {"localTraffic", "null", "lbs[0].localTraffic: expected boolean, got null"},
        {"sessionAffinity", "null", "lbs[0].sessionAffinity: expected string, got null"},
        {"ensureCalls", "-1", "lbs[0].ensureCalls: -1 is outside"},
        {"vip", "\"hello\"", "lbs[0].vip: \"hello\" is not an IPv4 address"},
        {"vip6", "\"203.0.113.9\"", "lbs[0].vip6: \"203.0.113.9\" is not an IPv6 address"},
    };
    (void)state;
    snprintf(path, sizeof(path), "%s/checked.conf", dir);
    snprintf(sf, sizeof(sf), "%s/checked.json", dir);
    snprintf(text, sizeof(text), "state_file=%s\n", sf);
    write_text(path, text);
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    spec_init(&a, "a", "cccc");
    a.source_ranges = ranges;
    a.n_source_ranges = 1;
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    P->cleanup(ctx);
    char *good = slurp(sf);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_object *root = json_tokener_parse(good), *lb,
                    *val = json_tokener_parse(cases[i].value);
        char field[64];
        const char *dot;
        assert_non_null(root);
        lb = json_object_array_get_idx(json_object_object_get(root, "lbs"), 0);
        assert_non_null(lb);
        lbp_strlcpy(field, cases[i].path, sizeof(field));
        if ((dot = strchr(cases[i].path, '.'))) {
            field[dot - cases[i].path] = '\0';
            json_object *arr = json_object_object_get(lb, field);
            assert_non_null(arr);
            assert_int_equal(
                json_object_array_put_idx(arr, (size_t)strtoul(dot + 1, NULL, 10), val), 0);
        } else {
            json_object_object_add(lb, field, val);
        }
        assert_int_equal(json_object_to_file(sf, root), 0);
        json_object_put(root);
        char *bad = slurp(sf);
        err[0] = '\0';
        ctx = NULL;
        assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
        assert_null(ctx);
        if (!strstr(err, cases[i].named) || !strstr(err, sf))
            fail_msg("%s=%s: error \"%s\" does not name \"%s\"", cases[i].path, cases[i].value, err,
                     cases[i].named);
        char *after = slurp(sf);
        assert_string_equal(after, bad); /* left for a person to repair */
        free(after);
        free(bad);
    }

    /* Two load balancers holding one address (found by fuzzing): refused, naming both. */
    {
        json_object *root = json_tokener_parse(good), *arr = json_object_object_get(root, "lbs");
        json_object *copy = NULL;
        assert_int_equal(json_object_deep_copy(json_object_array_get_idx(arr, 0), &copy, NULL), 0);
        json_object_object_add(copy, "name", json_object_new_string("other"));
        json_object_array_add(arr, copy);
        assert_int_equal(json_object_to_file(sf, root), 0);
        json_object_put(root);
        assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
        assert_non_null(strstr(err, "lbs[1].vip: \"203.0.113.1\" already at lbs[0]"));
    }

    /* Not JSON at all is refused too, rather than taken for a first start. */
    write_text(sf, "{\"lbs\": [");
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "not JSON"));

    /* The untouched file still loads, with every field. */
    write_text(sf, good);
    assert_int_equal(P->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(P->get(ctx, &a, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "203.0.113.1");
    P->cleanup(ctx);
    free(good);
}

static void test_yaml_keys(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char path[128];
    (void)state;
    ctx = init_from("cloud-config.yaml", "vipRange: 198.51.100.0/24\nipMode: Proxy\n", path,
                    sizeof(path));
    spec_init(&a, "a", "yaml");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "198.51.100.1");
    assert_string_equal(st.ingress[0].ip_mode, "Proxy");
    P->cleanup(ctx);
}

struct par {
    struct lbp_provider_ctx *ctx;
    int i;
};

static void *par_main(void *arg)
{
    struct par *p = arg;
    struct lbp_lb_spec s;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char uid[32];
    snprintf(uid, sizeof(uid), "uid-%d", p->i);
    spec_init(&s, uid, uid);
    return (void *)(intptr_t)P->ensure(p->ctx, &s, &st, &call);
}

static void test_parallel_latency(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct par ps[8];
    pthread_t th[8];
    char path[128];
    uint64_t t0;
    (void)state;
    ctx = init_from("lat.conf", "latency_ms=100\n", path, sizeof(path));
    t0 = lbp_now_ms();
    for (int i = 0; i < 8; i++) {
        ps[i] = (struct par){ctx, i};
        pthread_create(&th[i], NULL, par_main, &ps[i]);
    }
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_int_equal((intptr_t)r, LBP_OK);
    }
    /* eight 100 ms calls overlap instead of taking 800 ms */
    assert_true(lbp_now_ms() - t0 < 500);
    assert_true(lbp_now_ms() - t0 >= 100);
    P->cleanup(ctx);
}

/* SIGHUP's reload: a new VIP range and latency apply, a bad file changes nothing. */
static void test_reload(void **state)
{
    struct lbp_provider_ctx *ctx;
    struct lbp_lb_spec a, b;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char path[128], err[256] = "", *js;
    (void)state;
    assert_non_null(P->reload);
    ctx = init_from("reload.conf", "vip_range=192.0.2.0/24\n", path, sizeof(path));
    spec_init(&a, "a", "aaaa0000-1111");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "192.0.2.1");

    write_text(path, "vip_range=nonsense\nlatency_ms=7\n");
    assert_int_not_equal(P->reload(ctx, path, err, sizeof(err)), LBP_OK);
    assert_non_null(strstr(err, "vip_range"));
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"vipRange\":\"192.0.2.0/24\""));
    assert_non_null(strstr(js, "\"latencyMs\":0"));
    free(js);

    write_text(path, "vip_range=198.51.100.0/28\nlatency_ms=7\n");
    assert_int_equal(P->reload(ctx, path, err, sizeof(err)), LBP_OK);
    js = P->debug_json(ctx);
    assert_non_null(strstr(js, "\"vipRange\":\"198.51.100.0/28\""));
    assert_non_null(strstr(js, "\"latencyMs\":7"));
    free(js);
    spec_init(&b, "b", "bbbb0000-2222");
    assert_int_equal(P->ensure(ctx, &b, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "198.51.100.1");
    assert_int_equal(P->ensure(ctx, &a, &st, &call), LBP_OK); /* an old LB keeps its VIP */
    assert_string_equal(st.ingress[0].ip, "192.0.2.1");
    P->cleanup(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_owned_compact), cmocka_unit_test(test_owned_builder),
        cmocka_unit_test(test_ensure_remove),      cmocka_unit_test(test_faults_and_hostname),
        cmocka_unit_test(test_state_file),         cmocka_unit_test(test_state_file_checked),
        cmocka_unit_test(test_parallel_latency),   cmocka_unit_test(test_yaml_keys),
        cmocka_unit_test(test_record_fields),      cmocka_unit_test(test_reload),
        cmocka_unit_test(test_pending_polls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
