/*
 * auth.c — fake-azure's identity side: Azure AD's v2.0 token endpoint
 * (client_credentials with a client secret, or with a client assertion as
 * workload identity sends), the federated issuer's RSA key and the
 * workload tokens signed with it, IMDS managed identity, and the Bearer
 * check on every ARM call.
 *
 * The token endpoint checks in Azure AD's order — method, tenant, grant,
 * client id, credential, scope — and answers with AAD's error shape and
 * AADSTS codes. A client assertion is verified as AAD verifies a federated
 * credential: RS256 signature with the issuer's key, then iss, sub, aud
 * (api://AzureADTokenExchange) and the exp/nbf window. Issued tokens are
 * opaque to clients (as ARM tokens are to everyone but ARM) and live in a
 * hash table with their audience and expiry, so ARM can tell an unknown
 * token from an expired one or one minted for another audience.
 */
#include "test/fakes/azure/fake.h"
#include "common/util.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uthash.h>

#define MAX_TOKENS 200000
#define FED_AUDIENCE "api://AzureADTokenExchange"
#define ARM_AUDIENCE "https://management.azure.com/"

struct token {
    char value[80];
    int64_t expires_s;
    char audience[160];
    UT_hash_handle hh;
};

static EVP_PKEY *g_key;
static struct token *g_tokens;
static size_t g_n_tokens;

int az_auth_init(void)
{
    g_key = EVP_RSA_gen(2048);
    return g_key ? 0 : -1;
}

void az_auth_free(void)
{
    struct token *t, *tmp;
    HASH_ITER(hh, g_tokens, t, tmp)
    {
        HASH_DEL(g_tokens, t);
        free(t);
    }
    g_n_tokens = 0;
    EVP_PKEY_free(g_key);
    g_key = NULL;
}

void az_auth_expire_all(void)
{
    for (struct token *t = g_tokens; t; t = t->hh.next)
        if (t->expires_s > lbp_wall_s() - 1)
            t->expires_s = lbp_wall_s() - 1;
}

int az_auth_write_key(const char *path)
{
    FILE *f = fopen(path, "w");
    int ok;
    if (!f)
        return -1;
    ok = PEM_write_PrivateKey(f, g_key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- base64url and JWTs ---- */

static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    size_t need = 4 * ((n + 2) / 3) + 1, len;
    char *tmp = malloc(need);
    out[0] = 0;
    if (!tmp)
        return;
    EVP_EncodeBlock((unsigned char *)tmp, in, (int)n);
    len = strlen(tmp);
    while (len && tmp[len - 1] == '=')
        tmp[--len] = 0;
    for (size_t i = 0; i < len; i++)
        tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    lbp_strlcpy(out, tmp, cap);
    free(tmp);
}

/* base64url (padding optional) → bytes; NULL on a bad character. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    size_t padded = (n + 3) / 4 * 4;
    char *tmp;
    unsigned char *out;
    int len;
    if (n % 4 == 1 || n > 65536)
        return NULL;
    tmp = malloc(padded + 1);
    out = malloc(padded / 4 * 3 + 1);
    if (!tmp || !out)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto bad;
        tmp[i] = c;
    }
    for (size_t i = n; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = 0;
    len = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)padded);
    if (len < 0)
        goto bad;
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    *out_len = (size_t)len - (padded - n);
    out[*out_len] = 0;
    free(tmp);
    return out;
bad:
    free(tmp);
    free(out);
    return NULL;
}

static struct json_object *b64url_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = b64url_decode(s, n, &len);
    struct json_object *o = raw ? json_tokener_parse((char *)raw) : NULL;
    free(raw);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

static bool jnum(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

int az_auth_write_token(const char *path)
{
    char hdr[64], claims[1024], h64[128], c64[1400], sig64[400], *jwt = NULL;
    unsigned char sig[512];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int64_t now = lbp_wall_s();
    FILE *f;
    int rc = -1;
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    snprintf(claims, sizeof(claims),
             "{\"aud\":[\"%s\"],\"iss\":\"%s\",\"sub\":\"%s\",\"iat\":%lld,\"nbf\":%lld,"
             "\"exp\":%lld}",
             FED_AUDIENCE, az_cfg.fed_issuer, az_cfg.fed_subject, (long long)now, (long long)now,
             (long long)now + 86400);
    b64url((unsigned char *)hdr, strlen(hdr), h64, sizeof(h64));
    b64url((unsigned char *)claims, strlen(claims), c64, sizeof(c64));
    if (asprintf(&jwt, "%s.%s", h64, c64) < 0) {
        jwt = NULL;
        goto out;
    }
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, g_key) != 1 ||
        EVP_DigestSign(md, sig, &sig_len, (unsigned char *)jwt, strlen(jwt)) != 1)
        goto out;
    b64url(sig, sig_len, sig64, sizeof(sig64));
    f = fopen(path, "w");
    if (!f)
        goto out;
    rc = fprintf(f, "%s.%s", jwt, sig64) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
out:
    free(jwt);
    EVP_MD_CTX_free(md);
    return rc;
}

/* ---- Azure AD ---- */

/* AAD's error body: error, error_description "AADSTSn: ...", error_codes and trace ids. */
static void aad_error(struct az_reply *r, int status, const char *error, long code, const char *fmt,
                      ...) __attribute__((format(printf, 5, 6)));
static void aad_error(struct az_reply *r, int status, const char *error, long code, const char *fmt,
                      ...)
{
    struct json_object *o = json_object_new_object(), *codes = json_object_new_array();
    char msg[900], desc[1200], trace[37], corr[37], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    az_guid(trace);
    az_guid(corr);
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%SZ", &tm);
    snprintf(desc, sizeof(desc), "AADSTS%ld: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
             code, msg, trace, corr, ts);
    json_object_array_add(codes, json_object_new_int64(code));
    json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "error_description", json_object_new_string(desc));
    json_object_object_add(o, "error_codes", codes);
    json_object_object_add(o, "timestamp", json_object_new_string(ts));
    json_object_object_add(o, "trace_id", json_object_new_string(trace));
    json_object_object_add(o, "correlation_id", json_object_new_string(corr));
    json_object_put(r->json);
    r->json = o;
    r->status = status;
}

/* The decoded value of key in an x-www-form-urlencoded body (caller frees), or NULL. */
static char *form_value(const char *body, size_t len, const char *key)
{
    size_t kl = strlen(key);
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t n = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (n > kl && p[kl] == '=' && !strncmp(p, key, kl)) {
            char *raw = strndup(p + kl + 1, n - kl - 1), *dec;
            int dlen = 0;
            if (!raw)
                return NULL;
            for (char *c = raw; *c; c++)
                if (*c == '+')
                    *c = ' ';
            dec = curl_easy_unescape(NULL, raw, 0, &dlen);
            free(raw);
            if (!dec)
                return NULL;
            raw = strdup(dec);
            curl_free(dec);
            return raw;
        }
        p += n + 1;
    }
    return NULL;
}

static const char *issue(const char *audience, int64_t *expires_in)
{
    struct token *t;
    if (g_n_tokens >= MAX_TOKENS)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    /* Shaped like a JWT so clients that peek at it do not choke; ARM only looks it up. */
    memcpy(t->value, "eyJ0eXAiOiJKV1QifQ.", 19);
    az_rand_hex(t->value + 19, 24);
    *expires_in = az_cfg.token_lifetime_s;
    t->expires_s = lbp_wall_s() + az_cfg.token_lifetime_s;
    lbp_strlcpy(t->audience, audience, sizeof(t->audience));
    HASH_ADD_STR(g_tokens, value, t);
    g_n_tokens++;
    return t->value;
}

/* 0 when the assertion is a workload token this tenant trusts; else r holds AAD's answer. */
static int check_assertion(const char *jwt, struct az_reply *r)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    struct json_object *hdr = NULL, *claims = NULL, *aud;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    EVP_MD_CTX *md = NULL;
    int64_t exp, nbf, now = lbp_wall_s();
    bool aud_ok = false;
    int rc = -1;
    if (!dot2 || strchr(dot2 + 1, '.') || !(hdr = b64url_json(jwt, (size_t)(dot1 - jwt))) ||
        !(claims = b64url_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) ||
        !(sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len))) {
        aad_error(r, 400, "invalid_request", 50027, "JWT token is invalid or malformed.");
        goto out;
    }
    if (!lbp_streq(az_js(hdr, "alg"), "RS256")) {
        aad_error(r, 401, "invalid_client", 5002738,
                  "Invalid JWT token. '%s' is not a supported signature algorithm.",
                  az_js(hdr, "alg") ? az_js(hdr, "alg") : "");
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_key) != 1 ||
        EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1) {
        aad_error(r, 401, "invalid_client", 700027,
                  "Client assertion failed signature validation.");
        goto out;
    }
    if (!lbp_streq(az_js(claims, "iss"), az_cfg.fed_issuer)) {
        aad_error(r, 400, "invalid_request", 700211,
                  "No matching federated identity record found for presented assertion issuer "
                  "'%s'.",
                  az_js(claims, "iss") ? az_js(claims, "iss") : "");
        goto out;
    }
    if (!lbp_streq(az_js(claims, "sub"), az_cfg.fed_subject)) {
        aad_error(r, 400, "invalid_request", 700213,
                  "No matching federated identity record found for presented assertion subject "
                  "'%s'.",
                  az_js(claims, "sub") ? az_js(claims, "sub") : "");
        goto out;
    }
    /* aud is a string or an array of strings (RFC 7519 4.1.3). */
    if (json_object_object_get_ex(claims, "aud", &aud)) {
        if (json_object_is_type(aud, json_type_string))
            aud_ok = !strcmp(json_object_get_string(aud), FED_AUDIENCE);
        for (size_t i = 0;
             json_object_is_type(aud, json_type_array) && i < json_object_array_length(aud); i++)
            aud_ok |=
                lbp_streq(json_object_get_string(json_object_array_get_idx(aud, i)), FED_AUDIENCE);
    }
    if (!aud_ok) {
        aad_error(r, 400, "invalid_request", 700212,
                  "No matching federated identity record found for presented assertion "
                  "audience '%s'.",
                  json_object_is_type(aud, json_type_string) ? json_object_get_string(aud) : "");
        goto out;
    }
    if (!jnum(claims, "exp", &exp) || exp <= now ||
        (jnum(claims, "nbf", &nbf) && nbf > now + 300)) {
        aad_error(r, 400, "invalid_client", 700024,
                  "Client assertion is not within its valid time range. Current time: %lld, "
                  "assertion valid from %lld, expiry time of assertion %lld.",
                  (long long)now, jnum(claims, "nbf", &nbf) ? (long long)nbf : 0LL,
                  jnum(claims, "exp", &exp) ? (long long)exp : 0LL);
        goto out;
    }
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    json_object_put(hdr);
    json_object_put(claims);
    free(sig);
    return rc;
}

/* "https://management.azure.com/.default" → "https://management.azure.com/". */
static bool scope_audience(const char *scope, char *aud, size_t cap)
{
    size_t n = strlen(scope), sfx = strlen("/.default");
    if (n <= sfx || strcmp(scope + n - sfx, "/.default") != 0 || strchr(scope, ' '))
        return false;
    snprintf(aud, cap, "%.*s/", (int)(n - sfx), scope);
    return true;
}

void az_auth_token(const char *method, const char *tenant, const char *ctype, const char *body,
                   size_t len, struct az_reply *r)
{
    char *grant = NULL, *cid = NULL, *secret = NULL, *atype = NULL, *assertion = NULL,
         *scope = NULL, aud[200];
    const char *tok;
    int64_t expires_in;
    struct json_object *o;

    if (strcmp(method, "POST") != 0) {
        aad_error(r, 400, "invalid_request", 900561,
                  "The endpoint only accepts POST requests. Received a %s request.", method);
        return;
    }
    if (strcasecmp(tenant, az_cfg.tenant) != 0) {
        aad_error(r, 400, "invalid_tenant", 90002,
                  "Tenant '%s' not found. Check to make sure you have the correct tenant ID and "
                  "are signing into the correct cloud.",
                  tenant);
        return;
    }
    if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
        aad_error(r, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'grant_type'.");
        return;
    }
    grant = form_value(body, len, "grant_type");
    cid = form_value(body, len, "client_id");
    secret = form_value(body, len, "client_secret");
    atype = form_value(body, len, "client_assertion_type");
    assertion = form_value(body, len, "client_assertion");
    scope = form_value(body, len, "scope");
    if (!grant) {
        aad_error(r, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'grant_type'.");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        aad_error(r, 400, "unsupported_grant_type", 70003,
                  "The app requested an unsupported grant type '%s'.", grant);
        goto out;
    }
    if (!cid) {
        aad_error(r, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'client_id'.");
        goto out;
    }
    if (strcasecmp(cid, az_cfg.client_id) != 0) {
        aad_error(r, 400, "unauthorized_client", 700016,
                  "Application with identifier '%s' was not found in the directory '%s'. This "
                  "can happen if the application has not been installed by the administrator "
                  "of the tenant or consented to by any user in the tenant.",
                  cid, az_cfg.tenant);
        goto out;
    }
    if (secret) {
        if (strcmp(secret, az_cfg.client_secret) != 0) {
            aad_error(r, 401, "invalid_client", 7000215,
                      "Invalid client secret provided. Ensure the secret being sent in the "
                      "request is the client secret value, not the client secret ID, for a "
                      "secret added to app '%s'.",
                      az_cfg.client_id);
            goto out;
        }
    } else if (assertion) {
        if (!lbp_streq(atype, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")) {
            aad_error(r, 400, "invalid_request", 700005,
                      "client_assertion_type must be "
                      "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
            goto out;
        }
        if (check_assertion(assertion, r) != 0)
            goto out;
    } else {
        aad_error(r, 401, "invalid_client", 7000218,
                  "The request body must contain the following parameter: 'client_assertion' "
                  "or 'client_secret'.");
        goto out;
    }
    if (!scope) {
        aad_error(r, 400, "invalid_request", 900144,
                  "The request body must contain the following parameter: 'scope'.");
        goto out;
    }
    if (!scope_audience(scope, aud, sizeof(aud))) {
        aad_error(r, 400, "invalid_scope", 1002012,
                  "The provided value for scope %s is not valid. Client credential flows must "
                  "have a scope value with /.default suffixed to the resource identifier "
                  "(application ID URI).",
                  scope);
        goto out;
    }
    if (!(tok = issue(aud, &expires_in))) {
        aad_error(r, 503, "temporarily_unavailable", 90033, "A transient error has occurred.");
        goto out;
    }
    o = json_object_new_object();
    json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
    json_object_object_add(o, "expires_in", json_object_new_int64(expires_in));
    json_object_object_add(o, "ext_expires_in", json_object_new_int64(expires_in));
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    r->json = o;
    r->status = 200;
out:
    free(grant);
    free(cid);
    free(secret);
    free(atype);
    free(assertion);
    free(scope);
}

/* ---- IMDS ---- */

static void imds_error(struct az_reply *r, int status, const char *error, const char *desc)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "error_description", json_object_new_string(desc));
    r->json = o;
    r->status = status;
}

void az_auth_imds(const char *method, const char *metadata_hdr, const char *api_version,
                  const char *resource, const char *client_id, const char *object_id,
                  const char *msi_res_id, struct az_reply *r)
{
    const char *who;
    char num[24], aud[200];
    int64_t expires_in;
    const char *tok;
    struct json_object *o;
    if (strcmp(method, "GET") != 0) {
        imds_error(r, 405, "invalid_request", "Method not allowed");
        return;
    }
    if (!metadata_hdr || strcmp(metadata_hdr, "true") != 0) {
        imds_error(r, 400, "invalid_request", "Required metadata header not specified");
        return;
    }
    if (!api_version || !*api_version) {
        imds_error(r, 400, "invalid_request", "Required query variable 'api-version' is missing");
        return;
    }
    if (!resource || !*resource) {
        imds_error(r, 400, "invalid_request", "Required audience parameter not specified");
        return;
    }
    if ((client_id != NULL) + (object_id != NULL) + (msi_res_id != NULL) > 1) {
        imds_error(r, 400, "invalid_request",
                   "Only one of client_id, object_id and msi_res_id may be given");
        return;
    }
    if (client_id)
        who = az_cfg.msi_client_id[0] && !strcasecmp(client_id, az_cfg.msi_client_id)
                  ? az_cfg.msi_client_id
                  : NULL;
    else if (msi_res_id)
        who = az_cfg.msi_res_id[0] && !strcasecmp(msi_res_id, az_cfg.msi_res_id)
                  ? az_cfg.msi_client_id
                  : NULL;
    else if (object_id)
        who = NULL; /* the fake's identities have no object ids */
    else
        who = az_cfg.msi_system ? "44444444-4444-4444-4444-444444444444" : NULL;
    if (!who) {
        imds_error(r, 400, "invalid_request", "Identity not found");
        return;
    }
    /* IMDS accepts the resource with or without its trailing slash and echoes it. */
    snprintf(aud, sizeof(aud), "%s%s", resource, resource[strlen(resource) - 1] == '/' ? "" : "/");
    if (!(tok = issue(aud, &expires_in))) {
        imds_error(r, 500, "unknown_error", "Too many tokens");
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    json_object_object_add(o, "client_id", json_object_new_string(who));
    /* IMDS writes its numbers as strings. */
    snprintf(num, sizeof(num), "%lld", (long long)expires_in);
    json_object_object_add(o, "expires_in", json_object_new_string(num));
    json_object_object_add(o, "ext_expires_in", json_object_new_string(num));
    snprintf(num, sizeof(num), "%lld", (long long)(lbp_wall_s() + expires_in));
    json_object_object_add(o, "expires_on", json_object_new_string(num));
    snprintf(num, sizeof(num), "%lld", (long long)lbp_wall_s());
    json_object_object_add(o, "not_before", json_object_new_string(num));
    json_object_object_add(o, "resource", json_object_new_string(resource));
    json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
    r->json = o;
    r->status = 200;
}

/* ---- ARM's check ---- */

static int arm_401(struct az_reply *r, const char *code, const char *error_desc, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
static int arm_401(struct az_reply *r, const char *code, const char *error_desc, const char *fmt,
                   ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    az_error(r, 401, code, "%s", msg);
    az_hdr(r, "WWW-Authenticate",
           "Bearer authorization_uri=\"https://login.microsoftonline.com/%s\", "
           "error=\"invalid_token\", error_description=\"%s\"",
           az_cfg.tenant, error_desc);
    return -1;
}

int az_auth_check(const char *authorization, struct az_reply *r)
{
    struct token *t = NULL;
    const char *v;
    if (!authorization || !*authorization)
        return arm_401(r, "AuthenticationFailed", "The access token is missing.",
                       "Authentication failed. The 'Authorization' header is missing.");
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return arm_401(r, "AuthenticationFailed", "The access token is missing.",
                       "Authentication failed. The 'Authorization' header is provided in an "
                       "invalid format.");
    v = authorization + 7;
    while (*v == ' ')
        v++;
    if (strlen(v) < sizeof(t->value))
        HASH_FIND_STR(g_tokens, v, t);
    if (!t)
        return arm_401(r, "InvalidAuthenticationToken", "The access token is invalid.",
                       "The access token is invalid.");
    if (t->expires_s <= lbp_wall_s()) {
        char exp[32], now[32];
        lbp_rfc3339(t->expires_s, exp);
        lbp_rfc3339(lbp_wall_s(), now);
        return arm_401(r, "ExpiredAuthenticationToken",
                       "The access token expiry UTC time is earlier than current UTC time.",
                       "The access token expiry UTC time '%s' is earlier than current UTC time "
                       "'%s'.",
                       exp, now);
    }
    if (strcasecmp(t->audience, ARM_AUDIENCE) != 0 &&
        strcasecmp(t->audience, "https://management.core.windows.net/") != 0)
        return arm_401(r, "InvalidAuthenticationTokenAudience",
                       "The access token has been obtained for wrong audience or resource.",
                       "The access token has been obtained for wrong audience or resource '%s'. "
                       "It should exactly match with one of the allowed audiences "
                       "'https://management.core.windows.net/','https://management.azure.com/'.",
                       t->audience);
    return 0;
}
