/*
 * mhd_local.h — the in-process HTTP server the cloud-side unit tests
 * script: libmicrohttpd on 127.0.0.1 (a kernel-chosen port, one thread per
 * connection), the request body gathered across libmicrohttpd's calls,
 * JSON replies, and the toolkit's HTTP client pointed at it.
 */
#ifndef LBP_TEST_MHD_LOCAL_H
#define LBP_TEST_MHD_LOCAL_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "provider/http.h"

/*
 * A cmocka group set-up: starts HANDLER on loopback into *d and *port and
 * sets NO_PROXY to no_proxy, so that a proxy in the environment is never
 * asked; 0, or -1 when the server cannot start.
 */
int lbp_test_mhd_up(MHD_AccessHandlerCallback handler, struct MHD_Daemon **d, int *port,
                    const char *no_proxy);
/* Its tear-down: this thread's CURL handle, then the server. */
void lbp_test_mhd_down(struct MHD_Daemon *d);

struct lbp_test_body {
    char data[16384]; /* capped: a longer body is cut, never overflows */
    size_t len;
};
/*
 * For the top of a handler: NULL while the body is still arriving (the
 * handler returns *ret at once), else the whole body, which the handler
 * frees with lbp_test_mhd_done.
 */
struct lbp_test_body *lbp_test_mhd_body(void **con_cls, const char *upload, size_t *upload_size,
                                        enum MHD_Result *ret);
void lbp_test_mhd_done(void **con_cls);

/* A JSON answer; HEADER/VALUE (may be NULL) is one more header. */
enum MHD_Result lbp_test_mhd_reply(struct MHD_Connection *c, int status, const char *body,
                                   const char *header, const char *value);

/* "http://127.0.0.1:PORT" PATH in one of 8 rotating buffers. */
const char *lbp_test_mhd_url(int port, const char *path);

/* The toolkit's client, test-fast backoff, MAX_ATTEMPTS tries (cmocka-asserted). */
struct lbp_http_client *lbp_test_http_client(unsigned max_attempts);

#endif
