/*
 * desired.c — what a Service asks of the cloud: lbp_lb_spec from a Service
 * and the eligible node set, and the hash that says whether it changed.
 *
 * The hash covers exactly upstream's re-sync triggers (type, class, source
 * ranges, ports, session affinity, loadBalancerIP, externalIPs,
 * annotations, UID, externalTrafficPolicy, healthCheckNodePort, number of
 * IP families). Status, resourceVersion and finalizers are left out, so
 * lbprov's own writes never cause another cloud call. Labels and the
 * selector have a hash of their own (lbp_service_label_hash) that only
 * providers which consume them add in.
 */
#include "reconcile/reconcile_int.h"
#include "common/buf.h"
#include "common/rc.h"
#include "common/sha256.h"
#include "common/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool lbp_service_handled(const struct lbp_service *svc, const char *lb_class)
{
    if (!lbp_streq(svc->type, "LoadBalancer"))
        return false;
    if (!svc->lb_class || !svc->lb_class[0])
        return true;
    return lb_class && strcmp(svc->lb_class, lb_class) == 0;
}

static uint64_t h_str(uint64_t h, const char *s)
{
    if (s)
        for (; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 1099511628211ull;
        }
    h ^= s ? 0xfe : 0xff; /* NULL and "" differ; fields never run together */
    h *= 1099511628211ull;
    return h;
}

/* Hashes v's decimal form, as "%ld" writes it; by hand, since printf dominated the hash. */
static uint64_t h_int(uint64_t h, long v)
{
    char b[24], *p = b + sizeof(b) - 1;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    *p = '\0';
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return h_str(h, p);
}

uint64_t lbp_service_hash(const struct lbp_service *svc)
{
    uint64_t h = 14695981039346656037ull;
    h = h_str(h, svc->meta.uid);
    h = h_str(h, svc->type);
    h = h_str(h, svc->lb_class);
    h = h_int(h, (long)svc->n_lb_source_ranges);
    for (size_t i = 0; i < svc->n_lb_source_ranges; i++)
        h = h_str(h, svc->lb_source_ranges[i]);
    h = h_int(h, (long)svc->n_ports);
    for (size_t i = 0; i < svc->n_ports; i++) {
        const struct lbp_service_port *p = &svc->ports[i];
        h = h_str(h, p->name);
        h = h_str(h, p->protocol);
        h = h_int(h, p->port);
        h = h_int(h, p->node_port);
        h = h_str(h, p->target_port);
        h = h_str(h, p->app_protocol);
    }
    h = h_str(h, svc->session_affinity);
    h = h_int(h, svc->session_affinity_timeout);
    h = h_str(h, svc->lb_ip);
    h = h_int(h, (long)svc->n_external_ips);
    for (size_t i = 0; i < svc->n_external_ips; i++)
        h = h_str(h, svc->external_ips[i]);
    h = h_int(h, (long)svc->meta.n_annotations);
    for (size_t i = 0; i < svc->meta.n_annotations; i++) {
        h = h_str(h, svc->meta.annotations[i].key);
        h = h_str(h, svc->meta.annotations[i].value);
    }
    h = h_str(h, svc->external_traffic_policy);
    h = h_int(h, svc->health_check_node_port);
    h = h_int(h, (long)svc->n_ip_families);
    h = h_int(h, svc->allocate_lb_node_ports);
    return h;
}

uint64_t lbp_service_label_hash(const struct lbp_service *svc)
{
    uint64_t h = 14695981039346656037ull;
    /* Label order in the object is the API server's; a sorted digest is not needed
     * here because the same server returns the same order for the same map. */
    h = h_int(h, (long)svc->meta.n_labels);
    for (size_t i = 0; i < svc->meta.n_labels; i++) {
        h = h_str(h, svc->meta.labels[i].key);
        h = h_str(h, svc->meta.labels[i].value);
    }
    /* the selector in the server's order too: a SHA-256 per watch event buys nothing here */
    h = h_int(h, (long)svc->n_selector);
    for (size_t i = 0; i < svc->n_selector; i++) {
        h = h_str(h, svc->selector[i].key);
        h = h_str(h, svc->selector[i].value);
    }
    return h;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool lbp_selector_digest(const struct lbp_service *svc, char out[65])
{
    struct lbp_buf joined;
    char **pairs = NULL, *block = NULL, *p;
    size_t need = 0;
    bool ok = false;

    out[0] = '\0';
    if (!svc->n_selector)
        return false;
    lbp_buf_init(&joined, 1u << 20);
    for (size_t i = 0; i < svc->n_selector; i++) {
        const char *k = svc->selector[i].key ? svc->selector[i].key : "";
        const char *v = svc->selector[i].value ? svc->selector[i].value : "";
        need += strlen(k) + strlen(v) + 2;
    }
    /* every "key=value" in one block, sorted through pointers into it */
    if (!(pairs = calloc(svc->n_selector, sizeof(*pairs))) || !(block = malloc(need)))
        goto out;
    p = block;
    for (size_t i = 0; i < svc->n_selector; i++) {
        const char *k = svc->selector[i].key ? svc->selector[i].key : "";
        const char *v = svc->selector[i].value ? svc->selector[i].value : "";
        size_t kl = strlen(k), vl = strlen(v);
        pairs[i] = p;
        memcpy(p, k, kl);
        p[kl] = '=';
        memcpy(p + kl + 1, v, vl);
        p[kl + 1 + vl] = '\0';
        p += kl + vl + 2;
    }
    /* sorted, so the digest does not depend on the order the API returned */
    qsort(pairs, svc->n_selector, sizeof(*pairs), cmp_str);
    for (size_t i = 0; i < svc->n_selector; i++)
        if ((i && lbp_buf_add(&joined, ",", 1) != LBP_OK) ||
            lbp_buf_adds(&joined, pairs[i]) != LBP_OK)
            goto out;
    ok = lbp_sha256_hex(joined.data ? joined.data : "", joined.len, out) == LBP_OK;
out:
    free(pairs);
    free(block);
    lbp_buf_free(&joined);
    if (!ok)
        out[0] = '\0';
    return ok;
}

/*
 * Splits the annotation's comma-separated CIDRs (spaces allowed) into d.
 * As upstream: a value of only spaces means no restriction, while an empty
 * entry ("10.0.0.0/8,," or ",") is an error — kept as "" so validation
 * refuses it, because skipping it could leave no restriction at all.
 */
static int ranges_from_annotation(const char *v, struct lbp_desired *d)
{
    size_t n = 1;
    const char *p = v;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return LBP_OK;
    for (p = v; *p; p++)
        n += *p == ',';
    d->ranges_buf = strdup(v);
    d->ranges = calloc(n, sizeof(char *));
    if (!d->ranges_buf || !d->ranges)
        return LBP_NOMEM;
    char *tok = d->ranges_buf;
    for (size_t i = 0; i < n; i++) {
        char *comma = strchr(tok, ','), *e;
        if (comma)
            *comma = '\0';
        while (*tok == ' ' || *tok == '\t')
            tok++;
        e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        d->ranges[d->spec.n_source_ranges++] = tok;
        tok = comma ? comma + 1 : e;
    }
    d->spec.source_ranges = d->ranges;
    return LBP_OK;
}

int lbp_desired_build(const struct lbp_service *svc, const struct lbp_nodeset *ns,
                      const char *cluster_name, struct lbp_desired *d)
{
    struct lbp_lb_spec *s = &d->spec;
    int rc = LBP_OK;
    memset(d, 0, sizeof(*d));
    s->cluster_name = cluster_name;
    s->namespace = svc->meta.namespace;
    s->name = svc->meta.name;
    s->uid = svc->meta.uid;
    lbp_lb_name(svc->meta.uid ? svc->meta.uid : "", s->lb_name);
    if (svc->n_ports) {
        d->ports = calloc(svc->n_ports, sizeof(*d->ports));
        if (!d->ports) {
            rc = LBP_NOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < svc->n_ports; i++) {
        d->ports[i].name = svc->ports[i].name;
        d->ports[i].protocol = svc->ports[i].protocol ? svc->ports[i].protocol : "TCP";
        d->ports[i].port = svc->ports[i].port;
        d->ports[i].node_port = svc->ports[i].node_port;
    }
    s->ports = d->ports;
    s->n_ports = svc->n_ports;
    if (ns) {
        s->nodes = ns->nodes;
        s->n_nodes = ns->n;
    }
    /* The spec field wins over the annotation (upstream's GetLoadBalancerSourceRanges). */
    if (svc->n_lb_source_ranges) {
        s->source_ranges = (const char *const *)svc->lb_source_ranges;
        s->n_source_ranges = svc->n_lb_source_ranges;
        s->source_ranges_field = "spec.loadBalancerSourceRanges";
    } else {
        const char *a = lbp_meta_annotation(&svc->meta, LBP_SOURCE_RANGES_ANNOTATION);
        if (a && (rc = ranges_from_annotation(a, d)))
            goto out;
        s->source_ranges_field = "annotation " LBP_SOURCE_RANGES_ANNOTATION;
    }
    s->session_affinity = svc->session_affinity ? svc->session_affinity : "None";
    s->session_affinity_timeout = svc->session_affinity_timeout;
    s->local_traffic = lbp_streq(svc->external_traffic_policy, "Local");
    s->health_check_node_port = svc->health_check_node_port;
    s->requested_ip = svc->lb_ip && svc->lb_ip[0] ? svc->lb_ip : NULL;
    s->ip_families = (const char *const *)svc->ip_families;
    s->n_ip_families = svc->n_ip_families;
    if (svc->meta.n_annotations) {
        d->annotations = calloc(svc->meta.n_annotations, sizeof(*d->annotations));
        if (!d->annotations) {
            rc = LBP_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < svc->meta.n_annotations; i++) {
            d->annotations[i].key = svc->meta.annotations[i].key;
            d->annotations[i].value = svc->meta.annotations[i].value;
        }
    }
    s->annotations = d->annotations;
    s->n_annotations = svc->meta.n_annotations;
    if (svc->meta.n_labels) {
        d->labels = calloc(svc->meta.n_labels, sizeof(*d->labels));
        if (!d->labels) {
            rc = LBP_NOMEM;
            goto out;
        }
        for (size_t i = 0; i < svc->meta.n_labels; i++) {
            d->labels[i].key = svc->meta.labels[i].key;
            d->labels[i].value = svc->meta.labels[i].value;
        }
    }
    s->labels = d->labels;
    s->n_labels = svc->meta.n_labels;
    s->selector_hash = lbp_selector_digest(svc, d->selector_hash) ? d->selector_hash : NULL;
out:
    if (rc)
        lbp_desired_free(d);
    return rc;
}

void lbp_desired_free(struct lbp_desired *d)
{
    if (!d)
        return;
    free(d->ports);
    free(d->ranges);
    free(d->ranges_buf);
    free(d->annotations);
    free(d->labels);
    memset(d, 0, sizeof(*d));
}

bool lbp_ingress_equal(const struct lbp_service *svc, const struct lbp_lb_status *st)
{
    if (svc->n_ingress != st->n_ingress)
        return false;
    for (size_t i = 0; i < st->n_ingress; i++) {
        const struct lbp_lb_ingress *a = &svc->ingress[i];
        const struct lbp_lb_ingress_addr *b = &st->ingress[i];
        if (strcmp(a->ip ? a->ip : "", b->ip) != 0 ||
            strcmp(a->hostname ? a->hostname : "", b->hostname) != 0 ||
            strcmp(a->ip_mode ? a->ip_mode : "", b->ip_mode) != 0)
            return false;
    }
    return true;
}

static uint64_t ingress_one(uint64_t h, const char *ip, const char *host, const char *mode)
{
    h = h_str(h, ip && ip[0] ? ip : NULL);
    h = h_str(h, host && host[0] ? host : NULL);
    return h_str(h, mode && mode[0] ? mode : NULL);
}

/* The same hash for both forms, so a state entry need not keep the strings. */
uint64_t lbp_ingress_hash_status(const struct lbp_lb_status *st)
{
    uint64_t h = h_int(14695981039346656037ull, (long)st->n_ingress);
    for (size_t i = 0; i < st->n_ingress; i++)
        h = ingress_one(h, st->ingress[i].ip, st->ingress[i].hostname, st->ingress[i].ip_mode);
    return h;
}

uint64_t lbp_ingress_hash_service(const struct lbp_service *svc)
{
    uint64_t h = h_int(14695981039346656037ull, (long)svc->n_ingress);
    for (size_t i = 0; i < svc->n_ingress; i++)
        h = ingress_one(h, svc->ingress[i].ip, svc->ingress[i].hostname, svc->ingress[i].ip_mode);
    return h;
}
