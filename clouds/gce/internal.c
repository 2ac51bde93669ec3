/*
 * internal.c — GCE's internal passthrough load balancer
 * (networking.gke.io/load-balancer-type: Internal).
 */
#include "clouds/gce/gce_int.h"
#include "common/rc.h"

int gce_int_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                   const struct gce_opts *o, struct lbp_lb_status *st, struct lbp_call *call)
{
    (void)ctx, (void)spec, (void)o, (void)st;
    lbp_failf(call, "annotation %s: Internal load balancers are not available in this build",
              GCE_ANN_LB_TYPE);
    return LBP_INVALID;
}

int gce_int_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    const struct gce_opts *o, struct lbp_call *call)
{
    struct lbp_lb_status st;
    return gce_int_ensure(ctx, spec, o, &st, call);
}

int gce_int_remove(struct lbp_provider_ctx *ctx, const struct gce_conf *c,
                   const struct lbp_lb_spec *spec, struct lbp_call *call)
{
    (void)ctx, (void)c, (void)spec, (void)call;
    return LBP_OK;
}
