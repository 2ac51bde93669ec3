/*
 * lbp-announce — a small driver around the speaker/ announcer for the
 * network-namespace tests and the ARP benchmark: announces the VIPs given on
 * the command line until SIGTERM/SIGINT, then prints its counters.
 *
 *   lbp-announce --vip 192.168.77.100 --vip fd00:77::100 [--iface eth0]...
 *                [--garp-interval-ms N] [--garp-duration-ms N] [--keep-caps]
 *
 * SIGUSR1 releases every VIP (the announcer keeps running), SIGUSR2 takes
 * them back; each prints a line once applied, so scripts can wait for it.
 */
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "speaker/speaker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VIPS 64
#define MAX_IFACES LBP_VIP_MAX_IFACES

static void usage(void)
{
    fprintf(stderr, "usage: lbp-announce --vip ADDR [--vip ADDR]... [--iface NAME]...\n"
                    "                    [--garp-interval-ms N] [--garp-duration-ms N]"
                    " [--keep-caps] [-v N]\n");
}

static void print_stats(struct lbp_announcer *a, const char *what)
{
    struct lbp_announcer_stats st;
    lbp_announcer_get_stats(a, &st);
    printf("%s requests_seen=%llu requests_received=%llu replies_sent=%llu "
           "gratuitous_sent=%llu send_errors=%llu owned_vips=%llu announced_vips=%llu\n",
           what, (unsigned long long)st.requests_seen, (unsigned long long)st.requests_received,
           (unsigned long long)st.replies_sent, (unsigned long long)st.gratuitous_sent,
           (unsigned long long)st.send_errors, (unsigned long long)st.owned_vips,
           (unsigned long long)st.announced_vips);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct lbp_vip vips[MAX_VIPS];
    size_t nvips = 0, nifaces = 0;
    const char *ifaces[MAX_IFACES];
    struct lbp_announcer_opts opts = {0};
    struct lbp_announcer *a = NULL;
    bool keep_caps = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(arg, "--keep-caps") == 0) {
            keep_caps = true;
            continue;
        }
        if (!val) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(arg, "--vip") == 0) {
            if (nvips == MAX_VIPS || lbp_vip_parse(val, &vips[nvips]) != LBP_OK) {
                fprintf(stderr, "lbp-announce: bad or too many --vip: %s\n", val);
                return 2;
            }
            nvips++;
        } else if (strcmp(arg, "--iface") == 0 && nifaces < MAX_IFACES) {
            ifaces[nifaces++] = val;
        } else if (strcmp(arg, "--garp-interval-ms") == 0 &&
                   lbp_parse_long(val, 1, 60000, &n) == LBP_OK) {
            opts.garp_interval_ms = (unsigned)n;
        } else if (strcmp(arg, "--garp-duration-ms") == 0 &&
                   lbp_parse_long(val, 1, 600000, &n) == LBP_OK) {
            opts.garp_duration_ms = (unsigned)n;
        } else if (strcmp(arg, "-v") == 0 && lbp_parse_long(val, 0, 10, &n) == LBP_OK) {
            lbp_log_verbosity = (int)n;
        } else {
            usage();
            return 2;
        }
    }
    if (nvips == 0) {
        usage();
        return 2;
    }
    for (size_t i = 0; i < nvips; i++)
        for (size_t j = 0; j < nifaces; j++)
            if (lbp_vip_add_iface(&vips[i], ifaces[j]) != LBP_OK) {
                fprintf(stderr, "lbp-announce: bad --iface %s\n", ifaces[j]);
                return 2;
            }

    /* Signals are taken synchronously with sigwait, so block them before the
     * packet thread exists and inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (!keep_caps && lbp_speaker_drop_caps() != LBP_OK) {
        fprintf(stderr, "lbp-announce: cannot reduce capabilities to CAP_NET_RAW\n");
        goto out;
    }
    if (lbp_announcer_new(&opts, &a) != LBP_OK || lbp_announcer_start(a) != LBP_OK ||
        lbp_announcer_set_vips(a, vips, nvips) != LBP_OK)
        goto out;
    print_stats(a, "ready");
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            break;
        if (sig == SIGUSR1) {
            lbp_announcer_set_vips(a, NULL, 0);
            print_stats(a, "released");
        } else if (sig == SIGUSR2) {
            lbp_announcer_set_vips(a, vips, nvips);
            print_stats(a, "owned");
        } else {
            break;
        }
    }
    lbp_announcer_stop(a);
    print_stats(a, "exit");
    rc = 0;
out:
    lbp_announcer_free(a);
    return rc;
}
