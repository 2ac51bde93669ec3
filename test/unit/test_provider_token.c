/*
 * test_provider_token.c — bearer-token sources and their cache
 * (provider/token.c) against an in-process token endpoint, metadata
 * servers and a federation endpoint (libmicrohttpd on loopback).
 *
 * The endpoint checks what the client sends from the specifications
 * (RFC 6749 4.4, RFC 7523 with an RS256 JWT it verifies itself with the
 * key's public half through OpenSSL's EVP API, GCE's Metadata-Flavor,
 * Azure IMDS's Metadata: true and query, the federated assertion), and
 * counts requests so the single-flight refresh can be measured.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "test/unit/mhd_local.h"
#include "provider/token.h"
#include "tmpdir.h"

#define SECRET "s3cret-client-secret"
#define TOKEN_PREFIX "AT-sensitive-"

static struct MHD_Daemon *g_d;
static int g_port;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_requests;
static int g_status = 200;
static int g_delay_ms;
static const char *g_expires_in = "3600";
static bool g_md_flavor = true;
static EVP_PKEY *g_pub;      /* the public half the JWT endpoint verifies with */
static char g_seen[8][4096]; /* what the endpoint saw, per test's need */
static bool g_jwt_ok;

/* Decodes one application/x-www-form-urlencoded value. */
static bool form_get(const char *body, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = body; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t j = 0;
            for (p += nl + 1; *p && *p != '&' && j + 1 < cap; p++) {
                if (*p == '%' && p[1] && p[2]) {
                    char h[3] = {p[1], p[2], 0};
                    out[j++] = (char)strtol(h, NULL, 16);
                    p += 2;
                } else {
                    out[j++] = *p == '+' ? ' ' : *p;
                }
            }
            out[j] = 0;
            return true;
        }
    }
    return false;
}

static size_t b64url_dec(const char *in, size_t len, unsigned char *out)
{
    char tmp[8192] = ""; /* GCC -O3 cannot tell that what is read was written */
    size_t n = 0;
    int r;
    for (size_t i = 0; i < len && n < sizeof(tmp) - 4; i++)
        tmp[n++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (n % 4)
        tmp[n++] = '=';
    r = EVP_DecodeBlock(out, (unsigned char *)tmp, (int)n);
    if (r < 0)
        return 0;
    while (n && tmp[n - 1] == '=') {
        r--;
        n--;
    }
    return (size_t)r;
}

/* Verifies a compact RS256 JWT with g_pub; fills the decoded header and claims. */
static bool verify_jwt(const char *jwt, char *hdr, char *claims)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char sig[1024];
    size_t siglen, n;
    EVP_MD_CTX *md;
    bool ok;
    if (!d2 || strchr(jwt, '=') || strchr(jwt, '+') || strchr(jwt, '/'))
        return false; /* RFC 7515: URL-safe, unpadded */
    n = b64url_dec(jwt, (size_t)(d1 - jwt), (unsigned char *)hdr);
    hdr[n] = 0;
    n = b64url_dec(d1 + 1, (size_t)(d2 - d1 - 1), (unsigned char *)claims);
    claims[n] = 0;
    siglen = b64url_dec(d2 + 1, strlen(d2 + 1), sig);
    md = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, g_pub) == 1 &&
         EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body, bool flavor)
{
    return lbp_test_mhd_reply(c, status, body, flavor ? "Metadata-Flavor" : NULL, "Google");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    enum MHD_Result ret;
    struct lbp_test_body *up = lbp_test_mhd_body(con_cls, upload, upload_size, &ret);
    char body[512], v[4096];
    unsigned n;
    int status;
    if (!up)
        return ret;
    pthread_mutex_lock(&g_mu);
    n = ++g_requests;
    status = g_status;
    pthread_mutex_unlock(&g_mu);
    if (g_delay_ms)
        usleep((useconds_t)g_delay_ms * 1000);
    *con_cls = NULL;
    snprintf(body, sizeof(body),
             "{\"access_token\":\"" TOKEN_PREFIX
             "%u\",\"expires_in\":%s,\"token_type\":\"Bearer\"}",
             n, g_expires_in);

    if (strcmp(url, "/token") == 0) {
        bool ok = strcmp(method, "POST") == 0 && form_get(up->data, "grant_type", v, sizeof(v)) &&
                  strcmp(v, "client_credentials") == 0 &&
                  form_get(up->data, "client_id", v, sizeof(v)) && strcmp(v, "app-1") == 0 &&
                  form_get(up->data, "client_secret", v, sizeof(v)) && strcmp(v, SECRET) == 0 &&
                  form_get(up->data, "scope", v, sizeof(v)) &&
                  strcmp(v, "https://management.azure.com/.default") == 0;
        free(up);
        if (!ok)
            return reply(c, 400, "{\"error\":\"invalid_request\"}", false);
        if (status != 200)
            return reply(c, status,
                         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215\"}",
                         false);
        return reply(c, 200, body, false);
    }
    if (strcmp(url, "/jwt") == 0) {
        char hdr[1024], claims[2048];
        g_jwt_ok = form_get(up->data, "grant_type", v, sizeof(v)) &&
                   strcmp(v, "urn:ietf:params:oauth:grant-type:jwt-bearer") == 0 &&
                   form_get(up->data, "assertion", v, sizeof(v)) && verify_jwt(v, hdr, claims);
        free(up);
        if (g_jwt_ok) {
            snprintf(g_seen[0], sizeof(g_seen[0]), "%s", hdr);
            snprintf(g_seen[1], sizeof(g_seen[1]), "%s", claims);
        }
        return g_jwt_ok ? reply(c, 200, body, false)
                        : reply(c, 400, "{\"error\":\"invalid_grant\"}", false);
    }
    if (strcmp(url, "/computeMetadata/v1/instance/service-accounts/default/token") == 0) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Metadata-Flavor");
        free(up);
        if (!h || strcmp(h, "Google") != 0)
            return reply(c, 403, "missing Metadata-Flavor", true);
        return reply(c, 200, body, g_md_flavor);
    }
    if (strcmp(url, "/metadata/identity/oauth2/token") == 0) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Metadata");
        const char *av = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "api-version");
        const char *res = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resource");
        const char *cid = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "client_id");
        free(up);
        if (!h || strcmp(h, "true") != 0 || !av || strcmp(av, "2018-02-01") != 0 || !res ||
            strcmp(res, "https://management.azure.com/") != 0 || !cid || strcmp(cid, "mi-1") != 0)
            return reply(c, 400, "{\"error\":\"invalid_request\"}", false);
        /* IMDS sends its numbers as strings. */
        snprintf(body, sizeof(body),
                 "{\"access_token\":\"" TOKEN_PREFIX "%u\",\"expires_in\":\"86399\","
                 "\"expires_on\":\"1\",\"token_type\":\"Bearer\"}",
                 n);
        return reply(c, 200, body, false);
    }
    if (strcmp(url, "/fed") == 0) {
        bool ok = false;
        if (form_get(up->data, "client_assertion", v, sizeof(v)))
            ok = form_get(up->data, "client_assertion_type", g_seen[3], sizeof(g_seen[3])) &&
                 strcmp(g_seen[3], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") == 0;
        else if (form_get(up->data, "subject_token", v, sizeof(v)))
            ok = form_get(up->data, "grant_type", g_seen[3], sizeof(g_seen[3])) &&
                 strcmp(g_seen[3], "urn:ietf:params:oauth:grant-type:token-exchange") == 0 &&
                 form_get(up->data, "audience", g_seen[4], sizeof(g_seen[4]));
        if (ok)
            snprintf(g_seen[2], sizeof(g_seen[2]), "%s", v);
        free(up);
        return ok ? reply(c, 200, body, false)
                  : reply(c, 400, "{\"error\":\"invalid_request\"}", false);
    }
    free(up);
    return reply(c, 404, "{}", false);
}

static int server_up(void **st)
{
    return lbp_test_mhd_up(handler, &g_d, &g_port, "127.0.0.1");
}

static int server_down(void **st)
{
    lbp_test_mhd_down(g_d);
    EVP_PKEY_free(g_pub);
    return 0;
}

static int reset(void **st)
{
    pthread_mutex_lock(&g_mu);
    g_requests = 0;
    g_status = 200;
    g_delay_ms = 0;
    g_expires_in = "3600";
    g_md_flavor = true;
    memset(g_seen, 0, sizeof(g_seen));
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static unsigned requests(void)
{
    unsigned n;
    pthread_mutex_lock(&g_mu);
    n = g_requests;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static struct lbp_token_cache *client_creds_cache(struct lbp_http_client *h, unsigned margin)
{
    struct lbp_token_source *src = NULL;
    struct lbp_token_cache *c = NULL;
    char err[256];
    assert_int_equal(lbp_token_client_credentials(h, lbp_test_mhd_url(g_port, "/token"), "app-1",
                                                  SECRET, "https://management.azure.com/.default",
                                                  &src, err, sizeof(err)),
                     LBP_OK);
    assert_int_equal(lbp_token_cache_new(src, margin, &c), LBP_OK);
    return c;
}

/* A cache on src (no margin) and its first token, which must come (and be want, if given). */
static struct lbp_token_cache *cache_first(struct lbp_token_source *src, struct lbp_token *t,
                                           const char *want)
{
    struct lbp_token_cache *c = NULL;
    char err[256];
    assert_int_equal(lbp_token_cache_new(src, 0, &c), LBP_OK);
    assert_int_equal(lbp_token_get(c, t, err, sizeof(err)), LBP_OK);
    if (want)
        assert_string_equal(t->value, want);
    return c;
}

/* One get from c that must give the token want. */
static void expect_token(struct lbp_token_cache *c, const char *want)
{
    struct lbp_token t;
    char err[256];
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    assert_string_equal(t.value, want);
}

struct worker {
    struct lbp_token_cache *cache;
    pthread_barrier_t *go;
    int rc;
    char value[64];
};

static void *ask(void *arg)
{
    struct worker *w = arg;
    struct lbp_token *t = malloc(sizeof(*t));
    char err[256];
    pthread_barrier_wait(w->go);
    w->rc = lbp_token_get(w->cache, t, err, sizeof(err));
    if (w->rc == LBP_OK)
        lbp_strlcpy(w->value, t->value, sizeof(w->value));
    free(t);
    lbp_http_thread_cleanup();
    return NULL;
}

/* 8 threads asking at once on an empty cache: one token request, one token for all. */
static void eight_threads_one_request(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_cache *c = client_creds_cache(h, 0);
    pthread_barrier_t go;
    pthread_t th[8];
    struct worker w[8];
    g_delay_ms = 300; /* the refresh is still in flight when the others arrive */
    pthread_barrier_init(&go, NULL, 8);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.cache = c, .go = &go};
        pthread_create(&th[i], NULL, ask, &w[i]);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    assert_int_equal(requests(), 1);
    assert_int_equal(lbp_token_fetches(c), 1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(w[i].rc, LBP_OK);
        assert_string_equal(w[i].value, TOKEN_PREFIX "1");
    }
    /* Cached: asking again costs nothing. */
    {
        struct lbp_http_headers hd = {0};
        char err[128];
        assert_int_equal(lbp_token_auth_header(c, &hd, err, sizeof(err)), LBP_OK);
        assert_string_equal(hd.line[0], "Authorization: Bearer " TOKEN_PREFIX "1");
        lbp_http_headers_clear(&hd);
    }
    assert_int_equal(requests(), 1);
    /* After a 401 the cloud rejected it: the next ask fetches anew. */
    lbp_token_invalidate(c);
    g_delay_ms = 0;
    expect_token(c, TOKEN_PREFIX "2");
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

/* A token within the margin of expiry is refreshed before it runs out. */
static void refreshed_before_expiry(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_cache *c = client_creds_cache(h, 60);
    struct lbp_token t;
    char err[128];
    g_expires_in = "90";
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    assert_true(t.expires_s > lbp_wall_s() + 80 && t.expires_s <= lbp_wall_s() + 90);
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    assert_int_equal(requests(), 1); /* 90 s left, margin 60: still fresh */
    lbp_token_cache_free(c);
    c = client_creds_cache(h, 60);
    g_expires_in = "45";
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    expect_token(c, TOKEN_PREFIX "3");
    assert_int_equal(requests(), 3); /* 45 s left is inside the margin: refreshed */
    /* A failed refresh keeps the still-valid token. */
    g_status = 500;
    expect_token(c, TOKEN_PREFIX "3");
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

/* A refused grant is LBP_AUTH naming the source and the cloud's code — never the secret. */
static void refusal_and_no_secret_in_logs(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_cache *c = client_creds_cache(h, 0);
    struct lbp_token t;
    char err[512], path[] = "/tmp/lbp-token-log-XXXXXX", logbuf[65536];
    int fd = mkstemp(path), saved_v = lbp_log_verbosity;
    ssize_t n;
    assert_true(fd >= 0);
    lbp_log_set_fd(fd);
    lbp_log_verbosity = 10; /* every header and body the client logs */

    g_status = 401;
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, "client-credentials"));
    assert_non_null(strstr(err, "invalid_client"));
    assert_null(strstr(err, SECRET));
    g_status = 200;
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    assert_int_equal(strncmp(t.value, TOKEN_PREFIX, strlen(TOKEN_PREFIX)), 0);

    lbp_log_verbosity = saved_v;
    lbp_log_set_fd(2);
    n = pread(fd, logbuf, sizeof(logbuf) - 1, 0);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    logbuf[n] = 0;
    assert_non_null(strstr(logbuf, "TokenRequest")); /* the calls were logged... */
    assert_null(strstr(logbuf, TOKEN_PREFIX));       /* ...without the token */
    assert_null(strstr(logbuf, SECRET));             /* or the secret */
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

static char *pem_of(EVP_PKEY *k, bool pub)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p, *out;
    long n;
    assert_int_equal(pub ? PEM_write_bio_PUBKEY(b, k)
                         : PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL),
                     1);
    n = BIO_get_mem_data(b, &p);
    out = strndup(p, (size_t)n);
    BIO_free(b);
    return out;
}

/* A service-account key: the JWT the toolkit signs verifies with the key's public half. */
static void jwt_bearer_signs_verifiably(void **st)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    char *priv = pem_of(key, false), *pub = pem_of(key, true);
    char keyfile[] = "/tmp/lbp-sa-key-XXXXXX", err[256];
    struct json_object *k = json_object_new_object(), *claims;
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_source *src = NULL;
    struct lbp_token_cache *c = NULL;
    struct lbp_token t;
    BIO *b = BIO_new_mem_buf(pub, -1);
    int fd = mkstemp(keyfile);
    const char *text;
    int64_t iat, exp;

    g_pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(g_pub);
    json_object_object_add(k, "type", json_object_new_string("service_account"));
    json_object_object_add(k, "private_key_id", json_object_new_string("kid-42"));
    json_object_object_add(k, "private_key", json_object_new_string(priv));
    json_object_object_add(k, "client_email",
                           json_object_new_string("lbprov@proj.iam.gserviceaccount.com"));
    json_object_object_add(k, "token_uri",
                           json_object_new_string(lbp_test_mhd_url(g_port, "/jwt")));
    text = json_object_to_json_string(k);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);

    assert_int_equal(lbp_token_jwt_bearer(h, keyfile, "https://www.googleapis.com/auth/compute",
                                          NULL, &src, err, sizeof(err)),
                     LBP_OK);
    c = cache_first(src, &t, NULL);
    assert_true(g_jwt_ok);
    assert_non_null(strstr(g_seen[0], "\"alg\":\"RS256\""));
    assert_non_null(strstr(g_seen[0], "\"kid\":\"kid-42\""));
    claims = json_tokener_parse(g_seen[1]);
    assert_non_null(claims);
    assert_string_equal(json_object_get_string(json_object_object_get(claims, "iss")),
                        "lbprov@proj.iam.gserviceaccount.com");
    assert_string_equal(json_object_get_string(json_object_object_get(claims, "aud")),
                        lbp_test_mhd_url(g_port, "/jwt"));
    assert_string_equal(json_object_get_string(json_object_object_get(claims, "scope")),
                        "https://www.googleapis.com/auth/compute");
    iat = json_object_get_int64(json_object_object_get(claims, "iat"));
    exp = json_object_get_int64(json_object_object_get(claims, "exp"));
    assert_true(iat <= lbp_wall_s() && iat > lbp_wall_s() - 60);
    assert_int_equal(exp - iat, 3600);
    json_object_put(claims);

    /* The verifier really checks: one changed claim byte breaks the signature. */
    {
        char *jwt = NULL, hdr[1024], cl[2048];
        assert_int_equal(lbp_jwt_rs256(priv, NULL, "{\"a\":1}", &jwt, err, sizeof(err)), LBP_OK);
        assert_true(verify_jwt(jwt, hdr, cl));
        assert_string_equal(cl, "{\"a\":1}");
        jwt[strchr(jwt, '.') - jwt + 2] ^= 1;
        assert_false(verify_jwt(jwt, hdr, cl));
        free(jwt);
    }
    /* A key file without client_email is refused, naming the field. */
    json_object_object_del(k, "client_email");
    fd = open(keyfile, O_WRONLY | O_TRUNC);
    text = json_object_to_json_string(k);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(lbp_token_jwt_bearer(h, keyfile, NULL, NULL, &src, err, sizeof(err)),
                     LBP_INVALID);
    assert_non_null(strstr(err, "client_email: missing"));
    unlink(keyfile);
    json_object_put(k);
    free(priv);
    free(pub);
    EVP_PKEY_free(key);
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

static void gce_metadata_server(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_source *src = NULL;
    struct lbp_token_cache *c = NULL;
    struct lbp_token t;
    char host[64], err[256];
    snprintf(host, sizeof(host), "127.0.0.1:%d", g_port);
    setenv("GCE_METADATA_HOST", host, 1);
    assert_int_equal(lbp_token_gce_metadata(h, NULL, &src), LBP_OK);
    unsetenv("GCE_METADATA_HOST");
    c = cache_first(src, &t, TOKEN_PREFIX "1");
    /* Something answering without Metadata-Flavor: Google is not the metadata server. */
    lbp_token_invalidate(c);
    g_md_flavor = false;
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, "Metadata-Flavor"));
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

static void azure_imds(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_source *src = NULL;
    struct lbp_token t;
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", g_port);
    assert_int_equal(lbp_token_azure_imds(h, base, NULL, "mi-1", &src), LBP_OK);
    struct lbp_token_cache *c = cache_first(src, &t, TOKEN_PREFIX "1");
    /* "expires_in": "86399" as a string */
    assert_true(t.expires_s > lbp_wall_s() + 86000);
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

/* The federated file is re-read for each exchange (the kubelet rotates it). */
static void federated_token_file(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(2);
    struct lbp_token_source *src = NULL;
    struct lbp_token_cache *c = NULL;
    struct lbp_token t;
    char file[] = "/tmp/lbp-fed-XXXXXX", err[256];
    close(mkstemp(file));
    write_text(file, "projected-sa-jwt-1\n");
    assert_int_equal(lbp_token_federated(h, LBP_FEDERATION_CLIENT_ASSERTION,
                                         lbp_test_mhd_url(g_port, "/fed"), "app-1", file,
                                         "https://management.azure.com/.default", &src, err,
                                         sizeof(err)),
                     LBP_OK);
    c = cache_first(src, &t, NULL);
    assert_string_equal(g_seen[2], "projected-sa-jwt-1");
    write_text(file, "projected-sa-jwt-2");
    lbp_token_invalidate(c);
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_OK);
    assert_string_equal(g_seen[2], "projected-sa-jwt-2");
    lbp_token_cache_free(c);

    assert_int_equal(lbp_token_federated(h, LBP_FEDERATION_TOKEN_EXCHANGE,
                                         lbp_test_mhd_url(g_port, "/fed"),
                                         "//iam.googleapis.com/projects/1/pool", file, NULL, &src,
                                         err, sizeof(err)),
                     LBP_OK);
    c = cache_first(src, &t, NULL);
    assert_string_equal(g_seen[2], "projected-sa-jwt-2");
    assert_string_equal(g_seen[4], "//iam.googleapis.com/projects/1/pool");
    /* A missing file is an auth failure naming the file. */
    unlink(file);
    lbp_token_invalidate(c);
    assert_int_equal(lbp_token_get(c, &t, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, file));
    lbp_token_cache_free(c);
    lbp_http_client_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(eight_threads_one_request, reset),
        cmocka_unit_test_setup(refreshed_before_expiry, reset),
        cmocka_unit_test_setup(refusal_and_no_secret_in_logs, reset),
        cmocka_unit_test_setup(jwt_bearer_signs_verifiably, reset),
        cmocka_unit_test_setup(gce_metadata_server, reset),
        cmocka_unit_test_setup(azure_imds, reset),
        cmocka_unit_test_setup(federated_token_file, reset),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
