/*
 * test_rbac_speaker.c — the speaker's RBAC in examples/deploy/speaker is
 * exactly what `lbprov speaker` needs, judged as test_rbac_deploy.c judges
 * the controller's: the fake API server enforces RBAC, the Namespace and the
 * speaker's ServiceAccount, roles and bindings come from the shipped YAML,
 * and `lbprov speaker --dry-run` runs with that ServiceAccount's token.
 *
 * Lifecycle: its Lease is created and renewed, a bare-metal Service (with an
 * EndpointSlice) is announced from the node (a nodeAssigned Event), the node
 * is excluded and re-admitted so the same Event repeats (patched), MetalLB
 * pools are polled, and a clean stop releases the Lease. Then: no denial,
 * and every granted (group, resource, verb) was used through its role.
 */
#include "test/integration/rbac_env.h"
#include "test/integration/spk_env.h"

#include "common/util.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#define ADMIN_TOKEN "speaker-admin"
#define SPK_TOKEN "speaker-sa-token"
#define SPK_NS "lbprov-system"
#define SPK_SA "lbprov-speaker"
#define SPK_USER "system:serviceaccount:" SPK_NS ":" SPK_SA
#define VIP "192.168.77.120"

/* Rules a test cannot reach, with the reason (none today). */
static const char *const not_exercised[] = {NULL};

#define STEP(cond) RBAC_STEP(&env.api, cond)

static long count_of(const char *key)
{
    return lbp_fake_api_count(&env.api, key);
}

static int assigned_events(void)
{
    json_object *o = NULL, *items;
    int n = 0;
    if (spk_api(&env, "GET", "/api/v1/namespaces/default/events", NULL, NULL, &o) == 200 && o &&
        json_object_object_get_ex(o, "items", &items))
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *ev = json_object_array_get_idx(items, i), *r, *c;
            if (json_object_object_get_ex(ev, "reason", &r) &&
                strcmp(json_object_get_string(r), "nodeAssigned") == 0)
                n += json_object_object_get_ex(ev, "count", &c) ? json_object_get_int(c) : 1;
        }
    json_object_put(o);
    return n;
}

static bool owner_is(void *ctx)
{
    return spk_owner(&env, VIP) == (int)(intptr_t)ctx;
}

static bool events_at_least(void *ctx)
{
    return assigned_events() >= (int)(intptr_t)ctx;
}

static bool renewed(void *ctx)
{
    return count_of("PUT leases") >= 2;
}

static bool metallb_polled(void *ctx)
{
    return count_of("LIST ipaddresspools") >= 1 && count_of("LIST l2advertisements") >= 1;
}

static void node_excluded(bool excluded)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"labels\":{\"node.kubernetes.io/"
             "exclude-from-external-load-balancers\":%s}}}",
             excluded ? "\"true\"" : "null");
    CHECK(spk_api(&env, "PATCH", "/api/v1/nodes/n1", "application/merge-patch+json", body, NULL) ==
          200);
}

int main(void)
{
    struct lbp_fake_api_opts o = {.token = ADMIN_TOKEN, .extra_arg = "--authorization-mode=RBAC"};
    const char *files[] = {"deploy/base/namespace.yaml", "deploy/speaker/rbac.yaml"};
    char body[1024], kubeconfig[sizeof(env.api.kubeconfig)];
    FILE *f;

    memset(&env, 0, sizeof(env));
    if (lbp_fake_api_start(&o, &env.api)) {
        fprintf(stderr, "cannot start the fake API server\n");
        return 1;
    }
    env.net = (unsigned char)(1 + getpid() % 250);
    for (int tries = 0; tries < 50; tries++) {
        env.hb_port = 20000 + (int)((getpid() + tries * 7919) % 30000);
        if (spk_udp_port_free(env.hb_port))
            break;
    }
    snprintf(env.pools, sizeof(env.pools), "%s/pools.yaml", env.api.dir);
    f = fopen(env.pools, "w");
    CHECK(f != NULL);
    fprintf(f, "pools:\n  - name: lan\n    addresses: [192.168.77.100-192.168.77.150]\n");
    fclose(f);
    json_object *all = rbac_apply_all(&env.api, files, LBP_ARRAY_LEN(files));
    CHECK(all != NULL);
    for (int i = 0; i < SPK_NODES; i++) {
        snprintf(env.sp[i].node, sizeof(env.sp[i].node), "n%d", i + 1);
        snprintf(env.sp[i].log, sizeof(env.sp[i].log), "%s/speaker-n%d.log", env.api.dir, i + 1);
    }
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\","
             "\"labels\":{\"kubernetes.io/hostname\":\"n1\"}},\"status\":{\"addresses\":"
             "[{\"type\":\"InternalIP\",\"address\":\"127.%u.0.11\"}]}}",
             env.net);
    CHECK(spk_api(&env, "POST", "/api/v1/nodes", NULL, body, NULL) == 201);
    spk_service(&env, "web", VIP, "Local");
    const char *const here[] = {"n1", NULL};
    spk_endpoints(&env, "web", here);

    /* The speaker talks to the API as its ServiceAccount; the test stays admin. */
    CHECK(rbac_add_token(&env.api, SPK_TOKEN, SPK_USER) == 0);
    snprintf(kubeconfig, sizeof(kubeconfig), "%s/speaker.kubeconfig", env.api.dir);
    CHECK(rbac_write_kubeconfig(&env.api, kubeconfig, SPK_TOKEN) == 0);
    lbp_strlcpy(env.api.kubeconfig, kubeconfig, sizeof(env.api.kubeconfig));
    CHECK(lbp_fake_api_request(&env.api, "POST", "/_fake/audit/reset", NULL, NULL, NULL) == 200);

    spk_start(&env, 0);
    STEP(lbp_test_poll(owner_is, (void *)(intptr_t)0, 10000));
    STEP(lbp_test_poll(events_at_least, (void *)(intptr_t)1, 5000));
    /* Excluded, the node stops announcing; re-admitted, the same Event again: a patch. */
    node_excluded(true);
    STEP(lbp_test_poll(owner_is, (void *)(intptr_t)-1, 10000));
    node_excluded(false);
    STEP(lbp_test_poll(owner_is, (void *)(intptr_t)0, 10000));
    STEP(lbp_test_poll(events_at_least, (void *)(intptr_t)2, 5000));
    STEP(count_of("PATCH events") >= 1);
    STEP(lbp_test_poll(renewed, NULL, 10000));
    STEP(lbp_test_poll(metallb_polled, NULL, 10000));
    /* A clean stop releases the Lease (one more update). */
    long puts = count_of("PUT leases");
    CHECK(lbp_test_stop(env.sp[0].pid, SIGTERM, 5000) == 0);
    env.sp[0].pid = 0;
    STEP(count_of("PUT leases") > puts);

    int failures = rbac_check_exact(&env.api, all, SPK_NS, SPK_SA, SPK_USER, not_exercised);
    json_object_put(all);
    CHECK(failures == 0);
    spk_env_stop(&env);
    printf("speaker RBAC: exact\n");
    return 0;
}
