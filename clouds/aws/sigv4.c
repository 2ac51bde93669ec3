/*
 * sigv4.c — AWS Signature Version 4 (see sigv4.h).
 *
 * canonical request = method \n canonical URI \n canonical query \n
 *                     canonical headers (each "name:value\n") \n signed names \n payload hash
 * string to sign    = "AWS4-HMAC-SHA256" \n amzdate \n scope \n hex(SHA-256(canonical request))
 * signing key       = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request"
 *
 * Paths are normalised (dot segments, repeated slashes) and their bytes
 * encoded again for every service but S3; query names and values are
 * decoded and re-encoded so the same parameter signs the same whether or
 * not the caller pre-encoded it. Everything is built in capped buffers, and
 * key material is wiped from the stack once used.
 */
#include "clouds/aws/sigv4.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/buf.h"
#include "common/rc.h"
#include "common/sha256.h"
#include "common/util.h"

#define SIGV4_MAX (1u << 20) /* cap on the canonical request and its parts */

static const char *const owned_headers[] = {"x-amz-date", "x-amz-security-token",
                                            "x-amz-content-sha256", "authorization"};

/* A capped buffer with a sticky error, so building text needs one check at the end. */
struct sb {
    struct lbp_buf b;
    int rc;
};

static void sb_init(struct sb *s)
{
    lbp_buf_init(&s->b, SIGV4_MAX);
    s->rc = LBP_OK;
}

static void sb_add(struct sb *s, const void *p, size_t n)
{
    if (s->rc == LBP_OK)
        s->rc = lbp_buf_add(&s->b, p, n);
}

static void sb_adds(struct sb *s, const char *p)
{
    sb_add(s, p, strlen(p));
}

static void sb_addc(struct sb *s, char c)
{
    sb_add(s, &c, 1);
}

static void hmac(const void *key, size_t keylen, const void *msg, size_t msglen,
                 unsigned char out[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &n);
}

/* ------------------------------------------------------------ encoding */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

static void uri_encode(struct sb *s, const char *p, size_t n, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            sb_addc(s, (char)c);
        } else {
            char e[3] = {'%', digits[c >> 4], digits[c & 15]};
            sb_add(s, e, 3);
        }
    }
}

/* %XX-decodes in place (a '%' not followed by two hex digits stays literal); returns the length. */
static size_t pct_decode(char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (p[i] == '%' && i + 2 < n && (h = lbp_hexval(p[i + 1])) >= 0 &&
            (l = lbp_hexval(p[i + 2])) >= 0) {
            p[o++] = (char)(h << 4 | l);
            i += 2;
        } else {
            p[o++] = p[i];
        }
    }
    return o;
}

/* ------------------------------------------------------------ URI */

/* Dot segments and empty segments removed; the trailing slash kept (botocore's normpath rule). */
static void canonical_path(struct sb *s, const char *path, bool s3)
{
    const char **seg = NULL;
    size_t *len = NULL, n = 0, plen;
    const char *p;

    if (!path || !*path)
        path = "/";
    plen = strlen(path);
    if (s3) {
        /* The object key as is: decode what the caller encoded, encode once. */
        char *copy = strdup(path);
        if (!copy) {
            s->rc = LBP_NOMEM;
            return;
        }
        size_t m = pct_decode(copy, plen);
        if (copy[0] != '/')
            sb_addc(s, '/');
        uri_encode(s, copy, m, true);
        free(copy);
        return;
    }
    seg = calloc(plen + 1, sizeof(*seg));
    len = calloc(plen + 1, sizeof(*len));
    if (!seg || !len) {
        s->rc = LBP_NOMEM;
        goto out;
    }
    for (p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.')) {
            /* skip */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (n > 0)
                n--;
        } else {
            seg[n] = p;
            len[n++] = l;
        }
        p += l;
        if (*p == '/')
            p++;
    }
    sb_addc(s, '/');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sb_addc(s, '/');
        uri_encode(s, seg[i], len[i], false);
    }
    if (n > 0 && path[plen - 1] == '/')
        sb_addc(s, '/');
out:
    free(seg);
    free(len);
}

struct qparam {
    char *name; /* encoded */
    char *value;
};

static int qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *p, size_t n, int *rc)
{
    struct sb s;
    char *copy = strndup(p, n), *r = NULL;
    size_t m;
    if (!copy) {
        *rc = LBP_NOMEM;
        return NULL;
    }
    m = pct_decode(copy, n);
    sb_init(&s);
    uri_encode(&s, copy, m, false);
    sb_add(&s, "", 0); /* an empty value still gets an allocation */
    free(copy);
    if (s.rc == LBP_OK)
        r = lbp_buf_take(&s.b, NULL);
    else
        *rc = s.rc;
    lbp_buf_free(&s.b);
    if (!r && *rc == LBP_OK)
        *rc = LBP_NOMEM;
    return r;
}

static void canonical_query(struct sb *s, const char *query)
{
    struct qparam *q = NULL;
    size_t n = 0, cap = 0;
    int rc = LBP_OK;

    if (!query || !*query)
        return;
    for (const char *p = query; *p && rc == LBP_OK;) {
        size_t l = strcspn(p, "&");
        if (l > 0) {
            const char *eq = memchr(p, '=', l);
            size_t nl = eq ? (size_t)(eq - p) : l;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct qparam *g = realloc(q, nc * sizeof(*q));
                if (!g) {
                    rc = LBP_NOMEM;
                    break;
                }
                q = g;
                cap = nc;
            }
            q[n].name = encode_dup(p, nl, &rc);
            q[n].value = eq ? encode_dup(eq + 1, l - nl - 1, &rc) : strdup("");
            n++;
            if (rc == LBP_OK && (!q[n - 1].name || !q[n - 1].value))
                rc = LBP_NOMEM;
        }
        p += l;
        if (*p == '&')
            p++;
    }
    if (rc == LBP_OK) {
        qsort(q, n, sizeof(*q), qparam_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                sb_addc(s, '&');
            sb_adds(s, q[i].name);
            sb_addc(s, '=');
            sb_adds(s, q[i].value);
        }
    } else {
        s->rc = rc;
    }
    for (size_t i = 0; i < n; i++) {
        free(q[i].name);
        free(q[i].value);
    }
    free(q);
}

/* ------------------------------------------------------------ headers */

struct hdr {
    char *name; /* lower case */
    const char *value;
    size_t order; /* position given, so repeated headers keep their order */
};

static int hdr_cmp(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool valid_name(const char *n)
{
    if (!n || !*n)
        return false;
    for (; *n; n++)
        if (*n <= ' ' || *n == ':' || (unsigned char)*n >= 0x7f)
            return false;
    return true;
}

/* Trimmed, with every run of whitespace (including folded lines) one space. */
static void add_header_value(struct sb *s, const char *v)
{
    bool space = false, started = false;
    for (; v && *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n') {
            space = started;
            continue;
        }
        if (space)
            sb_addc(s, ' ');
        sb_addc(s, *v);
        space = false;
        started = true;
    }
}

/* ------------------------------------------------------------ sign */

void lbp_sigv4_result_free(struct lbp_sigv4_result *r)
{
    if (!r)
        return;
    free(r->canonical_request);
    free(r->string_to_sign);
    free(r->authorization);
    for (size_t i = 0; i < LBP_SIGV4_MAX_EXTRA + 1; i++)
        free(r->headers[i]);
    memset(r, 0, sizeof(*r));
}

static char *fmt_dup(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *fmt_dup(const char *fmt, ...)
{
    va_list ap;
    char *r = NULL;
    va_start(ap, fmt);
    if (vasprintf(&r, fmt, ap) < 0)
        r = NULL;
    va_end(ap);
    return r;
}

int lbp_sigv4_sign(const struct lbp_sigv4_request *req, const struct lbp_sigv4_opts *opts,
                   struct lbp_sigv4_result *out, char *err, size_t errlen)
{
    struct hdr *h = NULL;
    size_t nh = 0, nx = 0;
    struct sb creq, sts, signed_names;
    char payload_hash[65], creq_hash[65], datestamp[9], sig[65];
    unsigned char k1[32], k2[32], mac[32];
    char *key0 = NULL;
    size_t key0_len;
    bool have_host = false;
    struct tm tm;
    time_t t;
    int rc = LBP_OK;

    memset(out, 0, sizeof(*out));
    sb_init(&creq);
    sb_init(&sts);
    sb_init(&signed_names);
    if (!req->method || !*req->method || !opts->region || !*opts->region || !opts->service ||
        !*opts->service || !opts->access_key_id || !*opts->access_key_id ||
        !opts->secret_access_key || !*opts->secret_access_key) {
        lbp_seterr(err, errlen, "sigv4: method, region, service and credentials are required");
        rc = LBP_INVALID;
        goto out;
    }

    t = opts->time_s ? (time_t)opts->time_s : time(NULL);
    gmtime_r(&t, &tm);
    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm);
    memcpy(datestamp, out->amz_date, 8);
    datestamp[8] = 0;

    if (opts->payload_hash)
        lbp_strlcpy(payload_hash, opts->payload_hash, sizeof(payload_hash));
    else
        lbp_sha256_hex(req->payload, req->payload_len, payload_hash);

    /* The request's headers plus the ones the signer owns. */
    h = calloc(req->n_headers + 3, sizeof(*h));
    if (!h) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *name = req->headers[i].name;
        if (!valid_name(name)) {
            lbp_seterr(err, errlen, "sigv4: header %zu: invalid name", i);
            rc = LBP_INVALID;
            goto out;
        }
        for (size_t j = 0; j < LBP_ARRAY_LEN(owned_headers); j++) {
            if (strcasecmp(name, owned_headers[j]) == 0) {
                lbp_seterr(err, errlen, "sigv4: header %s is set by the signer", owned_headers[j]);
                rc = LBP_INVALID;
                goto out;
            }
        }
        have_host = have_host || strcasecmp(name, "host") == 0;
        h[nh].name = strdup(name);
        if (!h[nh].name) {
            rc = LBP_NOMEM;
            goto out;
        }
        for (char *p = h[nh].name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        h[nh].value = req->headers[i].value ? req->headers[i].value : "";
        h[nh].order = nh;
        nh++;
    }
    if (!have_host) {
        lbp_seterr(err, errlen, "sigv4: the request has no Host header");
        rc = LBP_INVALID;
        goto out;
    }
    h[nh] = (struct hdr){.name = strdup("x-amz-date"), .value = out->amz_date, .order = nh};
    nh++;
    if (opts->session_token) {
        h[nh] = (struct hdr){
            .name = strdup("x-amz-security-token"), .value = opts->session_token, .order = nh};
        nh++;
    }
    if (opts->content_sha256) {
        h[nh] = (struct hdr){
            .name = strdup("x-amz-content-sha256"), .value = payload_hash, .order = nh};
        nh++;
    }
    for (size_t i = 0; i < nh; i++)
        if (!h[i].name) {
            rc = LBP_NOMEM;
            goto out;
        }
    qsort(h, nh, sizeof(*h), hdr_cmp);

    /* Canonical request. */
    for (const char *m = req->method; *m; m++)
        sb_addc(&creq, (char)toupper((unsigned char)*m));
    sb_addc(&creq, '\n');
    canonical_path(&creq, req->path, opts->s3_path);
    sb_addc(&creq, '\n');
    canonical_query(&creq, req->query);
    sb_addc(&creq, '\n');
    for (size_t i = 0; i < nh; i++) {
        bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same) {
            sb_addc(&creq, ','); /* repeated headers: one line, values in the order given */
        } else {
            if (i > 0)
                sb_addc(&creq, '\n');
            sb_adds(&creq, h[i].name);
            sb_addc(&creq, ':');
            if (signed_names.b.len)
                sb_addc(&signed_names, ';');
            sb_adds(&signed_names, h[i].name);
        }
        add_header_value(&creq, h[i].value);
    }
    sb_adds(&creq, "\n\n");
    sb_add(&creq, signed_names.b.data, signed_names.b.len);
    sb_addc(&creq, '\n');
    sb_adds(&creq, payload_hash);
    if ((rc = creq.rc) != LBP_OK || (rc = signed_names.rc) != LBP_OK) {
        lbp_seterr(err, errlen, "sigv4: canonical request too large");
        goto out;
    }

    /* String to sign. */
    lbp_sha256_hex(creq.b.data, creq.b.len, creq_hash);
    sb_adds(&sts, "AWS4-HMAC-SHA256\n");
    sb_adds(&sts, out->amz_date);
    sb_addc(&sts, '\n');
    sb_adds(&sts, datestamp);
    sb_addc(&sts, '/');
    sb_adds(&sts, opts->region);
    sb_addc(&sts, '/');
    sb_adds(&sts, opts->service);
    sb_adds(&sts, "/aws4_request\n");
    sb_adds(&sts, creq_hash);
    if ((rc = sts.rc) != LBP_OK)
        goto out;

    /* Signing key and signature. */
    key0 = fmt_dup("AWS4%s", opts->secret_access_key);
    if (!key0) {
        rc = LBP_NOMEM;
        goto out;
    }
    key0_len = strlen(key0);
    hmac(key0, key0_len, datestamp, 8, k1);
    hmac(k1, 32, opts->region, strlen(opts->region), k2);
    hmac(k2, 32, opts->service, strlen(opts->service), k1);
    hmac(k1, 32, "aws4_request", 12, k2);
    hmac(k2, 32, sts.b.data, sts.b.len, mac);
    lbp_hex(mac, 32, sig);

    out->authorization = fmt_dup("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                                 "SignedHeaders=%s, Signature=%s",
                                 opts->access_key_id, datestamp, opts->region, opts->service,
                                 signed_names.b.data, sig);
    out->headers[nx++] = fmt_dup("X-Amz-Date: %s", out->amz_date);
    if (opts->session_token)
        out->headers[nx++] = fmt_dup("X-Amz-Security-Token: %s", opts->session_token);
    if (opts->content_sha256)
        out->headers[nx++] = fmt_dup("X-Amz-Content-Sha256: %s", payload_hash);
    out->headers[nx] = out->authorization ? fmt_dup("Authorization: %s", out->authorization) : NULL;
    out->canonical_request = lbp_buf_take(&creq.b, NULL);
    out->string_to_sign = lbp_buf_take(&sts.b, NULL);
    if (!out->authorization || !out->canonical_request || !out->string_to_sign)
        rc = LBP_NOMEM;
    for (size_t i = 0; i <= nx; i++)
        if (!out->headers[i])
            rc = LBP_NOMEM;
out:
    if (key0) {
        OPENSSL_cleanse(key0, strlen(key0));
        free(key0);
    }
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(mac, sizeof(mac));
    OPENSSL_cleanse(sig, sizeof(sig));
    for (size_t i = 0; h && i < nh; i++)
        free(h[i].name);
    free(h);
    lbp_buf_free(&creq.b);
    lbp_buf_free(&sts.b);
    lbp_buf_free(&signed_names.b);
    if (rc != LBP_OK)
        lbp_sigv4_result_free(out);
    return rc;
}
