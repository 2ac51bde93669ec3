/*
 * fuzz_kube_decode.c — one object of any kind through the decoder, as the
 * informer would hand it a watch event's or LIST page's item: the input
 * is the object's JSON text, decoded as each of the four kinds (Service,
 * Node, EndpointSlice, Lease) in turn.
 *
 * The Service goes through lbp_kube_decode (tokenise, then decode); the
 * other three kinds decode the tokens of one more parse, as the informer
 * decodes from its own view. Tokenising is most of a decode's work, and
 * doing it once per kind spent half the target's time on the same tokens.
 */
#include "test/fuzz/harness.h"
#include "kube/decode_int.h"
#include "kube/json_view.h"
#include "kube/kube.h"
#include "common/rc.h"

#include <string.h>

static void check(int rc, void *obj)
{
    if (rc == LBP_OK) {
        const struct lbp_meta *m = obj;
        /* Every decoded object has a key the cache can index it by. */
        FZ_CHECK(m->key && m->name && !m->partial);
        FZ_CHECK(strlen(m->key) >= strlen(m->name));
        lbp_kube_obj_unref(obj);
    } else {
        FZ_CHECK(obj == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static jsmntok_t fixed[512];
    struct lbp_json_view v;
    void *obj = NULL;
    int rc;

    fz_setup();
    rc = lbp_kube_decode(LBP_KIND_SERVICE, (const char *)data, size, &obj);
    check(rc, obj);

    lbp_jv_init(&v, fixed, sizeof(fixed) / sizeof(fixed[0]));
    int prc = lbp_jv_parse(&v, (const char *)data, size);
    for (int kind = LBP_KIND_SERVICE + 1; kind <= LBP_KIND_LEASE; kind++) {
        obj = NULL;
        rc = prc == LBP_OK ? lbp_kube_decode_obj((enum lbp_kind)kind, &v, 0, &obj) : prc;
        check(rc, obj);
    }
    lbp_jv_free(&v);
    return 0;
}
