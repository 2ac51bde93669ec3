/*
 * fuzz_httpd.c — the HTTP server every lbprov process runs (common/httpd.c
 * over libmicrohttpd): the input is sent as it is, as one raw request, on
 * a fresh connection, and the answer read to the end. Routes are those a
 * controller on the mock cloud serves: /metrics, and /debug/mockcloud,
 * whose POST body goes to the mock's debug_post as the controller hands it
 * on (cmd/controller.c). The server must answer every request that ends
 * and stay up.
 *
 * When it may, the target moves itself into a network namespace of its
 * own with only loopback up, and every connection comes from a different
 * 127/8 source address, so thousands of closed connections a second
 * neither linger in the host's tables nor run out of ports.
 */
#include "test/fuzz/harness.h"
#include "common/buf.h"
#include "common/httpd.h"
#include "common/rc.h"
#include "provider/provider.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

extern const struct lbp_provider lbp_provider_mock;
static struct lbp_provider_ctx *g_mock;
static struct lbp_httpd *g_httpd; /* runs until the process ends, as in lbprov */

static int route_debug(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                       const char **ctype)
{
    char err[256] = "";
    (void)ctx;
    if (strcmp(method, "POST") == 0) {
        if (lbp_provider_mock.debug_post(g_mock, body, err, sizeof(err)) != LBP_OK) {
            FZ_CHECK(err[0]);
            lbp_buf_addf(out, "%s\n", err);
            return 400;
        }
        lbp_buf_adds(out, "ok\n");
        return 200;
    }
    char *js = lbp_provider_mock.debug_json(g_mock);
    FZ_CHECK(js);
    *ctype = "application/json";
    lbp_buf_adds(out, js);
    free(js);
    return 200;
}

static void own_netns(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        return; /* not permitted: stay in the current namespace */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    FZ_CHECK(fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
    ifr.ifr_flags |= IFF_UP;
    FZ_CHECK(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
    close(fd);
}

static int g_port;

static void start(void)
{
    struct lbp_httpd *h = NULL;
    char err[256] = "";
    own_netns();
    FZ_CHECK(lbp_provider_mock.init(NULL, "fuzz", &g_mock, err, sizeof(err)) == LBP_OK);
    FZ_CHECK(lbp_httpd_new("127.0.0.1:0", &h, err, sizeof(err)) == LBP_OK);
    FZ_CHECK(lbp_httpd_route(h, "/metrics", lbp_httpd_metrics, NULL) == LBP_OK);
    FZ_CHECK(lbp_httpd_route(h, "/debug/mockcloud", route_debug, NULL) == LBP_OK);
    FZ_CHECK(lbp_httpd_start(h, err, sizeof(err)) == LBP_OK);
    g_port = lbp_httpd_port(h);
    FZ_CHECK(g_port > 0);
    g_httpd = h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint32_t src = 1;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = 0}, from = {.sin_family = AF_INET};
    struct timeval tv = {.tv_sec = 5};
    char buf[65536];
    fz_setup();
    if (!g_port)
        start();
    to.sin_port = htons((uint16_t)g_port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    src = src % 0xfffffd + 1;
    from.sin_addr.s_addr = htonl(0x7f000001u + src);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FZ_CHECK(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    FZ_CHECK(bind(fd, (struct sockaddr *)&from, sizeof(from)) == 0);
    FZ_CHECK(connect(fd, (struct sockaddr *)&to, sizeof(to)) == 0);
    for (size_t off = 0; off < size;) {
        ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) /* libFuzzer's timer signal */
            continue;
        if (w <= 0)
            break; /* the server may close on a bad request before reading it all */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), 0);
        if (r > 0 || (r < 0 && errno == EINTR))
            continue;
        /* The server ends every connection once the request has ended. */
        FZ_CHECK(r == 0 || errno == ECONNRESET);
        break;
    }
    close(fd);
    return 0;
}
