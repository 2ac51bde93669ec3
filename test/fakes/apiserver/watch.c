/*
 * watch.c — the watch history ring and streaming watches.
 *
 * Every stored change becomes one event in a global ring (size --history),
 * holding references to the new and previous object versions. A watch is a
 * cursor into that ring: the connection's thread (MHD runs one per
 * connection) wakes on fake_cond, walks the ring from its cursor, filters by
 * resource, namespace and selectors, and streams one JSON line per event.
 * Writers therefore never do per-watcher work, and a slow watcher costs
 * nothing until the ring laps it — then it gets the real server's answer, a
 * 410 "too old resource version" ERROR event, and must re-list.
 *
 * As upstream's watch cache does, an object that stops matching a watch's
 * selector is sent as DELETED (its previous content at the new
 * resourceVersion) and one that starts matching as ADDED.
 */
#include "fake.h"
#include "common/util.h"

#include <microhttpd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_CHUNK (64u * 1024u)
#define WATCH_BUF_MAX (64u * 1024u * 1024u)
#define WATCH_DEFAULT_TIMEOUT_S 1800

/*
 * History entries keep only the serialised versions (shared with the store)
 * and the namespace: selector watches parse the text when they need labels.
 * json-c trees cost several times their text, and the history can be long.
 */
struct fake_event {
    uint64_t rv;
    enum fake_ev_type type;
    struct fake_rtype *rt;
    char *ns;
    struct fake_rec *rec, *prev_rec;
};

static struct fake_event *ring;
static size_t ring_cap;
static uint64_t head;       /* sequence number of the next event */
static uint64_t evicted_rv; /* resourceVersion of the newest event dropped from the ring */
static unsigned watch_epoch;
static unsigned open_watches;

struct watcher {
    struct fake_rtype *rt;
    char ns[FAKE_NAME_MAX];
    bool all_ns;
    struct fake_sel *ls, *fs;
    uint64_t cursor;
    struct fake_rec **init;
    size_t ninit, iinit;
    bool init_end_bookmark;
    uint64_t init_rv; /* the version the synthetic ADDEDs show */
    bool bookmarks;
    bool table; /* events carry one-row Tables (kubectl get -w) */
    uint64_t deadline_ms, next_bm_ms;
    unsigned epoch;
    struct lbp_buf out;
    bool done;
    struct MHD_Connection *conn;
    char kind[64];
    char api_version[160];
};

int fake_watch_init(unsigned history)
{
    ring_cap = history ? history : 1;
    ring = calloc(ring_cap, sizeof(*ring));
    return ring ? 0 : -1;
}

static void event_clear(struct fake_event *e)
{
    free(e->ns);
    fake_rec_unref(e->rec);
    fake_rec_unref(e->prev_rec);
    memset(e, 0, sizeof(*e));
}

void fake_watch_free(void)
{
    for (size_t i = 0; ring && i < ring_cap; i++)
        event_clear(&ring[i]);
    free(ring);
    ring = NULL;
}

static uint64_t tail(void)
{
    return head > ring_cap ? head - ring_cap : 0;
}

void fake_watch_emit(struct fake_rtype *rt, enum fake_ev_type type, json_object *o,
                     struct fake_rec *rec, json_object *prev, struct fake_rec *prev_rec)
{
    struct fake_event *e = &ring[head % ring_cap];
    if (head >= ring_cap) {
        evicted_rv = e->rv;
        event_clear(e);
    }
    e->rv = fake_store_rv();
    e->type = type;
    e->rt = rt;
    e->ns = rt->namespaced ? lbp_strdup(fake_get_str(o, "metadata.namespace")) : NULL;
    e->rec = rec;
    fake_rec_ref(rec);
    e->prev_rec = prev_rec;
    fake_rec_ref(prev_rec);
    head++;
    pthread_cond_broadcast(&fake_cond);
}

void fake_watch_drop_all(void)
{
    pthread_mutex_lock(&fake_lock);
    watch_epoch++;
    pthread_cond_broadcast(&fake_cond);
    pthread_mutex_unlock(&fake_lock);
}

unsigned fake_watch_open_count(void)
{
    pthread_mutex_lock(&fake_lock);
    unsigned n = open_watches;
    pthread_mutex_unlock(&fake_lock);
    return n;
}

/* ---- stream output ------------------------------------------------------ */

static void add_line(struct watcher *w, const char *type, const char *json, size_t len)
{
    if (w->table && strcmp(type, "ERROR") != 0) {
        char *t = fake_table_event(w->rt, json);
        if (t) {
            lbp_buf_addf(&w->out, "{\"type\":\"%s\",\"object\":", type);
            lbp_buf_adds(&w->out, t);
            free(t);
            if (lbp_buf_adds(&w->out, "}\n"))
                w->done = true;
        }
        return;
    }
    lbp_buf_addf(&w->out, "{\"type\":\"%s\",\"object\":", type);
    lbp_buf_add(&w->out, json, len);
    if (lbp_buf_adds(&w->out, "}\n"))
        w->done = true; /* the client stopped reading for 64 MiB: end it like a slow watcher */
}

static void add_bookmark(struct watcher *w, uint64_t rv, bool initial_end)
{
    lbp_buf_addf(&w->out,
                 "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
                 "\"metadata\":{\"resourceVersion\":\"%llu\",\"creationTimestamp\":null%s}}}\n",
                 w->kind, w->api_version, (unsigned long long)rv,
                 initial_end ? ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}" : "");
}

static void add_gone(struct watcher *w, uint64_t asked)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "too old resource version: %llu (%llu)", (unsigned long long)asked,
             (unsigned long long)(evicted_rv + 1));
    json_object *st = fake_status(410, "Expired", msg, NULL, NULL, NULL);
    const char *s = json_object_to_json_string_ext(st, JSON_C_TO_STRING_PLAIN);
    add_line(w, "ERROR", s, strlen(s));
    json_object_put(st);
    w->done = true;
}

static bool passes(const struct watcher *w, json_object *o)
{
    if (!o)
        return false;
    if (!w->all_ns && w->rt->namespaced && !lbp_streq(fake_get_str(o, "metadata.namespace"), w->ns))
        return false;
    return fake_sel_match(w->fs, o) && fake_sel_match(w->ls, o);
}

/* passes() for a history entry's text: parsed only when a selector needs it. */
static bool rec_passes(const struct watcher *w, const char *ns, const struct fake_rec *rec)
{
    if (!rec)
        return false;
    if (!w->all_ns && w->rt->namespaced && !lbp_streq(ns, w->ns))
        return false;
    if (!w->ls && !w->fs)
        return true;
    json_object *o = json_tokener_parse(rec->json);
    bool ok = o && fake_sel_match(w->fs, o) && fake_sel_match(w->ls, o);
    json_object_put(o);
    return ok;
}

static void deliver(struct watcher *w, const struct fake_event *e)
{
    if (e->rt != w->rt)
        return;
    bool cur = rec_passes(w, e->ns, e->rec);
    bool prev = e->prev_rec && rec_passes(w, e->ns, e->prev_rec);
    switch (e->type) {
    case EV_ADDED:
        if (cur)
            add_line(w, "ADDED", e->rec->json, e->rec->len);
        break;
    case EV_DELETED:
        if (cur || prev)
            add_line(w, "DELETED", e->rec->json, e->rec->len);
        break;
    case EV_MODIFIED:
        if (cur)
            add_line(w, prev ? "MODIFIED" : "ADDED", e->rec->json, e->rec->len);
        else if (prev) {
            /* Left the selection: the previous content, at this event's version. */
            json_object *copy = json_tokener_parse(e->prev_rec->json);
            char rv[24];
            if (!copy)
                break;
            snprintf(rv, sizeof(rv), "%llu", (unsigned long long)e->rv);
            json_object_object_add(fake_ensure_obj(copy, "metadata"), "resourceVersion",
                                   json_object_new_string(rv));
            const char *s = json_object_to_json_string_ext(
                copy, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
            add_line(w, "DELETED", s, strlen(s));
            json_object_put(copy);
        }
        break;
    }
}

/* Produces output up to about one chunk. */
static void fill(struct watcher *w)
{
    while (!w->done && w->out.len < WATCH_CHUNK) {
        if (w->iinit < w->ninit) {
            struct fake_rec *r = w->init[w->iinit++];
            add_line(w, "ADDED", r->json, r->len);
            continue;
        }
        if (w->init_end_bookmark) {
            w->init_end_bookmark = false;
            add_bookmark(w, w->init_rv, true);
            continue;
        }
        if (w->cursor < tail()) {
            add_gone(w, w->cursor < head ? ring[tail() % ring_cap].rv : 0);
            break;
        }
        if (w->cursor >= head)
            break;
        deliver(w, &ring[w->cursor % ring_cap]);
        w->cursor++;
    }
}

static bool client_gone(struct watcher *w)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(w->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void wait_until(uint64_t until_ms)
{
    struct timespec ts;
    uint64_t now = lbp_now_ms();
    lbp_deadline_ts(until_ms > now ? until_ms - now : 0, &ts);
    pthread_cond_timedwait(&fake_cond, &fake_lock, &ts);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct watcher *w = cls;
    ssize_t ret;
    pthread_mutex_lock(&fake_lock);
    for (;;) {
        if (w->out.len) {
            size_t n = w->out.len < max ? w->out.len : max;
            memcpy(buf, w->out.data, n);
            lbp_buf_consume(&w->out, n);
            ret = (ssize_t)n;
            break;
        }
        if (w->done) {
            ret = MHD_CONTENT_READER_END_OF_STREAM;
            break;
        }
        if (fake_shutting_down || w->epoch != watch_epoch) {
            w->done = true;
            continue;
        }
        fill(w);
        if (w->out.len)
            continue;
        uint64_t now = lbp_now_ms();
        if (now >= w->deadline_ms) {
            w->done = true;
            continue;
        }
        if (w->bookmarks && now >= w->next_bm_ms) {
            add_bookmark(w, fake_store_rv(), false);
            w->next_bm_ms = now + (uint64_t)fake_cfg.bookmark_interval_s * 1000u;
            continue;
        }
        if (client_gone(w)) {
            w->done = true;
            continue;
        }
        uint64_t until = now + 1000;
        if (w->deadline_ms < until)
            until = w->deadline_ms;
        if (w->bookmarks && w->next_bm_ms < until)
            until = w->next_bm_ms;
        wait_until(until);
    }
    pthread_mutex_unlock(&fake_lock);
    return ret;
}

static void watcher_free(struct watcher *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->ninit; i++)
        fake_rec_unref(w->init[i]);
    free(w->init);
    fake_sel_free(w->ls);
    fake_sel_free(w->fs);
    lbp_buf_free(&w->out);
    free(w);
}

static void reader_free(void *cls)
{
    pthread_mutex_lock(&fake_lock);
    open_watches--;
    watcher_free(cls);
    pthread_mutex_unlock(&fake_lock);
}

/* Takes references to every current object the watch selects (the synthetic ADDEDs). */
static int snapshot(struct watcher *w)
{
    size_t n = 0;
    w->init = malloc((w->rt->count + 1) * sizeof(*w->init));
    if (!w->init)
        return -1;
    for (struct fake_obj *o = w->rt->objs; o; o = o->hh.next) {
        if (!passes(w, o->o))
            continue;
        w->init[n++] = o->rec;
        fake_rec_ref(o->rec);
    }
    w->ninit = n;
    return 0;
}

/* First ring position with an event newer than rv. */
static uint64_t seek(uint64_t rv)
{
    uint64_t lo = tail(), hi = head;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ring[mid % ring_cap].rv <= rv)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int fake_watch_open(const struct fake_req *q, struct MHD_Connection *c, int force_gone,
                    struct MHD_Response **resp, struct fake_reply *err)
{
    char msg[600];
    long timeout = WATCH_DEFAULT_TIMEOUT_S, rv = -1;
    struct watcher *w = calloc(1, sizeof(*w));
    *resp = NULL;
    if (!w) {
        fake_reply_status(err, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        return -1;
    }
    lbp_buf_init(&w->out, WATCH_BUF_MAX);
    if (fake_sel_parse(q->label_selector, false, &w->ls, msg, sizeof(msg)) ||
        fake_sel_parse(q->field_selector, true, &w->fs, msg, sizeof(msg))) {
        fake_reply_status(err, 400, "BadRequest", msg, NULL, NULL, NULL);
        goto fail;
    }
    if (q->timeout_s && lbp_parse_long(q->timeout_s, 0, 86400, &timeout)) {
        fake_reply_status(err, 400, "BadRequest", "invalid timeoutSeconds", NULL, NULL, NULL);
        goto fail;
    }
    if (timeout == 0)
        timeout = WATCH_DEFAULT_TIMEOUT_S;
    if (q->rv && *q->rv && lbp_parse_long(q->rv, 0, INT64_MAX, &rv)) {
        snprintf(msg, sizeof(msg), "resourceVersion: Invalid value: \"%s\": strconv.ParseUint",
                 q->rv);
        fake_reply_status(err, 400, "BadRequest", msg, NULL, NULL, NULL);
        goto fail;
    }
    w->rt = q->rt;
    w->all_ns = !q->has_ns || !q->rt->namespaced;
    lbp_strlcpy(w->ns, q->ns, sizeof(w->ns));
    lbp_strlcpy(w->kind, q->rt->kind, sizeof(w->kind));
    if (q->rt->group[0])
        snprintf(w->api_version, sizeof(w->api_version), "%s/%s", q->rt->group, q->rt->version);
    else
        snprintf(w->api_version, sizeof(w->api_version), "%s", q->rt->version);
    w->bookmarks = q->bookmarks;
    w->table = q->table;
    w->conn = c;
    uint64_t now = lbp_now_ms();
    w->deadline_ms = now + (uint64_t)timeout * 1000u;
    w->next_bm_ms = now + (uint64_t)fake_cfg.bookmark_interval_s * 1000u;

    pthread_mutex_lock(&fake_lock);
    w->epoch = watch_epoch;
    bool initial = rv <= 0 || q->send_initial_events;
    bool gone = force_gone || (!initial && (uint64_t)rv < evicted_rv);
    bool gone_http = force_gone ? force_gone == 2 : fake_cfg.gone_as_http;
    if (gone && gone_http) {
        snprintf(msg, sizeof(msg), "too old resource version: %ld (%llu)", rv,
                 (unsigned long long)(evicted_rv + 1));
        pthread_mutex_unlock(&fake_lock);
        fake_reply_status(err, 410, "Expired", msg, NULL, NULL, NULL);
        goto fail;
    }
    if (gone) {
        add_gone(w, rv > 0 ? (uint64_t)rv : 0);
    } else if (initial) {
        if (snapshot(w)) {
            pthread_mutex_unlock(&fake_lock);
            fake_reply_status(err, 500, "InternalError", "out of memory", NULL, NULL, NULL);
            goto fail;
        }
        w->cursor = head;
        w->init_rv = fake_store_rv();
        w->init_end_bookmark = q->send_initial_events;
    } else {
        w->cursor = seek((uint64_t)rv);
    }
    open_watches++;
    pthread_mutex_unlock(&fake_lock);

    *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, WATCH_CHUNK, reader, w, reader_free);
    if (!*resp) {
        reader_free(w);
        fake_reply_status(err, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        return -1;
    }
    MHD_add_response_header(*resp, "Content-Type", "application/json");
    MHD_add_response_header(*resp, "Cache-Control", "no-cache, private");
    return 0;
fail:
    watcher_free(w);
    return -1;
}
