/*
 * test_kube_informer.c — the informer's event path in-process (no server):
 * watch lines in, cache contents and handler calls out.
 */
#include "kube/informer_int.h"
#include "common/buf.h"
#include "common/rc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct rec {
    int adds, updates, deletes, unreadable;
    char last[64];    /* "add ns/name rv", "update ns/name oldrv->newrv", "delete ns/name rv" */
    const void *kept; /* a reference taken in a handler */
};

static void on_add(void *ctx, const void *obj)
{
    struct rec *r = ctx;
    const struct lbp_meta *m = obj;
    r->adds++;
    snprintf(r->last, sizeof(r->last), "add %s %s", m->key, m->resource_version);
    if (!r->kept)
        r->kept = lbp_kube_obj_ref((void *)obj);
}

static void on_update(void *ctx, const void *o, const void *n)
{
    struct rec *r = ctx;
    const struct lbp_meta *a = o, *b = n;
    r->updates++;
    snprintf(r->last, sizeof(r->last), "update %s %s->%s", b->key, a->resource_version,
             b->resource_version);
}

static void on_delete(void *ctx, const void *obj)
{
    struct rec *r = ctx;
    const struct lbp_meta *m = obj;
    r->deletes++;
    snprintf(r->last, sizeof(r->last), "delete %s %s", m->key, m->resource_version);
}

static void on_unreadable(void *ctx, const void *obj, int rc)
{
    struct rec *r = ctx;
    const struct lbp_meta *m = obj;
    r->unreadable++;
    assert_true(m->partial);
    snprintf(r->last, sizeof(r->last), "unreadable %s %s %d", m->key, m->resource_version, rc);
}

static int feed(struct lbp_informer *inf, const char *line)
{
    return lbp_informer_feed_line(inf, line, strlen(line));
}

#define SVC(type, name, rv)                                                                        \
    "{\"type\":\"" type "\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"" name       \
    "\",\"namespace\":\"ns\",\"resourceVersion\":\"" rv                                            \
    "\"},\"spec\":{\"type\":\"LoadBalancer\"}}}"

static void test_event_path(void **state)
{
    struct rec r = {0};
    struct lbp_informer_handlers h = {
        .on_add = on_add, .on_update = on_update, .on_delete = on_delete, .ctx = &r};
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE};
    struct lbp_informer *inf = NULL;
    char rv[32];

    assert_int_equal(lbp_informer_new(NULL, &o, &h, &inf), LBP_OK);
    assert_int_equal(lbp_informer_start(inf), LBP_INVALID); /* no client */

    assert_int_equal(feed(inf, SVC("ADDED", "a", "10")), LBP_OK);
    assert_int_equal(r.adds, 1);
    assert_string_equal(r.last, "add ns/a 10");
    assert_int_equal(feed(inf, SVC("ADDED", "b", "11")), LBP_OK);
    assert_int_equal(feed(inf, SVC("MODIFIED", "a", "12")), LBP_OK);
    assert_int_equal(r.updates, 1);
    assert_string_equal(r.last, "update ns/a 10->12");
    lbp_informer_last_rv(inf, rv, sizeof(rv));
    assert_string_equal(rv, "12");

    struct lbp_service *s = lbp_informer_get(inf, "ns/a");
    assert_non_null(s);
    assert_string_equal(s->meta.resource_version, "12");
    assert_string_equal(s->type, "LoadBalancer");
    lbp_kube_obj_unref(s);
    /* The reference taken in on_add still sees the first version. */
    assert_string_equal(((const struct lbp_meta *)r.kept)->resource_version, "10");
    lbp_kube_obj_unref((void *)r.kept);

    assert_int_equal(feed(inf, SVC("DELETED", "b", "13")), LBP_OK);
    assert_int_equal(r.deletes, 1);
    assert_string_equal(r.last, "delete ns/b 13");
    assert_null(lbp_informer_get(inf, "ns/b"));
    /* Deleting what was never seen tells nobody. */
    assert_int_equal(feed(inf, SVC("DELETED", "zz", "14")), LBP_OK);
    assert_int_equal(r.deletes, 1);

    assert_int_equal(feed(inf, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\","
                               "\"metadata\":{\"resourceVersion\":\"99\"}}}"),
                     LBP_OK);
    lbp_informer_last_rv(inf, rv, sizeof(rv));
    assert_string_equal(rv, "99");
    assert_int_equal(feed(inf, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
                               "\"reason\":\"Expired\",\"message\":\"too old resource version\"}}"),
                     LBP_GONE);

    struct lbp_informer_stats st;
    lbp_informer_stats(inf, &st);
    uint64_t errors = st.decode_errors;
    assert_int_equal(feed(inf, "{\"type\":\"ADDED\",\"obj"), LBP_PARSE);
    assert_int_equal(feed(inf, "[1,2]"), LBP_PARSE);
    assert_int_equal(feed(inf, "{\"type\":\"ADDED\"}"), LBP_PARSE);
    assert_int_equal(feed(inf, "{\"type\":\"WHATEVER\",\"object\":{}}"), LBP_PARSE);
    assert_int_equal(feed(inf, SVC("ADDED", "c", "20") " trailing"), LBP_PARSE);
    /* A well-formed event with an unusable object is skipped, RV advances. */
    assert_int_equal(feed(inf, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":7,"
                               "\"resourceVersion\":\"100\"}}}"),
                     LBP_OK);
    lbp_informer_last_rv(inf, rv, sizeof(rv));
    assert_string_equal(rv, "100");
    lbp_informer_stats(inf, &st);
    assert_int_equal(st.decode_errors, errors + 6);
    assert_int_equal(r.adds, 2);

    void **objs;
    size_t n = lbp_informer_list(inf, &objs);
    assert_int_equal(n, 1);
    assert_string_equal(((struct lbp_meta *)objs[0])->key, "ns/a");
    lbp_informer_list_free(objs, n);
    lbp_informer_free(inf);
}

/*
 * An object of ns/NAME at RV with over 16 MiB decoded (no API server
 * stores one: only out of memory or a hostile server gets the decoder to
 * refuse a real object now), optionally being deleted. Inside a watch
 * event of TYPE, or bare (TYPE NULL) for a LIST's items.
 */
static char *huge(const char *type, const char *name, const char *rv, bool deleting)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 8 << 20);
    if (type)
        assert_int_equal(lbp_buf_addf(&b, "{\"type\":\"%s\",\"object\":", type), 0);
    assert_int_equal(
        lbp_buf_addf(&b,
                     "{\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
                     "\"namespace\":\"ns\",\"uid\":\"u-%s\",\"resourceVersion\":"
                     "\"%s\",\"finalizers\":[\"service.kubernetes.io/"
                     "load-balancer-cleanup\"]%s},\"spec\":{\"type\":"
                     "\"LoadBalancer\",\"ports\":[",
                     name, name, rv,
                     deleting ? ",\"deletionTimestamp\":\"2026-11-26T10:00:00Z\"" : ""),
        0);
    for (size_t i = 0; i < (16u << 20) / sizeof(struct lbp_service_port) + 1024; i++)
        assert_int_equal(lbp_buf_adds(&b, i ? ",{}" : "{}"), 0);
    assert_int_equal(lbp_buf_adds(&b, type ? "]}}}" : "]}}"), 0);
    return lbp_buf_take(&b, NULL);
}

/*
 * An object that cannot be decoded never looks absent: its key is marked
 * unreadable, the cache keeps the last version read, a deletion of it is
 * processed, and a LIST does not report it deleted.
 */
static void test_unreadable(void **state)
{
    struct rec r = {0};
    struct lbp_informer_handlers h = {.on_add = on_add,
                                      .on_update = on_update,
                                      .on_delete = on_delete,
                                      .on_unreadable = on_unreadable,
                                      .ctx = &r};
    struct lbp_informer_opts o = {.kind = LBP_KIND_SERVICE};
    struct lbp_informer *inf = NULL;
    struct lbp_service *s;
    char rv[32], *line;
    (void)state;

    r.kept = (void *)1; /* take no reference in on_add */
    assert_int_equal(lbp_informer_new(NULL, &o, &h, &inf), LBP_OK);
    assert_int_equal(feed(inf, SVC("ADDED", "a", "10")), LBP_OK);

    /* a known Service grows past what can be decoded: the last version read stays */
    line = huge("MODIFIED", "a", "11", false);
    assert_int_equal(feed(inf, line), LBP_OK);
    free(line);
    assert_true(lbp_informer_unreadable(inf, "ns/a"));
    assert_int_equal(r.unreadable, 1);
    char want[64];
    snprintf(want, sizeof(want), "unreadable ns/a 11 %d", LBP_TOOBIG);
    assert_string_equal(r.last, want);
    assert_int_equal(r.updates, 0);
    assert_int_equal(r.deletes, 0);
    s = lbp_informer_get(inf, "ns/a");
    assert_non_null(s);
    assert_string_equal(s->meta.resource_version, "10");
    lbp_kube_obj_unref(s);
    lbp_informer_last_rv(inf, rv, sizeof(rv));
    assert_string_equal(rv, "11");

    /* a new one: nothing cached, but known */
    line = huge("ADDED", "n", "12", false);
    assert_int_equal(feed(inf, line), LBP_OK);
    free(line);
    assert_null(lbp_informer_get(inf, "ns/n"));
    assert_true(lbp_informer_unreadable(inf, "ns/n"));
    assert_int_equal(r.unreadable, 2);
    assert_int_equal(r.adds, 1);

    /* a relist keeps both: no delete, "a" still at the version read */
    const char *head = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"20\"},"
                       "\"items\":[";
    char *ia = huge(NULL, "a", "11", false), *in = huge(NULL, "n", "12", false);
    struct lbp_buf b;
    lbp_buf_init(&b, 32 << 20);
    assert_int_equal(lbp_buf_addf(&b, "%s%s,%s]}", head, ia, in), 0);
    free(ia);
    free(in);
    assert_int_equal(lbp_informer_feed_list(inf, b.data, b.len), LBP_OK);
    lbp_buf_free(&b);
    assert_int_equal(r.deletes, 0);
    assert_int_equal(r.updates, 0);
    assert_int_equal(r.unreadable, 4);
    assert_true(lbp_informer_unreadable(inf, "ns/a"));
    assert_true(lbp_informer_unreadable(inf, "ns/n"));
    s = lbp_informer_get(inf, "ns/a");
    assert_non_null(s);
    assert_string_equal(s->meta.resource_version, "10");
    lbp_kube_obj_unref(s);

    /* "a" readable again: the mark goes, the handlers see the change */
    assert_int_equal(feed(inf, SVC("MODIFIED", "a", "21")), LBP_OK);
    assert_false(lbp_informer_unreadable(inf, "ns/a"));
    assert_int_equal(r.updates, 1);
    assert_string_equal(r.last, "update ns/a 10->21");

    /* "n" being deleted: cached by name with its finalizer, so the deletion can run */
    line = huge("MODIFIED", "n", "22", true);
    assert_int_equal(feed(inf, line), LBP_OK);
    free(line);
    assert_false(lbp_informer_unreadable(inf, "ns/n"));
    assert_int_equal(r.adds, 2);
    s = lbp_informer_get(inf, "ns/n");
    assert_non_null(s);
    assert_true(s->meta.partial && s->meta.deleting);
    assert_string_equal(s->meta.uid, "u-n");
    assert_true(lbp_meta_has_finalizer(&s->meta, "service.kubernetes.io/load-balancer-cleanup"));
    assert_null(s->type);
    lbp_kube_obj_unref(s);
    line = huge("DELETED", "n", "23", true);
    assert_int_equal(feed(inf, line), LBP_OK);
    free(line);
    assert_int_equal(r.deletes, 1);
    assert_string_equal(r.last, "delete ns/n 23");
    assert_null(lbp_informer_get(inf, "ns/n"));
    assert_false(lbp_informer_unreadable(inf, "ns/n"));

    /* a relist without it forgets an unreadable key */
    line = huge("MODIFIED", "a", "24", false);
    assert_int_equal(feed(inf, line), LBP_OK);
    free(line);
    assert_true(lbp_informer_unreadable(inf, "ns/a"));
    const char *empty = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"30\"},"
                        "\"items\":[]}";
    assert_int_equal(lbp_informer_feed_list(inf, empty, strlen(empty)), LBP_OK);
    assert_false(lbp_informer_unreadable(inf, "ns/a"));
    assert_int_equal(r.deletes, 2);
    lbp_informer_free(inf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_path),
        cmocka_unit_test(test_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
