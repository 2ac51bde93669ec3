/*
 * kube.h — lbprov's Kubernetes API client: the only header other modules use.
 *
 * Four layers, each usable alone:
 *   config    kubeconfig (libyaml) or in-cluster service-account config,
 *             including exec credential plugins and rotating token files.
 *   client    REST verbs over libcurl with Status-object errors, retries for
 *             429/5xx honouring Retry-After, a client-side QPS/burst limit.
 *             Thread-safe: each calling thread gets its own CURL handle.
 *   informer  list+watch into a cache of plain C structs (Services, Nodes,
 *             EndpointSlices, Leases) with add/update/delete handlers,
 *             resync and has_synced. Cached objects are immutable and
 *             reference-counted: a reader takes a reference and may keep it
 *             after the cache moved on.
 *   events    core/v1 Events with upstream aggregation and a rate limit of
 *             their own, written from a background thread so they never
 *             delay a status write.
 * plus Leases (coordination.k8s.io/v1) with optimistic concurrency.
 *
 * No json-c type crosses this header; JSON bodies are passed as text.
 */
#ifndef LBP_KUBE_H
#define LBP_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- config */

struct lbp_kube_exec {
    char *command;
    char **args; /* NULL-terminated */
    char **env;  /* NULL-terminated "NAME=value" entries */
    char *api_version;
    char *install_hint;        /* shown when the command fails; may be NULL */
    char *interactive_mode;    /* "Never", "IfAvailable", "Always" or NULL; we never prompt */
    bool provide_cluster_info; /* pass the cluster in KUBERNETES_EXEC_INFO */
};

struct lbp_kube_config {
    char *server; /* "https://host:port", no trailing slash */
    char *ca_file;
    char *ca_data; /* PEM, decoded from base64 */
    size_t ca_data_len;
    bool insecure_skip_tls_verify;
    char *tls_server_name;
    char *client_cert_file;
    char *client_key_file;
    char *client_cert_data; /* PEM */
    size_t client_cert_data_len;
    char *client_key_data; /* PEM */
    size_t client_key_data_len;
    char *token;      /* static bearer token */
    char *token_file; /* re-read when it changes (bound service-account tokens rotate) */
    struct lbp_kube_exec *exec;
    char *namespace; /* context namespace or the pod's namespace; "default" if none */
    char *source;    /* where it came from, for messages: a path or "in-cluster" */
};

struct lbp_kube_config_opts {
    const char *kubeconfig; /* --kubeconfig; else $KUBECONFIG (merged); else ~/.kube/config */
    const char *context;    /* --context; else current-context */
    const char *master;     /* --master: overrides the server */
    bool allow_in_cluster;  /* fall back to in-cluster when no kubeconfig is found */
};

/*
 * Loads configuration. On failure returns LBP_PARSE/LBP_IO/LBP_INVALID and
 * writes one line naming the file and the field into err, e.g.
 * "/root/.kube/config: users[0].user.client-key-data: invalid base64".
 */
int lbp_kube_config_load(const struct lbp_kube_config_opts *opts, struct lbp_kube_config **out,
                         char *err, size_t errlen);
/* In-cluster config from KUBERNETES_SERVICE_HOST/PORT and the service-account dir. */
int lbp_kube_config_in_cluster(const char *sa_dir, struct lbp_kube_config **out, char *err,
                               size_t errlen);
void lbp_kube_config_free(struct lbp_kube_config *cfg);

/* ---------------------------------------------------------------- client */

struct lbp_kube_client;

struct lbp_kube_client_opts {
    double qps; /* client-side rate limit; 0 = unlimited */
    int burst;
    long timeout_ms;        /* per non-watch request; 0 = 30 s */
    unsigned max_retries;   /* for 429/5xx/connection errors; default 5 */
    const char *user_agent; /* default "lbprov/<version>" */
};

int lbp_kube_client_new(const struct lbp_kube_config *cfg, const struct lbp_kube_client_opts *opts,
                        struct lbp_kube_client **out, char *err, size_t errlen);
/* Wakes every blocked call (watches too); later calls return LBP_CANCELLED. */
void lbp_kube_client_shutdown(struct lbp_kube_client *c);
void lbp_kube_client_free(struct lbp_kube_client *c);
const char *lbp_kube_client_namespace(const struct lbp_kube_client *c);

/* A decoded API response. body is NUL-terminated; status fields from the Status object. */
struct lbp_kube_response {
    long http_code; /* 0 when no response arrived */
    char *body;
    size_t body_len;
    char *reason;  /* Status.reason, e.g. "Conflict", "NotFound", "Invalid" */
    char *message; /* Status.message */
    long retry_after_s;
    /*
     * Why the request failed, in words, whenever it did (empty on success):
     * what failed and against what — the server's host:port and errno text,
     * the TLS name and CA, 401 versus 403 with the server's message — so a
     * caller can print it as it is.
     */
    char error[512];
};
void lbp_kube_response_free(struct lbp_kube_response *r);

/* PATCH content types. */
enum lbp_kube_patch {
    LBP_PATCH_MERGE,     /* application/merge-patch+json */
    LBP_PATCH_JSON,      /* application/json-patch+json */
    LBP_PATCH_STRATEGIC, /* application/strategic-merge-patch+json */
};

/*
 * One request. path is absolute ("/api/v1/namespaces/ns/services/x/status"),
 * query included. Returns LBP_OK for 2xx, else LBP_NOT_FOUND (404),
 * LBP_CONFLICT (409), LBP_GONE (410), LBP_INVALID (400/422), LBP_AUTH
 * (401/403), LBP_RETRY (429/5xx/transport after retries were spent),
 * LBP_CANCELLED. resp may be NULL; when given it is filled in every case a
 * response arrived and must be freed by the caller.
 */
int lbp_kube_get(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp);
int lbp_kube_post(struct lbp_kube_client *c, const char *path, const char *json,
                  struct lbp_kube_response *resp);
int lbp_kube_put(struct lbp_kube_client *c, const char *path, const char *json,
                 struct lbp_kube_response *resp);
int lbp_kube_patch(struct lbp_kube_client *c, const char *path, enum lbp_kube_patch type,
                   const char *json, struct lbp_kube_response *resp);
int lbp_kube_delete(struct lbp_kube_client *c, const char *path, struct lbp_kube_response *resp);

/* Request counters since start, by verb, for benchmarks and tests. */
struct lbp_kube_stats {
    uint64_t get, list, watch, post, put, patch, del, retries;
};
void lbp_kube_client_stats(const struct lbp_kube_client *c, struct lbp_kube_stats *out);

/* ---------------------------------------------------------------- objects */

struct lbp_kv {
    char *key;
    char *value;
};

/* Fields of ObjectMeta lbprov reads. Every cached object starts with one. */
struct lbp_meta {
    char *namespace; /* NULL for cluster-scoped objects */
    char *name;
    char *key; /* "namespace/name" or "name": the cache key */
    char *uid;
    char *resource_version;
    int64_t creation_s; /* epoch seconds */
    bool deleting;      /* deletionTimestamp is set */
    /*
     * Only the identity, deleting and finalizers were decoded: the object
     * itself could not be (see lbp_informer_unreadable). The informer
     * caches such an object only while it is being deleted.
     */
    bool partial;
    struct lbp_kv *labels;
    size_t n_labels;
    struct lbp_kv *annotations;
    size_t n_annotations;
    char **finalizers;
    size_t n_finalizers;
    int refs; /* atomic; managed by lbp_kube_obj_ref/unref */
    void (*free_fn)(struct lbp_meta *m);
};

const char *lbp_meta_label(const struct lbp_meta *m, const char *key);
const char *lbp_meta_annotation(const struct lbp_meta *m, const char *key);
bool lbp_meta_has_finalizer(const struct lbp_meta *m, const char *f);

/* Reference counting for cached objects (all types below). */
void *lbp_kube_obj_ref(void *obj);
void lbp_kube_obj_unref(void *obj);

struct lbp_service_port {
    char *name;
    char *protocol; /* "TCP", "UDP", "SCTP" */
    int port;
    int node_port; /* 0 when none allocated */
    char *target_port;
    char *app_protocol;
};

struct lbp_lb_ingress {
    char *ip;
    char *hostname;
    char *ip_mode; /* "VIP", "Proxy" or NULL */
};

struct lbp_service {
    struct lbp_meta meta;
    char *type; /* "ClusterIP", "NodePort", "LoadBalancer", "ExternalName" */
    char *lb_class;
    char *lb_ip; /* spec.loadBalancerIP */
    char **lb_source_ranges;
    size_t n_lb_source_ranges;
    struct lbp_service_port *ports;
    size_t n_ports;
    struct lbp_kv *selector;
    size_t n_selector;
    char *session_affinity;
    int session_affinity_timeout;
    char *external_traffic_policy; /* "Cluster" or "Local" */
    char *internal_traffic_policy;
    int health_check_node_port;
    char **ip_families;
    size_t n_ip_families;
    char *ip_family_policy;
    int allocate_lb_node_ports; /* -1 unset, 0 false, 1 true */
    char **external_ips;
    size_t n_external_ips;
    char *cluster_ip;
    struct lbp_lb_ingress *ingress; /* status.loadBalancer.ingress */
    size_t n_ingress;
};

struct lbp_node_address {
    char *type; /* "InternalIP", "ExternalIP", "Hostname", ... */
    char *address;
};

struct lbp_taint {
    char *key;
    char *value;
    char *effect;
};

struct lbp_node {
    struct lbp_meta meta;
    char *provider_id;
    struct lbp_node_address *addresses;
    size_t n_addresses;
    struct lbp_taint *taints;
    size_t n_taints;
    bool unschedulable;
    int ready; /* -1 unknown, 0 false, 1 true (condition Ready) */
};

struct lbp_endpoint {
    char **addresses;
    size_t n_addresses;
    char *node_name;
    int ready; /* -1 unset (means ready), 0, 1 */
    int serving;
    int terminating;
};

struct lbp_endpointslice {
    struct lbp_meta meta;
    char *service_name; /* label kubernetes.io/service-name */
    char *address_type; /* "IPv4", "IPv6", "FQDN" */
    struct lbp_endpoint *endpoints;
    size_t n_endpoints;
};

struct lbp_lease {
    struct lbp_meta meta;
    char *holder_identity;
    int lease_duration_s;
    int64_t acquire_time_us; /* epoch microseconds, 0 when unset */
    int64_t renew_time_us;
    int lease_transitions;
};

/* ---------------------------------------------------------------- informer */

enum lbp_kind { LBP_KIND_SERVICE, LBP_KIND_NODE, LBP_KIND_ENDPOINTSLICE, LBP_KIND_LEASE };

/*
 * Handlers run on the informer's watch thread, in event order, after the
 * cache is updated. They must not block for long: enqueue a key and return.
 * Objects passed in are valid for the call; take a reference to keep one.
 * on_update also fires on resync with old == new.
 */
struct lbp_informer_handlers {
    void (*on_add)(void *ctx, const void *obj);
    void (*on_update)(void *ctx, const void *old_obj, const void *new_obj);
    void (*on_delete)(void *ctx, const void *obj);
    void *ctx;
    /*
     * An object that could not be decoded (rc says why): obj is only its
     * identity (meta.partial). The cache keeps the last version it could
     * read, if any, and lbp_informer_unreadable is true for the key until
     * a version decodes or it is deleted. May be NULL.
     */
    void (*on_unreadable)(void *ctx, const void *obj, int rc);
};

struct lbp_informer_opts {
    enum lbp_kind kind;
    const char *namespace;      /* NULL: all namespaces */
    const char *label_selector; /* NULL: everything */
    const char *field_selector; /* NULL: everything */
    unsigned resync_s;          /* 0: never */
    unsigned page_size;         /* LIST limit; 0 = 500 */
    unsigned watch_timeout_s;   /* server-side timeoutSeconds; 0 = 300 (randomised +-) */
    size_t max_line;            /* cap on one watch event; 0 = 16 MiB */
};

struct lbp_informer;

int lbp_informer_new(struct lbp_kube_client *c, const struct lbp_informer_opts *opts,
                     const struct lbp_informer_handlers *h, struct lbp_informer **out);
int lbp_informer_start(struct lbp_informer *inf); /* starts the list+watch thread */
bool lbp_informer_has_synced(struct lbp_informer *inf);
/* Blocks until synced or timeout; LBP_OK when synced. */
int lbp_informer_wait_synced(struct lbp_informer *inf, unsigned timeout_ms);
/* A referenced object, or NULL. Release with lbp_kube_obj_unref. */
void *lbp_informer_get(struct lbp_informer *inf, const char *key);
/*
 * True when the latest version of key seen could not be decoded: the
 * object exists though lbp_informer_get may have nothing (or an older
 * version) for it. Whoever acts on absence (an orphan scan) must ask this.
 */
bool lbp_informer_unreadable(struct lbp_informer *inf, const char *key);
/* A referenced snapshot of every object; release with lbp_informer_list_free. */
size_t lbp_informer_list(struct lbp_informer *inf, void ***objs);
void lbp_informer_list_free(void **objs, size_t n);
/* Counters for metrics: lists, watches started, watch restarts, 410s, events decoded. */
struct lbp_informer_stats {
    uint64_t lists, watches, restarts, gone, events, decode_errors;
};
void lbp_informer_stats(struct lbp_informer *inf, struct lbp_informer_stats *out);
void lbp_informer_stop(struct lbp_informer *inf); /* joins the thread */
void lbp_informer_free(struct lbp_informer *inf);

/*
 * Decoding, exposed for tests and benchmarks: JSON text of one object of the
 * kind to a referenced object (refs = 1). LBP_PARSE on a type mismatch.
 */
int lbp_kube_decode(enum lbp_kind kind, const char *json, size_t len, void **out);

/* ---------------------------------------------------------------- events */

struct lbp_object_ref {
    const char *kind;        /* "Service" */
    const char *api_version; /* "v1" */
    const char *namespace;
    const char *name;
    const char *uid;
    const char *resource_version;
};

struct lbp_event_recorder;

struct lbp_event_opts {
    const char *component; /* source.component, e.g. "service-controller" */
    const char *host;      /* source.host, may be NULL */
    double qps; /* per-object budget; default client-go's: burst 25, then one per 5 minutes */
    int burst;
    size_t queue_max; /* pending events before new ones are dropped; default 1000 */
};

int lbp_event_recorder_new(struct lbp_kube_client *c, const struct lbp_event_opts *opts,
                           struct lbp_event_recorder **out);
/* Queues an event; never blocks on the API. type is "Normal" or "Warning". */
void lbp_event_record(struct lbp_event_recorder *r, const struct lbp_object_ref *obj,
                      const char *type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Waits until the queue is empty (or timeout); for tests and shutdown. */
void lbp_event_recorder_flush(struct lbp_event_recorder *r, unsigned timeout_ms);
void lbp_event_recorder_free(struct lbp_event_recorder *r);

/* ---------------------------------------------------------------- leases */

/*
 * Lease CRUD with optimistic concurrency: update sends the resourceVersion
 * of the lease it was given and returns LBP_CONFLICT when someone else
 * wrote in between. get returns a fresh (refs = 1) object.
 */
int lbp_lease_get(struct lbp_kube_client *c, const char *ns, const char *name,
                  struct lbp_lease **out);
int lbp_lease_create(struct lbp_kube_client *c, const char *ns, const struct lbp_lease *want,
                     struct lbp_lease **out);
int lbp_lease_update(struct lbp_kube_client *c, const struct lbp_lease *want,
                     struct lbp_lease **out);

/* ---------------------------------------------------------------- leader election */

/*
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's
 * semantics: a candidate takes the Lease when it is free, released, or not
 * renewed for lease_duration as observed on the candidate's own clock; the
 * leader renews every retry_period and gives up when renew_deadline passes
 * without a successful renew.
 *
 * lbp_leader_is_leader is a fence, not a flag: it is true only while the
 * last successful renew started less than renew_deadline ago, measured on
 * the monotonic clock. Because renew_deadline < lease_duration, a leader
 * that checks it before every write stops writing before any other
 * candidate can consider the Lease expired, even if its election thread is
 * stuck.
 */
struct lbp_leader_opts {
    const char *namespace;
    const char *name;
    const char *identity;          /* unique per process, e.g. "<pod>_<random>" */
    unsigned lease_duration_ms;    /* default 15000 */
    unsigned renew_deadline_ms;    /* default 10000 */
    unsigned retry_period_ms;      /* default 2000 */
    void (*on_started)(void *ctx); /* on the election thread, once leading */
    void (*on_stopped)(void *ctx); /* leadership lost (not called on release) */
    void *ctx;
};

struct lbp_leader;

int lbp_leader_new(struct lbp_kube_client *c, const struct lbp_leader_opts *opts,
                   struct lbp_leader **out, char *err, size_t errlen);
int lbp_leader_start(struct lbp_leader *le);
bool lbp_leader_is_leader(struct lbp_leader *le);
/* Blocks until this process leads or timeout_ms passes (0: forever); LBP_OK when leading. */
int lbp_leader_wait(struct lbp_leader *le, unsigned timeout_ms);
/*
 * Stops the election thread; when leading, first gives the Lease up
 * (empty holder) so a standby takes over at once.
 */
void lbp_leader_stop(struct lbp_leader *le, bool release);
void lbp_leader_free(struct lbp_leader *le);

#endif
