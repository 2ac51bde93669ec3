/*
 * state.c — fake-cloudstack's objects: one zone, an isolated network, a VPC
 * with one tier (and its ACL list), the VMs tests add, public IPs, rules and
 * resource tags.
 *
 * Objects of every kind share one uthash table keyed by UUID (iteration is
 * creation order, which listings keep). A deleted object stays as a
 * tombstone: the real server resolves a removed row's UUID, so a filter
 * naming it lists nothing instead of failing. Each object keeps the fields
 * a response shows in a json-c object; cs_render adds the tags. Everything
 * here runs under fake_mu.
 */
#include <arpa/inet.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/util.h"
#include "test/fakes/cloudstack/fake.h"
#include "test/fakes/fake_util.h"

/* Fixed ids for the seeded objects, so a test or a README example can name them. */
#define ZONE_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000001"
#define PUBNET_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000002"
#define NET_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000010"
#define VPC_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000020"
#define TIER_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000021"
#define ACLLIST_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000030"
#define ZONE_NAME "zone1"

struct cs_tag {
    char key[256], value[256], rtype[32], rid[CS_ID_LEN];
    struct cs_tag *next;
};

static struct cs_obj *g_objs;
static struct cs_tag *g_tags;
static unsigned g_vm_seq, g_nic_seq;

char fake_account[64] = "admin", fake_domain[64] = "ROOT",
     fake_domainid[CS_ID_LEN] = "6b2a1f0e-1c3d-4e5f-8a9b-0000000000d0";

void cs_new_uuid(char out[CS_ID_LEN])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* Never expected; a counter still keeps ids unique. */
        static unsigned long long n;
        memset(b, 0, sizeof(b));
        n++;
        memcpy(b + 8, &n, sizeof(n));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CS_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

atomic_int fake_clock_offset_s;

int64_t cs_now_s(void)
{
    return (int64_t)time(NULL) + atomic_load(&fake_clock_offset_s);
}

void cs_now_str(char out[32])
{
    time_t t = (time_t)cs_now_s();
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S+0000", &tm);
}

struct cs_obj *cs_obj_new(enum cs_kind kind, const char *id)
{
    struct cs_obj *o = calloc(1, sizeof(*o));
    if (!o)
        abort(); /* a test double: out of memory is not a case to model */
    if (id)
        lbp_strlcpy(o->id, id, sizeof(o->id));
    else
        cs_new_uuid(o->id);
    o->kind = kind;
    o->o = json_object_new_object();
    json_object_object_add(o->o, "id", json_object_new_string(o->id));
    HASH_ADD_STR(g_objs, id, o);
    return o;
}

struct cs_obj *cs_obj_find(const char *id)
{
    struct cs_obj *o = NULL;
    if (id)
        HASH_FIND_STR(g_objs, id, o);
    return o;
}

struct cs_obj *cs_obj_get(const char *id, enum cs_kind kind)
{
    struct cs_obj *o = cs_obj_find(id);
    return o && !o->gone && o->kind == kind ? o : NULL;
}

struct cs_obj *cs_objs(void)
{
    return g_objs;
}

void cs_obj_bury(struct cs_obj *o)
{
    cs_tag_del(o->id, NULL, NULL);
    o->gone = true;
    json_object_put(o->members);
    o->members = NULL;
}

void cs_obj_delete(struct cs_obj *o)
{
    cs_tag_del(o->id, NULL, NULL);
    HASH_DEL(g_objs, o);
    json_object_put(o->o);
    json_object_put(o->members);
    free(o);
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}
static void add_i(struct json_object *o, const char *k, int v)
{
    json_object_object_add(o, k, json_object_new_int(v));
}
static void add_b(struct json_object *o, const char *k, bool v)
{
    json_object_object_add(o, k, json_object_new_boolean(v));
}

static void add_owner(struct json_object *o)
{
    add_s(o, "account", fake_account);
    add_s(o, "domainid", fake_domainid);
    add_s(o, "domain", fake_domain);
}

const char *cs_zone_id(void)
{
    return ZONE_ID;
}

const char *cs_default_network(void)
{
    return NET_ID;
}

const char *cs_kind_tag_type(enum cs_kind k)
{
    switch (k) {
    case CS_VM:
        return "UserVm";
    case CS_IP:
        return "PublicIpAddress";
    case CS_LB:
        return "LoadBalancer";
    case CS_FW:
        return "FirewallRule";
    case CS_ACL:
        return "NetworkACL";
    case CS_NETWORK:
        return "Network";
    case CS_VPC:
        return "Vpc";
    case CS_ZONE:
        return "Zone";
    default:
        return NULL;
    }
}

struct json_object *cs_render(const struct cs_obj *o)
{
    struct json_object *r = NULL;
    json_object_deep_copy(o->o, &r, NULL);
    if (!r)
        abort();
    if (cs_kind_tag_type(o->kind))
        json_object_object_add(r, "tags", cs_tags_of(o->id));
    return r;
}

/* ---- seed ---- */

static struct cs_obj *add_network(const char *id, const char *name, const char *cidr,
                                  const char *gw, const char *vpc, const char *acl)
{
    struct cs_obj *n = cs_obj_new(CS_NETWORK, id);
    add_s(n->o, "name", name);
    add_s(n->o, "displaytext", name);
    add_s(n->o, "broadcastdomaintype", "Vlan");
    add_s(n->o, "traffictype", "Guest");
    add_s(n->o, "gateway", gw);
    add_s(n->o, "cidr", cidr);
    add_s(n->o, "netmask", "255.255.255.0");
    add_s(n->o, "zoneid", ZONE_ID);
    add_s(n->o, "zonename", ZONE_NAME);
    add_s(n->o, "type", "Isolated");
    add_s(n->o, "state", "Implemented");
    add_s(n->o, "related", id);
    add_s(n->o, "dns1", "192.0.2.53");
    add_owner(n->o);
    add_b(n->o, "canusefordeploy", true);
    add_b(n->o, "ispersistent", false);
    add_b(n->o, "restartrequired", false);
    add_b(n->o, "specifyipranges", false);
    if (vpc) {
        add_s(n->o, "vpcid", vpc);
        lbp_strlcpy(n->vpc, vpc, sizeof(n->vpc));
    }
    if (acl) {
        add_s(n->o, "aclid", acl);
        lbp_strlcpy(n->acl, acl, sizeof(n->acl));
    }
    return n;
}

/*
 * Public addresses for associateIpAddress come from one range (--public-range,
 * default 203.0.113.0/24, TEST-NET-3), from its 10th address to its 6th
 * from last: .10 to .250 of a /24. A zone's range is an operator's setting
 * in CloudStack; a soak of thousands of Services needs more than a /24.
 */
#define POOL_LO 10
#define POOL_TAIL 6
static uint32_t g_pool_base = 0xCB007100u; /* 203.0.113.0 */
static uint32_t g_pool_size = 256;
static bool *g_pool_used;
static uint32_t g_pool_next = POOL_LO;

int cs_pool_configure(const char *cidr)
{
    uint32_t base, n;
    if (fake_parse_cidr(cidr, &base, &n) != 0 || n < 32)
        return -1;
    free(g_pool_used);
    g_pool_used = NULL;
    g_pool_base = base;
    g_pool_size = n;
    g_pool_next = POOL_LO;
    return 0;
}

static void pool_addr(uint32_t off, char out[16])
{
    struct in_addr a = {.s_addr = htonl(g_pool_base + off)};
    if (!inet_ntop(AF_INET, &a, out, 16))
        out[0] = 0;
}

int cs_pool_take(const char *want, char out[16])
{
    uint32_t hi = g_pool_size - POOL_TAIL, n = 0;
    bool found = false;
    if (!g_pool_used && !(g_pool_used = calloc(g_pool_size, sizeof(*g_pool_used))))
        return -3;
    if (want) {
        struct in_addr a;
        if (inet_pton(AF_INET, want, &a) != 1)
            return -1;
        uint32_t h = ntohl(a.s_addr);
        if (h < g_pool_base + POOL_LO || h > g_pool_base + hi)
            return -1;
        n = h - g_pool_base;
        if (g_pool_used[n])
            return -2;
    } else {
        for (uint32_t i = 0; i <= hi - POOL_LO && !found; i++) {
            n = POOL_LO + (g_pool_next - POOL_LO + i) % (hi - POOL_LO + 1);
            found = !g_pool_used[n];
        }
        if (!found)
            return -3;
        /* Round robin: a released address is not handed out again at once. */
        g_pool_next = n + 1 > hi ? POOL_LO : n + 1;
    }
    g_pool_used[n] = true;
    pool_addr(n, out);
    return 0;
}

void cs_pool_put(const char *addr)
{
    struct in_addr a;
    if (!addr || !g_pool_used || inet_pton(AF_INET, addr, &a) != 1)
        return;
    uint32_t h = ntohl(a.s_addr);
    if (h >= g_pool_base && h - g_pool_base < g_pool_size)
        g_pool_used[h - g_pool_base] = false;
}

struct cs_obj *cs_ip_new(const char *addr, const char *net, const char *vpc, bool sourcenat)
{
    struct cs_obj *ip = cs_obj_new(CS_IP, NULL);
    struct cs_obj *n = net && *net ? cs_obj_find(net) : NULL;
    char now[32];
    cs_now_str(now);
    add_s(ip->o, "ipaddress", addr);
    add_s(ip->o, "allocated", now);
    add_s(ip->o, "zoneid", ZONE_ID);
    add_s(ip->o, "zonename", ZONE_NAME);
    add_b(ip->o, "issourcenat", sourcenat);
    add_owner(ip->o);
    add_b(ip->o, "forvirtualnetwork", true);
    add_b(ip->o, "isstaticnat", false);
    add_b(ip->o, "issystem", false);
    add_b(ip->o, "isportable", false);
    add_b(ip->o, "fordisplay", true);
    add_s(ip->o, "networkid", PUBNET_ID);
    add_s(ip->o, "state", "Allocated");
    if (n) {
        add_s(ip->o, "associatednetworkid", n->id);
        add_s(ip->o, "associatednetworkname",
              json_object_get_string(json_object_object_get(n->o, "name")));
        lbp_strlcpy(ip->net, n->id, sizeof(ip->net));
    }
    if (vpc && *vpc) {
        add_s(ip->o, "vpcid", vpc);
        lbp_strlcpy(ip->vpc, vpc, sizeof(ip->vpc));
    }
    return ip;
}

void cs_state_init(void)
{
    struct cs_obj *z = cs_obj_new(CS_ZONE, ZONE_ID), *v, *l;
    add_s(z->o, "name", ZONE_NAME);
    add_s(z->o, "networktype", "Advanced");
    add_b(z->o, "securitygroupsenabled", false);
    add_s(z->o, "allocationstate", "Enabled");
    add_b(z->o, "localstorageenabled", false);
    add_s(z->o, "dhcpprovider", "VirtualRouter");

    add_network(NET_ID, "lbprov-net", "10.1.1.0/24", "10.1.1.1", NULL, NULL);

    v = cs_obj_new(CS_VPC, VPC_ID);
    add_s(v->o, "name", "lbprov-vpc");
    add_s(v->o, "displaytext", "lbprov-vpc");
    add_s(v->o, "cidr", "10.2.0.0/16");
    add_s(v->o, "zoneid", ZONE_ID);
    add_s(v->o, "zonename", ZONE_NAME);
    add_s(v->o, "state", "Enabled");
    add_owner(v->o);
    add_b(v->o, "redundantvpcrouter", false);
    add_b(v->o, "restartrequired", false);

    l = cs_obj_new(CS_ACLLIST, ACLLIST_ID);
    add_s(l->o, "name", "lbprov-tier-acl");
    add_s(l->o, "description", "ACL list of the seeded tier");
    add_s(l->o, "vpcid", VPC_ID);
    lbp_strlcpy(l->vpc, VPC_ID, sizeof(l->vpc));

    add_network(TIER_ID, "lbprov-tier", "10.2.1.0/24", "10.2.1.1", VPC_ID, ACLLIST_ID);

    /*
     * The isolated network and the VPC each have a source NAT address (outside
     * the pool): listed like any other, never one a client may take or release.
     */
    cs_ip_new("203.0.113.2", NET_ID, NULL, true);
    cs_ip_new("203.0.113.3", NULL, VPC_ID, true);
}

int cs_vm_add(const char *name, const char *id, const char *networkid, const char *ip, char *err,
              size_t errlen)
{
    struct cs_obj *vm, *net;
    struct json_object *nics, *nic;
    char nicid[CS_ID_LEN], addr[48], mac[24], inst[32], now[32];
    const char *cidr;
    unsigned n;

    if (!name || !*name || strlen(name) > 63) {
        lbp_seterr(err, errlen, "a VM needs a name (at most 63 characters)");
        return -1;
    }
    if (id && (strlen(id) != 36 || cs_obj_find(id))) {
        lbp_seterr(err, errlen, "VM id %s is not a new 36-character UUID", id);
        return -1;
    }
    net = cs_obj_get(networkid ? networkid : NET_ID, CS_NETWORK);
    if (!net) {
        lbp_seterr(err, errlen, "no network %s", networkid);
        return -1;
    }
    n = ++g_vm_seq;
    cidr = json_object_get_string(json_object_object_get(net->o, "cidr"));
    if (ip)
        lbp_strlcpy(addr, ip, sizeof(addr));
    else
        snprintf(addr, sizeof(addr), "%.*s%u", (int)(strrchr(cidr, '.') - cidr + 1), cidr,
                 10 + n % 240);
    vm = cs_obj_new(CS_VM, id);
    lbp_strlcpy(vm->net, net->id, sizeof(vm->net));
    snprintf(inst, sizeof(inst), "i-2-%u-VM", 100 + n);
    cs_now_str(now);
    add_s(vm->o, "name", name);
    add_s(vm->o, "displayname", name);
    add_s(vm->o, "instancename", inst);
    add_owner(vm->o);
    add_s(vm->o, "created", now);
    add_s(vm->o, "state", "Running");
    add_b(vm->o, "haenable", false);
    add_s(vm->o, "zoneid", ZONE_ID);
    add_s(vm->o, "zonename", ZONE_NAME);
    add_s(vm->o, "templateid", "6b2a1f0e-1c3d-4e5f-8a9b-0000000000e1");
    add_s(vm->o, "templatename", "debian-12");
    add_s(vm->o, "templatedisplaytext", "Debian 12");
    add_b(vm->o, "passwordenabled", false);
    add_s(vm->o, "serviceofferingid", "6b2a1f0e-1c3d-4e5f-8a9b-0000000000e2");
    add_s(vm->o, "serviceofferingname", "Medium Instance");
    add_i(vm->o, "cpunumber", 2);
    add_i(vm->o, "cpuspeed", 2000);
    add_i(vm->o, "memory", 4096);
    add_s(vm->o, "cpuused", "1%");
    add_i(vm->o, "networkkbsread", 0);
    add_i(vm->o, "networkkbswrite", 0);
    add_s(vm->o, "guestosid", "6b2a1f0e-1c3d-4e5f-8a9b-0000000000e3");
    add_i(vm->o, "rootdeviceid", 0);
    add_s(vm->o, "rootdevicetype", "ROOT");
    json_object_object_add(vm->o, "securitygroup", json_object_new_array());
    nics = json_object_new_array();
    nic = json_object_new_object();
    cs_new_uuid(nicid);
    add_s(nic, "id", nicid);
    add_s(nic, "networkid", net->id);
    add_s(nic, "networkname", json_object_get_string(json_object_object_get(net->o, "name")));
    add_s(nic, "netmask", "255.255.255.0");
    add_s(nic, "gateway", json_object_get_string(json_object_object_get(net->o, "gateway")));
    add_s(nic, "ipaddress", addr);
    add_s(nic, "traffictype", "Guest");
    add_s(nic, "type", "Isolated");
    add_b(nic, "isdefault", true);
    n = ++g_nic_seq;
    snprintf(mac, sizeof(mac), "02:00:%02x:%02x:%02x:%02x", (n >> 24) & 0xff, (n >> 16) & 0xff,
             (n >> 8) & 0xff, n & 0xff);
    add_s(nic, "macaddress", mac);
    json_object_array_add(nics, nic);
    json_object_object_add(vm->o, "nic", nics);
    add_s(vm->o, "hypervisor", "KVM");
    return 0;
}

/* ---- tags ---- */

int cs_tag_add(const char *rtype, const char *rid, const char *key, const char *value)
{
    struct cs_tag *t, **tail = &g_tags;
    for (t = g_tags; t; t = t->next) {
        if (strcmp(t->rid, rid) == 0 && strcmp(t->key, key) == 0)
            return -1;
        tail = &t->next;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    lbp_strlcpy(t->rtype, rtype, sizeof(t->rtype));
    lbp_strlcpy(t->rid, rid, sizeof(t->rid));
    lbp_strlcpy(t->key, key, sizeof(t->key));
    lbp_strlcpy(t->value, value ? value : "", sizeof(t->value));
    *tail = t;
    return 0;
}

bool cs_tag_has(const char *rid, const char *key, const char *value)
{
    for (struct cs_tag *t = g_tags; t; t = t->next)
        if (strcmp(t->rid, rid) == 0 && strcmp(t->key, key) == 0 &&
            (!value || strcmp(t->value, value) == 0))
            return true;
    return false;
}

int cs_tag_del(const char *rid, const char *key, const char *value)
{
    int n = 0;
    for (struct cs_tag **pp = &g_tags; *pp;) {
        struct cs_tag *t = *pp;
        if (strcmp(t->rid, rid) == 0 && (!key || strcmp(t->key, key) == 0) &&
            (!value || strcmp(t->value, value) == 0)) {
            *pp = t->next;
            free(t);
            n++;
        } else {
            pp = &t->next;
        }
    }
    return n;
}

static struct json_object *tag_json(const struct cs_tag *t)
{
    struct json_object *o = json_object_new_object();
    add_s(o, "key", t->key);
    add_s(o, "value", t->value);
    add_s(o, "resourcetype", t->rtype);
    add_s(o, "resourceid", t->rid);
    add_owner(o);
    return o;
}

struct json_object *cs_tags_of(const char *rid)
{
    struct json_object *a = json_object_new_array();
    for (struct cs_tag *t = g_tags; t; t = t->next)
        if (strcmp(t->rid, rid) == 0)
            json_object_array_add(a, tag_json(t));
    return a;
}

struct json_object *cs_tags_list(const char *rtype, const char *rid, const char *key,
                                 const char *value)
{
    struct json_object *a = json_object_new_array();
    for (struct cs_tag *t = g_tags; t; t = t->next)
        if ((!rtype || strcasecmp(t->rtype, rtype) == 0) && (!rid || strcmp(t->rid, rid) == 0) &&
            (!key || strcmp(t->key, key) == 0) && (!value || strcmp(t->value, value) == 0))
            json_object_array_add(a, tag_json(t));
    return a;
}

/* ---- dump and teardown ---- */

static const char *const kind_names[CS_KIND_MAX] = {
    "zones",         "networks",    "vpcs",           "vms", "publicips", "lbrules",
    "firewallrules", "networkacls", "networkacllists"};

struct json_object *cs_state_dump(void)
{
    struct json_object *d = json_object_new_object(), *tags = json_object_new_array();
    for (int k = 0; k < CS_KIND_MAX; k++)
        json_object_object_add(d, kind_names[k], json_object_new_array());
    for (struct cs_obj *o = g_objs; o; o = o->hh.next) {
        struct json_object *r;
        if (o->gone)
            continue;
        r = cs_render(o);
        if (o->kind == CS_LB)
            json_object_object_add(r, "members", json_object_get(o->members));
        json_object_array_add(json_object_object_get(d, kind_names[o->kind]), r);
    }
    for (struct cs_tag *t = g_tags; t; t = t->next)
        json_object_array_add(tags, tag_json(t));
    json_object_object_add(d, "tags", tags);
    return d;
}

void cs_state_free(void)
{
    free(g_pool_used);
    g_pool_used = NULL;
    struct cs_obj *o, *tmp;
    HASH_ITER(hh, g_objs, o, tmp)
    {
        HASH_DEL(g_objs, o);
        json_object_put(o->o);
        json_object_put(o->members);
        free(o);
    }
    while (g_tags) {
        struct cs_tag *t = g_tags;
        g_tags = t->next;
        free(t);
    }
}
