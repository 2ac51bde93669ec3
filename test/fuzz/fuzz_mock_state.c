/*
 * fuzz_mock_state.c — the mock cloud's state file, loaded at start so
 * load balancers survive a restart: the input is the file. One that loads
 * must list its load balancers, and no two may hold one address (the
 * mock would otherwise give one VIP to two Services).
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "provider/provider.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

extern const struct lbp_provider lbp_provider_mock;

static void check_vips(const char *debug)
{
    json_object *root = json_tokener_parse(debug), *lbs;
    FZ_CHECK(root && json_object_object_get_ex(root, "loadBalancers", &lbs));
    size_t n = json_object_array_length(lbs);
    for (size_t i = 0; i < n; i++) {
        json_object *a = json_object_array_get_idx(lbs, i), *va;
        if (!json_object_object_get_ex(a, "vip", &va) || !json_object_get_string_len(va))
            continue;
        for (size_t j = i + 1; j < n; j++) {
            json_object *vb;
            if (json_object_object_get_ex(json_object_array_get_idx(lbs, j), "vip", &vb))
                FZ_CHECK(strcmp(json_object_get_string(va), json_object_get_string(vb)) != 0);
        }
    }
    json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char conf[512], state[512];
    const struct lbp_provider *p = &lbp_provider_mock;
    struct lbp_provider_ctx *ctx = NULL;
    struct lbp_lb_owned *owned = NULL;
    struct lbp_call call = {0};
    char err[512] = "";
    size_t n = 0;
    const char *dir = fz_setup();

    if (!conf[0]) {
        char text[700];
        snprintf(state, sizeof(state), "%s/state.json", dir);
        int l = snprintf(text, sizeof(text), "vip_range=10.9.0.0/24\nstate_file=%s\n", state);
        FZ_CHECK(fz_write(dir, "cloud.conf", text, (size_t)l, conf, sizeof(conf)) == 0);
    }
    FZ_CHECK(fz_write(dir, "state.json", data, size, state, sizeof(state)) == 0);
    if (p->init(conf, "fuzz", &ctx, err, sizeof(err)) != LBP_OK) {
        FZ_CHECK(err[0]); /* a damaged file is refused, naming the field */
        return 0;
    }
    FZ_CHECK(p->list_owned(ctx, &owned, &n, &call) == LBP_OK);
    free(owned);
    char *js = p->debug_json(ctx);
    FZ_CHECK(js);
    check_vips(js);
    free(js);
    p->cleanup(ctx);
    return 0;
}
