/*
 * fuzz_kube_list.c — LIST pages: the body of one page through the same code
 * a LIST runs (decode every item, replace the cache, tell the handlers the
 * difference), then watch lines on top of it, then a second LIST that
 * replaces it all (a relist after 410 Gone).
 *
 * Input: "LIST\n----\nwatch lines\n----\nLIST"; its first "kind" names
 * the informer's kind (fz_kube_kind). A listed object must be found under its own key.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "kube/informer_int.h"
#include "kube/kube.h"

#include <string.h>

static void feed_lines(struct lbp_informer *inf, const uint8_t *p, size_t n)
{
    while (n) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) : n;
        char *line = fz_strndup(p, l);
        lbp_informer_feed_line(inf, line, l);
        free(line);
        p += l + (nl ? 1 : 0);
        n -= l + (nl ? 1 : 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lbp_informer *inf = NULL;
    struct fz_part parts[3];

    fz_setup();
    struct lbp_informer_opts o = {.kind = (enum lbp_kind)fz_kube_kind(data, size)};
    size_t np = fz_split(data, size, "\n----\n", parts, 3);
    FZ_CHECK(lbp_informer_new(NULL, &o, NULL, &inf) == LBP_OK);
    char *body = fz_strndup(parts[0].p, parts[0].n);
    lbp_informer_feed_list(inf, body, parts[0].n);
    free(body);
    fz_informer_check(inf);
    if (np > 1)
        feed_lines(inf, parts[1].p, parts[1].n);
    if (np > 2) {
        body = fz_strndup(parts[2].p, parts[2].n);
        lbp_informer_feed_list(inf, body, parts[2].n);
        free(body);
        fz_informer_check(inf);
    }
    lbp_informer_free(inf);
    return 0;
}
