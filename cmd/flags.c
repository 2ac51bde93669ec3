/*
 * flags.c — flag values shared by the subcommands (durations, booleans, the
 * Kubernetes client flags, log format and verbosity) and the one-line
 * error for a bad one, which says what a valid value looks like.
 */
#include "cmd/flags.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lbp_flag_duration_ms(const char *s, uint64_t *out)
{
    static const struct {
        const char *suffix;
        long ms;
    } units[] = {{"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60000}, {"h", 3600000}};
    char num[32];
    size_t n = strspn(s, "0123456789");
    long v;
    if (n == 0 || n >= sizeof(num))
        return LBP_PARSE;
    memcpy(num, s, n);
    num[n] = '\0';
    if (lbp_parse_long(num, 0, 100000000, &v))
        return LBP_PARSE;
    for (size_t i = 0; i < LBP_ARRAY_LEN(units); i++)
        if (strcmp(s + n, units[i].suffix) == 0) {
            *out = (uint64_t)v * (uint64_t)units[i].ms;
            return LBP_OK;
        }
    return LBP_PARSE;
}

int lbp_flag_bool(const char *s, bool *out)
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

int lbp_flag_kube(const char *cmd, int opt, const char *arg, struct lbp_kube_config_opts *k,
                  struct lbp_kube_client_opts *c)
{
    long n;
    switch (opt) {
    case LBP_OPT_KUBECONFIG:
        k->kubeconfig = arg;
        return 1;
    case LBP_OPT_CONTEXT:
        k->context = arg;
        return 1;
    case LBP_OPT_MASTER:
        k->master = arg;
        return 1;
    case LBP_OPT_KUBE_QPS: {
        char *end;
        double q = strtod(arg, &end);
        if (end == arg || *end || q < 0 || q > 1e6)
            return lbp_flag_bad(cmd, "--kube-api-qps", arg,
                                "requests per second, e.g. 50 or 2.5 (0: no limit)");
        c->qps = q;
        return 1;
    }
    case LBP_OPT_KUBE_BURST:
        if (lbp_parse_long(arg, 1, 100000, &n))
            return lbp_flag_bad(cmd, "--kube-api-burst", arg, "a whole number from 1 to 100000");
        c->burst = (int)n;
        return 1;
    }
    return 0;
}

int lbp_flag_log_format(const char *cmd, const char *arg)
{
    if (strcmp(arg, "json") == 0)
        lbp_log_set_format(LBP_LOG_JSON);
    else if (strcmp(arg, "text") == 0)
        lbp_log_set_format(LBP_LOG_TEXT);
    else
        return lbp_flag_bad(cmd, "--log-format", arg, LBP_WANT_LOG_FORMAT);
    return 1;
}

int lbp_flag_verbosity(const char *cmd, const char *arg)
{
    long n;
    if (arg[0] == '=') /* klog's -v=N */
        arg++;
    if (lbp_parse_long(arg, 0, 10, &n))
        return lbp_flag_bad(cmd, "-v", arg, "a level from 0 to 10");
    lbp_log_verbosity = (int)n;
    return 1;
}

int lbp_flag_bad(const char *cmd, const char *flag, const char *val, const char *want)
{
    fprintf(stderr, "lbprov %s: invalid value '%s' for %s: want %s (see --help)\n", cmd, val, flag,
            want);
    return 2;
}

void lbp_flag_start(struct lbp_flag_parser *p, const char *cmd, int argc, char **argv,
                    const char *shortopts, const struct option *longopts,
                    struct lbp_kube_config_opts *kopts, struct lbp_kube_client_opts *copts,
                    void (*usage)(FILE *f))
{
    *p = (struct lbp_flag_parser){.cmd = cmd,
                                  .argc = argc,
                                  .argv = argv,
                                  .shortopts = shortopts,
                                  .longopts = longopts,
                                  .kopts = kopts,
                                  .copts = copts,
                                  .usage = usage};
    /* getopt's state is global: every subcommand (and every test run) starts it over */
    optind = 1;
    opterr = 0;
}

int lbp_flag_next(struct lbp_flag_parser *p)
{
    int opt;
    for (;;) {
        opt = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
        int kube = opt == -1 ? 0 : lbp_flag_kube(p->cmd, opt, optarg, p->kopts, p->copts);
        if (kube == 2 || (opt == LBP_OPT_LOG_FORMAT && lbp_flag_log_format(p->cmd, optarg) == 2) ||
            (opt == 'v' && lbp_flag_verbosity(p->cmd, optarg) == 2)) {
            p->status = 2;
            return LBP_FLAG_EXIT;
        }
        if (kube || opt == LBP_OPT_LOG_FORMAT || opt == 'v')
            continue;
        break;
    }
    switch (opt) {
    case -1:
        if (optind < p->argc) {
            fprintf(stderr, "lbprov %s: unexpected argument '%s' (see --help)\n", p->cmd,
                    p->argv[optind]);
            p->status = 2;
            return LBP_FLAG_EXIT;
        }
        return LBP_FLAG_DONE;
    case 'h':
        p->usage(stdout);
        p->status = 0;
        return LBP_FLAG_EXIT;
    case ':':
        fprintf(stderr, "lbprov %s: %s needs a value (see --help)\n", p->cmd, p->argv[optind - 1]);
        p->status = 2;
        return LBP_FLAG_EXIT;
    case '?':
        fprintf(stderr, "lbprov %s: unknown flag '%s' (see --help)\n", p->cmd, p->argv[optind - 1]);
        p->status = 2;
        return LBP_FLAG_EXIT;
    }
    return opt;
}
