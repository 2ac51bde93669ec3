/*
 * json_view.c — jsmn's tokens checked against RFC 8259 and read in place
 * (json_view.h says what is accepted).
 *
 * jsmn (strict mode, parent links) finds the tokens in one pass but lets a
 * lot through: it never looks at what lies between tokens, so "[1 2]" and
 * "{"a" "b"}" come out as tokens, and any run of letters is a primitive.
 * check() therefore walks the tokens once more, in document order, with
 * the text beside it: each token must start where the grammar says the next
 * value starts, with exactly the expected punctuation and whitespace
 * between, literals and numbers are matched against the RFC's grammar and
 * strings scanned for raw control characters. On the way it stores in each
 * token's parent field the index just past its subtree, which makes
 * skipping a member's value — a Node's images, managedFields — O(1).
 */
#define JSMN_STATIC
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#include <jsmn.h>

#include "kube/json_view.h"
#include "common/rc.h"
#include "common/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

void lbp_jv_init(struct lbp_json_view *v, jsmntok_t *fixed, unsigned n_fixed)
{
    memset(v, 0, sizeof(*v));
    v->fixed = fixed;
    v->n_fixed = fixed ? n_fixed : 0;
    v->tok = v->fixed;
    v->cap = v->n_fixed;
}

static bool on_heap(const struct lbp_json_view *v)
{
    return v->tok && v->tok != v->fixed;
}

static int grow(struct lbp_json_view *v, unsigned want)
{
    jsmntok_t *t;
    if (want <= v->cap)
        return LBP_OK;
    if (want > INT_MAX / sizeof(*t))
        return LBP_NOMEM;
    if (on_heap(v)) {
        if (!(t = realloc(v->tok, (size_t)want * sizeof(*t))))
            return LBP_NOMEM;
    } else {
        if (!(t = malloc((size_t)want * sizeof(*t))))
            return LBP_NOMEM;
        if (v->tok && v->cap)
            memcpy(t, v->tok, (size_t)v->cap * sizeof(*t)); /* jsmn may be halfway */
    }
    v->tok = t;
    v->cap = want;
    return LBP_OK;
}

int lbp_jv_reserve(struct lbp_json_view *v, unsigned cap)
{
    return grow(v, cap);
}

void lbp_jv_trim(struct lbp_json_view *v, unsigned keep)
{
    if (on_heap(v) && v->cap > keep) {
        free(v->tok);
        v->tok = v->fixed;
        v->cap = v->n_fixed;
        v->n = 0;
    }
}

void lbp_jv_free(struct lbp_json_view *v)
{
    if (!v)
        return;
    if (on_heap(v))
        free(v->tok);
    v->tok = v->fixed;
    v->cap = v->n_fixed;
    v->n = 0;
}

/* ---------------------------------------------------------------- checking */

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_blanks(const char *js, size_t len, size_t p)
{
    while (p < len && blank(js[p]))
        p++;
    return p;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* true, false, null or a number, exactly. */
static bool literal_ok(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0))
        return true;
    if (n == 5 && memcmp(s, "false", 5) == 0)
        return true;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else if (i < n && digit(s[i])) {
        while (i < n && digit(s[i]))
            i++;
    } else {
        return false;
    }
    if (i < n && s[i] == '.') {
        if (++i >= n || !digit(s[i]))
            return false;
        while (i < n && digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !digit(s[i]))
            return false;
        while (i < n && digit(s[i]))
            i++;
    }
    return i == n;
}

/*
 * jsmn checked the escapes; what is left is raw control characters. *esc:
 * the string has an escape, so reading it needs decoding.
 */
static bool string_ok(const char *s, size_t n, bool *esc)
{
    bool e = false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20)
            return false;
        e |= s[i] == '\\';
    }
    *esc = e;
    return true;
}

/* Checks token *i and its subtree from text position *pos; see the top of the file. */
static int check(struct lbp_json_view *v, unsigned *i, size_t *pos, int depth)
{
    const char *js = v->js;
    size_t p = skip_blanks(js, v->len, *pos);
    unsigned self = *i;
    if (self >= v->n)
        return LBP_PARSE;
    jsmntok_t *t = &v->tok[self];
    size_t start = (size_t)t->start, end = (size_t)t->end;
    (*i)++;
    switch (t->type) {
    case JSMN_PRIMITIVE:
        if (start != p || end < start || end > v->len || !literal_ok(js + start, end - start))
            return LBP_PARSE;
        p = end;
        break;
    case JSMN_STRING: {
        bool esc;
        if (start != p + 1 || end < start || end >= v->len || js[p] != '"' || js[end] != '"' ||
            !string_ok(js + start, end - start, &esc))
            return LBP_PARSE;
        t->size = esc; /* a string's size is free: it now says whether it has escapes */
        p = end + 1;
        break;
    }
    case JSMN_ARRAY:
    case JSMN_OBJECT: {
        bool obj = t->type == JSMN_OBJECT;
        int rc;
        if (depth >= LBP_JV_DEPTH || start != p || t->size < 0)
            return LBP_PARSE;
        p++;
        for (int k = 0; k < t->size; k++) {
            if (k) {
                p = skip_blanks(js, v->len, p);
                if (p >= v->len || js[p] != ',')
                    return LBP_PARSE;
                p++;
            }
            unsigned key = *i;
            if (obj) {
                if (key >= v->n || v->tok[key].type != JSMN_STRING)
                    return LBP_PARSE;
                if ((rc = check(v, i, &p, depth + 1)))
                    return rc;
                p = skip_blanks(js, v->len, p);
                if (p >= v->len || js[p] != ':')
                    return LBP_PARSE;
                p++;
            }
            if ((rc = check(v, i, &p, depth + 1)))
                return rc;
            if (obj)
                v->tok[key].parent = (int)*i; /* a key's subtree is its value's */
        }
        p = skip_blanks(js, v->len, p);
        if (p >= v->len || js[p] != (obj ? '}' : ']') || p + 1 != end)
            return LBP_PARSE;
        p = end;
        break;
    }
    default:
        return LBP_PARSE;
    }
    v->tok[self].parent = (int)*i;
    *pos = p;
    return LBP_OK;
}

int lbp_jv_parse(struct lbp_json_view *v, const char *js, size_t len)
{
    jsmn_parser jp;
    int r, rc;

    v->js = js;
    v->len = len;
    v->n = 0;
    if (!js)
        return LBP_PARSE;
    if (len > INT_MAX)
        return LBP_TOOBIG;
    size_t p = skip_blanks(js, len, 0);
    if (p == len)
        return LBP_PARSE;
    if (js[p] != '{' && js[p] != '[' && js[p] != '"') {
        /* A bare literal: strict jsmn wants a delimiter after it; none is needed. */
        size_t e = len;
        while (e > p && blank(js[e - 1]))
            e--;
        if (!literal_ok(js + p, e - p))
            return LBP_PARSE;
        if ((rc = grow(v, 1)))
            return rc;
        v->tok[0] = (jsmntok_t){
            .type = JSMN_PRIMITIVE, .start = (int)p, .end = (int)e, .size = 0, .parent = 1};
        v->n = 1;
        return LBP_OK;
    }
    jsmn_init(&jp);
    if (v->cap == 0 && (rc = grow(v, 64)))
        return rc;
    for (;;) {
        r = jsmn_parse(&jp, js, len, v->tok, v->cap);
        if (r != JSMN_ERROR_NOMEM)
            break;
        /* jsmn carries on from where it stopped once it has more room. */
        unsigned want = v->cap * 2;
        if (want > len + 1)
            want = (unsigned)len + 1; /* every token takes a byte at least */
        if (want <= v->cap)
            return LBP_PARSE;
        if ((rc = grow(v, want)))
            return rc;
    }
    if (r <= 0)
        return LBP_PARSE;
    v->n = jp.toknext;
    unsigned i = 0;
    p = 0;
    if ((rc = check(v, &i, &p, 0)))
        goto fail;
    /* One value: nothing but blanks after it (a NUL stops jsmn, so it lands here too). */
    if (skip_blanks(js, len, p) != len) {
        rc = LBP_PARSE;
        goto fail;
    }
    return LBP_OK;
fail:
    v->n = 0;
    return rc;
}

int lbp_jv_value_span(const char *js, size_t len, size_t at, size_t *start, size_t *end)
{
    size_t p = skip_blanks(js, len, at);
    int depth = 0;
    if (p >= len)
        return LBP_PARSE;
    *start = p;
    if (js[p] != '{' && js[p] != '[' && js[p] != '"') {
        /* A literal runs to the next delimiter. */
        while (p < len && !blank(js[p]) && js[p] != ',' && js[p] != ':' && js[p] != ']' &&
               js[p] != '}')
            p++;
        *end = p;
        return p > *start ? LBP_OK : LBP_PARSE;
    }
    for (; p < len; p++) {
        char c = js[p];
        if (c == '"') {
            for (p++; p < len && js[p] != '"'; p++)
                if (js[p] == '\\')
                    p++;
            if (p >= len)
                return LBP_PARSE;
        } else if (c == '{' || c == '[') {
            if (++depth > LBP_JV_DEPTH)
                return LBP_PARSE;
        } else if (c == '}' || c == ']') {
            depth--;
        }
        if (depth == 0) {
            *end = p + 1;
            return LBP_OK;
        }
    }
    return LBP_PARSE;
}

/* ---------------------------------------------------------------- reading */

int lbp_jv_first(const struct lbp_json_view *v, int i)
{
    jsmntype_t t = lbp_jv_type(v, i);
    if ((t != JSMN_ARRAY && t != JSMN_OBJECT) || v->tok[i].size <= 0)
        return -1;
    return i + 1;
}

int lbp_jv_next(const struct lbp_json_view *v, int parent, int child)
{
    int n = lbp_jv_skip(v, child);
    return n < lbp_jv_skip(v, parent) ? n : -1;
}

size_t lbp_jv_count(const struct lbp_json_view *v, int i)
{
    jsmntype_t t = lbp_jv_type(v, i);
    return t == JSMN_ARRAY || t == JSMN_OBJECT ? (size_t)v->tok[i].size : 0;
}

static long u4(const char *s)
{
    long x = 0;
    for (int k = 0; k < 4; k++) {
        int h = lbp_hexval(s[k]);
        if (h < 0)
            return -1;
        x = x * 16 + h;
    }
    return x;
}

/*
 * Decodes raw[0..n) (a string token's inside, escapes checked by the
 * parse) into dst when given; returns the decoded length or -1 for a lone
 * surrogate or NUL. Writes at most cap bytes.
 */
static long decode(const char *raw, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)raw[i];
        char buf[4];
        size_t bl = 1;
        if (c != '\\') {
            /* Copy the run up to the next escape at once. */
            const char *bs = memchr(raw + i, '\\', n - i);
            size_t run = bs ? (size_t)(bs - (raw + i)) : n - i;
            if (dst) {
                if (o + run > cap)
                    return -2;
                memcpy(dst + o, raw + i, run);
            }
            o += run;
            i += run;
            continue;
        }
        if (i + 1 >= n)
            return -1;
        char e = raw[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            buf[0] = e;
            break;
        case 'b':
            buf[0] = '\b';
            break;
        case 'f':
            buf[0] = '\f';
            break;
        case 'n':
            buf[0] = '\n';
            break;
        case 'r':
            buf[0] = '\r';
            break;
        case 't':
            buf[0] = '\t';
            break;
        case 'u': {
            long cp = i + 4 <= n ? u4(raw + i) : -1;
            if (cp <= 0)
                return -1; /* malformed, or \u0000 */
            i += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return -1; /* a low surrogate first */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = i + 6 <= n && raw[i] == '\\' && raw[i + 1] == 'u' ? u4(raw + i + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return -1; /* a high surrogate alone */
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp < 0x80) {
                buf[0] = (char)cp;
            } else if (cp < 0x800) {
                buf[0] = (char)(0xC0 | (cp >> 6));
                buf[1] = (char)(0x80 | (cp & 0x3F));
                bl = 2;
            } else if (cp < 0x10000) {
                buf[0] = (char)(0xE0 | (cp >> 12));
                buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[2] = (char)(0x80 | (cp & 0x3F));
                bl = 3;
            } else {
                buf[0] = (char)(0xF0 | (cp >> 18));
                buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[3] = (char)(0x80 | (cp & 0x3F));
                bl = 4;
            }
            break;
        }
        default:
            return -1;
        }
        if (dst) {
            if (o + bl > cap)
                return -2;
            memcpy(dst + o, buf, bl);
        }
        o += bl;
    }
    return (long)o;
}

int lbp_jv_str(const struct lbp_json_view *v, int i, char *dst, size_t cap, size_t *len)
{
    if (lbp_jv_type(v, i) != JSMN_STRING)
        return LBP_PARSE;
    const char *raw = v->js + v->tok[i].start;
    size_t n = (size_t)(v->tok[i].end - v->tok[i].start);
    if (dst && cap == 0)
        return LBP_TOOBIG;
    if (!v->tok[i].size) { /* no escapes: the bytes as they are */
        if (dst) {
            if (n > cap - 1)
                return LBP_TOOBIG;
            memcpy(dst, raw, n);
            dst[n] = '\0';
        }
        if (len)
            *len = n;
        return LBP_OK;
    }
    long r = decode(raw, n, dst, dst ? cap - 1 : 0);
    if (r == -2)
        return LBP_TOOBIG;
    if (r < 0)
        return LBP_PARSE;
    if (dst)
        dst[r] = '\0';
    if (len)
        *len = (size_t)r;
    return LBP_OK;
}

bool lbp_jv_str_eq(const struct lbp_json_view *v, int i, const char *s, size_t n)
{
    if (lbp_jv_type(v, i) != JSMN_STRING)
        return false;
    const char *raw = v->js + v->tok[i].start;
    size_t rn = (size_t)(v->tok[i].end - v->tok[i].start);
    if (!v->tok[i].size)
        return rn == n && memcmp(raw, s, n) == 0;
    if (rn < n)
        return false; /* escapes only ever shorten */
    char buf[256];
    size_t len;
    if (n >= sizeof(buf) || lbp_jv_str(v, i, buf, sizeof(buf), &len))
        return false;
    return len == n && memcmp(buf, s, n) == 0;
}

int lbp_jv_get(const struct lbp_json_view *v, int obj, const char *key)
{
    if (lbp_jv_type(v, obj) != JSMN_OBJECT)
        return -1;
    size_t n = strlen(key);
    for (int k = lbp_jv_first(v, obj); k >= 0; k = lbp_jv_next(v, obj, k))
        if (lbp_jv_str_eq(v, k, key, n))
            return k + 1;
    return -1;
}

bool lbp_jv_int(const struct lbp_json_view *v, int i, int64_t min, int64_t max, int64_t *out)
{
    if (lbp_jv_type(v, i) != JSMN_PRIMITIVE)
        return false;
    const char *s = v->js + v->tok[i].start;
    size_t n = (size_t)(v->tok[i].end - v->tok[i].start), k = 0;
    bool neg = n > 0 && s[0] == '-';
    uint64_t x = 0;
    if (neg)
        k++;
    if (k == n)
        return false;
    for (; k < n; k++) {
        if (!digit(s[k]))
            return false; /* a fraction, an exponent or a literal */
        if (x > (UINT64_MAX - 9) / 10)
            return false; /* far out of any range asked for */
        x = x * 10 + (uint64_t)(s[k] - '0');
    }
    if (x > (uint64_t)INT64_MAX)
        return false;
    int64_t r = neg ? -(int64_t)x : (int64_t)x;
    if (r < min || r > max)
        return false;
    *out = r;
    return true;
}

int lbp_jv_bool(const struct lbp_json_view *v, int i)
{
    if (lbp_jv_type(v, i) != JSMN_PRIMITIVE)
        return -1;
    char c = v->js[v->tok[i].start];
    return c == 't' ? 1 : c == 'f' ? 0 : -1;
}

bool lbp_jv_null(const struct lbp_json_view *v, int i)
{
    return lbp_jv_type(v, i) == JSMN_PRIMITIVE && v->js[v->tok[i].start] == 'n';
}
