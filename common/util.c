/* util.c — clocks, backoff and string helpers; see util.h. */
#include "common/util.h"
#include "common/rc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t lbp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t lbp_wall_s(void)
{
    return (int64_t)time(NULL);
}

/*
 * RFC 3339 wants exactly four year digits; strftime's %Y prints year 70 as
 * "70", which no parser (this one included) reads back. Years outside
 * 0..9999 cannot be written at all and come out clamped.
 */
void lbp_rfc3339(int64_t epoch_s, char out[32])
{
    time_t t = (time_t)(epoch_s < -62167219200LL   ? -62167219200LL
                        : epoch_s > 253402300799LL ? 253402300799LL
                                                   : epoch_s);
    struct tm tm;
    char buf[64]; /* what gcc cannot prove fits in 32; the clamp above makes it 20 */
    gmtime_r(&t, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    lbp_strlcpy(out, buf, 32);
}

/*
 * RFC 3339 section 5.6, strictly and without sscanf or strptime (this runs
 * for every timestamp of every watch event): exactly the digits the
 * grammar asks for, each checked before the cursor moves past it, so a
 * string that ends anywhere stops the parse at its NUL. Field ranges are
 * checked (the day against its month, leap years included); second 60
 * (a leap second) is accepted and counts as the next second, as timegm
 * would. The epoch value is computed from the civil date directly.
 */
static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false; /* also stops at the NUL */
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_since_epoch(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    /* Whole years before y, counted from 400 years earlier so the divisions never see a
     * negative number (year 0000 is legal); 400 years are exactly 146097 days. */
    int64_t yy = (int64_t)y + 399;
    int64_t days = yy * 365 + yy / 4 - yy / 100 + yy / 400 - 146097;
    days += before[m - 1] + (m > 2 && leap_year(y)) + (d - 1);
    return days - 719162; /* the same count for 1970-01-01 */
}

int lbp_parse_rfc3339(const char *s, int64_t *epoch_s)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    long off = 0;
    const char *p = s;
    if (!p || !digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
        !digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != 't') || !digits(p + 11, 2, &h) ||
        p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &sec))
        return LBP_PARSE; /* each check fails at a NUL before the next one reads past it */
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap_year(y)) || h > 23 ||
        mi > 59 || sec > 60)
        return LBP_PARSE;
    p += 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return LBP_PARSE; /* time-secfrac needs at least one digit */
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return LBP_PARSE;
        off = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return LBP_PARSE;
    }
    if (*p)
        return LBP_PARSE;
    *epoch_s = days_since_epoch(y, mo, d) * 86400 + h * 3600L + mi * 60L + sec - off;
    return LBP_OK;
}

void lbp_deadline_ts(uint64_t ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int lbp_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc == 0) {
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    return rc;
}

void lbp_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t lbp_backoff_ms(uint64_t base_ms, uint64_t max_ms, unsigned attempt)
{
    if (attempt >= 32)
        return max_ms;
    uint64_t d = base_ms << attempt;
    return d > max_ms || d < base_ms ? max_ms : d;
}

uint64_t lbp_jitter_ms(uint64_t ms, double frac)
{
    /* Not for cryptography: only de-synchronises retries. */
    static __thread unsigned seed;
    if (!seed)
        seed = (unsigned)lbp_now_ms() ^ (unsigned)(uintptr_t)&seed;
    double r = (double)rand_r(&seed) / (double)RAND_MAX; /* 0..1 */
    double f = 1.0 + frac * (2.0 * r - 1.0);
    return (uint64_t)((double)ms * f);
}

char *lbp_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

int lbp_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool lbp_streq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

size_t lbp_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap) {
        size_t c = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int lbp_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (!s || !*s)
        return LBP_PARSE;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return LBP_PARSE;
    *out = v;
    return LBP_OK;
}
