/*
 * fake_util.h — plumbing every fake program and its test-side client
 * share: x-www-form-urlencoded parsing, writing a file atomically (the
 * --port-file), and starting a fake and reading the port from its first
 * stdout line ("listening on http[s]://ADDR:PORT").
 */
#ifndef LBP_FAKE_UTIL_H
#define LBP_FAKE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Decodes one form-encoded token as a servlet or the AWS front end does:
 * '+' is a space, %XX a byte (a '%' without two hex digits stays as it is).
 * Returns a malloc'd NUL-terminated string, NULL when out of memory.
 */
char *fake_form_decode(const char *s, size_t n);

/*
 * Calls cb(ud, name, value) for each name=value pair of a query string or
 * form body, both decoded and malloc'd; cb owns them. A pair without '='
 * has the value "". Stops at the first non-zero return of cb and returns
 * it; -1 when out of memory.
 */
int fake_form_each(const char *s, size_t len, int (*cb)(void *ud, char *name, char *value),
                   void *ud);

/* Writes data to path through path.tmp and rename(2); 0 or -1. */
int fake_write_file(const char *path, const char *data);

/*
 * Starts bin with extra (NULL-terminated, may be NULL) as arguments, its
 * stdout on a pipe of which only the first line is read: the port. The
 * child gets SIGTERM if the caller dies. 0, or -1 (nothing left running).
 */
int fake_spawn_listening(const char *bin, const char *const *extra, pid_t *pid, int *port);
/*
 * SIGTERM to the fake at *pid and reap it; *pid becomes 0. Its exit
 * status, 0 when none ran, -1 when it did not exit by itself.
 */
int fake_spawn_stop(pid_t *pid);

/* "A.B.C.D/bits" (8..30): the first address (host order) and the count. 0 or -1. */
int fake_parse_cidr(const char *s, uint32_t *base, uint32_t *n);

#endif
