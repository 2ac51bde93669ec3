/*
 * daemon.c — the start-up steps the two long-running subcommands share:
 * the signal mask, the API client from the kubeconfig and the HTTP port.
 * Errors that come from the command line or its files are printed on
 * stderr with the subcommand's name, as every other flag error is.
 */
#include "cmd/daemon.h"
#include "common/log.h"
#include "common/rc.h"

#include <pthread.h>
#include <stdio.h>

void lbp_daemon_signals(sigset_t *set, int extra)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    if (extra)
        sigaddset(set, extra);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int lbp_daemon_kube(const char *cmd, const struct lbp_kube_config_opts *kopts,
                    const struct lbp_kube_client_opts *copts, struct lbp_kube_config **kcfg,
                    struct lbp_kube_client **client)
{
    char err[512] = "";
    int rc = lbp_kube_config_load(kopts, kcfg, err, sizeof(err));
    if (rc == LBP_OK)
        rc = lbp_kube_client_new(*kcfg, copts, client, err, sizeof(err));
    if (rc != LBP_OK)
        fprintf(stderr, "lbprov %s: %s\n", cmd, err);
    return rc;
}

int lbp_daemon_httpd_new(const char *cmd, const char *bind, struct lbp_httpd **out)
{
    char err[512] = "";
    int rc = lbp_httpd_new(bind, out, err, sizeof(err));
    if (rc != LBP_OK)
        fprintf(stderr, "lbprov %s: --http-bind-address: %s\n", cmd, err);
    return rc;
}

int lbp_daemon_httpd_start(const char *cmd, struct lbp_httpd *h, const char *bind)
{
    char err[512] = "";
    int rc = lbp_httpd_start(h, err, sizeof(err));
    if (rc != LBP_OK)
        fprintf(stderr, "lbprov %s: --http-bind-address %s: %s\n", cmd, bind, err);
    else
        lbp_info("http server listening on port %d (bind %s)", lbp_httpd_port(h), bind);
    return rc;
}
