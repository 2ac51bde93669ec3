/*
 * fake_util.c — see fake_util.h.
 */
#include "test/fakes/fake_util.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *fake_form_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t j = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (s[i] == '+') {
            o[j++] = ' ';
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = 0;
    return o;
}

int fake_form_each(const char *s, size_t len, int (*cb)(void *ud, char *name, char *value),
                   void *ud)
{
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end, *eq = memchr(p, '=', (size_t)(e - p));
        if (e > p) {
            char *name = fake_form_decode(p, (size_t)((eq ? eq : e) - p));
            char *value = eq ? fake_form_decode(eq + 1, (size_t)(e - eq - 1)) : strdup("");
            int rc;
            if (!name || !value) {
                free(name);
                free(value);
                return -1;
            }
            if ((rc = cb(ud, name, value)) != 0)
                return rc;
        }
        p = e + 1;
    }
    return 0;
}

int fake_write_file(const char *path, const char *data)
{
    char tmp[4096];
    FILE *f;
    int rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    rc = fputs(data, f) < 0 ? -1 : 0;
    if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int fake_spawn_listening(const char *bin, const char *const *extra, pid_t *pid, int *port)
{
    int pfd[2];
    char line[256];
    FILE *in;
    const char *argv[64];
    size_t n = 0;
    *pid = 0;
    *port = 0;
    if (pipe(pfd) != 0)
        return -1;
    argv[n++] = bin;
    for (size_t i = 0; extra && extra[i] && n < 62; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    *pid = fork();
    if (*pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        *pid = 0;
        return -1;
    }
    if (*pid == 0) {
        /* A test that fails half-way must not leave the fake running. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    in = fdopen(pfd[0], "r");
    if (!in || !fgets(line, sizeof(line), in) ||
        (sscanf(line, "listening on http://%*[^:]:%d", port) != 1 &&
         sscanf(line, "listening on https://%*[^:]:%d", port) != 1)) {
        if (in)
            fclose(in);
        else
            close(pfd[0]);
        fake_spawn_stop(pid);
        return -1;
    }
    fclose(in);
    return 0;
}

int fake_spawn_stop(pid_t *pid)
{
    int st = 0;
    if (*pid <= 0)
        return 0;
    kill(*pid, SIGTERM);
    if (waitpid(*pid, &st, 0) != *pid)
        st = -1;
    *pid = 0;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int fake_parse_cidr(const char *s, uint32_t *base, uint32_t *n)
{
    char ip[32];
    const char *slash = strchr(s, '/');
    struct in_addr a;
    long bits;
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return -1;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    if (inet_pton(AF_INET, ip, &a) != 1 || lbp_parse_long(slash + 1, 8, 30, &bits) != 0)
        return -1;
    *n = 1u << (32 - bits);
    *base = ntohl(a.s_addr) & ~(*n - 1);
    return 0;
}
