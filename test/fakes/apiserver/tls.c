/*
 * tls.c — a throw-away PKI made at start: a CA and a server certificate for
 * 127.0.0.1, ::1 and localhost (ECDSA P-256, valid one day), returned as PEM
 * for libmicrohttpd; the CA goes to the file named by --tls-cert-out so a
 * client can verify the server like a real kubeconfig's
 * certificate-authority.
 */
#include "fake.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static char *bio_take(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (out) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    return out;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return -1;
    int rc = X509_add_ext(cert, ex, -1) ? 0 : -1;
    X509_EXTENSION_free(ex);
    return rc;
}

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn, long serial,
                       bool ca)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509 *iss = issuer ? issuer : x;
    int rc = 0;
    if (ca) {
        rc |= add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        rc |= add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        rc |= add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        rc |= add_ext(x, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        rc |= add_ext(x, iss, NID_ext_key_usage, "serverAuth");
        rc |= add_ext(x, iss, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost");
    }
    if (rc || !X509_sign(x, signer, EVP_sha256())) {
        X509_free(x);
        return NULL;
    }
    return x;
}

int fake_tls_make(char **cert_chain_pem, char **key_pem, char **ca_pem)
{
    int rc = -1;
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *srv_key = EVP_EC_gen("P-256");
    X509 *ca = NULL, *srv = NULL;
    BIO *chain = BIO_new(BIO_s_mem()), *key = BIO_new(BIO_s_mem()), *cab = BIO_new(BIO_s_mem());
    *cert_chain_pem = *key_pem = *ca_pem = NULL;
    if (!ca_key || !srv_key || !chain || !key || !cab)
        goto out;
    ca = make_cert(ca_key, ca_key, NULL, "fake-apiserver-ca", 1, true);
    srv = ca ? make_cert(srv_key, ca_key, ca, "fake-apiserver", 2, false) : NULL;
    if (!srv)
        goto out;
    if (!PEM_write_bio_X509(chain, srv) || !PEM_write_bio_X509(chain, ca) ||
        !PEM_write_bio_PrivateKey(key, srv_key, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_X509(cab, ca))
        goto out;
    *cert_chain_pem = bio_take(chain);
    *key_pem = bio_take(key);
    *ca_pem = bio_take(cab);
    if (*cert_chain_pem && *key_pem && *ca_pem)
        rc = 0;
out:
    if (rc) {
        free(*cert_chain_pem);
        free(*key_pem);
        free(*ca_pem);
        *cert_chain_pem = *key_pem = *ca_pem = NULL;
    }
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    BIO_free(chain);
    BIO_free(key);
    BIO_free(cab);
    return rc;
}
