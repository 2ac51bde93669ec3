/*
 * Unit tests for the speaker's decisions: rendezvous ownership (stability
 * when a node leaves, Local policy, no endpoints, node selectors, the
 * exclusion label, interfaces), liveness (observed-change expiry, the
 * start-up rule, heartbeats that can only shorten) and the heartbeat codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/rc.h"
#include "pools/pools.h"
#include "speaker/heartbeat.h"
#include "speaker/speaker.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN 8
#define NVIP 200

static struct lbp_pool_set *pools(const char *yaml)
{
    struct lbp_pool_set *set = lbp_pool_set_new();
    struct lbp_pools_diag d = {0};
    assert_non_null(set);
    assert_int_equal(lbp_pools_add_yaml(set, yaml, strlen(yaml), &d), LBP_OK);
    return set;
}

static const char *lan = "pools:\n"
                         "  - name: lan\n"
                         "    addresses: [10.0.0.0/16]\n";

static char names[NN][32];
static struct lbp_pools_label zone_a = {"zone", "a"}, zone_b = {"zone", "b"};

static void nodes_init(struct lbp_owner_node *n, size_t count)
{
    memset(n, 0, count * sizeof(*n));
    for (size_t i = 0; i < count; i++) {
        snprintf(names[i], sizeof(names[i]), "node-%zu", i);
        n[i].name = names[i];
        n[i].live = true;
        n[i].labels = i % 2 ? &zone_b : &zone_a;
        n[i].n_labels = 1;
    }
}

static void vip_name(int k, char out[32])
{
    snprintf(out, 32, "10.0.%d.%d", k / 250, k % 250 + 1);
}

static const struct lbp_owner_svc cluster_ready = {.any_ready = true};

/* The owner tests' pool set `lan` (made once for the group) and their nodes. */
static struct lbp_pool_set *g_lan;
static struct lbp_owner_node g_nodes[NN];

/* NN live nodes, zones a and b by turns, as each test starts from. */
static struct lbp_owner_node *fresh_nodes(void)
{
    nodes_init(g_nodes, NN);
    return g_nodes;
}

static int lan_up(void **state)
{
    (void)state;
    g_lan = pools(lan);
    return 0;
}

static int lan_down(void **state)
{
    (void)state;
    lbp_pool_set_free(g_lan);
    g_lan = NULL;
    return 0;
}

/* The owner is the lowest SHA-256("node#ip"), computed here independently. */
static void test_rank_is_sha256(void **state)
{
    struct lbp_owner_node *n = fresh_nodes();
    const struct lbp_pool *p = &g_lan->pools[0];
    (void)state;
    for (int k = 0; k < 50; k++) {
        char ip[32], in[64];
        unsigned char best[32], d[32];
        int want = -1;
        vip_name(k, ip);
        for (int i = 0; i < NN; i++) {
            snprintf(in, sizeof(in), "%s#%s", names[i], ip);
            SHA256((const unsigned char *)in, strlen(in), d);
            if (want < 0 || memcmp(d, best, 32) < 0) {
                memcpy(best, d, 32);
                want = i;
            }
        }
        assert_int_equal(lbp_owner_pick(p, ip, &cluster_ready, n, NN), want);
        uint8_t r[32];
        snprintf(in, sizeof(in), "%s#%s", names[want], ip);
        SHA256((const unsigned char *)in, strlen(in), d);
        lbp_owner_rank(names[want], ip, r);
        assert_memory_equal(r, d, 32);
    }
}

/* A node leaving moves only its own VIPs; every node gets a share. */
static void test_leave_moves_only_its_vips(void **state)
{
    struct lbp_owner_node *n = fresh_nodes();
    const struct lbp_pool *p = &g_lan->pools[0];
    int before[NVIP], count[NN] = {0}, moved = 0;
    (void)state;
    for (int k = 0; k < NVIP; k++) {
        char ip[32];
        vip_name(k, ip);
        before[k] = lbp_owner_pick(p, ip, &cluster_ready, n, NN);
        assert_true(before[k] >= 0);
        count[before[k]]++;
    }
    for (int i = 0; i < NN; i++)
        assert_true(count[i] > 0); /* 200 VIPs over 8 nodes: all get some */
    n[3].live = false;
    for (int k = 0; k < NVIP; k++) {
        char ip[32];
        vip_name(k, ip);
        int now = lbp_owner_pick(p, ip, &cluster_ready, n, NN);
        if (before[k] == 3) {
            assert_int_not_equal(now, 3);
            assert_true(now >= 0);
            moved++;
        } else {
            assert_int_equal(now, before[k]);
        }
    }
    assert_int_equal(moved, count[3]);
    /* And it comes back to exactly its VIPs. */
    n[3].live = true;
    for (int k = 0; k < NVIP; k++) {
        char ip[32];
        vip_name(k, ip);
        assert_int_equal(lbp_owner_pick(p, ip, &cluster_ready, n, NN), before[k]);
    }
}

static void test_local_policy(void **state)
{
    struct lbp_owner_node *n = fresh_nodes();
    const struct lbp_pool *p = &g_lan->pools[0];
    (void)state;
    for (int k = 0; k < 40; k++) {
        char ip[32];
        vip_name(k, ip);
        int win = lbp_owner_pick(p, ip, &cluster_ready, n, NN);
        /* Endpoints on two nodes that are not the winner: one of them owns it. */
        int a = (win + 1) % NN, b = (win + 2) % NN;
        const char *ready[] = {names[a], names[b], names[a]};
        struct lbp_owner_svc loc = {
            .local = true, .any_ready = true, .ready_nodes = ready, .n_ready_nodes = 3};
        int o = lbp_owner_pick(p, ip, &loc, n, NN);
        assert_true(o == a || o == b);
        /* The same endpoints under Cluster: the winner, endpoints or not. */
        loc.local = false;
        assert_int_equal(lbp_owner_pick(p, ip, &loc, n, NN), win);
        /* Local, endpoints only on a dead node: nobody. */
        n[a].live = n[b].live = false;
        loc.local = true;
        assert_int_equal(lbp_owner_pick(p, ip, &loc, n, NN), -1);
        n[a].live = n[b].live = true;
    }
}

static void test_no_ready_endpoint_no_owner(void **state)
{
    struct lbp_owner_node *n = fresh_nodes();
    struct lbp_pool_set *set = g_lan;
    struct lbp_owner_svc none = {0};
    (void)state;
    assert_int_equal(lbp_owner_pick(&set->pools[0], "10.0.0.1", &none, n, NN), -1);
    none.local = true;
    assert_int_equal(lbp_owner_pick(&set->pools[0], "10.0.0.1", &none, n, NN), -1);
    /* Nobody live at all. */
    for (int i = 0; i < NN; i++)
        n[i].live = false;
    assert_int_equal(lbp_owner_pick(&set->pools[0], "10.0.0.1", &cluster_ready, n, NN), -1);
}

static void test_node_selector_and_exclusion(void **state)
{
    struct lbp_owner_node n[NN];
    struct lbp_pool_set *set = pools("pools:\n"
                                     "  - name: lan\n"
                                     "    addresses: [10.0.0.0/16]\n"
                                     "    nodeSelectors: [{matchLabels: {zone: b}}]\n"
                                     "    interfaces: [eth1, bond0]\n");
    const struct lbp_pool *p = &set->pools[0];
    struct lbp_pools_label excl[] = {
        {"node.kubernetes.io/exclude-from-external-load-balancers", ""}};
    (void)state;
    nodes_init(n, NN);
    for (int k = 0; k < 40; k++) {
        char ip[32];
        vip_name(k, ip);
        int o = lbp_owner_pick(p, ip, &cluster_ready, n, NN);
        assert_true(o >= 0);
        assert_true(o % 2 == 1); /* zone b only */
        n[o].excluded = true;
        int o2 = lbp_owner_pick(p, ip, &cluster_ready, n, NN);
        assert_true(o2 >= 0 && o2 != o && o2 % 2 == 1);
        n[o].excluded = false;
    }
    assert_true(lbp_owner_node_excluded(excl, 1));
    assert_false(lbp_owner_node_excluded(&zone_a, 1));

    char ifs[4][LBP_IFNAME_MAX];
    bool any;
    assert_int_equal(lbp_owner_interfaces(p, &zone_b, 1, ifs, 4, &any), 2);
    assert_false(any);
    assert_string_equal(ifs[0], "eth1");
    assert_string_equal(ifs[1], "bond0");
    lbp_pool_set_free(set);

    set = pools(lan);
    assert_int_equal(lbp_owner_interfaces(&set->pools[0], &zone_a, 1, ifs, 4, &any), 0);
    assert_true(any);
    lbp_pool_set_free(set);
}

/* ------------------------------------------------------------ membership */

#define DUR 3
#define WALL0 1700000000000000LL /* epoch µs */

static struct lbp_members *members(void)
{
    struct lbp_members *m = NULL;
    struct lbp_members_opts o = {.hb_interval_ms = 200, .hb_misses = 3};
    assert_int_equal(lbp_members_new(&o, &m), LBP_OK);
    return m;
}

/* node is live up to just before t (our clock) and not at t. */
static void expires_at(struct lbp_members *m, const char *node, uint64_t t)
{
    assert_true(lbp_members_live(m, node, t - 1));
    assert_false(lbp_members_live(m, node, t));
}

/* Expiry runs from when we saw the record change, not from the writer's renewTime. */
static void test_observed_change_expiry(void **state)
{
    struct lbp_members *m = members();
    (void)state;
    /* First sight: renewed "now" by its clock. */
    lbp_members_lease(m, "a", "a", WALL0, DUR, 1000, WALL0);
    assert_true(lbp_members_live(m, "a", 1000));
    /* Renewed at t=2000 (our clock) — with a renewTime far in the past (skewed clock). */
    lbp_members_lease(m, "a", "a", WALL0 - 3600000000LL, DUR, 2000, WALL0 + 1000000);
    expires_at(m, "a", 5000);
    /* A resync with the same record changes nothing. */
    lbp_members_lease(m, "a", "a", WALL0 - 3600000000LL, DUR, 4500, WALL0 + 3500000);
    assert_false(lbp_members_live(m, "a", 5000));
    /* ... and a renewTime in the future does not stretch it either. */
    lbp_members_lease(m, "a", "a", WALL0 + 3600000000LL, DUR, 6000, WALL0 + 5000000);
    expires_at(m, "a", 9000);
    /* Released (empty holder) or held by someone else: not live. */
    lbp_members_lease(m, "a", "", WALL0 + 6000000, DUR, 9100, WALL0 + 8000000);
    assert_false(lbp_members_live(m, "a", 9100));
    lbp_members_lease(m, "a", "b", WALL0 + 7000000, DUR, 9200, WALL0 + 8100000);
    assert_false(lbp_members_live(m, "a", 9200));
    lbp_members_lease(m, "a", "a", WALL0 + 8000000, DUR, 9300, WALL0 + 8200000);
    assert_true(lbp_members_live(m, "a", 9300));
    lbp_members_lease_gone(m, "a");
    assert_false(lbp_members_live(m, "a", 9300));
    assert_false(lbp_members_live(m, "never-seen", 0));
    lbp_members_free(m);
}

/* Start-up: a Lease never seen to change counts for what is left after renewTime. */
static void test_startup_rule(void **state)
{
    struct lbp_members *m = members();
    (void)state;
    /* Renewed 2 s ago: 1 s left. */
    lbp_members_lease(m, "a", "a", WALL0 - 2000000, DUR, 100, WALL0);
    expires_at(m, "a", 1100);
    /* Renewed an hour ago (a stale Lease of a dead node): never live. */
    lbp_members_lease(m, "b", "b", WALL0 - 3600000000LL, DUR, 100, WALL0);
    assert_false(lbp_members_live(m, "b", 100));
    /* A renewTime in the future is bounded by one duration from now. */
    lbp_members_lease(m, "c", "c", WALL0 + 3600000000LL, DUR, 100, WALL0);
    expires_at(m, "c", 3100);
    lbp_members_free(m);
}

/* Heartbeats shorten liveness and never extend it. */
static void test_heartbeat_only_shortens(void **state)
{
    struct lbp_members *m = members();
    (void)state;
    lbp_members_lease(m, "a", "a", WALL0, DUR, 0, WALL0);
    /* Never heard: the Lease alone decides. */
    assert_true(lbp_members_live(m, "a", 2000));
    /* Heard, then silent for 3 intervals: down, though the Lease runs. */
    lbp_members_heartbeat(m, "a", false, true, 1000);
    expires_at(m, "a", 1600);
    assert_true(lbp_members_held(m, "a", 1600));
    /* Heartbeats keep coming after the Lease expired: still dead. */
    lbp_members_heartbeat(m, "a", false, true, 2900);
    assert_true(lbp_members_live(m, "a", 2999));
    lbp_members_heartbeat(m, "a", false, true, 3100);
    assert_false(lbp_members_live(m, "a", 3100));
    /* A heartbeat from a node with no Lease at all: not live. */
    lbp_members_heartbeat(m, "ghost", false, true, 3100);
    assert_false(lbp_members_live(m, "ghost", 3100));

    /* Leaving: down at once; the next ordinary heartbeat (a restart) lifts it. */
    lbp_members_lease(m, "b", "b", WALL0, DUR, 0, WALL0);
    lbp_members_heartbeat(m, "b", false, false, 100);
    lbp_members_heartbeat(m, "b", true, false, 150);
    assert_false(lbp_members_live(m, "b", 150));
    lbp_members_heartbeat(m, "b", false, false, 300);
    assert_true(lbp_members_live(m, "b", 300));

    /* Port unreachable: down until heard again. */
    lbp_members_refused(m, "b", 400);
    assert_false(lbp_members_live(m, "b", 400));
    assert_true(lbp_members_held(m, "b", 400));
    lbp_members_heartbeat(m, "b", false, false, 500);
    assert_true(lbp_members_live(m, "b", 500));
    lbp_members_free(m);
}

/* Heartbeats blocked but the Lease keeps being renewed: after a full duration
 * of renewals past the verdict, the Lease alone decides again. */
static void test_verdict_lifted_by_renewals(void **state)
{
    struct lbp_members *m = members();
    (void)state;
    lbp_members_lease(m, "a", "a", WALL0, DUR, 0, WALL0);
    lbp_members_heartbeat(m, "a", false, true, 0);
    assert_false(lbp_members_live(m, "a", 600)); /* silent from 600 */
    for (int t = 1000; t <= 3000; t += 1000) {
        lbp_members_lease(m, "a", "a", WALL0 + t * 1000LL, DUR, (uint64_t)t, WALL0 + t * 1000LL);
        assert_false(lbp_members_live(m, "a", (uint64_t)t));
    }
    lbp_members_lease(m, "a", "a", WALL0 + 3600000LL, DUR, 3600, WALL0 + 3600000LL);
    assert_true(lbp_members_live(m, "a", 3600));
    /* A refusal, then the Lease stops changing (process dead): stays down. */
    lbp_members_refused(m, "a", 3700);
    assert_false(lbp_members_live(m, "a", 6000));
    lbp_members_free(m);

    /* Never heard, refused (a stale Lease of a dead speaker): down at once. */
    m = members();
    lbp_members_lease(m, "b", "b", WALL0, DUR, 0, WALL0);
    lbp_members_refused(m, "b", 100);
    assert_false(lbp_members_live(m, "b", 100));
    /* ... but it keeps renewing (a firewall REJECTs the port): the Lease wins
     * after a duration, and later refusals are ignored until it is heard. */
    for (int t = 1000; t <= 3100; t += 700)
        lbp_members_lease(m, "b", "b", WALL0 + t * 1000LL, DUR, (uint64_t)t, WALL0 + t * 1000LL);
    assert_true(lbp_members_live(m, "b", 3100));
    lbp_members_refused(m, "b", 3200);
    assert_true(lbp_members_live(m, "b", 3200));
    lbp_members_heartbeat(m, "b", false, false, 3300);
    lbp_members_refused(m, "b", 3400);
    assert_false(lbp_members_live(m, "b", 3400));
    lbp_members_free(m);
}

static void test_peer_api_ok_and_names(void **state)
{
    struct lbp_members *m = members();
    char **v = NULL;
    size_t n;
    (void)state;
    assert_false(lbp_members_peer_api_ok(m, 0));
    lbp_members_heartbeat(m, "a", false, true, 1000);
    assert_true(lbp_members_peer_api_ok(m, 1599));
    assert_false(lbp_members_peer_api_ok(m, 1600));
    /* A leaving peer's claim does not count. */
    lbp_members_heartbeat(m, "b", true, true, 2000);
    assert_false(lbp_members_peer_api_ok(m, 2000));

    lbp_members_lease(m, "z", "z", WALL0, DUR, 0, WALL0);
    lbp_members_lease(m, "c", "c", WALL0, DUR, 0, WALL0);
    lbp_members_lease(m, "d", "", WALL0, DUR, 0, WALL0);
    n = lbp_members_held_names(m, 10, &v);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "c");
    assert_string_equal(v[1], "z");
    lbp_members_names_free(v, n);
    /* Heartbeat targets: every Lease, released or expired too; heard-of-only nodes not. */
    n = lbp_members_lease_names(m, &v);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "c");
    assert_string_equal(v[1], "d");
    assert_string_equal(v[2], "z");
    lbp_members_names_free(v, n);
    lbp_members_free(m);
    lbp_members_free(NULL);
}

/* ------------------------------------------------------------ heartbeat codec */

static void test_heartbeat_codec(void **state)
{
    uint8_t buf[LBP_HB_MAX + 8], flags;
    char node[LBP_HB_NAME_MAX + 1], longname[300];
    uint64_t seq;
    (void)state;
    size_t n = lbp_hb_encode(buf, sizeof(buf), "worker-7", LBP_HB_LEAVING | LBP_HB_API_OK,
                             0x0102030405060708ULL);
    assert_int_equal(n, LBP_HB_HDR + 8);
    assert_int_equal(lbp_hb_decode(buf, n, node, &flags, &seq), LBP_OK);
    assert_string_equal(node, "worker-7");
    assert_int_equal(flags, LBP_HB_LEAVING | LBP_HB_API_OK);
    assert_true(seq == 0x0102030405060708ULL);
    /* Truncated, padded, wrong magic, wrong version, unprintable name: refused. */
    assert_int_equal(lbp_hb_decode(buf, n - 1, node, &flags, &seq), LBP_PARSE);
    assert_int_equal(lbp_hb_decode(buf, n + 1, node, &flags, &seq), LBP_PARSE);
    assert_int_equal(lbp_hb_decode(buf, 3, node, &flags, &seq), LBP_PARSE);
    buf[0] = 'X';
    assert_int_equal(lbp_hb_decode(buf, n, node, &flags, &seq), LBP_PARSE);
    buf[0] = 'L';
    buf[4] = 2;
    assert_int_equal(lbp_hb_decode(buf, n, node, &flags, &seq), LBP_PARSE);
    buf[4] = LBP_HB_VERSION;
    buf[LBP_HB_HDR + 2] = '\n';
    assert_int_equal(lbp_hb_decode(buf, n, node, &flags, &seq), LBP_PARSE);
    /* Names that do not fit are not encoded. */
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(lbp_hb_encode(buf, sizeof(buf), longname, 0, 1), 0);
    assert_int_equal(lbp_hb_encode(buf, sizeof(buf), "", 0, 1), 0);
    assert_int_equal(lbp_hb_encode(buf, 10, "abc", 0, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_is_sha256),
        cmocka_unit_test(test_leave_moves_only_its_vips),
        cmocka_unit_test(test_local_policy),
        cmocka_unit_test(test_no_ready_endpoint_no_owner),
        cmocka_unit_test(test_node_selector_and_exclusion),
        cmocka_unit_test(test_observed_change_expiry),
        cmocka_unit_test(test_startup_rule),
        cmocka_unit_test(test_heartbeat_only_shortens),
        cmocka_unit_test(test_verdict_lifted_by_renewals),
        cmocka_unit_test(test_peer_api_ok_and_names),
        cmocka_unit_test(test_heartbeat_codec),
    };
    return cmocka_run_group_tests(tests, lan_up, lan_down);
}
