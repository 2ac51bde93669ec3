/*
 * prefetch.c — the objects a leader has just read, so that it does not
 * read them again one by one.
 *
 * A leader's first pass ensures every live Service, and a converged
 * external LB costs five GETs (rule, pool, client firewall, health check,
 * probe firewall): 2,000 Services cost 10,000 calls before the first new
 * one is served. So the first ensure, update or remove of the process
 * lists the collections those reads go to (forwarding rules, target pools
 * and backend services of the region, k8s-* firewalls and both kinds of
 * health check), 500 objects a page, and keeps each object's JSON text by
 * its path for BULK_TTL_MS. gce_get answers from what is kept; anything
 * else is read from the cloud. (Keeping every GET's answer as well, 20 s,
 * made the ETP Local → Cluster health-check swap go back and forth in
 * test_gce_provider about one run in five, for a reason not yet found;
 * it was withdrawn.)
 *
 * What keeps it right:
 * - An object an Operation is still changing is left out of the bulk
 *   read: the running Operations of the region and of the project are
 *   listed first (the previous leader's, which may finish after the
 *   lists), then the collections.
 * - Every change this process sends forgets its object (gce_call), and so
 *   does the end of its Operation (gce_ops_poll): a step that changed
 *   something reads the cloud again.
 * - Absence proves nothing: an object not kept is read.
 * - A refusal that a stale copy explains (404 on anything but a delete,
 *   412 for an old fingerprint, an Operation ending RESOURCE_NOT_FOUND)
 *   drops everything kept. Other refusals (in use, invalid, quota) are
 *   answers about the request and frequent: a shared health check's
 *   delete is refused while pools still use it.
 * - What someone else changes by hand is seen at most BULK_TTL_MS late.
 * The bulk read is taken once in a process's life (a leader that loses
 * its lease exits) while the other workers wait for it.
 */
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "clouds/gce/gce_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define BULK_TTL_MS 60000 /* the first pass over every Service */
#define PURGE_EVERY_MS 10000

enum prefetch_state { PF_IDLE, PF_TAKING, PF_LIVE };

struct pf_entry {
    char *path; /* "regions/R/forwardingRules/NAME": gce_get's path */
    char *json; /* the object as the list or a GET gave it */
    uint64_t until_ms;
    UT_hash_handle hh;
};

struct gce_prefetch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum prefetch_state state;
    uint64_t next_purge_ms;
    struct pf_entry *map;
    unsigned long hits, misses, kept, left_out, drops;
    char last_drop[160];
};

struct gce_prefetch *gce_prefetch_new(void)
{
    struct gce_prefetch *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    lbp_cond_init_monotonic(&p->cv);
    return p;
}

static void map_free(struct pf_entry **map)
{
    struct pf_entry *e, *tmp;
    HASH_ITER(hh, *map, e, tmp)
    {
        HASH_DEL(*map, e);
        free(e->path);
        free(e->json);
        free(e);
    }
}

void gce_prefetch_free(struct gce_prefetch *p)
{
    if (!p)
        return;
    map_free(&p->map);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Everything kept goes (mu held): reads go to the cloud again. */
static void drop_all(struct gce_prefetch *p, const char *why)
{
    if (p->map)
        lbp_v(1, "gce: %u kept objects dropped: %s", HASH_COUNT(p->map), why);
    lbp_strlcpy(p->last_drop, why, sizeof(p->last_drop));
    p->drops++;
    map_free(&p->map);
}

static void entry_del(struct gce_prefetch *p, struct pf_entry *e)
{
    HASH_DEL(p->map, e);
    free(e->path);
    free(e->json);
    free(e);
}

/* ---- taking it ---- */

/*
 * The path gce_get uses for an object, from its selfLink or targetLink:
 * "https://.../projects/P/regions/R/targetPools/N" → "regions/R/targetPools/N"
 * (only objects of the configured project; "" otherwise).
 */
static void rel_path(const char *link, const char *project, char *out, size_t cap)
{
    const char *p = gce_ref_path(link);
    size_t n = strlen(project);
    out[0] = 0;
    if (strncmp(p, "projects/", 9) != 0 || strncmp(p + 9, project, n) != 0 || p[9 + n] != '/')
        return;
    lbp_strlcpy(out, p + 9 + n + 1, cap);
}

static int put(struct pf_entry **map, const char *path, const char *json, uint64_t until_ms)
{
    struct pf_entry *e;
    HASH_FIND_STR(*map, path, e);
    if (e)
        return LBP_OK;
    e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path)) || (json && !(e->json = strdup(json)))) {
        if (e)
            free(e->path);
        free(e);
        return LBP_NOMEM;
    }
    e->until_ms = until_ms;
    HASH_ADD_KEYPTR(hh, *map, e->path, strlen(e->path), e);
    return LBP_OK;
}

struct pf_scan {
    const char *project;
    struct pf_entry *busy; /* paths of running Operations */
    struct pf_entry *map;  /* being built; not yet visible to readers */
    uint64_t until_ms;
    unsigned long kept, left_out;
};

static int busy_each(void *ud, struct json_object *op)
{
    struct pf_scan *s = ud;
    const char *link = NULL;
    char path[400];
    if (lbp_json_get_str(op, "targetLink", 1024, &link, NULL, 0) != LBP_OK)
        return LBP_OK;
    rel_path(link, s->project, path, sizeof(path));
    return path[0] ? put(&s->busy, path, NULL, 0) : LBP_OK;
}

static int object_each(void *ud, struct json_object *item)
{
    struct pf_scan *s = ud;
    struct pf_entry *b;
    const char *link = NULL;
    char path[400];
    if (lbp_json_get_str(item, "selfLink", 1024, &link, NULL, 0) != LBP_OK)
        return LBP_OK;
    rel_path(link, s->project, path, sizeof(path));
    if (!path[0])
        return LBP_OK;
    HASH_FIND_STR(s->busy, path, b);
    if (b) {
        s->left_out++;
        return LBP_OK;
    }
    s->kept++;
    return put(&s->map, path, json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN),
               s->until_ms);
}

/* The lists, outside the lock; LBP_OK with s->map filled. */
static int take(struct lbp_provider_ctx *ctx, const struct gce_conf *c, struct pf_scan *s,
                struct lbp_call *call)
{
    const char *busy_filter = "status != DONE";
    char path[200];
    int rc;
    /* 1. Whatever an Operation still changes is left out of what follows. */
    snprintf(path, sizeof(path), "regions/%s/operations", c->region);
    rc = gce_list(ctx, c, path, busy_filter, "list running operations", busy_each, s, call);
    if (rc == LBP_OK)
        rc = gce_list(ctx, c, "global/operations", busy_filter, "list running operations",
                      busy_each, s, call);
    /* 2. The objects the models read. */
    static const char *const regional[] = {"forwardingRules", "targetPools", "backendServices"};
    for (size_t i = 0; rc == LBP_OK && i < sizeof(regional) / sizeof(regional[0]); i++) {
        snprintf(path, sizeof(path), "regions/%s/%s", c->region, regional[i]);
        rc = gce_list(ctx, c, path, NULL, regional[i], object_each, s, call);
    }
    if (rc == LBP_OK)
        rc = gce_list(ctx, c, "global/firewalls", "name eq \"k8s-.*\"", "firewalls", object_each, s,
                      call);
    if (rc == LBP_OK)
        rc = gce_list(ctx, c, "global/httpHealthChecks", NULL, "httpHealthChecks", object_each, s,
                      call);
    if (rc == LBP_OK)
        rc = gce_list(ctx, c, "global/healthChecks", NULL, "healthChecks", object_each, s, call);
    return rc;
}

void gce_prefetch_begin(struct lbp_provider_ctx *ctx)
{
    struct gce_prefetch *p = ctx->prefetch;
    struct pf_scan s = {0};
    struct lbp_call call = {0};
    struct gce_conf c;
    uint64_t t0;
    int rc;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->state == PF_TAKING)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->state != PF_IDLE) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    p->state = PF_TAKING;
    pthread_mutex_unlock(&p->mu);

    pthread_rwlock_rdlock(&ctx->lock);
    c = ctx->conf;
    pthread_rwlock_unlock(&ctx->lock);
    s.project = c.project;
    t0 = lbp_now_ms();
    s.until_ms = t0 + BULK_TTL_MS;
    rc = take(ctx, &c, &s, &call);

    map_free(&s.busy);
    pthread_mutex_lock(&p->mu);
    p->kept = s.kept;
    p->left_out = s.left_out;
    p->state = PF_LIVE;
    p->next_purge_ms = t0 + PURGE_EVERY_MS;
    if (rc == LBP_OK) {
        p->map = s.map;
        lbp_info("gce: read %lu objects in bulk in %llu ms (%lu left out: an Operation runs on "
                 "them)",
                 p->kept, (unsigned long long)(lbp_now_ms() - t0), p->left_out);
    } else {
        map_free(&s.map);
        lbp_warn("gce: reading the objects in bulk failed, each is read alone: %s", call.err);
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- using it ---- */

/* Expired entries go, at most every PURGE_EVERY_MS (mu held). */
static void purge(struct gce_prefetch *p, uint64_t now)
{
    struct pf_entry *e, *tmp;
    if (now < p->next_purge_ms)
        return;
    p->next_purge_ms = now + PURGE_EVERY_MS;
    HASH_ITER(hh, p->map, e, tmp)
    {
        if (now >= e->until_ms)
            entry_del(p, e);
    }
}

bool gce_prefetch_read(struct gce_prefetch *p, const char *path, struct gce_resp *r)
{
    struct pf_entry *e = NULL;
    bool answered = false;
    uint64_t now = lbp_now_ms();
    if (!p)
        return false;
    pthread_mutex_lock(&p->mu);
    if (p->state == PF_LIVE) {
        purge(p, now);
        HASH_FIND_STR(p->map, path, e);
        if (e && now >= e->until_ms) {
            entry_del(p, e);
            e = NULL;
        }
        if (e && (r->json = json_tokener_parse(e->json)) != NULL) {
            answered = true;
            p->hits++;
        } else {
            p->misses++;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return answered;
}

/*
 * The object a change goes to: "regions/R/targetPools/N/addInstance" and
 * "regions/R/targetPools/N" → that pool; a POST to "global/firewalls" →
 * "global/firewalls/<body's name>".
 */
static void changed_path(const char *path, struct json_object *body, char *out, size_t cap)
{
    size_t scope = !strncmp(path, "global/", 7) ? 1 : 2, seg = 0, i = 0, len;
    const char *name = NULL;
    len = strcspn(path, "?");
    for (; i < len; i++) {
        if (path[i] == '/' && ++seg == scope + 2)
            break; /* past scope, collection and name: a verb follows */
    }
    if (seg == scope + 2 || (seg == scope + 1 && i == len)) {
        snprintf(out, cap, "%.*s", (int)i, path);
        return;
    }
    if (body && lbp_json_get_str(body, "name", GCE_NAME_MAX, &name, NULL, 0) == LBP_OK)
        snprintf(out, cap, "%.*s/%s", (int)len, path, name);
    else
        out[0] = 0;
}

void gce_prefetch_forget(struct gce_prefetch *p, const char *path, struct json_object *body)
{
    struct pf_entry *e = NULL;
    char obj[400];
    if (!p)
        return;
    changed_path(path, body, obj, sizeof(obj));
    pthread_mutex_lock(&p->mu);
    if (obj[0]) {
        HASH_FIND_STR(p->map, obj, e);
        if (e)
            entry_del(p, e);
    }
    pthread_mutex_unlock(&p->mu);
}

void gce_prefetch_forget_target(struct gce_prefetch *p, const char *project, struct json_object *op)
{
    const char *link = NULL;
    char path[400];
    if (!p || lbp_json_get_str(op, "targetLink", 1024, &link, NULL, 0) != LBP_OK)
        return;
    rel_path(link, project, path, sizeof(path));
    if (path[0])
        gce_prefetch_forget(p, path, NULL);
}

void gce_prefetch_drop(struct gce_prefetch *p, const char *why)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    drop_all(p, why);
    pthread_mutex_unlock(&p->mu);
}

void gce_prefetch_debug(struct gce_prefetch *p, struct json_object *o)
{
    struct json_object *d = json_object_new_object();
    static const char *const names[] = {"not taken", "taking", "live"};
    if (!p || !d) {
        json_object_put(d);
        return;
    }
    pthread_mutex_lock(&p->mu);
    json_object_object_add(d, "state", json_object_new_string(names[p->state]));
    json_object_object_add(d, "objects", json_object_new_int64((int64_t)HASH_COUNT(p->map)));
    json_object_object_add(d, "listed", json_object_new_int64((int64_t)p->kept));
    json_object_object_add(d, "leftOut", json_object_new_int64((int64_t)p->left_out));
    json_object_object_add(d, "readsAnswered", json_object_new_int64((int64_t)p->hits));
    json_object_object_add(d, "readsMissed", json_object_new_int64((int64_t)p->misses));
    json_object_object_add(d, "drops", json_object_new_int64((int64_t)p->drops));
    if (p->last_drop[0])
        json_object_object_add(d, "lastDrop", json_object_new_string(p->last_drop));
    pthread_mutex_unlock(&p->mu);
    json_object_object_add(o, "prefetch", d);
}
