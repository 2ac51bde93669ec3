/*
 * sha256.h — SHA-256 through OpenSSL, with the algorithm fetched once.
 *
 * EVP_sha256() makes every digest init look the algorithm up again in
 * OpenSSL's provider store, under its lock, which costs more than hashing a
 * few hundred bytes (crypto(7), "Performance"); the method fetched here
 * lives as long as the process and is shared by every thread.
 */
#ifndef LBP_COMMON_SHA256_H
#define LBP_COMMON_SHA256_H

#include <stddef.h>

#define LBP_SHA256_LEN 32

/* The digest of data (NULL with len 0 is the empty string). LBP_OK or LBP_NOMEM. */
int lbp_sha256(const void *data, size_t len, unsigned char out[LBP_SHA256_LEN]);
/* Lower-case hex of the digest into out (64 digits and a NUL; "" on failure). */
int lbp_sha256_hex(const void *data, size_t len, char out[2 * LBP_SHA256_LEN + 1]);
/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void lbp_hex(const unsigned char *in, size_t n, char *out);

/* The fetched method, for HMAC and signatures (an EVP_MD *; void * keeps
   OpenSSL's headers out of the callers that only hash). */
const void *lbp_sha256_md(void);

#endif
