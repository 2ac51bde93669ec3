/* mhd_local.c — see mhd_local.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "test/unit/mhd_local.h"

int lbp_test_mhd_up(MHD_AccessHandlerCallback handler, struct MHD_Daemon **d, int *port,
                    const char *no_proxy)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                          NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!*d)
        return -1;
    *port = MHD_get_daemon_info(*d, MHD_DAEMON_INFO_BIND_PORT)->port;
    setenv("NO_PROXY", no_proxy, 1);
    return 0;
}

void lbp_test_mhd_down(struct MHD_Daemon *d)
{
    lbp_http_thread_cleanup();
    MHD_stop_daemon(d);
}

struct lbp_test_body *lbp_test_mhd_body(void **con_cls, const char *upload, size_t *upload_size,
                                        enum MHD_Result *ret)
{
    struct lbp_test_body *b = *con_cls;
    if (!b) { /* first call: headers only */
        *con_cls = calloc(1, sizeof(*b));
        *ret = *con_cls ? MHD_YES : MHD_NO;
        return NULL;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (n > sizeof(b->data) - 1 - b->len)
            n = sizeof(b->data) - 1 - b->len;
        memcpy(b->data + b->len, upload, n);
        b->len += n;
        *upload_size = 0;
        *ret = MHD_YES;
        return NULL;
    }
    return b;
}

void lbp_test_mhd_done(void **con_cls)
{
    free(*con_cls);
    *con_cls = NULL;
}

enum MHD_Result lbp_test_mhd_reply(struct MHD_Connection *c, int status, const char *body,
                                   const char *header, const char *value)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (header)
        MHD_add_response_header(r, header, value);
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

const char *lbp_test_mhd_url(int port, const char *path)
{
    static char u[8][160];
    static int i;
    char *p = u[i++ % 8];
    snprintf(p, sizeof(u[0]), "http://127.0.0.1:%d%s", port, path);
    return p;
}

struct lbp_http_client *lbp_test_http_client(unsigned max_attempts)
{
    struct lbp_http_opts o = {.cloud = "test", .max_attempts = max_attempts, .backoff_base_ms = 1};
    struct lbp_http_client *c = NULL;
    assert_int_equal(lbp_http_client_new(&o, &c), LBP_OK);
    return c;
}
