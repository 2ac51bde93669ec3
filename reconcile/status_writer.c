/*
 * status_writer.c — the Service PATCHes (finalizer, status.loadBalancer)
 * off the workers' path.
 *
 * A worker used to wait for each write's round trip before taking its next
 * key; with one worker those waits were most of each sync. Here it submits
 * the write and moves on; a fixed pool of threads makes the PATCHes through
 * the same synchronous client (whose slot pool gives each thread its own
 * warm connection).
 *
 * One entry per key (ns/name) while it has work: `pending` (not yet sent)
 * and `inflight` (being sent). A key with a pending job and none in flight
 * is on the ready FIFO; a thread moves pending to inflight, so at most one
 * write per key is on the wire and writes for one key go out in order. A
 * submission while one is pending replaces it (the old one ends REPLACED);
 * one that arrives while a write is in flight waits for it, and when that
 * write succeeded for the same object with the same ingress it is not sent
 * (SAME). Every job ends in exactly one done call, made without the lock,
 * after which the key's next write may start: whatever the submitter does
 * on completion (Events, re-queueing the key) comes before it.
 *
 * The check hook runs just before each send (leadership, the object still
 * there); stop drops what was not sent and lets in-flight writes finish.
 *
 * At most max_keys keys hold work at once: a submission for a new key waits
 * for room (unless it comes from a writer thread's done hook, which must
 * never wait on its own pool). Without the bound a burst of new Services
 * queued a job per Service, each holding its object and an ingress copy
 * (about 1.4 KB): 3.5 MiB more peak heap at 5,000 Services, for no speed,
 * since the writers go at the API's pace either way.
 */
#include "reconcile/reconcile_int.h"
#include "common/health.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
    UT_hash_handle hh;
    struct entry *next_ready;
    struct lbp_sw_job *pending;
    struct lbp_sw_job *inflight;
    bool ready; /* on the ready FIFO */
    char key[];
};

struct lbp_status_writer {
    struct lbp_sw_hooks h;
    pthread_mutex_t mu;
    pthread_cond_t work; /* a key became ready, or stopping */
    pthread_cond_t idle; /* a write ended, or a thread exited */
    pthread_cond_t room; /* an entry was freed, or stopping */
    unsigned max_keys;
    struct entry *entries;
    struct entry *ready_head, *ready_tail;
    pthread_t *threads;
    unsigned n_threads, live;
    bool stopping;
};

static void job_free(struct lbp_sw_job *j)
{
    if (!j)
        return;
    lbp_kube_obj_unref(j->svc);
    free(j);
}

/* Ends job j (lock not held) and frees it. */
static void finish(struct lbp_status_writer *w, struct lbp_sw_job *j, enum lbp_sw_result res,
                   int rc)
{
    if (!j)
        return;
    if (w->h.done)
        w->h.done(w->h.ctx, j, res, rc);
    job_free(j);
}

static void make_ready(struct lbp_status_writer *w, struct entry *e)
{
    if (e->ready)
        return;
    e->ready = true;
    e->next_ready = NULL;
    if (w->ready_tail)
        w->ready_tail->next_ready = e;
    else
        w->ready_head = e;
    w->ready_tail = e;
    pthread_cond_signal(&w->work);
}

/* Frees e once it holds nothing; w->mu held. */
static void entry_release(struct lbp_status_writer *w, struct entry *e)
{
    if (e->pending || e->inflight || e->ready)
        return;
    HASH_DEL(w->entries, e);
    free(e);
    pthread_cond_signal(&w->room);
}

static bool same_object(const struct lbp_service *a, const struct lbp_service *b)
{
    return lbp_streq(a->meta.uid ? a->meta.uid : "", b->meta.uid ? b->meta.uid : "");
}

/* One write: the check, the PATCH, and what the answer means. */
static enum lbp_sw_result send_one(struct lbp_status_writer *w, const struct lbp_sw_job *j, int *rc)
{
    *rc = w->h.check ? w->h.check(w->h.ctx, j->svc) : LBP_OK;
    if (*rc == LBP_NOT_FOUND)
        return LBP_SW_GONE;
    if (*rc != LBP_OK)
        return LBP_SW_DROPPED;
    *rc = w->h.write(w->h.ctx, j);
    if (*rc == LBP_OK)
        return LBP_SW_WRITTEN;
    return *rc == LBP_NOT_FOUND ? LBP_SW_GONE : LBP_SW_FAILED;
}

/* Set on the pool's own threads: their done hooks never wait for room. */
static _Thread_local bool tl_writer;

static void *writer_main(void *arg)
{
    static unsigned next_id; /* atomic: names the heartbeat */
    struct lbp_status_writer *w = arg;
    struct lbp_heartbeat *hb;
    char name[32];
    snprintf(name, sizeof(name), "status-writer-%u",
             __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED));
    hb = lbp_heartbeat_new(name);
    tl_writer = true;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct entry *e;
        struct lbp_sw_job *j, *same = NULL;
        enum lbp_sw_result res;
        int rc;
        while (!w->stopping && !w->ready_head)
            pthread_cond_wait(&w->work, &w->mu);
        if (w->stopping)
            break;
        e = w->ready_head;
        w->ready_head = e->next_ready;
        if (!w->ready_head)
            w->ready_tail = NULL;
        e->ready = false;
        j = e->pending;
        e->pending = NULL;
        e->inflight = j;
        pthread_mutex_unlock(&w->mu);

        lbp_heartbeat_busy(hb);
        res = send_one(w, j, &rc);
        /* before the key's next write may start: its Events stay in order */
        if (w->h.done)
            w->h.done(w->h.ctx, j, res, rc);
        lbp_heartbeat_idle(hb);

        pthread_mutex_lock(&w->mu);
        e->inflight = NULL;
        if (e->pending) {
            if (res == LBP_SW_WRITTEN && e->pending->kind == j->kind &&
                e->pending->hash == j->hash && same_object(e->pending->svc, j->svc)) {
                same = e->pending;
                e->pending = NULL;
            } else if (!w->stopping) {
                make_ready(w, e);
            }
        }
        entry_release(w, e);
        pthread_cond_broadcast(&w->idle);
        pthread_mutex_unlock(&w->mu);
        job_free(j);
        finish(w, same, LBP_SW_SAME, LBP_OK);
        pthread_mutex_lock(&w->mu);
    }
    w->live--;
    pthread_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->mu);
    lbp_heartbeat_free(hb);
    return NULL;
}

int lbp_sw_new(const struct lbp_sw_hooks *hooks, unsigned threads, struct lbp_status_writer **out)
{
    struct lbp_status_writer *w = calloc(1, sizeof(*w));
    int rc = LBP_OK;
    if (!w)
        return LBP_NOMEM;
    w->h = *hooks;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->room, NULL);
    lbp_cond_init_monotonic(&w->idle);
    w->max_keys = hooks->max_keys ? hooks->max_keys
                                  : (threads * 4 > LBP_SW_MIN_KEYS ? threads * 4 : LBP_SW_MIN_KEYS);
    w->threads = calloc(threads ? threads : 1, sizeof(pthread_t));
    if (!w->threads) {
        rc = LBP_NOMEM;
        goto out;
    }
    pthread_mutex_lock(&w->mu);
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        if (pthread_create(&w->threads[i], NULL, writer_main, w) != 0) {
            rc = LBP_NOMEM;
            break;
        }
        w->n_threads++;
        w->live++;
    }
    pthread_mutex_unlock(&w->mu);
out:
    if (rc) {
        if (w->threads)
            lbp_sw_stop(w, UINT32_MAX);
        lbp_sw_free(w);
        return rc;
    }
    *out = w;
    return LBP_OK;
}

int lbp_sw_submit(struct lbp_status_writer *w, enum lbp_sw_kind kind, struct lbp_service *svc,
                  const struct lbp_lb_status *st, unsigned flags)
{
    struct lbp_sw_job *j, *old = NULL;
    struct entry *e;
    const char *key = svc->meta.key ? svc->meta.key : "";
    int rc = LBP_OK;
    j = calloc(1, sizeof(*j));
    if (!j)
        return LBP_NOMEM;
    j->kind = kind;
    j->svc = lbp_kube_obj_ref(svc);
    if (st) {
        j->st = *st;
        j->hash = lbp_ingress_hash_status(st);
    }
    j->flags = flags;
    pthread_mutex_lock(&w->mu);
    if (w->stopping) {
        rc = LBP_RETRY;
        goto out;
    }
    HASH_FIND_STR(w->entries, key, e);
    while (!e && !tl_writer && !w->stopping && HASH_COUNT(w->entries) >= w->max_keys) {
        pthread_cond_wait(&w->room, &w->mu);
        HASH_FIND_STR(w->entries, key, e);
    }
    if (w->stopping) {
        rc = LBP_RETRY;
        goto out;
    }
    if (!e) {
        size_t len = strlen(key);
        e = calloc(1, sizeof(*e) + len + 1);
        if (!e) {
            rc = LBP_NOMEM;
            goto out;
        }
        memcpy(e->key, key, len + 1);
        HASH_ADD_STR(w->entries, key, e);
    }
    old = e->pending;
    e->pending = j;
    j = NULL;
    if (!e->inflight)
        make_ready(w, e);
out:
    pthread_mutex_unlock(&w->mu);
    job_free(j);
    finish(w, old, LBP_SW_REPLACED, LBP_OK);
    return rc;
}

void lbp_sw_cancel(struct lbp_status_writer *w, const char *key)
{
    struct lbp_sw_job *old = NULL;
    struct entry *e;
    pthread_mutex_lock(&w->mu);
    HASH_FIND_STR(w->entries, key, e);
    if (e && e->pending) {
        old = e->pending;
        e->pending = NULL;
        if (e->ready) { /* off the FIFO: nothing left to send */
            struct entry **p = &w->ready_head, *prev = NULL;
            while (*p && *p != e) {
                prev = *p;
                p = &(*p)->next_ready;
            }
            if (*p)
                *p = e->next_ready;
            if (w->ready_tail == e)
                w->ready_tail = prev;
            e->ready = false;
        }
        entry_release(w, e);
    }
    pthread_mutex_unlock(&w->mu);
    finish(w, old, LBP_SW_DROPPED, LBP_OK);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        HASH_FIND_STR(w->entries, key, e);
        if (!e || !e->inflight)
            break;
        pthread_cond_wait(&w->idle, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

bool lbp_sw_busy(struct lbp_status_writer *w, const char *key)
{
    struct entry *e;
    pthread_mutex_lock(&w->mu);
    HASH_FIND_STR(w->entries, key, e);
    pthread_mutex_unlock(&w->mu);
    return e != NULL;
}

int lbp_sw_stop(struct lbp_status_writer *w, unsigned timeout_ms)
{
    struct lbp_sw_job **dropped = NULL;
    struct entry *e, *tmp;
    struct timespec ts;
    size_t n = 0, cap;
    int rc = LBP_OK;
    if (!w)
        return LBP_OK;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->work);
    pthread_cond_broadcast(&w->room);
    cap = HASH_COUNT(w->entries);
    dropped = calloc(cap ? cap : 1, sizeof(*dropped));
    HASH_ITER(hh, w->entries, e, tmp)
    {
        if (e->pending && dropped && n < cap) {
            dropped[n++] = e->pending;
            e->pending = NULL;
        }
        e->ready = false;
        entry_release(w, e);
    }
    w->ready_head = w->ready_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < n; i++)
        finish(w, dropped[i], LBP_SW_DROPPED, LBP_OK);
    free(dropped);

    lbp_deadline_ts(timeout_ms, &ts);
    pthread_mutex_lock(&w->mu);
    while (w->live > 0)
        if (pthread_cond_timedwait(&w->idle, &w->mu, &ts) == ETIMEDOUT)
            break;
    if (w->live > 0)
        rc = LBP_RETRY;
    pthread_mutex_unlock(&w->mu);
    if (rc) {
        lbp_warn("status writer: %u threads still writing after %u ms; abandoning them", w->live,
                 timeout_ms);
        return rc;
    }
    for (unsigned i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    w->n_threads = 0;
    return LBP_OK;
}

void lbp_sw_free(struct lbp_status_writer *w)
{
    struct entry *e, *tmp;
    if (!w)
        return;
    HASH_ITER(hh, w->entries, e, tmp)
    {
        HASH_DEL(w->entries, e);
        job_free(e->pending);
        job_free(e->inflight);
        free(e);
    }
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->room);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}
