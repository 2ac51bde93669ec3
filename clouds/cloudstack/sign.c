/*
 * sign.c — CloudStack request signing, as the management server checks it
 * (cloud-apis.md 4.1).
 *
 * The server takes every parameter but "signature", sorts the names
 * byte-wise as received, writes name=value with each value encoded by
 * Java's URLEncoder (A-Za-z0-9 . - * _ kept, space as "+" then turned into
 * "%20", every other byte %XX), joins them with '&', lower-cases the whole
 * string and compares Base64(HMAC-SHA1(secret, string)). The wire encoding
 * of the query is independent of that (RFC 3986 here): the server decodes
 * first, so the string to sign is built from decoded values. Names are
 * sent in lower case (apikey, not apiKey) so the byte-wise order and the
 * lower-cased one agree.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "clouds/cloudstack/cs_int.h"
#include "common/rc.h"
#include "common/util.h"

#define CS_MAX_PARAMS 512
#define CS_MAX_QUERY (1u << 20)

struct pair {
    char *name;
    char *value;
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..len) into out (len + 1 bytes) as a servlet reads a query: %XX, '+' a space. */
static void decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0) {
            out[o++] =
                (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->name, ((const struct pair *)b)->name);
}

/* Java URLEncoder, with its "+" for a space written as "%20" as the server does. */
static int java_encode(struct lbp_buf *b, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = LBP_OK;
    for (const unsigned char *p = (const unsigned char *)v; *p && rc == LBP_OK; p++) {
        if (isalnum(*p) && *p < 0x80)
            rc = lbp_buf_add(b, p, 1);
        else if (*p == '.' || *p == '-' || *p == '*' || *p == '_')
            rc = lbp_buf_add(b, p, 1);
        else if (*p == ' ')
            rc = lbp_buf_adds(b, "%20");
        else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = lbp_buf_add(b, e, 3);
        }
    }
    return rc;
}

int lbp_cs_string_to_sign(const char *query, struct lbp_buf *out)
{
    struct pair *p = NULL;
    size_t n = 0;
    char *copy = NULL;
    int rc = LBP_OK;

    lbp_buf_init(out, CS_MAX_QUERY);
    if (strlen(query) >= CS_MAX_QUERY)
        return LBP_TOOBIG;
    p = calloc(CS_MAX_PARAMS, sizeof(*p));
    copy = lbp_strdup(query);
    if (!p || !copy) {
        rc = LBP_NOMEM;
        goto out;
    }
    for (char *s = copy; *s;) {
        size_t len = strcspn(s, "&");
        char *eq = memchr(s, '=', len);
        char *next = s[len] ? s + len + 1 : s + len;
        if (len == 0) {
            s = next;
            continue;
        }
        if (n == CS_MAX_PARAMS) {
            rc = LBP_TOOBIG;
            goto out;
        }
        s[len] = '\0';
        if (eq)
            *eq = '\0';
        p[n].name = malloc(strlen(s) + 1);
        p[n].value = malloc(eq ? strlen(eq + 1) + 1 : 1);
        if (!p[n].name || !p[n].value) {
            free(p[n].name);
            free(p[n].value);
            rc = LBP_NOMEM;
            goto out;
        }
        decode(s, strlen(s), p[n].name);
        decode(eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0, p[n].value);
        n++;
        s = next;
    }
    qsort(p, n, sizeof(*p), by_name);
    for (size_t i = 0; i < n && rc == LBP_OK; i++) {
        if (strcmp(p[i].name, "signature") == 0)
            continue;
        if (out->len)
            rc = lbp_buf_adds(out, "&");
        if (rc == LBP_OK)
            rc = lbp_buf_addf(out, "%s=", p[i].name);
        if (rc == LBP_OK)
            rc = java_encode(out, p[i].value);
    }
    for (size_t i = 0; i < out->len; i++)
        out->data[i] = (char)tolower((unsigned char)out->data[i]);
out:
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
    free(copy);
    if (rc)
        lbp_buf_free(out);
    return rc;
}

int lbp_cs_signature(const char *secret, const char *sts, char *out, size_t cap)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (cap < 29)
        return LBP_TOOBIG;
    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)sts, strlen(sts), mac,
              &maclen))
        return LBP_INVALID;
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen); /* 20 bytes → 28 chars + NUL */
    return LBP_OK;
}

int lbp_cs_sign_query(const char *query, const char *api_key, const char *secret, int64_t expires_s,
                      struct lbp_buf *out)
{
    struct lbp_buf sts;
    char sig[64];
    int rc;

    lbp_buf_init(out, CS_MAX_QUERY);
    rc = lbp_buf_adds(out, query);
    if (rc == LBP_OK)
        rc = lbp_buf_adds(out, "&apikey=");
    if (rc == LBP_OK)
        rc = lbp_http_urlencode(out, api_key);
    if (rc == LBP_OK)
        rc = lbp_buf_adds(out, "&response=json");
    if (rc == LBP_OK && expires_s > 0) {
        char ts[32];
        lbp_rfc3339(expires_s, ts);
        rc = lbp_buf_adds(out, "&signatureversion=3&expires=");
        if (rc == LBP_OK)
            rc = lbp_http_urlencode(out, ts);
    }
    if (rc == LBP_OK)
        rc = lbp_cs_string_to_sign(out->data, &sts);
    if (rc == LBP_OK) {
        rc = lbp_cs_signature(secret, sts.data ? sts.data : "", sig, sizeof(sig));
        /* The string holds the key, not the secret, but it is not kept. */
        lbp_buf_free(&sts);
    }
    if (rc == LBP_OK)
        rc = lbp_buf_adds(out, "&signature=");
    if (rc == LBP_OK)
        rc = lbp_http_urlencode(out, sig);
    if (rc)
        lbp_buf_free(out);
    return rc;
}
