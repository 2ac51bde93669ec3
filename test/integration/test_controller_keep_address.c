/*
 * test_controller_keep_address.c — the mock cloud without a state file
 * (as examples/deploy runs it: each replica has its own in-memory cloud).
 * A new controller process, whose cloud starts empty, takes over from one
 * that handed out addresses with gaps in between (deleted Services): every
 * live Service keeps its address, and Services created after the takeover
 * get addresses no other Service holds.
 */
#include "test/integration/ctl_env.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 6

static struct ctl_env env;

static void name_of(int i, char *out, size_t len)
{
    snprintf(out, len, "svc-%d", i);
}

static bool gone(const char *name)
{
    char path[320];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    return ctl_api(&env, "GET", path, NULL, NULL) == 404;
}

/* The Service's ingress is the address of its own LB in the mock cloud. */
static bool settled(const char *name)
{
    char key[256], ip[128];
    bool ok;
    snprintf(key, sizeof(key), "default/%s", name);
    ctl_ingress(&env, name, ip, sizeof(ip));
    json_object *lb = ctl_cloud_lb(&env, key);
    ok = ip[0] && lb && strcmp(jpath_str(lb, "vip"), ip) == 0;
    json_object_put(lb);
    return ok;
}

static bool all_settled(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!settled(names[i]))
            return false;
    return true;
}

int main(void)
{
    /* SIGTERM releases the Lease, so the new process leads at once. */
    static const char *const flags[] = {CTL_SHORT_LEASE_FLAGS, NULL};
    char names[N][32], before[N][128];
    const char *live[N + 2];
    size_t n_live = 0;
    FILE *f;

    ctl_env_init(&env, NULL);
    /* no state_file: the cloud lives and dies with the process */
    f = fopen(env.cloud_conf, "w");
    CHECK(f != NULL);
    fputs("vip_range=203.0.113.0/24\n", f);
    fclose(f);
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_env_start_controller(&env, flags);
    for (int i = 0; i < N; i++) {
        name_of(i, names[i], sizeof(names[i]));
        ctl_service(&env, names[i], NULL, 80 + i);
    }
    for (int i = 0; i < N; i++)
        CHECK(WAIT_FOR(15000, settled(names[i])));
    /* free two addresses low in the range: a fresh allocator would hand them out first */
    for (int i = 0; i < 3; i += 2) {
        char path[320];
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", names[i]);
        CHECK(ctl_api(&env, "DELETE", path, NULL, NULL) == 200);
        CHECK(WAIT_FOR(10000, gone(names[i])));
    }
    for (int i = 0; i < N; i++) {
        if (i == 0 || i == 2)
            continue;
        ctl_ingress(&env, names[i], before[i], sizeof(before[i]));
        live[n_live++] = names[i];
    }

    CHECK(lbp_test_stop(env.ctl, SIGTERM, 6000) == 0);
    env.ctl = 0;
    ctl_env_start_controller(&env, flags);
    ctl_service(&env, "new-a", NULL, 90);
    ctl_service(&env, "new-b", NULL, 91);
    live[n_live++] = "new-a";
    live[n_live++] = "new-b";
    CHECK(WAIT_FOR(15000, all_settled(live, n_live) && ctl_cloud_lb_count(&env) == (int)n_live));

    /* the Services that were there keep their addresses */
    for (int i = 0; i < N; i++) {
        char ip[128];
        if (i == 0 || i == 2)
            continue;
        ctl_ingress(&env, names[i], ip, sizeof(ip));
        if (strcmp(ip, before[i]) != 0)
            fprintf(stderr, "%s: %s became %s\n", names[i], before[i], ip);
        CHECK(strcmp(ip, before[i]) == 0);
    }
    /* and no address belongs to two of them */
    for (size_t i = 0; i < n_live; i++)
        for (size_t j = i + 1; j < n_live; j++) {
            char a[128], b[128];
            ctl_ingress(&env, live[i], a, sizeof(a));
            ctl_ingress(&env, live[j], b, sizeof(b));
            if (strcmp(a, b) == 0)
                fprintf(stderr, "%s and %s both have %s\n", live[i], live[j], a);
            CHECK(strcmp(a, b) != 0);
        }

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}
