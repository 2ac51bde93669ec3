/*
 * fuzz_scalars.c — the small text parsers every larger one leans on: RFC
 * 3339 times (watch objects, IMDS and STS credentials, exec plugins),
 * bounded integers, Retry-After, IP addresses and ranges (Service specs,
 * pools, source ranges). Byte 0 picks the parser; the rest is its text.
 * What parses must print back to something that parses to the same value.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "common/util.h"
#include "pools/pools.h"
#include "provider/http.h"

#include <string.h>

static void rfc3339(const char *s)
{
    int64_t t, t2;
    char back[32];
    if (lbp_parse_rfc3339(s, &t) != LBP_OK)
        return;
    if (t < -62167219200LL || t > 253402300799LL) /* outside years 0..9999: not printable */
        return;
    lbp_rfc3339(t, back);
    FZ_CHECK(lbp_parse_rfc3339(back, &t2) == LBP_OK);
    FZ_CHECK(t2 == t);
}

static void ip(const char *s)
{
    struct lbp_ip a, b;
    char back[LBP_IP_STRLEN];
    if (lbp_ip_parse(s, &a) != LBP_OK)
        return;
    lbp_ip_format(&a, back);
    FZ_CHECK(lbp_ip_parse(back, &b) == LBP_OK);
    FZ_CHECK(lbp_ip_equal(&a, &b));
}

static void range(const char *s)
{
    struct lbp_ip_range r;
    struct lbp_ip first;
    bool masked = false;
    char why[128], count[40];
    if (lbp_ip_range_parse(s, &r, &masked, why, sizeof(why)) != LBP_OK)
        return;
    FZ_CHECK(r.first <= r.last);
    first.family = r.family;
    first.v = r.first;
    FZ_CHECK(lbp_ip_range_contains(&r, &first));
    FZ_CHECK(lbp_ip_range_overlaps(&r, &r));
    lbp_u128_format(lbp_ip_range_size(&r, true), count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long n;
    fz_setup();
    if (size < 1)
        return 0;
    char *s = fz_strndup(data + 1, size - 1);
    switch (data[0] % 5) {
    case 0:
        rfc3339(s);
        break;
    case 1:
        if (lbp_parse_long(s, -1000, 1000, &n) == LBP_OK)
            FZ_CHECK(n >= -1000 && n <= 1000);
        break;
    case 2:
        FZ_CHECK(lbp_http_parse_retry_after(s, 1700000000) <= 86400);
        break;
    case 3:
        ip(s);
        break;
    default:
        range(s);
        break;
    }
    free(s);
    return 0;
}
