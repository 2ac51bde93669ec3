/*
 * sigv4.h — AWS Signature Version 4 over a plain-C request description.
 *
 * The caller describes the request exactly as it will go on the wire
 * (method, path, query, the headers it sends, body bytes); the signer adds
 * X-Amz-Date, X-Amz-Security-Token (with a session token) and, for S3,
 * X-Amz-Content-Sha256, and returns the Authorization value plus the
 * intermediate canonical request and string to sign for tests. Headers the
 * transport adds on its own (User-Agent, Content-Length, ...) are simply not
 * signed. Nothing here logs; the result holds the signature, so callers must
 * not log `authorization` or `headers` either.
 */
#ifndef LBP_AWS_SIGV4_H
#define LBP_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lbp_sigv4_header {
    const char *name;
    const char *value;
};

struct lbp_sigv4_request {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* wire path, "/" for Query APIs; NULL or "" means "/" */
    const char *query;  /* without the '?', percent-encoded or raw; NULL when none */
    /* Every header to sign; must include Host exactly as it will be sent
     * (with ":port" when not the default). Repeated names are allowed. */
    const struct lbp_sigv4_header *headers;
    size_t n_headers;
    const void *payload;
    size_t payload_len;
};

struct lbp_sigv4_opts {
    const char *region;  /* "us-east-1" */
    const char *service; /* signing name: "ec2", "elasticloadbalancing", "s3", ... */
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL: none; else sent and signed as X-Amz-Security-Token */
    int64_t time_s;            /* epoch seconds to sign at; 0 = now (tests inject a time) */
    bool content_sha256;       /* add a signed X-Amz-Content-Sha256 (S3) */
    const char *payload_hash;  /* e.g. "UNSIGNED-PAYLOAD"; NULL: SHA-256 of the payload */
    bool s3_path;              /* S3 rules: the path is neither normalised nor double-encoded */
};

#define LBP_SIGV4_MAX_EXTRA 4

struct lbp_sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char *authorization; /* the Authorization header's value */
    /* Headers to send in addition to the request's own, as "Name: value",
     * NULL-terminated; the last one is Authorization. */
    char *headers[LBP_SIGV4_MAX_EXTRA + 1];
    char amz_date[17]; /* "20150830T123600Z" */
};

/*
 * Signs. LBP_INVALID when the request cannot be signed as described (no
 * Host header, a header the signer owns — X-Amz-Date, X-Amz-Security-Token,
 * X-Amz-Content-Sha256, Authorization — given by the caller, a bad name);
 * err names the problem, never a secret.
 */
int lbp_sigv4_sign(const struct lbp_sigv4_request *req, const struct lbp_sigv4_opts *opts,
                   struct lbp_sigv4_result *out, char *err, size_t errlen);
void lbp_sigv4_result_free(struct lbp_sigv4_result *r);

#endif
