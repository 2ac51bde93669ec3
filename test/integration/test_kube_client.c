/*
 * test_kube_client.c — the REST client (kube/client.c) and Leases
 * (kube/lease.c) against the fake API server: verbs and Status errors,
 * retries for 429/5xx/connection refused, TLS with a kubeconfig CA and
 * bearer token, token rotation through a token file, an exec credential
 * plugin, the client-side QPS limit and shutdown of an in-flight watch.
 */
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube_int.h"
#include "test/integration/harness.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures;

#define CHECK(cond) LBP_TEST_CHECK_SOFT(failures, cond)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want)) {                                                                      \
            fprintf(stderr, "%s:%d: %s returned %s, want %s\n", __FILE__, __LINE__, #expr,         \
                    lbp_rc_str(got_), lbp_rc_str(want));                                           \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static const char *SVC_PATH = "/api/v1/namespaces/default/services";

static struct lbp_kube_config *load_cfg(struct lbp_fake_api *api)
{
    struct lbp_kube_config_opts o = {.kubeconfig = api->kubeconfig};
    struct lbp_kube_config *cfg = NULL;
    char err[512];
    if (lbp_kube_config_load(&o, &cfg, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "kubeconfig %s: %s\n", api->kubeconfig, err);
        return NULL;
    }
    return cfg;
}

static struct lbp_kube_client *client_for(const struct lbp_kube_config *cfg,
                                          const struct lbp_kube_client_opts *opts)
{
    struct lbp_kube_client *c = NULL;
    char err[512];
    if (lbp_kube_client_new(cfg, opts, &c, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "client: %s\n", err);
        return NULL;
    }
    return c;
}

static char *service_json(const char *name)
{
    char *s = NULL;
    if (asprintf(&s,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
                 "\"namespace\":\"default\"},\"spec\":{\"type\":\"ClusterIP\",\"ports\":[{"
                 "\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}}",
                 name) < 0)
        return NULL;
    return s;
}

/* A string field at a dotted path of a JSON body, copied; NULL when absent. */
static char *json_path(const char *body, const char *path)
{
    struct json_object *root = json_tokener_parse(body ? body : "");
    struct json_object *o = root;
    char buf[256], *save = NULL;
    char *out = NULL;
    lbp_strlcpy(buf, path, sizeof(buf));
    for (char *k = strtok_r(buf, ".", &save); o && k; k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    if (o)
        out = strdup(json_object_get_string(o));
    json_object_put(root);
    return out;
}

static bool field_is(const char *body, const char *path, const char *want)
{
    char *v = json_path(body, path);
    bool ok = v && strcmp(v, want) == 0;
    if (!ok)
        fprintf(stderr, "  %s = %s, want %s\n", path, v ? v : "(absent)", want);
    free(v);
    return ok;
}

/* ---------------------------------------------------------------- verbs */

/* PUT of Service "web" (ClusterIP, port 81) with resourceVersion rv ("1" when NULL). */
static int put_web(struct lbp_kube_client *c, const char *path, const char *rv,
                   struct lbp_kube_response *r)
{
    char *put = NULL;
    int rc;
    CHECK(asprintf(&put,
                   "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\","
                   "\"namespace\":\"default\",\"resourceVersion\":\"%s\"},\"spec\":{\"type\":"
                   "\"ClusterIP\",\"ports\":[{\"port\":81,\"protocol\":\"TCP\"}]}}",
                   rv ? rv : "1") > 0);
    rc = lbp_kube_put(c, path, put, r);
    free(put);
    return rc;
}

static void test_verbs(struct lbp_kube_client *c)
{
    struct lbp_kube_response r = {0};
    char path[256], *body = service_json("web");
    char *rv = NULL;

    fprintf(stderr, "-- verbs and Status errors\n");
    CHECK_RC(lbp_kube_post(c, SVC_PATH, body, &r), LBP_OK);
    CHECK(r.http_code == 201);
    CHECK(field_is(r.body, "metadata.name", "web"));
    lbp_kube_response_free(&r);

    /* Creating it again: 409 AlreadyExists. */
    CHECK_RC(lbp_kube_post(c, SVC_PATH, body, &r), LBP_CONFLICT);
    CHECK(r.http_code == 409 && lbp_streq(r.reason, "AlreadyExists"));
    lbp_kube_response_free(&r);

    snprintf(path, sizeof(path), "%s/web", SVC_PATH);
    CHECK_RC(lbp_kube_get(c, path, &r), LBP_OK);
    rv = json_path(r.body, "metadata.resourceVersion");
    CHECK(rv != NULL);
    CHECK(r.reason == NULL && r.message == NULL);
    lbp_kube_response_free(&r);

    CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services/absent", &r), LBP_NOT_FOUND);
    CHECK(r.http_code == 404 && lbp_streq(r.reason, "NotFound"));
    CHECK(r.message && strstr(r.message, "absent"));
    lbp_kube_response_free(&r);

    /* The three patch types. */
    CHECK_RC(
        lbp_kube_patch(c, path, LBP_PATCH_MERGE, "{\"metadata\":{\"labels\":{\"a\":\"1\"}}}", &r),
        LBP_OK);
    CHECK(field_is(r.body, "metadata.labels.a", "1"));
    lbp_kube_response_free(&r);
    CHECK_RC(lbp_kube_patch(c, path, LBP_PATCH_JSON,
                            "[{\"op\":\"add\",\"path\":\"/metadata/labels/b\",\"value\":\"2\"}]",
                            &r),
             LBP_OK);
    CHECK(field_is(r.body, "metadata.labels.a", "1") && field_is(r.body, "metadata.labels.b", "2"));
    lbp_kube_response_free(&r);
    CHECK_RC(lbp_kube_patch(c, path, LBP_PATCH_STRATEGIC,
                            "{\"metadata\":{\"annotations\":{\"c\":\"3\"}}}", &r),
             LBP_OK);
    CHECK(field_is(r.body, "metadata.annotations.c", "3"));
    lbp_kube_response_free(&r);

    /* PUT with the resourceVersion read before the patches: stale, 409 Conflict. */
    CHECK_RC(put_web(c, path, rv, &r), LBP_CONFLICT);
    CHECK(r.http_code == 409 && lbp_streq(r.reason, "Conflict"));
    lbp_kube_response_free(&r);
    /* PUT with the current resourceVersion succeeds. */
    CHECK_RC(lbp_kube_get(c, path, &r), LBP_OK);
    free(rv);
    rv = json_path(r.body, "metadata.resourceVersion");
    lbp_kube_response_free(&r);
    CHECK_RC(put_web(c, path, rv, &r), LBP_OK);
    CHECK(r.http_code == 200);
    lbp_kube_response_free(&r);

    /* 422 Invalid: a name that is not a DNS label. */
    {
        char *bad = service_json("Not_A_Name");
        CHECK_RC(lbp_kube_post(c, SVC_PATH, bad, &r), LBP_INVALID);
        CHECK(r.http_code == 422 && lbp_streq(r.reason, "Invalid"));
        lbp_kube_response_free(&r);
        free(bad);
    }

    CHECK_RC(lbp_kube_delete(c, path, &r), LBP_OK);
    lbp_kube_response_free(&r);
    CHECK_RC(lbp_kube_get(c, path, NULL), LBP_NOT_FOUND);
    CHECK_RC(lbp_kube_delete(c, path, NULL), LBP_NOT_FOUND);

    /* A list page is counted as a list. */
    struct lbp_kube_stats st;
    CHECK_RC(lbp_kube_list_page(c, "/api/v1/services?limit=10", &r), LBP_OK);
    CHECK(field_is(r.body, "kind", "ServiceList"));
    lbp_kube_response_free(&r);
    lbp_kube_client_stats(c, &st);
    CHECK(st.list == 1 && st.post >= 3 && st.put == 2 && st.patch == 3 && st.del == 2);
    free(rv);
    free(body);
}

/* ---------------------------------------------------------------- retries */

static void test_retries(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct lbp_kube_response r = {0};
    struct lbp_kube_stats before, after;
    char *body = service_json("retry");

    fprintf(stderr, "-- 429 with Retry-After, 5xx, exhausted retries\n");
    CHECK_RC(lbp_kube_post(c, SVC_PATH, body, NULL), LBP_OK);

    /* 429 twice with Retry-After: 1 — retried after at least 1 s each. */
    long n0 = lbp_fake_api_count(api, "GET services");
    lbp_kube_client_stats(c, &before);
    CHECK(lbp_fake_api_fault(api, "{\"throttleNext\":2,\"retryAfter\":1}") == 0);
    uint64_t t0 = lbp_now_ms();
    CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services/retry", &r), LBP_OK);
    uint64_t took = lbp_now_ms() - t0;
    CHECK(took >= 2000);
    CHECK(field_is(r.body, "metadata.name", "retry"));
    lbp_kube_response_free(&r);
    CHECK(lbp_fake_api_count(api, "GET services") - n0 == 3);
    lbp_kube_client_stats(c, &after);
    CHECK(after.retries - before.retries == 2);
    fprintf(stderr, "   429 x2 with Retry-After 1: %llu ms\n", (unsigned long long)took);

    /* A throttled POST is retried too: the server did not act on it. */
    char *body2 = service_json("retry-post");
    long p0 = lbp_fake_api_count(api, "POST services");
    CHECK(lbp_fake_api_fault(api, "{\"throttleNext\":1,\"retryAfter\":1}") == 0);
    CHECK_RC(lbp_kube_post(c, SVC_PATH, body2, NULL), LBP_OK);
    CHECK(lbp_fake_api_count(api, "POST services") - p0 == 2);
    free(body2);

    /* 500 twice, then success. */
    n0 = lbp_fake_api_count(api, "GET services");
    CHECK(lbp_fake_api_fault(api, "{\"errorNext\":2,\"code\":500}") == 0);
    CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services/retry", NULL), LBP_OK);
    CHECK(lbp_fake_api_count(api, "GET services") - n0 == 3);

    /* A POST answered 500 may have been acted on: not retried. */
    char *body3 = service_json("post-500");
    p0 = lbp_fake_api_count(api, "POST services");
    CHECK(lbp_fake_api_fault(api, "{\"errorNext\":1,\"code\":500}") == 0);
    CHECK_RC(lbp_kube_post(c, SVC_PATH, body3, &r), LBP_RETRY);
    CHECK(r.http_code == 500);
    lbp_kube_response_free(&r);
    CHECK(lbp_fake_api_count(api, "POST services") - p0 == 1);
    free(body3);

    /* 501 is not transient. */
    n0 = lbp_fake_api_count(api, "GET services");
    CHECK(lbp_fake_api_fault(api, "{\"errorNext\":1,\"code\":501}") == 0);
    CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services/retry", NULL), LBP_RETRY);
    CHECK(lbp_fake_api_count(api, "GET services") - n0 == 1);
    CHECK(lbp_fake_api_fault(api, "{\"reset\":true}") == 0);

    free(body);
}

static void test_retries_exhausted(struct lbp_fake_api *api, const struct lbp_kube_config *cfg)
{
    struct lbp_kube_client_opts o = {.max_retries = 2};
    struct lbp_kube_client *c = client_for(cfg, &o);
    struct lbp_kube_response r = {0};

    CHECK(c != NULL);
    if (!c)
        return;
    long n0 = lbp_fake_api_count(api, "GET services");
    CHECK(lbp_fake_api_fault(api, "{\"errorNext\":10,\"code\":503}") == 0);
    CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services/retry", &r), LBP_RETRY);
    CHECK(r.http_code == 503);
    lbp_kube_response_free(&r);
    CHECK(lbp_fake_api_count(api, "GET services") - n0 == 3); /* 1 + max_retries */
    CHECK(lbp_fake_api_fault(api, "{\"reset\":true}") == 0);
    lbp_kube_client_free(c);
}

/* A server that is not there: retried with backoff, never a busy loop. */
static void test_connect_refused(const char *dead_url)
{
    struct lbp_kube_config cfg = {.server = (char *)dead_url};
    struct lbp_kube_client_opts o = {.max_retries = 3};
    struct lbp_kube_client *c = client_for(&cfg, &o);
    struct lbp_kube_stats st;
    struct lbp_kube_response r = {0};

    fprintf(stderr, "-- connection refused (%s)\n", dead_url);
    CHECK(c != NULL);
    if (!c)
        return;
    uint64_t t0 = lbp_now_ms();
    CHECK_RC(lbp_kube_get(c, "/api/v1/services", &r), LBP_RETRY);
    uint64_t took = lbp_now_ms() - t0;
    CHECK(r.http_code == 0);
    lbp_kube_response_free(&r);
    lbp_kube_client_stats(c, &st);
    CHECK(st.retries == 3);
    /* Backoff 200, 400, 800 ms with +-20% jitter: at least 1120 ms in all. */
    CHECK(took >= 1120);
    fprintf(stderr, "   3 retries took %llu ms\n", (unsigned long long)took);

    /* A POST that never reached the server is safe to retry as well. */
    CHECK_RC(lbp_kube_post(c, SVC_PATH, "{}", NULL), LBP_RETRY);
    lbp_kube_client_stats(c, &st);
    CHECK(st.retries == 6);
    lbp_kube_client_free(c);
}

/* ---------------------------------------------------------------- QPS */

static void test_qps(const struct lbp_kube_config *cfg)
{
    struct lbp_kube_client_opts o = {.qps = 20, .burst = 1};
    struct lbp_kube_client *c = client_for(cfg, &o);

    fprintf(stderr, "-- client-side rate limit\n");
    CHECK(c != NULL);
    if (!c)
        return;
    uint64_t t0 = lbp_now_ms();
    for (int i = 0; i < 21; i++)
        CHECK_RC(lbp_kube_get(c, "/api/v1/namespaces/default/services", NULL), LBP_OK);
    uint64_t took = lbp_now_ms() - t0;
    /* One token up front, then 20 more at 20/s. */
    CHECK(took >= 950);
    fprintf(stderr, "   21 requests at qps 20 burst 1: %llu ms\n", (unsigned long long)took);
    lbp_kube_client_free(c);
}

/* ---------------------------------------------------------------- streams */

struct watch_run {
    struct lbp_kube_client *c;
    int rc;
    int lines;       /* atomic */
    bool saw_added;  /* an ADDED event for "watched" arrived */
    uint64_t end_ms; /* when lbp_kube_stream returned */
};

static int on_line(void *ctx, const char *line, size_t len)
{
    struct watch_run *w = ctx;
    if (strstr(line, "\"ADDED\"") && strstr(line, "\"watched\""))
        __atomic_store_n(&w->saw_added, true, __ATOMIC_RELEASE);
    __atomic_add_fetch(&w->lines, 1, __ATOMIC_RELAXED);
    return 0;
}

static void *watch_thread(void *arg)
{
    struct watch_run *w = arg;
    w->rc = lbp_kube_stream(w->c, "/api/v1/namespaces/default/services?watch=1&resourceVersion=0",
                            1 << 20, 0, on_line, w, NULL);
    w->end_ms = lbp_now_ms();
    return NULL;
}

static bool saw_added(void *ctx)
{
    struct watch_run *w = ctx;
    return __atomic_load_n(&w->saw_added, __ATOMIC_ACQUIRE);
}

static void test_shutdown_aborts_stream(const struct lbp_kube_config *cfg)
{
    struct watch_run w = {0};
    pthread_t th;
    char *body = service_json("watched");

    fprintf(stderr, "-- shutdown aborts an in-flight watch\n");
    w.c = client_for(cfg, NULL);
    CHECK(w.c != NULL);
    if (!w.c)
        goto out;
    pthread_create(&th, NULL, watch_thread, &w);
    /* Keep creating until the watch shows the object: then it is surely live. */
    CHECK_RC(lbp_kube_post(w.c, SVC_PATH, body, NULL), LBP_OK);
    CHECK(lbp_test_poll(saw_added, &w, 5000));
    uint64_t t0 = lbp_now_ms();
    lbp_kube_client_shutdown(w.c);
    pthread_join(th, NULL);
    CHECK_RC(w.rc, LBP_CANCELLED);
    CHECK(w.end_ms - t0 < 1000);
    fprintf(stderr, "   watch returned %llu ms after shutdown\n",
            (unsigned long long)(w.end_ms - t0));
    CHECK_RC(lbp_kube_get(w.c, SVC_PATH, NULL), LBP_CANCELLED);
    struct lbp_kube_stats st;
    lbp_kube_client_stats(w.c, &st);
    CHECK(st.watch == 1);
    lbp_kube_client_free(w.c);
out:
    free(body);
}

/* A watch the server answers with an error is returned mapped, with the Status. */
static void test_stream_error(struct lbp_kube_client *c)
{
    struct lbp_kube_response r = {0};
    struct watch_run w = {.c = c};
    CHECK_RC(lbp_kube_stream(c, "/api/v1/namespaces/default/nosuchthings?watch=1", 1 << 20, 0,
                             on_line, &w, &r),
             LBP_NOT_FOUND);
    CHECK(r.http_code == 404);
    lbp_kube_response_free(&r);
}

/* ---------------------------------------------------------------- leases */

static void test_leases(struct lbp_kube_client *c)
{
    struct lbp_lease want = {0}, *got = NULL, *again = NULL, *upd = NULL, *stale_res = NULL;

    fprintf(stderr, "-- leases\n");
    want.meta.name = "lbprov-speaker-node1";
    want.holder_identity = "node1";
    want.lease_duration_s = 15;
    want.acquire_time_us = 1795687200123456LL; /* 2026-11-26T10:00:00.123456Z */
    want.renew_time_us = 1795687201000001LL;
    want.lease_transitions = 2;
    CHECK_RC(lbp_lease_get(c, "default", "lbprov-speaker-node1", &got), LBP_NOT_FOUND);
    CHECK_RC(lbp_lease_create(c, "default", &want, &got), LBP_OK);
    CHECK(got && lbp_streq(got->holder_identity, "node1") && got->lease_duration_s == 15 &&
          got->acquire_time_us == want.acquire_time_us &&
          got->renew_time_us == want.renew_time_us && got->lease_transitions == 2);
    CHECK(got && lbp_streq(got->meta.namespace, "default") && got->meta.resource_version);
    CHECK_RC(lbp_lease_create(c, "default", &want, &again), LBP_CONFLICT);
    CHECK(again == NULL);

    CHECK_RC(lbp_lease_get(c, "default", "lbprov-speaker-node1", &again), LBP_OK);
    CHECK(again && lbp_streq(again->holder_identity, "node1"));
    if (!got || !again)
        goto out;

    /* Renew from the fresh copy. */
    struct lbp_lease next = *again;
    next.holder_identity = "node2";
    next.renew_time_us = want.renew_time_us + 1000000;
    next.lease_transitions = 3;
    CHECK_RC(lbp_lease_update(c, &next, &upd), LBP_OK);
    CHECK(upd && lbp_streq(upd->holder_identity, "node2") && upd->lease_transitions == 3 &&
          upd->renew_time_us == next.renew_time_us);
    CHECK(upd && !lbp_streq(upd->meta.resource_version, again->meta.resource_version));

    /* Someone else wrote in between: the old copy is stale. */
    struct lbp_lease stale = *got;
    stale.holder_identity = "node3";
    CHECK_RC(lbp_lease_update(c, &stale, &stale_res), LBP_CONFLICT);
    CHECK(stale_res == NULL);
out:
    lbp_kube_obj_unref(got);
    lbp_kube_obj_unref(again);
    lbp_kube_obj_unref(upd);
}

/* ---------------------------------------------------------------- TLS and auth */

static int write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    return chmod(path, mode);
}

static void test_tls_and_auth(void)
{
    struct lbp_fake_api api;
    struct lbp_fake_api_opts fo = {.tls = true, .token = "token-B"};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *c = NULL;
    struct lbp_kube_response r = {0};
    char tokfile[400], plugin[400];

    fprintf(stderr, "-- TLS with the kubeconfig's CA and bearer token\n");
    if (lbp_fake_api_start(&fo, &api) != 0) {
        CHECK(!"fake API server (TLS) did not start");
        return;
    }
    cfg = load_cfg(&api);
    CHECK(cfg != NULL);
    if (!cfg)
        goto out;
    CHECK(strncmp(cfg->server, "https://", 8) == 0);
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, &r), LBP_OK);
    CHECK(field_is(r.body, "kind", "ServiceList"));
    lbp_kube_response_free(&r);
    lbp_kube_client_free(c);

    /* Wrong token: 401 even after one refresh → LBP_AUTH. */
    char *good = cfg->token;
    cfg->token = "token-wrong";
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, &r), LBP_AUTH);
    CHECK(r.http_code == 401);
    lbp_kube_response_free(&r);
    lbp_kube_client_free(c);
    cfg->token = good;

    /* No CA: the self-signed certificate is refused... */
    char *ca_file = cfg->ca_file, *ca_data = cfg->ca_data;
    cfg->ca_file = NULL;
    cfg->ca_data = NULL;
    c = client_for(cfg, NULL);
    CHECK(lbp_kube_get(c, SVC_PATH, NULL) != LBP_OK);
    lbp_kube_client_free(c);
    /* ...unless verification is switched off explicitly. */
    cfg->insecure_skip_tls_verify = true;
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, NULL), LBP_OK);
    lbp_kube_client_free(c);
    cfg->insecure_skip_tls_verify = false;
    cfg->ca_file = ca_file;
    cfg->ca_data = ca_data;

    /*
     * tls-server-name: the fake's certificate names 127.0.0.1 and localhost.
     * Connecting to 127.0.0.1 while verifying as "localhost" works; verifying
     * as a name the certificate lacks must fail (and resolves nothing: the
     * connection still goes to 127.0.0.1).
     */
    char *server = cfg->server;
    char *alt = NULL;
    CHECK(asprintf(&alt, "https://127.0.0.1:%d", api.port) > 0);
    cfg->server = alt;
    cfg->tls_server_name = "localhost";
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, NULL), LBP_OK);
    lbp_kube_client_free(c);
    cfg->tls_server_name = "not-in-the-cert.invalid";
    c = client_for(cfg, NULL);
    CHECK(lbp_kube_get(c, SVC_PATH, NULL) != LBP_OK);
    lbp_kube_client_free(c);
    cfg->tls_server_name = NULL;
    cfg->server = server;
    free(alt);

    /* Token file rotation: the file starts with a stale token, then rotates. */
    fprintf(stderr, "-- token file rotation\n");
    snprintf(tokfile, sizeof(tokfile), "%s/token", api.dir);
    CHECK(write_file(tokfile, "token-A\n", 0600) == 0);
    cfg->token = NULL;
    cfg->token_file = tokfile;
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, NULL), LBP_AUTH);
    CHECK(write_file(tokfile, "token-B\n", 0600) == 0);
    /* The 401 makes the client invalidate and re-read the file at once. */
    CHECK_RC(lbp_kube_get(c, SVC_PATH, NULL), LBP_OK);
    lbp_kube_client_free(c);
    cfg->token_file = NULL;

    /* Exec plugin. */
    fprintf(stderr, "-- exec credential plugin\n");
    snprintf(plugin, sizeof(plugin), "%s/cred-plugin.sh", api.dir);
    CHECK(write_file(plugin,
                     "#!/bin/sh\n"
                     "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                     "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"token-B\"}}'\n",
                     0700) == 0);
    struct lbp_kube_exec ex = {.command = plugin, .api_version = "client.authentication.k8s.io/v1"};
    char *no_args[] = {NULL};
    ex.args = no_args;
    ex.env = no_args;
    struct lbp_kube_exec *saved_exec = cfg->exec;
    cfg->exec = &ex;
    c = client_for(cfg, NULL);
    CHECK_RC(lbp_kube_get(c, SVC_PATH, NULL), LBP_OK);
    lbp_kube_client_free(c);
    cfg->exec = saved_exec;
    cfg->token = good;

out:
    lbp_kube_config_free(cfg);
    lbp_fake_api_stop(&api);
}

int main(void)
{
    struct lbp_fake_api api;
    struct lbp_fake_api_opts fo = {0};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *c = NULL;
    char dead_url[128];

    if (lbp_fake_api_start(&fo, &api) != 0) {
        fprintf(stderr, "fake API server did not start\n");
        return 1;
    }
    cfg = load_cfg(&api);
    if (!cfg) {
        lbp_fake_api_stop(&api);
        return 1;
    }
    c = client_for(cfg, NULL);
    if (!c) {
        failures++;
        goto out;
    }
    test_verbs(c);
    test_stream_error(c);
    test_retries(&api, c);
    test_retries_exhausted(&api, cfg);
    test_qps(cfg);
    test_leases(c);
    test_shutdown_aborts_stream(cfg);
out:
    lbp_kube_client_free(c);
    lbp_kube_config_free(cfg);
    lbp_strlcpy(dead_url, api.url, sizeof(dead_url));
    lbp_fake_api_stop(&api);
    /* The port the fake listened on is closed now. */
    test_connect_refused(dead_url);
    test_tls_and_auth();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
