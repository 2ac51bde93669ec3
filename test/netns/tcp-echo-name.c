/*
 * tcp-echo-name — the network-namespace tests' TCP endpoint, so they need
 * neither socat nor python:
 *
 *   tcp-echo-name serve NAME PORT        accept on [::]:PORT (IPv4 too), send
 *                                        "NAME\n" to each client, close
 *   tcp-echo-name connect HOST PORT MS   connect within MS milliseconds, print
 *                                        what the server sent; exit 1 on failure
 */
#include "common/rc.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int serve(const char *name, long port)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int zero = 0, one = 1;
    if (fd < 0)
        return 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
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

static int connect_to(const char *host, const char *port, long ms)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int rc = 1, fd = -1;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "tcp-echo-name: bad address %s\n", host);
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto out;
    uint64_t deadline = lbp_now_ms() + (uint64_t)ms;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
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
        if (n == 0 || got == sizeof(buf) - 1)
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
    if (argc == 4 && strcmp(argv[1], "serve") == 0 &&
        lbp_parse_long(argv[3], 1, 65535, &port) == LBP_OK)
        return serve(argv[2], port);
    if (argc == 5 && strcmp(argv[1], "connect") == 0 &&
        lbp_parse_long(argv[3], 1, 65535, &port) == LBP_OK &&
        lbp_parse_long(argv[4], 1, 600000, &ms) == LBP_OK)
        return connect_to(argv[2], argv[3], ms);
    fprintf(stderr, "usage: tcp-echo-name serve NAME PORT | connect HOST PORT MS\n");
    return 2;
}
