/*
 * log.h — one line per event, klog-shaped by default:
 *
 *   I1126 10:00:00.000000   4242 file.c:42] msg key=value
 *
 * or one JSON object per line with --log-format=json. Each line is formatted
 * into a local buffer and written with a single write(2), so lines from many
 * threads never interleave. Callers never pass secrets: nothing here can tell
 * a token from a name, so redaction happens where the secret is known.
 */
#ifndef LBP_COMMON_LOG_H
#define LBP_COMMON_LOG_H

enum lbp_log_level { LBP_LOG_ERROR, LBP_LOG_WARNING, LBP_LOG_INFO };
enum lbp_log_format { LBP_LOG_TEXT, LBP_LOG_JSON };

/* -v=N: lbp_v(N, ...) lines print when N <= verbosity. */
extern int lbp_log_verbosity;

void lbp_log_set_format(enum lbp_log_format fmt);
void lbp_log_set_fd(int fd);
void lbp_log_write(enum lbp_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define lbp_error(...) lbp_log_write(LBP_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define lbp_warn(...) lbp_log_write(LBP_LOG_WARNING, __FILE__, __LINE__, __VA_ARGS__)
#define lbp_info(...) lbp_log_write(LBP_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define lbp_v(n, ...)                                                                              \
    do {                                                                                           \
        if (lbp_log_verbosity >= (n))                                                              \
            lbp_log_write(LBP_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__);                          \
    } while (0)

#endif
