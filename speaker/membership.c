/*
 * membership.c — which speakers are alive (the rules are in speaker.h).
 *
 * One record per node name in a uthash under a mutex. A record keeps the
 * last Lease fields seen and the monotonic time they last changed (that is
 * the "observed renewal" client-go uses), plus what the heartbeats said.
 * Nothing here reads a clock: callers pass the times in, so the unit tests
 * drive every rule with made-up clocks.
 */
#include "speaker/speaker.h"

#include "common/rc.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct member {
    char *name;
    /* Lease */
    bool has_lease;
    char *holder;
    int64_t renew_us;
    int duration_s;
    uint64_t expires_ms; /* monotonic: lease valid strictly before this */
    /* heartbeats */
    bool armed;            /* heard at least once since the last verdict was lifted */
    uint64_t last_hb_ms;   /* last non-leaving heartbeat */
    uint64_t down_ms;      /* leaving/refused verdict at this time; 0 = none */
    bool refusals_ignored; /* the renewal rule proved refusals wrong; until heard again */
    UT_hash_handle hh;
};

struct lbp_members {
    pthread_mutex_t mu;
    unsigned hb_interval_ms, hb_misses;
    uint64_t peer_api_ok_ms; /* last heartbeat carrying api_ok; 0 = never */
    struct member *tab;
};

int lbp_members_new(const struct lbp_members_opts *opts, struct lbp_members **out)
{
    struct lbp_members *m = calloc(1, sizeof(*m));
    if (!m)
        return LBP_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    m->hb_interval_ms = opts && opts->hb_interval_ms ? opts->hb_interval_ms : 200;
    m->hb_misses = opts && opts->hb_misses ? opts->hb_misses : 3;
    *out = m;
    return LBP_OK;
}

static void member_free(struct member *e)
{
    free(e->name);
    free(e->holder);
    free(e);
}

void lbp_members_free(struct lbp_members *m)
{
    struct member *e, *tmp;
    if (!m)
        return;
    HASH_ITER(hh, m->tab, e, tmp)
    {
        HASH_DEL(m->tab, e);
        member_free(e);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static struct member *get(struct lbp_members *m, const char *node, bool create)
{
    struct member *e;
    HASH_FIND_STR(m->tab, node, e);
    if (e || !create)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->name = strdup(node);
    if (!e->name) {
        free(e);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, m->tab, e->name, strlen(e->name), e);
    return e;
}

/* When did the heartbeats declare e down (0: they do not)? Lock held. */
static uint64_t hb_down_at(const struct lbp_members *m, const struct member *e, uint64_t now_ms)
{
    uint64_t silence = (uint64_t)m->hb_interval_ms * m->hb_misses;
    if (e->down_ms)
        return e->down_ms;
    if (e->armed && now_ms >= e->last_hb_ms + silence)
        return e->last_hb_ms + silence;
    return 0;
}

static bool lease_held(const struct member *e, uint64_t now_ms)
{
    return e->has_lease && e->holder && e->holder[0] && lbp_streq(e->holder, e->name) &&
           now_ms < e->expires_ms;
}

void lbp_members_lease(struct lbp_members *m, const char *node, const char *holder,
                       int64_t renew_time_us, int duration_s, uint64_t now_ms, int64_t now_wall_us)
{
    struct member *e;
    uint64_t dur_ms = duration_s > 0 ? (uint64_t)duration_s * 1000 : 0;
    pthread_mutex_lock(&m->mu);
    e = get(m, node, true);
    if (!e)
        goto out;
    if (!e->has_lease) {
        /*
         * First sight: nobody here saw it renewed, so trust the remaining
         * part of the duration after the writer's renewTime — bounded by one
         * full duration from now, whatever the writer's clock claims.
         */
        int64_t left_us = renew_time_us + (int64_t)dur_ms * 1000 - now_wall_us;
        uint64_t left_ms = left_us <= 0 ? 0 : (uint64_t)(left_us / 1000);
        e->expires_ms = now_ms + (left_ms < dur_ms ? left_ms : dur_ms);
    } else if (!lbp_streq(e->holder, holder) || e->renew_us != renew_time_us ||
               e->duration_s != duration_s) {
        uint64_t down = hb_down_at(m, e, now_ms);
        e->expires_ms = now_ms + dur_ms;
        /* Still renewed a full duration after the heartbeats gave up on it:
         * the process is running and only the heartbeat path is broken. */
        if (down && now_ms >= down + dur_ms) {
            e->refusals_ignored = e->refusals_ignored || e->down_ms != 0;
            e->down_ms = 0;
            e->armed = false;
        }
    }
    e->has_lease = true;
    if (!lbp_streq(e->holder, holder)) {
        free(e->holder);
        e->holder = lbp_strdup(holder);
    }
    e->renew_us = renew_time_us;
    e->duration_s = duration_s;
out:
    pthread_mutex_unlock(&m->mu);
}

void lbp_members_lease_gone(struct lbp_members *m, const char *node)
{
    struct member *e;
    pthread_mutex_lock(&m->mu);
    e = get(m, node, false);
    if (e) {
        HASH_DEL(m->tab, e);
        member_free(e);
    }
    pthread_mutex_unlock(&m->mu);
}

void lbp_members_heartbeat(struct lbp_members *m, const char *node, bool leaving, bool api_ok,
                           uint64_t now_ms)
{
    struct member *e;
    pthread_mutex_lock(&m->mu);
    if (api_ok && !leaving)
        m->peer_api_ok_ms = now_ms;
    e = get(m, node, true);
    if (!e)
        goto out;
    if (leaving) {
        e->down_ms = now_ms ? now_ms : 1;
    } else {
        e->down_ms = 0;
        e->armed = true;
        e->refusals_ignored = false;
        e->last_hb_ms = now_ms;
    }
out:
    pthread_mutex_unlock(&m->mu);
}

void lbp_members_refused(struct lbp_members *m, const char *node, uint64_t now_ms)
{
    struct member *e;
    pthread_mutex_lock(&m->mu);
    /*
     * Once the renewal rule has shown refusals to be wrong for this peer (a
     * firewall REJECTing the port while the speaker runs), they are ignored
     * until the peer is heard again; otherwise ownership would flap each
     * time the rule lifted the verdict.
     */
    e = get(m, node, false);
    if (e && !e->refusals_ignored && !e->down_ms)
        e->down_ms = now_ms ? now_ms : 1;
    pthread_mutex_unlock(&m->mu);
}

bool lbp_members_live(struct lbp_members *m, const char *node, uint64_t now_ms)
{
    struct member *e;
    bool live = false;
    pthread_mutex_lock(&m->mu);
    e = get(m, node, false);
    if (e)
        live = lease_held(e, now_ms) && hb_down_at(m, e, now_ms) == 0;
    pthread_mutex_unlock(&m->mu);
    return live;
}

bool lbp_members_held(struct lbp_members *m, const char *node, uint64_t now_ms)
{
    struct member *e;
    bool held = false;
    pthread_mutex_lock(&m->mu);
    e = get(m, node, false);
    if (e)
        held = lease_held(e, now_ms);
    pthread_mutex_unlock(&m->mu);
    return held;
}

bool lbp_members_peer_api_ok(struct lbp_members *m, uint64_t now_ms)
{
    bool ok;
    pthread_mutex_lock(&m->mu);
    ok = m->peer_api_ok_ms &&
         now_ms < m->peer_api_ok_ms + (uint64_t)m->hb_interval_ms * m->hb_misses;
    pthread_mutex_unlock(&m->mu);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t names(struct lbp_members *m, uint64_t now_ms, bool held_only, char ***out);

size_t lbp_members_held_names(struct lbp_members *m, uint64_t now_ms, char ***out)
{
    return names(m, now_ms, true, out);
}

size_t lbp_members_lease_names(struct lbp_members *m, char ***out)
{
    return names(m, 0, false, out);
}

static size_t names(struct lbp_members *m, uint64_t now_ms, bool held_only, char ***out)
{
    struct member *e, *tmp;
    size_t n = 0;
    char **v;
    pthread_mutex_lock(&m->mu);
    v = calloc(HASH_COUNT(m->tab) + 1, sizeof(*v));
    if (v) {
        HASH_ITER(hh, m->tab, e, tmp)
        {
            if (held_only ? !lease_held(e, now_ms) : !e->has_lease)
                continue;
            v[n] = strdup(e->name);
            if (v[n])
                n++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (v)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    return n;
}

void lbp_members_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}
