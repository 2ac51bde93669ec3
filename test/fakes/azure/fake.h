/*
 * fake.h — shared between fake-azure's parts: main.c (flags, HTTP routing,
 * the /_fake/ control endpoint), auth.c (Azure AD token endpoint, IMDS,
 * the federated-token signer, Bearer checks), arm.c (the Azure Resource
 * Manager resources, validation and async operations) and faults.c
 * (injected faults, rate-limit budgets, call counters).
 *
 * All state sits behind one mutex (az_lock): the fake serves tests, not
 * load, and one lock keeps every answer consistent with the state dump.
 */
#ifndef LBP_FAKE_AZURE_H
#define LBP_FAKE_AZURE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AZ_MAX_HDRS 8

struct az_config {
    char tenant[64];
    char client_id[64];
    char client_secret[128];
    char subscription[64];
    char location[32];
    char resource_group[90];  /* made at start (with --nodes) */
    char fed_issuer[256];     /* workload identity: the OIDC issuer AAD trusts */
    char fed_subject[256];    /* ...and the subject it trusts */
    char msi_client_id[64];   /* user-assigned identity IMDS knows ("" none) */
    char msi_res_id[300];     /* ...by resource id */
    bool msi_system;          /* IMDS has a system-assigned identity */
    uint32_t pub_base, pub_n; /* public IP range (host order) */
    int op_polls;             /* polls an operation stays InProgress */
    int op_ms;                /* ...or until this old (0: polls only) */
    int retry_after_s;        /* Retry-After on async replies */
    int token_lifetime_s;
    char self_host[96]; /* Host for URLs when a request has none */
    /* Azure's hard limits, refused on the PUT that would pass them (defaults: Azure's). */
    int max_lb_frontends; /* frontend IP configurations per load balancer (600) */
    int max_lb_rules;     /* load-balancing + inbound NAT rules per load balancer (1500) */
    int max_nic_rules;    /* NAT + load-balancing rules per NIC ip configuration (299) */
    int max_nsg_rules;    /* security rules per network security group (1000) */
};

extern struct az_config az_cfg;
extern pthread_mutex_t az_lock;

/* What a handler answers: a JSON body or a text body, and a few headers. */
struct az_reply {
    int status;
    struct json_object *json; /* owned; sent when set */
    char *text;               /* owned; sent when json is NULL */
    const char *content_type; /* for text */
    size_t n_hdr;
    struct {
        char name[64];
        char value[600];
    } hdr[AZ_MAX_HDRS];
};

/* One ARM request as the handlers see it. */
struct az_req {
    const char *method;
    const char *path;
    const char *api_version; /* NULL when absent */
    const char *host;        /* the request's Host, for operation URLs */
    const char *if_match, *if_none_match;
    const char *body;
    size_t body_len;
};

/* ARM's error envelope {"error":{"code","message"}}. */
void az_error(struct az_reply *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void az_hdr(struct az_reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void az_reply_text(struct az_reply *r, int status, const char *type, const char *text);
void az_reply_clear(struct az_reply *r);
/* A random GUID, lower case, into out[37]. */
void az_guid(char out[37]);
/* n random bytes as lower-case hex into out (2n+1 bytes). */
void az_rand_hex(char *out, size_t n);
const char *az_js(struct json_object *o, const char *key);

/* auth.c; under az_lock except init/free */
int az_auth_init(void);
void az_auth_free(void);
int az_auth_write_key(const char *path);
int az_auth_write_token(const char *path);
/* POST /{tenant}/oauth2/v2.0/token */
void az_auth_token(const char *method, const char *tenant, const char *ctype, const char *body,
                   size_t len, struct az_reply *r);
/* GET /metadata/identity/oauth2/token */
void az_auth_imds(const char *method, const char *metadata_hdr, const char *api_version,
                  const char *resource, const char *client_id, const char *object_id,
                  const char *msi_res_id, struct az_reply *r);
/* 0 when the header carries a live ARM token; else r holds the 401. */
int az_auth_check(const char *authorization, struct az_reply *r);
void az_auth_expire_all(void);

/* arm.c; under az_lock */
int az_arm_init(void);
void az_arm_free(void);
void az_arm(const struct az_req *q, struct az_reply *r);
/* The resource type a path names, for counters ("loadBalancers"), and whether it lists. */
void az_arm_kind(const char *path, char *out, size_t cap, bool *list);
struct json_object *az_arm_state(void);
/* {"resources":[{"id","body"}]}: made at once, no operation, not counted as leaks. */
int az_arm_seed(struct json_object *seed, char *err, size_t cap);
/* --nodes N: a resource group, vnet, subnet, NSG and N VMs with NICs. */
int az_arm_seed_nodes(long n, char *err, size_t cap);
/* The conflicting writer: change the LB at key (etag and a tag) as another client would. */
void az_arm_touch(const char *path);

/* faults.c; under az_lock */
/* true when an injected fault or an empty budget answers this ARM call (r filled). */
bool az_fault_take(const struct az_req *q, struct az_reply *r);
/* Whether the answer to this accepted write is lost (the connection closes instead). */
bool az_fault_lose(const char *method, int status);
/* Budget headers for an answered call. */
void az_budget_headers(const char *method, struct az_reply *r);
int az_fault_latency_ms(void);
/* true once per armed conflicting-writer fault, for a GET of one load balancer. */
bool az_fault_conflict(const char *method, const char *path);
bool az_fault_op_fails(void);
int az_faults_set(struct json_object *in, char *err, size_t cap);
struct json_object *az_faults_get(void);
void az_count(const char *method, const char *path, int status);
struct json_object *az_counters(void);
void az_counters_reset(void);

#endif
