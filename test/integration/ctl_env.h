/*
 * ctl_env.h — shared set-up for the controller integration tests: a fake
 * API server, `lbprov controller --cloud mock` as a real process, and
 * helpers to read the mock cloud's state from /debug/mockcloud.
 */
#ifndef LBP_TEST_CTL_ENV_H
#define LBP_TEST_CTL_ENV_H

#include "common/util.h"
#include "test/integration/harness.h"

#include <json-c/json.h>
#include <stdbool.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            ctl_env_dump(&env);                                                                    \
            ctl_env_stop(&env);                                                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

struct ctl_env {
    struct lbp_fake_api api;
    pid_t ctl;
    int http_port;
    char cloud_conf[400];
    char state_file[400];
    char ctl_log[400];
    char bind_host[32]; /* --http-bind-address host; "" means 127.0.0.1 */
    const char *cloud;  /* --cloud; NULL means mock (another cloud: set cloud_conf too) */
};

/* Starts the fake; writes cloud.conf with extra lines (may be NULL). */
void ctl_env_init(struct ctl_env *e, const char *cloud_conf_extra);
/* The same with options for the fake API server (a bearer token, TLS). */
void ctl_env_init_opts(struct ctl_env *e, const char *cloud_conf_extra,
                       const struct lbp_fake_api_opts *api_opts);
/*
 * A short leader Lease, for tests that start a second controller process:
 * it leads once the first one's Lease is released or expires.
 */
#define CTL_SHORT_LEASE_FLAGS                                                                      \
    "--leader-elect-lease-duration", "2s", "--leader-elect-renew-deadline", "1500ms",              \
        "--leader-elect-retry-period", "300ms"

/* Starts the controller with extra flags (NULL-terminated list, may be NULL). */
void ctl_env_start_controller(struct ctl_env *e, const char *const *extra);
/* Stops both; returns the controller's exit status (0: clean SIGTERM exit). */
int ctl_env_stop(struct ctl_env *e);
void ctl_env_dump(struct ctl_env *e);

long ctl_api(struct ctl_env *e, const char *method, const char *path, const char *body,
             json_object **out);
void ctl_node(struct ctl_env *e, const char *name, const char *ip);
void ctl_service(struct ctl_env *e, const char *name, const char *spec_extra, int port);
/* /debug/mockcloud as JSON (caller puts), or NULL. */
json_object *ctl_cloud(struct ctl_env *e);
/* The mock LB for ns/name, with a reference the caller puts, or NULL. */
json_object *ctl_cloud_lb(struct ctl_env *e, const char *svc_key);
/* No mock LB is tagged with ns/name. */
bool ctl_lb_missing(struct ctl_env *e, const char *svc_key);
int ctl_cloud_lb_count(struct ctl_env *e);
long ctl_cloud_calls(struct ctl_env *e, const char *op);
/* GET on the controller's HTTP port (body malloc'd, may be NULL); returns the HTTP status. */
long ctl_http_get(struct ctl_env *e, const char *path, char **body);
/* POST /debug/mockcloud: run-time settings such as "failNext=2"; returns the HTTP status. */
long ctl_cloud_post(struct ctl_env *e, const char *settings);
/* The Service's first ingress IP or hostname (copied), or "" */
void ctl_ingress(struct ctl_env *e, const char *name, char *out, size_t len);
/* The Service has an ingress IP or hostname. */
bool ctl_has_ingress(struct ctl_env *e, const char *name);
bool ctl_has_finalizer(struct ctl_env *e, const char *name);
/* How many backend nodes the mock LB for ns/name has, or -1 without one. */
int ctl_lb_nodes(struct ctl_env *e, const char *svc_key);
/* Runs lbprov with args; returns its exit status and its output (caller frees). */
int ctl_run_lbprov(struct ctl_env *e, const char *const *args, char **out);
/* Count of Events with this reason for the Service name. */
int ctl_events(struct ctl_env *e, const char *name, const char *reason, char *msg, size_t msglen);

const char *jpath_str(json_object *o, const char *path);
long jpath_int(json_object *o, const char *path);

/* Poll until expr holds (deadline ms) — expr re-evaluated every 20 ms. */
#define WAIT_FOR(ms, expr)                                                                         \
    ({                                                                                             \
        uint64_t deadline_ = lbp_now_ms() + (ms);                                                  \
        bool ok_ = false;                                                                          \
        while (!(ok_ = (expr)) && lbp_now_ms() < deadline_)                                        \
            usleep(20000);                                                                         \
        ok_;                                                                                       \
    })

#endif
