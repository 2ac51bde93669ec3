/*
 * token.c — the token cache and the bearer-token sources (see token.h).
 *
 * The cache is a mutex, a condition variable and a round counter: the
 * thread that finds no fresh token and no refresh running starts one and
 * fetches with the lock released; threads arriving meanwhile use the old
 * token while it is still valid, or wait for the round to end and take
 * its result (token or error). So N workers on an empty cache cause one
 * request to the token endpoint, not N.
 *
 * All sources speak the same answer (RFC 6749 5.1 and its cousins):
 * {"access_token", "expires_in" | "expires_on"}, numbers possibly as
 * strings (Azure); they differ only in the request, built in build_req.
 */
#include "provider/token.h"

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/rest.h"

#define KEY_FILE_MAX (64u << 10)
#define TOKEN_FILE_MAX (64u << 10)
#define DEFAULT_LIFETIME_S 300 /* when an answer gives no expiry at all */
#define JWT_LIFETIME_S 3600    /* Google's maximum */

/* ---- the cache ---- */

struct lbp_token_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct lbp_token_source *src;
    unsigned margin_s;
    struct lbp_token tok;
    bool have;
    bool refreshing;
    unsigned long round; /* refreshes finished */
    int last_rc;
    char last_err[384];
    unsigned long fetches;
};

void lbp_token_clear(struct lbp_token *t)
{
    if (t)
        OPENSSL_cleanse(t, sizeof(*t));
}

int lbp_token_cache_new(struct lbp_token_source *src, unsigned margin_s,
                        struct lbp_token_cache **out)
{
    struct lbp_token_cache *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c) {
        src->free(src);
        return LBP_NOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    lbp_cond_init_monotonic(&c->cv);
    c->src = src;
    c->margin_s = margin_s ? margin_s : LBP_TOKEN_MARGIN_S;
    *out = c;
    return LBP_OK;
}

void lbp_token_cache_free(struct lbp_token_cache *c)
{
    if (!c)
        return;
    c->src->free(c->src);
    lbp_token_clear(&c->tok);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void lbp_token_invalidate(struct lbp_token_cache *c)
{
    pthread_mutex_lock(&c->mu);
    c->have = false;
    lbp_token_clear(&c->tok);
    pthread_mutex_unlock(&c->mu);
}

unsigned long lbp_token_fetches(struct lbp_token_cache *c)
{
    unsigned long n;
    pthread_mutex_lock(&c->mu);
    n = c->fetches;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static bool valid(const struct lbp_token_cache *c, int64_t now)
{
    return c->have && c->tok.expires_s > now;
}

static bool fresh(const struct lbp_token_cache *c, int64_t now)
{
    return c->have && c->tok.expires_s - (int64_t)c->margin_s > now;
}

int lbp_token_get(struct lbp_token_cache *c, struct lbp_token *out, char *err, size_t errlen)
{
    struct lbp_token *fetched = NULL;
    char ferr[sizeof(c->last_err)] = "";
    int rc;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        int64_t now = lbp_wall_s();
        unsigned long round = c->round;
        if (fresh(c, now) || (c->refreshing && valid(c, now))) {
            *out = c->tok;
            pthread_mutex_unlock(&c->mu);
            return LBP_OK;
        }
        if (!c->refreshing)
            break;
        while (c->refreshing && c->round == round)
            pthread_cond_wait(&c->cv, &c->mu);
        if (!valid(c, lbp_wall_s()) && c->round != round) {
            /* The round we waited for failed: its error is ours. */
            rc = c->last_rc;
            lbp_seterr(err, errlen, "%s", c->last_err);
            pthread_mutex_unlock(&c->mu);
            return rc;
        }
    }
    c->refreshing = true;
    pthread_mutex_unlock(&c->mu);

    /* Heap, not stack: a token is up to 8 KiB and workers have small stacks. */
    fetched = calloc(1, sizeof(*fetched));
    rc = fetched ? c->src->fetch(c->src, fetched, ferr, sizeof(ferr)) : LBP_NOMEM;

    pthread_mutex_lock(&c->mu);
    c->refreshing = false;
    c->round++;
    c->fetches++;
    c->last_rc = rc;
    lbp_strlcpy(c->last_err, rc ? ferr : "", sizeof(c->last_err));
    if (rc == LBP_OK) {
        c->tok = *fetched;
        c->have = true;
        lbp_v(2, "token: %s token refreshed, valid %llds", c->src->kind,
              (long long)(c->tok.expires_s - lbp_wall_s()));
    } else if (valid(c, lbp_wall_s())) {
        lbp_warn("token: %s refresh failed, using the current token until it expires: %s",
                 c->src->kind, ferr);
        rc = LBP_OK;
    } else {
        c->have = false;
    }
    if (rc == LBP_OK)
        *out = c->tok;
    else
        lbp_seterr(err, errlen, "%s", ferr);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    lbp_token_clear(fetched);
    free(fetched);
    return rc;
}

int lbp_token_auth_header(struct lbp_token_cache *c, struct lbp_http_headers *h, char *err,
                          size_t errlen)
{
    struct lbp_token *t = malloc(sizeof(*t));
    int rc;
    if (!t)
        return LBP_NOMEM;
    rc = lbp_token_get(c, t, err, errlen);
    if (rc == LBP_OK)
        rc = lbp_http_headers_addf(h, "Authorization: Bearer %s", t->value);
    lbp_token_clear(t);
    free(t);
    return rc;
}

/* ---- base64url and RS256 JWTs (RFC 7515, RFC 7518 3.3) ---- */

static int b64url(struct lbp_buf *out, const void *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *tmp = malloc(cap);
    int n, rc;
    if (!tmp)
        return LBP_NOMEM;
    n = EVP_EncodeBlock(tmp, data, (int)len);
    while (n > 0 && tmp[n - 1] == '=')
        n--;
    for (int i = 0; i < n; i++)
        tmp[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : tmp[i];
    rc = lbp_buf_add(out, tmp, (size_t)n);
    free(tmp);
    return rc;
}

int lbp_jwt_rs256(const char *pem_key, const char *kid, const char *claims_json, char **jwt,
                  char *err, size_t errlen)
{
    struct lbp_buf b;
    struct json_object *hdr = json_object_new_object();
    BIO *bio = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char *sig = NULL;
    size_t siglen = 0;
    const char *h;
    int rc = LBP_NOMEM;

    *jwt = NULL;
    lbp_buf_init(&b, 64u << 10);
    if (!hdr)
        goto out;
    json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
    json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
    if (kid && *kid)
        json_object_object_add(hdr, "kid", json_object_new_string(kid));
    h = json_object_to_json_string_ext(hdr, JSON_C_TO_STRING_PLAIN);
    if ((rc = b64url(&b, h, strlen(h))) || (rc = lbp_buf_add(&b, ".", 1)) ||
        (rc = b64url(&b, claims_json, strlen(claims_json))))
        goto out;

    rc = LBP_AUTH;
    bio = BIO_new_mem_buf(pem_key, -1);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        lbp_seterr(err, errlen, "private_key: not a PEM RSA private key");
        goto out;
    }
    if (!(md = EVP_MD_CTX_new()) || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)b.data, b.len) != 1 ||
        !(sig = malloc(siglen)) ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)b.data, b.len) != 1) {
        lbp_seterr(err, errlen, "RS256 signing failed");
        goto out;
    }
    if ((rc = lbp_buf_add(&b, ".", 1)) || (rc = b64url(&b, sig, siglen)))
        goto out;
    *jwt = lbp_buf_take(&b, NULL);
    rc = *jwt ? LBP_OK : LBP_NOMEM;
out:
    json_object_put(hdr);
    BIO_free(bio);
    EVP_PKEY_free(key);
    EVP_MD_CTX_free(md);
    free(sig);
    lbp_buf_free(&b);
    return rc;
}

/* ---- sources ---- */

enum src_kind { SRC_CLIENT_CREDS, SRC_JWT, SRC_GCE_MD, SRC_AZURE_IMDS, SRC_FED_ASSERT, SRC_FED_STS };

static const char *const kind_name[] = {
    "client-credentials", "jwt-bearer", "gce-metadata", "azure-imds", "federated", "federated",
};

struct src {
    struct lbp_token_source base;
    enum src_kind kind;
    struct lbp_http_client *http;
    char *url;       /* token endpoint (with query for the metadata servers) */
    char *where;     /* url without its query, for messages */
    char *form;      /* fixed part of the form (may hold a client secret) */
    char *pem;       /* jwt: the private key */
    char *kid;       /* jwt: private_key_id */
    char *iss;       /* jwt: client_email */
    char *scope;     /* jwt / federated */
    char *file;      /* federated: the token file */
    const char *hdr; /* metadata servers' required header */
};

static void wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static void src_free(struct lbp_token_source *base)
{
    struct src *s = (struct src *)base;
    if (!s)
        return;
    free(s->url);
    free(s->where);
    wipe_free(s->form);
    wipe_free(s->pem);
    free(s->kid);
    free(s->iss);
    free(s->scope);
    free(s->file);
    free(s);
}

/* Appends "&name=<urlencoded value>" (no '&' when the buffer is empty). */
static int form_add(struct lbp_buf *b, const char *name, const char *value)
{
    int rc = lbp_buf_addf(b, "%s%s=", b->len ? "&" : "", name);
    return rc ? rc : lbp_http_urlencode(b, value ? value : "");
}

/* The form body for one fetch (fixed part plus anything made fresh). */
static int build_form(struct src *s, struct lbp_buf *form, char *err, size_t errlen)
{
    char *tok = NULL;
    int rc = LBP_OK;

    if (s->form)
        rc = lbp_buf_adds(form, s->form);
    if (rc)
        return rc;
    if (s->kind == SRC_JWT) {
        struct json_object *cl = json_object_new_object();
        int64_t now = lbp_wall_s();
        char *jwt = NULL;
        if (!cl)
            return LBP_NOMEM;
        json_object_object_add(cl, "iss", json_object_new_string(s->iss));
        json_object_object_add(cl, "scope", json_object_new_string(s->scope));
        json_object_object_add(cl, "aud", json_object_new_string(s->where));
        json_object_object_add(cl, "iat", json_object_new_int64(now));
        json_object_object_add(cl, "exp", json_object_new_int64(now + JWT_LIFETIME_S));
        rc = lbp_jwt_rs256(s->pem, s->kid,
                           json_object_to_json_string_ext(cl, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE),
                           &jwt, err, errlen);
        json_object_put(cl);
        if (rc == LBP_OK)
            rc = form_add(form, "assertion", jwt);
        wipe_free(jwt);
        return rc;
    }
    if (s->kind != SRC_FED_ASSERT && s->kind != SRC_FED_STS)
        return LBP_OK;
    /* Re-read every time: the kubelet rotates the projected token. */
    rc = lbp_file_read_err(s->file, TOKEN_FILE_MAX, LBP_FILE_SECRET, &tok, NULL, err, errlen);
    if (rc)
        return LBP_AUTH;
    tok[strcspn(tok, "\r\n")] = 0;
    if (!*tok) {
        lbp_seterr(err, errlen, "%s: empty token file", s->file);
        rc = LBP_AUTH;
    } else {
        rc = form_add(form, s->kind == SRC_FED_STS ? "subject_token" : "client_assertion", tok);
    }
    wipe_free(tok);
    return rc;
}

static int src_fetch(struct lbp_token_source *base, struct lbp_token *out, char *err,
                     size_t errlen)
{
    struct src *s = (struct src *)base;
    struct lbp_rest r = {.http = s->http};
    const char *hdrs[1] = {s->hdr};
    const char *const capture[1] = {"Metadata-Flavor"};
    bool metadata = s->kind == SRC_GCE_MD || s->kind == SRC_AZURE_IMDS;
    struct lbp_rest_req q = {.method = metadata ? "GET" : "POST",
                             .url = s->url,
                             .operation = "TokenRequest",
                             .headers = hdrs,
                             .n_headers = s->hdr ? 1 : 0,
                             /* A token grant changes nothing: asking twice is harmless. */
                             .idempotent = true,
                             /* Link-local metadata servers are never behind a proxy. */
                             .no_proxy = metadata,
                             .capture = capture,
                             .n_capture = s->kind == SRC_GCE_MD ? 1 : 0};
    struct lbp_rest_resp resp = {0};
    struct lbp_call *call = calloc(1, sizeof(*call));
    struct lbp_buf form;
    char why[200] = "";
    int64_t n;
    int rc;

    lbp_buf_init(&form, 128u << 10);
    if (!call) {
        rc = LBP_NOMEM;
        goto out;
    }
    if (!metadata) {
        rc = build_form(s, &form, why, sizeof(why));
        if (rc) {
            lbp_seterr(err, errlen, "%s token: %s", kind_name[s->kind], why);
            goto out;
        }
        q.form = form.data ? form.data : "";
    }
    rc = lbp_rest_call(&r, &q, &resp, NULL, call);
    if (rc) {
        lbp_seterr(err, errlen, "%s token from %s: %s", kind_name[s->kind], s->where, call->err);
        rc = rc == LBP_RETRY || rc == LBP_CANCELLED || rc == LBP_NOMEM ? rc : LBP_AUTH;
        goto out;
    }
    /* Only the real metadata server says so (and a stray web server would not). */
    if (s->kind == SRC_GCE_MD && !lbp_streq(resp.captured[0], "Google")) {
        lbp_seterr(err, errlen, "%s token from %s: the answer lacks Metadata-Flavor: Google",
                   kind_name[s->kind], s->where);
        rc = LBP_AUTH;
        goto out;
    }
    rc = lbp_json_copy_str(resp.json, "access_token", out->value, sizeof(out->value), why,
                           sizeof(why));
    if (rc == LBP_OK) {
        if (lbp_json_get_num(resp.json, "expires_in", 0, 10 * 365 * 86400, &n, why,
                             sizeof(why)) == LBP_OK)
            out->expires_s = lbp_wall_s() + n;
        else if (lbp_json_get_num(resp.json, "expires_on", 0, INT64_MAX / 2, &n, why,
                                  sizeof(why)) == LBP_OK)
            out->expires_s = n;
        else
            out->expires_s = lbp_wall_s() + DEFAULT_LIFETIME_S;
    } else {
        lbp_seterr(err, errlen, "%s token from %s: %s", kind_name[s->kind], s->where, why);
        rc = LBP_AUTH;
    }
out:
    if (form.data)
        OPENSSL_cleanse(form.data, form.len);
    lbp_buf_free(&form);
    lbp_rest_resp_free(&resp);
    free(call);
    return rc;
}

static int src_new(enum src_kind kind, struct lbp_http_client *http, const char *url,
                   struct src **out)
{
    struct src *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s)
        return LBP_NOMEM;
    s->base.kind = kind_name[kind];
    s->base.fetch = src_fetch;
    s->base.free = src_free;
    s->kind = kind;
    s->http = http;
    s->url = strdup(url);
    s->where = s->url ? strndup(url, strcspn(url, "?")) : NULL;
    if (!s->url || !s->where) {
        src_free(&s->base);
        return LBP_NOMEM;
    }
    *out = s;
    return LBP_OK;
}

static int finish(struct src *s, struct lbp_buf *form, int rc, struct lbp_token_source **out)
{
    if (rc == LBP_OK && form && !(s->form = lbp_buf_take(form, NULL)))
        rc = LBP_NOMEM;
    if (form) {
        if (form->data)
            OPENSSL_cleanse(form->data, form->len);
        lbp_buf_free(form);
    }
    if (rc) {
        src_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return LBP_OK;
}

int lbp_token_client_credentials(struct lbp_http_client *http, const char *token_url,
                                 const char *client_id, const char *client_secret,
                                 const char *scope, struct lbp_token_source **out, char *err,
                                 size_t errlen)
{
    struct src *s;
    struct lbp_buf f;
    int rc;
    if (!token_url || !client_id || !*client_id || !client_secret || !*client_secret) {
        lbp_seterr(err, errlen, "client credentials: token URL, client id and secret required");
        return LBP_INVALID;
    }
    if ((rc = src_new(SRC_CLIENT_CREDS, http, token_url, &s)))
        return rc;
    lbp_buf_init(&f, 64u << 10);
    rc = form_add(&f, "grant_type", "client_credentials");
    rc = rc ? rc : form_add(&f, "client_id", client_id);
    rc = rc ? rc : form_add(&f, "client_secret", client_secret);
    if (!rc && scope)
        rc = form_add(&f, "scope", scope);
    return finish(s, &f, rc, out);
}

int lbp_token_jwt_bearer(struct lbp_http_client *http, const char *key_file, const char *scope,
                         const char *token_url, struct lbp_token_source **out, char *err,
                         size_t errlen)
{
    struct json_object *k = NULL;
    struct src *s = NULL;
    struct lbp_buf f;
    char *text = NULL, why[200];
    const char *pem, *email, *uri = NULL, *kid = NULL;
    size_t len = 0;
    int rc;

    lbp_buf_init(&f, 1024);
    rc = lbp_file_read_err(key_file, KEY_FILE_MAX, LBP_FILE_SECRET, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = lbp_json_parse(text, len, KEY_FILE_MAX, &k, why, sizeof(why));
    if (rc) {
        lbp_seterr(err, errlen, "%s: not a JSON key file (%s)", key_file, why);
        goto out;
    }
    if ((rc = lbp_json_get_str(k, "private_key", KEY_FILE_MAX, &pem, why, sizeof(why))) ||
        (rc = lbp_json_get_str(k, "client_email", 320, &email, why, sizeof(why))) ||
        (!token_url &&
         (rc = lbp_json_get_str(k, "token_uri", 2048, &uri, why, sizeof(why))))) {
        lbp_seterr(err, errlen, "%s: %s", key_file, why);
        rc = LBP_INVALID;
        goto out;
    }
    lbp_json_get_str(k, "private_key_id", 256, &kid, NULL, 0);
    if ((rc = src_new(SRC_JWT, http, token_url ? token_url : uri, &s)))
        goto out;
    s->pem = strdup(pem);
    s->iss = strdup(email);
    s->scope = strdup(scope ? scope : "https://www.googleapis.com/auth/cloud-platform");
    s->kid = kid ? strdup(kid) : NULL;
    if (!s->pem || !s->iss || !s->scope || (kid && !s->kid)) {
        rc = LBP_NOMEM;
        goto out;
    }
    rc = form_add(&f, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
    {
        /* Sign once now so a bad key fails at start-up, not on the first call. */
        char *jwt = NULL;
        if (rc == LBP_OK && (rc = lbp_jwt_rs256(s->pem, NULL, "{}", &jwt, why, sizeof(why)))) {
            lbp_seterr(err, errlen, "%s: %s", key_file, why);
            rc = LBP_INVALID;
        }
        wipe_free(jwt);
    }
out:
    if (k) {
        const char *p = NULL;
        /* json-c owns the parsed copy of the key: wipe it before it is freed. */
        if (lbp_json_get_str(k, "private_key", KEY_FILE_MAX, &p, NULL, 0) == LBP_OK)
            OPENSSL_cleanse((char *)p, strlen(p));
        json_object_put(k);
    }
    OPENSSL_cleanse(text, len);
    free(text);
    if (!s) {
        lbp_buf_free(&f);
        return rc;
    }
    return finish(s, &f, rc, out);
}

int lbp_token_gce_metadata(struct lbp_http_client *http, const char *host,
                           struct lbp_token_source **out)
{
    char url[512];
    struct src *s;
    const char *h = host && *host ? host : getenv("GCE_METADATA_HOST");
    int rc;
    if (!h || !*h)
        h = "metadata.google.internal";
    snprintf(url, sizeof(url), "http://%s/computeMetadata/v1/instance/service-accounts/default/token",
             h);
    if ((rc = src_new(SRC_GCE_MD, http, url, &s)))
        return rc;
    s->hdr = "Metadata-Flavor: Google";
    return finish(s, NULL, LBP_OK, out);
}

int lbp_token_azure_imds(struct lbp_http_client *http, const char *base, const char *resource,
                         const char *client_id, struct lbp_token_source **out)
{
    struct lbp_buf u;
    struct src *s;
    int rc;
    lbp_buf_init(&u, 4096);
    rc = lbp_buf_addf(&u, "%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=",
                      base && *base ? base : "http://169.254.169.254");
    rc = rc ? rc : lbp_http_urlencode(&u, resource ? resource : "https://management.azure.com/");
    if (!rc && client_id && *client_id) {
        rc = lbp_buf_adds(&u, "&client_id=");
        rc = rc ? rc : lbp_http_urlencode(&u, client_id);
    }
    rc = rc ? rc : src_new(SRC_AZURE_IMDS, http, u.data, &s);
    lbp_buf_free(&u);
    if (rc)
        return rc;
    s->hdr = "Metadata: true";
    return finish(s, NULL, LBP_OK, out);
}

int lbp_token_federated(struct lbp_http_client *http, enum lbp_federation kind,
                        const char *token_url, const char *client_id, const char *token_file,
                        const char *scope, struct lbp_token_source **out, char *err,
                        size_t errlen)
{
    bool sts = kind == LBP_FEDERATION_TOKEN_EXCHANGE;
    struct src *s;
    struct lbp_buf f;
    int rc;
    if (!token_url || !token_file || !*token_file || !client_id || !*client_id) {
        lbp_seterr(err, errlen, "federated token: token URL, %s and token file required",
                   sts ? "audience" : "client id");
        return LBP_INVALID;
    }
    if ((rc = src_new(sts ? SRC_FED_STS : SRC_FED_ASSERT, http, token_url, &s)))
        return rc;
    lbp_buf_init(&f, 64u << 10);
    if (sts) {
        rc = form_add(&f, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
        rc = rc ? rc : form_add(&f, "audience", client_id);
        rc = rc ? rc
                : form_add(&f, "requested_token_type",
                           "urn:ietf:params:oauth:token-type:access_token");
        rc = rc ? rc
                : form_add(&f, "subject_token_type", "urn:ietf:params:oauth:token-type:jwt");
    } else {
        rc = form_add(&f, "grant_type", "client_credentials");
        rc = rc ? rc : form_add(&f, "client_id", client_id);
        rc = rc ? rc
                : form_add(&f, "client_assertion_type",
                           "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    }
    if (!rc && scope)
        rc = form_add(&f, "scope", scope);
    if (!rc && !(s->file = strdup(token_file)))
        rc = LBP_NOMEM;
    return finish(s, &f, rc, out);
}
