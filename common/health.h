/*
 * health.h — heartbeats for /healthz: is every long-running loop still
 * making progress?
 *
 * A loop marks itself busy when it starts a piece of work and idle when it
 * goes back to waiting for the next one. Waiting is never "stuck" (an idle
 * worker on an empty queue is healthy however long it waits); a loop that
 * has been busy for longer than the bound is. The bound is generous
 * (default 10 minutes) because a busy worker may legitimately sit in a
 * slow cloud call with retries: it must exceed the longest call chain one
 * sync can make, so that only a hung loop trips it.
 */
#ifndef LBP_COMMON_HEALTH_H
#define LBP_COMMON_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

#define LBP_HEALTH_DEFAULT_BOUND_MS (10u * 60u * 1000u)

struct lbp_heartbeat;

/* Registers a loop under name (copied; e.g. "worker-3"). NULL when out of memory. */
struct lbp_heartbeat *lbp_heartbeat_new(const char *name);
/* Work started now. */
void lbp_heartbeat_busy(struct lbp_heartbeat *hb);
/* Back to waiting for work. */
void lbp_heartbeat_idle(struct lbp_heartbeat *hb);
/* Unregisters and frees; NULL is a no-op. */
void lbp_heartbeat_free(struct lbp_heartbeat *hb);

/* How long a loop may stay busy before /healthz calls it stuck. */
void lbp_health_set_bound_ms(uint64_t ms);
uint64_t lbp_health_bound_ms(void);

/*
 * True when no loop is stuck. Otherwise false, with one line per stuck
 * loop appended to out ("worker-2 busy for 612 s (bound 600 s)").
 */
bool lbp_health_check(struct lbp_buf *out);

#endif
