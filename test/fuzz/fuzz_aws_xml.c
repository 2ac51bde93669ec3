/*
 * fuzz_aws_xml.c — AWS Query API answers (clouds/aws/xml.c): the input is
 * one XML document, read by every typed parser (ELBv2 load balancers,
 * target groups, listeners, target health, tags; classic ELBs; EC2
 * instances, subnets, security groups) and the error reader, as each
 * call's answer would be. Recorded answers are seeds as they are.
 */
#include "test/fuzz/harness.h"
#include "clouds/aws/aws_int.h"
#include "common/rc.h"

#include <string.h>

#define ALL(fn, type, free_fn)                                                                     \
    do {                                                                                           \
        struct lbp_vec v;                                                                          \
        char next[512];                                                                            \
        lbp_vec_init(&v, sizeof(type));                                                            \
        if (fn(doc, &v, next, sizeof(next)) == LBP_OK)                                             \
            FZ_CHECK(strlen(next) < sizeof(next));                                                 \
        free_fn(&v);                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char code[96], msg[512], text[256];
    int n;
    fz_setup();
    xmlDoc *doc = awsx_parse((const char *)data, size);
    if (!doc)
        return 0;
    if (awsx_error(doc, code, sizeof(code), msg, sizeof(msg)) == LBP_OK)
        FZ_CHECK(strlen(code) < sizeof(code) && strlen(msg) < sizeof(msg));
    xmlNode *r = awsx_result(doc);
    awsx_text(r, "LoadBalancers/member/DNSName", text, sizeof(text));
    awsx_int(r, "TargetGroups/member/Port", &n);
    ALL(awsx_lbs, struct aws_lb, lbp_vec_free);
    ALL(awsx_tgs, struct aws_tg, lbp_vec_free);
    ALL(awsx_listeners, struct aws_listener, lbp_vec_free);
    ALL(awsx_clbs, struct aws_clb, aws_clbs_free);
    ALL(awsx_instances, struct aws_instance, lbp_vec_free);
    ALL(awsx_subnets, struct aws_subnet, aws_subnets_free);
    ALL(awsx_sgs, struct aws_sg, aws_sgs_free);
    struct lbp_vec v;
    lbp_vec_init(&v, sizeof(struct aws_target));
    awsx_target_health(doc, &v);
    lbp_vec_free(&v);
    lbp_vec_init(&v, sizeof(struct aws_tagdesc));
    awsx_tag_descs(doc, &v);
    aws_tagdescs_free(&v);
    awsx_free(doc);
    return 0;
}
