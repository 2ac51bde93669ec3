/*
 * test_aws_xml.c — the AWS response parsers (clouds/aws/xml.c) against
 * every recorded response in the shared test data (recorded/aws), plus
 * error shapes and hostile input.
 *
 * Expected values are not written here: each parsed field is compared with
 * the same element pulled out of the file's text by a naive scan, and list
 * lengths with the number of times the element occurs. A fixture without a
 * parser mapping fails, so new recordings cannot be skipped silently. The
 * folder is $LBP_SHARED_TESTDATA/recorded/aws or the build's default;
 * absent, the program says why and exits 77.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file.h"
#include "clouds/aws/aws_int.h"
#include "common/rc.h"
#include "common/util.h"

static char g_dir[1024];

static char *slurp(const char *path, size_t *len)
{
    char *buf = NULL;
    assert_int_equal(lbp_file_read(path, 4u << 20, 0, &buf, len), LBP_OK);
    return buf;
}

/* Text of the k-th (0-based) <name>…</name> in the raw file, "" when absent. */
static const char *nth_text(const char *text, const char *name, int k)
{
    static char out[1024];
    char open[128], close[128];
    const char *p = text, *e;
    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    out[0] = 0;
    for (int i = 0; i <= k; i++) {
        p = strstr(p, open);
        if (!p)
            return out;
        p += strlen(open);
    }
    e = strstr(p, close);
    if (!e || (size_t)(e - p) >= sizeof(out))
        return out;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return out;
}

static const char *first(const char *text, const char *name)
{
    return nth_text(text, name, 0);
}

static size_t occurrences(const char *text, const char *name)
{
    char open[128];
    size_t n = 0;
    snprintf(open, sizeof(open), "<%s>", name);
    for (const char *p = strstr(text, open); p; p = strstr(p + 1, open))
        n++;
    return n;
}

static int first_int(const char *text, const char *name)
{
    long v = 0;
    const char *s = first(text, name);
    if (*s)
        assert_int_equal(lbp_parse_long(s, -1000000, 1000000, &v), LBP_OK);
    return (int)v;
}

static void check_lbs(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_lb *lb;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_lb));
    assert_int_equal(awsx_lbs(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "LoadBalancerArn"));
    assert_true(v.n >= 1);
    lb = v.v;
    assert_string_equal(lb->arn, first(t, "LoadBalancerArn"));
    assert_string_equal(lb->name, first(t, "LoadBalancerName"));
    assert_string_equal(lb->dns, first(t, "DNSName"));
    assert_string_equal(lb->scheme, first(t, "Scheme"));
    assert_string_equal(lb->vpc, first(t, "VpcId"));
    assert_string_equal(lb->state, first(t, "Code"));
    assert_string_equal(lb->type, first(t, "Type"));
    if (v.n == 1)
        assert_int_equal(lb->n_az, occurrences(t, "ZoneName"));
    assert_string_equal(lb->az[0].zone, first(t, "ZoneName"));
    assert_string_equal(lb->az[0].subnet, first(t, "SubnetId"));
    assert_string_equal(next, first(t, "NextMarker"));
    lbp_vec_free(&v);
}

static void check_tgs(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_tg *tg;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_tg));
    assert_int_equal(awsx_tgs(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "TargetGroupArn"));
    tg = v.v;
    assert_string_equal(tg->arn, first(t, "TargetGroupArn"));
    assert_string_equal(tg->name, first(t, "TargetGroupName"));
    assert_string_equal(tg->protocol, first(t, "Protocol"));
    assert_int_equal(tg->port, first_int(t, "Port"));
    assert_string_equal(tg->vpc, first(t, "VpcId"));
    assert_string_equal(tg->hc_protocol, first(t, "HealthCheckProtocol"));
    assert_string_equal(tg->hc_port, first(t, "HealthCheckPort"));
    assert_string_equal(tg->hc_path, first(t, "HealthCheckPath"));
    assert_int_equal(tg->hc_interval, first_int(t, "HealthCheckIntervalSeconds"));
    assert_int_equal(tg->hc_timeout, first_int(t, "HealthCheckTimeoutSeconds"));
    assert_int_equal(tg->healthy, first_int(t, "HealthyThresholdCount"));
    assert_int_equal(tg->unhealthy, first_int(t, "UnhealthyThresholdCount"));
    if (strstr(t, "<LoadBalancerArns>") && strstr(t, "<LoadBalancerArns>\n")) {
        const char *m = strstr(strstr(t, "<LoadBalancerArns>"), "<member>");
        if (m && m < strstr(t, "</LoadBalancerArns>"))
            assert_int_equal(strncmp(tg->lb_arn, m + 8, strlen(tg->lb_arn)), 0);
    }
    lbp_vec_free(&v);
}

static void check_listeners(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_listener *l;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_listener));
    assert_int_equal(awsx_listeners(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "ListenerArn"));
    l = v.v;
    assert_string_equal(l->arn, first(t, "ListenerArn"));
    assert_string_equal(l->lb_arn, first(t, "LoadBalancerArn"));
    assert_int_equal(l->port, first_int(t, "Port"));
    assert_string_equal(l->protocol, first(t, "Protocol"));
    assert_string_equal(l->tg_arn, first(t, "TargetGroupArn"));
    assert_string_equal(l->cert, first(t, "CertificateArn"));
    assert_string_equal(l->ssl_policy, first(t, "SslPolicy"));
    lbp_vec_free(&v);
}

static void check_health(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_target *x;
    lbp_vec_init(&v, sizeof(struct aws_target));
    assert_int_equal(awsx_target_health(doc, &v), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "Target"));
    x = v.v;
    assert_string_equal(x->id, first(t, "Id"));
    assert_int_equal(x->port, first_int(t, "Port"));
    assert_string_equal(x->state, first(t, "State"));
    lbp_vec_free(&v);
}

static void check_tags(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_tagdesc *d;
    lbp_vec_init(&v, sizeof(struct aws_tagdesc));
    assert_int_equal(awsx_tag_descs(doc, &v), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "ResourceArn") + occurrences(t, "LoadBalancerName"));
    d = v.v;
    assert_string_equal(d->arn, strstr(t, "<ResourceArn>") ? first(t, "ResourceArn")
                                                           : first(t, "LoadBalancerName"));
    assert_int_equal(d->tags.n, occurrences(t, "Key"));
    assert_string_equal(d->tags.t[0].key, first(t, "Key"));
    assert_string_equal(d->tags.t[0].value, first(t, "Value"));
    {
        char key[256];
        snprintf(key, sizeof(key), "%s", first(t, "Key"));
        assert_string_equal(aws_tag_get(&d->tags, key), first(t, "Value"));
    }
    aws_tagdescs_free(&v);
}

static void check_empty_result(xmlDoc *doc, const char *t)
{
    char code[64], msg[64];
    xmlNode *r = awsx_result(doc);
    assert_non_null(r);
    assert_non_null(strstr(t, (const char *)r->name));
    assert_int_equal(awsx_error(doc, code, sizeof(code), msg, sizeof(msg)), LBP_NOT_FOUND);
}

static void check_ec2_return(xmlDoc *doc, const char *t)
{
    char v[64];
    assert_int_equal(awsx_text(xmlDocGetRootElement(doc), "return", v, sizeof(v)), LBP_OK);
    assert_string_equal(v, first(t, "return"));
    if (strstr(t, "<groupId>")) {
        assert_int_equal(awsx_text(xmlDocGetRootElement(doc), "groupId", v, sizeof(v)), LBP_OK);
        assert_string_equal(v, first(t, "groupId"));
    }
}

static void check_instances(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_instance));
    assert_int_equal(awsx_instances(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "instanceId"));
    for (size_t i = 0; i < v.n; i++) {
        struct aws_instance *in = &((struct aws_instance *)v.v)[i];
        assert_string_equal(in->id, nth_text(t, "instanceId", (int)i));
        assert_string_equal(in->az, nth_text(t, "availabilityZone", (int)i));
    }
    assert_string_equal(((struct aws_instance *)v.v)->state, nth_text(t, "name", 0));
    lbp_vec_free(&v);
}

static void check_subnets(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_subnet));
    assert_int_equal(awsx_subnets(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "subnetId"));
    for (size_t i = 0; i < v.n; i++) {
        struct aws_subnet *s = &((struct aws_subnet *)v.v)[i];
        assert_string_equal(s->id, nth_text(t, "subnetId", (int)i));
        assert_string_equal(s->cidr, nth_text(t, "cidrBlock", (int)i));
        assert_string_equal(s->az, nth_text(t, "availabilityZone", (int)i));
        assert_string_equal(s->vpc, nth_text(t, "vpcId", (int)i));
    }
    {
        char key[256];
        snprintf(key, sizeof(key), "%s", first(t, "key"));
        assert_string_equal(aws_tag_get(&((struct aws_subnet *)v.v)->tags, key), first(t, "value"));
    }
    aws_subnets_free(&v);
}

static void check_sgs(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    char next[64];
    struct aws_sg *g;
    size_t ranges = occurrences(t, "cidrIp"), peers = 0;
    lbp_vec_init(&v, sizeof(struct aws_sg));
    assert_int_equal(awsx_sgs(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "groupDescription"));
    g = v.v;
    assert_string_equal(g->id, first(t, "groupId"));
    assert_string_equal(g->name, first(t, "groupName"));
    assert_true(g->n_rules >= 1);
    assert_string_equal(g->rules[0].proto, first(t, "ipProtocol"));
    assert_int_equal(g->rules[0].from, first_int(t, "fromPort"));
    assert_int_equal(g->rules[0].to, first_int(t, "toPort"));
    assert_string_equal(g->rules[0].cidr, first(t, "cidrIp"));
    /* Every source became one rule: CIDRs plus group peers (userId marks a peer). */
    peers = occurrences(t, "userId");
    {
        size_t total = 0;
        for (size_t i = 0; i < v.n; i++)
            total += ((struct aws_sg *)v.v)[i].n_rules;
        assert_int_equal(total, ranges + peers);
    }
    aws_sgs_free(&v);
}

static void check_clbs(xmlDoc *doc, const char *t)
{
    struct lbp_vec v;
    struct aws_clb *c;
    char next[64];
    lbp_vec_init(&v, sizeof(struct aws_clb));
    assert_int_equal(awsx_clbs(doc, &v, next, sizeof(next)), LBP_OK);
    assert_int_equal(v.n, occurrences(t, "LoadBalancerName"));
    c = v.v;
    assert_string_equal(c->name, first(t, "LoadBalancerName"));
    assert_string_equal(c->dns, first(t, "DNSName"));
    assert_string_equal(c->scheme, first(t, "Scheme"));
    assert_string_equal(c->vpc, first(t, "VPCId"));
    assert_string_equal(c->hc_target, first(t, "Target"));
    assert_int_equal(c->hc_interval, first_int(t, "Interval"));
    assert_int_equal(c->hc_healthy, first_int(t, "HealthyThreshold"));
    assert_int_equal(c->n_l, occurrences(t, "Listener"));
    assert_int_equal(c->l[0].lb_port, first_int(t, "LoadBalancerPort"));
    assert_int_equal(c->l[0].instance_port, first_int(t, "InstancePort"));
    assert_string_equal(c->l[0].protocol, first(t, "Protocol"));
    assert_int_equal(c->n_instances, occurrences(t, "InstanceId"));
    assert_string_equal(c->instances[0], first(t, "InstanceId"));
    aws_clbs_free(&v);
}

static void check_clb_create(xmlDoc *doc, const char *t)
{
    char dns[256];
    assert_int_equal(awsx_text(awsx_result(doc), "DNSName", dns, sizeof(dns)), LBP_OK);
    assert_string_equal(dns, first(t, "DNSName"));
}

static void check_clb_instances(xmlDoc *doc, const char *t)
{
    xmlNode *ins = awsx_child(awsx_result(doc), "Instances");
    size_t n = 0;
    assert_non_null(ins);
    for (xmlNode *m = awsx_child(ins, "member"); m; m = awsx_next(m, "member"))
        n++;
    assert_int_equal(n, occurrences(t, "InstanceId"));
}

struct mapping {
    const char *file;
    void (*check)(xmlDoc *, const char *);
};

static const struct mapping mappings[] = {
    {"alb_create_balancer.xml", check_lbs},
    {"alb_describe_load_balancers.xml", check_lbs},
    {"alb_create_target_group.xml", check_tgs},
    {"alb_describe_load_balancer_target_groups.xml", check_tgs},
    {"alb_create_listener.xml", check_listeners},
    {"alb_describe_load_balancer_listeters.xml", check_listeners},
    {"alb_describe_target_health.xml", check_health},
    {"alb_describe_tags.xml", check_tags},
    {"elb_describe_tags.xml", check_tags},
    {"alb_register_targets.xml", check_empty_result},
    {"ec2_authorize_security_group_ingress.xml", check_ec2_return},
    {"ec2_create_security_group.xml", check_ec2_return},
    {"ec2_describe_instances.xml", check_instances},
    {"ec2_describe_subnets.xml", check_subnets},
    {"ec2_describe_security_groups.xml", check_sgs},
    {"elb_create_load_balancer.xml", check_clb_create},
    {"elb_deregister_instances_from_load_balancer.xml", check_clb_instances},
    {"elb_describe_load_balancers.xml", check_clbs},
};

static void every_recorded_response(void **st)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    size_t seen = 0;
    assert_non_null(d);
    while ((e = readdir(d))) {
        const struct mapping *m = NULL;
        char path[2048], *text;
        size_t len;
        xmlDoc *doc;
        if (e->d_name[0] == '.' || !strstr(e->d_name, ".xml"))
            continue;
        for (size_t i = 0; i < sizeof(mappings) / sizeof(mappings[0]); i++)
            if (strcmp(mappings[i].file, e->d_name) == 0)
                m = &mappings[i];
        if (!m)
            fail_msg("recorded/aws/%s has no parser mapping in this test", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", g_dir, e->d_name);
        text = slurp(path, &len);
        doc = awsx_parse(text, len);
        if (!doc)
            fail_msg("%s does not parse", e->d_name);
        print_message("%s\n", e->d_name);
        m->check(doc, text);
        xmlFreeDoc(doc);
        free(text);
        seen++;
    }
    closedir(d);
    assert_int_equal(seen, sizeof(mappings) / sizeof(mappings[0]));
}

static void error_shapes(void **st)
{
    static const char elb[] =
        "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
        "<Error><Type>Sender</Type><Code>LoadBalancerNotFound</Code><Message>One or more load "
        "balancers not found</Message></Error><RequestId>r-1</RequestId></ErrorResponse>";
    static const char ec2[] = "<Response><Errors><Error><Code>InvalidKeyPair.NotFound</Code>"
                              "<Message>The key pair 'x' does not exist</Message></Error>"
                              "</Errors><RequestID>r-2</RequestID></Response>";
    char code[96], msg[256];
    xmlDoc *d = awsx_parse(elb, sizeof(elb) - 1);
    assert_int_equal(awsx_error(d, code, sizeof(code), msg, sizeof(msg)), LBP_OK);
    assert_string_equal(code, "LoadBalancerNotFound");
    assert_string_equal(msg, "One or more load balancers not found");
    xmlFreeDoc(d);
    d = awsx_parse(ec2, sizeof(ec2) - 1);
    assert_int_equal(awsx_error(d, code, sizeof(code), msg, sizeof(msg)), LBP_OK);
    assert_string_equal(code, "InvalidKeyPair.NotFound");
    xmlFreeDoc(d);
}

static void hostile_input(void **st)
{
    static const char trunc[] = "<DescribeLoadBalancersResponse><DescribeLoadBalancersResult>"
                                "<LoadBalancers><member><LoadBalancerArn>arn";
    static const char noarn[] = "<DescribeLoadBalancersResponse><DescribeLoadBalancersResult>"
                                "<LoadBalancers><member><DNSName>x</DNSName></member>"
                                "</LoadBalancers></DescribeLoadBalancersResult>"
                                "</DescribeLoadBalancersResponse>";
    static const char entity[] = "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
                                 "<CreateSecurityGroupResponse><groupId>&e;</groupId>"
                                 "</CreateSecurityGroupResponse>";
    char big[1200], v[64];
    struct lbp_vec vec;
    xmlDoc *d;
    lbp_vec_init(&vec, sizeof(struct aws_lb));
    d = awsx_parse(trunc, sizeof(trunc) - 1);
    assert_null(d);
    d = awsx_parse(noarn, sizeof(noarn) - 1);
    assert_non_null(d);
    assert_int_equal(awsx_lbs(d, &vec, NULL, 0), LBP_PARSE);
    xmlFreeDoc(d);
    lbp_vec_free(&vec);
    /* A field longer than its slot is refused, not cut. */
    snprintf(big, sizeof(big), "<X><groupId>%0*d</groupId></X>", 1000, 7);
    d = awsx_parse(big, strlen(big));
    assert_int_equal(awsx_text(xmlDocGetRootElement(d), "groupId", v, sizeof(v)), LBP_TOOBIG);
    xmlFreeDoc(d);
    /* External entities are never fetched. */
    d = awsx_parse(entity, sizeof(entity) - 1);
    if (d) {
        awsx_text(xmlDocGetRootElement(d), "groupId", v, sizeof(v));
        assert_null(strstr(v, "root:"));
        xmlFreeDoc(d);
    }
    assert_null(awsx_parse(NULL, 0));
}

int main(void)
{
    const char *env = getenv("LBP_SHARED_TESTDATA");
    struct stat st;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_recorded_response),
        cmocka_unit_test(error_shapes),
        cmocka_unit_test(hostile_input),
    };
    snprintf(g_dir, sizeof(g_dir), "%s/recorded/aws",
             env && *env ? env : LBP_SHARED_TESTDATA_DEFAULT);
    if (stat(g_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("skipped: recorded AWS responses not found at %s (set LBP_SHARED_TESTDATA)\n",
               g_dir);
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
