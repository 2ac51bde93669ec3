/*
 * rest.c — the JSON REST call and list walker (see rest.h).
 *
 * The HTTP client's hooks are wired to the cloud's pieces: prepare adds
 * the bearer token and then runs the cloud's signer; classify parses the
 * answer and asks the cloud's error mapper whether it is throttling or
 * worth another attempt; no_effect forwards to the caller's check. A list
 * walk follows a next link only to the origin it started at, so a cloud's
 * answer can never send the bearer token anywhere else.
 */
#include "provider/rest.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "common/vec.h"
#include "provider/paging.h"

struct rest_ud {
    const struct lbp_rest *r;
    const struct lbp_rest_req *q;
    int prep_rc;
    char prep_err[256];
};

void lbp_rest_error_default(struct json_object *body, struct lbp_rest_error *e)
{
    struct json_object *err = lbp_json_at(body, "error"), *v;
    const char *s;

    if (err && json_object_is_type(err, json_type_object)) {
        /* {"error":{"code":404|"NotFound","message":"..."}} (GCE, Azure) */
        if ((v = lbp_json_at(err, "code")))
            snprintf(e->code, sizeof(e->code), "%s", json_object_get_string(v));
        if (lbp_json_get_str(err, "message", SIZE_MAX, &s, NULL, 0) == LBP_OK)
            snprintf(e->message, sizeof(e->message), "%s", s);
    } else if (err && json_object_is_type(err, json_type_string)) {
        /* OAuth2 (RFC 6749 5.2): {"error":"invalid_grant","error_description":"..."} */
        snprintf(e->code, sizeof(e->code), "%s", json_object_get_string(err));
        if (lbp_json_get_str(body, "error_description", SIZE_MAX, &s, NULL, 0) == LBP_OK)
            snprintf(e->message, sizeof(e->message), "%s", s);
    }
    if (!e->code[0] && e->status)
        snprintf(e->code, sizeof(e->code), "%ld", e->status);
    e->throttled = e->status == 429;
    e->retryable = e->status >= 500 || e->status == 429;
}

static void map(const struct lbp_rest *r, long status, const char *body, size_t len,
                struct lbp_rest_error *e)
{
    struct json_object *j = NULL;
    memset(e, 0, sizeof(*e));
    e->status = status;
    if (len)
        lbp_json_parse(body, len, LBP_REST_MAX_JSON, &j, NULL, 0);
    (r->map_error ? r->map_error : lbp_rest_error_default)(j, e);
    json_object_put(j);
}

static int prepare(void *ud, const struct lbp_http_request *req, const char *host,
                   struct lbp_http_prepared *out)
{
    struct rest_ud *u = ud;
    int rc = LBP_OK;
    if (u->r->token)
        rc = lbp_token_auth_header(u->r->token, &out->headers, u->prep_err, sizeof(u->prep_err));
    if (rc == LBP_OK && u->r->prepare)
        rc = u->r->prepare(u->r->prepare_ud, req, host, out);
    u->prep_rc = rc;
    return rc;
}

static enum lbp_http_verdict classify(void *ud, long status, const char *body, size_t len,
                                      char *code, size_t codelen)
{
    struct rest_ud *u = ud;
    struct lbp_rest_error e;
    if (status >= 200 && status < 300)
        return LBP_HTTP_DONE;
    map(u->r, status, body, len, &e);
    snprintf(code, codelen, "%s", e.code);
    if (e.throttled)
        return LBP_HTTP_THROTTLE;
    /* A quota frees up in minutes, not within one call's backoff. */
    if (!e.quota && (e.retryable || status >= 500))
        return LBP_HTTP_TRANSIENT;
    return LBP_HTTP_DONE;
}

static bool no_effect(void *ud, const struct lbp_http_request *req,
                      const struct lbp_http_response *failed)
{
    struct rest_ud *u = ud;
    return u->q->no_effect && u->q->no_effect(u->q->no_effect_ud, req, failed);
}

static int status_rc(const struct lbp_rest_error *e)
{
    long s = e->status;
    if (s == 404)
        return LBP_NOT_FOUND;
    if (e->throttled || e->quota || e->retryable || s >= 500)
        return LBP_RETRY;
    if (s == 401 || s == 403)
        return LBP_AUTH;
    if (s == 409 || s == 412)
        return LBP_CONFLICT;
    return LBP_INVALID;
}

void lbp_rest_resp_free(struct lbp_rest_resp *resp)
{
    if (!resp)
        return;
    json_object_put(resp->json);
    resp->json = NULL;
    for (size_t i = 0; i < LBP_HTTP_MAX_CAPTURE; i++) {
        free(resp->captured[i]);
        resp->captured[i] = NULL;
    }
}

int lbp_rest_call(const struct lbp_rest *r, const struct lbp_rest_req *q,
                  struct lbp_rest_resp *resp, struct lbp_rest_error *e, struct lbp_call *call)
{
    const char *hdr[LBP_HTTP_MAX_HEADERS];
    const char *op = q->operation ? q->operation : q->method;
    struct rest_ud ud = {.r = r, .q = q};
    struct lbp_http_request req = {.method = q->method,
                                   .url = q->url,
                                   .operation = q->metric ? q->metric : op,
                                   .headers = hdr,
                                   .prepare = prepare,
                                   .classify = classify,
                                   .ud = &ud,
                                   .no_retry = q->no_retry,
                                   .no_proxy = q->no_proxy,
                                   .idempotent = q->idempotent,
                                   .no_effect = q->no_effect ? no_effect : NULL,
                                   .capture = q->capture,
                                   .n_capture = q->n_capture,
                                   .timeout_ms = q->timeout_ms};
    struct lbp_http_response hr;
    struct lbp_rest_error local;
    size_t nh = 0;
    char why[128];
    int rc;

    if (!e)
        e = &local;
    memset(e, 0, sizeof(*e));
    memset(resp, 0, sizeof(*resp));
    if (q->n_headers + 2 > LBP_HTTP_MAX_HEADERS)
        return LBP_TOOBIG;
    hdr[nh++] = "Accept: application/json";
    if (q->body) {
        hdr[nh++] = "Content-Type: application/json";
        req.body = json_object_to_json_string_ext(q->body, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
        req.body_len = strlen(req.body);
    } else if (q->form) {
        hdr[nh++] = "Content-Type: application/x-www-form-urlencoded";
        req.body = q->form;
        req.body_len = strlen(q->form);
    }
    for (size_t i = 0; i < q->n_headers; i++)
        hdr[nh++] = q->headers[i];
    req.n_headers = nh;

    rc = lbp_http_do(r->http, &req, &hr);
    resp->status = hr.status;
    resp->retry_after_s = hr.retry_after_s;
    memcpy(resp->captured, hr.captured, sizeof(resp->captured));
    memset(hr.captured, 0, sizeof(hr.captured));
    if (call)
        call->retry_after_s = hr.retry_after_s;

    if (ud.prep_rc) {
        lbp_failf(call, "%s: %s", op, ud.prep_err[0] ? ud.prep_err : lbp_rc_str(ud.prep_rc));
        goto out;
    }
    if (rc && !hr.status) {
        lbp_failf(call, "%s: %s%s", op, hr.code[0] ? hr.code : lbp_rc_str(rc),
                  hr.not_resent ? " (not re-sent: it may have taken effect)" : "");
        goto out;
    }
    if (rc && rc != LBP_RETRY)
        goto out;
    if (hr.status >= 200 && hr.status < 300) {
        if (hr.body.len && lbp_json_parse(hr.body.data, hr.body.len, LBP_REST_MAX_JSON, &resp->json,
                                          why, sizeof(why)) != LBP_OK) {
            lbp_failf(call, "%s: unreadable answer (%s)", op, why);
            rc = LBP_RETRY;
        }
        goto out;
    }
    map(r, hr.status, hr.body.data, hr.body.len, e);
    if (hr.body.len)
        lbp_json_parse(hr.body.data, hr.body.len, LBP_REST_MAX_JSON, &resp->json, NULL, 0);
    if (hr.status == 401 && r->token)
        lbp_token_invalidate(r->token);
    rc = status_rc(e);
    lbp_failf(call, "%s: HTTP %ld %s%s%s%s", op, hr.status, e->code, e->message[0] ? ": " : "",
              e->message, e->quota ? " (quota exhausted)" : "");
out:
    lbp_http_response_free(&hr);
    return rc;
}

/* "scheme://host[:port]" of url, for comparing where next links point. */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

int lbp_rest_list(const struct lbp_rest *r, const char *url, const char *operation,
                  const char *items_path, const char *next_path, const char *token_param,
                  int (*each)(void *ud, struct json_object *item), void *ud,
                  struct lbp_rest_error *e, struct lbp_call *call)
{
    struct lbp_pager pg;
    struct lbp_buf u;
    size_t olen = origin_len(url);
    int rc = LBP_OK;

    lbp_buf_init(&u, LBP_PAGE_TOKEN_MAX + strlen(url) + 64);
    lbp_pager_init(&pg, 0);
    while (rc == LBP_OK && lbp_pager_next(&pg)) {
        struct lbp_rest_req q = {.method = "GET", .url = url, .operation = operation};
        struct lbp_rest_resp resp;
        struct json_object *items = NULL;
        const char *next = NULL;
        size_t n = 0;
        char why[200];

        lbp_buf_reset(&u);
        if (pg.token[0] && token_param) {
            rc = lbp_buf_addf(&u, "%s%c%s=", url, strchr(url, '?') ? '&' : '?', token_param);
            rc = rc ? rc : lbp_http_urlencode(&u, pg.token);
            if (rc)
                break;
            q.url = u.data;
        } else if (pg.token[0]) {
            if (!olen || strncmp(pg.token, url, olen) != 0 ||
                (pg.token[olen] && !strchr("/?#", pg.token[olen]))) {
                lbp_failf(call, "%s: the next page link leaves %.*s", operation, (int)olen, url);
                rc = LBP_RETRY;
                break;
            }
            q.url = pg.token;
        }
        rc = lbp_rest_call(r, &q, &resp, e, call);
        if (rc == LBP_OK) {
            int arc = lbp_json_get_array(resp.json, items_path, LBP_VEC_MAX_ITEMS, &items, &n, why,
                                         sizeof(why));
            int nrc = lbp_json_get_str(resp.json, next_path, LBP_PAGE_TOKEN_MAX - 1, &next,
                                       arc && arc != LBP_NOT_FOUND ? NULL : why, sizeof(why));
            if ((arc && arc != LBP_NOT_FOUND) || (nrc && nrc != LBP_NOT_FOUND)) {
                lbp_failf(call, "%s: unreadable answer: %s", operation, why);
                rc = LBP_RETRY;
            }
            for (size_t i = 0; rc == LBP_OK && i < n; i++)
                rc = each(ud, json_object_array_get_idx(items, i));
            lbp_strlcpy(pg.next, rc == LBP_OK && nrc == LBP_OK ? next : "", sizeof(pg.next));
        }
        lbp_rest_resp_free(&resp);
    }
    if (rc == LBP_OK && pg.rc) {
        lbp_failf(call, "%s: the list never ends (repeated or too many page tokens)", operation);
        rc = pg.rc;
    }
    lbp_buf_free(&u);
    return rc;
}
