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
 * added Node. A sampler thread reads the controller's /proc/<pid>/smaps each
 * time its VmRSS reaches a new high and prints the largest sample split into
 * heap, malloc arenas, thread stacks, other anonymous memory and each big
 * file (shared library) mapped, so the peak figure is explained. The floor is the same writes made
 * directly against a fresh fake with no controller: create + finalizer PATCH + status PATCH + two
 * Event POSTs per Service, from 8 threads.
 *
 * Transport: as a real API server is reached. By default (-t h2) every
 * client, the floor's and the controller's, goes through nghttpx as a TLS
 * front offering HTTP/2 and HTTP/1.1 by ALPN (the client picks), the
 * certificate checked against the fake's CA;
 * nghttpx passes requests on to the fake over keep-alive HTTP/1.1. -t h1
 * offers only HTTP/1.1 on the same TLS front; -t plain talks to the fake
 * directly. Objects weigh what a real server's do: the fake keeps
 * managedFields and every defaulted field, Services are created as
 * `kubectl apply` creates them (labels, last-applied-configuration), and
 * Nodes are a real 40-image Node (test/data/kube/node_40images.json).
 *
 * -r R repeats floor + run R times, interleaved, and ends with the medians.
 *
 * Usage: provision [-n N] [-w WORKERS] [-l LATENCY_MS] [-t h2|h1|plain] [-r R] [--no-floor]
 *                  [-d TESTDATA]
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
#define MAX_REPS 15
/* what kubectl apply sends as User-Agent: the fake names the field manager after it */
#define KUBECTL_UA "kubectl-client-side-apply/v1.28.7 (linux/amd64) kubernetes/c8dcb00"

enum transport { T_H2, T_H1, T_PLAIN };
static const char *const transport_name[] = {"TLS (nghttpx) offering HTTP/2 and HTTP/1.1 by ALPN",
                                             "TLS (nghttpx) offering HTTP/1.1 only",
                                             "plain HTTP/1.1"};
static enum transport transport = T_H2;
static int n_svcs = 1000;
static int create_failures; /* atomic */
static char *node_json;     /* the Node every benchmark Node is made from */

/* The fake API server and, unless plain, its TLS front. */
struct env {
    struct lbp_fake_api api;
    pid_t front;
    char kubeconfig[400]; /* where clients are pointed: the front, or the fake */
};

struct job {
    struct lbp_kube_client *c;  /* creates (kubectl's User-Agent) */
    struct lbp_kube_client *cw; /* the floor's controller writes */
    int from, to;
    bool floor; /* also make the controller's writes */
};

static struct lbp_kube_client *client_for(const char *kubeconfig, const char *ua)
{
    struct lbp_kube_config_opts ko = {.kubeconfig = kubeconfig};
    struct lbp_kube_client_opts co = {.qps = 0, .timeout_ms = 60000, .user_agent = ua};
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
    char body[2048], path[256];
    for (int i = j->from; i < j->to; i++) {
        /* as kubectl apply creates it: labels, and the applied object as an annotation */
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"annotations\":{"
                 "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"apiVersion\\\":"
                 "\\\"v1\\\",\\\"kind\\\":\\\"Service\\\",\\\"metadata\\\":{\\\"annotations\\\":{},"
                 "\\\"labels\\\":{\\\"app.kubernetes.io/name\\\":\\\"s%d\\\",\\\"app.kubernetes.io/"
                 "part-of\\\":\\\"bench\\\"},\\\"name\\\":\\\"s%d\\\",\\\"namespace\\\":"
                 "\\\"default\\\"},\\\"spec\\\":{\\\"ports\\\":[{\\\"name\\\":\\\"http\\\","
                 "\\\"port\\\":80,\\\"protocol\\\":\\\"TCP\\\",\\\"targetPort\\\":8080}],"
                 "\\\"selector\\\":{\\\"app.kubernetes.io/name\\\":\\\"s%d\\\"},\\\"type\\\":"
                 "\\\"LoadBalancer\\\"}}\\n\"},\"labels\":{\"app.kubernetes.io/name\":\"s%d\","
                 "\"app.kubernetes.io/part-of\":\"bench\"},\"name\":\"s%d\",\"namespace\":"
                 "\"default\"},\"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":"
                 "\"TCP\",\"targetPort\":8080}],\"selector\":{\"app.kubernetes.io/name\":\"s%d\"},"
                 "\"type\":\"LoadBalancer\"}}",
                 i, i, i, i, i, i);
        struct lbp_kube_response r = {0};
        if (lbp_kube_post(j->c, "/api/v1/namespaces/default/services", body, &r) != LBP_OK &&
            __atomic_add_fetch(&create_failures, 1, __ATOMIC_RELAXED) == 1)
            fprintf(stderr, "create s%d failed: %s\n", i, r.message ? r.message : "no response");
        lbp_kube_response_free(&r);
        if (!j->floor)
            continue;
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/s%d/status", i);
        lbp_kube_patch(j->cw, path, LBP_PATCH_MERGE,
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
            lbp_kube_post(j->cw, "/api/v1/namespaces/default/events", body, NULL);
        }
        snprintf(body, sizeof(body),
                 "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"10.%d.%d.%d\"}]}}}",
                 96 + i / 65536, (i / 256) % 256, i % 256);
        lbp_kube_patch(j->cw, path, LBP_PATCH_MERGE, body, NULL);
    }
    return NULL;
}

static void create_all(struct lbp_kube_client *c, struct lbp_kube_client *cw, bool floor)
{
    pthread_t th[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){c, cw, n_svcs * t / THREADS, n_svcs * (t + 1) / THREADS, floor};
        pthread_create(&th[t], NULL, create_main, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
}

static void make_nodes(struct lbp_fake_api *api, int from, int to)
{
    for (int i = from; i < to; i++) {
        /* the recorded Node, renamed: its name, providerID and addresses are this one's */
        json_object *n = json_tokener_parse(node_json), *meta, *spec, *st;
        char name[32], pid[48], ip[32];
        snprintf(name, sizeof(name), "node-%d", i);
        snprintf(pid, sizeof(pid), "mock://node-%d", i);
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
        if (!n || !json_object_object_get_ex(n, "metadata", &meta) ||
            !json_object_object_get_ex(n, "spec", &spec) ||
            !json_object_object_get_ex(n, "status", &st)) {
            fprintf(stderr, "the Node test data is not a Node\n");
            exit(1);
        }
        json_object_object_add(meta, "name", json_object_new_string(name));
        json_object_object_del(meta, "uid");
        json_object_object_del(meta, "resourceVersion");
        json_object_object_del(meta, "creationTimestamp");
        json_object_object_del(meta, "managedFields");
        json_object_object_add(spec, "providerID", json_object_new_string(pid));
        json_object_object_del(spec, "taints"); /* its unreachable taint would exclude it */
        json_object *addrs = json_object_new_array(), *a = json_object_new_object();
        json_object_object_add(a, "type", json_object_new_string("InternalIP"));
        json_object_object_add(a, "address", json_object_new_string(ip));
        json_object_array_add(addrs, a);
        a = json_object_new_object();
        json_object_object_add(a, "type", json_object_new_string("Hostname"));
        json_object_object_add(a, "address", json_object_new_string(name));
        json_object_array_add(addrs, a);
        json_object_object_add(st, "addresses", addrs);
        if (lbp_fake_api_request(api, "POST", "/api/v1/nodes", "application/json",
                                 json_object_to_json_string_ext(n, JSON_C_TO_STRING_PLAIN),
                                 NULL) != 201)
            fprintf(stderr, "node-%d: create failed\n", i);
        json_object_put(n);
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

/*
 * The RSS breakdown. smaps names the main heap ([heap]) and file mappings;
 * the rest is told apart by glibc's layout: a thread stack is an anonymous
 * read-write mapping right above its one-page PROT_NONE guard, a malloc
 * arena's heap starts on a 64 MiB boundary (HEAP_MAX_SIZE) with its
 * PROT_NONE reserve right above it. Other anonymous memory is mmap'd
 * blocks (large mallocs) and libraries' .bss.
 */
#define MAX_FILES 64
#define ARENA_ALIGN (64UL << 20)

struct rss_sample {
    long total_kb, heap_kb, arena_kb, stack_kb, anon_kb, files_kb;
    int n_files;
    struct {
        char name[64];
        long kb;
    } file[MAX_FILES];
};

struct mapping {
    unsigned long start, end;
    char perms[8];
    unsigned long inode;
    char path[256];
    long rss_kb;
};

static void sample_add(struct rss_sample *s, const struct mapping *m, const struct mapping *prev,
                       bool next_is_reserve)
{
    const char *base;
    bool anon = m->inode == 0 && (m->path[0] == '\0' || m->path[0] == '[');
    s->total_kb += m->rss_kb;
    if (!anon) {
        base = strrchr(m->path, '/');
        base = base ? base + 1 : m->path;
        s->files_kb += m->rss_kb;
        for (int i = 0; i < s->n_files; i++) {
            if (strcmp(s->file[i].name, base) == 0) {
                s->file[i].kb += m->rss_kb;
                return;
            }
        }
        if (s->n_files < MAX_FILES) {
            lbp_strlcpy(s->file[s->n_files].name, base, sizeof(s->file[0].name));
            s->file[s->n_files++].kb = m->rss_kb;
        }
        return;
    }
    if (strcmp(m->path, "[heap]") == 0)
        s->heap_kb += m->rss_kb;
    else if (strcmp(m->path, "[stack]") == 0 ||
             (prev && prev->end == m->start && prev->inode == 0 && prev->path[0] == '\0' &&
              strncmp(prev->perms, "---", 3) == 0 && prev->end - prev->start == 4096))
        s->stack_kb += m->rss_kb;
    else if (m->start % ARENA_ALIGN == 0 && next_is_reserve)
        s->arena_kb += m->rss_kb;
    else
        s->anon_kb += m->rss_kb;
}

static bool parse_header(const char *line, struct mapping *m)
{
    int off = 0;
    memset(m, 0, sizeof(*m));
    if (sscanf(line, "%lx-%lx %7s %*x %*s %lu %n", &m->start, &m->end, m->perms, &m->inode, &off) !=
        4)
        return false;
    snprintf(m->path, sizeof(m->path), "%s", line + off);
    m->path[strcspn(m->path, "\n")] = '\0';
    return true;
}

/* One pass over smaps: each mapping is classified once the next header is known. */
static bool smaps_sample(pid_t pid, struct rss_sample *s)
{
    char path[64], line[512];
    struct mapping prev, cur, next;
    bool have_prev = false, have_cur = false;
    long kb;
    FILE *f;
    memset(s, 0, sizeof(*s));
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    if (!(f = fopen(path, "r")))
        return false;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
            if (have_cur)
                cur.rss_kb = kb;
            continue;
        }
        if (!parse_header(line, &next))
            continue;
        if (have_cur) {
            bool reserve =
                next.start == cur.end && next.inode == 0 && strncmp(next.perms, "---", 3) == 0;
            sample_add(s, &cur, have_prev ? &prev : NULL, reserve);
            prev = cur;
            have_prev = true;
        }
        cur = next;
        have_cur = true;
    }
    if (have_cur)
        sample_add(s, &cur, have_prev ? &prev : NULL, false);
    fclose(f);
    return true;
}

struct sampler {
    pthread_t th;
    pid_t pid;
    int stop; /* atomic */
    struct rss_sample best;
};

/* Every 50 ms: when VmRSS passes the highest seen, smaps is read again. */
static void *sampler_main(void *arg)
{
    struct sampler *sp = arg;
    struct rss_sample *s = malloc(sizeof(*s));
    long high = 0;
    if (!s)
        return NULL;
    while (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
        long rss = lbp_test_status_kb(sp->pid, "VmRSS");
        if (rss > high && smaps_sample(sp->pid, s)) {
            high = rss;
            if (s->total_kb > sp->best.total_kb)
                sp->best = *s;
        }
        usleep(50000);
    }
    free(s);
    return NULL;
}

/* One line: anonymous memory by kind, then files of 256 KiB or more, largest first. */
static void print_breakdown(const struct rss_sample *s, long hwm_kb)
{
    long other = s->files_kb;
    bool used[MAX_FILES] = {false};
    printf("RSS at peak (smaps) %.1f MiB of VmHWM %.1f: anon %.1f = heap %.1f + arenas %.1f + "
           "stacks %.1f + other %.1f; files %.1f =",
           s->total_kb / 1024.0, hwm_kb / 1024.0,
           (s->heap_kb + s->arena_kb + s->stack_kb + s->anon_kb) / 1024.0, s->heap_kb / 1024.0,
           s->arena_kb / 1024.0, s->stack_kb / 1024.0, s->anon_kb / 1024.0, s->files_kb / 1024.0);
    for (;;) {
        int big = -1;
        for (int i = 0; i < s->n_files; i++)
            if (!used[i] && s->file[i].kb >= 256 && (big < 0 || s->file[i].kb > s->file[big].kb))
                big = i;
        if (big < 0)
            break;
        used[big] = true;
        other -= s->file[big].kb;
        printf(" %s %.1f +", s->file[big].name, s->file[big].kb / 1024.0);
    }
    printf(" other %.1f\n", other / 1024.0);
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

/*
 * With LBP_BENCH_CALLGRIND set (the controller then runs under valgrind
 * --tool=callgrind through LBP_TEST_LBPROV_BIN), the counts are zeroed
 * before the creates and dumped when the last Service is done, so the
 * profile holds the create phase alone: not start-up, not /metrics.
 */
static void callgrind(pid_t pid, const char *what)
{
    char cmd[96];
    if (!getenv("LBP_BENCH_CALLGRIND"))
        return;
    snprintf(cmd, sizeof(cmd), "callgrind_control %s %d >/dev/null", what, (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "%s failed\n", cmd);
}

/* Accepts connections on 127.0.0.1:port yet? */
static bool port_open(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/*
 * A fresh fake with 100 Nodes and, for TLS transports, nghttpx in front of
 * it: TLS with the fake's certificate, HTTP/2 or HTTP/1.1 offered by ALPN,
 * no limit on backend connections (every watch holds one) and no timeouts a
 * watch or an idle keep-alive connection could meet during a run.
 */
static void env_start(struct env *e)
{
    /* room for more Services than the default 2,768 NodePorts */
    struct lbp_fake_api_opts o = {.extra_arg = "--service-node-port-range=30000-45000",
                                  .pki = transport != T_PLAIN};
    char fe[64], be[64], cert[400], key[400], logp[400], kc[1600];
    int port;
    memset(e, 0, sizeof(*e));
    if (lbp_fake_api_start(&o, &e->api)) {
        fprintf(stderr, "cannot start the fake\n");
        exit(1);
    }
    make_nodes(&e->api, 0, NODES);
    if (transport == T_PLAIN) {
        snprintf(e->kubeconfig, sizeof(e->kubeconfig), "%s", e->api.kubeconfig);
        return;
    }
    port = lbp_test_free_port();
    snprintf(fe, sizeof(fe), "--frontend=127.0.0.1,%d", port);
    snprintf(be, sizeof(be), "--backend=127.0.0.1,%d", e->api.port);
    snprintf(cert, sizeof(cert), "%s/tls.crt", e->api.dir);
    snprintf(key, sizeof(key), "%s/tls.key", e->api.dir);
    snprintf(logp, sizeof(logp), "%s/nghttpx.log", e->api.dir);
    const char *bin = getenv("LBP_NGHTTPX") ? getenv("LBP_NGHTTPX") : "/usr/sbin/nghttpx";
    /* --conf=/dev/null: Debian's /etc/nghttpx/nghttpx.conf adds a frontend on
     * 127.0.0.1:3000, so a second front (another run on the machine) failed to bind */
    char *argv[] = {(char *)bin,
                    "--conf=/dev/null",
                    fe,
                    be,
                    "--single-thread",
                    transport == T_H2 ? "--npn-list=h2,http/1.1" : "--npn-list=http/1.1",
                    "--backend-connections-per-host=4096",
                    "--backend-read-timeout=1h",
                    "--backend-write-timeout=1h",
                    "--backend-keep-alive-timeout=1h",
                    "--frontend-read-timeout=1h",
                    "--frontend-write-timeout=1h",
                    "--frontend-http2-read-timeout=1h",
                    "--frontend-keep-alive-timeout=1h",
                    "--no-via",
                    "--no-ocsp",
                    "--no-server-push",
                    "--accesslog-file=/dev/null",
                    "--errorlog-file=/dev/stderr",
                    "--log-level=WARN",
                    key,
                    cert,
                    NULL};
    e->front = lbp_test_spawn(argv, logp);
    for (int i = 0; !port_open(port); i++) {
        if (i == 500) {
            lbp_fake_api_stop(&e->api);
            fprintf(stderr,
                    "%s did not start (Debian: nghttp2-proxy; LBP_NGHTTPX names another): see %s\n",
                    bin, logp);
            exit(1);
        }
        usleep(10000);
    }
    snprintf(e->kubeconfig, sizeof(e->kubeconfig), "%s/kubeconfig-front", e->api.dir);
    snprintf(kc, sizeof(kc),
             "apiVersion: v1\nkind: Config\nclusters:\n- name: front\n  cluster:\n"
             "    server: https://127.0.0.1:%d\n    certificate-authority: %s\n"
             "users:\n- name: front\n  user: {}\ncontexts:\n- name: front\n  context:\n"
             "    cluster: front\n    user: front\n    namespace: default\n"
             "current-context: front\n",
             port, e->api.ca_file);
    FILE *f = fopen(e->kubeconfig, "w");
    if (!f || fputs(kc, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", e->kubeconfig);
        exit(1);
    }
}

static void env_stop(struct env *e)
{
    if (e->front > 0)
        lbp_test_stop(e->front, SIGTERM, 5000);
    lbp_fake_api_stop(&e->api);
}

static double floor_run(void)
{
    struct env e;
    struct lbp_kube_client *c, *cw;
    uint64_t t0;
    double s;
    env_start(&e);
    c = client_for(e.kubeconfig, KUBECTL_UA);
    cw = client_for(e.kubeconfig, NULL);
    t0 = lbp_now_ms();
    create_all(c, cw, true);
    s = (double)(lbp_now_ms() - t0) / 1000.0;
    lbp_kube_client_free(c);
    lbp_kube_client_free(cw);
    env_stop(&e);
    return s;
}

/* One controller run's figures. */
struct result {
    double wall, floor, cpu, rss_mib, node_s;
    double cloud; /* provider calls per Service over the create phase; -1: not read */
    long hwm_kb;
    struct rss_sample rss; /* the breakdown at the highest sample */
};

static void run(int workers, int latency_ms, double floor_s, struct result *res)
{
    struct env e;
    struct sampler *sp = calloc(1, sizeof(*sp));
    struct lbp_kube_client *c;
    char conf[400], bind[64], wk[16], logp[400];
    long r0, w0, sp0, sv0, l0, r1, w1, sp1, sv1, l1;
    uint64_t t0, t1;
    double cpu0, cpu1, wall, node_s;
    pid_t pid;
    int port = lbp_test_free_port();
    FILE *f;
    env_start(&e);
    snprintf(conf, sizeof(conf), "%s/cloud.conf", e.api.dir);
    snprintf(logp, sizeof(logp), "%s/controller.log", e.api.dir);
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
                    e.kubeconfig,
                    "--http-bind-address",
                    bind,
                    "--kube-api-qps",
                    "0",
                    "--concurrent-service-syncs",
                    wk,
                    NULL};
    pid = lbp_test_spawn(argv, logp);
    while (metric(port, "service_controller_queue_depth") < 0)
        usleep(getenv("LBP_BENCH_CALLGRIND") ? 500000 : 10000);
    /* leader and synced: its Service and Node watches are open, so start-up LISTs are over */
    while (lbp_fake_api_count(&e.api, "WATCH services") < 1 ||
           lbp_fake_api_count(&e.api, "WATCH nodes") < 1)
        usleep(10000);
    c = client_for(e.kubeconfig, KUBECTL_UA);
    if (!sp) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    sp->pid = pid;
    pthread_create(&sp->th, NULL, sampler_main, sp);
    fake_stats(&e.api, &r0, &w0, &sp0, &sv0, &l0);
    long ev0 = lbp_fake_api_count(&e.api, "POST events");
    callgrind(pid, "-z");
    long cc0 =
        getenv("LBP_BENCH_CALLGRIND") ? -1 : metric(port, "service_controller_cloud_calls_total");
    cpu0 = proc_cpu_s(pid);
    t0 = lbp_now_ms();
    create_all(c, NULL, false);
    if (create_failures) {
        /* e.g. more Services than NodePorts (30000-32767 holds 2768) */
        fprintf(stderr, "%d Service creates failed; no figures for N=%d\n", create_failures,
                n_svcs);
        exit(1);
    }
    for (;;) {
        fake_stats(&e.api, &r1, &w1, &sp1, &sv1, &l1);
        if (sp1 - sp0 >= 2L * n_svcs && all_ingress(c))
            break;
        usleep(5000);
    }
    t1 = lbp_now_ms();
    wall = (double)(t1 - t0) / 1000.0;
    cpu1 = proc_cpu_s(pid);
    if (getenv("LBP_BENCH_CALLGRIND")) {
        /* the same work in every profile: wait for the 2 Events per Service too (≤ 30 s) */
        for (int i = 0; i < 3000 && lbp_fake_api_count(&e.api, "POST events") - ev0 < 2L * n_svcs;
             i++)
            usleep(10000);
    }
    callgrind(pid, "-d");
    fake_stats(&e.api, &r1, &w1, &sp1, &sv1, &l1);
    /* the benchmark's own requests: N creates, its stats polls are not counted by the fake,
     * its LISTs are */
    long reads = (r1 - r0) - (l1 - l0), writes = (w1 - w0) - (sv1 - sv0);
    long hwm = lbp_test_hwm_kb(pid);
    __atomic_store_n(&sp->stop, 1, __ATOMIC_RELEASE);
    pthread_join(sp->th, NULL);
    *res = (struct result){.hwm_kb = hwm, .rss = sp->best, .cloud = -1};
    free(sp);

    /*
     * The controller measures node-set change → last LB updated itself
     * (nodesync_latency_seconds), so polling here does not skew it.
     */
    if (getenv("LBP_BENCH_CALLGRIND")) {
        /* polling /metrics under valgrind would take minutes: no node-add phase */
        printf("| %d | %d | %d | %.2f | - | - | %.2f | %.1f | %.2f | %.2f | %.2f | - | - |\n",
               n_svcs, workers, latency_ms, wall, cpu1 - cpu0, (double)hwm / 1024.0,
               (double)(sp1 - sp0) / n_svcs, (double)(reads + writes) / n_svcs,
               (double)reads / n_svcs);
        lbp_test_stop(pid, SIGTERM, 60000);
        lbp_kube_client_free(c);
        env_stop(&e);
        res->wall = wall;
        res->floor = floor_s;
        res->cpu = cpu1 - cpu0;
        res->rss_mib = (double)hwm / 1024.0;
        return;
    }
    long cc1 = metric(port, "service_controller_cloud_calls_total");
    if (cc0 >= 0 && cc1 >= cc0)
        res->cloud = (double)(cc1 - cc0) / n_svcs;
    long base = metric(port, "service_controller_nodesync_total");
    /* A histogram: this node add is its one new observation, so the change in _sum is it. */
    double sum0 = metric_f(port, "service_controller_nodesync_latency_seconds_sum");
    double count0 = metric_f(port, "service_controller_nodesync_latency_seconds_count");
    if (count0 < 0) /* no observation yet: the series is not on the page */
        sum0 = count0 = 0;
    make_nodes(&e.api, NODES, NODES + 1);
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
    env_stop(&e);
    res->wall = wall;
    res->floor = floor_s;
    res->cpu = cpu1 - cpu0;
    res->rss_mib = (double)hwm / 1024.0;
    res->node_s = node_s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (1L << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (buf = calloc(1, (size_t)n + 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    int workers = 8, latency = 0, reps = 1, opt;
    long v;
    bool floor = true;
    const char *data_dir = LBP_BENCH_DATA_DIR;
    char path[600];
    static struct result res[MAX_REPS];
    static const struct option lo[] = {{"no-floor", no_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "n:w:l:t:r:d:", lo, NULL)) != -1) {
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
        case 'r':
            if (lbp_parse_long(optarg, 1, MAX_REPS, &v))
                return 2;
            reps = (int)v;
            break;
        case 't':
            if (strcmp(optarg, "h2") == 0)
                transport = T_H2;
            else if (strcmp(optarg, "h1") == 0)
                transport = T_H1;
            else if (strcmp(optarg, "plain") == 0)
                transport = T_PLAIN;
            else
                goto usage;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'F':
            floor = false;
            break;
        default:
            goto usage;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(path, sizeof(path), "%s/kube/node_40images.json", data_dir);
    node_json = read_all(path);
    if (!node_json) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    printf("transport: %s; %d Nodes of %zu bytes; %d repetition(s), floor and run interleaved\n",
           transport_name[transport], NODES, strlen(node_json), reps);
    printf(
        "| N | workers | latency ms | wall s | floor s | wall/floor | ctl CPU s | peak RSS MiB | "
        "status PATCH/Svc | API req/Svc | reads/Svc | node add → all LBs s | "
        "wall/(calls×L÷W) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    for (int r = 0; r < reps; r++)
        run(workers, latency, floor ? floor_run() : 0, &res[r]);
    for (int r = 0; r < reps; r++) {
        printf("run %d: ", r + 1);
        if (res[r].cloud >= 0)
            printf("cloud calls/Svc %.2f; ", res[r].cloud);
        print_breakdown(&res[r].rss, res[r].hwm_kb);
    }
    if (reps > 1) {
        double w[MAX_REPS], fl[MAX_REPS], ra[MAX_REPS], cpu[MAX_REPS], rss[MAX_REPS], ns[MAX_REPS];
        for (int r = 0; r < reps; r++) {
            w[r] = res[r].wall;
            fl[r] = res[r].floor;
            ra[r] = res[r].floor > 0 ? res[r].wall / res[r].floor : 0;
            cpu[r] = res[r].cpu;
            rss[r] = res[r].rss_mib;
            ns[r] = res[r].node_s;
        }
        printf("medians of %d: wall %.2f s, floor %.2f s, wall/floor %.2f, ctl CPU %.2f s, "
               "peak RSS %.1f MiB, node add → all LBs %.3f s\n",
               reps, median(w, reps), median(fl, reps), median(ra, reps), median(cpu, reps),
               median(rss, reps), median(ns, reps));
    }
    free(node_json);
    return 0;
usage:
    fprintf(stderr, "usage: provision [-n N] [-w WORKERS] [-l LATENCY_MS] [-t h2|h1|plain] "
                    "[-r R] [--no-floor] [-d TESTDATA]\n");
    return 2;
}
