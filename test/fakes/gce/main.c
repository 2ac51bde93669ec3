/*
 * main.c — fake-gce: flags, the HTTP server (libmicrohttpd, a thread per
 * connection), routing, the /_fake/ control endpoint and clean shutdown.
 *
 * Routes: POST /token (OAuth2), POST /v1/token (STS) and
 * /v1/projects/-/serviceAccounts/... (IAM Credentials) for workload
 * identity, /computeMetadata/v1/... and / (the metadata server), /compute/v1/projects/... (Compute,
 * Bearer token required), /_fake/... (control, no auth). Prints "listening on http://ADDR:PORT" as
 * its first stdout line once it accepts connections (and writes the port to --port-file), then
 * waits for SIGTERM/SIGINT. See README.md for the flags and the control endpoint.
 */
#include "test/fakes/gce/fake.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "test/fakes/fake_httpd.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (1u << 20)

struct gce_config gce_cfg = {
    .project = "fake-project",
    .project_number = "123456789012",
    .region = "us-central1",
    .self_base = "https://www.googleapis.com/compute/v1/",
    .op_polls = 1,
    .op_ms = 10000,
    .token_lifetime_s = 3600,
    .metadata_sa = true,
};
pthread_mutex_t gce_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_listen g_listen = FAKE_LISTEN_INIT("fake-gce");

/* ---- shared helpers ---- */

void gce_error(struct gce_reply *r, int code, const char *domain, const char *reason,
               const char *fmt, ...)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object(),
                       *errs = json_object_new_array(), *e0 = json_object_new_object();
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gce_reply_clear(r);
    json_object_object_add(e0, "message", json_object_new_string(msg));
    json_object_object_add(e0, "domain", json_object_new_string(domain));
    json_object_object_add(e0, "reason", json_object_new_string(reason));
    json_object_array_add(errs, e0);
    json_object_object_add(e, "code", json_object_new_int(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(e, "errors", errs);
    json_object_object_add(o, "error", e);
    r->status = code;
    r->json = o;
}

void gce_reply_text(struct gce_reply *r, int status, const char *type, const char *text)
{
    free(r->text);
    r->text = strdup(text);
    r->status = status;
    r->content_type = type;
}

void gce_reply_clear(struct gce_reply *r)
{
    json_object_put(r->json);
    free(r->text);
    r->json = NULL;
    r->text = NULL;
    r->hdr_name = r->hdr_value = NULL;
}

void gce_timestamp(char out[40])
{
    struct timespec ts;
    struct tm tm;
    time_t t;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    /* GCE writes Pacific time; a fixed -08:00 names the same instant. */
    t = ts.tv_sec - 8 * 3600;
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.24s.%03d-08:00", base, (int)(ts.tv_nsec / 1000000) % 1000);
}

void gce_rand_hex(char *out, size_t n)
{
    unsigned char b[64];
    if (n > sizeof(b))
        n = sizeof(b);
    if (RAND_bytes(b, (int)n) != 1)
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)random();
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = 0;
}

void gce_new_id(char out[24])
{
    unsigned char b[8];
    uint64_t v = 0;
    if (RAND_bytes(b, sizeof(b)) != 1)
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)random();
    for (size_t i = 0; i < sizeof(b); i++)
        v = v << 8 | b[i];
    /* 19 digits, never a leading zero: ids are uint64 written as strings. */
    v = 1000000000000000000ull + v % 8000000000000000000ull;
    snprintf(out, 24, "%llu", (unsigned long long)v);
}

/* ---- HTTP ---- */

static enum MHD_Result send_reply(struct MHD_Connection *c, struct gce_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *body = "", *type = "application/json; charset=UTF-8";
    if (r->json)
        body = json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    else if (r->text) {
        body = r->text;
        type = r->content_type ? r->content_type : "text/plain";
    }
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        gce_reply_clear(r);
        return MHD_NO;
    }
    if (r->status != 204)
        MHD_add_response_header(resp, "Content-Type", type);
    if (r->hdr_name)
        MHD_add_response_header(resp, r->hdr_name, r->hdr_value);
    ret = MHD_queue_response(c, (unsigned)(r->status ? r->status : 500), resp);
    MHD_destroy_response(resp);
    gce_reply_clear(r);
    return ret;
}

static int set_config(struct json_object *in, char *err, size_t cap)
{
    const struct fake_int_setting keys[] = {
        {"op_polls", &gce_cfg.op_polls, 0, 1000},
        {"op_ms", &gce_cfg.op_ms, 0, 3600000},
        {"token_lifetime_s", &gce_cfg.token_lifetime_s, 1, 86400}};
    return fake_set_ints(in, keys, LBP_ARRAY_LEN(keys), err, cap);
}

static int set_quotas(struct json_object *in, char *err, size_t cap)
{
    json_object_object_foreach(in, k, v)
    {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            gce_compute_set_quota(k, (long)json_object_get_int64(v)) != 0) {
            snprintf(err, cap, "quota %s: a non-negative integer (at most 16 quotas)", k);
            return -1;
        }
    }
    return 0;
}

static void control(const char *method, const char *url, const struct fake_conn *cn,
                    struct gce_reply *r)
{
    static const struct fake_control tab[] = {
        {"/_fake/state", FAKE_GET, NULL, NULL, gce_compute_state},
        {"/_fake/faults", FAKE_ANY, gce_faults_set, NULL, gce_faults_get},
        {"/_fake/config", FAKE_POST, set_config, NULL, NULL},
        {"/_fake/quotas", FAKE_POST, set_quotas, NULL, gce_compute_quotas},
        {"/_fake/seed", FAKE_POST, gce_compute_seed, NULL, NULL},
        {"/_fake/counters", FAKE_GET, NULL, NULL, gce_counters},
        {"/_fake/counters/reset", FAKE_POST, NULL, gce_counters_reset, NULL},
    };
    char text[256];
    struct json_object *json;
    int status = fake_control_run(tab, LBP_ARRAY_LEN(tab), &gce_lock, method, url, cn, &json, text,
                                  sizeof(text));
    if (json) {
        r->status = status;
        r->json = json;
    } else {
        gce_reply_text(r, status, "text/plain", text);
    }
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* A Compute call; false when its reply is to be lost (the work is done). */
static bool compute(struct MHD_Connection *c, const char *method, const char *url,
                    const struct fake_conn *cn, struct gce_reply *r)
{
    struct gce_query q = {
        .max_results = arg(c, "maxResults"),
        .page_token = arg(c, "pageToken"),
        .filter = arg(c, "filter"),
        .order_by = arg(c, "orderBy"),
        .request_id = arg(c, "requestId"),
    };
    const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    int latency;
    bool lose = false;

    pthread_mutex_lock(&gce_lock);
    gce_count(method, url);
    latency = gce_fault_latency_ms();
    pthread_mutex_unlock(&gce_lock);
    if (latency)
        fake_sleep_ms(latency);
    pthread_mutex_lock(&gce_lock);
    if (gce_auth_check(authz, r) == 0 && !gce_fault_take(method, url, r)) {
        gce_compute(method, url, &q, fake_conn_body(cn), cn->body.len, r);
        lose = gce_fault_lose(method, r->status);
    }
    pthread_mutex_unlock(&gce_lock);
    return !lose;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct gce_reply r = {0};
    enum MHD_Result ret;
    struct fake_conn *cn = fake_conn_collect(con_cls, upload, upload_size, MAX_BODY, &ret);
    (void)cls;
    (void)version;
    if (!cn)
        return ret;
    if (cn->toobig) {
        gce_error(&r, 413, "global", "uploadTooLarge", "The request body is too large.");
    } else if (!strcmp(url, "/token")) {
        pthread_mutex_lock(&gce_lock);
        gce_auth_token_endpoint(method, fake_conn_body(cn), cn->body.len, &r);
        pthread_mutex_unlock(&gce_lock);
    } else if (!strcmp(url, "/v1/token")) {
        pthread_mutex_lock(&gce_lock);
        gce_auth_sts(method, fake_conn_body(cn), cn->body.len, &r);
        pthread_mutex_unlock(&gce_lock);
    } else if (!strncmp(url, "/v1/projects/", 13)) {
        pthread_mutex_lock(&gce_lock);
        gce_auth_impersonate(method, url,
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                             cn->body.data, &r);
        pthread_mutex_unlock(&gce_lock);
    } else if (!strcmp(url, "/") || !strncmp(url, "/computeMetadata/", 17)) {
        pthread_mutex_lock(&gce_lock);
        gce_auth_metadata(url, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Metadata-Flavor"),
                          arg(c, "scopes"), &r);
        pthread_mutex_unlock(&gce_lock);
    } else if (!strncmp(url, "/_fake/", 7)) {
        control(method, url, cn, &r);
    } else if (!compute(c, method, url, cn, &r)) {
        gce_reply_clear(&r);
        return MHD_NO; /* libmicrohttpd closes the connection without an answer */
    }
    if (g_listen.verbose)
        lbp_info("%s %s -> %d", method, url, r.status);
    return send_reply(c, &r);
}

static int parse_zones(const char *s)
{
    char buf[512], *save = NULL;
    if (strlen(s) >= sizeof(buf))
        return -1;
    snprintf(buf, sizeof(buf), "%s", s);
    gce_cfg.n_zones = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (gce_cfg.n_zones == GCE_MAX_ZONES || strlen(t) >= sizeof(gce_cfg.zones[0]))
            return -1;
        lbp_strlcpy(gce_cfg.zones[gce_cfg.n_zones++], t, sizeof(gce_cfg.zones[0]));
    }
    return gce_cfg.n_zones ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: fake-gce [options]\n"
               "  --port N                 listen port (0: pick a free one; default 0)\n"
               "  --port-file F            write the chosen port to F\n"
               "  --bind ADDR              IPv4 address to bind (default 127.0.0.1)\n"
               "  --project P              project id (default fake-project)\n"
               "  --region R               region (default us-central1)\n"
               "  --zones Z1,Z2,...        zones of the region (default R-a,R-b,R-c)\n"
               "  --write-credentials F    write a service-account key file the fake accepts\n"
               "  --op-polls N             polls an Operation stays PENDING/RUNNING (default 1)\n"
               "  --op-ms MS               an Operation is DONE this long after it began even\n"
               "                           unpolled (default 10000; 0: only polls finish it)\n"
               "  --token-lifetime S       access-token lifetime in seconds (default 3600)\n"
               "  --external-range CIDR    external addresses (default 203.0.113.0/24)\n"
               "  --internal-range CIDR    the default subnetwork (default 10.128.0.0/20)\n"
               "  --self-link-base URL     selfLink prefix (default "
               "https://www.googleapis.com/compute/v1/)\n"
               "  --no-metadata-sa         the metadata server has no service account (404)\n"
               "  --quota NAME=N           e.g. STATIC_ADDRESSES=8 (repeatable)\n"
               "  --instances N            create VMs node-0..node-N-1 over the zones at start\n"
               "  --subject-token T        the workload token STS (/v1/token) exchanges\n"
               "  --wif-audience A         the workload identity provider STS expects (default\n"
               "                           //iam.googleapis.com/projects/NUMBER/locations/global/\n"
               "                           workloadIdentityPools/lbprov/providers/lbprov)\n"
               "  --rate-limit N           the next N Compute calls: 403 rateLimitExceeded\n"
               "  --too-many-requests N    the next N Compute calls: 429\n"
               "  --server-errors N        the next N Compute calls: 503 backendError\n"
               "  --error-rate F           this fraction of Compute calls: 503\n"
               "  --throttle-rate F        this fraction: 403 rateLimitExceeded\n"
               "  --lost-reply-rate F      this fraction of accepted changes: no answer (the\n"
               "                           connection closes; the Operation was made)\n"
               "  --quota-exceeded N       the next N mutating calls: 403 quotaExceeded\n"
               "  --qps N                  calls beyond N in a second: 403 rateLimitExceeded\n"
               "  --stale-reads N          GET of a new resource 404s N times after its insert\n"
               "  --latency-ms N           delay every Compute call\n"
               "  -v                       log every request\n");
}

static int fault_flag(const char *key, const char *val)
{
    return fake_fault_flag("fake-gce", key, val, 1000000, gce_faults_set);
}

/* --instances N: VMs node-0..N-1 over the zones, tagged lbprov-node. */
static int seed_instances(long instances)
{
    struct json_object *seed = json_object_new_object(), *arr = json_object_new_array();
    char err[512];
    int rc;
    for (long i = 0; i < instances; i++) {
        struct json_object *in = json_object_new_object(), *tags = json_object_new_array();
        char name[32];
        snprintf(name, sizeof(name), "node-%ld", i);
        json_object_object_add(in, "name", json_object_new_string(name));
        json_object_object_add(in, "zone",
                               json_object_new_string(gce_cfg.zones[i % gce_cfg.n_zones]));
        json_object_array_add(tags, json_object_new_string("lbprov-node"));
        json_object_object_add(in, "tags", tags);
        json_object_array_add(arr, in);
    }
    json_object_object_add(seed, "instances", arr);
    pthread_mutex_lock(&gce_lock);
    rc = gce_compute_seed(seed, err, sizeof(err));
    pthread_mutex_unlock(&gce_lock);
    json_object_put(seed);
    if (rc)
        lbp_error("--instances: %s", err);
    return rc;
}

int main(int argc, char **argv)
{
    enum {
        O_PROJECT = 256,
        O_REGION,
        O_ZONES,
        O_CREDS,
        O_POLLS,
        O_OPMS,
        O_TOKLIFE,
        O_EXT,
        O_INT,
        O_BASE,
        O_NOSA,
        O_QUOTA,
        O_INSTANCES,
        O_SUBJECT,
        O_AUDIENCE,
    };
    static const struct fake_fault_flag fault_flags[] = {
        {"rate-limit", "rate_limit"},         {"too-many-requests", "too_many_requests"},
        {"server-errors", "server_errors"},   {"error-rate", "error_rate"},
        {"quota-exceeded", "quota_exceeded"}, {"qps", "qps"},
        {"stale-reads", "stale_reads"},       {"latency-ms", "latency_ms"},
        {"throttle-rate", "throttle_rate"},   {"lost-reply-rate", "lost_reply_rate"}};
    static const struct option own[] = {
        {"project", required_argument, NULL, O_PROJECT},
        {"region", required_argument, NULL, O_REGION},
        {"zones", required_argument, NULL, O_ZONES},
        {"write-credentials", required_argument, NULL, O_CREDS},
        {"op-polls", required_argument, NULL, O_POLLS},
        {"op-ms", required_argument, NULL, O_OPMS},
        {"token-lifetime", required_argument, NULL, O_TOKLIFE},
        {"external-range", required_argument, NULL, O_EXT},
        {"internal-range", required_argument, NULL, O_INT},
        {"self-link-base", required_argument, NULL, O_BASE},
        {"no-metadata-sa", no_argument, NULL, O_NOSA},
        {"quota", required_argument, NULL, O_QUOTA},
        {"instances", required_argument, NULL, O_INSTANCES},
        {"subject-token", required_argument, NULL, O_SUBJECT},
        {"wif-audience", required_argument, NULL, O_AUDIENCE},
        {NULL, 0, NULL, 0},
    };
    struct option opts[32];
    const char *creds = NULL, *zones = NULL;
    long v, instances = 0;
    int c, idx, rc = 1;
    bool auth_up = false, compute_up = false;

    if (fake_opts(opts, LBP_ARRAY_LEN(opts), own, fault_flags, LBP_ARRAY_LEN(fault_flags)) ||
        fake_parse_cidr("203.0.113.0/24", &gce_cfg.ext_base, &gce_cfg.ext_n) ||
        fake_parse_cidr("10.128.0.0/20", &gce_cfg.int_base, &gce_cfg.int_n))
        return 1;
    while ((idx = -1, c = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
        int taken = fake_listen_flag(&g_listen, c, optarg);
        if (taken < 0)
            goto bad;
        if (taken)
            continue;
        switch (c) {
        case O_PROJECT:
            if (fake_set_str(gce_cfg.project, sizeof(gce_cfg.project), optarg))
                goto bad;
            break;
        case O_REGION:
            if (fake_set_str(gce_cfg.region, sizeof(gce_cfg.region), optarg))
                goto bad;
            break;
        case O_ZONES:
            zones = optarg;
            break;
        case O_CREDS:
            creds = optarg;
            break;
        case O_POLLS:
            if (lbp_parse_long(optarg, 0, 1000, &v))
                goto bad;
            gce_cfg.op_polls = (int)v;
            break;
        case O_OPMS:
            if (lbp_parse_long(optarg, 0, 3600000, &v))
                goto bad;
            gce_cfg.op_ms = (int)v;
            break;
        case O_TOKLIFE:
            if (lbp_parse_long(optarg, 1, 86400, &v))
                goto bad;
            gce_cfg.token_lifetime_s = (int)v;
            break;
        case O_EXT:
            if (fake_parse_cidr(optarg, &gce_cfg.ext_base, &gce_cfg.ext_n))
                goto bad;
            break;
        case O_INT:
            if (fake_parse_cidr(optarg, &gce_cfg.int_base, &gce_cfg.int_n))
                goto bad;
            break;
        case O_BASE: {
            size_t n = strlen(optarg);
            if (n == 0 || n + 2 >= sizeof(gce_cfg.self_base))
                goto bad;
            snprintf(gce_cfg.self_base, sizeof(gce_cfg.self_base), "%s%s", optarg,
                     optarg[n - 1] == '/' ? "" : "/");
            break;
        }
        case O_NOSA:
            gce_cfg.metadata_sa = false;
            break;
        case O_QUOTA: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || lbp_parse_long(eq + 1, 0, 1000000, &v))
                goto bad;
            *eq = 0;
            if (gce_compute_set_quota(optarg, v))
                goto bad;
            break;
        }
        case O_INSTANCES:
            if (lbp_parse_long(optarg, 0, 100000, &instances))
                goto bad;
            break;
        case O_SUBJECT:
            if (fake_set_str(gce_cfg.subject_token, sizeof(gce_cfg.subject_token), optarg))
                goto bad;
            break;
        case O_AUDIENCE:
            if (fake_set_str(gce_cfg.wif_audience, sizeof(gce_cfg.wif_audience), optarg))
                goto bad;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (c >= FAKE_OPT_FAULT && c < FAKE_OPT_FAULT + (int)LBP_ARRAY_LEN(fault_flags)) {
                if (fault_flag(fault_flags[c - FAKE_OPT_FAULT].key, optarg))
                    goto bad;
                break;
            }
            goto bad;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "fake-gce: unexpected argument '%s'\n", argv[optind]);
        goto usage;
    }
    if (!gce_cfg.wif_audience[0])
        snprintf(gce_cfg.wif_audience, sizeof(gce_cfg.wif_audience),
                 "//iam.googleapis.com/projects/%s/locations/global/workloadIdentityPools/"
                 "lbprov/providers/lbprov",
                 gce_cfg.project_number);
    if (zones) {
        if (parse_zones(zones)) {
            fprintf(stderr, "fake-gce: --zones: at most %d comma-separated names\n", GCE_MAX_ZONES);
            goto usage;
        }
    } else {
        char def[256];
        snprintf(def, sizeof(def), "%s-a,%s-b,%s-c", gce_cfg.region, gce_cfg.region,
                 gce_cfg.region);
        if (parse_zones(def))
            goto bad;
    }
    if (fake_listen_prepare(&g_listen) != 0)
        goto usage;

    if (gce_auth_init() != 0) {
        lbp_error("cannot make an RSA key");
        goto out;
    }
    auth_up = true;
    if (gce_compute_init() != 0) {
        lbp_error("out of memory at start");
        goto out;
    }
    compute_up = true;
    if (fake_listen_start(&g_listen, on_request, NULL) != 0)
        goto out;
    snprintf(gce_cfg.token_uri, sizeof(gce_cfg.token_uri), "http://%s:%ld/token",
             strcmp(g_listen.bind_addr, "0.0.0.0") ? g_listen.bind_addr : "127.0.0.1",
             g_listen.port);
    if (instances > 0 && seed_instances(instances) != 0)
        goto out;
    if (creds && gce_auth_write_credentials(creds) != 0) {
        lbp_error("cannot write %s", creds);
        goto out;
    }
    if (fake_listen_serve(&g_listen) == 0)
        rc = 0;
out:
    fake_listen_stop(&g_listen);
    if (compute_up)
        gce_compute_free();
    if (auth_up)
        gce_auth_free();
    gce_faults_free();
    return rc;
bad:
    fake_bad_flag(&g_listen, c, opts, idx, optarg);
usage:
    usage(stderr);
    return 2;
}
