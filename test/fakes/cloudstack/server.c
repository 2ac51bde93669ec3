/*
 * server.c — fake-cloudstack's HTTP side: libmicrohttpd (a thread per
 * connection), the request checks in the order the real management server
 * makes them, injected faults, the /_fake/ control endpoint and main().
 *
 * Parameters are read from the raw request line (MHD's URI log callback
 * hands it over before MHD decodes anything) and from an
 * x-www-form-urlencoded POST body, decoded the servlet way ('+' is a
 * space, %XX a byte; the first of repeated names wins).
 *
 * The order of checks follows ApiServer.verifyRequest: unknown command
 * (432, "errorresponse"), missing signature or apiKey, a signatureversion=3
 * request without a valid future "expires", an unknown key (all 401), the
 * rate limit (429), then the signature itself (401). The string to sign is
 * rebuilt from the decoded parameters: names sorted byte-wise as sent,
 * "name=" + the value encoded like Java's URLEncoder (A-Za-z0-9.-*_ kept,
 * space as %20, everything else %XX), joined with '&', all lower-cased;
 * HMAC-SHA1 with the secret key, Base64, compared in constant time.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "test/fakes/cloudstack/fake.h"
#include "test/fakes/fake_util.h"

#define MAX_BODY (1u << 20)
#define MAX_URI 16384
#define MAX_FAULTS 64

pthread_mutex_t fake_mu = PTHREAD_MUTEX_INITIALIZER;
struct cs_config fake_cfg = {.job_polls = 1, .page_size_max = 500, .job_ms = 5000};

static char g_api_key[256] = "fake-cloudstack-api-key";
static char g_secret_key[256] = "fake-cloudstack-secret-key";
static bool g_verbose;
static unsigned g_rand = 1;

enum fault_kind { F_THROTTLE, F_ERROR, F_DROP, F_LATE, F_JOBFAIL, F_HOLD };
static const char *const fault_names[] = {"throttle", "error", "drop", "late", "jobfail", "hold"};

struct fault {
    enum fault_kind kind;
    char command[64]; /* "" = any */
    int count, code, delay_ms;
};
static struct fault g_faults[MAX_FAULTS];
static size_t g_n_faults;

static struct json_object *g_counters;
static long g_calls, g_auth_failures, g_throttled, g_errors, g_dropped;

/*
 * Replies held by the "hold" fault until POST /_fake/release: the work is
 * done, the caller waits. A test sees how many calls are held at once
 * (counters "held"), which is how it proves calls run side by side, and
 * then lets each one answer or lose its reply. A held reply answers on its
 * own after HOLD_MAX_MS, and at once when the fake stops.
 */
#define HOLD_MAX_MS 60000
struct held {
    uint64_t seq;
    bool released, drop;
    struct held *next;
};
static struct held *g_held;
static uint64_t g_held_seq;
static pthread_cond_t g_held_cv;
static bool g_stopping;

/* ---- helpers shared with cmds.c ---- */

const char *cs_p(const struct cs_req *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->p[i].name, name) == 0)
            return q->p[i].value;
    return NULL;
}

/* Case-insensitive lookup, for the names the server matches that way. */
static const char *cs_pi(const struct cs_req *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcasecmp(q->p[i].name, name) == 0)
            return q->p[i].value;
    return NULL;
}

int cs_err(struct cs_resp *r, int status, int cserrorcode, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    r->cserrorcode = cserrorcode;
    va_start(ap, fmt);
    vsnprintf(r->errortext, sizeof(r->errortext), fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- parameters ---- */

static int add_pair(void *ud, char *name, char *value)
{
    struct cs_req *q = ud;
    if (cs_p(q, name) || q->n >= 4096) {
        free(name);
        free(value);
        return 0;
    }
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 32;
        struct cs_param *np = realloc(q->p, nc * sizeof(*np));
        if (!np)
            abort();
        q->p = np;
        q->cap = nc;
    }
    q->p[q->n].name = name;
    q->p[q->n].value = value;
    q->n++;
    return 0;
}

/* Adds name=value pairs from a query string or form body; repeated names keep the first. */
static void parse_pairs(const char *s, size_t len, struct cs_req *q)
{
    if (fake_form_each(s, len, add_pair, q) != 0)
        abort(); /* out of memory: not a case a test double models */
}

static void req_free(struct cs_req *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->p[i].name);
        free(q->p[i].value);
    }
    free(q->p);
}

/* ---- the signature ---- */

static void java_urlencode(struct lbp_buf *b, const char *v)
{
    for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
        if (isalnum(*s) || *s == '.' || *s == '-' || *s == '*' || *s == '_')
            lbp_buf_add(b, s, 1);
        else if (*s == ' ')
            lbp_buf_adds(b, "%20"); /* URLEncoder's '+', which the server then replaces */
        else
            lbp_buf_addf(b, "%%%02X", *s);
    }
}

static int cmp_names(const void *a, const void *b)
{
    const struct cs_param *x = *(const struct cs_param *const *)a,
                          *y = *(const struct cs_param *const *)b;
    return strcmp(x->name, y->name);
}

/* Base64(HMAC-SHA1(secret, string to sign)) for q as received. */
static void compute_signature(const struct cs_req *q, const char *secret, char out[64])
{
    const struct cs_param **sorted = calloc(q->n ? q->n : 1, sizeof(*sorted));
    struct lbp_buf b;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    size_t n = 0;
    if (!sorted)
        abort();
    for (size_t i = 0; i < q->n; i++)
        if (strcasecmp(q->p[i].name, "signature") != 0)
            sorted[n++] = &q->p[i];
    qsort(sorted, n, sizeof(*sorted), cmp_names);
    lbp_buf_init(&b, MAX_URI * 4);
    for (size_t i = 0; i < n; i++) {
        if (i)
            lbp_buf_adds(&b, "&");
        lbp_buf_adds(&b, sorted[i]->name);
        lbp_buf_adds(&b, "=");
        java_urlencode(&b, sorted[i]->value);
    }
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (char)tolower((unsigned char)b.data[i]);
    HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)(b.data ? b.data : ""),
         b.len, mac, &maclen);
    EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
    lbp_buf_free(&b);
    free(sorted);
}

/*
 * "expires": 2026-12-04T18:00:00Z, with an offset (+01:00 or +0100, the
 * server's legacy pattern) and optional fractional seconds.
 */
static int parse_expires(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    long off = 0;
    const char *p;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
        return -1;
    p = s + n;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == 'Z' && !p[1]) {
        off = 0;
    } else if ((*p == '+' || *p == '-') &&
               (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2 ||
                sscanf(p + 1, "%2d%2d%n", &oh, &om, &n) == 2) &&
               !p[1 + n]) {
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - off;
    return 0;
}

/* ---- replies ---- */

struct conn {
    char *uri; /* the raw request target, query included */
    struct lbp_buf body;
    bool started, toobig;
};

static enum MHD_Result send_raw(struct MHD_Connection *c, int status, const char *type,
                                const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    char date[64];
    time_t now = (time_t)cs_now_s();
    struct tm tm;
    /* The server's own clock (clock_offset_s included), as clients read it from Date. */
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    MHD_add_response_header(r, "Date", date);
    MHD_add_response_header(r, "Content-Type", type);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, struct json_object *o)
{
    return send_raw(c, status, "application/json; charset=UTF-8",
                    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

/* {"<name>": {"uuidList": [], "errorcode": N[, "cserrorcode": M], "errortext": "..."}} */
static enum MHD_Result send_error(struct MHD_Connection *c, const char *respname, int code,
                                  int cserrorcode, const char *text)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    enum MHD_Result ret;
    json_object_object_add(e, "uuidList", json_object_new_array());
    json_object_object_add(e, "errorcode", json_object_new_int(code));
    if (cserrorcode)
        json_object_object_add(e, "cserrorcode", json_object_new_int(cserrorcode));
    json_object_object_add(e, "errortext", json_object_new_string(text));
    json_object_object_add(o, respname, e);
    ret = send_json(c, code, o);
    json_object_put(o);
    return ret;
}

static void respname_of(const char *command, char out[96])
{
    size_t i = 0;
    for (; command[i] && i < 80; i++)
        out[i] = (char)tolower((unsigned char)command[i]);
    snprintf(out + i, 96 - i, "response");
}

/* ---- faults and counters (under fake_mu) ---- */

static double rnd(void)
{
    return (double)rand_r(&g_rand) / ((double)RAND_MAX + 1.0);
}

static bool take_fault(enum fault_kind kind, const char *command, struct fault *out)
{
    for (size_t i = 0; i < g_n_faults; i++) {
        struct fault *f = &g_faults[i];
        if (f->kind != kind || f->count <= 0 || (f->command[0] && strcmp(f->command, command)))
            continue;
        f->count--;
        if (out)
            *out = *f;
        return true;
    }
    return false;
}

static int fault_add(const char *kind, const char *command, int count, int code, int delay_ms)
{
    struct fault *f;
    size_t k;
    for (k = 0; k < LBP_ARRAY_LEN(fault_names); k++)
        if (strcmp(kind, fault_names[k]) == 0)
            break;
    if (k == LBP_ARRAY_LEN(fault_names) || count < 1 || count > 1000000 || delay_ms < 0 ||
        delay_ms > 60000 || (code && (code < 400 || code > 599)) ||
        (command && *command && !cs_cmd_known(command)) || g_n_faults >= MAX_FAULTS)
        return -1;
    f = &g_faults[g_n_faults++];
    memset(f, 0, sizeof(*f));
    f->kind = (enum fault_kind)k;
    lbp_strlcpy(f->command, command ? command : "", sizeof(f->command));
    f->count = count;
    f->code = code ? code : 530;
    f->delay_ms = delay_ms ? delay_ms : 3000;
    return 0;
}

static struct json_object *faults_json(void)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < g_n_faults; i++) {
        struct json_object *o;
        if (g_faults[i].count <= 0)
            continue;
        o = json_object_new_object();
        json_object_object_add(o, "kind", json_object_new_string(fault_names[g_faults[i].kind]));
        json_object_object_add(o, "command", json_object_new_string(g_faults[i].command));
        json_object_object_add(o, "count", json_object_new_int(g_faults[i].count));
        json_object_object_add(o, "code", json_object_new_int(g_faults[i].code));
        json_object_object_add(o, "delay_ms", json_object_new_int(g_faults[i].delay_ms));
        json_object_array_add(a, o);
    }
    return a;
}

static void count(const char *command)
{
    struct json_object *v;
    g_calls++;
    if (json_object_object_get_ex(g_counters, command, &v))
        json_object_set_int(v, json_object_get_int(v) + 1);
    else
        json_object_object_add(g_counters, command, json_object_new_int(1));
}

static struct json_object *counters_json(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "commands", json_object_get(g_counters));
    json_object_object_add(o, "calls", json_object_new_int64(g_calls));
    json_object_object_add(o, "auth_failures", json_object_new_int64(g_auth_failures));
    json_object_object_add(o, "throttled", json_object_new_int64(g_throttled));
    json_object_object_add(o, "errors", json_object_new_int64(g_errors));
    json_object_object_add(o, "dropped", json_object_new_int64(g_dropped));
    size_t held = 0;
    for (struct held *h = g_held; h; h = h->next)
        held += !h->released;
    json_object_object_add(o, "held", json_object_new_int64((int64_t)held));
    return o;
}

/* ---- the control endpoint ---- */

static int config_apply(struct json_object *in, char *err, size_t errlen)
{
    struct json_object *v;
    static const struct {
        const char *name;
        int lo, hi;
        int *dst;
    } ints[] = {
        {"job_polls", 0, 1000, &fake_cfg.job_polls},
        {"page_size_max", 1, 100000, &fake_cfg.page_size_max},
        {"latency_ms", 0, 60000, &fake_cfg.latency_ms},
        {"job_ms", 0, 3600000, &fake_cfg.job_ms},
        {"clock_offset_s", -86400, 86400, NULL},
    };
    /* Validate everything before changing anything. */
    for (size_t i = 0; i < LBP_ARRAY_LEN(ints); i++)
        if ((v = json_object_object_get(in, ints[i].name)) &&
            (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < ints[i].lo ||
             json_object_get_int(v) > ints[i].hi)) {
            lbp_seterr(err, errlen, "%s must be an integer %d..%d", ints[i].name, ints[i].lo,
                       ints[i].hi);
            return -1;
        }
    for (const char *const *k =
             (const char *const[]){"error_rate", "throttle_rate", "drop_rate", NULL};
         *k; k++)
        if ((v = json_object_object_get(in, *k)) &&
            ((!json_object_is_type(v, json_type_double) &&
              !json_object_is_type(v, json_type_int)) ||
             json_object_get_double(v) < 0 || json_object_get_double(v) > 1)) {
            lbp_seterr(err, errlen, "%s must be a number 0..1", *k);
            return -1;
        }
    for (size_t i = 0; i < LBP_ARRAY_LEN(ints); i++)
        if ((v = json_object_object_get(in, ints[i].name))) {
            if (ints[i].dst)
                *ints[i].dst = json_object_get_int(v);
            else
                atomic_store(&fake_clock_offset_s, json_object_get_int(v));
        }
    if ((v = json_object_object_get(in, "error_rate")))
        fake_cfg.error_rate = json_object_get_double(v);
    if ((v = json_object_object_get(in, "throttle_rate")))
        fake_cfg.throttle_rate = json_object_get_double(v);
    if ((v = json_object_object_get(in, "drop_rate")))
        fake_cfg.drop_rate = json_object_get_double(v);
    return 0;
}

static struct json_object *config_json(void)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "job_polls", json_object_new_int(fake_cfg.job_polls));
    json_object_object_add(o, "page_size_max", json_object_new_int(fake_cfg.page_size_max));
    json_object_object_add(o, "latency_ms", json_object_new_int(fake_cfg.latency_ms));
    json_object_object_add(o, "job_ms", json_object_new_int(fake_cfg.job_ms));
    json_object_object_add(o, "error_rate", json_object_new_double(fake_cfg.error_rate));
    json_object_object_add(o, "throttle_rate", json_object_new_double(fake_cfg.throttle_rate));
    json_object_object_add(o, "drop_rate", json_object_new_double(fake_cfg.drop_rate));
    json_object_object_add(o, "clock_offset_s",
                           json_object_new_int(atomic_load(&fake_clock_offset_s)));
    return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v = json_object_object_get(o, k);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int post_vms(struct json_object *in, char *err, size_t errlen)
{
    struct json_object *vms = json_object_object_get(in, "vms"),
                       *rm = json_object_object_get(in, "remove");
    if ((vms && !json_object_is_type(vms, json_type_array)) ||
        (rm && !json_object_is_type(rm, json_type_array))) {
        lbp_seterr(err, errlen, "vms and remove must be arrays");
        return -1;
    }
    for (size_t i = 0; vms && i < json_object_array_length(vms); i++) {
        struct json_object *v = json_object_array_get_idx(vms, i);
        if (cs_vm_add(jstr(v, "name"), jstr(v, "id"), jstr(v, "networkid"), jstr(v, "ipaddress"),
                      err, errlen) != 0)
            return -1;
    }
    for (size_t i = 0; rm && i < json_object_array_length(rm); i++) {
        struct cs_obj *o =
            cs_obj_get(json_object_get_string(json_object_array_get_idx(rm, i)), CS_VM);
        if (!o) {
            lbp_seterr(err, errlen, "no VM %s",
                       json_object_get_string(json_object_array_get_idx(rm, i)));
            return -1;
        }
        /* An expunged VM leaves every load-balancer rule it was in. */
        for (struct cs_obj *lb = cs_objs(); lb; lb = lb->hh.next)
            for (size_t k = 0;
                 lb->kind == CS_LB && lb->members && k < json_object_array_length(lb->members); k++)
                if (strcmp(json_object_get_string(json_object_array_get_idx(lb->members, k)),
                           o->id) == 0)
                    json_object_array_del_idx(lb->members, k--, 1);
        cs_obj_bury(o);
    }
    return 0;
}

static int post_faults(struct json_object *in, char *err, size_t errlen)
{
    struct json_object *fl = json_object_object_get(in, "faults"), *v;
    if (fl && !json_object_is_type(fl, json_type_array)) {
        lbp_seterr(err, errlen, "faults must be an array");
        return -1;
    }
    if ((v = json_object_object_get(in, "clear")) && json_object_get_boolean(v))
        g_n_faults = 0;
    for (size_t i = 0; fl && i < json_object_array_length(fl); i++) {
        struct json_object *f = json_object_array_get_idx(fl, i), *c;
        const char *kind = jstr(f, "kind");
        int n = (c = json_object_object_get(f, "count")) ? json_object_get_int(c) : 1;
        if (!kind || fault_add(kind, jstr(f, "command"), n,
                               json_object_get_int(json_object_object_get(f, "code")),
                               json_object_get_int(json_object_object_get(f, "delay_ms"))) != 0) {
            lbp_seterr(err, errlen,
                       "fault %zu: kind throttle|error|drop|late|jobfail|hold, a known command or "
                       "none, count 1..1000000, code 400..599, delay_ms 0..60000",
                       i);
            return -1;
        }
    }
    return 0;
}

/* Lets held replies go, oldest first (or newest), answering or lost (drop). */
static int post_release(struct json_object *in, char *err, size_t errlen, struct json_object **out)
{
    struct json_object *v;
    int n = 1000000, done = 0;
    bool drop = false, newest = false;
    if ((v = json_object_object_get(in, "count"))) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1) {
            lbp_seterr(err, errlen, "count must be an integer >= 1");
            return -1;
        }
        n = json_object_get_int(v);
    }
    if ((v = json_object_object_get(in, "drop")))
        drop = json_object_get_boolean(v);
    if ((v = json_object_object_get(in, "newest")))
        newest = json_object_get_boolean(v);
    while (done < n) {
        struct held *pick = NULL;
        for (struct held *h = g_held; h; h = h->next)
            if (!h->released && (!pick || (newest ? h->seq > pick->seq : h->seq < pick->seq)))
                pick = h;
        if (!pick)
            break;
        pick->released = true;
        pick->drop = drop;
        done++;
    }
    pthread_cond_broadcast(&g_held_cv);
    *out = json_object_new_object();
    json_object_object_add(*out, "released", json_object_new_int(done));
    return 0;
}

static enum MHD_Result control(struct MHD_Connection *c, const char *method, const char *url,
                               struct conn *cn)
{
    struct json_object *in = NULL, *out = NULL;
    char err[256] = "";
    int status = 200;
    enum MHD_Result ret;
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (post) {
        in = json_tokener_parse(cn->body.data ? cn->body.data : "{}");
        if (!in || !json_object_is_type(in, json_type_object)) {
            json_object_put(in);
            return send_raw(c, 400, "text/plain", "body must be a JSON object\n");
        }
    }
    pthread_mutex_lock(&fake_mu);
    if (get && strcmp(url, "/_fake/state") == 0) {
        cs_jobs_tick();
        out = cs_state_dump();
        json_object_object_add(out, "jobs", cs_jobs_dump());
        json_object_object_add(out, "counters", counters_json());
        json_object_object_add(out, "faults", faults_json());
        json_object_object_add(out, "config", config_json());
    } else if (get && strcmp(url, "/_fake/counters") == 0) {
        out = counters_json();
    } else if (post && strcmp(url, "/_fake/counters/reset") == 0) {
        json_object_put(g_counters);
        g_counters = json_object_new_object();
        g_calls = g_auth_failures = g_throttled = g_errors = g_dropped = 0;
        out = counters_json();
    } else if (post && strcmp(url, "/_fake/vms") == 0) {
        if (post_vms(in, err, sizeof(err)) != 0)
            status = 400;
        else
            out = cs_state_dump();
    } else if (post && strcmp(url, "/_fake/faults") == 0) {
        if (post_faults(in, err, sizeof(err)) != 0)
            status = 400;
        else
            out = faults_json();
    } else if (get && strcmp(url, "/_fake/faults") == 0) {
        out = faults_json();
    } else if (post && strcmp(url, "/_fake/config") == 0) {
        if (config_apply(in, err, sizeof(err)) != 0)
            status = 400;
        else
            out = config_json();
    } else if (get && strcmp(url, "/_fake/config") == 0) {
        out = config_json();
    } else if (post && strcmp(url, "/_fake/release") == 0) {
        if (post_release(in, err, sizeof(err), &out) != 0)
            status = 400;
    } else {
        status = 404;
        snprintf(err, sizeof(err), "no control endpoint %s %s", method, url);
    }
    pthread_mutex_unlock(&fake_mu);
    if (status != 200) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s\n", err);
        ret = send_raw(c, status, "text/plain", msg);
    } else {
        ret = send_json(c, 200, out);
    }
    json_object_put(in);
    json_object_put(out);
    return ret;
}

/* ---- the API ---- */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static enum MHD_Result auth_fail(struct MHD_Connection *c, const char *respname)
{
    pthread_mutex_lock(&fake_mu);
    g_auth_failures++;
    pthread_mutex_unlock(&fake_mu);
    return send_error(c, respname, 401, 0,
                      "unable to verify user credentials and/or request signature");
}

/* A command that changes state: everything but the list and query calls. */
static bool is_write(const char *command)
{
    return strncmp(command, "list", 4) != 0 && strcmp(command, "queryAsyncJobResult") != 0;
}

static enum MHD_Result api(struct MHD_Connection *c, const char *method, struct conn *cn)
{
    struct cs_req q = {0};
    struct cs_resp r = {0};
    struct fault f;
    const char *qs = strchr(cn->uri, '?'), *ctype, *sig, *key, *sv, *exp, *resp;
    char respname[96], want[64];
    enum MHD_Result ret;
    bool throttled, failed, drop = false, late = false, hold = false;
    int latency, late_ms = 0;
    int64_t t;

    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        return send_error(c, "errorresponse", 405, 9999, "use GET or POST");
    if (qs)
        parse_pairs(qs + 1, strlen(qs + 1), &q);
    ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (strcmp(method, "POST") == 0 && cn->body.len && ctype &&
        strncasecmp(ctype, "application/x-www-form-urlencoded", 33) == 0)
        parse_pairs(cn->body.data, cn->body.len, &q);

    q.command = cs_p(&q, "command");
    if (!q.command) {
        ret = auth_fail(c, "errorresponse");
        goto out;
    }
    if (!cs_cmd_known(q.command)) {
        ret = send_error(c, "errorresponse", 432, 9999,
                         "The given command does not exist or it is not available for user");
        goto out;
    }
    respname_of(q.command, respname);
    sig = cs_pi(&q, "signature");
    key = cs_pi(&q, "apikey");
    sv = cs_pi(&q, "signatureversion");
    exp = cs_pi(&q, "expires");
    if (!sig || !key) {
        ret = auth_fail(c, respname);
        goto out;
    }
    if (sv && strcmp(sv, "3") == 0 && (!exp || parse_expires(exp, &t) != 0 || t < cs_now_s())) {
        ret = auth_fail(c, respname);
        goto out;
    }
    if (strcmp(key, g_api_key) != 0) {
        ret = auth_fail(c, respname);
        goto out;
    }
    pthread_mutex_lock(&fake_mu);
    throttled = take_fault(F_THROTTLE, q.command, NULL) ||
                (fake_cfg.throttle_rate > 0 && rnd() < fake_cfg.throttle_rate);
    if (throttled)
        g_throttled++;
    pthread_mutex_unlock(&fake_mu);
    if (throttled) {
        ret = send_error(c, respname, 429, 9999,
                         "The given user has reached his/her account api limit, please retry "
                         "after 1000 ms.");
        goto out;
    }
    compute_signature(&q, g_secret_key, want);
    if (strlen(want) != strlen(sig) || CRYPTO_memcmp(want, sig, strlen(sig)) != 0) {
        ret = auth_fail(c, respname);
        goto out;
    }
    resp = cs_p(&q, "response");
    if (!resp || strcmp(resp, "json") != 0) {
        /* The real server would answer in XML; this fake speaks JSON only. */
        ret = send_raw(c, 530, "text/xml",
                       "<?xml version=\"1.0\" encoding=\"UTF-8\"?><errorresponse><errorcode>530"
                       "</errorcode><errortext>fake-cloudstack answers response=json only"
                       "</errortext></errorresponse>");
        goto out;
    }

    pthread_mutex_lock(&fake_mu);
    latency = fake_cfg.latency_ms;
    pthread_mutex_unlock(&fake_mu);
    if (latency)
        sleep_ms(latency);

    pthread_mutex_lock(&fake_mu);
    count(q.command);
    failed = take_fault(F_ERROR, q.command, &f);
    if (!failed && fake_cfg.error_rate > 0 && rnd() < fake_cfg.error_rate) {
        failed = true;
        f.code = 530;
    }
    if (failed) {
        g_errors++;
        cs_err(&r, f.code, 9999,
               "Internal error executing command, please contact your system administrator");
    } else {
        if (take_fault(F_JOBFAIL, q.command, &f))
            q.jobfail = f.code;
        cs_cmd_run(&q, &r);
        if (take_fault(F_DROP, q.command, NULL) ||
            (fake_cfg.drop_rate > 0 && r.status == 200 && is_write(q.command) &&
             rnd() < fake_cfg.drop_rate)) {
            /* The work is done (and its job finished); the caller never hears of it. */
            if (r.jobid[0])
                cs_job_finish(r.jobid);
            drop = true;
            g_dropped++;
        } else if (take_fault(F_LATE, q.command, &f)) {
            late = true;
            late_ms = f.delay_ms;
        } else if (take_fault(F_HOLD, q.command, NULL)) {
            hold = true;
        }
    }
    if (hold) {
        struct held h = {.seq = ++g_held_seq, .next = g_held};
        struct timespec until;
        lbp_deadline_ts(HOLD_MAX_MS, &until);
        g_held = &h;
        while (!h.released && !g_stopping &&
               pthread_cond_timedwait(&g_held_cv, &fake_mu, &until) == 0)
            ;
        for (struct held **pp = &g_held; *pp; pp = &(*pp)->next)
            if (*pp == &h) {
                *pp = h.next;
                break;
            }
        if (h.drop) {
            if (r.jobid[0])
                cs_job_finish(r.jobid);
            drop = true;
            g_dropped++;
        }
    }
    pthread_mutex_unlock(&fake_mu);
    if (g_verbose)
        fprintf(stderr, "fake-cloudstack: %s %s -> %d%s\n", method, q.command, r.status,
                drop ? " (reply dropped)" : "");
    if (drop) {
        ret = MHD_NO; /* closes the connection without a response */
        goto out;
    }
    if (late)
        sleep_ms(late_ms);
    if (r.status != 200) {
        ret = send_error(c, respname, r.status, r.cserrorcode, r.errortext);
    } else {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, respname, r.body);
        r.body = NULL;
        ret = send_json(c, 200, o);
        json_object_put(o);
    }
out:
    json_object_put(r.body);
    req_free(&q);
    return ret;
}

/* MHD's own messages, marked as ours; a dropped reply shows up as "internal error". */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    fputs("fake-cloudstack: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct conn *cn = calloc(1, sizeof(*cn));
    if (!cn)
        abort();
    cn->uri = strndup(uri ? uri : "", MAX_URI);
    if (!cn->uri)
        abort();
    lbp_buf_init(&cn->body, MAX_BODY);
    return cn;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct conn *cn = *con_cls;
    if (!cn)
        return MHD_NO;
    if (!cn->started) {
        cn->started = true;
        return MHD_YES;
    }
    if (*upload_size) {
        if (lbp_buf_add(&cn->body, upload, *upload_size) != 0)
            cn->toobig = true;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->toobig)
        return send_raw(c, 413, "text/plain", "request body too large\n");
    if (strncmp(url, "/_fake/", 7) == 0)
        return control(c, method, url, cn);
    if (strcmp(url, "/client/api") == 0)
        return api(c, method, cn);
    return send_raw(c, 404, "text/plain", "not found: the API is at /client/api\n");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct conn *cn = *con_cls;
    if (cn) {
        free(cn->uri);
        lbp_buf_free(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: fake-cloudstack [options]\n"
           "  --port N              listen port (0: a free one; default 0)\n"
           "  --port-file F         write the chosen port to F\n"
           "  --bind ADDR           IPv4 address to bind (default 127.0.0.1)\n"
           "  --api-key K           the one valid API key (default fake-cloudstack-api-key)\n"
           "  --secret-key S        its secret (default fake-cloudstack-secret-key)\n"
           "  --job-polls N         queryAsyncJobResult answers jobstatus 0 N times (default 1)\n"
           "  --job-ms MS           a job nobody polls completes after MS (default 5000; 0 never)\n"
           "  --latency-ms N        added to every API call (default 0)\n"
           "  --page-size-max N     default.page.size (default 500)\n"
           "  --error-rate P        share 0..1 of calls answered 530 before any work\n"
           "  --throttle-rate P     share 0..1 of calls answered 429\n"
           "  --fault KIND[:COMMAND[:COUNT]]\n"
           "                        queue a fault: throttle, error, drop, late, jobfail, hold\n"
           "  --public-range CIDR   addresses associateIpAddress hands out, from the 10th\n"
           "                        to the 6th from last (default 203.0.113.0/24)\n"
           "  --vm NAME[:UUID[:NETWORKID]]\n"
           "                        add a running VM (repeatable)\n"
           "  --seed N              seed for the rate faults (default 1)\n"
           "  -v                    log each API call to stderr\n");
}

static int write_port_file(const char *path, unsigned port)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%u\n", port);
    return fake_write_file(path, buf);
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 1)
        return -1;
    *out = v;
    return 0;
}

static int vm_flag(const char *arg)
{
    char buf[256], *name, *id, *net, err[128];
    lbp_strlcpy(buf, arg, sizeof(buf));
    name = buf;
    id = strchr(name, ':');
    if (id)
        *id++ = 0;
    net = id ? strchr(id, ':') : NULL;
    if (net)
        *net++ = 0;
    if (cs_vm_add(name, id && *id ? id : NULL, net && *net ? net : NULL, NULL, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "fake-cloudstack: --vm %s: %s\n", arg, err);
        return -1;
    }
    return 0;
}

static int fault_flag(const char *arg)
{
    char buf[160], *kind = buf, *cmd, *cnt;
    long n = 1;
    lbp_strlcpy(buf, arg, sizeof(buf));
    cmd = strchr(kind, ':');
    if (cmd)
        *cmd++ = 0;
    cnt = cmd ? strchr(cmd, ':') : NULL;
    if (cnt)
        *cnt++ = 0;
    if ((cnt && lbp_parse_long(cnt, 1, 1000000, &n) != 0) ||
        fault_add(kind, cmd, (int)n, 0, 0) != 0) {
        fprintf(stderr, "fake-cloudstack: bad --fault %s\n", arg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},
        {"port-file", required_argument, NULL, 'P'},
        {"bind", required_argument, NULL, 'b'},
        {"api-key", required_argument, NULL, 'k'},
        {"secret-key", required_argument, NULL, 's'},
        {"job-polls", required_argument, NULL, 'j'},
        {"job-ms", required_argument, NULL, 'J'},
        {"latency-ms", required_argument, NULL, 'l'},
        {"page-size-max", required_argument, NULL, 'm'},
        {"error-rate", required_argument, NULL, 'e'},
        {"throttle-rate", required_argument, NULL, 't'},
        {"fault", required_argument, NULL, 'f'},
        {"vm", required_argument, NULL, 'V'},
        {"public-range", required_argument, NULL, 'R'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *port_file = NULL, *bind_addr = "127.0.0.1";
    struct sockaddr_in sa;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    long v, port = 0;
    int c, rc = 1, sig;
    sigset_t set;

    cs_state_init();
    g_counters = json_object_new_object();
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (lbp_parse_long(optarg, 0, 65535, &port) != 0)
                goto bad;
            break;
        case 'P':
            port_file = optarg;
            break;
        case 'b':
            bind_addr = optarg;
            break;
        case 'k':
        case 's':
            if (!*optarg || strlen(optarg) >= sizeof(g_api_key))
                goto bad;
            lbp_strlcpy(c == 'k' ? g_api_key : g_secret_key, optarg, sizeof(g_api_key));
            break;
        case 'j':
        case 'J':
        case 'l':
        case 'm':
            if (lbp_parse_long(optarg, c == 'm' ? 1 : 0, c == 'J' ? 3600000 : 100000, &v) != 0)
                goto bad;
            *(c == 'j'   ? &fake_cfg.job_polls
              : c == 'J' ? &fake_cfg.job_ms
              : c == 'l' ? &fake_cfg.latency_ms
                         : &fake_cfg.page_size_max) = (int)v;
            break;
        case 'e':
        case 't':
            if (parse_rate(optarg, c == 'e' ? &fake_cfg.error_rate : &fake_cfg.throttle_rate))
                goto bad;
            break;
        case 'f':
            if (fault_flag(optarg) != 0)
                goto done;
            break;
        case 'R':
            if (cs_pool_configure(optarg) != 0)
                goto bad;
            break;
        case 'V':
            if (vm_flag(optarg) != 0)
                goto done;
            break;
        case 'S':
            if (lbp_parse_long(optarg, 0, 2147483647L, &v) != 0)
                goto bad;
            g_rand = (unsigned)v;
            break;
        case 'v':
            g_verbose = true;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto done;
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "fake-cloudstack: --bind %s is not an IPv4 address\n", bind_addr);
        goto done;
    }
    /* Only the main thread takes SIGTERM/SIGINT; MHD's threads inherit the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    lbp_cond_init_monotonic(&g_held_cv);
    d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        &sa, MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
        NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "fake-cloudstack: cannot listen on %s:%ld\n", bind_addr, port);
        goto done;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port_file && write_port_file(port_file, info ? info->port : 0) != 0) {
        fprintf(stderr, "fake-cloudstack: cannot write %s\n", port_file);
        MHD_stop_daemon(d);
        goto done;
    }
    printf("listening on http://%s:%u\n", bind_addr, info ? info->port : 0);
    fflush(stdout);
    sigwait(&set, &sig);
    pthread_mutex_lock(&fake_mu);
    g_stopping = true;
    pthread_cond_broadcast(&g_held_cv);
    pthread_mutex_unlock(&fake_mu);
    MHD_stop_daemon(d);
    rc = 0;
    goto done;
bad:
    usage(stderr);
    rc = 2;
done:
    pthread_mutex_lock(&fake_mu);
    cs_jobs_free();
    cs_state_free();
    json_object_put(g_counters);
    pthread_mutex_unlock(&fake_mu);
    return rc;
}
