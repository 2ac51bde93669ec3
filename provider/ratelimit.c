/*
 * ratelimit.c — token bucket (see ratelimit.h).
 *
 * The bucket is refilled lazily from the monotonic clock each time it is
 * looked at, so it needs no timer thread. A waiter reserves its token at
 * once (the level may go negative) and then sleeps outside the lock; that
 * keeps callers in FIFO-ish order and never holds the mutex while sleeping.
 */
#include "provider/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/rc.h"
#include "common/util.h"

struct lbp_ratelimit {
    pthread_mutex_t mu;
    double qps;
    double burst;
    double tokens;
    uint64_t last_ms;
    uint64_t taken;
};

int lbp_ratelimit_new(double qps, unsigned burst, struct lbp_ratelimit **out)
{
    struct lbp_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return LBP_NOMEM;
    pthread_mutex_init(&rl->mu, NULL);
    rl->qps = qps > 0 ? qps : 0;
    rl->burst = burst ? burst : (qps >= 1 ? qps : 1);
    rl->tokens = rl->burst;
    rl->last_ms = lbp_now_ms();
    *out = rl;
    return LBP_OK;
}

void lbp_ratelimit_free(struct lbp_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static void refill(struct lbp_ratelimit *rl, uint64_t now)
{
    rl->tokens += (double)(now - rl->last_ms) * rl->qps / 1000.0;
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
    rl->last_ms = now;
}

uint64_t lbp_ratelimit_wait(struct lbp_ratelimit *rl)
{
    uint64_t wait_ms = 0;
    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    rl->taken++;
    if (rl->qps > 0) {
        refill(rl, lbp_now_ms());
        rl->tokens -= 1;
        if (rl->tokens < 0)
            wait_ms = (uint64_t)(-rl->tokens * 1000.0 / rl->qps) + 1;
    }
    pthread_mutex_unlock(&rl->mu);
    if (wait_ms) {
        struct timespec ts = {(time_t)(wait_ms / 1000), (long)(wait_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    return wait_ms;
}

uint64_t lbp_ratelimit_peek(struct lbp_ratelimit *rl)
{
    uint64_t ms = 0;
    if (!rl || rl->qps <= 0)
        return 0;
    pthread_mutex_lock(&rl->mu);
    refill(rl, lbp_now_ms());
    if (rl->tokens < 1)
        ms = (uint64_t)((1 - rl->tokens) * 1000.0 / rl->qps) + 1;
    pthread_mutex_unlock(&rl->mu);
    return ms;
}

uint64_t lbp_ratelimit_taken(struct lbp_ratelimit *rl)
{
    uint64_t n;
    if (!rl)
        return 0;
    pthread_mutex_lock(&rl->mu);
    n = rl->taken;
    pthread_mutex_unlock(&rl->mu);
    return n;
}
