/*
 * proxy.c — pausable loopback TCP proxy for tests (see proxy.h).
 *
 * One thread runs a poll loop over the listening socket, a wake-up pipe and
 * every connection pair; data is copied through a small buffer per
 * direction. Blackholing closes all pairs and from then on keeps accepted
 * client sockets open without connecting them anywhere.
 */
#include "test/integration/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_MAX_FDS 256

struct proxy_pair {
    int client;
    int upstream; /* -1 while blackholed */
};

struct lbp_test_proxy {
    int listen_fd;
    int port;
    int target_port;
    int wake[2];
    pthread_t thread;
    pthread_mutex_t mu;
    bool blackhole;
    bool stopping;
    struct proxy_pair pairs[PROXY_MAX_FDS / 2];
    int n_pairs;
};

static int connect_upstream(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void drop_pair(struct lbp_test_proxy *p, int i)
{
    close(p->pairs[i].client);
    if (p->pairs[i].upstream >= 0)
        close(p->pairs[i].upstream);
    p->pairs[i] = p->pairs[--p->n_pairs];
}

/* Copies what is readable on from to to; false when either side is done. */
static bool pump(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *proxy_thread(void *arg)
{
    struct lbp_test_proxy *p = arg;
    struct pollfd fds[PROXY_MAX_FDS + 2];

    for (;;) {
        pthread_mutex_lock(&p->mu);
        bool stop = p->stopping, hole = p->blackhole;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        /* Cutting kills live pairs (requests in flight die with it);
         * healing drops the held ones so their clients reconnect. */
        for (int i = p->n_pairs - 1; i >= 0; i--)
            if ((p->pairs[i].upstream >= 0) == hole)
                drop_pair(p, i);

        int n = 0;
        fds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (int i = 0; i < p->n_pairs; i++) {
            /* A blackholed client is held open but never read. */
            fds[n++] = (struct pollfd){.fd = p->pairs[i].client,
                                       .events = p->pairs[i].upstream >= 0 ? POLLIN : 0};
            fds[n++] = (struct pollfd){.fd = p->pairs[i].upstream, .events = POLLIN};
        }
        if (poll(fds, (nfds_t)n, 1000) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            char c;
            ssize_t r = read(p->wake[0], &c, 1);
            (void)r;
        }
        for (int i = p->n_pairs - 1; i >= 0; i--) {
            struct pollfd *c = &fds[2 + 2 * i], *u = &fds[3 + 2 * i];
            bool ok = true;
            if (c->revents & (POLLIN | POLLHUP | POLLERR))
                ok = p->pairs[i].upstream >= 0 && pump(c->fd, u->fd);
            if (ok && u->fd >= 0 && (u->revents & (POLLIN | POLLHUP | POLLERR)))
                ok = pump(u->fd, c->fd);
            if (!ok)
                drop_pair(p, i);
        }
        if ((fds[1].revents & POLLIN) && p->n_pairs < PROXY_MAX_FDS / 2) {
            int cfd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0) {
                int ufd = hole ? -1 : connect_upstream(p->target_port);
                if (!hole && ufd < 0) {
                    close(cfd);
                } else {
                    p->pairs[p->n_pairs++] = (struct proxy_pair){cfd, ufd};
                }
            }
        }
    }
    while (p->n_pairs)
        drop_pair(p, p->n_pairs - 1);
    return NULL;
}

int lbp_test_proxy_start(int target_port, struct lbp_test_proxy **out)
{
    struct lbp_test_proxy *p = calloc(1, sizeof(*p));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);

    if (!p)
        return -1;
    p->target_port = target_port;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(p->listen_fd, 64) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) != 0 ||
        pipe2(p->wake, O_CLOEXEC) != 0) {
        if (p->listen_fd >= 0)
            close(p->listen_fd);
        free(p);
        return -1;
    }
    p->port = ntohs(sa.sin_port);
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, proxy_thread, p) != 0) {
        close(p->listen_fd);
        close(p->wake[0]);
        close(p->wake[1]);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

int lbp_test_proxy_port(const struct lbp_test_proxy *p)
{
    return p->port;
}

static void set_flag(struct lbp_test_proxy *p, bool *flag, bool on)
{
    pthread_mutex_lock(&p->mu);
    *flag = on;
    pthread_mutex_unlock(&p->mu);
    ssize_t w = write(p->wake[1], "x", 1);
    (void)w;
}

void lbp_test_proxy_blackhole(struct lbp_test_proxy *p, bool on)
{
    set_flag(p, &p->blackhole, on);
}

void lbp_test_proxy_stop(struct lbp_test_proxy *p)
{
    if (!p)
        return;
    set_flag(p, &p->stopping, true);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
