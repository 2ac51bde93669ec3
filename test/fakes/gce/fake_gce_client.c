/*
 * fake_gce_client.c — see fake_gce_client.h. The fake writes its port to a
 * file in our temp dir once it listens (after the key file), so waiting for
 * that file is waiting for a fake that is ready.
 */
#include "test/fakes/gce/fake_gce_client.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"

#ifndef LBP_FAKE_GCE_BIN
#define LBP_FAKE_GCE_BIN "fake-gce"
#endif

#define MAX_RESP (64u << 20)

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

int fake_gce_start(struct fake_gce *f, const char *const *extra)
{
    char port_file[128];
    const char *argv[48];
    size_t n = 0;
    uint64_t until;

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/lbp-fake-gce-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(port_file, sizeof(port_file), "%s/port", f->dir);
    snprintf(f->key_file, sizeof(f->key_file), "%s/key.json", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/fake-gce.log", f->dir);
    argv[n++] = LBP_FAKE_GCE_BIN;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    argv[n++] = "--write-credentials";
    argv[n++] = f->key_file;
    for (size_t i = 0; extra && extra[i] && n < LBP_ARRAY_LEN(argv) - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    f->pid = fork();
    if (f->pid < 0)
        return -1;
    if (f->pid == 0) {
        FILE *log = fopen(f->log, "a");
        /* A test that fails half-way must not leave the fake running. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (log) {
            dup2(fileno(log), 1);
            dup2(fileno(log), 2);
        }
        execv(LBP_FAKE_GCE_BIN, (char *const *)argv);
        _exit(127);
    }
    /* RSA key generation under sanitizers takes a while on a busy machine. */
    for (until = lbp_now_ms() + 30000; lbp_now_ms() < until;) {
        int status;
        if (read_port(port_file, &f->port)) {
            snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
            return 0;
        }
        if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
            f->pid = 0;
            break;
        }
        usleep(20000);
    }
    fake_gce_stop(f);
    return -1;
}

int fake_gce_stop(struct fake_gce *f)
{
    int status = 0, rc = 0;
    char cmd[200];
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        for (int i = 0; i < 500 && waitpid(f->pid, &status, WNOHANG) == 0; i++)
            usleep(20000);
        if (waitpid(f->pid, &status, WNOHANG) == 0) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
        }
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        f->pid = 0;
    }
    if (f->dir[0]) {
        if (rc != 0) {
            snprintf(cmd, sizeof(cmd), "cat '%s' >&2", f->log);
            if (system(cmd) != 0)
                fprintf(stderr, "fake-gce: no log at %s\n", f->log);
        }
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", f->dir);
        f->dir[0] = 0;
    }
    return rc;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return lbp_buf_add(ud, p, sz * n) == 0 ? sz * n : 0;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len > nl + 1 && !strncasecmp(line, name, nl) && line[nl] == ':') {
        const char *v = line + nl + 1;
        while (*v == ' ')
            v++;
        snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
    }
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct fake_gce_resp *r = ud;
    header_value(p, sz * n, "WWW-Authenticate", r->www_authenticate, sizeof(r->www_authenticate));
    header_value(p, sz * n, "Metadata-Flavor", r->metadata_flavor, sizeof(r->metadata_flavor));
    return sz * n;
}

long fake_gce_req(struct fake_gce *f, const char *method, const char *path,
                  const char *content_type, const char *body, const char *const *headers,
                  struct fake_gce_resp *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    struct lbp_buf b;
    char url[1200], ct[128];

    memset(out, 0, sizeof(*out));
    out->status = -1;
    lbp_buf_init(&b, MAX_RESP);
    if (!c)
        goto out;
    snprintf(url, sizeof(url), "%s%s", f->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
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
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
out:
    out->body = lbp_buf_take(&b, NULL);
    lbp_buf_free(&b);
    return out->status;
}

void fake_gce_resp_free(struct fake_gce_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

long fake_gce_control(struct fake_gce *f, const char *path, const char *body)
{
    struct fake_gce_resp r;
    long st = fake_gce_req(f, body ? "POST" : "GET", path, NULL, body, NULL, &r);
    fake_gce_resp_free(&r);
    return st;
}

struct json_object *fake_gce_json(struct fake_gce *f, const char *path)
{
    struct fake_gce_resp r;
    struct json_object *o = NULL;
    if (fake_gce_req(f, "GET", path, NULL, NULL, NULL, &r) == 200)
        o = json_tokener_parse(r.body);
    fake_gce_resp_free(&r);
    return o;
}

long fake_gce_calls(struct fake_gce *f, const char *call)
{
    struct json_object *o = fake_gce_json(f, "/_fake/counters"), *calls, *v;
    long n = -1;
    if (o) {
        n = 0;
        if (json_object_object_get_ex(o, "calls", &calls) &&
            json_object_object_get_ex(calls, call, &v))
            n = (long)json_object_get_int64(v);
    }
    json_object_put(o);
    return n;
}

long fake_gce_objects(struct fake_gce *f)
{
    struct json_object *o = fake_gce_json(f, "/_fake/state"), *v;
    long n = -1;
    if (o && json_object_object_get_ex(o, "count", &v))
        n = (long)json_object_get_int64(v);
    json_object_put(o);
    return n;
}
