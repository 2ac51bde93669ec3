/*
 * ops_elb.c — the fake's classic ELB (2012-06-01) operations.
 *
 * A missing ELB answers LoadBalancerNotFound (the wire code, not the
 * model's AccessPointNotFoundException); CreateLoadBalancer for an
 * existing name with the same listeners returns its DNS name.
 *
 * Policies live on their ELB ("policies": name → {type, attrs}) and the
 * instance ports' policy lists in "backends" (port → [names]); like AWS,
 * a port whose list is set empty drops out of BackendServerDescriptions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "test/fakes/aws/fake.h"

static struct json_object *need(const struct fake_req *q, struct fake_resp *r)
{
    const char *name = fp(q, "LoadBalancerName");
    struct json_object *o = sfind("clbs", "name", name, NULL);
    if (!o)
        ferr(r, 400, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'",
             name ? name : "");
    return o;
}

static struct json_object *listeners_from(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *a = json_object_new_array();
    for (int i = 1; fpf(q, "Listeners.member.%d.Protocol", i); i++) {
        struct json_object *l = json_object_new_object();
        char k[96];
        const char *cert = fpf(q, "Listeners.member.%d.SSLCertificateId", i);
        const char *ip = fpf(q, "Listeners.member.%d.InstanceProtocol", i);
        jset(l, "protocol", fpf(q, "Listeners.member.%d.Protocol", i));
        snprintf(k, sizeof(k), "Listeners.member.%d.LoadBalancerPort", i);
        jseti(l, "lb_port", fpi(q, k, 0));
        snprintf(k, sizeof(k), "Listeners.member.%d.InstancePort", i);
        jseti(l, "instance_port", fpi(q, k, 0));
        jset(l, "instance_protocol", ip ? ip : fpf(q, "Listeners.member.%d.Protocol", i));
        jset(l, "cert", cert ? cert : "");
        if (ji(l, "lb_port") < 1 || ji(l, "instance_port") < 1) {
            json_object_put(l);
            json_object_put(a);
            ferr(r, 400, "ValidationError", "Listener ports are required");
            return NULL;
        }
        json_object_array_add(a, l);
    }
    return a;
}

static void create(const struct fake_req *q, struct fake_resp *r)
{
    const char *name = fp(q, "LoadBalancerName"), *scheme = fp(q, "Scheme");
    struct json_object *o, *ls, *subnets = json_object_new_array(), *sgs = json_object_new_array(),
                                *tags = json_object_new_object();
    char dns[256], vpc[64] = "";
    if (!name || !*name || strlen(name) > 32) {
        ferr(r, 400, "ValidationError", "LoadBalancerName is required (at most 32 characters)");
        goto fail;
    }
    ls = listeners_from(q, r);
    if (!ls)
        goto fail;
    json_object_put(ls);
    if ((o = sfind("clbs", "name", name, NULL))) {
        fel(&r->body, "DNSName", js(o, "dns"));
        goto fail; /* frees the scratch objects; the answer is set */
    }
    for (int i = 1; fpf(q, "Subnets.member.%d", i); i++) {
        const char *sn = fpf(q, "Subnets.member.%d", i);
        struct json_object *s = sfind("subnets", "id", sn, NULL);
        if (!s) {
            ferr(r, 400, "SubnetNotFound", "The subnet ID '%s' is not valid", sn);
            goto fail;
        }
        snprintf(vpc, sizeof(vpc), "%s", js(s, "vpc"));
        json_object_array_add(subnets, json_object_new_string(sn));
    }
    for (int i = 1; fpf(q, "SecurityGroups.member.%d", i); i++) {
        const char *g = fpf(q, "SecurityGroups.member.%d", i);
        if (!sfind("sgs", "id", g, NULL)) {
            ferr(r, 400, "InvalidSecurityGroup", "One or more security groups are invalid: %s", g);
            goto fail;
        }
        json_object_array_add(sgs, json_object_new_string(g));
    }
    for (int i = 1; fpf(q, "Tags.member.%d.Key", i); i++)
        jset(tags, fpf(q, "Tags.member.%d.Key", i),
             fpf(q, "Tags.member.%d.Value", i) ? fpf(q, "Tags.member.%d.Value", i) : "");
    snprintf(dns, sizeof(dns), "%s%s-%llu.%s.elb.amazonaws.com",
             scheme && !strcmp(scheme, "internal") ? "internal-" : "", name,
             (unsigned long long)(fake_now_ms() % 1000000000ULL), g_region);
    o = json_object_new_object();
    jset(o, "name", name);
    jset(o, "dns", dns);
    jset(o, "scheme", scheme && !strcmp(scheme, "internal") ? "internal" : "internet-facing");
    jset(o, "vpc", vpc);
    json_object_object_add(o, "listeners", listeners_from(q, r));
    json_object_object_add(o, "subnets", subnets);
    json_object_object_add(o, "sgs", sgs);
    json_object_object_add(o, "tags", tags);
    json_object_object_add(o, "instances", json_object_new_array());
    json_object_object_add(o, "hc", json_object_new_object());
    json_object_object_add(o, "attrs", json_object_new_object());
    json_object_object_add(o, "policies", json_object_new_object());
    json_object_object_add(o, "backends", json_object_new_object());
    json_object_array_add(sarr("clbs"), o);
    fel(&r->body, "DNSName", dns);
    return;
fail:
    json_object_put(subnets);
    json_object_put(sgs);
    json_object_put(tags);
}

/* A member object of o, created empty when missing. */
static struct json_object *obj(struct json_object *o, const char *key)
{
    struct json_object *v = json_object_object_get(o, key);
    if (!v) {
        v = json_object_new_object();
        json_object_object_add(o, key, v);
    }
    return v;
}

static void clb_xml(struct lbp_buf *b, struct json_object *o)
{
    struct json_object *ls = json_object_object_get(o, "listeners"),
                       *hc = json_object_object_get(o, "hc");
    struct json_object *arrs[3] = {json_object_object_get(o, "sgs"),
                                   json_object_object_get(o, "subnets"),
                                   json_object_object_get(o, "instances")};
    lbp_buf_adds(b, "<member>");
    fel(b, "LoadBalancerName", js(o, "name"));
    fel(b, "DNSName", js(o, "dns"));
    fel(b, "Scheme", js(o, "scheme"));
    fel(b, "VPCId", js(o, "vpc"));
    lbp_buf_adds(b, "<SecurityGroups>");
    for (size_t i = 0; i < json_object_array_length(arrs[0]); i++)
        fel(b, "member", json_object_get_string(json_object_array_get_idx(arrs[0], i)));
    lbp_buf_adds(b, "</SecurityGroups><Subnets>");
    for (size_t i = 0; i < json_object_array_length(arrs[1]); i++)
        fel(b, "member", json_object_get_string(json_object_array_get_idx(arrs[1], i)));
    lbp_buf_adds(b, "</Subnets><ListenerDescriptions>");
    for (size_t i = 0; i < json_object_array_length(ls); i++) {
        struct json_object *l = json_object_array_get_idx(ls, i);
        lbp_buf_adds(b, "<member><PolicyNames/><Listener>");
        fel(b, "Protocol", js(l, "protocol"));
        feli(b, "LoadBalancerPort", ji(l, "lb_port"));
        fel(b, "InstanceProtocol", js(l, "instance_protocol"));
        feli(b, "InstancePort", ji(l, "instance_port"));
        if (*js(l, "cert"))
            fel(b, "SSLCertificateId", js(l, "cert"));
        lbp_buf_adds(b, "</Listener></member>");
    }
    lbp_buf_adds(b, "</ListenerDescriptions><Instances>");
    for (size_t i = 0; i < json_object_array_length(arrs[2]); i++) {
        lbp_buf_adds(b, "<member>");
        fel(b, "InstanceId", json_object_get_string(json_object_array_get_idx(arrs[2], i)));
        lbp_buf_adds(b, "</member>");
    }
    lbp_buf_adds(b, "</Instances><HealthCheck>");
    fel(b, "Target", *js(hc, "target") ? js(hc, "target") : "TCP:80");
    feli(b, "Interval", ji(hc, "interval") ? ji(hc, "interval") : 30);
    feli(b, "Timeout", ji(hc, "timeout") ? ji(hc, "timeout") : 5);
    feli(b, "HealthyThreshold", ji(hc, "healthy") ? ji(hc, "healthy") : 10);
    feli(b, "UnhealthyThreshold", ji(hc, "unhealthy") ? ji(hc, "unhealthy") : 2);
    lbp_buf_adds(b, "</HealthCheck><Policies/><BackendServerDescriptions>");
    json_object_object_foreach(obj(o, "backends"), port, names)
    {
        lbp_buf_adds(b, "<member>");
        fel(b, "InstancePort", port);
        lbp_buf_adds(b, "<PolicyNames>");
        for (size_t i = 0; i < json_object_array_length(names); i++)
            fel(b, "member", json_object_get_string(json_object_array_get_idx(names, i)));
        lbp_buf_adds(b, "</PolicyNames></member>");
    }
    lbp_buf_adds(b, "</BackendServerDescriptions></member>");
}

static void describe(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *all = sarr("clbs");
    size_t n = json_object_array_length(all), from, to;
    if (fp(q, "LoadBalancerNames.member.1")) {
        for (int i = 1; fpf(q, "LoadBalancerNames.member.%d", i); i++)
            if (!sfind("clbs", "name", fpf(q, "LoadBalancerNames.member.%d", i), NULL)) {
                ferr(r, 400, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'",
                     fpf(q, "LoadBalancerNames.member.%d", i));
                return;
            }
        lbp_buf_adds(&r->body, "<LoadBalancerDescriptions>");
        for (int i = 1; fpf(q, "LoadBalancerNames.member.%d", i); i++)
            clb_xml(&r->body,
                    sfind("clbs", "name", fpf(q, "LoadBalancerNames.member.%d", i), NULL));
        lbp_buf_adds(&r->body, "</LoadBalancerDescriptions>");
        return;
    }
    fake_page(q, "PageSize", 400, "Marker", n, &from, &to);
    lbp_buf_adds(&r->body, "<LoadBalancerDescriptions>");
    for (size_t i = from; i < to; i++)
        clb_xml(&r->body, json_object_array_get_idx(all, i));
    lbp_buf_adds(&r->body, "</LoadBalancerDescriptions>");
    if (to < n)
        lbp_buf_addf(&r->body, "<NextMarker>%zu</NextMarker>", to);
}

static void del(const struct fake_req *q, struct fake_resp *r)
{
    size_t idx;
    if (sfind("clbs", "name", fp(q, "LoadBalancerName"), &idx))
        json_object_array_del_idx(sarr("clbs"), idx, 1);
}

static void listeners(const struct fake_req *q, struct fake_resp *r, bool add)
{
    struct json_object *o = need(q, r), *ls;
    if (!o)
        return;
    ls = json_object_object_get(o, "listeners");
    if (add) {
        struct json_object *nl = listeners_from(q, r);
        if (!nl)
            return;
        for (size_t i = 0; i < json_object_array_length(nl); i++) {
            struct json_object *l = json_object_array_get_idx(nl, i);
            for (size_t k = 0; k < json_object_array_length(ls); k++)
                if (ji(json_object_array_get_idx(ls, k), "lb_port") == ji(l, "lb_port")) {
                    ferr(r, 400, "DuplicateListener",
                         "A listener already exists for %s with LoadBalancerPort %d", js(o, "name"),
                         ji(l, "lb_port"));
                    json_object_put(nl);
                    return;
                }
        }
        for (size_t i = 0; i < json_object_array_length(nl); i++)
            json_object_array_add(ls, json_object_get(json_object_array_get_idx(nl, i)));
        json_object_put(nl);
        return;
    }
    for (int i = 1; fpf(q, "LoadBalancerPorts.member.%d", i); i++) {
        char k[64];
        int port;
        snprintf(k, sizeof(k), "LoadBalancerPorts.member.%d", i);
        port = fpi(q, k, 0);
        for (size_t j = json_object_array_length(ls); j-- > 0;)
            if (ji(json_object_array_get_idx(ls, j), "lb_port") == port)
                json_object_array_del_idx(ls, j, 1);
    }
}

static void health(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *o = need(q, r), *hc;
    if (!o)
        return;
    if (!fp(q, "HealthCheck.Target")) {
        ferr(r, 400, "ValidationError", "HealthCheck.Target is required");
        return;
    }
    hc = json_object_new_object();
    jset(hc, "target", fp(q, "HealthCheck.Target"));
    jseti(hc, "interval", fpi(q, "HealthCheck.Interval", 30));
    jseti(hc, "timeout", fpi(q, "HealthCheck.Timeout", 5));
    jseti(hc, "healthy", fpi(q, "HealthCheck.HealthyThreshold", 10));
    jseti(hc, "unhealthy", fpi(q, "HealthCheck.UnhealthyThreshold", 2));
    json_object_object_add(o, "hc", hc);
    lbp_buf_adds(&r->body, "<HealthCheck>");
    fel(&r->body, "Target", js(hc, "target"));
    feli(&r->body, "Interval", ji(hc, "interval"));
    feli(&r->body, "Timeout", ji(hc, "timeout"));
    feli(&r->body, "HealthyThreshold", ji(hc, "healthy"));
    feli(&r->body, "UnhealthyThreshold", ji(hc, "unhealthy"));
    lbp_buf_adds(&r->body, "</HealthCheck>");
}

static void instances(const struct fake_req *q, struct fake_resp *r, bool add)
{
    struct json_object *o = need(q, r), *in;
    if (!o)
        return;
    in = json_object_object_get(o, "instances");
    for (int i = 1; fpf(q, "Instances.member.%d.InstanceId", i); i++) {
        const char *id = fpf(q, "Instances.member.%d.InstanceId", i);
        if (add && !sfind("instances", "id", id, NULL)) {
            ferr(r, 400, "InvalidInstance", "The requested instance %s is not valid", id);
            return;
        }
    }
    for (int i = 1; fpf(q, "Instances.member.%d.InstanceId", i); i++) {
        const char *id = fpf(q, "Instances.member.%d.InstanceId", i);
        if (add)
            g_targets_registered++;
        else
            g_targets_deregistered++;
        if (add && !jarr_has(in, id))
            json_object_array_add(in, json_object_new_string(id));
        if (!add)
            for (size_t k = json_object_array_length(in); k-- > 0;)
                if (!strcmp(json_object_get_string(json_object_array_get_idx(in, k)), id))
                    json_object_array_del_idx(in, k, 1);
    }
    lbp_buf_adds(&r->body, "<Instances>");
    for (size_t k = 0; k < json_object_array_length(in); k++) {
        lbp_buf_adds(&r->body, "<member>");
        fel(&r->body, "InstanceId", json_object_get_string(json_object_array_get_idx(in, k)));
        lbp_buf_adds(&r->body, "</member>");
    }
    lbp_buf_adds(&r->body, "</Instances>");
}

static void tags(const struct fake_req *q, struct fake_resp *r, bool add)
{
    if (add) {
        for (int i = 1; fpf(q, "LoadBalancerNames.member.%d", i); i++) {
            struct json_object *o =
                sfind("clbs", "name", fpf(q, "LoadBalancerNames.member.%d", i), NULL);
            if (!o) {
                ferr(r, 400, "LoadBalancerNotFound", "no such load balancer");
                return;
            }
            for (int t = 1; fpf(q, "Tags.member.%d.Key", t); t++)
                jset(json_object_object_get(o, "tags"), fpf(q, "Tags.member.%d.Key", t),
                     fpf(q, "Tags.member.%d.Value", t) ? fpf(q, "Tags.member.%d.Value", t) : "");
        }
        return;
    }
    for (int i = 1; fpf(q, "LoadBalancerNames.member.%d", i); i++)
        if (!sfind("clbs", "name", fpf(q, "LoadBalancerNames.member.%d", i), NULL)) {
            ferr(r, 400, "LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'",
                 fpf(q, "LoadBalancerNames.member.%d", i));
            return;
        }
    lbp_buf_adds(&r->body, "<TagDescriptions>");
    for (int i = 1; fpf(q, "LoadBalancerNames.member.%d", i); i++) {
        struct json_object *o =
            sfind("clbs", "name", fpf(q, "LoadBalancerNames.member.%d", i), NULL);
        lbp_buf_adds(&r->body, "<member>");
        fel(&r->body, "LoadBalancerName", js(o, "name"));
        lbp_buf_adds(&r->body, "<Tags>");
        json_object_object_foreach(json_object_object_get(o, "tags"), k, v)
        {
            lbp_buf_adds(&r->body, "<member>");
            fel(&r->body, "Key", k);
            fel(&r->body, "Value", json_object_get_string(v));
            lbp_buf_adds(&r->body, "</member>");
        }
        lbp_buf_adds(&r->body, "</Tags></member>");
    }
    lbp_buf_adds(&r->body, "</TagDescriptions>");
}

static void attrs(const struct fake_req *q, struct fake_resp *r, bool modify)
{
    struct json_object *o = need(q, r), *a;
    const char *v;
    if (!o)
        return;
    a = json_object_object_get(o, "attrs");
    if (modify) {
        if ((v = fp(q, "LoadBalancerAttributes.CrossZoneLoadBalancing.Enabled")))
            jset(a, "cross_zone", v);
        if (fp(q, "LoadBalancerAttributes.ConnectionSettings.IdleTimeout"))
            jseti(a, "idle_timeout",
                  fpi(q, "LoadBalancerAttributes.ConnectionSettings.IdleTimeout", 60));
        fel(&r->body, "LoadBalancerName", js(o, "name"));
    }
    lbp_buf_adds(&r->body, "<LoadBalancerAttributes><CrossZoneLoadBalancing>");
    fel(&r->body, "Enabled", *js(a, "cross_zone") ? js(a, "cross_zone") : "false");
    lbp_buf_adds(&r->body, "</CrossZoneLoadBalancing><ConnectionSettings>");
    feli(&r->body, "IdleTimeout", ji(a, "idle_timeout") ? ji(a, "idle_timeout") : 60);
    lbp_buf_adds(&r->body, "</ConnectionSettings></LoadBalancerAttributes>");
}

static const char *const policy_types[] = {
    "ProxyProtocolPolicyType",      "BackendServerAuthenticationPolicyType",
    "PublicKeyPolicyType",          "SSLNegotiationPolicyType",
    "LBCookieStickinessPolicyType", "AppCookieStickinessPolicyType",
};

static void policy_create(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *o = need(q, r), *pols, *p, *attrs;
    const char *name = fp(q, "PolicyName"), *type = fp(q, "PolicyTypeName");
    bool known = false;
    if (!o)
        return;
    if (!name || !*name || !type) {
        ferr(r, 400, "ValidationError", "PolicyName and PolicyTypeName are required");
        return;
    }
    for (size_t i = 0; i < sizeof(policy_types) / sizeof(policy_types[0]); i++)
        known |= !strcmp(type, policy_types[i]);
    if (!known) {
        ferr(r, 400, "PolicyTypeNotFound", "There is no policy type named '%s'", type);
        return;
    }
    pols = obj(o, "policies");
    if (json_object_object_get(pols, name)) {
        ferr(r, 400, "DuplicatePolicyName",
             "Policy with the same name exists for this LoadBalancer. Please choose another "
             "name.");
        return;
    }
    p = json_object_new_object();
    attrs = json_object_new_object();
    jset(p, "type", type);
    for (int i = 1; fpf(q, "PolicyAttributes.member.%d.AttributeName", i); i++) {
        const char *v = fpf(q, "PolicyAttributes.member.%d.AttributeValue", i);
        jset(attrs, fpf(q, "PolicyAttributes.member.%d.AttributeName", i), v ? v : "");
    }
    json_object_object_add(p, "attrs", attrs);
    json_object_object_add(pols, name, p);
}

static void policy_xml(struct lbp_buf *b, const char *name, struct json_object *p)
{
    lbp_buf_adds(b, "<member><PolicyAttributeDescriptions>");
    json_object_object_foreach(json_object_object_get(p, "attrs"), k, v)
    {
        lbp_buf_adds(b, "<member>");
        fel(b, "AttributeName", k);
        fel(b, "AttributeValue", json_object_get_string(v));
        lbp_buf_adds(b, "</member>");
    }
    lbp_buf_adds(b, "</PolicyAttributeDescriptions>");
    fel(b, "PolicyName", name);
    fel(b, "PolicyTypeName", js(p, "type"));
    lbp_buf_adds(b, "</member>");
}

/* With PolicyNames, every name must exist (PolicyNotFound); without, all of the ELB's. */
static void policy_describe(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *o, *pols;
    if (!fp(q, "LoadBalancerName")) {
        ferr(r, 400, "ValidationError", "LoadBalancerName is required by this fake");
        return;
    }
    if (!(o = need(q, r)))
        return;
    pols = obj(o, "policies");
    for (int i = 1; fpf(q, "PolicyNames.member.%d", i); i++)
        if (!json_object_object_get(pols, fpf(q, "PolicyNames.member.%d", i))) {
            ferr(r, 400, "PolicyNotFound", "There is no policy with name %s for load balancer %s",
                 fpf(q, "PolicyNames.member.%d", i), js(o, "name"));
            return;
        }
    lbp_buf_adds(&r->body, "<PolicyDescriptions>");
    if (fp(q, "PolicyNames.member.1")) {
        for (int i = 1; fpf(q, "PolicyNames.member.%d", i); i++) {
            const char *n = fpf(q, "PolicyNames.member.%d", i);
            policy_xml(&r->body, n, json_object_object_get(pols, n));
        }
    } else {
        json_object_object_foreach(pols, k, v) policy_xml(&r->body, k, v);
    }
    lbp_buf_adds(&r->body, "</PolicyDescriptions>");
}

static void backend_policies(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *o = need(q, r), *pols, *names;
    int port = fpi(q, "InstancePort", 0);
    char key[16];
    if (!o)
        return;
    if (port < 1 || port > 65535) {
        ferr(r, 400, "ValidationError", "InstancePort is required");
        return;
    }
    if (!fp(q, "PolicyNames") && !fp(q, "PolicyNames.member.1")) {
        ferr(r, 400, "ValidationError", "PolicyNames is required (send PolicyNames= for none)");
        return;
    }
    pols = obj(o, "policies");
    for (int i = 1; fpf(q, "PolicyNames.member.%d", i); i++) {
        struct json_object *p = json_object_object_get(pols, fpf(q, "PolicyNames.member.%d", i));
        if (!p) {
            ferr(r, 400, "PolicyNotFound", "There is no policy with name %s for load balancer %s",
                 fpf(q, "PolicyNames.member.%d", i), js(o, "name"));
            return;
        }
        if (strcmp(js(p, "type"), "ProxyProtocolPolicyType") != 0 &&
            strcmp(js(p, "type"), "BackendServerAuthenticationPolicyType") != 0) {
            ferr(r, 409, "InvalidConfigurationRequest",
                 "%s policies cannot be set on a backend server", js(p, "type"));
            return;
        }
    }
    snprintf(key, sizeof(key), "%d", port);
    json_object_object_del(obj(o, "backends"), key);
    if (!fp(q, "PolicyNames.member.1"))
        return;
    names = json_object_new_array();
    for (int i = 1; fpf(q, "PolicyNames.member.%d", i); i++)
        json_object_array_add(names, json_object_new_string(fpf(q, "PolicyNames.member.%d", i)));
    json_object_object_add(obj(o, "backends"), key, names);
}

bool ops_elb(const struct fake_req *q, struct fake_resp *r)
{
    const char *a = q->action;
    if (!strcmp(a, "CreateLoadBalancer"))
        create(q, r);
    else if (!strcmp(a, "DescribeLoadBalancers"))
        describe(q, r);
    else if (!strcmp(a, "DeleteLoadBalancer"))
        del(q, r);
    else if (!strcmp(a, "CreateLoadBalancerListeners"))
        listeners(q, r, true);
    else if (!strcmp(a, "DeleteLoadBalancerListeners"))
        listeners(q, r, false);
    else if (!strcmp(a, "ConfigureHealthCheck"))
        health(q, r);
    else if (!strcmp(a, "RegisterInstancesWithLoadBalancer"))
        instances(q, r, true);
    else if (!strcmp(a, "DeregisterInstancesFromLoadBalancer"))
        instances(q, r, false);
    else if (!strcmp(a, "DescribeTags"))
        tags(q, r, false);
    else if (!strcmp(a, "AddTags"))
        tags(q, r, true);
    else if (!strcmp(a, "DescribeLoadBalancerAttributes"))
        attrs(q, r, false);
    else if (!strcmp(a, "ModifyLoadBalancerAttributes"))
        attrs(q, r, true);
    else if (!strcmp(a, "CreateLoadBalancerPolicy"))
        policy_create(q, r);
    else if (!strcmp(a, "DescribeLoadBalancerPolicies"))
        policy_describe(q, r);
    else if (!strcmp(a, "SetLoadBalancerPoliciesForBackendServer"))
        backend_policies(q, r);
    else
        return false;
    return true;
}
