/*
 * external.c — GCE's external passthrough load balancer, as upstream's
 * provider built it: a regional static address, a target pool `a<uid>`
 * holding the nodes' instances with a legacy HTTP health check (the shared
 * `k8s-<cluster>-node` on kube-proxy's 10256, or the Service's own on its
 * healthCheckNodePort for externalTrafficPolicy Local), a forwarding rule
 * `a<uid>` (IPProtocol, portRange min-max of the Service's ports), the
 * firewall `k8s-fw-a<uid>` for clients and one for Google's probes.
 *
 * ensure is a loop of steps, each reading what exists and changing only
 * what differs: a step whose Operations are still running returns
 * LBP_PENDING (the reconciler asks again later and the next call polls
 * them first); a step whose Operations came back DONE reads again and goes
 * on. A converged LB costs five reads (rule, pool, firewall, health check,
 * probe firewall); the address is read only when the rule has to be made.
 * Changes GCE cannot make in place (protocol, ports, address, tier,
 * session affinity) delete the rule (and the pool for affinity) and make
 * it again from the same reserved address, so the IP survives.
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

#define POOL_BATCH 1000 /* instances per insert or addInstance (GCE's limit) */

static const char *str(struct json_object *o, const char *path)
{
    const char *s = NULL;
    lbp_json_get_str(o, path, 4096, &s, NULL, 0);
    return s ? s : "";
}

/* ---- health checks ---- */

static struct json_object *hc_body(const struct lbp_health_check *hc, const char *name,
                                   const char *desc)
{
    struct json_object *b = json_object_new_object();
    json_object_object_add(b, "name", json_object_new_string(name));
    json_object_object_add(b, "description", json_object_new_string(desc));
    json_object_object_add(b, "port", json_object_new_int(hc->port));
    json_object_object_add(b, "requestPath", json_object_new_string(hc->path));
    json_object_object_add(b, "checkIntervalSec", json_object_new_int(hc->interval_s));
    json_object_object_add(b, "timeoutSec", json_object_new_int(hc->timeout_s));
    json_object_object_add(b, "healthyThreshold", json_object_new_int(hc->healthy));
    json_object_object_add(b, "unhealthyThreshold", json_object_new_int(hc->unhealthy));
    return b;
}

static bool hc_same(struct json_object *have, const struct lbp_health_check *hc)
{
    static const char *const k[] = {"port", "checkIntervalSec", "timeoutSec", "healthyThreshold",
                                    "unhealthyThreshold"};
    const int v[] = {hc->port, hc->interval_s, hc->timeout_s, hc->healthy, hc->unhealthy};
    for (size_t i = 0; i < 5; i++) {
        int64_t x = -1;
        lbp_json_get_int(have, k[i], 0, 1 << 20, &x, NULL, 0);
        if (x != v[i])
            return false;
    }
    return strcmp(str(have, "requestPath"), hc->path) == 0;
}

/* The legacy HTTP health check a target pool names, and the firewall for Google's probes. */
static int hc_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                     const struct lbp_lb_spec *spec, char tags[GCE_MAX_TAGS][64], size_t n_tags,
                     struct gce_ops *s, struct lbp_call *call)
{
    struct lbp_health_check hc;
    bool local = lbp_health_check_kube(spec, &hc);
    struct gce_resp r = {0};
    struct json_object *want;
    char name[GCE_NAME_MAX], path[200], desc[700], what[128];
    int rc;

    gce_hc_ident(&o->conf, spec, local, name, sizeof(name), desc, sizeof(desc));
    snprintf(path, sizeof(path), "global/httpHealthChecks/%s", name);
    want = hc_body(&hc, name, desc);
    rc = gce_get(ctx, &o->conf, path, "get health check", &r, call);
    if (rc == LBP_NOT_FOUND) {
        snprintf(what, sizeof(what), "insert health check %s", name);
        rc = gce_mutate(ctx, &o->conf, s, "POST", "global/httpHealthChecks", want, what, call);
    } else if (rc == LBP_OK && !hc_same(r.json, &hc)) {
        snprintf(what, sizeof(what), "update health check %s", name);
        rc = gce_mutate(ctx, &o->conf, s, "PUT", path, want, what, call);
    }
    json_object_put(want);
    gce_resp_free(&r);
    if (rc)
        return rc;
    /* k8s-<lb>-http-hc, or k8s-<cluster>-node-http-hc for the shared check */
    return gce_hc_fw_ensure(ctx, o, spec, local, name, "-http-hc", desc, hc.port, tags, n_tags, s,
                            call);
}

/* ---- the address ---- */

struct addr_find {
    const char *ip, *cluster;
    char name[GCE_NAME_MAX];
    char svc[520]; /* the Service of this cluster that reserved it, if one did */
};

static int addr_each(void *ud, struct json_object *item)
{
    struct addr_find *f = ud;
    if (strcmp(str(item, "address"), f->ip) == 0) {
        lbp_strlcpy(f->name, str(item, "name"), sizeof(f->name));
        gce_desc_owned(str(item, "description"), f->cluster, f->svc, sizeof(f->svc));
    }
    return LBP_OK;
}

/*
 * The IP the rule will take, into ip ("" while an address is on its way).
 * The address named after the LB is lbprov's; one the user reserved under
 * another name for loadBalancerIP is used as it is and never deleted.
 */
static int addr_ensure(struct lbp_provider_ctx *ctx, const struct gce_opts *o,
                       const struct lbp_lb_spec *spec, char *ip, size_t cap, struct gce_ops *s,
                       struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    const char *want = spec->requested_ip && *spec->requested_ip ? spec->requested_ip : NULL;
    struct gce_resp r = {0};
    struct json_object *b;
    char path[200], coll[128], desc[700], what[128];
    int rc;

    ip[0] = '\0';
    snprintf(coll, sizeof(coll), "regions/%s/addresses", c->region);
    snprintf(path, sizeof(path), "%s/%s", coll, spec->lb_name);
    rc = gce_get(ctx, c, path, "get address", &r, call);
    if (rc == LBP_OK) {
        const char *have = str(r.json, "address"), *tier = str(r.json, "networkTier");
        if (!strcmp(str(r.json, "status"), "RESERVING")) {
            gce_resp_free(&r);
            lbp_failf(call, "address %s is being reserved", spec->lb_name);
            call->retry_after_s = 2;
            return LBP_PENDING;
        }
        if ((want && strcmp(have, want)) || strcmp(tier[0] ? tier : "PREMIUM", o->tier)) {
            /* another IP or tier: release ours, then reserve again */
            gce_resp_free(&r);
            snprintf(what, sizeof(what), "delete address %s", spec->lb_name);
            return gce_mutate(ctx, c, s, "DELETE", path, NULL, what, call);
        }
        lbp_strlcpy(ip, have, cap);
        gce_resp_free(&r);
        return LBP_OK;
    }
    if (rc != LBP_NOT_FOUND)
        return rc;
    if (want) {
        struct addr_find f = {.ip = want, .cluster = c->cluster};
        char filter[96];
        snprintf(filter, sizeof(filter), "address = \"%s\"", want);
        rc = gce_list(ctx, c, coll, filter, "list addresses", addr_each, &f, call);
        if (rc)
            return rc;
        if (f.name[0] && f.svc[0]) {
            lbp_failf(call,
                      "spec.loadBalancerIP %s is in use by another resource: Service %s holds "
                      "it",
                      want, f.svc);
            return LBP_INVALID;
        }
        if (f.name[0]) {
            lbp_strlcpy(ip, want, cap); /* the user's own reservation */
            return LBP_OK;
        }
    }
    gce_desc(c, spec->namespace, spec->name, desc, sizeof(desc));
    b = json_object_new_object();
    json_object_object_add(b, "name", json_object_new_string(spec->lb_name));
    json_object_object_add(b, "description", json_object_new_string(desc));
    json_object_object_add(b, "addressType", json_object_new_string("EXTERNAL"));
    json_object_object_add(b, "networkTier", json_object_new_string(o->tier));
    if (want)
        json_object_object_add(b, "address", json_object_new_string(want));
    snprintf(what, sizeof(what), "insert address %s", spec->lb_name);
    rc = gce_mutate(ctx, c, s, "POST", coll, b, what, call);
    json_object_put(b);
    return rc;
}

/* ---- the target pool ---- */

struct pool_diff {
    const struct gce_target *t;
    size_t n;
    struct json_object *have; /* instance URLs */
};

static bool inst_match(const void *have, const void *want, void *ud)
{
    (void)ud;
    return strcmp(gce_ref_path(*(const char *const *)have),
                  ((const struct gce_target *)want)->url) == 0;
}

static struct json_object *inst_list(const struct gce_target *t, const size_t *idx, size_t n)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "instance", json_object_new_string(t[idx ? idx[i] : i].url));
        json_object_array_add(a, e);
    }
    return a;
}

/* Adds then (once that is done) removes the difference, at most POOL_BATCH a call. */
static int pool_members(struct lbp_provider_ctx *ctx, const struct gce_conf *c, const char *path,
                        struct json_object *pool, const struct gce_target *t, size_t n,
                        struct gce_ops *s, bool *changed, bool *more, struct lbp_call *call)
{
    struct json_object *have = lbp_json_at(pool, "instances");
    size_t n_have =
        have && json_object_is_type(have, json_type_array) ? json_object_array_length(have) : 0;
    const char **hv = calloc(n_have ? n_have : 1, sizeof(*hv));
    size_t *add = NULL, *del = NULL, n_add = 0, n_del = 0;
    struct lbp_diff_ops ops = {.match = inst_match};
    char verb[300];
    int rc;

    if (!hv)
        return LBP_NOMEM;
    for (size_t i = 0; i < n_have; i++)
        hv[i] = json_object_get_string(json_object_array_get_idx(have, i));
    rc = lbp_target_diff(hv, n_have, sizeof(*hv), t, n, sizeof(*t), &ops, NULL, &add, &n_add, &del,
                         &n_del);
    if (rc == LBP_OK && n_add) {
        struct json_object *b = json_object_new_object();
        size_t k = n_add > POOL_BATCH ? POOL_BATCH : n_add;
        json_object_object_add(b, "instances", inst_list(t, add, k));
        snprintf(verb, sizeof(verb), "%s/addInstance", path);
        rc = gce_mutate(ctx, c, s, "POST", verb, b, "add instances to target pool", call);
        json_object_put(b);
        *changed = true;
    }
    /* the removal may follow at once when the addition is already done (not before: GCE
       refuses a second change while one runs on the pool) */
    if (rc == LBP_OK && n_del && !s->n && !(n_add > POOL_BATCH)) {
        struct json_object *b = json_object_new_object(), *a = json_object_new_array();
        for (size_t i = 0; i < n_del && i < POOL_BATCH; i++) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "instance", json_object_new_string(hv[del[i]]));
            json_object_array_add(a, e);
        }
        json_object_object_add(b, "instances", a);
        snprintf(verb, sizeof(verb), "%s/removeInstance", path);
        rc = gce_mutate(ctx, c, s, "POST", verb, b, "remove instances from target pool", call);
        json_object_put(b);
        *changed = true;
    }
    free(add);
    free(del);
    free(hv);
    return rc;
}

static void paths(const struct gce_conf *c, const struct lbp_lb_spec *spec, char *fr, char *pool,
                  size_t cap)
{
    snprintf(fr, cap, "regions/%s/forwardingRules/%s", c->region, spec->lb_name);
    snprintf(pool, cap, "regions/%s/targetPools/%s", c->region, spec->lb_name);
}

/* The rule as it should be, for comparing and making. */
static bool fr_same(struct json_object *fr, const struct gce_opts *o,
                    const struct lbp_lb_spec *spec, const char *pool_path)
{
    char range[32];
    const char *tier = str(fr, "networkTier");
    snprintf(range, sizeof(range), "%d-%d", o->port_lo, o->port_hi);
    if (strcmp(str(fr, "IPProtocol"), o->proto) || strcmp(str(fr, "portRange"), range) ||
        strcmp(tier[0] ? tier : "PREMIUM", o->tier) ||
        strcmp(gce_ref_path(str(fr, "target")), pool_path) ||
        strcmp(str(fr, "loadBalancingScheme"), "EXTERNAL"))
        return false;
    return gce_rule_has_requested_ip(fr, spec);
}

static int ext_step(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    struct gce_resp fr = {0}, pool = {0};
    struct gce_target *t = NULL;
    struct gce_ops s;
    struct lbp_health_check hc;
    char tags[GCE_MAX_TAGS][64], fr_path[200], pool_path[200], full_pool[400], hc_path[400],
        hc_name[GCE_NAME_MAX], desc[700], ip[64] = "", what[128];
    size_t n = 0, n_tags = 0;
    bool local = lbp_health_check_kube(spec, &hc), fr_ok = false, changed = false, more = false;
    int rc;

    gce_ops_init(&s, "");
    paths(c, spec, fr_path, pool_path, sizeof(fr_path));
    snprintf(full_pool, sizeof(full_pool), "projects/%s/%s", c->project, pool_path);
    gce_hc_name(c, spec, local, hc_name, sizeof(hc_name));
    snprintf(hc_path, sizeof(hc_path), "projects/%s/global/httpHealthChecks/%s", c->project,
             hc_name);
    gce_desc(c, spec->namespace, spec->name, desc, sizeof(desc));

    rc = gce_targets(ctx, c, spec, true, &t, &n, tags, &n_tags, call);
    if (rc)
        goto out;
    if (!n_tags) {
        if (n)
            lbp_failf(call, "the nodes' instances have no network tags for the firewalls: set "
                            "node-tags in the cloud-config or tag the instances");
        else
            lbp_failf(call, "no node has a GCE instance (spec.providerID gce://...) yet");
        if (call)
            call->retry_after_s = 30;
        rc = n ? LBP_INVALID : LBP_RETRY;
        goto out;
    }
    rc = gce_get(ctx, c, fr_path, "get forwarding rule", &fr, call);
    if (rc && rc != LBP_NOT_FOUND)
        goto out;
    rc = gce_get(ctx, c, pool_path, "get target pool", &pool, call);
    if (rc && rc != LBP_NOT_FOUND)
        goto out;
    rc = LBP_OK;
    {
        const char *aff = pool.json ? str(pool.json, "sessionAffinity") : "";
        bool pool_redo = pool.json && strcmp(aff[0] ? aff : "NONE", o->affinity) != 0;
        fr_ok = fr.json && fr_same(fr.json, o, spec, full_pool) && !pool_redo;
        /* 1. What cannot change in place goes first: the rule, then the pool. */
        if (fr.json && !fr_ok) {
            gce_ops_init(&s, "delete forwarding rule to make it again");
            snprintf(what, sizeof(what), "delete forwarding rule %s", spec->lb_name);
            rc = gce_mutate(ctx, c, &s, "DELETE", fr_path, NULL, what, call);
            goto step_end;
        }
        if (pool_redo) {
            gce_ops_init(&s, "delete target pool to change session affinity");
            rc = gce_mutate(ctx, c, &s, "DELETE", pool_path, NULL, "delete target pool", call);
            goto step_end;
        }
    }
    /* 2. Independent objects, together: address, health check, firewalls. */
    gce_ops_init(&s, "make address, health check and firewalls");
    if (!fr.json && (rc = addr_ensure(ctx, o, spec, ip, sizeof(ip), &s, call)))
        goto out;
    if ((rc = hc_ensure(ctx, o, spec, tags, n_tags, &s, call)) ||
        (rc = gce_client_fw_ensure(ctx, o, spec, tags, n_tags, &s, call)))
        goto out;
    if (s.n)
        goto step_end;
    /* 3. The pool. */
    if (!pool.json) {
        struct json_object *b = json_object_new_object(), *insts = json_object_new_array(),
                           *hcs = json_object_new_array();
        for (size_t i = 0; i < n && i < POOL_BATCH; i++)
            json_object_array_add(insts, json_object_new_string(t[i].url));
        json_object_array_add(hcs, json_object_new_string(hc_path));
        json_object_object_add(b, "name", json_object_new_string(spec->lb_name));
        json_object_object_add(b, "description", json_object_new_string(desc));
        json_object_object_add(b, "instances", insts);
        json_object_object_add(b, "healthChecks", hcs);
        json_object_object_add(b, "sessionAffinity", json_object_new_string(o->affinity));
        gce_ops_init(&s, "insert target pool");
        snprintf(what, sizeof(what), "insert target pool %s", spec->lb_name);
        snprintf(fr_path, sizeof(fr_path), "regions/%s/targetPools", c->region);
        rc = gce_mutate(ctx, c, &s, "POST", fr_path, b, what, call);
        json_object_put(b);
        changed = true;
        goto step_end;
    }
    {
        struct json_object *hcs = lbp_json_at(pool.json, "healthChecks");
        const char *cur = hcs && json_object_array_length(hcs)
                              ? json_object_get_string(json_object_array_get_idx(hcs, 0))
                              : NULL;
        if (!cur || strcmp(gce_ref_path(cur), hc_path)) {
            /* Cluster ↔ Local: swap the pool's check, then drop the Service's own one */
            struct json_object *b = json_object_new_object(), *a = json_object_new_array(),
                               *e = json_object_new_object();
            char vpath[300], old[300];
            json_object_object_add(e, "healthCheck", json_object_new_string(cur ? cur : hc_path));
            json_object_array_add(a, e);
            json_object_object_add(b, "healthChecks", a);
            snprintf(vpath, sizeof(vpath), "%s/%s", pool_path,
                     cur ? "removeHealthCheck" : "addHealthCheck");
            gce_ops_init(&s,
                         cur ? "remove the pool's health check" : "add the pool's health check");
            rc = gce_mutate(ctx, c, &s, "POST", vpath, b, s.what, call);
            json_object_put(b);
            snprintf(old, sizeof(old), "/httpHealthChecks/%s", spec->lb_name);
            if (rc == LBP_OK && cur && !local && strstr(cur, old) &&
                strlen(strstr(cur, old)) == strlen(old)) {
                char p1[200], p2[200];
                snprintf(p1, sizeof(p1), "global/httpHealthChecks/%s", spec->lb_name);
                snprintf(p2, sizeof(p2), "global/firewalls/k8s-%s-http-hc", spec->lb_name);
                if (s.n) {
                    gce_ops_then_delete(&s, p1);
                    gce_ops_then_delete(&s, p2);
                } else {
                    struct gce_ops s2;
                    gce_ops_init(&s2, "delete the Service's health check");
                    if ((rc = gce_mutate(ctx, c, &s2, "DELETE", p1, NULL, "delete health check",
                                         call)) == LBP_OK)
                        rc = gce_mutate(ctx, c, &s2, "DELETE", p2, NULL,
                                        "delete health-check firewall", call);
                    s = s2;
                }
            }
            changed = true;
            goto step_end;
        }
    }
    gce_ops_init(&s, "update target pool members");
    rc = pool_members(ctx, c, pool_path, pool.json, t, n, &s, &changed, &more, call);
    if (rc || changed)
        goto step_end;
    /* 4. The rule. */
    if (!fr.json) {
        struct json_object *b;
        char range[32];
        if (!ip[0]) {
            rc = GCE_STEP_AGAIN; /* the address was just made: read its IP */
            goto out;
        }
        snprintf(range, sizeof(range), "%d-%d", o->port_lo, o->port_hi);
        b = json_object_new_object();
        json_object_object_add(b, "name", json_object_new_string(spec->lb_name));
        json_object_object_add(b, "description", json_object_new_string(desc));
        json_object_object_add(b, "IPAddress", json_object_new_string(ip));
        json_object_object_add(b, "IPProtocol", json_object_new_string(o->proto));
        json_object_object_add(b, "portRange", json_object_new_string(range));
        json_object_object_add(b, "target", json_object_new_string(full_pool));
        json_object_object_add(b, "loadBalancingScheme", json_object_new_string("EXTERNAL"));
        json_object_object_add(b, "networkTier", json_object_new_string(o->tier));
        gce_ops_init(&s, "insert forwarding rule");
        snprintf(what, sizeof(what), "insert forwarding rule %s", spec->lb_name);
        snprintf(fr_path, sizeof(fr_path), "regions/%s/forwardingRules", c->region);
        rc = gce_mutate(ctx, c, &s, "POST", fr_path, b, what, call);
        json_object_put(b);
        changed = true;
        goto step_end;
    }
    /* Converged. */
    gce_rule_status(fr.json, st);
    rc = LBP_OK;
    goto out;
step_end:
    rc = gce_step_end(ctx, spec->lb_name, &s, rc, call);
out:
    (void)changed;
    free(t);
    gce_resp_free(&fr);
    gce_resp_free(&pool);
    return rc;
}

/* An IP another resource holds is the Service's to fix: one Warning Event, no retry storm. */
static int ip_in_use(const struct lbp_lb_spec *spec, int rc, struct lbp_call *call)
{
    if (call && (rc == LBP_CONFLICT || rc == LBP_INVALID) &&
        !strstr(call->err, "spec.loadBalancerIP") &&
        (strstr(call->err, "IP_IN_USE_BY_ANOTHER_RESOURCE") ||
         (strstr(call->err, "'resource.IPAddress'") && strstr(call->err, "in-use")))) {
        char was[LBP_ERRBUF_SIZE];
        lbp_strlcpy(was, call->err, sizeof(was));
        lbp_failf(call, "spec.loadBalancerIP %.64s is in use by another resource (%.380s)",
                  spec->requested_ip ? spec->requested_ip : "", was);
        return LBP_INVALID;
    }
    return rc;
}

int gce_ext_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    return ip_in_use(spec, gce_converge(ctx, spec, o, st, call, ext_step), call);
}

int gce_ext_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_call *call)
{
    const struct gce_conf *c = &o->conf;
    struct gce_resp pool = {0};
    struct gce_target *t = NULL;
    struct gce_ops s;
    char fr_path[200], pool_path[200];
    size_t n = 0;
    bool changed = false, more = false;
    int rc = lbp_lro_poll(ctx->ops, spec->lb_name, gce_ops_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    paths(c, spec, fr_path, pool_path, sizeof(fr_path));
    for (int i = 0; i < GCE_MAX_STEPS; i++) {
        rc = gce_targets(ctx, c, spec, true, &t, &n, NULL, NULL, call);
        if (rc == LBP_OK)
            rc = gce_get(ctx, c, pool_path, "get target pool", &pool, call);
        if (rc == LBP_NOT_FOUND) {
            struct lbp_lb_status st;
            free(t);
            return gce_ext_ensure(ctx, spec, o, &st, call); /* no pool yet: make the whole LB */
        }
        gce_ops_init(&s, "update target pool members");
        changed = false;
        if (rc == LBP_OK)
            rc = pool_members(ctx, c, pool_path, pool.json, t, n, &s, &changed, &more, call);
        free(t);
        t = NULL;
        gce_resp_free(&pool);
        if (rc || !changed)
            return rc;
        if (s.n)
            return gce_ops_wait(ctx, spec->lb_name, &s, call);
        if (!more)
            return LBP_OK; /* both halves of the difference were made and are done */
    }
    return LBP_OK;
}

int gce_ext_remove(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                   const struct lbp_lb_spec *spec, struct lbp_call *call)
{
    char fr_path[200], pool_path[200], p[4][200], shared[96];
    struct gce_ops s;
    int rc = lbp_lro_poll(ctx->ops, spec->lb_name, gce_ops_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    paths(c, spec, fr_path, pool_path, sizeof(fr_path));
    /* 1. The rule (it holds the pool and the address). */
    gce_ops_init(&s, "delete forwarding rule");
    if ((rc = gce_delete_if(ctx, c, &s, fr_path, "forwarding rule", true, call)))
        return rc;
    if (s.n)
        return gce_ops_wait(ctx, spec->lb_name, &s, call);
    /* 2. What the rule used, together. */
    gce_ops_init(&s, "delete target pool and health-check firewall");
    snprintf(p[0], sizeof(p[0]), "regions/%s/addresses/%s", c->region, spec->lb_name);
    snprintf(p[1], sizeof(p[1]), "global/firewalls/k8s-fw-%s", spec->lb_name);
    snprintf(p[2], sizeof(p[2]), "global/firewalls/k8s-%s-http-hc", spec->lb_name);
    if ((rc = gce_delete_if(ctx, c, &s, pool_path, "target pool", true, call)) ||
        (rc = gce_delete_if(ctx, c, &s, p[2], "health-check firewall", true, call)))
        return rc == LBP_CONFLICT ? LBP_RETRY : rc;
    if (s.n)
        return gce_ops_wait(ctx, spec->lb_name, &s, call);
    /* 3. The health checks: the Service's own, and the shared one once no pool uses it. */
    gce_ops_init(&s, "delete health checks");
    snprintf(p[3], sizeof(p[3]), "global/httpHealthChecks/%s", spec->lb_name);
    if ((rc = gce_delete_if(ctx, c, &s, p[3], "health check", true, call)))
        return rc == LBP_CONFLICT ? LBP_RETRY : rc;
    snprintf(shared, sizeof(shared), "k8s-%s-node", c->cluster);
    snprintf(p[3], sizeof(p[3]), "global/httpHealthChecks/%s", shared);
    rc = gce_delete_if(ctx, c, &s, p[3], "shared health check", true, call);
    if (rc == LBP_CONFLICT) {
        rc = LBP_OK; /* another Service's pool still uses it */
    } else if (rc == LBP_OK && s.n) {
        snprintf(p[3], sizeof(p[3]), "global/firewalls/%s-http-hc", shared);
        gce_ops_then_delete(&s, p[3]);
    } else if (rc == LBP_OK) {
        /* gone, or deleted at once: its firewall goes too */
        snprintf(p[3], sizeof(p[3]), "global/firewalls/%s-http-hc", shared);
        rc = gce_delete_if(ctx, c, &s, p[3], "shared health-check firewall", true, call);
    }
    if (rc)
        return rc;
    if (s.n)
        return gce_ops_wait(ctx, spec->lb_name, &s, call);
    /*
     * 4. Last, the address and the client firewall: while either exists,
     * list_owned still finds the LB, so an orphan removal interrupted before
     * here is taken up again by the next scan.
     */
    gce_ops_init(&s, "delete address and firewall");
    if ((rc = gce_delete_if(ctx, c, &s, p[0], "address", true, call)) ||
        (rc = gce_delete_if(ctx, c, &s, p[1], "firewall", true, call)))
        return rc == LBP_CONFLICT ? LBP_RETRY : rc;
    return gce_ops_wait(ctx, spec->lb_name, &s, call);
}
