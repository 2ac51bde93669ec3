/*
 * decode_int.h — decoding from an already-parsed json-c tree, for the files
 * in kube/ that parse a larger document (a watch event, a LIST page) and
 * hand each object on without printing and re-parsing it.
 */
#ifndef LBP_KUBE_DECODE_INT_H
#define LBP_KUBE_DECODE_INT_H

#include "kube/kube.h"

struct json_object;

/* Same contract as lbp_kube_decode, from a parsed object. */
int lbp_kube_decode_obj(enum lbp_kind kind, struct json_object *root, void **out);

/*
 * Only what identifies the object — name, namespace, key, uid,
 * resourceVersion, deleting, finalizers — into a zeroed struct of the
 * kind with meta.partial set: for an object lbp_kube_decode_obj refused.
 * LBP_PARSE when even the identity is unusable.
 */
int lbp_kube_decode_ident(enum lbp_kind kind, struct json_object *root, void **out);

/* "Service", "Node", ... for log lines. */
const char *lbp_kube_kind_name(enum lbp_kind kind);

#endif
