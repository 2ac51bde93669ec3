/*
 * fake_httpd.c — see fake_httpd.h. Start-up is split where the fakes do
 * their own work between the steps: a fake needs its bound port before it
 * writes key files that name it, and the port file must come last, since
 * a client takes it as "ready".
 */
#include "test/fakes/fake_httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "test/fakes/fake_util.h"

struct fake_conn *fake_conn_collect(void **con_cls, const char *upload, size_t *upload_size,
                                    size_t max_body, enum MHD_Result *ret)
{
    struct fake_conn *cn = *con_cls;
    *ret = MHD_YES;
    if (!cn) {
        cn = calloc(1, sizeof(*cn));
        if (!cn) {
            *ret = MHD_NO;
            return NULL;
        }
        lbp_buf_init(&cn->body, max_body);
        *con_cls = cn;
        return NULL;
    }
    if (*upload_size) {
        if (lbp_buf_add(&cn->body, upload, *upload_size) != LBP_OK)
            cn->toobig = true;
        *upload_size = 0;
        return NULL;
    }
    return cn;
}

static void conn_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct fake_conn *cn = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (cn) {
        lbp_buf_free(&cn->body);
        free(cn);
        *con_cls = NULL;
    }
}

const char *fake_conn_body(const struct fake_conn *cn)
{
    return cn->body.data ? cn->body.data : "";
}

struct json_object *fake_conn_object(const struct fake_conn *cn)
{
    struct json_object *o = json_tokener_parse(cn->body.data ? cn->body.data : "{}");
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static bool method_ok(const struct fake_control *t, bool post)
{
    return t->method == FAKE_ANY || (t->method == FAKE_POST) == post;
}

int fake_control_run(const struct fake_control *tab, size_t n, pthread_mutex_t *lock,
                     const char *method, const char *url, const struct fake_conn *cn,
                     struct json_object **json, char *text, size_t cap)
{
    struct json_object *in = NULL;
    const struct fake_control *t = NULL;
    bool post = !strcmp(method, "POST");
    int status = 200;
    *json = NULL;
    if (post && !(in = fake_conn_object(cn))) {
        snprintf(text, cap, "body: a JSON object\n");
        return 400;
    }
    for (size_t i = 0; i < n && !t; i++)
        if (!strcmp(url, tab[i].path) && method_ok(&tab[i], post))
            t = &tab[i];
    if (!t) {
        json_object_put(in);
        snprintf(text, cap, "no such control\n");
        return 404;
    }
    pthread_mutex_lock(lock);
    if (post && t->set && t->set(in, text, cap) != 0) {
        /* text names what is wrong; a line of its own for curl users */
        size_t len = strlen(text);
        if (len + 1 < cap) {
            text[len] = '\n';
            text[len + 1] = 0;
        }
        status = 400;
    } else {
        if (t->act)
            t->act();
        if (t->get)
            *json = t->get();
        else
            snprintf(text, cap, "ok\n");
    }
    pthread_mutex_unlock(lock);
    json_object_put(in);
    return status;
}

int fake_set_ints(struct json_object *in, const struct fake_int_setting *keys, size_t n, char *err,
                  size_t cap)
{
    json_object_object_foreach(in, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(keys[i].key, k) != 0)
            i++;
        if (i == n) {
            snprintf(err, cap, "unknown setting '%s'", k);
            return -1;
        }
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < keys[i].min ||
            json_object_get_int64(v) > keys[i].max) {
            snprintf(err, cap, "%s: an integer in [%ld, %ld]", k, keys[i].min, keys[i].max);
            return -1;
        }
    }
    json_object_object_foreach(in, k2, v2)
    {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(keys[i].key, k2))
                *keys[i].dst = json_object_get_int(v2);
    }
    return 0;
}

int fake_set_str(char *dst, size_t cap, const char *v)
{
    if (!*v || strlen(v) >= cap)
        return -1;
    lbp_strlcpy(dst, v, cap);
    return 0;
}

void fake_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0)
        ;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int fake_fault_flag(const char *prog, const char *key, const char *val, long max,
                    int (*set)(struct json_object *in, char *err, size_t cap))
{
    struct json_object *o = json_object_new_object();
    char err[256];
    int rc = -1;
    if (ends_with(key, "_rate")) {
        char *end;
        double d = strtod(val, &end);
        if (*end || end == val)
            goto out;
        json_object_object_add(o, key, json_object_new_double(d));
    } else {
        long n;
        if (lbp_parse_long(val, 0, max, &n) != 0)
            goto out;
        json_object_object_add(o, key, json_object_new_int64(n));
    }
    rc = set(o, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s: %s\n", prog, err);
out:
    json_object_put(o);
    return rc;
}

int fake_opts(struct option *opts, size_t cap, const struct option *own,
              const struct fake_fault_flag *faults, size_t n_faults)
{
    static const struct option common[] = {{"port", required_argument, NULL, 'p'},
                                           {"port-file", required_argument, NULL, 'P'},
                                           {"bind", required_argument, NULL, 'b'},
                                           {"help", no_argument, NULL, 'h'}};
    size_t n = 0;
    for (size_t i = 0; i < LBP_ARRAY_LEN(common) && n < cap; i++)
        opts[n++] = common[i];
    for (size_t i = 0; own && own[i].name && n < cap; i++)
        opts[n++] = own[i];
    for (size_t i = 0; i < n_faults && n < cap; i++)
        opts[n++] =
            (struct option){faults[i].flag, required_argument, NULL, FAKE_OPT_FAULT + (int)i};
    if (n >= cap)
        return -1;
    opts[n] = (struct option){NULL, 0, NULL, 0};
    return 0;
}

int fake_listen_flag(struct fake_listen *l, int c, const char *arg)
{
    switch (c) {
    case 'p':
        return lbp_parse_long(arg, 0, 65535, &l->port) == 0 ? 1 : -1;
    case 'P':
        l->port_file = arg;
        return 1;
    case 'b':
        l->bind_addr = arg;
        return 1;
    case 'v':
        l->verbose++;
        return 1;
    default:
        return 0;
    }
}

void fake_bad_flag(const struct fake_listen *l, int c, const struct option *opts, int idx,
                   const char *arg)
{
    /* getopt names unknown flags itself; a known flag with a bad value is named here. */
    if (c != '?' && idx >= 0 && arg)
        fprintf(stderr, "%s: --%s: bad value '%s'\n", l->prog, opts[idx].name, arg);
}

int fake_listen_prepare(struct fake_listen *l)
{
    struct in_addr a;
    if (inet_pton(AF_INET, l->bind_addr, &a) != 1) {
        fprintf(stderr, "%s: --bind %s: not an IPv4 address\n", l->prog, l->bind_addr);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&l->sigs);
    sigaddset(&l->sigs, SIGTERM);
    sigaddset(&l->sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &l->sigs, NULL);
    return 0;
}

int fake_listen_start(struct fake_listen *l, MHD_AccessHandlerCallback handler, void *cls)
{
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)l->port);
    if (inet_pton(AF_INET, l->bind_addr, &sa.sin_addr) != 1)
        return -1;
    l->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_POLL | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, conn_completed,
                            NULL, MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)60, MHD_OPTION_END);
    if (!l->d) {
        lbp_error("cannot listen on %s:%ld", l->bind_addr, l->port);
        return -1;
    }
    info = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info ? info->port : l->port;
    return 0;
}

int fake_listen_serve(struct fake_listen *l)
{
    int sig = 0;
    if (l->port_file) {
        char p[16];
        snprintf(p, sizeof(p), "%ld\n", l->port);
        if (fake_write_file(l->port_file, p) != 0) {
            lbp_error("cannot write %s", l->port_file);
            return -1;
        }
    }
    printf("listening on http://%s:%ld\n", l->bind_addr, l->port);
    fflush(stdout);
    sigwait(&l->sigs, &sig);
    return 0;
}

void fake_listen_stop(struct fake_listen *l)
{
    if (l->d)
        MHD_stop_daemon(l->d);
    l->d = NULL;
}
