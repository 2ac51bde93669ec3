/*
 * rest.h — one JSON REST call for every cloud that speaks JSON over HTTPS.
 *
 * lbp_rest_call sends a JSON (or form) body through the shared HTTP client
 * (rate limit, retries only where safe, Retry-After), signs it with a
 * bearer token from a token cache or the cloud's own prepare hook, parses
 * the answer strictly (common/json.h) and turns a failure into one
 * lbp_rc plus a message for the Warning Event. What a failure means is
 * read from the body by the cloud's error-envelope mapper (GCE
 * {"error":{"code","message","errors":[{"reason"}]}}, Azure
 * {"error":{"code","message"}}, CloudStack {"<cmd>response":{"errorcode",
 * "errortext"}}): code, message, and whether it is retryable, throttling
 * or a quota. The same mapper decides, inside the retry loop, which
 * answers are worth another attempt.
 *
 * Status to result: 2xx OK; 404 NOT_FOUND; 401 AUTH (the cached token is
 * dropped); 403 AUTH unless the mapper says quota; 409 and 412 CONFLICT;
 * throttled, quota, retryable and 5xx RETRY (retry_after from the answer);
 * any other 4xx INVALID.
 */
#ifndef LBP_PROVIDER_REST_H
#define LBP_PROVIDER_REST_H

#include <stdbool.h>
#include <stddef.h>

#include "provider/http.h"
#include "provider/provider.h"
#include "provider/token.h"

struct json_object;

#define LBP_REST_MAX_JSON (16u << 20)

struct lbp_rest_error {
    long status;       /* 0: no answer */
    char code[96];     /* the cloud's error code ("notFound", "QuotaExceeded", "431") */
    char message[512]; /* the cloud's message, cut to fit */
    bool retryable;    /* the same request may succeed later */
    bool throttled;    /* the cloud asks to slow down */
    bool quota;        /* a quota is exhausted: retry only after a long while */
};

/*
 * A cloud's error-envelope mapper. body is the parsed answer (NULL when it
 * was empty or not JSON). e->status is set and the rest zeroed on entry.
 */
typedef void (*lbp_rest_error_fn)(struct json_object *body, struct lbp_rest_error *e);

/* For {"error":{"code","message"}} and OAuth {"error","error_description"}; 429 throttles, 5xx
 * retry. */
void lbp_rest_error_default(struct json_object *body, struct lbp_rest_error *e);

/* A configured cloud endpoint: what every call to it shares. */
struct lbp_rest {
    struct lbp_http_client *http;
    struct lbp_token_cache *token; /* NULL: no bearer token */
    lbp_rest_error_fn map_error;   /* NULL: lbp_rest_error_default */
    lbp_http_prepare_fn prepare;   /* the cloud's own signer (after the token), may be NULL */
    void *prepare_ud;
};

struct lbp_rest_req {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;
    const char *operation;      /* message prefix, and metrics label unless metric is set */
    const char *metric;         /* a bounded metrics label where operation names objects */
    struct json_object *body;   /* sent as application/json; NULL: none */
    const char *form;           /* or a form body (application/x-www-form-urlencoded) */
    const char *const *headers; /* extra fixed "Name: value" lines */
    size_t n_headers;
    const char *const *capture; /* response headers to keep */
    size_t n_capture;
    bool idempotent; /* see lbp_http_request */
    lbp_http_no_effect_fn no_effect;
    void *no_effect_ud;      /* handed to no_effect as its ud */
    bool no_retry, no_proxy; /* metadata servers */
    long timeout_ms;
};

struct lbp_rest_resp {
    long status;
    struct json_object *json; /* the parsed body, NULL when empty */
    unsigned retry_after_s;
    char *captured[LBP_HTTP_MAX_CAPTURE];
};

/*
 * The call. e (may be NULL) describes a failure; call (may be NULL) gets
 * "operation: HTTP 409 code: message" and retry_after_s. resp is filled
 * for every status (free it with lbp_rest_resp_free either way).
 */
int lbp_rest_call(const struct lbp_rest *r, const struct lbp_rest_req *q,
                  struct lbp_rest_resp *resp, struct lbp_rest_error *e, struct lbp_call *call);
void lbp_rest_resp_free(struct lbp_rest_resp *resp);

/*
 * Every item of a paged JSON list: GET url, hand each element of
 * items_path to each(), follow next_path. With token_param ("pageToken")
 * the next token is added to url as that query parameter; with NULL the
 * next value is itself the next page's URL (Azure's nextLink). An absent
 * items_path is an empty page (GCE omits it). each returns LBP_OK to go on.
 */
int lbp_rest_list(const struct lbp_rest *r, const char *url, const char *operation,
                  const char *items_path, const char *next_path, const char *token_param,
                  int (*each)(void *ud, struct json_object *item), void *ud,
                  struct lbp_rest_error *e, struct lbp_call *call);

#endif
