/*
 * store.c — the object store: resource types, objects keyed "ns/name" in one
 * uthash table per type, the global resourceVersion counter, and the verbs
 * (GET, LIST with paging, POST, PUT, PATCH, DELETE) with the real server's
 * semantics that clients depend on: optimistic concurrency, status
 * subresource isolation, no resourceVersion bump for a write that changes
 * nothing, finalizer-gated deletion, namespace existence, generation.
 *
 * Everything here runs under fake_lock. Stored json objects are never
 * modified: a write builds a new object and swaps it in, and the old one
 * lives on as long as the watch history references it.
 */
#include "fake.h"
#include "common/util.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t fake_cond;

static struct fake_rtype *rtypes;
static struct fake_rtype *rt_namespaces;
static struct fake_rtype *rt_services;
static uint64_t cur_rv = 1;
static unsigned custom_types;
#define CUSTOM_TYPES_MAX 256

#define SNAP_MAX 32
#define LIST_MAX_BYTES (1024u * 1024u * 1024u)

/* A LIST result held for paging: later pages are served from it (a consistent snapshot). */
struct snap {
    uint64_t id;
    uint64_t rv;
    size_t n, pos;
    struct fake_rec **recs;
    UT_hash_handle hh;
};
static struct snap *snaps;
static uint64_t snap_next_id = 1;

struct builtin {
    const char *group, *version, *resource, *kind, *short_name;
    bool namespaced, has_status;
    enum fake_name_rule rule;
    bool delete_returns_object; /* upstream's ReturnDeletedObject */
};
static const struct builtin builtins[] = {
    {"", "v1", "namespaces", "Namespace", "ns", false, true, NAME_DNS1123_LABEL, true},
    {"", "v1", "nodes", "Node", "no", false, true, NAME_SUBDOMAIN, false},
    {"", "v1", "services", "Service", "svc", true, true, NAME_DNS1035, true},
    {"", "v1", "configmaps", "ConfigMap", "cm", true, false, NAME_SUBDOMAIN, false},
    {"", "v1", "secrets", "Secret", "", true, false, NAME_SUBDOMAIN, false},
    {"", "v1", "events", "Event", "ev", true, false, NAME_SUBDOMAIN, false},
    {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "", true, false, NAME_SUBDOMAIN,
     false},
    {"coordination.k8s.io", "v1", "leases", "Lease", "", true, false, NAME_SUBDOMAIN, false},
    {"events.k8s.io", "v1", "events", "Event", "ev", true, false, NAME_SUBDOMAIN, false},
    {"", "v1", "serviceaccounts", "ServiceAccount", "sa", true, false, NAME_SUBDOMAIN, false},
    /* RBAC objects are plain stored objects; rbac.c reads them per request. */
    {"rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "", false, false,
     NAME_SUBDOMAIN, false},
    {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", "", false,
     false, NAME_SUBDOMAIN, false},
    {"rbac.authorization.k8s.io", "v1", "roles", "Role", "", true, false, NAME_SUBDOMAIN, false},
    {"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "", true, false,
     NAME_SUBDOMAIN, false},
    /* So the deploy manifests can be applied (kubectl apply -k) against the fake. */
    {"apps", "v1", "deployments", "Deployment", "deploy", true, true, NAME_SUBDOMAIN, false},
    {"apps", "v1", "daemonsets", "DaemonSet", "ds", true, true, NAME_SUBDOMAIN, false},
};

/* ---- records ----------------------------------------------------------- */

struct fake_rec *fake_rec_new(json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = strlen(s);
    struct fake_rec *r = malloc(sizeof(*r) + n + 1);
    if (!r)
        return NULL;
    r->refs = 1;
    r->len = n;
    memcpy(r->json, s, n + 1);
    return r;
}

void fake_rec_ref(struct fake_rec *r)
{
    if (r)
        r->refs++;
}

void fake_rec_unref(struct fake_rec *r)
{
    if (r && --r->refs == 0)
        free(r);
}

static void reply_rec(struct fake_reply *r, int code, const struct fake_rec *rec)
{
    r->code = code;
    r->body = malloc(rec->len + 1);
    if (!r->body) {
        r->code = 500;
        return;
    }
    memcpy(r->body, rec->json, rec->len + 1);
    r->len = rec->len;
}

/* ---- resource types ---------------------------------------------------- */

static struct fake_rtype *rtype_add(const char *group, const char *version, const char *resource,
                                    const char *kind, const char *short_name, bool namespaced,
                                    bool has_status, enum fake_name_rule rule, bool custom)
{
    struct fake_rtype *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return NULL;
    snprintf(rt->key, sizeof(rt->key), "%s/%s", group, resource);
    lbp_strlcpy(rt->group, group, sizeof(rt->group));
    lbp_strlcpy(rt->version, version, sizeof(rt->version));
    lbp_strlcpy(rt->resource, resource, sizeof(rt->resource));
    lbp_strlcpy(rt->kind, kind, sizeof(rt->kind));
    lbp_strlcpy(rt->short_name, short_name, sizeof(rt->short_name));
    rt->namespaced = namespaced;
    rt->has_status = has_status;
    rt->name_rule = rule;
    rt->custom = custom;
    rt->delete_returns_object = custom;
    HASH_ADD_STR(rtypes, key, rt);
    return rt;
}

struct fake_rtype *fake_rtype_lookup(const char *group, const char *version, const char *resource,
                                     bool create)
{
    char key[200];
    struct fake_rtype *rt;
    snprintf(key, sizeof(key), "%s/%s", group, resource);
    HASH_FIND_STR(rtypes, key, rt);
    if (rt)
        return strcmp(rt->version, version) == 0 ? rt : NULL;
    if (!create || !group[0])
        return NULL;
    for (size_t i = 0; i < LBP_ARRAY_LEN(builtins); i++)
        if (strcmp(builtins[i].group, group) == 0)
            return NULL; /* a built-in group has only its built-in resources */
    if (custom_types >= CUSTOM_TYPES_MAX)
        return NULL; /* bounded: arbitrary paths must not grow the table forever */
    custom_types++;
    /* A custom resource: Kind guessed from the plural until a POST names it. */
    char kind[64];
    lbp_strlcpy(kind, resource, sizeof(kind));
    size_t n = strlen(kind);
    if (n > 1 && kind[n - 1] == 's')
        kind[n - 1] = '\0';
    kind[0] = (char)(kind[0] >= 'a' && kind[0] <= 'z' ? kind[0] - 32 : kind[0]);
    return rtype_add(group, version, resource, kind, "", true, true, NAME_SUBDOMAIN, true);
}

struct fake_rtype *fake_rtype_register(const char *group, const char *version, const char *resource,
                                       const char *kind, bool namespaced)
{
    struct fake_rtype *rt = fake_rtype_lookup(group, version, resource, true);
    if (rt && rt->custom) {
        lbp_strlcpy(rt->kind, kind, sizeof(rt->kind));
        rt->namespaced = namespaced;
    }
    return rt;
}

struct fake_rtype *fake_rtype_iter(struct fake_rtype *prev)
{
    return prev ? prev->hh.next : rtypes;
}

uint64_t fake_store_rv(void)
{
    return cur_rv;
}

/* ---- objects ----------------------------------------------------------- */

static void obj_key(const struct fake_rtype *rt, const char *ns, const char *name, char *out,
                    size_t len)
{
    if (rt->namespaced)
        snprintf(out, len, "%s/%s", ns, name);
    else
        snprintf(out, len, "%s", name);
}

static struct fake_obj *obj_find(struct fake_rtype *rt, const char *ns, const char *name)
{
    char key[2 * FAKE_NAME_MAX + 2];
    struct fake_obj *o;
    obj_key(rt, ns, name, key, sizeof(key));
    HASH_FIND_STR(rt->objs, key, o);
    return o;
}

/* Stores o (taking it) under key, replacing any current version. */
static struct fake_obj *obj_put(struct fake_rtype *rt, const char *key, json_object *o)
{
    struct fake_rec *rec = fake_rec_new(o);
    struct fake_obj *obj;
    if (!rec) {
        json_object_put(o);
        return NULL;
    }
    HASH_FIND_STR(rt->objs, key, obj);
    if (obj) {
        json_object_put(obj->o);
        fake_rec_unref(obj->rec);
    } else {
        obj = calloc(1, sizeof(*obj));
        if (!obj || !(obj->key = strdup(key))) {
            free(obj);
            json_object_put(o);
            fake_rec_unref(rec);
            return NULL;
        }
        HASH_ADD_KEYPTR(hh, rt->objs, obj->key, strlen(obj->key), obj);
        rt->count++;
    }
    obj->o = o;
    obj->rec = rec;
    return obj;
}

static void obj_remove(struct fake_rtype *rt, struct fake_obj *obj)
{
    HASH_DEL(rt->objs, obj);
    rt->count--;
    json_object_put(obj->o);
    fake_rec_unref(obj->rec);
    free(obj->key);
    free(obj);
}

static void set_rv(json_object *o, uint64_t rv)
{
    char s[24];
    snprintf(s, sizeof(s), "%llu", (unsigned long long)rv);
    json_object_object_add(fake_ensure_obj(o, "metadata"), "resourceVersion",
                           json_object_new_string(s));
}

/*
 * Returns o with kind and apiVersion set and first, as the real server
 * writes them (json-c keeps insertion order). Takes o.
 */
static json_object *with_type_meta(const struct fake_rtype *rt, json_object *o)
{
    char av[160];
    json_object *n = json_object_new_object();
    if (rt->group[0])
        snprintf(av, sizeof(av), "%s/%s", rt->group, rt->version);
    else
        snprintf(av, sizeof(av), "%s", rt->version);
    json_object_object_add(n, "kind", json_object_new_string(rt->kind));
    json_object_object_add(n, "apiVersion", json_object_new_string(av));
    json_object_object_foreach(o, k, v)
    {
        if (strcmp(k, "kind") != 0 && strcmp(k, "apiVersion") != 0)
            json_object_object_add(n, k, json_object_get(v));
    }
    json_object_put(o);
    return n;
}

static void api_version(const struct fake_rtype *rt, char *out, size_t len)
{
    if (rt->group[0])
        snprintf(out, len, "%s/%s", rt->group, rt->version);
    else
        snprintf(out, len, "%s", rt->version);
}

/* Creates a namespace at start-up (no HTTP round trip). */
static void seed_namespace(const char *name)
{
    char ts[32], uid[37];
    json_object *o = with_type_meta(rt_namespaces, json_object_new_object());
    json_object *m = fake_ensure_obj(o, "metadata");
    fake_uuid(uid);
    fake_now_rfc3339(ts);
    json_object_object_add(m, "name", json_object_new_string(name));
    json_object_object_add(m, "uid", json_object_new_string(uid));
    json_object_object_add(m, "creationTimestamp", json_object_new_string(ts));
    json_object *lab = fake_ensure_obj(m, "labels");
    json_object_object_add(lab, "kubernetes.io/metadata.name", json_object_new_string(name));
    json_object *spec = fake_ensure_obj(o, "spec");
    json_object *fin = json_object_new_array();
    json_object_array_add(fin, json_object_new_string("kubernetes"));
    json_object_object_add(spec, "finalizers", fin);
    json_object_object_add(fake_ensure_obj(o, "status"), "phase", json_object_new_string("Active"));
    set_rv(o, ++cur_rv);
    obj_put(rt_namespaces, name, o);
}

int fake_store_init(void)
{
    lbp_cond_init_monotonic(&fake_cond);
    for (size_t i = 0; i < LBP_ARRAY_LEN(builtins); i++) {
        const struct builtin *b = &builtins[i];
        struct fake_rtype *rt = rtype_add(b->group, b->version, b->resource, b->kind, b->short_name,
                                          b->namespaced, b->has_status, b->rule, false);
        if (!rt)
            return -1;
        rt->delete_returns_object = b->delete_returns_object;
    }
    rt_namespaces = fake_rtype_lookup("", "v1", "namespaces", false);
    rt_services = fake_rtype_lookup("", "v1", "services", false);
    seed_namespace("default");
    seed_namespace("kube-system");
    seed_namespace("kube-public");
    seed_namespace("kube-node-lease");
    return 0;
}

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        fake_rec_unref(s->recs[i]);
    free(s->recs);
    free(s);
}

void fake_store_free(void)
{
    struct fake_rtype *rt, *rtmp;
    struct fake_obj *o, *otmp;
    struct snap *s, *stmp;
    HASH_ITER(hh, snaps, s, stmp)
    {
        HASH_DEL(snaps, s);
        snap_free(s);
    }
    HASH_ITER(hh, rtypes, rt, rtmp)
    {
        HASH_ITER(hh, rt->objs, o, otmp)
        {
            if (rt == rt_services)
                fake_svc_release(o->o, o->key);
            obj_remove(rt, o);
        }
        HASH_DEL(rtypes, rt);
        free(rt);
    }
    pthread_cond_destroy(&fake_cond);
}

/* ---- GET ----------------------------------------------------------------- */

void fake_store_get(const struct fake_req *q, struct fake_reply *r)
{
    pthread_mutex_lock(&fake_lock);
    struct fake_obj *o = obj_find(q->rt, q->ns, q->name);
    if (o && q->table)
        fake_table_reply(q->rt, r, cur_rv, &o->rec, 0, 1, NULL, 0);
    else if (o)
        reply_rec(r, 200, o->rec);
    else
        fake_reply_not_found(r, q->rt, q->name);
    pthread_mutex_unlock(&fake_lock);
}

/* ---- LIST ---------------------------------------------------------------- */

static int cmp_obj(const void *a, const void *b)
{
    const struct fake_obj *x = *(struct fake_obj *const *)a, *y = *(struct fake_obj *const *)b;
    return strcmp(x->key, y->key);
}

/* Continue tokens look like the real ones (base64 JSON) but name a snapshot. */
static void make_token(uint64_t id, size_t pos, uint64_t rv, char *out, size_t len)
{
    char js[128];
    unsigned char b64[200];
    int n =
        snprintf(js, sizeof(js), "{\"v\":\"meta.k8s.io/v1\",\"rv\":%llu,\"snap\":%llu,\"pos\":%zu}",
                 (unsigned long long)rv, (unsigned long long)id, pos);
    int m = EVP_EncodeBlock(b64, (const unsigned char *)js, n);
    for (int i = 0; i < m; i++)
        b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    while (m > 0 && b64[m - 1] == '=')
        m--;
    b64[m] = '\0';
    lbp_strlcpy(out, (const char *)b64, len);
}

static int parse_token(const char *tok, uint64_t *id, size_t *pos)
{
    char in[256];
    unsigned char out[256];
    size_t n = strlen(tok);
    if (n == 0 || n + 4 >= sizeof(in))
        return -1;
    for (size_t i = 0; i < n; i++)
        in[i] = tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
    while (n % 4)
        in[n++] = '=';
    in[n] = '\0';
    int m = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (m <= 0)
        return -1;
    out[m] = '\0';
    json_object *j = json_tokener_parse((const char *)out);
    json_object *s = j ? json_object_object_get(j, "snap") : NULL;
    json_object *p = j ? json_object_object_get(j, "pos") : NULL;
    int rc = -1;
    if (s && p && json_object_is_type(s, json_type_int) && json_object_is_type(p, json_type_int) &&
        json_object_get_int64(s) > 0 && json_object_get_int64(p) >= 0) {
        *id = (uint64_t)json_object_get_int64(s);
        *pos = (size_t)json_object_get_int64(p);
        rc = 0;
    }
    json_object_put(j);
    return rc;
}

static void snap_evict_oldest(void)
{
    if (HASH_COUNT(snaps) < SNAP_MAX)
        return;
    struct snap *s = snaps; /* insertion order: the first is the oldest */
    HASH_DEL(snaps, s);
    snap_free(s);
}

/* Writes a page of recs[from..to) and the list envelope. */
static void list_reply(const struct fake_rtype *rt, struct fake_reply *r, uint64_t rv,
                       struct fake_rec **recs, size_t from, size_t to, const char *cont,
                       size_t remaining, bool table)
{
    struct lbp_buf b;
    if (table) {
        fake_table_reply(rt, r, rv, recs, from, to, cont, remaining);
        return;
    }
    char av[160];
    api_version(rt, av, sizeof(av));
    lbp_buf_init(&b, LIST_MAX_BYTES);
    lbp_buf_addf(
        &b, "{\"kind\":\"%sList\",\"apiVersion\":\"%s\",\"metadata\":{\"resourceVersion\":\"%llu\"",
        rt->kind, av, (unsigned long long)rv);
    if (cont && *cont)
        lbp_buf_addf(&b, ",\"continue\":\"%s\",\"remainingItemCount\":%zu", cont, remaining);
    lbp_buf_adds(&b, "},\"items\":[");
    for (size_t i = from; i < to; i++) {
        if (i > from)
            lbp_buf_adds(&b, ",");
        lbp_buf_add(&b, recs[i]->json, recs[i]->len);
    }
    int rc = lbp_buf_adds(&b, "]}");
    if (rc) {
        lbp_buf_free(&b);
        fake_reply_status(r, 500, "InternalError", "list too large", NULL, NULL, NULL);
        return;
    }
    r->code = 200;
    r->body = lbp_buf_take(&b, &r->len);
}

static const char expired_msg[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.";

static void list_continue(const struct fake_req *q, struct fake_reply *r)
{
    uint64_t id;
    size_t pos;
    struct snap *s;
    char msg[300], tok[256];
    if (parse_token(q->cont, &id, &pos)) {
        snprintf(msg, sizeof(msg),
                 "continue key is not valid: incorrect encoded start "
                 "resourceVersion (version meta.k8s.io/v1)");
        fake_reply_status(r, 400, "BadRequest", msg, NULL, NULL, NULL);
        return;
    }
    pthread_mutex_lock(&fake_lock);
    HASH_FIND(hh, snaps, &id, sizeof(id), s);
    if (!s || pos != s->pos) {
        fake_reply_status(r, 410, "Expired", expired_msg, NULL, NULL, NULL);
        goto out;
    }
    size_t limit = q->limit > 0 ? (size_t)q->limit : s->n;
    size_t to = s->pos + limit < s->n ? s->pos + limit : s->n;
    tok[0] = '\0';
    if (to < s->n)
        make_token(s->id, to, s->rv, tok, sizeof(tok));
    list_reply(q->rt, r, s->rv, s->recs, s->pos, to, tok, s->n - to, q->table);
    s->pos = to;
    if (to >= s->n) {
        HASH_DEL(snaps, s);
        snap_free(s);
    }
out:
    pthread_mutex_unlock(&fake_lock);
}

void fake_store_list(const struct fake_req *q, struct fake_reply *r)
{
    struct fake_sel *ls = NULL, *fs = NULL;
    struct fake_obj **arr = NULL;
    struct fake_rec **recs = NULL;
    char err[600];
    if (q->cont && *q->cont) {
        list_continue(q, r);
        return;
    }
    if (fake_sel_parse(q->label_selector, false, &ls, err, sizeof(err)) ||
        fake_sel_parse(q->field_selector, true, &fs, err, sizeof(err))) {
        fake_reply_status(r, 400, "BadRequest", err, NULL, NULL, NULL);
        goto done;
    }
    pthread_mutex_lock(&fake_lock);
    struct fake_rtype *rt = q->rt;
    size_t n = 0;
    arr = malloc((rt->count + 1) * sizeof(*arr));
    if (!arr) {
        pthread_mutex_unlock(&fake_lock);
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        goto done;
    }
    for (struct fake_obj *o = rt->objs; o; o = o->hh.next) {
        if (q->has_ns && rt->namespaced &&
            !lbp_streq(fake_get_str(o->o, "metadata.namespace"), q->ns))
            continue;
        if (!fake_sel_match(fs, o->o) || !fake_sel_match(ls, o->o))
            continue;
        arr[n++] = o;
    }
    qsort(arr, n, sizeof(*arr), cmp_obj);
    recs = malloc((n + 1) * sizeof(*recs));
    if (!recs) {
        pthread_mutex_unlock(&fake_lock);
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        recs[i] = arr[i]->rec;
    if (q->limit > 0 && (size_t)q->limit < n) {
        struct snap *s = calloc(1, sizeof(*s));
        char tok[256];
        if (!s) {
            pthread_mutex_unlock(&fake_lock);
            fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
            goto done;
        }
        snap_evict_oldest();
        s->id = snap_next_id++;
        s->rv = cur_rv;
        s->n = n;
        s->pos = (size_t)q->limit;
        s->recs = recs;
        for (size_t i = 0; i < n; i++)
            fake_rec_ref(recs[i]);
        recs = NULL;
        HASH_ADD(hh, snaps, id, sizeof(s->id), s);
        make_token(s->id, s->pos, s->rv, tok, sizeof(tok));
        list_reply(rt, r, s->rv, s->recs, 0, s->pos, tok, n - s->pos, q->table);
    } else {
        list_reply(rt, r, cur_rv, recs, 0, n, NULL, 0, q->table);
    }
    pthread_mutex_unlock(&fake_lock);
done:
    free(arr);
    free(recs);
    fake_sel_free(ls);
    fake_sel_free(fs);
}

/* ---- writes -------------------------------------------------------------- */

static json_object *parse_body(const struct fake_req *q, struct fake_reply *r)
{
    enum json_tokener_error jerr = json_tokener_success;
    json_object *o = NULL;
    if (q->body_len > 0) {
        struct json_tokener *tok = json_tokener_new();
        if (tok) {
            o = json_tokener_parse_ex(tok, q->body, (int)q->body_len);
            jerr = json_tokener_get_error(tok);
            json_tokener_free(tok);
        }
    }
    if (!o || jerr != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        fake_reply_status(r, 400, "BadRequest",
                          "the object provided is unrecognized (must be of type JSON object)", NULL,
                          NULL, NULL);
        return NULL;
    }
    return o;
}

static bool ns_exists(const char *ns)
{
    struct fake_obj *o;
    HASH_FIND_STR(rt_namespaces->objs, ns, o);
    return o != NULL;
}

static void random_suffix(char *out, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    uint64_t v = fake_random();
    for (size_t i = 0; i < n; i++) {
        out[i] = alphabet[v % (sizeof(alphabet) - 1)];
        v /= sizeof(alphabet) - 1;
    }
    out[n] = '\0';
}

static bool has_finalizers(json_object *o)
{
    json_object *f = fake_get(o, "metadata.finalizers");
    return f && json_object_is_type(f, json_type_array) && json_object_array_length(f) > 0;
}

/* Whether nw lists a finalizer cur does not have. */
static bool adds_finalizer(json_object *cur, json_object *nw)
{
    json_object *a = fake_get(cur, "metadata.finalizers"), *b = fake_get(nw, "metadata.finalizers");
    if (!b || !json_object_is_type(b, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(b); i++) {
        bool found = false;
        json_object *f = json_object_array_get_idx(b, i);
        for (size_t j = 0; a && json_object_is_type(a, json_type_array) &&
                           j < json_object_array_length(a) && !found;
             j++)
            found = json_object_equal(f, json_object_array_get_idx(a, j));
        if (!found)
            return true;
    }
    return false;
}

static bool field_equal(json_object *a, json_object *b, const char *key)
{
    json_object *x = json_object_object_get(a, key), *y = json_object_object_get(b, key);
    return (!x && !y) || (x && y && json_object_equal(x, y));
}

static void copy_field(json_object *dst, json_object *src, const char *key)
{
    json_object *v = json_object_object_get(src, key);
    if (v)
        json_object_object_add(dst, key, json_object_get(v));
    else
        json_object_object_del(dst, key);
}

/*
 * ObjectMeta validation every kind gets from the real server: the
 * annotations' keys and values together may hold at most 256 KiB
 * (apimachinery's TotalAnnotationSizeLimitB), on create, update, patch and
 * status writes alike.
 */
#define ANNOTATIONS_MAX (256 * 1024)

static void check_annotations(json_object *meta, struct fake_errs *e)
{
    json_object *a = json_object_object_get(meta, "annotations");
    size_t total = 0;
    if (!a || !json_object_is_type(a, json_type_object))
        return;
    json_object_object_foreach(a, k, v)
    {
        total += strlen(k);
        if (json_object_is_type(v, json_type_string))
            total += (size_t)json_object_get_string_len(v);
    }
    if (total > ANNOTATIONS_MAX)
        fake_errs_add(e, "FieldValueTooLong", "metadata.annotations",
                      "Too long: must have at most %d bytes", ANNOTATIONS_MAX);
}

/*
 * cur's object becomes nw (taken over), announced as MODIFIED with the old
 * one as prev, and replied 200 (500 when it cannot be stored).
 */
static void put_modified(struct fake_rtype *rt, struct fake_obj *cur, json_object *nw,
                         struct fake_reply *r)
{
    json_object *prev = json_object_get(cur->o);
    struct fake_rec *prev_rec = cur->rec;
    char key[2 * FAKE_NAME_MAX + 2];
    struct fake_obj *stored;
    fake_rec_ref(prev_rec);
    lbp_strlcpy(key, cur->key, sizeof(key));
    stored = obj_put(rt, key, nw);
    if (stored) {
        fake_watch_emit(rt, EV_MODIFIED, stored->o, stored->rec, prev, prev_rec);
        reply_rec(r, 200, stored->rec);
    } else {
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
    }
    json_object_put(prev);
    fake_rec_unref(prev_rec);
}

/* The body names another namespace than the URL: replied 400, as the API server does. */
static bool ns_differs(const struct fake_req *q, json_object *meta, struct fake_reply *r)
{
    const char *ns = fake_get_str(meta, "namespace");
    if (!q->rt->namespaced || !ns || !*ns || strcmp(ns, q->ns) == 0)
        return false;
    fake_reply_status(r, 400, "BadRequest",
                      "the namespace of the provided object does not match the namespace "
                      "sent on the request",
                      NULL, NULL, NULL);
    return true;
}

void fake_store_create(const struct fake_req *q, struct fake_reply *r)
{
    struct fake_rtype *rt = q->rt;
    struct fake_errs errs;
    char key[2 * FAKE_NAME_MAX + 2], msg[700], ts[32], uid[37], name[FAKE_NAME_MAX];
    json_object *o = parse_body(q, r);
    if (!o)
        return;
    fake_errs_init(&errs);
    json_object *meta = fake_ensure_obj(o, "metadata");
    if (ns_differs(q, meta, r))
        goto out;
    const char *nm = fake_get_str(meta, "name"), *gen = fake_get_str(meta, "generateName");
    if (nm && strlen(nm) > 253) {
        fake_errs_add(&errs, "FieldValueTooLong", "metadata.name",
                      "Too long: may not be more than 253 bytes");
        fake_reply_invalid(r, rt, "", &errs);
        goto out;
    } else if (nm && *nm) {
        lbp_strlcpy(name, nm, sizeof(name));
    } else if (gen && *gen && strlen(gen) < 58) {
        char sfx[8];
        random_suffix(sfx, 5);
        snprintf(name, sizeof(name), "%s%s", gen, sfx);
    } else {
        fake_errs_add(&errs, "FieldValueRequired", "metadata.name",
                      "Required value: name or generateName is required");
        fake_reply_invalid(r, rt, "", &errs);
        goto out;
    }
    if (strlen(name) >= FAKE_NAME_MAX - 1)
        name[FAKE_NAME_MAX - 2] = '\0';
    json_object_object_add(meta, "name", json_object_new_string(name));
    const char *rv = fake_get_str(meta, "resourceVersion");
    if (rv && *rv) {
        fake_reply_status(r, 500, "InternalError",
                          "Internal error occurred: resourceVersion should not be set on objects "
                          "to be created",
                          NULL, NULL, NULL);
        goto out;
    }
    pthread_mutex_lock(&fake_lock);
    if (rt->custom) {
        const char *kind = fake_get_str(o, "kind");
        if (kind && *kind && strlen(kind) < sizeof(rt->kind))
            lbp_strlcpy(rt->kind, kind, sizeof(rt->kind));
    }
    if (rt->namespaced) {
        json_object_object_add(meta, "namespace", json_object_new_string(q->ns));
        if (!ns_exists(q->ns)) {
            snprintf(msg, sizeof(msg), "namespaces \"%s\" not found", q->ns);
            fake_reply_status(r, 404, "NotFound", msg, q->ns, NULL, "namespaces");
            goto unlock;
        }
    } else {
        json_object_object_del(meta, "namespace");
    }
    fake_name_valid(rt->name_rule, name, &errs, "metadata.name");
    check_annotations(meta, &errs);
    o = with_type_meta(rt, o);
    meta = fake_ensure_obj(o, "metadata");
    obj_key(rt, q->ns, name, key, sizeof(key));
    if (rt == rt_services) {
        json_object *st = json_object_new_object();
        json_object_object_add(st, "loadBalancer", json_object_new_object());
        json_object_object_add(o, "status", st);
        if (!errs.n)
            fake_svc_admit(o, NULL, key, &errs);
    } else if (rt == rt_namespaces) {
        json_object *spec = fake_ensure_obj(o, "spec");
        json_object *fin = json_object_new_array();
        json_object_array_add(fin, json_object_new_string("kubernetes"));
        json_object_object_add(spec, "finalizers", fin);
        json_object_object_add(fake_ensure_obj(o, "status"), "phase",
                               json_object_new_string("Active"));
        json_object_object_add(fake_ensure_obj(meta, "labels"), "kubernetes.io/metadata.name",
                               json_object_new_string(name));
    }
    if (errs.n) {
        fake_reply_invalid(r, rt, name, &errs);
        goto unlock;
    }
    struct fake_obj *existing;
    HASH_FIND_STR(rt->objs, key, existing);
    if (existing) {
        char q2[200];
        if (rt->group[0])
            snprintf(q2, sizeof(q2), "%s.%s", rt->resource, rt->group);
        else
            snprintf(q2, sizeof(q2), "%s", rt->resource);
        snprintf(msg, sizeof(msg), "%s \"%s\" already exists", q2, name);
        fake_reply_status(r, 409, "AlreadyExists", msg, name, rt->group, rt->resource);
        goto unlock;
    }
    if (rt == rt_services)
        fake_svc_commit(o, NULL, key);
    fake_uuid(uid);
    fake_now_rfc3339(ts);
    json_object_object_add(meta, "uid", json_object_new_string(uid));
    json_object_object_add(meta, "creationTimestamp", json_object_new_string(ts));
    json_object_object_add(meta, "generation", json_object_new_int64(1));
    json_object_object_del(meta, "deletionTimestamp");
    json_object_object_del(meta, "deletionGracePeriodSeconds");
    json_object_object_del(meta, "selfLink");
    fake_managed_update(q, NULL, o);
    set_rv(o, ++cur_rv);
    struct fake_obj *stored = obj_put(rt, key, o);
    o = NULL;
    if (!stored) {
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        goto unlock;
    }
    fake_watch_emit(rt, EV_ADDED, stored->o, stored->rec, NULL, NULL);
    reply_rec(r, 201, stored->rec);
unlock:
    pthread_mutex_unlock(&fake_lock);
out:
    json_object_put(o);
    fake_errs_free(&errs);
}

/*
 * The shared tail of PUT and PATCH: nw (owned) is the whole object the
 * client wants; cur is what is stored. Applies the precondition, the
 * subresource rules and defaulting, and stores it unless nothing changed.
 */
static void commit_update(const struct fake_req *q, struct fake_obj *cur, json_object *nw,
                          struct fake_reply *r)
{
    struct fake_rtype *rt = q->rt;
    struct fake_errs errs;
    bool status_write = strcmp(q->sub, "status") == 0;
    char msg[700];
    fake_errs_init(&errs);
    json_object *meta = fake_ensure_obj(nw, "metadata");
    const char *cur_rv_s = fake_get_str(cur->o, "metadata.resourceVersion");
    const char *rv = fake_get_str(meta, "resourceVersion");
    if (rv && *rv && !lbp_streq(rv, cur_rv_s)) {
        fake_reply_conflict(r, rt, q->name);
        goto out;
    }
    const char *nm = fake_get_str(meta, "name");
    if (nm && *nm && strcmp(nm, q->name) != 0) {
        snprintf(msg, sizeof(msg),
                 "the name of the object (%s) does not match the name on the URL (%s)", nm,
                 q->name);
        fake_reply_status(r, 400, "BadRequest", msg, NULL, NULL, NULL);
        goto out;
    }
    if (ns_differs(q, meta, r))
        goto out;
    if (status_write) {
        /* A status write takes status and the metadata a controller owns; never spec. */
        json_object *res = json_object_new_object();
        json_object_object_foreach(cur->o, k, v)
        {
            json_object_object_add(res, k, json_object_get(v));
        }
        json_object *rmeta = json_object_new_object();
        json_object_object_foreach(json_object_object_get(cur->o, "metadata"), mk, mv)
        {
            json_object_object_add(rmeta, mk, json_object_get(mv));
        }
        copy_field(rmeta, meta, "labels");
        copy_field(rmeta, meta, "annotations");
        copy_field(rmeta, meta, "finalizers");
        copy_field(rmeta, meta, "ownerReferences");
        json_object_object_add(res, "metadata", rmeta);
        copy_field(res, nw, "status");
        json_object_put(nw);
        nw = res;
        meta = rmeta;
        check_annotations(meta, &errs);
        if (errs.n) {
            fake_reply_invalid(r, rt, q->name, &errs);
            goto out;
        }
    } else {
        if (rt->has_status)
            copy_field(nw, cur->o, "status");
        static const char *const sys[] = {"uid",
                                          "creationTimestamp",
                                          "deletionTimestamp",
                                          "deletionGracePeriodSeconds",
                                          "generation",
                                          "managedFields",
                                          "name",
                                          "namespace"};
        json_object *cmeta = json_object_object_get(cur->o, "metadata");
        for (size_t i = 0; i < LBP_ARRAY_LEN(sys); i++)
            copy_field(meta, cmeta, sys[i]);
        json_object_object_del(meta, "selfLink");
        copy_field(nw, cur->o, "kind");
        copy_field(nw, cur->o, "apiVersion");
        check_annotations(meta, &errs);
        if (rt == rt_services)
            fake_svc_admit(nw, cur->o, cur->key, &errs);
        if (errs.n) {
            fake_reply_invalid(r, rt, q->name, &errs);
            goto out;
        }
    }
    if (fake_get(cur->o, "metadata.deletionTimestamp") && adds_finalizer(cur->o, nw)) {
        fake_errs_add(&errs, "FieldValueForbidden", "metadata.finalizers",
                      "Forbidden: no new finalizers can be added if the object is being deleted");
        fake_reply_invalid(r, rt, q->name, &errs);
        goto out;
    }
    json_object_object_add(meta, "resourceVersion",
                           json_object_new_string(cur_rv_s ? cur_rv_s : ""));
    if (json_object_equal(nw, cur->o)) {
        reply_rec(r, 200, cur->rec);
        goto out;
    }
    fake_managed_update(q, cur->o, nw);
    if (!field_equal(nw, cur->o, "spec")) {
        json_object *g = json_object_object_get(meta, "generation");
        json_object_object_add(meta, "generation",
                               json_object_new_int64((g ? json_object_get_int64(g) : 0) + 1));
    }
    set_rv(nw, ++cur_rv);
    if (fake_get(meta, "deletionTimestamp") && !has_finalizers(nw)) {
        /* The last finalizer is gone: the deletion the client asked for happens now. */
        struct fake_rec *rec = fake_rec_new(nw);
        if (!rec) {
            fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
            goto out;
        }
        if (rt == rt_services)
            fake_svc_release(cur->o, cur->key);
        fake_watch_emit(rt, EV_DELETED, nw, rec, cur->o, cur->rec);
        if (rec)
            reply_rec(r, 200, rec);
        fake_rec_unref(rec);
        obj_remove(rt, cur);
        goto out;
    }
    if (rt == rt_services && !status_write)
        fake_svc_commit(nw, cur->o, cur->key);
    put_modified(rt, cur, nw, r);
    nw = NULL;
out:
    json_object_put(nw);
    fake_errs_free(&errs);
}

void fake_store_update(const struct fake_req *q, struct fake_reply *r)
{
    json_object *o = parse_body(q, r);
    if (!o)
        return;
    pthread_mutex_lock(&fake_lock);
    struct fake_obj *cur = obj_find(q->rt, q->ns, q->name);
    if (!cur) {
        json_object_put(o);
        fake_reply_not_found(r, q->rt, q->name);
    } else {
        commit_update(q, cur, o, r);
    }
    pthread_mutex_unlock(&fake_lock);
}

void fake_store_patch(const struct fake_req *q, struct fake_reply *r)
{
    enum fake_patch_type type;
    const char *ct = q->content_type ? q->content_type : "";
    char msg[600];
    if (strncmp(ct, "application/merge-patch+json", 28) == 0) {
        type = PATCH_MERGE;
    } else if (strncmp(ct, "application/json-patch+json", 27) == 0) {
        type = PATCH_JSON;
    } else if (strncmp(ct, "application/strategic-merge-patch+json", 38) == 0 && !q->rt->custom) {
        type = PATCH_STRATEGIC;
    } else {
        snprintf(msg, sizeof(msg),
                 "the body of the request was in an unknown format - accepted media types "
                 "include: application/json-patch+json, application/merge-patch+json%s",
                 q->rt->custom ? "" : ", application/strategic-merge-patch+json");
        fake_reply_status(r, 415, "UnsupportedMediaType", msg, NULL, NULL, NULL);
        return;
    }
    pthread_mutex_lock(&fake_lock);
    struct fake_obj *cur = obj_find(q->rt, q->ns, q->name);
    json_object *nw = NULL;
    if (!cur) {
        fake_reply_not_found(r, q->rt, q->name);
        goto out;
    }
    int code = fake_patch_apply(type, cur->o, q->body, q->body_len, &nw, msg, sizeof(msg));
    if (code == 422) {
        /* What upstream's NewGenericServerResponse(422) says for a JSON patch that fails. */
        json_object *st = fake_status(422, "Invalid",
                                      "the server rejected our request due to an error in our "
                                      "request",
                                      NULL, NULL, NULL);
        json_object *st2 = json_object_new_object();
        json_object_object_foreach(st, k, v)
        {
            if (strcmp(k, "code") == 0)
                json_object_object_add(st2, "details", json_object_new_object());
            json_object_object_add(st2, k, json_object_get(v));
        }
        json_object_put(st);
        fake_reply_json(r, 422, st2);
        goto out;
    }
    if (code) {
        fake_reply_status(r, code, fake_reason_for(code), msg, NULL, NULL, NULL);
        goto out;
    }
    if (!json_object_is_type(nw, json_type_object)) {
        json_object_put(nw);
        fake_reply_status(r, 400, "BadRequest", "patched object is not a JSON object", NULL, NULL,
                          NULL);
        goto out;
    }
    commit_update(q, cur, nw, r);
out:
    pthread_mutex_unlock(&fake_lock);
}

void fake_store_delete(const struct fake_req *q, struct fake_reply *r)
{
    struct fake_rtype *rt = q->rt;
    json_object *opts = NULL;
    char msg[900], ts[32];
    if (q->body_len > 0) {
        opts = json_tokener_parse(q->body);
        if (!opts || !json_object_is_type(opts, json_type_object)) {
            json_object_put(opts);
            fake_reply_status(r, 400, "BadRequest", "invalid DeleteOptions body", NULL, NULL, NULL);
            return;
        }
    }
    pthread_mutex_lock(&fake_lock);
    struct fake_obj *cur = obj_find(rt, q->ns, q->name);
    if (!cur) {
        fake_reply_not_found(r, rt, q->name);
        goto out;
    }
    const char *pre_uid = fake_get_str(opts, "preconditions.uid");
    const char *pre_rv = fake_get_str(opts, "preconditions.resourceVersion");
    const char *uid = fake_get_str(cur->o, "metadata.uid");
    const char *rv = fake_get_str(cur->o, "metadata.resourceVersion");
    if ((pre_uid && !lbp_streq(pre_uid, uid)) || (pre_rv && !lbp_streq(pre_rv, rv))) {
        bool by_uid = pre_uid && !lbp_streq(pre_uid, uid);
        char q2[200];
        snprintf(q2, sizeof(q2), "%s%s%s", rt->resource, rt->group[0] ? "." : "", rt->group);
        snprintf(msg, sizeof(msg),
                 "Operation cannot be fulfilled on %s \"%s\": Precondition failed: %s in "
                 "precondition: %s, %s in object meta: %s",
                 q2, q->name, by_uid ? "UID" : "ResourceVersion", by_uid ? pre_uid : pre_rv,
                 by_uid ? "UID" : "ResourceVersion", by_uid ? uid : rv);
        fake_reply_status(r, 409, "Conflict", msg, q->name, rt->group, rt->resource);
        goto out;
    }
    if (has_finalizers(cur->o)) {
        if (fake_get(cur->o, "metadata.deletionTimestamp")) {
            reply_rec(r, 200, cur->rec);
            goto out;
        }
        json_object *nw = NULL;
        if (json_object_deep_copy(cur->o, &nw, NULL)) {
            fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
            goto out;
        }
        json_object *meta = fake_ensure_obj(nw, "metadata");
        fake_now_rfc3339(ts);
        json_object_object_add(meta, "deletionTimestamp", json_object_new_string(ts));
        json_object_object_add(meta, "deletionGracePeriodSeconds", json_object_new_int64(0));
        json_object *g = json_object_object_get(meta, "generation");
        json_object_object_add(meta, "generation",
                               json_object_new_int64((g ? json_object_get_int64(g) : 0) + 1));
        set_rv(nw, ++cur_rv);
        put_modified(rt, cur, nw, r);
        goto out;
    }
    json_object *gone = NULL;
    if (json_object_deep_copy(cur->o, &gone, NULL)) {
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        goto out;
    }
    set_rv(gone, ++cur_rv);
    struct fake_rec *rec = fake_rec_new(gone);
    if (!rec) {
        json_object_put(gone);
        fake_reply_status(r, 500, "InternalError", "out of memory", NULL, NULL, NULL);
        goto out;
    }
    if (rt == rt_services)
        fake_svc_release(cur->o, cur->key);
    fake_watch_emit(rt, EV_DELETED, gone, rec, cur->o, cur->rec);
    if (rt->delete_returns_object) {
        reply_rec(r, 200, rec);
    } else {
        /* Most built-in registries answer an immediate delete with a Success Status. */
        json_object *st = json_object_new_object(), *d = json_object_new_object();
        json_object_object_add(st, "kind", json_object_new_string("Status"));
        json_object_object_add(st, "apiVersion", json_object_new_string("v1"));
        json_object_object_add(st, "metadata", json_object_new_object());
        json_object_object_add(st, "status", json_object_new_string("Success"));
        json_object_object_add(d, "name", json_object_new_string(q->name));
        if (rt->group[0])
            json_object_object_add(d, "group", json_object_new_string(rt->group));
        json_object_object_add(d, "kind", json_object_new_string(rt->resource));
        json_object_object_add(d, "uid", json_object_new_string(uid ? uid : ""));
        json_object_object_add(st, "details", d);
        fake_reply_json(r, 200, st);
    }
    fake_rec_unref(rec);
    json_object_put(gone);
    obj_remove(rt, cur);
out:
    pthread_mutex_unlock(&fake_lock);
    json_object_put(opts);
}
