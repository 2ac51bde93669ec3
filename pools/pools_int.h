/*
 * pools_int.h — what the files of pools/ share and nobody else uses.
 *
 * Both inputs (lbprov's YAML and MetalLB's JSON objects) are turned into
 * json-c trees and walked by the same code, so the two spellings of a pool
 * are checked by one set of rules and produce the same messages.
 */
#ifndef LBP_POOLS_INT_H
#define LBP_POOLS_INT_H

#include <json-c/json.h>

#include "pools/pools.h"

void lbp_pools_errf(struct lbp_pools_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lbp_pools_warnf(struct lbp_pools_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* snprintf for field paths; cut paths are fine (they only feed messages). */
void lbp_pools_pathf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int lbp_pools_strv_push(char ***v, size_t *n, const char *s);
void lbp_pools_strv_free(char **v, size_t n);

void lbp_selector_clear(struct lbp_selector *s);
void lbp_selectors_free(struct lbp_selector *s, size_t n);
void lbp_pool_adv_clear(struct lbp_pool_adv *a);
void lbp_pool_clear(struct lbp_pool *p);

/* Appends pools (moved in: the array's entries belong to the set afterwards). */
int lbp_pool_set_take(struct lbp_pool_set *set, struct lbp_pool *pools, size_t n);

/*
 * Walkers over a json-c tree. path is the prefix for messages ("pools[0]."
 * or "IPAddressPool lan: spec."). Unknown keys become warnings.
 */
int lbp_pools_parse_selectors(json_object *arr, const char *path, struct lbp_selector **out,
                              size_t *n_out, struct lbp_pools_diag *d);
int lbp_pools_parse_strings(json_object *arr, const char *path, char ***out, size_t *n_out,
                            struct lbp_pools_diag *d);
/* addresses, autoAssign, avoidBuggyIPs, serviceAllocation; skip names other keys to ignore. */
int lbp_pools_parse_spec(json_object *obj, const char *path, struct lbp_pool *p,
                         const char *const *skip, struct lbp_pools_diag *d);
int lbp_pools_parse_bool(json_object *v, const char *path, bool *out, struct lbp_pools_diag *d);
/* Warns about keys of obj not in known (NULL-terminated). */
void lbp_pools_warn_unknown(json_object *obj, const char *path, const char *const *known,
                            const char *const *known2, struct lbp_pools_diag *d);

#endif
