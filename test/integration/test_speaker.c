/*
 * test_speaker — three `lbprov speaker --dry-run` processes against the fake
 * API server: every VIP has exactly one owner and it is the node the
 * rendezvous rule names (computed here independently with SHA-256); SIGKILL
 * of an owner moves only its VIPs, within 2 s; SIGTERM hands them over at
 * once and releases the Lease; externalTrafficPolicy Local follows the
 * endpoints; no ready endpoint means no owner; the exclusion label takes a
 * node out; the new owner records a nodeAssigned Event.
 */
#include "test/integration/spk_env.h"

#include "common/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NV 8
#define FAILOVER_BOUND_MS 2000

static const char *vips[NV] = {"192.168.77.100", "192.168.77.101", "192.168.77.102",
                               "192.168.77.103", "192.168.77.104", "192.168.77.105",
                               "192.168.77.106", "192.168.77.107"};

static int expected_owner(const char *ip, unsigned mask)
{
    return spk_expected_owner(&env, ip, mask);
}

struct want {
    unsigned mask;  /* live nodes */
    int before[NV]; /* owners before the change, -1: not tracked */
    int moved_from; /* VIPs of this node may move; every other must stay put */
    bool stayed;    /* no untouched VIP was ever seen elsewhere */
};

static bool map_is_expected(void *ctx)
{
    struct want *w = ctx;
    int got[NV];
    bool ok = true;
    spk_owners(&env, vips, NV, got);
    for (int k = 0; k < NV; k++) {
        if (w->before[k] >= 0 && w->before[k] != w->moved_from && got[k] != w->before[k])
            w->stayed = false;
        ok = ok && got[k] == expected_owner(vips[k], w->mask);
    }
    return ok;
}

static int busiest(void)
{
    int got[NV], count[SPK_NODES] = {0}, best = 0;
    spk_owners(&env, vips, NV, got);
    for (int k = 0; k < NV; k++)
        if (got[k] >= 0)
            count[got[k]]++;
    for (int i = 1; i < SPK_NODES; i++)
        if (count[i] > count[best])
            best = i;
    return best;
}

static void wait_all(unsigned mask, unsigned ms)
{
    struct want w = {.mask = mask, .moved_from = -1, .stayed = true};
    for (int k = 0; k < NV; k++)
        w.before[k] = -1;
    CHECK(lbp_test_poll(map_is_expected, &w, ms));
}

/* Kills speaker v with sig; returns ms until its VIPs are where the rule says. */
static uint64_t failover(int v, int sig)
{
    struct want w = {.mask = ((1u << SPK_NODES) - 1) & ~(1u << v), .moved_from = v, .stayed = true};
    int got[NV];
    uint64_t t0, dt;
    spk_owners(&env, vips, NV, got);
    memcpy(w.before, got, sizeof(got));
    t0 = lbp_now_ms();
    CHECK(kill(env.sp[v].pid, sig) == 0);
    CHECK(lbp_test_poll(map_is_expected, &w, 10000));
    dt = lbp_now_ms() - t0;
    CHECK(w.stayed); /* only the victim's VIPs moved */
    return dt;
}

static bool event_seen(void *ctx)
{
    const char *want = ctx;
    json_object *o = NULL, *items;
    bool found = false;
    if (spk_api(&env, "GET", "/api/v1/namespaces/default/events", NULL, NULL, &o) != 200 || !o)
        return false;
    if (json_object_object_get_ex(o, "items", &items)) {
        for (size_t i = 0; i < json_object_array_length(items) && !found; i++) {
            json_object *ev = json_object_array_get_idx(items, i), *r, *m;
            if (json_object_object_get_ex(ev, "reason", &r) &&
                json_object_object_get_ex(ev, "message", &m) &&
                strcmp(json_object_get_string(r), "nodeAssigned") == 0 &&
                strstr(json_object_get_string(m), want))
                found = true;
        }
    }
    json_object_put(o);
    return found;
}

static void label_node(int i, bool exclude)
{
    char path[128], body[256];
    snprintf(path, sizeof(path), "/api/v1/nodes/%s", env.sp[i].node);
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"labels\":{\"node.kubernetes.io/"
             "exclude-from-external-load-balancers\":%s}}}",
             exclude ? "\"true\"" : "null");
    CHECK(spk_api(&env, "PATCH", path, "application/merge-patch+json", body, NULL) == 200);
}

int main(void)
{
    const unsigned all = (1u << SPK_NODES) - 1;
    const char *every[] = {"n1", "n2", "n3", NULL};
    char holder[64];

    spk_env_init(&env);
    spk_services_everywhere(&env, vips, NV);
    for (int i = 0; i < SPK_NODES; i++)
        spk_start(&env, i);

    /* Every VIP: exactly one owner, the rendezvous winner among all three. */
    wait_all(all, 15000);
    printf("ok: %d VIPs, each owned once, by the rendezvous winner\n", NV);

    /* The new owner says so on the Service. */
    {
        char want[96];
        snprintf(want, sizeof(want), "announcing from node \"%s\"",
                 env.sp[expected_owner(vips[0], all)].node);
        CHECK(lbp_test_poll(event_seen, want, 10000));
        printf("ok: nodeAssigned event: %s\n", want);
    }

    /* SIGKILL: only the victim's VIPs move, within the bound. */
    int v = busiest();
    uint64_t dt = failover(v, SIGKILL);
    lbp_test_stop(env.sp[v].pid, SIGKILL, 2000);
    env.sp[v].pid = 0;
    printf("ok: SIGKILL of %s: its VIPs moved in %llu ms, the others stayed\n", env.sp[v].node,
           (unsigned long long)dt);
    CHECK(dt <= FAILOVER_BOUND_MS);

    /* It comes back: rendezvous gives it exactly its VIPs again. */
    spk_start(&env, v);
    wait_all(all, 15000);

    /* SIGTERM: an immediate hand-over, a clean exit, the Lease released. */
    v = busiest();
    dt = failover(v, SIGTERM);
    uint64_t t0 = lbp_now_ms();
    int st = lbp_test_stop(env.sp[v].pid, SIGTERM, 5000);
    env.sp[v].pid = 0;
    printf("ok: SIGTERM of %s: its VIPs moved in %llu ms (exit %d)\n", env.sp[v].node,
           (unsigned long long)dt, st);
    CHECK(st == 0);
    CHECK(lbp_now_ms() - t0 <= 2000);
    CHECK(dt <= 1000);
    spk_lease_holder(&env, env.sp[v].node, holder, sizeof(holder));
    CHECK(strcmp(holder, "") == 0);
    spk_start(&env, v);
    wait_all(all, 15000);

    /* Local: only a node with a ready local endpoint — pick the rendezvous loser. */
    const char *lip = "192.168.77.120";
    int win = expected_owner(lip, all), a = -1, b = -1;
    for (int i = 0; i < SPK_NODES; i++)
        if (i != win)
            *(a < 0 ? &a : &b) = i;
    int other = expected_owner(lip, (1u << a) | (1u << b)), lose = other == a ? b : a;
    spk_service(&env, "loc", lip, "Local");
    const char *on_lose[] = {env.sp[lose].node, NULL};
    spk_endpoints(&env, "loc", on_lose);
    spk_expect_owner(lip, lose);
    const char *on_other[] = {env.sp[other].node, NULL};
    spk_endpoints(&env, "loc", on_other);
    spk_expect_owner(lip, other);
    spk_endpoints(&env, "loc", NULL);
    spk_expect_owner(lip, -1);
    printf("ok: Local follows the endpoint (%s, then %s), none: no owner\n", env.sp[lose].node,
           env.sp[other].node);

    /* An IP shared by a Cluster and a Local Service has one owner: a node with
     * the Local one's endpoint, not the Cluster one's rendezvous winner. */
    const char *sip = "192.168.77.130";
    int swin = expected_owner(sip, all), sa = -1, sb = -1;
    for (int i = 0; i < SPK_NODES; i++)
        if (i != swin)
            *(sa < 0 ? &sa : &sb) = i;
    int slose = expected_owner(sip, (1u << sa) | (1u << sb)) == sa ? sb : sa;
    spk_service(&env, "sha", sip, "Cluster");
    spk_endpoints(&env, "sha", every);
    const char *on_slose[] = {env.sp[slose].node, NULL};
    spk_service(&env, "shb", sip, "Local");
    spk_endpoints(&env, "shb", on_slose);
    spk_expect_owner(sip, slose);
    {
        json_object *o = spk_debug(&env, slose), *owned;
        int n = 0;
        CHECK(o && json_object_object_get_ex(o, "owned", &owned));
        for (size_t j = 0; j < json_object_array_length(owned); j++) {
            json_object *ip;
            if (json_object_object_get_ex(json_object_array_get_idx(owned, j), "ip", &ip) &&
                strcmp(json_object_get_string(ip), sip) == 0)
                n++;
        }
        json_object_put(o);
        CHECK(n == 2); /* both Services, from one node */
    }
    printf("ok: shared IP (Cluster + Local) owned once, by %s (the Local endpoint's node)\n",
           env.sp[slose].node);

    /* Cluster without a ready endpoint anywhere: nobody announces. */
    spk_endpoints(&env, "svc0", NULL);
    spk_expect_owner(vips[0], -1);
    spk_endpoints(&env, "svc0", every);
    spk_expect_owner(vips[0], expected_owner(vips[0], all));
    printf("ok: no ready endpoint, no owner\n");

    /* The exclusion label takes a node out of every election. */
    int x = expected_owner(vips[1], all);
    label_node(x, true);
    spk_expect_owner(vips[1], expected_owner(vips[1], all & ~(1u << x)));
    label_node(x, false);
    spk_expect_owner(vips[1], x);
    printf("ok: excluded node %s gives up %s and takes it back\n", env.sp[x].node, vips[1]);

    spk_env_stop(&env);
    printf("PASS\n");
    return 0;
}
