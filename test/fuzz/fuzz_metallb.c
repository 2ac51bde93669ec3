/*
 * fuzz_metallb.c — MetalLB's IPAddressPool and L2Advertisement objects as
 * the API server returns them (JSON). Input: pool objects separated by
 * "\n---\n", then "\n===\n", then advertisement objects the same way.
 * Accepted pools must be found by name and contain their own ranges.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "pools/pools.h"

#include <string.h>

#define MAX_OBJS 8

static size_t strings(const struct fz_part *in, char **out)
{
    struct fz_part objs[MAX_OBJS];
    size_t n = fz_split(in->p, in->n, "\n---\n", objs, MAX_OBJS);
    for (size_t i = 0; i < n; i++)
        out[i] = fz_strndup(objs[i].p, objs[i].n);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_part halves[2];
    char *pools[MAX_OBJS], *l2[MAX_OBJS];
    size_t np, nl = 0;
    struct lbp_pools_diag d;
    struct lbp_pool_set *set;

    fz_setup();
    size_t nh = fz_split(data, size, "\n===\n", halves, 2);
    np = strings(&halves[0], pools);
    if (nh > 1)
        nl = strings(&halves[1], l2);
    set = lbp_pool_set_new();
    FZ_CHECK(set);
    memset(&d, 0, sizeof(d));
    if (lbp_pools_add_metallb(set, (const char *const *)pools, np, (const char *const *)l2, nl,
                              &d) == LBP_OK) {
        fz_pools_check(set);
    } else {
        FZ_CHECK(d.err[0]);
        FZ_CHECK(set->n_pools == 0); /* on failure the set is unchanged */
    }
    lbp_pool_set_free(set);
    for (size_t i = 0; i < np; i++)
        free(pools[i]);
    for (size_t i = 0; i < nl; i++)
        free(l2[i]);
    return 0;
}
