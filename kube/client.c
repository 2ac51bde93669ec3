/*
 * client.c — the REST client: verbs, Status decoding, retries, the
 * client-side rate limit, streaming GETs (watches) and shutdown.
 *
 * Handles: a request borrows a "slot" (one CURL easy handle plus one multi
 * handle that drives it) from a LIFO pool and returns it afterwards, so a
 * thread never shares a handle with another while keep-alive connections
 * stay warm in the slot's connection cache. Slots live until the client is
 * freed; their number is the peak concurrency.
 *
 * Transfers run on the slot's own multi handle rather than curl_easy_perform
 * so that shutdown can interrupt a blocked poll at once with
 * curl_multi_wakeup; the loop then sees the flag and abandons the transfer.
 *
 * Retries: 429, 5xx other than 501 and transport failures are retried with
 * jittered exponential backoff (200 ms doubling to 10 s), or after the
 * server's Retry-After when that is longer. A POST is retried only when the
 * server provably did not act on it: the connection was never made, or it
 * answered 429. A 401 drops the cached credentials and tries once more with
 * fresh ones (rotated token files, expired exec credentials).
 *
 * Rate limit: a token bucket (qps, burst) shared by every caller; waits
 * block on a condition variable that shutdown broadcasts. qps 0 means no
 * limit (the options' documented default); a qps without a burst gets a
 * burst of one second's worth.
 *
 * Defaults: 30 s per request, 10 s to connect, 5 retries, bodies capped at
 * 64 MiB, no total timeout on watches (an idle timeout instead).
 *
 * Errors say what failed: the first failed attempt is logged at once in
 * the same words as the final error (resp->error), which names the
 * server's host:port and errno for transport failures, the TLS name and
 * the CA for a certificate that does not verify, and tells 401 (the
 * credentials were not accepted) from 403 (accepted, not allowed). A CA
 * file that cannot be read or CA data without a certificate are refused
 * when the client is made, not at the first request.
 */
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX ((size_t)64 << 20) /* a cap on any response body, not an allocation */
#define ERROR_BODY_MAX ((size_t)1 << 20)
#define RETRY_BASE_MS 200
#define RETRY_MAX_MS 10000
#define RETRY_AFTER_MAX_S 30
#define CONNECT_TIMEOUT_MS 10000L
#define POLL_SLICE_MS 1000
#define STOP_POLL_MS 200

enum verb { V_GET, V_LIST, V_WATCH, V_POST, V_PUT, V_PATCH, V_DELETE };

static const char *const verb_method[] = {"GET", "GET", "GET", "POST", "PUT", "PATCH", "DELETE"};

struct slot {
    CURL *easy;
    CURLM *multi;
    struct slot *next_free;
    struct slot *next_all;
};

struct lbp_kube_client {
    char *server;     /* URL prefix requests are made against */
    char *connect_to; /* CURLOPT_CONNECT_TO entry for tls-server-name, or NULL */
    /* For messages: where connections go, the name the certificate must
     * carry, the trust anchor, where the credentials came from. */
    char endpoint[300];
    char tls_name[256];
    char ca_desc[300];
    char source[300];
    char *namespace;
    char *user_agent;
    char *ca_file;
    char *ca_data;
    size_t ca_data_len;
    char *cert_file;
    char *key_file;
    char *cert_data;
    size_t cert_data_len;
    char *key_data;
    size_t key_data_len;
    bool insecure;
    long timeout_ms;
    unsigned max_retries;
    struct lbp_kube_auth *auth;

    pthread_mutex_t mu; /* guards the pool, the bucket and shutdown waits */
    pthread_cond_t cv;  /* monotonic clock; broadcast on shutdown */
    struct slot *free_slots;
    struct slot *all_slots;
    double qps;
    double burst;
    double tokens;
    uint64_t bucket_ms;
    int shutdown; /* atomic */

    uint64_t n[7];      /* per verb, atomic */
    uint64_t n_retries; /* atomic */
};

/* ------------------------------------------------------------ helpers */

static bool is_shutdown(const struct lbp_kube_client *c)
{
    return __atomic_load_n(&c->shutdown, __ATOMIC_ACQUIRE) != 0;
}

static void count(uint64_t *ctr)
{
    __atomic_add_fetch(ctr, 1, __ATOMIC_RELAXED);
}

static char *dup_mem(const char *p, size_t len)
{
    if (!p)
        return NULL;
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, p, len);
        d[len] = '\0';
    }
    return d;
}

/* Waits on c->cv until deadline (monotonic ms) or shutdown; caller holds c->mu. */
static void wait_until_locked(struct lbp_kube_client *c, uint64_t deadline_ms)
{
    struct timespec ts;
    uint64_t now = lbp_now_ms();
    lbp_deadline_ts(deadline_ms > now ? deadline_ms - now : 0, &ts);
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

/* Sleeps ms unless shutdown comes first; returns LBP_CANCELLED then. */
static int sleep_ms(struct lbp_kube_client *c, uint64_t ms)
{
    uint64_t deadline = lbp_now_ms() + ms;
    int rc = LBP_OK;
    pthread_mutex_lock(&c->mu);
    while (!is_shutdown(c) && lbp_now_ms() < deadline)
        wait_until_locked(c, deadline);
    if (is_shutdown(c))
        rc = LBP_CANCELLED;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Takes one token from the bucket, waiting for it to refill if needed. */
static int rate_limit(struct lbp_kube_client *c)
{
    int rc = LBP_OK;
    if (c->qps <= 0)
        return is_shutdown(c) ? LBP_CANCELLED : LBP_OK;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (is_shutdown(c)) {
            rc = LBP_CANCELLED;
            break;
        }
        uint64_t now = lbp_now_ms();
        c->tokens += (double)(now - c->bucket_ms) * c->qps / 1000.0;
        if (c->tokens > c->burst)
            c->tokens = c->burst;
        c->bucket_ms = now;
        if (c->tokens >= 1.0) {
            c->tokens -= 1.0;
            break;
        }
        uint64_t wait = (uint64_t)((1.0 - c->tokens) * 1000.0 / c->qps) + 1;
        wait_until_locked(c, now + wait);
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static struct slot *slot_get(struct lbp_kube_client *c)
{
    struct slot *s;
    pthread_mutex_lock(&c->mu);
    s = c->free_slots;
    if (s)
        c->free_slots = s->next_free;
    pthread_mutex_unlock(&c->mu);
    if (s)
        return s;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->easy = curl_easy_init();
    s->multi = curl_multi_init();
    if (!s->easy || !s->multi) {
        curl_easy_cleanup(s->easy);
        curl_multi_cleanup(s->multi);
        free(s);
        return NULL;
    }
    pthread_mutex_lock(&c->mu);
    s->next_all = c->all_slots;
    c->all_slots = s;
    pthread_mutex_unlock(&c->mu);
    return s;
}

static void slot_put(struct lbp_kube_client *c, struct slot *s)
{
    pthread_mutex_lock(&c->mu);
    s->next_free = c->free_slots;
    c->free_slots = s;
    pthread_mutex_unlock(&c->mu);
}

/* ------------------------------------------------------------ responses */

void lbp_kube_response_free(struct lbp_kube_response *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->reason);
    free(r->message);
    memset(r, 0, sizeof(*r));
}

static char *json_str_field(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return strdup(json_object_get_string(v));
}

/* Fills reason/message from a Status body; anything else leaves them NULL. */
static void decode_status(struct lbp_kube_response *r)
{
    if (!r->body || r->body_len == 0)
        return;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return;
    struct json_object *o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
    if (o && json_object_is_type(o, json_type_object)) {
        r->reason = json_str_field(o, "reason");
        r->message = json_str_field(o, "message");
    }
    json_object_put(o);
    json_tokener_free(tok);
}

static int map_code(long code)
{
    if (code >= 200 && code < 300)
        return LBP_OK;
    switch (code) {
    case 400:
    case 422:
        return LBP_INVALID;
    case 401:
    case 403:
        return LBP_AUTH;
    case 404:
        return LBP_NOT_FOUND;
    case 409:
        return LBP_CONFLICT;
    case 410:
        return LBP_GONE;
    case 429:
        return LBP_RETRY;
    default:
        break;
    }
    if (code >= 500)
        return LBP_RETRY;
    return LBP_INVALID; /* other 4xx: the request as written will not succeed */
}

/* ------------------------------------------------------------ one transfer */

struct xfer {
    struct lbp_kube_client *c;
    struct lbp_buf body;
    /* streaming */
    bool streaming;
    CURL *easy;
    struct lbp_line_splitter *split;
    lbp_line_cb cb;
    void *cb_ctx;
    const int *stop; /* a caller's own stop flag (atomic), or NULL */
    int stop_rc;     /* nonzero once the line callback or splitter stopped it */
    bool toobig;     /* the body outgrew its cap */
    uint64_t last_rx_ms;
};

static bool stop_requested(const struct xfer *x)
{
    return x->stop && __atomic_load_n(x->stop, __ATOMIC_ACQUIRE) != 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * nmemb;
    x->last_rx_ms = lbp_now_ms();
    if (x->streaming) {
        long code = 0;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 && code < 300) {
            int r = lbp_line_splitter_feed(x->split, data, len, x->cb, x->cb_ctx);
            if (r == LBP_OK)
                return len;
            x->stop_rc = r;
            return 0;
        }
    }
    if (lbp_buf_add(&x->body, data, len) != LBP_OK) {
        x->toobig = true;
        return 0;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct xfer *x = ud;
    return is_shutdown(x->c) || stop_requested(x) ? 1 : 0;
}

struct attempt {
    CURLcode cc;
    long code;
    long retry_after_s;
    bool cancelled;
    bool idle_timeout;
    bool request_started; /* curl got as far as sending the request */
    long os_errno;        /* the socket error behind a transport failure, or 0 */
    char errbuf[CURL_ERROR_SIZE];
};

/*
 * The server never saw the request: the connection could not be made, or
 * it (or its TLS handshake) timed out before curl started sending.
 */
static bool never_sent(const struct attempt *a)
{
    if (a->cc == CURLE_COULDNT_CONNECT || a->cc == CURLE_COULDNT_RESOLVE_HOST ||
        a->cc == CURLE_COULDNT_RESOLVE_PROXY)
        return true;
    return (a->cc == CURLE_OPERATION_TIMEDOUT || a->cc == CURLE_SSL_CONNECT_ERROR) &&
           !a->request_started;
}

static bool transport_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static const char *content_type(enum lbp_kube_patch p)
{
    switch (p) {
    case LBP_PATCH_JSON:
        return "Content-Type: application/json-patch+json";
    case LBP_PATCH_STRATEGIC:
        return "Content-Type: application/strategic-merge-patch+json";
    case LBP_PATCH_MERGE:
    default:
        return "Content-Type: application/merge-patch+json";
    }
}

/*
 * Runs one HTTP exchange on slot s. The Authorization header is built here
 * from fresh credentials and freed straight after: it never outlives the call.
 */
static int perform(struct lbp_kube_client *c, struct slot *s, enum verb v, const char *path,
                   const char *ctype, const char *body, long idle_timeout_ms, struct xfer *x,
                   struct attempt *a)
{
    int rc = LBP_OK;
    struct curl_slist *hdrs = NULL;
    struct lbp_kube_cred cred = {0};
    struct lbp_buf url, authz;
    char err[256] = "";
    CURL *e = s->easy;
    bool added = false;

    lbp_buf_init(&url, 16384);
    lbp_buf_init(&authz, 65536);
    memset(a, 0, sizeof(*a));

    if (c->auth) {
        rc = lbp_kube_auth_get(c->auth, &cred, err, sizeof(err));
        if (rc) {
            lbp_warn("kube: %s %s: no credentials: %s", verb_method[v], path, err);
            snprintf(a->errbuf, sizeof(a->errbuf), "%s", err);
            rc = LBP_AUTH;
            goto out;
        }
    }
    if (lbp_buf_adds(&url, c->server) || lbp_buf_adds(&url, path)) {
        rc = LBP_TOOBIG;
        goto out;
    }

    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /*
     * HTTP/1.1 keep-alive even where the server offers HTTP/2: a slot runs
     * one request at a time on its own connection, so HTTP/2 would add
     * framing and HPACK without multiplexing anything; measured with
     * test/bench/provision under callgrind, it costs ~6 % more instructions
     * per Service.
     */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (!x->streaming)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);

    /* TLS */
    /* A configured CA is the only trust anchor, as with kubectl: no system store. */
    if (c->ca_data) {
        struct curl_blob b = {c->ca_data, c->ca_data_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    } else if (c->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (cred.client_cert_pem && cred.client_key_pem) {
        struct curl_blob cb = {cred.client_cert_pem, strlen(cred.client_cert_pem), CURL_BLOB_COPY};
        struct curl_blob kb = {cred.client_key_pem, strlen(cred.client_key_pem), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (c->cert_data && c->key_data) {
        struct curl_blob cb = {c->cert_data, c->cert_data_len, CURL_BLOB_NOCOPY};
        struct curl_blob kb = {c->key_data, c->key_data_len, CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (c->cert_file && c->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
        curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
    }

    /* Method and body */
    switch (v) {
    case V_POST:
    case V_PUT:
    case V_PATCH:
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
        if (v != V_POST)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, verb_method[v]);
        break;
    case V_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    default:
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        break;
    }

    struct curl_slist *n;
#define ADD_HDR(h)                                                                                 \
    do {                                                                                           \
        n = curl_slist_append(hdrs, (h));                                                          \
        if (!n) {                                                                                  \
            rc = LBP_NOMEM;                                                                        \
            goto out;                                                                              \
        }                                                                                          \
        hdrs = n;                                                                                  \
    } while (0)
    ADD_HDR("Accept: application/json");
    ADD_HDR("Expect:"); /* no 100-continue round trip for bodies */
    if (ctype)
        ADD_HDR(ctype);
    if (cred.token) {
        if (lbp_buf_addf(&authz, "Authorization: Bearer %s", cred.token)) {
            rc = LBP_TOOBIG;
            goto out;
        }
        ADD_HDR(authz.data);
    }
#undef ADD_HDR
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

    struct curl_slist *conn_to = NULL;
    if (c->connect_to) {
        conn_to = curl_slist_append(NULL, c->connect_to);
        if (!conn_to) {
            rc = LBP_NOMEM;
            goto out;
        }
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, conn_to);
    }

    /* Drive the transfer on the slot's multi handle so shutdown can wake it. */
    x->easy = e;
    x->last_rx_ms = lbp_now_ms();
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK) {
        curl_slist_free_all(conn_to);
        rc = LBP_NOMEM;
        goto out;
    }
    added = true;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(s->multi, &running) != CURLM_OK)
            break;
        if (!running)
            break;
        if (is_shutdown(c) || stop_requested(x)) {
            a->cancelled = true;
            break;
        }
        /* A private stop flag has no wakeup: poll it more often. */
        int slice = x->stop ? STOP_POLL_MS : POLL_SLICE_MS;
        if (idle_timeout_ms > 0) {
            uint64_t idle = lbp_now_ms() - x->last_rx_ms;
            if (idle >= (uint64_t)idle_timeout_ms) {
                a->idle_timeout = true;
                break;
            }
            if ((uint64_t)idle_timeout_ms - idle < (uint64_t)slice)
                slice = (int)((uint64_t)idle_timeout_ms - idle) + 1;
        }
        curl_multi_poll(s->multi, NULL, 0, slice, NULL);
    }
    a->cc = CURLE_OK;
    if (a->cancelled || a->idle_timeout) {
        a->cc = CURLE_ABORTED_BY_CALLBACK;
    } else {
        int left;
        CURLMsg *m;
        a->cc = CURLE_RECV_ERROR;
        while ((m = curl_multi_info_read(s->multi, &left)))
            if (m->msg == CURLMSG_DONE && m->easy_handle == e)
                a->cc = m->data.result;
    }
    if (a->cc == CURLE_ABORTED_BY_CALLBACK && (is_shutdown(c) || stop_requested(x)))
        a->cancelled = true;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->code);
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &a->os_errno);
    curl_off_t pre = 0;
    curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &pre);
    a->request_started = pre > 0;
    if (a->code > 0) {
        struct curl_header *h;
        if (curl_easy_header(e, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK) {
            long ra;
            if (lbp_parse_long(h->value, 0, 3600, &ra) == LBP_OK)
                a->retry_after_s = ra;
        }
    }
    curl_multi_remove_handle(s->multi, e);
    added = false;
    curl_slist_free_all(conn_to);

out:
    if (added)
        curl_multi_remove_handle(s->multi, e);
    /*
     * Drop every reference to per-call memory (headers, error buffer, write
     * context) before it goes away; the handle keeps its live connections.
     */
    curl_easy_reset(e);
    curl_slist_free_all(hdrs);
    if (authz.data)
        memset(authz.data, 0, authz.len);
    lbp_buf_free(&authz);
    lbp_buf_free(&url);
    lbp_kube_cred_free(&cred);
    return rc;
}

/* curl's own words for a transport failure: its error buffer, else the code's text. */
static const char *curl_words(const struct attempt *a)
{
    return a->errbuf[0] ? a->errbuf : curl_easy_strerror(a->cc);
}

/*
 * What went wrong with attempt a, as one phrase naming the thing that
 * failed. message is the server's Status.message (may be NULL).
 */
static const char *attempt_cause(const struct lbp_kube_client *c, const struct attempt *a,
                                 const char *message, char *buf, size_t len)
{
    const char *m = message && *message ? message : NULL;
    if (a->code == 401) {
        lbp_seterr(buf, len,
                   "401 Unauthorized: the API server did not accept the credentials from %s%s%s",
                   c->source, m ? ": " : "", m ? m : "");
    } else if (a->code == 403) {
        lbp_seterr(buf, len, "403 Forbidden: the credentials from %s are not allowed this%s%s",
                   c->source, m ? ": " : "", m ? m : "");
    } else if (a->code > 0) {
        lbp_seterr(buf, len, "HTTP %ld%s%s", a->code, m ? ": " : "", m ? m : "");
    } else {
        switch (a->cc) {
        case CURLE_COULDNT_CONNECT:
            lbp_seterr(buf, len, "cannot connect to the API server at %s: %s", c->endpoint,
                       a->os_errno ? strerror((int)a->os_errno) : curl_words(a));
            break;
        case CURLE_COULDNT_RESOLVE_HOST:
            lbp_seterr(buf, len, "cannot resolve the API server's host in %s: %s", c->endpoint,
                       curl_words(a));
            break;
        case CURLE_OPERATION_TIMEDOUT:
            lbp_seterr(buf, len, "the API server at %s did not answer in time: %s", c->endpoint,
                       curl_words(a));
            break;
        case CURLE_PEER_FAILED_VERIFICATION:
            lbp_seterr(buf, len,
                       "TLS: the API server's certificate for %s (at %s) does not verify against "
                       "%s: %s",
                       c->tls_name, c->endpoint, c->ca_desc, curl_words(a));
            break;
        case CURLE_SSL_CACERT_BADFILE:
            lbp_seterr(buf, len, "TLS: cannot use %s as the CA: %s", c->ca_desc, curl_words(a));
            break;
        case CURLE_SSL_CERTPROBLEM:
            lbp_seterr(buf, len, "TLS: the client certificate from %s cannot be used: %s",
                       c->source, curl_words(a));
            break;
        default:
            lbp_seterr(buf, len, "API server at %s: %s%s%s", c->endpoint, curl_words(a),
                       a->os_errno ? ": " : "", a->os_errno ? strerror((int)a->os_errno) : "");
            break;
        }
    }
    return buf;
}

static void fill_resp(struct lbp_kube_response *resp, struct xfer *x, const struct attempt *a)
{
    if (!resp)
        return;
    lbp_kube_response_free(resp);
    resp->http_code = a->code;
    resp->retry_after_s = a->retry_after_s;
    resp->body = lbp_buf_take(&x->body, &resp->body_len);
    if (a->code < 200 || a->code >= 300)
        decode_status(resp);
}

/*
 * The request loop shared by every verb. idempotent says whether a request
 * that may have reached the server can be sent again.
 */
static int request(struct lbp_kube_client *c, enum verb v, const char *path, const char *ctype,
                   const char *body, bool idempotent, struct lbp_kube_response *resp)
{
    int rc;
    unsigned attempt_no = 0;
    bool reauthed = false;
    struct slot *s = NULL;
    struct xfer x = {.c = c};
    struct attempt a;
    char cause[1024];

    if (resp)
        memset(resp, 0, sizeof(*resp));
    if (!path || path[0] != '/')
        return LBP_INVALID;
    if (is_shutdown(c))
        return LBP_CANCELLED;
    count(&c->n[v]);
    s = slot_get(c);
    if (!s)
        return LBP_NOMEM;
    lbp_buf_init(&x.body, BODY_MAX);

    for (;;) {
        rc = rate_limit(c);
        if (rc)
            goto out;
        lbp_buf_reset(&x.body);
        x.toobig = false;
        rc = perform(c, s, v, path, ctype, body, 0, &x, &a);
        if (rc) {
            if (rc == LBP_AUTH && resp)
                lbp_seterr(resp->error, sizeof(resp->error), "no credentials from %s: %s",
                           c->source, a.errbuf);
            goto out;
        }
        if (a.cancelled) {
            rc = LBP_CANCELLED;
            goto out;
        }
        if (a.cc == CURLE_OK && a.code == 401 && c->auth && !reauthed) {
            /* Credentials rotated under us: re-read them once. */
            reauthed = true;
            lbp_kube_auth_invalidate(c->auth);
            lbp_info("kube: %s %s: 401, refreshing credentials", verb_method[v], path);
            continue;
        }

        bool retry;
        if (x.toobig) {
            lbp_warn("kube: %s %s: response body over %zu bytes", verb_method[v], path,
                     (size_t)BODY_MAX);
            rc = LBP_TOOBIG;
            goto out;
        }
        if (a.cc != CURLE_OK) {
            retry = transport_retryable(a.cc) && (idempotent || never_sent(&a));
            rc = LBP_RETRY;
            if (!transport_retryable(a.cc)) {
                /* TLS verification and similar: retrying cannot help. */
                lbp_warn("kube: %s %s failed: %s", verb_method[v], path,
                         attempt_cause(c, &a, NULL, cause, sizeof(cause)));
                rc = a.cc == CURLE_PEER_FAILED_VERIFICATION || a.cc == CURLE_SSL_CACERT_BADFILE ||
                             a.cc == CURLE_SSL_CERTPROBLEM
                         ? LBP_AUTH
                         : LBP_RETRY;
            }
        } else {
            rc = map_code(a.code);
            retry = a.code == 429 || (a.code >= 500 && a.code != 501 && idempotent);
        }
        /*
         * A server asking for a long pause gets it from the caller's queue,
         * which has the Retry-After in resp, rather than from a blocked thread.
         */
        if (!retry || attempt_no >= c->max_retries || a.retry_after_s > RETRY_AFTER_MAX_S)
            break;

        uint64_t wait = lbp_jitter_ms(lbp_backoff_ms(RETRY_BASE_MS, RETRY_MAX_MS, attempt_no), 0.2);
        if (a.retry_after_s > 0 && (uint64_t)a.retry_after_s * 1000 > wait)
            wait = (uint64_t)a.retry_after_s * 1000;
        attempt_no++;
        count(&c->n_retries);
        lbp_warn("kube: %s %s: %s; retry %u/%u in %llu ms", verb_method[v], path,
                 attempt_cause(c, &a, NULL, cause, sizeof(cause)), attempt_no, c->max_retries,
                 (unsigned long long)wait);
        rc = sleep_ms(c, wait);
        if (rc)
            goto out;
    }
    if (a.code > 0)
        fill_resp(resp, &x, &a);
    if (rc != LBP_OK) {
        attempt_cause(c, &a, resp ? resp->message : NULL, cause, sizeof(cause));
        if (resp && attempt_no)
            lbp_seterr(resp->error, sizeof(resp->error), "%s (%u attempts)", cause, attempt_no + 1);
        else if (resp)
            lbp_seterr(resp->error, sizeof(resp->error), "%s", cause);
        if (rc == LBP_RETRY && attempt_no > 0)
            lbp_warn("kube: %s %s: giving up after %u retries: %s", verb_method[v], path,
                     attempt_no, cause);
    }

out:
    lbp_buf_free(&x.body);
    slot_put(c, s);
    return rc;
}

/* ------------------------------------------------------------ verbs */

int lbp_kube_get(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp)
{
    return request(c, V_GET, path, NULL, NULL, true, resp);
}

int lbp_kube_list_page(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp)
{
    return request(c, V_LIST, path, NULL, NULL, true, resp);
}

int lbp_kube_post(struct lbp_kube_client *c, const char *path, const char *json,
                  struct lbp_kube_response *resp)
{
    return request(c, V_POST, path, "Content-Type: application/json", json, false, resp);
}

int lbp_kube_put(struct lbp_kube_client *c, const char *path, const char *json,
                 struct lbp_kube_response *resp)
{
    return request(c, V_PUT, path, "Content-Type: application/json", json, true, resp);
}

int lbp_kube_patch(struct lbp_kube_client *c, const char *path, enum lbp_kube_patch type,
                   const char *json, struct lbp_kube_response *resp)
{
    /* Merge and strategic patches converge when applied twice; JSON patches may not. */
    return request(c, V_PATCH, path, content_type(type), json, type != LBP_PATCH_JSON, resp);
}

int lbp_kube_delete(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp)
{
    return request(c, V_DELETE, path, NULL, NULL, true, resp);
}

int lbp_kube_stream(struct lbp_kube_client *c, const char *path, size_t max_line,
                    long idle_timeout_ms, lbp_line_cb cb, void *ctx, struct lbp_kube_response *resp)
{
    return lbp_kube_stream_stoppable(c, path, max_line, idle_timeout_ms, NULL, cb, ctx, resp);
}

/*
 * Besides the ends listed in kube_int.h, a watch whose event is longer than
 * max_line ends with LBP_TOOBIG: the event was lost, so the caller must list
 * again rather than resume from its resourceVersion.
 */
int lbp_kube_stream_stoppable(struct lbp_kube_client *c, const char *path, size_t max_line,
                              long idle_timeout_ms, const int *stop, lbp_line_cb cb, void *ctx,
                              struct lbp_kube_response *resp)
{
    int rc;
    struct slot *s = NULL;
    struct lbp_line_splitter split;
    struct xfer x = {
        .c = c, .streaming = true, .split = &split, .cb = cb, .cb_ctx = ctx, .stop = stop};
    struct attempt a;
    char cause[1024];
    bool reauthed = false;

    if (resp)
        memset(resp, 0, sizeof(*resp));
    if (!path || path[0] != '/' || !cb)
        return LBP_INVALID;
    if (is_shutdown(c) || stop_requested(&x))
        return LBP_CANCELLED;
    count(&c->n[V_WATCH]);
    s = slot_get(c);
    if (!s)
        return LBP_NOMEM;
    lbp_line_splitter_init(&split, max_line ? max_line : (size_t)16 << 20);
    lbp_buf_init(&x.body, ERROR_BODY_MAX);

again:
    rc = rate_limit(c);
    if (rc)
        goto out;
    rc = perform(c, s, V_WATCH, path, NULL, NULL, idle_timeout_ms, &x, &a);
    if (rc)
        goto out;
    if (a.cancelled) {
        rc = LBP_CANCELLED;
    } else if (x.stop_rc) {
        /* The callback asked to stop (LBP_OK), or a line was too long. */
        rc = x.stop_rc == LBP_TOOBIG || x.stop_rc == LBP_NOMEM ? x.stop_rc : LBP_OK;
    } else if (a.idle_timeout) {
        lbp_info("kube: watch %s: nothing received for %ld ms", path, idle_timeout_ms);
        rc = LBP_RETRY;
    } else if (a.cc != CURLE_OK) {
        lbp_info("kube: watch %s ended: %s", path,
                 attempt_cause(c, &a, NULL, cause, sizeof(cause)));
        if (resp)
            lbp_strlcpy(resp->error, cause, sizeof(resp->error));
        rc = LBP_RETRY;
    } else if (a.code == 401 && c->auth && !reauthed) {
        reauthed = true;
        lbp_kube_auth_invalidate(c->auth);
        lbp_buf_reset(&x.body);
        goto again;
    } else {
        rc = map_code(a.code);
        if (rc != LBP_OK && resp) {
            fill_resp(resp, &x, &a);
            attempt_cause(c, &a, resp->message, resp->error, sizeof(resp->error));
        }
    }

out:
    lbp_line_splitter_free(&split);
    lbp_buf_free(&x.body);
    slot_put(c, s);
    return rc;
}

/* ------------------------------------------------------------ lifecycle */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/*
 * With tls-server-name the URL names that host (so SNI and certificate
 * checks use it) and CURLOPT_CONNECT_TO sends the connection to the real one.
 */
static int setup_server_name(struct lbp_kube_client *c, const char *server, const char *sni,
                             char *err, size_t errlen)
{
    int rc = LBP_OK;
    char *host = NULL, *port = NULL, *scheme = NULL, *url = NULL;
    CURLU *u = curl_url();
    if (!u)
        return LBP_NOMEM;
    if (curl_url_set(u, CURLUPART_URL, server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        snprintf(err, errlen, "%s: server URL cannot be parsed", server);
        rc = LBP_INVALID;
        goto out;
    }
    snprintf(c->endpoint, sizeof(c->endpoint), "%s:%s", host, port);
    lbp_strlcpy(c->tls_name, sni && *sni ? sni : host, sizeof(c->tls_name));
    if (!sni || !*sni) {
        c->server = strdup(server);
        rc = c->server ? LBP_OK : LBP_NOMEM;
        goto out;
    }
    if (curl_url_set(u, CURLUPART_HOST, sni, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        snprintf(err, errlen, "tls-server-name %s is not a host name", sni);
        rc = LBP_INVALID;
        goto out;
    }
    /* curl appends "/" to a bare origin; requests add their own path. */
    size_t l = strlen(url);
    if (l > 0 && url[l - 1] == '/')
        url[l - 1] = '\0';
    c->server = strdup(url);
    size_t n = strlen(sni) + strlen(host) + 2 * strlen(port) + 4;
    c->connect_to = malloc(n);
    if (!c->server || !c->connect_to) {
        rc = LBP_NOMEM;
        goto out;
    }
    snprintf(c->connect_to, n, "%s:%s:%s:%s", sni, port, host, port);
out:
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

/*
 * A CA that cannot work is refused here, by name, instead of surfacing as a
 * TLS failure on every request: the file must open and hold a PEM
 * certificate, and so must the inline data. Also fills c->ca_desc.
 */
static int check_ca(struct lbp_kube_client *c, const struct lbp_kube_config *cfg, char *err,
                    size_t errlen)
{
    int rc = LBP_OK;
    BIO *b = NULL;
    FILE *f = NULL;
    X509 *x = NULL;
    char what[300];

    if (cfg->ca_data && cfg->ca_data_len) {
        lbp_seterr(c->ca_desc, sizeof(c->ca_desc), "certificate-authority-data from %s", c->source);
        lbp_strlcpy(what, "certificate-authority-data", sizeof(what));
        if (cfg->ca_data_len > INT32_MAX ||
            !(b = BIO_new_mem_buf(cfg->ca_data, (int)cfg->ca_data_len))) {
            rc = LBP_NOMEM;
            goto out;
        }
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    } else if (cfg->ca_file) {
        lbp_seterr(c->ca_desc, sizeof(c->ca_desc), "the CA file %s", cfg->ca_file);
        lbp_seterr(what, sizeof(what), "certificate-authority %s", cfg->ca_file);
        if (!(f = fopen(cfg->ca_file, "r"))) {
            lbp_seterr(err, errlen, "%s: certificate-authority %s: %s", c->source, cfg->ca_file,
                       strerror(errno));
            rc = LBP_IO;
            goto out;
        }
        x = PEM_read_X509(f, NULL, NULL, NULL);
    } else {
        lbp_seterr(c->ca_desc, sizeof(c->ca_desc), "the system's CA certificates");
        goto out;
    }
    if (!x && !cfg->insecure_skip_tls_verify) {
        lbp_seterr(err, errlen, "%s: %s holds no PEM certificate", c->source, what);
        rc = LBP_PARSE;
    }
out:
    ERR_clear_error();
    X509_free(x);
    BIO_free(b);
    if (f)
        fclose(f);
    return rc;
}

int lbp_kube_client_new(const struct lbp_kube_config *cfg, const struct lbp_kube_client_opts *opts,
                        struct lbp_kube_client **out, char *err, size_t errlen)
{
    int rc = LBP_NOMEM;
    struct lbp_kube_client *c = NULL;
    struct lbp_kube_client_opts defaults = {0};

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!cfg || !cfg->server || !*cfg->server) {
        snprintf(err, errlen, "no API server address");
        return LBP_INVALID;
    }
    if (!opts)
        opts = &defaults;
    pthread_once(&global_once, global_init);

    c = calloc(1, sizeof(*c));
    if (!c)
        return LBP_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    lbp_cond_init_monotonic(&c->cv);

    lbp_strlcpy(c->source, cfg->source ? cfg->source : cfg->server, sizeof(c->source));
    rc = setup_server_name(c, cfg->server, cfg->tls_server_name, err, errlen);
    if (rc)
        goto out;
    rc = check_ca(c, cfg, err, errlen);
    if (rc)
        goto out;
    size_t sl = strlen(c->server);
    while (sl > 0 && c->server[sl - 1] == '/')
        c->server[--sl] = '\0';

    rc = LBP_NOMEM;
    c->namespace = strdup(cfg->namespace && *cfg->namespace ? cfg->namespace : "default");
    c->user_agent = strdup(opts->user_agent ? opts->user_agent : "lbprov/" LBP_VERSION);
    if (!c->namespace || !c->user_agent)
        goto out;
    c->ca_file = lbp_strdup(cfg->ca_file);
    c->cert_file = lbp_strdup(cfg->client_cert_file);
    c->key_file = lbp_strdup(cfg->client_key_file);
    if (cfg->ca_data && cfg->ca_data_len) {
        c->ca_data = dup_mem(cfg->ca_data, cfg->ca_data_len);
        c->ca_data_len = cfg->ca_data_len;
    }
    if (cfg->client_cert_data && cfg->client_cert_data_len) {
        c->cert_data = dup_mem(cfg->client_cert_data, cfg->client_cert_data_len);
        c->cert_data_len = cfg->client_cert_data_len;
    }
    if (cfg->client_key_data && cfg->client_key_data_len) {
        c->key_data = dup_mem(cfg->client_key_data, cfg->client_key_data_len);
        c->key_data_len = cfg->client_key_data_len;
    }
    if ((cfg->ca_file && !c->ca_file) || (cfg->client_cert_file && !c->cert_file) ||
        (cfg->client_key_file && !c->key_file) || (cfg->ca_data_len && !c->ca_data) ||
        (cfg->client_cert_data_len && !c->cert_data) || (cfg->client_key_data_len && !c->key_data))
        goto out;
    c->insecure = cfg->insecure_skip_tls_verify;
    if (c->insecure)
        lbp_warn("kube: %s: insecure-skip-tls-verify is set; the API server's certificate is "
                 "not checked",
                 cfg->source ? cfg->source : cfg->server);

    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    c->max_retries = opts->max_retries ? opts->max_retries : 5;
    c->qps = opts->qps > 0 ? opts->qps : 0;
    /* No burst given: allow one second's worth, so qps alone behaves as expected. */
    c->burst = opts->burst > 0 ? (double)opts->burst : (c->qps >= 1.0 ? (double)(int)c->qps : 1.0);
    c->tokens = c->burst;
    c->bucket_ms = lbp_now_ms();

    rc = lbp_kube_auth_new(cfg, &c->auth);
    if (rc) {
        snprintf(err, errlen, "%s: credentials: %s", cfg->source ? cfg->source : cfg->server,
                 lbp_rc_str(rc));
        goto out;
    }
    *out = c;
    c = NULL;
    rc = LBP_OK;
out:
    lbp_kube_client_free(c);
    return rc;
}

void lbp_kube_client_shutdown(struct lbp_kube_client *c)
{
    if (!c)
        return;
    __atomic_store_n(&c->shutdown, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv);
    for (struct slot *s = c->all_slots; s; s = s->next_all)
        curl_multi_wakeup(s->multi);
    pthread_mutex_unlock(&c->mu);
}

void lbp_kube_client_free(struct lbp_kube_client *c)
{
    if (!c)
        return;
    struct slot *s = c->all_slots;
    while (s) {
        struct slot *next = s->next_all;
        curl_easy_cleanup(s->easy);
        curl_multi_cleanup(s->multi);
        free(s);
        s = next;
    }
    lbp_kube_auth_free(c->auth);
    free(c->server);
    free(c->connect_to);
    free(c->namespace);
    free(c->user_agent);
    free(c->ca_file);
    free(c->ca_data);
    free(c->cert_file);
    free(c->key_file);
    free(c->cert_data);
    if (c->key_data)
        memset(c->key_data, 0, c->key_data_len);
    free(c->key_data);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const char *lbp_kube_client_namespace(const struct lbp_kube_client *c)
{
    return c->namespace;
}

void lbp_kube_client_stats(const struct lbp_kube_client *c, struct lbp_kube_stats *out)
{
    out->get = __atomic_load_n(&c->n[V_GET], __ATOMIC_RELAXED);
    out->list = __atomic_load_n(&c->n[V_LIST], __ATOMIC_RELAXED);
    out->watch = __atomic_load_n(&c->n[V_WATCH], __ATOMIC_RELAXED);
    out->post = __atomic_load_n(&c->n[V_POST], __ATOMIC_RELAXED);
    out->put = __atomic_load_n(&c->n[V_PUT], __ATOMIC_RELAXED);
    out->patch = __atomic_load_n(&c->n[V_PATCH], __ATOMIC_RELAXED);
    out->del = __atomic_load_n(&c->n[V_DELETE], __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&c->n_retries, __ATOMIC_RELAXED);
}
