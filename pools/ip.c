/*
 * ip.c — IPv4/IPv6 addresses and ranges as 128-bit integers.
 *
 * inet_pton/inet_ntop do the text; everything else is integer arithmetic on
 * an unsigned __int128 in host order, so a range of 2^64 addresses costs
 * the same as a range of four. Counting the .0/.255 addresses that
 * avoidBuggyIPs skips is done with division, never by walking the range.
 */
#include "pools/pools.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/rc.h"
#include "common/util.h"

#define U128_MAX (~(unsigned __int128)0)

int lbp_ip_parse(const char *s, struct lbp_ip *out)
{
    unsigned char b[16];
    if (!s || !*s || strlen(s) >= LBP_IP_STRLEN)
        return LBP_PARSE;
    if (inet_pton(AF_INET, s, b) == 1) {
        out->family = AF_INET;
        out->v = ((unsigned __int128)b[0] << 24) | ((unsigned __int128)b[1] << 16) |
                 ((unsigned __int128)b[2] << 8) | b[3];
        return LBP_OK;
    }
    if (inet_pton(AF_INET6, s, b) == 1) {
        out->family = AF_INET6;
        out->v = 0;
        for (int i = 0; i < 16; i++)
            out->v = (out->v << 8) | b[i];
        return LBP_OK;
    }
    return LBP_PARSE;
}

void lbp_ip_format(const struct lbp_ip *ip, char out[LBP_IP_STRLEN])
{
    unsigned char b[16];
    unsigned __int128 v = ip->v;
    int n = ip->family == AF_INET ? 4 : 16;
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    if (!inet_ntop(ip->family == AF_INET ? AF_INET : AF_INET6, b, out, LBP_IP_STRLEN))
        out[0] = '\0';
}

bool lbp_ip_equal(const struct lbp_ip *a, const struct lbp_ip *b)
{
    return a->family == b->family && a->v == b->v;
}

bool lbp_ip_is_buggy(const struct lbp_ip *ip)
{
    unsigned last = (unsigned)(ip->v & 0xff);
    return ip->family == AF_INET && (last == 0 || last == 255);
}

/* Copies s[0..n) without surrounding blanks into out. */
static int trim_copy(const char *s, size_t n, char *out, size_t cap)
{
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= cap)
        return LBP_PARSE;
    memcpy(out, s, n);
    out[n] = '\0';
    return LBP_OK;
}

static int parse_cidr(const char *s, const char *slash, struct lbp_ip_range *out, bool *masked,
                      char *why, size_t whylen)
{
    char addr[LBP_IP_STRLEN + 8];
    struct lbp_ip ip;
    long len;

    if (trim_copy(s, (size_t)(slash - s), addr, sizeof(addr)) != LBP_OK ||
        lbp_ip_parse(addr, &ip) != LBP_OK) {
        snprintf(why, whylen, "invalid address in CIDR");
        return LBP_PARSE;
    }
    char plen[8];
    int bits = ip.family == AF_INET ? 32 : 128;
    if (trim_copy(slash + 1, strlen(slash + 1), plen, sizeof(plen)) != LBP_OK ||
        !isdigit((unsigned char)plen[0]) || lbp_parse_long(plen, 0, 1000, &len) != LBP_OK) {
        snprintf(why, whylen, "invalid prefix length");
        return LBP_PARSE;
    }
    if (len > bits) {
        snprintf(why, whylen, "prefix length %ld out of range for %s", len,
                 ip.family == AF_INET ? "IPv4" : "IPv6");
        return LBP_PARSE;
    }
    int host = bits - (int)len;
    unsigned __int128 hostmask = host == 128 ? U128_MAX : (((unsigned __int128)1 << host) - 1);
    out->family = ip.family;
    out->first = ip.v & ~hostmask;
    out->last = out->first | hostmask;
    *masked = (ip.v & hostmask) != 0;
    return LBP_OK;
}

int lbp_ip_range_parse(const char *s, struct lbp_ip_range *out, bool *masked, char *why,
                       size_t whylen)
{
    char a[LBP_IP_STRLEN + 8], b[LBP_IP_STRLEN + 8];
    struct lbp_ip ia, ib;
    bool dummy;

    if (!masked)
        masked = &dummy;
    *masked = false;
    if (!s || !*s) {
        snprintf(why, whylen, "empty address range");
        return LBP_PARSE;
    }
    if (strlen(s) > 2 * LBP_IP_STRLEN + 8) {
        snprintf(why, whylen, "too long");
        return LBP_PARSE;
    }
    const char *slash = strchr(s, '/');
    const char *dash = strchr(s, '-');
    if (slash && dash) {
        snprintf(why, whylen, "both a prefix and a range");
        return LBP_PARSE;
    }
    if (slash)
        return parse_cidr(s, slash, out, masked, why, whylen);
    if (!dash) {
        if (trim_copy(s, strlen(s), a, sizeof(a)) != LBP_OK || lbp_ip_parse(a, &ia) != LBP_OK) {
            snprintf(why, whylen, "not an address, CIDR or range");
            return LBP_PARSE;
        }
        out->family = ia.family;
        out->first = out->last = ia.v;
        return LBP_OK;
    }
    if (trim_copy(s, (size_t)(dash - s), a, sizeof(a)) != LBP_OK ||
        lbp_ip_parse(a, &ia) != LBP_OK) {
        snprintf(why, whylen, "invalid range start");
        return LBP_PARSE;
    }
    if (trim_copy(dash + 1, strlen(dash + 1), b, sizeof(b)) != LBP_OK ||
        lbp_ip_parse(b, &ib) != LBP_OK) {
        snprintf(why, whylen, "invalid range end");
        return LBP_PARSE;
    }
    if (ia.family != ib.family) {
        snprintf(why, whylen, "mixed address families");
        return LBP_PARSE;
    }
    if (ib.v < ia.v) {
        snprintf(why, whylen, "range end before start");
        return LBP_PARSE;
    }
    out->family = ia.family;
    out->first = ia.v;
    out->last = ib.v;
    return LBP_OK;
}

bool lbp_ip_range_contains(const struct lbp_ip_range *r, const struct lbp_ip *ip)
{
    return r->family == ip->family && ip->v >= r->first && ip->v <= r->last;
}

bool lbp_ip_range_overlaps(const struct lbp_ip_range *a, const struct lbp_ip_range *b)
{
    return a->family == b->family && a->first <= b->last && b->first <= a->last;
}

/* How many x in [0, v] have x % 256 == rem. */
static unsigned __int128 count_upto(unsigned __int128 v, unsigned rem)
{
    if ((v & 0xff) >= rem)
        return (v >> 8) + 1;
    return v >> 8;
}

static unsigned __int128 count_rem(const struct lbp_ip_range *r, unsigned rem)
{
    unsigned __int128 n = count_upto(r->last, rem);
    if (r->first > 0)
        n -= count_upto(r->first - 1, rem);
    return n;
}

unsigned __int128 lbp_ip_range_size(const struct lbp_ip_range *r, bool avoid_buggy)
{
    unsigned __int128 n;
    if (r->last < r->first)
        return 0;
    if (r->first == 0 && r->last == U128_MAX)
        n = U128_MAX; /* saturate: the true count does not fit */
    else
        n = r->last - r->first + 1;
    if (avoid_buggy && r->family == AF_INET)
        n -= count_rem(r, 0) + count_rem(r, 255);
    return n;
}

void lbp_u128_format(unsigned __int128 v, char out[40])
{
    char tmp[40];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v && n < 39);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}
