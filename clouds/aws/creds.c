/*
 * creds.c — the AWS credentials chain (see creds.h).
 *
 * The chain is walked again only when nothing is cached or the cached
 * credentials are within the refresh margin of expiry; the walk happens
 * under the provider's mutex, so concurrent workers wait for one refresh
 * instead of each hitting STS or IMDS. Every failure message names the
 * source and the reason, never a value read from it.
 */
#include "clouds/aws/creds.h"

#include <ctype.h>
#include <json-c/json.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/aws/aws_int.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/ini.h"

#define TOKEN_FILE_MAX (64u << 10)

struct lbp_aws_creds {
    pthread_mutex_t mu;
    struct lbp_http_client *http;
    char region[64];
    char sts_override[512];
    char imds_override[512];
    char profile[128];
    struct lbp_aws_credentials cur;
    bool have;
};

void lbp_aws_credentials_clear(struct lbp_aws_credentials *c)
{
    /* OpenSSL's wipe, which the compiler cannot drop (token.c wipes the
       same way): a byte loop through a volatile pointer did the same 4.5
       KiB one byte at a time, and under the fuzz targets' instrumentation
       each byte cost a comparison hook. */
    if (c)
        OPENSSL_cleanse(c, sizeof(*c));
}

int lbp_aws_creds_new(const struct lbp_aws_creds_opts *opts, struct lbp_aws_creds **out)
{
    struct lbp_aws_creds *p = calloc(1, sizeof(*p));
    if (!p)
        return LBP_NOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->http = opts->http;
    lbp_strlcpy(p->region, opts->region ? opts->region : "us-east-1", sizeof(p->region));
    lbp_strlcpy(p->sts_override, opts->sts_endpoint ? opts->sts_endpoint : "",
                sizeof(p->sts_override));
    lbp_strlcpy(p->imds_override, opts->imds_endpoint ? opts->imds_endpoint : "",
                sizeof(p->imds_override));
    lbp_strlcpy(p->profile, opts->profile ? opts->profile : "", sizeof(p->profile));
    *out = p;
    return LBP_OK;
}

void lbp_aws_creds_free(struct lbp_aws_creds *p)
{
    if (!p)
        return;
    lbp_aws_credentials_clear(&p->cur);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void lbp_aws_creds_describe(struct lbp_aws_creds *p, char *source, size_t cap, int64_t *expires_s)
{
    pthread_mutex_lock(&p->mu);
    lbp_strlcpy(source, p->have ? p->cur.source : "", cap);
    *expires_s = p->have ? p->cur.expires_s : 0;
    pthread_mutex_unlock(&p->mu);
}

void lbp_aws_creds_invalidate(struct lbp_aws_creds *p)
{
    pthread_mutex_lock(&p->mu);
    p->have = false;
    pthread_mutex_unlock(&p->mu);
}

static void appendf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *err, size_t errlen, const char *fmt, ...)
{
    size_t l = strlen(err);
    va_list ap;
    if (l + 1 >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err + l, errlen - l, fmt, ap);
    va_end(ap);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* ---- endpoints ---- */

static int set_base(const char *url, char *out, size_t cap)
{
    size_t l = strlen(url);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return LBP_INVALID;
    if (snprintf(out, cap, "%s%s", url, l && url[l - 1] == '/' ? "" : "/") >= (int)cap)
        return LBP_TOOBIG;
    return LBP_OK;
}

int lbp_aws_endpoint(const char *override, const char *env_suffix, const char *host_prefix,
                     const char *region, char *out, size_t cap)
{
    char name[96];
    const char *v;
    if (override && *override)
        return set_base(override, out, cap);
    snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", env_suffix);
    if ((v = env(name)) || (v = env("AWS_ENDPOINT_URL")))
        return set_base(v, out, cap);
    if (!region || !*region)
        return LBP_INVALID;
    if (snprintf(out, cap, "https://%s.%s.amazonaws.com%s/", host_prefix, region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "") >= (int)cap)
        return LBP_TOOBIG;
    return LBP_OK;
}

void lbp_aws_imds_base(const char *override, char *out, size_t cap)
{
    const char *v = override && *override ? override : env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!v || set_base(v, out, cap) != LBP_OK)
        lbp_strlcpy(out, "http://169.254.169.254/", cap);
}

/* ---- IMDSv2 ---- */

int lbp_aws_imds_get(struct lbp_http_client *http, const char *base, const char *path,
                     struct lbp_buf *out, char *err, size_t errlen)
{
    char url[1024], token[512];
    const char *ttl_hdr[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
    char tok_hdr[600];
    const char *get_hdr[] = {tok_hdr};
    struct lbp_http_request req = {.method = "PUT",
                                   .url = url,
                                   .operation = "IMDSToken",
                                   .headers = ttl_hdr,
                                   .n_headers = 1,
                                   /* Off EC2 (or hop limit 1 in a pod) nothing answers:
                                      fail fast, as the SDKs do, rather than retry. */
                                   .no_retry = true,
                                   /* IMDS is link-local: no proxy could reach it, and the SDKs
                                      never send it through one. */
                                   .no_proxy = true,
                                   .timeout_ms = 2000};
    struct lbp_http_response resp;
    int rc;

    snprintf(url, sizeof(url), "%slatest/api/token", base);
    rc = lbp_http_do(http, &req, &resp);
    if (rc != LBP_OK || resp.status != 200 || !resp.body.len || resp.body.len >= sizeof(token)) {
        snprintf(err, errlen, "IMDSv2 token: %s",
                 rc ? lbp_rc_str(rc)
                    : (resp.status == 200 ? "bad token" : "unavailable (HTTP status)"));
        if (rc == LBP_OK && resp.status != 200)
            snprintf(err, errlen, "IMDSv2 token: HTTP %ld", resp.status);
        lbp_http_response_free(&resp);
        return rc == LBP_OK ? LBP_AUTH : rc;
    }
    lbp_strlcpy(token, resp.body.data, sizeof(token));
    lbp_http_response_free(&resp);
    snprintf(tok_hdr, sizeof(tok_hdr), "X-aws-ec2-metadata-token: %s", token);
    memset(token, 0, sizeof(token));

    snprintf(url, sizeof(url), "%s%s", base, path);
    req.method = "GET";
    req.operation = "IMDSGet";
    req.headers = get_hdr;
    rc = lbp_http_do(http, &req, &resp);
    memset(tok_hdr, 0, sizeof(tok_hdr));
    if (rc != LBP_OK || resp.status != 200) {
        if (rc == LBP_OK)
            snprintf(err, errlen, "IMDS GET /%s: HTTP %ld", path, resp.status);
        else
            snprintf(err, errlen, "IMDS GET /%s: %s", path, lbp_rc_str(rc));
        lbp_http_response_free(&resp);
        return rc == LBP_OK ? (resp.status == 404 ? LBP_NOT_FOUND : LBP_AUTH) : rc;
    }
    lbp_buf_reset(out);
    rc = lbp_buf_add(out, resp.body.data ? resp.body.data : "", resp.body.len);
    lbp_http_response_free(&resp);
    return rc;
}

static int from_imds(struct lbp_aws_creds *p, struct lbp_aws_credentials *c, char *err,
                     size_t errlen)
{
    char base[512], path[512], role[256], exp[64];
    struct lbp_buf b;
    struct json_object *o = NULL, *code;
    int rc;
    size_t i = 0;

    lbp_aws_imds_base(p->imds_override, base, sizeof(base));
    lbp_buf_init(&b, 64u << 10);
    rc = lbp_aws_imds_get(p->http, base, "latest/meta-data/iam/security-credentials/", &b, err,
                          errlen);
    if (rc)
        goto out;
    for (; i < b.len && i + 1 < sizeof(role) && b.data[i] != '\n' && b.data[i] != '\r'; i++)
        role[i] = b.data[i];
    role[i] = 0;
    if (!role[0] || strchr(role, '/')) {
        snprintf(err, errlen, "IMDS: no IAM role attached to the instance");
        rc = LBP_AUTH;
        goto out;
    }
    snprintf(path, sizeof(path), "latest/meta-data/iam/security-credentials/%s", role);
    rc = lbp_aws_imds_get(p->http, base, path, &b, err, errlen);
    if (rc)
        goto out;
    o = json_tokener_parse(b.data ? b.data : "");
    if (!o || !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "IMDS: role credentials are not a JSON object");
        rc = LBP_PARSE;
        goto out;
    }
    if (json_object_object_get_ex(o, "Code", &code) &&
        !lbp_streq(json_object_get_string(code), "Success")) {
        snprintf(err, errlen, "IMDS: role credentials answer Code=%.64s",
                 json_object_get_string(code));
        rc = LBP_AUTH;
        goto out;
    }
    if (lbp_json_copy_str(o, "AccessKeyId", c->access_key_id, sizeof(c->access_key_id), NULL, 0) ||
        lbp_json_copy_str(o, "SecretAccessKey", c->secret_access_key, sizeof(c->secret_access_key),
                          NULL, 0) ||
        lbp_json_copy_str(o, "Token", c->session_token, sizeof(c->session_token), NULL, 0) ||
        lbp_json_copy_str(o, "Expiration", exp, sizeof(exp), NULL, 0) ||
        lbp_parse_rfc3339(exp, &c->expires_s)) {
        snprintf(err, errlen,
                 "IMDS: role credentials lack AccessKeyId, SecretAccessKey, Token "
                 "or Expiration");
        rc = LBP_PARSE;
        goto out;
    }
    lbp_strlcpy(c->source, "imds", sizeof(c->source));
out:
    json_object_put(o);
    if (b.data)
        memset(b.data, 0, b.len);
    lbp_buf_free(&b);
    return rc;
}

/* ---- web identity ---- */

static xmlNode *child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

static int xml_text(xmlNode *n, char *out, size_t cap)
{
    /* an empty value is as absent; awsx_content wipes libxml2's copy of a secret */
    return awsx_content(n, out, cap) == LBP_OK && out[0] ? LBP_OK : LBP_PARSE;
}

static int read_token_file(const char *path, char **out)
{
    size_t n = 0;
    int rc = lbp_file_read(path, TOKEN_FILE_MAX, LBP_FILE_SECRET, out, &n);
    if (rc)
        return rc;
    while (n && isspace((unsigned char)(*out)[n - 1]))
        (*out)[--n] = 0;
    if (!n) {
        free(*out);
        *out = NULL;
        return LBP_PARSE;
    }
    return LBP_OK;
}

static enum lbp_http_verdict sts_classify(void *ud, long status, const char *body, size_t len,
                                          char *code, size_t codelen)
{
    if (status >= 500 || status == 429 ||
        (status == 400 && len && memmem(body, len, "<Code>Throttling</Code>", 23))) {
        snprintf(code, codelen, "%s", status == 400 ? "Throttling" : "5xx");
        return LBP_HTTP_THROTTLE;
    }
    if (status != 200)
        snprintf(code, codelen, "%ld", status);
    return LBP_HTTP_DONE;
}

static int from_web_identity(struct lbp_aws_creds *p, const char *role_arn, const char *token_file,
                             const char *session_name, struct lbp_aws_credentials *c, char *err,
                             size_t errlen)
{
    char base[512], exp[64], sess[128];
    char *token = NULL;
    struct lbp_buf body;
    struct lbp_http_response resp = {0};
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                         "Accept: text/xml"};
    struct lbp_http_request req = {.method = "POST",
                                   .operation = "AssumeRoleWithWebIdentity",
                                   .headers = hdr,
                                   .n_headers = 2,
                                   .classify = sts_classify,
                                   /* AssumeRoleWithWebIdentity only hands out credentials. */
                                   .idempotent = true};
    xmlDoc *doc = NULL;
    xmlNode *cr;
    int rc;

    lbp_buf_init(&body, 128u << 10);
    rc = lbp_aws_endpoint(p->sts_override, "STS", "sts", p->region, base, sizeof(base));
    if (rc) {
        snprintf(err, errlen, "web identity: no STS endpoint");
        goto out;
    }
    rc = read_token_file(token_file, &token);
    if (rc) {
        snprintf(err, errlen, "web identity: cannot read token file %.200s: %s", token_file,
                 lbp_rc_str(rc));
        rc = LBP_AUTH;
        goto out;
    }
    if (session_name && *session_name)
        lbp_strlcpy(sess, session_name, sizeof(sess));
    else
        snprintf(sess, sizeof(sess), "lbprov-%lld", (long long)lbp_wall_s());
    rc = lbp_buf_adds(&body, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    rc = rc ? rc : lbp_http_urlencode(&body, role_arn);
    rc = rc ? rc : lbp_buf_adds(&body, "&RoleSessionName=");
    rc = rc ? rc : lbp_http_urlencode(&body, sess);
    rc = rc ? rc : lbp_buf_adds(&body, "&WebIdentityToken=");
    rc = rc ? rc : lbp_http_urlencode(&body, token);
    if (rc)
        goto out;
    req.url = base;
    req.body = body.data;
    req.body_len = body.len;
    rc = lbp_http_do(p->http, &req, &resp);
    if (rc) {
        snprintf(err, errlen, "web identity: STS unreachable: %s", lbp_rc_str(rc));
        goto out;
    }
    doc = awsx_parse_sts(resp.body.data ? resp.body.data : "", resp.body.len);
    if (resp.status != 200) {
        char code[96] = "", msg[256] = "";
        xmlNode *e = doc ? child(awsx_root(doc), "Error") : NULL;
        xml_text(child(e, "Code"), code, sizeof(code));
        xml_text(child(e, "Message"), msg, sizeof(msg));
        snprintf(err, errlen, "web identity: STS AssumeRoleWithWebIdentity: HTTP %ld %s %s",
                 resp.status, code, msg);
        rc = LBP_AUTH;
        goto out;
    }
    cr =
        child(child(doc ? awsx_root(doc) : NULL, "AssumeRoleWithWebIdentityResult"), "Credentials");
    if (xml_text(child(cr, "AccessKeyId"), c->access_key_id, sizeof(c->access_key_id)) ||
        xml_text(child(cr, "SecretAccessKey"), c->secret_access_key,
                 sizeof(c->secret_access_key)) ||
        xml_text(child(cr, "SessionToken"), c->session_token, sizeof(c->session_token)) ||
        xml_text(child(cr, "Expiration"), exp, sizeof(exp)) ||
        lbp_parse_rfc3339(exp, &c->expires_s)) {
        snprintf(err, errlen, "web identity: STS answer lacks Credentials");
        rc = LBP_PARSE;
        goto out;
    }
    lbp_strlcpy(c->source, "web-identity", sizeof(c->source));
out:
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    if (body.data)
        memset(body.data, 0, body.len);
    lbp_buf_free(&body);
    if (resp.body.data)
        memset(resp.body.data, 0, resp.body.len);
    lbp_http_response_free(&resp);
    awsx_free(doc);
    return rc;
}

/* ---- shared files ---- */

static void shared_path(const char *envname, const char *leaf, char *out, size_t cap)
{
    const char *v = env(envname), *home = env("HOME");
    if (v)
        lbp_strlcpy(out, v, cap);
    else
        snprintf(out, cap, "%s/.aws/%s", home ? home : "", leaf);
}

/* 1: found keys, 0: none, <0: -rc */
static int profile_keys(const char *text, const char *section, struct lbp_aws_credentials *c)
{
    if (lbp_ini_get(text, section, "aws_access_key_id", c->access_key_id,
                    sizeof(c->access_key_id)) != LBP_OK ||
        lbp_ini_get(text, section, "aws_secret_access_key", c->secret_access_key,
                    sizeof(c->secret_access_key)) != LBP_OK)
        return 0;
    if (lbp_ini_get(text, section, "aws_session_token", c->session_token,
                    sizeof(c->session_token)) != LBP_OK)
        c->session_token[0] = 0;
    c->expires_s = 0;
    lbp_strlcpy(c->source, "profile", sizeof(c->source));
    return 1;
}

static int from_profile(struct lbp_aws_creds *p, struct lbp_aws_credentials *c, char *err,
                        size_t errlen)
{
    char path[1024], section[160], role[512], tokfile[1024], sess[128];
    const char *profile = p->profile[0] ? p->profile : env("AWS_PROFILE");
    char *text = NULL;
    int rc;
    if (!profile)
        profile = "default";

    shared_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", path, sizeof(path));
    rc = lbp_ini_load(path, &text);
    if (rc == LBP_OK && profile_keys(text, profile, c) == 1) {
        free(text);
        return LBP_OK;
    }
    free(text);
    text = NULL;

    shared_path("AWS_CONFIG_FILE", "config", path, sizeof(path));
    rc = lbp_ini_load(path, &text);
    if (rc != LBP_OK) {
        return LBP_NOT_FOUND;
    }
    if (strcmp(profile, "default") == 0)
        lbp_strlcpy(section, "default", sizeof(section));
    else
        snprintf(section, sizeof(section), "profile %s", profile);
    if (profile_keys(text, section, c) == 1) {
        free(text);
        return LBP_OK;
    }
    if (lbp_ini_get(text, section, "role_arn", role, sizeof(role)) == LBP_OK &&
        lbp_ini_get(text, section, "web_identity_token_file", tokfile, sizeof(tokfile)) == LBP_OK) {
        if (lbp_ini_get(text, section, "role_session_name", sess, sizeof(sess)) != LBP_OK)
            sess[0] = 0;
        free(text);
        return from_web_identity(p, role, tokfile, sess, c, err, errlen);
    }
    free(text);
    return LBP_NOT_FOUND;
}

/* ---- the chain ---- */

static int resolve(struct lbp_aws_creds *p, struct lbp_aws_credentials *c, char *err, size_t errlen)
{
    const char *ak = env("AWS_ACCESS_KEY_ID"), *sk = env("AWS_SECRET_ACCESS_KEY");
    const char *role = env("AWS_ROLE_ARN"), *tokfile = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *dis = env("AWS_EC2_METADATA_DISABLED");
    char sub[400];
    int rc;

    memset(c, 0, sizeof(*c));
    err[0] = 0;
    if (ak && sk) {
        const char *tok = env("AWS_SESSION_TOKEN");
        if (strlen(ak) >= sizeof(c->access_key_id) || strlen(sk) >= sizeof(c->secret_access_key) ||
            (tok && strlen(tok) >= sizeof(c->session_token))) {
            snprintf(err, errlen, "AWS credentials in the environment are too long");
            return LBP_AUTH;
        }
        lbp_strlcpy(c->access_key_id, ak, sizeof(c->access_key_id));
        lbp_strlcpy(c->secret_access_key, sk, sizeof(c->secret_access_key));
        lbp_strlcpy(c->session_token, tok ? tok : "", sizeof(c->session_token));
        lbp_strlcpy(c->source, "env", sizeof(c->source));
        return LBP_OK;
    }
    appendf(err, errlen, "no AWS credentials: env: %s",
            ak || sk ? "only one of AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set" : "not set");

    if (role && tokfile) {
        sub[0] = 0;
        rc = from_web_identity(p, role, tokfile, env("AWS_ROLE_SESSION_NAME"), c, sub, sizeof(sub));
        if (rc == LBP_OK)
            return LBP_OK;
        /* Configured but failing: report it rather than silently trying IMDS. */
        snprintf(err, errlen, "%s", sub);
        return rc == LBP_RETRY ? LBP_RETRY : LBP_AUTH;
    }
    appendf(err, errlen, "; web identity: not configured");

    sub[0] = 0;
    rc = from_profile(p, c, sub, sizeof(sub));
    if (rc == LBP_OK)
        return LBP_OK;
    if (sub[0]) {
        snprintf(err, errlen, "%s", sub);
        return rc == LBP_RETRY ? LBP_RETRY : LBP_AUTH;
    }
    appendf(err, errlen, "; shared files: no keys for profile %s",
            p->profile[0] ? p->profile : (env("AWS_PROFILE") ? env("AWS_PROFILE") : "default"));

    if (dis && strcasecmp(dis, "true") == 0) {
        appendf(err, errlen, "; IMDS: disabled by AWS_EC2_METADATA_DISABLED");
        return LBP_AUTH;
    }
    sub[0] = 0;
    rc = from_imds(p, c, sub, sizeof(sub));
    if (rc == LBP_OK)
        return LBP_OK;
    appendf(err, errlen, "; %s", sub);
    return LBP_AUTH;
}

int lbp_aws_creds_get(struct lbp_aws_creds *p, struct lbp_aws_credentials *out, char *err,
                      size_t errlen)
{
    int rc = LBP_OK;
    char e[512];
    pthread_mutex_lock(&p->mu);
    if (!p->have ||
        (p->cur.expires_s && p->cur.expires_s - LBP_AWS_REFRESH_MARGIN_S <= lbp_wall_s())) {
        struct lbp_aws_credentials fresh;
        e[0] = 0;
        rc = resolve(p, &fresh, e, sizeof(e));
        if (rc == LBP_OK) {
            p->cur = fresh;
            p->have = true;
            lbp_v(2, "aws credentials from %s%s", fresh.source,
                  fresh.expires_s ? " (temporary)" : "");
        } else if (p->have && p->cur.expires_s > lbp_wall_s()) {
            /* Refresh failed but the old ones still work: keep using them. */
            lbp_warn("aws credentials refresh failed, using current until expiry: %s", e);
            rc = LBP_OK;
        } else {
            p->have = false;
            snprintf(err, errlen, "%s", e);
        }
        lbp_aws_credentials_clear(&fresh);
    }
    if (rc == LBP_OK)
        *out = p->cur;
    pthread_mutex_unlock(&p->mu);
    return rc;
}
