/*
 * test_aws_creds.c — the AWS credentials chain (provider/aws_creds.c) and
 * its INI reader, with fake-aws as STS and IMDS: the chain's order,
 * profiles from the shared credentials and config files, web identity,
 * IMDSv2 (token first, refresh before expiry, disabled by env), and that
 * at -v=10 no log line carries a key, secret, token or signature.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "clouds/aws/creds.h"
#include "provider/http.h"
#include "common/ini.h"
#include "provider/provider.h"
#include "test/fakes/aws/fake_aws_client.h"

extern const struct lbp_provider lbp_provider_aws;

static struct fake_aws g_f;
static char g_dir[128];

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s/%s", g_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clear_env(void)
{
    static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_ROLE_ARN",
                                       "AWS_WEB_IDENTITY_TOKEN_FILE",
                                       "AWS_ROLE_SESSION_NAME",
                                       "AWS_PROFILE",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_CONFIG_FILE",
                                       "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                       "AWS_EC2_METADATA_DISABLED",
                                       "AWS_ENDPOINT_URL",
                                       "AWS_ENDPOINT_URL_STS"};
    for (size_t i = 0; i < LBP_ARRAY_LEN(vars); i++)
        unsetenv(vars[i]);
    /* Point the default shared files somewhere empty. */
    setenv("HOME", g_dir, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
}

static int setup(void **st)
{
    const char *extra[] = {"--web-identity-token", "eyJ.test-web-identity-token.sig", NULL};
    snprintf(g_dir, sizeof(g_dir), "/tmp/lbp-aws-creds-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    return fake_aws_start(&g_f, extra);
}

static int teardown(void **st)
{
    char cmd[200];
    lbp_http_thread_cleanup();
    fake_aws_stop(&g_f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct lbp_http_client *http(void)
{
    struct lbp_http_opts o = {.cloud = "aws", .max_attempts = 2, .backoff_base_ms = 5};
    struct lbp_http_client *c;
    assert_int_equal(lbp_http_client_new(&o, &c), LBP_OK);
    return c;
}

static int get(struct lbp_aws_credentials *out, char *err, size_t errlen)
{
    struct lbp_http_client *c = http();
    struct lbp_aws_creds *p;
    struct lbp_aws_creds_opts o = {.http = c, .region = "us-east-1"};
    int rc;
    assert_int_equal(lbp_aws_creds_new(&o, &p), LBP_OK);
    rc = lbp_aws_creds_get(p, out, err, errlen);
    lbp_aws_creds_free(p);
    lbp_http_client_free(c);
    return rc;
}

static void ini_reader(void **st)
{
    char v[64], path[256];
    char *text;
    const char *t = "# comment\n[default]\n key = v1 \n; other\n[profile x]\nkey=v2\n"
                    "empty =\n[broken\n";
    assert_int_equal(lbp_ini_get(t, "default", "key", v, sizeof(v)), LBP_OK);
    assert_string_equal(v, "v1");
    assert_int_equal(lbp_ini_get(t, "profile x", "key", v, sizeof(v)), LBP_OK);
    assert_string_equal(v, "v2");
    assert_int_equal(lbp_ini_get(t, "profile x", "empty", v, sizeof(v)), LBP_OK);
    assert_string_equal(v, "");
    /* A missing key in a broken file is a parse error, in a good one absent. */
    assert_int_equal(lbp_ini_get(t, "default", "nope", v, sizeof(v)), LBP_PARSE);
    assert_int_equal(lbp_ini_get("[default]\nkey=1\n", "default", "nope", v, sizeof(v)),
                     LBP_NOT_FOUND);
    assert_int_equal(lbp_ini_get(t, "default", "key", v, 2), LBP_TOOBIG);
    /* the unterminated header is only reached by a lookup that scans past it */
    assert_int_equal(lbp_ini_get(t, "zzz", "key", v, sizeof(v)), LBP_PARSE);
    {
        char *big = malloc(LBP_INI_MAX_LINE + 64);
        memset(big, 'k', LBP_INI_MAX_LINE + 10);
        memcpy(big, "[a]\n", 4);
        big[LBP_INI_MAX_LINE + 10] = 0;
        assert_int_equal(lbp_ini_get(big, "a", "k", v, sizeof(v)), LBP_TOOBIG);
        free(big);
    }
    assert_int_equal(lbp_ini_load("/nonexistent/x", &text), LBP_NOT_FOUND);
    write_file("ini", t, path, sizeof(path));
    assert_int_equal(lbp_ini_load(path, &text), LBP_OK);
    assert_int_equal(lbp_ini_has_section(text, "profile x"), LBP_OK);
    free(text);
}

static void env_first_then_profiles(void **st)
{
    struct lbp_aws_credentials c;
    char err[512], cred[256], conf[256];
    clear_env();
    write_file("credentials",
               "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s-default\n"
               "\n[prod]\naws_access_key_id=AKIDPROD\naws_secret_access_key=s-prod\n"
               "aws_session_token = tok-prod\n",
               cred, sizeof(cred));
    write_file("config",
               "[default]\nregion = us-east-1\n[profile dev]\naws_access_key_id = AKIDDEV\n"
               "aws_secret_access_key = s-dev\n",
               conf, sizeof(conf));
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_CONFIG_FILE", conf, 1);

    assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.source, "profile");
    assert_string_equal(c.access_key_id, "AKIDDEFAULT");
    setenv("AWS_PROFILE", "prod", 1);
    assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.access_key_id, "AKIDPROD");
    assert_string_equal(c.session_token, "tok-prod");
    setenv("AWS_PROFILE", "dev", 1);
    assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.access_key_id, "AKIDDEV");
    /* Environment beats the files. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "s-env", 1);
    assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.source, "env");
    assert_string_equal(c.access_key_id, "AKIDENV");
    assert_int_equal(c.expires_s, 0);
    /* Half an env pair is not credentials. */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_PROFILE", "missing", 1);
    assert_int_equal(get(&c, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, "only one of"));
    assert_non_null(strstr(err, "profile missing"));
    assert_non_null(strstr(err, "AWS_EC2_METADATA_DISABLED"));
    assert_null(strstr(err, "AKIDENV"));
}

static void web_identity(void **st)
{
    struct lbp_aws_credentials c;
    char err[512], tok[256];
    int64_t now = lbp_wall_s();
    clear_env();
    setenv("AWS_ENDPOINT_URL_STS", g_f.url, 1);
    write_file("token", "eyJ.test-web-identity-token.sig\n", tok, sizeof(tok));
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/lbprov", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    fake_aws_reset_counters(&g_f);
    assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.source, "web-identity");
    assert_int_equal(strncmp(c.access_key_id, "ASIA", 4), 0);
    assert_true(c.session_token[0] != 0);
    assert_true(c.expires_s > now + 3000 && c.expires_s < now + 4000);
    assert_int_equal(fake_aws_count(&g_f, "AssumeRoleWithWebIdentity"), 1);
    /* Web identity comes before the shared files... */
    {
        char cred[256];
        write_file("credentials2",
                   "[default]\naws_access_key_id=AKIDFILE\n"
                   "aws_secret_access_key=x\n",
                   cred, sizeof(cred));
        setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
        assert_int_equal(get(&c, err, sizeof(err)), LBP_OK);
        assert_string_equal(c.source, "web-identity");
    }
    /* ...and a rejected token is an AUTH error naming STS's code, not a fall-through. */
    write_file("token", "wrong-token\n", tok, sizeof(tok));
    assert_int_equal(get(&c, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, "InvalidIdentityToken"));
    assert_null(strstr(err, "wrong-token"));
}

static void imds_v2_and_refresh(void **st)
{
    struct lbp_http_client *h = http();
    struct lbp_aws_creds *p;
    struct lbp_aws_creds_opts o = {.http = h, .region = "us-east-1"};
    struct lbp_aws_credentials c;
    char err[512], first_key[128];
    clear_env();
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", g_f.url, 1);
    /* A proxy that does not exist: metadata requests must not use it. */
    unsetenv("NO_PROXY");
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    fake_aws_reset_counters(&g_f);
    assert_int_equal(lbp_aws_creds_new(&o, &p), LBP_OK);
    assert_int_equal(lbp_aws_creds_get(p, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.source, "imds");
    assert_true(c.session_token[0] && c.expires_s > lbp_wall_s());
    snprintf(first_key, sizeof(first_key), "%s", c.access_key_id);
    /* token PUT, role list, role credentials */
    assert_int_equal(fake_aws_count(&g_f, "IMDSToken"), 2);
    assert_int_equal(fake_aws_count(&g_f, "IMDSGet"), 2);
    /* Far from expiry: cached. */
    assert_int_equal(lbp_aws_creds_get(p, &c, err, sizeof(err)), LBP_OK);
    assert_int_equal(fake_aws_count(&g_f, "IMDSGet"), 2);
    lbp_aws_creds_free(p);
    /* Inside the 5-minute margin: every get refreshes. */
    assert_int_equal(fake_aws_req(&g_f, "POST", "/_fake/config", "{\"temp_ttl_s\":120}", NULL),
                     200);
    assert_int_equal(lbp_aws_creds_new(&o, &p), LBP_OK);
    assert_int_equal(lbp_aws_creds_get(p, &c, err, sizeof(err)), LBP_OK);
    assert_string_not_equal(c.access_key_id, first_key);
    assert_int_equal(lbp_aws_creds_get(p, &c, err, sizeof(err)), LBP_OK);
    assert_int_equal(fake_aws_count(&g_f, "IMDSGet"), 6);
    unsetenv("http_proxy");
    setenv("NO_PROXY", "127.0.0.1", 1);
    fake_aws_req(&g_f, "POST", "/_fake/config", "{\"temp_ttl_s\":3600}", NULL);
    lbp_aws_creds_free(p);
    /* Disabled: IMDS is never asked. */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    fake_aws_reset_counters(&g_f);
    assert_int_equal(lbp_aws_creds_new(&o, &p), LBP_OK);
    assert_int_equal(lbp_aws_creds_get(p, &c, err, sizeof(err)), LBP_AUTH);
    assert_int_equal(fake_aws_count(&g_f, "IMDSToken"), 0);
    lbp_aws_creds_free(p);
    lbp_http_client_free(h);
}

/* Whole provider at -v=10 with temporary credentials: the log never shows a secret. */
static void nothing_secret_in_logs(void **st)
{
    char path[256], tok[256], err[256], *log;
    struct lbp_provider_ctx *ctx = NULL;
    struct lbp_call call = {0};
    struct lbp_http_client *h;
    struct lbp_aws_creds *p;
    struct lbp_aws_creds_opts o = {.region = "us-east-1"};
    struct lbp_aws_credentials c;
    int fd;
    size_t len;
    FILE *f;
    clear_env();
    setenv("AWS_ENDPOINT_URL", g_f.url, 1);
    setenv("AWS_REGION", "us-east-1", 1);
    write_file("token", "eyJ.test-web-identity-token.sig\n", tok, sizeof(tok));
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/lbprov", 1);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok, 1);
    /* The same credentials the provider will get, to know what to look for. */
    h = http();
    o.http = h;
    assert_int_equal(lbp_aws_creds_new(&o, &p), LBP_OK);

    snprintf(path, sizeof(path), "%s/log", g_dir);
    fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_true(fd >= 0);
    lbp_log_set_fd(fd);
    lbp_log_verbosity = 10;
    assert_int_equal(lbp_provider_aws.init(NULL, "c1", &ctx, err, sizeof(err)), LBP_OK);
    assert_int_equal(lbp_provider_aws.ping(ctx, &call), LBP_OK);
    {
        /* The debug page says where credentials came from, never what they are. */
        char *dbg = lbp_provider_aws.debug_json(ctx);
        assert_non_null(dbg);
        assert_non_null(strstr(dbg, "\"credentialsSource\":\"web-identity\""));
        assert_null(strstr(dbg, "ASIA"));
        assert_null(strstr(dbg, "FQoTOKEN"));
        free(dbg);
    }
    lbp_provider_aws.cleanup(ctx);
    lbp_log_verbosity = 0;
    lbp_log_set_fd(2);
    close(fd);

    f = fopen(path, "r");
    assert_non_null(f);
    log = calloc(1, 1 << 20);
    len = fread(log, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(len > 0);
    assert_non_null(strstr(log, "AssumeRoleWithWebIdentity"));
    assert_non_null(strstr(log, "REDACTED"));
    assert_null(strstr(log, "test-web-identity-token"));
    assert_null(strstr(log, "Signature="));
    assert_null(strstr(log, "FQoTOKEN")); /* the fake's session tokens */
    assert_null(strstr(log, "ASIA"));     /* temporary key ids */
    /* Any secret the fake could have issued is 40 hex chars after SecretAccessKey: none shown. */
    assert_null(strstr(log, "<SecretAccessKey>0"));
    (void)c;
    free(log);
    lbp_aws_creds_free(p);
    lbp_http_client_free(h);
}

/* Clearing credentials leaves no byte of any key part behind. */
static void clear_wipes_every_byte(void **state)
{
    (void)state;
    struct lbp_aws_credentials *c = malloc(sizeof(*c));
    assert_non_null(c);
    memset(c, 0xA5, sizeof(*c));
    lbp_aws_credentials_clear(c);
    for (size_t i = 0; i < sizeof(*c); i++)
        assert_int_equal(((const unsigned char *)c)[i], 0);
    lbp_aws_credentials_clear(NULL);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ini_reader),
        cmocka_unit_test(env_first_then_profiles),
        cmocka_unit_test(web_identity),
        cmocka_unit_test(imds_v2_and_refresh),
        cmocka_unit_test(nothing_secret_in_logs),
        cmocka_unit_test(clear_wipes_every_byte),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
