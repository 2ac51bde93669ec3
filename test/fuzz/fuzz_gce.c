/*
 * fuzz_gce.c — what the GCE provider reads from outside (clouds/gce): the
 * gce.conf text, a Compute Operation (its error list, DONE or not), the
 * ownership description on each object, instance providerIDs and
 * reference URLs, and the credentials file (a service-account key, read
 * and its PEM key loaded, as the provider does at start). The same input
 * is each of these in turn, so a recorded answer is a seed as it is.
 * A refusal always names what is wrong.
 */
#include "test/fuzz/harness.h"
#include "clouds/gce/gce_int.h"
#include "common/json.h"
#include "common/rc.h"

#include <json-c/json.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gce_conf conf;
    struct json_object *j = NULL;
    struct lbp_token_source *src = NULL;
    struct fz_http h;
    char err[512] = "", a[128], b[64], c[64], path[512];
    const char *dir = fz_setup();
    char *text = fz_strndup(data, size);

    memset(&conf, 0, sizeof(conf));
    if (gce_conf_parse(text, "fuzz", &conf, err, sizeof(err)) == LBP_OK)
        FZ_CHECK(conf.project[0] == 0 ||
                 strnlen(conf.project, sizeof(conf.project)) < sizeof(conf.project));
    else
        FZ_CHECK(err[0]);

    err[0] = 0;
    if (gce_provider_id(text, a, sizeof(a), b, sizeof(b), c, sizeof(c), err, sizeof(err)) == LBP_OK)
        FZ_CHECK(a[0] && b[0] && c[0]);
    else
        FZ_CHECK(err[0]);
    (void)gce_ref_path(text);
    (void)gce_name_valid(text);
    (void)gce_zone_region(text, b, sizeof(b));
    (void)gce_desc_owned(text, "fuzz", a, sizeof(a));

    if (lbp_json_parse(text, size, 1u << 20, &j, err, sizeof(err)) == LBP_OK) {
        err[0] = 0;
        int rc = gce_op_error(j, err, sizeof(err));
        FZ_CHECK(rc == LBP_OK || err[0]); /* an Operation's error names itself */
        struct json_object *d = NULL;
        if (json_object_object_get_ex(j, "description", &d) &&
            json_object_get_type(d) == json_type_string)
            (void)gce_desc_owned(json_object_get_string(d), "fuzz", a, sizeof(a));
        json_object_put(j);
    }

    /* The credentials file: a service-account key is parsed and its key loaded. */
    if (memmem(data, size, "private_key", 11)) {
        FZ_CHECK(fz_write(dir, "gce-key.json", data, size, path, sizeof(path)) == 0);
        err[0] = 0;
        if (lbp_token_jwt_bearer(fz_http_client(&h), path, GCE_SCOPE, NULL, &src, err,
                                 sizeof(err)) == LBP_OK) {
            FZ_CHECK(src);
            src->free(src);
        } else {
            FZ_CHECK(err[0]);
        }
    }
    free(text);
    return 0;
}
