/*
 * test_cloud_http.c — the shared cloud HTTP client (provider/http.c) and
 * its rate limiter against a scripted in-process HTTP server: retries on
 * 5xx, on throttling the classifier finds in a 400 body, Retry-After,
 * exponential backoff, transport failures and timeouts, the body cap,
 * re-preparing (re-signing) each attempt, a prepare that rewrites URL and
 * body, which failures are re-sent for which methods (a POST that may have
 * taken effect is not), metrics, and the redactor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Scripts below list only the fields they need. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"
#include "test/unit/mhd_local.h"
#include "provider/ratelimit.h"

struct step {
    int status;
    const char *body;
    const char *retry_after;
    int delay_ms;
};

static struct step g_script[16];
static size_t g_n_script, g_next;
static char g_seen_hdr[16][128];
static char g_seen_method[16][16];
static char g_seen_sig[16][64]; /* the "signature" query argument */
static char g_seen_body[16][128];

/* One request's upload, collected across the handler's calls. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct MHD_Daemon *g_d;
static int g_port;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct step s = {200, "ok", NULL, 0};
    struct MHD_Response *r;
    const char *h;
    enum MHD_Result ret;
    size_t idx;
    struct lbp_test_body *up = lbp_test_mhd_body(con_cls, upload, upload_size, &ret);
    if (!up)
        return ret;
    pthread_mutex_lock(&g_mu);
    idx = g_next++;
    if (idx < g_n_script)
        s = g_script[idx];
    h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Attempt");
    if (idx < 16) {
        const char *sig = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "signature");
        snprintf(g_seen_hdr[idx], sizeof(g_seen_hdr[idx]), "%s", h ? h : "");
        snprintf(g_seen_method[idx], sizeof(g_seen_method[idx]), "%s", method);
        snprintf(g_seen_sig[idx], sizeof(g_seen_sig[idx]), "%s", sig ? sig : "");
        snprintf(g_seen_body[idx], sizeof(g_seen_body[idx]), "%.*s", (int)up->len, up->data);
    }
    pthread_mutex_unlock(&g_mu);
    lbp_test_mhd_done(con_cls);
    if (s.delay_ms)
        usleep((useconds_t)s.delay_ms * 1000);
    r = MHD_create_response_from_buffer(strlen(s.body), (void *)s.body, MHD_RESPMEM_MUST_COPY);
    if (s.retry_after)
        MHD_add_response_header(r, "Retry-After", s.retry_after);
    MHD_add_response_header(r, "Azure-AsyncOperation", "https://op.example/ops/1?api-version=1");
    ret = MHD_queue_response(c, (unsigned)s.status, r);
    MHD_destroy_response(r);
    return ret;
}

static int server_up(void **st)
{
    return lbp_test_mhd_up(handler, &g_d, &g_port, "127.0.0.1");
}

static int server_down(void **st)
{
    lbp_test_mhd_down(g_d);
    lbp_metrics_reset();
    return 0;
}

static void script(const struct step *s, size_t n)
{
    pthread_mutex_lock(&g_mu);
    if (n)
        memcpy(g_script, s, n * sizeof(*s));
    g_n_script = n;
    g_next = 0;
    memset(g_seen_hdr, 0, sizeof(g_seen_hdr));
    memset(g_seen_method, 0, sizeof(g_seen_method));
    memset(g_seen_sig, 0, sizeof(g_seen_sig));
    memset(g_seen_body, 0, sizeof(g_seen_body));
    pthread_mutex_unlock(&g_mu);
}

static size_t served(void)
{
    size_t n;
    pthread_mutex_lock(&g_mu);
    n = g_next;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static struct lbp_http_client *client(unsigned attempts, uint64_t base_ms, double qps,
                                      unsigned burst)
{
    struct lbp_http_opts o = {.cloud = "test",
                              .max_attempts = attempts,
                              .backoff_base_ms = base_ms,
                              .backoff_max_ms = 2000,
                              .qps = qps,
                              .burst = burst,
                              .timeout_ms = 2000};
    struct lbp_http_client *c = NULL;
    assert_int_equal(lbp_http_client_new(&o, &c), LBP_OK);
    return c;
}

static char g_url[64];
static const char *url(void)
{
    snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d/", g_port);
    return g_url;
}

/* A POST of body for operation op to the scripted server. */
static struct lbp_http_request post_req(const char *op, const char *body)
{
    return (struct lbp_http_request){
        .method = "POST", .url = url(), .operation = op, .body = body, .body_len = strlen(body)};
}

/*
 * Scripts the server with steps and sends r through c once: the result must
 * be rc after attempts tries (0: any number); resp holds the answer.
 */
static void sends(struct lbp_http_client *c, struct lbp_http_request *r, const struct step *steps,
                  size_t n, struct lbp_http_response *resp, int rc, int attempts)
{
    script(steps, n);
    assert_int_equal(lbp_http_do(c, r, resp), rc);
    if (attempts)
        assert_int_equal(resp->attempts, attempts);
}

static enum lbp_http_verdict aws_like(void *ud, long status, const char *body, size_t len,
                                      char *code, size_t codelen)
{
    if (status == 400 && strstr(body, "<Code>Throttling</Code>")) {
        snprintf(code, codelen, "Throttling");
        return LBP_HTTP_THROTTLE;
    }
    if (status >= 500) {
        snprintf(code, codelen, "%ld", status);
        return LBP_HTTP_TRANSIENT;
    }
    if (status != 200)
        snprintf(code, codelen, "%ld", status);
    return LBP_HTTP_DONE;
}

static void retries_5xx_then_success(void **st)
{
    struct step s[] = {{503, "busy"}, {502, "bad"}, {200, "done"}};
    struct lbp_http_client *c = client(5, 1, 0, 0);
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "Op5xx"};
    struct lbp_http_response resp;
    const char *l503[] = {"test", "Op5xx", "503"}, *l200[] = {"test", "Op5xx", "200"};
    sends(c, &r, s, 3, &resp, LBP_OK, 0);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.attempts, 3);
    assert_string_equal(resp.body.data, "done");
    {
        struct lbp_metric *m = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_requests_total", "",
                                              "cloud,operation,code");
        struct lbp_metric *e = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_errors_total", "",
                                              "cloud,operation,code");
        assert_true(lbp_metric_value(m, l503) == 1.0);
        assert_true(lbp_metric_value(m, l200) == 1.0);
        assert_true(lbp_metric_value(e, l503) == 1.0);
    }
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void throttle_in_400_body(void **st)
{
    struct step s[] = {
        {400, "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>"},
        {400, "<ErrorResponse><Error><Code>ValidationError</Code></Error>"}};
    struct lbp_http_client *c = client(5, 1, 0, 0);
    struct lbp_http_request r = post_req("OpT", "a=b");
    r.classify = aws_like;
    struct lbp_http_response resp;
    /* The throttled answer was retried; the validation error was not. */
    sends(c, &r, s, 2, &resp, LBP_OK, 2);
    assert_int_equal(resp.status, 400);
    assert_string_equal(resp.code, "400");
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void gives_up_after_max_attempts(void **st)
{
    struct step s[] = {{500, "x"}, {500, "x"}, {500, "x"}, {500, "x"}, {200, "late"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "OpMax"};
    struct lbp_http_response resp;
    sends(c, &r, s, 5, &resp, LBP_RETRY, 3);
    assert_int_equal(resp.status, 500);
    lbp_http_response_free(&resp);
    /* no_retry: one attempt only */
    script(s, 5);
    r.no_retry = true;
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_RETRY);
    assert_int_equal(resp.attempts, 1);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void honours_retry_after(void **st)
{
    struct step s[] = {{429, "slow down", "1"}, {200, "ok"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "OpRA"};
    struct lbp_http_response resp;
    uint64_t t0 = lbp_now_ms();
    sends(c, &r, s, 2, &resp, LBP_OK, 2);
    assert_true(lbp_now_ms() - t0 >= 1000);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void backoff_grows(void **st)
{
    struct step s[] = {{500, "x"}, {500, "x"}, {500, "x"}, {200, "ok"}};
    struct lbp_http_client *c = client(5, 60, 0, 0);
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "OpBO"};
    struct lbp_http_response resp;
    uint64_t t0 = lbp_now_ms(), ms;
    sends(c, &r, s, 4, &resp, LBP_OK, 0);
    ms = lbp_now_ms() - t0;
    /* 60 + 120 + 240 ms, each jittered by at most half */
    assert_true(ms >= 210);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static int attempt_no;
static int prepare_counter(void *ud, const struct lbp_http_request *req, const char *host,
                           struct lbp_http_prepared *out)
{
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%d", g_port);
    assert_string_equal(host, want);
    return lbp_http_headers_addf(&out->headers, "X-Attempt: %d", ++attempt_no);
}

static void prepares_each_attempt(void **st)
{
    struct step s[] = {{503, "x"}, {200, "ok"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    struct lbp_http_request r = {
        .method = "GET", .url = url(), .operation = "OpPrep", .prepare = prepare_counter};
    struct lbp_http_response resp;
    attempt_no = 0;
    sends(c, &r, s, 2, &resp, LBP_OK, 0);
    assert_string_equal(g_seen_hdr[0], "1");
    assert_string_equal(g_seen_hdr[1], "2");
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void transport_errors_and_timeouts(void **st)
{
    struct step s[] = {{200, "slow", NULL, 600}, {200, "slow", NULL, 600}};
    struct lbp_http_client *c = client(2, 1, 0, 0);
    struct lbp_http_request r = {
        .method = "GET", .url = "http://127.0.0.1:1/", .operation = "OpConn"};
    struct lbp_http_response resp;
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_RETRY);
    assert_int_equal(resp.attempts, 2);
    assert_string_equal(resp.code, "connect");
    lbp_http_response_free(&resp);
    script(s, 2);
    r.url = url();
    r.timeout_ms = 150;
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_RETRY);
    assert_string_equal(resp.code, "timeout");
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

/* A POST that timed out or got a 5xx may have taken effect: sent once only. */
static void post_not_blindly_resent(void **st)
{
    struct step slow[] = {{200, "late", NULL, 600}, {200, "ok"}};
    struct step busy[] = {{503, "busy"}, {200, "ok"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    struct lbp_http_request r = post_req("associateIpAddress", "a=b");
    r.timeout_ms = 150;
    struct lbp_http_response resp;

    sends(c, &r, slow, 2, &resp, LBP_RETRY, 1);
    assert_true(resp.not_resent);
    assert_string_equal(resp.code, "timeout");
    lbp_http_response_free(&resp);
    usleep(700 * 1000); /* let the slow answer finish, then count */
    assert_int_equal(served(), 1);

    sends(c, &r, busy, 2, &resp, LBP_RETRY, 1);
    assert_int_equal(resp.status, 503);
    assert_true(resp.not_resent);
    lbp_http_response_free(&resp);
    assert_int_equal(served(), 1);

    /* The same failures on PUT and DELETE are retried. */
    r.method = "PUT";
    sends(c, &r, slow, 2, &resp, LBP_OK, 2);
    assert_false(resp.not_resent);
    lbp_http_response_free(&resp);
    r.method = "DELETE";
    sends(c, &r, busy, 2, &resp, LBP_OK, 2);
    lbp_http_response_free(&resp);
    usleep(700 * 1000);
    lbp_http_client_free(c);
}

/* A POST is retried when it never arrived, or was throttled unprocessed. */
static void post_retried_when_unprocessed(void **st)
{
    struct step throttled[] = {{429, "slow down"}, {200, "ok"}};
    struct lbp_http_client *c = client(2, 1, 0, 0);
    struct lbp_http_request r = post_req("OpPost", "x");
    r.url = "http://127.0.0.1:1/";
    struct lbp_http_response resp;
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_RETRY);
    assert_int_equal(resp.attempts, 2); /* connection refused: nothing was sent */
    assert_false(resp.not_resent);
    lbp_http_response_free(&resp);
    r.url = url();
    sends(c, &r, throttled, 2, &resp, LBP_OK, 2);
    assert_int_equal(served(), 2);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static int no_effect_calls;
static bool no_effect_answer;
static bool no_effect(void *ud, const struct lbp_http_request *req,
                      const struct lbp_http_response *failed)
{
    assert_int_equal(failed->status, 503);
    no_effect_calls++;
    return no_effect_answer;
}

/* A deduplicated POST (client token) is re-sent; so is one the caller checked. */
static void post_resent_when_safe(void **st)
{
    struct step busy[] = {{503, "busy"}, {200, "ok"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    struct lbp_http_request r = post_req("OpTok", "clientToken=abc");
    r.idempotent = true;
    struct lbp_http_response resp;
    sends(c, &r, busy, 2, &resp, LBP_OK, 2);
    assert_string_equal(g_seen_body[1], "clientToken=abc");
    lbp_http_response_free(&resp);

    r.idempotent = false;
    r.no_effect = no_effect;
    no_effect_calls = 0;
    no_effect_answer = true;
    sends(c, &r, busy, 2, &resp, LBP_OK, 2);
    assert_int_equal(no_effect_calls, 1);
    lbp_http_response_free(&resp);

    no_effect_calls = 0;
    no_effect_answer = false;
    sends(c, &r, busy, 2, &resp, LBP_RETRY, 1);
    assert_int_equal(no_effect_calls, 1);
    assert_true(resp.not_resent);
    assert_int_equal(served(), 1);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

/* CloudStack-style signing: the signature goes into the query string, and the body is replaced. */
static int prepare_rewrite(void *ud, const struct lbp_http_request *req, const char *host,
                           struct lbp_http_prepared *out)
{
    int *n = ud;
    if (asprintf(&out->url, "%s?command=listX&signature=sig%d", req->url, ++*n) < 0)
        return LBP_NOMEM;
    out->body = strdup("signed=1");
    if (!out->body)
        return LBP_NOMEM;
    out->body_len = 8;
    return LBP_OK;
}

static void prepare_rewrites_url_and_body(void **st)
{
    struct step s[] = {{500, "x"}, {200, "ok"}};
    struct lbp_http_client *c = client(3, 1, 0, 0);
    int n = 0;
    struct lbp_http_request r = {.method = "PUT",
                                 .url = url(),
                                 .operation = "OpSign",
                                 .body = "unsigned",
                                 .body_len = 8,
                                 .prepare = prepare_rewrite,
                                 .ud = &n};
    struct lbp_http_response resp;
    sends(c, &r, s, 2, &resp, LBP_OK, 2);
    /* signed afresh for each attempt */
    assert_string_equal(g_seen_sig[0], "sig1");
    assert_string_equal(g_seen_sig[1], "sig2");
    assert_string_equal(g_seen_body[1], "signed=1");
    assert_string_equal(g_seen_method[1], "PUT");
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void captures_response_headers(void **st)
{
    struct step s[] = {{202, "accepted"}};
    static const char *const want[] = {"azure-asyncoperation", "Location"};
    struct lbp_http_client *c = client(1, 1, 0, 0);
    struct lbp_http_request r = {
        .method = "PUT", .url = url(), .operation = "OpCap", .capture = want, .n_capture = 2};
    struct lbp_http_response resp;
    sends(c, &r, s, 1, &resp, LBP_OK, 0);
    assert_int_equal(resp.status, 202);
    assert_non_null(resp.captured[0]);
    assert_string_equal(resp.captured[0], "https://op.example/ops/1?api-version=1");
    assert_null(resp.captured[1]);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void body_is_capped(void **st)
{
    struct step s[] = {{200, "0123456789012345678901234567890123456789"}};
    struct lbp_http_opts o = {.cloud = "test", .max_body = 16};
    struct lbp_http_client *c = NULL;
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "OpBig"};
    struct lbp_http_response resp;
    assert_int_equal(lbp_http_client_new(&o, &c), LBP_OK);
    sends(c, &r, s, 1, &resp, LBP_TOOBIG, 0);
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

/*
 * The in-process transport (the fuzz targets' way in) takes the path a
 * network answer takes: retried on 429 with Retry-After, headers captured,
 * the body capped, and "no connection" retried as a transport failure.
 */
struct canned {
    unsigned calls;
};

static int canned_answer(void *ud, const struct lbp_http_request *req, const char *u,
                         struct lbp_http_answer *out)
{
    static const char h1[] = "Retry-After: 0\r\n", h2[] = "Location: https://op.example/1\r\n";
    struct canned *k = ud;
    assert_string_equal(u, "https://nowhere.example/x");
    assert_string_equal(req->operation, "OpCanned");
    switch (k->calls++) {
    case 0:
        return -1; /* no connection */
    case 1:
        out->status = 429;
        out->headers = h1;
        out->headers_len = sizeof(h1) - 1;
        return 0;
    case 2:
        out->status = 201;
        out->headers = h2;
        out->headers_len = sizeof(h2) - 1;
        out->body = "{\"ok\":true}";
        out->body_len = 11;
        return 0;
    default:
        out->status = 200;
        out->body = "0123456789012345678901234567890123456789";
        out->body_len = 40;
        return 0;
    }
}

static void in_process_transport(void **st)
{
    static const char *const capture[] = {"Location"};
    struct lbp_http_opts o = {.cloud = "test",
                              .max_attempts = 3,
                              .backoff_base_ms = 1,
                              .backoff_max_ms = 1,
                              .max_body = 16};
    struct lbp_http_client *c = NULL;
    struct lbp_http_request r = {.method = "GET",
                                 .url = "https://nowhere.example/x",
                                 .operation = "OpCanned",
                                 .capture = capture,
                                 .n_capture = 1};
    struct lbp_http_response resp;
    struct canned k = {0};
    assert_int_equal(lbp_http_client_new(&o, &c), LBP_OK);
    lbp_http_set_transport(c, canned_answer, &k);
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_OK);
    assert_int_equal(resp.status, 201);
    assert_int_equal(resp.attempts, 3);
    assert_int_equal(k.calls, 3);
    assert_string_equal(resp.body.data, "{\"ok\":true}");
    assert_non_null(resp.captured[0]);
    assert_string_equal(resp.captured[0], "https://op.example/1");
    lbp_http_response_free(&resp);
    assert_int_equal(lbp_http_do(c, &r, &resp), LBP_TOOBIG); /* 40 bytes over a 16-byte cap */
    lbp_http_response_free(&resp);
    lbp_http_client_free(c);
}

static void rate_limit_spaces_calls(void **st)
{
    struct lbp_http_client *c = client(1, 1, 20, 1);
    struct lbp_http_request r = {.method = "GET", .url = url(), .operation = "OpRL"};
    uint64_t t0 = lbp_now_ms();
    script(NULL, 0);
    for (int i = 0; i < 11; i++) {
        struct lbp_http_response resp;
        assert_int_equal(lbp_http_do(c, &r, &resp), LBP_OK);
        lbp_http_response_free(&resp);
    }
    /* burst 1 at 20/s: the 10 calls after the first wait 50 ms each */
    assert_true(lbp_now_ms() - t0 >= 480);
    assert_int_equal(lbp_ratelimit_taken(lbp_http_client_ratelimit(c)), 11);
    lbp_http_client_free(c);
}

/* Proxy variables are libcurl's: honoured, and no_proxy bypasses them. */
static void proxy_environment(void **st)
{
    struct step s[] = {{200, "via-proxy"}};
    struct lbp_http_client *c = client(1, 1, 0, 0);
    struct lbp_http_request r = {
        .method = "GET", .url = "http://127.0.0.2:9/through", .operation = "OpProxy"};
    struct lbp_http_response resp;
    char proxy[64];
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", g_port);
    unsetenv("NO_PROXY");
    setenv("http_proxy", proxy, 1);
    setenv("no_proxy", "127.0.0.1", 1);
    sends(c, &r, s, 1, &resp, LBP_OK, 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body.data, "via-proxy");
    lbp_http_response_free(&resp);
    /* A request that must not use a proxy (metadata) goes direct even so. */
    r.no_proxy = true;
    sends(c, &r, s, 1, &resp, LBP_RETRY, 0);
    assert_string_equal(resp.code, "connect");
    lbp_http_response_free(&resp);
    r.no_proxy = false;
    /* Listed in no_proxy: straight to 127.0.0.2:9, where nothing listens. */
    setenv("no_proxy", "127.0.0.1,127.0.0.2", 1);
    sends(c, &r, s, 1, &resp, LBP_RETRY, 0);
    assert_string_equal(resp.code, "connect");
    lbp_http_response_free(&resp);
    unsetenv("http_proxy");
    unsetenv("no_proxy");
    setenv("NO_PROXY", "127.0.0.1", 1);
    lbp_http_client_free(c);
}

static void ratelimit_bucket(void **st)
{
    struct lbp_ratelimit *rl;
    assert_int_equal(lbp_ratelimit_new(10, 3, &rl), LBP_OK);
    /* the burst is free */
    assert_int_equal(lbp_ratelimit_wait(rl), 0);
    assert_int_equal(lbp_ratelimit_wait(rl), 0);
    assert_int_equal(lbp_ratelimit_wait(rl), 0);
    assert_true(lbp_ratelimit_peek(rl) > 0);
    assert_true(lbp_ratelimit_wait(rl) >= 50);
    lbp_ratelimit_free(rl);
    assert_int_equal(lbp_ratelimit_new(0, 0, &rl), LBP_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(lbp_ratelimit_wait(rl), 0);
    lbp_ratelimit_free(rl);
}

static void retry_after_parsing(void **st)
{
    assert_int_equal(lbp_http_parse_retry_after("7", 0), 7);
    assert_int_equal(lbp_http_parse_retry_after("", 0), 0);
    assert_int_equal(lbp_http_parse_retry_after("-3", 0), 0);
    assert_int_equal(lbp_http_parse_retry_after("soon", 0), 0);
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
    assert_int_equal(lbp_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30),
                     30);
}

struct redact_case {
    const char *in;
    const char *secret; /* must not survive */
    const char *keep;   /* must survive */
};

static void redactor(void **st)
{
    static const struct redact_case cases[] = {
        {"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/"
         "aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf19",
         "5fa00fa31553b73ebf19", "Authorization: "},
        {"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us", "AKIDEXAMPLE", NULL},
        {"X-Amz-Security-Token: FQoGZXIvYXdzEJr//////////wEaDM", "FQoGZXIvYXdzEJr", "X-Amz-"},
        {"Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws&WebIdentityToken=eyJhbGciOi.eyJzdWIi."
         "sig&Version=2011-06-15",
         "eyJhbGciOi", "RoleArn=arn%3Aaws"},
        {"<Credentials><AccessKeyId>ASIAFAKE</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG"
         "</SecretAccessKey><SessionToken>IQoJb3JpZ2luX2Vj</SessionToken></Credentials>",
         "wJalrXUtnFEMI", "<Credentials>"},
        {"<SessionToken>IQoJb3JpZ2luX2Vj</SessionToken>", "IQoJb3JpZ2luX2Vj", NULL},
        {"<AccessKeyId>ASIAFAKEKEY</AccessKeyId>", "ASIAFAKEKEY", NULL},
        {"{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s3cr3t\","
         "\"Token\":\"tok123\",\"Expiration\":\"2026-01-01T00:00:00Z\"}",
         "s3cr3t", "\"Expiration\":\"2026-01-01T00:00:00Z\""},
        {"{\"Token\" : \"tok123\"}", "tok123", NULL},
        {"password=hunter2&user=bob", "hunter2", "user=bob"},
        {"https://h/?X-Amz-Signature=abcdef0123&X-Amz-Date=1", "abcdef0123", "X-Amz-Date=1"},
        {"X-aws-ec2-metadata-token: AQAEAKw8", "AQAEAKw8", NULL},
        {"{\"access_token\":\"ya29.a0Af\",\"expires_in\":3599}", "ya29.a0Af", "expires_in"},
        {"client_secret=abc%2Fdef", "abc%2Fdef", NULL},
    };
    char out[1024];
    for (size_t i = 0; i < LBP_ARRAY_LEN(cases); i++) {
        lbp_http_redact(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        if (strstr(out, cases[i].secret))
            fail_msg("case %zu leaks: %s", i, out);
        assert_non_null(strstr(out, "REDACTED"));
        if (cases[i].keep && !strstr(out, cases[i].keep))
            fail_msg("case %zu lost %s: %s", i, cases[i].keep, out);
    }
    /* Words that merely look like names stay. */
    lbp_http_redact("NextMarker=abc&Tokens=3&MyToken", 31, out, sizeof(out));
    assert_string_equal(out, "NextMarker=abc&Tokens=3&MyToken");
    /* Bounded: a long input is cut, never overflowing. */
    {
        char big[5000];
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        lbp_http_redact(big, strlen(big), out, 64);
        assert_true(strlen(out) < 64);
        assert_non_null(strstr(out, "..."));
    }
}

static void urlencode(void **st)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 1024);
    assert_int_equal(lbp_http_urlencode(&b, "a b/c+d=e&f~g_h.i-j"), LBP_OK);
    assert_string_equal(b.data, "a%20b%2Fc%2Bd%3De%26f~g_h.i-j");
    lbp_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(retries_5xx_then_success),
        cmocka_unit_test(throttle_in_400_body),
        cmocka_unit_test(gives_up_after_max_attempts),
        cmocka_unit_test(honours_retry_after),
        cmocka_unit_test(backoff_grows),
        cmocka_unit_test(prepares_each_attempt),
        cmocka_unit_test(transport_errors_and_timeouts),
        cmocka_unit_test(post_not_blindly_resent),
        cmocka_unit_test(post_retried_when_unprocessed),
        cmocka_unit_test(post_resent_when_safe),
        cmocka_unit_test(prepare_rewrites_url_and_body),
        cmocka_unit_test(captures_response_headers),
        cmocka_unit_test(body_is_capped),
        cmocka_unit_test(in_process_transport),
        cmocka_unit_test(rate_limit_spaces_calls),
        cmocka_unit_test(proxy_environment),
        cmocka_unit_test(ratelimit_bucket),
        cmocka_unit_test(retry_after_parsing),
        cmocka_unit_test(redactor),
        cmocka_unit_test(urlencode),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
