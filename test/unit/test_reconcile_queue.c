/* test_reconcile_queue.c — the work queue: de-duplication, re-run after a re-add while active,
 * backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/util.h"
#include "reconcile/reconcile_int.h"

#include <stdlib.h>
#include <string.h>

static void test_dedup(void **state)
{
    struct lbp_queue *q;
    char *k;
    (void)state;
    assert_int_equal(lbp_queue_new(50, 400, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    lbp_queue_add(q, "a/x");
    lbp_queue_add(q, "a/y");
    assert_int_equal(lbp_queue_len(q), 2);
    assert_true(lbp_queue_get(q, &k));
    assert_string_equal(k, "a/x");
    lbp_queue_done(q, k);
    free(k);
    assert_true(lbp_queue_get(q, &k));
    assert_string_equal(k, "a/y");
    lbp_queue_done(q, k);
    free(k);
    assert_int_equal(lbp_queue_len(q), 0);
    lbp_queue_free(q);
}

static void test_readd_while_active(void **state)
{
    struct lbp_queue *q;
    char *k, *k2;
    (void)state;
    assert_int_equal(lbp_queue_new(50, 400, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    assert_true(lbp_queue_get(q, &k));
    lbp_queue_add(q, "a/x"); /* while active: must not be handed out twice */
    lbp_queue_add(q, "a/z");
    assert_true(lbp_queue_get(q, &k2));
    assert_string_equal(k2, "a/z");
    lbp_queue_done(q, k2);
    free(k2);
    lbp_queue_done(q, k); /* dirty: queued again */
    free(k);
    assert_true(lbp_queue_get(q, &k));
    assert_string_equal(k, "a/x");
    lbp_queue_done(q, k);
    free(k);
    assert_int_equal(lbp_queue_len(q), 0);
    lbp_queue_free(q);
}

static void test_backoff(void **state)
{
    struct lbp_queue *q;
    char *k;
    uint64_t t0;
    (void)state;
    assert_int_equal(lbp_queue_new(40, 100, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 0), 40);
    free(k);
    t0 = lbp_now_ms();
    lbp_queue_add(q, "a/x"); /* a resync does not cut the backoff short */
    assert_true(lbp_queue_get(q, &k));
    assert_true(lbp_now_ms() - t0 >= 39);
    assert_int_equal(lbp_queue_retry(q, k, 0), 80);
    free(k);
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 0), 100); /* capped */
    free(k);
    assert_true(lbp_queue_get(q, &k));
    lbp_queue_done(q, k); /* success forgets the failures */
    free(k);
    lbp_queue_add(q, "a/x");
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 0), 40);
    free(k);
    /* retry-after from the provider wins over the backoff */
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 7), 7);
    free(k);
    /* a real change makes a waiting key ready at once */
    lbp_queue_add_now(q, "a/x");
    t0 = lbp_now_ms();
    assert_true(lbp_queue_get(q, &k));
    assert_true(lbp_now_ms() - t0 < 7 + 30);
    lbp_queue_done(q, k);
    free(k);
    lbp_queue_free(q);
}

/* Polling an operation in progress neither grows nor forgets the backoff. */
static void test_after(void **state)
{
    struct lbp_queue *q;
    char *k;
    uint64_t t0;
    (void)state;
    assert_int_equal(lbp_queue_new(40, 1000, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 0), 40); /* one failure */
    free(k);
    for (int i = 0; i < 3; i++) {
        assert_true(lbp_queue_get(q, &k));
        t0 = lbp_now_ms();
        lbp_queue_after(q, k, 30);
        free(k);
        lbp_queue_add(q, "a/x"); /* a resync does not cut the wait short */
        assert_true(lbp_queue_get(q, &k));
        assert_true(lbp_now_ms() - t0 >= 29);
        lbp_queue_after(q, k, 1);
        free(k);
    }
    /* the next failure continues from one failure, not seven */
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, 0), 80);
    free(k);
    /* a real change ends the wait at once */
    assert_true(lbp_queue_get(q, &k));
    lbp_queue_after(q, k, 60000);
    free(k);
    lbp_queue_add_now(q, "a/x");
    t0 = lbp_now_ms();
    assert_true(lbp_queue_get(q, &k));
    assert_true(lbp_now_ms() - t0 < 1000);
    lbp_queue_done(q, k);
    free(k);
    assert_int_equal(lbp_queue_len(q), 0);
    lbp_queue_free(q);
}

static void test_shutdown(void **state)
{
    struct lbp_queue *q;
    char *k = NULL;
    (void)state;
    assert_int_equal(lbp_queue_new(0, 0, &q), LBP_OK);
    lbp_queue_shutdown(q);
    assert_false(lbp_queue_get(q, &k));
    lbp_queue_add(q, "a/x");
    assert_int_equal(lbp_queue_len(q), 0);
    lbp_queue_free(q);
    lbp_queue_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup),    cmocka_unit_test(test_readd_while_active),
        cmocka_unit_test(test_backoff),  cmocka_unit_test(test_after),
        cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
