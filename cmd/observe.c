/*
 * observe.c — see observe.h.
 *
 * Everything here is read at scrape time by one collector: nothing is
 * counted twice and nothing costs anything between scrapes. Process
 * numbers come from /proc/self (Linux only, like the rest of lbprov);
 * a file that cannot be read leaves the previous value.
 */
#include "cmd/observe.h"
#include "common/health.h"
#include "common/metrics.h"
#include "common/util.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static struct {
    struct lbp_metric *start, *rss, *vsize, *cpu, *fds, *max_fds;
    struct lbp_metric *lists, *restarts, *gone, *events;
    struct lbp_metric *requests, *retries;
} m;

const char *lbp_observe_compiler(void)
{
#ifdef __clang__
    return "clang " __clang_version__;
#else
    return "gcc " __VERSION__;
#endif
}

/* Seconds since the epoch when this process started: boot time + starttime ticks. */
static double process_start_time(void)
{
    char buf[1024], *p;
    unsigned long long start_ticks = 0, btime = 0;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces and parens: fields are counted from the last ')'. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                     "%*d %llu",
                     &start_ticks) != 1)
        return 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    while (fgets(buf, sizeof(buf), f))
        if (sscanf(buf, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    return (double)btime + (double)start_ticks / (double)(hz > 0 ? hz : 100);
}

static void collect_process(void *ctx)
{
    struct rusage ru;
    struct rlimit rl;
    unsigned long long size, resident;
    double page = (double)sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    DIR *d;
    (void)ctx;
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) == 2) {
            lbp_metric_set(m.rss, NULL, (double)resident * page);
            lbp_metric_set(m.vsize, NULL, (double)size * page);
        }
        fclose(f);
    }
    d = opendir("/proc/self/fd");
    if (d) {
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            n += e->d_name[0] != '.';
        closedir(d);
        lbp_metric_set(m.fds, NULL, (double)(n > 0 ? n - 1 : 0)); /* not the one reading it */
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        lbp_metric_set(m.max_fds, NULL, (double)rl.rlim_cur);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        lbp_metric_set(m.cpu, NULL,
                       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
}

void lbp_observe_process(void)
{
    const char *build[] = {LBP_VERSION, lbp_observe_compiler()};
    struct lbp_metric *bi =
        lbp_metric_new(LBP_GAUGE, "lbprov_build_info", "Always 1; the labels say which build runs.",
                       "version,compiler");
    lbp_metric_set(bi, build, 1);
    m.start = lbp_metric_new(LBP_GAUGE, "process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.", NULL);
    m.rss = lbp_metric_new(LBP_GAUGE, "process_resident_memory_bytes",
                           "Resident memory size in bytes.", NULL);
    m.vsize = lbp_metric_new(LBP_GAUGE, "process_virtual_memory_bytes",
                             "Virtual memory size in bytes.", NULL);
    m.fds = lbp_metric_new(LBP_GAUGE, "process_open_fds", "Number of open file descriptors.", NULL);
    m.max_fds = lbp_metric_new(LBP_GAUGE, "process_max_fds",
                               "Maximum number of open file descriptors.", NULL);
    m.cpu = lbp_metric_new(LBP_COUNTER, "process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.", NULL);
    lbp_metric_set(m.start, NULL, process_start_time());
    lbp_metrics_collector_add(collect_process, NULL);
}

static void collect_kube(void *ctx)
{
    struct lbp_observe *o = ctx;
    struct lbp_kube_stats sum = {0};
    for (size_t i = 0; i < o->n_inf; i++) {
        struct lbp_informer_stats st;
        const char *kind[] = {o->kind[i]};
        lbp_informer_stats(o->inf[i], &st);
        lbp_metric_set(m.lists, kind, (double)st.lists);
        lbp_metric_set(m.restarts, kind, (double)st.restarts);
        lbp_metric_set(m.gone, kind, (double)st.gone);
        lbp_metric_set(m.events, kind, (double)st.events);
    }
    for (size_t i = 0; i < o->n_client; i++) {
        struct lbp_kube_stats st;
        lbp_kube_client_stats(o->client[i], &st);
        sum.get += st.get;
        sum.list += st.list;
        sum.watch += st.watch;
        sum.post += st.post;
        sum.put += st.put;
        sum.patch += st.patch;
        sum.del += st.del;
        sum.retries += st.retries;
    }
    static const char *const verbs[] = {"GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"};
    const uint64_t v[] = {sum.get, sum.list, sum.watch, sum.post, sum.put, sum.patch, sum.del};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        const char *l[] = {verbs[i]};
        lbp_metric_set(m.requests, l, (double)v[i]);
    }
    lbp_metric_set(m.retries, NULL, (double)sum.retries);
}

void lbp_observe_start(struct lbp_observe *o)
{
    m.lists =
        lbp_metric_new(LBP_COUNTER, "lbprov_informer_lists_total",
                       "Full LISTs made by an informer (start, and after a lost watch).", "kind");
    m.restarts = lbp_metric_new(LBP_COUNTER, "lbprov_informer_watch_restarts_total",
                                "Watches that ended and were started again.", "kind");
    m.gone =
        lbp_metric_new(LBP_COUNTER, "lbprov_informer_gone_total",
                       "Watches answered 410 Gone (history expired): a relist follows.", "kind");
    m.events = lbp_metric_new(LBP_COUNTER, "lbprov_informer_events_total",
                              "Watch events applied to an informer's cache.", "kind");
    m.requests = lbp_metric_new(LBP_COUNTER, "lbprov_kube_api_requests_total",
                                "Requests made to the Kubernetes API server, by verb.", "verb");
    m.retries =
        lbp_metric_new(LBP_COUNTER, "lbprov_kube_api_retries_total",
                       "Kubernetes API requests retried after a 429, 5xx or timeout.", NULL);
    lbp_metrics_collector_add(collect_kube, o);
}

void lbp_observe_stop(struct lbp_observe *o)
{
    lbp_metrics_collector_remove(collect_kube, o);
}

int lbp_observe_healthz(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                        const char **ctype)
{
    (void)ctx;
    (void)method;
    (void)body;
    (void)ctype;
    if (!lbp_health_check(out))
        return 503;
    lbp_buf_adds(out, "ok\n");
    return 200;
}
