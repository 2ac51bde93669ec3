/*
 * fake_client.c — see fake_client.h. A fake writes its port file only once
 * it listens (after any key files it was asked for), so waiting for that
 * file is waiting for a fake that is ready; its output goes to a log that
 * is shown only when it exits badly.
 */
#include "test/fakes/fake_client.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"

#define MAX_RESP (64u << 20)

int fake_proc_prepare(struct fake_proc *p, const char *name)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/lbp-%s-XXXXXX", name);
    if (!mkdtemp(p->dir)) {
        p->dir[0] = 0;
        return -1;
    }
    snprintf(p->log, sizeof(p->log), "%s/%s.log", p->dir, name);
    return 0;
}

static bool read_port(const char *path, int *port)
{
    FILE *fp = fopen(path, "r");
    bool ok;
    if (!fp)
        return false;
    ok = fscanf(fp, "%d", port) == 1 && *port > 0;
    fclose(fp);
    return ok;
}

int fake_proc_spawn(struct fake_proc *p, const char *bin, const char *const *args,
                    const char *const *extra)
{
    char port_file[128];
    const char *argv[64];
    size_t n = 0;
    uint64_t until;

    snprintf(port_file, sizeof(port_file), "%s/port", p->dir);
    argv[n++] = bin;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    for (size_t i = 0; args && args[i] && n < LBP_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = args[i];
    for (size_t i = 0; extra && extra[i] && n < LBP_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    p->pid = fork();
    if (p->pid < 0) {
        p->pid = 0;
        fake_proc_stop(p);
        return -1;
    }
    if (p->pid == 0) {
        FILE *log = fopen(p->log, "a");
        /* A test that fails half-way must not leave the fake running. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (log) {
            dup2(fileno(log), 1);
            dup2(fileno(log), 2);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    /* RSA key generation under sanitizers takes a while on a busy machine. */
    for (until = lbp_now_ms() + 30000; lbp_now_ms() < until;) {
        int status;
        if (read_port(port_file, &p->port)) {
            snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
            return 0;
        }
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            break;
        }
        usleep(20000);
    }
    fake_proc_stop(p);
    return -1;
}

int fake_proc_stop(struct fake_proc *p)
{
    int status = 0, rc = 0;
    char cmd[200];
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        for (int i = 0; i < 500 && waitpid(p->pid, &status, WNOHANG) == 0; i++)
            usleep(20000);
        if (waitpid(p->pid, &status, WNOHANG) == 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
        }
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        p->pid = 0;
    }
    if (p->dir[0]) {
        if (rc != 0) {
            snprintf(cmd, sizeof(cmd), "cat '%s' >&2", p->log);
            if (system(cmd) != 0)
                fprintf(stderr, "no log at %s\n", p->log);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", p->dir);
        p->dir[0] = 0;
    }
    return rc;
}

static size_t on_body(char *d, size_t sz, size_t n, void *ud)
{
    return lbp_buf_add(ud, d, sz * n) == 0 ? sz * n : 0;
}

struct hdr_sink {
    void (*fn)(const char *line, size_t len, void *ud);
    void *ud;
};

static size_t on_header(char *d, size_t sz, size_t n, void *ud)
{
    struct hdr_sink *h = ud;
    h->fn(d, sz * n, h->ud);
    return sz * n;
}

void fake_header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len > nl + 1 && !strncasecmp(line, name, nl) && line[nl] == ':') {
        const char *v = line + nl + 1;
        while (*v == ' ')
            v++;
        snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
    }
}

long fake_http(const char *url, const char *method, const char *content_type, const char *body,
               const char *const *headers, void (*hdr)(const char *line, size_t len, void *ud),
               void *ud, char **body_out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct hdr_sink sink = {hdr, ud};
    struct lbp_buf b;
    char ct[128];
    long status = -1;

    lbp_buf_init(&b, MAX_RESP);
    if (!c)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (hdr) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        snprintf(ct, sizeof(ct), "Content-Type: %s",
                 content_type ? content_type : "application/json");
        h = curl_slist_append(h, ct);
    }
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
out:
    if (body_out)
        *body_out = lbp_buf_take(&b, NULL);
    lbp_buf_free(&b);
    return status;
}

static long req(const char *base, const char *method, const char *path, const char *body,
                char **resp)
{
    char url[1200];
    snprintf(url, sizeof(url), "%s%s", base, path);
    return fake_http(url, method, NULL, body, NULL, NULL, NULL, resp);
}

long fake_http_control(const char *base, const char *path, const char *body)
{
    return req(base, body ? "POST" : "GET", path, body, NULL);
}

struct json_object *fake_http_json(const char *base, const char *path)
{
    char *resp = NULL;
    struct json_object *o = NULL;
    if (req(base, "GET", path, NULL, &resp) == 200)
        o = json_tokener_parse(resp);
    free(resp);
    return o;
}

long fake_http_counter(const char *base, const char *group, const char *key)
{
    struct json_object *o = fake_http_json(base, "/_fake/counters"), *g, *v;
    long n = -1;
    if (o) {
        n = 0;
        if (json_object_object_get_ex(o, group, &g) && json_object_object_get_ex(g, key, &v))
            n = (long)json_object_get_int64(v);
    }
    json_object_put(o);
    return n;
}

long fake_http_objects(const char *base)
{
    struct json_object *o = fake_http_json(base, "/_fake/state"), *v;
    long n = -1;
    if (o && json_object_object_get_ex(o, "count", &v))
        n = (long)json_object_get_int64(v);
    json_object_put(o);
    return n;
}
