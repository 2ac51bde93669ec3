/*
 * ctl_env.h — shared set-up for the controller integration tests: a fake
 * API server, `lbprov controller` as a real process (the mock cloud, or a
 * real provider against its fake with a cloud.conf the test writes), the
 * Kubernetes objects the tests make, and helpers to read the mock cloud's
 * state from /debug/mockcloud.
 */
#ifndef LBP_TEST_CTL_ENV_H
#define LBP_TEST_CTL_ENV_H

#include "common/util.h"
#include "provider/provider.h"
#include "test/integration/harness.h"

#include <json-c/json.h>
#include <stdbool.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            ctl_env_fail(&env);                                                                    \
        }                                                                                          \
    } while (0)

struct ctl_env {
    struct lbp_fake_api api;
    pid_t ctl;
    int http_port;
    char cloud_conf[400];
    char state_file[400];
    char ctl_log[400];
    char bind_host[32];    /* --http-bind-address host; "" means 127.0.0.1 */
    char cloud[32];        /* --cloud; "" means mock */
    void (*on_fail)(void); /* CHECK's own clean-up (a fake cloud to show and stop), or NULL */
};

/* Starts the fake; writes cloud.conf with extra lines (may be NULL). */
void ctl_env_init(struct ctl_env *e, const char *cloud_conf_extra);
/* The same with options for the fake API server (a bearer token, TLS). */
void ctl_env_init_opts(struct ctl_env *e, const char *cloud_conf_extra,
                       const struct lbp_fake_api_opts *api_opts);
/* cloud.conf becomes this text (printf-style), for --cloud cloud instead of mock. */
void ctl_env_cloud(struct ctl_env *e, const char *cloud, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
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
/* Ends the controller alone with sig (SIGKILL: as a crash does); its exit status. */
int ctl_env_end_controller(struct ctl_env *e, int sig);
void ctl_env_dump(struct ctl_env *e);
/* What a failed CHECK does: the log, on_fail, everything stopped, exit status 1. */
_Noreturn void ctl_env_fail(struct ctl_env *e);

long ctl_api(struct ctl_env *e, const char *method, const char *path, const char *body,
             json_object **out);
/* A Ready Node with providerID mock://name. */
void ctl_node(struct ctl_env *e, const char *name, const char *ip);
/* The same with providerID and labels (a JSON object's members); either may be NULL. */
void ctl_node_full(struct ctl_env *e, const char *name, const char *ip, const char *provider_id,
                   const char *labels);
/* A LoadBalancer Service in default with one TCP port; spec_extra: JSON members, may be NULL. */
void ctl_service(struct ctl_env *e, const char *name, const char *spec_extra, int port);
/*
 * The same with annotations and spec_extra (a JSON object's members, either
 * may be NULL) and ports (a JSON array's items; NULL: http 80->8080,
 * https 443->8443, admin 9000).
 */
void ctl_service_full(struct ctl_env *e, const char *name, const char *annotations,
                      const char *spec_extra, const char *ports);
/* The Service default/name (caller puts), NULL unless 200. */
json_object *ctl_svc_get(struct ctl_env *e, const char *name);
/* PUT or DELETE default/name; the HTTP status. */
long ctl_svc_put(struct ctl_env *e, const char *name, json_object *o);
long ctl_svc_delete(struct ctl_env *e, const char *name);
/* spec.key of Service default/name becomes value (taken over); the PUT's HTTP status. */
long ctl_svc_set(struct ctl_env *e, const char *name, const char *key, json_object *value);
/* The Service's port numbered old becomes new_port; the PUT's HTTP status. */
long ctl_svc_port(struct ctl_env *e, const char *name, int old, int new_port);
/* externalTrafficPolicy Local; the healthCheckNodePort the API server gave, -1 on failure. */
int ctl_svc_local(struct ctl_env *e, const char *name);
/* The LB name of Service default/name ("a" + its uid without dashes), "" without it. */
void ctl_lb_name_of(struct ctl_env *e, const char *name, char out[LBP_LB_NAME_LEN + 1]);
/*
 * Calls p's ensure (or remove) for sp again while it answers LBP_PENDING, as
 * the reconciler would, for up to 30 s; a failure is named on stderr. The
 * last rc; call holds the last call's error.
 */
int ctl_provider_settle(const struct lbp_provider *p, struct lbp_provider_ctx *ctx,
                        const struct lbp_lb_spec *sp, bool remove, struct lbp_call *call);
/*
 * An LB of this cluster for a Service that does not exist (default/ghost,
 * uid 0badc0de-..., port 80 to NodePort 31000 on node-1 with provider_id,
 * which may be NULL), made through provider p in this process from conf the
 * way the controller would: ensure again while it answers LBP_PENDING. Its
 * name goes into lb_name; the last rc.
 */
int ctl_make_orphan(const struct lbp_provider *p, const char *conf, const char *cluster,
                    const char *provider_id, const struct lbp_lb_annotation *ann, size_t n_ann,
                    char lb_name[LBP_LB_NAME_LEN + 1]);
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
/* How many of the Services <prefix>0 .. <prefix>(n-1) have an ingress. */
int ctl_count_ingress(struct ctl_env *e, const char *prefix, int n);
/* How many backend nodes the mock LB for ns/name has, or -1 without one. */
int ctl_lb_nodes(struct ctl_env *e, const char *svc_key);
/* Runs lbprov with args; returns its exit status and its output (caller frees). */
int ctl_run_lbprov(struct ctl_env *e, const char *const *args, char **out);
/* Count of Events with this reason for the Service name. */
int ctl_events(struct ctl_env *e, const char *name, const char *reason, char *msg, size_t msglen);

const char *jpath_str(json_object *o, const char *path);
long jpath_int(json_object *o, const char *path);
/* Member k of o, NULL when o is NULL or has none. */
json_object *jget(json_object *o, const char *k);
/* Member k of o as a string (a number as its text), "" when absent or null. */
const char *jstr(json_object *o, const char *k);

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
