/*
 * defaults.c — what the real server's Service registry does beyond storing:
 * defaulting (type, protocol, targetPort, sessionAffinity, IP families,
 * traffic policies), ClusterIP allocation from 10.96.0.0/12, NodePort and
 * healthCheckNodePort allocation from 30000-32767, keeping allocations on
 * update when the client omits them (nodePorts matched by port name, as
 * upstream's patchAllocatedValues does), and the validation errors lbprov can
 * meet. admit chooses and validates without claiming; commit claims; both
 * run under fake_lock so nothing can slip in between.
 */
#include "fake.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --service-node-port-range, as kube-apiserver: default 30000-32767. */
static long np_min = 30000, np_max = 32767;
#define NP_MIN np_min
#define NP_MAX np_max
#define NP_N (np_max - np_min + 1)
#define CIDR_BASE 0x0A600000u /* 10.96.0.0/12 */
#define CIDR_SIZE (1u << 20)

static char **np_owner; /* NP_N slots: the key of the Service holding each port */

int fake_nodeport_range(long min, long max)
{
    char **owners;
    if (min < 1 || max > 65535 || min > max)
        return -1;
    owners = calloc((size_t)(max - min + 1), sizeof(*owners));
    if (!owners)
        return -1;
    free(np_owner);
    np_owner = owners;
    np_min = min;
    np_max = max;
    return 0;
}

struct ip_ent {
    uint32_t ip;
    char *owner;
    UT_hash_handle hh;
};
static struct ip_ent *ips;

static const char *str_or(json_object *o, const char *key, const char *def)
{
    json_object *v = o ? json_object_object_get(o, key) : NULL;
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

static long int_of(json_object *o, const char *key)
{
    json_object *v = o ? json_object_object_get(o, key) : NULL;
    return v && json_object_is_type(v, json_type_int) ? (long)json_object_get_int64(v) : 0;
}

static bool np_free_for(long p, const char *key)
{
    return p >= NP_MIN && p <= NP_MAX &&
           (!np_owner[p - NP_MIN] || strcmp(np_owner[p - NP_MIN], key) == 0);
}

static bool in_list(const long *l, int n, long v)
{
    for (int i = 0; i < n; i++)
        if (l[i] == v)
            return true;
    return false;
}

/* A free port not already chosen for this Service; 0 when the range is full. */
static long np_pick(const char *key, const long *chosen, int nchosen)
{
    long start = (long)(fake_random() % NP_N);
    for (long i = 0; i < NP_N; i++) {
        long p = NP_MIN + (start + i) % NP_N;
        if (!np_owner[p - NP_MIN] && !in_list(chosen, nchosen, p))
            return p;
    }
    (void)key;
    return 0;
}

static bool needs_np(const char *type)
{
    return lbp_streq(type, "NodePort") || lbp_streq(type, "LoadBalancer");
}

static const char *ip_owner(uint32_t ip)
{
    struct ip_ent *e;
    HASH_FIND(hh, ips, &ip, sizeof(ip), e);
    return e ? e->owner : NULL;
}

static void ports_admit(json_object *spec, json_object *ospec, const char *type, const char *otype,
                        const char *key, struct fake_errs *e, long *chosen, int *nchosen)
{
    json_object *ports = json_object_object_get(spec, "ports");
    json_object *oports = ospec ? json_object_object_get(ospec, "ports") : NULL;
    bool want_np = needs_np(type);
    bool old_np = otype && needs_np(otype);
    bool alloc = lbp_streq(type, "NodePort") ||
                 (lbp_streq(type, "LoadBalancer") &&
                  !(json_object_object_get(spec, "allocateLoadBalancerNodePorts") &&
                    !json_object_get_boolean(
                        json_object_object_get(spec, "allocateLoadBalancerNodePorts"))));
    char f[64];
    if (lbp_streq(type, "ExternalName"))
        return;
    if (!ports || !json_object_is_type(ports, json_type_array) ||
        json_object_array_length(ports) == 0) {
        fake_errs_add(e, "FieldValueRequired", "spec.ports", "Required value");
        return;
    }
    size_t n = json_object_array_length(ports);
    for (size_t i = 0; i < n && i < 256; i++) {
        json_object *p = json_object_array_get_idx(ports, i);
        if (!json_object_is_type(p, json_type_object)) {
            snprintf(f, sizeof(f), "spec.ports[%zu]", i);
            fake_errs_add(e, "FieldValueInvalid", f, "Invalid value: must be an object");
            continue;
        }
        char proto[16];
        lbp_strlcpy(proto, str_or(p, "protocol", "TCP"), sizeof(proto));
        json_object_object_add(p, "protocol", json_object_new_string(proto));
        if (!lbp_streq(proto, "TCP") && !lbp_streq(proto, "UDP") && !lbp_streq(proto, "SCTP")) {
            snprintf(f, sizeof(f), "spec.ports[%zu].protocol", i);
            fake_errs_add(e, "FieldValueNotSupported", f,
                          "Unsupported value: \"%s\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                          proto);
        }
        long port = int_of(p, "port");
        if (port < 1 || port > 65535) {
            snprintf(f, sizeof(f), "spec.ports[%zu].port", i);
            fake_errs_add(e, "FieldValueInvalid", f,
                          "Invalid value: %ld: must be between 1 and 65535, inclusive", port);
        }
        if (!json_object_object_get(p, "targetPort"))
            json_object_object_add(p, "targetPort", json_object_new_int64(port));
        const char *name = str_or(p, "name", "");
        if (n > 1 && !*name) {
            snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
            fake_errs_add(e, "FieldValueRequired", f, "Required value");
        }
        for (size_t j = 0; j < i; j++) {
            json_object *q = json_object_array_get_idx(ports, j);
            if (*name && lbp_streq(str_or(q, "name", ""), name)) {
                snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
                fake_errs_add(e, "FieldValueDuplicate", f, "Duplicate value: \"%s\"", name);
            }
            if (int_of(q, "port") == port && lbp_streq(str_or(q, "protocol", "TCP"), proto)) {
                snprintf(f, sizeof(f), "spec.ports[%zu]", i);
                fake_errs_add(e, "FieldValueDuplicate", f,
                              "Duplicate value: {\"port\":%ld,\"protocol\":\"%s\"}", port, proto);
            }
        }
        long np = int_of(p, "nodePort");
        snprintf(f, sizeof(f), "spec.ports[%zu].nodePort", i);
        if (!want_np) {
            if (np && old_np) {
                json_object_object_del(p, "nodePort"); /* type changed: upstream drops them */
            } else if (np) {
                fake_errs_add(e, "FieldValueForbidden", f,
                              "Forbidden: may not be used when `type` is '%s'", type);
            }
            continue;
        }
        if (!np && old_np && oports) {
            /* Omitted on update: keep what this port (by name) had. */
            for (size_t j = 0; j < json_object_array_length(oports); j++) {
                json_object *q = json_object_array_get_idx(oports, j);
                if (lbp_streq(str_or(q, "name", ""), name) && int_of(q, "nodePort") &&
                    !in_list(chosen, *nchosen, int_of(q, "nodePort"))) {
                    np = int_of(q, "nodePort");
                    break;
                }
            }
        }
        if (np) {
            if (np < NP_MIN || np > NP_MAX) {
                fake_errs_add(e, "FieldValueInvalid", f,
                              "Invalid value: %ld: provided port is not in the valid range. The "
                              "range of valid ports is %ld-%ld",
                              np, NP_MIN, NP_MAX);
                continue;
            }
            if (!np_free_for(np, key) || in_list(chosen, *nchosen, np)) {
                fake_errs_add(e, "FieldValueInvalid", f,
                              "Invalid value: %ld: provided port is already allocated", np);
                continue;
            }
        } else if (alloc) {
            np = np_pick(key, chosen, *nchosen);
            if (!np) {
                fake_errs_add(e, "FieldValueInvalid", f,
                              "Invalid value: 0: range is full; no more ports available");
                continue;
            }
        } else {
            continue;
        }
        json_object_object_add(p, "nodePort", json_object_new_int64(np));
        chosen[(*nchosen)++] = np;
    }
}

static void cluster_ip_admit(json_object *spec, json_object *ospec, const char *type,
                             const char *otype, const char *key, struct fake_errs *e)
{
    if (lbp_streq(type, "ExternalName")) {
        json_object_object_del(spec, "clusterIP");
        json_object_object_del(spec, "clusterIPs");
        const char *en = str_or(spec, "externalName", "");
        if (!*en)
            fake_errs_add(e, "FieldValueRequired", "spec.externalName", "Required value");
        return;
    }
    const char *cip = str_or(spec, "clusterIP", "");
    const char *old =
        ospec && !lbp_streq(otype, "ExternalName") ? str_or(ospec, "clusterIP", "") : "";
    char buf[64];
    if (*old) {
        if (!*cip) {
            cip = old;
        } else if (strcmp(cip, old) != 0) {
            fake_errs_add(e, "FieldValueInvalid", "spec.clusterIPs[0]",
                          "Invalid value: []string{\"%s\"}: may not change once set", cip);
            return;
        }
    }
    if (!*cip) {
        uint32_t start = (uint32_t)(fake_random() % CIDR_SIZE);
        for (uint32_t i = 0; i < CIDR_SIZE; i++) {
            uint32_t off = (start + i) % CIDR_SIZE;
            if (off < 10 || off == CIDR_SIZE - 1)
                continue; /* network address, the kubernetes Service, broadcast */
            if (!ip_owner(CIDR_BASE + off)) {
                struct in_addr a = {.s_addr = htonl(CIDR_BASE + off)};
                inet_ntop(AF_INET, &a, buf, sizeof(buf));
                cip = buf;
                break;
            }
        }
        if (!*cip) {
            fake_errs_add(e, "FieldValueInvalid", "spec.clusterIPs",
                          "Invalid value: range is full");
            return;
        }
    } else if (strcmp(cip, "None") != 0) {
        struct in_addr a;
        if (inet_pton(AF_INET, cip, &a) != 1) {
            fake_errs_add(e, "FieldValueInvalid", "spec.clusterIPs[0]",
                          "Invalid value: \"%s\": must be a valid IP address, (e.g. 10.9.8.7 or "
                          "2001:db8::ffff)",
                          cip);
            return;
        }
        uint32_t ip = ntohl(a.s_addr);
        if (ip < CIDR_BASE || ip >= CIDR_BASE + CIDR_SIZE) {
            fake_errs_add(e, "FieldValueInvalid", "spec.clusterIPs",
                          "Invalid value: []string{\"%s\"}: failed to allocate IP %s: the "
                          "provided IP (%s) is not in the valid range. The range of valid IPs is "
                          "10.96.0.0/12",
                          cip, cip, cip);
            return;
        }
        const char *owner = ip_owner(ip);
        if (owner && strcmp(owner, key) != 0) {
            fake_errs_add(e, "FieldValueInvalid", "spec.clusterIPs",
                          "Invalid value: []string{\"%s\"}: failed to allocate IP %s: provided IP "
                          "is already allocated",
                          cip, cip);
            return;
        }
    }
    char keep[64];
    lbp_strlcpy(keep, cip, sizeof(keep));
    json_object_object_add(spec, "clusterIP", json_object_new_string(keep));
    json_object *l = json_object_new_array();
    json_object_array_add(l, json_object_new_string(keep));
    json_object_object_add(spec, "clusterIPs", l);
    if (!json_object_object_get(spec, "ipFamilies")) {
        json_object *fam = json_object_new_array();
        json_object_array_add(fam, json_object_new_string("IPv4"));
        json_object_object_add(spec, "ipFamilies", fam);
    }
    if (!json_object_object_get(spec, "ipFamilyPolicy"))
        json_object_object_add(spec, "ipFamilyPolicy", json_object_new_string("SingleStack"));
    if (!json_object_object_get(spec, "internalTrafficPolicy"))
        json_object_object_add(spec, "internalTrafficPolicy", json_object_new_string("Cluster"));
}

void fake_svc_admit(json_object *svc, json_object *old, const char *key, struct fake_errs *e)
{
    json_object *spec = fake_ensure_obj(svc, "spec");
    json_object *ospec = old ? json_object_object_get(old, "spec") : NULL;
    const char *type = str_or(spec, "type", "ClusterIP");
    const char *otype = ospec ? str_or(ospec, "type", "ClusterIP") : NULL;
    long chosen[300];
    int nchosen = 0;
    char t[32];
    lbp_strlcpy(t, type, sizeof(t));
    type = t;
    json_object_object_add(spec, "type", json_object_new_string(type));
    if (!lbp_streq(type, "ClusterIP") && !lbp_streq(type, "NodePort") &&
        !lbp_streq(type, "LoadBalancer") && !lbp_streq(type, "ExternalName")) {
        fake_errs_add(e, "FieldValueNotSupported", "spec.type",
                      "Unsupported value: \"%s\": supported values: \"ClusterIP\", "
                      "\"ExternalName\", \"LoadBalancer\", \"NodePort\"",
                      type);
        return;
    }
    if (!json_object_object_get(spec, "sessionAffinity"))
        json_object_object_add(spec, "sessionAffinity", json_object_new_string("None"));
    bool lb = lbp_streq(type, "LoadBalancer");
    bool type_changed = otype && !lbp_streq(type, otype);

    const char *lbc = str_or(spec, "loadBalancerClass", NULL);
    const char *olbc = ospec ? str_or(ospec, "loadBalancerClass", NULL) : NULL;
    if (lbc && !lb) {
        fake_errs_add(e, "FieldValueForbidden", "spec.loadBalancerClass",
                      "Forbidden: may only be used when `type` is 'LoadBalancer'");
    } else if (old && lb && lbp_streq(otype, "LoadBalancer") && !lbp_streq(lbc, olbc)) {
        fake_errs_add(e, "FieldValueInvalid", "spec.loadBalancerClass",
                      "Invalid value: \"%s\": may not change once set", lbc ? lbc : "null");
    }

    json_object *albnp = json_object_object_get(spec, "allocateLoadBalancerNodePorts");
    if (lb && !albnp)
        json_object_object_add(spec, "allocateLoadBalancerNodePorts", json_object_new_boolean(1));
    else if (!lb && albnp) {
        if (type_changed)
            json_object_object_del(spec, "allocateLoadBalancerNodePorts");
        else
            fake_errs_add(e, "FieldValueForbidden", "spec.allocateLoadBalancerNodePorts",
                          "Forbidden: may only be used when `type` is 'LoadBalancer'");
    }

    const char *etp = str_or(spec, "externalTrafficPolicy", NULL);
    if (needs_np(type)) {
        if (!etp)
            json_object_object_add(spec, "externalTrafficPolicy",
                                   json_object_new_string(etp = "Cluster"));
        else if (!lbp_streq(etp, "Cluster") && !lbp_streq(etp, "Local"))
            fake_errs_add(e, "FieldValueNotSupported", "spec.externalTrafficPolicy",
                          "Unsupported value: \"%s\": supported values: \"Cluster\", \"Local\"",
                          etp);
    } else if (etp) {
        if (type_changed) {
            json_object_object_del(spec, "externalTrafficPolicy");
            etp = NULL;
        } else {
            fake_errs_add(e, "FieldValueInvalid", "spec.externalTrafficPolicy",
                          "Invalid value: \"%s\": may only be set when `type` is 'NodePort' or "
                          "'LoadBalancer'",
                          etp);
        }
    }

    cluster_ip_admit(spec, ospec, type, otype, key, e);
    ports_admit(spec, ospec, type, otype, key, e, chosen, &nchosen);

    long hc = int_of(spec, "healthCheckNodePort");
    if (lb && lbp_streq(etp, "Local")) {
        if (!hc && ospec)
            hc = int_of(ospec, "healthCheckNodePort");
        if (hc) {
            if (hc < NP_MIN || hc > NP_MAX || !np_free_for(hc, key) || in_list(chosen, nchosen, hc))
                fake_errs_add(e, "FieldValueInvalid", "spec.healthCheckNodePort",
                              "Invalid value: %ld: provided port is already allocated", hc);
        } else {
            hc = np_pick(key, chosen, nchosen);
        }
        if (hc) {
            json_object_object_add(spec, "healthCheckNodePort", json_object_new_int64(hc));
            chosen[nchosen++] = hc;
        }
    } else if (hc) {
        long ohc = ospec ? int_of(ospec, "healthCheckNodePort") : 0;
        if (old && (hc == ohc || type_changed))
            json_object_object_del(spec, "healthCheckNodePort"); /* policy left Local: released */
        else
            fake_errs_add(e, "FieldValueInvalid", "spec.healthCheckNodePort",
                          "Invalid value: %ld: may only be set when `type` is 'LoadBalancer' and "
                          "`externalTrafficPolicy` is 'Local'",
                          hc);
    }
}

static void claim_np(long p, const char *key)
{
    if (p < NP_MIN || p > NP_MAX)
        return;
    char **slot = &np_owner[p - NP_MIN];
    if (*slot && strcmp(*slot, key) == 0)
        return;
    free(*slot);
    *slot = strdup(key);
}

static void release_np(long p, const char *key)
{
    if (p < NP_MIN || p > NP_MAX)
        return;
    char **slot = &np_owner[p - NP_MIN];
    if (*slot && strcmp(*slot, key) == 0) {
        free(*slot);
        *slot = NULL;
    }
}

static void for_each_np(json_object *svc, const char *key, void (*fn)(long, const char *))
{
    json_object *spec = svc ? json_object_object_get(svc, "spec") : NULL;
    json_object *ports = spec ? json_object_object_get(spec, "ports") : NULL;
    for (size_t i = 0; ports && json_object_is_type(ports, json_type_array) &&
                       i < json_object_array_length(ports);
         i++)
        fn(int_of(json_object_array_get_idx(ports, i), "nodePort"), key);
    if (spec)
        fn(int_of(spec, "healthCheckNodePort"), key);
}

static bool svc_ip(json_object *svc, uint32_t *ip)
{
    const char *cip = fake_get_str(svc, "spec.clusterIP");
    struct in_addr a;
    if (!cip || inet_pton(AF_INET, cip, &a) != 1)
        return false;
    *ip = ntohl(a.s_addr);
    return true;
}

void fake_svc_release(json_object *svc, const char *key)
{
    uint32_t ip;
    for_each_np(svc, key, release_np);
    if (svc_ip(svc, &ip)) {
        struct ip_ent *e;
        HASH_FIND(hh, ips, &ip, sizeof(ip), e);
        if (e && strcmp(e->owner, key) == 0) {
            HASH_DEL(ips, e);
            free(e->owner);
            free(e);
        }
    }
}

void fake_svc_commit(json_object *svc, json_object *old, const char *key)
{
    uint32_t ip;
    if (old)
        fake_svc_release(old, key);
    for_each_np(svc, key, claim_np);
    if (svc_ip(svc, &ip) && !ip_owner(ip)) {
        struct ip_ent *e = calloc(1, sizeof(*e));
        if (e && (e->owner = strdup(key))) {
            e->ip = ip;
            HASH_ADD(hh, ips, ip, sizeof(e->ip), e);
        } else {
            free(e);
        }
    }
}
