/*
 * test_fake_apiserver.c — proves the fake API server behaves like the real
 * one where lbprov depends on it: defaulting and allocation, validation
 * errors, resourceVersion and optimistic concurrency, the status
 * subresource, finalizers, watches (replay, 410, bookmarks, selectors),
 * paging, the three patch types, every fault, TLS + token auth and kubectl.
 *
 * Uses only the harness and libcurl. Run with the argument "kubectl" for the
 * kubectl test alone (exits 77 when kubectl is not installed).
 */
#include "test/integration/harness.h"
#include "common/util.h"

#include <json-c/json.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define JSON "application/json"
#define MERGE "application/merge-patch+json"
#define JPATCH "application/json-patch+json"
#define SMP "application/strategic-merge-patch+json"

static struct lbp_fake_api api;   /* shared instance for most tests */
static struct lbp_fake_api extra; /* a test's own instance, stopped even when it fails */

/* ---- helpers ------------------------------------------------------------ */

static json_object *call(struct lbp_fake_api *a, const char *method, const char *path,
                         const char *ct, const char *body, long *code)
{
    char *resp = NULL;
    *code = lbp_fake_api_request(a, method, path, ct, body, &resp);
    json_object *o = resp ? json_tokener_parse(resp) : NULL;
    free(resp);
    return o;
}

static long callf(struct lbp_fake_api *a, const char *method, const char *path, const char *ct,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static long callf(struct lbp_fake_api *a, const char *method, const char *path, const char *ct,
                  const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    long code;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    json_object_put(call(a, method, path, ct, body, &code));
    return code;
}

/* Dotted path with numeric parts indexing arrays: "spec.ports.0.nodePort". */
static json_object *jget(json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    lbp_strlcpy(buf, path, sizeof(buf));
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array)) {
            long idx;
            o = lbp_parse_long(t, 0, 100000, &idx) ? NULL
                                                   : json_object_array_get_idx(o, (size_t)idx);
        } else if (json_object_is_type(o, json_type_object))
            o = json_object_object_get(o, t);
        else
            o = NULL;
    }
    return o;
}

static const char *jstr(json_object *o, const char *path)
{
    json_object *v = jget(o, path);
    return v ? json_object_get_string(v) : NULL;
}

static long jint(json_object *o, const char *path)
{
    json_object *v = jget(o, path);
    return v ? (long)json_object_get_int64(v) : -1;
}

static unsigned long long rv_of(json_object *o)
{
    const char *s = jstr(o, "metadata.resourceVersion");
    return s ? strtoull(s, NULL, 10) : 0;
}

static void make_ns(struct lbp_fake_api *a, const char *ns)
{
    long code =
        callf(a, "POST", "/api/v1/namespaces", JSON, "{\"metadata\":{\"name\":\"%s\"}}", ns);
    assert_int_equal(code, 201);
}

static json_object *get(struct lbp_fake_api *a, const char *path, long *code)
{
    return call(a, "GET", path, NULL, NULL, code);
}

/* A finished watch (ended by timeoutSeconds or the server) as parsed events. */
struct events {
    int n;
    char type[256][16];
    char name[256][64];
    unsigned long long rv[256];
    json_object *obj[256];
};

static long watch(struct lbp_fake_api *a, const char *path, struct events *ev)
{
    char *resp = NULL;
    long code = lbp_fake_api_request(a, "GET", path, NULL, NULL, &resp);
    memset(ev, 0, sizeof(*ev));
    char *save = NULL;
    for (char *line = resp ? strtok_r(resp, "\n", &save) : NULL; line && ev->n < 256;
         line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line);
        assert_non_null(o);
        lbp_strlcpy(ev->type[ev->n], jstr(o, "type") ? jstr(o, "type") : "", 16);
        const char *nm = jstr(o, "object.metadata.name");
        lbp_strlcpy(ev->name[ev->n], nm ? nm : "", 64);
        ev->rv[ev->n] = rv_of(json_object_object_get(o, "object"));
        ev->obj[ev->n] = o;
        ev->n++;
    }
    free(resp);
    return code;
}

static void events_free(struct events *ev)
{
    for (int i = 0; i < ev->n; i++)
        json_object_put(ev->obj[i]);
    ev->n = 0;
}

static int count_type(const struct events *ev, const char *type)
{
    int n = 0;
    for (int i = 0; i < ev->n; i++)
        n += strcmp(ev->type[i], type) == 0;
    return n;
}

/* ---- defaulting & validation -------------------------------------------- */

static void test_service_defaulting(void **state)
{
    long code;
    make_ns(&api, "t-def");
    json_object *s = call(&api, "POST", "/api/v1/namespaces/t-def/services", JSON,
                          "{\"metadata\":{\"name\":\"web\"},\"spec\":{\"type\":\"LoadBalancer\","
                          "\"externalTrafficPolicy\":\"Local\",\"selector\":{\"app\":\"web\"},"
                          "\"ports\":[{\"name\":\"http\",\"port\":80},{\"name\":\"https\","
                          "\"port\":443,\"protocol\":\"TCP\"}]}}",
                          &code);
    assert_int_equal(code, 201);
    long np0 = jint(s, "spec.ports.0.nodePort"), np1 = jint(s, "spec.ports.1.nodePort");
    long hc = jint(s, "spec.healthCheckNodePort");
    assert_true(np0 >= 30000 && np0 <= 32767);
    assert_true(np1 >= 30000 && np1 <= 32767);
    assert_true(hc >= 30000 && hc <= 32767);
    assert_true(np0 != np1 && hc != np0 && hc != np1);
    assert_string_equal(jstr(s, "spec.ports.0.protocol"), "TCP");
    assert_int_equal(jint(s, "spec.ports.0.targetPort"), 80);
    assert_string_equal(jstr(s, "spec.sessionAffinity"), "None");
    assert_string_equal(jstr(s, "spec.ipFamilies.0"), "IPv4");
    assert_string_equal(jstr(s, "spec.ipFamilyPolicy"), "SingleStack");
    assert_string_equal(jstr(s, "spec.internalTrafficPolicy"), "Cluster");
    assert_true(strncmp(jstr(s, "spec.clusterIP"), "10.", 3) == 0);
    assert_string_equal(jstr(s, "spec.clusterIPs.0"), jstr(s, "spec.clusterIP"));
    assert_int_equal(strlen(jstr(s, "metadata.uid")), 36);
    assert_int_equal(jstr(s, "metadata.uid")[14], '4');
    assert_non_null(jstr(s, "metadata.creationTimestamp"));
    assert_true(rv_of(s) > 0);
    const char *cip = jstr(s, "spec.clusterIP");
    char first_ip[64];
    lbp_strlcpy(first_ip, cip, sizeof(first_ip));

    /* Ports are kept when a PUT omits them, as the real server does. */
    json_object *spec = json_object_object_get(s, "spec");
    json_object_object_del(json_object_array_get_idx(json_object_object_get(spec, "ports"), 0),
                           "nodePort");
    json_object_object_del(spec, "healthCheckNodePort");
    json_object_object_del(spec, "clusterIP");
    json_object_object_del(spec, "clusterIPs");
    json_object *u = call(&api, "PUT", "/api/v1/namespaces/t-def/services/web", JSON,
                          json_object_to_json_string(s), &code);
    assert_int_equal(code, 200);
    assert_int_equal(jint(u, "spec.ports.0.nodePort"), np0);
    assert_int_equal(jint(u, "spec.healthCheckNodePort"), hc);
    assert_string_equal(jstr(u, "spec.clusterIP"), first_ip);
    json_object_put(u);
    json_object_put(s);

    s = call(&api, "POST", "/api/v1/namespaces/t-def/services", JSON,
             "{\"metadata\":{\"name\":\"nonp\"},\"spec\":{\"type\":\"LoadBalancer\","
             "\"allocateLoadBalancerNodePorts\":false,\"ports\":[{\"port\":80}]}}",
             &code);
    assert_int_equal(code, 201);
    assert_null(jget(s, "spec.ports.0.nodePort"));
    assert_string_equal(jstr(s, "spec.externalTrafficPolicy"), "Cluster");
    assert_null(jget(s, "spec.healthCheckNodePort"));
    json_object_put(s);

    s = call(&api, "POST", "/api/v1/namespaces/t-def/services", JSON,
             "{\"metadata\":{\"name\":\"cip\"},\"spec\":{\"ports\":[{\"port\":53,"
             "\"protocol\":\"UDP\"}]}}",
             &code);
    assert_int_equal(code, 201);
    assert_string_equal(jstr(s, "spec.type"), "ClusterIP");
    assert_null(jget(s, "spec.ports.0.nodePort"));
    assert_null(jget(s, "spec.externalTrafficPolicy"));
    assert_string_not_equal(jstr(s, "spec.clusterIP"), first_ip);
    json_object_put(s);

    /* 30 NodePort Services: every nodePort distinct. */
    long seen[40];
    for (int i = 0; i < 30; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"metadata\":{\"name\":\"np%d\"},\"spec\":{\"type\":\"NodePort\",\"ports\":"
                 "[{\"port\":80}]}}",
                 i);
        s = call(&api, "POST", "/api/v1/namespaces/t-def/services", JSON, body, &code);
        assert_int_equal(code, 201);
        seen[i] = jint(s, "spec.ports.0.nodePort");
        for (int j = 0; j < i; j++)
            assert_true(seen[j] != seen[i]);
        json_object_put(s);
    }
}

static void assert_invalid(json_object *st, long code, const char *field)
{
    assert_int_equal(code, 422);
    assert_string_equal(jstr(st, "kind"), "Status");
    assert_string_equal(jstr(st, "status"), "Failure");
    assert_string_equal(jstr(st, "reason"), "Invalid");
    assert_int_equal(jint(st, "code"), 422);
    assert_string_equal(jstr(st, "details.kind"), "Service");
    bool found = false;
    json_object *causes = jget(st, "details.causes");
    for (size_t i = 0; causes && i < json_object_array_length(causes); i++)
        found = found || strcmp(jstr(json_object_array_get_idx(causes, i), "field"), field) == 0;
    if (!found)
        fail_msg("no cause for %s in %s", field, json_object_to_json_string(st));
}

static void test_service_validation(void **state)
{
    long code;
    json_object *st;
    make_ns(&api, "t-val");
    const char *p = "/api/v1/namespaces/t-val/services";
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"a\"},\"spec\":{\"type\":\"NodePort\","
                           "\"ports\":[{\"port\":80,\"nodePort\":30080}]}}"),
                     201);
    st = call(&api, "POST", p, JSON,
              "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":"
              "81,\"nodePort\":30080}]}}",
              &code);
    assert_invalid(st, code, "spec.ports[0].nodePort");
    assert_non_null(strstr(jstr(st, "message"), "provided port is already allocated"));
    assert_string_equal(jstr(st, "message"),
                        "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: "
                        "provided port is already allocated");
    json_object_put(st);
    st = call(&api, "POST", p, JSON,
              "{\"metadata\":{\"name\":\"c\"},\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":"
              "81,\"nodePort\":40000}]}}",
              &code);
    assert_invalid(st, code, "spec.ports[0].nodePort");
    json_object_put(st);
    st = call(&api, "POST", p, JSON,
              "{\"metadata\":{\"name\":\"d\"},\"spec\":{\"ports\":[{\"name\":\"x\",\"port\":80},"
              "{\"name\":\"y\",\"port\":80}]}}",
              &code);
    assert_invalid(st, code, "spec.ports[1]");
    json_object_put(st);
    st = call(&api, "POST", p, JSON, "{\"metadata\":{\"name\":\"e\"},\"spec\":{}}", &code);
    assert_invalid(st, code, "spec.ports");
    json_object_put(st);
    st = call(&api, "POST", p, JSON,
              "{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &code);
    assert_invalid(st, code, "metadata.name");
    json_object_put(st);
    st = call(&api, "POST", p, JSON,
              "{\"metadata\":{\"name\":\"1abc\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &code);
    assert_invalid(st, code, "metadata.name"); /* DNS-1035: must start with a letter */
    json_object_put(st);

    /* loadBalancerClass is immutable. */
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"lbc\"},\"spec\":{\"type\":\"LoadBalancer\","
                           "\"loadBalancerClass\":\"x.io/a\",\"ports\":[{\"port\":80}]}}"),
                     201);
    st = call(&api, "PATCH", "/api/v1/namespaces/t-val/services/lbc", MERGE,
              "{\"spec\":{\"loadBalancerClass\":\"x.io/b\"}}", &code);
    assert_invalid(st, code, "spec.loadBalancerClass");
    json_object_put(st);

    /* Deleting a Service releases its nodePort. */
    assert_int_equal(callf(&api, "DELETE", "/api/v1/namespaces/t-val/services/a", NULL, "%s", ""),
                     200);
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"type\":\"NodePort\","
                           "\"ports\":[{\"port\":81,\"nodePort\":30080}]}}"),
                     201);
    /* Changing to ClusterIP releases it too. */
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-val/services/b", MERGE,
                           "{\"spec\":{\"type\":\"ClusterIP\"}}"),
                     200);
    st = call(&api, "GET", "/api/v1/namespaces/t-val/services/b", NULL, NULL, &code);
    assert_null(jget(st, "spec.ports.0.nodePort"));
    json_object_put(st);
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"f\"},\"spec\":{\"type\":\"NodePort\","
                           "\"ports\":[{\"port\":81,\"nodePort\":30080}]}}"),
                     201);
}

/* '{"metadata":{"name":NAME,"annotations":{"a":"xxx...","b":"y"}},REST}': n bytes in a's value. */
static char *annotated(const char *name, size_t n, bool second, const char *rest)
{
    size_t cap = n + 512;
    char *b = malloc(cap);
    assert_non_null(b);
    int off = snprintf(b, cap, "{\"metadata\":{\"name\":\"%s\",\"annotations\":{\"a\":\"", name);
    memset(b + off, 'x', n);
    snprintf(b + off + n, cap - (size_t)off - n, "\"%s}}%s%s}", second ? ",\"b\":\"y\"" : "",
             rest[0] ? "," : "", rest);
    return b;
}

static void assert_annotations_too_long(json_object *st, long code, const char *kind,
                                        const char *name)
{
    char want[256];
    assert_int_equal(code, 422);
    assert_string_equal(jstr(st, "reason"), "Invalid");
    assert_string_equal(jstr(st, "details.kind"), kind);
    assert_string_equal(jstr(st, "details.causes.0.field"), "metadata.annotations");
    assert_string_equal(jstr(st, "details.causes.0.reason"), "FieldValueTooLong");
    snprintf(want, sizeof(want),
             "%s \"%s\" is invalid: metadata.annotations: Too long: must have at most 262144 "
             "bytes",
             kind, name);
    assert_string_equal(jstr(st, "message"), want);
}

/*
 * Annotations total at most 262144 bytes of keys and values, on every
 * write, as the real server's ObjectMeta validation.
 */
static void test_annotation_limit(void **state)
{
    const char *p = "/api/v1/namespaces/t-ann/services",
               *ports = "\"spec\":{\"ports\":[{\"port\":80}]}";
    long code;
    json_object *st;
    char *b;
    (void)state;
    make_ns(&api, "t-ann");
    /* exactly at the limit: key "a" (1 byte) + 262143 */
    b = annotated("at", 262143, false, ports);
    json_object_put(call(&api, "POST", p, JSON, b, &code));
    free(b);
    assert_int_equal(code, 201);
    /* one byte over, in one annotation or as the sum of two */
    b = annotated("over", 262144, false, ports);
    st = call(&api, "POST", p, JSON, b, &code);
    free(b);
    assert_annotations_too_long(st, code, "Service", "over");
    json_object_put(st);
    b = annotated("sum", 262142, true, ports); /* 1 + 262142 + 1 + 1 */
    st = call(&api, "POST", p, JSON, b, &code);
    free(b);
    assert_annotations_too_long(st, code, "Service", "sum");
    json_object_put(st);
    st = call(&api, "GET", "/api/v1/namespaces/t-ann/services/sum", NULL, NULL, &code);
    assert_int_equal(code, 404);
    json_object_put(st);

    /* growing past it by merge patch, PUT or a status write: refused, nothing changes */
    st = call(&api, "GET", "/api/v1/namespaces/t-ann/services/at", NULL, NULL, &code);
    unsigned long long rv = rv_of(st);
    json_object_put(st);
    st = call(&api, "PATCH", "/api/v1/namespaces/t-ann/services/at", MERGE,
              "{\"metadata\":{\"annotations\":{\"b\":\"y\"}}}", &code);
    assert_annotations_too_long(st, code, "Service", "at");
    json_object_put(st);
    b = annotated("at", 262143, true, ports);
    st = call(&api, "PUT", "/api/v1/namespaces/t-ann/services/at", JSON, b, &code);
    free(b);
    assert_annotations_too_long(st, code, "Service", "at");
    json_object_put(st);
    st = call(&api, "PATCH", "/api/v1/namespaces/t-ann/services/at/status", MERGE,
              "{\"metadata\":{\"annotations\":{\"b\":\"y\"}}}", &code);
    assert_annotations_too_long(st, code, "Service", "at");
    json_object_put(st);
    st = call(&api, "GET", "/api/v1/namespaces/t-ann/services/at", NULL, NULL, &code);
    assert_int_equal(rv_of(st), rv);
    assert_null(jget(st, "metadata.annotations.b"));
    json_object_put(st);
    /* shrinking is fine */
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-ann/services/at", MERGE,
                           "{\"metadata\":{\"annotations\":{\"a\":\"short\",\"b\":\"y\"}}}"),
                     200);

    /* every kind, not only Services */
    b = annotated("cm", 262144, false, "\"data\":{}");
    st = call(&api, "POST", "/api/v1/namespaces/t-ann/configmaps", JSON, b, &code);
    free(b);
    assert_annotations_too_long(st, code, "ConfigMap", "cm");
    json_object_put(st);
}

static void test_namespace_and_custom(void **state)
{
    long code;
    json_object *st = call(&api, "POST", "/api/v1/namespaces/nope/configmaps", JSON,
                           "{\"metadata\":{\"name\":\"x\"}}", &code);
    assert_int_equal(code, 404);
    assert_string_equal(jstr(st, "message"), "namespaces \"nope\" not found");
    assert_string_equal(jstr(st, "reason"), "NotFound");
    json_object_put(st);

    make_ns(&api, "t-crd");
    const char *pools = "/apis/metallb.io/v1beta1/namespaces/t-crd/ipaddresspools";
    assert_int_equal(callf(&api, "POST", pools, JSON,
                           "{\"apiVersion\":\"metallb.io/v1beta1\",\"kind\":\"IPAddressPool\","
                           "\"metadata\":{\"name\":\"pool1\"},\"spec\":{\"addresses\":"
                           "[\"192.0.2.0/28\"]}}"),
                     201);
    json_object *l = get(&api, pools, &code);
    assert_int_equal(code, 200);
    assert_string_equal(jstr(l, "kind"), "IPAddressPoolList");
    assert_string_equal(jstr(l, "items.0.spec.addresses.0"), "192.0.2.0/28");
    json_object_put(l);
    l = get(&api, "/apis/metallb.io/v1beta1/ipaddresspools", &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(l, "items")), 1);
    json_object_put(l);
    /* Custom resources reject strategic merge patch, like the real server. */
    assert_int_equal(callf(&api, "PATCH",
                           "/apis/metallb.io/v1beta1/namespaces/t-crd/ipaddresspools/pool1", SMP,
                           "{\"spec\":{}}"),
                     415);
    /* Cluster-wide listing of a namespaced built-in. */
    l = get(&api, "/api/v1/services", &code);
    assert_int_equal(code, 200);
    assert_true(json_object_array_length(jget(l, "items")) > 0);
    json_object_put(l);
}

/* ---- resourceVersion and concurrency ------------------------------------ */

static void test_rv_and_noop(void **state)
{
    long code;
    make_ns(&api, "t-rv");
    json_object *a = call(&api, "POST", "/api/v1/namespaces/t-rv/configmaps", JSON,
                          "{\"metadata\":{\"name\":\"cm\"},\"data\":{\"k\":\"v\"}}", &code);
    assert_int_equal(code, 201);
    unsigned long long rv1 = rv_of(a);
    json_object *b = call(&api, "POST", "/api/v1/namespaces/t-rv/configmaps", JSON,
                          "{\"metadata\":{\"name\":\"cm2\"}}", &code);
    assert_true(rv_of(b) > rv1);
    json_object_put(b);

    /* PUT of the same content: no bump. */
    json_object *c = call(&api, "PUT", "/api/v1/namespaces/t-rv/configmaps/cm", JSON,
                          json_object_to_json_string(a), &code);
    assert_int_equal(code, 200);
    assert_int_equal(rv_of(c), rv1);
    json_object_put(c);
    /* A merge patch that changes nothing: no bump. */
    c = call(&api, "PATCH", "/api/v1/namespaces/t-rv/configmaps/cm", MERGE,
             "{\"data\":{\"k\":\"v\"}}", &code);
    assert_int_equal(code, 200);
    assert_int_equal(rv_of(c), rv1);
    json_object_put(c);
    /* A change bumps, and LIST reports the newest version. */
    c = call(&api, "PATCH", "/api/v1/namespaces/t-rv/configmaps/cm", MERGE,
             "{\"data\":{\"k\":\"w\"}}", &code);
    assert_int_equal(code, 200);
    unsigned long long rv2 = rv_of(c);
    assert_true(rv2 > rv1);
    json_object_put(c);
    json_object *l = get(&api, "/api/v1/namespaces/t-rv/configmaps", &code);
    assert_true(rv_of(l) >= rv2);
    json_object_put(l);

    /* No-op status write on a Service: same RV and no watch event. */
    json_object *s = call(&api, "POST", "/api/v1/namespaces/t-rv/services", JSON,
                          "{\"metadata\":{\"name\":\"svc\"},\"spec\":{\"type\":\"LoadBalancer\","
                          "\"ports\":[{\"port\":80}]}}",
                          &code);
    unsigned long long srv = rv_of(s);
    const char *st = "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}";
    json_object *p1 =
        call(&api, "PATCH", "/api/v1/namespaces/t-rv/services/svc/status", MERGE, st, &code);
    assert_int_equal(code, 200);
    json_object *p2 =
        call(&api, "PATCH", "/api/v1/namespaces/t-rv/services/svc/status", MERGE, st, &code);
    assert_int_equal(code, 200);
    assert_true(rv_of(p1) > srv);
    assert_int_equal(rv_of(p2), rv_of(p1));
    char path[256];
    struct events ev;
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/t-rv/services?watch=1&resourceVersion=%llu&timeoutSeconds=1", srv);
    assert_int_equal(watch(&api, path, &ev), 200);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.type[0], "MODIFIED");
    assert_int_equal(ev.rv[0], rv_of(p1));
    events_free(&ev);
    json_object_put(p1);
    json_object_put(p2);
    json_object_put(s);
    json_object_put(a);
}

static void test_conflicts(void **state)
{
    long code;
    make_ns(&api, "t-cf");
    json_object *a =
        call(&api, "POST", "/api/v1/namespaces/t-cf/services", JSON,
             "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &code);
    assert_int_equal(code, 201);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-cf/services/x", MERGE,
                           "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}"),
                     200);
    /* a is now stale */
    json_object *st = call(&api, "PUT", "/api/v1/namespaces/t-cf/services/x", JSON,
                           json_object_to_json_string(a), &code);
    assert_int_equal(code, 409);
    assert_string_equal(jstr(st, "reason"), "Conflict");
    assert_string_equal(jstr(st, "message"),
                        "Operation cannot be fulfilled on services \"x\": the object has been "
                        "modified; please apply your changes to the latest version and try again");
    assert_string_equal(jstr(st, "details.kind"), "services");
    assert_string_equal(jstr(st, "details.name"), "x");
    assert_int_equal(jint(st, "code"), 409);
    json_object_put(st);
    char body[256];
    snprintf(body, sizeof(body), "{\"metadata\":{\"resourceVersion\":\"%llu\"},\"status\":{}}",
             rv_of(a));
    st = call(&api, "PATCH", "/api/v1/namespaces/t-cf/services/x/status", MERGE, body, &code);
    assert_int_equal(code, 409);
    json_object_put(st);
    st = call(&api, "POST", "/api/v1/namespaces/t-cf/services", JSON,
              "{\"metadata\":{\"name\":\"x\"},\"spec\":{\"ports\":[{\"port\":80}]}}", &code);
    assert_int_equal(code, 409);
    assert_string_equal(jstr(st, "reason"), "AlreadyExists");
    assert_string_equal(jstr(st, "message"), "services \"x\" already exists");
    json_object_put(st);
    st = get(&api, "/api/v1/namespaces/t-cf/services/zz", &code);
    assert_int_equal(code, 404);
    assert_string_equal(jstr(st, "message"), "services \"zz\" not found");
    assert_string_equal(jstr(st, "details.kind"), "services");
    json_object_put(st);
    st = get(&api, "/apis/coordination.k8s.io/v1/namespaces/t-cf/leases/l", &code);
    assert_int_equal(code, 404);
    assert_string_equal(jstr(st, "message"), "leases.coordination.k8s.io \"l\" not found");
    assert_string_equal(jstr(st, "details.group"), "coordination.k8s.io");
    json_object_put(st);
    json_object_put(a);
}

static void test_status_subresource(void **state)
{
    long code;
    make_ns(&api, "t-st");
    assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-st/services", JSON,
                           "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"LoadBalancer\","
                           "\"ports\":[{\"port\":80}]},\"status\":{\"loadBalancer\":{\"ingress\":"
                           "[{\"ip\":\"6.6.6.6\"}]}}}"),
                     201);
    json_object *o = get(&api, "/api/v1/namespaces/t-st/services/s", &code);
    assert_null(jget(o, "status.loadBalancer.ingress")); /* create drops status */
    json_object_put(o);
    /* Main resource write: status untouched. */
    o = call(&api, "PATCH", "/api/v1/namespaces/t-st/services/s", MERGE,
             "{\"spec\":{\"sessionAffinity\":\"ClientIP\"},\"status\":{\"loadBalancer\":"
             "{\"ingress\":[{\"ip\":\"6.6.6.6\"}]}}}",
             &code);
    assert_int_equal(code, 200);
    assert_string_equal(jstr(o, "spec.sessionAffinity"), "ClientIP");
    assert_null(jget(o, "status.loadBalancer.ingress"));
    json_object_put(o);
    /* Status write: spec untouched, status and labels change. */
    o = call(&api, "PATCH", "/api/v1/namespaces/t-st/services/s/status", MERGE,
             "{\"metadata\":{\"labels\":{\"l\":\"1\"}},\"spec\":{\"sessionAffinity\":\"None\"},"
             "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.7\"}]}}}",
             &code);
    assert_int_equal(code, 200);
    assert_string_equal(jstr(o, "spec.sessionAffinity"), "ClientIP");
    assert_string_equal(jstr(o, "status.loadBalancer.ingress.0.ip"), "192.0.2.7");
    assert_string_equal(jstr(o, "metadata.labels.l"), "1");
    long gen = jint(o, "metadata.generation");
    /* PUT on the main resource with a different status keeps the stored status. */
    json_object_object_add(json_object_object_get(o, "status"), "loadBalancer",
                           json_object_new_object());
    json_object_object_add(json_object_object_get(o, "spec"), "sessionAffinity",
                           json_object_new_string("None"));
    json_object *u = call(&api, "PUT", "/api/v1/namespaces/t-st/services/s", JSON,
                          json_object_to_json_string(o), &code);
    assert_int_equal(code, 200);
    assert_string_equal(jstr(u, "status.loadBalancer.ingress.0.ip"), "192.0.2.7");
    assert_string_equal(jstr(u, "spec.sessionAffinity"), "None");
    assert_int_equal(jint(u, "metadata.generation"), gen + 1); /* spec changed */
    json_object_put(u);
    json_object_put(o);
    /* No /status on a type without it. */
    assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-st/configmaps", JSON,
                           "{\"metadata\":{\"name\":\"c\"}}"),
                     201);
    assert_int_equal(
        callf(&api, "PATCH", "/api/v1/namespaces/t-st/configmaps/c/status", MERGE, "{}"), 404);
}

/* The member key of o, for keys jget cannot spell (dots). */
static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void test_managed_fields(void **state)
{
    long code;
    make_ns(&api, "t-mf");
    json_object *o = call(&api, "POST", "/api/v1/namespaces/t-mf/services", JSON,
                          "{\"metadata\":{\"name\":\"s\",\"labels\":{\"a.b/c\":\"1\"}},"
                          "\"spec\":{\"type\":\"LoadBalancer\",\"ports\":[{\"port\":80}]}}",
                          &code);
    assert_int_equal(code, 201);
    assert_int_equal(json_object_array_length(jget(o, "metadata.managedFields")), 1);
    assert_string_equal(jstr(o, "metadata.managedFields.0.operation"), "Update");
    assert_string_equal(jstr(o, "metadata.managedFields.0.apiVersion"), "v1");
    assert_string_equal(jstr(o, "metadata.managedFields.0.fieldsType"), "FieldsV1");
    assert_non_null(jstr(o, "metadata.managedFields.0.time"));
    assert_null(jget(o, "metadata.managedFields.0.subresource"));
    json_object *fs = jget(o, "metadata.managedFields.0.fieldsV1");
    /* defaulted fields are the creator's; the list of ports is keyed by port and protocol */
    json_object *port =
        member(member(member(fs, "f:spec"), "f:ports"), "k:{\"port\":80,\"protocol\":\"TCP\"}");
    assert_non_null(member(port, "f:targetPort"));
    assert_non_null(member(port, "."));
    assert_non_null(member(member(member(fs, "f:metadata"), "f:labels"), "f:a.b/c"));
    assert_null(member(fs, "f:status"));
    assert_null(member(member(fs, "f:metadata"), "f:uid"));
    json_object_put(o);

    /* A status write by another manager gets its own entry, on the status subresource. */
    for (int i = 0; i < 2; i++) {
        o = call(&api, "PATCH", "/api/v1/namespaces/t-mf/services/s/status", MERGE,
                 i == 0 ? "{\"metadata\":{\"finalizers\":[\"x.io/f\"]}}"
                        : "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"}]}}}",
                 &code);
        assert_int_equal(code, 200);
        json_object_put(o);
    }
    /* the client cannot rewrite managedFields through a PUT of the main resource */
    o = get(&api, "/api/v1/namespaces/t-mf/services/s", &code);
    json_object_object_add(json_object_object_get(o, "metadata"), "managedFields",
                           json_object_new_array());
    json_object_put(call(&api, "PUT", "/api/v1/namespaces/t-mf/services/s", JSON,
                         json_object_to_json_string(o), &code));
    assert_int_equal(code, 200);
    json_object_put(o);
    o = get(&api, "/api/v1/namespaces/t-mf/services/s", &code);
    assert_int_equal(json_object_array_length(jget(o, "metadata.managedFields")), 2);
    assert_string_equal(jstr(o, "metadata.managedFields.1.subresource"), "status");
    fs = jget(o, "metadata.managedFields.1.fieldsV1");
    assert_non_null(member(member(member(fs, "f:metadata"), "f:finalizers"), "v:\"x.io/f\""));
    assert_non_null(member(member(member(fs, "f:status"), "f:loadBalancer"), "f:ingress"));
    assert_null(member(fs, "f:spec"));
    json_object_put(o);
}

static void test_finalizers(void **state)
{
    long code;
    struct events ev;
    char path[256];
    make_ns(&api, "t-fin");
    json_object *s = call(&api, "POST", "/api/v1/namespaces/t-fin/services", JSON,
                          "{\"metadata\":{\"name\":\"f\",\"finalizers\":[\"x.io/keep\"]},\"spec\":"
                          "{\"ports\":[{\"port\":80}]}}",
                          &code);
    assert_int_equal(code, 201);
    unsigned long long rv0 = rv_of(s);
    json_object *d = call(&api, "DELETE", "/api/v1/namespaces/t-fin/services/f", NULL, NULL, &code);
    assert_int_equal(code, 200);
    assert_non_null(jstr(d, "metadata.deletionTimestamp"));
    json_object_put(d);
    json_object *g = get(&api, "/api/v1/namespaces/t-fin/services/f", &code);
    assert_int_equal(code, 200);
    assert_non_null(jstr(g, "metadata.deletionTimestamp"));
    json_object_put(g);
    /* No new finalizers once deletion started. */
    json_object *nf = call(&api, "PATCH", "/api/v1/namespaces/t-fin/services/f", MERGE,
                           "{\"metadata\":{\"finalizers\":[\"x.io/keep\",\"x.io/more\"]}}", &code);
    assert_int_equal(code, 422);
    assert_non_null(strstr(jstr(nf, "message"), "no new finalizers"));
    json_object_put(nf);
    /* Strategic merge: remove the finalizer with the directive. */
    json_object *p =
        call(&api, "PATCH", "/api/v1/namespaces/t-fin/services/f", SMP,
             "{\"metadata\":{\"$deleteFromPrimitiveList/finalizers\":[\"x.io/keep\"]}}", &code);
    assert_int_equal(code, 200);
    json_object_put(p);
    json_object_put(get(&api, "/api/v1/namespaces/t-fin/services/f", &code));
    assert_int_equal(code, 404);
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/t-fin/services?watch=true&resourceVersion=%llu&timeoutSeconds=1",
             rv0);
    assert_int_equal(watch(&api, path, &ev), 200);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.type[0], "MODIFIED");
    assert_non_null(jget(ev.obj[0], "object.metadata.deletionTimestamp"));
    assert_string_equal(ev.type[1], "DELETED");
    assert_true(ev.rv[1] > ev.rv[0]);
    events_free(&ev);
    /* Without finalizers DELETE is immediate. */
    assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-fin/configmaps", JSON,
                           "{\"metadata\":{\"name\":\"c\"}}"),
                     201);
    json_object *del =
        call(&api, "DELETE", "/api/v1/namespaces/t-fin/configmaps/c", NULL, NULL, &code);
    assert_int_equal(code, 200);
    /* ConfigMaps answer with a Success Status; Services (above) with the object. */
    assert_string_equal(jstr(del, "kind"), "Status");
    assert_string_equal(jstr(del, "status"), "Success");
    assert_string_equal(jstr(del, "details.name"), "c");
    json_object_put(del);
    json_object_put(get(&api, "/api/v1/namespaces/t-fin/configmaps/c", &code));
    assert_int_equal(code, 404);
    json_object_put(s);
}

/* ---- watches ------------------------------------------------------------ */

static void test_watch_replay_gone(void **state)
{
    struct lbp_fake_api_opts o = {.history = 8};
    struct events ev;
    long code;
    char path[256];
    assert_int_equal(lbp_fake_api_start(&o, &extra), 0);
    json_object *l = get(&extra, "/api/v1/namespaces/default/configmaps", &code);
    unsigned long long rv0 = rv_of(l);
    json_object_put(l);
    for (int i = 0; i < 3; i++)
        assert_int_equal(callf(&extra, "POST", "/api/v1/namespaces/default/configmaps", JSON,
                               "{\"metadata\":{\"name\":\"c%d\"}}", i),
                         201);
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%llu&timeoutSeconds=1",
             rv0);
    assert_int_equal(watch(&extra, path, &ev), 200);
    assert_int_equal(ev.n, 3);
    for (int i = 0; i < 3; i++) {
        char nm[8];
        snprintf(nm, sizeof(nm), "c%d", i);
        assert_string_equal(ev.type[i], "ADDED");
        assert_string_equal(ev.name[i], nm);
    }
    events_free(&ev);
    /* No resourceVersion: synthetic ADDED for what exists. */
    assert_int_equal(
        watch(&extra, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", &ev), 200);
    assert_int_equal(count_type(&ev, "ADDED"), 3);
    events_free(&ev);
    /* Streaming list: the initial ADDEDs end with an annotated BOOKMARK. */
    assert_int_equal(watch(&extra,
                           "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&"
                           "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&"
                           "timeoutSeconds=1",
                           &ev),
                     200);
    assert_true(ev.n >= 4);
    assert_string_equal(ev.type[3], "BOOKMARK");
    json_object *ann = jget(ev.obj[3], "object.metadata.annotations");
    assert_non_null(json_object_object_get(ann, "k8s.io/initial-events-end"));
    assert_string_equal(
        json_object_get_string(json_object_object_get(ann, "k8s.io/initial-events-end")), "true");
    events_free(&ev);
    for (int i = 3; i < 20; i++)
        assert_int_equal(callf(&extra, "POST", "/api/v1/namespaces/default/configmaps", JSON,
                               "{\"metadata\":{\"name\":\"c%d\"}}", i),
                         201);
    /* Older than the ring: an ERROR event with a 410 Expired Status. */
    assert_int_equal(watch(&extra, path, &ev), 200);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.type[0], "ERROR");
    assert_int_equal(jint(ev.obj[0], "object.code"), 410);
    assert_string_equal(jstr(ev.obj[0], "object.reason"), "Expired");
    assert_string_equal(jstr(ev.obj[0], "object.kind"), "Status");
    assert_non_null(strstr(jstr(ev.obj[0], "object.message"), "too old resource version"));
    events_free(&ev);
    /* The HTTP form, chosen through the control endpoint. */
    assert_int_equal(lbp_fake_api_fault(&extra, "{\"goneNextWatches\":1,\"goneAsHttp\":true}"), 0);
    json_object *st = get(&extra, "/api/v1/namespaces/default/configmaps?watch=1", &code);
    assert_int_equal(code, 410);
    assert_string_equal(jstr(st, "reason"), "Expired");
    json_object_put(st);
    /* The counter was consumed: the next watch is normal. */
    assert_int_equal(
        watch(&extra, "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", &ev), 200);
    assert_int_equal(count_type(&ev, "ADDED"), 20);
    events_free(&ev);
    /* Event form of the fault. */
    assert_int_equal(lbp_fake_api_fault(&extra, "{\"goneNextWatches\":1,\"goneAsHttp\":false}"), 0);
    assert_int_equal(watch(&extra, "/api/v1/namespaces/default/configmaps?watch=1", &ev), 200);
    assert_int_equal(ev.n, 1);
    assert_string_equal(ev.type[0], "ERROR");
    assert_int_equal(jint(ev.obj[0], "object.code"), 410);
    events_free(&ev);
    assert_int_equal(lbp_test_stop(extra.pid, SIGTERM, 10000), 0); /* clean exit, no leaks */
    extra.pid = 0;
    lbp_fake_api_stop(&extra);
}

struct watch_thread {
    struct lbp_fake_api *a;
    long code;
    uint64_t took_ms;
};

static void *long_watch(void *p)
{
    struct watch_thread *w = p;
    struct events ev;
    uint64_t t0 = lbp_now_ms();
    w->code = watch(w->a, "/api/v1/services?watch=1&timeoutSeconds=60", &ev);
    w->took_ms = lbp_now_ms() - t0;
    events_free(&ev);
    return NULL;
}

static bool one_watch_open(void *ctx)
{
    long code;
    json_object *o = get(ctx, "/_fake/info", &code);
    bool ok = jint(o, "openWatches") >= 1;
    json_object_put(o);
    return ok;
}

static bool no_watch_open(void *ctx)
{
    return !one_watch_open(ctx);
}

/* A watcher that goes away is noticed without any event to send. */
static void test_watch_client_gone(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api.port)};
    char req[256], buf[512];
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int n = snprintf(req, sizeof(req),
                     "GET /api/v1/namespaces/kube-system/services?watch=1&resourceVersion=1 "
                     "HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_int_equal(write(fd, req, (size_t)n), n);
    assert_true(read(fd, buf, sizeof(buf)) > 0); /* the 200 header */
    assert_true(lbp_test_poll(one_watch_open, &api, 5000));
    close(fd);
    assert_true(lbp_test_poll(no_watch_open, &api, 5000));
}

/* kubectl get -w asks for Tables in the watch too; each event is a one-row Table. */
static void test_watch_table(void **state)
{
    long code;
    json_object *s = call(&api, "POST", "/api/v1/namespaces/default/services", JSON,
                          "{\"metadata\":{\"name\":\"tbl\"},\"spec\":{\"type\":"
                          "\"LoadBalancer\",\"ports\":[{\"port\":80}]}}",
                          &code);
    assert_int_equal(code, 201);
    unsigned long long rv = rv_of(s);
    json_object_put(s);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/default/services/tbl/status", MERGE,
                           "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":"
                           "\"192.0.2.77\"}]}}}"),
                     200);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)api.port)};
    char req[512], buf[16384];
    size_t got = 0;
    ssize_t r;
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int n = snprintf(req, sizeof(req),
                     "GET /api/v1/namespaces/default/services?watch=1&resourceVersion=%llu&"
                     "timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: "
                     "application/json;as=Table;v=v1;g=meta.k8s.io,application/json\r\n\r\n",
                     rv);
    assert_int_equal(write(fd, req, (size_t)n), n);
    while (got + 1 < sizeof(buf) && (r = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = '\0';
    close(fd);
    assert_non_null(strstr(buf, "\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Table\""));
    assert_non_null(strstr(buf, "\"cells\":[\"tbl\",\"LoadBalancer\""));
    assert_non_null(strstr(buf, "\"192.0.2.77\""));
}

static void test_bookmarks_and_timeout(void **state)
{
    struct lbp_fake_api_opts o = {.extra_arg = "--bookmark-interval=1"};
    struct events ev;
    assert_int_equal(lbp_fake_api_start(&o, &extra), 0);
    uint64_t t0 = lbp_now_ms();
    assert_int_equal(watch(&extra,
                           "/api/v1/services?watch=1&allowWatchBookmarks=true&timeoutSeconds=2&"
                           "resourceVersion=1",
                           &ev),
                     200);
    uint64_t took = lbp_now_ms() - t0;
    if (took < 1900 || took >= 15000)
        fail_msg("timeoutSeconds=2 watch took %llu ms", (unsigned long long)took);
    assert_true(count_type(&ev, "BOOKMARK") >= 1);
    for (int i = 0; i < ev.n; i++) {
        if (strcmp(ev.type[i], "BOOKMARK") != 0)
            continue;
        assert_string_equal(jstr(ev.obj[i], "object.kind"), "Service");
        assert_true(ev.rv[i] > 0);
    }
    events_free(&ev);
    /* Without allowWatchBookmarks: none. */
    assert_int_equal(
        watch(&extra, "/api/v1/services?watch=1&timeoutSeconds=1&resourceVersion=1", &ev), 200);
    assert_int_equal(count_type(&ev, "BOOKMARK"), 0);
    events_free(&ev);
    /* SIGTERM with a watch open: the stream ends and the process exits 0 at once. */
    struct watch_thread w = {.a = &extra};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, long_watch, &w), 0);
    assert_true(lbp_test_poll(one_watch_open, &extra, 5000));
    assert_int_equal(lbp_test_stop(extra.pid, SIGTERM, 10000), 0);
    extra.pid = 0;
    pthread_join(th, NULL);
    assert_int_equal(w.code, 200);
    lbp_fake_api_stop(&extra);
}

/* --service-node-port-range: allocation stays inside it and stops when it is full. */
static void test_nodeport_range(void **state)
{
    struct lbp_fake_api_opts o = {.extra_arg = "--service-node-port-range=40000-40002"};
    assert_int_equal(lbp_fake_api_start(&o, &extra), 0);
    long seen[3] = {0};
    for (int i = 0; i < 3; i++) {
        char body[256], path[128];
        long code;
        snprintf(body, sizeof(body),
                 "{\"metadata\":{\"name\":\"lb%d\"},\"spec\":{\"type\":\"LoadBalancer\","
                 "\"ports\":[{\"port\":80}]}}",
                 i);
        json_object_put(call(&extra, "POST", "/api/v1/namespaces/default/services",
                             "application/json", body, &code));
        assert_int_equal(code, 201);
        snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/lb%d", i);
        json_object *svc = get(&extra, path, &code);
        long np = jint(svc, "spec.ports.0.nodePort");
        json_object_put(svc);
        assert_true(np >= 40000 && np <= 40002);
        for (int j = 0; j < i; j++)
            assert_true(seen[j] != np);
        seen[i] = np;
    }
    assert_int_equal(callf(&extra, "POST", "/api/v1/namespaces/default/services",
                           "application/json",
                           "{\"metadata\":{\"name\":\"full\"},\"spec\":{\"type\":\"NodePort\","
                           "\"ports\":[{\"port\":80}]}}"),
                     422);
    lbp_fake_api_stop(&extra);
}

static void test_selectors(void **state)
{
    long code;
    struct events ev;
    char path[300];
    make_ns(&api, "t-sel");
    const char *p = "/api/v1/namespaces/t-sel/configmaps";
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"a\",\"labels\":{\"app\":\"x\",\"env\":"
                           "\"prod\"}}}"),
                     201);
    assert_int_equal(
        callf(&api, "POST", p, JSON, "{\"metadata\":{\"name\":\"b\",\"labels\":{\"app\":\"y\"}}}"),
        201);
    json_object *c = call(&api, "POST", p, JSON, "{\"metadata\":{\"name\":\"c\"}}", &code);
    unsigned long long rv0 = rv_of(c);
    json_object_put(c);
    struct {
        const char *sel;
        int n;
    } cases[] = {
        {"app%3Dx", 1},
        {"app%3D%3Dx", 1},
        {"app!%3Dx", 2},
        {"app", 2},
        {"!app", 1},
        {"app%3Dx,env%3Dprod", 1},
        {"app%3Dx,env%3Dqa", 0},
        {"app%20in%20(x,y)", 2},
        {"app%20notin%20(x)", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "%s?labelSelector=%s", p, cases[i].sel);
        json_object *l = get(&api, path, &code);
        assert_int_equal(code, 200);
        if ((int)json_object_array_length(jget(l, "items")) != cases[i].n)
            fail_msg("%s: got %zu", cases[i].sel, json_object_array_length(jget(l, "items")));
        json_object_put(l);
    }
    snprintf(path, sizeof(path), "%s?fieldSelector=metadata.name%%3Db", p);
    json_object *l = get(&api, path, &code);
    assert_int_equal(json_object_array_length(jget(l, "items")), 1);
    assert_string_equal(jstr(l, "items.0.metadata.name"), "b");
    json_object_put(l);
    snprintf(path, sizeof(path), "%s?fieldSelector=spec.bogus%%3Db", p);
    json_object_put(get(&api, path, &code));
    assert_int_equal(code, 400);
    /* a leaves app=x: a selector watch sees DELETED; c joins: ADDED. */
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-sel/configmaps/a", MERGE,
                           "{\"metadata\":{\"labels\":{\"app\":\"z\"}}}"),
                     200);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-sel/configmaps/c", MERGE,
                           "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}"),
                     200);
    snprintf(path, sizeof(path),
             "%s?watch=1&labelSelector=app%%3Dx&resourceVersion=%llu&timeoutSeconds=1", p, rv0);
    assert_int_equal(watch(&api, path, &ev), 200);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.type[0], "DELETED");
    assert_string_equal(ev.name[0], "a");
    assert_string_equal(ev.type[1], "ADDED");
    assert_string_equal(ev.name[1], "c");
    events_free(&ev);
}

static void test_paging(void **state)
{
    long code;
    char path[600];
    make_ns(&api, "t-page");
    for (int i = 0; i < 7; i++)
        assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-page/configmaps", JSON,
                               "{\"metadata\":{\"name\":\"p%d\"}}", i),
                         201);
    json_object *l = get(&api, "/api/v1/namespaces/t-page/configmaps?limit=3", &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(l, "items")), 3);
    assert_string_equal(jstr(l, "items.0.metadata.name"), "p0");
    unsigned long long rv = rv_of(l);
    char cont[300];
    lbp_strlcpy(cont, jstr(l, "metadata.continue"), sizeof(cont));
    assert_int_equal(jint(l, "metadata.remainingItemCount"), 4);
    json_object_put(l);
    /* A change between pages is not seen: the pages are one snapshot. */
    assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-page/configmaps", JSON,
                           "{\"metadata\":{\"name\":\"p9\"}}"),
                     201);
    int total = 3;
    while (cont[0]) {
        snprintf(path, sizeof(path), "/api/v1/namespaces/t-page/configmaps?limit=3&continue=%s",
                 cont);
        l = get(&api, path, &code);
        assert_int_equal(code, 200);
        assert_int_equal(rv_of(l), rv);
        total += (int)json_object_array_length(jget(l, "items"));
        const char *c = jstr(l, "metadata.continue");
        lbp_strlcpy(cont, c ? c : "", sizeof(cont));
        json_object_put(l);
    }
    assert_int_equal(total, 7);
    json_object_put(
        get(&api, "/api/v1/namespaces/t-page/configmaps?limit=3&continue=garbage!", &code));
    assert_int_equal(code, 400);
    /* A token whose snapshot is gone: 410 Expired, as for a compacted continue. */
    json_object_put(get(&api, path, &code));
    assert_int_equal(code, 410);
}

/* ---- patches ------------------------------------------------------------ */

static void test_patch_types(void **state)
{
    long code;
    make_ns(&api, "t-patch");
    json_object *o = call(&api, "POST", "/api/v1/namespaces/t-patch/services", JSON,
                          "{\"metadata\":{\"name\":\"s\",\"labels\":{\"a\":\"1\",\"b\":\"2\"},"
                          "\"finalizers\":[\"f1\"]},\"spec\":{\"type\":\"LoadBalancer\",\"ports\":"
                          "[{\"name\":\"http\",\"port\":80}]}}",
                          &code);
    assert_int_equal(code, 201);
    json_object_put(o);
    const char *sp = "/api/v1/namespaces/t-patch/services/s";
    /* Merge: null deletes, maps merge, lists replace. */
    o = call(&api, "PATCH", sp, MERGE,
             "{\"metadata\":{\"labels\":{\"a\":null,\"c\":\"3\"},\"finalizers\":[\"f2\"]}}", &code);
    assert_int_equal(code, 200);
    assert_null(jget(o, "metadata.labels.a"));
    assert_string_equal(jstr(o, "metadata.labels.b"), "2");
    assert_string_equal(jstr(o, "metadata.labels.c"), "3");
    assert_int_equal(json_object_array_length(jget(o, "metadata.finalizers")), 1);
    assert_string_equal(jstr(o, "metadata.finalizers.0"), "f2");
    json_object_put(o);
    /* Strategic: finalizers merge as a set, labels merge, ingress replaces. */
    o = call(&api, "PATCH", sp, SMP,
             "{\"metadata\":{\"finalizers\":[\"f3\",\"f2\"],\"labels\":{\"d\":\"4\"}}}", &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(o, "metadata.finalizers")), 2);
    assert_string_equal(jstr(o, "metadata.finalizers.1"), "f3");
    assert_string_equal(jstr(o, "metadata.labels.b"), "2");
    json_object_put(o);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-patch/services/s/status", SMP,
                           "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.1\"},"
                           "{\"ip\":\"192.0.2.2\"}]}}}"),
                     200);
    o = call(&api, "PATCH", "/api/v1/namespaces/t-patch/services/s/status", SMP,
             "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"192.0.2.3\"}]}}}", &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(o, "status.loadBalancer.ingress")), 1);
    assert_string_equal(jstr(o, "status.loadBalancer.ingress.0.ip"), "192.0.2.3");
    json_object_put(o);
    /* Strategic: ports merge by port; $patch: delete removes one. */
    o = call(&api, "PATCH", sp, SMP, "{\"spec\":{\"ports\":[{\"name\":\"https\",\"port\":443}]}}",
             &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(o, "spec.ports")), 2);
    json_object_put(o);
    o = call(&api, "PATCH", sp, SMP,
             "{\"spec\":{\"ports\":[{\"port\":443,\"$patch\":\"delete\"}]},\"metadata\":"
             "{\"$deleteFromPrimitiveList/finalizers\":[\"f2\"]}}",
             &code);
    assert_int_equal(code, 200);
    assert_int_equal(json_object_array_length(jget(o, "spec.ports")), 1);
    assert_int_equal(json_object_array_length(jget(o, "metadata.finalizers")), 1);
    assert_string_equal(jstr(o, "metadata.finalizers.0"), "f3");
    json_object_put(o);
    /* JSON patch: every op. */
    o = call(&api, "PATCH", sp, JPATCH,
             "[{\"op\":\"test\",\"path\":\"/metadata/labels/b\",\"value\":\"2\"},"
             "{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{\"x~y\":\"1\"}},"
             "{\"op\":\"add\",\"path\":\"/metadata/finalizers/0\",\"value\":\"f0\"},"
             "{\"op\":\"add\",\"path\":\"/metadata/finalizers/-\",\"value\":\"f9\"},"
             "{\"op\":\"replace\",\"path\":\"/metadata/labels/b\",\"value\":\"22\"},"
             "{\"op\":\"copy\",\"from\":\"/metadata/labels/b\",\"path\":\"/metadata/labels/e\"},"
             "{\"op\":\"move\",\"from\":\"/metadata/labels/c\",\"path\":\"/metadata/labels/m\"},"
             "{\"op\":\"remove\",\"path\":\"/metadata/labels/d\"},"
             "{\"op\":\"add\",\"path\":\"/metadata/annotations/a~1b~0c\",\"value\":\"2\"}]",
             &code);
    assert_int_equal(code, 200);
    assert_string_equal(jstr(o, "metadata.finalizers.0"), "f0");
    assert_string_equal(jstr(o, "metadata.finalizers.1"), "f3");
    assert_string_equal(jstr(o, "metadata.finalizers.2"), "f9");
    assert_string_equal(jstr(o, "metadata.labels.b"), "22");
    assert_string_equal(jstr(o, "metadata.labels.e"), "22");
    assert_string_equal(jstr(o, "metadata.labels.m"), "3");
    assert_null(jget(o, "metadata.labels.c"));
    assert_null(jget(o, "metadata.labels.d"));
    assert_string_equal(
        jstr(json_object_object_get(jget(o, "metadata.annotations"), "a/b~c") ? o : o,
             "metadata.annotations.x~y"),
        "1");
    assert_non_null(json_object_object_get(jget(o, "metadata.annotations"), "a/b~c"));
    unsigned long long rv = rv_of(o);
    json_object_put(o);
    /* A failing test op: 422 with upstream's message, and nothing changes. */
    o = call(&api, "PATCH", sp, JPATCH,
             "[{\"op\":\"replace\",\"path\":\"/metadata/labels/b\",\"value\":\"x\"},"
             "{\"op\":\"test\",\"path\":\"/metadata/labels/b\",\"value\":\"nope\"}]",
             &code);
    assert_int_equal(code, 422);
    assert_string_equal(jstr(o, "reason"), "Invalid");
    assert_string_equal(jstr(o, "message"),
                        "the server rejected our request due to an error in our request");
    json_object_put(o);
    o = get(&api, sp, &code);
    assert_int_equal(rv_of(o), rv);
    assert_string_equal(jstr(o, "metadata.labels.b"), "22");
    json_object_put(o);
    /* Precondition in a patch body. */
    assert_int_equal(callf(&api, "PATCH", sp, MERGE,
                           "{\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"q\":\"1\"}}}"),
                     409);
    char body[200];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"resourceVersion\":\"%llu\",\"labels\":{\"q\":\"1\"}}}", rv);
    assert_int_equal(callf(&api, "PATCH", sp, MERGE, "%s", body), 200);
    assert_int_equal(callf(&api, "PATCH", sp, "application/apply-patch+yaml", "%s", "{}"), 415);
    assert_int_equal(callf(&api, "PATCH", sp, JPATCH, "%s", "{\"op\":1}"), 400);
    /* Events: create, then an aggregated count bump by patch. */
    assert_int_equal(callf(&api, "POST", "/api/v1/namespaces/t-patch/events", JSON,
                           "{\"metadata\":{\"name\":\"s.1\"},\"involvedObject\":{\"kind\":"
                           "\"Service\",\"name\":\"s\",\"namespace\":\"t-patch\"},\"reason\":"
                           "\"Ensured\",\"count\":1,\"type\":\"Normal\"}"),
                     201);
    o = call(&api, "PATCH", "/api/v1/namespaces/t-patch/events/s.1", SMP, "{\"count\":2}", &code);
    assert_int_equal(code, 200);
    assert_int_equal(jint(o, "count"), 2);
    json_object_put(o);
}

/* ---- faults ------------------------------------------------------------- */

static void test_faults(void **state)
{
    long code;
    make_ns(&api, "t-fault");
    const char *p = "/api/v1/namespaces/t-fault/services";
    assert_int_equal(callf(&api, "POST", p, JSON,
                           "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"ports\":[{\"port\":80}]}}"),
                     201);
    assert_int_equal(lbp_fake_api_request(&api, "POST", "/_fake/stats/reset", NULL, NULL, NULL),
                     200);
    /* throttle */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"throttleNext\":2,\"retryAfter\":3}"), 0);
    for (int i = 0; i < 2; i++) {
        json_object *st = get(&api, p, &code);
        assert_int_equal(code, 429);
        assert_string_equal(jstr(st, "reason"), "TooManyRequests");
        assert_int_equal(jint(st, "details.retryAfterSeconds"), 3);
        json_object_put(st);
    }
    json_object_put(get(&api, p, &code));
    assert_int_equal(code, 200);
    /* error */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorNext\":1,\"code\":503}"), 0);
    json_object *st = get(&api, p, &code);
    assert_int_equal(code, 503);
    assert_string_equal(jstr(st, "reason"), "ServiceUnavailable");
    json_object_put(st);
    /* conflict, only for services/status */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"conflictNextWrites\":1,\"resource\":"
                                              "\"services/status\"}"),
                     0);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-fault/services/s", MERGE,
                           "{\"metadata\":{\"labels\":{\"x\":\"1\"}}}"),
                     200);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-fault/services/s/status", MERGE,
                           "{\"status\":{}}"),
                     409);
    assert_int_equal(callf(&api, "PATCH", "/api/v1/namespaces/t-fault/services/s/status", MERGE,
                           "{\"status\":{}}"),
                     200);
    /* latency */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"latencyMs\":1200}"), 0);
    uint64_t t0 = lbp_now_ms();
    json_object_put(get(&api, p, &code));
    assert_true(lbp_now_ms() - t0 >= 1200);
    /* control calls are never delayed or faulted */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorNext\":5}"), 0);
    assert_int_equal(lbp_fake_api_fault(&api, "{\"reset\":true}"), 0);
    t0 = lbp_now_ms();
    json_object_put(get(&api, p, &code));
    assert_int_equal(code, 200);
    assert_true(lbp_now_ms() - t0 < 1200);
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorNext\":\"x\"}"), -1);
    /* dropWatches ends a long watch now */
    struct watch_thread w = {.a = &api};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, long_watch, &w), 0);
    assert_true(lbp_test_poll(one_watch_open, &api, 5000));
    assert_int_equal(lbp_fake_api_fault(&api, "{\"dropWatches\":true}"), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.code, 200);
    if (w.took_ms >= 20000)
        fail_msg("dropped watch took %llu ms", (unsigned long long)w.took_ms);
    /* stats */
    assert_int_equal(lbp_fake_api_count(&api, "LIST services"), 6);
    assert_int_equal(lbp_fake_api_count(&api, "PATCH services/status"), 2);
    assert_int_equal(lbp_fake_api_count(&api, "PATCH services"), 1);
    assert_int_equal(lbp_fake_api_count(&api, "WATCH services"), 1);
    assert_int_equal(lbp_fake_api_count(&api, "DELETE services"), 0);
    assert_int_equal(lbp_fake_api_request(&api, "POST", "/_fake/stats/reset", NULL, NULL, NULL),
                     200);
    assert_int_equal(lbp_fake_api_count(&api, "LIST services"), 0);
    /* errorPercent: a random share of requests, counted as injected faults */
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorPercent\":101}"), -1);
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorPercent\":100,\"code\":503}"), 0);
    json_object_put(get(&api, p, &code));
    assert_int_equal(code, 503);
    assert_int_equal(lbp_fake_api_fault(&api, "{\"errorPercent\":50,\"seed\":3}"), 0);
    int failed = 0;
    for (int i = 0; i < 200; i++) {
        json_object_put(get(&api, p, &code));
        assert_true(code == 200 || code == 503);
        failed += code == 503;
    }
    if (failed < 60 || failed > 140)
        fail_msg("errorPercent 50: %d of 200 failed", failed);
    assert_int_equal(lbp_fake_api_count(&api, "FAULT error"), failed + 1);
    assert_int_equal(lbp_fake_api_fault(&api, "{\"reset\":true}"), 0);
    json_object_put(get(&api, p, &code));
    assert_int_equal(code, 200);
}

static void test_body_limit(void **state)
{
    size_t n = 4u * 1024u * 1024u;
    char *big = malloc(n + 64);
    assert_non_null(big);
    int off = snprintf(big, 64, "{\"metadata\":{\"name\":\"big\"},\"data\":{\"k\":\"");
    memset(big + off, 'a', n);
    memcpy(big + off + n, "\"}}", 4);
    long code;
    json_object *st = call(&api, "POST", "/api/v1/namespaces/default/configmaps", JSON, big, &code);
    assert_int_equal(code, 413);
    assert_string_equal(jstr(st, "reason"), "RequestEntityTooLarge");
    json_object_put(st);
    free(big);
}

static void test_tls_token(void **state)
{
    struct lbp_fake_api_opts o = {.tls = true, .token = "s3cret-token"};
    long code;
    assert_int_equal(lbp_fake_api_start(&o, &extra), 0);
    assert_true(strncmp(extra.url, "https://", 8) == 0);
    json_object_put(get(&extra, "/api/v1/namespaces/default/services", &code));
    assert_int_equal(code, 200);
    /* Without the token (the harness reads it from dir/token): 401. */
    char tok[300];
    snprintf(tok, sizeof(tok), "%s/token", extra.dir);
    assert_int_equal(unlink(tok), 0);
    json_object *st = get(&extra, "/api/v1/namespaces/default/services", &code);
    assert_int_equal(code, 401);
    assert_string_equal(jstr(st, "reason"), "Unauthorized");
    assert_string_equal(jstr(st, "message"), "Unauthorized");
    json_object_put(st);
    FILE *f = fopen(tok, "w");
    assert_non_null(f);
    fputs("wrong", f);
    fclose(f);
    json_object_put(get(&extra, "/api/v1/namespaces/default/services", &code));
    assert_int_equal(code, 401);
    /* The control endpoint needs no token; rejected requests are not counted. */
    assert_int_equal(lbp_fake_api_count(&extra, "LIST services"), 1);
    /* Without the CA the certificate is not trusted. */
    char ca[320];
    lbp_strlcpy(ca, extra.ca_file, sizeof(ca));
    extra.ca_file[0] = '\0';
    json_object_put(get(&extra, "/version", &code));
    assert_int_equal(code, -1);
    lbp_strlcpy(extra.ca_file, ca, sizeof(extra.ca_file));
    assert_int_equal(lbp_test_stop(extra.pid, SIGTERM, 10000), 0);
    extra.pid = 0;
    lbp_fake_api_stop(&extra);
}

/* ---- kubectl ------------------------------------------------------------ */

#define KUBECTL "/usr/bin/kubectl"

static int run_kubectl(struct lbp_fake_api *a, const char *out_path, const char *const *args)
{
    char *argv[16], cache[400];
    int n = 0;
    snprintf(cache, sizeof(cache), "--cache-dir=%s/kube-cache", a->dir);
    argv[n++] = KUBECTL;
    argv[n++] = "--kubeconfig";
    argv[n++] = a->kubeconfig;
    argv[n++] = cache;
    for (; *args && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    pid_t pid = lbp_test_spawn(argv, out_path);
    int status;
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_kubectl(void **state)
{
    struct lbp_fake_api_opts o = {.tls = true, .token = "kubectl-token"};
    char manifest[400], out[400];
    long code;
    assert_int_equal(lbp_fake_api_start(&o, &extra), 0);
    snprintf(manifest, sizeof(manifest), "%s/svc.yaml", extra.dir);
    snprintf(out, sizeof(out), "%s/kubectl.out", extra.dir);
    FILE *f = fopen(manifest, "w");
    assert_non_null(f);
    fputs("apiVersion: v1\nkind: Service\nmetadata:\n  name: kc\n  namespace: default\nspec:\n"
          "  type: LoadBalancer\n  ports:\n  - port: 80\n",
          f);
    fclose(f);
    const char *create[] = {"create", "-f", manifest, NULL};
    int rc = run_kubectl(&extra, out, create);
    char *text = slurp(out);
    if (rc != 0)
        fail_msg("kubectl create: %d\n%s", rc, text);
    free(text);
    json_object *s = get(&extra, "/api/v1/namespaces/default/services/kc", &code);
    assert_int_equal(code, 200);
    assert_true(jint(s, "spec.ports.0.nodePort") >= 30000);
    json_object_put(s);
    unlink(out);
    assert_int_equal(callf(&extra, "PATCH", "/api/v1/namespaces/default/services/kc/status", MERGE,
                           "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":"
                           "\"192.0.2.44\"}]}}}"),
                     200);
    const char *list[] = {"get", "services", "-A", NULL};
    rc = run_kubectl(&extra, out, list);
    text = slurp(out);
    /* Table output with upstream's Service columns, the address in EXTERNAL-IP. */
    if (rc != 0 || !strstr(text, "kc") || !strstr(text, "EXTERNAL-IP") ||
        !strstr(text, "192.0.2.44") || !strstr(text, "NAMESPACE"))
        fail_msg("kubectl get: %d\n%s", rc, text);
    free(text);
    unlink(out);
    const char *del[] = {"delete", "service", "kc", "--timeout=20s", NULL};
    rc = run_kubectl(&extra, out, del);
    text = slurp(out);
    if (rc != 0)
        fail_msg("kubectl delete: %d\n%s", rc, text);
    free(text);
    json_object_put(get(&extra, "/api/v1/namespaces/default/services/kc", &code));
    assert_int_equal(code, 404);
    lbp_fake_api_stop(&extra);
}

/* ---- main --------------------------------------------------------------- */

static int stop_extra(void **state)
{
    lbp_fake_api_stop(&extra);
    return 0;
}

static int setup(void **state)
{
    return lbp_fake_api_start(NULL, &api);
}

static int teardown(void **state)
{
    /* A clean exit (0) also means no leak reports under LeakSanitizer. */
    int rc = lbp_test_stop(api.pid, SIGTERM, 10000);
    api.pid = 0;
    lbp_fake_api_stop(&api);
    if (rc != 0)
        fprintf(stderr, "fake-apiserver exited with %d\n", rc);
    return rc == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "kubectl") == 0) {
        if (access(KUBECTL, X_OK) != 0) {
            printf("skip: %s not installed\n", KUBECTL);
            return 77;
        }
        const struct CMUnitTest k[] = {cmocka_unit_test_teardown(test_kubectl, stop_extra)};
        return cmocka_run_group_tests(k, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_defaulting),
        cmocka_unit_test(test_service_validation),
        cmocka_unit_test(test_annotation_limit),
        cmocka_unit_test(test_namespace_and_custom),
        cmocka_unit_test(test_rv_and_noop),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_status_subresource),
        cmocka_unit_test(test_managed_fields),
        cmocka_unit_test(test_finalizers),
        cmocka_unit_test_teardown(test_watch_replay_gone, stop_extra),
        cmocka_unit_test_teardown(test_bookmarks_and_timeout, stop_extra),
        cmocka_unit_test(test_watch_client_gone),
        cmocka_unit_test(test_watch_table),
        cmocka_unit_test_teardown(test_nodeport_range, stop_extra),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_patch_types),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_body_limit),
        cmocka_unit_test_teardown(test_tls_token, stop_extra),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
