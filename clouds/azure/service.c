/*
 * service.c — one Service's share of the cluster's Azure objects.
 *
 * A Service owns, named after "a" + its UID without dashes (owner):
 *   - a frontend IP configuration `owner` on the cluster's load balancer
 *     (`<name>`, public) or its internal one (`<name>-internal`, a private
 *     address in the subnet);
 *   - per port and protocol a rule and a probe `owner-<PROTO>-<port>`;
 *   - per port, protocol and source range a security rule
 *     `owner-<PROTO>-<port>-<source>` on the cluster's security group;
 *   - for a public Service, a Standard static public IP
 *     (`<cluster>-owner`, or the `azure-pip-name` annotation's; one that
 *     exists and was not made by lbprov is used as it is and never deleted).
 * The names and defaults are cloud-provider-azure's, so a cluster can move
 * from it; the annotations are read here and a bad value is an error
 * naming the annotation.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/azure/azure_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define ANN "service.beta.kubernetes.io/"
#define A_INTERNAL ANN "azure-load-balancer-internal"
#define A_SUBNET ANN "azure-load-balancer-internal-subnet"
#define A_PIP_NAME ANN "azure-pip-name"
#define A_PIP_TAGS ANN "azure-pip-tags"
#define A_DNS ANN "azure-dns-label-name"
#define A_RG ANN "azure-load-balancer-resource-group"
#define A_PROBE_PROTO ANN "azure-load-balancer-health-probe-protocol"
#define A_PROBE_PATH ANN "azure-load-balancer-health-probe-request-path"
#define A_IDLE ANN "azure-load-balancer-tcp-idle-timeout"
#define A_NO_RESET ANN "azure-load-balancer-disable-tcp-reset"

#define PROBE_INTERVAL 5
#define PROBE_THRESHOLD 2
#define IDLE_DEFAULT 4

static const char *ann(const struct lbp_lb_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (spec->annotations[i].key && strcmp(spec->annotations[i].key, key) == 0)
            return spec->annotations[i].value ? spec->annotations[i].value : "";
    return NULL;
}

static int boolean(const struct lbp_lb_spec *spec, const char *key, bool *out,
                   struct lbp_call *call)
{
    const char *v = ann(spec, key);
    if (!v)
        return LBP_OK;
    if (strcasecmp(v, "true") == 0)
        *out = true;
    else if (strcasecmp(v, "false") == 0)
        *out = false;
    else {
        lbp_failf(call, "annotation %s: \"%.40s\" is not true or false", key, v);
        return LBP_INVALID;
    }
    return LBP_OK;
}

/* ARM resource names: letters, digits, '_', '.', '-'; starts alphanumeric. */
static bool arm_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return s[n - 1] != '.';
}

/* Azure's DNS label rule: ^[a-z][a-z0-9-]{1,61}[a-z0-9]$. */
static bool dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63 || !islower((unsigned char)s[0]) || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

void az_pip_default_name(const char *cluster, const char *owner, char out[AZ_NAME_MAX + 1])
{
    /* cut at ARM's 80 characters, as upstream does */
    size_t n = strlen(cluster);
    if (n > AZ_NAME_MAX)
        n = AZ_NAME_MAX;
    memcpy(out, cluster, n);
    out[n] = 0;
    strncat(out, "-", AZ_NAME_MAX - n);
    strncat(out, owner, AZ_NAME_MAX - strlen(out));
}

void az_rule_name(const char *owner, const char *proto, int port, char out[AZ_NAME_MAX + 1])
{
    snprintf(out, AZ_NAME_MAX + 1, "%s-%s-%d", owner, proto, port);
}

void az_nsg_rule_name(const char *owner, const char *proto, int port, const char *source,
                      char out[AZ_NAME_MAX + 1])
{
    char safe[64];
    size_t i = 0;
    /* "/" and ":" are not allowed in a rule name: a CIDR becomes 10.0.0.0_8, 2001.db8.._32. */
    for (; source[i] && i + 1 < sizeof(safe); i++)
        safe[i] = source[i] == '/' ? '_' : source[i] == ':' ? '.' : source[i];
    safe[i] = 0;
    /* snprintf cuts a name past Azure's limit; out stays terminated */
    if (snprintf(out, AZ_NAME_MAX + 1, "%s-%s-%d-%s", owner, proto, port, safe) > AZ_NAME_MAX)
        out[AZ_NAME_MAX] = 0;
}

void az_opts_free(struct az_opts *o)
{
    json_object_put(o->pip_tags);
    o->pip_tags = NULL;
}

static int parse_tags(const char *v, struct json_object **out, struct lbp_call *call)
{
    struct json_object *t = json_object_new_object();
    char buf[1024], *save = NULL;
    if (strlen(v) >= sizeof(buf)) {
        json_object_put(t);
        lbp_failf(call, "annotation %s: longer than %zu characters", A_PIP_TAGS, sizeof(buf) - 1);
        return LBP_INVALID;
    }
    lbp_strlcpy(buf, v, sizeof(buf));
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '='), *k = kv, *val;
        while (*k == ' ')
            k++;
        if (!eq || eq == k) {
            json_object_put(t);
            lbp_failf(call, "annotation %s: \"%.60s\" is not key=value", A_PIP_TAGS, kv);
            return LBP_INVALID;
        }
        *eq = 0;
        val = eq + 1;
        while (*val == ' ')
            val++;
        for (char *e = val + strlen(val); e > val && e[-1] == ' ';)
            *--e = 0;
        for (char *e = eq - 1; e > k && *e == ' '; e--)
            *e = 0;
        if (strncasecmp(k, "k8s-azure-", 10) == 0) {
            json_object_put(t);
            lbp_failf(call, "annotation %s: tag %.60s is lbprov's own", A_PIP_TAGS, k);
            return LBP_INVALID;
        }
        json_object_object_add(t, k, json_object_new_string(val));
    }
    *out = t;
    return LBP_OK;
}

int az_opts_parse(const struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  struct az_opts *o, struct lbp_call *call)
{
    const char *v;
    long n;
    int rc;
    memset(o, 0, sizeof(*o));
    o->idle_timeout = IDLE_DEFAULT;
    o->tcp_reset = true;
    for (size_t i = 0; i < spec->n_ports; i++)
        if (spec->ports[i].protocol && strcmp(spec->ports[i].protocol, "SCTP") == 0) {
            lbp_failf(call, "port %d: Azure load balancers do not carry SCTP", spec->ports[i].port);
            return LBP_INVALID;
        }
    if ((rc = boolean(spec, A_INTERNAL, &o->internal, call)))
        return rc;
    lbp_strlcpy(o->subnet, ctx->cfg.subnet, sizeof(o->subnet));
    if ((v = ann(spec, A_SUBNET)) && *v) {
        if (!arm_name(v, sizeof(o->subnet) - 1)) {
            lbp_failf(call, "annotation %s: \"%.60s\" is not a subnet name", A_SUBNET, v);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->subnet, v, sizeof(o->subnet));
    }
    if (o->internal && !o->subnet[0]) {
        lbp_failf(call,
                  "internal Service: no subnet (set subnetName in azure.json or annotation "
                  "%s)",
                  A_SUBNET);
        return LBP_INVALID;
    }
    lbp_strlcpy(o->pip_rg, ctx->cfg.rg, sizeof(o->pip_rg));
    if ((v = ann(spec, A_RG)) && *v) {
        if (strlen(v) >= sizeof(o->pip_rg) || strpbrk(v, "/?#% ")) {
            lbp_failf(call, "annotation %s: \"%.60s\" is not a resource group name", A_RG, v);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->pip_rg, v, sizeof(o->pip_rg));
    }
    az_pip_default_name(ctx->cluster, spec->lb_name, o->pip_name);
    if ((v = ann(spec, A_PIP_NAME)) && *v) {
        if (!arm_name(v, AZ_NAME_MAX)) {
            lbp_failf(call,
                      "annotation %s: \"%.60s\" is not a public IP name (1-80 letters, digits, "
                      "'_', '.', '-')",
                      A_PIP_NAME, v);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->pip_name, v, sizeof(o->pip_name));
        o->pip_named = true;
    }
    if ((v = ann(spec, A_DNS)) && *v) {
        if (!dns_label(v)) {
            lbp_failf(call,
                      "annotation %s: \"%.63s\" is not a DNS label (3-63 lower-case letters, "
                      "digits and '-', starting with a letter)",
                      A_DNS, v);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->dns_label, v, sizeof(o->dns_label));
    }
    if ((v = ann(spec, A_PROBE_PROTO)) && *v) {
        if (strcasecmp(v, "tcp") == 0)
            lbp_strlcpy(o->probe_proto, "Tcp", sizeof(o->probe_proto));
        else if (strcasecmp(v, "http") == 0)
            lbp_strlcpy(o->probe_proto, "Http", sizeof(o->probe_proto));
        else if (strcasecmp(v, "https") == 0)
            lbp_strlcpy(o->probe_proto, "Https", sizeof(o->probe_proto));
        else {
            lbp_failf(call, "annotation %s: \"%.20s\" is not Tcp, Http or Https", A_PROBE_PROTO, v);
            return LBP_INVALID;
        }
    }
    if ((v = ann(spec, A_PROBE_PATH)) && *v) {
        if (v[0] != '/' || strlen(v) >= sizeof(o->probe_path) || strpbrk(v, " \t\r\n")) {
            lbp_failf(call, "annotation %s: \"%.60s\" is not a path starting with /", A_PROBE_PATH,
                      v);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->probe_path, v, sizeof(o->probe_path));
    }
    if ((v = ann(spec, A_IDLE)) && *v) {
        if (lbp_parse_long(v, 4, 100, &n) != LBP_OK) {
            lbp_failf(call, "annotation %s: \"%.20s\" is not a number of minutes from 4 to 100",
                      A_IDLE, v);
            return LBP_INVALID;
        }
        o->idle_timeout = (int)n;
    }
    {
        bool no_reset = false;
        if ((rc = boolean(spec, A_NO_RESET, &no_reset, call)))
            return rc;
        o->tcp_reset = !no_reset;
    }
    if ((v = ann(spec, A_PIP_TAGS)) && *v && (rc = parse_tags(v, &o->pip_tags, call)))
        return rc;
    return LBP_OK;
}

static struct json_object *ref(const char *id)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    return o;
}

static const char *proto_of(const struct lbp_lb_port *p)
{
    return p->protocol && strcmp(p->protocol, "UDP") == 0 ? "UDP" : "TCP";
}

struct json_object *az_lb_part(const struct lbp_provider_ctx *ctx, const struct az_slot *slot,
                               const struct lbp_lb_spec *spec, const struct az_opts *o,
                               const char *pip_id)
{
    struct json_object *part = json_object_new_object(), *fes = json_object_new_array(),
                       *probes = json_object_new_array(), *rules = json_object_new_array(), *fe,
                       *fp;
    char fe_id[AZ_ID_MAX + 128], pool_id[AZ_ID_MAX + 128], id[AZ_ID_MAX + 128];
    const char *owner = spec->lb_name;
    struct lbp_health_check hc;
    bool local = lbp_health_check_kube(spec, &hc);

    json_object_object_add(part, "frontendIPConfigurations", fes);
    json_object_object_add(part, "probes", probes);
    json_object_object_add(part, "loadBalancingRules", rules);
    fe = json_object_new_object();
    fp = json_object_new_object();
    json_object_object_add(fe, "name", json_object_new_string(owner));
    json_object_object_add(fe, "properties", fp);
    if (pip_id) {
        json_object_object_add(fp, "publicIPAddress", ref(pip_id));
    } else {
        char subnet[AZ_ID_MAX + 128], vnet[AZ_ID_MAX];
        az_id(ctx, ctx->cfg.vnet_rg, "Microsoft.Network/virtualNetworks", ctx->cfg.vnet, vnet,
              sizeof(vnet));
        snprintf(subnet, sizeof(subnet), "%s/subnets/%s", vnet, o->subnet);
        if (spec->requested_ip && *spec->requested_ip) {
            json_object_object_add(fp, "privateIPAllocationMethod",
                                   json_object_new_string("Static"));
            json_object_object_add(fp, "privateIPAddress",
                                   json_object_new_string(spec->requested_ip));
        } else {
            json_object_object_add(fp, "privateIPAllocationMethod",
                                   json_object_new_string("Dynamic"));
        }
        json_object_object_add(fp, "subnet", ref(subnet));
    }
    json_object_array_add(fes, fe);
    snprintf(fe_id, sizeof(fe_id), "%s/frontendIPConfigurations/%s", slot->path, owner);
    snprintf(pool_id, sizeof(pool_id), "%s/backendAddressPools/%s", slot->path, ctx->cluster);

    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        const char *proto = proto_of(p);
        char name[AZ_NAME_MAX + 1];
        struct json_object *r = json_object_new_object(), *rp = json_object_new_object();
        const char *probe_proto = NULL;
        int probe_port = 0;
        az_rule_name(owner, proto, p->port, name);
        /* Local: kube-proxy's per-Service check. Cluster: the NodePort itself, over TCP
           (no TCP probe can tell a UDP NodePort is up: UDP rules go without one). */
        if (local) {
            probe_proto = "Http";
            probe_port = hc.port;
        } else if (p->node_port > 0 && (o->probe_proto[0] || strcmp(proto, "TCP") == 0)) {
            probe_proto = o->probe_proto[0] ? o->probe_proto : "Tcp";
            probe_port = p->node_port;
        }
        if (probe_proto) {
            struct json_object *pr = json_object_new_object(), *pp = json_object_new_object();
            json_object_object_add(pr, "name", json_object_new_string(name));
            json_object_object_add(pr, "properties", pp);
            json_object_object_add(pp, "protocol", json_object_new_string(probe_proto));
            json_object_object_add(pp, "port", json_object_new_int(probe_port));
            json_object_object_add(pp, "intervalInSeconds", json_object_new_int(PROBE_INTERVAL));
            json_object_object_add(pp, "probeThreshold", json_object_new_int(PROBE_THRESHOLD));
            if (strcmp(probe_proto, "Tcp") != 0)
                json_object_object_add(pp, "requestPath",
                                       json_object_new_string(local              ? hc.path
                                                              : o->probe_path[0] ? o->probe_path
                                                                                 : "/"));
            json_object_array_add(probes, pr);
        }
        json_object_object_add(r, "name", json_object_new_string(name));
        json_object_object_add(r, "properties", rp);
        json_object_object_add(rp, "protocol",
                               json_object_new_string(strcmp(proto, "UDP") == 0 ? "Udp" : "Tcp"));
        json_object_object_add(rp, "frontendPort", json_object_new_int(p->port));
        json_object_object_add(rp, "backendPort", json_object_new_int(p->port));
        json_object_object_add(rp, "enableFloatingIP", json_object_new_boolean(true));
        if (strcmp(proto, "TCP") == 0)
            json_object_object_add(rp, "idleTimeoutInMinutes",
                                   json_object_new_int(o->idle_timeout));
        json_object_object_add(rp, "enableTcpReset", json_object_new_boolean(o->tcp_reset));
        json_object_object_add(rp, "disableOutboundSnat",
                               json_object_new_boolean(ctx->cfg.disable_outbound_snat));
        json_object_object_add(
            rp, "loadDistribution",
            json_object_new_string(spec->session_affinity &&
                                           strcmp(spec->session_affinity, "ClientIP") == 0
                                       ? "SourceIP"
                                       : "Default"));
        json_object_object_add(rp, "frontendIPConfiguration", ref(fe_id));
        json_object_object_add(rp, "backendAddressPool", ref(pool_id));
        if (probe_proto) {
            snprintf(id, sizeof(id), "%s/probes/%s", slot->path, name);
            json_object_object_add(rp, "probe", ref(id));
        }
        json_object_array_add(rules, r);
    }
    return part;
}

struct json_object *az_nsg_part(const struct lbp_lb_spec *spec, const char *dest)
{
    struct json_object *part = json_object_new_object(), *rules = json_object_new_array();
    char desc[520];
    snprintf(desc, sizeof(desc), "%s/%s", spec->namespace ? spec->namespace : "",
             spec->name ? spec->name : "");
    json_object_object_add(part, "securityRules", rules);
    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        size_t n_src = spec->n_source_ranges ? spec->n_source_ranges : 1;
        for (size_t j = 0; j < n_src; j++) {
            const char *src = spec->n_source_ranges ? spec->source_ranges[j] : "Internet";
            char name[AZ_NAME_MAX + 1], port[16];
            struct json_object *r = json_object_new_object(), *rp = json_object_new_object();
            az_nsg_rule_name(spec->lb_name, proto_of(p), p->port, src, name);
            snprintf(port, sizeof(port), "%d", p->port);
            json_object_object_add(r, "name", json_object_new_string(name));
            json_object_object_add(r, "properties", rp);
            json_object_object_add(
                rp, "protocol",
                json_object_new_string(strcmp(proto_of(p), "UDP") == 0 ? "Udp" : "Tcp"));
            json_object_object_add(rp, "sourcePortRange", json_object_new_string("*"));
            json_object_object_add(rp, "destinationPortRange", json_object_new_string(port));
            json_object_object_add(rp, "sourceAddressPrefix", json_object_new_string(src));
            json_object_object_add(rp, "destinationAddressPrefix", json_object_new_string(dest));
            json_object_object_add(rp, "access", json_object_new_string("Allow"));
            json_object_object_add(rp, "direction", json_object_new_string("Inbound"));
            json_object_object_add(rp, "description", json_object_new_string(desc));
            json_object_array_add(rules, r);
        }
    }
    return part;
}

/* ---- public IP ---- */

static const char *tag(struct json_object *o, const char *k)
{
    return json_object_get_string(lbp_json_at(lbp_json_at(o, "tags"), k));
}

static bool pip_ours(const struct lbp_provider_ctx *ctx, struct json_object *pip, const char *svc)
{
    return lbp_streq(tag(pip, AZ_TAG_CLUSTER), ctx->cluster) &&
           lbp_streq(tag(pip, AZ_TAG_SERVICE), svc);
}

static struct json_object *pip_body(const struct lbp_provider_ctx *ctx, const char *svc,
                                    const struct az_opts *o)
{
    struct json_object *b = json_object_new_object(), *sku = json_object_new_object(),
                       *tags = json_object_new_object(), *p = json_object_new_object();
    json_object_object_add(b, "location", json_object_new_string(ctx->cfg.location));
    json_object_object_add(sku, "name", json_object_new_string("Standard"));
    json_object_object_add(sku, "tier", json_object_new_string("Regional"));
    json_object_object_add(b, "sku", sku);
    if (o->pip_tags) {
        json_object_object_foreach(o->pip_tags, k, v)
        {
            json_object_object_add(tags, k, json_object_get(v));
        }
    }
    json_object_object_add(tags, AZ_TAG_CLUSTER, json_object_new_string(ctx->cluster));
    json_object_object_add(tags, AZ_TAG_SERVICE, json_object_new_string(svc));
    if (o->dns_label[0])
        json_object_object_add(tags, AZ_TAG_DNS, json_object_new_string(svc));
    json_object_object_add(b, "tags", tags);
    json_object_object_add(p, "publicIPAllocationMethod", json_object_new_string("Static"));
    json_object_object_add(p, "publicIPAddressVersion", json_object_new_string("IPv4"));
    if (o->dns_label[0]) {
        struct json_object *d = json_object_new_object();
        json_object_object_add(d, "domainNameLabel", json_object_new_string(o->dns_label));
        json_object_object_add(p, "dnsSettings", d);
    }
    json_object_object_add(b, "properties", p);
    return b;
}

static int start(struct lbp_provider_ctx *ctx, const char *key, const char *what,
                 const struct az_resp *r, struct lbp_call *call)
{
    char ref[LBP_LRO_REF_MAX];
    if (r->async_url[0])
        lbp_strlcpy(ref, r->async_url, sizeof(ref));
    else if (r->location[0])
        snprintf(ref, sizeof(ref), "L %.*s", (int)sizeof(ref) - 3, r->location);
    else
        return LBP_OK;
    return lbp_lro_start(ctx->ops, key, what, ref, r->retry_after_s, call);
}

/*
 * An ensure that found its public IP ready and then waits on the shared
 * load balancer or security group is called again every second or so; the
 * public IP it already checked is taken from here rather than read again,
 * for as long as that ensure lasts (at most AZ_PIP_READY_MS) and only
 * while what the Service asks of it is the same. The LB PUT that names it
 * is the check: should it have gone meanwhile, ARM refuses the reference,
 * the ensure fails, and the next one reads the public IP afresh.
 */
#define AZ_PIP_READY_MS 60000

static char *pip_fingerprint(const struct lbp_provider_ctx *ctx, const char *svc,
                             const struct az_opts *o, const char *id)
{
    struct json_object *want = pip_body(ctx, svc, o);
    char *f = NULL;
    if (asprintf(&f, "%d %s %s", o->pip_named, id,
                 json_object_to_json_string_ext(want, JSON_C_TO_STRING_PLAIN)) < 0)
        f = NULL;
    json_object_put(want);
    return f;
}

static bool pip_recall(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *fp,
                       char *ip, size_t ipcap)
{
    struct json_object *e;
    bool hit = false;
    pthread_mutex_lock(&ctx->del_mu);
    if (fp && json_object_object_get_ex(ctx->pip_ready, spec->lb_name, &e) &&
        lbp_streq(json_object_get_string(lbp_json_at(e, "want")), fp) &&
        lbp_now_ms() - (uint64_t)json_object_get_int64(lbp_json_at(e, "ms")) < AZ_PIP_READY_MS) {
        lbp_strlcpy(ip, json_object_get_string(lbp_json_at(e, "ip")), ipcap);
        hit = ip[0] != 0;
    }
    pthread_mutex_unlock(&ctx->del_mu);
    return hit;
}

static void pip_note(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, const char *fp,
                     const char *ip)
{
    struct json_object *e;
    if (!fp)
        return;
    e = json_object_new_object();
    json_object_object_add(e, "want", json_object_new_string(fp));
    json_object_object_add(e, "ip", json_object_new_string(ip));
    json_object_object_add(e, "ms", json_object_new_int64((int64_t)lbp_now_ms()));
    pthread_mutex_lock(&ctx->del_mu);
    json_object_object_add(ctx->pip_ready, spec->lb_name, e);
    pthread_mutex_unlock(&ctx->del_mu);
}

void az_pip_forget(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec)
{
    pthread_mutex_lock(&ctx->del_mu);
    json_object_object_del(ctx->pip_ready, spec->lb_name);
    pthread_mutex_unlock(&ctx->del_mu);
}

/* az_pip_ensure from ARM's state: a GET, and a PUT when it is missing or differs. */
static int pip_ensure_arm(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                          const struct az_opts *o, char *ip, size_t ipcap, char *id, size_t idcap,
                          struct lbp_call *call)
{
    char key[64], svc[520];
    struct az_resp r;
    struct json_object *want = NULL;
    const char *state = NULL, *addr = NULL;
    int rc;

    snprintf(key, sizeof(key), "pip:%s", spec->lb_name);
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    rc = lbp_lro_poll(ctx->ops, key, az_op_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    az_id(ctx, o->pip_rg, "Microsoft.Network/publicIPAddresses", o->pip_name, id, idcap);
    rc = az_arm(ctx, "GET", id, NULL, NULL, NULL, "GetPublicIPAddress", &r, call);
    if (rc == LBP_NOT_FOUND) {
        az_resp_free(&r);
        want = pip_body(ctx, svc, o);
        rc = az_arm(ctx, "PUT", id, want, NULL, "*", "CreatePublicIPAddress", &r, call);
        json_object_put(want);
        if (rc == LBP_CONFLICT) {
            /* made meanwhile by someone else: look again */
            call->retry_after_s = 1;
            rc = LBP_RETRY;
        } else if (rc == LBP_OK) {
            rc = start(ctx, key, "create public IP", &r, call);
            if (rc == LBP_OK)
                rc = LBP_PENDING, call->retry_after_s = 1;
        }
        az_resp_free(&r);
        return rc;
    }
    if (rc) {
        az_resp_free(&r);
        return rc;
    }
    lbp_json_get_str(r.json, "properties.provisioningState", 32, &state, NULL, 0);
    if (state && strcmp(state, "Succeeded") != 0 && strcmp(state, "Failed") != 0) {
        lbp_failf(call, "public IP %s is %s", o->pip_name, state);
        call->retry_after_s = 2;
        az_resp_free(&r);
        return LBP_PENDING;
    }
    if (pip_ours(ctx, r.json, svc)) {
        want = pip_body(ctx, svc, o);
        if (!az_json_covers(r.json, want, NULL)) {
            /* Tags or DNS label changed: PUT the object as it is, with ours replaced. */
            struct json_object *next = NULL;
            const char *etag = json_object_get_string(lbp_json_at(r.json, "etag"));
            char et[128];
            lbp_strlcpy(et, etag ? etag : "*", sizeof(et));
            json_object_deep_copy(r.json, &next, NULL);
            json_object_object_foreach(want, k, v)
            {
                if (strcmp(k, "properties") == 0) {
                    struct json_object *np = az_jobj(next, "properties");
                    json_object_object_foreach(v, pk, pv)
                        json_object_object_add(np, pk, json_object_get(pv));
                } else if (strcmp(k, "tags") == 0) {
                    struct json_object *nt = az_jobj(next, "tags");
                    json_object_object_foreach(v, tk, tv)
                        json_object_object_add(nt, tk, json_object_get(tv));
                } else {
                    json_object_object_add(next, k, json_object_get(v));
                }
            }
            az_resp_free(&r);
            rc = az_arm(ctx, "PUT", id, next, et, NULL, "UpdatePublicIPAddress", &r, call);
            json_object_put(next);
            json_object_put(want);
            if (rc == LBP_CONFLICT)
                rc = LBP_RETRY, call->retry_after_s = 1;
            else if (rc == LBP_OK) {
                rc = start(ctx, key, "update public IP", &r, call);
                if (rc == LBP_OK)
                    rc = LBP_PENDING, call->retry_after_s = 1;
            }
            az_resp_free(&r);
            return rc;
        }
        json_object_put(want);
    } else if (!o->pip_named) {
        lbp_failf(call, "public IP %s exists and belongs to %s, not %s", o->pip_name,
                  tag(r.json, AZ_TAG_SERVICE) ? tag(r.json, AZ_TAG_SERVICE) : "someone else", svc);
        az_resp_free(&r);
        return LBP_CONFLICT;
    }
    lbp_json_get_str(r.json, "properties.ipAddress", 64, &addr, NULL, 0);
    if (!addr || !*addr) {
        lbp_failf(call, "public IP %s has no address yet", o->pip_name);
        call->retry_after_s = 1;
        az_resp_free(&r);
        return LBP_PENDING;
    }
    lbp_strlcpy(ip, addr, ipcap);
    az_resp_free(&r);
    return LBP_OK;
}

int az_pip_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  const struct az_opts *o, char *ip, size_t ipcap, char *id, size_t idcap,
                  struct lbp_call *call)
{
    char svc[520], *fp;
    int rc;
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    az_id(ctx, o->pip_rg, "Microsoft.Network/publicIPAddresses", o->pip_name, id, idcap);
    fp = pip_fingerprint(ctx, svc, o, id);
    if (pip_recall(ctx, spec, fp, ip, ipcap)) {
        free(fp);
        return LBP_OK;
    }
    rc = pip_ensure_arm(ctx, spec, o, ip, ipcap, id, idcap, call);
    /* remembered only while nothing of its own runs (a change starts an operation) */
    if (rc == LBP_OK)
        pip_note(ctx, spec, fp, ip);
    else
        az_pip_forget(ctx, spec);
    free(fp);
    return rc;
}

struct pip_list {
    const struct lbp_provider_ctx *ctx;
    const char *svc;
    struct json_object *ids;
};

static int each_pip(void *ud, struct json_object *item)
{
    struct pip_list *l = ud;
    const char *id = json_object_get_string(lbp_json_at(item, "id"));
    if (id && pip_ours(l->ctx, item, l->svc))
        json_object_array_add(l->ids, json_object_new_string(id));
    return LBP_OK;
}

int az_pip_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                  const char *known_id, struct lbp_call *call)
{
    char key[64], svc[520], id[AZ_ID_MAX], url[AZ_URL_MAX];
    struct pip_list l = {ctx, svc, json_object_new_array()};
    int rc;

    snprintf(key, sizeof(key), "pip:%s", spec->lb_name);
    snprintf(svc, sizeof(svc), "%s/%s", spec->namespace, spec->name);
    rc = lbp_lro_poll(ctx->ops, key, az_op_poll, ctx, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        goto out;
    if (known_id && *known_id)
        json_object_array_add(l.ids, json_object_new_string(known_id));
    {
        char name[AZ_NAME_MAX + 1];
        az_pip_default_name(ctx->cluster, spec->lb_name, name);
        az_id(ctx, ctx->cfg.rg, "Microsoft.Network/publicIPAddresses", name, id, sizeof(id));
        json_object_array_add(l.ids, json_object_new_string(id));
    }
    az_id(ctx, ctx->cfg.rg, "Microsoft.Network/publicIPAddresses", "", id, sizeof(id));
    id[strlen(id) - 1] = 0; /* the collection */
    snprintf(url, sizeof(url), "%s%s?api-version=%s", ctx->cfg.arm, id + 1, AZ_NET_API);
    rc = lbp_rest_list(&ctx->rest, url, "ListPublicIPAddresses", "value", "nextLink", NULL,
                       each_pip, &l, NULL, call);
    if (rc && rc != LBP_NOT_FOUND)
        goto out;
    for (size_t i = 0; i < json_object_array_length(l.ids); i++) {
        const char *pid = json_object_get_string(json_object_array_get_idx(l.ids, i));
        struct az_resp r;
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |=
                strcasecmp(pid, json_object_get_string(json_object_array_get_idx(l.ids, j))) == 0;
        if (dup)
            continue;
        rc = az_arm(ctx, "GET", pid, NULL, NULL, NULL, "GetPublicIPAddress", &r, call);
        if (rc == LBP_NOT_FOUND) {
            az_resp_free(&r);
            continue;
        }
        if (rc || !pip_ours(ctx, r.json, svc)) {
            az_resp_free(&r);
            if (rc)
                goto out;
            continue; /* the user's: never deleted */
        }
        az_resp_free(&r);
        rc = az_arm(ctx, "DELETE", pid, NULL, NULL, NULL, "DeletePublicIPAddress", &r, call);
        if (rc == LBP_OK && r.status == 202) {
            rc = start(ctx, key, "delete public IP", &r, call);
            if (rc == LBP_OK)
                rc = LBP_PENDING, call->retry_after_s = 1;
        }
        az_resp_free(&r);
        if (rc == LBP_NOT_FOUND)
            rc = LBP_OK;
        if (rc)
            goto out;
    }
    rc = LBP_OK;
out:
    json_object_put(l.ids);
    return rc;
}
