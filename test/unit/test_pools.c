/* test_pools.c — address arithmetic, the YAML and MetalLB parsers, selectors, overlap checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rc.h"
#include "pools/pools.h"

static struct lbp_ip ip(const char *s)
{
    struct lbp_ip r;
    assert_int_equal(lbp_ip_parse(s, &r), LBP_OK);
    return r;
}

static void ip_round_trip(void **state)
{
    char out[LBP_IP_STRLEN];
    struct lbp_ip a = ip("192.168.77.100");
    assert_int_equal(a.family, AF_INET);
    assert_true(a.v == 0xc0a84d64);
    lbp_ip_format(&a, out);
    assert_string_equal(out, "192.168.77.100");
    a = ip("fd00:77::1ff");
    assert_int_equal(a.family, AF_INET6);
    assert_true((uint64_t)a.v == 0x1ff);
    assert_true((uint64_t)(a.v >> 64) == 0xfd00007700000000ull);
    lbp_ip_format(&a, out);
    assert_string_equal(out, "fd00:77::1ff");
    struct lbp_ip bad;
    assert_int_equal(lbp_ip_parse("192.168.1", &bad), LBP_PARSE);
    assert_int_equal(lbp_ip_parse("", &bad), LBP_PARSE);
    assert_int_equal(lbp_ip_parse("1.2.3.4 ", &bad), LBP_PARSE);
    assert_true(lbp_ip_is_buggy(&(struct lbp_ip){AF_INET, ip("10.0.1.0").v}));
    assert_true(lbp_ip_is_buggy(&(struct lbp_ip){AF_INET, ip("10.0.1.255").v}));
    assert_false(lbp_ip_is_buggy(&(struct lbp_ip){AF_INET, ip("10.0.1.1").v}));
    assert_false(lbp_ip_is_buggy(&(struct lbp_ip){AF_INET6, ip("fd00::100").v}));
}

static void range_forms(void **state)
{
    struct lbp_ip_range r;
    bool masked;
    char why[96];
    char n[40];

    assert_int_equal(
        lbp_ip_range_parse("192.168.77.100-192.168.77.150", &r, &masked, why, sizeof(why)), LBP_OK);
    assert_true(r.first == ip("192.168.77.100").v && r.last == ip("192.168.77.150").v);
    lbp_u128_format(lbp_ip_range_size(&r, false), n);
    assert_string_equal(n, "51");
    assert_int_equal(lbp_ip_range_parse("10.0.0.1 - 10.0.0.3", &r, &masked, why, sizeof(why)),
                     LBP_OK);
    assert_true(r.last - r.first == 2);

    assert_int_equal(lbp_ip_range_parse("192.168.78.0/28", &r, &masked, why, sizeof(why)), LBP_OK);
    assert_false(masked);
    assert_true(r.first == ip("192.168.78.0").v && r.last == ip("192.168.78.15").v);
    assert_int_equal(lbp_ip_range_parse("192.168.78.5/28", &r, &masked, why, sizeof(why)), LBP_OK);
    assert_true(masked);
    assert_true(r.first == ip("192.168.78.0").v);

    /* avoidBuggyIPs counting without enumeration: a /22 has 4 .0 and 4 .255 */
    assert_int_equal(lbp_ip_range_parse("10.1.0.0/22", &r, &masked, why, sizeof(why)), LBP_OK);
    lbp_u128_format(lbp_ip_range_size(&r, true), n);
    assert_string_equal(n, "1016");
    assert_int_equal(lbp_ip_range_parse("10.1.0.255-10.1.1.0", &r, &masked, why, sizeof(why)),
                     LBP_OK);
    lbp_u128_format(lbp_ip_range_size(&r, true), n);
    assert_string_equal(n, "0");

    assert_int_equal(lbp_ip_range_parse("fd00:77::/64", &r, &masked, why, sizeof(why)), LBP_OK);
    lbp_u128_format(lbp_ip_range_size(&r, true), n);
    assert_string_equal(n, "18446744073709551616");
    assert_int_equal(lbp_ip_range_parse("::/0", &r, &masked, why, sizeof(why)), LBP_OK);
    lbp_u128_format(lbp_ip_range_size(&r, false), n);
    assert_string_equal(n, "340282366920938463463374607431768211455");
    assert_int_equal(lbp_ip_range_parse("10.9.9.9", &r, &masked, why, sizeof(why)), LBP_OK);
    assert_true(r.first == r.last);
}

static void range_errors(void **state)
{
    static const struct {
        const char *in, *why;
    } cases[] = {
        {"10.0.0.9-10.0.0.1", "range end before start"},
        {"10.0.0.1-fd00::1", "mixed address families"},
        {"10.0.0.0/33", "prefix length 33 out of range for IPv4"},
        {"fd00::/129", "prefix length 129 out of range for IPv6"},
        {"10.0.0.0/x", "invalid prefix length"},
        {"10.0.0.0/+1", "invalid prefix length"},
        {"10.0.0.0/", "invalid prefix length"},
        {"10.0.0.300-10.0.0.1", "invalid range start"},
        {"10.0.0.1-", "invalid range end"},
        {"hello", "not an address, CIDR or range"},
        {"10.0.0.0/24-10.0.1.0", "both a prefix and a range"},
        {"", "empty address range"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lbp_ip_range r;
        char why[96] = "";
        assert_int_equal(lbp_ip_range_parse(cases[i].in, &r, NULL, why, sizeof(why)), LBP_PARSE);
        assert_string_equal(why, cases[i].why);
    }
}

static const char *const example_yaml =
    "pools:\n"
    "  - name: lan\n"
    "    addresses: [\"192.168.77.100-192.168.77.150\", \"192.168.78.0/28\",\n"
    "                \"fd00:77::100-fd00:77::1ff\"]\n"
    "    autoAssign: true\n"
    "    avoidBuggyIPs: true\n"
    "    serviceAllocation:\n"
    "      priority: 10\n"
    "      namespaces: [\"prod\"]\n"
    "      serviceSelectors: [{matchLabels: {tier: web}}]\n"
    "    nodeSelectors: [{matchLabels: {kubernetes.io/os: linux}}]\n"
    "    interfaces: [\"eth0\"]\n"
    "  - name: dmz\n"
    "    addresses:\n"
    "      - 203.0.113.0/30\n"
    "    autoAssign: false\n";

static void yaml_example(void **state)
{
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    assert_int_equal(lbp_pools_add_yaml(set, example_yaml, strlen(example_yaml), &d), LBP_OK);
    assert_int_equal(lbp_pool_set_check(set, &d), LBP_OK);
    assert_int_equal(d.n_warn, 0);
    assert_int_equal(set->n_pools, 2);
    const struct lbp_pool *lan = lbp_pool_set_find(set, "lan");
    assert_non_null(lan);
    assert_int_equal(lan->n_ranges, 3);
    assert_true(lan->auto_assign);
    assert_true(lan->avoid_buggy_ips);
    assert_int_equal(lan->priority, 10);
    assert_true(lan->has_allocation);
    assert_int_equal(lan->n_namespaces, 1);
    assert_string_equal(lan->namespaces[0], "prod");
    assert_int_equal(lan->n_service_selectors, 1);
    assert_int_equal(lan->n_advs, 1);
    assert_int_equal(lan->advs[0].n_interfaces, 1);
    assert_true(lbp_pool_has_family(lan, AF_INET6));

    const struct lbp_pool *dmz = lbp_pool_set_find(set, "dmz");
    assert_non_null(dmz);
    assert_false(dmz->auto_assign);
    assert_false(lbp_pool_has_family(dmz, AF_INET6));
    struct lbp_ip a = ip("203.0.113.2");
    assert_ptr_equal(lbp_pool_set_lookup(set, &a), dmz);
    a = ip("fd00:77::150");
    assert_ptr_equal(lbp_pool_set_lookup(set, &a), lan);
    a = ip("192.168.78.0");
    assert_true(lbp_pool_contains(lan, &a));
    assert_false(lbp_pool_usable(lan, &a)); /* avoidBuggyIPs */

    /* serviceAllocation: namespace and labels */
    struct lbp_pools_label web = {"tier", "web"}, db = {"tier", "db"};
    assert_true(lbp_pool_allows(lan, "prod", &web, 1));
    assert_false(lbp_pool_allows(lan, "dev", &web, 1));
    assert_false(lbp_pool_allows(lan, "prod", &db, 1));
    assert_true(lbp_pool_allows(dmz, "dev", NULL, 0));

    /* speaker side */
    struct lbp_pools_label linux_node = {"kubernetes.io/os", "linux"},
                           win = {"kubernetes.io/os", "windows"};
    assert_true(lbp_pool_node_allowed(lan, &linux_node, 1));
    assert_false(lbp_pool_node_allowed(lan, &win, 1));
    assert_true(lbp_pool_interface_allowed(lan, &linux_node, 1, "eth0"));
    assert_false(lbp_pool_interface_allowed(lan, &linux_node, 1, "eth1"));
    assert_true(lbp_pool_interface_allowed(dmz, &win, 1, "eth1"));
    lbp_pool_set_free(set);
}

/* Parses yaml and expects failure with exactly this message. */
static void expect_yaml_error(const char *yaml, int want_rc, const char *msg)
{
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    int rc = lbp_pools_add_yaml(set, yaml, strlen(yaml), &d);
    if (rc == LBP_OK)
        rc = lbp_pool_set_check(set, &d);
    if (rc != want_rc || strcmp(d.err, msg) != 0)
        fail_msg("yaml:\n%s\nrc %d (want %d)\nerr \"%s\"\nwant \"%s\"", yaml, rc, want_rc, d.err,
                 msg);
    lbp_pool_set_free(set);
}

static void yaml_errors(void **state)
{
    expect_yaml_error("pools:\n  - name: a\n    addresses: [\"10.0.0.1-10.0.0.5\", "
                      "\"10.0.0.9-10.0.0.1\"]\n",
                      LBP_INVALID,
                      "pools[0].addresses[1]: \"10.0.0.9-10.0.0.1\": range end before start");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [\"10.0.0.1-fd00::1\"]\n", LBP_INVALID,
                      "pools[0].addresses[0]: \"10.0.0.1-fd00::1\": mixed address families");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.0/24]\n"
                      "  - name: b\n    addresses: [10.0.0.128/25]\n",
                      LBP_INVALID, "pools \"a\" (10.0.0.0/24) and \"b\" (10.0.0.128/25) overlap");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.0/24, 10.0.0.7-10.0.0.9]\n",
                      LBP_INVALID,
                      "pool \"a\": addresses \"10.0.0.0/24\" and \"10.0.0.7-10.0.0.9\" overlap");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [fd00::/64]\n"
                      "  - name: b\n    addresses: [\"fd00::5\"]\n",
                      LBP_INVALID, "pools \"a\" (fd00::/64) and \"b\" (fd00::5) overlap");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "  - name: a\n    addresses: [10.0.1.1]\n",
                      LBP_INVALID, "pool \"a\" is defined twice");
    expect_yaml_error("pools:\n  - addresses: [10.0.0.1]\n", LBP_INVALID,
                      "pools[0].name: required string");
    expect_yaml_error("pools:\n  - name: Big_Pool\n    addresses: [10.0.0.1]\n", LBP_INVALID,
                      "pools[0].name: \"Big_Pool\": must be a DNS name (lowercase letters, "
                      "digits, '-' and '.')");
    expect_yaml_error("pools:\n  - name: a\n", LBP_INVALID, "pools[0].addresses: required");
    expect_yaml_error("pools:\n  - name: a\n    addresses: []\n", LBP_INVALID,
                      "pools[0].addresses: at least one address range is required");
    expect_yaml_error("pools:\n  - name: a\n    addresses: 10.0.0.1\n", LBP_INVALID,
                      "pools[0].addresses: expected a list");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n    autoAssign: maybe\n",
                      LBP_INVALID, "pools[0].autoAssign: expected true or false");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "    serviceAllocation: {priority: -1}\n",
                      LBP_INVALID,
                      "pools[0].serviceAllocation.priority: expected an integer 0..1000000");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "    nodeSelectors: [{matchExpressions: [{key: k, operator: Gt, values: "
                      "[\"1\"]}]}]\n",
                      LBP_INVALID,
                      "pools[0].nodeSelectors[0].matchExpressions[0].operator: unknown operator "
                      "\"Gt\" (In, NotIn, Exists, DoesNotExist)");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "    nodeSelectors: [{matchExpressions: [{key: k, operator: In}]}]\n",
                      LBP_INVALID,
                      "pools[0].nodeSelectors[0].matchExpressions[0].values: required for "
                      "operator In");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "    nodeSelectors: [{matchExpressions: [{key: k, operator: Exists, "
                      "values: [x]}]}]\n",
                      LBP_INVALID,
                      "pools[0].nodeSelectors[0].matchExpressions[0].values: must be empty for "
                      "operator Exists");
    expect_yaml_error("pools:\n  - name: a\n    addresses: [10.0.0.1]\n"
                      "    nodeSelectors: [{matchLabels: {zone: 1}}]\n",
                      LBP_INVALID,
                      "pools[0].nodeSelectors[0].matchLabels.zone: expected a string (quote "
                      "numbers and booleans)");
    expect_yaml_error("pools: [\n", LBP_PARSE,
                      "line 2 column 1: did not find expected node content");
    expect_yaml_error("pools:\n  - name: a\n    name: b\n", LBP_PARSE,
                      "line 3: duplicate key \"name\"");
    expect_yaml_error("- a\n", LBP_INVALID, "expected a mapping with a \"pools\" list");
    expect_yaml_error("pools: {}\n", LBP_INVALID, "pools: expected a list");
}

static void yaml_unknown_fields_warn(void **state)
{
    const char *y = "pools:\n  - name: a\n    addresses: [10.0.0.5/24]\n    colour: blue\n"
                    "    serviceAllocation: {flavour: x}\nversion: 2\n";
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    assert_int_equal(lbp_pools_add_yaml(set, y, strlen(y), &d), LBP_OK);
    assert_int_equal(d.n_warn, 4);
    assert_non_null(strstr(d.warn, "version: unknown field, ignored\n"));
    assert_non_null(strstr(d.warn, "pools[0].colour: unknown field, ignored\n"));
    assert_non_null(strstr(d.warn, "pools[0].serviceAllocation.flavour: unknown field, ignored\n"));
    assert_non_null(strstr(d.warn, "pools[0].addresses[0]: \"10.0.0.5/24\" has host bits set"));
    assert_int_equal(set->n_pools, 1);
    lbp_pool_set_free(set);
}

static void yaml_file_and_limits(void **state)
{
    char path[] = "/tmp/lbp-pools-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, example_yaml, strlen(example_yaml)), (ssize_t)strlen(example_yaml));
    close(fd);
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    assert_int_equal(lbp_pools_add_yaml_file(set, path, &d), LBP_OK);
    assert_int_equal(set->n_pools, 2);
    lbp_pool_set_free(set);
    unlink(path);

    set = lbp_pool_set_new();
    memset(&d, 0, sizeof(d));
    assert_int_equal(lbp_pools_add_yaml_file(set, "/nonexistent/pools.yaml", &d), LBP_IO);
    assert_string_equal(d.err, "/nonexistent/pools.yaml: No such file or directory");

    /* an alias bomb stops at the node budget instead of eating memory */
    char bomb[2048] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    const char *prev = "a";
    static const char *names[] = {"b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 6; i++) {
        size_t len = strlen(bomb);
        snprintf(bomb + len, sizeof(bomb) - len,
                 "%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", names[i], names[i],
                 prev, prev, prev, prev, prev, prev, prev, prev, prev, prev);
        prev = names[i];
    }
    memset(&d, 0, sizeof(d));
    assert_int_equal(lbp_pools_add_yaml(set, bomb, strlen(bomb), &d), LBP_TOOBIG);
    assert_non_null(strstr(d.err, "document too large"));
    assert_int_equal(set->n_pools, 0);
    lbp_pool_set_free(set);
}

static struct lbp_selector *sel_from_yaml(const char *sel, struct lbp_pool_set **keep)
{
    char y[1024];
    struct lbp_pools_diag d = {0};
    snprintf(y, sizeof(y),
             "pools:\n  - name: a\n    addresses: [10.0.0.1]\n    nodeSelectors: [%s]\n", sel);
    *keep = lbp_pool_set_new();
    if (lbp_pools_add_yaml(*keep, y, strlen(y), &d) != LBP_OK)
        fail_msg("%s", d.err);
    return &(*keep)->pools[0].advs[0].node_selectors[0];
}

static void selectors_match(void **state)
{
    struct lbp_pool_set *keep;
    struct lbp_selector *s = sel_from_yaml(
        "{matchLabels: {os: linux}, matchExpressions: ["
        "{key: zone, operator: In, values: [a, b]}, {key: role, operator: NotIn, values: [edge]},"
        "{key: gpu, operator: DoesNotExist}, {key: rack, operator: Exists}]}",
        &keep);
    struct lbp_pools_label ok[] = {{"os", "linux"}, {"zone", "b"}, {"rack", "r1"}};
    assert_true(lbp_selector_matches(s, ok, 3));
    struct lbp_pools_label wrong_os[] = {{"os", "windows"}, {"zone", "b"}, {"rack", "r1"}};
    assert_false(lbp_selector_matches(s, wrong_os, 3));
    struct lbp_pools_label zone_c[] = {{"os", "linux"}, {"zone", "c"}, {"rack", "r1"}};
    assert_false(lbp_selector_matches(s, zone_c, 3));
    struct lbp_pools_label no_zone[] = {{"os", "linux"}, {"rack", "r1"}};
    assert_false(lbp_selector_matches(s, no_zone, 2));
    struct lbp_pools_label edge[] = {
        {"os", "linux"}, {"zone", "a"}, {"rack", "r1"}, {"role", "edge"}};
    assert_false(lbp_selector_matches(s, edge, 4));
    struct lbp_pools_label gpu[] = {{"os", "linux"}, {"zone", "a"}, {"rack", "r1"}, {"gpu", ""}};
    assert_false(lbp_selector_matches(s, gpu, 4));
    struct lbp_pools_label no_rack[] = {{"os", "linux"}, {"zone", "a"}};
    assert_false(lbp_selector_matches(s, no_rack, 2));
    /* a list: any one; empty: everything */
    assert_true(lbp_selectors_match(NULL, 0, NULL, 0));
    assert_false(lbp_selectors_match(s, 1, NULL, 0));
    lbp_pool_set_free(keep);
}

static const char *pool_json_a =
    "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
    "\"metadata\":{\"name\":\"gold\",\"namespace\":\"metallb-system\",\"labels\":{\"tier\":"
    "\"gold\"}},"
    "\"spec\":{\"addresses\":[\"10.10.0.0/29\",\"fd10::/120\"],\"autoAssign\":false,"
    "\"avoidBuggyIPs\":true,\"serviceAllocation\":{\"priority\":5,\"namespaces\":[\"a\"],"
    "\"namespaceSelectors\":[{\"matchLabels\":{\"kubernetes.io/metadata.name\":\"b\"}}],"
    "\"serviceSelectors\":[{\"matchExpressions\":[{\"key\":\"app\",\"operator\":\"In\","
    "\"values\":[\"web\"]}]}]}},\"status\":{}}";
static const char *pool_json_b = "{\"kind\":\"IPAddressPool\",\"metadata\":{\"name\":\"silver\"},"
                                 "\"spec\":{\"addresses\":[\"10.20.0.1-10.20.0.9\"]}}";
static const char *pool_json_c = "{\"kind\":\"IPAddressPool\",\"metadata\":{\"name\":\"bronze\"},"
                                 "\"spec\":{\"addresses\":[\"10.30.0.0/24\"]}}";

static void metallb_objects(void **state)
{
    const char *pools[] = {pool_json_a, pool_json_b, pool_json_c};
    const char *l2[] = {
        /* by label: gold */
        "{\"kind\":\"L2Advertisement\",\"metadata\":{\"name\":\"by-label\"},\"spec\":{"
        "\"ipAddressPoolSelectors\":[{\"matchLabels\":{\"tier\":\"gold\"}}],"
        "\"nodeSelectors\":[{\"matchLabels\":{\"edge\":\"true\"}}],\"interfaces\":[\"eth1\"]}}",
        /* by name: silver, plus a missing pool (warning) */
        "{\"kind\":\"L2Advertisement\",\"metadata\":{\"name\":\"by-name\"},\"spec\":{"
        "\"ipAddressPools\":[\"silver\",\"missing\"],\"extra\":1}}",
    };
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    assert_int_equal(lbp_pools_add_metallb(set, pools, 3, l2, 2, &d), LBP_OK);
    assert_int_equal(lbp_pool_set_check(set, &d), LBP_OK);
    assert_int_equal(set->n_pools, 3);
    assert_int_equal(d.n_warn, 2);
    assert_non_null(strstr(d.warn, "L2Advertisement by-name: spec.ipAddressPools[1]: pool "
                                   "\"missing\" does not exist"));
    assert_non_null(strstr(d.warn, "L2Advertisement by-name: spec.extra: unknown field"));

    const struct lbp_pool *gold = lbp_pool_set_find(set, "gold");
    assert_int_equal(gold->source, LBP_POOL_CRD);
    assert_false(gold->auto_assign);
    assert_true(gold->avoid_buggy_ips);
    assert_int_equal(gold->priority, 5);
    assert_int_equal(gold->n_ranges, 2);
    assert_int_equal(gold->n_advs, 1);
    assert_string_equal(gold->advs[0].name, "by-label");
    struct lbp_pools_label edge = {"edge", "true"}, plain = {"edge", "false"};
    assert_true(lbp_pool_node_allowed(gold, &edge, 1));
    assert_false(lbp_pool_node_allowed(gold, &plain, 1));
    assert_true(lbp_pool_interface_allowed(gold, &edge, 1, "eth1"));
    assert_false(lbp_pool_interface_allowed(gold, &edge, 1, "eth0"));
    /* namespaces + namespaceSelectors (on kubernetes.io/metadata.name) + serviceSelectors */
    struct lbp_pools_label web = {"app", "web"};
    assert_true(lbp_pool_allows(gold, "a", &web, 1));
    assert_true(lbp_pool_allows(gold, "b", &web, 1));
    assert_false(lbp_pool_allows(gold, "c", &web, 1));
    assert_false(lbp_pool_allows(gold, "a", NULL, 0));

    const struct lbp_pool *silver = lbp_pool_set_find(set, "silver");
    assert_true(silver->auto_assign);
    assert_int_equal(silver->n_advs, 1);
    assert_true(lbp_pool_node_allowed(silver, NULL, 0));
    /* no advertisement selects bronze: allocated from, never announced */
    const struct lbp_pool *bronze = lbp_pool_set_find(set, "bronze");
    assert_int_equal(bronze->n_advs, 0);
    assert_false(lbp_pool_node_allowed(bronze, NULL, 0));
    lbp_pool_set_free(set);

    /* an advertisement selecting nothing applies to every pool */
    const char *all[] = {"{\"metadata\":{\"name\":\"all\"},\"spec\":{}}"};
    set = lbp_pool_set_new();
    assert_int_equal(lbp_pools_add_metallb(set, pools, 3, all, 1, &d), LBP_OK);
    for (size_t i = 0; i < set->n_pools; i++)
        assert_int_equal(set->pools[i].n_advs, 1);
    lbp_pool_set_free(set);
}

static void metallb_errors(void **state)
{
    static const struct {
        const char *json, *err;
        int rc;
    } cases[] = {
        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"addresses\":[\"10.0.0.9-10.0.0.1\"]}}",
         "IPAddressPool p: spec.addresses[0]: \"10.0.0.9-10.0.0.1\": range end before start",
         LBP_INVALID},
        {"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"addresses\":[\"10.0.0.1\"],"
         "\"autoAssign\":\"yes\"}}",
         "IPAddressPool p: spec.autoAssign: expected true or false", LBP_INVALID},
        {"{\"metadata\":{},\"spec\":{}}", "IPAddressPool[0]: metadata.name: required string",
         LBP_INVALID},
        {"{\"metadata\":{\"name\":\"p\"}}", "IPAddressPool p: spec: required mapping", LBP_INVALID},
        {"{\"kind\":\"Service\",\"metadata\":{\"name\":\"p\"}}",
         "IPAddressPool[0]: kind is \"Service\"", LBP_INVALID},
        {"[1,2]", "IPAddressPool[0]: not a JSON object (wrong type)", LBP_PARSE},
        {"{\"metadata\":", "IPAddressPool[0]: not a JSON object (truncated)", LBP_PARSE},
        {"{} {}", "IPAddressPool[0]: trailing data after the JSON object", LBP_PARSE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lbp_pools_diag d = {0};
        struct lbp_pool_set *set = lbp_pool_set_new();
        const char *objs[] = {pool_json_b, cases[i].json};
        int rc = lbp_pools_add_metallb(set, objs + 1, 1, NULL, 0, &d);
        if (rc != cases[i].rc || strcmp(d.err, cases[i].err) != 0)
            fail_msg("case %zu: rc %d err \"%s\"", i, rc, d.err);
        assert_int_equal(set->n_pools, 0); /* unchanged on failure */
        lbp_pool_set_free(set);
    }
    /* YAML and CRD pools share one namespace of names and addresses */
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    const char *y = "pools:\n  - name: silver\n    addresses: [10.99.0.0/24]\n"
                    "  - name: lan\n    addresses: [10.20.0.0/24]\n";
    assert_int_equal(lbp_pools_add_yaml(set, y, strlen(y), &d), LBP_OK);
    const char *objs[] = {pool_json_b};
    assert_int_equal(lbp_pools_add_metallb(set, objs, 1, NULL, 0, &d), LBP_OK);
    assert_int_equal(lbp_pool_set_check(set, &d), LBP_INVALID);
    assert_string_equal(d.err, "pool \"silver\" is defined twice");
    lbp_pool_set_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ip_round_trip),        cmocka_unit_test(range_forms),
        cmocka_unit_test(range_errors),         cmocka_unit_test(yaml_example),
        cmocka_unit_test(yaml_errors),          cmocka_unit_test(yaml_unknown_fields_warn),
        cmocka_unit_test(yaml_file_and_limits), cmocka_unit_test(selectors_match),
        cmocka_unit_test(metallb_objects),      cmocka_unit_test(metallb_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
