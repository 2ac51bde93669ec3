/*
 * faults.c — what fake-gce injects on Compute calls and what it counts.
 *
 * Count-based faults (the next N calls, optionally only those whose method
 * and path match) answer with the bodies Compute sends: 403
 * rateLimitExceeded and 403 quotaExceeded (domain usageLimits), 429
 * rateLimitExceeded, 503 backendError. A rate fault answers that fraction of
 * calls with 503, another 403 rateLimitExceeded (throttling); a qps limit
 * answers calls beyond it in the current second with 403 rateLimitExceeded.
 * A lost reply (lost_reply_rate) is a mutating call that was accepted, its
 * Operation made, and whose connection then closes without an answer, as
 * when a network breaks after Google committed the call: only the client's
 * requestId makes its retry safe. Eventual consistency (stale_reads) and
 * latency are read by compute.c and main.c. Counters are per
 * "METHOD collection[/verb]" so a benchmark can tell reads from writes.
 * Everything runs under gce_lock.
 */
#include "test/fakes/gce/fake.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct faults {
    long rate_limit, too_many, server_errors, quota;
    double error_rate, throttle_rate, lost_reply_rate;
    long qps;
    int stale_reads;
    int latency_ms;
    char match[128];
    char method[16];
};

static struct faults g_f;
static struct json_object *g_counts;
static long g_total, g_injected, g_lost_replies;
static int64_t g_qps_second;
static long g_qps_used;

static bool matches(const char *method, const char *path)
{
    if (g_f.method[0] && strcmp(g_f.method, method) != 0)
        return false;
    return !g_f.match[0] || strstr(path, g_f.match);
}

bool gce_fault_take(const char *method, const char *path, struct gce_reply *r)
{
    bool mutating = strcmp(method, "GET") != 0;
    if (g_f.qps > 0) {
        int64_t now = lbp_wall_s();
        if (now != g_qps_second) {
            g_qps_second = now;
            g_qps_used = 0;
        }
        if (++g_qps_used > g_f.qps) {
            g_injected++;
            gce_error(r, 403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded");
            return true;
        }
    }
    if (matches(method, path)) {
        if (g_f.rate_limit > 0) {
            g_f.rate_limit--;
            g_injected++;
            gce_error(r, 403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded");
            return true;
        }
        if (g_f.too_many > 0) {
            g_f.too_many--;
            g_injected++;
            gce_error(r, 429, "usageLimits", "rateLimitExceeded",
                      "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' "
                      "of service 'compute.googleapis.com' for consumer 'project_number:%s'.",
                      gce_cfg.project_number);
            r->hdr_name = "Retry-After";
            r->hdr_value = "1";
            return true;
        }
        if (g_f.server_errors > 0) {
            g_f.server_errors--;
            g_injected++;
            gce_error(r, 503, "global", "backendError", "Internal error. Please try again.");
            return true;
        }
        if (g_f.quota > 0 && mutating) {
            g_f.quota--;
            g_injected++;
            gce_error(r, 403, "usageLimits", "quotaExceeded",
                      "Quota 'IN_USE_ADDRESSES' exceeded.  Limit: 8.0 in region %s.",
                      gce_cfg.region);
            return true;
        }
    }
    if (g_f.error_rate > 0 && (double)random() / RAND_MAX < g_f.error_rate) {
        g_injected++;
        gce_error(r, 503, "global", "backendError", "Internal error. Please try again.");
        return true;
    }
    if (g_f.throttle_rate > 0 && (double)random() / RAND_MAX < g_f.throttle_rate) {
        g_injected++;
        gce_error(r, 403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded");
        return true;
    }
    return false;
}

bool gce_fault_lose(const char *method, int status)
{
    if (!strcmp(method, "GET") || status != 200 || g_f.lost_reply_rate <= 0 ||
        (double)random() / RAND_MAX >= g_f.lost_reply_rate)
        return false;
    g_lost_replies++;
    return true;
}

int gce_fault_latency_ms(void)
{
    return g_f.latency_ms;
}

int gce_fault_stale_reads(void)
{
    return g_f.stale_reads;
}

static int get_long(struct json_object *in, const char *key, long min, long max, long *out,
                    char *err, size_t cap)
{
    struct json_object *v;
    if (!json_object_object_get_ex(in, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < min ||
        json_object_get_int64(v) > max) {
        snprintf(err, cap, "%s: an integer in [%ld, %ld]", key, min, max);
        return -1;
    }
    *out = (long)json_object_get_int64(v);
    return 0;
}

int gce_faults_set(struct json_object *in, char *err, size_t cap)
{
    struct faults f = g_f;
    struct json_object *v;
    long stale = f.stale_reads, lat = f.latency_ms;
    static const char *const known[] = {
        "rate_limit",  "too_many_requests", "server_errors",   "quota_exceeded",
        "error_rate",  "throttle_rate",     "lost_reply_rate", "qps",
        "stale_reads", "latency_ms",        "match",           "method",
        "clear"};
    static const char *const rates[] = {"error_rate", "throttle_rate", "lost_reply_rate"};
    double *rate_dst[] = {&f.error_rate, &f.throttle_rate, &f.lost_reply_rate};

    json_object_object_foreach(in, key, val)
    {
        bool ok = false;
        (void)val;
        for (size_t i = 0; i < LBP_ARRAY_LEN(known); i++)
            ok = ok || strcmp(known[i], key) == 0;
        if (!ok) {
            snprintf(err, cap, "unknown fault '%s'", key);
            return -1;
        }
    }
    if (json_object_object_get_ex(in, "clear", &v) && json_object_get_boolean(v))
        memset(&f, 0, sizeof(f)), stale = 0, lat = 0;
    if (get_long(in, "rate_limit", 0, 1000000, &f.rate_limit, err, cap) ||
        get_long(in, "too_many_requests", 0, 1000000, &f.too_many, err, cap) ||
        get_long(in, "server_errors", 0, 1000000, &f.server_errors, err, cap) ||
        get_long(in, "quota_exceeded", 0, 1000000, &f.quota, err, cap) ||
        get_long(in, "qps", 0, 1000000, &f.qps, err, cap) ||
        get_long(in, "stale_reads", 0, 1000, &stale, err, cap) ||
        get_long(in, "latency_ms", 0, 60000, &lat, err, cap))
        return -1;
    f.stale_reads = (int)stale;
    f.latency_ms = (int)lat;
    for (size_t i = 0; i < LBP_ARRAY_LEN(rates); i++) {
        double d;
        if (!json_object_object_get_ex(in, rates[i], &v))
            continue;
        d = json_object_get_double(v);
        if ((!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) ||
            d < 0 || d > 1) {
            snprintf(err, cap, "%s: a number in [0, 1]", rates[i]);
            return -1;
        }
        *rate_dst[i] = d;
    }
    if (json_object_object_get_ex(in, "match", &v))
        lbp_strlcpy(f.match, json_object_get_string(v), sizeof(f.match));
    if (json_object_object_get_ex(in, "method", &v))
        lbp_strlcpy(f.method, json_object_get_string(v), sizeof(f.method));
    g_f = f;
    return 0;
}

struct json_object *gce_faults_get(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "rate_limit", json_object_new_int64(g_f.rate_limit));
    json_object_object_add(o, "too_many_requests", json_object_new_int64(g_f.too_many));
    json_object_object_add(o, "server_errors", json_object_new_int64(g_f.server_errors));
    json_object_object_add(o, "quota_exceeded", json_object_new_int64(g_f.quota));
    json_object_object_add(o, "error_rate", json_object_new_double(g_f.error_rate));
    json_object_object_add(o, "throttle_rate", json_object_new_double(g_f.throttle_rate));
    json_object_object_add(o, "lost_reply_rate", json_object_new_double(g_f.lost_reply_rate));
    json_object_object_add(o, "qps", json_object_new_int64(g_f.qps));
    json_object_object_add(o, "stale_reads", json_object_new_int(g_f.stale_reads));
    json_object_object_add(o, "latency_ms", json_object_new_int(g_f.latency_ms));
    json_object_object_add(o, "match", json_object_new_string(g_f.match));
    json_object_object_add(o, "method", json_object_new_string(g_f.method));
    json_object_object_add(o, "quotas", gce_compute_quotas());
    return o;
}

/* "POST targetPools/addInstance" from "/compute/v1/projects/p/regions/r/targetPools/x/addInstance".
 */
void gce_count(const char *method, const char *path)
{
    static const char *const colls[] = {
        "addresses", "forwardingRules",  "targetPools", "backendServices", "healthChecks",
        "firewalls", "httpHealthChecks", "instances",   "instanceGroups",  "operations"};
    char key[96];
    const char *coll = NULL, *p = NULL;
    struct json_object *v;

    if (!g_counts)
        g_counts = json_object_new_object();
    g_total++;
    for (size_t i = 0; i < LBP_ARRAY_LEN(colls) && !coll; i++) {
        char needle[40];
        snprintf(needle, sizeof(needle), "/%s", colls[i]);
        p = strstr(path, needle);
        if (p && (p[strlen(needle)] == '/' || p[strlen(needle)] == 0))
            coll = colls[i];
    }
    if (!coll) {
        snprintf(key, sizeof(key), "%s other", method);
    } else {
        /* A custom verb is the segment after the resource name. */
        const char *name = strchr(p + 1, '/'), *verb = name ? strchr(name + 1, '/') : NULL;
        if (verb && strcmp(coll, "operations") != 0)
            snprintf(key, sizeof(key), "%s %s/%.40s", method, coll, verb + 1);
        else if (!strcmp(method, "GET") && (!name || !name[1]))
            snprintf(key, sizeof(key), "LIST %s", coll); /* a list, not a get */
        else
            snprintf(key, sizeof(key), "%s %s", method, coll);
    }
    if (json_object_object_get_ex(g_counts, key, &v))
        json_object_set_int64(v, json_object_get_int64(v) + 1);
    else
        json_object_object_add(g_counts, key, json_object_new_int64(1));
}

struct json_object *gce_counters(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "calls",
                           g_counts ? json_object_get(g_counts) : json_object_new_object());
    json_object_object_add(o, "total", json_object_new_int64(g_total));
    json_object_object_add(o, "injected", json_object_new_int64(g_injected));
    json_object_object_add(o, "lost_replies", json_object_new_int64(g_lost_replies));
    return o;
}

void gce_counters_reset(void)
{
    json_object_put(g_counts);
    g_counts = NULL;
    g_total = g_injected = g_lost_replies = 0;
}

void gce_faults_free(void)
{
    gce_counters_reset();
}
