/*
 * classic.c — Classic ELBs (2012-06-01), the upstream default LB kind.
 *
 * Each Service gets an ELB named "a"+UID with one listener per port, its
 * own security group "k8s-elb-<lb>" (clients from loadBalancerSourceRanges
 * on the listener ports), a rule on the nodes' group letting that group in,
 * a health check, the eligible instances registered and, with the
 * proxy-protocol annotation, a ProxyProtocolPolicyType policy on every
 * NodePort. ensure reads the ELB and changes only listeners, health check,
 * instances, backend policies and rules that differ; names are
 * deterministic, so a failed step converges next time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clouds/aws/aws_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define DESC_CLIENT "kubernetes.io/rule/elb/client="
#define DESC_NODES "kubernetes.io/rule/elb/nodes="
/* Upstream's names, so an ELB it configured converges without a second policy. */
#define PP_POLICY "k8s-proxyprotocol-enabled"
#define PP_TYPE "ProxyProtocolPolicyType"

int aws_clb_get(struct lbp_provider_ctx *ctx, const char *lb_name, struct aws_clb *lb,
                struct lbp_call *call)
{
    struct lbp_vec v;
    int rc;
    lbp_vec_init(&v, sizeof(struct aws_clb));
    rc = aws_describe_lb(ctx, AWS_ELB, lb_name, &v, call);
    if (rc == LBP_OK) {
        *lb = *(struct aws_clb *)v.v;
        ((struct aws_clb *)v.v)->instances = NULL; /* moved */
        ((struct aws_clb *)v.v)->backends = NULL;
    }
    aws_clbs_free(&v);
    return rc;
}

static int want_listeners(const struct lbp_lb_spec *spec, const struct aws_opts *o,
                          struct aws_clb_listener *l, size_t *n, struct lbp_call *call)
{
    *n = 0;
    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        struct aws_clb_listener *x;
        if (strcmp(p->protocol, "TCP") != 0) {
            lbp_failf(call,
                      "port %d: a classic ELB carries TCP only; use " AWS_ANN
                      "aws-load-balancer-type: nlb for %s",
                      p->port, p->protocol);
            return LBP_INVALID;
        }
        if (p->node_port <= 0) {
            lbp_failf(call, "port %d has no nodePort", p->port);
            return LBP_INVALID;
        }
        if (*n >= AWS_CLB_MAX_LISTENERS)
            return LBP_INVALID;
        x = &l[(*n)++];
        x->lb_port = p->port;
        x->instance_port = p->node_port;
        if (aws_opts_ssl_port(o, p->port)) {
            lbp_strlcpy(x->cert, o->ssl_cert, sizeof(x->cert));
            if (strcmp(o->backend_protocol, "http") == 0) {
                lbp_strlcpy(x->protocol, "HTTPS", sizeof(x->protocol));
                lbp_strlcpy(x->instance_protocol, "HTTP", sizeof(x->instance_protocol));
            } else if (strcmp(o->backend_protocol, "https") == 0) {
                lbp_strlcpy(x->protocol, "HTTPS", sizeof(x->protocol));
                lbp_strlcpy(x->instance_protocol, "HTTPS", sizeof(x->instance_protocol));
            } else if (strcmp(o->backend_protocol, "ssl") == 0) {
                lbp_strlcpy(x->protocol, "SSL", sizeof(x->protocol));
                lbp_strlcpy(x->instance_protocol, "SSL", sizeof(x->instance_protocol));
            } else {
                lbp_strlcpy(x->protocol, "SSL", sizeof(x->protocol));
                lbp_strlcpy(x->instance_protocol, "TCP", sizeof(x->instance_protocol));
            }
        } else if (strcmp(o->backend_protocol, "http") == 0) {
            lbp_strlcpy(x->protocol, "HTTP", sizeof(x->protocol));
            lbp_strlcpy(x->instance_protocol, "HTTP", sizeof(x->instance_protocol));
        } else {
            lbp_strlcpy(x->protocol, "TCP", sizeof(x->protocol));
            lbp_strlcpy(x->instance_protocol, "TCP", sizeof(x->instance_protocol));
        }
    }
    return LBP_OK;
}

static bool same_listener(const struct aws_clb_listener *a, const struct aws_clb_listener *b)
{
    return a->lb_port == b->lb_port && a->instance_port == b->instance_port &&
           strcasecmp(a->protocol, b->protocol) == 0 &&
           strcasecmp(a->instance_protocol, b->instance_protocol) == 0 &&
           strcmp(a->cert, b->cert) == 0;
}

static void add_listener(struct aws_query *q, size_t i, const struct aws_clb_listener *l)
{
    char b[16];
    awsq_addf(q, l->protocol, "Listeners.member.%zu.Protocol", i);
    snprintf(b, sizeof(b), "%d", l->lb_port);
    awsq_addf(q, b, "Listeners.member.%zu.LoadBalancerPort", i);
    awsq_addf(q, l->instance_protocol, "Listeners.member.%zu.InstanceProtocol", i);
    snprintf(b, sizeof(b), "%d", l->instance_port);
    awsq_addf(q, b, "Listeners.member.%zu.InstancePort", i);
    if (l->cert[0])
        awsq_addf(q, l->cert, "Listeners.member.%zu.SSLCertificateId", i);
}

static void health_target(const struct lbp_lb_spec *spec, const struct aws_opts *o, char *out,
                          size_t cap)
{
    const char *proto = "TCP", *path = "";
    struct lbp_health_check hc;
    char port[16];
    snprintf(port, sizeof(port), "%d", spec->n_ports ? spec->ports[0].node_port : 0);
    if (lbp_health_check_kube(spec, &hc)) {
        proto = hc.protocol;
        path = hc.path;
        snprintf(port, sizeof(port), "%d", hc.port);
    }
    if (o->hc_protocol[0])
        proto = o->hc_protocol;
    if (o->hc_port[0] && strcmp(o->hc_port, "traffic-port") != 0)
        lbp_strlcpy(port, o->hc_port, sizeof(port));
    if (o->hc_path[0])
        path = o->hc_path;
    if (strcmp(proto, "TCP") == 0)
        path = "";
    else if (!path[0])
        path = "/";
    snprintf(out, cap, "%s:%s%s", proto, port, path);
}

/*
 * The ELB's own group: found by name, else created. may_create is false on
 * the second look after CreateSecurityGroup answered InvalidGroup.Duplicate
 * (an earlier call whose answer was lost made it, or another replica did):
 * then the group is taken as found, never created twice nor a hard error.
 */
static int lb_sg_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *vpc,
                     const struct aws_tags *tags, struct aws_sg *sg, bool may_create,
                     struct lbp_call *call)
{
    struct lbp_vec v;
    struct aws_err e;
    char name[96];
    int rc;
    snprintf(name, sizeof(name), "k8s-elb-%s", spec->lb_name);
    lbp_vec_init(&v, sizeof(struct aws_sg));
    rc = aws_describe_sgs(ctx, NULL, 0, "group-name", name, &v, call);
    if (rc == LBP_OK && v.n) {
        *sg = *(struct aws_sg *)v.v;
        ((struct aws_sg *)v.v)->rules = NULL;
        ((struct aws_sg *)v.v)->n_rules = 0;
        memset(&((struct aws_sg *)v.v)->tags, 0, sizeof(sg->tags)); /* moved */
        /* Tagged at creation; re-tag one that lost them so delete still finds it. */
        if (!aws_tag_get(&sg->tags, tags->t[0].key)) {
            struct aws_query q;
            awsq_init(&q, "CreateTags", AWS_EC2_VERSION);
            awsq_add(&q, "ResourceId.1", sg->id);
            for (size_t i = 0; i < tags->n; i++) {
                awsq_addf(&q, tags->t[i].key, "Tag.%zu.Key", i + 1);
                awsq_addf(&q, tags->t[i].value, "Tag.%zu.Value", i + 1);
            }
            rc = aws_call0(ctx, AWS_EC2, &q, "CreateTags", NULL, call);
            awsq_free(&q);
        }
    } else if (rc == LBP_OK && !may_create) {
        lbp_failf(call, "security group %s: said to exist, not found", name);
        rc = LBP_RETRY; /* eventual consistency: the next sync sees it */
    } else if (rc == LBP_OK) {
        struct aws_query q;
        xmlDoc *doc = NULL;
        char desc[200];
        awsq_init(&q, "CreateSecurityGroup", AWS_EC2_VERSION);
        awsq_add(&q, "GroupName", name);
        snprintf(desc, sizeof(desc), "Security group for Kubernetes ELB %s (%s/%s)", spec->lb_name,
                 spec->namespace, spec->name);
        awsq_add(&q, "GroupDescription", desc);
        awsq_add(&q, "VpcId", vpc);
        /* Created and tagged in one call, so no untagged group can be left behind. */
        awsq_add(&q, "TagSpecification.1.ResourceType", "security-group");
        for (size_t i = 0; i < tags->n; i++) {
            awsq_addf(&q, tags->t[i].key, "TagSpecification.1.Tag.%zu.Key", i + 1);
            awsq_addf(&q, tags->t[i].value, "TagSpecification.1.Tag.%zu.Value", i + 1);
        }
        rc = aws_call(ctx, AWS_EC2, &q, "CreateSecurityGroup", &doc, &e, call);
        awsq_free(&q);
        memset(sg, 0, sizeof(*sg));
        if (rc == LBP_INVALID && strcmp(e.code, "InvalidGroup.Duplicate") == 0) {
            awsx_free(doc);
            aws_sgs_free(&v);
            return lb_sg_get(ctx, spec, vpc, tags, sg, false, call);
        }
        if (rc == LBP_OK &&
            awsx_text(awsx_root(doc), "groupId", sg->id, sizeof(sg->id)) != LBP_OK) {
            lbp_failf(call, "CreateSecurityGroup: unreadable answer");
            rc = LBP_RETRY;
        }
        awsx_free(doc);
    }
    aws_sgs_free(&v);
    return rc;
}

/* A registered instance id (have) against a wanted instance. */
static bool instance_match(const void *have, const void *want, void *ud)
{
    return strcmp((const char *)have, ((const struct aws_instance *)want)->id) == 0;
}

static int lb_sg(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *vpc,
                 const struct aws_tags *tags, struct aws_sg *sg, struct lbp_call *call)
{
    return lb_sg_get(ctx, spec, vpc, tags, sg, true, call);
}

static int instances_sync(struct lbp_provider_ctx *ctx, const char *name,
                          const struct aws_clb *have, const struct lbp_vec *inst,
                          struct lbp_call *call)
{
    static const struct lbp_diff_ops ops = {.match = instance_match};
    const struct aws_instance *in = inst->v;
    struct aws_query qa, qd;
    size_t *ai = NULL, *di = NULL, na = 0, nd = 0;
    int rc = lbp_target_diff(have ? have->instances : NULL, have ? have->n_instances : 0,
                             sizeof(*have->instances), in, inst->n, sizeof(*in), &ops, NULL, &ai,
                             &na, &di, &nd);
    if (rc)
        return rc;
    awsq_init(&qa, "RegisterInstancesWithLoadBalancer", AWS_ELB_VERSION);
    awsq_init(&qd, "DeregisterInstancesFromLoadBalancer", AWS_ELB_VERSION);
    awsq_add(&qa, "LoadBalancerName", name);
    awsq_add(&qd, "LoadBalancerName", name);
    for (size_t i = 0; i < na; i++)
        awsq_addf(&qa, in[ai[i]].id, "Instances.member.%zu.InstanceId", i + 1);
    for (size_t k = 0; k < nd; k++)
        awsq_addf(&qd, have->instances[di[k]], "Instances.member.%zu.InstanceId", k + 1);
    free(ai);
    free(di);
    if (na)
        rc = aws_call0(ctx, AWS_ELB, &qa, "RegisterInstancesWithLoadBalancer", NULL, call);
    if (rc == LBP_OK && nd)
        rc = aws_call0(ctx, AWS_ELB, &qd, "DeregisterInstancesFromLoadBalancer", NULL, call);
    awsq_free(&qa);
    awsq_free(&qd);
    return rc;
}

static int clb_attributes(struct lbp_provider_ctx *ctx, const char *name, const struct aws_opts *o,
                          struct lbp_call *call)
{
    struct aws_query q;
    xmlDoc *doc = NULL;
    char cz[16] = "", idle[16] = "";
    bool change = false;
    int rc;
    if (o->cross_zone < 0 && !o->idle_timeout)
        return LBP_OK;
    awsq_init(&q, "DescribeLoadBalancerAttributes", AWS_ELB_VERSION);
    awsq_add(&q, "LoadBalancerName", name);
    rc = aws_call(ctx, AWS_ELB, &q, "DescribeLoadBalancerAttributes", &doc, NULL, call);
    awsq_free(&q);
    if (rc)
        return rc;
    awsx_text(awsx_result(doc), "LoadBalancerAttributes/CrossZoneLoadBalancing/Enabled", cz,
              sizeof(cz));
    awsx_text(awsx_result(doc), "LoadBalancerAttributes/ConnectionSettings/IdleTimeout", idle,
              sizeof(idle));
    awsx_free(doc);
    awsq_init(&q, "ModifyLoadBalancerAttributes", AWS_ELB_VERSION);
    awsq_add(&q, "LoadBalancerName", name);
    if (o->cross_zone >= 0 && strcmp(cz, o->cross_zone ? "true" : "false") != 0) {
        awsq_add(&q, "LoadBalancerAttributes.CrossZoneLoadBalancing.Enabled",
                 o->cross_zone ? "true" : "false");
        change = true;
    }
    if (o->idle_timeout) {
        long have = 0;
        if (lbp_parse_long(idle, 0, 100000, &have) != LBP_OK || have != o->idle_timeout) {
            awsq_addi(&q, "LoadBalancerAttributes.ConnectionSettings.IdleTimeout", o->idle_timeout);
            change = true;
        }
    }
    if (change)
        rc = aws_call0(ctx, AWS_ELB, &q, "ModifyLoadBalancerAttributes", NULL, call);
    awsq_free(&q);
    return rc;
}

static bool has_policy(const struct aws_clb_backend *be, const char *name)
{
    for (size_t i = 0; be && i < be->n_policies; i++)
        if (strcmp(be->policies[i], name) == 0)
            return true;
    return false;
}

static const struct aws_clb_backend *backend_of(const struct aws_clb *lb, int port)
{
    for (size_t i = 0; i < lb->n_backends; i++)
        if (lb->backends[i].instance_port == port)
            return &lb->backends[i];
    return NULL;
}

/* The proxy-protocol policy exists on the ELB (created when missing). */
static int pp_policy(struct lbp_provider_ctx *ctx, const char *name, struct lbp_call *call)
{
    struct aws_query q;
    struct aws_err e;
    xmlDoc *doc = NULL;
    char type[96] = "";
    int rc;
    awsq_init(&q, "DescribeLoadBalancerPolicies", AWS_ELB_VERSION);
    awsq_add(&q, "LoadBalancerName", name);
    awsq_add(&q, "PolicyNames.member.1", PP_POLICY);
    rc = aws_call(ctx, AWS_ELB, &q, "DescribeLoadBalancerPolicies", &doc, &e, call);
    awsq_free(&q);
    if (rc == LBP_OK) {
        awsx_text(awsx_result(doc), "PolicyDescriptions/member/PolicyTypeName", type, sizeof(type));
        awsx_free(doc);
        /* Same name, other kind: not ours to rewrite, and attaching it would be wrong. */
        if (strcmp(type, PP_TYPE) != 0) {
            lbp_failf(call, "ELB %s has a policy %s of type %s, not " PP_TYPE, name, PP_POLICY,
                      type[0] ? type : "(none)");
            return LBP_INVALID;
        }
        return LBP_OK;
    }
    if (rc == LBP_NOT_FOUND && strcmp(e.code, "PolicyNotFound") != 0) {
        /* The ELB itself went away under us: the next ensure re-creates it. */
        lbp_failf(call, "DescribeLoadBalancerPolicies: %s: %s", e.code, e.msg);
        return LBP_RETRY;
    }
    if (rc != LBP_NOT_FOUND)
        return rc;
    awsq_init(&q, "CreateLoadBalancerPolicy", AWS_ELB_VERSION);
    awsq_add(&q, "LoadBalancerName", name);
    awsq_add(&q, "PolicyName", PP_POLICY);
    awsq_add(&q, "PolicyTypeName", PP_TYPE);
    awsq_add(&q, "PolicyAttributes.member.1.AttributeName", "ProxyProtocol");
    awsq_add(&q, "PolicyAttributes.member.1.AttributeValue", "true");
    rc = aws_call0(ctx, AWS_ELB, &q, "CreateLoadBalancerPolicy", &e, call);
    awsq_free(&q);
    /* Another writer (or our earlier attempt Describe could not see yet) made it. */
    if (rc == LBP_INVALID && strcmp(e.code, "DuplicatePolicyName") == 0)
        rc = LBP_OK;
    if (rc == LBP_OK)
        lbp_info("aws: created policy %s on ELB %s", PP_POLICY, name);
    return rc;
}

/* Sets one port's policies to what it has, plus or minus ours; others' policies stay. */
static int pp_set(struct lbp_provider_ctx *ctx, const char *name, int port,
                  const struct aws_clb_backend *be, bool on, struct lbp_call *call)
{
    const char *names[AWS_CLB_MAX_BACKEND_POLICIES + 1];
    size_t n = 0;
    struct aws_query q;
    struct aws_err e;
    int rc;
    for (size_t i = 0; be && i < be->n_policies; i++)
        if (strcmp(be->policies[i], PP_POLICY) != 0)
            names[n++] = be->policies[i];
    if (on)
        names[n++] = PP_POLICY;
    awsq_init(&q, "SetLoadBalancerPoliciesForBackendServer", AWS_ELB_VERSION);
    awsq_add(&q, "LoadBalancerName", name);
    awsq_addi(&q, "InstancePort", port);
    awsq_list(&q, AWS_QUERY, "PolicyNames", names, n);
    rc = aws_call0(ctx, AWS_ELB, &q, "SetLoadBalancerPoliciesForBackendServer", &e, call);
    awsq_free(&q);
    /* The ELB or a policy vanished between the read and this call: read again. */
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "SetLoadBalancerPoliciesForBackendServer: %s: %s", e.code, e.msg);
        rc = LBP_RETRY;
    }
    return rc;
}

/*
 * Proxy protocol on a classic ELB is a ProxyProtocolPolicyType policy on
 * each instance port. Steady state reads only DescribeLoadBalancers'
 * BackendServerDescriptions: when every NodePort already carries the
 * policy, the policy exists and nothing is called.
 */
static int clb_proxy_protocol(struct lbp_provider_ctx *ctx, const char *name,
                              const struct aws_clb *lb, const struct aws_clb_listener *want,
                              size_t nw, bool on, struct lbp_call *call)
{
    bool missing = false;
    int rc = LBP_OK;
    for (size_t i = 0; on && i < nw; i++)
        missing |= !has_policy(backend_of(lb, want[i].instance_port), PP_POLICY);
    if (missing)
        rc = pp_policy(ctx, name, call);
    for (size_t i = 0; missing && rc == LBP_OK && i < nw; i++) {
        const struct aws_clb_backend *be = backend_of(lb, want[i].instance_port);
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = want[k].instance_port == want[i].instance_port;
        if (!dup && !has_policy(be, PP_POLICY))
            rc = pp_set(ctx, name, want[i].instance_port, be, true, call);
    }
    /* Ports that should not carry it: all when off, old NodePorts when on. */
    for (size_t k = 0; rc == LBP_OK && k < lb->n_backends; k++) {
        const struct aws_clb_backend *be = &lb->backends[k];
        bool keep = false;
        for (size_t i = 0; on && i < nw && !keep; i++)
            keep = want[i].instance_port == be->instance_port;
        if (!keep && has_policy(be, PP_POLICY))
            rc = pp_set(ctx, name, be->instance_port, be, false, call);
    }
    return rc;
}

int aws_clb_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    struct aws_clb_listener *want = NULL;
    size_t nw = 0;
    struct lbp_vec inst, subnets, nsgs, rules;
    struct aws_clb lb;
    struct aws_sg sg;
    struct aws_tags tags;
    char hc[300], dclient[128], dnodes[128];
    const char *vpc;
    bool exists = false;
    int rc;

    memset(&lb, 0, sizeof(lb));
    memset(&sg, 0, sizeof(sg));
    memset(&tags, 0, sizeof(tags));
    lbp_vec_init(&inst, sizeof(struct aws_instance));
    lbp_vec_init(&subnets, sizeof(struct aws_subnet));
    lbp_vec_init(&nsgs, sizeof(struct aws_sg));
    lbp_vec_init(&rules, sizeof(struct aws_rule));
    want = calloc(AWS_CLB_MAX_LISTENERS, sizeof(*want));
    if (!want)
        return LBP_NOMEM;
    rc = want_listeners(spec, o, want, &nw, call);
    if (rc == LBP_OK && o->n_eips) {
        lbp_failf(call, "annotation " AWS_ANN "aws-load-balancer-eip-allocations needs "
                        "aws-load-balancer-type: nlb");
        rc = LBP_INVALID;
    }
    if (rc == LBP_OK)
        rc = aws_nodes_instances(ctx, spec, o, &inst, call);
    if (rc)
        goto out;
    if (!(vpc = aws_lb_vpc(ctx, &inst, call))) {
        rc = LBP_RETRY;
        goto out;
    }
    if ((rc = aws_owner_tags(ctx, spec, o, &tags)))
        goto out;
    snprintf(dclient, sizeof(dclient), DESC_CLIENT "%s", spec->lb_name);
    snprintf(dnodes, sizeof(dnodes), DESC_NODES "%s", spec->lb_name);

    rc = lb_sg(ctx, spec, vpc, &tags, &sg, call);
    for (size_t i = 0; i < nw && rc == LBP_OK; i++) {
        size_t ns = spec->n_source_ranges ? spec->n_source_ranges : 1;
        for (size_t s = 0; s < ns && rc == LBP_OK; s++) {
            struct aws_rule *r = lbp_vec_push(&rules);
            if (!r) {
                rc = LBP_NOMEM;
                break;
            }
            lbp_strlcpy(r->proto, "tcp", sizeof(r->proto));
            r->from = r->to = want[i].lb_port;
            lbp_strlcpy(r->cidr, spec->n_source_ranges ? spec->source_ranges[s] : "0.0.0.0/0",
                        sizeof(r->cidr));
        }
    }
    if (rc == LBP_OK)
        rc = aws_sg_converge(ctx, &sg, dclient, rules.v, rules.n, call);
    if (rc)
        goto out;

    rc = aws_clb_get(ctx, spec->lb_name, &lb, call);
    if (rc == LBP_OK) {
        exists = true;
        if (strcmp(lb.scheme, o->internal ? "internal" : "internet-facing") != 0) {
            /* The scheme is fixed at creation: replace the ELB, as upstream does. */
            struct aws_query q;
            lbp_info("aws %s/%s: ELB %s is %s; replacing it", spec->namespace, spec->name,
                     spec->lb_name, lb.scheme);
            awsq_init(&q, "DeleteLoadBalancer", AWS_ELB_VERSION);
            awsq_add(&q, "LoadBalancerName", spec->lb_name);
            rc = aws_call0(ctx, AWS_ELB, &q, "DeleteLoadBalancer", NULL, call);
            awsq_free(&q);
            if (rc == LBP_OK) {
                exists = false;
                aws_clb_free(&lb);
                memset(&lb, 0, sizeof(lb));
                rc = LBP_NOT_FOUND;
            }
        }
    }
    if (rc == LBP_NOT_FOUND) {
        struct aws_query q;
        xmlDoc *doc = NULL;
        struct aws_err e;
        rc = aws_lb_subnets(ctx, vpc, o, &subnets, call);
        if (rc)
            goto out;
        awsq_init(&q, "CreateLoadBalancer", AWS_ELB_VERSION);
        awsq_add(&q, "LoadBalancerName", spec->lb_name);
        for (size_t i = 0; i < nw; i++)
            add_listener(&q, i + 1, &want[i]);
        for (size_t i = 0; i < subnets.n; i++)
            awsq_addf(&q, ((struct aws_subnet *)subnets.v)[i].id, "Subnets.member.%zu", i + 1);
        awsq_add(&q, "SecurityGroups.member.1", sg.id);
        if (o->internal)
            awsq_add(&q, "Scheme", "internal");
        for (size_t i = 0; i < tags.n; i++) {
            awsq_addf(&q, tags.t[i].key, "Tags.member.%zu.Key", i + 1);
            awsq_addf(&q, tags.t[i].value, "Tags.member.%zu.Value", i + 1);
        }
        rc = aws_call(ctx, AWS_ELB, &q, "CreateLoadBalancer", &doc, &e, call);
        awsq_free(&q);
        if (rc == LBP_NOT_FOUND) {
            lbp_failf(call, "CreateLoadBalancer: %s: %s", e.code, e.msg);
            rc = LBP_INVALID;
        }
        if (rc == LBP_OK) {
            lbp_strlcpy(lb.name, spec->lb_name, sizeof(lb.name));
            awsx_text(awsx_result(doc), "DNSName", lb.dns, sizeof(lb.dns));
            lbp_info("aws %s/%s: created ELB %s", spec->namespace, spec->name, spec->lb_name);
        }
        awsx_free(doc);
    }
    if (rc)
        goto out;

    if (exists) {
        struct aws_query qd, qc;
        size_t nd = 0, nc = 0;
        awsq_init(&qd, "DeleteLoadBalancerListeners", AWS_ELB_VERSION);
        awsq_init(&qc, "CreateLoadBalancerListeners", AWS_ELB_VERSION);
        awsq_add(&qd, "LoadBalancerName", lb.name);
        awsq_add(&qc, "LoadBalancerName", lb.name);
        for (size_t k = 0; k < lb.n_l; k++) {
            bool keep = false;
            for (size_t i = 0; i < nw && !keep; i++)
                keep = same_listener(&lb.l[k], &want[i]);
            if (!keep) {
                char b[16];
                snprintf(b, sizeof(b), "%d", lb.l[k].lb_port);
                awsq_addf(&qd, b, "LoadBalancerPorts.member.%zu", ++nd);
            }
        }
        for (size_t i = 0; i < nw; i++) {
            bool have = false;
            for (size_t k = 0; k < lb.n_l && !have; k++)
                have = same_listener(&lb.l[k], &want[i]);
            if (!have)
                add_listener(&qc, ++nc, &want[i]);
        }
        if (nd)
            rc = aws_call0(ctx, AWS_ELB, &qd, "DeleteLoadBalancerListeners", NULL, call);
        if (rc == LBP_OK && nc)
            rc = aws_call0(ctx, AWS_ELB, &qc, "CreateLoadBalancerListeners", NULL, call);
        awsq_free(&qd);
        awsq_free(&qc);
        if (rc)
            goto out;
    }

    health_target(spec, o, hc, sizeof(hc));
    {
        int interval = o->hc_interval ? o->hc_interval : 10;
        int timeout = o->hc_timeout ? o->hc_timeout : 5;
        int healthy = o->hc_healthy ? o->hc_healthy : 2;
        int unhealthy = o->hc_unhealthy ? o->hc_unhealthy : 6;
        if (!exists || strcmp(lb.hc_target, hc) != 0 || lb.hc_interval != interval ||
            lb.hc_timeout != timeout || lb.hc_healthy != healthy || lb.hc_unhealthy != unhealthy) {
            struct aws_query q;
            awsq_init(&q, "ConfigureHealthCheck", AWS_ELB_VERSION);
            awsq_add(&q, "LoadBalancerName", spec->lb_name);
            awsq_add(&q, "HealthCheck.Target", hc);
            awsq_addi(&q, "HealthCheck.Interval", interval);
            awsq_addi(&q, "HealthCheck.Timeout", timeout);
            awsq_addi(&q, "HealthCheck.HealthyThreshold", healthy);
            awsq_addi(&q, "HealthCheck.UnhealthyThreshold", unhealthy);
            rc = aws_call0(ctx, AWS_ELB, &q, "ConfigureHealthCheck", NULL, call);
            awsq_free(&q);
        }
    }
    if (rc == LBP_OK)
        rc = instances_sync(ctx, spec->lb_name, exists ? &lb : NULL, &inst, call);
    if (rc == LBP_OK)
        rc = clb_attributes(ctx, spec->lb_name, o, call);
    if (rc == LBP_OK)
        rc = clb_proxy_protocol(ctx, spec->lb_name, &lb, want, nw, o->proxy_protocol, call);
    /* The nodes accept anything from the ELB's group (unless the operator manages that). */
    if (rc == LBP_OK && !ctx->no_sg_ingress)
        rc = aws_node_sgs(ctx, &inst, &nsgs, call);
    for (size_t i = 0; i < nsgs.n && rc == LBP_OK; i++) {
        struct aws_rule r;
        memset(&r, 0, sizeof(r));
        lbp_strlcpy(r.proto, "-1", sizeof(r.proto));
        lbp_strlcpy(r.group, sg.id, sizeof(r.group));
        rc = aws_sg_converge(ctx, &((struct aws_sg *)nsgs.v)[i], dnodes, &r, 1, call);
    }
    if (rc == LBP_OK && st) {
        memset(st, 0, sizeof(*st));
        lbp_strlcpy(st->ingress[0].hostname, lb.dns, sizeof(st->ingress[0].hostname));
        st->n_ingress = 1;
    }
    if (rc == LBP_OK && call)
        call->err[0] = 0;
out:
    free(want);
    aws_clb_free(&lb);
    aws_sg_free(&sg);
    aws_tags_free(&tags);
    lbp_vec_free(&inst);
    aws_subnets_free(&subnets);
    aws_sgs_free(&nsgs);
    lbp_vec_free(&rules);
    return rc;
}

int aws_clb_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct aws_opts *o, struct lbp_call *call)
{
    struct lbp_vec inst;
    struct aws_clb lb;
    int rc;
    memset(&lb, 0, sizeof(lb));
    lbp_vec_init(&inst, sizeof(struct aws_instance));
    rc = aws_nodes_instances(ctx, spec, o, &inst, call);
    if (rc == LBP_OK)
        rc = aws_clb_get(ctx, spec->lb_name, &lb, call);
    if (rc == LBP_OK)
        rc = instances_sync(ctx, spec->lb_name, &lb, &inst, call);
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "load balancer %s does not exist yet", spec->lb_name);
        rc = LBP_RETRY;
    }
    aws_clb_free(&lb);
    lbp_vec_free(&inst);
    return rc;
}

int aws_clb_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   struct lbp_call *call)
{
    struct aws_clb lb;
    struct lbp_vec sgs, nsgs;
    char name[96], dnodes[128], key[200];
    int rc;

    memset(&lb, 0, sizeof(lb));
    lbp_vec_init(&sgs, sizeof(struct aws_sg));
    lbp_vec_init(&nsgs, sizeof(struct aws_sg));
    rc = aws_clb_get(ctx, spec->lb_name, &lb, call);
    if (rc == LBP_OK) {
        struct aws_query q;
        awsq_init(&q, "DeleteLoadBalancer", AWS_ELB_VERSION);
        awsq_add(&q, "LoadBalancerName", spec->lb_name);
        rc = aws_call0(ctx, AWS_ELB, &q, "DeleteLoadBalancer", NULL, call);
        awsq_free(&q);
        if (rc == LBP_NOT_FOUND)
            rc = LBP_OK;
        if (rc == LBP_OK)
            lbp_info("aws %s/%s: deleted ELB %s", spec->namespace, spec->name, spec->lb_name);
    } else if (rc == LBP_NOT_FOUND) {
        rc = LBP_OK;
    }
    if (rc)
        goto out;
    /*
     * The ELB's group, then the node rules pointing at it, then the group.
     * The node groups holding such rules are found with the
     * ip-permission.group-id filter: reading every cluster group would
     * carry every other LB's rules too (thousands in a big cluster) on each
     * delete. AWS refuses to delete a group still referenced, so a gone
     * group leaves no rule behind.
     */
    snprintf(dnodes, sizeof(dnodes), DESC_NODES "%s", spec->lb_name);
    snprintf(key, sizeof(key), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    snprintf(name, sizeof(name), "k8s-elb-%s", spec->lb_name);
    rc = aws_describe_sgs(ctx, NULL, 0, "group-name", name, &sgs, call);
    for (size_t i = 0; i < sgs.n && rc == LBP_OK; i++) {
        struct aws_sg *g = &((struct aws_sg *)sgs.v)[i];
        /* Only a group this Service tagged: a same-named group is not ours to delete. */
        if (!aws_tag_get(&g->tags, key))
            continue;
        aws_sgs_free(&nsgs);
        rc = aws_describe_sgs(ctx, NULL, 0, "ip-permission.group-id", g->id, &nsgs, call);
        for (size_t k = 0; k < nsgs.n && rc == LBP_OK; k++)
            rc = aws_sg_converge(ctx, &((struct aws_sg *)nsgs.v)[k], dnodes, NULL, 0, call);
        if (rc)
            break;
        for (unsigned attempt = 0;; attempt++) {
            struct aws_query q;
            struct aws_err e;
            awsq_init(&q, "DeleteSecurityGroup", AWS_EC2_VERSION);
            awsq_add(&q, "GroupId", g->id);
            rc = aws_call0(ctx, AWS_EC2, &q, "DeleteSecurityGroup", &e, call);
            awsq_free(&q);
            if (rc == LBP_NOT_FOUND)
                rc = LBP_OK;
            /* The ELB's interfaces go away a little after the ELB. */
            if (rc == LBP_INVALID && strcmp(e.code, "DependencyViolation") == 0 && attempt < 8) {
                uint64_t ms = lbp_jitter_ms(lbp_backoff_ms(100, 3000, attempt), 0.3);
                struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            if (rc == LBP_INVALID && strcmp(e.code, "DependencyViolation") == 0)
                rc = LBP_RETRY;
            break;
        }
    }
out:
    if (rc == LBP_OK && call)
        call->err[0] = 0;
    aws_clb_free(&lb);
    aws_sgs_free(&sgs);
    aws_sgs_free(&nsgs);
    return rc;
}

/*
 * Tags of ELBs [from, to). One ELB deleted since the listing fails the
 * whole batch with LoadBalancerNotFound; then each is asked alone and the
 * gone ones skipped, so churn never stops the orphan scan.
 */
static int clb_tags(struct lbp_provider_ctx *ctx, const struct lbp_vec *lbs, size_t from, size_t to,
                    struct lbp_vec *td, struct lbp_call *call)
{
    struct aws_query q;
    xmlDoc *doc = NULL;
    int rc;
    awsq_init(&q, "DescribeTags", AWS_ELB_VERSION);
    for (size_t i = from; i < to; i++)
        awsq_addf(&q, ((const struct aws_clb *)lbs->v)[i].name, "LoadBalancerNames.member.%zu",
                  i - from + 1);
    rc = aws_call(ctx, AWS_ELB, &q, "DescribeTags", &doc, NULL, call);
    awsq_free(&q);
    if (rc == LBP_OK && awsx_tag_descs(doc, td) != LBP_OK) {
        lbp_failf(call, "DescribeTags: unreadable answer");
        rc = LBP_RETRY;
    }
    awsx_free(doc);
    if (rc == LBP_NOT_FOUND && to - from > 1) {
        rc = LBP_OK;
        for (size_t i = from; i < to && rc == LBP_OK; i++)
            rc = clb_tags(ctx, lbs, i, i + 1, td, call);
    } else if (rc == LBP_NOT_FOUND) {
        rc = LBP_OK; /* deleted meanwhile: nothing to clean */
    }
    return rc;
}

int aws_clb_list_owned(struct lbp_provider_ctx *ctx, struct lbp_owned_list *owned,
                       struct lbp_call *call)
{
    struct lbp_vec lbs, td;
    char ckey[200];
    struct aws_query q;
    int rc;
    lbp_vec_init(&lbs, sizeof(struct aws_clb));
    lbp_vec_init(&td, sizeof(struct aws_tagdesc));
    awsq_init(&q, "DescribeLoadBalancers", AWS_ELB_VERSION);
    rc = aws_describe_all(ctx, AWS_ELB, &q, "DescribeLoadBalancers", 400, awsx_clbs, &lbs, NULL,
                          call);
    awsq_free(&q);
    for (size_t off = 0; rc == LBP_OK && off < lbs.n; off += 20)
        rc = clb_tags(ctx, &lbs, off, off + 20 < lbs.n ? off + 20 : lbs.n, &td, call);
    snprintf(ckey, sizeof(ckey), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    for (size_t k = 0; k < td.n && rc == LBP_OK; k++) {
        struct aws_tagdesc *d = &((struct aws_tagdesc *)td.v)[k];
        rc = aws_owned_add(&d->tags, ckey, d->arn, owned);
    }
    aws_clbs_free(&lbs);
    aws_tagdescs_free(&td);
    return rc;
}
