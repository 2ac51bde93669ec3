/*
 * fake_cs_client.c — see fake_cs_client.h. The fake prints
 * "listening on http://127.0.0.1:PORT" first; we read that line from a pipe
 * and leave the rest of its output on our stderr. HTTP goes through the
 * REST fakes' shared client (fake_client.h).
 */
#include "test/fakes/cloudstack/fake_cs_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fakes/fake_client.h"
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
    return fake_spawn_stop(&f->pid);
}

long fake_cs_req(struct fake_cs *f, const char *method, const char *path, const char *content_type,
                 const char *body, char **resp)
{
    char url[16384]; /* a signed query string can be long */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    return fake_http(url, method, content_type, body, NULL, NULL, NULL, resp);
}

struct json_object *fake_cs_json(struct fake_cs *f, const char *path)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", f->port);
    return fake_http_json(base, path);
}

int fake_cs_post(struct fake_cs *f, const char *path, const char *json)
{
    return fake_cs_req(f, "POST", path, "application/json", json ? json : "{}", NULL) == 200 ? 0
                                                                                             : -1;
}

int fake_cs_count(struct fake_cs *f, const char *command)
{
    char base[64];
    long n;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", f->port);
    n = fake_http_counter(base, "commands", command);
    return n > 0 ? (int)n : 0;
}
