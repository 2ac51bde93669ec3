/*
 * auth.c — fake-gce's identity side: the service account's RSA key (made
 * at start with OpenSSL), the key file --write-credentials writes, the
 * OAuth2 token endpoint (RFC 7523 JWT bearer grant, RS256 verified with the
 * public key), workload identity federation (STS token exchange and
 * service-account impersonation), the metadata server's token and project
 * paths, and the Bearer check on every Compute call.
 *
 * The checks follow Google's order and answers: parse, algorithm,
 * signature, issuer, audience, iat/exp window, scope. A token whose scopes
 * do not include Compute is still issued (Google does the same) but Compute
 * calls made with it get 403 insufficientPermissions. Issued tokens live in
 * a hash table with their expiry; an expired one gets 401 authError.
 */
#include "test/fakes/gce/fake.h"
#include "test/fakes/fake_util.h"
#include "common/util.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#define MAX_TOKENS 100000
#define SCOPE_PREFIX "https://www.googleapis.com/auth/"

struct token {
    char value[96];
    int64_t expires_s;
    bool compute; /* has compute or cloud-platform scope */
    UT_hash_handle hh;
};

static EVP_PKEY *g_key;
static char g_key_id[41];
static char g_email[160];
static char g_client_id[24];
static struct token *g_tokens;
static size_t g_n_tokens;

const char *gce_auth_email(void)
{
    return g_email;
}

int gce_auth_init(void)
{
    g_key = EVP_RSA_gen(2048);
    if (!g_key)
        return -1;
    gce_rand_hex(g_key_id, 20);
    snprintf(g_email, sizeof(g_email), "lbprov@%s.iam.gserviceaccount.com", gce_cfg.project);
    gce_new_id(g_client_id);
    return 0;
}

void gce_auth_free(void)
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

int gce_auth_write_credentials(const char *path)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL, tmp[4096];
    long n;
    struct json_object *o = json_object_new_object();
    int rc = -1;
    FILE *f = NULL;

    if (!bio || !o || !PEM_write_bio_PrivateKey(bio, g_key, NULL, NULL, 0, NULL, NULL))
        goto out;
    n = BIO_get_mem_data(bio, &pem);
    json_object_object_add(o, "type", json_object_new_string("service_account"));
    json_object_object_add(o, "project_id", json_object_new_string(gce_cfg.project));
    json_object_object_add(o, "private_key_id", json_object_new_string(g_key_id));
    json_object_object_add(o, "private_key", json_object_new_string_len(pem, (int)n));
    json_object_object_add(o, "client_email", json_object_new_string(g_email));
    json_object_object_add(o, "client_id", json_object_new_string(g_client_id));
    json_object_object_add(o, "auth_uri",
                           json_object_new_string("https://accounts.google.com/o/oauth2/auth"));
    json_object_object_add(o, "token_uri", json_object_new_string(gce_cfg.token_uri));
    json_object_object_add(o, "auth_provider_x509_cert_url",
                           json_object_new_string("https://www.googleapis.com/oauth2/v1/certs"));
    json_object_object_add(o, "universe_domain", json_object_new_string("googleapis.com"));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        goto out;
    if (fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                    JSON_C_TO_STRING_NOSLASHESCAPE),
              f) < 0) {
        fclose(f);
        goto out;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        goto out;
    rc = 0;
out:
    if (rc)
        remove(tmp);
    json_object_put(o);
    BIO_free(bio);
    return rc;
}

/* ---- tokens ---- */

static const char *issue(bool compute, int64_t *expires_in)
{
    struct token *t, *tmp;
    int64_t now = lbp_wall_s();
    if (g_n_tokens >= MAX_TOKENS) {
        HASH_ITER(hh, g_tokens, t, tmp)
        {
            if (t->expires_s <= now) {
                HASH_DEL(g_tokens, t);
                free(t);
                g_n_tokens--;
            }
        }
        if (g_n_tokens >= MAX_TOKENS)
            return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    memcpy(t->value, "ya29.c.", 7);
    gce_rand_hex(t->value + 7, 32);
    t->expires_s = now + gce_cfg.token_lifetime_s;
    t->compute = compute;
    HASH_ADD_STR(g_tokens, value, t);
    g_n_tokens++;
    /* Google answers a lifetime a second short of the real one. */
    *expires_in = gce_cfg.token_lifetime_s > 1 ? gce_cfg.token_lifetime_s - 1 : 1;
    return t->value;
}

static void token_reply(struct gce_reply *r, const char *tok, int64_t expires_in)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "access_token", json_object_new_string(tok));
    json_object_object_add(o, "expires_in", json_object_new_int64(expires_in));
    json_object_object_add(o, "token_type", json_object_new_string("Bearer"));
    r->status = 200;
    r->json = o;
}

static bool scopes_have_compute(const char *scopes, char sep)
{
    const char *p = scopes;
    while (p && *p) {
        const char *e = strchr(p, sep);
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if ((n == strlen(SCOPE_PREFIX "compute") && !strncmp(p, SCOPE_PREFIX "compute", n)) ||
            (n == strlen(SCOPE_PREFIX "cloud-platform") &&
             !strncmp(p, SCOPE_PREFIX "cloud-platform", n)))
            return true;
        p = e ? e + 1 : NULL;
    }
    return false;
}

/* Every scope is a Google API scope URL (what Google accepts at all). */
static bool scopes_valid(const char *scopes)
{
    const char *p = scopes;
    if (!p || !*p)
        return false;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n <= strlen(SCOPE_PREFIX) || strncmp(p, SCOPE_PREFIX, strlen(SCOPE_PREFIX)) != 0)
            return false;
        for (size_t i = strlen(SCOPE_PREFIX); i < n; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
                  p[i] == '.' || p[i] == '_'))
                return false;
        if (!e)
            break;
        p = e + 1;
    }
    return true;
}

/*
 * Google's answer to a call without usable credentials: the error envelope
 * whose errors[0] carries its own short message (and, for a bad or missing
 * header, where the problem is), plus WWW-Authenticate.
 */
static int auth_error(struct gce_reply *r, int code, const char *reason, const char *message,
                      const char *short_message, bool in_header, const char *www_authenticate)
{
    struct json_object *e0;
    gce_error(r, code, "global", reason, "%s", message);
    e0 = json_object_array_get_idx(
        json_object_object_get(json_object_object_get(r->json, "error"), "errors"), 0);
    json_object_object_add(e0, "message", json_object_new_string(short_message));
    if (in_header) {
        json_object_object_add(e0, "location", json_object_new_string("Authorization"));
        json_object_object_add(e0, "locationType", json_object_new_string("header"));
    }
    r->hdr_name = "WWW-Authenticate";
    r->hdr_value = www_authenticate;
    return -1;
}

int gce_auth_check(const char *authorization, struct gce_reply *r)
{
    static const char missing[] =
        "Request is missing required authentication credential. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.";
    static const char invalid[] =
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.";
    struct token *t = NULL;
    const char *tok;

    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return auth_error(r, 401, "required", missing, "Login Required.", true,
                          "Bearer realm=\"https://accounts.google.com/\"");
    tok = authorization + 7;
    if (strlen(tok) < sizeof(t->value))
        HASH_FIND_STR(g_tokens, tok, t);
    if (!t || t->expires_s <= lbp_wall_s())
        return auth_error(r, 401, "authError", invalid, "Invalid Credentials", true,
                          "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"");
    if (!t->compute)
        return auth_error(r, 403, "insufficientPermissions",
                          "Request had insufficient authentication scopes.",
                          "Insufficient Permission", false,
                          "Bearer realm=\"https://accounts.google.com/\", "
                          "error=\"insufficient_scope\"");
    return 0;
}

/* ---- the token endpoint ---- */

static void oauth_error(struct gce_reply *r, int status, const char *error, const char *desc)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(error));
    json_object_object_add(o, "error_description", json_object_new_string(desc));
    r->status = status;
    r->json = o;
}

/* The value of key in an x-www-form-urlencoded body, decoded (malloc'd), or NULL. */
struct form_find {
    const char *key;
    char *value;
};

static int form_find_cb(void *ud, char *name, char *value)
{
    struct form_find *f = ud;
    bool hit = !strcmp(name, f->key);
    free(name);
    if (!hit) {
        free(value);
        return 0;
    }
    f->value = value;
    return 1;
}

static char *form_value(const char *body, size_t len, const char *key)
{
    struct form_find f = {key, NULL};
    fake_form_each(body, len, form_find_cb, &f);
    return f.value;
}

/* base64url (padding optional) → bytes; NULL on a bad character. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *out_len)
{
    size_t m = n, pad;
    char *std;
    unsigned char *out;
    int got;
    while (m > 0 && s[m - 1] == '=')
        m--;
    pad = (4 - m % 4) % 4;
    if (pad == 3)
        return NULL;
    std = malloc(m + pad + 1);
    out = malloc(m + pad + 1);
    if (!std || !out)
        goto bad;
    for (size_t i = 0; i < m; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            goto bad;
        std[i] = c;
    }
    memset(std + m, '=', pad);
    std[m + pad] = 0;
    got = EVP_DecodeBlock(out, (unsigned char *)std, (int)(m + pad));
    if (got < 0)
        goto bad;
    free(std);
    *out_len = (size_t)got - pad;
    out[*out_len] = 0;
    return out;
bad:
    free(std);
    free(out);
    return NULL;
}

static struct json_object *b64url_json(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = b64url_decode(s, n, &len);
    struct json_object *o;
    if (!raw)
        return NULL;
    o = json_tokener_parse((char *)raw);
    free(raw);
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static bool jnum(struct json_object *o, const char *key, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

static bool verify_sig(const char *input, size_t input_len, const unsigned char *sig,
                       size_t sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_key) == 1 &&
              EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, input_len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void check_jwt(const char *jwt, struct gce_reply *r)
{
    const char *dot1 = strchr(jwt, '.'), *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    struct json_object *hdr = NULL, *claims = NULL;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    const char *s, *aud;
    int64_t iat, exp, now = lbp_wall_s(), expires_in;
    const char *tok;

    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') ||
        !(hdr = b64url_json(jwt, (size_t)(dot1 - jwt))) ||
        !(claims = b64url_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) ||
        !(sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig_len))) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: the assertion is not a JWS.");
        goto out;
    }
    s = jstr(hdr, "alg");
    if (!s || strcmp(s, "RS256") != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: unsupported signing algorithm.");
        goto out;
    }
    if (json_object_object_get_ex(hdr, "typ", NULL) &&
        (!(s = jstr(hdr, "typ")) || strcmp(s, "JWT") != 0)) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: header typ must be JWT.");
        goto out;
    }
    /* A kid naming another key cannot verify: Google answers as for a bad signature. */
    if (json_object_object_get_ex(hdr, "kid", NULL) &&
        (!(s = jstr(hdr, "kid")) || strcmp(s, g_key_id) != 0)) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT Signature.");
        goto out;
    }
    if (!verify_sig(jwt, (size_t)(dot2 - jwt), sig, sig_len)) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT Signature.");
        goto out;
    }
    s = jstr(claims, "iss");
    if (!s || strcmp(s, g_email) != 0) {
        oauth_error(r, 400, "invalid_grant", "Invalid grant: account not found");
        goto out;
    }
    aud = jstr(claims, "aud");
    if (!aud || (strcmp(aud, gce_cfg.token_uri) != 0 &&
                 strcmp(aud, "https://oauth2.googleapis.com/token") != 0 &&
                 strcmp(aud, "https://accounts.google.com/o/oauth2/token") != 0)) {
        oauth_error(r, 400, "invalid_grant", "Invalid JWT: Failed audience check.");
        goto out;
    }
    if (!jnum(claims, "iat", &iat) || !jnum(claims, "exp", &exp) || exp <= now || iat > now + 60 ||
        exp <= iat || exp - iat > 3600) {
        oauth_error(r, 400, "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                    "reasonable timeframe. Check your iat and exp values in the JWT claim.");
        goto out;
    }
    s = jstr(claims, "scope");
    if (!scopes_valid(s)) {
        oauth_error(r, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
        goto out;
    }
    tok = issue(scopes_have_compute(s, ' '), &expires_in);
    if (!tok) {
        oauth_error(r, 503, "temporarily_unavailable", "too many tokens");
        goto out;
    }
    token_reply(r, tok, expires_in);
out:
    json_object_put(hdr);
    json_object_put(claims);
    free(sig);
}

void gce_auth_token_endpoint(const char *method, const char *body, size_t len, struct gce_reply *r)
{
    char *grant = NULL, *assertion = NULL;
    if (strcmp(method, "POST") != 0) {
        oauth_error(r, 405, "invalid_request", "Use POST.");
        return;
    }
    grant = form_value(body, len, "grant_type");
    assertion = form_value(body, len, "assertion");
    if (!grant) {
        oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
    } else if (strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0) {
        char desc[200];
        snprintf(desc, sizeof(desc), "Invalid grant_type: %.120s", grant);
        oauth_error(r, 400, "unsupported_grant_type", desc);
    } else if (!assertion || !*assertion) {
        oauth_error(r, 400, "invalid_request", "Missing required parameter: assertion");
    } else {
        check_jwt(assertion, r);
    }
    free(grant);
    free(assertion);
}

/* ---- workload identity federation ---- */

/*
 * Google STS (RFC 8693): a workload's own token for a federated access
 * token. The subject token must be the one given with --subject-token and
 * the audience the workload identity provider's; answers as
 * sts.googleapis.com does.
 */
void gce_auth_sts(const char *method, const char *body, size_t len, struct gce_reply *r)
{
    static const char *const keys[] = {"grant_type",         "requested_token_type",
                                       "subject_token_type", "subject_token",
                                       "audience",           "scope"};
    char *v[LBP_ARRAY_LEN(keys)];
    int64_t expires_in;
    const char *tok;

    if (strcmp(method, "POST") != 0) {
        oauth_error(r, 405, "invalid_request", "Use POST.");
        return;
    }
    for (size_t i = 0; i < LBP_ARRAY_LEN(keys); i++)
        v[i] = form_value(body, len, keys[i]);
    if (!v[0] || strcmp(v[0], "urn:ietf:params:oauth:grant-type:token-exchange") != 0)
        oauth_error(r, 400, "unsupported_grant_type",
                    "Invalid value for \"grant_type\": expected "
                    "urn:ietf:params:oauth:grant-type:token-exchange.");
    else if (!v[1] || strcmp(v[1], "urn:ietf:params:oauth:token-type:access_token") != 0)
        oauth_error(r, 400, "invalid_request", "Invalid value for \"requested_token_type\".");
    else if (!v[2] || (strcmp(v[2], "urn:ietf:params:oauth:token-type:jwt") != 0 &&
                       strcmp(v[2], "urn:ietf:params:oauth:token-type:id_token") != 0))
        oauth_error(r, 400, "invalid_request", "Invalid value for \"subject_token_type\".");
    else if (!v[4] || strcmp(v[4], gce_cfg.wif_audience) != 0)
        oauth_error(r, 400, "invalid_target",
                    "The target service indicated by the \"audience\" parameters is invalid.");
    else if (!v[3] || !gce_cfg.subject_token[0] || strcmp(v[3], gce_cfg.subject_token) != 0)
        oauth_error(r, 400, "invalid_grant", "The subject token is invalid or has expired.");
    else if (!scopes_valid(v[5]))
        oauth_error(r, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    else if (!(tok = issue(scopes_have_compute(v[5], ' '), &expires_in)))
        oauth_error(r, 503, "temporarily_unavailable", "too many tokens");
    else {
        token_reply(r, tok, expires_in);
        json_object_object_add(
            r->json, "issued_token_type",
            json_object_new_string("urn:ietf:params:oauth:token-type:access_token"));
    }
    for (size_t i = 0; i < LBP_ARRAY_LEN(keys); i++)
        free(v[i]);
}

/* Errors of Google's newer APIs: {"error":{"code","message","status"}}. */
static void api_error(struct gce_reply *r, int code, const char *status, const char *msg)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(e, "status", json_object_new_string(status));
    json_object_object_add(o, "error", e);
    gce_reply_clear(r);
    r->status = code;
    r->json = o;
}

void gce_auth_impersonate(const char *method, const char *url, const char *authorization,
                          const char *body, struct gce_reply *r)
{
    static const char pfx[] = "/v1/projects/-/serviceAccounts/";
    static const char sfx[] = ":generateAccessToken";
    struct json_object *in = NULL, *scopes, *lifetime;
    struct token *t = NULL;
    const char *email = url + sizeof(pfx) - 1, *tok;
    size_t elen;
    char joined[1024] = "", msg[300], expire[40];
    int64_t expires_in;

    if (strncmp(url, pfx, sizeof(pfx) - 1) != 0 || strlen(email) <= sizeof(sfx) - 1 ||
        strcmp(email + strlen(email) - (sizeof(sfx) - 1), sfx) != 0) {
        api_error(r, 404, "NOT_FOUND", "Not found.");
        return;
    }
    elen = strlen(email) - (sizeof(sfx) - 1);
    if (strcmp(method, "POST") != 0) {
        api_error(r, 405, "METHOD_NOT_ALLOWED", "Use POST.");
        return;
    }
    if (authorization && !strncasecmp(authorization, "Bearer ", 7) &&
        strlen(authorization + 7) < sizeof(t->value))
        HASH_FIND_STR(g_tokens, authorization + 7, t);
    if (!t || t->expires_s <= lbp_wall_s()) {
        api_error(r, 401, "UNAUTHENTICATED",
                  "Request had invalid authentication credentials. Expected OAuth 2 access "
                  "token, login cookie or other valid authentication credential.");
        return;
    }
    if (elen != strlen(g_email) || strncmp(email, g_email, elen) != 0) {
        snprintf(msg, sizeof(msg), "Not found; Gaia id not found for email %.*s", (int)elen, email);
        api_error(r, 404, "NOT_FOUND", msg);
        return;
    }
    in = json_tokener_parse(body ? body : "");
    if (!in || !json_object_object_get_ex(in, "scope", &scopes) ||
        !json_object_is_type(scopes, json_type_array) || json_object_array_length(scopes) == 0) {
        json_object_put(in);
        api_error(r, 400, "INVALID_ARGUMENT", "Scope required.");
        return;
    }
    if (json_object_object_get_ex(in, "lifetime", &lifetime) &&
        (!json_object_is_type(lifetime, json_type_string) ||
         !strchr(json_object_get_string(lifetime), 's'))) {
        json_object_put(in);
        api_error(r, 400, "INVALID_ARGUMENT", "Invalid value for \"lifetime\".");
        return;
    }
    for (size_t i = 0; i < json_object_array_length(scopes); i++) {
        const char *sc = json_object_get_string(json_object_array_get_idx(scopes, i));
        if (strlen(joined) + strlen(sc) + 2 < sizeof(joined))
            snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined), "%s%s",
                     joined[0] ? " " : "", sc);
    }
    json_object_put(in);
    if (!scopes_valid(joined)) {
        api_error(r, 400, "INVALID_ARGUMENT", "Invalid scope.");
        return;
    }
    tok = issue(scopes_have_compute(joined, ' '), &expires_in);
    if (!tok) {
        api_error(r, 503, "UNAVAILABLE", "too many tokens");
        return;
    }
    lbp_rfc3339(lbp_wall_s() + expires_in + 1, expire);
    r->json = json_object_new_object();
    json_object_object_add(r->json, "accessToken", json_object_new_string(tok));
    json_object_object_add(r->json, "expireTime", json_object_new_string(expire));
    r->status = 200;
}

/* ---- the metadata server ---- */

void gce_auth_metadata(const char *url, const char *flavor, const char *scopes, struct gce_reply *r)
{
    static const char pfx[] = "/computeMetadata/v1/";
    const char *p;
    char text[256];

    r->hdr_name = "Metadata-Flavor";
    r->hdr_value = "Google";
    if (strcmp(url, "/") == 0) {
        gce_reply_text(r, 200, "application/text", "computeMetadata/\n");
        return;
    }
    if (!flavor || strcmp(flavor, "Google") != 0) {
        gce_reply_text(r, 403, "text/html; charset=UTF-8",
                       "Your client does not have permission to get URL from this server. "
                       "Missing Metadata-Flavor:Google header.\n");
        return;
    }
    if (strncmp(url, pfx, sizeof(pfx) - 1) != 0) {
        gce_reply_text(r, 404, "text/html; charset=UTF-8", "Not Found\n");
        return;
    }
    p = url + sizeof(pfx) - 1;
    if (strcmp(p, "project/project-id") == 0) {
        gce_reply_text(r, 200, "application/text", gce_cfg.project);
    } else if (strcmp(p, "project/numeric-project-id") == 0) {
        gce_reply_text(r, 200, "application/text", gce_cfg.project_number);
    } else if (strcmp(p, "instance/zone") == 0) {
        snprintf(text, sizeof(text), "projects/%s/zones/%s", gce_cfg.project_number,
                 gce_cfg.zones[0]);
        gce_reply_text(r, 200, "application/text", text);
    } else if (!gce_cfg.metadata_sa && strncmp(p, "instance/service-accounts/", 26) == 0) {
        gce_reply_text(r, 404, "text/html; charset=UTF-8", "Not Found\n");
    } else if (strcmp(p, "instance/service-accounts/default/email") == 0) {
        gce_reply_text(r, 200, "application/text", g_email);
    } else if (strcmp(p, "instance/service-accounts/default/token") == 0) {
        int64_t expires_in;
        /* ?scopes=a,b picks the token's scopes; without it the VM's (cloud-platform). */
        const char *tok = issue(!scopes || scopes_have_compute(scopes, ','), &expires_in);
        if (!tok)
            gce_reply_text(r, 503, "text/plain", "too many tokens\n");
        else
            token_reply(r, tok, expires_in);
    } else {
        gce_reply_text(r, 404, "text/html; charset=UTF-8", "Not Found\n");
    }
}
