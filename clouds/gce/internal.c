/*
 * internal.c — GCE's internal passthrough load balancer
 * (networking.gke.io/load-balancer-type: Internal), as upstream built it:
 * per zone an unmanaged instance group `k8s-ig--<cluster>` holding that
 * zone's nodes (shared by every internal LB of the cluster), a health check
 * (the shared `k8s-<cluster>-node` on 10256, or the Service's own on its
 * healthCheckNodePort), a regional backend service `a<uid>` over the
 * groups, the firewall `k8s-fw-a<uid>` and one for Google's probes, and an
 * INTERNAL forwarding rule `a<uid>` in the configured subnetwork with the
 * Service's ports (`allPorts` beyond five) and, when asked, global access.
 *
 * The same step loop as external.c: read, change what differs, follow
 * running Operations through LBP_PENDING. The backend service changes in
 * place (PATCH with its fingerprint; a stale one is read again); the rule
 * is made again only for what GCE cannot patch (ports, protocol, address,
 * subnetwork), while global access is patched.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clouds/gce/gce_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define MAX_ZONES 16
#define IG_BATCH 500

static const char *str(struct json_object *o, const char *path)
{
    const char *s = NULL;
    lbp_json_get_str(o, path, 4096, &s, NULL, 0);
    return s ? s : "";
}

static void ig_name(const struct gce_conf *c, char *out, size_t cap)
{
    snprintf(out, cap, "k8s-ig--%s", c->cluster);
}

/* ---- instance groups ---- */

struct zone_set {
    char zone[MAX_ZONES][64];
    size_t n;
};

static void zones_of(const struct gce_target *t, size_t n, struct zone_set *z)
{
    z->n = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < z->n; k++)
            seen = seen || !strcmp(z->zone[k], t[i].zone);
        if (!seen && z->n < MAX_ZONES)
            lbp_strlcpy(z->zone[z->n++], t[i].zone, sizeof(z->zone[0]));
    }
}

struct members {
    char (*url)[GCE_URL_MAX];
    size_t n, cap;
};

/* The group's members (listInstances pages), as paths from projects/ on. */
static int ig_members(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *ig_path,
                      struct members *m, struct lbp_call *call)
{
    char path[600], token[512] = "";
    int rc = LBP_OK;
    for (int page = 0; page < 100; page++) {
        struct gce_resp r = {0};
        struct json_object *items;
        const char *next = NULL;
        snprintf(path, sizeof(path), "%s/listInstances?maxResults=%d%s%s", ig_path, IG_BATCH,
                 token[0] ? "&pageToken=" : "", token);
        struct json_object *req = json_object_new_object();
        json_object_object_add(req, "instanceState", json_object_new_string("ALL"));
        rc = gce_call(ctx, c, "POST", path, req, "list instance group members", &r, NULL, call);
        json_object_put(req);
        if (rc) {
            gce_resp_free(&r);
            return rc;
        }
        items = lbp_json_at(r.json, "items");
        for (size_t i = 0; items && json_object_is_type(items, json_type_array) &&
                           i < json_object_array_length(items);
             i++) {
            const char *u = str(json_object_array_get_idx(items, i), "instance");
            if (m->n == m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                void *p = realloc(m->url, cap * sizeof(*m->url));
                if (!p) {
                    gce_resp_free(&r);
                    return LBP_NOMEM;
                }
                m->url = p;
                m->cap = cap;
            }
            lbp_strlcpy(m->url[m->n++], gce_ref_path(u), GCE_URL_MAX);
        }
        if (lbp_json_get_str(r.json, "nextPageToken", sizeof(token) - 1, &next, NULL, 0) ||
            !next[0] ||
            strspn(next, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_") != strlen(next)) {
            gce_resp_free(&r);
            break;
        }
        lbp_strlcpy(token, next, sizeof(token));
        gce_resp_free(&r);
    }
    return rc;
}

/* One zone's group: made when missing, then its members converged (adds first). */
static int ig_ensure(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *zone,
                     const struct gce_target *t, size_t n, struct gce_ops *s, bool *changed,
                     struct lbp_call *call)
{
    struct gce_resp r = {0};
    struct members m = {0};
    struct json_object *add = NULL, *del = NULL, *b;
    char name[96], coll[200], path[300], verb[400], desc[700];
    int rc;

    ig_name(c, name, sizeof(name));
    snprintf(coll, sizeof(coll), "zones/%s/instanceGroups", zone);
    snprintf(path, sizeof(path), "%s/%s", coll, name);
    rc = gce_get(ctx, c, path, "get instance group", &r, call);
    gce_resp_free(&r);
    if (rc == LBP_NOT_FOUND) {
        char net[400];
        gce_desc(c, NULL, NULL, desc, sizeof(desc));
        snprintf(net, sizeof(net), "projects/%s/global/networks/%s", c->network_project,
                 c->network);
        b = json_object_new_object();
        json_object_object_add(b, "name", json_object_new_string(name));
        json_object_object_add(b, "description", json_object_new_string(desc));
        json_object_object_add(b, "network", json_object_new_string(net));
        rc = gce_mutate(ctx, c, s, "POST", coll, b, "insert instance group", call);
        json_object_put(b);
        *changed = true;
        return rc;
    }
    if (rc)
        return rc;
    if ((rc = ig_members(ctx, c, path, &m, call)))
        goto out;
    add = json_object_new_array();
    del = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        bool have = false;
        if (strcmp(t[i].zone, zone))
            continue;
        for (size_t k = 0; k < m.n && !have; k++)
            have = !strcmp(m.url[k], t[i].url);
        if (!have && json_object_array_length(add) < IG_BATCH) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "instance", json_object_new_string(t[i].url));
            json_object_array_add(add, e);
        }
    }
    for (size_t k = 0; k < m.n; k++) {
        bool want = false;
        for (size_t i = 0; i < n && !want; i++)
            want = !strcmp(m.url[k], t[i].url);
        if (!want && json_object_array_length(del) < IG_BATCH) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "instance", json_object_new_string(m.url[k]));
            json_object_array_add(del, e);
        }
    }
    b = json_object_new_object();
    if (json_object_array_length(add)) {
        json_object_object_add(b, "instances", json_object_get(add));
        snprintf(verb, sizeof(verb), "%s/addInstances", path);
        rc = gce_mutate(ctx, c, s, "POST", verb, b, "add instances to instance group", call);
        *changed = true;
    } else if (json_object_array_length(del)) {
        json_object_object_add(b, "instances", json_object_get(del));
        snprintf(verb, sizeof(verb), "%s/removeInstances", path);
        rc = gce_mutate(ctx, c, s, "POST", verb, b, "remove instances from instance group", call);
        *changed = true;
    }
    json_object_put(b);
out:
    json_object_put(add);
    json_object_put(del);
    free(m.url);
    return rc;
}

static int igs_ensure(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                      const struct gce_target *t, size_t n, struct gce_ops *s, bool *changed,
                      struct lbp_call *call)
{
    struct zone_set z;
    int rc = LBP_OK;
    zones_of(t, n, &z);
    for (size_t i = 0; rc == LBP_OK && i < z.n; i++)
        rc = ig_ensure(ctx, c, z.zone[i], t, n, s, changed, call);
    return rc;
}

/* ---- health check (the newer healthChecks resource, as backend services need) ---- */

static int hc_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                     const struct lbp_lb_spec *spec, char tags[GCE_MAX_TAGS][64], size_t n_tags,
                     char *hc_path, size_t cap, struct gce_ops *s, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    struct lbp_health_check hc;
    bool local = lbp_health_check_kube(spec, &hc);
    struct gce_resp r = {0};
    struct json_object *want, *http;
    char name[GCE_NAME_MAX], path[200], desc[700];
    int64_t have_port = -1;
    int rc;

    gce_hc_ident(c, spec, local, name, sizeof(name), desc, sizeof(desc));
    snprintf(hc_path, cap, "projects/%s/global/healthChecks/%s", c->project, name);
    snprintf(path, sizeof(path), "global/healthChecks/%s", name);
    want = json_object_new_object();
    http = json_object_new_object();
    json_object_object_add(http, "port", json_object_new_int(hc.port));
    json_object_object_add(http, "requestPath", json_object_new_string(hc.path));
    json_object_object_add(want, "name", json_object_new_string(name));
    json_object_object_add(want, "description", json_object_new_string(desc));
    json_object_object_add(want, "type", json_object_new_string("HTTP"));
    json_object_object_add(want, "httpHealthCheck", http);
    json_object_object_add(want, "checkIntervalSec", json_object_new_int(hc.interval_s));
    json_object_object_add(want, "timeoutSec", json_object_new_int(hc.timeout_s));
    json_object_object_add(want, "healthyThreshold", json_object_new_int(hc.healthy));
    json_object_object_add(want, "unhealthyThreshold", json_object_new_int(hc.unhealthy));
    rc = gce_get(ctx, c, path, "get health check", &r, call);
    if (rc == LBP_NOT_FOUND) {
        rc =
            gce_mutate(ctx, c, s, "POST", "global/healthChecks", want, "insert health check", call);
    } else if (rc == LBP_OK) {
        lbp_json_get_int(r.json, "httpHealthCheck.port", 0, 65535, &have_port, NULL, 0);
        if (have_port != hc.port || strcmp(str(r.json, "httpHealthCheck.requestPath"), hc.path))
            rc = gce_mutate(ctx, c, s, "PUT", path, want, "update health check", call);
    }
    json_object_put(want);
    gce_resp_free(&r);
    if (rc)
        return rc;
    /* upstream's names: k8s-<cluster>-node-hc, or k8s-<lb>-hc */
    return gce_hc_fw_ensure(ctx, o, spec, local, name, "-hc", desc, hc.port, tags, n_tags, s, call);
}

/* ---- backend service ---- */

static struct json_object *bs_backends(const struct gce_conf *c, const struct zone_set *z)
{
    struct json_object *a = json_object_new_array();
    char url[400], name[96];
    ig_name(c, name, sizeof(name));
    for (size_t i = 0; i < z->n; i++) {
        struct json_object *b = json_object_new_object();
        snprintf(url, sizeof(url), "projects/%s/zones/%s/instanceGroups/%s", c->project, z->zone[i],
                 name);
        json_object_object_add(b, "group", json_object_new_string(url));
        json_object_object_add(b, "balancingMode", json_object_new_string("CONNECTION"));
        json_object_array_add(a, b);
    }
    return a;
}

static bool same_backends(struct json_object *have, struct json_object *want)
{
    size_t n =
        have && json_object_is_type(have, json_type_array) ? json_object_array_length(have) : 0;
    if (n != json_object_array_length(want))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *w = str(json_object_array_get_idx(want, i), "group");
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = !strcmp(gce_ref_path(str(json_object_array_get_idx(have, k), "group")), w);
        if (!found)
            return false;
    }
    return true;
}

static int bs_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                     const struct lbp_lb_spec *spec, const struct zone_set *z, const char *hc_path,
                     struct gce_ops *s, bool *changed, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    struct gce_resp r = {0};
    struct json_object *backends = bs_backends(c, z), *b, *hcs = json_object_new_array();
    char coll[200], path[300], desc[700], net[400];
    int rc;

    snprintf(coll, sizeof(coll), "regions/%s/backendServices", c->region);
    snprintf(path, sizeof(path), "%s/%s", coll, spec->lb_name);
    gce_desc(c, spec->namespace, spec->name, desc, sizeof(desc));
    json_object_array_add(hcs, json_object_new_string(hc_path));
    rc = gce_get(ctx, c, path, "get backend service", &r, call);
    if (rc == LBP_NOT_FOUND) {
        snprintf(net, sizeof(net), "projects/%s/global/networks/%s", c->network_project,
                 c->network);
        b = json_object_new_object();
        json_object_object_add(b, "name", json_object_new_string(spec->lb_name));
        json_object_object_add(b, "description", json_object_new_string(desc));
        json_object_object_add(b, "protocol", json_object_new_string(o->proto));
        json_object_object_add(b, "loadBalancingScheme", json_object_new_string("INTERNAL"));
        json_object_object_add(b, "network", json_object_new_string(net));
        json_object_object_add(b, "sessionAffinity", json_object_new_string(o->affinity));
        json_object_object_add(b, "healthChecks", json_object_get(hcs));
        if (z->n)
            json_object_object_add(b, "backends", json_object_get(backends));
        rc = gce_mutate(ctx, c, s, "POST", coll, b, "insert backend service", call);
        json_object_put(b);
        *changed = true;
    } else if (rc == LBP_OK) {
        const char *aff = str(r.json, "sessionAffinity");
        bool hc_ok = !strcmp(gce_ref_path(str(r.json, "healthChecks[0]")), hc_path);
        if (!hc_ok || strcmp(aff[0] ? aff : "NONE", o->affinity) ||
            strcmp(str(r.json, "protocol"), o->proto) ||
            !same_backends(lbp_json_at(r.json, "backends"), backends)) {
            struct lbp_rest_error e;
            struct gce_resp pr = {0};
            b = json_object_new_object();
            json_object_object_add(b, "fingerprint",
                                   json_object_new_string(str(r.json, "fingerprint")));
            json_object_object_add(b, "protocol", json_object_new_string(o->proto));
            json_object_object_add(b, "sessionAffinity", json_object_new_string(o->affinity));
            json_object_object_add(b, "healthChecks", json_object_get(hcs));
            json_object_object_add(b, "backends", json_object_get(backends));
            rc = gce_call(ctx, c, "PATCH", path, b, "patch backend service", &pr, &e, call);
            if (rc == LBP_OK)
                rc = gce_ops_add(s, pr.json, "patch backend service", call);
            else if (rc == LBP_CONFLICT && !strcmp(e.code, "conditionNotMet"))
                rc = GCE_STEP_AGAIN; /* changed meanwhile: read it again */
            gce_resp_free(&pr);
            json_object_put(b);
            *changed = true;
        }
    }
    gce_resp_free(&r);
    json_object_put(backends);
    json_object_put(hcs);
    return rc;
}

/* ---- the rule ---- */

static void rule_ports(const struct lbp_lb_spec *spec, char ports[5][8], size_t *n, bool *all)
{
    *n = 0;
    *all = false;
    for (size_t i = 0; i < spec->n_ports; i++) {
        char p[8];
        bool seen = false;
        snprintf(p, sizeof(p), "%d", spec->ports[i].port);
        for (size_t k = 0; k < *n; k++)
            seen = seen || !strcmp(ports[k], p);
        if (seen)
            continue;
        if (*n == 5) {
            *all = true; /* GCE takes at most five: upstream forwards every port then */
            return;
        }
        lbp_strlcpy(ports[(*n)++], p, 8);
    }
}

static bool fr_same(struct json_object *fr, const struct gce_opts *o,
                    const struct lbp_lb_spec *spec, const char *bs_path)
{
    char ports[5][8], have[64] = "", want[64] = "";
    size_t n;
    bool all;
    struct json_object *hp = lbp_json_at(fr, "ports");
    rule_ports(spec, ports, &n, &all);
    for (size_t i = 0; i < n && !all; i++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s,", ports[i]);
    for (size_t i = 0; hp && i < json_object_array_length(hp) && i < 5; i++)
        snprintf(have + strlen(have), sizeof(have) - strlen(have), "%s,",
                 json_object_get_string(json_object_array_get_idx(hp, i)));
    if (strcmp(str(fr, "IPProtocol"), o->proto) ||
        strcmp(str(fr, "loadBalancingScheme"), "INTERNAL") ||
        strcmp(gce_ref_path(str(fr, "backendService")), bs_path) ||
        (all !=
         (lbp_json_at(fr, "allPorts") && json_object_get_boolean(lbp_json_at(fr, "allPorts")))) ||
        (!all && strcmp(have, want)))
        return false;
    if (o->subnet[0] && strcmp(gce_ref_path(str(fr, "subnetwork")), o->subnet))
        return false;
    return gce_rule_has_requested_ip(fr, spec);
}

static int int_step(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    struct gce_resp fr = {0};
    struct gce_target *t = NULL;
    struct gce_ops s;
    struct zone_set z;
    char tags[GCE_MAX_TAGS][64], fr_path[200], bs_path[400], hc_path[400], desc[700];
    size_t n = 0, n_tags = 0;
    bool changed = false;
    int rc;

    gce_ops_init(&s, "");
    snprintf(fr_path, sizeof(fr_path), "regions/%s/forwardingRules/%s", c->region, spec->lb_name);
    snprintf(bs_path, sizeof(bs_path), "projects/%s/regions/%s/backendServices/%s", c->project,
             c->region, spec->lb_name);
    gce_desc(c, spec->namespace, spec->name, desc, sizeof(desc));
    rc = gce_targets(ctx, c, spec, true, &t, &n, tags, &n_tags, call);
    if (rc)
        goto out;
    if (!n_tags) {
        lbp_failf(call, n ? "the nodes' instances have no network tags for the firewalls: set "
                            "node-tags in the cloud-config or tag the instances"
                          : "no node has a GCE instance (spec.providerID gce://...) yet");
        if (call)
            call->retry_after_s = 30;
        rc = n ? LBP_INVALID : LBP_RETRY;
        goto out;
    }
    zones_of(t, n, &z);
    rc = gce_get(ctx, c, fr_path, "get forwarding rule", &fr, call);
    if (rc && rc != LBP_NOT_FOUND)
        goto out;
    rc = LBP_OK;
    /* 1. A rule GCE cannot patch into shape is made again; global access is patched. */
    if (fr.json && !fr_same(fr.json, o, spec, bs_path)) {
        gce_ops_init(&s, "delete forwarding rule to make it again");
        rc = gce_mutate(ctx, c, &s, "DELETE", fr_path, NULL, "delete forwarding rule", call);
        goto step_end;
    }
    /* 2. Groups, health check, firewalls. */
    gce_ops_init(&s, "make instance groups, health check and firewalls");
    if ((rc = igs_ensure(ctx, c, t, n, &s, &changed, call)) ||
        (rc = hc_ensure(ctx, o, spec, tags, n_tags, hc_path, sizeof(hc_path), &s, call)))
        goto out;
    if ((rc = gce_client_fw_ensure(ctx, o, spec, tags, n_tags, &s, call)))
        goto out;
    if (s.n || changed)
        goto step_end;
    /* 3. The backend service over the groups. */
    gce_ops_init(&s, "make backend service");
    rc = bs_ensure(ctx, o, spec, &z, hc_path, &s, &changed, call);
    if (rc || changed)
        goto step_end;
    /* 4. The rule. */
    if (!fr.json) {
        struct json_object *b = json_object_new_object(), *pa;
        char ports[5][8], net[400];
        size_t np;
        bool all;
        rule_ports(spec, ports, &np, &all);
        snprintf(net, sizeof(net), "projects/%s/global/networks/%s", c->network_project,
                 c->network);
        json_object_object_add(b, "name", json_object_new_string(spec->lb_name));
        json_object_object_add(b, "description", json_object_new_string(desc));
        json_object_object_add(b, "IPProtocol", json_object_new_string(o->proto));
        json_object_object_add(b, "loadBalancingScheme", json_object_new_string("INTERNAL"));
        json_object_object_add(b, "backendService", json_object_new_string(bs_path));
        json_object_object_add(b, "network", json_object_new_string(net));
        if (o->subnet[0])
            json_object_object_add(b, "subnetwork", json_object_new_string(o->subnet));
        if (spec->requested_ip && *spec->requested_ip)
            json_object_object_add(b, "IPAddress", json_object_new_string(spec->requested_ip));
        if (o->global_access)
            json_object_object_add(b, "allowGlobalAccess", json_object_new_boolean(1));
        if (all) {
            json_object_object_add(b, "allPorts", json_object_new_boolean(1));
        } else {
            pa = json_object_new_array();
            for (size_t i = 0; i < np; i++)
                json_object_array_add(pa, json_object_new_string(ports[i]));
            json_object_object_add(b, "ports", pa);
        }
        gce_ops_init(&s, "insert forwarding rule");
        snprintf(fr_path, sizeof(fr_path), "regions/%s/forwardingRules", c->region);
        rc = gce_mutate(ctx, c, &s, "POST", fr_path, b, "insert forwarding rule", call);
        json_object_put(b);
        goto step_end;
    }
    {
        struct json_object *ga = lbp_json_at(fr.json, "allowGlobalAccess");
        bool have = ga && json_object_get_boolean(ga);
        if (have != o->global_access) {
            struct json_object *b = json_object_new_object();
            json_object_object_add(b, "allowGlobalAccess",
                                   json_object_new_boolean(o->global_access));
            gce_ops_init(&s, "patch forwarding rule global access");
            rc = gce_mutate(ctx, c, &s, "PATCH", fr_path, b, "patch forwarding rule", call);
            json_object_put(b);
            goto step_end;
        }
    }
    gce_rule_status(fr.json, st);
    rc = LBP_OK;
    goto out;
step_end:
    rc = gce_step_end(ctx, spec->lb_name, &s, rc, call);
out:
    free(t);
    gce_resp_free(&fr);
    return rc;
}

int gce_int_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    return gce_converge(ctx, spec, o, st, call, int_step);
}

int gce_int_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    int rc = lbp_lro_poll(ctx->ops, spec->lb_name, gce_ops_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    for (int i = 0; i < GCE_MAX_STEPS; i++) {
        struct gce_target *t = NULL;
        struct gce_ops s;
        struct zone_set z;
        size_t n = 0;
        bool changed = false;
        char hc_path[400];
        struct lbp_health_check hc;
        char name[GCE_NAME_MAX];
        rc = gce_targets(ctx, c, spec, true, &t, &n, NULL, NULL, call);
        if (rc)
            return rc;
        gce_ops_init(&s, "update instance groups");
        rc = igs_ensure(ctx, c, t, n, &s, &changed, call);
        zones_of(t, n, &z);
        /* a node in a new zone brings a new group the backend service must name */
        if (rc == LBP_OK && !changed) {
            gce_hc_name(c, spec, lbp_health_check_kube(spec, &hc), name, sizeof(name));
            snprintf(hc_path, sizeof(hc_path), "projects/%s/global/healthChecks/%s", c->project,
                     name);
            rc = bs_ensure(ctx, o, spec, &z, hc_path, &s, &changed, call);
        }
        free(t);
        if (rc == GCE_STEP_AGAIN)
            continue;
        if (rc || !changed)
            return rc;
        if (s.n)
            return gce_ops_wait(ctx, spec->lb_name, &s, call);
    }
    return LBP_OK;
}

int gce_int_remove(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                   const struct lbp_lb_spec *spec, struct lbp_call *call)
{
    struct gce_ops s;
    struct gce_resp r = {0};
    struct json_object *zones;
    char p[3][200], name[96];
    int rc = lbp_lro_poll(ctx->ops, spec->lb_name, gce_ops_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    /* The rule went with the external objects (both models name it a<uid>). */
    gce_ops_init(&s, "delete backend service and health-check firewall");
    snprintf(p[0], sizeof(p[0]), "regions/%s/backendServices/%s", c->region, spec->lb_name);
    snprintf(p[1], sizeof(p[1]), "global/firewalls/k8s-%s-hc", spec->lb_name);
    if ((rc = gce_delete_if(ctx, c, &s, p[0], "backend service", true, call)) ||
        (rc = gce_delete_if(ctx, c, &s, p[1], "health-check firewall", true, call)))
        return rc == LBP_CONFLICT ? LBP_RETRY : rc;
    if (s.n)
        return gce_ops_wait(ctx, spec->lb_name, &s, call);
    /* The Service's own check; the shared check, its firewall and the groups once unused. */
    gce_ops_init(&s, "delete health checks and instance groups");
    snprintf(p[2], sizeof(p[2]), "global/healthChecks/%s", spec->lb_name);
    if ((rc = gce_delete_if(ctx, c, &s, p[2], "health check", true, call)))
        return rc == LBP_CONFLICT ? LBP_RETRY : rc;
    snprintf(p[2], sizeof(p[2]), "global/healthChecks/k8s-%s-node", c->cluster);
    rc = gce_delete_if(ctx, c, &s, p[2], "shared health check", true, call);
    if (rc == LBP_CONFLICT) {
        return LBP_OK; /* another internal LB uses it, and so the groups */
    } else if (rc) {
        return rc;
    }
    snprintf(p[2], sizeof(p[2]), "global/firewalls/k8s-%s-node-hc", c->cluster);
    if (s.n)
        gce_ops_then_delete(&s, p[2]);
    else if ((rc = gce_delete_if(ctx, c, &s, p[2], "shared health-check firewall", true, call)))
        return rc;
    /* the region's zones: each may hold a group */
    snprintf(p[0], sizeof(p[0]), "regions/%s", c->region);
    rc = gce_get(ctx, c, p[0], "get region", &r, call);
    if (rc)
        return rc == LBP_NOT_FOUND ? LBP_OK : rc;
    ig_name(c, name, sizeof(name));
    zones = lbp_json_at(r.json, "zones");
    for (size_t i = 0; rc == LBP_OK && zones && json_object_is_type(zones, json_type_array) &&
                       i < json_object_array_length(zones);
         i++) {
        const char *z = json_object_get_string(json_object_array_get_idx(zones, i));
        const char *zn = z && strrchr(z, '/') ? strrchr(z, '/') + 1 : z;
        if (!zn || !gce_name_valid(zn))
            continue;
        snprintf(p[1], sizeof(p[1]), "zones/%s/instanceGroups/%s", zn, name);
        rc = gce_delete_if(ctx, c, &s, p[1], "instance group", true, call);
        if (rc == LBP_CONFLICT)
            rc = LBP_OK; /* a backend service still names it */
    }
    gce_resp_free(&r);
    if (rc)
        return rc;
    return gce_ops_wait(ctx, spec->lb_name, &s, call);
}
