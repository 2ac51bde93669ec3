/*
 * creds.h — the AWS credentials chain and endpoint resolution shared by
 * everything that talks to AWS.
 *
 * Order (as the AWS SDKs): environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); web identity (AWS_ROLE_ARN +
 * AWS_WEB_IDENTITY_TOKEN_FILE [+ AWS_ROLE_SESSION_NAME] → an unsigned STS
 * AssumeRoleWithWebIdentity, how EKS pods get credentials); the shared
 * credentials file then the config file for the profile (AWS_PROFILE,
 * AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE; a config profile may also
 * name role_arn + web_identity_token_file); IMDSv2 (token PUT, then the
 * role's credentials; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the
 * address, AWS_EC2_METADATA_DISABLED=true skips it).
 *
 * Temporary credentials are refreshed 5 minutes before they expire. One
 * provider may be shared by any number of threads.
 */
#ifndef LBP_AWS_CREDS_H
#define LBP_AWS_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "provider/http.h"

#define LBP_AWS_REFRESH_MARGIN_S 300

struct lbp_aws_credentials {
    char access_key_id[128];
    char secret_access_key[256];
    char session_token[4096]; /* "" when none */
    int64_t expires_s;        /* 0: never */
    char source[32];          /* "env", "web-identity", "profile", "imds" */
};

struct lbp_aws_creds_opts {
    struct lbp_http_client *http; /* for STS and IMDS; required */
    const char *region;           /* for the STS endpoint */
    const char *sts_endpoint;     /* base URL override; NULL: env, then the regional default */
    const char *imds_endpoint; /* NULL: AWS_EC2_METADATA_SERVICE_ENDPOINT, then 169.254.169.254 */
    const char *profile;       /* NULL: AWS_PROFILE, then "default" */
};

struct lbp_aws_creds;

int lbp_aws_creds_new(const struct lbp_aws_creds_opts *opts, struct lbp_aws_creds **out);
void lbp_aws_creds_free(struct lbp_aws_creds *p);
/*
 * Current credentials, refreshing when needed. LBP_AUTH (err says which
 * sources were tried and why they failed, never a secret), LBP_RETRY when a
 * remote source is unreachable, LBP_NOMEM.
 */
int lbp_aws_creds_get(struct lbp_aws_creds *p, struct lbp_aws_credentials *out, char *err,
                      size_t errlen);
/*
 * Where the cached credentials came from ("" when none) and when they
 * expire (0: never); never triggers a refresh. For status pages.
 */
void lbp_aws_creds_describe(struct lbp_aws_creds *p, char *source, size_t cap, int64_t *expires_s);
/* Forgets cached credentials (after the cloud rejected them). */
void lbp_aws_creds_invalidate(struct lbp_aws_creds *p);
/* Wipes a copy. */
void lbp_aws_credentials_clear(struct lbp_aws_credentials *c);

/*
 * The base URL for an AWS service ("https://ec2.us-east-1.amazonaws.com/"):
 * override (cloud-config) if set, then AWS_ENDPOINT_URL_<ENV_SUFFIX>
 * ("EC2", "ELASTIC_LOAD_BALANCING_V2", "STS"), then AWS_ENDPOINT_URL, then
 * https://<host_prefix>.<region>.amazonaws.com[.cn]/. Always ends in '/'.
 */
int lbp_aws_endpoint(const char *override, const char *env_suffix, const char *host_prefix,
                     const char *region, char *out, size_t cap);

/* The IMDS base URL in use (env override or the default), ending in '/'. */
void lbp_aws_imds_base(const char *override, char *out, size_t cap);
/* IMDSv2 GET of path (e.g. "latest/meta-data/placement/region") into out. */
int lbp_aws_imds_get(struct lbp_http_client *http, const char *base, const char *path,
                     struct lbp_buf *out, char *err, size_t errlen);

#endif
