/*
 * leader.c — leader election on a Lease (see kube.h for the contract).
 *
 * One thread per elector. While a candidate it tries to take the Lease every
 * retry_period (jittered, so standbys do not hit the API in step); while
 * leader it renews every retry_period. Each attempt is one GET and, when the
 * Lease is ours to take or keep, one PUT carrying the resourceVersion it
 * read, so two candidates racing for a free Lease cannot both win: the
 * slower PUT gets 409.
 *
 * Expiry is judged the way client-go judges it: not by the renewTime the
 * other holder wrote (its clock is not ours) but by when this process last
 * saw the Lease record change, plus leaseDurationSeconds.
 *
 * The write fence (lbp_leader_is_leader) is the monotonic time at which the
 * last successful renew started plus renew_deadline. The election thread
 * only ever moves it forward; readers compare it with the clock, so the
 * fence closes on time even when this thread is blocked in a slow request.
 */
#include "kube/kube.h"

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct lbp_leader {
    struct lbp_kube_client *client;
    char *namespace;
    char *name;
    char *identity;
    unsigned lease_duration_ms;
    unsigned renew_deadline_ms;
    unsigned retry_period_ms;
    void (*on_started)(void *ctx);
    void (*on_stopped)(void *ctx);
    void *ctx;

    pthread_t thread;
    bool thread_started;
    bool sync_inited;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop requests and leadership changes */
    bool stopping;
    bool leading;            /* guarded by mu; the fence below is what writers check */
    uint64_t fence_until_ms; /* atomic */

    /* Election-thread state: the last record seen and when it changed. */
    struct lbp_lease *observed;
    uint64_t observed_ms;
};

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

bool lbp_leader_is_leader(struct lbp_leader *le)
{
    return lbp_now_ms() < __atomic_load_n(&le->fence_until_ms, __ATOMIC_ACQUIRE);
}

/* Whether the record differs from the last one seen, in the fields that show liveness. */
static bool record_changed(const struct lbp_lease *a, const struct lbp_lease *b)
{
    if (!a || !b)
        return true;
    return !lbp_streq(a->holder_identity, b->holder_identity) ||
           a->renew_time_us != b->renew_time_us || a->acquire_time_us != b->acquire_time_us ||
           a->lease_transitions != b->lease_transitions ||
           a->lease_duration_s != b->lease_duration_s;
}

static void observe(struct lbp_leader *le, struct lbp_lease *l, uint64_t now)
{
    if (record_changed(le->observed, l))
        le->observed_ms = now;
    lbp_kube_obj_unref(le->observed);
    le->observed = l;
}

/* The Lease we want to write, built on the stack over borrowed strings. */
static void lease_want(struct lbp_leader *le, struct lbp_lease *w, const char *rv)
{
    memset(w, 0, sizeof(*w));
    w->meta.namespace = le->namespace;
    w->meta.name = le->name;
    w->meta.resource_version = (char *)rv;
    w->holder_identity = le->identity;
    w->lease_duration_s = (int)((le->lease_duration_ms + 999) / 1000);
}

/*
 * One attempt to take or keep the Lease. Returns LBP_OK when this process
 * holds it after the call.
 */
static int try_acquire_or_renew(struct lbp_leader *le)
{
    struct lbp_lease *cur = NULL, *got = NULL, want;
    uint64_t now = lbp_now_ms();
    int64_t now_us = wall_us();
    int rc;

    rc = lbp_lease_get(le->client, le->namespace, le->name, &cur);
    if (rc == LBP_NOT_FOUND) {
        lease_want(le, &want, NULL);
        want.acquire_time_us = now_us;
        want.renew_time_us = now_us;
        rc = lbp_lease_create(le->client, le->namespace, &want, &got);
        if (rc == LBP_OK)
            observe(le, got, now);
        return rc;
    }
    if (rc != LBP_OK)
        return rc;

    observe(le, cur, now);
    bool mine = lbp_streq(cur->holder_identity, le->identity);
    bool released = !cur->holder_identity || !*cur->holder_identity;
    uint64_t dur_ms = (uint64_t)(cur->lease_duration_s > 0 ? cur->lease_duration_s : 1) * 1000u;
    if (!mine && !released && le->observed_ms + dur_ms > now)
        return LBP_CONFLICT; /* someone else holds a live Lease */

    lease_want(le, &want, cur->meta.resource_version);
    want.renew_time_us = now_us;
    if (mine) {
        want.acquire_time_us = cur->acquire_time_us;
        want.lease_transitions = cur->lease_transitions;
    } else {
        want.acquire_time_us = now_us;
        want.lease_transitions = cur->lease_transitions + 1;
    }
    rc = lbp_lease_update(le->client, &want, &got);
    if (rc == LBP_OK)
        observe(le, got, now);
    return rc;
}

/* Sleeps up to ms or until stop; returns true when stopping. */
static bool wait_or_stop(struct lbp_leader *le, uint64_t ms)
{
    struct timespec ts;
    lbp_deadline_ts(ms, &ts);
    pthread_mutex_lock(&le->mu);
    while (!le->stopping) {
        if (pthread_cond_timedwait(&le->cv, &le->mu, &ts) != 0)
            break;
    }
    bool stop = le->stopping;
    pthread_mutex_unlock(&le->mu);
    return stop;
}

static void set_leading(struct lbp_leader *le, bool leading)
{
    pthread_mutex_lock(&le->mu);
    le->leading = leading;
    pthread_cond_broadcast(&le->cv);
    pthread_mutex_unlock(&le->mu);
}

static void *leader_thread(void *arg)
{
    struct lbp_leader *le = arg;
    bool leading = false;
    uint64_t pause = 0; /* the first attempt goes at once */

    while (!wait_or_stop(le, pause)) {
        /* Candidates spread their attempts; the leader renews on the beat. */
        pause = leading ? le->retry_period_ms : lbp_jitter_ms(le->retry_period_ms, 0.2);
        uint64_t start = lbp_now_ms();
        int rc = try_acquire_or_renew(le);
        if (rc == LBP_OK) {
            /* The fence moves only forward, from when this attempt began. */
            uint64_t fence = start + le->renew_deadline_ms;
            if (fence > __atomic_load_n(&le->fence_until_ms, __ATOMIC_ACQUIRE))
                __atomic_store_n(&le->fence_until_ms, fence, __ATOMIC_RELEASE);
            if (!leading) {
                leading = true;
                lbp_info("leader election: %s acquired lease %s/%s", le->identity, le->namespace,
                         le->name);
                set_leading(le, true);
                if (le->on_started)
                    le->on_started(le->ctx);
            }
            continue;
        }
        if (leading && !lbp_leader_is_leader(le)) {
            leading = false;
            lbp_error("leader election: %s failed to renew lease %s/%s within %u ms (%s); "
                      "stopped leading",
                      le->identity, le->namespace, le->name, le->renew_deadline_ms, lbp_rc_str(rc));
            set_leading(le, false);
            if (le->on_stopped)
                le->on_stopped(le->ctx);
        } else if (leading) {
            lbp_warn("leader election: renewing lease %s/%s failed: %s; retrying", le->namespace,
                     le->name, lbp_rc_str(rc));
        } else if (rc != LBP_CONFLICT) {
            lbp_warn("leader election: acquiring lease %s/%s failed: %s", le->namespace, le->name,
                     lbp_rc_str(rc));
        }
    }
    return NULL;
}

int lbp_leader_new(struct lbp_kube_client *c, const struct lbp_leader_opts *opts,
                   struct lbp_leader **out, char *err, size_t errlen)
{
    struct lbp_leader *le;

    if (!opts->namespace || !*opts->namespace || !opts->name || !*opts->name || !opts->identity ||
        !*opts->identity) {
        snprintf(err, errlen, "leader election needs a lease namespace, name and identity");
        return LBP_INVALID;
    }
    le = calloc(1, sizeof(*le));
    if (!le)
        return LBP_NOMEM;
    le->client = c;
    le->namespace = strdup(opts->namespace);
    le->name = strdup(opts->name);
    le->identity = strdup(opts->identity);
    le->lease_duration_ms = opts->lease_duration_ms ? opts->lease_duration_ms : 15000;
    le->renew_deadline_ms = opts->renew_deadline_ms ? opts->renew_deadline_ms : 10000;
    le->retry_period_ms = opts->retry_period_ms ? opts->retry_period_ms : 2000;
    le->on_started = opts->on_started;
    le->on_stopped = opts->on_stopped;
    le->ctx = opts->ctx;
    if (!le->namespace || !le->name || !le->identity) {
        lbp_leader_free(le);
        return LBP_NOMEM;
    }
    /* client-go's rules: the leader must give up before anyone may take over. */
    if (le->renew_deadline_ms >= le->lease_duration_ms ||
        le->retry_period_ms >= le->renew_deadline_ms) {
        snprintf(err, errlen,
                 "leader election needs retry-period (%u ms) < renew-deadline (%u ms) < "
                 "lease-duration (%u ms)",
                 le->retry_period_ms, le->renew_deadline_ms, le->lease_duration_ms);
        lbp_leader_free(le);
        return LBP_INVALID;
    }
    pthread_mutex_init(&le->mu, NULL);
    lbp_cond_init_monotonic(&le->cv);
    le->sync_inited = true;
    *out = le;
    return LBP_OK;
}

int lbp_leader_start(struct lbp_leader *le)
{
    if (pthread_create(&le->thread, NULL, leader_thread, le) != 0)
        return LBP_IO;
    le->thread_started = true;
    return LBP_OK;
}

int lbp_leader_wait(struct lbp_leader *le, unsigned timeout_ms)
{
    uint64_t deadline = lbp_now_ms() + timeout_ms;
    pthread_mutex_lock(&le->mu);
    while (!le->leading && !le->stopping) {
        if (!timeout_ms) {
            pthread_cond_wait(&le->cv, &le->mu);
            continue;
        }
        uint64_t now = lbp_now_ms();
        if (now >= deadline)
            break;
        struct timespec ts;
        uint64_t left = deadline - now;
        lbp_deadline_ts(left, &ts);
        pthread_cond_timedwait(&le->cv, &le->mu, &ts);
    }
    bool leading = le->leading;
    pthread_mutex_unlock(&le->mu);
    return leading ? LBP_OK : LBP_RETRY;
}

/* Gives the Lease up: empty holder, 1 s duration, so a standby need not wait it out. */
static void release_lease(struct lbp_leader *le)
{
    struct lbp_lease want, *got = NULL;
    const struct lbp_lease *cur = le->observed;

    if (!cur || !lbp_streq(cur->holder_identity, le->identity))
        return;
    lease_want(le, &want, cur->meta.resource_version);
    static char no_holder[] = "";
    want.holder_identity = no_holder;
    want.lease_duration_s = 1;
    want.acquire_time_us = wall_us();
    want.renew_time_us = want.acquire_time_us;
    want.lease_transitions = cur->lease_transitions;
    int rc = lbp_lease_update(le->client, &want, &got);
    if (rc == LBP_OK)
        lbp_info("leader election: %s released lease %s/%s", le->identity, le->namespace, le->name);
    else
        lbp_warn("leader election: releasing lease %s/%s failed: %s", le->namespace, le->name,
                 lbp_rc_str(rc));
    lbp_kube_obj_unref(got);
}

void lbp_leader_stop(struct lbp_leader *le, bool release)
{
    if (!le)
        return;
    pthread_mutex_lock(&le->mu);
    le->stopping = true;
    pthread_cond_broadcast(&le->cv);
    pthread_mutex_unlock(&le->mu);
    if (le->thread_started) {
        pthread_join(le->thread, NULL);
        le->thread_started = false;
    }
    /* Close the fence first: nothing may write once we start giving the Lease away. */
    __atomic_store_n(&le->fence_until_ms, 0, __ATOMIC_RELEASE);
    if (release && le->leading)
        release_lease(le);
    set_leading(le, false);
}

void lbp_leader_free(struct lbp_leader *le)
{
    if (!le)
        return;
    if (le->thread_started)
        lbp_leader_stop(le, false);
    lbp_kube_obj_unref(le->observed);
    if (le->sync_inited) {
        pthread_mutex_destroy(&le->mu);
        pthread_cond_destroy(&le->cv);
    }
    free(le->namespace);
    free(le->name);
    free(le->identity);
    free(le);
}
