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

/* Takes the next key, which must be want, and marks it done. */
static void take_done(struct lbp_queue *q, const char *want)
{
    char *k;
    assert_true(lbp_queue_get(q, &k));
    assert_string_equal(k, want);
    lbp_queue_done(q, k);
    free(k);
}

/* Takes the next key and fails it (retry-after: after_ms); the wait must be want_ms. */
static void take_retry(struct lbp_queue *q, uint64_t after_ms, uint64_t want_ms)
{
    char *k;
    assert_true(lbp_queue_get(q, &k));
    assert_int_equal(lbp_queue_retry(q, k, after_ms), want_ms);
    free(k);
}

/* A queue (backoff base_ms up to max_ms) whose one key, a/x, has failed once. */
static struct lbp_queue *failed_once(uint64_t base_ms, uint64_t max_ms)
{
    struct lbp_queue *q;
    assert_int_equal(lbp_queue_new(base_ms, max_ms, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    take_retry(q, 0, base_ms);
    return q;
}

static void test_dedup(void **state)
{
    struct lbp_queue *q;
    (void)state;
    assert_int_equal(lbp_queue_new(50, 400, &q), LBP_OK);
    lbp_queue_add(q, "a/x");
    lbp_queue_add(q, "a/x");
    lbp_queue_add(q, "a/y");
    assert_int_equal(lbp_queue_len(q), 2);
    take_done(q, "a/x");
    take_done(q, "a/y");
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
    take_done(q, "a/x");
    assert_int_equal(lbp_queue_len(q), 0);
    lbp_queue_free(q);
}

static void test_backoff(void **state)
{
    struct lbp_queue *q = failed_once(40, 100);
    char *k;
    uint64_t t0;
    (void)state;
    t0 = lbp_now_ms();
    lbp_queue_add(q, "a/x"); /* a resync does not cut the backoff short */
    assert_true(lbp_queue_get(q, &k));
    assert_true(lbp_now_ms() - t0 >= 39);
    assert_int_equal(lbp_queue_retry(q, k, 0), 80);
    free(k);
    take_retry(q, 0, 100); /* capped */
    take_done(q, "a/x");   /* success forgets the failures */
    lbp_queue_add(q, "a/x");
    take_retry(q, 0, 40);
    /* retry-after from the provider wins over the backoff */
    take_retry(q, 7, 7);
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
    struct lbp_queue *q = failed_once(40, 1000);
    char *k;
    uint64_t t0;
    (void)state;
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
    take_retry(q, 0, 80);
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
