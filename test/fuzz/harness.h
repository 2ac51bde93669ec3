/*
 * harness.h — what the fuzz targets share: one-time set-up (logs to
 * /dev/null, a private scratch directory), cutting one input into parts,
 * and writing a part to a file for parsers that read files.
 */
#ifndef LBP_FUZZ_HARNESS_H
#define LBP_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A property every input must keep; unlike assert() it survives NDEBUG. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Each target defines this; libFuzzer calls it once per input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Once per process: log lines go to /dev/null (set LBP_FUZZ_LOG=1 to see
 * them; they are still formatted, so a bad format argument still shows),
 * and a scratch directory is made (in $TMPDIR, else /dev/shm, else /tmp),
 * removed at exit. Returns its path.
 */
const char *fz_setup(void);

/* A NUL-terminated malloc'd copy of data (parsers take C strings). */
char *fz_strndup(const uint8_t *data, size_t size);

/*
 * Cuts data at each occurrence of sep into at most max parts (the last
 * part keeps any further separators). Returns the number of parts; each
 * part points into data.
 */
struct fz_part {
    const uint8_t *p;
    size_t n;
};
size_t fz_split(const uint8_t *data, size_t size, const char *sep, struct fz_part *parts,
                size_t max);

/*
 * The kind a Kubernetes text is about: the first "kind":"..." in it names
 * Node, EndpointSlice or Lease; anything else is a Service. So recorded
 * objects and streams are seeds as they are, with no selector byte.
 */
int fz_kube_kind(const uint8_t *data, size_t size);

/* Every object an informer lists is found under its own key; returns how many. */
struct lbp_informer;
size_t fz_informer_check(struct lbp_informer *inf);

/*
 * A pool set that parsed passes or fails the whole-set check cleanly, each
 * pool is found by its name and holds the first and last address of each
 * of its ranges.
 */
struct lbp_pool_set;
void fz_pools_check(struct lbp_pool_set *set);

/* Writes len bytes to dir/name (replacing it); fills path. 0 on success. */
int fz_write(const char *dir, const char *name, const void *data, size_t len, char *path,
             size_t cap);

/*
 * Scripted answers for the HTTP client's in-process transport
 * (lbp_http_set_transport): the input is cut at "\n=====\n" into one
 * answer per request, in order. An answer starting "NNN\n" has that
 * status, then either a blank line or header lines up to the first blank
 * line, then the body; any other answer is a 200 whose body is all of it
 * (so a recorded response is a seed as it is). Once the answers run out,
 * every request fails to connect, so retry and paging loops end.
 */
#define FZ_HTTP_MAX 12
struct lbp_http_request;
struct lbp_http_answer;
struct fz_http {
    struct fz_part ans[FZ_HTTP_MAX];
    size_t n, next;
    unsigned requests;
};
void fz_http_script(struct fz_http *h, const uint8_t *data, size_t size);
int fz_http_answer(void *ud, const struct lbp_http_request *req, const char *url,
                   struct lbp_http_answer *out);
/* The process's one client, answering from h: 3 attempts, ~no backoff, 1 MiB bodies. */
struct lbp_http_client;
struct lbp_http_client *fz_http_client(struct fz_http *h);

#endif
