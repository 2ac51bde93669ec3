/*
 * fake_client.h — what the test-side clients of the REST fakes (fake-gce,
 * fake-azure) share: running a fake as a child in a temp dir of its own
 * until it has written its port file, one HTTP request over loopback with
 * libcurl, and reading the /_fake/ control endpoint's JSON and counters.
 * The fake-aws and fake-cloudstack clients send their HTTP through it too.
 */
#ifndef LBP_FAKE_CLIENT_H
#define LBP_FAKE_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

/* A fake running as a child process. */
struct fake_proc {
    pid_t pid;
    int port;
    char url[64];  /* "http://127.0.0.1:PORT" */
    char dir[64];  /* a temp dir owned by this instance, removed on stop */
    char log[128]; /* dir/<name>.log: the fake's stdout and stderr */
};

/*
 * Makes p's temp dir and log path for the fake called name (e.g.
 * "fake-gce"), so the caller can name files in it before the start.
 * 0 or -1.
 */
int fake_proc_prepare(struct fake_proc *p, const char *name);
/*
 * Runs bin with "--port 0 --port-file DIR/port", then args, then extra
 * (both NULL-terminated, or NULL), and waits up to 30 s for the port file,
 * which a fake writes once it listens. On failure nothing is left running
 * or on disk. 0 or -1.
 */
int fake_proc_spawn(struct fake_proc *p, const char *bin, const char *const *args,
                    const char *const *extra);
/* SIGTERM (SIGKILL after 10 s), reap, remove the temp dir; the exit status (non-zero: the log went
 * to stderr). */
int fake_proc_stop(struct fake_proc *p);

/*
 * One request to url; headers NULL-terminated or NULL; a body goes with
 * "Content-Type: content_type" (NULL: JSON). Each header line goes to
 * on_header(line, len, ud) when on_header is set. *body_out gets the body
 * (malloc'd, "" when empty). The HTTP status, -1 when no answer came.
 */
long fake_http(const char *url, const char *method, const char *content_type, const char *body,
               const char *const *headers,
               void (*on_header)(const char *line, size_t len, void *ud), void *ud,
               char **body_out);
/* When line is header name (case-insensitive), its value without CRLF into out. */
void fake_header_value(const char *line, size_t len, const char *name, char *out, size_t cap);

/* POST (body non-NULL) or GET base+path; the status. */
long fake_http_control(const char *base, const char *path, const char *body);
/* GET base+path parsed as JSON (caller puts), NULL on failure. */
struct json_object *fake_http_json(const char *base, const char *path);
/* /_fake/counters' group.key (0 when absent), -1 when the counters cannot be read. */
long fake_http_counter(const char *base, const char *group, const char *key);
/* /_fake/state's "count": objects a client made and did not delete (-1 on failure). */
long fake_http_objects(const char *base);

#endif
