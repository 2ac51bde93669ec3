/*
 * token.h — bearer-token sources behind one interface, cached and shared.
 *
 * A source knows how to fetch one access token (OAuth2 client credentials,
 * an RS256-signed JWT bearer grant from a GCE service-account key, the GCE
 * metadata server, Azure IMDS, a federated token file exchanged for an
 * access token). struct lbp_token_cache wraps any of them: it hands out
 * the cached token, refreshes it `margin_s` before expiry, and lets one
 * refresh run at a time for every worker thread — the others wait for its
 * result while no valid token exists, and keep using the old one while it
 * is still valid. A failed refresh is reported to every waiter of that
 * round and the next call tries again.
 *
 * Tokens never reach a log line: failure messages name the source, the
 * endpoint and the HTTP status or field, never a value; the copies the
 * cache makes are wiped when dropped.
 */
#ifndef LBP_PROVIDER_TOKEN_H
#define LBP_PROVIDER_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "provider/http.h"

#define LBP_TOKEN_MAX 8192  /* an Entra ID token is a JWT of a few KiB */
#define LBP_TOKEN_MARGIN_S 60 /* refresh this long before expiry (Google's advice) */

struct lbp_token {
    char value[LBP_TOKEN_MAX];
    int64_t expires_s; /* wall-clock epoch seconds; 0: unknown (refetched after margin) */
};

/* One way to get a token. fetch is called with no lock held, one at a time per cache. */
struct lbp_token_source {
    const char *kind; /* "client-credentials", "jwt-bearer", "gce-metadata", ... */
    int (*fetch)(struct lbp_token_source *src, struct lbp_token *out, char *err, size_t errlen);
    void (*free)(struct lbp_token_source *src);
};

struct lbp_token_cache;

/* Takes ownership of src (freed with the cache, or here on failure). margin_s 0: default. */
int lbp_token_cache_new(struct lbp_token_source *src, unsigned margin_s,
                        struct lbp_token_cache **out);
void lbp_token_cache_free(struct lbp_token_cache *c);
/*
 * A valid token into out (wipe it after use). LBP_AUTH (the source refused:
 * bad key, no service account), LBP_RETRY (the endpoint is unreachable),
 * LBP_NOMEM; err says which source failed and why.
 */
int lbp_token_get(struct lbp_token_cache *c, struct lbp_token *out, char *err, size_t errlen);
/* Adds "Authorization: Bearer <token>" to h (for a prepare hook). */
int lbp_token_auth_header(struct lbp_token_cache *c, struct lbp_http_headers *h, char *err,
                          size_t errlen);
/* Forgets the cached token (the cloud answered 401 with it). */
void lbp_token_invalidate(struct lbp_token_cache *c);
/* How many fetches the source has made (tests, /debug). */
unsigned long lbp_token_fetches(struct lbp_token_cache *c);
/* Wipes a token copy. */
void lbp_token_clear(struct lbp_token *t);

/* ---- sources ---- */

/*
 * OAuth2 client credentials (RFC 6749 4.4) against token_url, form-encoded:
 * client_id, client_secret, and scope (Entra ID v2: "<resource>/.default")
 * when not NULL.
 */
int lbp_token_client_credentials(struct lbp_http_client *http, const char *token_url,
                                 const char *client_id, const char *client_secret,
                                 const char *scope, struct lbp_token_source **out, char *err,
                                 size_t errlen);

/*
 * OAuth2 JWT bearer grant (RFC 7523) from a Google service-account key
 * file (JSON: private_key PEM, client_email, token_uri, private_key_id):
 * an RS256 JWT {iss, scope, aud=token_uri, iat, exp=iat+3600} signed with
 * the key and exchanged at token_uri (token_url overrides it when not
 * NULL). The file is read once, here; err names a missing field.
 */
int lbp_token_jwt_bearer(struct lbp_http_client *http, const char *key_file, const char *scope,
                         const char *token_url, struct lbp_token_source **out, char *err,
                         size_t errlen);
/* The signing itself, for tests: the compact JWT for claims_json, signed with the PEM key. */
int lbp_jwt_rs256(const char *pem_key, const char *kid, const char *claims_json, char **jwt,
                  char *err, size_t errlen);

/*
 * The GCE metadata server's token for the default service account:
 * GET http://$GCE_METADATA_HOST (default metadata.google.internal)
 * /computeMetadata/v1/instance/service-accounts/default/token with
 * Metadata-Flavor: Google. host overrides the environment when not NULL.
 */
int lbp_token_gce_metadata(struct lbp_http_client *http, const char *host,
                           struct lbp_token_source **out);

/*
 * Azure IMDS managed identity: GET <base>/metadata/identity/oauth2/token
 * ?api-version=2018-02-01&resource=R[&client_id=C] with Metadata: true.
 * base NULL: http://169.254.169.254.
 */
int lbp_token_azure_imds(struct lbp_http_client *http, const char *base, const char *resource,
                         const char *client_id, struct lbp_token_source **out);

enum lbp_federation {
    /* Entra ID workload identity: client credentials with the file's token as
       client_assertion (jwt-bearer assertion type). */
    LBP_FEDERATION_CLIENT_ASSERTION,
    /* RFC 8693 token exchange (GCP workload identity federation's STS): the
       file's token as subject_token. audience/scope as given. */
    LBP_FEDERATION_TOKEN_EXCHANGE,
};

/*
 * A federated token file (projected service-account token, re-read for
 * every fetch since the kubelet rotates it) exchanged at token_url.
 * client_id: the app (assertion) or the audience (token exchange).
 */
int lbp_token_federated(struct lbp_http_client *http, enum lbp_federation kind,
                        const char *token_url, const char *client_id, const char *token_file,
                        const char *scope, struct lbp_token_source **out, char *err,
                        size_t errlen);

#endif
