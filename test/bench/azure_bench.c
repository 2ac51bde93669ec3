/*
 * azure_bench.c — what the Azure provider costs in ARM calls and time
 * against fake-azure with a fixed latency per call (50 ms by default):
 *
 *   (a) provision one Service (public IP, shared LB, security rules),
 *   (b) 100 Services created at once on the one shared LB, with W workers
 *       calling ensure as the controller does (LBP_PENDING: asked again
 *       after the retry-after the provider gives),
 *   (c) one node replaced under those 100 Services, through update_targets,
 *   (d) ensure for all 100 with nothing changed.
 *
 * ARM's asynchronous operations end at their first poll (--op-polls 0)
 * and answer Retry-After: 1, so every LBP_PENDING costs about a second.
 * Prints a table; see test/bench/README.md. Not a test.
 *
 *   azure_bench [--latency-ms 50] [--workers 8] [--services 100] [--nodes 20] [--nic 0|1]
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
#include "test/bench/bench_util.h"
#include "test/fakes/azure/fake_azure_client.h"

extern const struct lbp_provider lbp_provider_azure;
static const struct lbp_provider *P = &lbp_provider_azure;

#define MAX_NODES 200

static struct lbp_lb_node g_nodes[MAX_NODES + 1];
static char g_pid[MAX_NODES + 1][200], g_nname[MAX_NODES + 1][32], g_ip[MAX_NODES + 1][32];

struct svc {
    struct bench_svc b;
    uint64_t due_ms;
    bool done, busy;
};

static void nodes_make(int first, int n)
{
    for (int i = 0; i < n; i++) {
        int k = first + i;
        snprintf(g_nname[i], sizeof(g_nname[i]), "node-%d", k);
        snprintf(g_pid[i], sizeof(g_pid[i]),
                 "azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION "/resourceGroups/lbprov-rg/"
                 "providers/Microsoft.Compute/virtualMachines/node-%d",
                 k);
        snprintf(g_ip[i], sizeof(g_ip[i]), "10.224.%d.%d", 1 + k / 200, 4 + k % 200);
        g_nodes[i].name = g_nname[i];
        g_nodes[i].provider_id = g_pid[i];
        g_nodes[i].internal_ip = g_ip[i];
    }
}

/* Two ports on the shared g_nodes, which nodes_make fills. */
static void svc_make(struct svc *s, int idx, int n_nodes)
{
    static const struct lbp_lb_port ports[] = {{"http", "TCP", 80, 0}, {"https", "TCP", 443, 0}};
    memset(s, 0, sizeof(*s));
    bench_svc_make(&s->b, idx, 0xa2e0, ports, 2, 30000 + idx * 2, 0, 0);
    s->b.spec.nodes = g_nodes;
    s->b.spec.n_nodes = (size_t)n_nodes;
}

struct job {
    struct lbp_provider_ctx *ctx;
    struct svc *svcs;
    int n, left, failures;
    bool targets; /* update_targets instead of ensure */
    pthread_mutex_t mu;
};

/* Workers as the controller runs them: a Service answered LBP_PENDING comes back after its delay.
 */
static void *worker(void *arg)
{
    struct job *j = arg;
    for (;;) {
        struct lbp_call call = {0};
        struct lbp_lb_status st;
        struct svc *s = NULL;
        uint64_t now = lbp_now_ms();
        int rc;
        pthread_mutex_lock(&j->mu);
        if (!j->left) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        for (int i = 0; i < j->n && !s; i++)
            if (!j->svcs[i].done && !j->svcs[i].busy && j->svcs[i].due_ms <= now)
                s = &j->svcs[i];
        if (s)
            s->busy = true;
        pthread_mutex_unlock(&j->mu);
        if (!s) {
            usleep(10000);
            continue;
        }
        rc = j->targets ? P->update_targets(j->ctx, &s->b.spec, &call)
                        : P->ensure(j->ctx, &s->b.spec, &st, &call);
        pthread_mutex_lock(&j->mu);
        s->busy = false;
        if (rc == LBP_PENDING || rc == LBP_RETRY) {
            s->due_ms = lbp_now_ms() + 1000ull * (call.retry_after_s ? call.retry_after_s : 1);
        } else {
            if (rc != LBP_OK) {
                j->failures++;
                fprintf(stderr, "%s: %s\n", s->b.name, call.err);
            }
            s->done = true;
            j->left--;
        }
        pthread_mutex_unlock(&j->mu);
    }
    lbp_http_thread_cleanup();
    return NULL;
}

static double run(struct lbp_provider_ctx *ctx, struct svc *svcs, int n, int workers, bool targets)
{
    struct job j = {.ctx = ctx, .svcs = svcs, .n = n, .left = n, .targets = targets};
    pthread_t th[64];
    uint64_t t0 = lbp_now_ms();
    int w = workers < 1 ? 1 : (workers > 64 ? 64 : workers);
    for (int i = 0; i < n; i++)
        svcs[i].done = svcs[i].busy = false, svcs[i].due_ms = 0;
    pthread_mutex_init(&j.mu, NULL);
    for (int i = 0; i < w; i++)
        pthread_create(&th[i], NULL, worker, &j);
    for (int i = 0; i < w; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (j.failures)
        fprintf(stderr, "%d failures\n", j.failures);
    return (double)(lbp_now_ms() - t0) / 1000;
}

static void latency(struct fake_azure *f, int ms)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"latency_ms\":%d}", ms);
    fake_azure_control(f, "/_fake/faults", body);
}

static void row(struct fake_azure *f, const char *what, double secs)
{
    long lb = fake_azure_calls(f, "PUT loadBalancers"),
         nic = fake_azure_calls(f, "PUT networkInterfaces"),
         writes = lb + nic + fake_azure_calls(f, "PUT publicIPAddresses") +
                  fake_azure_calls(f, "PUT networkSecurityGroups"),
         reads = fake_azure_calls(f, "GET loadBalancers") +
                 fake_azure_calls(f, "GET publicIPAddresses") +
                 fake_azure_calls(f, "GET networkSecurityGroups") +
                 fake_azure_calls(f, "GET networkInterfaces") +
                 fake_azure_calls(f, "GET virtualMachines") +
                 fake_azure_calls(f, "LIST publicIPAddresses") +
                 fake_azure_calls(f, "GET operations");
    printf("| %-52s | %7ld | %8ld | %6ld | %6ld | %7.2f |\n", what, lb, nic, writes, reads, secs);
    fake_azure_control(f, "/_fake/counters/reset", "{}");
}

int main(int argc, char **argv)
{
    struct bench_opts o = BENCH_OPTS_DEFAULT;
    int n_nodes = 20, nic = 0;
    struct fake_azure f;
    struct lbp_provider_ctx *ctx = NULL;
    char nodes_arg[16], what[96];
    struct svc one, *svcs;
    const char *fargs[] = {"--nodes", nodes_arg, "--op-polls", "0", NULL};
    double t;

    const struct bench_flag flags[] = {{"--nodes", &n_nodes}, {"--nic", &nic}, {NULL, NULL}};

    if (bench_opts(argc, argv, &o, flags) != 0)
        return 2;
    if (n_nodes > MAX_NODES - 1)
        n_nodes = MAX_NODES - 1;
    nic = nic != 0;
    snprintf(nodes_arg, sizeof(nodes_arg), "%d", n_nodes + 1);
    if (fake_azure_start(&f, fargs) != 0) {
        fprintf(stderr, "cannot start fake-azure\n");
        return 1;
    }
    ctx = bench_init(
        P,
        "{\"tenantId\":\"" FAKE_AZURE_TENANT "\",\"subscriptionId\":\"" FAKE_AZURE_SUBSCRIPTION
        "\",\"resourceGroup\":\"lbprov-rg\",\"location\":\"eastus\",\"vnetName\":"
        "\"lbprov-vnet\",\"subnetName\":\"lbprov-subnet\",\"securityGroupName\":\"lbprov-nsg\","
        "\"aadClientId\":\"" FAKE_AZURE_CLIENT_ID
        "\",\"aadClientSecret\":\"" FAKE_AZURE_CLIENT_SECRET
        "\",\"loadBalancerBackendPoolConfigurationType\":\"%s\",\"cloudProviderRateLimitQPS\":"
        "200,\"cloudProviderRateLimitBucket\":200,\"resourceManagerEndpoint\":\"%s\","
        "\"activeDirectoryEndpoint\":\"%s\"}\n",
        nic ? "nodeIPConfiguration" : "nodeIP", f.proc.url, f.proc.url);
    if (!ctx)
        return 1;
    svcs = calloc((size_t)o.services, sizeof(*svcs));
    nodes_make(0, n_nodes);

    printf("fake-azure latency %d ms per call, %d workers, %d nodes, %s pool; ARM operations "
           "answer Retry-After: 1\n\n",
           o.latency_ms, o.workers, n_nodes, nic ? "nodeIPConfiguration (NIC)" : "nodeIP");
    bench_table_head(52, (const char *const[]){"LB PUTs", "NIC PUTs", "writes", "reads", "seconds"},
                     (const int[]){7, 8, 6, 6, 7}, 5);
    fake_azure_control(&f, "/_fake/counters/reset", "{}");
    latency(&f, o.latency_ms);

    svc_make(&one, 1000, n_nodes);
    t = run(ctx, &one, 1, 1, false);
    row(&f, "(a) provision 1 Service (2 ports)", t);

    for (int i = 0; i < o.services; i++)
        svc_make(&svcs[i], i, n_nodes);
    t = run(ctx, svcs, o.services, o.workers, false);
    snprintf(what, sizeof(what), "(b) %d Services created at once, one shared LB", o.services);
    row(&f, what, t);

    /* node-0 replaced by node-N everywhere */
    nodes_make(1, n_nodes);
    t = run(ctx, svcs, o.services, o.workers, true);
    snprintf(what, sizeof(what), "(c) one node replaced under %d Services", o.services);
    row(&f, what, t);

    t = run(ctx, svcs, o.services, o.workers, false);
    snprintf(what, sizeof(what), "(d) ensure %d Services, nothing changed", o.services);
    row(&f, what, t);

    printf("\n(b) without batching would be %d LB PUTs, at least %.1f s of PUT round trips "
           "alone\n",
           o.services, o.services * o.latency_ms / 1000.0);
    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    free(svcs);
    fake_azure_stop(&f);
    return 0;
}
