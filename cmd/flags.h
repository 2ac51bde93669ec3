/* flags.h — flag values every subcommand parses the same way, and their errors. */
#ifndef LBP_CMD_FLAGS_H
#define LBP_CMD_FLAGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kube/kube.h"

/* "500ms", "30s", "5m", "1h" or plain seconds, into milliseconds. LBP_PARSE when not. */
int lbp_flag_duration_ms(const char *s, uint64_t *out);
/* A boolean flag's value: absent (--flag alone), true/false, 1/0. LBP_PARSE when not. */
int lbp_flag_bool(const char *s, bool *out);
/*
 * Prints "lbprov CMD: invalid value 'VAL' for FLAG: want WANT (see --help)"
 * and returns exit status 2. WANT shows what a valid value looks like.
 */
int lbp_flag_bad(const char *cmd, const char *flag, const char *val, const char *want);
#define LBP_WANT_DURATION "a duration such as 500ms, 30s, 5m or 1h"
#define LBP_WANT_BOOL "true or false"
#define LBP_WANT_NONEMPTY "a non-empty name"
#define LBP_WANT_LOG_FORMAT "text or json"

/* --log-format text|json; 1 when applied, 2 when bad (printed). */
int lbp_flag_log_format(const char *cmd, const char *arg);
/* -v N (also klog's -v=N); 1 when applied, 2 when bad (printed). */
int lbp_flag_verbosity(const char *cmd, const char *arg);

/*
 * The Kubernetes client flags every subcommand takes: put
 * LBP_KUBE_LONG_OPTIONS in the getopt_long table and hand each option to
 * lbp_flag_kube first. Option values above 1000 are reserved for them.
 */
enum {
    LBP_OPT_KUBECONFIG = 1000,
    LBP_OPT_CONTEXT,
    LBP_OPT_MASTER,
    LBP_OPT_KUBE_QPS,
    LBP_OPT_KUBE_BURST,
};
#define LBP_KUBE_LONG_OPTIONS                                                                      \
    {"kubeconfig", required_argument, NULL, LBP_OPT_KUBECONFIG},                                   \
        {"context", required_argument, NULL, LBP_OPT_CONTEXT},                                     \
        {"master", required_argument, NULL, LBP_OPT_MASTER},                                       \
        {"kube-api-qps", required_argument, NULL, LBP_OPT_KUBE_QPS},                               \
    {                                                                                              \
        "kube-api-burst", required_argument, NULL, LBP_OPT_KUBE_BURST                              \
    }

/* 1: opt was a Kubernetes client flag and is applied; 0: it was not; 2: bad value (printed). */
int lbp_flag_kube(const char *cmd, int opt, const char *arg, struct lbp_kube_config_opts *k,
                  struct lbp_kube_client_opts *c);

/* --log-format and -v, for the long-running subcommands' tables. */
#define LBP_OPT_LOG_FORMAT 1010
#define LBP_LOG_LONG_OPTIONS                                                                       \
    {"log-format", required_argument, NULL, LBP_OPT_LOG_FORMAT},                                   \
    {                                                                                              \
        "v", required_argument, NULL, 'v'                                                          \
    }

/*
 * One subcommand's command line, walked with lbp_flag_next. Every
 * subcommand treats these the same way: the Kubernetes client flags,
 * --log-format and -v (when its table has them), -h/--help (prints usage,
 * exit 0), a missing value, an unknown flag and a stray argument (a line
 * on stderr, exit 2).
 */
struct lbp_flag_parser {
    const char *cmd; /* "controller": the name in every message */
    int argc;
    char **argv;
    const char *shortopts; /* getopt's, starting with ':' */
    const struct option *longopts;
    struct lbp_kube_config_opts *kopts;
    struct lbp_kube_client_opts *copts;
    void (*usage)(FILE *f);
    int status; /* the exit status once lbp_flag_next said LBP_FLAG_EXIT */
};
#define LBP_FLAG_DONE (-1) /* all flags read, no argument left over */
#define LBP_FLAG_EXIT (-2) /* return p->status from the subcommand */

void lbp_flag_start(struct lbp_flag_parser *p, const char *cmd, int argc, char **argv,
                    const char *shortopts, const struct option *longopts,
                    struct lbp_kube_config_opts *kopts, struct lbp_kube_client_opts *copts,
                    void (*usage)(FILE *f));
/* The next option the subcommand handles itself, or LBP_FLAG_DONE / LBP_FLAG_EXIT. */
int lbp_flag_next(struct lbp_flag_parser *p);

#endif
