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
#ifdef LBP_CLOUD_CLOUDSTACK
extern const struct lbp_provider lbp_provider_cloudstack;
#endif
#ifdef LBP_CLOUD_GCE
extern const struct lbp_provider lbp_provider_gce;
#endif
#ifdef LBP_CLOUD_AZURE
extern const struct lbp_provider lbp_provider_azure;
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
#ifdef LBP_CLOUD_CLOUDSTACK
    &lbp_provider_cloudstack,
#endif
#ifdef LBP_CLOUD_GCE
    &lbp_provider_gce,
#endif
#ifdef LBP_CLOUD_AZURE
    &lbp_provider_azure,
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

int lbp_provider_check(const struct lbp_provider *p, char *err, size_t errlen)
{
    const char *what = NULL;
    size_t kinds = 0;
    for (; p->config_kinds && p->config_kinds[kinds].kind; kinds++)
        if (!p->config_kinds[kinds].path || !p->config_kinds[kinds].source)
            what = "a config kind without an API path or source";
    if (!p->init || !p->cleanup || !p->get || !p->ensure || !p->remove || !p->ping)
        what = "one of the slots every cloud needs (init, cleanup, get, ensure, remove, ping)";
    else if ((p->caps & LBP_CAP_RUNTIME_CONFIG) && (!p->configure || !kinds))
        what = "LBP_CAP_RUNTIME_CONFIG without a configure slot and config_kinds";
    else if (kinds > LBP_CONFIG_KINDS_MAX)
        what = "more than LBP_CONFIG_KINDS_MAX config kinds";
    else if (!(p->caps & LBP_CAP_RUNTIME_CONFIG) && (p->configure || kinds))
        what = "a configure slot or config_kinds without LBP_CAP_RUNTIME_CONFIG";
    else if ((p->caps & LBP_CAP_ALLOCATES_ADDRESSES) && !p->restore)
        what = "LBP_CAP_ALLOCATES_ADDRESSES without a restore slot";
    if (!what)
        return LBP_OK;
    snprintf(err, errlen, "cloud %s: %s", p->name ? p->name : "(unnamed)", what);
    return LBP_INVALID;
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
