/*
 * test_controller_leader.c — two `lbprov controller` processes against one
 * fake API server: exactly one writes; a SIGTERMed leader hands over within
 * 2 s; a SIGKILLed one is replaced once its Lease expires; a leader that
 * loses the API server (and only it) exits before a standby can lead.
 *
 * Each replica has its own mock-cloud state, so "who wrote" is visible per
 * process. Lease settings are scaled down (3 s / 2 s / 0.5 s) to keep the
 * test short; the rules are the same as at the defaults.
 */
#include "test/integration/ctl_env.h"
#include "test/integration/proxy.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SVC 4
#define LEASE_MS 3000

static struct ctl_env env; /* replica A; owns the fake API server */
static struct ctl_env b;   /* replica B: same fake, its own cloud and log */

static const char *const le_flags[] = {"--leader-elect-lease-duration",
                                       "3s",
                                       "--leader-elect-renew-deadline",
                                       "2s",
                                       "--leader-elect-retry-period",
                                       "500ms",
                                       NULL};

static void replica_init(struct ctl_env *r, const char *tag)
{
    FILE *f;
    *r = env;
    r->ctl = 0;
    snprintf(r->cloud_conf, sizeof(r->cloud_conf), "%s/cloud-%s.conf", env.api.dir, tag);
    snprintf(r->state_file, sizeof(r->state_file), "%s/mockcloud-%s.json", env.api.dir, tag);
    snprintf(r->ctl_log, sizeof(r->ctl_log), "%s/controller-%s.log", env.api.dir, tag);
    f = fopen(r->cloud_conf, "w");
    CHECK(f != NULL);
    fprintf(f, "state_file=%s\n", r->state_file);
    fclose(f);
}

static bool leading(struct ctl_env *r)
{
    char *body = NULL;
    bool yes = r->ctl > 0 && ctl_http_get(r, "/metrics", &body) == 200 && body &&
               strstr(body, "\nlbprov_leader_is_leader 1\n") != NULL;
    free(body);
    return yes;
}

/* Exit status of a replica that is expected to end by itself. */
static int wait_exit(struct ctl_env *r, unsigned ms)
{
    int st;
    uint64_t deadline = lbp_now_ms() + ms;
    while (lbp_now_ms() < deadline) {
        if (waitpid(r->ctl, &st, WNOHANG) == r->ctl) {
            r->ctl = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(20000);
    }
    return -1;
}

int main(void)
{
    uint64_t t0, took;

    ctl_env_init(&env, NULL);
    replica_init(&b, "b");
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_node(&env, "node-2", "10.0.0.2");
    ctl_env_start_controller(&env, le_flags);
    ctl_env_start_controller(&b, le_flags);
    for (int i = 0; i < N_SVC; i++) {
        char name[32];
        snprintf(name, sizeof(name), "svc-%d", i);
        ctl_service(&env, name, NULL, 80 + i);
    }

    /* 1. Exactly one writes. */
    CHECK(WAIT_FOR(15000, ctl_count_ingress(&env, "svc-", N_SVC) == N_SVC));
    CHECK(leading(&env) != leading(&b));
    struct ctl_env *leader = leading(&env) ? &env : &b, *standby = leader == &env ? &b : &env;
    CHECK(ctl_cloud_lb_count(leader) == N_SVC);
    CHECK(ctl_cloud_lb_count(standby) == 0);
    CHECK(ctl_cloud_calls(standby, "ensure") == 0);

    /* 2. SIGTERM: the Lease is released and the standby leads within 2 s. */
    t0 = lbp_now_ms();
    CHECK(lbp_test_stop(leader->ctl, SIGTERM, 8000) == 0);
    leader->ctl = 0;
    CHECK(WAIT_FOR(5000, leading(standby)));
    took = lbp_now_ms() - t0;
    printf("SIGTERM: standby led after %llu ms\n", (unsigned long long)took);
    CHECK(took <= 2000);
    CHECK(WAIT_FOR(10000, ctl_cloud_lb_count(standby) == N_SVC)); /* it works now */

    /* 3. SIGKILL: the replacement waits for the Lease to expire, then leads. */
    ctl_env_start_controller(leader, le_flags); /* back as a standby */
    CHECK(!leading(leader));
    t0 = lbp_now_ms();
    CHECK(lbp_test_stop(standby->ctl, SIGKILL, 5000) != 0);
    standby->ctl = 0;
    CHECK(WAIT_FOR(LEASE_MS + 5000, leading(leader)));
    took = lbp_now_ms() - t0;
    printf("SIGKILL: replacement led after %llu ms (lease %d ms)\n", (unsigned long long)took,
           LEASE_MS);
    CHECK(took >= LEASE_MS - 1000); /* it did not steal a live Lease */
    CHECK(took <= LEASE_MS + 3000);
    CHECK(lbp_test_stop(leader->ctl, SIGTERM, 8000) == 0);
    leader->ctl = 0;

    /*
     * 4. A leader cut off from the API server (a proxy only it uses) stops
     * and exits 1 before the standby, which still reaches the server, leads.
     */
    struct lbp_test_proxy *proxy;
    CHECK(lbp_test_proxy_start(env.api.port, &proxy) == 0);
    struct ctl_env cut;
    replica_init(&cut, "cut");
    snprintf(cut.api.kubeconfig, sizeof(cut.api.kubeconfig), "%s/kubeconfig-proxy", env.api.dir);
    FILE *f = fopen(cut.api.kubeconfig, "w");
    CHECK(f != NULL);
    fprintf(f,
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
            "clusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:%d\n"
            "users:\n- name: u\n  user: {}\n"
            "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n",
            lbp_test_proxy_port(proxy));
    fclose(f);
    ctl_env_start_controller(&cut, le_flags);
    CHECK(WAIT_FOR(LEASE_MS + 5000, leading(&cut)));
    ctl_env_start_controller(&b, le_flags);
    CHECK(!leading(&b));

    t0 = lbp_now_ms();
    lbp_test_proxy_blackhole(proxy, true);
    uint64_t fenced = 0, cut_gone = 0, b_leads = 0;
    int cut_status = -1;
    while ((!cut_gone || !b_leads) && lbp_now_ms() - t0 < 15000) {
        /* The old leader's own view, read from its metrics while it still serves them. */
        if (!fenced && (cut.ctl <= 0 || !leading(&cut)))
            fenced = lbp_now_ms();
        if (!cut_gone && (cut_status = wait_exit(&cut, 20)) >= 0)
            cut_gone = lbp_now_ms();
        if (!b_leads && leading(&b))
            b_leads = lbp_now_ms();
    }
    printf("cut off: old leader stopped writing after %llu ms, exited (status %d) after %llu ms; "
           "standby led after %llu ms\n",
           (unsigned long long)(fenced - t0), cut_status, (unsigned long long)(cut_gone - t0),
           (unsigned long long)(b_leads - t0));
    CHECK(fenced && cut_gone && b_leads);
    CHECK(fenced < b_leads); /* never two writers */
    CHECK(cut_status == 1);  /* lost the Lease: exits so the pod restarts clean */
    lbp_test_proxy_stop(proxy);

    CHECK(lbp_test_stop(b.ctl, SIGTERM, 8000) == 0);
    b.ctl = 0;
    env.ctl = 0;
    return ctl_env_stop(&env) == 0 ? 0 : 1;
}
