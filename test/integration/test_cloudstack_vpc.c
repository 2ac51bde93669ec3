/*
 * test_cloudstack_vpc.c — the CloudStack provider in a VPC tier, driven
 * slot by slot (as the reconciler would, calling again after LBP_PENDING)
 * against fake-cloudstack: the address is acquired in the VPC, the rules
 * name the tier, source ranges become network ACL items on the tier
 * (ingress, allow, each NodePort) tagged as this LB's, a changed range
 * replaces them, and remove takes rules, ACL items and the address away
 * and the ACL list holds what it held before. The keys come from files,
 * as a mounted Secret provides them.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/rc.h"
#include "provider/http.h"
#include "provider/provider.h"
#include "test/fakes/cloudstack/fake_cs_client.h"
#include "test/integration/ctl_env.h"
#include "test/integration/prov_svc.h"

extern const struct lbp_provider lbp_provider_cloudstack;
static const struct lbp_provider *P = &lbp_provider_cloudstack;
static struct fake_cs g_cs;

#undef CHECK
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            fake_cs_stop(&g_cs);                                                                   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static json_object *g_state;

static json_object *kind(const char *k)
{
    json_object *v = NULL;
    json_object_put(g_state);
    g_state = fake_cs_json(&g_cs, "/_fake/state");
    json_object_object_get_ex(g_state, k, &v);
    return v;
}

static const char *s(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int until_done(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *sp, bool rm)
{
    struct lbp_call call;
    return ctl_provider_settle(P, ctx, sp, rm, &call);
}

/* ACL items on the tier with these CIDRs for ports 31080 and 31443. */
static int acls_with(const char *cidrs)
{
    json_object *a = kind("networkacls");
    int n = 0;
    for (size_t i = 0; a && i < json_object_array_length(a); i++) {
        json_object *x = json_object_array_get_idx(a, i);
        if (strcmp(s(x, "cidrlist"), cidrs) == 0 &&
            strcasecmp(s(x, "traffictype"), "ingress") == 0 &&
            strcasecmp(s(x, "action"), "allow") == 0 &&
            (strcmp(s(x, "startport"), "31080") == 0 || strcmp(s(x, "startport"), "31443") == 0))
            n++;
    }
    return n;
}

int main(void)
{
    const char *args[] = {"--job-polls", "0", NULL};
    char conf[256], err[256], keyf[2][300];
    struct lbp_provider_ctx *ctx = NULL;
    struct prov_svc sv;
    const struct lbp_lb_spec *sp;
    json_object *a;
    FILE *f;
    int theirs_before;

    CHECK(fake_cs_start(&g_cs, args) == 0);
    CHECK(fake_cs_post(&g_cs, "/_fake/vms",
                       "{\"vms\":[{\"name\":\"tier-a\",\"networkid\":\"" FAKE_CS_TIER_ID "\"},"
                       "{\"name\":\"tier-b\",\"networkid\":\"" FAKE_CS_TIER_ID "\"}]}") == 0);
    snprintf(conf, sizeof(conf), "/tmp/lbp-cs-vpc-%d.conf", (int)getpid());
    f = fopen(conf, "w");
    CHECK(f != NULL);
    /* The keys as a mounted Secret gives them: one file each, a newline at the end. */
    snprintf(keyf[0], sizeof(keyf[0]), "%s.api-key", conf);
    snprintf(keyf[1], sizeof(keyf[1]), "%s.secret-key", conf);
    fprintf(f, "[Global]\napi-url = %s\napi-key-file = %s\nsecret-key-file = %s\n", g_cs.api_url,
            keyf[0], keyf[1]);
    fclose(f);
    for (int i = 0; i < 2; i++) {
        f = fopen(keyf[i], "w");
        CHECK(f != NULL);
        fprintf(f, "%s\n", i ? FAKE_CS_SECRET_KEY : FAKE_CS_API_KEY);
        fclose(f);
    }
    prov_svc_init(&sv, "default", "web", "5e1f0000-0000-4000-8000-000000000001");
    prov_svc_port(&sv, "TCP", 80, 31080);
    prov_svc_port(&sv, "TCP", 443, 31443);
    prov_svc_node(&sv, "tier-a", NULL);
    prov_svc_node(&sv, "tier-b", NULL);
    sv.ranges[0] = "198.51.100.0/24";
    sv.ranges[1] = "192.0.2.0/24";
    sv.n_ranges = 2;
    sp = prov_svc_spec(&sv, "vpc");
    CHECK(P->init(conf, "vpc", &ctx, err, sizeof(err)) == LBP_OK);
    unlink(conf);
    unlink(keyf[0]);
    unlink(keyf[1]);

    /* What the tier's ACL list holds before: remove must leave exactly that. */
    a = kind("networkacls");
    theirs_before = a ? (int)json_object_array_length(a) : 0;

    CHECK(until_done(ctx, sp, false) == LBP_OK);
    a = kind("publicips");
    {
        int ours = 0;
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
            if (strcmp(s(json_object_array_get_idx(a, i), "vpcid"), FAKE_CS_VPC_ID) == 0 &&
                strcmp(s(json_object_array_get_idx(a, i), "issourcenat"), "false") == 0)
                ours++;
        CHECK(ours == 1);
    }
    a = kind("lbrules");
    CHECK(a && json_object_array_length(a) == 2);
    for (size_t i = 0; i < 2; i++) {
        json_object *r = json_object_array_get_idx(a, i), *m;
        CHECK(strcmp(s(r, "networkid"), FAKE_CS_TIER_ID) == 0);
        CHECK(json_object_object_get_ex(r, "members", &m) && json_object_array_length(m) == 2);
    }
    CHECK(acls_with("192.0.2.0/24,198.51.100.0/24") == 2);
    CHECK(kind("firewallrules") == NULL || json_object_array_length(kind("firewallrules")) == 0);

    /* A changed range replaces the items. */
    sv.ranges[1] = "203.0.113.0/24";
    CHECK(until_done(ctx, sp, false) == LBP_OK);
    CHECK(acls_with("198.51.100.0/24,203.0.113.0/24") == 2);
    CHECK(acls_with("192.0.2.0/24,198.51.100.0/24") == 0);

    /* Remove: nothing of ours is left; the ACL list keeps what was there before. */
    CHECK(until_done(ctx, sp, true) == LBP_OK);
    a = kind("lbrules");
    CHECK(!a || json_object_array_length(a) == 0);
    a = kind("networkacls");
    CHECK((a ? (int)json_object_array_length(a) : 0) == theirs_before);
    a = kind("publicips");
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
        CHECK(strcmp(s(json_object_array_get_idx(a, i), "issourcenat"), "true") == 0);

    P->cleanup(ctx);
    lbp_http_thread_cleanup();
    json_object_put(g_state);
    CHECK(fake_cs_stop(&g_cs) == 0);
    printf("ok\n");
    return 0;
}
