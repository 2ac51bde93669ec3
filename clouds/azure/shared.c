/*
 * shared.c — writes to the objects all Services share: the cluster's load
 * balancers (<name> and <name>-internal) and its network security group.
 *
 * Each Service owns a part of such an object: the items (frontend, rules,
 * probes; security rules) named after it ("a<uid32>" and "a<uid32>-*").
 * A worker that wants its part in place registers it in the object's slot
 * and then takes the slot's writer lock. The writer GETs the object, drops
 * every registered part the object already shows, applies the rest — its
 * own and any other Service's that arrived meanwhile — and PUTs the whole
 * object with If-Match: <etag>. So Services created together share a few
 * PUTs instead of one each, and no write is lost to another.
 *
 * ARM answers 412 when someone else (another controller, a person, the
 * portal) changed the object after our GET: the writer reads it again,
 * re-applies the parts and retries. A PUT that ARM accepted but still runs
 * (Azure-AsyncOperation) is kept in the slot; every call for that object
 * meanwhile answers LBP_PENDING (polling it at most as often as ARM's
 * Retry-After allows), and parts arriving meanwhile wait for the next PUT.
 * A 400 for a PUT that carried other Services' parts is retried with the
 * caller's part alone, so a bad part is reported to its own Service only;
 * a caller whose part such a retry left out puts it back on its next turn.
 *
 * Azure's hard limits on one object (600 frontends, 1,500 rules per load
 * balancer, 299 rules per NIC ip configuration, 1,000 security rules) are
 * 400s too. Past one, the part that does not fit is not kept, the others'
 * go on, and its Service gets LBP_RETRY with a message naming the limit:
 * retried with the reconciler's backoff, and early when a Service's load
 * balancer is removed (event_reason marks it as waiting for room others
 * hold).
 *
 * The load balancer is deleted when its last frontend goes (with the NIC
 * pool released first); the security group is the cluster's and stays.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clouds/azure/azure_int.h"
#include "common/json.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#define AZ_SLOT_ATTEMPTS 6
#define AZ_NSG_MIN_PRIORITY 500
#define AZ_NSG_MAX_PRIORITY 4096

static const char *const LB_ARRAYS[] = {"frontendIPConfigurations", "probes", "loadBalancingRules",
                                        NULL};
static const char *const NSG_ARRAYS[] = {"securityRules", NULL};

struct json_object *az_jobj(struct json_object *parent, const char *key)
{
    struct json_object *v;
    if (json_object_object_get_ex(parent, key, &v) && json_object_is_type(v, json_type_object))
        return v;
    v = json_object_new_object();
    json_object_object_add(parent, key, v);
    return v;
}

struct json_object *az_jarr(struct json_object *parent, const char *key)
{
    struct json_object *v;
    if (json_object_object_get_ex(parent, key, &v) && json_object_is_type(v, json_type_array))
        return v;
    v = json_object_new_array();
    json_object_object_add(parent, key, v);
    return v;
}

bool az_json_covers(struct json_object *have, struct json_object *want, const char *key)
{
    switch (json_object_get_type(want)) {
    case json_type_null:
        return !have || json_object_is_type(have, json_type_null);
    case json_type_object: {
        if (!json_object_is_type(have, json_type_object))
            return false;
        json_object_object_foreach(want, k, v)
        {
            struct json_object *h = NULL;
            json_object_object_get_ex(have, k, &h);
            if (!az_json_covers(h, v, k))
                return false;
        }
        return true;
    }
    case json_type_array: {
        size_t n = json_object_array_length(want);
        if (!json_object_is_type(have, json_type_array) || json_object_array_length(have) != n)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!az_json_covers(json_object_array_get_idx(have, i),
                                json_object_array_get_idx(want, i), key))
                return false;
        return true;
    }
    case json_type_string:
        if (!json_object_is_type(have, json_type_string))
            return false;
        /* ARM ids keep the casing the resource was made with: compare them without case. */
        if (key && (strcmp(key, "id") == 0 || strcasecmp(key, "protocol") == 0))
            return strcasecmp(json_object_get_string(have), json_object_get_string(want)) == 0;
        return strcmp(json_object_get_string(have), json_object_get_string(want)) == 0;
    case json_type_boolean:
        return json_object_is_type(have, json_type_boolean) &&
               json_object_get_boolean(have) == json_object_get_boolean(want);
    case json_type_int:
    case json_type_double:
        return (json_object_is_type(have, json_type_int) ||
                json_object_is_type(have, json_type_double)) &&
               json_object_get_double(have) == json_object_get_double(want);
    }
    return false;
}

bool az_owned_name(const char *name, const char *owner)
{
    size_t n = strlen(owner);
    return name && strncmp(name, owner, n) == 0 && (name[n] == 0 || name[n] == '-');
}

int az_slot_init(struct az_slot *s, enum az_slot_kind kind, bool internal, const char *name,
                 const char *path)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->internal = internal;
    lbp_strlcpy(s->name, name, sizeof(s->name));
    lbp_strlcpy(s->path, path, sizeof(s->path));
    pthread_mutex_init(&s->plock, NULL);
    pthread_mutex_init(&s->mu, NULL);
    return LBP_OK;
}

void az_slot_free(struct az_slot *s)
{
    for (size_t i = 0; i < s->n_parts; i++)
        json_object_put(s->parts[i].want);
    free(s->parts);
    json_object_put(s->pool_want);
    json_object_put(s->last);
    json_object_put(s->good);
    free(s->op_owners);
    pthread_mutex_destroy(&s->plock);
    pthread_mutex_destroy(&s->mu);
    memset(s, 0, sizeof(*s));
}

/* Under plock: replaces owner's registered part (a reference to want is taken). */
static int upsert(struct az_slot *s, const char *owner, struct json_object *want)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (strcmp(s->parts[i].owner, owner) == 0) {
            json_object_put(s->parts[i].want);
            s->parts[i].want = json_object_get(want);
            return LBP_OK;
        }
    if (s->n_parts == s->cap_parts) {
        size_t cap = s->cap_parts ? s->cap_parts * 2 : 16;
        struct az_part *p;
        if (cap > 100000 || !(p = realloc(s->parts, cap * sizeof(*p))))
            return LBP_NOMEM;
        s->parts = p;
        s->cap_parts = cap;
    }
    memset(&s->parts[s->n_parts], 0, sizeof(s->parts[0]));
    lbp_strlcpy(s->parts[s->n_parts].owner, owner, sizeof(s->parts[0].owner));
    s->parts[s->n_parts].want = json_object_get(want);
    s->n_parts++;
    return LBP_OK;
}

static bool has_part(struct az_slot *s, const char *owner)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (strcmp(s->parts[i].owner, owner) == 0)
            return true;
    return false;
}

/* Under plock: owner's registered part is done (in place, or nothing to do). */
static void drop_part(struct az_slot *s, const char *owner)
{
    for (size_t i = 0; i < s->n_parts; i++)
        if (strcmp(s->parts[i].owner, owner) == 0) {
            json_object_put(s->parts[i].want);
            s->parts[i] = s->parts[--s->n_parts];
            return;
        }
}

uint64_t az_pool_want(struct az_slot *s, struct json_object *want)
{
    uint64_t gen;
    pthread_mutex_lock(&s->plock);
    json_object_put(s->pool_want);
    s->pool_want = want;
    gen = ++s->pool_gen;
    pthread_mutex_unlock(&s->plock);
    return gen;
}

void az_pool_applied(struct az_slot *s, uint64_t gen, const char *digest)
{
    bool latest;
    pthread_mutex_lock(&s->mu);
    pthread_mutex_lock(&s->plock);
    latest = s->pool_gen == gen;
    pthread_mutex_unlock(&s->plock);
    if (latest)
        lbp_strlcpy(s->nodes_applied, digest, sizeof(s->nodes_applied));
    pthread_mutex_unlock(&s->mu);
}

static const char *const *arrays(const struct az_slot *s)
{
    return s->kind == AZ_SLOT_LB ? LB_ARRAYS : NSG_ARRAYS;
}

static struct json_object *find_named(struct json_object *arr, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *o = json_object_array_get_idx(arr, i), *n;
        if (json_object_object_get_ex(o, "name", &n) &&
            strcasecmp(json_object_get_string(n), name) == 0)
            return o;
    }
    return NULL;
}

static const char *name_of(struct json_object *o)
{
    struct json_object *n;
    return json_object_object_get_ex(o, "name", &n) ? json_object_get_string(n) : NULL;
}

/* The object already shows this part exactly. */
static bool covered(const struct az_slot *s, struct json_object *cur, const struct az_part *p)
{
    struct json_object *props = lbp_json_at(cur, "properties");
    for (const char *const *a = arrays(s); *a; a++) {
        struct json_object *have = lbp_json_at(props, *a), *want = NULL;
        size_t n_have = 0, n_want;
        if (p->want)
            json_object_object_get_ex(p->want, *a, &want);
        n_want = want ? json_object_array_length(want) : 0;
        for (size_t i = 0; have && i < json_object_array_length(have); i++)
            if (az_owned_name(name_of(json_object_array_get_idx(have, i)), p->owner))
                n_have++;
        if (n_have != n_want)
            return false;
        for (size_t i = 0; i < n_want; i++) {
            struct json_object *w = json_object_array_get_idx(want, i);
            struct json_object *h = have ? find_named(have, name_of(w)) : NULL;
            if (!h || !az_json_covers(h, w, NULL))
                return false;
        }
    }
    return true;
}

static struct json_object *pool_of(struct lbp_provider_ctx *ctx, struct json_object *lb)
{
    struct json_object *pools = lbp_json_at(lb, "properties.backendAddressPools");
    return pools ? find_named(pools, ctx->cluster) : NULL;
}

/* want: the IP-based pool's addresses (NULL: leave them as they are). */
static bool pool_ok(struct lbp_provider_ctx *ctx, const struct az_slot *s, struct json_object *cur,
                    struct json_object *want)
{
    struct json_object *pool = pool_of(ctx, cur);
    if (s->kind != AZ_SLOT_LB)
        return true;
    if (!pool)
        return false;
    if (!want)
        return true;
    return az_json_covers(lbp_json_at(pool, "properties.loadBalancerBackendAddresses"), want, NULL);
}

static int64_t priority_of(struct json_object *rule)
{
    struct json_object *p = lbp_json_at(rule, "properties.priority");
    return p ? json_object_get_int64(p) : 0;
}

/* Lowest inbound priority from AZ_NSG_MIN_PRIORITY no rule in arr uses. */
static int64_t free_priority(struct json_object *arr)
{
    for (int64_t prio = AZ_NSG_MIN_PRIORITY; prio <= AZ_NSG_MAX_PRIORITY; prio++) {
        bool used = false;
        for (size_t i = 0; i < json_object_array_length(arr) && !used; i++) {
            struct json_object *r = json_object_array_get_idx(arr, i);
            const char *dir = json_object_get_string(lbp_json_at(r, "properties.direction"));
            used = priority_of(r) == prio && (!dir || strcasecmp(dir, "Inbound") == 0);
        }
        if (!used)
            return prio;
    }
    return -1;
}

/* Puts part p into obj: its items replace whatever obj holds under its owner. */
static int apply(const struct az_slot *s, struct json_object *obj, const struct az_part *p,
                 struct lbp_call *call)
{
    struct json_object *props = az_jobj(obj, "properties");
    for (const char *const *a = arrays(s); *a; a++) {
        struct json_object *arr = az_jarr(props, *a), *want = NULL, *next;
        struct json_object *old_prio = json_object_new_object();
        next = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *it = json_object_array_get_idx(arr, i);
            if (az_owned_name(name_of(it), p->owner)) {
                if (priority_of(it))
                    json_object_object_add(old_prio, name_of(it),
                                           json_object_new_int64(priority_of(it)));
                continue;
            }
            json_object_array_add(next, json_object_get(it));
        }
        if (p->want)
            json_object_object_get_ex(p->want, *a, &want);
        for (size_t i = 0; want && i < json_object_array_length(want); i++) {
            struct json_object *copy = NULL, *w = json_object_array_get_idx(want, i), *op;
            if (json_object_deep_copy(w, &copy, NULL) != 0) {
                json_object_put(old_prio);
                json_object_put(next);
                return LBP_NOMEM;
            }
            if (s->kind == AZ_SLOT_NSG) {
                struct json_object *cp = az_jobj(copy, "properties");
                int64_t prio = json_object_object_get_ex(old_prio, name_of(w), &op)
                                   ? json_object_get_int64(op)
                                   : free_priority(next);
                if (prio < 0) {
                    lbp_failf(call, "security group %s: no free rule priority between %d and %d",
                              s->name, AZ_NSG_MIN_PRIORITY, AZ_NSG_MAX_PRIORITY);
                    json_object_put(copy);
                    json_object_put(old_prio);
                    json_object_put(next);
                    return LBP_INVALID;
                }
                json_object_object_add(cp, "priority", json_object_new_int64(prio));
            }
            json_object_array_add(next, copy);
        }
        json_object_object_add(props, *a, next);
        json_object_put(old_prio);
    }
    return LBP_OK;
}

static void apply_pool(struct lbp_provider_ctx *ctx, struct json_object *obj,
                       struct json_object *want)
{
    struct json_object *props = az_jobj(obj, "properties"),
                       *pools = az_jarr(props, "backendAddressPools"), *pool;
    if (!(pool = find_named(pools, ctx->cluster))) {
        pool = json_object_new_object();
        json_object_object_add(pool, "name", json_object_new_string(ctx->cluster));
        json_object_array_add(pools, pool);
    }
    if (want && ctx->cfg.pool == AZ_POOL_NODEIP) {
        struct json_object *pp = az_jobj(pool, "properties"), *copy = NULL, *vn;
        char vnet[AZ_ID_MAX];
        az_id(ctx, ctx->cfg.vnet_rg, "Microsoft.Network/virtualNetworks", ctx->cfg.vnet, vnet,
              sizeof(vnet));
        vn = json_object_new_object();
        json_object_object_add(vn, "id", json_object_new_string(vnet));
        json_object_object_add(pp, "virtualNetwork", vn);
        if (json_object_deep_copy(want, &copy, NULL) == 0)
            json_object_object_add(pp, "loadBalancerBackendAddresses", copy);
    }
}

static struct json_object *skeleton(struct lbp_provider_ctx *ctx, const struct az_slot *s)
{
    struct json_object *o = json_object_new_object(), *sku, *tags;
    json_object_object_add(o, "location", json_object_new_string(ctx->cfg.location));
    sku = json_object_new_object();
    json_object_object_add(sku, "name", json_object_new_string("Standard"));
    json_object_object_add(sku, "tier", json_object_new_string("Regional"));
    json_object_object_add(o, "sku", sku);
    tags = json_object_new_object();
    json_object_object_add(tags, AZ_TAG_CLUSTER, json_object_new_string(ctx->cluster));
    json_object_object_add(o, "tags", tags);
    for (const char *const *a = arrays(s); *a; a++)
        az_jarr(az_jobj(o, "properties"), *a);
    return o;
}

static size_t n_frontends(struct json_object *lb)
{
    struct json_object *f = lbp_json_at(lb, "properties.frontendIPConfigurations");
    return f ? json_object_array_length(f) : 0;
}

static const char *etag_of(struct json_object *o)
{
    struct json_object *e;
    return json_object_object_get_ex(o, "etag", &e) ? json_object_get_string(e) : NULL;
}

static int pending(struct az_slot *s, unsigned delay, struct lbp_call *call)
{
    if (call) {
        call->retry_after_s = delay ? delay : 1;
        lbp_failf(call, "%s %s: operation %s running",
                  s->kind == AZ_SLOT_LB ? "load balancer" : "security group", s->name,
                  s->op_delete ? "delete" : "update");
    }
    return LBP_PENDING;
}

static void forget(struct az_slot *s);

static void start_op(struct az_slot *s, const struct az_resp *r, bool del)
{
    forget(s);
    if (r->async_url[0])
        lbp_strlcpy(s->op_url, r->async_url, sizeof(s->op_url));
    else
        snprintf(s->op_url, sizeof(s->op_url), "L %.*s", (int)sizeof(s->op_url) - 3, r->location);
    s->op_delete = del;
    s->op_delay_s = r->retry_after_s ? r->retry_after_s : 1;
    s->op_next_ms = lbp_now_ms() + s->op_delay_s * 1000ull;
}

/*
 * Is this refusal one of Azure's count limits? Its documented codes end in
 * "LimitReached"; for the rest (rules per NIC ip configuration, per load
 * balancer) only the message's wording is known: "... cannot have more
 * than N ...".
 */
static bool limit_refusal(struct json_object *body, char *what, size_t cap)
{
    const char *code = json_object_get_string(lbp_json_at(body, "error.code"));
    const char *msg = json_object_get_string(lbp_json_at(body, "error.message"));
    size_t n = code ? strlen(code) : 0;
    bool limit = (n > 12 && strcmp(code + n - 12, "LimitReached") == 0) ||
                 (msg && strcasestr(msg, "cannot have more than"));
    if (limit)
        snprintf(what, cap, "%s: %s", code ? code : "-", msg ? msg : "-");
    return limit;
}

/* Puts taken parts back unless their owner registered a newer one meanwhile. */
static void put_back(struct az_slot *s, struct az_part *taken, size_t n, const char *only)
{
    pthread_mutex_lock(&s->plock);
    for (size_t i = 0; i < n; i++) {
        if ((!only || strcmp(taken[i].owner, only) == 0) && !has_part(s, taken[i].owner))
            upsert(s, taken[i].owner, taken[i].want);
        json_object_put(taken[i].want);
    }
    pthread_mutex_unlock(&s->plock);
    free(taken);
}

static void forget(struct az_slot *s);

/* Keeps obj (NULL: absent) as the object's last known state. */
static void remember(struct az_slot *s, struct json_object *obj)
{
    const char *state = NULL;
    lbp_json_get_str(obj, "properties.provisioningState", 32, &state, NULL, 0);
    if (state && strcmp(state, "Succeeded") != 0) {
        forget(s); /* on its way somewhere: read it again next time */
        return;
    }
    json_object_put(s->last);
    s->last = json_object_get(obj);
    s->last_ms = lbp_now_ms();
    json_object_put(s->good);
    s->good = json_object_get(obj);
    s->good_ms = s->last_ms;
}

/*
 * While another Service's write of the object runs, is the caller's part already in
 * the object as last seen Succeeded? Then the caller is done: it does not wait for
 * writes that carry others' parts. Without this, under steady churn a new write
 * starts as each one ends and every caller waits forever. Under mu.
 */
static bool done_before(struct az_slot *s, const struct az_part *part)
{
    if (!part || !s->good || lbp_now_ms() - s->good_ms > AZ_GOOD_MS || !covered(s, s->good, part))
        return false;
    for (size_t i = 0; i < s->n_op_owners; i++)
        if (strcmp(s->op_owners[i], part->owner) == 0)
            return false; /* the running write changes this part: wait for it */
    pthread_mutex_lock(&s->plock);
    drop_part(s, part->owner);
    pthread_mutex_unlock(&s->plock);
    return true;
}

static void forget(struct az_slot *s)
{
    json_object_put(s->last);
    s->last = NULL;
    s->last_ms = 0;
}

/* Polls the slot's operation: LBP_OK (none, or it ended), LBP_PENDING, or LBP_RETRY. */
static int poll_op(struct lbp_provider_ctx *ctx, struct az_slot *s, struct lbp_call *call)
{
    uint64_t now = lbp_now_ms();
    unsigned ra = 0;
    char err[LBP_ERRBUF_SIZE] = "";
    int rc;
    if (!s->op_url[0])
        return LBP_OK;
    if (now < s->op_next_ms)
        return pending(s, (unsigned)((s->op_next_ms - now + 999) / 1000), call);
    rc = az_op_poll(ctx, s->op_url, &ra, err, sizeof(err));
    if (rc == LBP_PENDING) {
        s->op_delay_s = ra ? ra : (s->op_delay_s * 2 > 30 ? 30 : s->op_delay_s * 2);
        if (!s->op_delay_s)
            s->op_delay_s = 1;
        s->op_next_ms = now + s->op_delay_s * 1000ull;
        return pending(s, s->op_delay_s, call);
    }
    if (rc == LBP_RETRY && !strstr(err, "operation ")) {
        lbp_failf(call, "%s: polling its operation: %s", s->name, err);
        return LBP_RETRY; /* could not ask: the operation stays */
    }
    if (rc != LBP_OK)
        lbp_warn("azure: %s %s: %s; reading it again", s->name, s->op_delete ? "delete" : "update",
                 err);
    s->op_url[0] = 0;
    return LBP_OK;
}

/* Did a PUT carry parts other than mine (NULL: the caller has none)? */
static bool others(const struct az_part *taken, size_t n, const char *mine)
{
    for (size_t i = 0; i < n; i++)
        if (!mine || strcmp(taken[i].owner, mine) != 0)
            return true;
    return false;
}

int az_slot_sync(struct lbp_provider_ctx *ctx, struct az_slot *s, const struct az_part *part,
                 struct json_object **out, struct lbp_call *call)
{
    const char *mine = part ? part->owner : NULL;
    struct json_object *pool_want = NULL;
    int rc = LBP_OK;
    *out = NULL;
    if (part) {
        pthread_mutex_lock(&s->plock);
        rc = upsert(s, part->owner, part->want);
        pthread_mutex_unlock(&s->plock);
        if (rc)
            return rc;
    }
    pthread_mutex_lock(&s->mu);
    for (int attempt = 0; attempt < AZ_SLOT_ATTEMPTS; attempt++) {
        struct az_resp r;
        struct json_object *cur = NULL, *next;
        struct az_part *taken = NULL;
        size_t n_taken = 0;
        bool need_pool;
        const char *state = NULL;
        char limit[LBP_ERRBUF_SIZE];

        if ((rc = poll_op(ctx, s, call))) {
            if (rc == LBP_PENDING && done_before(s, part)) {
                *out = json_object_get(s->good);
                rc = LBP_OK;
            }
            goto out;
        }
        if (attempt == 0 && s->last_ms && lbp_now_ms() - s->last_ms < AZ_CACHE_MS) {
            cur = json_object_get(s->last); /* NULL: known absent */
        } else {
            rc = az_arm(ctx, "GET", s->path, NULL, NULL, NULL,
                        s->kind == AZ_SLOT_LB ? "GetLoadBalancer" : "GetSecurityGroup", &r, call);
            if (rc == LBP_OK) {
                cur = r.json;
                r.json = NULL;
            }
            az_resp_free(&r);
            if (rc && rc != LBP_NOT_FOUND)
                goto out;
            remember(s, cur);
        }
        rc = LBP_OK;
        if (!cur && s->kind == AZ_SLOT_NSG) {
            lbp_failf(call, "security group %s (securityGroupName) not found in resource group %s",
                      s->name, ctx->cfg.nsg_rg);
            rc = LBP_INVALID;
            goto out;
        }
        lbp_json_get_str(cur, "properties.provisioningState", 32, &state, NULL, 0);
        if (state && (strcmp(state, "Updating") == 0 || strcmp(state, "Creating") == 0 ||
                      strcmp(state, "Deleting") == 0)) {
            /* An operation lbprov does not hold (it restarted, or someone else writes). */
            call->retry_after_s = 2;
            lbp_failf(call, "%s is %s", s->name, state);
            json_object_put(cur);
            rc = LBP_PENDING;
            goto out;
        }

        /* Which registered parts does the object not show yet? */
        pthread_mutex_lock(&s->plock);
        /* A PUT refused for another Service's part dropped ours: it goes again. */
        if (part && !has_part(s, part->owner) && !covered(s, cur, part) &&
            (rc = upsert(s, part->owner, part->want))) {
            pthread_mutex_unlock(&s->plock);
            json_object_put(cur);
            goto out;
        }
        for (size_t i = 0; i < s->n_parts;) {
            if (covered(s, cur, &s->parts[i]))
                drop_part(s, s->parts[i].owner); /* the last part moves to i */
            else
                i++;
        }
        /* The addresses as wanted now: a later az_pool_want is the next PUT's. */
        json_object_put(pool_want);
        pool_want = json_object_get(s->pool_want);
        need_pool = cur && n_frontends(cur) && !pool_ok(ctx, s, cur, pool_want);
        if (!s->n_parts && !need_pool) {
            pthread_mutex_unlock(&s->plock);
            *out = cur;
            rc = LBP_OK;
            goto out;
        }
        /* Take them all: this PUT carries every Service that is waiting. */
        taken = s->parts;
        n_taken = s->n_parts;
        s->parts = NULL;
        s->n_parts = s->cap_parts = 0;
        pthread_mutex_unlock(&s->plock);

        next = cur ? json_object_get(cur) : skeleton(ctx, s);
        for (size_t i = 0; i < n_taken && rc == LBP_OK; i++)
            rc = apply(s, next, &taken[i], call);
        if (rc) {
            json_object_put(next);
            json_object_put(cur);
            put_back(s, taken, n_taken, NULL);
            /* a part that cannot be applied is its owner's error, not the others' */
            goto out;
        }
        if (s->kind == AZ_SLOT_LB)
            apply_pool(ctx, next, pool_want);

        if (s->kind == AZ_SLOT_LB && !n_frontends(next)) {
            /* The last frontend went: the load balancer goes too. */
            for (size_t i = 0; i < n_taken; i++)
                json_object_put(taken[i].want);
            free(taken);
            json_object_put(next);
            if (!cur) {
                rc = LBP_OK;
                goto out;
            }
            if (ctx->cfg.pool == AZ_POOL_NIC && (rc = az_nic_release(ctx, s, cur, call))) {
                json_object_put(cur);
                goto out;
            }
            rc = az_arm(ctx, "DELETE", s->path, NULL, etag_of(cur), NULL, "DeleteLoadBalancer", &r,
                        call);
            json_object_put(cur);
            s->deletes++;
            forget(s);
            json_object_put(s->good); /* the object is going: nothing of it stands */
            s->good = NULL;
            s->n_op_owners = 0;
            if (rc == LBP_CONFLICT) {
                az_resp_free(&r);
                continue;
            }
            if (rc == LBP_OK && r.status == 202 && (r.async_url[0] || r.location[0])) {
                start_op(s, &r, true);
                az_resp_free(&r);
                rc = pending(s, s->op_delay_s, call);
                goto out;
            }
            az_resp_free(&r);
            s->nodes_applied[0] = 0;
            if (rc == LBP_NOT_FOUND)
                rc = LBP_OK;
            goto out;
        }

        rc = az_arm(ctx, "PUT", s->path, next, cur ? etag_of(cur) : NULL, cur ? NULL : "*",
                    s->kind == AZ_SLOT_LB ? "PutLoadBalancer" : "PutSecurityGroup", &r, call);
        s->puts++;
        json_object_put(next);
        json_object_put(cur);
        lbp_v(2, "azure: PUT %s with %zu Service part(s): %s", s->name, n_taken, lbp_rc_str(rc));
        forget(s);
        if (rc == LBP_CONFLICT) {
            /* 412: another writer was first. Read it again and re-apply. */
            az_resp_free(&r);
            put_back(s, taken, n_taken, NULL);
            continue;
        }
        if (rc == LBP_INVALID && others(taken, n_taken, mine)) {
            /* Whose part is wrong? Try again with the caller's alone. */
            az_resp_free(&r);
            lbp_v(1, "azure: PUT %s with %zu parts refused (%s); retrying part by part", s->name,
                  n_taken, call->err);
            put_back(s, taken, n_taken, mine ? mine : "");
            continue;
        }
        if (rc == LBP_INVALID && limit_refusal(r.json, limit, sizeof(limit))) {
            lbp_failf(call,
                      "%s %s (one per cluster, shared by its Services) is at an Azure limit: %s "
                      "The Service waits for room: retried with backoff, and at once when another "
                      "Service's load balancer is deleted",
                      s->kind == AZ_SLOT_LB ? "load balancer" : "security group", s->name, limit);
            lbp_warn("azure: %s: PUT refused at an Azure limit: %s", s->name, limit);
            call->event_reason = "SyncLoadBalancerFailed";
            call->retry_after_s = 0; /* the reconciler's backoff */
            rc = LBP_RETRY;
            az_resp_free(&r);
            put_back(s, taken, n_taken, ""); /* not kept: the others' PUTs go on without it */
            goto out;
        }
        if (rc) {
            az_resp_free(&r);
            /* Throttled or failed: the others try again on their next call. */
            put_back(s, taken, n_taken, rc == LBP_INVALID ? "" : NULL);
            goto out;
        }
        free(s->op_owners);
        s->n_op_owners = 0;
        if ((s->op_owners = calloc(n_taken ? n_taken : 1, sizeof(*s->op_owners)))) {
            s->n_op_owners = n_taken;
        } else {
            json_object_put(s->good); /* cannot tell whose parts run: nobody skips the wait */
            s->good = NULL;
        }
        for (size_t i = 0; i < n_taken; i++) {
            if (s->op_owners)
                lbp_strlcpy(s->op_owners[i], taken[i].owner, sizeof(s->op_owners[i]));
            json_object_put(taken[i].want);
        }
        free(taken);
        state = NULL;
        lbp_json_get_str(r.json, "properties.provisioningState", 32, &state, NULL, 0);
        if ((r.async_url[0] || r.location[0]) && !(state && strcmp(state, "Succeeded") == 0)) {
            start_op(s, &r, false);
            az_resp_free(&r);
            rc = pending(s, s->op_delay_s, call);
            goto out;
        }
        remember(s, r.json);
        *out = r.json;
        r.json = NULL;
        az_resp_free(&r);
        rc = LBP_OK;
        goto out;
    }
    lbp_failf(call, "%s: changed by another writer %d times in a row; trying again later", s->name,
              AZ_SLOT_ATTEMPTS);
    call->retry_after_s = 2;
    rc = LBP_RETRY;
out:
    pthread_mutex_unlock(&s->mu);
    json_object_put(pool_want);
    return rc;
}
