/*
 * lro.h — long-running cloud operations that never hold a worker.
 *
 * GCE answers a change with an Operation, Azure with 202 and an
 * Azure-AsyncOperation URL, CloudStack with a job id: the change finishes
 * minutes later. Waiting for it inside ensure would hold one of the
 * reconciler's workers that long. Instead the provider records the
 * operation here under the LB name and returns LBP_PENDING with a
 * retry-after; the reconciler requeues the Service, and the next call for
 * that LB polls the operation (lbp_lro_poll) instead of issuing the change
 * again:
 *
 *     rc = lbp_lro_poll(ctx->ops, spec->lb_name, poll_op, ctx, call);
 *     if (rc != LBP_NOT_FOUND && rc != LBP_OK)
 *         return rc;                 // PENDING, or the operation failed
 *     ... read the cloud's state, decide what to change ...
 *     ... start the change, get its operation reference ...
 *     return lbp_lro_start(ctx->ops, spec->lb_name, "insert forwarding rule", ref, 0, call);
 *
 * The table lives only in memory: after a restart nothing is in flight,
 * and the provider converges from what the cloud shows, which is why the
 * code after a finished poll reads the cloud's state rather than trusting
 * the operation. An operation older than LBP_LRO_MAX_AGE_S is forgotten
 * (the next call reads state and decides again).
 */
#ifndef LBP_PROVIDER_LRO_H
#define LBP_PROVIDER_LRO_H

#include <stddef.h>

#include "provider/provider.h"

#define LBP_LRO_REF_MAX 2048   /* an operation URL */
#define LBP_LRO_MAX_AGE_S 3600 /* longer than any LB change takes */
#define LBP_LRO_MAX_DELAY_S 30 /* cap on the growing poll interval */

/*
 * Asks the cloud about one operation. LBP_PENDING (not done; may set
 * *retry_after_s from the answer), LBP_OK (done and succeeded), or an
 * error with err filled (done and failed: LBP_INVALID, LBP_CONFLICT, ...;
 * or LBP_RETRY when the cloud could not be asked — the operation stays).
 */
typedef int (*lbp_lro_poll_fn)(void *ud, const char *ref, unsigned *retry_after_s, char *err,
                               size_t errlen);

struct lbp_lro_table;

int lbp_lro_table_new(struct lbp_lro_table **out);
void lbp_lro_table_free(struct lbp_lro_table *t);

/*
 * Records an operation for lb_name ("what" names it in messages) and
 * returns LBP_PENDING with call->retry_after_s (retry_after_s, or 1 s).
 */
int lbp_lro_start(struct lbp_lro_table *t, const char *lb_name, const char *what, const char *ref,
                  unsigned retry_after_s, struct lbp_call *call);
/*
 * Polls lb_name's operation: LBP_NOT_FOUND when none is in flight;
 * LBP_PENDING with call->retry_after_s (the cloud's, else 1, 2, 4 ... 30 s)
 * while it runs; LBP_OK when it finished well (forgotten); its error when
 * it failed (forgotten, call->err says what and why).
 */
int lbp_lro_poll(struct lbp_lro_table *t, const char *lb_name, lbp_lro_poll_fn poll, void *ud,
                 struct lbp_call *call);
void lbp_lro_forget(struct lbp_lro_table *t, const char *lb_name);
size_t lbp_lro_count(struct lbp_lro_table *t);

#endif
