/*
 * bench_util.c — see bench_util.h. The worker pool hands out indexes under
 * one mutex: the benchmarks measure the provider's calls, and a shared
 * counter is cheaper than anything the calls themselves do.
 */
#include "test/bench/bench_util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "provider/http.h"

int bench_opts(int argc, char **argv, struct bench_opts *o, const struct bench_flag *more)
{
    const struct bench_flag common[] = {{"--latency-ms", &o->latency_ms},
                                        {"--workers", &o->workers},
                                        {"--services", &o->services},
                                        {"--qps", &o->qps},
                                        {NULL, NULL}};
    for (int i = 1; i + 1 < argc; i += 2) {
        long v;
        if (lbp_parse_long(argv[i + 1], 0, 100000, &v) != LBP_OK) {
            fprintf(stderr, "bad value %s\n", argv[i + 1]);
            return -1;
        }
        for (const struct bench_flag *f = common; f->name; f++)
            if (!strcmp(argv[i], f->name))
                *f->dst = (int)v;
        for (const struct bench_flag *f = more; f && f->name; f++)
            if (!strcmp(argv[i], f->name))
                *f->dst = (int)v;
    }
    return 0;
}

struct lbp_provider_ctx *bench_init(const struct lbp_provider *p, const char *fmt, ...)
{
    char path[] = "/tmp/lbp-bench-XXXXXX", err[256];
    struct lbp_provider_ctx *ctx = NULL;
    va_list ap;
    FILE *f;
    int fd = mkstemp(path);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        perror("bench config");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    if (fclose(f) != 0)
        perror("bench config");
    else if (p->init(path, "bench", &ctx, err, sizeof(err)) != LBP_OK)
        fprintf(stderr, "init: %s\n", err);
    unlink(path);
    return ctx;
}

void bench_svc_make(struct bench_svc *s, int idx, unsigned tag, const struct lbp_lb_port *ports,
                    size_t n_ports, int node_port, int first_node, size_t n_nodes)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->ns, sizeof(s->ns), "bench");
    snprintf(s->name, sizeof(s->name), "svc-%d", idx);
    snprintf(s->uid, sizeof(s->uid), "%08x-0000-4000-8000-%012x", idx, tag);
    if (n_ports > LBP_ARRAY_LEN(s->ports))
        n_ports = LBP_ARRAY_LEN(s->ports);
    if (n_nodes > BENCH_NODES)
        n_nodes = BENCH_NODES;
    for (size_t i = 0; i < n_ports; i++) {
        s->ports[i] = ports[i];
        s->ports[i].node_port = node_port + (int)i;
    }
    for (size_t i = 0; i < n_nodes; i++) {
        snprintf(s->nname[i], sizeof(s->nname[i]), "node-%d", first_node + (int)i);
        s->nodes[i].name = s->nname[i];
    }
    s->spec.cluster_name = "bench";
    s->spec.namespace = s->ns;
    s->spec.name = s->name;
    s->spec.uid = s->uid;
    lbp_lb_name(s->uid, s->spec.lb_name);
    s->spec.ports = s->ports;
    s->spec.n_ports = n_ports;
    s->spec.nodes = s->nodes;
    s->spec.n_nodes = n_nodes;
}

struct pool {
    int (*one)(void *ud, int i);
    void *ud;
    int n, next;
    struct bench_tally tally;
    pthread_mutex_t mu;
};

static void *pool_worker(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        int i, r;
        pthread_mutex_lock(&p->mu);
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            break;
        r = p->one(p->ud, i);
        pthread_mutex_lock(&p->mu);
        if (r < 0)
            p->tally.failures++;
        else
            p->tally.sum += r;
        pthread_mutex_unlock(&p->mu);
    }
    lbp_http_thread_cleanup();
    return NULL;
}

struct bench_tally bench_run(int workers, int n, int (*one)(void *ud, int i), void *ud)
{
    struct pool p = {.one = one, .ud = ud, .n = n};
    pthread_t th[64];
    int w = workers < 1 ? 1 : (workers > 64 ? 64 : workers), started = 0;
    pthread_mutex_init(&p.mu, NULL);
    for (int i = 0; i < w; i++)
        if (pthread_create(&th[started], NULL, pool_worker, &p) == 0)
            started++;
    /* With no thread at all the caller's thread does the work. */
    if (!started)
        pool_worker(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    return p.tally;
}

int bench_update_targets(void *ud, int i)
{
    struct bench_targets *t = ud;
    struct lbp_call call = {0};
    if (t->p->update_targets(t->ctx, &t->svcs[i].spec, &call) != LBP_OK) {
        fprintf(stderr, "update_targets %d: %s\n", i, call.err);
        return -1;
    }
    return 0;
}

void bench_table_head(int w, const char *const *cols, const int *widths, size_t n)
{
    printf("| %-*s |", w, "scenario");
    for (size_t i = 0; i < n; i++)
        printf(" %*s |", widths[i], cols[i]);
    printf("\n|");
    for (int k = 0; k < w + 2; k++)
        putchar('-');
    for (size_t i = 0; i < n; i++) {
        putchar('|');
        for (int k = 0; k < widths[i] + 2; k++)
            putchar('-');
    }
    printf("|\n");
}

void bench_row(int w, const char *what, long calls, double secs)
{
    printf("| %-*s | %6ld | %8.2f |\n", w, what, calls, secs);
}

struct bench_tally bench_targets_row(const struct bench_opts *o, const struct lbp_provider *p,
                                     struct lbp_provider_ctx *ctx, struct bench_svc *svcs, int w,
                                     const char *what, long (*calls)(void *ud), void *ud)
{
    struct bench_targets t = {.p = p, .ctx = ctx, .svcs = svcs};
    uint64_t t0 = lbp_now_ms();
    struct bench_tally tally = bench_run(o->workers, o->services, bench_update_targets, &t);
    bench_row(w, what, calls(ud), (double)(lbp_now_ms() - t0) / 1000);
    return tally;
}
