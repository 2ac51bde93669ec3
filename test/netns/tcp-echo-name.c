/*
 * tcp-echo-name — the network-namespace tests' TCP endpoint, so they need
 * neither socat nor python:
 *
 *   tcp-echo-name serve NAME PORT [ADDR] accept on [::]:PORT (IPv4 too) or on
 *                                        ADDR:PORT, send "NAME\n" to each
 *                                        client, close
 *   tcp-echo-name connect HOST PORT MS [SRC]
 *                                        connect within MS milliseconds (from
 *                                        address SRC), print what the server
 *                                        sent; exit 1 on failure
 *   tcp-echo-name serve-udp NAME PORT    answer each datagram on [::]:PORT with
 *                                        "NAME\n"
 *   tcp-echo-name udp HOST PORT MS [SRC] send one datagram (from SRC, a new
 *                                        port each time), print the answer
 */
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int serve(const char *name, long port, const char *addr)
{
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    struct sockaddr_in sa4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool v4 = addr && inet_pton(AF_INET, addr, &sa4.sin_addr) == 1;
    if (addr && !v4 && inet_pton(AF_INET6, addr, &sa.sin6_addr) != 1) {
        fprintf(stderr, "tcp-echo-name: bad address %s\n", addr);
        return 2;
    }
    int fd = socket(v4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int zero = 0, one = 1;
    if (fd < 0)
        return 1;
    if (!v4)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if ((v4 ? bind(fd, (struct sockaddr *)&sa4, sizeof(sa4))
            : bind(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 ||
        listen(fd, 128) < 0) {
        perror("tcp-echo-name: bind/listen");
        close(fd);
        return 1;
    }
    printf("listening on %ld\n", port);
    fflush(stdout);
    char line[128];
    int n = snprintf(line, sizeof(line), "%s\n", name);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        (void)!write(c, line, (size_t)n);
        close(c);
    }
    close(fd);
    return 1;
}

static int serve_udp(const char *name, long port)
{
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int zero = 0;
    if (fd < 0)
        return 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("tcp-echo-name: bind");
        close(fd);
        return 1;
    }
    printf("listening on %ld/udp\n", port);
    fflush(stdout);
    char line[128], in[2048];
    int n = snprintf(line, sizeof(line), "%s\n", name);
    if (n < 0 || (size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t pl = sizeof(peer);
        if (recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&peer, &pl) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        sendto(fd, line, (size_t)n, 0, (struct sockaddr *)&peer, pl);
    }
    close(fd);
    return 1;
}

/* A socket of the given type to host:port, bound to src when given. */
static int open_to(const char *host, const char *port, const char *src, int type,
                   struct addrinfo **ai)
{
    struct addrinfo hints = {.ai_socktype = type, .ai_flags = AI_NUMERICHOST};
    int fd;
    if (getaddrinfo(host, port, &hints, ai) != 0 || !*ai) {
        fprintf(stderr, "tcp-echo-name: bad address %s\n", host);
        return -1;
    }
    fd = socket((*ai)->ai_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && src) {
        struct addrinfo *sa = NULL;
        hints.ai_family = (*ai)->ai_family;
        if (getaddrinfo(src, "0", &hints, &sa) != 0 || !sa ||
            bind(fd, sa->ai_addr, sa->ai_addrlen) < 0) {
            fprintf(stderr, "tcp-echo-name: cannot bind to %s\n", src);
            close(fd);
            fd = -1;
        }
        if (sa)
            freeaddrinfo(sa);
    }
    return fd;
}

static int connect_to(const char *host, const char *port, long ms, const char *src, int type)
{
    struct addrinfo *ai = NULL;
    int rc = 1, fd = open_to(host, port, src, type, &ai);
    if (fd < 0)
        goto out;
    uint64_t deadline = lbp_now_ms() + (uint64_t)ms;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
        goto out;
    if (type == SOCK_DGRAM && send(fd, "?\n", 2, 0) != 2)
        goto out;
    char buf[128];
    size_t got = 0;
    for (;;) {
        uint64_t now = lbp_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "tcp-echo-name: timed out\n");
            goto out;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            continue;
        ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            fprintf(stderr, "tcp-echo-name: %s\n", strerror(errno));
            goto out;
        }
        got += (size_t)n;
        if (n == 0 || got == sizeof(buf) - 1 || type == SOCK_DGRAM)
            break;
    }
    buf[got] = 0;
    fputs(buf, stdout);
    rc = got ? 0 : 1;
out:
    if (fd >= 0)
        close(fd);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

int main(int argc, char **argv)
{
    long port, ms;
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "serve") == 0 &&
        lbp_parse_long(argv[3], 1, 65535, &port) == LBP_OK)
        return serve(argv[2], port, argc == 5 ? argv[4] : NULL);
    if (argc == 4 && strcmp(argv[1], "serve-udp") == 0 &&
        lbp_parse_long(argv[3], 1, 65535, &port) == LBP_OK)
        return serve_udp(argv[2], port);
    if ((argc == 5 || argc == 6) &&
        (strcmp(argv[1], "connect") == 0 || strcmp(argv[1], "udp") == 0) &&
        lbp_parse_long(argv[3], 1, 65535, &port) == LBP_OK &&
        lbp_parse_long(argv[4], 1, 600000, &ms) == LBP_OK)
        return connect_to(argv[2], argv[3], ms, argc == 6 ? argv[5] : NULL,
                          argv[1][0] == 'u' ? SOCK_DGRAM : SOCK_STREAM);
    fprintf(stderr, "usage: tcp-echo-name serve NAME PORT [ADDR] | serve-udp NAME PORT |\n"
                    "       connect HOST PORT MS [SRC] | udp HOST PORT MS [SRC]\n");
    return 2;
}
