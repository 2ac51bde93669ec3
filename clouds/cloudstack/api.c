/*
 * api.c — CloudStack commands over the toolkit's REST call.
 *
 * A command is a query "command=X&name=value...". Reads (list*,
 * queryAsyncJobResult) go as GET and are retried freely; changes go as a
 * POST form, so the HTTP client never re-sends one that may have reached
 * the server (associateIpAddress or createLoadBalancerRule sent twice would
 * make two addresses or rules). For those the caller gives a lookup: when a
 * reply is lost the client asks it whether the first attempt took effect,
 * sends again only when it surely did not, and otherwise the lookup's find
 * stands in for the lost reply. The prepare hook signs every attempt afresh
 * (a new expires), rewriting the URL (GET) or the body (POST), and notes
 * when (the lookup for a lost associateIpAddress needs the time it went
 * out); reads keep the answer's Date, the server's own clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "clouds/cloudstack/cs_int.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/paging.h"

#define CS_PAGE_SIZE 500 /* the server's usual default.page.size */

/* When this thread last signed a request (monotonic ms): for a lost reply, when it went out. */
static _Thread_local uint64_t t_signed_ms;

void cs_q_init(struct cs_q *q, const char *command)
{
    q->clock_ms = 0;
    q->has_clock = false;
    lbp_buf_init(&q->b, 1u << 20);
    lbp_strlcpy(q->command, command, sizeof(q->command));
    lbp_buf_adds(&q->b, "command=");
    lbp_buf_adds(&q->b, command);
}

void cs_q_add(struct cs_q *q, const char *name, const char *value)
{
    lbp_buf_addf(&q->b, "&%s=", name);
    lbp_http_urlencode(&q->b, value ? value : "");
}

void cs_q_addf(struct cs_q *q, const char *name, const char *fmt, ...)
{
    char v[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    cs_q_add(q, name, v);
}

void cs_q_free(struct cs_q *q)
{
    lbp_buf_free(&q->b);
}

void cs_q_addv(struct cs_q *q, va_list ap)
{
    for (const char *n = va_arg(ap, const char *); n; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        if (v)
            cs_q_add(q, n, v);
    }
}

const char *cs_str(struct json_object *o, const char *key, char *buf, size_t cap)
{
    struct json_object *v;
    buf[0] = '\0';
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, key, &v) &&
        v && !json_object_is_type(v, json_type_object) && !json_object_is_type(v, json_type_array))
        lbp_strlcpy(buf, json_object_get_string(v), cap);
    return buf;
}

const char *cs_tag(struct json_object *o, const char *key)
{
    struct json_object *tags, *k, *v;
    if (!o || !json_object_object_get_ex(o, "tags", &tags) ||
        !json_object_is_type(tags, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(tags); i++) {
        struct json_object *t = json_object_array_get_idx(tags, i);
        /* A tag whose key or value is not a string (null, a number) is no
           tag of ours; a null key once reached strcmp. */
        if (json_object_object_get_ex(t, "key", &k) && json_object_object_get_ex(t, "value", &v) &&
            json_object_is_type(k, json_type_string) && json_object_is_type(v, json_type_string) &&
            strcmp(json_object_get_string(k), key) == 0)
            return json_object_get_string(v);
    }
    return NULL;
}

bool cs_has_tag(struct json_object *o, const char *key, const char *value)
{
    const char *v = cs_tag(o, key);
    return v && strcmp(v, value) == 0;
}

int lbp_cs_parse_time(const char *s, int64_t *epoch_s)
{
    char b[40];
    size_t n = s ? strlen(s) : 0;
    if (n < 20 || n >= sizeof(b) - 1)
        return LBP_PARSE;
    /* RFC 3339 wants "+hh:mm"; the server's Java pattern writes "+hhmm". */
    if ((s[n - 5] == '+' || s[n - 5] == '-') && strspn(s + n - 4, "0123456789") == 4) {
        snprintf(b, sizeof(b), "%.*s:%s", (int)(n - 2), s, s + n - 2);
        s = b;
    }
    return lbp_parse_rfc3339(s, epoch_s);
}

int lbp_cs_parse_http_date(const char *s, int64_t *epoch_s)
{
    struct tm tm;
    const char *end;
    memset(&tm, 0, sizeof(tm));
    if (!s || !(end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm)) || *end)
        return LBP_PARSE;
    *epoch_s = (int64_t)timegm(&tm);
    return LBP_OK;
}

struct json_object *lbp_cs_unwrap(struct json_object *body)
{
    if (!body || !json_object_is_type(body, json_type_object))
        return NULL;
    json_object_object_foreach(body, k, v)
    {
        size_t n = strlen(k);
        if (n > 8 && strcmp(k + n - 8, "response") == 0 && json_object_is_type(v, json_type_object))
            return v;
    }
    return NULL;
}

void lbp_cs_map_error(struct json_object *body, struct lbp_rest_error *e)
{
    struct json_object *r = lbp_cs_unwrap(body);
    char code[32];
    cs_str(r, "errorcode", code, sizeof(code));
    if (code[0])
        snprintf(e->code, sizeof(e->code), "%s", code);
    else if (e->status)
        snprintf(e->code, sizeof(e->code), "%ld", e->status);
    cs_str(r, "errortext", e->message, sizeof(e->message));
    /* 429 API_LIMIT_EXCEED; 533-535 capacity and resources: not within one call's backoff. */
    e->throttled = e->status == 429;
    e->quota = e->status >= 533 && e->status <= 535;
    e->retryable = e->status == 530;
}

/* Signs each attempt: the query of a GET's URL, or a POST's body. */
static int cs_prepare(void *ud, const struct lbp_http_request *req, const char *host,
                      struct lbp_http_prepared *out)
{
    struct lbp_provider_ctx *ctx = ud;
    int64_t exp = lbp_wall_s() + CS_EXPIRES_S;
    struct lbp_buf signed_q;
    char err[600];
    int rc;
    (void)host;
    t_signed_ms = lbp_now_ms();
    if (!ctx->keys_ready && cs_keys_load(ctx, err, sizeof(err)) != LBP_OK) {
        lbp_warn("%s", err);
        return LBP_AUTH;
    }
    if (req->body) {
        char *body = malloc(req->body_len + 1);
        if (!body)
            return LBP_NOMEM;
        memcpy(body, req->body, req->body_len);
        body[req->body_len] = '\0';
        rc = lbp_cs_sign_query(body, ctx->api_key, ctx->secret_key, exp, &signed_q);
        free(body);
        if (rc)
            return rc;
        out->body_len = signed_q.len;
        out->body = lbp_buf_take(&signed_q, NULL);
        return out->body ? LBP_OK : LBP_NOMEM;
    }
    const char *qs = strchr(req->url, '?');
    if (!qs)
        return LBP_INVALID;
    rc = lbp_cs_sign_query(qs + 1, ctx->api_key, ctx->secret_key, exp, &signed_q);
    if (rc)
        return rc;
    if (asprintf(&out->url, "%.*s?%s", (int)(qs - req->url), req->url, signed_q.data) < 0)
        out->url = NULL;
    lbp_buf_free(&signed_q);
    return out->url ? LBP_OK : LBP_NOMEM;
}

void cs_rest_init(struct lbp_provider_ctx *ctx)
{
    ctx->rest.http = ctx->http;
    ctx->rest.map_error = lbp_cs_map_error;
    ctx->rest.prepare = cs_prepare;
    ctx->rest.prepare_ud = ctx;
}

static bool scoped(const char *command)
{
    return strncmp(command, "list", 4) == 0 || strcmp(command, "associateIpAddress") == 0;
}

int cs_read(struct lbp_provider_ctx *ctx, struct cs_q *q, struct json_object **out,
            struct lbp_call *call)
{
    struct lbp_rest_resp resp;
    char *url = NULL;
    int rc;
    *out = NULL;
    if (ctx->project[0] && scoped(q->command))
        cs_q_add(q, "projectid", ctx->project);
    if (!q->b.data || asprintf(&url, "%s?%s", ctx->api_url, q->b.data) < 0)
        return LBP_NOMEM;
    static const char *const date[] = {"Date"};
    struct lbp_rest_req r = {
        .method = "GET", .url = url, .operation = q->command, .capture = date, .n_capture = 1};
    int64_t d;
    rc = lbp_rest_call(&ctx->rest, &r, &resp, NULL, call);
    /* Sent before it arrived, truncated to the second: a bound from below on the server's
       clock, held against the monotonic one so a step of this host's wall clock is no matter. */
    if (lbp_cs_parse_http_date(resp.captured[0], &d) == LBP_OK) {
        int64_t c = d * 1000 - (int64_t)lbp_now_ms();
        if (!q->has_clock || c > q->clock_ms)
            q->clock_ms = c;
        q->has_clock = true;
    }
    if (rc == LBP_OK) {
        struct json_object *in = lbp_cs_unwrap(resp.json);
        if (!in) {
            lbp_failf(call, "%s: the answer has no %sresponse object", q->command, q->command);
            rc = LBP_RETRY;
        } else {
            *out = json_object_get(in);
        }
    }
    lbp_rest_resp_free(&resp);
    free(url);
    return rc;
}

int cs_list(struct lbp_provider_ctx *ctx, struct cs_q *q, const char *item,
            struct json_object **out, struct lbp_call *call)
{
    struct lbp_pager pg;
    size_t base = q->b.len;
    int rc = LBP_OK;
    struct json_object *all = json_object_new_array();
    if (!all)
        return LBP_NOMEM;
    cs_q_add(q, "listall", "true");
    base = q->b.len;
    lbp_pager_init(&pg, 0);
    while (rc == LBP_OK && lbp_pager_next(&pg)) {
        struct json_object *page = NULL, *items, *cnt;
        long page_no = 1;
        int64_t count = 0;
        if (pg.token[0])
            lbp_parse_long(pg.token, 1, 1000000, &page_no);
        q->b.len = base;
        q->b.data[base] = '\0';
        cs_q_addf(q, "page", "%ld", page_no);
        cs_q_addf(q, "pagesize", "%d", CS_PAGE_SIZE);
        rc = cs_read(ctx, q, &page, call);
        if (rc)
            break;
        if (json_object_object_get_ex(page, "count", &cnt))
            count = json_object_get_int64(cnt);
        if (json_object_object_get_ex(page, item, &items) &&
            json_object_is_type(items, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(items); i++)
                json_object_array_add(all, json_object_get(json_object_array_get_idx(items, i)));
            if (json_object_array_length(items) > 0 &&
                (int64_t)json_object_array_length(all) < count)
                snprintf(pg.next, sizeof(pg.next), "%ld", page_no + 1);
        }
        json_object_put(page);
    }
    if (rc == LBP_OK)
        rc = pg.rc;
    if (rc == LBP_RETRY && !call->err[0])
        lbp_failf(call, "%s: the server kept sending pages", q->command);
    if (rc) {
        json_object_put(all);
        return rc;
    }
    *out = all;
    return LBP_OK;
}

int cs_listv(struct lbp_provider_ctx *ctx, const char *command, const char *item,
             struct json_object **out, struct lbp_call *call, ...)
{
    struct cs_q q;
    va_list ap;
    int rc;
    cs_q_init(&q, command);
    va_start(ap, call);
    cs_q_addv(&q, ap);
    va_end(ap);
    rc = cs_list(ctx, &q, item, out, call);
    cs_q_free(&q);
    return rc;
}

struct lookup_ud {
    struct lbp_provider_ctx *ctx;
    cs_lookup_fn fn;
    void *ud;
    char found[CS_ID_MAX];
};

static bool no_effect(void *ud, const struct lbp_http_request *req,
                      const struct lbp_http_response *failed)
{
    struct lookup_ud *l = ud;
    /* The lost attempt was the last request this thread signed: the lookup's own come after. */
    int rc = l->fn(l->ctx, l->ud, l->found, sizeof(l->found), t_signed_ms);
    (void)failed;
    if (rc == LBP_OK)
        lbp_info("cloudstack: %s: the reply was lost, but it took effect (%s): not sent again",
                 req->operation, l->found);
    else if (rc == LBP_NOT_FOUND)
        lbp_info("cloudstack: %s: the reply was lost and nothing was made: sending again",
                 req->operation);
    else
        l->found[0] = '\0';
    return rc == LBP_NOT_FOUND;
}

int cs_change(struct lbp_provider_ctx *ctx, struct cs_q *q, cs_lookup_fn lookup, void *lookup_ud,
              char jobid[CS_ID_MAX], char id[CS_ID_MAX], struct lbp_call *call)
{
    struct lookup_ud l = {.ctx = ctx, .fn = lookup, .ud = lookup_ud};
    struct lbp_rest_resp resp;
    int rc;
    jobid[0] = id[0] = '\0';
    if (ctx->project[0] && scoped(q->command))
        cs_q_add(q, "projectid", ctx->project);
    if (!q->b.data)
        return LBP_NOMEM;
    struct lbp_rest_req r = {.method = "POST",
                             .url = ctx->api_url,
                             .operation = q->command,
                             .form = q->b.data,
                             .no_effect = lookup ? no_effect : NULL,
                             .no_effect_ud = &l};
    rc = lbp_rest_call(&ctx->rest, &r, &resp, NULL, call);
    if (rc == LBP_OK) {
        struct json_object *in = lbp_cs_unwrap(resp.json);
        cs_str(in, "jobid", jobid, CS_ID_MAX);
        cs_str(in, "id", id, CS_ID_MAX);
        if (!jobid[0] && !id[0]) {
            lbp_failf(call, "%s: the answer has neither jobid nor id", q->command);
            rc = LBP_RETRY;
        }
    } else if (l.found[0]) {
        lbp_strlcpy(id, l.found, CS_ID_MAX);
        call->err[0] = '\0';
        rc = LBP_OK;
    }
    lbp_rest_resp_free(&resp);
    return rc;
}

int lbp_cs_job_outcome(struct json_object *job, char *err, size_t errlen)
{
    struct json_object *res = NULL;
    char st[16], id[CS_ID_MAX], cmd[160], code[16], text[400];
    long code_n = 0;
    cs_str(job, "jobstatus", st, sizeof(st));
    cs_str(job, "jobid", id, sizeof(id));
    if (strcmp(st, "0") == 0)
        return LBP_PENDING;
    if (strcmp(st, "1") == 0)
        return LBP_OK;
    if (strcmp(st, "2") != 0) {
        snprintf(err, errlen, "job %s: jobstatus \"%s\" is not 0, 1 or 2", id, st);
        return LBP_RETRY;
    }
    json_object_object_get_ex(job, "jobresult", &res);
    cs_str(res, "errorcode", code, sizeof(code));
    cs_str(res, "errortext", text, sizeof(text));
    cs_str(job, "cmd", cmd, sizeof(cmd));
    const char *dot = strrchr(cmd, '.');
    lbp_parse_long(code, 0, 100000, &code_n);
    snprintf(err, errlen, "job %s%s%s failed: %s%s%s", id, cmd[0] ? " " : "", dot ? dot + 1 : cmd,
             code[0] ? code : "no error code", text[0] ? " " : "",
             text[0] ? text : "(the server gave no reason)");
    if (code_n == 430 || code_n == 431 || code_n == 432)
        return LBP_INVALID;
    if (code_n == 536 || code_n == 537)
        return LBP_CONFLICT;
    if (code_n == 401 || code_n == 531)
        return LBP_AUTH;
    return LBP_RETRY;
}

int cs_poll_jobs(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = ud;
    char buf[LBP_LRO_REF_MAX], *save = NULL;
    bool pending = false;
    lbp_strlcpy(buf, ref, sizeof(buf));
    /* Every job each round: they run side by side, and one pending says nothing of the rest. */
    for (char *j = strtok_r(buf, ",", &save); j; j = strtok_r(NULL, ",", &save)) {
        struct cs_q q;
        struct json_object *res = NULL;
        struct lbp_call call = {0};
        int rc;
        cs_q_init(&q, "queryAsyncJobResult");
        cs_q_add(&q, "jobid", j);
        rc = cs_read(ctx, &q, &res, &call);
        cs_q_free(&q);
        if (rc == LBP_INVALID) {
            /* An unknown job (purged, or a server restarted) cannot be waited for: read state. */
            continue;
        }
        if (rc) {
            snprintf(err, errlen, "%s", call.err);
            return LBP_RETRY;
        }
        rc = lbp_cs_job_outcome(res, err, errlen);
        json_object_put(res);
        if (rc == LBP_PENDING)
            pending = true;
        else if (rc != LBP_OK)
            return rc;
    }
    if (!pending)
        return LBP_OK;
    /* Jobs of a load-balancer change take seconds: poll every second, not 1, 2, 4 ... 30. */
    *retry_after_s = 1;
    snprintf(err, errlen, "jobs running");
    return LBP_PENDING;
}
