/*
 * config.c — azure.json, read as cloud-provider-azure reads it.
 *
 * The file is one JSON object with upstream's keys (a table below says
 * each key's type and where it lands). Keys lbprov does not know are
 * ignored, so one file serves both; a key of the wrong type stops the
 * start with an error naming the key and the type it wants. Secrets may
 * also come from a file (a mounted Secret) or the environment, and
 * workload identity's AZURE_* variables fill what the file leaves out.
 * The cloud name picks the ARM and Entra ID endpoints and the token
 * audience; resourceManagerEndpoint / activeDirectoryEndpoint /
 * imdsEndpoint send calls elsewhere (tests) without changing the audience.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/azure/azure_int.h"
#include "common/file.h"
#include "common/json.h"
#include "common/rc.h"
#include "common/util.h"

enum kt { K_STR, K_BOOL, K_NUM, K_INT };

struct key {
    const char *name;
    enum kt type;
    size_t off, cap; /* strings: where and how big */
};

/* Raw values before they are interpreted. */
struct raw {
    struct az_config *c;
    char auth_type[32], pool_type[32], sku[16], rate_limit_set;
    bool msi, wi, rate_limit;
    double qps;
    int64_t bucket;
};

#define S(n, f)                                                                                    \
    {                                                                                              \
        n, K_STR, offsetof(struct az_config, f), sizeof(((struct az_config *)0)->f)                \
    }
static const struct key KEYS[] = {
    S("cloud", cloud),
    S("tenantId", tenant),
    S("subscriptionId", subscription),
    S("resourceGroup", rg),
    S("loadBalancerResourceGroup", lb_rg),
    S("location", location),
    S("vnetName", vnet),
    S("vnetResourceGroup", vnet_rg),
    S("subnetName", subnet),
    S("securityGroupName", nsg),
    S("securityGroupResourceGroup", nsg_rg),
    S("loadBalancerName", lb_name),
    S("aadClientId", client_id),
    S("aadClientSecretFile", secret_file),
    S("userAssignedIdentityID", user_identity),
    S("aadFederatedTokenFile", fed_token_file),
    S("resourceManagerEndpoint", arm),
    S("activeDirectoryEndpoint", aad),
    S("imdsEndpoint", imds),
    {"aadClientSecret", K_STR, 0, 0}, /* a secret: kept on the heap, wiped */
    {"loadBalancerSku", K_STR, 1, 0},
    {"loadBalancerBackendPoolConfigurationType", K_STR, 2, 0},
    {"useManagedIdentityExtension", K_BOOL, 0, 0},
    {"useFederatedWorkloadIdentityExtension", K_BOOL, 1, 0},
    {"disableOutboundSNAT", K_BOOL, 2, 0},
    {"cloudProviderRateLimit", K_BOOL, 3, 0},
    {"cloudProviderRateLimitQPS", K_NUM, 0, 0},
    {"cloudProviderRateLimitBucket", K_INT, 0, 0},
};
#undef S

struct cloud_env {
    const char *name, *arm, *aad, *resource;
};
static const struct cloud_env CLOUDS[] = {
    {"AzurePublicCloud", "https://management.azure.com/", "https://login.microsoftonline.com/",
     "https://management.azure.com/"},
    {"AzureChinaCloud", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/",
     "https://management.chinacloudapi.cn/"},
    {"AzureUSGovernmentCloud", "https://management.usgovcloudapi.net/",
     "https://login.microsoftonline.us/", "https://management.usgovcloudapi.net/"},
};

static const char *env(const char *n)
{
    const char *v = getenv(n);
    return v && *v ? v : NULL;
}

static const char *type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return "a boolean";
    case json_type_int:
    case json_type_double:
        return "a number";
    case json_type_string:
        return "a string";
    case json_type_array:
        return "an array";
    case json_type_object:
        return "an object";
    default:
        return "null";
    }
}

/* Ends an endpoint URL with '/', and accepts only http(s). */
static int endpoint(char *ep, size_t cap, const char *key, char *err, size_t errlen)
{
    size_t n = strlen(ep);
    if (!n)
        return LBP_OK;
    if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) != 0) {
        snprintf(err, errlen,
                 "azure: azure.json: %s: want an http:// or https:// URL, got \"%.64s\"", key, ep);
        return LBP_INVALID;
    }
    if (ep[n - 1] != '/' && n + 1 < cap) {
        ep[n] = '/';
        ep[n + 1] = 0;
    }
    return LBP_OK;
}

static int read_key(const struct key *k, json_object *v, struct raw *r, char *err, size_t errlen)
{
    const char *want = k->type == K_STR    ? "a string"
                       : k->type == K_BOOL ? "true or false"
                       : k->type == K_NUM  ? "a number"
                                           : "an integer";
    bool ok = k->type == K_STR    ? json_object_is_type(v, json_type_string)
              : k->type == K_BOOL ? json_object_is_type(v, json_type_boolean)
              : k->type == K_NUM  ? json_object_is_type(v, json_type_int) ||
                                       json_object_is_type(v, json_type_double)
                                 : json_object_is_type(v, json_type_int);
    if (json_object_is_type(v, json_type_null))
        return LBP_OK; /* as if absent */
    if (!ok) {
        snprintf(err, errlen, "azure: azure.json: %s: want %s, got %s", k->name, want,
                 type_name(v));
        return LBP_INVALID;
    }
    if (k->type == K_STR) {
        const char *s = json_object_get_string(v);
        if (k->cap) {
            if (strlen(s) >= k->cap) {
                snprintf(err, errlen, "azure: azure.json: %s: longer than %zu characters", k->name,
                         k->cap - 1);
                return LBP_INVALID;
            }
            lbp_strlcpy((char *)r->c + k->off, s, k->cap);
        } else if (k->off == 0) {
            free(r->c->client_secret);
            r->c->client_secret = lbp_strdup(s);
        } else {
            char *dst = k->off == 1 ? r->sku : r->pool_type;
            size_t cap = k->off == 1 ? sizeof(r->sku) : sizeof(r->pool_type);
            if (strlen(s) >= cap) {
                snprintf(err, errlen, "azure: azure.json: %s: unknown value \"%.40s\"", k->name, s);
                return LBP_INVALID;
            }
            lbp_strlcpy(dst, s, cap);
        }
    } else if (k->type == K_BOOL) {
        bool b = json_object_get_boolean(v);
        if (k->off == 0)
            r->msi = b;
        else if (k->off == 1)
            r->wi = b;
        else if (k->off == 2)
            r->c->disable_outbound_snat = b;
        else
            r->rate_limit = b, r->rate_limit_set = 1;
    } else if (k->type == K_NUM) {
        r->qps = json_object_get_double(v);
        if (r->qps < 0 || r->qps > 10000) {
            snprintf(err, errlen, "azure: azure.json: %s: want a number from 0 to 10000", k->name);
            return LBP_INVALID;
        }
    } else {
        r->bucket = json_object_get_int64(v);
        if (r->bucket < 1 || r->bucket > 100000) {
            snprintf(err, errlen, "azure: azure.json: %s: want an integer from 1 to 100000",
                     k->name);
            return LBP_INVALID;
        }
    }
    return LBP_OK;
}

static int placeholder(struct az_config *c, char *err, size_t errlen)
{
    const struct {
        const char *k, *v;
    } f[] = {{"tenantId", c->tenant},       {"subscriptionId", c->subscription},
             {"resourceGroup", c->rg},      {"location", c->location},
             {"vnetName", c->vnet},         {"subnetName", c->subnet},
             {"securityGroupName", c->nsg}, {"aadClientId", c->client_id}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (strncmp(f[i].v, "REPLACE_ME", 10) == 0) {
            snprintf(err, errlen,
                     "azure: azure.json: %s = %.40s is the example's placeholder: set it "
                     "(clouds/azure/README.md)",
                     f[i].k, f[i].v);
            return LBP_INVALID;
        }
    return LBP_OK;
}

int az_config_parse(const char *text, size_t len, const char *cluster, struct az_config *c,
                    char *err, size_t errlen)
{
    json_object *root = NULL;
    struct raw r = {.c = c, .qps = -1, .bucket = 0};
    char perr[200];
    const struct cloud_env *ce = NULL;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = lbp_json_parse(text, len, 1 << 20, &root, perr, sizeof(perr));
    if (rc) {
        snprintf(err, errlen, "azure: azure.json: %s", perr);
        return LBP_INVALID;
    }
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(err, errlen, "azure: azure.json: want a JSON object, got %s", type_name(root));
        rc = LBP_INVALID;
        goto out;
    }
    for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++) {
        json_object *v;
        if (json_object_object_get_ex(root, KEYS[i].name, &v) &&
            (rc = read_key(&KEYS[i], v, &r, err, errlen)))
            goto out;
    }
    if ((rc = placeholder(c, err, errlen)))
        goto out;

    /* Workload identity's webhook sets these; the file wins where it says. */
    if (!c->tenant[0] && env("AZURE_TENANT_ID"))
        lbp_strlcpy(c->tenant, env("AZURE_TENANT_ID"), sizeof(c->tenant));
    if (!c->client_id[0] && env("AZURE_CLIENT_ID"))
        lbp_strlcpy(c->client_id, env("AZURE_CLIENT_ID"), sizeof(c->client_id));
    if (!c->fed_token_file[0] && env("AZURE_FEDERATED_TOKEN_FILE"))
        lbp_strlcpy(c->fed_token_file, env("AZURE_FEDERATED_TOKEN_FILE"),
                    sizeof(c->fed_token_file));

    if (!c->cloud[0])
        lbp_strlcpy(c->cloud, "AzurePublicCloud", sizeof(c->cloud));
    for (size_t i = 0; i < sizeof(CLOUDS) / sizeof(CLOUDS[0]); i++)
        if (strcasecmp(c->cloud, CLOUDS[i].name) == 0)
            ce = &CLOUDS[i];
    if (!ce) {
        snprintf(err, errlen,
                 "azure: azure.json: cloud: unknown cloud \"%.40s\" (AzurePublicCloud, "
                 "AzureChinaCloud or AzureUSGovernmentCloud)",
                 c->cloud);
        rc = LBP_INVALID;
        goto out;
    }
    lbp_strlcpy(c->cloud, ce->name, sizeof(c->cloud));
    lbp_strlcpy(c->resource, ce->resource, sizeof(c->resource));
    if (!c->arm[0])
        lbp_strlcpy(c->arm, ce->arm, sizeof(c->arm));
    if (!c->aad[0])
        lbp_strlcpy(c->aad, env("AZURE_AUTHORITY_HOST") ? env("AZURE_AUTHORITY_HOST") : ce->aad,
                    sizeof(c->aad));
    if ((rc = endpoint(c->arm, sizeof(c->arm), "resourceManagerEndpoint", err, errlen)) ||
        (rc = endpoint(c->aad, sizeof(c->aad), "activeDirectoryEndpoint", err, errlen)) ||
        (rc = endpoint(c->imds, sizeof(c->imds), "imdsEndpoint", err, errlen)))
        goto out;

    {
        const struct {
            const char *k, *v;
        } need[] = {{"subscriptionId", c->subscription},
                    {"resourceGroup", c->rg},
                    {"location", c->location}};
        for (size_t i = 0; i < 3; i++)
            if (!need[i].v[0]) {
                snprintf(err, errlen, "azure: azure.json: %s is required", need[i].k);
                rc = LBP_INVALID;
                goto out;
            }
    }
    if (!c->lb_rg[0])
        lbp_strlcpy(c->lb_rg, c->rg, sizeof(c->lb_rg));
    if (!c->vnet_rg[0])
        lbp_strlcpy(c->vnet_rg, c->rg, sizeof(c->vnet_rg));
    if (!c->nsg_rg[0])
        lbp_strlcpy(c->nsg_rg, c->rg, sizeof(c->nsg_rg));
    if (!c->lb_name[0])
        lbp_strlcpy(c->lb_name, cluster && *cluster ? cluster : "kubernetes", sizeof(c->lb_name));
    if (strlen(c->lb_name) > AZ_NAME_MAX - 9) {
        snprintf(err, errlen, "azure: load balancer name \"%.40s...\" is longer than %d characters",
                 c->lb_name, AZ_NAME_MAX - 9);
        rc = LBP_INVALID;
        goto out;
    }

    if (r.sku[0] && strcasecmp(r.sku, "standard") != 0) {
        snprintf(err, errlen,
                 "azure: azure.json: loadBalancerSku: \"%s\" is not supported (only standard; "
                 "Basic load balancers are retired)",
                 r.sku);
        rc = LBP_INVALID;
        goto out;
    }
    if (!r.pool_type[0] || strcasecmp(r.pool_type, "nodeIPConfiguration") == 0)
        c->pool = AZ_POOL_NIC;
    else if (strcasecmp(r.pool_type, "nodeIP") == 0)
        c->pool = AZ_POOL_NODEIP;
    else {
        snprintf(err, errlen,
                 "azure: azure.json: loadBalancerBackendPoolConfigurationType: \"%s\" is not "
                 "supported (nodeIPConfiguration or nodeIP)",
                 r.pool_type);
        rc = LBP_INVALID;
        goto out;
    }
    if (c->pool == AZ_POOL_NODEIP && !c->vnet[0]) {
        snprintf(err, errlen,
                 "azure: azure.json: vnetName is required with "
                 "loadBalancerBackendPoolConfigurationType nodeIP");
        rc = LBP_INVALID;
        goto out;
    }

    /* The secret: the file's value, a mounted Secret's file, or the environment. */
    if (!c->client_secret && c->secret_file[0]) {
        char *s = NULL, ferr[300];
        size_t n = 0;
        if (lbp_file_read_err(c->secret_file, 4096, LBP_FILE_SECRET, &s, &n, ferr, sizeof(ferr))) {
            snprintf(err, errlen, "azure: azure.json: aadClientSecretFile: %s", ferr);
            rc = LBP_INVALID;
            goto out;
        }
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
            s[--n] = 0;
        c->client_secret = s;
    }
    if (!c->client_secret && env("AZURE_CLIENT_SECRET"))
        c->client_secret = lbp_strdup(env("AZURE_CLIENT_SECRET"));

    if (r.wi) {
        c->auth = AZ_AUTH_WORKLOAD;
        if (!c->fed_token_file[0] || !c->client_id[0] || !c->tenant[0]) {
            snprintf(err, errlen,
                     "azure: workload identity needs tenantId, aadClientId and a token file "
                     "(aadFederatedTokenFile or AZURE_FEDERATED_TOKEN_FILE)");
            rc = LBP_INVALID;
            goto out;
        }
    } else if (r.msi) {
        c->auth = AZ_AUTH_MSI;
    } else {
        c->auth = AZ_AUTH_SECRET;
        if (!c->tenant[0] || !c->client_id[0] || !c->client_secret || !*c->client_secret) {
            snprintf(err, errlen,
                     "azure: no credentials: set tenantId, aadClientId and aadClientSecret "
                     "(or aadClientSecretFile), or useManagedIdentityExtension, or "
                     "useFederatedWorkloadIdentityExtension");
            rc = LBP_INVALID;
            goto out;
        }
    }
    /* Upstream's defaults: rate limiting on, 1 call/s with a bucket of 5, are for
       many controllers per subscription; lbprov is one, and paces by ARM's headers. */
    c->qps = 20;
    c->burst = 40;
    if (r.rate_limit_set && !r.rate_limit)
        c->qps = 0;
    else if (r.qps > 0)
        c->qps = r.qps;
    if (r.bucket)
        c->burst = (int)r.bucket;
    rc = LBP_OK;
out:
    json_object_put(root);
    if (rc)
        az_config_free(c);
    return rc;
}

void az_config_free(struct az_config *c)
{
    if (c->client_secret) {
        explicit_bzero(c->client_secret, strlen(c->client_secret));
        free(c->client_secret);
        c->client_secret = NULL;
    }
}
