/*
 * test_kube_client_local.c — the REST client (kube/client.c) against a small
 * in-process HTTP server (libmicrohttpd) whose answers each test scripts:
 * Status decoding, Retry-After, 5xx retries and the POST rule, 401 with a
 * rotated token file, stream line delivery, idle timeout, overlong lines,
 * shutdown, and error messages that name what failed. The fake API server covers the same client
 * end to end in test/integration; this one pins behaviour the fake cannot script.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "kube/kube_int.h"

/* What the server does, set by each test; touched by server threads too. */
static struct {
    int n429;         /* answer 429 this many times */
    int retry_after;  /* its Retry-After; 0 means 1 */
    int n500;         /* answer 500 this many times */
    int hits;         /* requests seen */
    char token[64];   /* required bearer token on /auth */
    int stream_lines; /* lines a /stream sends before idling */
    size_t line_len;  /* padding per streamed line */
    char last_method[16];
    char last_ctype[80];
    char last_ua[80];
    char last_accept[80];
} srv;
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static int connections; /* TCP connections accepted, atomic */

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        __atomic_add_fetch(&connections, 1, __ATOMIC_RELAXED);
}

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    int *sent = cls;
    pthread_mutex_lock(&srv_mu);
    int want = srv.stream_lines;
    size_t pad = srv.line_len;
    pthread_mutex_unlock(&srv_mu);
    if (*sent >= want) {
        usleep(20000); /* idle: nothing to send yet */
        return 0;
    }
    if (pad + 32 > max)
        pad = max - 32;
    int n = snprintf(buf, max, "{\"i\":%d,\"p\":\"", *sent);
    memset(buf + n, 'x', pad);
    n += (int)pad;
    n += snprintf(buf + n, max - (size_t)n, "\"}\n");
    (*sent)++;
    return n;
}

static void free_int(void *cls)
{
    free(cls);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **pp)
{
    static int marker;
    struct MHD_Response *r;
    int code = 200;
    const char *body = "{\"kind\":\"Thing\",\"ok\":true}";
    enum MHD_Result ret;

    if (*pp != &marker) {
        *pp = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    pthread_mutex_lock(&srv_mu);
    srv.hits++;
    lbp_strlcpy(srv.last_method, method, sizeof(srv.last_method));
    lbp_strlcpy(srv.last_ctype, ctype ? ctype : "", sizeof(srv.last_ctype));
    const char *ua = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    const char *acc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    lbp_strlcpy(srv.last_ua, ua ? ua : "", sizeof(srv.last_ua));
    lbp_strlcpy(srv.last_accept, acc ? acc : "", sizeof(srv.last_accept));
    bool is_stream = strcmp(url, "/stream") == 0;
    bool retry_after = false;
    if (strcmp(url, "/auth") == 0) {
        char want[96];
        snprintf(want, sizeof(want), "Bearer %s", srv.token);
        if (!auth || strcmp(auth, want) != 0) {
            code = 401;
            body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Unauthorized\"}";
        }
    } else if (strcmp(url, "/forbidden") == 0) {
        code = 403;
        body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"Forbidden\","
               "\"message\":\"services is forbidden: User \\\"lbprov\\\" cannot list resource "
               "\\\"services\\\"\",\"code\":403}";
    } else if (strcmp(url, "/missing") == 0) {
        code = 404;
        body = "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\","
               "\"message\":\"things \\\"missing\\\" not found\",\"code\":404}";
    } else if (strcmp(url, "/conflict") == 0) {
        code = 409;
        body = "{\"kind\":\"Status\",\"reason\":\"Conflict\",\"message\":\"stale\"}";
    } else if (strcmp(url, "/invalid") == 0) {
        code = 422;
        body = "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"bad field\"}";
    } else if (strcmp(url, "/gone") == 0) {
        code = 410;
        body = "not json";
    } else if (strcmp(url, "/throttled") == 0 && srv.n429 > 0) {
        srv.n429--;
        code = 429;
        retry_after = true;
        body = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\"}";
    } else if (strcmp(url, "/flaky") == 0 && srv.n500 > 0) {
        srv.n500--;
        code = 500;
        body = "{\"kind\":\"Status\",\"reason\":\"InternalError\"}";
    }
    pthread_mutex_unlock(&srv_mu);

    if (is_stream) {
        int *sent = calloc(1, sizeof(int));
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_cb, sent,
                                              free_int);
    } else {
        r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    }
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", srv.retry_after ? srv.retry_after : 1);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    ret = MHD_queue_response(conn, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

/* 127.0.0.1, any port: tests never listen beyond loopback. */
static struct sockaddr_in loopback(void)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

struct fixture {
    struct MHD_Daemon *d;
    char url[64];
    char tokfile[64];
    struct lbp_kube_client *c;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    memset(&srv, 0, sizeof(srv));
    struct sockaddr_in lo = loopback();
    f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &lo,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
    assert_non_null(f->d);
    int port = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lbp_kube_client_free(f->c);
    MHD_stop_daemon(f->d);
    if (f->tokfile[0])
        unlink(f->tokfile);
    free(f);
    return 0;
}

static struct lbp_kube_client *new_client(struct fixture *f, const struct lbp_kube_client_opts *o,
                                          const char *token_file)
{
    struct lbp_kube_config cfg = {.server = f->url, .token_file = (char *)token_file};
    char err[256];
    assert_int_equal(lbp_kube_client_new(&cfg, o, &f->c, err, sizeof(err)), LBP_OK);
    return f->c;
}

static void status_errors_are_decoded(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = new_client(f, NULL, NULL);
    struct lbp_kube_response r;

    assert_int_equal(lbp_kube_get(c, "/ok", &r), LBP_OK);
    assert_int_equal(r.http_code, 200);
    assert_string_equal(r.body, "{\"kind\":\"Thing\",\"ok\":true}");
    assert_string_equal(srv.last_ua, "lbprov/" LBP_VERSION);
    assert_string_equal(srv.last_accept, "application/json");
    assert_null(r.reason);
    lbp_kube_response_free(&r);

    assert_int_equal(lbp_kube_get(c, "/missing", &r), LBP_NOT_FOUND);
    assert_int_equal(r.http_code, 404);
    assert_string_equal(r.reason, "NotFound");
    assert_string_equal(r.message, "things \"missing\" not found");
    lbp_kube_response_free(&r);

    assert_int_equal(lbp_kube_put(c, "/conflict", "{}", &r), LBP_CONFLICT);
    assert_string_equal(r.reason, "Conflict");
    assert_string_equal(srv.last_method, "PUT");
    assert_string_equal(srv.last_ctype, "application/json");
    lbp_kube_response_free(&r);

    assert_int_equal(lbp_kube_patch(c, "/invalid", LBP_PATCH_STRATEGIC, "{}", &r), LBP_INVALID);
    assert_string_equal(r.reason, "Invalid");
    assert_string_equal(srv.last_method, "PATCH");
    assert_string_equal(srv.last_ctype, "application/strategic-merge-patch+json");
    lbp_kube_response_free(&r);

    /* A body that is not a Status still comes back, with no reason. */
    assert_int_equal(lbp_kube_delete(c, "/gone", &r), LBP_GONE);
    assert_string_equal(r.body, "not json");
    assert_null(r.reason);
    assert_string_equal(srv.last_method, "DELETE");
    lbp_kube_response_free(&r);

    assert_int_equal(lbp_kube_patch(c, "/ok", LBP_PATCH_JSON, "[]", NULL), LBP_OK);
    assert_string_equal(srv.last_ctype, "application/json-patch+json");
    assert_int_equal(lbp_kube_patch(c, "/ok", LBP_PATCH_MERGE, "{}", NULL), LBP_OK);
    assert_string_equal(srv.last_ctype, "application/merge-patch+json");
    assert_int_equal(lbp_kube_get(c, "no-slash", NULL), LBP_INVALID);

    /* Sequential requests from one thread reuse one kept-alive connection. */
    assert_int_equal(__atomic_load_n(&connections, __ATOMIC_RELAXED), 1);

    struct lbp_kube_stats st;
    lbp_kube_client_stats(c, &st);
    assert_int_equal(st.get, 2);
    assert_int_equal(st.put, 1);
    assert_int_equal(st.patch, 3);
    assert_int_equal(st.del, 1);
    assert_int_equal(st.retries, 0);
}

static void retry_after_is_honoured(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = new_client(f, NULL, NULL);
    srv.n429 = 2;
    uint64_t t0 = lbp_now_ms();
    /* POST too: a 429 means the server did not act on it. */
    assert_int_equal(lbp_kube_post(c, "/throttled", "{}", NULL), LBP_OK);
    assert_true(lbp_now_ms() - t0 >= 2000);
    assert_int_equal(srv.hits, 3);
    struct lbp_kube_stats st;
    lbp_kube_client_stats(c, &st);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.post, 1);

    /* A long Retry-After is handed to the caller instead of blocking this thread. */
    struct lbp_kube_response r;
    srv.n429 = 1;
    srv.retry_after = 120;
    srv.hits = 0;
    t0 = lbp_now_ms();
    assert_int_equal(lbp_kube_get(c, "/throttled", &r), LBP_RETRY);
    assert_true(lbp_now_ms() - t0 < 1000);
    assert_int_equal(srv.hits, 1);
    assert_int_equal(r.http_code, 429);
    assert_int_equal(r.retry_after_s, 120);
    assert_string_equal(r.reason, "TooManyRequests");
    lbp_kube_response_free(&r);
}

static void server_errors_retried_except_for_post(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client_opts o = {.max_retries = 2};
    struct lbp_kube_client *c = new_client(f, &o, NULL);
    struct lbp_kube_response r;

    srv.n500 = 2;
    assert_int_equal(lbp_kube_get(c, "/flaky", NULL), LBP_OK);
    assert_int_equal(srv.hits, 3);

    srv.n500 = 5;
    srv.hits = 0;
    assert_int_equal(lbp_kube_get(c, "/flaky", &r), LBP_RETRY);
    assert_int_equal(srv.hits, 3); /* 1 + max_retries */
    assert_int_equal(r.http_code, 500);
    assert_string_equal(r.reason, "InternalError");
    lbp_kube_response_free(&r);

    srv.hits = 0;
    assert_int_equal(lbp_kube_post(c, "/flaky", "{}", NULL), LBP_RETRY);
    assert_int_equal(srv.hits, 1);
}

static void unauthorized_rereads_token_file(void **state)
{
    struct fixture *f = *state;
    snprintf(f->tokfile, sizeof(f->tokfile), "/tmp/lbp-test-token-%d", (int)getpid());
    FILE *fp = fopen(f->tokfile, "w");
    assert_non_null(fp);
    fputs("old-token\n", fp);
    fclose(fp);
    lbp_strlcpy(srv.token, "new-token", sizeof(srv.token));
    struct lbp_kube_client *c = new_client(f, NULL, f->tokfile);

    assert_int_equal(lbp_kube_get(c, "/auth", NULL), LBP_AUTH);
    assert_int_equal(srv.hits, 2); /* one refresh, no more */

    fp = fopen(f->tokfile, "w");
    assert_non_null(fp);
    fputs("new-token-longer-so-size-changes\n", fp);
    fclose(fp);
    lbp_strlcpy(srv.token, "new-token-longer-so-size-changes", sizeof(srv.token));
    assert_int_equal(lbp_kube_get(c, "/auth", NULL), LBP_OK);
}

struct stream_state {
    int lines;
    int stop_at;
};

static int count_line(void *ctx, const char *line, size_t len)
{
    struct stream_state *s = ctx;
    assert_true(len > 0 && line[0] == '{' && line[len - 1] == '}');
    s->lines++;
    return s->stop_at && s->lines >= s->stop_at ? 1 : 0;
}

static void stream_delivers_lines_and_times_out(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = new_client(f, NULL, NULL);
    struct stream_state s = {0};

    srv.stream_lines = 50;
    /* The server goes quiet after 50 lines: the idle timeout ends the watch. */
    uint64_t t0 = lbp_now_ms();
    assert_int_equal(lbp_kube_stream(c, "/stream", 1024, 300, count_line, &s, NULL), LBP_RETRY);
    uint64_t took = lbp_now_ms() - t0;
    assert_int_equal(s.lines, 50);
    assert_true(took >= 300 && took < 3000);

    /* The callback can end it early. */
    s = (struct stream_state){.stop_at = 10};
    assert_int_equal(lbp_kube_stream(c, "/stream", 1024, 5000, count_line, &s, NULL), LBP_OK);
    assert_int_equal(s.lines, 10);

    /* An event over max_line ends the watch with LBP_TOOBIG so the caller re-lists. */
    srv.line_len = 4000;
    s = (struct stream_state){0};
    assert_int_equal(lbp_kube_stream(c, "/stream", 1024, 5000, count_line, &s, NULL), LBP_TOOBIG);
    assert_int_equal(s.lines, 0);

    /* A non-2xx watch is mapped and its Status decoded. */
    struct lbp_kube_response r;
    assert_int_equal(lbp_kube_stream(c, "/missing", 1024, 5000, count_line, &s, &r), LBP_NOT_FOUND);
    assert_string_equal(r.reason, "NotFound");
    lbp_kube_response_free(&r);

    struct lbp_kube_stats st;
    lbp_kube_client_stats(c, &st);
    assert_int_equal(st.watch, 4);
}

struct shutdown_run {
    struct lbp_kube_client *c;
    int rc;
    uint64_t end_ms;
    int lines;
};

static int shutdown_line(void *ctx, const char *line, size_t len)
{
    struct shutdown_run *w = ctx;
    __atomic_add_fetch(&w->lines, 1, __ATOMIC_RELAXED);
    return 0;
}

static void *stream_thread(void *arg)
{
    struct shutdown_run *w = arg;
    w->rc = lbp_kube_stream(w->c, "/stream", 1024, 0, shutdown_line, w, NULL);
    w->end_ms = lbp_now_ms();
    return NULL;
}

static int private_stop; /* atomic */

static void *stoppable_thread(void *arg)
{
    struct shutdown_run *w = arg;
    w->rc =
        lbp_kube_stream_stoppable(w->c, "/stream", 1024, 0, &private_stop, shutdown_line, w, NULL);
    w->end_ms = lbp_now_ms();
    return NULL;
}

/* One watch can be stopped on its own; the client keeps serving everyone else. */
static void private_stop_ends_one_stream(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = new_client(f, NULL, NULL);
    struct shutdown_run w = {.c = c};
    pthread_t th;

    srv.stream_lines = 1;
    __atomic_store_n(&private_stop, 0, __ATOMIC_RELAXED);
    pthread_create(&th, NULL, stoppable_thread, &w);
    uint64_t deadline = lbp_now_ms() + 5000;
    while (__atomic_load_n(&w.lines, __ATOMIC_RELAXED) == 0 && lbp_now_ms() < deadline)
        usleep(10000);
    assert_int_equal(w.lines, 1);
    uint64_t t0 = lbp_now_ms();
    __atomic_store_n(&private_stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, LBP_CANCELLED);
    assert_true(w.end_ms - t0 < 1000);
    assert_int_equal(lbp_kube_get(c, "/ok", NULL), LBP_OK);
}

static void *limited_thread(void *arg)
{
    struct shutdown_run *w = arg;
    w->rc = lbp_kube_get(w->c, "/ok", NULL);
    w->end_ms = lbp_now_ms();
    return NULL;
}

static void shutdown_wakes_streams_and_rate_limit_waits(void **state)
{
    struct fixture *f = *state;
    /* qps 0.1 with burst 1: a second request would wait ten seconds. */
    struct lbp_kube_client_opts o = {.qps = 0.1, .burst = 1};
    struct lbp_kube_client *c = new_client(f, &o, NULL);
    struct shutdown_run w = {.c = c}, lim = {.c = c};
    pthread_t th, th2;

    srv.stream_lines = 1;
    pthread_create(&th, NULL, stream_thread, &w);
    uint64_t deadline = lbp_now_ms() + 5000;
    while (__atomic_load_n(&w.lines, __ATOMIC_RELAXED) == 0 && lbp_now_ms() < deadline)
        usleep(10000);
    assert_int_equal(w.lines, 1);
    pthread_create(&th2, NULL, limited_thread, &lim);
    /* Counted once it is past the shutdown check, i.e. at (or about to wait on) the bucket. */
    struct lbp_kube_stats st = {0};
    deadline = lbp_now_ms() + 5000;
    while (st.get == 0 && lbp_now_ms() < deadline) {
        usleep(5000);
        lbp_kube_client_stats(c, &st);
    }
    assert_int_equal(st.get, 1);
    uint64_t t0 = lbp_now_ms();
    lbp_kube_client_shutdown(c);
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    assert_int_equal(w.rc, LBP_CANCELLED);
    assert_int_equal(lim.rc, LBP_CANCELLED);
    assert_true(w.end_ms - t0 < 1000);
    assert_true(lim.end_ms - t0 < 1000);
    assert_int_equal(lbp_kube_get(c, "/ok", NULL), LBP_CANCELLED);
}

static void rate_limit_spaces_requests(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client_opts o = {.qps = 20, .burst = 1};
    struct lbp_kube_client *c = new_client(f, &o, NULL);
    uint64_t t0 = lbp_now_ms();
    for (int i = 0; i < 11; i++)
        assert_int_equal(lbp_kube_get(c, "/ok", NULL), LBP_OK);
    /* One token at start, ten more at 20/s. */
    assert_true(lbp_now_ms() - t0 >= 480);
}

/* Points f->url at a loopback port that was just free (bind, read it, close); returns it. */
static int refusing_url(struct fixture *f)
{
    struct sockaddr_in lo = loopback();
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                                            NULL, MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_END);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    MHD_stop_daemon(d);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
    return port;
}

static void connection_refused_backs_off(void **state)
{
    struct fixture *f = *state;
    refusing_url(f);
    struct lbp_kube_client_opts o = {.max_retries = 3};
    struct lbp_kube_client *c = new_client(f, &o, NULL);
    struct lbp_kube_response r;
    uint64_t t0 = lbp_now_ms();
    assert_int_equal(lbp_kube_post(c, "/x", "{}", &r), LBP_RETRY);
    assert_int_equal(r.http_code, 0);
    /* 200, 400, 800 ms less 20% jitter: no busy loop. */
    assert_true(lbp_now_ms() - t0 >= 1120);
    struct lbp_kube_stats st;
    lbp_kube_client_stats(c, &st);
    assert_int_equal(st.retries, 3);
}

/* The final error names the server (host:port) and the socket error, and says so at once. */
static void connection_refused_names_the_server(void **state)
{
    struct fixture *f = *state;
    int port = refusing_url(f);
    char want[64];
    struct lbp_kube_client_opts o = {.max_retries = 1};
    struct lbp_kube_client *c = new_client(f, &o, NULL);
    struct lbp_kube_response r;
    assert_int_equal(lbp_kube_get(c, "/x", &r), LBP_RETRY);
    snprintf(want, sizeof(want), "127.0.0.1:%d: Connection refused", port);
    assert_non_null(strstr(r.error, "cannot connect to the API server at"));
    assert_non_null(strstr(r.error, want));
    lbp_kube_response_free(&r);
}

/* 401 (credentials not accepted) and 403 (accepted, not allowed) read differently. */
static void unauthorized_and_forbidden_differ(void **state)
{
    struct fixture *f = *state;
    struct lbp_kube_client *c = new_client(f, NULL, NULL);
    struct lbp_kube_response r;

    srv.token[0] = 'x'; /* /auth wants a token this client does not have */
    assert_int_equal(lbp_kube_get(c, "/auth", &r), LBP_AUTH);
    assert_non_null(strstr(r.error, "401 Unauthorized"));
    assert_non_null(strstr(r.error, "did not accept the credentials"));
    assert_null(strstr(r.error, "403 Forbidden")); /* not "403": the server's port may hold it */
    lbp_kube_response_free(&r);

    assert_int_equal(lbp_kube_get(c, "/forbidden", &r), LBP_AUTH);
    assert_non_null(strstr(r.error, "403 Forbidden"));
    assert_non_null(strstr(r.error, "cannot list resource \"services\""));
    assert_null(strstr(r.error, "401 Unauthorized"));
    lbp_kube_response_free(&r);

    /* success leaves it empty */
    assert_int_equal(lbp_kube_get(c, "/ok", &r), LBP_OK);
    assert_string_equal(r.error, "");
    lbp_kube_response_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_errors_are_decoded, setup, teardown),
        cmocka_unit_test_setup_teardown(retry_after_is_honoured, setup, teardown),
        cmocka_unit_test_setup_teardown(server_errors_retried_except_for_post, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthorized_rereads_token_file, setup, teardown),
        cmocka_unit_test_setup_teardown(stream_delivers_lines_and_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_wakes_streams_and_rate_limit_waits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(private_stop_ends_one_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limit_spaces_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_refused_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_refused_names_the_server, setup, teardown),
        cmocka_unit_test_setup_teardown(unauthorized_and_forbidden_differ, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
