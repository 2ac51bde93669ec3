/*
 * test_kube_client_tls.c — the client's TLS settings against an in-process
 * HTTPS server (libmicrohttpd over GnuTLS) with a PKI made by the test: the
 * CA from PEM data or a file, a client certificate from PEM data or files
 * (the server answers with the subject of the certificate it was shown),
 * and refusal of a server the configured CA did not sign.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"

struct pki {
    char *ca, *server_cert, *server_key, *client_cert, *client_key, *other_ca;
};

static char *pem_of_cert(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    PEM_write_bio_X509(b, x);
    long n = BIO_get_mem_data(b, &data);
    out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static char *pem_of_key(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out;
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    long n = BIO_get_mem_data(b, &data);
    out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for key k named cn, signed by (issuer, ikey), or self-signed when issuer is NULL.
 */
static X509 *make_cert(EVP_PKEY *k, const char *cn, X509 *issuer, EVP_PKEY *ikey, bool ca,
                       const char *san, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    add_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca)
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (san)
        add_ext(x, issuer, NID_subject_alt_name, san);
    X509_sign(x, ikey ? ikey : k, EVP_sha256());
    return x;
}

static void make_pki(struct pki *p)
{
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *sk = EVP_EC_gen("P-256"), *ck = EVP_EC_gen("P-256"),
             *ok = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "lbprov-test-ca", NULL, NULL, true, NULL, 1);
    X509 *srv = make_cert(sk, "127.0.0.1", ca, cak, false, "IP:127.0.0.1", 2);
    X509 *cli = make_cert(ck, "lbprov-test-client", ca, cak, false, NULL, 3);
    X509 *other = make_cert(ok, "some-other-ca", NULL, NULL, true, NULL, 4);
    p->ca = pem_of_cert(ca);
    p->server_cert = pem_of_cert(srv);
    p->server_key = pem_of_key(sk);
    p->client_cert = pem_of_cert(cli);
    p->client_key = pem_of_key(ck);
    p->other_ca = pem_of_cert(other);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    X509_free(other);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(ok);
}

static void free_pki(struct pki *p)
{
    free(p->ca);
    free(p->server_cert);
    free(p->server_key);
    free(p->client_cert);
    free(p->client_key);
    free(p->other_ca);
}

/* Answers with the subject DN of the client certificate, or "none". */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **pp)
{
    static int marker;
    char dn[256] = "none";
    if (*pp != &marker) {
        *pp = &marker;
        return MHD_YES;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned n = 0;
    const gnutls_datum_t *peers =
        ci ? gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n) : NULL;
    if (peers && n > 0) {
        gnutls_x509_crt_t crt;
        size_t len = sizeof(dn);
        gnutls_x509_crt_init(&crt);
        if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) != 0 ||
            gnutls_x509_crt_get_dn(crt, dn, &len) != 0)
            snprintf(dn, sizeof(dn), "unreadable");
        gnutls_x509_crt_deinit(crt);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(dn), dn, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

struct fixture {
    struct pki pki;
    struct MHD_Daemon *d;
    char url[64];
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_in lo;

    make_pki(&f->pki);
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
        NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_HTTPS_MEM_KEY, f->pki.server_key,
        MHD_OPTION_HTTPS_MEM_CERT, f->pki.server_cert, MHD_OPTION_HTTPS_MEM_TRUST, f->pki.ca,
        MHD_OPTION_END);
    assert_non_null(f->d);
    snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d",
             MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port);
    snprintf(f->dir, sizeof(f->dir), "/tmp/lbp-tls-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    const char *names[] = {"ca.crt", "client.crt", "client.key"};
    char p[128];
    MHD_stop_daemon(f->d);
    for (size_t i = 0; i < LBP_ARRAY_LEN(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free_pki(&f->pki);
    free(f);
    return 0;
}

static char *write_tmp(struct fixture *f, const char *name, const char *text)
{
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", f->dir, name) > 0);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return p;
}

/*
 * GET / with cfg; returns the rc and copies the body (the DN the server
 * saw) or, with want_error, the response's error text.
 */
static int get_text(struct lbp_kube_config *cfg, bool want_error, char *out, size_t len)
{
    struct lbp_kube_client *c = NULL;
    struct lbp_kube_response r = {0};
    char err[256];
    assert_int_equal(lbp_kube_client_new(cfg, NULL, &c, err, sizeof(err)), LBP_OK);
    int rc = lbp_kube_get(c, "/", &r);
    lbp_strlcpy(out, want_error ? r.error : r.body ? r.body : "", len);
    lbp_kube_response_free(&r);
    lbp_kube_client_free(c);
    return rc;
}

static int get_dn(struct lbp_kube_config *cfg, char *dn, size_t len)
{
    return get_text(cfg, false, dn, len);
}

static int get_error(struct lbp_kube_config *cfg, char *msg, size_t len)
{
    return get_text(cfg, true, msg, len);
}

static void client_cert_from_pem_data(void **state)
{
    struct fixture *f = *state;
    char dn[256];
    struct lbp_kube_config cfg = {.server = f->url,
                                  .ca_data = f->pki.ca,
                                  .ca_data_len = strlen(f->pki.ca),
                                  .client_cert_data = f->pki.client_cert,
                                  .client_cert_data_len = strlen(f->pki.client_cert),
                                  .client_key_data = f->pki.client_key,
                                  .client_key_data_len = strlen(f->pki.client_key)};
    assert_int_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_OK);
    assert_string_equal(dn, "CN=lbprov-test-client");

    /* Without a client certificate the server sees none. */
    cfg.client_cert_data = cfg.client_key_data = NULL;
    cfg.client_cert_data_len = cfg.client_key_data_len = 0;
    assert_int_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_OK);
    assert_string_equal(dn, "none");
}

static void client_cert_and_ca_from_files(void **state)
{
    struct fixture *f = *state;
    char dn[256];
    char *ca = write_tmp(f, "ca.crt", f->pki.ca);
    char *crt = write_tmp(f, "client.crt", f->pki.client_cert);
    char *key = write_tmp(f, "client.key", f->pki.client_key);
    struct lbp_kube_config cfg = {
        .server = f->url, .ca_file = ca, .client_cert_file = crt, .client_key_file = key};
    assert_int_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_OK);
    assert_string_equal(dn, "CN=lbprov-test-client");
    free(ca);
    free(crt);
    free(key);
}

static void server_from_another_ca_is_refused(void **state)
{
    struct fixture *f = *state;
    char dn[256];
    struct lbp_kube_config cfg = {
        .server = f->url, .ca_data = f->pki.other_ca, .ca_data_len = strlen(f->pki.other_ca)};
    uint64_t t0 = lbp_now_ms();
    assert_int_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_AUTH);
    /* A verification failure is not transient: no retries. */
    assert_true(lbp_now_ms() - t0 < 1000);

    /* The system store does not know the test CA either. */
    cfg.ca_data = NULL;
    cfg.ca_data_len = 0;
    assert_int_not_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_OK);

    /* Unless verification is switched off. */
    cfg.insecure_skip_tls_verify = true;
    assert_int_equal(get_dn(&cfg, dn, sizeof(dn)), LBP_OK);
}

/* A certificate that does not verify: the error names the TLS name, the server and the CA. */
static void verify_failure_names_server_and_ca(void **state)
{
    struct fixture *f = *state;
    char msg[512], at[64];
    struct lbp_kube_config cfg = {
        .server = f->url, .ca_data = f->pki.other_ca, .ca_data_len = strlen(f->pki.other_ca)};
    snprintf(at, sizeof(at), "(at %s)", f->url + strlen("https://"));

    assert_int_equal(get_error(&cfg, msg, sizeof(msg)), LBP_AUTH);
    assert_non_null(strstr(msg, "TLS: the API server's certificate for 127.0.0.1"));
    assert_non_null(strstr(msg, at));
    assert_non_null(strstr(msg, "does not verify against certificate-authority-data"));

    /* the CA from a file: the file is named */
    char *other = write_tmp(f, "ca.crt", f->pki.other_ca);
    cfg.ca_data = NULL;
    cfg.ca_data_len = 0;
    cfg.ca_file = other;
    assert_int_equal(get_error(&cfg, msg, sizeof(msg)), LBP_AUTH);
    assert_non_null(strstr(msg, "does not verify against the CA file"));
    assert_non_null(strstr(msg, other));

    /* the right CA but another name (tls-server-name): that name is the one given */
    cfg.ca_file = NULL;
    cfg.ca_data = f->pki.ca;
    cfg.ca_data_len = strlen(f->pki.ca);
    cfg.tls_server_name = "kubernetes.example";
    assert_int_equal(get_error(&cfg, msg, sizeof(msg)), LBP_AUTH);
    assert_non_null(strstr(msg, "certificate for kubernetes.example"));
    assert_non_null(strstr(msg, at));
    free(other);
}

/* A CA that cannot work is refused when the client is made, by name. */
static void unusable_ca_is_refused_at_start(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = NULL;
    char err[256];
    struct lbp_kube_config cfg = {
        .server = f->url, .source = "/home/u/.kube/config", .ca_file = "/nonexistent/ca.crt"};

    assert_int_equal(lbp_kube_client_new(&cfg, NULL, &c, err, sizeof(err)), LBP_IO);
    assert_null(c);
    assert_non_null(strstr(err, "/home/u/.kube/config"));
    assert_non_null(strstr(err, "certificate-authority /nonexistent/ca.crt: No such file"));

    char *junk = write_tmp(f, "ca.crt", "this is not a certificate\n");
    cfg.ca_file = junk;
    assert_int_equal(lbp_kube_client_new(&cfg, NULL, &c, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "certificate-authority "));
    assert_non_null(strstr(err, junk));
    assert_non_null(strstr(err, "holds no PEM certificate"));
    free(junk);

    cfg.ca_file = NULL;
    cfg.ca_data = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
    cfg.ca_data_len = strlen(cfg.ca_data);
    assert_int_equal(lbp_kube_client_new(&cfg, NULL, &c, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "certificate-authority-data holds no PEM certificate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(client_cert_from_pem_data, setup, teardown),
        cmocka_unit_test_setup_teardown(client_cert_and_ca_from_files, setup, teardown),
        cmocka_unit_test_setup_teardown(server_from_another_ca_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(verify_failure_names_server_and_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(unusable_ca_is_refused_at_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
