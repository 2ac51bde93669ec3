/*
 * test_speaker_metallb — pools from MetalLB objects: with none the speakers
 * run on the YAML pools alone; an IPAddressPool plus
 * an L2Advertisement whose nodeSelectors pick n2 and n3 make one of those
 * two (the rendezvous winner between them) announce the pool's VIP, never
 * n1; re-pointing the advertisement at n1 moves the VIP there; deleting it
 * leaves the pool unannounced, as in MetalLB. SIGHUP re-reads the pool
 * file: a good one takes effect, a bad one is refused and changes nothing.
 */
#include "test/integration/spk_env.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIP "192.168.78.5"
#define ADV_PATH "/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements"

static int expected_owner(const char *ip, unsigned mask)
{
    return spk_expected_owner(&env, ip, mask);
}

static void advertisement(const char *method, const char *nodes)
{
    char body[1024], path[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"L2Advertisement\","
             "\"metadata\":{\"name\":\"adv\",\"namespace\":\"metallb-system\"},"
             "\"spec\":{\"ipAddressPools\":[\"crd\"],\"nodeSelectors\":[{\"matchExpressions\":"
             "[{\"key\":\"kubernetes.io/hostname\",\"operator\":\"In\",\"values\":[%s]}]}]}}",
             nodes);
    snprintf(path, sizeof(path), "%s%s", ADV_PATH, strcmp(method, "PUT") == 0 ? "/adv" : "");
    long code = spk_api(&env, method, path, NULL, body, NULL);
    CHECK(code == 200 || code == 201);
}

static void write_pools(const char *yaml)
{
    FILE *f = fopen(env.pools, "w");
    CHECK(f != NULL);
    fputs(yaml, f);
    fclose(f);
}

static void hup_all(void)
{
    for (int i = 0; i < SPK_NODES; i++)
        kill(env.sp[i].pid, SIGHUP);
}

static bool log_has_refusal(void *path)
{
    static char buf[4 << 20]; /* the whole log */
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return strstr(buf, "keeping the pools in force") != NULL;
}

int main(void)
{
    const char *every[] = {"n1", "n2", "n3", NULL};
    json_object *o = NULL;

    spk_env_init(&env);
    spk_service(&env, "yaml", "192.168.77.110", "Cluster");
    spk_endpoints(&env, "yaml", every);
    spk_service(&env, "crd", VIP, "Cluster");
    spk_endpoints(&env, "crd", every);
    for (int i = 0; i < SPK_NODES; i++)
        spk_start(&env, i);

    /* No MetalLB objects yet: the YAML pool works, the other VIP is in no pool. */
    spk_expect_owner("192.168.77.110", expected_owner("192.168.77.110", 7));
    CHECK(spk_owner(&env, VIP) == -1);

    CHECK(spk_api(&env, "POST", "/api/v1/namespaces", NULL,
                  "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                  "\"metallb-system\"}}",
                  NULL) == 201);
    CHECK(spk_api(&env, "POST", "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
                  NULL,
                  "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
                  "\"metadata\":{\"name\":\"crd\",\"namespace\":\"metallb-system\"},"
                  "\"spec\":{\"addresses\":[\"192.168.78.0/28\"]}}",
                  NULL) == 201);
    advertisement("POST", "\"n2\",\"n3\"");
    int want = expected_owner(VIP, 6);
    spk_expect_owner(VIP, want);
    printf("ok: IPAddressPool + L2Advertisement(n2, n3): %s announces %s\n", env.sp[want].node,
           VIP);

    advertisement("PUT", "\"n1\"");
    spk_expect_owner(VIP, 0);
    printf("ok: the advertisement re-pointed at n1 moves %s there\n", VIP);

    CHECK(spk_api(&env, "DELETE", ADV_PATH "/adv", NULL, NULL, &o) == 200);
    json_object_put(o);
    spk_expect_owner(VIP, -1);
    /* The YAML pool's VIP was never disturbed. */
    CHECK(spk_owner(&env, "192.168.77.110") == expected_owner("192.168.77.110", 7));
    printf("ok: no advertisement, not announced\n");

    /* SIGHUP re-reads --pool-config: a VIP in no pool becomes announced. */
    spk_service(&env, "hup", "192.168.79.5", "Cluster");
    spk_endpoints(&env, "hup", every);
    CHECK(spk_owner(&env, "192.168.79.5") == -1);
    write_pools("pools:\n  - name: lan\n    addresses: [192.168.77.100-192.168.77.150]\n"
                "  - name: more\n    addresses: [192.168.79.0/28]\n");
    hup_all();
    spk_expect_owner("192.168.79.5", expected_owner("192.168.79.5", 7));
    /* A bad file (pools overlap) is refused whole: nothing moves. */
    write_pools("pools:\n  - name: a\n    addresses: [10.0.0.0/24]\n"
                "  - name: b\n    addresses: [10.0.0.128/25]\n");
    hup_all();
    for (int i = 0; i < SPK_NODES; i++)
        CHECK(lbp_test_poll(log_has_refusal, env.sp[i].log, 10000));
    CHECK(spk_owner(&env, "192.168.79.5") == expected_owner("192.168.79.5", 7));
    CHECK(spk_owner(&env, "192.168.77.110") == expected_owner("192.168.77.110", 7));
    printf("ok: SIGHUP applies a good pool file and refuses a bad one\n");
    spk_env_stop(&env);
    printf("PASS\n");
    return 0;
}
