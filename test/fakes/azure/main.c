/*
 * main.c — fake-azure: flags, the HTTP server (libmicrohttpd, a thread per
 * connection), routing, the /_fake/ control endpoint and clean shutdown.
 *
 * Routes: POST /{tenant}/oauth2/v2.0/token (Azure AD), GET
 * /metadata/identity/oauth2/token (IMDS managed identity), /_fake/...
 * (control, no auth), and everything else is Azure Resource Manager (Bearer
 * token required). Prints "listening on http://ADDR:PORT" as its first
 * stdout line once it accepts connections (and writes the port to
 * --port-file), then waits for SIGTERM/SIGINT. See README.md.
 */
#include "test/fakes/azure/fake.h"
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
#include <strings.h>
#include <time.h>

#define MAX_BODY (4u << 20)

struct az_config az_cfg = {
    .tenant = "11111111-1111-1111-1111-111111111111",
    .client_id = "22222222-2222-2222-2222-222222222222",
    .client_secret = "fake-azure-client-secret",
    .subscription = "00000000-0000-0000-0000-000000000000",
    .location = "eastus",
    .resource_group = "lbprov-rg",
    .fed_issuer = "https://oidc.fake-azure.test/",
    .fed_subject = "system:serviceaccount:kube-system:lbprov-controller",
    .msi_client_id = "33333333-3333-3333-3333-333333333333",
    .msi_system = true,
    .op_polls = 0,
    .op_ms = 10000,
    .retry_after_s = 1,
    .token_lifetime_s = 3599,
    .max_lb_frontends = 600,
    .max_lb_rules = 1500,
    .max_nic_rules = 299,
    .max_nsg_rules = 1000,
};
pthread_mutex_t az_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_listen g_listen = FAKE_LISTEN_INIT("fake-azure");

/* ---- shared helpers ---- */

void az_error(struct az_reply *r, int status, const char *code, const char *fmt, ...)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_object_put(r->json);
    free(r->text);
    r->json = NULL;
    r->text = NULL;
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(o, "error", e);
    r->status = status;
    r->json = o;
}

void az_hdr(struct az_reply *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    size_t i = 0;
    /* A header set twice keeps the last value. */
    while (i < r->n_hdr && strcasecmp(r->hdr[i].name, name) != 0)
        i++;
    if (i == AZ_MAX_HDRS)
        return;
    lbp_strlcpy(r->hdr[i].name, name, sizeof(r->hdr[i].name));
    va_start(ap, fmt);
    vsnprintf(r->hdr[i].value, sizeof(r->hdr[i].value), fmt, ap);
    va_end(ap);
    if (i == r->n_hdr)
        r->n_hdr++;
}

void az_reply_text(struct az_reply *r, int status, const char *type, const char *text)
{
    free(r->text);
    r->text = strdup(text);
    r->status = status;
    r->content_type = type;
}

void az_reply_clear(struct az_reply *r)
{
    json_object_put(r->json);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

void az_rand_hex(char *out, size_t n)
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

void az_guid(char out[37])
{
    char h[33];
    az_rand_hex(h, 16);
    /* Version 4, variant 10xx, as Azure's GUIDs are. */
    h[12] = '4';
    h[16] = "89ab"[h[16] % 4];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

const char *az_js(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

/* ---- HTTP ---- */

static enum MHD_Result send_reply(struct MHD_Connection *c, struct az_reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *body = "", *type = "application/json; charset=utf-8";
    if (r->json)
        body = json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
    else if (r->text) {
        body = r->text;
        type = r->content_type ? r->content_type : "text/plain";
    }
    resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        az_reply_clear(r);
        return MHD_NO;
    }
    if (r->json || r->text)
        MHD_add_response_header(resp, "Content-Type", type);
    /* ARM answers are never cacheable. */
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    for (size_t i = 0; i < r->n_hdr; i++)
        MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
    ret = MHD_queue_response(c, (unsigned)(r->status ? r->status : 500), resp);
    MHD_destroy_response(resp);
    az_reply_clear(r);
    return ret;
}

static int set_config(struct json_object *in, char *err, size_t cap)
{
    const struct fake_int_setting keys[] = {
        {"op_polls", &az_cfg.op_polls, 0, 1000},
        {"op_ms", &az_cfg.op_ms, 0, 3600000},
        {"retry_after_s", &az_cfg.retry_after_s, 0, 3600},
        {"token_lifetime_s", &az_cfg.token_lifetime_s, 1, 86400},
        {"max_lb_frontends", &az_cfg.max_lb_frontends, 0, 1000000},
        {"max_lb_rules", &az_cfg.max_lb_rules, 0, 1000000},
        {"max_nic_rules", &az_cfg.max_nic_rules, 0, 1000000},
        {"max_nsg_rules", &az_cfg.max_nsg_rules, 0, 1000000}};
    return fake_set_ints(in, keys, LBP_ARRAY_LEN(keys), err, cap);
}

static void control(const char *method, const char *url, const struct fake_conn *cn,
                    struct az_reply *r)
{
    static const struct fake_control tab[] = {
        {"/_fake/state", FAKE_GET, NULL, NULL, az_arm_state},
        {"/_fake/faults", FAKE_ANY, az_faults_set, NULL, az_faults_get},
        {"/_fake/config", FAKE_POST, set_config, NULL, NULL},
        {"/_fake/seed", FAKE_POST, az_arm_seed, NULL, NULL},
        {"/_fake/tokens/expire", FAKE_POST, NULL, az_auth_expire_all, NULL},
        {"/_fake/counters", FAKE_GET, NULL, NULL, az_counters},
        {"/_fake/counters/reset", FAKE_POST, NULL, az_counters_reset, NULL},
    };
    char text[512];
    struct json_object *json;
    int status = fake_control_run(tab, LBP_ARRAY_LEN(tab), &az_lock, method, url, cn, &json, text,
                                  sizeof(text));
    if (json) {
        r->status = status;
        r->json = json;
    } else {
        az_reply_text(r, status, "text/plain", text);
    }
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *hdr(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* An ARM call; false when its (accepted) answer is to be lost instead of sent. */
static bool arm(struct MHD_Connection *c, const char *method, const char *url,
                const struct fake_conn *cn, struct az_reply *r)
{
    struct az_req q = {
        .method = method,
        .path = url,
        .api_version = arg(c, "api-version"),
        .host = hdr(c, "Host"),
        .if_match = hdr(c, "If-Match"),
        .if_none_match = hdr(c, "If-None-Match"),
        .body = fake_conn_body(cn),
        .body_len = cn->body.len,
    };
    int latency;
    bool lose = false;

    if (!q.host || !*q.host)
        q.host = az_cfg.self_host;
    pthread_mutex_lock(&az_lock);
    latency = az_fault_latency_ms();
    pthread_mutex_unlock(&az_lock);
    if (latency)
        fake_sleep_ms(latency);
    pthread_mutex_lock(&az_lock);
    if (az_auth_check(hdr(c, "Authorization"), r) == 0 && !az_fault_take(&q, r)) {
        az_arm(&q, r);
        /* Another client writes the LB just after this one read it. */
        if (r->status == 200 && az_fault_conflict(method, url))
            az_arm_touch(url);
        lose = az_fault_lose(method, r->status);
    }
    if (r->status != 401)
        az_budget_headers(method, r);
    az_count(method, url, r->status);
    pthread_mutex_unlock(&az_lock);
    return !lose;
}

/* "/{tenant}/oauth2/v2.0/token": the tenant, or NULL for another path. */
static const char *token_tenant(const char *url, char *out, size_t cap)
{
    const char *slash, *suffix = "/oauth2/v2.0/token";
    if (url[0] != '/' || !(slash = strchr(url + 1, '/')) || strcmp(slash, suffix) != 0 ||
        (size_t)(slash - url - 1) >= cap || slash == url + 1)
        return NULL;
    snprintf(out, cap, "%.*s", (int)(slash - url - 1), url + 1);
    return out;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct az_reply r = {0};
    char tenant[128];
    enum MHD_Result ret;
    struct fake_conn *cn = fake_conn_collect(con_cls, upload, upload_size, MAX_BODY, &ret);
    (void)cls;
    (void)version;
    if (!cn)
        return ret;
    if (cn->toobig) {
        az_error(&r, 413, "RequestEntityTooLarge", "The request content size exceeds the limit.");
    } else if (token_tenant(url, tenant, sizeof(tenant))) {
        pthread_mutex_lock(&az_lock);
        az_auth_token(method, tenant, hdr(c, "Content-Type"), fake_conn_body(cn), cn->body.len, &r);
        az_count(method, "token", r.status);
        pthread_mutex_unlock(&az_lock);
    } else if (!strcmp(url, "/metadata/identity/oauth2/token")) {
        pthread_mutex_lock(&az_lock);
        az_auth_imds(method, hdr(c, "Metadata"), arg(c, "api-version"), arg(c, "resource"),
                     arg(c, "client_id"), arg(c, "object_id"), arg(c, "msi_res_id"), &r);
        az_count(method, "imds", r.status);
        pthread_mutex_unlock(&az_lock);
    } else if (!strncmp(url, "/_fake/", 7)) {
        control(method, url, cn, &r);
    } else if (!arm(c, method, url, cn, &r)) {
        az_reply_clear(&r);
        return MHD_NO; /* libmicrohttpd closes the connection without an answer */
    }
    if (g_listen.verbose)
        lbp_info("%s %s -> %d", method, url, r.status);
    return send_reply(c, &r);
}

/* ---- start-up ---- */

static void usage(FILE *f)
{
    fprintf(
        f, "usage: fake-azure [options]\n"
           "  --port N                 listen port (0: pick a free one; default 0)\n"
           "  --port-file F            write the chosen port to F\n"
           "  --bind ADDR              IPv4 address to bind (default 127.0.0.1)\n"
           "  --tenant-id T            Azure AD tenant (default 11111111-...)\n"
           "  --client-id C            the application (client) id AAD knows (22222222-...)\n"
           "  --client-secret S        its secret (default fake-azure-client-secret)\n"
           "  --subscription-id S      the one subscription (default 00000000-...)\n"
           "  --location L             region of made resources (default eastus)\n"
           "  --resource-group RG      resource group --nodes fills (default lbprov-rg)\n"
           "  --nodes N                at start: RG, vnet, subnet, NSG, VMs node-0..N-1 with NICs\n"
           "  --op-polls N             polls an async operation stays InProgress (default 0)\n"
           "  --op-ms MS               ...or until this old (default 10000; 0: polls only)\n"
           "  --retry-after S          Retry-After on async replies (default 1)\n"
           "  --token-lifetime S       access-token lifetime in seconds (default 3599)\n"
           "  --public-range CIDR      public IP addresses (default 203.0.113.0/24)\n"
           "  --max-lb-frontends N     frontend IP configurations per load balancer (600)\n"
           "  --max-lb-rules N         load-balancing + NAT rules per load balancer (1500)\n"
           "  --max-nic-rules N        NAT + load-balancing rules per NIC ip configuration (299)\n"
           "  --max-nsg-rules N        security rules per security group (1000)\n"
           "  --write-federated-key F  write the OIDC issuer's RSA private key (PEM)\n"
           "  --write-federated-token F  write a workload token (JWT) AAD accepts\n"
           "  --federated-issuer I     issuer AAD trusts (default https://oidc.fake-azure.test/)\n"
           "  --federated-subject S    subject AAD trusts (default\n"
           "                           system:serviceaccount:kube-system:lbprov-controller)\n"
           "  --msi-client-id C        IMDS user-assigned identity by client_id\n"
           "  --msi-res-id ID          ...and by msi_res_id\n"
           "  --no-system-identity     IMDS has no system-assigned identity\n"
           "  --throttle N             the next N ARM calls: 429 TooManyRequests\n"
           "  --throttle-rate F        this fraction of ARM calls: 429\n"
           "  --server-errors N        the next N ARM calls: 500 InternalServerError\n"
           "  --error-rate F           this fraction of ARM calls: 500\n"
           "  --lost-reply-rate F      this fraction of accepted writes: no answer (the\n"
           "                           connection closes; the write took effect)\n"
           "  --conflicts N            the next N GETs of a load balancer are followed by\n"
           "                           another writer's change to it\n"
           "  --op-failures N          the next N async operations end Failed\n"
           "  --latency-ms N           delay every ARM call\n"
           "  --reads-budget N         reads per window (default 12000)\n"
           "  --writes-budget N        writes per window (default 1200)\n"
           "  --deletes-budget N       deletes per window (default 15000)\n"
           "  --budget-window S        budget window in seconds (default 3600)\n"
           "  -v                       log every request\n");
}

static int fault_flag(const char *key, const char *val)
{
    return fake_fault_flag("fake-azure", key, val, 100000000, az_faults_set);
}

int main(int argc, char **argv)
{
    enum {
        O_TENANT = 256,
        O_CLIENT,
        O_SECRET,
        O_SUB,
        O_LOC,
        O_RG,
        O_NODES,
        O_POLLS,
        O_OPMS,
        O_RETRY,
        O_TOKLIFE,
        O_PUB,
        O_FEDKEY,
        O_FEDTOK,
        O_FEDISS,
        O_FEDSUB,
        O_MSICID,
        O_MSIRES,
        O_NOSYS,
        O_MAX_FE,
        O_MAX_RULES,
        O_MAX_NIC,
        O_MAX_NSG,
    };
    static const struct fake_fault_flag fault_flags[] = {{"throttle", "throttle"},
                                                         {"throttle-rate", "throttle_rate"},
                                                         {"server-errors", "server_errors"},
                                                         {"error-rate", "error_rate"},
                                                         {"lost-reply-rate", "lost_reply_rate"},
                                                         {"conflicts", "conflicts"},
                                                         {"op-failures", "op_failures"},
                                                         {"latency-ms", "latency_ms"},
                                                         {"reads-budget", "reads_budget"},
                                                         {"writes-budget", "writes_budget"},
                                                         {"deletes-budget", "deletes_budget"},
                                                         {"budget-window", "budget_window_s"}};
    static const struct option own[] = {
        {"tenant-id", required_argument, NULL, O_TENANT},
        {"client-id", required_argument, NULL, O_CLIENT},
        {"client-secret", required_argument, NULL, O_SECRET},
        {"subscription-id", required_argument, NULL, O_SUB},
        {"location", required_argument, NULL, O_LOC},
        {"resource-group", required_argument, NULL, O_RG},
        {"nodes", required_argument, NULL, O_NODES},
        {"op-polls", required_argument, NULL, O_POLLS},
        {"op-ms", required_argument, NULL, O_OPMS},
        {"retry-after", required_argument, NULL, O_RETRY},
        {"token-lifetime", required_argument, NULL, O_TOKLIFE},
        {"public-range", required_argument, NULL, O_PUB},
        {"write-federated-key", required_argument, NULL, O_FEDKEY},
        {"write-federated-token", required_argument, NULL, O_FEDTOK},
        {"federated-issuer", required_argument, NULL, O_FEDISS},
        {"federated-subject", required_argument, NULL, O_FEDSUB},
        {"msi-client-id", required_argument, NULL, O_MSICID},
        {"msi-res-id", required_argument, NULL, O_MSIRES},
        {"no-system-identity", no_argument, NULL, O_NOSYS},
        {"max-lb-frontends", required_argument, NULL, O_MAX_FE},
        {"max-lb-rules", required_argument, NULL, O_MAX_RULES},
        {"max-nic-rules", required_argument, NULL, O_MAX_NIC},
        {"max-nsg-rules", required_argument, NULL, O_MAX_NSG},
        {NULL, 0, NULL, 0},
    };
    struct option opts[48];
    const char *fed_key = NULL, *fed_tok = NULL;
    long v, nodes = 0;
    int c, idx, rc = 1;
    bool auth_up = false, arm_up = false;

    if (fake_opts(opts, LBP_ARRAY_LEN(opts), own, fault_flags, LBP_ARRAY_LEN(fault_flags)) ||
        fake_parse_cidr("203.0.113.0/24", &az_cfg.pub_base, &az_cfg.pub_n))
        return 1;
    while ((idx = -1, c = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
        int taken = fake_listen_flag(&g_listen, c, optarg);
        if (taken < 0)
            goto bad;
        if (taken)
            continue;
        switch (c) {
        case O_TENANT:
            if (fake_set_str(az_cfg.tenant, sizeof(az_cfg.tenant), optarg))
                goto bad;
            break;
        case O_CLIENT:
            if (fake_set_str(az_cfg.client_id, sizeof(az_cfg.client_id), optarg))
                goto bad;
            break;
        case O_SECRET:
            if (fake_set_str(az_cfg.client_secret, sizeof(az_cfg.client_secret), optarg))
                goto bad;
            break;
        case O_SUB:
            if (fake_set_str(az_cfg.subscription, sizeof(az_cfg.subscription), optarg))
                goto bad;
            break;
        case O_LOC:
            if (fake_set_str(az_cfg.location, sizeof(az_cfg.location), optarg))
                goto bad;
            break;
        case O_RG:
            if (fake_set_str(az_cfg.resource_group, sizeof(az_cfg.resource_group), optarg))
                goto bad;
            break;
        case O_NODES:
            if (lbp_parse_long(optarg, 0, 10000, &nodes))
                goto bad;
            break;
        case O_POLLS:
            if (lbp_parse_long(optarg, 0, 1000, &v))
                goto bad;
            az_cfg.op_polls = (int)v;
            break;
        case O_OPMS:
            if (lbp_parse_long(optarg, 0, 3600000, &v))
                goto bad;
            az_cfg.op_ms = (int)v;
            break;
        case O_RETRY:
            if (lbp_parse_long(optarg, 0, 3600, &v))
                goto bad;
            az_cfg.retry_after_s = (int)v;
            break;
        case O_TOKLIFE:
            if (lbp_parse_long(optarg, 1, 86400, &v))
                goto bad;
            az_cfg.token_lifetime_s = (int)v;
            break;
        case O_PUB:
            if (fake_parse_cidr(optarg, &az_cfg.pub_base, &az_cfg.pub_n))
                goto bad;
            break;
        case O_MAX_FE:
        case O_MAX_RULES:
        case O_MAX_NIC:
        case O_MAX_NSG:
            if (lbp_parse_long(optarg, 0, 1000000, &v))
                goto bad;
            *(c == O_MAX_FE      ? &az_cfg.max_lb_frontends
              : c == O_MAX_RULES ? &az_cfg.max_lb_rules
              : c == O_MAX_NIC   ? &az_cfg.max_nic_rules
                                 : &az_cfg.max_nsg_rules) = (int)v;
            break;
        case O_FEDKEY:
            fed_key = optarg;
            break;
        case O_FEDTOK:
            fed_tok = optarg;
            break;
        case O_FEDISS:
            if (fake_set_str(az_cfg.fed_issuer, sizeof(az_cfg.fed_issuer), optarg))
                goto bad;
            break;
        case O_FEDSUB:
            if (fake_set_str(az_cfg.fed_subject, sizeof(az_cfg.fed_subject), optarg))
                goto bad;
            break;
        case O_MSICID:
            if (fake_set_str(az_cfg.msi_client_id, sizeof(az_cfg.msi_client_id), optarg))
                goto bad;
            break;
        case O_MSIRES:
            if (fake_set_str(az_cfg.msi_res_id, sizeof(az_cfg.msi_res_id), optarg))
                goto bad;
            break;
        case O_NOSYS:
            az_cfg.msi_system = false;
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
        fprintf(stderr, "fake-azure: unexpected argument '%s'\n", argv[optind]);
        goto usage;
    }
    if (fake_listen_prepare(&g_listen) != 0)
        goto usage;

    if (az_auth_init() != 0) {
        lbp_error("cannot make an RSA key");
        goto out;
    }
    auth_up = true;
    if (az_arm_init() != 0) {
        lbp_error("out of memory at start");
        goto out;
    }
    arm_up = true;
    if (nodes > 0) {
        char err[512];
        pthread_mutex_lock(&az_lock);
        rc = az_arm_seed_nodes(nodes, err, sizeof(err));
        pthread_mutex_unlock(&az_lock);
        if (rc) {
            lbp_error("--nodes: %s", err);
            rc = 1;
            goto out;
        }
        rc = 1;
    }
    if (fake_listen_start(&g_listen, on_request, NULL) != 0)
        goto out;
    snprintf(az_cfg.self_host, sizeof(az_cfg.self_host), "%s:%ld",
             strcmp(g_listen.bind_addr, "0.0.0.0") ? g_listen.bind_addr : "127.0.0.1",
             g_listen.port);
    if (fed_key && az_auth_write_key(fed_key) != 0) {
        lbp_error("cannot write %s", fed_key);
        goto out;
    }
    if (fed_tok && az_auth_write_token(fed_tok) != 0) {
        lbp_error("cannot write %s", fed_tok);
        goto out;
    }
    if (fake_listen_serve(&g_listen) == 0)
        rc = 0;
out:
    fake_listen_stop(&g_listen);
    if (arm_up)
        az_arm_free();
    if (auth_up)
        az_auth_free();
    az_counters_reset();
    return rc;
bad:
    fake_bad_flag(&g_listen, c, opts, idx, optarg);
usage:
    usage(stderr);
    return 2;
}
