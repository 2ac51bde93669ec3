/*
 * test_informer.c — the informer against the fake API server: a paged
 * initial sync of 200 Services; creates, updates and deletes reaching the
 * cache and the handlers in order; a stream of writes under dropped
 * watches and 410s (as ERROR events and as HTTP status) ending with a cache
 * identical to a fresh LIST and handler state that matches it; label
 * selectors (objects entering and leaving the selection); resync; an
 * event over max_line recovered by a LIST; Nodes, EndpointSlices and
 * Leases decoded from the server; bookmarks moving the resourceVersion;
 * and a prompt stop.
 *
 * Every handler call is checked against what the handlers saw before: an
 * add for a key already present, an update whose old object is not the
 * last one delivered, or a delete of an unknown key is a failure.
 */
#include "common/rc.h"
#include "common/util.h"
#include "kube/informer_int.h"
#include "kube/kube_int.h"
#include "test/integration/harness.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

static int failures;

#define CHECK(cond) LBP_TEST_CHECK_SOFT(failures, cond)

/* ---------------------------------------------------------------- handler recorder */

struct track {
    char key[300];
    char rv[64];
    bool present;
    UT_hash_handle hh;
};

struct recorder {
    pthread_mutex_t mu;
    struct track *map;
    unsigned adds, updates, deletes, resyncs, violations;
};

static struct track *track_get(struct recorder *r, const char *key)
{
    struct track *t = NULL;
    HASH_FIND_STR(r->map, key, t);
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t)
            abort();
        lbp_strlcpy(t->key, key, sizeof(t->key));
        HASH_ADD_STR(r->map, key, t);
    }
    return t;
}

static void violation(struct recorder *r, const char *what, const char *key)
{
    r->violations++;
    if (r->violations <= 10)
        fprintf(stderr, "handler order violation: %s %s\n", what, key);
}

static void on_add(void *ctx, const void *obj)
{
    struct recorder *r = ctx;
    const struct lbp_meta *m = obj;
    pthread_mutex_lock(&r->mu);
    struct track *t = track_get(r, m->key);
    if (t->present)
        violation(r, "add of a present key", m->key);
    t->present = true;
    lbp_strlcpy(t->rv, m->resource_version ? m->resource_version : "", sizeof(t->rv));
    r->adds++;
    pthread_mutex_unlock(&r->mu);
}

static void on_update(void *ctx, const void *old_obj, const void *new_obj)
{
    struct recorder *r = ctx;
    const struct lbp_meta *o = old_obj, *n = new_obj;
    pthread_mutex_lock(&r->mu);
    struct track *t = track_get(r, n->key);
    if (!t->present)
        violation(r, "update of an absent key", n->key);
    if (!lbp_streq(t->rv, o->resource_version))
        violation(r, "update whose old object was not the last delivered", n->key);
    if (old_obj == new_obj)
        r->resyncs++;
    else
        r->updates++;
    lbp_strlcpy(t->rv, n->resource_version ? n->resource_version : "", sizeof(t->rv));
    pthread_mutex_unlock(&r->mu);
}

static void on_delete(void *ctx, const void *obj)
{
    struct recorder *r = ctx;
    const struct lbp_meta *m = obj;
    pthread_mutex_lock(&r->mu);
    struct track *t = track_get(r, m->key);
    if (!t->present)
        violation(r, "delete of an absent key", m->key);
    t->present = false;
    r->deletes++;
    pthread_mutex_unlock(&r->mu);
}

static void recorder_init(struct recorder *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
}

static void recorder_free(struct recorder *r)
{
    struct track *t, *tmp;
    HASH_ITER(hh, r->map, t, tmp)
    {
        HASH_DEL(r->map, t);
        free(t);
    }
    pthread_mutex_destroy(&r->mu);
}

/* ---------------------------------------------------------------- API helpers */

static struct lbp_kube_client *client_for(struct lbp_fake_api *api, struct lbp_kube_config **cfg)
{
    struct lbp_kube_config_opts o = {.kubeconfig = api->kubeconfig};
    struct lbp_kube_client *c = NULL;
    struct lbp_kube_client_opts co = {.timeout_ms = 10000};
    char err[512];
    if (lbp_kube_config_load(&o, cfg, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "kubeconfig: %s\n", err);
        return NULL;
    }
    if (lbp_kube_client_new(*cfg, &co, &c, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "client: %s\n", err);
        return NULL;
    }
    return c;
}

static int create_svc(struct lbp_kube_client *c, const char *ns, const char *name,
                      const char *labels)
{
    char path[256], body[1024];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services", ns);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"%s\",\"labels\":{%s}},\"spec\":{\"type\":\"LoadBalancer\","
             "\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}",
             name, ns, labels ? labels : "");
    return lbp_kube_post(c, path, body, NULL);
}

static int patch_svc(struct lbp_kube_client *c, const char *ns, const char *name, const char *patch)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", ns, name);
    return lbp_kube_patch(c, path, LBP_PATCH_MERGE, patch, NULL);
}

static int delete_svc(struct lbp_kube_client *c, const char *ns, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/services/%s", ns, name);
    return lbp_kube_delete(c, path, NULL);
}

struct kv_rv {
    char key[300];
    char rv[64];
    UT_hash_handle hh;
};

static void kv_free(struct kv_rv **m)
{
    struct kv_rv *e, *tmp;
    HASH_ITER(hh, *m, e, tmp)
    {
        HASH_DEL(*m, e);
        free(e);
    }
}

/* A fresh LIST from the server (key → resourceVersion), and the list's RV. */
static int server_list(struct lbp_kube_client *c, const char *query, struct kv_rv **out,
                       char *list_rv, size_t rvlen)
{
    struct lbp_kube_response r;
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/services%s", query ? query : "");
    int rc = lbp_kube_get(c, path, &r);
    if (rc) {
        lbp_kube_response_free(&r);
        return rc;
    }
    json_object *root = json_tokener_parse(r.body), *items, *md, *v;
    lbp_kube_response_free(&r);
    if (!root)
        return LBP_PARSE;
    if (list_rv && json_object_object_get_ex(root, "metadata", &md) &&
        json_object_object_get_ex(md, "resourceVersion", &v))
        lbp_strlcpy(list_rv, json_object_get_string(v), rvlen);
    if (json_object_object_get_ex(root, "items", &items)) {
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *it = json_object_array_get_idx(items, i), *m, *n, *ns, *rv;
            if (!json_object_object_get_ex(it, "metadata", &m) ||
                !json_object_object_get_ex(m, "name", &n) ||
                !json_object_object_get_ex(m, "namespace", &ns) ||
                !json_object_object_get_ex(m, "resourceVersion", &rv))
                continue;
            struct kv_rv *e = calloc(1, sizeof(*e));
            if (!e)
                abort();
            snprintf(e->key, sizeof(e->key), "%s/%s", json_object_get_string(ns),
                     json_object_get_string(n));
            lbp_strlcpy(e->rv, json_object_get_string(rv), sizeof(e->rv));
            HASH_ADD_STR(*out, key, e);
        }
    }
    json_object_put(root);
    return LBP_OK;
}

/*
 * The informer's cache equals the server's list (same keys, same RVs), and
 * the handlers' last word on every key agrees with it.
 */
static bool converged(struct lbp_informer *inf, struct lbp_kube_client *c, const char *query,
                      struct recorder *rec, bool verbose)
{
    struct kv_rv *srv = NULL;
    void **objs = NULL;
    size_t n = 0;
    bool ok = true;

    if (server_list(c, query, &srv, NULL, 0) != LBP_OK)
        return false;
    n = lbp_informer_list(inf, &objs);
    if (n != HASH_COUNT(srv)) {
        if (verbose)
            fprintf(stderr, "  cache has %zu objects, server %u\n", n, HASH_COUNT(srv));
        ok = false;
    }
    for (size_t i = 0; ok && i < n; i++) {
        const struct lbp_meta *m = objs[i];
        struct kv_rv *e = NULL;
        HASH_FIND_STR(srv, m->key, e);
        if (!e || !lbp_streq(e->rv, m->resource_version)) {
            if (verbose)
                fprintf(stderr, "  %s: cache rv %s, server %s\n", m->key, m->resource_version,
                        e ? e->rv : "(absent)");
            ok = false;
        }
    }
    if (ok && rec) {
        pthread_mutex_lock(&rec->mu);
        struct track *t, *tmp;
        HASH_ITER(hh, rec->map, t, tmp)
        {
            struct kv_rv *e = NULL;
            HASH_FIND_STR(srv, t->key, e);
            if (t->present != (e != NULL) || (e && strcmp(e->rv, t->rv) != 0)) {
                if (verbose)
                    fprintf(stderr, "  handlers think %s is %s at %s\n", t->key,
                            t->present ? "present" : "gone", t->rv);
                ok = false;
                break;
            }
        }
        if (ok && HASH_COUNT(srv) > 0) {
            /* Every listed object was announced. */
            struct kv_rv *e, *etmp;
            HASH_ITER(hh, srv, e, etmp)
            {
                struct track *tr = NULL;
                HASH_FIND_STR(rec->map, e->key, tr);
                if (!tr || !tr->present) {
                    ok = false;
                    break;
                }
            }
        }
        pthread_mutex_unlock(&rec->mu);
    }
    lbp_informer_list_free(objs, n);
    kv_free(&srv);
    return ok;
}

struct conv_ctx {
    struct lbp_informer *inf;
    struct lbp_kube_client *c;
    const char *query;
    struct recorder *rec;
};

static bool conv_cond(void *p)
{
    struct conv_ctx *x = p;
    return converged(x->inf, x->c, x->query, x->rec, false);
}

static bool wait_converged(struct lbp_informer *inf, struct lbp_kube_client *c, const char *query,
                           struct recorder *rec, unsigned ms)
{
    struct conv_ctx x = {inf, c, query, rec};
    if (lbp_test_poll(conv_cond, &x, ms))
        return true;
    converged(inf, c, query, rec, true); /* say why */
    return false;
}

struct key_ctx {
    struct recorder *rec;
    const char *key;
    bool present;
    const char *rv; /* NULL: any */
};

static bool key_cond(void *p)
{
    struct key_ctx *k = p;
    pthread_mutex_lock(&k->rec->mu);
    struct track *t = NULL;
    HASH_FIND_STR(k->rec->map, k->key, t);
    bool ok = t && t->present == k->present && (!k->rv || strcmp(t->rv, k->rv) == 0);
    pthread_mutex_unlock(&k->rec->mu);
    return ok;
}

static bool wait_key(struct recorder *rec, const char *key, bool present, unsigned ms)
{
    struct key_ctx k = {rec, key, present, NULL};
    return lbp_test_poll(key_cond, &k, ms);
}

static struct lbp_informer *start_informer(struct lbp_kube_client *c,
                                           const struct lbp_informer_opts *o, struct recorder *rec)
{
    struct lbp_informer_handlers h = {
        .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .ctx = rec};
    struct lbp_informer *inf = NULL;
    if (lbp_informer_new(c, o, &h, &inf) != LBP_OK || lbp_informer_start(inf) != LBP_OK) {
        fprintf(stderr, "informer start failed\n");
        lbp_informer_free(inf);
        return NULL;
    }
    return inf;
}

/* ---------------------------------------------------------------- tests */

static void test_sync_and_events(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct recorder rec;
    struct lbp_kube_stats before, after;
    char name[64];

    fprintf(stderr, "-- initial sync of 200 Services, then create/update/delete\n");
    for (int i = 0; i < 200; i++) {
        snprintf(name, sizeof(name), "svc-%03d", i);
        CHECK(create_svc(c, "default", name, i % 20 == 0 ? "\"tier\":\"edge\"" : NULL) == LBP_OK);
    }
    recorder_init(&rec);
    lbp_kube_client_stats(c, &before);
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE, .page_size = 50, .watch_timeout_s = 5};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);
    CHECK(lbp_informer_has_synced(inf));
    lbp_kube_client_stats(c, &after);
    CHECK(after.list - before.list >= 4); /* 200 objects in pages of 50 */
    CHECK(rec.adds >= 200);
    CHECK(wait_converged(inf, c, NULL, &rec, 5000));

    struct lbp_service *s = lbp_informer_get(inf, "default/svc-007");
    CHECK(s && lbp_streq(s->type, "LoadBalancer") && s->n_ports == 1 && s->ports[0].port == 80);
    lbp_kube_obj_unref(s);

    CHECK(create_svc(c, "default", "fresh", NULL) == LBP_OK);
    CHECK(wait_key(&rec, "default/fresh", true, 5000));
    s = lbp_informer_get(inf, "default/fresh");
    CHECK(s != NULL);
    unsigned updates = rec.updates;
    CHECK(patch_svc(c, "default", "fresh", "{\"metadata\":{\"annotations\":{\"a\":\"1\"}}}") ==
          LBP_OK);
    struct lbp_service *s2 = NULL;
    for (uint64_t end = lbp_now_ms() + 5000; lbp_now_ms() < end;) {
        s2 = lbp_informer_get(inf, "default/fresh");
        if (s2 && lbp_meta_annotation(&s2->meta, "a"))
            break;
        lbp_kube_obj_unref(s2);
        s2 = NULL;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(s2 != NULL);
    CHECK(rec.updates > updates);
    /* The reference taken before the update still sees the old version. */
    CHECK(s && !lbp_meta_annotation(&s->meta, "a"));
    CHECK(s && s2 && !lbp_streq(s->meta.resource_version, s2->meta.resource_version));
    lbp_kube_obj_unref(s);
    lbp_kube_obj_unref(s2);
    CHECK(delete_svc(c, "default", "fresh") == LBP_OK);
    CHECK(wait_key(&rec, "default/fresh", false, 5000));
    CHECK(lbp_informer_get(inf, "default/fresh") == NULL);
    CHECK(wait_converged(inf, c, NULL, &rec, 5000));
    CHECK(rec.violations == 0);

    lbp_informer_free(inf);
    recorder_free(&rec);
}

struct writer {
    struct lbp_fake_api *api;
    struct lbp_kube_client *c;
    int ops;
    int errors;
};

static void *writer_main(void *p)
{
    struct writer *w = p;
    bool exists[60] = {false};
    unsigned seed = 12345;
    char name[64], patch[128];

    for (int i = 0; i < w->ops; i++) {
        int k = (int)(rand_r(&seed) % 60);
        snprintf(name, sizeof(name), "churn-%02d", k);
        int rc;
        if (!exists[k]) {
            rc = create_svc(w->c, "default", name, NULL);
            exists[k] = rc == LBP_OK;
        } else if (rand_r(&seed) % 4 == 0) {
            rc = delete_svc(w->c, "default", name);
            exists[k] = false;
        } else {
            snprintf(patch, sizeof(patch), "{\"metadata\":{\"annotations\":{\"n\":\"%d\"}}}", i);
            rc = patch_svc(w->c, "default", name, patch);
        }
        if (rc != LBP_OK)
            w->errors++;
        /* Faults at fixed points of the stream: watches dropped, 410s both ways. */
        if (i == 40 || i == 160 || i == 280)
            CHECK(lbp_fake_api_fault(w->api, "{\"dropWatches\":true}") == 0);
        if (i == 100)
            CHECK(lbp_fake_api_fault(w->api, "{\"goneNextWatches\":2}") == 0);
        if (i == 220)
            CHECK(lbp_fake_api_fault(w->api, "{\"goneNextWatches\":1,\"goneAsHttp\":true}") == 0);
    }
    return NULL;
}

static void test_faults(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct recorder rec;
    struct lbp_informer_stats st;

    fprintf(stderr, "-- writes under dropped watches and 410s\n");
    recorder_init(&rec);
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE, .page_size = 100};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);

    struct writer w = {api, c, 360, 0};
    pthread_t th;
    pthread_create(&th, NULL, writer_main, &w);
    pthread_join(th, NULL);
    CHECK(w.errors == 0);
    /* Something after the last fault, so convergence needs a working watch. */
    CHECK(create_svc(c, "default", "after-faults", NULL) == LBP_OK);
    CHECK(wait_converged(inf, c, NULL, &rec, 60000));
    CHECK(rec.violations == 0);
    lbp_informer_stats(inf, &st);
    fprintf(stderr, "   lists %llu watches %llu restarts %llu gone %llu events %llu\n",
            (unsigned long long)st.lists, (unsigned long long)st.watches,
            (unsigned long long)st.restarts, (unsigned long long)st.gone,
            (unsigned long long)st.events);
    CHECK(st.gone >= 1);    /* the 410s reached the informer */
    CHECK(st.lists >= 2);   /* and made it list again */
    CHECK(st.watches >= 4); /* dropped watches were re-opened */
    CHECK(st.decode_errors == 0);
    lbp_fake_api_fault(api, "{\"reset\":true}");
    lbp_informer_free(inf);
    recorder_free(&rec);
}

static void test_selector_and_resync(struct lbp_kube_client *c)
{
    struct recorder rec;

    fprintf(stderr, "-- label selector and resync\n");
    recorder_init(&rec);
    struct lbp_informer_opts o = {
        .kind = LBP_KIND_SERVICE, .label_selector = "tier=edge", .resync_s = 1};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);
    CHECK(wait_converged(inf, c, "?labelSelector=tier%3Dedge", &rec, 5000));
    void **objs;
    size_t n = lbp_informer_list(inf, &objs);
    CHECK(n == 10);
    for (size_t i = 0; i < n; i++)
        CHECK(lbp_streq(lbp_meta_label(objs[i], "tier"), "edge"));
    lbp_informer_list_free(objs, n);

    /* An object entering the selection is an add, leaving it a delete. */
    CHECK(create_svc(c, "default", "plain", NULL) == LBP_OK);
    CHECK(create_svc(c, "default", "edgy", "\"tier\":\"edge\"") == LBP_OK);
    CHECK(wait_key(&rec, "default/edgy", true, 5000));
    CHECK(lbp_informer_get(inf, "default/plain") == NULL);
    CHECK(patch_svc(c, "default", "plain", "{\"metadata\":{\"labels\":{\"tier\":\"edge\"}}}") ==
          LBP_OK);
    CHECK(wait_key(&rec, "default/plain", true, 5000));
    CHECK(patch_svc(c, "default", "edgy", "{\"metadata\":{\"labels\":{\"tier\":null}}}") == LBP_OK);
    CHECK(wait_key(&rec, "default/edgy", false, 5000));

    /* Resync: on_update(obj, obj) for every cached object, without API calls. */
    struct lbp_informer_stats st0, st1;
    lbp_informer_stats(inf, &st0);
    uint64_t end = lbp_now_ms() + 5000;
    unsigned resyncs = 0;
    while (lbp_now_ms() < end) {
        pthread_mutex_lock(&rec.mu);
        resyncs = rec.resyncs;
        pthread_mutex_unlock(&rec.mu);
        if (resyncs >= 2 * 11)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(resyncs >= 2 * 11);
    lbp_informer_stats(inf, &st1);
    CHECK(st1.lists == st0.lists);
    CHECK(rec.violations == 0);
    lbp_informer_free(inf);
    recorder_free(&rec);
}

/* A watch event over max_line is lost to the watch; a LIST must recover it. */
static void test_overlong_event(struct lbp_kube_client *c)
{
    struct recorder rec;
    struct lbp_informer_stats st;
    char body[24576];

    fprintf(stderr, "-- an event over max_line makes the informer list again\n");
    recorder_init(&rec);
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE, .max_line = 16384};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);
    int n = snprintf(body, sizeof(body), "{\"metadata\":{\"annotations\":{\"big\":\"");
    memset(body + n, 'x', 20000);
    snprintf(body + n + 20000, sizeof(body) - (size_t)n - 20000, "\"}}}");
    CHECK(patch_svc(c, "default", "svc-001", body) == LBP_OK);
    /* A small write after it, in the same stream. */
    CHECK(patch_svc(c, "default", "svc-002", "{\"metadata\":{\"annotations\":{\"s\":\"1\"}}}") ==
          LBP_OK);
    CHECK(wait_converged(inf, c, NULL, &rec, 15000));
    struct lbp_service *s = lbp_informer_get(inf, "default/svc-001");
    const char *big = s ? lbp_meta_annotation(&s->meta, "big") : NULL;
    CHECK(big && strlen(big) == 20000);
    lbp_kube_obj_unref(s);
    lbp_informer_stats(inf, &st);
    CHECK(st.decode_errors >= 1);
    CHECK(st.lists >= 2);
    CHECK(rec.violations == 0);
    lbp_informer_free(inf);
    recorder_free(&rec);
}

/* Watch requests failing with 503: reconnects with backoff, then catches up. */
struct watches_ctx {
    struct lbp_informer *inf;
    uint64_t at_least;
};

static bool watches_reached(void *p)
{
    struct watches_ctx *w = p;
    struct lbp_informer_stats st;
    lbp_informer_stats(w->inf, &st);
    return st.watches >= w->at_least;
}

static void test_watch_errors(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct recorder rec;
    struct lbp_informer_stats st0, st1;

    fprintf(stderr, "-- failing watch requests are retried with backoff\n");
    recorder_init(&rec);
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE, .namespace = "default"};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);
    /* Inject the faults only once the first watch is open at the fake (an
     * object arrived on it): a watch request still in flight would meet the
     * first injected 503 instead of being dropped, one watch fewer. */
    CHECK(create_svc(c, "default", "before-errors", NULL) == LBP_OK);
    CHECK(wait_key(&rec, "default/before-errors", true, 30000));
    lbp_informer_stats(inf, &st0);
    CHECK(lbp_fake_api_fault(api, "{\"errorNext\":2,\"code\":503,\"verb\":\"WATCH\"}") == 0);
    CHECK(lbp_fake_api_fault(api, "{\"dropWatches\":true}") == 0);
    /* Create only once the informer is past both failed watches: created any
     * earlier, the object could still reach it on the watch being dropped. */
    struct watches_ctx wc = {.inf = inf, .at_least = st0.watches + 3};
    CHECK(lbp_test_poll(watches_reached, &wc, 30000));
    CHECK(create_svc(c, "default", "after-errors", NULL) == LBP_OK);
    CHECK(wait_key(&rec, "default/after-errors", true, 30000));
    lbp_informer_stats(inf, &st1);
    CHECK(st1.restarts - st0.restarts >= 2);
    CHECK(st1.watches - st0.watches >= 3);
    CHECK(st1.lists == st0.lists); /* resumed from its resourceVersion, no re-list */
    CHECK(wait_converged(inf, c, "?fieldSelector=metadata.namespace%3Ddefault", &rec, 5000));
    lbp_fake_api_fault(api, "{\"reset\":true}");
    lbp_informer_free(inf);
    recorder_free(&rec);
}

struct obj_ctx {
    struct lbp_informer *inf;
    const char *key;
    bool (*check)(const void *obj);
};

static bool obj_cond(void *p)
{
    struct obj_ctx *x = p;
    void *o = lbp_informer_get(x->inf, x->key);
    bool ok = o && x->check(o);
    lbp_kube_obj_unref(o);
    return ok;
}

static bool node_ok(const void *o)
{
    const struct lbp_node *n = o;
    return n->ready == 1 && lbp_streq(n->provider_id, "mock://zone-a/n1") && n->n_taints == 1 &&
           n->n_addresses >= 1 && lbp_streq(n->addresses[0].address, "10.0.0.11");
}

static bool node_cordoned(const void *o)
{
    return ((const struct lbp_node *)o)->unschedulable;
}

static bool slice_ok(const void *o)
{
    const struct lbp_endpointslice *e = o;
    return lbp_streq(e->service_name, "svc-003") && e->n_endpoints == 2 &&
           e->endpoints[0].ready == 1 && e->endpoints[1].terminating == 1 &&
           lbp_streq(e->endpoints[1].node_name, "n1");
}

static bool lease_ok(const void *o)
{
    const struct lbp_lease *l = o;
    return lbp_streq(l->holder_identity, "n1") && l->lease_duration_s == 15 &&
           l->renew_time_us == 1795687202123456LL;
}

static bool lease_renewed(const void *o)
{
    return ((const struct lbp_lease *)o)->renew_time_us == 1795687203000000LL;
}

static bool watch_kind(struct lbp_kube_client *c, enum lbp_kind kind, const char *key,
                       bool (*check)(const void *))
{
    struct lbp_informer_opts o = {.kind = kind};
    struct lbp_informer_handlers h = {0};
    struct lbp_informer *inf = NULL;
    if (lbp_informer_new(c, &o, &h, &inf) || lbp_informer_start(inf) ||
        lbp_informer_wait_synced(inf, 10000)) {
        lbp_informer_free(inf);
        return false;
    }
    struct obj_ctx x = {inf, key, check};
    bool ok = lbp_test_poll(obj_cond, &x, 5000);
    lbp_informer_free(inf);
    return ok;
}

/* Nodes, EndpointSlices and Leases through the same paths as Services. */
static void test_other_kinds(struct lbp_kube_client *c)
{
    fprintf(stderr, "-- Nodes, EndpointSlices and Leases\n");
    CHECK(lbp_kube_post(c, "/api/v1/nodes",
                        "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},"
                        "\"spec\":{\"providerID\":\"mock://zone-a/n1\",\"taints\":[{\"key\":"
                        "\"dedicated\",\"value\":\"edge\",\"effect\":\"NoSchedule\"}]},\"status\":{"
                        "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.0.11\"}],"
                        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                        NULL) == LBP_OK);
    /* Status is a subresource for Nodes: set it where the API keeps it. */
    lbp_kube_patch(c, "/api/v1/nodes/n1/status", LBP_PATCH_MERGE,
                   "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":"
                   "\"10.0.0.11\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
                   NULL);
    CHECK(watch_kind(c, LBP_KIND_NODE, "n1", node_ok));
    CHECK(lbp_kube_patch(c, "/api/v1/nodes/n1", LBP_PATCH_MERGE,
                         "{\"spec\":{\"unschedulable\":true}}", NULL) == LBP_OK);
    CHECK(watch_kind(c, LBP_KIND_NODE, "n1", node_cordoned));

    CHECK(lbp_kube_post(c, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                        "\"metadata\":{\"name\":\"svc-003-abc\",\"namespace\":\"default\","
                        "\"labels\":{\"kubernetes.io/service-name\":\"svc-003\"}},"
                        "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.244.0.5\"],"
                        "\"conditions\":{\"ready\":true},\"nodeName\":\"n1\"},{\"addresses\":["
                        "\"10.244.0.6\"],\"conditions\":{\"ready\":false,\"terminating\":true},"
                        "\"nodeName\":\"n1\"}],\"ports\":[{\"port\":8080}]}",
                        NULL) == LBP_OK);
    CHECK(watch_kind(c, LBP_KIND_ENDPOINTSLICE, "default/svc-003-abc", slice_ok));

    CHECK(lbp_kube_post(c, "/apis/coordination.k8s.io/v1/namespaces/default/leases",
                        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                        "\"metadata\":{\"name\":\"lbprov-speaker-n1\",\"namespace\":\"default\"},"
                        "\"spec\":{\"holderIdentity\":\"n1\",\"leaseDurationSeconds\":15,"
                        "\"renewTime\":\"2026-11-26T10:00:02.123456Z\"}}",
                        NULL) == LBP_OK);
    CHECK(watch_kind(c, LBP_KIND_LEASE, "default/lbprov-speaker-n1", lease_ok));
    CHECK(lbp_kube_patch(
              c, "/apis/coordination.k8s.io/v1/namespaces/default/leases/lbprov-speaker-n1",
              LBP_PATCH_MERGE, "{\"spec\":{\"renewTime\":\"2026-11-26T10:00:03.000000Z\"}}",
              NULL) == LBP_OK);
    CHECK(watch_kind(c, LBP_KIND_LEASE, "default/lbprov-speaker-n1", lease_renewed));
}

struct rv_ctx {
    struct lbp_informer *inf;
    unsigned long long want;
};

static bool rv_cond(void *p)
{
    struct rv_ctx *x = p;
    char rv[64];
    lbp_informer_last_rv(x->inf, rv, sizeof(rv));
    return strtoull(rv, NULL, 10) >= x->want;
}

static void test_bookmarks_and_stop(struct lbp_kube_client *c)
{
    struct recorder rec;
    char list_rv[64] = "";
    struct kv_rv *srv = NULL;

    fprintf(stderr, "-- bookmarks advance the resourceVersion; stop joins promptly\n");
    recorder_init(&rec);
    /* A namespace with nothing in it: only bookmarks can move the RV. */
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE, .namespace = "quiet"};
    struct lbp_informer *inf = start_informer(c, &o, &rec);
    if (!inf) {
        failures++;
        return;
    }
    CHECK(lbp_informer_wait_synced(inf, 15000) == LBP_OK);
    CHECK(create_svc(c, "default", "elsewhere", NULL) == LBP_OK);
    CHECK(server_list(c, NULL, &srv, list_rv, sizeof(list_rv)) == LBP_OK);
    kv_free(&srv);
    struct rv_ctx x = {inf, strtoull(list_rv, NULL, 10)};
    CHECK(x.want > 0);
    CHECK(lbp_test_poll(rv_cond, &x, 10000));
    CHECK(rec.adds == 0);

    uint64_t t0 = lbp_now_ms();
    lbp_informer_stop(inf);
    uint64_t took = lbp_now_ms() - t0;
    fprintf(stderr, "   stop took %llu ms\n", (unsigned long long)took);
    CHECK(took < 2000);
    lbp_informer_free(inf);
    recorder_free(&rec);
}

int main(void)
{
    struct lbp_fake_api api;
    struct lbp_fake_api_opts fo = {.history = 100000, .extra_arg = "--bookmark-interval=1"};
    struct lbp_kube_config *cfg = NULL;

    if (lbp_fake_api_start(&fo, &api) != 0) {
        fprintf(stderr, "cannot start the fake API server\n");
        return 1;
    }
    struct lbp_kube_client *c = client_for(&api, &cfg);
    if (!c) {
        lbp_fake_api_stop(&api);
        return 1;
    }
    test_sync_and_events(&api, c);
    test_faults(&api, c);
    test_selector_and_resync(c);
    test_overlong_event(c);
    test_other_kinds(c);
    test_watch_errors(&api, c);
    test_bookmarks_and_stop(c);

    lbp_kube_client_free(c);
    lbp_kube_config_free(cfg);
    lbp_fake_api_stop(&api);
    fprintf(stderr, "%s (%d failures)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
