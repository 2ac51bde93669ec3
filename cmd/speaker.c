/*
 * speaker.c — `lbprov speaker`: flags, start-up order, signals.
 *
 * Start-up: flags and the pool file (a bad one stops us with exit 2), the
 * capabilities dropped to CAP_NET_RAW and the announcer's sockets opened
 * (skipped with --dry-run, which only publishes the owned set on
 * /debug/owned), the API clients, the speaker (speaker/daemon.c) and the
 * HTTP port. SIGTERM/SIGINT are taken by sigwaitinfo in the main thread;
 * on either the speaker leaves (peers told, nothing answered, Lease
 * released) and the process exits 0, well within 2 s.
 */
#include "cmd/cmd.h"
#include "cmd/daemon.h"
#include "cmd/flags.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/httpd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "pools/pools.h"
#include "speaker/speaker.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SA_NAMESPACE_FILE "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

struct spk {
    struct lbp_speaker *sp;
    struct lbp_announcer *ann;
};

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: lbprov speaker --node-name NAME [flags]\n\n"
           "Decides which node owns each bare-metal VIP and, on the owner, answers ARP/NDP\n"
           "for it. Run one per node (DaemonSet, hostNetwork, CAP_NET_RAW).\n\n"
           "  --node-name NAME                this node (default $NODE_NAME)\n"
           "  --namespace NS                  where speaker Leases live (default: the pod's\n"
           "                                  namespace, else lbprov-system)\n"
           "  --pool-config FILE              bare-metal pools (the YAML the controller reads)\n"
           "  --kubeconfig FILE               (default $KUBECONFIG, ~/.kube/config, in-cluster)\n"
           "  --context NAME                  kubeconfig context\n"
           "  --master URL                    API server URL, overrides the kubeconfig\n"
           "  --kube-api-qps N                client-side limit on API requests (default 20)\n"
           "  --kube-api-burst N              (default 40)\n"
           "  --lease-duration SECONDS        speaker Lease duration in whole seconds, as the\n"
           "                                  Lease stores it: 3 or 3s (default 3s)\n"
           "  --lease-renew-interval DURATION (default 1s)\n"
           "  --heartbeat-port N              UDP port for speaker heartbeats (default 7473)\n"
           "  --heartbeat-interval DURATION   (default 200ms)\n"
           "  --heartbeat-misses N            missed heartbeats before a peer is down (default 3)\n"
           "  --metallb-poll-period DURATION  re-read MetalLB pools (default 30s; the old\n"
           "                                  name --metallb-poll-interval still works)\n"
           "  --http-bind-address HOST:PORT   /metrics /healthz /readyz /debug/owned\n"
           "                                  (default :7472)\n"
           "  --dry-run                       decide ownership but send no ARP/NDP\n"
           "  --log-format text|json          (default text)\n"
           "  -v, --v N                       log verbosity, 0-10 (default 0)\n"
           "  -h, --help\n\n"
           "Durations: 200ms, 3s, 1m, 1h or plain seconds.\n"
           "Signals: SIGTERM/SIGINT release the Lease and stop; SIGHUP re-reads --pool-config.\n");
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
    struct spk *k = ctx;
    char why[128];
    (void)method;
    (void)body;
    (void)ctype;
    if (lbp_speaker_ready(k->sp, why, sizeof(why))) {
        lbp_buf_adds(out, "ok\n");
        return 200;
    }
    lbp_buf_addf(out, "%s\n", why);
    return 503;
}

static int route_owned(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                       const char **ctype)
{
    struct spk *k = ctx;
    (void)method;
    (void)body;
    *ctype = "application/json";
    return lbp_speaker_debug_json(k->sp, out) == LBP_OK ? 200 : 500;
}

/* The pod's namespace when running in a cluster, else lbprov-system. */
static void default_namespace(char *out, size_t cap)
{
    int fd = open(SA_NAMESPACE_FILE, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, out, cap - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 0) {
        out[n] = '\0';
        out[strcspn(out, " \r\n\t")] = '\0';
        if (out[0])
            return;
    }
    lbp_strlcpy(out, "lbprov-system", cap);
}

enum {
    OPT_NODE = 256,
    OPT_NS,
    OPT_POOLS,
    OPT_LEASE_DUR,
    OPT_LEASE_RENEW,
    OPT_HB_PORT,
    OPT_HB_INT,
    OPT_HB_MISSES,
    OPT_METALLB,
    OPT_HTTP,
    OPT_DRY,
};

static const struct option long_opts[] = {
    {"node-name", required_argument, NULL, OPT_NODE},
    {"namespace", required_argument, NULL, OPT_NS},
    {"pool-config", required_argument, NULL, OPT_POOLS},
    LBP_KUBE_LONG_OPTIONS,
    {"lease-duration", required_argument, NULL, OPT_LEASE_DUR},
    {"lease-renew-interval", required_argument, NULL, OPT_LEASE_RENEW},
    {"heartbeat-port", required_argument, NULL, OPT_HB_PORT},
    {"heartbeat-interval", required_argument, NULL, OPT_HB_INT},
    {"heartbeat-misses", required_argument, NULL, OPT_HB_MISSES},
    {"metallb-poll-period", required_argument, NULL, OPT_METALLB},
    /* the name it had before it matched the controller's */
    {"metallb-poll-interval", required_argument, NULL, OPT_METALLB},
    {"http-bind-address", required_argument, NULL, OPT_HTTP},
    {"dry-run", no_argument, NULL, OPT_DRY},
    LBP_LOG_LONG_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* SIGHUP: re-read --pool-config; a file that cannot be read or checked changes nothing. */
static void reload_pools(struct lbp_speaker *sp, const char *path)
{
    char err[512], *yaml = NULL;
    size_t len = 0;
    if (!path) {
        lbp_info("SIGHUP: no --pool-config to re-read");
        return;
    }
    if (lbp_file_read_err(path, LBP_POOLS_MAX_FILE, 0, &yaml, &len, err, sizeof(err)) ||
        lbp_speaker_reload_pools(sp, yaml, len, err, sizeof(err)))
        lbp_error("SIGHUP: keeping the pools in force; %s: %s", path, err);
    else
        lbp_info("SIGHUP: pools reloaded from %s", path);
    free(yaml);
}

int lbp_cmd_speaker(int argc, char **argv)
{
    const char *node = getenv("NODE_NAME"), *ns = NULL, *pool_file = NULL;
    const char *http_bind = ":7472";
    struct lbp_kube_config_opts kopts = {.allow_in_cluster = true};
    struct lbp_kube_client_opts copts = {.qps = 20, .burst = 40};
    struct lbp_speaker_opts so = {0};
    struct lbp_kube_config *kcfg = NULL;
    struct lbp_kube_client *client = NULL, *lclient = NULL;
    struct lbp_event_recorder *events = NULL;
    struct lbp_httpd *httpd = NULL;
    struct spk k = {0};
    bool dry = false;
    char err[512], nsbuf[256], *pool_yaml = NULL;
    size_t pool_len = 0;
    sigset_t sigs;
    int opt, rc = 1;
    long n;
    uint64_t ms;

    struct lbp_flag_parser fp;
    lbp_flag_start(&fp, "speaker", argc, argv, ":v:h", long_opts, &kopts, &copts, usage);
    while ((opt = lbp_flag_next(&fp)) != LBP_FLAG_DONE) {
        switch (opt) {
        case LBP_FLAG_EXIT:
            return fp.status;
        case OPT_NODE:
            node = optarg;
            break;
        case OPT_NS:
            if (!optarg[0])
                return lbp_flag_bad("speaker", "--namespace", optarg, LBP_WANT_NONEMPTY);
            ns = optarg;
            break;
        case OPT_POOLS:
            pool_file = optarg;
            break;
        case OPT_LEASE_DUR:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 1000 || ms > 3600000 || ms % 1000)
                return lbp_flag_bad("speaker", "--lease-duration", optarg,
                                    "whole seconds from 1s to 3600s, e.g. 3 or 3s");
            so.lease_duration_ms = (unsigned)ms;
            break;
        case OPT_LEASE_RENEW:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 50 || ms > 3600000)
                return lbp_flag_bad("speaker", "--lease-renew-interval", optarg,
                                    LBP_WANT_DURATION ", from 50ms to 1h");
            so.lease_renew_ms = (unsigned)ms;
            break;
        case OPT_HB_PORT:
            if (lbp_parse_long(optarg, 1, 65535, &n))
                return lbp_flag_bad("speaker", "--heartbeat-port", optarg,
                                    "a port number from 1 to 65535");
            so.hb_port = (unsigned)n;
            break;
        case OPT_HB_INT:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 10 || ms > 60000)
                return lbp_flag_bad("speaker", "--heartbeat-interval", optarg,
                                    LBP_WANT_DURATION ", from 10ms to 1m");
            so.hb_interval_ms = (unsigned)ms;
            break;
        case OPT_HB_MISSES:
            if (lbp_parse_long(optarg, 1, 100, &n))
                return lbp_flag_bad("speaker", "--heartbeat-misses", optarg,
                                    "a whole number from 1 to 100");
            so.hb_misses = (unsigned)n;
            break;
        case OPT_METALLB:
            if (lbp_flag_duration_ms(optarg, &ms) || ms < 100 || ms > 86400000)
                return lbp_flag_bad("speaker", "--metallb-poll-period", optarg,
                                    LBP_WANT_DURATION ", from 100ms to 24h");
            so.metallb_poll_ms = (unsigned)ms;
            break;
        case OPT_HTTP:
            http_bind = optarg;
            break;
        case OPT_DRY:
            dry = true;
            break;
        }
    }
    if (!node || !node[0]) {
        fprintf(stderr, "lbprov speaker: --node-name (or $NODE_NAME) is required (see --help)\n");
        return 2;
    }
    {
        uint64_t dur = so.lease_duration_ms ? so.lease_duration_ms : 3000;
        uint64_t renew = so.lease_renew_ms ? so.lease_renew_ms : 1000;
        if (2 * renew + 500 > dur) {
            fprintf(stderr, "lbprov speaker: --lease-duration must be at least twice "
                            "--lease-renew-interval plus 500ms (see speaker/README.md)\n");
            return 2;
        }
    }
    if (!ns) {
        default_namespace(nsbuf, sizeof(nsbuf));
        ns = nsbuf;
    }

    lbp_daemon_signals(&sigs, 0); /* SIGHUP: re-read --pool-config */

    if (pool_file && lbp_file_read_err(pool_file, LBP_POOLS_MAX_FILE, 0, &pool_yaml, &pool_len, err,
                                       sizeof(err))) {
        fprintf(stderr, "lbprov speaker: --pool-config %s\n", err);
        rc = 2;
        goto out;
    }
    if (!dry) {
        int crc = lbp_speaker_drop_caps();
        if (crc) {
            fprintf(stderr, "lbprov speaker: %s (use --dry-run to only compute ownership)\n",
                    crc == LBP_AUTH ? "CAP_NET_RAW is required" : "cannot drop capabilities");
            goto out;
        }
        if (lbp_announcer_new(NULL, &k.ann) || lbp_announcer_start(k.ann)) {
            fprintf(stderr, "lbprov speaker: cannot open packet sockets\n");
            goto out;
        }
    }
    if (lbp_daemon_kube("speaker", &kopts, &copts, &kcfg, &client)) {
        rc = 2;
        goto out;
    }
    /* Lease writes must fail fast, not queue behind retries: a renewal that
     * arrives after the Lease ran out is worth nothing. */
    struct lbp_kube_client_opts lopts = {.timeout_ms = 1000, .max_retries = 1};
    if (lbp_kube_client_new(kcfg, &lopts, &lclient, err, sizeof(err))) {
        fprintf(stderr, "lbprov speaker: %s\n", err);
        rc = 2;
        goto out;
    }
    struct lbp_event_opts eopts = {.component = "lbprov-speaker", .host = node};
    if (lbp_event_recorder_new(client, &eopts, &events)) {
        lbp_error("cannot start the event recorder");
        goto out;
    }
    so.node_name = node;
    so.namespace = ns;
    so.client = client;
    so.lease_client = lclient;
    so.events = events;
    so.announcer = k.ann;
    so.pool_yaml = pool_yaml;
    so.pool_yaml_len = pool_len;
    if (lbp_speaker_new(&so, &k.sp, err, sizeof(err))) {
        fprintf(stderr, "lbprov speaker: %s\n", err);
        rc = 2;
        goto out;
    }
    if (lbp_daemon_httpd_new("speaker", http_bind, &httpd)) {
        rc = 2;
        goto out;
    }
    lbp_httpd_route(httpd, "/healthz", route_healthz, &k);
    lbp_httpd_route(httpd, "/readyz", route_readyz, &k);
    lbp_httpd_route(httpd, "/metrics", lbp_httpd_metrics, NULL);
    lbp_httpd_route(httpd, "/debug/owned", route_owned, &k);
    if (lbp_daemon_httpd_start("speaker", httpd, http_bind)) {
        rc = 2;
        goto out;
    }
    lbp_info("speaker: node %s, namespace %s, API %s%s", node, ns, kcfg->server,
             dry ? ", dry run (no ARP/NDP)" : "");
    if (lbp_speaker_start(k.sp)) {
        lbp_error("cannot start the speaker");
        goto out;
    }
    for (;;) {
        int sig = sigwaitinfo(&sigs, NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            lbp_info("received %s; leaving", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP)
            reload_pools(k.sp, pool_file);
    }
    rc = 0;
out:
    lbp_speaker_leave(k.sp);
    lbp_announcer_stop(k.ann);
    lbp_httpd_free(httpd);
    if (client)
        lbp_kube_client_shutdown(client);
    if (events) {
        lbp_event_recorder_flush(events, 300);
        lbp_event_recorder_free(events);
    }
    lbp_speaker_free(k.sp);
    lbp_announcer_free(k.ann);
    lbp_kube_client_free(lclient);
    lbp_kube_client_free(client);
    lbp_kube_config_free(kcfg);
    free(pool_yaml);
    lbp_metrics_reset();
    return rc;
}
