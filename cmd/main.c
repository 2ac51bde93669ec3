/*
 * main.c — lbprov's entry point: picks the subcommand and hands it argv.
 *
 * Each subcommand lives in its own file (cmd/<name>.c) and owns its flags,
 * start-up order and signal handling. Exit status: 0 success, 1 runtime
 * failure, 2 bad usage or configuration.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

static const struct lbp_cmd commands[] = {
    {"version", "print version and build information", lbp_cmd_version},
    {"controller", "run the service controller (provisions load balancers)", lbp_cmd_controller},
    {"speaker", "run the bare-metal speaker (owns and announces VIPs with ARP/NDP)",
     lbp_cmd_speaker},
    {"status", "list LoadBalancer Services, their addresses and latest events", lbp_cmd_status},
};

static void usage(FILE *f)
{
    fprintf(f,
            "lbprov %s — provisions Kubernetes Services of type LoadBalancer\n\n"
            "Usage: lbprov COMMAND [flags]\n\nCommands:\n",
            LBP_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'lbprov COMMAND --help' for a command's flags.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return lbp_cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lbprov: unknown command '%s' (see 'lbprov --help')\n", argv[1]);
    return 2;
}
