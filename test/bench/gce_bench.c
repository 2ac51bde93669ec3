/*
 * gce_bench.c — what the GCE provider costs in Compute calls and time
 * against fake-gce with a fixed latency per call (50 ms by default), the
 * same scenarios as aws_bench:
 *
 *   (a) provision one Service with 3 ports on 100 nodes (external LB),
 *   (b) converge it again with nothing changed (target: reads only, <= 5),
 *   (c) apply one node change (a node replaced) to 100 Services through
 *       update_targets, with W worker threads as the controller runs them
 *       (target: <= 3 calls per Service, the new instance looked up once).
 *
 * Operations finish at once here (--op-polls 0), so the rows count the
 * calls a change needs; with Operations that run, each step adds polls
 * and an LBP_PENDING round trip, which row (a') shows for one poll each.
 * Setup (the 100 Services) runs without latency and is not measured; in
 * (c) the new node's VM is made after it, so no cache knows it yet.
 * Prints a table; see test/bench/README.md. Not a test.
 *
 *   gce_bench [--latency-ms 50] [--workers 8] [--services 100] [--qps 200]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/bench/bench_util.h"
#include "test/fakes/gce/fake_gce_client.h"

extern const struct lbp_provider lbp_provider_gce;
static const struct lbp_provider *P = &lbp_provider_gce;

/* Nodes first..first+99: node-<i>, in the zone fake-gce's --instances put it. */
static void svc_make(struct bench_svc *s, int idx, int first_node)
{
    static const struct lbp_lb_port ports[] = {
        {"http", "TCP", 80, 0}, {"https", "TCP", 443, 0}, {"alt", "TCP", 8080, 0}};
    bench_svc_make(s, idx, 3, ports, 3, 30000 + idx * 3, first_node, BENCH_NODES);
    for (int i = 0; i < BENCH_NODES; i++) {
        int k = first_node + i;
        snprintf(s->pid[i], sizeof(s->pid[i]), "gce://fake-project/us-central1-%c/node-%d",
                 "abc"[k % 3], k);
        s->nodes[i].provider_id = s->pid[i];
    }
    s->spec.session_affinity = "None";
}

static void set_latency(struct fake_gce *f, int ms)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d}", ms);
    fake_gce_control(f, "/_fake/faults", body);
}

static void set_polls(struct fake_gce *f, int polls)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"op_polls\":%d}", polls);
    fake_gce_control(f, "/_fake/config", body);
}

static long total(struct fake_gce *f)
{
    struct json_object *c = fake_gce_json(f, "/_fake/counters"), *t;
    long n = c && json_object_object_get_ex(c, "total", &t) ? json_object_get_int(t) : -1;
    json_object_put(c);
    return n;
}

static long total_calls(void *f)
{
    return total(f);
}

/* ensure until it is done, asking again at once after LBP_PENDING; the rounds. */
static int ensure_done(struct lbp_provider_ctx *ctx, struct bench_svc *s, int *rounds)
{
    struct lbp_lb_status st;
    struct lbp_call call;
    int rc = LBP_PENDING;
    for (*rounds = 0; rc == LBP_PENDING && *rounds < 200; (*rounds)++) {
        memset(&call, 0, sizeof(call));
        rc = P->ensure(ctx, &s->spec, &st, &call);
    }
    if (rc != LBP_OK)
        fprintf(stderr, "ensure %s: %s: %s\n", s->name, lbp_rc_str(rc), call.err);
    return rc;
}

int main(int argc, char **argv)
{
    struct bench_opts o = BENCH_OPTS_DEFAULT;
    int rounds;
    const char *fargs[] = {"--instances", "101", "--op-polls", "0", "--op-ms", "0", NULL};
    struct fake_gce f;
    struct lbp_provider_ctx *ctx = NULL;
    struct bench_svc *one, *svcs;
    uint64_t t0;

    if (bench_opts(argc, argv, &o, NULL) != 0)
        return 2;
    if (fake_gce_start(&f, fargs) != 0) {
        fprintf(stderr, "cannot start fake-gce\n");
        return 1;
    }
    ctx = bench_init(P,
                     "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
                     "api-endpoint = %s/compute/v1/\ncredentials-file = %s\nqps = %d\nburst = %d\n",
                     f.proc.url, f.key_file, o.qps, o.qps);
    if (!ctx)
        return 1;
    one = calloc(2, sizeof(*one));
    svcs = calloc((size_t)o.services, sizeof(*svcs));
    if (!one || !svcs)
        return 1;

    printf("fake-gce latency %d ms per call, client rate limit %d QPS, %d workers\n\n",
           o.latency_ms, o.qps, o.workers);
    bench_table_head(58, (const char *const[]){"calls", "seconds"}, (const int[]){6, 8}, 2);
    set_latency(&f, o.latency_ms);
    svc_make(&one[0], 10000, 0);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    ensure_done(ctx, &one[0], &rounds);
    bench_row(58, "(a) provision 1 Service, 3 ports, 100 nodes", total(&f),
              (double)(lbp_now_ms() - t0) / 1000);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    ensure_done(ctx, &one[0], &rounds);
    bench_row(58, "(b) ensure again, nothing changed", total(&f),
              (double)(lbp_now_ms() - t0) / 1000);

    /* (a') the same with Operations RUNNING for one poll, each LBP_PENDING asked again at once */
    set_polls(&f, 1);
    svc_make(&one[1], 10001, 0);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    ensure_done(ctx, &one[1], &rounds);
    {
        char what[96];
        snprintf(what, sizeof(what), "(a') as (a), Operations RUNNING 1 poll (%d ensure calls)",
                 rounds);
        bench_row(58, what, total(&f), (double)(lbp_now_ms() - t0) / 1000);
    }
    set_polls(&f, 0);

    /* (c) 100 Services on nodes 0..99, made without latency. */
    set_latency(&f, 0);
    for (int i = 0; i < o.services; i++) {
        svc_make(&svcs[i], i, 0);
        ensure_done(ctx, &svcs[i], &rounds);
    }
    /* Node 0 is replaced everywhere by a VM made now (so no cache knows it). */
    fake_gce_control(&f, "/_fake/seed",
                     "{\"instances\":[{\"zone\":\"us-central1-a\",\"name\":\"node-new\","
                     "\"tags\":[\"lbprov-node\"]}]}");
    for (int i = 0; i < o.services; i++) {
        svc_make(&svcs[i], i, 0);
        snprintf(svcs[i].nname[0], sizeof(svcs[i].nname[0]), "node-new");
        snprintf(svcs[i].pid[0], sizeof(svcs[i].pid[0]),
                 "gce://fake-project/us-central1-a/node-new");
    }
    set_latency(&f, o.latency_ms);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    {
        struct bench_tally tally;
        char what[96];
        snprintf(what, sizeof(what), "(c) 1 node change on %d Services (update_targets)",
                 o.services);
        tally = bench_targets_row(&o, P, ctx, svcs, 58, what, total_calls, &f);
        printf("\n(c) per Service: %.2f calls; instance lookups %ld, addInstance %ld, "
               "removeInstance %ld; failures %d\n",
               (double)total(&f) / o.services,
               fake_gce_calls(&f, "GET instances") + fake_gce_calls(&f, "LIST instances"),
               fake_gce_calls(&f, "POST targetPools/addInstance"),
               fake_gce_calls(&f, "POST targetPools/removeInstance"), tally.failures);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_gce_stop(&f);
    free(one);
    free(svcs);
    return 0;
}
