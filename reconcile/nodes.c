/*
 * nodes.c — which Nodes are load-balancer backends, and the set of them.
 *
 * The set is rebuilt from the Node cache whenever a Node event arrives and
 * published as one immutable, reference-counted object with a hash, so a
 * worker compares one number to learn whether an LB's backends are stale.
 */
#include "reconcile/reconcile_int.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Go's strconv.ParseBool false values: anything else excludes the node. */
static bool parses_false(const char *v)
{
    static const char *const f[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < LBP_ARRAY_LEN(f); i++)
        if (strcmp(v, f[i]) == 0)
            return true;
    return false;
}

bool lbp_node_eligible(const struct lbp_node *n, bool ready_filter)
{
    const char *ex;
    if (n->meta.deleting)
        return false;
    ex = lbp_meta_label(&n->meta, LBP_EXCLUDE_LABEL);
    if (ex && !parses_false(ex))
        return false;
    for (size_t i = 0; i < n->n_taints; i++)
        if (n->taints[i].key && strcmp(n->taints[i].key, LBP_CA_TAINT) == 0)
            return false;
    if (ready_filter && n->ready != 1)
        return false;
    return true;
}

static const char *first_addr(const struct lbp_node *n, const char *type)
{
    for (size_t i = 0; i < n->n_addresses; i++)
        if (n->addresses[i].type && strcmp(n->addresses[i].type, type) == 0)
            return n->addresses[i].address;
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    const struct lbp_lb_node *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static uint64_t fnv(uint64_t h, const char *s)
{
    if (s)
        for (; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ull;
        }
    h ^= 0xff; /* separator: "ab"+"c" differs from "a"+"bc" */
    h *= 1099511628211ull;
    return h;
}

/*
 * One allocation: the node array, then every node's labels, then the
 * strings. Labels ride along for clouds whose annotations pick nodes by
 * label (AWS target-node-labels) but stay out of the hash: as upstream, a
 * relabelled node does not make every load balancer sync.
 */
struct lbp_nodeset *lbp_nodeset_build(void *const *nodes, size_t n, bool ready_filter)
{
    size_t count = 0, strbytes = 0, nlabels = 0;
    struct lbp_lb_annotation *lab;
    struct lbp_nodeset *s;
    char *p;
    for (size_t i = 0; i < n; i++) {
        const struct lbp_node *nd = nodes[i];
        const char *in, *ex;
        if (!lbp_node_eligible(nd, ready_filter))
            continue;
        in = first_addr(nd, "InternalIP");
        ex = first_addr(nd, "ExternalIP");
        count++;
        strbytes += strlen(nd->meta.name) + 1 + (nd->provider_id ? strlen(nd->provider_id) : 0) +
                    1 + (in ? strlen(in) : 0) + 1 + (ex ? strlen(ex) : 0) + 1;
        for (size_t j = 0; j < nd->meta.n_labels; j++)
            strbytes += strlen(nd->meta.labels[j].key) + 1 + strlen(nd->meta.labels[j].value) + 1;
        nlabels += nd->meta.n_labels;
    }
    s = calloc(1, sizeof(*s) + count * sizeof(struct lbp_lb_node) +
                      nlabels * sizeof(struct lbp_lb_annotation) + strbytes);
    if (!s)
        return NULL;
    s->refs = 1;
    s->nodes = (struct lbp_lb_node *)(s + 1);
    lab = (struct lbp_lb_annotation *)(s->nodes + count);
    p = (char *)(lab + nlabels);
#define COPY(dst, src)                                                                             \
    do {                                                                                           \
        if (src) {                                                                                 \
            size_t l_ = strlen(src) + 1;                                                           \
            memcpy(p, src, l_);                                                                    \
            (dst) = p;                                                                             \
            p += l_;                                                                               \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        const struct lbp_node *nd = nodes[i];
        struct lbp_lb_node *o;
        const char *in, *ex;
        if (!lbp_node_eligible(nd, ready_filter))
            continue;
        in = first_addr(nd, "InternalIP");
        ex = first_addr(nd, "ExternalIP");
        o = &s->nodes[s->n++];
        COPY(o->name, nd->meta.name);
        COPY(o->provider_id, nd->provider_id);
        COPY(o->internal_ip, in);
        COPY(o->external_ip, ex);
        o->labels = lab;
        o->n_labels = nd->meta.n_labels;
        for (size_t j = 0; j < nd->meta.n_labels; j++, lab++) {
            COPY(lab->key, nd->meta.labels[j].key);
            COPY(lab->value, nd->meta.labels[j].value);
        }
        if (!o->n_labels)
            o->labels = NULL;
    }
#undef COPY
    qsort(s->nodes, s->n, sizeof(*s->nodes), by_name);
    s->hash = 14695981039346656037ull;
    for (size_t i = 0; i < s->n; i++) {
        s->hash = fnv(s->hash, s->nodes[i].name);
        s->hash = fnv(s->hash, s->nodes[i].provider_id);
        s->hash = fnv(s->hash, s->nodes[i].internal_ip);
        s->hash = fnv(s->hash, s->nodes[i].external_ip);
    }
    return s;
}

struct lbp_nodeset *lbp_nodeset_ref(struct lbp_nodeset *s)
{
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
    return s;
}

void lbp_nodeset_unref(struct lbp_nodeset *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(s);
}
