/*
 * fake_cs_client.c — see fake_cs_client.h. The fake prints
 * "listening on http://127.0.0.1:PORT" first; we read that line from a pipe
 * and leave the rest of its output on our stderr.
 */
#include "test/fakes/cloudstack/fake_cs_client.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "test/fakes/fake_util.h"

#ifndef LBP_FAKE_CS_BIN
#define LBP_FAKE_CS_BIN "fake-cloudstack"
#endif

int fake_cs_start(struct fake_cs *f, const char *const *extra)
{
    memset(f, 0, sizeof(*f));
    if (fake_spawn_listening(LBP_FAKE_CS_BIN, extra, &f->pid, &f->port) != 0)
        return -1;
    snprintf(f->api_url, sizeof(f->api_url), "http://127.0.0.1:%d/client/api", f->port);
    return 0;
}

int fake_cs_stop(struct fake_cs *f)
{
    int st = 0;
    if (f->pid <= 0)
        return 0;
    kill(f->pid, SIGTERM);
    if (waitpid(f->pid, &st, 0) != f->pid)
        st = -1;
    f->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    return lbp_buf_add(ud, p, sz * n) == 0 ? sz * n : 0;
}

long fake_cs_req(struct fake_cs *f, const char *method, const char *path, const char *content_type,
                 const char *body, char **resp)
{
    CURL *h = curl_easy_init();
    char url[16384], ct[128];
    struct lbp_buf b;
    long status = -1;
    struct curl_slist *hl = NULL;
    lbp_buf_init(&b, 64u << 20);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    if (content_type) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
        hl = curl_slist_append(NULL, ct);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hl);
    if (resp)
        *resp = lbp_buf_take(&b, NULL);
    lbp_buf_free(&b);
    return status;
}

struct json_object *fake_cs_json(struct fake_cs *f, const char *path)
{
    char *r = NULL;
    struct json_object *o = NULL;
    if (fake_cs_req(f, "GET", path, NULL, NULL, &r) == 200)
        o = json_tokener_parse(r);
    free(r);
    return o;
}

int fake_cs_post(struct fake_cs *f, const char *path, const char *json)
{
    return fake_cs_req(f, "POST", path, "application/json", json ? json : "{}", NULL) == 200 ? 0
                                                                                             : -1;
}

int fake_cs_count(struct fake_cs *f, const char *command)
{
    struct json_object *c = fake_cs_json(f, "/_fake/counters"), *cmds, *v;
    int n = 0;
    if (c && json_object_object_get_ex(c, "commands", &cmds) &&
        json_object_object_get_ex(cmds, command, &v))
        n = json_object_get_int(v);
    json_object_put(c);
    return n;
}
