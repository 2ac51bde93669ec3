/*
 * fuzz_rest.c — the cloud toolkit's JSON REST call (provider/rest.c) and
 * its paging, fed scripted answers (harness.h): a single call, a list
 * paged by a token parameter (GCE's nextPageToken), and a list paged by
 * next links (Azure's nextLink), each from the first answer on. The
 * error-envelope mapper is the default one ({"error":{...}} and OAuth).
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "provider/provider.h"
#include "provider/rest.h"

#include <json-c/json.h>
#include <string.h>

static int each(void *ud, struct json_object *item)
{
    (*(unsigned *)ud)++;
    return json_object_get_type(item) == json_type_int && json_object_get_int(item) == 13
               ? LBP_INVALID /* a caller refusing an item stops the list */
               : LBP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const capture[] = {"Location", "Azure-AsyncOperation"};
    struct fz_http h;
    struct lbp_rest r = {0};
    struct lbp_rest_error e;
    struct lbp_rest_resp resp;
    struct lbp_call call;
    unsigned items = 0;
    int rc;

    fz_setup();
    r.http = fz_http_client(&h);

    fz_http_script(&h, data, size);
    memset(&call, 0, sizeof(call));
    struct lbp_rest_req q = {.method = "PUT",
                             .url = "https://cloud.fuzz/v1/lbs/a",
                             .operation = "Put",
                             .capture = capture,
                             .n_capture = 2};
    rc = lbp_rest_call(&r, &q, &resp, &e, &call);
    if (rc == LBP_OK)
        FZ_CHECK(resp.status >= 200 && resp.status < 300);
    else if (rc != LBP_RETRY && rc != LBP_TOOBIG)
        FZ_CHECK(call.err[0]); /* a failure names itself for the Warning Event */
    lbp_rest_resp_free(&resp);

    fz_http_script(&h, data, size);
    memset(&call, 0, sizeof(call));
    lbp_rest_list(&r, "https://cloud.fuzz/v1/lbs?filter=x", "List", "items", "nextPageToken",
                  "pageToken", each, &items, &e, &call);
    FZ_CHECK(h.requests <= 3 * FZ_HTTP_MAX);

    fz_http_script(&h, data, size);
    memset(&call, 0, sizeof(call));
    lbp_rest_list(&r, "https://cloud.fuzz/subscriptions/s/lbs", "ListLinks", "value", "nextLink",
                  NULL, each, &items, &e, &call);
    return 0;
}
