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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/gce/fake_gce_client.h"

extern const struct lbp_provider lbp_provider_gce;
static const struct lbp_provider *P = &lbp_provider_gce;

#define NODES 100

struct svc {
    char ns[32], name[32], uid[48];
    struct lbp_lb_port ports[3];
    struct lbp_lb_node nodes[NODES + 1];
    char pid[NODES + 1][64], nname[NODES + 1][32];
    struct lbp_lb_spec spec;
};

/* Nodes first..first+99: node-<i>, in the zone fake-gce's --instances put it. */
static void svc_make(struct svc *s, int idx, int first_node)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "bench");
    snprintf(s->name, sizeof(s->name), "svc-%d", idx);
    snprintf(s->uid, sizeof(s->uid), "%08x-0000-4000-8000-%012x", idx, 3);
    s->ports[0] = (struct lbp_lb_port){"http", "TCP", 80, 30000 + idx * 3};
    s->ports[1] = (struct lbp_lb_port){"https", "TCP", 443, 30001 + idx * 3};
    s->ports[2] = (struct lbp_lb_port){"alt", "TCP", 8080, 30002 + idx * 3};
    for (int i = 0; i < NODES; i++) {
        int k = first_node + i;
        snprintf(s->nname[i], sizeof(s->nname[i]), "node-%d", k);
        snprintf(s->pid[i], sizeof(s->pid[i]), "gce://fake-project/us-central1-%c/node-%d",
                 "abc"[k % 3], k);
        s->nodes[i].name = s->nname[i];
        s->nodes[i].provider_id = s->pid[i];
    }
    s->spec.cluster_name = "bench";
    s->spec.namespace = s->ns;
    s->spec.name = s->name;
    s->spec.uid = s->uid;
    lbp_lb_name(s->uid, s->spec.lb_name);
    s->spec.ports = s->ports;
    s->spec.n_ports = 3;
    s->spec.nodes = s->nodes;
    s->spec.n_nodes = NODES;
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

/* ensure until it is done, asking again at once after LBP_PENDING; the rounds. */
static int ensure_done(struct lbp_provider_ctx *ctx, struct svc *s, int *rounds)
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
    printf("| %-58s | %6ld | %8.2f |\n", what, calls, secs);
}

int main(int argc, char **argv)
{
    int latency = 50, workers = 8, n_svcs = 100, qps = 200, rounds;
    const char *fargs[] = {"--instances", "101", "--op-polls", "0", "--op-ms", "0", NULL};
    struct fake_gce f;
    struct lbp_provider_ctx *ctx = NULL;
    char cfg[300], err[256];
    struct svc *one, *svcs;
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
    if (fake_gce_start(&f, fargs) != 0) {
        fprintf(stderr, "cannot start fake-gce\n");
        return 1;
    }
    snprintf(cfg, sizeof(cfg), "%s/gce.conf", f.dir);
    cf = fopen(cfg, "w");
    if (!cf)
        return 1;
    fprintf(cf,
            "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
            "api-endpoint = %s/compute/v1/\ncredentials-file = %s\nqps = %d\nburst = %d\n",
            f.url, f.key_file, qps, qps);
    fclose(cf);
    if (P->init(cfg, "bench", &ctx, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    one = calloc(2, sizeof(*one));
    svcs = calloc((size_t)n_svcs, sizeof(*svcs));
    if (!one || !svcs)
        return 1;

    printf("fake-gce latency %d ms per call, client rate limit %d QPS, %d workers\n\n", latency,
           qps, workers);
    printf("| %-58s | %6s | %8s |\n", "scenario", "calls", "seconds");
    printf("|%s|%s|%s|\n", "------------------------------------------------------------",
           "--------", "----------");
    set_latency(&f, latency);
    svc_make(&one[0], 10000, 0);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    ensure_done(ctx, &one[0], &rounds);
    row("(a) provision 1 Service, 3 ports, 100 nodes", total(&f),
        (double)(lbp_now_ms() - t0) / 1000);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
    t0 = lbp_now_ms();
    ensure_done(ctx, &one[0], &rounds);
    row("(b) ensure again, nothing changed", total(&f), (double)(lbp_now_ms() - t0) / 1000);

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
        row(what, total(&f), (double)(lbp_now_ms() - t0) / 1000);
    }
    set_polls(&f, 0);

    /* (c) 100 Services on nodes 0..99, made without latency. */
    set_latency(&f, 0);
    for (int i = 0; i < n_svcs; i++) {
        svc_make(&svcs[i], i, 0);
        ensure_done(ctx, &svcs[i], &rounds);
    }
    /* Node 0 is replaced everywhere by a VM made now (so no cache knows it). */
    fake_gce_control(&f, "/_fake/seed",
                     "{\"instances\":[{\"zone\":\"us-central1-a\",\"name\":\"node-new\","
                     "\"tags\":[\"lbprov-node\"]}]}");
    for (int i = 0; i < n_svcs; i++) {
        svc_make(&svcs[i], i, 0);
        snprintf(svcs[i].nname[0], sizeof(svcs[i].nname[0]), "node-new");
        snprintf(svcs[i].pid[0], sizeof(svcs[i].pid[0]),
                 "gce://fake-project/us-central1-a/node-new");
    }
    set_latency(&f, latency);
    fake_gce_control(&f, "/_fake/counters/reset", "{}");
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
        snprintf(what, sizeof(what), "(c) 1 node change on %d Services (update_targets)", n_svcs);
        row(what, total(&f), (double)(lbp_now_ms() - t0) / 1000);
        printf("\n(c) per Service: %.2f calls; instance lookups %ld, addInstance %ld, "
               "removeInstance %ld; failures %d\n",
               (double)total(&f) / n_svcs,
               fake_gce_calls(&f, "GET instances") + fake_gce_calls(&f, "LIST instances"),
               fake_gce_calls(&f, "POST targetPools/addInstance"),
               fake_gce_calls(&f, "POST targetPools/removeInstance"), j.failures);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_gce_stop(&f);
    free(one);
    free(svcs);
    return 0;
}
