/*
 * cmds.c — fake-cloudstack's commands and async jobs.
 *
 * Each command checks its parameters the way the server's parameter
 * processing does (a missing required one or a UUID that resolves to
 * nothing: 431 naming the parameter, cserrorcode 9999), then the way its
 * manager does (a bad algorithm: 431/4350, overlapping ports: 537/4360).
 *
 * Async commands answer {"jobid"} or, for the create commands, {"id",
 * "jobid"}: the object already exists then (state "Add" / "Allocating"), as
 * the server writes the row before it queues the job. The job's effect
 * (rule Active, members assigned, IP released...) happens when the job
 * completes: after --job-polls polls of queryAsyncJobResult that answered
 * jobstatus 0, or job_ms after it started for a job nobody polls. Failures
 * found while a job runs (a VM already assigned, a tag that exists) end it
 * with jobstatus 2 and the error inside jobresult.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "test/fakes/cloudstack/fake.h"

enum act {
    A_ASSOC,
    A_DISASSOC,
    A_LB_CREATE,
    A_LB_DELETE,
    A_LB_UPDATE,
    A_ASSIGN,
    A_REMOVE,
    A_FW_CREATE,
    A_FW_DELETE,
    A_ACL_CREATE,
    A_ACL_DELETE,
    A_TAGS_CREATE,
    A_TAGS_DELETE,
};

struct job {
    char id[CS_ID_LEN];
    char command[64];
    const char *cmdclass, *insttype;
    char instid[CS_ID_LEN];
    enum act act;
    struct json_object *args;
    int status, resultcode, polls_left, fail_code;
    uint64_t started_ms;
    char created[32], completed[32];
    struct json_object *result;
    UT_hash_handle hh;
};

static struct job *g_jobs;

/* ---- parameter helpers ---- */

#define ANNOT_TAIL                                                                                 \
    "due to incorrect long value format, or entity does not exist or due to incorrect parameter "  \
    "annotation for the field in api cmd class."

/* "createloadbalancerrule": the name the server's messages use. */
static void cmd_lc(const struct cs_req *q, char out[64])
{
    size_t i = 0;
    for (; q->command[i] && i < 63; i++)
        out[i] = (char)tolower((unsigned char)q->command[i]);
    out[i] = 0;
}

static int missing(const struct cs_req *q, struct cs_resp *r, const char *name)
{
    char c[64];
    cmd_lc(q, c);
    return cs_err(r, 431, 9999, "Unable to execute API command %s due to missing parameter %s", c,
                  name);
}

static int invalid(const struct cs_req *q, struct cs_resp *r, const char *name, const char *v)
{
    char c[64];
    cmd_lc(q, c);
    return cs_err(r, 431, 9999,
                  "Unable to execute API command %s due to invalid value. Invalid parameter %s "
                  "value=%s " ANNOT_TAIL,
                  c, name, v);
}

static int need(const struct cs_req *q, struct cs_resp *r, const char *name, const char **out)
{
    *out = cs_p(q, name);
    if (!*out || !**out)
        return missing(q, r, name);
    return 0;
}

/*
 * A UUID parameter. *out is the object (possibly a tombstone: check ->gone)
 * or NULL when the parameter is absent and optional.
 */
static int ref(const struct cs_req *q, struct cs_resp *r, const char *name, enum cs_kind kind,
               bool required, struct cs_obj **out)
{
    const char *v = cs_p(q, name);
    struct cs_obj *o;
    *out = NULL;
    if (!v || !*v)
        return required ? missing(q, r, name) : 0;
    o = cs_obj_find(v);
    if (!o || o->kind != kind)
        return invalid(q, r, name, v);
    *out = o;
    return 0;
}

/* An INTEGER parameter; *out untouched when absent and optional. */
static int num(const struct cs_req *q, struct cs_resp *r, const char *name, bool required,
               long *out)
{
    const char *v = cs_p(q, name);
    if (!v || !*v)
        return required ? missing(q, r, name) : 0;
    if (lbp_parse_long(v, -2147483648L, 2147483647L, out) != 0)
        return invalid(q, r, name, v);
    return 0;
}

static int boolean(const struct cs_req *q, const char *name, bool def)
{
    const char *v = cs_p(q, name);
    if (!v)
        return def;
    return strcasecmp(v, "true") == 0;
}

static const char *js(const struct cs_obj *o, const char *key)
{
    struct json_object *v = json_object_object_get(o->o, key);
    return v ? json_object_get_string(v) : "";
}

static void set_s(struct cs_obj *o, const char *key, const char *v)
{
    json_object_object_add(o->o, key, json_object_new_string(v ? v : ""));
}

/* Map parameters: name[N].field, N = 0, 1, ... as sent; returns the count found. */
static size_t map_get(const struct cs_req *q, const char *name, const char *field, size_t idx[],
                      size_t cap, const char *vals[])
{
    size_t n = 0, nl = strlen(name);
    for (size_t i = 0; i < q->n && n < cap; i++) {
        const char *k = q->p[i].name, *e;
        char *end;
        unsigned long ix;
        if (strncasecmp(k, name, nl) != 0 || k[nl] != '[')
            continue;
        ix = strtoul(k + nl + 1, &end, 10);
        if (end == k + nl + 1 || *end != ']' || end[1] != '.')
            continue;
        e = end + 2;
        if (strcasecmp(e, field) != 0)
            continue;
        idx[n] = ix;
        vals[n] = q->p[i].value;
        n++;
    }
    return n;
}

/* The value of name[ix].field, or NULL. */
static const char *map_at(const struct cs_req *q, const char *name, size_t ix, const char *field)
{
    char k[128];
    snprintf(k, sizeof(k), "%s[%zu].%s", name, ix, field);
    for (size_t i = 0; i < q->n; i++)
        if (strcasecmp(q->p[i].name, k) == 0)
            return q->p[i].value;
    return NULL;
}

/*
 * The tags[N].key / tags[N].value filter of list commands. The server
 * joins the tag table on (key0 AND value0) OR (key1 AND value1) ... and
 * groups by resource: a resource with ANY of the pairs is listed, so a
 * client filtering by two tags must still check what it gets.
 */
static bool tags_match(const struct cs_req *q, const struct cs_obj *o)
{
    size_t idx[32];
    const char *keys[32];
    size_t n = map_get(q, "tags", "key", idx, 32, keys);
    for (size_t i = 0; i < n; i++)
        if (cs_tag_has(o->id, keys[i], map_at(q, "tags", idx[i], "value")))
            return true;
    return n == 0;
}

static bool like(const char *hay, const char *needle)
{
    return strcasestr(hay, needle) != NULL;
}

/* ---- lists ---- */

/*
 * Pages a full result: {"count": total, "<item>": [page]} or {} when
 * nothing matched, as the server's serializer writes it.
 */
static int list_finish(const struct cs_req *q, struct cs_resp *r, const char *item,
                       struct json_object *all)
{
    long page = 0, size = 0;
    size_t total = json_object_array_length(all), from = 0, to = total;
    struct json_object *b, *slice;
    if (num(q, r, "page", false, &page) || num(q, r, "pagesize", false, &size))
        goto bad;
    if (cs_p(q, "page") && !cs_p(q, "pagesize")) {
        cs_err(r, 431, 4350, "\"pagesize\" parameter is required when \"page\" is specified");
        goto bad;
    }
    if (cs_p(q, "pagesize")) {
        if (size > fake_cfg.page_size_max || size == 0 || size < -1) {
            cs_err(r, 431, 4350, "Page size can't exceed max allowed page size value: %d",
                   fake_cfg.page_size_max);
            goto bad;
        }
        if (size > 0) {
            if (page < 1)
                page = 1;
            from = (size_t)(page - 1) * (size_t)size;
            to = from + (size_t)size;
        }
    } else if (total > (size_t)fake_cfg.page_size_max) {
        to = (size_t)fake_cfg.page_size_max;
    }
    if (to > total)
        to = total;
    if (from > total)
        from = total;
    b = json_object_new_object();
    if (total > 0)
        json_object_object_add(b, "count", json_object_new_int((int)total));
    if (to > from) {
        slice = json_object_new_array();
        for (size_t i = from; i < to; i++)
            json_object_array_add(slice, json_object_get(json_object_array_get_idx(all, i)));
        json_object_object_add(b, item, slice);
    }
    r->body = b;
    json_object_put(all);
    return 0;
bad:
    json_object_put(all);
    return -1;
}

typedef bool (*list_pred)(const struct cs_req *q, struct cs_obj *o, void *ctx);

static int list_kind(const struct cs_req *q, struct cs_resp *r, enum cs_kind kind, const char *item,
                     list_pred pred, void *ctx)
{
    struct json_object *all = json_object_new_array();
    const char *id = cs_p(q, "id");
    struct cs_obj *idobj;
    if (ref(q, r, "id", kind, false, &idobj)) {
        json_object_put(all);
        return -1;
    }
    for (struct cs_obj *o = cs_objs(); o; o = o->hh.next) {
        if (o->gone || o->kind != kind || (id && o != idobj) || !tags_match(q, o))
            continue;
        if (pred && !pred(q, o, ctx))
            continue;
        json_object_array_add(all, cs_render(o));
    }
    return list_finish(q, r, item, all);
}

/* ---- jobs ---- */

static struct json_object *job_json(const struct job *j)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "accountid", json_object_new_string(fake_domainid));
    json_object_object_add(o, "userid", json_object_new_string(fake_domainid));
    json_object_object_add(o, "cmd", json_object_new_string(j->cmdclass));
    json_object_object_add(o, "jobstatus", json_object_new_int(j->status));
    json_object_object_add(o, "jobprocstatus", json_object_new_int(0));
    json_object_object_add(o, "jobresultcode", json_object_new_int(j->resultcode));
    if (j->status != 0) {
        json_object_object_add(o, "jobresulttype", json_object_new_string("object"));
        json_object_object_add(o, "jobresult", json_object_get(j->result));
    }
    json_object_object_add(o, "jobinstancetype", json_object_new_string(j->insttype));
    if (j->instid[0])
        json_object_object_add(o, "jobinstanceid", json_object_new_string(j->instid));
    json_object_object_add(o, "created", json_object_new_string(j->created));
    if (j->status != 0)
        json_object_object_add(o, "completed", json_object_new_string(j->completed));
    json_object_object_add(o, "jobid", json_object_new_string(j->id));
    return o;
}

/*
 * Starts a job on the object instid (its "id" argument); the reply is
 * {"jobid"} plus {"id"} when obj_id is given (the create commands).
 */
static struct job *job_start(const struct cs_req *q, struct cs_resp *r, enum act act,
                             const char *cmdclass, const char *insttype, const char *instid,
                             const char *obj_id, struct json_object *args)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        abort();
    if (!args)
        args = json_object_new_object();
    if (instid)
        json_object_object_add(args, "id", json_object_new_string(instid));
    cs_new_uuid(j->id);
    lbp_strlcpy(j->command, q->command, sizeof(j->command));
    j->cmdclass = cmdclass;
    j->insttype = insttype;
    if (instid)
        lbp_strlcpy(j->instid, instid, sizeof(j->instid));
    j->act = act;
    j->args = args;
    j->polls_left = fake_cfg.job_polls;
    j->fail_code = q->jobfail;
    j->started_ms = lbp_now_ms();
    cs_now_str(j->created);
    HASH_ADD_STR(g_jobs, id, j);
    lbp_strlcpy(r->jobid, j->id, sizeof(r->jobid));
    r->body = json_object_new_object();
    if (obj_id)
        json_object_object_add(r->body, "id", json_object_new_string(obj_id));
    json_object_object_add(r->body, "jobid", json_object_new_string(j->id));
    return j;
}

static const char *arg_s(const struct job *j, const char *k)
{
    struct json_object *v = json_object_object_get(j->args, k);
    return v ? json_object_get_string(v) : NULL;
}

struct jres {
    int code;
    char text[512];
    struct json_object *obj; /* success: the jobresult */
};

static void jfail(struct jres *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void jfail(struct jres *x, int code, const char *fmt, ...)
{
    va_list ap;
    x->code = code;
    va_start(ap, fmt);
    vsnprintf(x->text, sizeof(x->text), fmt, ap);
    va_end(ap);
}

static void jok(struct jres *x, const char *key, struct json_object *o)
{
    x->obj = json_object_new_object();
    if (key) {
        json_object_object_add(x->obj, key, o);
    } else {
        json_object_object_add(x->obj, "success", json_object_new_boolean(true));
    }
}

static void rule_delete_all_on_ip(const char *ipid)
{
    struct cs_obj *o, *tmp;
    HASH_ITER(hh, cs_objs(), o, tmp)
    {
        if (!o->gone && (o->kind == CS_LB || o->kind == CS_FW) && strcmp(o->ip, ipid) == 0)
            cs_obj_delete(o);
    }
}

static void fw_delete_related(const char *lbid)
{
    struct cs_obj *o, *tmp;
    HASH_ITER(hh, cs_objs(), o, tmp)
    {
        if (o->kind == CS_FW && strcmp(o->related, lbid) == 0)
            cs_obj_delete(o);
    }
}

static void ip_release(struct cs_obj *ip)
{
    rule_delete_all_on_ip(ip->id);
    cs_pool_put(js(ip, "ipaddress"));
    cs_obj_bury(ip);
}

/* Undoes a create whose job failed: the row the create wrote goes away. */
static void create_undo(struct job *j)
{
    struct cs_obj *o = cs_obj_find(j->instid);
    if (!o || o->gone)
        return;
    if (o->kind == CS_IP) {
        ip_release(o);
    } else {
        if (o->kind == CS_LB)
            fw_delete_related(o->id);
        cs_obj_delete(o);
    }
}

static void members_change(struct job *j, struct cs_obj *lb, bool add, struct jres *x)
{
    struct json_object *vms = json_object_object_get(j->args, "vms");
    size_t n = json_object_array_length(vms);
    /* Check every VM before changing anything: a failed job changes nothing. */
    for (size_t i = 0; i < n; i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(vms, i));
        struct cs_obj *vm = cs_obj_get(id, CS_VM);
        bool in = false;
        if (!vm) {
            jfail(x, 431, "Unable to find virtual machine by id %s", id);
            return;
        }
        for (size_t k = 0; k < json_object_array_length(lb->members); k++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(lb->members, k)), id) == 0)
                in = true;
        if (add && in) {
            jfail(x, 431, "VM %s is already mapped to load balancer %s", js(vm, "instancename"),
                  lb->id);
            return;
        }
        if (!add && !in) {
            jfail(x, 431, "Failed to remove VM %s from load balancer %s: it is not assigned",
                  js(vm, "instancename"), lb->id);
            return;
        }
        if (add && strcmp(vm->net, lb->net) != 0) {
            jfail(x, 431, "VM %s is not in the network %s of load balancer %s",
                  js(vm, "instancename"), lb->net, lb->id);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = json_object_get_string(json_object_array_get_idx(vms, i));
        if (add) {
            json_object_array_add(lb->members, json_object_new_string(id));
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(lb->members); k++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(lb->members, k)), id) ==
                0) {
                json_object_array_del_idx(lb->members, k, 1);
                break;
            }
    }
    jok(x, NULL, NULL);
}

static void tags_change(struct job *j, bool add, struct jres *x)
{
    struct json_object *ids = json_object_object_get(j->args, "ids"),
                       *tags = json_object_object_get(j->args, "tags");
    const char *rtype = arg_s(j, "rtype");
    for (size_t i = 0; add && i < json_object_array_length(ids); i++) {
        const char *rid = json_object_get_string(json_object_array_get_idx(ids, i));
        for (size_t k = 0; k < json_object_array_length(tags); k++) {
            struct json_object *t = json_object_array_get_idx(tags, k);
            const char *key = json_object_get_string(json_object_object_get(t, "key"));
            if (cs_tag_has(rid, key, NULL)) {
                jfail(x, 431, "tag %s already exists on resource %s", key, rid);
                return;
            }
        }
    }
    for (size_t i = 0; i < json_object_array_length(ids); i++) {
        const char *rid = json_object_get_string(json_object_array_get_idx(ids, i));
        if (!add && json_object_array_length(tags) == 0)
            cs_tag_del(rid, NULL, NULL);
        for (size_t k = 0; k < json_object_array_length(tags); k++) {
            struct json_object *t = json_object_array_get_idx(tags, k), *v;
            const char *key = json_object_get_string(json_object_object_get(t, "key"));
            v = json_object_object_get(t, "value");
            if (add)
                cs_tag_add(rtype, rid, key, json_object_get_string(v));
            else
                cs_tag_del(rid, key, v ? json_object_get_string(v) : NULL);
        }
    }
    jok(x, NULL, NULL);
}

static void job_apply(struct job *j, struct jres *x)
{
    struct cs_obj *o = cs_obj_find(arg_s(j, "id"));
    bool live = o && !o->gone;
    switch (j->act) {
    case A_ASSOC:
        if (!live) {
            jfail(x, 530, "the address was released before it was associated");
            return;
        }
        set_s(o, "state", "Allocated");
        jok(x, "ipaddress", cs_render(o));
        return;
    case A_DISASSOC:
        /* Releasing an address that is not allocated does nothing, successfully. */
        if (live) {
            if (json_object_get_boolean(json_object_object_get(o->o, "issourcenat"))) {
                jfail(x, 431,
                      "ip address is used for source nat purposes and can not be disassociated.");
                return;
            }
            ip_release(o);
        }
        jok(x, NULL, NULL);
        return;
    case A_LB_CREATE:
    case A_FW_CREATE:
    case A_ACL_CREATE:
        if (!live) {
            jfail(x, 530, "the rule was deleted before it was applied");
            return;
        }
        set_s(o, "state", "Active");
        if (j->act == A_LB_CREATE) {
            for (struct cs_obj *f = cs_objs(); f; f = f->hh.next)
                if (f->kind == CS_FW && strcmp(f->related, o->id) == 0)
                    set_s(f, "state", "Active");
        }
        jok(x,
            j->act == A_LB_CREATE   ? "loadbalancer"
            : j->act == A_FW_CREATE ? "firewallrule"
                                    : "networkacl",
            cs_render(o));
        return;
    case A_LB_UPDATE:
        if (!live) {
            jfail(x, 431, "Unable to find load balancer rule %s", arg_s(j, "id"));
            return;
        }
        if (arg_s(j, "algorithm"))
            set_s(o, "algorithm", arg_s(j, "algorithm"));
        if (arg_s(j, "name"))
            set_s(o, "name", arg_s(j, "name"));
        if (arg_s(j, "description"))
            set_s(o, "description", arg_s(j, "description"));
        jok(x, "loadbalancer", cs_render(o));
        return;
    case A_LB_DELETE:
    case A_FW_DELETE:
    case A_ACL_DELETE:
        if (!live) {
            jfail(x, 431, "Unable to find rule %s", arg_s(j, "id"));
            return;
        }
        if (j->act == A_LB_DELETE)
            fw_delete_related(o->id);
        cs_obj_delete(o);
        jok(x, NULL, NULL);
        return;
    case A_ASSIGN:
    case A_REMOVE:
        if (!live) {
            jfail(x, 431, "Unable to find load balancer rule %s", arg_s(j, "id"));
            return;
        }
        members_change(j, o, j->act == A_ASSIGN, x);
        return;
    case A_TAGS_CREATE:
    case A_TAGS_DELETE:
        tags_change(j, j->act == A_TAGS_CREATE, x);
        return;
    }
}

static void job_complete(struct job *j)
{
    struct jres x = {0};
    if (j->status != 0)
        return;
    if (j->fail_code) {
        jfail(&x, j->fail_code, "Failed to execute %s (injected job failure)", j->command);
        create_undo(j);
    } else {
        job_apply(j, &x);
    }
    cs_now_str(j->completed);
    if (x.code) {
        j->status = 2;
        j->resultcode = 530;
        j->result = json_object_new_object();
        json_object_object_add(j->result, "errorcode", json_object_new_int(x.code));
        json_object_object_add(j->result, "errortext", json_object_new_string(x.text));
    } else {
        j->status = 1;
        j->resultcode = 0;
        j->result = x.obj;
    }
}

/* Jobs nobody polled finish on their own, as server jobs do. */
void cs_jobs_tick(void)
{
    uint64_t now = lbp_now_ms();
    if (fake_cfg.job_ms <= 0)
        return;
    for (struct job *j = g_jobs; j; j = j->hh.next)
        if (j->status == 0 && now - j->started_ms >= (uint64_t)fake_cfg.job_ms)
            job_complete(j);
}

void cs_job_finish(const char *jobid)
{
    struct job *j = NULL;
    HASH_FIND_STR(g_jobs, jobid, j);
    if (j)
        job_complete(j);
}

struct json_object *cs_jobs_dump(void)
{
    struct json_object *a = json_object_new_array();
    for (struct job *j = g_jobs; j; j = j->hh.next) {
        struct json_object *o = job_json(j);
        json_object_object_add(o, "command", json_object_new_string(j->command));
        json_object_object_add(o, "pollsleft", json_object_new_int(j->polls_left));
        json_object_array_add(a, o);
    }
    return a;
}

void cs_jobs_free(void)
{
    struct job *j, *tmp;
    HASH_ITER(hh, g_jobs, j, tmp)
    {
        HASH_DEL(g_jobs, j);
        json_object_put(j->args);
        json_object_put(j->result);
        free(j);
    }
}

static int c_query_job(const struct cs_req *q, struct cs_resp *r)
{
    const char *id;
    struct job *j = NULL;
    if (need(q, r, "jobid", &id))
        return -1;
    HASH_FIND_STR(g_jobs, id, j);
    if (!j)
        return invalid(q, r, "jobid", id);
    if (j->status == 0) {
        if (j->polls_left > 0)
            j->polls_left--;
        else
            job_complete(j);
    }
    r->body = job_json(j);
    return 0;
}

/* ---- zones, networks, VPCs, VMs ---- */

static bool p_zone(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const char *name = cs_p(q, "name");
    return !name || strcasecmp(name, js(o, "name")) == 0;
}

static int c_list_zones(const struct cs_req *q, struct cs_resp *r)
{
    return list_kind(q, r, CS_ZONE, "zone", p_zone, NULL);
}

struct scope {
    struct cs_obj *zone, *vpc, *net;
};

static int scope_get(const struct cs_req *q, struct cs_resp *r, struct scope *s)
{
    memset(s, 0, sizeof(*s));
    return ref(q, r, "zoneid", CS_ZONE, false, &s->zone) ||
           ref(q, r, "vpcid", CS_VPC, false, &s->vpc);
}

static bool p_network(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct scope *s = ctx;
    const char *kw = cs_p(q, "keyword"), *type = cs_p(q, "type");
    if (s->vpc && strcmp(o->vpc, s->vpc->id) != 0)
        return false;
    if (kw && !like(js(o, "name"), kw))
        return false;
    return !type || strcasecmp(type, js(o, "type")) == 0;
}

static int c_list_networks(const struct cs_req *q, struct cs_resp *r)
{
    struct scope s;
    if (scope_get(q, r, &s))
        return -1;
    return list_kind(q, r, CS_NETWORK, "network", p_network, &s);
}

static bool p_vpc(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const char *name = cs_p(q, "name");
    return !name || strcasecmp(name, js(o, "name")) == 0;
}

static int c_list_vpcs(const struct cs_req *q, struct cs_resp *r)
{
    struct scope s;
    if (scope_get(q, r, &s))
        return -1;
    return list_kind(q, r, CS_VPC, "vpc", p_vpc, NULL);
}

struct vm_filter {
    struct scope s;
    char ids[64][CS_ID_LEN];
    size_t n_ids;
    bool have_ids;
};

static bool p_vm(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct vm_filter *f = ctx;
    const char *name = cs_p(q, "name"), *kw = cs_p(q, "keyword"), *state = cs_p(q, "state");
    struct cs_obj *net = cs_obj_find(o->net);
    if (f->have_ids) {
        bool hit = false;
        for (size_t i = 0; i < f->n_ids; i++)
            hit |= strcmp(f->ids[i], o->id) == 0;
        if (!hit)
            return false;
    }
    /*
     * Older servers match name with SQL LIKE '%name%' ("node-1"
     * also finds "node-10"), later ones exactly; the fake keeps the older
     * way, so a client that does not check the names it gets shows up.
     */
    if (name && !like(js(o, "name"), name))
        return false;
    if (kw && !like(js(o, "name"), kw) && !like(js(o, "displayname"), kw))
        return false;
    if (state && strcasecmp(state, js(o, "state")) != 0)
        return false;
    if (f->s.net && strcmp(o->net, f->s.net->id) != 0)
        return false;
    return !f->s.vpc || (net && strcmp(net->vpc, f->s.vpc->id) == 0);
}

static int c_list_vms(const struct cs_req *q, struct cs_resp *r)
{
    struct vm_filter f;
    const char *ids = cs_p(q, "ids");
    memset(&f, 0, sizeof(f));
    if (scope_get(q, r, &f.s) || ref(q, r, "networkid", CS_NETWORK, false, &f.s.net))
        return -1;
    if (ids) {
        char buf[4096], *save = NULL;
        f.have_ids = true;
        lbp_strlcpy(buf, ids, sizeof(buf));
        for (char *t = strtok_r(buf, ",", &save); t && f.n_ids < 64;
             t = strtok_r(NULL, ",", &save)) {
            struct cs_obj *o = cs_obj_find(t);
            if (!o || o->kind != CS_VM)
                return invalid(q, r, "ids", ids);
            lbp_strlcpy(f.ids[f.n_ids++], t, CS_ID_LEN);
        }
    }
    return list_kind(q, r, CS_VM, "virtualmachine", p_vm, &f);
}

/* ---- public IPs ---- */

static bool p_ip(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct scope *s = ctx;
    const char *addr = cs_p(q, "ipaddress"), *state = cs_p(q, "state"), *kw = cs_p(q, "keyword");
    const char *sn = cs_p(q, "issourcenat");
    bool is_sn = json_object_get_boolean(json_object_object_get(o->o, "issourcenat"));
    if (addr && strcmp(addr, js(o, "ipaddress")) != 0)
        return false;
    if (state && strcasecmp(state, js(o, "state")) != 0)
        return false;
    if (kw && !like(js(o, "ipaddress"), kw))
        return false;
    if (sn && (strcasecmp(sn, "true") == 0) != is_sn)
        return false;
    if (boolean(q, "forloadbalancing", false) && is_sn)
        return false;
    if (s->net && strcmp(o->net, s->net->id) != 0)
        return false;
    return !s->vpc || strcmp(o->vpc, s->vpc->id) == 0;
}

static int c_list_ips(const struct cs_req *q, struct cs_resp *r)
{
    struct scope s;
    struct cs_obj *n2;
    if (scope_get(q, r, &s) || ref(q, r, "associatednetworkid", CS_NETWORK, false, &s.net) ||
        ref(q, r, "networkid", CS_NETWORK, false, &n2))
        return -1;
    if (!s.net)
        s.net = n2;
    return list_kind(q, r, CS_IP, "publicipaddress", p_ip, &s);
}

static int c_associate(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *net, *vpc, *zone, *ip;
    const char *want = cs_p(q, "ipaddress");
    char addr[16];
    int rc;
    if (ref(q, r, "networkid", CS_NETWORK, false, &net) ||
        ref(q, r, "vpcid", CS_VPC, false, &vpc) || ref(q, r, "zoneid", CS_ZONE, false, &zone))
        return -1;
    if (!net && !vpc && !zone)
        return cs_err(r, 431, 4350,
                      "Unable to figure out zone to assign IP to. Please specify either zoneId, "
                      "or networkId, or vpcId in the call");
    if ((net && net->gone) || (vpc && vpc->gone))
        return cs_err(r, 431, 4350, "Invalid network or VPC: it has been removed");
    if (!net && !vpc)
        net = cs_obj_get(cs_default_network(), CS_NETWORK); /* the account's one guest network */
    rc = cs_pool_take(want, addr);
    if (rc == -1)
        return cs_err(r, 431, 4350, "Unable to find a free public IP %s in zone zone1", want);
    if (rc == -2)
        return cs_err(r, 431, 4350, "IP address %s is already allocated", want);
    if (rc != 0)
        return cs_err(r, 533, 4320,
                      "Insufficient address capacity: no free public IP address in zone zone1");
    ip = cs_ip_new(addr, net ? net->id : NULL, vpc ? vpc->id : net->vpc, false);
    set_s(ip, "state", "Allocating");
    job_start(q, r, A_ASSOC, "org.apache.cloudstack.api.command.user.address.AssociateIPAddrCmd",
              "IpAddress", ip->id, ip->id, NULL);
    return 0;
}

static int c_disassociate(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *ip;
    const char *addr = cs_p(q, "ipaddress");
    if (!cs_p(q, "id") && addr) {
        ip = NULL;
        for (struct cs_obj *o = cs_objs(); o; o = o->hh.next)
            if (o->kind == CS_IP && !o->gone && strcmp(js(o, "ipaddress"), addr) == 0)
                ip = o;
        if (!ip)
            return cs_err(r, 431, 4350, "Unable to find ip address %s", addr);
    } else if (ref(q, r, "id", CS_IP, true, &ip)) {
        return -1;
    }
    job_start(q, r, A_DISASSOC,
              "org.apache.cloudstack.api.command.user.address.DisassociateIPAddrCmd", "IpAddress",
              ip->id, NULL, NULL);
    return 0;
}

/* ---- load-balancer rules ---- */

/* Whether two comma-separated CIDR lists share an entry. */
static bool cidrs_share(const char *a, const char *b)
{
    char buf[2048], *save = NULL;
    size_t bl = strlen(b);
    lbp_strlcpy(buf, a, sizeof(buf));
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        size_t tl = strlen(t);
        for (const char *p = b; (p = strstr(p, t)); p++)
            if ((p == b || p[-1] == ',') && (p + tl == b + bl || p[tl] == ','))
                return true;
    }
    return false;
}

/*
 * The server's rule-conflict check for a new rule on an address: two
 * load-balancer rules conflict when their public ports overlap, whatever
 * their protocols (tcp/80 and udp/80 cannot both exist); two firewall
 * rules only with the same protocol and a shared CIDR; a firewall rule and
 * a load-balancer rule never. 537, as the server answers.
 */
static int conflict(struct cs_resp *r, enum cs_kind kind, const char *ipid, const char *proto,
                    int lo, int hi, const char *cidrs)
{
    for (struct cs_obj *o = cs_objs(); o; o = o->hh.next) {
        bool no_ports = lo == 0 && hi == 0, o_no_ports = o->port_lo == 0 && o->port_hi == 0;
        if (o->gone || o->kind != kind || strcmp(o->ip, ipid) != 0)
            continue;
        if (kind == CS_FW) {
            if (strcmp(o->proto, proto) != 0 || !cidrs_share(js(o, "cidrlist"), cidrs))
                continue;
            if (no_ports && o_no_ports && strcmp(proto, "icmp") != 0)
                return cs_err(r, 537, 4360,
                              "There is already a firewall rule specified with protocol = %s and "
                              "no ports",
                              proto);
        }
        if (no_ports || o_no_ports)
            continue;
        if (o->port_lo <= hi && lo <= o->port_hi)
            return cs_err(r, 537, 4360,
                          "The range specified, %d-%d, conflicts with rule %s which has %d-%d", lo,
                          hi, o->id, o->port_lo, o->port_hi);
    }
    return 0;
}

/* The firewall protocol of a load-balancer protocol. */
static const char *l4(const char *proto)
{
    return strcmp(proto, "tcp-proxy") == 0 ? "tcp" : proto;
}

static int port_param(const struct cs_req *q, struct cs_resp *r, const char *name, bool required,
                      long *out)
{
    if (num(q, r, name, required, out))
        return -1;
    if (cs_p(q, name) && (*out < 1 || *out > 65535))
        return cs_err(r, 431, 4350, "Invalid value for %s: %ld (1-65535)", name, *out);
    return 0;
}

static struct cs_obj *fw_new(struct cs_obj *ip, const char *proto, int lo, int hi,
                             const char *cidrs, const char *related)
{
    struct cs_obj *f = cs_obj_new(CS_FW, NULL);
    lbp_strlcpy(f->ip, ip->id, sizeof(f->ip));
    lbp_strlcpy(f->net, ip->net, sizeof(f->net));
    lbp_strlcpy(f->proto, proto, sizeof(f->proto));
    if (related)
        lbp_strlcpy(f->related, related, sizeof(f->related));
    f->port_lo = lo;
    f->port_hi = hi;
    set_s(f, "protocol", proto);
    if (lo || hi) {
        json_object_object_add(f->o, "startport", json_object_new_int(lo));
        json_object_object_add(f->o, "endport", json_object_new_int(hi));
    }
    set_s(f, "ipaddressid", ip->id);
    set_s(f, "ipaddress", js(ip, "ipaddress"));
    set_s(f, "networkid", ip->net);
    set_s(f, "state", "Add");
    set_s(f, "cidrlist", cidrs);
    json_object_object_add(f->o, "fordisplay", json_object_new_boolean(true));
    return f;
}

static int c_create_lb(const struct cs_req *q, struct cs_resp *r)
{
    const char *name, *alg, *proto = cs_p(q, "protocol"), *cidrs = cs_p(q, "cidrlist");
    struct cs_obj *ip, *net, *lb, *zone;
    long priv = 0, pub = 0;
    char buf[16];
    if (need(q, r, "algorithm", &alg) || need(q, r, "name", &name) ||
        port_param(q, r, "privateport", true, &priv) ||
        port_param(q, r, "publicport", true, &pub) || ref(q, r, "publicipid", CS_IP, true, &ip) ||
        ref(q, r, "networkid", CS_NETWORK, false, &net) ||
        ref(q, r, "zoneid", CS_ZONE, false, &zone))
        return -1;
    if (strcmp(alg, "roundrobin") != 0 && strcmp(alg, "leastconn") != 0 &&
        strcmp(alg, "source") != 0)
        return cs_err(r, 431, 4350, "Invalid algorithm: %s", alg);
    if (!proto || !*proto)
        proto = "tcp";
    if (strcasecmp(proto, "tcp") != 0 && strcasecmp(proto, "udp") != 0 &&
        strcasecmp(proto, "tcp-proxy") != 0)
        return cs_err(r, 431, 4350, "Invalid protocol %s: tcp, udp and tcp-proxy are supported",
                      proto);
    if (ip->gone || strcmp(js(ip, "state"), "Allocated") != 0)
        return cs_err(r, 431, 4350,
                      "Unable to create load balancer rule; ip id=%s is not in state Allocated",
                      ip->id);
    if (net && net->gone)
        return invalid(q, r, "networkid", net->id);
    if (ip->net[0] && net && strcmp(net->id, ip->net) != 0)
        return cs_err(r, 431, 4350,
                      "The IP address %s is associated with network %s, not with network %s",
                      js(ip, "ipaddress"), ip->net, net->id);
    if (!ip->net[0] && !net)
        return cs_err(r, 431, 4350,
                      "The IP address %s of the VPC is not associated with a tier; pass networkid",
                      js(ip, "ipaddress"));
    if (conflict(r, CS_LB, ip->id, proto, (int)pub, (int)pub, NULL))
        return -1;
    if (ip->vpc[0] && cs_p(q, "openfirewall") && boolean(q, "openfirewall", false))
        return cs_err(r, 431, 4350, "Can't open firewall for the load balancer rule in VPC");
    if (!ip->net[0]) {
        /* The first rule on a VPC address ties it to that tier. */
        lbp_strlcpy(ip->net, net->id, sizeof(ip->net));
        set_s(ip, "associatednetworkid", net->id);
        set_s(ip, "associatednetworkname", js(net, "name"));
    }
    lb = cs_obj_new(CS_LB, NULL);
    lbp_strlcpy(lb->ip, ip->id, sizeof(lb->ip));
    lbp_strlcpy(lb->net, ip->net, sizeof(lb->net));
    snprintf(lb->proto, sizeof(lb->proto), "%s", proto);
    for (char *c = lb->proto; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    lb->port_lo = lb->port_hi = (int)pub;
    lb->members = json_object_new_array();
    set_s(lb, "name", name);
    if (cs_p(q, "description"))
        set_s(lb, "description", cs_p(q, "description"));
    set_s(lb, "publicipid", ip->id);
    set_s(lb, "publicip", js(ip, "ipaddress"));
    snprintf(buf, sizeof(buf), "%ld", pub);
    set_s(lb, "publicport", buf);
    snprintf(buf, sizeof(buf), "%ld", priv);
    set_s(lb, "privateport", buf);
    set_s(lb, "algorithm", alg);
    set_s(lb, "cidrlist", cidrs ? cidrs : "");
    set_s(lb, "account", fake_account);
    set_s(lb, "domainid", fake_domainid);
    set_s(lb, "domain", fake_domain);
    set_s(lb, "state", "Add");
    set_s(lb, "zoneid", cs_zone_id());
    set_s(lb, "zonename", "zone1");
    set_s(lb, "protocol", lb->proto);
    set_s(lb, "networkid", lb->net);
    json_object_object_add(lb->o, "fordisplay", json_object_new_boolean(true));
    /*
     * openfirewall defaults to true outside a VPC: the server opens the port
     * to 0.0.0.0/0 (whatever cidrlist says), unless a firewall rule for that
     * protocol and port exists already, which it then leaves alone.
     */
    if (!ip->vpc[0] && boolean(q, "openfirewall", true)) {
        bool have = false;
        for (struct cs_obj *f = cs_objs(); f; f = f->hh.next)
            have |= !f->gone && f->kind == CS_FW && strcmp(f->ip, ip->id) == 0 &&
                    strcmp(f->proto, l4(lb->proto)) == 0 && f->port_lo == (int)pub &&
                    f->port_hi == (int)pub;
        if (!have)
            fw_new(ip, l4(lb->proto), (int)pub, (int)pub, "0.0.0.0/0", lb->id);
    }
    job_start(q, r, A_LB_CREATE,
              "org.apache.cloudstack.api.command.user.loadbalancer.CreateLoadBalancerRuleCmd",
              "FirewallRule", lb->id, lb->id, NULL);
    return 0;
}

static int c_delete_lb(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *lb;
    if (ref(q, r, "id", CS_LB, true, &lb))
        return -1;
    job_start(q, r, A_LB_DELETE,
              "org.apache.cloudstack.api.command.user.loadbalancer.DeleteLoadBalancerRuleCmd",
              "FirewallRule", lb->id, NULL, NULL);
    return 0;
}

static int c_update_lb(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *lb;
    const char *alg = cs_p(q, "algorithm");
    struct json_object *args;
    if (ref(q, r, "id", CS_LB, true, &lb))
        return -1;
    if (alg && strcmp(alg, "roundrobin") != 0 && strcmp(alg, "leastconn") != 0 &&
        strcmp(alg, "source") != 0)
        return cs_err(r, 431, 4350, "Invalid algorithm: %s", alg);
    args = json_object_new_object();
    if (alg)
        json_object_object_add(args, "algorithm", json_object_new_string(alg));
    if (cs_p(q, "name"))
        json_object_object_add(args, "name", json_object_new_string(cs_p(q, "name")));
    if (cs_p(q, "description"))
        json_object_object_add(args, "description", json_object_new_string(cs_p(q, "description")));
    job_start(q, r, A_LB_UPDATE,
              "org.apache.cloudstack.api.command.user.loadbalancer.UpdateLoadBalancerRuleCmd",
              "FirewallRule", lb->id, NULL, args);
    return 0;
}

static int members_cmd(const struct cs_req *q, struct cs_resp *r, bool add)
{
    struct cs_obj *lb;
    const char *ids = cs_p(q, "virtualmachineids");
    struct json_object *vms = json_object_new_array(), *args;
    size_t idx[64];
    const char *vals[64];
    size_t n;
    if (ref(q, r, "id", CS_LB, true, &lb))
        goto bad;
    if (ids && *ids) {
        char buf[8192], *save = NULL;
        lbp_strlcpy(buf, ids, sizeof(buf));
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            struct cs_obj *o = cs_obj_find(t);
            if (!o || o->kind != CS_VM) {
                invalid(q, r, "virtualmachineids", ids);
                goto bad;
            }
            json_object_array_add(vms, json_object_new_string(t));
        }
    }
    /* vmidipmap[N].vmid (the server's key) or .key, as some clients send it. */
    n = map_get(q, "vmidipmap", "vmid", idx, 64, vals);
    if (n == 0)
        n = map_get(q, "vmidipmap", "key", idx, 64, vals);
    for (size_t i = 0; i < n; i++) {
        struct cs_obj *o = cs_obj_find(vals[i]);
        if (!o || o->kind != CS_VM) {
            invalid(q, r, "vmidipmap", vals[i]);
            goto bad;
        }
        json_object_array_add(vms, json_object_new_string(vals[i]));
    }
    if (json_object_array_length(vms) == 0) {
        cs_err(r, 431, 4350, "Please provide either virtualmachineids or vmidipmap");
        goto bad;
    }
    args = json_object_new_object();
    json_object_object_add(args, "vms", vms);
    job_start(q, r, add ? A_ASSIGN : A_REMOVE,
              add ? "org.apache.cloudstack.api.command.user.loadbalancer."
                    "AssignToLoadBalancerRuleCmd"
                  : "org.apache.cloudstack.api.command.user.loadbalancer."
                    "RemoveFromLoadBalancerRuleCmd",
              "FirewallRule", lb->id, NULL, args);
    return 0;
bad:
    json_object_put(vms);
    return -1;
}

static int c_assign(const struct cs_req *q, struct cs_resp *r)
{
    return members_cmd(q, r, true);
}

static int c_remove(const struct cs_req *q, struct cs_resp *r)
{
    return members_cmd(q, r, false);
}

struct lb_filter {
    struct cs_obj *ip, *net, *vm;
};

static bool p_lb(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct lb_filter *f = ctx;
    const char *name = cs_p(q, "name"), *kw = cs_p(q, "keyword");
    if (name && strcasecmp(name, js(o, "name")) != 0)
        return false;
    if (kw && !like(js(o, "name"), kw) && !like(js(o, "description"), kw))
        return false;
    if (f->ip && strcmp(o->ip, f->ip->id) != 0)
        return false;
    if (f->net && strcmp(o->net, f->net->id) != 0)
        return false;
    if (f->vm) {
        bool in = false;
        for (size_t k = 0; k < json_object_array_length(o->members); k++)
            in |= strcmp(json_object_get_string(json_object_array_get_idx(o->members, k)),
                         f->vm->id) == 0;
        if (!in)
            return false;
    }
    return true;
}

static int c_list_lb(const struct cs_req *q, struct cs_resp *r)
{
    struct lb_filter f;
    struct cs_obj *zone;
    if (ref(q, r, "publicipid", CS_IP, false, &f.ip) ||
        ref(q, r, "networkid", CS_NETWORK, false, &f.net) ||
        ref(q, r, "virtualmachineid", CS_VM, false, &f.vm) ||
        ref(q, r, "zoneid", CS_ZONE, false, &zone))
        return -1;
    return list_kind(q, r, CS_LB, "loadbalancerrule", p_lb, &f);
}

static int c_list_lb_instances(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *lb;
    struct json_object *all = json_object_new_array();
    bool lbvmips = boolean(q, "lbvmips", false);
    if (ref(q, r, "id", CS_LB, true, &lb)) {
        json_object_put(all);
        return -1;
    }
    for (size_t k = 0; lb->members && k < json_object_array_length(lb->members); k++) {
        struct cs_obj *vm =
            cs_obj_get(json_object_get_string(json_object_array_get_idx(lb->members, k)), CS_VM);
        struct json_object *v, *e, *ips;
        if (!vm)
            continue;
        v = cs_render(vm);
        if (!lbvmips) {
            json_object_array_add(all, v);
            continue;
        }
        e = json_object_new_object();
        ips = json_object_new_array();
        json_object_array_add(
            ips,
            json_object_get(json_object_object_get(
                json_object_array_get_idx(json_object_object_get(vm->o, "nic"), 0), "ipaddress")));
        json_object_object_add(e, "lbvmipaddresses", ips);
        json_object_object_add(e, "loadbalancerruleinstance", v);
        json_object_array_add(all, e);
    }
    return list_finish(q, r, lbvmips ? "lbrulevmidip" : "loadbalancerruleinstance", all);
}

/* ---- firewall rules and network ACLs ---- */

static int proto_ports(const struct cs_req *q, struct cs_resp *r, const char *proto, long *lo,
                       long *hi)
{
    *lo = *hi = 0;
    if (port_param(q, r, "startport", false, lo) || port_param(q, r, "endport", false, hi))
        return -1;
    if (cs_p(q, "startport") && !cs_p(q, "endport"))
        *hi = *lo;
    if (cs_p(q, "endport") && !cs_p(q, "startport"))
        *lo = *hi;
    if (*lo > *hi)
        return cs_err(r, 431, 4350, "Start port can't be bigger than end port");
    if ((strcmp(proto, "tcp") == 0 || strcmp(proto, "udp") == 0) && *lo == 0)
        return cs_err(r, 431, 4350, "Start port is required for protocol %s", proto);
    if ((strcmp(proto, "icmp") == 0 || strcmp(proto, "all") == 0) && *lo != 0)
        return cs_err(r, 431, 4350, "For protocol %s ports can't be specified", proto);
    return 0;
}

static int lower_proto(const struct cs_req *q, struct cs_resp *r, char out[16])
{
    const char *p;
    if (need(q, r, "protocol", &p))
        return -1;
    snprintf(out, 16, "%s", p);
    for (char *c = out; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(out, "tcp") != 0 && strcmp(out, "udp") != 0 && strcmp(out, "icmp") != 0 &&
        strcmp(out, "all") != 0)
        return cs_err(r, 431, 4350, "Invalid protocol %s: tcp, udp, icmp or all", p);
    return 0;
}

static int c_create_fw(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *ip, *f;
    char proto[16];
    long lo, hi;
    const char *cidrs = cs_p(q, "cidrlist");
    if (ref(q, r, "ipaddressid", CS_IP, true, &ip) || lower_proto(q, r, proto) ||
        proto_ports(q, r, proto, &lo, &hi))
        return -1;
    if (!cidrs || !*cidrs)
        cidrs = "0.0.0.0/0";
    if (ip->gone)
        return cs_err(r, 431, 4350, "Unable to create firewall rule; ip id=%s doesn't exist",
                      ip->id);
    if (ip->vpc[0])
        return cs_err(r, 431, 4350,
                      "Firewall rules are not supported for IP %s of a VPC: use network ACLs",
                      js(ip, "ipaddress"));
    if (conflict(r, CS_FW, ip->id, proto, (int)lo, (int)hi, cidrs))
        return -1;
    f = fw_new(ip, proto, (int)lo, (int)hi, cidrs, NULL);
    job_start(q, r, A_FW_CREATE,
              "org.apache.cloudstack.api.command.user.firewall.CreateFirewallRuleCmd",
              "FirewallRule", f->id, f->id, NULL);
    return 0;
}

static int c_delete_fw(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *f;
    if (ref(q, r, "id", CS_FW, true, &f))
        return -1;
    job_start(q, r, A_FW_DELETE,
              "org.apache.cloudstack.api.command.user.firewall.DeleteFirewallRuleCmd",
              "FirewallRule", f->id, NULL, NULL);
    return 0;
}

static bool p_fw(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct lb_filter *f = ctx;
    if (f->ip && strcmp(o->ip, f->ip->id) != 0)
        return false;
    return !f->net || strcmp(o->net, f->net->id) == 0;
}

static int c_list_fw(const struct cs_req *q, struct cs_resp *r)
{
    struct lb_filter f = {0};
    if (ref(q, r, "ipaddressid", CS_IP, false, &f.ip) ||
        ref(q, r, "networkid", CS_NETWORK, false, &f.net))
        return -1;
    return list_kind(q, r, CS_FW, "firewallrule", p_fw, &f);
}

static int c_create_acl(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *list, *net, *a;
    char proto[16], buf[16];
    long lo, hi, number = 0;
    const char *cidrs = cs_p(q, "cidrlist"), *action = cs_p(q, "action"),
               *tt = cs_p(q, "traffictype");
    if (lower_proto(q, r, proto) || proto_ports(q, r, proto, &lo, &hi) ||
        ref(q, r, "aclid", CS_ACLLIST, false, &list) ||
        ref(q, r, "networkid", CS_NETWORK, false, &net) || num(q, r, "number", false, &number))
        return -1;
    if (!list && net)
        list = net->acl[0] ? cs_obj_get(net->acl, CS_ACLLIST) : NULL;
    if (!list)
        return cs_err(r, 431, 4350,
                      net ? "Network %s is not in a VPC or has no ACL list"
                          : "Either aclid or networkid should be specified%s",
                      net ? net->id : "");
    if (action && strcasecmp(action, "allow") != 0 && strcasecmp(action, "deny") != 0)
        return cs_err(r, 431, 4350, "Invalid action %s: allow or deny", action);
    if (tt && strcasecmp(tt, "ingress") != 0 && strcasecmp(tt, "egress") != 0)
        return cs_err(r, 431, 4350, "Invalid traffic type %s: ingress or egress", tt);
    if (!cidrs || !*cidrs)
        cidrs = "0.0.0.0/0";
    {
        long max = 0;
        for (struct cs_obj *o = cs_objs(); o; o = o->hh.next) {
            long n;
            if (o->gone || o->kind != CS_ACL || strcmp(o->acl, list->id) != 0)
                continue;
            n = json_object_get_int(json_object_object_get(o->o, "number"));
            if (number && n == number)
                return cs_err(r, 431, 4350, "ACL item with number %ld already exists in ACL: %s",
                              number, list->id);
            if (n > max)
                max = n;
        }
        if (!number)
            number = max + 1;
    }
    a = cs_obj_new(CS_ACL, NULL);
    lbp_strlcpy(a->acl, list->id, sizeof(a->acl));
    lbp_strlcpy(a->proto, proto, sizeof(a->proto));
    a->port_lo = (int)lo;
    a->port_hi = (int)hi;
    set_s(a, "protocol", proto);
    if (lo || hi) {
        snprintf(buf, sizeof(buf), "%ld", lo);
        set_s(a, "startport", buf);
        snprintf(buf, sizeof(buf), "%ld", hi);
        set_s(a, "endport", buf);
    }
    set_s(a, "traffictype", tt && strcasecmp(tt, "egress") == 0 ? "Egress" : "Ingress");
    set_s(a, "state", "Add");
    set_s(a, "cidrlist", cidrs);
    set_s(a, "aclid", list->id);
    set_s(a, "aclname", js(list, "name"));
    json_object_object_add(a->o, "number", json_object_new_int((int)number));
    set_s(a, "action", action && strcasecmp(action, "deny") == 0 ? "Deny" : "Allow");
    json_object_object_add(a->o, "fordisplay", json_object_new_boolean(true));
    job_start(q, r, A_ACL_CREATE,
              "org.apache.cloudstack.api.command.user.network.CreateNetworkACLCmd", "NetworkAcl",
              a->id, a->id, NULL);
    return 0;
}

static int c_delete_acl(const struct cs_req *q, struct cs_resp *r)
{
    struct cs_obj *a;
    if (ref(q, r, "id", CS_ACL, true, &a))
        return -1;
    job_start(q, r, A_ACL_DELETE,
              "org.apache.cloudstack.api.command.user.network.DeleteNetworkACLCmd", "NetworkAcl",
              a->id, NULL, NULL);
    return 0;
}

struct acl_filter {
    struct cs_obj *list;
};

static bool p_acl(const struct cs_req *q, struct cs_obj *o, void *ctx)
{
    const struct acl_filter *f = ctx;
    const char *proto = cs_p(q, "protocol"), *tt = cs_p(q, "traffictype"),
               *action = cs_p(q, "action");
    if (f->list && strcmp(o->acl, f->list->id) != 0)
        return false;
    if (proto && strcasecmp(proto, o->proto) != 0)
        return false;
    if (tt && strcasecmp(tt, js(o, "traffictype")) != 0)
        return false;
    return !action || strcasecmp(action, js(o, "action")) == 0;
}

static int c_list_acl(const struct cs_req *q, struct cs_resp *r)
{
    struct acl_filter f = {0};
    struct cs_obj *net;
    if (ref(q, r, "aclid", CS_ACLLIST, false, &f.list) ||
        ref(q, r, "networkid", CS_NETWORK, false, &net))
        return -1;
    if (!f.list && net) {
        f.list = net->acl[0] ? cs_obj_find(net->acl) : NULL;
        if (!f.list) {
            r->body = json_object_new_object();
            return 0;
        }
    }
    return list_kind(q, r, CS_ACL, "networkacl", p_acl, &f);
}

/* ---- tags ---- */

static const char *const tag_types[] = {
    "UserVm",     "PublicIpAddress", "LoadBalancer", "FirewallRule",
    "NetworkACL", "Network",         "Vpc",          "Zone"};
static const enum cs_kind tag_kinds[] = {CS_VM,  CS_IP,      CS_LB,  CS_FW,
                                         CS_ACL, CS_NETWORK, CS_VPC, CS_ZONE};

static int tags_cmd(const struct cs_req *q, struct cs_resp *r, bool add)
{
    const char *ids, *rtype;
    struct json_object *idl = NULL, *tags = NULL, *args;
    size_t idx[32], n, t;
    const char *keys[32];
    char buf[8192], *save = NULL;
    if (need(q, r, "resourceids", &ids) || need(q, r, "resourcetype", &rtype))
        return -1;
    for (t = 0; t < LBP_ARRAY_LEN(tag_types); t++)
        if (strcasecmp(tag_types[t], rtype) == 0)
            break;
    if (t == LBP_ARRAY_LEN(tag_types))
        return cs_err(r, 431, 4350, "Invalid resource type %s", rtype);
    n = map_get(q, "tags", "key", idx, 32, keys);
    if (add && n == 0)
        return missing(q, r, "tags");
    idl = json_object_new_array();
    lbp_strlcpy(buf, ids, sizeof(buf));
    for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        if (!cs_obj_get(s, tag_kinds[t])) {
            json_object_put(idl);
            return cs_err(r, 431, 4350, "Unable to find resource by id %s and type %s", s,
                          tag_types[t]);
        }
        json_object_array_add(idl, json_object_new_string(s));
    }
    tags = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_new_object();
        const char *v = map_at(q, "tags", idx[i], "value");
        if (add && (!keys[i][0] || !v)) {
            json_object_put(o);
            json_object_put(idl);
            json_object_put(tags);
            return cs_err(r, 431, 4350, "Value for the key %s is either null or empty", keys[i]);
        }
        json_object_object_add(o, "key", json_object_new_string(keys[i]));
        if (v)
            json_object_object_add(o, "value", json_object_new_string(v));
        json_object_array_add(tags, o);
    }
    args = json_object_new_object();
    json_object_object_add(args, "ids", idl);
    json_object_object_add(args, "tags", tags);
    json_object_object_add(args, "rtype", json_object_new_string(tag_types[t]));
    job_start(q, r, add ? A_TAGS_CREATE : A_TAGS_DELETE,
              add ? "org.apache.cloudstack.api.command.user.tag.CreateTagsCmd"
                  : "org.apache.cloudstack.api.command.user.tag.DeleteTagsCmd",
              "None", NULL, NULL, args);
    return 0;
}

static int c_create_tags(const struct cs_req *q, struct cs_resp *r)
{
    return tags_cmd(q, r, true);
}

static int c_delete_tags(const struct cs_req *q, struct cs_resp *r)
{
    return tags_cmd(q, r, false);
}

static int c_list_tags(const struct cs_req *q, struct cs_resp *r)
{
    return list_finish(q, r, "tag",
                       cs_tags_list(cs_p(q, "resourcetype"), cs_p(q, "resourceid"), cs_p(q, "key"),
                                    cs_p(q, "value")));
}

/* ---- dispatch ---- */

struct cmd {
    const char *name;
    int (*fn)(const struct cs_req *q, struct cs_resp *r);
};

static const struct cmd cmds[] = {
    {"listZones", c_list_zones},
    {"listNetworks", c_list_networks},
    {"listVPCs", c_list_vpcs},
    {"listVirtualMachines", c_list_vms},
    {"listPublicIpAddresses", c_list_ips},
    {"associateIpAddress", c_associate},
    {"disassociateIpAddress", c_disassociate},
    {"createLoadBalancerRule", c_create_lb},
    {"deleteLoadBalancerRule", c_delete_lb},
    {"updateLoadBalancerRule", c_update_lb},
    {"listLoadBalancerRules", c_list_lb},
    {"assignToLoadBalancerRule", c_assign},
    {"removeFromLoadBalancerRule", c_remove},
    {"listLoadBalancerRuleInstances", c_list_lb_instances},
    {"createFirewallRule", c_create_fw},
    {"deleteFirewallRule", c_delete_fw},
    {"listFirewallRules", c_list_fw},
    {"createNetworkACL", c_create_acl},
    {"deleteNetworkACL", c_delete_acl},
    {"listNetworkACLs", c_list_acl},
    {"createTags", c_create_tags},
    {"deleteTags", c_delete_tags},
    {"listTags", c_list_tags},
    {"queryAsyncJobResult", c_query_job},
};

bool cs_cmd_known(const char *command)
{
    for (size_t i = 0; command && i < LBP_ARRAY_LEN(cmds); i++)
        if (strcmp(cmds[i].name, command) == 0)
            return true;
    return false;
}

void cs_cmd_run(const struct cs_req *q, struct cs_resp *r)
{
    cs_jobs_tick();
    for (size_t i = 0; i < LBP_ARRAY_LEN(cmds); i++) {
        if (strcmp(cmds[i].name, q->command) != 0)
            continue;
        r->status = 200;
        if (cmds[i].fn(q, r) != 0 && r->status == 200)
            cs_err(r, 530, 9999,
                   "Internal error executing command, please contact your system "
                   "administrator");
        if (r->status != 200) {
            json_object_put(r->body);
            r->body = NULL;
        }
        return;
    }
    cs_err(r, 432, 9999, "The given command does not exist or it is not available for user");
}
