/*
 * decode.c — JSON of one Service, Node, EndpointSlice or Lease to the plain
 * C structs of kube.h, and the collection paths of those kinds.
 *
 * The JSON is read in place through a token view (json_view.h): no tree is
 * built, only the fields in the structs are copied, and a Node's image
 * list, managed fields and everything else the API sends are skipped
 * without being looked at twice. kubectl's last-applied-configuration
 * annotation is left out too (see LAST_APPLIED).
 *
 * Each object is one malloc block: the struct, then every string and array
 * it points to. The tokens are walked twice with the same code: first to
 * measure — strings and arrays only add up their sizes, the struct is a
 * stack copy and array elements all land in one scratch element
 * (AT() below), so measuring allocates nothing — then into a block of
 * exactly that size. The block is the only allocation of a decode: the
 * informer's view reuses its tokens, and lbp_kube_decode tokenises onto
 * the stack (STACK_TOKENS; a larger object takes one more, temporary,
 * allocation). One block per object keeps malloc overhead, heap
 * fragmentation and RSS down for caches of tens of thousands of objects,
 * and makes freeing one free(). free_fn is plain free; refs starts at 1.
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
 *   - a string with \u0000 or a lone surrogate counts as a bad string
 *     (skipped, or LBP_PARSE for a name); JSON that breaks RFC 8259 (a
 *     bare "tru", a raw control character in a string, nesting deeper than
 *     64) is LBP_PARSE.
 *   - duplicate keys: the first wins, in lookups and in maps (labels,
 *     annotations, selector), whose later duplicates are dropped.
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
#include "kube/json_view.h"
#include "kube/kube_int.h"
#include "common/rc.h"
#include "common/util.h"

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
#define STACK_TOKENS 512       /* lbp_kube_decode: a Service or Lease fits */

/* ---------------------------------------------------------------- arena */

/* Where the measuring pass writes array elements: one of any kind, reused. */
union sink {
    struct lbp_service_port port;
    struct lbp_lb_ingress ingress;
    struct lbp_node_address address;
    struct lbp_taint taint;
    struct lbp_endpoint endpoint;
    struct lbp_kv kv;
    char *str;
};

#define MEMO_MAX 32

struct arena {
    const struct lbp_json_view *v;
    bool measure;
    size_t need;   /* measure: bytes the fill pass will take */
    char *p, *end; /* fill: the object's block */
    union sink sink;
    const char *memo[MEMO_MAX]; /* shared-word answers of the measuring pass */
    unsigned n_memo, memo_next;
};

/* Element i of an array from a_alloc: the sink while measuring. */
#define AT(a, base, i) ((a)->measure ? (base) : (base) + (i))

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Zeroed memory for n bytes (the sink while measuring); NULL only when the block is full. */
static void *a_alloc(struct arena *a, size_t n)
{
    n = align8(n ? n : 1);
    if (a->measure) {
        a->need += n;
        return &a->sink;
    }
    if ((size_t)(a->end - a->p) < n)
        return NULL; /* cannot happen: both passes ask for the same sizes */
    void *r = a->p;
    a->p += n;
    return r;
}

/* A copy of s[0..len). */
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

/* String token i, decoded (len: its decoded length, checked by the caller). */
static char *a_str(struct arena *a, int i, size_t len)
{
    if (a->measure) {
        a->need += align8(len + 1);
        return (char *)"";
    }
    char *r = a_alloc(a, len + 1);
    if (r && lbp_jv_str(a->v, i, r, len + 1, NULL) != LBP_OK)
        return NULL; /* cannot happen: the measuring pass checked it */
    return r;
}

/* ---------------------------------------------------------------- shared words */

/*
 * Strings that nearly every object repeats — the values of the Service
 * fields Kubernetes enumerates, the load balancer finalizer, the default
 * namespace, the recommended app.kubernetes.io label keys — point at these
 * constants instead of taking a copy in each object's block (about 200
 * bytes of a cached Service). Cached objects are read-only and a block is
 * freed whole, so nothing frees or writes through these pointers. Only a
 * string written without escapes is looked up (its raw bytes are its
 * value); one with escapes is copied as before.
 */
#define WORD_MAX_LEN 43

/* By length, so a lookup compares against at most four candidates. */
static const char *const words[WORD_MAX_LEN + 1][4] = {
    [3] = {"TCP", "UDP", "VIP", "app"},
    [4] = {"SCTP", "None", "IPv4", "IPv6"},
    [5] = {"Local", "Proxy"},
    [7] = {"Cluster", "default"},
    [8] = {"NodePort", "ClientIP"},
    [9] = {"ClusterIP"},
    [11] = {"SingleStack"},
    [12] = {"LoadBalancer", "ExternalName"},
    [15] = {"PreferDualStack"},
    [16] = {"RequireDualStack"},
    [22] = {"app.kubernetes.io/name"},
    [25] = {"app.kubernetes.io/part-of"},
    [26] = {"app.kubernetes.io/instance", "app.kubernetes.io/version"},
    [27] = {"app.kubernetes.io/component"},
    [28] = {"app.kubernetes.io/managed-by"},
    [43] = {"service.kubernetes.io/load-balancer-cleanup"},
};

static const char *word(const char *s, size_t len)
{
    if (len > WORD_MAX_LEN)
        return NULL;
    for (size_t w = 0; w < LBP_ARRAY_LEN(words[0]) && words[len][w]; w++)
        if (words[len][w][0] == s[0] && memcmp(words[len][w], s, len) == 0)
            return words[len][w];
    return NULL;
}

/*
 * Both passes ask for the same strings in the same order, so the measuring
 * pass notes each answer (up to MEMO_MAX) and the fill pass reads it back
 * instead of looking again.
 */
static const char *memo_word(struct arena *a, const char *s, size_t len)
{
    const char *w;
    if (!a->measure && a->memo_next < a->n_memo)
        return a->memo[a->memo_next++];
    w = word(s, len);
    if (a->measure && a->n_memo < MEMO_MAX)
        a->memo[a->n_memo++] = w;
    return w;
}

/* String token i as a shared word when it is one (no escapes), else NULL. */
static char *tok_word(struct arena *a, int i)
{
    if (lbp_jv_type(a->v, i) != JSMN_STRING || a->v->tok[i].size)
        return NULL;
    /* unescaped, so valid as it stands (the grammar refused raw control characters) */
    return (char *)memo_word(a, a->v->js + a->v->tok[i].start,
                             (size_t)(a->v->tok[i].end - a->v->tok[i].start));
}

/* ---------------------------------------------------------------- json helpers */

static int member(struct arena *a, int o, const char *k)
{
    return lbp_jv_get(a->v, o, k);
}

/* String token i is valid (no NUL, no lone surrogate) and at most max bytes decoded. */
static bool str_val(struct arena *a, int i, size_t max, size_t *lenp)
{
    size_t len;
    if (lbp_jv_str(a->v, i, NULL, 0, &len) != LBP_OK || len > max)
        return false;
    *lenp = len;
    return true;
}

/* String i decoded into buf[cap] (max cap - 1 bytes), or NULL. */
static const char *str_buf(struct arena *a, int i, char *buf, size_t cap, size_t *lenp)
{
    size_t len;
    if (lbp_jv_str(a->v, i, buf, cap, &len) != LBP_OK)
        return NULL;
    if (lenp)
        *lenp = len;
    return buf;
}

/* Copies string member k into *dst when valid; leaves *dst NULL otherwise. */
static int copy_str(struct arena *a, int o, const char *k, size_t max, char **dst)
{
    size_t len;
    int i = member(a, o, k);
    if (!str_val(a, i, max, &len))
        return LBP_OK;
    *dst = a_str(a, i, len);
    return *dst ? LBP_OK : LBP_NOMEM;
}

/* copy_str for a field whose values are mostly shared words. */
static int copy_word(struct arena *a, int o, const char *k, size_t max, char **dst)
{
    size_t len;
    int i = member(a, o, k);
    if ((*dst = tok_word(a, i))) /* every word is shorter than any max here */
        return LBP_OK;
    if (!str_val(a, i, max, &len))
        return LBP_OK;
    *dst = a_str(a, i, len);
    return *dst ? LBP_OK : LBP_NOMEM;
}

static void copy_int(struct arena *a, int o, const char *k, int min, int max, int *dst)
{
    int64_t x;
    if (lbp_jv_int(a->v, member(a, o, k), min, max, &x))
        *dst = (int)x;
}

/* -1 absent/null/wrong type, 0 false, 1 true. */
static int tri(struct arena *a, int i)
{
    return lbp_jv_bool(a->v, i);
}

/* Array member k with *n elements, or -1 (absent, not an array, empty). */
static int array_member(struct arena *a, int o, const char *k, size_t cap, size_t *n, int *rc)
{
    int v = member(a, o, k);
    *n = 0;
    if (lbp_jv_type(a->v, v) != JSMN_ARRAY)
        return -1;
    *n = lbp_jv_count(a->v, v);
    if (*n > cap) {
        *rc = LBP_TOOBIG;
        return -1;
    }
    return *n ? v : -1;
}

/*
 * keep_bad: an element that is not a valid string stays as "" instead of
 * being skipped. shared: elements may be shared words.
 */
static int copy_str_list_ex(struct arena *a, int o, const char *k, size_t max, bool keep_bad,
                            bool shared, char ***dst, size_t *n_dst)
{
    int rc = LBP_OK;
    size_t n, len;
    int arr = array_member(a, o, k, LIST_MAX, &n, &rc);
    if (arr < 0)
        return rc;
    char **v = a_alloc(a, n * sizeof(*v));
    if (!v)
        return LBP_NOMEM;
    size_t j = 0;
    for (int e = lbp_jv_first(a->v, arr); e >= 0; e = lbp_jv_next(a->v, arr, e)) {
        char *s;
        if (shared && (s = tok_word(a, e)))
            ;
        else if (str_val(a, e, max, &len))
            s = a_str(a, e, len);
        else if (keep_bad)
            s = a_strn(a, "", 0);
        else
            continue;
        if (!(*AT(a, v, j++) = s))
            return LBP_NOMEM;
    }
    *dst = v;
    *n_dst = j;
    return LBP_OK;
}

static int copy_str_list(struct arena *a, int o, const char *k, size_t max, char ***dst,
                         size_t *n_dst)
{
    return copy_str_list_ex(a, o, k, max, false, false, dst, n_dst);
}

/*
 * Key order, then the value's place in the block: the earlier copy is the
 * first in the document. (Values, not keys: a key may be a shared word,
 * the same pointer for every duplicate; each value is a copy of its own.)
 */
static int kv_cmp(const struct lbp_kv *x, const struct lbp_kv *y)
{
    int c = strcmp(x->key, y->key);
    return c ? c : x->value < y->value ? -1 : x->value > y->value;
}

static void kv_sift(struct lbp_kv *v, size_t root, size_t n)
{
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && kv_cmp(&v[child], &v[child + 1]) < 0)
            child++;
        if (kv_cmp(&v[root], &v[child]) >= 0)
            return;
        struct lbp_kv t = v[root];
        v[root] = v[child];
        v[child] = t;
    }
}

/*
 * The first of duplicate keys wins, as in every lookup: the API server
 * never sends duplicates (Go maps, keys sorted), so the common case is one
 * pass finding the keys strictly ascending; otherwise an in-place heap
 * sort (no allocation, O(n log n) whatever the input) and the later
 * duplicates dropped. Returns the new count.
 */
static size_t kv_dedup(struct lbp_kv *v, size_t n)
{
    size_t i, j;
    for (i = 1; i < n && strcmp(v[i - 1].key, v[i].key) < 0; i++)
        ;
    if (i >= n)
        return n;
    for (i = n / 2; i-- > 0;)
        kv_sift(v, i, n);
    for (i = n; i-- > 1;) {
        struct lbp_kv t = v[0];
        v[0] = v[i];
        v[i] = t;
        kv_sift(v, 0, i);
    }
    for (i = j = 0; i < n; i++)
        if (j == 0 || strcmp(v[j - 1].key, v[i].key) != 0)
            v[j++] = v[i];
    return j;
}

/* skip: a key left out (NULL: none). */
static int copy_map(struct arena *a, int o, const char *k, size_t vmax, const char *skip,
                    struct lbp_kv **dst, size_t *n_dst)
{
    int m = member(a, o, k);
    if (lbp_jv_type(a->v, m) != JSMN_OBJECT)
        return LBP_OK;
    size_t n = lbp_jv_count(a->v, m);
    if (n == 0)
        return LBP_OK;
    if (n > MAP_MAX)
        return LBP_TOOBIG;
    struct lbp_kv *v = a_alloc(a, n * sizeof(*v));
    if (!v)
        return LBP_NOMEM;
    size_t j = 0;
    for (int key = lbp_jv_first(a->v, m); key >= 0; key = lbp_jv_next(a->v, m, key)) {
        size_t klen = 0, vlen;
        char *kw = tok_word(a, key);
        if ((!kw && (!str_val(a, key, QNAME_MAX, &klen) || klen == 0)) ||
            !str_val(a, key + 1, vmax, &vlen) ||
            (skip && !kw && lbp_jv_str_eq(a->v, key, skip, strlen(skip))))
            continue;
        struct lbp_kv *d = AT(a, v, j++);
        d->key = kw ? kw : a_str(a, key, klen);
        d->value = a_str(a, key + 1, vlen);
        if (!d->key || !d->value)
            return LBP_NOMEM;
    }
    *dst = v;
    *n_dst = a->measure ? j : kv_dedup(v, j);
    return LBP_OK;
}

/* An identity string (name, namespace) into buf: LBP_PARSE unless present and sane. */
static int ident(struct arena *a, int i, char *buf, size_t cap, size_t *lenp)
{
    size_t len;
    if (!str_buf(a, i, buf, cap, &len) || len == 0 || memchr(buf, '/', len))
        return LBP_PARSE;
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
static int decode_meta_ex(struct arena *a, int root, struct lbp_meta *m, bool namespaced,
                          bool ident_only, bool keep_all)
{
    int md = member(a, root, "metadata");
    char name[NAME_MAX_LEN + 1], ns[NS_MAX_LEN + 1], ts[SHORT_MAX + 1];
    size_t nlen, nslen = 0;
    bool has_ns = false;
    int rc;

    if (lbp_jv_type(a->v, md) != JSMN_OBJECT)
        return LBP_PARSE;
    if ((rc = ident(a, member(a, md, "name"), name, sizeof(name), &nlen)))
        return rc;
    int nsv = member(a, md, "namespace");
    if (namespaced && nsv >= 0 && !lbp_jv_null(a->v, nsv)) {
        if ((rc = ident(a, nsv, ns, sizeof(ns), &nslen)))
            return rc;
        has_ns = true;
    }

    if (!(m->name = a_strn(a, name, nlen)))
        return LBP_NOMEM;
    if (has_ns) {
        const char *w = memo_word(a, ns, nslen);
        if (!(m->namespace = w ? (char *)w : a_strn(a, ns, nslen)))
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
    int64_t t;
    if (str_buf(a, member(a, md, "creationTimestamp"), ts, sizeof(ts), NULL) &&
        lbp_parse_rfc3339(ts, &t) == LBP_OK)
        m->creation_s = t;
    m->deleting = lbp_jv_type(a->v, member(a, md, "deletionTimestamp")) == JSMN_STRING;
    m->partial = ident_only;
    if ((rc = copy_str_list_ex(a, md, "finalizers", QNAME_MAX, false, true, &m->finalizers,
                               &m->n_finalizers)))
        return rc;
    if (ident_only)
        return LBP_OK;
    if ((rc = copy_map(a, md, "labels", LABEL_VALUE_MAX, NULL, &m->labels, &m->n_labels)) ||
        (rc = copy_map(a, md, "annotations", ANNOTATION_MAX, keep_all ? NULL : LAST_APPLIED,
                       &m->annotations, &m->n_annotations)))
        return rc;
    return LBP_OK;
}

static int decode_meta(struct arena *a, int root, struct lbp_meta *m, bool namespaced)
{
    return decode_meta_ex(a, root, m, namespaced, false, false);
}

static int decode_ident_namespaced(struct arena *a, int root, void *obj)
{
    return decode_meta_ex(a, root, obj, true, true, false);
}

static int decode_ident_cluster(struct arena *a, int root, void *obj)
{
    return decode_meta_ex(a, root, obj, false, true, false);
}

static int decode_ports(struct arena *a, int spec, struct lbp_service *s)
{
    int rc = LBP_OK;
    size_t n;
    int arr = array_member(a, spec, "ports", LIST_MAX, &n, &rc);
    if (arr < 0)
        return rc;
    if (!(s->ports = a_alloc(a, n * sizeof(*s->ports))))
        return LBP_NOMEM;
    for (int p = lbp_jv_first(a->v, arr); p >= 0; p = lbp_jv_next(a->v, arr, p)) {
        if (lbp_jv_type(a->v, p) != JSMN_OBJECT)
            continue;
        struct lbp_service_port *d = AT(a, s->ports, s->n_ports++);
        if ((rc = copy_str(a, p, "name", NS_MAX_LEN, &d->name)) ||
            (rc = copy_word(a, p, "protocol", SHORT_MAX, &d->protocol)) ||
            (rc = copy_str(a, p, "appProtocol", QNAME_MAX, &d->app_protocol)))
            return rc;
        copy_int(a, p, "port", 0, 65535, &d->port);
        copy_int(a, p, "nodePort", 0, 65535, &d->node_port);
        int64_t x;
        if (lbp_jv_int(a->v, member(a, p, "targetPort"), 0, 65535, &x)) {
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

static int decode_service(struct arena *a, int root, void *obj)
{
    struct lbp_service *s = obj;
    int spec = member(a, root, "spec");
    int rc;

    s->allocate_lb_node_ports = -1;
    if ((rc = decode_meta(a, root, &s->meta, true)))
        return rc;
    if ((rc = copy_word(a, spec, "type", SHORT_MAX, &s->type)) ||
        (rc = copy_str(a, spec, "loadBalancerClass", QNAME_MAX, &s->lb_class)) ||
        (rc = copy_str(a, spec, "loadBalancerIP", SHORT_MAX, &s->lb_ip)) ||
        (rc = copy_str_list_ex(a, spec, "loadBalancerSourceRanges", SHORT_MAX, true, false,
                               &s->lb_source_ranges, &s->n_lb_source_ranges)) ||
        (rc = decode_ports(a, spec, s)) ||
        (rc = copy_map(a, spec, "selector", LABEL_VALUE_MAX, NULL, &s->selector, &s->n_selector)) ||
        (rc = copy_word(a, spec, "sessionAffinity", SHORT_MAX, &s->session_affinity)) ||
        (rc =
             copy_word(a, spec, "externalTrafficPolicy", SHORT_MAX, &s->external_traffic_policy)) ||
        (rc =
             copy_word(a, spec, "internalTrafficPolicy", SHORT_MAX, &s->internal_traffic_policy)) ||
        (rc = copy_str_list_ex(a, spec, "ipFamilies", SHORT_MAX, false, true, &s->ip_families,
                               &s->n_ip_families)) ||
        (rc = copy_word(a, spec, "ipFamilyPolicy", SHORT_MAX, &s->ip_family_policy)) ||
        (rc = copy_str_list(a, spec, "externalIPs", SHORT_MAX, &s->external_ips,
                            &s->n_external_ips)) ||
        (rc = copy_str(a, spec, "clusterIP", SHORT_MAX, &s->cluster_ip)))
        return rc;
    copy_int(a, member(a, member(a, spec, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds",
             0, 86400, &s->session_affinity_timeout);
    copy_int(a, spec, "healthCheckNodePort", 0, 65535, &s->health_check_node_port);
    s->allocate_lb_node_ports = tri(a, member(a, spec, "allocateLoadBalancerNodePorts"));

    size_t n;
    int ing = array_member(a, member(a, member(a, root, "status"), "loadBalancer"), "ingress",
                           LIST_MAX, &n, &rc);
    if (ing < 0)
        return rc;
    if (!(s->ingress = a_alloc(a, n * sizeof(*s->ingress))))
        return LBP_NOMEM;
    for (int e = lbp_jv_first(a->v, ing); e >= 0; e = lbp_jv_next(a->v, ing, e)) {
        if (lbp_jv_type(a->v, e) != JSMN_OBJECT)
            continue;
        struct lbp_lb_ingress *d = AT(a, s->ingress, s->n_ingress++);
        if ((rc = copy_str(a, e, "ip", SHORT_MAX, &d->ip)) ||
            (rc = copy_str(a, e, "hostname", TEXT_MAX, &d->hostname)) ||
            (rc = copy_word(a, e, "ipMode", SHORT_MAX, &d->ip_mode)))
            return rc;
    }
    return LBP_OK;
}

static int decode_node(struct arena *a, int root, void *obj)
{
    struct lbp_node *nd = obj;
    int spec = member(a, root, "spec"), status = member(a, root, "status");
    int arr;
    size_t n;
    int rc = LBP_OK;

    nd->ready = -1;
    if ((rc = decode_meta(a, root, &nd->meta, false)))
        return rc;
    if ((rc = copy_str(a, spec, "providerID", TEXT_MAX, &nd->provider_id)))
        return rc;
    nd->unschedulable = tri(a, member(a, spec, "unschedulable")) == 1;

    if ((arr = array_member(a, status, "addresses", LIST_MAX, &n, &rc)) >= 0) {
        if (!(nd->addresses = a_alloc(a, n * sizeof(*nd->addresses))))
            return LBP_NOMEM;
        for (int e = lbp_jv_first(a->v, arr); e >= 0; e = lbp_jv_next(a->v, arr, e)) {
            if (lbp_jv_type(a->v, e) != JSMN_OBJECT)
                continue;
            struct lbp_node_address *d = AT(a, nd->addresses, nd->n_addresses++);
            if ((rc = copy_str(a, e, "type", SHORT_MAX, &d->type)) ||
                (rc = copy_str(a, e, "address", TEXT_MAX, &d->address)))
                return rc;
        }
    }
    if (rc)
        return rc;
    if ((arr = array_member(a, spec, "taints", LIST_MAX, &n, &rc)) >= 0) {
        if (!(nd->taints = a_alloc(a, n * sizeof(*nd->taints))))
            return LBP_NOMEM;
        for (int e = lbp_jv_first(a->v, arr); e >= 0; e = lbp_jv_next(a->v, arr, e)) {
            if (lbp_jv_type(a->v, e) != JSMN_OBJECT)
                continue;
            struct lbp_taint *d = AT(a, nd->taints, nd->n_taints++);
            if ((rc = copy_str(a, e, "key", QNAME_MAX, &d->key)) ||
                (rc = copy_str(a, e, "value", LABEL_VALUE_MAX, &d->value)) ||
                (rc = copy_str(a, e, "effect", SHORT_MAX, &d->effect)))
                return rc;
        }
    }
    if (rc)
        return rc;
    if ((arr = array_member(a, status, "conditions", LIST_MAX, &n, &rc)) >= 0) {
        for (int e = lbp_jv_first(a->v, arr); e >= 0; e = lbp_jv_next(a->v, arr, e)) {
            if (!lbp_jv_str_eq(a->v, member(a, e, "type"), "Ready", 5))
                continue;
            int st = member(a, e, "status");
            nd->ready = lbp_jv_str_eq(a->v, st, "True", 4)    ? 1
                        : lbp_jv_str_eq(a->v, st, "False", 5) ? 0
                                                              : -1;
        }
    }
    return rc;
}

static int decode_endpointslice(struct arena *a, int root, void *obj)
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
    int arr = array_member(a, root, "endpoints", LIST_MAX, &n, &rc);
    if (arr < 0)
        return rc;
    if (!(es->endpoints = a_alloc(a, n * sizeof(*es->endpoints))))
        return LBP_NOMEM;
    for (int e = lbp_jv_first(a->v, arr); e >= 0; e = lbp_jv_next(a->v, arr, e)) {
        if (lbp_jv_type(a->v, e) != JSMN_OBJECT)
            continue;
        struct lbp_endpoint *d = AT(a, es->endpoints, es->n_endpoints++);
        if ((rc = copy_str_list(a, e, "addresses", TEXT_MAX, &d->addresses, &d->n_addresses)) ||
            (rc = copy_str(a, e, "nodeName", NAME_MAX_LEN, &d->node_name)))
            return rc;
        int c = member(a, e, "conditions");
        d->ready = tri(a, member(a, c, "ready"));
        d->serving = tri(a, member(a, c, "serving"));
        d->terminating = tri(a, member(a, c, "terminating"));
    }
    return LBP_OK;
}

/*
 * MicroTime ("2026-11-26T10:00:00.123456Z") to epoch microseconds; 0 when
 * absent or malformed. The fraction may have 0..9 digits; beyond 6 are cut.
 */
static int64_t micro_time(struct arena *a, int i)
{
    char buf[SHORT_MAX + 1];
    const char *s = str_buf(a, i, buf, sizeof(buf), NULL);
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

static int decode_lease(struct arena *a, int root, void *obj)
{
    struct lbp_lease *l = obj;
    int spec = member(a, root, "spec");
    int rc;

    if ((rc = decode_meta_ex(a, root, &l->meta, true, false, true)))
        return rc;
    if ((rc = copy_str(a, spec, "holderIdentity", TEXT_MAX, &l->holder_identity)))
        return rc;
    copy_int(a, spec, "leaseDurationSeconds", 0, 1 << 30, &l->lease_duration_s);
    copy_int(a, spec, "leaseTransitions", 0, 1 << 30, &l->lease_transitions);
    l->acquire_time_us = micro_time(a, member(a, spec, "acquireTime"));
    l->renew_time_us = micro_time(a, member(a, spec, "renewTime"));
    return LBP_OK;
}

/* ---------------------------------------------------------------- entry points */

typedef int (*decode_fn)(struct arena *a, int root, void *obj);

struct kind_info {
    const char *name;
    size_t size;
    decode_fn decode;
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
static int decode_with(const struct kind_info *k, decode_fn decode, const struct lbp_json_view *v,
                       int root, void **out)
{
    union {
        struct lbp_service s;
        struct lbp_node n;
        struct lbp_endpointslice e;
        struct lbp_lease l;
    } tmp;
    struct arena a = {.v = v, .measure = true};
    char *block = NULL;
    int rc;

    *out = NULL;
    if (lbp_jv_type(v, root) != JSMN_OBJECT)
        return LBP_PARSE;
    memset(&tmp, 0, sizeof(tmp));
    if ((rc = decode(&a, root, &tmp)))
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
    /* the same arena fills: it keeps the measuring pass's shared-word answers */
    a.measure = false;
    a.p = block + head;
    a.end = block + head + a.need;
    a.memo_next = 0;
    if ((rc = decode(&a, root, block)))
        goto out;
    struct lbp_meta *m = (struct lbp_meta *)block;
    m->refs = 1;
    m->free_fn = obj_free;
    *out = block;
    block = NULL;
out:
    free(block);
    return rc;
}

int lbp_kube_decode_obj(enum lbp_kind kind, const struct lbp_json_view *v, int root, void **out)
{
    const struct kind_info *k = kind_info(kind);
    *out = NULL;
    if (!k)
        return LBP_INVALID;
    return decode_with(k, k->decode, v, root, out);
}

int lbp_kube_decode_ident(enum lbp_kind kind, const struct lbp_json_view *v, int root, void **out)
{
    const struct kind_info *k = kind_info(kind);
    *out = NULL;
    if (!k)
        return LBP_INVALID;
    return decode_with(k, k->namespaced ? decode_ident_namespaced : decode_ident_cluster, v, root,
                       out);
}

int lbp_kube_decode(enum lbp_kind kind, const char *json, size_t len, void **out)
{
    jsmntok_t fixed[STACK_TOKENS];
    struct lbp_json_view v;
    int rc;

    *out = NULL;
    if (!json)
        return LBP_PARSE;
    if (!kind_info(kind))
        return LBP_INVALID;
    if (len > DOC_MAX)
        return LBP_TOOBIG;
    lbp_jv_init(&v, fixed, STACK_TOKENS);
    if ((rc = lbp_jv_parse(&v, json, len)) == LBP_OK)
        rc = lbp_kube_decode_obj(kind, &v, 0, out);
    lbp_jv_free(&v);
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
