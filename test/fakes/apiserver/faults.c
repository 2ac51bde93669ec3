/*
 * faults.c — the control endpoint (/_fake/...): request counters and
 * injected faults. Tests use it to prove a client copes with what a real
 * API server does under stress (429 with Retry-After, 5xx, 409 conflicts,
 * 410 on watch, dropped watches, latency) and to count the requests a
 * client made ("PATCH services/status").
 *
 * State has its own mutex; control calls never take fake_lock except to
 * drop watches. See README.md for the JSON accepted.
 */
#include "fake.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct counter {
    char key[1100]; /* "DENIED <upstream's forbidden reason>" is the longest */
    long n;
    UT_hash_handle hh;
};

struct fault {
    long next;
    char resource[128]; /* "" = any; else "services" or "services/status" */
    char verb[16];      /* "" = any */
};

static pthread_mutex_t fl = PTHREAD_MUTEX_INITIALIZER;
static struct counter *counters;
static struct fault f_gone, f_conflict, f_throttle, f_error;
static bool gone_http;
static int retry_after = 1;
static int error_code = 500;
static long latency_ms;
/* "errorPercent": that share of API requests (not watches) fail with error_code. */
static int error_pct;
static unsigned int rand_seed = 1;

const char *fake_verb_name(enum fake_verb v)
{
    static const char *names[] = {"LIST", "WATCH", "GET",    "POST",
                                  "PUT",  "PATCH", "DELETE", "OTHER"};
    return names[v];
}

static void req_resource(const struct fake_req *q, char *out, size_t len)
{
    if (q->sub[0])
        snprintf(out, len, "%s/%s", q->resource, q->sub);
    else
        snprintf(out, len, "%s", q->resource);
}

/* Consumes one unit of f when it applies to this request. */
static bool take(struct fault *f, const char *verb, const char *res)
{
    if (f->next <= 0)
        return false;
    if (f->resource[0] && strcmp(f->resource, res) != 0)
        return false;
    if (f->verb[0] && strcmp(f->verb, verb) != 0)
        return false;
    f->next--;
    return true;
}

/* Caller holds fl. */
static void count(const char *key)
{
    struct counter *c;
    HASH_FIND_STR(counters, key, c);
    if (!c && (c = calloc(1, sizeof(*c)))) {
        lbp_strlcpy(c->key, key, sizeof(c->key));
        HASH_ADD_STR(counters, key, c);
    }
    if (c)
        c->n++;
}

void fake_stats_add(const char *key)
{
    pthread_mutex_lock(&fl);
    count(key);
    pthread_mutex_unlock(&fl);
}

enum fake_fault_result fake_faults_check(const struct fake_req *q, struct fake_reply *r)
{
    char res[128], key[160];
    const char *verb = fake_verb_name(q->verb);
    enum fake_fault_result out = FAULT_NONE;
    int code = 0, ra = 0;
    req_resource(q, res, sizeof(res));
    snprintf(key, sizeof(key), "%s %s", verb, res);

    pthread_mutex_lock(&fl);
    count(key);
    long delay = latency_ms;
    bool write = q->verb == V_PUT || q->verb == V_PATCH || q->verb == V_DELETE;
    if (take(&f_throttle, verb, res)) {
        code = 429;
        ra = retry_after;
    } else if (take(&f_error, verb, res)) {
        code = error_code;
    } else if (error_pct && q->verb != V_WATCH && (int)(rand_r(&rand_seed) % 100) < error_pct) {
        code = error_code;
    } else if (q->verb == V_WATCH && take(&f_gone, verb, res)) {
        out = gone_http ? FAULT_GONE_HTTP : FAULT_GONE_EVENT;
    } else if (write && take(&f_conflict, verb, res)) {
        code = 409;
    }
    if (code)
        count("FAULT error");
    else if (out != FAULT_NONE)
        count("FAULT gone");
    pthread_mutex_unlock(&fl);

    if (delay > 0)
        usleep((useconds_t)delay * 1000u);
    if (code == 429) {
        json_object *st = fake_status(
            429, "TooManyRequests", "Too many requests, please try again later.", NULL, NULL, NULL);
        json_object *d = json_object_new_object();
        json_object_object_add(d, "retryAfterSeconds", json_object_new_int(ra));
        json_object *st2 = json_object_new_object();
        json_object_object_foreach(st, k, v)
        {
            if (strcmp(k, "code") == 0)
                json_object_object_add(st2, "details", json_object_get(d));
            json_object_object_add(st2, k, json_object_get(v));
        }
        json_object_put(d);
        json_object_put(st);
        fake_reply_json(r, 429, st2);
        r->retry_after = ra;
        return FAULT_REPLIED;
    }
    if (code == 409 && q->rt) {
        fake_reply_conflict(r, q->rt, q->name);
        return FAULT_REPLIED;
    }
    if (code) {
        char msg[128];
        snprintf(msg, sizeof(msg), "Internal error occurred: injected fault (%d)", code);
        fake_reply_status(r, code, fake_reason_for(code), msg, NULL, NULL, NULL);
        return FAULT_REPLIED;
    }
    return out;
}

static void set_fault(struct fault *f, json_object *n, json_object *body)
{
    f->next = json_object_get_int64(n);
    lbp_strlcpy(f->resource, fake_get_str(body, "resource") ? fake_get_str(body, "resource") : "",
                sizeof(f->resource));
    lbp_strlcpy(f->verb, fake_get_str(body, "verb") ? fake_get_str(body, "verb") : "",
                sizeof(f->verb));
}

static void faults_reset(void)
{
    memset(&f_gone, 0, sizeof(f_gone));
    memset(&f_conflict, 0, sizeof(f_conflict));
    memset(&f_throttle, 0, sizeof(f_throttle));
    memset(&f_error, 0, sizeof(f_error));
    gone_http = false;
    retry_after = 1;
    error_code = 500;
    latency_ms = 0;
    error_pct = 0;
}

static json_object *faults_state(void)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "goneNextWatches", json_object_new_int64(f_gone.next));
    json_object_object_add(o, "goneAsHttp", json_object_new_boolean(gone_http));
    json_object_object_add(o, "conflictNextWrites", json_object_new_int64(f_conflict.next));
    json_object_object_add(o, "throttleNext", json_object_new_int64(f_throttle.next));
    json_object_object_add(o, "retryAfter", json_object_new_int(retry_after));
    json_object_object_add(o, "errorNext", json_object_new_int64(f_error.next));
    json_object_object_add(o, "code", json_object_new_int(error_code));
    json_object_object_add(o, "latencyMs", json_object_new_int64(latency_ms));
    json_object_object_add(o, "errorPercent", json_object_new_int(error_pct));
    return o;
}

static bool is_count(json_object *v, long min, long max)
{
    return v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= min &&
           json_object_get_int64(v) <= max;
}

static void post_faults(json_object *b, struct fake_reply *r)
{
    json_object *v;
    bool drop = false;
    if (!json_object_is_type(b, json_type_object)) {
        fake_reply_status(r, 400, "BadRequest", "body must be a JSON object", NULL, NULL, NULL);
        return;
    }
    /* Validate everything before changing anything. */
    static const char *const counts[] = {"goneNextWatches", "conflictNextWrites", "throttleNext",
                                         "errorNext"};
    for (size_t i = 0; i < LBP_ARRAY_LEN(counts); i++)
        if ((v = json_object_object_get(b, counts[i])) && !is_count(v, 0, 1000000)) {
            fake_reply_status(r, 400, "BadRequest", "counts must be integers 0..1000000", NULL,
                              NULL, NULL);
            return;
        }
    if (((v = json_object_object_get(b, "code")) && !is_count(v, 400, 599)) ||
        ((v = json_object_object_get(b, "retryAfter")) && !is_count(v, 0, 3600)) ||
        ((v = json_object_object_get(b, "latencyMs")) && !is_count(v, 0, 60000)) ||
        ((v = json_object_object_get(b, "errorPercent")) && !is_count(v, 0, 100)) ||
        ((v = json_object_object_get(b, "seed")) && !is_count(v, 0, 2147483647L))) {
        fake_reply_status(r, 400, "BadRequest",
                          "code must be 400..599, retryAfter 0..3600, latencyMs 0..60000, "
                          "errorPercent 0..100, seed 0..2147483647",
                          NULL, NULL, NULL);
        return;
    }
    pthread_mutex_lock(&fl);
    if ((v = json_object_object_get(b, "reset")) && json_object_get_boolean(v))
        faults_reset();
    if ((v = json_object_object_get(b, "goneNextWatches")))
        set_fault(&f_gone, v, b);
    if ((v = json_object_object_get(b, "goneAsHttp")))
        gone_http = json_object_get_boolean(v);
    if ((v = json_object_object_get(b, "conflictNextWrites")))
        set_fault(&f_conflict, v, b);
    if ((v = json_object_object_get(b, "throttleNext")))
        set_fault(&f_throttle, v, b);
    if ((v = json_object_object_get(b, "retryAfter")))
        retry_after = json_object_get_int(v);
    if ((v = json_object_object_get(b, "errorNext")))
        set_fault(&f_error, v, b);
    if ((v = json_object_object_get(b, "code")))
        error_code = json_object_get_int(v);
    if ((v = json_object_object_get(b, "latencyMs")))
        latency_ms = json_object_get_int64(v);
    if ((v = json_object_object_get(b, "errorPercent")))
        error_pct = json_object_get_int(v);
    if ((v = json_object_object_get(b, "seed")))
        rand_seed = (unsigned int)json_object_get_int64(v);
    if ((v = json_object_object_get(b, "dropWatches")) && json_object_get_boolean(v))
        drop = true;
    json_object *st = faults_state();
    pthread_mutex_unlock(&fl);
    if (drop)
        fake_watch_drop_all();
    fake_reply_json(r, 200, st);
}

static void post_resource(json_object *b, struct fake_reply *r)
{
    const char *g = fake_get_str(b, "group"), *ver = fake_get_str(b, "version");
    const char *res = fake_get_str(b, "resource"), *kind = fake_get_str(b, "kind");
    json_object *nsd = json_object_object_get(b, "namespaced");
    if (!g || !*g || !ver || !*ver || !res || !*res || !kind || !*kind || strlen(g) >= 100 ||
        strlen(ver) >= 40 || strlen(res) >= 64 || strlen(kind) >= 64 || strchr(res, '/')) {
        fake_reply_status(r, 400, "BadRequest", "group, version, resource and kind are required",
                          NULL, NULL, NULL);
        return;
    }
    pthread_mutex_lock(&fake_lock);
    struct fake_rtype *rt =
        fake_rtype_register(g, ver, res, kind, !nsd || json_object_get_boolean(nsd));
    pthread_mutex_unlock(&fake_lock);
    if (!rt || !rt->custom)
        fake_reply_status(r, 409, "Conflict", "not a custom resource (built-in group or version)",
                          NULL, NULL, NULL);
    else
        fake_reply_json(r, 201, json_object_get(b));
}

/* {"token": T, "user": NAME}: one more bearer token, e.g. for a ServiceAccount. */
static void post_token(json_object *b, struct fake_reply *r)
{
    const char *t = fake_get_str(b, "token"), *u = fake_get_str(b, "user");
    if (!t || !*t || !u || !*u || strlen(t) > 4096 || strlen(u) >= FAKE_NAME_MAX * 2) {
        fake_reply_status(r, 400, "BadRequest", "token and user are required", NULL, NULL, NULL);
        return;
    }
    if (fake_auth_add_user(t, u)) {
        fake_reply_status(r, 400, "BadRequest",
                          "cannot add the token (a ServiceAccount user is "
                          "system:serviceaccount:NAMESPACE:NAME)",
                          NULL, NULL, NULL);
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user", json_object_new_string(u));
    fake_reply_json(r, 201, o);
}

void fake_control(const char *method, const char *url, const char *body, size_t len,
                  struct fake_reply *r)
{
    json_object *b = len ? json_tokener_parse(body) : NULL;
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (post && len && !b) {
        fake_reply_status(r, 400, "BadRequest", "body is not JSON", NULL, NULL, NULL);
        return;
    }
    if (post && strcmp(url, "/_fake/faults") == 0) {
        post_faults(b, r);
    } else if (get && strcmp(url, "/_fake/faults") == 0) {
        pthread_mutex_lock(&fl);
        json_object *st = faults_state();
        pthread_mutex_unlock(&fl);
        fake_reply_json(r, 200, st);
    } else if (get && strcmp(url, "/_fake/stats") == 0) {
        json_object *o = json_object_new_object();
        pthread_mutex_lock(&fl);
        for (struct counter *c = counters; c; c = c->hh.next)
            json_object_object_add(o, c->key, json_object_new_int64(c->n));
        pthread_mutex_unlock(&fl);
        fake_reply_json(r, 200, o);
    } else if (post && strcmp(url, "/_fake/stats/reset") == 0) {
        struct counter *c, *tmp;
        pthread_mutex_lock(&fl);
        HASH_ITER(hh, counters, c, tmp)
        {
            HASH_DEL(counters, c);
            free(c);
        }
        pthread_mutex_unlock(&fl);
        fake_reply_json(r, 200, json_object_new_object());
    } else if (get && strcmp(url, "/_fake/info") == 0) {
        json_object *o = json_object_new_object();
        char rv[24];
        pthread_mutex_lock(&fake_lock);
        snprintf(rv, sizeof(rv), "%llu", (unsigned long long)fake_store_rv());
        pthread_mutex_unlock(&fake_lock);
        json_object_object_add(o, "resourceVersion", json_object_new_string(rv));
        json_object_object_add(o, "openWatches", json_object_new_int64(fake_watch_open_count()));
        json_object_object_add(o, "history", json_object_new_int64(fake_cfg.history));
        fake_reply_json(r, 200, o);
    } else if (post && strcmp(url, "/_fake/resources") == 0) {
        post_resource(b, r);
    } else if (post && strcmp(url, "/_fake/tokens") == 0) {
        post_token(b, r);
    } else if (get && strcmp(url, "/_fake/audit") == 0) {
        fake_rbac_audit_reply(r);
    } else if (post && strcmp(url, "/_fake/audit/reset") == 0) {
        fake_rbac_audit_reset();
        fake_reply_json(r, 200, json_object_new_object());
    } else {
        fake_reply_status(r, 404, "NotFound", "unknown control endpoint", NULL, NULL, NULL);
    }
    json_object_put(b);
}

void fake_faults_free(void)
{
    struct counter *c, *tmp;
    HASH_ITER(hh, counters, c, tmp)
    {
        HASH_DEL(counters, c);
        free(c);
    }
}
