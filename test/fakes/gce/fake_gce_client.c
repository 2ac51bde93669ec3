/*
 * fake_gce_client.c — see fake_gce_client.h. Starting, stopping and the
 * control endpoint are the shared fake_client.c; this file adds the key
 * file fake-gce writes before its port file and the headers a GCE test
 * reads.
 */
#include "test/fakes/gce/fake_gce_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LBP_FAKE_GCE_BIN
#define LBP_FAKE_GCE_BIN "fake-gce"
#endif

int fake_gce_start(struct fake_gce *f, const char *const *extra)
{
    const char *args[] = {"--write-credentials", f->key_file, NULL};
    memset(f, 0, sizeof(*f));
    if (fake_proc_prepare(&f->proc, "fake-gce") != 0)
        return -1;
    snprintf(f->key_file, sizeof(f->key_file), "%s/key.json", f->proc.dir);
    return fake_proc_spawn(&f->proc, LBP_FAKE_GCE_BIN, args, extra);
}

int fake_gce_stop(struct fake_gce *f)
{
    return fake_proc_stop(&f->proc);
}

static void on_header(const char *line, size_t len, void *ud)
{
    struct fake_gce_resp *r = ud;
    fake_header_value(line, len, "WWW-Authenticate", r->www_authenticate,
                      sizeof(r->www_authenticate));
    fake_header_value(line, len, "Metadata-Flavor", r->metadata_flavor, sizeof(r->metadata_flavor));
}

long fake_gce_req(struct fake_gce *f, const char *method, const char *path,
                  const char *content_type, const char *body, const char *const *headers,
                  struct fake_gce_resp *out)
{
    char url[1200];
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", f->proc.url, path);
    out->status = fake_http(url, method, content_type, body, headers, on_header, out, &out->body);
    return out->status;
}

void fake_gce_resp_free(struct fake_gce_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

long fake_gce_control(struct fake_gce *f, const char *path, const char *body)
{
    return fake_http_control(f->proc.url, path, body);
}

struct json_object *fake_gce_json(struct fake_gce *f, const char *path)
{
    return fake_http_json(f->proc.url, path);
}

long fake_gce_calls(struct fake_gce *f, const char *call)
{
    return fake_http_counter(f->proc.url, "calls", call);
}

long fake_gce_objects(struct fake_gce *f)
{
    return fake_http_objects(f->proc.url);
}

long fake_gce_leftovers(struct fake_gce *f)
{
    struct json_object *st = fake_gce_json(f, "/_fake/state"), *res;
    long n = 0;
    if (!st || !json_object_object_get_ex(st, "resources", &res)) {
        json_object_put(st);
        return -1;
    }
    json_object_object_foreach(res, coll, objs)
    {
        if (strstr(coll, "/instances"))
            continue;
        json_object_object_foreach(objs, name, o)
        {
            (void)o;
            fprintf(stderr, "left: %s/%s\n", coll, name);
            n++;
        }
    }
    json_object_put(st);
    return n;
}
