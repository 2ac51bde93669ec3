/*
 * ec2.c — the EC2 side: nodes to instances, subnets for an LB, and
 * security-group rules.
 *
 * Instances are looked up with an instance-id *filter* rather than
 * InstanceId.N: a filter skips ids that no longer exist where InstanceId.N
 * fails the whole call, and one terminated node must not block every
 * Service. Answers are cached per instance for ctx->cache_ttl_s (the
 * toolkit's node cache), so a node change on 100 Services costs one
 * DescribeInstances, not 100.
 *
 * Security-group rules lbprov creates carry a description naming the LB;
 * that description is the ownership marker, so converge and clean-up only
 * ever touch rules they made.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clouds/aws/aws_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

int aws_instance_id(const char *pid, char *out, size_t cap)
{
    struct lbp_provider_id id;
    const char *last;
    size_t l;
    if (!pid || !*pid)
        return LBP_INVALID;
    if (strncmp(pid, "aws://", 6) == 0) {
        /* aws:///<zone>/<id>; the id alone after aws:// is accepted too */
        if (lbp_provider_id_parse(pid, "aws", &id) == LBP_OK)
            last = lbp_provider_id_last(&id);
        else
            last = id.host ? id.host : "";
    } else if (strchr(pid, '/') || strchr(pid, ':')) {
        return LBP_INVALID;
    } else {
        last = pid;
    }
    l = strlen(last);
    if (strncmp(last, "i-", 2) != 0 || l < 3 || l + 1 > cap)
        return LBP_INVALID;
    for (const char *c = last + 2; *c; c++)
        if (!isalnum((unsigned char)*c))
            return LBP_INVALID;
    memcpy(out, last, l + 1);
    return LBP_OK;
}

static int cmp_inst(const void *a, const void *b)
{
    return strcmp(((const struct aws_instance *)a)->id, ((const struct aws_instance *)b)->id);
}

static int describe_instances(struct lbp_provider_ctx *ctx, char (*ids)[AWS_ID_LEN], size_t n,
                              struct lbp_vec *found, struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, "DescribeInstances", AWS_EC2_VERSION);
    awsq_add(&q, "Filter.1.Name", "instance-id");
    for (size_t i = 0; i < n; i++)
        awsq_addf(&q, ids[i], "Filter.1.Value.%zu", i + 1);
    rc = aws_describe_all(ctx, AWS_EC2, &q, "DescribeInstances", 1000, awsx_instances, found, NULL,
                          call);
    awsq_free(&q);
    return rc;
}

int aws_nodes_instances(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct aws_opts *o, struct lbp_vec *out, struct lbp_call *call)
{
    char(*miss)[AWS_ID_LEN] = NULL;
    size_t n_miss = 0;
    struct lbp_vec found;
    int rc = LBP_OK;

    lbp_vec_init(&found, sizeof(struct aws_instance));
    if (spec->n_nodes) {
        miss = calloc(spec->n_nodes, AWS_ID_LEN);
        if (!miss)
            return LBP_NOMEM;
    }
    for (size_t i = 0; i < spec->n_nodes; i++) {
        char id[AWS_ID_LEN];
        struct aws_instance hit;
        if (o && !aws_node_selected(spec, o, i))
            continue;
        if (aws_instance_id(spec->nodes[i].provider_id, id, sizeof(id)) != LBP_OK) {
            lbp_v(2, "aws %s/%s: node %s has no AWS providerID, skipped", spec->namespace,
                  spec->name, spec->nodes[i].name);
            continue;
        }
        if (lbp_node_cache_get(ctx->cache, id, &hit)) {
            struct aws_instance *dst = lbp_vec_push(out);
            if (!dst) {
                rc = LBP_NOMEM;
                break;
            }
            *dst = hit;
        } else {
            memcpy(miss[n_miss++], id, AWS_ID_LEN);
        }
    }

    for (size_t off = 0; rc == LBP_OK && off < n_miss; off += 200) {
        size_t n = n_miss - off > 200 ? 200 : n_miss - off;
        rc = describe_instances(ctx, miss + off, n, &found, call);
    }
    if (rc == LBP_OK) {
        struct aws_instance *f = found.v;
        for (size_t i = 0; i < found.n && rc == LBP_OK; i++) {
            struct aws_instance *dst;
            if (strcmp(f[i].state, "terminated") == 0 || strcmp(f[i].state, "shutting-down") == 0)
                continue;
            rc = lbp_node_cache_put(ctx->cache, f[i].id, &f[i]);
            dst = rc ? NULL : lbp_vec_push(out);
            if (!dst)
                rc = LBP_NOMEM;
            else
                *dst = f[i];
        }
    }
    if (rc == LBP_OK && out->n)
        qsort(out->v, out->n, out->elem, cmp_inst);
    lbp_vec_free(&found);
    free(miss);
    return rc;
}

static int describe_subnets(struct lbp_provider_ctx *ctx, const char *fname,
                            const char *const *vals, size_t n, struct lbp_vec *out,
                            struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, "DescribeSubnets", AWS_EC2_VERSION);
    awsq_add(&q, "Filter.1.Name", fname);
    for (size_t i = 0; i < n; i++)
        awsq_addf(&q, vals[i], "Filter.1.Value.%zu", i + 1);
    rc = aws_describe_all(ctx, AWS_EC2, &q, "DescribeSubnets", 1000, awsx_subnets, out, NULL, call);
    awsq_free(&q);
    return rc;
}

static int cmp_subnet(const void *a, const void *b)
{
    const struct aws_subnet *x = a, *y = b;
    int c = strcmp(x->az, y->az);
    return c ? c : strcmp(x->id, y->id);
}

int aws_lb_subnets(struct lbp_provider_ctx *ctx, const char *vpc, const struct aws_opts *o,
                   struct lbp_vec *out, struct lbp_call *call)
{
    struct lbp_vec all;
    char cluster_key[200];
    const char *role = o->internal ? "kubernetes.io/role/internal-elb" : "kubernetes.io/role/elb";
    int rc;

    lbp_vec_init(&all, sizeof(struct aws_subnet));
    snprintf(cluster_key, sizeof(cluster_key), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    if (o->n_subnets) {
        const char *ids[AWS_MAX_SUBNET_ANN], *names[AWS_MAX_SUBNET_ANN];
        size_t ni = 0, nn = 0;
        for (size_t i = 0; i < o->n_subnets; i++) {
            if (strncmp(o->subnets[i], "subnet-", 7) == 0)
                ids[ni++] = o->subnets[i];
            else
                names[nn++] = o->subnets[i];
        }
        rc = ni ? describe_subnets(ctx, "subnet-id", ids, ni, &all, call) : LBP_OK;
        if (rc == LBP_OK && nn)
            rc = describe_subnets(ctx, "tag:Name", names, nn, &all, call);
        if (rc)
            goto out;
        for (size_t i = 0; i < o->n_subnets; i++) {
            bool seen = false;
            for (size_t k = 0; k < all.n; k++) {
                struct aws_subnet *s = &((struct aws_subnet *)all.v)[k];
                const char *nm = aws_tag_get(&s->tags, "Name");
                if (strcmp(s->id, o->subnets[i]) == 0 || lbp_streq(nm, o->subnets[i]))
                    seen = true;
            }
            if (!seen) {
                lbp_failf(call,
                          "annotation " AWS_ANN "aws-load-balancer-subnets: subnet %s does not "
                          "exist",
                          o->subnets[i]);
                rc = LBP_INVALID;
                goto out;
            }
        }
        /* As asked, one per AZ. */
        qsort(all.v, all.n, all.elem, cmp_subnet);
        for (size_t i = 0; i < all.n; i++) {
            struct aws_subnet *s = &((struct aws_subnet *)all.v)[i], *d;
            if (out->n && strcmp(((struct aws_subnet *)out->v)[out->n - 1].az, s->az) == 0)
                continue;
            if (!(d = lbp_vec_push(out))) {
                rc = LBP_NOMEM;
                goto out;
            }
            *d = *s;
            memset(&s->tags, 0, sizeof(s->tags)); /* moved */
        }
        goto out;
    }
    {
        const char *v[1] = {vpc};
        rc = describe_subnets(ctx, "vpc-id", v, 1, &all, call);
        if (rc)
            goto out;
    }
    qsort(all.v, all.n, all.elem, cmp_subnet);
    /*
     * Per AZ: a subnet tagged for this cluster (owned/shared) or for no
     * cluster at all; among those, the one with the role tag wins; ties go
     * to the lowest subnet id so the choice is stable across restarts.
     */
    for (size_t i = 0; i < all.n;) {
        size_t j = i, best = (size_t)-1;
        int best_score = -1;
        for (; j < all.n &&
               strcmp(((struct aws_subnet *)all.v)[j].az, ((struct aws_subnet *)all.v)[i].az) == 0;
             j++) {
            struct aws_subnet *s = &((struct aws_subnet *)all.v)[j];
            bool other_cluster = false, ours = aws_tag_get(&s->tags, cluster_key) != NULL;
            int score;
            for (size_t t = 0; t < s->tags.n; t++)
                if (strncmp(s->tags.t[t].key, AWS_TAG_CLUSTER_PREFIX,
                            strlen(AWS_TAG_CLUSTER_PREFIX)) == 0 &&
                    strcmp(s->tags.t[t].key, cluster_key) != 0)
                    other_cluster = true;
            if (!ours && other_cluster)
                continue;
            score = (aws_tag_get(&s->tags, role) ? 2 : 0) + (ours ? 1 : 0);
            if (score > best_score) {
                best_score = score;
                best = j;
            }
        }
        if (best != (size_t)-1 && best_score >= 2) {
            struct aws_subnet *d = lbp_vec_push(out);
            if (!d) {
                rc = LBP_NOMEM;
                goto out;
            }
            *d = ((struct aws_subnet *)all.v)[best];
            memset(&((struct aws_subnet *)all.v)[best].tags, 0, sizeof(d->tags)); /* moved */
        }
        i = j;
    }
    if (!out->n) {
        lbp_failf(call,
                  "no subnet in %s is tagged %s=1 (and %s=owned|shared or no cluster tag); tag "
                  "one per zone or set " AWS_ANN "aws-load-balancer-subnets",
                  vpc, role, cluster_key);
        rc = LBP_INVALID;
    }
out:
    aws_subnets_free(&all);
    return rc;
}

int aws_describe_sgs(struct lbp_provider_ctx *ctx, const char *const *ids, size_t n,
                     const char *filter_name, const char *filter_value, struct lbp_vec *out,
                     struct lbp_call *call)
{
    struct aws_query q;
    struct aws_err e;
    int rc;
    awsq_init(&q, "DescribeSecurityGroups", AWS_EC2_VERSION);
    for (size_t i = 0; i < n; i++)
        awsq_addf(&q, ids[i], "GroupId.%zu", i + 1);
    if (filter_name) {
        awsq_add(&q, "Filter.1.Name", filter_name);
        awsq_add(&q, "Filter.1.Value.1", filter_value);
    }
    /* EC2 takes no MaxResults together with GroupId */
    rc = aws_describe_all(ctx, AWS_EC2, &q, "DescribeSecurityGroups", n ? 0 : 1000, awsx_sgs, out,
                          &e, call);
    awsq_free(&q);
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "security group does not exist: %s", e.msg);
        rc = LBP_INVALID;
    }
    return rc;
}

int aws_cluster_sgs(struct lbp_provider_ctx *ctx, struct lbp_vec *out, struct lbp_call *call)
{
    char key[200];
    if (ctx->node_sg[0]) {
        const char *one[1] = {ctx->node_sg};
        return aws_describe_sgs(ctx, one, 1, NULL, NULL, out, call);
    }
    snprintf(key, sizeof(key), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    return aws_describe_sgs(ctx, NULL, 0, "tag-key", key, out, call);
}

const char *aws_lb_vpc(struct lbp_provider_ctx *ctx, const struct lbp_vec *inst,
                       struct lbp_call *call)
{
    const char *vpc =
        ctx->vpc[0] ? ctx->vpc : (inst->n ? ((struct aws_instance *)inst->v)->vpc : NULL);
    if (!vpc || !vpc[0]) {
        lbp_failf(call, "no eligible node resolves to an EC2 instance (spec.providerID) and no "
                        "VPC is configured; cannot place the load balancer");
        return NULL;
    }
    return vpc;
}

static bool same_rule(const struct aws_rule *a, const struct aws_rule *b)
{
    return strcmp(a->proto, b->proto) == 0 && a->from == b->from && a->to == b->to &&
           strcmp(a->cidr, b->cidr) == 0 && strcmp(a->group, b->group) == 0;
}

static bool rule_match(const void *a, const void *b, void *ud)
{
    return same_rule(a, b);
}

/* Rules without our description belong to someone else: never touched. */
static bool rule_not_ours(const void *have, void *desc)
{
    return strcmp(((const struct aws_rule *)have)->desc, desc) != 0;
}

static void add_perm(struct aws_query *q, int i, const struct aws_rule *r, const char *desc)
{
    awsq_addf(q, r->proto, "IpPermissions.%d.IpProtocol", i);
    if (strcmp(r->proto, "-1") != 0) {
        char b[16];
        snprintf(b, sizeof(b), "%d", r->from);
        awsq_addf(q, b, "IpPermissions.%d.FromPort", i);
        snprintf(b, sizeof(b), "%d", r->to);
        awsq_addf(q, b, "IpPermissions.%d.ToPort", i);
    }
    if (r->cidr[0]) {
        bool v6 = strchr(r->cidr, ':') != NULL;
        awsq_addf(q, r->cidr, "IpPermissions.%d.%s.1.%s", i, v6 ? "Ipv6Ranges" : "IpRanges",
                  v6 ? "CidrIpv6" : "CidrIp");
        if (desc)
            awsq_addf(q, desc, "IpPermissions.%d.%s.1.Description", i,
                      v6 ? "Ipv6Ranges" : "IpRanges");
    } else {
        awsq_addf(q, r->group, "IpPermissions.%d.Groups.1.GroupId", i);
        if (desc)
            awsq_addf(q, desc, "IpPermissions.%d.Groups.1.Description", i);
    }
}

static int sg_change(struct lbp_provider_ctx *ctx, const char *action, const char *sg,
                     const struct aws_rule *const *rules, size_t n, const char *desc,
                     struct lbp_call *call)
{
    struct aws_query q;
    struct aws_err e;
    int rc;
    if (!n)
        return LBP_OK;
    awsq_init(&q, action, AWS_EC2_VERSION);
    awsq_add(&q, "GroupId", sg);
    for (size_t i = 0; i < n; i++)
        add_perm(&q, (int)i + 1, rules[i], desc);
    rc = aws_call0(ctx, AWS_EC2, &q, action, &e, call);
    awsq_free(&q);
    /* A batch with one rule already there (or already gone) fails whole: go one by one. */
    if ((rc == LBP_INVALID && strcmp(e.code, "InvalidPermission.Duplicate") == 0) ||
        (rc == LBP_NOT_FOUND && strcmp(e.code, "InvalidPermission.NotFound") == 0)) {
        rc = LBP_OK;
        for (size_t i = 0; n > 1 && i < n && rc == LBP_OK; i++)
            rc = sg_change(ctx, action, sg, &rules[i], 1, desc, call);
    } else if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "%s: security group %s: %s: %s", action, sg, e.code, e.msg);
        rc = LBP_INVALID;
    } else if (rc == LBP_INVALID && strcmp(e.code, "RulesPerSecurityGroupLimitExceeded") == 0) {
        /*
         * Every NodePort of every LB adds rules to the nodes' shared group, so
         * a cluster outgrows AWS's default quota (60) long before its LB
         * quota. Retried with backoff: deleting other LBs frees room.
         */
        lbp_failf(call,
                  "security group %s is full (%s: each source range of each port is one "
                  "inbound rule; AWS allows 60 by default): raise the rules-per-group quota, "
                  "or set DisableSecurityGroupIngress = true in the cloud-config and open the "
                  "NodePorts to the load balancers yourself",
                  sg, e.code);
        rc = LBP_RETRY;
    }
    if (call && rc == LBP_OK)
        call->err[0] = 0;
    return rc;
}

int aws_sg_converge(struct lbp_provider_ctx *ctx, const struct aws_sg *sg, const char *desc,
                    const struct aws_rule *want, size_t n_want, struct lbp_call *call)
{
    static const struct lbp_diff_ops ops = {
        .match = rule_match, .ignore = rule_not_ours, .same_want = rule_match};
    const struct aws_rule **add = NULL, **del = NULL;
    size_t *ai = NULL, *di = NULL, na = 0, nd = 0;
    int rc = lbp_target_diff(sg->rules, sg->n_rules, sizeof(*sg->rules), want, n_want,
                             sizeof(*want), &ops, (void *)desc, &ai, &na, &di, &nd);
    if (rc)
        goto out;
    add = calloc(na + 1, sizeof(*add));
    del = calloc(nd + 1, sizeof(*del));
    if (!add || !del) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < na; i++)
        add[i] = &want[ai[i]];
    for (size_t k = 0; k < nd; k++)
        del[k] = &sg->rules[di[k]];
    rc = sg_change(ctx, "RevokeSecurityGroupIngress", sg->id, del, nd, NULL, call);
    if (rc == LBP_OK)
        rc = sg_change(ctx, "AuthorizeSecurityGroupIngress", sg->id, add, na, desc, call);
out:
    free(add);
    free(del);
    free(ai);
    free(di);
    return rc;
}

int aws_node_sgs(struct lbp_provider_ctx *ctx, const struct lbp_vec *instances, struct lbp_vec *sgs,
                 struct lbp_call *call)
{
    const struct aws_instance *in = instances->v;
    const char **ids = NULL;
    size_t n = 0;
    struct lbp_vec all;
    char cluster_key[200];
    int rc;

    if (ctx->node_sg[0]) {
        const char *one[1] = {ctx->node_sg};
        return aws_describe_sgs(ctx, one, 1, NULL, NULL, sgs, call);
    }
    if (!instances->n)
        return LBP_OK;
    ids = calloc(instances->n * AWS_MAX_SGS, sizeof(*ids));
    if (!ids)
        return LBP_NOMEM;
    for (size_t i = 0; i < instances->n; i++)
        for (size_t g = 0; g < in[i].n_sgs; g++) {
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = strcmp(ids[k], in[i].sgs[g]) == 0;
            if (!dup)
                ids[n++] = in[i].sgs[g];
        }
    lbp_vec_init(&all, sizeof(struct aws_sg));
    rc = n ? aws_describe_sgs(ctx, ids, n, NULL, NULL, &all, call) : LBP_OK;
    snprintf(cluster_key, sizeof(cluster_key), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    for (size_t i = 0; rc == LBP_OK && i < instances->n; i++) {
        struct aws_sg *pick = NULL;
        for (size_t g = 0; g < in[i].n_sgs; g++)
            for (size_t k = 0; k < all.n; k++) {
                struct aws_sg *s = &((struct aws_sg *)all.v)[k];
                if (strcmp(s->id, in[i].sgs[g]) != 0)
                    continue;
                if (!pick ||
                    (aws_tag_get(&s->tags, cluster_key) && !aws_tag_get(&pick->tags, cluster_key)))
                    pick = s;
            }
        if (pick) {
            bool dup = false;
            for (size_t k = 0; k < sgs->n && !dup; k++)
                dup = strcmp(((struct aws_sg *)sgs->v)[k].id, pick->id) == 0;
            if (!dup) {
                struct aws_sg *d = lbp_vec_push(sgs);
                if (!d) {
                    rc = LBP_NOMEM;
                    break;
                }
                *d = *pick;
                /* moved: the copy owns the rules and tags now */
                pick->rules = NULL;
                pick->n_rules = 0;
                memset(&pick->tags, 0, sizeof(pick->tags));
            }
        }
    }
    aws_sgs_free(&all);
    free(ids);
    return rc;
}
