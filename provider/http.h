/*
 * http.h — the HTTP client every cloud backend shares (AWS, GCE, Azure,
 * CloudStack).
 *
 * One `struct lbp_http_client` per configured cloud holds what is common to
 * all its calls: timeouts, the retry policy, a client-side rate limit and the
 * metric labels. The CURL handle itself is per thread (kept in thread-local
 * storage), so each worker reuses its own connections without locking.
 *
 * A call is retried with jittered exponential backoff when the transport
 * fails (connect error, timeout), on 5xx, on 429, and whenever the cloud's
 * classifier callback says the answer is throttling (AWS answers 400
 * "Throttling" in an XML body, so status alone cannot tell). Retry-After is
 * honoured. Requests are re-prepared before every attempt through the
 * `prepare` callback so signatures carry a fresh date; prepare may add
 * headers and also replace the URL and body (CloudStack signs the query).
 *
 * Only what is safe is re-sent. GET, HEAD, PUT, DELETE and OPTIONS are
 * idempotent (RFC 9110 9.2.2) and are retried on every transient failure.
 * Any method is retried when the request provably never reached the server
 * (no connection) or the server refused it unprocessed (429, or the
 * classifier's THROTTLE). A POST or PATCH that may have arrived (timeout,
 * 5xx, a connection cut mid-request) is re-sent only when the caller set
 * `idempotent` (the cloud drops repeats: a client token or request id, or
 * the call only reads) or its `no_effect` check confirms the first attempt
 * changed nothing; otherwise lbp_http_do returns LBP_RETRY at once and the
 * caller's next, idempotent, reconcile reads the cloud's state first. A
 * CloudStack associateIpAddress re-sent blindly would leak an address.
 *
 * libcurl's own proxy handling (http_proxy, https_proxy, no_proxy) is left
 * on; TLS peer and host verification is on unless the client was created
 * with insecure_skip_verify (a cloud-config flag). At -v=4 each attempt is
 * logged with method, URL, status and duration; at -v=6 also the request
 * headers and body, at -v=8 the response body — always through
 * lbp_http_redact, so no credential reaches a log line.
 */
#ifndef LBP_PROVIDER_HTTP_H
#define LBP_PROVIDER_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define LBP_HTTP_MAX_HEADERS 16
#define LBP_HTTP_CODE_LEN 96
#define LBP_HTTP_MAX_CAPTURE 4    /* response headers a caller can ask for */
#define LBP_HTTP_CAPTURE_LEN 2048 /* cap on one captured value */

struct lbp_http_client;

enum lbp_http_verdict {
    LBP_HTTP_DONE,     /* hand the answer to the caller */
    LBP_HTTP_THROTTLE, /* retry after a backoff (counts as throttling) */
    LBP_HTTP_TRANSIENT /* retry after a backoff (server-side failure) */
};

/*
 * Decides what an answer means. code receives a short error code for the
 * metrics label ("Throttling", "SignatureDoesNotMatch"); left empty for
 * success. NULL: 429 → THROTTLE, 5xx → TRANSIENT, everything else DONE.
 */
typedef enum lbp_http_verdict (*lbp_http_classify_fn)(void *ud, long status, const char *body,
                                                      size_t len, char *code, size_t codelen);

/* Headers as "Name: value" lines; the client frees them. */
struct lbp_http_headers {
    char *line[LBP_HTTP_MAX_HEADERS];
    size_t n;
};
int lbp_http_headers_addf(struct lbp_http_headers *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lbp_http_headers_clear(struct lbp_http_headers *h);

struct lbp_http_request;
struct lbp_http_response;

/* What prepare hands back for one attempt; the client frees it. */
struct lbp_http_prepared {
    struct lbp_http_headers headers; /* added after the request's own */
    char *url;                       /* malloc'd; replaces req->url when set (same host) */
    char *body;                      /* malloc'd; replaces req->body when set */
    size_t body_len;
};

/*
 * Called before every attempt to sign: add headers (signatures, tokens)
 * and, where the signature lives in the URL or body (CloudStack's query
 * string, a signed form), set a rewritten url/body. host is the Host header
 * exactly as libcurl will send it ("h" or "h:port") for req->url. A
 * non-zero return ends the call with that code.
 */
typedef int (*lbp_http_prepare_fn)(void *ud, const struct lbp_http_request *req, const char *host,
                                   struct lbp_http_prepared *out);

/*
 * For a POST/PATCH that may have reached the server and failed (timeout,
 * 5xx): asks the cloud whether the attempt took effect (e.g. lists the
 * addresses tagged with this request's marker). true only when it surely
 * did not; the request is then sent again. It may make calls of its own
 * on the same client.
 */
typedef bool (*lbp_http_no_effect_fn)(void *ud, const struct lbp_http_request *req,
                                      const struct lbp_http_response *failed);

struct lbp_http_request {
    const char *method;         /* "GET", "POST", "PUT", "DELETE" */
    const char *url;            /* absolute */
    const char *operation;      /* metrics label, e.g. "CreateLoadBalancer" */
    const char *const *headers; /* fixed "Name: value" lines, may be NULL */
    size_t n_headers;
    const void *body;
    size_t body_len;
    lbp_http_prepare_fn prepare;
    lbp_http_classify_fn classify;
    void *ud;
    bool no_retry; /* one attempt only (metadata probes) */
    /* POST/PATCH only: re-sending is harmless (the cloud deduplicates by a
       client token / request id, or the call only reads). */
    bool idempotent;
    lbp_http_no_effect_fn no_effect; /* POST/PATCH only; may be NULL */
    bool no_proxy;                   /* never through a proxy (link-local metadata endpoints) */
    /* Response headers to keep (e.g. "Azure-AsyncOperation", "Location"), matched
       case-insensitively; their values land in resp->captured[i]. */
    const char *const *capture;
    size_t n_capture;
    long timeout_ms; /* 0: the client's */
};

struct lbp_http_response {
    long status;                  /* 0 when no answer arrived */
    struct lbp_buf body;          /* capped at the client's max_body */
    char code[LBP_HTTP_CODE_LEN]; /* the classifier's code for the final answer */
    unsigned retry_after_s;       /* from the last answer's Retry-After, 0 when absent */
    unsigned attempts;
    char *captured[LBP_HTTP_MAX_CAPTURE]; /* per req->capture; NULL when absent */
    bool not_resent; /* a failed POST/PATCH was not retried: it may have taken effect */
};

/* True for methods RFC 9110 calls idempotent (GET, HEAD, PUT, DELETE, OPTIONS). */
bool lbp_http_method_idempotent(const char *method);

struct lbp_http_opts {
    const char *cloud;           /* metrics label: "aws", "gce", ... */
    long connect_timeout_ms;     /* 0: 5 s */
    long timeout_ms;             /* 0: 30 s per attempt */
    unsigned max_attempts;       /* 0: 5 */
    uint64_t backoff_base_ms;    /* 0: 200 ms */
    uint64_t backoff_max_ms;     /* 0: 20 s */
    uint64_t retry_after_max_ms; /* cap on an honoured Retry-After; 0: 60 s */
    double qps;                  /* client-side rate limit; 0: none */
    unsigned burst;              /* bucket size; 0: max(1, qps) */
    bool insecure_skip_verify;
    const char *ca_file; /* extra CA bundle, may be NULL */
    size_t max_body;     /* 0: 16 MiB */
};

int lbp_http_client_new(const struct lbp_http_opts *opts, struct lbp_http_client **out);
void lbp_http_client_free(struct lbp_http_client *c);
/*
 * Replaces the network for every later call on c: fn answers each attempt
 * in process. This is the fuzz targets' way in (test/fuzz): they need many
 * thousand answers a second, which no socket gives. The answer takes the
 * path a network answer takes: header lines ("Name: value\r\n") to the
 * Retry-After and capture logic, the body against max_body, the status to
 * the classifier and the retry loop; only the backoff between attempts
 * is not slept. fn returns nonzero for "no connection". Not for
 * production use.
 */
struct lbp_http_answer {
    long status;
    const char *headers; /* "Name: value\r\n" lines, may be NULL */
    size_t headers_len;
    const char *body;
    size_t body_len;
};
typedef int (*lbp_http_transport_fn)(void *ud, const struct lbp_http_request *req, const char *url,
                                     struct lbp_http_answer *out);
void lbp_http_set_transport(struct lbp_http_client *c, lbp_http_transport_fn fn, void *ud);
/* Makes every running and future call on c fail fast with LBP_CANCELLED. */
void lbp_http_client_cancel(struct lbp_http_client *c);

/*
 * Performs the request with retries. LBP_OK when an answer the classifier
 * accepts arrived (any status: the caller reads resp->status), LBP_RETRY
 * when attempts ran out on transport errors, throttling or 5xx (resp keeps
 * the last answer, if any) or when a POST that may have taken effect was
 * not re-sent (resp->not_resent), LBP_CANCELLED, LBP_NOMEM, LBP_TOOBIG, or
 * an error from prepare. resp must be released with lbp_http_response_free.
 */
int lbp_http_do(struct lbp_http_client *c, const struct lbp_http_request *req,
                struct lbp_http_response *resp);
void lbp_http_response_free(struct lbp_http_response *resp);

/* The client's rate limiter, for tests and benchmarks. */
struct lbp_ratelimit *lbp_http_client_ratelimit(struct lbp_http_client *c);

struct json_object;
/*
 * Ends a cloud's debug_json: adds "apiCalls" (the calls c's rate limiter
 * let through), serializes o and puts it. The malloc'd text, NULL when out
 * of memory.
 */
char *lbp_http_debug_text(struct json_object *o, struct lbp_http_client *c);

/* Frees this thread's CURL handle (worker threads free theirs at exit). */
void lbp_http_thread_cleanup(void);

/*
 * Copies text to out with every secret value replaced by "REDACTED":
 * header values of Authorization, X-Amz-Security-Token, metadata tokens;
 * form, query, JSON and XML values whose name says key/secret/token/
 * password/signature/credential. Always NUL-terminates; cuts with "...".
 */
void lbp_http_redact(const char *in, size_t len, char *out, size_t cap);

/* Form/URL encoding: every byte outside A-Za-z0-9-_.~ as %XX. */
int lbp_http_urlencode(struct lbp_buf *out, const char *s);

/* Parses a Retry-After value (delta seconds or an HTTP date); 0 when unusable. */
unsigned lbp_http_parse_retry_after(const char *v, int64_t now_s);

#endif
