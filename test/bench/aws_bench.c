/*
 * aws_bench.c — what the AWS provider costs in API calls and time against
 * fake-aws with a fixed latency per call (50 ms by default, roughly a real
 * regional endpoint from inside AWS):
 *
 *   (a) provision one Service with 3 ports on 100 nodes (NLB and classic),
 *   (b) converge it again with nothing changed,
 *   (c) apply one node change (a node replaced) to 100 Services through
 *       update_targets, with W worker threads as the controller runs them.
 *
 * Setup (seeding, creating the 100 Services) runs with no latency and is
 * not measured. Prints a table; see test/bench/README.md. Not a test.
 *
 *   aws_bench [--latency-ms 50] [--workers 8] [--services 100] [--qps 200]
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
#include "test/fakes/aws/fake_aws_client.h"

extern const struct lbp_provider lbp_provider_aws;
static const struct lbp_provider *P = &lbp_provider_aws;

/* NLB or classic by annotation; the node ids in us-east-1a as fake-aws seeds them. */
static void svc_make(struct bench_svc *s, int idx, bool nlb, int first_node)
{
    static const struct lbp_lb_port ports[] = {
        {"http", "TCP", 80, 0}, {"https", "TCP", 443, 0}, {"dns", "TCP", 53, 0}};
    bench_svc_make(s, idx, nlb ? 1 : 2, ports, 3, 30000 + idx * 3, first_node, BENCH_NODES);
    for (int i = 0; i < BENCH_NODES; i++) {
        snprintf(s->pid[i], sizeof(s->pid[i]), "aws:///us-east-1a/i-%017d", first_node + i);
        s->nodes[i].provider_id = s->pid[i];
    }
    s->ann[0].key = "service.beta.kubernetes.io/aws-load-balancer-type";
    s->ann[0].value = nlb ? "nlb" : "classic";
    s->spec.annotations = s->ann;
    s->spec.n_annotations = 1;
}

static void set_latency(struct fake_aws *f, int ms)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d}", ms);
    fake_aws_req(f, "POST", "/_fake/config", body, NULL);
}

/* Calls fake-aws counted since the last reset. */
static long total_calls(void *f)
{
    return fake_aws_counter(f, "total");
}

int main(int argc, char **argv)
{
    struct bench_opts o = BENCH_OPTS_DEFAULT;
    struct fake_aws f;
    struct lbp_provider_ctx *ctx = NULL, *setup;
    struct bench_svc *one, *svcs;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    uint64_t t0;

    if (bench_opts(argc, argv, &o, NULL) != 0)
        return 2;
    if (fake_aws_start(&f, NULL) != 0 || fake_aws_seed_cluster(&f, "bench", BENCH_NODES + 1) != 0) {
        fprintf(stderr, "cannot start fake-aws\n");
        return 1;
    }
    fake_aws_env(&f);
    /* AWS's largest rules-per-group quota: (a) and (b) place node rules. */
    fake_aws_req(&f, "POST", "/_fake/config", "{\"sg_rules_max\":1000}", NULL);
    if (!(ctx = bench_init(P, "[Global]\nQPS = %d\nBurst = %d\n", o.qps, o.qps)))
        return 1;
    one = calloc(2, sizeof(*one));
    svcs = calloc((size_t)o.services, sizeof(*svcs));

    printf("fake-aws latency %d ms per call, client rate limit %d QPS, %d workers\n\n",
           o.latency_ms, o.qps, o.workers);
    bench_table_head(56, (const char *const[]){"calls", "seconds"}, (const int[]){6, 8}, 2);
    set_latency(&f, o.latency_ms);
    for (int k = 0; k < 2; k++) {
        const char *kind = k == 0 ? "NLB" : "classic";
        char what[96];
        svc_make(&one[k], 10000 + k, k == 0, 1);
        fake_aws_reset_counters(&f);
        t0 = lbp_now_ms();
        if (P->ensure(ctx, &one[k].spec, &st, &call) != LBP_OK)
            fprintf(stderr, "ensure: %s\n", call.err);
        snprintf(what, sizeof(what), "(a) provision 1 Service, 3 ports, 100 nodes, %s", kind);
        bench_row(56, what, fake_aws_counter(&f, "total"), (double)(lbp_now_ms() - t0) / 1000);
        fake_aws_reset_counters(&f);
        t0 = lbp_now_ms();
        P->ensure(ctx, &one[k].spec, &st, &call);
        snprintf(what, sizeof(what), "(b) ensure again, nothing changed, %s", kind);
        bench_row(56, what, fake_aws_counter(&f, "total"), (double)(lbp_now_ms() - t0) / 1000);
    }

    /*
     * (c) 100 NLB Services on nodes 1..100, made without latency. Their node
     * rules (12 each) would not fit even the largest quota, so they are made
     * as such a cluster must run: with DisableSecurityGroupIngress. Target
     * updates, which (c) measures, never touch security groups.
     */
    set_latency(&f, 0);
    if (!(setup = bench_init(P, "[Global]\nQPS = %d\nDisableSecurityGroupIngress = true\n", 10000)))
        return 1;
    for (int i = 0; i < o.services; i++) {
        svc_make(&svcs[i], i, true, 1);
        if (P->ensure(setup, &svcs[i].spec, &st, &call) != LBP_OK)
            fprintf(stderr, "setup ensure %d: %s\n", i, call.err);
    }
    P->cleanup(setup);
    /* Node 1 is replaced by node 101 everywhere. */
    for (int i = 0; i < o.services; i++)
        svc_make(&svcs[i], i, true, 2);
    set_latency(&f, o.latency_ms);
    fake_aws_reset_counters(&f);
    {
        struct bench_tally tally;
        char what[96];
        snprintf(what, sizeof(what), "(c) 1 node change on %d NLB Services (update_targets)",
                 o.services);
        tally = bench_targets_row(&o, P, ctx, svcs, 56, what, total_calls, &f);
        printf("\n(c) per Service: %.1f calls; targets registered %ld, deregistered %ld; "
               "failures %d\n",
               (double)fake_aws_counter(&f, "total") / o.services,
               fake_aws_counter(&f, "targets_registered"),
               fake_aws_counter(&f, "targets_deregistered"), tally.failures);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_aws_stop(&f);
    free(one);
    free(svcs);
    return 0;
}
