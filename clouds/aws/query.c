/*
 * query.c — awsQuery (ELB, ELBv2, STS) and ec2Query (EC2) request bodies.
 *
 * Both are form bodies "Action=..&Version=..&k=v"; they differ only in how
 * lists are spelled: awsQuery "Name.member.N", ec2Query "Name.N", and an
 * empty awsQuery list is sent as "Name=" while ec2Query omits it. Every key
 * and value is percent-encoded (RFC 3986 unreserved set), so the bytes
 * signed are the bytes sent.
 */
#include <stdarg.h>
#include <stdio.h>

#include "clouds/aws/aws_int.h"
#include "common/rc.h"

#define QUERY_MAX (1u << 20)

void awsq_init(struct aws_query *q, const char *action, const char *version)
{
    lbp_buf_init(&q->b, QUERY_MAX);
    q->rc = LBP_OK;
    awsq_add(q, "Action", action);
    awsq_add(q, "Version", version);
}

void awsq_free(struct aws_query *q)
{
    lbp_buf_free(&q->b);
}

void awsq_copy(struct aws_query *dst, const struct aws_query *src)
{
    lbp_buf_init(&dst->b, QUERY_MAX);
    dst->rc = src->rc;
    if (dst->rc == LBP_OK && src->b.len && lbp_buf_add(&dst->b, src->b.data, src->b.len))
        dst->rc = LBP_TOOBIG;
}

void awsq_add(struct aws_query *q, const char *key, const char *value)
{
    if (q->rc)
        return;
    if (q->b.len)
        q->rc = lbp_buf_add(&q->b, "&", 1);
    if (!q->rc)
        q->rc = lbp_http_urlencode(&q->b, key);
    if (!q->rc)
        q->rc = lbp_buf_add(&q->b, "=", 1);
    if (!q->rc && value)
        q->rc = lbp_http_urlencode(&q->b, value);
}

void awsq_addi(struct aws_query *q, const char *key, long value)
{
    char v[32];
    snprintf(v, sizeof(v), "%ld", value);
    awsq_add(q, key, v);
}

void awsq_addf(struct aws_query *q, const char *value, const char *keyfmt, ...)
{
    char key[256];
    va_list ap;
    int n;
    va_start(ap, keyfmt);
    n = vsnprintf(key, sizeof(key), keyfmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        if (!q->rc)
            q->rc = LBP_TOOBIG;
        return;
    }
    awsq_add(q, key, value);
}

int awsq_list_key(enum aws_proto p, char *out, size_t cap, const char *name, int idx,
                  const char *field)
{
    int n = snprintf(out, cap, "%s%s.%d%s%s", name, p == AWS_QUERY ? ".member" : "", idx,
                     field ? "." : "", field ? field : "");
    return n < 0 || (size_t)n >= cap ? LBP_TOOBIG : LBP_OK;
}

void awsq_list(struct aws_query *q, enum aws_proto p, const char *name, const char *const *vals,
               size_t n)
{
    char key[256];
    if (n == 0) {
        if (p == AWS_QUERY)
            awsq_add(q, name, "");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (awsq_list_key(p, key, sizeof(key), name, (int)i + 1, NULL)) {
            if (!q->rc)
                q->rc = LBP_TOOBIG;
            return;
        }
        awsq_add(q, key, vals[i]);
    }
}
