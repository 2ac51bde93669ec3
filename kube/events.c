/*
 * events.c — core/v1 Events, written from a background thread.
 *
 * lbp_event_record formats the message, copies the object reference into a
 * queue item and returns; it never touches the network and never waits: when
 * the bounded queue is full the event is dropped and counted. One thread
 * drains the queue through the shared REST client.
 *
 * Before writing, each event passes two filters modelled on client-go's
 * tools/record:
 *   spam filter  a token bucket per (source, involved object): by default a
 *                burst of 25 refilled at one per 5 minutes, the numbers
 *                client-go uses, so a Service failing in a loop cannot flood
 *                the API; extra events are dropped and counted.
 *   aggregation  events identical in object, type, reason, message and
 *                source are one Event object: the first is POSTed with
 *                count 1, repeats within 10 minutes merge-PATCH count and
 *                lastTimestamp. If the Event has gone meanwhile (PATCH 404,
 *                e.g. TTL'd by the API server) a new one is POSTed.
 * Both caches are bounded (4096 entries); the least recently used entry is
 * evicted when full. An entry is keyed by the first 128 bits of the SHA-256
 * of its fields rather than by the fields themselves: a full cache then
 * takes ~1 MiB less, and a collision would need a SHA-256 prefix collision.
 * Each cache keeps its entries in use order, so a lookup moves one to the
 * tail and eviction takes the head, both in constant time.
 */
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/sha256.h"
#include "common/util.h"
#include "kube/kube.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include <utlist.h>

#define MESSAGE_MAX 1024
#define CACHE_MAX 4096
#define AGG_WINDOW_MS (600u * 1000u)
#define DEFAULT_BURST 25
#define DEFAULT_QPS (1.0 / 300.0)
#define DEFAULT_QUEUE 1000
#define NAME_MAX_LEN 253
#define KEY_ID_LEN 16

/* One allocation: the strings live in strs, after the struct. */
struct ev_item {
    struct ev_item *next;
    char *kind, *api_version, *ns, *name, *uid, *rv;
    char *type, *reason, *message;
    int64_t time_s;
    char strs[];
};

struct agg_entry {
    unsigned char id[KEY_ID_LEN];
    struct agg_entry *prev, *next; /* use order, least recent first */
    char *ev_ns;
    char *ev_name;
    int count;
    int64_t first_s;
    uint64_t last_ms;
    UT_hash_handle hh;
};

struct spam_entry {
    unsigned char id[KEY_ID_LEN];
    struct spam_entry *prev, *next; /* use order, least recent first */
    double tokens;
    uint64_t last_ms;
    UT_hash_handle hh;
};

struct lbp_event_recorder {
    struct lbp_kube_client *c;
    char *component;
    char *host;
    double qps;
    double burst;
    size_t queue_max;

    pthread_mutex_t mu;
    pthread_cond_t work; /* an item arrived or stop */
    pthread_cond_t idle; /* queue drained */
    struct ev_item *head, *tail;
    size_t qlen;
    bool busy;
    bool stop;
    pthread_t thread;
    bool started;

    /* Owned by the writer thread only. */
    struct agg_entry *agg, *agg_lru;
    struct spam_entry *spam, *spam_lru;
    uint64_t seq;

    uint64_t dropped_full, dropped_rate, created, patched, failed; /* atomic */
};

static void item_free(struct ev_item *it)
{
    free(it);
}

/* Copies src (NULL stays NULL) to *pos and moves *pos past it. */
static char *pack(char **pos, const char *src)
{
    if (!src)
        return NULL;
    size_t n = strlen(src) + 1;
    char *dst = memcpy(*pos, src, n);
    *pos += n;
    return dst;
}

static size_t packed_len(const char *src)
{
    return src ? strlen(src) + 1 : 0;
}

/* Truncates s to at most max bytes without splitting a UTF-8 sequence. */
static void truncate_utf8(char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    s[n] = '\0';
}

void lbp_event_record(struct lbp_event_recorder *r, const struct lbp_object_ref *obj,
                      const char *type, const char *reason, const char *fmt, ...)
{
    char msg[MESSAGE_MAX + 8];
    va_list ap;
    struct ev_item *it;

    if (!r || !obj || !obj->name || !reason || !fmt)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    truncate_utf8(msg, MESSAGE_MAX);

    const char *kind = obj->kind ? obj->kind : "";
    const char *api_version = obj->api_version ? obj->api_version : "v1";
    if (!type)
        type = "Normal";
    size_t len = packed_len(kind) + packed_len(api_version) + packed_len(obj->namespace) +
                 packed_len(obj->name) + packed_len(obj->uid) + packed_len(obj->resource_version) +
                 packed_len(type) + packed_len(reason) + packed_len(msg);
    it = calloc(1, sizeof(*it) + len);
    if (!it)
        goto nomem;
    char *pos = it->strs;
    it->kind = pack(&pos, kind);
    it->api_version = pack(&pos, api_version);
    it->ns = pack(&pos, obj->namespace);
    it->name = pack(&pos, obj->name);
    it->uid = pack(&pos, obj->uid);
    it->rv = pack(&pos, obj->resource_version);
    it->type = pack(&pos, type);
    it->reason = pack(&pos, reason);
    it->message = pack(&pos, msg);
    it->time_s = lbp_wall_s();

    pthread_mutex_lock(&r->mu);
    if (r->stop || r->qlen >= r->queue_max) {
        pthread_mutex_unlock(&r->mu);
        uint64_t n = __atomic_add_fetch(&r->dropped_full, 1, __ATOMIC_RELAXED);
        if (n == 1 || n % 1000 == 0)
            lbp_warn("events: queue full, dropped %s %s/%s reason=%s (%llu dropped so far)",
                     it->kind, it->ns ? it->ns : "", it->name, it->reason, (unsigned long long)n);
        item_free(it);
        return;
    }
    if (r->tail)
        r->tail->next = it;
    else
        r->head = it;
    r->tail = it;
    r->qlen++;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    return;

nomem:
    item_free(it);
    __atomic_add_fetch(&r->dropped_full, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------ filters */

/* Evicts the least recently used entry (the head of lru) once the table is full. */
#define EVICT_LRU(head, lru, freefn)                                                               \
    do {                                                                                           \
        if (HASH_COUNT(head) >= CACHE_MAX && (lru)) {                                              \
            __typeof__(lru) old_ = (lru);                                                          \
            HASH_DEL(head, old_);                                                                  \
            DL_DELETE(lru, old_);                                                                  \
            freefn(old_);                                                                          \
        }                                                                                          \
    } while (0)

/* Marks e as the most recently used entry. */
#define TOUCH_LRU(lru, e)                                                                          \
    do {                                                                                           \
        DL_DELETE(lru, e);                                                                         \
        DL_APPEND(lru, e);                                                                         \
    } while (0)

static void spam_free(struct spam_entry *e)
{
    free(e);
}

static void agg_free(struct agg_entry *e)
{
    free(e->ev_ns);
    free(e->ev_name);
    free(e);
}

/* The cache key of an event's object (full: and of the event itself), as a digest. */
static bool obj_key(struct lbp_event_recorder *r, const struct ev_item *it, bool full,
                    unsigned char id[KEY_ID_LEN])
{
    struct lbp_buf b;
    unsigned char md[LBP_SHA256_LEN];
    bool ok = false;

    lbp_buf_init(&b, 8192);
    /* '\x1f' separates fields: it cannot appear in names and makes keys unambiguous. */
    if (lbp_buf_addf(&b, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", r->component,
                     r->host ? r->host : "", it->kind, it->api_version, it->ns ? it->ns : "",
                     it->name, it->uid ? it->uid : "") ||
        (full && lbp_buf_addf(&b, "\x1f%s\x1f%s\x1f%s", it->type, it->reason, it->message)))
        goto out;
    if (lbp_sha256(b.data, b.len, md) != LBP_OK)
        goto out;
    memcpy(id, md, KEY_ID_LEN);
    ok = true;
out:
    lbp_buf_free(&b);
    return ok;
}

/* True when the object still has budget for one more event. */
static bool spam_allow(struct lbp_event_recorder *r, const struct ev_item *it)
{
    unsigned char id[KEY_ID_LEN];
    struct spam_entry *e = NULL;
    uint64_t now = lbp_now_ms();
    bool ok;

    if (!obj_key(r, it, false, id))
        return false;
    HASH_FIND(hh, r->spam, id, KEY_ID_LEN, e);
    if (!e) {
        EVICT_LRU(r->spam, r->spam_lru, spam_free);
        e = calloc(1, sizeof(*e));
        if (!e)
            return false;
        memcpy(e->id, id, KEY_ID_LEN);
        e->tokens = r->burst;
        e->last_ms = now;
        HASH_ADD(hh, r->spam, id, KEY_ID_LEN, e);
        DL_APPEND(r->spam_lru, e);
    } else {
        TOUCH_LRU(r->spam_lru, e);
        e->tokens += (double)(now - e->last_ms) * r->qps / 1000.0;
        if (e->tokens > r->burst)
            e->tokens = r->burst;
        e->last_ms = now;
    }
    ok = e->tokens >= 1.0;
    if (ok)
        e->tokens -= 1.0;
    return ok;
}

/* ------------------------------------------------------------ writes */

static void add_str(struct json_object *o, const char *k, const char *v)
{
    if (v)
        json_object_object_add(o, k, json_object_new_string(v));
}

static const char *event_ns(const struct ev_item *it)
{
    /* Cluster-scoped objects (Nodes) get their Events in "default", as upstream does. */
    return it->ns && *it->ns ? it->ns : "default";
}

static int post_event(struct lbp_event_recorder *r, const struct ev_item *it, struct agg_entry *e)
{
    int rc = LBP_NOMEM;
    char ts[32], name[NAME_MAX_LEN + 1], path[512];
    struct json_object *o = json_object_new_object(), *md, *io, *src;
    struct timespec now;

    if (!o)
        return LBP_NOMEM;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t uniq = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec + r->seq++;
    /* The suffix is at most 17 bytes; shorten the object name so the result stays a valid name. */
    snprintf(name, sizeof(name), "%.*s.%llx", NAME_MAX_LEN - 17, it->name,
             (unsigned long long)uniq);
    lbp_rfc3339(it->time_s, ts);

    add_str(o, "apiVersion", "v1");
    add_str(o, "kind", "Event");
    md = json_object_new_object();
    add_str(md, "name", name);
    add_str(md, "namespace", event_ns(it));
    json_object_object_add(o, "metadata", md);
    io = json_object_new_object();
    add_str(io, "kind", it->kind);
    add_str(io, "apiVersion", it->api_version);
    add_str(io, "namespace", it->ns);
    add_str(io, "name", it->name);
    add_str(io, "uid", it->uid);
    add_str(io, "resourceVersion", it->rv);
    json_object_object_add(o, "involvedObject", io);
    add_str(o, "reason", it->reason);
    add_str(o, "message", it->message);
    add_str(o, "type", it->type);
    src = json_object_new_object();
    add_str(src, "component", r->component);
    add_str(src, "host", r->host);
    json_object_object_add(o, "source", src);
    add_str(o, "firstTimestamp", ts);
    add_str(o, "lastTimestamp", ts);
    json_object_object_add(o, "count", json_object_new_int(1));
    add_str(o, "reportingComponent", r->component);
    add_str(o, "reportingInstance", r->host ? r->host : r->component);

    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", event_ns(it));
    struct lbp_kube_response resp = {0};
    rc =
        lbp_kube_post(r->c, path, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &resp);
    if (rc == LBP_OK) {
        __atomic_add_fetch(&r->created, 1, __ATOMIC_RELAXED);
        free(e->ev_name);
        free(e->ev_ns);
        e->ev_name = strdup(name);
        e->ev_ns = strdup(event_ns(it));
        e->count = 1;
        e->first_s = it->time_s;
        if (!e->ev_name || !e->ev_ns)
            rc = LBP_NOMEM;
    } else {
        lbp_warn("events: create %s/%s for %s %s failed: %s%s%s", event_ns(it), name, it->kind,
                 it->name, lbp_rc_str(rc), resp.message ? ": " : "",
                 resp.message ? resp.message : "");
    }
    lbp_kube_response_free(&resp);
    json_object_put(o);
    return rc;
}

static int patch_event(struct lbp_event_recorder *r, const struct ev_item *it, struct agg_entry *e)
{
    char ts[32], path[768], body[128];
    struct lbp_kube_response resp = {0};

    lbp_rfc3339(it->time_s, ts);
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events/%s", e->ev_ns, e->ev_name);
    snprintf(body, sizeof(body), "{\"count\":%d,\"lastTimestamp\":\"%s\"}", e->count + 1, ts);
    int rc = lbp_kube_patch(r->c, path, LBP_PATCH_MERGE, body, &resp);
    if (rc == LBP_OK) {
        e->count++;
        __atomic_add_fetch(&r->patched, 1, __ATOMIC_RELAXED);
    } else if (rc != LBP_NOT_FOUND) {
        lbp_warn("events: update %s/%s failed: %s%s%s", e->ev_ns, e->ev_name, lbp_rc_str(rc),
                 resp.message ? ": " : "", resp.message ? resp.message : "");
    }
    lbp_kube_response_free(&resp);
    return rc;
}

static void write_event(struct lbp_event_recorder *r, struct ev_item *it)
{
    uint64_t now = lbp_now_ms();
    struct agg_entry *e = NULL;
    int rc;

    if (!spam_allow(r, it)) {
        uint64_t n = __atomic_add_fetch(&r->dropped_rate, 1, __ATOMIC_RELAXED);
        lbp_v(2, "events: rate limit dropped %s %s/%s reason=%s (%llu dropped so far)", it->kind,
              it->ns ? it->ns : "", it->name, it->reason, (unsigned long long)n);
        return;
    }
    unsigned char id[KEY_ID_LEN];
    if (!obj_key(r, it, true, id))
        goto fail;
    HASH_FIND(hh, r->agg, id, KEY_ID_LEN, e);
    if (e)
        TOUCH_LRU(r->agg_lru, e);
    if (e && e->ev_name && now - e->last_ms < AGG_WINDOW_MS) {
        e->last_ms = now;
        rc = patch_event(r, it, e);
        if (rc == LBP_NOT_FOUND)
            rc = post_event(r, it, e);
        if (rc)
            goto fail;
        return;
    }
    if (!e) {
        EVICT_LRU(r->agg, r->agg_lru, agg_free);
        e = calloc(1, sizeof(*e));
        if (!e)
            goto fail;
        memcpy(e->id, id, KEY_ID_LEN);
        HASH_ADD(hh, r->agg, id, KEY_ID_LEN, e);
        DL_APPEND(r->agg_lru, e);
    }
    e->last_ms = now;
    if (post_event(r, it, e) == LBP_OK)
        return;
    /* A failed create must not turn later repeats into patches of nothing. */
    HASH_DEL(r->agg, e);
    DL_DELETE(r->agg_lru, e);
    agg_free(e);
fail:
    __atomic_add_fetch(&r->failed, 1, __ATOMIC_RELAXED);
}

static void *writer(void *arg)
{
    struct lbp_event_recorder *r = arg;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->head)
            pthread_cond_wait(&r->work, &r->mu);
        if (r->stop)
            break;
        struct ev_item *it = r->head;
        r->head = it->next;
        if (!r->head)
            r->tail = NULL;
        r->qlen--;
        r->busy = true;
        pthread_mutex_unlock(&r->mu);

        write_event(r, it);
        item_free(it);

        pthread_mutex_lock(&r->mu);
        r->busy = false;
        if (!r->head)
            pthread_cond_broadcast(&r->idle);
    }
    pthread_cond_broadcast(&r->idle);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int lbp_event_recorder_new(struct lbp_kube_client *c, const struct lbp_event_opts *opts,
                           struct lbp_event_recorder **out)
{
    struct lbp_event_recorder *r;

    *out = NULL;
    if (!c || !opts || !opts->component || !*opts->component)
        return LBP_INVALID;
    r = calloc(1, sizeof(*r));
    if (!r)
        return LBP_NOMEM;
    r->c = c;
    r->component = strdup(opts->component);
    r->host = lbp_strdup(opts->host);
    r->qps = opts->qps > 0 ? opts->qps : DEFAULT_QPS;
    r->burst = opts->burst > 0 ? opts->burst : DEFAULT_BURST;
    r->queue_max = opts->queue_max ? opts->queue_max : DEFAULT_QUEUE;
    pthread_mutex_init(&r->mu, NULL);
    lbp_cond_init_monotonic(&r->work);
    lbp_cond_init_monotonic(&r->idle);
    if (!r->component || (opts->host && !r->host)) {
        lbp_event_recorder_free(r);
        return LBP_NOMEM;
    }
    if (pthread_create(&r->thread, NULL, writer, r) != 0) {
        lbp_event_recorder_free(r);
        return LBP_IO;
    }
    r->started = true;
    *out = r;
    return LBP_OK;
}

void lbp_event_recorder_flush(struct lbp_event_recorder *r, unsigned timeout_ms)
{
    if (!r)
        return;
    uint64_t deadline = lbp_now_ms() + timeout_ms;
    pthread_mutex_lock(&r->mu);
    while ((r->head || r->busy) && !r->stop) {
        uint64_t now = lbp_now_ms();
        if (now >= deadline)
            break;
        struct timespec ts;
        uint64_t d = deadline - now;
        lbp_deadline_ts(d, &ts);
        pthread_cond_timedwait(&r->idle, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
}

void lbp_event_recorder_free(struct lbp_event_recorder *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->work);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
    }
    if (r->qlen)
        lbp_info("events: %zu queued events discarded at shutdown", r->qlen);
    while (r->head) {
        struct ev_item *it = r->head;
        r->head = it->next;
        item_free(it);
    }
    struct agg_entry *a, *at;
    HASH_ITER(hh, r->agg, a, at)
    {
        HASH_DEL(r->agg, a);
        DL_DELETE(r->agg_lru, a);
        agg_free(a);
    }
    struct spam_entry *s, *st;
    HASH_ITER(hh, r->spam, s, st)
    {
        HASH_DEL(r->spam, s);
        DL_DELETE(r->spam_lru, s);
        spam_free(s);
    }
    pthread_cond_destroy(&r->work);
    pthread_cond_destroy(&r->idle);
    pthread_mutex_destroy(&r->mu);
    free(r->component);
    free(r->host);
    free(r);
}
