/*
 * wire_format.c — what asking the API server for protobuf instead of JSON
 * would change for lbprov's Services. A program, not a test: it prints
 * tables.
 *
 * The object is the Service the provision benchmark makes, as the fake API
 * server returns it after lbprov's finalizer and status writes
 * (test/data/kube/service_managed.json: kubectl's labels and
 * last-applied-configuration, two managedFields entries, every defaulted
 * field). Three payloads carry it: the object alone (a GET or a write
 * response), one watch event, and a LIST page of -n copies (names, uids,
 * IPs and ports made distinct). Each is written as JSON (what the fake and
 * a kube-apiserver send: a LIST's items without kind/apiVersion) and as
 * application/vnd.kubernetes.protobuf (wire_pb.h: "k8s\0" + Unknown
 * envelope, length-prefixed WatchEvent frames; the proto is
 * k8s_wire.proto, upstream's field numbers).
 *
 *   (1) bytes on the wire per payload.
 *   (2) client CPU per object: lbprov's real JSON path (kube/json_view.c
 *       tokenising + kube/decode.c into struct lbp_service; a watch line
 *       and a LIST page are cut and parsed the way kube/informer.c does)
 *       against protobuf-c unpacking + mapping the same fields into the
 *       same struct (one block, as the JSON decoder makes), with protobuf-c's
 *       messages in an arena and with plain malloc. Cache and handler work
 *       after decoding is the same for both and is left out.
 *   (3) encoding per object: json-c serialising a parsed tree against
 *       protobuf-c packing the message and its envelope — a stand-in for
 *       the server's encoding cost only; kube-apiserver is Go
 *       (encoding/json-style reflection against gogo-generated marshallers),
 *       so neither figure is the server's.
 *
 * Times are medians of -r runs (ns per object); instructions (user space,
 * perf_event_open) are printed when the kernel allows counting them.
 *
 * Usage: wire_format [-n LIST_ITEMS] [-r RUNS] [-i ITERS] [-d TESTDATA]
 * (-i: a fixed number of calls per run, for a run under callgrind)
 */
#include "kube/decode_int.h"
#include "kube/json_view.h"
#include "kube/kube.h"
#include "common/rc.h"
#include "test/bench/wire_pb.h"

#include <getopt.h>
#include <json-c/json.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 31
#define TARGET_NS 150e6 /* about this long per run */
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static void die(const char *what)
{
    fprintf(stderr, "wire_format: %s\n", what);
    exit(1);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------- instructions */

static int insn_fd = -1;

static void insn_open(void)
{
    struct perf_event_attr pe;
    memset(&pe, 0, sizeof(pe));
    pe.type = PERF_TYPE_HARDWARE;
    pe.size = sizeof(pe);
    pe.config = PERF_COUNT_HW_INSTRUCTIONS;
    pe.disabled = 1;
    pe.exclude_kernel = 1;
    pe.exclude_hv = 1;
    insn_fd = (int)syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

static void insn_start(void)
{
    if (insn_fd >= 0) {
        ioctl(insn_fd, PERF_EVENT_IOC_RESET, 0);
        ioctl(insn_fd, PERF_EVENT_IOC_ENABLE, 0);
    }
}

static double insn_stop(void)
{
    long long n = 0;
    if (insn_fd < 0)
        return -1;
    ioctl(insn_fd, PERF_EVENT_IOC_DISABLE, 0);
    if (read(insn_fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        return -1;
    return (double)n;
}

/* ---------------------------------------------------------------- payloads */

struct payloads {
    int n; /* LIST items */
    char *obj_json;
    size_t obj_json_len;
    char *watch_json; /* one watch line, newline included */
    size_t watch_json_len;
    char *list_json;
    size_t list_json_len;
    uint8_t *obj_pb, *watch_pb, *list_pb;
    size_t obj_pb_len, watch_pb_len, list_pb_len;
    json_object *tree;           /* the object, parsed: for the encode rows */
    Lbpwire__Service *msg;       /* the object as a message (in arena) */
    struct lbp_wire_arena build; /* messages built for the payloads */
};

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void set_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *member(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k, &v))
        die("test object lacks a field the benchmark varies");
    return v;
}

/* Copy i of the object: its own name, uid, clusterIP, nodePort and ingress IP. */
static json_object *variant(const char *json, int i)
{
    json_object *o = json_tokener_parse(json);
    char s[96];
    if (!o)
        die("test object is not JSON");
    json_object *md = member(o, "metadata"), *spec = member(o, "spec");
    snprintf(s, sizeof(s), "s%d", i);
    set_str(md, "name", s);
    snprintf(s, sizeof(s), "6f0c8e2a-3b1d-4c6e-9a57-%012d", i);
    set_str(md, "uid", s);
    snprintf(s, sizeof(s), "%d", 1000 + i);
    set_str(md, "resourceVersion", s);
    snprintf(s, sizeof(s), "10.96.%d.%d", (i >> 8) & 255, i & 255);
    set_str(spec, "clusterIP", s);
    json_object *ips = json_object_new_array();
    json_object_array_add(ips, json_object_new_string(s));
    json_object_object_add(spec, "clusterIPs", ips);
    json_object *port = json_object_array_get_idx(member(spec, "ports"), 0);
    json_object_object_add(port, "nodePort", json_object_new_int(30000 + i % 15000));
    json_object *ing = json_object_array_get_idx(
        member(member(member(o, "status"), "loadBalancer"), "ingress"), 0);
    snprintf(s, sizeof(s), "203.0.%d.%d", 113 + ((i >> 8) & 15), i & 255);
    set_str(ing, "ip", s);
    return o;
}

static void build_payloads(struct payloads *p, const char *path)
{
    Lbpwire__ServiceList list = LBPWIRE__SERVICE_LIST__INIT;
    Lbpwire__ListMeta lm = LBPWIRE__LIST_META__INIT;
    size_t len;
    char *json = read_all(path, &len);
    if (!json)
        die("cannot read the test object (-d names test/data)");
    lbp_wire_arena_init(&p->build, 1 << 20);

    /* the object as served, and its watch line */
    p->obj_json = json;
    p->obj_json_len = len;
    while (p->obj_json_len && (json[p->obj_json_len - 1] == '\n'))
        json[--p->obj_json_len] = '\0';
    if (!(p->tree = json_tokener_parse(json)))
        die("test object is not JSON");
    if (asprintf(&p->watch_json, "{\"type\":\"MODIFIED\",\"object\":%s}\n", json) < 0)
        die("out of memory");
    p->watch_json_len = strlen(p->watch_json);
    if (lbp_wire_service_from_json(&p->build, json, p->obj_json_len, &p->msg) ||
        lbp_wire_envelope(&p->msg->base, "v1", "Service", &p->obj_pb, &p->obj_pb_len) ||
        lbp_wire_watch_frame("MODIFIED", p->obj_pb, p->obj_pb_len, &p->watch_pb, &p->watch_pb_len))
        die("cannot encode the test object as protobuf");

    /*
     * a LIST page, the last of its list (no continue token): JSON items without
     * kind/apiVersion and no empty "continue", as a real server writes them
     */
    size_t cap = (size_t)p->n * (len + 64) + 256, at = 0;
    if (!(p->list_json = malloc(cap)) || !(list.items = calloc((size_t)p->n, sizeof(*list.items))))
        die("out of memory");
    at += (size_t)snprintf(p->list_json, cap,
                           "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":"
                           "{\"resourceVersion\":\"%d\"},\"items\":[",
                           1000 + p->n);
    for (int i = 0; i < p->n; i++) {
        json_object *o = variant(json, i);
        const char *s = json_object_to_json_string_ext(o, JSON_FLAGS);
        if (lbp_wire_service_from_json(&p->build, s, strlen(s), &list.items[i]))
            die("cannot encode a LIST item as protobuf");
        json_object_object_del(o, "kind");
        json_object_object_del(o, "apiVersion");
        s = json_object_to_json_string_ext(o, JSON_FLAGS);
        size_t sl = strlen(s);
        if (at + sl + 4 > cap)
            die("LIST page overflows its buffer");
        if (i)
            p->list_json[at++] = ',';
        memcpy(p->list_json + at, s, sl);
        at += sl;
        json_object_put(o);
    }
    memcpy(p->list_json + at, "]}", 3);
    p->list_json_len = at + 2;
    list.n_items = (size_t)p->n;
    char rv[32];
    snprintf(rv, sizeof(rv), "%d", 1000 + p->n);
    lm.selflink = (char *)"";
    lm.resourceversion = rv;
    lm.continue_ = (char *)"";
    list.metadata = &lm;
    if (lbp_wire_envelope(&list.base, "v1", "ServiceList", &p->list_pb, &p->list_pb_len))
        die("cannot encode the LIST page as protobuf");
    free(list.items);
}

static void free_payloads(struct payloads *p)
{
    free(p->obj_json);
    free(p->watch_json);
    free(p->list_json);
    free(p->obj_pb);
    free(p->watch_pb);
    free(p->list_pb);
    json_object_put(p->tree);
    lbp_wire_arena_free(&p->build);
}

/* ---------------------------------------------------------------- the paths timed */

struct ctx {
    struct payloads *p;
    struct lbp_json_view jv; /* as the informer's: reused, grown once */
    struct lbp_wire_arena arena;
    ProtobufCAllocator *alloc; /* NULL: protobuf-c's malloc */
};

static void check(int rc, const char *what)
{
    if (rc != LBP_OK)
        die(what);
}

/* Each returns the objects it decoded. */
static int json_object_path(struct ctx *c)
{
    struct lbp_service *s;
    check(lbp_kube_decode(LBP_KIND_SERVICE, c->p->obj_json, c->p->obj_json_len, (void **)&s),
          "JSON object did not decode");
    lbp_kube_obj_unref(s);
    return 1;
}

/* As kube/informer.c's handle_line: parse the line, type and object, decode the object. */
static int json_watch_path(struct ctx *c)
{
    struct lbp_json_view *v = &c->jv;
    struct lbp_service *s;
    char type[17];
    check(lbp_jv_parse(v, c->p->watch_json, c->p->watch_json_len), "watch line did not parse");
    int o = lbp_jv_get(v, 0, "object");
    check(lbp_jv_str(v, lbp_jv_get(v, 0, "type"), type, sizeof(type), NULL), "no event type");
    check(lbp_kube_decode_obj(LBP_KIND_SERVICE, v, o, (void **)&s), "watch object did not decode");
    lbp_kube_obj_unref(s);
    return 1;
}

/* As kube/informer.c's list_items_apply: each item cut out and parsed alone, then decoded. */
static int json_list_path(struct ctx *c)
{
    const char *body = c->p->list_json;
    size_t len = c->p->list_json_len, s, e;
    const char *items = strstr(body, "\"items\":[");
    int n = 0;
    if (!items)
        die("LIST page has no items");
    size_t at = (size_t)(items - body) + 9;
    for (;;) {
        struct lbp_service *svc;
        check(lbp_jv_value_span(body, len, at, &s, &e), "LIST item not found");
        check(lbp_jv_parse(&c->jv, body + s, e - s), "LIST item did not parse");
        check(lbp_kube_decode_obj(LBP_KIND_SERVICE, &c->jv, 0, (void **)&svc),
              "LIST item did not decode");
        lbp_kube_obj_unref(svc);
        n++;
        at = e;
        if (body[at] != ',')
            break;
        at++;
    }
    return n;
}

static void pb_done(struct ctx *c)
{
    if (c->alloc)
        lbp_wire_arena_reset(&c->arena);
}

static int pb_object_path(struct ctx *c)
{
    struct lbp_service *s;
    check(lbp_wire_decode_service(c->p->obj_pb, c->p->obj_pb_len, c->alloc, &s),
          "protobuf object did not decode");
    lbp_kube_obj_unref(s);
    pb_done(c);
    return 1;
}

static int pb_watch_path(struct ctx *c)
{
    struct lbp_service *s;
    char type[17];
    check(
        lbp_wire_decode_watch(c->p->watch_pb, c->p->watch_pb_len, c->alloc, type, sizeof(type), &s),
        "protobuf watch frame did not decode");
    lbp_kube_obj_unref(s);
    pb_done(c);
    return 1;
}

static int pb_list_path(struct ctx *c)
{
    struct lbp_service **v;
    size_t n;
    check(lbp_wire_decode_list(c->p->list_pb, c->p->list_pb_len, c->alloc, &v, &n),
          "protobuf LIST did not decode");
    for (size_t i = 0; i < n; i++)
        lbp_kube_obj_unref(v[i]);
    free(v);
    pb_done(c);
    return (int)n;
}

/*
 * One function per path and allocator, so that under callgrind each has
 * its own inclusive count (see README.md).
 */
static int pb_object_arena(struct ctx *c)
{
    c->alloc = &c->arena.pa;
    return pb_object_path(c);
}

static int pb_object_malloc(struct ctx *c)
{
    c->alloc = NULL;
    return pb_object_path(c);
}

static int pb_watch_arena(struct ctx *c)
{
    c->alloc = &c->arena.pa;
    return pb_watch_path(c);
}

static int pb_watch_malloc(struct ctx *c)
{
    c->alloc = NULL;
    return pb_watch_path(c);
}

static int pb_list_arena(struct ctx *c)
{
    c->alloc = &c->arena.pa;
    return pb_list_path(c);
}

static int pb_list_malloc(struct ctx *c)
{
    c->alloc = NULL;
    return pb_list_path(c);
}

static int json_encode_path(struct ctx *c)
{
    size_t len;
    /* json-c serialises again on every call (its buffer is reused) */
    if (!json_object_to_json_string_length(c->p->tree, JSON_FLAGS, &len) || !len)
        die("json-c did not serialise");
    return 1;
}

static int pb_encode_path(struct ctx *c)
{
    uint8_t *buf;
    size_t len;
    check(lbp_wire_envelope(&c->p->msg->base, "v1", "Service", &buf, &len), "pack failed");
    free(buf);
    return 1;
}

/* ---------------------------------------------------------------- measuring */

struct fig {
    double ns, insn; /* per object, medians; insn < 0: not counted */
};

static int dbl_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long fixed_iters; /* -i: this many calls per run instead of about TARGET_NS */

static struct fig measure(struct ctx *c, int (*fn)(struct ctx *), int runs)
{
    double ns[MAX_RUNS], insn[MAX_RUNS];
    struct fig f;
    long iters = 1;
    /* warm up, and size a run to about TARGET_NS */
    double t0 = now_ns();
    int per = fn(c);
    double one = now_ns() - t0;
    for (int i = 0; i < 3; i++)
        fn(c);
    iters = (long)(TARGET_NS / (one > 1 ? one : 1));
    if (iters < 3)
        iters = 3;
    if (iters > 2000000)
        iters = 2000000;
    if (fixed_iters)
        iters = fixed_iters;
    for (int r = 0; r < runs; r++) {
        long objs = 0;
        insn_start();
        t0 = now_ns();
        for (long i = 0; i < iters; i++)
            objs += fn(c);
        double dt = now_ns() - t0;
        double in = insn_stop();
        ns[r] = dt / (double)objs;
        insn[r] = in < 0 ? -1 : in / (double)objs;
    }
    (void)per;
    f.ns = median(ns, runs);
    f.insn = median(insn, runs);
    return f;
}

static void fmt_insn(char *buf, size_t cap, double v)
{
    if (v < 0)
        snprintf(buf, cap, "n/a");
    else
        snprintf(buf, cap, "%.0f", v);
}

static void row(const char *what, struct fig j, struct fig pa, struct fig pm)
{
    char ij[32], ip[32];
    fmt_insn(ij, sizeof(ij), j.insn);
    fmt_insn(ip, sizeof(ip), pa.insn);
    printf("| %-29s | %7.0f | %11.0f | %12.0f | %7.2f | %9s | %9s |\n", what, j.ns, pa.ns, pm.ns,
           pa.ns / j.ns, ij, ip);
}

int main(int argc, char **argv)
{
    const char *data_dir = LBP_BENCH_DATA_DIR;
    struct payloads p = {.n = 500};
    struct ctx c = {.p = &p};
    int runs = 7, opt;
    char path[1024];

    while ((opt = getopt(argc, argv, "n:r:d:i:")) != -1) {
        switch (opt) {
        case 'n':
            p.n = (int)strtol(optarg, NULL, 10);
            break;
        case 'r':
            runs = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 'i':
            fixed_iters = strtol(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr,
                    "usage: wire_format [-n LIST_ITEMS] [-r RUNS] [-i ITERS] [-d TESTDATA]\n");
            return 2;
        }
    }
    if (p.n < 1 || p.n > 100000 || runs < 1 || runs > MAX_RUNS || fixed_iters < 0 ||
        fixed_iters > 100000000)
        die("-n must be 1..100000, -r 1..31 and -i 0..100000000");
    snprintf(path, sizeof(path), "%s/kube/service_managed.json", data_dir);
    build_payloads(&p, path);
    lbp_jv_init(&c.jv, NULL, 0);
    check(lbp_jv_reserve(&c.jv, 1024), "out of memory");
    lbp_wire_arena_init(&c.arena, 4 << 20); /* a 500-item page unpacked fits one chunk */
    insn_open();

    printf("wire format: one LoadBalancer Service as the fake API server returns it "
           "(managedFields, last-applied, defaults)\n\n");
    printf("(1) bytes on the wire\n\n");
    printf("| payload                           |  JSON B | protobuf B | pb/JSON |\n");
    printf("|-----------------------------------|---------|------------|---------|\n");
    printf("| object (GET / write response)     | %7zu | %10zu | %7.2f |\n", p.obj_json_len,
           p.obj_pb_len, (double)p.obj_pb_len / (double)p.obj_json_len);
    printf("| watch event (line / frame)        | %7zu | %10zu | %7.2f |\n", p.watch_json_len,
           p.watch_pb_len, (double)p.watch_pb_len / (double)p.watch_json_len);
    printf("| LIST page of %5d, per object    | %7.0f | %10.0f | %7.2f |\n", p.n,
           (double)p.list_json_len / p.n, (double)p.list_pb_len / p.n,
           (double)p.list_pb_len / (double)p.list_json_len);
    printf("(LIST page total: %zu B JSON, %zu B protobuf)\n\n", p.list_json_len, p.list_pb_len);

    printf("(2) client CPU per object into struct lbp_service, median of %d runs%s\n\n", runs,
           insn_fd >= 0 ? "" : " (no instruction counter here: see README.md for callgrind)");
    printf("| payload                       | JSON ns | pb ns arena | pb ns malloc | pb/JSON | "
           "JSON insn |   pb insn |\n");
    printf("|-------------------------------|---------|-------------|--------------|---------|"
           "-----------|-----------|\n");
    struct {
        const char *name;
        int (*json)(struct ctx *);
        int (*pb_arena)(struct ctx *);
        int (*pb_malloc)(struct ctx *);
    } shapes[] = {
        {"object (GET / write response)", json_object_path, pb_object_arena, pb_object_malloc},
        {"watch event", json_watch_path, pb_watch_arena, pb_watch_malloc},
        {"LIST page, per item", json_list_path, pb_list_arena, pb_list_malloc},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        struct fig j = measure(&c, shapes[i].json, runs);
        struct fig pa = measure(&c, shapes[i].pb_arena, runs);
        struct fig pm = measure(&c, shapes[i].pb_malloc, runs);
        row(shapes[i].name, j, pa, pm);
    }
    printf("(pb/JSON and pb insn: protobuf-c with its messages in an arena)\n\n");

    printf("(3) encoding one object — a STAND-IN for the server's cost: C libraries here,\n"
           "    kube-apiserver encodes in Go; median of %d runs\n\n",
           runs);
    struct fig je = measure(&c, json_encode_path, runs);
    struct fig pe = measure(&c, pb_encode_path, runs);
    char ij[32], ip[32];
    fmt_insn(ij, sizeof(ij), je.insn);
    fmt_insn(ip, sizeof(ip), pe.insn);
    printf("| encoder                                  |     ns |      insn |\n");
    printf("|------------------------------------------|--------|-----------|\n");
    printf("| json-c serialise (parsed tree)           | %6.0f | %9s |\n", je.ns, ij);
    printf("| protobuf-c pack + k8s envelope           | %6.0f | %9s |\n", pe.ns, ip);
    printf("(protobuf / JSON: %.2f)\n", pe.ns / je.ns);

    if (insn_fd >= 0)
        close(insn_fd);
    lbp_jv_free(&c.jv);
    lbp_wire_arena_free(&c.arena);
    free_payloads(&p);
    return 0;
}
