/*
 * fuzz_token.c — token endpoints' answers (provider/token.c) through the
 * token cache: OAuth2 client credentials, the GCE metadata server (whose
 * answer must carry Metadata-Flavor: Google), Azure IMDS, and both kinds
 * of federated token exchange, each fed the same scripted answers
 * (harness.h) from the first one on. A token handed out is never empty.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "provider/token.h"

#include <string.h>

static void fetch(struct lbp_token_source *src)
{
    struct lbp_token_cache *cache = NULL;
    static struct lbp_token tok;
    char err[512] = "";
    FZ_CHECK(src);
    FZ_CHECK(lbp_token_cache_new(src, 0, &cache) == LBP_OK);
    int rc = lbp_token_get(cache, &tok, err, sizeof(err));
    if (rc == LBP_OK)
        FZ_CHECK(tok.value[0] && strnlen(tok.value, sizeof(tok.value)) < sizeof(tok.value));
    else
        FZ_CHECK(err[0]); /* a refusal names the source and why */
    lbp_token_clear(&tok);
    lbp_token_cache_free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char token_file[512];
    struct lbp_token_source *src = NULL;
    struct fz_http h;
    char err[256];
    const char *dir = fz_setup();
    struct lbp_http_client *c = fz_http_client(&h);

    if (!token_file[0])
        FZ_CHECK(fz_write(dir, "sa-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", 29, token_file,
                          sizeof(token_file)) == 0);

    fz_http_script(&h, data, size);
    FZ_CHECK(lbp_token_client_credentials(c, "https://login.fuzz/tenant/oauth2/v2.0/token", "app",
                                          "secret", "https://management.fuzz/.default", &src, err,
                                          sizeof(err)) == LBP_OK);
    fetch(src);

    fz_http_script(&h, data, size);
    FZ_CHECK(lbp_token_gce_metadata(c, "metadata.fuzz", &src) == LBP_OK);
    fetch(src);

    fz_http_script(&h, data, size);
    FZ_CHECK(lbp_token_azure_imds(c, "http://169.254.169.254", "https://management.fuzz/", "id",
                                  &src) == LBP_OK);
    fetch(src);

    for (int kind = LBP_FEDERATION_CLIENT_ASSERTION; kind <= LBP_FEDERATION_TOKEN_EXCHANGE;
         kind++) {
        fz_http_script(&h, data, size);
        FZ_CHECK(lbp_token_federated(c, (enum lbp_federation)kind, "https://sts.fuzz/v1/token",
                                     "aud", token_file, "scope", &src, err, sizeof(err)) == LBP_OK);
        fetch(src);
    }
    return 0;
}
