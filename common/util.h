/*
 * util.h — clocks, backoff and NULL-safe string helpers shared by every module.
 */
#ifndef LBP_COMMON_UTIL_H
#define LBP_COMMON_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Monotonic milliseconds; never goes backwards. */
uint64_t lbp_now_ms(void);
/* Wall-clock seconds since the epoch. */
int64_t lbp_wall_s(void);
/* RFC 3339 UTC time ("2026-11-26T10:00:00Z") for the given epoch seconds. */
void lbp_rfc3339(int64_t epoch_s, char out[32]);
/* Parses RFC 3339 with optional fractional seconds and offset; LBP_PARSE on error. */
int lbp_parse_rfc3339(const char *s, int64_t *epoch_s);

/*
 * The CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a
 * condition variable whose clock attribute is CLOCK_MONOTONIC (wall-clock
 * jumps then neither shorten nor stretch a wait).
 */
struct timespec;
void lbp_deadline_ts(uint64_t ms, struct timespec *ts);
/* Initialises a condition variable that times its waits on CLOCK_MONOTONIC. */
int lbp_cond_init_monotonic(pthread_cond_t *cond);

/* Formats a message into err (NULL or errlen 0: nothing). */
void lbp_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Exponential backoff: base * 2^attempt, capped at max (attempt counts from 0).
 * lbp_jitter spreads a delay by +-frac (0..1) so retries from many workers do
 * not arrive together.
 */
uint64_t lbp_backoff_ms(uint64_t base_ms, uint64_t max_ms, unsigned attempt);
uint64_t lbp_jitter_ms(uint64_t ms, double frac);

/* NULL-safe helpers. */
char *lbp_strdup(const char *s); /* NULL in, NULL out */
bool lbp_streq(const char *a, const char *b);
/* The value of one hexadecimal digit, either case; -1 when c is none. */
int lbp_hexval(int c);
/* Copies at most cap-1 bytes and NUL-terminates; returns strlen(src). */
size_t lbp_strlcpy(char *dst, const char *src, size_t cap);
/* strtol with full checks: the whole string, in [min, max]. */
int lbp_parse_long(const char *s, long min, long max, long *out);

#define LBP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
