/*
 * nlb.c — Network Load Balancers (ELBv2) for a Service.
 *
 * ensure reads what exists (the LB by name, its target groups and
 * listeners, each group's targets, the nodes' security groups) and makes
 * only the difference: one target group and one listener per Service port
 * (TCP_UDP when TCP and UDP share a port), instance targets on the
 * NodePort, health checks, and node security-group rules for the clients
 * (NLB preserves client IPs for instance targets, so the nodes' group is
 * what filters loadBalancerSourceRanges) and for the health checks from
 * the LB's subnets.
 *
 * Names are deterministic (LB "a"+UID, target groups k8s-ns-name-hash of
 * the immutable settings), and AWS answers CreateLoadBalancer and
 * CreateTargetGroup for an existing name with identical settings with the
 * existing resource. So a step that fails half-way, a retry, a restart or
 * an LB not yet visible to Describe (eventual consistency) all converge on
 * the next ensure without duplicates.
 *
 * One thing Describe by LB cannot see: a target group attached to nothing.
 * A group created whose listener change then failed (or whose reply was
 * lost) and that the Service no longer wants by the next ensure, or an old
 * group whose delete failed after its listener moved, would stay until the
 * Service is deleted (whose remove lists groups by name prefix). Listing
 * every group of the account on each ensure would cost pages of calls, so
 * the ensure remembers the names it creates or detaches ("suspects") and,
 * once converged, deletes those neither wanted nor attached. The memory is
 * per process: a crash in that window leaves the group to the delete.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <uthash.h>

#include "clouds/aws/aws_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define TARGET_CHUNK 100
#define DESC_CLIENT "kubernetes.io/rule/nlb/client="
#define DESC_HEALTH "kubernetes.io/rule/nlb/health="

struct want {
    int port;
    int node_port;
    char protocol[16];    /* listener: TCP, UDP, TCP_UDP, TLS */
    char tg_protocol[16]; /* TCP, UDP, TCP_UDP, TLS */
    char tg_name[40];
    char cert[AWS_ARN_LEN];
    char hc_protocol[8];
    char hc_port[16];
    char hc_path[256];
    int hc_interval, hc_timeout, healthy, unhealthy;
    bool sticky;         /* sessionAffinity: ClientIP */
    bool proxy_protocol; /* proxy-protocol annotation */
    char tg_arn[AWS_ARN_LEN];
    bool tg_new;
};

static void sanitize8(const char *in, char out[9])
{
    size_t n = 0;
    for (; *in && n < 8; in++)
        if ((*in >= 'a' && *in <= 'z') || (*in >= '0' && *in <= '9') || (*in >= 'A' && *in <= 'Z'))
            out[n++] = *in;
    out[n] = 0;
}

static void tg_name(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, struct want *w)
{
    char in[768], ns[9], nm[9], hex[41];
    unsigned char md[SHA_DIGEST_LENGTH];
    /*
     * What a target group cannot change, plus the attributes lbprov sets
     * only at creation (stickiness, proxy protocol): a new value makes a new
     * group, which the listener is switched to, so attributes converge both
     * ways without reading them on every ensure.
     */
    snprintf(in, sizeof(in), "%s|%s|%s|%d|%d|%s|instance%s%s", ctx->cluster, spec->namespace,
             spec->name, w->port, w->node_port, w->tg_protocol, w->sticky ? "|sticky" : "",
             w->proxy_protocol ? "|pp2" : "");
    SHA1((const unsigned char *)in, strlen(in), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    sanitize8(spec->namespace, ns);
    sanitize8(spec->name, nm);
    snprintf(w->tg_name, sizeof(w->tg_name), "k8s-%s-%s-%.10s", ns, nm, hex);
}

static void tg_prefix(const struct lbp_lb_spec *spec, char *out, size_t cap)
{
    char ns[9], nm[9];
    sanitize8(spec->namespace, ns);
    sanitize8(spec->name, nm);
    snprintf(out, cap, "k8s-%s-%s-", ns, nm);
}

static int build_wants(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                       const struct aws_opts *o, struct want **out, size_t *n_out,
                       struct lbp_call *call)
{
    struct want *w = calloc(spec->n_ports + 1, sizeof(*w));
    struct lbp_health_check hc;
    size_t n = 0;
    if (!w)
        return LBP_NOMEM;
    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        struct want *x = NULL;
        if (strcmp(p->protocol, "TCP") != 0 && strcmp(p->protocol, "UDP") != 0) {
            lbp_failf(call, "port %d: protocol %s is not supported by an NLB (TCP, UDP)", p->port,
                      p->protocol);
            free(w);
            return LBP_INVALID;
        }
        if (p->node_port <= 0) {
            lbp_failf(call,
                      "port %d has no nodePort; an NLB with instance targets needs "
                      "allocateLoadBalancerNodePorts",
                      p->port);
            free(w);
            return LBP_INVALID;
        }
        for (size_t k = 0; k < n; k++)
            if (w[k].port == p->port)
                x = &w[k];
        if (x) {
            if (strcmp(x->protocol, p->protocol) == 0 || x->node_port != p->node_port) {
                lbp_failf(call, "port %d is listed twice%s", p->port,
                          x->node_port != p->node_port
                              ? " with different nodePorts (TCP_UDP needs one)"
                              : "");
                free(w);
                return LBP_INVALID;
            }
            lbp_strlcpy(x->protocol, "TCP_UDP", sizeof(x->protocol));
            lbp_strlcpy(x->tg_protocol, "TCP_UDP", sizeof(x->tg_protocol));
            continue;
        }
        x = &w[n++];
        x->port = p->port;
        x->node_port = p->node_port;
        lbp_strlcpy(x->protocol, p->protocol, sizeof(x->protocol));
        lbp_strlcpy(x->tg_protocol, p->protocol, sizeof(x->tg_protocol));
    }
    for (size_t i = 0; i < n; i++) {
        struct want *x = &w[i];
        if (strcmp(x->protocol, "TCP") == 0 && aws_opts_ssl_port(o, x->port)) {
            lbp_strlcpy(x->protocol, "TLS", sizeof(x->protocol));
            lbp_strlcpy(x->cert, o->ssl_cert, sizeof(x->cert));
            if (strcmp(o->backend_protocol, "ssl") == 0)
                lbp_strlcpy(x->tg_protocol, "TLS", sizeof(x->tg_protocol));
        }
        /* Defaults as upstream; Local traffic asks kube-proxy's health endpoint. */
        if (lbp_health_check_kube(spec, &hc)) {
            lbp_strlcpy(x->hc_protocol, hc.protocol, sizeof(x->hc_protocol));
            snprintf(x->hc_port, sizeof(x->hc_port), "%d", hc.port);
            lbp_strlcpy(x->hc_path, hc.path, sizeof(x->hc_path));
        } else {
            lbp_strlcpy(x->hc_protocol, "TCP", sizeof(x->hc_protocol));
            lbp_strlcpy(x->hc_port, "traffic-port", sizeof(x->hc_port));
        }
        x->hc_interval = 30;
        x->hc_timeout = 10;
        x->healthy = 3;
        x->unhealthy = 3;
        if (o->hc_protocol[0])
            lbp_strlcpy(x->hc_protocol, o->hc_protocol, sizeof(x->hc_protocol));
        if (o->hc_port[0])
            lbp_strlcpy(x->hc_port, o->hc_port, sizeof(x->hc_port));
        if (o->hc_path[0])
            lbp_strlcpy(x->hc_path, o->hc_path, sizeof(x->hc_path));
        if (strcmp(x->hc_protocol, "TCP") == 0)
            x->hc_path[0] = 0;
        else if (!x->hc_path[0])
            lbp_strlcpy(x->hc_path, "/", sizeof(x->hc_path));
        if (o->hc_interval)
            x->hc_interval = o->hc_interval;
        if (o->hc_timeout)
            x->hc_timeout = o->hc_timeout;
        if (o->hc_healthy)
            x->healthy = o->hc_healthy;
        if (o->hc_unhealthy)
            x->unhealthy = o->hc_unhealthy;
        x->sticky = lbp_streq(spec->session_affinity, "ClientIP");
        x->proxy_protocol = o->proxy_protocol;
        tg_name(ctx, spec, x);
    }
    *out = w;
    *n_out = n;
    return LBP_OK;
}

static void add_tags(struct aws_query *q, const struct aws_tags *t)
{
    for (size_t i = 0; i < t->n; i++) {
        awsq_addf(q, t->t[i].key, "Tags.member.%zu.Key", i + 1);
        awsq_addf(q, t->t[i].value, "Tags.member.%zu.Value", i + 1);
    }
}

int aws_nlb_get(struct lbp_provider_ctx *ctx, const char *lb_name, struct aws_lb *lb,
                struct lbp_call *call)
{
    struct lbp_vec v;
    int rc;
    lbp_vec_init(&v, sizeof(struct aws_lb));
    rc = aws_describe_lb(ctx, AWS_ELBV2, lb_name, &v, call);
    if (rc == LBP_OK)
        *lb = *(struct aws_lb *)v.v;
    lbp_vec_free(&v);
    return rc;
}

static int describe_paged(struct lbp_provider_ctx *ctx, const char *op, const char *key,
                          const char *val, struct lbp_vec *out,
                          int (*parse)(xmlDoc *, struct lbp_vec *, char *, size_t),
                          struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, op, AWS_ELBV2_VERSION);
    if (key)
        awsq_add(&q, key, val);
    rc = aws_describe_all(ctx, AWS_ELBV2, &q, op, 400, parse, out, NULL, call);
    awsq_free(&q);
    return rc;
}

/*
 * Tags of arns, 20 a call. A resource deleted since it was listed fails its
 * whole batch as not found; with skip_gone each is then asked alone and
 * the gone ones skipped, so churn never stops the orphan scan.
 */
static int describe_tags(struct lbp_provider_ctx *ctx, const char *const *arns, size_t n,
                         bool skip_gone, struct lbp_vec *out, struct lbp_call *call)
{
    int rc = LBP_OK;
    for (size_t off = 0; off < n && rc == LBP_OK; off += 20) {
        struct aws_query q;
        xmlDoc *doc = NULL;
        size_t k = n - off < 20 ? n - off : 20;
        awsq_init(&q, "DescribeTags", AWS_ELBV2_VERSION);
        for (size_t i = off; i < off + k; i++)
            awsq_addf(&q, arns[i], "ResourceArns.member.%zu", i - off + 1);
        rc = aws_call(ctx, AWS_ELBV2, &q, "DescribeTags", &doc, NULL, call);
        awsq_free(&q);
        if (rc == LBP_OK && awsx_tag_descs(doc, out) != LBP_OK) {
            lbp_failf(call, "DescribeTags: unreadable answer");
            rc = LBP_RETRY;
        }
        awsx_free(doc);
        if (rc == LBP_NOT_FOUND && skip_gone && k > 1) {
            rc = LBP_OK;
            for (size_t i = off; i < off + k && rc == LBP_OK; i++)
                rc = describe_tags(ctx, &arns[i], 1, true, out, call);
        } else if (rc == LBP_NOT_FOUND && skip_gone) {
            rc = LBP_OK; /* deleted meanwhile: nothing to clean */
        }
    }
    return rc;
}

static int targets_change(struct lbp_provider_ctx *ctx, const char *action, const char *tg,
                          const char *const *ids, size_t n, int port, struct lbp_call *call)
{
    int rc = LBP_OK;
    for (size_t off = 0; off < n && rc == LBP_OK; off += TARGET_CHUNK) {
        struct aws_query q;
        struct aws_err e;
        awsq_init(&q, action, AWS_ELBV2_VERSION);
        awsq_add(&q, "TargetGroupArn", tg);
        for (size_t i = off; i < n && i < off + TARGET_CHUNK; i++) {
            char b[16];
            snprintf(b, sizeof(b), "%d", port);
            awsq_addf(&q, ids[i], "Targets.member.%zu.Id", i - off + 1);
            awsq_addf(&q, b, "Targets.member.%zu.Port", i - off + 1);
        }
        rc = aws_call0(ctx, AWS_ELBV2, &q, action, &e, call);
        awsq_free(&q);
    }
    return rc;
}

/* A registered target (have) is a wanted instance on the group's port (ud). */
static bool target_match(const void *have, const void *want, void *port)
{
    const struct aws_target *t = have;
    return strcmp(t->id, ((const struct aws_instance *)want)->id) == 0 && t->port == *(int *)port;
}

/* A draining target is on its way out: neither kept nor deregistered again. */
static bool target_draining(const void *have, void *ud)
{
    return strcmp(((const struct aws_target *)have)->state, "draining") == 0;
}

/* Makes the group's targets exactly the instances on port. */
static int sync_targets(struct lbp_provider_ctx *ctx, const char *tg_arn, int port, bool fresh,
                        const struct lbp_vec *inst, struct lbp_call *call)
{
    struct lbp_vec have;
    static const struct lbp_diff_ops ops = {.match = target_match, .ignore = target_draining};
    const struct aws_instance *in = inst->v;
    const char **add = NULL, **del = NULL;
    size_t *ai = NULL, *di = NULL, na = 0, nd = 0;
    int rc = LBP_OK;

    lbp_vec_init(&have, sizeof(struct aws_target));
    if (!fresh) {
        struct aws_query q;
        xmlDoc *doc = NULL;
        awsq_init(&q, "DescribeTargetHealth", AWS_ELBV2_VERSION);
        awsq_add(&q, "TargetGroupArn", tg_arn);
        rc = aws_call(ctx, AWS_ELBV2, &q, "DescribeTargetHealth", &doc, NULL, call);
        awsq_free(&q);
        if (rc == LBP_OK && awsx_target_health(doc, &have) != LBP_OK) {
            lbp_failf(call, "DescribeTargetHealth: unreadable answer");
            rc = LBP_RETRY;
        }
        awsx_free(doc);
        if (rc)
            goto out;
    }
    rc = lbp_target_diff(have.v, have.n, have.elem, in, inst->n, sizeof(*in), &ops, &port, &ai, &na,
                         &di, &nd);
    add = rc ? NULL : calloc(na + 1, sizeof(*add));
    del = rc ? NULL : calloc(nd + 1, sizeof(*del));
    if (!add || !del) {
        rc = rc ? rc : LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < na; i++)
        add[i] = in[ai[i]].id;
    for (size_t k = 0; k < nd; k++)
        del[k] = ((struct aws_target *)have.v)[di[k]].id;
    if (na)
        lbp_v(2, "aws: target group %s: registering %zu, deregistering %zu", tg_arn, na, nd);
    rc = targets_change(ctx, "RegisterTargets", tg_arn, add, na, port, call);
    /*
     * Ours all sit on the group's port: one batched call. A target someone
     * registered on another port is removed on its own.
     */
    {
        size_t same = 0;
        for (size_t k = 0; k < nd; k++) {
            int p = 0;
            for (size_t j = 0; j < have.n; j++)
                if (((struct aws_target *)have.v)[j].id == del[k])
                    p = ((struct aws_target *)have.v)[j].port;
            if (p == port) {
                del[same++] = del[k];
            } else if (rc == LBP_OK) {
                rc = targets_change(ctx, "DeregisterTargets", tg_arn, &del[k], 1, p, call);
            }
        }
        if (rc == LBP_OK)
            rc = targets_change(ctx, "DeregisterTargets", tg_arn, del, same, port, call);
    }
out:
    free(add);
    free(del);
    free(ai);
    free(di);
    lbp_vec_free(&have);
    return rc;
}

/* The target group's health check, the same in CreateTargetGroup and ModifyTargetGroup. */
static void add_health_check(struct aws_query *q, const struct want *w)
{
    awsq_add(q, "HealthCheckProtocol", w->hc_protocol);
    awsq_add(q, "HealthCheckPort", w->hc_port);
    if (w->hc_path[0])
        awsq_add(q, "HealthCheckPath", w->hc_path);
    awsq_addi(q, "HealthCheckIntervalSeconds", w->hc_interval);
    awsq_addi(q, "HealthCheckTimeoutSeconds", w->hc_timeout);
    awsq_addi(q, "HealthyThresholdCount", w->healthy);
    awsq_addi(q, "UnhealthyThresholdCount", w->unhealthy);
}

static int create_tg(struct lbp_provider_ctx *ctx, const char *vpc, struct want *w,
                     const struct aws_tags *tags, struct lbp_call *call)
{
    struct aws_query q;
    struct lbp_vec v;
    xmlDoc *doc = NULL;
    int rc;
    awsq_init(&q, "CreateTargetGroup", AWS_ELBV2_VERSION);
    awsq_add(&q, "Name", w->tg_name);
    awsq_add(&q, "Protocol", w->tg_protocol);
    awsq_addi(&q, "Port", w->node_port);
    awsq_add(&q, "VpcId", vpc);
    awsq_add(&q, "TargetType", "instance");
    add_health_check(&q, w);
    add_tags(&q, tags);
    rc = aws_call(ctx, AWS_ELBV2, &q, "CreateTargetGroup", &doc, NULL, call);
    awsq_free(&q);
    lbp_vec_init(&v, sizeof(struct aws_tg));
    if (rc == LBP_OK) {
        if (awsx_tgs(doc, &v, NULL, 0) != LBP_OK || !v.n) {
            lbp_failf(call, "CreateTargetGroup: unreadable answer");
            rc = LBP_RETRY;
        } else {
            lbp_strlcpy(w->tg_arn, ((struct aws_tg *)v.v)->arn, sizeof(w->tg_arn));
            w->tg_new = true;
        }
    }
    lbp_vec_free(&v);
    awsx_free(doc);
    return rc;
}

/* ---- target groups an ensure may have left attached to nothing ---- */

struct aws_tg_suspect {
    char name[40]; /* the group's name (key) */
    char lb[40];   /* the LB it was made or detached for */
    UT_hash_handle hh;
};

/* Best effort: out of memory, the group is left to the Service's delete. */
static void suspect_add(struct lbp_provider_ctx *ctx, const char *tg_name, const char *lb)
{
    struct aws_tg_suspect *e;
    pthread_mutex_lock(&ctx->tg_mu);
    HASH_FIND_STR(ctx->tg_suspects, tg_name, e);
    if (!e && (e = calloc(1, sizeof(*e)))) {
        lbp_strlcpy(e->name, tg_name, sizeof(e->name));
        HASH_ADD_STR(ctx->tg_suspects, name, e);
    }
    if (e)
        lbp_strlcpy(e->lb, lb, sizeof(e->lb));
    pthread_mutex_unlock(&ctx->tg_mu);
}

static void suspect_drop(struct lbp_provider_ctx *ctx, const char *tg_name)
{
    struct aws_tg_suspect *e;
    pthread_mutex_lock(&ctx->tg_mu);
    HASH_FIND_STR(ctx->tg_suspects, tg_name, e);
    if (e) {
        HASH_DEL(ctx->tg_suspects, e);
        free(e);
    }
    pthread_mutex_unlock(&ctx->tg_mu);
}

/* The names suspected for lb, copied (calls are made without the lock); NULL when none. */
static char (*suspects_of(struct lbp_provider_ctx *ctx, const char *lb, size_t *n))[40]
{
    struct aws_tg_suspect *e, *tmp;
    char(*out)[40] = NULL;
    size_t cap = 0;
    *n = 0;
    pthread_mutex_lock(&ctx->tg_mu);
    HASH_ITER(hh, ctx->tg_suspects, e, tmp)
    {
        if (strcmp(e->lb, lb) != 0)
            continue;
        if (*n == cap) {
            char(*g)[40] = realloc(out, (cap ? cap * 2 : 4) * sizeof(*out));
            if (!g)
                break;
            out = g;
            cap = cap ? cap * 2 : 4;
        }
        memcpy(out[(*n)++], e->name, sizeof(e->name));
    }
    pthread_mutex_unlock(&ctx->tg_mu);
    return out;
}

/* The LB is gone with every group of its Service (remove lists them by prefix). */
static void suspects_forget(struct lbp_provider_ctx *ctx, const char *lb)
{
    struct aws_tg_suspect *e, *tmp;
    pthread_mutex_lock(&ctx->tg_mu);
    HASH_ITER(hh, ctx->tg_suspects, e, tmp)
    {
        if (strcmp(e->lb, lb) == 0) {
            HASH_DEL(ctx->tg_suspects, e);
            free(e);
        }
    }
    pthread_mutex_unlock(&ctx->tg_mu);
}

void aws_tg_suspects_free(struct lbp_provider_ctx *ctx)
{
    struct aws_tg_suspect *e, *tmp;
    HASH_ITER(hh, ctx->tg_suspects, e, tmp)
    {
        HASH_DEL(ctx->tg_suspects, e);
        free(e);
    }
}

static int delete_tg(struct lbp_provider_ctx *ctx, const char *arn, struct lbp_call *call);

/*
 * After an ensure converged lb: each suspect it no longer wants is looked up
 * by name and deleted when attached to nothing; gone or attached, forgotten.
 */
static int sweep_suspects(struct lbp_provider_ctx *ctx, const char *lb, const struct want *w,
                          size_t nw, struct lbp_call *call)
{
    size_t n;
    char(*names)[40] = suspects_of(ctx, lb, &n);
    int rc = LBP_OK;
    for (size_t k = 0; k < n && rc == LBP_OK; k++) {
        struct aws_query q;
        struct lbp_vec v;
        xmlDoc *doc = NULL;
        bool wanted = false;
        for (size_t i = 0; i < nw && !wanted; i++)
            wanted = strcmp(w[i].tg_name, names[k]) == 0;
        if (wanted) {
            suspect_drop(ctx, names[k]);
            continue;
        }
        lbp_vec_init(&v, sizeof(struct aws_tg));
        awsq_init(&q, "DescribeTargetGroups", AWS_ELBV2_VERSION);
        awsq_add(&q, "Names.member.1", names[k]);
        rc = aws_call(ctx, AWS_ELBV2, &q, "DescribeTargetGroups", &doc, NULL, call);
        awsq_free(&q);
        if (rc == LBP_OK && awsx_tgs(doc, &v, NULL, 0) != LBP_OK) {
            lbp_failf(call, "DescribeTargetGroups: unreadable answer");
            rc = LBP_RETRY;
        }
        awsx_free(doc);
        if (rc == LBP_OK && v.n && !((struct aws_tg *)v.v)->lb_arn[0]) {
            rc = delete_tg(ctx, ((struct aws_tg *)v.v)->arn, call);
            if (rc == LBP_OK)
                lbp_info("aws: deleted target group %s, left attached to nothing", names[k]);
        }
        if (rc == LBP_NOT_FOUND)
            rc = LBP_OK;
        if (rc == LBP_OK)
            suspect_drop(ctx, names[k]);
        lbp_vec_free(&v);
    }
    free(names);
    return rc;
}

static bool hc_differs(const struct aws_tg *t, const struct want *w)
{
    return strcasecmp(t->hc_protocol, w->hc_protocol) != 0 || strcmp(t->hc_port, w->hc_port) ||
           (w->hc_path[0] && strcmp(t->hc_path, w->hc_path)) || t->hc_interval != w->hc_interval ||
           t->hc_timeout != w->hc_timeout || t->healthy != w->healthy ||
           t->unhealthy != w->unhealthy;
}

static int modify_tg(struct lbp_provider_ctx *ctx, const char *arn, const struct want *w,
                     struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, "ModifyTargetGroup", AWS_ELBV2_VERSION);
    awsq_add(&q, "TargetGroupArn", arn);
    add_health_check(&q, w);
    rc = aws_call0(ctx, AWS_ELBV2, &q, "ModifyTargetGroup", NULL, call);
    awsq_free(&q);
    return rc;
}

static int listener_put(struct lbp_provider_ctx *ctx, const char *op, const char *key,
                        const char *arn, const struct want *w, struct lbp_call *call)
{
    struct aws_query q;
    int rc;
    awsq_init(&q, op, AWS_ELBV2_VERSION);
    awsq_add(&q, key, arn);
    awsq_add(&q, "Protocol", w->protocol);
    awsq_addi(&q, "Port", w->port);
    awsq_add(&q, "DefaultActions.member.1.Type", "forward");
    awsq_add(&q, "DefaultActions.member.1.TargetGroupArn", w->tg_arn);
    if (w->cert[0]) {
        awsq_add(&q, "Certificates.member.1.CertificateArn", w->cert);
        awsq_add(&q, "SslPolicy", "ELBSecurityPolicy-2016-08");
    }
    rc = aws_call0(ctx, AWS_ELBV2, &q, op, NULL, call);
    awsq_free(&q);
    return rc;
}

static int delete_tg(struct lbp_provider_ctx *ctx, const char *arn, struct lbp_call *call)
{
    /* A group stays "in use" for a moment after its listener goes. */
    for (unsigned attempt = 0;; attempt++) {
        struct aws_query q;
        struct aws_err e;
        int rc;
        awsq_init(&q, "DeleteTargetGroup", AWS_ELBV2_VERSION);
        awsq_add(&q, "TargetGroupArn", arn);
        rc = aws_call0(ctx, AWS_ELBV2, &q, "DeleteTargetGroup", &e, call);
        awsq_free(&q);
        if (rc == LBP_NOT_FOUND)
            return LBP_OK;
        if (rc != LBP_INVALID || strcmp(e.code, "ResourceInUse") != 0)
            return rc;
        if (attempt >= 8) {
            lbp_failf(call, "DeleteTargetGroup %s: still in use", arn);
            return LBP_RETRY;
        }
        {
            uint64_t ms = lbp_jitter_ms(lbp_backoff_ms(100, 3000, attempt), 0.3);
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

static int lb_attribute(struct lbp_provider_ctx *ctx, const char *arn, const char *key,
                        const char *want, struct lbp_call *call)
{
    struct aws_query q;
    xmlDoc *doc = NULL;
    char have[64] = "";
    int rc;
    awsq_init(&q, "DescribeLoadBalancerAttributes", AWS_ELBV2_VERSION);
    awsq_add(&q, "LoadBalancerArn", arn);
    rc = aws_call(ctx, AWS_ELBV2, &q, "DescribeLoadBalancerAttributes", &doc, NULL, call);
    awsq_free(&q);
    if (rc)
        return rc;
    for (xmlNode *m = awsx_child(awsx_child(awsx_result(doc), "Attributes"), "member"); m;
         m = awsx_next(m, "member")) {
        char k[128];
        if (awsx_text(m, "Key", k, sizeof(k)) == LBP_OK && strcmp(k, key) == 0)
            awsx_text(m, "Value", have, sizeof(have));
    }
    awsx_free(doc);
    if (strcmp(have, want) == 0)
        return LBP_OK;
    awsq_init(&q, "ModifyLoadBalancerAttributes", AWS_ELBV2_VERSION);
    awsq_add(&q, "LoadBalancerArn", arn);
    awsq_add(&q, "Attributes.member.1.Key", key);
    awsq_add(&q, "Attributes.member.1.Value", want);
    rc = aws_call0(ctx, AWS_ELBV2, &q, "ModifyLoadBalancerAttributes", NULL, call);
    awsq_free(&q);
    return rc;
}

/* A new group's non-default attributes, in one call. */
static int tg_attributes(struct lbp_provider_ctx *ctx, const struct want *w, struct lbp_call *call)
{
    struct aws_query q;
    int n = 0, rc;
    awsq_init(&q, "ModifyTargetGroupAttributes", AWS_ELBV2_VERSION);
    awsq_add(&q, "TargetGroupArn", w->tg_arn);
    if (w->sticky) {
        awsq_addf(&q, "stickiness.enabled", "Attributes.member.%d.Key", ++n);
        awsq_addf(&q, "true", "Attributes.member.%d.Value", n);
        awsq_addf(&q, "stickiness.type", "Attributes.member.%d.Key", ++n);
        awsq_addf(&q, "source_ip", "Attributes.member.%d.Value", n);
    }
    if (w->proxy_protocol) {
        awsq_addf(&q, "proxy_protocol_v2.enabled", "Attributes.member.%d.Key", ++n);
        awsq_addf(&q, "true", "Attributes.member.%d.Value", n);
    }
    rc = aws_call0(ctx, AWS_ELBV2, &q, "ModifyTargetGroupAttributes", NULL, call);
    awsq_free(&q);
    return rc;
}

static int create_lb(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     const struct aws_opts *o, const char *vpc, const struct aws_tags *tags,
                     struct aws_lb *lb, struct lbp_call *call)
{
    struct lbp_vec subnets, v;
    struct aws_query q;
    xmlDoc *doc = NULL;
    struct aws_err e;
    int rc;

    lbp_vec_init(&subnets, sizeof(struct aws_subnet));
    lbp_vec_init(&v, sizeof(struct aws_lb));
    rc = aws_lb_subnets(ctx, vpc, o, &subnets, call);
    if (rc)
        goto out;
    if (o->n_eips && o->n_eips != subnets.n) {
        lbp_failf(call,
                  "annotation " AWS_ANN "aws-load-balancer-eip-allocations: %zu allocations for "
                  "%zu subnets; give one per subnet",
                  o->n_eips, subnets.n);
        rc = LBP_INVALID;
        goto out;
    }
    awsq_init(&q, "CreateLoadBalancer", AWS_ELBV2_VERSION);
    awsq_add(&q, "Name", spec->lb_name);
    awsq_add(&q, "Type", "network");
    awsq_add(&q, "Scheme", o->internal ? "internal" : "internet-facing");
    for (size_t i = 0; i < subnets.n; i++) {
        awsq_addf(&q, ((struct aws_subnet *)subnets.v)[i].id, "SubnetMappings.member.%zu.SubnetId",
                  i + 1);
        if (o->n_eips)
            awsq_addf(&q, o->eips[i], "SubnetMappings.member.%zu.AllocationId", i + 1);
    }
    add_tags(&q, tags);
    rc = aws_call(ctx, AWS_ELBV2, &q, "CreateLoadBalancer", &doc, &e, call);
    awsq_free(&q);
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "CreateLoadBalancer: %s: %s", e.code, e.msg);
        rc = LBP_INVALID;
    }
    if (rc == LBP_OK) {
        if (awsx_lbs(doc, &v, NULL, 0) != LBP_OK || !v.n) {
            lbp_failf(call, "CreateLoadBalancer: unreadable answer");
            rc = LBP_RETRY;
        } else {
            *lb = *(struct aws_lb *)v.v;
            lbp_info("aws %s/%s: created NLB %s", spec->namespace, spec->name, spec->lb_name);
        }
    }
out:
    awsx_free(doc);
    lbp_vec_free(&v);
    aws_subnets_free(&subnets);
    return rc;
}

/*
 * Refuses an LB another Service owns; with want (ensure), adds the tags it
 * lacks (e.g. additional-resource-tags added later). Values are not
 * rewritten and removed annotation tags stay, as upstream.
 */
/*
 * The subnets annotation given as ids is compared without any call; a
 * difference is applied with SetSubnets (zones can be added to an NLB, and
 * AWS refuses what it cannot do, which becomes the Event). Name tags and
 * discovered subnets are settled at creation only.
 */
static int converge_subnets(struct lbp_provider_ctx *ctx, const struct aws_opts *o,
                            struct aws_lb *lb, struct lbp_call *call)
{
    struct aws_query q;
    xmlDoc *doc = NULL;
    bool same = o->n_subnets == lb->n_az;
    int rc;
    if (!o->n_subnets || o->n_eips)
        return LBP_OK;
    for (size_t i = 0; i < o->n_subnets; i++)
        if (strncmp(o->subnets[i], "subnet-", 7) != 0)
            return LBP_OK;
    for (size_t i = 0; i < o->n_subnets && same; i++) {
        bool found = false;
        for (size_t k = 0; k < lb->n_az && !found; k++)
            found = strcmp(lb->az[k].subnet, o->subnets[i]) == 0;
        same = found;
    }
    if (same)
        return LBP_OK;
    awsq_init(&q, "SetSubnets", AWS_ELBV2_VERSION);
    awsq_add(&q, "LoadBalancerArn", lb->arn);
    for (size_t i = 0; i < o->n_subnets; i++)
        awsq_addf(&q, o->subnets[i], "Subnets.member.%zu", i + 1);
    rc = aws_call(ctx, AWS_ELBV2, &q, "SetSubnets", &doc, NULL, call);
    awsq_free(&q);
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "annotation " AWS_ANN "aws-load-balancer-subnets: a subnet does not "
                        "exist");
        rc = LBP_INVALID;
    }
    awsx_free(doc);
    if (rc)
        return rc;
    /* Re-read so the health-check rules follow the new subnets. */
    rc = aws_nlb_get(ctx, lb->name, lb, call);
    return rc == LBP_NOT_FOUND ? LBP_RETRY : rc;
}

static int check_owner(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                       const char *arn, const struct aws_tags *want_tags, struct lbp_call *call)
{
    struct lbp_vec td;
    const char *one[1] = {arn};
    char want[520];
    int rc;
    lbp_vec_init(&td, sizeof(struct aws_tagdesc));
    rc = describe_tags(ctx, one, 1, false, &td, call);
    snprintf(want, sizeof(want), "%s/%s", spec->namespace, spec->name);
    if (rc == LBP_OK && td.n) {
        const struct aws_tags *have = &((struct aws_tagdesc *)td.v)->tags;
        const char *svc = aws_tag_get(have, AWS_TAG_SERVICE);
        if (svc && strcmp(svc, want) != 0) {
            lbp_failf(call, "load balancer %s already belongs to Service %s", spec->lb_name, svc);
            rc = LBP_INVALID;
        }
        if (rc == LBP_OK && want_tags) {
            struct aws_query q;
            size_t n = 0;
            awsq_init(&q, "AddTags", AWS_ELBV2_VERSION);
            awsq_add(&q, "ResourceArns.member.1", arn);
            for (size_t i = 0; i < want_tags->n; i++)
                if (!aws_tag_get(have, want_tags->t[i].key)) {
                    n++;
                    awsq_addf(&q, want_tags->t[i].key, "Tags.member.%zu.Key", n);
                    awsq_addf(&q, want_tags->t[i].value, "Tags.member.%zu.Value", n);
                }
            if (n)
                rc = aws_call0(ctx, AWS_ELBV2, &q, "AddTags", NULL, call);
            awsq_free(&q);
        }
    }
    aws_tagdescs_free(&td);
    return rc;
}

static int push_rule(struct lbp_vec *v, const char *proto, int port, const char *cidr,
                     const char *desc)
{
    struct aws_rule *r = lbp_vec_push(v);
    if (!r)
        return LBP_NOMEM;
    lbp_strlcpy(r->proto, proto, sizeof(r->proto));
    r->from = r->to = port;
    lbp_strlcpy(r->cidr, cidr, sizeof(r->cidr));
    lbp_strlcpy(r->desc, desc, sizeof(r->desc));
    return LBP_OK;
}

static int nlb_sg_rules(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct aws_opts *o, const struct aws_lb *lb, const struct want *w,
                        size_t nw, const struct lbp_vec *inst, struct lbp_call *call)
{
    struct lbp_vec sgs, client, health, subnets;
    char dclient[128], dhealth[128];
    const char *ids[AWS_MAX_AZS];
    int rc = LBP_OK;

    lbp_vec_init(&sgs, sizeof(struct aws_sg));
    lbp_vec_init(&client, sizeof(struct aws_rule));
    lbp_vec_init(&health, sizeof(struct aws_rule));
    lbp_vec_init(&subnets, sizeof(struct aws_subnet));
    snprintf(dclient, sizeof(dclient), DESC_CLIENT "%s", spec->lb_name);
    snprintf(dhealth, sizeof(dhealth), DESC_HEALTH "%s", spec->lb_name);
    if (ctx->no_sg_ingress)
        goto out; /* the operator opens the NodePorts */
    rc = aws_node_sgs(ctx, inst, &sgs, call);
    if (rc || !sgs.n)
        goto out;
    /* Health checks come from the LB's own addresses, inside its subnets. */
    for (size_t i = 0; i < lb->n_az; i++)
        ids[i] = lb->az[i].subnet;
    if (lb->n_az) {
        struct aws_opts so = *o;
        so.n_subnets = 0;
        for (size_t i = 0; i < lb->n_az && i < AWS_MAX_SUBNET_ANN; i++)
            lbp_strlcpy(so.subnets[so.n_subnets++], ids[i], AWS_ID_LEN);
        rc = aws_lb_subnets(ctx, lb->vpc, &so, &subnets, call);
        if (rc)
            goto out;
    }
    for (size_t i = 0; i < nw && rc == LBP_OK; i++) {
        const char *protos[2] = {"tcp", "udp"};
        size_t np = 1, first = 0;
        long hp;
        if (strcmp(w[i].tg_protocol, "UDP") == 0)
            first = 1;
        else if (strcmp(w[i].tg_protocol, "TCP_UDP") == 0)
            np = 2;
        for (size_t p = first; p < first + np && rc == LBP_OK; p++) {
            if (spec->n_source_ranges)
                for (size_t s = 0; s < spec->n_source_ranges && rc == LBP_OK; s++)
                    rc = push_rule(&client, protos[p], w[i].node_port, spec->source_ranges[s],
                                   dclient);
            else if (o->internal)
                for (size_t s = 0; s < subnets.n && rc == LBP_OK; s++)
                    rc = push_rule(&client, protos[p], w[i].node_port,
                                   ((struct aws_subnet *)subnets.v)[s].cidr, dclient);
            else
                rc = push_rule(&client, protos[p], w[i].node_port, "0.0.0.0/0", dclient);
        }
        hp = w[i].node_port;
        if (strcmp(w[i].hc_port, "traffic-port") != 0 &&
            lbp_parse_long(w[i].hc_port, 1, 65535, &hp) != LBP_OK)
            continue;
        for (size_t s = 0; s < subnets.n && rc == LBP_OK; s++)
            rc = push_rule(&health, "tcp", (int)hp, ((struct aws_subnet *)subnets.v)[s].cidr,
                           dhealth);
    }
    for (size_t i = 0; i < sgs.n && rc == LBP_OK; i++) {
        struct aws_sg *sg = &((struct aws_sg *)sgs.v)[i];
        rc = aws_sg_converge(ctx, sg, dclient, client.v, client.n, call);
        if (rc == LBP_OK)
            rc = aws_sg_converge(ctx, sg, dhealth, health.v, health.n, call);
    }
out:
    aws_sgs_free(&sgs);
    lbp_vec_free(&client);
    lbp_vec_free(&health);
    aws_subnets_free(&subnets);
    return rc;
}

static void fill_status(const struct aws_lb *lb, const struct aws_opts *o, struct lbp_lb_status *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof(*st));
    lbp_strlcpy(st->ingress[0].hostname, lb->dns, sizeof(st->ingress[0].hostname));
    st->n_ingress = 1;
    /* Pinned Elastic IPs are stable: publish them as well. */
    for (size_t i = 0; o && o->n_eips && i < lb->n_az && st->n_ingress < LBP_LB_MAX_INGRESS; i++)
        if (lb->az[i].ip[0]) {
            lbp_strlcpy(st->ingress[st->n_ingress].ip, lb->az[i].ip, sizeof(st->ingress[0].ip));
            st->n_ingress++;
        }
}

int aws_nlb_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    struct lbp_vec inst, tgs, ls;
    struct want *w = NULL;
    size_t nw = 0;
    struct aws_lb lb;
    struct aws_tags tags;
    const char *vpc;
    bool fresh_lb = false;
    int rc;

    memset(&tags, 0, sizeof(tags));
    lbp_vec_init(&inst, sizeof(struct aws_instance));
    lbp_vec_init(&tgs, sizeof(struct aws_tg));
    lbp_vec_init(&ls, sizeof(struct aws_listener));
    rc = build_wants(ctx, spec, o, &w, &nw, call);
    if (rc)
        goto out;
    rc = aws_nodes_instances(ctx, spec, o, &inst, call);
    if (rc)
        goto out;
    if (!(vpc = aws_lb_vpc(ctx, &inst, call))) {
        rc = LBP_RETRY;
        goto out;
    }
    if ((rc = aws_owner_tags(ctx, spec, o, &tags)))
        goto out;

    memset(&lb, 0, sizeof(lb));
    rc = aws_nlb_get(ctx, spec->lb_name, &lb, call);
    if (rc == LBP_OK) {
        rc = check_owner(ctx, spec, lb.arn, &tags, call);
        if (rc == LBP_OK && strcmp(lb.scheme, o->internal ? "internal" : "internet-facing")) {
            /*
             * The scheme is fixed at creation: replace the LB (as upstream
             * does). Its listeners go with it; the target groups stay and
             * are attached to the new one below.
             */
            struct aws_query q;
            lbp_info("aws %s/%s: NLB %s is %s; replacing it", spec->namespace, spec->name,
                     spec->lb_name, lb.scheme);
            awsq_init(&q, "DeleteLoadBalancer", AWS_ELBV2_VERSION);
            awsq_add(&q, "LoadBalancerArn", lb.arn);
            rc = aws_call0(ctx, AWS_ELBV2, &q, "DeleteLoadBalancer", NULL, call);
            awsq_free(&q);
            if (rc == LBP_OK)
                rc = LBP_NOT_FOUND;
        }
    }
    if (rc == LBP_NOT_FOUND) {
        rc = create_lb(ctx, spec, o, vpc, &tags, &lb, call);
        fresh_lb = true;
    }
    if (rc == LBP_OK && !fresh_lb)
        rc = converge_subnets(ctx, o, &lb, call);
    if (rc)
        goto out;

    /*
     * Even right after CreateLoadBalancer: when Describe could not see the LB
     * yet, "create" returned the existing one, which may already have groups
     * and listeners from an earlier attempt.
     */
    rc = describe_paged(ctx, "DescribeTargetGroups", "LoadBalancerArn", lb.arn, &tgs, awsx_tgs,
                        call);
    if (rc == LBP_OK)
        rc = describe_paged(ctx, "DescribeListeners", "LoadBalancerArn", lb.arn, &ls,
                            awsx_listeners, call);
    if (rc == LBP_NOT_FOUND && fresh_lb) {
        /* Not visible yet even by ARN: nothing can be attached to it either. */
        tgs.n = ls.n = 0;
        rc = LBP_OK;
    } else if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "load balancer %s disappeared during ensure", spec->lb_name);
        rc = LBP_RETRY; /* deleted under us: converge next time */
    }
    if (rc)
        goto out;

    /* Target groups and targets first, so a new listener never points at nothing. */
    for (size_t i = 0; i < nw && rc == LBP_OK; i++) {
        struct aws_tg *have = NULL;
        for (size_t k = 0; k < tgs.n; k++)
            if (strcmp(((struct aws_tg *)tgs.v)[k].name, w[i].tg_name) == 0)
                have = &((struct aws_tg *)tgs.v)[k];
        if (have) {
            lbp_strlcpy(w[i].tg_arn, have->arn, sizeof(w[i].tg_arn));
            if (hc_differs(have, &w[i]))
                rc = modify_tg(ctx, have->arn, &w[i], call);
        } else {
            suspect_add(ctx, w[i].tg_name, spec->lb_name);
            rc = create_tg(ctx, vpc, &w[i], &tags, call);
        }
        if (rc == LBP_OK)
            rc = sync_targets(ctx, w[i].tg_arn, w[i].node_port, false, &inst, call);
        if (rc == LBP_OK && w[i].tg_new && (w[i].sticky || w[i].proxy_protocol))
            rc = tg_attributes(ctx, &w[i], call);
    }
    for (size_t i = 0; i < nw && rc == LBP_OK; i++) {
        struct aws_listener *have = NULL;
        for (size_t k = 0; k < ls.n; k++)
            if (((struct aws_listener *)ls.v)[k].port == w[i].port)
                have = &((struct aws_listener *)ls.v)[k];
        if (!have)
            rc = listener_put(ctx, "CreateListener", "LoadBalancerArn", lb.arn, &w[i], call);
        else if (strcmp(have->tg_arn, w[i].tg_arn) || strcmp(have->protocol, w[i].protocol) ||
                 strcmp(have->cert, w[i].cert))
            rc = listener_put(ctx, "ModifyListener", "ListenerArn", have->arn, &w[i], call);
    }
    /* Then what is no longer wanted: listeners before their target groups. */
    for (size_t k = 0; k < ls.n && rc == LBP_OK; k++) {
        struct aws_listener *l = &((struct aws_listener *)ls.v)[k];
        bool keep = false;
        for (size_t i = 0; i < nw && !keep; i++)
            keep = w[i].port == l->port;
        if (!keep) {
            struct aws_query q;
            awsq_init(&q, "DeleteListener", AWS_ELBV2_VERSION);
            awsq_add(&q, "ListenerArn", l->arn);
            rc = aws_call0(ctx, AWS_ELBV2, &q, "DeleteListener", NULL, call);
            awsq_free(&q);
            if (rc == LBP_NOT_FOUND)
                rc = LBP_OK;
        }
    }
    for (size_t k = 0; k < tgs.n && rc == LBP_OK; k++) {
        struct aws_tg *t = &((struct aws_tg *)tgs.v)[k];
        bool keep = false;
        for (size_t i = 0; i < nw && !keep; i++)
            keep = strcmp(w[i].tg_name, t->name) == 0;
        if (!keep) {
            suspect_add(ctx, t->name, spec->lb_name);
            rc = delete_tg(ctx, t->arn, call);
            if (rc == LBP_OK)
                suspect_drop(ctx, t->name);
        }
    }
    if (rc == LBP_OK)
        rc = sweep_suspects(ctx, spec->lb_name, w, nw, call);
    if (rc == LBP_OK && o->cross_zone >= 0)
        rc = lb_attribute(ctx, lb.arn, "load_balancing.cross_zone.enabled",
                          o->cross_zone ? "true" : "false", call);
    if (rc == LBP_OK)
        rc = nlb_sg_rules(ctx, spec, o, &lb, w, nw, &inst, call);
    if (rc == LBP_OK) {
        fill_status(&lb, o, st);
        if (call)
            call->err[0] = 0;
    }
out:
    free(w);
    aws_tags_free(&tags);
    lbp_vec_free(&inst);
    lbp_vec_free(&tgs);
    lbp_vec_free(&ls);
    return rc;
}

int aws_nlb_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct aws_opts *o, struct lbp_call *call)
{
    struct lbp_vec inst, tgs;
    struct aws_lb lb;
    int rc;
    lbp_vec_init(&inst, sizeof(struct aws_instance));
    lbp_vec_init(&tgs, sizeof(struct aws_tg));
    rc = aws_nodes_instances(ctx, spec, o, &inst, call);
    /*
     * The groups' names follow from the spec, so one DescribeTargetGroups by
     * name finds them; only when one is missing (ports changed, not yet
     * converged) go through the LB.
     */
    if (rc == LBP_OK) {
        struct want *w = NULL;
        size_t nw = 0;
        if (build_wants(ctx, spec, o, &w, &nw, NULL) == LBP_OK && nw) {
            struct aws_query q;
            xmlDoc *doc = NULL;
            awsq_init(&q, "DescribeTargetGroups", AWS_ELBV2_VERSION);
            for (size_t i = 0; i < nw; i++)
                awsq_addf(&q, w[i].tg_name, "Names.member.%zu", i + 1);
            rc = aws_call(ctx, AWS_ELBV2, &q, "DescribeTargetGroups", &doc, NULL, call);
            awsq_free(&q);
            if (rc == LBP_OK && (awsx_tgs(doc, &tgs, NULL, 0) != LBP_OK || tgs.n != nw)) {
                tgs.n = 0;
                rc = LBP_NOT_FOUND;
            }
            awsx_free(doc);
        } else {
            rc = LBP_NOT_FOUND;
        }
        free(w);
        if (rc == LBP_NOT_FOUND) {
            rc = aws_nlb_get(ctx, spec->lb_name, &lb, call);
            if (rc == LBP_OK)
                rc = describe_paged(ctx, "DescribeTargetGroups", "LoadBalancerArn", lb.arn, &tgs,
                                    awsx_tgs, call);
        }
    }
    for (size_t k = 0; k < tgs.n && rc == LBP_OK; k++) {
        struct aws_tg *t = &((struct aws_tg *)tgs.v)[k];
        rc = sync_targets(ctx, t->arn, t->port, false, &inst, call);
    }
    if (rc == LBP_NOT_FOUND) {
        lbp_failf(call, "load balancer %s does not exist yet", spec->lb_name);
        rc = LBP_RETRY;
    }
    lbp_vec_free(&inst);
    lbp_vec_free(&tgs);
    return rc;
}

/* Rules this LB put on any security group lbprov may have touched. */
static int revoke_owned_rules(struct lbp_provider_ctx *ctx, const char *const *descs, size_t nd,
                              struct lbp_call *call)
{
    struct lbp_vec sgs;
    int rc;
    lbp_vec_init(&sgs, sizeof(struct aws_sg));
    rc = aws_cluster_sgs(ctx, &sgs, call);
    for (size_t i = 0; i < sgs.n && rc == LBP_OK; i++)
        for (size_t d = 0; d < nd && rc == LBP_OK; d++)
            rc = aws_sg_converge(ctx, &((struct aws_sg *)sgs.v)[i], descs[d], NULL, 0, call);
    aws_sgs_free(&sgs);
    return rc;
}

int aws_nlb_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   struct lbp_call *call)
{
    struct lbp_vec tgs, all, td;
    struct aws_lb lb;
    char prefix[40], dclient[128], dhealth[128], svc[520], ckey[200];
    const char *descs[2] = {dclient, dhealth};
    const char **arns = NULL;
    size_t na = 0;
    int rc;

    lbp_vec_init(&tgs, sizeof(struct aws_tg));
    lbp_vec_init(&all, sizeof(struct aws_tg));
    lbp_vec_init(&td, sizeof(struct aws_tagdesc));
    rc = aws_nlb_get(ctx, spec->lb_name, &lb, call);
    if (rc == LBP_OK) {
        struct aws_query q;
        rc = check_owner(ctx, spec, lb.arn, NULL, call);
        if (rc == LBP_OK)
            rc = describe_paged(ctx, "DescribeTargetGroups", "LoadBalancerArn", lb.arn, &tgs,
                                awsx_tgs, call);
        /*
         * The node rules go before the NLB: ensure adds them only once the
         * NLB exists, so with this order a gone NLB means gone rules, and a
         * delete that finds no NLB need not read every cluster group (each
         * carrying every other LB's rules) to be sure.
         */
        if (rc == LBP_OK && !ctx->no_sg_ingress) {
            snprintf(dclient, sizeof(dclient), DESC_CLIENT "%s", spec->lb_name);
            snprintf(dhealth, sizeof(dhealth), DESC_HEALTH "%s", spec->lb_name);
            rc = revoke_owned_rules(ctx, descs, 2, call);
        }
        if (rc)
            goto out;
        /* Deleting the LB deletes its listeners too. */
        awsq_init(&q, "DeleteLoadBalancer", AWS_ELBV2_VERSION);
        awsq_add(&q, "LoadBalancerArn", lb.arn);
        rc = aws_call0(ctx, AWS_ELBV2, &q, "DeleteLoadBalancer", NULL, call);
        awsq_free(&q);
        if (rc == LBP_NOT_FOUND)
            rc = LBP_OK;
        for (size_t k = 0; k < tgs.n && rc == LBP_OK; k++)
            rc = delete_tg(ctx, ((struct aws_tg *)tgs.v)[k].arn, call);
        if (rc)
            goto out;
        lbp_info("aws %s/%s: deleted NLB %s", spec->namespace, spec->name, spec->lb_name);
    } else if (rc != LBP_NOT_FOUND) {
        goto out;
    }
    /* Groups left unattached by an earlier failed attempt: found by name prefix and tags. */
    tg_prefix(spec, prefix, sizeof(prefix));
    rc = describe_paged(ctx, "DescribeTargetGroups", NULL, NULL, &all, awsx_tgs, call);
    if (rc)
        goto out;
    arns = calloc(all.n + 1, sizeof(*arns));
    if (!arns) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < all.n; k++) {
        struct aws_tg *t = &((struct aws_tg *)all.v)[k];
        if (strncmp(t->name, prefix, strlen(prefix)) == 0 && !t->lb_arn[0])
            arns[na++] = t->arn;
    }
    rc = describe_tags(ctx, arns, na, true, &td, call);
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    snprintf(ckey, sizeof(ckey), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    for (size_t k = 0; k < td.n && rc == LBP_OK; k++) {
        struct aws_tagdesc *d = &((struct aws_tagdesc *)td.v)[k];
        if (lbp_streq(aws_tag_get(&d->tags, AWS_TAG_SERVICE), svc) && aws_tag_get(&d->tags, ckey))
            rc = delete_tg(ctx, d->arn, call);
    }
out:
    if (rc == LBP_OK)
        suspects_forget(ctx, spec->lb_name);
    free(arns);
    lbp_vec_free(&tgs);
    lbp_vec_free(&all);
    aws_tagdescs_free(&td);
    if (rc == LBP_OK && call)
        call->err[0] = 0;
    return rc;
}

int aws_nlb_list_owned(struct lbp_provider_ctx *ctx, struct lbp_owned_list *owned,
                       struct lbp_call *call)
{
    struct lbp_vec lbs, td;
    const char **arns = NULL;
    char ckey[200];
    size_t na = 0;
    int rc;
    lbp_vec_init(&lbs, sizeof(struct aws_lb));
    lbp_vec_init(&td, sizeof(struct aws_tagdesc));
    rc = describe_paged(ctx, "DescribeLoadBalancers", NULL, NULL, &lbs, awsx_lbs, call);
    if (rc)
        goto out;
    arns = calloc(lbs.n + 1, sizeof(*arns));
    if (!arns) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < lbs.n; i++)
        if (strcmp(((struct aws_lb *)lbs.v)[i].type, "network") == 0)
            arns[na++] = ((struct aws_lb *)lbs.v)[i].arn;
    rc = describe_tags(ctx, arns, na, true, &td, call);
    snprintf(ckey, sizeof(ckey), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    for (size_t k = 0; k < td.n && rc == LBP_OK; k++) {
        struct aws_tagdesc *d = &((struct aws_tagdesc *)td.v)[k];
        const char *lb_name = "";
        for (size_t i = 0; i < lbs.n; i++)
            if (strcmp(((struct aws_lb *)lbs.v)[i].arn, d->arn) == 0)
                lb_name = ((struct aws_lb *)lbs.v)[i].name;
        rc = aws_owned_add(&d->tags, ckey, lb_name, owned);
    }
out:
    free(arns);
    lbp_vec_free(&lbs);
    aws_tagdescs_free(&td);
    return rc;
}
