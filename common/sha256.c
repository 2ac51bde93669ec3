/* sha256.c — SHA-256 with the method fetched once (see sha256.h). */
#include "common/sha256.h"

#include <openssl/evp.h>
#include <pthread.h>

#include "common/rc.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const void *lbp_sha256_md(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md ? (const EVP_MD *)sha256_md : EVP_sha256();
}

int lbp_sha256(const void *data, size_t len, unsigned char out[LBP_SHA256_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data ? data : "", len, out, &n, lbp_sha256_md(), NULL) != 1 ||
        n != LBP_SHA256_LEN)
        return LBP_NOMEM;
    return LBP_OK;
}

void lbp_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

int lbp_sha256_hex(const void *data, size_t len, char out[2 * LBP_SHA256_LEN + 1])
{
    unsigned char md[LBP_SHA256_LEN];
    int rc = lbp_sha256(data, len, md);
    out[0] = 0;
    if (rc == LBP_OK)
        lbp_hex(md, sizeof(md), out);
    return rc;
}
