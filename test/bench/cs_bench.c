/*
 * cs_bench.c — what the CloudStack provider costs in API calls and time
 * against fake-cloudstack with a fixed latency per call (50 ms by default)
 * and async jobs that answer "pending" to their first poll:
 *
 *   (a) provision one Service with 3 ports on 100 nodes,
 *   (b) converge it again with nothing changed (reads only),
 *   (c) apply one node change (a node replaced) to 100 Services through
 *       update_targets, with W worker threads as the controller runs them.
 *
 * A slot that answers LBP_PENDING is called again after its retry_after_s,
 * as the reconciler requeues it, so the seconds include waiting for jobs.
 * Setup (the VMs, the 100 Services) runs with no latency, jobs done at
 * their first poll and no waiting, and is not measured. Prints a table;
 * see test/bench/README.md. Not a test.
 *
 *   cs_bench [--latency-ms 50] [--workers 8] [--services 100] [--qps 200]
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
#include "test/fakes/cloudstack/fake_cs_client.h"

extern const struct lbp_provider lbp_provider_cloudstack;
static const struct lbp_provider *P = &lbp_provider_cloudstack;

#define NODES 100

struct svc {
    char ns[32], name[32], uid[48];
    struct lbp_lb_port ports[3];
    struct lbp_lb_node nodes[NODES + 1];
    char nname[NODES + 1][32];
    struct lbp_lb_spec spec;
};

static void svc_make(struct svc *s, int idx, int first_node)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "bench");
    snprintf(s->name, sizeof(s->name), "svc-%d", idx);
    snprintf(s->uid, sizeof(s->uid), "%08x-0000-4000-8000-000000000001", idx);
    s->ports[0] = (struct lbp_lb_port){"http", "TCP", 80, 30000 + idx % 900 * 3};
    s->ports[1] = (struct lbp_lb_port){"https", "TCP", 443, 30001 + idx % 900 * 3};
    s->ports[2] = (struct lbp_lb_port){"dns", "UDP", 53, 30002 + idx % 900 * 3};
    for (int i = 0; i < NODES; i++) {
        snprintf(s->nname[i], sizeof(s->nname[i]), "node-%d", first_node + i);
        s->nodes[i].name = s->nname[i];
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

static void config(struct fake_cs *f, int latency, int polls)
{
    char body[96];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d,\"job_polls\":%d}", latency, polls);
    fake_cs_post(f, "/_fake/config", body);
}

/* A slot until it is done: rounds taken, or -1 on a failure. wait: sleep retry_after_s. */
static int converge(struct lbp_provider_ctx *ctx, struct svc *s, bool targets, bool wait)
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
    struct svc *svcs;
    int n, next, failures, rounds;
    pthread_mutex_t mu;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    for (;;) {
        int i, r;
        pthread_mutex_lock(&j->mu);
        i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n)
            break;
        r = converge(j->ctx, &j->svcs[i], true, true);
        pthread_mutex_lock(&j->mu);
        if (r < 0)
            j->failures++;
        else
            j->rounds += r;
        pthread_mutex_unlock(&j->mu);
    }
    lbp_http_thread_cleanup();
    return NULL;
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
    int latency = 50, workers = 8, n_svcs = 100, qps = 200, r;
    struct fake_cs f;
    struct lbp_provider_ctx *ctx = NULL;
    char cfg[128], err[256], what[128];
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
            n_svcs = (int)v > 200 ? 200 : (int)v; /* the fake's pool has 241 addresses */
        else if (!strcmp(argv[i], "--qps"))
            qps = (int)v;
    }
    if (fake_cs_start(&f, NULL) != 0) {
        fprintf(stderr, "cannot start fake-cloudstack\n");
        return 1;
    }
    {
        struct lbp_buf b;
        lbp_buf_init(&b, 1u << 20);
        lbp_buf_adds(&b, "{\"vms\":[");
        for (int i = 1; i <= NODES + 1; i++)
            lbp_buf_addf(&b, "%s{\"name\":\"node-%d\"}", i > 1 ? "," : "", i);
        lbp_buf_adds(&b, "]}");
        if (fake_cs_post(&f, "/_fake/vms", b.data) != 0) {
            fprintf(stderr, "cannot add VMs\n");
            return 1;
        }
        lbp_buf_free(&b);
    }
    snprintf(cfg, sizeof(cfg), "/tmp/lbp-cs-bench-%d.conf", (int)getpid());
    cf = fopen(cfg, "w");
    fprintf(cf, "[Global]\napi-url = %s\napi-key = %s\nsecret-key = %s\nqps = %d\n", f.api_url,
            FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY, qps);
    fclose(cf);
    if (P->init(cfg, "bench", &ctx, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "init: %s\n", err);
        return 1;
    }
    one = calloc(1, sizeof(*one));
    svcs = calloc((size_t)n_svcs, sizeof(*svcs));

    printf("fake-cloudstack latency %d ms per call, jobs pending for 1 poll, client rate limit "
           "%d QPS, %d workers\n\n",
           latency, qps, workers);
    printf("| %-58s | %6s | %8s | %6s |\n", "scenario", "calls", "seconds", "rounds");
    printf("|%s|%s|%s|%s|\n", "------------------------------------------------------------",
           "--------", "----------", "--------");
    config(&f, latency, 1);
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
    for (int i = 0; i < n_svcs; i++) {
        svc_make(&svcs[i], i, 1);
        if (converge(ctx, &svcs[i], false, false) < 0)
            fprintf(stderr, "setup %d failed\n", i);
    }
    /* Node 1 is replaced by node 101 everywhere. */
    for (int i = 0; i < n_svcs; i++)
        svc_make(&svcs[i], i, 2);
    config(&f, latency, 1);
    fake_cs_post(&f, "/_fake/counters/reset", "{}");
    {
        struct job j = {.ctx = ctx, .svcs = svcs, .n = n_svcs};
        pthread_t th[64];
        int w = workers < 1 ? 1 : (workers > 64 ? 64 : workers);
        long n;
        pthread_mutex_init(&j.mu, NULL);
        t0 = lbp_now_ms();
        for (int i = 0; i < w; i++)
            pthread_create(&th[i], NULL, worker, &j);
        for (int i = 0; i < w; i++)
            pthread_join(th[i], NULL);
        n = calls(&f);
        snprintf(what, sizeof(what), "(c) 1 node replaced on %d Services (update_targets)", n_svcs);
        row(what, n, (double)(lbp_now_ms() - t0) / 1000, j.rounds);
        printf("\n(c) per Service: %.1f calls, %.1f rounds; assign %d, remove %d, "
               "listVirtualMachines %d; failures %d\n",
               (double)n / n_svcs, (double)j.rounds / n_svcs,
               fake_cs_count(&f, "assignToLoadBalancerRule"),
               fake_cs_count(&f, "removeFromLoadBalancerRule"),
               fake_cs_count(&f, "listVirtualMachines"), j.failures);
        pthread_mutex_destroy(&j.mu);
    }
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    fake_cs_stop(&f);
    unlink(cfg);
    free(one);
    free(svcs);
    return 0;
}
