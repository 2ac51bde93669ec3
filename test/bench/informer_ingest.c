/*
 * informer_ingest.c — how fast the informer ingests watch events and what a
 * cached object costs in memory. A program, not a test: it prints a table.
 *
 *   (a) in-process: a recorded stream of 10,000 Services × (ADDED + 9
 *       MODIFIED) = 100,000 watch lines (realistic LoadBalancer Services,
 *       ~1.2 KB each) is fed through the line splitter in 64 KiB chunks and
 *       the informer's event path (decode, cache publish, handlers), into a
 *       fresh informer each run; median of 5 runs. Also the allocations
 *       per event (test/bench/alloc_count.h): malloc/calloc/realloc calls
 *       in the whole process, json-c's included, and those of lbprov's
 *       own code.
 *   (b) end to end, when built with the fake API server harness: the same
 *       kind of events written to the fake, then one informer LISTs + WATCHes
 *       them over HTTP (see e2e() below for exactly what is measured).
 *   (c) memory: 10,000 cached Services and 10,000 cached Nodes (4.8 KB JSON
 *       each with 40 images, from test/data/kube): heap in use (mallinfo2)
 *       and VmRSS before and after, divided by the count; and, for
 *       comparison, the heap the same objects would take with one malloc
 *       per string and array instead of one block per object.
 *
 * Usage: informer_ingest [data-dir]   (default: the source tree's test/data)
 */
#include "kube/informer_int.h"
#include "kube/kube_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "test/bench/alloc_count.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef LBP_BENCH_E2E
#include "test/integration/harness.h"
#endif

#define N_SVC 10000
#define UPDATES 9
#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void die(const char *what)
{
    fprintf(stderr, "informer_ingest: %s\n", what);
    exit(1);
}

/* One realistic LoadBalancer Service as the API server prints it. */
static void add_service(struct lbp_buf *b, int i, unsigned long rv, int gen)
{
    int rc = lbp_buf_addf(
        b,
        "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"svc-%05d\","
        "\"namespace\":\"team-%02d\",\"uid\":\"6f0c8e2a-3b1d-4c6e-9a57-%012d\","
        "\"resourceVersion\":\"%lu\",\"creationTimestamp\":\"2026-11-20T08:15:30Z\","
        "\"labels\":{\"app.kubernetes.io/name\":\"svc-%05d\",\"app.kubernetes.io/part-of\":"
        "\"shop\"},\"annotations\":{\"lbprov.io/pool\":\"public\",\"lbprov.io/generation\":"
        "\"%d\"},\"finalizers\":[\"service.kubernetes.io/load-balancer-cleanup\"]},"
        "\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"appProtocol\":\"http\","
        "\"port\":80,\"targetPort\":8080,\"nodePort\":%d},{\"name\":\"https\",\"protocol\":"
        "\"TCP\",\"port\":443,\"targetPort\":\"https\",\"nodePort\":%d},{\"name\":\"dns\","
        "\"protocol\":\"UDP\",\"port\":53,\"targetPort\":5353,\"nodePort\":%d}],\"selector\":{"
        "\"app.kubernetes.io/name\":\"svc-%05d\"},\"clusterIP\":\"10.96.%d.%d\",\"clusterIPs\":["
        "\"10.96.%d.%d\"],\"type\":\"LoadBalancer\",\"sessionAffinity\":\"None\","
        "\"loadBalancerSourceRanges\":[\"203.0.113.0/24\"],\"externalTrafficPolicy\":\"Local\","
        "\"healthCheckNodePort\":%d,\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
        "\"allocateLoadBalancerNodePorts\":true,\"internalTrafficPolicy\":\"Cluster\"},"
        "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.%d.%d\",\"ipMode\":\"VIP\"}]}}"
        "}",
        i, i % 50, i, rv, i, gen, 30000 + i % 2000, 32000 + i % 700, 30000 + (i + 7) % 2000, i,
        i / 256, i % 256, i / 256, i % 256, 32100 + i % 600, i / 256 % 256, i % 256);
    if (rc)
        die("out of memory building the stream");
}

static void build_stream(struct lbp_buf *b)
{
    unsigned long rv = 1000;
    for (int gen = 0; gen <= UPDATES; gen++) {
        for (int i = 0; i < N_SVC; i++) {
            if (lbp_buf_addf(b, "{\"type\":\"%s\",\"object\":", gen ? "MODIFIED" : "ADDED"))
                die("out of memory");
            add_service(b, i, ++rv, gen);
            if (lbp_buf_adds(b, "}\n"))
                die("out of memory");
        }
    }
}

struct counts {
    unsigned long adds, updates, deletes;
};
static void h_add(void *ctx, const void *o)
{
    ((struct counts *)ctx)->adds++;
}
static void h_update(void *ctx, const void *a, const void *b)
{
    ((struct counts *)ctx)->updates++;
}
static void h_delete(void *ctx, const void *o)
{
    ((struct counts *)ctx)->deletes++;
}

static int feed_cb(void *ctx, const char *line, size_t len)
{
    return lbp_informer_feed_line(ctx, line, len) == LBP_OK ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void in_process(const struct lbp_buf *stream)
{
    double t[RUNS];
    uint64_t allocs = 0, allocs_all = 0;
    for (int r = 0; r < RUNS; r++) {
        struct counts c = {0};
        struct lbp_informer_handlers h = {
            .on_add = h_add, .on_update = h_update, .on_delete = h_delete, .ctx = &c};
        struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE};
        struct lbp_informer *inf;
        struct lbp_line_splitter sp;
        if (lbp_informer_new(NULL, &o, &h, &inf))
            die("informer_new");
        lbp_line_splitter_init(&sp, 16 << 20);
        uint64_t a0 = lbp_alloc_count(), all0 = lbp_alloc_count_all();
        double t0 = now_s();
        for (size_t off = 0; off < stream->len; off += 65536) {
            size_t n = stream->len - off < 65536 ? stream->len - off : 65536;
            if (lbp_line_splitter_feed(&sp, stream->data + off, n, feed_cb, inf))
                die("feed failed");
        }
        t[r] = now_s() - t0;
        allocs = lbp_alloc_count() - a0; /* the same every run */
        allocs_all = lbp_alloc_count_all() - all0;
        lbp_line_splitter_free(&sp);
        if (c.adds != N_SVC || c.updates != (unsigned long)N_SVC * UPDATES)
            die("handler counts do not match the stream");
        lbp_informer_free(inf);
    }
    qsort(t, RUNS, sizeof(t[0]), cmp_double);
    double med = t[RUNS / 2];
    unsigned long events = (unsigned long)N_SVC * (UPDATES + 1);
    printf("%-44s %12.0f events/s  %8.1f MB/s   (median of %d: %.3f s for %lu events, %.1f MB; "
           "min %.3f max %.3f)\n",
           "(a) in-process splitter+decode+cache", events / med, stream->len / med / 1e6, RUNS, med,
           events, stream->len / 1e6, t[0], t[RUNS - 1]);
    printf("%-44s %12.2f allocations/event (malloc+calloc+realloc in the process, %llu for %lu "
           "events; by lbprov's own code %.2f/event)\n",
           "(a) in-process allocations", (double)allocs_all / (double)events,
           (unsigned long long)allocs_all, events, (double)allocs / (double)events);
}

/* ---------------------------------------------------------------- memory */

/* The same object with one malloc per string and array, for comparison. */
static char *dup_s(const char *s, size_t *bytes)
{
    if (!s)
        return NULL;
    char *r = strdup(s);
    if (!r)
        die("oom");
    *bytes += malloc_usable_size(r);
    return r;
}

static void *dup_a(const void *src, size_t n, size_t sz, size_t *bytes)
{
    if (!n)
        return NULL;
    void *r = malloc(n * sz);
    if (!r)
        die("oom");
    memcpy(r, src, n * sz);
    *bytes += malloc_usable_size(r);
    return r;
}

static void split_meta(struct lbp_meta *m, size_t *b)
{
    m->namespace = dup_s(m->namespace, b);
    m->name = dup_s(m->name, b);
    m->key = dup_s(m->key, b);
    m->uid = dup_s(m->uid, b);
    m->resource_version = dup_s(m->resource_version, b);
    m->labels = dup_a(m->labels, m->n_labels, sizeof(*m->labels), b);
    for (size_t i = 0; i < m->n_labels; i++) {
        m->labels[i].key = dup_s(m->labels[i].key, b);
        m->labels[i].value = dup_s(m->labels[i].value, b);
    }
    m->annotations = dup_a(m->annotations, m->n_annotations, sizeof(*m->annotations), b);
    for (size_t i = 0; i < m->n_annotations; i++) {
        m->annotations[i].key = dup_s(m->annotations[i].key, b);
        m->annotations[i].value = dup_s(m->annotations[i].value, b);
    }
    m->finalizers = dup_a(m->finalizers, m->n_finalizers, sizeof(char *), b);
    for (size_t i = 0; i < m->n_finalizers; i++)
        m->finalizers[i] = dup_s(m->finalizers[i], b);
}

/*
 * Heap the split layout takes for a decoded Service. The copies are kept
 * (the program ends soon after): freeing them would need a second walker.
 */
static size_t split_service(const struct lbp_service *s)
{
    size_t b = 0;
    struct lbp_service *c = malloc(sizeof(*c));
    if (!c)
        die("oom");
    b += malloc_usable_size(c);
    *c = *s;
    split_meta(&c->meta, &b);
    c->type = dup_s(c->type, &b);
    c->ports = dup_a(c->ports, c->n_ports, sizeof(*c->ports), &b);
    for (size_t i = 0; i < c->n_ports; i++) {
        c->ports[i].name = dup_s(c->ports[i].name, &b);
        c->ports[i].protocol = dup_s(c->ports[i].protocol, &b);
        c->ports[i].target_port = dup_s(c->ports[i].target_port, &b);
        c->ports[i].app_protocol = dup_s(c->ports[i].app_protocol, &b);
    }
    c->lb_source_ranges = dup_a(c->lb_source_ranges, c->n_lb_source_ranges, sizeof(char *), &b);
    for (size_t i = 0; i < c->n_lb_source_ranges; i++)
        c->lb_source_ranges[i] = dup_s(c->lb_source_ranges[i], &b);
    c->selector = dup_a(c->selector, c->n_selector, sizeof(*c->selector), &b);
    for (size_t i = 0; i < c->n_selector; i++) {
        c->selector[i].key = dup_s(c->selector[i].key, &b);
        c->selector[i].value = dup_s(c->selector[i].value, &b);
    }
    c->session_affinity = dup_s(c->session_affinity, &b);
    c->external_traffic_policy = dup_s(c->external_traffic_policy, &b);
    c->internal_traffic_policy = dup_s(c->internal_traffic_policy, &b);
    c->ip_families = dup_a(c->ip_families, c->n_ip_families, sizeof(char *), &b);
    for (size_t i = 0; i < c->n_ip_families; i++)
        c->ip_families[i] = dup_s(c->ip_families[i], &b);
    c->ip_family_policy = dup_s(c->ip_family_policy, &b);
    c->cluster_ip = dup_s(c->cluster_ip, &b);
    c->ingress = dup_a(c->ingress, c->n_ingress, sizeof(*c->ingress), &b);
    for (size_t i = 0; i < c->n_ingress; i++) {
        c->ingress[i].ip = dup_s(c->ingress[i].ip, &b);
        c->ingress[i].ip_mode = dup_s(c->ingress[i].ip_mode, &b);
    }
    return b;
}

static size_t split_node(const struct lbp_node *n)
{
    size_t b = 0;
    struct lbp_node *c = malloc(sizeof(*c));
    if (!c)
        die("oom");
    b += malloc_usable_size(c);
    *c = *n;
    split_meta(&c->meta, &b);
    c->provider_id = dup_s(c->provider_id, &b);
    c->addresses = dup_a(c->addresses, c->n_addresses, sizeof(*c->addresses), &b);
    for (size_t i = 0; i < c->n_addresses; i++) {
        c->addresses[i].type = dup_s(c->addresses[i].type, &b);
        c->addresses[i].address = dup_s(c->addresses[i].address, &b);
    }
    c->taints = dup_a(c->taints, c->n_taints, sizeof(*c->taints), &b);
    for (size_t i = 0; i < c->n_taints; i++) {
        c->taints[i].key = dup_s(c->taints[i].key, &b);
        c->taints[i].value = dup_s(c->taints[i].value, &b);
        c->taints[i].effect = dup_s(c->taints[i].effect, &b);
    }
    return b;
}

static char *load(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/kube/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the Node fixture (pass the test/data directory)");
    struct lbp_buf b;
    lbp_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (lbp_buf_add(&b, chunk, n))
            die("fixture too big");
    fclose(f);
    return lbp_buf_take(&b, len);
}

/*
 * Feeds n ADDED events of one kind and prints heap and RSS per object. Runs
 * in a child process so each row starts from a heap nothing else has used.
 */
static void memory_row(const char *label, enum lbp_kind kind, const char *tmpl, size_t tmpl_len)
{
    struct lbp_informer_opts o = {.kind = kind};
    struct lbp_informer *inf;
    struct lbp_buf line;
    const int n = N_SVC;
    size_t split_bytes = 0, block_bytes = 0, json_bytes = 0;

    if (lbp_informer_new(NULL, &o, NULL, &inf))
        die("informer_new");
    lbp_buf_init(&line, 1 << 20);
    malloc_trim(0);
    size_t h0 = heap_used();
    long r0 = vm_rss_kb();
    for (int i = 0; i < n; i++) {
        lbp_buf_reset(&line);
        if (kind == LBP_KIND_SERVICE) {
            if (lbp_buf_adds(&line, "{\"type\":\"ADDED\",\"object\":"))
                die("oom");
            add_service(&line, i, 1000 + (unsigned long)i, 0);
        } else {
            /* The fixture Node renamed: "worker-1" → "worker-1-NNNNN". */
            const char *at = strstr(tmpl, "\"name\":\"worker-1\"");
            if (!at)
                die("Node fixture without name");
            size_t pre = (size_t)(at - tmpl) + strlen("\"name\":\"worker-1");
            if (lbp_buf_adds(&line, "{\"type\":\"ADDED\",\"object\":") ||
                lbp_buf_add(&line, tmpl, pre) || lbp_buf_addf(&line, "-%05d", i) ||
                lbp_buf_add(&line, tmpl + pre, tmpl_len - pre))
                die("oom");
            while (line.len && (line.data[line.len - 1] == '\n'))
                line.data[--line.len] = '\0';
        }
        json_bytes += line.len - strlen("{\"type\":\"ADDED\",\"object\":");
        if (lbp_buf_adds(&line, "}") || lbp_informer_feed_line(inf, line.data, line.len))
            die("feeding failed");
    }
    lbp_buf_free(&line);
    malloc_trim(0);
    size_t h1 = heap_used();
    long r1 = vm_rss_kb();

    void **objs;
    size_t cnt = lbp_informer_list(inf, &objs);
    if (cnt != (size_t)n)
        die("cache size mismatch");
    for (size_t i = 0; i < cnt; i++) {
        block_bytes += malloc_usable_size(objs[i]);
        split_bytes += kind == LBP_KIND_SERVICE ? split_service(objs[i]) : split_node(objs[i]);
    }
    lbp_informer_list_free(objs, cnt);
    printf("%-44s %8.0f B heap  %8.0f B RSS   (block %4.0f B/obj; one malloc per field would "
           "be %4.0f B/obj; JSON %zu B)\n",
           label, (double)(h1 - h0) / n, (double)(r1 - r0) * 1024.0 / n, (double)block_bytes / n,
           (double)split_bytes / n, kind == LBP_KIND_SERVICE ? (size_t)1200 : tmpl_len);
    lbp_informer_free(inf);
}

/* ---------------------------------------------------------------- end to end */

#ifdef LBP_BENCH_E2E
#define E2E_SVC N_SVC

struct replay {
    struct lbp_informer *inf;
    unsigned long lines, want;
    size_t bytes;
};

static int replay_cb(void *ctx, const char *line, size_t len)
{
    struct replay *r = ctx;
    r->bytes += len + 1;
    if (lbp_informer_feed_line(r->inf, line, len) != LBP_OK)
        return 1;
    /* Bookmarks count as lines but not as the events we wait for. */
    if (strstr(line, "\"BOOKMARK\"") == NULL)
        r->lines++;
    return r->lines >= r->want;
}

static char *list_rv(struct lbp_kube_client *c)
{
    struct lbp_kube_response r;
    char *rv = NULL;
    if (lbp_kube_get(c, "/api/v1/services?limit=1", &r) == LBP_OK) {
        const char *p = strstr(r.body, "\"resourceVersion\":\"");
        if (p) {
            p += strlen("\"resourceVersion\":\"");
            rv = strndup(p, strcspn(p, "\""));
        }
    }
    lbp_kube_response_free(&r);
    return rv;
}

/*
 * (b) end to end: E2E_SVC Services × (create + 9 merge patches) are written
 * to the fake (its history holds them all); then (b1) one watch from the
 * resourceVersion before the writes replays every event over HTTP through
 * the client's streaming GET, the line splitter and the informer's event
 * path; (b2) a fresh informer LISTs (pages of 500) the final set.
 */
static void e2e(void)
{
    struct lbp_fake_api api;
    struct lbp_fake_api_opts fo = {.history = E2E_SVC * (UPDATES + 1) + 1000};
    struct lbp_kube_config_opts co = {0};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *c = NULL;
    char err[256], path[256], body[2048];
    char *rv0 = NULL;

    if (lbp_fake_api_start(&fo, &api) != 0) {
        printf("(b) end to end: the fake API server did not start\n");
        return;
    }
    co.kubeconfig = api.kubeconfig;
    if (lbp_kube_config_load(&co, &cfg, err, sizeof(err)) ||
        lbp_kube_client_new(cfg, NULL, &c, err, sizeof(err)) || !(rv0 = list_rv(c))) {
        printf("(b) end to end: no client: %s\n", err);
        goto out;
    }
    for (int n = 0; n < 50; n++) {
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                 "\"team-%02d\"}}",
                 n);
        int rc = lbp_kube_post(c, "/api/v1/namespaces", body, NULL);
        if (rc && rc != LBP_CONFLICT) {
            printf("(b) end to end: namespace: %s\n", lbp_rc_str(rc));
            goto out;
        }
    }
    free(rv0);
    if (!(rv0 = list_rv(c)))
        goto out;
    double t0 = now_s();
    for (int gen = 0; gen <= UPDATES; gen++) {
        for (int i = 0; i < E2E_SVC; i++) {
            int rc;
            if (gen == 0) {
                /* The server assigns resourceVersion, clusterIP and node ports. */
                snprintf(body, sizeof(body),
                         "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
                         "\"svc-%05d\",\"namespace\":\"team-%02d\",\"labels\":{"
                         "\"app.kubernetes.io/name\":\"svc-%05d\",\"app.kubernetes.io/part-of\":"
                         "\"shop\"},\"annotations\":{\"lbprov.io/pool\":\"public\","
                         "\"lbprov.io/generation\":\"0\"},\"finalizers\":["
                         "\"service.kubernetes.io/load-balancer-cleanup\"]},\"spec\":{"
                         "\"type\":\"LoadBalancer\",\"ports\":[{\"name\":\"http\",\"protocol\":"
                         "\"TCP\",\"appProtocol\":\"http\",\"port\":80,\"targetPort\":8080},{"
                         "\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":"
                         "\"https\"},{\"name\":\"dns\",\"protocol\":\"UDP\",\"port\":53,"
                         "\"targetPort\":5353}],\"selector\":{\"app.kubernetes.io/name\":"
                         "\"svc-%05d\"},\"loadBalancerSourceRanges\":[\"203.0.113.0/24\"],"
                         "\"externalTrafficPolicy\":\"Cluster\",\"allocateLoadBalancerNodePorts\":"
                         "false}}",
                         i, i % 50, i, i);
                snprintf(path, sizeof(path), "/api/v1/namespaces/team-%02d/services", i % 50);
                struct lbp_kube_response resp;
                rc = lbp_kube_post(c, path, body, &resp);
                if (rc)
                    printf("(b) POST %s: %s\n", path, resp.message ? resp.message : "");
                lbp_kube_response_free(&resp);
            } else {
                snprintf(path, sizeof(path), "/api/v1/namespaces/team-%02d/services/svc-%05d",
                         i % 50, i);
                snprintf(body, sizeof(body),
                         "{\"metadata\":{\"annotations\":{\"lbprov.io/generation\":\"%d\"}}}", gen);
                rc = lbp_kube_patch(c, path, LBP_PATCH_MERGE, body, NULL);
            }
            if (rc) {
                printf("(b) end to end: write failed: %s\n", lbp_rc_str(rc));
                goto out;
            }
        }
    }
    double tw = now_s() - t0;
    unsigned long events = (unsigned long)E2E_SVC * (UPDATES + 1);
    printf("%-44s %12.0f writes/s  (%lu writes, %.2f s; for scale only)\n",
           "    writes to the fake (one client)", events / tw, events, tw);

    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE};
    struct replay r = {.want = events};
    if (lbp_informer_new(NULL, &o, NULL, &r.inf))
        goto out;
    snprintf(path, sizeof(path), "/api/v1/services?watch=1&resourceVersion=%s&timeoutSeconds=120",
             rv0);
    t0 = now_s();
    int rc = lbp_kube_stream(c, path, 0, 30000, replay_cb, &r, NULL);
    double ts = now_s() - t0;
    lbp_informer_free(r.inf);
    if (rc || r.lines != events)
        printf("(b1) watch replay: %s after %lu of %lu events\n", lbp_rc_str(rc), r.lines, events);
    else
        printf("%-44s %12.0f events/s  %8.1f MB/s   (%lu events, %.1f MB, %.3f s)\n",
               "(b1) watch replay over HTTP, end to end", events / ts, r.bytes / ts / 1e6, events,
               r.bytes / 1e6, ts);

    struct lbp_informer *inf = NULL;
    struct lbp_informer_opts lo = {.kind = LBP_KIND_SERVICE, .page_size = 500};
    if (lbp_informer_new(c, &lo, NULL, &inf) == LBP_OK) {
        t0 = now_s();
        lbp_informer_start(inf);
        rc = lbp_informer_wait_synced(inf, 60000);
        double tl = now_s() - t0;
        void **objs;
        size_t n = lbp_informer_list(inf, &objs);
        lbp_informer_list_free(objs, n);
        if (rc)
            printf("(b2) informer LIST: not synced: %s\n", lbp_rc_str(rc));
        else
            printf("%-44s %12.0f objects/s (%zu objects in pages of 500, %.3f s)\n",
                   "(b2) informer initial LIST over HTTP", n / tl, n, tl);
        lbp_informer_free(inf);
    }
out:
    free(rv0);
    lbp_kube_client_free(c);
    lbp_kube_config_free(cfg);
    lbp_fake_api_stop(&api);
}
#endif

int main(int argc, char **argv)
{
    const char *data = argc > 1 ? argv[1] : LBP_BENCH_DATA_DIR;
    struct lbp_buf stream;
    size_t node_len;
    char *node = load(data, "node_40images.json", &node_len);

    lbp_log_verbosity = 0;
    lbp_alloc_count_start();
    printf("informer_ingest: %d Services x (1 ADDED + %d MODIFIED)\n\n", N_SVC, UPDATES);
    for (int k = 0; k < 2; k++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            if (k == 0)
                memory_row("(c) per cached Service (10,000)", LBP_KIND_SERVICE, NULL, 0);
            else
                memory_row("(c) per cached Node, 40 images (10,000)", LBP_KIND_NODE, node,
                           node_len);
            fflush(stdout);
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("memory measurement failed");
    }
    free(node);

    lbp_buf_init(&stream, (size_t)1 << 31);
    build_stream(&stream);
    in_process(&stream);
    lbp_buf_free(&stream);
#ifdef LBP_BENCH_E2E
    e2e();
#else
    printf("(b) end to end: not built (no fake API server harness in this tree)\n");
#endif
    return 0;
}
