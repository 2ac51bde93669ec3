/*
 * validate.c — refuses, before any cloud call, what can never work: bad
 * source-range CIDRs, a protocol or address family the provider lacks,
 * mixed protocols where unsupported, and ports without a NodePort on a
 * cloud that forwards to NodePorts. The message names the field and value
 * so the Warning Event tells the user exactly what to fix.
 */
#include "reconcile/reconcile_int.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool lbp_cidr_valid(const char *s)
{
    char ip[INET6_ADDRSTRLEN + 1];
    unsigned char buf[sizeof(struct in6_addr)];
    const char *slash = s ? strchr(s, '/') : NULL;
    long pfx;
    size_t l;
    if (!slash)
        return false;
    l = (size_t)(slash - s);
    if (l == 0 || l >= sizeof(ip))
        return false;
    memcpy(ip, s, l);
    ip[l] = '\0';
    if (inet_pton(AF_INET, ip, buf) == 1)
        return lbp_parse_long(slash + 1, 0, 32, &pfx) == LBP_OK;
    if (inet_pton(AF_INET6, ip, buf) == 1)
        return lbp_parse_long(slash + 1, 0, 128, &pfx) == LBP_OK;
    return false;
}

static unsigned proto_cap(const char *p)
{
    if (!p || strcmp(p, "TCP") == 0)
        return LBP_CAP_TCP;
    if (strcmp(p, "UDP") == 0)
        return LBP_CAP_UDP;
    if (strcmp(p, "SCTP") == 0)
        return LBP_CAP_SCTP;
    return 0;
}

int lbp_validate(const struct lbp_service *svc, const struct lbp_desired *d, unsigned caps,
                 char *msg, size_t msglen)
{
    const struct lbp_lb_spec *s = &d->spec;
    const char *first_proto = NULL;
    unsigned char buf[sizeof(struct in6_addr)];
    for (size_t i = 0; i < s->n_source_ranges; i++) {
        if (!lbp_cidr_valid(s->source_ranges[i])) {
            /* %.64s: an entry of a megabyte is still named, not copied whole */
            snprintf(msg, msglen, "%s%s%zu%s: invalid CIDR \"%.64s%s\"",
                     svc->n_lb_source_ranges ? "spec.loadBalancerSourceRanges"
                                             : "annotation " LBP_SOURCE_RANGES_ANNOTATION,
                     svc->n_lb_source_ranges ? "[" : " entry ", i,
                     svc->n_lb_source_ranges ? "]" : "", s->source_ranges[i],
                     strlen(s->source_ranges[i]) > 64 ? "..." : "");
            return LBP_INVALID;
        }
    }
    if (s->n_source_ranges && !(caps & LBP_CAP_SOURCE_RANGES)) {
        snprintf(msg, msglen, "spec.loadBalancerSourceRanges: not supported by this provider");
        return LBP_INVALID;
    }
    if (s->n_ports == 0) {
        snprintf(msg, msglen, "spec.ports: a LoadBalancer Service needs at least one port");
        return LBP_INVALID;
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct lbp_lb_port *p = &s->ports[i];
        unsigned pc = proto_cap(p->protocol);
        if (!pc || !(caps & pc)) {
            snprintf(msg, msglen, "spec.ports[%zu].protocol: %s is not supported by this provider",
                     i, p->protocol);
            return LBP_INVALID;
        }
        if (first_proto && strcmp(first_proto, p->protocol) != 0 &&
            !(caps & LBP_CAP_MIXED_PROTOCOLS)) {
            snprintf(msg, msglen,
                     "spec.ports[%zu].protocol: mixed protocols (%s and %s) are not supported "
                     "by this provider",
                     i, first_proto, p->protocol);
            return LBP_INVALID;
        }
        first_proto = first_proto ? first_proto : p->protocol;
        if (p->node_port == 0 && (caps & LBP_CAP_NEEDS_NODEPORTS)) {
            snprintf(msg, msglen,
                     "spec.ports[%zu].nodePort: port %d has no NodePort "
                     "(allocateLoadBalancerNodePorts: false), which this provider needs",
                     i, p->port);
            return LBP_INVALID;
        }
    }
    for (size_t i = 0; i < s->n_ip_families; i++)
        if (strcmp(s->ip_families[i], "IPv6") == 0 && !(caps & LBP_CAP_IPV6)) {
            snprintf(msg, msglen, "spec.ipFamilies[%zu]: IPv6 is not supported by this provider",
                     i);
            return LBP_INVALID;
        }
    if (s->requested_ip) {
        if (inet_pton(AF_INET, s->requested_ip, buf) != 1 &&
            inet_pton(AF_INET6, s->requested_ip, buf) != 1) {
            snprintf(msg, msglen, "spec.loadBalancerIP: \"%s\" is not an IP address",
                     s->requested_ip);
            return LBP_INVALID;
        }
        if (!(caps & LBP_CAP_REQUESTED_IP)) {
            snprintf(msg, msglen, "spec.loadBalancerIP: not supported by this provider");
            return LBP_INVALID;
        }
    }
    return LBP_OK;
}
