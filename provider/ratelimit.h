/*
 * ratelimit.h — a token bucket shared by every thread calling one cloud.
 *
 * Tokens refill continuously at qps per second up to burst; a call takes one
 * token, sleeping until one is there. Hundreds of Services reconciling at
 * once therefore queue on the client instead of tripping the cloud's own
 * throttling, which is far slower to recover from.
 */
#ifndef LBP_PROVIDER_RATELIMIT_H
#define LBP_PROVIDER_RATELIMIT_H

#include <stdint.h>

struct lbp_ratelimit;

/* qps <= 0: unlimited. burst 0: max(1, qps). */
int lbp_ratelimit_new(double qps, unsigned burst, struct lbp_ratelimit **out);
void lbp_ratelimit_free(struct lbp_ratelimit *rl);
/* Blocks until a token is available; returns the milliseconds waited. */
uint64_t lbp_ratelimit_wait(struct lbp_ratelimit *rl);
/* Milliseconds until a token would be available, without taking one. */
uint64_t lbp_ratelimit_peek(struct lbp_ratelimit *rl);
/* Total tokens handed out. */
uint64_t lbp_ratelimit_taken(struct lbp_ratelimit *rl);

#endif
