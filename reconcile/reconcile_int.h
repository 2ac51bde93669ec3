/*
 * reconcile_int.h — the pieces of the service controller, exposed to each
 * other and to unit tests: the work queue, node eligibility and node sets,
 * desired-state construction, validation and the API writes.
 */
#ifndef LBP_RECONCILE_INT_H
#define LBP_RECONCILE_INT_H

#include "reconcile/reconcile.h"

#include <pthread.h>
#include <uthash.h>

struct lbp_metric;

/* ------------------------------------------------------------ queue */

struct lbp_queue;

int lbp_queue_new(uint64_t base_ms, uint64_t max_ms, struct lbp_queue **out);
/* Queues key unless it is queued already; a key waiting out a backoff keeps waiting. */
void lbp_queue_add(struct lbp_queue *q, const char *key);
/* Like add, but a key waiting out a backoff is made ready now (its inputs changed). */
void lbp_queue_add_now(struct lbp_queue *q, const char *key);
/* Blocks for the next key (malloc'd, caller frees); false after shutdown. */
bool lbp_queue_get(struct lbp_queue *q, char **key);
/* The worker finished key successfully: forget its failures. */
void lbp_queue_done(struct lbp_queue *q, const char *key);
/*
 * The worker failed on key: retry after after_ms, or after the key's
 * exponential backoff when after_ms is 0. Returns the delay chosen.
 */
uint64_t lbp_queue_retry(struct lbp_queue *q, const char *key, uint64_t after_ms);
/*
 * The worker started something that is not finished (a cloud operation in
 * progress): run key again after after_ms. Not a failure: no retry is
 * counted and the key's backoff neither grows nor resets.
 */
void lbp_queue_after(struct lbp_queue *q, const char *key, uint64_t after_ms);
size_t lbp_queue_len(struct lbp_queue *q);
void lbp_queue_shutdown(struct lbp_queue *q);
void lbp_queue_free(struct lbp_queue *q);

/* ------------------------------------------------------------ nodes */

/* Upstream's backend rules, plus Ready when ready_filter is set. */
bool lbp_node_eligible(const struct lbp_node *n, bool ready_filter);

/* An immutable, reference-counted, name-sorted set of eligible nodes. */
struct lbp_nodeset {
    int refs;
    uint64_t hash; /* over names, providerIDs and addresses */
    size_t n;
    struct lbp_lb_node *nodes;
};

struct lbp_nodeset *lbp_nodeset_build(void *const *nodes, size_t n, bool ready_filter);
struct lbp_nodeset *lbp_nodeset_ref(struct lbp_nodeset *s);
void lbp_nodeset_unref(struct lbp_nodeset *s);

/* ------------------------------------------------------------ desired state */

/* Type LoadBalancer and a class we own (none, or lb_class). */
bool lbp_service_handled(const struct lbp_service *svc, const char *lb_class);
/* Hash of every field whose change calls for a cloud sync (upstream's list). */
uint64_t lbp_service_hash(const struct lbp_service *svc);
/*
 * Hash of metadata.labels and spec.selector. Upstream does not re-sync on
 * them; a provider that takes run-time configuration (configure slot: bare
 * metal, whose pools select Services by label and share addresses by
 * selector) needs it: LBP_CAP_SERVICE_LABELS folds it in for those only.
 */
uint64_t lbp_service_label_hash(const struct lbp_service *svc);
/*
 * "k=v" pairs of the selector, sorted, joined by ',', SHA-256, lowercase hex
 * into out; false (out = "") when the selector is empty.
 */
bool lbp_selector_digest(const struct lbp_service *svc, char out[65]);

struct lbp_desired {
    struct lbp_lb_spec spec;
    struct lbp_lb_port *ports;
    const char **ranges;
    char *ranges_buf; /* backing store for annotation ranges */
    struct lbp_lb_annotation *annotations;
    struct lbp_lb_annotation *labels;
    char selector_hash[65];
};

/* Fills d->spec; it points into svc and ns, which must outlive it. */
int lbp_desired_build(const struct lbp_service *svc, const struct lbp_nodeset *ns,
                      const char *cluster_name, struct lbp_desired *d);
void lbp_desired_free(struct lbp_desired *d);

/* LBP_OK, or LBP_INVALID with a message naming the field and value. */
int lbp_validate(const struct lbp_service *svc, const struct lbp_desired *d, unsigned caps,
                 char *msg, size_t msglen);
/* A CIDR such as "10.0.0.0/8" or "2001:db8::/32". */
bool lbp_cidr_valid(const char *s);

/* Whether the cached ingress equals what the provider reported. */
bool lbp_ingress_equal(const struct lbp_service *svc, const struct lbp_lb_status *st);

/* ------------------------------------------------------------ API writes (status.c) */

int lbp_svc_finalizer(struct lbp_kube_client *c, const struct lbp_service *svc, bool add);
int lbp_svc_write_status(struct lbp_kube_client *c, const struct lbp_service *svc,
                         const struct lbp_lb_status *st);

/* ------------------------------------------------------------ status writer (status_writer.c) */

/*
 * A few threads that make the Service PATCHes for the workers (the
 * finalizer, status.loadBalancer), so a worker hands the write over and
 * takes its next key. Per key (the Service's ns/name) at most one write is
 * in flight; a newer submission replaces one not yet sent; one that arrives
 * while a write is in flight waits for it, and is not sent at all when that
 * write succeeded and said the same to the same object.
 */
struct lbp_status_writer;

enum lbp_sw_kind {
    LBP_SW_STATUS,    /* status.loadBalancer := st */
    LBP_SW_FINALIZER, /* add lbprov's finalizer */
};

/* How a submitted write ended: each submission gets exactly one done call. */
enum lbp_sw_result {
    LBP_SW_WRITTEN,  /* the PATCH succeeded */
    LBP_SW_SAME,     /* the write just made for the key said the same: not sent */
    LBP_SW_FAILED,   /* the PATCH failed (rc says how) */
    LBP_SW_GONE,     /* 404, or check found the object gone or replaced: not retried */
    LBP_SW_DROPPED,  /* check said no (fenced), cancelled or stopping: not sent */
    LBP_SW_REPLACED, /* a newer submission for the key took its place before it was sent */
};

struct lbp_sw_job {
    enum lbp_sw_kind kind;
    struct lbp_service *svc; /* a reference the job holds */
    struct lbp_lb_status st;
    uint64_t hash;  /* lbp_ingress_hash_status(&st) */
    unsigned flags; /* the submitter's, handed back to done */
};

struct lbp_sw_hooks {
    void *ctx;
    /* The PATCH itself: LBP_OK or the client's rc (LBP_NOT_FOUND for 404). */
    int (*write)(void *ctx, const struct lbp_sw_job *job);
    /*
     * Asked just before each write: LBP_OK to send it, LBP_NOT_FOUND when
     * the object is gone or is another one now, anything else to drop it.
     */
    int (*check)(void *ctx, const struct lbp_service *svc);
    /*
     * The end of one submission, on a writer thread (or on the thread that
     * submitted, cancelled or stopped, for a job never sent). No writer lock
     * is held; it may submit again.
     */
    void (*done)(void *ctx, const struct lbp_sw_job *job, enum lbp_sw_result res, int rc);
    /* Keys holding work at once before a new key's submission waits (0: 4 per thread, >= 32). */
    unsigned max_keys;
};
#define LBP_SW_MIN_KEYS 32u

int lbp_sw_new(const struct lbp_sw_hooks *hooks, unsigned threads, struct lbp_status_writer **out);
/*
 * Queues a write of kind to svc (referenced, not taken); st for
 * LBP_SW_STATUS, NULL otherwise. LBP_OK, or LBP_RETRY once the writer is
 * stopping (nothing queued, no done call).
 */
int lbp_sw_submit(struct lbp_status_writer *w, enum lbp_sw_kind kind, struct lbp_service *svc,
                  const struct lbp_lb_status *st, unsigned flags);
/* Drops key's write not yet sent (done: DROPPED) and waits for one in flight. */
void lbp_sw_cancel(struct lbp_status_writer *w, const char *key);
/* Whether key has a write queued or in flight. */
bool lbp_sw_busy(struct lbp_status_writer *w, const char *key);
/*
 * Drops every write not yet sent (done: DROPPED), lets those in flight
 * finish and joins the threads: LBP_OK, or LBP_RETRY when some were still
 * busy after timeout_ms (abandoned: lbp_sw_free must not be called).
 */
int lbp_sw_stop(struct lbp_status_writer *w, unsigned timeout_ms);
void lbp_sw_free(struct lbp_status_writer *w);

/* ------------------------------------------------------------ the controller */

/* The mutating provider calls, for a cloud operation in progress. */
enum lbp_cloud_op { LBP_OP_NONE, LBP_OP_ENSURE, LBP_OP_UPDATE, LBP_OP_REMOVE };

/* What the controller last did for one Service key. */
struct lbp_svc_state {
    UT_hash_handle hh;
    uint64_t svc_hash;     /* lbp_service_hash of the last successful ensure; 0: none */
    uint64_t node_hash;    /* the node set it was given */
    uint64_t ingress_hash; /* the ingress the provider returned */
    uint64_t invalid_hash; /* a Service rejected by validation: not retried until it changes */
    uint64_t config_gen;   /* the provider configuration its last ensure or rejection saw */
    bool has_lb;
    /*
     * The status write for this ensure went to the status writer: the fields
     * above count it as applied, and the cached ingress, which lags it, is
     * not compared with ingress_hash while the write is in flight
     * (status_written_ms 0) or, once made, until the cache shows it or
     * LBP_STATUS_LAG_MS have passed (then a differing status is someone
     * else's, and an ensure writes ours again).
     */
    bool status_pending;
    uint64_t status_written_ms;
    /* PENDING or INVALID with a provider reason: it may be waiting for an
     * address another Service holds, so any LB removal requeues it */
    bool waiting;
    int fail_rc; /* the provider's answer that invalid_hash/config_gen go with */
    /* a cloud operation the provider answered LBP_PENDING for, and since when */
    enum lbp_cloud_op op_pending;
    uint64_t op_since_ms;
    char key[];
};

#define LBP_STATUS_LAG_MS 10000

uint64_t lbp_ingress_hash_status(const struct lbp_lb_status *st);
uint64_t lbp_ingress_hash_service(const struct lbp_service *svc);

struct lbp_orphan;

struct lbp_reconcile {
    struct lbp_reconcile_opts o;
    char *cluster_name;
    char *lb_class;
    struct lbp_queue *q;
    struct lbp_status_writer *sw;
    struct lbp_informer *services, *nodes;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cond;
    struct lbp_svc_state *states;
    struct lbp_nodeset *nodeset;
    bool nodes_dirty;
    bool stopping;
    bool started;
    int live_threads;

    pthread_t *workers;
    pthread_t sync_thread;
    pthread_t config_thread;
    bool config_started;
    /* bumped by every provider configuration applied (config.c) */
    uint64_t config_gen;
    uint64_t config_digest[LBP_CONFIG_KINDS_MAX]; /* of the objects last configured, per kind */
    struct lbp_metric *m_pool_in_use, *m_pool_size;
    struct lbp_orphan *orphans;

    /* metrics (atomics) */
    uint64_t m_syncs, m_sync_errors, m_nodesyncs, m_nodesync_errors, m_skipped;
    uint64_t m_cloud_calls, m_cloud_errors, m_orphans_removed, m_api_writes;
    uint64_t m_nodesync_last_us;
    /* node-set change → last LB updated: upstream's nodesync_latency_seconds */
    uint64_t nodesync_started_ms;
    size_t nodesync_pending;
    double nodesync_latency_s;
};

/* metrics.c: registration, the scrape-time collector, the two histograms. */
void lbp_reconcile_metrics_init(struct lbp_reconcile *r);
void lbp_reconcile_metrics_fini(struct lbp_reconcile *r);
void lbp_reconcile_observe_nodesync(double seconds);
void lbp_reconcile_observe_host_update(double seconds);

void *lbp_reconcile_worker(void *arg);
/* The status writer's hooks (worker.c): the PATCH, the check before it, the key's end. */
void lbp_reconcile_sw_hooks(struct lbp_reconcile *r, struct lbp_sw_hooks *h);
/* True when the write fence is closed (see lbp_reconcile_opts.may_write); logs why. */
bool lbp_reconcile_fenced(struct lbp_reconcile *r, const char *what);
/* Records an Event on the Service (queued; never blocks on the API). */
void lbp_reconcile_event(struct lbp_reconcile *r, const struct lbp_service *svc, const char *type,
                         const char *reason, const char *msg);
/* Finds or creates the state for key; r->mu held. */
struct lbp_svc_state *lbp_state_get(struct lbp_reconcile *r, const char *key, bool create);
/* The sync hash: lbp_service_hash, plus labels/selector for providers that read them. */
uint64_t lbp_reconcile_svc_hash(const struct lbp_reconcile *r, const struct lbp_service *svc);
/* Requeues, now, every Service waiting for an address or room (an LB was removed). */
void lbp_reconcile_wake_waiting(struct lbp_reconcile *r);
/* Requeues, now, every handled Service (the provider configuration changed). */
void lbp_reconcile_requeue_all(struct lbp_reconcile *r);
/* Replays each handled Service's status through provider->restore (config.c). */
void lbp_reconcile_restore(struct lbp_reconcile *r);
/* First configuration (synchronous) and the polling thread; LBP_CAP_RUNTIME_CONFIG only. */
void lbp_config_initial(struct lbp_reconcile *r);
int lbp_config_start(struct lbp_reconcile *r);
/* Sync thread helpers (orphans.c). */
void lbp_orphans_scan(struct lbp_reconcile *r);
void lbp_orphans_free(struct lbp_reconcile *r);

#endif
