/*
 * test_controller_cloudstack.c — the whole path: `lbprov controller
 * --cloud cloudstack` as a real process against the fake API server and
 * fake-cloudstack (signed query API, async jobs that stay pending for a
 * poll, faults).
 *
 * Step by step, each waiting with a deadline for what it expects in the
 * fake cloud's state and in the Service: create with an acquired address
 * (3 ports, 5 nodes found by providerID cloudstack:///<uuid>, by bare uuid
 * and by name), source ranges as firewall rules, a node added and one
 * removed, a port change, ClientIP (algorithm source), the proxy-protocol
 * annotation (tcp-proxy), a requested address (kept and untagged on
 * delete), a lost reply on each create call (associateIpAddress,
 * createTags, createLoadBalancerRule, createFirewallRule: never a second
 * address or rule), a controller killed in the middle of a job and
 * restarted, bad input (one Warning Event each), delete, and an orphan
 * cleaned up at start-up.
 *
 * Then acquisitions side by side, through the provider's vtable from
 * threads (side_by_side below), with fake-cloudstack holding
 * associateIpAddress replies until the test lets each one answer or lose
 * its reply: two calls are in flight at once; a lost reply yields one
 * tagged address and no leak, even with the server's clock an hour behind
 * this host's; two lost replies get two addresses; a lost reply while
 * another call's answer is still to come waits for it and takes its own;
 * an untagged address allocated by hand before is never taken, even when
 * it is recent by this host's clock.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clouds/cloudstack/cs_int.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/cloudstack/fake_cs_client.h"
#include "test/integration/ctl_env.h"
#include "test/integration/prov_svc.h"

#define WAIT_MS 40000

extern const struct lbp_provider lbp_provider_cloudstack;

static struct ctl_env env;
static struct fake_cs g_cs;

static void show_and_stop_cs(void)
{
    json_object *st = fake_cs_json(&g_cs, "/_fake/state");
    if (st)
        fprintf(stderr, "fake-cloudstack state: %.6000s\n",
                json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN));
    json_object_put(st);
    fake_cs_stop(&g_cs);
}

static const char *const VM_UUID[] = {"",
                                      "11111111-0000-4000-8000-000000000001",
                                      "11111111-0000-4000-8000-000000000002",
                                      "11111111-0000-4000-8000-000000000003",
                                      "11111111-0000-4000-8000-000000000004",
                                      "11111111-0000-4000-8000-000000000005",
                                      "11111111-0000-4000-8000-000000000006"};

static void start(void)
{
    const char *extra[] = {"--orphan-grace-period", "1s", CTL_SHORT_LEASE_FLAGS, NULL};
    ctl_env_start_controller(&env, extra);
}

/* node-i: providerID cloudstack:///<uuid> (1), a bare uuid (2), none (the rest: by name). */
static void node(int i)
{
    char name[32], ip[32], pid[128];
    snprintf(name, sizeof(name), "node-%d", i);
    snprintf(ip, sizeof(ip), "10.1.1.%d", 10 + i);
    snprintf(pid, sizeof(pid), "%s%s", i == 1 ? "cloudstack:///" : "", VM_UUID[i]);
    ctl_node_full(&env, name, ip, i <= 2 ? pid : NULL, NULL);
}

static void service(const char *name, const char *annotations, const char *spec_extra)
{
    ctl_service_full(&env, name, annotations, spec_extra, NULL);
}

static void delete_service(const char *name)
{
    CHECK(ctl_svc_delete(&env, name) == 200);
}

static void lb_of(const char *svc, char out[LBP_LB_NAME_LEN + 1])
{
    ctl_lb_name_of(&env, svc, out);
}

/* ---- the fake's state ---- */

static json_object *g_state;

static json_object *state(const char *kind)
{
    json_object_put(g_state);
    g_state = fake_cs_json(&g_cs, "/_fake/state");
    return jget(g_state, kind);
}

static const char *tag_of(json_object *o, const char *key)
{
    json_object *tags = jget(o, "tags");
    for (size_t i = 0; tags && i < json_object_array_length(tags); i++) {
        json_object *t = json_object_array_get_idx(tags, i);
        if (strcmp(jstr(t, "key"), key) == 0)
            return jstr(t, "value");
    }
    return NULL;
}

/* Addresses tagged for default/<svc>. */
static int ips_of(const char *svc, char *addr, size_t cap)
{
    json_object *ips = state("publicips");
    char want[128];
    int n = 0;
    snprintf(want, sizeof(want), "default/%s", svc);
    for (size_t i = 0; ips && i < json_object_array_length(ips); i++) {
        json_object *ip = json_object_array_get_idx(ips, i);
        const char *t = tag_of(ip, "lbprov-service");
        if (t && strcmp(t, want) == 0) {
            n++;
            if (addr)
                snprintf(addr, cap, "%s", jstr(ip, "ipaddress"));
        }
    }
    return n;
}

static int count_kind(const char *kind)
{
    json_object *a = state(kind);
    return a ? (int)json_object_array_length(a) : -1;
}

struct rules_want {
    const char *svc;
    const char *ports;     /* "80,443,9000": exactly these public ports */
    int members;           /* each rule's member count */
    const char *algorithm; /* NULL: any */
    const char *protocol;  /* NULL: any */
};

static bool rules_are(const struct rules_want *w)
{
    char lb[LBP_LB_NAME_LEN + 1], buf[128], *save = NULL;
    json_object *rules;
    int n = 0, want_n = 0;
    lb_of(w->svc, lb);
    if (!lb[0])
        return false;
    rules = state("lbrules");
    for (size_t i = 0; rules && i < json_object_array_length(rules); i++) {
        json_object *r = json_object_array_get_idx(rules, i);
        if (strncmp(jstr(r, "name"), lb, strlen(lb)) != 0)
            continue;
        n++;
        if ((int)json_object_array_length(jget(r, "members")) != w->members)
            return false;
        if (w->algorithm && strcmp(jstr(r, "algorithm"), w->algorithm) != 0)
            return false;
        if (w->protocol && strcmp(jstr(r, "protocol"), w->protocol) != 0)
            return false;
        snprintf(buf, sizeof(buf), ",%s,", w->ports);
        char p[16];
        snprintf(p, sizeof(p), ",%s,", jstr(r, "publicport"));
        if (!strstr(buf, p))
            return false;
    }
    snprintf(buf, sizeof(buf), "%s", w->ports);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        want_n++;
    return n == want_n;
}

/* Firewall rules on the Service's address: one per port, each with cidr. */
static bool firewall_is(const char *svc, int n_want, const char *cidr)
{
    char addr[64] = "";
    json_object *fws;
    int n = 0;
    if (ips_of(svc, addr, sizeof(addr)) != 1)
        return false;
    fws = state("firewallrules");
    for (size_t i = 0; fws && i < json_object_array_length(fws); i++) {
        json_object *f = json_object_array_get_idx(fws, i);
        if (strcmp(jstr(f, "ipaddress"), addr) != 0)
            continue;
        if (strcmp(jstr(f, "cidrlist"), cidr) != 0)
            return false;
        n++;
    }
    return n == n_want;
}

/* Does the Service's address have a firewall rule starting at this port? */
static bool firewall_has_port(const char *svc, int port)
{
    char addr[64] = "";
    json_object *fws;
    if (ips_of(svc, addr, sizeof(addr)) != 1)
        return false;
    fws = state("firewallrules");
    for (size_t i = 0; fws && i < json_object_array_length(fws); i++) {
        json_object *f = json_object_array_get_idx(fws, i);
        if (strcmp(jstr(f, "ipaddress"), addr) == 0 &&
            json_object_get_int(jget(f, "startport")) == port)
            return true;
    }
    return false;
}

static bool ingress_is_tagged_ip(const char *svc)
{
    char addr[64] = "", ing[64] = "";
    ctl_ingress(&env, svc, ing, sizeof(ing));
    return ips_of(svc, addr, sizeof(addr)) == 1 && ing[0] && strcmp(addr, ing) == 0;
}

static bool lb_gone(const char *svc_lb)
{
    json_object *rules = state("lbrules"), *ips;
    for (size_t i = 0; rules && i < json_object_array_length(rules); i++)
        if (strncmp(jstr(json_object_array_get_idx(rules, i), "name"), svc_lb, strlen(svc_lb)) == 0)
            return false;
    ips = state("publicips");
    for (size_t i = 0; ips && i < json_object_array_length(ips); i++) {
        const char *t = tag_of(json_object_array_get_idx(ips, i), "lbprov-lb");
        if (t && strcmp(t, svc_lb) == 0)
            return false;
    }
    return true;
}

/* A signed API call of the test's own (set-up only: the controller never runs through here). */
static long cs_api(const char *query, char **resp)
{
    struct lbp_buf q;
    char *path = NULL;
    long code;
    if (lbp_cs_sign_query(query, FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY, lbp_wall_s() + 600, &q))
        return -1;
    if (asprintf(&path, "/client/api?%s", q.data) < 0)
        path = NULL;
    lbp_buf_free(&q);
    code = path ? fake_cs_req(&g_cs, "GET", path, NULL, NULL, resp) : -1;
    free(path);
    return code;
}

static bool ip_allocated(const char *addr)
{
    json_object *ips = state("publicips");
    for (size_t i = 0; ips && i < json_object_array_length(ips); i++) {
        json_object *ip = json_object_array_get_idx(ips, i);
        if (strcmp(jstr(ip, "ipaddress"), addr) == 0)
            return strcmp(jstr(ip, "state"), "Allocated") == 0;
    }
    return false;
}

static int warnings(const char *svc, char *msg, size_t cap)
{
    return ctl_events(&env, svc, "SyncLoadBalancerFailed", msg, cap);
}

/* ---- acquisitions side by side, through the provider's vtable ---- */

#define SIDE_N 8
/* Both calls of a pair reach the fake at once: well inside the client's 30 s per attempt, after
   which a call serialised behind a held one would get through too. */
#define HELD_MS 20000

struct side {
    struct lbp_provider_ctx *ctx;
    struct prov_svc sv;
    const struct lbp_lb_spec *sp;
    int rc;
    pthread_t t;
};
static struct side g_side[SIDE_N];

static void side_init(int i)
{
    char name[32], uid[64];
    snprintf(name, sizeof(name), "side-%d", i);
    /* The LB name is "a" + the uid's first 31 hex digits: tell them apart early. */
    snprintf(uid, sizeof(uid), "51de%04d-0000-4000-8000-000000000000", i);
    prov_svc_init(&g_side[i].sv, "default", name, uid);
    prov_svc_port(&g_side[i].sv, "TCP", 80, 30080 + i);
    prov_svc_node(&g_side[i].sv, "node-1", NULL);
    g_side[i].sp = prov_svc_spec(&g_side[i].sv, "side");
}

static void *side_run(void *ud)
{
    struct side *s = ud;
    struct lbp_call call;
    s->rc = ctl_provider_settle(&lbp_provider_cloudstack, s->ctx, s->sp, false, &call);
    lbp_http_thread_cleanup();
    return NULL;
}

static void side_start(int i)
{
    CHECK(pthread_create(&g_side[i].t, NULL, side_run, &g_side[i]) == 0);
}

static int side_join(int i)
{
    pthread_join(g_side[i].t, NULL);
    return g_side[i].rc;
}

/* The addresses tagged with side-i's LB name; the last one's id in id. */
static int side_ips(int i, char *id, size_t cap)
{
    json_object *ips = state("publicips");
    int n = 0;
    for (size_t k = 0; ips && k < json_object_array_length(ips); k++) {
        json_object *ip = json_object_array_get_idx(ips, k);
        const char *t = tag_of(ip, "lbprov-lb");
        if (t && strcmp(t, g_side[i].sp->lb_name) == 0 &&
            strcmp(tag_of(ip, "lbprov-acquired") ? tag_of(ip, "lbprov-acquired") : "", "true") ==
                0) {
            n++;
            if (id)
                snprintf(id, cap, "%s", jstr(ip, "id"));
        }
    }
    return n;
}

/* Addresses no one tagged, source NAT aside: what a leak leaves. */
static int untagged_ips(void)
{
    json_object *ips = state("publicips");
    int n = 0;
    for (size_t k = 0; ips && k < json_object_array_length(ips); k++) {
        json_object *ip = json_object_array_get_idx(ips, k), *tags = jget(ip, "tags");
        if (strcmp(jstr(ip, "issourcenat"), "true") != 0 &&
            (!tags || json_object_array_length(tags) == 0))
            n++;
    }
    return n;
}

static int counter(const char *name)
{
    json_object *c = fake_cs_json(&g_cs, "/_fake/counters");
    int v = c ? (int)jpath_int(c, name) : -1;
    json_object_put(c);
    return v;
}

static void clock_offset(int s)
{
    char b[64];
    snprintf(b, sizeof(b), "{\"clock_offset_s\":%d}", s);
    CHECK(fake_cs_post(&g_cs, "/_fake/config", b) == 0);
}

static void faults(const char *kind, int count)
{
    char b[160];
    snprintf(b, sizeof(b),
             "{\"faults\":[{\"kind\":\"%s\",\"command\":\"associateIpAddress\",\"count\":%d}]}",
             kind, count);
    CHECK(fake_cs_post(&g_cs, "/_fake/faults", b) == 0);
}

static uint64_t lookups_waited(struct lbp_provider_ctx *ctx)
{
    uint64_t n;
    pthread_mutex_lock(&ctx->assoc_mu);
    n = ctx->assoc_waits;
    pthread_mutex_unlock(&ctx->assoc_mu);
    return n;
}

/* An address allocated by hand (no tags); its id. */
static void hand_allocated(char *id, size_t cap)
{
    char *resp = NULL, q[256], addr[64] = "";
    json_object *o, *ips;
    snprintf(q, sizeof(q), "command=associateIpAddress&networkid=%s", FAKE_CS_NETWORK_ID);
    CHECK(cs_api(q, &resp) == 200);
    o = json_tokener_parse(resp ? resp : "");
    free(resp);
    CHECK(o != NULL);
    snprintf(id, cap, "%s", jpath_str(o, "associateipaddressresponse.id"));
    json_object_put(o);
    ips = state("publicips");
    for (size_t i = 0; ips && i < json_object_array_length(ips); i++)
        if (strcmp(jstr(json_object_array_get_idx(ips, i), "id"), id) == 0)
            snprintf(addr, sizeof(addr), "%s",
                     jstr(json_object_array_get_idx(ips, i), "ipaddress"));
    CHECK(addr[0]);
    CHECK(WAIT_FOR(10000, ip_allocated(addr)));
}

static void release_by_hand(const char *id)
{
    char *resp = NULL, q[256];
    snprintf(q, sizeof(q), "command=disassociateIpAddress&id=%s", id);
    CHECK(cs_api(q, &resp) == 200);
    free(resp);
}

static void side_by_side(void)
{
    char err[256], id[8][64], by_hand[64];
    struct lbp_provider_ctx *ctx = NULL;

    char conf[128];
    FILE *f;
    snprintf(conf, sizeof(conf), "/tmp/lbp-cs-side-%d.conf", (int)getpid());
    f = fopen(conf, "w");
    CHECK(f != NULL);
    fprintf(f,
            "[Global]\napi-url = %s\napi-key = %s\nsecret-key = %s\nretry-base-delay-ms = 20\n"
            "retry-max-delay-ms = 200\nqps = 500\n",
            g_cs.api_url, FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY);
    fclose(f);
    int rc = lbp_provider_cloudstack.init(conf, "side", &ctx, err, sizeof(err));
    unlink(conf);
    if (rc != LBP_OK)
        fprintf(stderr, "init: %s\n", err);
    CHECK(rc == LBP_OK);
    for (int i = 0; i < SIDE_N; i++) {
        side_init(i);
        g_side[i].ctx = ctx;
    }
    /* Only source NAT addresses and tagged ones from here: the requested address goes. */
    {
        json_object *ips = state("publicips");
        for (size_t k = 0; ips && k < json_object_array_length(ips); k++) {
            json_object *ip = json_object_array_get_idx(ips, k);
            if (strcmp(jstr(ip, "issourcenat"), "true") != 0)
                release_by_hand(jstr(ip, "id"));
        }
        CHECK(WAIT_FOR(WAIT_MS, count_kind("publicips") == 2));
    }

    /*
     * A lost reply with the server's clock an hour behind this host's: the
     * address is found by the server's time (a reading of this host's clock
     * would miss it and send again, leaking one). One address, tagged.
     */
    clock_offset(-3600);
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    faults("drop", 1);
    side_start(0);
    CHECK(side_join(0) == LBP_OK);
    CHECK(counter("dropped") == 1);
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 1);
    CHECK(side_ips(0, id[0], sizeof(id[0])) == 1);
    CHECK(untagged_ips() == 0);
    clock_offset(0); /* forward: what was allocated looks older, never newer */

    /* Two acquisitions side by side: both calls are in flight at once. */
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    faults("hold", 2);
    side_start(1);
    side_start(2);
    CHECK(WAIT_FOR(HELD_MS, counter("held") == 2));
    CHECK(fake_cs_post(&g_cs, "/_fake/release", "{}") == 0);
    CHECK(side_join(1) == LBP_OK && side_join(2) == LBP_OK);
    CHECK(side_ips(1, id[1], sizeof(id[1])) == 1 && side_ips(2, id[2], sizeof(id[2])) == 1);
    CHECK(strcmp(id[1], id[2]) != 0);
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 2);
    CHECK(untagged_ips() == 0);

    /* Two replies lost together: each lookup claims a different address, none is sent again. */
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    faults("hold", 2);
    side_start(3);
    side_start(4);
    CHECK(WAIT_FOR(HELD_MS, counter("held") == 2));
    CHECK(fake_cs_post(&g_cs, "/_fake/release", "{\"drop\":true}") == 0);
    CHECK(side_join(3) == LBP_OK && side_join(4) == LBP_OK);
    CHECK(counter("dropped") == 2);
    CHECK(side_ips(3, id[3], sizeof(id[3])) == 1 && side_ips(4, id[4], sizeof(id[4])) == 1);
    CHECK(strcmp(id[3], id[4]) != 0);
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 2);
    CHECK(untagged_ips() == 0);

    /*
     * The later call loses its reply while the earlier one's answer is still
     * held: its lookup sees both new addresses, waits for that answer, and
     * takes the other (the first listed is the earlier call's).
     */
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    faults("hold", 2);
    side_start(5);
    side_start(6);
    CHECK(WAIT_FOR(HELD_MS, counter("held") == 2));
    CHECK(fake_cs_post(&g_cs, "/_fake/release", "{\"count\":1,\"newest\":true,\"drop\":true}") ==
          0);
    CHECK(WAIT_FOR(WAIT_MS, lookups_waited(ctx) == 1));
    CHECK(fake_cs_post(&g_cs, "/_fake/release", "{}") == 0);
    CHECK(side_join(5) == LBP_OK && side_join(6) == LBP_OK);
    CHECK(side_ips(5, id[5], sizeof(id[5])) == 1 && side_ips(6, id[6], sizeof(id[6])) == 1);
    CHECK(strcmp(id[5], id[6]) != 0);
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 2);
    CHECK(untagged_ips() == 0);

    /*
     * An untagged address allocated by hand, then the server's clock moves
     * on (a few minutes, as if the address were that old): a lost reply
     * takes its own address, never that one, although it is newer than the
     * call by this host's clock.
     */
    clock_offset(300);
    hand_allocated(by_hand, sizeof(by_hand));
    clock_offset(550);
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    faults("drop", 1);
    side_start(7);
    CHECK(side_join(7) == LBP_OK);
    CHECK(counter("dropped") == 1);
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 1);
    CHECK(side_ips(7, id[7], sizeof(id[7])) == 1);
    CHECK(strcmp(id[7], by_hand) != 0);
    CHECK(untagged_ips() == 1); /* the one allocated by hand, still untagged */
    release_by_hand(by_hand);
    clock_offset(0);

    for (int i = 0; i < SIDE_N; i++) {
        struct lbp_call call;
        CHECK(ctl_provider_settle(&lbp_provider_cloudstack, ctx, g_side[i].sp, true, &call) ==
              LBP_OK);
    }
    CHECK(WAIT_FOR(WAIT_MS, count_kind("publicips") == 2));
    lbp_provider_cloudstack.cleanup(ctx);
    lbp_http_thread_cleanup();
}

int main(void)
{
    const char *fake_args[24] = {"--job-polls", "1", "--job-ms", "2000"};
    char vmarg[6][96], addr[64], msg[512], lb[LBP_LB_NAME_LEN + 1];
    struct rules_want rw = {0};
    size_t na = 4;

    for (int i = 1; i <= 6; i++) {
        snprintf(vmarg[i - 1], sizeof(vmarg[0]), "node-%d:%s", i, VM_UUID[i]);
        fake_args[na++] = "--vm";
        fake_args[na++] = vmarg[i - 1];
    }
    fake_args[na] = NULL;
    ctl_env_init(&env, NULL);
    CHECK(fake_cs_start(&g_cs, fake_args) == 0);
    env.on_fail = show_and_stop_cs;
    ctl_env_cloud(&env, "cloudstack",
                  "[Global]\napi-url = %s\napi-key = %s\nsecret-key = %s\n"
                  "retry-base-delay-ms = 20\nretry-max-delay-ms = 200\nqps = 500\n",
                  g_cs.api_url, FAKE_CS_API_KEY, FAKE_CS_SECRET_KEY);
    for (int i = 1; i <= 5; i++)
        node(i);
    start();

    /* Create: an acquired address, one rule per port, every node a member, open to all. */
    service("web", "", "");
    CHECK(WAIT_FOR(WAIT_MS, ingress_is_tagged_ip("web")));
    rw = (struct rules_want){"web", "80,443,9000", 5, "roundrobin", "tcp"};
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(WAIT_FOR(WAIT_MS, firewall_is("web", 3, "0.0.0.0/0")));
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 1);

    /* Source ranges: the firewall rules admit only them. */
    {
        json_object *r = json_tokener_parse("[\"198.51.100.0/24\",\"192.0.2.0/25\"]");
        CHECK(ctl_svc_set(&env, "web", "loadBalancerSourceRanges", r) == 200);
    }
    CHECK(WAIT_FOR(WAIT_MS, firewall_is("web", 3, "192.0.2.0/25,198.51.100.0/24")));

    /* A node added, then one removed. */
    node(6);
    rw.members = 6;
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(ctl_api(&env, "DELETE", "/api/v1/nodes/node-3", NULL, NULL) == 200);
    rw.members = 5;
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));

    /* Port change: 80 -> 8080; the rule and its firewall rule move. */
    CHECK(ctl_svc_port(&env, "web", 80, 8080) == 200);
    rw.ports = "8080,443,9000";
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(WAIT_FOR(WAIT_MS, firewall_is("web", 3, "192.0.2.0/25,198.51.100.0/24")));
    CHECK(ips_of("web", NULL, 0) == 1);

    /* ClientIP affinity: algorithm source. The PROXY protocol: tcp-proxy. */
    service("sticky", "", "\"sessionAffinity\":\"ClientIP\"");
    service("proxied",
            "\"service.beta.kubernetes.io/cloudstack-load-balancer-proxy-protocol\":"
            "\"true\"",
            "");
    rw = (struct rules_want){"sticky", "80,443,9000", 5, "source", "tcp"};
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    rw = (struct rules_want){"proxied", "80,443,9000", 5, "roundrobin", "tcp-proxy"};
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(WAIT_FOR(WAIT_MS, ingress_is_tagged_ip("sticky") && ingress_is_tagged_ip("proxied")));

    /* A requested address: used as it is, tagged but not ours to release. */
    {
        char *resp = NULL, q[256];
        json_object *o;
        snprintf(q, sizeof(q), "command=associateIpAddress&networkid=%s", FAKE_CS_NETWORK_ID);
        CHECK(cs_api(q, &resp) == 200);
        o = json_tokener_parse(resp ? resp : "");
        free(resp);
        CHECK(o != NULL);
        /* The address: the one the fake's state lists with no tags and state Allocating/ed. */
        json_object *ips = state("publicips");
        addr[0] = '\0';
        for (size_t i = 0; ips && i < json_object_array_length(ips); i++) {
            json_object *ip = json_object_array_get_idx(ips, i);
            if (strcmp(jstr(ip, "id"), jpath_str(o, "associateipaddressresponse.id")) == 0)
                snprintf(addr, sizeof(addr), "%s", jstr(ip, "ipaddress"));
        }
        json_object_put(o);
        CHECK(addr[0]);
        CHECK(WAIT_FOR(10000, ip_allocated(addr)));
        snprintf(q, sizeof(q), "\"loadBalancerIP\":\"%s\"", addr);
        service("fixed", "", q);
        CHECK(WAIT_FOR(WAIT_MS, ingress_is_tagged_ip("fixed")));
        ctl_ingress(&env, "fixed", msg, sizeof(msg));
        CHECK(strcmp(msg, addr) == 0);
        rw = (struct rules_want){"fixed", "80,443,9000", 5, NULL, NULL};
        CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
        lb_of("fixed", lb);
        delete_service("fixed");
        CHECK(WAIT_FOR(WAIT_MS, ips_of("fixed", NULL, 0) == 0 && lb_gone(lb)));
        CHECK(ip_allocated(addr)); /* never released */
    }

    /*
     * A lost reply on each create call: the work is done, the answer never
     * comes. Exactly one address and three rules and firewall rules result.
     */
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    CHECK(fake_cs_post(&g_cs, "/_fake/faults",
                       "{\"faults\":[{\"kind\":\"drop\",\"command\":\"associateIpAddress\","
                       "\"count\":1},{\"kind\":\"drop\",\"command\":\"createTags\",\"count\":1},"
                       "{\"kind\":\"drop\",\"command\":\"createLoadBalancerRule\",\"count\":1},"
                       "{\"kind\":\"drop\",\"command\":\"createFirewallRule\",\"count\":1}]}") ==
          0);
    service("lossy", "", "");
    CHECK(WAIT_FOR(WAIT_MS, ingress_is_tagged_ip("lossy")));
    rw = (struct rules_want){"lossy", "80,443,9000", 5, "roundrobin", "tcp"};
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(WAIT_FOR(WAIT_MS, firewall_is("lossy", 3, "0.0.0.0/0")));
    {
        json_object *c = fake_cs_json(&g_cs, "/_fake/counters");
        CHECK(jpath_int(c, "dropped") == 4);
        json_object_put(c);
    }
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 1);
    CHECK(fake_cs_count(&g_cs, "createLoadBalancerRule") == 3);
    CHECK(fake_cs_count(&g_cs, "createFirewallRule") == 3);
    CHECK(ips_of("lossy", NULL, 0) == 1);

    /*
     * A port change whose firewall delete fails after the old port's LB rule
     * went: the stale firewall rule names no port of ours any more, yet it is
     * on the Service's own address, so the retry still removes it.
     */
    CHECK(fake_cs_post(&g_cs, "/_fake/faults",
                       "{\"faults\":[{\"kind\":\"error\",\"command\":\"deleteFirewallRule\","
                       "\"count\":1,\"code\":530}]}") == 0);
    CHECK(ctl_svc_port(&env, "lossy", 9000, 9001) == 200);
    rw = (struct rules_want){"lossy", "80,443,9001", 5, "roundrobin", "tcp"};
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(WAIT_FOR(WAIT_MS, firewall_has_port("lossy", 9001) && !firewall_has_port("lossy", 9000) &&
                                firewall_is("lossy", 3, "0.0.0.0/0")));
    {
        json_object *c = fake_cs_json(&g_cs, "/_fake/counters");
        CHECK(jpath_int(c, "errors") >= 1);
        json_object_put(c);
    }

    /*
     * Restart in the middle of a job: jobs stay pending; the controller is
     * killed once the rules were asked for (their jobs still running, no
     * member yet), and the new process, which knows no job id, converges
     * from names and tags: one address, three rules.
     */
    CHECK(fake_cs_post(&g_cs, "/_fake/config", "{\"job_polls\":1000,\"job_ms\":1000}") == 0);
    fake_cs_post(&g_cs, "/_fake/counters/reset", "{}");
    service("mid", "", "");
    CHECK(WAIT_FOR(WAIT_MS, fake_cs_count(&g_cs, "createLoadBalancerRule") == 3));
    ctl_env_end_controller(&env, SIGKILL);
    CHECK(ips_of("mid", NULL, 0) == 1);
    rw = (struct rules_want){"mid", "80,443,9000", 0, "roundrobin", "tcp"};
    CHECK(rules_are(&rw));
    CHECK(fake_cs_post(&g_cs, "/_fake/config", "{\"job_polls\":1,\"job_ms\":2000}") == 0);
    start();
    CHECK(WAIT_FOR(WAIT_MS, ingress_is_tagged_ip("mid")));
    rw.members = 5;
    CHECK(WAIT_FOR(WAIT_MS, rules_are(&rw)));
    CHECK(fake_cs_count(&g_cs, "associateIpAddress") == 1);
    CHECK(fake_cs_count(&g_cs, "createLoadBalancerRule") == 3);
    CHECK(ips_of("mid", NULL, 0) == 1);

    /* Bad input: one clear Warning Event each, nothing made. */
    service("nowhere", "", "\"loadBalancerIP\":\"198.18.0.1\"");
    service("badproxy",
            "\"service.beta.kubernetes.io/cloudstack-load-balancer-proxy-protocol\":\"yes\"", "");
    CHECK(WAIT_FOR(WAIT_MS, warnings("nowhere", msg, sizeof(msg)) >= 1));
    CHECK(strstr(msg, "198.18.0.1") && strstr(msg, "not a public address"));
    CHECK(WAIT_FOR(WAIT_MS, warnings("badproxy", msg, sizeof(msg)) >= 1));
    CHECK(strstr(msg, "proxy-protocol") && strstr(msg, "\"yes\""));
    sleep(3);
    CHECK(warnings("nowhere", NULL, 0) == 1 && warnings("badproxy", NULL, 0) == 1);
    CHECK(ips_of("nowhere", NULL, 0) == 0 && ips_of("badproxy", NULL, 0) == 0);
    delete_service("nowhere");
    delete_service("badproxy");

    /* Delete: rules, firewall rules and acquired addresses go. */
    {
        const char *all[] = {"web", "sticky", "proxied", "lossy", "mid"};
        char lbs[5][LBP_LB_NAME_LEN + 1];
        for (int i = 0; i < 5; i++) {
            lb_of(all[i], lbs[i]);
            delete_service(all[i]);
        }
        for (int i = 0; i < 5; i++)
            CHECK(WAIT_FOR(WAIT_MS, lb_gone(lbs[i])));
        CHECK(WAIT_FOR(WAIT_MS, count_kind("lbrules") == 0 && count_kind("firewallrules") == 0));
        /* Left: the two source NAT addresses and the requested one. */
        CHECK(count_kind("publicips") == 3);
    }

    /* An orphan: an LB tagged for this cluster whose Service does not exist. */
    {
        char ghost[LBP_LB_NAME_LEN + 1];
        /* Stopped first: its orphan scan would take the ghost apart while it is made. */
        ctl_env_end_controller(&env, SIGTERM);
        CHECK(ctl_make_orphan(&lbp_provider_cloudstack, env.cloud_conf, "kubernetes", NULL, NULL, 0,
                              ghost) == LBP_OK);
        CHECK(!lb_gone(ghost));
        start();
        CHECK(WAIT_FOR(WAIT_MS, lb_gone(ghost)));
        CHECK(count_kind("publicips") == 3);
    }

    CHECK(ctl_env_stop(&env) == 0);
    side_by_side();
    json_object_put(g_state);
    CHECK(fake_cs_stop(&g_cs) == 0);
    printf("ok\n");
    return 0;
}
