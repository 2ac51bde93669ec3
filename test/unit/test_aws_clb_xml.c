/*
 * test_aws_clb_xml.c — DescribeLoadBalancers' BackendServerDescriptions
 * (clouds/aws/xml.c), the element classic proxy-protocol converges on.
 * The fixtures are written here, so the test needs no shared testdata.
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

#define HEAD                                                                                       \
    "<DescribeLoadBalancersResponse "                                                              \
    "xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/\">"                         \
    "<DescribeLoadBalancersResult><LoadBalancerDescriptions><member>"                              \
    "<LoadBalancerName>a1</LoadBalancerName><DNSName>a1.elb</DNSName>"
#define TAIL                                                                                       \
    "</member></LoadBalancerDescriptions></DescribeLoadBalancersResult>"                           \
    "</DescribeLoadBalancersResponse>"

static int parse(const char *xml, struct lbp_vec *v)
{
    xmlDoc *d = awsx_parse(xml, strlen(xml));
    int rc;
    assert_non_null(d);
    lbp_vec_init(v, sizeof(struct aws_clb));
    rc = awsx_clbs(d, v, NULL, 0);
    awsx_free(d);
    return rc;
}

static void backends_listed(void **st)
{
    static const char xml[] =
        HEAD "<BackendServerDescriptions>"
             "<member><InstancePort>30080</InstancePort><PolicyNames>"
             "<member>k8s-proxyprotocol-enabled</member></PolicyNames></member>"
             "<member><InstancePort>30443</InstancePort><PolicyNames>"
             "<member>auth-policy</member><member>k8s-proxyprotocol-enabled</member>"
             "</PolicyNames></member>"
             "<member><InstancePort>30053</InstancePort><PolicyNames/></member>"
             "</BackendServerDescriptions>" TAIL;
    struct lbp_vec v;
    struct aws_clb *c;
    assert_int_equal(parse(xml, &v), LBP_OK);
    assert_int_equal(v.n, 1);
    c = v.v;
    assert_int_equal(c->n_backends, 3);
    assert_int_equal(c->backends[0].instance_port, 30080);
    assert_int_equal(c->backends[0].n_policies, 1);
    assert_string_equal(c->backends[0].policies[0], "k8s-proxyprotocol-enabled");
    assert_int_equal(c->backends[1].instance_port, 30443);
    assert_int_equal(c->backends[1].n_policies, 2);
    assert_string_equal(c->backends[1].policies[0], "auth-policy");
    assert_string_equal(c->backends[1].policies[1], "k8s-proxyprotocol-enabled");
    assert_int_equal(c->backends[2].instance_port, 30053);
    assert_int_equal(c->backends[2].n_policies, 0);
    aws_clbs_free(&v);
}

static void backends_absent_or_empty(void **st)
{
    static const char empty[] = HEAD "<BackendServerDescriptions/>" TAIL;
    static const char none[] = HEAD TAIL;
    struct lbp_vec v;
    assert_int_equal(parse(empty, &v), LBP_OK);
    assert_int_equal(((struct aws_clb *)v.v)->n_backends, 0);
    assert_null(((struct aws_clb *)v.v)->backends);
    aws_clbs_free(&v);
    assert_int_equal(parse(none, &v), LBP_OK);
    assert_int_equal(((struct aws_clb *)v.v)->n_backends, 0);
    aws_clbs_free(&v);
}

static void backends_hostile(void **st)
{
    static const char noport[] = HEAD "<BackendServerDescriptions><member><PolicyNames>"
                                      "<member>p</member></PolicyNames></member>"
                                      "</BackendServerDescriptions>" TAIL;
    static const char badport[] = HEAD "<BackendServerDescriptions><member>"
                                       "<InstancePort>70000</InstancePort></member>"
                                       "</BackendServerDescriptions>" TAIL;
    static const char emptyname[] = HEAD "<BackendServerDescriptions><member>"
                                         "<InstancePort>80</InstancePort><PolicyNames>"
                                         "<member></member></PolicyNames></member>"
                                         "</BackendServerDescriptions>" TAIL;
    char many[4096], longname[1024];
    size_t off;
    struct lbp_vec v;
    assert_int_equal(parse(noport, &v), LBP_PARSE);
    aws_clbs_free(&v);
    assert_int_equal(parse(badport, &v), LBP_PARSE);
    aws_clbs_free(&v);
    assert_int_equal(parse(emptyname, &v), LBP_PARSE);
    aws_clbs_free(&v);
    /* More policies on one port than a slot holds: refused, not truncated. */
    off = (size_t)snprintf(many, sizeof(many), "%s",
                           HEAD "<BackendServerDescriptions><member>"
                                "<InstancePort>80</InstancePort><PolicyNames>");
    for (int i = 0; i <= AWS_CLB_MAX_BACKEND_POLICIES; i++)
        off += (size_t)snprintf(many + off, sizeof(many) - off, "<member>p%d</member>", i);
    snprintf(many + off, sizeof(many) - off, "%s",
             "</PolicyNames></member></BackendServerDescriptions>" TAIL);
    assert_int_equal(parse(many, &v), LBP_PARSE);
    aws_clbs_free(&v);
    /* A name longer than its slot. */
    snprintf(longname, sizeof(longname),
             HEAD "<BackendServerDescriptions><member><InstancePort>80</InstancePort>"
                  "<PolicyNames><member>%0*d</member></PolicyNames></member>"
                  "</BackendServerDescriptions>" TAIL,
             400, 1);
    assert_int_equal(parse(longname, &v), LBP_PARSE);
    aws_clbs_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backends_listed),
        cmocka_unit_test(backends_absent_or_empty),
        cmocka_unit_test(backends_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
