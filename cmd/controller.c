/*
 * controller.c — `lbprov controller`: flags, start-up order, signals.
 *
 * Start-up: provider (fail fast on a bad --cloud-config), API client,
 * event recorder, reconciler, informers for Services and Nodes, the HTTP
 * port (/healthz, /readyz, /metrics, /debug/<cloud>), then the workers once
 * both caches have synced. SIGTERM/SIGINT are taken by sigtimedwait in the
 * main thread (blocked everywhere else); shutdown stops taking work, gives
 * in-flight syncs a bounded time, wakes the watches and exits 0.
 */
#include "cmd/cmd.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "kube/kube.h"
#include "provider/provider.h"
#include "reconcile/reconcile.h"

#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHUTDOWN_BUDGET_MS 4000

struct ctl {
    const struct lbp_provider *prov;
    struct lbp_provider_ctx *pctx;
    struct lbp_reconcile *rec;
    struct lbp_informer *svc_inf, *node_inf;
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: lbprov controller [flags]\n\n"
               "Provisions a load balancer for every Service of type LoadBalancer.\n\n"
               "  --cloud NAME                    provider to use (built in:");
    for (size_t i = 0; lbp_providers[i]; i++)
        fprintf(f, " %s", lbp_providers[i]->name);
    fprintf(f,
            ")\n"
            "  --cloud-config FILE             provider configuration\n"
            "  --cluster-name NAME             tags cloud objects (default kubernetes)\n"
            "  --load-balancer-class CLASS     also handle Services of this class\n"
            "  --kubeconfig FILE               (default $KUBECONFIG, ~/.kube/config, in-cluster)\n"
            "  --context NAME                  kubeconfig context\n"
            "  --master URL                    API server URL, overrides the kubeconfig\n"
            "  --kube-api-qps N                client-side limit on API requests (default 50)\n"
            "  --kube-api-burst N              (default 100)\n"
            "  --concurrent-service-syncs N    workers (default 8)\n"
            "  --resync-period DURATION        full resync from the cache (default 30s)\n"
            "  --node-ready-filter             only Ready nodes are backends\n"
            "  --cleanup-orphans[=BOOL]        remove LBs whose Service is gone (default true)\n"
            "  --orphan-grace-period DURATION  how long an LB must stay orphaned (default 60s)\n"
            "  --backoff-base DURATION         first retry delay (default 5s)\n"
            "  --backoff-max DURATION          longest retry delay (default 300s)\n"
            "  --http-bind-address HOST:PORT   health, metrics, debug (default :10258)\n"
            "  -v, --v N                       log verbosity\n"
            "  -h, --help\n\n"
            "Durations: 500ms, 30s, 5m, 1h or plain seconds.\n");
}

static int parse_duration_ms(const char *s, uint64_t *out)
{
    char num[32];
    size_t n = strspn(s, "0123456789");
    long v, mult;
    if (n == 0 || n >= sizeof(num))
        return LBP_PARSE;
    memcpy(num, s, n);
    num[n] = '\0';
    if (lbp_parse_long(num, 0, 100000000, &v))
        return LBP_PARSE;
    if (!s[n] || strcmp(s + n, "s") == 0)
        mult = 1000;
    else if (strcmp(s + n, "ms") == 0)
        mult = 1;
    else if (strcmp(s + n, "m") == 0)
        mult = 60000;
    else if (strcmp(s + n, "h") == 0)
        mult = 3600000;
    else
        return LBP_PARSE;
    *out = (uint64_t)v * (uint64_t)mult;
    return LBP_OK;
}

static int parse_bool_arg(const char *s, bool *out)
{
    if (!s || strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
        return LBP_OK;
    }
    if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
        return LBP_OK;
    }
    return LBP_PARSE;
}

static int route_healthz(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                         const char **ctype)
{
    (void)ctx;
    (void)method;
    (void)body;
    (void)ctype;
    lbp_buf_adds(out, "ok\n");
    return 200;
}

static int route_readyz(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                        const char **ctype)
{
    struct ctl *c = ctx;
    (void)method;
    (void)body;
    (void)ctype;
    if (c->rec && lbp_reconcile_running(c->rec)) {
        lbp_buf_adds(out, "ok\n");
        return 200;
    }
    lbp_buf_adds(out, "caches not synced\n");
    return 503;
}

static int route_metrics(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                         const char **ctype)
{
    struct ctl *c = ctx;
    (void)method;
    (void)body;
    *ctype = "text/plain; version=0.0.4";
    lbp_reconcile_metrics(c->rec, out);
    lbp_metrics_render(out); /* whatever other modules registered */
    return 200;
}

static int route_debug(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                       const char **ctype)
{
    struct ctl *c = ctx;
    char *js, err[256] = "";
    if (strcmp(method, "POST") == 0) {
        if (!c->prov->debug_post) {
            lbp_buf_adds(out, "this cloud takes no run-time settings\n");
            return 405;
        }
        if (c->prov->debug_post(c->pctx, body, err, sizeof(err)) != LBP_OK) {
            lbp_buf_addf(out, "%s\n", err);
            return 400;
        }
        lbp_buf_adds(out, "ok\n");
        return 200;
    }
    js = c->prov->debug_json(c->pctx);
    *ctype = "application/json";
    if (!js)
        return 500;
    lbp_buf_adds(out, js);
    lbp_buf_adds(out, "\n");
    free(js);
    return 200;
}

enum {
    OPT_CLOUD = 256,
    OPT_CLOUD_CONFIG,
    OPT_CLUSTER,
    OPT_CLASS,
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    OPT_MASTER,
    OPT_QPS,
    OPT_BURST,
    OPT_WORKERS,
    OPT_RESYNC,
    OPT_READY,
    OPT_ORPHANS,
    OPT_ORPHAN_GRACE,
    OPT_BACKOFF_BASE,
    OPT_BACKOFF_MAX,
    OPT_HTTP,
};

static const struct option long_opts[] = {
    {"cloud", required_argument, NULL, OPT_CLOUD},
    {"cloud-config", required_argument, NULL, OPT_CLOUD_CONFIG},
    {"cluster-name", required_argument, NULL, OPT_CLUSTER},
    {"load-balancer-class", required_argument, NULL, OPT_CLASS},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"master", required_argument, NULL, OPT_MASTER},
    {"kube-api-qps", required_argument, NULL, OPT_QPS},
    {"kube-api-burst", required_argument, NULL, OPT_BURST},
    {"concurrent-service-syncs", required_argument, NULL, OPT_WORKERS},
    {"resync-period", required_argument, NULL, OPT_RESYNC},
    {"node-ready-filter", no_argument, NULL, OPT_READY},
    {"cleanup-orphans", optional_argument, NULL, OPT_ORPHANS},
    {"orphan-grace-period", required_argument, NULL, OPT_ORPHAN_GRACE},
    {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
    {"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
    {"http-bind-address", required_argument, NULL, OPT_HTTP},
    {"v", required_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int bad(const char *flag, const char *val)
{
    fprintf(stderr, "lbprov controller: invalid value '%s' for %s (see --help)\n", val, flag);
    return 2;
}

int lbp_cmd_controller(int argc, char **argv)
{
    const char *cloud = NULL, *cloud_config = NULL, *http_bind = ":10258";
    struct lbp_kube_config_opts kopts = {.allow_in_cluster = true};
    struct lbp_kube_client_opts copts = {.qps = 50, .burst = 100};
    struct lbp_reconcile_opts ropts = {.cluster_name = "kubernetes",
                                       .workers = 8,
                                       .resync_s = 30,
                                       .cleanup_orphans = true,
                                       .orphan_grace_s = 60,
                                       .backoff_base_ms = 5000,
                                       .backoff_max_ms = 300000};
    struct lbp_kube_config *kcfg = NULL;
    struct lbp_kube_client *client = NULL;
    struct lbp_event_recorder *events = NULL;
    struct lbp_httpd *httpd = NULL;
    struct ctl c = {0};
    struct lbp_informer_handlers hs, hn;
    char err[512];
    sigset_t sigs;
    int opt, rc = 1;
    long n;
    uint64_t ms;
    bool abandoned = false;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":v:h", long_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_CLOUD:
            cloud = optarg;
            break;
        case OPT_CLOUD_CONFIG:
            cloud_config = optarg;
            break;
        case OPT_CLUSTER:
            if (!optarg[0])
                return bad("--cluster-name", optarg);
            ropts.cluster_name = optarg;
            break;
        case OPT_CLASS:
            ropts.lb_class = optarg[0] ? optarg : NULL;
            break;
        case OPT_KUBECONFIG:
            kopts.kubeconfig = optarg;
            break;
        case OPT_CONTEXT:
            kopts.context = optarg;
            break;
        case OPT_MASTER:
            kopts.master = optarg;
            break;
        case OPT_QPS: {
            char *end;
            double q = strtod(optarg, &end);
            if (end == optarg || *end || q < 0 || q > 1e6)
                return bad("--kube-api-qps", optarg);
            copts.qps = q;
            break;
        }
        case OPT_BURST:
            if (lbp_parse_long(optarg, 1, 100000, &n))
                return bad("--kube-api-burst", optarg);
            copts.burst = (int)n;
            break;
        case OPT_WORKERS:
            if (lbp_parse_long(optarg, 1, 1024, &n))
                return bad("--concurrent-service-syncs", optarg);
            ropts.workers = (unsigned)n;
            break;
        case OPT_RESYNC:
            if (parse_duration_ms(optarg, &ms) || ms < 1000)
                return bad("--resync-period", optarg);
            ropts.resync_s = (unsigned)(ms / 1000);
            break;
        case OPT_READY:
            ropts.node_ready_filter = true;
            break;
        case OPT_ORPHANS:
            if (parse_bool_arg(optarg, &ropts.cleanup_orphans))
                return bad("--cleanup-orphans", optarg);
            break;
        case OPT_ORPHAN_GRACE:
            if (parse_duration_ms(optarg, &ms))
                return bad("--orphan-grace-period", optarg);
            ropts.orphan_grace_s = (unsigned)(ms / 1000);
            break;
        case OPT_BACKOFF_BASE:
            if (parse_duration_ms(optarg, &ms) || ms == 0 || ms > 3600000)
                return bad("--backoff-base", optarg);
            ropts.backoff_base_ms = (unsigned)ms;
            break;
        case OPT_BACKOFF_MAX:
            if (parse_duration_ms(optarg, &ms) || ms == 0 || ms > 86400000)
                return bad("--backoff-max", optarg);
            ropts.backoff_max_ms = (unsigned)ms;
            break;
        case OPT_HTTP:
            http_bind = optarg;
            break;
        case 'v':
            if (lbp_parse_long(optarg, 0, 10, &n))
                return bad("-v", optarg);
            lbp_log_verbosity = (int)n;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "lbprov controller: %s needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "lbprov controller: unknown flag '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lbprov controller: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!cloud) {
        fprintf(stderr, "lbprov controller: --cloud is required (see --help)\n");
        return 2;
    }
    if (ropts.backoff_base_ms > ropts.backoff_max_ms) {
        fprintf(stderr, "lbprov controller: --backoff-base is longer than --backoff-max\n");
        return 2;
    }
    c.prov = lbp_provider_find(cloud);
    if (!c.prov) {
        fprintf(stderr, "lbprov controller: unknown cloud '%s' (built in:", cloud);
        for (size_t i = 0; lbp_providers[i]; i++)
            fprintf(stderr, " %s", lbp_providers[i]->name);
        fprintf(stderr, ")\n");
        return 2;
    }

    /*
     * glibc gives each busy thread its own malloc arena; with a dozen
     * threads that mostly sleep, that is megabytes of partly used pages.
     * Two arenas are plenty for a controller whose work is I/O.
     */
    mallopt(M_ARENA_MAX, 2);

    /* Signals go to sigtimedwait below, never to a random thread. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    err[0] = '\0';
    if (c.prov->init(cloud_config, ropts.cluster_name, &c.pctx, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: cloud %s: %s\n", cloud, err);
        rc = 2;
        goto out;
    }
    if (lbp_kube_config_load(&kopts, &kcfg, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: %s\n", err);
        rc = 2;
        goto out;
    }
    if (lbp_kube_client_new(kcfg, &copts, &client, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: %s\n", err);
        rc = 2;
        goto out;
    }
    struct lbp_event_opts eopts = {.component = "service-controller"};
    if (lbp_event_recorder_new(client, &eopts, &events)) {
        lbp_error("cannot start the event recorder");
        goto out;
    }
    ropts.provider = c.prov;
    ropts.pctx = c.pctx;
    ropts.client = client;
    ropts.events = events;
    if (lbp_reconcile_new(&ropts, &c.rec))
        goto out;
    lbp_reconcile_handlers(c.rec, &hs, &hn);
    struct lbp_informer_opts sopts = {.kind = LBP_KIND_SERVICE};
    struct lbp_informer_opts nopts = {.kind = LBP_KIND_NODE};
    if (lbp_informer_new(client, &sopts, &hs, &c.svc_inf) ||
        lbp_informer_new(client, &nopts, &hn, &c.node_inf)) {
        lbp_error("cannot create informers");
        goto out;
    }

    if (lbp_httpd_new(http_bind, &httpd, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: --http-bind-address: %s\n", err);
        rc = 2;
        goto out;
    }
    char debug_path[64];
    snprintf(debug_path, sizeof(debug_path), "/debug/%scloud",
             strcmp(c.prov->name, "mock") == 0 ? "mock" : c.prov->name);
    lbp_httpd_route(httpd, "/healthz", route_healthz, &c);
    lbp_httpd_route(httpd, "/readyz", route_readyz, &c);
    lbp_httpd_route(httpd, "/metrics", route_metrics, &c);
    if (c.prov->debug_json)
        lbp_httpd_route(httpd, debug_path, route_debug, &c);
    if (lbp_httpd_start(httpd, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: --http-bind-address %s: %s\n", http_bind, err);
        rc = 2;
        goto out;
    }
    lbp_info("http server listening on port %d (bind %s)", lbp_httpd_port(httpd), http_bind);
    lbp_info("controller: cloud %s, cluster %s, API %s", c.prov->name, ropts.cluster_name,
             kcfg->server);

    if (lbp_informer_start(c.svc_inf) || lbp_informer_start(c.node_inf)) {
        lbp_error("cannot start informers");
        goto out;
    }
    /* Wait for both caches, still answering signals. */
    for (;;) {
        struct timespec ts = {0, 0};
        if (sigtimedwait(&sigs, NULL, &ts) > 0) {
            lbp_info("signal before caches synced; exiting");
            rc = 0;
            goto out;
        }
        if (lbp_informer_wait_synced(c.svc_inf, 200) == LBP_OK &&
            lbp_informer_wait_synced(c.node_inf, 200) == LBP_OK)
            break;
    }
    lbp_info("caches synced");
    if (lbp_reconcile_start(c.rec, c.svc_inf, c.node_inf)) {
        lbp_error("cannot start the service controller");
        goto out;
    }
    for (;;) {
        int sig = sigwaitinfo(&sigs, NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            lbp_info("received %s; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
    }
    rc = 0;
out:
    if (c.rec && lbp_reconcile_stop(c.rec, SHUTDOWN_BUDGET_MS) != LBP_OK)
        abandoned = true;
    if (client)
        lbp_kube_client_shutdown(client);
    if (c.svc_inf)
        lbp_informer_stop(c.svc_inf);
    if (c.node_inf)
        lbp_informer_stop(c.node_inf);
    lbp_httpd_free(httpd);
    if (abandoned) {
        /* A worker is stuck in a call: its memory is still in use, so do not free it. */
        lbp_info("exiting with syncs abandoned");
        return rc;
    }
    if (events) {
        lbp_event_recorder_flush(events, 500);
        lbp_event_recorder_free(events);
    }
    lbp_reconcile_free(c.rec);
    lbp_informer_free(c.svc_inf);
    lbp_informer_free(c.node_inf);
    lbp_kube_client_free(client);
    lbp_kube_config_free(kcfg);
    if (c.pctx)
        c.prov->cleanup(c.pctx);
    lbp_metrics_reset();
    return rc;
}
