/*
 * harness.c — the fuzz targets' shared set-up and input helpers (see
 * harness.h). Nothing here decides what a parser is given: each target
 * does that in its own file.
 */
#include "test/fuzz/harness.h"
#include "common/log.h"
#include "kube/kube.h"
#include "pools/pools.h"
#include "provider/http.h"

#include <fcntl.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

/*
 * ASan's defaults for every target; ASAN_OPTIONS still wins, flag by flag.
 * A freed block waits in the quarantine before it is handed out again, so
 * a use after free hits poisoned memory. The default quarantine (256 MiB)
 * holds what thousands of inputs freed, and cycling that much memory was
 * most of the time of the targets that allocate a few dozen KiB per input
 * (mock_state 6.0 s of CPU for 15,000 inputs, 1.9 s at 32 MiB): page
 * faults and cache misses, not parsing. 32 MiB still outlasts any one
 * input's allocations many times over (inputs are at most 64 KiB).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=32";
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void cleanup(void)
{
    if (g_dir[0])
        nftw(g_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fz_setup(void)
{
    if (g_dir[0])
        return g_dir;
    if (!getenv("LBP_FUZZ_LOG")) {
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
            lbp_log_set_fd(fd);
    }
    /* Memory-backed when there is one: the targets that read files rewrite
       them on every input, and a disk file system flushes each rewrite. */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/lbp-fuzz-XXXXXX", tmp);
    if (!mkdtemp(g_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(cleanup);
    return g_dir;
}

char *fz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

size_t fz_split(const uint8_t *data, size_t size, const char *sep, struct fz_part *parts,
                size_t max)
{
    size_t n = 0, sl = strlen(sep);
    while (n + 1 < max) {
        const uint8_t *hit = memmem(data, size, sep, sl);
        if (!hit)
            break;
        parts[n].p = data;
        parts[n].n = (size_t)(hit - data);
        n++;
        size -= (size_t)(hit - data) + sl;
        data = hit + sl;
    }
    parts[n].p = data;
    parts[n].n = size;
    return n + 1;
}

int fz_kube_kind(const uint8_t *data, size_t size)
{
    static const struct {
        const char *name;
        enum lbp_kind kind;
    } kinds[] = {{"\"Node\"", LBP_KIND_NODE},
                 {"\"EndpointSlice\"", LBP_KIND_ENDPOINTSLICE},
                 {"\"Lease\"", LBP_KIND_LEASE}};
    const uint8_t *k = memmem(data, size, "\"kind\":", 7);
    if (!k)
        return LBP_KIND_SERVICE;
    size_t left = size - (size_t)(k - data) - 7;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t l = strlen(kinds[i].name);
        if (left >= l && memcmp(k + 7, kinds[i].name, l) == 0)
            return kinds[i].kind;
    }
    return LBP_KIND_SERVICE;
}

size_t fz_informer_check(struct lbp_informer *inf)
{
    void **objs = NULL;
    size_t n = lbp_informer_list(inf, &objs);
    for (size_t i = 0; i < n; i++) {
        const struct lbp_meta *m = objs[i];
        void *again = lbp_informer_get(inf, m->key);
        FZ_CHECK(again == objs[i]);
        lbp_kube_obj_unref(again);
    }
    lbp_informer_list_free(objs, n);
    return n;
}

void fz_pools_check(struct lbp_pool_set *set)
{
    struct lbp_pools_diag d = {0};
    bool ok = lbp_pool_set_check(set, &d) == 0;
    FZ_CHECK(ok || d.err[0]);
    for (size_t i = 0; i < set->n_pools; i++) {
        const struct lbp_pool *p = &set->pools[i];
        /* Names are unique in a set that passed the check. */
        FZ_CHECK(ok ? lbp_pool_set_find(set, p->name) == p
                    : lbp_pool_set_find(set, p->name) != NULL);
        for (size_t r = 0; r < p->n_ranges; r++) {
            struct lbp_ip first = {.family = p->ranges[r].family, .v = p->ranges[r].first};
            struct lbp_ip last = {.family = p->ranges[r].family, .v = p->ranges[r].last};
            FZ_CHECK(lbp_pool_contains(p, &first) && lbp_pool_contains(p, &last));
        }
    }
}

int fz_write(const char *dir, const char *name, const void *data, size_t len, char *path,
             size_t cap)
{
    snprintf(path, cap, "%s/%s", dir, name);
    /* A new file, not a truncated one: ext4 flushes a file truncated and
       rewritten when it is closed, which costs a disk write per input. */
    unlink(path);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    return fclose(f) == 0 && w == len ? 0 : -1;
}

void fz_http_script(struct fz_http *h, const uint8_t *data, size_t size)
{
    h->n = fz_split(data, size, "\n=====\n", h->ans, FZ_HTTP_MAX);
    h->next = 0;
    h->requests = 0;
}

int fz_http_answer(void *ud, const struct lbp_http_request *req, const char *url,
                   struct lbp_http_answer *out)
{
    struct fz_http *h = ud;
    (void)req;
    FZ_CHECK(url && *url);
    h->requests++;
    if (h->next >= h->n)
        return -1;
    const char *p = (const char *)h->ans[h->next].p;
    size_t n = h->ans[h->next].n;
    h->next++;
    out->status = 200;
    out->body = p;
    out->body_len = n;
    if (n < 4 || p[0] < '1' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
        p[3] != '\n')
        return 0;
    out->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 4;
    n -= 4;
    const char *blank = n && p[0] == '\n' ? p : memmem(p, n, "\n\n", 2);
    if (!blank) {
        out->headers = p;
        out->headers_len = n;
        out->body = p + n;
        out->body_len = 0;
        return 0;
    }
    out->headers = p;
    out->headers_len = (size_t)(blank - p) + (blank == p ? 0 : 1);
    out->body = blank + (blank == p ? 1 : 2);
    out->body_len = n - (size_t)(out->body - p);
    return 0;
}

struct lbp_http_client *fz_http_client(struct fz_http *h)
{
    struct lbp_http_opts o = {.cloud = "fuzz",
                              .max_attempts = 3,
                              .backoff_base_ms = 1,
                              .backoff_max_ms = 1,
                              .retry_after_max_ms = 1,
                              .max_body = 1u << 20};
    static struct lbp_http_client *c; /* one for the process: clients register metrics */
    if (!c)
        FZ_CHECK(lbp_http_client_new(&o, &c) == 0 && c);
    lbp_http_set_transport(c, fz_http_answer, h);
    return c;
}
