/*
 * arm.c — one Azure Resource Manager call, and operation polling.
 *
 * A call goes through the toolkit's REST client (bearer token, retries
 * where safe, 429 + Retry-After) with ARM's api-version added by resource
 * provider. ARM's error envelope is mapped here: which codes mean "try
 * again", which a quota. ARM also says, on every answer, how many calls of
 * that kind the subscription has left this window
 * (x-ms-ratelimit-remaining-subscription-reads/-writes/-deletes); when the
 * number runs low the next calls of that kind wait a little first, so
 * lbprov slows itself down before ARM has to answer 429.
 *
 * Operations (201/202 with Azure-AsyncOperation or Location) are polled by
 * az_op_poll: {"status":"InProgress"|"Succeeded"|"Failed"|"Canceled"} for
 * the former, 202 (running) or any other 2xx (done) for the latter.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clouds/azure/azure_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

void az_map_error(struct json_object *body, struct lbp_rest_error *e)
{
    static const char *const retry[] = {"AnotherOperationInProgress",
                                        "RetryableError",
                                        "ReferencedResourceNotProvisioned",
                                        "OperationPreempted",
                                        "CanceledAndSupersededDueToAnotherOperation",
                                        "InternalServerError",
                                        NULL};
    static const char *const quota[] = {"QuotaExceeded", "PublicIPCountLimitReached",
                                        "OperationNotAllowed_QuotaExceeded", NULL};
    lbp_rest_error_default(body, e);
    for (size_t i = 0; retry[i]; i++)
        if (strcmp(e->code, retry[i]) == 0)
            e->retryable = true;
    for (size_t i = 0; quota[i]; i++)
        if (strcmp(e->code, quota[i]) == 0)
            e->quota = true;
    if (strcmp(e->code, "SubscriptionRequestsThrottled") == 0 ||
        strcmp(e->code, "TooManyRequests") == 0)
        e->throttled = e->retryable = true;
}

void az_id(const struct lbp_provider_ctx *ctx, const char *rg, const char *type, const char *name,
           char *out, size_t cap)
{
    snprintf(out, cap, "/subscriptions/%s/resourceGroups/%s/providers/%s/%s", ctx->cfg.subscription,
             rg, type, name);
}

unsigned az_pace_ms(long remaining)
{
    /* Unknown or plenty: no wait. Below 100 left: up to a second, growing as it runs out. */
    if (remaining < 0 || remaining >= 100)
        return 0;
    return (unsigned)(100 - remaining) * 10;
}

static int kind_of(const char *method)
{
    return strcmp(method, "GET") == 0 ? 0 : strcmp(method, "DELETE") == 0 ? 2 : 1;
}

static const char *api_for(const char *path)
{
    if (strcasestr(path, "/providers/Microsoft.Compute/"))
        return AZ_COMPUTE_API;
    if (!strcasestr(path, "/providers/"))
        return AZ_GROUP_API;
    return AZ_NET_API;
}

int az_arm(struct lbp_provider_ctx *ctx, const char *method, const char *path,
           struct json_object *body, const char *if_match, const char *if_none_match,
           const char *operation, struct az_resp *out, struct lbp_call *call)
{
    static const char *const rl_hdr[3] = {"x-ms-ratelimit-remaining-subscription-reads",
                                          "x-ms-ratelimit-remaining-subscription-writes",
                                          "x-ms-ratelimit-remaining-subscription-deletes"};
    char url[AZ_URL_MAX], h1[160], h2[160];
    const char *hdrs[2];
    const char *capture[3];
    struct lbp_rest_req q = {0};
    struct lbp_rest_resp rr = {0};
    int kind = kind_of(method), rc;
    long left;
    unsigned wait;

    memset(out, 0, sizeof(*out));
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        lbp_strlcpy(url, path, sizeof(url));
    else if ((size_t)snprintf(url, sizeof(url), "%s%s?api-version=%s", ctx->cfg.arm,
                              path[0] == '/' ? path + 1 : path, api_for(path)) >= sizeof(url)) {
        lbp_failf(call, "%s: ARM path too long", operation);
        return LBP_TOOBIG;
    }
    pthread_mutex_lock(&ctx->pace_mu);
    left = ctx->remaining[kind];
    pthread_mutex_unlock(&ctx->pace_mu);
    if ((wait = az_pace_ms(left))) {
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = (long)(wait % 1000) * 1000000L};
        lbp_v(2, "azure: %ld %s calls left this window: waiting %u ms", left,
              kind == 0   ? "read"
              : kind == 1 ? "write"
                          : "delete",
              wait);
        nanosleep(&ts, NULL);
    }
    q.method = method;
    q.url = url;
    q.operation = operation;
    q.body = body;
    if (if_match) {
        snprintf(h1, sizeof(h1), "If-Match: %s", if_match);
        hdrs[q.n_headers++] = h1;
    }
    if (if_none_match) {
        snprintf(h2, sizeof(h2), "If-None-Match: %s", if_none_match);
        hdrs[q.n_headers++] = h2;
    }
    q.headers = hdrs;
    capture[0] = "Azure-AsyncOperation";
    capture[1] = "Location";
    capture[2] = rl_hdr[kind];
    q.capture = capture;
    q.n_capture = 3;
    rc = lbp_rest_call(&ctx->rest, &q, &rr, NULL, call);
    out->status = rr.status;
    out->json = rr.json;
    rr.json = NULL;
    out->retry_after_s = rr.retry_after_s;
    if (rr.captured[0])
        lbp_strlcpy(out->async_url, rr.captured[0], sizeof(out->async_url));
    if (rr.captured[1])
        lbp_strlcpy(out->location, rr.captured[1], sizeof(out->location));
    if (rr.captured[2]) {
        long v;
        if (lbp_parse_long(rr.captured[2], 0, 1L << 30, &v) == LBP_OK) {
            pthread_mutex_lock(&ctx->pace_mu);
            ctx->remaining[kind] = v;
            pthread_mutex_unlock(&ctx->pace_mu);
        }
    }
    lbp_rest_resp_free(&rr);
    return rc;
}

void az_resp_free(struct az_resp *r)
{
    json_object_put(r->json);
    r->json = NULL;
}

int az_op_poll(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = ud;
    struct lbp_call call = {0};
    struct az_resp r;
    const char *status = NULL;
    bool location = strncmp(ref, "L ", 2) == 0;
    int rc =
        az_arm(ctx, "GET", location ? ref + 2 : ref, NULL, NULL, NULL, "GetOperation", &r, &call);
    if (rc == LBP_RETRY || rc == LBP_AUTH || rc == LBP_CANCELLED) {
        snprintf(err, errlen, "%s", call.err);
        *retry_after_s = call.retry_after_s;
        az_resp_free(&r);
        return LBP_RETRY;
    }
    if (rc == LBP_NOT_FOUND) {
        /* ARM forgets operations after a while: the resource's state decides. */
        az_resp_free(&r);
        return LBP_OK;
    }
    if (rc) {
        snprintf(err, errlen, "%s", call.err);
        az_resp_free(&r);
        return rc;
    }
    *retry_after_s = r.retry_after_s;
    if (location) {
        rc = r.status == 202 ? LBP_PENDING : LBP_OK;
        az_resp_free(&r);
        return rc;
    }
    lbp_json_get_str(r.json, "status", 64, &status, NULL, 0);
    if (!status) {
        snprintf(err, errlen, "operation status: no \"status\" in the answer");
        rc = LBP_RETRY;
    } else if (strcasecmp(status, "Succeeded") == 0) {
        rc = LBP_OK;
    } else if (strcasecmp(status, "Failed") == 0 || strcasecmp(status, "Canceled") == 0) {
        const char *code = NULL, *msg = NULL;
        lbp_json_get_str(r.json, "error.code", 96, &code, NULL, 0);
        lbp_json_get_str(r.json, "error.message", 400, &msg, NULL, 0);
        snprintf(err, errlen, "operation %s: %s: %s", status, code ? code : "-", msg ? msg : "-");
        rc = LBP_RETRY;
    } else {
        snprintf(err, errlen, "operation %s", status);
        rc = LBP_PENDING;
    }
    az_resp_free(&r);
    return rc;
}
