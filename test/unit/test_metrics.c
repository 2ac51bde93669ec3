/* test_metrics.c — the Prometheus registry: values, labels, escaping, histograms, promtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/metrics.h"

static char *render(void)
{
    struct lbp_buf b;
    lbp_buf_init(&b, 1 << 20);
    assert_int_equal(lbp_metrics_render(&b), 0);
    return lbp_buf_take(&b, NULL);
}

static int reset(void **state)
{
    lbp_metrics_reset();
    return 0;
}

static void counter_with_labels(void **state)
{
    struct lbp_metric *m = lbp_metric_new(LBP_COUNTER, "lbprov_cloud_api_calls_total",
                                          "Cloud calls.", "cloud,operation");
    assert_non_null(m);
    lbp_metric_add(m, (const char *[]){"aws", "CreateLoadBalancer"}, 1);
    lbp_metric_add(m, (const char *[]){"aws", "CreateLoadBalancer"}, 2);
    lbp_metric_add(m, (const char *[]){"aws", "DeleteLoadBalancer"}, 1);
    assert_true(lbp_metric_value(m, (const char *[]){"aws", "CreateLoadBalancer"}) == 3);
    assert_true(lbp_metric_value(m, (const char *[]){"gce", "x"}) == 0);
    char *out = render();
    assert_non_null(strstr(out, "# TYPE lbprov_cloud_api_calls_total counter\n"));
    assert_non_null(strstr(
        out, "lbprov_cloud_api_calls_total{cloud=\"aws\",operation=\"CreateLoadBalancer\"} 3\n"));
    assert_non_null(strstr(
        out, "lbprov_cloud_api_calls_total{cloud=\"aws\",operation=\"DeleteLoadBalancer\"} 1\n"));
    free(out);
}

static void same_name_returns_same_metric(void **state)
{
    struct lbp_metric *a = lbp_metric_new(LBP_GAUGE, "g", "help", "x");
    assert_ptr_equal(lbp_metric_new(LBP_GAUGE, "g", "help", "x"), a);
    assert_null(lbp_metric_new(LBP_COUNTER, "g", "help", "x")); /* type clash */
    assert_null(lbp_metric_new(LBP_GAUGE, "g", "help", "y"));   /* label clash */
}

static void escaping(void **state)
{
    struct lbp_metric *m = lbp_metric_new(LBP_GAUGE, "esc", "line1\nback\\slash", "v");
    lbp_metric_set(m, (const char *[]){"a\"b\\c\nd"}, 1.5);
    char *out = render();
    assert_non_null(strstr(out, "# HELP esc line1\\nback\\\\slash\n"));
    assert_non_null(strstr(out, "esc{v=\"a\\\"b\\\\c\\nd\"} 1.5\n"));
    free(out);
}

static void histogram_buckets_are_cumulative(void **state)
{
    const double bounds[] = {0.1, 1, 10};
    struct lbp_metric *h = lbp_histogram_new("lat_seconds", "Latency.", "op", bounds, 3);
    const char *op[] = {"get"};
    lbp_metric_observe(h, op, 0.05);
    lbp_metric_observe(h, op, 0.5);
    lbp_metric_observe(h, op, 0.5);
    lbp_metric_observe(h, op, 100);
    char *out = render();
    assert_non_null(strstr(out, "lat_seconds_bucket{op=\"get\",le=\"0.1\"} 1\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{op=\"get\",le=\"1\"} 3\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{op=\"get\",le=\"10\"} 3\n"));
    assert_non_null(strstr(out, "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "lat_seconds_sum{op=\"get\"} 101.05\n"));
    assert_non_null(strstr(out, "lat_seconds_count{op=\"get\"} 4\n"));
    free(out);
}

static double seven(void *ctx)
{
    return *(double *)ctx;
}

static void gauge_fn_read_at_scrape(void **state)
{
    static double v = 7;
    lbp_gauge_fn_new("depth", "Queue depth.", seven, &v);
    lbp_metric_new(LBP_COUNTER, "plain_total", "Unlabelled counters show 0.", NULL);
    char *out = render();
    assert_non_null(strstr(out, "depth 7\n"));
    assert_non_null(strstr(out, "plain_total 0\n"));
    free(out);
    v = 9;
    out = render();
    assert_non_null(strstr(out, "depth 9\n"));
    free(out);
}

static void copy_in(void *ctx)
{
    unsigned *calls = ctx;
    (*calls)++;
    lbp_metric_set(lbp_metric_new(LBP_COUNTER, "copied_total", "Copied.", NULL), NULL, *calls * 10);
}

/* A collector runs before each render; once removed it runs no more. */
static void collector_runs_at_scrape(void **state)
{
    unsigned calls = 0;
    char *out;
    (void)state;
    assert_int_equal(lbp_metrics_collector_add(copy_in, &calls), 0);
    out = render();
    assert_int_equal(calls, 1);
    assert_non_null(strstr(out, "copied_total 10\n"));
    free(out);
    out = render();
    assert_non_null(strstr(out, "copied_total 20\n"));
    free(out);
    lbp_metrics_collector_remove(copy_in, &calls);
    out = render();
    assert_int_equal(calls, 2);
    assert_non_null(strstr(out, "copied_total 20\n"));
    free(out);
}

/* The rendered page passes Prometheus' own linter. */
static void promtool_accepts_output(void **state)
{
    if (!LBP_PROMTOOL[0] || access(LBP_PROMTOOL, X_OK) != 0) {
        printf("SKIP promtool check: promtool not found (scripts/install-deps test)\n");
        skip();
    }
    const double b[] = {0.5, 1};
    lbp_metric_add(lbp_metric_new(LBP_COUNTER, "lbprov_test_requests_total", "Requests.", "code"),
                   (const char *[]){"200"}, 4);
    lbp_metric_observe(lbp_histogram_new("lbprov_test_duration_seconds", "Durations.", "op", b, 2),
                       (const char *[]){"sync"}, 0.7);
    lbp_metric_set(lbp_metric_new(LBP_GAUGE, "lbprov_test_leader", "Leader.", NULL), NULL, 1);
    char *out = render();
    char path[] = "/tmp/lbp-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s check metrics < %s", LBP_PROMTOOL, path);
    int status = system(cmd);
    unlink(path);
    free(out);
    assert_int_equal(status, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(counter_with_labels, reset),
        cmocka_unit_test_teardown(same_name_returns_same_metric, reset),
        cmocka_unit_test_teardown(escaping, reset),
        cmocka_unit_test_teardown(histogram_buckets_are_cumulative, reset),
        cmocka_unit_test_teardown(gauge_fn_read_at_scrape, reset),
        cmocka_unit_test_teardown(collector_runs_at_scrape, reset),
        cmocka_unit_test_teardown(promtool_accepts_output, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
