/*
 * test_speaker_partition — one node loses the API alone (its speaker talks
 * to the fake through a proxy the test cuts; requests hang). The others
 * see its Lease expire and take its VIPs; the cut-off speaker first keeps
 * announcing (fail-static), then, hearing peers whose API works while its
 * own Lease has expired, gives every VIP up — so the VIPs end with exactly
 * one owner each, the rendezvous winner among the other two. When the
 * proxy heals, the speaker's renewals come back through its watch and,
 * after the resume grace, it takes its VIPs back.
 */
#include "test/integration/spk_env.h"
#include "test/integration/proxy.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NV 6

static const char *vips[NV] = {"192.168.77.100", "192.168.77.101", "192.168.77.102",
                               "192.168.77.103", "192.168.77.104", "192.168.77.105"};

static int expected_owner(const char *ip, unsigned mask)
{
    return spk_expected_owner(&env, ip, mask);
}

static unsigned mask_now;

static bool map_is(void *ctx)
{
    int got[NV];
    (void)ctx;
    spk_owners(&env, vips, NV, got);
    for (int k = 0; k < NV; k++)
        if (got[k] != expected_owner(vips[k], mask_now))
            return false;
    return true;
}

int main(void)
{
    struct lbp_test_proxy *px = NULL;
    const unsigned all = (1u << SPK_NODES) - 1;

    spk_env_init(&env);
    spk_services_everywhere(&env, vips, NV);
    /* The victim owns vips[0]; it reaches the API only through the proxy. */
    int v = expected_owner(vips[0], all);
    CHECK(lbp_test_proxy_start(env.api.port, &px) == 0);
    snprintf(env.sp[v].kubeconfig, sizeof(env.sp[v].kubeconfig), "%s/kubeconfig-proxy",
             env.api.dir);
    spk_kubeconfig(env.sp[v].kubeconfig, lbp_test_proxy_port(px));
    for (int i = 0; i < SPK_NODES; i++)
        spk_start(&env, i);
    mask_now = all;
    CHECK(lbp_test_poll(map_is, NULL, 15000));

    lbp_test_proxy_blackhole(px, true);
    uint64_t t0 = lbp_now_ms();
    mask_now = all & ~(1u << v);
    if (!lbp_test_poll(map_is, NULL, 20000)) {
        lbp_test_proxy_stop(px);
        CHECK(false);
    }
    printf("ok: %s cut off from the API: its VIPs have one owner each among the others after "
           "%llu ms\n",
           env.sp[v].node, (unsigned long long)(lbp_now_ms() - t0));
    json_object *o = spk_debug(&env, v), *f;
    CHECK(o && json_object_object_get_ex(o, "frozen", &f) && json_object_get_boolean(f));
    json_object_put(o);

    lbp_test_proxy_blackhole(px, false);
    t0 = lbp_now_ms();
    mask_now = all;
    if (!lbp_test_poll(map_is, NULL, 60000)) {
        lbp_test_proxy_stop(px);
        CHECK(false);
    }
    printf("ok: healed: %s took its VIPs back after %llu ms\n", env.sp[v].node,
           (unsigned long long)(lbp_now_ms() - t0));
    spk_env_stop(&env);
    lbp_test_proxy_stop(px);
    printf("PASS\n");
    return 0;
}
