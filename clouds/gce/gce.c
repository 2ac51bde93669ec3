/*
 * gce.c — the GCE provider's vtable, gce.conf, credentials and the rules
 * every part uses (names, providerIDs, descriptions, annotations).
 *
 * Configuration is upstream's gce.conf INI ([global] project-id,
 * network-name, node-tags, api-endpoint, token-url, ...; see
 * clouds/gce/README.md). Credentials, first found wins: the cloud-config's
 * credentials-file or GOOGLE_APPLICATION_CREDENTIALS (a service-account
 * key → RS256 JWT bearer grant; an external_account file → RFC 8693
 * exchange of its file-sourced subject token), else the metadata server.
 * A Service's annotations pick the model: external.c (the default) or
 * internal.c. Every slot works on a snapshot of the configuration, so a
 * SIGHUP reload never changes it under a running call.
 */
#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/gce/gce_int.h"
#include "common/file.h"
#include "common/ini.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/vec.h"
#include "provider/ratelimit.h"

bool gce_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return s[n - 1] != '-';
}

int gce_provider_id(const char *pid, char *project, size_t pcap, char *zone, size_t zcap,
                    char *name, size_t ncap, char *err, size_t errlen)
{
    struct lbp_provider_id id;
    int rc = lbp_provider_id_parse(pid, "gce", &id);
    if (rc == LBP_NOT_FOUND) {
        snprintf(err, errlen, "no spec.providerID");
        return LBP_INVALID;
    }
    /* upstream's ^gce://([^/]+)/([^/]+)/([^/]+)$: exactly three parts */
    if (rc || id.n_seg != 2 || !id.host[0] || strchr(pid + 6, '?')) {
        snprintf(err, errlen, "providerID \"%.100s\" is not gce://PROJECT/ZONE/INSTANCE", pid);
        return LBP_INVALID;
    }
    if (strlen(id.host) >= pcap || strlen(id.seg[0]) >= zcap || strlen(id.seg[1]) >= ncap ||
        !gce_name_valid(id.seg[1]) || !gce_name_valid(id.seg[0])) {
        snprintf(err, errlen, "providerID \"%.100s\": zone or instance is not a GCE name", pid);
        return LBP_INVALID;
    }
    lbp_strlcpy(project, id.host, pcap);
    lbp_strlcpy(zone, id.seg[0], zcap);
    lbp_strlcpy(name, id.seg[1], ncap);
    return LBP_OK;
}

int gce_zone_region(const char *zone, char *region, size_t cap)
{
    const char *dash = strrchr(zone, '-');
    size_t n = dash ? (size_t)(dash - zone) : 0;
    if (!gce_name_valid(zone) || !n || n >= cap || !strchr(zone, '-') || strchr(zone, '-') == dash)
        return LBP_INVALID;
    memcpy(region, zone, n);
    region[n] = '\0';
    return LBP_OK;
}

static const char *ann(const struct lbp_lb_spec *spec, const char *key)
{
    for (size_t i = 0; i < spec->n_annotations; i++)
        if (strcmp(spec->annotations[i].key, key) == 0)
            return spec->annotations[i].value;
    return NULL;
}

int gce_opts_parse(const struct lbp_lb_spec *spec, struct gce_opts *o, struct lbp_call *call)
{
    const char *t = ann(spec, GCE_ANN_LB_TYPE), *v;
    const char *type_key = GCE_ANN_LB_TYPE;
    int lo = 65536, hi = 0;

    if (!t) {
        t = ann(spec, GCE_ANN_LB_TYPE_LEGACY);
        type_key = GCE_ANN_LB_TYPE_LEGACY;
    }
    o->internal = false;
    if (t && strcasecmp(t, "Internal") == 0)
        o->internal = true;
    else if (t && strcasecmp(t, "External") != 0 && t[0]) {
        lbp_failf(call, "annotation %s: \"%.64s\" is not Internal or External", type_key, t);
        return LBP_INVALID;
    }
    lbp_strlcpy(o->tier, "PREMIUM", sizeof(o->tier));
    if ((v = ann(spec, GCE_ANN_TIER))) {
        if (strcasecmp(v, "Standard") == 0)
            lbp_strlcpy(o->tier, "STANDARD", sizeof(o->tier));
        else if (strcasecmp(v, "Premium") != 0) {
            lbp_failf(call, "annotation %s: \"%.64s\" is not Premium or Standard", GCE_ANN_TIER, v);
            return LBP_INVALID;
        }
    }
    o->global_access = false;
    if ((v = ann(spec, GCE_ANN_GLOBAL_ACCESS))) {
        if (strcasecmp(v, "true") == 0)
            o->global_access = true;
        else if (strcasecmp(v, "false") != 0) {
            lbp_failf(call, "annotation %s: \"%.64s\" is not true or false", GCE_ANN_GLOBAL_ACCESS,
                      v);
            return LBP_INVALID;
        }
    }
    o->subnet[0] = '\0';
    v = ann(spec, GCE_ANN_SUBNET);
    if (v && *v) {
        const char *base = strrchr(v, '/') ? strrchr(v, '/') + 1 : v;
        if (!gce_name_valid(base)) {
            lbp_failf(call, "annotation %s: \"%.64s\" is not a subnetwork name", GCE_ANN_SUBNET, v);
            return LBP_INVALID;
        }
        if (strchr(v, '/'))
            snprintf(o->subnet, sizeof(o->subnet), "%s", gce_ref_path(v)[0] ? gce_ref_path(v) : v);
        else
            snprintf(o->subnet, sizeof(o->subnet), "projects/%s/regions/%s/subnetworks/%s",
                     o->conf.network_project, o->conf.region, v);
    } else if (o->conf.subnetwork[0]) {
        if (strchr(o->conf.subnetwork, '/'))
            lbp_strlcpy(o->subnet, gce_ref_path(o->conf.subnetwork), sizeof(o->subnet));
        else
            snprintf(o->subnet, sizeof(o->subnet), "projects/%s/regions/%s/subnetworks/%s",
                     o->conf.network_project, o->conf.region, o->conf.subnetwork);
    }
    o->proto[0] = '\0';
    for (size_t i = 0; i < spec->n_ports; i++) {
        const struct lbp_lb_port *p = &spec->ports[i];
        if (strcmp(p->protocol, "TCP") && strcmp(p->protocol, "UDP")) {
            lbp_failf(call, "spec.ports[%zu].protocol: %s is not supported on GCE", i, p->protocol);
            return LBP_INVALID;
        }
        if (o->proto[0] && strcmp(o->proto, p->protocol)) {
            lbp_failf(call,
                      "spec.ports[%zu].protocol: GCE forwards one protocol per load "
                      "balancer, not %s and %s",
                      i, o->proto, p->protocol);
            return LBP_INVALID;
        }
        lbp_strlcpy(o->proto, p->protocol, sizeof(o->proto));
        lo = p->port < lo ? p->port : lo;
        hi = p->port > hi ? p->port : hi;
    }
    if (!spec->n_ports) {
        lbp_failf(call, "spec.ports: a load balancer needs a port");
        return LBP_INVALID;
    }
    o->port_lo = lo;
    o->port_hi = hi;
    lbp_strlcpy(o->affinity,
                spec->session_affinity && strcmp(spec->session_affinity, "ClientIP") == 0
                    ? "CLIENT_IP"
                    : "NONE",
                sizeof(o->affinity));
    return LBP_OK;
}

void gce_desc(const struct gce_conf *c, const char *ns, const char *name, char *out, size_t cap)
{
    struct json_object *d = json_object_new_object();
    char svc[520];
    if (!d) {
        lbp_strlcpy(out, "", cap);
        return;
    }
    if (ns && name) {
        snprintf(svc, sizeof(svc), "%s/%s", ns, name);
        json_object_object_add(d, GCE_DESC_SERVICE, json_object_new_string(svc));
    }
    json_object_object_add(d, GCE_DESC_CLUSTER, json_object_new_string(c->cluster));
    lbp_strlcpy(
        out,
        json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        cap);
    json_object_put(d);
}

bool gce_desc_owned(const char *desc, const char *cluster, char *svc, size_t cap)
{
    struct json_object *d = NULL, *c = NULL, *s = NULL;
    bool ok;
    if (svc && cap)
        svc[0] = '\0';
    if (!desc || desc[0] != '{' || lbp_json_parse(desc, strlen(desc), 4096, &d, NULL, 0) != LBP_OK)
        return false;
    /* the keys hold dots: looked up as keys, not as json.h paths */
    ok = json_object_is_type(d, json_type_object) &&
         json_object_object_get_ex(d, GCE_DESC_CLUSTER, &c) &&
         json_object_is_type(c, json_type_string) &&
         strcmp(json_object_get_string(c), cluster) == 0;
    if (ok && svc && json_object_object_get_ex(d, GCE_DESC_SERVICE, &s) &&
        json_object_is_type(s, json_type_string))
        lbp_strlcpy(svc, json_object_get_string(s), cap);
    json_object_put(d);
    return ok;
}

/* gcfg (upstream's format) names the section [global]; [Global] is taken too. */
static int conf_get(const char *text, const char *key, char *out, size_t cap)
{
    int rc;
    if (!text)
        return LBP_NOT_FOUND;
    rc = lbp_ini_get(text, "global", key, out, cap);
    if (rc == LBP_NOT_FOUND)
        rc = lbp_ini_get(text, "Global", key, out, cap);
    /* gcfg allows quoted values */
    if (rc == LBP_OK && out[0] == '"' && strlen(out) >= 2 && out[strlen(out) - 1] == '"') {
        size_t n = strlen(out);
        memmove(out, out + 1, n - 2);
        out[n - 2] = '\0';
    }
    return rc;
}

static int conf_bool(const char *text, const char *key, bool *out, char *err, size_t errlen)
{
    char v[16];
    int rc = conf_get(text, key, v, sizeof(v));
    if (rc == LBP_NOT_FOUND)
        return LBP_OK;
    if (rc == LBP_OK && (strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0)) {
        *out = strcasecmp(v, "true") == 0;
        return LBP_OK;
    }
    snprintf(err, errlen, "gce: cloud-config %s: use true or false", key);
    return LBP_INVALID;
}

int gce_conf_parse(const char *text, const char *cluster, struct gce_conf *c, char *err,
                   size_t errlen)
{
    static const struct {
        const char *key;
        size_t off, cap;
    } str[] = {
        {"project-id", offsetof(struct gce_conf, project), sizeof(c->project)},
        {"network-project-id", offsetof(struct gce_conf, network_project),
         sizeof(c->network_project)},
        {"network-name", offsetof(struct gce_conf, network), sizeof(c->network)},
        {"subnetwork-name", offsetof(struct gce_conf, subnetwork), sizeof(c->subnetwork)},
        {"region", offsetof(struct gce_conf, region), sizeof(c->region)},
        {"local-zone", offsetof(struct gce_conf, zone), sizeof(c->zone)},
        {"node-instance-prefix", offsetof(struct gce_conf, node_prefix), sizeof(c->node_prefix)},
        {"api-endpoint", offsetof(struct gce_conf, endpoint), sizeof(c->endpoint) - 16},
        {"token-url", offsetof(struct gce_conf, token_url), sizeof(c->token_url)},
        {"credentials-file", offsetof(struct gce_conf, key_file), sizeof(c->key_file)},
        {"cluster-id", offsetof(struct gce_conf, cluster), sizeof(c->cluster)},
    };
    char tags[1024], *save = NULL, name[GCE_NAME_MAX + 32];
    int rc;

    memset(c, 0, sizeof(*c));
    lbp_strlcpy(c->cluster, cluster && *cluster ? cluster : "kubernetes", sizeof(c->cluster));
    for (size_t i = 0; i < sizeof(str) / sizeof(str[0]); i++) {
        char *dst = (char *)c + str[i].off;
        rc = conf_get(text, str[i].key, dst, str[i].cap);
        if (rc == LBP_TOOBIG || rc == LBP_PARSE) {
            snprintf(err, errlen, "gce: cloud-config %s: %s", str[i].key,
                     rc == LBP_TOOBIG ? "too long" : "unreadable");
            return LBP_INVALID;
        }
        if (rc == LBP_OK && strncmp(dst, "REPLACE_ME", 10) == 0) {
            snprintf(err, errlen,
                     "gce: cloud-config %s = %.64s is the example's placeholder: set it "
                     "(clouds/gce/README.md)",
                     str[i].key, dst);
            return LBP_INVALID;
        }
    }
    c->qps = 20;
    c->burst = 40;
    for (int i = 0; i < 2; i++) {
        const char *key = i ? "burst" : "qps";
        char v[32];
        long n;
        if (conf_get(text, key, v, sizeof(v)) != LBP_OK)
            continue;
        if (lbp_parse_long(v, 1, 100000, &n) != LBP_OK) {
            snprintf(err, errlen, "gce: cloud-config %s: an integer 1-100000", key);
            return LBP_INVALID;
        }
        if (i)
            c->burst = n;
        else
            c->qps = n, c->burst = c->burst > 2 * n ? c->burst : 2 * n;
    }
    if ((rc = conf_bool(text, "regional", &c->regional, err, errlen)) ||
        (rc = conf_bool(text, "multizone", &c->multizone, err, errlen)))
        return rc;
    if (conf_get(text, "node-tags", tags, sizeof(tags)) == LBP_OK)
        for (char *t = strtok_r(tags, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
            if (c->n_tags == GCE_MAX_TAGS || strlen(t) >= sizeof(c->tags[0]) ||
                !gce_name_valid(t)) {
                snprintf(err, errlen,
                         "gce: cloud-config node-tags: \"%.64s\" is not a network tag"
                         " (or more than %d tags)",
                         t, GCE_MAX_TAGS);
                return LBP_INVALID;
            }
            lbp_strlcpy(c->tags[c->n_tags++], t, sizeof(c->tags[0]));
        }
    if (!c->network[0])
        lbp_strlcpy(c->network, "default", sizeof(c->network));
    if (!gce_name_valid(c->network) && !strchr(c->network, '/')) {
        snprintf(err, errlen, "gce: cloud-config network-name: \"%.64s\" is not a GCE name",
                 c->network);
        return LBP_INVALID;
    }
    if (c->zone[0] && !c->region[0] && gce_zone_region(c->zone, c->region, sizeof(c->region))) {
        snprintf(err, errlen, "gce: cloud-config local-zone: \"%.64s\" is not a zone", c->zone);
        return LBP_INVALID;
    }
    if (c->region[0] && !gce_name_valid(c->region)) {
        snprintf(err, errlen, "gce: cloud-config region: \"%.64s\" is not a region", c->region);
        return LBP_INVALID;
    }
    /* The shared names must be GCE names: k8s-<cluster>-node-http-hc is the longest. */
    snprintf(name, sizeof(name), "k8s-%s-node-http-hc", c->cluster);
    if (!gce_name_valid(name)) {
        snprintf(err, errlen,
                 "gce: cluster id \"%.64s\" (--cluster-name or cloud-config cluster-id) must be "
                 "lower-case letters, digits and '-', at most 44 characters",
                 c->cluster);
        return LBP_INVALID;
    }
    if (c->endpoint[0]) {
        size_t n = strlen(c->endpoint);
        if (strncmp(c->endpoint, "https://", 8) && strncmp(c->endpoint, "http://", 7)) {
            snprintf(err, errlen, "gce: cloud-config api-endpoint: want an http(s):// URL");
            return LBP_INVALID;
        }
        if (c->endpoint[n - 1] != '/')
            c->endpoint[n++] = '/', c->endpoint[n] = '\0';
        /* "https://host/" means the host's compute/v1/ */
        if (!strstr(c->endpoint, "/compute/"))
            lbp_strlcpy(c->endpoint + n, "compute/v1/", sizeof(c->endpoint) - n);
    } else {
        lbp_strlcpy(c->endpoint, GCE_DEFAULT_ENDPOINT, sizeof(c->endpoint));
    }
    if (c->token_url[0] && strncmp(c->token_url, "https://", 8) &&
        strncmp(c->token_url, "http://", 7)) {
        snprintf(err, errlen, "gce: cloud-config token-url: want an http(s):// URL");
        return LBP_INVALID;
    }
    return LBP_OK;
}

static void gce_cleanup(struct lbp_provider_ctx *ctx)
{
    if (!ctx)
        return;
    lbp_token_cache_free(ctx->rest.token);
    lbp_lro_table_free(ctx->ops);
    lbp_node_cache_free(ctx->cache);
    gce_prefetch_free(ctx->prefetch);
    lbp_http_client_free(ctx->http);
    pthread_rwlock_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->lookup_mu);
    free(ctx);
}

/* The credentials: a key file (service account or external account), else the metadata server. */
static int credentials(struct lbp_provider_ctx *ctx, char *err, size_t errlen)
{
    const char *path =
        ctx->conf.key_file[0] ? ctx->conf.key_file : getenv("GOOGLE_APPLICATION_CREDENTIALS");
    struct lbp_token_source *src = NULL;
    struct json_object *j = NULL;
    const char *type = NULL, *s = NULL;
    char *text = NULL, why[160] = "";
    int rc;

    if (!path || !*path) {
        rc = lbp_token_gce_metadata(ctx->http, NULL, &src);
        lbp_strlcpy(ctx->cred_kind, "metadata", sizeof(ctx->cred_kind));
        goto made;
    }
    rc = lbp_file_read_err(path, 1u << 20, LBP_FILE_SECRET, &text, NULL, why, sizeof(why));
    if (rc == LBP_OK)
        rc = lbp_json_parse(text, strlen(text), 1u << 20, &j, why, sizeof(why));
    if (rc == LBP_OK)
        rc = lbp_json_get_str(j, "type", 64, &type, why, sizeof(why));
    if (rc) {
        snprintf(err, errlen, "gce: credentials %s: %s", path, why);
        rc = LBP_INVALID;
        goto out;
    }
    if (!ctx->conf.project[0] && lbp_json_get_str(j, "project_id", 127, &s, NULL, 0) == LBP_OK)
        lbp_strlcpy(ctx->conf.project, s, sizeof(ctx->conf.project));
    if (strcmp(type, "service_account") == 0) {
        lbp_strlcpy(ctx->cred_kind, "service-account", sizeof(ctx->cred_kind));
        rc = lbp_token_jwt_bearer(ctx->http, path, GCE_SCOPE,
                                  ctx->conf.token_url[0] ? ctx->conf.token_url : NULL, &src, err,
                                  errlen);
    } else if (strcmp(type, "external_account") == 0) {
        const char *aud = NULL, *file = NULL, *url = NULL;
        lbp_strlcpy(ctx->cred_kind, "external-account", sizeof(ctx->cred_kind));
        if (lbp_json_at(j, "service_account_impersonation_url")) {
            snprintf(err, errlen,
                     "gce: credentials %s: service_account_impersonation_url is not supported; "
                     "grant the federated identity Compute roles directly",
                     path);
            rc = LBP_INVALID;
            goto out;
        }
        if (lbp_json_get_str(j, "audience", 1024, &aud, why, sizeof(why)) ||
            lbp_json_get_str(j, "credential_source.file", 1024, &file, why, sizeof(why)) ||
            lbp_json_get_str(j, "token_url", 1024, &url, why, sizeof(why))) {
            snprintf(err, errlen, "gce: credentials %s (external_account): %s", path, why);
            rc = LBP_INVALID;
            goto out;
        }
        rc = lbp_token_federated(ctx->http, LBP_FEDERATION_TOKEN_EXCHANGE,
                                 ctx->conf.token_url[0] ? ctx->conf.token_url : url, aud, file,
                                 "https://www.googleapis.com/auth/cloud-platform", &src, err,
                                 errlen);
    } else {
        snprintf(err, errlen,
                 "gce: credentials %s: type \"%.32s\" (want service_account or external_account)",
                 path, type);
        rc = LBP_INVALID;
        goto out;
    }
made:
    if (rc == LBP_OK)
        rc = lbp_token_cache_new(src, 0, &ctx->rest.token);
    else if (!err[0])
        snprintf(err, errlen, "gce: credentials: %s", lbp_rc_str(rc));
out:
    json_object_put(j);
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    return rc;
}

static int gce_init(const char *cloud_config_path, const char *cluster_name,
                    struct lbp_provider_ctx **out, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));
    struct lbp_http_opts ho = {.cloud = "gce"};
    char *text = NULL;
    int rc;

    if (!ctx)
        return LBP_NOMEM;
    pthread_rwlock_init(&ctx->lock, NULL);
    pthread_mutex_init(&ctx->lookup_mu, NULL);
    err[0] = '\0';
    if (cloud_config_path && *cloud_config_path) {
        rc = lbp_ini_load(cloud_config_path, &text);
        if (rc) {
            snprintf(err, errlen, "gce: cannot read cloud-config %s: %s", cloud_config_path,
                     lbp_rc_str(rc));
            rc = LBP_INVALID;
            goto out;
        }
    }
    if ((rc = gce_conf_parse(text, cluster_name, &ctx->conf, err, errlen)))
        goto out;
    ho.qps = (double)ctx->conf.qps;
    ho.burst = (unsigned)ctx->conf.burst;
    if ((rc = lbp_http_client_new(&ho, &ctx->http)) || (rc = lbp_lro_table_new(&ctx->ops)) ||
        (rc = lbp_node_cache_new(sizeof(struct gce_instance), 300, &ctx->cache)))
        goto out;
    if (!(ctx->prefetch = gce_prefetch_new())) {
        rc = LBP_NOMEM;
        goto out;
    }
    ctx->rest.http = ctx->http;
    if ((rc = credentials(ctx, err, errlen)))
        goto out;
    if (!ctx->conf.project[0]) {
        snprintf(err, errlen,
                 "gce: no project: set project-id in the cloud-config (or use a key "
                 "file that names project_id)");
        rc = LBP_INVALID;
        goto out;
    }
    if (!ctx->conf.network_project[0])
        lbp_strlcpy(ctx->conf.network_project, ctx->conf.project,
                    sizeof(ctx->conf.network_project));
    if (!ctx->conf.region[0]) {
        snprintf(err, errlen, "gce: no region: set local-zone (or region) in the cloud-config");
        rc = LBP_INVALID;
        goto out;
    }
    lbp_info("gce: project %s, region %s, network %s, cluster %s, credentials %s, endpoint %s",
             ctx->conf.project, ctx->conf.region, ctx->conf.network, ctx->conf.cluster,
             ctx->cred_kind, ctx->conf.endpoint);
out:
    free(text);
    if (rc) {
        gce_cleanup(ctx);
        return rc;
    }
    *out = ctx;
    return LBP_OK;
}

static void snapshot(struct lbp_provider_ctx *ctx, struct gce_conf *c)
{
    pthread_rwlock_rdlock(&ctx->lock);
    *c = ctx->conf;
    pthread_rwlock_unlock(&ctx->lock);
}

static int opts(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec, struct gce_opts *o,
                struct lbp_call *call)
{
    memset(o, 0, sizeof(*o));
    snapshot(ctx, &o->conf);
    return gce_opts_parse(spec, o, call);
}

/* The forwarding rule's address: both models name it after the LB. */
static int gce_get_lb(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      struct lbp_lb_status *st, struct lbp_call *call)
{
    struct gce_conf c;
    struct gce_resp r = {0};
    char path[256];
    const char *ip = NULL;
    int rc;
    snapshot(ctx, &c);
    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "regions/%s/forwardingRules/%s", c.region, spec->lb_name);
    rc = gce_get(ctx, &c, path, "get forwarding rule", &r, call);
    if (rc == LBP_OK && lbp_json_get_str(r.json, "IPAddress", 63, &ip, NULL, 0) == LBP_OK) {
        lbp_strlcpy(st->ingress[0].ip, ip, sizeof(st->ingress[0].ip));
        st->n_ingress = 1;
    }
    gce_resp_free(&r);
    return rc;
}

static int gce_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      struct lbp_lb_status *st, struct lbp_call *call)
{
    struct gce_opts o;
    int rc = opts(ctx, spec, &o, call);
    if (rc)
        return rc;
    memset(st, 0, sizeof(*st));
    gce_prefetch_begin(ctx);
    rc = o.internal ? gce_int_ensure(ctx, spec, &o, st, call)
                    : gce_ext_ensure(ctx, spec, &o, st, call);
    if (rc && rc != LBP_PENDING)
        lbp_v(2, "gce %s/%s: ensure: %s: %s", spec->namespace, spec->name, lbp_rc_str(rc),
              call ? call->err : "");
    if (call && rc == LBP_PENDING)
        st->retry_after_s = call->retry_after_s;
    return rc;
}

static int gce_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                              struct lbp_call *call)
{
    struct gce_opts o;
    int rc = opts(ctx, spec, &o, call);
    if (rc)
        return rc;
    gce_prefetch_begin(ctx);
    return o.internal ? gce_int_targets(ctx, spec, &o, call) : gce_ext_targets(ctx, spec, &o, call);
}

static int gce_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                      struct lbp_call *call)
{
    struct gce_conf c;
    int rc;
    snapshot(ctx, &c);
    gce_prefetch_begin(ctx);
    /* The annotations may be gone: remove whichever model's objects exist. */
    rc = gce_ext_remove(ctx, &c, spec, call);
    if (rc == LBP_OK)
        rc = gce_int_remove(ctx, &c, spec, call);
    return rc;
}

struct owned_scan {
    struct lbp_owned_list *l;
    const char *cluster;
    bool firewalls;
};

static int owned_each(void *ud, struct json_object *item)
{
    struct owned_scan *s = ud;
    const char *name = NULL, *desc = NULL;
    char svc[520];
    if (lbp_json_get_str(item, "name", 127, &name, NULL, 0) ||
        lbp_json_get_str(item, "description", 4096, &desc, NULL, 0) ||
        !gce_desc_owned(desc, s->cluster, svc, sizeof(svc)) || !strchr(svc, '/'))
        return LBP_OK;
    if (s->firewalls) {
        /* only the client firewall k8s-fw-<lb> names its LB */
        if (strncmp(name, "k8s-fw-", 7) != 0)
            return LBP_OK;
        name += 7;
    }
    if (lbp_owned_has(s->l, name))
        return LBP_OK;
    return lbp_owned_add_key(s->l, name, svc);
}

/*
 * Forwarding rules, target pools, backend services, addresses and client
 * firewalls carry the LB's name and description: a Service whose rule was
 * never made (or is already deleted) is still found through the others.
 */
static int gce_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                          struct lbp_call *call)
{
    static const char *const colls[] = {"forwardingRules", "targetPools", "backendServices",
                                        "addresses"};
    struct gce_conf c;
    struct lbp_owned_list l;
    struct owned_scan s = {.l = &l};
    char path[256];
    int rc = LBP_OK;
    snapshot(ctx, &c);
    s.cluster = c.cluster;
    lbp_owned_init(&l);
    for (size_t i = 0; rc == LBP_OK && i < sizeof(colls) / sizeof(colls[0]); i++) {
        snprintf(path, sizeof(path), "regions/%s/%s", c.region, colls[i]);
        rc = gce_list(ctx, &c, path, NULL, colls[i], owned_each, &s, call);
    }
    s.firewalls = true;
    if (rc == LBP_OK)
        rc = gce_list(ctx, &c, "global/firewalls", "name eq \"k8s-fw-.*\"", "firewalls", owned_each,
                      &s, call);
    if (rc) {
        lbp_owned_free(&l);
        return rc;
    }
    return lbp_owned_take(&l, out, n);
}

static int gce_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    struct gce_conf c;
    struct gce_resp r = {0};
    char path[128];
    int rc;
    snapshot(ctx, &c);
    snprintf(path, sizeof(path), "regions/%s", c.region);
    rc = gce_call(ctx, &c, "GET", path, NULL, "get region", &r, NULL, call);
    gce_resp_free(&r);
    return rc;
}

/*
 * SIGHUP: what selects objects (tags, network, subnetwork, prefix) may
 * change; where the API is and who we are need a restart.
 */
static int gce_reload(struct lbp_provider_ctx *ctx, const char *path, char *err, size_t errlen)
{
    struct gce_conf now, next;
    char *text = NULL;
    int rc;
    snapshot(ctx, &now);
    if (path && *path && (rc = lbp_ini_load(path, &text))) {
        snprintf(err, errlen, "gce: cannot read cloud-config %s: %s", path, lbp_rc_str(rc));
        return LBP_INVALID;
    }
    rc = gce_conf_parse(text, now.cluster, &next, err, errlen);
    free(text);
    if (rc)
        return rc;
    if (!next.project[0])
        lbp_strlcpy(next.project, now.project, sizeof(next.project));
    if (!next.network_project[0])
        lbp_strlcpy(next.network_project, next.project, sizeof(next.network_project));
    if (!next.region[0])
        lbp_strlcpy(next.region, now.region, sizeof(next.region));
    if (strcmp(next.project, now.project) || strcmp(next.region, now.region) ||
        strcmp(next.endpoint, now.endpoint) || strcmp(next.token_url, now.token_url) ||
        strcmp(next.key_file, now.key_file) || strcmp(next.cluster, now.cluster)) {
        snprintf(err, errlen,
                 "gce: cloud-config: project-id, region, local-zone, api-endpoint, "
                 "token-url, credentials-file and cluster-id need a restart");
        return LBP_INVALID;
    }
    pthread_rwlock_wrlock(&ctx->lock);
    ctx->conf = next;
    pthread_rwlock_unlock(&ctx->lock);
    lbp_info("gce: cloud-config reloaded (network %s, %zu node tags)", next.network, next.n_tags);
    return LBP_OK;
}

/* /debug/gce: configuration and caches, never a credential. */
static char *gce_debug_json(struct lbp_provider_ctx *ctx)
{
    struct json_object *o = json_object_new_object(), *tags = json_object_new_array();
    struct gce_conf c;
    if (!o || !tags) {
        json_object_put(o);
        json_object_put(tags);
        return NULL;
    }
    snapshot(ctx, &c);
    json_object_object_add(o, "project", json_object_new_string(c.project));
    json_object_object_add(o, "region", json_object_new_string(c.region));
    json_object_object_add(o, "network", json_object_new_string(c.network));
    json_object_object_add(o, "subnetwork", json_object_new_string(c.subnetwork));
    json_object_object_add(o, "cluster", json_object_new_string(c.cluster));
    json_object_object_add(o, "endpoint", json_object_new_string(c.endpoint));
    for (size_t i = 0; i < c.n_tags; i++)
        json_object_array_add(tags, json_object_new_string(c.tags[i]));
    json_object_object_add(o, "nodeTags", tags);
    json_object_object_add(o, "credentials", json_object_new_string(ctx->cred_kind));
    lbp_json_add_u64(o, "tokenFetches", lbp_token_fetches(ctx->rest.token));
    lbp_json_add_u64(o, "operationsInFlight", lbp_lro_count(ctx->ops));
    lbp_json_add_u64(o, "cachedInstances", lbp_node_cache_count(ctx->cache));
    gce_prefetch_debug(ctx->prefetch, o);
    return lbp_http_debug_text(o, ctx->http);
}

const struct lbp_provider lbp_provider_gce = {
    .name = "gce",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_SOURCE_RANGES | LBP_CAP_HEALTH_CHECKS |
            LBP_CAP_REQUESTED_IP,
    .init = gce_init,
    .cleanup = gce_cleanup,
    .get = gce_get_lb,
    .ensure = gce_ensure,
    .update_targets = gce_update_targets,
    .remove = gce_remove,
    .list_owned = gce_list_owned,
    .ping = gce_ping,
    .reload = gce_reload,
    .debug_json = gce_debug_json,
};
