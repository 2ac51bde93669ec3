/*
 * mock.c — an in-process cloud for demos, tests and benchmarks.
 *
 * It behaves like a real cloud where the reconciler can tell: calls for
 * different LBs run in parallel (the configured latency is slept outside
 * the lock), VIPs come from a configured range, a requested IP is honoured
 * when free, every LB is tagged with the cluster and ns/name, and failures
 * (fail the next N calls, a random error rate, throttling with retry-after)
 * can be injected. The cloud-config is a key=value file, re-read whenever
 * its mtime changes, so tests inject faults at run time by rewriting it.
 *
 * SIGHUP (the reload slot) re-reads the file on demand and, unlike the
 * mtime check, also applies a new VIP range: existing LBs keep their
 * addresses, new ones come from the new range. Every call is counted in
 * the shared cloud API metrics (lbprov_cloud_api_*{cloud="mock"}) under
 * the slot's name, so dashboards built for real clouds work in mock mode.
 *
 * With pendingPolls=N it is an asynchronous cloud: every change answers
 * LBP_PENDING N times before it takes effect (see op_poll), which is how
 * the reconciler's handling of GCE Operations, Azure async operations and
 * CloudStack jobs is tested without those clouds.
 *
 * With state_file set, the LB table is written atomically (tmp + rename)
 * after each change and loaded at start, so it survives a controller
 * restart the way a real cloud's state does. Without it (the default, and
 * each replica of a Deployment has its own table) the restore slot
 * rebuilds every Service's LB from its status.loadBalancer.ingress before
 * any ensure, as bare metal does, so a restart or a leader change never
 * moves a live Service's address.
 *
 * With dataPlane=on the LBs carry traffic: after every change the LB's
 * listeners, source ranges, affinity and nodes go to the data plane
 * (dataplane.c), which listens on the VIPs and forwards to the NodePorts;
 * the slot returns once that is in force, and fails with the reason when
 * a listener cannot be opened. VIPs then default to 127.240.0.0/16.
 *
 * Backend sets are interned: LBs with the same node list share one
 * reference-counted copy, which keeps thousands of LBs over a hundred nodes
 * cheap in memory.
 */
#include "provider/provider.h"
#include "clouds/mock/dataplane.h"
#include "common/file.h"
#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uthash.h>

#define MOCK_MAX_V4_HOSTS (1u << 20)
#define MOCK_MAX_PORTS 64
#define MOCK_MAX_RANGES 64
#define MOCK_DP_VIP_RANGE "127.240.0.0/16"

struct mock_nodeset {
    UT_hash_handle hh;
    char *key; /* the addresses joined with ',' */
    int refs;
    size_t n;
    char **addrs;
};

struct mock_listener {
    int port;
    char protocol[8];
    int node_port;
};

/*
 * Thousands of these live in a benchmark's controller, so the record is
 * kept small: addresses in buffers of their text's largest size, the
 * identity strings in one block (ids), the cluster name shared with the
 * cloud's own unless the Service names another, no ranges array when
 * there are no ranges, a single listener in the record itself, and the
 * fields ordered without padding.
 */
struct mock_lb {
    UT_hash_handle hh;
    char lb_name[LBP_LB_NAME_LEN + 1];
    char affinity[16];
    char vip[INET_ADDRSTRLEN];
    char vip6[INET6_ADDRSTRLEN];
    char *ids;     /* ns, name, uid and (when not ctx->cluster) the cluster */
    char *cluster; /* into ids, or ctx->cluster */
    char *ns;
    char *name;
    char *uid;
    char *hostname;                  /* NULL unless the cloud answers with names */
    struct mock_listener *listeners; /* one, or an array of its own */
    char **ranges;                   /* NULL when n_ranges is 0 */
    struct mock_nodeset *nodes;
    unsigned long ensure_calls, update_calls;
    struct mock_listener one;
    unsigned n_listeners; /* at most MOCK_MAX_PORTS */
    unsigned n_ranges;    /* at most MOCK_MAX_RANGES */
    int hc_port;
    int affinity_timeout;
    bool local;
};

/* A change the cloud is still working on, one per LB at most (pendingPolls). */
struct mock_op {
    UT_hash_handle hh;
    char lb_name[LBP_LB_NAME_LEN + 1];
    const char *call; /* the slot that began it: "ensure", "update_targets", "remove" */
    unsigned long id;
    unsigned left; /* LBP_PENDING answers still to give */
};

struct mock_config {
    uint32_t v4_base; /* host order */
    uint32_t v4_size;
    struct in6_addr v6_base;
    unsigned latency_ms;
    double error_rate;
    double throttle_rate;
    unsigned retry_after_s;
    unsigned pending_polls;
    bool hostname;
    char ip_mode[8];
    char state_file[512];
    /* The data plane: fixed for the life of the process, like the VIP range. */
    bool data_plane;
    bool vip_range_set;
    struct lbp_dp_opts dp;
};

struct lbp_provider_ctx {
    pthread_mutex_t mu;
    char cluster[128];
    char *config_path;
    time_t config_mtime;
    long config_mtime_ns;
    struct mock_config cfg;
    unsigned fail_next;
    struct lbp_dp *dp; /* NULL unless dataPlane=on */
    struct mock_lb *lbs;
    struct mock_op *ops;
    unsigned long op_seq;
    struct mock_nodeset *sets;
    uint8_t *v4_used; /* bitmap over the v4 range */
    uint32_t v4_next;
    uint64_t v6_next;
    unsigned seed;
    unsigned long c_get, c_ensure, c_update, c_remove, c_list, c_ping, c_failed, c_pending;
};

/* ------------------------------------------------------------ config */

static int parse_cidr4(const char *s, uint32_t *base, uint32_t *size)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    long pfx;
    struct in_addr a;
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return LBP_PARSE;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    if (inet_pton(AF_INET, ip, &a) != 1 || lbp_parse_long(slash + 1, 8, 30, &pfx))
        return LBP_PARSE;
    uint32_t mask = pfx == 0 ? 0 : 0xffffffffu << (32 - pfx);
    *base = ntohl(a.s_addr) & mask;
    *size = (uint32_t)1 << (32 - pfx);
    if (*size > MOCK_MAX_V4_HOSTS)
        *size = MOCK_MAX_V4_HOSTS;
    return LBP_OK;
}

static int parse_cidr6(const char *s, struct in6_addr *base)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return LBP_PARSE;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    return inet_pton(AF_INET6, ip, base) == 1 ? LBP_OK : LBP_PARSE;
}

static bool parse_bool(const char *v)
{
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0;
}

/* Parses the file into cfg; *fail_next is set only when the key is present. */
static int config_parse(FILE *f, const char *path, struct mock_config *cfg, unsigned *fail_next,
                        char *err, size_t errlen)
{
    char line[1024];
    int lineno = 0, rc = LBP_OK;
    while (fgets(line, sizeof(line), f)) {
        char *k = line, *v, *e;
        long n;
        lineno++;
        while (*k == ' ' || *k == '\t')
            k++;
        if (*k == '#' || *k == '\n' || *k == '\0')
            continue;
        v = strchr(k, '=');
        if (!v)
            v = strchr(k, ':'); /* tolerate "key: value" (YAML-ish) */
        if (!v) {
            snprintf(err, errlen, "%s:%d: expected key=value", path, lineno);
            rc = LBP_PARSE;
            goto out;
        }
        *v++ = '\0';
        for (e = v - 2; e >= k && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        while (*v == ' ' || *v == '\t')
            v++;
        e = v + strlen(v);
        while (e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '))
            *--e = '\0';
        /* YAML-style camelCase keys (vipRange) mean the same as snake_case ones. */
        char norm[64];
        size_t o = 0;
        for (const char *c = k; *c && o + 2 < sizeof(norm); c++) {
            if (*c >= 'A' && *c <= 'Z') {
                norm[o++] = '_';
                norm[o++] = (char)(*c - 'A' + 'a');
            } else {
                norm[o++] = *c;
            }
        }
        norm[o] = '\0';
        k = norm;
        if (strcmp(k, "vip_range") == 0) {
            if (parse_cidr4(v, &cfg->v4_base, &cfg->v4_size))
                goto bad;
            cfg->vip_range_set = true;
        } else if (strcmp(k, "data_plane") == 0) {
            if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
                goto bad;
            cfg->data_plane = strcmp(v, "on") == 0;
        } else if (strcmp(k, "health_check_interval_ms") == 0 ||
                   strcmp(k, "health_check_timeout_ms") == 0 ||
                   strcmp(k, "udp_idle_timeout_ms") == 0) {
            if (lbp_parse_long(v, 10, 3600000, &n))
                goto bad;
            *(k[0] == 'u'    ? &cfg->dp.udp_idle_ms
              : k[13] == 'i' ? &cfg->dp.hc_interval_ms
                             : &cfg->dp.hc_timeout_ms) = (unsigned)n;
        } else if (strcmp(k, "healthy_threshold") == 0 || strcmp(k, "unhealthy_threshold") == 0) {
            if (lbp_parse_long(v, 1, 100, &n))
                goto bad;
            *(k[0] == 'h' ? &cfg->dp.hc_rise : &cfg->dp.hc_fall) = (unsigned)n;
        } else if (strcmp(k, "vip_interface") == 0) {
            if (strlen(v) >= sizeof(cfg->dp.vip_interface) || strchr(v, '/') || strchr(v, ' '))
                goto bad;
            lbp_strlcpy(cfg->dp.vip_interface, v, sizeof(cfg->dp.vip_interface));
        } else if (strcmp(k, "vip6_range") == 0) {
            if (parse_cidr6(v, &cfg->v6_base))
                goto bad;
        } else if (strcmp(k, "latency_ms") == 0) {
            if (lbp_parse_long(v, 0, 600000, &n))
                goto bad;
            cfg->latency_ms = (unsigned)n;
        } else if (strcmp(k, "error_rate") == 0 || strcmp(k, "throttle_rate") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end || end == v || d < 0 || d > 1)
                goto bad;
            if (k[0] == 'e')
                cfg->error_rate = d;
            else
                cfg->throttle_rate = d;
        } else if (strcmp(k, "retry_after_s") == 0) {
            if (lbp_parse_long(v, 0, 3600, &n))
                goto bad;
            cfg->retry_after_s = (unsigned)n;
        } else if (strcmp(k, "pending_polls") == 0) {
            if (lbp_parse_long(v, 0, 1000, &n))
                goto bad;
            cfg->pending_polls = (unsigned)n;
        } else if (strcmp(k, "fail_next") == 0) {
            if (lbp_parse_long(v, 0, 1000000, &n))
                goto bad;
            *fail_next = (unsigned)n;
        } else if (strcmp(k, "hostname") == 0) {
            cfg->hostname = parse_bool(v);
        } else if (strcmp(k, "ip_mode") == 0) {
            if (*v && strcmp(v, "VIP") != 0 && strcmp(v, "Proxy") != 0)
                goto bad;
            lbp_strlcpy(cfg->ip_mode, v, sizeof(cfg->ip_mode));
        } else if (strcmp(k, "state_file") == 0) {
            lbp_strlcpy(cfg->state_file, v, sizeof(cfg->state_file));
        } else {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, k);
            rc = LBP_PARSE;
            goto out;
        }
        continue;
    bad:
        snprintf(err, errlen, "%s:%d: bad value for %s: '%s'", path, lineno, k, v);
        rc = LBP_PARSE;
        goto out;
    }
out:
    return rc;
}

static int config_read(const char *path, struct mock_config *cfg, unsigned *fail_next, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "r");
    int rc;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return LBP_IO;
    }
    rc = config_parse(f, path, cfg, fail_next, err, errlen);
    fclose(f);
    /* With the data plane the VIPs must answer on this host: loopback needs no privilege. */
    if (rc == LBP_OK && cfg->data_plane && !cfg->vip_range_set)
        parse_cidr4(MOCK_DP_VIP_RANGE, &cfg->v4_base, &cfg->v4_size);
    return rc;
}

static void config_defaults(struct mock_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    parse_cidr4("203.0.113.0/24", &cfg->v4_base, &cfg->v4_size);
    parse_cidr6("2001:db8::/64", &cfg->v6_base);
    cfg->retry_after_s = 1;
    lbp_dp_opts_default(&cfg->dp);
}

/* Re-reads the config when it changed on disk; called with the lock held. */
static void config_maybe_reload(struct lbp_provider_ctx *ctx)
{
    struct stat st;
    struct mock_config cfg;
    unsigned fail_next = ctx->fail_next;
    char err[256];
    if (!ctx->config_path || stat(ctx->config_path, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == ctx->config_mtime && st.st_mtim.tv_nsec == ctx->config_mtime_ns)
        return;
    ctx->config_mtime = st.st_mtim.tv_sec;
    ctx->config_mtime_ns = st.st_mtim.tv_nsec;
    config_defaults(&cfg);
    if (config_read(ctx->config_path, &cfg, &fail_next, err, sizeof(err)) != LBP_OK) {
        lbp_warn("mock cloud: keeping the old config: %s", err);
        return;
    }
    /* The address range and state file are fixed for the life of the process. */
    cfg.v4_base = ctx->cfg.v4_base;
    cfg.v4_size = ctx->cfg.v4_size;
    cfg.v6_base = ctx->cfg.v6_base;
    memcpy(cfg.state_file, ctx->cfg.state_file, sizeof(cfg.state_file));
    cfg.data_plane = ctx->cfg.data_plane;
    cfg.dp = ctx->cfg.dp;
    ctx->cfg = cfg;
    ctx->fail_next = fail_next;
    lbp_info("mock cloud: reloaded %s (latency_ms=%u fail_next=%u error_rate=%.3f)",
             ctx->config_path, cfg.latency_ms, fail_next, cfg.error_rate);
}

/* ------------------------------------------------------------ node sets */

static void nodeset_unref(struct lbp_provider_ctx *ctx, struct mock_nodeset *s)
{
    if (!s || --s->refs > 0)
        return;
    HASH_DEL(ctx->sets, s);
    for (size_t i = 0; i < s->n; i++)
        free(s->addrs[i]);
    free(s->addrs);
    free(s->key);
    free(s);
}

/* The interning key: the addresses joined with ','. */
static char *nodeset_key(char *const *addrs, size_t n)
{
    size_t len = 1, off = 0;
    char *k;
    for (size_t i = 0; i < n; i++)
        len += strlen(addrs[i]) + 1;
    k = malloc(len);
    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(addrs[i]);
        if (i)
            k[off++] = ',';
        memcpy(k + off, addrs[i], l);
        off += l;
    }
    k[off] = '\0';
    return k;
}

/* Interns a list of addresses (already in node order); takes key. Lock held. */
static struct mock_nodeset *nodeset_intern(struct lbp_provider_ctx *ctx, char *key,
                                           char *const *addrs, size_t n)
{
    struct mock_nodeset *s = NULL;
    if (!key)
        return NULL;
    HASH_FIND_STR(ctx->sets, key, s);
    if (s) {
        s->refs++;
        free(key);
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s || !(s->addrs = calloc(n ? n : 1, sizeof(char *)))) {
        free(s);
        free(key);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        s->addrs[i] = lbp_strdup(addrs[i]);
    s->n = n;
    s->refs = 1;
    s->key = key;
    HASH_ADD_KEYPTR(hh, ctx->sets, s->key, strlen(s->key), s);
    return s;
}

static struct mock_nodeset *nodeset_get(struct lbp_provider_ctx *ctx, char *const *addrs, size_t n)
{
    return nodeset_intern(ctx, nodeset_key(addrs, n), addrs, n);
}

/* A spec's backend addresses, gathered before taking the lock. */
struct spec_nodes {
    const char **addrs;
    size_t n;
    char *key;
};

static int spec_nodes_get(const struct lbp_lb_spec *spec, struct spec_nodes *sn)
{
    sn->n = 0;
    sn->addrs = calloc(spec->n_nodes ? spec->n_nodes : 1, sizeof(char *));
    if (!sn->addrs)
        return LBP_NOMEM;
    for (size_t i = 0; i < spec->n_nodes; i++) {
        const struct lbp_lb_node *nd = &spec->nodes[i];
        const char *a = nd->internal_ip ? nd->internal_ip : nd->external_ip;
        if (a)
            sn->addrs[sn->n++] = a;
    }
    sn->key = nodeset_key((char *const *)sn->addrs, sn->n);
    if (!sn->key) {
        free(sn->addrs);
        return LBP_NOMEM;
    }
    return LBP_OK;
}

/* Lock held; consumes sn->key. */
static struct mock_nodeset *nodeset_from_spec(struct lbp_provider_ctx *ctx, struct spec_nodes *sn)
{
    struct mock_nodeset *s = nodeset_intern(ctx, sn->key, (char *const *)sn->addrs, sn->n);
    sn->key = NULL;
    return s;
}

static void spec_nodes_free(struct spec_nodes *sn)
{
    free(sn->addrs);
    free(sn->key);
}

/* ------------------------------------------------------------ addresses */

static bool v4_used(struct lbp_provider_ctx *ctx, uint32_t off)
{
    return ctx->v4_used[off / 8] & (1u << (off % 8));
}

static void v4_mark(struct lbp_provider_ctx *ctx, const char *ip, bool used)
{
    struct in_addr a;
    uint32_t h, off;
    if (!ip[0] || inet_pton(AF_INET, ip, &a) != 1)
        return;
    h = ntohl(a.s_addr);
    if (h < ctx->cfg.v4_base || h - ctx->cfg.v4_base >= ctx->cfg.v4_size)
        return;
    off = h - ctx->cfg.v4_base;
    if (used)
        ctx->v4_used[off / 8] |= (uint8_t)(1u << (off % 8));
    else
        ctx->v4_used[off / 8] &= (uint8_t) ~(1u << (off % 8));
}

static int v4_alloc(struct lbp_provider_ctx *ctx, char out[INET_ADDRSTRLEN])
{
    uint32_t size = ctx->cfg.v4_size;
    for (uint32_t i = 0; i < size; i++) {
        uint32_t off = (ctx->v4_next + i) % size;
        if (off == 0 || off == size - 1 || v4_used(ctx, off))
            continue; /* network and broadcast addresses are never handed out */
        struct in_addr a = {.s_addr = htonl(ctx->cfg.v4_base + off)};
        inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
        ctx->v4_next = off + 1;
        v4_mark(ctx, out, true);
        return LBP_OK;
    }
    return LBP_RETRY;
}

static void v6_alloc(struct lbp_provider_ctx *ctx, char out[INET6_ADDRSTRLEN])
{
    struct in6_addr a = ctx->cfg.v6_base;
    uint64_t n = ++ctx->v6_next;
    for (int i = 15; i >= 8 && n; i--, n >>= 8)
        a.s6_addr[i] = (uint8_t)(n & 0xff);
    inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN);
}

/* Moves the v6 counter past ip when ip lies in the v6 range; lock held. */
static void v6_seen(struct lbp_provider_ctx *ctx, const char *ip)
{
    struct in6_addr a;
    uint64_t n = 0;
    if (!ip[0] || inet_pton(AF_INET6, ip, &a) != 1 ||
        memcmp(a.s6_addr, ctx->cfg.v6_base.s6_addr, 8) != 0)
        return;
    for (int i = 8; i < 16; i++)
        n = n << 8 | a.s6_addr[i];
    if (n > ctx->v6_next)
        ctx->v6_next = n;
}

static struct mock_lb *lb_by_vip(struct lbp_provider_ctx *ctx, const char *ip)
{
    for (struct mock_lb *lb = ctx->lbs; lb; lb = lb->hh.next)
        if (strcmp(lb->vip, ip) == 0 || strcmp(lb->vip6, ip) == 0)
            return lb;
    return NULL;
}

/* ------------------------------------------------------------ state as JSON */

/* Replaces *dst with a copy of src; false when out of memory. */
static bool set_str(char **dst, const char *src)
{
    char *c = strdup(src ? src : "");
    if (!c)
        return false;
    free(*dst);
    *dst = c;
    return true;
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

/* Sets the LB's identity strings in one new block (see struct mock_lb). */
static bool set_ids(struct lbp_provider_ctx *ctx, struct mock_lb *lb, const char *cluster,
                    const char *ns, size_t ns_len, const char *name, const char *uid)
{
    cluster = str_or_empty(cluster);
    name = str_or_empty(name);
    uid = str_or_empty(uid);
    bool own = strcmp(cluster, ctx->cluster) != 0;
    size_t cl = own ? strlen(cluster) + 1 : 0, nl = strlen(name) + 1, ul = strlen(uid) + 1;
    char *b = malloc(cl + ns_len + 1 + nl + ul), *p;
    if (!b)
        return false;
    p = b;
    lb->cluster = ctx->cluster;
    if (own) {
        memcpy(p, cluster, cl);
        lb->cluster = p;
        p += cl;
    }
    lb->ns = p;
    if (ns_len)
        memcpy(p, ns, ns_len);
    p[ns_len] = '\0';
    p += ns_len + 1;
    lb->name = memcpy(p, name, nl);
    p += nl;
    lb->uid = memcpy(p, uid, ul);
    free(lb->ids);
    lb->ids = b;
    return true;
}

/* Room for n listeners: the record's own slot for one, else an array (NULL: no memory). */
static struct mock_listener *listeners_new(struct mock_lb *lb, size_t n)
{
    return n <= 1 ? &lb->one : calloc(n, sizeof(struct mock_listener));
}

static void listeners_free(struct mock_lb *lb, struct mock_listener *ls)
{
    if (ls != &lb->one)
        free(ls);
}

/* An address into one of the LB's slots; false when it is longer than any address. */
static bool set_vip(char *slot, size_t cap, const char *ip)
{
    if (strlen(ip) >= cap)
        return false;
    lbp_strlcpy(slot, ip, cap);
    return true;
}

static void lb_free(struct lbp_provider_ctx *ctx, struct mock_lb *lb)
{
    for (size_t i = 0; i < lb->n_ranges; i++)
        free(lb->ranges[i]);
    free(lb->ranges);
    listeners_free(lb, lb->listeners);
    free(lb->ids);
    free(lb->hostname);
    nodeset_unref(ctx, lb->nodes);
    free(lb);
}

static json_object *lb_json(const struct mock_lb *lb)
{
    json_object *o = json_object_new_object();
    json_object *ls = json_object_new_array(), *rs = json_object_new_array();
    json_object *ns = json_object_new_array();
    json_object *tags = json_object_new_object();
    char key[520];
    json_object_object_add(o, "name", json_object_new_string(lb->lb_name));
    snprintf(key, sizeof(key), "%s/%s", str_or_empty(lb->ns), str_or_empty(lb->name));
    json_object_object_add(tags, "cluster", json_object_new_string(str_or_empty(lb->cluster)));
    json_object_object_add(tags, "service", json_object_new_string(key));
    json_object_object_add(tags, "uid", json_object_new_string(str_or_empty(lb->uid)));
    json_object_object_add(o, "tags", tags);
    json_object_object_add(o, "vip", json_object_new_string(lb->vip));
    json_object_object_add(o, "vip6", json_object_new_string(lb->vip6));
    json_object_object_add(o, "hostname", json_object_new_string(str_or_empty(lb->hostname)));
    for (size_t i = 0; i < lb->n_listeners; i++) {
        const struct mock_listener *l = &lb->listeners[i];
        json_object *lo = json_object_new_object(), *bs = json_object_new_array();
        json_object_object_add(lo, "port", json_object_new_int(l->port));
        json_object_object_add(lo, "protocol", json_object_new_string(l->protocol));
        json_object_object_add(lo, "nodePort", json_object_new_int(l->node_port));
        for (size_t j = 0; lb->nodes && j < lb->nodes->n; j++) {
            char b[128];
            snprintf(b, sizeof(b), "%s:%d", lb->nodes->addrs[j], l->node_port);
            json_object_array_add(bs, json_object_new_string(b));
        }
        json_object_object_add(lo, "backends", bs);
        json_object_array_add(ls, lo);
    }
    json_object_object_add(o, "listeners", ls);
    for (size_t j = 0; lb->nodes && j < lb->nodes->n; j++)
        json_object_array_add(ns, json_object_new_string(lb->nodes->addrs[j]));
    json_object_object_add(o, "nodes", ns);
    for (size_t i = 0; i < lb->n_ranges; i++)
        json_object_array_add(rs, json_object_new_string(lb->ranges[i]));
    json_object_object_add(o, "sourceRanges", rs);
    json_object_object_add(o, "healthCheckNodePort", json_object_new_int(lb->hc_port));
    json_object_object_add(o, "localTraffic", json_object_new_boolean(lb->local));
    json_object_object_add(o, "sessionAffinity", json_object_new_string(lb->affinity));
    json_object_object_add(o, "ensureCalls", json_object_new_int64((int64_t)lb->ensure_calls));
    json_object_object_add(o, "updateCalls", json_object_new_int64((int64_t)lb->update_calls));
    return o;
}

/* Writes the table to state_file atomically; lock held. */
static void state_save(struct lbp_provider_ctx *ctx)
{
    char tmp[600];
    json_object *root, *arr;
    if (!ctx->cfg.state_file[0])
        return;
    root = json_object_new_object();
    arr = json_object_new_array();
    for (struct mock_lb *lb = ctx->lbs; lb; lb = lb->hh.next)
        json_object_array_add(arr, lb_json(lb));
    json_object_object_add(root, "lbs", arr);
    snprintf(tmp, sizeof(tmp), "%s.tmp", ctx->cfg.state_file);
    if (json_object_to_file_ext(tmp, root,
                                JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) != 0 ||
        rename(tmp, ctx->cfg.state_file) != 0)
        lbp_warn("mock cloud: cannot write %s: %s", ctx->cfg.state_file, strerror(errno));
    json_object_put(root);
}

/*
 * Loading is strict: every field is type-checked and bounded in a first
 * pass that builds nothing, so a damaged file (a null where a string
 * belongs, a truncated write by hand, another program's JSON) fails the
 * start with the field named, and the file stays as it is for a person
 * to repair. Starting empty instead would forget load balancers that
 * exist and overwrite their only record at the next change.
 */
#define STATE_FILE_MAX (256u << 20)
#define STATE_NODES_MAX 4096

/* The member k of o: NULL when absent; type mismatches (null included) are errors. */
static int st_field(json_object *o, const char *k, json_type want, bool required, json_object **out,
                    const char *where, char *err, size_t errlen)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(o, k, &v)) {
        if (!required)
            return LBP_OK;
        snprintf(err, errlen, "%s.%s: missing", where, k);
        return LBP_PARSE;
    }
    if (!json_object_is_type(v, want)) {
        snprintf(err, errlen, "%s.%s: expected %s, got %s", where, k, json_type_to_name(want),
                 json_type_to_name(json_object_get_type(v)));
        return LBP_PARSE;
    }
    *out = v;
    return LBP_OK;
}

static int st_str(json_object *o, const char *k, size_t max, bool required, const char *where,
                  char *err, size_t errlen)
{
    json_object *v;
    int rc = st_field(o, k, json_type_string, required, &v, where, err, errlen);
    if (rc || !v)
        return rc;
    size_t len = (size_t)json_object_get_string_len(v);
    if (len > max || strlen(json_object_get_string(v)) != len) {
        snprintf(err, errlen, "%s.%s: longer than %zu bytes or contains a NUL", where, k, max);
        return LBP_PARSE;
    }
    return LBP_OK;
}

static int st_int(json_object *o, const char *k, int64_t min, int64_t max, const char *where,
                  char *err, size_t errlen)
{
    json_object *v;
    int rc = st_field(o, k, json_type_int, false, &v, where, err, errlen);
    if (rc || !v)
        return rc;
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max) {
        snprintf(err, errlen, "%s.%s: %lld is outside %lld..%lld", where, k, (long long)x,
                 (long long)min, (long long)max);
        return LBP_PARSE;
    }
    return LBP_OK;
}

/* An array member whose elements are strings of at most max bytes. */
static int st_str_array(json_object *o, const char *k, size_t cap, size_t max, const char *where,
                        char *err, size_t errlen)
{
    json_object *arr;
    int rc = st_field(o, k, json_type_array, false, &arr, where, err, errlen);
    if (rc || !arr)
        return rc;
    size_t n = json_object_array_length(arr);
    if (n > cap) {
        snprintf(err, errlen, "%s.%s: %zu entries, at most %zu", where, k, n, cap);
        return LBP_PARSE;
    }
    for (size_t j = 0; j < n; j++) {
        json_object *e = json_object_array_get_idx(arr, j);
        if (!json_object_is_type(e, json_type_string)) {
            snprintf(err, errlen, "%s.%s[%zu]: expected string, got %s", where, k, j,
                     json_type_to_name(json_object_get_type(e)));
            return LBP_PARSE;
        }
        size_t len = (size_t)json_object_get_string_len(e);
        if (len == 0 || len > max || strlen(json_object_get_string(e)) != len) {
            snprintf(err, errlen, "%s.%s[%zu]: empty, longer than %zu bytes or contains a NUL",
                     where, k, j, max);
            return LBP_PARSE;
        }
    }
    return LBP_OK;
}

/* An optional address member: "" or an address of the family. */
static int st_addr(json_object *o, const char *k, int af, const char *where, char *err,
                   size_t errlen)
{
    json_object *v;
    unsigned char bin[16];
    int rc = st_str(o, k, 63, false, where, err, errlen);
    if (rc || !json_object_object_get_ex(o, k, &v) || !json_object_get_string_len(v))
        return rc;
    if (inet_pton(af, json_object_get_string(v), bin) != 1) {
        snprintf(err, errlen, "%s.%s: \"%s\" is not an IPv%c address", where, k,
                 json_object_get_string(v), af == AF_INET ? '4' : '6');
        return LBP_PARSE;
    }
    return LBP_OK;
}

/* Both entries hold the same address in member k (already checked by st_addr). */
static bool same_addr(json_object *a, json_object *b, const char *k, int af)
{
    json_object *va, *vb;
    unsigned char x[16], y[16];
    if (!json_object_object_get_ex(a, k, &va) || !json_object_object_get_ex(b, k, &vb) ||
        !json_object_get_string_len(va) || !json_object_get_string_len(vb))
        return false;
    return inet_pton(af, json_object_get_string(va), x) == 1 &&
           inet_pton(af, json_object_get_string(vb), y) == 1 &&
           memcmp(x, y, af == AF_INET ? 4 : 16) == 0;
}

/* Checks one entry of "lbs" completely; builds nothing. */
static int state_check_lb(json_object *o, const char *where, char *err, size_t errlen)
{
    json_object *tags, *ls, *v;
    char sub[96];
    int rc;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "%s: expected object, got %s", where,
                 json_type_to_name(json_object_get_type(o)));
        return LBP_PARSE;
    }
    if ((rc = st_str(o, "name", LBP_LB_NAME_LEN, true, where, err, errlen)))
        return rc;
    if (json_object_get_string_len(json_object_object_get(o, "name")) == 0) {
        snprintf(err, errlen, "%s.name: empty", where);
        return LBP_PARSE;
    }
    if ((rc = st_field(o, "tags", json_type_object, true, &tags, where, err, errlen)))
        return rc;
    snprintf(sub, sizeof(sub), "%s.tags", where);
    if ((rc = st_str(tags, "cluster", 1024, false, sub, err, errlen)) ||
        (rc = st_str(tags, "service", 1024, true, sub, err, errlen)) ||
        (rc = st_str(tags, "uid", 128, false, sub, err, errlen)))
        return rc;
    if (!strchr(json_object_get_string(json_object_object_get(tags, "service")), '/')) {
        snprintf(err, errlen, "%s.service: not namespace/name", sub);
        return LBP_PARSE;
    }
    if ((rc = st_addr(o, "vip", AF_INET, where, err, errlen)) ||
        (rc = st_addr(o, "vip6", AF_INET6, where, err, errlen)) ||
        (rc = st_str(o, "hostname", 1024, false, where, err, errlen)) ||
        (rc = st_str(o, "sessionAffinity", 15, false, where, err, errlen)) ||
        (rc = st_int(o, "healthCheckNodePort", 0, 65535, where, err, errlen)) ||
        (rc = st_int(o, "ensureCalls", 0, INT64_MAX, where, err, errlen)) ||
        (rc = st_int(o, "updateCalls", 0, INT64_MAX, where, err, errlen)) ||
        (rc = st_field(o, "localTraffic", json_type_boolean, false, &v, where, err, errlen)) ||
        (rc = st_str_array(o, "sourceRanges", MOCK_MAX_RANGES, 63, where, err, errlen)) ||
        (rc = st_str_array(o, "nodes", STATE_NODES_MAX, 63, where, err, errlen)) ||
        (rc = st_field(o, "listeners", json_type_array, false, &ls, where, err, errlen)))
        return rc;
    size_t n = ls ? json_object_array_length(ls) : 0;
    if (n > MOCK_MAX_PORTS) {
        snprintf(err, errlen, "%s.listeners: %zu entries, at most %d", where, n, MOCK_MAX_PORTS);
        return LBP_PARSE;
    }
    for (size_t j = 0; j < n; j++) {
        json_object *l = json_object_array_get_idx(ls, j);
        snprintf(sub, sizeof(sub), "%s.listeners[%zu]", where, j);
        if (!json_object_is_type(l, json_type_object)) {
            snprintf(err, errlen, "%s: expected object, got %s", sub,
                     json_type_to_name(json_object_get_type(l)));
            return LBP_PARSE;
        }
        if ((rc = st_int(l, "port", 0, 65535, sub, err, errlen)) ||
            (rc = st_int(l, "nodePort", 0, 65535, sub, err, errlen)) ||
            (rc = st_str(l, "protocol", sizeof(((struct mock_listener *)0)->protocol) - 1, false,
                         sub, err, errlen)) ||
            (rc = st_str_array(l, "backends", 1u << 20, 127, sub, err, errlen)))
            return rc;
    }
    return LBP_OK;
}

/* A string member already checked by state_check_lb; "" when absent. */
static const char *st_get(json_object *o, const char *k)
{
    json_object *v = json_object_object_get(o, k);
    return v ? json_object_get_string(v) : "";
}

static int64_t st_get_int(json_object *o, const char *k)
{
    json_object *v = json_object_object_get(o, k);
    return v ? json_object_get_int64(v) : 0;
}

/* Builds one checked entry into the table; lock held (or not yet shared). */
static int state_add_lb(struct lbp_provider_ctx *ctx, json_object *o)
{
    json_object *tags = json_object_object_get(o, "tags");
    json_object *ls = json_object_object_get(o, "listeners");
    json_object *rs = json_object_object_get(o, "sourceRanges");
    json_object *ns = json_object_object_get(o, "nodes");
    json_object *lt = json_object_object_get(o, "localTraffic");
    size_t n_ls = ls ? json_object_array_length(ls) : 0;
    size_t n_rs = rs ? json_object_array_length(rs) : 0;
    size_t n_ns = ns ? json_object_array_length(ns) : 0;
    struct mock_lb *lb = calloc(1, sizeof(*lb));
    char **addrs = calloc(n_ns + 1, sizeof(char *));
    int rc = LBP_NOMEM;
    if (!lb || !addrs)
        goto out;
    lbp_strlcpy(lb->lb_name, st_get(o, "name"), sizeof(lb->lb_name));
    const char *svc = st_get(tags, "service"), *slash = strchr(svc, '/');
    if (!set_ids(ctx, lb, st_get(tags, "cluster"), svc, (size_t)(slash - svc), slash + 1,
                 st_get(tags, "uid")) ||
        (st_get(o, "hostname")[0] && !set_str(&lb->hostname, st_get(o, "hostname"))))
        goto out;
    lbp_strlcpy(lb->vip, st_get(o, "vip"), sizeof(lb->vip));
    lbp_strlcpy(lb->vip6, st_get(o, "vip6"), sizeof(lb->vip6));
    lbp_strlcpy(lb->affinity, st_get(o, "sessionAffinity"), sizeof(lb->affinity));
    lb->hc_port = (int)st_get_int(o, "healthCheckNodePort");
    lb->local = lt && json_object_get_boolean(lt);
    lb->ensure_calls = (unsigned long)st_get_int(o, "ensureCalls");
    lb->update_calls = (unsigned long)st_get_int(o, "updateCalls");
    if (!(lb->listeners = listeners_new(lb, n_ls)) ||
        (n_rs && !(lb->ranges = calloc(n_rs, sizeof(char *)))))
        goto out;
    for (size_t j = 0; j < n_ls; j++, lb->n_listeners++) {
        json_object *l = json_object_array_get_idx(ls, j);
        lb->listeners[j].port = (int)st_get_int(l, "port");
        lb->listeners[j].node_port = (int)st_get_int(l, "nodePort");
        lbp_strlcpy(lb->listeners[j].protocol, st_get(l, "protocol"),
                    sizeof(lb->listeners[j].protocol));
    }
    for (size_t j = 0; j < n_rs; j++, lb->n_ranges++)
        if (!(lb->ranges[j] = strdup(json_object_get_string(json_object_array_get_idx(rs, j)))))
            goto out;
    for (size_t j = 0; j < n_ns; j++)
        addrs[j] = (char *)json_object_get_string(json_object_array_get_idx(ns, j));
    if (!(lb->nodes = nodeset_get(ctx, addrs, n_ns)))
        goto out;
    v4_mark(ctx, lb->vip, true);
    HASH_ADD_STR(ctx->lbs, lb_name, lb);
    lb = NULL;
    rc = LBP_OK;
out:
    if (lb)
        lb_free(ctx, lb);
    free(addrs);
    return rc;
}

/* Reads and parses the whole file (at most STATE_FILE_MAX); LBP_NOT_FOUND when it does not exist.
 */
static int state_read(const char *path, json_object **root, char *err, size_t errlen)
{
    json_tokener *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;
    *root = NULL;
    /* Sized to the file, not to the cap: a small table costs a small read. */
    rc = lbp_file_read(path, STATE_FILE_MAX, 0, &text, &len);
    if (rc == LBP_IO && errno == ENOENT)
        return LBP_NOT_FOUND;
    if (rc == LBP_TOOBIG)
        snprintf(err, errlen, "larger than %u bytes", STATE_FILE_MAX);
    else if (rc)
        snprintf(err, errlen, "%s", rc == LBP_NOMEM ? "out of memory" : strerror(errno));
    if (rc)
        return rc;
    rc = LBP_PARSE;
    if (!(tok = json_tokener_new_ex(64)))
        goto out;
    *root = json_tokener_parse_ex(tok, text, (int)len);
    if (!*root || json_tokener_get_error(tok) != json_tokener_success) {
        snprintf(err, errlen, "not JSON: %s", json_tokener_error_desc(json_tokener_get_error(tok)));
        json_object_put(*root);
        *root = NULL;
        goto out;
    }
    rc = LBP_OK;
out:
    json_tokener_free(tok);
    free(text);
    return rc;
}

/* Loads state_file into the empty table at start; on error nothing is loaded. */
static int state_load(struct lbp_provider_ctx *ctx, char *err, size_t errlen)
{
    json_object *root = NULL, *arr;
    char where[64], why[400] = "";
    int rc;
    if (!ctx->cfg.state_file[0])
        return LBP_OK;
    rc = state_read(ctx->cfg.state_file, &root, why, sizeof(why));
    if (rc == LBP_NOT_FOUND)
        return LBP_OK; /* first start */
    if (rc)
        goto out;
    if (!json_object_is_type(root, json_type_object)) {
        snprintf(why, sizeof(why), "expected an object at the top");
        rc = LBP_PARSE;
        goto out;
    }
    if ((rc = st_field(root, "lbs", json_type_array, true, &arr, "$", why, sizeof(why))))
        goto out;
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(arr, i);
        snprintf(where, sizeof(where), "lbs[%zu]", i);
        if ((rc = state_check_lb(o, where, why, sizeof(why))))
            goto out;
        /* One address for two Services would answer for both: refuse, as for names. */
        for (size_t j = 0; j < i; j++) {
            json_object *prev = json_object_array_get_idx(arr, j);
            const char *dup = strcmp(st_get(prev, "name"), st_get(o, "name")) == 0 ? "name"
                              : same_addr(prev, o, "vip", AF_INET)                 ? "vip"
                              : same_addr(prev, o, "vip6", AF_INET6)               ? "vip6"
                                                                                   : NULL;
            if (dup) {
                snprintf(why, sizeof(why), "%s.%s: \"%s\" already at lbs[%zu]", where, dup,
                         st_get(o, dup), j);
                rc = LBP_PARSE;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if ((rc = state_add_lb(ctx, json_object_array_get_idx(arr, i))))
            goto out;
    lbp_info("mock cloud: loaded %u load balancers from %s", HASH_COUNT(ctx->lbs),
             ctx->cfg.state_file);
out:
    if (rc)
        snprintf(err, errlen, "state file %s: %s (left as it is)", ctx->cfg.state_file,
                 why[0] ? why : lbp_rc_str(rc));
    json_object_put(root);
    return rc;
}

/* ------------------------------------------------------------ calls */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Every call starts here: count it, wait the configured latency without
 * holding the lock (so workers overlap like they would against a real
 * API), then apply injected failures. Returns with the lock held on LBP_OK.
 */
static int call_begin(struct lbp_provider_ctx *ctx, unsigned long *counter, bool mutating,
                      struct lbp_call *call)
{
    unsigned latency;
    pthread_mutex_lock(&ctx->mu);
    config_maybe_reload(ctx);
    (*counter)++;
    latency = ctx->cfg.latency_ms;
    pthread_mutex_unlock(&ctx->mu);
    if (latency)
        sleep_ms(latency);
    pthread_mutex_lock(&ctx->mu);
    if (mutating && ctx->fail_next > 0) {
        ctx->fail_next--;
        ctx->c_failed++;
        pthread_mutex_unlock(&ctx->mu);
        lbp_failf(call, "mock cloud: injected failure (HTTP 500 InternalError)");
        return LBP_RETRY;
    }
    if (ctx->cfg.throttle_rate > 0 &&
        (double)rand_r(&ctx->seed) / RAND_MAX < ctx->cfg.throttle_rate) {
        ctx->c_failed++;
        if (call)
            call->retry_after_s = ctx->cfg.retry_after_s;
        pthread_mutex_unlock(&ctx->mu);
        lbp_failf(call, "mock cloud: throttled (HTTP 429), retry after %u s",
                  ctx->cfg.retry_after_s);
        return LBP_RETRY;
    }
    if (ctx->cfg.error_rate > 0 && (double)rand_r(&ctx->seed) / RAND_MAX < ctx->cfg.error_rate) {
        ctx->c_failed++;
        pthread_mutex_unlock(&ctx->mu);
        lbp_failf(call, "mock cloud: random injected error (HTTP 503)");
        return LBP_RETRY;
    }
    return LBP_OK;
}

/*
 * pendingPolls=N, after call_begin (lock held). The first mutating call on
 * an LB begins an operation and answers LBP_PENDING; so does every later
 * mutating call on that LB — whichever slot, since that is what a
 * provider's poll of its in-flight operation looks like to the cloud —
 * until N answers were given. The call after that finds it done and
 * applies its own spec: the latest, as a provider would issue it once the
 * operation is over. update_targets and remove on an LB that does not
 * exist answer at once (a real cloud has nothing to operate on). The
 * operations live in memory: after a restart the LB table is what the
 * provider converges from, as it must with a real cloud.
 */
static bool op_poll(struct lbp_provider_ctx *ctx, const char *lb_name, const char *slot,
                    bool exists, struct lbp_call *call)
{
    struct mock_op *op;
    HASH_FIND_STR(ctx->ops, lb_name, op);
    if (!op) {
        if (!ctx->cfg.pending_polls || (!exists && strcmp(slot, "ensure") != 0))
            return false;
        if (!(op = calloc(1, sizeof(*op))))
            return false; /* out of memory: the change is made at once */
        lbp_strlcpy(op->lb_name, lb_name, sizeof(op->lb_name));
        op->call = slot;
        op->id = ++ctx->op_seq;
        op->left = ctx->cfg.pending_polls;
        HASH_ADD_STR(ctx->ops, lb_name, op);
    }
    if (op->left == 0) {
        HASH_DEL(ctx->ops, op);
        free(op);
        return false;
    }
    op->left--;
    ctx->c_pending++;
    if (call) {
        call->retry_after_s = ctx->cfg.retry_after_s;
        lbp_failf(call, "mock cloud: operation op-%lu (%s) RUNNING", op->id, op->call);
    }
    return true;
}

static void status_of(struct lbp_provider_ctx *ctx, const struct mock_lb *lb,
                      struct lbp_lb_status *st)
{
    memset(st, 0, sizeof(*st));
    if (lb->hostname && lb->hostname[0]) {
        lbp_strlcpy(st->ingress[0].hostname, lb->hostname, sizeof(st->ingress[0].hostname));
        st->n_ingress = 1;
        return;
    }
    if (lb->vip[0])
        lbp_strlcpy(st->ingress[st->n_ingress++].ip, lb->vip, sizeof(st->ingress[0].ip));
    if (lb->vip6[0])
        lbp_strlcpy(st->ingress[st->n_ingress++].ip, lb->vip6, sizeof(st->ingress[0].ip));
    for (size_t i = 0; i < st->n_ingress; i++)
        lbp_strlcpy(st->ingress[i].ip_mode, ctx->cfg.ip_mode, sizeof(st->ingress[i].ip_mode));
}

/*
 * Hands the LB's listeners, ranges and nodes to the data plane; lock held.
 * Returns once they are in force, or with the reason a listener is not.
 */
static int dp_sync(struct lbp_provider_ctx *ctx, const struct mock_lb *lb, struct lbp_call *call)
{
    struct lbp_dp_port ports[MOCK_MAX_PORTS];
    const char **nodes = NULL;
    char svc[600], err[LBP_ERRBUF_SIZE];
    struct lbp_dp_lb d = {.name = lb->lb_name,
                          .service = svc,
                          .local = lb->local,
                          .hc_port = lb->hc_port,
                          .affinity = strcmp(lb->affinity, "ClientIP") == 0,
                          .affinity_timeout_s = lb->affinity_timeout,
                          .ranges = (const char *const *)lb->ranges,
                          .n_ranges = lb->n_ranges,
                          .ports = ports};
    int rc;
    if (!ctx->dp)
        return LBP_OK;
    snprintf(svc, sizeof(svc), "%s/%s", str_or_empty(lb->ns), str_or_empty(lb->name));
    if (lb->vip[0])
        d.vips[d.n_vips++] = lb->vip;
    if (lb->vip6[0])
        d.vips[d.n_vips++] = lb->vip6;
    for (size_t i = 0; i < lb->n_listeners && d.n_ports < MOCK_MAX_PORTS; i++) {
        const struct mock_listener *l = &lb->listeners[i];
        if (strcmp(l->protocol, "TCP") != 0 && strcmp(l->protocol, "UDP") != 0)
            continue; /* the cloud does not offer SCTP */
        ports[d.n_ports++] = (struct lbp_dp_port){
            .port = l->port, .node_port = l->node_port, .udp = l->protocol[0] == 'U'};
    }
    if (lb->nodes && lb->nodes->n) {
        if (!(nodes = calloc(lb->nodes->n, sizeof(*nodes))))
            return LBP_NOMEM;
        for (size_t i = 0; i < lb->nodes->n; i++)
            nodes[d.n_nodes++] = lb->nodes->addrs[i];
    }
    d.nodes = nodes;
    rc = lbp_dp_apply(ctx->dp, &d, err, sizeof(err));
    free(nodes);
    if (rc)
        lbp_failf(call, "%s", err);
    return rc;
}

static void metrics_register(void);
static void mock_cleanup(struct lbp_provider_ctx *ctx);

static int mock_init(const char *cloud_config_path, const char *cluster_name,
                     struct lbp_provider_ctx **out, char *err, size_t errlen)
{
    struct lbp_provider_ctx *ctx = calloc(1, sizeof(*ctx));
    int rc = LBP_OK;
    if (!ctx)
        return LBP_NOMEM;
    pthread_mutex_init(&ctx->mu, NULL);
    lbp_strlcpy(ctx->cluster, cluster_name ? cluster_name : "kubernetes", sizeof(ctx->cluster));
    config_defaults(&ctx->cfg);
    ctx->seed = (unsigned)lbp_now_ms();
    if (cloud_config_path) {
        struct stat st;
        rc = config_read(cloud_config_path, &ctx->cfg, &ctx->fail_next, err, errlen);
        if (rc)
            goto out;
        ctx->config_path = lbp_strdup(cloud_config_path);
        if (stat(cloud_config_path, &st) == 0) {
            ctx->config_mtime = st.st_mtim.tv_sec;
            ctx->config_mtime_ns = st.st_mtim.tv_nsec;
        }
    }
    ctx->v4_used = calloc(ctx->cfg.v4_size / 8 + 1, 1);
    if (!ctx->v4_used) {
        rc = LBP_NOMEM;
        goto out;
    }
    if ((rc = state_load(ctx, err, errlen)))
        goto out;
    if (ctx->cfg.data_plane) {
        if ((rc = lbp_dp_new(&ctx->cfg.dp, &ctx->dp, err, errlen)))
            goto out;
        for (struct mock_lb *lb = ctx->lbs; lb; lb = lb->hh.next) {
            struct lbp_call c = {0};
            if (dp_sync(ctx, lb, &c))
                lbp_warn("mock cloud: %s/%s: %s", str_or_empty(lb->ns), str_or_empty(lb->name),
                         c.err);
        }
    }
    /* At every init: a registry reset (lbp_metrics_reset) drops what an earlier one registered. */
    metrics_register();
out:
    if (rc) {
        mock_cleanup(ctx);
        return rc;
    }
    *out = ctx;
    return LBP_OK;
}

static void mock_cleanup(struct lbp_provider_ctx *ctx)
{
    struct mock_lb *lb, *tmp;
    if (!ctx)
        return;
    struct mock_op *op, *otmp;
    lbp_dp_free(ctx->dp); /* first: its loop reads nothing of ours, but it owns the VIPs' sockets */
    HASH_ITER(hh, ctx->lbs, lb, tmp)
    {
        HASH_DEL(ctx->lbs, lb);
        lb_free(ctx, lb);
    }
    HASH_ITER(hh, ctx->ops, op, otmp)
    {
        HASH_DEL(ctx->ops, op);
        free(op);
    }
    free(ctx->v4_used);
    free(ctx->config_path);
    pthread_mutex_destroy(&ctx->mu);
    free(ctx);
}

static int mock_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    struct lbp_lb_status *st, struct lbp_call *call)
{
    struct mock_lb *lb;
    int rc = call_begin(ctx, &ctx->c_get, false, call);
    if (rc)
        return rc;
    HASH_FIND_STR(ctx->lbs, spec->lb_name, lb);
    if (lb)
        status_of(ctx, lb, st);
    pthread_mutex_unlock(&ctx->mu);
    return lb ? LBP_OK : LBP_NOT_FOUND;
}

static bool wants_family(const struct lbp_lb_spec *spec, const char *fam)
{
    for (size_t i = 0; i < spec->n_ip_families; i++)
        if (strcmp(spec->ip_families[i], fam) == 0)
            return true;
    return false;
}

static int mock_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                       struct lbp_lb_status *st, struct lbp_call *call)
{
    struct mock_lb *lb;
    bool created = false;
    bool v4 = spec->n_ip_families == 0 || wants_family(spec, "IPv4");
    bool v6 = wants_family(spec, "IPv6");
    struct spec_nodes sn;
    int rc = spec_nodes_get(spec, &sn);
    if (rc)
        return rc;
    rc = call_begin(ctx, &ctx->c_ensure, true, call);
    if (rc) {
        spec_nodes_free(&sn);
        return rc;
    }
    /* Refused whole: a restriction the cloud cannot apply must not become a smaller one. */
    if (spec->n_ports > MOCK_MAX_PORTS) {
        lbp_failf(call, "spec.ports: %zu ports, but the mock cloud has at most %d listeners",
                  spec->n_ports, MOCK_MAX_PORTS);
        rc = LBP_INVALID;
        goto out;
    }
    if (spec->n_source_ranges > MOCK_MAX_RANGES) {
        lbp_failf(call, "%s: %zu source ranges, but the mock cloud applies at most %d",
                  spec->source_ranges_field ? spec->source_ranges_field : "source ranges",
                  spec->n_source_ranges, MOCK_MAX_RANGES);
        rc = LBP_INVALID;
        goto out;
    }
    HASH_FIND_STR(ctx->lbs, spec->lb_name, lb);
    if (op_poll(ctx, spec->lb_name, "ensure", lb != NULL, call)) {
        rc = LBP_PENDING;
        goto out;
    }
    if (!lb) {
        lb = calloc(1, sizeof(*lb));
        if (!lb) {
            rc = LBP_NOMEM;
            goto out;
        }
        created = true;
        lbp_strlcpy(lb->lb_name, spec->lb_name, sizeof(lb->lb_name));
    }
    /* Addresses: keep what the LB has unless the requested IP changed. */
    if (ctx->cfg.hostname) {
        char host[128];
        snprintf(host, sizeof(host), "%s.elb.mock.internal", lb->lb_name);
        if (!set_str(&lb->hostname, host)) {
            rc = LBP_NOMEM;
            goto out;
        }
    } else if (spec->requested_ip && spec->requested_ip[0]) {
        bool is6 = strchr(spec->requested_ip, ':') != NULL;
        char *slot = is6 ? lb->vip6 : lb->vip;
        if (strcmp(slot, spec->requested_ip) != 0) {
            struct mock_lb *other = lb_by_vip(ctx, spec->requested_ip);
            if (other && other != lb) {
                lbp_failf(call, "mock cloud: requested address %s is in use by %s",
                          spec->requested_ip, other->lb_name);
                rc = LBP_INVALID;
                goto out;
            }
            size_t cap = is6 ? sizeof(lb->vip6) : sizeof(lb->vip);
            if (strlen(spec->requested_ip) >= cap) { /* validation refuses these first */
                lbp_failf(call, "mock cloud: requested address %.64s is not an address",
                          spec->requested_ip);
                rc = LBP_INVALID;
                goto out;
            }
            v4_mark(ctx, lb->vip, false);
            lbp_strlcpy(slot, spec->requested_ip, cap);
            v4_mark(ctx, lb->vip, true);
        }
    } else {
        if (v4 && !lb->vip[0] && v4_alloc(ctx, lb->vip) != LBP_OK) {
            lbp_failf(call, "mock cloud: no free address left in the VIP range");
            rc = LBP_RETRY;
            goto out;
        }
        if (v6 && !lb->vip6[0])
            v6_alloc(ctx, lb->vip6);
    }
    struct mock_listener *ls = listeners_new(lb, spec->n_ports);
    char **rs = spec->n_source_ranges ? calloc(spec->n_source_ranges, sizeof(char *)) : NULL;
    if (!ls || (spec->n_source_ranges && !rs) ||
        !set_ids(ctx, lb, spec->cluster_name ? spec->cluster_name : ctx->cluster, spec->namespace,
                 strlen(str_or_empty(spec->namespace)), spec->name, spec->uid)) {
        listeners_free(lb, ls);
        free(rs);
        rc = LBP_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < spec->n_ports; i++) {
        ls[i].port = spec->ports[i].port;
        ls[i].node_port = spec->ports[i].node_port;
        lbp_strlcpy(ls[i].protocol, spec->ports[i].protocol, sizeof(ls[i].protocol));
    }
    if (lb->listeners != ls) /* the record's own slot is rewritten in place */
        listeners_free(lb, lb->listeners);
    lb->listeners = ls;
    lb->n_listeners = (unsigned)spec->n_ports;
    for (size_t i = 0; i < lb->n_ranges; i++)
        free(lb->ranges[i]);
    free(lb->ranges);
    lb->ranges = rs;
    lb->n_ranges = 0;
    for (size_t i = 0; i < spec->n_source_ranges; i++)
        if ((rs[lb->n_ranges] = strdup(spec->source_ranges[i])))
            lb->n_ranges++;
    lb->hc_port = spec->local_traffic ? spec->health_check_node_port : 0;
    lb->local = spec->local_traffic;
    lbp_strlcpy(lb->affinity, spec->session_affinity ? spec->session_affinity : "None",
                sizeof(lb->affinity));
    lb->affinity_timeout = spec->session_affinity_timeout;
    struct mock_nodeset *ns = nodeset_from_spec(ctx, &sn);
    nodeset_unref(ctx, lb->nodes);
    lb->nodes = ns;
    lb->ensure_calls++;
    if (created)
        HASH_ADD_STR(ctx->lbs, lb_name, lb);
    created = false; /* in the table now: the cloud has it, whatever the data plane says */
    status_of(ctx, lb, st);
    state_save(ctx);
    rc = dp_sync(ctx, lb, call);
out:
    if (rc && created)
        lb_free(ctx, lb);
    pthread_mutex_unlock(&ctx->mu);
    spec_nodes_free(&sn);
    return rc;
}

static int mock_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                               struct lbp_call *call)
{
    struct mock_lb *lb;
    struct spec_nodes sn;
    int rc = spec_nodes_get(spec, &sn);
    if (rc)
        return rc;
    rc = call_begin(ctx, &ctx->c_update, true, call);
    if (rc) {
        spec_nodes_free(&sn);
        return rc;
    }
    HASH_FIND_STR(ctx->lbs, spec->lb_name, lb);
    if (op_poll(ctx, spec->lb_name, "update_targets", lb != NULL, call)) {
        rc = LBP_PENDING;
        goto out;
    }
    if (!lb) {
        lbp_failf(call, "mock cloud: load balancer %s not found", spec->lb_name);
        rc = LBP_NOT_FOUND;
        goto out;
    }
    struct mock_nodeset *ns = nodeset_from_spec(ctx, &sn);
    nodeset_unref(ctx, lb->nodes);
    lb->nodes = ns;
    lb->update_calls++;
    state_save(ctx);
    rc = dp_sync(ctx, lb, call);
out:
    pthread_mutex_unlock(&ctx->mu);
    spec_nodes_free(&sn);
    return rc;
}

static int mock_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                       struct lbp_call *call)
{
    struct mock_lb *lb;
    int rc = call_begin(ctx, &ctx->c_remove, true, call);
    if (rc)
        return rc;
    HASH_FIND_STR(ctx->lbs, spec->lb_name, lb);
    if (op_poll(ctx, spec->lb_name, "remove", lb != NULL, call)) {
        pthread_mutex_unlock(&ctx->mu);
        return LBP_PENDING;
    }
    if (ctx->dp)
        lbp_dp_remove(ctx->dp, spec->lb_name);
    if (lb) {
        HASH_DEL(ctx->lbs, lb);
        v4_mark(ctx, lb->vip, false);
        lb_free(ctx, lb);
        state_save(ctx);
    }
    pthread_mutex_unlock(&ctx->mu);
    return LBP_OK;
}

static int mock_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                           struct lbp_call *call)
{
    struct lbp_owned_list l;
    int rc = call_begin(ctx, &ctx->c_list, false, call);
    if (rc)
        return rc;
    lbp_owned_init(&l);
    for (struct mock_lb *lb = ctx->lbs; lb && rc == LBP_OK; lb = lb->hh.next) {
        if (strcmp(str_or_empty(lb->cluster), ctx->cluster) != 0)
            continue; /* another cluster's: not ours to touch */
        rc = lbp_owned_add(&l, lb->lb_name, lb->ns, lb->name);
    }
    pthread_mutex_unlock(&ctx->mu);
    if (rc) {
        lbp_owned_free(&l);
        return rc;
    }
    return lbp_owned_take(&l, out, n);
}

static int mock_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    int rc = call_begin(ctx, &ctx->c_ping, false, call);
    if (rc)
        return rc;
    pthread_mutex_unlock(&ctx->mu);
    return LBP_OK;
}

static char *mock_debug_json(struct lbp_provider_ctx *ctx)
{
    json_object *root = json_object_new_object(), *c = json_object_new_object();
    json_object *arr = json_object_new_array();
    char *s;
    pthread_mutex_lock(&ctx->mu);
    json_object_object_add(root, "cluster", json_object_new_string(ctx->cluster));
    json_object_object_add(c, "get", json_object_new_int64((int64_t)ctx->c_get));
    json_object_object_add(c, "ensure", json_object_new_int64((int64_t)ctx->c_ensure));
    json_object_object_add(c, "update_targets", json_object_new_int64((int64_t)ctx->c_update));
    json_object_object_add(c, "remove", json_object_new_int64((int64_t)ctx->c_remove));
    json_object_object_add(c, "list_owned", json_object_new_int64((int64_t)ctx->c_list));
    json_object_object_add(c, "ping", json_object_new_int64((int64_t)ctx->c_ping));
    json_object_object_add(c, "failed", json_object_new_int64((int64_t)ctx->c_failed));
    json_object_object_add(c, "pending", json_object_new_int64((int64_t)ctx->c_pending));
    json_object_object_add(root, "calls", c);
    json_object_object_add(root, "failNext", json_object_new_int64(ctx->fail_next));
    json_object_object_add(root, "latencyMs", json_object_new_int64(ctx->cfg.latency_ms));
    json_object_object_add(root, "pendingPolls", json_object_new_int64(ctx->cfg.pending_polls));
    json_object_object_add(root, "dataPlane", json_object_new_boolean(ctx->dp != NULL));
    json_object *ops = json_object_new_array();
    for (struct mock_op *op = ctx->ops; op; op = op->hh.next) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "loadBalancer", json_object_new_string(op->lb_name));
        json_object_object_add(o, "call", json_object_new_string(op->call));
        json_object_object_add(o, "id", json_object_new_int64((int64_t)op->id));
        json_object_object_add(o, "pollsLeft", json_object_new_int64(op->left));
        json_object_array_add(ops, o);
    }
    json_object_object_add(root, "operations", ops);
    {
        struct in_addr a = {.s_addr = htonl(ctx->cfg.v4_base)};
        char ip[INET_ADDRSTRLEN] = "", range[64];
        unsigned bits = 32;
        for (uint32_t sz = ctx->cfg.v4_size; sz > 1; sz >>= 1)
            bits--;
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        snprintf(range, sizeof(range), "%s/%u", ip, bits);
        json_object_object_add(root, "vipRange", json_object_new_string(range));
    }
    for (struct mock_lb *lb = ctx->lbs; lb; lb = lb->hh.next)
        json_object_array_add(arr, lb_json(lb));
    json_object_object_add(root, "loadBalancers", arr);
    pthread_mutex_unlock(&ctx->mu);
    s = lbp_strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return s;
}

/*
 * Run-time settings from POST /debug/mockcloud, in the config file's
 * syntax ("failNext=3", "latencyMs=100", ...). The address ranges and the
 * state file stay as they were: they define the cloud, not its behaviour.
 */
static int mock_debug_post(struct lbp_provider_ctx *ctx, const char *body, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)body, strlen(body), "r");
    struct mock_config cfg;
    unsigned fail_next;
    int rc;
    if (!f) {
        snprintf(err, errlen, "empty body");
        return LBP_INVALID;
    }
    pthread_mutex_lock(&ctx->mu);
    cfg = ctx->cfg;
    fail_next = ctx->fail_next;
    rc = config_parse(f, "request body", &cfg, &fail_next, err, errlen);
    if (rc == LBP_OK) {
        cfg.v4_base = ctx->cfg.v4_base;
        cfg.v4_size = ctx->cfg.v4_size;
        cfg.v6_base = ctx->cfg.v6_base;
        memcpy(cfg.state_file, ctx->cfg.state_file, sizeof(cfg.state_file));
        cfg.data_plane = ctx->cfg.data_plane;
        cfg.dp = ctx->cfg.dp;
        ctx->cfg = cfg;
        ctx->fail_next = fail_next;
    }
    pthread_mutex_unlock(&ctx->mu);
    fclose(f);
    if (rc == LBP_OK)
        lbp_info("mock cloud: settings changed at run time (latency_ms=%u fail_next=%u)",
                 cfg.latency_ms, fail_next);
    return rc == LBP_OK ? LBP_OK : LBP_INVALID;
}

/* Rebuilds the v4 bitmap for a new range, marking the LBs whose VIP falls inside; lock held. */
static int v4_rerange(struct lbp_provider_ctx *ctx, uint32_t base, uint32_t size)
{
    uint8_t *used = calloc(size / 8 + 1, 1);
    if (!used)
        return LBP_NOMEM;
    free(ctx->v4_used);
    ctx->v4_used = used;
    ctx->cfg.v4_base = base;
    ctx->cfg.v4_size = size;
    ctx->v4_next = 0;
    for (struct mock_lb *lb = ctx->lbs; lb; lb = lb->hh.next)
        v4_mark(ctx, lb->vip, true); /* ignores addresses outside the range */
    return LBP_OK;
}

static int mock_reload(struct lbp_provider_ctx *ctx, const char *path, char *err, size_t errlen)
{
    struct mock_config cfg;
    unsigned fail_next;
    struct stat st;
    int rc;
    config_defaults(&cfg);
    pthread_mutex_lock(&ctx->mu);
    fail_next = ctx->fail_next;
    rc = config_read(path, &cfg, &fail_next, err, errlen);
    if (rc == LBP_OK && (cfg.v4_base != ctx->cfg.v4_base || cfg.v4_size != ctx->cfg.v4_size))
        rc = v4_rerange(ctx, cfg.v4_base, cfg.v4_size);
    if (rc == LBP_OK) {
        memcpy(cfg.state_file, ctx->cfg.state_file, sizeof(cfg.state_file)); /* where state lives */
        cfg.data_plane = ctx->cfg.data_plane; /* sockets and threads: fixed until a restart */
        cfg.dp = ctx->cfg.dp;
        ctx->cfg = cfg;
        ctx->fail_next = fail_next;
        if (stat(path, &st) == 0) { /* the mtime check has nothing left to do */
            ctx->config_mtime = st.st_mtim.tv_sec;
            ctx->config_mtime_ns = st.st_mtim.tv_nsec;
        }
    }
    pthread_mutex_unlock(&ctx->mu);
    if (rc == LBP_OK)
        lbp_info("mock cloud: reloaded %s (latency_ms=%u fail_next=%u error_rate=%.3f)", path,
                 cfg.latency_ms, fail_next, cfg.error_rate);
    return rc;
}

/*
 * The Service's status is the record of its address, as with bare metal:
 * a fresh process (a restart, or the standby replica that just took the
 * Lease, each with its own in-memory cloud) rebuilds an LB per Service
 * from it before any ensure, so a live Service keeps its address and no
 * address goes to two Services. Listeners and backends come with the
 * first ensure. An LB already in the table (the state file) wins.
 */
static int mock_restore(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                        const struct lbp_lb_status *current)
{
    struct mock_lb *lb = NULL;
    int rc = LBP_OK;

    if (!spec || !spec->lb_name[0] || !current)
        return LBP_INVALID;
    pthread_mutex_lock(&ctx->mu);
    HASH_FIND_STR(ctx->lbs, spec->lb_name, lb);
    if (lb || ctx->cfg.hostname) {
        lb = NULL; /* already known, or names need no allocation: nothing to do */
        goto out;
    }
    if (!(lb = calloc(1, sizeof(*lb)))) {
        rc = LBP_NOMEM;
        goto out;
    }
    lbp_strlcpy(lb->lb_name, spec->lb_name, sizeof(lb->lb_name));
    for (size_t i = 0; i < current->n_ingress && i < LBP_LB_MAX_INGRESS; i++) {
        const char *ip = current->ingress[i].ip;
        bool is6 = strchr(ip, ':') != NULL;
        char *slot = is6 ? lb->vip6 : lb->vip;
        struct mock_lb *other = ip[0] ? lb_by_vip(ctx, ip) : NULL;
        if (!ip[0] || slot[0])
            continue; /* a hostname, or a second address of one family */
        if (other) {
            lbp_warn("mock cloud: %s/%s: %s is already %s's", spec->namespace, spec->name, ip,
                     other->lb_name);
            rc = LBP_CONFLICT;
            continue;
        }
        if (!set_vip(slot, is6 ? sizeof(lb->vip6) : sizeof(lb->vip), ip))
            lbp_warn("mock cloud: %s/%s: ingress %.64s is not an address, not kept",
                     spec->namespace, spec->name, ip);
    }
    if (!lb->vip[0] && !lb->vip6[0])
        goto out;
    if (!set_ids(ctx, lb, spec->cluster_name ? spec->cluster_name : ctx->cluster, spec->namespace,
                 strlen(str_or_empty(spec->namespace)), spec->name, spec->uid)) {
        rc = LBP_NOMEM;
        goto out;
    }
    lbp_strlcpy(lb->affinity, "None", sizeof(lb->affinity));
    v4_mark(ctx, lb->vip, true);
    /* v6 addresses are handed out by counting up: never count back over this one */
    v6_seen(ctx, lb->vip6);
    HASH_ADD_STR(ctx->lbs, lb_name, lb);
    lbp_v(1, "mock cloud: %s/%s keeps %s%s%s", spec->namespace, spec->name, lb->vip,
          lb->vip[0] && lb->vip6[0] ? "," : "", lb->vip6);
    lb = NULL;
    state_save(ctx);
out:
    if (lb)
        lb_free(ctx, lb);
    pthread_mutex_unlock(&ctx->mu);
    return rc;
}

/* ------------------------------------------------------------ metrics */

/* Shared with the real clouds' HTTP layer: same names, labels and buckets. */
static struct lbp_metric *m_requests, *m_errors, *m_latency;

static void metrics_register(void)
{
    m_requests = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_requests_total",
                                "Cloud API requests, by cloud, operation and response code.",
                                "cloud,operation,code");
    m_errors = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_errors_total",
                              "Cloud API requests that failed, by cloud, operation and code.",
                              "cloud,operation,code");
    m_latency = lbp_histogram_new("lbprov_cloud_api_request_duration_seconds",
                                  "Cloud API request latency in seconds.", "cloud,operation",
                                  lbp_latency_buckets, lbp_latency_buckets_n);
}

/* The HTTP status a real cloud would have answered with. */
static const char *rc_code(int rc, const struct lbp_call *call)
{
    switch (rc) {
    case LBP_OK:
        return "200";
    case LBP_PENDING:
        return "202";
    case LBP_NOT_FOUND:
        return "404";
    case LBP_INVALID:
        return "400";
    case LBP_AUTH:
        return "403";
    case LBP_RETRY:
        return call && call->retry_after_s ? "429" : "503";
    default:
        return "500";
    }
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(const char *op, double t0, int rc, const struct lbp_call *call)
{
    const char *code = rc_code(rc, call);
    const char *l3[] = {"mock", op, code};
    const char *l2[] = {"mock", op};
    double dt = mono_s() - t0;
    lbp_metric_add(m_requests, l3, 1);
    lbp_metric_observe(m_latency, l2, dt);
    lbp_v(6, "mock cloud: %s -> %s in %.3f s", op, code, dt);
    if (rc != LBP_OK && rc != LBP_NOT_FOUND && rc != LBP_PENDING)
        lbp_metric_add(m_errors, l3, 1);
}

static int m_get(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                 struct lbp_lb_status *st, struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_get(ctx, spec, st, call);
    record("get", t0, rc, call);
    return rc;
}

static int m_ensure(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    struct lbp_lb_status *st, struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_ensure(ctx, spec, st, call);
    record("ensure", t0, rc, call);
    return rc;
}

static int m_update_targets(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                            struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_update_targets(ctx, spec, call);
    record("update_targets", t0, rc, call);
    return rc;
}

static int m_remove(struct lbp_provider_ctx *ctx, const struct lbp_lb_spec *spec,
                    struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_remove(ctx, spec, call);
    record("remove", t0, rc, call);
    return rc;
}

static int m_list_owned(struct lbp_provider_ctx *ctx, struct lbp_lb_owned **out, size_t *n,
                        struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_list_owned(ctx, out, n, call);
    record("list_owned", t0, rc, call);
    return rc;
}

static int m_ping(struct lbp_provider_ctx *ctx, struct lbp_call *call)
{
    double t0 = mono_s();
    int rc = mock_ping(ctx, call);
    record("ping", t0, rc, call);
    return rc;
}

const struct lbp_provider lbp_provider_mock = {
    .name = "mock",
    .caps = LBP_CAP_TCP | LBP_CAP_UDP | LBP_CAP_MIXED_PROTOCOLS | LBP_CAP_SOURCE_RANGES |
            LBP_CAP_HOSTNAME | LBP_CAP_NEEDS_NODEPORTS | LBP_CAP_HEALTH_CHECKS | LBP_CAP_IPV6 |
            LBP_CAP_REQUESTED_IP,
    .init = mock_init,
    .cleanup = mock_cleanup,
    .get = m_get,
    .ensure = m_ensure,
    .update_targets = m_update_targets,
    .remove = m_remove,
    .list_owned = m_list_owned,
    .ping = m_ping,
    .debug_json = mock_debug_json,
    .debug_post = mock_debug_post,
    .restore = mock_restore,
    .reload = mock_reload,
};
