/*
 * observe.h — the controller's process-level observability: build info,
 * process metrics from /proc/self, informer and API client counters
 * copied into the metrics registry at scrape time, and /healthz.
 */
#ifndef LBP_CMD_OBSERVE_H
#define LBP_CMD_OBSERVE_H

#include <stddef.h>

#include "common/buf.h"
#include "kube/kube.h"

#define LBP_OBSERVE_MAX 4

struct lbp_observe {
    struct lbp_informer *inf[LBP_OBSERVE_MAX];
    const char *kind[LBP_OBSERVE_MAX]; /* label value per informer, e.g. "Service" */
    size_t n_inf;
    struct lbp_kube_client *client[LBP_OBSERVE_MAX];
    size_t n_client;
};

/* Build info and process metrics; call once, early. */
void lbp_observe_process(void);
/* Starts copying o's counters into the registry; o must outlive lbp_observe_stop. */
void lbp_observe_start(struct lbp_observe *o);
void lbp_observe_stop(struct lbp_observe *o);
/* The compiler as "gcc 12.2.0" / "clang 14.0.6". */
const char *lbp_observe_compiler(void);

/* /healthz: 200 "ok", or 503 naming every loop stuck past the bound (common/health.h). */
int lbp_observe_healthz(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                        const char **ctype);

#endif
