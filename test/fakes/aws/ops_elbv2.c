/*
 * ops_elbv2.c — the fake's ELBv2 (2015-12-01) operations.
 *
 * Behaviour worth copying from AWS: creating an LB or target group whose
 * name exists with the same settings returns the existing one (different
 * settings: Duplicate*), DescribeLoadBalancers by name fails with
 * LoadBalancerNotFound for any missing name, a new LB can stay invisible to
 * Describe for consistency_ms, DeleteTargetGroup answers ResourceInUse while
 * a listener uses the group, and a target group belongs to at most one LB.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "test/fakes/aws/fake.h"

#define ACCOUNT "123456789012"

static struct json_object *tags_from(const struct fake_req *q, const char *prefix)
{
    struct json_object *t = json_object_new_object();
    for (int i = 1;; i++) {
        const char *k = fpf(q, "%s.member.%d.Key", prefix, i);
        if (!k)
            break;
        jset(t, k, fpf(q, "%s.member.%d.Value", prefix, i));
    }
    return t;
}

static void tags_xml(struct lbp_buf *b, struct json_object *o)
{
    struct json_object *t;
    lbp_buf_adds(b, "<Tags>");
    if (json_object_object_get_ex(o, "tags", &t)) {
        json_object_object_foreach(t, k, v)
        {
            lbp_buf_adds(b, "<member>");
            fel(b, "Key", k);
            fel(b, "Value", json_object_get_string(v));
            lbp_buf_adds(b, "</member>");
        }
    }
    lbp_buf_adds(b, "</Tags>");
}

static bool visible(struct json_object *lb)
{
    return fake_now_ms() >=
           (uint64_t)json_object_get_int64(json_object_object_get(lb, "created_ms")) +
               (uint64_t)g_consistency_ms;
}

static void lb_xml(struct lbp_buf *b, struct json_object *lb)
{
    struct json_object *azs = json_object_object_get(lb, "azs");
    char t[32];
    lbp_rfc3339(json_object_get_int64(json_object_object_get(lb, "created_s")), t);
    lbp_buf_adds(b, "<member>");
    fel(b, "LoadBalancerArn", js(lb, "arn"));
    fel(b, "DNSName", js(lb, "dns"));
    fel(b, "CanonicalHostedZoneId", "Z26RNL4JYFTOTI");
    fel(b, "CreatedTime", t);
    fel(b, "LoadBalancerName", js(lb, "name"));
    fel(b, "Scheme", js(lb, "scheme"));
    fel(b, "VpcId", js(lb, "vpc"));
    lbp_buf_adds(b, "<State>");
    fel(b, "Code", visible(lb) ? "active" : "provisioning");
    lbp_buf_adds(b, "</State>");
    fel(b, "Type", js(lb, "type"));
    lbp_buf_adds(b, "<AvailabilityZones>");
    for (size_t i = 0; i < json_object_array_length(azs); i++) {
        struct json_object *z = json_object_array_get_idx(azs, i);
        lbp_buf_adds(b, "<member>");
        fel(b, "ZoneName", js(z, "zone"));
        fel(b, "SubnetId", js(z, "subnet"));
        if (*js(z, "alloc")) {
            lbp_buf_adds(b, "<LoadBalancerAddresses><member>");
            fel(b, "IpAddress", js(z, "ip"));
            fel(b, "AllocationId", js(z, "alloc"));
            lbp_buf_adds(b, "</member></LoadBalancerAddresses>");
        }
        lbp_buf_adds(b, "</member>");
    }
    lbp_buf_adds(b, "</AvailabilityZones>");
    fel(b, "IpAddressType", "ipv4");
    lbp_buf_adds(b, "</member>");
}

static struct json_object *lb_by_arn(const char *arn)
{
    return sfind("lbs", "arn", arn, NULL);
}

static struct json_object *tg_by_arn(const char *arn)
{
    return sfind("tgs", "arn", arn, NULL);
}

/*
 * Target group ARN → the ARN of the LB whose listener forwards to it, built
 * once per DescribeTargetGroups listing (all under the state mutex): answering a
 * listing of thousands of groups by scanning the listeners for each one was
 * quadratic, and made the fake, not lbprov, what a big soak measured.
 */
static struct json_object *g_tg_owner;

static void tg_owner_build(void)
{
    struct json_object *ls = sarr("listeners");
    g_tg_owner = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(ls); i++) {
        struct json_object *l = json_object_array_get_idx(ls, i);
        if (!json_object_object_get_ex(g_tg_owner, js(l, "tg_arn"), NULL))
            jset(g_tg_owner, js(l, "tg_arn"), js(l, "lb_arn"));
    }
}

static void tg_owner_drop(void)
{
    json_object_put(g_tg_owner);
    g_tg_owner = NULL;
}

/* The LB whose listener forwards to tg, or NULL. */
static const char *tg_lb(const char *tg_arn)
{
    struct json_object *ls = sarr("listeners"), *v;
    if (g_tg_owner)
        return json_object_object_get_ex(g_tg_owner, tg_arn, &v) ? json_object_get_string(v) : NULL;
    for (size_t i = 0; i < json_object_array_length(ls); i++) {
        struct json_object *l = json_object_array_get_idx(ls, i);
        if (strcmp(js(l, "tg_arn"), tg_arn) == 0)
            return js(l, "lb_arn");
    }
    return NULL;
}

static void tg_xml(struct lbp_buf *b, struct json_object *tg)
{
    const char *lb = tg_lb(js(tg, "arn"));
    lbp_buf_adds(b, "<member>");
    fel(b, "TargetGroupArn", js(tg, "arn"));
    fel(b, "TargetGroupName", js(tg, "name"));
    fel(b, "Protocol", js(tg, "protocol"));
    feli(b, "Port", ji(tg, "port"));
    fel(b, "VpcId", js(tg, "vpc"));
    fel(b, "HealthCheckProtocol", js(tg, "hc_protocol"));
    fel(b, "HealthCheckPort", js(tg, "hc_port"));
    fel(b, "HealthCheckEnabled", "true");
    feli(b, "HealthCheckIntervalSeconds", ji(tg, "hc_interval"));
    feli(b, "HealthCheckTimeoutSeconds", ji(tg, "hc_timeout"));
    feli(b, "HealthyThresholdCount", ji(tg, "healthy"));
    feli(b, "UnhealthyThresholdCount", ji(tg, "unhealthy"));
    if (*js(tg, "hc_path"))
        fel(b, "HealthCheckPath", js(tg, "hc_path"));
    lbp_buf_adds(b, "<LoadBalancerArns>");
    if (lb)
        fel(b, "member", lb);
    lbp_buf_adds(b, "</LoadBalancerArns>");
    fel(b, "TargetType", js(tg, "target_type"));
    fel(b, "IpAddressType", "ipv4");
    lbp_buf_adds(b, "</member>");
}

static void listener_xml(struct lbp_buf *b, struct json_object *l)
{
    lbp_buf_adds(b, "<member>");
    fel(b, "ListenerArn", js(l, "arn"));
    fel(b, "LoadBalancerArn", js(l, "lb_arn"));
    feli(b, "Port", ji(l, "port"));
    fel(b, "Protocol", js(l, "protocol"));
    if (*js(l, "cert")) {
        lbp_buf_adds(b, "<Certificates><member>");
        fel(b, "CertificateArn", js(l, "cert"));
        lbp_buf_adds(b, "</member></Certificates>");
        fel(b, "SslPolicy", js(l, "ssl_policy"));
    }
    lbp_buf_adds(b, "<DefaultActions><member>");
    fel(b, "Type", "forward");
    fel(b, "TargetGroupArn", js(l, "tg_arn"));
    lbp_buf_adds(b, "</member></DefaultActions>");
    lbp_buf_adds(b, "</member>");
}

/* Pages over a filtered list: marker is the index to start from. */
static void page(const struct fake_req *q, struct lbp_buf *b, const char *wrap,
                 struct json_object **items, size_t n,
                 void (*emit)(struct lbp_buf *, struct json_object *))
{
    size_t from, to;
    fake_page(q, "PageSize", 400, "Marker", n, &from, &to);
    lbp_buf_addf(b, "<%s>", wrap);
    for (size_t i = from; i < to; i++)
        emit(b, items[i]);
    lbp_buf_addf(b, "</%s>", wrap);
    if (to < n)
        lbp_buf_addf(b, "<NextMarker>%zu</NextMarker>", to);
}

static bool valid_name(const char *n)
{
    size_t l = strlen(n);
    if (!l || l > 32 || n[0] == '-' || n[l - 1] == '-' || strncmp(n, "internal-", 9) == 0)
        return false;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '-'))
            return false;
    return true;
}

static void create_lb(const struct fake_req *q, struct fake_resp *r)
{
    const char *name = fp(q, "Name"), *scheme = fp(q, "Scheme"), *type = fp(q, "Type");
    struct json_object *azs = json_object_new_array(), *lb, *ex;
    char vpc[64] = "", arn[256], hex[40], dns[256];
    if (!name || !valid_name(name)) {
        json_object_put(azs);
        ferr(r, 400, "ValidationError", "Invalid load balancer name '%s'", name ? name : "");
        return;
    }
    scheme = scheme ? scheme : "internet-facing";
    type = type ? type : "application";
    for (int i = 1;; i++) {
        const char *sn = fpf(q, "SubnetMappings.member.%d.SubnetId", i);
        const char *alloc = fpf(q, "SubnetMappings.member.%d.AllocationId", i);
        struct json_object *s, *z;
        if (!sn)
            sn = fpf(q, "Subnets.member.%d", i);
        if (!sn)
            break;
        s = sfind("subnets", "id", sn, NULL);
        if (!s) {
            json_object_put(azs);
            ferr(r, 400, "SubnetNotFound", "The subnet ID '%s' is not valid", sn);
            return;
        }
        for (size_t k = 0; k < json_object_array_length(azs); k++)
            if (strcmp(js(json_object_array_get_idx(azs, k), "zone"), js(s, "az")) == 0) {
                json_object_put(azs);
                ferr(r, 400, "InvalidConfigurationRequest",
                     "You cannot specify multiple subnets in the same Availability Zone");
                return;
            }
        if (vpc[0] && strcmp(vpc, js(s, "vpc")) != 0) {
            json_object_put(azs);
            ferr(r, 400, "InvalidConfigurationRequest", "Subnets are in different VPCs");
            return;
        }
        snprintf(vpc, sizeof(vpc), "%s", js(s, "vpc"));
        z = json_object_new_object();
        jset(z, "zone", js(s, "az"));
        jset(z, "subnet", sn);
        if (alloc) {
            char ip[32];
            snprintf(ip, sizeof(ip), "198.51.100.%d", (int)(fake_now_ms() % 200) + 1 + i);
            jset(z, "alloc", alloc);
            jset(z, "ip", ip);
        }
        json_object_array_add(azs, z);
    }
    if (!json_object_array_length(azs)) {
        json_object_put(azs);
        ferr(r, 400, "ValidationError", "At least one subnet must be specified");
        return;
    }
    ex = sfind("lbs", "name", name, NULL);
    if (ex) {
        /* Same settings: AWS answers with the existing LB. */
        bool same = strcmp(js(ex, "scheme"), scheme) == 0 && strcmp(js(ex, "type"), type) == 0 &&
                    json_object_array_length(json_object_object_get(ex, "azs")) ==
                        json_object_array_length(azs);
        json_object_put(azs);
        if (!same) {
            ferr(r, 400, "DuplicateLoadBalancerName",
                 "A load balancer with the same name '%s' exists, but with different settings",
                 name);
            return;
        }
        lbp_buf_adds(&r->body, "<LoadBalancers>");
        lb_xml(&r->body, ex);
        lbp_buf_adds(&r->body, "</LoadBalancers>");
        return;
    }
    fake_id("", hex, sizeof(hex));
    snprintf(arn, sizeof(arn),
             "arn:aws:elasticloadbalancing:%s:" ACCOUNT ":loadbalancer/%s/%s/%.16s", g_region,
             strcmp(type, "network") == 0 ? "net" : "app", name, hex + 1);
    snprintf(dns, sizeof(dns), "%s%s-%.10s.elb.%s.amazonaws.com",
             strcmp(scheme, "internal") == 0 ? "internal-" : "", name, hex + 7, g_region);
    lb = json_object_new_object();
    jset(lb, "arn", arn);
    jset(lb, "name", name);
    jset(lb, "dns", dns);
    jset(lb, "scheme", scheme);
    jset(lb, "type", type);
    jset(lb, "vpc", vpc);
    json_object_object_add(lb, "azs", azs);
    json_object_object_add(lb, "tags", tags_from(q, "Tags"));
    json_object_object_add(lb, "created_ms", json_object_new_int64((int64_t)fake_now_ms()));
    json_object_object_add(lb, "created_s", json_object_new_int64(lbp_wall_s()));
    json_object_object_add(lb, "attrs", json_object_new_object());
    json_object_array_add(sarr("lbs"), lb);
    lbp_buf_adds(&r->body, "<LoadBalancers>");
    lb_xml(&r->body, lb);
    lbp_buf_adds(&r->body, "</LoadBalancers>");
}

static void set_subnets(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *lb = lb_by_arn(fp(q, "LoadBalancerArn")), *azs;
    if (!lb) {
        ferr(r, 400, "LoadBalancerNotFound", "Load balancer not found");
        return;
    }
    azs = json_object_new_array();
    for (int i = 1; fpf(q, "Subnets.member.%d", i); i++) {
        const char *sn = fpf(q, "Subnets.member.%d", i);
        struct json_object *s = sfind("subnets", "id", sn, NULL), *z;
        if (!s || strcmp(js(s, "vpc"), js(lb, "vpc")) != 0) {
            json_object_put(azs);
            ferr(r, 400, "SubnetNotFound", "The subnet ID '%s' is not valid", sn);
            return;
        }
        for (size_t k = 0; k < json_object_array_length(azs); k++)
            if (strcmp(js(json_object_array_get_idx(azs, k), "zone"), js(s, "az")) == 0) {
                json_object_put(azs);
                ferr(r, 400, "InvalidConfigurationRequest",
                     "You cannot specify multiple subnets in the same Availability Zone");
                return;
            }
        z = json_object_new_object();
        jset(z, "zone", js(s, "az"));
        jset(z, "subnet", sn);
        json_object_array_add(azs, z);
    }
    json_object_object_add(lb, "azs", azs);
    lbp_buf_adds(&r->body, "<AvailabilityZones>");
    for (size_t k = 0; k < json_object_array_length(azs); k++) {
        lbp_buf_adds(&r->body, "<member>");
        fel(&r->body, "ZoneName", js(json_object_array_get_idx(azs, k), "zone"));
        fel(&r->body, "SubnetId", js(json_object_array_get_idx(azs, k), "subnet"));
        lbp_buf_adds(&r->body, "</member>");
    }
    lbp_buf_adds(&r->body, "</AvailabilityZones>");
}

static void describe_lbs(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *all = sarr("lbs");
    size_t n = 0, cap = json_object_array_length(all) + 1;
    struct json_object **sel = calloc(cap, sizeof(*sel));
    bool by_name = fp(q, "Names.member.1") != NULL, by_arn = fp(q, "LoadBalancerArns.member.1");
    if (!sel)
        return;
    if (by_name || by_arn) {
        for (int i = 1;; i++) {
            const char *v =
                by_name ? fpf(q, "Names.member.%d", i) : fpf(q, "LoadBalancerArns.member.%d", i);
            struct json_object *lb;
            if (!v)
                break;
            lb = sfind("lbs", by_name ? "name" : "arn", v, NULL);
            if (!lb || !visible(lb)) {
                free(sel);
                ferr(r, 400, "LoadBalancerNotFound", "Load balancers '[%s]' not found", v);
                return;
            }
            if (n < cap)
                sel[n++] = lb;
        }
    } else {
        for (size_t i = 0; i < json_object_array_length(all); i++)
            if (visible(json_object_array_get_idx(all, i)))
                sel[n++] = json_object_array_get_idx(all, i);
    }
    page(q, &r->body, "LoadBalancers", sel, n, lb_xml);
    free(sel);
}

static void delete_where(const char *arr, const char *key, const char *val)
{
    struct json_object *a = sarr(arr);
    for (size_t i = json_object_array_length(a); i-- > 0;)
        if (strcmp(js(json_object_array_get_idx(a, i), key), val) == 0)
            json_object_array_del_idx(a, i, 1);
}

static void delete_lb(const struct fake_req *q, struct fake_resp *r)
{
    const char *arn = fp(q, "LoadBalancerArn");
    if (!arn) {
        ferr(r, 400, "ValidationError", "LoadBalancerArn is required");
        return;
    }
    delete_where("listeners", "lb_arn", arn);
    delete_where("lbs", "arn", arn);
}

static void set_hc(const struct fake_req *q, struct json_object *tg)
{
    const char *v;
    if ((v = fp(q, "HealthCheckProtocol")))
        jset(tg, "hc_protocol", v);
    if ((v = fp(q, "HealthCheckPort")))
        jset(tg, "hc_port", v);
    if ((v = fp(q, "HealthCheckPath")))
        jset(tg, "hc_path", v);
    if (fp(q, "HealthCheckIntervalSeconds"))
        jseti(tg, "hc_interval", fpi(q, "HealthCheckIntervalSeconds", 30));
    if (fp(q, "HealthCheckTimeoutSeconds"))
        jseti(tg, "hc_timeout", fpi(q, "HealthCheckTimeoutSeconds", 10));
    if (fp(q, "HealthyThresholdCount"))
        jseti(tg, "healthy", fpi(q, "HealthyThresholdCount", 5));
    if (fp(q, "UnhealthyThresholdCount"))
        jseti(tg, "unhealthy", fpi(q, "UnhealthyThresholdCount", 2));
}

static void create_tg(const struct fake_req *q, struct fake_resp *r)
{
    const char *name = fp(q, "Name"), *proto = fp(q, "Protocol"), *vpc = fp(q, "VpcId");
    const char *tt = fp(q, "TargetType");
    int port = fpi(q, "Port", 0);
    struct json_object *tg, *ex;
    char arn[256], hex[40];
    if (!name || !valid_name(name) || !proto || !vpc || port < 1 || port > 65535) {
        ferr(r, 400, "ValidationError", "Name, Protocol, Port and VpcId are required");
        return;
    }
    tt = tt ? tt : "instance";
    ex = sfind("tgs", "name", name, NULL);
    if (ex) {
        if (strcmp(js(ex, "protocol"), proto) || ji(ex, "port") != port ||
            strcmp(js(ex, "vpc"), vpc) || strcmp(js(ex, "target_type"), tt)) {
            ferr(r, 400, "DuplicateTargetGroupName",
                 "A target group with the same name '%s' exists, but with different settings",
                 name);
            return;
        }
        lbp_buf_adds(&r->body, "<TargetGroups>");
        tg_xml(&r->body, ex);
        lbp_buf_adds(&r->body, "</TargetGroups>");
        return;
    }
    fake_id("", hex, sizeof(hex));
    snprintf(arn, sizeof(arn), "arn:aws:elasticloadbalancing:%s:" ACCOUNT ":targetgroup/%s/%.16s",
             g_region, name, hex + 1);
    tg = json_object_new_object();
    jset(tg, "arn", arn);
    jset(tg, "name", name);
    jset(tg, "protocol", proto);
    jseti(tg, "port", port);
    jset(tg, "vpc", vpc);
    jset(tg, "target_type", tt);
    jset(tg, "hc_protocol", "TCP");
    jset(tg, "hc_port", "traffic-port");
    jseti(tg, "hc_interval", 30);
    jseti(tg, "hc_timeout", 10);
    jseti(tg, "healthy", 5);
    jseti(tg, "unhealthy", 2);
    set_hc(q, tg);
    json_object_object_add(tg, "tags", tags_from(q, "Tags"));
    json_object_object_add(tg, "targets", json_object_new_array());
    json_object_object_add(tg, "attrs", json_object_new_object());
    json_object_array_add(sarr("tgs"), tg);
    lbp_buf_adds(&r->body, "<TargetGroups>");
    tg_xml(&r->body, tg);
    lbp_buf_adds(&r->body, "</TargetGroups>");
}

/*
 * The selection a Describe filtered by LoadBalancerArn fills (room for
 * every item of ALL); NULL, answered, when that load balancer is unknown.
 */
static struct json_object **select_for_lb(const struct fake_req *q, struct fake_resp *r,
                                          struct json_object *all, size_t *cap, const char **lb)
{
    *cap = json_object_array_length(all) + 1;
    *lb = fp(q, "LoadBalancerArn");
    if (*lb && !lb_by_arn(*lb)) {
        ferr(r, 400, "LoadBalancerNotFound", "Load balancer '%s' not found", *lb);
        return NULL;
    }
    return calloc(*cap, sizeof(struct json_object *));
}

static void describe_tgs(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *all = sarr("tgs");
    size_t n = 0, cap;
    const char *lb;
    struct json_object **sel = select_for_lb(q, r, all, &cap, &lb);
    if (!sel)
        return;
    if (!fp(q, "TargetGroupArns.member.1") && !fp(q, "Names.member.1"))
        tg_owner_build(); /* a listing: every group needs its owner */
    if (fp(q, "TargetGroupArns.member.1") || fp(q, "Names.member.1")) {
        bool by_arn = fp(q, "TargetGroupArns.member.1") != NULL;
        for (int i = 1;; i++) {
            const char *v =
                by_arn ? fpf(q, "TargetGroupArns.member.%d", i) : fpf(q, "Names.member.%d", i);
            struct json_object *tg;
            if (!v)
                break;
            tg = sfind("tgs", by_arn ? "arn" : "name", v, NULL);
            if (!tg) {
                free(sel);
                ferr(r, 400, "TargetGroupNotFound", "One or more target groups not found");
                return;
            }
            if (n < cap)
                sel[n++] = tg;
        }
    } else {
        for (size_t i = 0; i < json_object_array_length(all); i++) {
            struct json_object *tg = json_object_array_get_idx(all, i);
            const char *owner = lb ? tg_lb(js(tg, "arn")) : NULL;
            if (!lb || (owner && strcmp(owner, lb) == 0))
                sel[n++] = tg;
        }
    }
    page(q, &r->body, "TargetGroups", sel, n, tg_xml);
    tg_owner_drop();
    free(sel);
}

static struct json_object *need_tg(const struct fake_req *q, struct fake_resp *r)
{
    const char *arn = fp(q, "TargetGroupArn");
    struct json_object *tg = tg_by_arn(arn);
    if (!tg)
        ferr(r, 400, "TargetGroupNotFound", "Target groups '%s' not found", arn ? arn : "");
    return tg;
}

static void modify_tg(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *tg = need_tg(q, r);
    if (!tg)
        return;
    set_hc(q, tg);
    lbp_buf_adds(&r->body, "<TargetGroups>");
    tg_xml(&r->body, tg);
    lbp_buf_adds(&r->body, "</TargetGroups>");
}

static void delete_tg(const struct fake_req *q, struct fake_resp *r)
{
    const char *arn = fp(q, "TargetGroupArn");
    if (!arn) {
        ferr(r, 400, "ValidationError", "TargetGroupArn is required");
        return;
    }
    if (tg_lb(arn)) {
        ferr(r, 400, "ResourceInUse",
             "Target group '%s' is currently in use by a listener or a rule", arn);
        return;
    }
    delete_where("tgs", "arn", arn);
}

static void targets(const struct fake_req *q, struct fake_resp *r, bool reg)
{
    struct json_object *tg = need_tg(q, r), *ts;
    if (!tg)
        return;
    ts = json_object_object_get(tg, "targets");
    for (int i = 1;; i++) {
        const char *id = fpf(q, "Targets.member.%d.Id", i);
        const char *ps = fpf(q, "Targets.member.%d.Port", i);
        long lp = 0;
        int port = ps && lbp_parse_long(ps, 1, 65535, &lp) == 0 ? (int)lp : ji(tg, "port");
        struct json_object *in;
        bool found = false;
        if (!id)
            break;
        if (reg)
            g_targets_registered++;
        else
            g_targets_deregistered++;
        in = sfind("instances", "id", id, NULL);
        if (reg && (!in || strcmp(js(in, "state"), "terminated") == 0)) {
            ferr(r, 400, "InvalidTarget",
                 "The following targets are not in a running state and cannot be registered: '%s'",
                 id);
            return;
        }
        for (size_t k = json_object_array_length(ts); k-- > 0;) {
            struct json_object *t = json_object_array_get_idx(ts, k);
            if (strcmp(js(t, "id"), id) == 0 && ji(t, "port") == port) {
                found = true;
                if (!reg)
                    json_object_array_del_idx(ts, k, 1);
            }
        }
        if (reg && !found) {
            struct json_object *t = json_object_new_object();
            jset(t, "id", id);
            jseti(t, "port", port);
            json_object_array_add(ts, t);
        }
    }
}

static void target_health(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *tg = need_tg(q, r), *ts;
    if (!tg)
        return;
    ts = json_object_object_get(tg, "targets");
    lbp_buf_adds(&r->body, "<TargetHealthDescriptions>");
    for (size_t k = 0; k < json_object_array_length(ts); k++) {
        struct json_object *t = json_object_array_get_idx(ts, k);
        lbp_buf_adds(&r->body, "<member><Target>");
        fel(&r->body, "Id", js(t, "id"));
        feli(&r->body, "Port", ji(t, "port"));
        lbp_buf_adds(&r->body, "</Target>");
        fel(&r->body, "HealthCheckPort",
            strcmp(js(tg, "hc_port"), "traffic-port") == 0 ? "" : js(tg, "hc_port"));
        lbp_buf_adds(&r->body, "<TargetHealth><State>healthy</State></TargetHealth></member>");
    }
    lbp_buf_adds(&r->body, "</TargetHealthDescriptions>");
}

static bool compatible(const char *listener, const char *tg)
{
    if (strcmp(listener, "TLS") == 0)
        return strcmp(tg, "TCP") == 0 || strcmp(tg, "TLS") == 0;
    return strcmp(listener, tg) == 0;
}

static void put_listener(const struct fake_req *q, struct fake_resp *r, bool create)
{
    struct json_object *l = NULL, *lb, *tg;
    const char *proto = fp(q, "Protocol"), *tga = fp(q, "DefaultActions.member.1.TargetGroupArn");
    const char *cert = fp(q, "Certificates.member.1.CertificateArn");
    const char *owner;
    int port = fpi(q, "Port", 0);
    if (!create) {
        l = sfind("listeners", "arn", fp(q, "ListenerArn"), NULL);
        if (!l) {
            ferr(r, 400, "ListenerNotFound", "One or more listeners not found");
            return;
        }
        lb = lb_by_arn(js(l, "lb_arn"));
        proto = proto ? proto : js(l, "protocol");
        tga = tga ? tga : js(l, "tg_arn");
        port = port ? port : ji(l, "port");
    } else {
        lb = lb_by_arn(fp(q, "LoadBalancerArn"));
        if (!lb) {
            ferr(r, 400, "LoadBalancerNotFound", "Load balancer not found");
            return;
        }
    }
    if (!proto || port < 1 || port > 65535 || !tga) {
        ferr(r, 400, "ValidationError", "Protocol, Port and a forward action are required");
        return;
    }
    tg = tg_by_arn(tga);
    if (!tg) {
        ferr(r, 400, "TargetGroupNotFound", "Target group '%s' not found", tga);
        return;
    }
    owner = tg_lb(tga);
    if (owner && strcmp(owner, js(lb, "arn")) != 0) {
        ferr(r, 400, "TargetGroupAssociationLimit",
             "The target group is already associated with a different load balancer");
        return;
    }
    if (!compatible(proto, js(tg, "protocol"))) {
        ferr(r, 400, "IncompatibleProtocols",
             "The listener protocol '%s' is incompatible with target group protocol '%s'", proto,
             js(tg, "protocol"));
        return;
    }
    if (strcmp(proto, "TLS") == 0 && !cert) {
        ferr(r, 400, "CertificateNotFound", "A certificate must be specified for TLS listeners");
        return;
    }
    {
        struct json_object *ls = sarr("listeners");
        for (size_t i = 0; i < json_object_array_length(ls); i++) {
            struct json_object *o = json_object_array_get_idx(ls, i);
            if (o != l && strcmp(js(o, "lb_arn"), js(lb, "arn")) == 0 && ji(o, "port") == port) {
                /* CreateListener is idempotent: the same settings again return the listener. */
                if (create && strcmp(js(o, "protocol"), proto) == 0 &&
                    strcmp(js(o, "tg_arn"), tga) == 0 &&
                    strcmp(js(o, "cert"), cert ? cert : "") == 0 &&
                    strcmp(js(o, "ssl_policy"), fp(q, "SslPolicy") ? fp(q, "SslPolicy") : "") ==
                        0) {
                    lbp_buf_adds(&r->body, "<Listeners>");
                    listener_xml(&r->body, o);
                    lbp_buf_adds(&r->body, "</Listeners>");
                    return;
                }
                ferr(r, 400, "DuplicateListener", "A listener already exists on port %d", port);
                return;
            }
        }
    }
    if (create) {
        char arn[300], hex[40];
        const char *lbarn = js(lb, "arn"), *slash = strstr(lbarn, ":loadbalancer/");
        fake_id("", hex, sizeof(hex));
        snprintf(arn, sizeof(arn), "arn:aws:elasticloadbalancing:%s:" ACCOUNT ":listener/%s/%.16s",
                 g_region, slash ? slash + 14 : "net/x/x", hex + 1);
        l = json_object_new_object();
        jset(l, "arn", arn);
        jset(l, "lb_arn", lbarn);
        json_object_array_add(sarr("listeners"), l);
    }
    jseti(l, "port", port);
    jset(l, "protocol", proto);
    jset(l, "tg_arn", tga);
    jset(l, "cert", cert ? cert : "");
    jset(l, "ssl_policy", fp(q, "SslPolicy") ? fp(q, "SslPolicy") : "");
    lbp_buf_adds(&r->body, "<Listeners>");
    listener_xml(&r->body, l);
    lbp_buf_adds(&r->body, "</Listeners>");
}

static void describe_listeners(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *all = sarr("listeners");
    size_t n = 0, cap;
    const char *lb;
    struct json_object **sel = select_for_lb(q, r, all, &cap, &lb);
    if (!sel)
        return;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *l = json_object_array_get_idx(all, i);
        if (!lb || strcmp(js(l, "lb_arn"), lb) == 0)
            sel[n++] = l;
    }
    page(q, &r->body, "Listeners", sel, n, listener_xml);
    free(sel);
}

static void delete_listener(const struct fake_req *q, struct fake_resp *r)
{
    const char *arn = fp(q, "ListenerArn");
    if (!sfind("listeners", "arn", arn, NULL)) {
        ferr(r, 400, "ListenerNotFound", "Listener '%s' not found", arn ? arn : "");
        return;
    }
    delete_where("listeners", "arn", arn);
}

static void describe_tags(const struct fake_req *q, struct fake_resp *r)
{
    struct lbp_buf *b = &r->body;
    int i;
    for (i = 1; fpf(q, "ResourceArns.member.%d", i); i++) {
        const char *arn = fpf(q, "ResourceArns.member.%d", i);
        if (!lb_by_arn(arn) && !tg_by_arn(arn)) {
            ferr(r, 400,
                 strstr(arn, ":targetgroup/") ? "TargetGroupNotFound" : "LoadBalancerNotFound",
                 "Resource '%s' not found", arn);
            return;
        }
    }
    if (i > 21) {
        ferr(r, 400, "ValidationError", "At most 20 resources per DescribeTags");
        return;
    }
    lbp_buf_adds(b, "<TagDescriptions>");
    for (i = 1; fpf(q, "ResourceArns.member.%d", i); i++) {
        const char *arn = fpf(q, "ResourceArns.member.%d", i);
        struct json_object *o = lb_by_arn(arn);
        if (!o)
            o = tg_by_arn(arn);
        lbp_buf_adds(b, "<member>");
        fel(b, "ResourceArn", arn);
        tags_xml(b, o);
        lbp_buf_adds(b, "</member>");
    }
    lbp_buf_adds(b, "</TagDescriptions>");
}

static void add_tags(const struct fake_req *q, struct fake_resp *r)
{
    for (int i = 1; fpf(q, "ResourceArns.member.%d", i); i++) {
        const char *arn = fpf(q, "ResourceArns.member.%d", i);
        struct json_object *o = lb_by_arn(arn), *t, *nt;
        if (!o)
            o = tg_by_arn(arn);
        if (!o) {
            ferr(r, 400, "LoadBalancerNotFound", "Resource '%s' not found", arn);
            return;
        }
        t = json_object_object_get(o, "tags");
        nt = tags_from(q, "Tags");
        json_object_object_foreach(nt, k, v) json_object_object_add(t, k, json_object_get(v));
        json_object_put(nt);
    }
}

static void attrs(const struct fake_req *q, struct fake_resp *r, bool lb, bool modify)
{
    struct json_object *o =
        lb ? lb_by_arn(fp(q, "LoadBalancerArn")) : tg_by_arn(fp(q, "TargetGroupArn"));
    struct json_object *a;
    static const char *const lb_def[][2] = {{"load_balancing.cross_zone.enabled", "false"},
                                            {"deletion_protection.enabled", "false"}};
    static const char *const tg_def[][2] = {{"proxy_protocol_v2.enabled", "false"},
                                            {"deregistration_delay.timeout_seconds", "300"},
                                            {"stickiness.enabled", "false"},
                                            {"stickiness.type", "source_ip"}};
    if (!o) {
        ferr(r, 400, lb ? "LoadBalancerNotFound" : "TargetGroupNotFound", "not found");
        return;
    }
    a = json_object_object_get(o, "attrs");
    for (size_t i = 0; i < (lb ? 2 : 4); i++)
        if (!json_object_object_get_ex(a, lb ? lb_def[i][0] : tg_def[i][0], NULL))
            jset(a, lb ? lb_def[i][0] : tg_def[i][0], lb ? lb_def[i][1] : tg_def[i][1]);
    if (modify)
        for (int i = 1; fpf(q, "Attributes.member.%d.Key", i); i++) {
            const char *k = fpf(q, "Attributes.member.%d.Key", i);
            if (!json_object_object_get_ex(a, k, NULL)) {
                ferr(r, 400, "ValidationError", "Unknown attribute '%s'", k);
                return;
            }
            jset(a, k, fpf(q, "Attributes.member.%d.Value", i));
        }
    lbp_buf_adds(&r->body, "<Attributes>");
    json_object_object_foreach(a, k, v)
    {
        lbp_buf_adds(&r->body, "<member>");
        fel(&r->body, "Key", k);
        fel(&r->body, "Value", json_object_get_string(v));
        lbp_buf_adds(&r->body, "</member>");
    }
    lbp_buf_adds(&r->body, "</Attributes>");
}

bool ops_elbv2(const struct fake_req *q, struct fake_resp *r)
{
    const char *a = q->action;
    if (!strcmp(a, "CreateLoadBalancer"))
        create_lb(q, r);
    else if (!strcmp(a, "DescribeLoadBalancers"))
        describe_lbs(q, r);
    else if (!strcmp(a, "SetSubnets"))
        set_subnets(q, r);
    else if (!strcmp(a, "DeleteLoadBalancer"))
        delete_lb(q, r);
    else if (!strcmp(a, "CreateTargetGroup"))
        create_tg(q, r);
    else if (!strcmp(a, "DescribeTargetGroups"))
        describe_tgs(q, r);
    else if (!strcmp(a, "ModifyTargetGroup"))
        modify_tg(q, r);
    else if (!strcmp(a, "DeleteTargetGroup"))
        delete_tg(q, r);
    else if (!strcmp(a, "RegisterTargets"))
        targets(q, r, true);
    else if (!strcmp(a, "DeregisterTargets"))
        targets(q, r, false);
    else if (!strcmp(a, "DescribeTargetHealth"))
        target_health(q, r);
    else if (!strcmp(a, "CreateListener"))
        put_listener(q, r, true);
    else if (!strcmp(a, "ModifyListener"))
        put_listener(q, r, false);
    else if (!strcmp(a, "DescribeListeners"))
        describe_listeners(q, r);
    else if (!strcmp(a, "DeleteListener"))
        delete_listener(q, r);
    else if (!strcmp(a, "DescribeTags"))
        describe_tags(q, r);
    else if (!strcmp(a, "AddTags"))
        add_tags(q, r);
    else if (!strcmp(a, "DescribeLoadBalancerAttributes"))
        attrs(q, r, true, false);
    else if (!strcmp(a, "ModifyLoadBalancerAttributes"))
        attrs(q, r, true, true);
    else if (!strcmp(a, "DescribeTargetGroupAttributes"))
        attrs(q, r, false, false);
    else if (!strcmp(a, "ModifyTargetGroupAttributes"))
        attrs(q, r, false, true);
    else
        return false;
    return true;
}
