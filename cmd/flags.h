/* flags.h — flag values every subcommand parses the same way. */
#ifndef LBP_CMD_FLAGS_H
#define LBP_CMD_FLAGS_H

#include <stdbool.h>
#include <stdint.h>

/* "500ms", "30s", "5m", "1h" or plain seconds, into milliseconds. LBP_PARSE when not. */
int lbp_flag_duration_ms(const char *s, uint64_t *out);
/* A boolean flag's value: absent (--flag alone), true/false, 1/0. LBP_PARSE when not. */
int lbp_flag_bool(const char *s, bool *out);
/* Prints "lbprov CMD: invalid value 'VAL' for FLAG (see --help)"; returns exit status 2. */
int lbp_flag_bad(const char *cmd, const char *flag, const char *val);

#endif
