/*
 * test_kube_events.c — the Event recorder (kube/events.c) against the fake
 * API server: identical events aggregate into one Event with a count,
 * different messages make different Events, the per-object spam filter
 * drops what is over its burst, and an Event deleted behind the recorder's
 * back is re-created rather than patched.
 */
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "test/integration/harness.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond) LBP_TEST_CHECK_SOFT(failures, cond)

/* The Events in ns whose involvedObject.name is obj; fills counts and names (up to max). */
struct found {
    int n;
    long counts[64];
    char names[64][256];
    char messages[64][256];
};

static void find_events(struct lbp_fake_api *api, const char *ns, const char *obj, struct found *f)
{
    char path[256], *body = NULL;
    memset(f, 0, sizeof(*f));
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    long code = lbp_fake_api_request(api, "GET", path, NULL, NULL, &body);
    CHECK(code == 200);
    struct json_object *root = json_tokener_parse(body ? body : ""), *items, *it, *v;
    free(body);
    if (!root || !json_object_object_get_ex(root, "items", &items)) {
        CHECK(!"event list without items");
        json_object_put(root);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(items) && f->n < 64; i++) {
        it = json_object_array_get_idx(items, i);
        struct json_object *io, *name, *md;
        if (!json_object_object_get_ex(it, "involvedObject", &io) ||
            !json_object_object_get_ex(io, "name", &name) ||
            strcmp(json_object_get_string(name), obj) != 0)
            continue;
        f->counts[f->n] = json_object_object_get_ex(it, "count", &v) ? json_object_get_int64(v) : 0;
        if (json_object_object_get_ex(it, "metadata", &md) &&
            json_object_object_get_ex(md, "name", &v))
            lbp_strlcpy(f->names[f->n], json_object_get_string(v), sizeof(f->names[0]));
        if (json_object_object_get_ex(it, "message", &v))
            lbp_strlcpy(f->messages[f->n], json_object_get_string(v), sizeof(f->messages[0]));
        f->n++;
    }
    json_object_put(root);
}

static struct lbp_object_ref svc_ref(const char *name, const char *uid)
{
    struct lbp_object_ref ref = {.kind = "Service",
                                 .api_version = "v1",
                                 .namespace = "default",
                                 .name = name,
                                 .uid = uid,
                                 .resource_version = "1"};
    return ref;
}

static void test_aggregation(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct lbp_event_opts o = {.component = "service-controller", .host = "node-a"};
    struct lbp_event_recorder *r = NULL;
    struct found f;

    fprintf(stderr, "-- aggregation\n");
    CHECK(lbp_event_recorder_new(c, &o, &r) == LBP_OK);
    if (!r)
        return;
    struct lbp_object_ref web = svc_ref("web", "uid-web");
    long posts0 = lbp_fake_api_count(api, "POST events");
    long patches0 = lbp_fake_api_count(api, "PATCH events");
    for (int i = 0; i < 5; i++)
        lbp_event_record(r, &web, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "web", &f);
    CHECK(f.n == 1);
    CHECK(f.n == 1 && f.counts[0] == 5);
    CHECK(f.n == 1 && strncmp(f.names[0], "web.", 4) == 0);
    CHECK(lbp_fake_api_count(api, "POST events") - posts0 == 1);
    CHECK(lbp_fake_api_count(api, "PATCH events") - patches0 == 4);

    /* Different messages are different Events. */
    lbp_event_record(r, &web, "Warning", "SyncLoadBalancerFailed", "quota exceeded: %d", 1);
    lbp_event_record(r, &web, "Warning", "SyncLoadBalancerFailed", "quota exceeded: %d", 2);
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "web", &f);
    CHECK(f.n == 3);

    /* A message over 1 KiB is cut. */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct lbp_object_ref other = svc_ref("big", "uid-big");
    lbp_event_record(r, &other, "Warning", "Long", "%s", big);
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "big", &f);
    CHECK(f.n == 1 && strlen(f.messages[0]) <= 255); /* the test buffer truncates */
    {
        char *body = NULL;
        char path[512];
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/events/%s", f.names[0]);
        CHECK(lbp_fake_api_request(api, "GET", path, NULL, NULL, &body) == 200);
        struct json_object *o2 = json_tokener_parse(body ? body : ""), *m;
        CHECK(o2 && json_object_object_get_ex(o2, "message", &m) &&
              strlen(json_object_get_string(m)) == 1024);
        json_object_put(o2);
        free(body);
    }

    /* The Event vanished (TTL): a repeat creates a new one instead of patching nothing. */
    find_events(api, "default", "web", &f);
    char path[512], first[256] = "";
    for (int i = 0; i < f.n; i++)
        if (f.counts[i] == 5)
            lbp_strlcpy(first, f.names[i], sizeof(first));
    CHECK(first[0] != '\0');
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/events/%s", first);
    CHECK(lbp_fake_api_request(api, "DELETE", path, NULL, NULL, NULL) == 200);
    lbp_event_record(r, &web, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer");
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "web", &f);
    CHECK(f.n == 3);
    bool fresh = false;
    for (int i = 0; i < f.n; i++)
        if (f.counts[i] == 1 && strcmp(f.names[i], first) != 0 &&
            strcmp(f.messages[i], "Ensuring load balancer") == 0)
            fresh = true;
    CHECK(fresh);

    /* Cluster-scoped objects get their Events in "default". */
    struct lbp_object_ref node = {.kind = "Node", .api_version = "v1", .name = "node-1"};
    lbp_event_record(r, &node, "Normal", "Announcing", "announcing 10.0.0.1");
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "node-1", &f);
    CHECK(f.n == 1);
    lbp_event_recorder_free(r);
}

static void test_spam_filter(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct lbp_event_opts o = {.component = "service-controller", .burst = 3, .qps = 0.001};
    struct lbp_event_recorder *r = NULL;
    struct found f;

    fprintf(stderr, "-- per-object rate limit\n");
    CHECK(lbp_event_recorder_new(c, &o, &r) == LBP_OK);
    if (!r)
        return;
    struct lbp_object_ref noisy = svc_ref("noisy", "uid-noisy");
    struct lbp_object_ref quiet = svc_ref("quiet", "uid-quiet");
    for (int i = 0; i < 10; i++)
        lbp_event_record(r, &noisy, "Warning", "SyncLoadBalancerFailed", "attempt %d failed", i);
    lbp_event_record(r, &quiet, "Normal", "EnsuredLoadBalancer", "Ensured load balancer");
    lbp_event_recorder_flush(r, 10000);
    find_events(api, "default", "noisy", &f);
    CHECK(f.n == 3); /* the burst, no more */
    /* The first three got through, in order. */
    int seen = 0;
    for (int i = 0; i < f.n; i++)
        if (strcmp(f.messages[i], "attempt 0 failed") == 0 ||
            strcmp(f.messages[i], "attempt 1 failed") == 0 ||
            strcmp(f.messages[i], "attempt 2 failed") == 0)
            seen++;
    CHECK(seen == 3);
    /* Another object has its own budget. */
    find_events(api, "default", "quiet", &f);
    CHECK(f.n == 1);
    lbp_event_recorder_free(r);
}

/* Recording never waits on the API: a slow server does not slow the caller. */
static void test_never_blocks(struct lbp_fake_api *api, struct lbp_kube_client *c)
{
    struct lbp_event_opts o = {.component = "service-controller", .queue_max = 4};
    struct lbp_event_recorder *r = NULL;

    fprintf(stderr, "-- recording does not block\n");
    CHECK(lbp_event_recorder_new(c, &o, &r) == LBP_OK);
    if (!r)
        return;
    CHECK(lbp_fake_api_fault(api, "{\"latencyMs\":300}") == 0);
    struct lbp_object_ref slow = svc_ref("slow", "uid-slow");
    uint64_t t0 = lbp_now_ms();
    for (int i = 0; i < 50; i++)
        lbp_event_record(r, &slow, "Normal", "Busy", "event %d", i);
    uint64_t took = lbp_now_ms() - t0;
    CHECK(took < 250);
    fprintf(stderr, "   50 records against a 300 ms server: %llu ms\n", (unsigned long long)took);
    lbp_event_recorder_flush(r, 15000);
    CHECK(lbp_fake_api_fault(api, "{\"reset\":true}") == 0);
    struct found f;
    find_events(api, "default", "slow", &f);
    /* The queue holds 4 (plus one in flight); the rest were dropped, not queued. */
    CHECK(f.n >= 1 && f.n <= 5);
    lbp_event_recorder_free(r);
}

int main(void)
{
    struct lbp_fake_api api;
    struct lbp_fake_api_opts fo = {0};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *c = NULL;
    struct lbp_kube_config_opts co;
    char err[512];

    if (lbp_fake_api_start(&fo, &api) != 0) {
        fprintf(stderr, "fake API server did not start\n");
        return 1;
    }
    co = (struct lbp_kube_config_opts){.kubeconfig = api.kubeconfig};
    if (lbp_kube_config_load(&co, &cfg, err, sizeof(err)) != LBP_OK ||
        lbp_kube_client_new(cfg, NULL, &c, err, sizeof(err)) != LBP_OK) {
        fprintf(stderr, "client: %s\n", err);
        failures++;
        goto out;
    }
    test_aggregation(&api, c);
    test_spam_filter(&api, c);
    test_never_blocks(&api, c);
out:
    lbp_kube_client_free(c);
    lbp_kube_config_free(cfg);
    lbp_fake_api_stop(&api);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
