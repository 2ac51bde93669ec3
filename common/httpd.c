/*
 * httpd.c — route table over libmicrohttpd's internal polling thread.
 *
 * Requests are matched on the exact path (query string ignored); bodies
 * are collected up to a cap across MHD's upload callbacks and handed to
 * the handler in one piece. Handlers run on the server thread, so they
 * must be quick and thread-safe.
 */
#include "common/httpd.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTPD_MAX_ROUTES 16
#define HTTPD_MAX_BODY (64 * 1024)
#define HTTPD_MAX_RESPONSE (64 * 1024 * 1024)

struct route {
    char *path;
    lbp_httpd_fn fn;
    void *ctx;
};

struct lbp_httpd {
    struct MHD_Daemon *d;
    struct sockaddr_storage addr;
    struct route routes[HTTPD_MAX_ROUTES];
    size_t n_routes;
    int port;
};

static int parse_bind(const char *bind, struct sockaddr_storage *ss)
{
    char host[128];
    const char *colon = strrchr(bind, ':');
    long port;
    size_t hl;
    memset(ss, 0, sizeof(*ss));
    if (!colon || lbp_parse_long(colon + 1, 0, 65535, &port))
        return LBP_PARSE;
    hl = (size_t)(colon - bind);
    if (hl >= sizeof(host))
        return LBP_PARSE;
    memcpy(host, bind, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    /* "localhost" is a request to stay off the network, not a name to resolve. */
    if (strcmp(host, "localhost") == 0)
        memcpy(host, "127.0.0.1", sizeof("127.0.0.1"));
    if (!host[0] || strcmp(host, "0.0.0.0") == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_port = htons((uint16_t)port);
        return LBP_OK;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        return LBP_OK;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return LBP_OK;
    }
    return LBP_PARSE;
}

int lbp_httpd_new(const char *bind, struct lbp_httpd **out, char *err, size_t errlen)
{
    struct lbp_httpd *h = calloc(1, sizeof(*h));
    if (!h)
        return LBP_NOMEM;
    if (parse_bind(bind, &h->addr)) {
        snprintf(err, errlen, "bad bind address '%s' (want HOST:PORT or :PORT)", bind);
        free(h);
        return LBP_INVALID;
    }
    *out = h;
    return LBP_OK;
}

int lbp_httpd_route(struct lbp_httpd *h, const char *path, lbp_httpd_fn fn, void *ctx)
{
    if (h->n_routes >= HTTPD_MAX_ROUTES)
        return LBP_TOOBIG;
    h->routes[h->n_routes].path = strdup(path);
    if (!h->routes[h->n_routes].path)
        return LBP_NOMEM;
    h->routes[h->n_routes].fn = fn;
    h->routes[h->n_routes].ctx = ctx;
    h->n_routes++;
    return LBP_OK;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *ctype,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct lbp_httpd *h = cls;
    struct lbp_buf *body = *con_cls;
    struct lbp_buf out;
    const char *ctype = "text/plain; charset=utf-8";
    enum MHD_Result ret;
    int code;
    (void)version;
    if (!body) {
        body = calloc(1, sizeof(*body));
        if (!body)
            return MHD_NO;
        lbp_buf_init(body, HTTPD_MAX_BODY);
        *con_cls = body;
        return MHD_YES;
    }
    if (*upload_size) {
        if (lbp_buf_add(body, upload, *upload_size))
            body->len = HTTPD_MAX_BODY + 1; /* remembered as too big */
        *upload_size = 0;
        return MHD_YES;
    }
    if (body->len > HTTPD_MAX_BODY)
        return reply(conn, 413, ctype, "request body too large\n", 23);
    for (size_t i = 0; i < h->n_routes; i++) {
        if (strcmp(h->routes[i].path, url) != 0)
            continue;
        lbp_buf_init(&out, HTTPD_MAX_RESPONSE);
        code =
            h->routes[i].fn(h->routes[i].ctx, method, body->data ? body->data : "", &out, &ctype);
        ret = reply(conn, (unsigned)code, ctype, out.data ? out.data : "", out.len);
        lbp_buf_free(&out);
        return ret;
    }
    return reply(conn, 404, ctype, "not found\n", 10);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct lbp_buf *body = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (body) {
        lbp_buf_free(body);
        free(body);
        *con_cls = NULL;
    }
}

int lbp_httpd_start(struct lbp_httpd *h, char *err, size_t errlen)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    if (h->addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&h->addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, h,
                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen (address in use or not permitted)");
        return LBP_IO;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return LBP_OK;
}

int lbp_httpd_port(const struct lbp_httpd *h)
{
    return h->port;
}

void lbp_httpd_free(struct lbp_httpd *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d);
    for (size_t i = 0; i < h->n_routes; i++)
        free(h->routes[i].path);
    free(h);
}

int lbp_httpd_metrics(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                      const char **content_type)
{
    (void)ctx;
    (void)method;
    (void)body;
    *content_type = "text/plain; version=0.0.4";
    return lbp_metrics_render(out) == LBP_OK ? 200 : 500;
}
