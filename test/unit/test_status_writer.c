/*
 * test_status_writer.c — the status writer through scripted hooks: a write
 * can be held at a gate to pin it "in flight", answers are scripted per
 * call, and every hook call lands in one ordered log. Nothing waits on a
 * clock: the test waits on conditions the hooks signal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/util.h"
#include "reconcile/reconcile_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MAX 64

struct rec {
    char what[8]; /* "write", "done", "check" */
    char key[32];
    char ip[64];
    enum lbp_sw_result res;
};

struct script {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct rec log[LOG_MAX];
    size_t n;
    bool gate_closed; /* writes wait here while set */
    int in_write;     /* writes inside the hook now */
    int max_same_key; /* most writes of one key at once */
    char busy_key[4][32];
    int write_rc;  /* answer of the next writes */
    int check_rc;  /* answer of the checks */
    unsigned done; /* done calls so far */
};

static struct script S;

static void logit(const char *what, const struct lbp_service *svc, const char *ip,
                  enum lbp_sw_result res)
{
    struct rec *r;
    if (S.n >= LOG_MAX)
        return;
    r = &S.log[S.n++];
    snprintf(r->what, sizeof(r->what), "%s", what);
    snprintf(r->key, sizeof(r->key), "%s", svc->meta.key);
    snprintf(r->ip, sizeof(r->ip), "%s", ip);
    r->res = res;
    pthread_cond_broadcast(&S.cond);
}

static int hook_write(void *ctx, const struct lbp_sw_job *j)
{
    const struct lbp_service *svc = j->svc;
    const struct lbp_lb_status *st = &j->st;
    int same = 0, rc;
    (void)ctx;
    pthread_mutex_lock(&S.mu);
    for (int i = 0; i < 4; i++)
        same += strcmp(S.busy_key[i], svc->meta.key) == 0;
    for (int i = 0; i < 4; i++)
        if (!S.busy_key[i][0]) {
            snprintf(S.busy_key[i], sizeof(S.busy_key[i]), "%s", svc->meta.key);
            break;
        }
    if (same + 1 > S.max_same_key)
        S.max_same_key = same + 1;
    S.in_write++;
    rc = S.write_rc; /* the answer is fixed when the write starts */
    logit("write", svc, st->n_ingress ? st->ingress[0].ip : "", LBP_SW_WRITTEN);
    while (S.gate_closed)
        pthread_cond_wait(&S.cond, &S.mu);
    S.in_write--;
    for (int i = 0; i < 4; i++)
        if (strcmp(S.busy_key[i], svc->meta.key) == 0) {
            S.busy_key[i][0] = '\0';
            break;
        }
    pthread_mutex_unlock(&S.mu);
    return rc;
}

static int hook_check(void *ctx, const struct lbp_service *svc)
{
    int rc;
    (void)ctx;
    (void)svc;
    pthread_mutex_lock(&S.mu);
    rc = S.check_rc;
    pthread_mutex_unlock(&S.mu);
    return rc;
}

static void hook_done(void *ctx, const struct lbp_sw_job *j, enum lbp_sw_result res, int rc)
{
    (void)ctx;
    (void)rc;
    pthread_mutex_lock(&S.mu);
    logit("done", j->svc, j->st.n_ingress ? j->st.ingress[0].ip : "", res);
    S.done++;
    pthread_mutex_unlock(&S.mu);
}

static void reset(void)
{
    pthread_mutex_lock(&S.mu);
    S.n = 0;
    S.gate_closed = false;
    S.in_write = 0;
    S.max_same_key = 0;
    memset(S.busy_key, 0, sizeof(S.busy_key));
    S.write_rc = LBP_OK;
    S.check_rc = LBP_OK;
    S.done = 0;
    pthread_mutex_unlock(&S.mu);
}

static struct lbp_status_writer *writer_max(unsigned threads, unsigned max_keys)
{
    struct lbp_sw_hooks h = {
        .write = hook_write, .check = hook_check, .done = hook_done, .max_keys = max_keys};
    struct lbp_status_writer *w = NULL;
    reset();
    assert_int_equal(lbp_sw_new(&h, threads, &w), LBP_OK);
    return w;
}

static struct lbp_status_writer *writer(unsigned threads)
{
    return writer_max(threads, 0);
}

static struct lbp_service *svc(const char *name, const char *uid)
{
    char json[512];
    void *o = NULL;
    snprintf(json, sizeof(json),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\",\"uid\":\"%s\",\"resourceVersion\":\"1\"},"
             "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80,\"protocol\":\"TCP\","
             "\"nodePort\":30080}]}}",
             name, uid);
    assert_int_equal(lbp_kube_decode(LBP_KIND_SERVICE, json, strlen(json), &o), LBP_OK);
    return o;
}

static struct lbp_lb_status status(const char *ip)
{
    struct lbp_lb_status st = {0};
    snprintf(st.ingress[0].ip, sizeof(st.ingress[0].ip), "%s", ip);
    st.n_ingress = 1;
    return st;
}

static void submit(struct lbp_status_writer *w, struct lbp_service *s, const char *ip)
{
    struct lbp_lb_status st = status(ip);
    assert_int_equal(lbp_sw_submit(w, LBP_SW_STATUS, s, &st, 0), LBP_OK);
}

/* Waits until the log holds at least n records. */
static void wait_log(size_t n)
{
    pthread_mutex_lock(&S.mu);
    while (S.n < n)
        pthread_cond_wait(&S.cond, &S.mu);
    pthread_mutex_unlock(&S.mu);
}

static void wait_done(unsigned n)
{
    pthread_mutex_lock(&S.mu);
    while (S.done < n)
        pthread_cond_wait(&S.cond, &S.mu);
    pthread_mutex_unlock(&S.mu);
}

static void gate(bool closed)
{
    pthread_mutex_lock(&S.mu);
    S.gate_closed = closed;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.mu);
}

static size_t count(const char *what, const char *ip)
{
    size_t n = 0;
    pthread_mutex_lock(&S.mu);
    for (size_t i = 0; i < S.n; i++)
        n += strcmp(S.log[i].what, what) == 0 && (!ip || strcmp(S.log[i].ip, ip) == 0);
    pthread_mutex_unlock(&S.mu);
    return n;
}

/* The result done reported for the write of ip. */
static enum lbp_sw_result result_of(const char *ip)
{
    enum lbp_sw_result res = (enum lbp_sw_result) - 1;
    pthread_mutex_lock(&S.mu);
    for (size_t i = 0; i < S.n; i++)
        if (strcmp(S.log[i].what, "done") == 0 && strcmp(S.log[i].ip, ip) == 0)
            res = S.log[i].res;
    pthread_mutex_unlock(&S.mu);
    return res;
}

static void finish(struct lbp_status_writer *w)
{
    gate(false);
    assert_int_equal(lbp_sw_stop(w, 60000), LBP_OK);
    lbp_sw_free(w);
}

/*
 * One key, two threads: while .1 is in flight, .2 and .3 arrive; .3
 * replaces .2 (never sent), waits for .1 and goes out after it — never two
 * writes of the key at once, and .1's done comes before .3 is sent.
 */
static void test_replaces_pending_one_in_flight(void **state)
{
    struct lbp_status_writer *w = writer(2);
    struct lbp_service *a = svc("a", "u1");
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1); /* .1 in flight */
    submit(w, a, "10.0.0.2");
    submit(w, a, "10.0.0.3");
    assert_int_equal(result_of("10.0.0.2"), LBP_SW_REPLACED);
    assert_int_equal(count("write", NULL), 1);
    gate(false);
    wait_done(3);
    assert_int_equal(count("write", "10.0.0.2"), 0);
    assert_int_equal(count("write", "10.0.0.3"), 1);
    assert_int_equal(result_of("10.0.0.1"), LBP_SW_WRITTEN);
    assert_int_equal(result_of("10.0.0.3"), LBP_SW_WRITTEN);
    assert_int_equal(S.max_same_key, 1);
    /* write .1, done .2 (replaced), done .1, write .3, done .3 */
    size_t d1 = 0, w3 = 0;
    for (size_t i = 0; i < S.n; i++) {
        if (!strcmp(S.log[i].what, "done") && !strcmp(S.log[i].ip, "10.0.0.1"))
            d1 = i;
        if (!strcmp(S.log[i].what, "write") && !strcmp(S.log[i].ip, "10.0.0.3"))
            w3 = i;
    }
    assert_true(d1 < w3);
    /* done comes just before the writer lets go of the key: cancel waits for that */
    lbp_sw_cancel(w, "default/a");
    assert_false(lbp_sw_busy(w, "default/a"));
    lbp_kube_obj_unref(a);
    finish(w);
}

/* Other keys are not held up by one in flight: they go out on the other thread. */
static void test_keys_in_parallel(void **state)
{
    struct lbp_status_writer *w = writer(2);
    struct lbp_service *a = svc("a", "u1"), *b = svc("b", "u2");
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    submit(w, b, "10.0.0.2");
    wait_log(2); /* both in flight at once */
    pthread_mutex_lock(&S.mu);
    assert_int_equal(S.in_write, 2);
    pthread_mutex_unlock(&S.mu);
    gate(false);
    wait_done(2);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    finish(w);
}

/*
 * A submission equal to the write in flight is not sent once that write
 * succeeded; after a failed one it is; for another object (uid) it is.
 */
static void test_same_as_just_written(void **state)
{
    struct lbp_status_writer *w = writer(1);
    struct lbp_service *a = svc("a", "u1"), *a2 = svc("a", "u9");
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1);
    submit(w, a, "10.0.0.1");
    gate(false);
    wait_done(2);
    assert_int_equal(count("write", NULL), 1);
    assert_int_equal(S.log[S.n - 1].res, LBP_SW_SAME);
    lbp_sw_cancel(w, "default/a"); /* the writer has let go of the key */

    /* the write in flight fails: the equal one behind it is sent */
    reset();
    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_RETRY;
    S.gate_closed = true;
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.1");
    wait_log(1);
    submit(w, a, "10.0.0.1");
    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_OK;
    pthread_mutex_unlock(&S.mu);
    gate(false);
    wait_done(2);
    assert_int_equal(count("write", NULL), 2);
    lbp_sw_cancel(w, "default/a");

    /* the Service was recreated (new uid): the same address is written to it */
    reset();
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1);
    submit(w, a2, "10.0.0.1");
    gate(false);
    wait_done(2);
    assert_int_equal(count("write", NULL), 2);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(a2);
    finish(w);
}

/* What the answers mean: failure, 404, gone in the cache, fenced. */
static void test_results(void **state)
{
    struct lbp_status_writer *w = writer(1);
    struct lbp_service *a = svc("a", "u1");
    (void)state;
    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_RETRY; /* 5xx or a timeout, after the client's own retries */
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.1");
    wait_done(1);
    assert_int_equal(result_of("10.0.0.1"), LBP_SW_FAILED);

    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_CONFLICT;
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.2");
    wait_done(2);
    assert_int_equal(result_of("10.0.0.2"), LBP_SW_FAILED);

    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_NOT_FOUND;
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.3");
    wait_done(3);
    assert_int_equal(result_of("10.0.0.3"), LBP_SW_GONE);

    /* the check finds it gone or replaced: not sent */
    pthread_mutex_lock(&S.mu);
    S.write_rc = LBP_OK;
    S.check_rc = LBP_NOT_FOUND;
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.4");
    wait_done(4);
    assert_int_equal(result_of("10.0.0.4"), LBP_SW_GONE);
    assert_int_equal(count("write", "10.0.0.4"), 0);

    /* not leading: dropped, not sent */
    pthread_mutex_lock(&S.mu);
    S.check_rc = LBP_RETRY;
    pthread_mutex_unlock(&S.mu);
    submit(w, a, "10.0.0.5");
    wait_done(5);
    assert_int_equal(result_of("10.0.0.5"), LBP_SW_DROPPED);
    assert_int_equal(count("write", "10.0.0.5"), 0);
    lbp_kube_obj_unref(a);
    finish(w);
}

struct stopper {
    struct lbp_status_writer *w;
    int rc;
    bool returned;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    int rc = lbp_sw_stop(s->w, 60000);
    pthread_mutex_lock(&S.mu);
    s->rc = rc;
    s->returned = true;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

static void *cancel_thread(void *arg)
{
    struct stopper *s = arg;
    lbp_sw_cancel(s->w, "default/a");
    pthread_mutex_lock(&S.mu);
    s->returned = true;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

/*
 * Stopping (shutdown, leadership lost): writes not yet sent are dropped and
 * never sent; the one in flight finishes; later submissions are refused.
 */
static void test_stop_drops_pending(void **state)
{
    struct lbp_status_writer *w = writer(1);
    struct lbp_service *a = svc("a", "u1"), *b = svc("b", "u2"), *c = svc("c", "u3");
    struct stopper s = {.w = w};
    struct lbp_lb_status st = status("10.0.0.9");
    pthread_t t;
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1);
    submit(w, b, "10.0.0.2");
    submit(w, c, "10.0.0.3");
    assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
    wait_done(2); /* b and c dropped while a is still in flight */
    assert_int_equal(result_of("10.0.0.2"), LBP_SW_DROPPED);
    assert_int_equal(result_of("10.0.0.3"), LBP_SW_DROPPED);
    pthread_mutex_lock(&S.mu);
    assert_false(s.returned); /* it waits for the write in flight */
    pthread_mutex_unlock(&S.mu);
    assert_int_equal(lbp_sw_submit(w, LBP_SW_STATUS, a, &st, 0), LBP_RETRY);
    gate(false);
    pthread_join(t, NULL);
    assert_int_equal(s.rc, LBP_OK);
    assert_int_equal(result_of("10.0.0.1"), LBP_SW_WRITTEN);
    assert_int_equal(count("write", NULL), 1);
    assert_int_equal(count("done", NULL), 3);
    lbp_sw_free(w);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(c);
}

/*
 * Cancel (a deletion's clean-up): the key's write not yet sent is dropped,
 * and cancel returns only once the one in flight has ended.
 */
static void test_cancel_awaits_in_flight(void **state)
{
    struct lbp_status_writer *w = writer(2);
    struct lbp_service *a = svc("a", "u1");
    struct stopper s = {.w = w};
    pthread_t t;
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1);
    submit(w, a, "10.0.0.2");
    assert_true(lbp_sw_busy(w, "default/a"));
    assert_int_equal(pthread_create(&t, NULL, cancel_thread, &s), 0);
    wait_done(1);
    assert_int_equal(result_of("10.0.0.2"), LBP_SW_DROPPED);
    pthread_mutex_lock(&S.mu);
    assert_false(s.returned);
    pthread_mutex_unlock(&S.mu);
    gate(false);
    pthread_join(t, NULL);
    assert_int_equal(result_of("10.0.0.1"), LBP_SW_WRITTEN);
    assert_int_equal(count("write", "10.0.0.2"), 0);
    assert_false(lbp_sw_busy(w, "default/a"));
    /* a key with nothing queued: cancel returns at once */
    lbp_sw_cancel(w, "default/a");
    lbp_kube_obj_unref(a);
    finish(w);
}

struct submitter {
    struct lbp_status_writer *w;
    struct lbp_service *svc;
    bool returned;
};

static void *submit_thread(void *arg)
{
    struct submitter *s = arg;
    submit(s->w, s->svc, "10.0.0.3");
    pthread_mutex_lock(&S.mu);
    s->returned = true;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.mu);
    return NULL;
}

/*
 * At most max_keys keys hold work: with a in flight and b pending (2 of 2),
 * a submission for c waits until one of them ends; one for b does not.
 */
static void test_bounded_keys(void **state)
{
    struct lbp_status_writer *w = writer_max(1, 2);
    struct lbp_service *a = svc("a", "u1"), *b = svc("b", "u2"), *c = svc("c", "u3");
    struct submitter s = {.w = w, .svc = c};
    struct timespec nap = {0, 200 * 1000 * 1000};
    pthread_t t;
    (void)state;
    gate(true);
    submit(w, a, "10.0.0.1");
    wait_log(1); /* a in flight */
    submit(w, b, "10.0.0.2");
    assert_int_equal(pthread_create(&t, NULL, submit_thread, &s), 0);
    nanosleep(&nap, NULL);
    submit(w, b, "10.0.0.4"); /* a key already holding work never waits */
    pthread_mutex_lock(&S.mu);
    assert_false(s.returned);
    pthread_mutex_unlock(&S.mu);
    gate(false);
    pthread_join(t, NULL);
    wait_done(4);
    assert_int_equal(result_of("10.0.0.1"), LBP_SW_WRITTEN);
    assert_int_equal(result_of("10.0.0.2"), LBP_SW_REPLACED);
    assert_int_equal(result_of("10.0.0.3"), LBP_SW_WRITTEN);
    assert_int_equal(result_of("10.0.0.4"), LBP_SW_WRITTEN);
    lbp_kube_obj_unref(a);
    lbp_kube_obj_unref(b);
    lbp_kube_obj_unref(c);
    finish(w);
}

int main(void)
{
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cond, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaces_pending_one_in_flight),
        cmocka_unit_test(test_keys_in_parallel),
        cmocka_unit_test(test_same_as_just_written),
        cmocka_unit_test(test_results),
        cmocka_unit_test(test_stop_drops_pending),
        cmocka_unit_test(test_cancel_awaits_in_flight),
        cmocka_unit_test(test_bounded_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
