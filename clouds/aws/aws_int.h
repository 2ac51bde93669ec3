/*
 * aws_int.h — what the files of clouds/aws share; nothing here leaves the
 * folder (the library exports only lbp_provider_aws).
 *
 * query.c builds awsQuery/ec2Query bodies, xml.c turns response XML into
 * the plain structs below, api.c signs and sends one call and maps AWS
 * error codes onto lbp_rc, ec2.c resolves nodes/subnets and converges
 * security-group rules, nlb.c and classic.c converge the two LB kinds,
 * annotations.c validates the Service's annotations, aws.c is the vtable.
 */
#ifndef LBP_CLOUDS_AWS_INT_H
#define LBP_CLOUDS_AWS_INT_H

#include <libxml/tree.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/vec.h"
#include "clouds/aws/creds.h"
#include "provider/http.h"
#include "provider/nodes.h"
#include "provider/paging.h"
#include "provider/provider.h"

#define AWS_ELBV2_VERSION "2015-12-01"
#define AWS_ELB_VERSION "2012-06-01"
#define AWS_EC2_VERSION "2016-11-15"

#define AWS_ARN_LEN 256
#define AWS_ID_LEN 64
#define AWS_MAX_SGS 8
#define AWS_MAX_AZS 16
#define AWS_MAX_TAGS 50
#define AWS_TAG_SERVICE "kubernetes.io/service-name"
#define AWS_TAG_CLUSTER_PREFIX "kubernetes.io/cluster/"
#define AWS_ANN "service.beta.kubernetes.io/"

enum aws_svc { AWS_ELBV2, AWS_ELB, AWS_EC2 };
enum aws_proto { AWS_QUERY, AWS_EC2QUERY };

/* ---- query.c ---- */

struct aws_query {
    struct lbp_buf b;
    int rc; /* sticky: the first failure */
};

void awsq_init(struct aws_query *q, const char *action, const char *version);
void awsq_free(struct aws_query *q);
/* dst starts as a copy of src (each page of a Describe repeats its parameters). */
void awsq_copy(struct aws_query *dst, const struct aws_query *src);
void awsq_add(struct aws_query *q, const char *key, const char *value);
void awsq_addi(struct aws_query *q, const char *key, long value);
/* key is a printf format: awsq_addf(q, "sg-1", "GroupId.%d", 1) */
void awsq_addf(struct aws_query *q, const char *value, const char *keyfmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * A list element's key: awsQuery "Name.member.N[.Field]", ec2Query
 * "Name.N[.Field]" (idx is 1-based; field may be NULL).
 */
int awsq_list_key(enum aws_proto p, char *out, size_t cap, const char *name, int idx,
                  const char *field);
/* A list's values: awsQuery sends "Name=" for an empty list, ec2Query nothing. */
void awsq_list(struct aws_query *q, enum aws_proto p, const char *name, const char *const *vals,
               size_t n);

/* ---- xml.c ---- */

struct aws_tag {
    char key[160];
    char value[256];
};

/*
 * A resource's tags, allocated to fit: lists of security groups and tag
 * descriptions hold one per entry, and a fixed array of AWS_MAX_TAGS (20 KB)
 * each made a listing of a few hundred groups tens of megabytes.
 */
struct aws_tags {
    struct aws_tag *t; /* malloc'd, n entries */
    size_t n;
};

struct aws_lb_az {
    char zone[32];
    char subnet[AWS_ID_LEN];
    char ip[64];
    char alloc[AWS_ID_LEN];
};

struct aws_lb {
    char arn[AWS_ARN_LEN];
    char name[64];
    char dns[256];
    char scheme[24];
    char vpc[AWS_ID_LEN];
    char state[24];
    char type[16];
    struct aws_lb_az az[AWS_MAX_AZS];
    size_t n_az;
};

struct aws_tg {
    char arn[AWS_ARN_LEN];
    char name[64];
    char protocol[16];
    int port;
    char vpc[AWS_ID_LEN];
    char target_type[16];
    char hc_protocol[16];
    char hc_port[16];
    char hc_path[256];
    int hc_interval, hc_timeout, healthy, unhealthy;
    char lb_arn[AWS_ARN_LEN]; /* first attached LB, "" when none */
};

struct aws_listener {
    char arn[AWS_ARN_LEN];
    char lb_arn[AWS_ARN_LEN];
    int port;
    char protocol[16];
    char tg_arn[AWS_ARN_LEN];
    char cert[AWS_ARN_LEN];
    char ssl_policy[96];
};

struct aws_target {
    char id[AWS_ID_LEN];
    int port;
    char state[24];
};

struct aws_tagdesc {
    char arn[AWS_ARN_LEN]; /* or LoadBalancerName for classic */
    struct aws_tags tags;
};

struct aws_clb_listener {
    char protocol[16];
    int lb_port;
    char instance_protocol[16];
    int instance_port;
    char cert[AWS_ARN_LEN];
};

/* BackendServerDescriptions: the policies on one instance port. */
#define AWS_CLB_MAX_BACKEND_POLICIES 16
struct aws_clb_backend {
    int instance_port;
    char policies[AWS_CLB_MAX_BACKEND_POLICIES][256];
    size_t n_policies;
};

#define AWS_CLB_MAX_LISTENERS 100
struct aws_clb {
    char name[64];
    char dns[256];
    char scheme[24];
    char vpc[AWS_ID_LEN];
    char sgs[AWS_MAX_SGS][AWS_ID_LEN];
    size_t n_sgs;
    char subnets[AWS_MAX_AZS][AWS_ID_LEN];
    size_t n_subnets;
    struct aws_clb_listener l[AWS_CLB_MAX_LISTENERS];
    size_t n_l;
    char (*instances)[AWS_ID_LEN]; /* malloc'd */
    size_t n_instances;
    struct aws_clb_backend *backends; /* malloc'd */
    size_t n_backends;
    char hc_target[300];
    int hc_interval, hc_timeout, hc_healthy, hc_unhealthy;
};

struct aws_instance {
    char id[AWS_ID_LEN];
    char vpc[AWS_ID_LEN];
    char subnet[AWS_ID_LEN];
    char az[32];
    char private_dns[256];
    char state[24];
    char sgs[AWS_MAX_SGS][AWS_ID_LEN];
    size_t n_sgs;
};

struct aws_subnet {
    char id[AWS_ID_LEN];
    char vpc[AWS_ID_LEN];
    char az[32];
    char cidr[64];
    struct aws_tags tags;
};

/* One ingress rule with exactly one source: a CIDR or a group. */
struct aws_rule {
    char proto[8]; /* "tcp", "udp", "-1" */
    int from, to;
    char cidr[64];
    char group[AWS_ID_LEN];
    char desc[256];
};

struct aws_sg {
    char id[AWS_ID_LEN];
    char name[256];
    char vpc[AWS_ID_LEN];
    struct aws_rule *rules; /* malloc'd */
    size_t n_rules;
    struct aws_tags tags;
};

/*
 * libxml2 is loaded on first use (xml.c): awsx_xml_open loads it (soname
 * NULL: the one compiled against) and says why not in err; the parsers
 * below load it themselves and answer NULL when it cannot be loaded.
 */
int awsx_xml_open(const char *soname, char *err, size_t errlen);
xmlDoc *awsx_parse(const char *data, size_t len);
xmlDoc *awsx_parse_sts(const char *data, size_t len); /* blanks kept, as STS was read */
void awsx_free(xmlDoc *doc);                          /* NULL ok */
xmlNode *awsx_root(xmlDoc *doc);                      /* the root element, NULL if none */
/* n's text (xmlNodeGetContent), wiped from libxml2's copy; NOT_FOUND, TOOBIG (out ""). */
int awsx_content(xmlNode *n, char *out, size_t cap);
xmlNode *awsx_child(xmlNode *n, const char *name);
/* "A/B/C" below n, by local names */
xmlNode *awsx_path(xmlNode *n, const char *path);
/* The next element sibling named name (start from awsx_child(list, name)). */
xmlNode *awsx_next(xmlNode *n, const char *name);
/* Copies text; LBP_NOT_FOUND when absent, LBP_TOOBIG when it does not fit (out stays ""). */
int awsx_text(xmlNode *n, const char *path, char *out, size_t cap);
int awsx_int(xmlNode *n, const char *path, int *out);
/* The body of an awsQuery answer: root/<Op>Result. Root for EC2. */
xmlNode *awsx_result(xmlDoc *doc);
/* Either error shape; LBP_OK when the document is an error. */
int awsx_error(xmlDoc *doc, char *code, size_t codelen, char *msg, size_t msglen);

/* Typed parsers: each appends to the vector and fills next (marker/token, "" when last). */
int awsx_lbs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
int awsx_tgs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
int awsx_listeners(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
int awsx_target_health(xmlDoc *doc, struct lbp_vec *out);
int awsx_tag_descs(xmlDoc *doc, struct lbp_vec *out); /* ELBv2 and classic */
int awsx_clbs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
void aws_clb_free(struct aws_clb *c);
int awsx_instances(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
int awsx_subnets(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
int awsx_sgs(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
void aws_sg_free(struct aws_sg *s);
void aws_sgs_free(struct lbp_vec *v);
void aws_clbs_free(struct lbp_vec *v);

const char *aws_tag_get(const struct aws_tags *t, const char *key);
/* LBP_TOOBIG past AWS_MAX_TAGS or when key/value do not fit, LBP_NOMEM. */
int aws_tags_add(struct aws_tags *t, const char *key, const char *value);
void aws_tags_free(struct aws_tags *t);
void aws_tagdescs_free(struct lbp_vec *v);
void aws_subnets_free(struct lbp_vec *v);

/* ---- annotations.c ---- */

enum aws_lb_kind { AWS_KIND_CLASSIC, AWS_KIND_NLB };

#define AWS_MAX_SUBNET_ANN 16
struct aws_opts {
    enum aws_lb_kind kind;
    bool internal;
    char subnets[AWS_MAX_SUBNET_ANN][AWS_ID_LEN]; /* ids or Name tags */
    size_t n_subnets;
    char eips[AWS_MAX_SUBNET_ANN][AWS_ID_LEN];
    size_t n_eips;
    /* health check: 0/"" = default */
    char hc_protocol[8]; /* "TCP", "HTTP", "HTTPS" */
    char hc_port[16];    /* number or "traffic-port" */
    char hc_path[256];
    int hc_interval, hc_timeout, hc_healthy, hc_unhealthy;
    int cross_zone; /* -1 unset, 0, 1 */
    struct aws_tag extra_tags[AWS_MAX_TAGS];
    size_t n_extra_tags;
    char node_labels[16][2][128]; /* key, value ("" = any) */
    size_t n_node_labels;
    char backend_protocol[8]; /* "", "tcp", "ssl", "http", "https" */
    char ssl_cert[AWS_ARN_LEN];
    int ssl_ports[32];
    size_t n_ssl_ports;
    bool ssl_all_ports;
    bool proxy_protocol;
    int idle_timeout; /* 0 unset */
};

/* LBP_INVALID with a message naming the annotation and allowed values. */
int aws_opts_parse(const struct lbp_lb_spec *spec, enum aws_lb_kind default_kind,
                   struct aws_opts *o, struct lbp_call *call);
bool aws_opts_ssl_port(const struct aws_opts *o, int port);

/* ---- api.c / aws.c ---- */

struct lbp_provider_ctx {
    char cluster[128];
    char region[64];
    char ep[3][512]; /* per enum aws_svc */
    char vpc[AWS_ID_LEN];
    char node_sg[AWS_ID_LEN]; /* cloud-config override for the nodes' group */
    bool no_sg_ingress;       /* DisableSecurityGroupIngress: node groups are the operator's */
    enum aws_lb_kind default_kind;
    struct lbp_http_client *http;
    struct lbp_aws_creds *creds;
    struct lbp_node_cache *cache; /* instance id → struct aws_instance */
    unsigned cache_ttl_s;
    /* nlb.c: target groups an ensure may have left unattached, by name */
    pthread_mutex_t tg_mu;
    struct aws_tg_suspect *tg_suspects;
};

/* nlb.c: forgets the suspects (ctx clean-up). */
void aws_tg_suspects_free(struct lbp_provider_ctx *ctx);

struct aws_err {
    long status;
    char code[96];
    char msg[384];
};

/*
 * Signs and sends q to svc; on HTTP 200 *doc holds the parsed answer
 * (caller frees). Errors: LBP_AUTH (credentials rejected), LBP_RETRY
 * (throttled/5xx after retries), LBP_NOT_FOUND (a *NotFound code),
 * LBP_INVALID (any other client error), with e filled and, for all but
 * NOT_FOUND, call->err set to "<Operation>: <Code>: <Message>".
 */
int aws_call(struct lbp_provider_ctx *ctx, enum aws_svc svc, struct aws_query *q, const char *op,
             xmlDoc **doc, struct aws_err *e, struct lbp_call *call);
/* The same, discarding the answer. */
/* Parses one page of a Describe answer into out; the next page's token into next. */
typedef int (*aws_page_parse_fn)(xmlDoc *doc, struct lbp_vec *out, char *next, size_t nextcap);
/*
 * Every page of a Describe: REQ holds the action and its own parameters,
 * repeated on each page with the service's paging ones after them (ELB:
 * PageSize/Marker; EC2: MaxResults/NextToken; page_size 0 sends no size).
 * An unreadable page fails as LBP_RETRY; e (may be NULL) as for aws_call.
 */
int aws_describe_all(struct lbp_provider_ctx *ctx, enum aws_svc svc, const struct aws_query *req,
                     const char *op, long page_size, aws_page_parse_fn parse, struct lbp_vec *out,
                     struct aws_err *e, struct lbp_call *call);
/* DescribeLoadBalancers for one name (ELB or ELBv2): LBP_NOT_FOUND when there is none. */
int aws_describe_lb(struct lbp_provider_ctx *ctx, enum aws_svc svc, const char *lb_name,
                    struct lbp_vec *out, struct lbp_call *call);
int aws_call0(struct lbp_provider_ctx *ctx, enum aws_svc svc, struct aws_query *q, const char *op,
              struct aws_err *e, struct lbp_call *call);

/* ---- ec2.c ---- */

/* "aws:///zone/i-..." or "i-..." → the instance id; LBP_INVALID otherwise. */
int aws_instance_id(const char *provider_id, char *out, size_t cap);
/* Resolves nodes to instances (cached with TTL); nodes that do not resolve are skipped. */
int aws_nodes_instances(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct aws_opts *o, struct lbp_vec *out, struct lbp_call *call);
/* Picks one subnet per AZ for the LB (annotation or tags); fills CIDRs. */
int aws_lb_subnets(struct lbp_provider_ctx *ctx, const char *vpc, const struct aws_opts *o,
                   struct lbp_vec *out, struct lbp_call *call);
int aws_describe_sgs(struct lbp_provider_ctx *ctx, const char *const *ids, size_t n,
                     const char *filter_name, const char *filter_value, struct lbp_vec *out,
                     struct lbp_call *call);
/* The nodes' security groups: the configured one, else those tagged for the cluster. */
int aws_cluster_sgs(struct lbp_provider_ctx *ctx, struct lbp_vec *out, struct lbp_call *call);
/* Where a new LB goes: the configured VPC, else the first instance's; NULL (call says why). */
const char *aws_lb_vpc(struct lbp_provider_ctx *ctx, const struct lbp_vec *inst,
                       struct lbp_call *call);
/*
 * From one resource's tags: when the cluster tag CKEY says "owned" and the
 * service tag names ns/name, one more entry in owned (lb_name as given).
 */
int aws_owned_add(const struct aws_tags *tags, const char *ckey, const char *lb_name,
                  struct lbp_owned_list *owned);
/*
 * Makes sg's rules carrying description desc exactly `want` (by proto, ports
 * and source), revoking the rest of them; rules with other descriptions are
 * never touched.
 */
int aws_sg_converge(struct lbp_provider_ctx *ctx, const struct aws_sg *sg, const char *desc,
                    const struct aws_rule *want, size_t n_want, struct lbp_call *call);
/* The nodes' security group for an instance set: cluster-tagged first, else the first one. */
int aws_node_sgs(struct lbp_provider_ctx *ctx, const struct lbp_vec *instances, struct lbp_vec *sgs,
                 struct lbp_call *call);

/* ---- nlb.c / classic.c ---- */

int aws_nlb_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct lbp_lb_status *st, struct lbp_call *call);
int aws_nlb_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct aws_opts *o, struct lbp_call *call);
int aws_nlb_get(struct lbp_provider_ctx *ctx, const char *lb_name, struct aws_lb *lb,
                struct lbp_call *call);
int aws_nlb_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   struct lbp_call *call);
int aws_nlb_list_owned(struct lbp_provider_ctx *ctx, struct lbp_owned_list *owned,
                       struct lbp_call *call);

int aws_clb_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct lbp_lb_status *st, struct lbp_call *call);
int aws_clb_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct aws_opts *o, struct lbp_call *call);
int aws_clb_get(struct lbp_provider_ctx *ctx, const char *lb_name, struct aws_clb *lb,
                struct lbp_call *call);
int aws_clb_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   struct lbp_call *call);
int aws_clb_list_owned(struct lbp_provider_ctx *ctx, struct lbp_owned_list *owned,
                       struct lbp_call *call);

/* Tags every LB/TG/SG this Service owns carries, plus the annotation's extras
 * (out is filled afresh; free it with aws_tags_free). */
int aws_owner_tags(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct aws_opts *o, struct aws_tags *out);
/* Node instances, after -target-node-labels. */
bool aws_node_selected(const struct lbp_lb_spec *spec, const struct aws_opts *o, size_t i);

#endif
