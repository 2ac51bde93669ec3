/*
 * fake_aws.c — a stateful fake AWS endpoint for tests: ELBv2 (2015-12-01),
 * classic ELB (2012-06-01), EC2 (2016-11-15), STS and IMDSv2 on one
 * loopback port (libmicrohttpd, a thread per connection).
 *
 * Every Query API request must carry a valid SigV4 signature, recomputed
 * here with provider/sigv4 from the request exactly as received; an
 * unknown key or a wrong signature gets the error each service really
 * sends. Only AssumeRoleWithWebIdentity is unsigned, as in AWS. Keys are the
 * one given with --access-key/--secret-key plus the temporary ones this
 * fake hands out through STS and IMDS.
 *
 * Tests steer it through /_fake/: seed (subnets, groups, instances),
 * fault (throttling, errors for N calls of an operation), config (latency
 * per call, eventual-consistency delay for new LBs, page size), counters
 * (calls per operation) and state (everything, as JSON). The first stdout
 * line is "listening on http://127.0.0.1:PORT".
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "clouds/aws/sigv4.h"
#include "test/fakes/aws/fake.h"
#include "test/fakes/fake_util.h"

#define MAX_BODY (1u << 20)
#define MAX_KEYS 256
#define MAX_FAULTS 64

struct json_object *g_state;
int g_page_size = 400;
int g_consistency_ms;
char g_region[64] = "us-east-1";
long g_targets_registered, g_targets_deregistered;
int g_sg_rules_max = 60;
long g_sgs_described;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_latency_ms;
static struct json_object *g_counters;
static long g_total, g_throttled, g_auth_failures, g_injected, g_lost_replies;
/* Random faults, in percent of calls: errors and throttling on any call,
 * lost replies only after a write that took effect. */
static int g_error_pct, g_throttle_pct, g_lost_reply_pct;
static unsigned int g_rand_seed = 1;
static const char *g_expected_wi_token;
static int g_temp_ttl_s = 3600;

struct key {
    char ak[64], sk[64], token[128];
};
static struct key g_keys[MAX_KEYS];
static size_t g_n_keys;

struct fault {
    char op[64];
    char service[16];
    char code[96];
    int status;
    int count;
    bool lose_reply; /* do the call, then close the connection without an answer */
};
static struct fault g_faults[MAX_FAULTS];
static size_t g_n_faults;

/* ---- small helpers shared with the ops files ---- */

uint64_t fake_now_ms(void)
{
    return lbp_now_ms();
}

void fake_id(const char *prefix, char *out, size_t cap)
{
    /* Called with and without g_mu held: the counter is atomic on its own. */
    static unsigned long long ctr = 0x1000;
    snprintf(out, cap, "%s%017llx", prefix, __atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED));
}

void fx(struct lbp_buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            lbp_buf_adds(b, "&amp;");
            break;
        case '<':
            lbp_buf_adds(b, "&lt;");
            break;
        case '>':
            lbp_buf_adds(b, "&gt;");
            break;
        case '"':
            lbp_buf_adds(b, "&quot;");
            break;
        case '\'':
            lbp_buf_adds(b, "&apos;");
            break;
        default:
            lbp_buf_add(b, s, 1);
        }
    }
}

void fel(struct lbp_buf *b, const char *name, const char *val)
{
    lbp_buf_addf(b, "<%s>", name);
    fx(b, val ? val : "");
    lbp_buf_addf(b, "</%s>", name);
}

void feli(struct lbp_buf *b, const char *name, long val)
{
    lbp_buf_addf(b, "<%s>%ld</%s>", name, val, name);
}

int ferr(struct fake_resp *r, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    snprintf(r->code, sizeof(r->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return 0;
}

const char *fp(const struct fake_req *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->p[i].key, key) == 0)
            return r->p[i].value;
    return NULL;
}

const char *fpf(const struct fake_req *r, const char *fmt, ...)
{
    char k[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k, sizeof(k), fmt, ap);
    va_end(ap);
    return fp(r, k);
}

int fpi(const struct fake_req *r, const char *key, int def)
{
    const char *v = fp(r, key);
    long n;
    if (!v || lbp_parse_long(v, -2147483647L, 2147483647L, &n) != LBP_OK)
        return def;
    return (int)n;
}

void fake_page(const struct fake_req *q, const char *size_key, int def, const char *token_key,
               size_t n, size_t *from, size_t *to)
{
    int size = fpi(q, size_key, def), tok = fpi(q, token_key, 0);
    if (size > g_page_size)
        size = g_page_size;
    if (size < 1)
        size = 1;
    *from = (size_t)(tok > 0 ? tok : 0);
    *to = *from + (size_t)size < n ? *from + (size_t)size : n;
    if (*from > *to)
        *from = *to;
}

struct json_object *sarr(const char *name)
{
    struct json_object *a;
    if (!json_object_object_get_ex(g_state, name, &a)) {
        a = json_object_new_array();
        json_object_object_add(g_state, name, a);
    }
    return a;
}

const char *js(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

int ji(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return 0;
    return json_object_get_int(v);
}

void jset(struct json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val ? val : ""));
}

void jseti(struct json_object *o, const char *key, int val)
{
    json_object_object_add(o, key, json_object_new_int(val));
}

bool jarr_has(struct json_object *arr, const char *s)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
            return true;
    return false;
}

struct json_object *sfind(const char *arr, const char *key, const char *val, size_t *idx)
{
    struct json_object *a = sarr(arr);
    for (size_t i = 0; val && i < json_object_array_length(a); i++) {
        struct json_object *o = json_object_array_get_idx(a, i);
        if (strcmp(js(o, key), val) == 0) {
            if (idx)
                *idx = i;
            return o;
        }
    }
    return NULL;
}

/* ---- request plumbing ---- */

struct conn {
    struct lbp_buf body;
    bool toobig;
};

struct form_ctx {
    struct fake_req *q;
    size_t cap;
};

static int add_param(void *ud, char *key, char *value)
{
    struct form_ctx *c = ud;
    struct fake_req *q = c->q;
    if (q->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 32;
        struct fake_param *np = realloc(q->p, nc * sizeof(*np));
        if (!np) {
            free(key);
            free(value);
            return -1;
        }
        q->p = np;
        c->cap = nc;
    }
    q->p[q->n].key = key;
    q->p[q->n].value = value;
    q->n++;
    return 0;
}

static int parse_form(const char *body, size_t len, struct fake_req *q)
{
    struct form_ctx c = {q, 0};
    return fake_form_each(body, len, add_param, &c);
}

static void free_form(struct fake_req *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].key);
        free(q->p[i].value);
    }
    free(q->p);
}

static enum MHD_Result send_text(struct MHD_Connection *c, int status, const char *type,
                                 const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    char rid[64];
    fake_id("", rid, sizeof(rid));
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "x-amzn-RequestId", rid);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *ns_of(const char *svc)
{
    if (strcmp(svc, "elbv2") == 0)
        return "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
    if (strcmp(svc, "elb") == 0)
        return "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/";
    if (strcmp(svc, "sts") == 0)
        return "https://sts.amazonaws.com/doc/2011-06-15/";
    return "http://ec2.amazonaws.com/doc/2016-11-15/";
}

static enum MHD_Result send_error(struct MHD_Connection *c, const char *svc, int status,
                                  const char *code, const char *msg)
{
    struct lbp_buf b;
    char rid[64];
    enum MHD_Result ret;
    lbp_buf_init(&b, MAX_BODY);
    fake_id("req-", rid, sizeof(rid));
    if (strcmp(svc, "ec2") == 0) {
        lbp_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>");
        fel(&b, "Code", code);
        fel(&b, "Message", msg);
        lbp_buf_adds(&b, "</Error></Errors>");
        fel(&b, "RequestID", rid);
        lbp_buf_adds(&b, "</Response>");
    } else {
        lbp_buf_addf(&b, "<ErrorResponse xmlns=\"%s\"><Error>", ns_of(svc));
        fel(&b, "Type", status >= 500 ? "Receiver" : "Sender");
        fel(&b, "Code", code);
        fel(&b, "Message", msg);
        lbp_buf_adds(&b, "</Error>");
        fel(&b, "RequestId", rid);
        lbp_buf_adds(&b, "</ErrorResponse>");
    }
    ret = send_text(c, status, "text/xml", b.data, b.len);
    lbp_buf_free(&b);
    return ret;
}

static void count(const char *op)
{
    struct json_object *v;
    g_total++;
    if (json_object_object_get_ex(g_counters, op, &v))
        json_object_set_int(v, json_object_get_int(v) + 1);
    else
        json_object_object_add(g_counters, op, json_object_new_int(1));
}

/* ---- SigV4 verification ---- */

static void auth_failed(void)
{
    pthread_mutex_lock(&g_mu);
    g_auth_failures++;
    pthread_mutex_unlock(&g_mu);
}

struct hdr_ctx {
    struct lbp_sigv4_header *h;
    size_t n, cap;
    char names[16][64];
    size_t n_names;
    const char *date;
    const char *token;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    struct hdr_ctx *h = cls;
    if (strcasecmp(key, "x-amz-date") == 0)
        h->date = value;
    if (strcasecmp(key, "x-amz-security-token") == 0)
        h->token = value;
    for (size_t i = 0; i < h->n_names; i++) {
        if (strcasecmp(h->names[i], key) != 0 || h->n >= h->cap)
            continue;
        if (strcasecmp(key, "x-amz-date") == 0 || strcasecmp(key, "x-amz-security-token") == 0)
            continue; /* the signer adds these itself */
        h->h[h->n].name = key;
        h->h[h->n].value = value;
        h->n++;
    }
    return MHD_YES;
}

static int parse_amz_date(const char *s, int64_t *out)
{
    struct tm tm;
    char *end;
    memset(&tm, 0, sizeof(tm));
    if (!s || !(end = strptime(s, "%Y%m%dT%H%M%SZ", &tm)) || *end)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* 0 ok; else an error already sent (*ret). */
static int verify(struct MHD_Connection *c, const char *method, const char *url,
                  const struct conn *cn, const char *svc, enum MHD_Result *ret)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    char ak[64] = "", scope_date[16] = "", region[32] = "", service[48] = "", signed_h[512] = "",
         sig[80] = "";
    struct lbp_sigv4_header hv[16];
    struct hdr_ctx h = {.h = hv, .cap = 16};
    struct lbp_sigv4_request sr;
    struct lbp_sigv4_opts so;
    struct lbp_sigv4_result res;
    char err[128];
    const struct key *k = NULL;
    bool ec2 = strcmp(svc, "ec2") == 0;
    int64_t t;

    if (!auth || sscanf(auth,
                        "AWS4-HMAC-SHA256 Credential=%63[^/]/%15[^/]/%31[^/]/%47[^/]/aws4_request, "
                        "SignedHeaders=%511[^,], Signature=%79s",
                        ak, scope_date, region, service, signed_h, sig) != 6) {
        auth_failed();
        *ret =
            send_error(c, svc, ec2 ? 401 : 403, ec2 ? "AuthFailure" : "MissingAuthenticationToken",
                       "Request is missing Authentication Token");
        return -1;
    }
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n_keys; i++)
        if (strcmp(g_keys[i].ak, ak) == 0)
            k = &g_keys[i];
    pthread_mutex_unlock(&g_mu);
    if (!k) {
        auth_failed();
        *ret = send_error(c, svc, ec2 ? 401 : 403, ec2 ? "AuthFailure" : "InvalidClientTokenId",
                          ec2 ? "AWS was not able to validate the provided access credentials"
                              : "The security token included in the request is invalid.");
        return -1;
    }
    for (char *p = signed_h; *p && h.n_names < 16;) {
        char *semi = strchr(p, ';');
        size_t l = semi ? (size_t)(semi - p) : strlen(p);
        snprintf(h.names[h.n_names++], sizeof(h.names[0]), "%.*s", (int)l, p);
        p += l + (semi ? 1 : 0);
    }
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &h);
    if (k->token[0] && (!h.token || strcmp(h.token, k->token) != 0)) {
        auth_failed();
        *ret = send_error(c, svc, ec2 ? 401 : 403, ec2 ? "AuthFailure" : "InvalidClientTokenId",
                          "The security token included in the request is invalid.");
        return -1;
    }
    if (parse_amz_date(h.date, &t) != 0 || llabs((long long)(t - lbp_wall_s())) > 300) {
        auth_failed();
        *ret = send_error(c, svc, 403, ec2 ? "RequestExpired" : "SignatureDoesNotMatch",
                          "Signature expired or X-Amz-Date missing");
        return -1;
    }
    memset(&sr, 0, sizeof(sr));
    sr.method = method;
    sr.path = url;
    sr.headers = hv;
    sr.n_headers = h.n;
    sr.payload = cn->body.data;
    sr.payload_len = cn->body.len;
    memset(&so, 0, sizeof(so));
    so.region = region;
    so.service = service;
    so.access_key_id = k->ak;
    so.secret_access_key = k->sk;
    so.session_token = h.token && strstr(signed_h, "x-amz-security-token") ? h.token : NULL;
    so.time_s = t;
    if (lbp_sigv4_sign(&sr, &so, &res, err, sizeof(err)) != LBP_OK ||
        strlen(res.authorization) != strlen(auth) ||
        CRYPTO_memcmp(res.authorization, auth, strlen(auth)) != 0 ||
        strcmp(region, g_region) != 0) {
        lbp_sigv4_result_free(&res);
        auth_failed();
        *ret = send_error(c, svc, 403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not match the signature you "
                          "provided. Check your AWS Secret Access Key and signing method.");
        return -1;
    }
    lbp_sigv4_result_free(&res);
    return 0;
}

/* ---- STS and IMDS ---- */

static void new_temp_key(struct key *out)
{
    unsigned char r[24];
    FILE *f = fopen("/dev/urandom", "re");
    size_t got = f ? fread(r, 1, sizeof(r), f) : 0;
    if (f)
        fclose(f);
    for (size_t i = got; i < sizeof(r); i++)
        r[i] = (unsigned char)rand();
    memset(out, 0, sizeof(*out));
    fake_id("ASIA", out->ak, sizeof(out->ak));
    for (size_t i = 0; i < 20; i++)
        snprintf(out->sk + 2 * i, 3, "%02x", r[i % sizeof(r)] ^ (unsigned)i);
    snprintf(out->token, sizeof(out->token), "FQoTOKEN%02x%02x%02x%02x%s", r[20], r[21], r[22],
             r[23], out->ak);
    pthread_mutex_lock(&g_mu);
    if (g_n_keys < MAX_KEYS)
        g_keys[g_n_keys++] = *out;
    pthread_mutex_unlock(&g_mu);
}

static enum MHD_Result sts(struct MHD_Connection *c, const struct fake_req *q)
{
    const char *tok = fp(q, "WebIdentityToken"), *role = fp(q, "RoleArn");
    struct key k;
    struct lbp_buf b;
    char exp[32], rid[64];
    enum MHD_Result ret;
    if (!q->action || strcmp(q->action, "AssumeRoleWithWebIdentity") != 0)
        return send_error(c, "sts", 400, "InvalidAction", "unsupported STS action");
    if (!tok || !*tok || !role || !*role ||
        (g_expected_wi_token && strcmp(tok, g_expected_wi_token)))
        return send_error(c, "sts", 400, "InvalidIdentityToken",
                          "Couldn't retrieve verification key from your identity provider");
    new_temp_key(&k);
    lbp_rfc3339(lbp_wall_s() + g_temp_ttl_s, exp);
    fake_id("", rid, sizeof(rid));
    lbp_buf_init(&b, MAX_BODY);
    lbp_buf_addf(
        &b, "<AssumeRoleWithWebIdentityResponse xmlns=\"%s\"><AssumeRoleWithWebIdentityResult>",
        ns_of("sts"));
    lbp_buf_adds(&b, "<Credentials>");
    fel(&b, "AccessKeyId", k.ak);
    fel(&b, "SecretAccessKey", k.sk);
    fel(&b, "SessionToken", k.token);
    fel(&b, "Expiration", exp);
    lbp_buf_adds(&b, "</Credentials><AssumedRoleUser>");
    fel(&b, "Arn", role);
    lbp_buf_adds(&b, "</AssumedRoleUser>");
    lbp_buf_adds(&b, "</AssumeRoleWithWebIdentityResult><ResponseMetadata>");
    fel(&b, "RequestId", rid);
    lbp_buf_adds(&b, "</ResponseMetadata></AssumeRoleWithWebIdentityResponse>");
    ret = send_text(c, 200, "text/xml", b.data, b.len);
    lbp_buf_free(&b);
    return ret;
}

#define IMDS_ROLE "lbprov-node-role"
static char g_imds_token[64];

static enum MHD_Result imds(struct MHD_Connection *c, const char *method, const char *url)
{
    const char *tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");
    pthread_mutex_lock(&g_mu);
    count(strcmp(method, "PUT") == 0 ? "IMDSToken" : "IMDSGet");
    pthread_mutex_unlock(&g_mu);
    if (strcmp(url, "/latest/api/token") == 0) {
        const char *ttl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token-ttl-seconds");
        if (strcmp(method, "PUT") != 0)
            return send_text(c, 405, "text/plain", "", 0);
        if (!ttl)
            return send_text(c, 400, "text/plain", "", 0);
        pthread_mutex_lock(&g_mu);
        if (!g_imds_token[0])
            fake_id("imds-", g_imds_token, sizeof(g_imds_token));
        pthread_mutex_unlock(&g_mu);
        return send_text(c, 200, "text/plain", g_imds_token, strlen(g_imds_token));
    }
    if (!tok || !g_imds_token[0] || strcmp(tok, g_imds_token) != 0)
        return send_text(c, 401, "text/plain", "", 0);
    if (strcmp(url, "/latest/meta-data/placement/region") == 0)
        return send_text(c, 200, "text/plain", g_region, strlen(g_region));
    if (strcmp(url, "/latest/meta-data/iam/security-credentials/") == 0)
        return send_text(c, 200, "text/plain", IMDS_ROLE, strlen(IMDS_ROLE));
    if (strcmp(url, "/latest/meta-data/iam/security-credentials/" IMDS_ROLE) == 0) {
        struct key k;
        char exp[32], body[1024], now[32];
        int n;
        new_temp_key(&k);
        lbp_rfc3339(lbp_wall_s() + g_temp_ttl_s, exp);
        lbp_rfc3339(lbp_wall_s(), now);
        n = snprintf(body, sizeof(body),
                     "{\"Code\":\"Success\",\"LastUpdated\":\"%s\",\"Type\":\"AWS-HMAC\","
                     "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Token\":\"%s\","
                     "\"Expiration\":\"%s\"}",
                     now, k.ak, k.sk, k.token, exp);
        return send_text(c, 200, "text/plain", body, (size_t)n);
    }
    return send_text(c, 404, "text/plain", "", 0);
}

/* ---- control ---- */

static enum MHD_Result send_json(struct MHD_Connection *c, int status, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    return send_text(c, status, "application/json", s, strlen(s));
}

static void merge_seed(struct json_object *seed)
{
    json_object_object_foreach(seed, key, val)
    {
        if (!json_object_is_type(val, json_type_array))
            continue;
        for (size_t i = 0; i < json_object_array_length(val); i++)
            json_object_array_add(sarr(key), json_object_get(json_object_array_get_idx(val, i)));
    }
}

/* A percentage 0..100 from a JSON value; out of range is clamped. */
static int pct(struct json_object *v)
{
    int n = json_object_get_int(v);
    return n < 0 ? 0 : n > 100 ? 100 : n;
}

static enum MHD_Result control(struct MHD_Connection *c, const char *method, const char *url,
                               const struct conn *cn)
{
    struct json_object *in = NULL, *out = NULL;
    enum MHD_Result ret;
    if (strcmp(method, "POST") == 0) {
        in = json_tokener_parse(cn->body.data ? cn->body.data : "{}");
        if (!in || !json_object_is_type(in, json_type_object)) {
            json_object_put(in);
            return send_text(c, 400, "text/plain", "bad json\n", 9);
        }
    }
    pthread_mutex_lock(&g_mu);
    if (strcmp(url, "/_fake/state") == 0) {
        ret = send_json(c, 200, g_state);
    } else if (strcmp(url, "/_fake/counters") == 0) {
        out = json_object_new_object();
        json_object_object_add(out, "ops", json_object_get(g_counters));
        json_object_object_add(out, "total", json_object_new_int64(g_total));
        json_object_object_add(out, "throttled", json_object_new_int64(g_throttled));
        json_object_object_add(out, "injected", json_object_new_int64(g_injected));
        json_object_object_add(out, "lost_replies", json_object_new_int64(g_lost_replies));
        json_object_object_add(out, "auth_failures", json_object_new_int64(g_auth_failures));
        json_object_object_add(out, "targets_registered",
                               json_object_new_int64(g_targets_registered));
        json_object_object_add(out, "targets_deregistered",
                               json_object_new_int64(g_targets_deregistered));
        json_object_object_add(out, "sgs_described", json_object_new_int64(g_sgs_described));
        ret = send_json(c, 200, out);
    } else if (strcmp(url, "/_fake/reset-counters") == 0 && in) {
        json_object_put(g_counters);
        g_counters = json_object_new_object();
        g_total = g_throttled = g_auth_failures = g_injected = g_lost_replies = 0;
        g_targets_registered = g_targets_deregistered = 0;
        g_sgs_described = 0;
        ret = send_text(c, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(url, "/_fake/seed") == 0 && in) {
        merge_seed(in);
        ret = send_text(c, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(url, "/_fake/config") == 0 && in) {
        struct json_object *v;
        if (json_object_object_get_ex(in, "latency_ms", &v))
            g_latency_ms = json_object_get_int(v);
        if (json_object_object_get_ex(in, "consistency_ms", &v))
            g_consistency_ms = json_object_get_int(v);
        if (json_object_object_get_ex(in, "page_size", &v))
            g_page_size = json_object_get_int(v) > 0 ? json_object_get_int(v) : 400;
        if (json_object_object_get_ex(in, "temp_ttl_s", &v))
            g_temp_ttl_s = json_object_get_int(v);
        if (json_object_object_get_ex(in, "error_pct", &v))
            g_error_pct = pct(v);
        if (json_object_object_get_ex(in, "throttle_pct", &v))
            g_throttle_pct = pct(v);
        if (json_object_object_get_ex(in, "lost_reply_pct", &v))
            g_lost_reply_pct = pct(v);
        if (json_object_object_get_ex(in, "sg_rules_max", &v))
            g_sg_rules_max = json_object_get_int(v) > 0 ? json_object_get_int(v) : 60;
        if (json_object_object_get_ex(in, "seed", &v))
            g_rand_seed = (unsigned int)json_object_get_int64(v);
        ret = send_text(c, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(url, "/_fake/fault") == 0 && in) {
        struct json_object *v;
        if (g_n_faults < MAX_FAULTS) {
            struct fault *f = &g_faults[g_n_faults++];
            memset(f, 0, sizeof(*f));
            snprintf(f->op, sizeof(f->op), "%s", js(in, "op"));
            snprintf(f->service, sizeof(f->service), "%s", js(in, "service"));
            snprintf(f->code, sizeof(f->code), "%s", js(in, "code"));
            f->status = ji(in, "status") ? ji(in, "status") : 400;
            f->count = ji(in, "count") ? ji(in, "count") : 1;
            f->lose_reply =
                json_object_object_get_ex(in, "lose_reply", &v) && json_object_get_boolean(v);
        }
        ret = send_text(c, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(url, "/_fake/clear-faults") == 0 && in) {
        g_n_faults = 0;
        ret = send_text(c, 200, "text/plain", "ok\n", 3);
    } else {
        ret = send_text(c, 404, "text/plain", "no such control\n", 16);
    }
    pthread_mutex_unlock(&g_mu);
    json_object_put(in);
    json_object_put(out);
    return ret;
}

/* ---- the API ---- */

static const char *service_of(const char *version)
{
    if (!version)
        return NULL;
    if (strcmp(version, "2015-12-01") == 0)
        return "elbv2";
    if (strcmp(version, "2012-06-01") == 0)
        return "elb";
    if (strcmp(version, "2016-11-15") == 0)
        return "ec2";
    if (strcmp(version, "2011-06-15") == 0)
        return "sts";
    return NULL;
}

/* A queued fault of that kind for this call, consumed; false when none. */
static bool take_fault(const struct fake_req *q, bool lose_reply, struct fault *out)
{
    for (size_t i = 0; i < g_n_faults; i++) {
        struct fault *f = &g_faults[i];
        if (f->count <= 0)
            continue;
        if (f->op[0] && strcmp(f->op, q->action) != 0)
            continue;
        if (f->service[0] && strcmp(f->service, q->service) != 0)
            continue;
        if (f->lose_reply != lose_reply)
            continue;
        f->count--;
        *out = *f;
        return true;
    }
    return false;
}

/* Everything but Describe* changes state. */
static bool is_write(const char *action)
{
    return strncmp(action, "Describe", 8) != 0;
}

/*
 * Caller holds g_mu. Fails this call at the configured rates with what AWS
 * answers under load: throttling (Query APIs: 400 Throttling; EC2: 503
 * RequestLimitExceeded) or an internal error (500/503).
 */
static bool random_fault(const struct fake_req *q, struct fake_resp *r)
{
    bool ec2 = strcmp(q->service, "ec2") == 0;
    int roll;
    if (!g_error_pct && !g_throttle_pct)
        return false;
    roll = (int)(rand_r(&g_rand_seed) % 100);
    if (roll < g_throttle_pct) {
        g_throttled++;
        g_injected++;
        if (ec2)
            ferr(r, 503, "RequestLimitExceeded", "Request limit exceeded.");
        else
            ferr(r, 400, "Throttling", "Rate exceeded");
        return true;
    }
    if (roll < g_throttle_pct + g_error_pct) {
        g_injected++;
        if (roll % 2)
            ferr(r, 503, "ServiceUnavailable", "Service is unavailable. Please try again.");
        else
            ferr(r, 500, ec2 ? "InternalError" : "InternalFailure",
                 "We encountered an internal error. Please try again.");
        return true;
    }
    return false;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static enum MHD_Result api(struct MHD_Connection *c, const char *method, const char *url,
                           struct conn *cn)
{
    struct fake_req q = {0};
    struct fake_resp r;
    struct fault f;
    enum MHD_Result ret = MHD_NO;
    int latency;
    bool handled = false, lose = false;

    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        return send_error(c, "elbv2", 400, "InvalidAction", "use POST");
    if (parse_form(cn->body.data ? cn->body.data : "", cn->body.len, &q) != 0) {
        free_form(&q);
        return send_error(c, "elbv2", 500, "InternalFailure", "out of memory");
    }
    q.action = fp(&q, "Action");
    q.service = service_of(fp(&q, "Version"));
    if (!q.action || !q.service) {
        ret =
            send_error(c, "elbv2", 400, "MissingAction", "Action and a known Version are required");
        goto out;
    }
    if (strcmp(q.service, "sts") == 0) {
        pthread_mutex_lock(&g_mu);
        count(q.action);
        pthread_mutex_unlock(&g_mu);
        ret = sts(c, &q);
        goto out;
    }
    if (verify(c, method, url, cn, q.service, &ret) != 0)
        goto out;

    pthread_mutex_lock(&g_mu);
    count(q.action);
    latency = g_latency_ms;
    pthread_mutex_unlock(&g_mu);
    if (latency)
        sleep_ms(latency);

    memset(&r, 0, sizeof(r));
    lbp_buf_init(&r.body, 16u << 20);
    r.status = 200;
    pthread_mutex_lock(&g_mu);
    if (take_fault(&q, false, &f)) {
        if (strstr(f.code, "Throttl") || strcmp(f.code, "RequestLimitExceeded") == 0)
            g_throttled++;
        g_injected++;
        ferr(&r, f.status, f.code, "injected fault");
        handled = true;
    } else if (random_fault(&q, &r)) {
        handled = true;
    } else if (strcmp(q.service, "elbv2") == 0) {
        handled = ops_elbv2(&q, &r);
    } else if (strcmp(q.service, "elb") == 0) {
        handled = ops_elb(&q, &r);
    } else {
        handled = ops_ec2(&q, &r);
    }
    /*
     * A lost reply: the write is done, the client never hears of it (as
     * when a connection breaks after AWS committed the call), so its retry
     * must find the result instead of making a second one.
     */
    if (handled && r.status == 200 && is_write(q.action) &&
        (take_fault(&q, true, &f) ||
         (g_lost_reply_pct && (int)(rand_r(&g_rand_seed) % 100) < g_lost_reply_pct))) {
        g_lost_replies++;
        lose = true;
    }
    pthread_mutex_unlock(&g_mu);
    if (lose) {
        ret = MHD_NO; /* libmicrohttpd closes the connection without a response */
    } else if (!handled) {
        ret = send_error(c, q.service, 400, "InvalidAction",
                         "The action is not valid for this web service.");
    } else if (r.status != 200) {
        ret = send_error(c, q.service, r.status, r.code, r.msg);
    } else {
        struct lbp_buf b;
        char rid[64];
        lbp_buf_init(&b, 32u << 20);
        fake_id("", rid, sizeof(rid));
        if (strcmp(q.service, "ec2") == 0) {
            lbp_buf_addf(&b,
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%sResponse xmlns=\"%s\">",
                         q.action, ns_of("ec2"));
            fel(&b, "requestId", rid);
            lbp_buf_add(&b, r.body.data ? r.body.data : "", r.body.len);
            lbp_buf_addf(&b, "</%sResponse>", q.action);
        } else {
            lbp_buf_addf(&b, "<%sResponse xmlns=\"%s\"><%sResult>", q.action, ns_of(q.service),
                         q.action);
            lbp_buf_add(&b, r.body.data ? r.body.data : "", r.body.len);
            lbp_buf_addf(&b, "</%sResult><ResponseMetadata>", q.action);
            fel(&b, "RequestId", rid);
            lbp_buf_addf(&b, "</ResponseMetadata></%sResponse>", q.action);
        }
        ret = send_text(c, 200, "text/xml", b.data ? b.data : "", b.len);
        lbp_buf_free(&b);
    }
    lbp_buf_free(&r.body);
out:
    free_form(&q);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct conn *cn = *con_cls;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (!cn)
            return MHD_NO;
        lbp_buf_init(&cn->body, MAX_BODY);
        *con_cls = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (lbp_buf_add(&cn->body, upload, *upload_size) != LBP_OK)
            cn->toobig = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->toobig)
        return send_text(c, 413, "text/plain", "too big\n", 8);
    if (strncmp(url, "/_fake/", 7) == 0)
        return control(c, method, url, cn);
    if (strncmp(url, "/latest/", 8) == 0)
        return imds(c, method, url);
    return api(c, method, url, cn);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    if (cn) {
        lbp_buf_free(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's messages, except the one every lost reply causes on purpose. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    if (!strstr(line, "reported internal error"))
        fputs(line, stderr);
}

static volatile sig_atomic_t g_stop;
static void on_signal(int s)
{
    g_stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: fake-aws [--port N] [--access-key AK --secret-key SK] [--region R]\n"
                    "                [--seed FILE.json] [--page-size N] [--latency-ms N]\n"
                    "                [--web-identity-token T]\n");
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    long port = 0;
    const char *seed = NULL;
    struct sockaddr_in sa;

    snprintf(g_keys[0].ak, sizeof(g_keys[0].ak), "AKIDFAKEAWS");
    snprintf(g_keys[0].sk, sizeof(g_keys[0].sk), "fake/secret/key/for/tests");
    g_n_keys = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!v) {
            usage();
            return 2;
        }
        if (strcmp(a, "--port") == 0 && lbp_parse_long(v, 0, 65535, &port) == LBP_OK)
            ;
        else if (strcmp(a, "--access-key") == 0)
            snprintf(g_keys[0].ak, sizeof(g_keys[0].ak), "%s", v);
        else if (strcmp(a, "--secret-key") == 0)
            snprintf(g_keys[0].sk, sizeof(g_keys[0].sk), "%s", v);
        else if (strcmp(a, "--region") == 0)
            snprintf(g_region, sizeof(g_region), "%s", v);
        else if (strcmp(a, "--seed") == 0)
            seed = v;
        else if (strcmp(a, "--page-size") == 0 && lbp_parse_long(v, 1, 1000, &n) == LBP_OK)
            g_page_size = (int)n;
        else if (strcmp(a, "--latency-ms") == 0 && lbp_parse_long(v, 0, 60000, &n) == LBP_OK)
            g_latency_ms = (int)n;
        else if (strcmp(a, "--web-identity-token") == 0)
            g_expected_wi_token = v;
        else {
            usage();
            return 2;
        }
        i++;
    }
    g_state = json_object_new_object();
    g_counters = json_object_new_object();
    if (seed) {
        struct json_object *s = json_object_from_file(seed);
        if (!s) {
            fprintf(stderr, "fake-aws: cannot read seed %s\n", seed);
            return 1;
        }
        merge_seed(s);
        json_object_put(s);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_USE_ERROR_LOG,
                         0, NULL, NULL, handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                         MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake-aws: cannot listen\n");
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on http://127.0.0.1:%u\n", info ? info->port : 0);
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    while (!g_stop)
        pause();
    MHD_stop_daemon(d);
    json_object_put(g_state);
    json_object_put(g_counters);
    return 0;
}
