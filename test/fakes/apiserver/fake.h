/*
 * fake.h — what the files of the fake Kubernetes API server share.
 *
 * One process-wide lock (fake_lock) guards the object store, the watch
 * history ring and the IP/port allocators; every handler takes it once,
 * does its O(1) (or, for LIST, O(n)) work and drops it. Stored JSON objects
 * are immutable once stored: a write builds a new object, so the history
 * ring and open watches can keep references to old versions safely. Objects
 * are serialised once, when written, and that text is what GET, LIST and
 * watches copy out.
 */
#ifndef FAKE_APISERVER_H
#define FAKE_APISERVER_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "common/buf.h"

#define FAKE_MAX_BODY (3u * 1024u * 1024u) /* the real server's request cap */
#define FAKE_NAME_MAX 254

extern pthread_mutex_t fake_lock;
extern pthread_cond_t fake_cond; /* broadcast on every stored event and on shutdown */
extern volatile int fake_shutting_down;

/* Command-line settings. */
struct fake_config {
    unsigned history;             /* watch history ring size */
    unsigned bookmark_interval_s; /* seconds between BOOKMARK events */
    bool gone_as_http; /* 410 for too-old watches as an HTTP status, not an ERROR event */
    bool rbac;         /* --authorization-mode=RBAC: rbac.c decides every API request */
    int verbose;
    int port;
};
extern struct fake_config fake_cfg;

/* ---- objects ---------------------------------------------------------- */

/* Serialised JSON, shared by reference (under fake_lock). */
struct fake_rec {
    int refs;
    size_t len;
    char json[];
};
struct fake_rec *fake_rec_new(json_object *o);
void fake_rec_ref(struct fake_rec *r);
void fake_rec_unref(struct fake_rec *r);

enum fake_name_rule { NAME_SUBDOMAIN, NAME_DNS1035, NAME_DNS1123_LABEL };

struct fake_obj {
    char *key;      /* "ns/name", or "name" for cluster-scoped */
    json_object *o; /* immutable once stored */
    struct fake_rec *rec;
    UT_hash_handle hh;
};

/* One kind of resource ("services", "leases.coordination.k8s.io", custom...). */
struct fake_rtype {
    char key[200]; /* "group/resource" ("/services" for core) */
    char group[100];
    char version[40];
    char resource[64];
    char kind[64];
    char short_name[16];
    bool namespaced;
    bool has_status; /* status is a subresource: main writes keep it, /status writes keep spec */
    bool custom;     /* generic store (custom resources) */
    bool delete_returns_object; /* immediate DELETE answers with the object, not a Status */
    enum fake_name_rule name_rule;
    struct fake_obj *objs;
    size_t count;
    UT_hash_handle hh;
};

/* Parsed request. */
enum fake_verb { V_LIST, V_WATCH, V_GET, V_POST, V_PUT, V_PATCH, V_DELETE, V_OTHER };
struct fake_req {
    enum fake_verb verb;
    char group[100];
    char version[40];
    char resource[64];
    char ns[FAKE_NAME_MAX];
    char name[FAKE_NAME_MAX];
    char sub[32];
    bool has_ns;
    struct fake_rtype *rt;
    const char *user; /* authenticated user's name (NULL without --token) */
    /* query */
    const char *label_selector;
    const char *field_selector;
    const char *rv;
    const char *cont;
    const char *timeout_s;
    long limit;
    bool bookmarks;
    bool send_initial_events;
    bool table; /* Accept asks for a meta.k8s.io Table (kubectl get) */
    /* body */
    const char *content_type;
    const char *user_agent; /* names the field manager, as upstream's prefixFromUserAgent */
    const char *body;
    size_t body_len;
};

struct fake_reply {
    int code;
    char *body; /* malloc'd JSON */
    size_t len;
    int retry_after; /* >0: Retry-After header */
};

/* ---- status.c --------------------------------------------------------- */

/* A metav1.Status error; details are omitted when name/kind are NULL. */
json_object *fake_status(int code, const char *reason, const char *message, const char *name,
                         const char *group, const char *kind);
void fake_reply_json(struct fake_reply *r, int code, json_object *o); /* takes o */
void fake_reply_status(struct fake_reply *r, int code, const char *reason, const char *message,
                       const char *name, const char *group, const char *kind);
void fake_reply_not_found(struct fake_reply *r, const struct fake_rtype *rt, const char *name);
void fake_reply_conflict(struct fake_reply *r, const struct fake_rtype *rt, const char *name);
const char *fake_reason_for(int code);

/* Field errors collected for a 422 Invalid. */
struct fake_errs {
    json_object *causes; /* array of {reason, message, field} */
    struct lbp_buf msg;  /* "field: detail" joined */
    int n;
};
void fake_errs_init(struct fake_errs *e);
void fake_errs_free(struct fake_errs *e);
void fake_errs_add(struct fake_errs *e, const char *reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fake_reply_invalid(struct fake_reply *r, const struct fake_rtype *rt, const char *name,
                        struct fake_errs *e);

/* ---- util ------------------------------------------------------------- */

json_object *fake_get(json_object *o, const char *path); /* "a.b.c", NULL when absent */
const char *fake_get_str(json_object *o, const char *path);
json_object *fake_ensure_obj(json_object *o, const char *key); /* child object, created */
void fake_uuid(char out[37]);
uint64_t fake_random(void);
void fake_now_rfc3339(char out[32]);
bool fake_name_valid(enum fake_name_rule rule, const char *name, struct fake_errs *e,
                     const char *field);

/* ---- store.c ---------------------------------------------------------- */

int fake_store_init(void);
void fake_store_free(void);
/* Finds (or, for a custom group, creates) the resource type named by the request. */
struct fake_rtype *fake_rtype_lookup(const char *group, const char *version, const char *resource,
                                     bool create);
struct fake_rtype *fake_rtype_iter(struct fake_rtype *prev);
/* Registers a custom resource type explicitly (control endpoint). */
struct fake_rtype *fake_rtype_register(const char *group, const char *version, const char *resource,
                                       const char *kind, bool namespaced);
uint64_t fake_store_rv(void);

void fake_store_get(const struct fake_req *q, struct fake_reply *r);
void fake_store_list(const struct fake_req *q, struct fake_reply *r);
void fake_store_create(const struct fake_req *q, struct fake_reply *r);
void fake_store_update(const struct fake_req *q, struct fake_reply *r);
void fake_store_patch(const struct fake_req *q, struct fake_reply *r);
void fake_store_delete(const struct fake_req *q, struct fake_reply *r);

/* ---- table.c ---------------------------------------------------------- */

void fake_table_reply(const struct fake_rtype *rt, struct fake_reply *r, uint64_t rv,
                      struct fake_rec **recs, size_t from, size_t to, const char *cont,
                      size_t remaining);
/* One object as a one-row Table (a watch event for kubectl get -w); malloc'd. */
char *fake_table_event(const struct fake_rtype *rt, const char *json);

/* ---- select.c --------------------------------------------------------- */

struct fake_sel;
/* NULL selector string: *out = NULL (matches all). Errors: message in err. */
int fake_sel_parse(const char *s, bool field, struct fake_sel **out, char *err, size_t errlen);
bool fake_sel_match(const struct fake_sel *s, json_object *o);
void fake_sel_free(struct fake_sel *s);
/* For a field selector: the value of metadata.name=X / metadata.namespace=X, or NULL. */
const char *fake_sel_exact(const struct fake_sel *s, const char *field);

/* ---- watch.c ---------------------------------------------------------- */

enum fake_ev_type { EV_ADDED, EV_MODIFIED, EV_DELETED };
int fake_watch_init(unsigned history);
/* Sets the nodePort range (call once, before serving); -1 when invalid. */
int fake_nodeport_range(long min, long max);
void fake_watch_free(void);
/* Records an event (store calls it with fake_lock held); takes references. */
void fake_watch_emit(struct fake_rtype *rt, enum fake_ev_type type, json_object *o,
                     struct fake_rec *rec, json_object *prev, struct fake_rec *prev_rec);
/* Ends every open watch (fault "dropWatches"). */
void fake_watch_drop_all(void);
/* Opens a watch; on success *resp is a streaming MHD response. */
struct MHD_Connection;
struct MHD_Response;
int fake_watch_open(const struct fake_req *q, struct MHD_Connection *c, int force_gone,
                    struct MHD_Response **resp, struct fake_reply *err);
unsigned fake_watch_open_count(void);

/* ---- defaults.c ------------------------------------------------------- */

/*
 * Service defaulting, allocation and validation. old is the stored version
 * on update (NULL on create). Adds causes to e and allocates nothing when
 * invalid; fake_svc_commit then claims what was chosen.
 */
void fake_svc_admit(json_object *svc, json_object *old, const char *key, struct fake_errs *e);
void fake_svc_commit(json_object *svc, json_object *old, const char *key);
void fake_svc_release(json_object *svc, const char *key);

/* ---- managed.c ------------------------------------------------------- */

/*
 * Records a write in nw's metadata.managedFields as the real server's field
 * manager does for an Update: the fields that differ from old (NULL on
 * create) join the entry of this manager, operation and subresource, whose
 * time is now. Existing entries come from old, never from the client.
 */
void fake_managed_update(const struct fake_req *q, json_object *old, json_object *nw);

/* ---- patch.c ---------------------------------------------------------- */

enum fake_patch_type { PATCH_MERGE, PATCH_JSON, PATCH_STRATEGIC };
/*
 * Applies patch text to a deep copy of doc. Returns 0 and *out, or an HTTP
 * code (400 malformed patch, 422 a JSON-patch op that does not apply) with
 * msg filled.
 */
int fake_patch_apply(enum fake_patch_type type, json_object *doc, const char *patch, size_t len,
                     json_object **out, char *msg, size_t msglen);

/* ---- faults.c --------------------------------------------------------- */

enum fake_fault_result { FAULT_NONE, FAULT_REPLIED, FAULT_GONE_EVENT, FAULT_GONE_HTTP };
/* Counts the request and decides whether a fault answers it instead. */
enum fake_fault_result fake_faults_check(const struct fake_req *q, struct fake_reply *r);
const char *fake_verb_name(enum fake_verb v);
/* Adds one to the /_fake/stats counter named key. */
void fake_stats_add(const char *key);
void fake_control(const char *method, const char *url, const char *body, size_t len,
                  struct fake_reply *r);
void fake_faults_free(void);

/* ---- auth.c ----------------------------------------------------------- */

#define FAKE_USER_GROUPS_MAX 8
struct fake_user {
    const char *name;
    const char *groups[FAKE_USER_GROUPS_MAX]; /* NULL-terminated */
};
/*
 * "TOKEN" or "TOKEN:USER" (USER may hold colons: system:serviceaccount:NS:SA).
 * Without USER the first token is "admin" (system:masters), later ones user1,
 * user2... admin puts the user in system:masters whatever its name.
 */
int fake_auth_add_token(const char *spec, bool admin);
int fake_auth_add_user(const char *token, const char *name); /* control endpoint */
bool fake_auth_enabled(void);
/* The user for "Bearer <token>", or NULL; valid until exit. */
const struct fake_user *fake_auth_lookup(const char *authorization);
const struct fake_user *fake_auth_anonymous(void);
bool fake_user_in_group(const struct fake_user *u, const char *group);
void fake_auth_free(void);

/* ---- rbac.c ----------------------------------------------------------- */

/* What the authorizer sees of a request (upstream's authorizer.Attributes). */
struct fake_authz {
    const struct fake_user *user;
    const char *
        verb; /* get list watch create update patch delete deletecollection; or lower-case method */
    bool resource_request;
    const char *group, *resource, *sub, *ns, *name; /* "" when absent */
    const char *path;                               /* non-resource requests */
};
/* Allows (true) or fills r with upstream's 403 Forbidden Status (false). Takes fake_lock. */
bool fake_rbac_authorize(const struct fake_authz *a, struct fake_reply *r);
/* GET /_fake/audit, POST /_fake/audit/reset. */
void fake_rbac_audit_reply(struct fake_reply *r);
void fake_rbac_audit_reset(void);
void fake_rbac_free(void);

/* ---- discovery.c ------------------------------------------------------ */

/* Serves /api, /apis, /version...; false when the path is not discovery. */
bool fake_discovery(const char *url, struct fake_reply *r);

/* ---- tls.c ------------------------------------------------------------ */

/* A CA and a server certificate for 127.0.0.1/localhost, as PEM strings. */
int fake_tls_make(char **cert_chain_pem, char **key_pem, char **ca_pem);

/* ---- http.c ----------------------------------------------------------- */

struct MHD_Daemon;
struct MHD_Daemon *fake_http_start(const char *bind_addr, int port, const char *cert,
                                   const char *key, int *bound_port);

#endif
