/*
 * soak.c — the chaos soak: lbprov controller, two replicas under leader
 * election, against the fake API server and a cloud fake (soak.h), while
 * Services are churned and faults are injected everywhere; then the faults
 * stop and everything must converge.
 *
 *   soak --services N --seconds T --cloud aws|gce|azure|cloudstack|baremetal|mock
 *        [--rate OPS/S] [--kill-every S] [--settle S] [--nodes K] [--seed S] [--dir D]
 *        [--workers W]
 *
 * Faults while churning: a share of API requests answered 5xx (fake API
 * server "errorPercent"), every 10 s every watch dropped and the next
 * re-watches answered 410 Gone, the cloud's errors, throttling and lost
 * replies after writes, and a SIGKILL of the leading replica every
 * --kill-every seconds (it is restarted at once as the standby).
 *
 * A sampler thread LISTs the Services every 250 ms and remembers the first
 * address each Service (by UID) had: a later, different one is an address
 * change; two live Services showing one address in one sample share it.
 *
 * After the churn, faults stop, and within --settle seconds there must be:
 * no cloud LB (or target group, security group) without a live Service, no
 * Service left deleting, and every live Service's status and cloud LB right
 * (address, listeners = ports -> nodePorts, targets = every node). Then the
 * replicas get SIGTERM and must exit 0, no log may hold a sanitizer report
 * or a secret, and the figures are printed. Exit 0 when every check holds.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "common/util.h"
#include "test/integration/harness.h"
#include "test/soak/soak.h"

#define NS "default"
#define CLUSTER "soak"
#define TOKEN "soak-bearer-token-0b7f3c9e2d4a"
#define MAX_SLOTS 20000
#define N_REPLICAS 2

static const struct soak_cloud *const clouds[] = {
#ifdef LBP_SOAK_AWS
    &soak_cloud_aws,
#endif
#ifdef LBP_SOAK_GCE
    &soak_cloud_gce,
#endif
#ifdef LBP_SOAK_AZURE
    &soak_cloud_azure,
#endif
#ifdef LBP_SOAK_CLOUDSTACK
    &soak_cloud_cloudstack,
#endif
#ifdef LBP_SOAK_BAREMETAL
    &soak_cloud_baremetal,
#endif
    &soak_cloud_mock,       NULL};

struct opts {
    int services, seconds, rate, kill_every, settle, nodes, workers;
    unsigned seed;
    const char *cloud, *dir;
};

struct replica {
    pid_t pid;
    int port;
    char log[600];
};

/* One Service the sampler has seen, by UID. */
struct seen {
    char uid[64];
    char name[64];
    char addr[256]; /* the first address it showed */
    int changes;
    UT_hash_handle hh;
};

/* An address in one sample, for spotting two Services on it. */
struct owner {
    char addr[256];
    char uid[64];
    UT_hash_handle hh;
};

static struct opts o = {.services = 500,
                        .seconds = 90,
                        .rate = 20,
                        .kill_every = 60,
                        .settle = 30,
                        .nodes = 3,
                        .workers = 8,
                        .seed = 1,
                        .cloud = "aws"};
static const struct soak_cloud *cloud;
static struct lbp_fake_api api;
static char dir[400], cfg_path[600];
static struct replica reps[N_REPLICAS];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct seen *seen;
static long address_changes, shared_samples, shared_max, samples;
static long peak_rss_kb;
static volatile int stop_sampler;

/* Figures. */
static long n_created, n_updated, n_deleted, n_api_retries, n_kills, n_lease_exits, n_crashes,
    n_drops;

static void fail(const char *what)
{
    fprintf(stderr, "soak: %s\n", what);
}

/* ---- the API, as a user with retries ---- */

/*
 * A request that is retried while the fake answers with an injected fault
 * (5xx, 429) or not at all, as kubectl's users would; returns the final
 * status (a 4xx is final).
 */
long soak_api_do(const char *method, const char *path, const char *ctype, const char *body,
                 char **resp)
{
    long code = -1;
    for (int i = 0; i < 50; i++) {
        if (resp) {
            free(*resp);
            *resp = NULL;
        }
        code = lbp_fake_api_request(&api, method, path, ctype, body, resp);
        if (code > 0 && code != 429 && code < 500)
            return code;
        n_api_retries++;
        usleep(20000);
    }
    return code;
}

json_object *soak_api_json(const char *path)
{
    char *r = NULL;
    json_object *j = NULL;
    if (soak_api_do("GET", path, NULL, NULL, &r) == 200)
        j = json_tokener_parse(r);
    free(r);
    return j;
}

json_object *soak_jget(json_object *o_, const char *k)
{
    json_object *v = NULL;
    if (o_)
        json_object_object_get_ex(o_, k, &v);
    return v;
}

const char *soak_jstr(json_object *o_, const char *k)
{
    json_object *v = soak_jget(o_, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

size_t soak_jlen(json_object *a)
{
    return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

const char *soak_ingress(json_object *svc)
{
    json_object *ing = soak_jget(soak_jget(soak_jget(svc, "status"), "loadBalancer"), "ingress");
    json_object *e = soak_jlen(ing) ? json_object_array_get_idx(ing, 0) : NULL;
    return *soak_jstr(e, "ip") ? soak_jstr(e, "ip") : soak_jstr(e, "hostname");
}

static bool deleting(json_object *svc)
{
    return soak_jget(soak_jget(svc, "metadata"), "deletionTimestamp") != NULL;
}

/* At most 32 characters. */
void soak_lb_name(const char *uid, char *out, size_t cap)
{
    size_t j = 0;
    if (cap < 34)
        return;
    out[j++] = 'a';
    for (; *uid && j < 32; uid++)
        if (*uid != '-')
            out[j++] = *uid;
    out[j] = 0;
}

/* ---- the churn ---- */

struct slot {
    char name[64]; /* "" when free */
    unsigned gen;
};
static struct slot *slots;

/* A spec body fragment: 1..3 ports, 0..2 source ranges, the annotations. */
static void spec_parts(unsigned k, char *ports, size_t pcap, char *ranges, size_t rcap, char *ann,
                       size_t acap)
{
    static const int choices[] = {80, 443, 8080, 8443, 9000, 9090};
    int n = 1 + (int)(k % 3), start = (int)(k / 3 % 6);
    size_t off = 0;
    char changing[200];
    for (int i = 0; i < n; i++) {
        int p = choices[(start + i) % 6];
        off += (size_t)snprintf(ports + off, pcap - off,
                                "%s{\"name\":\"p%d\",\"protocol\":\"TCP\",\"port\":%d,"
                                "\"targetPort\":%d}",
                                i ? "," : "", p, p, p + 1);
    }
    switch (cloud->no_source_ranges ? 0 : k / 7 % 3) {
    case 0:
        snprintf(ranges, rcap, "[]");
        break;
    case 1:
        snprintf(ranges, rcap, "[\"10.%u.0.0/16\"]", k % 250);
        break;
    default:
        snprintf(ranges, rcap, "[\"10.%u.0.0/16\",\"192.168.%u.0/24\"]", k % 250, k % 200);
    }
    if (cloud->changing_annotation)
        cloud->changing_annotation(k, changing, sizeof(changing));
    else /* read by no cloud: the change must cost nothing and move nothing */
        snprintf(changing, sizeof(changing), "\"soak.lbprov.io/generation\":\"%u\"", k % 50);
    snprintf(ann, acap, "%s", changing);
}

static void create(unsigned i)
{
    struct slot *s = &slots[i];
    char body[4096], ports[1024], ranges[200], ann[400];
    unsigned k = (unsigned)rand();
    const char *fixed = cloud->fixed_annotations ? cloud->fixed_annotations(i) : "";
    s->gen++;
    snprintf(s->name, sizeof(s->name), "svc-%u-%u", i, s->gen);
    spec_parts(k, ports, sizeof(ports), ranges, sizeof(ranges), ann, sizeof(ann));
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"" NS "\",\"annotations\":{%s%s%s}},\"spec\":{\"type\":"
             "\"LoadBalancer\",\"selector\":{\"app\":\"%s\"},\"ports\":[%s],"
             "\"loadBalancerSourceRanges\":%s}}",
             s->name, fixed, *fixed ? "," : "", ann, s->name, ports, ranges);
    long code =
        soak_api_do("POST", "/api/v1/namespaces/" NS "/services", "application/json", body, NULL);
    /* 409: an earlier try was created before its answer was lost. */
    if (code == 201 || code == 409) {
        n_created++;
        if (cloud->created)
            cloud->created(s->name);
    } else
        fprintf(stderr, "soak: create %s: HTTP %ld\n", s->name, code);
}

static void update(unsigned i)
{
    char path[200], body[4096], ports[1024], ranges[200], ann[400];
    unsigned k = (unsigned)rand();
    spec_parts(k, ports, sizeof(ports), ranges, sizeof(ranges), ann, sizeof(ann));
    snprintf(path, sizeof(path), "/api/v1/namespaces/" NS "/services/%s", slots[i].name);
    /* One of: ports, source ranges, annotations; a merge patch never conflicts. */
    switch (k % 3) {
    case 0:
        snprintf(body, sizeof(body), "{\"spec\":{\"ports\":[%s]}}", ports);
        break;
    case 1:
        snprintf(body, sizeof(body), "{\"spec\":{\"loadBalancerSourceRanges\":%s}}", ranges);
        break;
    default:
        snprintf(body, sizeof(body), "{\"metadata\":{\"annotations\":{%s}}}", ann);
    }
    long code = soak_api_do("PATCH", path, "application/merge-patch+json", body, NULL);
    if (code == 200)
        n_updated++;
    else if (code != 404 && code != 422)
        fprintf(stderr, "soak: update %s: HTTP %ld\n", slots[i].name, code);
}

static void delete_one(unsigned i)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/namespaces/" NS "/services/%s", slots[i].name);
    long code = soak_api_do("DELETE", path, NULL, NULL, NULL);
    if (code == 200 || code == 404)
        n_deleted++;
    slots[i].name[0] = 0;
}

static void churn_one(void)
{
    unsigned i = (unsigned)rand() % (unsigned)o.services;
    if (!slots[i].name[0])
        create(i);
    else if (rand() % 10 < 7)
        update(i);
    else
        delete_one(i);
}

/* ---- replicas ---- */

static void start_replica(struct replica *r)
{
    char bind[64], workers[16];
    snprintf(bind, sizeof(bind), "127.0.0.1:%d", r->port);
    snprintf(workers, sizeof(workers), "%d", o.workers);
    const char *argv[] = {lbp_test_lbprov_bin(),
                          "controller",
                          "--cloud",
                          cloud->name,
                          "--cloud-config",
                          cfg_path,
                          "--cluster-name",
                          CLUSTER,
                          "--kubeconfig",
                          api.kubeconfig,
                          "--http-bind-address",
                          bind,
                          "--leader-elect",
                          "--leader-elect-lease-duration",
                          "3s",
                          "--leader-elect-renew-deadline",
                          "2s",
                          "--leader-elect-retry-period",
                          "500ms",
                          "--backoff-base",
                          "200ms",
                          "--backoff-max",
                          "2s",
                          "--orphan-grace-period",
                          "5s",
                          "--resync-period",
                          "10s",
                          "--kube-api-qps",
                          "0",
                          "--concurrent-service-syncs",
                          workers,
                          NULL};
    r->pid = lbp_test_spawn((char *const *)argv, r->log);
}

static size_t http_sink(char *p, size_t sz, size_t n, void *ud)
{
    struct {
        char *b;
        size_t len;
    } *s = ud;
    size_t add = sz * n;
    char *nb = realloc(s->b, s->len + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + s->len, p, add);
    s->b = nb;
    s->len += add;
    s->b[s->len] = 0;
    return add;
}

char *soak_http_get(int port, const char *path, long timeout_ms)
{
    char url[300];
    long code = 0;
    struct {
        char *b;
        size_t len;
    } s = {NULL, 0};
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (curl_easy_perform(c) != CURLE_OK ||
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200 || !s.b) {
        free(s.b);
        s.b = NULL;
    }
    curl_easy_cleanup(c);
    return s.b;
}

static bool leading(const struct replica *r)
{
    char *m = r->pid > 0 ? soak_http_get(r->port, "/metrics", 2000) : NULL;
    bool yes = m && strstr(m, "\nlbprov_leader_is_leader 1\n") != NULL;
    free(m);
    return yes;
}

int soak_slots(void)
{
    return o.services;
}

int soak_leader_port(void)
{
    for (int i = 0; i < N_REPLICAS; i++)
        if (leading(&reps[i]))
            return reps[i].port;
    return 0;
}

static void note_rss(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < N_REPLICAS; i++) {
        long kb = reps[i].pid > 0 ? lbp_test_hwm_kb(reps[i].pid) : 0;
        if (kb > peak_rss_kb)
            peak_rss_kb = kb;
    }
    pthread_mutex_unlock(&mu);
}

/*
 * Reaps replicas that ended on their own and, while the soak runs,
 * restarts them. Losing the Lease exits 1 by design (the log says so),
 * also during the settle window on a loaded machine; anything else is a
 * crash.
 */
static void reap(bool restart)
{
    for (int i = 0; i < N_REPLICAS; i++) {
        int st;
        if (reps[i].pid <= 0 || waitpid(reps[i].pid, &st, WNOHANG) != reps[i].pid)
            continue;
        if (WIFEXITED(st) && WEXITSTATUS(st) == 1) {
            n_lease_exits++;
            fprintf(stderr, "soak: replica %d exited 1 (leader election lost)%s\n", i,
                    restart ? "; restarting" : "");
        } else {
            n_crashes++;
            fprintf(stderr, "soak: replica %d ended unexpectedly (status 0x%x)%s\n", i, st,
                    restart ? "; restarting" : "");
        }
        pthread_mutex_lock(&mu);
        reps[i].pid = 0;
        pthread_mutex_unlock(&mu);
        if (restart)
            start_replica(&reps[i]);
    }
}

static void supervise(void)
{
    reap(true);
}

static void kill_leader(void)
{
    for (int i = 0; i < N_REPLICAS; i++) {
        if (!leading(&reps[i]))
            continue;
        note_rss();
        kill(reps[i].pid, SIGKILL);
        waitpid(reps[i].pid, NULL, 0);
        pthread_mutex_lock(&mu);
        reps[i].pid = 0;
        pthread_mutex_unlock(&mu);
        n_kills++;
        fprintf(stderr, "soak: SIGKILL replica %d (the leader)\n", i);
        start_replica(&reps[i]);
        return;
    }
}

/* ---- the sampler ---- */

static void sample(void)
{
    json_object *list = soak_api_json("/api/v1/namespaces/" NS "/services"), *items;
    struct owner *owners = NULL, *ow, *tmp;
    long shared = 0;
    if (!list)
        return;
    items = soak_jget(list, "items");
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < soak_jlen(items); i++) {
        json_object *svc = json_object_array_get_idx(items, i);
        const char *uid = soak_jstr(soak_jget(svc, "metadata"), "uid"), *addr = soak_ingress(svc);
        struct seen *s;
        if (!*addr || strlen(uid) >= sizeof(s->uid) || strlen(addr) >= sizeof(s->addr))
            continue;
        HASH_FIND_STR(seen, uid, s);
        if (!s && (s = calloc(1, sizeof(*s)))) {
            snprintf(s->uid, sizeof(s->uid), "%s", uid);
            snprintf(s->name, sizeof(s->name), "%s", soak_jstr(soak_jget(svc, "metadata"), "name"));
            snprintf(s->addr, sizeof(s->addr), "%s", addr);
            HASH_ADD_STR(seen, uid, s);
        } else if (s && strcmp(s->addr, addr) != 0) {
            address_changes++;
            s->changes++;
            fprintf(stderr, "soak: %s changed address %s -> %s\n", s->name, s->addr, addr);
            snprintf(s->addr, sizeof(s->addr), "%s", addr);
        }
        if (deleting(svc))
            continue;
        HASH_FIND_STR(owners, addr, ow);
        if (ow) {
            shared++;
            fprintf(stderr, "soak: %s and uid %s share %s\n", s ? s->name : uid, ow->uid, addr);
        } else if ((ow = calloc(1, sizeof(*ow)))) {
            snprintf(ow->addr, sizeof(ow->addr), "%s", addr);
            snprintf(ow->uid, sizeof(ow->uid), "%s", uid);
            HASH_ADD_STR(owners, addr, ow);
        }
    }
    samples++;
    shared_samples += shared > 0;
    if (shared > shared_max)
        shared_max = shared;
    pthread_mutex_unlock(&mu);
    HASH_ITER(hh, owners, ow, tmp)
    {
        HASH_DEL(owners, ow);
        free(ow);
    }
    json_object_put(list);
}

static void *sampler(void *arg)
{
    (void)arg;
    while (!stop_sampler) {
        sample();
        note_rss();
        usleep(250000);
    }
    return NULL;
}

/* ---- convergence ---- */

struct verdict {
    long live, stuck, wrong, leaks, leaked_owned;
    char first[512]; /* the first thing wrong, for the report */
};

__attribute__((format(printf, 2, 3))) static void why(struct verdict *v, const char *fmt, ...)
{
    va_list ap;
    if (v->first[0])
        return;
    va_start(ap, fmt);
    vsnprintf(v->first, sizeof(v->first), fmt, ap);
    va_end(ap);
}

/* Whether the LB has exactly the Service's ports, each to its nodePort on every node. */
static bool lb_right(json_object *svc, const struct soak_lb *lb, const char *nodes,
                     struct verdict *v)
{
    json_object *ports = soak_jget(soak_jget(svc, "spec"), "ports");
    const char *name = soak_jstr(soak_jget(svc, "metadata"), "name");
    if (strcmp(lb->addr, soak_ingress(svc)) != 0) {
        why(v, "%s: status shows another address than its LB (%s)", name, lb->addr);
        return false;
    }
    if (lb->addr_only)
        return true;
    if (lb->sources[0]) {
        json_object *r = soak_jget(soak_jget(svc, "spec"), "loadBalancerSourceRanges");
        const char *cidrs[16];
        size_t n = 0;
        char want[512];
        for (size_t i = 0; i < soak_jlen(r) && n < 16; i++)
            cidrs[n++] = json_object_get_string(json_object_array_get_idx(r, i));
        if (!n)
            cidrs[n++] = "0.0.0.0/0";
        soak_join_sorted(cidrs, n, want, sizeof(want));
        if (strcmp(want, lb->sources) != 0) {
            why(v, "%s: the cloud admits %s, the Service asks for %s", name, lb->sources, want);
            return false;
        }
    }
    if (lb->range_hi) {
        int lo = 65536, hi = 0;
        for (size_t i = 0; i < soak_jlen(ports); i++) {
            int port = json_object_get_int(soak_jget(json_object_array_get_idx(ports, i), "port"));
            lo = port < lo ? port : lo;
            hi = port > hi ? port : hi;
        }
        if (lo != lb->range_lo || hi != lb->range_hi || strcmp(lb->range_targets, nodes) != 0) {
            why(v, "%s: forwards %d-%d to %s, wants %d-%d to every node (%s)", name, lb->range_lo,
                lb->range_hi, lb->range_targets, lo, hi, nodes);
            return false;
        }
        return true;
    }
    if ((size_t)lb->n_listeners != soak_jlen(ports)) {
        why(v, "%s: listener count differs from its ports", name);
        return false;
    }
    for (size_t i = 0; i < soak_jlen(ports); i++) {
        json_object *p = json_object_array_get_idx(ports, i);
        int port = json_object_get_int(soak_jget(p, "port")),
            np = json_object_get_int(soak_jget(p, "nodePort"));
        bool found = false;
        for (int j = 0; j < lb->n_listeners && !found; j++)
            found = lb->l[j].port == port && lb->l[j].node_port == np &&
                    strcmp(lb->l[j].targets, nodes) == 0;
        if (!found) {
            why(v,
                "%s: no listener for port %d to nodePort %d on every node (%s); the first is "
                "%d to %d on %s",
                name, port, np, nodes, lb->n_listeners ? lb->l[0].port : -1,
                lb->n_listeners ? lb->l[0].node_port : -1,
                lb->n_listeners ? lb->l[0].targets : "nothing");
            return false;
        }
    }
    return true;
}

/* The cloud's state, fetched here and read by the cloud's snapshot. */
static int snapshot(struct soak_cloud_state *cs)
{
    json_object *st = NULL;
    int rc;
    memset(cs, 0, sizeof(*cs));
    if (cloud->state_path && !(st = cloud->fetch(cloud->state_path)))
        return -1;
    rc = cloud->snapshot(st, cs);
    json_object_put(st);
    if (rc)
        soak_cloud_state_free(cs);
    return rc;
}

static int counts(struct soak_cloud_counts *cc)
{
    json_object *c = NULL;
    int rc;
    if (cloud->counters_path && !(c = cloud->fetch(cloud->counters_path)))
        return -1;
    rc = cloud->counts(c, cc);
    json_object_put(c);
    return rc;
}

static int check(const char *nodes, struct verdict *v)
{
    struct soak_cloud_state cs;
    json_object *list, *items;
    char **live_lbs = NULL;
    size_t n_live = 0;
    memset(v, 0, sizeof(*v));
    if (!(list = soak_api_json("/api/v1/namespaces/" NS "/services")))
        return -1;
    if (snapshot(&cs) != 0) {
        json_object_put(list);
        return -1;
    }
    items = soak_jget(list, "items");
    live_lbs = calloc(soak_jlen(items) + 1, sizeof(*live_lbs));
    for (size_t i = 0; live_lbs && i < soak_jlen(items); i++) {
        json_object *svc = json_object_array_get_idx(items, i);
        const char *name = soak_jstr(soak_jget(svc, "metadata"), "name");
        char want[40];
        const struct soak_lb *lb = NULL;
        if (deleting(svc)) {
            v->stuck++;
            why(v, "%s: still deleting (finalizer kept)", name);
            continue;
        }
        v->live++;
        soak_lb_name(soak_jstr(soak_jget(svc, "metadata"), "uid"), want, sizeof(want));
        live_lbs[n_live++] = strdup(want);
        for (size_t j = 0; j < cs.n_lbs && !lb; j++)
            if (strcmp(cs.lbs[j].name, want) == 0)
                lb = &cs.lbs[j];
        if (!lb) {
            v->wrong++;
            why(v, "%s: no load balancer %s", name, want);
        } else if (!lb_right(svc, lb, nodes, v)) {
            v->wrong++;
        }
    }
    for (size_t j = 0; j < cs.n_lbs; j++) {
        bool owned = false;
        for (size_t k = 0; k < n_live && !owned; k++)
            owned = live_lbs[k] && strcmp(live_lbs[k], cs.lbs[j].name) == 0;
        if (!owned) {
            v->leaks++;
            why(v, "load balancer %s has no live Service", cs.lbs[j].name);
        }
    }
    for (size_t j = 0; j < cs.n_owned; j++) {
        bool owned = false;
        for (size_t k = 0; k < n_live && !owned; k++)
            owned = live_lbs[k] && strcmp(live_lbs[k], cs.owned[j][1]) == 0;
        if (!owned) {
            v->leaked_owned++;
            why(v, "%s has no live Service (owner \"%s\")", cs.owned[j][0], cs.owned[j][1]);
        }
    }
    for (size_t k = 0; k < n_live; k++)
        free(live_lbs[k]);
    free(live_lbs);
    soak_cloud_state_free(&cs);
    json_object_put(list);
    return 0;
}

static bool converged(const struct verdict *v)
{
    return v->stuck == 0 && v->wrong == 0 && v->leaks == 0 && v->leaked_owned == 0;
}

/* ---- logs ---- */

/* Lines of path containing needle (counted, the first printed). */
static long grep_file(const char *path, const char *needle, const char *label)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    if (!f)
        return 0;
    while (getline(&line, &cap, f) > 0)
        if (strstr(line, needle) && n++ == 0)
            fprintf(stderr, "soak: %s in %s: %s", label, path, line);
    free(line);
    fclose(f);
    return n;
}

/* Sanitizer reports and secrets in one log. */
static long scan_log(const char *path, long *secrets)
{
    static const char *const sanitizer[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                            "runtime error:", NULL};
    long reports = 0;
    for (int j = 0; sanitizer[j]; j++)
        reports += grep_file(path, sanitizer[j], "sanitizer report");
    for (int j = 0; cloud->secrets && cloud->secrets[j]; j++)
        *secrets += grep_file(path, cloud->secrets[j], "secret");
    *secrets += grep_file(path, TOKEN, "bearer token");
    return reports;
}

static long scan_logs(long *secrets)
{
    const char *const *more = cloud->logs ? cloud->logs() : NULL;
    long reports = 0;
    *secrets = 0;
    for (int i = 0; i < N_REPLICAS; i++)
        reports += scan_log(reps[i].log, secrets);
    reports += scan_log(api.log, secrets);
    for (int i = 0; more && more[i]; i++)
        reports += scan_log(more[i], secrets);
    return reports;
}

/* ---- the run ---- */

static long api_stat(const char *key)
{
    return lbp_fake_api_count(&api, key);
}

static long api_total(void)
{
    json_object *st = soak_api_json("/_fake/stats");
    long n = 0;
    json_object_object_foreach(st, k, val)
    {
        if (strncmp(k, "FAULT ", 6) != 0)
            n += (long)json_object_get_int64(val);
    }
    json_object_put(st);
    return n;
}

static void usage(void)
{
    fprintf(stderr, "usage: soak [--services N] [--seconds T]\n"
                    "            [--cloud aws|gce|azure|cloudstack|baremetal|mock] [--rate OPS/S]\n"
                    "            [--kill-every S] [--settle S] [--nodes K] [--seed S] [--dir D]\n"
                    "            [--workers W]   the replicas' --concurrent-service-syncs (8)\n");
}

static int parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        bool num = v && *v && end && !*end && n >= 0 && n <= 1000000;
        if (!v)
            return -1;
        if (!strcmp(a, "--cloud"))
            o.cloud = v;
        else if (!strcmp(a, "--dir"))
            o.dir = v;
        else if (!num)
            return -1;
        else if (!strcmp(a, "--services") && n >= 1 && n <= MAX_SLOTS)
            o.services = (int)n;
        else if (!strcmp(a, "--seconds") && n >= 1)
            o.seconds = (int)n;
        else if (!strcmp(a, "--rate") && n >= 1)
            o.rate = (int)n;
        else if (!strcmp(a, "--kill-every"))
            o.kill_every = (int)n;
        else if (!strcmp(a, "--settle") && n >= 1)
            o.settle = (int)n;
        else if (!strcmp(a, "--nodes") && n >= 1 && n <= 60)
            o.nodes = (int)n;
        else if (!strcmp(a, "--workers") && n >= 1 && n <= 256)
            o.workers = (int)n;
        else if (!strcmp(a, "--seed"))
            o.seed = (unsigned)n;
        else
            return -1;
        i++;
    }
    return 0;
}

static void node(int i)
{
    char body[1024], pid[300];
    cloud->provider_id(i, pid, sizeof(pid));
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-%d\"},"
             "\"spec\":{\"providerID\":\"%s\"},\"status\":{\"addresses\":[{\"type\":"
             "\"InternalIP\",\"address\":\"10.0.0.%d\"}],\"conditions\":[{\"type\":\"Ready\","
             "\"status\":\"True\"}]}}",
             i, pid, i);
    if (soak_api_do("POST", "/api/v1/nodes", "application/json", body, NULL) != 201)
        fail("cannot create a Node");
}

static int api_fault(const char *json)
{
    return lbp_fake_api_fault(&api, json);
}

int main(int argc, char **argv)
{
    struct lbp_fake_api_opts ao = {.token = TOKEN,
                                   .extra_arg = "--service-node-port-range=30000-50000"};
    char bind_arg[64];
    char nodes[512] = "", ids[64][40];
    const char *id_ptrs[64];
    pthread_t th;
    struct verdict v;
    struct soak_cloud_counts cc = {0};
    uint64_t t0, t_end, next_drop, next_kill, t_quiet, converge_ms = 0;
    long api_faults, api_ops, reports, secrets, bad_exits = 0;
    int rc = 1;

    if (parse_args(argc, argv) != 0) {
        usage();
        return 2;
    }
    for (int i = 0; clouds[i]; i++)
        if (!strcmp(clouds[i]->name, o.cloud))
            cloud = clouds[i];
    if (!cloud) {
        fprintf(stderr, "soak: unknown --cloud %s (built in:", o.cloud);
        for (int i = 0; clouds[i]; i++)
            fprintf(stderr, " %s", clouds[i]->name);
        fprintf(stderr, ")\n");
        return 2;
    }
    srand(o.seed);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!(slots = calloc((size_t)o.services, sizeof(*slots))))
        return 1;
    if (o.dir) {
        snprintf(dir, sizeof(dir), "%s", o.dir);
        mkdir(dir, 0755);
    } else {
        snprintf(dir, sizeof(dir), "/tmp/lbprov-soak.XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    }
    snprintf(cfg_path, sizeof(cfg_path), "%s/cloud.conf", dir);
    printf("soak: %d Services, %d s, cloud %s, %d ops/s, SIGKILL every %d s, %d workers, logs in "
           "%s\n",
           o.services, o.seconds, cloud->name, o.rate, o.kill_every, o.workers, dir);
    fflush(stdout);

    if (cloud->prepare && (rc = cloud->prepare(dir, o.nodes)) != 0) {
        fail(rc == 77 ? "skipped: this machine cannot build the cloud"
                      : "cannot prepare the cloud");
        rc = rc == 77 ? 77 : 1;
        goto out;
    }
    rc = 1;
    if (cloud->api_bind) {
        /* Reached from other namespaces too; its default nodePort range is plenty then. */
        snprintf(bind_arg, sizeof(bind_arg), "--bind=%s", cloud->api_bind);
        ao.extra_arg = bind_arg;
    }
    if (lbp_fake_api_start(&ao, &api) != 0) {
        fail("cannot start the fake API server");
        goto out;
    }
    if ((rc = cloud->start(dir, CLUSTER, o.nodes, cfg_path)) != 0) {
        fail(rc == 77 ? "skipped: this machine cannot run the cloud"
                      : "cannot start the cloud fake");
        rc = rc == 77 ? 77 : 1;
        goto out;
    }
    rc = 1;
    for (int i = 1; i <= o.nodes && i <= 64; i++) {
        node(i);
        cloud->target_id(i, ids[i - 1], sizeof(ids[0]));
        id_ptrs[i - 1] = ids[i - 1];
    }
    {
        /* Every node's target, sorted and joined as the snapshot joins them. */
        size_t off = 0;
        int n = o.nodes < 64 ? o.nodes : 64;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (strcmp(id_ptrs[i], id_ptrs[j]) > 0) {
                    const char *t = id_ptrs[i];
                    id_ptrs[i] = id_ptrs[j];
                    id_ptrs[j] = t;
                }
        for (int i = 0; i < n; i++)
            off += (size_t)snprintf(nodes + off, sizeof(nodes) - off, "%s%s", i ? "," : "",
                                    id_ptrs[i]);
    }
    for (int i = 0; i < N_REPLICAS; i++) {
        reps[i].port = lbp_test_free_port();
        snprintf(reps[i].log, sizeof(reps[i].log), "%s/controller-%d.log", dir, i);
        start_replica(&reps[i]);
    }
    pthread_create(&th, NULL, sampler, NULL);

    /* Faults on. */
    if (api_fault("{\"errorPercent\":5,\"code\":503,\"seed\":7}") != 0 ||
        cloud->faults(true, o.seed) != 0) {
        fail("cannot turn the faults on");
        goto out;
    }
    t0 = lbp_now_ms();
    t_end = t0 + (uint64_t)o.seconds * 1000u;
    next_drop = t0 + 10000;
    next_kill = o.kill_every ? t0 + (uint64_t)o.kill_every * 1000u : UINT64_MAX;
    for (long op = 0;; op++) {
        uint64_t t = lbp_now_ms(), due = t0 + (uint64_t)op * 1000u / (uint64_t)o.rate;
        if (t >= t_end)
            break;
        if (due > t)
            usleep((useconds_t)(due - t) * 1000u);
        churn_one();
        supervise();
        if (cloud->tick)
            cloud->tick(true);
        if (lbp_now_ms() >= next_drop) {
            /* Every watch ends; the next re-watches hear 410 Gone and must relist. */
            api_fault("{\"goneNextWatches\":4,\"goneAsHttp\":true,\"dropWatches\":true}");
            n_drops++;
            next_drop += 10000;
        }
        if (lbp_now_ms() >= next_kill) {
            kill_leader();
            next_kill += (uint64_t)o.kill_every * 1000u;
        }
    }

    /* Faults off; wait for convergence. */
    api_fault("{\"reset\":true}");
    cloud->faults(false, 0);
    t_quiet = lbp_now_ms();
    do {
        supervise();
        if (cloud->tick)
            cloud->tick(false);
        if (check(nodes, &v) == 0 && converged(&v)) {
            converge_ms = lbp_now_ms() - t_quiet;
            break;
        }
        usleep(500000);
    } while (lbp_now_ms() - t_quiet < (uint64_t)o.settle * 1000u);
    if (!converge_ms && check(nodes, &v) == 0 && converged(&v))
        converge_ms = lbp_now_ms() - t_quiet;
    stop_sampler = 1;
    pthread_join(th, NULL);
    note_rss();

    api_faults = api_stat("FAULT error") + api_stat("FAULT gone");
    api_ops = api_total();
    counts(&cc);
    reap(false); /* a replica that lost the Lease since the last look is not a bad exit */
    for (int i = 0; i < N_REPLICAS; i++) {
        int st;
        if (reps[i].pid <= 0)
            continue;
        st = lbp_test_stop(reps[i].pid, SIGTERM, 10000);
        if (st != 0) {
            bad_exits++;
            fprintf(stderr, "soak: replica %d: SIGTERM exit status %d\n", i, st);
        }
        reps[i].pid = 0;
    }
    if (cloud->finish)
        bad_exits += cloud->finish();
    /* The fake API server's log lives in its own dir, removed at stop: scan it first. */
    reports = scan_logs(&secrets);

    printf("\n== soak figures (%s)\n", cloud->name);
    printf("Services churned (created)      %ld\n", n_created);
    printf("Service updates / deletes       %ld / %ld\n", n_updated, n_deleted);
    printf("API requests (all clients)      %ld\n", api_ops);
    printf("cloud API calls                 %ld\n", cc.calls);
    printf("API faults injected             %ld (+ %ld watch drops)\n", api_faults, n_drops);
    printf("cloud faults injected           %ld (+ %ld lost replies)\n", cc.faults,
           cc.lost_replies);
    printf("leader SIGKILLs                 %ld\n", n_kills);
    printf("lease-loss exits (restarted)    %ld\n", n_lease_exits);
    printf("crashes                         %ld (+ %ld unclean SIGTERM exits, %ld sanitizer "
           "reports)\n",
           n_crashes, bad_exits, reports);
    if (converge_ms)
        printf("convergence after faults stop   %.1f s\n", (double)converge_ms / 1000.0);
    else
        printf("convergence after faults stop   NOT within %d s: %s\n", o.settle, v.first);
    printf("live Services at the end        %ld\n", v.live);
    printf("leaked LBs / other objects      %ld / %ld\n", v.leaks, v.leaked_owned);
    printf("stuck finalizers                %ld\n", v.stuck);
    printf("Services wrong at the end       %ld\n", v.wrong);
    printf("address changes                 %ld (%u Services seen with an address, %ld samples)\n",
           address_changes, HASH_COUNT(seen), samples);
    printf("shared addresses                %ld samples (at most %ld at once)\n", shared_samples,
           shared_max);
    printf("secrets in logs                 %ld\n", secrets);
    printf("controller peak RSS             %.1f MiB\n", (double)peak_rss_kb / 1024.0);
    if (cloud->report)
        cloud->report();
    fflush(stdout);
    rc = converge_ms && !address_changes && !shared_samples && !n_crashes && !bad_exits &&
                 !reports && !secrets
             ? 0
             : 1;
    printf("soak: %s\n", rc ? "FAILED" : "passed");
out:
    stop_sampler = 1;
    for (int i = 0; i < N_REPLICAS; i++)
        if (reps[i].pid > 0)
            lbp_test_stop(reps[i].pid, SIGKILL, 5000);
    cloud->stop();
    lbp_fake_api_stop(&api);
    {
        struct seen *s, *tmp;
        HASH_ITER(hh, seen, s, tmp)
        {
            HASH_DEL(seen, s);
            free(s);
        }
    }
    free(slots);
    curl_global_cleanup();
    return rc;
}

void soak_cloud_state_free(struct soak_cloud_state *s)
{
    free(s->lbs);
    free(s->owned);
    memset(s, 0, sizeof(*s));
}

struct soak_lb *soak_cloud_state_add(struct soak_cloud_state *s, const char *name, const char *addr)
{
    struct soak_lb *n = realloc(s->lbs, (s->n_lbs + 1) * sizeof(*n)), *lb;
    if (!n)
        return NULL;
    s->lbs = n;
    lb = &n[s->n_lbs++];
    memset(lb, 0, sizeof(*lb));
    snprintf(lb->name, sizeof(lb->name), "%s", name);
    snprintf(lb->addr, sizeof(lb->addr), "%s", addr);
    return lb;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void soak_join_sorted(const char **ids, size_t n, char *out, size_t cap)
{
    size_t off = 0;
    qsort(ids, n, sizeof(*ids), cmp_str);
    out[0] = 0;
    for (size_t i = 0; i < n && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? "," : "", ids[i]);
}

/* The harness's kubeconfig (token and all) with its loopback server moved to host. */
int soak_api_kubeconfig(const char *host, const char *path)
{
    char buf[4096], *at;
    FILE *in = fopen(api.kubeconfig, "r"), *out;
    size_t n = in ? fread(buf, 1, sizeof(buf) - 1, in) : 0;
    int rc;
    if (in)
        fclose(in);
    buf[n] = 0;
    if (!(at = strstr(buf, "127.0.0.1:")) || !(out = fopen(path, "w")))
        return -1;
    fprintf(out, "%.*s%s%s", (int)(at - buf), buf, host, at + strlen("127.0.0.1"));
    rc = fclose(out) == 0 ? 0 : -1;
    return rc;
}

void soak_seen_addresses(void (*fn)(const char *addr, void *ctx), void *ctx)
{
    struct seen *s, *tmp;
    pthread_mutex_lock(&mu);
    HASH_ITER(hh, seen, s, tmp)
    fn(s->addr, ctx);
    pthread_mutex_unlock(&mu);
}

int soak_cloud_state_own(struct soak_cloud_state *s, const char *what, const char *owner)
{
    char(*n)[2][128] = realloc(s->owned, (s->n_owned + 1) * sizeof(*n));
    if (!n)
        return -1;
    s->owned = n;
    snprintf(n[s->n_owned][0], sizeof(n[0][0]), "%s", what);
    snprintf(n[s->n_owned][1], sizeof(n[0][1]), "%s", owner);
    s->n_owned++;
    return 0;
}
