/*
 * fuzz_kube_decode.c — one object of any kind through the decoder, as the
 * informer would hand it a watch event's or LIST page's item: the input
 * is the object's JSON text, decoded as each of the four kinds (Service,
 * Node, EndpointSlice, Lease) in turn.
 */
#include "test/fuzz/harness.h"
#include "kube/kube.h"
#include "common/rc.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_setup();
    for (int kind = LBP_KIND_SERVICE; kind <= LBP_KIND_LEASE; kind++) {
        void *obj = NULL;
        if (lbp_kube_decode((enum lbp_kind)kind, (const char *)data, size, &obj) == LBP_OK) {
            const struct lbp_meta *m = obj;
            /* Every decoded object has a key the cache can index it by. */
            FZ_CHECK(m->key && m->name && !m->partial);
            FZ_CHECK(strlen(m->key) >= strlen(m->name));
            lbp_kube_obj_unref(obj);
        } else {
            FZ_CHECK(obj == NULL);
        }
    }
    return 0;
}
