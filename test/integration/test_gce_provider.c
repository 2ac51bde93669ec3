/*
 * test_gce_provider.c — lbp_provider_gce's vtable driven directly against
 * fake-gce (a separate process speaking Compute v1, issuing tokens only
 * for JWTs signed with its service-account key, and answering changes with
 * Operations that run for --op-polls polls).
 *
 * Each test starts its own fake with VMs in three zones, points the
 * provider at it through a gce.conf (api-endpoint, credentials-file), and
 * asserts on the fake's objects and call counters: what exists after
 * ensure, that a second ensure only reads, that a node change is only
 * addInstance/removeInstance of the difference, a port change keeping the
 * address, ClientIP, ETP Local and back, a requested IP, source ranges,
 * clean-up, orphan listing, Operations followed through LBP_PENDING, a
 * quota and an address in use reported by name, throttling ridden out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/gce/fake_gce_client.h"
#include "test/integration/prov_svc.h"

extern const struct lbp_provider lbp_provider_gce;
static const struct lbp_provider *P = &lbp_provider_gce;

#define CLUSTER "test-cluster"
struct env {
    struct fake_gce f;
    struct lbp_provider_ctx *ctx;
    char cfg[256];
};

/* node-<i> in zone us-central1-<a,b,c by i%3>, as the fake's --instances makes. */
static void gce_pid(int i, char *out, size_t cap)
{
    snprintf(out, cap, "gce://fake-project/us-central1-%c/node-%d", "abc"[i % 3], i);
}

/* A port with a NodePort of 30000 + port % 1000. */
static void svc_port(struct prov_svc *s, const char *proto, int port)
{
    prov_svc_port(s, proto, port, 30000 + port % 1000);
}

static void env_start_ms(struct env *e, const char *op_polls, const char *op_ms,
                         const char *extra_conf)
{
    const char *args[] = {"--instances", "9", "--op-polls", op_polls, "--op-ms", op_ms, NULL};
    char err[256] = "";
    FILE *f;
    memset(e, 0, sizeof(*e));
    assert_int_equal(fake_gce_start(&e->f, args), 0);
    snprintf(e->cfg, sizeof(e->cfg), "%s/gce.conf", e->f.proc.dir);
    f = fopen(e->cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "[global]\nproject-id = fake-project\nlocal-zone = us-central1-a\n"
            "api-endpoint = %s/compute/v1/\ncredentials-file = %s\n%s",
            e->f.proc.url, e->f.key_file, extra_conf ? extra_conf : "");
    fclose(f);
    if (P->init(e->cfg, CLUSTER, &e->ctx, err, sizeof(err)) != LBP_OK)
        fail_msg("init: %s", err);
}

static void env_start(struct env *e, const char *op_polls, const char *extra_conf)
{
    /* unpolled Operations finish on their own, as GCE's do, within half a second */
    env_start_ms(e, op_polls, "500", extra_conf);
}

/* A new process: what the provider remembered is gone, the cloud is not. */
static void env_restart(struct env *e)
{
    char err[256];
    P->cleanup(e->ctx);
    e->ctx = NULL;
    if (P->init(e->cfg, CLUSTER, &e->ctx, err, sizeof(err)) != LBP_OK)
        fail_msg("init: %s", err);
}

static void env_stop(struct env *e)
{
    P->cleanup(e->ctx);
    lbp_http_thread_cleanup();
    assert_int_equal(fake_gce_stop(&e->f), 0);
}

/* ensure until it is done (following LBP_PENDING); the final rc. */
static int ensure_all(struct env *e, struct prov_svc *s, struct lbp_lb_status *st, int *pendings,
                      struct lbp_call *out)
{
    struct lbp_call call;
    int rc;
    *pendings = 0;
    for (int i = 0; i < 60; i++) {
        memset(&call, 0, sizeof(call));
        rc = P->ensure(e->ctx, prov_svc_spec(s, CLUSTER), st, &call);
        if (rc != LBP_PENDING)
            break;
        assert_true(call.err[0] != '\0'); /* says what the cloud is doing */
        (*pendings)++;
        usleep(20 * 1000);
    }
    if (out)
        *out = call;
    if (rc != LBP_OK && !out)
        fail_msg("ensure: %s: %s", lbp_rc_str(rc), call.err);
    return rc;
}

static int remove_all(struct env *e, struct prov_svc *s)
{
    struct lbp_call call;
    int rc;
    for (int i = 0; i < 60; i++) {
        memset(&call, 0, sizeof(call));
        rc = P->remove(e->ctx, prov_svc_spec(s, CLUSTER), &call);
        if (rc != LBP_PENDING)
            break;
        usleep(20 * 1000);
    }
    if (rc != LBP_OK)
        fail_msg("remove: %s: %s", lbp_rc_str(rc), call.err);
    return rc;
}

/* Service default/name with one port on nodes 0..last_node. */
static void svc_on(struct prov_svc *s, const char *name, const char *uid, const char *proto,
                   int port, int last_node)
{
    prov_svc_init(s, "default", name, uid);
    svc_port(s, proto, port);
    prov_svc_nodes(s, 0, last_node, gce_pid);
}

static struct json_object *obj(struct env *e, const char *coll, const char *name)
{
    /* the last few states stay alive, so a test may hold two objects at once */
    static struct json_object *ring[4];
    static unsigned next;
    struct json_object *st, *c = NULL, *o = NULL;
    json_object_put(ring[next % 4]);
    ring[next++ % 4] = st = fake_gce_json(&e->f, "/_fake/state");
    if (st && json_object_object_get_ex(json_object_object_get(st, "resources"), coll, &c))
        json_object_object_get_ex(c, name, &o);
    return o;
}

static const char *ostr(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static size_t olen(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_array_length(v) : 0;
}

static long mutations(struct env *e)
{
    struct json_object *c = fake_gce_json(&e->f, "/_fake/counters"), *calls;
    long n = 0;
    if (c && json_object_object_get_ex(c, "calls", &calls)) {
        json_object_object_foreach(calls, k, v)
        {
            /* listInstances is a read sent as a POST */
            if (strncmp(k, "GET ", 4) && strncmp(k, "LIST ", 5) && !strstr(k, "/listInstances"))
                n += json_object_get_int(v);
        }
    }
    json_object_put(c);
    return n;
}

/* Objects lbprov made and did not delete (the seeded VMs aside); names them on stderr. */
static long leftovers(struct env *e)
{
    return fake_gce_leftovers(&e->f);
}

static long total(struct env *e)
{
    struct json_object *c = fake_gce_json(&e->f, "/_fake/counters"), *t;
    long n = c && json_object_object_get_ex(c, "total", &t) ? json_object_get_int(t) : -1;
    json_object_put(c);
    return n;
}

/* s removed, nothing of lbprov's left in the fake, the fake stopped. */
static void finish(struct env *e, struct prov_svc *s)
{
    remove_all(e, s);
    assert_int_equal(leftovers(e), 0);
    env_stop(e);
}

#define UID1 "11111111-2222-4333-8444-555555555555"
#define LB1 "a1111111122224333844455555555555"

static void t_external_lifecycle(void **state)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned = NULL;
    size_t n_owned = 0;
    char ip[64], lb[40];
    int pend;
    (void)state;

    env_start(&e, "0", NULL);
    svc_on(&s, "web", UID1, "TCP", 80, 5);
    svc_port(&s, "TCP", 443);
    lbp_lb_name(UID1, lb);
    assert_string_equal(lb, "a1111111122224333844455555555555");
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_int_equal(st.n_ingress, 1);
    snprintf(ip, sizeof(ip), "%s", st.ingress[0].ip);
    assert_true(strncmp(ip, "203.0.113.", 10) == 0);
    /* the objects upstream makes, under upstream's names */
    assert_string_equal(ostr(obj(&e, "regions/us-central1/addresses", lb), "address"), ip);
    assert_string_equal(ostr(obj(&e, "regions/us-central1/forwardingRules", lb), "portRange"),
                        "80-443");
    assert_string_equal(ostr(obj(&e, "regions/us-central1/forwardingRules", lb), "IPAddress"), ip);
    assert_int_equal(olen(obj(&e, "regions/us-central1/targetPools", lb), "instances"), 6);
    assert_string_equal(ostr(obj(&e, "regions/us-central1/targetPools", lb), "sessionAffinity"),
                        "NONE");
    assert_non_null(obj(&e, "global/httpHealthChecks", "k8s-test-cluster-node"));
    assert_non_null(obj(&e, "global/firewalls", "k8s-test-cluster-node-http-hc"));
    {
        struct json_object *fw =
            obj(&e, "global/firewalls", "k8s-fw-a1111111122224333844455555555555");
        assert_non_null(fw);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(
                                json_object_object_get(fw, "targetTags"), 0)),
                            "lbprov-node");
        assert_string_equal(json_object_to_json_string(json_object_object_get(fw, "sourceRanges")),
                            "[ \"0.0.0.0\\/0\" ]");
    }
    assert_true(strstr(ostr(obj(&e, "regions/us-central1/forwardingRules", lb), "description"),
                       "\"kubernetes.io/service-name\":\"default/web\"") != NULL);

    /* a second ensure only reads, at most 5 calls */
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_int_equal(mutations(&e), 0);
    assert_true(total(&e) <= 5);
    assert_string_equal(st.ingress[0].ip, ip);

    /* a node change is only the difference */
    prov_svc_nodes(&s, 1, 6, gce_pid);
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->update_targets(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_OK);
    assert_int_equal(fake_gce_calls(&e.f, "POST targetPools/addInstance"), 1);
    assert_int_equal(fake_gce_calls(&e.f, "POST targetPools/removeInstance"), 1);
    assert_int_equal(mutations(&e), 2);
    assert_int_equal(olen(obj(&e, "regions/us-central1/targetPools", lb), "instances"), 6);

    /* a port change remakes the rule on the same address */
    s.ports[1].port = 8443;
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_string_equal(st.ingress[0].ip, ip);
    assert_string_equal(ostr(obj(&e, "regions/us-central1/forwardingRules", lb), "portRange"),
                        "80-8443");

    /* source ranges and ClientIP */
    s.ranges[0] = "192.0.2.0/24";
    s.n_ranges = 1;
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_string_equal(json_object_to_json_string(json_object_object_get(
                            obj(&e, "global/firewalls", "k8s-fw-a1111111122224333844455555555555"),
                            "sourceRanges")),
                        "[ \"192.0.2.0\\/24\" ]");

    /* list_owned finds it */
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->list_owned(e.ctx, &owned, &n_owned, &call), LBP_OK);
    assert_int_equal(n_owned, 1);
    assert_string_equal(owned[0].lb_name, lb);
    assert_string_equal(owned[0].name, "web");
    free(owned);

    /* delete leaves nothing */
    finish(&e, &s);
}

#define UID2 "22222222-2222-4333-8444-555555555555"
#define LB2 "a2222222222224333844455555555555"
#define UID3 "33333333-2222-4333-8444-555555555555"

/* Operations that run for a while, followed through LBP_PENDING, and a restart in the middle. */
static void t_pending_and_restart(void **state)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    char err[256];
    int pend, rc;
    (void)state;

    env_start(&e, "2", NULL);
    svc_on(&s, "slow", UID2, "UDP", 53, 8);
    /* the first call starts changes and does not wait for them */
    rc = P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &st, &call);
    assert_int_equal(rc, LBP_PENDING);
    assert_true(call.retry_after_s >= 1);
    assert_non_null(strstr(call.err, "in progress"));
    /* a restart forgets the Operation: the new process converges from the cloud's state */
    P->cleanup(e.ctx);
    e.ctx = NULL;
    assert_int_equal(P->init(e.cfg, CLUSTER, &e.ctx, err, sizeof(err)), LBP_OK);
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_true(pend >= 2);
    assert_int_equal(st.n_ingress, 1);
    assert_string_equal(ostr(obj(&e, "regions/us-central1/forwardingRules", LB2), "IPProtocol"),
                        "UDP");
    assert_int_equal(leftovers(&e), 6); /* address, rule, pool, firewall, check, probe firewall */
    {
        struct json_object *fw = obj(&e, "global/firewalls", "k8s-fw-" LB2);
        assert_string_equal(
            ostr(json_object_array_get_idx(json_object_object_get(fw, "allowed"), 0), "IPProtocol"),
            "udp");
    }
    finish(&e, &s);
}

/* ETP Local and back; ClientIP; a requested IP kept, then refused to a second Service. */
static void t_local_affinity_ip(void **state)
{
    struct env e;
    struct prov_svc s, s2;
    struct lbp_lb_status st;
    struct lbp_call call;
    int pend, rc;
    (void)state;

    env_start(&e, "1", NULL);
    svc_on(&s, "loc", UID2, "TCP", 80, 2);
    ensure_all(&e, &s, &st, &pend, NULL);
    /* Local: the Service's own check on its healthCheckNodePort */
    s.local = true;
    s.hc_port = 32123;
    ensure_all(&e, &s, &st, &pend, NULL);
    {
        struct json_object *hc = obj(&e, "global/httpHealthChecks", LB2), *pool;
        assert_non_null(hc);
        assert_int_equal(json_object_get_int(json_object_object_get(hc, "port")), 32123);
        assert_string_equal(ostr(hc, "requestPath"), "/healthz");
        pool = obj(&e, "regions/us-central1/targetPools", LB2);
        assert_non_null(strstr(json_object_to_json_string(pool), "httpHealthChecks\\/" LB2));
        assert_non_null(obj(&e, "global/firewalls", "k8s-" LB2 "-http-hc"));
    }
    /* back to Cluster: the shared check again, the Service's own one deleted */
    s.local = false;
    s.hc_port = 0;
    ensure_all(&e, &s, &st, &pend, NULL);
    for (int i = 0; i < 100 && obj(&e, "global/httpHealthChecks", LB2); i++) {
        ensure_all(&e, &s, &st, &pend, NULL);
        usleep(50000);
    }
    assert_null(obj(&e, "global/httpHealthChecks", LB2));
    assert_null(obj(&e, "global/firewalls", "k8s-" LB2 "-http-hc"));
    assert_non_null(
        strstr(json_object_to_json_string(obj(&e, "regions/us-central1/targetPools", LB2)),
               "k8s-test-cluster-node"));

    /* ClientIP: a new pool (GCE cannot change it in place), the address kept */
    {
        char ip[64];
        snprintf(ip, sizeof(ip), "%s", st.ingress[0].ip);
        s.affinity = "ClientIP";
        rc = ensure_all(&e, &s, &st, &pend, NULL);
        assert_int_equal(rc, LBP_OK);
        assert_string_equal(st.ingress[0].ip, ip);
        assert_string_equal(
            ostr(obj(&e, "regions/us-central1/targetPools", LB2), "sessionAffinity"), "CLIENT_IP");
    }

    /* a requested IP is reserved under the LB's name and held */
    svc_on(&s2, "pinned", UID3, "TCP", 80, 2);
    s2.ip = "203.0.113.77";
    rc = ensure_all(&e, &s2, &st, &pend, NULL);
    assert_int_equal(rc, LBP_OK);
    assert_string_equal(st.ingress[0].ip, "203.0.113.77");
    /* the same IP for another Service: refused once, by name, not retried */
    {
        struct prov_svc s3;
        svc_on(&s3, "clash", "44444444-2222-4333-8444-555555555555", "TCP", 80, 2);
        s3.ip = "203.0.113.77";
        rc = ensure_all(&e, &s3, &st, &pend, &call);
        assert_int_equal(rc, LBP_INVALID);
        assert_non_null(strstr(call.err, "spec.loadBalancerIP 203.0.113.77"));
        remove_all(&e, &s3);
    }
    remove_all(&e, &s2);
    finish(&e, &s);
}

/* A quota named in the message; a throttling storm ridden out; bad credentials refused. */
static void t_errors(void **state)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status st;
    struct lbp_call call;
    int pend, rc;
    (void)state;

    env_start(&e, "0", NULL);
    svc_on(&s, "q", UID1, "TCP", 80, 2);
    assert_int_equal(fake_gce_control(&e.f, "/_fake/quotas", "{\"FORWARDING_RULES\":0}"), 200);
    rc = ensure_all(&e, &s, &st, &pend, &call);
    assert_int_equal(rc, LBP_RETRY);
    assert_non_null(strstr(call.err, "FORWARDING_RULES"));
    assert_int_equal(fake_gce_control(&e.f, "/_fake/quotas", "{\"FORWARDING_RULES\":100}"), 200);
    /* 403 rateLimitExceeded and 429: retried inside the call */
    assert_int_equal(
        fake_gce_control(&e.f, "/_fake/faults", "{\"rate_limit\":2,\"too_many_requests\":1}"), 200);
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_int_equal(st.n_ingress, 1);
    finish(&e, &s);
}

/* The internal model: groups per zone, backend service, INTERNAL rule in the subnetwork. */
static void t_internal(void **state)
{
    struct env e;
    struct prov_svc s;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    struct lbp_lb_owned *owned = NULL;
    size_t n_owned = 0;
    int pend;
    (void)state;

    env_start(&e, "1", "subnetwork-name = default\n");
    svc_on(&s, "ilb", UID1, "TCP", 80, 5);
    svc_port(&s, "TCP", 8080);
    s.ann[s.n_ann++] =
        (struct lbp_lb_annotation){"networking.gke.io/load-balancer-type", "Internal"};
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_int_equal(st.n_ingress, 1);
    assert_true(strncmp(st.ingress[0].ip, "10.128.", 7) == 0); /* from the subnetwork */
    {
        struct json_object *fr = obj(&e, "regions/us-central1/forwardingRules", LB1);
        struct json_object *bs = obj(&e, "regions/us-central1/backendServices", LB1);
        assert_string_equal(ostr(fr, "loadBalancingScheme"), "INTERNAL");
        assert_string_equal(json_object_to_json_string(json_object_object_get(fr, "ports")),
                            "[ \"80\", \"8080\" ]");
        assert_non_null(strstr(ostr(fr, "subnetwork"), "/subnetworks/default"));
        assert_null(json_object_object_get(fr, "allowGlobalAccess"));
        assert_int_equal(olen(bs, "backends"), 3);
        assert_non_null(strstr(ostr(fr, "backendService"), LB1));
        for (int z = 0; z < 3; z++) {
            char coll[64];
            snprintf(coll, sizeof(coll), "zones/us-central1-%c/instanceGroups", "abc"[z]);
            assert_int_equal(olen(obj(&e, coll, "k8s-ig--test-cluster"), "members"), 2);
        }
        assert_non_null(obj(&e, "global/healthChecks", "k8s-test-cluster-node"));
        assert_null(obj(&e, "global/httpHealthChecks", "k8s-test-cluster-node"));
    }
    /* a second ensure only reads */
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_int_equal(mutations(&e), 0);
    /* a node leaves: only the group changes */
    prov_svc_nodes(&s, 0, 4, gce_pid);
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    for (int i = 0; i < 60; i++) {
        memset(&call, 0, sizeof(call));
        if (P->update_targets(e.ctx, prov_svc_spec(&s, CLUSTER), &call) != LBP_PENDING)
            break;
        usleep(20000);
    }
    assert_int_equal(fake_gce_calls(&e.f, "POST instanceGroups/removeInstances"), 1);
    assert_int_equal(
        olen(obj(&e, "zones/us-central1-c/instanceGroups", "k8s-ig--test-cluster"), "members"), 1);
    /* global access is patched in place */
    s.ann[s.n_ann++] = (struct lbp_lb_annotation){
        "networking.gke.io/internal-load-balancer-allow-global-access", "true"};
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    ensure_all(&e, &s, &st, &pend, NULL);
    assert_true(json_object_get_boolean(json_object_object_get(
        obj(&e, "regions/us-central1/forwardingRules", LB1), "allowGlobalAccess")));
    assert_int_equal(fake_gce_calls(&e.f, "POST forwardingRules"), 0);
    /* found by list_owned, removed without leftovers (groups and shared check included) */
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->list_owned(e.ctx, &owned, &n_owned, &call), LBP_OK);
    assert_int_equal(n_owned, 1);
    free(owned);
    finish(&e, &s);
}

/* Every credential source against the fake's own endpoints; a refused key said by name. */
static void t_auth_and_reload(void **state)
{
    const char *args[] = {"--instances",     "3", "--op-polls", "0", "--subject-token",
                          "eyJ.subject.sig", NULL};
    struct fake_gce f;
    struct lbp_provider_ctx *ctx = NULL;
    struct lbp_call call = {0};
    char cfg[256], tok[256], ext[256], err[512], host[400];
    FILE *fp;
    (void)state;

    assert_int_equal(fake_gce_start(&f, args), 0);
    snprintf(cfg, sizeof(cfg), "%s/gce.conf", f.proc.dir);
    snprintf(tok, sizeof(tok), "%s/subject-token", f.proc.dir);
    snprintf(ext, sizeof(ext), "%s/external.json", f.proc.dir);
    /* the metadata server (GCE_METADATA_HOST), no key file at all */
    fp = fopen(cfg, "w");
    assert_non_null(fp);
    fprintf(fp, "[global]\nproject-id = fake-project\nregion = us-central1\napi-endpoint = %s/\n",
            f.proc.url);
    fclose(fp);
    snprintf(host, sizeof(host), "%s", f.proc.url + 7);
    setenv("GCE_METADATA_HOST", host, 1);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    assert_int_equal(P->init(cfg, CLUSTER, &ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(P->ping(ctx, &call), LBP_OK);
    {
        char *d = P->debug_json(ctx);
        assert_non_null(strstr(d, "\"credentials\":\"metadata\""));
        assert_null(strstr(d, "ya29")); /* never a token */
        free(d);
    }
    /* SIGHUP: node tags change at once; the project needs a restart */
    fp = fopen(cfg, "w");
    fprintf(fp,
            "[global]\nproject-id = fake-project\nregion = us-central1\napi-endpoint = %s/\n"
            "node-tags = web-tier\n",
            f.proc.url);
    fclose(fp);
    assert_int_equal(P->reload(ctx, cfg, err, sizeof(err)), LBP_OK);
    {
        char *d = P->debug_json(ctx);
        assert_non_null(strstr(d, "web-tier"));
        free(d);
    }
    fp = fopen(cfg, "w");
    fprintf(fp, "[global]\nproject-id = other\nregion = us-central1\napi-endpoint = %s/\n",
            f.proc.url);
    fclose(fp);
    assert_int_equal(P->reload(ctx, cfg, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "project-id"));
    P->cleanup(ctx);
    unsetenv("GCE_METADATA_HOST");

    /* workload identity federation: a file-sourced subject token exchanged at STS */
    fp = fopen(tok, "w");
    fputs("eyJ.subject.sig", fp);
    fclose(fp);
    fp = fopen(ext, "w");
    fprintf(fp,
            "{\"type\":\"external_account\",\"audience\":\"//iam.googleapis.com/projects/"
            "123456789012/locations/global/workloadIdentityPools/lbprov/providers/lbprov\","
            "\"subject_token_type\":\"urn:ietf:params:oauth:token-type:jwt\","
            "\"token_url\":\"%s/v1/token\",\"credential_source\":{\"file\":\"%s\"}}",
            f.proc.url, tok);
    fclose(fp);
    fp = fopen(cfg, "w");
    fprintf(fp,
            "[global]\nproject-id = fake-project\nregion = us-central1\napi-endpoint = %s/\n"
            "credentials-file = %s\n",
            f.proc.url, ext);
    fclose(fp);
    assert_int_equal(P->init(cfg, CLUSTER, &ctx, err, sizeof(err)), LBP_OK);
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->ping(ctx, &call), LBP_OK);
    P->cleanup(ctx);
    /* a subject token STS refuses: LBP_AUTH, the source named, no token in the message */
    fp = fopen(tok, "w");
    fputs("eyJ.wrong.sig", fp);
    fclose(fp);
    assert_int_equal(P->init(cfg, CLUSTER, &ctx, err, sizeof(err)), LBP_OK);
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->ping(ctx, &call), LBP_AUTH);
    assert_null(strstr(call.err, "eyJ"));
    P->cleanup(ctx);
    /* a key file of another type is refused at start, by name */
    fp = fopen(ext, "w");
    fputs("{\"type\":\"authorized_user\"}", fp);
    fclose(fp);
    assert_int_equal(P->init(cfg, CLUSTER, &ctx, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "authorized_user"));
    lbp_http_thread_cleanup();
    assert_int_equal(fake_gce_stop(&f), 0);
}

/* A number from /debug/gce's "prefetch" part. */
static long prefetch_figure(struct env *e, const char *key)
{
    char *d = P->debug_json(e->ctx);
    struct json_object *o = d ? json_tokener_parse(d) : NULL, *pf, *v;
    long n = -1;
    if (o && json_object_object_get_ex(o, "prefetch", &pf) &&
        json_object_object_get_ex(pf, key, &v))
        n = json_object_get_int(v);
    json_object_put(o);
    free(d);
    return n;
}

/*
 * A new process's first ensure lists the
 * collections once (500 a page) instead of reading each converged LB's
 * five objects one by one; an object an Operation of the old process
 * still changes is read alone; a change is read back, never taken from a
 * stale copy.
 */
static void t_new_leader_reads_in_bulk(void **state)
{
    struct env e;
    struct prov_svc s, s3;
    struct lbp_lb_status st;
    struct lbp_call call = {0};
    int pend, rc;
    (void)state;

    /* Operations finish only when polled: the old process's last one outlives it */
    env_start_ms(&e, "2", "600000", NULL);
    svc_on(&s, "web", UID1, "TCP", 80, 5);
    svc_on(&s3, "dns", UID3, "UDP", 53, 5);
    ensure_all(&e, &s, &st, &pend, NULL);
    ensure_all(&e, &s3, &st, &pend, NULL);

    env_restart(&e);
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    ensure_all(&e, &s, &st, &pend, NULL);
    ensure_all(&e, &s3, &st, &pend, NULL);
    assert_int_equal(st.n_ingress, 1);
    assert_int_equal(mutations(&e), 0);
    assert_int_equal(fake_gce_calls(&e.f, "GET forwardingRules"), 0);
    assert_int_equal(fake_gce_calls(&e.f, "GET targetPools"), 0);
    assert_int_equal(fake_gce_calls(&e.f, "GET firewalls"), 0);
    assert_int_equal(fake_gce_calls(&e.f, "GET httpHealthChecks"), 0);
    /* taken once: the second Service used the same lists */
    assert_int_equal(fake_gce_calls(&e.f, "LIST forwardingRules"), 1);
    assert_int_equal(fake_gce_calls(&e.f, "LIST firewalls"), 1);
    assert_int_equal(fake_gce_calls(&e.f, "LIST operations"), 2);
    assert_true(prefetch_figure(&e, "readsAnswered") >= 10);
    assert_int_equal(prefetch_figure(&e, "leftOut"), 0);

    /* a change forgets what was listed of its object: the next read sees the change */
    s3.ranges[0] = "192.0.2.0/24";
    s3.n_ranges = 1;
    ensure_all(&e, &s3, &st, &pend, NULL);
    assert_int_equal(fake_gce_calls(&e.f, "PUT firewalls"), 1); /* not again from a stale copy */
    assert_int_equal(fake_gce_calls(&e.f, "GET firewalls"), 1);
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    ensure_all(&e, &s3, &st, &pend, NULL);
    assert_int_equal(mutations(&e), 0);
    /* a delete the cloud refuses because another Service's pool uses the shared health check is
       an answer about the request: what is kept stays */
    remove_all(&e, &s3);
    assert_true(fake_gce_calls(&e.f, "DELETE httpHealthChecks") >= 1);
    assert_non_null(obj(&e, "global/httpHealthChecks", "k8s-test-cluster-node"));
    assert_int_equal(prefetch_figure(&e, "drops"), 0);

    /* a member change whose Operation is still running when the process dies */
    prov_svc_nodes(&s, 1, 6, gce_pid);
    memset(&call, 0, sizeof(call));
    assert_int_equal(P->update_targets(e.ctx, prov_svc_spec(&s, CLUSTER), &call), LBP_PENDING);
    env_restart(&e);
    fake_gce_control(&e.f, "/_fake/counters/reset", "{}");
    memset(&call, 0, sizeof(call));
    rc = P->ensure(e.ctx, prov_svc_spec(&s, CLUSTER), &st, &call);
    (void)rc; /* the pool is busy: its members are not yet what they will be */
    assert_int_equal(prefetch_figure(&e, "leftOut"), 1);
    assert_int_equal(fake_gce_calls(&e.f, "GET targetPools"), 1);
    assert_int_equal(fake_gce_calls(&e.f, "GET forwardingRules"), 0);
    env_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_external_lifecycle),
        cmocka_unit_test(t_pending_and_restart),
        cmocka_unit_test(t_local_affinity_ip),
        cmocka_unit_test(t_errors),
        cmocka_unit_test(t_internal),
        cmocka_unit_test(t_auth_and_reload),
        cmocka_unit_test(t_new_leader_reads_in_bulk),
    };
    long v;
    if (getenv("LBP_TEST_V") && lbp_parse_long(getenv("LBP_TEST_V"), 0, 9, &v) == LBP_OK)
        lbp_log_verbosity = (int)v;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
