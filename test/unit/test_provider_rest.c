/*
 * test_provider_rest.c — the JSON REST call (provider/rest.c), the paged
 * list walker and the long-running-operation poller (provider/lro.c)
 * against an in-process HTTP server on loopback that answers the way GCE
 * and Azure do: {"items", "nextPageToken"} and {"value", "nextLink"}
 * pages, {"error":{"code","message","errors":[{"reason"}]}} envelopes,
 * Operations that stay RUNNING for a few polls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "test/unit/mhd_local.h"
#include "provider/lro.h"
#include "provider/rest.h"
#include "provider/token.h"

static struct MHD_Daemon *g_d;
static int g_port;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_hits[16];
static char g_tokens_seen[8][64];
static char g_auth[128];
static int g_op_running_polls = 2; /* RUNNING answers before DONE */
static bool g_op_fails;

enum route {
    R_ITEMS,
    R_AZ,
    R_404,
    R_QUOTA,
    R_THROTTLE,
    R_CONFLICT,
    R_TOKEN,
    R_PROT,
    R_LB_POST,
    R_LB_GET,
    R_OP,
    R_OTHER
};

/* Which route a path is (/lb: R_LB_POST for a POST). */
static const struct {
    const char *url;
    enum route r;
} routes[] = {
    {"/items", R_ITEMS},       {"/az", R_AZ},
    {"/missing", R_404},       {"/quota", R_QUOTA},
    {"/throttle", R_THROTTLE}, {"/conflict", R_CONFLICT},
    {"/token", R_TOKEN},       {"/protected", R_PROT},
    {"/lb", R_LB_GET},         {"/ops/op-1", R_OP},
};

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *body)
{
    return lbp_test_mhd_reply(c, status, body, NULL, NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    const char *tok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "pageToken");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char body[512];
    enum route r = R_OTHER;
    unsigned n;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (strcmp(url, routes[i].url) == 0)
            r = routes[i].r;
    if (r == R_LB_GET && strcmp(method, "POST") == 0)
        r = R_LB_POST;
    pthread_mutex_lock(&g_mu);
    n = ++g_hits[r];
    if (r == R_ITEMS && n <= 8)
        snprintf(g_tokens_seen[n - 1], sizeof(g_tokens_seen[0]), "%s", tok ? tok : "");
    if (r == R_PROT)
        snprintf(g_auth, sizeof(g_auth), "%s", auth ? auth : "");
    pthread_mutex_unlock(&g_mu);

    switch (r) {
    case R_ITEMS:
        if (!tok)
            return reply(c, 200, "{\"items\":[{\"id\":1},{\"id\":2}],\"nextPageToken\":\"p 2\"}");
        if (strcmp(tok, "p 2") == 0) /* GCE leaves items out of an empty page */
            return reply(c, 200, "{\"nextPageToken\":\"p3\"}");
        return reply(c, 200, "{\"items\":[{\"id\":3}]}");
    case R_AZ: {
        const char *page = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page");
        const char *evil = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "evil");
        if (evil)
            snprintf(body, sizeof(body),
                     "{\"value\":[{\"id\":7}],\"nextLink\":\"http://127.0.0.2:%d/az?page=2\"}",
                     g_port);
        else if (!page)
            snprintf(body, sizeof(body),
                     "{\"value\":[{\"id\":10}],\"nextLink\":\"http://127.0.0.1:%d/az?page=2\"}",
                     g_port);
        else
            snprintf(body, sizeof(body), "{\"value\":[{\"id\":11},{\"id\":12}]}");
        return reply(c, 200, body);
    }
    case R_404:
        return reply(c, 404,
                     "{\"error\":{\"code\":404,\"message\":\"The resource 'lb-1' was not found\","
                     "\"errors\":[{\"reason\":\"notFound\"}]}}");
    case R_QUOTA:
        return reply(c, 403,
                     "{\"error\":{\"code\":403,\"message\":\"Quota 'FORWARDING_RULES' exceeded\","
                     "\"errors\":[{\"reason\":\"quotaExceeded\"}]}}");
    case R_THROTTLE:
        if (n == 1)
            return reply(c, 429,
                         "{\"error\":{\"code\":429,\"message\":\"Rate Limit Exceeded\","
                         "\"errors\":[{\"reason\":\"rateLimitExceeded\"}]}}");
        return reply(c, 200, "{\"ok\":true}");
    case R_CONFLICT:
        return reply(c, 409, "{\"error\":{\"code\":\"Conflict\",\"message\":\"in use\"}}");
    case R_TOKEN:
        snprintf(body, sizeof(body), "{\"access_token\":\"tok-%u\",\"expires_in\":3600}", n);
        return reply(c, 200, body);
    case R_PROT:
        if (strcmp(auth ? auth : "", "Bearer tok-1") == 0)
            return reply(c, 401, "{\"error\":{\"code\":401,\"message\":\"expired\"}}");
        return reply(c, 200, "{\"ok\":true}");
    case R_LB_POST:
        return reply(c, 200,
                     "{\"kind\":\"compute#operation\",\"name\":\"op-1\",\"status\":"
                     "\"RUNNING\"}");
    case R_LB_GET:
        return reply(c, 200, "{\"name\":\"lb-1\",\"IPAddress\":\"198.51.100.7\"}");
    case R_OP:
        if ((int)n <= g_op_running_polls)
            return reply(c, 200, "{\"name\":\"op-1\",\"status\":\"RUNNING\"}");
        if (g_op_fails)
            return reply(c, 200,
                         "{\"name\":\"op-1\",\"status\":\"DONE\",\"error\":{\"errors\":[{\"code\":"
                         "\"RESOURCE_ALREADY_EXISTS\",\"message\":\"exists\"}]},"
                         "\"httpErrorStatusCode\":409}");
        return reply(c, 200, "{\"name\":\"op-1\",\"status\":\"DONE\"}");
    default:
        return reply(c, 404, "{}");
    }
}

static int server_up(void **st)
{
    return lbp_test_mhd_up(handler, &g_d, &g_port, "127.0.0.1,127.0.0.2");
}

static int server_down(void **st)
{
    lbp_test_mhd_down(g_d);
    return 0;
}

static int reset(void **st)
{
    pthread_mutex_lock(&g_mu);
    memset(g_hits, 0, sizeof(g_hits));
    memset(g_tokens_seen, 0, sizeof(g_tokens_seen));
    g_op_running_polls = 2;
    g_op_fails = false;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static unsigned hits(enum route r)
{
    unsigned n;
    pthread_mutex_lock(&g_mu);
    n = g_hits[r];
    pthread_mutex_unlock(&g_mu);
    return n;
}

struct ids {
    int64_t v[16];
    size_t n;
};

static int collect(void *ud, struct json_object *item)
{
    struct ids *ids = ud;
    int64_t id;
    int rc = lbp_json_get_int(item, "id", 0, 1000, &id, NULL, 0);
    if (rc == LBP_OK && ids->n < 16)
        ids->v[ids->n++] = id;
    return rc;
}

/* GCE-style pages: pageToken carried (URL-encoded), an empty page without items. */
static void pages_with_page_token(void **st)
{
    struct lbp_rest r = {.http = lbp_test_http_client(3)};
    struct ids ids = {0};
    struct lbp_call call = {0};
    assert_int_equal(lbp_rest_list(&r, lbp_test_mhd_url(g_port, "/items?maxResults=2"), "ListItems",
                                   "items", "nextPageToken", "pageToken", collect, &ids, NULL,
                                   &call),
                     LBP_OK);
    assert_int_equal(ids.n, 3);
    assert_int_equal(ids.v[0], 1);
    assert_int_equal(ids.v[2], 3);
    assert_int_equal(hits(R_ITEMS), 3);
    assert_string_equal(g_tokens_seen[0], "");
    assert_string_equal(g_tokens_seen[1], "p 2");
    assert_string_equal(g_tokens_seen[2], "p3");
    lbp_http_client_free(r.http);
}

/* Azure-style nextLink pages; a link to another host is refused before anything is sent. */
static void pages_with_next_link(void **st)
{
    struct lbp_rest r = {.http = lbp_test_http_client(3)};
    struct ids ids = {0};
    struct lbp_call call = {0};
    assert_int_equal(lbp_rest_list(&r, lbp_test_mhd_url(g_port, "/az"), "ListLBs", "value",
                                   "nextLink", NULL, collect, &ids, NULL, &call),
                     LBP_OK);
    assert_int_equal(ids.n, 3);
    assert_int_equal(ids.v[2], 12);
    assert_int_equal(hits(R_AZ), 2);
    ids.n = 0;
    assert_int_equal(lbp_rest_list(&r, lbp_test_mhd_url(g_port, "/az?evil=1"), "ListLBs", "value",
                                   "nextLink", NULL, collect, &ids, NULL, &call),
                     LBP_RETRY);
    assert_non_null(strstr(call.err, "leaves"));
    assert_int_equal(hits(R_AZ), 3); /* only the first page went out */
    lbp_http_client_free(r.http);
}

/* A GCE-like mapper: quota and rate limits from errors[0].reason. */
static void gce_map(struct json_object *body, struct lbp_rest_error *e)
{
    const char *reason = NULL;
    lbp_rest_error_default(body, e);
    lbp_json_get_str(body, "error.errors[0].reason", 64, &reason, NULL, 0);
    if (reason && strcmp(reason, "quotaExceeded") == 0)
        e->quota = true;
    if (reason && strcmp(reason, "rateLimitExceeded") == 0)
        e->throttled = true;
}

static void error_envelopes(void **st)
{
    struct lbp_rest r = {.http = lbp_test_http_client(3), .map_error = gce_map};
    struct lbp_rest_req q = {.method = "GET", .operation = "GetLB"};
    struct lbp_rest_resp resp;
    struct lbp_rest_error e;
    struct lbp_call call = {0};

    q.url = lbp_test_mhd_url(g_port, "/missing");
    assert_int_equal(lbp_rest_call(&r, &q, &resp, &e, &call), LBP_NOT_FOUND);
    assert_int_equal(e.status, 404);
    assert_string_equal(e.code, "404");
    assert_string_equal(e.message, "The resource 'lb-1' was not found");
    assert_non_null(strstr(call.err, "GetLB: HTTP 404"));
    lbp_rest_resp_free(&resp);

    q.url = lbp_test_mhd_url(g_port, "/quota");
    assert_int_equal(lbp_rest_call(&r, &q, &resp, &e, &call), LBP_RETRY);
    assert_true(e.quota);
    assert_int_equal(hits(R_QUOTA), 1); /* a quota is not retried within the call */
    assert_non_null(strstr(call.err, "quota"));
    lbp_rest_resp_free(&resp);

    q.url = lbp_test_mhd_url(g_port, "/throttle");
    assert_int_equal(lbp_rest_call(&r, &q, &resp, &e, &call), LBP_OK);
    assert_int_equal(hits(R_THROTTLE), 2);
    assert_true(json_object_get_boolean(lbp_json_at(resp.json, "ok")));
    lbp_rest_resp_free(&resp);

    q.url = lbp_test_mhd_url(g_port, "/conflict");
    q.method = "DELETE";
    assert_int_equal(lbp_rest_call(&r, &q, &resp, &e, &call), LBP_CONFLICT);
    assert_string_equal(e.code, "Conflict");
    lbp_rest_resp_free(&resp);
    lbp_http_client_free(r.http);
}

/* The bearer token rides along; a 401 drops it and the next call fetches a new one. */
static void bearer_token_and_401(void **st)
{
    struct lbp_http_client *h = lbp_test_http_client(3);
    struct lbp_token_source *src = NULL;
    struct lbp_token_cache *tc = NULL;
    struct lbp_rest r = {.http = h};
    struct lbp_rest_req q = {
        .method = "GET", .url = lbp_test_mhd_url(g_port, "/protected"), .operation = "Get"};
    struct lbp_rest_resp resp;
    struct lbp_call call = {0};
    char err[128];
    assert_int_equal(lbp_token_client_credentials(h, lbp_test_mhd_url(g_port, "/token"), "id",
                                                  "secret", NULL, &src, err, 128),
                     LBP_OK);
    assert_int_equal(lbp_token_cache_new(src, 0, &tc), LBP_OK);
    r.token = tc;
    assert_int_equal(lbp_rest_call(&r, &q, &resp, NULL, &call), LBP_AUTH);
    assert_string_equal(g_auth, "Bearer tok-1");
    lbp_rest_resp_free(&resp);
    assert_int_equal(lbp_rest_call(&r, &q, &resp, NULL, &call), LBP_OK);
    assert_string_equal(g_auth, "Bearer tok-2");
    assert_int_equal(lbp_token_fetches(tc), 2);
    lbp_rest_resp_free(&resp);
    lbp_token_cache_free(tc);
    lbp_http_client_free(h);
}

/* ---- a provider-shaped ensure on the poller ---- */

struct cloud {
    struct lbp_rest r;
    struct lbp_lro_table *ops;
};

/* GCE: GET the operation; DONE with error.errors is a failure. */
static int poll_op(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen)
{
    struct cloud *cl = ud;
    struct lbp_rest_req q = {.method = "GET", .url = ref, .operation = "GetOperation"};
    struct lbp_rest_resp resp;
    struct lbp_call call = {0};
    const char *status = NULL, *code = NULL;
    int rc = lbp_rest_call(&cl->r, &q, &resp, NULL, &call);
    if (rc) {
        lbp_seterr(err, errlen, "%s", call.err);
    } else if (lbp_json_get_str(resp.json, "status", 32, &status, err, errlen)) {
        rc = LBP_RETRY;
    } else if (strcmp(status, "DONE") != 0) {
        rc = LBP_PENDING;
    } else if (lbp_json_get_str(resp.json, "error.errors[0].code", 96, &code, NULL, 0) == 0) {
        lbp_seterr(err, errlen, "%s", code);
        rc = LBP_CONFLICT;
    }
    lbp_rest_resp_free(&resp);
    return rc;
}

static int ensure(struct cloud *cl, struct lbp_call *call)
{
    struct lbp_rest_req post = {
        .method = "POST", .url = lbp_test_mhd_url(g_port, "/lb"), .operation = "InsertLB"};
    struct lbp_rest_req get = {
        .method = "GET", .url = lbp_test_mhd_url(g_port, "/lb"), .operation = "GetLB"};
    struct lbp_rest_resp resp;
    int rc = lbp_lro_poll(cl->ops, "a123", poll_op, cl, call);
    if (rc != LBP_NOT_FOUND && rc != LBP_OK)
        return rc;
    if (rc == LBP_OK) { /* done: converge from what the cloud shows */
        rc = lbp_rest_call(&cl->r, &get, &resp, NULL, call);
        lbp_rest_resp_free(&resp);
        return rc;
    }
    rc = lbp_rest_call(&cl->r, &post, &resp, NULL, call);
    if (rc == LBP_OK)
        rc = lbp_lro_start(cl->ops, "a123", "insert LB", lbp_test_mhd_url(g_port, "/ops/op-1"), 0,
                           call);
    lbp_rest_resp_free(&resp);
    return rc;
}

static void operation_polled_not_reissued(void **st)
{
    struct cloud cl = {.r = {.http = lbp_test_http_client(3)}};
    struct lbp_call call = {0};
    assert_int_equal(lbp_lro_table_new(&cl.ops), LBP_OK);
    assert_int_equal(ensure(&cl, &call), LBP_PENDING);
    assert_int_equal(call.retry_after_s, 1);
    assert_int_equal(lbp_lro_count(cl.ops), 1);
    assert_int_equal(ensure(&cl, &call), LBP_PENDING); /* RUNNING */
    assert_int_equal(call.retry_after_s, 1);
    assert_int_equal(ensure(&cl, &call), LBP_PENDING); /* RUNNING: the interval grows */
    assert_int_equal(call.retry_after_s, 2);
    assert_non_null(strstr(call.err, "insert LB: in progress"));
    assert_int_equal(ensure(&cl, &call), LBP_OK); /* DONE, then the LB is read */
    assert_int_equal(hits(R_LB_POST), 1);         /* issued once, never again */
    assert_int_equal(hits(R_OP), 3);
    assert_int_equal(hits(R_LB_GET), 1);
    assert_int_equal(lbp_lro_count(cl.ops), 0);

    /* A failed operation is reported once and forgotten; the next call starts over. */
    reset(NULL);
    g_op_running_polls = 0;
    g_op_fails = true;
    assert_int_equal(ensure(&cl, &call), LBP_PENDING);
    assert_int_equal(ensure(&cl, &call), LBP_CONFLICT);
    assert_non_null(strstr(call.err, "insert LB failed: RESOURCE_ALREADY_EXISTS"));
    assert_int_equal(lbp_lro_count(cl.ops), 0);
    assert_int_equal(ensure(&cl, &call), LBP_PENDING);
    assert_int_equal(hits(R_LB_POST), 2);
    lbp_lro_table_free(cl.ops); /* frees what is still in flight */
    lbp_http_client_free(cl.r.http);
}

static void json_getters_name_the_field(void **st)
{
    struct json_object *o = NULL;
    const char *s;
    int64_t n;
    char err[128];
    assert_int_equal(lbp_json_parse("{\"a\":{\"b\":[1,{\"c\":\"x\"}],\"n\":\"42\"}}", 34, 1024, &o,
                                    err, sizeof(err)),
                     LBP_OK);
    assert_int_equal(lbp_json_get_str(o, "a.b[1].c", 8, &s, err, sizeof(err)), LBP_OK);
    assert_string_equal(s, "x");
    assert_int_equal(lbp_json_get_str(o, "a.b[0]", 8, &s, err, sizeof(err)), LBP_PARSE);
    assert_string_equal(err, "a.b[0]: not a string");
    assert_int_equal(lbp_json_get_int(o, "a.b[2]", 0, 9, &n, err, sizeof(err)), LBP_NOT_FOUND);
    assert_string_equal(err, "a.b[2]: missing");
    assert_int_equal(lbp_json_get_int(o, "a.n", 0, 99, &n, err, sizeof(err)), LBP_PARSE);
    assert_int_equal(lbp_json_get_num(o, "a.n", 0, 99, &n, err, sizeof(err)), LBP_OK);
    assert_int_equal(n, 42);
    assert_int_equal(lbp_json_get_num(o, "a.n", 0, 9, &n, err, sizeof(err)), LBP_PARSE);
    assert_string_equal(err, "a.n: 42 is outside [0, 9]");
    json_object_put(o);
    assert_int_equal(lbp_json_parse("{} {}", 5, 1024, &o, err, sizeof(err)), LBP_PARSE);
    assert_string_equal(err, "trailing data");
    assert_int_equal(lbp_json_parse("{\"a\":", 5, 1024, &o, err, sizeof(err)), LBP_PARSE);
    assert_string_equal(err, "truncated");
    assert_int_equal(lbp_json_parse("[1]", 3, 2, &o, err, sizeof(err)), LBP_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(pages_with_page_token, reset),
        cmocka_unit_test_setup(pages_with_next_link, reset),
        cmocka_unit_test_setup(error_envelopes, reset),
        cmocka_unit_test_setup(bearer_token_and_401, reset),
        cmocka_unit_test_setup(operation_polled_not_reissued, reset),
        cmocka_unit_test(json_getters_name_the_field),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
