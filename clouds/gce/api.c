/*
 * api.c — Compute Engine v1 calls for the GCE provider: the error
 * envelope, requestId on every change, Operations followed through
 * LBP_PENDING, the nodes' instances, and the pieces both load-balancer
 * models share (firewalls, health checks, owned deletes).
 *
 * Every mutating call carries a fresh requestId (a UUID), so GCE answers a
 * re-sent POST with the first one's Operation instead of repeating it; the
 * HTTP client may therefore retry it like a GET. An Operation comes back
 * with the answer: DONE ones are judged at once, running ones are kept in
 * a gce_ops set whose reference ("r:NAME g:NAME z/ZONE:NAME") the
 * lro table holds under the LB name. Polls go to the configured endpoint
 * by scope and name, never to the host of a selfLink. A "+PATH" entry in
 * the set is a delete to issue once the Operations before it are done.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "clouds/gce/gce_int.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

const char *const gce_probe_ranges[] = {"130.211.0.0/22", "35.191.0.0/16", "209.85.152.0/22",
                                        "209.85.204.0/22"};
const size_t gce_n_probe_ranges = sizeof(gce_probe_ranges) / sizeof(gce_probe_ranges[0]);

void gce_resp_free(struct gce_resp *r)
{
    if (r) {
        json_object_put(r->json);
        r->json = NULL;
    }
}

const char *gce_ref_path(const char *url)
{
    const char *p;
    if (!url)
        return "";
    if (strncmp(url, "projects/", 9) == 0)
        return url;
    p = strstr(url, "/projects/");
    return p ? p + 1 : "";
}

/*
 * GCE's envelope: {"error":{"code":403,"message":"...","errors":[{"reason":
 * "rateLimitExceeded","domain":"usageLimits"}]}}. The reason says what a
 * 403 is: throttling, an exhausted quota, or a refusal.
 */
static void map_error(struct json_object *body, struct lbp_rest_error *e)
{
    const char *reason = NULL;
    lbp_rest_error_default(body, e);
    if (lbp_json_get_str(body, "error.errors[0].reason", 80, &reason, NULL, 0) != LBP_OK)
        return;
    lbp_strlcpy(e->code, reason, sizeof(e->code));
    if (!strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "userRateLimitExceeded") ||
        !strcmp(reason, "RATE_LIMIT_EXCEEDED"))
        e->throttled = e->retryable = true;
    else if (!strcmp(reason, "quotaExceeded") || !strcmp(reason, "QUOTA_EXCEEDED"))
        e->quota = true;
    else if (!strcmp(reason, "backendError") || !strcmp(reason, "internalError"))
        e->retryable = true;
    /* resourceNotReady (another Operation runs on the object) is not retried here: the
       slot answers LBP_PENDING and asks again later, holding no worker */
}

static void request_id(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/*
 * The Compute method a call is, as GCE's own API names it ("forwardingRules.
 * insert", "targetPools.addInstance", "regionOperations" are "operations.get"):
 * the metrics label. `what` names the object, for messages; as a label it
 * made a new series for every load balancer.
 */
void gce_method_name(const char *method, const char *path, char *out, size_t cap)
{
    char segs[3][64];
    size_t n = 0;
    const char *p = path, *verb;
    bool aggregated = false;
    if (!strncmp(p, "global/", 7)) {
        p += 7;
    } else if (!strncmp(p, "aggregated/", 11)) {
        p += 11;
        aggregated = true;
    } else if (!strncmp(p, "regions/", 8) || !strncmp(p, "zones/", 6)) {
        const char *scope = strchr(strchr(p, '/') + 1, '/'); /* past "regions/NAME" */
        p = scope ? scope + 1 : "";
    }
    while (*p && *p != '?' && n < 3) {
        size_t len = strcspn(p, "/?");
        snprintf(segs[n++], sizeof(segs[0]), "%.*s", (int)(len < 63 ? len : 63), p);
        p += len;
        if (*p == '/')
            p++;
    }
    if (n == 0) {
        snprintf(out, cap, "%s", method);
        return;
    }
    if (aggregated)
        verb = "aggregatedList";
    else if (n >= 3) /* a custom verb: targetPools/NAME/addInstance */
        verb = segs[2];
    else if (!strcmp(method, "GET"))
        verb = n == 2 ? "get" : "list";
    else if (!strcmp(method, "POST"))
        verb = "insert";
    else if (!strcmp(method, "PUT"))
        verb = "update";
    else if (!strcmp(method, "PATCH"))
        verb = "patch";
    else if (!strcmp(method, "DELETE"))
        verb = "delete";
    else
        verb = method;
    snprintf(out, cap, "%s.%s", segs[0], verb);
}

/*
 * A refusal that a stale copy of an object explains: the object (or one it
 * names) is gone (404 on anything but a delete), or its fingerprint is old
 * (412). Others — in use, invalid, quota, throttling — are answers about
 * the request, not about what was read, and happen all the time (a shared
 * health check's delete while pools still use it).
 */
static bool stale_refusal(const char *method, const struct lbp_rest_error *e)
{
    return (e->status == 404 && strcmp(method, "DELETE") != 0) || e->status == 412;
}

/* The same for an Operation that ended in an error. */
static bool stale_op(struct json_object *op)
{
    const char *code = NULL;
    int64_t http = 0;
    lbp_json_get_str(op, "error.errors[0].code", 80, &code, NULL, 0);
    lbp_json_get_int(op, "httpErrorStatusCode", 0, 999, &http, NULL, 0);
    return (code && !strcmp(code, "RESOURCE_NOT_FOUND")) || http == 404 || http == 412;
}

/* A failed Operation that a stale copy explains drops what is kept. */
static void judge_op(struct lbp_provider_ctx *ctx, struct json_object *op)
{
    if (stale_op(op))
        gce_prefetch_drop(ctx->prefetch, "an Operation failed on a stale object");
}

/* gce_ops_add for an answer to our own change, its failure judged as above. */
static int ops_add(struct lbp_provider_ctx *ctx, struct gce_ops *s, struct json_object *op,
                   const char *what, struct lbp_call *call)
{
    int rc = gce_ops_add(s, op, what, call);
    if (rc)
        judge_op(ctx, op);
    return rc;
}

int gce_call(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *method,
             const char *path, struct json_object *body, const char *what, struct gce_resp *r,
             struct lbp_rest_error *e, struct lbp_call *call)
{
    struct lbp_rest rest = ctx->rest;
    char label[80];
    struct lbp_rest_req q = {.method = method, .operation = what, .metric = label, .body = body};
    struct lbp_rest_resp resp;
    struct lbp_rest_error own;
    struct lbp_buf url;
    /* listInstances and getHealth are reads that happen to be POSTs: no requestId */
    bool reads = strstr(path, "/listInstances") || strstr(path, "/getHealth");
    bool mutating = strcmp(method, "GET") != 0 && !reads;
    char rid[37];
    int rc;

    rest.map_error = map_error;
    gce_method_name(method, path, label, sizeof(label));
    lbp_buf_init(&url, GCE_URL_MAX * 2);
    rc = lbp_buf_addf(&url, "%sprojects/%s/%s", c->endpoint, c->project, path);
    if (rc == LBP_OK && mutating) {
        request_id(rid);
        rc = lbp_buf_addf(&url, "%crequestId=%s", strchr(path, '?') ? '&' : '?', rid);
        q.idempotent = true; /* GCE drops a repeat of the same requestId */
    }
    q.idempotent = q.idempotent || reads;
    if (rc) {
        lbp_buf_free(&url);
        lbp_failf(call, "%s: URL too long", what);
        return LBP_TOOBIG;
    }
    q.url = url.data;
    if (mutating)
        gce_prefetch_forget(ctx->prefetch, path, body);
    if (!e)
        e = &own;
    rc = lbp_rest_call(&rest, &q, &resp, e, call);
    if (mutating && rc && stale_refusal(method, e))
        gce_prefetch_drop(ctx->prefetch, "a change was refused for a stale object");
    r->json = resp.json;
    resp.json = NULL;
    lbp_rest_resp_free(&resp);
    lbp_buf_free(&url);
    return rc;
}

int gce_get(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *path,
            const char *what, struct gce_resp *r, struct lbp_call *call)
{
    struct lbp_call local = {0};
    int rc;
    if (gce_prefetch_read(ctx->prefetch, path, r))
        return LBP_OK;
    rc = gce_call(ctx, c, "GET", path, NULL, what, r, NULL, &local);
    if (rc && rc != LBP_NOT_FOUND && call) {
        lbp_strlcpy(call->err, local.err, sizeof(call->err));
        call->retry_after_s = local.retry_after_s;
    }
    if (rc)
        gce_resp_free(r);
    return rc;
}

int gce_list(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *path,
             const char *filter, const char *what, int (*each)(void *ud, struct json_object *item),
             void *ud, struct lbp_call *call)
{
    struct lbp_rest rest = ctx->rest;
    struct lbp_buf url;
    int rc;
    rest.map_error = map_error;
    lbp_buf_init(&url, GCE_URL_MAX * 2);
    rc = lbp_buf_addf(&url, "%sprojects/%s/%s?maxResults=500", c->endpoint, c->project, path);
    if (rc == LBP_OK && filter) {
        rc = lbp_buf_adds(&url, "&filter=");
        rc = rc ? rc : lbp_http_urlencode(&url, filter);
    }
    if (rc == LBP_OK)
        rc = lbp_rest_list(&rest, url.data, what, "items", "nextPageToken", "pageToken", each, ud,
                           NULL, call);
    lbp_buf_free(&url);
    return rc;
}

void gce_ops_init(struct gce_ops *s, const char *what)
{
    memset(s, 0, sizeof(*s));
    lbp_strlcpy(s->what, what, sizeof(s->what));
}

static void ops_append(struct gce_ops *s, const char *entry)
{
    size_t n = strlen(s->ref);
    if (n + strlen(entry) + 2 >= sizeof(s->ref))
        return; /* a full set is followed on the next call, after a re-read */
    snprintf(s->ref + n, sizeof(s->ref) - n, "%s%s", n ? " " : "", entry);
}

int gce_op_error(struct json_object *op, char *err, size_t errlen)
{
    const char *code = NULL, *msg = NULL;
    int64_t http = 0;
    struct json_object *errs = lbp_json_at(op, "error.errors");
    if (errs && !json_object_is_type(errs, json_type_array)) {
        /* an error no one can read is still an error (json-c asserts on a non-array) */
        snprintf(err, errlen, "error: the Operation's error.errors is not a list");
        return LBP_RETRY;
    }
    if (!errs || json_object_array_length(errs) == 0)
        return LBP_OK;
    lbp_json_get_str(op, "error.errors[0].code", 80, &code, NULL, 0);
    lbp_json_get_str(op, "error.errors[0].message", 400, &msg, NULL, 0);
    lbp_json_get_int(op, "httpErrorStatusCode", 0, 999, &http, NULL, 0);
    code = code ? code : "";
    snprintf(err, errlen, "%s: %s", code[0] ? code : "error", msg ? msg : "(no message)");
    if (!strcmp(code, "RESOURCE_ALREADY_EXISTS") || !strcmp(code, "ALREADY_EXISTS"))
        return LBP_OK; /* an insert that raced a twin: the object is there */
    if (!strcmp(code, "QUOTA_EXCEEDED"))
        return LBP_RETRY;
    if (!strcmp(code, "RESOURCE_NOT_READY") || !strcmp(code, "RESOURCE_NOT_FOUND") ||
        !strcmp(code, "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE") || !strcmp(code, "INTERNAL_ERROR"))
        return LBP_RETRY;
    if (!strcmp(code, "IP_IN_USE_BY_ANOTHER_RESOURCE"))
        return LBP_CONFLICT;
    if (http == 403 || http == 401)
        return LBP_AUTH;
    if (http == 409 || http == 412)
        return LBP_CONFLICT;
    if (http >= 400 && http < 500)
        return LBP_INVALID;
    return LBP_RETRY;
}

/* "r:NAME", "g:NAME" or "z/ZONE:NAME" for an Operation, by where it lives. */
static int op_entry(struct json_object *op, char *out, size_t cap)
{
    const char *name = NULL, *zone = NULL;
    if (lbp_json_get_str(op, "name", 200, &name, NULL, 0) != LBP_OK || !name[0] ||
        strchr(name, '/') || strchr(name, ' '))
        return LBP_PARSE;
    if (lbp_json_get_str(op, "zone", 512, &zone, NULL, 0) == LBP_OK && strrchr(zone, '/'))
        snprintf(out, cap, "z/%s:%s", strrchr(zone, '/') + 1, name);
    else if (lbp_json_at(op, "region"))
        snprintf(out, cap, "r:%s", name);
    else
        snprintf(out, cap, "g:%s", name);
    return LBP_OK;
}

int gce_ops_add(struct gce_ops *s, struct json_object *op, const char *what, struct lbp_call *call)
{
    const char *status = NULL;
    char entry[300], err[400];
    int rc;
    if (lbp_json_get_str(op, "status", 32, &status, NULL, 0) != LBP_OK ||
        op_entry(op, entry, sizeof(entry)) != LBP_OK) {
        lbp_failf(call, "%s: the answer is not an Operation", what);
        return LBP_RETRY;
    }
    if (strcmp(status, "DONE") == 0) {
        rc = gce_op_error(op, err, sizeof(err));
        if (rc)
            lbp_failf(call, "%s: %s", what, err);
        return rc;
    }
    ops_append(s, entry);
    s->n++;
    if (s->n == 1)
        snprintf(s->what + strlen(s->what), sizeof(s->what) - strlen(s->what), " (%s)", entry);
    return LBP_OK;
}

int gce_ops_wait(struct lbp_provider_ctx *ctx, const char *lb_name, struct gce_ops *s,
                 struct lbp_call *call)
{
    if (!s->n)
        return LBP_OK;
    return lbp_lro_start(ctx->ops, lb_name, s->what, s->ref, 0, call);
}

void gce_ops_then_delete(struct gce_ops *s, const char *path)
{
    char entry[300];
    snprintf(entry, sizeof(entry), "+%s", path);
    ops_append(s, entry);
}

int gce_ops_poll(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = ud;
    struct gce_conf c;
    char buf[LBP_LRO_REF_MAX], *save = NULL, path[400];
    int worst = LBP_OK;
    bool pending = false;

    (void)retry_after_s;
    pthread_rwlock_rdlock(&ctx->lock);
    c = ctx->conf;
    pthread_rwlock_unlock(&ctx->lock);
    lbp_strlcpy(buf, ref, sizeof(buf));
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        struct gce_resp r = {0};
        struct lbp_call call = {0};
        const char *status = NULL, *colon = strchr(t, ':');
        char e[400];
        int rc;
        if (t[0] == '+') {
            if (pending || worst)
                break;
            /* the Operations before it are done: the delete may go now */
            rc = gce_call(ctx, &c, "DELETE", t + 1, NULL, "delete", &r, NULL, &call);
            if (rc && rc != LBP_NOT_FOUND) /* the next read of the state deletes it */
                lbp_v(1, "gce: delete %s after a change: %s", t + 1, call.err);
            gce_resp_free(&r);
            continue;
        }
        if (!colon)
            continue;
        if (t[0] == 'r')
            snprintf(path, sizeof(path), "regions/%s/operations/%s", c.region, colon + 1);
        else if (t[0] == 'g')
            snprintf(path, sizeof(path), "global/operations/%s", colon + 1);
        else
            snprintf(path, sizeof(path), "zones/%.*s/operations/%s", (int)(colon - t - 2), t + 2,
                     colon + 1);
        rc = gce_call(ctx, &c, "GET", path, NULL, "get operation", &r, NULL, &call);
        if (rc == LBP_NOT_FOUND) {
            /* GCE keeps Operations for a while only: the state is read again */
            gce_resp_free(&r);
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "%s", call.err);
            gce_resp_free(&r);
            return LBP_RETRY;
        }
        lbp_json_get_str(r.json, "status", 32, &status, NULL, 0);
        if (status && !strcmp(status, "DONE"))
            gce_prefetch_forget_target(ctx->prefetch, c.project, r.json);
        if (!status || strcmp(status, "DONE") != 0) {
            pending = true;
        } else if ((rc = gce_op_error(r.json, e, sizeof(e))) && !worst) {
            judge_op(ctx, r.json);
            worst = rc;
            snprintf(err, errlen, "operation %s: %s", colon + 1, e);
        }
        gce_resp_free(&r);
    }
    if (worst)
        return worst;
    return pending ? LBP_PENDING : LBP_OK;
}

/* An Operation (perhaps one a previous process started) still runs on the object. */
static bool busy(const struct lbp_rest_error *e, const char *what, struct lbp_call *call)
{
    if (strcmp(e->code, "resourceNotReady") != 0)
        return false;
    lbp_failf(call, "%s: another operation on it is still running", what);
    if (call)
        call->retry_after_s = 2;
    return true;
}

int gce_mutate(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct gce_ops *s,
               const char *method, const char *path, struct json_object *body, const char *what,
               struct lbp_call *call)
{
    struct gce_resp r = {0};
    struct lbp_rest_error e;
    int rc = gce_call(ctx, c, method, path, body, what, &r, &e, call);
    if (rc == LBP_CONFLICT && !strcmp(e.code, "alreadyExists"))
        rc = LBP_OK; /* made by an earlier attempt: converge from it */
    else if (rc && busy(&e, what, call))
        rc = LBP_PENDING;
    else if (rc == LBP_NOT_FOUND && !strcmp(method, "DELETE"))
        rc = LBP_OK;
    else if (rc == LBP_OK)
        rc = ops_add(ctx, s, r.json, what, call);
    else
        lbp_v(2, "gce: %s %s: %s", method, path, call ? call->err : "");
    gce_resp_free(&r);
    return rc;
}

/* ---- instances ---- */

struct zone_scan {
    struct lbp_provider_ctx *ctx;
    const char *project, *zone;
};

static void instance_from(struct json_object *item, const char *zone, struct gce_instance *in)
{
    struct json_object *tags = lbp_json_at(item, "tags.items");
    const char *name = NULL;
    memset(in, 0, sizeof(*in));
    in->exists = true;
    lbp_strlcpy(in->zone, zone, sizeof(in->zone));
    if (lbp_json_get_str(item, "name", GCE_NAME_MAX - 1, &name, NULL, 0) == LBP_OK)
        lbp_strlcpy(in->name, name, sizeof(in->name));
    for (size_t i = 0; tags && json_object_is_type(tags, json_type_array) &&
                       i < json_object_array_length(tags) && in->n_tags < GCE_MAX_TAGS;
         i++) {
        const char *t = json_object_get_string(json_object_array_get_idx(tags, i));
        if (t && strlen(t) < sizeof(in->tags[0]))
            lbp_strlcpy(in->tags[in->n_tags++], t, sizeof(in->tags[0]));
    }
}

static int zone_each(void *ud, struct json_object *item)
{
    struct zone_scan *z = ud;
    struct gce_instance in;
    char key[300];
    instance_from(item, z->zone, &in);
    if (!in.name[0])
        return LBP_OK;
    snprintf(key, sizeof(key), "%s/%s/%s", z->project, z->zone, in.name);
    return lbp_node_cache_put(z->ctx->cache, key, &in);
}

/* Looks missing instances up: one GET for a lone one, else one list per zone. */
static int lookup(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct gce_target *t,
                  size_t n, const bool *missing, struct lbp_call *call)
{
    bool *done = calloc(n ? n : 1, sizeof(bool));
    int rc = LBP_OK;
    if (!done)
        return LBP_NOMEM;
    for (size_t i = 0; rc == LBP_OK && i < n; i++) {
        size_t in_zone = 0;
        if (!missing[i] || done[i])
            continue;
        for (size_t j = i; j < n; j++)
            if (missing[j] && !done[j] && !strcmp(t[j].zone, t[i].zone) &&
                !strcmp(t[j].project, t[i].project))
                in_zone++;
        if (in_zone == 1) {
            struct gce_resp r = {0};
            struct gce_conf pc = *c;
            char path[300], key[300];
            struct gce_instance in;
            lbp_strlcpy(pc.project, t[i].project, sizeof(pc.project));
            snprintf(path, sizeof(path), "zones/%s/instances/%s", t[i].zone, t[i].name);
            rc = gce_get(ctx, &pc, path, "get instance", &r, call);
            if (rc == LBP_OK) {
                instance_from(r.json, t[i].zone, &in);
                snprintf(key, sizeof(key), "%s/%s/%s", t[i].project, t[i].zone, t[i].name);
                rc = lbp_node_cache_put(ctx->cache, key, &in);
            } else if (rc == LBP_NOT_FOUND) {
                rc = LBP_OK; /* no VM: the node is left out */
            }
            gce_resp_free(&r);
        } else {
            struct zone_scan z = {.ctx = ctx, .project = t[i].project, .zone = t[i].zone};
            struct gce_conf pc = *c;
            char path[300];
            lbp_strlcpy(pc.project, t[i].project, sizeof(pc.project));
            snprintf(path, sizeof(path), "zones/%s/instances", t[i].zone);
            rc = gce_list(ctx, &pc, path, NULL, "list instances", zone_each, &z, call);
        }
        for (size_t j = i; j < n; j++)
            if (!strcmp(t[j].zone, t[i].zone) && !strcmp(t[j].project, t[i].project))
                done[j] = true;
    }
    free(done);
    return rc;
}

/* Upstream's rule: an instance's tag is its longest tag that prefixes its name, else all. */
static void add_tags(const struct gce_instance *in, char tags[GCE_MAX_TAGS][64], size_t *n)
{
    size_t best = GCE_MAX_TAGS, best_len = 0;
    for (size_t i = 0; i < in->n_tags; i++) {
        size_t l = strlen(in->tags[i]);
        if (strncmp(in->name, in->tags[i], l) == 0 && l > best_len) {
            best = i;
            best_len = l;
        }
    }
    for (size_t i = 0; i < in->n_tags; i++) {
        bool seen = false;
        if (best < GCE_MAX_TAGS && i != best)
            continue;
        for (size_t k = 0; k < *n; k++)
            seen = seen || !strcmp(tags[k], in->tags[i]);
        if (!seen && *n < GCE_MAX_TAGS)
            lbp_strlcpy(tags[(*n)++], in->tags[i], 64);
    }
}

int gce_targets(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                const struct lbp_lb_spec *spec, bool want_lookup, struct gce_target **out,
                size_t *n_out, char tags[GCE_MAX_TAGS][64], size_t *n_tags, struct lbp_call *call)
{
    struct gce_target *t = calloc(spec->n_nodes ? spec->n_nodes : 1, sizeof(*t));
    bool *missing = calloc(spec->n_nodes ? spec->n_nodes : 1, sizeof(bool));
    size_t n = 0, k = 0, n_missing = 0;
    int rc = LBP_OK;

    if (!t || !missing) {
        free(t);
        free(missing);
        return LBP_NOMEM;
    }
    for (size_t i = 0; i < spec->n_nodes; i++) {
        char why[200];
        struct gce_target *x = &t[n];
        if (gce_provider_id(spec->nodes[i].provider_id, x->project, sizeof(x->project), x->zone,
                            sizeof(x->zone), x->name, sizeof(x->name), why,
                            sizeof(why)) != LBP_OK) {
            lbp_v(1, "gce: node %s left out: %s", spec->nodes[i].name, why);
            continue;
        }
        snprintf(x->url, sizeof(x->url), "projects/%s/zones/%s/instances/%s", x->project, x->zone,
                 x->name);
        n++;
    }
    if (want_lookup) {
        struct gce_instance in;
        char key[300];
        for (size_t i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "%s/%s/%s", t[i].project, t[i].zone, t[i].name);
            missing[i] = !lbp_node_cache_get(ctx->cache, key, &in);
            n_missing += missing[i];
        }
        if (n_missing) {
            /* workers that miss the same node wait for the one looking it up */
            pthread_mutex_lock(&ctx->lookup_mu);
            n_missing = 0;
            for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof(key), "%s/%s/%s", t[i].project, t[i].zone, t[i].name);
                missing[i] = !lbp_node_cache_get(ctx->cache, key, &in);
                n_missing += missing[i];
            }
            if (n_missing)
                rc = lookup(ctx, c, t, n, missing, call);
            pthread_mutex_unlock(&ctx->lookup_mu);
        }
        for (size_t i = 0; rc == LBP_OK && i < n; i++) {
            snprintf(key, sizeof(key), "%s/%s/%s", t[i].project, t[i].zone, t[i].name);
            if (!lbp_node_cache_get(ctx->cache, key, &in) || !in.exists) {
                lbp_v(1, "gce: instance %s not found: left out", t[i].url);
                continue;
            }
            if (n_tags)
                add_tags(&in, tags, n_tags);
            if (k != i)
                t[k] = t[i];
            k++;
        }
        n = k;
    }
    free(missing);
    if (rc) {
        free(t);
        return rc;
    }
    if (n_tags && c->n_tags) {
        *n_tags = c->n_tags;
        memcpy(tags, c->tags, sizeof(c->tags));
    }
    *out = t;
    *n_out = n;
    return LBP_OK;
}

/* ---- shared pieces ---- */

void gce_hc_name(const struct gce_conf *c, const struct lbp_lb_spec *spec, bool local, char *out,
                 size_t cap)
{
    if (local)
        lbp_strlcpy(out, spec->lb_name, cap);
    else
        snprintf(out, cap, "k8s-%s-node", c->cluster);
}

void gce_hc_ident(const struct gce_conf *c, const struct lbp_lb_spec *spec, bool local, char *name,
                  size_t ncap, char *desc, size_t dcap)
{
    gce_hc_name(c, spec, local, name, ncap);
    if (local)
        gce_desc(c, spec->namespace, spec->name, desc, dcap);
    else
        gce_desc(c, NULL, NULL, desc, dcap);
}

int gce_converge(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                 const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call,
                 gce_step_fn step)
{
    int rc = lbp_lro_poll(ctx->ops, spec->lb_name, gce_ops_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    for (int i = 0; i < GCE_MAX_STEPS; i++) {
        rc = step(ctx, spec, o, st, call);
        if (rc != GCE_STEP_AGAIN)
            return rc;
    }
    lbp_failf(call, "still converging after %d steps", GCE_MAX_STEPS);
    if (call)
        call->retry_after_s = 1;
    return LBP_PENDING;
}

int gce_step_end(struct lbp_provider_ctx *ctx, const char *lb_name, struct gce_ops *s, int rc,
                 struct lbp_call *call)
{
    if (rc != LBP_OK)
        return rc;
    return s->n ? gce_ops_wait(ctx, lb_name, s, call) : GCE_STEP_AGAIN;
}

void gce_rule_status(struct json_object *fr, struct lbp_lb_status *st)
{
    const char *ip = NULL;
    lbp_json_get_str(fr, "IPAddress", 4096, &ip, NULL, 0);
    lbp_strlcpy(st->ingress[0].ip, ip ? ip : "", sizeof(st->ingress[0].ip));
    st->n_ingress = st->ingress[0].ip[0] ? 1 : 0;
}

static struct json_object *str_array(const char *const *v, size_t n)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

struct json_object *gce_firewall_body(const struct gce_opts *o, const char *name, const char *desc,
                                      const char *proto, const char *const *ports, size_t n_ports,
                                      const char *const *ranges, size_t n_ranges,
                                      char tags[GCE_MAX_TAGS][64], size_t n_tags)
{
    struct json_object *fw = json_object_new_object(), *allowed = json_object_new_array(),
                       *rule = json_object_new_object(), *tg = json_object_new_array();
    char net[400], lower[8];
    size_t i;
    for (i = 0; proto[i] && i < sizeof(lower) - 1; i++)
        lower[i] = (char)(proto[i] | 0x20);
    lower[i] = '\0';
    snprintf(net, sizeof(net), "projects/%s/global/networks/%s", o->conf.network_project,
             o->conf.network);
    json_object_object_add(fw, "name", json_object_new_string(name));
    json_object_object_add(fw, "description", json_object_new_string(desc));
    json_object_object_add(fw, "network", json_object_new_string(net));
    json_object_object_add(rule, "IPProtocol", json_object_new_string(lower));
    json_object_object_add(rule, "ports", str_array(ports, n_ports));
    json_object_array_add(allowed, rule);
    json_object_object_add(fw, "allowed", allowed);
    json_object_object_add(fw, "sourceRanges", str_array(ranges, n_ranges));
    for (i = 0; i < n_tags; i++)
        json_object_array_add(tg, json_object_new_string(tags[i]));
    json_object_object_add(fw, "targetTags", tg);
    return fw;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A sorted, joined view of a string array, so order never counts as a change. */
static void sorted(struct json_object *a, char *out, size_t cap)
{
    const char *v[512];
    size_t n = 0, len = 0;
    out[0] = '\0';
    for (size_t i = 0;
         a && json_object_is_type(a, json_type_array) && i < json_object_array_length(a) && n < 512;
         i++)
        v[n++] = json_object_get_string(json_object_array_get_idx(a, i));
    qsort(v, n, sizeof(v[0]), cmp_str);
    for (size_t i = 0; i < n && len + 1 < cap; i++) {
        int w = snprintf(out + len, cap - len, "%s,", v[i] ? v[i] : "");
        if (w < 0)
            break;
        len += (size_t)w; /* past cap when cut: the loop ends */
    }
}

/* What of a firewall lbprov sets, in one comparable string. */
static void fw_key(struct json_object *fw, char *out, size_t cap)
{
    struct json_object *allowed = lbp_json_at(fw, "allowed");
    char a[2048] = "", r[2048], t[1024], p[512];
    size_t len = 0;
    for (size_t i = 0; allowed && json_object_is_type(allowed, json_type_array) &&
                       i < json_object_array_length(allowed);
         i++) {
        struct json_object *rule = json_object_array_get_idx(allowed, i);
        const char *proto = NULL;
        lbp_json_get_str(rule, "IPProtocol", 16, &proto, NULL, 0);
        sorted(lbp_json_at(rule, "ports"), p, sizeof(p));
        len += (size_t)snprintf(a + (len < sizeof(a) ? len : sizeof(a) - 1),
                                len < sizeof(a) ? sizeof(a) - len : 1, "%s:%s;", proto ? proto : "",
                                p);
    }
    sorted(lbp_json_at(fw, "sourceRanges"), r, sizeof(r));
    sorted(lbp_json_at(fw, "targetTags"), t, sizeof(t));
    snprintf(out, cap, "%s|%s|%s|%s|%s", a, r, t,
             gce_ref_path(json_object_get_string(lbp_json_at(fw, "network"))),
             json_object_get_string(lbp_json_at(fw, "description")));
}

int gce_firewall_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                        const struct lbp_lb_spec *spec, const char *fw_name,
                        struct json_object *want, struct gce_ops *s, struct lbp_call *call)
{
    struct gce_resp r = {0};
    char path[200], have_k[6000], want_k[6000], what[128];
    int rc;
    (void)spec;
    snprintf(path, sizeof(path), "global/firewalls/%s", fw_name);
    rc = gce_get(ctx, &o->conf, path, "get firewall", &r, call);
    if (rc == LBP_NOT_FOUND) {
        snprintf(what, sizeof(what), "insert firewall %s", fw_name);
        rc = gce_mutate(ctx, &o->conf, s, "POST", "global/firewalls", want, what, call);
    } else if (rc == LBP_OK) {
        fw_key(r.json, have_k, sizeof(have_k));
        fw_key(want, want_k, sizeof(want_k));
        if (strcmp(have_k, want_k) != 0) {
            snprintf(what, sizeof(what), "update firewall %s", fw_name);
            rc = gce_mutate(ctx, &o->conf, s, "PUT", path, want, what, call);
        }
    }
    gce_resp_free(&r);
    return rc;
}

/* The firewall letting Google's probes reach the health-check port on the nodes. */
int gce_probe_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                        const struct lbp_lb_spec *spec, const char *fw_name, const char *desc,
                        int port, char tags[GCE_MAX_TAGS][64], size_t n_tags, struct gce_ops *s,
                        struct lbp_call *call)
{
    char p[8];
    const char *ports[1] = {p};
    struct json_object *fw;
    int rc;
    snprintf(p, sizeof(p), "%d", port);
    fw = gce_firewall_body(o, fw_name, desc, "TCP", ports, 1, gce_probe_ranges, gce_n_probe_ranges,
                           tags, n_tags);
    rc = gce_firewall_ensure(ctx, o, spec, fw_name, fw, s, call);
    json_object_put(fw);
    return rc;
}

bool gce_rule_has_requested_ip(struct json_object *fr, const struct lbp_lb_spec *spec)
{
    const char *ip = NULL;
    if (!spec->requested_ip || !*spec->requested_ip)
        return true;
    lbp_json_get_str(fr, "IPAddress", 4096, &ip, NULL, 0);
    return strcmp(ip ? ip : "", spec->requested_ip) == 0;
}

int gce_hc_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                     const struct lbp_lb_spec *spec, bool local, const char *name,
                     const char *suffix, const char *desc, int port, char tags[GCE_MAX_TAGS][64],
                     size_t n_tags, struct gce_ops *s, struct lbp_call *call)
{
    char fw_name[GCE_NAME_MAX + 16];
    if (local)
        snprintf(fw_name, sizeof(fw_name), "k8s-%s%s", spec->lb_name, suffix);
    else
        snprintf(fw_name, sizeof(fw_name), "%s%s", name, suffix);
    return gce_probe_fw_ensure(ctx, o, spec, fw_name, desc, port, tags, n_tags, s, call);
}

/* The client firewall k8s-fw-<lb>: the Service's ports from its source ranges. */
int gce_client_fw_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                         const struct lbp_lb_spec *spec, char tags[GCE_MAX_TAGS][64], size_t n_tags,
                         struct gce_ops *s, struct lbp_call *call)
{
    char name[GCE_NAME_MAX], desc[700], portbuf[64][8];
    const char *ports[64], *any[1] = {"0.0.0.0/0"};
    size_t n = 0;
    struct json_object *want;
    int rc;
    for (size_t i = 0; i < spec->n_ports && n < 64; i++) {
        bool seen = false;
        snprintf(portbuf[n], sizeof(portbuf[n]), "%d", spec->ports[i].port);
        for (size_t k = 0; k < n; k++)
            seen = seen || !strcmp(ports[k], portbuf[n]);
        if (!seen) {
            ports[n] = portbuf[n];
            n++;
        }
    }
    snprintf(name, sizeof(name), "k8s-fw-%s", spec->lb_name);
    gce_desc(&o->conf, spec->namespace, spec->name, desc, sizeof(desc));
    want = gce_firewall_body(o, name, desc, o->proto, ports, n,
                             spec->n_source_ranges ? (const char *const *)spec->source_ranges : any,
                             spec->n_source_ranges ? spec->n_source_ranges : 1, tags, n_tags);
    rc = gce_firewall_ensure(ctx, o, spec, name, want, s, call);
    json_object_put(want);
    return rc;
}

int gce_delete_if(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct gce_ops *s,
                  const char *path, const char *what, bool owned_only, struct lbp_call *call)
{
    struct gce_resp r = {0};
    struct lbp_rest_error e;
    const char *desc = "";
    char w[160];
    int rc = gce_get(ctx, c, path, what, &r, call);
    if (rc == LBP_NOT_FOUND)
        return LBP_OK;
    if (rc)
        return rc;
    lbp_json_get_str(r.json, "description", 4096, &desc, NULL, 0);
    if (owned_only && !gce_desc_owned(desc, c->cluster, NULL, 0)) {
        lbp_v(2, "gce: %s is not this cluster's: left alone", path);
        gce_resp_free(&r);
        return LBP_OK;
    }
    gce_resp_free(&r);
    snprintf(w, sizeof(w), "delete %s", what);
    rc = gce_call(ctx, c, "DELETE", path, NULL, w, &r, &e, call);
    if (rc == LBP_OK)
        rc = ops_add(ctx, s, r.json, w, call);
    else if (rc == LBP_NOT_FOUND)
        rc = LBP_OK;
    else if (busy(&e, w, call))
        rc = LBP_PENDING;
    else if (!strcmp(e.code, "resourceInUseByAnotherResource"))
        rc = LBP_CONFLICT; /* the caller decides: wait, or leave a shared object */
    gce_resp_free(&r);
    return rc;
}
