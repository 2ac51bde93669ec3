/*
 * bench_util.h — what the cloud benchmarks (aws_bench, gce_bench, cs_bench,
 * azure_bench) share: "--name N" argument pairs, a Service spec on a run
 * of numbered nodes, W worker threads draining a list of Services as the
 * controller's workers would, and the Markdown table they print.
 */
#ifndef LBP_BENCH_UTIL_H
#define LBP_BENCH_UTIL_H

#include <stddef.h>

#include "provider/provider.h"

#define BENCH_NODES 100

/* One "--name N" flag: N (0..100000) goes to *dst. */
struct bench_flag {
    const char *name;
    int *dst;
};

/* The flags every cloud benchmark takes. */
struct bench_opts {
    int latency_ms; /* --latency-ms: the fake's delay per call */
    int workers;    /* --workers: threads, as the controller's workers */
    int services;   /* --services: Services in the many-Service rows */
    int qps;        /* --qps: the provider's client rate limit */
};
#define BENCH_OPTS_DEFAULT                                                                         \
    {                                                                                              \
        50, 8, 100, 200                                                                            \
    }

/*
 * Reads argv as "--name N" pairs into o, then the benchmark's own flags
 * (more, a NULL name ends it; may be NULL); an unknown name is passed
 * over. 0, or -1 after naming a bad value.
 */
int bench_opts(int argc, char **argv, struct bench_opts *o, const struct bench_flag *more);

/*
 * Writes the cloud config (printf-style) to a temp file, runs p->init on
 * it as cluster "bench" and removes the file. The context, or NULL after
 * naming what failed.
 */
struct lbp_provider_ctx *bench_init(const struct lbp_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A Service spec and the storage its pointers point into. */
struct bench_svc {
    char ns[32], name[32], uid[48];
    struct lbp_lb_port ports[3];
    struct lbp_lb_node nodes[BENCH_NODES + 1];
    char pid[BENCH_NODES + 1][64], nname[BENCH_NODES + 1][32];
    struct lbp_lb_annotation ann[1];
    struct lbp_lb_spec spec;
};

/*
 * Service bench/svc-<idx>, uid "<idx>-0000-4000-8000-<tag>" (hex), ports
 * (at most 3) with node ports node_port, node_port+1, ..., and nodes
 * node-<first_node>... (at most BENCH_NODES) without provider ids: the
 * caller fills pid[] and sets nodes[i].provider_id where its cloud needs one.
 */
void bench_svc_make(struct bench_svc *s, int idx, unsigned tag, const struct lbp_lb_port *ports,
                    size_t n_ports, int node_port, int first_node, size_t n_nodes);

/* What bench_run's workers add up. */
struct bench_tally {
    int failures; /* calls of one that returned < 0 */
    long sum;     /* the other returns, added */
};

/*
 * Runs one(ud, i) for i in 0..n-1 on `workers` threads (1..64), each
 * taking the next index as it gets free, then frees each thread's HTTP
 * handle as the controller's workers do.
 */
struct bench_tally bench_run(int workers, int n, int (*one)(void *ud, int i), void *ud);

/* update_targets of svcs[i] through P; -1 (after printing why) when it fails. */
struct bench_targets {
    const struct lbp_provider *p;
    struct lbp_provider_ctx *ctx;
    struct bench_svc *svcs;
};
int bench_update_targets(void *ud, int i);
/*
 * update_targets of every Service of svcs (o->services of them) on
 * o->workers threads, timed and printed as a bench_row of width w with
 * what and the count calls(ud) gives after. The tally.
 */
struct bench_tally bench_targets_row(const struct bench_opts *o, const struct lbp_provider *p,
                                     struct lbp_provider_ctx *ctx, struct bench_svc *svcs, int w,
                                     const char *what, long (*calls)(void *ud), void *ud);

/* "| scenario | col... |" and its rule, the first column w wide, the others as wide as cols[i]+2.
 */
void bench_table_head(int w, const char *const *cols, const int *widths, size_t n);
/* A row of the two-column table: calls and seconds. */
void bench_row(int w, const char *what, long calls, double secs);

#endif
