/*
 * decode.c — JSON of one Service, Node, EndpointSlice or Lease to the plain
 * C structs of kube.h, and the collection paths of those kinds.
 *
 * Only the fields in the structs are copied: a Node's image list, managed
 * fields and everything else the API sends stay in the json-c tree, which is
 * freed before returning, so a cached object costs what its struct holds.
 * kubectl's last-applied-configuration annotation is left out too (see
 * LAST_APPLIED).
 *
 * Each object is one malloc block: the struct, then every string and array
 * it points to. The tree is walked twice with the same code: first with a
 * measuring arena that only adds up sizes (arrays of structs get throw-away
 * scratch memory because the walk writes into them), then into a block of
 * exactly that size. One block per object keeps malloc overhead, heap
 * fragmentation and RSS down for caches of tens of thousands of objects, and
 * makes freeing one free(). free_fn is plain free; refs starts at 1.
 *
 * Input policy (nothing is trusted):
 *   - not a JSON object, trailing garbage, metadata.name missing, not a
 *     string, empty, longer than 253 or containing '/' or a NUL: LBP_PARSE.
 *     metadata.namespace gets the same checks (≤ 63) when present, because
 *     name and namespace make the cache key.
 *   - any other field of the wrong type, out of range, containing a NUL or
 *     longer than its cap: skipped (left NULL / 0 / -1), the rest decoded —
 *     except where skipping would change meaning: an annotation is never
 *     dropped for its length, and a loadBalancerSourceRanges entry that is
 *     not a string stays as "" so validation refuses it (dropping entries
 *     can turn a restriction into none).
 *   - array elements of the wrong type: skipped.
 *   - size: the API server bounds an object only as a whole. etcd refuses
 *     a value over 1.5 MiB (--max-request-bytes; the apiserver's own request
 *     limit is 3 MiB), and these kinds are stored as protobuf, whose bytes
 *     the JSON the server sends can stretch six-fold (a '<' becomes
 *     "\u003c"): about 9 MiB. So 16 MiB bounds a document and the decoded
 *     block, and no list or map has a cap of its own below what the
 *     document bounds (two bytes of JSON per entry at least). A per-list
 *     cap once refused legal Services (1,025 source ranges are 16 KB) and
 *     the informer lost them. Over 16 MiB: LBP_TOOBIG, nothing half-decoded.
 *
 * lbp_kube_decode_ident reads only what identifies an object (name,
 * namespace, uid, resourceVersion, deletionTimestamp, finalizers) for the
 * informer to keep track of one it cannot decode.
 */
#include "kube/decode_int.h"
#include "kube/kube_int.h"
#include "common/rc.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_MAX (16u << 20) /* see "size" above */
#define OBJ_MAX DOC_MAX     /* the decoded block */
#define NAME_MAX_LEN 253
#define NS_MAX_LEN 63
#define SHORT_MAX 64         /* enum-like values, IPs, uid, protocol */
#define QNAME_MAX 317        /* prefix (253) + '/' + name (63) */
#define LABEL_VALUE_MAX 1024 /* the API allows 63; be lenient */
#define ANNOTATION_MAX DOC_MAX
#define TEXT_MAX 4096          /* providerID, holderIdentity, hostnames */
#define MAP_MAX (DOC_MAX / 2)  /* labels, annotations, selector entries */
#define LIST_MAX (DOC_MAX / 2) /* ports, finalizers, addresses, taints, ranges, endpoints */
#define JSON_DEPTH 64

/* ---------------------------------------------------------------- arena */

struct scratch {
    struct scratch *next;
    size_t used, cap;
    max_align_t data[];
};

struct arena {
    bool measure;
    size_t need;           /* measure: bytes the fill pass will take */
    struct scratch *chunk; /* measure: memory for arrays the walk writes into */
    char *p, *end;         /* fill: the object's block */
};

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Zeroed memory for n bytes; NULL only on allocation failure. */
static void *a_alloc(struct arena *a, size_t n)
{
    n = align8(n ? n : 1);
    if (a->measure) {
        a->need += n;
        struct scratch *c = a->chunk;
        if (!c || c->cap - c->used < n) {
            size_t cap = n > 4096 ? n : 4096;
            c = malloc(sizeof(*c) + cap);
            if (!c)
                return NULL;
            c->next = a->chunk;
            c->used = 0;
            c->cap = cap;
            a->chunk = c;
        }
        void *r = (char *)c->data + c->used;
        c->used += n;
        memset(r, 0, n);
        return r;
    }
    if ((size_t)(a->end - a->p) < n)
        return NULL; /* cannot happen: both passes ask for the same sizes */
    void *r = a->p;
    a->p += n;
    return r;
}

static char *a_strn(struct arena *a, const char *s, size_t len)
{
    if (a->measure) {
        /* Nobody reads strings during the measuring walk. */
        a->need += align8(len + 1);
        return (char *)"";
    }
    char *r = a_alloc(a, len + 1);
    if (r)
        memcpy(r, s, len);
    return r;
}

static void a_release(struct arena *a)
{
    while (a->chunk) {
        struct scratch *n = a->chunk->next;
        free(a->chunk);
        a->chunk = n;
    }
}

/* ---------------------------------------------------------------- json helpers */

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (o && json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, k, &v))
        return v;
    return NULL;
}

/* A string value of at most max bytes without NULs, or NULL. */
static const char *str_val(json_object *v, size_t max, size_t *lenp)
{
    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len > max || strlen(s) != len)
        return NULL;
    if (lenp)
        *lenp = len;
    return s;
}

/* Copies string member k into *dst when valid; leaves *dst NULL otherwise. */
static int copy_str(struct arena *a, json_object *o, const char *k, size_t max, char **dst)
{
    size_t len;
    const char *s = str_val(member(o, k), max, &len);
    if (!s)
        return LBP_OK;
    *dst = a_strn(a, s, len);
    return *dst ? LBP_OK : LBP_NOMEM;
}

static bool int_val(json_object *v, int64_t min, int64_t max, int64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int))
        return false;
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max)
        return false;
    *out = x;
    return true;
}

static void copy_int(json_object *o, const char *k, int min, int max, int *dst)
{
    int64_t x;
    if (int_val(member(o, k), min, max, &x))
        *dst = (int)x;
}

/* -1 absent/null/wrong type, 0 false, 1 true. */
static int tri(json_object *v)
{
    if (!v || !json_object_is_type(v, json_type_boolean))
        return -1;
    return json_object_get_boolean(v) ? 1 : 0;
}

static json_object *array_member(json_object *o, const char *k, size_t cap, size_t *n, int *rc)
{
    json_object *v = member(o, k);
    *n = 0;
    if (!v || !json_object_is_type(v, json_type_array))
        return NULL;
    *n = json_object_array_length(v);
    if (*n > cap) {
        *rc = LBP_TOOBIG;
        return NULL;
    }
    return *n ? v : NULL;
}

/* keep_bad: an element that is not a valid string stays as "" instead of being skipped. */
static int copy_str_list_ex(struct arena *a, json_object *o, const char *k, size_t max,
                            bool keep_bad, char ***dst, size_t *n_dst)
{
    int rc = LBP_OK;
    size_t n;
    json_object *arr = array_member(o, k, LIST_MAX, &n, &rc);
    if (!arr)
        return rc;
    char **v = a_alloc(a, n * sizeof(*v));
    if (!v)
        return LBP_NOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = str_val(json_object_array_get_idx(arr, i), max, &len);
        if (!s && !keep_bad)
            continue;
        if (!s) {
            s = "";
            len = 0;
        }
        if (!(v[j++] = a_strn(a, s, len)))
            return LBP_NOMEM;
    }
    *dst = v;
    *n_dst = j;
    return LBP_OK;
}

static int copy_str_list(struct arena *a, json_object *o, const char *k, size_t max, char ***dst,
                         size_t *n_dst)
{
    return copy_str_list_ex(a, o, k, max, false, dst, n_dst);
}

/* skip: a key left out (NULL: none). */
static int copy_map(struct arena *a, json_object *o, const char *k, size_t vmax, const char *skip,
                    struct lbp_kv **dst, size_t *n_dst)
{
    json_object *m = member(o, k);
    if (!m || !json_object_is_type(m, json_type_object))
        return LBP_OK;
    size_t n = (size_t)json_object_object_length(m);
    if (n == 0)
        return LBP_OK;
    if (n > MAP_MAX)
        return LBP_TOOBIG;
    struct lbp_kv *v = a_alloc(a, n * sizeof(*v));
    if (!v)
        return LBP_NOMEM;
    size_t j = 0;
    json_object_object_foreach(m, key, val)
    {
        size_t klen = strlen(key), vlen;
        const char *s = str_val(val, vmax, &vlen);
        if (!s || klen == 0 || klen > QNAME_MAX || j == n || (skip && strcmp(key, skip) == 0))
            continue;
        v[j].key = a_strn(a, key, klen);
        v[j].value = a_strn(a, s, vlen);
        if (!v[j].key || !v[j].value)
            return LBP_NOMEM;
        j++;
    }
    *dst = v;
    *n_dst = j;
    return LBP_OK;
}

/* An identity string (name, namespace): LBP_PARSE unless present and sane. */
static int ident(json_object *v, size_t max, const char **out, size_t *lenp)
{
    size_t len;
    const char *s = str_val(v, max, &len);
    if (!s || len == 0 || memchr(s, '/', len))
        return LBP_PARSE;
    *out = s;
    *lenp = len;
    return LBP_OK;
}

/* ---------------------------------------------------------------- per kind */

/*
 * kubectl apply's copy of the object it applied: often the largest thing
 * in a Service's metadata (about a third of a cached Service), never read
 * by a controller. Dropped from every cached kind; a Lease, which lbprov
 * writes back whole, keeps all its annotations.
 */
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/*
 * ident_only: what identifies the object, without labels and annotations.
 * keep_all: every annotation, LAST_APPLIED included.
 */
static int decode_meta_ex(struct arena *a, json_object *root, struct lbp_meta *m, bool namespaced,
                          bool ident_only, bool keep_all)
{
    json_object *md = member(root, "metadata");
    const char *name, *ns = NULL;
    size_t nlen, nslen = 0;
    int rc;

    if (!md || !json_object_is_type(md, json_type_object))
        return LBP_PARSE;
    if ((rc = ident(member(md, "name"), NAME_MAX_LEN, &name, &nlen)))
        return rc;
    json_object *nsv = member(md, "namespace");
    if (namespaced && nsv && !json_object_is_type(nsv, json_type_null)) {
        if ((rc = ident(nsv, NS_MAX_LEN, &ns, &nslen)))
            return rc;
    }

    if (!(m->name = a_strn(a, name, nlen)))
        return LBP_NOMEM;
    if (ns) {
        if (!(m->namespace = a_strn(a, ns, nslen)))
            return LBP_NOMEM;
        /* "ns/name", built in place: the fill pass owns a writable copy. */
        if (!(m->key = a_alloc(a, nslen + 1 + nlen + 1)))
            return LBP_NOMEM;
        if (!a->measure) {
            memcpy(m->key, ns, nslen);
            m->key[nslen] = '/';
            memcpy(m->key + nslen + 1, name, nlen);
            m->key[nslen + 1 + nlen] = '\0';
        }
    } else {
        m->key = m->name;
    }
    if ((rc = copy_str(a, md, "uid", SHORT_MAX, &m->uid)) ||
        (rc = copy_str(a, md, "resourceVersion", SHORT_MAX, &m->resource_version)))
        return rc;
    const char *ts = str_val(member(md, "creationTimestamp"), SHORT_MAX, NULL);
    int64_t t;
    if (ts && lbp_parse_rfc3339(ts, &t) == LBP_OK)
        m->creation_s = t;
    json_object *del = member(md, "deletionTimestamp");
    m->deleting = del && json_object_is_type(del, json_type_string);
    m->partial = ident_only;
    if ((rc = copy_str_list(a, md, "finalizers", QNAME_MAX, &m->finalizers, &m->n_finalizers)))
        return rc;
    if (ident_only)
        return LBP_OK;
    if ((rc = copy_map(a, md, "labels", LABEL_VALUE_MAX, NULL, &m->labels, &m->n_labels)) ||
        (rc = copy_map(a, md, "annotations", ANNOTATION_MAX, keep_all ? NULL : LAST_APPLIED,
                       &m->annotations, &m->n_annotations)))
        return rc;
    return LBP_OK;
}

static int decode_meta(struct arena *a, json_object *root, struct lbp_meta *m, bool namespaced)
{
    return decode_meta_ex(a, root, m, namespaced, false, false);
}

static int decode_ident_namespaced(struct arena *a, json_object *root, void *obj)
{
    return decode_meta_ex(a, root, obj, true, true, false);
}

static int decode_ident_cluster(struct arena *a, json_object *root, void *obj)
{
    return decode_meta_ex(a, root, obj, false, true, false);
}

static int decode_ports(struct arena *a, json_object *spec, struct lbp_service *s)
{
    int rc = LBP_OK;
    size_t n;
    json_object *arr = array_member(spec, "ports", LIST_MAX, &n, &rc);
    if (!arr)
        return rc;
    if (!(s->ports = a_alloc(a, n * sizeof(*s->ports))))
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(arr, i);
        if (!p || !json_object_is_type(p, json_type_object))
            continue;
        struct lbp_service_port *d = &s->ports[s->n_ports++];
        if ((rc = copy_str(a, p, "name", NS_MAX_LEN, &d->name)) ||
            (rc = copy_str(a, p, "protocol", SHORT_MAX, &d->protocol)) ||
            (rc = copy_str(a, p, "appProtocol", QNAME_MAX, &d->app_protocol)))
            return rc;
        copy_int(p, "port", 0, 65535, &d->port);
        copy_int(p, "nodePort", 0, 65535, &d->node_port);
        json_object *tp = member(p, "targetPort");
        int64_t x;
        if (int_val(tp, 0, 65535, &x)) {
            char num[8], *q = num + sizeof(num);
            /* 0..65535 in decimal, written backwards: no printf per decoded port */
            do
                *--q = (char)('0' + x % 10);
            while ((x /= 10) > 0);
            if (!(d->target_port = a_strn(a, q, (size_t)(num + sizeof(num) - q))))
                return LBP_NOMEM;
        } else if ((rc = copy_str(a, p, "targetPort", NS_MAX_LEN, &d->target_port))) {
            return rc;
        }
    }
    return LBP_OK;
}

static int decode_service(struct arena *a, json_object *root, void *obj)
{
    struct lbp_service *s = obj;
    json_object *spec = member(root, "spec");
    int rc;

    s->allocate_lb_node_ports = -1;
    if ((rc = decode_meta(a, root, &s->meta, true)))
        return rc;
    if ((rc = copy_str(a, spec, "type", SHORT_MAX, &s->type)) ||
        (rc = copy_str(a, spec, "loadBalancerClass", QNAME_MAX, &s->lb_class)) ||
        (rc = copy_str(a, spec, "loadBalancerIP", SHORT_MAX, &s->lb_ip)) ||
        (rc = copy_str_list_ex(a, spec, "loadBalancerSourceRanges", SHORT_MAX, true,
                               &s->lb_source_ranges, &s->n_lb_source_ranges)) ||
        (rc = decode_ports(a, spec, s)) ||
        (rc = copy_map(a, spec, "selector", LABEL_VALUE_MAX, NULL, &s->selector, &s->n_selector)) ||
        (rc = copy_str(a, spec, "sessionAffinity", SHORT_MAX, &s->session_affinity)) ||
        (rc = copy_str(a, spec, "externalTrafficPolicy", SHORT_MAX, &s->external_traffic_policy)) ||
        (rc = copy_str(a, spec, "internalTrafficPolicy", SHORT_MAX, &s->internal_traffic_policy)) ||
        (rc =
             copy_str_list(a, spec, "ipFamilies", SHORT_MAX, &s->ip_families, &s->n_ip_families)) ||
        (rc = copy_str(a, spec, "ipFamilyPolicy", SHORT_MAX, &s->ip_family_policy)) ||
        (rc = copy_str_list(a, spec, "externalIPs", SHORT_MAX, &s->external_ips,
                            &s->n_external_ips)) ||
        (rc = copy_str(a, spec, "clusterIP", SHORT_MAX, &s->cluster_ip)))
        return rc;
    copy_int(member(member(spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds", 0, 86400,
             &s->session_affinity_timeout);
    copy_int(spec, "healthCheckNodePort", 0, 65535, &s->health_check_node_port);
    s->allocate_lb_node_ports = tri(member(spec, "allocateLoadBalancerNodePorts"));

    size_t n;
    json_object *ing =
        array_member(member(member(root, "status"), "loadBalancer"), "ingress", LIST_MAX, &n, &rc);
    if (!ing)
        return rc;
    if (!(s->ingress = a_alloc(a, n * sizeof(*s->ingress))))
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(ing, i);
        if (!e || !json_object_is_type(e, json_type_object))
            continue;
        struct lbp_lb_ingress *d = &s->ingress[s->n_ingress++];
        if ((rc = copy_str(a, e, "ip", SHORT_MAX, &d->ip)) ||
            (rc = copy_str(a, e, "hostname", TEXT_MAX, &d->hostname)) ||
            (rc = copy_str(a, e, "ipMode", SHORT_MAX, &d->ip_mode)))
            return rc;
    }
    return LBP_OK;
}

static int decode_node(struct arena *a, json_object *root, void *obj)
{
    struct lbp_node *nd = obj;
    json_object *spec = member(root, "spec"), *status = member(root, "status");
    json_object *arr;
    size_t n;
    int rc = LBP_OK;

    nd->ready = -1;
    if ((rc = decode_meta(a, root, &nd->meta, false)))
        return rc;
    if ((rc = copy_str(a, spec, "providerID", TEXT_MAX, &nd->provider_id)))
        return rc;
    nd->unschedulable = tri(member(spec, "unschedulable")) == 1;

    if ((arr = array_member(status, "addresses", LIST_MAX, &n, &rc))) {
        if (!(nd->addresses = a_alloc(a, n * sizeof(*nd->addresses))))
            return LBP_NOMEM;
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            if (!e || !json_object_is_type(e, json_type_object))
                continue;
            struct lbp_node_address *d = &nd->addresses[nd->n_addresses++];
            if ((rc = copy_str(a, e, "type", SHORT_MAX, &d->type)) ||
                (rc = copy_str(a, e, "address", TEXT_MAX, &d->address)))
                return rc;
        }
    }
    if (rc)
        return rc;
    if ((arr = array_member(spec, "taints", LIST_MAX, &n, &rc))) {
        if (!(nd->taints = a_alloc(a, n * sizeof(*nd->taints))))
            return LBP_NOMEM;
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            if (!e || !json_object_is_type(e, json_type_object))
                continue;
            struct lbp_taint *d = &nd->taints[nd->n_taints++];
            if ((rc = copy_str(a, e, "key", QNAME_MAX, &d->key)) ||
                (rc = copy_str(a, e, "value", LABEL_VALUE_MAX, &d->value)) ||
                (rc = copy_str(a, e, "effect", SHORT_MAX, &d->effect)))
                return rc;
        }
    }
    if (rc)
        return rc;
    if ((arr = array_member(status, "conditions", LIST_MAX, &n, &rc))) {
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(arr, i);
            if (!lbp_streq(str_val(member(e, "type"), SHORT_MAX, NULL), "Ready"))
                continue;
            const char *st = str_val(member(e, "status"), SHORT_MAX, NULL);
            nd->ready = lbp_streq(st, "True") ? 1 : lbp_streq(st, "False") ? 0 : -1;
        }
    }
    return rc;
}

static int decode_endpointslice(struct arena *a, json_object *root, void *obj)
{
    struct lbp_endpointslice *es = obj;
    size_t n;
    int rc = LBP_OK;

    if ((rc = decode_meta(a, root, &es->meta, true)))
        return rc;
    /* Points into the label's copy rather than copying it again. */
    for (size_t i = 0; i < es->meta.n_labels && !a->measure; i++)
        if (strcmp(es->meta.labels[i].key, "kubernetes.io/service-name") == 0)
            es->service_name = es->meta.labels[i].value;
    if ((rc = copy_str(a, root, "addressType", SHORT_MAX, &es->address_type)))
        return rc;
    json_object *arr = array_member(root, "endpoints", LIST_MAX, &n, &rc);
    if (!arr)
        return rc;
    if (!(es->endpoints = a_alloc(a, n * sizeof(*es->endpoints))))
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (!e || !json_object_is_type(e, json_type_object))
            continue;
        struct lbp_endpoint *d = &es->endpoints[es->n_endpoints++];
        if ((rc = copy_str_list(a, e, "addresses", TEXT_MAX, &d->addresses, &d->n_addresses)) ||
            (rc = copy_str(a, e, "nodeName", NAME_MAX_LEN, &d->node_name)))
            return rc;
        json_object *c = member(e, "conditions");
        d->ready = tri(member(c, "ready"));
        d->serving = tri(member(c, "serving"));
        d->terminating = tri(member(c, "terminating"));
    }
    return LBP_OK;
}

/*
 * MicroTime ("2026-11-26T10:00:00.123456Z") to epoch microseconds; 0 when
 * absent or malformed. The fraction may have 0..9 digits; beyond 6 are cut.
 */
static int64_t micro_time(json_object *v)
{
    const char *s = str_val(v, SHORT_MAX, NULL);
    int64_t sec, us = 0;
    if (!s || lbp_parse_rfc3339(s, &sec) != LBP_OK)
        return 0;
    /* The strict parse above admits a '.' only before the fraction. */
    const char *dot = strchr(s, '.');
    if (dot) {
        int digits = 0;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                us = us * 10 + (*p - '0');
        for (; digits < 6; digits++)
            us *= 10;
    }
    return sec * 1000000 + us;
}

static int decode_lease(struct arena *a, json_object *root, void *obj)
{
    struct lbp_lease *l = obj;
    json_object *spec = member(root, "spec");
    int rc;

    if ((rc = decode_meta_ex(a, root, &l->meta, true, false, true)))
        return rc;
    if ((rc = copy_str(a, spec, "holderIdentity", TEXT_MAX, &l->holder_identity)))
        return rc;
    copy_int(spec, "leaseDurationSeconds", 0, 1 << 30, &l->lease_duration_s);
    copy_int(spec, "leaseTransitions", 0, 1 << 30, &l->lease_transitions);
    l->acquire_time_us = micro_time(member(spec, "acquireTime"));
    l->renew_time_us = micro_time(member(spec, "renewTime"));
    return LBP_OK;
}

/* ---------------------------------------------------------------- entry points */

struct kind_info {
    const char *name;
    size_t size;
    int (*decode)(struct arena *a, json_object *root, void *obj);
    const char *group_path; /* "/api/v1" or "/apis/<group>/<version>" */
    const char *resource;
    bool namespaced;
};

static const struct kind_info kinds[] = {
    [LBP_KIND_SERVICE] = {"Service", sizeof(struct lbp_service), decode_service, "/api/v1",
                          "services", true},
    [LBP_KIND_NODE] = {"Node", sizeof(struct lbp_node), decode_node, "/api/v1", "nodes", false},
    [LBP_KIND_ENDPOINTSLICE] = {"EndpointSlice", sizeof(struct lbp_endpointslice),
                                decode_endpointslice, "/apis/discovery.k8s.io/v1", "endpointslices",
                                true},
    [LBP_KIND_LEASE] = {"Lease", sizeof(struct lbp_lease), decode_lease,
                        "/apis/coordination.k8s.io/v1", "leases", true},
};

static const struct kind_info *kind_info(enum lbp_kind kind)
{
    if ((unsigned)kind >= LBP_ARRAY_LEN(kinds))
        return NULL;
    return &kinds[kind];
}

const char *lbp_kube_kind_name(enum lbp_kind kind)
{
    const struct kind_info *k = kind_info(kind);
    return k ? k->name : "?";
}

static void obj_free(struct lbp_meta *m)
{
    free(m);
}

/* Both passes of decode (see the top of the file) into one block of k->size and more. */
static int decode_with(const struct kind_info *k,
                       int (*decode)(struct arena *a, json_object *root, void *obj),
                       json_object *root, void **out)
{
    struct arena a = {.measure = true};
    char *block = NULL;
    int rc;

    *out = NULL;
    if (!root || !json_object_is_type(root, json_type_object))
        return LBP_PARSE;
    void *tmp = a_alloc(&a, k->size);
    if (!tmp) {
        rc = LBP_NOMEM;
        goto out;
    }
    a.need = 0;
    if ((rc = decode(&a, root, tmp)))
        goto out;

    size_t head = align8(k->size);
    if (a.need > OBJ_MAX - head) {
        rc = LBP_TOOBIG;
        goto out;
    }
    if (!(block = calloc(1, head + a.need))) {
        rc = LBP_NOMEM;
        goto out;
    }
    struct arena fill = {.p = block + head, .end = block + head + a.need};
    if ((rc = decode(&fill, root, block)))
        goto out;
    struct lbp_meta *m = (struct lbp_meta *)block;
    m->refs = 1;
    m->free_fn = obj_free;
    *out = block;
    block = NULL;
out:
    free(block);
    a_release(&a);
    return rc;
}

int lbp_kube_decode_obj(enum lbp_kind kind, json_object *root, void **out)
{
    const struct kind_info *k = kind_info(kind);
    *out = NULL;
    if (!k)
        return LBP_INVALID;
    return decode_with(k, k->decode, root, out);
}

int lbp_kube_decode_ident(enum lbp_kind kind, json_object *root, void **out)
{
    const struct kind_info *k = kind_info(kind);
    *out = NULL;
    if (!k)
        return LBP_INVALID;
    return decode_with(k, k->namespaced ? decode_ident_namespaced : decode_ident_cluster, root,
                       out);
}

int lbp_kube_decode(enum lbp_kind kind, const char *json, size_t len, void **out)
{
    json_tokener *tok = NULL;
    json_object *root = NULL;
    int rc;

    *out = NULL;
    if (!json)
        return LBP_PARSE;
    if (len > DOC_MAX)
        return LBP_TOOBIG;
    if (!(tok = json_tokener_new_ex(JSON_DEPTH)))
        return LBP_NOMEM;
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success) {
        rc = LBP_PARSE;
        goto out;
    }
    /* Nothing but whitespace may follow the object. */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t') {
            rc = LBP_PARSE;
            goto out;
        }
    }
    rc = lbp_kube_decode_obj(kind, root, out);
out:
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

/* DNS-1123 label: what a namespace may be, so it is safe in a path. */
static bool ns_ok(const char *ns)
{
    size_t n = strlen(ns);
    if (n == 0 || n > NS_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = ns[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return true;
}

int lbp_kube_kind_path(enum lbp_kind kind, const char *ns, char *out, size_t outlen)
{
    const struct kind_info *k = kind_info(kind);
    int n;

    if (!k || !out || outlen == 0)
        return LBP_INVALID;
    if (ns && *ns && k->namespaced) {
        if (!ns_ok(ns))
            return LBP_INVALID;
        n = snprintf(out, outlen, "%s/namespaces/%s/%s", k->group_path, ns, k->resource);
    } else {
        n = snprintf(out, outlen, "%s/%s", k->group_path, k->resource);
    }
    return n < 0 || (size_t)n >= outlen ? LBP_TOOBIG : LBP_OK;
}
