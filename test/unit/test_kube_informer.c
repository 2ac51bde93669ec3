/*
 * test_kube_informer.c — the informer's event path in-process (no server):
 * watch lines in, cache contents and handler calls out.
 */
#include "kube/informer_int.h"
#include "common/rc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

struct rec {
    int adds, updates, deletes;
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
    struct lbp_informer_handlers h = {on_add, on_update, on_delete, &r};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
