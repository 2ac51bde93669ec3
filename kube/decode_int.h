/*
 * decode_int.h — decoding from an already-parsed token view (json_view.h),
 * for the files in kube/ that parse a larger document (a watch event, a
 * LIST item) and hand the object inside it on without parsing it again.
 */
#ifndef LBP_KUBE_DECODE_INT_H
#define LBP_KUBE_DECODE_INT_H

#include "kube/kube.h"

struct lbp_json_view;

/* Same contract as lbp_kube_decode, from token root of a parsed view. */
int lbp_kube_decode_obj(enum lbp_kind kind, const struct lbp_json_view *v, int root, void **out);

/*
 * Only what identifies the object — name, namespace, key, uid,
 * resourceVersion, deleting, finalizers — into a zeroed struct of the
 * kind with meta.partial set: for an object lbp_kube_decode_obj refused.
 * LBP_PARSE when even the identity is unusable.
 */
int lbp_kube_decode_ident(enum lbp_kind kind, const struct lbp_json_view *v, int root, void **out);

/* "Service", "Node", ... for log lines. */
const char *lbp_kube_kind_name(enum lbp_kind kind);

#endif
