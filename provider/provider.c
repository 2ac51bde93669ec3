/*
 * provider.c — the registry of built-in clouds and helpers every cloud uses.
 *
 * Which clouds are in the table is decided at build time (one LBP_CLOUD_*
 * definition per compiled cloud); --cloud picks one at run time.
 */
#include "provider/provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifdef LBP_CLOUD_MOCK
extern const struct lbp_provider lbp_provider_mock;
#endif
#ifdef LBP_CLOUD_BAREMETAL
extern const struct lbp_provider lbp_provider_baremetal;
#endif
#ifdef LBP_CLOUD_AWS
extern const struct lbp_provider lbp_provider_aws;
#endif

const struct lbp_provider *const lbp_providers[] = {
#ifdef LBP_CLOUD_MOCK
    &lbp_provider_mock,
#endif
#ifdef LBP_CLOUD_BAREMETAL
    &lbp_provider_baremetal,
#endif
#ifdef LBP_CLOUD_AWS
    &lbp_provider_aws,
#endif
    NULL,
};

const struct lbp_provider *lbp_provider_find(const char *name)
{
    for (size_t i = 0; lbp_providers[i]; i++)
        if (strcmp(lbp_providers[i]->name, name) == 0)
            return lbp_providers[i];
    return NULL;
}

void lbp_failf(struct lbp_call *call, const char *fmt, ...)
{
    va_list ap;
    if (!call)
        return;
    va_start(ap, fmt);
    vsnprintf(call->err, sizeof(call->err), fmt, ap);
    va_end(ap);
}

void lbp_lb_name(const char *uid, char out[LBP_LB_NAME_LEN + 1])
{
    size_t n = 0;
    out[n++] = 'a';
    for (const char *p = uid; *p && n < LBP_LB_NAME_LEN; p++)
        if (*p != '-')
            out[n++] = *p;
    out[n] = '\0';
}
