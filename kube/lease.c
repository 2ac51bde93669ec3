/*
 * lease.c — coordination.k8s.io/v1 Leases: get, create, update.
 *
 * Objects are encoded here with json-c and decoded by the shared decoder
 * (lbp_kube_decode), so a Lease read back is the same struct the informer
 * caches. Update is a full PUT carrying the caller's resourceVersion: the API
 * server rejects it with 409 when the Lease changed since that version was
 * read, which is the optimistic concurrency leader election relies on.
 * Labels and annotations of the given Lease are sent back so a PUT does not
 * strip them.
 */
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASE_API "/apis/coordination.k8s.io/v1"

/* RFC 3339 with microseconds, the MicroTime format Lease times use. */
static void micro_time(int64_t us, char out[40])
{
    time_t s = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    struct tm tm;
    char base[32];
    if (frac < 0) {
        s--;
        frac += 1000000;
    }
    gmtime_r(&s, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", base, frac);
}

static int lease_path(const char *ns, const char *name, char *out, size_t len)
{
    int n;
    if (!ns || !*ns || !name)
        return LBP_INVALID;
    if (*name)
        n = snprintf(out, len, LEASE_API "/namespaces/%s/leases/%s", ns, name);
    else
        n = snprintf(out, len, LEASE_API "/namespaces/%s/leases", ns);
    return n < 0 || (size_t)n >= len ? LBP_TOOBIG : LBP_OK;
}

static struct json_object *kv_object(const struct lbp_kv *kv, size_t n)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_object_add(o, kv[i].key,
                               json_object_new_string(kv[i].value ? kv[i].value : ""));
    return o;
}

static char *encode(const struct lbp_lease *l, const char *ns, bool with_rv)
{
    struct json_object *o = json_object_new_object(), *md, *spec;
    char t[40];
    char *out = NULL;

    if (!o)
        return NULL;
    json_object_object_add(o, "apiVersion", json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(o, "kind", json_object_new_string("Lease"));
    md = json_object_new_object();
    json_object_object_add(md, "name", json_object_new_string(l->meta.name));
    json_object_object_add(md, "namespace", json_object_new_string(ns));
    if (with_rv)
        json_object_object_add(md, "resourceVersion",
                               json_object_new_string(l->meta.resource_version));
    if (l->meta.n_labels)
        json_object_object_add(md, "labels", kv_object(l->meta.labels, l->meta.n_labels));
    if (l->meta.n_annotations)
        json_object_object_add(md, "annotations",
                               kv_object(l->meta.annotations, l->meta.n_annotations));
    json_object_object_add(o, "metadata", md);

    spec = json_object_new_object();
    if (l->holder_identity)
        json_object_object_add(spec, "holderIdentity", json_object_new_string(l->holder_identity));
    if (l->lease_duration_s > 0)
        json_object_object_add(spec, "leaseDurationSeconds",
                               json_object_new_int(l->lease_duration_s));
    if (l->acquire_time_us) {
        micro_time(l->acquire_time_us, t);
        json_object_object_add(spec, "acquireTime", json_object_new_string(t));
    }
    if (l->renew_time_us) {
        micro_time(l->renew_time_us, t);
        json_object_object_add(spec, "renewTime", json_object_new_string(t));
    }
    json_object_object_add(spec, "leaseTransitions", json_object_new_int(l->lease_transitions));
    json_object_object_add(o, "spec", spec);

    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (s)
        out = strdup(s);
    json_object_put(o);
    return out;
}

static int decode_resp(const struct lbp_kube_response *resp, struct lbp_lease **out)
{
    void *obj = NULL;
    int rc = lbp_kube_decode(LBP_KIND_LEASE, resp->body, resp->body_len, &obj);
    if (rc == LBP_OK)
        *out = obj;
    return rc;
}

int lbp_lease_get(struct lbp_kube_client *c, const char *ns, const char *name,
                  struct lbp_lease **out)
{
    char path[512];
    struct lbp_kube_response resp = {0};
    int rc;

    *out = NULL;
    if (!name || !*name)
        return LBP_INVALID;
    rc = lease_path(ns, name, path, sizeof(path));
    if (rc)
        return rc;
    rc = lbp_kube_get(c, path, &resp);
    if (rc == LBP_OK)
        rc = decode_resp(&resp, out);
    lbp_kube_response_free(&resp);
    return rc;
}

int lbp_lease_create(struct lbp_kube_client *c, const char *ns, const struct lbp_lease *want,
                     struct lbp_lease **out)
{
    char path[512];
    struct lbp_kube_response resp = {0};
    char *body = NULL;
    int rc;

    *out = NULL;
    if (!want || !want->meta.name || !*want->meta.name)
        return LBP_INVALID;
    if (!ns)
        ns = want->meta.namespace;
    rc = lease_path(ns, "", path, sizeof(path));
    if (rc)
        return rc;
    body = encode(want, ns, false);
    if (!body)
        return LBP_NOMEM;
    rc = lbp_kube_post(c, path, body, &resp);
    if (rc == LBP_OK)
        rc = decode_resp(&resp, out);
    else if (rc != LBP_CONFLICT)
        lbp_warn("lease: create %s/%s: %s%s%s", ns, want->meta.name, lbp_rc_str(rc),
                 resp.message ? ": " : "", resp.message ? resp.message : "");
    free(body);
    lbp_kube_response_free(&resp);
    return rc;
}

int lbp_lease_update(struct lbp_kube_client *c, const struct lbp_lease *want,
                     struct lbp_lease **out)
{
    char path[512];
    struct lbp_kube_response resp = {0};
    char *body = NULL;
    int rc;

    *out = NULL;
    if (!want || !want->meta.name || !want->meta.resource_version || !*want->meta.resource_version)
        return LBP_INVALID;
    rc = lease_path(want->meta.namespace, want->meta.name, path, sizeof(path));
    if (rc)
        return rc;
    body = encode(want, want->meta.namespace, true);
    if (!body)
        return LBP_NOMEM;
    rc = lbp_kube_put(c, path, body, &resp);
    if (rc == LBP_OK)
        rc = decode_resp(&resp, out);
    free(body);
    lbp_kube_response_free(&resp);
    return rc;
}
