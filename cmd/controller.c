/*
 * controller.c — `lbprov controller`: flags, start-up order, signals.
 *
 * Start-up: provider (fail fast on a bad --cloud-config), API client,
 * event recorder, reconciler, informers for Services and Nodes, the HTTP
 * port (/healthz, /readyz, /metrics, /debug/<cloud>), then the workers once
 * both caches have synced. SIGTERM/SIGINT are taken by sigtimedwait in the
 * main thread (blocked everywhere else); shutdown stops taking work, gives
 * in-flight syncs a bounded time, wakes the watches and exits 0.
 *
 * With --leader-elect (the default) every replica keeps its caches warm
 * but only the Lease holder runs workers; each write checks the elector's
 * time-based fence. Losing the Lease exits 1 (SIGUSR1 from the election
 * thread wakes the main loop) so the pod restarts clean; SIGTERM stops the
 * workers first and then releases the Lease so a standby takes over at once.
 *
 * SIGHUP re-reads --cloud-config through the provider's reload slot; a bad
 * file is logged and the running configuration stays.
 */
#include "cmd/cmd.h"
#include "cmd/daemon.h"
#include "cmd/flags.h"
#include "cmd/observe.h"
#include "common/health.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "kube/kube.h"
#include "provider/provider.h"
#include "reconcile/reconcile.h"

#include <getopt.h>
#include <malloc.h>
#include <sys/random.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* In-flight syncs get this long after SIGTERM; tear-down fits in the rest of 5 s. */
#define SHUTDOWN_BUDGET_MS 3500

struct ctl {
    const struct lbp_provider *prov;
    const char *cloud_config;
    struct lbp_provider_ctx *pctx;
    struct lbp_reconcile *rec;
    struct lbp_informer *svc_inf, *node_inf;
    bool synced; /* atomic: both caches have synced */
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: lbprov controller [flags]\n\n"
               "Provisions a load balancer for every Service of type LoadBalancer.\n\n"
               "  --cloud NAME                    provider to use (built in:");
    for (size_t i = 0; lbp_providers[i]; i++)
        fprintf(f, " %s", lbp_providers[i]->name);
    // clang-format off
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
            "  --node-ready-filter[=BOOL]      only Ready nodes are backends (default false)\n"
            "  --cleanup-orphans[=BOOL]        remove LBs whose Service is gone (default true)\n"
            "  --orphan-grace-period DURATION  how long an LB must stay orphaned (default 60s)\n"
            "  --backoff-base DURATION         first retry delay (default 5s)\n"
            "  --backoff-max DURATION          longest retry delay (default 300s)\n"
            "  --metallb-poll-period DURATION  how often clouds with run-time configuration\n"
            "                                  (baremetal) re-list MetalLB pools (default 5s)\n"
            "  --http-bind-address HOST:PORT   health, metrics, debug (default :10258);\n"
            "                                  127.0.0.1:PORT or localhost:PORT serve loopback only\n"
            "  --health-stuck-after DURATION   /healthz fails when a loop stays busy this long\n"
            "                                  (default 10m)\n"
            "  --leader-elect[=BOOL]           run workers only while holding the Lease (default true)\n"
            "  --leader-elect-lease-duration DURATION   (default 15s)\n"
            "  --leader-elect-renew-deadline DURATION   (default 10s)\n"
            "  --leader-elect-retry-period DURATION     (default 2s)\n"
            "  --leader-elect-resource-name NAME        Lease name (default lbprov-controller)\n"
            "  --leader-elect-resource-namespace NS     (default: the pod's namespace in a cluster,\n"
            "                                  else kube-system)\n"
            "  --log-format text|json          (default text)\n"
            "  -v, --v N                       log verbosity, 0-10 (default 0)\n"
            "  -h, --help\n\n"
            "Durations: 500ms, 30s, 5m, 1h or plain seconds.\n"
            "Signals: SIGTERM/SIGINT stop gracefully (in-flight syncs get 3.5s); SIGHUP re-reads\n"
            "--cloud-config when the cloud supports it.\n");
    // clang-format on
}

static int route_readyz(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                        const char **ctype)
{
    struct ctl *c = ctx;
    (void)method;
    (void)body;
    (void)ctype;
    /* A standby is ready too: it would otherwise hold up every rollout. */
    if (!__atomic_load_n(&c->synced, __ATOMIC_ACQUIRE)) {
        lbp_buf_adds(out, "caches not synced\n");
        return 503;
    }
    struct lbp_call call = {0};
    if (c->prov->ping && c->prov->ping(c->pctx, &call) != LBP_OK) {
        lbp_buf_addf(out, "cloud %s unreachable: %s\n", c->prov->name,
                     call.err[0] ? call.err : "ping failed");
        return 503;
    }
    lbp_buf_adds(out, "ok\n");
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
    OPT_WORKERS,
    OPT_RESYNC,
    OPT_READY,
    OPT_ORPHANS,
    OPT_ORPHAN_GRACE,
    OPT_BACKOFF_BASE,
    OPT_BACKOFF_MAX,
    OPT_HTTP,
    OPT_STUCK,
    OPT_LEADER_ELECT,
    OPT_LE_DURATION,
    OPT_LE_DEADLINE,
    OPT_LE_RETRY,
    OPT_LE_NAME,
    OPT_LE_NAMESPACE,
    OPT_METALLB_POLL,
};

static const struct option long_opts[] = {
    {"cloud", required_argument, NULL, OPT_CLOUD},
    {"cloud-config", required_argument, NULL, OPT_CLOUD_CONFIG},
    {"cluster-name", required_argument, NULL, OPT_CLUSTER},
    {"load-balancer-class", required_argument, NULL, OPT_CLASS},
    LBP_KUBE_LONG_OPTIONS,
    {"concurrent-service-syncs", required_argument, NULL, OPT_WORKERS},
    {"resync-period", required_argument, NULL, OPT_RESYNC},
    {"node-ready-filter", optional_argument, NULL, OPT_READY},
    {"cleanup-orphans", optional_argument, NULL, OPT_ORPHANS},
    {"orphan-grace-period", required_argument, NULL, OPT_ORPHAN_GRACE},
    {"backoff-base", required_argument, NULL, OPT_BACKOFF_BASE},
    {"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
    {"http-bind-address", required_argument, NULL, OPT_HTTP},
    {"health-stuck-after", required_argument, NULL, OPT_STUCK},
    {"leader-elect", optional_argument, NULL, OPT_LEADER_ELECT},
    {"leader-elect-lease-duration", required_argument, NULL, OPT_LE_DURATION},
    {"leader-elect-renew-deadline", required_argument, NULL, OPT_LE_DEADLINE},
    {"leader-elect-retry-period", required_argument, NULL, OPT_LE_RETRY},
    {"leader-elect-resource-name", required_argument, NULL, OPT_LE_NAME},
    {"leader-elect-resource-namespace", required_argument, NULL, OPT_LE_NAMESPACE},
    {"metallb-poll-period", required_argument, NULL, OPT_METALLB_POLL},
    LBP_LOG_LONG_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The election thread's way to wake the main loop: leadership is gone. */
static void lost_leadership(void *ctx)
{
    (void)ctx;
    kill(getpid(), SIGUSR1);
}

static bool leader_may_write(void *ctx)
{
    return lbp_leader_is_leader(ctx);
}

static double leader_gauge(void *ctx)
{
    return lbp_leader_is_leader(ctx) ? 1 : 0;
}

/* "<hostname>_<random>": unique per process, readable in the Lease. */
static void leader_identity(char *out, size_t len)
{
    char host[128] = "lbprov";
    unsigned char r[6] = {0};
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = lbp_now_ms() ^ (uint64_t)getpid();
        memcpy(r, &t, sizeof(r));
    }
    snprintf(out, len, "%s_%02x%02x%02x%02x%02x%02x", host, r[0], r[1], r[2], r[3], r[4], r[5]);
}

/* SIGHUP: the provider re-reads its cloud-config; any other signal is the caller's. */
static bool handle_hup(struct ctl *c, int sig)
{
    char err[512] = "";
    if (sig != SIGHUP)
        return false;
    if (!c->cloud_config) {
        lbp_info("SIGHUP: no --cloud-config to re-read");
        return true;
    }
    if (!c->prov->reload) {
        lbp_warn("SIGHUP: cloud %s cannot reload %s; restart to apply changes", c->prov->name,
                 c->cloud_config);
        return true;
    }
    if (c->prov->reload(c->pctx, c->cloud_config, err, sizeof(err)) != LBP_OK)
        lbp_error("SIGHUP: keeping the running configuration; %s is bad: %s", c->cloud_config,
                  err[0] ? err : "reload failed");
    else {
        lbp_info("SIGHUP: cloud %s reloaded %s", c->prov->name, c->cloud_config);
        if (c->rec)
            lbp_reconcile_config_changed(c->rec);
    }
    return true;
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
    struct lbp_observe obs = {0};
    char err[512];
    sigset_t sigs;
    int opt, rc = 1;
    long n;
    uint64_t ms;
    bool abandoned = false, lost = false;
    bool leader_elect = true;
    struct lbp_leader_opts lopts = {.name = "lbprov-controller",
                                    .lease_duration_ms = 15000,
                                    .renew_deadline_ms = 10000,
                                    .retry_period_ms = 2000,
                                    .on_stopped = lost_leadership};
    struct lbp_kube_client *le_client = NULL;
    struct lbp_leader *le = NULL;
    char identity[160];

    struct lbp_flag_parser fp;
    lbp_flag_start(&fp, "controller", argc, argv, ":v:h", long_opts, &kopts, &copts, usage);
    while ((opt = lbp_flag_next(&fp)) != LBP_FLAG_DONE) {
        switch (opt) {
        case LBP_FLAG_EXIT:
            return fp.status;
        case OPT_CLOUD:
            cloud = optarg;
            break;
        case OPT_CLOUD_CONFIG:
            cloud_config = optarg;
            break;
        case OPT_CLUSTER:
            if (!optarg[0])
                return lbp_flag_bad("controller", "--cluster-name", optarg, LBP_WANT_NONEMPTY);
            ropts.cluster_name = optarg;
            break;
        case OPT_CLASS:
            ropts.lb_class = optarg[0] ? optarg : NULL;
            break;
        case OPT_WORKERS:
            if (lbp_parse_long(optarg, 1, 1024, &n))
                return lbp_flag_bad("controller", "--concurrent-service-syncs", optarg,
                                    "a whole number from 1 to 1024");
            ropts.workers = (unsigned)n;
            break;
        case OPT_RESYNC:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 1000)
                return lbp_flag_bad("controller", "--resync-period", optarg,
                                    LBP_WANT_DURATION ", at least 1s");
            ropts.resync_s = (unsigned)(ms / 1000);
            break;
        case OPT_READY:
            if (lbp_flag_bool(optarg, &ropts.node_ready_filter))
                return lbp_flag_bad("controller", "--node-ready-filter", optarg, LBP_WANT_BOOL);
            break;
        case OPT_ORPHANS:
            if (lbp_flag_bool(optarg, &ropts.cleanup_orphans))
                return lbp_flag_bad("controller", "--cleanup-orphans", optarg, LBP_WANT_BOOL);
            break;
        case OPT_ORPHAN_GRACE:
            if (lbp_flag_duration_ms(optarg, &ms))
                return lbp_flag_bad("controller", "--orphan-grace-period", optarg,
                                    LBP_WANT_DURATION);
            ropts.orphan_grace_s = (unsigned)(ms / 1000);
            break;
        case OPT_BACKOFF_BASE:
            if (lbp_flag_duration_ms(optarg, &ms) || ms == 0 || ms > 3600000)
                return lbp_flag_bad("controller", "--backoff-base", optarg,
                                    LBP_WANT_DURATION ", from 1ms to 1h");
            ropts.backoff_base_ms = (unsigned)ms;
            break;
        case OPT_BACKOFF_MAX:
            if (lbp_flag_duration_ms(optarg, &ms) || ms == 0 || ms > 86400000)
                return lbp_flag_bad("controller", "--backoff-max", optarg,
                                    LBP_WANT_DURATION ", from 1ms to 24h");
            ropts.backoff_max_ms = (unsigned)ms;
            break;
        case OPT_HTTP:
            http_bind = optarg;
            break;
        case OPT_STUCK:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 100)
                return lbp_flag_bad("controller", "--health-stuck-after", optarg,
                                    LBP_WANT_DURATION ", at least 100ms");
            lbp_health_set_bound_ms(ms);
            break;
        case OPT_LEADER_ELECT:
            if (lbp_flag_bool(optarg, &leader_elect))
                return lbp_flag_bad("controller", "--leader-elect", optarg, LBP_WANT_BOOL);
            break;
        case OPT_LE_DURATION:
        case OPT_LE_DEADLINE:
        case OPT_LE_RETRY: {
            static const char *names[] = {"--leader-elect-lease-duration",
                                          "--leader-elect-renew-deadline",
                                          "--leader-elect-retry-period"};
            unsigned *dst[] = {&lopts.lease_duration_ms, &lopts.renew_deadline_ms,
                               &lopts.retry_period_ms};
            int i = opt - OPT_LE_DURATION;
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 100 || ms > 3600000)
                return lbp_flag_bad("controller", names[i], optarg,
                                    LBP_WANT_DURATION ", from 100ms to 1h");
            *dst[i] = (unsigned)ms;
            break;
        }
        case OPT_LE_NAME:
            if (!optarg[0])
                return lbp_flag_bad("controller", "--leader-elect-resource-name", optarg,
                                    LBP_WANT_NONEMPTY);
            lopts.name = optarg;
            break;
        case OPT_LE_NAMESPACE:
            if (!optarg[0])
                return lbp_flag_bad("controller", "--leader-elect-resource-namespace", optarg,
                                    LBP_WANT_NONEMPTY);
            lopts.namespace = optarg;
            break;
        case OPT_METALLB_POLL:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 100 || ms > 3600000)
                return lbp_flag_bad("controller", "--metallb-poll-period", optarg,
                                    LBP_WANT_DURATION ", from 100ms to 1h");
            ropts.config_poll_ms = (unsigned)ms;
            break;
        }
    }
    if (!cloud) {
        fprintf(stderr, "lbprov controller: --cloud is required (see --help)\n");
        return 2;
    }
    if (leader_elect && !(lopts.retry_period_ms < lopts.renew_deadline_ms &&
                          lopts.renew_deadline_ms < lopts.lease_duration_ms)) {
        fprintf(stderr, "lbprov controller: leader election needs --leader-elect-retry-period < "
                        "--leader-elect-renew-deadline < --leader-elect-lease-duration\n");
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
    if (lbp_provider_check(c.prov, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "lbprov controller: %s\n", err); /* a build defect, not the user's */
        return 2;
    }

    /*
     * glibc gives each busy thread its own malloc arena; with a dozen
     * threads that mostly sleep, that is megabytes of partly used pages.
     * One arena is enough for a controller whose work is I/O: at 5,000
     * Services it saves 0.7 MiB of peak RSS over two, and the provision
     * benchmark's CPU seconds and wall/floor do not move.
     */
    mallopt(M_ARENA_MAX, 1);

    /* Signals go to sigtimedwait below, never to a random thread. */
    lbp_daemon_signals(&sigs, SIGUSR1); /* SIGUSR1: leadership lost; SIGHUP: --cloud-config */

    c.cloud_config = cloud_config;
    lbp_observe_process();
    err[0] = '\0';
    if (c.prov->init(cloud_config, ropts.cluster_name, &c.pctx, err, sizeof(err))) {
        fprintf(stderr, "lbprov controller: cloud %s: %s\n", cloud, err);
        rc = 2;
        goto out;
    }
    if (lbp_daemon_kube("controller", &kopts, &copts, &kcfg, &client)) {
        rc = 2;
        goto out;
    }
    struct lbp_event_opts eopts = {.component = "service-controller"};
    if (lbp_event_recorder_new(client, &eopts, &events)) {
        lbp_error("cannot start the event recorder");
        goto out;
    }
    if (leader_elect) {
        /*
         * The elector has a client of its own with short timeouts: a renew
         * must not queue behind workers' requests, and a hung request must
         * not keep it from noticing that its deadline passed.
         */
        struct lbp_kube_client_opts leopts = {.timeout_ms = lopts.retry_period_ms,
                                              .max_retries = 1};
        if (!lopts.namespace)
            lopts.namespace =
                lbp_streq(kcfg->source, "in-cluster") ? kcfg->namespace : "kube-system";
        leader_identity(identity, sizeof(identity));
        lopts.identity = identity;
        if (lbp_kube_client_new(kcfg, &leopts, &le_client, err, sizeof(err)) ||
            lbp_leader_new(le_client, &lopts, &le, err, sizeof(err))) {
            fprintf(stderr, "lbprov controller: leader election: %s\n", err);
            rc = 2;
            goto out;
        }
        ropts.may_write = leader_may_write;
        ropts.may_write_ctx = le;
        lbp_gauge_fn_new("lbprov_leader_is_leader",
                         "1 while this replica holds the leader Lease and may write.", leader_gauge,
                         le);
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

    if (lbp_daemon_httpd_new("controller", http_bind, &httpd)) {
        rc = 2;
        goto out;
    }
    char debug_path[64];
    snprintf(debug_path, sizeof(debug_path), "/debug/%scloud",
             strcmp(c.prov->name, "mock") == 0 ? "mock" : c.prov->name);
    obs.inf[obs.n_inf] = c.svc_inf;
    obs.kind[obs.n_inf++] = "Service";
    obs.inf[obs.n_inf] = c.node_inf;
    obs.kind[obs.n_inf++] = "Node";
    obs.client[obs.n_client++] = client;
    if (le_client)
        obs.client[obs.n_client++] = le_client;
    lbp_observe_start(&obs);
    lbp_httpd_route(httpd, "/healthz", lbp_observe_healthz, &c);
    lbp_httpd_route(httpd, "/readyz", route_readyz, &c);
    lbp_httpd_route(httpd, "/metrics", lbp_httpd_metrics, NULL);
    if (c.prov->debug_json)
        lbp_httpd_route(httpd, debug_path, route_debug, &c);
    if (lbp_daemon_httpd_start("controller", httpd, http_bind)) {
        rc = 2;
        goto out;
    }
    lbp_info("controller: cloud %s, cluster %s, API %s", c.prov->name, ropts.cluster_name,
             kcfg->server);

    if (lbp_informer_start(c.svc_inf) || lbp_informer_start(c.node_inf)) {
        lbp_error("cannot start informers");
        goto out;
    }
    /* Wait for both caches, still answering signals. */
    for (;;) {
        struct timespec ts = {0, 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if (sig > 0 && !handle_hup(&c, sig)) {
            lbp_info("signal before caches synced; exiting");
            rc = 0;
            goto out;
        }
        if (lbp_informer_wait_synced(c.svc_inf, 200) == LBP_OK &&
            lbp_informer_wait_synced(c.node_inf, 200) == LBP_OK)
            break;
    }
    lbp_info("caches synced");
    __atomic_store_n(&c.synced, true, __ATOMIC_RELEASE);
    if (le) {
        if (lbp_leader_start(le)) {
            lbp_error("cannot start leader election");
            goto out;
        }
        lbp_info("leader election: waiting for lease %s/%s as %s", lopts.namespace, lopts.name,
                 identity);
        for (;;) {
            struct timespec ts = {0, 0};
            int sig = sigtimedwait(&sigs, NULL, &ts);
            handle_hup(&c, sig);
            if (sig == SIGTERM || sig == SIGINT) {
                lbp_info("signal while standing by; exiting");
                rc = 0;
                goto out;
            }
            if (lbp_leader_wait(le, 200) == LBP_OK)
                break;
        }
    }
    if (lbp_reconcile_start(c.rec, c.svc_inf, c.node_inf)) {
        lbp_error("cannot start the service controller");
        goto out;
    }
    for (;;) {
        /* With an elector, also watch its fence: its thread may sit in a hung request. */
        struct timespec tick = {0, 100 * 1000000L};
        int sig = le ? sigtimedwait(&sigs, NULL, &tick) : sigwaitinfo(&sigs, NULL);
        handle_hup(&c, sig);
        if (sig == SIGTERM || sig == SIGINT) {
            lbp_info("received %s; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (le && !lbp_leader_is_leader(le)) {
            lbp_error("leader election lost; exiting so the pod restarts clean");
            lost = true;
            break;
        }
    }
    rc = lost ? 1 : 0;
out:
    if (c.rec && lbp_reconcile_stop(c.rec, SHUTDOWN_BUDGET_MS) != LBP_OK)
        abandoned = true;
    /* Only once no worker can write: hand the Lease over (not when it was lost). */
    if (le)
        lbp_leader_stop(le, !lost && !abandoned);
    if (client)
        lbp_kube_client_shutdown(client);
    if (c.svc_inf)
        lbp_informer_stop(c.svc_inf);
    if (c.node_inf)
        lbp_informer_stop(c.node_inf);
    lbp_httpd_free(httpd);
    lbp_observe_stop(&obs);
    if (abandoned) {
        /*
         * A worker is still in a call and its memory is in use, so nothing
         * can be freed; leave at once, without exit handlers (they would
         * run while that thread still touches the objects they inspect).
         * The next leader redoes the abandoned syncs.
         */
        lbp_info("exiting with syncs abandoned");
        fflush(NULL);
        _exit(rc);
    }
    if (events) {
        lbp_event_recorder_flush(events, 500);
        lbp_event_recorder_free(events);
    }
    lbp_reconcile_free(c.rec);
    lbp_informer_free(c.svc_inf);
    lbp_informer_free(c.node_inf);
    lbp_leader_free(le);
    lbp_kube_client_free(le_client);
    lbp_kube_client_free(client);
    lbp_kube_config_free(kcfg);
    if (c.pctx)
        c.prov->cleanup(c.pctx);
    lbp_metrics_reset();
    return rc;
}
