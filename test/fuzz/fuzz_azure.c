/*
 * fuzz_azure.c — what the Azure provider reads from outside
 * (clouds/azure): the azure.json cloud config (every key, the auth mode
 * and endpoints), and ARM's error envelope through the provider's own
 * mapper (codes, throttling, quota). The same input is each in turn, so
 * a recorded answer or a config file is a seed as it is. A config that
 * parses has its endpoints ending in '/'; a refusal names the key.
 */
#include "test/fuzz/harness.h"
#include "clouds/azure/azure_int.h"
#include "common/json.h"
#include "common/rc.h"

#include <json-c/json.h>
#include <string.h>

static void ends_in_slash(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    FZ_CHECK(n < cap);
    FZ_CHECK(n == 0 || s[n - 1] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct az_config cfg;
    struct json_object *j = NULL;
    struct lbp_rest_error e;
    char err[512] = "";
    char *text = fz_strndup(data, size);
    fz_setup();

    memset(&cfg, 0, sizeof(cfg));
    if (az_config_parse(text, size, "fuzz", &cfg, err, sizeof(err)) == LBP_OK) {
        ends_in_slash(cfg.arm, sizeof(cfg.arm));
        ends_in_slash(cfg.aad, sizeof(cfg.aad));
        ends_in_slash(cfg.imds, sizeof(cfg.imds));
    } else {
        FZ_CHECK(err[0]);
    }
    az_config_free(&cfg);

    if (lbp_json_parse(text, size, 1u << 20, &j, err, sizeof(err)) == LBP_OK) {
        memset(&e, 0, sizeof(e));
        az_map_error(j, &e);
        FZ_CHECK(strnlen(e.code, sizeof(e.code)) < sizeof(e.code));
        FZ_CHECK(strnlen(e.message, sizeof(e.message)) < sizeof(e.message));
        json_object_put(j);
    }
    free(text);
    return 0;
}
