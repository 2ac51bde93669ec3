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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/aws/fake_aws_client.h"

extern const struct lbp_provider lbp_provider_aws;
static const struct lbp_provider *P = &lbp_provider_aws;

#define NODES 100

struct svc {
    char ns[32], name[32], uid[48];
    struct lbp_lb_port ports[3];
    struct lbp_lb_node nodes[NODES + 1];
    char pid[NODES + 1][64], nname[NODES + 1][32];
    struct lbp_lb_annotation ann[1];
    struct lbp_lb_spec spec;
};

static void svc_make(struct svc *s, int idx, bool nlb, int first_node)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "bench");
    snprintf(s->name, sizeof(s->name), "svc-%d", idx);
    snprintf(s->uid, sizeof(s->uid), "%08x-0000-4000-8000-%012x", idx, nlb ? 1 : 2);
    s->ports[0] = (struct lbp_lb_port){"http", "TCP", 80, 30000 + idx * 3};
    s->ports[1] = (struct lbp_lb_port){"https", "TCP", 443, 30001 + idx * 3};
    s->ports[2] = (struct lbp_lb_port){"dns", "TCP", 53, 30002 + idx * 3};
    for (int i = 0; i < NODES; i++) {
        snprintf(s->nname[i], sizeof(s->nname[i]), "node-%d", first_node + i);
        snprintf(s->pid[i], sizeof(s->pid[i]), "aws:///us-east-1a/i-%017d", first_node + i);
        s->nodes[i].name = s->nname[i];
        s->nodes[i].provider_id = s->pid[i];
    }
    s->ann[0].key = "service.beta.kubernetes.io/aws-load-balancer-type";
    s->ann[0].value = nlb ? "nlb" : "classic";
    s->spec.cluster_name = "bench";
    s->spec.namespace = s->ns;
    s->spec.name = s->name;
    s->spec.uid = s->uid;
    lbp_lb_name(s->uid, s->spec.lb_name);
    s->spec.ports = s->ports;
    s->spec.n_ports = 3;
    s->spec.nodes = s->nodes;
    s->spec.n_nodes = NODES;
    s->spec.annotations = s->ann;
    s->spec.n_annotations = 1;
}

static void set_latency(struct fake_aws *f, int ms)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d}", ms);
    fake_aws_req(f, "POST", "/_fake/config", body, NULL);
}

struct job {
    struct lbp_provider_ctx *ctx;
    struct svc *svcs;
    int n;
    int next;
    int failures;
    pthread_mutex_t mu;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    for (;;) {
        struct lbp_call call = {0};
        int i;
        pthread_mutex_lock(&j->mu);
        i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            break;
        if (P->update_targets(j->ctx, &j->svcs[i].spec, &call) != LBP_OK) {
            pthread_mutex_lock(&j->mu);
            j->failures++;
            pthread_mutex_unlock(&j->mu);
            fprintf(stderr, "update_targets %d: %s\n", i, call.err);
        }
    }
    lbp_http_thread_cleanup();
    return NULL;
}

static void row(const char *what, long calls, double secs)
{
    printf("| %-56s | %6ld | %8.2f |\n", what, calls, secs);
}

int main(int argc, char **argv)
{
    int latency = 50, workers = 8, n_svcs = 100, qps = 200;
    struct fake_aws f;
    struct lbp_provider_ctx *ctx = NULL;
    char cfg[128], err[256];
    struct svc *one, *svcs;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    uint64_t t0;
    FILE *cf;

    for (int i = 1; i + 1 < argc; i += 2) {
        long v;
        if (lbp_parse_long(argv[i + 1], 0, 100000, &v) != LBP_OK) {
            fprintf(stderr, "bad value %s\n", argv[i + 1]);
            return 2;
        }
        if (!strcmp(argv[i], "--latency-ms"))
            latency = (int)v;
        else if (!strcmp(argv[i], "--workers"))
            workers = (int)v;
        else if (!strcmp(argv[i], "--services"))
            n_svcs = (int)v;
        else if (!strcmp(argv[i], "--qps"))
            qps = (int)v;
    }
    if (fake_aws_start(&f, NULL) != 0 || fake_aws_seed_cluster(&f, "bench", NODES + 1) != 0) {
        fprintf(stderr, "cannot start fake-aws\n");
        return 1;
    }
    fake_aws_env(&f);
    snprintf(cfg, sizeof(cfg), "/tmp/lbp-aws-bench-%d.conf", (int)getpid());
    cf = fopen(cfg, "w");
    fprintf(cf, "[Global]\nQPS = %d\nBurst = %d\n", qps, qps);
    fclose(cf);
    if (P->init(cfg, "bench", &ctx, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    one = calloc(2, sizeof(*one));
    svcs = calloc((size_t)n_svcs, sizeof(*svcs));

    printf("fake-aws latency %d ms per call, client rate limit %d QPS, %d workers\n\n", latency,
           qps, workers);
    printf("| %-56s | %6s | %8s |\n", "scenario", "calls", "seconds");
    printf("|%s|%s|%s|\n", "----------------------------------------------------------", "--------",
           "----------");
    set_latency(&f, latency);
    for (int k = 0; k < 2; k++) {
        const char *kind = k == 0 ? "NLB" : "classic";
        char what[96];
        svc_make(&one[k], 10000 + k, k == 0, 1);
        fake_aws_reset_counters(&f);
        t0 = lbp_now_ms();
        if (P->ensure(ctx, &one[k].spec, &st, &call) != LBP_OK)
            fprintf(stderr, "ensure: %s\n", call.err);
        snprintf(what, sizeof(what), "(a) provision 1 Service, 3 ports, 100 nodes, %s", kind);
        row(what, fake_aws_counter(&f, "total"), (double)(lbp_now_ms() - t0) / 1000);
        fake_aws_reset_counters(&f);
        t0 = lbp_now_ms();
        P->ensure(ctx, &one[k].spec, &st, &call);
        snprintf(what, sizeof(what), "(b) ensure again, nothing changed, %s", kind);
        row(what, fake_aws_counter(&f, "total"), (double)(lbp_now_ms() - t0) / 1000);
    }

    /* (c) 100 NLB Services on nodes 1..100, made without latency. */
    set_latency(&f, 0);
    for (int i = 0; i < n_svcs; i++) {
        svc_make(&svcs[i], i, true, 1);
        if (P->ensure(ctx, &svcs[i].spec, &st, &call) != LBP_OK)
            fprintf(stderr, "setup ensure %d: %s\n", i, call.err);
    }
    /* Node 1 is replaced by node 101 everywhere. */
    for (int i = 0; i < n_svcs; i++)
        svc_make(&svcs[i], i, true, 2);
    set_latency(&f, latency);
    fake_aws_reset_counters(&f);
    {
        struct job j = {.ctx = ctx, .svcs = svcs, .n = n_svcs};
        pthread_t th[64];
        char what[96];
        int w = workers < 1 ? 1 : (workers > 64 ? 64 : workers);
        pthread_mutex_init(&j.mu, NULL);
        t0 = lbp_now_ms();
        for (int i = 0; i < w; i++)
            pthread_create(&th[i], NULL, worker, &j);
        for (int i = 0; i < w; i++)
            pthread_join(th[i], NULL);
        snprintf(what, sizeof(what), "(c) 1 node change on %d NLB Services (update_targets)",
                 n_svcs);
        row(what, fake_aws_counter(&f, "total"), (double)(lbp_now_ms() - t0) / 1000);
        printf("\n(c) per Service: %.1f calls; targets registered %ld, deregistered %ld; "
               "failures %d\n",
               (double)fake_aws_counter(&f, "total") / n_svcs,
               fake_aws_counter(&f, "targets_registered"),
               fake_aws_counter(&f, "targets_deregistered"), j.failures);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_aws_stop(&f);
    unlink(cfg);
    free(one);
    free(svcs);
    return 0;
}
