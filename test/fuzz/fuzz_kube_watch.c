/*
 * fuzz_kube_watch.c — a watch stream as the API server (or anything between
 * it and lbprov) might send it: bytes cut into lines by the splitter the
 * watch uses, each line run through the informer's event path (decode,
 * cache, handlers) exactly as the watch thread runs it.
 *
 * Input: the stream. Its length picks the chunk size the bytes arrive in
 * and the line cap (one length in seven gets a 256-byte cap, so overlong
 * lines are reached); its first "kind" names the informer's kind
 * (fz_kube_kind). The cache must stay consistent: every listed object is found
 * under its own key.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "kube/informer_int.h"
#include "kube/kube_int.h"

#include <string.h>

struct seen {
    unsigned long adds, updates, deletes;
};

static void on_add(void *ctx, const void *obj)
{
    FZ_CHECK(obj);
    ((struct seen *)ctx)->adds++;
}

static void on_update(void *ctx, const void *old_obj, const void *new_obj)
{
    FZ_CHECK(old_obj && new_obj);
    ((struct seen *)ctx)->updates++;
}

static void on_delete(void *ctx, const void *obj)
{
    FZ_CHECK(obj);
    ((struct seen *)ctx)->deletes++;
}

static int on_line(void *ctx, const char *line, size_t len)
{
    FZ_CHECK(line[len] == '\0');
    lbp_informer_feed_line(ctx, line, len);
    return 0; /* a real watch restarts on some answers; keep going to reach more */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen seen = {0};
    struct lbp_informer_handlers h = {
        .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .ctx = &seen};
    struct lbp_informer *inf = NULL;
    struct lbp_line_splitter s;

    fz_setup();
    struct lbp_informer_opts o = {.kind = (enum lbp_kind)fz_kube_kind(data, size)};
    size_t chunk = (size % 61) * 67 + 1;
    lbp_line_splitter_init(&s, size % 7 == 0 ? 256 : 1u << 20);
    FZ_CHECK(lbp_informer_new(NULL, &o, &h, &inf) == LBP_OK);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        lbp_line_splitter_feed(&s, (const char *)data + off, n, on_line, inf);
    }
    FZ_CHECK(fz_informer_check(inf) <= seen.adds);
    lbp_informer_free(inf);
    lbp_line_splitter_free(&s);
    return 0;
}
