/*
 * test_speaker_failstatic — the API server goes away under three speakers:
 * each notices (apiHealthy false, frozen true) and keeps exactly the VIPs it
 * owned, past the point where every Lease has expired and past the point
 * where a node that alone lost the API would give its VIPs up. A speaker
 * killed during the outage is not replaced (ownership is frozen: nothing new
 * is announced without the API), as documented in speaker/README.md.
 */
#include "test/integration/spk_env.h"

#include "common/util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NV 6
/* Lease 3 s + the cut-off rule's 2 renewals and heartbeat window, with margin. */
#define HOLD_MS 7500

static const char *vips[NV] = {"192.168.77.100", "192.168.77.101", "192.168.77.102",
                               "192.168.77.103", "192.168.77.104", "192.168.77.105"};

/* Every VIP with its rendezvous owner and every speaker seeing all three. */
static bool all_owned(void *ctx)
{
    int *got = ctx;
    spk_owners(&env, vips, NV, got);
    for (int k = 0; k < NV; k++)
        if (got[k] != spk_expected_owner(&env, vips[k], (1u << SPK_NODES) - 1))
            return false;
    for (int i = 0; i < SPK_NODES; i++) {
        json_object *o = spk_debug(&env, i), *live;
        bool three = o && json_object_object_get_ex(o, "live", &live) &&
                     json_object_array_length(live) == SPK_NODES;
        json_object_put(o);
        if (!three)
            return false;
    }
    return true;
}

static bool frozen(int i)
{
    json_object *o = spk_debug(&env, i), *f;
    bool yes = o && json_object_object_get_ex(o, "frozen", &f) && json_object_get_boolean(f);
    json_object_put(o);
    return yes;
}

int main(void)
{
    int before[NV], now[NV];

    spk_env_init(&env);
    spk_services_everywhere(&env, vips, NV);
    for (int i = 0; i < SPK_NODES; i++)
        spk_start(&env, i);
    CHECK(lbp_test_poll(all_owned, before, 15000));

    /* The API server stops. */
    CHECK(kill(env.api.pid, SIGKILL) == 0);
    waitpid(env.api.pid, NULL, 0);
    env.api.pid = -1;
    uint64_t t0 = lbp_now_ms();

    /* Everyone notices, and for the whole hold nobody's set changes. */
    bool all_frozen = false, killed = false;
    int victim = -1;
    while (lbp_now_ms() - t0 < HOLD_MS) {
        spk_owners(&env, vips, NV, now);
        for (int k = 0; k < NV; k++) {
            int want = before[k] == victim ? -1 : before[k]; /* the killed one cannot answer */
            if (now[k] != want) {
                fprintf(stderr, "%s: owner %d, was %d, %llu ms into the outage\n", vips[k], now[k],
                        before[k], (unsigned long long)(lbp_now_ms() - t0));
                CHECK(false);
            }
        }
        if (!all_frozen) {
            all_frozen = true;
            for (int i = 0; i < SPK_NODES; i++)
                all_frozen = all_frozen && frozen(i);
            if (all_frozen)
                printf("ok: all speakers frozen %llu ms after the API stopped\n",
                       (unsigned long long)(lbp_now_ms() - t0));
        }
        /* Once frozen, an owner dies: the survivors must not take its VIPs. */
        if (all_frozen && !killed) {
            victim = before[0];
            CHECK(kill(env.sp[victim].pid, SIGKILL) == 0);
            lbp_test_stop(env.sp[victim].pid, SIGKILL, 2000);
            env.sp[victim].pid = 0;
            killed = true;
        }
        usleep(100 * 1000); /* the sampling period of this check, not a settle wait */
    }
    CHECK(all_frozen);
    CHECK(killed);
    printf("ok: owned sets unchanged for %d ms without the API server, no takeover while "
           "frozen\n",
           HOLD_MS);
    spk_env_stop(&env);
    printf("PASS\n");
    return 0;
}
