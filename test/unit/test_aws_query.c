/*
 * test_aws_query.c — request serialisation (clouds/aws/query.c: awsQuery
 * vs ec2Query list encodings, form encoding) and the annotation parser
 * (clouds/aws/annotations.c: accepted values, LBP_INVALID messages that
 * name the annotation and the allowed values).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "clouds/aws/aws_int.h"
#include "common/rc.h"

static void list_encodings(void **st)
{
    char k[128];
    const char *subnets[] = {"subnet-1", "subnet-2"};
    struct aws_query q;
    assert_int_equal(awsq_list_key(AWS_QUERY, k, sizeof(k), "Targets", 3, "Id"), LBP_OK);
    assert_string_equal(k, "Targets.member.3.Id");
    assert_int_equal(awsq_list_key(AWS_EC2QUERY, k, sizeof(k), "IpPermissions", 1, "IpProtocol"),
                     LBP_OK);
    assert_string_equal(k, "IpPermissions.1.IpProtocol");
    assert_int_equal(awsq_list_key(AWS_QUERY, k, sizeof(k), "Names", 1, NULL), LBP_OK);
    assert_string_equal(k, "Names.member.1");
    assert_int_equal(awsq_list_key(AWS_QUERY, k, 8, "Names", 1, NULL), LBP_TOOBIG);

    awsq_init(&q, "CreateLoadBalancer", AWS_ELBV2_VERSION);
    awsq_list(&q, AWS_QUERY, "Subnets", subnets, 2);
    awsq_list(&q, AWS_QUERY, "SecurityGroups", NULL, 0);
    assert_int_equal(q.rc, LBP_OK);
    assert_string_equal(q.b.data, "Action=CreateLoadBalancer&Version=2015-12-01"
                                  "&Subnets.member.1=subnet-1&Subnets.member.2=subnet-2"
                                  "&SecurityGroups=");
    awsq_free(&q);

    awsq_init(&q, "DescribeSubnets", AWS_EC2_VERSION);
    awsq_list(&q, AWS_EC2QUERY, "SubnetId", subnets, 2);
    awsq_list(&q, AWS_EC2QUERY, "GroupId", NULL, 0); /* empty: omitted */
    assert_string_equal(q.b.data, "Action=DescribeSubnets&Version=2016-11-15"
                                  "&SubnetId.1=subnet-1&SubnetId.2=subnet-2");
    awsq_free(&q);
}

static void form_encoding(void **st)
{
    struct aws_query q;
    awsq_init(&q, "AddTags", AWS_ELBV2_VERSION);
    awsq_addf(&q, "kubernetes.io/cluster/c1", "Tags.member.%d.Key", 1);
    awsq_addf(&q, "default/web app", "Tags.member.%d.Value", 1);
    awsq_addi(&q, "Port", 30080);
    awsq_add(&q, "Empty", "");
    assert_string_equal(q.b.data, "Action=AddTags&Version=2015-12-01"
                                  "&Tags.member.1.Key=kubernetes.io%2Fcluster%2Fc1"
                                  "&Tags.member.1.Value=default%2Fweb%20app&Port=30080&Empty=");
    awsq_free(&q);
}

static struct lbp_lb_spec g_spec;
static struct lbp_lb_annotation g_ann[8];
static struct lbp_lb_port g_ports[2] = {{"http", "TCP", 80, 30080}, {"https", "TCP", 443, 30443}};

static int parse1(const char *key, const char *val, struct aws_opts *o, struct lbp_call *call)
{
    memset(&g_spec, 0, sizeof(g_spec));
    g_ann[0].key = key;
    g_ann[0].value = val;
    g_spec.annotations = g_ann;
    g_spec.n_annotations = 1;
    g_spec.ports = g_ports;
    g_spec.n_ports = 2;
    memset(call, 0, sizeof(*call));
    return aws_opts_parse(&g_spec, AWS_KIND_CLASSIC, o, call);
}

#define A "service.beta.kubernetes.io/aws-load-balancer-"

static void annotations_accept(void **st)
{
    struct aws_opts o;
    struct lbp_call c;
    assert_int_equal(parse1(A "type", "nlb", &o, &c), LBP_OK);
    assert_int_equal(o.kind, AWS_KIND_NLB);
    assert_int_equal(parse1(NULL, NULL, &o, &c), LBP_OK);
    assert_int_equal(o.kind, AWS_KIND_CLASSIC);
    assert_int_equal(o.cross_zone, -1);
    assert_int_equal(parse1(A "internal", "true", &o, &c), LBP_OK);
    assert_true(o.internal);
    assert_int_equal(parse1(A "subnets", " subnet-a , web-tier-b ", &o, &c), LBP_OK);
    assert_int_equal(o.n_subnets, 2);
    assert_string_equal(o.subnets[1], "web-tier-b");
    assert_int_equal(parse1(A "healthcheck-port", "traffic-port", &o, &c), LBP_OK);
    assert_int_equal(parse1(A "healthcheck-interval", "10", &o, &c), LBP_OK);
    assert_int_equal(o.hc_interval, 10);
    assert_int_equal(parse1(A "additional-resource-tags", "team=a, cost = b", &o, &c), LBP_OK);
    assert_int_equal(o.n_extra_tags, 2);
    assert_string_equal(o.extra_tags[1].key, "cost");
    assert_string_equal(o.extra_tags[1].value, "b");
    assert_int_equal(parse1(A "ssl-ports", "https,8443", &o, &c), LBP_OK);
    assert_int_equal(o.n_ssl_ports, 2);
    assert_int_equal(o.ssl_ports[0], 443);
    assert_int_equal(parse1(A "cross-zone-load-balancing-enabled", "true", &o, &c), LBP_OK);
    assert_int_equal(o.cross_zone, 1);
    /* Proxy protocol is honoured on the default (classic) kind too. */
    assert_int_equal(parse1(A "proxy-protocol", "*", &o, &c), LBP_OK);
    assert_int_equal(o.kind, AWS_KIND_CLASSIC);
    assert_true(o.proxy_protocol);
    assert_int_equal(parse1(A "target-node-labels", "role=lb,zone", &o, &c), LBP_OK);
    assert_int_equal(o.n_node_labels, 2);
    /* Selecting nodes by labels the spec does not carry is refused, not "no targets". */
    {
        static const struct lbp_lb_annotation lab[2] = {{"role", "lb"}, {"zone", "a"}};
        struct lbp_lb_node nodes[2] = {{"n1", "i-1", NULL, NULL, NULL, 0},
                                       {"n2", "i-2", NULL, NULL, NULL, 0}};
        g_spec.nodes = nodes;
        g_spec.n_nodes = 2;
        assert_int_equal(aws_opts_parse(&g_spec, AWS_KIND_CLASSIC, &o, &c), LBP_INVALID);
        assert_non_null(strstr(c.err, "node labels"));
        nodes[0].labels = lab;
        nodes[0].n_labels = 2;
        nodes[1].labels = lab;
        nodes[1].n_labels = 1;
        assert_int_equal(aws_opts_parse(&g_spec, AWS_KIND_CLASSIC, &o, &c), LBP_OK);
        assert_true(aws_node_selected(&g_spec, &o, 0));
        assert_false(aws_node_selected(&g_spec, &o, 1)); /* zone missing */
        g_spec.nodes = NULL;
        g_spec.n_nodes = 0;
    }
}

static void annotations_reject(void **st)
{
    static const struct {
        const char *key, *val, *allowed;
    } bad[] = {
        {A "type", "alb", "nlb, classic"},
        {A "type", "external", "AWS Load Balancer Controller"},
        {A "healthcheck-protocol", "udp", "TCP, HTTP, HTTPS"},
        {A "healthcheck-port", "70000", "traffic-port or a port"},
        {A "healthcheck-path", "healthz", "starting with /"},
        {A "healthcheck-interval", "1", "from 5 to 300"},
        {A "healthcheck-timeout", "x", "from 2 to 120"},
        {A "healthcheck-healthy-threshold", "11", "from 2 to 10"},
        {A "healthcheck-unhealthy-threshold", "1", "from 2 to 10"},
        {A "cross-zone-load-balancing-enabled", "yes", "true, false"},
        {A "eip-allocations", "1.2.3.4", "eipalloc-"},
        {A "subnets", "subnet a", "subnet IDs or Name tags"},
        {A "additional-resource-tags", "kubernetes.io/x=y", "not under kubernetes.io/"},
        {A "backend-protocol", "grpc", "tcp, ssl, http, https"},
        {A "ssl-cert", "my-cert", "certificate ARN"},
        {A "ssl-ports", "admin", "port numbers or names"},
        {A "proxy-protocol", "true", "*"},
        {A "connection-idle-timeout", "0", "from 1 to 4000"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct aws_opts o;
        struct lbp_call c;
        assert_int_equal(parse1(bad[i].key, bad[i].val, &o, &c), LBP_INVALID);
        if (!strstr(c.err, bad[i].key) || !strstr(c.err, bad[i].allowed))
            fail_msg("message for %s=%s lacks the name or the allowed values: %s", bad[i].key,
                     bad[i].val, c.err);
    }
}

static void provider_ids(void **st)
{
    char id[64];
    assert_int_equal(aws_instance_id("aws:///us-east-1a/i-0123456789abcdef0", id, sizeof(id)),
                     LBP_OK);
    assert_string_equal(id, "i-0123456789abcdef0");
    assert_int_equal(aws_instance_id("aws:////i-0abc", id, sizeof(id)), LBP_OK);
    assert_string_equal(id, "i-0abc");
    assert_int_equal(aws_instance_id("i-0abc", id, sizeof(id)), LBP_OK);
    assert_int_equal(aws_instance_id("gce://p/z/i-0abc", id, sizeof(id)), LBP_INVALID);
    assert_int_equal(aws_instance_id("aws:///us-east-1a/vol-1", id, sizeof(id)), LBP_INVALID);
    assert_int_equal(aws_instance_id("aws:///us-east-1a/i-", id, sizeof(id)), LBP_INVALID);
    assert_int_equal(aws_instance_id("", id, sizeof(id)), LBP_INVALID);
    assert_int_equal(aws_instance_id(NULL, id, sizeof(id)), LBP_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_encodings),     cmocka_unit_test(form_encoding),
        cmocka_unit_test(annotations_accept), cmocka_unit_test(annotations_reject),
        cmocka_unit_test(provider_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
