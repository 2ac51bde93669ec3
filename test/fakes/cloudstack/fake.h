/*
 * fake.h — shared between fake-cloudstack's server (server.c: HTTP, the
 * signature check, faults, the /_fake/ control endpoint) and its state and
 * commands (state.c, cmds.c).
 *
 * All state sits behind one mutex (fake_mu): the fake serves tests, not
 * load. Objects of every kind share one uthash table keyed by UUID, which
 * also gives listings in creation order; deleted objects leave a tombstone
 * so their UUIDs still resolve, as the real server resolves removed rows.
 */
#ifndef LBP_FAKE_CS_H
#define LBP_FAKE_CS_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

#include "common/buf.h"

#define CS_ID_LEN 37

enum cs_kind {
    CS_ZONE,
    CS_NETWORK,
    CS_VPC,
    CS_VM,
    CS_IP,
    CS_LB,
    CS_FW,
    CS_ACL,     /* a network ACL item */
    CS_ACLLIST, /* a network ACL list (aclid) */
    CS_KIND_MAX
};

struct cs_obj {
    char id[CS_ID_LEN];
    enum cs_kind kind;
    bool gone;               /* a tombstone: the id resolves, the object is no longer listed */
    struct json_object *o;   /* the fields a response shows, without "tags" */
    char net[CS_ID_LEN];     /* IP: associated network; LB/FW/ACL: network; VM: default nic's */
    char vpc[CS_ID_LEN];     /* network, IP: the VPC, if any */
    char ip[CS_ID_LEN];      /* LB, FW: the public IP */
    char related[CS_ID_LEN]; /* FW opened by an LB rule (openfirewall): that rule */
    char acl[CS_ID_LEN];     /* network in a VPC, ACL item: the ACL list */
    int port_lo, port_hi;    /* LB: public port; FW/ACL: start..end (0..0: all) */
    char proto[16];
    struct json_object *members; /* LB: VM ids (strings) */
    UT_hash_handle hh;
};

/* One request parameter as decoded (first occurrence wins, as in the server). */
struct cs_param {
    char *name;
    char *value;
};

struct cs_req {
    struct cs_param *p;
    size_t n, cap;
    const char *command;
    int jobfail; /* an injected fault: the job this call starts fails with this code */
};

/* What a command answers: the object inside "<command>response", or an error. */
struct cs_resp {
    int status;      /* 200 or the CloudStack error code */
    int cserrorcode; /* 0: none in the body */
    char errortext[512];
    struct json_object *body; /* on success */
    char jobid[CS_ID_LEN];    /* the job this call started, if any */
};

/* Configuration a test may change at run time (POST /_fake/config). */
struct cs_config {
    int job_polls;        /* queryAsyncJobResult answers pending this many times */
    int page_size_max;    /* default.page.size */
    int latency_ms;       /* added to every API call */
    double error_rate;    /* share of calls answered 530 before doing anything */
    double throttle_rate; /* share of calls answered 429 */
    double drop_rate;     /* share of successful writes whose reply is lost */
    int job_ms;           /* a job nobody polls completes this long after it started (0: never) */
};

/* The server's clock minus the real one, in seconds (POST /_fake/config clock_offset_s): a
   management server whose clock is off, or one that jumped. Read without fake_mu. */
extern atomic_int fake_clock_offset_s;

extern pthread_mutex_t fake_mu;
extern struct cs_config fake_cfg;
extern char fake_account[64], fake_domain[64], fake_domainid[CS_ID_LEN];

/* ---- state.c ---- */
void cs_state_init(void);
void cs_state_free(void);
void cs_new_uuid(char out[CS_ID_LEN]);
struct cs_obj *cs_obj_new(enum cs_kind kind, const char *id);
struct cs_obj *cs_obj_find(const char *id);
/* Finds a live object of kind. */
struct cs_obj *cs_obj_get(const char *id, enum cs_kind kind);
void cs_obj_bury(struct cs_obj *o);   /* drops tags, keeps a tombstone (IPs, VMs) */
void cs_obj_delete(struct cs_obj *o); /* drops tags and the row (rules: the server deletes them) */
struct cs_obj *cs_objs(void);         /* iteration: for (o = cs_objs(); o; o = o->hh.next) */
/* The object as a response shows it, tags included (caller puts). */
struct json_object *cs_render(const struct cs_obj *o);
const char *cs_kind_tag_type(enum cs_kind k); /* "PublicIpAddress", ... or NULL */
/* Adds a VM (seed): name required; id, networkid, ipaddress may be NULL. */
int cs_vm_add(const char *name, const char *id, const char *networkid, const char *ip, char *err,
              size_t errlen);
/* The default isolated network (the one seeded VMs join). */
const char *cs_default_network(void);
const char *cs_zone_id(void);
/* Public addresses: a specific one (want) or the next free; 0, -1 not in the pool, -2 taken,
 * -3 exhausted. */
/* --public-range: 0, or -1 for a CIDR that is not one (or smaller than a /27). */
int cs_pool_configure(const char *cidr);
int cs_pool_take(const char *want, char out[16]);
void cs_pool_put(const char *addr);
/* A public IP object in state Allocated (net, vpc may be NULL). */
struct cs_obj *cs_ip_new(const char *addr, const char *net, const char *vpc, bool sourcenat);
/* Tags. */
int cs_tag_add(const char *rtype, const char *rid, const char *key, const char *value);
bool cs_tag_has(const char *rid, const char *key, const char *value);
int cs_tag_del(const char *rid, const char *key, const char *value); /* value NULL: any */
struct json_object *cs_tags_of(const char *rid);                     /* array (caller puts) */
struct json_object *cs_tags_list(const char *rtype, const char *rid, const char *key,
                                 const char *value);
int64_t cs_now_s(void);        /* the server's clock: the real one plus the offset */
void cs_now_str(char out[32]); /* "2026-12-04T18:00:00+0000", the server's format */
/* Everything, for GET /_fake/state (caller puts). */
struct json_object *cs_state_dump(void);

/* ---- cmds.c ---- */
/* True when the command exists (so a wrong signature is 401, not 432). */
bool cs_cmd_known(const char *command);
/* Runs a command under fake_mu. */
void cs_cmd_run(const struct cs_req *q, struct cs_resp *r);
/* Completes the jobs nobody polled whose job_ms has passed. */
void cs_jobs_tick(void);
/* The state dump's "jobs". */
struct json_object *cs_jobs_dump(void);
/* Completes a pending job now (the work of a call whose reply is dropped is done). */
void cs_job_finish(const char *jobid);
void cs_jobs_free(void);

/* ---- helpers (server.c) ---- */
const char *cs_p(const struct cs_req *q, const char *name);
int cs_err(struct cs_resp *r, int status, int cserrorcode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
