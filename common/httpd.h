/*
 * httpd.h — a small HTTP server (libmicrohttpd, one internal thread) with
 * exact-path route registration, for the controller's health, readiness,
 * metrics and debug endpoints.
 */
#ifndef LBP_COMMON_HTTPD_H
#define LBP_COMMON_HTTPD_H

#include "common/buf.h"

/*
 * A route handler fills out (capped by the server) and returns the HTTP
 * status; *content_type defaults to "text/plain; charset=utf-8". body is
 * the request body (NUL-terminated, may be empty) for POST/PUT.
 */
typedef int (*lbp_httpd_fn)(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                            const char **content_type);

struct lbp_httpd;

/*
 * bind: "HOST:PORT" (HOST an IPv4/IPv6 literal or "localhost", meaning
 * 127.0.0.1), ":PORT" (all addresses) or "[::1]:PORT"; port 0 picks a free one.
 */
int lbp_httpd_new(const char *bind, struct lbp_httpd **out, char *err, size_t errlen);
/* Routes must be added before lbp_httpd_start. */
int lbp_httpd_route(struct lbp_httpd *h, const char *path, lbp_httpd_fn fn, void *ctx);
int lbp_httpd_start(struct lbp_httpd *h, char *err, size_t errlen);
/* A ready-made route: the process-wide Prometheus registry (common/metrics.h). */
int lbp_httpd_metrics(void *ctx, const char *method, const char *body, struct lbp_buf *out,
                      const char **content_type);
/* The port actually bound (after start). */
int lbp_httpd_port(const struct lbp_httpd *h);
void lbp_httpd_free(struct lbp_httpd *h);

#endif
