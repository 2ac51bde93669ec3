/*
 * xml.c — AWS response XML into plain structs, with libxml2.
 *
 * Elements are matched by local name only: the EC2 model's namespace lacks
 * the trailing slash real answers carry, and nothing here depends on it.
 * Lists are <member> (awsQuery) or <item> (EC2). Every text value is copied
 * into a fixed field; a value that does not fit is an error for ids and
 * ARNs, never silently truncated. The parser runs with XML_PARSE_NONET and
 * without entity substitution, so answers cannot pull in anything else.
 *
 * libxml2 is opened with dlopen when the AWS cloud starts (or at the first
 * parse), not linked: it brings ICU and libstdc++ with it, about 2.3 MiB
 * of library pages in every controller, and only this cloud reads XML.
 * The four calls made into it go through the table below; the tree's
 * structs are read directly, as the headers compiled against lay them out.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlversion.h>

#include "clouds/aws/aws_int.h"
#include "common/rc.h"
#include "common/util.h"

#define XML_MAX (32u << 20)

/* The soname of the libxml2 whose headers this file is compiled against. */
#if LIBXML_VERSION >= 21400
#define AWSX_SONAME "libxml2.so.16"
#else
#define AWSX_SONAME "libxml2.so.2"
#endif

struct xml_lib {
    xmlDoc *(*read_memory)(const char *, int, const char *, const char *, int);
    void (*free_doc)(xmlDoc *);
    xmlChar *(*node_content)(const xmlNode *);
    xmlFreeFunc *free_fn; /* the library's xmlFree variable */
};

static pthread_mutex_t xml_mu = PTHREAD_MUTEX_INITIALIZER;
static struct xml_lib xml_lib;
static int xml_loaded; /* set once, after xml_lib is filled; read with acquire */

int awsx_xml_open(const char *soname, char *err, size_t errlen)
{
    struct xml_lib l = {0};
    void *h;
    int rc = LBP_OK;
    if (__atomic_load_n(&xml_loaded, __ATOMIC_ACQUIRE))
        return LBP_OK;
    if (!soname)
        soname = AWSX_SONAME;
    pthread_mutex_lock(&xml_mu);
    if (xml_loaded)
        goto out;
    h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "aws: cannot load %s (libxml2, for AWS's XML answers): %s", soname,
                 why ? why : "dlopen failed");
        rc = LBP_INVALID;
        goto out;
    }
    *(void **)&l.read_memory = dlsym(h, "xmlReadMemory");
    *(void **)&l.free_doc = dlsym(h, "xmlFreeDoc");
    *(void **)&l.node_content = dlsym(h, "xmlNodeGetContent");
    l.free_fn = dlsym(h, "xmlFree");
    if (!l.read_memory || !l.free_doc || !l.node_content || !l.free_fn || !*l.free_fn) {
        snprintf(err, errlen,
                 "aws: %s lacks xmlReadMemory, xmlFreeDoc, xmlNodeGetContent or xmlFree", soname);
        dlclose(h);
        rc = LBP_INVALID;
        goto out;
    }
    xml_lib = l; /* the handle stays open for the life of the process */
    __atomic_store_n(&xml_loaded, 1, __ATOMIC_RELEASE);
out:
    pthread_mutex_unlock(&xml_mu);
    return rc;
}

xmlDoc *awsx_parse(const char *data, size_t len)
{
    char err[256];
    if (!data || !len || len > XML_MAX || awsx_xml_open(NULL, err, sizeof(err)) != LBP_OK)
        return NULL;
    return xml_lib.read_memory(data, (int)len, "aws.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                   XML_PARSE_NOBLANKS);
}

xmlDoc *awsx_parse_sts(const char *data, size_t len)
{
    char err[256];
    if (!data || len > XML_MAX || awsx_xml_open(NULL, err, sizeof(err)) != LBP_OK)
        return NULL;
    return xml_lib.read_memory(data, (int)len, "sts.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

void awsx_free(xmlDoc *doc)
{
    if (doc) /* a document exists only once the library is loaded */
        xml_lib.free_doc(doc);
}

xmlNode *awsx_root(xmlDoc *doc)
{
    for (xmlNode *c = doc ? doc->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

int awsx_content(xmlNode *n, char *out, size_t cap)
{
    xmlChar *t;
    size_t l;
    int rc = LBP_OK;
    out[0] = 0;
    if (!n || !__atomic_load_n(&xml_loaded, __ATOMIC_ACQUIRE))
        return LBP_NOT_FOUND;
    t = xml_lib.node_content(n);
    if (!t)
        return LBP_NOT_FOUND;
    l = strlen((const char *)t);
    if (l + 1 > cap)
        rc = LBP_TOOBIG;
    else
        memcpy(out, t, l + 1);
    memset(t, 0, l); /* the copy may be a credential (STS) */
    (*xml_lib.free_fn)(t);
    return rc;
}

xmlNode *awsx_child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

xmlNode *awsx_next(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->next : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

xmlNode *awsx_path(xmlNode *n, const char *path)
{
    char part[128];
    const char *p = path;
    while (n && *p) {
        const char *s = strchr(p, '/');
        size_t l = s ? (size_t)(s - p) : strlen(p);
        if (l >= sizeof(part))
            return NULL;
        memcpy(part, p, l);
        part[l] = 0;
        n = awsx_child(n, part);
        p = s ? s + 1 : p + l;
    }
    return n;
}

int awsx_text(xmlNode *n, const char *path, char *out, size_t cap)
{
    out[0] = 0;
    if (path)
        n = awsx_path(n, path);
    return awsx_content(n, out, cap);
}

int awsx_int(xmlNode *n, const char *path, int *out)
{
    char b[32];
    long v;
    *out = 0;
    if (awsx_text(n, path, b, sizeof(b)) != LBP_OK || !b[0])
        return LBP_NOT_FOUND;
    if (lbp_parse_long(b, -2147483647L, 2147483647L, &v) != LBP_OK)
        return LBP_PARSE;
    *out = (int)v;
    return LBP_OK;
}

xmlNode *awsx_result(xmlDoc *doc)
{
    xmlNode *root = doc ? awsx_root(doc) : NULL;
    size_t l;
    if (!root)
        return NULL;
    l = strlen((const char *)root->name);
    /* awsQuery: <OpResponse><OpResult>; EC2 has no Result wrapper. */
    if (l > 8 && strcmp((const char *)root->name + l - 8, "Response") == 0) {
        char want[160];
        snprintf(want, sizeof(want), "%.*sResult", (int)(l - 8), (const char *)root->name);
        xmlNode *r = awsx_child(root, want);
        if (r)
            return r;
    }
    return root;
}

int awsx_error(xmlDoc *doc, char *code, size_t codelen, char *msg, size_t msglen)
{
    xmlNode *root = doc ? awsx_root(doc) : NULL, *e = NULL;
    code[0] = msg[0] = 0;
    if (!root)
        return LBP_NOT_FOUND;
    if (strcmp((const char *)root->name, "ErrorResponse") == 0)
        e = awsx_child(root, "Error");
    else if (strcmp((const char *)root->name, "Response") == 0)
        e = awsx_path(root, "Errors/Error");
    if (!e)
        return LBP_NOT_FOUND;
    if (awsx_text(e, "Code", code, codelen) == LBP_TOOBIG)
        return LBP_PARSE;
    if (awsx_text(e, "Message", msg, msglen) == LBP_TOOBIG)
        msg[0] = 0;
    return code[0] ? LBP_OK : LBP_PARSE;
}

/* Copies a required field; a missing or oversized value fails the item. */
static int req(xmlNode *n, const char *path, char *out, size_t cap)
{
    int rc = awsx_text(n, path, out, cap);
    return rc == LBP_OK && out[0] ? LBP_OK : LBP_PARSE;
}

/* Copies an optional field: absent is fine, oversized is not. */
static int opt(xmlNode *n, const char *path, char *out, size_t cap)
{
    int rc = awsx_text(n, path, out, cap);
    return rc == LBP_TOOBIG ? LBP_PARSE : LBP_OK;
}

static int next_marker(xmlNode *res, const char *name, char *next, size_t cap)
{
    if (!next)
        return LBP_OK;
    return opt(res, name, next, cap);
}

static int tags_of(xmlNode *list, const char *item, const char *k, const char *v,
                   struct aws_tags *t)
{
    size_t n = 0;
    aws_tags_free(t);
    for (xmlNode *m = awsx_child(list, item); m; m = awsx_next(m, item))
        if (++n > AWS_MAX_TAGS)
            return LBP_PARSE;
    if (!n)
        return LBP_OK;
    if (!(t->t = calloc(n, sizeof(*t->t))))
        return LBP_NOMEM;
    for (xmlNode *m = awsx_child(list, item); m; m = awsx_next(m, item)) {
        if (req(m, k, t->t[t->n].key, sizeof(t->t[0].key)) ||
            opt(m, v, t->t[t->n].value, sizeof(t->t[0].value)))
            return LBP_PARSE;
        t->n++;
    }
    return LBP_OK;
}

const char *aws_tag_get(const struct aws_tags *t, const char *key)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->t[i].key, key) == 0)
            return t->t[i].value;
    return NULL;
}

int aws_tags_add(struct aws_tags *t, const char *key, const char *value)
{
    struct aws_tag *nt;
    if (t->n >= AWS_MAX_TAGS)
        return LBP_TOOBIG;
    if (strlen(key) >= sizeof(nt->key) || strlen(value) >= sizeof(nt->value))
        return LBP_TOOBIG;
    if (!(nt = realloc(t->t, (t->n + 1) * sizeof(*nt))))
        return LBP_NOMEM;
    t->t = nt;
    memset(&nt[t->n], 0, sizeof(*nt));
    lbp_strlcpy(nt[t->n].key, key, sizeof(nt->key));
    lbp_strlcpy(nt[t->n].value, value, sizeof(nt->value));
    t->n++;
    return LBP_OK;
}

void aws_tags_free(struct aws_tags *t)
{
    free(t->t);
    t->t = NULL;
    t->n = 0;
}

void aws_tagdescs_free(struct lbp_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        aws_tags_free(&((struct aws_tagdesc *)v->v)[i].tags);
    lbp_vec_free(v);
}

void aws_subnets_free(struct lbp_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        aws_tags_free(&((struct aws_subnet *)v->v)[i].tags);
    lbp_vec_free(v);
}

int awsx_lbs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *res = awsx_result(doc);
    xmlNode *list = awsx_child(res, "LoadBalancers");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_lb *lb = lbp_vec_push(out);
        xmlNode *azs = awsx_child(m, "AvailabilityZones");
        if (!lb)
            return LBP_NOMEM;
        if (req(m, "LoadBalancerArn", lb->arn, sizeof(lb->arn)) ||
            req(m, "LoadBalancerName", lb->name, sizeof(lb->name)) ||
            opt(m, "DNSName", lb->dns, sizeof(lb->dns)) ||
            opt(m, "Scheme", lb->scheme, sizeof(lb->scheme)) ||
            opt(m, "VpcId", lb->vpc, sizeof(lb->vpc)) ||
            opt(m, "State/Code", lb->state, sizeof(lb->state)) ||
            opt(m, "Type", lb->type, sizeof(lb->type)))
            return LBP_PARSE;
        for (xmlNode *a = awsx_child(azs, "member"); a; a = awsx_next(a, "member")) {
            struct aws_lb_az *z;
            if (lb->n_az >= AWS_MAX_AZS)
                return LBP_PARSE;
            z = &lb->az[lb->n_az++];
            if (opt(a, "ZoneName", z->zone, sizeof(z->zone)) ||
                opt(a, "SubnetId", z->subnet, sizeof(z->subnet)) ||
                opt(a, "LoadBalancerAddresses/member/IpAddress", z->ip, sizeof(z->ip)) ||
                opt(a, "LoadBalancerAddresses/member/AllocationId", z->alloc, sizeof(z->alloc)))
                return LBP_PARSE;
        }
    }
    return next_marker(res, "NextMarker", next, nextcap);
}

int awsx_tgs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *res = awsx_result(doc);
    xmlNode *list = awsx_child(res, "TargetGroups");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_tg *tg = lbp_vec_push(out);
        if (!tg)
            return LBP_NOMEM;
        if (req(m, "TargetGroupArn", tg->arn, sizeof(tg->arn)) ||
            req(m, "TargetGroupName", tg->name, sizeof(tg->name)) ||
            opt(m, "Protocol", tg->protocol, sizeof(tg->protocol)) ||
            opt(m, "VpcId", tg->vpc, sizeof(tg->vpc)) ||
            opt(m, "TargetType", tg->target_type, sizeof(tg->target_type)) ||
            opt(m, "HealthCheckProtocol", tg->hc_protocol, sizeof(tg->hc_protocol)) ||
            opt(m, "HealthCheckPort", tg->hc_port, sizeof(tg->hc_port)) ||
            opt(m, "HealthCheckPath", tg->hc_path, sizeof(tg->hc_path)) ||
            opt(m, "LoadBalancerArns/member", tg->lb_arn, sizeof(tg->lb_arn)))
            return LBP_PARSE;
        if (awsx_int(m, "Port", &tg->port) == LBP_PARSE ||
            awsx_int(m, "HealthCheckIntervalSeconds", &tg->hc_interval) == LBP_PARSE ||
            awsx_int(m, "HealthCheckTimeoutSeconds", &tg->hc_timeout) == LBP_PARSE ||
            awsx_int(m, "HealthyThresholdCount", &tg->healthy) == LBP_PARSE ||
            awsx_int(m, "UnhealthyThresholdCount", &tg->unhealthy) == LBP_PARSE)
            return LBP_PARSE;
    }
    return next_marker(res, "NextMarker", next, nextcap);
}

int awsx_listeners(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *res = awsx_result(doc);
    xmlNode *list = awsx_child(res, "Listeners");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_listener *l = lbp_vec_push(out);
        if (!l)
            return LBP_NOMEM;
        if (req(m, "ListenerArn", l->arn, sizeof(l->arn)) ||
            opt(m, "LoadBalancerArn", l->lb_arn, sizeof(l->lb_arn)) ||
            opt(m, "Protocol", l->protocol, sizeof(l->protocol)) ||
            opt(m, "DefaultActions/member/TargetGroupArn", l->tg_arn, sizeof(l->tg_arn)) ||
            opt(m, "Certificates/member/CertificateArn", l->cert, sizeof(l->cert)) ||
            opt(m, "SslPolicy", l->ssl_policy, sizeof(l->ssl_policy)) ||
            awsx_int(m, "Port", &l->port) == LBP_PARSE)
            return LBP_PARSE;
    }
    return next_marker(res, "NextMarker", next, nextcap);
}

int awsx_target_health(xmlDoc *doc, struct lbp_vec *out)
{
    xmlNode *list = awsx_child(awsx_result(doc), "TargetHealthDescriptions");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_target *t = lbp_vec_push(out);
        if (!t)
            return LBP_NOMEM;
        if (req(m, "Target/Id", t->id, sizeof(t->id)) ||
            awsx_int(m, "Target/Port", &t->port) == LBP_PARSE ||
            opt(m, "TargetHealth/State", t->state, sizeof(t->state)))
            return LBP_PARSE;
    }
    return LBP_OK;
}

int awsx_tag_descs(xmlDoc *doc, struct lbp_vec *out)
{
    xmlNode *list = awsx_child(awsx_result(doc), "TagDescriptions");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_tagdesc *d = lbp_vec_push(out);
        if (!d)
            return LBP_NOMEM;
        /* ELBv2 keys by ARN, classic ELB by name. */
        if (req(m, "ResourceArn", d->arn, sizeof(d->arn)) &&
            req(m, "LoadBalancerName", d->arn, sizeof(d->arn)))
            return LBP_PARSE;
        if (tags_of(awsx_child(m, "Tags"), "member", "Key", "Value", &d->tags))
            return LBP_PARSE;
    }
    return LBP_OK;
}

void aws_clb_free(struct aws_clb *c)
{
    if (c) {
        free(c->instances);
        c->instances = NULL;
        c->n_instances = 0;
        free(c->backends);
        c->backends = NULL;
        c->n_backends = 0;
    }
}

void aws_clbs_free(struct lbp_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        aws_clb_free(&((struct aws_clb *)v->v)[i]);
    lbp_vec_free(v);
}

/* Only ports that carry policies are listed; PolicyNames may be empty. */
static int clb_backends(xmlNode *list, struct aws_clb *c)
{
    size_t n = 0;
    for (xmlNode *b = awsx_child(list, "member"); b; b = awsx_next(b, "member"))
        n++;
    if (!n)
        return LBP_OK;
    if (n > AWS_CLB_MAX_LISTENERS)
        return LBP_PARSE;
    c->backends = calloc(n, sizeof(*c->backends));
    if (!c->backends)
        return LBP_NOMEM;
    for (xmlNode *b = awsx_child(list, "member"); b; b = awsx_next(b, "member")) {
        struct aws_clb_backend *be = &c->backends[c->n_backends++];
        if (awsx_int(b, "InstancePort", &be->instance_port) != LBP_OK || be->instance_port < 1 ||
            be->instance_port > 65535)
            return LBP_PARSE;
        for (xmlNode *p = awsx_child(awsx_child(b, "PolicyNames"), "member"); p;
             p = awsx_next(p, "member")) {
            if (be->n_policies >= AWS_CLB_MAX_BACKEND_POLICIES ||
                req(p, NULL, be->policies[be->n_policies], sizeof(be->policies[0])))
                return LBP_PARSE;
            be->n_policies++;
        }
    }
    return LBP_OK;
}

static int clb_one(xmlNode *m, struct aws_clb *c)
{
    size_t ni = 0;
    xmlNode *ins = awsx_child(m, "Instances");
    if (req(m, "LoadBalancerName", c->name, sizeof(c->name)) ||
        opt(m, "DNSName", c->dns, sizeof(c->dns)) ||
        opt(m, "Scheme", c->scheme, sizeof(c->scheme)) || opt(m, "VPCId", c->vpc, sizeof(c->vpc)) ||
        opt(m, "HealthCheck/Target", c->hc_target, sizeof(c->hc_target)))
        return LBP_PARSE;
    awsx_int(m, "HealthCheck/Interval", &c->hc_interval);
    awsx_int(m, "HealthCheck/Timeout", &c->hc_timeout);
    awsx_int(m, "HealthCheck/HealthyThreshold", &c->hc_healthy);
    awsx_int(m, "HealthCheck/UnhealthyThreshold", &c->hc_unhealthy);
    for (xmlNode *s = awsx_child(awsx_child(m, "SecurityGroups"), "member"); s;
         s = awsx_next(s, "member")) {
        if (c->n_sgs >= AWS_MAX_SGS || req(s, NULL, c->sgs[c->n_sgs], AWS_ID_LEN))
            return LBP_PARSE;
        c->n_sgs++;
    }
    for (xmlNode *s = awsx_child(awsx_child(m, "Subnets"), "member"); s;
         s = awsx_next(s, "member")) {
        if (c->n_subnets >= AWS_MAX_AZS || req(s, NULL, c->subnets[c->n_subnets], AWS_ID_LEN))
            return LBP_PARSE;
        c->n_subnets++;
    }
    for (xmlNode *l = awsx_child(awsx_child(m, "ListenerDescriptions"), "member"); l;
         l = awsx_next(l, "member")) {
        struct aws_clb_listener *x;
        xmlNode *ln = awsx_child(l, "Listener");
        if (c->n_l >= AWS_CLB_MAX_LISTENERS)
            return LBP_PARSE;
        x = &c->l[c->n_l++];
        if (req(ln, "Protocol", x->protocol, sizeof(x->protocol)) ||
            opt(ln, "InstanceProtocol", x->instance_protocol, sizeof(x->instance_protocol)) ||
            opt(ln, "SSLCertificateId", x->cert, sizeof(x->cert)) ||
            awsx_int(ln, "LoadBalancerPort", &x->lb_port) != LBP_OK ||
            awsx_int(ln, "InstancePort", &x->instance_port) != LBP_OK)
            return LBP_PARSE;
    }
    for (xmlNode *i = awsx_child(ins, "member"); i; i = awsx_next(i, "member"))
        ni++;
    if (ni) {
        c->instances = calloc(ni, AWS_ID_LEN);
        if (!c->instances)
            return LBP_NOMEM;
        for (xmlNode *i = awsx_child(ins, "member"); i; i = awsx_next(i, "member")) {
            if (req(i, "InstanceId", c->instances[c->n_instances], AWS_ID_LEN))
                return LBP_PARSE;
            c->n_instances++;
        }
    }
    return clb_backends(awsx_child(m, "BackendServerDescriptions"), c);
}

int awsx_clbs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *res = awsx_result(doc);
    xmlNode *list = awsx_child(res, "LoadBalancerDescriptions");
    for (xmlNode *m = awsx_child(list, "member"); m; m = awsx_next(m, "member")) {
        struct aws_clb *c = lbp_vec_push(out);
        int rc;
        if (!c)
            return LBP_NOMEM;
        rc = clb_one(m, c);
        if (rc)
            return rc;
    }
    return next_marker(res, "NextMarker", next, nextcap);
}

static int group_ids(xmlNode *set, char ids[][AWS_ID_LEN], size_t *n)
{
    *n = 0;
    for (xmlNode *g = awsx_child(set, "item"); g; g = awsx_next(g, "item")) {
        if (*n >= AWS_MAX_SGS)
            return LBP_OK; /* more groups than we track: the first ones suffice */
        if (req(g, "groupId", ids[*n], AWS_ID_LEN))
            return LBP_PARSE;
        (*n)++;
    }
    return LBP_OK;
}

int awsx_instances(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *root = doc ? awsx_root(doc) : NULL;
    for (xmlNode *r = awsx_child(awsx_child(root, "reservationSet"), "item"); r;
         r = awsx_next(r, "item")) {
        for (xmlNode *m = awsx_child(awsx_child(r, "instancesSet"), "item"); m;
             m = awsx_next(m, "item")) {
            struct aws_instance *in = lbp_vec_push(out);
            if (!in)
                return LBP_NOMEM;
            if (req(m, "instanceId", in->id, sizeof(in->id)) ||
                opt(m, "vpcId", in->vpc, sizeof(in->vpc)) ||
                opt(m, "subnetId", in->subnet, sizeof(in->subnet)) ||
                opt(m, "placement/availabilityZone", in->az, sizeof(in->az)) ||
                opt(m, "privateDnsName", in->private_dns, sizeof(in->private_dns)) ||
                opt(m, "instanceState/name", in->state, sizeof(in->state)) ||
                group_ids(awsx_child(m, "groupSet"), in->sgs, &in->n_sgs))
                return LBP_PARSE;
        }
    }
    return next_marker(root, "nextToken", next, nextcap);
}

int awsx_subnets(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *root = doc ? awsx_root(doc) : NULL;
    for (xmlNode *m = awsx_child(awsx_child(root, "subnetSet"), "item"); m;
         m = awsx_next(m, "item")) {
        struct aws_subnet *s = lbp_vec_push(out);
        if (!s)
            return LBP_NOMEM;
        if (req(m, "subnetId", s->id, sizeof(s->id)) || opt(m, "vpcId", s->vpc, sizeof(s->vpc)) ||
            opt(m, "availabilityZone", s->az, sizeof(s->az)) ||
            opt(m, "cidrBlock", s->cidr, sizeof(s->cidr)) ||
            tags_of(awsx_child(m, "tagSet"), "item", "key", "value", &s->tags))
            return LBP_PARSE;
    }
    return next_marker(root, "nextToken", next, nextcap);
}

void aws_sg_free(struct aws_sg *s)
{
    if (s) {
        aws_tags_free(&s->tags);
        free(s->rules);
        s->rules = NULL;
        s->n_rules = 0;
    }
}

void aws_sgs_free(struct lbp_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        aws_sg_free(&((struct aws_sg *)v->v)[i]);
    lbp_vec_free(v);
}

static int sg_rule(struct lbp_vec *rules, xmlNode *perm, const char *cidr, const char *group,
                   xmlNode *src)
{
    struct aws_rule *r = lbp_vec_push(rules);
    if (!r)
        return LBP_NOMEM;
    if (req(perm, "ipProtocol", r->proto, sizeof(r->proto)))
        return LBP_PARSE;
    awsx_int(perm, "fromPort", &r->from);
    awsx_int(perm, "toPort", &r->to);
    if (cidr && req(src, cidr, r->cidr, sizeof(r->cidr)))
        return LBP_PARSE;
    if (group && req(src, group, r->group, sizeof(r->group)))
        return LBP_PARSE;
    return opt(src, "description", r->desc, sizeof(r->desc));
}

int awsx_sgs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap)
{
    xmlNode *root = doc ? awsx_root(doc) : NULL;
    for (xmlNode *m = awsx_child(awsx_child(root, "securityGroupInfo"), "item"); m;
         m = awsx_next(m, "item")) {
        struct aws_sg *s = lbp_vec_push(out);
        struct lbp_vec rules;
        int rc = LBP_OK;
        if (!s)
            return LBP_NOMEM;
        if (req(m, "groupId", s->id, sizeof(s->id)) ||
            opt(m, "groupName", s->name, sizeof(s->name)) ||
            opt(m, "vpcId", s->vpc, sizeof(s->vpc)) ||
            tags_of(awsx_child(m, "tagSet"), "item", "key", "value", &s->tags))
            return LBP_PARSE;
        lbp_vec_init(&rules, sizeof(struct aws_rule));
        for (xmlNode *p = awsx_child(awsx_child(m, "ipPermissions"), "item"); p && !rc;
             p = awsx_next(p, "item")) {
            for (xmlNode *r = awsx_child(awsx_child(p, "ipRanges"), "item"); r && !rc;
                 r = awsx_next(r, "item"))
                rc = sg_rule(&rules, p, "cidrIp", NULL, r);
            for (xmlNode *r = awsx_child(awsx_child(p, "ipv6Ranges"), "item"); r && !rc;
                 r = awsx_next(r, "item"))
                rc = sg_rule(&rules, p, "cidrIpv6", NULL, r);
            for (xmlNode *r = awsx_child(awsx_child(p, "groups"), "item"); r && !rc;
                 r = awsx_next(r, "item"))
                rc = sg_rule(&rules, p, NULL, "groupId", r);
        }
        s->rules = rules.v;
        s->n_rules = rules.n;
        if (rc)
            return rc;
    }
    return next_marker(root, "nextToken", next, nextcap);
}
