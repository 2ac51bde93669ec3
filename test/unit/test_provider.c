/*
 * test_provider.c — the registry's promise check: every built-in cloud's
 * capability bits agree with its slots, and a vtable that claims a
 * behaviour without the slot it needs (or fills a slot its bits deny) is
 * refused with a message naming the cloud and the gap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "provider/provider.h"

#include <string.h>

static int init_(const char *p, const char *c, struct lbp_provider_ctx **o, char *e, size_t l)
{
    return LBP_OK;
}
static void cleanup_(struct lbp_provider_ctx *ctx)
{
}
static int get_(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *s, struct lbp_lb_status *st,
                struct lbp_call *c)
{
    return LBP_OK;
}
static int remove_(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *s, struct lbp_call *c)
{
    return LBP_OK;
}
static int ping_(struct lbp_provider_ctx *ctx, struct lbp_call *c)
{
    return LBP_OK;
}
static int configure_(struct lbp_provider_ctx *ctx, const char *kind, const char *const *objs,
                      size_t n, char *err, size_t errlen)
{
    return LBP_OK;
}
static int restore_(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *s,
                    const struct lbp_lb_status *st)
{
    return LBP_OK;
}

static const struct lbp_config_kind one_kind[] = {{"Widget", "/apis/x/v1/widgets", "X"},
                                                  {NULL, NULL, NULL}};

static struct lbp_provider base(void)
{
    return (struct lbp_provider){.name = "t",
                                 .init = init_,
                                 .cleanup = cleanup_,
                                 .get = get_,
                                 .ensure = get_,
                                 .remove = remove_,
                                 .ping = ping_};
}

static void refused(const struct lbp_provider *p, const char *want)
{
    char err[256] = "";
    assert_int_equal(lbp_provider_check(p, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "cloud t: "));
    assert_non_null(strstr(err, want));
}

static void test_builtin(void **state)
{
    char err[256];
    size_t n = 0;
    (void)state;
    for (; lbp_providers[n]; n++) {
        err[0] = '\0';
        assert_int_equal(lbp_provider_check(lbp_providers[n], err, sizeof(err)), LBP_OK);
    }
    assert_true(n >= 1);
    /* bare metal states what the reconciler used to guess from its slots */
    const struct lbp_provider *bm = lbp_provider_find("baremetal");
    if (bm) {
        assert_true(bm->caps & LBP_CAP_RUNTIME_CONFIG);
        assert_true(bm->caps & LBP_CAP_ALLOCATES_ADDRESSES);
        assert_true(bm->caps & LBP_CAP_SERVICE_LABELS);
        assert_string_equal(bm->config_kinds[0].path, "/apis/metallb.io/v1beta1/ipaddresspools");
        assert_string_equal(bm->config_kinds[1].kind, "L2Advertisement");
        assert_null(bm->config_kinds[2].kind);
    }
    const struct lbp_provider *mock = lbp_provider_find("mock");
    if (mock)
        assert_false(mock->caps & (LBP_CAP_RUNTIME_CONFIG | LBP_CAP_ALLOCATES_ADDRESSES |
                                   LBP_CAP_SERVICE_LABELS));
}

static void test_promises(void **state)
{
    char err[256];
    struct lbp_provider p = base();
    (void)state;
    assert_int_equal(lbp_provider_check(&p, err, sizeof(err)), LBP_OK);

    p.caps = LBP_CAP_RUNTIME_CONFIG;
    refused(&p, "LBP_CAP_RUNTIME_CONFIG without a configure slot");
    p.configure = configure_;
    refused(&p, "LBP_CAP_RUNTIME_CONFIG without a configure slot and config_kinds");
    p.config_kinds = one_kind;
    assert_int_equal(lbp_provider_check(&p, err, sizeof(err)), LBP_OK);
    p.caps = 0; /* a slot the bits deny */
    refused(&p, "without LBP_CAP_RUNTIME_CONFIG");

    p = base();
    p.caps = LBP_CAP_ALLOCATES_ADDRESSES;
    refused(&p, "LBP_CAP_ALLOCATES_ADDRESSES without a restore slot");
    p.restore = restore_;
    assert_int_equal(lbp_provider_check(&p, err, sizeof(err)), LBP_OK);
    p.caps = 0; /* restore alone is just a slot: allowed */
    assert_int_equal(lbp_provider_check(&p, err, sizeof(err)), LBP_OK);

    p = base();
    p.ping = NULL;
    refused(&p, "slots every cloud needs");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin),
        cmocka_unit_test(test_promises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
