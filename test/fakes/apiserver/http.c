/*
 * http.c — libmicrohttpd glue and request routing.
 *
 * MHD runs one thread per connection, so a watch (a streaming response
 * whose reader blocks on fake_cond) never holds up other clients. A request
 * body is collected up to 3 MiB (the real server's limit; more is a 413),
 * then the path is parsed into group/version/[namespace]/resource/name/sub,
 * checked for auth, counted and offered to the fault injector, and handed to
 * the store or the watch code. /_fake/ is the control endpoint and skips
 * auth and faults. With --authorization-mode=RBAC every other request,
 * discovery included, goes through rbac.c between authentication and routing,
 * as in kube-apiserver's filter chain (so an unknown resource is 403 before
 * it is 404).
 */
#include "fake.h"
#include "common/log.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reqctx {
    struct lbp_buf body;
    bool toobig;
};

static enum MHD_Result send_reply(struct MHD_Connection *c, struct fake_reply *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                        r->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        r->body = NULL;
        return MHD_NO;
    }
    r->body = NULL;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
    if (r->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool copy_seg(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* Splits "/api/v1/..." or "/apis/G/V/..." into q; false when it is not a resource path. */
static bool parse_path(const char *url, struct fake_req *q)
{
    const char *rest;
    if (strncmp(url, "/api/v1/", 8) == 0) {
        q->group[0] = '\0';
        lbp_strlcpy(q->version, "v1", sizeof(q->version));
        rest = url + 7;
    } else if (strncmp(url, "/apis/", 6) == 0) {
        const char *g = url + 6, *s1 = strchr(g, '/');
        if (!s1 || !copy_seg(q->group, sizeof(q->group), g, (size_t)(s1 - g)))
            return false;
        const char *v = s1 + 1, *s2 = strchr(v, '/');
        if (!s2 || !copy_seg(q->version, sizeof(q->version), v, (size_t)(s2 - v)))
            return false;
        rest = s2;
    } else {
        return false;
    }
    const char *seg[6];
    size_t len[6];
    int n = 0;
    while (*rest == '/' && rest[1]) {
        if (n >= 6)
            return false;
        const char *s = rest + 1, *e = strchr(s, '/');
        seg[n] = s;
        len[n] = e ? (size_t)(e - s) : strlen(s);
        n++;
        rest = s + len[n - 1];
    }
    if (*rest && strcmp(rest, "/") != 0)
        return false;
    int i = 0;
    if (n >= 3 && len[0] == 10 && strncmp(seg[0], "namespaces", 10) == 0) {
        if (!copy_seg(q->ns, sizeof(q->ns), seg[1], len[1]))
            return false;
        q->has_ns = true;
        i = 2;
    }
    if (i >= n || !copy_seg(q->resource, sizeof(q->resource), seg[i], len[i]))
        return false;
    if (i + 1 < n && !copy_seg(q->name, sizeof(q->name), seg[i + 1], len[i + 1]))
        return false;
    if (i + 2 < n && !copy_seg(q->sub, sizeof(q->sub), seg[i + 2], len[i + 2]))
        return false;
    return i + 3 >= n;
}

static bool truthy(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/*
 * Upstream's RequestInfo for the authorizer: the verb from method, name and
 * ?watch; a list or watch filtered to one metadata.name counts as naming it
 * (so resourceNames rules can allow it); a Namespace is in its own namespace.
 */
static bool authorize(struct MHD_Connection *c, const char *method, const char *url,
                      const struct fake_user *who, bool resource_request, const struct fake_req *q,
                      struct fake_reply *r)
{
    char verb[32], path[512];
    struct fake_authz a = {.user = who ? who : fake_auth_anonymous(),
                           .verb = verb,
                           .resource_request = resource_request,
                           .group = "",
                           .resource = "",
                           .sub = "",
                           .ns = "",
                           .name = "",
                           .path = path};
    struct fake_sel *sel = NULL;
    size_t i;
    for (i = 0; method[i] && i + 1 < sizeof(verb); i++)
        verb[i] = (char)(method[i] >= 'A' && method[i] <= 'Z' ? method[i] + 32 : method[i]);
    verb[i] = '\0';
    lbp_strlcpy(path, url, sizeof(path));
    if (resource_request) {
        const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
        const char *fs = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector");
        char err[128];
        a.group = q->group;
        a.resource = q->resource;
        a.sub = q->sub;
        a.ns = q->ns;
        a.name = q->name;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            lbp_strlcpy(verb, q->name[0] ? "get" : truthy(watch) ? "watch" : "list", sizeof(verb));
        else if (strcmp(method, "POST") == 0)
            lbp_strlcpy(verb, "create", sizeof(verb));
        else if (strcmp(method, "PUT") == 0)
            lbp_strlcpy(verb, "update", sizeof(verb));
        else if (strcmp(method, "DELETE") == 0)
            lbp_strlcpy(verb, q->name[0] ? "delete" : "deletecollection", sizeof(verb));
        if (!q->name[0] && (strcmp(verb, "list") == 0 || strcmp(verb, "watch") == 0) && fs &&
            fake_sel_parse(fs, true, &sel, err, sizeof(err)) == 0 && sel &&
            fake_sel_exact(sel, "metadata.name"))
            a.name = fake_sel_exact(sel, "metadata.name");
        if (!q->group[0] && strcmp(q->resource, "namespaces") == 0 && q->name[0] && !q->has_ns)
            a.ns = q->name;
    }
    bool ok = fake_rbac_authorize(&a, r);
    fake_sel_free(sel);
    return ok;
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method,
                             struct reqctx *rc)
{
    struct fake_req q;
    struct fake_reply r = {0};
    memset(&q, 0, sizeof(q));
    r.code = 500;

    if (strncmp(url, "/_fake/", 7) == 0) {
        fake_control(method, url, rc->body.data ? rc->body.data : "", rc->body.len, &r);
        return send_reply(c, &r);
    }
    const struct fake_user *who =
        fake_auth_lookup(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
    if (fake_auth_enabled() && !who) {
        fake_reply_status(&r, 401, "Unauthorized", "Unauthorized", NULL, NULL, NULL);
        return send_reply(c, &r);
    }
    q.user = who ? who->name : NULL;
    if (rc->toobig) {
        char msg[96];
        snprintf(msg, sizeof(msg), "Request entity too large: limit is %u", FAKE_MAX_BODY);
        fake_reply_status(&r, 413, "RequestEntityTooLarge", msg, NULL, NULL, NULL);
        return send_reply(c, &r);
    }
    bool resource_request = parse_path(url, &q);
    if (fake_cfg.rbac && !authorize(c, method, url, who, resource_request, &q, &r))
        return send_reply(c, &r);
    if (!resource_request && strcmp(method, "GET") == 0 && fake_discovery(url, &r))
        return send_reply(c, &r);
    if (r.body) {
        free(r.body);
        r.body = NULL;
    }
    if (!resource_request) {
        fake_reply_status(&r, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL);
        return send_reply(c, &r);
    }
    pthread_mutex_lock(&fake_lock);
    q.rt = fake_rtype_lookup(q.group, q.version, q.resource, true);
    if (q.rt && q.rt->custom && q.rt->count == 0 && strcmp(method, "POST") == 0)
        q.rt->namespaced = q.has_ns; /* a new custom type takes its scope from first use */
    pthread_mutex_unlock(&fake_lock);
    if (!q.rt || (q.has_ns && !q.rt->namespaced) || (q.sub[0] && strcmp(q.sub, "status") != 0) ||
        (q.sub[0] && !q.rt->has_status) || (!q.has_ns && q.rt->namespaced && q.name[0])) {
        fake_reply_status(&r, 404, "NotFound", "the server could not find the requested resource",
                          NULL, NULL, NULL);
        return send_reply(c, &r);
    }
    const char *watch = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "watch");
    if (strcmp(method, "GET") == 0)
        q.verb = q.name[0] ? V_GET : truthy(watch) ? V_WATCH : V_LIST;
    else if (strcmp(method, "POST") == 0 && !q.name[0])
        q.verb = V_POST;
    else if (strcmp(method, "PUT") == 0 && q.name[0])
        q.verb = V_PUT;
    else if (strcmp(method, "PATCH") == 0 && q.name[0])
        q.verb = V_PATCH;
    else if (strcmp(method, "DELETE") == 0 && q.name[0])
        q.verb = V_DELETE;
    else
        q.verb = V_OTHER;
    if (q.sub[0] && q.verb != V_GET && q.verb != V_PUT && q.verb != V_PATCH)
        q.verb = V_OTHER;
    q.label_selector = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "labelSelector");
    q.field_selector = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "fieldSelector");
    q.rv = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "resourceVersion");
    q.cont = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "continue");
    q.timeout_s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timeoutSeconds");
    q.bookmarks =
        truthy(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "allowWatchBookmarks"));
    q.send_initial_events =
        truthy(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "sendInitialEvents"));
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (limit && *limit && lbp_parse_long(limit, 0, 1000000000L, &q.limit)) {
        fake_reply_status(&r, 400, "BadRequest", "limit must be a non-negative integer", NULL, NULL,
                          NULL);
        return send_reply(c, &r);
    }
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    q.table = accept && strstr(accept, "as=Table") &&
              (q.verb == V_LIST || q.verb == V_GET || q.verb == V_WATCH);
    q.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    q.user_agent = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    q.body = rc->body.data ? rc->body.data : "";
    q.body_len = rc->body.len;

    if (q.verb == V_OTHER) {
        fake_reply_status(&r, 405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource", NULL,
                          NULL, NULL);
        return send_reply(c, &r);
    }
    if ((q.verb == V_POST || q.verb == V_PUT) && q.content_type && *q.content_type &&
        strncmp(q.content_type, "application/json", 16) != 0) {
        /* Protobuf and YAML bodies are not decoded; say so as a server without them would. */
        fake_reply_status(&r, 415, "UnsupportedMediaType",
                          "the body of the request was in an unknown format - accepted media "
                          "types include: application/json",
                          NULL, NULL, NULL);
        return send_reply(c, &r);
    }
    enum fake_fault_result f = fake_faults_check(&q, &r);
    if (f == FAULT_REPLIED)
        return send_reply(c, &r);
    switch (q.verb) {
    case V_WATCH: {
        struct MHD_Response *resp;
        int gone = f == FAULT_GONE_EVENT ? 1 : f == FAULT_GONE_HTTP ? 2 : 0;
        if (fake_watch_open(&q, c, gone, &resp, &r))
            return send_reply(c, &r);
        enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    case V_LIST:
        fake_store_list(&q, &r);
        break;
    case V_GET:
        fake_store_get(&q, &r);
        break;
    case V_POST:
        fake_store_create(&q, &r);
        break;
    case V_PUT:
        fake_store_update(&q, &r);
        break;
    case V_PATCH:
        fake_store_patch(&q, &r);
        break;
    case V_DELETE:
        fake_store_delete(&q, &r);
        break;
    default:
        break;
    }
    lbp_v(1, "%s %s -> %d", method, url, r.code);
    return send_reply(c, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct reqctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof(*rc));
        if (!rc)
            return MHD_NO;
        lbp_buf_init(&rc->body, FAKE_MAX_BODY);
        *con_cls = rc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!rc->toobig && lbp_buf_add(&rc->body, upload, *upload_size)) {
            rc->toobig = true;
            lbp_buf_free(&rc->body);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(c, url, method, rc);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct reqctx *rc = *con_cls;
    if (rc) {
        lbp_buf_free(&rc->body);
        free(rc);
        *con_cls = NULL;
    }
}

struct MHD_Daemon *fake_http_start(const char *bind_addr, int port, const char *cert,
                                   const char *key, int *bound_port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        lbp_error("--bind %s: not an IPv4 address", bind_addr);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d;
    if (cert)
        d = MHD_start_daemon(flags | MHD_USE_TLS, 0, NULL, NULL, on_request, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                             MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                             (size_t)256 * 1024, MHD_OPTION_HTTPS_MEM_CERT, cert,
                             MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, 4000u,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024, MHD_OPTION_END);
    if (!d)
        return NULL;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return d;
}
