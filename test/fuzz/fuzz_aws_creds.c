/*
 * fuzz_aws_creds.c — what the AWS credential chain reads from the network
 * (clouds/aws/creds.c), fed scripted answers (harness.h): STS
 * AssumeRoleWithWebIdentity (XML, the EKS way) with AWS_ROLE_ARN and a
 * token file set, then IMDSv2 (token, role name, the role's JSON
 * credentials) with them unset, each from the first answer on. Handed-out
 * credentials always have both key parts.
 */
#include "test/fuzz/harness.h"
#include "clouds/aws/creds.h"
#include "common/rc.h"

#include <stdlib.h>
#include <string.h>

static void get(struct lbp_http_client *c)
{
    static struct lbp_aws_credentials cr;
    struct lbp_aws_creds_opts o = {.http = c,
                                   .region = "us-east-1",
                                   .sts_endpoint = "https://sts.fuzz",
                                   .imds_endpoint = "http://169.254.169.254"};
    struct lbp_aws_creds *p = NULL;
    char err[1024] = "";
    FZ_CHECK(lbp_aws_creds_new(&o, &p) == LBP_OK);
    if (lbp_aws_creds_get(p, &cr, err, sizeof(err)) == LBP_OK)
        FZ_CHECK(cr.access_key_id[0] && cr.secret_access_key[0]);
    else
        FZ_CHECK(err[0]);
    lbp_aws_credentials_clear(&cr);
    lbp_aws_creds_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char token_file[512], none[512];
    struct fz_http h;
    const char *dir = fz_setup();
    struct lbp_http_client *c = fz_http_client(&h);

    if (!token_file[0]) {
        FZ_CHECK(fz_write(dir, "web-identity-token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", 29,
                          token_file, sizeof(token_file)) == 0);
        snprintf(none, sizeof(none), "%s/absent", dir);
        /* Only the network sources: no keys in the environment or files. */
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_PROFILE");
        unsetenv("AWS_EC2_METADATA_DISABLED");
        setenv("AWS_SHARED_CREDENTIALS_FILE", none, 1);
        setenv("AWS_CONFIG_FILE", none, 1);
    }

    fz_http_script(&h, data, size);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/lbprov", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_file, 1);
    get(c);

    fz_http_script(&h, data, size);
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    get(c);
    return 0;
}
