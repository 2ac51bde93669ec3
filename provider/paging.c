/* paging.c — the token pager (see paging.h). */
#include "provider/paging.h"

#include <string.h>

#include "common/log.h"
#include "common/rc.h"

void lbp_pager_init(struct lbp_pager *p, unsigned max_pages)
{
    p->token[0] = 0;
    p->next[0] = 0;
    p->pages = 0;
    p->max_pages = max_pages ? max_pages : LBP_PAGER_MAX_PAGES;
    p->rc = LBP_OK;
}

bool lbp_pager_next(struct lbp_pager *p)
{
    if (p->rc != LBP_OK)
        return false;
    if (p->pages > 0) {
        if (!p->next[0])
            return false;
        if (strcmp(p->next, p->token) == 0) {
            lbp_warn("paging: the cloud answered the same page token twice; stopping");
            p->rc = LBP_RETRY;
            return false;
        }
        memcpy(p->token, p->next, sizeof(p->token));
        p->next[0] = 0;
    }
    if (p->pages >= p->max_pages) {
        lbp_warn("paging: more than %u pages; stopping", p->max_pages);
        p->rc = LBP_RETRY;
        return false;
    }
    p->pages++;
    return true;
}
