/*
 * meta.c — ObjectMeta helpers and reference counting for cached objects.
 *
 * A cached object is immutable once published; its lifetime is a reference
 * count in lbp_meta, dropped with lbp_kube_obj_unref. The last reference
 * calls the type's free_fn.
 */
#include "kube/kube.h"

#include <string.h>

const char *lbp_meta_label(const struct lbp_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n_labels; i++)
        if (strcmp(m->labels[i].key, key) == 0)
            return m->labels[i].value;
    return NULL;
}

const char *lbp_meta_annotation(const struct lbp_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n_annotations; i++)
        if (strcmp(m->annotations[i].key, key) == 0)
            return m->annotations[i].value;
    return NULL;
}

bool lbp_meta_has_finalizer(const struct lbp_meta *m, const char *f)
{
    for (size_t i = 0; i < m->n_finalizers; i++)
        if (strcmp(m->finalizers[i], f) == 0)
            return true;
    return false;
}

void *lbp_kube_obj_ref(void *obj)
{
    struct lbp_meta *m = obj;
    if (m)
        __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return obj;
}

void lbp_kube_obj_unref(void *obj)
{
    struct lbp_meta *m = obj;
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0 && m->free_fn)
        m->free_fn(m);
}
