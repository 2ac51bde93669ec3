/* cmd.h — the subcommands main() dispatches to; each gets argv from its own name on. */
#ifndef LBP_CMD_H
#define LBP_CMD_H

struct lbp_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

int lbp_cmd_version(int argc, char **argv);
int lbp_cmd_controller(int argc, char **argv);
int lbp_cmd_status(int argc, char **argv);
int lbp_cmd_speaker(int argc, char **argv);

#endif
