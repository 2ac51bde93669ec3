/* daemon.h — start-up steps `lbprov controller` and `lbprov speaker` take alike. */
#ifndef LBP_CMD_DAEMON_H
#define LBP_CMD_DAEMON_H

#include "common/httpd.h"
#include "kube/kube.h"

#include <signal.h>

/*
 * Blocks SIGTERM, SIGINT, SIGHUP and EXTRA (0: none) in this thread and
 * every thread it starts later, so that only the main loop's sigwait sees
 * them; SIGPIPE is ignored (a peer closing a socket is an error return).
 */
void lbp_daemon_signals(sigset_t *set, int extra);

/*
 * The kubeconfig and one API client from it; on failure the reason is
 * printed as "lbprov CMD: ..." and a non-zero lbp_rc returned (the caller exits 2).
 */
int lbp_daemon_kube(const char *cmd, const struct lbp_kube_config_opts *kopts,
                    const struct lbp_kube_client_opts *copts, struct lbp_kube_config **kcfg,
                    struct lbp_kube_client **client);

/* --http-bind-address: the server, routes added by the caller in between, then start. */
int lbp_daemon_httpd_new(const char *cmd, const char *bind, struct lbp_httpd **out);
int lbp_daemon_httpd_start(const char *cmd, struct lbp_httpd *h, const char *bind);

#endif
