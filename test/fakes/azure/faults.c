/*
 * faults.c — what fake-azure does to calls besides answering them: the
 * subscription's rate-limit budgets (ARM's x-ms-ratelimit-remaining-*
 * headers, a 429 SubscriptionRequestsThrottled when one runs out), faults
 * injected by flag or POST /_fake/faults (429, 500, a conflicting writer,
 * failing async operations, latency, lost replies), and call counters by
 * method and resource type for tests and benchmarks. A lost reply is a
 * write ARM accepted (stored, its async operation started) whose
 * connection then closes without an answer, as when a network breaks
 * after the call was committed: the client must find what it made.
 *
 * Counted faults ("the next N calls") are taken before rates; a budget
 * window starts at the first call after the last one ended.
 */
#include "test/fakes/azure/fake.h"
#include "common/util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct counter {
    char key[96];
    int64_t n;
    UT_hash_handle hh;
};

static struct {
    long throttle, server_errors, conflicts, op_failures, latency_ms;
    double throttle_rate, error_rate, lost_reply_rate;
    long retry_after_s;
    long budget[3]; /* reads, writes, deletes per window */
    long budget_window_s;
} g_f = {.retry_after_s = 1, .budget = {12000, 1200, 15000}, .budget_window_s = 3600};

static long g_used[3];
static uint64_t g_window_start_ms;
static struct counter *g_counters;

static const char *const budget_name[3] = {"reads", "writes", "deletes"};

static int budget_kind(const char *method)
{
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
        return 0;
    return strcmp(method, "DELETE") ? 1 : 2;
}

static double rnd(void)
{
    uint32_t v;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)random();
    return v / 4294967296.0;
}

static void window_roll(void)
{
    uint64_t now = lbp_now_ms();
    if (!g_window_start_ms || now - g_window_start_ms >= (uint64_t)g_f.budget_window_s * 1000) {
        g_window_start_ms = now;
        memset(g_used, 0, sizeof(g_used));
    }
}

static long window_left_s(void)
{
    uint64_t end = g_window_start_ms + (uint64_t)g_f.budget_window_s * 1000, now = lbp_now_ms();
    return now >= end ? 1 : (long)((end - now + 999) / 1000);
}

bool az_fault_take(const struct az_req *q, struct az_reply *r)
{
    int k = budget_kind(q->method);
    window_roll();
    if (g_used[k] >= g_f.budget[k]) {
        long wait = window_left_s();
        char span[64];
        snprintf(span, sizeof(span), "%02ld:%02ld:%02ld", g_f.budget_window_s / 3600,
                 g_f.budget_window_s / 60 % 60, g_f.budget_window_s % 60);
        az_error(r, 429, "SubscriptionRequestsThrottled",
                 "Number of '%s' requests for subscription '%s' actually exceeded the limit of "
                 "'%ld' for time interval '%s'. Please try again after '%ld' seconds.",
                 k == 0   ? "read"
                 : k == 1 ? "write"
                          : "delete",
                 az_cfg.subscription, g_f.budget[k], span, wait);
        az_hdr(r, "Retry-After", "%ld", wait);
        return true;
    }
    if (g_f.throttle > 0 || (g_f.throttle_rate > 0 && rnd() < g_f.throttle_rate)) {
        if (g_f.throttle > 0)
            g_f.throttle--;
        az_error(r, 429, "TooManyRequests",
                 "The request is being throttled as the limit has been reached for operation "
                 "type - %s. Please retry after %ld seconds.",
                 k == 0 ? "Read" : "Write", g_f.retry_after_s);
        az_hdr(r, "Retry-After", "%ld", g_f.retry_after_s);
        return true;
    }
    if (g_f.server_errors > 0 || (g_f.error_rate > 0 && rnd() < g_f.error_rate)) {
        char tracking[37];
        if (g_f.server_errors > 0)
            g_f.server_errors--;
        az_guid(tracking);
        az_error(r, 500, "InternalServerError",
                 "Encountered internal server error. Diagnostic information: subscription id "
                 "'%s', tracking id '%s'.",
                 az_cfg.subscription, tracking);
        return true;
    }
    g_used[k]++;
    return false;
}

void az_budget_headers(const char *method, struct az_reply *r)
{
    int k = budget_kind(method);
    long left;
    window_roll();
    left = g_f.budget[k] - g_used[k];
    az_hdr(r,
           k == 0   ? "x-ms-ratelimit-remaining-subscription-reads"
           : k == 1 ? "x-ms-ratelimit-remaining-subscription-writes"
                    : "x-ms-ratelimit-remaining-subscription-deletes",
           "%ld", left < 0 ? 0 : left);
}

int az_fault_latency_ms(void)
{
    return (int)g_f.latency_ms;
}

bool az_fault_conflict(const char *method, const char *path)
{
    char kind[64];
    bool list;
    if (g_f.conflicts <= 0 || strcmp(method, "GET") != 0)
        return false;
    az_arm_kind(path, kind, sizeof(kind), &list);
    if (list || strcmp(kind, "loadBalancers") != 0)
        return false;
    g_f.conflicts--;
    return true;
}

bool az_fault_op_fails(void)
{
    if (g_f.op_failures <= 0)
        return false;
    g_f.op_failures--;
    return true;
}

int az_faults_set(struct json_object *in, char *err, size_t cap)
{
    struct {
        const char *key;
        long *dst;
        long min, max;
    } ints[] = {{"throttle", &g_f.throttle, 0, 100000000},
                {"server_errors", &g_f.server_errors, 0, 100000000},
                {"conflicts", &g_f.conflicts, 0, 100000000},
                {"op_failures", &g_f.op_failures, 0, 100000000},
                {"latency_ms", &g_f.latency_ms, 0, 60000},
                {"retry_after_s", &g_f.retry_after_s, 0, 3600},
                {"reads_budget", &g_f.budget[0], 0, 100000000},
                {"writes_budget", &g_f.budget[1], 0, 100000000},
                {"deletes_budget", &g_f.budget[2], 0, 100000000},
                {"budget_window_s", &g_f.budget_window_s, 1, 86400}};
    struct {
        const char *key;
        double *dst;
    } rates[] = {{"throttle_rate", &g_f.throttle_rate},
                 {"error_rate", &g_f.error_rate},
                 {"lost_reply_rate", &g_f.lost_reply_rate}};
    /* Check everything first so a bad request changes nothing. */
    for (int pass = 0; pass < 2; pass++) {
        json_object_object_foreach(in, k, v)
        {
            bool known = false;
            for (size_t i = 0; i < LBP_ARRAY_LEN(ints); i++) {
                if (strcmp(ints[i].key, k) != 0)
                    continue;
                known = true;
                if (!json_object_is_type(v, json_type_int) ||
                    json_object_get_int64(v) < ints[i].min ||
                    json_object_get_int64(v) > ints[i].max) {
                    snprintf(err, cap, "%s: an integer in [%ld, %ld]", k, ints[i].min, ints[i].max);
                    return -1;
                }
                if (pass)
                    *ints[i].dst = (long)json_object_get_int64(v);
            }
            for (size_t i = 0; i < LBP_ARRAY_LEN(rates); i++) {
                double d;
                if (strcmp(rates[i].key, k) != 0)
                    continue;
                known = true;
                d = json_object_get_double(v);
                if ((!json_object_is_type(v, json_type_double) &&
                     !json_object_is_type(v, json_type_int)) ||
                    d < 0 || d > 1) {
                    snprintf(err, cap, "%s: a number in [0, 1]", k);
                    return -1;
                }
                if (pass)
                    *rates[i].dst = d;
            }
            if (!known) {
                snprintf(err, cap, "unknown fault '%s'", k);
                return -1;
            }
        }
    }
    /* New budgets start a new window. */
    g_window_start_ms = 0;
    return 0;
}

struct json_object *az_faults_get(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "throttle", json_object_new_int64(g_f.throttle));
    json_object_object_add(o, "throttle_rate", json_object_new_double(g_f.throttle_rate));
    json_object_object_add(o, "server_errors", json_object_new_int64(g_f.server_errors));
    json_object_object_add(o, "error_rate", json_object_new_double(g_f.error_rate));
    json_object_object_add(o, "lost_reply_rate", json_object_new_double(g_f.lost_reply_rate));
    json_object_object_add(o, "conflicts", json_object_new_int64(g_f.conflicts));
    json_object_object_add(o, "op_failures", json_object_new_int64(g_f.op_failures));
    json_object_object_add(o, "latency_ms", json_object_new_int64(g_f.latency_ms));
    json_object_object_add(o, "retry_after_s", json_object_new_int64(g_f.retry_after_s));
    for (int k = 0; k < 3; k++) {
        char key[32];
        snprintf(key, sizeof(key), "%s_budget", budget_name[k]);
        json_object_object_add(o, key, json_object_new_int64(g_f.budget[k]));
    }
    json_object_object_add(o, "budget_window_s", json_object_new_int64(g_f.budget_window_s));
    return o;
}

static void bump(const char *key)
{
    struct counter *c;
    HASH_FIND_STR(g_counters, key, c);
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (!c)
            return;
        lbp_strlcpy(c->key, key, sizeof(c->key));
        HASH_ADD_STR(g_counters, key, c);
    }
    c->n++;
}

bool az_fault_lose(const char *method, int status)
{
    if (budget_kind(method) == 0 || status < 200 || status > 299 || g_f.lost_reply_rate <= 0 ||
        rnd() >= g_f.lost_reply_rate)
        return false;
    bump("lost replies");
    return true;
}

void az_count(const char *method, const char *path, int status)
{
    char kind[64], key[96];
    bool list = false;
    if (path[0] == '/')
        az_arm_kind(path, kind, sizeof(kind), &list);
    else
        lbp_strlcpy(kind, path, sizeof(kind));
    snprintf(key, sizeof(key), "%s %s", list ? "LIST" : method, kind);
    bump(key);
    snprintf(key, sizeof(key), "status %d", status);
    bump(key);
}

struct json_object *az_counters(void)
{
    struct json_object *o = json_object_new_object(), *calls = json_object_new_object(),
                       *st = json_object_new_object();
    for (struct counter *c = g_counters; c; c = c->hh.next) {
        if (!strncmp(c->key, "status ", 7))
            json_object_object_add(st, c->key + 7, json_object_new_int64(c->n));
        else if (!strcmp(c->key, "lost replies"))
            json_object_object_add(o, "lost_replies", json_object_new_int64(c->n));
        else
            json_object_object_add(calls, c->key, json_object_new_int64(c->n));
    }
    json_object_object_add(o, "calls", calls);
    json_object_object_add(o, "statuses", st);
    return o;
}

void az_counters_reset(void)
{
    struct counter *c, *tmp;
    HASH_ITER(hh, g_counters, c, tmp)
    {
        HASH_DEL(g_counters, c);
        free(c);
    }
}
