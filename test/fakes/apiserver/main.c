/*
 * main.c — fake-apiserver: flags, start-up and clean shutdown.
 *
 * Prints "listening on http(s)://127.0.0.1:PORT" as its first stdout line
 * (and writes the port to --port-file) once it accepts connections, then
 * waits for SIGTERM/SIGINT in the main thread; every other thread has those
 * signals blocked. On shutdown open watches are ended first so MHD's
 * connection threads can be joined, then every table is freed.
 */
#include "fake.h"
#include "common/log.h"
#include "common/util.h"
#include "test/fakes/fake_util.h"

#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake_config fake_cfg = {.history = 10000, .bookmark_interval_s = 5};
volatile int fake_shutting_down;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: fake-apiserver [options]\n"
           "  --port N               listen port (0: pick a free one; default 0)\n"
           "  --port-file F          write the chosen port to F\n"
           "  --bind ADDR            IPv4 address to bind (default 127.0.0.1)\n"
           "  --tls                  serve HTTPS with a CA + certificate made at start\n"
           "  --tls-cert-out F       write the CA certificate (PEM) to F; implies --tls\n"
           "  --write-pki DIR        write ca.crt, tls.crt and tls.key (a CA and a certificate\n"
           "                         for 127.0.0.1 signed by it) to DIR for a TLS front such\n"
           "                         as nghttpx; the fake itself still serves as --tls says\n"
           "  --token T[:USER]       require \"Authorization: Bearer T\" (repeatable); USER names\n"
           "                         the user (system:serviceaccount:NS:SA for a ServiceAccount);\n"
           "                         without it the first token is admin (system:masters)\n"
           "  --admin-token T[:USER] a token in group system:masters (user admin by default)\n"
           "  --authorization-mode M AlwaysAllow (default) or RBAC: RBAC objects created\n"
           "                         through the API decide every request\n"
           "  --history N            watch events kept for resourceVersion replay (default 10000)\n"
           "  --service-node-port-range A-B\n"
           "                         nodePorts to allocate from, as kube-apiserver (default "
           "30000-32767)\n"
           "  --bookmark-interval S  seconds between BOOKMARK events (default 5)\n"
           "  --watch-gone-http      answer too-old watches with HTTP 410, not an ERROR event\n"
           "  -v                     log every request\n");
}

/* --write-pki: the same kind of PKI --tls makes, as files for another server to present. */
static int write_pki(const char *dir)
{
    char *chain = NULL, *key = NULL, *ca = NULL, path[4096];
    int rc = -1;
    if (fake_tls_make(&chain, &key, &ca))
        goto out;
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    if (fake_write_file(path, ca))
        goto out;
    snprintf(path, sizeof(path), "%s/tls.crt", dir);
    if (fake_write_file(path, chain))
        goto out;
    snprintf(path, sizeof(path), "%s/tls.key", dir);
    rc = fake_write_file(path, key);
out:
    free(chain);
    free(key);
    free(ca);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'P'},
        {"bind", required_argument, NULL, 'b'},
        {"tls", no_argument, NULL, 't'},
        {"tls-cert-out", required_argument, NULL, 'c'},
        {"write-pki", required_argument, NULL, 'W'},
        {"token", required_argument, NULL, 'T'},
        {"admin-token", required_argument, NULL, 'A'},
        {"authorization-mode", required_argument, NULL, 'Z'},
        {"history", required_argument, NULL, 'H'},
        {"bookmark-interval", required_argument, NULL, 'B'},
        {"watch-gone-http", no_argument, NULL, 'g'},
        {"service-node-port-range", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *port_file = NULL, *bind_addr = "127.0.0.1", *cert_out = NULL, *pki_dir = NULL;
    bool tls = false;
    long v, np_lo = 30000, np_hi = 32767;
    int c, rc = 1;
    char *cert = NULL, *key = NULL, *ca = NULL;
    struct MHD_Daemon *d = NULL;
    sigset_t set;

    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (lbp_parse_long(optarg, 0, 65535, &v))
                goto bad;
            fake_cfg.port = (int)v;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'b':
            bind_addr = optarg;
            break;
        case 't':
            tls = true;
            break;
        case 'c':
            cert_out = optarg;
            tls = true;
            break;
        case 'W':
            pki_dir = optarg;
            break;
        case 'T':
        case 'A':
            if (!*optarg || fake_auth_add_token(optarg, c == 'A'))
                goto bad;
            break;
        case 'Z':
            if (strcmp(optarg, "RBAC") == 0)
                fake_cfg.rbac = true;
            else if (strcmp(optarg, "AlwaysAllow") == 0)
                fake_cfg.rbac = false;
            else
                goto bad;
            break;
        case 'H':
            if (lbp_parse_long(optarg, 1, 10000000, &v))
                goto bad;
            fake_cfg.history = (unsigned)v;
            break;
        case 'B':
            if (lbp_parse_long(optarg, 1, 3600, &v))
                goto bad;
            fake_cfg.bookmark_interval_s = (unsigned)v;
            break;
        case 'g':
            fake_cfg.gone_as_http = true;
            break;
        case 'N': {
            long lo, hi;
            char *dash = strchr(optarg, '-');
            if (!dash || dash == optarg)
                goto bad;
            *dash = '\0';
            if (lbp_parse_long(optarg, 1, 65535, &lo) || lbp_parse_long(dash + 1, 1, 65535, &hi) ||
                lo > hi)
                goto bad;
            np_lo = lo;
            np_hi = hi;
            break;
        }
        case 'v':
            fake_cfg.verbose++;
            lbp_log_verbosity++;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (fake_nodeport_range(np_lo, np_hi) || fake_store_init() ||
        fake_watch_init(fake_cfg.history)) {
        lbp_error("out of memory at start");
        goto out;
    }
    if (pki_dir && write_pki(pki_dir)) {
        lbp_error("cannot write the PKI to %s", pki_dir);
        goto out;
    }
    if (tls) {
        if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
            lbp_error("libmicrohttpd was built without TLS");
            goto out;
        }
        if (fake_tls_make(&cert, &key, &ca)) {
            lbp_error("could not make a TLS certificate");
            goto out;
        }
        if (cert_out && fake_write_file(cert_out, ca)) {
            lbp_error("cannot write %s", cert_out);
            goto out;
        }
    }
    d = fake_http_start(bind_addr, fake_cfg.port, cert, key, &fake_cfg.port);
    if (!d) {
        lbp_error("cannot listen on %s:%d", bind_addr, fake_cfg.port);
        goto out;
    }
    if (port_file) {
        char p[16];
        snprintf(p, sizeof(p), "%d\n", fake_cfg.port);
        if (fake_write_file(port_file, p)) {
            lbp_error("cannot write %s", port_file);
            goto out;
        }
    }
    printf("listening on %s://%s:%d\n", tls ? "https" : "http", bind_addr, fake_cfg.port);
    fflush(stdout);
    lbp_info("fake-apiserver ready port=%d tls=%d auth=%d rbac=%d history=%u", fake_cfg.port, tls,
             fake_auth_enabled(), fake_cfg.rbac, fake_cfg.history);

    int sig = 0;
    sigwait(&set, &sig);
    lbp_info("signal %d: shutting down", sig);
    rc = 0;
out:
    pthread_mutex_lock(&fake_lock);
    fake_shutting_down = 1;
    pthread_cond_broadcast(&fake_cond);
    pthread_mutex_unlock(&fake_lock);
    /* Let open watches finish their chunked stream cleanly (bounded) before MHD cuts sockets. */
    for (uint64_t until = lbp_now_ms() + 2000;
         d && fake_watch_open_count() && lbp_now_ms() < until;)
        usleep(10000);
    if (d)
        MHD_stop_daemon(d);
    fake_watch_free();
    fake_store_free();
    fake_faults_free();
    fake_auth_free();
    fake_rbac_free();
    free(cert);
    free(key);
    free(ca);
    return rc;
bad:
    usage(stderr);
    return 2;
}
