/*
 * wire_pb.c — Services in Kubernetes' protobuf wire format (see wire_pb.h).
 *
 * The builder reads the JSON with json-c and fills protobuf-c's generated
 * structs in an arena; nothing here is on a hot path except the decoding
 * half, which is what the benchmark times against lbprov's JSON decoder.
 * The mapping walks the unpacked Service twice with the same code, as
 * kube/decode.c walks tokens: first only adding up sizes (array elements
 * all land in one scratch element), then copying into one block of exactly
 * that size, so the result is one malloc like the JSON decoder's.
 */
#include "test/bench/wire_pb.h"
#include "common/rc.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "k8s\0"
#define MAGIC_LEN 4
#define NAME_MAX_LEN 253
#define NS_MAX_LEN 63
#define SHORT_MAX 64
#define QNAME_MAX 317
#define TEXT_MAX 4096
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* ---------------------------------------------------------------- arena */

struct lbp_wire_chunk {
    struct lbp_wire_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

static void *pa_alloc(void *ctx, size_t n)
{
    return lbp_wire_arena_alloc(ctx, n);
}

static void pa_free(void *ctx, void *p)
{
    (void)ctx;
    (void)p;
}

void lbp_wire_arena_init(struct lbp_wire_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size < 4096 ? 4096 : chunk_size;
    a->pa.alloc = pa_alloc;
    a->pa.free = pa_free;
    a->pa.allocator_data = a;
}

void *lbp_wire_arena_alloc(struct lbp_wire_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct lbp_wire_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > a->chunk_size ? n : a->chunk_size;
        if (!(c = malloc(sizeof(*c) + cap)))
            return NULL;
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *r = (char *)c->data + c->used;
    c->used += n;
    return r;
}

void lbp_wire_arena_reset(struct lbp_wire_arena *a)
{
    struct lbp_wire_chunk *c = a->head, *keep = NULL;
    while (c) {
        struct lbp_wire_chunk *next = c->next;
        if (!next) {
            keep = c; /* the oldest: usually the one of chunk_size */
            keep->used = 0;
        } else {
            free(c);
        }
        c = next;
    }
    a->head = keep;
}

void lbp_wire_arena_free(struct lbp_wire_arena *a)
{
    struct lbp_wire_chunk *c = a->head;
    while (c) {
        struct lbp_wire_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

/* ---------------------------------------------------------------- JSON to message */

struct build {
    struct lbp_wire_arena *a;
    bool nomem;
};

static void *b_new(struct build *b, size_t n)
{
    void *p = lbp_wire_arena_alloc(b->a, n);
    if (!p)
        b->nomem = true;
    else
        memset(p, 0, n);
    return p;
}

static char *b_strn(struct build *b, const char *s, size_t len)
{
    char *p = b_new(b, len + 1);
    if (p)
        memcpy(p, s, len);
    return p;
}

static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

/* A Go pointer field: NULL when absent. */
static char *ptr_str(struct build *b, json_object *o, const char *k)
{
    json_object *v = get(o, k);
    if (!v || !json_object_is_type(v, json_type_string))
        return NULL;
    return b_strn(b, json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* A Go non-pointer string: always written, "" when absent. */
static char *go_str(struct build *b, json_object *o, const char *k)
{
    char *s = ptr_str(b, o, k);
    return s ? s : b_strn(b, "", 0);
}

static int32_t go_int(json_object *o, const char *k)
{
    json_object *v = get(o, k);
    return v ? json_object_get_int(v) : 0;
}

static char **str_list(struct build *b, json_object *o, const char *k, size_t *n)
{
    json_object *v = get(o, k);
    *n = 0;
    if (!v || !json_object_is_type(v, json_type_array) || !json_object_array_length(v))
        return NULL;
    size_t len = json_object_array_length(v);
    char **r = b_new(b, len * sizeof(*r));
    if (!r)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        r[i] = b_strn(b, json_object_get_string(e), (size_t)json_object_get_string_len(e));
    }
    *n = len;
    return r;
}

static int key_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/*
 * A map<string,string> as protobuf-c's entry messages, keys sorted as Go's
 * marshaller writes them. desc: the entry's descriptor (labels,
 * annotations and selector have one each, all {key=1, value=2}).
 */
static void *map_entries(struct build *b, json_object *o, const char *k,
                         const ProtobufCMessageDescriptor *desc, size_t *n)
{
    json_object *m = get(o, k);
    *n = 0;
    if (!m || !json_object_is_type(m, json_type_object) || !json_object_object_length(m))
        return NULL;
    size_t len = (size_t)json_object_object_length(m), i = 0;
    const char **keys = b_new(b, len * sizeof(*keys));
    Lbpwire__ObjectMeta__LabelsEntry **r = b_new(b, len * sizeof(*r));
    if (!keys || !r)
        return NULL;
    json_object_object_foreach(m, key, val)
    {
        (void)val;
        keys[i++] = key;
    }
    qsort(keys, len, sizeof(*keys), key_cmp);
    for (i = 0; i < len; i++) {
        Lbpwire__ObjectMeta__LabelsEntry *e = b_new(b, desc->sizeof_message);
        if (!e)
            return NULL;
        protobuf_c_message_init(desc, e);
        e->key = b_strn(b, keys[i], strlen(keys[i]));
        e->value = go_str(b, m, keys[i]);
        r[i] = e;
    }
    *n = len;
    return r;
}

/* meta.v1.Time from RFC 3339; Go writes seconds and nanos, or an empty message for zero. */
static Lbpwire__Time *b_time(struct build *b, json_object *o, const char *k, bool always)
{
    json_object *v = get(o, k);
    int64_t t;
    if (!v && !always)
        return NULL;
    Lbpwire__Time *tm = b_new(b, sizeof(*tm));
    if (!tm)
        return NULL;
    lbpwire__time__init(tm);
    if (v && lbp_parse_rfc3339(json_object_get_string(v), &t) == LBP_OK) {
        tm->has_seconds = tm->has_nanos = 1;
        tm->seconds = t;
    }
    return tm;
}

static void build_meta(struct build *b, json_object *md, Lbpwire__ObjectMeta *m)
{
    json_object *v;
    lbpwire__object_meta__init(m);
    m->name = go_str(b, md, "name");
    m->generatename = go_str(b, md, "generateName");
    m->namespace_ = go_str(b, md, "namespace");
    m->selflink = go_str(b, md, "selfLink");
    m->uid = go_str(b, md, "uid");
    m->resourceversion = go_str(b, md, "resourceVersion");
    m->has_generation = 1;
    m->generation = (v = get(md, "generation")) ? json_object_get_int64(v) : 0;
    m->creationtimestamp = b_time(b, md, "creationTimestamp", true);
    m->deletiontimestamp = b_time(b, md, "deletionTimestamp", false);
    if ((v = get(md, "deletionGracePeriodSeconds"))) {
        m->has_deletiongraceperiodseconds = 1;
        m->deletiongraceperiodseconds = json_object_get_int64(v);
    }
    m->labels =
        map_entries(b, md, "labels", &lbpwire__object_meta__labels_entry__descriptor, &m->n_labels);
    m->annotations =
        map_entries(b, md, "annotations", &lbpwire__object_meta__annotations_entry__descriptor,
                    &m->n_annotations);
    m->finalizers = str_list(b, md, "finalizers", &m->n_finalizers);

    json_object *mf = get(md, "managedFields");
    size_t n = mf && json_object_is_type(mf, json_type_array) ? json_object_array_length(mf) : 0;
    if (!n)
        return;
    if (!(m->managedfields = b_new(b, n * sizeof(*m->managedfields))))
        return;
    m->n_managedfields = n;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(mf, i), *f;
        Lbpwire__ManagedFieldsEntry *d = b_new(b, sizeof(*d));
        if (!d)
            return;
        lbpwire__managed_fields_entry__init(d);
        d->manager = go_str(b, e, "manager");
        d->operation = go_str(b, e, "operation");
        d->apiversion = go_str(b, e, "apiVersion");
        d->time = b_time(b, e, "time", false);
        d->fieldstype = go_str(b, e, "fieldsType");
        d->subresource = go_str(b, e, "subresource");
        if ((f = get(e, "fieldsV1"))) {
            size_t len;
            const char *raw = json_object_to_json_string_length(f, JSON_C_TO_STRING_PLAIN, &len);
            if (!(d->fieldsv1 = b_new(b, sizeof(*d->fieldsv1))))
                return;
            lbpwire__fields_v1__init(d->fieldsv1);
            d->fieldsv1->has_raw = 1;
            d->fieldsv1->raw.len = len;
            d->fieldsv1->raw.data = (uint8_t *)b_strn(b, raw, len);
        }
        m->managedfields[i] = d;
    }
}

static void build_spec(struct build *b, json_object *sp, Lbpwire__ServiceSpec *s)
{
    json_object *v;
    lbpwire__service_spec__init(s);
    json_object *ports = get(sp, "ports");
    size_t n =
        ports && json_object_is_type(ports, json_type_array) ? json_object_array_length(ports) : 0;
    if (n && (s->ports = b_new(b, n * sizeof(*s->ports)))) {
        s->n_ports = n;
        for (size_t i = 0; i < n; i++) {
            json_object *p = json_object_array_get_idx(ports, i), *tp = get(p, "targetPort");
            Lbpwire__ServicePort *d = b_new(b, sizeof(*d));
            Lbpwire__IntOrString *t = b_new(b, sizeof(*t));
            if (!d || !t)
                return;
            lbpwire__service_port__init(d);
            lbpwire__int_or_string__init(t);
            d->name = go_str(b, p, "name");
            d->protocol = go_str(b, p, "protocol");
            d->has_port = d->has_nodeport = 1;
            d->port = go_int(p, "port");
            d->nodeport = go_int(p, "nodePort");
            d->appprotocol = ptr_str(b, p, "appProtocol");
            t->has_type = t->has_intval = 1;
            if (tp && json_object_is_type(tp, json_type_string)) {
                t->type = 1;
                t->strval = go_str(b, p, "targetPort");
            } else {
                t->intval = tp ? json_object_get_int(tp) : 0;
                t->strval = b_strn(b, "", 0);
            }
            d->targetport = t;
            s->ports[i] = d;
        }
    }
    s->selector = map_entries(b, sp, "selector", &lbpwire__service_spec__selector_entry__descriptor,
                              &s->n_selector);
    s->clusterip = go_str(b, sp, "clusterIP");
    s->clusterips = str_list(b, sp, "clusterIPs", &s->n_clusterips);
    s->type = go_str(b, sp, "type");
    s->externalips = str_list(b, sp, "externalIPs", &s->n_externalips);
    s->sessionaffinity = go_str(b, sp, "sessionAffinity");
    s->loadbalancerip = go_str(b, sp, "loadBalancerIP");
    s->loadbalancersourceranges =
        str_list(b, sp, "loadBalancerSourceRanges", &s->n_loadbalancersourceranges);
    s->externalname = go_str(b, sp, "externalName");
    s->externaltrafficpolicy = go_str(b, sp, "externalTrafficPolicy");
    s->has_healthchecknodeport = s->has_publishnotreadyaddresses = 1;
    s->healthchecknodeport = go_int(sp, "healthCheckNodePort");
    s->publishnotreadyaddresses =
        (v = get(sp, "publishNotReadyAddresses")) && json_object_get_boolean(v);
    if ((v = get(get(get(sp, "sessionAffinityConfig"), "clientIP"), "timeoutSeconds"))) {
        Lbpwire__SessionAffinityConfig *c = b_new(b, sizeof(*c));
        Lbpwire__ClientIPConfig *ci = b_new(b, sizeof(*ci));
        if (!c || !ci)
            return;
        lbpwire__session_affinity_config__init(c);
        lbpwire__client_ipconfig__init(ci);
        ci->has_timeoutseconds = 1;
        ci->timeoutseconds = json_object_get_int(v);
        c->clientip = ci;
        s->sessionaffinityconfig = c;
    }
    s->ipfamilies = str_list(b, sp, "ipFamilies", &s->n_ipfamilies);
    s->ipfamilypolicy = ptr_str(b, sp, "ipFamilyPolicy");
    if ((v = get(sp, "allocateLoadBalancerNodePorts"))) {
        s->has_allocateloadbalancernodeports = 1;
        s->allocateloadbalancernodeports = json_object_get_boolean(v);
    }
    s->loadbalancerclass = ptr_str(b, sp, "loadBalancerClass");
    s->internaltrafficpolicy = ptr_str(b, sp, "internalTrafficPolicy");
    s->trafficdistribution = ptr_str(b, sp, "trafficDistribution");
}

static void build_status(struct build *b, json_object *st, Lbpwire__ServiceStatus *s)
{
    Lbpwire__LoadBalancerStatus *lb = b_new(b, sizeof(*lb));
    lbpwire__service_status__init(s);
    if (!lb)
        return;
    lbpwire__load_balancer_status__init(lb);
    s->loadbalancer = lb;
    json_object *ing = get(get(st, "loadBalancer"), "ingress");
    size_t n = ing && json_object_is_type(ing, json_type_array) ? json_object_array_length(ing) : 0;
    if (!n || !(lb->ingress = b_new(b, n * sizeof(*lb->ingress))))
        return;
    lb->n_ingress = n;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(ing, i), *ports = get(e, "ports");
        Lbpwire__LoadBalancerIngress *d = b_new(b, sizeof(*d));
        if (!d)
            return;
        lbpwire__load_balancer_ingress__init(d);
        d->ip = go_str(b, e, "ip");
        d->hostname = go_str(b, e, "hostname");
        d->ipmode = ptr_str(b, e, "ipMode");
        size_t np = ports && json_object_is_type(ports, json_type_array)
                        ? json_object_array_length(ports)
                        : 0;
        if (np && (d->ports = b_new(b, np * sizeof(*d->ports)))) {
            d->n_ports = np;
            for (size_t j = 0; j < np; j++) {
                json_object *p = json_object_array_get_idx(ports, j);
                Lbpwire__PortStatus *ps = b_new(b, sizeof(*ps));
                if (!ps)
                    return;
                lbpwire__port_status__init(ps);
                ps->has_port = 1;
                ps->port = go_int(p, "port");
                ps->protocol = go_str(b, p, "protocol");
                ps->error = ptr_str(b, p, "error");
                d->ports[j] = ps;
            }
        }
        lb->ingress[i] = d;
    }
}

int lbp_wire_service_from_json(struct lbp_wire_arena *a, const char *json, size_t len,
                               Lbpwire__Service **out)
{
    struct build b = {.a = a};
    json_tokener *tok = json_tokener_new();
    json_object *root = NULL;
    int rc = LBP_PARSE;

    *out = NULL;
    if (!tok)
        return LBP_NOMEM;
    root = json_tokener_parse_ex(tok, json, (int)len);
    if (!root || !json_object_is_type(root, json_type_object) || !get(root, "metadata"))
        goto out;
    Lbpwire__Service *s = b_new(&b, sizeof(*s));
    Lbpwire__ObjectMeta *m = b_new(&b, sizeof(*m));
    Lbpwire__ServiceSpec *sp = b_new(&b, sizeof(*sp));
    Lbpwire__ServiceStatus *st = b_new(&b, sizeof(*st));
    if (b.nomem) {
        rc = LBP_NOMEM;
        goto out;
    }
    lbpwire__service__init(s);
    build_meta(&b, get(root, "metadata"), m);
    build_spec(&b, get(root, "spec"), sp);
    build_status(&b, get(root, "status"), st);
    s->metadata = m;
    s->spec = sp;
    s->status = st;
    if (b.nomem) {
        rc = LBP_NOMEM;
        goto out;
    }
    *out = s;
    rc = LBP_OK;
out:
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

/* ---------------------------------------------------------------- framing */

int lbp_wire_envelope(const ProtobufCMessage *msg, const char *api_version, const char *kind,
                      uint8_t **out, size_t *out_len)
{
    Lbpwire__TypeMeta tm = LBPWIRE__TYPE_META__INIT;
    Lbpwire__Unknown u = LBPWIRE__UNKNOWN__INIT;
    size_t raw_len = protobuf_c_message_get_packed_size(msg);
    uint8_t *raw = malloc(raw_len ? raw_len : 1), *buf = NULL;
    int rc = LBP_NOMEM;

    *out = NULL;
    if (!raw)
        goto out;
    protobuf_c_message_pack(msg, raw);
    tm.apiversion = (char *)api_version;
    tm.kind = (char *)kind;
    u.typemeta = &tm;
    u.has_raw = 1;
    u.raw.data = raw;
    u.raw.len = raw_len;
    u.contentencoding = (char *)""; /* Go writes both, empty */
    u.contenttype = (char *)"";
    size_t n = lbpwire__unknown__get_packed_size(&u);
    if (!(buf = malloc(MAGIC_LEN + n)))
        goto out;
    memcpy(buf, MAGIC, MAGIC_LEN);
    lbpwire__unknown__pack(&u, buf + MAGIC_LEN);
    *out = buf;
    *out_len = MAGIC_LEN + n;
    rc = LBP_OK;
out:
    free(raw);
    return rc;
}

int lbp_wire_watch_frame(const char *type, const uint8_t *env, size_t env_len, uint8_t **out,
                         size_t *out_len)
{
    Lbpwire__RawExtension obj = LBPWIRE__RAW_EXTENSION__INIT;
    Lbpwire__WatchEvent ev = LBPWIRE__WATCH_EVENT__INIT;
    obj.has_raw = 1;
    obj.raw.data = (uint8_t *)env;
    obj.raw.len = env_len;
    ev.type = (char *)type;
    ev.object = &obj;
    size_t n = lbpwire__watch_event__get_packed_size(&ev);
    uint8_t *buf;

    *out = NULL;
    if (n > UINT32_MAX)
        return LBP_TOOBIG;
    if (!(buf = malloc(4 + n)))
        return LBP_NOMEM;
    buf[0] = (uint8_t)(n >> 24);
    buf[1] = (uint8_t)(n >> 16);
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    lbpwire__watch_event__pack(&ev, buf + 4);
    *out = buf;
    *out_len = 4 + n;
    return LBP_OK;
}

/* ---------------------------------------------------------------- message to struct */

union sink {
    struct lbp_service_port port;
    struct lbp_lb_ingress ingress;
    struct lbp_kv kv;
    char *str;
};

struct blk {
    bool measure;
    size_t need;
    char *p, *end;
    union sink sink;
};

#define AT(b, base, i) ((b)->measure ? (base) : (base) + (i))

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static void *k_alloc(struct blk *b, size_t n)
{
    n = align8(n ? n : 1);
    if (b->measure) {
        b->need += n;
        return &b->sink;
    }
    if ((size_t)(b->end - b->p) < n)
        return NULL;
    void *r = b->p;
    b->p += n;
    return r;
}

static char *k_strn(struct blk *b, const char *s, size_t len)
{
    if (b->measure) {
        b->need += align8(len + 1);
        return (char *)"";
    }
    char *r = k_alloc(b, len + 1);
    if (r)
        memcpy(r, s, len);
    return r;
}

/*
 * s copied when present and at most max bytes; *dst NULL otherwise. omit:
 * a Go non-pointer field, whose "" means unset (JSON leaves it out).
 */
static int k_str(struct blk *b, const char *s, size_t max, bool omit, char **dst)
{
    size_t len;
    *dst = NULL;
    if (!s || (len = strlen(s)) > max || (omit && !len))
        return LBP_OK;
    return (*dst = k_strn(b, s, len)) ? LBP_OK : LBP_NOMEM;
}

static int k_list(struct blk *b, char **v, size_t n, size_t max, char ***dst, size_t *n_dst)
{
    size_t j = 0;
    if (!n)
        return LBP_OK;
    char **r = k_alloc(b, n * sizeof(*r));
    if (!r)
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char *s;
        int rc = k_str(b, v[i], max, false, &s);
        if (rc)
            return rc;
        if (s)
            *AT(b, r, j++) = s;
    }
    *dst = r;
    *n_dst = j;
    return LBP_OK;
}

static int kv_cmp(const void *x, const void *y)
{
    return strcmp(((const struct lbp_kv *)x)->key, ((const struct lbp_kv *)y)->key);
}

/* Map entries (each {key, value}); skip: a key left out. Sorted, first of duplicates kept. */
static int k_map(struct blk *b, Lbpwire__ObjectMeta__LabelsEntry **e, size_t n, size_t vmax,
                 const char *skip, struct lbp_kv **dst, size_t *n_dst)
{
    size_t j = 0;
    if (!n)
        return LBP_OK;
    struct lbp_kv *r = k_alloc(b, n * sizeof(*r));
    if (!r)
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *k = e[i]->key, *v = e[i]->value ? e[i]->value : "";
        if (!k || !*k || strlen(k) > QNAME_MAX || strlen(v) > vmax || (skip && !strcmp(k, skip)))
            continue;
        struct lbp_kv *d = AT(b, r, j++);
        if (!(d->key = k_strn(b, k, strlen(k))) || !(d->value = k_strn(b, v, strlen(v))))
            return LBP_NOMEM;
    }
    if (!b->measure) {
        size_t i;
        for (i = 1; i < j && strcmp(r[i - 1].key, r[i].key) < 0; i++)
            ;
        if (i < j) { /* Go writes keys sorted; anything else is sorted here */
            qsort(r, j, sizeof(*r), kv_cmp);
            size_t w = 0;
            for (i = 0; i < j; i++)
                if (!w || strcmp(r[w - 1].key, r[i].key))
                    r[w++] = r[i];
            j = w;
        }
    }
    *dst = r;
    *n_dst = j;
    return LBP_OK;
}

static bool ident_ok(const char *s, size_t max)
{
    size_t len = s ? strlen(s) : 0;
    return len && len <= max && !memchr(s, '/', len);
}

static int map_meta(struct blk *b, const Lbpwire__ObjectMeta *md, struct lbp_meta *m)
{
    int rc;
    if (!md || !ident_ok(md->name, NAME_MAX_LEN))
        return LBP_PARSE;
    bool has_ns = md->namespace_ && *md->namespace_;
    if (has_ns && !ident_ok(md->namespace_, NS_MAX_LEN))
        return LBP_PARSE;
    size_t nlen = strlen(md->name), nslen = has_ns ? strlen(md->namespace_) : 0;
    if (!(m->name = k_strn(b, md->name, nlen)))
        return LBP_NOMEM;
    if (has_ns) {
        if (!(m->namespace = k_strn(b, md->namespace_, nslen)) ||
            !(m->key = k_alloc(b, nslen + 1 + nlen + 1)))
            return LBP_NOMEM;
        if (!b->measure) {
            memcpy(m->key, md->namespace_, nslen);
            m->key[nslen] = '/';
            memcpy(m->key + nslen + 1, md->name, nlen + 1);
        }
    } else {
        m->key = m->name;
    }
    if ((rc = k_str(b, md->uid, SHORT_MAX, true, &m->uid)) ||
        (rc = k_str(b, md->resourceversion, SHORT_MAX, true, &m->resource_version)))
        return rc;
    if (md->creationtimestamp && md->creationtimestamp->has_seconds)
        m->creation_s = md->creationtimestamp->seconds;
    m->deleting = md->deletiontimestamp != NULL;
    if ((rc = k_list(b, md->finalizers, md->n_finalizers, QNAME_MAX, &m->finalizers,
                     &m->n_finalizers)) ||
        (rc = k_map(b, md->labels, md->n_labels, 1024, NULL, &m->labels, &m->n_labels)) ||
        (rc = k_map(b, (Lbpwire__ObjectMeta__LabelsEntry **)md->annotations, md->n_annotations,
                    SIZE_MAX, LAST_APPLIED, &m->annotations, &m->n_annotations)))
        return rc;
    return LBP_OK;
}

static int map_ports(struct blk *b, const Lbpwire__ServiceSpec *sp, struct lbp_service *s)
{
    int rc;
    if (!sp->n_ports)
        return LBP_OK;
    if (!(s->ports = k_alloc(b, sp->n_ports * sizeof(*s->ports))))
        return LBP_NOMEM;
    for (size_t i = 0; i < sp->n_ports; i++) {
        const Lbpwire__ServicePort *p = sp->ports[i];
        struct lbp_service_port *d = AT(b, s->ports, s->n_ports++);
        if ((rc = k_str(b, p->name, NS_MAX_LEN, true, &d->name)) ||
            (rc = k_str(b, p->protocol, SHORT_MAX, true, &d->protocol)) ||
            (rc = k_str(b, p->appprotocol, QNAME_MAX, false, &d->app_protocol)))
            return rc;
        if (p->port >= 0 && p->port <= 65535)
            d->port = p->port;
        if (p->nodeport >= 0 && p->nodeport <= 65535)
            d->node_port = p->nodeport;
        const Lbpwire__IntOrString *t = p->targetport;
        if (t && t->type == 0 && t->intval > 0 && t->intval <= 65535) {
            char num[8], *q = num + sizeof(num);
            int x = t->intval;
            do
                *--q = (char)('0' + x % 10);
            while ((x /= 10) > 0);
            if (!(d->target_port = k_strn(b, q, (size_t)(num + sizeof(num) - q))))
                return LBP_NOMEM;
        } else if (t && t->type == 1 &&
                   (rc = k_str(b, t->strval, NS_MAX_LEN, true, &d->target_port))) {
            return rc;
        }
    }
    return LBP_OK;
}

static int map_service(struct blk *b, const Lbpwire__Service *m, struct lbp_service *s)
{
    static const Lbpwire__ServiceSpec no_spec = LBPWIRE__SERVICE_SPEC__INIT;
    const Lbpwire__ServiceSpec *sp = m->spec ? m->spec : &no_spec;
    int rc;

    s->allocate_lb_node_ports = -1;
    if ((rc = map_meta(b, m->metadata, &s->meta)))
        return rc;
    if ((rc = k_str(b, sp->type, SHORT_MAX, true, &s->type)) ||
        (rc = k_str(b, sp->loadbalancerclass, QNAME_MAX, false, &s->lb_class)) ||
        (rc = k_str(b, sp->loadbalancerip, SHORT_MAX, true, &s->lb_ip)) ||
        (rc = k_list(b, sp->loadbalancersourceranges, sp->n_loadbalancersourceranges, SHORT_MAX,
                     &s->lb_source_ranges, &s->n_lb_source_ranges)) ||
        (rc = map_ports(b, sp, s)) ||
        (rc = k_map(b, (Lbpwire__ObjectMeta__LabelsEntry **)sp->selector, sp->n_selector, 1024,
                    NULL, &s->selector, &s->n_selector)) ||
        (rc = k_str(b, sp->sessionaffinity, SHORT_MAX, true, &s->session_affinity)) ||
        (rc = k_str(b, sp->externaltrafficpolicy, SHORT_MAX, true, &s->external_traffic_policy)) ||
        (rc = k_str(b, sp->internaltrafficpolicy, SHORT_MAX, false, &s->internal_traffic_policy)) ||
        (rc = k_list(b, sp->ipfamilies, sp->n_ipfamilies, SHORT_MAX, &s->ip_families,
                     &s->n_ip_families)) ||
        (rc = k_str(b, sp->ipfamilypolicy, SHORT_MAX, false, &s->ip_family_policy)) ||
        (rc = k_list(b, sp->externalips, sp->n_externalips, SHORT_MAX, &s->external_ips,
                     &s->n_external_ips)) ||
        (rc = k_str(b, sp->clusterip, SHORT_MAX, true, &s->cluster_ip)))
        return rc;
    if (sp->sessionaffinityconfig && sp->sessionaffinityconfig->clientip &&
        sp->sessionaffinityconfig->clientip->has_timeoutseconds) {
        int32_t t = sp->sessionaffinityconfig->clientip->timeoutseconds;
        if (t >= 0 && t <= 86400)
            s->session_affinity_timeout = t;
    }
    if (sp->healthchecknodeport >= 0 && sp->healthchecknodeport <= 65535)
        s->health_check_node_port = sp->healthchecknodeport;
    if (sp->has_allocateloadbalancernodeports)
        s->allocate_lb_node_ports = sp->allocateloadbalancernodeports ? 1 : 0;

    const Lbpwire__LoadBalancerStatus *lb = m->status ? m->status->loadbalancer : NULL;
    if (!lb || !lb->n_ingress)
        return LBP_OK;
    if (!(s->ingress = k_alloc(b, lb->n_ingress * sizeof(*s->ingress))))
        return LBP_NOMEM;
    for (size_t i = 0; i < lb->n_ingress; i++) {
        const Lbpwire__LoadBalancerIngress *e = lb->ingress[i];
        struct lbp_lb_ingress *d = AT(b, s->ingress, s->n_ingress++);
        if ((rc = k_str(b, e->ip, SHORT_MAX, true, &d->ip)) ||
            (rc = k_str(b, e->hostname, TEXT_MAX, true, &d->hostname)) ||
            (rc = k_str(b, e->ipmode, SHORT_MAX, false, &d->ip_mode)))
            return rc;
    }
    return LBP_OK;
}

static void obj_free(struct lbp_meta *m)
{
    free(m);
}

int lbp_wire_map_service(const Lbpwire__Service *m, struct lbp_service **out)
{
    struct lbp_service tmp;
    struct blk b = {.measure = true};
    char *block = NULL;
    int rc;

    *out = NULL;
    memset(&tmp, 0, sizeof(tmp));
    if ((rc = map_service(&b, m, &tmp)))
        return rc;
    size_t head = align8(sizeof(struct lbp_service));
    if (!(block = calloc(1, head + b.need)))
        return LBP_NOMEM;
    b.measure = false;
    b.p = block + head;
    b.end = block + head + b.need;
    if ((rc = map_service(&b, m, (struct lbp_service *)block))) {
        free(block);
        return rc;
    }
    struct lbp_meta *meta = (struct lbp_meta *)block;
    meta->refs = 1;
    meta->free_fn = obj_free;
    *out = (struct lbp_service *)block;
    return LBP_OK;
}

/* ---------------------------------------------------------------- decoding */

int lbp_wire_unwrap(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                    Lbpwire__Unknown **out)
{
    *out = NULL;
    if (len < MAGIC_LEN || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
        return LBP_PARSE;
    if (!(*out = lbpwire__unknown__unpack(alloc, len - MAGIC_LEN, buf + MAGIC_LEN)))
        return LBP_PARSE;
    return LBP_OK;
}

/* The envelope's raw bytes when it says kind (and protobuf content), else NULL. */
static const ProtobufCBinaryData *payload(const Lbpwire__Unknown *u, const char *kind)
{
    if (!u->typemeta || !u->typemeta->kind || strcmp(u->typemeta->kind, kind) != 0 || !u->has_raw ||
        (u->contentencoding && *u->contentencoding))
        return NULL;
    return &u->raw;
}

int lbp_wire_decode_service(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                            struct lbp_service **out)
{
    Lbpwire__Unknown *u = NULL;
    Lbpwire__Service *s = NULL;
    const ProtobufCBinaryData *raw;
    int rc;

    *out = NULL;
    if ((rc = lbp_wire_unwrap(buf, len, alloc, &u)))
        return rc;
    rc = LBP_PARSE;
    if (!(raw = payload(u, "Service")) ||
        !(s = lbpwire__service__unpack(alloc, raw->len, raw->data)))
        goto out;
    rc = lbp_wire_map_service(s, out);
out:
    lbpwire__service__free_unpacked(s, alloc);
    lbpwire__unknown__free_unpacked(u, alloc);
    return rc;
}

int lbp_wire_decode_watch(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc, char *type,
                          size_t type_cap, struct lbp_service **out)
{
    Lbpwire__WatchEvent *ev = NULL;
    int rc = LBP_PARSE;

    *out = NULL;
    if (len < 4)
        return LBP_PARSE;
    size_t n = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
    if (n > len - 4 || !(ev = lbpwire__watch_event__unpack(alloc, n, buf + 4)))
        return LBP_PARSE;
    if (!ev->type || strlen(ev->type) >= type_cap || !ev->object || !ev->object->has_raw)
        goto out;
    lbp_strlcpy(type, ev->type, type_cap);
    rc = lbp_wire_decode_service(ev->object->raw.data, ev->object->raw.len, alloc, out);
out:
    lbpwire__watch_event__free_unpacked(ev, alloc);
    return rc;
}

int lbp_wire_decode_list(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                         struct lbp_service ***out, size_t *n)
{
    Lbpwire__Unknown *u = NULL;
    Lbpwire__ServiceList *l = NULL;
    const ProtobufCBinaryData *raw;
    struct lbp_service **v = NULL;
    size_t j = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if ((rc = lbp_wire_unwrap(buf, len, alloc, &u)))
        return rc;
    rc = LBP_PARSE;
    if (!(raw = payload(u, "ServiceList")) ||
        !(l = lbpwire__service_list__unpack(alloc, raw->len, raw->data)))
        goto out;
    rc = LBP_NOMEM;
    if (l->n_items && !(v = calloc(l->n_items, sizeof(*v))))
        goto out;
    for (size_t i = 0; i < l->n_items; i++)
        if ((rc = lbp_wire_map_service(l->items[i], &v[j])) == LBP_OK)
            j++;
        else if (rc == LBP_NOMEM)
            goto out;
    *out = v;
    *n = j;
    v = NULL;
    rc = LBP_OK;
out:
    for (size_t i = 0; v && i < j; i++)
        lbp_kube_obj_unref(v[i]);
    free(v);
    lbpwire__service_list__free_unpacked(l, alloc);
    lbpwire__unknown__free_unpacked(u, alloc);
    return rc;
}
