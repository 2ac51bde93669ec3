/*
 * compute.c — fake-gce's Compute Engine v1: regional addresses,
 * forwardingRules, targetPools, backendServices and healthChecks; global
 * firewalls, httpHealthChecks and healthChecks; zonal instances and
 * instanceGroups; read-only networks and subnetworks; and the Operations
 * every mutating call returns.
 *
 * Resources are kept as the JSON GCE returns, one json-c object per
 * collection ("regions/us-central1/addresses" → name → resource); keys that
 * start with '_' are the fake's own (an instance group's members) and never
 * leave it. A mutating call is checked at once (name, fields, references,
 * conflicts: the 400/404/409/412 GCE answers synchronously) and its result
 * is computed then, but the store changes only when its Operation reaches
 * DONE: after --op-polls polls of the operation (GET or wait), or --op-ms
 * after it was made. What can only fail late fails in the Operation, as in
 * GCE: a second insert of a name whose first insert is still running
 * (RESOURCE_ALREADY_EXISTS), a quota (QUOTA_EXCEEDED), an address already
 * held (IP_IN_USE_BY_ANOTHER_RESOURCE). Any other change to a resource
 * with a running Operation is 400 resourceNotReady.
 *
 * Everything here runs under gce_lock (main.c takes it).
 */
#include "test/fakes/gce/fake.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

#define MAX_PAGE 500
#define MAX_QUOTAS 16

enum scope { SC_GLOBAL = 1, SC_REGION = 2, SC_ZONE = 4 };

struct call;
struct op;

/* One kind of resource. */
struct rdef {
    const char *coll;
    unsigned scopes;
    const char *kind;
    const char *type_name; /* in "The <type> resource '...' is already being used by" */
    const char *quota_global, *quota_region;
    const char *const *fields; /* what insert accepts besides the output-only fields */
    bool fingerprint;
    bool readonly;
    bool patch, update;
    /* What a change may alter: only these fields (NULL: any), and never these. */
    const char *const *changeable, *const *immutable;
    int (*prepare)(struct call *c, struct json_object *res);
    /* At DONE of an insert: what needs the final state (addresses). 0 or an op error. */
    int (*commit)(struct op *o, const char *coll_path, struct json_object *res);
};

struct call {
    const char *method;
    char project[64];
    enum scope scope;
    char loc[64];        /* the region or zone; "" for global */
    char scope_path[96]; /* "global", "regions/R", "zones/Z" */
    const struct rdef *d;
    char coll_path[160]; /* scope_path/coll */
    char name[80];
    char verb[40];
    const struct gce_query *q;
    struct json_object *body;
    struct gce_reply *r;
    bool patch;              /* prepare() checks a patched/updated resource... */
    struct json_object *cur; /* ...which is now this */
    struct json_object *cl;  /* do_list: the collection listed */
};

struct op {
    char name[96];
    char scope_path[96];
    char target[256]; /* canonical path of the target */
    struct json_object *json;
    struct json_object *effect; /* {"do","coll","coll_path","name","res","insert"} */
    int polls_left;
    uint64_t created_ms;
    bool done;
    UT_hash_handle hh;
    struct op *prev, *next; /* on g_running while not done, oldest first */
};

struct rid {
    char id[80];
    struct op *op;
    UT_hash_handle hh;
};

struct quota {
    char name[48];
    long limit;
};

static struct json_object *g_store; /* coll_path → {name → resource} */
static struct json_object *g_stale; /* canonical path → reads left that 404 */
static struct op *g_ops;
/*
 * The Operations not yet DONE, in the order they started: sweep and busy
 * run on every request and read only these, so a long run's thousands of
 * finished Operations (kept for polling, as GCE keeps them) cost nothing.
 */
static struct op *g_running;
static struct rid *g_rids;
static struct quota g_quotas[MAX_QUOTAS];
static size_t g_n_quotas;

/* ---- small JSON helpers ---- */

/* json-c asserts on array calls with a non-array; absent lists are common here. */
static size_t alen(struct json_object *a)
{
    return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static struct json_object *aget(struct json_object *a, size_t i)
{
    return i < alen(a) ? json_object_array_get_idx(a, i) : NULL;
}

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void jset(struct json_object *o, const char *key, const char *val)
{
    json_object_object_add(o, key, json_object_new_string(val));
}

static struct json_object *jcopy(struct json_object *o)
{
    struct json_object *c = NULL;
    if (o && json_object_deep_copy(o, &c, NULL) != 0)
        return NULL;
    return c;
}

/* ---- references ---- */

/*
 * "projects/P/..." from a full URL (any host), a "projects/..." path or a
 * path relative to the project ("regions/r/...", "zones/...", "global/...").
 */
static int canon(const char *ref, char *out, size_t cap)
{
    const char *p;
    size_t n;
    if (!ref || !*ref)
        return -1;
    if (strstr(ref, "://")) {
        p = strstr(ref, "/projects/");
        if (!p)
            return -1;
        ref = p + 1;
    }
    if (!strncmp(ref, "projects/", 9))
        n = (size_t)snprintf(out, cap, "%s", ref);
    else if (!strncmp(ref, "global/", 7) || !strncmp(ref, "regions/", 8) ||
             !strncmp(ref, "zones/", 6))
        n = (size_t)snprintf(out, cap, "projects/%s/%s", gce_cfg.project, ref);
    else
        return -1;
    if (n >= cap)
        return -1;
    while (n > 0 && out[n - 1] == '/')
        out[--n] = 0;
    return 0;
}

static void self_link(const char *canonical, char *out, size_t cap)
{
    /* lbp_strlcpy, not snprintf: -O2 builds warn (as errors) on a possible cut */
    size_t n = lbp_strlcpy(out, gce_cfg.self_base, cap);
    if (n < cap)
        lbp_strlcpy(out + n, canonical, cap - n);
}

static void canon_of(const char *coll_path, const char *name, char *out, size_t cap)
{
    if (name && *name)
        snprintf(out, cap, "projects/%s/%s/%s", gce_cfg.project, coll_path, name);
    else
        snprintf(out, cap, "projects/%s/%s", gce_cfg.project, coll_path);
}

static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 63 || !(s[0] >= 'a' && s[0] <= 'z') || s[n - 1] == '-')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static bool known_region(const char *r)
{
    return strcmp(r, gce_cfg.region) == 0;
}

static bool known_zone(const char *z)
{
    for (size_t i = 0; i < gce_cfg.n_zones; i++)
        if (!strcmp(gce_cfg.zones[i], z))
            return true;
    return false;
}

/* ---- the store ---- */

static struct json_object *coll(const char *coll_path, bool create)
{
    struct json_object *c;
    if (json_object_object_get_ex(g_store, coll_path, &c))
        return c;
    if (!create)
        return NULL;
    c = json_object_new_object();
    json_object_object_add(g_store, coll_path, c);
    return c;
}

static struct json_object *find(const char *coll_path, const char *name)
{
    struct json_object *c = coll(coll_path, false), *r;
    if (c && json_object_object_get_ex(c, name, &r))
        return r;
    return NULL;
}

static const char *coll_name_of(const char *coll_path)
{
    const char *s = strrchr(coll_path, '/');
    return s ? s + 1 : coll_path;
}

/*
 * A reference to a resource of kind want_coll: found (0, res and the
 * collection path set), malformed (-1) or missing (-2; canonical set).
 */
static int lookup(const char *ref, const char *want_coll, char *canonical, size_t cap,
                  struct json_object **res, char *coll_path, size_t cp_cap)
{
    char tmp[512], *slash;
    const char *rest;
    if (canon(ref, canonical, cap) != 0)
        return -1;
    /* projects/P/<scope path>/<coll>/<name> */
    if (strncmp(canonical, "projects/", 9) != 0)
        return -1;
    rest = strchr(canonical + 9, '/');
    if (!rest || strncmp(canonical + 9, gce_cfg.project, (size_t)(rest - canonical - 9)) != 0 ||
        strlen(gce_cfg.project) != (size_t)(rest - canonical - 9))
        return -2;
    snprintf(tmp, sizeof(tmp), "%s", rest + 1);
    slash = strrchr(tmp, '/');
    if (!slash)
        return -1;
    *slash = 0;
    if (strcmp(coll_name_of(tmp), want_coll) != 0)
        return -1;
    lbp_strlcpy(coll_path, tmp, cp_cap);
    *res = find(tmp, slash + 1);
    return *res ? 0 : -2;
}

/* Calls fn for each resource in every collection named coll_name. */
static void each(const char *coll_name, void (*fn)(const char *cp, struct json_object *r, void *),
                 void *ctx)
{
    json_object_object_foreach(g_store, cp, c)
    {
        if (strcmp(coll_name_of(cp), coll_name) != 0)
            continue;
        json_object_object_foreach(c, name, r)
        {
            (void)name;
            fn(cp, r, ctx);
        }
    }
}

/* ---- errors ---- */

static int field_err(struct call *c, const char *field, const char *value, const char *why)
{
    gce_error(c->r, 400, "global", "invalid", "Invalid value for field 'resource.%s': '%s'. %s",
              field, value ? value : "", why);
    return -1;
}

static int not_found(struct call *c, const char *canonical)
{
    gce_error(c->r, 404, "global", "notFound", "The resource '%s' was not found", canonical);
    return -1;
}

static void op_error(struct op *o, const char *code, int http, const char *http_msg,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- addresses and their IPs ---- */

/* The addresses of one range in use, found in one pass over the store. */
struct ipmarks {
    uint32_t base, n;
    bool *used;
};

static uint32_t parse_ip(const char *s)
{
    struct in_addr a;
    if (!s || inet_pton(AF_INET, s, &a) != 1)
        return 0;
    return ntohl(a.s_addr);
}

static void ip_to_str(uint32_t ip, char out[16])
{
    struct in_addr a = {htonl(ip)};
    inet_ntop(AF_INET, &a, out, 16);
}

static void mark_ip(struct ipmarks *m, const char *s)
{
    uint32_t ip = parse_ip(s);
    if (ip >= m->base && ip - m->base < m->n)
        m->used[ip - m->base] = true;
}

static void scan_ip(const char *cp, struct json_object *r, void *ctx)
{
    struct ipmarks *m = ctx;
    const char *cn = coll_name_of(cp);
    if (!strcmp(cn, "addresses"))
        mark_ip(m, jstr(r, "address"));
    else if (!strcmp(cn, "forwardingRules"))
        mark_ip(m, jstr(r, "IPAddress"));
    else {
        struct json_object *nics = json_object_object_get(r, "networkInterfaces");
        for (size_t i = 0; i < alen(nics); i++)
            mark_ip(m, jstr(aget(nics, i), "networkIP"));
    }
}

/*
 * The lowest free address of the range. One pass over what holds addresses
 * marks the used ones: testing each candidate against the whole store made
 * a soak's 2,000th address cost millions of comparisons.
 */
static int alloc_ip(bool external, char out[16])
{
    struct ipmarks m = {.base = external ? gce_cfg.ext_base : gce_cfg.int_base,
                        .n = external ? gce_cfg.ext_n : gce_cfg.int_n};
    int rc = -1;
    if (!(m.used = calloc(m.n, sizeof(*m.used))))
        return -1;
    each("addresses", scan_ip, &m);
    each("forwardingRules", scan_ip, &m);
    each("instances", scan_ip, &m);
    /* Skip the network and gateway addresses and the broadcast one. */
    for (uint32_t i = 2; i + 1 < m.n && rc != 0; i++)
        if (!m.used[i]) {
            ip_to_str(m.base + i, out);
            rc = 0;
        }
    free(m.used);
    return rc;
}

static bool in_range(uint32_t ip, bool external)
{
    uint32_t base = external ? gce_cfg.ext_base : gce_cfg.int_base;
    uint32_t n = external ? gce_cfg.ext_n : gce_cfg.int_n;
    return ip >= base && ip - base < n;
}

struct users {
    char region_fr[200]; /* forwardingRules collection of the address's region */
    const char *ip;
    struct json_object *list;
};

static void scan_users(const char *cp, struct json_object *r, void *ctx)
{
    struct users *u = ctx;
    char c[400], link[512];
    if (strcmp(cp, u->region_fr) != 0 || !lbp_streq(jstr(r, "IPAddress"), u->ip))
        return;
    canon_of(cp, jstr(r, "name"), c, sizeof(c));
    self_link(c, link, sizeof(link));
    json_object_array_add(u->list, json_object_new_string(link));
}

/* The forwarding rules holding an address's IP (selfLinks), a new array. */
static struct json_object *address_users(const char *coll_path, struct json_object *addr)
{
    struct users u = {.ip = jstr(addr, "address"), .list = json_object_new_array()};
    snprintf(u.region_fr, sizeof(u.region_fr), "%.*s/forwardingRules",
             (int)(strlen(coll_path) - strlen("/addresses")), coll_path);
    if (u.ip)
        each("forwardingRules", scan_users, &u);
    return u.list;
}

/* A copy fit to send: private keys dropped, derived fields filled in. */
static struct json_object *render(const char *coll_path, struct json_object *res)
{
    struct json_object *o = jcopy(res);
    const char *drop[8];
    size_t n = 0;
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        if (k[0] == '_' && n < LBP_ARRAY_LEN(drop))
            drop[n++] = k;
    }
    for (size_t i = 0; i < n; i++)
        json_object_object_del(o, drop[i]);
    if (!strcmp(coll_name_of(coll_path), "addresses")) {
        struct json_object *users = address_users(coll_path, res);
        if (alen(users) > 0) {
            jset(o, "status", "IN_USE");
            json_object_object_add(o, "users", users);
        } else {
            jset(o, "status", "RESERVED");
            json_object_put(users);
        }
    }
    return o;
}

/* ---- field checks ---- */

static int check_enum(struct call *c, struct json_object *res, const char *key, const char *def,
                      const char *const *allowed)
{
    struct json_object *v;
    const char *s;
    if (!json_object_object_get_ex(res, key, &v)) {
        if (def)
            jset(res, key, def);
        return 0;
    }
    s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
    for (size_t i = 0; s && allowed[i]; i++)
        if (!strcmp(allowed[i], s))
            return 0;
    return field_err(c, key, s ? s : json_object_to_json_string(v),
                     "Value is not one of the allowed values.");
}

static int check_int(struct call *c, struct json_object *res, const char *key, long def, long min,
                     long max)
{
    struct json_object *v;
    char val[32];
    long n;
    if (!json_object_object_get_ex(res, key, &v)) {
        if (def >= 0)
            json_object_object_add(res, key, json_object_new_int64(def));
        return 0;
    }
    /* GCE takes integers as JSON numbers or as decimal strings. */
    if (json_object_is_type(v, json_type_int)) {
        n = (long)json_object_get_int64(v);
    } else if (!json_object_is_type(v, json_type_string) ||
               lbp_parse_long(json_object_get_string(v), min, max, &n) != 0) {
        return field_err(c, key, json_object_to_json_string(v), "Must be an integer.");
    }
    if (n < min || n > max) {
        snprintf(val, sizeof(val), "%ld", n);
        char why[96];
        snprintf(why, sizeof(why), "Must be between %ld and %ld.", min, max);
        return field_err(c, key, val, why);
    }
    json_object_object_add(res, key, json_object_new_int64(n));
    return 0;
}

static int check_string(struct call *c, struct json_object *res, const char *key)
{
    struct json_object *v;
    if (json_object_object_get_ex(res, key, &v) && !json_object_is_type(v, json_type_string))
        return field_err(c, key, json_object_to_json_string(v), "Must be a string.");
    return 0;
}

static int check_bool(struct call *c, struct json_object *res, const char *key, int def)
{
    struct json_object *v;
    if (!json_object_object_get_ex(res, key, &v)) {
        if (def >= 0)
            json_object_object_add(res, key, json_object_new_boolean(def));
        return 0;
    }
    if (!json_object_is_type(v, json_type_boolean))
        return field_err(c, key, json_object_to_json_string(v), "Must be a boolean.");
    return 0;
}

/* A string array (absent is fine); each element passed to ok() if given. */
static int check_str_array(struct call *c, struct json_object *res, const char *key, size_t max,
                           bool (*ok)(const char *), const char *why)
{
    struct json_object *v;
    char field[96];
    if (!json_object_object_get_ex(res, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return field_err(c, key, json_object_to_json_string(v), "Must be a list.");
    if (alen(v) > max) {
        char why2[64];
        snprintf(why2, sizeof(why2), "At most %zu values are allowed.", max);
        return field_err(c, key, json_object_to_json_string(v), why2);
    }
    for (size_t i = 0; i < alen(v); i++) {
        struct json_object *e = aget(v, i);
        snprintf(field, sizeof(field), "%s[%zu]", key, i);
        if (!json_object_is_type(e, json_type_string))
            return field_err(c, field, json_object_to_json_string(e), "Must be a string.");
        if (ok && !ok(json_object_get_string(e)))
            return field_err(c, field, json_object_get_string(e), why);
    }
    return 0;
}

/* A reference field: must name an existing resource of want_coll; stored as its selfLink. */
static int check_ref(struct call *c, struct json_object *res, const char *key, const char *field,
                     struct json_object *holder, const char *want_coll, struct json_object **out)
{
    char canonical[400], cp[200], link[512];
    struct json_object *found = NULL;
    const char *ref = jstr(holder, key);
    int rc;
    if (!ref)
        return field_err(c, field, json_object_to_json_string(json_object_object_get(holder, key)),
                         "Must be a resource URL.");
    rc = lookup(ref, want_coll, canonical, sizeof(canonical), &found, cp, sizeof(cp));
    if (rc == -1)
        return field_err(c, field, ref, "Invalid resource reference.");
    if (rc == -2)
        return not_found(c, canonical);
    self_link(canonical, link, sizeof(link));
    jset(holder, key, link);
    if (out)
        *out = found;
    (void)res;
    return 0;
}

/* A network or subnetwork reference: must be well-formed; defaults to "default". */
static int check_net(struct call *c, struct json_object *res, const char *key, bool sub)
{
    char canonical[400], link[512], def[200];
    const char *v = jstr(res, key);
    if (!json_object_object_get_ex(res, key, NULL)) {
        if (sub)
            snprintf(def, sizeof(def), "regions/%s/subnetworks/default", gce_cfg.region);
        else
            snprintf(def, sizeof(def), "global/networks/default");
        v = def;
    }
    if (!v || canon(v, canonical, sizeof(canonical)) != 0 ||
        !strstr(canonical, sub ? "/subnetworks/" : "/global/networks/"))
        return field_err(c, key, v, "Invalid resource reference.");
    self_link(canonical, link, sizeof(link));
    jset(res, key, link);
    return 0;
}

static bool valid_port_range(const char *s, int *lo, int *hi)
{
    long a, b;
    char buf[16];
    const char *dash = strchr(s, '-');
    if (strlen(s) >= sizeof(buf))
        return false;
    if (!dash) {
        if (lbp_parse_long(s, 0, 65535, &a) != 0)
            return false;
        b = a;
    } else {
        snprintf(buf, sizeof(buf), "%.*s", (int)(dash - s), s);
        if (lbp_parse_long(buf, 0, 65535, &a) != 0 || lbp_parse_long(dash + 1, 0, 65535, &b) != 0 ||
            a > b)
            return false;
    }
    if (lo)
        *lo = (int)a;
    if (hi)
        *hi = (int)b;
    return true;
}

static bool valid_fw_port(const char *s)
{
    return valid_port_range(s, NULL, NULL);
}

static bool valid_single_port(const char *s)
{
    int lo, hi;
    return valid_port_range(s, &lo, &hi) && lo == hi && lo >= 1;
}

static bool valid_cidr(const char *s)
{
    char ip[64];
    unsigned char buf[16];
    const char *slash = strchr(s, '/');
    long bits, max;
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof(ip))
        return false;
    snprintf(ip, sizeof(ip), "%.*s", (int)n, s);
    if (inet_pton(AF_INET, ip, buf) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, ip, buf) == 1)
        max = 128;
    else
        return false;
    return !slash || lbp_parse_long(slash + 1, 0, max, &bits) == 0;
}

static bool valid_tag(const char *s)
{
    return valid_name(s);
}

/* ---- per-kind checks and defaults ---- */

static const char *const k_tiers[] = {"PREMIUM", "STANDARD", NULL};

static int prep_address(struct call *c, struct json_object *res)
{
    static const char *const types[] = {"EXTERNAL", "INTERNAL", NULL};
    static const char *const purposes[] = {"GCE_ENDPOINT", "SHARED_LOADBALANCER_VIP", "VPC_PEERING",
                                           "PRIVATE_SERVICE_CONNECT", NULL};
    bool external;
    const char *ip;
    if (check_string(c, res, "description") ||
        check_enum(c, res, "addressType", "EXTERNAL", types) ||
        check_enum(c, res, "purpose", NULL, purposes))
        return -1;
    external = !strcmp(jstr(res, "addressType"), "EXTERNAL");
    if (external) {
        if (check_enum(c, res, "networkTier", "PREMIUM", k_tiers))
            return -1;
        if (json_object_object_get_ex(res, "subnetwork", NULL))
            return field_err(c, "subnetwork", jstr(res, "subnetwork"),
                             "An external address cannot have a subnetwork.");
    } else if (check_net(c, res, "subnetwork", true)) {
        return -1;
    }
    if (json_object_object_get_ex(res, "address", NULL)) {
        ip = jstr(res, "address");
        if (!ip || !parse_ip(ip))
            return field_err(c, "address", ip, "Must be a valid IPv4 address.");
        if (!in_range(parse_ip(ip), external))
            return field_err(c, "address", ip,
                             external ? "The specified external IP address is not available "
                                        "in this region."
                                      : "The specified IP address is not in the subnetwork's "
                                        "range.");
    }
    jset(res, "labelFingerprint", "42WmSpB8rSM=");
    return 0;
}

struct holder {
    uint32_t ip;
    const char *skip;
    const char *found;
};

static void scan_addr_holder(const char *cp, struct json_object *r, void *ctx)
{
    struct holder *h = ctx;
    (void)cp;
    if (!h->found && parse_ip(jstr(r, "address")) == h->ip && !lbp_streq(jstr(r, "name"), h->skip))
        h->found = jstr(r, "name");
}

static void scan_nic_holder(const char *cp, struct json_object *r, void *ctx)
{
    struct holder *h = ctx;
    struct json_object *nics = json_object_object_get(r, "networkInterfaces");
    (void)cp;
    for (size_t i = 0; !h->found && i < alen(nics); i++)
        if (parse_ip(jstr(aget(nics, i), "networkIP")) == h->ip)
            h->found = jstr(r, "name");
}

static int commit_address(struct op *o, const char *coll_path, struct json_object *res)
{
    const char *ip = jstr(res, "address");
    bool external = lbp_streq(jstr(res, "addressType"), "EXTERNAL");
    char buf[16];
    (void)coll_path;
    if (ip) {
        /* An IP a forwarding rule uses ephemerally may be promoted; one another address or
         * a VM holds may not. */
        struct holder h = {.ip = parse_ip(ip), .skip = jstr(res, "name")};
        each("addresses", scan_addr_holder, &h);
        each("instances", scan_nic_holder, &h);
        if (h.found) {
            op_error(o, "IP_IN_USE_BY_ANOTHER_RESOURCE", 409, "CONFLICT",
                     "IP '%s' is already being used by another resource.", ip);
            return -1;
        }
        return 0;
    }
    if (alloc_ip(external, buf) != 0) {
        op_error(o, "IP_SPACE_EXHAUSTED", 400, "BAD REQUEST", "IP space of '%s' is exhausted.",
                 external ? "external range" : "subnetwork");
        return -1;
    }
    jset(res, "address", buf);
    return 0;
}

/* The port ranges a forwarding rule listens on. */
static size_t rule_ports(struct json_object *r, int lo[5], int hi[5])
{
    struct json_object *ports = json_object_object_get(r, "ports");
    size_t n = 0;
    if (jstr(r, "portRange") && valid_port_range(jstr(r, "portRange"), &lo[0], &hi[0]))
        return 1;
    for (size_t i = 0; i < alen(ports) && n < 5; i++)
        if (valid_port_range(json_object_get_string(aget(ports, i)), &lo[n], &hi[n]))
            n++;
    if (n)
        return n;
    lo[0] = 1;
    hi[0] = 65535;
    return 1;
}

struct frconflict {
    struct json_object *rule;
    char coll_path[200];
    bool conflict;
};

static void scan_fr_conflict(const char *cp, struct json_object *r, void *ctx)
{
    struct frconflict *f = ctx;
    int alo[5], ahi[5], blo[5], bhi[5];
    size_t an, bn;
    if (f->conflict || strcmp(cp, f->coll_path) != 0 ||
        lbp_streq(jstr(r, "name"), jstr(f->rule, "name")) ||
        !lbp_streq(jstr(r, "IPAddress"), jstr(f->rule, "IPAddress")) ||
        !lbp_streq(jstr(r, "IPProtocol"), jstr(f->rule, "IPProtocol")))
        return;
    an = rule_ports(r, alo, ahi);
    bn = rule_ports(f->rule, blo, bhi);
    for (size_t i = 0; i < an; i++)
        for (size_t j = 0; j < bn; j++)
            if (alo[i] <= bhi[j] && blo[j] <= ahi[i])
                f->conflict = true;
}

struct addrfind {
    uint32_t ip;
    struct json_object *found;
    char coll_path[200];
};

static void scan_addr_in_region(const char *cp, struct json_object *r, void *ctx)
{
    struct addrfind *a = ctx;
    if (!a->found && !strcmp(cp, a->coll_path) && parse_ip(jstr(r, "address")) == a->ip)
        a->found = r;
}

static int prep_forwarding_rule(struct call *c, struct json_object *res)
{
    static const char *const protos[] = {"TCP",  "UDP",  "ESP",        "AH",
                                         "SCTP", "ICMP", "L3_DEFAULT", NULL};
    static const char *const schemes[] = {"EXTERNAL",         "EXTERNAL_MANAGED",      "INTERNAL",
                                          "INTERNAL_MANAGED", "INTERNAL_SELF_MANAGED", NULL};
    struct json_object *v;
    bool internal;
    const char *ip;
    char buf[32];
    int lo, hi;

    if (check_string(c, res, "description") || check_enum(c, res, "IPProtocol", "TCP", protos) ||
        check_enum(c, res, "loadBalancingScheme", "EXTERNAL", schemes) ||
        check_bool(c, res, "allPorts", -1) || check_bool(c, res, "allowGlobalAccess", -1) ||
        check_str_array(c, res, "ports", 5, valid_single_port, "Invalid port specification."))
        return -1;
    internal = !strncmp(jstr(res, "loadBalancingScheme"), "INTERNAL", 8);
    if (json_object_object_get_ex(res, "portRange", &v)) {
        const char *pr = jstr(res, "portRange");
        if (json_object_object_get_ex(res, "ports", NULL))
            return field_err(c, "portRange", pr, "portRange and ports cannot both be set.");
        if (!pr || !valid_port_range(pr, &lo, &hi) || lo < 1)
            return field_err(c, "portRange", pr ? pr : json_object_to_json_string(v),
                             "Invalid port range.");
        /* GCE answers a single port as a range. */
        snprintf(buf, sizeof(buf), "%d-%d", lo, hi);
        jset(res, "portRange", buf);
    } else if (!internal && !json_object_object_get_ex(res, "ports", NULL) &&
               !json_object_object_get_ex(res, "allPorts", NULL) &&
               (!strcmp(jstr(res, "IPProtocol"), "TCP") ||
                !strcmp(jstr(res, "IPProtocol"), "UDP") ||
                !strcmp(jstr(res, "IPProtocol"), "SCTP"))) {
        jset(res, "portRange", "1-65535");
    }
    if (internal && !json_object_object_get_ex(res, "ports", NULL) &&
        !json_object_object_get_ex(res, "allPorts", NULL))
        return field_err(c, "ports", "",
                         "Ports or allPorts must be specified for an internal forwarding rule.");
    if (!internal && json_object_object_get_ex(res, "allowGlobalAccess", NULL))
        return field_err(c, "allowGlobalAccess", "true",
                         "Global access is only for internal forwarding rules.");
    if (json_object_object_get_ex(res, "target", NULL) &&
        json_object_object_get_ex(res, "backendService", NULL))
        return field_err(c, "target", jstr(res, "target"),
                         "target and backendService cannot both be set.");
    if (json_object_object_get_ex(res, "target", NULL)) {
        if (internal)
            return field_err(c, "target", jstr(res, "target"),
                             "An internal forwarding rule forwards to a backend service.");
        if (check_ref(c, res, "target", "target", res, "targetPools", NULL))
            return -1;
    } else if (json_object_object_get_ex(res, "backendService", NULL)) {
        if (check_ref(c, res, "backendService", "backendService", res, "backendServices", NULL))
            return -1;
    } else {
        return field_err(c, internal ? "backendService" : "target", "",
                         "A forwarding rule needs a target or a backend service.");
    }
    if (internal) {
        if (check_net(c, res, "network", false) || check_net(c, res, "subnetwork", true))
            return -1;
    } else if (check_enum(c, res, "networkTier", "PREMIUM", k_tiers)) {
        return -1;
    }
    /* A change that keeps the rule's address (ephemeral or not) does not re-check it. */
    if (json_object_object_get_ex(res, "IPAddress", &v) &&
        !(c->patch && lbp_streq(jstr(res, "IPAddress"), jstr(c->cur, "IPAddress")))) {
        struct addrfind a;
        struct frconflict f = {.rule = res};
        ip = jstr(res, "IPAddress");
        if (ip && (strstr(ip, "/addresses/"))) {
            char canonical[400], cp[200];
            struct json_object *addr = NULL;
            int rc = lookup(ip, "addresses", canonical, sizeof(canonical), &addr, cp, sizeof(cp));
            if (rc == -1)
                return field_err(c, "IPAddress", ip, "Invalid resource reference.");
            if (rc == -2)
                return not_found(c, canonical);
            jset(res, "IPAddress", jstr(addr, "address"));
            ip = jstr(res, "IPAddress");
        }
        if (!ip || !parse_ip(ip))
            return field_err(c, "IPAddress", ip ? ip : json_object_to_json_string(v),
                             "Must be a valid IPv4 address or an address URL.");
        memset(&a, 0, sizeof(a));
        a.ip = parse_ip(ip);
        snprintf(a.coll_path, sizeof(a.coll_path), "regions/%s/addresses", c->loc);
        each("addresses", scan_addr_in_region, &a);
        if (!internal) {
            if (!a.found || !lbp_streq(jstr(a.found, "addressType"), "EXTERNAL"))
                return field_err(c, "IPAddress", ip,
                                 "Specified IP address is not reserved in this region.");
            if (!lbp_streq(jstr(a.found, "networkTier"), jstr(res, "networkTier"))) {
                char why[160];
                snprintf(why, sizeof(why),
                         "The network tier of the specified IP address is %s, but the forwarding "
                         "rule's is %s.",
                         jstr(a.found, "networkTier"), jstr(res, "networkTier"));
                return field_err(c, "networkTier", jstr(res, "networkTier"), why);
            }
        } else if (!in_range(a.ip, false)) {
            return field_err(c, "IPAddress", ip, "The IP address is not in the subnetwork.");
        }
        snprintf(f.coll_path, sizeof(f.coll_path), "regions/%s/forwardingRules", c->loc);
        each("forwardingRules", scan_fr_conflict, &f);
        if (f.conflict)
            return field_err(c, "IPAddress", ip,
                             "Specified IP address is in-use and would result in a conflict.");
    }
    jset(res, "labelFingerprint", "42WmSpB8rSM=");
    return 0;
}

static int commit_forwarding_rule(struct op *o, const char *coll_path, struct json_object *res)
{
    char buf[16];
    (void)coll_path;
    if (jstr(res, "IPAddress"))
        return 0;
    if (alloc_ip(!lbp_streq(jstr(res, "loadBalancingScheme"), "INTERNAL"), buf) != 0) {
        op_error(o, "IP_SPACE_EXHAUSTED", 400, "BAD REQUEST", "No IP address is available.");
        return -1;
    }
    jset(res, "IPAddress", buf);
    return 0;
}

/* Each element of arr[key] is an object whose sub field references want_coll. */
static int check_ref_list(struct call *c, struct json_object *res, const char *key, size_t max,
                          const char *want_coll, bool dedupe)
{
    struct json_object *arr, *out;
    char field[96];
    if (!json_object_object_get_ex(res, key, &arr))
        return 0;
    if (!json_object_is_type(arr, json_type_array))
        return field_err(c, key, json_object_to_json_string(arr), "Must be a list.");
    if (alen(arr) > max) {
        char why[64];
        snprintf(why, sizeof(why), "At most %zu values are allowed.", max);
        return field_err(c, key, "", why);
    }
    out = json_object_new_array();
    for (size_t i = 0; i < alen(arr); i++) {
        struct json_object *h = json_object_new_object();
        json_object_object_add(h, "v", json_object_get(aget(arr, i)));
        snprintf(field, sizeof(field), "%s[%zu]", key, i);
        if (check_ref(c, res, "v", field, h, want_coll, NULL)) {
            json_object_put(h);
            json_object_put(out);
            return -1;
        }
        bool dup = false;
        for (size_t j = 0; j < alen(out); j++)
            dup = dup || lbp_streq(json_object_get_string(aget(out, j)), jstr(h, "v"));
        if (!dup || !dedupe)
            json_object_array_add(out, json_object_get(json_object_object_get(h, "v")));
        json_object_put(h);
    }
    if (alen(out) == 0) {
        /* GCE leaves empty lists out. */
        json_object_put(out);
        json_object_object_del(res, key);
    } else {
        json_object_object_add(res, key, out);
    }
    return 0;
}

/* An instance URL must be in a zone of this region. */
static int check_instances_in_region(struct call *c, struct json_object *res, const char *key)
{
    struct json_object *arr = json_object_object_get(res, key);
    char pfx[400];
    snprintf(pfx, sizeof(pfx), "%sprojects/%s/zones/%s-", gce_cfg.self_base, gce_cfg.project,
             c->loc);
    for (size_t i = 0; i < alen(arr); i++) {
        const char *u = json_object_get_string(aget(arr, i));
        if (strncmp(u, pfx, strlen(pfx)) != 0) {
            char field[64];
            snprintf(field, sizeof(field), "%s[%zu]", key, i);
            return field_err(c, field, u, "The instance is not in this region.");
        }
    }
    return 0;
}

static int prep_target_pool(struct call *c, struct json_object *res)
{
    static const char *const aff[] = {"NONE", "CLIENT_IP", "CLIENT_IP_PROTO", NULL};
    struct json_object *v;
    if (check_string(c, res, "description") || check_enum(c, res, "sessionAffinity", "NONE", aff) ||
        check_ref_list(c, res, "instances", 1000, "instances", true) ||
        check_instances_in_region(c, res, "instances") ||
        check_ref_list(c, res, "healthChecks", 1, "httpHealthChecks", true))
        return -1;
    if (json_object_object_get_ex(res, "failoverRatio", &v) &&
        (!json_object_is_type(v, json_type_double) || json_object_get_double(v) < 0 ||
         json_object_get_double(v) > 1))
        return field_err(c, "failoverRatio", json_object_to_json_string(v),
                         "Must be between 0 and 1.");
    if (json_object_object_get_ex(res, "backupPool", NULL) &&
        check_ref(c, res, "backupPool", "backupPool", res, "targetPools", NULL))
        return -1;
    return 0;
}

static int prep_backend_service(struct call *c, struct json_object *res)
{
    static const char *const protos[] = {"TCP", "UDP",  "HTTP",        "HTTPS", "HTTP2",
                                         "SSL", "GRPC", "UNSPECIFIED", NULL};
    static const char *const schemes[] = {"EXTERNAL", "EXTERNAL_MANAGED", "INTERNAL",
                                          "INTERNAL_MANAGED", NULL};
    static const char *const aff[] = {"NONE",
                                      "CLIENT_IP",
                                      "CLIENT_IP_PROTO",
                                      "CLIENT_IP_PORT_PROTO",
                                      "GENERATED_COOKIE",
                                      "HEADER_FIELD",
                                      "HTTP_COOKIE",
                                      "CLIENT_IP_NO_DESTINATION",
                                      NULL};
    static const char *const modes[] = {"CONNECTION", "UTILIZATION", "RATE", NULL};
    struct json_object *backends, *hcs;
    char field[96];

    if (check_string(c, res, "description") || check_enum(c, res, "protocol", "TCP", protos) ||
        check_enum(c, res, "loadBalancingScheme", "EXTERNAL", schemes) ||
        check_enum(c, res, "sessionAffinity", "NONE", aff) ||
        check_int(c, res, "timeoutSec", 30, 1, 86400) ||
        check_ref_list(c, res, "healthChecks", 1, "healthChecks", false))
        return -1;
    if (!json_object_object_get_ex(res, "connectionDraining", NULL)) {
        struct json_object *cd = json_object_new_object();
        json_object_object_add(cd, "drainingTimeoutSec", json_object_new_int(0));
        json_object_object_add(res, "connectionDraining", cd);
    }
    hcs = json_object_object_get(res, "healthChecks");
    if (!strcmp(jstr(res, "loadBalancingScheme"), "INTERNAL")) {
        if (alen(hcs) != 1)
            return field_err(c, "healthChecks", "",
                             "A backend service with the INTERNAL load balancing scheme must "
                             "have exactly one health check.");
        if (check_net(c, res, "network", false))
            return -1;
    }
    if (json_object_object_get_ex(res, "backends", &backends)) {
        if (!json_object_is_type(backends, json_type_array))
            return field_err(c, "backends", json_object_to_json_string(backends),
                             "Must be a list.");
        for (size_t i = 0; i < alen(backends); i++) {
            struct json_object *b = aget(backends, i);
            snprintf(field, sizeof(field), "backends[%zu]", i);
            if (!json_object_is_type(b, json_type_object))
                return field_err(c, field, json_object_to_json_string(b), "Must be an object.");
            snprintf(field, sizeof(field), "backends[%zu].group", i);
            if (check_ref(c, res, "group", field, b, "instanceGroups", NULL))
                return -1;
            for (size_t j = 0; j < i; j++)
                if (lbp_streq(jstr(aget(backends, j), "group"), jstr(b, "group")))
                    return field_err(c, field, jstr(b, "group"),
                                     "Duplicate instance group in a backend service.");
            snprintf(field, sizeof(field), "backends[%zu].balancingMode", i);
            if (check_enum(c, b, "balancingMode", "CONNECTION", modes)) {
                /* Name the element, not just the key. */
                gce_reply_clear(c->r);
                return field_err(c, field, jstr(b, "balancingMode"),
                                 "Value is not one of the allowed values.");
            }
        }
        if (alen(backends) == 0)
            json_object_object_del(res, "backends");
    }
    return 0;
}

static int check_hc_common(struct call *c, struct json_object *res)
{
    struct json_object *ti, *ci;
    char v[32];
    if (check_string(c, res, "description") || check_int(c, res, "checkIntervalSec", 5, 1, 300) ||
        check_int(c, res, "timeoutSec", 5, 1, 300) ||
        check_int(c, res, "healthyThreshold", 2, 1, 10) ||
        check_int(c, res, "unhealthyThreshold", 2, 1, 10))
        return -1;
    ti = json_object_object_get(res, "timeoutSec");
    ci = json_object_object_get(res, "checkIntervalSec");
    if (json_object_get_int(ti) > json_object_get_int(ci)) {
        snprintf(v, sizeof(v), "%d", json_object_get_int(ti));
        return field_err(c, "timeoutSec", v,
                         "TimeoutSec should be less than or equal to checkIntervalSec.");
    }
    return 0;
}

static bool valid_path(const char *s)
{
    return s[0] == '/';
}

static int prep_health_check(struct call *c, struct json_object *res)
{
    static const char *const types[] = {"TCP", "SSL", "HTTP", "HTTPS", "HTTP2", "GRPC", NULL};
    static const char *const subs[] = {"tcpHealthCheck",   "sslHealthCheck",   "httpHealthCheck",
                                       "httpsHealthCheck", "http2HealthCheck", "grpcHealthCheck"};
    struct json_object *sub;
    const char *type;
    size_t t = 0;
    char field[64];

    if (!json_object_object_get_ex(res, "type", NULL))
        return field_err(c, "type", "", "The health check type must be specified.");
    if (check_enum(c, res, "type", NULL, types) || check_hc_common(c, res))
        return -1;
    type = jstr(res, "type");
    while (strcmp(types[t], type) != 0)
        t++;
    for (size_t i = 0; i < LBP_ARRAY_LEN(subs); i++)
        if (i != t && json_object_object_get_ex(res, subs[i], NULL))
            return field_err(c, subs[i], "", "Does not match the health check type.");
    if (!json_object_object_get_ex(res, subs[t], &sub)) {
        sub = json_object_new_object();
        json_object_object_add(res, subs[t], sub);
    }
    if (!json_object_is_type(sub, json_type_object))
        return field_err(c, subs[t], json_object_to_json_string(sub), "Must be an object.");
    if (check_int(c, sub, "port", strstr(type, "HTTPS") || !strcmp(type, "SSL") ? 443 : 80, 1,
                  65535)) {
        snprintf(field, sizeof(field), "%s.port", subs[t]);
        gce_reply_clear(c->r);
        return field_err(c, field, json_object_to_json_string(json_object_object_get(sub, "port")),
                         "Must be between 1 and 65535.");
    }
    if (t >= 2 && t <= 4) {
        const char *p = jstr(sub, "requestPath");
        if (!json_object_object_get_ex(sub, "requestPath", NULL))
            jset(sub, "requestPath", "/");
        else if (!p || !valid_path(p)) {
            snprintf(field, sizeof(field), "%s.requestPath", subs[t]);
            return field_err(c, field, p, "Must start with '/'.");
        }
    }
    if (!json_object_object_get_ex(sub, "proxyHeader", NULL))
        jset(sub, "proxyHeader", "NONE");
    return 0;
}

static int prep_http_health_check(struct call *c, struct json_object *res)
{
    const char *p;
    if (check_hc_common(c, res) || check_int(c, res, "port", 80, 1, 65535) ||
        check_string(c, res, "host") || check_string(c, res, "requestPath"))
        return -1;
    p = jstr(res, "requestPath");
    if (!p)
        jset(res, "requestPath", "/");
    else if (!valid_path(p))
        return field_err(c, "requestPath", p, "Must start with '/'.");
    return 0;
}

static bool fw_proto_ok(const char *s, bool *has_ports)
{
    static const char *const names[] = {"tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"};
    long n;
    *has_ports = !strcmp(s, "tcp") || !strcmp(s, "udp") || !strcmp(s, "sctp");
    for (size_t i = 0; i < LBP_ARRAY_LEN(names); i++)
        if (!strcmp(names[i], s))
            return true;
    return lbp_parse_long(s, 0, 255, &n) == 0;
}

static int check_fw_rules(struct call *c, struct json_object *res, const char *key)
{
    struct json_object *arr = json_object_object_get(res, key);
    char field[96];
    if (!json_object_is_type(arr, json_type_array))
        return field_err(c, key, json_object_to_json_string(arr), "Must be a list.");
    for (size_t i = 0; i < alen(arr); i++) {
        struct json_object *rule = aget(arr, i), *ports;
        const char *proto = jstr(rule, "IPProtocol");
        bool has_ports;
        snprintf(field, sizeof(field), "%s[%zu].IPProtocol", key, i);
        if (!proto || !fw_proto_ok(proto, &has_ports))
            return field_err(c, field, proto, "Invalid IP protocol.");
        if (!json_object_object_get_ex(rule, "ports", &ports))
            continue;
        if (!has_ports)
            return field_err(c, field, proto, "Ports can only be given for tcp, udp and sctp.");
        for (size_t j = 0; j < alen(ports); j++) {
            const char *p = json_object_get_string(aget(ports, j));
            snprintf(field, sizeof(field), "%s[%zu].ports[%zu]", key, i, j);
            if (!json_object_is_type(aget(ports, j), json_type_string) || !valid_fw_port(p))
                return field_err(c, field, p, "Invalid port specification.");
        }
    }
    return 0;
}

static int prep_firewall(struct call *c, struct json_object *res)
{
    static const char *const dirs[] = {"INGRESS", "EGRESS", NULL};
    bool allowed = json_object_object_get_ex(res, "allowed", NULL),
         denied = json_object_object_get_ex(res, "denied", NULL);
    if (check_string(c, res, "description") || check_net(c, res, "network", false) ||
        check_int(c, res, "priority", 1000, 0, 65535) ||
        check_enum(c, res, "direction", "INGRESS", dirs) || check_bool(c, res, "disabled", 0) ||
        check_str_array(c, res, "sourceRanges", 5000, valid_cidr,
                        "Must be a valid IPV4 CIDR address range.") ||
        check_str_array(c, res, "destinationRanges", 5000, valid_cidr,
                        "Must be a valid IPV4 CIDR address range.") ||
        check_str_array(c, res, "sourceTags", 30, valid_tag, "Must be a valid network tag.") ||
        check_str_array(c, res, "targetTags", 70, valid_tag, "Must be a valid network tag.") ||
        check_str_array(c, res, "sourceServiceAccounts", 10, NULL, NULL) ||
        check_str_array(c, res, "targetServiceAccounts", 10, NULL, NULL))
        return -1;
    if (allowed == denied)
        return field_err(c, allowed ? "denied" : "allowed", "",
                         "Exactly one of allowed or denied must be specified.");
    if (check_fw_rules(c, res, allowed ? "allowed" : "denied"))
        return -1;
    if (!strcmp(jstr(res, "direction"), "INGRESS") &&
        !json_object_object_get_ex(res, "sourceRanges", NULL) &&
        !json_object_object_get_ex(res, "sourceTags", NULL) &&
        !json_object_object_get_ex(res, "sourceServiceAccounts", NULL)) {
        struct json_object *any = json_object_new_array();
        json_object_array_add(any, json_object_new_string("0.0.0.0/0"));
        json_object_object_add(res, "sourceRanges", any);
    }
    if (!json_object_object_get_ex(res, "logConfig", NULL)) {
        struct json_object *lc = json_object_new_object();
        json_object_object_add(lc, "enable", json_object_new_boolean(0));
        json_object_object_add(res, "logConfig", lc);
    }
    return 0;
}

static void new_fingerprint(struct json_object *o, const char *key)
{
    unsigned char raw[8];
    char hex[17], b64[16];
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t j = 0;
    gce_rand_hex(hex, 8);
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)strtoul((char[3]){hex[2 * i], hex[2 * i + 1], 0}, NULL, 16);
    /* 8 bytes → 12 base64 characters with one '=' of padding, as GCE's fingerprints. */
    for (int i = 0; i < 8; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (i + 1 < 8 ? (unsigned)raw[i + 1] << 8 : 0) |
                     (i + 2 < 8 ? raw[i + 2] : 0);
        b64[j++] = tbl[(v >> 18) & 63];
        b64[j++] = tbl[(v >> 12) & 63];
        b64[j++] = i + 1 < 8 ? tbl[(v >> 6) & 63] : '=';
        b64[j++] = i + 2 < 8 ? tbl[v & 63] : '=';
    }
    b64[j] = 0;
    jset(o, key, b64);
}

static int prep_instance(struct call *c, struct json_object *res)
{
    struct json_object *nics, *tags, *items;
    char mt[600], canonical[400];
    if (check_string(c, res, "description") || check_bool(c, res, "canIpForward", 0))
        return -1;
    if (!json_object_object_get_ex(res, "machineType", NULL)) {
        snprintf(mt, sizeof(mt), "zones/%s/machineTypes/e2-medium", c->loc);
        jset(res, "machineType", mt);
    }
    if (canon(jstr(res, "machineType"), canonical, sizeof(canonical)) != 0)
        return field_err(c, "machineType", jstr(res, "machineType"), "Invalid machine type.");
    self_link(canonical, mt, sizeof(mt));
    jset(res, "machineType", mt);
    if (!json_object_object_get_ex(res, "networkInterfaces", &nics)) {
        nics = json_object_new_array();
        json_object_array_add(nics, json_object_new_object());
        json_object_object_add(res, "networkInterfaces", nics);
    }
    if (!json_object_is_type(nics, json_type_array) || alen(nics) < 1)
        return field_err(c, "networkInterfaces", "", "At least one network interface is needed.");
    for (size_t i = 0; i < alen(nics); i++) {
        struct json_object *n = aget(nics, i);
        char nm[32];
        const char *ip = jstr(n, "networkIP");
        if (!json_object_is_type(n, json_type_object))
            return field_err(c, "networkInterfaces", "", "Must be a list of objects.");
        if (check_net(c, n, "network", false) || check_net(c, n, "subnetwork", true))
            return -1;
        if (json_object_object_get_ex(n, "networkIP", NULL) &&
            (!ip || !in_range(parse_ip(ip), false)))
            return field_err(c, "networkInterfaces[].networkIP", ip,
                             "The IP address is not in the subnetwork.");
        snprintf(nm, sizeof(nm), "nic%zu", i);
        jset(n, "name", nm);
        jset(n, "kind", "compute#networkInterface");
        new_fingerprint(n, "fingerprint");
    }
    if (!json_object_object_get_ex(res, "tags", &tags)) {
        tags = json_object_new_object();
        json_object_object_add(res, "tags", tags);
    }
    if (check_str_array(c, tags, "items", 64, valid_tag, "Must be a valid network tag."))
        return -1;
    if (json_object_object_get_ex(tags, "items", &items) && alen(items) == 0)
        json_object_object_del(tags, "items");
    new_fingerprint(tags, "fingerprint");
    jset(res, "status", "RUNNING");
    jset(res, "labelFingerprint", "42WmSpB8rSM=");
    return 0;
}

static int commit_instance(struct op *o, const char *coll_path, struct json_object *res)
{
    struct json_object *nics = json_object_object_get(res, "networkInterfaces");
    char buf[16];
    (void)coll_path;
    for (size_t i = 0; i < alen(nics); i++) {
        struct json_object *n = aget(nics, i);
        if (jstr(n, "networkIP"))
            continue;
        if (alloc_ip(false, buf) != 0) {
            op_error(o, "IP_SPACE_EXHAUSTED", 400, "BAD REQUEST", "The subnetwork is full.");
            return -1;
        }
        jset(n, "networkIP", buf);
    }
    return 0;
}

static int check_named_ports(struct call *c, struct json_object *res)
{
    struct json_object *np;
    char field[64];
    if (!json_object_object_get_ex(res, "namedPorts", &np))
        return 0;
    if (!json_object_is_type(np, json_type_array))
        return field_err(c, "namedPorts", json_object_to_json_string(np), "Must be a list.");
    for (size_t i = 0; i < alen(np); i++) {
        struct json_object *e = aget(np, i);
        snprintf(field, sizeof(field), "namedPorts[%zu].name", i);
        if (!valid_name(jstr(e, "name")))
            return field_err(c, field, jstr(e, "name"), "Must be a valid name.");
        if (check_int(c, e, "port", -1, 1, 65535) || !json_object_object_get_ex(e, "port", NULL)) {
            gce_reply_clear(c->r);
            snprintf(field, sizeof(field), "namedPorts[%zu].port", i);
            return field_err(c, field,
                             json_object_to_json_string(json_object_object_get(e, "port")),
                             "Must be between 1 and 65535.");
        }
    }
    if (alen(np) == 0)
        json_object_object_del(res, "namedPorts");
    return 0;
}

static int prep_instance_group(struct call *c, struct json_object *res)
{
    struct json_object *m;
    if (check_string(c, res, "description") || check_named_ports(c, res))
        return -1;
    if (json_object_object_get_ex(res, "network", NULL) && check_net(c, res, "network", false))
        return -1;
    if (!json_object_object_get_ex(res, "_members", &m)) {
        m = json_object_new_array();
        json_object_object_add(res, "_members", m);
    }
    json_object_object_add(res, "size", json_object_new_int((int)alen(m)));
    return 0;
}

/* ---- the kinds ---- */

#define OUTPUT_ONLY                                                                                \
    "kind", "id", "creationTimestamp", "selfLink", "selfLinkWithId", "region", "zone",             \
        "fingerprint", "labelFingerprint", "status", "users", "size"

static const char *const f_address[] = {
    "name",    "description", "address",      "addressType", "networkTier", "subnetwork", "network",
    "purpose", "ipVersion",   "prefixLength", "labels",      OUTPUT_ONLY,   NULL};
static const char *const f_fr[] = {"name",
                                   "description",
                                   "IPAddress",
                                   "IPProtocol",
                                   "portRange",
                                   "ports",
                                   "allPorts",
                                   "target",
                                   "backendService",
                                   "loadBalancingScheme",
                                   "network",
                                   "subnetwork",
                                   "networkTier",
                                   "allowGlobalAccess",
                                   "labels",
                                   "ipVersion",
                                   "serviceLabel",
                                   OUTPUT_ONLY,
                                   NULL};
static const char *const f_tp[] = {"name",         "description",     "instances",
                                   "healthChecks", "sessionAffinity", "failoverRatio",
                                   "backupPool",   OUTPUT_ONLY,       NULL};
static const char *const f_bs[] = {"name",
                                   "description",
                                   "backends",
                                   "healthChecks",
                                   "protocol",
                                   "loadBalancingScheme",
                                   "sessionAffinity",
                                   "network",
                                   "connectionDraining",
                                   "timeoutSec",
                                   "portName",
                                   "failoverPolicy",
                                   "logConfig",
                                   "affinityCookieTtlSec",
                                   OUTPUT_ONLY,
                                   NULL};
static const char *const f_hc[] = {"name",
                                   "description",
                                   "type",
                                   "checkIntervalSec",
                                   "timeoutSec",
                                   "healthyThreshold",
                                   "unhealthyThreshold",
                                   "tcpHealthCheck",
                                   "sslHealthCheck",
                                   "httpHealthCheck",
                                   "httpsHealthCheck",
                                   "http2HealthCheck",
                                   "grpcHealthCheck",
                                   "logConfig",
                                   OUTPUT_ONLY,
                                   NULL};
static const char *const f_hhc[] = {"name",
                                    "description",
                                    "host",
                                    "requestPath",
                                    "port",
                                    "checkIntervalSec",
                                    "timeoutSec",
                                    "healthyThreshold",
                                    "unhealthyThreshold",
                                    OUTPUT_ONLY,
                                    NULL};
static const char *const f_fw[] = {"name",
                                   "description",
                                   "network",
                                   "priority",
                                   "direction",
                                   "sourceRanges",
                                   "destinationRanges",
                                   "sourceTags",
                                   "targetTags",
                                   "sourceServiceAccounts",
                                   "targetServiceAccounts",
                                   "allowed",
                                   "denied",
                                   "disabled",
                                   "logConfig",
                                   OUTPUT_ONLY,
                                   NULL};
static const char *const f_inst[] = {
    "name",         "description", "machineType", "networkInterfaces", "tags",
    "labels",       "disks",       "metadata",    "serviceAccounts",   "scheduling",
    "canIpForward", OUTPUT_ONLY,   NULL};
static const char *const f_ig[] = {"name",       "description", "network", "namedPorts",
                                   "subnetwork", OUTPUT_ONLY,   NULL};
static const char *const f_none[] = {NULL};

/* GCE: "Currently, you can only patch the network_tier field" (and global access). */
static const char *const c_fr[] = {"networkTier", "allowGlobalAccess", NULL};
static const char *const i_fw[] = {"network", "direction", NULL};
static const char *const i_bs[] = {"loadBalancingScheme", "network", NULL};

static const struct rdef g_defs[] = {
    {.coll = "addresses",
     .scopes = SC_REGION,
     .kind = "compute#address",
     .type_name = "address",
     .quota_region = "STATIC_ADDRESSES",
     .fields = f_address,
     .prepare = prep_address,
     .commit = commit_address},
    {.coll = "forwardingRules",
     .scopes = SC_REGION,
     .kind = "compute#forwardingRule",
     .type_name = "forwarding_rule",
     .quota_region = "FORWARDING_RULES",
     .fields = f_fr,
     .fingerprint = true,
     .patch = true,
     .changeable = c_fr,
     .prepare = prep_forwarding_rule,
     .commit = commit_forwarding_rule},
    {.coll = "targetPools",
     .scopes = SC_REGION,
     .kind = "compute#targetPool",
     .type_name = "target_pool",
     .quota_region = "TARGET_POOLS",
     .fields = f_tp,
     .prepare = prep_target_pool},
    {.coll = "backendServices",
     .scopes = SC_REGION,
     .kind = "compute#backendService",
     .type_name = "backend_service",
     .quota_global = "BACKEND_SERVICES",
     .quota_region = "REGION_BACKEND_SERVICES",
     .fields = f_bs,
     .fingerprint = true,
     .patch = true,
     .update = true,
     .immutable = i_bs,
     .prepare = prep_backend_service},
    {.coll = "healthChecks",
     .scopes = SC_REGION | SC_GLOBAL,
     .kind = "compute#healthCheck",
     .type_name = "health_check",
     .quota_global = "HEALTH_CHECKS",
     .quota_region = "REGION_HEALTH_CHECKS",
     .fields = f_hc,
     .patch = true,
     .update = true,
     .prepare = prep_health_check},
    {.coll = "httpHealthChecks",
     .scopes = SC_GLOBAL,
     .kind = "compute#httpHealthCheck",
     .type_name = "http_health_check",
     .quota_global = "HEALTH_CHECKS",
     .fields = f_hhc,
     .patch = true,
     .update = true,
     .prepare = prep_http_health_check},
    {.coll = "firewalls",
     .scopes = SC_GLOBAL,
     .kind = "compute#firewall",
     .type_name = "firewall",
     .quota_global = "FIREWALLS",
     .fields = f_fw,
     .patch = true,
     .update = true,
     .immutable = i_fw,
     .prepare = prep_firewall},
    {.coll = "instances",
     .scopes = SC_ZONE,
     .kind = "compute#instance",
     .type_name = "instance",
     .quota_region = "INSTANCES",
     .fields = f_inst,
     .fingerprint = true,
     .prepare = prep_instance,
     .commit = commit_instance},
    {.coll = "instanceGroups",
     .scopes = SC_ZONE,
     .kind = "compute#instanceGroup",
     .type_name = "instance_group",
     .quota_region = "INSTANCE_GROUPS",
     .fields = f_ig,
     .fingerprint = true,
     .prepare = prep_instance_group},
    {.coll = "networks",
     .scopes = SC_GLOBAL,
     .kind = "compute#network",
     .type_name = "network",
     .fields = f_none,
     .readonly = true},
    {.coll = "subnetworks",
     .scopes = SC_REGION,
     .kind = "compute#subnetwork",
     .type_name = "subnetwork",
     .fields = f_none,
     .fingerprint = true,
     .readonly = true},
};

static const struct rdef *def_of(const char *coll_name)
{
    for (size_t i = 0; i < LBP_ARRAY_LEN(g_defs); i++)
        if (!strcmp(g_defs[i].coll, coll_name))
            return &g_defs[i];
    return NULL;
}

/* ---- quotas ---- */

int gce_compute_set_quota(const char *name, long limit)
{
    for (size_t i = 0; i < g_n_quotas; i++)
        if (!strcmp(g_quotas[i].name, name)) {
            g_quotas[i].limit = limit;
            return 0;
        }
    if (g_n_quotas == MAX_QUOTAS || strlen(name) >= sizeof(g_quotas[0].name))
        return -1;
    lbp_strlcpy(g_quotas[g_n_quotas].name, name, sizeof(g_quotas[0].name));
    g_quotas[g_n_quotas++].limit = limit;
    return 0;
}

struct json_object *gce_compute_quotas(void)
{
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < g_n_quotas; i++)
        json_object_object_add(o, g_quotas[i].name, json_object_new_int64(g_quotas[i].limit));
    return o;
}

static long quota_limit(const char *name)
{
    for (size_t i = 0; name && i < g_n_quotas; i++)
        if (!strcmp(g_quotas[i].name, name))
            return g_quotas[i].limit;
    return -1;
}

/* ---- operations ---- */

static void op_error(struct op *o, const char *code, int http, const char *http_msg,
                     const char *fmt, ...)
{
    struct json_object *err = json_object_new_object(), *errs = json_object_new_array(),
                       *e = json_object_new_object();
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    jset(e, "code", code);
    jset(e, "message", msg);
    json_object_array_add(errs, e);
    json_object_object_add(err, "errors", errs);
    json_object_object_add(o->json, "error", err);
    json_object_object_add(o->json, "httpErrorStatusCode", json_object_new_int(http));
    jset(o->json, "httpErrorMessage", http_msg);
}

struct inuse {
    const char *target; /* canonical */
    char user[400];
};

/*
 * Whether s, less trailing slashes, ends in "/tail": every reference to a
 * resource ends in its name, so most strings are ruled out without
 * canonicalising them (a delete reads every stored resource).
 */
static bool ends_in_name(const char *s, size_t n, const char *tail, size_t tn)
{
    while (n > 0 && s[n - 1] == '/')
        n--;
    return n > tn && s[n - tn - 1] == '/' && memcmp(s + n - tn, tail, tn) == 0;
}

static bool refers(struct json_object *v, const char *target, const char *tail, size_t tn)
{
    char c[512];
    switch (json_object_get_type(v)) {
    case json_type_string:
        return ends_in_name(json_object_get_string(v), (size_t)json_object_get_string_len(v), tail,
                            tn) &&
               canon(json_object_get_string(v), c, sizeof(c)) == 0 && !strcmp(c, target);
    case json_type_array:
        for (size_t i = 0; i < alen(v); i++)
            if (refers(aget(v, i), target, tail, tn))
                return true;
        return false;
    case json_type_object: {
        json_object_object_foreach(v, k, e)
        {
            if (strcmp(k, "selfLink") != 0 && refers(e, target, tail, tn))
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

/* Who uses the resource at target (canonical); "" when nobody does. */
static void find_user(const char *coll_path, struct json_object *res, const char *target,
                      char *user, size_t cap)
{
    user[0] = 0;
    if (!strcmp(coll_name_of(coll_path), "addresses")) {
        struct json_object *u = address_users(coll_path, res);
        char c[400];
        if (alen(u) > 0 && canon(json_object_get_string(aget(u, 0)), c, sizeof(c)) == 0)
            snprintf(user, cap, "%s", c);
        json_object_put(u);
        return;
    }
    /* A VM in a pool or a group does not keep it from being deleted. */
    if (!strcmp(coll_name_of(coll_path), "instances"))
        return;
    const char *slash = strrchr(target, '/');
    const char *tail = slash ? slash + 1 : target;
    size_t tn = strlen(tail);
    json_object_object_foreach(g_store, cp, cl)
    {
        json_object_object_foreach(cl, name, r)
        {
            if (r != res && refers(r, target, tail, tn)) {
                char c[400];
                canon_of(cp, name, c, sizeof(c));
                snprintf(user, cap, "%s", c);
                return;
            }
        }
    }
}

static void stamp(struct json_object *o, const char *key)
{
    char ts[40];
    gce_timestamp(ts);
    jset(o, key, ts);
}

static void stale_set(const char *canonical, int n)
{
    if (n > 0)
        json_object_object_add(g_stale, canonical, json_object_new_int(n));
    else
        json_object_object_del(g_stale, canonical);
}

/* Applies an Operation's effect and marks it DONE. */
static void op_finish(struct op *o)
{
    struct json_object *e = o->effect;
    const char *what = jstr(e, "do"), *cp = jstr(e, "coll_path"), *name = jstr(e, "name");
    const struct rdef *d = def_of(jstr(e, "coll"));
    struct json_object *cur = find(cp, name);

    if (!strcmp(what, "put") && json_object_get_boolean(json_object_object_get(e, "insert"))) {
        struct json_object *res = json_object_object_get(e, "res");
        long limit = quota_limit(strncmp(cp, "global/", 7) ? d->quota_region : d->quota_global);
        if (cur) {
            op_error(o, "RESOURCE_ALREADY_EXISTS", 409, "CONFLICT",
                     "The resource '%s' already exists", o->target);
        } else if (limit >= 0 &&
                   (coll(cp, false) ? json_object_object_length(coll(cp, false)) : 0) >= limit) {
            /* a limit binds the first object of a kind too (a limit of 0 allows none) */
            if (strncmp(cp, "global/", 7) == 0)
                op_error(o, "QUOTA_EXCEEDED", 403, "FORBIDDEN",
                         "Quota '%s' exceeded.  Limit: %ld.0 globally.", d->quota_global, limit);
            else
                op_error(o, "QUOTA_EXCEEDED", 403, "FORBIDDEN",
                         "Quota '%s' exceeded.  Limit: %ld.0 in region %s.", d->quota_region, limit,
                         gce_cfg.region);
        } else if (!d->commit || d->commit(o, cp, res) == 0) {
            json_object_object_add(coll(cp, true), name, json_object_get(res));
            stale_set(o->target, gce_fault_stale_reads());
        }
    } else if (!strcmp(what, "put")) {
        if (!cur)
            op_error(o, "RESOURCE_NOT_FOUND", 404, "NOT FOUND", "The resource '%s' was not found",
                     o->target);
        else
            json_object_object_add(coll(cp, true), name,
                                   json_object_get(json_object_object_get(e, "res")));
    } else {
        char user[400];
        if (!cur) {
            op_error(o, "RESOURCE_NOT_FOUND", 404, "NOT FOUND", "The resource '%s' was not found",
                     o->target);
        } else {
            find_user(cp, cur, o->target, user, sizeof(user));
            if (user[0]) {
                op_error(o, "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE", 400, "BAD REQUEST",
                         "The %s resource '%s' is already being used by '%s'", d->type_name,
                         o->target, user);
            } else {
                json_object_object_del(coll(cp, false), name);
                stale_set(o->target, 0);
            }
        }
    }
    jset(o->json, "status", "DONE");
    json_object_object_add(o->json, "progress", json_object_new_int(100));
    stamp(o->json, "endTime");
    json_object_put(o->effect);
    o->effect = NULL;
    o->done = true;
    DL_DELETE(g_running, o);
}

/* An Operation answered to a poll: one poll closer to DONE. */
static void op_poll(struct op *o)
{
    if (o->done)
        return;
    if (o->polls_left > 0) {
        o->polls_left--;
        jset(o->json, "status", "RUNNING");
        json_object_object_add(o->json, "progress",
                               json_object_new_int(gce_cfg.op_polls
                                                       ? 100 * (gce_cfg.op_polls - o->polls_left) /
                                                             (gce_cfg.op_polls + 1)
                                                       : 0));
        return;
    }
    op_finish(o);
}

/* Operations past --op-ms finish whether or not anyone polls them. */
static void sweep(void)
{
    struct op *o, *tmp;
    uint64_t now = lbp_now_ms();
    if (!g_running || gce_cfg.op_ms <= 0)
        return;
    DL_FOREACH_SAFE(g_running, o, tmp)
    {
        if (now - o->created_ms < (uint64_t)gce_cfg.op_ms)
            break; /* the rest started later */
        op_finish(o);
    }
}

static bool busy(const char *target)
{
    struct op *o;
    DL_FOREACH(g_running, o)
    {
        if (!strcmp(o->target, target))
            return true;
    }
    return false;
}

static void reply_json(struct gce_reply *r, int status, struct json_object *o)
{
    r->status = status;
    r->json = o;
}

/* Makes the Operation for a checked mutation and answers with it. */
static void op_start(struct call *c, const char *type, const char *target, const char *target_id,
                     struct json_object *effect)
{
    struct op *o = calloc(1, sizeof(*o));
    char hex[40], link[600], scope_link[512], id[24];
    if (!o) {
        json_object_put(effect);
        gce_error(c->r, 500, "global", "backendError", "out of memory");
        return;
    }
    gce_rand_hex(hex, 14);
    snprintf(o->name, sizeof(o->name), "operation-%llu-%.13s-%.8s-%.8s",
             (unsigned long long)(lbp_wall_s() * 1000 + (int64_t)(lbp_now_ms() % 1000)), hex,
             hex + 13, hex + 19);
    snprintf(o->scope_path, sizeof(o->scope_path), "%s", c->scope_path);
    snprintf(o->target, sizeof(o->target), "%s", target);
    o->effect = effect;
    o->polls_left = gce_cfg.op_polls;
    o->created_ms = lbp_now_ms();
    o->json = json_object_new_object();
    gce_new_id(id);
    jset(o->json, "kind", "compute#operation");
    jset(o->json, "id", id);
    jset(o->json, "name", o->name);
    if (c->scope == SC_REGION || c->scope == SC_ZONE) {
        snprintf(scope_link, sizeof(scope_link), "%sprojects/%s/%s", gce_cfg.self_base,
                 gce_cfg.project, c->scope_path);
        jset(o->json, c->scope == SC_REGION ? "region" : "zone", scope_link);
    }
    jset(o->json, "operationType", type);
    self_link(target, link, sizeof(link));
    jset(o->json, "targetLink", link);
    if (target_id)
        jset(o->json, "targetId", target_id);
    jset(o->json, "status", "PENDING");
    jset(o->json, "user", gce_auth_email());
    json_object_object_add(o->json, "progress", json_object_new_int(0));
    stamp(o->json, "insertTime");
    stamp(o->json, "startTime");
    snprintf(link, sizeof(link), "%sprojects/%s/%s/operations/%s", gce_cfg.self_base,
             gce_cfg.project, c->scope_path, o->name);
    jset(o->json, "selfLink", link);
    HASH_ADD_STR(g_ops, name, o);
    DL_APPEND(g_running, o);
    if (c->q->request_id && *c->q->request_id) {
        struct rid *r = calloc(1, sizeof(*r));
        if (r) {
            lbp_strlcpy(r->id, c->q->request_id, sizeof(r->id));
            r->op = o;
            HASH_ADD_STR(g_rids, id, r);
        }
    }
    if (o->polls_left == 0)
        op_finish(o);
    reply_json(c->r, 200, jcopy(o->json));
}

/* requestId: a UUID other than the zero one; a repeat answers the first call's Operation. */
static bool request_id_seen(struct call *c)
{
    const char *id = c->q->request_id;
    struct rid *r = NULL;
    bool zero = true;
    if (!id || !*id)
        return false;
    if (strlen(id) != 36) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'requestId': '%.80s'. The request ID must be a valid "
                  "UUID with the exception that zero UUID is not supported "
                  "(00000000-0000-0000-0000-000000000000).",
                  id);
        return true;
    }
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char ch = id[i];
        if (dash ? ch != '-'
                 : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                     (ch >= 'A' && ch <= 'F'))) {
            gce_error(c->r, 400, "global", "invalid",
                      "Invalid value for field 'requestId': '%s'. The request ID must be a valid "
                      "UUID with the exception that zero UUID is not supported "
                      "(00000000-0000-0000-0000-000000000000).",
                      id);
            return true;
        }
        zero = zero && (dash || ch == '0');
    }
    if (zero) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'requestId': '%s'. The request ID must be a valid UUID "
                  "with the exception that zero UUID is not supported "
                  "(00000000-0000-0000-0000-000000000000).",
                  id);
        return true;
    }
    HASH_FIND_STR(g_rids, id, r);
    if (!r)
        return false;
    reply_json(c->r, 200, jcopy(r->op->json));
    return true;
}

static struct json_object *effect_new(struct call *c, const char *what, struct json_object *res,
                                      bool insert)
{
    struct json_object *e = json_object_new_object();
    jset(e, "do", what);
    jset(e, "coll", c->d->coll);
    jset(e, "coll_path", c->coll_path);
    jset(e, "name", c->name);
    if (res)
        json_object_object_add(e, "res", res);
    json_object_object_add(e, "insert", json_object_new_boolean(insert));
    return e;
}

/* ---- verbs ---- */

static bool field_known(const struct rdef *d, const char *k)
{
    for (size_t i = 0; d->fields[i]; i++)
        if (!strcmp(d->fields[i], k))
            return true;
    return false;
}

static int check_unknown(struct call *c, struct json_object *body)
{
    json_object_object_foreach(body, k, v)
    {
        (void)v;
        if (!field_known(c->d, k)) {
            gce_error(c->r, 400, "global", "invalid",
                      "Invalid JSON payload received. Unknown name \"%s\" at 'resource': Cannot "
                      "find field.",
                      k);
            return -1;
        }
    }
    return 0;
}

/* Output-only keys a client may echo back; GCE ignores them on input. */
static void drop_output_only(struct json_object *res)
{
    static const char *const keys[] = {"kind",
                                       "id",
                                       "creationTimestamp",
                                       "selfLink",
                                       "selfLinkWithId",
                                       "region",
                                       "zone",
                                       "status",
                                       "users",
                                       "size",
                                       "labelFingerprint"};
    for (size_t i = 0; i < LBP_ARRAY_LEN(keys); i++)
        json_object_object_del(res, keys[i]);
}

static void do_insert(struct call *c)
{
    struct json_object *res;
    const char *name;
    char target[400], link[600], id[24], scope_link[512];

    if (check_unknown(c, c->body))
        return;
    name = jstr(c->body, "name");
    if (!valid_name(name)) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'resource.name': '%s'. Must be a match of regex "
                  "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'",
                  name ? name : "");
        return;
    }
    lbp_strlcpy(c->name, name, sizeof(c->name));
    canon_of(c->coll_path, c->name, target, sizeof(target));
    if (request_id_seen(c))
        return;
    if (find(c->coll_path, c->name)) {
        gce_error(c->r, 409, "global", "alreadyExists", "The resource '%s' already exists", target);
        return;
    }
    res = jcopy(c->body);
    drop_output_only(res);
    json_object_object_del(res, "fingerprint");
    if (c->d->prepare(c, res) != 0) {
        json_object_put(res);
        return;
    }
    gce_new_id(id);
    jset(res, "kind", c->d->kind);
    jset(res, "id", id);
    stamp(res, "creationTimestamp");
    jset(res, "name", c->name);
    self_link(target, link, sizeof(link));
    jset(res, "selfLink", link);
    if (c->scope != SC_GLOBAL) {
        snprintf(scope_link, sizeof(scope_link), "%sprojects/%s/%s", gce_cfg.self_base,
                 gce_cfg.project, c->scope_path);
        jset(res, c->scope == SC_REGION ? "region" : "zone", scope_link);
    }
    if (c->d->fingerprint)
        new_fingerprint(res, "fingerprint");
    op_start(c, "insert", target, id, effect_new(c, "put", res, true));
}

static void do_delete(struct call *c)
{
    struct json_object *cur = find(c->coll_path, c->name);
    char target[400], user[400];
    canon_of(c->coll_path, c->name, target, sizeof(target));
    if (request_id_seen(c))
        return;
    if (!cur) {
        not_found(c, target);
        return;
    }
    if (busy(target)) {
        gce_error(c->r, 400, "global", "resourceNotReady", "The resource '%s' is not ready",
                  target);
        return;
    }
    find_user(c->coll_path, cur, target, user, sizeof(user));
    if (user[0]) {
        gce_error(c->r, 400, "global", "resourceInUseByAnotherResource",
                  "The %s resource '%s' is already being used by '%s'", c->d->type_name, target,
                  user);
        return;
    }
    op_start(c, "delete", target, jstr(cur, "id"), effect_new(c, "delete", NULL, false));
}

/* RFC 7386 merge. */
static void merge(struct json_object *dst, struct json_object *patch)
{
    json_object_object_foreach(patch, k, v)
    {
        struct json_object *cur;
        if (!v) {
            json_object_object_del(dst, k);
        } else if (json_object_is_type(v, json_type_object) &&
                   json_object_object_get_ex(dst, k, &cur) &&
                   json_object_is_type(cur, json_type_object)) {
            merge(cur, v);
        } else {
            json_object_object_add(dst, k, jcopy(v));
        }
    }
}

/* The fingerprint a change carries, checked against the stored one (412 when stale). */
static int check_fingerprint(struct call *c, struct json_object *cur, struct json_object *holder,
                             const char *key, bool required)
{
    const char *given = jstr(holder, key), *have = jstr(cur, key);
    if (!given && !required)
        return 0;
    if (!given || !have || strcmp(given, have) != 0) {
        gce_error(c->r, 412, "global", "conditionNotMet",
                  "Supplied fingerprint does not match current metadata fingerprint.");
        return -1;
    }
    return 0;
}

static bool listed(const char *const *list, const char *k)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], k))
            return true;
    return false;
}

static int changed(struct call *c, struct json_object *cur, struct json_object *res, const char *k)
{
    struct json_object *a = json_object_object_get(cur, k), *b = json_object_object_get(res, k);
    if (!strcmp(k, "fingerprint") || json_object_equal(a, b))
        return 0;
    if (listed(c->d->immutable, k) || (c->d->changeable && !listed(c->d->changeable, k)))
        return field_err(c, k, b ? json_object_to_json_string(b) : "",
                         "This field cannot be changed on an existing resource.");
    return 0;
}

/* A patch or update alters only what GCE lets it alter. */
static int check_changes(struct call *c, struct json_object *cur, struct json_object *res)
{
    json_object_object_foreach(res, k, v)
    {
        (void)v;
        if (changed(c, cur, res, k))
            return -1;
    }
    json_object_object_foreach(cur, k2, v2)
    {
        (void)v2;
        if (!json_object_object_get_ex(res, k2, NULL) && changed(c, cur, res, k2))
            return -1;
    }
    return 0;
}

static void do_patch(struct call *c, bool update)
{
    struct json_object *cur = find(c->coll_path, c->name), *res;
    char target[400];
    const char *name;
    static const char *const keep[] = {"kind", "id",   "creationTimestamp", "selfLink", "region",
                                       "zone", "name", "_members"};

    canon_of(c->coll_path, c->name, target, sizeof(target));
    if ((update && !c->d->update) || (!update && !c->d->patch)) {
        gce_error(c->r, 405, "global", "httpMethodNotAllowed",
                  "HTTP method %s is not supported "
                  "by this URL",
                  c->method);
        return;
    }
    if (check_unknown(c, c->body) || request_id_seen(c))
        return;
    if (!cur) {
        not_found(c, target);
        return;
    }
    name = jstr(c->body, "name");
    if (json_object_object_get_ex(c->body, "name", NULL) && !lbp_streq(name, c->name)) {
        field_err(c, "name", name, "The name of a resource cannot be changed.");
        return;
    }
    if (busy(target)) {
        gce_error(c->r, 400, "global", "resourceNotReady", "The resource '%s' is not ready",
                  target);
        return;
    }
    /* GCE requires the current fingerprint to replace a resource that has one. */
    if (c->d->fingerprint && check_fingerprint(c, cur, c->body, "fingerprint", update))
        return;
    if (update) {
        res = jcopy(c->body);
        drop_output_only(res);
        for (size_t i = 0; i < LBP_ARRAY_LEN(keep); i++) {
            struct json_object *v;
            if (json_object_object_get_ex(cur, keep[i], &v))
                json_object_object_add(res, keep[i], jcopy(v));
        }
    } else {
        struct json_object *p = jcopy(c->body);
        drop_output_only(p);
        res = jcopy(cur);
        merge(res, p);
        json_object_put(p);
    }
    json_object_object_del(res, "fingerprint");
    c->patch = true;
    c->cur = cur;
    if (c->d->prepare(c, res) != 0 || check_changes(c, cur, res) != 0) {
        json_object_put(res);
        return;
    }
    if (c->d->fingerprint)
        new_fingerprint(res, "fingerprint");
    op_start(c, update ? "update" : "patch", target, jstr(cur, "id"),
             effect_new(c, "put", res, false));
}

/* {"instances":[{"instance":url}]} as canonical URLs, or -1 with the error set. */
static struct json_object *instance_refs(struct call *c, const char *list_key, const char *field,
                                         const char *zone)
{
    struct json_object *arr, *out = json_object_new_array();
    char f[96];
    if (!json_object_object_get_ex(c->body, list_key, &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(out);
        field_err(c, list_key, "", "Must be a list.");
        return NULL;
    }
    for (size_t i = 0; i < alen(arr); i++) {
        struct json_object *h = jcopy(aget(arr, i));
        snprintf(f, sizeof(f), "%s[%zu].%s", list_key, i, field);
        if (!json_object_is_type(h, json_type_object) ||
            check_ref(c, h, field, f, h, "instances", NULL)) {
            if (!json_object_is_type(h, json_type_object))
                field_err(c, f, "", "Must be an object.");
            json_object_put(h);
            json_object_put(out);
            return NULL;
        }
        if (zone) {
            char pfx[400];
            snprintf(pfx, sizeof(pfx), "%sprojects/%s/zones/%s/", gce_cfg.self_base,
                     gce_cfg.project, zone);
            if (strncmp(jstr(h, field), pfx, strlen(pfx)) != 0) {
                field_err(c, f, jstr(h, field), "The instance is not in the group's zone.");
                json_object_put(h);
                json_object_put(out);
                return NULL;
            }
        }
        json_object_array_add(out, json_object_new_string(jstr(h, field)));
        json_object_put(h);
    }
    return out;
}

static bool arr_has(struct json_object *arr, const char *s)
{
    for (size_t i = 0; i < alen(arr); i++)
        if (lbp_streq(json_object_get_string(aget(arr, i)), s))
            return true;
    return false;
}

static void arr_remove(struct json_object *arr, const char *s)
{
    for (size_t i = alen(arr); i-- > 0;)
        if (lbp_streq(json_object_get_string(aget(arr, i)), s))
            json_object_array_del_idx(arr, i, 1);
}

/* A list key set to arr, or removed when arr is empty (GCE leaves empty lists out). */
static void set_list(struct json_object *res, const char *key, struct json_object *arr)
{
    if (alen(arr) == 0) {
        json_object_put(arr);
        json_object_object_del(res, key);
    } else {
        json_object_object_add(res, key, arr);
    }
}

static void do_verb(struct call *c)
{
    struct json_object *cur = find(c->coll_path, c->name), *res = NULL, *refs = NULL, *list;
    const char *coll_name = c->d->coll, *v = c->verb;
    char target[400];
    bool add;

    canon_of(c->coll_path, c->name, target, sizeof(target));
    if (!cur) {
        not_found(c, target);
        return;
    }
    /* Reads that happen to be POSTs. */
    if (!strcmp(coll_name, "instanceGroups") && !strcmp(v, "listInstances")) {
        struct json_object *o = json_object_new_object(), *items = json_object_new_array();
        struct json_object *m = json_object_object_get(cur, "_members");
        for (size_t i = 0; i < alen(m); i++) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "instance", jcopy(aget(m, i)));
            jset(e, "status", "RUNNING");
            json_object_array_add(items, e);
        }
        jset(o, "kind", "compute#instanceGroupsListInstances");
        jset(o, "id", target);
        set_list(o, "items", items);
        reply_json(c->r, 200, o);
        return;
    }
    if (!strcmp(coll_name, "targetPools") && !strcmp(v, "getHealth")) {
        struct json_object *o = json_object_new_object(), *hs = json_object_new_array(), *e;
        char canonical[400], cp[200];
        struct json_object *inst = NULL;
        const char *ref = jstr(c->body, "instance");
        if (!ref ||
            lookup(ref, "instances", canonical, sizeof(canonical), &inst, cp, sizeof(cp)) != 0 ||
            !arr_has(json_object_object_get(cur, "instances"), jstr(inst, "selfLink"))) {
            json_object_put(o);
            json_object_put(hs);
            field_err(c, "instance", ref, "The instance is not in the target pool.");
            return;
        }
        e = json_object_new_object();
        jset(e, "instance", jstr(inst, "selfLink"));
        jset(e, "ipAddress",
             jstr(aget(json_object_object_get(inst, "networkInterfaces"), 0), "networkIP"));
        jset(e, "healthState", "HEALTHY");
        json_object_array_add(hs, e);
        jset(o, "kind", "compute#targetPoolInstanceHealth");
        json_object_object_add(o, "healthStatus", hs);
        reply_json(c->r, 200, o);
        return;
    }
    if (request_id_seen(c))
        return;
    if (busy(target)) {
        gce_error(c->r, 400, "global", "resourceNotReady", "The resource '%s' is not ready",
                  target);
        return;
    }
    res = jcopy(cur);
    if (!strcmp(coll_name, "targetPools") &&
        ((add = !strcmp(v, "addInstance")) || !strcmp(v, "removeInstance"))) {
        if (!(refs = instance_refs(c, "instances", "instance", NULL)))
            goto fail;
        list = jcopy(json_object_object_get(res, "instances"));
        if (!list)
            list = json_object_new_array();
        for (size_t i = 0; i < alen(refs); i++) {
            const char *u = json_object_get_string(aget(refs, i));
            if (add && !arr_has(list, u))
                json_object_array_add(list, json_object_new_string(u));
            else if (!add)
                arr_remove(list, u);
        }
        set_list(res, "instances", list);
        c->patch = true;
        if (add && check_instances_in_region(c, res, "instances"))
            goto fail;
    } else if (!strcmp(coll_name, "targetPools") &&
               ((add = !strcmp(v, "addHealthCheck")) || !strcmp(v, "removeHealthCheck"))) {
        struct json_object *arr = json_object_object_get(c->body, "healthChecks");
        list = jcopy(json_object_object_get(res, "healthChecks"));
        if (!list)
            list = json_object_new_array();
        for (size_t i = 0; i < alen(arr); i++) {
            struct json_object *h = jcopy(aget(arr, i));
            char f[64];
            snprintf(f, sizeof(f), "healthChecks[%zu].healthCheck", i);
            if (!json_object_is_type(h, json_type_object) ||
                check_ref(c, h, "healthCheck", f, h, "httpHealthChecks", NULL)) {
                if (!json_object_is_type(h, json_type_object))
                    field_err(c, f, "", "Must be an object.");
                json_object_put(h);
                json_object_put(list);
                goto fail;
            }
            if (add && !arr_has(list, jstr(h, "healthCheck")))
                json_object_array_add(list, json_object_new_string(jstr(h, "healthCheck")));
            else if (!add)
                arr_remove(list, jstr(h, "healthCheck"));
            json_object_put(h);
        }
        if (alen(list) > 1) {
            json_object_put(list);
            field_err(c, "healthChecks", "", "A target pool can have at most one health check.");
            goto fail;
        }
        set_list(res, "healthChecks", list);
    } else if (!strcmp(coll_name, "forwardingRules") && !strcmp(v, "setTarget")) {
        struct json_object *h = json_object_new_object();
        if (lbp_streq(jstr(res, "loadBalancingScheme"), "INTERNAL")) {
            json_object_put(h);
            field_err(c, "target", jstr(c->body, "target"),
                      "An internal forwarding rule forwards to a backend service.");
            goto fail;
        }
        json_object_object_add(h, "target", jcopy(json_object_object_get(c->body, "target")));
        if (check_ref(c, h, "target", "target", h, "targetPools", NULL)) {
            json_object_put(h);
            goto fail;
        }
        jset(res, "target", jstr(h, "target"));
        json_object_put(h);
        new_fingerprint(res, "fingerprint");
    } else if (!strcmp(coll_name, "instanceGroups") &&
               ((add = !strcmp(v, "addInstances")) || !strcmp(v, "removeInstances"))) {
        struct json_object *m;
        if (!(refs = instance_refs(c, "instances", "instance", c->loc)))
            goto fail;
        m = json_object_object_get(res, "_members");
        for (size_t i = 0; i < alen(refs); i++) {
            const char *u = json_object_get_string(aget(refs, i));
            char ic[400];
            canon(u, ic, sizeof(ic));
            if (add && arr_has(m, u)) {
                gce_error(c->r, 400, "global", "memberAlreadyExists",
                          "The resource '%s' is already a member of '%s'", ic, target);
                goto fail;
            }
            if (add)
                json_object_array_add(m, json_object_new_string(u));
            else
                arr_remove(m, u);
        }
        json_object_object_add(res, "size", json_object_new_int((int)alen(m)));
        new_fingerprint(res, "fingerprint");
    } else if (!strcmp(coll_name, "instanceGroups") && !strcmp(v, "setNamedPorts")) {
        struct json_object *np = jcopy(json_object_object_get(c->body, "namedPorts"));
        if (check_fingerprint(c, cur, c->body, "fingerprint", false)) {
            json_object_put(np);
            goto fail;
        }
        json_object_object_add(res, "namedPorts", np ? np : json_object_new_array());
        if (check_named_ports(c, res))
            goto fail;
        new_fingerprint(res, "fingerprint");
    } else if (!strcmp(coll_name, "instances") && !strcmp(v, "setTags")) {
        struct json_object *tags = jcopy(c->body);
        if (check_fingerprint(c, json_object_object_get(cur, "tags"), tags, "fingerprint", true) ||
            check_str_array(c, tags, "items", 64, valid_tag, "Must be a valid network tag.")) {
            json_object_put(tags);
            goto fail;
        }
        if (alen(json_object_object_get(tags, "items")) == 0)
            json_object_object_del(tags, "items");
        new_fingerprint(tags, "fingerprint");
        json_object_object_add(res, "tags", tags);
    } else {
        gce_error(c->r, 400, "global", "invalid", "Invalid method '%s' for %s.", v, coll_name);
        goto fail;
    }
    json_object_put(refs);
    op_start(c, v, target, jstr(cur, "id"), effect_new(c, "put", res, false));
    return;
fail:
    json_object_put(refs);
    json_object_put(res);
}

/* ---- lists ---- */

struct filter {
    char field[64];
    bool negate, regex;
    char value[256];
    regex_t re;
};

static int parse_filter(const char *s, struct filter *f)
{
    char op[4] = "", buf[512];
    size_t n;
    char *p = buf, *q;
    memset(f, 0, sizeof(*f));
    if (strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    while (*p == ' ' || *p == '(')
        p++;
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == ')'))
        p[--n] = 0;
    q = p;
    while (*q && *q != ' ' && *q != '=' && *q != '!')
        q++;
    if (q == p || (size_t)(q - p) >= sizeof(f->field))
        return -1;
    snprintf(f->field, sizeof(f->field), "%.*s", (int)(q - p), p);
    while (*q == ' ')
        q++;
    if (!strncmp(q, "eq ", 3) || !strncmp(q, "ne ", 3)) {
        memcpy(op, q, 2);
        q += 3;
        f->regex = true;
    } else if (!strncmp(q, "!=", 2)) {
        memcpy(op, q, 2);
        q += 2;
    } else if (*q == '=') {
        op[0] = '=';
        q++;
    } else {
        return -1;
    }
    f->negate = !strcmp(op, "ne") || !strcmp(op, "!=");
    while (*q == ' ')
        q++;
    n = strlen(q);
    if (n >= 2 && (q[0] == '"' || q[0] == '\'') && q[n - 1] == q[0]) {
        q[n - 1] = 0;
        q++;
    }
    if (!*q || strlen(q) >= sizeof(f->value) - 4)
        return -1;
    snprintf(f->value, sizeof(f->value), "%s", q);
    if (f->regex) {
        char anchored[300];
        snprintf(anchored, sizeof(anchored), "^(%s)$", f->value);
        if (regcomp(&f->re, anchored, REG_EXTENDED | REG_NOSUB) != 0)
            return -1;
    }
    return 0;
}

static bool filter_match(struct filter *f, struct json_object *res)
{
    struct json_object *v;
    const char *s = "";
    bool m;
    if (json_object_object_get_ex(res, f->field, &v) && !json_object_is_type(v, json_type_object) &&
        !json_object_is_type(v, json_type_array))
        s = json_object_get_string(v);
    m = f->regex ? regexec(&f->re, s, 0, NULL, 0) == 0 : !strcmp(s, f->value);
    return m != f->negate;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void hex_encode(const char *s, char *out, size_t cap)
{
    size_t j = 0;
    for (; *s && j + 3 < cap; s++)
        j += (size_t)snprintf(out + j, cap - j, "%02x", (unsigned char)*s);
    out[j] = 0;
}

static int hex_decode(const char *s, char *out, size_t cap)
{
    size_t n = strlen(s), j = 0;
    if (n % 2 || n / 2 >= cap)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        if (sscanf(s + i, "%2x", &v) != 1 || !v)
            return -1;
        out[j++] = (char)v;
    }
    out[j] = 0;
    return 0;
}

static void list_reply(struct call *c, const char *kind, const char *id_path,
                       struct json_object *items, const char *next)
{
    struct json_object *o = json_object_new_object();
    char link[600];
    jset(o, "kind", kind);
    jset(o, "id", id_path);
    set_list(o, "items", items);
    if (next)
        jset(o, "nextPageToken", next);
    self_link(id_path, link, sizeof(link));
    jset(o, "selfLink", link);
    reply_json(c->r, 200, o);
}

/* A list's page: its size, where it resumes, its filter (GCE's own checks and errors). */
struct page {
    long max;
    char after[128];
    struct filter f;
    bool have_filter;
};

static void page_done(struct page *pg)
{
    if (pg->have_filter && pg->f.regex)
        regfree(&pg->f.re);
}

/* 0, or -1 after answering the error. */
static int page_args(struct call *c, struct page *pg)
{
    memset(pg, 0, sizeof(*pg));
    pg->max = MAX_PAGE;
    if (c->q->max_results && lbp_parse_long(c->q->max_results, 0, 1000000, &pg->max) != 0) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'maxResults': '%.40s'. Must be an integer.",
                  c->q->max_results);
        return -1;
    }
    if (pg->max > MAX_PAGE) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'maxResults': '%ld'. Must be less than or equal to "
                  "500",
                  pg->max);
        return -1;
    }
    if (pg->max == 0)
        pg->max = MAX_PAGE;
    if (c->q->page_token && *c->q->page_token &&
        hex_decode(c->q->page_token, pg->after, sizeof(pg->after)) != 0) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'pageToken': '%.80s'. Supplied page token is not "
                  "valid.",
                  c->q->page_token);
        return -1;
    }
    if (c->q->order_by && *c->q->order_by && strcmp(c->q->order_by, "name") != 0) {
        gce_error(c->r, 400, "global", "invalid",
                  "Invalid value for field 'orderBy': '%.80s'. Only 'name' is supported.",
                  c->q->order_by);
        return -1;
    }
    if (c->q->filter && *c->q->filter) {
        if (parse_filter(c->q->filter, &pg->f) != 0) {
            gce_error(c->r, 400, "global", "invalid",
                      "Invalid value for field 'filter': '%.200s'. Invalid list filter expression.",
                      c->q->filter);
            return -1;
        }
        pg->have_filter = true;
    }
    return 0;
}

/*
 * One page of n objects (names sorted; get(ud, name) the object): those
 * after the token that pass the filter, rendered by render_fn. Names order
 * the list, so a token naming the last item sent resumes after it.
 */
static void page_reply(struct call *c, struct page *pg, const char *kind, const char *id_path,
                       const char **names, size_t n,
                       struct json_object *(*get)(void *, const char *),
                       struct json_object *(*render_fn)(void *, struct json_object *), void *ud)
{
    struct json_object *items = json_object_new_array();
    size_t taken = 0;
    bool more = false;
    char next[300];
    for (size_t i = 0; i < n; i++) {
        struct json_object *r;
        if (pg->after[0] && strcmp(names[i], pg->after) <= 0)
            continue;
        r = get(ud, names[i]);
        if (!r || (pg->have_filter && !filter_match(&pg->f, r)))
            continue;
        if (taken == (size_t)pg->max) {
            more = true;
            break;
        }
        json_object_array_add(items, render_fn(ud, r));
        taken++;
    }
    if (more)
        hex_encode(jstr(aget(items, taken - 1), "name"), next, sizeof(next));
    list_reply(c, kind, id_path, items, more ? next : NULL);
}

static struct json_object *coll_get(void *ud, const char *name)
{
    return json_object_object_get(((struct call *)ud)->cl, name);
}

static struct json_object *coll_render(void *ud, struct json_object *r)
{
    return render(((struct call *)ud)->coll_path, r);
}

static void do_list(struct call *c)
{
    struct json_object *cl = coll(c->coll_path, false);
    const char **names = NULL;
    size_t n = 0, i = 0;
    char kind[80], id_path[300];
    struct page pg;

    if (page_args(c, &pg) != 0)
        return;
    if (cl && (n = (size_t)json_object_object_length(cl)) > 0) {
        names = calloc(n, sizeof(*names));
        if (names) {
            json_object_object_foreach(cl, k, v)
            {
                (void)v;
                names[i++] = k;
            }
            qsort(names, n, sizeof(*names), cmp_str);
        } else {
            n = 0;
        }
    }
    snprintf(kind, sizeof(kind), "%sList", c->d->kind);
    canon_of(c->coll_path, NULL, id_path, sizeof(id_path));
    c->cl = cl;
    page_reply(c, &pg, kind, id_path, names, n, coll_get, coll_render, c);
    page_done(&pg);
    free(names);
}

static void do_get(struct call *c)
{
    struct json_object *cur = find(c->coll_path, c->name), *st;
    char target[400];
    canon_of(c->coll_path, c->name, target, sizeof(target));
    if (cur && json_object_object_get_ex(g_stale, target, &st)) {
        /* Eventual consistency: a new resource is not visible to every reader at once. */
        int left = json_object_get_int(st);
        stale_set(target, left - 1);
        cur = NULL;
    }
    if (!cur) {
        not_found(c, target);
        return;
    }
    reply_json(c->r, 200, render(c->coll_path, cur));
}

/* ---- operations endpoints ---- */

static struct json_object *op_get(void *ud, const char *name)
{
    struct op *o = NULL;
    (void)ud;
    HASH_FIND_STR(g_ops, name, o);
    return o ? o->json : NULL;
}

static struct json_object *op_render(void *ud, struct json_object *r)
{
    (void)ud;
    return jcopy(r);
}

static void do_operation(struct call *c)
{
    struct op *o = NULL;
    char target[400];
    canon_of(c->scope_path, NULL, target, sizeof(target));
    if (!c->name[0]) {
        const char **names = NULL;
        size_t n = 0, cap = HASH_COUNT(g_ops);
        struct op *tmp;
        char id_path[512];
        struct page pg;
        if (strcmp(c->method, "GET") != 0) {
            gce_error(c->r, 405, "global", "httpMethodNotAllowed", "Use GET.");
            return;
        }
        if (page_args(c, &pg) != 0)
            return;
        names = cap ? calloc(cap, sizeof(*names)) : NULL;
        HASH_ITER(hh, g_ops, o, tmp)
        {
            if (names && !strcmp(o->scope_path, c->scope_path))
                names[n++] = o->name;
        }
        if (n)
            qsort(names, n, sizeof(*names), cmp_str);
        snprintf(id_path, sizeof(id_path), "%s/operations", target);
        page_reply(c, &pg, "compute#operationList", id_path, names, n, op_get, op_render, c);
        page_done(&pg);
        free(names);
        return;
    }
    HASH_FIND_STR(g_ops, c->name, o);
    if (!o || strcmp(o->scope_path, c->scope_path) != 0) {
        char t[500];
        snprintf(t, sizeof(t), "%s/operations/%s", target, c->name);
        not_found(c, t);
        return;
    }
    if (!strcmp(c->method, "GET") && !c->verb[0]) {
        op_poll(o);
    } else if (!strcmp(c->method, "POST") && !strcmp(c->verb, "wait")) {
        /* wait may answer before DONE (GCE says so); here it is one poll. */
        op_poll(o);
    } else if (!strcmp(c->method, "DELETE") && !c->verb[0]) {
        if (!o->done) {
            gce_error(c->r, 400, "global", "resourceNotReady", "The operation '%s' is not done",
                      o->name);
            return;
        }
        struct rid *r, *rtmp;
        HASH_ITER(hh, g_rids, r, rtmp)
        {
            if (r->op == o) {
                HASH_DEL(g_rids, r);
                free(r);
            }
        }
        HASH_DEL(g_ops, o);
        json_object_put(o->json);
        free(o);
        c->r->status = 204;
        return;
    } else {
        gce_error(c->r, 405, "global", "httpMethodNotAllowed", "Unsupported method.");
        return;
    }
    reply_json(c->r, 200, jcopy(o->json));
}

/* ---- project, regions, zones ---- */

static void scope_object(struct call *c, const char *path)
{
    struct json_object *o = json_object_new_object(), *zones;
    char link[400], id[24];
    gce_new_id(id);
    if (!strcmp(path, "")) {
        jset(o, "kind", "compute#project");
        jset(o, "id", gce_cfg.project_number);
        jset(o, "name", gce_cfg.project);
        snprintf(link, sizeof(link), "%sprojects/%s", gce_cfg.self_base, gce_cfg.project);
    } else if (c->scope == SC_REGION) {
        jset(o, "kind", "compute#region");
        jset(o, "id", id);
        jset(o, "name", c->loc);
        jset(o, "status", "UP");
        zones = json_object_new_array();
        for (size_t i = 0; i < gce_cfg.n_zones; i++) {
            snprintf(link, sizeof(link), "%sprojects/%s/zones/%s", gce_cfg.self_base,
                     gce_cfg.project, gce_cfg.zones[i]);
            json_object_array_add(zones, json_object_new_string(link));
        }
        json_object_object_add(o, "zones", zones);
        snprintf(link, sizeof(link), "%sprojects/%s/regions/%s", gce_cfg.self_base, gce_cfg.project,
                 c->loc);
    } else {
        jset(o, "kind", "compute#zone");
        jset(o, "id", id);
        jset(o, "name", c->loc);
        jset(o, "status", "UP");
        snprintf(link, sizeof(link), "%sprojects/%s/regions/%s", gce_cfg.self_base, gce_cfg.project,
                 gce_cfg.region);
        jset(o, "region", link);
        snprintf(link, sizeof(link), "%sprojects/%s/zones/%s", gce_cfg.self_base, gce_cfg.project,
                 c->loc);
    }
    jset(o, "selfLink", link);
    reply_json(c->r, 200, o);
}

/* ---- dispatch ---- */

/* Splits "a/b/c" into at most max segments (in place); returns the count, -1 when too many. */
static int split(char *s, char **seg, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        seg[n++] = t;
    }
    return n;
}

void gce_compute(const char *method, const char *path, const struct gce_query *q, const char *body,
                 size_t body_len, struct gce_reply *r)
{
    static const char pfx[] = "/compute/v1/projects/";
    struct call c;
    char buf[1024], *seg[8];
    int n, i = 0;
    bool mutating = strcmp(method, "GET") != 0;

    memset(&c, 0, sizeof(c));
    c.method = method;
    c.q = q;
    c.r = r;
    sweep();
    if (strncmp(path, pfx, sizeof(pfx) - 1) != 0 || strlen(path) >= sizeof(buf)) {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    snprintf(buf, sizeof(buf), "%s", path + sizeof(pfx) - 1);
    n = split(buf, seg, 8);
    if (n < 1) {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    lbp_strlcpy(c.project, seg[i++], sizeof(c.project));
    if (strcmp(c.project, gce_cfg.project) != 0) {
        gce_error(r, 403, "global", "forbidden",
                  "Required 'compute.projects.get' permission for 'projects/%s'", c.project);
        return;
    }
    if (i == n) {
        if (mutating)
            gce_error(r, 405, "global", "httpMethodNotAllowed", "Use GET.");
        else
            scope_object(&c, "");
        return;
    }
    if (!strcmp(seg[i], "global")) {
        c.scope = SC_GLOBAL;
        snprintf(c.scope_path, sizeof(c.scope_path), "global");
        i++;
    } else if ((!strcmp(seg[i], "regions") || !strcmp(seg[i], "zones")) && i + 1 < n) {
        c.scope = !strcmp(seg[i], "regions") ? SC_REGION : SC_ZONE;
        lbp_strlcpy(c.loc, seg[i + 1], sizeof(c.loc));
        snprintf(c.scope_path, sizeof(c.scope_path), "%s/%s", seg[i], seg[i + 1]);
        if (c.scope == SC_REGION ? !known_region(c.loc) : !known_zone(c.loc)) {
            char t[300];
            canon_of(c.scope_path, NULL, t, sizeof(t));
            not_found(&c, t);
            return;
        }
        i += 2;
        if (i == n) {
            if (mutating)
                gce_error(r, 405, "global", "httpMethodNotAllowed", "Use GET.");
            else
                scope_object(&c, c.scope_path);
            return;
        }
    } else {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    if (i == n) {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    if (i + 1 < n)
        lbp_strlcpy(c.name, seg[i + 1], sizeof(c.name));
    if (i + 2 < n)
        lbp_strlcpy(c.verb, seg[i + 2], sizeof(c.verb));
    if (i + 3 < n) {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    if (!strcmp(seg[i], "operations")) {
        do_operation(&c);
        return;
    }
    c.d = def_of(seg[i]);
    if (!c.d || !(c.d->scopes & c.scope)) {
        gce_error(r, 404, "global", "notFound", "The requested URL %.200s was not found.", path);
        return;
    }
    snprintf(c.coll_path, sizeof(c.coll_path), "%s/%s", c.scope_path, c.d->coll);
    if (mutating && c.d->readonly) {
        gce_error(r, 403, "global", "forbidden",
                  "Required 'compute.%s.create' permission for "
                  "'projects/%s/%s'",
                  c.d->coll, gce_cfg.project, c.coll_path);
        return;
    }
    if (mutating && strcmp(method, "DELETE") != 0) {
        c.body = body_len ? json_tokener_parse(body) : NULL;
        if (!c.body || !json_object_is_type(c.body, json_type_object)) {
            json_object_put(c.body);
            gce_error(r, 400, "global", "parseError",
                      "Invalid JSON payload received. Expected a JSON object.");
            return;
        }
    }
    if (!strcmp(method, "GET") && !c.name[0])
        do_list(&c);
    else if (!strcmp(method, "GET") && !c.verb[0])
        do_get(&c);
    else if (!strcmp(method, "POST") && !c.name[0])
        do_insert(&c);
    else if (!strcmp(method, "POST") && c.verb[0])
        do_verb(&c);
    else if (!strcmp(method, "DELETE") && !c.verb[0] && c.name[0])
        do_delete(&c);
    else if ((!strcmp(method, "PATCH") || !strcmp(method, "PUT")) && c.name[0] && !c.verb[0])
        do_patch(&c, !strcmp(method, "PUT"));
    else
        gce_error(r, 405, "global", "httpMethodNotAllowed",
                  "HTTP method %s is not supported by this URL", method);
    json_object_put(c.body);
}

/* ---- state, seeding, start-up ---- */

struct json_object *gce_compute_state(void)
{
    struct json_object *o = json_object_new_object(), *res = json_object_new_object(),
                       *ops = json_object_new_array();
    struct op *op, *tmp;
    long count = 0;
    sweep();
    json_object_object_foreach(g_store, cp, cl)
    {
        struct json_object *c;
        const char *cn = coll_name_of(cp);
        /* networks and subnetworks are the fake's fixtures, not anything a client made. */
        if (!strcmp(cn, "networks") || !strcmp(cn, "subnetworks"))
            continue;
        c = json_object_new_object();
        json_object_object_foreach(cl, name, r)
        {
            struct json_object *x = render(cp, r), *m;
            if (json_object_object_get_ex(r, "_members", &m))
                json_object_object_add(x, "members", jcopy(m));
            json_object_object_add(c, name, x);
            count++;
        }
        if (json_object_object_length(c))
            json_object_object_add(res, cp, c);
        else
            json_object_put(c);
    }
    HASH_ITER(hh, g_ops, op, tmp)
    {
        if (!op->done)
            json_object_array_add(ops, json_object_new_string(op->name));
    }
    json_object_object_add(o, "resources", res);
    json_object_object_add(o, "count", json_object_new_int64(count));
    json_object_object_add(o, "pending_operations", ops);
    return o;
}

static void fixture(const char *coll_path, const char *name, struct json_object *res,
                    const char *kind)
{
    char c[300], link[400], id[24];
    canon_of(coll_path, name, c, sizeof(c));
    self_link(c, link, sizeof(link));
    gce_new_id(id);
    jset(res, "kind", kind);
    jset(res, "id", id);
    stamp(res, "creationTimestamp");
    jset(res, "name", name);
    jset(res, "selfLink", link);
    json_object_object_add(coll(coll_path, true), name, res);
}

int gce_compute_seed(struct json_object *seed, char *err, size_t cap)
{
    struct json_object *insts;
    struct gce_query q = {0};
    if (!json_object_object_get_ex(seed, "instances", &insts) ||
        !json_object_is_type(insts, json_type_array)) {
        snprintf(err, cap, "want {\"instances\":[{\"zone\",\"name\",\"tags\":[...]}]}");
        return -1;
    }
    for (size_t i = 0; i < alen(insts); i++) {
        struct json_object *in = aget(insts, i), *body, *tags, *t;
        struct gce_reply r = {0};
        char path[300];
        const char *zone = jstr(in, "zone") ? jstr(in, "zone") : gce_cfg.zones[0];
        int polls = gce_cfg.op_polls;
        body = json_object_new_object();
        jset(body, "name", jstr(in, "name") ? jstr(in, "name") : "");
        if (json_object_object_get_ex(in, "tags", &t)) {
            tags = json_object_new_object();
            json_object_object_add(tags, "items", jcopy(t));
            json_object_object_add(body, "tags", tags);
        }
        if (jstr(in, "networkIP")) {
            struct json_object *nics = json_object_new_array(), *nic = json_object_new_object();
            jset(nic, "networkIP", jstr(in, "networkIP"));
            json_object_array_add(nics, nic);
            json_object_object_add(body, "networkInterfaces", nics);
        }
        snprintf(path, sizeof(path), "/compute/v1/projects/%s/zones/%s/instances", gce_cfg.project,
                 zone);
        /* Seeding goes through insert with an Operation that finishes at once. */
        gce_cfg.op_polls = 0;
        gce_compute("POST", path, &q, json_object_to_json_string(body),
                    strlen(json_object_to_json_string(body)), &r);
        gce_cfg.op_polls = polls;
        json_object_put(body);
        if (r.status != 200 || json_object_object_get_ex(r.json, "error", NULL)) {
            snprintf(err, cap, "instance %zu: %s", i,
                     r.json ? json_object_to_json_string(r.json) : "failed");
            gce_reply_clear(&r);
            return -1;
        }
        gce_reply_clear(&r);
    }
    return 0;
}

int gce_compute_init(void)
{
    struct json_object *net = json_object_new_object(), *sub = json_object_new_object(), *subs;
    char link[400], cidr[40], gw[16], ip[16], cp[200];
    uint32_t bits = 32;
    g_store = json_object_new_object();
    g_stale = json_object_new_object();
    if (!g_store || !g_stale)
        return -1;
    while (bits > 0 && (1u << (32 - bits)) < gce_cfg.int_n)
        bits--;
    ip_to_str(gce_cfg.int_base, ip);
    ip_to_str(gce_cfg.int_base + 1, gw);
    snprintf(cidr, sizeof(cidr), "%s/%u", ip, bits);
    snprintf(cp, sizeof(cp), "regions/%s/subnetworks", gce_cfg.region);
    jset(sub, "network", "");
    jset(sub, "ipCidrRange", cidr);
    jset(sub, "gatewayAddress", gw);
    snprintf(link, sizeof(link), "%sprojects/%s/regions/%s", gce_cfg.self_base, gce_cfg.project,
             gce_cfg.region);
    jset(sub, "region", link);
    jset(sub, "fingerprint", "xY7jPQt4LM0=");
    snprintf(link, sizeof(link), "%sprojects/%s/global/networks/default", gce_cfg.self_base,
             gce_cfg.project);
    jset(sub, "network", link);
    fixture(cp, "default", sub, "compute#subnetwork");
    subs = json_object_new_array();
    json_object_array_add(subs, json_object_new_string(jstr(sub, "selfLink")));
    json_object_object_add(net, "subnetworks", subs);
    json_object_object_add(net, "autoCreateSubnetworks", json_object_new_boolean(1));
    fixture("global/networks", "default", net, "compute#network");
    return 0;
}

void gce_compute_free(void)
{
    struct op *o, *tmp;
    struct rid *r, *rtmp;
    HASH_ITER(hh, g_rids, r, rtmp)
    {
        HASH_DEL(g_rids, r);
        free(r);
    }
    g_running = NULL;
    HASH_ITER(hh, g_ops, o, tmp)
    {
        HASH_DEL(g_ops, o);
        json_object_put(o->json);
        json_object_put(o->effect);
        free(o);
    }
    json_object_put(g_store);
    json_object_put(g_stale);
    g_store = g_stale = NULL;
}
