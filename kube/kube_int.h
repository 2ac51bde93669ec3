/*
 * kube_int.h — what the files inside kube/ share and nothing outside uses:
 * the streaming GET the informer's watch runs on, the line splitter it feeds,
 * list paging, and the per-kind decoders' free functions.
 */
#ifndef LBP_KUBE_INT_H
#define LBP_KUBE_INT_H

#include "common/buf.h"
#include "kube/kube.h"

/* Called once per complete line (without the '\n'); nonzero stops the stream. */
typedef int (*lbp_line_cb)(void *ctx, const char *line, size_t len);

/*
 * Splits a byte stream into '\n'-terminated lines. A line longer than max is
 * dropped whole (the callback gets nothing for it, the splitter resyncs at
 * the next newline) and counted in `overlong`; feed returns LBP_TOOBIG for
 * that chunk so the caller can restart the watch.
 */
struct lbp_line_splitter {
    struct lbp_buf buf;
    size_t max;
    bool skipping; /* inside an overlong line, discarding to the next '\n' */
    unsigned long overlong;
};
void lbp_line_splitter_init(struct lbp_line_splitter *s, size_t max);
int lbp_line_splitter_feed(struct lbp_line_splitter *s, const char *data, size_t len,
                           lbp_line_cb cb, void *ctx);
void lbp_line_splitter_free(struct lbp_line_splitter *s);

/*
 * A streaming GET (a watch). Returns when the server ends the response, the
 * callback returns nonzero (LBP_OK), no byte arrived for idle_timeout_ms
 * (LBP_RETRY), the client is shut down (LBP_CANCELLED), or the server
 * answered non-2xx (mapped like lbp_kube_get; resp filled). Not retried:
 * the informer owns reconnects. Counted as a watch in the client's stats.
 */
int lbp_kube_stream(struct lbp_kube_client *c, const char *path, size_t max_line,
                    long idle_timeout_ms, lbp_line_cb cb, void *ctx,
                    struct lbp_kube_response *resp);

/*
 * lbp_kube_stream with a per-stream stop flag: it also returns LBP_CANCELLED
 * within about one poll slice once *stop (read with __atomic_load_n) is
 * nonzero, even when the server sends nothing. This lets one informer stop
 * without lbp_kube_client_shutdown, which would stop every user of the
 * client. stop may be NULL (then it is lbp_kube_stream).
 */
int lbp_kube_stream_stoppable(struct lbp_kube_client *c, const char *path, size_t max_line,
                              long idle_timeout_ms, const int *stop, lbp_line_cb cb, void *ctx,
                              struct lbp_kube_response *resp);

/* A GET of a collection page: like lbp_kube_get but counted as a list. */
int lbp_kube_list_page(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp);

/*
 * Credentials for requests, from the config: a static token, a token file
 * (re-read when it changes, at most once a second: bound service-account
 * tokens rotate), or an exec plugin (client.authentication.k8s.io ExecCredential;
 * run again when its expirationTimestamp is within 60 s, or after
 * lbp_kube_auth_invalidate following a 401). Thread-safe.
 */
struct lbp_kube_cred {
    char *token;           /* NULL when none */
    char *client_cert_pem; /* from an exec plugin's clientCertificateData, or NULL */
    char *client_key_pem;
    int64_t expires_s; /* 0: no expiry */
};
/* Frees an exec plugin block (config.c owns the type; auth.c keeps a copy). */
void lbp_kube_exec_free(struct lbp_kube_exec *e);
/* A deep copy, apiVersion defaulted to client.authentication.k8s.io/v1; NULL on ENOMEM. */
struct lbp_kube_exec *lbp_kube_exec_dup(const struct lbp_kube_exec *s);

struct lbp_kube_auth;
int lbp_kube_auth_new(const struct lbp_kube_config *cfg, struct lbp_kube_auth **out);
/* Fills a copy of the current credentials; err names the failure (never the secret). */
int lbp_kube_auth_get(struct lbp_kube_auth *a, struct lbp_kube_cred *out, char *err, size_t errlen);
void lbp_kube_auth_invalidate(struct lbp_kube_auth *a);
void lbp_kube_auth_free(struct lbp_kube_auth *a);
void lbp_kube_cred_free(struct lbp_kube_cred *c);
/*
 * What the exec plugin's standard output is read as, without running it
 * (for the fuzz target): an ExecCredential of the configured apiVersion.
 * LBP_INVALID when a has no exec plugin.
 */
int lbp_kube_auth_parse_exec_output(struct lbp_kube_auth *a, const char *text, size_t len,
                                    struct lbp_kube_cred *out, char *err, size_t errlen);
/* Limits, for tests: the exec plugin's timeout (default 30 s) and how often the
 * token file is stat'ed (default 1 s). */
void lbp_kube_auth_set_exec_timeout_ms(struct lbp_kube_auth *a, long ms);
void lbp_kube_auth_set_token_recheck_ms(struct lbp_kube_auth *a, long ms);

/* Collection path for a kind: "/api/v1/services", "/api/v1/namespaces/NS/services", ... */
int lbp_kube_kind_path(enum lbp_kind kind, const char *ns, char *out, size_t outlen);

#endif
