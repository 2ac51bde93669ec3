/*
 * aws.c — the AWS provider's vtable, configuration and entry points.
 *
 * Configuration comes from an INI cloud-config ([Global] section, see
 * clouds/aws/README.md) and the environment: region (Region, AWS_REGION,
 * AWS_DEFAULT_REGION, then IMDS), endpoints per service (cloud-config, then
 * AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then the regional
 * default), credentials (provider/aws_creds.c). Each vtable slot parses the
 * Service's annotations and hands off to nlb.c or classic.c.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/aws/aws_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/ini.h"
#include "provider/ratelimit.h"

static int cfg(const char *text, const char *key, char *out, size_t cap)
{
    if (!text)
        return LBP_NOT_FOUND;
    return lbp_ini_get(text, "Global", key, out, cap);
}

static const char *env(const char *n)
{
    const char *v = getenv(n);
    return v && *v ? v : NULL;
}

static void aws_cleanup(struct lbp_provider_ctx *ctx)
{
    if (!ctx)
        return;
    lbp_aws_creds_free(ctx->creds);
    lbp_http_client_free(ctx->http);
    lbp_node_cache_free(ctx->cache);
    aws_tg_suspects_free(ctx);
    pthread_mutex_destroy(&ctx->tg_mu);
    free(ctx);
}

/*
 * The example overlay (examples/deploy/overlays/aws) marks what the user
 * must fill in with values starting REPLACE_ME. One left as it is would
 * tag load balancers with another cluster's name, so it stops the start.
 */
static int placeholder(const char *text, char *err, size_t errlen)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n'), *eq = strchr(line, '=');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (eq && eq < line + len && line[strspn(line, " \t")] != '#' &&
            line[strspn(line, " \t")] != ';') {
            const char *v = eq + 1 + strspn(eq + 1, " \t");
            if (strncmp(v, "REPLACE_ME", 10) == 0) {
                int klen = (int)(eq - line), vlen = (int)strcspn(v, " \t\r\n");
                while (klen > 0 && (line[klen - 1] == ' ' || line[klen - 1] == '\t'))
                    klen--;
                snprintf(err, errlen,
                         "aws: cloud-config %.*s = %.*s is the example's placeholder: set it "
                         "(clouds/aws/README.md)",
                         klen > 64 ? 64 : klen, line, vlen > 64 ? 64 : vlen, v);
                return LBP_INVALID;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return LBP_OK;
}

static int aws_init(const char *cloud_config_path, const char *cluster_name,
                    struct lbp_provider_ctx **out, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));
    struct lbp_http_opts ho = {.cloud = "aws", .qps = 10, .burst = 20};
    struct lbp_aws_creds_opts co = {0};
    char *text = NULL, v[512], ep_override[3][512], sts[512] = "", imds[512] = "",
         profile[128] = "", ca[512] = "";
    static const char *const ep_key[3] = {"ElasticLoadBalancingV2Endpoint",
                                          "ElasticLoadBalancingEndpoint", "EC2Endpoint"};
    static const char *const ep_env[3] = {"ELASTIC_LOAD_BALANCING_V2", "ELASTIC_LOAD_BALANCING",
                                          "EC2"};
    static const char *const ep_host[3] = {"elasticloadbalancing", "elasticloadbalancing", "ec2"};
    long n;
    int rc = LBP_OK;

    if (!ctx)
        return LBP_NOMEM;
    pthread_mutex_init(&ctx->tg_mu, NULL);
    ctx->cache_ttl_s = 300;
    /* every answer is XML: without libxml2 the cloud cannot work, so say so at start */
    if ((rc = awsx_xml_open(NULL, err, errlen)))
        goto out;
    memset(ep_override, 0, sizeof(ep_override));
    if (cloud_config_path && *cloud_config_path) {
        rc = lbp_ini_load(cloud_config_path, &text);
        if (rc) {
            snprintf(err, errlen, "aws: cannot read cloud-config %s: %s", cloud_config_path,
                     lbp_rc_str(rc));
            rc = LBP_INVALID;
            goto out;
        }
        rc = placeholder(text, err, errlen);
        if (rc)
            goto out;
    }
    lbp_strlcpy(ctx->cluster, cluster_name && *cluster_name ? cluster_name : "kubernetes",
                sizeof(ctx->cluster));
    if (cfg(text, "KubernetesClusterID", v, sizeof(v)) == LBP_OK && v[0])
        lbp_strlcpy(ctx->cluster, v, sizeof(ctx->cluster));
    if (cfg(text, "VPC", v, sizeof(v)) == LBP_OK)
        lbp_strlcpy(ctx->vpc, v, sizeof(ctx->vpc));
    if (cfg(text, "NodeSecurityGroup", v, sizeof(v)) == LBP_OK)
        lbp_strlcpy(ctx->node_sg, v, sizeof(ctx->node_sg));
    if (cfg(text, "DisableSecurityGroupIngress", v, sizeof(v)) == LBP_OK) {
        if (strcasecmp(v, "true") == 0)
            ctx->no_sg_ingress = true;
        else if (strcasecmp(v, "false") != 0) {
            snprintf(err, errlen,
                     "aws: cloud-config DisableSecurityGroupIngress=%.32s: use true or false", v);
            rc = LBP_INVALID;
            goto out;
        }
    }
    ctx->default_kind = AWS_KIND_CLASSIC;
    if (cfg(text, "DefaultLoadBalancerType", v, sizeof(v)) == LBP_OK) {
        if (strcmp(v, "nlb") == 0)
            ctx->default_kind = AWS_KIND_NLB;
        else if (strcmp(v, "classic") != 0) {
            snprintf(err, errlen,
                     "aws: cloud-config DefaultLoadBalancerType=%.32s: use nlb or "
                     "classic",
                     v);
            rc = LBP_INVALID;
            goto out;
        }
    }
    if (cfg(text, "InsecureSkipTLSVerify", v, sizeof(v)) == LBP_OK && strcasecmp(v, "true") == 0)
        ho.insecure_skip_verify = true;
    if (cfg(text, "CAFile", ca, sizeof(ca)) == LBP_OK)
        ho.ca_file = ca;
    if (cfg(text, "QPS", v, sizeof(v)) == LBP_OK) {
        if (lbp_parse_long(v, 1, 10000, &n) != LBP_OK) {
            snprintf(err, errlen, "aws: cloud-config QPS=%.32s: an integer 1-10000", v);
            rc = LBP_INVALID;
            goto out;
        }
        ho.qps = (double)n;
        ho.burst = (unsigned)n * 2;
    }
    if (cfg(text, "Burst", v, sizeof(v)) == LBP_OK && lbp_parse_long(v, 1, 100000, &n) == LBP_OK)
        ho.burst = (unsigned)n;
    if (cfg(text, "RetryMaxAttempts", v, sizeof(v)) == LBP_OK &&
        lbp_parse_long(v, 1, 20, &n) == LBP_OK)
        ho.max_attempts = (unsigned)n;
    if (cfg(text, "RetryBaseDelayMs", v, sizeof(v)) == LBP_OK &&
        lbp_parse_long(v, 1, 60000, &n) == LBP_OK)
        ho.backoff_base_ms = (uint64_t)n;
    if (cfg(text, "RetryMaxDelayMs", v, sizeof(v)) == LBP_OK &&
        lbp_parse_long(v, 1, 600000, &n) == LBP_OK)
        ho.backoff_max_ms = (uint64_t)n;
    if (cfg(text, "InstanceCacheTTL", v, sizeof(v)) == LBP_OK &&
        lbp_parse_long(v, 0, 86400, &n) == LBP_OK)
        ctx->cache_ttl_s = (unsigned)n;
    if ((rc = lbp_node_cache_new(sizeof(struct aws_instance), ctx->cache_ttl_s, &ctx->cache)))
        goto out;
    for (int i = 0; i < 3; i++)
        cfg(text, ep_key[i], ep_override[i], sizeof(ep_override[i]));
    if (cfg(text, "Endpoint", v, sizeof(v)) == LBP_OK)
        for (int i = 0; i < 3; i++)
            if (!ep_override[i][0])
                lbp_strlcpy(ep_override[i], v, sizeof(ep_override[i]));
    cfg(text, "STSEndpoint", sts, sizeof(sts));
    cfg(text, "MetadataEndpoint", imds, sizeof(imds));
    cfg(text, "Profile", profile, sizeof(profile));

    rc = lbp_http_client_new(&ho, &ctx->http);
    if (rc)
        goto out;

    if (cfg(text, "Region", v, sizeof(v)) == LBP_OK && v[0])
        lbp_strlcpy(ctx->region, v, sizeof(ctx->region));
    else if (env("AWS_REGION"))
        lbp_strlcpy(ctx->region, env("AWS_REGION"), sizeof(ctx->region));
    else if (env("AWS_DEFAULT_REGION"))
        lbp_strlcpy(ctx->region, env("AWS_DEFAULT_REGION"), sizeof(ctx->region));
    else if (!env("AWS_EC2_METADATA_DISABLED") ||
             strcasecmp(env("AWS_EC2_METADATA_DISABLED"), "true") != 0) {
        char base[512], e[256] = "";
        struct lbp_buf b;
        lbp_buf_init(&b, 256);
        lbp_aws_imds_base(imds, base, sizeof(base));
        if (lbp_aws_imds_get(ctx->http, base, "latest/meta-data/placement/region", &b, e,
                             sizeof(e)) == LBP_OK &&
            b.len && b.len < sizeof(ctx->region))
            lbp_strlcpy(ctx->region, b.data, sizeof(ctx->region));
        lbp_buf_free(&b);
    }
    if (!ctx->region[0]) {
        snprintf(err, errlen,
                 "aws: no region: set Region in the cloud-config, AWS_REGION, or "
                 "run on EC2 with IMDS reachable");
        rc = LBP_INVALID;
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        rc = lbp_aws_endpoint(ep_override[i], ep_env[i], ep_host[i], ctx->region, ctx->ep[i],
                              sizeof(ctx->ep[i]));
        if (rc) {
            snprintf(err, errlen, "aws: bad endpoint for %s (want http:// or https:// URL)",
                     ep_env[i]);
            rc = LBP_INVALID;
            goto out;
        }
    }
    co.http = ctx->http;
    co.region = ctx->region;
    co.sts_endpoint = sts[0] ? sts : NULL;
    co.imds_endpoint = imds[0] ? imds : NULL;
    co.profile = profile[0] ? profile : NULL;
    rc = lbp_aws_creds_new(&co, &ctx->creds);
    if (rc)
        goto out;
    lbp_info("aws: region %s, cluster %s, default LB %s, ELBv2 %s, EC2 %s", ctx->region,
             ctx->cluster, ctx->default_kind == AWS_KIND_NLB ? "nlb" : "classic", ctx->ep[0],
             ctx->ep[2]);
out:
    free(text);
    if (rc) {
        aws_cleanup(ctx);
        return rc;
    }
    *out = ctx;
    return LBP_OK;
}

static int aws_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   struct lbp_lb_status *st, struct lbp_call *call)
{
    struct aws_opts o;
    int rc = aws_opts_parse(spec, ctx->default_kind, &o, call);
    if (rc)
        return rc;
    memset(st, 0, sizeof(*st));
    if (o.kind == AWS_KIND_NLB) {
        struct aws_lb lb;
        rc = aws_nlb_get(ctx, spec->lb_name, &lb, call);
        if (rc == LBP_OK) {
            lbp_strlcpy(st->ingress[0].hostname, lb.dns, sizeof(st->ingress[0].hostname));
            st->n_ingress = 1;
            for (size_t i = 0; o.n_eips && i < lb.n_az && st->n_ingress < LBP_LB_MAX_INGRESS; i++)
                if (lb.az[i].ip[0])
                    lbp_strlcpy(st->ingress[st->n_ingress++].ip, lb.az[i].ip,
                                sizeof(st->ingress[0].ip));
        }
    } else {
        struct aws_clb lb;
        memset(&lb, 0, sizeof(lb));
        rc = aws_clb_get(ctx, spec->lb_name, &lb, call);
        if (rc == LBP_OK) {
            lbp_strlcpy(st->ingress[0].hostname, lb.dns, sizeof(st->ingress[0].hostname));
            st->n_ingress = 1;
        }
        aws_clb_free(&lb);
    }
    return rc;
}

static int aws_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      struct lbp_lb_status *st, struct lbp_call *call)
{
    struct aws_opts o;
    int rc = aws_opts_parse(spec, ctx->default_kind, &o, call);
    if (rc)
        return rc;
    rc = o.kind == AWS_KIND_NLB ? aws_nlb_ensure(ctx, spec, &o, st, call)
                                : aws_clb_ensure(ctx, spec, &o, st, call);
    if (rc)
        lbp_v(2, "aws %s/%s: ensure: %s: %s", spec->namespace, spec->name, lbp_rc_str(rc),
              call ? call->err : "");
    return rc;
}

static int aws_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                              struct lbp_call *call)
{
    struct aws_opts o;
    int rc = aws_opts_parse(spec, ctx->default_kind, &o, call);
    if (rc)
        return rc;
    return o.kind == AWS_KIND_NLB ? aws_nlb_targets(ctx, spec, &o, call)
                                  : aws_clb_targets(ctx, spec, &o, call);
}

static int aws_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      struct lbp_call *call)
{
    /* The annotations may be gone: remove whichever kind exists. */
    int rc = aws_nlb_remove(ctx, spec, call);
    if (rc == LBP_OK)
        rc = aws_clb_remove(ctx, spec, call);
    return rc;
}

static int aws_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                          struct lbp_call *call)
{
    struct lbp_owned_list l;
    int rc;
    lbp_owned_init(&l);
    rc = aws_nlb_list_owned(ctx, &l, call);
    if (rc == LBP_OK)
        rc = aws_clb_list_owned(ctx, &l, call);
    if (rc) {
        lbp_owned_free(&l);
        return rc;
    }
    return lbp_owned_take(&l, out, n);
}

static int aws_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, "DescribeLoadBalancers", AWS_ELBV2_VERSION);
    awsq_addi(&q, "PageSize", 1);
    rc = aws_call0(ctx, AWS_ELBV2, &q, "DescribeLoadBalancers", NULL, call);
    awsq_free(&q);
    return rc;
}

/* /debug/aws: configuration and caches, never a credential. */
static char *aws_debug_json(struct lbp_provider_ctx *ctx)
{
    struct json_object *o = json_object_new_object(), *ep = json_object_new_object();
    char source[32];
    int64_t exp;
    if (!o || !ep) {
        json_object_put(o);
        json_object_put(ep);
        return NULL;
    }
    json_object_object_add(o, "region", json_object_new_string(ctx->region));
    json_object_object_add(o, "cluster", json_object_new_string(ctx->cluster));
    json_object_object_add(
        o, "defaultLoadBalancerType",
        json_object_new_string(ctx->default_kind == AWS_KIND_NLB ? "nlb" : "classic"));
    json_object_object_add(ep, "elasticloadbalancingV2", json_object_new_string(ctx->ep[0]));
    json_object_object_add(ep, "elasticloadbalancing", json_object_new_string(ctx->ep[1]));
    json_object_object_add(ep, "ec2", json_object_new_string(ctx->ep[2]));
    json_object_object_add(o, "endpoints", ep);
    json_object_object_add(o, "vpc", json_object_new_string(ctx->vpc));
    lbp_json_add_u64(o, "cachedInstances", lbp_node_cache_count(ctx->cache));
    lbp_aws_creds_describe(ctx->creds, source, sizeof(source), &exp);
    json_object_object_add(o, "credentialsSource", json_object_new_string(source));
    json_object_object_add(o, "credentialsExpire", json_object_new_int64(exp));
    return lbp_http_debug_text(o, ctx->http);
}

const struct lbp_provider lbp_provider_aws = {
    .name = "aws",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_MIXED_PROTOCOLS | LBP_CAP_SOURCE_RANGES |
            LBP_CAP_HOSTNAME | LBP_CAP_NEEDS_NODEPORTS | LBP_CAP_HEALTH_CHECKS,
    .init = aws_init,
    .cleanup = aws_cleanup,
    .get = aws_get,
    .ensure = aws_ensure,
    .update_targets = aws_update_targets,
    .remove = aws_remove,
    .list_owned = aws_list_owned,
    .ping = aws_ping,
    .debug_json = aws_debug_json,
};
