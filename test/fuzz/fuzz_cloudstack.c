/*
 * fuzz_cloudstack.c — what the CloudStack provider reads from its API's
 * JSON replies (clouds/cloudstack): the single "<command>response"
 * wrapper, the error envelope (errorcode, errortext), an async job's
 * outcome (queryAsyncJobResult: pending, done, failed with its text),
 * and the tags and fields the provider reads off listed objects. A
 * recorded reply is a seed as it is. A failed job names why.
 */
#include "test/fuzz/harness.h"
#include "clouds/cloudstack/cs_int.h"
#include "common/json.h"
#include "common/rc.h"

#include <json-c/json.h>
#include <string.h>

static void item(struct json_object *o)
{
    char buf[64], err[512] = "";
    (void)cs_str(o, "id", buf, sizeof(buf));
    (void)cs_str(o, "ipaddress", buf, sizeof(buf));
    (void)cs_has_tag(o, "lbprov-service", "fuzz/svc");
    (void)cs_tag(o, "lbprov-cluster");
    int rc = lbp_cs_job_outcome(o, err, sizeof(err));
    FZ_CHECK(rc == LBP_OK || rc == LBP_PENDING || err[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *j = NULL;
    struct lbp_rest_error e;
    char err[256];
    fz_setup();
    if (lbp_json_parse((const char *)data, size, 1u << 20, &j, err, sizeof(err)) != LBP_OK)
        return 0;
    memset(&e, 0, sizeof(e));
    lbp_cs_map_error(j, &e);
    FZ_CHECK(strnlen(e.message, sizeof(e.message)) < sizeof(e.message));
    struct json_object *in = lbp_cs_unwrap(j);
    if (in && json_object_is_type(in, json_type_object)) {
        item(in);
        /* A list reply: every array inside is a list of items. */
        json_object_object_foreach(in, k, v)
        {
            (void)k;
            if (json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++)
                    item(json_object_array_get_idx(v, i));
            else if (json_object_is_type(v, json_type_object))
                item(v);
        }
    }
    json_object_put(j);
    return 0;
}
