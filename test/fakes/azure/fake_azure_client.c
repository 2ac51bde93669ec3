/*
 * fake_azure_client.c — see fake_azure_client.h. Starting, stopping and
 * the control endpoint are the shared fake_client.c; this file adds the
 * federated key and token fake-azure writes before its port file, the
 * ARM headers a test reads and a token by client credentials.
 */
#include "test/fakes/azure/fake_azure_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LBP_FAKE_AZURE_BIN
#define LBP_FAKE_AZURE_BIN "fake-azure"
#endif

int fake_azure_start(struct fake_azure *f, const char *const *extra)
{
    const char *args[] = {"--write-federated-key", f->fed_key, "--write-federated-token",
                          f->fed_token, NULL};
    memset(f, 0, sizeof(*f));
    if (fake_proc_prepare(&f->proc, "fake-azure") != 0)
        return -1;
    snprintf(f->fed_key, sizeof(f->fed_key), "%s/issuer.pem", f->proc.dir);
    snprintf(f->fed_token, sizeof(f->fed_token), "%s/token.jwt", f->proc.dir);
    return fake_proc_spawn(&f->proc, LBP_FAKE_AZURE_BIN, args, extra);
}

int fake_azure_stop(struct fake_azure *f)
{
    return fake_proc_stop(&f->proc);
}

static void on_header(const char *p, size_t len, void *ud)
{
    struct fake_azure_resp *r = ud;
    fake_header_value(p, len, "Azure-AsyncOperation", r->async_op, sizeof(r->async_op));
    fake_header_value(p, len, "Location", r->location, sizeof(r->location));
    fake_header_value(p, len, "Retry-After", r->retry_after, sizeof(r->retry_after));
    fake_header_value(p, len, "ETag", r->etag, sizeof(r->etag));
    fake_header_value(p, len, "WWW-Authenticate", r->www_authenticate, sizeof(r->www_authenticate));
    fake_header_value(p, len, "x-ms-ratelimit-remaining-subscription-reads", r->reads_left,
                      sizeof(r->reads_left));
    fake_header_value(p, len, "x-ms-ratelimit-remaining-subscription-writes", r->writes_left,
                      sizeof(r->writes_left));
    fake_header_value(p, len, "x-ms-ratelimit-remaining-subscription-deletes", r->deletes_left,
                      sizeof(r->deletes_left));
}

long fake_azure_req(struct fake_azure *f, const char *method, const char *path,
                    const char *content_type, const char *body, const char *const *headers,
                    struct fake_azure_resp *out)
{
    char url[2400];
    memset(out, 0, sizeof(*out));
    /* An absolute URL (an operation's) is used as it is. */
    if (!strncmp(path, "http://", 7))
        snprintf(url, sizeof(url), "%s", path);
    else
        snprintf(url, sizeof(url), "%s%s", f->proc.url, path);
    out->status = fake_http(url, method, content_type, body, headers, on_header, out, &out->body);
    return out->status;
}

void fake_azure_resp_free(struct fake_azure_resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

int fake_azure_token(struct fake_azure *f, char *out, size_t cap)
{
    struct fake_azure_resp r;
    struct json_object *o, *v;
    int rc = -1;
    fake_azure_req(f, "POST", "/" FAKE_AZURE_TENANT "/oauth2/v2.0/token",
                   "application/x-www-form-urlencoded",
                   "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
                   "&client_secret=" FAKE_AZURE_CLIENT_SECRET
                   "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
                   NULL, &r);
    o = r.status == 200 ? json_tokener_parse(r.body) : NULL;
    if (o && json_object_object_get_ex(o, "access_token", &v) &&
        strlen(json_object_get_string(v)) < cap) {
        snprintf(out, cap, "%s", json_object_get_string(v));
        rc = 0;
    }
    json_object_put(o);
    fake_azure_resp_free(&r);
    return rc;
}

long fake_azure_control(struct fake_azure *f, const char *path, const char *body)
{
    return fake_http_control(f->proc.url, path, body);
}

struct json_object *fake_azure_json(struct fake_azure *f, const char *path)
{
    return fake_http_json(f->proc.url, path);
}

long fake_azure_calls(struct fake_azure *f, const char *call)
{
    return fake_http_counter(f->proc.url, "calls", call);
}

long fake_azure_statuses(struct fake_azure *f, int status)
{
    char key[16];
    snprintf(key, sizeof(key), "%d", status);
    return fake_http_counter(f->proc.url, "statuses", key);
}

long fake_azure_objects(struct fake_azure *f)
{
    return fake_http_objects(f->proc.url);
}
