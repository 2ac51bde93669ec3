/*
 * fake_httpd.h — the server side every HTTP fake program repeats:
 * gathering a request body from libmicrohttpd, the flags all fakes take
 * (--port, --port-file, --bind, -v, --help and fault flags given as
 * "--name N"), listening, announcing the port and waiting for
 * SIGTERM/SIGINT, and the small parsers their flags and /_fake/config
 * share. What a fake answers stays in the fake.
 */
#ifndef LBP_FAKE_HTTPD_H
#define LBP_FAKE_HTTPD_H

#include <getopt.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "test/fakes/fake_util.h"

/* One request's body as libmicrohttpd hands it over. */
struct fake_conn {
    struct lbp_buf body;
    bool toobig; /* more than the cap came: the fake answers 413 */
};

/*
 * The start of an access handler: makes the request's fake_conn on the
 * first call and gathers upload data (at most max_body bytes). Returns the
 * fake_conn once the request is whole; NULL while libmicrohttpd has more
 * to hand over, with *ret what the handler returns to it.
 */
struct fake_conn *fake_conn_collect(void **con_cls, const char *upload, size_t *upload_size,
                                    size_t max_body, enum MHD_Result *ret);
/* The body, "" when none came. */
const char *fake_conn_body(const struct fake_conn *cn);
/* The body as a JSON object (an empty body is {}); NULL when it is not one. */
struct json_object *fake_conn_object(const struct fake_conn *cn);

/* One path of a fake's /_fake/ control endpoint. */
struct fake_control {
    const char *path;
    enum { FAKE_GET, FAKE_POST, FAKE_ANY } method; /* ANY: set runs only for a POST */
    /* Applies a POST's JSON object body; -1 with err naming what is wrong (answered 400). */
    int (*set)(struct json_object *in, char *err, size_t cap);
    void (*act)(void);                /* runs for the call, after set */
    struct json_object *(*get)(void); /* the answer; NULL: "ok" as text */
};
/*
 * Answers a /_fake/ request from the table with lock held (the fake's one
 * state lock): the status, and either *json (the caller owns it) or text
 * (text/plain). A POST body that is not a JSON object is 400, an unknown
 * path or method 404.
 */
int fake_control_run(const struct fake_control *tab, size_t n, pthread_mutex_t *lock,
                     const char *method, const char *url, const struct fake_conn *cn,
                     struct json_object **json, char *text, size_t cap);

/* An integer setting of /_fake/config and its range. */
struct fake_int_setting {
    const char *key;
    int *dst;
    long min, max;
};
/*
 * Applies every key of in to its setting, or none of them: -1 with err
 * naming the first unknown key or value out of range.
 */
int fake_set_ints(struct json_object *in, const struct fake_int_setting *keys, size_t n, char *err,
                  size_t cap);

/* A non-empty string flag into a fixed field; -1 when it does not fit. */
int fake_set_str(char *dst, size_t cap, const char *v);
void fake_sleep_ms(int ms);

/* A fault flag "--flag N" that sets the fault key. */
struct fake_fault_flag {
    const char *flag, *key;
};
/*
 * A fault flag's value as the one-key object {key: N} handed to set (the
 * fake's /_fake/faults setter): a fraction for keys ending in "_rate", an
 * integer 0..max otherwise. 0, or -1 after naming the problem on stderr.
 */
int fake_fault_flag(const char *prog, const char *key, const char *val, long max,
                    int (*set)(struct json_object *in, char *err, size_t cap));

/* What every fake listens with. */
struct fake_listen {
    const char *prog;      /* "fake-gce": names it in messages */
    const char *bind_addr; /* --bind (default 127.0.0.1) */
    const char *port_file; /* --port-file, or NULL */
    long port;             /* --port (0: a free one), then the bound port */
    int verbose;           /* -v, counted */
    struct MHD_Daemon *d;
    sigset_t sigs; /* SIGTERM and SIGINT, blocked by fake_listen_prepare */
};
#define FAKE_LISTEN_INIT(name)                                                                     \
    {                                                                                              \
        .prog = (name), .bind_addr = "127.0.0.1"                                                   \
    }

/* Values getopt_long returns for fault flag i: FAKE_OPT_FAULT + i. */
#define FAKE_OPT_FAULT 1000

/*
 * Fills opts (room for cap entries) with --port, --port-file, --bind,
 * --help, then own (ends at a NULL name; may be NULL), then the fault
 * flags, then the terminator. -1 when it does not fit.
 */
int fake_opts(struct option *opts, size_t cap, const struct option *own,
              const struct fake_fault_flag *faults, size_t n_faults);
/* Takes a flag of fake_opts ('p', 'P', 'b', 'v'): 1 taken, 0 not one of them, -1 a bad value. */
int fake_listen_flag(struct fake_listen *l, int c, const char *arg);
/* "prog: --name: bad value 'v'" when getopt itself said nothing. */
void fake_bad_flag(const struct fake_listen *l, int c, const struct option *opts, int idx,
                   const char *arg);
/*
 * After the flags: checks --bind, ignores SIGPIPE and blocks SIGTERM and
 * SIGINT in every thread (libmicrohttpd's inherit the mask) for
 * fake_listen_serve. 0, or -1 after naming the problem.
 */
int fake_listen_prepare(struct fake_listen *l);
/*
 * Serves handler(cls, ...) on a thread per connection, fake_conn freed as
 * each request completes; l->port becomes the bound port. 0 or -1.
 */
int fake_listen_start(struct fake_listen *l, MHD_AccessHandlerCallback handler, void *cls);
/*
 * Writes --port-file, prints "listening on http://ADDR:PORT" as the first
 * stdout line, then waits for SIGTERM/SIGINT. 0, or -1 when the port file
 * cannot be written.
 */
int fake_listen_serve(struct fake_listen *l);
void fake_listen_stop(struct fake_listen *l);

#endif
