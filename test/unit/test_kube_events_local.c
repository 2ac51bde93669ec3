/*
 * test_kube_events_local.c — the Event recorder (kube/events.c) against a minimal
 * in-process Events endpoint (libmicrohttpd): aggregation into one Event
 * with a count, the per-object spam filter, re-creation after a PATCH 404,
 * message truncation, a queue that drops instead of blocking and the
 * least-recently-used eviction of a full cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"

#define MAX_EVENTS 64

struct stored {
    char name[300];
    char ns[64];
    char involved[128];
    char message[2048];
    char type[32];
    char component[64];
    long count;
    bool deleted;
};

static struct {
    pthread_mutex_t mu;
    struct stored ev[MAX_EVENTS];
    int n;
    int posts, patches, patch_404;
    char last_involved[128]; /* of the latest POST, kept or not */
    int delay_ms;
} store = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void copy_field(struct json_object *o, const char *k, char *out, size_t len)
{
    struct json_object *v;
    if (json_object_object_get_ex(o, k, &v))
        lbp_strlcpy(out, json_object_get_string(v), len);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **pp)
{
    struct lbp_buf *body = *pp;
    if (!body) {
        body = calloc(1, sizeof(*body));
        lbp_buf_init(body, 1 << 20);
        *pp = body;
        return MHD_YES;
    }
    if (*upload_size) {
        lbp_buf_add(body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&store.mu);
    int delay = store.delay_ms;
    pthread_mutex_unlock(&store.mu);
    if (delay)
        usleep((useconds_t)delay * 1000);

    struct json_object *o = json_tokener_parse(body->data ? body->data : "");
    char ns[64] = "", name[300] = "";
    enum MHD_Result ret;
    if (sscanf(url, "/api/v1/namespaces/%63[^/]/events/%299s", ns, name) < 1) {
        ret = reply(conn, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\"}");
        goto out;
    }
    pthread_mutex_lock(&store.mu);
    if (strcmp(method, "POST") == 0 && o && store.n >= MAX_EVENTS) {
        /* Accepted and counted, not kept: for tests that need thousands of Events. */
        struct json_object *io;
        if (json_object_object_get_ex(o, "involvedObject", &io))
            copy_field(io, "name", store.last_involved, sizeof(store.last_involved));
        store.posts++;
        pthread_mutex_unlock(&store.mu);
        ret = reply(conn, 201, body->data);
        goto out;
    }
    if (strcmp(method, "POST") == 0 && o) {
        struct stored *s = &store.ev[store.n++];
        struct json_object *md, *io, *src, *cnt;
        memset(s, 0, sizeof(*s));
        if (json_object_object_get_ex(o, "metadata", &md))
            copy_field(md, "name", s->name, sizeof(s->name));
        if (json_object_object_get_ex(o, "involvedObject", &io))
            copy_field(io, "name", s->involved, sizeof(s->involved));
        if (json_object_object_get_ex(o, "source", &src))
            copy_field(src, "component", s->component, sizeof(s->component));
        copy_field(o, "message", s->message, sizeof(s->message));
        copy_field(o, "type", s->type, sizeof(s->type));
        lbp_strlcpy(s->ns, ns, sizeof(s->ns));
        s->count = json_object_object_get_ex(o, "count", &cnt) ? json_object_get_int64(cnt) : 0;
        store.posts++;
        pthread_mutex_unlock(&store.mu);
        ret = reply(conn, 201, body->data);
        goto out;
    }
    if (strcmp(method, "PATCH") == 0 && o) {
        struct json_object *cnt;
        for (int i = 0; i < store.n; i++) {
            struct stored *s = &store.ev[i];
            if (!s->deleted && strcmp(s->name, name) == 0 && strcmp(s->ns, ns) == 0) {
                if (json_object_object_get_ex(o, "count", &cnt))
                    s->count = json_object_get_int64(cnt);
                store.patches++;
                pthread_mutex_unlock(&store.mu);
                ret = reply(conn, 200, "{}");
                goto out;
            }
        }
        store.patch_404++;
    }
    pthread_mutex_unlock(&store.mu);
    ret = reply(conn, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\"}");
out:
    json_object_put(o);
    lbp_buf_free(body);
    free(body);
    *pp = NULL;
    return ret;
}

struct fixture {
    struct MHD_Daemon *d;
    struct lbp_kube_client *c;
    struct lbp_event_recorder *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_in lo;
    char url[64], err[256];

    pthread_mutex_lock(&store.mu);
    memset(store.ev, 0, sizeof(store.ev));
    store.n = store.posts = store.patches = store.patch_404 = store.delay_ms = 0;
    store.last_involved[0] = '\0';
    pthread_mutex_unlock(&store.mu);
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                            NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &lo, MHD_OPTION_END);
    assert_non_null(f->d);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d",
             MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT)->port);
    struct lbp_kube_config cfg = {.server = url};
    assert_int_equal(lbp_kube_client_new(&cfg, NULL, &f->c, err, sizeof(err)), LBP_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lbp_event_recorder_free(f->r);
    lbp_kube_client_free(f->c);
    MHD_stop_daemon(f->d);
    free(f);
    return 0;
}

static struct lbp_object_ref svc(const char *name)
{
    return (struct lbp_object_ref){
        .kind = "Service", .api_version = "v1", .namespace = "shop", .name = name, .uid = "0b1c"};
}

static int events_for(const char *involved)
{
    int n = 0;
    pthread_mutex_lock(&store.mu);
    for (int i = 0; i < store.n; i++)
        if (!store.ev[i].deleted && strcmp(store.ev[i].involved, involved) == 0)
            n++;
    pthread_mutex_unlock(&store.mu);
    return n;
}

static void identical_events_aggregate(void **state)
{
    struct fixture *f = *state;
    struct lbp_event_opts o = {.component = "service-controller", .host = "node-a"};
    assert_int_equal(lbp_event_recorder_new(f->c, &o, &f->r), LBP_OK);
    struct lbp_object_ref web = svc("web");

    for (int i = 0; i < 5; i++)
        lbp_event_record(f->r, &web, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    lbp_event_recorder_flush(f->r, 10000);
    assert_int_equal(store.posts, 1);
    assert_int_equal(store.patches, 4);
    assert_int_equal(events_for("web"), 1);
    assert_int_equal(store.ev[0].count, 5);
    assert_string_equal(store.ev[0].ns, "shop");
    assert_string_equal(store.ev[0].component, "service-controller");
    assert_true(strncmp(store.ev[0].name, "web.", 4) == 0);

    /* Another message is another Event. */
    lbp_event_record(f->r, &web, "Warning", "SyncLoadBalancerFailed", "quota %d", 7);
    lbp_event_recorder_flush(f->r, 10000);
    assert_int_equal(events_for("web"), 2);
    assert_string_equal(store.ev[1].message, "quota 7");
    assert_string_equal(store.ev[1].type, "Warning");
    assert_int_equal(store.ev[1].count, 1);

    /* The first Event vanished: the next repeat creates a new one. */
    pthread_mutex_lock(&store.mu);
    store.ev[0].deleted = true;
    pthread_mutex_unlock(&store.mu);
    lbp_event_record(f->r, &web, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    lbp_event_recorder_flush(f->r, 10000);
    assert_int_equal(store.patch_404, 1);
    assert_int_equal(store.posts, 3);
    assert_int_equal(store.ev[2].count, 1);
    assert_string_equal(store.ev[2].message, "Ensuring load balancer");
    assert_string_not_equal(store.ev[2].name, store.ev[0].name);

    /* A long message is cut to 1 KiB; a cluster-scoped object's Event goes to "default". */
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct lbp_object_ref node = {.kind = "Node", .api_version = "v1", .name = "n1"};
    lbp_event_record(f->r, &node, "Warning", "Big", "%s", big);
    lbp_event_recorder_flush(f->r, 10000);
    assert_int_equal(store.n, 4);
    assert_int_equal(strlen(store.ev[3].message), 1024);
    assert_string_equal(store.ev[3].ns, "default");
}

static void spam_filter_limits_each_object(void **state)
{
    struct fixture *f = *state;
    struct lbp_event_opts o = {.component = "service-controller", .burst = 3, .qps = 0.001};
    assert_int_equal(lbp_event_recorder_new(f->c, &o, &f->r), LBP_OK);
    struct lbp_object_ref noisy = svc("noisy"), quiet = svc("quiet");

    for (int i = 0; i < 10; i++)
        lbp_event_record(f->r, &noisy, "Warning", "Failed", "attempt %d", i);
    /* Repeats of one message count against the budget too. */
    for (int i = 0; i < 3; i++)
        lbp_event_record(f->r, &quiet, "Normal", "Ensured", "ok");
    lbp_event_record(f->r, &quiet, "Normal", "Ensured", "ok");
    lbp_event_recorder_flush(f->r, 10000);
    assert_int_equal(events_for("noisy"), 3);
    assert_string_equal(store.ev[0].message, "attempt 0");
    assert_string_equal(store.ev[2].message, "attempt 2");
    assert_int_equal(events_for("quiet"), 1);
    assert_int_equal(store.ev[3].count, 3);
}

static void recording_never_blocks(void **state)
{
    struct fixture *f = *state;
    struct lbp_event_opts o = {.component = "c", .queue_max = 4};
    assert_int_equal(lbp_event_recorder_new(f->c, &o, &f->r), LBP_OK);
    store.delay_ms = 200;
    struct lbp_object_ref slow = svc("slow");
    uint64_t t0 = lbp_now_ms();
    for (int i = 0; i < 50; i++)
        lbp_event_record(f->r, &slow, "Normal", "Busy", "event %d", i);
    assert_true(lbp_now_ms() - t0 < 150);
    lbp_event_recorder_flush(f->r, 10000);
    int n = events_for("slow");
    /* The queue holds 4, one more may already be in flight; the rest were dropped. */
    assert_true(n >= 4 && n <= 5);
}

/*
 * The per-object budget cache holds 4096 objects and forgets the least
 * recently used one: an object seen again is kept, the oldest untouched one
 * goes, and gets a fresh budget when it comes back.
 */
static void full_cache_forgets_least_recent(void **state)
{
    struct fixture *f = *state;
    struct lbp_event_opts o = {.component = "c", .burst = 1, .qps = 1e-9, .queue_max = 8192};
    assert_int_equal(lbp_event_recorder_new(f->c, &o, &f->r), LBP_OK);
    struct lbp_object_ref a = svc("a"), b = svc("b");
    char name[32];
    int fillers = 4094;

    lbp_event_record(f->r, &a, "Normal", "R", "first");
    lbp_event_record(f->r, &b, "Normal", "R", "first");
    for (int i = 0; i < fillers; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        struct lbp_object_ref x = svc(name);
        lbp_event_record(f->r, &x, "Normal", "R", "once");
    }
    /* Full now. a is used again (over budget: dropped), so b is the least recent. */
    lbp_event_record(f->r, &a, "Normal", "R", "again");
    struct lbp_object_ref last = svc("f-last");
    lbp_event_record(f->r, &last, "Normal", "R", "once"); /* evicts b */
    lbp_event_record(f->r, &b, "Normal", "R", "again");   /* a new budget */
    lbp_event_record(f->r, &a, "Normal", "R", "again");   /* still over budget */
    lbp_event_recorder_flush(f->r, 60000);

    pthread_mutex_lock(&store.mu);
    int posts = store.posts;
    char latest[128];
    lbp_strlcpy(latest, store.last_involved, sizeof(latest));
    pthread_mutex_unlock(&store.mu);
    assert_int_equal(posts, 2 + fillers + 1 + 1);
    assert_string_equal(latest, "b");
    assert_int_equal(events_for("a"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(identical_events_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(spam_filter_limits_each_object, setup, teardown),
        cmocka_unit_test_setup_teardown(recording_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(full_cache_forgets_least_recent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
