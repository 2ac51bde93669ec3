/*
 * fake.h — shared between fake-gce's parts: main.c (flags, HTTP routing,
 * the /_fake/ control endpoint), auth.c (service-account key, the OAuth2
 * token endpoint, the metadata server, Bearer checks), compute.c (the
 * Compute Engine v1 resources and Operations) and faults.c (injected
 * faults and call counters).
 *
 * All state sits behind one mutex (gce_lock): the fake serves tests, not
 * load, and one lock keeps every answer consistent with the state dump.
 */
#ifndef LBP_FAKE_GCE_H
#define LBP_FAKE_GCE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GCE_MAX_ZONES 8

struct gce_config {
    char project[64];
    char project_number[24];
    char region[64];
    char zones[GCE_MAX_ZONES][64];
    size_t n_zones;
    char self_base[256];      /* selfLink prefix, ends in "/compute/v1/" */
    char token_uri[256];      /* this fake's own /token, written into the key file */
    uint32_t ext_base, ext_n; /* external address range (host order) */
    uint32_t int_base, int_n; /* the default subnetwork's range */
    int op_polls;             /* polls an Operation stays PENDING/RUNNING */
    int op_ms;                /* ...or until this old (0: polls only) */
    int token_lifetime_s;
    bool metadata_sa;         /* the metadata server has a service account */
    char subject_token[1024]; /* what STS accepts as a workload's subject token ("" none) */
    char wif_audience[300];   /* the workload identity provider STS expects */
};

extern struct gce_config gce_cfg;
extern pthread_mutex_t gce_lock;

/* What a handler answers: a JSON body or a text body, and one optional header. */
struct gce_reply {
    int status;
    struct json_object *json; /* owned; sent when set */
    char *text;               /* owned; sent when json is NULL */
    const char *content_type; /* for text */
    const char *hdr_name, *hdr_value;
};

/* Query parameters a list or a mutating call may carry. */
struct gce_query {
    const char *max_results, *page_token, *filter, *order_by, *request_id;
};

/* Google's error envelope: {"error":{"code","message","errors":[{message,domain,reason}]}}. */
void gce_error(struct gce_reply *r, int code, const char *domain, const char *reason,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void gce_reply_text(struct gce_reply *r, int status, const char *type, const char *text);
void gce_reply_clear(struct gce_reply *r);

/* "2026-12-04T10:11:12.345-08:00": the form and zone GCE writes timestamps in. */
void gce_timestamp(char out[40]);
/* A uint64 id as a decimal string (random). */
void gce_new_id(char out[24]);
/* n random bytes as lower-case hex into out (2n+1 bytes). */
void gce_rand_hex(char *out, size_t n);

/* auth.c; all under gce_lock except init/free */
int gce_auth_init(void);
void gce_auth_free(void);
int gce_auth_write_credentials(const char *path);
const char *gce_auth_email(void);
void gce_auth_token_endpoint(const char *method, const char *body, size_t len, struct gce_reply *r);
/* STS token exchange (workload identity federation), POST /v1/token. */
void gce_auth_sts(const char *method, const char *body, size_t len, struct gce_reply *r);
/* IAM Credentials: POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken. */
void gce_auth_impersonate(const char *method, const char *url, const char *authorization,
                          const char *body, struct gce_reply *r);
/* 0 when the header carries a live token with a Compute scope; else r holds the 401/403. */
int gce_auth_check(const char *authorization, struct gce_reply *r);
void gce_auth_metadata(const char *url, const char *flavor, const char *scopes,
                       struct gce_reply *r);

/* compute.c; under gce_lock */
int gce_compute_init(void);
void gce_compute_free(void);
void gce_compute(const char *method, const char *path, const struct gce_query *q, const char *body,
                 size_t body_len, struct gce_reply *r);
struct json_object *gce_compute_state(void);
/* {"instances":[{"zone","name","tags":[...]}]}: created at once, no Operation. */
int gce_compute_seed(struct json_object *seed, char *err, size_t cap);
int gce_compute_set_quota(const char *name, long limit);
struct json_object *gce_compute_quotas(void);

/* faults.c; under gce_lock */
/* true when an injected fault answers this compute call (r filled). */
bool gce_fault_take(const char *method, const char *path, struct gce_reply *r);
/* Whether the answer to this (successful, mutating) call is lost: the connection just closes. */
bool gce_fault_lose(const char *method, int status);
int gce_fault_latency_ms(void);
int gce_fault_stale_reads(void);
int gce_faults_set(struct json_object *in, char *err, size_t cap);
struct json_object *gce_faults_get(void);
void gce_count(const char *method, const char *path);
struct json_object *gce_counters(void);
void gce_counters_reset(void);
void gce_faults_free(void);

#endif
