/*
 * log.c — klog-style and JSON log lines. See log.h for the format.
 *
 * A line is built in a fixed stack buffer (long messages are cut with "...")
 * and emitted with one write(2); that keeps lines whole across threads
 * without a lock.
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int lbp_log_verbosity = 0;
static enum lbp_log_format log_format = LBP_LOG_TEXT;
static int log_fd = 2;

#define LOG_LINE_MAX 4096

void lbp_log_set_format(enum lbp_log_format fmt)
{
    log_format = fmt;
}

void lbp_log_set_fd(int fd)
{
    log_fd = fd;
}

/*
 * getpid() is a system call on every line otherwise (glibc no longer caches
 * it). The cache is cleared in a forked child, which has a pid of its own.
 */
static int cached_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_forget(void)
{
    __atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
}

static void pid_at_fork(void)
{
    pthread_atfork(NULL, NULL, pid_forget);
}

static int log_pid(void)
{
    int pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (!pid) {
        pthread_once(&pid_once, pid_at_fork);
        pid = (int)getpid();
        __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Appends msg to out as a JSON string body, escaping as RFC 8259 requires. */
static size_t json_escape(char *out, size_t cap, const char *msg)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && n + 7 < cap; p++) {
        switch (*p) {
        case '"':
            n += (size_t)snprintf(out + n, cap - n, "\\\"");
            break;
        case '\\':
            n += (size_t)snprintf(out + n, cap - n, "\\\\");
            break;
        case '\n':
            n += (size_t)snprintf(out + n, cap - n, "\\n");
            break;
        case '\t':
            n += (size_t)snprintf(out + n, cap - n, "\\t");
            break;
        default:
            if (*p < 0x20)
                n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *p);
            else
                out[n++] = (char)*p;
        }
    }
    out[n] = '\0';
    return n;
}

void lbp_log_write(enum lbp_log_level level, const char *file, int line, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX];
    char out[LOG_LINE_MAX * 2];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(msg))
        memcpy(msg + sizeof(msg) - 4, "...", 4);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    if (log_format == LBP_LOG_JSON) {
        static const char *names[] = {"error", "warning", "info"};
        char esc[LOG_LINE_MAX + 64];
        char ts[32];
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        json_escape(esc, sizeof(esc), msg);
        n = snprintf(out, sizeof(out),
                     "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"pid\":%d,\"caller\":\"%s:%d\","
                     "\"msg\":\"%s\"}\n",
                     ts, (long)tv.tv_usec, names[level], log_pid(), base_name(file), line, esc);
    } else {
        static const char letters[] = {'E', 'W', 'I'};
        /* Keep a line a line: a newline inside a message would forge a record. */
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        n = snprintf(out, sizeof(out), "%c%02d%02d %02d:%02d:%02d.%06ld %7d %s:%d] %s\n",
                     letters[level], tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)tv.tv_usec, log_pid(), base_name(file), line, msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(out)) {
        n = sizeof(out) - 1;
        out[n - 1] = '\n';
    }
    ssize_t w = write(log_fd, out, (size_t)n);
    (void)w;
}
