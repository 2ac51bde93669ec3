/*
 * harness.h — what integration tests share: start/stop the fake API server
 * (test/fakes/apiserver) as a real process, talk to its control endpoint,
 * spawn lbprov itself, and poll for a condition with a deadline.
 *
 * Every wait has a timeout; a test never sleeps a fixed time to "let things
 * settle": it polls for the state it expects.
 */
#ifndef LBP_TEST_HARNESS_H
#define LBP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct lbp_fake_api_opts {
    bool tls;              /* serve HTTPS with a self-signed cert made at start */
    const char *token;     /* require "Authorization: Bearer <token>"; NULL: no auth */
    unsigned history;      /* watch history kept for replay; 0: the fake's default */
    const char *extra_arg; /* one more argument for the fake, or NULL */
    bool pki;              /* write dir/ca.crt, tls.crt, tls.key for a TLS front (--write-pki) */
};

struct lbp_fake_api {
    pid_t pid;
    int port;
    char url[128];        /* "http://127.0.0.1:PORT" or "https://..." */
    char dir[256];        /* a temp dir owned by this instance, removed on stop */
    char kubeconfig[320]; /* dir/kubeconfig, pointing at url (with CA and token) */
    char ca_file[320];    /* dir/ca.crt when tls or pki */
    char log[320];        /* dir/fake-apiserver.log */
};

/* Starts the fake on a free loopback port and waits until it answers. */
int lbp_fake_api_start(const struct lbp_fake_api_opts *opts, struct lbp_fake_api *out);
/* SIGTERM, reap, remove the temp dir. Safe to call twice. */
void lbp_fake_api_stop(struct lbp_fake_api *api);

/*
 * Raw request to the fake (control endpoint or API), bypassing lbprov's
 * client. body may be NULL. *resp (may be NULL) is malloc'd, NUL-terminated.
 * Returns the HTTP status, or -1 when no response arrived.
 */
long lbp_fake_api_request(struct lbp_fake_api *api, const char *method, const char *path,
                          const char *content_type, const char *body, char **resp);
/* The same as the holder of token (NULL: no Authorization) instead of the admin. */
long lbp_fake_api_request_as(struct lbp_fake_api *api, const char *token, const char *method,
                             const char *path, const char *content_type, const char *body,
                             char **resp);
/* POST /_fake/faults with a JSON body (see test/fakes/apiserver/README.md). */
int lbp_fake_api_fault(struct lbp_fake_api *api, const char *json);
/* Requests counted by the fake for "VERB resource", e.g. "PATCH services/status". */
long lbp_fake_api_count(struct lbp_fake_api *api, const char *verb_resource);

/* A check that reports a failure, counts it in FAILURES and goes on. */
#define LBP_TEST_CHECK_SOFT(failures, cond)                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            (failures)++;                                                                          \
        }                                                                                          \
    } while (0)

/* Paths of the binaries under test, set by CMake. */
const char *lbp_test_lbprov_bin(void);
const char *lbp_test_fake_api_bin(void);

/* Spawns argv with stdout+stderr appended to log_path (may be NULL: inherit). */
pid_t lbp_test_spawn(char *const argv[], const char *log_path);
/* Sends sig and waits up to timeout_ms; returns the exit status or -1 on timeout (then SIGKILLs).
 */
int lbp_test_stop(pid_t pid, int sig, unsigned timeout_ms);

/* A loopback TCP port the kernel hands out now, for a child to bind right after (0: none). */
int lbp_test_free_port(void);
/* A process's peak resident memory (VmHWM) in KiB, or -1 when it cannot be read. */
long lbp_test_hwm_kb(pid_t pid);
/* Any "Name: N kB" line of /proc/<pid>/status (VmRSS, VmHWM, ...) in KiB; -1 if unreadable. */
long lbp_test_status_kb(pid_t pid, const char *field);

/* Calls cond(ctx) every 20 ms until it is true (returns true) or timeout_ms passes. */
bool lbp_test_poll(bool (*cond)(void *ctx), void *ctx, unsigned timeout_ms);

#endif
