/*
 * cs_int.h — what the CloudStack provider's files share: the configured
 * instance (struct lbp_provider_ctx), the signer, and the API layer.
 *
 * sign.c turns a query into the signed one the management server verifies
 * (cloud-apis.md 4.1). api.c sends commands through the toolkit's REST call
 * (reads as GET, changes as POST so a POST that may have arrived is never
 * re-sent blindly), unwraps the "<command>response" envelope, walks paged
 * lists and polls async jobs. cloudstack.c is the vtable and the resource
 * model.
 */
#ifndef LBP_CLOUDS_CS_INT_H
#define LBP_CLOUDS_CS_INT_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "provider/http.h"
#include "provider/lro.h"
#include "provider/nodes.h"
#include "provider/provider.h"
#include "provider/rest.h"

#define CS_ID_MAX 64
#define CS_KEY_MAX 512
#define CS_EXPIRES_S 600 /* signatureversion=3: a signed request is good for 10 minutes */

/* Tags that mark what this cluster owns. */
#define CS_TAG_CLUSTER "lbprov-cluster"
#define CS_TAG_LB "lbprov-lb"
#define CS_TAG_SERVICE "lbprov-service"
#define CS_TAG_ACQUIRED "lbprov-acquired" /* "true": we associated it, so we release it */

/*
 * One associateIpAddress call in flight (cloudstack.c acquire): SENT while
 * its answer may still come, LOST while the lookup after a lost reply
 * runs. Lives on the acquiring thread's stack, linked into ctx->assocs.
 */
enum cs_assoc_state { CS_ASSOC_SENT, CS_ASSOC_LOST };
struct cs_assoc {
    const char *net, *vpc; /* where the address is asked for ("" for no VPC) */
    enum cs_assoc_state state;
    uint64_t send_no;    /* ctx->assoc_sends when it was (last) sent */
    uint64_t started_ms; /* monotonic, when it began */
    char claimed[CS_ID_MAX];
    struct cs_assoc *next;
};

/* An address id answered to, or claimed by, one of this process's acquisitions. */
struct cs_known {
    char id[CS_ID_MAX];
    uint64_t added_ms; /* monotonic */
};

/* A VM as the node cache keeps it. */
struct cs_vm {
    char id[CS_ID_MAX];
    char network[CS_ID_MAX]; /* the default nic's network */
};

struct lbp_provider_ctx {
    char cluster[128];
    char api_url[512];
    char api_key[CS_KEY_MAX];
    char secret_key[CS_KEY_MAX];
    char project[CS_ID_MAX];
    char zone[128];
    char network[CS_ID_MAX]; /* network-id from the cloud-config; "" = the nodes' network */
    char key_file[2][512];   /* api-key-file, secret-key-file (a mounted Secret) */
    atomic_bool keys_ready;  /* the keys are loaded (written under mu) */
    struct lbp_http_client *http;
    struct lbp_rest rest;
    struct lbp_lro_table *ops;
    struct lbp_node_cache *vms; /* "id:<uuid>" and "name:<name>" → struct cs_vm */
    pthread_mutex_t mu;         /* guards the network table */
    /* Guards the six below, only while they are read or changed: never across a call. */
    pthread_mutex_t assoc_mu;
    pthread_cond_t assoc_cv; /* an association left CS_ASSOC_SENT (CLOCK_MONOTONIC) */
    struct cs_assoc *assocs; /* associateIpAddress calls in flight */
    uint64_t assoc_sends;    /* counts every (re)send of one */
    uint64_t assoc_waits;    /* lost replies' lookups that waited for others' answers */
    struct cs_known *known;  /* ids a lost reply's lookup must not take */
    size_t n_known, cap_known;
    struct {
        char id[CS_ID_MAX];
        char vpc[CS_ID_MAX];
        char acl[CS_ID_MAX];
    } nets[16];
    size_t n_nets;
};

/* Reads the keys from their files once they can be read (cloudstack.c). */
int cs_keys_load(struct lbp_provider_ctx *ctx, char *err, size_t errlen);

/* ---- sign.c ---- */

/*
 * The string the server signs for an encoded query "a=1&b=x%20y" (values
 * %-encoded in any way; '+' is a space as a servlet reads it): names
 * sorted byte-wise, values re-encoded as Java's URLEncoder does, joined,
 * lower-cased. Fills out (caller frees with lbp_buf_free).
 */
int lbp_cs_string_to_sign(const char *query, struct lbp_buf *out);
/* Base64(HMAC-SHA1(secret, sts)) into out (at least 29 bytes). */
int lbp_cs_signature(const char *secret, const char *sts, char *out, size_t cap);
/*
 * query + apikey, response=json, signatureversion=3 and expires (expires_s
 * epoch; 0: no expiry) + signature, every value %-encoded: the query a
 * GET carries or a POST sends as its body.
 */
int lbp_cs_sign_query(const char *query, const char *api_key, const char *secret, int64_t expires_s,
                      struct lbp_buf *out);

/* ---- api.c ---- */

/* A command's parameters, built up and %-encoded as added. */
struct cs_q {
    struct lbp_buf b;
    char command[64];
    /* Filled by cs_read from the answers' Date headers: the server's wall clock minus this
       host's monotonic clock, in ms, never more than it really is (the largest such bound). */
    int64_t clock_ms;
    bool has_clock;
};
void cs_q_init(struct cs_q *q, const char *command);
void cs_q_add(struct cs_q *q, const char *name, const char *value);
void cs_q_addf(struct cs_q *q, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cs_q_free(struct cs_q *q);
/* Adds name, value pairs up to a NULL name; a NULL value skips its pair. */
void cs_q_addv(struct cs_q *q, va_list ap);

/* The error mapper for {"<cmd>response":{"errorcode","errortext"}}. */
void lbp_cs_map_error(struct json_object *body, struct lbp_rest_error *e);
/* The object inside the single "<command>response" key, or NULL. */
struct json_object *lbp_cs_unwrap(struct json_object *body);

/*
 * A synchronous read (GET, retried freely). *out is the unwrapped response
 * (a reference the caller puts).
 */
int cs_read(struct lbp_provider_ctx *ctx, struct cs_q *q, struct json_object **out,
            struct lbp_call *call);
/*
 * Every item of a list command (item: "publicipaddress"), page by page,
 * into a new array *out (the caller puts).
 */
int cs_list(struct lbp_provider_ctx *ctx, struct cs_q *q, const char *item,
            struct json_object **out, struct lbp_call *call);
/* cs_list of command with name, value pairs (NULL-ended). */
int cs_listv(struct lbp_provider_ctx *ctx, const char *command, const char *item,
             struct json_object **out, struct lbp_call *call, ...);

/*
 * Whether a create whose reply was lost took effect: looks for what it
 * would have made. LBP_OK with its id in found, LBP_NOT_FOUND (surely
 * not: the command is sent again), or an error (cannot tell: not re-sent).
 * sent_ms: the monotonic time (lbp_now_ms) at which the lost attempt was
 * signed, just before it went out.
 */
typedef int (*cs_lookup_fn)(struct lbp_provider_ctx *ctx, void *ud, char *found, size_t cap,
                            uint64_t sent_ms);

/*
 * An asynchronous change (POST, never re-sent blindly). On success jobid
 * and id (for creates) are filled. When the reply was lost and lookup (may
 * be NULL) finds what the call made, LBP_OK with id from the lookup and
 * jobid "".
 */
int cs_change(struct lbp_provider_ctx *ctx, struct cs_q *q, cs_lookup_fn lookup, void *lookup_ud,
              char jobid[CS_ID_MAX], char id[CS_ID_MAX], struct lbp_call *call);

/* The lro poll function: ref is "jobid,jobid,...". */
int cs_poll_jobs(void *ud, const char *ref, unsigned *retry_after_s, char *err, size_t errlen);
/*
 * One finished job's outcome: LBP_PENDING (status 0), LBP_OK (1), or the
 * failure (2) with the server's error text in err. For tests.
 */
int lbp_cs_job_outcome(struct json_object *job, char *err, size_t errlen);

/*
 * A time as the server writes it ("2026-12-06T04:30:00+0000", also "+02:00"
 * or "Z") into epoch seconds; LBP_PARSE when it is none.
 */
int lbp_cs_parse_time(const char *s, int64_t *epoch_s);
/* An HTTP Date ("Sun, 06 Dec 2026 04:30:00 GMT") into epoch seconds; LBP_PARSE when none. */
int lbp_cs_parse_http_date(const char *s, int64_t *epoch_s);

/* Small readers: a string or number field as text ("" when absent). */
const char *cs_str(struct json_object *o, const char *key, char *buf, size_t cap);
bool cs_has_tag(struct json_object *o, const char *key, const char *value);
const char *cs_tag(struct json_object *o, const char *key);

#endif
