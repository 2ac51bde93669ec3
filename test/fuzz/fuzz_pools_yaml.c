/*
 * fuzz_pools_yaml.c — the bare-metal address pool file (YAML). Whatever is
 * accepted must pass or fail the whole-set check cleanly, and every pool
 * it holds must be found by its name.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "pools/pools.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lbp_pools_diag d;
    struct lbp_pool_set *set;
    fz_setup();
    set = lbp_pool_set_new();
    FZ_CHECK(set);
    memset(&d, 0, sizeof(d));
    if (lbp_pools_add_yaml(set, (const char *)data, size, &d) == LBP_OK) {
        fz_pools_check(set);
    } else {
        FZ_CHECK(d.err[0]); /* a refusal names what is wrong */
    }
    lbp_pool_set_free(set);
    return 0;
}
