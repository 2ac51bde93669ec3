/*
 * fake.h — shared between the fake AWS endpoint's server (fake_aws.c) and
 * its operations (ops_elbv2.c, ops_elb.c, ops_ec2.c).
 *
 * State is one json-c document guarded by one mutex (the fake serves tests,
 * not load), which also makes GET /_fake/state a plain dump.
 */
#ifndef LBP_FAKE_AWS_H
#define LBP_FAKE_AWS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct fake_param {
    char *key;
    char *value;
};

struct fake_req {
    struct fake_param *p;
    size_t n;
    const char *action;
    const char *service; /* "elbv2", "elb", "ec2", "sts" */
};

/* The answer an operation builds. */
struct fake_resp {
    int status;
    struct lbp_buf body; /* the XML inside <OpResult> (awsQuery) or the response (EC2) */
    char code[96];       /* set on error */
    char msg[512];
};

/* A request parameter or NULL. */
const char *fp(const struct fake_req *r, const char *key);
const char *fpf(const struct fake_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fpi(const struct fake_req *r, const char *key, int def);
/*
 * The page a Describe asks for out of n selected items: [*from, *to). The
 * page size is SIZE_KEY (default DEF, capped by --page-size, at least 1);
 * the token in TOKEN_KEY is the index to start at. A next page exists
 * when *to < n, and its token is *to.
 */
void fake_page(const struct fake_req *q, const char *size_key, int def, const char *token_key,
               size_t n, size_t *from, size_t *to);

/* XML text with &<>"' escaped. */
void fx(struct lbp_buf *b, const char *s);
/* <name>escaped</name> */
void fel(struct lbp_buf *b, const char *name, const char *val);
void feli(struct lbp_buf *b, const char *name, long val);

int ferr(struct fake_resp *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* state */
extern struct json_object *g_state;
extern int g_page_size;
extern int g_consistency_ms;
extern char g_region[64];
/* Targets/instances named in (de)register calls, summed: shows a diff, not a full resync. */
extern long g_targets_registered, g_targets_deregistered;
/* Inbound rules one group may hold (AWS's default quota is 60) and the groups
 * DescribeSecurityGroups returned, summed: shows what reading node groups costs. */
extern int g_sg_rules_max;
extern long g_sgs_described;

uint64_t fake_now_ms(void);
void fake_id(const char *prefix, char *out, size_t cap); /* prefix + 17 hex */
struct json_object *sarr(const char *name);
struct json_object *sfind(const char *arr, const char *key, const char *val, size_t *idx);
const char *js(struct json_object *o, const char *key);
int ji(struct json_object *o, const char *key);
void jset(struct json_object *o, const char *key, const char *val);
void jseti(struct json_object *o, const char *key, int val);
bool jarr_has(struct json_object *arr, const char *s);

/* Returns true when the action was handled (r filled). */
bool ops_elbv2(const struct fake_req *q, struct fake_resp *r);
bool ops_elb(const struct fake_req *q, struct fake_resp *r);
bool ops_ec2(const struct fake_req *q, struct fake_resp *r);

#endif
