/*
 * provision.c — benchmark of the service controller (not a ctest test).
 *
 * One run: a fresh fake API server process with 100 Nodes, `lbprov
 * controller --cloud mock` with the given workers and mock latency; N
 * Services are created at once from 8 client threads, and the clock stops
 * when the fake has counted the 2N Service writes (finalizer + status) and
 * a LIST confirms every Service has an ingress. Reported: wall seconds,
 * controller CPU seconds (utime+stime from /proc/<pid>/stat), peak RSS
 * (VmHWM), API requests per Service by the controller (from /_fake/stats,
 * minus the benchmark's own), then the seconds until every LB includes one
 * added Node. The floor is the same writes made directly against a fresh
 * fake with no controller: create + finalizer PATCH + status PATCH + two
 * Event POSTs per Service, from 8 threads.
 *
 * Usage: provision [-n N] [-w WORKERS] [-l LATENCY_MS] [--no-floor]
 */
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "test/integration/harness.h"

#include <getopt.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define NODES 100
#define THREADS 8

static int n_svcs = 1000;
static int create_failures; /* atomic */

struct job {
    struct lbp_kube_client *c;
    int from, to;
    bool floor; /* also make the controller's writes */
};

static struct lbp_kube_client *client_for(struct lbp_fake_api *api)
{
    struct lbp_kube_config_opts ko = {.kubeconfig = api->kubeconfig};
    struct lbp_kube_client_opts co = {.qps = 0, .timeout_ms = 60000};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *c = NULL;
    char err[256];
    if (lbp_kube_config_load(&ko, &cfg, err, sizeof(err)) ||
        lbp_kube_client_new(cfg, &co, &c, err, sizeof(err))) {
        fprintf(stderr, "client: %s\n", err);
        exit(1);
    }
    lbp_kube_config_free(cfg);
    return c;
}

static void *create_main(void *arg)
{
    struct job *j = arg;
    char body[1024], path[256];
    for (int i = j->from; i < j->to; i++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s%d\","
                 "\"namespace\":\"default\"},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{"
                 "\"port\":80,\"protocol\":\"TCP\"}],\"selector\":{\"app\":\"s%d\"}}}",
                 i, i);
        struct lbp_kube_response r = {0};
        if (lbp_kube_post(j->c, "/api/v1/namespaces/default/services", body, &r) != LBP_OK &&
            __atomic_add_fetch(&create_failures, 1, __ATOMIC_RELAXED) == 1)
            fprintf(stderr, "create s%d failed: %s\n", i, r.message ? r.message : "no response");
        lbp_kube_response_free(&r);
        if (!j->floor)
            continue;
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/s%d/status", i);
        lbp_kube_patch(j->c, path, LBP_PATCH_MERGE,
                       "{\"metadata\":{\"finalizers\":[\"service.kubernetes.io/"
                       "load-balancer-cleanup\"]}}",
                       NULL);
        for (int e = 0; e < 2; e++) {
            snprintf(body, sizeof(body),
                     "{\"apiVersion\":\"v1\",\"kind\":\"Event\",\"metadata\":{\"name\":\"s%d.%d\","
                     "\"namespace\":\"default\"},\"involvedObject\":{\"kind\":\"Service\","
                     "\"namespace\":\"default\",\"name\":\"s%d\"},\"reason\":\"%s\","
                     "\"message\":\"x\",\"type\":\"Normal\",\"source\":{\"component\":"
                     "\"service-controller\"},\"count\":1}",
                     i, e, i, e ? "EnsuredLoadBalancer" : "EnsuringLoadBalancer");
            lbp_kube_post(j->c, "/api/v1/namespaces/default/events", body, NULL);
        }
        snprintf(body, sizeof(body),
                 "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"10.%d.%d.%d\"}]}}}",
                 96 + i / 65536, (i / 256) % 256, i % 256);
        lbp_kube_patch(j->c, path, LBP_PATCH_MERGE, body, NULL);
    }
    return NULL;
}

static void create_all(struct lbp_kube_client *c, bool floor)
{
    pthread_t th[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){c, n_svcs * t / THREADS, n_svcs * (t + 1) / THREADS, floor};
        pthread_create(&th[t], NULL, create_main, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
}

static void make_nodes(struct lbp_fake_api *api, int from, int to)
{
    for (int i = from; i < to; i++) {
        char body[768];
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%d\"},"
                 "\"spec\":{\"providerID\":\"mock://node-%d\"},\"status\":{\"addresses\":[{"
                 "\"type\":\"InternalIP\",\"address\":\"10.1.%d.%d\"}],\"conditions\":[{"
                 "\"type\":\"Ready\",\"status\":\"True\"}]}}",
                 i, i, i / 256, i % 256);
        if (lbp_fake_api_request(api, "POST", "/api/v1/nodes", "application/json", body, NULL) !=
            201)
            fprintf(stderr, "node-%d: create failed\n", i);
    }
}

/* Every counter of /_fake/stats summed by reads (GET/LIST/WATCH) and writes. */
static void fake_stats(struct lbp_fake_api *api, long *reads, long *writes, long *status_patches,
                       long *svc_posts, long *lists)
{
    char *resp = NULL;
    json_object *o;
    *reads = *writes = *status_patches = *svc_posts = *lists = 0;
    if (lbp_fake_api_request(api, "GET", "/_fake/stats", NULL, NULL, &resp) != 200 || !resp)
        goto out;
    o = json_tokener_parse(resp);
    if (!o)
        goto out;
    json_object_object_foreach(o, k, v)
    {
        long n = json_object_get_int64(v);
        if (strncmp(k, "GET ", 4) == 0 || strncmp(k, "LIST ", 5) == 0 ||
            strncmp(k, "WATCH ", 6) == 0)
            *reads += n;
        else
            *writes += n;
        if (strcmp(k, "PATCH services/status") == 0)
            *status_patches = n;
        if (strcmp(k, "POST services") == 0)
            *svc_posts = n;
        if (strcmp(k, "LIST services") == 0)
            *lists = n;
    }
    json_object_put(o);
out:
    free(resp);
}

static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[2048], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* One metric's value from the controller's /metrics. */
static double metric_f(int port, const char *name)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    static char buf[1 << 20]; /* the whole /metrics page */
    size_t len = 0;
    double v = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    const char *req = "GET /metrics HTTP/1.0\r\n\r\n";
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, req, strlen(req)) == (ssize_t)strlen(req)) {
        ssize_t n;
        while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)n;
        buf[len] = '\0';
        char pat[128];
        snprintf(pat, sizeof(pat), "\n%s ", name);
        char *p = strstr(buf, pat);
        if (p)
            v = strtod(p + strlen(pat), NULL);
    }
    close(fd);
    return v;
}

static long metric(int port, const char *name)
{
    return (long)metric_f(port, name);
}

static bool all_ingress(struct lbp_kube_client *c)
{
    struct lbp_kube_response r = {0};
    int n = 0;
    bool ok = false;
    if (lbp_kube_get(c, "/api/v1/namespaces/default/services", &r) == LBP_OK) {
        /* each Service with an address has exactly one "ingress":[{"ip": */
        for (const char *p = r.body; (p = strstr(p, "\"ingress\":[{")); p++)
            n++;
        ok = n == n_svcs;
    }
    lbp_kube_response_free(&r);
    return ok;
}

static const char *ratio_str(double r)
{
    static char b[32];
    snprintf(b, sizeof(b), "%.2f", r);
    return b;
}

static double floor_run(void)
{
    struct lbp_fake_api api;
    /* room for more Services than the default 2,768 NodePorts */
    struct lbp_fake_api_opts o = {.extra_arg = "--service-node-port-range=30000-45000"};
    struct lbp_kube_client *c;
    uint64_t t0;
    double s;
    if (lbp_fake_api_start(&o, &api)) {
        fprintf(stderr, "cannot start the fake\n");
        exit(1);
    }
    make_nodes(&api, 0, NODES);
    c = client_for(&api);
    t0 = lbp_now_ms();
    create_all(c, true);
    s = (double)(lbp_now_ms() - t0) / 1000.0;
    lbp_kube_client_free(c);
    lbp_fake_api_stop(&api);
    return s;
}

static void run(int workers, int latency_ms, double floor_s)
{
    struct lbp_fake_api api;
    /* room for more Services than the default 2,768 NodePorts */
    struct lbp_fake_api_opts o = {.extra_arg = "--service-node-port-range=30000-45000"};
    struct lbp_kube_client *c;
    char conf[400], bind[64], wk[16], logp[400];
    long r0, w0, sp0, sv0, l0, r1, w1, sp1, sv1, l1;
    uint64_t t0, t1;
    double cpu0, cpu1, wall, node_s;
    pid_t pid;
    int port = lbp_test_free_port();
    FILE *f;
    if (lbp_fake_api_start(&o, &api)) {
        fprintf(stderr, "cannot start the fake\n");
        exit(1);
    }
    make_nodes(&api, 0, NODES);
    snprintf(conf, sizeof(conf), "%s/cloud.conf", api.dir);
    snprintf(logp, sizeof(logp), "%s/controller.log", api.dir);
    f = fopen(conf, "w");
    fprintf(f, "vip_range=10.96.0.0/12\nlatency_ms=%d\n", latency_ms);
    fclose(f);
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", port);
    snprintf(wk, sizeof(wk), "%d", workers);
    char *argv[] = {(char *)lbp_test_lbprov_bin(),
                    "controller",
                    "--cloud",
                    "mock",
                    "--cloud-config",
                    conf,
                    "--kubeconfig",
                    api.kubeconfig,
                    "--http-bind-address",
                    bind,
                    "--kube-api-qps",
                    "0",
                    "--concurrent-service-syncs",
                    wk,
                    NULL};
    pid = lbp_test_spawn(argv, logp);
    while (metric(port, "service_controller_queue_depth") < 0)
        usleep(10000);
    c = client_for(&api);
    fake_stats(&api, &r0, &w0, &sp0, &sv0, &l0);
    cpu0 = proc_cpu_s(pid);
    t0 = lbp_now_ms();
    create_all(c, false);
    if (create_failures) {
        /* e.g. more Services than NodePorts (30000-32767 holds 2768) */
        fprintf(stderr, "%d Service creates failed; no figures for N=%d\n", create_failures,
                n_svcs);
        exit(1);
    }
    for (;;) {
        fake_stats(&api, &r1, &w1, &sp1, &sv1, &l1);
        if (sp1 - sp0 >= 2L * n_svcs && all_ingress(c))
            break;
        usleep(5000);
    }
    t1 = lbp_now_ms();
    wall = (double)(t1 - t0) / 1000.0;
    cpu1 = proc_cpu_s(pid);
    fake_stats(&api, &r1, &w1, &sp1, &sv1, &l1);
    /* the benchmark's own requests: N creates, its stats polls are not counted by the fake,
     * its LISTs are */
    long reads = (r1 - r0) - (l1 - l0), writes = (w1 - w0) - (sv1 - sv0);
    long hwm = lbp_test_hwm_kb(pid);

    /*
     * The controller measures node-set change → last LB updated itself
     * (nodesync_latency_seconds), so polling here does not skew it.
     */
    long base = metric(port, "service_controller_nodesync_total");
    /* A histogram: this node add is its one new observation, so the change in _sum is it. */
    double sum0 = metric_f(port, "service_controller_nodesync_latency_seconds_sum");
    double count0 = metric_f(port, "service_controller_nodesync_latency_seconds_count");
    if (count0 < 0) /* no observation yet: the series is not on the page */
        sum0 = count0 = 0;
    make_nodes(&api, NODES, NODES + 1);
    while (metric(port, "service_controller_nodesync_total") < base + n_svcs ||
           metric_f(port, "service_controller_nodesync_latency_seconds_count") <= count0)
        usleep(10000);
    node_s = metric_f(port, "service_controller_nodesync_latency_seconds_sum") - sum0;

    double ideal = latency_ms ? (double)n_svcs * latency_ms / 1000.0 / workers : 0;
    char floor_txt[32] = "-";
    if (floor_s > 0)
        snprintf(floor_txt, sizeof(floor_txt), "%.2f", floor_s);
    /* the floor's own seconds next to the ratio, so runs on other machines compare */
    printf("| %d | %d | %d | %.2f | %s | %s | %.2f | %.1f | %.2f | %.2f | %.2f | %.3f |", n_svcs,
           workers, latency_ms, wall, floor_txt, floor_s > 0 ? ratio_str(wall / floor_s) : "-",
           cpu1 - cpu0, (double)hwm / 1024.0, (double)(sp1 - sp0) / n_svcs,
           (double)(reads + writes) / n_svcs, (double)reads / n_svcs, node_s);
    if (ideal > 0)
        printf(" %.2f |\n", wall / ideal);
    else
        printf(" - |\n");
    fflush(stdout);
    (void)writes;
    lbp_test_stop(pid, SIGTERM, 8000);
    lbp_kube_client_free(c);
    lbp_fake_api_stop(&api);
}

int main(int argc, char **argv)
{
    int workers = 8, latency = 0, opt;
    long v;
    bool floor = true;
    static const struct option lo[] = {{"no-floor", no_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "n:w:l:", lo, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (lbp_parse_long(optarg, 1, 1000000, &v))
                return 2;
            n_svcs = (int)v;
            break;
        case 'w':
            if (lbp_parse_long(optarg, 1, 1024, &v))
                return 2;
            workers = (int)v;
            break;
        case 'l':
            if (lbp_parse_long(optarg, 0, 60000, &v))
                return 2;
            latency = (int)v;
            break;
        case 'F':
            floor = false;
            break;
        default:
            fprintf(stderr, "usage: provision [-n N] [-w WORKERS] [-l LATENCY_MS] [--no-floor]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    double f = floor ? floor_run() : 0;
    if (floor)
        printf("floor (fake alone, %d Services: create + 2 PATCH + 2 Events each): %.2f s\n",
               n_svcs, f);
    printf(
        "| N | workers | latency ms | wall s | floor s | wall/floor | ctl CPU s | peak RSS MiB | "
        "status PATCH/Svc | API req/Svc | reads/Svc | node add → all LBs s | "
        "wall/(calls×L÷W) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    run(workers, latency, f);
    return 0;
}
