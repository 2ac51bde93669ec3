/*
 * informer_int.h — a seam into the informer's event path for tests and
 * benchmarks: feed watch lines and LIST bodies in-process, without a server.
 */
#ifndef LBP_KUBE_INFORMER_INT_H
#define LBP_KUBE_INFORMER_INT_H

#include "kube/kube.h"

/*
 * Runs one watch line ({"type":...,"object":...}) through the same code the
 * watch thread uses: decode, cache update, handlers. The informer may have
 * been created with a NULL client for this (it cannot be started then).
 * Returns LBP_OK, LBP_PARSE for a garbage line, LBP_GONE for an ERROR
 * event carrying 410.
 */
int lbp_informer_feed_line(struct lbp_informer *inf, const char *line, size_t len);

/*
 * Runs one complete LIST body (a single page, no continue token) through
 * the same code a LIST uses: decode each item, replace the cache, tell the
 * handlers the difference.
 */
int lbp_informer_feed_list(struct lbp_informer *inf, const char *body, size_t len);

/* The resourceVersion the next watch would start from ("" before the first LIST). */
void lbp_informer_last_rv(struct lbp_informer *inf, char *out, size_t outlen);

#endif
