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

void lbp_rfc3339(int64_t epoch_s, char out[32])
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lbp_parse_rfc3339(const char *s, int64_t *epoch_s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!s)
        return LBP_PARSE;
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return LBP_PARSE;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return LBP_PARSE;
        off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return LBP_PARSE;
    }
    if (*p)
        return LBP_PARSE;
    *epoch_s = (int64_t)timegm(&tm) - off;
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
