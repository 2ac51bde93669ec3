/*
 * paging.h — one loop for every paged list a cloud answers.
 *
 * AWS (Marker/NextMarker, NextToken/nextToken), GCE (pageToken /
 * nextPageToken), Azure (nextLink) and CloudStack (page/pagesize) all say
 * "there is more" with a token the next request carries. The pager holds
 * that token, stops when the cloud stops giving one, and refuses to loop
 * for ever: a token repeated back to back (a broken endpoint) or more than
 * max_pages pages ends the walk with an error instead of a hang.
 *
 *     struct lbp_pager pg;
 *     lbp_pager_init(&pg, 0);
 *     while (rc == LBP_OK && lbp_pager_next(&pg)) {
 *         // send the request, with pg.token when pg.token[0]
 *         // parse the page, writing the next token into pg.next (cap sizeof(pg.next))
 *     }
 *     if (rc == LBP_OK)
 *         rc = pg.rc;
 */
#ifndef LBP_PROVIDER_PAGING_H
#define LBP_PROVIDER_PAGING_H

#include <stdbool.h>
#include <stddef.h>

#define LBP_PAGE_TOKEN_MAX 4096 /* an Azure nextLink is a whole URL */
#define LBP_PAGER_MAX_PAGES 10000

struct lbp_pager {
    char token[LBP_PAGE_TOKEN_MAX]; /* for this page; "" on the first */
    char next[LBP_PAGE_TOKEN_MAX];  /* the parser's: the token for the page after, "" at the end */
    unsigned pages;                 /* pages begun */
    unsigned max_pages;
    int rc; /* LBP_OK, or why the walk stopped early (LBP_RETRY: the cloud repeated a token or sent
               too many pages) */
};

/* max_pages 0: LBP_PAGER_MAX_PAGES. */
void lbp_pager_init(struct lbp_pager *p, unsigned max_pages);
/*
 * Before each page: true to fetch it (p->token says which). false when the
 * previous page had no next token, or the walk must stop (p->rc set).
 */
bool lbp_pager_next(struct lbp_pager *p);

#endif
