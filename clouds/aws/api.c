/*
 * api.c — one AWS Query call: sign (SigV4, re-signed on every retry so the
 * date is fresh), send through the shared HTTP client, classify throttling
 * for its backoff, and map the answer's error code onto lbp_rc.
 *
 * Credentials rejected by AWS (SignatureDoesNotMatch, InvalidClientTokenId,
 * AuthFailure, ExpiredToken, ...) become LBP_AUTH once, with the AWS message
 * for the Event; the cached credentials are dropped so a rotated file or a
 * fresh web-identity token is picked up on the next call, but nothing here
 * retries them in a loop.
 */
#include <stdio.h>
#include <string.h>

#include "clouds/aws/aws_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "clouds/aws/sigv4.h"

static const char *const svc_sign[] = {"elasticloadbalancing", "elasticloadbalancing", "ec2"};

static const char *const throttle_codes[] = {"Throttling",
                                             "ThrottlingException",
                                             "ThrottledException",
                                             "RequestThrottledException",
                                             "TooManyRequestsException",
                                             "ProvisionedThroughputExceededException",
                                             "TransactionInProgressException",
                                             "RequestLimitExceeded",
                                             "BandwidthLimitExceeded",
                                             "LimitExceededException",
                                             "RequestThrottled",
                                             "SlowDown",
                                             "PriorRequestNotComplete",
                                             "EC2ThrottledException"};

static const char *const transient_codes[] = {"RequestTimeout", "RequestTimeoutException",
                                              "InternalFailure", "InternalError",
                                              "ServiceUnavailable"};

static const char *const auth_codes[] = {"SignatureDoesNotMatch", "InvalidClientTokenId",
                                         "AuthFailure",           "UnrecognizedClientException",
                                         "IncompleteSignature",   "MissingAuthenticationToken",
                                         "ExpiredToken",          "ExpiredTokenException",
                                         "RequestExpired",        "InvalidAccessKeyId",
                                         "AccessDenied",          "AccessDeniedException",
                                         "UnauthorizedOperation", "OptInRequired",
                                         "InvalidToken"};

static bool in_list(const char *code, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(code, list[i]) == 0)
            return true;
    return false;
}

/* The first <Code>…</Code> in an error body, without a full parse. */
static void peek_code(const char *body, size_t len, char *code, size_t cap)
{
    const char *p = len ? memmem(body, len, "<Code>", 6) : NULL, *e;
    code[0] = 0;
    if (!p)
        return;
    p += 6;
    e = memmem(p, len - (size_t)(p - body), "</Code>", 7);
    if (!e || (size_t)(e - p) >= cap)
        return;
    memcpy(code, p, (size_t)(e - p));
    code[e - p] = 0;
}

static enum lbp_http_verdict classify(void *ud, long status, const char *body, size_t len,
                                      char *code, size_t codelen)
{
    if (status == 200)
        return LBP_HTTP_DONE;
    peek_code(body, len, code, codelen);
    if (in_list(code, throttle_codes, LBP_ARRAY_LEN(throttle_codes)) || status == 429)
        return LBP_HTTP_THROTTLE;
    if (in_list(code, transient_codes, LBP_ARRAY_LEN(transient_codes)) ||
        (status >= 500 && !code[0]) || status == 502 || status == 503 || status == 504)
        return LBP_HTTP_TRANSIENT;
    if (!code[0])
        snprintf(code, codelen, "%ld", status);
    return LBP_HTTP_DONE;
}

struct sign_ud {
    struct lbp_provider_ctx *ctx;
    enum aws_svc svc;
    int creds_rc;
    char creds_err[400];
};

static int prepare(void *ud, const struct lbp_http_request *req, const char *host,
                   struct lbp_http_prepared *out)
{
    struct sign_ud *s = ud;
    struct lbp_aws_credentials cr;
    struct lbp_sigv4_header hdrs[2] = {
        {"Host", host}, {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    struct lbp_sigv4_request sr = {.method = req->method,
                                   .path = "/",
                                   .headers = hdrs,
                                   .n_headers = 2,
                                   .payload = req->body,
                                   .payload_len = req->body_len};
    struct lbp_sigv4_opts so = {.region = s->ctx->region, .service = svc_sign[s->svc]};
    struct lbp_sigv4_result res;
    char err[128];
    const char *path;
    int rc;

    /* Sign the path the URL carries (endpoint overrides may have one). */
    path = strstr(req->url, "://");
    path = path ? strchr(path + 3, '/') : NULL;
    sr.path = path ? path : "/";
    rc = lbp_aws_creds_get(s->ctx->creds, &cr, s->creds_err, sizeof(s->creds_err));
    if (rc) {
        s->creds_rc = rc;
        return rc;
    }
    so.access_key_id = cr.access_key_id;
    so.secret_access_key = cr.secret_access_key;
    so.session_token = cr.session_token[0] ? cr.session_token : NULL;
    rc = lbp_sigv4_sign(&sr, &so, &res, err, sizeof(err));
    lbp_aws_credentials_clear(&cr);
    if (rc) {
        snprintf(s->creds_err, sizeof(s->creds_err), "signing: %s", err);
        s->creds_rc = rc;
        return rc;
    }
    for (size_t i = 0; res.headers[i] && rc == LBP_OK; i++)
        rc = lbp_http_headers_addf(&out->headers, "%s", res.headers[i]);
    lbp_sigv4_result_free(&res);
    return rc;
}

int aws_call(struct lbp_provider_ctx *ctx, enum aws_svc svc, struct aws_query *q, const char *op,
             xmlDoc **doc, struct aws_err *e, struct lbp_call *call)
{
    static const char *const hdrs[] = {
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8", "Accept: text/xml"};
    struct sign_ud ud = {.ctx = ctx, .svc = svc};
    struct lbp_http_request req = {.method = "POST",
                                   .url = ctx->ep[svc],
                                   .operation = op,
                                   .headers = hdrs,
                                   .n_headers = 2,
                                   .body = q->b.data,
                                   .body_len = q->b.len,
                                   .prepare = prepare,
                                   .classify = classify,
                                   /* Every Query action lbprov sends converges on a repeat:
                                      Describe* only read; creates are keyed by name and answer
                                      the existing object (or Duplicate, which the callers
                                      treat as done); register, deregister, tag and delete
                                      are idempotent. */
                                   .idempotent = true,
                                   .ud = &ud};
    struct lbp_http_response resp;
    struct aws_err local;
    xmlDoc *d = NULL;
    int rc;

    if (!e)
        e = &local;
    memset(e, 0, sizeof(*e));
    if (doc)
        *doc = NULL;
    if (q->rc) {
        lbp_failf(call, "%s: request too large", op);
        return q->rc;
    }
    rc = lbp_http_do(ctx->http, &req, &resp);
    e->status = resp.status;
    if (ud.creds_rc) {
        lbp_failf(call, "AWS credentials: %s", ud.creds_err);
        snprintf(e->code, sizeof(e->code), "NoCredentials");
        lbp_http_response_free(&resp);
        return ud.creds_rc == LBP_RETRY ? LBP_RETRY : LBP_AUTH;
    }
    if (rc == LBP_RETRY || rc == LBP_CANCELLED) {
        snprintf(e->code, sizeof(e->code), "%s", resp.code[0] ? resp.code : "unreachable");
        lbp_failf(call, "%s: %s after %u attempts", op, e->code, resp.attempts);
        if (call)
            call->retry_after_s = resp.retry_after_s;
        lbp_http_response_free(&resp);
        return rc;
    }
    if (rc) {
        lbp_failf(call, "%s: %s", op, lbp_rc_str(rc));
        lbp_http_response_free(&resp);
        return rc;
    }
    d = awsx_parse(resp.body.data, resp.body.len);
    if (resp.status == 200) {
        lbp_http_response_free(&resp);
        if (!d) {
            lbp_failf(call, "%s: malformed XML answer", op);
            return LBP_RETRY;
        }
        if (doc)
            *doc = d;
        else
            awsx_free(d);
        return LBP_OK;
    }
    lbp_http_response_free(&resp);
    if (!d || awsx_error(d, e->code, sizeof(e->code), e->msg, sizeof(e->msg)) != LBP_OK)
        snprintf(e->code, sizeof(e->code), "HTTP%ld", e->status);
    awsx_free(d);
    if (in_list(e->code, auth_codes, LBP_ARRAY_LEN(auth_codes)) || e->status == 401 ||
        e->status == 403) {
        lbp_aws_creds_invalidate(ctx->creds);
        lbp_failf(call, "%s: AWS rejected the credentials: %s: %s", op, e->code, e->msg);
        return LBP_AUTH;
    }
    if (strstr(e->code, "NotFound"))
        return LBP_NOT_FOUND;
    if (e->status >= 500) {
        lbp_failf(call, "%s: %s: %s", op, e->code, e->msg);
        return LBP_RETRY;
    }
    lbp_failf(call, "%s: %s: %s", op, e->code, e->msg);
    return LBP_INVALID;
}

int aws_call0(struct lbp_provider_ctx *ctx, enum aws_svc svc, struct aws_query *q, const char *op,
              struct aws_err *e, struct lbp_call *call)
{
    return aws_call(ctx, svc, q, op, NULL, e, call);
}

int aws_describe_all(struct lbp_provider_ctx *ctx, enum aws_svc svc, const struct aws_query *req,
                     const char *op, long page_size, aws_page_parse_fn parse, struct lbp_vec *out,
                     struct aws_err *e, struct lbp_call *call)
{
    bool ec2 = svc == AWS_EC2;
    struct lbp_pager pg;
    int rc = LBP_OK;
    lbp_pager_init(&pg, 0);
    while (rc == LBP_OK && lbp_pager_next(&pg)) {
        struct aws_query q;
        xmlDoc *doc = NULL;
        awsq_copy(&q, req);
        if (page_size)
            awsq_addi(&q, ec2 ? "MaxResults" : "PageSize", page_size);
        if (pg.token[0])
            awsq_add(&q, ec2 ? "NextToken" : "Marker", pg.token);
        rc = aws_call(ctx, svc, &q, op, &doc, e, call);
        awsq_free(&q);
        if (rc == LBP_OK && parse(doc, out, pg.next, sizeof(pg.next)) != LBP_OK) {
            lbp_failf(call, "%s: unreadable answer", op);
            rc = LBP_RETRY;
        }
        awsx_free(doc);
    }
    return rc ? rc : pg.rc;
}

int aws_describe_lb(struct lbp_provider_ctx *ctx, enum aws_svc svc, const char *lb_name,
                    struct lbp_vec *out, struct lbp_call *call)
{
    struct aws_query q;
    xmlDoc *doc = NULL;
    bool v2 = svc == AWS_ELBV2;
    int rc;
    awsq_init(&q, "DescribeLoadBalancers", v2 ? AWS_ELBV2_VERSION : AWS_ELB_VERSION);
    awsq_add(&q, v2 ? "Names.member.1" : "LoadBalancerNames.member.1", lb_name);
    rc = aws_call(ctx, svc, &q, "DescribeLoadBalancers", &doc, NULL, call);
    awsq_free(&q);
    if (rc == LBP_OK && (v2 ? awsx_lbs : awsx_clbs)(doc, out, NULL, 0) != LBP_OK) {
        lbp_failf(call, "DescribeLoadBalancers: unreadable answer");
        rc = LBP_RETRY;
    } else if (rc == LBP_OK && !out->n) {
        rc = LBP_NOT_FOUND;
    }
    awsx_free(doc);
    return rc;
}
