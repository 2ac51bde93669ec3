/*
 * arm.c — fake-azure's Azure Resource Manager: resource groups, the
 * Microsoft.Network resources lbprov uses (load balancers, public IPs,
 * network security groups, NICs, virtual networks and subnets), the
 * Compute VMs and scale-set NICs it reads to find a node's NIC, and the
 * async operations every write starts.
 *
 * Every resource is one entry in a hash keyed by its id in lower case, so
 * paths match case-insensitively as ARM matches them, while the id a
 * client sees keeps the casing it was created with. A PUT is checked
 * (api-version, ETag preconditions, location, the body field by field,
 * every id it references) and then replaces the stored object whole, as
 * ARM's PUT does; nothing is stored on a rejected PUT. Read-only fields
 * (ids, types, etags, back-references, addresses) are made here, never
 * taken from the client.
 *
 * A write answers at once with provisioningState Updating (Deleting for a
 * DELETE) and an operation whose status URL is built from the request's
 * Host header; the operation stays InProgress for --op-polls polls (or
 * until --op-ms passes) and then ends Succeeded, or Failed when a fault
 * says so. Only then does the resource show Succeeded (or vanish).
 */
#include "test/fakes/azure/fake.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#define ID_CAP 600
#define MAX_SEGS 16
#define MAX_OPS 50000

enum kind {
    K_RG,
    K_LB,
    K_PIP,
    K_NSG,
    K_NIC,
    K_VNET,
    K_SUBNET,
    K_VM,
    K_VMSS,
    K_VMSS_VM,
    K_VMSS_NIC,
    K_N
};

enum ns { NS_RESOURCES, NS_NETWORK, NS_COMPUTE };

static const struct {
    enum ns ns;
    const char *path;     /* type names from the provider down, '/'-joined */
    const char *arm_type; /* the "type" field */
    const char *counter;  /* the last type name, for counters */
    bool client_writable; /* Compute is read-only here: seeded by /_fake/seed */
    bool has_location;
} TYPES[K_N] = {
    [K_RG] = {NS_RESOURCES, "resourceGroups", "Microsoft.Resources/resourceGroups",
              "resourceGroups", true, true},
    [K_LB] = {NS_NETWORK, "loadBalancers", "Microsoft.Network/loadBalancers", "loadBalancers", true,
              true},
    [K_PIP] = {NS_NETWORK, "publicIPAddresses", "Microsoft.Network/publicIPAddresses",
               "publicIPAddresses", true, true},
    [K_NSG] = {NS_NETWORK, "networkSecurityGroups", "Microsoft.Network/networkSecurityGroups",
               "networkSecurityGroups", true, true},
    [K_NIC] = {NS_NETWORK, "networkInterfaces", "Microsoft.Network/networkInterfaces",
               "networkInterfaces", true, true},
    [K_VNET] = {NS_NETWORK, "virtualNetworks", "Microsoft.Network/virtualNetworks",
                "virtualNetworks", true, true},
    [K_SUBNET] = {NS_NETWORK, "virtualNetworks/subnets",
                  "Microsoft.Network/virtualNetworks/subnets", "subnets", true, false},
    [K_VM] = {NS_COMPUTE, "virtualMachines", "Microsoft.Compute/virtualMachines", "virtualMachines",
              false, true},
    [K_VMSS] = {NS_COMPUTE, "virtualMachineScaleSets", "Microsoft.Compute/virtualMachineScaleSets",
                "virtualMachineScaleSets", false, true},
    [K_VMSS_VM] = {NS_COMPUTE, "virtualMachineScaleSets/virtualMachines",
                   "Microsoft.Compute/virtualMachineScaleSets/virtualMachines", "virtualMachines",
                   false, true},
    [K_VMSS_NIC] = {NS_COMPUTE, "virtualMachineScaleSets/virtualMachines/networkInterfaces",
                    "Microsoft.Network/networkInterfaces", "networkInterfaces", false, true},
};

static const char *const NS_NAME[] = {"Microsoft.Resources", "Microsoft.Network",
                                      "Microsoft.Compute"};

/*
 * Published stable api-versions. Network: the Microsoft.Network REST specs
 * from 2022-05-01 on (2025-05-01 is what cloud-provider-azure sends in the
 * recorded cassettes). Compute: its stable releases from 2022-03-01 on; the
 * scale-set NIC path is served by the network provider under the Compute
 * namespace and takes 2018-10-01 as well. Resources: resource groups.
 */
static const char *const NETWORK_VERSIONS[] = {
    "2022-05-01", "2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01",
    "2023-05-01", "2023-06-01", "2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01",
    "2024-05-01", "2024-07-01", "2025-05-01", NULL};
static const char *const COMPUTE_VERSIONS[] = {
    "2022-03-01", "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01",
    "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", NULL};
static const char *const VMSS_NIC_VERSIONS[] = {"2018-10-01", NULL};
static const char *const RESOURCES_VERSIONS[] = {"2021-04-01", "2022-09-01", "2023-07-01",
                                                 "2024-03-01", NULL};

enum state { ST_OK, ST_UPDATING, ST_DELETING, ST_FAILED };

struct res {
    char key[ID_CAP]; /* id in lower case */
    char id[ID_CAP];
    enum kind kind;
    struct json_object *body; /* the stored object, read-only fields included */
    char etag[48];            /* W/"guid" */
    enum state state;
    bool seeded;
    bool addr_shown; /* a static public IP shows its address once provisioned */
    uint32_t addr;   /* a public IP's address (host order), 0 none */
    char op[40];     /* the pending operation, "" none */
    UT_hash_handle hh;
};

enum op_kind { OP_PUT, OP_DELETE };

struct op {
    char id[40];
    char key[ID_CAP];
    enum op_kind kind;
    int polls;
    uint64_t start_ms;
    int status; /* 0 InProgress, 1 Succeeded, 2 Failed */
    bool fail;
    UT_hash_handle hh;
};

static struct res *g_res;
static struct op *g_ops;

/* ---- small helpers ---- */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static struct json_object *jobj(struct json_object *o, const char *key)
{
    struct json_object *v = jget(o, key);
    return json_object_is_type(v, json_type_object) ? v : NULL;
}

/* {"key":{"id":"..."}} → the id, or NULL. */
static const char *ref_id(struct json_object *o, const char *key)
{
    return az_js(jobj(o, key), "id");
}

/* An array's length; 0 for anything else (json-c asserts on non-arrays). */
static size_t alen(struct json_object *a)
{
    return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static struct json_object *dup(struct json_object *o)
{
    struct json_object *c = NULL;
    if (json_object_deep_copy(o, &c, NULL) != 0)
        return NULL;
    return c;
}

static void jset(struct json_object *o, const char *key, struct json_object *v)
{
    json_object_object_add(o, key, v);
}

static void jset_str(struct json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, json_object_new_string(v));
}

static struct json_object *new_ref(const char *id)
{
    struct json_object *o = json_object_new_object();
    jset_str(o, "id", id);
    return o;
}

static struct res *find(const char *id)
{
    char key[ID_CAP];
    struct res *r;
    if (!id || strlen(id) >= sizeof(key))
        return NULL;
    lbp_strlcpy(key, id, sizeof(key));
    lower(key);
    /* ARM ignores a trailing slash on an id. */
    if (strlen(key) > 1 && key[strlen(key) - 1] == '/')
        key[strlen(key) - 1] = 0;
    HASH_FIND_STR(g_res, key, r);
    return r;
}

static struct res *find_kind(const char *id, enum kind k)
{
    struct res *r = find(id);
    return r && r->kind == k ? r : NULL;
}

static const char *canon(const char *v, const char *const *allowed)
{
    for (size_t i = 0; v && allowed[i]; i++)
        if (!strcasecmp(v, allowed[i]))
            return allowed[i];
    return NULL;
}

static bool version_ok(const char *v, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(v, list[i]))
            return true;
    return false;
}

static void versions_join(const char *const *list, char *out, size_t cap)
{
    out[0] = 0;
    for (size_t i = 0; list[i]; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? ", " : "", list[i]);
}

/* "YYYY-MM-DD" with an optional "-preview" or "-beta" suffix. */
static bool version_well_formed(const char *v)
{
    if (strlen(v) < 10)
        return false;
    for (int i = 0; i < 10; i++)
        if ((i == 4 || i == 7) ? v[i] != '-' : !isdigit((unsigned char)v[i]))
            return false;
    return v[10] == 0 || !strcmp(v + 10, "-preview") || !strcmp(v + 10, "-beta");
}

static int parse_cidr(const char *s, uint32_t *base, uint32_t *n)
{
    char ip[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    struct in_addr a;
    long bits;
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return -1;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
    if (inet_pton(AF_INET, ip, &a) != 1 || lbp_parse_long(slash + 1, 8, 29, &bits) != 0)
        return -1;
    *n = 1u << (32 - bits);
    *base = ntohl(a.s_addr) & ~(*n - 1);
    return 0;
}

static void ip_str(uint32_t a, char out[16])
{
    struct in_addr in = {htonl(a)};
    inet_ntop(AF_INET, &in, out, 16);
}

static int rg_missing(struct az_reply *r, const char *rg)
{
    az_error(r, 404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", rg);
    return 1;
}

static void not_found(struct az_reply *r, enum kind k, const char *name, const char *rg)
{
    az_error(r, 404, "ResourceNotFound",
             "The Resource '%s/%s' under resource group '%s' was not found. For more details "
             "please go to https://aka.ms/ARMResourceNotFoundFix",
             TYPES[k].arm_type, name, rg);
}

static void bad_ref(struct az_reply *r, const char *target, const char *holder)
{
    az_error(r, 400, "InvalidResourceReference",
             "Resource %s referenced by resource %s was not found. Please make sure that the "
             "referenced resource exists, and that both resources are in the same region.",
             target, holder);
}

static void bad_format(struct az_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void bad_format(struct az_reply *r, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    az_error(r, 400, "InvalidRequestFormat", "Cannot parse the request. %s", msg);
}

/* An integer field: absent → def; wrong type or range → -1 with r filled. */
static int int_field(struct json_object *o, const char *key, long def, long min, long max,
                     const char *where, long *out, struct az_reply *r)
{
    struct json_object *v = jget(o, key);
    if (!v) {
        *out = def;
        if (def >= min)
            return 0;
        bad_format(r, "%s: property '%s' is required.", where, key);
        return -1;
    }
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
        json_object_get_int64(v) > max) {
        bad_format(r, "%s: property '%s' must be an integer in [%ld, %ld].", where, key, min, max);
        return -1;
    }
    *out = (long)json_object_get_int64(v);
    return 0;
}

static int enum_field(struct json_object *o, const char *key, const char *def,
                      const char *const *allowed, const char *where, const char **out,
                      struct az_reply *r)
{
    struct json_object *v = jget(o, key);
    if (!v && def) {
        *out = def;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string) ||
        !(*out = canon(json_object_get_string(v), allowed))) {
        char list[200];
        versions_join(allowed, list, sizeof(list));
        bad_format(r, "%s: property '%s' must be one of %s.", where, key, list);
        return -1;
    }
    return 0;
}

static int bool_field(struct json_object *o, const char *key, bool def, const char *where,
                      bool *out, struct az_reply *r)
{
    struct json_object *v = jget(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        bad_format(r, "%s: property '%s' must be a boolean.", where, key);
        return -1;
    }
    *out = json_object_get_boolean(v);
    return 0;
}

/* Child arrays: absent → empty; each item an object with a unique non-empty name. */
static struct json_object *children(struct json_object *props, const char *key, const char *where,
                                    struct az_reply *r)
{
    struct json_object *a = jget(props, key);
    if (!a)
        return json_object_new_array();
    if (!json_object_is_type(a, json_type_array)) {
        bad_format(r, "%s: property '%s' must be an array.", where, key);
        return NULL;
    }
    for (size_t i = 0; i < alen(a); i++) {
        struct json_object *c = json_object_array_get_idx(a, i);
        const char *n = az_js(c, "name");
        if (!n || !*n || strlen(n) > 80) {
            bad_format(r, "%s: %s[%zu] needs a name of 1 to 80 characters.", where, key, i);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcasecmp(n, az_js(json_object_array_get_idx(a, j), "name"))) {
                bad_format(r, "%s: %s has two items named '%s'.", where, key, n);
                return NULL;
            }
    }
    return json_object_get(a);
}

/* A child object as ARM shows it: name, id, etag (filled at store), type, properties. */
static struct json_object *child(const char *parent_id, const char *coll, const char *type,
                                 const char *name, struct json_object **props)
{
    struct json_object *o = json_object_new_object();
    char id[ID_CAP * 2];
    snprintf(id, sizeof(id), "%s/%s/%s", parent_id, coll, name);
    jset_str(o, "name", name);
    jset_str(o, "id", id);
    jset_str(o, "etag", "");
    jset_str(o, "type", type);
    *props = json_object_new_object();
    jset(o, "properties", *props);
    return o;
}

/* The item of arr whose id is id (case-insensitive), or NULL. */
static struct json_object *by_id(struct json_object *arr, const char *id)
{
    for (size_t i = 0; id && i < alen(arr); i++)
        if (!strcasecmp(az_js(json_object_array_get_idx(arr, i), "id"), id))
            return json_object_array_get_idx(arr, i);
    return NULL;
}

static void add_backref(struct json_object *target, const char *key, const char *id)
{
    struct json_object *props = jobj(target, "properties"), *a = jget(props, key);
    if (!a) {
        a = json_object_new_array();
        jset(props, key, a);
    }
    json_object_array_add(a, new_ref(id));
}

/*
 * Who references id: walks every stored object for {"id": id} and returns
 * the innermost named object (a resource or a child) holding it.
 */
static const char *walk_ref(struct json_object *o, const char *id, const char *holder)
{
    if (json_object_is_type(o, json_type_object)) {
        const char *own = az_js(o, "id");
        if (az_js(o, "name") && own)
            holder = own;
        else if (own && !strcasecmp(own, id))
            return holder;
        json_object_object_foreach(o, k, v)
        {
            const char *h;
            (void)k;
            if (!json_object_is_type(v, json_type_string) && (h = walk_ref(v, id, holder)))
                return h;
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < alen(o); i++) {
            const char *h = walk_ref(json_object_array_get_idx(o, i), id, holder);
            if (h)
                return h;
        }
    }
    return NULL;
}

static const char *referenced_by(const char *id, const struct res *except)
{
    for (struct res *r = g_res; r; r = r->hh.next) {
        const char *h;
        if (r == except)
            continue;
        if ((h = walk_ref(r->body, id, r->id)))
            return h;
    }
    return NULL;
}

/* Any stored privateIPAddress equal to a. */
static bool private_in_use(uint32_t a, const struct res *except_res);

static bool find_private(struct json_object *o, const char *want)
{
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v)
        {
            if (!strcmp(k, "privateIPAddress") && json_object_is_type(v, json_type_string) &&
                !strcmp(json_object_get_string(v), want))
                return true;
            if (find_private(v, want))
                return true;
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < alen(o); i++)
            if (find_private(json_object_array_get_idx(o, i), want))
                return true;
    }
    return false;
}

static bool private_in_use(uint32_t a, const struct res *except_res)
{
    char s[16];
    ip_str(a, s);
    for (struct res *r = g_res; r; r = r->hh.next)
        if (r != except_res && find_private(r->body, s))
            return true;
    return false;
}

/*
 * A private address for an IP configuration in subnet: the one it had
 * (prev) when it still fits, else the lowest free one after the four
 * addresses Azure reserves at the start of every subnet.
 */
static int private_addr(struct res *subnet, const char *method, const char *asked, const char *prev,
                        const struct res *self, const char *holder, char out[16],
                        struct az_reply *r)
{
    uint32_t base, n, a;
    struct in_addr in;
    const char *prefix = az_js(jobj(subnet->body, "properties"), "addressPrefix");
    if (parse_cidr(prefix, &base, &n) != 0) {
        bad_format(r, "subnet %s has no usable addressPrefix.", subnet->id);
        return -1;
    }
    if (!strcmp(method, "Static")) {
        if (!asked || inet_pton(AF_INET, asked, &in) != 1) {
            bad_format(r, "%s: a Static privateIPAllocationMethod needs a privateIPAddress.",
                       holder);
            return -1;
        }
        a = ntohl(in.s_addr);
        if (a < base + 4 || a >= base + n - 1) {
            az_error(r, 400, "PrivateIPAddressNotInSubnet",
                     "Private static IP address %s does not belong to the range of subnet prefix "
                     "%s.",
                     asked, prefix);
            return -1;
        }
        if (private_in_use(a, self) && !lbp_streq(asked, prev)) {
            az_error(r, 400, "PrivateIPAddressInUse",
                     "IP configuration %s is using the private IP address %s which is already "
                     "allocated to another resource.",
                     holder, asked);
            return -1;
        }
        ip_str(a, out);
        return 0;
    }
    if (prev && inet_pton(AF_INET, prev, &in) == 1 && ntohl(in.s_addr) >= base + 4 &&
        ntohl(in.s_addr) < base + n - 1) {
        lbp_strlcpy(out, prev, 16);
        return 0;
    }
    for (a = base + 4; a < base + n - 1; a++)
        if (!private_in_use(a, self)) {
            ip_str(a, out);
            return 0;
        }
    az_error(r, 400, "SubnetIsFull",
             "Subnet %s with address prefix %s does not have enough capacity for 1 IP addresses.",
             subnet->id, prefix);
    return -1;
}

/* The privateIPAddress the stored version of a child had, or NULL. */
static const char *prev_private(struct res *old, const char *arr, const char *child_id)
{
    struct json_object *c;
    if (!old)
        return NULL;
    c = by_id(jget(jobj(old->body, "properties"), arr), child_id);
    return az_js(jobj(c, "properties"), "privateIPAddress");
}

/* ---- per-type bodies ---- */

static const char *const PROTO[] = {"Tcp", "Udp", "All", NULL};
static const char *const PROBE_PROTO[] = {"Tcp", "Http", "Https", NULL};
static const char *const ALLOC[] = {"Dynamic", "Static", NULL};
static const char *const DIST[] = {"Default", "SourceIP", "SourceIPProtocol", NULL};
static const char *const SKU_LB[] = {"Basic", "Standard", "Gateway", NULL};
static const char *const SKU_PIP[] = {"Basic", "Standard", NULL};

static const char *sku_name(struct json_object *in, const char *def, const char *const *allowed,
                            struct az_reply *r)
{
    const char *s;
    if (enum_field(jobj(in, "sku") ? jobj(in, "sku") : NULL, "name", def, allowed, "sku", &s, r))
        return NULL;
    return s;
}

static struct json_object *new_sku(const char *name)
{
    struct json_object *o = json_object_new_object();
    jset_str(o, "name", name);
    jset_str(o, "tier", "Regional");
    return o;
}

#define LB_CHILD_TYPE(c) "Microsoft.Network/loadBalancers/" c

static int lb_frontends(struct res *old, const char *lb_id, const char *sku,
                        struct json_object *in_arr, struct json_object *out_arr, struct az_reply *r)
{
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *fe = json_object_array_get_idx(in_arr, i), *fp = jobj(fe, "properties"),
                           *props, *o;
        const char *name = az_js(fe, "name"), *pip_id = ref_id(fp, "publicIPAddress"),
                   *sub_id = ref_id(fp, "subnet"), *method;
        o = child(lb_id, "frontendIPConfigurations", LB_CHILD_TYPE("frontendIPConfigurations"),
                  name, &props);
        json_object_array_add(out_arr, o);
        if (!!pip_id == !!sub_id) {
            bad_format(r,
                       "frontend IP configuration %s needs exactly one of publicIPAddress and "
                       "subnet.",
                       az_js(o, "id"));
            return -1;
        }
        if (enum_field(fp, "privateIPAllocationMethod", "Dynamic", ALLOC, az_js(o, "id"), &method,
                       r))
            return -1;
        jset_str(props, "privateIPAllocationMethod", method);
        if (pip_id) {
            struct res *pip = find_kind(pip_id, K_PIP);
            const char *used, *pip_sku;
            if (!pip) {
                bad_ref(r, pip_id, az_js(o, "id"));
                return -1;
            }
            pip_sku = az_js(jobj(pip->body, "sku"), "name");
            if (!lbp_streq(pip_sku, sku)) {
                az_error(r, 400, "PublicIPAndLBSkuDoNotMatch",
                         "%s sku load balancer %s cannot reference %s sku publicIP %s.", sku, lb_id,
                         pip_sku ? pip_sku : "Basic", pip->id);
                return -1;
            }
            for (size_t j = 0; j < i; j++)
                if (!strcasecmp(ref_id(jobj(json_object_array_get_idx(in_arr, j), "properties"),
                                       "publicIPAddress")
                                    ?: "",
                                pip_id)) {
                    az_error(r, 400, "PublicIPReferencedByMultipleIPConfigs",
                             "Public ip address %s is referenced by multiple ipconfigs in "
                             "resource %s.",
                             pip->id, lb_id);
                    return -1;
                }
            used = referenced_by(pip->id, old);
            if (used) {
                az_error(r, 400, "PublicIPAddressInUse",
                         "Resource %s is referencing public IP address %s that is already "
                         "allocated to resource %s.",
                         az_js(o, "id"), pip->id, used);
                return -1;
            }
            jset(props, "publicIPAddress", new_ref(pip->id));
        } else {
            struct res *sub = find_kind(sub_id, K_SUBNET);
            char addr[16];
            if (!sub) {
                bad_ref(r, sub_id, az_js(o, "id"));
                return -1;
            }
            if (private_addr(sub, method, az_js(fp, "privateIPAddress"),
                             prev_private(old, "frontendIPConfigurations", az_js(o, "id")), old,
                             az_js(o, "id"), addr, r))
                return -1;
            jset_str(props, "privateIPAddress", addr);
            jset(props, "subnet", new_ref(sub->id));
            jset_str(props, "privateIPAddressVersion", "IPv4");
        }
    }
    return 0;
}

static int lb_pools(const char *lb_id, struct json_object *in_arr, struct json_object *out_arr,
                    struct az_reply *r)
{
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *p = json_object_array_get_idx(in_arr, i), *pp = jobj(p, "properties"),
                           *props, *o, *addrs = jget(pp, "loadBalancerBackendAddresses");
        const char *vnet = ref_id(pp, "virtualNetwork");
        o = child(lb_id, "backendAddressPools", LB_CHILD_TYPE("backendAddressPools"),
                  az_js(p, "name"), &props);
        json_object_array_add(out_arr, o);
        if (vnet && !find_kind(vnet, K_VNET)) {
            bad_ref(r, vnet, az_js(o, "id"));
            return -1;
        }
        if (vnet)
            jset(props, "virtualNetwork", new_ref(find(vnet)->id));
        if (!addrs)
            continue;
        if (!json_object_is_type(addrs, json_type_array)) {
            bad_format(r, "%s: loadBalancerBackendAddresses must be an array.", az_js(o, "id"));
            return -1;
        }
        struct json_object *out_addrs = json_object_new_array();
        jset(props, "loadBalancerBackendAddresses", out_addrs);
        for (size_t j = 0; j < alen(addrs); j++) {
            struct json_object *a = json_object_array_get_idx(addrs, j),
                               *ap = jobj(a, "properties"), *oa = json_object_new_object(),
                               *oap = json_object_new_object();
            const char *ip = az_js(ap, "ipAddress"), *avnet = ref_id(ap, "virtualNetwork");
            struct in_addr in;
            json_object_array_add(out_addrs, oa);
            if (!az_js(a, "name") || !ip || inet_pton(AF_INET, ip, &in) != 1) {
                bad_format(r,
                           "%s: loadBalancerBackendAddresses[%zu] needs a name and an "
                           "IPv4 ipAddress.",
                           az_js(o, "id"), j);
                return -1;
            }
            if (!vnet && !avnet) {
                bad_format(r, "%s: an IP-based backend address needs a virtualNetwork.",
                           az_js(o, "id"));
                return -1;
            }
            if (avnet && !find_kind(avnet, K_VNET)) {
                bad_ref(r, avnet, az_js(o, "id"));
                return -1;
            }
            jset_str(oa, "name", az_js(a, "name"));
            jset(oa, "properties", oap);
            jset_str(oap, "ipAddress", ip);
            if (avnet)
                jset(oap, "virtualNetwork", new_ref(find(avnet)->id));
        }
    }
    return 0;
}

static int lb_probes(const char *lb_id, struct json_object *in_arr, struct json_object *out_arr,
                     struct az_reply *r)
{
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *p = json_object_array_get_idx(in_arr, i), *pp = jobj(p, "properties"),
                           *props, *o;
        const char *proto, *path = az_js(pp, "requestPath");
        long port, interval, num, threshold;
        o = child(lb_id, "probes", LB_CHILD_TYPE("probes"), az_js(p, "name"), &props);
        json_object_array_add(out_arr, o);
        if (enum_field(pp, "protocol", NULL, PROBE_PROTO, az_js(o, "id"), &proto, r) ||
            int_field(pp, "port", -1, 1, 65535, az_js(o, "id"), &port, r) ||
            int_field(pp, "intervalInSeconds", 15, 5, 2147483647, az_js(o, "id"), &interval, r) ||
            int_field(pp, "numberOfProbes", 2, 1, 2147483647, az_js(o, "id"), &num, r) ||
            int_field(pp, "probeThreshold", 1, 1, 2147483647, az_js(o, "id"), &threshold, r))
            return -1;
        if (strcmp(proto, "Tcp") != 0 && (!path || path[0] != '/')) {
            bad_format(r, "%s: an %s probe needs a requestPath starting with '/'.", az_js(o, "id"),
                       proto);
            return -1;
        }
        if (!strcmp(proto, "Tcp") && path) {
            bad_format(r, "%s: a Tcp probe takes no requestPath.", az_js(o, "id"));
            return -1;
        }
        jset_str(props, "protocol", proto);
        jset(props, "port", json_object_new_int64(port));
        jset(props, "intervalInSeconds", json_object_new_int64(interval));
        jset(props, "numberOfProbes", json_object_new_int64(num));
        jset(props, "probeThreshold", json_object_new_int64(threshold));
        if (path)
            jset_str(props, "requestPath", path);
    }
    return 0;
}

static int lb_rules(const char *lb_id, struct json_object *lb_props, struct json_object *in_arr,
                    struct json_object *out_arr, struct az_reply *r)
{
    struct json_object *fes = jget(lb_props, "frontendIPConfigurations"),
                       *pools = jget(lb_props, "backendAddressPools"),
                       *probes = jget(lb_props, "probes");
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *p = json_object_array_get_idx(in_arr, i), *pp = jobj(p, "properties"),
                           *props, *o, *fe, *pool = NULL, *probe = NULL;
        const char *proto, *dist, *fe_id = ref_id(pp, "frontendIPConfiguration"),
                                  *pool_id = ref_id(pp, "backendAddressPool"),
                                  *probe_id = ref_id(pp, "probe"), *id;
        long fport, bport, idle;
        bool floating, reset, nosnat;
        o = child(lb_id, "loadBalancingRules", LB_CHILD_TYPE("loadBalancingRules"),
                  az_js(p, "name"), &props);
        json_object_array_add(out_arr, o);
        id = az_js(o, "id");
        if (enum_field(pp, "protocol", NULL, PROTO, id, &proto, r) ||
            int_field(pp, "frontendPort", -1, 0, 65534, id, &fport, r) ||
            int_field(pp, "backendPort", fport, 0, 65535, id, &bport, r) ||
            int_field(pp, "idleTimeoutInMinutes", 4, 4, 100, id, &idle, r) ||
            enum_field(pp, "loadDistribution", "Default", DIST, id, &dist, r) ||
            bool_field(pp, "enableFloatingIP", false, id, &floating, r) ||
            bool_field(pp, "enableTcpReset", false, id, &reset, r) ||
            bool_field(pp, "disableOutboundSnat", false, id, &nosnat, r))
            return -1;
        if (!fe_id) {
            bad_format(r, "%s: property 'frontendIPConfiguration' is required.", id);
            return -1;
        }
        if (!(fe = by_id(fes, fe_id))) {
            bad_ref(r, fe_id, id);
            return -1;
        }
        if (pool_id && !(pool = by_id(pools, pool_id))) {
            bad_ref(r, pool_id, id);
            return -1;
        }
        if (probe_id && !(probe = by_id(probes, probe_id))) {
            bad_ref(r, probe_id, id);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            struct json_object *q = jobj(json_object_array_get_idx(out_arr, j), "properties");
            if (!strcasecmp(ref_id(q, "frontendIPConfiguration"), az_js(fe, "id")) &&
                lbp_streq(az_js(q, "protocol"), proto) &&
                json_object_get_int64(jget(q, "frontendPort")) == fport) {
                az_error(
                    r, 400,
                    "RulesOfSameLoadBalancerTypeUseSameProtocolFrontendPortAndFrontendIPConfig",
                    "Load balancer rules %s and %s belong to the load balancer of the same "
                    "type and use the same protocol, frontend port and frontend IP "
                    "configuration.",
                    az_js(json_object_array_get_idx(out_arr, j), "id"), id);
                return -1;
            }
        }
        jset(props, "frontendIPConfiguration", new_ref(az_js(fe, "id")));
        jset_str(props, "protocol", proto);
        jset(props, "frontendPort", json_object_new_int64(fport));
        jset(props, "backendPort", json_object_new_int64(bport));
        jset(props, "enableFloatingIP", json_object_new_boolean(floating));
        jset(props, "idleTimeoutInMinutes", json_object_new_int64(idle));
        jset(props, "enableTcpReset", json_object_new_boolean(reset));
        jset(props, "disableOutboundSnat", json_object_new_boolean(nosnat));
        jset_str(props, "loadDistribution", dist);
        add_backref(fe, "loadBalancingRules", id);
        if (pool) {
            jset(props, "backendAddressPool", new_ref(az_js(pool, "id")));
            add_backref(pool, "loadBalancingRules", id);
        }
        if (probe) {
            jset(props, "probe", new_ref(az_js(probe, "id")));
            add_backref(probe, "loadBalancingRules", id);
        }
    }
    return 0;
}

static int lb_nat_rules(const char *lb_id, struct json_object *lb_props, struct json_object *in_arr,
                        struct json_object *out_arr, struct az_reply *r)
{
    struct json_object *fes = jget(lb_props, "frontendIPConfigurations");
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *p = json_object_array_get_idx(in_arr, i), *pp = jobj(p, "properties"),
                           *props, *o, *fe;
        const char *proto, *fe_id = ref_id(pp, "frontendIPConfiguration"), *id;
        long fport, bport;
        o = child(lb_id, "inboundNatRules", LB_CHILD_TYPE("inboundNatRules"), az_js(p, "name"),
                  &props);
        json_object_array_add(out_arr, o);
        id = az_js(o, "id");
        if (enum_field(pp, "protocol", NULL, PROTO, id, &proto, r) ||
            int_field(pp, "frontendPort", -1, 1, 65534, id, &fport, r) ||
            int_field(pp, "backendPort", -1, 1, 65535, id, &bport, r))
            return -1;
        if (!fe_id || !(fe = by_id(fes, fe_id))) {
            bad_ref(r, fe_id ? fe_id : "(none)", id);
            return -1;
        }
        jset(props, "frontendIPConfiguration", new_ref(az_js(fe, "id")));
        jset_str(props, "protocol", proto);
        jset(props, "frontendPort", json_object_new_int64(fport));
        jset(props, "backendPort", json_object_new_int64(bport));
        add_backref(fe, "inboundNatRules", id);
    }
    return 0;
}

/* Outbound rules and NAT pools are kept as given, with ARM's read-only fields. */
static void lb_passthrough(const char *lb_id, const char *coll, const char *type,
                           struct json_object *in_arr, struct json_object *out_arr)
{
    for (size_t i = 0; i < alen(in_arr); i++) {
        struct json_object *p = json_object_array_get_idx(in_arr, i), *props, *o;
        o = child(lb_id, coll, type, az_js(p, "name"), &props);
        json_object_object_foreach(jobj(p, "properties"), k, v) jset(props, k, json_object_get(v));
        json_object_array_add(out_arr, o);
    }
}

/*
 * Azure's hard limits (az_cfg.max_*), checked with the rest of the body so
 * a PUT past one stores nothing, as ARM validates before it accepts. Where
 * Azure documents the error (frontends, security rules) its code and
 * message are used. For the rules per NIC ip configuration only the message
 * is documented, and for the rules per load balancer neither: those answer
 * under the neutral code BadRequest, with a message in ARM's style.
 */
#define NEUTRAL_CODE "BadRequest"

/* Rules whose backend pool is pool_id: lb_props's when the pool is lb_id's (the LB being
   written), else the stored load balancer's. */
static size_t rules_on_pool(const char *lb_id, struct json_object *lb_props, const char *pool_id)
{
    const char *slash = pool_id ? strcasestr(pool_id, "/backendAddressPools/") : NULL;
    struct json_object *rules = NULL;
    size_t n = 0, len;
    if (!slash)
        return 0;
    len = (size_t)(slash - pool_id);
    if (lb_id && strlen(lb_id) == len && !strncasecmp(pool_id, lb_id, len)) {
        rules = jget(lb_props, "loadBalancingRules");
    } else {
        char other[ID_CAP];
        struct res *lb;
        snprintf(other, sizeof(other), "%.*s", (int)len, pool_id);
        lb = find_kind(other, K_LB);
        rules = lb ? jget(jobj(lb->body, "properties"), "loadBalancingRules") : NULL;
    }
    for (size_t i = 0; i < alen(rules); i++)
        if (!strcasecmp(ref_id(jobj(json_object_array_get_idx(rules, i), "properties"),
                               "backendAddressPool")
                            ?: "",
                        pool_id))
            n++;
    return n;
}

/* A NIC ip configuration (as stored) may carry at most max_nic_rules rules, counted over
   every pool it is in, of every load balancer; lb_props stands for lb_id when it is set. */
static int nic_cfg_rules(struct json_object *cfg, const char *lb_id, struct json_object *lb_props,
                         struct az_reply *r)
{
    struct json_object *pools = jget(jobj(cfg, "properties"), "loadBalancerBackendAddressPools");
    size_t n = 0;
    for (size_t i = 0; i < alen(pools); i++)
        n += rules_on_pool(lb_id, lb_props, az_js(json_object_array_get_idx(pools, i), "id"));
    if (n > (size_t)az_cfg.max_nic_rules) {
        az_error(r, 400, NEUTRAL_CODE,
                 "IpConfiguration %s cannot have more than %d NAT or load balancing rules "
                 "combined.",
                 az_js(cfg, "id"), az_cfg.max_nic_rules);
        return -1;
    }
    return 0;
}

/* fn on every ip configuration of every stored NIC (VMSS ones too) until it answers non-zero. */
static int each_nic_cfg(int (*fn)(struct json_object *cfg, void *ud), void *ud)
{
    for (struct res *n = g_res; n; n = n->hh.next) {
        struct json_object *cfgs;
        if (n->kind != K_NIC && n->kind != K_VMSS_NIC)
            continue;
        cfgs = jget(jobj(n->body, "properties"), "ipConfigurations");
        for (size_t j = 0; j < alen(cfgs); j++) {
            int rc = fn(json_object_array_get_idx(cfgs, j), ud);
            if (rc)
                return rc;
        }
    }
    return 0;
}

struct nic_limits {
    const char *lb_id;
    size_t len;
    struct json_object *lb_props;
    struct az_reply *r;
};

static int nic_limits_cfg(struct json_object *c, void *ud)
{
    struct nic_limits *l = ud;
    struct json_object *pools = jget(jobj(c, "properties"), "loadBalancerBackendAddressPools");
    bool ours = false;
    for (size_t k = 0; k < alen(pools) && !ours; k++) {
        const char *pid = az_js(json_object_array_get_idx(pools, k), "id");
        ours = pid && !strncasecmp(pid, l->lb_id, l->len) &&
               !strncasecmp(pid + l->len, "/backendAddressPools/", 21);
    }
    return ours && nic_cfg_rules(c, l->lb_id, l->lb_props, l->r) ? -1 : 0;
}

/* Every stored NIC ip configuration in one of lb_id's pools, with lb_props as lb_id's body. */
static int lb_nic_limits(const char *lb_id, struct json_object *lb_props, struct az_reply *r)
{
    struct nic_limits l = {.lb_id = lb_id, .len = strlen(lb_id), .lb_props = lb_props, .r = r};
    return each_nic_cfg(nic_limits_cfg, &l);
}

/* A pool's backendIPConfigurations: the NIC ip configuration c if it names the pool. */
static int pool_backref_cfg(struct json_object *c, void *ud)
{
    struct json_object *pool = ud;
    if (by_id(jget(jobj(c, "properties"), "loadBalancerBackendAddressPools"), az_js(pool, "id")))
        add_backref(pool, "backendIPConfigurations", az_js(c, "id"));
    return 0;
}

static int body_lb(struct res *old, const char *id, struct json_object *in, struct json_object *out,
                   struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object(), *a[7];
    static const char *const keys[7] = {
        "frontendIPConfigurations", "backendAddressPools", "loadBalancingRules", "probes",
        "inboundNatRules",          "outboundRules",       "inboundNatPools"};
    const char *sku = sku_name(in, "Basic", SKU_LB, r);
    char guid[37];
    int rc = -1;
    memset(a, 0, sizeof(a));
    jset(out, "properties", props);
    if (!sku)
        return -1;
    jset(out, "sku", new_sku(sku));
    for (int i = 0; i < 7; i++)
        if (!(a[i] = children(ip, keys[i], id, r)))
            goto out;
    if (alen(a[0]) > (size_t)az_cfg.max_lb_frontends) {
        az_error(r, 400, "LoadBalancerFrontendIPConfigurationCountLimitReached",
                 "A load balancer cannot have more than %d FrontendIPConfigurations.",
                 az_cfg.max_lb_frontends);
        goto out;
    }
    if (alen(a[2]) + alen(a[4]) > (size_t)az_cfg.max_lb_rules) {
        az_error(r, 400, NEUTRAL_CODE,
                 "A load balancer cannot have more than %d load balancing rules and inbound NAT "
                 "rules combined.",
                 az_cfg.max_lb_rules);
        goto out;
    }
    /* Same key order as ARM answers with. */
    az_guid(guid);
    jset_str(props, "resourceGuid",
             old ? az_js(jobj(old->body, "properties"), "resourceGuid") : guid);
    for (int i = 0; i < 7; i++)
        jset(props, keys[i], json_object_new_array());
    if (lb_frontends(old, id, sku, a[0], jget(props, keys[0]), r) ||
        lb_pools(id, a[1], jget(props, keys[1]), r) ||
        lb_probes(id, a[3], jget(props, keys[3]), r) ||
        lb_rules(id, props, a[2], jget(props, keys[2]), r) ||
        lb_nat_rules(id, props, a[4], jget(props, keys[4]), r) || lb_nic_limits(id, props, r))
        goto out;
    lb_passthrough(id, keys[5], LB_CHILD_TYPE("outboundRules"), a[5], jget(props, keys[5]));
    lb_passthrough(id, keys[6], LB_CHILD_TYPE("inboundNatPools"), a[6], jget(props, keys[6]));
    rc = 0;
out:
    for (int i = 0; i < 7; i++)
        json_object_put(a[i]);
    return rc;
}

static bool pip_taken(uint32_t a)
{
    for (struct res *r = g_res; r; r = r->hh.next)
        if (r->kind == K_PIP && r->addr == a)
            return true;
    return false;
}

static int body_pip(struct res *old, struct res *self, const char *id, struct json_object *in,
                    struct json_object *out, struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object(),
                       *dns = jobj(ip, "dnsSettings");
    const char *sku = sku_name(in, "Basic", SKU_PIP, r), *method, *version;
    long idle;
    char guid[37];
    jset(out, "properties", props);
    if (!sku)
        return -1;
    jset(out, "sku", new_sku(sku));
    /* A Standard public IP is always static; Basic defaults to Dynamic. */
    if (enum_field(ip, "publicIPAllocationMethod", strcmp(sku, "Standard") ? "Dynamic" : "Static",
                   ALLOC, id, &method, r) ||
        enum_field(ip, "publicIPAddressVersion", "IPv4", (const char *const[]){"IPv4", NULL}, id,
                   &version, r) ||
        int_field(ip, "idleTimeoutInMinutes", 4, 4, 30, id, &idle, r))
        return -1;
    az_guid(guid);
    jset_str(props, "resourceGuid",
             old ? az_js(jobj(old->body, "properties"), "resourceGuid") : guid);
    jset_str(props, "publicIPAddressVersion", version);
    jset_str(props, "publicIPAllocationMethod", method);
    jset(props, "idleTimeoutInMinutes", json_object_new_int64(idle));
    jset(props, "ipTags", json_object_new_array());
    if (!strcmp(sku, "Standard")) {
        struct json_object *d = json_object_new_object();
        jset_str(d, "protectionMode", "VirtualNetworkInherited");
        jset(props, "ddosSettings", d);
    }
    if (dns && az_js(dns, "domainNameLabel")) {
        const char *label = az_js(dns, "domainNameLabel");
        size_t n = strlen(label);
        bool ok = n >= 3 && n <= 63 && islower((unsigned char)label[0]) &&
                  (islower((unsigned char)label[n - 1]) || isdigit((unsigned char)label[n - 1]));
        for (size_t i = 0; ok && i < n; i++)
            ok = islower((unsigned char)label[i]) || isdigit((unsigned char)label[i]) ||
                 label[i] == '-';
        if (!ok) {
            az_error(r, 400, "InvalidDomainNameLabel",
                     "The domain name label %s is invalid. It must conform to the following "
                     "regular expression: ^[a-z][a-z0-9-]{1,61}[a-z0-9]$.",
                     label);
            return -1;
        }
        for (struct res *o = g_res; o; o = o->hh.next) {
            const char *other =
                az_js(jobj(jobj(o->body, "properties"), "dnsSettings"), "domainNameLabel");
            if (o->kind == K_PIP && o != old && other && !strcmp(other, label)) {
                az_error(r, 400, "DnsRecordInUse",
                         "DNS record %s.%s.cloudapp.azure.com is already used by another public "
                         "IP.",
                         label, az_cfg.location);
                return -1;
            }
        }
        struct json_object *d = json_object_new_object();
        char fqdn[200];
        snprintf(fqdn, sizeof(fqdn), "%s.%s.cloudapp.azure.com", label, az_cfg.location);
        jset_str(d, "domainNameLabel", label);
        jset_str(d, "fqdn", fqdn);
        jset(props, "dnsSettings", d);
    }
    /* The address: kept across updates, allocated for a static IP. */
    if (!strcmp(method, "Static") && !self->addr) {
        for (uint32_t i = 1; i + 1 < az_cfg.pub_n && !self->addr; i++)
            if (!pip_taken(az_cfg.pub_base + i))
                self->addr = az_cfg.pub_base + i;
        if (!self->addr) {
            az_error(r, 400, "PublicIPCountLimitReached",
                     "Cannot create more than %u public IP addresses for this subscription in "
                     "this region.",
                     az_cfg.pub_n - 2);
            return -1;
        }
    }
    return 0;
}

static const char *const RULE_PROTO[] = {"Tcp", "Udp", "Icmp", "Esp", "Ah", "*", NULL};

static struct json_object *default_rules(const char *nsg_id)
{
    static const struct {
        const char *name, *desc, *src, *dst, *access, *dir;
        int prio;
    } d[] = {
        {"AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork",
         "VirtualNetwork", "Allow", "Inbound", 65000},
        {"AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer",
         "AzureLoadBalancer", "*", "Allow", "Inbound", 65001},
        {"DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", "Inbound", 65500},
        {"AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET",
         "VirtualNetwork", "VirtualNetwork", "Allow", "Outbound", 65000},
        {"AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*",
         "Internet", "Allow", "Outbound", 65001},
        {"DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", "Outbound", 65500},
    };
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < LBP_ARRAY_LEN(d); i++) {
        struct json_object *p, *o = child(nsg_id, "defaultSecurityRules",
                                          "Microsoft.Network/networkSecurityGroups/"
                                          "defaultSecurityRules",
                                          d[i].name, &p);
        jset_str(p, "description", d[i].desc);
        jset_str(p, "protocol", "*");
        jset_str(p, "sourcePortRange", "*");
        jset_str(p, "destinationPortRange", "*");
        jset_str(p, "sourceAddressPrefix", d[i].src);
        jset_str(p, "destinationAddressPrefix", d[i].dst);
        jset_str(p, "access", d[i].access);
        jset(p, "priority", json_object_new_int(d[i].prio));
        jset_str(p, "direction", d[i].dir);
        jset(p, "sourcePortRanges", json_object_new_array());
        jset(p, "destinationPortRanges", json_object_new_array());
        jset(p, "sourceAddressPrefixes", json_object_new_array());
        jset(p, "destinationAddressPrefixes", json_object_new_array());
        json_object_array_add(a, o);
    }
    return a;
}

static int body_nsg(struct res *old, const char *id, struct json_object *in,
                    struct json_object *out, struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object(),
                       *rules = children(ip, "securityRules", id, r), *out_rules;
    static const char *const plural[] = {"sourcePortRanges", "destinationPortRanges",
                                         "sourceAddressPrefixes", "destinationAddressPrefixes"};
    static const char *const singular[] = {"sourcePortRange", "destinationPortRange",
                                           "sourceAddressPrefix", "destinationAddressPrefix",
                                           "description"};
    char guid[37];
    int rc = -1;
    jset(out, "properties", props);
    if (!rules)
        return -1;
    if (alen(rules) > (size_t)az_cfg.max_nsg_rules) {
        az_error(r, 400, "SecurityRuleCountLimitReached",
                 "A security group cannot have more than %d security rules.", az_cfg.max_nsg_rules);
        goto out;
    }
    az_guid(guid);
    jset_str(props, "resourceGuid",
             old ? az_js(jobj(old->body, "properties"), "resourceGuid") : guid);
    out_rules = json_object_new_array();
    jset(props, "securityRules", out_rules);
    jset(props, "defaultSecurityRules", default_rules(id));
    for (size_t i = 0; i < alen(rules); i++) {
        struct json_object *ru = json_object_array_get_idx(rules, i), *rp = jobj(ru, "properties"),
                           *p, *o;
        const char *proto, *access, *dir, *rid;
        long prio;
        o = child(id, "securityRules", "Microsoft.Network/networkSecurityGroups/securityRules",
                  az_js(ru, "name"), &p);
        json_object_array_add(out_rules, o);
        rid = az_js(o, "id");
        if (int_field(rp, "priority", -1, LONG_MIN / 2, LONG_MAX / 2, rid, &prio, r))
            goto out;
        if (prio < 100 || prio > 4096) {
            az_error(r, 400, "SecurityRuleInvalidPriority",
                     "Security rule has invalid Priority. Value provided: %ld Allowed range "
                     "100-4096.",
                     prio);
            goto out;
        }
        if (enum_field(rp, "protocol", NULL, RULE_PROTO, rid, &proto, r) ||
            enum_field(rp, "access", NULL, (const char *const[]){"Allow", "Deny", NULL}, rid,
                       &access, r) ||
            enum_field(rp, "direction", NULL, (const char *const[]){"Inbound", "Outbound", NULL},
                       rid, &dir, r))
            goto out;
        for (size_t j = 0; j < i; j++) {
            struct json_object *q = json_object_array_get_idx(out_rules, j),
                               *qp = jobj(q, "properties");
            if (json_object_get_int64(jget(qp, "priority")) == prio &&
                lbp_streq(az_js(qp, "direction"), dir)) {
                az_error(r, 400, "SecurityRuleConflict",
                         "Security rule %s conflicts with rule %s. Rules cannot have the same "
                         "Priority and Direction. To learn more, see aka.ms/nsgrules.",
                         az_js(o, "name"), az_js(q, "name"));
                goto out;
            }
        }
        jset_str(p, "protocol", proto);
        for (size_t k = 0; k < LBP_ARRAY_LEN(singular); k++)
            if (az_js(rp, singular[k]))
                jset_str(p, singular[k], az_js(rp, singular[k]));
        jset_str(p, "access", access);
        jset(p, "priority", json_object_new_int64(prio));
        jset_str(p, "direction", dir);
        for (size_t k = 0; k < LBP_ARRAY_LEN(plural); k++) {
            struct json_object *v = jget(rp, plural[k]);
            if (v && !json_object_is_type(v, json_type_array)) {
                bad_format(r, "%s: property '%s' must be an array.", rid, plural[k]);
                goto out;
            }
            jset(p, plural[k], v ? json_object_get(v) : json_object_new_array());
        }
    }
    rc = 0;
out:
    json_object_put(rules);
    return rc;
}

static int body_nic(struct res *old, const char *id, struct json_object *in,
                    struct json_object *out, bool seed, struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object(),
                       *cfgs = children(ip, "ipConfigurations", id, r), *out_cfgs;
    const char *vm =
        ref_id(seed ? ip : jobj(old ? old->body : NULL, "properties"), "virtualMachine");
    char guid[37];
    int rc = -1;
    jset(out, "properties", props);
    if (!cfgs)
        return -1;
    if (alen(cfgs) == 0) {
        bad_format(r, "%s: a network interface needs at least one IP configuration.", id);
        goto out;
    }
    az_guid(guid);
    jset_str(props, "resourceGuid",
             old ? az_js(jobj(old->body, "properties"), "resourceGuid") : guid);
    out_cfgs = json_object_new_array();
    jset(props, "ipConfigurations", out_cfgs);
    for (size_t i = 0; i < alen(cfgs); i++) {
        struct json_object *c = json_object_array_get_idx(cfgs, i), *cp = jobj(c, "properties"), *p,
                           *o, *pools = jget(cp, "loadBalancerBackendAddressPools");
        const char *sub_id = ref_id(cp, "subnet"), *pip_id = ref_id(cp, "publicIPAddress"), *method,
                   *cid;
        struct res *sub;
        bool primary;
        char addr[16];
        o = child(id, "ipConfigurations", "Microsoft.Network/networkInterfaces/ipConfigurations",
                  az_js(c, "name"), &p);
        json_object_array_add(out_cfgs, o);
        cid = az_js(o, "id");
        if (enum_field(cp, "privateIPAllocationMethod", "Dynamic", ALLOC, cid, &method, r) ||
            bool_field(cp, "primary", i == 0, cid, &primary, r))
            goto out;
        if (!sub_id || !(sub = find_kind(sub_id, K_SUBNET))) {
            bad_ref(r, sub_id ? sub_id : "(no subnet)", cid);
            goto out;
        }
        if (private_addr(sub, method, az_js(cp, "privateIPAddress"),
                         prev_private(old, "ipConfigurations", cid), old, cid, addr, r))
            goto out;
        jset_str(p, "privateIPAddress", addr);
        jset_str(p, "privateIPAllocationMethod", method);
        jset(p, "subnet", new_ref(sub->id));
        jset(p, "primary", json_object_new_boolean(primary));
        jset_str(p, "privateIPAddressVersion", "IPv4");
        if (pip_id) {
            struct res *pip = find_kind(pip_id, K_PIP);
            if (!pip) {
                bad_ref(r, pip_id, cid);
                goto out;
            }
            jset(p, "publicIPAddress", new_ref(pip->id));
        }
        if (pools) {
            struct json_object *op = json_object_new_array();
            jset(p, "loadBalancerBackendAddressPools", op);
            for (size_t j = 0; json_object_is_type(pools, json_type_array) && j < alen(pools);
                 j++) {
                const char *pid = az_js(json_object_array_get_idx(pools, j), "id");
                char lb_id[ID_CAP];
                const char *slash;
                struct res *lb;
                /* The pool lives in its LB: .../loadBalancers/LB/backendAddressPools/NAME */
                slash = pid ? strcasestr(pid, "/backendAddressPools/") : NULL;
                snprintf(lb_id, sizeof(lb_id), "%.*s", slash ? (int)(slash - pid) : 0,
                         pid ? pid : "");
                lb = slash ? find_kind(lb_id, K_LB) : NULL;
                if (!lb || !by_id(jget(jobj(lb->body, "properties"), "backendAddressPools"), pid)) {
                    bad_ref(r, pid ? pid : "(no id)", cid);
                    goto out;
                }
                json_object_array_add(
                    op, new_ref(az_js(
                            by_id(jget(jobj(lb->body, "properties"), "backendAddressPools"), pid),
                            "id")));
            }
        }
    }
    for (size_t i = 0; i < alen(out_cfgs); i++)
        if (nic_cfg_rules(json_object_array_get_idx(out_cfgs, i), NULL, NULL, r))
            goto out;
    if (vm)
        jset(props, "virtualMachine", new_ref(vm));
    rc = 0;
out:
    json_object_put(cfgs);
    return rc;
}

static int body_vnet(struct res *old, const char *id, struct json_object *in,
                     struct json_object *out, struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object(),
                       *space = jobj(ip, "addressSpace"), *pfx = jget(space, "addressPrefixes");
    char guid[37];
    uint32_t b, n;
    jset(out, "properties", props);
    if (!json_object_is_type(pfx, json_type_array) || alen(pfx) == 0) {
        bad_format(r, "%s: properties.addressSpace.addressPrefixes must list CIDRs.", id);
        return -1;
    }
    for (size_t i = 0; i < alen(pfx); i++)
        if (parse_cidr(json_object_get_string(json_object_array_get_idx(pfx, i)), &b, &n)) {
            bad_format(r, "%s: '%s' is not an IPv4 CIDR.", id,
                       json_object_get_string(json_object_array_get_idx(pfx, i)));
            return -1;
        }
    az_guid(guid);
    jset_str(props, "resourceGuid",
             old ? az_js(jobj(old->body, "properties"), "resourceGuid") : guid);
    space = json_object_new_object();
    jset(space, "addressPrefixes", json_object_get(pfx));
    jset(props, "addressSpace", space);
    return 0;
}

static int body_subnet(const char *id, struct json_object *in, struct json_object *out,
                       struct az_reply *r)
{
    struct json_object *ip = jobj(in, "properties"), *props = json_object_new_object();
    const char *pfx = az_js(ip, "addressPrefix"), *nsg = ref_id(ip, "networkSecurityGroup");
    uint32_t b, n;
    jset(out, "properties", props);
    if (parse_cidr(pfx, &b, &n)) {
        bad_format(r, "%s: properties.addressPrefix must be an IPv4 CIDR.", id);
        return -1;
    }
    jset_str(props, "addressPrefix", pfx);
    if (nsg) {
        if (!find_kind(nsg, K_NSG)) {
            bad_ref(r, nsg, id);
            return -1;
        }
        jset(props, "networkSecurityGroup", new_ref(find(nsg)->id));
    }
    return 0;
}

/* Compute objects come only from seeds and are kept as given. */
static int body_copy(struct json_object *in, struct json_object *out)
{
    struct json_object *p = jobj(in, "properties");
    jset(out, "properties", p ? dup(p) : json_object_new_object());
    return 0;
}

/* ---- paths ---- */

struct path {
    enum kind kind;
    bool list;
    char rg[100];       /* as the request spells it */
    char names[3][100]; /* names along the type chain */
    int n_names;
    char key[ID_CAP];        /* lower-case id (or collection for a list) */
    char parent_key[ID_CAP]; /* lower-case id of the parent ("" none) */
    char id[ID_CAP];         /* canonical id */
};

static int split(const char *path, char segs[MAX_SEGS][128])
{
    int n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (n == MAX_SEGS || len >= 128)
            return -1;
        snprintf(segs[n++], 128, "%.*s", (int)len, p);
        p += len;
        while (*p == '/')
            p++;
    }
    return n;
}

static void rg_key(const char *rg, char *out, size_t cap)
{
    snprintf(out, cap, "/subscriptions/%s/resourcegroups/%s", az_cfg.subscription, rg);
    lower(out);
}

/* The stored name of a resource group, or NULL when it does not exist. */
static const char *rg_name(const char *rg)
{
    char key[ID_CAP];
    struct res *r;
    rg_key(rg, key, sizeof(key));
    HASH_FIND_STR(g_res, key, r);
    return r ? az_js(r->body, "name") : NULL;
}

/*
 * Parses an ARM resource path. 0 when it names a known type; -1 with r
 * filled (404 for an unknown subscription or type).
 */
static int parse_path(const char *url, struct path *p, struct az_reply *r)
{
    char segs[MAX_SEGS][128], types[200] = "";
    int n = split(url, segs), rest;
    memset(p, 0, sizeof(*p));
    if (n < 2 || strcasecmp(segs[0], "subscriptions") != 0) {
        az_error(r, 404, "InvalidResourceType", "The resource path '%s' is not an ARM path.", url);
        return -1;
    }
    if (strcasecmp(segs[1], az_cfg.subscription) != 0) {
        az_error(r, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.",
                 segs[1]);
        return -1;
    }
    if (n >= 3 && n <= 4 && !strcasecmp(segs[2], "resourcegroups")) {
        p->kind = K_RG;
        p->list = n == 3;
        if (n == 4) {
            lbp_strlcpy(p->rg, segs[3], sizeof(p->rg));
            rg_key(segs[3], p->key, sizeof(p->key));
            snprintf(p->id, sizeof(p->id), "/subscriptions/%s/resourceGroups/%s",
                     az_cfg.subscription, rg_name(segs[3]) ? rg_name(segs[3]) : segs[3]);
        }
        return 0;
    }
    if (n < 7 || strcasecmp(segs[2], "resourcegroups") != 0 ||
        strcasecmp(segs[4], "providers") != 0) {
        az_error(r, 404, "InvalidResourceType", "The resource path '%s' is not supported.", url);
        return -1;
    }
    lbp_strlcpy(p->rg, segs[3], sizeof(p->rg));
    rest = n - 6;
    for (int i = 6; i < n; i += 2) {
        snprintf(types + strlen(types), sizeof(types) - strlen(types), "%s%s", i > 6 ? "/" : "",
                 segs[i]);
        if (i + 1 < n && p->n_names < 3)
            lbp_strlcpy(p->names[p->n_names++], segs[i + 1], sizeof(p->names[0]));
    }
    p->list = rest % 2 == 1;
    for (p->kind = K_LB; p->kind < K_N; p->kind++)
        if (!strcasecmp(NS_NAME[TYPES[p->kind].ns], segs[5]) &&
            !strcasecmp(TYPES[p->kind].path, types))
            break;
    if (p->kind == K_N || rest > 6) {
        az_error(r, 404, "InvalidResourceType",
                 "The resource type '%s' could not be found in the namespace '%s'.", types,
                 segs[5]);
        return -1;
    }
    /* The canonical id: canonical type names, the stored casing of existing names. */
    {
        const char *rgn = rg_name(p->rg) ? rg_name(p->rg) : p->rg;
        char tpath[200], *save = NULL, *t;
        int i = 0;
        snprintf(p->id, sizeof(p->id), "/subscriptions/%s/resourceGroups/%s/providers/%s",
                 az_cfg.subscription, rgn, NS_NAME[TYPES[p->kind].ns]);
        lbp_strlcpy(tpath, TYPES[p->kind].path, sizeof(tpath));
        for (t = strtok_r(tpath, "/", &save); t; t = strtok_r(NULL, "/", &save), i++) {
            struct res *have;
            size_t len = strlen(p->id);
            snprintf(p->id + len, sizeof(p->id) - len, "/%s", t);
            if (i >= p->n_names)
                break;
            len = strlen(p->id);
            snprintf(p->id + len, sizeof(p->id) - len, "/%s", p->names[i]);
            if ((have = find(p->id)))
                lbp_strlcpy(p->id, have->id, sizeof(p->id));
            if (i + 1 == p->n_names - 1 || (p->list && i + 1 == p->n_names)) {
                lbp_strlcpy(p->parent_key, p->id, sizeof(p->parent_key));
                lower(p->parent_key);
            }
        }
        if (p->n_names < 2 && !p->list)
            p->parent_key[0] = 0;
        if (p->list && p->n_names == 0)
            p->parent_key[0] = 0;
    }
    lbp_strlcpy(p->key, p->id, sizeof(p->key));
    lower(p->key);
    return 0;
}

void az_arm_kind(const char *path, char *out, size_t cap, bool *list)
{
    char segs[MAX_SEGS][128];
    int n = split(path, segs);
    *list = false;
    lbp_strlcpy(out, "other", cap);
    if (n >= 8 && !strcasecmp(segs[2], "providers")) {
        lbp_strlcpy(out, !strcasecmp(segs[6], "operations") ? "operations" : "operationResults",
                    cap);
        return;
    }
    if (n == 4 && !strcasecmp(segs[2], "operationresults")) {
        lbp_strlcpy(out, "operationResults", cap);
        return;
    }
    if (n >= 3 && n <= 4 && !strcasecmp(segs[2], "resourcegroups")) {
        lbp_strlcpy(out, "resourceGroups", cap);
        *list = n == 3;
        return;
    }
    if (n >= 7 && !strcasecmp(segs[4], "providers")) {
        int last = n - 6 - 1;
        const char *t = segs[6 + last - last % 2];
        *list = (n - 6) % 2 == 1;
        for (int k = 0; k < K_N; k++)
            if (!strcasecmp(TYPES[k].counter, t)) {
                lbp_strlcpy(out, TYPES[k].counter, cap);
                return;
            }
        lbp_strlcpy(out, t, cap);
    }
}

static int check_version(const struct az_req *q, const char *const *list, const char *type,
                         struct az_reply *r)
{
    char all[600];
    versions_join(list, all, sizeof(all));
    if (!q->api_version || !*q->api_version) {
        az_error(r, 400, "MissingApiVersionParameter",
                 "The api-version query parameter (?api-version=) is required for all requests.");
        return -1;
    }
    if (!version_well_formed(q->api_version)) {
        az_error(r, 400, "InvalidApiVersionParameter",
                 "The api-version '%s' is invalid. The supported versions are '%s'.",
                 q->api_version, all);
        return -1;
    }
    if (!version_ok(q->api_version, list)) {
        az_error(r, 400, "NoRegisteredProviderFound",
                 "No registered resource provider found for location '%s' and API version '%s' "
                 "for type '%s'. The supported api-versions are '%s'. The supported locations "
                 "are '%s'.",
                 az_cfg.location, q->api_version, type, all, az_cfg.location);
        return -1;
    }
    return 0;
}

static const char *const *versions_for(enum kind k)
{
    if (k == K_RG)
        return RESOURCES_VERSIONS;
    if (k == K_VMSS_NIC)
        return VMSS_NIC_VERSIONS;
    return TYPES[k].ns == NS_COMPUTE ? COMPUTE_VERSIONS : NETWORK_VERSIONS;
}

/* ---- operations ---- */

static void res_remove(struct res *x)
{
    HASH_DEL(g_res, x);
    json_object_put(x->body);
    free(x);
}

/* Removes a resource and everything under its id (a vnet's subnets, a group's resources). */
static void res_remove_tree(const char *key)
{
    size_t n = strlen(key);
    struct res *x, *tmp;
    HASH_ITER(hh, g_res, x, tmp)
    {
        if (!strncmp(x->key, key, n) && (x->key[n] == 0 || x->key[n] == '/'))
            res_remove(x);
    }
}

static void op_finish(struct op *op)
{
    struct res *x;
    if (op->status)
        return;
    op->status = op->fail ? 2 : 1;
    HASH_FIND_STR(g_res, op->key, x);
    if (!x || strcmp(x->op, op->id) != 0)
        return;
    x->op[0] = 0;
    if (op->kind == OP_PUT) {
        x->state = op->fail ? ST_FAILED : ST_OK;
        if (!op->fail)
            x->addr_shown = true;
    } else if (op->fail) {
        x->state = ST_OK;
    } else {
        res_remove_tree(op->key);
    }
}

static void ops_sweep(void)
{
    uint64_t now = lbp_now_ms();
    struct op *op, *tmp;
    HASH_ITER(hh, g_ops, op, tmp)
    {
        if (!op->status && az_cfg.op_ms && now - op->start_ms >= (uint64_t)az_cfg.op_ms)
            op_finish(op);
        /* Finished operations are kept for late polls, up to a bound. */
        if (op->status && HASH_COUNT(g_ops) > MAX_OPS) {
            HASH_DEL(g_ops, op);
            free(op);
        }
    }
}

static struct op *op_start(struct res *x, enum op_kind kind)
{
    struct op *op = calloc(1, sizeof(*op));
    if (!op)
        return NULL;
    az_guid(op->id);
    lbp_strlcpy(op->key, x->key, sizeof(op->key));
    op->kind = kind;
    op->start_ms = lbp_now_ms();
    op->fail = az_fault_op_fails();
    HASH_ADD_STR(g_ops, id, op);
    lbp_strlcpy(x->op, op->id, sizeof(x->op));
    x->state = kind == OP_PUT ? ST_UPDATING : ST_DELETING;
    return op;
}

/*
 * Network RP runs one operation on a resource at a time. A new PUT supersedes a
 * running PUT (the fake ends that one first, see settle); but a delete that is
 * still running is not superseded: any write meanwhile, PUT or DELETE, gets 409
 * AnotherOperationInProgress naming the operation to watch, and nothing changes.
 */
static bool deleting(const struct az_req *q, const struct res *x, struct az_reply *r)
{
    struct op *op;
    if (!x->op[0])
        return false;
    HASH_FIND_STR(g_ops, x->op, op);
    if (!op || op->status || op->kind != OP_DELETE)
        return false;
    if (x->kind == K_RG) {
        az_error(r, 409, "ResourceGroupBeingDeleted",
                 "The resource group '%s' is in deprovisioning state and cannot perform this "
                 "operation.",
                 strrchr(x->id, '/') ? strrchr(x->id, '/') + 1 : x->id);
        return true;
    }
    az_error(r, 409, "AnotherOperationInProgress",
             "Another operation on this or dependent resource is in progress. To retrieve "
             "status of the operation use uri: http://%s/subscriptions/%s/providers/"
             "Microsoft.Network/locations/%s/operations/%s?api-version=%s.",
             q->host ? q->host : "localhost", az_cfg.subscription, az_cfg.location, op->id,
             q->api_version ? q->api_version : "");
    return true;
}

/*
 * A write on a resource first settles any operation still running on it (a PUT:
 * deleting() turned writes away during a delete). A delete that ends here removes
 * the resource: the answer is what is left (NULL: gone).
 */
static struct res *settle(struct res *x)
{
    char key[sizeof(x->key)];
    struct op *op;
    if (!x->op[0])
        return x;
    lbp_strlcpy(key, x->key, sizeof(key));
    HASH_FIND_STR(g_ops, x->op, op);
    if (op)
        op_finish(op);
    HASH_FIND_STR(g_res, key, x);
    if (x)
        x->op[0] = 0;
    return x;
}

static void op_headers(const struct az_req *q, const struct op *op, bool location,
                       struct az_reply *r)
{
    char base[300];
    snprintf(base, sizeof(base),
             "http://%s/subscriptions/%s/providers/Microsoft.Network/locations/%s", q->host,
             az_cfg.subscription, az_cfg.location);
    az_hdr(r, "Azure-AsyncOperation", "%s/operations/%s?api-version=%s", base, op->id,
           q->api_version);
    if (location)
        az_hdr(r, "Location", "%s/operationResults/%s?api-version=%s", base, op->id,
               q->api_version);
    az_hdr(r, "Retry-After", "%d", az_cfg.retry_after_s);
}

static void op_poll(const struct az_req *q, const char *op_id, bool results, struct az_reply *r)
{
    struct op *op;
    struct json_object *o;
    if (strcmp(q->method, "GET") != 0) {
        az_error(r, 405, "MethodNotAllowed", "The requested method is not allowed.");
        return;
    }
    if (check_version(q, NETWORK_VERSIONS, "locations/operations", r))
        return;
    HASH_FIND_STR(g_ops, op_id, op);
    if (!op) {
        az_error(r, 404, "NotFound", "The operation '%s' could not be found.", op_id);
        return;
    }
    if (!op->status) {
        if (op->polls >= az_cfg.op_polls)
            op_finish(op);
        else
            op->polls++;
    }
    if (results) {
        /* Location polling: 202 while running, then the outcome. */
        if (!op->status) {
            r->status = 202;
            az_hdr(r, "Location", "http://%s%s?api-version=%s", q->host, q->path, q->api_version);
            az_hdr(r, "Retry-After", "%d", az_cfg.retry_after_s);
        } else if (op->status == 2) {
            az_error(r, 500, "InternalServerError", "An error occurred.");
        } else {
            r->status = 200;
        }
        return;
    }
    o = json_object_new_object();
    jset_str(o, "status",
             op->status == 0   ? "InProgress"
             : op->status == 1 ? "Succeeded"
                               : "Failed");
    if (op->status == 2) {
        struct json_object *e = json_object_new_object();
        jset_str(e, "code", "InternalServerError");
        jset_str(e, "message", "An error occurred.");
        jset(o, "error", e);
    }
    if (!op->status)
        az_hdr(r, "Retry-After", "%d", az_cfg.retry_after_s);
    r->json = o;
    r->status = 200;
}

/* ---- rendering ---- */

static const char *state_name(const struct res *x)
{
    switch (x->state) {
    case ST_UPDATING:
        return "Updating";
    case ST_DELETING:
        return "Deleting";
    case ST_FAILED:
        return "Failed";
    default:
        return "Succeeded";
    }
}

/* Children take the parent's etag and provisioning state. */
static void stamp_children(struct json_object *props, const char *etag, const char *state)
{
    json_object_object_foreach(props, k, v)
    {
        (void)k;
        if (!json_object_is_type(v, json_type_array))
            continue;
        for (size_t i = 0; i < alen(v); i++) {
            struct json_object *c = json_object_array_get_idx(v, i), *cp = jobj(c, "properties");
            if (!az_js(c, "id") || !az_js(c, "type") || !cp)
                continue;
            jset_str(c, "etag", etag);
            jset(cp, "provisioningState", json_object_new_string(state));
        }
    }
}

static struct json_object *render(struct res *x)
{
    struct json_object *o = dup(x->body), *props = jobj(o, "properties");
    const char *state = state_name(x);
    if (!o)
        return NULL;
    if (x->kind != K_RG && x->kind < K_VM)
        jset_str(o, "etag", x->etag);
    if (props) {
        struct json_object *np = json_object_new_object();
        /* provisioningState first, as ARM writes it. */
        jset_str(np, "provisioningState", state);
        json_object_object_foreach(props, k, v) jset(np, k, json_object_get(v));
        jset(o, "properties", np);
        props = np;
        stamp_children(props, x->etag, state);
    }
    if (x->kind == K_PIP) {
        const char *holder = referenced_by(x->id, x);
        if (x->addr && x->addr_shown) {
            char a[16];
            ip_str(x->addr, a);
            /* After resourceGuid, as the recorded GET has it. */
            struct json_object *np = json_object_new_object();
            json_object_object_foreach(props, k, v)
            {
                jset(np, k, json_object_get(v));
                if (!strcmp(k, "resourceGuid"))
                    jset_str(np, "ipAddress", a);
            }
            jset(o, "properties", np);
            props = np;
        }
        if (holder)
            jset(props, "ipConfiguration", new_ref(holder));
    } else if (x->kind == K_LB) {
        struct json_object *pools = jget(props, "backendAddressPools");
        for (size_t i = 0; i < alen(pools); i++) {
            struct json_object *pool = json_object_array_get_idx(pools, i);
            each_nic_cfg(pool_backref_cfg, pool);
        }
    } else if (x->kind == K_VNET) {
        struct json_object *subs = json_object_new_array();
        for (struct res *s = g_res; s; s = s->hh.next)
            if (s->kind == K_SUBNET && !strncmp(s->key, x->key, strlen(x->key)) &&
                s->key[strlen(x->key)] == '/')
                json_object_array_add(subs, render(s));
        jset(props, "subnets", subs);
    }
    return o;
}

/* ---- the handlers ---- */

static bool etag_match(const char *want, const char *etag)
{
    /* "W/\"g\"", "\"g\"" and "g" all name the etag W/"g". */
    char a[128], b[128];
    const char *v = want;
    size_t n;
    if (!strcmp(want, "*"))
        return true;
    if (!strncmp(v, "W/", 2))
        v += 2;
    n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        snprintf(a, sizeof(a), "%.*s", (int)(n - 2), v + 1);
    else
        snprintf(a, sizeof(a), "%s", v);
    snprintf(b, sizeof(b), "%.*s", (int)strlen(etag) - 4, etag + 3);
    return !strcmp(a, b);
}

static void precondition(struct az_reply *r, const char *want, const struct res *x, const char *id)
{
    struct json_object *d = json_object_new_array(), *d0 = json_object_new_object(), *e;
    char msg[1200], shown[200];
    const char *v = want;
    if (!strncmp(v, "W/", 2))
        v += 2;
    snprintf(shown, sizeof(shown), "W/%s%s%s", v[0] == '"' ? "" : "\"", v, v[0] == '"' ? "" : "\"");
    if (x)
        snprintf(msg, sizeof(msg),
                 "Etag provided in if-match header %s does not match etag %s of resource %s in "
                 "NRP data store.",
                 shown, x->etag, x->id);
    else
        snprintf(msg, sizeof(msg),
                 "Etag provided in if-match header %s does not match: resource %s does not "
                 "exist.",
                 shown, id);
    az_error(r, 412, "PreconditionFailed", "Precondition failed.");
    e = jobj(r->json, "error");
    jset_str(d0, "code", "PreconditionFailedEtagMismatch");
    jset_str(d0, "message", msg);
    json_object_array_add(d, d0);
    jset(e, "details", d);
}

static void new_etag(struct res *x)
{
    char g[37];
    az_guid(g);
    snprintf(x->etag, sizeof(x->etag), "W/\"%s\"", g);
}

/* Location as ARM stores it: lower case, no spaces ("East US" → "eastus"). */
static void norm_location(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < cap; i++)
        if (in[i] != ' ')
            out[j++] = (char)tolower((unsigned char)in[i]);
    out[j] = 0;
}

static int put(const struct az_req *q, const struct path *p, struct json_object *in, bool seed,
               struct az_reply *r)
{
    struct res *old, *x = NULL, scratch;
    struct json_object *out = NULL;
    const char *name = p->n_names ? p->names[p->n_names - 1] : p->rg;
    char loc[64] = "";
    int rc = -1;

    HASH_FIND_STR(g_res, p->key, old);
    if (old && deleting(q, old, r))
        return -1;
    if (old)
        old = settle(old);
    if (!seed && q->if_match && !(old && etag_match(q->if_match, old->etag))) {
        precondition(r, q->if_match, old, p->id);
        return -1;
    }
    if (!seed && q->if_none_match && !strcmp(q->if_none_match, "*") && old) {
        az_error(r, 412, "PreconditionFailed", "Precondition failed.");
        return -1;
    }
    if (TYPES[p->kind].has_location) {
        const char *l = az_js(in, "location");
        if (!l || !*l) {
            az_error(r, 400, "LocationRequired",
                     "The location property is required for this definition.");
            return -1;
        }
        norm_location(l, loc, sizeof(loc));
        if (old && strcmp(loc, az_js(old->body, "location")) != 0) {
            az_error(r, 400, "InvalidResourceLocation",
                     "The resource '%s' already exists in location '%s' in resource group '%s'. "
                     "A resource with the same name cannot be created in location '%s'. Please "
                     "select a new resource name.",
                     name, az_js(old->body, "location"), p->rg, loc);
            return -1;
        }
    }
    if (jget(in, "tags") && !jobj(in, "tags")) {
        bad_format(r, "property 'tags' must be an object.");
        return -1;
    }
    /* Build into scratch so a rejected PUT leaves nothing behind. */
    memset(&scratch, 0, sizeof(scratch));
    if (old) {
        scratch.addr = old->addr;
    }
    out = json_object_new_object();
    jset_str(out, "name", old ? az_js(old->body, "name") : name);
    jset_str(out, "id", p->id);
    jset_str(out, "type", TYPES[p->kind].arm_type);
    if (loc[0])
        jset_str(out, "location", loc);
    if (jobj(in, "tags"))
        jset(out, "tags", dup(jobj(in, "tags")));
    switch (p->kind) {
    case K_RG:
        jset(out, "properties", json_object_new_object());
        rc = 0;
        break;
    case K_LB:
        rc = body_lb(old, p->id, in, out, r);
        break;
    case K_PIP:
        rc = body_pip(old, &scratch, p->id, in, out, r);
        break;
    case K_NSG:
        rc = body_nsg(old, p->id, in, out, r);
        break;
    case K_NIC:
    case K_VMSS_NIC:
        rc = body_nic(old, p->id, in, out, seed, r);
        break;
    case K_VNET:
        rc = body_vnet(old, p->id, in, out, r);
        break;
    case K_SUBNET:
        rc = body_subnet(p->id, in, out, r);
        break;
    default:
        rc = body_copy(in, out);
        break;
    }
    if (rc) {
        json_object_put(out);
        return -1;
    }
    if (old) {
        x = old;
        json_object_put(x->body);
    } else {
        x = calloc(1, sizeof(*x));
        if (!x) {
            json_object_put(out);
            az_error(r, 500, "InternalServerError", "Out of memory.");
            return -1;
        }
        lbp_strlcpy(x->key, p->key, sizeof(x->key));
        lbp_strlcpy(x->id, p->id, sizeof(x->id));
        x->kind = p->kind;
        x->seeded = seed;
        HASH_ADD_STR(g_res, key, x);
    }
    x->body = out;
    x->addr = scratch.addr;
    new_etag(x);
    if (seed || p->kind == K_RG || TYPES[p->kind].ns == NS_COMPUTE) {
        x->state = ST_OK;
        x->addr_shown = true;
        r->status = old ? 200 : 201;
        r->json = render(x);
        return 0;
    }
    {
        struct op *op = op_start(x, OP_PUT);
        r->status = old ? 200 : 201;
        r->json = render(x);
        if (op)
            op_headers(q, op, false, r);
        az_hdr(r, "ETag", "%s", x->etag);
    }
    return 0;
}

static bool in_use(struct res *x, struct az_reply *r)
{
    const char *by;
    if (x->kind == K_PIP && (by = referenced_by(x->id, x))) {
        az_error(r, 400, "PublicIPAddressCannotBeDeleted",
                 "Public IP address %s can not be deleted since it is still allocated to "
                 "resource %s. In order to delete the public IP, disassociate/detach the Public "
                 "IP address from the resource.",
                 x->id, by);
        return true;
    }
    if (x->kind == K_NSG && (by = referenced_by(x->id, x))) {
        az_error(r, 400, "InUseNetworkSecurityGroupCannotBeDeleted",
                 "Network security group %s cannot be deleted because it is in use by the "
                 "following resources: %s.",
                 x->id, by);
        return true;
    }
    if (x->kind == K_SUBNET || x->kind == K_VNET) {
        for (struct res *s = g_res; s; s = s->hh.next) {
            if (s->kind != K_SUBNET || strncmp(s->key, x->key, strlen(x->key)) != 0)
                continue;
            if ((by = referenced_by(s->id, x->kind == K_VNET ? NULL : s))) {
                az_error(r, 400, "InUseSubnetCannotBeDeleted",
                         "Subnet %s is in use by %s and cannot be deleted. In order to delete "
                         "the subnet, delete all the resources within the subnet.",
                         s->id, by);
                return true;
            }
        }
    }
    return false;
}

static void del(const struct az_req *q, const struct path *p, struct az_reply *r)
{
    struct res *x;
    struct op *op;
    HASH_FIND_STR(g_res, p->key, x);
    if (!x) {
        r->status = 204;
        return;
    }
    if (deleting(q, x, r))
        return;
    if (!(x = settle(x))) {
        r->status = 204; /* its own delete just ended */
        return;
    }
    if (q->if_match && !etag_match(q->if_match, x->etag)) {
        precondition(r, q->if_match, x, x->id);
        return;
    }
    if (!TYPES[x->kind].client_writable) {
        az_error(r, 400, "OperationNotAllowed",
                 "fake-azure serves %s read-only; seed it through /_fake/seed.",
                 TYPES[x->kind].arm_type);
        return;
    }
    if (in_use(x, r))
        return;
    if (x->kind == K_RG) {
        /* Resource groups: Location polling at the subscription level. */
        if (!(op = op_start(x, OP_DELETE))) {
            az_error(r, 500, "InternalServerError", "Out of memory.");
            return;
        }
        r->status = 202;
        az_hdr(r, "Location", "http://%s/subscriptions/%s/operationresults/%s?api-version=%s",
               q->host, az_cfg.subscription, op->id, q->api_version);
        az_hdr(r, "Retry-After", "%d", az_cfg.retry_after_s);
        return;
    }
    if (!(op = op_start(x, OP_DELETE))) {
        az_error(r, 500, "InternalServerError", "Out of memory.");
        return;
    }
    r->status = 202;
    op_headers(q, op, true, r);
}

/* A nested resource (subnet, scale-set VM or NIC) needs its parent. */
static int parent_missing(const struct path *p, struct az_reply *r)
{
    struct res *parent;
    if (!p->parent_key[0] || p->list)
        return 0;
    HASH_FIND_STR(g_res, p->parent_key, parent);
    if (parent)
        return 0;
    az_error(r, 404, "ParentResourceNotFound",
             "Can not perform requested operation on nested resource. Parent resource '%s' not "
             "found.",
             p->names[p->n_names - 2]);
    return 1;
}

static void list(const struct path *p, struct az_reply *r)
{
    struct json_object *o = json_object_new_object(), *a = json_object_new_array();
    char coll[ID_CAP + 2];
    size_t n;
    /* The collection's id prefix: the list path itself, in lower case. */
    snprintf(coll, sizeof(coll), "%s/", p->key);
    n = strlen(coll);
    for (struct res *x = g_res; x; x = x->hh.next)
        if (x->kind == p->kind && !strncmp(x->key, coll, n) && !strchr(x->key + n, '/'))
            json_object_array_add(a, render(x));
    jset(o, "value", a);
    r->json = o;
    r->status = 200;
}

void az_arm(const struct az_req *q, struct az_reply *r)
{
    char segs[MAX_SEGS][128];
    int n = split(q->path, segs);
    struct path p;
    struct res *x;

    ops_sweep();
    if (!q->api_version || !*q->api_version) {
        check_version(q, NETWORK_VERSIONS, "", r);
        return;
    }
    /* Operation status: .../providers/Microsoft.Network/locations/L/operations[Results]/ID */
    if (n == 8 && !strcasecmp(segs[0], "subscriptions") && !strcasecmp(segs[2], "providers") &&
        !strcasecmp(segs[3], "Microsoft.Network") && !strcasecmp(segs[4], "locations") &&
        (!strcasecmp(segs[6], "operations") || !strcasecmp(segs[6], "operationResults"))) {
        if (strcasecmp(segs[1], az_cfg.subscription) != 0) {
            az_error(r, 404, "SubscriptionNotFound", "The subscription '%s' could not be found.",
                     segs[1]);
            return;
        }
        op_poll(q, segs[7], !strcasecmp(segs[6], "operationResults"), r);
        return;
    }
    if (n == 4 && !strcasecmp(segs[0], "subscriptions") &&
        !strcasecmp(segs[2], "operationresults")) {
        struct az_req v = *q;
        /* Resource-group operations take the Resources api-versions. */
        if (check_version(q, RESOURCES_VERSIONS, "operationresults", r))
            return;
        v.api_version = NETWORK_VERSIONS[0];
        op_poll(&v, segs[3], true, r);
        if (r->status == 202)
            az_hdr(r, "Location", "http://%s%s?api-version=%s", q->host, q->path, q->api_version);
        return;
    }
    if (parse_path(q->path, &p, r))
        return;
    if (p.kind != K_RG || !p.list) {
        if (p.kind != K_RG && !rg_name(p.rg)) {
            rg_missing(r, p.rg);
            return;
        }
    }
    if (check_version(q, versions_for(p.kind), TYPES[p.kind].path, r))
        return;
    if (parent_missing(&p, r))
        return;
    if (p.list) {
        if (strcmp(q->method, "GET") != 0) {
            az_error(r, 405, "MethodNotAllowed", "The requested method is not allowed.");
            return;
        }
        list(&p, r);
        return;
    }
    if (!strcmp(q->method, "GET")) {
        HASH_FIND_STR(g_res, p.key, x);
        if (!x) {
            if (p.kind == K_RG)
                rg_missing(r, p.rg);
            else
                not_found(r, p.kind, p.names[p.n_names - 1], p.rg);
            return;
        }
        r->json = render(x);
        r->status = 200;
        if (x->kind != K_RG)
            az_hdr(r, "ETag", "%s", x->etag);
    } else if (!strcmp(q->method, "PUT")) {
        struct json_object *in;
        if (!TYPES[p.kind].client_writable) {
            az_error(r, 400, "OperationNotAllowed",
                     "fake-azure serves %s read-only; seed it through /_fake/seed.",
                     TYPES[p.kind].arm_type);
            return;
        }
        in = json_tokener_parse(q->body);
        if (!json_object_is_type(in, json_type_object)) {
            json_object_put(in);
            az_error(r, 400, "InvalidRequestContent",
                     "The request content was invalid and could not be deserialized.");
            return;
        }
        put(q, &p, in, false, r);
        json_object_put(in);
    } else if (!strcmp(q->method, "DELETE")) {
        del(q, &p, r);
    } else {
        az_error(r, 405, "MethodNotAllowed", "The requested method is not allowed.");
    }
}

/* ---- control ---- */

int az_arm_init(void)
{
    return 0;
}

void az_arm_free(void)
{
    struct res *x, *t;
    struct op *op, *t2;
    HASH_ITER(hh, g_res, x, t)
    res_remove(x);
    HASH_ITER(hh, g_ops, op, t2)
    {
        HASH_DEL(g_ops, op);
        free(op);
    }
}

struct json_object *az_arm_state(void)
{
    struct json_object *o = json_object_new_object(), *a = json_object_new_array();
    long count = 0, pending = 0;
    ops_sweep();
    for (struct res *x = g_res; x; x = x->hh.next) {
        struct json_object *e = render(x);
        if (!x->seeded)
            count++;
        jset(e, "_seeded", json_object_new_boolean(x->seeded));
        json_object_array_add(a, e);
    }
    for (struct op *op = g_ops; op; op = op->hh.next)
        pending += op->status == 0;
    jset(o, "count", json_object_new_int64(count));
    jset(o, "pending_operations", json_object_new_int64(pending));
    jset(o, "resources", a);
    return o;
}

int az_arm_seed(struct json_object *seed, char *err, size_t cap)
{
    struct json_object *a = jget(seed, "resources");
    if (!json_object_is_type(a, json_type_array)) {
        snprintf(err, cap, "resources: an array of {\"id\", \"body\"}");
        return -1;
    }
    for (size_t i = 0; i < alen(a); i++) {
        struct json_object *e = json_object_array_get_idx(a, i), *body = jobj(e, "body");
        const char *id = az_js(e, "id");
        struct az_req q = {.method = "PUT", .api_version = "seed", .host = az_cfg.self_host};
        struct az_reply r = {0};
        struct path p;
        if (!id || !body) {
            snprintf(err, cap, "resources[%zu]: needs an id and a body", i);
            return -1;
        }
        q.path = id;
        if (parse_path(id, &p, &r) || p.list ||
            (p.kind != K_RG && !rg_name(p.rg) && rg_missing(&r, p.rg)) || parent_missing(&p, &r) ||
            put(&q, &p, body, true, &r)) {
            snprintf(err, cap, "resources[%zu] %s: %s", i, id,
                     r.json ? json_object_to_json_string(r.json) : "not a resource id");
            az_reply_clear(&r);
            return -1;
        }
        az_reply_clear(&r);
    }
    return 0;
}

int az_arm_seed_nodes(long n, char *err, size_t cap)
{
    struct json_object *seed = json_object_new_object(), *a = json_object_new_array();
    char rg[300], id[ID_CAP], body[1500];
    int rc;
    snprintf(rg, sizeof(rg), "/subscriptions/%s/resourceGroups/%s", az_cfg.subscription,
             az_cfg.resource_group);
#define ADD(ID, ...)                                                                               \
    do {                                                                                           \
        struct json_object *e = json_object_new_object();                                          \
        snprintf(body, sizeof(body), __VA_ARGS__);                                                 \
        jset_str(e, "id", ID);                                                                     \
        jset(e, "body", json_tokener_parse(body));                                                 \
        json_object_array_add(a, e);                                                               \
    } while (0)
    ADD(rg, "{\"location\":\"%s\"}", az_cfg.location);
    snprintf(id, sizeof(id), "%s/providers/Microsoft.Network/networkSecurityGroups/lbprov-nsg", rg);
    ADD(id, "{\"location\":\"%s\"}", az_cfg.location);
    snprintf(id, sizeof(id), "%s/providers/Microsoft.Network/virtualNetworks/lbprov-vnet", rg);
    ADD(id,
        "{\"location\":\"%s\",\"properties\":{\"addressSpace\":{\"addressPrefixes\":[\"10.224.0.0/"
        "16\"]}}}",
        az_cfg.location);
    snprintf(id, sizeof(id),
             "%s/providers/Microsoft.Network/virtualNetworks/lbprov-vnet/subnets/lbprov-subnet",
             rg);
    ADD(id,
        "{\"properties\":{\"addressPrefix\":\"10.224.0.0/16\",\"networkSecurityGroup\":{\"id\":"
        "\"%s/providers/Microsoft.Network/networkSecurityGroups/lbprov-nsg\"}}}",
        rg);
    for (long i = 0; i < n; i++) {
        char nic[ID_CAP], vm[ID_CAP];
        snprintf(nic, sizeof(nic), "%s/providers/Microsoft.Network/networkInterfaces/node-%ld-nic",
                 rg, i);
        snprintf(vm, sizeof(vm), "%s/providers/Microsoft.Compute/virtualMachines/node-%ld", rg, i);
        ADD(nic,
            "{\"location\":\"%s\",\"properties\":{\"virtualMachine\":{\"id\":\"%s\"},"
            "\"ipConfigurations\":[{\"name\":\"ipconfig1\",\"properties\":{\"primary\":true,"
            "\"subnet\":{\"id\":\"%s/providers/Microsoft.Network/virtualNetworks/lbprov-vnet/"
            "subnets/lbprov-subnet\"}}}]}}",
            az_cfg.location, vm, rg);
        ADD(vm,
            "{\"location\":\"%s\",\"properties\":{\"vmId\":\"%08lx-0000-4000-8000-000000000000\","
            "\"networkProfile\":{\"networkInterfaces\":[{\"id\":\"%s\",\"properties\":{"
            "\"primary\":true}}]}}}",
            az_cfg.location, i, nic);
    }
#undef ADD
    jset(seed, "resources", a);
    rc = az_arm_seed(seed, err, cap);
    json_object_put(seed);
    return rc;
}

void az_arm_touch(const char *path)
{
    struct path p;
    struct az_reply r = {0};
    struct res *x;
    struct json_object *tags;
    if (parse_path(path, &p, &r) || p.kind != K_LB || p.list) {
        az_reply_clear(&r);
        return;
    }
    HASH_FIND_STR(g_res, p.key, x);
    if (!x)
        return;
    /* Another client's write: a tag changes and so does the etag. */
    tags = jobj(x->body, "tags");
    if (!tags) {
        tags = json_object_new_object();
        jset(x->body, "tags", tags);
    }
    jset(tags, "fake-azure-other-writer",
         json_object_new_int64(json_object_get_int64(jget(tags, "fake-azure-other-writer")) + 1));
    new_etag(x);
}
