/*
 * queue.c — the work queue: keys ("ns/name"), de-duplicated, with per-key
 * exponential backoff (client-go's rate-limited workqueue, in pthreads).
 *
 * Each key has at most one item, in one of three states: READY (in the
 * FIFO), ACTIVE (a worker holds it) or WAITING (backing off until
 * ready_at). Adding a READY key is a no-op; adding an ACTIVE key marks it
 * dirty, so it runs again once the worker is done — never twice at once.
 * A key's failure count lives in its item and is forgotten on success; a
 * key put back to poll an operation in progress (lbp_queue_after) keeps
 * its count as it was, so waiting on a slow cloud never grows the backoff.
 *
 * Metrics use client-go's workqueue names (name="service"): depth counts
 * READY keys, adds_total every time a key becomes due, queue_duration
 * the wait from due to taken, work_duration taken to done/retry.
 */
#include "reconcile/reconcile_int.h"
#include "common/metrics.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include <utlist.h>

enum item_state { ITEM_READY, ITEM_ACTIVE, ITEM_WAITING };

struct item {
    UT_hash_handle hh;
    struct item *prev, *next; /* in ready or waiting */
    enum item_state state;
    bool dirty;     /* re-added while ACTIVE */
    bool dirty_now; /* ... by a real change: skip the backoff */
    unsigned attempts;
    uint64_t ready_at;
    double due_s, taken_s; /* metrics: when it became READY / ACTIVE */
    char key[];
};

struct lbp_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct item *items;
    struct item *ready, *waiting;
    size_t n_ready;
    uint64_t base_ms, max_ms;
    bool shutdown;
    struct lbp_metric *m_depth, *m_adds, *m_retries, *m_work, *m_wait;
};

/* client-go: prometheus.ExponentialBuckets(10e-9, 10, 10), 10 ns … 1 s … 10 s. */
static const double wq_buckets[] = {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10};
static const char *const wq_name[] = {"service"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void metrics_init(struct lbp_queue *q)
{
    q->m_depth =
        lbp_metric_new(LBP_GAUGE, "workqueue_depth", "Current depth of workqueue.", "name");
    q->m_adds = lbp_metric_new(LBP_COUNTER, "workqueue_adds_total",
                               "Total number of adds handled by workqueue.", "name");
    q->m_retries = lbp_metric_new(LBP_COUNTER, "workqueue_retries_total",
                                  "Total number of retries handled by workqueue.", "name");
    q->m_work = lbp_histogram_new("workqueue_work_duration_seconds",
                                  "How long in seconds processing an item from workqueue takes.",
                                  "name", wq_buckets, sizeof(wq_buckets) / sizeof(wq_buckets[0]));
    q->m_wait =
        lbp_histogram_new("workqueue_queue_duration_seconds",
                          "How long in seconds an item stays in workqueue before being requested.",
                          "name", wq_buckets, sizeof(wq_buckets) / sizeof(wq_buckets[0]));
    /* Present from the first scrape, before any key arrives. */
    lbp_metric_set(q->m_depth, wq_name, 0);
    lbp_metric_add(q->m_adds, wq_name, 0);
    lbp_metric_add(q->m_retries, wq_name, 0);
}

int lbp_queue_new(uint64_t base_ms, uint64_t max_ms, struct lbp_queue **out)
{
    struct lbp_queue *q = calloc(1, sizeof(*q));
    if (!q)
        return LBP_NOMEM;
    pthread_mutex_init(&q->mu, NULL);
    lbp_cond_init_monotonic(&q->cond);
    q->base_ms = base_ms ? base_ms : 5000;
    q->max_ms = max_ms ? max_ms : 300000;
    metrics_init(q);
    *out = q;
    return LBP_OK;
}

static void make_ready(struct lbp_queue *q, struct item *it)
{
    if (it->state == ITEM_WAITING)
        DL_DELETE(q->waiting, it);
    it->state = ITEM_READY;
    DL_APPEND(q->ready, it);
    q->n_ready++;
    it->due_s = now_s();
    lbp_metric_add(q->m_adds, wq_name, 1);
    lbp_metric_set(q->m_depth, wq_name, (double)q->n_ready);
    pthread_cond_signal(&q->cond);
}

static void add(struct lbp_queue *q, const char *key, bool now)
{
    struct item *it;
    pthread_mutex_lock(&q->mu);
    if (q->shutdown)
        goto out;
    HASH_FIND_STR(q->items, key, it);
    if (!it) {
        size_t len = strlen(key);
        it = calloc(1, sizeof(*it) + len + 1);
        if (!it)
            goto out;
        memcpy(it->key, key, len + 1);
        HASH_ADD_STR(q->items, key, it);
        make_ready(q, it);
    } else if (it->state == ITEM_ACTIVE) {
        it->dirty = true;
        it->dirty_now |= now;
    } else if (it->state == ITEM_WAITING && now) {
        make_ready(q, it);
    }
out:
    pthread_mutex_unlock(&q->mu);
}

void lbp_queue_add(struct lbp_queue *q, const char *key)
{
    add(q, key, false);
}

void lbp_queue_add_now(struct lbp_queue *q, const char *key)
{
    add(q, key, true);
}

bool lbp_queue_get(struct lbp_queue *q, char **key)
{
    bool ok = false;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        uint64_t now = lbp_now_ms(), next = UINT64_MAX;
        struct item *it, *tmp;
        if (q->shutdown)
            goto out;
        DL_FOREACH_SAFE(q->waiting, it, tmp)
        {
            if (it->ready_at <= now)
                make_ready(q, it);
            else if (it->ready_at < next)
                next = it->ready_at;
        }
        if (q->ready) {
            it = q->ready;
            DL_DELETE(q->ready, it);
            q->n_ready--;
            it->state = ITEM_ACTIVE;
            it->dirty = it->dirty_now = false;
            it->taken_s = now_s();
            lbp_metric_set(q->m_depth, wq_name, (double)q->n_ready);
            lbp_metric_observe(q->m_wait, wq_name, it->taken_s - it->due_s);
            *key = strdup(it->key);
            ok = *key != NULL;
            goto out;
        }
        if (next == UINT64_MAX) {
            pthread_cond_wait(&q->cond, &q->mu);
        } else {
            struct timespec ts;
            uint64_t wait = next - now;
            lbp_deadline_ts(wait, &ts);
            pthread_cond_timedwait(&q->cond, &q->mu, &ts);
        }
    }
out:
    pthread_mutex_unlock(&q->mu);
    return ok;
}

void lbp_queue_done(struct lbp_queue *q, const char *key)
{
    struct item *it;
    pthread_mutex_lock(&q->mu);
    HASH_FIND_STR(q->items, key, it);
    if (!it || it->state != ITEM_ACTIVE)
        goto out;
    lbp_metric_observe(q->m_work, wq_name, now_s() - it->taken_s);
    it->attempts = 0;
    if (it->dirty && !q->shutdown) {
        make_ready(q, it);
    } else {
        HASH_DEL(q->items, it);
        free(it);
    }
out:
    pthread_mutex_unlock(&q->mu);
}

/*
 * Puts an ACTIVE key back to wait delay_ms (or, when its inputs changed
 * meanwhile, makes it ready now). A failure counts as a retry and grows the
 * key's backoff; a poll of an operation in progress does neither.
 */
static uint64_t requeue(struct lbp_queue *q, const char *key, uint64_t after_ms, bool failed)
{
    struct item *it;
    uint64_t delay = 0;
    pthread_mutex_lock(&q->mu);
    HASH_FIND_STR(q->items, key, it);
    if (!it || it->state != ITEM_ACTIVE)
        goto out;
    lbp_metric_observe(q->m_work, wq_name, now_s() - it->taken_s);
    delay = after_ms;
    if (failed) {
        lbp_metric_add(q->m_retries, wq_name, 1);
        if (!delay)
            delay = lbp_backoff_ms(q->base_ms, q->max_ms, it->attempts);
        it->attempts++;
    }
    if (it->dirty_now) {
        make_ready(q, it); /* its inputs changed meanwhile: the change may be the fix */
        delay = 0;
        goto out;
    }
    it->state = ITEM_WAITING;
    it->ready_at = lbp_now_ms() + delay;
    DL_APPEND(q->waiting, it);
    pthread_cond_signal(&q->cond); /* a sleeping worker must recompute its deadline */
out:
    pthread_mutex_unlock(&q->mu);
    return delay;
}

uint64_t lbp_queue_retry(struct lbp_queue *q, const char *key, uint64_t after_ms)
{
    return requeue(q, key, after_ms, true);
}

void lbp_queue_after(struct lbp_queue *q, const char *key, uint64_t after_ms)
{
    requeue(q, key, after_ms, false);
}

size_t lbp_queue_len(struct lbp_queue *q)
{
    size_t n;
    pthread_mutex_lock(&q->mu);
    n = HASH_COUNT(q->items);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void lbp_queue_shutdown(struct lbp_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->shutdown = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

void lbp_queue_free(struct lbp_queue *q)
{
    struct item *it, *tmp;
    if (!q)
        return;
    HASH_ITER(hh, q->items, it, tmp)
    {
        HASH_DEL(q->items, it);
        free(it);
    }
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
