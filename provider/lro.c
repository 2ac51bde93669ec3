/*
 * lro.c — the in-flight operation table (see lro.h): a uthash map from LB
 * name to operation under one mutex. The poll itself runs unlocked: the
 * reconciler never calls a provider twice at once for the same LB name,
 * so only the table, not an entry, is shared between workers.
 */
#include "provider/lro.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

struct op {
    char *lb_name;
    char what[96];
    char ref[LBP_LRO_REF_MAX];
    uint64_t started_ms;
    unsigned polls;
    UT_hash_handle hh;
};

struct lbp_lro_table {
    pthread_mutex_t mu;
    struct op *ops;
};

int lbp_lro_table_new(struct lbp_lro_table **out)
{
    struct lbp_lro_table *t = calloc(1, sizeof(*t));
    *out = t;
    if (!t)
        return LBP_NOMEM;
    pthread_mutex_init(&t->mu, NULL);
    return LBP_OK;
}

static void op_free(struct op *o)
{
    if (o) {
        free(o->lb_name);
        free(o);
    }
}

void lbp_lro_table_free(struct lbp_lro_table *t)
{
    struct op *o, *tmp;
    if (!t)
        return;
    HASH_ITER(hh, t->ops, o, tmp)
    {
        HASH_DEL(t->ops, o);
        op_free(o);
    }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int lbp_lro_start(struct lbp_lro_table *t, const char *lb_name, const char *what, const char *ref,
                  unsigned retry_after_s, struct lbp_call *call)
{
    struct op *o, *old = NULL;
    if (strlen(ref) >= sizeof(o->ref)) {
        lbp_failf(call, "%s: operation reference longer than %zu bytes", what, sizeof(o->ref) - 1);
        return LBP_RETRY;
    }
    o = calloc(1, sizeof(*o));
    if (!o || !(o->lb_name = strdup(lb_name))) {
        free(o);
        return LBP_NOMEM;
    }
    lbp_strlcpy(o->what, what, sizeof(o->what));
    lbp_strlcpy(o->ref, ref, sizeof(o->ref));
    o->started_ms = lbp_now_ms();
    pthread_mutex_lock(&t->mu);
    HASH_FIND_STR(t->ops, lb_name, old);
    if (old)
        HASH_DEL(t->ops, old);
    HASH_ADD_KEYPTR(hh, t->ops, o->lb_name, strlen(o->lb_name), o);
    pthread_mutex_unlock(&t->mu);
    op_free(old);
    lbp_v(2, "lro %s: %s started", lb_name, what);
    if (call) {
        call->retry_after_s = retry_after_s ? retry_after_s : 1;
        lbp_failf(call, "%s: in progress", what);
    }
    return LBP_PENDING;
}

void lbp_lro_forget(struct lbp_lro_table *t, const char *lb_name)
{
    struct op *o = NULL;
    pthread_mutex_lock(&t->mu);
    HASH_FIND_STR(t->ops, lb_name, o);
    if (o)
        HASH_DEL(t->ops, o);
    pthread_mutex_unlock(&t->mu);
    op_free(o);
}

size_t lbp_lro_count(struct lbp_lro_table *t)
{
    size_t n;
    pthread_mutex_lock(&t->mu);
    n = HASH_COUNT(t->ops);
    pthread_mutex_unlock(&t->mu);
    return n;
}

int lbp_lro_poll(struct lbp_lro_table *t, const char *lb_name, lbp_lro_poll_fn poll, void *ud,
                 struct lbp_call *call)
{
    struct op *o = NULL;
    unsigned ra = 0;
    char err[LBP_ERRBUF_SIZE - 128] = "";
    int rc;

    pthread_mutex_lock(&t->mu);
    HASH_FIND_STR(t->ops, lb_name, o);
    pthread_mutex_unlock(&t->mu);
    if (!o)
        return LBP_NOT_FOUND;
    if (lbp_now_ms() - o->started_ms > (uint64_t)LBP_LRO_MAX_AGE_S * 1000) {
        lbp_warn("lro %s: %s still not done after %d s; reading the cloud's state again", lb_name,
                 o->what, LBP_LRO_MAX_AGE_S);
        lbp_lro_forget(t, lb_name);
        return LBP_NOT_FOUND;
    }
    rc = poll(ud, o->ref, &ra, err, sizeof(err));
    o->polls++;
    if (rc == LBP_PENDING || rc == LBP_RETRY) {
        unsigned grow = 1u << (o->polls > 6 ? 6 : o->polls - 1);
        if (grow > LBP_LRO_MAX_DELAY_S)
            grow = LBP_LRO_MAX_DELAY_S;
        if (call) {
            call->retry_after_s = ra ? ra : grow;
            if (rc == LBP_PENDING)
                lbp_failf(call, "%s: in progress (%u polls)", o->what, o->polls);
            else
                lbp_failf(call, "%s: cannot poll: %s", o->what, err);
        }
        return rc;
    }
    lbp_v(2, "lro %s: %s done after %u polls: %s", lb_name, o->what, o->polls, lbp_rc_str(rc));
    if (rc)
        lbp_failf(call, "%s failed: %s", o->what, err);
    lbp_lro_forget(t, lb_name);
    return rc;
}
