/*
 * http.c — the shared cloud HTTP client (see http.h).
 *
 * Each thread owns one CURL easy handle (thread-local), so connections to a
 * cloud endpoint are reused across calls without any locking; the handles
 * also sit on a global list so the process can free them at exit and leak
 * checkers see them as owned. The retry loop lives here so every cloud gets
 * the same behaviour: take a rate-limit token, prepare (sign), perform,
 * classify, and on throttling/5xx/transport failure sleep
 * jitter(base * 2^attempt) or Retry-After, whichever is longer — but only
 * when re-sending is safe (see http.h): whether a failed request reached
 * the server at all is read from CURLINFO_REQUEST_SIZE (0: nothing sent).
 *
 * The handle is reused across calls, so every option a previous request
 * may have set (custom method, POST fields) is reset for each attempt.
 */
#include "provider/http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"
#include "provider/ratelimit.h"

#define LOG_SNIP 4096

struct lbp_http_client {
    struct lbp_http_opts o;
    char cloud[32];
    char *ca_file;
    struct lbp_ratelimit *rl;
    atomic_bool cancelled;
    struct lbp_metric *m_requests;
    struct lbp_metric *m_errors;
    struct lbp_metric *m_duration;
    lbp_http_transport_fn transport; /* in-process answers (fuzzing); NULL: the network */
    void *transport_ud;
};

/* ---- per-thread handles ---- */

struct tl_handle {
    CURL *curl;
    struct tl_handle *next, *prev;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_key;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tl_handle *g_handles;

static void handle_unlink_free(struct tl_handle *h)
{
    pthread_mutex_lock(&g_mu);
    if (h->prev)
        h->prev->next = h->next;
    else
        g_handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&g_mu);
    curl_easy_cleanup(h->curl);
    free(h);
}

static void tl_destroy(void *p)
{
    if (p)
        handle_unlink_free(p);
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_key_create(&g_key, tl_destroy);
}

static CURL *thread_handle(void)
{
    struct tl_handle *h;
    pthread_once(&g_once, global_init);
    h = pthread_getspecific(g_key);
    if (h) {
        curl_easy_reset(h->curl);
        return h->curl;
    }
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        return NULL;
    }
    pthread_mutex_lock(&g_mu);
    h->next = g_handles;
    if (g_handles)
        g_handles->prev = h;
    g_handles = h;
    pthread_mutex_unlock(&g_mu);
    pthread_setspecific(g_key, h);
    return h->curl;
}

void lbp_http_thread_cleanup(void)
{
    struct tl_handle *h;
    pthread_once(&g_once, global_init);
    h = pthread_getspecific(g_key);
    if (h) {
        pthread_setspecific(g_key, NULL);
        handle_unlink_free(h);
    }
}

/* ---- headers ---- */

int lbp_http_headers_addf(struct lbp_http_headers *h, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;
    if (h->n >= LBP_HTTP_MAX_HEADERS)
        return LBP_TOOBIG;
    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return LBP_NOMEM;
    h->line[h->n++] = s;
    return LBP_OK;
}

void lbp_http_headers_clear(struct lbp_http_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        /* Signed headers carry secrets: wipe before free. */
        size_t l = strlen(h->line[i]);
        memset(h->line[i], 0, l);
        free(h->line[i]);
    }
    h->n = 0;
}

/* ---- client ---- */

int lbp_http_client_new(const struct lbp_http_opts *opts, struct lbp_http_client **out)
{
    struct lbp_http_client *c = calloc(1, sizeof(*c));
    int rc;
    if (!c)
        return LBP_NOMEM;
    c->o = *opts;
    lbp_strlcpy(c->cloud, opts->cloud ? opts->cloud : "cloud", sizeof(c->cloud));
    c->o.cloud = c->cloud;
    if (opts->ca_file && !(c->ca_file = strdup(opts->ca_file))) {
        free(c);
        return LBP_NOMEM;
    }
    c->o.ca_file = c->ca_file;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = 5000;
    if (!c->o.timeout_ms)
        c->o.timeout_ms = 30000;
    if (!c->o.max_attempts)
        c->o.max_attempts = 5;
    if (!c->o.backoff_base_ms)
        c->o.backoff_base_ms = 200;
    if (!c->o.backoff_max_ms)
        c->o.backoff_max_ms = 20000;
    if (!c->o.retry_after_max_ms)
        c->o.retry_after_max_ms = 60000;
    if (!c->o.max_body)
        c->o.max_body = 16u << 20;
    rc = lbp_ratelimit_new(opts->qps, opts->burst, &c->rl);
    if (rc) {
        free(c->ca_file);
        free(c);
        return rc;
    }
    c->m_requests = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_requests_total",
                                   "Cloud API requests by cloud, operation and HTTP status.",
                                   "cloud,operation,code");
    c->m_errors =
        lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_errors_total",
                       "Cloud API requests that failed, by error code.", "cloud,operation,code");
    c->m_duration = lbp_histogram_new("lbprov_cloud_api_request_duration_seconds",
                                      "Cloud API request latency per attempt.", "cloud,operation",
                                      lbp_latency_buckets, lbp_latency_buckets_n);
    pthread_once(&g_once, global_init);
    *out = c;
    return LBP_OK;
}

void lbp_http_client_free(struct lbp_http_client *c)
{
    if (!c)
        return;
    lbp_ratelimit_free(c->rl);
    free(c->ca_file);
    free(c);
}

void lbp_http_client_cancel(struct lbp_http_client *c)
{
    if (c)
        atomic_store(&c->cancelled, true);
}

struct lbp_ratelimit *lbp_http_client_ratelimit(struct lbp_http_client *c)
{
    return c ? c->rl : NULL;
}

char *lbp_http_debug_text(struct json_object *o, struct lbp_http_client *c)
{
    char *out;
    lbp_json_add_u64(o, "apiCalls", lbp_ratelimit_taken(lbp_http_client_ratelimit(c)));
    out = lbp_strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}

static void captured_clear(struct lbp_http_response *resp)
{
    for (size_t k = 0; k < LBP_HTTP_MAX_CAPTURE; k++) {
        free(resp->captured[k]);
        resp->captured[k] = NULL;
    }
}

static void prepared_clear(struct lbp_http_prepared *p)
{
    lbp_http_headers_clear(&p->headers);
    free(p->url);
    free(p->body);
    memset(p, 0, sizeof(*p));
}

bool lbp_http_method_idempotent(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "PUT") == 0 ||
           strcmp(m, "DELETE") == 0 || strcmp(m, "OPTIONS") == 0;
}

/*
 * After a failed attempt with tries left: may it be sent again? sent says
 * whether any byte of the request left this process.
 */
static bool may_resend(const struct lbp_http_request *req, enum lbp_http_verdict v, bool sent,
                       const struct lbp_http_response *resp)
{
    if (v == LBP_HTTP_THROTTLE || !sent || req->idempotent ||
        lbp_http_method_idempotent(req->method))
        return true;
    return req->no_effect && req->no_effect(req->ud, req, resp);
}

void lbp_http_response_free(struct lbp_http_response *resp)
{
    if (resp) {
        lbp_buf_free(&resp->body);
        captured_clear(resp);
    }
}

/* ---- one attempt ---- */

struct xfer {
    struct lbp_http_client *c;
    struct lbp_buf *body;
    bool toobig;
    char retry_after[64];
    const struct lbp_http_request *req;
    struct lbp_http_response *resp;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    if (lbp_buf_add(x->body, p, sz * n) != LBP_OK) {
        x->toobig = true;
        return 0;
    }
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1, j = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        while (i < len && p[i] != '\r' && p[i] != '\n' && j + 1 < sizeof(x->retry_after))
            x->retry_after[j++] = p[i++];
        x->retry_after[j] = 0;
    }
    for (size_t k = 0; k < x->req->n_capture && k < LBP_HTTP_MAX_CAPTURE; k++) {
        size_t nl = strlen(x->req->capture[k]), i, e;
        if (len <= nl || p[nl] != ':' || strncasecmp(p, x->req->capture[k], nl) != 0)
            continue;
        for (i = nl + 1; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
            ;
        for (e = len; e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' '); e--)
            ;
        if (e - i >= LBP_HTTP_CAPTURE_LEN)
            continue; /* refuse, never cut: a cut URL is worse than none */
        free(x->resp->captured[k]);
        x->resp->captured[k] = strndup(p + i, e - i);
    }
    return len;
}

/* One attempt answered by the in-process transport, through the same callbacks. */
static CURLcode in_process(struct lbp_http_client *c, const struct lbp_http_request *req,
                           const char *url, struct xfer *x, long *status, long *sent)
{
    struct lbp_http_answer a = {0};
    *sent = 0;
    if (c->transport(c->transport_ud, req, url, &a))
        return CURLE_COULDNT_CONNECT;
    *sent = 1;
    for (const char *p = a.headers, *end = p ? p + a.headers_len : NULL; p && p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        on_header((char *)p, 1, n, x);
        p += n;
    }
    if (a.body_len && on_body((char *)a.body, 1, a.body_len, x) != a.body_len)
        return CURLE_WRITE_ERROR;
    *status = a.status;
    return CURLE_OK;
}

void lbp_http_set_transport(struct lbp_http_client *c, lbp_http_transport_fn fn, void *ud)
{
    c->transport = fn;
    c->transport_ud = ud;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    struct xfer *x = ud;
    return atomic_load(&x->c->cancelled) ? 1 : 0;
}

static void host_header(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    out[0] = 0;
    if (!u)
        return;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
            snprintf(out, cap, "%s:%s", host, port);
        else
            snprintf(out, cap, "%s", host);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static void log_redacted(int level, const char *what, const char *text, size_t len)
{
    char *snip;
    if (lbp_log_verbosity < level || !text || !len)
        return;
    snip = malloc(LOG_SNIP);
    if (!snip)
        return;
    lbp_http_redact(text, len, snip, LOG_SNIP);
    lbp_v(level, "http %s: %s", what, snip);
    free(snip);
}

static enum lbp_http_verdict default_classify(long status, char *code, size_t codelen)
{
    if (status == 429) {
        snprintf(code, codelen, "429");
        return LBP_HTTP_THROTTLE;
    }
    if (status >= 500) {
        snprintf(code, codelen, "%ld", status);
        return LBP_HTTP_TRANSIENT;
    }
    return LBP_HTTP_DONE;
}

static void sleep_ms(struct lbp_http_client *c, uint64_t ms)
{
    uint64_t end = lbp_now_ms() + ms;
    while (!atomic_load(&c->cancelled)) {
        uint64_t now = lbp_now_ms(), slice;
        struct timespec ts;
        if (now >= end)
            break;
        slice = end - now > 50 ? 50 : end - now;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)slice * 1000000L;
        nanosleep(&ts, NULL);
    }
}

int lbp_http_do(struct lbp_http_client *c, const struct lbp_http_request *req,
                struct lbp_http_response *resp)
{
    char host[300];
    const char *op = req->operation ? req->operation : "request";
    int rc = LBP_RETRY;
    unsigned attempts = req->no_retry ? 1 : c->o.max_attempts;

    memset(resp, 0, sizeof(*resp));
    lbp_buf_init(&resp->body, c->o.max_body);
    host_header(req->url, host, sizeof(host));

    for (unsigned attempt = 0; attempt < attempts; attempt++) {
        struct lbp_http_prepared prep = {0};
        struct curl_slist *hl = NULL;
        struct xfer x = {.c = c, .body = &resp->body, .req = req, .resp = resp};
        enum lbp_http_verdict v = LBP_HTTP_DONE;
        const char *labels[3];
        char status_s[24];
        CURL *h;
        CURLcode cc;
        uint64_t t0, delay;
        long status = 0, sent_bytes = 0;
        bool ok_list = true;
        const char *url;
        const void *body;
        size_t body_len;

        if (atomic_load(&c->cancelled))
            return LBP_CANCELLED;
        lbp_ratelimit_wait(c->rl);
        lbp_buf_reset(&resp->body);
        captured_clear(resp); /* only the final answer's headers count */
        resp->code[0] = 0;
        resp->attempts = attempt + 1;

        if (req->prepare) {
            int prc = req->prepare(req->ud, req, host, &prep);
            if (prc) {
                prepared_clear(&prep);
                return prc;
            }
        }
        url = prep.url ? prep.url : req->url;
        body = prep.body ? prep.body : req->body;
        body_len = prep.body ? prep.body_len : req->body_len;
        for (size_t i = 0; i < req->n_headers && ok_list; i++) {
            struct curl_slist *n = curl_slist_append(hl, req->headers[i]);
            ok_list = n != NULL;
            hl = n ? n : hl;
        }
        for (size_t i = 0; i < prep.headers.n && ok_list; i++) {
            struct curl_slist *n = curl_slist_append(hl, prep.headers.line[i]);
            ok_list = n != NULL;
            hl = n ? n : hl;
        }
        /* libcurl adds "Expect: 100-continue" to large POSTs; it is not signed. */
        if (ok_list) {
            struct curl_slist *n = curl_slist_append(hl, "Expect:");
            ok_list = n != NULL;
            hl = n ? n : hl;
        }
        h = thread_handle();
        if (!ok_list || !h) {
            curl_slist_free_all(hl);
            prepared_clear(&prep);
            return LBP_NOMEM;
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                         req->timeout_ms ? req->timeout_ms : c->o.timeout_ms);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_USERAGENT, "lbprov/" LBP_VERSION);
        if (c->o.insecure_skip_verify) {
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (c->o.ca_file)
            curl_easy_setopt(h, CURLOPT_CAINFO, c->o.ca_file);
        if (req->no_proxy)
            curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
        /* Back to a plain GET first: the handle may carry the last call's
           custom method and POST fields. */
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
        if (strcmp(req->method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
            if (body || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
            }
        }

        /*
         * libcurl silently sends a request again when a reused connection
         * closes before any answer (it takes the connection for one the
         * server had dropped while idle). For a change that may not be
         * repeated that second copy is exactly the leak this client
         * prevents, so such a request goes on a fresh connection.
         */
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT,
                         lbp_http_method_idempotent(req->method) || req->idempotent ? 0L : 1L);

        lbp_v(4, "http %s %s %s attempt=%u", c->cloud, req->method, op, attempt + 1);
        if (lbp_log_verbosity >= 6) {
            for (size_t i = 0; i < req->n_headers; i++)
                log_redacted(6, "header", req->headers[i], strlen(req->headers[i]));
            for (size_t i = 0; i < prep.headers.n; i++)
                log_redacted(6, "header", prep.headers.line[i], strlen(prep.headers.line[i]));
            log_redacted(6, "request body", body, body_len);
        }

        t0 = lbp_now_ms();
        if (c->transport) {
            cc = in_process(c, req, url, &x, &status, &sent_bytes);
        } else {
            cc = curl_easy_perform(h);
            if (cc == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent_bytes);
        }
        curl_slist_free_all(hl);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        prepared_clear(&prep);
        labels[0] = c->cloud;
        labels[1] = op;
        lbp_metric_observe(c->m_duration, labels, (double)(lbp_now_ms() - t0) / 1000.0);

        if (x.toobig) {
            lbp_warn("http %s %s: response larger than %zu bytes", c->cloud, op, c->o.max_body);
            return LBP_TOOBIG;
        }
        if (cc == CURLE_ABORTED_BY_CALLBACK || atomic_load(&c->cancelled))
            return LBP_CANCELLED;

        resp->status = status;
        resp->retry_after_s = lbp_http_parse_retry_after(x.retry_after, lbp_wall_s());
        if (cc != CURLE_OK) {
            snprintf(resp->code, sizeof(resp->code), "%s",
                     cc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connect");
            v = LBP_HTTP_TRANSIENT;
            lbp_v(4, "http %s %s: %s", c->cloud, op, curl_easy_strerror(cc));
        } else if (req->classify) {
            v = req->classify(req->ud, status, resp->body.data ? resp->body.data : "",
                              resp->body.len, resp->code, sizeof(resp->code));
        } else {
            v = default_classify(status, resp->code, sizeof(resp->code));
        }
        snprintf(status_s, sizeof(status_s), "%ld", status);
        labels[2] = cc == CURLE_OK ? status_s : resp->code;
        lbp_metric_add(c->m_requests, labels, 1);
        if (resp->code[0]) {
            labels[2] = resp->code;
            lbp_metric_add(c->m_errors, labels, 1);
        }
        lbp_v(4, "http %s %s -> %ld %s (%llu ms)", c->cloud, op, status, resp->code,
              (unsigned long long)(lbp_now_ms() - t0));
        log_redacted(8, "response body", resp->body.data, resp->body.len);

        if (v == LBP_HTTP_DONE) {
            rc = LBP_OK;
            break;
        }
        rc = LBP_RETRY;
        if (attempt + 1 >= attempts)
            break;
        if (!may_resend(req, v, sent_bytes > 0, resp)) {
            resp->not_resent = true;
            lbp_v(2, "http %s %s %s: %s, not re-sent: the first attempt may have taken effect",
                  c->cloud, req->method, op, resp->code[0] ? resp->code : "failed");
            break;
        }
        delay =
            lbp_jitter_ms(lbp_backoff_ms(c->o.backoff_base_ms, c->o.backoff_max_ms, attempt), 0.5);
        if (resp->retry_after_s) {
            uint64_t ra = (uint64_t)resp->retry_after_s * 1000;
            if (ra > c->o.retry_after_max_ms)
                ra = c->o.retry_after_max_ms;
            if (ra > delay)
                delay = ra;
        }
        lbp_v(4, "http %s %s: %s, retrying in %llu ms", c->cloud, op,
              v == LBP_HTTP_THROTTLE ? "throttled" : "transient failure",
              (unsigned long long)delay);
        /* In-process answers (fuzzing) are computed, not waited for: the
           delay is worked out as above, only the sleep is skipped. */
        if (!c->transport)
            sleep_ms(c, delay);
    }
    return rc;
}

/* ---- helpers ---- */

unsigned lbp_http_parse_retry_after(const char *v, int64_t now_s)
{
    long n;
    struct tm tm;
    if (!v || !*v)
        return 0;
    if (lbp_parse_long(v, 0, 86400, &n) == LBP_OK)
        return (unsigned)n;
    memset(&tm, 0, sizeof(tm));
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
        int64_t t = (int64_t)timegm(&tm);
        if (t > now_s && t - now_s <= 86400)
            return (unsigned)(t - now_s);
    }
    return 0;
}

int lbp_http_urlencode(struct lbp_buf *out, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            rc = lbp_buf_add(out, p, 1);
        } else {
            char e[3] = {'%', hexd[*p >> 4], hexd[*p & 15]};
            rc = lbp_buf_add(out, e, 3);
        }
        if (rc)
            return rc;
    }
    return LBP_OK;
}

/*
 * Names whose values are secrets, matched case-insensitively as whole words
 * (the character before must not be a letter, digit or '-'/'_', so
 * "Token" does not fire inside "X-Amz-Security-Token" twice and "Marker"
 * never matches at all). Header-style names hide the rest of the line.
 */
static const char *const secret_names[] = {
    "authorization",
    "x-amz-security-token",
    "x-aws-ec2-metadata-token",
    "x-amz-signature",
    "x-amz-credential",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "webidentitytoken",
    "secretaccesskey",
    "sessiontoken",
    "accesskeyid",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "password",
    "passwd",
    "secret",
    "secretkey",
    "apikey",
    "api_key",
    "signature",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "credential",
    "credentials",
    "assertion",
    "private_key",
    "x-ms-authorization-auxiliary",
};

static size_t match_name(const char *p, const char *end)
{
    for (size_t i = 0; i < LBP_ARRAY_LEN(secret_names); i++) {
        size_t l = strlen(secret_names[i]);
        if ((size_t)(end - p) > l && strncasecmp(p, secret_names[i], l) == 0) {
            char nx = p[l];
            if (isalnum((unsigned char)nx) || nx == '_' || nx == '-')
                continue;
            return l;
        }
    }
    return 0;
}

struct rout {
    char *o;
    size_t n, cap;
    bool cut;
};

static void rput(struct rout *r, const char *s, size_t l)
{
    for (size_t i = 0; i < l; i++) {
        if (r->n + 4 >= r->cap) {
            r->cut = true;
            return;
        }
        r->o[r->n++] = s[i];
    }
}

void lbp_http_redact(const char *in, size_t len, char *out, size_t cap)
{
    struct rout r = {out, 0, cap, false};
    const char *p = in, *end = in + len;
    if (!cap)
        return;
    while (p < end && !r.cut) {
        size_t l = 0;
        bool boundary = p == in || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-');
        if (boundary)
            l = match_name(p, end);
        if (l) {
            const char *q = p + l, *v;
            char stop;
            rput(&r, p, l);
            /* "name": , name= , name: , name> */
            bool quoted = q < end && *q == '"';
            if (quoted) {
                rput(&r, q, 1);
                q++;
                while (q < end && (*q == ' ' || *q == '\t')) {
                    rput(&r, q, 1);
                    q++;
                }
            }
            if (q < end && (*q == '=' || *q == ':' || *q == '>')) {
                bool header = *q == ':' && !quoted;
                char sep = *q;
                rput(&r, q, 1);
                q++;
                while (q < end && (*q == ' ' || *q == '\t')) {
                    rput(&r, q, 1);
                    q++;
                }
                if (q < end && *q == '"') {
                    rput(&r, q, 1);
                    q++;
                    stop = '"';
                } else if (sep == '>') {
                    stop = '<';
                } else if (header) {
                    stop = '\n';
                } else {
                    stop = '&';
                }
                v = q;
                while (q < end && *q != stop && *q != '\n' && *q != '\r' &&
                       !(stop == '&' &&
                         (*q == ' ' || *q == ',' || *q == ';' || *q == '"' || *q == '<')))
                    q++;
                if (q > v)
                    rput(&r, "REDACTED", 8);
            }
            p = q;
            continue;
        }
        rput(&r, p, 1);
        p++;
    }
    if (r.cut) {
        memcpy(r.o + r.n, "...", 3);
        r.n += 3;
    }
    r.o[r.n] = 0;
}
