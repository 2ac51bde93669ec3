/*
 * test_fake_azure.c — fake-azure (test/fakes/azure) driven as a real
 * process over loopback with libcurl, checked against what Azure AD, IMDS
 * and Azure Resource Manager answer: client-secret and client-assertion
 * tokens (workload tokens signed here with OpenSSL from the issuer key the
 * fake writes; this signer is the test's own) and their AADSTS rejections,
 * IMDS and its Metadata header, ARM's 401s, case-insensitive paths,
 * api-version checks, ETag preconditions (412), async operations that stay
 * InProgress for --op-polls polls with URLs built from the Host header,
 * rate-limit budgets and 429s, id references, ARM's error envelopes, each
 * injected fault, and the recorded cassettes under
 * ../shared/testdata/recorded/azure replayed call by call against the fake
 * with status, headers and body shapes compared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "test/fakes/azure/fake_azure_client.h"
#include "test/integration/yaml_json.h"

#define SUB "/subscriptions/" FAKE_AZURE_SUBSCRIPTION
#define RG SUB "/resourceGroups/lbprov-rg"
#define NET RG "/providers/Microsoft.Network"
#define V "?api-version=2024-01-01"
#define SUBNET_ID NET "/virtualNetworks/lbprov-vnet/subnets/lbprov-subnet"
#define TOKEN_PATH "/" FAKE_AZURE_TENANT "/oauth2/v2.0/token"
#define FORM "application/x-www-form-urlencoded"
#define ARM_SCOPE "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
#define FED_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"

struct resp {
    long status;
    struct fake_azure_resp raw;
    struct json_object *json;
};

static struct fake_azure g;
static char g_token[200];

static void resp_free(struct resp *r)
{
    fake_azure_resp_free(&r->raw);
    json_object_put(r->json);
    memset(r, 0, sizeof(*r));
}

static long http(struct fake_azure *f, const char *method, const char *path, const char *ctype,
                 const char *body, const char *const *headers, struct resp *out)
{
    memset(out, 0, sizeof(*out));
    out->status = fake_azure_req(f, method, path, ctype, body, headers, &out->raw);
    out->json = json_tokener_parse(out->raw.body);
    return out->status;
}

/* An ARM call with g_token and up to two extra headers (NULL for none). */
static long arm_on(struct fake_azure *f, const char *method, const char *path, const char *body,
                   const char *h1, const char *h2, struct resp *out)
{
    char auth[260];
    const char *hdrs[4] = {auth, h1, h1 ? h2 : NULL, NULL};
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_token);
    return http(f, method, path, NULL, body, hdrs, out);
}

static long arm(const char *method, const char *path, const char *body, struct resp *out)
{
    return arm_on(&g, method, path, body, NULL, NULL, out);
}

/* A string at a dotted path ("properties.provisioningState"), or NULL. */
static const char *jp(struct json_object *o, const char *path)
{
    char buf[200], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
        char *br = strchr(t, '[');
        struct json_object *v = NULL;
        if (br)
            *br = 0;
        if (!json_object_object_get_ex(o, t, &v))
            return NULL;
        if (br)
            v = json_object_array_get_idx(v, (size_t)strtoul(br + 1, NULL, 10));
        o = v;
    }
    return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

static struct json_object *jo(struct json_object *o, const char *path)
{
    char buf[200], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
        char *br = strchr(t, '[');
        struct json_object *v = NULL;
        if (br)
            *br = 0;
        if (!json_object_object_get_ex(o, t, &v))
            return NULL;
        if (br)
            v = json_object_array_get_idx(v, (size_t)strtoul(br + 1, NULL, 10));
        o = v;
    }
    return o;
}

static void expect_error(struct resp *r, long status, const char *code)
{
    if (r->status != status || !lbp_streq(jp(r->json, "error.code"), code))
        fail_msg("want %ld %s, got %ld %s", status, code, r->status, r->raw.body);
    assert_non_null(jp(r->json, "error.message"));
}

static void expect_aad(struct resp *r, long status, const char *error, const char *aadsts)
{
    const char *d = jp(r->json, "error_description");
    if (r->status != status || !lbp_streq(jp(r->json, "error"), error) || !d ||
        strncmp(d, aadsts, strlen(aadsts)) != 0)
        fail_msg("want %ld %s %s, got %ld %s", status, error, aadsts, r->status, r->raw.body);
    assert_true(json_object_is_type(jo(r->json, "error_codes"), json_type_array));
    assert_non_null(jp(r->json, "trace_id"));
    assert_non_null(jp(r->json, "correlation_id"));
}

static void config(const char *json)
{
    assert_int_equal(fake_azure_control(&g, "/_fake/config", json), 200);
}

static void faults(const char *json)
{
    assert_int_equal(fake_azure_control(&g, "/_fake/faults", json), 200);
}

/* A path's part of an absolute operation URL. */
static const char *url_path(const char *url)
{
    const char *p = strstr(url, "://");
    return p ? strchr(p + 3, '/') : url;
}

/* Polls an operation until it is terminal; returns its status. */
static const char *op_wait(const char *url, char *out, size_t cap)
{
    for (int i = 0; i < 50; i++) {
        struct resp r;
        arm("GET", url_path(url), NULL, &r);
        assert_int_equal(r.status, 200);
        snprintf(out, cap, "%s", jp(r.json, "status") ? jp(r.json, "status") : "");
        resp_free(&r);
        if (strcmp(out, "InProgress") != 0)
            return out;
    }
    fail_msg("operation never finished: %s", url);
    return out;
}

/* PUT and wait for its operation to succeed. */
static void put_ok(const char *path, const char *body)
{
    struct resp r;
    char st[32];
    arm("PUT", path, body, &r);
    if (r.status != 200 && r.status != 201)
        fail_msg("PUT %s -> %ld %s", path, r.status, r.raw.body);
    assert_true(r.raw.async_op[0]);
    assert_string_equal(op_wait(r.raw.async_op, st, sizeof(st)), "Succeeded");
    resp_free(&r);
}

static void del_ok(const char *path)
{
    struct resp r;
    char st[32];
    arm("DELETE", path, NULL, &r);
    if (r.status != 202)
        fail_msg("DELETE %s -> %ld %s", path, r.status, r.raw.body);
    assert_string_equal(op_wait(r.raw.async_op, st, sizeof(st)), "Succeeded");
    resp_free(&r);
}

static const char *pip_body = "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},"
                              "\"properties\":{\"publicIPAllocationMethod\":\"Static\"}}";

/* A Standard LB with one public frontend on pip, a pool, a probe and one rule. */
static void lb_body(char *out, size_t cap, const char *lb, const char *pip, const char *probe_ref)
{
    snprintf(out, cap,
             "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},\"properties\":{"
             "\"frontendIPConfigurations\":[{\"name\":\"fe\",\"properties\":{\"publicIPAddress\":"
             "{\"id\":\"%s/publicIPAddresses/%s\"}}}],"
             "\"backendAddressPools\":[{\"name\":\"pool\"}],"
             "\"probes\":[{\"name\":\"probe\",\"properties\":{\"protocol\":\"Tcp\",\"port\":30080,"
             "\"intervalInSeconds\":5,\"probeThreshold\":2}}],"
             "\"loadBalancingRules\":[{\"name\":\"rule\",\"properties\":{\"protocol\":\"Tcp\","
             "\"frontendPort\":80,\"backendPort\":80,\"enableFloatingIP\":true,"
             "\"frontendIPConfiguration\":{\"id\":\"%s/loadBalancers/%s/frontendIPConfigurations/"
             "fe\"},\"backendAddressPool\":{\"id\":\"%s/loadBalancers/%s/backendAddressPools/"
             "pool\"},\"probe\":{\"id\":\"%s/loadBalancers/%s/probes/%s\"}}}]}}",
             NET, pip, NET, lb, NET, lb, NET, lb, probe_ref);
}

/* ---- Azure AD ---- */

static void test_token_client_secret(void **st)
{
    struct resp r;
    char tok[200];
    (void)st;
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
         "&client_secret=" FAKE_AZURE_CLIENT_SECRET ARM_SCOPE,
         NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jp(r.json, "token_type"), "Bearer");
    assert_true(json_object_is_type(jo(r.json, "expires_in"), json_type_int));
    assert_true(json_object_get_int(jo(r.json, "expires_in")) > 3000);
    assert_non_null(jp(r.json, "access_token"));
    resp_free(&r);

    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
         "&client_secret=wrong" ARM_SCOPE,
         NULL, &r);
    expect_aad(&r, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.");
    resp_free(&r);
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=99999999-2222-2222-2222-222222222222"
         "&client_secret=" FAKE_AZURE_CLIENT_SECRET ARM_SCOPE,
         NULL, &r);
    expect_aad(&r, 400, "unauthorized_client", "AADSTS700016:");
    resp_free(&r);
    http(&g, "POST", "/not-our-tenant/oauth2/v2.0/token", FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
         "&client_secret=" FAKE_AZURE_CLIENT_SECRET ARM_SCOPE,
         NULL, &r);
    expect_aad(&r, 400, "invalid_tenant", "AADSTS90002: Tenant 'not-our-tenant' not found.");
    resp_free(&r);
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
         "&client_secret=" FAKE_AZURE_CLIENT_SECRET,
         NULL, &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS900144:");
    assert_non_null(strstr(jp(r.json, "error_description"), "'scope'"));
    resp_free(&r);
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=password&client_id=" FAKE_AZURE_CLIENT_ID ARM_SCOPE, NULL, &r);
    expect_aad(&r, 400, "unsupported_grant_type", "AADSTS70003:");
    resp_free(&r);
    http(&g, "GET", TOKEN_PATH, NULL, NULL, NULL, &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS900561:");
    resp_free(&r);

    /* A token for another resource is issued, and ARM refuses it. */
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID
         "&client_secret=" FAKE_AZURE_CLIENT_SECRET
         "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
         NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(tok, sizeof(tok), "Authorization: Bearer %s", jp(r.json, "access_token"));
    resp_free(&r);
    {
        const char *h[] = {tok, NULL};
        http(&g, "GET", NET "/loadBalancers" V, NULL, NULL, h, &r);
        expect_error(&r, 401, "InvalidAuthenticationTokenAudience");
        resp_free(&r);
    }
}

/* ---- workload identity: JWTs signed by the test ---- */

static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    char tmp[4096];
    size_t len;
    assert_true(4 * ((n + 2) / 3) < sizeof(tmp));
    EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
    len = strlen(tmp);
    while (len && tmp[len - 1] == '=')
        tmp[--len] = 0;
    for (size_t i = 0; i < len; i++)
        tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    snprintf(out, cap, "%s", tmp);
}

static void sign_jwt(EVP_PKEY *key, const char *claims, char *out, size_t cap)
{
    const char *hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
    char h64[200], c64[2000], input[2400], s64[600];
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    b64url((const unsigned char *)hdr, strlen(hdr), h64, sizeof(h64));
    b64url((const unsigned char *)claims, strlen(claims), c64, sizeof(c64));
    snprintf(input, sizeof(input), "%s.%s", h64, c64);
    assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &sig_len, (unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(md);
    b64url(sig, sig_len, s64, sizeof(s64));
    snprintf(out, cap, "%s.%s", input, s64);
}

static long assertion(const char *jwt, struct resp *r)
{
    char body[4400]; /* room for the longest JWT the tests build */
    snprintf(body, sizeof(body),
             "grant_type=client_credentials&client_id=%s&client_assertion_type=%s"
             "&client_assertion=%s%s",
             FAKE_AZURE_CLIENT_ID, FED_TYPE, jwt, ARM_SCOPE);
    return http(&g, "POST", TOKEN_PATH, FORM, body, NULL, r);
}

static void claims(char *out, size_t cap, const char *aud, const char *iss, const char *sub,
                   long long exp)
{
    snprintf(out, cap, "{\"aud\":\"%s\",\"iss\":\"%s\",\"sub\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
             aud, iss, sub, (long long)lbp_wall_s(), exp);
}

static void test_token_client_assertion(void **st)
{
    FILE *f;
    EVP_PKEY *key, *other;
    char jwt[4000], c[800];
    struct resp r;
    const char *aud = "api://AzureADTokenExchange", *iss = "https://oidc.fake-azure.test/",
               *sub = "system:serviceaccount:kube-system:lbprov-controller";
    long long later = (long long)lbp_wall_s() + 600;
    (void)st;

    /* The token file the fake wrote, as a projected service-account token would be. */
    f = fopen(g.fed_token, "r");
    assert_non_null(f);
    assert_non_null(fgets(jwt, sizeof(jwt), f));
    fclose(f);
    assertion(jwt, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jp(r.json, "token_type"), "Bearer");
    resp_free(&r);

    f = fopen(g.fed_key, "r");
    assert_non_null(f);
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    other = EVP_RSA_gen(2048);
    assert_non_null(other);

    claims(c, sizeof(c), aud, iss, sub, later);
    sign_jwt(key, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    sign_jwt(other, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    expect_aad(&r, 401, "invalid_client", "AADSTS700027:");
    resp_free(&r);

    claims(c, sizeof(c), "api://SomethingElse", iss, sub, later);
    sign_jwt(key, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS700212:");
    resp_free(&r);

    claims(c, sizeof(c), aud, "https://evil.example/", sub, later);
    sign_jwt(key, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS700211:");
    resp_free(&r);

    claims(c, sizeof(c), aud, iss, "system:serviceaccount:default:other", later);
    sign_jwt(key, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS700213:");
    resp_free(&r);

    claims(c, sizeof(c), aud, iss, sub, (long long)lbp_wall_s() - 10);
    sign_jwt(key, c, jwt, sizeof(jwt));
    assertion(jwt, &r);
    expect_aad(&r, 400, "invalid_client", "AADSTS700024:");
    resp_free(&r);

    assertion("not.a-jwt", &r);
    expect_aad(&r, 400, "invalid_request", "AADSTS50027:");
    resp_free(&r);

    /* Neither a secret nor an assertion. */
    http(&g, "POST", TOKEN_PATH, FORM,
         "grant_type=client_credentials&client_id=" FAKE_AZURE_CLIENT_ID ARM_SCOPE, NULL, &r);
    expect_aad(&r, 401, "invalid_client", "AADSTS7000218:");
    resp_free(&r);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}

/* ---- IMDS ---- */

static void test_imds(void **st)
{
    struct resp r;
    const char *meta[] = {"Metadata: true", NULL};
    char auth[260];
    const char *base = "/metadata/identity/oauth2/token?api-version=2018-02-01"
                       "&resource=https%3A%2F%2Fmanagement.azure.com%2F";
    char path[400];
    (void)st;
    http(&g, "GET", base, NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jp(r.json, "error"), "invalid_request");
    assert_string_equal(jp(r.json, "error_description"), "Required metadata header not specified");
    resp_free(&r);

    http(&g, "GET", base, NULL, NULL, meta, &r);
    assert_int_equal(r.status, 200);
    /* IMDS writes numbers as strings. */
    assert_non_null(jp(r.json, "expires_in"));
    assert_non_null(jp(r.json, "expires_on"));
    assert_string_equal(jp(r.json, "resource"), "https://management.azure.com/");
    assert_string_equal(jp(r.json, "token_type"), "Bearer");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", jp(r.json, "access_token"));
    resp_free(&r);
    {
        const char *h[] = {auth, NULL};
        http(&g, "GET", NET "/loadBalancers" V, NULL, NULL, h, &r);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }

    snprintf(path, sizeof(path), "%s&client_id=33333333-3333-3333-3333-333333333333", base);
    http(&g, "GET", path, NULL, NULL, meta, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jp(r.json, "client_id"), "33333333-3333-3333-3333-333333333333");
    resp_free(&r);
    snprintf(path, sizeof(path), "%s&client_id=55555555-3333-3333-3333-333333333333", base);
    http(&g, "GET", path, NULL, NULL, meta, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(jp(r.json, "error_description"), "Identity not found");
    resp_free(&r);
    snprintf(path, sizeof(path), "%s&msi_res_id=%%2Fsubscriptions%%2Fx%%2Fnope", base);
    http(&g, "GET", path, NULL, NULL, meta, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    http(&g, "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01", NULL, NULL, meta, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
}

/* ---- ARM ---- */

static void test_arm_auth(void **st)
{
    struct resp r;
    const char *bad[] = {"Authorization: Bearer not-a-token", NULL};
    (void)st;
    http(&g, "GET", NET "/loadBalancers" V, NULL, NULL, NULL, &r);
    expect_error(&r, 401, "AuthenticationFailed");
    resp_free(&r);
    http(&g, "GET", NET "/loadBalancers" V, NULL, NULL, bad, &r);
    expect_error(&r, 401, "InvalidAuthenticationToken");
    assert_non_null(strstr(r.raw.www_authenticate, "Bearer authorization_uri="));
    resp_free(&r);
    /* Every token expires: the same token is now refused as expired. */
    assert_int_equal(fake_azure_control(&g, "/_fake/tokens/expire", "{}"), 200);
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    expect_error(&r, 401, "ExpiredAuthenticationToken");
    resp_free(&r);
    assert_int_equal(fake_azure_token(&g, g_token, sizeof(g_token)), 0);
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_api_version(void **st)
{
    struct resp r;
    (void)st;
    arm("GET", NET "/loadBalancers", NULL, &r);
    expect_error(&r, 400, "MissingApiVersionParameter");
    resp_free(&r);
    arm("GET", NET "/loadBalancers?api-version=2024-1-1", NULL, &r);
    expect_error(&r, 400, "InvalidApiVersionParameter");
    resp_free(&r);
    arm("GET", NET "/loadBalancers?api-version=2099-01-01", NULL, &r);
    expect_error(&r, 400, "NoRegisteredProviderFound");
    assert_non_null(strstr(jp(r.json, "error.message"), "2024-01-01"));
    resp_free(&r);
    arm("GET", NET "/loadBalancers?api-version=2025-05-01", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* Compute takes its own versions. */
    arm("GET", RG "/providers/Microsoft.Compute/virtualMachines/node-0" V, NULL, &r);
    expect_error(&r, 400, "NoRegisteredProviderFound");
    resp_free(&r);
    arm("GET", RG "/providers/Microsoft.Compute/virtualMachines/node-0?api-version=2024-03-01",
        NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_paths_and_not_found(void **st)
{
    struct resp r;
    (void)st;
    put_ok(NET "/publicIPAddresses/CasePip" V, pip_body);
    arm("GET",
        "/SUBSCRIPTIONS/" FAKE_AZURE_SUBSCRIPTION
        "/resourcegroups/LBPROV-RG/PROVIDERS/microsoft.network/PUBLICIPADDRESSES/casepip" V,
        NULL, &r);
    assert_int_equal(r.status, 200);
    /* The id keeps the casing the resource was made with. */
    assert_string_equal(jp(r.json, "id"), NET "/publicIPAddresses/CasePip");
    assert_string_equal(jp(r.json, "name"), "CasePip");
    resp_free(&r);
    arm("GET", SUB "/resourcegroups/lbprov-rg/providers/microsoft.network/publicipaddresses" V,
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(json_object_array_length(jo(r.json, "value")) >= 1);
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/nope" V, NULL, &r);
    expect_error(&r, 404, "ResourceNotFound");
    assert_string_equal(jp(r.json, "error.message"),
                        "The Resource 'Microsoft.Network/publicIPAddresses/nope' under resource "
                        "group 'lbprov-rg' was not found. For more details please go to "
                        "https://aka.ms/ARMResourceNotFoundFix");
    resp_free(&r);
    arm("GET", SUB "/resourceGroups/no-rg/providers/Microsoft.Network/loadBalancers" V, NULL, &r);
    expect_error(&r, 404, "ResourceGroupNotFound");
    assert_string_equal(jp(r.json, "error.message"), "Resource group 'no-rg' could not be found.");
    resp_free(&r);
    arm("GET", "/subscriptions/other/resourceGroups/lbprov-rg" V, NULL, &r);
    expect_error(&r, 404, "SubscriptionNotFound");
    resp_free(&r);
    /* Deleting what is not there is a success with nothing to do. */
    arm("DELETE", NET "/publicIPAddresses/nope" V, NULL, &r);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    arm("PUT", NET "/publicIPAddresses/x" V, "{\"sku\":{\"name\":\"Standard\"}}", &r);
    expect_error(&r, 400, "LocationRequired");
    resp_free(&r);
    arm("PUT", NET "/publicIPAddresses/x" V, "not json", &r);
    expect_error(&r, 400, "InvalidRequestContent");
    resp_free(&r);
    del_ok(NET "/publicIPAddresses/casepip" V);
}

static void test_etags(void **st)
{
    struct resp r;
    char e1[96], e2[96], h[140];
    (void)st;
    put_ok(NET "/publicIPAddresses/etag-pip" V, pip_body);
    arm("GET", NET "/publicIPAddresses/etag-pip" V, NULL, &r);
    snprintf(e1, sizeof(e1), "%s", r.raw.etag);
    assert_string_equal(jp(r.json, "etag"), e1);
    assert_int_equal(strncmp(e1, "W/\"", 3), 0);
    resp_free(&r);

    snprintf(h, sizeof(h), "If-Match: %s", e1);
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, h, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(e2, sizeof(e2), "%s", jp(r.json, "etag"));
    assert_string_not_equal(e1, e2);
    resp_free(&r);

    /* The old etag is stale now. */
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, h, NULL, &r);
    expect_error(&r, 412, "PreconditionFailed");
    assert_string_equal(jp(r.json, "error.details[0].code"), "PreconditionFailedEtagMismatch");
    resp_free(&r);
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, "If-Match: invalid", NULL, &r);
    expect_error(&r, 412, "PreconditionFailed");
    assert_non_null(strstr(jp(r.json, "error.details[0].message"),
                           "Etag provided in if-match header W/\"invalid\" does not match etag"));
    resp_free(&r);
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, "If-None-Match: *", NULL, &r);
    expect_error(&r, 412, "PreconditionFailed");
    resp_free(&r);
    arm_on(&g, "DELETE", NET "/publicIPAddresses/etag-pip" V, NULL, h, NULL, &r);
    expect_error(&r, 412, "PreconditionFailed");
    resp_free(&r);
    /* The current etag, quoted without W/, or "*", is a match. */
    snprintf(h, sizeof(h), "If-Match: %s", e2 + 2);
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, h, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    arm_on(&g, "PUT", NET "/publicIPAddresses/etag-pip" V, pip_body, "If-Match: *", NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    del_ok(NET "/publicIPAddresses/etag-pip" V);
}

static void test_async_lifecycle(void **st)
{
    struct resp r;
    char op[600], loc[600], want[200];
    (void)st;
    config("{\"op_polls\":2,\"op_ms\":0}");
    arm_on(&g, "PUT", NET "/publicIPAddresses/async-pip" V, pip_body, "Host: arm.example.test:8443",
           NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Updating");
    assert_null(jp(r.json, "properties.ipAddress"));
    /* The operation URL is built from the Host the client used. */
    snprintf(want, sizeof(want),
             "http://arm.example.test:8443" SUB "/providers/Microsoft.Network/locations/eastus/"
             "operations/");
    assert_int_equal(strncmp(r.raw.async_op, want, strlen(want)), 0);
    assert_non_null(strstr(r.raw.async_op, "?api-version=2024-01-01"));
    assert_string_equal(r.raw.retry_after, "1");
    snprintf(op, sizeof(op), "%s", r.raw.async_op);
    resp_free(&r);

    for (int i = 0; i < 2; i++) {
        arm("GET", url_path(op), NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jp(r.json, "status"), "InProgress");
        assert_true(r.raw.retry_after[0]);
        resp_free(&r);
        arm("GET", NET "/publicIPAddresses/async-pip" V, NULL, &r);
        assert_string_equal(jp(r.json, "properties.provisioningState"), "Updating");
        resp_free(&r);
    }
    arm("GET", url_path(op), NULL, &r);
    assert_string_equal(jp(r.json, "status"), "Succeeded");
    /* Exactly the recorded shape: {"status":"Succeeded"}. */
    assert_int_equal(json_object_object_length(r.json), 1);
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/async-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Succeeded");
    assert_non_null(jp(r.json, "properties.ipAddress"));
    assert_int_equal(strncmp(jp(r.json, "properties.ipAddress"), "203.0.113.", 10), 0);
    resp_free(&r);

    /* DELETE: 202 with both URLs, Deleting until done, then gone. */
    arm("DELETE", NET "/publicIPAddresses/async-pip" V, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_true(r.raw.async_op[0]);
    assert_non_null(strstr(r.raw.location, "/operationResults/"));
    snprintf(loc, sizeof(loc), "%s", r.raw.location);
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/async-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Deleting");
    resp_free(&r);
    arm("GET", url_path(loc), NULL, &r);
    assert_int_equal(r.status, 202);
    assert_true(r.raw.location[0]);
    resp_free(&r);
    arm("GET", url_path(loc), NULL, &r);
    assert_int_equal(r.status, 202);
    resp_free(&r);
    arm("GET", url_path(loc), NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/async-pip" V, NULL, &r);
    expect_error(&r, 404, "ResourceNotFound");
    resp_free(&r);

    /* An operation that fails leaves the resource Failed. */
    config("{\"op_polls\":0}");
    faults("{\"op_failures\":1}");
    arm("PUT", NET "/publicIPAddresses/fail-pip" V, pip_body, &r);
    assert_int_equal(r.status, 201);
    snprintf(op, sizeof(op), "%s", r.raw.async_op);
    resp_free(&r);
    arm("GET", url_path(op), NULL, &r);
    assert_string_equal(jp(r.json, "status"), "Failed");
    assert_non_null(jp(r.json, "error.code"));
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/fail-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Failed");
    resp_free(&r);
    /* Only one failure was asked for: the retry succeeds. */
    put_ok(NET "/publicIPAddresses/fail-pip" V, pip_body);
    del_ok(NET "/publicIPAddresses/fail-pip" V);

    /* --op-ms: an operation nobody polls finishes on its own. */
    config("{\"op_polls\":100,\"op_ms\":200}");
    arm("PUT", NET "/publicIPAddresses/time-pip" V, pip_body, &r);
    resp_free(&r);
    usleep(400000);
    arm("GET", NET "/publicIPAddresses/time-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Succeeded");
    resp_free(&r);
    config("{\"op_polls\":0,\"op_ms\":10000}");
    del_ok(NET "/publicIPAddresses/time-pip" V);
}

/*
 * Network RP runs one operation per resource: while a delete runs, a PUT or a
 * second DELETE of the resource gets 409 AnotherOperationInProgress naming the
 * running operation, and changes nothing (the delete goes on and ends as it
 * would have). Once it has ended, a PUT makes the resource anew.
 */
static void test_write_while_deleting(void **st)
{
    struct resp r;
    char op[600], etag[64], status[32];
    const char *id;
    (void)st;
    config("{\"op_polls\":2,\"op_ms\":0}");
    put_ok(NET "/publicIPAddresses/busy-pip" V, pip_body);
    arm("DELETE", NET "/publicIPAddresses/busy-pip" V, NULL, &r);
    assert_int_equal(r.status, 202);
    snprintf(op, sizeof(op), "%s", r.raw.async_op);
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/busy-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.provisioningState"), "Deleting");
    snprintf(etag, sizeof(etag), "%s", jp(r.json, "etag"));
    resp_free(&r);
    id = strstr(op, "/operations/");
    assert_non_null(id);

    for (int i = 0; i < 2; i++) {
        const char *method = i ? "DELETE" : "PUT";
        char opid[64];
        snprintf(opid, sizeof(opid), "%.36s", id + strlen("/operations/"));
        arm(method, NET "/publicIPAddresses/busy-pip" V, i ? NULL : pip_body, &r);
        expect_error(&r, 409, "AnotherOperationInProgress");
        if (!strstr(jp(r.json, "error.message"), opid))
            fail_msg("%s: the message does not name operation %s: %s", method, opid, r.raw.body);
        resp_free(&r);
        /* nothing changed: still Deleting, same etag */
        arm("GET", NET "/publicIPAddresses/busy-pip" V, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(jp(r.json, "properties.provisioningState"), "Deleting");
        assert_string_equal(jp(r.json, "etag"), etag);
        resp_free(&r);
    }
    /* the delete was not ended by the refused writes: it still needs its polls */
    arm("GET", url_path(op), NULL, &r);
    assert_string_equal(jp(r.json, "status"), "InProgress");
    resp_free(&r);
    assert_string_equal(op_wait(op, status, sizeof(status)), "Succeeded");
    arm("GET", NET "/publicIPAddresses/busy-pip" V, NULL, &r);
    expect_error(&r, 404, "ResourceNotFound");
    resp_free(&r);
    config("{\"op_polls\":0,\"op_ms\":10000}");
    put_ok(NET "/publicIPAddresses/busy-pip" V, pip_body);
    del_ok(NET "/publicIPAddresses/busy-pip" V);
}

static long left(const char *s)
{
    return s && *s ? atol(s) : -1;
}

static void test_budgets(void **st)
{
    struct fake_azure b;
    const char *args[] = {"--writes-budget",
                          "2",
                          "--reads-budget",
                          "5",
                          "--budget-window",
                          "60",
                          "--nodes",
                          "0",
                          NULL};
    struct resp r;
    char saved[200];
    long a1, a2;
    (void)st;
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    a1 = left(r.raw.reads_left);
    resp_free(&r);
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    a2 = left(r.raw.reads_left);
    resp_free(&r);
    assert_true(a1 > 0);
    assert_int_equal(a2, a1 - 1);

    assert_int_equal(fake_azure_start(&b, args), 0);
    snprintf(saved, sizeof(saved), "%s", g_token);
    assert_int_equal(fake_azure_token(&b, g_token, sizeof(g_token)), 0);
    arm_on(&b, "PUT", SUB "/resourcegroups/rg1?api-version=2021-04-01", "{\"location\":\"eastus\"}",
           NULL, NULL, &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.raw.writes_left, "1");
    resp_free(&r);
    arm_on(&b, "PUT", SUB "/resourcegroups/rg2?api-version=2021-04-01", "{\"location\":\"eastus\"}",
           NULL, NULL, &r);
    assert_string_equal(r.raw.writes_left, "0");
    resp_free(&r);
    arm_on(&b, "PUT", SUB "/resourcegroups/rg3?api-version=2021-04-01", "{\"location\":\"eastus\"}",
           NULL, NULL, &r);
    expect_error(&r, 429, "SubscriptionRequestsThrottled");
    assert_true(atol(r.raw.retry_after) >= 1 && atol(r.raw.retry_after) <= 60);
    resp_free(&r);
    /* Reads have their own budget. */
    arm_on(&b, "GET", SUB "/resourcegroups/rg1?api-version=2021-04-01", NULL, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.raw.reads_left, "4");
    resp_free(&r);
    assert_int_equal(fake_azure_statuses(&b, 429), 1);
    assert_int_equal(fake_azure_stop(&b), 0);
    snprintf(g_token, sizeof(g_token), "%s", saved);
}

static void test_faults(void **st)
{
    struct resp r;
    (void)st;
    faults("{\"throttle\":1,\"retry_after_s\":7}");
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    expect_error(&r, 429, "TooManyRequests");
    assert_string_equal(r.raw.retry_after, "7");
    resp_free(&r);
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    faults("{\"server_errors\":2}");
    for (int i = 0; i < 2; i++) {
        arm("GET", NET "/loadBalancers" V, NULL, &r);
        expect_error(&r, 500, "InternalServerError");
        resp_free(&r);
    }
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    faults("{\"throttle_rate\":1.0}");
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 429);
    resp_free(&r);
    faults("{\"throttle_rate\":0,\"error_rate\":1}");
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 500);
    resp_free(&r);
    faults("{\"error_rate\":0,\"retry_after_s\":1}");
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* A lost reply: reads are answered; a write is stored and its connection closes. */
    faults("{\"lost_reply_rate\":1}");
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    arm("PUT", NET "/publicIPAddresses/lost-pip" V, pip_body, &r);
    assert_int_equal(r.status, -1);
    resp_free(&r);
    faults("{\"lost_reply_rate\":0}");
    arm("GET", NET "/publicIPAddresses/lost-pip" V, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    {
        struct json_object *c = fake_azure_json(&g, "/_fake/counters");
        assert_int_equal(json_object_get_int(json_object_object_get(c, "lost_replies")), 1);
        json_object_put(c);
    }
    del_ok(NET "/publicIPAddresses/lost-pip" V);
    /* A bad fault request changes nothing and says what is wrong. */
    assert_int_equal(fake_azure_control(&g, "/_fake/faults", "{\"throttle\":-1}"), 400);
    assert_int_equal(fake_azure_control(&g, "/_fake/faults", "{\"nosuch\":1}"), 400);
}

static void test_conflicting_writer(void **st)
{
    struct resp r;
    char body[3000], e1[96], h[140];
    (void)st;
    put_ok(NET "/publicIPAddresses/cw-pip" V, pip_body);
    lb_body(body, sizeof(body), "cw-lb", "cw-pip", "probe");
    put_ok(NET "/loadBalancers/cw-lb" V, body);
    faults("{\"conflicts\":1}");
    arm("GET", NET "/loadBalancers/cw-lb" V, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(e1, sizeof(e1), "%s", jp(r.json, "etag"));
    resp_free(&r);
    snprintf(h, sizeof(h), "If-Match: %s", e1);
    arm_on(&g, "PUT", NET "/loadBalancers/cw-lb" V, body, h, NULL, &r);
    expect_error(&r, 412, "PreconditionFailed");
    resp_free(&r);
    /* Re-read: the other writer's change is there, and this PUT goes through. */
    arm("GET", NET "/loadBalancers/cw-lb" V, NULL, &r);
    assert_string_not_equal(jp(r.json, "etag"), e1);
    assert_non_null(jo(r.json, "tags.fake-azure-other-writer"));
    snprintf(h, sizeof(h), "If-Match: %s", jp(r.json, "etag"));
    resp_free(&r);
    arm_on(&g, "PUT", NET "/loadBalancers/cw-lb" V, body, h, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    del_ok(NET "/loadBalancers/cw-lb" V);
    del_ok(NET "/publicIPAddresses/cw-pip" V);
}

static void test_references(void **st)
{
    struct resp r;
    char body[3000], want[600];
    (void)st;
    put_ok(NET "/publicIPAddresses/ref-pip" V, pip_body);
    lb_body(body, sizeof(body), "ref-lb", "ref-pip", "missing-probe");
    arm("PUT", NET "/loadBalancers/ref-lb" V, body, &r);
    expect_error(&r, 400, "InvalidResourceReference");
    snprintf(want, sizeof(want),
             "Resource %s/loadBalancers/ref-lb/probes/missing-probe referenced by resource "
             "%s/loadBalancers/ref-lb/loadBalancingRules/rule was not found.",
             NET, NET);
    assert_int_equal(strncmp(jp(r.json, "error.message"), want, strlen(want)), 0);
    resp_free(&r);
    /* Nothing half-made. */
    arm("GET", NET "/loadBalancers/ref-lb" V, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    lb_body(body, sizeof(body), "ref-lb", "no-such-pip", "probe");
    arm("PUT", NET "/loadBalancers/ref-lb" V, body, &r);
    expect_error(&r, 400, "InvalidResourceReference");
    resp_free(&r);
    /* A rule pointing at another LB's frontend is not this LB's. */
    lb_body(body, sizeof(body), "ref-lb", "ref-pip", "probe");
    {
        char *p = strstr(body, "ref-lb/frontendIPConfigurations");
        assert_non_null(p);
        memcpy(p, "ref-xx", 6);
    }
    arm("PUT", NET "/loadBalancers/ref-lb" V, body, &r);
    expect_error(&r, 400, "InvalidResourceReference");
    resp_free(&r);

    lb_body(body, sizeof(body), "ref-lb", "ref-pip", "probe");
    put_ok(NET "/loadBalancers/ref-lb" V, body);
    arm("GET", NET "/loadBalancers/ref-lb" V, NULL, &r);
    /* Back-references ARM keeps: frontend → rules, probe → rules, pool → rules. */
    assert_string_equal(jp(r.json, "properties.frontendIPConfigurations[0].properties."
                                   "loadBalancingRules[0].id"),
                        NET "/loadBalancers/ref-lb/loadBalancingRules/rule");
    assert_non_null(jp(r.json, "properties.probes[0].properties.loadBalancingRules[0].id"));
    assert_string_equal(jp(r.json, "properties.loadBalancingRules[0].properties.probe.id"),
                        NET "/loadBalancers/ref-lb/probes/probe");
    assert_string_equal(jp(r.json, "properties.frontendIPConfigurations[0].etag"),
                        jp(r.json, "etag"));
    resp_free(&r);
    arm("GET", NET "/publicIPAddresses/ref-pip" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.ipConfiguration.id"),
                        NET "/loadBalancers/ref-lb/frontendIPConfigurations/fe");
    resp_free(&r);

    /* The PIP is taken: not deletable, not usable by a second LB. */
    arm("DELETE", NET "/publicIPAddresses/ref-pip" V, NULL, &r);
    expect_error(&r, 400, "PublicIPAddressCannotBeDeleted");
    resp_free(&r);
    lb_body(body, sizeof(body), "ref-lb2", "ref-pip", "probe");
    arm("PUT", NET "/loadBalancers/ref-lb2" V, body, &r);
    expect_error(&r, 400, "PublicIPAddressInUse");
    resp_free(&r);
    /* A Basic PIP on a Standard LB. */
    put_ok(NET "/publicIPAddresses/basic-pip" V, "{\"location\":\"eastus\"}");
    lb_body(body, sizeof(body), "ref-lb2", "basic-pip", "probe");
    arm("PUT", NET "/loadBalancers/ref-lb2" V, body, &r);
    expect_error(&r, 400, "PublicIPAndLBSkuDoNotMatch");
    resp_free(&r);
    /* Bad field values are named; the stored LB is left as it was. */
    lb_body(body, sizeof(body), "ref-lb", "ref-pip", "probe");
    {
        char *p = strstr(body, "\"protocol\":\"Tcp\",\"frontendPort\"");
        assert_non_null(p);
        memcpy(p + 12, "Xyz", 3);
    }
    arm("PUT", NET "/loadBalancers/ref-lb" V, body, &r);
    expect_error(&r, 400, "InvalidRequestFormat");
    assert_non_null(strstr(jp(r.json, "error.message"), "'protocol'"));
    resp_free(&r);
    arm("GET", NET "/loadBalancers/ref-lb" V, NULL, &r);
    assert_string_equal(jp(r.json, "properties.loadBalancingRules[0].properties.protocol"), "Tcp");
    resp_free(&r);

    del_ok(NET "/loadBalancers/ref-lb" V);
    del_ok(NET "/publicIPAddresses/ref-pip" V);
    del_ok(NET "/publicIPAddresses/basic-pip" V);
}

static void rule(char *out, size_t cap, const char *name, int prio)
{
    snprintf(out, cap,
             "{\"name\":\"%s\",\"properties\":{\"protocol\":\"Tcp\",\"access\":\"Allow\","
             "\"direction\":\"Inbound\",\"priority\":%d,\"sourceAddressPrefix\":\"*\","
             "\"sourcePortRange\":\"*\",\"destinationAddressPrefix\":\"*\","
             "\"destinationPortRange\":\"80\"}}",
             name, prio);
}

static void test_nsg(void **st)
{
    struct resp r;
    char r1[400], r2[400], body[1200];
    (void)st;
    rule(r1, sizeof(r1), "a", 500);
    rule(r2, sizeof(r2), "b", 500);
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[%s,%s]}}", r1, r2);
    arm("PUT", NET "/networkSecurityGroups/test-nsg" V, body, &r);
    expect_error(&r, 400, "SecurityRuleConflict");
    resp_free(&r);
    rule(r2, sizeof(r2), "b", 5000);
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[%s,%s]}}", r1, r2);
    arm("PUT", NET "/networkSecurityGroups/test-nsg" V, body, &r);
    expect_error(&r, 400, "SecurityRuleInvalidPriority");
    resp_free(&r);
    rule(r2, sizeof(r2), "b", 501);
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[%s,%s]}}", r1, r2);
    put_ok(NET "/networkSecurityGroups/test-nsg" V, body);
    arm("GET", NET "/networkSecurityGroups/test-nsg" V, NULL, &r);
    assert_int_equal(json_object_array_length(jo(r.json, "properties.securityRules")), 2);
    assert_int_equal(json_object_array_length(jo(r.json, "properties.defaultSecurityRules")), 6);
    assert_string_equal(jp(r.json, "properties.securityRules[1].id"),
                        NET "/networkSecurityGroups/test-nsg/securityRules/b");
    resp_free(&r);
    del_ok(NET "/networkSecurityGroups/test-nsg" V);
    /* The seeded NSG guards the seeded subnet. */
    arm("DELETE", NET "/networkSecurityGroups/lbprov-nsg" V, NULL, &r);
    expect_error(&r, 400, "InUseNetworkSecurityGroupCannotBeDeleted");
    resp_free(&r);
}

/* ---- Azure's hard limits ---- */

/* A growing JSON text (the limit tests build bodies of hundreds of items). */
struct text {
    char *s;
    size_t n, cap;
};

static void addf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (t->n + (size_t)n + 1 > t->cap) {
        t->cap = (t->n + (size_t)n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        assert_non_null(t->s);
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)n;
}

/* An NSG with n Inbound rules r0..r(n-1) on distinct priorities. */
static void nsg_n(struct text *t, int n)
{
    char one[400];
    t->n = 0;
    addf(t, "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[");
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "r%d", i);
        rule(one, sizeof(one), name, 500 + i);
        addf(t, "%s%s", i ? "," : "", one);
    }
    addf(t, "]}}");
}

/*
 * A Standard LB `lb` with n_fe internal frontends fe0.., a pool, and per
 * frontend the ports [port0, port0 + n_ports) as Tcp rules to the pool.
 */
static void lb_n(struct text *t, const char *lb, int n_fe, int port0, int n_ports)
{
    t->n = 0;
    addf(t, "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},\"properties\":{"
            "\"frontendIPConfigurations\":[");
    for (int i = 0; i < n_fe; i++)
        addf(t, "%s{\"name\":\"fe%d\",\"properties\":{\"subnet\":{\"id\":\"%s\"}}}", i ? "," : "",
             i, SUBNET_ID);
    addf(t, "],\"backendAddressPools\":[{\"name\":\"pool\"}],\"loadBalancingRules\":[");
    for (int i = 0; i < n_fe; i++)
        for (int p = port0; p < port0 + n_ports; p++)
            addf(t,
                 "%s{\"name\":\"fe%d-%d\",\"properties\":{\"protocol\":\"Tcp\",\"frontendPort\":%d,"
                 "\"backendPort\":%d,\"frontendIPConfiguration\":{\"id\":\"%s/loadBalancers/%s/"
                 "frontendIPConfigurations/fe%d\"},\"backendAddressPool\":{\"id\":\"%s/"
                 "loadBalancers/%s/backendAddressPools/pool\"}}}",
                 i || p > port0 ? "," : "", i, p, p, p, NET, lb, i, NET, lb);
    addf(t, "]}}");
}

/* node-0's NIC in the pools of these LBs (NULL: out of every pool). */
static void nic_pools(char *out, size_t cap, const char *lb1, const char *lb2)
{
    char pools[800] = "";
    if (lb1)
        snprintf(pools, sizeof(pools),
                 ",\"loadBalancerBackendAddressPools\":[{\"id\":\"%s/loadBalancers/%s/"
                 "backendAddressPools/pool\"}",
                 NET, lb1);
    if (lb2)
        snprintf(pools + strlen(pools), sizeof(pools) - strlen(pools),
                 ",{\"id\":\"%s/loadBalancers/%s/backendAddressPools/pool\"}", NET, lb2);
    if (lb1)
        snprintf(pools + strlen(pools), sizeof(pools) - strlen(pools), "]");
    snprintf(out, cap,
             "{\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":"
             "\"ipconfig1\",\"properties\":{\"primary\":true,\"subnet\":{\"id\":\"%s\"}%s}}]}}",
             SUBNET_ID, pools);
}

static void expect_limit(struct resp *r, const char *code, const char *msg)
{
    expect_error(r, 400, code);
    if (!strstr(jp(r->json, "error.message"), msg))
        fail_msg("want a message with \"%s\", got %s", msg, r->raw.body);
}

/* Its etag and the length of an array of it. */
static size_t count_of(const char *path, const char *arr, char *etag, size_t cap)
{
    struct resp r;
    size_t n;
    arm("GET", path, NULL, &r);
    assert_int_equal(r.status, 200);
    n = json_object_array_length(jo(r.json, arr));
    if (etag)
        snprintf(etag, cap, "%s", jp(r.json, "etag"));
    resp_free(&r);
    return n;
}

static void test_limits(void **st)
{
    struct text t = {0};
    struct resp r;
    char nic[1500], etag[96], etag2[96];
    const char *lb = NET "/loadBalancers/lim-lb" V, *lb2 = NET "/loadBalancers/lim-lb2" V,
               *nsg = NET "/networkSecurityGroups/lim-nsg" V,
               *nic_path = NET "/networkInterfaces/node-0-nic" V;
    (void)st;

    /* Azure's own numbers by default; the refused object is not made. */
    nsg_n(&t, 1001);
    arm("PUT", nsg, t.s, &r);
    expect_limit(&r, "SecurityRuleCountLimitReached",
                 "A security group cannot have more than 1000 security rules.");
    resp_free(&r);
    arm("GET", nsg, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    nsg_n(&t, 1000);
    put_ok(nsg, t.s);
    del_ok(nsg);
    lb_n(&t, "lim-lb", 601, 80, 0);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "LoadBalancerFrontendIPConfigurationCountLimitReached",
                 "A load balancer cannot have more than 600 FrontendIPConfigurations.");
    resp_free(&r);
    lb_n(&t, "lim-lb", 1, 1, 1501);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "BadRequest", "cannot have more than 1500 load balancing rules");
    resp_free(&r);
    arm("GET", lb, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* 299 rules per NIC ip configuration: node-0 in the pool, then rule 300 is refused. */
    lb_n(&t, "lim-lb", 1, 1, 299);
    put_ok(lb, t.s);
    nic_pools(nic, sizeof(nic), "lim-lb", NULL);
    put_ok(nic_path, nic);
    lb_n(&t, "lim-lb", 1, 1, 300);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "BadRequest",
                 "IpConfiguration " NET "/networkInterfaces/node-0-nic/ipConfigurations/ipconfig1"
                 " cannot have more than 299 NAT or load balancing rules combined.");
    resp_free(&r);
    assert_int_equal(count_of(lb, "properties.loadBalancingRules", NULL, 0), 299);
    nic_pools(nic, sizeof(nic), NULL, NULL);
    put_ok(nic_path, nic);
    /* Out of the pool, the NIC no longer counts. */
    put_ok(lb, t.s);
    assert_int_equal(count_of(lb, "properties.loadBalancingRules", NULL, 0), 300);

    /* Small limits from the control endpoint. */
    config("{\"max_lb_frontends\":2,\"max_lb_rules\":3,\"max_nic_rules\":2,\"max_nsg_rules\":2}");
    lb_n(&t, "lim-lb", 2, 80, 1);
    put_ok(lb, t.s);
    count_of(lb, "properties.frontendIPConfigurations", etag, sizeof(etag));
    lb_n(&t, "lim-lb", 3, 80, 1);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "LoadBalancerFrontendIPConfigurationCountLimitReached",
                 "more than 2 FrontendIPConfigurations");
    resp_free(&r);
    /* Refused: the object and its etag are as they were. */
    assert_int_equal(count_of(lb, "properties.frontendIPConfigurations", etag2, sizeof(etag2)), 2);
    assert_string_equal(etag, etag2);
    lb_n(&t, "lim-lb", 2, 80, 2);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "BadRequest", "more than 3 load balancing rules and inbound NAT rules");
    resp_free(&r);

    /* Rules per NIC ip configuration count over every load balancer whose pool holds it. */
    nic_pools(nic, sizeof(nic), "lim-lb", NULL);
    put_ok(nic_path, nic);
    lb_n(&t, "lim-lb2", 1, 80, 1);
    put_ok(lb2, t.s);
    nic_pools(nic, sizeof(nic), "lim-lb", "lim-lb2");
    arm("PUT", nic_path, nic, &r);
    expect_limit(&r, "BadRequest", "/ipConfigurations/ipconfig1 cannot have more than 2 NAT");
    resp_free(&r);
    arm("GET", nic_path, NULL, &r);
    assert_int_equal(
        json_object_array_length(jo(r.json, "properties.ipConfigurations[0].properties."
                                            "loadBalancerBackendAddressPools")),
        1);
    resp_free(&r);
    /* lim-lb's third rule would be the NIC's third (the LB itself allows 3). */
    lb_n(&t, "lim-lb", 1, 80, 3);
    arm("PUT", lb, t.s, &r);
    expect_limit(&r, "BadRequest", "/node-0-nic/ipConfigurations/ipconfig1 cannot have more");
    resp_free(&r);
    assert_int_equal(count_of(lb, "properties.loadBalancingRules", NULL, 0), 2);

    /* Security rules per group. */
    nsg_n(&t, 2);
    put_ok(nsg, t.s);
    count_of(nsg, "properties.securityRules", etag, sizeof(etag));
    nsg_n(&t, 3);
    arm("PUT", nsg, t.s, &r);
    expect_limit(&r, "SecurityRuleCountLimitReached",
                 "A security group cannot have more than 2 security rules.");
    resp_free(&r);
    assert_int_equal(count_of(nsg, "properties.securityRules", etag2, sizeof(etag2)), 2);
    assert_string_equal(etag, etag2);

    config("{\"max_lb_frontends\":600,\"max_lb_rules\":1500,\"max_nic_rules\":299,"
           "\"max_nsg_rules\":1000}");
    nic_pools(nic, sizeof(nic), NULL, NULL);
    put_ok(nic_path, nic);
    del_ok(lb);
    del_ok(lb2);
    del_ok(nsg);
    free(t.s);
}

static void test_nodes_and_pools(void **st)
{
    struct resp r;
    char nic[600], nic_body[1500], body[3000], seed[3000];
    (void)st;
    arm("GET", RG "/providers/Microsoft.Compute/virtualMachines/node-1?api-version=2024-03-01",
        NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(nic, sizeof(nic), "%s",
             jp(r.json, "properties.networkProfile.networkInterfaces[0].id"));
    assert_string_equal(nic, NET "/networkInterfaces/node-1-nic");
    resp_free(&r);
    arm("GET", NET "/networkInterfaces/node-1-nic" V, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(jp(r.json, "properties.ipConfigurations[0].properties.privateIPAddress"));
    assert_int_equal(
        strncmp(jp(r.json, "properties.ipConfigurations[0].properties.privateIPAddress"),
                "10.224.0.", 9),
        0);
    assert_string_equal(jp(r.json, "properties.virtualMachine.id"),
                        RG "/providers/Microsoft.Compute/virtualMachines/node-1");
    resp_free(&r);

    /* NIC-based pool membership: the pool lists the NIC's IP configuration. */
    put_ok(NET "/publicIPAddresses/pool-pip" V, pip_body);
    lb_body(body, sizeof(body), "pool-lb", "pool-pip", "probe");
    put_ok(NET "/loadBalancers/pool-lb" V, body);
    snprintf(nic_body, sizeof(nic_body),
             "{\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":"
             "\"ipconfig1\",\"properties\":{\"primary\":true,\"subnet\":{\"id\":\"%s\"},"
             "\"loadBalancerBackendAddressPools\":[{\"id\":\"%s/loadBalancers/pool-lb/"
             "backendAddressPools/%s\"}]}}]}}",
             SUBNET_ID, NET, "nopool");
    arm("PUT", NET "/networkInterfaces/node-1-nic" V, nic_body, &r);
    expect_error(&r, 400, "InvalidResourceReference");
    resp_free(&r);
    snprintf(nic_body, sizeof(nic_body),
             "{\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":"
             "\"ipconfig1\",\"properties\":{\"primary\":true,\"subnet\":{\"id\":\"%s\"},"
             "\"loadBalancerBackendAddressPools\":[{\"id\":\"%s/loadBalancers/pool-lb/"
             "backendAddressPools/%s\"}]}}]}}",
             SUBNET_ID, NET, "pool");
    put_ok(NET "/networkInterfaces/node-1-nic" V, nic_body);
    arm("GET", NET "/loadBalancers/pool-lb" V, NULL, &r);
    assert_string_equal(
        jp(r.json, "properties.backendAddressPools[0].properties.backendIPConfigurations[0].id"),
        NET "/networkInterfaces/node-1-nic/ipConfigurations/ipconfig1");
    resp_free(&r);
    /* The VM link survives the client's PUT, which cannot set it. */
    arm("GET", NET "/networkInterfaces/node-1-nic" V, NULL, &r);
    assert_non_null(jp(r.json, "properties.virtualMachine.id"));
    resp_free(&r);

    /* An internal frontend gets a free address of its subnet. */
    snprintf(body, sizeof(body),
             "{\"location\":\"eastus\",\"sku\":{\"name\":\"Standard\"},\"properties\":{"
             "\"frontendIPConfigurations\":[{\"name\":\"ife\",\"properties\":{\"subnet\":{\"id\":"
             "\"%s\"}}}]}}",
             SUBNET_ID);
    put_ok(NET "/loadBalancers/pool-lb-internal" V, body);
    arm("GET", NET "/loadBalancers/pool-lb-internal" V, NULL, &r);
    {
        const char *a = jp(r.json, "properties.frontendIPConfigurations[0].properties."
                                   "privateIPAddress");
        assert_non_null(a);
        assert_int_equal(strncmp(a, "10.224.0.", 9), 0);
        /* node-0 and node-1 hold .4 and .5. */
        assert_string_equal(a, "10.224.0.6");
    }
    resp_free(&r);
    /* The subnet is in use now. */
    arm("DELETE", SUBNET_ID V, NULL, &r);
    expect_error(&r, 400, "InUseSubnetCannotBeDeleted");
    resp_free(&r);

    /* Scale-set nodes, seeded: VM → NIC under the Compute path, read-only to clients. */
    snprintf(seed, sizeof(seed),
             "{\"resources\":[{\"id\":\"%s/providers/Microsoft.Compute/virtualMachineScaleSets/"
             "ss\",\"body\":{\"location\":\"eastus\"}},{\"id\":\"%s/providers/Microsoft.Compute/"
             "virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/ss-nic\",\"body\":{"
             "\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":\"ipc\","
             "\"properties\":{\"subnet\":{\"id\":\"%s\"}}}]}}}]}",
             RG, RG, SUBNET_ID);
    /* The VMSS VM is missing: the NIC's parent is not there. */
    assert_int_equal(fake_azure_control(&g, "/_fake/seed", seed), 400);
    snprintf(seed, sizeof(seed),
             "{\"resources\":[{\"id\":\"%s/providers/Microsoft.Compute/virtualMachineScaleSets/"
             "ss\",\"body\":{\"location\":\"eastus\"}},{\"id\":\"%s/providers/Microsoft.Compute/"
             "virtualMachineScaleSets/ss/virtualMachines/0\",\"body\":{\"location\":\"eastus\","
             "\"properties\":{\"networkProfile\":{\"networkInterfaces\":[{\"id\":\"%s/providers/"
             "Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/"
             "ss-nic\"}]}}}},{\"id\":\"%s/providers/Microsoft.Compute/"
             "virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/ss-nic\",\"body\":{"
             "\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":\"ipc\","
             "\"properties\":{\"subnet\":{\"id\":\"%s\"}}}]}}}]}",
             RG, RG, RG, RG, SUBNET_ID);
    assert_int_equal(fake_azure_control(&g, "/_fake/seed", seed), 200);
    arm("GET",
        RG "/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0"
           "?api-version=2024-03-01",
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(jp(r.json, "properties.networkProfile.networkInterfaces[0].id"),
                           "/networkInterfaces/ss-nic"));
    resp_free(&r);
    arm("GET",
        RG "/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/"
           "networkInterfaces/ss-nic?api-version=2018-10-01",
        NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(jp(r.json, "type"), "Microsoft.Network/networkInterfaces");
    resp_free(&r);
    arm("PUT",
        RG "/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/"
           "networkInterfaces/ss-nic?api-version=2018-10-01",
        "{\"location\":\"eastus\"}", &r);
    expect_error(&r, 400, "OperationNotAllowed");
    resp_free(&r);

    del_ok(NET "/loadBalancers/pool-lb-internal" V);
    /* Take node-1 out of the pool again, then the LB can go. */
    snprintf(nic_body, sizeof(nic_body),
             "{\"location\":\"eastus\",\"properties\":{\"ipConfigurations\":[{\"name\":"
             "\"ipconfig1\",\"properties\":{\"primary\":true,\"subnet\":{\"id\":\"%s\"}}}]}}",
             SUBNET_ID);
    put_ok(NET "/networkInterfaces/node-1-nic" V, nic_body);
    del_ok(NET "/loadBalancers/pool-lb" V);
    del_ok(NET "/publicIPAddresses/pool-pip" V);
}

static void test_counters_and_state(void **st)
{
    struct resp r;
    char body[3000];
    long before;
    (void)st;
    before = fake_azure_objects(&g);
    assert_true(before >= 0);
    put_ok(NET "/publicIPAddresses/cnt-pip" V, pip_body);
    assert_int_equal(fake_azure_objects(&g), before + 1);
    assert_int_equal(fake_azure_control(&g, "/_fake/counters/reset", "{}"), 200);
    lb_body(body, sizeof(body), "cnt-lb", "cnt-pip", "probe");
    put_ok(NET "/loadBalancers/cnt-lb" V, body);
    put_ok(NET "/loadBalancers/cnt-lb" V, body);
    arm("GET", NET "/loadBalancers/cnt-lb" V, NULL, &r);
    resp_free(&r);
    arm("GET", NET "/loadBalancers" V, NULL, &r);
    resp_free(&r);
    assert_int_equal(fake_azure_calls(&g, "PUT loadBalancers"), 2);
    assert_int_equal(fake_azure_calls(&g, "GET loadBalancers"), 1);
    assert_int_equal(fake_azure_calls(&g, "LIST loadBalancers"), 1);
    assert_int_equal(fake_azure_calls(&g, "GET operations"), 2);
    assert_int_equal(fake_azure_calls(&g, "PUT publicIPAddresses"), 0);
    assert_int_equal(fake_azure_objects(&g), before + 2);
    del_ok(NET "/loadBalancers/cnt-lb" V);
    del_ok(NET "/publicIPAddresses/cnt-pip" V);
    assert_int_equal(fake_azure_objects(&g), before);
    assert_int_equal(fake_azure_calls(&g, "DELETE loadBalancers"), 1);
}

/* ---- the recorded cassettes ---- */

static bool same_type(struct json_object *a, struct json_object *b)
{
    enum json_type ta = json_object_get_type(a), tb = json_object_get_type(b);
    if ((ta == json_type_int || ta == json_type_double) &&
        (tb == json_type_int || tb == json_type_double))
        return true;
    return ta == tb;
}

/*
 * The fake's answer has the recording's keys with the same JSON types, and
 * no others, except ipAddress: the recordings show it only once the address
 * exists, and the fake adds it at the same point.
 */
static void shape(const char *where, struct json_object *rec, struct json_object *got)
{
    char sub[400];
    if (!same_type(rec, got))
        fail_msg("%s is %s in the recording, %s from the fake", where,
                 json_type_to_name(json_object_get_type(rec)),
                 json_type_to_name(json_object_get_type(got)));
    if (json_object_is_type(rec, json_type_object)) {
        json_object_object_foreach(rec, k, v)
        {
            struct json_object *gv;
            snprintf(sub, sizeof(sub), "%s.%s", where, k);
            if (!json_object_object_get_ex(got, k, &gv))
                fail_msg("the fake has no %s", sub);
            shape(sub, v, gv);
        }
        json_object_object_foreach(got, k2, v2)
        {
            (void)v2;
            if (!json_object_object_get_ex(rec, k2, NULL))
                fail_msg("the fake adds %s.%s", where, k2);
        }
    } else if (json_object_is_type(rec, json_type_array)) {
        if (json_object_array_length(rec) != json_object_array_length(got))
            fail_msg("%s has %zu items in the recording, %zu from the fake", where,
                     json_object_array_length(rec), json_object_array_length(got));
        for (size_t i = 0; i < json_object_array_length(rec); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
            shape(sub, json_object_array_get_idx(rec, i), json_object_array_get_idx(got, i));
        }
    }
}

static struct json_object *rec_header(struct json_object *hdrs, const char *name)
{
    json_object_object_foreach(hdrs, k, v) if (!strcasecmp(k, name)) return v;
    return NULL;
}

static char g_recorded[512];
static int g_replayed;

static void replay(const char *file)
{
    char path[700], err[300], op_url[700] = "", loc_url[700] = "";
    struct json_object *docs = NULL, *its;
    snprintf(path, sizeof(path), "%s/%s", g_recorded, file);
    if (lbp_test_yaml_load(path, &docs, err, sizeof(err)) != 0)
        fail_msg("%s: %s", path, err);
    its = jo(json_object_array_get_idx(docs, 0), "interactions");
    assert_true(json_object_array_length(its) > 10);
    for (size_t i = 0; i < json_object_array_length(its); i++) {
        struct json_object *it = json_object_array_get_idx(its, i), *rq = jo(it, "request"),
                           *rs = jo(it, "response"), *rh = jo(rs, "headers"), *im;
        const char *url = jp(rq, "url"), *method = jp(rq, "method"), *body = jp(rq, "body"),
                   *rbody = jp(rs, "body");
        long code = json_object_get_int(jo(rs, "code"));
        char target[1200], ifm[200] = "";
        struct resp r;
        const char *p = url_path(url);
        /* Operation URLs are the fake's own, from its previous answer. */
        if (strstr(p, "/operations/"))
            snprintf(target, sizeof(target), "%s", op_url);
        else if (strstr(p, "/operationresults/") || strstr(p, "/operationResults/"))
            snprintf(target, sizeof(target), "%s", loc_url);
        else
            snprintf(target, sizeof(target), "%s", p);
        assert_true(target[0]);
        im = rec_header(jo(rq, "headers"), "If-Match");
        if (im)
            snprintf(ifm, sizeof(ifm), "If-Match: %s",
                     json_object_get_string(json_object_array_get_idx(im, 0)));
        arm_on(&g, method, target, body && *body ? body : NULL, ifm[0] ? ifm : NULL, NULL, &r);
        if (r.status != code)
            fail_msg("%s #%zu %s %s: recorded %ld, fake %ld %s", file, i, method, p, code, r.status,
                     r.raw.body);
        if (rbody && *rbody) {
            struct json_object *rec = json_tokener_parse(rbody);
            char where[64];
            assert_non_null(rec);
            if (!r.json)
                fail_msg("%s #%zu: no JSON from the fake", file, i);
            snprintf(where, sizeof(where), "%s#%zu", file, i);
            shape(where, rec, r.json);
            json_object_put(rec);
        } else if (code != 204) {
            /* An empty recorded body: the fake's is empty too. */
            assert_string_equal(r.raw.body, "");
        }
        if (rec_header(rh, "Azure-AsyncOperation"))
            assert_true(r.raw.async_op[0]);
        if (rec_header(rh, "Location"))
            assert_true(r.raw.location[0]);
        if (rec_header(rh, "Etag"))
            assert_string_equal(r.raw.etag, jp(r.json, "etag"));
        if (r.raw.async_op[0])
            snprintf(op_url, sizeof(op_url), "%s", r.raw.async_op);
        if (r.raw.location[0])
            snprintf(loc_url, sizeof(loc_url), "%s", r.raw.location);
        resp_free(&r);
        g_replayed++;
    }
    json_object_put(docs);
}

static void test_recorded_cassettes(void **st)
{
    struct stat sb;
    (void)st;
    if (stat(g_recorded, &sb) != 0) {
        printf("skipped: recorded Azure cassettes not found at %s\n", g_recorded);
        return;
    }
    config("{\"op_polls\":0,\"op_ms\":10000}");
    replay("loadbalancer_cassette.yaml");
    replay("publicip_cassette.yaml");
    assert_true(g_replayed >= 30);
}

static void test_flags(void **st)
{
    struct fake_azure b;
    const char *args[] = {"--tenant-id",          "t-2", "--client-id",       "c-2",
                          "--client-secret",      "s-2", "--subscription-id", "sub-2",
                          "--no-system-identity", NULL};
    const char *meta[] = {"Metadata: true", NULL};
    struct resp r;
    (void)st;
    assert_int_equal(fake_azure_start(&b, args), 0);
    http(&b, "POST", "/t-2/oauth2/v2.0/token", FORM,
         "grant_type=client_credentials&client_id=c-2&client_secret=s-2" ARM_SCOPE, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    http(&b, "POST", "/t-2/oauth2/v2.0/token", FORM,
         "grant_type=client_credentials&client_id=c-2&client_secret=" FAKE_AZURE_CLIENT_SECRET
             ARM_SCOPE,
         NULL, &r);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    http(&b, "GET",
         "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F"
         "management.azure.com%2F",
         NULL, NULL, meta, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(fake_azure_stop(&b), 0);

    /* A limit from its flag. */
    {
        const char *lim[] = {"--max-nsg-rules", "1", NULL};
        char saved[200], r1[400], r2[400], body[1200];
        assert_int_equal(fake_azure_start(&b, lim), 0);
        snprintf(saved, sizeof(saved), "%s", g_token);
        assert_int_equal(fake_azure_token(&b, g_token, sizeof(g_token)), 0);
        arm_on(&b, "PUT", SUB "/resourcegroups/lbprov-rg?api-version=2021-04-01",
               "{\"location\":\"eastus\"}", NULL, NULL, &r);
        assert_int_equal(r.status, 201);
        resp_free(&r);
        rule(r1, sizeof(r1), "a", 500);
        rule(r2, sizeof(r2), "b", 501);
        snprintf(body, sizeof(body),
                 "{\"location\":\"eastus\",\"properties\":{\"securityRules\":[%s,%s]}}", r1, r2);
        arm_on(&b, "PUT", NET "/networkSecurityGroups/n" V, body, NULL, NULL, &r);
        expect_limit(&r, "SecurityRuleCountLimitReached", "more than 1 security rules");
        resp_free(&r);
        assert_int_equal(fake_azure_stop(&b), 0);
        snprintf(g_token, sizeof(g_token), "%s", saved);
    }
}

static int setup(void **st)
{
    const char *args[] = {"--nodes", "2", NULL};
    (void)st;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (fake_azure_start(&g, args) != 0)
        return -1;
    return fake_azure_token(&g, g_token, sizeof(g_token));
}

static int teardown(void **st)
{
    int rc;
    (void)st;
    /* Every test cleans up after itself: the leak check of the fake's own state. */
    if (fake_azure_objects(&g) != 0)
        fprintf(stderr, "fake-azure still holds %ld client objects\n", fake_azure_objects(&g));
    rc = fake_azure_objects(&g) == 0 ? 0 : -1;
    if (fake_azure_stop(&g) != 0)
        rc = -1;
    curl_global_cleanup();
    return rc;
}

int main(void)
{
    const char *shared = getenv("LBP_SHARED_TESTDATA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_client_secret),
        cmocka_unit_test(test_token_client_assertion),
        cmocka_unit_test(test_imds),
        cmocka_unit_test(test_arm_auth),
        cmocka_unit_test(test_api_version),
        cmocka_unit_test(test_paths_and_not_found),
        cmocka_unit_test(test_etags),
        cmocka_unit_test(test_async_lifecycle),
        cmocka_unit_test(test_write_while_deleting),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_conflicting_writer),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_nsg),
        cmocka_unit_test(test_nodes_and_pools),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_counters_and_state),
        cmocka_unit_test(test_recorded_cassettes),
        cmocka_unit_test(test_flags),
    };
    snprintf(g_recorded, sizeof(g_recorded), "%s/recorded/azure",
             shared && *shared ? shared : LBP_SHARED_TESTDATA_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
