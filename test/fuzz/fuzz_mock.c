/*
 * fuzz_mock.c — the mock cloud's key=value settings, read from its
 * cloud-config file at start (init) and from a POST to /debug/mockcloud at
 * run time (debug_post): the input is both. Inputs that name a state_file
 * are only POSTed (where the state file cannot change), so the fuzzer
 * never points the mock at a path outside its scratch directory.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "provider/provider.h"

#include <string.h>

extern const struct lbp_provider lbp_provider_mock;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lbp_provider_ctx *base;
    const struct lbp_provider *p = &lbp_provider_mock;
    struct lbp_provider_ctx *ctx = NULL;
    char path[512], err[512] = "";
    const char *dir = fz_setup();
    char *text = fz_strndup(data, size);

    if (!base)
        FZ_CHECK(p->init(NULL, "fuzz", &base, err, sizeof(err)) == LBP_OK);
    if (!strcasestr(text, "state") && !strcasestr(text, "st\\")) {
        FZ_CHECK(fz_write(dir, "cloud.conf", data, size, path, sizeof(path)) == 0);
        if (p->init(path, "fuzz", &ctx, err, sizeof(err)) == LBP_OK)
            p->cleanup(ctx);
        else
            FZ_CHECK(err[0]); /* the refusal names the line */
    }
    err[0] = '\0';
    if (p->debug_post(base, text, err, sizeof(err)) != LBP_OK)
        FZ_CHECK(err[0]);
    char *js = p->debug_json(base);
    FZ_CHECK(js);
    free(js);
    free(text);
    return 0;
}
