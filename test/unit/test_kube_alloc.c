/*
 * test_kube_alloc.c — how many allocations the watch path makes: a
 * decoded object is one block, so a MODIFIED event costs exactly that
 * block, an ADDED one the block and the cache entry, and lbp_kube_decode
 * the block alone. Counted with test/bench/alloc_count.h (GNU ld --wrap
 * for lbprov's code; under ASan also every allocation in the process).
 */
#include "kube/informer_int.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/rc.h"
#include "test/bench/alloc_count.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *fixture(const char *name, size_t *len)
{
    char path[512], *json = NULL;
    snprintf(path, sizeof(path), "%s/kube/%s", LBP_TEST_DATA_DIR, name);
    assert_int_equal(lbp_file_read(path, 1 << 20, 0, &json, len), LBP_OK);
    return json;
}

/* A watch line: {"type":type,"object":<the fixture with its name replaced>}. */
static void event(struct lbp_buf *b, const char *type, const char *obj, const char *from,
                  const char *to)
{
    const char *at = strstr(obj, from);
    assert_non_null(at);
    lbp_buf_reset(b);
    assert_int_equal(lbp_buf_addf(b, "{\"type\":\"%s\",\"object\":", type), 0);
    assert_int_equal(lbp_buf_add(b, obj, (size_t)(at - obj)), 0);
    assert_int_equal(lbp_buf_adds(b, to), 0);
    assert_int_equal(lbp_buf_adds(b, at + strlen(from)), 0);
    assert_int_equal(lbp_buf_adds(b, "}"), 0);
}

struct counts {
    int adds, updates, deletes;
};

static void on_add(void *ctx, const void *o)
{
    ((struct counts *)ctx)->adds++;
}

static void on_update(void *ctx, const void *a, const void *b)
{
    ((struct counts *)ctx)->updates++;
}

static void on_delete(void *ctx, const void *o)
{
    ((struct counts *)ctx)->deletes++;
}

struct tally {
    uint64_t ours, all;
};

static struct tally now(void)
{
    return (struct tally){lbp_alloc_count(), lbp_alloc_count_all()};
}

/* Feeds one line and asserts how many allocations it made. */
static void feed_expect(struct lbp_informer *inf, const struct lbp_buf *line, uint64_t want)
{
    struct tally t0 = now();
    assert_int_equal(lbp_informer_feed_line(inf, line->data, line->len), LBP_OK);
    struct tally t1 = now();
    if (t1.ours - t0.ours != want || (lbp_alloc_count_start() && t1.all - t0.all != want))
        fail_msg("%.40s...: %llu allocations by lbprov, %llu in all; want %llu", line->data,
                 (unsigned long long)(t1.ours - t0.ours), (unsigned long long)(t1.all - t0.all),
                 (unsigned long long)want);
}

static void watch_events(enum lbp_kind kind, const char *file, const char *name)
{
    struct counts c = {0};
    struct lbp_informer_handlers h = {
        .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .ctx = &c};
    struct lbp_informer_opts o = {.kind = kind};
    struct lbp_informer *inf = NULL;
    struct lbp_buf line;
    size_t len;
    char *obj = fixture(file, &len);
    char other[300];

    lbp_alloc_count_start();
    lbp_buf_init(&line, 1 << 20);
    assert_int_equal(lbp_informer_new(NULL, &o, &h, &inf), LBP_OK);

    /*
     * The first object also makes the cache's hash table (uthash: the
     * table and its buckets); the tokens were reserved with the informer.
     */
    event(&line, "ADDED", obj, name, name);
    feed_expect(inf, &line, 2 + 2);
    /* The block: the entry is reused, even as the only one (no table rebuilt). */
    event(&line, "MODIFIED", obj, name, name);
    feed_expect(inf, &line, 1);
    for (int i = 0; i < 20; i++) {
        snprintf(other, sizeof(other), "\"%.*s-%d\"", (int)strlen(name) - 2, name + 1, i);
        event(&line, "ADDED", obj, name, other);
        feed_expect(inf, &line, 2); /* the block and the cache entry */
    }
    for (int i = 0; i < 5; i++) {
        event(&line, "MODIFIED", obj, name, name);
        feed_expect(inf, &line, 1);
    }
    event(&line, "DELETED", obj, name, name);
    feed_expect(inf, &line, 1); /* the final state handed to on_delete */
    lbp_buf_reset(&line);
    assert_int_equal(lbp_buf_adds(&line, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
                                         "\"resourceVersion\":\"99999\"}}}"),
                     0);
    feed_expect(inf, &line, 0);

    assert_int_equal(c.adds, 21);
    assert_int_equal(c.updates, 6);
    assert_int_equal(c.deletes, 1);
    lbp_informer_free(inf);
    lbp_buf_free(&line);
    free(obj);
}

static void test_service_events(void **state)
{
    watch_events(LBP_KIND_SERVICE, "service_lb.json", "\"web\"");
}

static void test_node_events(void **state)
{
    watch_events(LBP_KIND_NODE, "node_40images.json", "\"worker-1\"");
}

static void test_decode(void **state)
{
    const char *files[] = {"service_lb.json", "node_40images.json", "endpointslice.json",
                           "lease.json"};
    const enum lbp_kind kinds[] = {LBP_KIND_SERVICE, LBP_KIND_NODE, LBP_KIND_ENDPOINTSLICE,
                                   LBP_KIND_LEASE};
    lbp_alloc_count_start();
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *json = fixture(files[i], &len);
        void *obj = NULL;
        struct tally t0 = now();
        assert_int_equal(lbp_kube_decode(kinds[i], json, len, &obj), LBP_OK);
        struct tally t1 = now();
        if (t1.ours - t0.ours != 1 || (lbp_alloc_count_start() && t1.all - t0.all != 1))
            fail_msg("%s: %llu allocations by lbprov, %llu in all; want 1", files[i],
                     (unsigned long long)(t1.ours - t0.ours),
                     (unsigned long long)(t1.all - t0.all));
        lbp_kube_obj_unref(obj);
        free(json);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_events),
        cmocka_unit_test(test_node_events),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
