/*
 * cs_bench.c — what the CloudStack provider costs in API calls and time
 * against fake-cloudstack with a fixed latency per call (50 ms by default)
 * and async jobs that answer "pending" to their first poll:
 *
 *   (a) provision one Service with 3 ports on 100 nodes,
 *   (b) converge it again with nothing changed (reads only),
 *   (c) apply one node change (a node replaced) to 100 Services through
 *       update_targets, with W worker threads as the controller runs them,
 *   (d) provision 40 small Services (1 port, 1 node) side by side on W
 *       workers in a network that holds 2,100 addresses, jobs done at
 *       their first poll and no waiting: mostly the address acquisitions.
 *
 * A slot that answers LBP_PENDING is called again after its retry_after_s,
 * as the reconciler requeues it, so the seconds include waiting for jobs.
 * Setup (the VMs, the 100 Services) runs with no latency, jobs done at
 * their first poll and no waiting, and is not measured. Prints a table;
 * see test/bench/README.md. Not a test.
 *
 *   cs_bench [--latency-ms 50] [--workers 8] [--services 100] [--qps 200]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "clouds/cloudstack/cs_int.h"
#include "provider/provider.h"
#include "test/bench/bench_util.h"
#include "test/fakes/cloudstack/fake_cs_client.h"

extern const struct lbp_provider lbp_provider_cloudstack;
static const struct lbp_provider *P = &lbp_provider_cloudstack;

/* Nodes first..first+99 by name only: CloudStack finds VMs by name. */
static void svc_make(struct bench_svc *s, int idx, int first_node)
{
    static const struct lbp_lb_port ports[] = {
        {"http", "TCP", 80, 0}, {"https", "TCP", 443, 0}, {"dns", "UDP", 53, 0}};
    bench_svc_make(s, idx, 1, ports, 3, 30000 + idx % 900 * 3, first_node, BENCH_NODES);
    s->spec.session_affinity = "None";
}

static void config(struct fake_cs *f, int latency, int polls)
{
    char body[96];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d,\"job_polls\":%d}", latency, polls);
    fake_cs_post(f, "/_fake/config", body);
}

/* A slot until it is done: rounds taken, or -1 on a failure. wait: sleep retry_after_s. */
static int converge(struct lbp_provider_ctx *ctx, struct bench_svc *s, bool targets, bool wait)
{
    for (int round = 1; round <= 100; round++) {
        struct lbp_lb_status st;
        struct lbp_call call = {0};
        int rc = targets ? P->update_targets(ctx, &s->spec, &call)
                         : P->ensure(ctx, &s->spec, &st, &call);
        if (rc == LBP_OK)
            return round;
        if (rc != LBP_PENDING) {
            fprintf(stderr, "%s: %s: %s\n", s->name, lbp_rc_str(rc), call.err);
            return -1;
        }
        if (wait)
            sleep(call.retry_after_s ? call.retry_after_s : 1);
    }
    return -1;
}

struct job {
    struct lbp_provider_ctx *ctx;
    struct bench_svc *svcs;
};

/* One Service's create through to the end, calling again at once. */
static int provision(void *ud, int i)
{
    struct job *j = ud;
    return converge(j->ctx, &j->svcs[i], false, false);
}

/* n untagged addresses in the network, as a person would allocate them: a big network. */
static int fill_network(struct fake_cs *f, int n)
{
    for (int i = 0; i < n; i++) {
        struct lbp_buf q;
        char *path = NULL, *resp = NULL;
        long code = -1;
        if (lbp_cs_sign_query("command=associateIpAddress&networkid=" FAKE_CS_NETWORK_ID,
                              FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY, lbp_wall_s() + 600, &q))
            return -1;
        if (asprintf(&path, "/client/api?%s", q.data) < 0)
            path = NULL;
        lbp_buf_free(&q);
        if (path)
            code = fake_cs_req(f, "GET", path, NULL, NULL, &resp);
        free(path);
        free(resp);
        if (code != 200)
            return -1;
    }
    return 0;
}

/* One Service's node change through to the end, waiting as the controller would. */
static int retarget(void *ud, int i)
{
    struct job *j = ud;
    return converge(j->ctx, &j->svcs[i], true, true);
}

static long calls(struct fake_cs *f)
{
    json_object *c = fake_cs_json(f, "/_fake/counters"), *v;
    long n = c && json_object_object_get_ex(c, "calls", &v) ? json_object_get_int64(v) : -1;
    json_object_put(c);
    return n;
}

static void row(const char *what, long n, double secs, int rounds)
{
    printf("| %-58s | %6ld | %8.2f | %6d |\n", what, n, secs, rounds);
}

int main(int argc, char **argv)
{
    struct bench_opts o = BENCH_OPTS_DEFAULT;
    int r;
    struct fake_cs f;
    struct lbp_provider_ctx *ctx = NULL;
    char what[128];
    struct bench_svc *one, *svcs;
    uint64_t t0;

    if (bench_opts(argc, argv, &o, NULL) != 0)
        return 2;
    if (o.services > 200)
        o.services = 200; /* the fake's pool has 241 addresses */
    /* A /20: room for the 2,000 addresses of (d)'s network. */
    if (fake_cs_start(&f, (const char *const[]){"--public-range", "198.18.0.0/20", NULL}) != 0) {
        fprintf(stderr, "cannot start fake-cloudstack\n");
        return 1;
    }
    {
        struct lbp_buf b;
        lbp_buf_init(&b, 1u << 20);
        lbp_buf_adds(&b, "{\"vms\":[");
        for (int i = 1; i <= BENCH_NODES + 1; i++)
            lbp_buf_addf(&b, "%s{\"name\":\"node-%d\"}", i > 1 ? "," : "", i);
        lbp_buf_adds(&b, "]}");
        if (fake_cs_post(&f, "/_fake/vms", b.data) != 0) {
            fprintf(stderr, "cannot add VMs\n");
            return 1;
        }
        lbp_buf_free(&b);
    }
    ctx = bench_init(P, "[Global]\napi-url = %s\napi-key = %s\nsecret-key = %s\nqps = %d\n",
                     f.api_url, FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY, o.qps);
    if (!ctx)
        return 1;
    one = calloc(1, sizeof(*one));
    svcs = calloc((size_t)o.services, sizeof(*svcs));

    printf("fake-cloudstack latency %d ms per call, jobs pending for 1 poll, client rate limit "
           "%d QPS, %d workers\n\n",
           o.latency_ms, o.qps, o.workers);
    bench_table_head(58, (const char *const[]){"calls", "seconds", "rounds"},
                     (const int[]){6, 8, 6}, 3);
    config(&f, o.latency_ms, 1);
    svc_make(one, 10000, 1);
    fake_cs_post(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    r = converge(ctx, one, false, true);
    row("(a) provision 1 Service, 3 ports, 100 nodes", calls(&f),
        (double)(lbp_now_ms() - t0) / 1000, r);
    fake_cs_post(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    r = converge(ctx, one, false, true);
    row("(b) ensure again, nothing changed", calls(&f), (double)(lbp_now_ms() - t0) / 1000, r);

    /* (c) Services on nodes 1..100, made without latency or waiting. */
    config(&f, 0, 0);
    for (int i = 0; i < o.services; i++) {
        svc_make(&svcs[i], i, 1);
        if (converge(ctx, &svcs[i], false, false) < 0)
            fprintf(stderr, "setup %d failed\n", i);
    }
    /* Node 1 is replaced by node 101 everywhere. */
    for (int i = 0; i < o.services; i++)
        svc_make(&svcs[i], i, 2);
    config(&f, o.latency_ms, 1);
    fake_cs_post(&f, "/_fake/counters/reset", "{}");
    {
        struct job j = {.ctx = ctx, .svcs = svcs};
        struct bench_tally tally;
        long n;
        t0 = lbp_now_ms();
        tally = bench_run(o.workers, o.services, retarget, &j);
        n = calls(&f);
        snprintf(what, sizeof(what), "(c) 1 node replaced on %d Services (update_targets)",
                 o.services);
        row(what, n, (double)(lbp_now_ms() - t0) / 1000, (int)tally.sum);
        printf("\n(c) per Service: %.1f calls, %.1f rounds; assign %d, remove %d, "
               "listVirtualMachines %d; failures %d\n",
               (double)n / o.services, (double)tally.sum / o.services,
               fake_cs_count(&f, "assignToLoadBalancerRule"),
               fake_cs_count(&f, "removeFromLoadBalancerRule"),
               fake_cs_count(&f, "listVirtualMachines"), tally.failures);
    }
    /* (d) Small Services whose cost is mostly their address: acquisitions side by side. */
    {
        static const struct lbp_lb_port port[] = {{"http", "TCP", 80, 0}};
        enum { SMALL = 40, FILL = 2000 };
        struct bench_svc *small = calloc(SMALL, sizeof(*small));
        struct job j = {.ctx = ctx, .svcs = small};
        struct bench_tally tally;
        config(&f, 0, 0);
        if (fill_network(&f, FILL) != 0)
            fprintf(stderr, "(d): cannot fill the network\n");
        for (int i = 0; i < SMALL; i++)
            bench_svc_make(&small[i], 20000 + i, 1, port, 1, 31000 + i, 1, 1);
        config(&f, o.latency_ms, 0);
        fake_cs_post(&f, "/_fake/counters/reset", "{}");
        t0 = lbp_now_ms();
        tally = bench_run(o.workers, SMALL, provision, &j);
        snprintf(what, sizeof(what), "(d) provision %d Services side by side, 2,100 addresses",
                 SMALL);
        row(what, calls(&f), (double)(lbp_now_ms() - t0) / 1000, (int)tally.sum);
        printf("(d) associateIpAddress %d, listPublicIpAddresses %d; failures %d\n",
               fake_cs_count(&f, "associateIpAddress"), fake_cs_count(&f, "listPublicIpAddresses"),
               tally.failures);
        free(small);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_cs_stop(&f);
    free(one);
    free(svcs);
    return 0;
}
