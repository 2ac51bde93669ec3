/*
 * cloudstack.c — the CloudStack provider: configuration, the vtable, and
 * the resource model of one LoadBalancer Service.
 *
 * A Service is a public IP with one load-balancer rule per port, named
 * "<lbName>-<proto>-<port>" (public port = service port, private port =
 * NodePort, roundrobin or source for ClientIP affinity, tcp-proxy when the
 * proxy-protocol annotation asks), the nodes' VMs as members, and firewall
 * rules (isolated networks) or network ACL items (a VPC tier) that admit
 * loadBalancerSourceRanges. The IP is loadBalancerIP when set (looked up,
 * never released) or one associateIpAddress acquired; either is tagged
 * with the cluster, the LB name and the Service, and "lbprov-acquired" says
 * which one remove releases. The ACL items carry the same tags, since a
 * tier's ACL list is shared.
 *
 * Every slot reads the cloud and changes what differs, issuing the async
 * commands of one step together and returning LBP_PENDING with their job
 * ids in the lro table; the next call polls them and then reads the cloud
 * again, so after a restart (an empty table) the same code converges from
 * what the tags and names show. Steps: the address (associate + tags), then
 * deletions of rules that no longer fit (so a port freed is free before it
 * is taken again), then creations, member changes and firewall/ACL changes.
 *
 * associateIpAddress and createLoadBalancerRule are not idempotent. When a
 * reply is lost the HTTP client asks a lookup (api.c): for a rule, the rule
 * by its name. For an address, associations run side by side with no lock
 * across any call and nothing is listed before one; only after a lost reply
 * are the network's addresses listed, and the lost one is an address that
 * is untagged, not source NAT, allocated at or after the moment the call
 * went out (its "allocated" time against the server's own clock: the Date
 * of the listing's answers, carried back to the send over this host's
 * monotonic clock, so neither a skewed nor a stepped local clock matters;
 * CS_ASSOC_SKEW_S more for management servers that disagree), and that no
 * acquisition of this process owns (a small set of ids, kept under
 * assoc_mu: answered to another call, or claimed by another lookup; a
 * lookup first waits for the answers of calls still in flight, so two lost
 * replies never take one address and none takes another's). Only when
 * nothing qualifies is the command sent again, as for any lost create.
 *
 * What is left: an untagged address another program or a person allocates
 * in the same network in the seconds between the lost call and its lookup
 * (another lbprov too, between its answer and its tags) can be taken for
 * ours, and then released on delete; one allocated earlier never is. A
 * call the server runs only after the lookup found nothing leaves an
 * untagged address behind, as does a lookup that cannot tell (no Date on
 * the server's answers, others' answers outstanding for a minute): that
 * call fails instead of being sent again.
 */
#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clouds/cloudstack/cs_int.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/vec.h"
#include "provider/ratelimit.h"

void cs_rest_init(struct lbp_provider_ctx *ctx);

#define ANN_PROXY "service.beta.kubernetes.io/cloudstack-load-balancer-proxy-protocol"
#define CS_MAX_PORTS 64
#define CS_MAX_NODES 4096

/* ---------------------------------------------------------------- config */

struct conf {
    struct lbp_provider_ctx *ctx;
    char api_key_file[512], secret_key_file[512], ssl_no_verify[16], ca_file[512];
    char qps[16], retry_base[16], retry_max[16], attempts[16], cache_ttl[16];
    char bad[160];
};

static void unquote(const char *v, char *out, size_t cap)
{
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        snprintf(out, cap, "%.*s", (int)(n - 2), v + 1);
    else
        lbp_strlcpy(out, v, cap);
}

static int conf_kv(void *ud, const char *section, const char *name, const char *value)
{
    struct conf *c = ud;
    struct lbp_provider_ctx *ctx = c->ctx;
    struct {
        const char *key;
        char *dst;
        size_t cap;
    } map[] = {
        {"api-url", ctx->api_url, sizeof(ctx->api_url)},
        {"api-key", ctx->api_key, sizeof(ctx->api_key)},
        {"secret-key", ctx->secret_key, sizeof(ctx->secret_key)},
        {"api-key-file", c->api_key_file, sizeof(c->api_key_file)},
        {"secret-key-file", c->secret_key_file, sizeof(c->secret_key_file)},
        {"project-id", ctx->project, sizeof(ctx->project)},
        {"zone", ctx->zone, sizeof(ctx->zone)},
        {"network-id", ctx->network, sizeof(ctx->network)},
        {"ssl-no-verify", c->ssl_no_verify, sizeof(c->ssl_no_verify)},
        {"ca-file", c->ca_file, sizeof(c->ca_file)},
        {"qps", c->qps, sizeof(c->qps)},
        {"retry-base-delay-ms", c->retry_base, sizeof(c->retry_base)},
        {"retry-max-delay-ms", c->retry_max, sizeof(c->retry_max)},
        {"retry-max-attempts", c->attempts, sizeof(c->attempts)},
        {"vm-cache-ttl", c->cache_ttl, sizeof(c->cache_ttl)},
    };
    if (strcasecmp(section, "Global") != 0)
        return 1;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcasecmp(name, map[i].key) == 0) {
            unquote(value, map[i].dst, map[i].cap);
            return 1;
        }
    if (!c->bad[0])
        snprintf(c->bad, sizeof(c->bad), "%.64s", name);
    return 1;
}

/* A key read from a file (a mounted Secret): one line, blanks trimmed. */
static int key_file(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = lbp_file_read(path, cap, LBP_FILE_SECRET, &text, &len);
    if (rc) {
        snprintf(err, errlen, "cloudstack: cannot read %s: %s", path, lbp_rc_str(rc));
        return LBP_IO;
    }
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    text[len] = '\0';
    lbp_strlcpy(out, text + strspn(text, " \t\r\n"), cap);
    explicit_bzero(text, len);
    free(text);
    return LBP_OK;
}

/* The example overlay's Secret says REPLACE_ME_... until it is filled in. */
static int cs_placeholder(struct lbp_provider_ctx *ctx, char *err, size_t errlen)
{
    bool api = strncmp(ctx->api_key, "REPLACE_ME", 10) == 0;
    if (!api && strncmp(ctx->secret_key, "REPLACE_ME", 10) != 0)
        return LBP_OK;
    snprintf(err, errlen,
             "cloudstack: the %s is still the example's placeholder REPLACE_ME_...: put the "
             "user's key in the Secret (clouds/cloudstack/README.md)",
             api ? "api-key" : "secret-key");
    return LBP_INVALID;
}

int cs_keys_load(struct lbp_provider_ctx *ctx, char *err, size_t errlen)
{
    int rc = LBP_OK;
    pthread_mutex_lock(&ctx->mu);
    if (!ctx->keys_ready) {
        if (ctx->key_file[0][0])
            rc = key_file(ctx->key_file[0], ctx->api_key, sizeof(ctx->api_key), err, errlen);
        if (rc == LBP_OK && ctx->key_file[1][0])
            rc = key_file(ctx->key_file[1], ctx->secret_key, sizeof(ctx->secret_key), err, errlen);
        if (rc == LBP_OK)
            rc = cs_placeholder(ctx, err, errlen);
        if (rc == LBP_OK && (!ctx->api_key[0] || !ctx->secret_key[0])) {
            snprintf(err, errlen, "cloudstack: %s is empty",
                     ctx->api_key[0] ? ctx->key_file[1] : ctx->key_file[0]);
            rc = LBP_INVALID;
        }
        ctx->keys_ready = rc == LBP_OK;
    }
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

static void cs_cleanup(struct lbp_provider_ctx *ctx)
{
    if (!ctx)
        return;
    lbp_http_client_free(ctx->http);
    lbp_lro_table_free(ctx->ops);
    lbp_node_cache_free(ctx->vms);
    pthread_mutex_destroy(&ctx->mu);
    pthread_mutex_destroy(&ctx->assoc_mu);
    pthread_cond_destroy(&ctx->assoc_cv);
    free(ctx->known);
    explicit_bzero(ctx->secret_key, sizeof(ctx->secret_key));
    free(ctx);
}

static int num(const char *v, const char *key, long lo, long hi, long *out, char *err,
               size_t errlen)
{
    if (!v[0])
        return LBP_NOT_FOUND;
    if (lbp_parse_long(v, lo, hi, out) == LBP_OK)
        return LBP_OK;
    snprintf(err, errlen, "cloudstack: cloud-config %s = %.32s: an integer %ld-%ld", key, v, lo,
             hi);
    return LBP_INVALID;
}

static int cs_init(const char *path, const char *cluster_name, struct lbp_provider_ctx **out,
                   char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));
    struct lbp_http_opts ho = {.cloud = "cloudstack", .qps = 20, .burst = 40};
    struct conf c = {.ctx = ctx};
    char *text = NULL;
    long n = 0, ttl = 600;
    int rc = LBP_OK;

    if (!ctx)
        return LBP_NOMEM;
    pthread_mutex_init(&ctx->mu, NULL);
    pthread_mutex_init(&ctx->assoc_mu, NULL);
    lbp_cond_init_monotonic(&ctx->assoc_cv);
    lbp_strlcpy(ctx->cluster, cluster_name && *cluster_name ? cluster_name : "kubernetes",
                sizeof(ctx->cluster));
    if (!path || !*path) {
        snprintf(err, errlen,
                 "cloudstack: --cloud-config is required ([Global] api-url, api-key, "
                 "secret-key; clouds/cloudstack/README.md)");
        rc = LBP_INVALID;
        goto out;
    }
    rc = lbp_file_read(path, 1u << 20, LBP_FILE_SECRET, &text, NULL);
    if (rc) {
        snprintf(err, errlen, "cloudstack: cannot read cloud-config %s: %s", path, lbp_rc_str(rc));
        rc = LBP_INVALID;
        goto out;
    }
    n = ini_parse_string(text, conf_kv, &c);
    if (n != 0) {
        snprintf(err, errlen, "cloudstack: cloud-config %s: syntax error on line %ld", path, n);
        rc = LBP_INVALID;
        goto out;
    }
    if (c.bad[0]) {
        snprintf(err, errlen,
                 "cloudstack: cloud-config %s: unknown key \"%s\" in [Global] "
                 "(clouds/cloudstack/README.md lists them)",
                 path, c.bad);
        rc = LBP_INVALID;
        goto out;
    }
    lbp_strlcpy(ctx->key_file[0], c.api_key_file, sizeof(ctx->key_file[0]));
    lbp_strlcpy(ctx->key_file[1], c.secret_key_file, sizeof(ctx->key_file[1]));
    ctx->keys_ready = !c.api_key_file[0] && !c.secret_key_file[0];
    if (strncmp(ctx->api_url, "http://", 7) != 0 && strncmp(ctx->api_url, "https://", 8) != 0) {
        snprintf(err, errlen,
                 "cloudstack: cloud-config api-url %s: want an http:// or https:// "
                 "URL such as https://cloud.example.com/client/api",
                 ctx->api_url[0] ? "is not a URL" : "is missing");
        rc = LBP_INVALID;
        goto out;
    }
    /*
     * Keys from files (a mounted Secret) are read now if they are there,
     * else before the first call: the pod may start before the kubelet
     * has written the Secret, and the readiness ping says what is missing.
     */
    if (!ctx->keys_ready && (rc = cs_keys_load(ctx, err, errlen)) == LBP_IO) {
        lbp_warn("%s; every call fails until it can be read", err);
        err[0] = '\0';
        rc = LBP_OK;
    } else if (rc) {
        goto out;
    } else if (!ctx->api_key[0] || !ctx->secret_key[0]) {
        snprintf(err, errlen,
                 "cloudstack: no %s: set it in the cloud-config [Global] or name a "
                 "mounted Secret's file with %s-file",
                 ctx->api_key[0] ? "secret-key" : "api-key",
                 ctx->api_key[0] ? "secret-key" : "api-key");
        rc = LBP_INVALID;
        goto out;
    }
    if ((rc = cs_placeholder(ctx, err, errlen)))
        goto out;
    ho.insecure_skip_verify = strcasecmp(c.ssl_no_verify, "true") == 0;
    if (c.ca_file[0])
        ho.ca_file = c.ca_file;
    if ((rc = num(c.qps, "qps", 1, 10000, &n, err, errlen)) == LBP_OK) {
        ho.qps = (double)n;
        ho.burst = (unsigned)n * 2;
    }
    if (rc == LBP_INVALID)
        goto out;
    if ((rc = num(c.retry_base, "retry-base-delay-ms", 1, 60000, &n, err, errlen)) == LBP_OK)
        ho.backoff_base_ms = (uint64_t)n;
    if (rc == LBP_INVALID)
        goto out;
    if ((rc = num(c.retry_max, "retry-max-delay-ms", 1, 600000, &n, err, errlen)) == LBP_OK)
        ho.backoff_max_ms = (uint64_t)n;
    if (rc == LBP_INVALID)
        goto out;
    if ((rc = num(c.attempts, "retry-max-attempts", 1, 20, &n, err, errlen)) == LBP_OK)
        ho.max_attempts = (unsigned)n;
    if (rc == LBP_INVALID)
        goto out;
    if ((rc = num(c.cache_ttl, "vm-cache-ttl", 0, 86400, &ttl, err, errlen)) == LBP_INVALID)
        goto out;
    if ((rc = lbp_http_client_new(&ho, &ctx->http)) || (rc = lbp_lro_table_new(&ctx->ops)) ||
        (rc = lbp_node_cache_new(sizeof(struct cs_vm), (unsigned)ttl, &ctx->vms)))
        goto out;
    cs_rest_init(ctx);
    /* Never the keys. */
    lbp_info("cloudstack: api %s, cluster %s%s%s%s%s", ctx->api_url, ctx->cluster,
             ctx->project[0] ? ", project " : "", ctx->project, ctx->network[0] ? ", network " : "",
             ctx->network);
out:
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    if (rc) {
        cs_cleanup(ctx);
        return rc;
    }
    *out = ctx;
    return LBP_OK;
}

/* ---------------------------------------------------------------- helpers */

/* Job ids of one step, for the lro table ("id,id,..."). */
struct jobs {
    char ref[LBP_LRO_REF_MAX];
    size_t n;
    bool changed; /* something changed without a job to wait for (a lost reply adopted) */
    const char *what;
};

static bool jobs_room(const struct jobs *j)
{
    return strlen(j->ref) + CS_ID_MAX + 2 < sizeof(j->ref);
}

static void jobs_add(struct jobs *j, const char *jobid, const char *what)
{
    if (!jobid[0]) {
        j->changed = true;
        return;
    }
    if (!jobs_room(j))
        return;
    size_t used = strlen(j->ref);
    snprintf(j->ref + used, sizeof(j->ref) - used, "%s%s", used ? "," : "", jobid);
    j->n++;
    if (!j->what)
        j->what = what;
}

static int jobs_finish(struct lbp_provider_ctx *ctx, const char *lb_name, struct jobs *j,
                       struct lbp_call *call)
{
    char what[128];
    if (!j->n && !j->changed)
        return LBP_OK;
    if (!j->n) {
        lbp_failf(call, "a lost reply was taken over; reading the result again");
        call->retry_after_s = 1;
        return LBP_PENDING;
    }
    snprintf(what, sizeof(what), "%s (%zu job%s)", j->what ? j->what : "changing", j->n,
             j->n == 1 ? "" : "s");
    return lbp_lro_start(ctx->ops, lb_name, what, j->ref, 1, call);
}

/* Runs an async command and records its job. */
static int change(struct lbp_provider_ctx *ctx, struct cs_q *q, struct jobs *j, const char *what,
                  cs_lookup_fn lookup, void *lud, char id[CS_ID_MAX], struct lbp_call *call)
{
    char jobid[CS_ID_MAX], idbuf[CS_ID_MAX];
    int rc = cs_change(ctx, q, lookup, lud, jobid, id ? id : idbuf, call);
    cs_q_free(q);
    if (rc == LBP_OK)
        jobs_add(j, jobid, what);
    return rc;
}

/* An async command given as name, value pairs (NULL-ended), its job recorded; no lookup. */
static int act(struct lbp_provider_ctx *ctx, struct jobs *j, const char *what,
               struct lbp_call *call, const char *command, ...)
{
    struct cs_q q;
    va_list ap;
    cs_q_init(&q, command);
    va_start(ap, command);
    cs_q_addv(&q, ap);
    va_end(ap);
    return change(ctx, &q, j, what, NULL, NULL, NULL, call);
}

static void add_tags(struct cs_q *q, const char *const *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char k[48];
        snprintf(k, sizeof(k), "tags[%zu].key", i);
        cs_q_add(q, k, kv[2 * i]);
        snprintf(k, sizeof(k), "tags[%zu].value", i);
        cs_q_add(q, k, kv[2 * i + 1]);
    }
}

/* A lost createTags took effect when the resource carries our LB tag. */
static int tags_find(struct lbp_provider_ctx *ctx, void *ud, char *found, size_t cap,
                     uint64_t sent_ms)
{
    (void)sent_ms;
    struct json_object *all = NULL;
    struct lbp_call call = {0};
    int rc;
    rc = cs_listv(ctx, "listTags", "tag", &all, &call, "resourceid", ud, "key", CS_TAG_LB, NULL);
    if (rc)
        return rc;
    rc = json_object_array_length(all) ? LBP_OK : LBP_NOT_FOUND;
    if (rc == LBP_OK)
        lbp_strlcpy(found, ud, cap);
    json_object_put(all);
    return rc;
}

static int tag(struct lbp_provider_ctx *ctx, const char *type, const char *id,
               const struct lbp_lb_spec *spec, bool acquired, struct jobs *j, struct lbp_call *call)
{
    char svc[512];
    struct cs_q q;
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    const char *kv[] = {CS_TAG_CLUSTER, ctx->cluster, CS_TAG_LB,       spec->lb_name,
                        CS_TAG_SERVICE, svc,          CS_TAG_ACQUIRED, "true"};
    cs_q_init(&q, "createTags");
    cs_q_add(&q, "resourcetype", type);
    cs_q_add(&q, "resourceids", id);
    add_tags(&q, kv, acquired ? 4 : 3);
    return change(ctx, &q, j, "tagging", tags_find, (void *)id, NULL, call);
}

static bool ours(struct lbp_provider_ctx *ctx, struct json_object *o, const char *lb_name)
{
    return cs_has_tag(o, CS_TAG_CLUSTER, ctx->cluster) && cs_has_tag(o, CS_TAG_LB, lb_name);
}

/* The addresses tagged with this LB's name (and this cluster). */
static int tagged_ips(struct lbp_provider_ctx *ctx, const char *lb_name, struct json_object **out,
                      struct lbp_call *call)
{
    struct json_object *all = NULL;
    int rc;
    rc = cs_listv(ctx, "listPublicIpAddresses", "publicipaddress", &all, call, "tags[0].key",
                  CS_TAG_LB, "tags[0].value", lb_name, NULL);
    if (rc)
        return rc;
    /* The server's tag filter is an OR of the pairs: check them here. */
    *out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *ip = json_object_array_get_idx(all, i);
        if (ours(ctx, ip, lb_name))
            json_object_array_add(*out, json_object_get(ip));
    }
    json_object_put(all);
    return LBP_OK;
}

static bool rule_is_ours(struct json_object *r, const char *lb_name)
{
    char name[160];
    size_t n = strlen(lb_name);
    cs_str(r, "name", name, sizeof(name));
    return strncmp(name, lb_name, n) == 0 && name[n] == '-';
}

/* This LB's rules, found by name (keyword search, then an exact prefix check). */
static int our_rules(struct lbp_provider_ctx *ctx, const char *lb_name, struct json_object **out,
                     struct lbp_call *call)
{
    struct json_object *all = NULL;
    int rc;
    rc = cs_listv(ctx, "listLoadBalancerRules", "loadbalancerrule", &all, call, "keyword", lb_name,
                  NULL);
    if (rc)
        return rc;
    *out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *r = json_object_array_get_idx(all, i);
        if (rule_is_ours(r, lb_name))
            json_object_array_add(*out, json_object_get(r));
    }
    json_object_put(all);
    return LBP_OK;
}

/* The network's VPC and ACL list ("" outside a VPC), cached: they never change. */
static int net_info(struct lbp_provider_ctx *ctx, const char *net, char vpc[CS_ID_MAX],
                    char acl[CS_ID_MAX], struct lbp_call *call)
{
    struct json_object *list = NULL, *n0;
    int rc;
    pthread_mutex_lock(&ctx->mu);
    for (size_t i = 0; i < ctx->n_nets; i++)
        if (strcmp(ctx->nets[i].id, net) == 0) {
            lbp_strlcpy(vpc, ctx->nets[i].vpc, CS_ID_MAX);
            lbp_strlcpy(acl, ctx->nets[i].acl, CS_ID_MAX);
            pthread_mutex_unlock(&ctx->mu);
            return LBP_OK;
        }
    pthread_mutex_unlock(&ctx->mu);
    rc = cs_listv(ctx, "listNetworks", "network", &list, call, "id", net, NULL);
    if (rc)
        return rc;
    n0 = json_object_array_get_idx(list, 0);
    if (!n0) {
        json_object_put(list);
        lbp_failf(call, "cloudstack: network %s does not exist (listNetworks found none)", net);
        return LBP_INVALID;
    }
    cs_str(n0, "vpcid", vpc, CS_ID_MAX);
    cs_str(n0, "aclid", acl, CS_ID_MAX);
    json_object_put(list);
    pthread_mutex_lock(&ctx->mu);
    if (ctx->n_nets < sizeof(ctx->nets) / sizeof(ctx->nets[0])) {
        lbp_strlcpy(ctx->nets[ctx->n_nets].id, net, CS_ID_MAX);
        lbp_strlcpy(ctx->nets[ctx->n_nets].vpc, vpc, CS_ID_MAX);
        lbp_strlcpy(ctx->nets[ctx->n_nets].acl, acl, CS_ID_MAX);
        ctx->n_nets++;
    }
    pthread_mutex_unlock(&ctx->mu);
    return LBP_OK;
}

/* ---------------------------------------------------------------- nodes → VMs */

static bool is_uuid(const char *s)
{
    size_t n = strlen(s);
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++)
        if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* The cache keys of a node: by VM id (from the providerID) and by name. */
static void node_keys(const struct lbp_lb_node *nd, char idkey[80], char namekey[300])
{
    struct lbp_provider_id pid;
    const char *p = nd->provider_id;
    idkey[0] = '\0';
    if (p && *p && lbp_provider_id_parse(p, "cloudstack", &pid) == LBP_OK &&
        is_uuid(lbp_provider_id_last(&pid)))
        snprintf(idkey, 80, "id:%s", lbp_provider_id_last(&pid));
    else if (p && is_uuid(p))
        snprintf(idkey, 80, "id:%s", p);
    /* VM name = node name up to the first '.', lower-cased (upstream's rule). */
    size_t n = strcspn(nd->name, ".");
    snprintf(namekey, 300, "name:%.*s", (int)(n > 250 ? 250 : n), nd->name);
    for (char *c = namekey; *c; c++)
        *c = (char)tolower((unsigned char)*c);
}

static bool node_lookup(struct lbp_provider_ctx *ctx, const struct lbp_lb_node *nd,
                        struct cs_vm *vm)
{
    char idkey[80], namekey[300];
    node_keys(nd, idkey, namekey);
    if (idkey[0])
        return lbp_node_cache_get(ctx->vms, idkey, vm);
    return lbp_node_cache_get(ctx->vms, namekey, vm);
}

/* One listing of every VM refreshes the whole cache (100 nodes: one call, not 100). */
static int vms_refresh(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                       struct lbp_call *call)
{
    struct json_object *all = NULL;
    int rc;
    rc = cs_listv(ctx, "listVirtualMachines", "virtualmachine", &all, call, "details", "min,nics",
                  NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *v = json_object_array_get_idx(all, i), *nics;
        struct cs_vm vm = {0};
        char name[256], key[300];
        cs_str(v, "id", vm.id, sizeof(vm.id));
        cs_str(v, "name", name, sizeof(name));
        if (json_object_object_get_ex(v, "nic", &nics) &&
            json_object_is_type(nics, json_type_array)) {
            for (size_t k = 0; k < json_object_array_length(nics); k++) {
                struct json_object *nic = json_object_array_get_idx(nics, k), *d;
                if (!vm.network[0] ||
                    (json_object_object_get_ex(nic, "isdefault", &d) && json_object_get_boolean(d)))
                    cs_str(nic, "networkid", vm.network, sizeof(vm.network));
            }
        }
        snprintf(key, sizeof(key), "id:%s", vm.id);
        lbp_node_cache_put(ctx->vms, key, &vm);
        snprintf(key, sizeof(key), "name:%s", name);
        for (char *c = key; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        lbp_node_cache_put(ctx->vms, key, &vm);
    }
    json_object_put(all);
    /* Nodes that are no VM: remembered as such until the TTL, so they cost no listing each. */
    for (size_t i = 0; i < spec->n_nodes; i++) {
        struct cs_vm vm = {0};
        char idkey[80], namekey[300];
        if (node_lookup(ctx, &spec->nodes[i], &vm))
            continue;
        node_keys(&spec->nodes[i], idkey, namekey);
        lbp_node_cache_put(ctx->vms, idkey[0] ? idkey : namekey, &vm);
    }
    return LBP_OK;
}

/*
 * The VM ids of the spec's nodes in the LB's network. *net is set from the
 * cloud-config or, when empty, from the first node's VM.
 */
static int resolve_nodes(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                         struct lbp_vec *ids, char net[CS_ID_MAX], struct lbp_call *call)
{
    bool refreshed = false;
    int rc;
    lbp_strlcpy(net, ctx->network, CS_ID_MAX);
    for (size_t i = 0; i < spec->n_nodes && i < CS_MAX_NODES; i++) {
        struct cs_vm vm;
        if (!node_lookup(ctx, &spec->nodes[i], &vm)) {
            if (refreshed)
                continue;
            if ((rc = vms_refresh(ctx, spec, call)))
                return rc;
            refreshed = true;
            if (!node_lookup(ctx, &spec->nodes[i], &vm))
                continue;
        }
        if (!vm.id[0]) {
            lbp_v(2, "cloudstack: node %s is no VM of this account: not a member",
                  spec->nodes[i].name);
            continue;
        }
        if (!net[0])
            lbp_strlcpy(net, vm.network, CS_ID_MAX);
        if (strcmp(vm.network, net) != 0) {
            lbp_v(2, "cloudstack: node %s is in network %s, not %s: not a member",
                  spec->nodes[i].name, vm.network, net);
            continue;
        }
        struct cs_vm *slot = lbp_vec_push(ids);
        if (!slot)
            return LBP_NOMEM;
        *slot = vm;
    }
    return LBP_OK;
}

/* ---------------------------------------------------------------- the wanted rules */

struct want {
    char name[96];
    char proto[16]; /* tcp, udp, tcp-proxy */
    const char *l4; /* tcp, udp */
    int pub, priv;
};

struct opts {
    bool proxy;
    const char *alg;
    char cidrs[2048]; /* sorted, comma-joined; "0.0.0.0/0" without source ranges */
    struct want w[CS_MAX_PORTS];
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_opts(const struct lbp_lb_spec *spec, struct opts *o, struct lbp_call *call)
{
    const char *sr[256];
    size_t nsr = 0;
    memset(o, 0, sizeof(*o));
    for (size_t i = 0; i < spec->n_annotations; i++) {
        const struct lbp_lb_annotation *a = &spec->annotations[i];
        if (strcmp(a->key, ANN_PROXY) != 0)
            continue;
        if (strcmp(a->value, "true") == 0)
            o->proxy = true;
        else if (strcmp(a->value, "false") != 0) {
            lbp_failf(call, "annotation %s: \"%.64s\" is neither \"true\" nor \"false\"", ANN_PROXY,
                      a->value);
            return LBP_INVALID;
        }
    }
    o->alg = spec->session_affinity && strcmp(spec->session_affinity, "ClientIP") == 0
                 ? "source"
                 : "roundrobin";
    if (spec->n_ports > CS_MAX_PORTS) {
        lbp_failf(call, "%zu ports: CloudStack takes at most %d per Service here", spec->n_ports,
                  CS_MAX_PORTS);
        return LBP_INVALID;
    }
    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        struct want *w = &o->w[o->n++];
        bool udp = strcmp(p->protocol, "UDP") == 0;
        if (!udp && strcmp(p->protocol, "TCP") != 0) {
            lbp_failf(call, "port %d: protocol %s: CloudStack balances only TCP and UDP", p->port,
                      p->protocol);
            return LBP_INVALID;
        }
        if (p->node_port <= 0) {
            lbp_failf(call,
                      "port %d has no NodePort (allocateLoadBalancerNodePorts is false): "
                      "CloudStack forwards to NodePorts",
                      p->port);
            return LBP_INVALID;
        }
        if (udp && o->proxy) {
            lbp_failf(call, "annotation %s: the PROXY protocol needs TCP, and port %d is UDP",
                      ANN_PROXY, p->port);
            return LBP_INVALID;
        }
        lbp_strlcpy(w->proto, udp ? "udp" : o->proxy ? "tcp-proxy" : "tcp", sizeof(w->proto));
        w->l4 = udp ? "udp" : "tcp";
        w->pub = p->port;
        w->priv = p->node_port;
        snprintf(w->name, sizeof(w->name), "%s-%s-%d", spec->lb_name, w->l4, p->port);
        for (size_t k = 0; k + 1 < o->n; k++)
            if (o->w[k].pub == w->pub) {
                lbp_failf(call,
                          "port %d appears twice: CloudStack has one rule per public port "
                          "whatever the protocol",
                          w->pub);
                return LBP_INVALID;
            }
    }
    for (size_t i = 0; i < spec->n_source_ranges && nsr < 256; i++)
        sr[nsr++] = spec->source_ranges[i];
    qsort(sr, nsr, sizeof(sr[0]), cmp_str);
    for (size_t i = 0; i < nsr; i++) {
        if (strchr(sr[i], ':')) {
            lbp_failf(call, "%s: %s is IPv6: CloudStack firewall rules here take IPv4",
                      spec->source_ranges_field ? spec->source_ranges_field
                                                : "loadBalancerSourceRanges",
                      sr[i]);
            return LBP_INVALID;
        }
        size_t len = strlen(o->cidrs);
        snprintf(o->cidrs + len, sizeof(o->cidrs) - len, "%s%s", len ? "," : "", sr[i]);
    }
    if (!o->cidrs[0])
        lbp_strlcpy(o->cidrs, "0.0.0.0/0", sizeof(o->cidrs));
    return LBP_OK;
}

/* A comma list with its entries sorted, to compare CIDR lists as sets. */
static void sorted_list(const char *in, char *out, size_t cap)
{
    char buf[2048], *save = NULL;
    const char *v[256];
    size_t n = 0;
    lbp_strlcpy(buf, in, sizeof(buf));
    for (char *t = strtok_r(buf, ", ", &save); t && n < 256; t = strtok_r(NULL, ", ", &save))
        v[n++] = t;
    qsort(v, n, sizeof(v[0]), cmp_str);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? "," : "", v[i]);
    }
}

static int jint(struct json_object *o, const char *key)
{
    char b[32];
    long v = 0;
    cs_str(o, key, b, sizeof(b));
    lbp_parse_long(b, 0, 65535, &v);
    return (int)v;
}

/* ---------------------------------------------------------------- lookups for lost replies */

/*
 * Associations in flight and the ids they got, process-wide under assoc_mu
 * (held to read or change them, never across a call). A lost reply's lookup
 * takes an address in the network that is untagged, not source NAT, and
 * allocated since its call went out by the server's clock (less
 * CS_ASSOC_SKEW_S), and that no acquisition of this process has: not one
 * answered to another call, nor claimed by another lookup. An association
 * whose answer may still come (SENT) might own any fresh address, so the
 * lookup first waits until every one sent before its listing came back has
 * an answer or has lost it too; among lost ones the fresh addresses are
 * all this process's and interchangeable, and the claim under the lock
 * gives each to one.
 */
#define CS_ASSOC_SKEW_S 2       /* management servers' clocks may differ this much */
#define CS_ASSOC_WAIT_MS 60000  /* a lookup waits this long at most for others' answers */
#define CS_KNOWN_KEEP_MS 120000 /* past the oldest call in flight, no lookup needs an id */
#define CS_KNOWN_MAX 65536

static bool same_place(const struct cs_assoc *a, const struct cs_assoc *b)
{
    if (a->vpc[0] || b->vpc[0])
        return strcmp(a->vpc, b->vpc) == 0;
    return strcmp(a->net, b->net) == 0;
}

static bool known_has(struct lbp_provider_ctx *ctx, const char *id)
{
    for (size_t i = 0; i < ctx->n_known; i++)
        if (strcmp(ctx->known[i].id, id) == 0)
            return true;
    return false;
}

/*
 * Forgets ids older, by CS_KNOWN_KEEP_MS, than every call in flight and than
 * now: a later lookup's call went out after them by more than any skew and
 * round-off, so their allocation time rules them out.
 */
static void known_prune(struct lbp_provider_ctx *ctx)
{
    uint64_t horizon = lbp_now_ms();
    size_t w = 0;
    for (struct cs_assoc *a = ctx->assocs; a; a = a->next)
        if (a->started_ms < horizon)
            horizon = a->started_ms;
    for (size_t i = 0; i < ctx->n_known; i++)
        if (ctx->known[i].added_ms + CS_KNOWN_KEEP_MS >= horizon)
            ctx->known[w++] = ctx->known[i];
    ctx->n_known = w;
}

/* LBP_NOMEM when the set cannot hold another id (a lookup then claims nothing). */
static int known_add(struct lbp_provider_ctx *ctx, const char *id)
{
    if (known_has(ctx, id))
        return LBP_OK;
    if (ctx->n_known == ctx->cap_known) {
        size_t cap = ctx->cap_known ? 2 * ctx->cap_known : 64;
        struct cs_known *k;
        if (cap > CS_KNOWN_MAX || !(k = realloc(ctx->known, cap * sizeof(*k))))
            return LBP_NOMEM;
        ctx->known = k;
        ctx->cap_known = cap;
    }
    lbp_strlcpy(ctx->known[ctx->n_known].id, id, CS_ID_MAX);
    ctx->known[ctx->n_known++].added_ms = lbp_now_ms();
    return LBP_OK;
}

static void assoc_begin(struct lbp_provider_ctx *ctx, struct cs_assoc *a)
{
    pthread_mutex_lock(&ctx->assoc_mu);
    a->state = CS_ASSOC_SENT;
    a->send_no = ++ctx->assoc_sends;
    a->started_ms = lbp_now_ms();
    a->claimed[0] = '\0';
    a->next = ctx->assocs;
    ctx->assocs = a;
    pthread_mutex_unlock(&ctx->assoc_mu);
}

/* The call is over; id (NULL: none) is the address it got. */
static void assoc_end(struct lbp_provider_ctx *ctx, struct cs_assoc *a, const char *id)
{
    bool stolen = false, full = false;
    pthread_mutex_lock(&ctx->assoc_mu);
    for (struct cs_assoc **pp = &ctx->assocs; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    known_prune(ctx);
    if (id && id[0]) {
        /* By the wait in assoc_find no lookup takes an address whose answer may still come;
           another process or a person acting at the same moment could. */
        stolen = strcmp(id, a->claimed) != 0 && known_has(ctx, id);
        full = known_add(ctx, id) != LBP_OK;
    }
    pthread_cond_broadcast(&ctx->assoc_cv);
    pthread_mutex_unlock(&ctx->assoc_mu);
    if (stolen)
        lbp_warn("cloudstack: address %s, answered to an association, was already claimed after "
                 "a lost reply",
                 id);
    if (full)
        lbp_warn("cloudstack: %d addresses acquired in flight: a lost reply cannot be told apart "
                 "until they settle",
                 CS_KNOWN_MAX);
}

/* Another association in this place sent no later than send_no whose answer may still come. */
static bool others_pending(struct lbp_provider_ctx *ctx, const struct cs_assoc *a, uint64_t send_no)
{
    for (struct cs_assoc *o = ctx->assocs; o; o = o->next)
        if (o != a && o->state == CS_ASSOC_SENT && o->send_no <= send_no && same_place(o, a))
            return true;
    return false;
}

static int list_net_ips(struct lbp_provider_ctx *ctx, const char *net, const char *vpc,
                        struct json_object **out, int64_t *clock_ms, bool *has_clock,
                        struct lbp_call *call)
{
    struct cs_q q;
    int rc;
    cs_q_init(&q, "listPublicIpAddresses");
    if (vpc && vpc[0])
        cs_q_add(&q, "vpcid", vpc);
    else
        cs_q_add(&q, "associatednetworkid", net);
    rc = cs_list(ctx, &q, "publicipaddress", out, call);
    *clock_ms = q.clock_ms;
    *has_clock = q.has_clock;
    cs_q_free(&q);
    return rc;
}

static bool in_list(struct json_object *arr, const char *id)
{
    char b[CS_ID_MAX];
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
        if (strcmp(cs_str(json_object_array_get_idx(arr, i), "id", b, sizeof(b)), id) == 0)
            return true;
    return false;
}

/* Untagged, not source NAT, allocated (or being) at or after since_s by the server's clock. */
static bool fresh(struct json_object *ip, int64_t since_s)
{
    struct json_object *t;
    char sn[8], st[32], at[64];
    int64_t when;
    if (strcmp(cs_str(ip, "issourcenat", sn, sizeof(sn)), "true") == 0)
        return false;
    if (json_object_object_get_ex(ip, "tags", &t) && json_object_is_type(t, json_type_array) &&
        json_object_array_length(t))
        return false;
    cs_str(ip, "state", st, sizeof(st));
    if (st[0] && strcmp(st, "Allocating") != 0 && strcmp(st, "Allocated") != 0)
        return false;
    /* No time, no proof it is new. */
    if (lbp_cs_parse_time(cs_str(ip, "allocated", at, sizeof(at)), &when) != LBP_OK)
        return false;
    return when >= since_s;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The address a lost associateIpAddress made, claimed for this call alone (see above). */
static int assoc_find(struct lbp_provider_ctx *ctx, void *ud, char *found, size_t cap,
                      uint64_t sent_ms)
{
    struct cs_assoc *a = ud;
    struct json_object *now = NULL;
    struct lbp_call call = {0};
    struct timespec until;
    int64_t clock_ms = 0, since_s;
    bool has_clock = false, timed_out = false, full = false;
    uint64_t seen;
    int rc;

    pthread_mutex_lock(&ctx->assoc_mu);
    a->state = CS_ASSOC_LOST;
    pthread_cond_broadcast(&ctx->assoc_cv);
    pthread_mutex_unlock(&ctx->assoc_mu);

    rc = list_net_ips(ctx, a->net, a->vpc, &now, &clock_ms, &has_clock, &call);
    if (rc)
        goto out;
    if (!has_clock) {
        lbp_warn("cloudstack: associateIpAddress: the reply was lost and the server's answers "
                 "carry no Date header: a new address cannot be told from an old one");
        rc = LBP_RETRY;
        goto out;
    }
    /* The server's time when the call went out, never later than it was. */
    since_s = floor_div((int64_t)sent_ms + clock_ms, 1000) - CS_ASSOC_SKEW_S;

    pthread_mutex_lock(&ctx->assoc_mu);
    /* Every association whose address the listing may show was sent by now. */
    seen = ctx->assoc_sends;
    lbp_deadline_ts(CS_ASSOC_WAIT_MS, &until);
    if (others_pending(ctx, a, seen))
        ctx->assoc_waits++;
    while (!timed_out && others_pending(ctx, a, seen))
        timed_out = pthread_cond_timedwait(&ctx->assoc_cv, &ctx->assoc_mu, &until) != 0;
    rc = LBP_NOT_FOUND;
    for (size_t i = 0; !timed_out && rc == LBP_NOT_FOUND && i < json_object_array_length(now);
         i++) {
        struct json_object *ip = json_object_array_get_idx(now, i);
        char id[CS_ID_MAX];
        if (!cs_str(ip, "id", id, sizeof(id))[0] || !fresh(ip, since_s) || known_has(ctx, id))
            continue;
        if (known_add(ctx, id) != LBP_OK) {
            full = true;
            break;
        }
        lbp_strlcpy(a->claimed, id, sizeof(a->claimed));
        lbp_strlcpy(found, id, cap);
        rc = LBP_OK;
    }
    if (timed_out || full) {
        rc = LBP_RETRY;
    } else if (rc == LBP_NOT_FOUND) {
        /* Sent again: a lookup that listed before this counts it as sent after its listing. */
        a->state = CS_ASSOC_SENT;
        a->send_no = ++ctx->assoc_sends;
    }
    pthread_mutex_unlock(&ctx->assoc_mu);
    if (timed_out)
        lbp_warn("cloudstack: associateIpAddress: the reply was lost and other associations "
                 "stayed unanswered for %d s: the new address cannot be told apart",
                 CS_ASSOC_WAIT_MS / 1000);
out:
    json_object_put(now);
    return rc;
}

struct rule_lookup {
    const char *name;
    const char *ipid;
};

static int rule_find(struct lbp_provider_ctx *ctx, void *ud, char *found, size_t cap,
                     uint64_t sent_ms)
{
    (void)sent_ms;
    struct rule_lookup *r = ud;
    struct json_object *all = NULL;
    struct lbp_call call = {0};
    char b[160];
    int rc;
    rc = cs_listv(ctx, "listLoadBalancerRules", "loadbalancerrule", &all, &call, "publicipid",
                  r->ipid, "name", r->name, NULL);
    if (rc)
        return rc;
    rc = LBP_NOT_FOUND;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *o = json_object_array_get_idx(all, i);
        if (strcmp(cs_str(o, "name", b, sizeof(b)), r->name) == 0) {
            cs_str(o, "id", found, cap);
            rc = LBP_OK;
            break;
        }
    }
    json_object_put(all);
    return rc;
}

struct fw_lookup {
    const char *ipid, *proto, *cidrs;
    int port;
};

static int fw_find(struct lbp_provider_ctx *ctx, void *ud, char *found, size_t cap,
                   uint64_t sent_ms)
{
    (void)sent_ms;
    struct fw_lookup *f = ud;
    struct json_object *all = NULL;
    struct lbp_call call = {0};
    int rc;
    rc = cs_listv(ctx, "listFirewallRules", "firewallrule", &all, &call, "ipaddressid", f->ipid,
                  NULL);
    if (rc)
        return rc;
    rc = LBP_NOT_FOUND;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        struct json_object *o = json_object_array_get_idx(all, i);
        char p[16], c1[2048], c2[2048];
        sorted_list(cs_str(o, "cidrlist", c1, sizeof(c1)), c2, sizeof(c2));
        if (strcmp(cs_str(o, "protocol", p, sizeof(p)), f->proto) == 0 &&
            jint(o, "startport") == f->port && strcmp(c2, f->cidrs) == 0) {
            cs_str(o, "id", found, cap);
            rc = LBP_OK;
            break;
        }
    }
    json_object_put(all);
    return rc;
}

/* ---------------------------------------------------------------- the address */

/* Acquires an address in the network (or VPC) and tags it; never twice for one lost reply. */
static int acquire(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *net,
                   const char *vpc, struct jobs *j, struct lbp_call *call)
{
    struct cs_assoc a = {.net = net ? net : "", .vpc = vpc ? vpc : ""};
    char id[CS_ID_MAX] = "";
    struct cs_q q;
    int rc;
    cs_q_init(&q, "associateIpAddress");
    if (a.vpc[0])
        cs_q_add(&q, "vpcid", a.vpc);
    else
        cs_q_add(&q, "networkid", a.net);
    /* Nothing is held across the call: a lost reply's lookup tells the addresses apart. */
    assoc_begin(ctx, &a);
    rc = change(ctx, &q, j, "associating an address", assoc_find, &a, id, call);
    assoc_end(ctx, &a, rc == LBP_OK ? id : NULL);
    /* Tag at once (the address id is known before its job ends) to keep the untagged window short.
     */
    if (rc == LBP_OK) {
        lbp_info("cloudstack %s/%s: acquired address %s", spec->namespace, spec->name, id);
        rc = tag(ctx, "PublicIpAddress", id, spec, true, j, call);
    }
    return rc;
}

/* The address loadBalancerIP names, checked: this account's, allocated, no other Service's. */
static int requested(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct json_object **out, struct lbp_call *call)
{
    struct json_object *all = NULL, *ip;
    char st[32], sn[8];
    const char *other;
    int rc;
    rc = cs_listv(ctx, "listPublicIpAddresses", "publicipaddress", &all, call, "ipaddress",
                  spec->requested_ip, NULL);
    if (rc)
        return rc;
    ip = json_object_array_get_idx(all, 0);
    if (!ip) {
        lbp_failf(call,
                  "loadBalancerIP %s is not a public address of this account "
                  "(listPublicIpAddresses found none): acquire it first",
                  spec->requested_ip);
        rc = LBP_INVALID;
    } else if (strcmp(cs_str(ip, "issourcenat", sn, sizeof(sn)), "true") == 0) {
        lbp_failf(call, "loadBalancerIP %s is the network's source NAT address: pick another",
                  spec->requested_ip);
        rc = LBP_INVALID;
    } else if ((other = cs_tag(ip, CS_TAG_LB)) && strcmp(other, spec->lb_name) != 0) {
        const char *svc = cs_tag(ip, CS_TAG_SERVICE);
        lbp_failf(call, "loadBalancerIP %s is in use by Service %s", spec->requested_ip,
                  svc ? svc : other);
        rc = LBP_CONFLICT;
    } else if (strcmp(cs_str(ip, "state", st, sizeof(st)), "Allocated") != 0) {
        lbp_failf(call, "loadBalancerIP %s is %s, not Allocated", spec->requested_ip, st);
        rc = LBP_INVALID;
    } else {
        *out = json_object_get(ip);
    }
    json_object_put(all);
    return rc;
}

/* Gives up an address this LB no longer uses: released if acquired, else our tags dropped. */
static int let_go(struct lbp_provider_ctx *ctx, struct json_object *ip, struct json_object *rules,
                  struct jobs *j, struct lbp_call *call)
{
    char id[CS_ID_MAX], b[CS_ID_MAX];
    struct cs_q q;
    int rc = LBP_OK;
    cs_str(ip, "id", id, sizeof(id));
    if (cs_has_tag(ip, CS_TAG_ACQUIRED, "true")) {
        return act(ctx, j, "releasing the address", call, "disassociateIpAddress", "id", id, NULL);
    }
    /* A requested address stays: our rules on it go, then our tags. */
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(rules); i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        if (strcmp(cs_str(r, "publicipid", b, sizeof(b)), id) != 0)
            continue;
        rc = act(ctx, j, "deleting rules", call, "deleteLoadBalancerRule", "id",
                 cs_str(r, "id", b, sizeof(b)), NULL);
    }
    if (rc == LBP_OK) {
        const char *kv[] = {
            CS_TAG_CLUSTER, cs_tag(ip, CS_TAG_CLUSTER),
            CS_TAG_LB,      cs_tag(ip, CS_TAG_LB),
            CS_TAG_SERVICE, cs_tag(ip, CS_TAG_SERVICE) ? cs_tag(ip, CS_TAG_SERVICE) : ""};
        cs_q_init(&q, "deleteTags");
        cs_q_add(&q, "resourcetype", "PublicIpAddress");
        cs_q_add(&q, "resourceids", id);
        add_tags(&q, kv, cs_tag(ip, CS_TAG_SERVICE) ? 3 : 2);
        rc = change(ctx, &q, j, "untagging the address", NULL, NULL, NULL, call);
    }
    return rc;
}

/* ---------------------------------------------------------------- firewall / ACL */

/*
 * Firewall rules on an isolated network's address: one per port, the wanted CIDRs. On an
 * address lbprov acquired every rule is this Service's, so a rule left by a delete that
 * failed after its LB rule went is still found and removed. On a requested address only
 * rules on ports our LB rules use or want are ours.
 */
static int firewall(struct lbp_provider_ctx *ctx, struct json_object *ip, const struct opts *o,
                    struct json_object *rules, struct jobs *j, struct lbp_call *call)
{
    const bool whole = cs_has_tag(ip, CS_TAG_ACQUIRED, "true");
    char ipid[CS_ID_MAX];
    struct json_object *fws = NULL;
    bool have[CS_MAX_PORTS] = {0};
    struct cs_q q;
    int rc;
    cs_str(ip, "id", ipid, sizeof(ipid));
    rc = cs_listv(ctx, "listFirewallRules", "firewallrule", &fws, call, "ipaddressid", ipid, NULL);
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(fws); i++) {
        struct json_object *f = json_object_array_get_idx(fws, i);
        char p[16], c1[2048], c2[2048], id[CS_ID_MAX];
        int port = jint(f, "startport");
        bool mine = whole, keep = false;
        cs_str(f, "protocol", p, sizeof(p));
        sorted_list(cs_str(f, "cidrlist", c1, sizeof(c1)), c2, sizeof(c2));
        /* Ours: the whole address, or a port one of our rules uses or wants. */
        for (size_t k = 0; k < o->n; k++)
            if (o->w[k].pub == port) {
                mine = true;
                if (!have[k] && strcmp(p, o->w[k].l4) == 0 && jint(f, "endport") == port &&
                    strcmp(c2, o->cidrs) == 0)
                    keep = have[k] = true;
            }
        for (size_t k = 0; !mine && k < json_object_array_length(rules); k++)
            mine = jint(json_object_array_get_idx(rules, k), "publicport") == port;
        if (!mine || keep || !jobs_room(j))
            continue;
        rc = act(ctx, j, "updating firewall rules", call, "deleteFirewallRule", "id",
                 cs_str(f, "id", id, sizeof(id)), NULL);
    }
    for (size_t k = 0; rc == LBP_OK && k < o->n; k++) {
        struct fw_lookup fl = {
            .ipid = ipid, .proto = o->w[k].l4, .cidrs = o->cidrs, .port = o->w[k].pub};
        if (have[k] || !jobs_room(j))
            continue;
        cs_q_init(&q, "createFirewallRule");
        cs_q_add(&q, "ipaddressid", ipid);
        cs_q_add(&q, "protocol", o->w[k].l4);
        cs_q_addf(&q, "startport", "%d", o->w[k].pub);
        cs_q_addf(&q, "endport", "%d", o->w[k].pub);
        cs_q_add(&q, "cidrlist", o->cidrs);
        rc = change(ctx, &q, j, "opening firewall rules", fw_find, &fl, NULL, call);
    }
    json_object_put(fws);
    return rc;
}

/* Network ACL items on a VPC tier, tagged as this LB's: allow the CIDRs to each NodePort. */
static int acls(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *tier,
                const struct opts *o, struct jobs *j, struct lbp_call *call)
{
    struct json_object *items = NULL;
    bool have[CS_MAX_PORTS] = {0};
    struct cs_q q;
    int rc;
    rc = cs_listv(ctx, "listNetworkACLs", "networkacl", &items, call, "networkid", tier,
                  "tags[0].key", CS_TAG_LB, "tags[0].value", spec->lb_name, NULL);
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(items); i++) {
        struct json_object *a = json_object_array_get_idx(items, i);
        char p[16], c1[2048], c2[2048], id[CS_ID_MAX];
        bool keep = false;
        if (!ours(ctx, a, spec->lb_name))
            continue;
        cs_str(a, "protocol", p, sizeof(p));
        sorted_list(cs_str(a, "cidrlist", c1, sizeof(c1)), c2, sizeof(c2));
        for (size_t k = 0; k < o->n; k++)
            if (!have[k] && jint(a, "startport") == o->w[k].priv &&
                jint(a, "endport") == o->w[k].priv && strcmp(p, o->w[k].l4) == 0 &&
                strcmp(c2, o->cidrs) == 0)
                keep = have[k] = true;
        if (keep || !jobs_room(j))
            continue;
        rc = act(ctx, j, "updating network ACLs", call, "deleteNetworkACL", "id",
                 cs_str(a, "id", id, sizeof(id)), NULL);
    }
    for (size_t k = 0; rc == LBP_OK && k < o->n; k++) {
        char id[CS_ID_MAX];
        if (have[k] || !jobs_room(j))
            continue;
        cs_q_init(&q, "createNetworkACL");
        cs_q_add(&q, "networkid", tier);
        cs_q_add(&q, "protocol", o->w[k].l4);
        cs_q_addf(&q, "startport", "%d", o->w[k].priv);
        cs_q_addf(&q, "endport", "%d", o->w[k].priv);
        cs_q_add(&q, "cidrlist", o->cidrs);
        cs_q_add(&q, "action", "allow");
        cs_q_add(&q, "traffictype", "ingress");
        rc = change(ctx, &q, j, "adding network ACLs", NULL, NULL, id, call);
        if (rc == LBP_OK && id[0])
            rc = tag(ctx, "NetworkACL", id, spec, false, j, call);
    }
    json_object_put(items);
    return rc;
}

/* ---------------------------------------------------------------- members */

static int members(struct lbp_provider_ctx *ctx, struct json_object *rule,
                   const struct lbp_vec *vms, struct jobs *j, struct lbp_call *call)
{
    struct json_object *inst = NULL;
    struct lbp_buf add, del;
    char rid[CS_ID_MAX], b[CS_ID_MAX];
    int rc;
    cs_str(rule, "id", rid, sizeof(rid));
    rc = cs_listv(ctx, "listLoadBalancerRuleInstances", "loadbalancerruleinstance", &inst, call,
                  "id", rid, NULL);
    if (rc)
        return rc;
    lbp_buf_init(&add, 1u << 20);
    lbp_buf_init(&del, 1u << 20);
    for (size_t i = 0; i < vms->n; i++) {
        const struct cs_vm *vm = lbp_vec_at(vms, i);
        if (!in_list(inst, vm->id))
            lbp_buf_addf(&add, "%s%s", add.len ? "," : "", vm->id);
    }
    for (size_t i = 0; i < json_object_array_length(inst); i++) {
        bool want = false;
        cs_str(json_object_array_get_idx(inst, i), "id", b, sizeof(b));
        for (size_t k = 0; !want && k < vms->n; k++)
            want = strcmp(((const struct cs_vm *)lbp_vec_at(vms, k))->id, b) == 0;
        if (!want)
            lbp_buf_addf(&del, "%s%s", del.len ? "," : "", b);
    }
    json_object_put(inst);
    if (del.len && jobs_room(j)) {
        rc = act(ctx, j, "removing members", call, "removeFromLoadBalancerRule", "id", rid,
                 "virtualmachineids", del.data, NULL);
    }
    if (rc == LBP_OK && add.len && jobs_room(j)) {
        rc = act(ctx, j, "assigning members", call, "assignToLoadBalancerRule", "id", rid,
                 "virtualmachineids", add.data, NULL);
    }
    lbp_buf_free(&add);
    lbp_buf_free(&del);
    return rc;
}

/* ---------------------------------------------------------------- slots */

static void fill_status(struct json_object *ip, struct lbp_lb_status *st)
{
    memset(st, 0, sizeof(*st));
    cs_str(ip, "ipaddress", st->ingress[0].ip, sizeof(st->ingress[0].ip));
    st->n_ingress = st->ingress[0].ip[0] ? 1 : 0;
}

/* The address this LB uses now: the requested one, else the acquired one tagged for it. */
static struct json_object *current_ip(struct json_object *tagged, const char *requested_ip)
{
    char b[64];
    for (size_t i = 0; i < json_object_array_length(tagged); i++) {
        struct json_object *ip = json_object_array_get_idx(tagged, i);
        if (requested_ip && *requested_ip
                ? strcmp(cs_str(ip, "ipaddress", b, sizeof(b)), requested_ip) == 0
                : cs_has_tag(ip, CS_TAG_ACQUIRED, "true"))
            return ip;
    }
    return NULL;
}

static int cs_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct lbp_lb_status *st, struct lbp_call *call)
{
    struct json_object *tagged = NULL, *ip;
    int rc = tagged_ips(ctx, spec->lb_name, &tagged, call);
    if (rc)
        return rc;
    ip = current_ip(tagged, spec->requested_ip);
    if (!ip)
        ip = json_object_array_get_idx(tagged, 0);
    if (ip)
        fill_status(ip, st);
    else
        rc = LBP_NOT_FOUND;
    json_object_put(tagged);
    return rc;
}

/* Does an existing rule serve wanted rule w unchanged (but for the algorithm)? */
static bool rule_fits(struct json_object *r, const struct want *w, const char *ipid)
{
    char b[160];
    return strcmp(cs_str(r, "name", b, sizeof(b)), w->name) == 0 &&
           strcmp(cs_str(r, "publicipid", b, sizeof(b)), ipid) == 0 &&
           jint(r, "privateport") == w->priv && jint(r, "publicport") == w->pub &&
           strcasecmp(cs_str(r, "protocol", b, sizeof(b))[0] ? b : "tcp", w->proto) == 0;
}

static int ensure_rules(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct opts *o, struct json_object *ip, const char *net,
                        const char *vpc, const char *acl, const struct lbp_vec *vms, struct jobs *j,
                        struct lbp_call *call)
{
    struct json_object *rules = NULL;
    bool have[CS_MAX_PORTS] = {0}, deleting = false;
    char ipid[CS_ID_MAX], b[CS_ID_MAX];
    struct cs_q q;
    int rc;
    (void)acl;
    cs_str(ip, "id", ipid, sizeof(ipid));
    rc = our_rules(ctx, spec->lb_name, &rules, call);
    if (rc)
        return rc;
    /* Rules that no longer fit go first: their public port may be wanted again. */
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(rules); i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        bool fits = false;
        for (size_t k = 0; k < o->n && !fits; k++)
            if (!have[k] && rule_fits(r, &o->w[k], ipid))
                fits = have[k] = true;
        if (fits || !jobs_room(j))
            continue;
        rc = act(ctx, j, "deleting rules", call, "deleteLoadBalancerRule", "id",
                 cs_str(r, "id", b, sizeof(b)), NULL);
        deleting = true;
    }
    if (rc)
        goto out;
    if (deleting) {
        /* Their firewall rules go with them (only the rules' list still names their ports). */
        if (!vpc[0])
            rc = firewall(ctx, ip, o, rules, j, call);
        goto out;
    }
    for (size_t k = 0; rc == LBP_OK && k < o->n; k++) {
        struct rule_lookup rl = {.name = o->w[k].name, .ipid = ipid};
        if (have[k] || !jobs_room(j))
            continue;
        cs_q_init(&q, "createLoadBalancerRule");
        cs_q_add(&q, "name", o->w[k].name);
        cs_q_add(&q, "publicipid", ipid);
        cs_q_add(&q, "networkid", net);
        cs_q_add(&q, "algorithm", o->alg);
        cs_q_add(&q, "protocol", o->w[k].proto);
        cs_q_addf(&q, "publicport", "%d", o->w[k].pub);
        cs_q_addf(&q, "privateport", "%d", o->w[k].priv);
        cs_q_add(&q, "openfirewall", "false");
        cs_q_addf(&q, "description", "Kubernetes Service %s/%s", spec->namespace, spec->name);
        rc = change(ctx, &q, j, "creating rules", rule_find, &rl, NULL, call);
    }
    /* Rules that stay: algorithm, members. */
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(rules); i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        char alg[32];
        if (strcmp(cs_str(r, "algorithm", alg, sizeof(alg)), o->alg) != 0 && jobs_room(j)) {
            rc = act(ctx, j, "changing the algorithm", call, "updateLoadBalancerRule", "id",
                     cs_str(r, "id", b, sizeof(b)), "algorithm", o->alg, NULL);
        }
        if (rc == LBP_OK)
            rc = members(ctx, r, vms, j, call);
    }
    if (rc == LBP_OK && !vpc[0])
        rc = firewall(ctx, ip, o, rules, j, call);
    else if (rc == LBP_OK)
        rc = acls(ctx, spec, net, o, j, call);
out:
    json_object_put(rules);
    return rc;
}

static int cs_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_lb_status *st, struct lbp_call *call)
{
    struct json_object *tagged = NULL, *ip = NULL, *req = NULL, *rules = NULL;
    struct lbp_vec vms;
    struct jobs j = {0};
    struct opts o;
    char net[CS_ID_MAX], vpc[CS_ID_MAX] = "", acl[CS_ID_MAX] = "", b[64];
    int rc;

    rc = lbp_lro_poll(ctx->ops, spec->lb_name, cs_poll_jobs, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    call->err[0] = '\0';
    if ((rc = parse_opts(spec, &o, call)))
        return rc;
    lbp_vec_init(&vms, sizeof(struct cs_vm));
    if ((rc = resolve_nodes(ctx, spec, &vms, net, call)))
        goto out;
    if (!net[0]) {
        lbp_failf(call, "no node is a VM of this CloudStack account (by providerID or name), and "
                        "the cloud-config names no network-id: nowhere to put the address");
        call->retry_after_s = 30;
        rc = LBP_RETRY;
        goto out;
    }
    if ((rc = net_info(ctx, net, vpc, acl, call)) ||
        (rc = tagged_ips(ctx, spec->lb_name, &tagged, call)))
        goto out;
    if (spec->requested_ip && *spec->requested_ip) {
        if ((rc = requested(ctx, spec, &req, call)))
            goto out;
    }
    ip = req ? req : current_ip(tagged, NULL);
    /* Addresses tagged for this LB that it no longer uses (loadBalancerIP changed). */
    for (size_t i = 0; i < json_object_array_length(tagged); i++) {
        struct json_object *t = json_object_array_get_idx(tagged, i);
        char id1[CS_ID_MAX], id2[CS_ID_MAX];
        if (ip &&
            strcmp(cs_str(t, "id", id1, sizeof(id1)), cs_str(ip, "id", id2, sizeof(id2))) == 0)
            continue;
        if (!rules && (rc = our_rules(ctx, spec->lb_name, &rules, call)))
            goto out;
        if ((rc = let_go(ctx, t, rules, &j, call)))
            goto out;
    }
    if (j.n || j.changed) {
        rc = jobs_finish(ctx, spec->lb_name, &j, call);
        goto out;
    }
    if (!ip) {
        rc = acquire(ctx, spec, net, vpc, &j, call);
        if (rc == LBP_OK)
            rc = jobs_finish(ctx, spec->lb_name, &j, call);
        goto out;
    }
    if (strcmp(cs_str(ip, "state", b, sizeof(b)), "Allocated") != 0) {
        lbp_failf(call, "address %s is %s", cs_str(ip, "ipaddress", b, sizeof(b)),
                  cs_str(ip, "state", b, sizeof(b)));
        call->retry_after_s = 1;
        rc = LBP_PENDING;
        goto out;
    }
    if (req && !ours(ctx, req, spec->lb_name)) {
        char id[CS_ID_MAX];
        if ((rc = tag(ctx, "PublicIpAddress", cs_str(req, "id", id, sizeof(id)), spec, false, &j,
                      call)))
            goto out;
    }
    rc = ensure_rules(ctx, spec, &o, ip, net, vpc, acl, &vms, &j, call);
    if (rc == LBP_OK)
        rc = jobs_finish(ctx, spec->lb_name, &j, call);
    if (rc == LBP_OK)
        fill_status(ip, st);
out:
    if (rc && rc != LBP_PENDING && j.n)
        /* What was started still runs: wait for it next time rather than start it again. */
        lbp_lro_start(ctx->ops, spec->lb_name, j.what ? j.what : "changing", j.ref, 1,
                      &(struct lbp_call){0});
    json_object_put(tagged);
    json_object_put(req);
    json_object_put(rules);
    lbp_vec_free(&vms);
    if (rc && rc != LBP_PENDING)
        lbp_v(2, "cloudstack %s/%s: ensure: %s: %s", spec->namespace, spec->name, lbp_rc_str(rc),
              call->err);
    return rc;
}

static int cs_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                             struct lbp_call *call)
{
    struct lbp_lb_status st;
    return cs_ensure(ctx, spec, &st, call);
}

static int cs_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                     struct lbp_call *call)
{
    struct json_object *tagged = NULL, *rules = NULL, *items = NULL;
    struct jobs j = {0};
    struct cs_q q;
    char b[CS_ID_MAX];
    int rc;

    rc = lbp_lro_poll(ctx->ops, spec->lb_name, cs_poll_jobs, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    call->err[0] = '\0';
    if ((rc = tagged_ips(ctx, spec->lb_name, &tagged, call)) ||
        (rc = our_rules(ctx, spec->lb_name, &rules, call)))
        goto out;
    /* Rules on addresses not tagged for us (a requested address whose tags went first). */
    for (size_t i = 0; i < json_object_array_length(rules); i++) {
        struct json_object *r = json_object_array_get_idx(rules, i);
        char ipid[CS_ID_MAX];
        cs_str(r, "publicipid", ipid, sizeof(ipid));
        if (in_list(tagged, ipid))
            continue;
        cs_q_init(&q, "deleteLoadBalancerRule");
        cs_q_add(&q, "id", cs_str(r, "id", b, sizeof(b)));
        if ((rc = change(ctx, &q, &j, "deleting rules", NULL, NULL, NULL, call)))
            goto out;
    }
    for (size_t i = 0; i < json_object_array_length(tagged); i++) {
        struct json_object *ip = json_object_array_get_idx(tagged, i);
        char ipid[CS_ID_MAX];
        cs_str(ip, "id", ipid, sizeof(ipid));
        /* The firewall rules of a kept address (released ones take theirs along). */
        if (!cs_has_tag(ip, CS_TAG_ACQUIRED, "true")) {
            struct json_object *fws = NULL;
            rc = cs_listv(ctx, "listFirewallRules", "firewallrule", &fws, call, "ipaddressid", ipid,
                          NULL);
            for (size_t k = 0; rc == LBP_OK && k < json_object_array_length(fws); k++) {
                struct json_object *f = json_object_array_get_idx(fws, k);
                bool mine = false;
                for (size_t m = 0; m < json_object_array_length(rules); m++)
                    mine |= jint(json_object_array_get_idx(rules, m), "publicport") ==
                            jint(f, "startport");
                if (!mine)
                    continue;
                rc = act(ctx, &j, "deleting firewall rules", call, "deleteFirewallRule", "id",
                         cs_str(f, "id", b, sizeof(b)), NULL);
            }
            json_object_put(fws);
            if (rc)
                goto out;
        }
        if ((rc = let_go(ctx, ip, rules, &j, call)))
            goto out;
    }
    /* Network ACL items tagged for this LB, in any tier. */
    rc = cs_listv(ctx, "listNetworkACLs", "networkacl", &items, call, "tags[0].key", CS_TAG_LB,
                  "tags[0].value", spec->lb_name, NULL);
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(items); i++) {
        struct json_object *a = json_object_array_get_idx(items, i);
        if (!ours(ctx, a, spec->lb_name))
            continue;
        rc = act(ctx, &j, "deleting network ACLs", call, "deleteNetworkACL", "id",
                 cs_str(a, "id", b, sizeof(b)), NULL);
    }
    if (rc == LBP_OK)
        rc = jobs_finish(ctx, spec->lb_name, &j, call);
out:
    if (rc && rc != LBP_PENDING && j.n)
        lbp_lro_start(ctx->ops, spec->lb_name, j.what ? j.what : "deleting", j.ref, 1,
                      &(struct lbp_call){0});
    json_object_put(tagged);
    json_object_put(rules);
    json_object_put(items);
    return rc;
}

static int cs_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                         struct lbp_call *call)
{
    struct json_object *all = NULL;
    struct lbp_owned_list l;
    int rc;
    rc = cs_listv(ctx, "listPublicIpAddresses", "publicipaddress", &all, call, "tags[0].key",
                  CS_TAG_CLUSTER, "tags[0].value", ctx->cluster, NULL);
    if (rc)
        return rc;
    lbp_owned_init(&l);
    for (size_t i = 0; rc == LBP_OK && i < json_object_array_length(all); i++) {
        struct json_object *ip = json_object_array_get_idx(all, i);
        const char *lb = cs_tag(ip, CS_TAG_LB);
        if (!cs_has_tag(ip, CS_TAG_CLUSTER, ctx->cluster) || !lb)
            continue;
        rc = lbp_owned_add_key(&l, lb, cs_tag(ip, CS_TAG_SERVICE));
    }
    json_object_put(all);
    if (rc) {
        lbp_owned_free(&l);
        return rc;
    }
    return lbp_owned_take(&l, out, n);
}

static int cs_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    struct json_object *z = NULL;
    struct cs_q q;
    int rc;
    cs_q_init(&q, "listZones");
    if (ctx->zone[0])
        cs_q_add(&q, is_uuid(ctx->zone) ? "id" : "name", ctx->zone);
    rc = cs_read(ctx, &q, &z, call);
    cs_q_free(&q);
    json_object_put(z);
    return rc;
}

/* /debug/cloudstack: configuration and caches, never a key. */
static char *cs_debug_json(struct lbp_provider_ctx *ctx)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    json_object_object_add(o, "apiUrl", json_object_new_string(ctx->api_url));
    json_object_object_add(o, "cluster", json_object_new_string(ctx->cluster));
    json_object_object_add(o, "project", json_object_new_string(ctx->project));
    json_object_object_add(o, "network", json_object_new_string(ctx->network));
    lbp_json_add_u64(o, "cachedVMs", lbp_node_cache_count(ctx->vms));
    lbp_json_add_u64(o, "jobsInFlight", lbp_lro_count(ctx->ops));
    size_t assocs = 0;
    pthread_mutex_lock(&ctx->assoc_mu);
    for (struct cs_assoc *a = ctx->assocs; a; a = a->next)
        assocs++;
    lbp_json_add_u64(o, "associationsInFlight", assocs);
    lbp_json_add_u64(o, "lostAssociationWaits", ctx->assoc_waits);
    lbp_json_add_u64(o, "addressesKnown", ctx->n_known);
    pthread_mutex_unlock(&ctx->assoc_mu);
    return lbp_http_debug_text(o, ctx->http);
}

const struct lbp_provider lbp_provider_cloudstack = {
    .name = "cloudstack",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_MIXED_PROTOCOLS | LBP_CAP_SOURCE_RANGES |
            LBP_CAP_NEEDS_NODEPORTS | LBP_CAP_REQUESTED_IP,
    .init = cs_init,
    .cleanup = cs_cleanup,
    .get = cs_get,
    .ensure = cs_ensure,
    .update_targets = cs_update_targets,
    .remove = cs_remove,
    .list_owned = cs_list_owned,
    .ping = cs_ping,
    .debug_json = cs_debug_json,
};
