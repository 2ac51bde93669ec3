/*
 * annotations.c — the service.beta.kubernetes.io/aws-load-balancer-*
 * annotations, validated into struct aws_opts before anything is called.
 *
 * A value lbprov cannot honour is LBP_INVALID with a message naming the
 * annotation and what it accepts, so the user sees a Warning Event once
 * instead of a retry loop. Annotations this file does not know are
 * ignored, as upstream does. clouds/aws/README.md documents each one.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clouds/aws/aws_int.h"
#include "common/rc.h"
#include "common/util.h"

#define P AWS_ANN "aws-load-balancer-"

static const char *ann(const struct lbp_lb_spec *s, const char *key)
{
    for (size_t i = 0; i < s->n_annotations; i++)
        if (s->annotations[i].key && strcmp(s->annotations[i].key, key) == 0)
            return s->annotations[i].value ? s->annotations[i].value : "";
    return NULL;
}

static int bad(struct lbp_call *call, const char *key, const char *val, const char *allowed)
{
    lbp_failf(call, "annotation %s: invalid value \"%.64s\"; allowed: %s", key, val, allowed);
    return LBP_INVALID;
}

static int int_ann(const struct lbp_lb_spec *s, const char *key, long min, long max, int *out,
                   struct lbp_call *call)
{
    const char *v = ann(s, key);
    long n;
    char allowed[64];
    if (!v)
        return LBP_OK;
    if (lbp_parse_long(v, min, max, &n) != LBP_OK) {
        snprintf(allowed, sizeof(allowed), "an integer from %ld to %ld", min, max);
        return bad(call, key, v, allowed);
    }
    *out = (int)n;
    return LBP_OK;
}

static int bool_ann(const struct lbp_lb_spec *s, const char *key, int *out, struct lbp_call *call)
{
    const char *v = ann(s, key);
    if (!v)
        return LBP_OK;
    if (strcasecmp(v, "true") == 0)
        *out = 1;
    else if (strcasecmp(v, "false") == 0)
        *out = 0;
    else
        return bad(call, key, v, "true, false");
    return LBP_OK;
}

static void trim(char *s)
{
    size_t l = strlen(s), b = 0;
    while (l && isspace((unsigned char)s[l - 1]))
        s[--l] = 0;
    while (isspace((unsigned char)s[b]))
        b++;
    memmove(s, s + b, l - b + 1);
}

/* Splits v at sep into trimmed, non-empty items; LBP_TOOBIG past max or a long item. */
static int split(const char *v, char sep, char *items, size_t itemlen, size_t max, size_t *n)
{
    const char *p = v;
    *n = 0;
    while (*p) {
        const char *e = strchr(p, sep);
        size_t l = e ? (size_t)(e - p) : strlen(p);
        char tmp[512];
        if (l >= sizeof(tmp) || l >= itemlen)
            return LBP_TOOBIG;
        memcpy(tmp, p, l);
        tmp[l] = 0;
        trim(tmp);
        if (tmp[0]) {
            if (*n >= max)
                return LBP_TOOBIG;
            memcpy(items + *n * itemlen, tmp, strlen(tmp) + 1);
            (*n)++;
        }
        p = e ? e + 1 : p + l;
    }
    return LBP_OK;
}

static bool valid_id_chars(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

int aws_opts_parse(const struct lbp_lb_spec *s, enum aws_lb_kind default_kind, struct aws_opts *o,
                   struct lbp_call *call)
{
    const char *v;
    int rc;

    memset(o, 0, sizeof(*o));
    o->kind = default_kind;
    o->cross_zone = -1;

    if ((v = ann(s, P "type"))) {
        if (strcmp(v, "nlb") == 0)
            o->kind = AWS_KIND_NLB;
        else if (strcmp(v, "classic") == 0 || strcmp(v, "clb") == 0 || strcmp(v, "elb") == 0)
            o->kind = AWS_KIND_CLASSIC;
        else if (strcmp(v, "external") == 0 || strcmp(v, "nlb-ip") == 0)
            return bad(call, P "type", v,
                       "nlb, classic (external and nlb-ip belong to the AWS Load Balancer "
                       "Controller)");
        else
            return bad(call, P "type", v, "nlb, classic");
    }
    if ((v = ann(s, P "internal"))) {
        /* Upstream treats any value but "false" as internal (old "0.0.0.0/0" form). */
        o->internal = strcasecmp(v, "false") != 0;
    }
    if ((v = ann(s, P "subnets"))) {
        if (split(v, ',', &o->subnets[0][0], AWS_ID_LEN, AWS_MAX_SUBNET_ANN, &o->n_subnets) ||
            !o->n_subnets)
            return bad(call, P "subnets", v, "a comma-separated list of subnet IDs or Name tags");
        for (size_t i = 0; i < o->n_subnets; i++)
            if (!valid_id_chars(o->subnets[i]))
                return bad(call, P "subnets", v,
                           "a comma-separated list of subnet IDs or Name tags");
    }
    if ((v = ann(s, P "eip-allocations"))) {
        if (split(v, ',', &o->eips[0][0], AWS_ID_LEN, AWS_MAX_SUBNET_ANN, &o->n_eips) || !o->n_eips)
            return bad(call, P "eip-allocations", v, "a comma-separated list of eipalloc-… IDs");
        for (size_t i = 0; i < o->n_eips; i++)
            if (strncmp(o->eips[i], "eipalloc-", 9) != 0 || !valid_id_chars(o->eips[i]))
                return bad(call, P "eip-allocations", v,
                           "a comma-separated list of eipalloc-… IDs");
    }
    if ((v = ann(s, P "healthcheck-protocol"))) {
        if (strcasecmp(v, "tcp") == 0)
            lbp_strlcpy(o->hc_protocol, "TCP", sizeof(o->hc_protocol));
        else if (strcasecmp(v, "http") == 0)
            lbp_strlcpy(o->hc_protocol, "HTTP", sizeof(o->hc_protocol));
        else if (strcasecmp(v, "https") == 0)
            lbp_strlcpy(o->hc_protocol, "HTTPS", sizeof(o->hc_protocol));
        else
            return bad(call, P "healthcheck-protocol", v, "TCP, HTTP, HTTPS");
    }
    if ((v = ann(s, P "healthcheck-port"))) {
        long n;
        if (strcmp(v, "traffic-port") == 0)
            lbp_strlcpy(o->hc_port, v, sizeof(o->hc_port));
        else if (lbp_parse_long(v, 1, 65535, &n) == LBP_OK)
            snprintf(o->hc_port, sizeof(o->hc_port), "%ld", n);
        else
            return bad(call, P "healthcheck-port", v, "traffic-port or a port 1-65535");
    }
    if ((v = ann(s, P "healthcheck-path"))) {
        if (v[0] != '/' || strlen(v) >= sizeof(o->hc_path))
            return bad(call, P "healthcheck-path", v, "a path starting with / (at most 255 chars)");
        for (const char *c = v; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f)
                return bad(call, P "healthcheck-path", v, "a path without spaces");
        lbp_strlcpy(o->hc_path, v, sizeof(o->hc_path));
    }
    if ((rc = int_ann(s, P "healthcheck-interval", 5, 300, &o->hc_interval, call)) ||
        (rc = int_ann(s, P "healthcheck-timeout", 2, 120, &o->hc_timeout, call)) ||
        (rc = int_ann(s, P "healthcheck-healthy-threshold", 2, 10, &o->hc_healthy, call)) ||
        (rc = int_ann(s, P "healthcheck-unhealthy-threshold", 2, 10, &o->hc_unhealthy, call)) ||
        (rc = int_ann(s, P "connection-idle-timeout", 1, 4000, &o->idle_timeout, call)) ||
        (rc = bool_ann(s, P "cross-zone-load-balancing-enabled", &o->cross_zone, call)))
        return rc;
    if ((v = ann(s, P "additional-resource-tags"))) {
        char items[AWS_MAX_TAGS][400];
        size_t n;
        if (split(v, ',', &items[0][0], sizeof(items[0]), AWS_MAX_TAGS - 4, &n))
            return bad(call, P "additional-resource-tags", v, "key=value pairs, comma-separated");
        for (size_t i = 0; i < n; i++) {
            char *eq = strchr(items[i], '=');
            struct aws_tag *t = &o->extra_tags[o->n_extra_tags];
            if (eq)
                *eq = 0;
            trim(items[i]);
            if (!items[i][0] || strlen(items[i]) >= sizeof(t->key) ||
                strncmp(items[i], "kubernetes.io/", 14) == 0 ||
                (eq && strlen(eq + 1) >= sizeof(t->value)))
                return bad(call, P "additional-resource-tags", v,
                           "key=value pairs, comma-separated, keys not under kubernetes.io/");
            lbp_strlcpy(t->key, items[i], sizeof(t->key));
            if (eq) {
                lbp_strlcpy(t->value, eq + 1, sizeof(t->value));
                trim(t->value);
            }
            o->n_extra_tags++;
        }
    }
    if ((v = ann(s, P "target-node-labels"))) {
        char items[16][260];
        size_t n;
        if (split(v, ',', &items[0][0], sizeof(items[0]), 16, &n) || !n)
            return bad(call, P "target-node-labels", v, "key=value pairs, comma-separated");
        for (size_t i = 0; i < n; i++) {
            char *eq = strchr(items[i], '=');
            if (eq)
                *eq = 0;
            trim(items[i]);
            if (!items[i][0] || strlen(items[i]) >= 128 || (eq && strlen(eq + 1) >= 128))
                return bad(call, P "target-node-labels", v, "key=value pairs, comma-separated");
            lbp_strlcpy(o->node_labels[i][0], items[i], 128);
            if (eq) {
                lbp_strlcpy(o->node_labels[i][1], eq + 1, 128);
                trim(o->node_labels[i][1]);
            }
        }
        o->n_node_labels = n;
        /*
         * Every real Node has labels (kubernetes.io/hostname at least). None
         * at all means the caller does not pass them: refuse rather than
         * deregister every target.
         */
        {
            bool any = false;
            for (size_t i = 0; i < s->n_nodes && !any; i++)
                any = s->nodes[i].n_labels > 0;
            if (s->n_nodes && !any) {
                lbp_failf(call, "annotation " P "target-node-labels: this controller does not "
                                "pass node labels to the provider");
                return LBP_INVALID;
            }
        }
    }
    if ((v = ann(s, P "backend-protocol"))) {
        if (strcasecmp(v, "tcp") && strcasecmp(v, "ssl") && strcasecmp(v, "http") &&
            strcasecmp(v, "https"))
            return bad(call, P "backend-protocol", v, "tcp, ssl, http, https");
        for (size_t i = 0; v[i] && i + 1 < sizeof(o->backend_protocol); i++)
            o->backend_protocol[i] = (char)tolower((unsigned char)v[i]);
        if (o->kind == AWS_KIND_NLB &&
            (strcmp(o->backend_protocol, "http") == 0 || strcmp(o->backend_protocol, "https") == 0))
            return bad(call, P "backend-protocol", v, "tcp, ssl (with an NLB)");
    }
    if ((v = ann(s, P "ssl-cert"))) {
        if (strncmp(v, "arn:", 4) != 0 || strlen(v) >= sizeof(o->ssl_cert))
            return bad(call, P "ssl-cert", v, "an ACM or IAM certificate ARN");
        lbp_strlcpy(o->ssl_cert, v, sizeof(o->ssl_cert));
        o->ssl_all_ports = true;
    }
    if ((v = ann(s, P "ssl-ports"))) {
        char items[32][64];
        size_t n;
        if (split(v, ',', &items[0][0], sizeof(items[0]), 32, &n) || !n)
            return bad(call, P "ssl-ports", v, "*, or comma-separated port numbers or names");
        o->ssl_all_ports = false;
        for (size_t i = 0; i < n; i++) {
            long p;
            if (strcmp(items[i], "*") == 0) {
                o->ssl_all_ports = true;
                continue;
            }
            if (lbp_parse_long(items[i], 1, 65535, &p) != LBP_OK) {
                /* A port name: resolve against the Service's ports. */
                p = 0;
                for (size_t k = 0; k < s->n_ports; k++)
                    if (lbp_streq(s->ports[k].name, items[i]))
                        p = s->ports[k].port;
                if (!p)
                    return bad(call, P "ssl-ports", v,
                               "*, or comma-separated port numbers or names of this Service");
            }
            o->ssl_ports[o->n_ssl_ports++] = (int)p;
        }
    }
    if ((v = ann(s, P "proxy-protocol"))) {
        if (strcmp(v, "*") != 0)
            return bad(call, P "proxy-protocol", v, "*");
        o->proxy_protocol = true;
    }
    return LBP_OK;
}

bool aws_opts_ssl_port(const struct aws_opts *o, int port)
{
    if (!o->ssl_cert[0])
        return false;
    if (o->ssl_all_ports)
        return true;
    for (size_t i = 0; i < o->n_ssl_ports; i++)
        if (o->ssl_ports[i] == port)
            return true;
    return false;
}

bool aws_node_selected(const struct lbp_lb_spec *spec, const struct aws_opts *o, size_t i)
{
    const struct lbp_lb_node *n = &spec->nodes[i];
    for (size_t k = 0; k < o->n_node_labels; k++) {
        bool found = false;
        for (size_t j = 0; j < n->n_labels && n->labels; j++)
            if (lbp_streq(n->labels[j].key, o->node_labels[k][0]) &&
                (!o->node_labels[k][1][0] || lbp_streq(n->labels[j].value, o->node_labels[k][1])))
                found = true;
        if (!found)
            return false;
    }
    return true;
}

int aws_owner_tags(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct aws_tags *out)
{
    char key[200], svc[520];
    int rc;
    memset(out, 0, sizeof(*out));
    snprintf(key, sizeof(key), AWS_TAG_CLUSTER_PREFIX "%s", ctx->cluster);
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    rc = aws_tags_add(out, key, "owned");
    if (rc == LBP_OK)
        rc = aws_tags_add(out, AWS_TAG_SERVICE, svc);
    for (size_t i = 0; rc == LBP_OK && o && i < o->n_extra_tags && out->n < AWS_MAX_TAGS; i++)
        rc = aws_tags_add(out, o->extra_tags[i].key, o->extra_tags[i].value);
    return rc;
}

/* The reading side of aws_owner_tags: what the orphan scan lists. */
int aws_owned_add(const struct aws_tags *tags, const char *ckey, const char *lb_name,
                  struct lbp_owned_list *owned)
{
    const char *svc = aws_tag_get(tags, AWS_TAG_SERVICE);
    if (!lbp_streq(aws_tag_get(tags, ckey), "owned") || !svc || !strchr(svc, '/'))
        return LBP_OK;
    return lbp_owned_add_key(owned, lb_name, svc);
}
