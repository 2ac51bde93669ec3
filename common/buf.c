/* buf.c — capped growable buffer; see buf.h. Grows by doubling. */
#include "common/buf.h"
#include "common/rc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lbp_buf_init(struct lbp_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

static int buf_reserve(struct lbp_buf *b, size_t extra)
{
    size_t need;
    if (extra > b->max || b->len > b->max - extra)
        return LBP_TOOBIG;
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return LBP_OK;
    size_t a = b->alloc ? b->alloc : 64;
    while (a < need)
        a *= 2;
    char *p = realloc(b->data, a);
    if (!p)
        return LBP_NOMEM;
    b->data = p;
    b->alloc = a;
    return LBP_OK;
}

int lbp_buf_add(struct lbp_buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);
    if (rc)
        return rc;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return LBP_OK;
}

int lbp_buf_adds(struct lbp_buf *b, const char *s)
{
    return lbp_buf_add(b, s, strlen(s));
}

int lbp_buf_addf(struct lbp_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return LBP_INVALID;
    if ((size_t)n < sizeof(small))
        return lbp_buf_add(b, small, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return LBP_OK;
}

int lbp_buf_add_json_str(struct lbp_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    int rc = lbp_buf_add(b, "\"", 1);

    for (; rc == LBP_OK && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t n = 2;
        if (c == '"' || c == '\\')
            esc[1] = (char)c;
        else if (c == '\n')
            esc[1] = 'n';
        else if (c == '\r')
            esc[1] = 'r';
        else if (c == '\t')
            esc[1] = 't';
        else if (c == '\b')
            esc[1] = 'b';
        else if (c == '\f')
            esc[1] = 'f';
        else if (c < 0x20) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        } else
            continue;
        esc[0] = '\\';
        rc = lbp_buf_add(b, run, (size_t)(s - run));
        if (rc == LBP_OK)
            rc = lbp_buf_add(b, esc, n);
        run = s + 1;
    }
    if (rc == LBP_OK)
        rc = lbp_buf_add(b, run, (size_t)(s - run));
    if (rc == LBP_OK)
        rc = lbp_buf_add(b, "\"", 1);
    return rc;
}

void lbp_buf_reset(struct lbp_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void lbp_buf_consume(struct lbp_buf *b, size_t n)
{
    if (n >= b->len) {
        lbp_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *lbp_buf_take(struct lbp_buf *b, size_t *len)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void lbp_buf_free(struct lbp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}
