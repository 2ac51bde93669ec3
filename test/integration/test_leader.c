/*
 * test_leader.c — leader election against the fake API server: one leader
 * among candidates, fast hand-over on release, take-over after a crash, and
 * a leader cut off from the API server closing its write fence before any
 * other candidate can take the Lease.
 *
 * Timings are scaled down (lease 1.5 s, renew deadline 1 s, retry 0.2 s)
 * so the suite stays fast; the rules they exercise are the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "test/integration/harness.h"
#include "test/integration/proxy.h"

#define LEASE_MS 1500
#define DEADLINE_MS 1000
#define RETRY_MS 200

struct elector {
    struct lbp_kube_config *cfg;
    struct lbp_kube_client *client;
    struct lbp_leader *le;
    int stopped_calls; /* on_stopped */
};

static struct lbp_fake_api api;

static int setup(void **state)
{
    struct lbp_fake_api_opts o = {0};
    return lbp_fake_api_start(&o, &api);
}

static int teardown(void **state)
{
    lbp_fake_api_stop(&api);
    return 0;
}

static void on_stopped(void *ctx)
{
    __atomic_add_fetch(&((struct elector *)ctx)->stopped_calls, 1, __ATOMIC_SEQ_CST);
}

/* An elector talking to the fake directly, or through a proxy port when port > 0. */
static void elector_start(struct elector *e, const char *id, int port)
{
    char err[256];
    memset(e, 0, sizeof(*e));
    e->cfg = calloc(1, sizeof(*e->cfg));
    assert_non_null(e->cfg);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port > 0 ? port : api.port);
    e->cfg->server = strdup(url);
    struct lbp_kube_client_opts co = {.timeout_ms = 300, .max_retries = 1};
    assert_int_equal(lbp_kube_client_new(e->cfg, &co, &e->client, err, sizeof(err)), LBP_OK);
    struct lbp_leader_opts lo = {
        .namespace = "kube-system",
        .name = "lbprov-test",
        .identity = id,
        .lease_duration_ms = LEASE_MS,
        .renew_deadline_ms = DEADLINE_MS,
        .retry_period_ms = RETRY_MS,
        .on_stopped = on_stopped,
        .ctx = e,
    };
    assert_int_equal(lbp_leader_new(e->client, &lo, &e->le, err, sizeof(err)), LBP_OK);
    assert_int_equal(lbp_leader_start(e->le), LBP_OK);
}

static void elector_free(struct elector *e)
{
    lbp_leader_free(e->le);
    lbp_kube_client_free(e->client);
    lbp_kube_config_free(e->cfg);
}

static char *lease_holder(void)
{
    char *body = NULL;
    long code = lbp_fake_api_request(
        &api, "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lbprov-test", NULL,
        NULL, &body);
    assert_int_equal(code, 200);
    const char *k = strstr(body, "\"holderIdentity\":\"");
    char *holder = strdup("");
    if (k) {
        k += strlen("\"holderIdentity\":\"");
        free(holder);
        holder = strndup(k, strcspn(k, "\""));
    }
    free(body);
    return holder;
}

static void wait_leading(struct elector *e, unsigned ms)
{
    assert_int_equal(lbp_leader_wait(e->le, ms), LBP_OK);
}

/* Exactly one of two candidates leads, and the Lease names it. */
static void one_leader(void **state)
{
    struct elector a, b;
    elector_start(&a, "alpha", 0);
    elector_start(&b, "beta", 0);
    uint64_t t0 = lbp_now_ms();
    while (!lbp_leader_is_leader(a.le) && !lbp_leader_is_leader(b.le) && lbp_now_ms() - t0 < 5000)
        usleep(10000);
    /* Watch the pair for a few renew periods: never both, never none. */
    for (int i = 0; i < 100; i++) {
        bool la = lbp_leader_is_leader(a.le), lb = lbp_leader_is_leader(b.le);
        assert_true(la != lb);
        usleep(10000);
    }
    char *holder = lease_holder();
    assert_string_equal(holder, lbp_leader_is_leader(a.le) ? "alpha" : "beta");
    free(holder);
    lbp_leader_stop(a.le, true);
    lbp_leader_stop(b.le, true);
    elector_free(&a);
    elector_free(&b);
}

/* A leader that releases hands over within about one retry period, not a lease duration. */
static void release_hands_over_fast(void **state)
{
    struct elector a, b;
    elector_start(&a, "alpha", 0);
    wait_leading(&a, 3000);
    elector_start(&b, "beta", 0);
    usleep(3 * RETRY_MS * 1000); /* b is a standby now */
    assert_false(lbp_leader_is_leader(b.le));

    uint64_t t0 = lbp_now_ms();
    lbp_leader_stop(a.le, true);
    assert_false(lbp_leader_is_leader(a.le));
    wait_leading(&b, 3000);
    uint64_t took = lbp_now_ms() - t0;
    printf("release -> new leader in %llu ms\n", (unsigned long long)took);
    assert_true(took < LEASE_MS); /* did not wait the Lease out */
    char *holder = lease_holder();
    assert_string_equal(holder, "beta");
    free(holder);
    lbp_leader_stop(b.le, true);
    elector_free(&a);
    elector_free(&b);
}

/* A leader that vanishes without releasing is replaced once its Lease expires. */
static void crash_is_taken_over_after_expiry(void **state)
{
    struct elector a, b;
    elector_start(&a, "alpha", 0);
    wait_leading(&a, 3000);
    elector_start(&b, "beta", 0);
    usleep(3 * RETRY_MS * 1000);

    uint64_t t0 = lbp_now_ms();
    lbp_leader_stop(a.le, false); /* like SIGKILL: the Lease stays as it was */
    wait_leading(&b, 5000);
    uint64_t took = lbp_now_ms() - t0;
    printf("crash -> new leader in %llu ms\n", (unsigned long long)took);
    assert_true(took >= LEASE_MS - 2 * RETRY_MS); /* waited for expiry */
    assert_true(took <= LEASE_MS + 8 * RETRY_MS); /* slack for a loaded machine */
    lbp_leader_stop(b.le, true);
    elector_free(&a);
    elector_free(&b);
}

/*
 * The leader loses the API server (its requests hang); the standby still
 * reaches it. The leader's fence must close before the standby acquires, and
 * its on_stopped fires.
 */
static void cut_off_leader_stops_writing_before_expiry(void **state)
{
    struct lbp_test_proxy *proxy;
    struct elector a, b;
    assert_int_equal(lbp_test_proxy_start(api.port, &proxy), 0);
    elector_start(&a, "alpha", lbp_test_proxy_port(proxy));
    wait_leading(&a, 3000);
    elector_start(&b, "beta", 0);
    usleep(3 * RETRY_MS * 1000);
    assert_false(lbp_leader_is_leader(b.le));

    uint64_t t0 = lbp_now_ms();
    lbp_test_proxy_blackhole(proxy, true);
    uint64_t fence_closed = 0, b_leads = 0;
    while ((!fence_closed || !b_leads) && lbp_now_ms() - t0 < 6000) {
        uint64_t now = lbp_now_ms();
        if (!fence_closed && !lbp_leader_is_leader(a.le))
            fence_closed = now;
        if (!b_leads && lbp_leader_is_leader(b.le)) {
            b_leads = now;
            /* Never two writers: when b leads, a's fence is already shut. */
            assert_false(lbp_leader_is_leader(a.le));
        }
        usleep(5000);
    }
    printf("cut off: fence closed after %llu ms, standby led after %llu ms\n",
           (unsigned long long)(fence_closed - t0), (unsigned long long)(b_leads - t0));
    assert_true(fence_closed && b_leads);
    assert_true(fence_closed < b_leads);
    assert_true(fence_closed - t0 <= DEADLINE_MS + 50);
    /* The election thread notices too (it may first sit out a hung request). */
    uint64_t t1 = lbp_now_ms();
    while (__atomic_load_n(&a.stopped_calls, __ATOMIC_SEQ_CST) == 0 && lbp_now_ms() - t1 < 5000)
        usleep(10000);
    assert_int_equal(__atomic_load_n(&a.stopped_calls, __ATOMIC_SEQ_CST), 1);

    lbp_leader_stop(b.le, true);
    lbp_leader_stop(a.le, false);
    elector_free(&a);
    elector_free(&b);
    lbp_test_proxy_stop(proxy);
}

static void bad_timings_are_refused(void **state)
{
    struct lbp_kube_config cfg = {.server = "http://127.0.0.1:1"};
    struct lbp_kube_client *c;
    struct lbp_leader *le = NULL;
    char err[256] = "";
    assert_int_equal(lbp_kube_client_new(&cfg, NULL, &c, err, sizeof(err)), LBP_OK);
    struct lbp_leader_opts lo = {.namespace = "ns",
                                 .name = "n",
                                 .identity = "i",
                                 .lease_duration_ms = 1000,
                                 .renew_deadline_ms = 2000,
                                 .retry_period_ms = 100};
    assert_int_equal(lbp_leader_new(c, &lo, &le, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "renew-deadline"));
    assert_null(le);
    lbp_kube_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_timings_are_refused),
        cmocka_unit_test_setup_teardown(one_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(release_hands_over_fast, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_is_taken_over_after_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(cut_off_leader_stops_writing_before_expiry, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
