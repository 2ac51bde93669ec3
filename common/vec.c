/* vec.c — the capped growable array (see vec.h). */
#include "common/vec.h"

#include <stdlib.h>
#include <string.h>

void lbp_vec_init(struct lbp_vec *a, size_t elem)
{
    memset(a, 0, sizeof(*a));
    a->elem = elem;
}

void *lbp_vec_push(struct lbp_vec *a)
{
    void *p;
    if (a->n >= LBP_VEC_MAX_ITEMS)
        return NULL;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 8;
        void *nv = realloc(a->v, nc * a->elem);
        if (!nv)
            return NULL;
        a->v = nv;
        a->cap = nc;
    }
    p = (char *)a->v + a->n * a->elem;
    memset(p, 0, a->elem);
    a->n++;
    return p;
}

void lbp_vec_free(struct lbp_vec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}
