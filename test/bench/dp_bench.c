/*
 * dp_bench — the mock cloud's data plane beside HAProxy, same machine, same
 * backends, one run. Prints figures; run by hand on a quiet machine from a
 * non-sanitized build (see test/bench/README.md).
 *
 * Backends run in this process on 127.0.0.1: an echo server (epoll, one
 * thread) and a stream server (sends STREAM_BYTES, then closes). Three
 * paths to them are measured in turn with the same clients:
 *   direct   the backends themselves (the latency baseline);
 *   lbprov   lbp_dp (clouds/mock/dataplane.c) in this process, one loop
 *            thread, VIP 127.241.0.1;
 *   haproxy  Debian's haproxy as a child process, mode tcp, nbthread 1 (the
 *            data plane has one loop thread too), option splice-auto,
 *            VIP 127.242.0.1.
 * Figures: new connections per second (CLIENTS threads, each connect, a
 * 16-byte request and its echo, close, for RATE_SECONDS), one stream's
 * throughput, and the round-trip time of 64-byte ping-pongs on one open
 * connection (p50/p99 of LAT_ROUNDS), from which added latency is the
 * path's percentile minus the direct one. Both load balancers run for the
 * whole run; the three paths take turns ROUNDS times and each figure is
 * the median of its rounds, so a burst of other work on the machine lands
 * on one round of one path rather than on the result.
 */
#include "clouds/mock/dataplane.h"
#include "common/log.h"
#include "common/rc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HAPROXY "/usr/sbin/haproxy" /* Debian's */
#define CLIENTS 4
#define ROUNDS 3
#define RATE_SECONDS 3
#define STREAM_BYTES (4ull << 30)
#define LAT_ROUNDS 20000
#define PORT_ECHO 28080
#define PORT_STREAM 28081
#define LB_ECHO 18080
#define LB_STREAM 18081

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    inet_pton(AF_INET, ip, &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "dp_bench: cannot listen on %s:%d: %s\n", ip, port, strerror(errno));
        exit(1);
    }
    return fd;
}

/* ------------------------------------------------------------ backends */

static void *echo_server(void *arg)
{
    int lfd = *(int *)arg, ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[64];
    char buf[4096];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
                if (c < 0)
                    continue;
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                (void)!send(fd, buf, (size_t)r, MSG_NOSIGNAL);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
    return NULL;
}

static void *stream_server(void *arg)
{
    int lfd = *(int *)arg;
    static char chunk[256 * 1024];
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        for (uint64_t left = STREAM_BYTES; left > 0;) {
            size_t n = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
            ssize_t w = send(c, chunk, n, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            left -= (uint64_t)w;
        }
        close(c);
    }
    return NULL;
}

/* ------------------------------------------------------------ clients */

static int dial(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    inet_pton(AF_INET, ip, &sa.sin_addr);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool exchange(int fd, size_t len)
{
    char out[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", in[64];
    size_t got = 0;
    if (send(fd, out, len, MSG_NOSIGNAL) != (ssize_t)len)
        return false;
    while (got < len) {
        ssize_t r = recv(fd, in + got, len - got, 0);
        if (r <= 0)
            return false;
        got += (size_t)r;
    }
    return true;
}

struct rate_arg {
    const char *ip;
    int port;
    double until;
    unsigned long done, failed;
};

static void *rate_client(void *arg)
{
    struct rate_arg *a = arg;
    while (now_s() < a->until) {
        int fd = dial(a->ip, a->port);
        if (fd < 0 || !exchange(fd, 16))
            a->failed++;
        else
            a->done++;
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

static double conn_rate(const char *ip, int port, unsigned long *failed)
{
    pthread_t t[CLIENTS];
    struct rate_arg a[CLIENTS];
    double t0 = now_s(), until = t0 + RATE_SECONDS;
    unsigned long done = 0;
    *failed = 0;
    for (int i = 0; i < CLIENTS; i++) {
        a[i] = (struct rate_arg){.ip = ip, .port = port, .until = until};
        pthread_create(&t[i], NULL, rate_client, &a[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        done += a[i].done;
        *failed += a[i].failed;
    }
    return (double)done / (now_s() - t0);
}

static double stream_gbit(const char *ip, int port)
{
    static char buf[1 << 20];
    uint64_t got = 0;
    int fd = dial(ip, port);
    double t0 = now_s();
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    close(fd);
    if (got != STREAM_BYTES)
        fprintf(stderr, "dp_bench: stream through %s:%d ended after %llu bytes\n", ip, port,
                (unsigned long long)got);
    return (double)got * 8 / (now_s() - t0) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p99 of LAT_ROUNDS ping-pongs, in microseconds. */
static void latency(const char *ip, int port, double *p50, double *p99)
{
    static double rtt[LAT_ROUNDS];
    int fd = dial(ip, port);
    *p50 = *p99 = 0;
    if (fd < 0)
        return;
    for (int i = 0; i < 1000; i++)
        exchange(fd, 64);
    for (int i = 0; i < LAT_ROUNDS; i++) {
        double t0 = now_s();
        exchange(fd, 64);
        rtt[i] = (now_s() - t0) * 1e6;
    }
    close(fd);
    qsort(rtt, LAT_ROUNDS, sizeof(double), cmp_double);
    *p50 = rtt[LAT_ROUNDS / 2];
    *p99 = rtt[LAT_ROUNDS * 99 / 100];
}

/* ------------------------------------------------------------ the two LBs */

static pid_t haproxy_start(const char *cfg_path)
{
    FILE *f = fopen(cfg_path, "w");
    pid_t pid;
    char *argv[] = {HAPROXY, "-db", "-q", "-f", (char *)cfg_path, NULL};
    if (!f)
        return -1;
    fprintf(f,
            "global\n  maxconn 4000\n  nbthread 1\n"
            "defaults\n  mode tcp\n  option splice-auto\n  timeout connect 5s\n"
            "  timeout client 60s\n  timeout server 60s\n"
            "frontend echo\n  bind 127.242.0.1:%d\n  default_backend echo\n"
            "backend echo\n  server n1 127.0.0.1:%d\n"
            "frontend stream\n  bind 127.242.0.1:%d\n  default_backend stream\n"
            "backend stream\n  server n1 127.0.0.1:%d\n",
            LB_ECHO, PORT_ECHO, LB_STREAM, PORT_STREAM);
    fclose(f);
    if (posix_spawn(&pid, HAPROXY, NULL, NULL, argv, environ) != 0)
        return -1;
    for (int i = 0; i < 100; i++) {
        int fd = dial("127.242.0.1", LB_ECHO);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        usleep(50000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

struct figures {
    double rate, gbit, p50, p99;
    unsigned long failed;
};

static double median3(double *v)
{
    qsort(v, ROUNDS, sizeof(double), cmp_double);
    return v[ROUNDS / 2];
}

/* Runs every path ROUNDS times in turn; out[i] gets the medians of path i. */
static void measure_all(const char *const *ips, const int *echo, const int *stream, size_t n,
                        struct figures *out)
{
    double rate[3][ROUNDS], gbit[3][ROUNDS], p50[3][ROUNDS], p99[3][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < n; i++) {
            unsigned long failed;
            rate[i][r] = conn_rate(ips[i], echo[i], &failed);
            out[i].failed += failed;
            gbit[i][r] = stream_gbit(ips[i], stream[i]);
            latency(ips[i], echo[i], &p50[i][r], &p99[i][r]);
        }
    for (size_t i = 0; i < n; i++) {
        out[i].rate = median3(rate[i]);
        out[i].gbit = median3(gbit[i]);
        out[i].p50 = median3(p50[i]);
        out[i].p99 = median3(p99[i]);
    }
}

int main(void)
{
    struct figures fig[3] = {0};
    struct lbp_dp *dp = NULL;
    struct lbp_dp_opts o;
    char err[256], cfg[] = "/tmp/dp_bench.XXXXXX";
    int efd = listen_on("127.0.0.1", PORT_ECHO), sfd = listen_on("127.0.0.1", PORT_STREAM);
    pthread_t t1, t2;
    signal(SIGPIPE, SIG_IGN);
    pthread_create(&t1, NULL, echo_server, &efd);
    pthread_create(&t2, NULL, stream_server, &sfd);

    lbp_dp_opts_default(&o);
    if (lbp_dp_new(&o, &dp, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "dp_bench: %s\n", err);
        return 1;
    }
    struct lbp_dp_port ports[] = {{LB_ECHO, PORT_ECHO, false}, {LB_STREAM, PORT_STREAM, false}};
    const char *nodes[] = {"127.0.0.1"};
    struct lbp_dp_lb lb = {.name = "bench",
                           .service = "bench/lbprov",
                           .vips = {"127.241.0.1"},
                           .n_vips = 1,
                           .ports = ports,
                           .n_ports = 2,
                           .nodes = nodes,
                           .n_nodes = 1};
    if (lbp_dp_apply(dp, &lb, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "dp_bench: %s\n", err);
        return 1;
    }
    int cfd = mkstemp(cfg);
    if (cfd < 0)
        return 1;
    close(cfd);
    pid_t hp = haproxy_start(cfg);
    if (hp < 0) {
        fprintf(stderr, "dp_bench: haproxy did not start (apt-get install haproxy)\n");
        unlink(cfg);
        return 1;
    }
    const char *ips[] = {"127.0.0.1", "127.241.0.1", "127.242.0.1"};
    const int echo[] = {PORT_ECHO, LB_ECHO, LB_ECHO},
              stream[] = {PORT_STREAM, LB_STREAM, LB_STREAM};
    measure_all(ips, echo, stream, 3, fig);
    struct figures direct = fig[0], lbp = fig[1], hap = fig[2];
    lbp_dp_free(dp);
    kill(hp, SIGTERM);
    waitpid(hp, NULL, 0);
    unlink(cfg);

    printf("lbprov mock data plane vs HAProxy (mode tcp, nbthread 1, splice-auto), "
           "backends on 127.0.0.1,\none run: medians of %d rounds taken in turn\n",
           ROUNDS);
    printf("%-34s %10s %10s %10s %16s\n", "", "direct", "lbprov", "haproxy", "lbprov/haproxy");
    printf("%-34s %10.0f %10.0f %10.0f %16.2f\n", "connections/s (4 clients)", direct.rate,
           lbp.rate, hap.rate, lbp.rate / hap.rate);
    printf("%-34s %10.2f %10.2f %10.2f %16.2f\n", "one stream, Gbit/s", direct.gbit, lbp.gbit,
           hap.gbit, lbp.gbit / hap.gbit);
    printf("%-34s %10.1f %10.1f %10.1f\n", "round trip p50, us", direct.p50, lbp.p50, hap.p50);
    printf("%-34s %10.1f %10.1f %10.1f\n", "round trip p99, us", direct.p99, lbp.p99, hap.p99);
    printf("%-34s %10s %10.1f %10.1f %16.2f\n", "added latency p50, us", "-", lbp.p50 - direct.p50,
           hap.p50 - direct.p50, (lbp.p50 - direct.p50) / (hap.p50 - direct.p50));
    printf("%-34s %10s %10.1f %10.1f %16.2f\n", "added latency p99, us", "-", lbp.p99 - direct.p99,
           hap.p99 - direct.p99, (lbp.p99 - direct.p99) / (hap.p99 - direct.p99));
    if (direct.failed || lbp.failed || hap.failed)
        printf("failed connections: direct %lu, lbprov %lu, haproxy %lu\n", direct.failed,
               lbp.failed, hap.failed);
    return 0;
}
