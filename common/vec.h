/*
 * vec.h — a growable array of fixed-size elements with a hard cap.
 *
 * Parsers append with lbp_vec_push, which hands back a zeroed slot; the
 * array doubles as it grows and refuses (NULL) beyond LBP_VEC_MAX_ITEMS, so
 * a hostile answer can make a parse fail but never allocate without bound.
 * Elements own nothing the vector knows of: free what they hold first.
 */
#ifndef LBP_COMMON_VEC_H
#define LBP_COMMON_VEC_H

#include <stddef.h>

#define LBP_VEC_MAX_ITEMS 100000

struct lbp_vec {
    void *v;     /* n elements of elem bytes each */
    size_t n;    /* in use */
    size_t cap;  /* allocated */
    size_t elem; /* element size */
};

void lbp_vec_init(struct lbp_vec *a, size_t elem);
void *lbp_vec_push(struct lbp_vec *a); /* zeroed element, or NULL (no memory, or the cap) */
/* Element i (no bounds check beyond an assert-free cast: callers loop to n). */
static inline void *lbp_vec_at(const struct lbp_vec *a, size_t i)
{
    return (char *)a->v + i * a->elem;
}
void lbp_vec_free(struct lbp_vec *a);

#endif
