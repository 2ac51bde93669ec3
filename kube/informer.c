/*
 * informer.c — list+watch of one kind into a cache of decoded objects.
 *
 * One thread per informer runs the reflector loop client-go made familiar:
 *
 *   LIST (paged: limit/continue; a 410 on a continue token restarts the
 *   list) → swap the cache for the listed set and tell the handlers the
 *   difference (added, changed by resourceVersion, gone) → WATCH from the
 *   list's resourceVersion with bookmarks and a randomised timeoutSeconds →
 *   when the server ends the watch, watch again from the last RV seen →
 *   on 410 (HTTP or an ERROR event) LIST again.
 *
 * Transport errors, stalls (nothing at all, not even a bookmark, for the
 * watch timeout plus slack), garbage lines and overlong lines restart the
 * watch from the last good RV after a jittered backoff (0.8 s doubling to
 * 30 s, reset after a healthy watch), logging one line per attempt.
 *
 * Cache: a uthash keyed by meta.key under a rwlock. Objects are immutable
 * and reference-counted: an event publishes the new object under the write
 * lock, then runs the handlers (old and new still referenced), then drops
 * the old one. Handler calls are serialised by hmu, which the watch thread
 * and the resync thread (only when resync_s > 0) take around "update the
 * cache and tell the handlers", so handlers see events one at a time and in
 * order, and a resync never interleaves with an event.
 *
 * Unreadable objects: an object whose identity can be read but whose
 * body cannot be decoded (over the decoder's 16 MiB, or out of memory) is
 * never allowed to look absent, because "absent" is what makes the
 * orphan scan delete a load balancer and a relist tell the handlers it was
 * deleted. Its key goes into a set of unreadable keys
 * (lbp_informer_unreadable), the cache keeps the last version it could
 * read, and on_unreadable tells the handlers. One being deleted is cached
 * as its identity (meta.partial: name, uid, finalizers), which is all a
 * deletion needs, and a DELETED event for it is processed as any other.
 * The next version that decodes clears the mark.
 *
 * Stopping: a per-informer flag the watch stream polls
 * (lbp_kube_stream_stoppable) and a condvar that wakes backoff sleeps, so
 * stop joins within about a second even on a silent watch. A LIST in
 * flight is bounded by the client's request timeout.
 */
#include "kube/informer_int.h"
#include "kube/decode_int.h"
#include "kube/json_view.h"
#include "kube/kube_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#define BACKOFF_BASE_MS 800
#define BACKOFF_MAX_MS 30000
#define IDLE_SLACK_S 30
#define RV_MAX 64
#define CONTINUE_MAX 4096
#define LIST_BODY_LOG 120
#define TOKENS_START 1024 /* a Service with managedFields fits: no growth at first */
#define TOKENS_KEEP 65536 /* a larger array, grown for a huge object, is given back */

struct entry {
    struct lbp_meta *obj; /* one reference owned by the cache */
    UT_hash_handle hh;    /* keyed by obj->key */
};

enum stop_why { WHY_NONE, WHY_GONE, WHY_GARBAGE, WHY_STOP, WHY_ERROR };

struct lbp_informer {
    struct lbp_kube_client *c;
    enum lbp_kind kind;
    char *ns, *label_selector, *field_selector;
    unsigned resync_s, page_size, watch_timeout_s;
    size_t max_line;
    struct lbp_informer_handlers h;

    pthread_rwlock_t lock; /* guards cache and unreadable */
    struct entry *cache;
    struct entry *unreadable; /* partial objects (identity only) of undecodable ones */
    pthread_mutex_t hmu;      /* serialises cache updates + handler calls */

    pthread_mutex_t mu; /* guards synced, started; cv waits */
    pthread_cond_t cv;  /* monotonic; synced and stop */
    bool synced, started;
    int stop; /* atomic */
    pthread_t thread, resync_thread;
    bool resync_running;

    /* Watch-thread state. */
    char rv[RV_MAX + 1];     /* guarded by mu for readers outside the thread */
    struct lbp_json_view jv; /* the watch line or LIST value being read */
    enum stop_why why;
    unsigned long lines; /* in the current watch */

    struct lbp_informer_stats st; /* atomic fields */
};

static void stat_inc(uint64_t *v)
{
    __atomic_add_fetch(v, 1, __ATOMIC_RELAXED);
}

static bool stopping(struct lbp_informer *inf)
{
    return __atomic_load_n(&inf->stop, __ATOMIC_ACQUIRE) != 0;
}

static void set_rv(struct lbp_informer *inf, const char *rv)
{
    if (!rv || !*rv || strlen(rv) > RV_MAX)
        return;
    pthread_mutex_lock(&inf->mu);
    lbp_strlcpy(inf->rv, rv, sizeof(inf->rv));
    pthread_mutex_unlock(&inf->mu);
}

void lbp_informer_last_rv(struct lbp_informer *inf, char *out, size_t outlen)
{
    pthread_mutex_lock(&inf->mu);
    lbp_strlcpy(out, inf->rv, outlen);
    pthread_mutex_unlock(&inf->mu);
}

/* Sleeps ms or until stop; true when stopping. */
static bool nap(struct lbp_informer *inf, uint64_t ms)
{
    struct timespec ts;
    lbp_deadline_ts(ms, &ts);
    pthread_mutex_lock(&inf->mu);
    while (!stopping(inf))
        if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&inf->mu);
    return stopping(inf);
}

/* ---------------------------------------------------------------- cache + handlers */

static struct lbp_meta *cache_find(struct lbp_informer *inf, const char *key)
{
    struct entry *e = NULL;
    HASH_FIND_STR(inf->cache, key, e);
    return e ? e->obj : NULL;
}

/* Marks id's key unreadable (id's reference is handed over) or, id NULL, clears key. */
static void unreadable_put(struct lbp_informer *inf, const char *key, struct lbp_meta *id)
{
    struct entry *e = NULL, *fresh = NULL;
    struct lbp_meta *old = NULL;
    if (id && !(fresh = calloc(1, sizeof(*fresh)))) {
        lbp_kube_obj_unref(id); /* the key stays unmarked: the stale copy still stands in */
        return;
    }
    pthread_rwlock_wrlock(&inf->lock);
    HASH_FIND_STR(inf->unreadable, key, e);
    if (e) {
        HASH_DEL(inf->unreadable, e);
        old = e->obj;
        free(e);
    }
    if (fresh) {
        fresh->obj = id;
        HASH_ADD_KEYPTR(hh, inf->unreadable, id->key, strlen(id->key), fresh);
    }
    pthread_rwlock_unlock(&inf->lock);
    lbp_kube_obj_unref(old);
}

/* Tells the handlers about a key marked unreadable; caller holds hmu. */
static void announce_unreadable(struct lbp_informer *inf, const struct lbp_meta *id, int why)
{
    if (inf->h.on_unreadable)
        inf->h.on_unreadable(inf->h.ctx, id, why);
}

/*
 * Publishes obj (one reference handed over) or removes key when obj is
 * NULL. Returns the previous object with the cache's reference (caller
 * unrefs), or NULL. Caller holds hmu.
 */
static struct lbp_meta *cache_put(struct lbp_informer *inf, const char *key, struct lbp_meta *obj,
                                  int *rc)
{
    struct entry *e = NULL;
    struct lbp_meta *old = NULL;

    *rc = LBP_OK;
    pthread_rwlock_wrlock(&inf->lock);
    HASH_FIND_STR(inf->cache, key, e);
    if (e) {
        old = e->obj;
        if (obj) {
            /*
             * Same key, so same hash and bucket: the entry stays where it
             * is and only points at the new object's copy of the key.
             * Deleting and adding again would free and rebuild the table
             * whenever this is the only entry.
             */
            e->obj = obj;
            e->hh.key = obj->key;
        } else {
            HASH_DEL(inf->cache, e);
            free(e);
        }
    } else if (obj) {
        if (!(e = calloc(1, sizeof(*e)))) {
            *rc = LBP_NOMEM;
        } else {
            e->obj = obj;
            HASH_ADD_KEYPTR(hh, inf->cache, obj->key, strlen(obj->key), e);
        }
    }
    pthread_rwlock_unlock(&inf->lock);
    return old;
}

static bool same_version(const struct lbp_meta *a, const struct lbp_meta *b)
{
    return a->resource_version && b->resource_version &&
           strcmp(a->resource_version, b->resource_version) == 0;
}

/* ADDED / MODIFIED: obj's reference goes to the cache. */
static void apply_upsert(struct lbp_informer *inf, struct lbp_meta *obj)
{
    int rc;
    pthread_mutex_lock(&inf->hmu);
    lbp_kube_obj_ref(obj); /* ours, for the handler call */
    struct lbp_meta *old = cache_put(inf, obj->key, obj, &rc);
    if (rc) {
        lbp_kube_obj_unref(obj); /* the reference meant for the cache */
        lbp_error("informer %s: %s: out of memory, event dropped", lbp_kube_kind_name(inf->kind),
                  obj->key);
    } else if (old) {
        if (inf->h.on_update)
            inf->h.on_update(inf->h.ctx, old, obj);
    } else if (inf->h.on_add) {
        inf->h.on_add(inf->h.ctx, obj);
    }
    pthread_mutex_unlock(&inf->hmu);
    lbp_kube_obj_unref(old);
    lbp_kube_obj_unref(obj);
}

/* DELETED: obj is the final state from the event (the caller keeps its reference). */
static void apply_delete(struct lbp_informer *inf, struct lbp_meta *obj)
{
    int rc;
    pthread_mutex_lock(&inf->hmu);
    struct lbp_meta *old = cache_put(inf, obj->key, NULL, &rc);
    /* Never announced, so nothing to retract. */
    if (old && inf->h.on_delete)
        inf->h.on_delete(inf->h.ctx, obj);
    pthread_mutex_unlock(&inf->hmu);
    lbp_kube_obj_unref(old);
}

static void free_map(struct entry **map)
{
    struct entry *e, *tmp;
    HASH_ITER(hh, *map, e, tmp)
    {
        HASH_DEL(*map, e);
        lbp_kube_obj_unref(e->obj);
        free(e);
    }
}

/*
 * Replaces the cache with a complete LIST result and tells the handlers
 * the difference, so nothing that happened while no watch ran is lost:
 * listed and unknown → add, listed with another resourceVersion → update,
 * cached but not listed → delete.
 */
static void apply_replace(struct lbp_informer *inf, struct entry *fresh, struct entry *bad)
{
    struct entry *old, *old_bad, *e, *tmp, *prev;

    pthread_mutex_lock(&inf->hmu);
    pthread_rwlock_wrlock(&inf->lock);
    old = inf->cache;
    inf->cache = fresh;
    old_bad = inf->unreadable;
    inf->unreadable = bad;
    pthread_rwlock_unlock(&inf->lock);

    HASH_ITER(hh, fresh, e, tmp)
    {
        prev = NULL;
        HASH_FIND_STR(old, e->obj->key, prev);
        if (!prev) {
            if (inf->h.on_add)
                inf->h.on_add(inf->h.ctx, e->obj);
        } else {
            if (!same_version(prev->obj, e->obj) && inf->h.on_update)
                inf->h.on_update(inf->h.ctx, prev->obj, e->obj);
            HASH_DEL(old, prev);
            lbp_kube_obj_unref(prev->obj);
            free(prev);
        }
    }
    HASH_ITER(hh, old, e, tmp)
    {
        if (inf->h.on_delete)
            inf->h.on_delete(inf->h.ctx, e->obj);
    }
    pthread_mutex_unlock(&inf->hmu);
    free_map(&old);
    free_map(&old_bad);
}

static void *resync_main(void *arg)
{
    struct lbp_informer *inf = arg;
    while (!nap(inf, (uint64_t)inf->resync_s * 1000)) {
        /* Only a cache that reflects a LIST is worth replaying. */
        if (!lbp_informer_has_synced(inf))
            continue;
        pthread_mutex_lock(&inf->hmu);
        struct entry *e, *tmp;
        HASH_ITER(hh, inf->cache, e, tmp)
        {
            if (inf->h.on_update)
                inf->h.on_update(inf->h.ctx, e->obj, e->obj);
        }
        pthread_mutex_unlock(&inf->hmu);
    }
    return NULL;
}

/* ---------------------------------------------------------------- paths */

static int add_escaped(struct lbp_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char enc[3];
        int rc;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = lbp_buf_add(b, p, 1);
        } else {
            enc[0] = '%';
            enc[1] = hex[*p >> 4];
            enc[2] = hex[*p & 15];
            rc = lbp_buf_add(b, enc, 3);
        }
        if (rc)
            return rc;
    }
    return LBP_OK;
}

static int add_param(struct lbp_buf *b, const char *name, const char *value)
{
    int rc;
    if (!value || !*value)
        return LBP_OK;
    if ((rc = lbp_buf_addf(b, "&%s=", name)))
        return rc;
    return add_escaped(b, value);
}

/* The collection path, fixed query parameters, then the selectors. */
static int base_path(struct lbp_informer *inf, struct lbp_buf *b, const char *query)
{
    char path[256];
    int rc = lbp_kube_kind_path(inf->kind, inf->ns, path, sizeof(path));
    if (rc)
        return rc;
    if ((rc = lbp_buf_addf(b, "%s?%s", path, query)) ||
        (rc = add_param(b, "labelSelector", inf->label_selector)) ||
        (rc = add_param(b, "fieldSelector", inf->field_selector)))
        return rc;
    return LBP_OK;
}

/* ---------------------------------------------------------------- list */

/* String member k of object o decoded into buf[cap], or NULL (absent, bad, too long). */
static const char *str_member(const struct lbp_json_view *v, int o, const char *k, char *buf,
                              size_t cap)
{
    return lbp_jv_str(v, lbp_jv_get(v, o, k), buf, cap, NULL) == LBP_OK ? buf : NULL;
}

/* Adds obj (one reference handed over) to *map, replacing an entry with its key. */
static int map_put(struct entry **map, struct lbp_meta *obj)
{
    struct entry *e = NULL;
    HASH_FIND_STR(*map, obj->key, e);
    if (e) {
        HASH_DEL(*map, e);
        lbp_kube_obj_unref(e->obj);
    } else if (!(e = calloc(1, sizeof(*e)))) {
        lbp_kube_obj_unref(obj);
        return LBP_NOMEM;
    }
    e->obj = obj;
    HASH_ADD_KEYPTR(hh, *map, obj->key, strlen(obj->key), e);
    return LBP_OK;
}

/*
 * A LIST item that did not decode (drc): its key must not drop out of the
 * listed set. A deleting one goes in as its identity; any other is marked
 * unreadable in *bad and keeps the version the cache has, if any.
 */
static int list_item_unreadable(struct lbp_informer *inf, int drc, size_t i, struct entry **fresh,
                                struct entry **bad)
{
    struct lbp_meta *id = NULL, *stale;
    int rc;
    stat_inc(&inf->st.decode_errors);
    if (lbp_kube_decode_ident(inf->kind, &inf->jv, 0, (void **)&id)) {
        lbp_warn("informer %s: LIST item %zu skipped: %s, and no usable name",
                 lbp_kube_kind_name(inf->kind), i, lbp_rc_str(drc));
        return LBP_OK;
    }
    if (id->deleting) {
        lbp_warn("informer %s: %s: cannot decode (%s); being deleted, kept by name",
                 lbp_kube_kind_name(inf->kind), id->key, lbp_rc_str(drc));
        return map_put(fresh, id);
    }
    lbp_warn("informer %s: %s: cannot decode (%s); keeping the last version read",
             lbp_kube_kind_name(inf->kind), id->key, lbp_rc_str(drc));
    pthread_rwlock_rdlock(&inf->lock);
    stale = lbp_kube_obj_ref(cache_find(inf, id->key));
    pthread_rwlock_unlock(&inf->lock);
    if (stale && (rc = map_put(fresh, stale))) {
        lbp_kube_obj_unref(id);
        return rc;
    }
    pthread_mutex_lock(&inf->hmu);
    announce_unreadable(inf, id, drc);
    pthread_mutex_unlock(&inf->hmu);
    return map_put(bad, id);
}

/*
 * One JSON value of a LIST body from *at, parsed alone into the view: a
 * page is read a value at a time and never tokenised whole, so the token
 * array holds one object (a page of 500 objects with managedFields would
 * be megabytes of tokens).
 */
static int list_value(struct lbp_informer *inf, const char *body, size_t len, size_t *at)
{
    size_t start, end;
    int rc;
    if (lbp_jv_value_span(body, len, *at, &start, &end))
        return LBP_PARSE;
    if ((rc = lbp_jv_parse(&inf->jv, body + start, end - start)))
        return rc;
    *at = end;
    return LBP_OK;
}

/* Skips JSON blanks, then takes c if it is next. */
static bool list_punct(const char *body, size_t len, size_t *at, char c)
{
    while (*at < len &&
           (body[*at] == ' ' || body[*at] == '\t' || body[*at] == '\r' || body[*at] == '\n'))
        (*at)++;
    if (*at < len && body[*at] == c) {
        (*at)++;
        return true;
    }
    return false;
}

static int list_items_apply(struct lbp_informer *inf, const char *body, size_t len, size_t *at,
                            struct entry **fresh, struct entry **bad)
{
    size_t i = 0;
    if (!list_punct(body, len, at, '['))
        return LBP_PARSE;
    if (list_punct(body, len, at, ']'))
        return LBP_OK;
    do {
        struct lbp_meta *obj = NULL;
        int rc, drc;
        if ((rc = list_value(inf, body, len, at)))
            return rc;
        drc = lbp_kube_decode_obj(inf->kind, &inf->jv, 0, (void **)&obj);
        rc = drc ? list_item_unreadable(inf, drc, i, fresh, bad) : map_put(fresh, obj);
        if (rc)
            return rc;
        i++;
    } while (list_punct(body, len, at, ','));
    return list_punct(body, len, at, ']') ? LBP_OK : LBP_PARSE;
}

static int list_page_apply(struct lbp_informer *inf, const char *body, size_t len,
                           struct entry **fresh, struct entry **bad, char *cont, char *rv)
{
    size_t at = 0;
    int rc = LBP_PARSE;

    if (!list_punct(body, len, &at, '{'))
        goto out;
    if (list_punct(body, len, &at, '}')) {
        rc = LBP_OK;
        goto out;
    }
    do {
        struct lbp_json_view *v = &inf->jv;
        char r[RV_MAX + 1];
        if ((rc = list_value(inf, body, len, &at)))
            goto out;
        rc = LBP_PARSE;
        if (lbp_jv_type(v, 0) != JSMN_STRING || !list_punct(body, len, &at, ':'))
            goto out;
        if (lbp_jv_str_eq(v, 0, "items", 5)) {
            if ((rc = list_items_apply(inf, body, len, &at, fresh, bad)))
                goto out;
            rc = LBP_PARSE;
            continue;
        }
        bool is_md = lbp_jv_str_eq(v, 0, "metadata", 8);
        if ((rc = list_value(inf, body, len, &at)))
            goto out;
        rc = LBP_PARSE;
        if (is_md) {
            if (!str_member(v, 0, "continue", cont, CONTINUE_MAX + 1))
                cont[0] = '\0';
            if (str_member(v, 0, "resourceVersion", r, sizeof(r)))
                lbp_strlcpy(rv, r, RV_MAX + 1);
        }
    } while (list_punct(body, len, &at, ','));
    if (list_punct(body, len, &at, '}'))
        rc = LBP_OK;
out:
    if (rc == LBP_PARSE)
        lbp_warn("informer %s: LIST body is not a JSON object: %.*s", lbp_kube_kind_name(inf->kind),
                 (int)(len < LIST_BODY_LOG ? len : LIST_BODY_LOG), body);
    lbp_jv_trim(&inf->jv, TOKENS_KEEP);
    return rc;
}

/* A complete paged LIST, then replace. */
static int do_list(struct lbp_informer *inf)
{
    struct entry *fresh = NULL, *bad = NULL;
    struct lbp_buf path;
    char *cont = NULL, rv[RV_MAX + 1] = "";
    int rc;

    lbp_buf_init(&path, 16384);
    if (!(cont = calloc(1, CONTINUE_MAX + 1)))
        return LBP_NOMEM;
    stat_inc(&inf->st.lists);
    for (;;) {
        struct lbp_kube_response resp = {0};
        lbp_buf_reset(&path);
        char query[32];
        snprintf(query, sizeof(query), "limit=%u", inf->page_size);
        if ((rc = base_path(inf, &path, query)) || (rc = add_param(&path, "continue", cont)))
            goto out;
        rc = lbp_kube_list_page(inf->c, path.data, &resp);
        if (rc == LBP_GONE && *cont) {
            /* The continue token expired: the snapshot is gone, start over. */
            stat_inc(&inf->st.gone);
            lbp_info("informer %s: LIST continue token expired, listing again",
                     lbp_kube_kind_name(inf->kind));
            free_map(&fresh);
            free_map(&bad);
            cont[0] = '\0';
            rv[0] = '\0';
            lbp_kube_response_free(&resp);
            if (stopping(inf)) {
                rc = LBP_CANCELLED;
                goto out;
            }
            continue;
        }
        if (rc == LBP_TOOBIG && inf->page_size > 1) {
            /* Big objects: smaller pages, from the same continue token. */
            inf->page_size /= 2;
            lbp_warn("informer %s: LIST page over the body cap, limit now %u",
                     lbp_kube_kind_name(inf->kind), inf->page_size);
            lbp_kube_response_free(&resp);
            continue;
        }
        if (rc == LBP_OK)
            rc = list_page_apply(inf, resp.body, resp.body_len, &fresh, &bad, cont, rv);
        else
            lbp_warn("informer %s: LIST failed: %s", lbp_kube_kind_name(inf->kind),
                     resp.error[0] ? resp.error : lbp_rc_str(rc));
        lbp_kube_response_free(&resp);
        if (rc)
            goto out;
        if (!*cont || stopping(inf))
            break;
    }
    if (stopping(inf)) {
        rc = LBP_CANCELLED;
        goto out;
    }
    if (!*rv) {
        lbp_warn("informer %s: LIST without metadata.resourceVersion",
                 lbp_kube_kind_name(inf->kind));
        rc = LBP_PARSE;
        goto out;
    }
    apply_replace(inf, fresh, bad);
    fresh = NULL;
    bad = NULL;
    set_rv(inf, rv);
    pthread_mutex_lock(&inf->mu);
    if (!inf->synced)
        lbp_info("informer %s: synced, %u objects at resourceVersion %s",
                 lbp_kube_kind_name(inf->kind), HASH_COUNT(inf->cache), rv);
    inf->synced = true;
    pthread_cond_broadcast(&inf->cv);
    pthread_mutex_unlock(&inf->mu);
out:
    free_map(&fresh);
    free_map(&bad);
    free(cont);
    lbp_buf_free(&path);
    return rc;
}

/* ---------------------------------------------------------------- watch events */

static int garbage(struct lbp_informer *inf, const char *what, const char *line, size_t len)
{
    stat_inc(&inf->st.decode_errors);
    lbp_warn("informer %s: watch: %s: %.*s%s", lbp_kube_kind_name(inf->kind), what,
             (int)(len < LIST_BODY_LOG ? len : LIST_BODY_LOG), line,
             len > LIST_BODY_LOG ? "..." : "");
    return LBP_PARSE;
}

static int handle_line(struct lbp_informer *inf, const char *line, size_t len)
{
    struct lbp_json_view *v = &inf->jv;
    struct lbp_meta *obj = NULL;
    char type[17], rv[RV_MAX + 1];
    int rc = LBP_OK, prc;

    if (len > (size_t)INT32_MAX)
        return garbage(inf, "line too long", line, 0);
    if ((prc = lbp_jv_parse(v, line, len)) || lbp_jv_type(v, 0) != JSMN_OBJECT) {
        rc = garbage(inf, prc == LBP_NOMEM ? "out of memory" : "not a JSON object", line, len);
        goto out;
    }
    int o = lbp_jv_get(v, 0, "object");
    if (!str_member(v, 0, "type", type, sizeof(type)) || lbp_jv_type(v, o) != JSMN_OBJECT) {
        rc = garbage(inf, "not a watch event", line, len);
        goto out;
    }
    stat_inc(&inf->st.events);

    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(inf, str_member(v, lbp_jv_get(v, o, "metadata"), "resourceVersion", rv, sizeof(rv)));
        goto out;
    }
    if (strcmp(type, "ERROR") == 0) {
        char msg[4097];
        int64_t c = 0;
        if (!lbp_jv_int(v, lbp_jv_get(v, o, "code"), INT64_MIN, INT64_MAX, &c))
            c = 0;
        const char *m = str_member(v, o, "message", msg, sizeof(msg));
        lbp_info("informer %s: watch ERROR %lld: %s", lbp_kube_kind_name(inf->kind), (long long)c,
                 m ? m : "(no message)");
        rc = c == 410 ? LBP_GONE : LBP_RETRY;
        goto out;
    }
    bool del = strcmp(type, "DELETED") == 0;
    if (!del && strcmp(type, "ADDED") != 0 && strcmp(type, "MODIFIED") != 0) {
        rc = garbage(inf, "unknown event type", line, len);
        goto out;
    }
    int drc = lbp_kube_decode_obj(inf->kind, v, o, (void **)&obj);
    if (drc) {
        /*
         * Well-formed event, unusable object: restarting would replay the
         * same event forever, so the RV moves past it — but its key must
         * not look absent (see the top of the file).
         */
        stat_inc(&inf->st.decode_errors);
        set_rv(inf, str_member(v, lbp_jv_get(v, o, "metadata"), "resourceVersion", rv, sizeof(rv)));
        if (lbp_kube_decode_ident(inf->kind, v, o, (void **)&obj)) {
            lbp_warn("informer %s: watch %s event skipped: %s, and no usable name",
                     lbp_kube_kind_name(inf->kind), type, lbp_rc_str(drc));
            goto out;
        }
        if (!del && !obj->deleting) {
            lbp_warn("informer %s: %s: watch %s: cannot decode (%s); keeping the last version "
                     "read",
                     lbp_kube_kind_name(inf->kind), obj->key, type, lbp_rc_str(drc));
            pthread_mutex_lock(&inf->hmu);
            unreadable_put(inf, obj->key, lbp_kube_obj_ref(obj));
            announce_unreadable(inf, obj, drc);
            pthread_mutex_unlock(&inf->hmu);
            goto out;
        }
        lbp_warn("informer %s: %s: watch %s: cannot decode (%s); %s by name",
                 lbp_kube_kind_name(inf->kind), obj->key, type, lbp_rc_str(drc),
                 del ? "deleted" : "being deleted, kept");
    }
    unreadable_put(inf, obj->key, NULL); /* this version stands for itself */
    if (del) {
        apply_delete(inf, obj);
    } else {
        lbp_kube_obj_ref(obj);
        apply_upsert(inf, obj);
    }
    set_rv(inf, obj->resource_version);
out:
    lbp_kube_obj_unref(obj);
    lbp_jv_trim(v, TOKENS_KEEP);
    return rc;
}

int lbp_informer_feed_line(struct lbp_informer *inf, const char *line, size_t len)
{
    return handle_line(inf, line, len);
}

int lbp_informer_feed_list(struct lbp_informer *inf, const char *body, size_t len)
{
    struct entry *fresh = NULL, *bad = NULL;
    char rv[RV_MAX + 1] = "", *cont = calloc(1, CONTINUE_MAX + 1);
    int rc = cont ? list_page_apply(inf, body, len, &fresh, &bad, cont, rv) : LBP_NOMEM;
    if (rc == LBP_OK && cont[0])
        rc = LBP_INVALID; /* one page only */
    if (rc == LBP_OK) {
        apply_replace(inf, fresh, bad);
        fresh = bad = NULL;
        set_rv(inf, rv);
    }
    free_map(&fresh);
    free_map(&bad);
    free(cont);
    return rc;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    struct lbp_informer *inf = ctx;
    if (stopping(inf)) {
        inf->why = WHY_STOP;
        return 1;
    }
    inf->lines++;
    int rc = handle_line(inf, line, len);
    if (rc == LBP_GONE) {
        inf->why = WHY_GONE;
        return 1;
    }
    if (rc == LBP_PARSE) {
        inf->why = WHY_GARBAGE;
        return 1;
    }
    if (rc == LBP_RETRY) {
        inf->why = WHY_ERROR;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- the loop */

/* What the loop does after a watch; RELIST_LATER backs off first. */
enum outcome { OUT_REWATCH, OUT_RELIST, OUT_RELIST_LATER, OUT_BACKOFF, OUT_EXIT };

static enum outcome do_watch(struct lbp_informer *inf, bool *healthy)
{
    struct lbp_buf path;
    struct lbp_kube_response resp;
    char rv[RV_MAX + 1];
    enum outcome out = OUT_BACKOFF;
    int rc;

    *healthy = false;
    lbp_informer_last_rv(inf, rv, sizeof(rv));
    unsigned timeout =
        (unsigned)(lbp_jitter_ms((uint64_t)inf->watch_timeout_s * 1000, 0.25) / 1000);
    if (timeout == 0)
        timeout = 1;
    long idle_ms = (long)(timeout + IDLE_SLACK_S) * 1000;
    uint64_t start = lbp_now_ms();

    lbp_buf_init(&path, 16384);
    char query[96];
    snprintf(query, sizeof(query), "watch=1&allowWatchBookmarks=true&timeoutSeconds=%u", timeout);
    if ((rc = base_path(inf, &path, query)) || (rc = add_param(&path, "resourceVersion", rv))) {
        lbp_error("informer %s: watch path: %s", lbp_kube_kind_name(inf->kind), lbp_rc_str(rc));
        goto out;
    }
    stat_inc(&inf->st.watches);
    inf->why = WHY_NONE;
    inf->lines = 0;
    memset(&resp, 0, sizeof(resp));
    rc = lbp_kube_stream_stoppable(inf->c, path.data, inf->max_line, idle_ms, &inf->stop, on_line,
                                   inf, &resp);
    *healthy = inf->lines > 0;

    if (stopping(inf) || rc == LBP_CANCELLED || inf->why == WHY_STOP) {
        out = OUT_EXIT;
    } else if (inf->why == WHY_GONE || rc == LBP_GONE) {
        stat_inc(&inf->st.gone);
        lbp_info("informer %s: resourceVersion %s too old (410), listing again",
                 lbp_kube_kind_name(inf->kind), rv);
        out = OUT_RELIST;
    } else if (inf->why == WHY_GARBAGE || inf->why == WHY_ERROR) {
        out = OUT_BACKOFF;
    } else if (rc == LBP_OK) {
        /* The server ended the watch (timeoutSeconds): carry on from the last RV. */
        out = OUT_REWATCH;
        if (lbp_now_ms() - start >= 1000)
            *healthy = true;
        else if (!*healthy) {
            /* Closed at once with nothing: do not spin. */
            lbp_info("informer %s: watch from %s closed by the server at once",
                     lbp_kube_kind_name(inf->kind), rv);
            out = OUT_BACKOFF;
        }
    } else if (rc == LBP_TOOBIG) {
        /*
         * An event over max_line was dropped and later lines may already
         * have moved the RV past it: only a LIST can recover it.
         */
        stat_inc(&inf->st.decode_errors);
        lbp_warn("informer %s: watch event over %zu bytes dropped, listing again",
                 lbp_kube_kind_name(inf->kind), inf->max_line);
        out = OUT_RELIST_LATER;
    } else {
        lbp_info("informer %s: watch from %s ended: %s", lbp_kube_kind_name(inf->kind), rv,
                 resp.error[0] ? resp.error : lbp_rc_str(rc));
        out = OUT_BACKOFF;
    }
    lbp_kube_response_free(&resp);
out:
    lbp_buf_free(&path);
    return out;
}

static void *informer_main(void *arg)
{
    struct lbp_informer *inf = arg;
    bool need_list = true;
    unsigned attempt = 0, gone_streak = 0;

    while (!stopping(inf)) {
        if (need_list) {
            int rc = do_list(inf);
            if (rc == LBP_CANCELLED)
                break;
            if (rc == LBP_OK) {
                need_list = false;
                continue;
            }
        } else {
            bool healthy;
            enum outcome o = do_watch(inf, &healthy);
            if (healthy)
                attempt = 0;
            if (o == OUT_EXIT)
                break;
            /*
             * A 410 right after a fresh LIST means something is wrong with
             * the server's history: list again, but not in a tight loop.
             */
            gone_streak = o == OUT_RELIST ? gone_streak + 1 : 0;
            if (o == OUT_RELIST || o == OUT_RELIST_LATER)
                need_list = true;
            if (o == OUT_REWATCH || (o == OUT_RELIST && gone_streak < 2))
                continue;
        }
        stat_inc(&inf->st.restarts);
        uint64_t ms = lbp_jitter_ms(lbp_backoff_ms(BACKOFF_BASE_MS, BACKOFF_MAX_MS, attempt), 0.2);
        lbp_info("informer %s: %s again in %llu ms (attempt %u)", lbp_kube_kind_name(inf->kind),
                 need_list ? "listing" : "watching", (unsigned long long)ms, attempt + 1);
        attempt++;
        if (nap(inf, ms))
            break;
    }
    return NULL;
}

/* ---------------------------------------------------------------- public */

int lbp_informer_new(struct lbp_kube_client *c, const struct lbp_informer_opts *opts,
                     const struct lbp_informer_handlers *h, struct lbp_informer **out)
{
    struct lbp_informer *inf = NULL;
    char probe[256];
    int rc = LBP_OK;

    *out = NULL;
    if (!opts || lbp_kube_kind_path(opts->kind, opts->namespace, probe, sizeof(probe)))
        return LBP_INVALID;
    if (!(inf = calloc(1, sizeof(*inf))))
        return LBP_NOMEM;
    inf->c = c;
    inf->kind = opts->kind;
    inf->resync_s = opts->resync_s;
    inf->page_size = opts->page_size ? opts->page_size : 500;
    inf->watch_timeout_s = opts->watch_timeout_s ? opts->watch_timeout_s : 300;
    inf->max_line = opts->max_line ? opts->max_line : (size_t)16 << 20;
    if (h)
        inf->h = *h;
    inf->ns = lbp_strdup(opts->namespace);
    inf->label_selector = lbp_strdup(opts->label_selector);
    inf->field_selector = lbp_strdup(opts->field_selector);
    lbp_jv_init(&inf->jv, NULL, 0);
    if ((opts->namespace && !inf->ns) || (opts->label_selector && !inf->label_selector) ||
        (opts->field_selector && !inf->field_selector) || lbp_jv_reserve(&inf->jv, TOKENS_START)) {
        rc = LBP_NOMEM;
        goto out;
    }
    pthread_rwlock_init(&inf->lock, NULL);
    pthread_mutex_init(&inf->hmu, NULL);
    pthread_mutex_init(&inf->mu, NULL);
    lbp_cond_init_monotonic(&inf->cv);
    *out = inf;
    inf = NULL;
out:
    if (inf) {
        free(inf->ns);
        free(inf->label_selector);
        free(inf->field_selector);
        lbp_jv_free(&inf->jv);
        free(inf);
    }
    return rc;
}

int lbp_informer_start(struct lbp_informer *inf)
{
    int rc = LBP_OK;
    if (!inf || !inf->c)
        return LBP_INVALID;
    pthread_mutex_lock(&inf->mu);
    if (inf->started) {
        rc = LBP_INVALID;
        goto out;
    }
    if (pthread_create(&inf->thread, NULL, informer_main, inf)) {
        rc = LBP_NOMEM;
        goto out;
    }
    inf->started = true;
    if (inf->resync_s && pthread_create(&inf->resync_thread, NULL, resync_main, inf) == 0)
        inf->resync_running = true;
out:
    pthread_mutex_unlock(&inf->mu);
    return rc;
}

bool lbp_informer_has_synced(struct lbp_informer *inf)
{
    pthread_mutex_lock(&inf->mu);
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s;
}

int lbp_informer_wait_synced(struct lbp_informer *inf, unsigned timeout_ms)
{
    struct timespec ts;
    lbp_deadline_ts(timeout_ms, &ts);
    pthread_mutex_lock(&inf->mu);
    while (!inf->synced && !stopping(inf))
        if (pthread_cond_timedwait(&inf->cv, &inf->mu, &ts) == ETIMEDOUT)
            break;
    bool s = inf->synced;
    pthread_mutex_unlock(&inf->mu);
    return s ? LBP_OK : stopping(inf) ? LBP_CANCELLED : LBP_RETRY;
}

void *lbp_informer_get(struct lbp_informer *inf, const char *key)
{
    if (!inf || !key)
        return NULL;
    pthread_rwlock_rdlock(&inf->lock);
    struct lbp_meta *m = lbp_kube_obj_ref(cache_find(inf, key));
    pthread_rwlock_unlock(&inf->lock);
    return m;
}

bool lbp_informer_unreadable(struct lbp_informer *inf, const char *key)
{
    struct entry *e = NULL;
    if (!inf || !key)
        return false;
    pthread_rwlock_rdlock(&inf->lock);
    HASH_FIND_STR(inf->unreadable, key, e);
    pthread_rwlock_unlock(&inf->lock);
    return e != NULL;
}

size_t lbp_informer_list(struct lbp_informer *inf, void ***objs)
{
    size_t n = 0;
    *objs = NULL;
    pthread_rwlock_rdlock(&inf->lock);
    size_t count = HASH_COUNT(inf->cache);
    if (count && (*objs = calloc(count, sizeof(void *)))) {
        struct entry *e, *tmp;
        HASH_ITER(hh, inf->cache, e, tmp)
        (*objs)[n++] = lbp_kube_obj_ref(e->obj);
    }
    pthread_rwlock_unlock(&inf->lock);
    return n;
}

void lbp_informer_list_free(void **objs, size_t n)
{
    for (size_t i = 0; objs && i < n; i++)
        lbp_kube_obj_unref(objs[i]);
    free(objs);
}

void lbp_informer_stats(struct lbp_informer *inf, struct lbp_informer_stats *out)
{
    out->lists = __atomic_load_n(&inf->st.lists, __ATOMIC_RELAXED);
    out->watches = __atomic_load_n(&inf->st.watches, __ATOMIC_RELAXED);
    out->restarts = __atomic_load_n(&inf->st.restarts, __ATOMIC_RELAXED);
    out->gone = __atomic_load_n(&inf->st.gone, __ATOMIC_RELAXED);
    out->events = __atomic_load_n(&inf->st.events, __ATOMIC_RELAXED);
    out->decode_errors = __atomic_load_n(&inf->st.decode_errors, __ATOMIC_RELAXED);
}

void lbp_informer_stop(struct lbp_informer *inf)
{
    if (!inf)
        return;
    pthread_mutex_lock(&inf->mu);
    __atomic_store_n(&inf->stop, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&inf->cv);
    bool started = inf->started, resync = inf->resync_running;
    inf->started = false;
    inf->resync_running = false;
    pthread_mutex_unlock(&inf->mu);
    if (started)
        pthread_join(inf->thread, NULL);
    if (resync)
        pthread_join(inf->resync_thread, NULL);
}

void lbp_informer_free(struct lbp_informer *inf)
{
    if (!inf)
        return;
    lbp_informer_stop(inf);
    free_map(&inf->cache);
    free_map(&inf->unreadable);
    lbp_jv_free(&inf->jv);
    pthread_cond_destroy(&inf->cv);
    pthread_mutex_destroy(&inf->mu);
    pthread_mutex_destroy(&inf->hmu);
    pthread_rwlock_destroy(&inf->lock);
    free(inf->ns);
    free(inf->label_selector);
    free(inf->field_selector);
    free(inf);
}
