/*
 * test_mock_dataplane.c — the mock cloud's data plane on loopback: source
 * ranges and the health check's status line parsed by the rules, a long
 * stream through the splice path intact, a node leaving drains (an open
 * connection keeps working, a new one is refused), a removed port and a
 * bad range refused, a busy VIP:port reported, and the dataPlane keys of
 * the cloud-config checked. The end-to-end behaviour (health checks,
 * affinity, UDP) is in test/netns/test_mock_dataplane.sh.
 */
#include "clouds/mock/dataplane.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "provider/provider.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define VIP "127.240.9.1"
#define LB_PORT 41080

static void test_ranges(void **state)
{
    bool ok;
    (void)state;
    assert_true(lbp_dp_range_match("10.0.0.0/8", "10.1.2.3", &ok));
    assert_true(ok);
    assert_false(lbp_dp_range_match("10.0.0.0/8", "11.0.0.1", &ok));
    assert_true(lbp_dp_range_match("10.0.0.0/8", "::ffff:10.9.9.9", &ok)); /* mapped v4 */
    assert_true(lbp_dp_range_match("192.168.1.128/25", "192.168.1.200", &ok));
    assert_false(lbp_dp_range_match("192.168.1.128/25", "192.168.1.127", &ok));
    assert_true(lbp_dp_range_match("2001:db8::/32", "2001:db8:1::5", &ok));
    assert_false(lbp_dp_range_match("2001:db8::/32", "2001:db9::5", &ok));
    assert_false(lbp_dp_range_match("2001:db8::/32", "10.0.0.1", &ok));
    assert_true(lbp_dp_range_match("1.2.3.4", "1.2.3.4", &ok)); /* a bare address: /32 */
    assert_false(lbp_dp_range_match("1.2.3.4", "1.2.3.5", &ok));
    assert_true(lbp_dp_range_match("0.0.0.0/0", "8.8.8.8", &ok));
    lbp_dp_range_match("1.2.3.0/33", "1.2.3.4", &ok);
    assert_false(ok);
    lbp_dp_range_match("/24", "1.2.3.4", &ok);
    assert_false(ok);
    lbp_dp_range_match("bogus/8", "1.2.3.4", &ok);
    assert_false(ok);
}

static void test_http_status(void **state)
{
    const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    const char *down = "HTTP/1.0 503 Service Unavailable\r\n";
    (void)state;
    assert_int_equal(lbp_dp_http_status(ok, strlen(ok)), 200);
    assert_int_equal(lbp_dp_http_status(down, strlen(down)), 503);
    assert_int_equal(lbp_dp_http_status("HTTP/1.1 2x0 OK", 15), -1);
    assert_int_equal(lbp_dp_http_status("SSH-2.0-OpenSSH", 15), -1);
    assert_int_equal(lbp_dp_http_status("HTTP/1.1 20", 11), -1); /* cut short */
}

/* ------------------------------------------------------------ an echo node */

static int listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
            break;
    close(fd);
    return NULL;
}

static void *echo_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        pthread_t t;
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL; /* the listener was shut down */
        pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)c);
        pthread_detach(t);
    }
}

static int dial(const char *ip, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, ip, &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends len bytes in chunks and reads each back; true when all came back equal. */
static bool round_trip(int fd, size_t len)
{
    static char out[65536], in[65536];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(out) ? len - done : sizeof(out), got = 0;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)((done + i) * 7);
        if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
            return false;
        while (got < n) {
            ssize_t r = recv(fd, in + got, n - got, 0);
            if (r <= 0)
                return false;
            got += (size_t)r;
        }
        if (memcmp(in, out, n) != 0)
            return false;
        done += n;
    }
    return true;
}

/* A new connection through the VIP does not carry a byte. */
static bool refused(void)
{
    int fd = dial(VIP, LB_PORT);
    bool r = fd < 0 || !round_trip(fd, 4);
    if (fd >= 0)
        close(fd);
    return r;
}

static void test_forwarding(void **state)
{
    struct lbp_dp *dp = NULL;
    struct lbp_dp_opts o;
    char err[256];
    int np, lfd = listen_any(&np);
    pthread_t srv;
    (void)state;
    pthread_create(&srv, NULL, echo_server, (void *)(intptr_t)lfd);
    lbp_dp_opts_default(&o);
    assert_int_equal(lbp_dp_new(&o, &dp, err, sizeof(err)), LBP_OK);

    struct lbp_dp_port ports[] = {{LB_PORT, np, false}};
    const char *nodes[] = {"127.0.0.1"};
    struct lbp_dp_lb lb = {.name = "a1",
                           .service = "default/web",
                           .vips = {VIP},
                           .n_vips = 1,
                           .ports = ports,
                           .n_ports = 1,
                           .nodes = nodes,
                           .n_nodes = 1};
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);

    /* 4 MiB both ways: past the switch to splice, every byte in order. */
    int c1 = dial(VIP, LB_PORT);
    assert_true(c1 >= 0);
    assert_true(round_trip(c1, 4u << 20));

    /* A second LB cannot take the same VIP:port: the reason comes back. */
    struct lbp_dp_lb other = lb;
    other.name = "a2";
    other.service = "default/other";
    assert_int_equal(lbp_dp_apply(dp, &other, err, sizeof(err)), LBP_RETRY);
    assert_non_null(strstr(err, "cannot listen on " VIP ":41080/TCP"));
    assert_non_null(strstr(err, "in use"));
    lbp_dp_remove(dp, "a2");

    /* Source ranges: a bad one is refused whole, one without us refuses us. */
    const char *bad[] = {"10.0.0.0/8", "nonsense"};
    lb.ranges = bad;
    lb.n_ranges = 2;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "'nonsense'"));
    assert_false(refused()); /* the LB as it was still serves */
    lb.n_ranges = 1;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_true(refused());
    const char *ours[] = {"127.0.0.0/8"};
    lb.ranges = ours;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_false(refused());

    /* The node leaves: new connections are refused, the open one drains. */
    lb.n_nodes = 0;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_true(refused());
    assert_true(round_trip(c1, 1000));

    /* The port goes: the kernel refuses, the open connection still works. */
    lb.n_ports = 0;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_int_equal(dial(VIP, LB_PORT), -1);
    assert_int_equal(errno, ECONNREFUSED);
    assert_true(round_trip(c1, 1000));

    /* Back again, then removed while c1 is open: freeing closes it cleanly. */
    lb.n_ports = 1;
    lb.n_nodes = 1;
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_false(refused());
    lbp_dp_remove(dp, "a1");
    assert_int_equal(dial(VIP, LB_PORT), -1);
    lbp_dp_free(dp);
    close(c1);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(srv, NULL);
    close(lfd);
}

/*
 * kube-proxy's healthCheckNodePort, for two nodes at once: 200 when asked on
 * 127.0.0.1, on 127.0.0.2 whatever node2_code says.
 */
static _Atomic int node2_code = 503;

static void *healthz_server(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        struct sockaddr_in me;
        socklen_t ml = sizeof(me);
        char req[512], resp[128];
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return NULL;
        getsockname(c, (struct sockaddr *)&me, &ml);
        int code = ntohl(me.sin_addr.s_addr) == 0x7f000001 ? 200 : node2_code;
        if (recv(c, req, sizeof(req) - 1, 0) > 0 && strncmp(req, "GET /healthz ", 13) == 0) {
            int n =
                snprintf(resp, sizeof(resp),
                         "HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code);
            (void)!send(c, resp, (size_t)n, MSG_NOSIGNAL);
        }
        close(c);
    }
}

static double gauge(const char *name, const char *svc)
{
    struct lbp_metric *m = lbp_metric_new(LBP_GAUGE, name, "", "service");
    const char *l[] = {svc};
    return lbp_metric_value(m, l);
}

static double checks(const char *node, const char *result)
{
    struct lbp_metric *m = lbp_metric_new(LBP_COUNTER, "lbprov_mock_lb_health_checks_total", "",
                                          "service,node,result");
    const char *l[] = {"default/local", node, result};
    return lbp_metric_value(m, l);
}

static bool healthy_within(double want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (gauge("lbprov_mock_lb_backends_healthy", "default/local") == want)
            return true;
        usleep(10000);
    }
    return false;
}

/* externalTrafficPolicy Local: GET /healthz on healthCheckNodePort decides. */
static void test_local_health(void **state)
{
    struct lbp_dp *dp = NULL;
    struct lbp_dp_opts o;
    char err[256];
    struct sockaddr_in any = {.sin_family = AF_INET}; /* 0.0.0.0: both nodes' addresses */
    socklen_t al = sizeof(any);
    int hfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), hp;
    pthread_t srv;
    (void)state;
    assert_int_equal(bind(hfd, (struct sockaddr *)&any, sizeof(any)), 0);
    assert_int_equal(listen(hfd, 16), 0);
    getsockname(hfd, (struct sockaddr *)&any, &al);
    hp = ntohs(any.sin_port);
    pthread_create(&srv, NULL, healthz_server, (void *)(intptr_t)hfd);
    lbp_dp_opts_default(&o);
    o.hc_interval_ms = 50;
    o.hc_timeout_ms = 500;
    assert_int_equal(lbp_dp_new(&o, &dp, err, sizeof(err)), LBP_OK);
    struct lbp_dp_port ports[] = {{41082, 1, false}};
    const char *nodes[] = {"127.0.0.1", "127.0.0.2"};
    struct lbp_dp_lb lb = {.name = "l1",
                           .service = "default/local",
                           .vips = {VIP},
                           .n_vips = 1,
                           .ports = ports,
                           .n_ports = 1,
                           .nodes = nodes,
                           .n_nodes = 2,
                           .local = true,
                           .hc_port = hp};
    assert_int_equal(lbp_dp_apply(dp, &lb, err, sizeof(err)), LBP_OK);
    assert_int_equal(gauge("lbprov_mock_lb_backends", "default/local"), 2);
    /* node2 answers 503 (no local endpoint): out after two checks; node1 stays. */
    assert_true(healthy_within(1, 3000));
    assert_true(checks("127.0.0.2", "fail") >= 2);
    assert_true(checks("127.0.0.1", "pass") >= 2);
    assert_int_equal(checks("127.0.0.1", "fail"), 0);
    /* It gets an endpoint: back after two passes. */
    node2_code = 200;
    assert_true(healthy_within(2, 3000));
    /* Nothing listens on the health port any more: both out. */
    shutdown(hfd, SHUT_RDWR);
    pthread_join(srv, NULL);
    close(hfd);
    assert_true(healthy_within(0, 3000));
    lbp_dp_free(dp);
}

/* The cloud-config keys, and the default VIP range that answers on this host. */
static void test_config(void **state)
{
    const struct lbp_provider *p = lbp_provider_find("mock");
    struct lbp_provider_ctx *ctx = NULL;
    char dir[] = "/tmp/lbp-dp.XXXXXX", path[128], err[512];
    (void)state;
    assert_non_null(p);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/cloud.conf", dir);
    const char *bad[] = {"dataPlane=yes\n", "dataPlane=on\nhealthCheckIntervalMs=5\n",
                         "dataPlane=on\nunhealthyThreshold=0\n", "dataPlane=on\nvipInterface=a/b\n",
                         "dataPlane=on\nvipInterface=a-name-far-too-long\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_text(path, bad[i]);
        err[0] = '\0';
        assert_int_equal(p->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_PARSE);
        assert_non_null(strstr(err, "bad value for"));
    }

    /* dataPlane=on: the VIP comes from 127.240.0.0/16 and carries the connection. */
    int np, lfd = listen_any(&np);
    pthread_t srv;
    pthread_create(&srv, NULL, echo_server, (void *)(intptr_t)lfd);
    write_text(path, "dataPlane=on\nhealthCheckIntervalMs=100\n");
    assert_int_equal(p->init(path, "kubernetes", &ctx, err, sizeof(err)), LBP_OK);
    struct lbp_lb_port ports[] = {{"t", "TCP", 41081, np}};
    struct lbp_lb_node nodes[] = {{"n1", "mock://n1", "127.0.0.1", NULL, NULL, 0}};
    struct lbp_lb_spec s = {.namespace = "default",
                            .name = "web",
                            .uid = "u1",
                            .ports = ports,
                            .n_ports = 1,
                            .nodes = nodes,
                            .n_nodes = 1};
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    lbp_lb_name(s.uid, s.lb_name);
    assert_int_equal(p->ensure(ctx, &s, &st, &call), LBP_OK);
    assert_string_equal(st.ingress[0].ip, "127.240.0.1");
    int c = dial("127.240.0.1", 41081);
    assert_true(c >= 0);
    assert_true(round_trip(c, 100));
    close(c);
    assert_int_equal(p->remove(ctx, &s, &call), LBP_OK);
    assert_int_equal(dial("127.240.0.1", 41081), -1);
    p->cleanup(ctx);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(srv, NULL);
    close(lfd);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),     cmocka_unit_test(test_http_status),
        cmocka_unit_test(test_forwarding), cmocka_unit_test(test_local_health),
        cmocka_unit_test(test_config),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
