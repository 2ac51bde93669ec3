/*
 * nodes.c — providerID parsing, the node → instance cache, the target
 * diff and the Kubernetes health check (see nodes.h). The cache is a
 * uthash map of key → (time, value copy) under one mutex.
 */
#include "provider/nodes.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "common/rc.h"
#include "common/util.h"

int lbp_provider_id_parse(const char *pid, const char *scheme, struct lbp_provider_id *out)
{
    size_t sl = strlen(scheme);
    char *p, *save = NULL, *tok;
    memset(out, 0, sizeof(*out));
    if (!pid || !*pid)
        return LBP_NOT_FOUND;
    if (strncmp(pid, scheme, sl) != 0 || strncmp(pid + sl, "://", 3) != 0)
        return LBP_INVALID;
    if (lbp_strlcpy(out->buf, pid + sl + 3, sizeof(out->buf)) >= sizeof(out->buf))
        return LBP_INVALID;
    p = out->buf;
    out->host = p;
    p += strcspn(p, "/");
    if (*p)
        *p++ = 0;
    for (tok = strtok_r(p, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
        if (out->n_seg == LBP_PROVIDER_ID_MAX_SEGS)
            return LBP_INVALID;
        out->seg[out->n_seg++] = tok;
    }
    return out->n_seg ? LBP_OK : LBP_INVALID;
}

const char *lbp_provider_id_last(const struct lbp_provider_id *id)
{
    return id->n_seg ? id->seg[id->n_seg - 1] : "";
}

/* ---- the cache ---- */

struct entry {
    char *key;
    uint64_t at_ms;
    UT_hash_handle hh;
    unsigned char value[]; /* value_size bytes */
};

struct lbp_node_cache {
    pthread_mutex_t mu;
    size_t value_size;
    unsigned ttl_s;
    struct entry *map;
};

int lbp_node_cache_new(size_t value_size, unsigned ttl_s, struct lbp_node_cache **out)
{
    struct lbp_node_cache *c = calloc(1, sizeof(*c));
    *out = c;
    if (!c)
        return LBP_NOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->value_size = value_size;
    c->ttl_s = ttl_s;
    return LBP_OK;
}

void lbp_node_cache_free(struct lbp_node_cache *c)
{
    struct entry *e, *tmp;
    if (!c)
        return;
    HASH_ITER(hh, c->map, e, tmp)
    {
        HASH_DEL(c->map, e);
        free(e->key);
        free(e);
    }
    pthread_mutex_destroy(&c->mu);
    free(c);
}

bool lbp_node_cache_get(struct lbp_node_cache *c, const char *key, void *out)
{
    struct entry *e = NULL;
    bool hit;
    pthread_mutex_lock(&c->mu);
    HASH_FIND_STR(c->map, key, e);
    hit = e && lbp_now_ms() - e->at_ms < (uint64_t)c->ttl_s * 1000;
    if (hit)
        memcpy(out, e->value, c->value_size);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

int lbp_node_cache_put(struct lbp_node_cache *c, const char *key, const void *value)
{
    struct entry *e = NULL;
    int rc = LBP_OK;
    pthread_mutex_lock(&c->mu);
    HASH_FIND_STR(c->map, key, e);
    if (!e) {
        e = calloc(1, sizeof(*e) + c->value_size);
        if (!e || !(e->key = strdup(key))) {
            free(e);
            rc = LBP_NOMEM;
            goto out;
        }
        HASH_ADD_KEYPTR(hh, c->map, e->key, strlen(e->key), e);
    }
    memcpy(e->value, value, c->value_size);
    e->at_ms = lbp_now_ms();
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void lbp_node_cache_set_ttl(struct lbp_node_cache *c, unsigned ttl_s)
{
    pthread_mutex_lock(&c->mu);
    c->ttl_s = ttl_s;
    pthread_mutex_unlock(&c->mu);
}

size_t lbp_node_cache_count(struct lbp_node_cache *c)
{
    size_t n;
    pthread_mutex_lock(&c->mu);
    n = HASH_COUNT(c->map);
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- target diff ---- */

int lbp_target_diff(const void *have, size_t n_have, size_t have_size, const void *want,
                    size_t n_want, size_t want_size, const struct lbp_diff_ops *ops, void *ud,
                    size_t **add, size_t *n_add, size_t **del, size_t *n_del)
{
    const char *h = have, *w = want;
    *n_add = *n_del = 0;
    *add = calloc(n_want + 1, sizeof(**add));
    *del = calloc(n_have + 1, sizeof(**del));
    if (!*add || !*del) {
        free(*add);
        free(*del);
        *add = *del = NULL;
        return LBP_NOMEM;
    }
    for (size_t i = 0; i < n_want; i++) {
        const void *wi = w + i * want_size;
        bool have_it = false;
        for (size_t k = 0; k < n_have && !have_it; k++) {
            const void *hk = h + k * have_size;
            have_it = !(ops->ignore && ops->ignore(hk, ud)) && ops->match(hk, wi, ud);
        }
        for (size_t k = 0; ops->same_want && k < *n_add && !have_it; k++)
            have_it = ops->same_want(w + (*add)[k] * want_size, wi, ud);
        if (!have_it)
            (*add)[(*n_add)++] = i;
    }
    for (size_t k = 0; k < n_have; k++) {
        const void *hk = h + k * have_size;
        bool keep = false;
        if (ops->ignore && ops->ignore(hk, ud))
            continue;
        for (size_t i = 0; i < n_want && !keep; i++)
            keep = ops->match(hk, w + i * want_size, ud);
        if (!keep)
            (*del)[(*n_del)++] = k;
    }
    return LBP_OK;
}

/* ---- health checks ---- */

bool lbp_health_check_kube(const struct lbp_lb_spec *spec, struct lbp_health_check *out)
{
    memset(out, 0, sizeof(*out));
    out->local = spec->local_traffic && spec->health_check_node_port > 0;
    out->port = out->local ? spec->health_check_node_port : LBP_KUBE_PROXY_HEALTH_PORT;
    lbp_strlcpy(out->path, "/healthz", sizeof(out->path));
    lbp_strlcpy(out->protocol, "HTTP", sizeof(out->protocol));
    out->interval_s = LBP_HC_INTERVAL_S;
    out->timeout_s = LBP_HC_TIMEOUT_S;
    out->healthy = LBP_HC_HEALTHY;
    out->unhealthy = LBP_HC_UNHEALTHY;
    return out->local;
}
