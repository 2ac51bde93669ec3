/*
 * ops_ec2.c — the fake's EC2 (2016-11-15) operations: instances, subnets,
 * security groups and their ingress rules, tags.
 *
 * Filters follow EC2: every Filter.N must match (values OR-ed); ids named
 * with InstanceId.N/SubnetId.N/GroupId.N that do not exist fail the whole
 * call with the *.NotFound code. Rules are stored one source per rule, as
 * lbprov reads them; adding one twice is InvalidPermission.Duplicate. A
 * group holds at most sg_rules_max inbound rules (/_fake/config; AWS's
 * default quota is 60, raisable to 1,000), each source counting as one, as
 * AWS counts them: past it AuthorizeSecurityGroupIngress fails whole with
 * RulesPerSecurityGroupLimitExceeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fakes/aws/fake.h"

static struct json_object *tags_of(struct json_object *o)
{
    struct json_object *t;
    if (!json_object_object_get_ex(o, "tags", &t)) {
        t = json_object_new_object();
        json_object_object_add(o, "tags", t);
    }
    return t;
}

static void tagset_xml(struct lbp_buf *b, struct json_object *o)
{
    lbp_buf_adds(b, "<tagSet>");
    json_object_object_foreach(tags_of(o), k, v)
    {
        lbp_buf_adds(b, "<item>");
        fel(b, "key", k);
        fel(b, "value", json_object_get_string(v));
        lbp_buf_adds(b, "</item>");
    }
    lbp_buf_adds(b, "</tagSet>");
}

/* 1 match, 0 no match, -1 unknown filter */
static int match_one(struct json_object *o, const char *name, const char *val)
{
    const char *field = NULL;
    if (!strcmp(name, "instance-id") || !strcmp(name, "subnet-id") || !strcmp(name, "group-id"))
        field = "id";
    else if (!strcmp(name, "vpc-id"))
        field = "vpc";
    else if (!strcmp(name, "group-name"))
        field = "name";
    else if (!strcmp(name, "private-dns-name"))
        field = "private_dns";
    else if (!strcmp(name, "instance-state-name"))
        field = "state";
    else if (!strcmp(name, "availability-zone"))
        field = "az";
    if (field)
        return strcmp(js(o, field), val) == 0;
    if (!strncmp(name, "tag:", 4)) {
        struct json_object *v;
        return json_object_object_get_ex(tags_of(o), name + 4, &v) &&
               strcmp(json_object_get_string(v), val) == 0;
    }
    if (!strcmp(name, "tag-key"))
        return json_object_object_get_ex(tags_of(o), val, NULL);
    if (!strcmp(name, "ip-permission.group-id")) {
        /* a group with an inbound rule whose source is group val */
        struct json_object *rules = json_object_object_get(o, "rules");
        for (size_t k = 0; rules && k < json_object_array_length(rules); k++)
            if (!strcmp(js(json_object_array_get_idx(rules, k), "group"), val))
                return 1;
        return 0;
    }
    return -1;
}

static int matches(const struct fake_req *q, struct json_object *o, struct fake_resp *r)
{
    for (int f = 1; fpf(q, "Filter.%d.Name", f); f++) {
        const char *name = fpf(q, "Filter.%d.Name", f);
        bool any = false;
        for (int v = 1; fpf(q, "Filter.%d.Value.%d", f, v); v++) {
            int m = match_one(o, name, fpf(q, "Filter.%d.Value.%d", f, v));
            if (m < 0) {
                ferr(r, 400, "InvalidParameterValue", "The filter '%s' is invalid", name);
                return -1;
            }
            any = any || m;
        }
        if (!any)
            return 0;
    }
    return 1;
}

/* Selects items by id list (NotFound on a missing one) and filters; paged by NextToken. */
static struct json_object **select_items(const struct fake_req *q, struct fake_resp *r,
                                         const char *arr, const char *idparam, const char *notfound,
                                         size_t *n_out, size_t *start, size_t *end)
{
    struct json_object *a = sarr(arr);
    size_t n = 0, cap = json_object_array_length(a) + 1;
    struct json_object **sel = calloc(cap, sizeof(*sel));
    if (!sel)
        return NULL;
    for (int i = 1; fpf(q, "%s.%d", idparam, i); i++)
        if (!sfind(arr, "id", fpf(q, "%s.%d", idparam, i), NULL)) {
            ferr(r, 400, notfound, "The ID '%s' does not exist", fpf(q, "%s.%d", idparam, i));
            free(sel);
            return NULL;
        }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *o = json_object_array_get_idx(a, i);
        int m;
        if (fpf(q, "%s.1", idparam)) {
            bool listed = false;
            for (int k = 1; fpf(q, "%s.%d", idparam, k) && !listed; k++)
                listed = strcmp(js(o, "id"), fpf(q, "%s.%d", idparam, k)) == 0;
            if (!listed)
                continue;
        }
        m = matches(q, o, r);
        if (m < 0) {
            free(sel);
            return NULL;
        }
        if (m)
            sel[n++] = o;
    }
    *n_out = n;
    fake_page(q, "MaxResults", 1000, "NextToken", n, start, end);
    return sel;
}

static void next_token(struct lbp_buf *b, size_t end, size_t n)
{
    if (end < n)
        lbp_buf_addf(b, "<nextToken>%zu</nextToken>", end);
}

static void describe_instances(const struct fake_req *q, struct fake_resp *r)
{
    size_t n, s, e;
    struct json_object **sel =
        select_items(q, r, "instances", "InstanceId", "InvalidInstanceID.NotFound", &n, &s, &e);
    struct lbp_buf *b = &r->body;
    if (!sel)
        return;
    lbp_buf_adds(b, "<reservationSet>");
    for (size_t i = s; i < e; i++) {
        struct json_object *o = sel[i], *sgs = json_object_object_get(o, "sgs");
        lbp_buf_adds(b, "<item>");
        lbp_buf_addf(b, "<reservationId>r-%s</reservationId><ownerId>123456789012</ownerId>",
                     js(o, "id") + 2);
        lbp_buf_adds(b, "<instancesSet><item>");
        fel(b, "instanceId", js(o, "id"));
        fel(b, "imageId", "ami-12345678");
        lbp_buf_addf(b, "<instanceState><code>%d</code>",
                     strcmp(js(o, "state"), "running") ? 48 : 16);
        fel(b, "name", *js(o, "state") ? js(o, "state") : "running");
        lbp_buf_adds(b, "</instanceState>");
        fel(b, "privateDnsName", js(o, "private_dns"));
        fel(b, "privateIpAddress", js(o, "ip"));
        fel(b, "subnetId", js(o, "subnet"));
        fel(b, "vpcId", js(o, "vpc"));
        lbp_buf_adds(b, "<placement>");
        fel(b, "availabilityZone", js(o, "az"));
        lbp_buf_adds(b, "</placement><groupSet>");
        for (size_t k = 0; sgs && k < json_object_array_length(sgs); k++) {
            const char *gid = json_object_get_string(json_object_array_get_idx(sgs, k));
            struct json_object *g = sfind("sgs", "id", gid, NULL);
            lbp_buf_adds(b, "<item>");
            fel(b, "groupId", gid);
            fel(b, "groupName", g ? js(g, "name") : "");
            lbp_buf_adds(b, "</item>");
        }
        lbp_buf_adds(b, "</groupSet>");
        tagset_xml(b, o);
        lbp_buf_adds(b, "</item></instancesSet></item>");
    }
    lbp_buf_adds(b, "</reservationSet>");
    next_token(b, e, n);
    free(sel);
}

static void describe_subnets(const struct fake_req *q, struct fake_resp *r)
{
    size_t n, s, e;
    struct json_object **sel =
        select_items(q, r, "subnets", "SubnetId", "InvalidSubnetID.NotFound", &n, &s, &e);
    struct lbp_buf *b = &r->body;
    if (!sel)
        return;
    lbp_buf_adds(b, "<subnetSet>");
    for (size_t i = s; i < e; i++) {
        struct json_object *o = sel[i];
        lbp_buf_adds(b, "<item>");
        fel(b, "subnetId", js(o, "id"));
        fel(b, "state", "available");
        fel(b, "vpcId", js(o, "vpc"));
        fel(b, "cidrBlock", js(o, "cidr"));
        feli(b, "availableIpAddressCount", 250);
        fel(b, "availabilityZone", js(o, "az"));
        fel(b, "defaultForAz", "false");
        fel(b, "mapPublicIpOnLaunch", "false");
        tagset_xml(b, o);
        lbp_buf_adds(b, "</item>");
    }
    lbp_buf_adds(b, "</subnetSet>");
    next_token(b, e, n);
    free(sel);
}

static void sg_xml(struct lbp_buf *b, struct json_object *o)
{
    struct json_object *rules = json_object_object_get(o, "rules");
    lbp_buf_adds(b, "<item>");
    fel(b, "ownerId", "123456789012");
    fel(b, "groupId", js(o, "id"));
    fel(b, "groupName", js(o, "name"));
    fel(b, "groupDescription", js(o, "description"));
    fel(b, "vpcId", js(o, "vpc"));
    lbp_buf_adds(b, "<ipPermissions>");
    for (size_t k = 0; rules && k < json_object_array_length(rules); k++) {
        struct json_object *ru = json_object_array_get_idx(rules, k);
        const char *cidr = js(ru, "cidr");
        lbp_buf_adds(b, "<item>");
        fel(b, "ipProtocol", js(ru, "proto"));
        if (strcmp(js(ru, "proto"), "-1") != 0) {
            feli(b, "fromPort", ji(ru, "from"));
            feli(b, "toPort", ji(ru, "to"));
        }
        lbp_buf_adds(b, "<groups>");
        if (*js(ru, "group")) {
            lbp_buf_adds(b, "<item><userId>123456789012</userId>");
            fel(b, "groupId", js(ru, "group"));
            if (*js(ru, "desc"))
                fel(b, "description", js(ru, "desc"));
            lbp_buf_adds(b, "</item>");
        }
        lbp_buf_adds(b, "</groups><ipRanges>");
        if (*cidr && !strchr(cidr, ':')) {
            lbp_buf_adds(b, "<item>");
            fel(b, "cidrIp", cidr);
            if (*js(ru, "desc"))
                fel(b, "description", js(ru, "desc"));
            lbp_buf_adds(b, "</item>");
        }
        lbp_buf_adds(b, "</ipRanges><ipv6Ranges>");
        if (*cidr && strchr(cidr, ':')) {
            lbp_buf_adds(b, "<item>");
            fel(b, "cidrIpv6", cidr);
            if (*js(ru, "desc"))
                fel(b, "description", js(ru, "desc"));
            lbp_buf_adds(b, "</item>");
        }
        lbp_buf_adds(b, "</ipv6Ranges><prefixListIds/></item>");
    }
    lbp_buf_adds(b, "</ipPermissions><ipPermissionsEgress/>");
    tagset_xml(b, o);
    lbp_buf_adds(b, "</item>");
}

static void describe_sgs(const struct fake_req *q, struct fake_resp *r)
{
    size_t n, s, e;
    struct json_object **sel =
        select_items(q, r, "sgs", "GroupId", "InvalidGroup.NotFound", &n, &s, &e);
    if (!sel)
        return;
    lbp_buf_adds(&r->body, "<securityGroupInfo>");
    for (size_t i = s; i < e; i++)
        sg_xml(&r->body, sel[i]);
    g_sgs_described += (long)(e - s);
    lbp_buf_adds(&r->body, "</securityGroupInfo>");
    next_token(&r->body, e, n);
    free(sel);
}

static bool same_rule(struct json_object *a, struct json_object *b)
{
    return !strcmp(js(a, "proto"), js(b, "proto")) && ji(a, "from") == ji(b, "from") &&
           ji(a, "to") == ji(b, "to") && !strcmp(js(a, "cidr"), js(b, "cidr")) &&
           !strcmp(js(a, "group"), js(b, "group"));
}

static struct json_object *rules_from(const struct fake_req *q, struct fake_resp *r)
{
    struct json_object *out = json_object_new_array();
    for (int p = 1; fpf(q, "IpPermissions.%d.IpProtocol", p); p++) {
        const char *proto = fpf(q, "IpPermissions.%d.IpProtocol", p);
        int from, to;
        char k[96];
        snprintf(k, sizeof(k), "IpPermissions.%d.FromPort", p);
        from = fpi(q, k, 0);
        snprintf(k, sizeof(k), "IpPermissions.%d.ToPort", p);
        to = fpi(q, k, 0);
        if (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "-1") &&
            strcmp(proto, "icmp")) {
            ferr(r, 400, "InvalidParameterValue", "Invalid value '%s' for IP protocol", proto);
            json_object_put(out);
            return NULL;
        }
        for (int kind = 0; kind < 3; kind++) {
            static const char *const list[] = {"IpRanges", "Ipv6Ranges", "Groups"};
            static const char *const field[] = {"CidrIp", "CidrIpv6", "GroupId"};
            for (int m = 1; fpf(q, "IpPermissions.%d.%s.%d.%s", p, list[kind], m, field[kind]);
                 m++) {
                const char *v = fpf(q, "IpPermissions.%d.%s.%d.%s", p, list[kind], m, field[kind]);
                const char *d = fpf(q, "IpPermissions.%d.%s.%d.Description", p, list[kind], m);
                struct json_object *ru = json_object_new_object();
                jset(ru, "proto", proto);
                jseti(ru, "from", strcmp(proto, "-1") ? from : 0);
                jseti(ru, "to", strcmp(proto, "-1") ? to : 0);
                jset(ru, kind == 2 ? "group" : "cidr", v);
                jset(ru, kind == 2 ? "cidr" : "group", "");
                jset(ru, "desc", d ? d : "");
                if (kind == 2 && !sfind("sgs", "id", v, NULL)) {
                    ferr(r, 400, "InvalidGroup.NotFound", "The security group '%s' does not exist",
                         v);
                    json_object_put(ru);
                    json_object_put(out);
                    return NULL;
                }
                json_object_array_add(out, ru);
            }
        }
    }
    return out;
}

static void ingress(const struct fake_req *q, struct fake_resp *r, bool add)
{
    struct json_object *sg = sfind("sgs", "id", fp(q, "GroupId"), NULL), *want, *rules;
    if (!sg) {
        ferr(r, 400, "InvalidGroup.NotFound", "The security group '%s' does not exist",
             fp(q, "GroupId") ? fp(q, "GroupId") : "");
        return;
    }
    want = rules_from(q, r);
    if (!want)
        return;
    if (!json_object_object_get_ex(sg, "rules", &rules)) {
        rules = json_object_new_array();
        json_object_object_add(sg, "rules", rules);
    }
    /* All or nothing, as EC2. */
    for (size_t i = 0; i < json_object_array_length(want); i++) {
        struct json_object *w = json_object_array_get_idx(want, i);
        bool have = false;
        for (size_t k = 0; k < json_object_array_length(rules); k++)
            have = have || same_rule(w, json_object_array_get_idx(rules, k));
        if (add && have) {
            ferr(r, 400, "InvalidPermission.Duplicate",
                 "the specified rule \"peer: %s, %s, from port: %d, to port: %d\" already exists",
                 *js(w, "cidr") ? js(w, "cidr") : js(w, "group"), js(w, "proto"), ji(w, "from"),
                 ji(w, "to"));
            json_object_put(want);
            return;
        }
        if (!add && !have) {
            ferr(r, 400, "InvalidPermission.NotFound",
                 "The specified rule does not exist in this security group.");
            json_object_put(want);
            return;
        }
    }
    if (add &&
        json_object_array_length(rules) + json_object_array_length(want) > (size_t)g_sg_rules_max) {
        ferr(r, 400, "RulesPerSecurityGroupLimitExceeded",
             "The maximum number of rules per security group has been reached.");
        json_object_put(want);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(want); i++) {
        struct json_object *w = json_object_array_get_idx(want, i);
        if (add) {
            json_object_array_add(rules, json_object_get(w));
        } else {
            for (size_t k = json_object_array_length(rules); k-- > 0;)
                if (same_rule(w, json_object_array_get_idx(rules, k)))
                    json_object_array_del_idx(rules, k, 1);
        }
    }
    json_object_put(want);
    lbp_buf_adds(&r->body, "<return>true</return>");
}

static void create_sg(const struct fake_req *q, struct fake_resp *r)
{
    const char *name = fp(q, "GroupName"), *desc = fp(q, "GroupDescription"), *vpc = fp(q, "VpcId");
    struct json_object *a = sarr("sgs"), *o;
    char id[64];
    if (!name || !desc) {
        ferr(r, 400, "MissingParameter", "GroupName and GroupDescription are required");
        return;
    }
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        struct json_object *g = json_object_array_get_idx(a, i);
        if (!strcmp(js(g, "name"), name) && !strcmp(js(g, "vpc"), vpc ? vpc : "")) {
            ferr(r, 400, "InvalidGroup.Duplicate",
                 "The security group '%s' already exists for VPC '%s'", name, vpc ? vpc : "");
            return;
        }
    }
    fake_id("sg-", id, sizeof(id));
    o = json_object_new_object();
    jset(o, "id", id);
    jset(o, "name", name);
    jset(o, "description", desc);
    jset(o, "vpc", vpc ? vpc : "");
    json_object_object_add(o, "rules", json_object_new_array());
    json_object_object_add(o, "tags", json_object_new_object());
    for (int t = 1; fpf(q, "TagSpecification.1.Tag.%d.Key", t); t++)
        jset(tags_of(o), fpf(q, "TagSpecification.1.Tag.%d.Key", t),
             fpf(q, "TagSpecification.1.Tag.%d.Value", t)
                 ? fpf(q, "TagSpecification.1.Tag.%d.Value", t)
                 : "");
    json_object_array_add(a, o);
    lbp_buf_adds(&r->body, "<return>true</return>");
    fel(&r->body, "groupId", id);
}

static void delete_sg(const struct fake_req *q, struct fake_resp *r)
{
    const char *id = fp(q, "GroupId");
    struct json_object *sgs = sarr("sgs"), *clbs = sarr("clbs");
    size_t idx;
    if (!sfind("sgs", "id", id, &idx)) {
        ferr(r, 400, "InvalidGroup.NotFound", "The security group '%s' does not exist",
             id ? id : "");
        return;
    }
    for (size_t i = 0; i < json_object_array_length(clbs); i++)
        if (jarr_has(json_object_object_get(json_object_array_get_idx(clbs, i), "sgs"), id)) {
            ferr(r, 400, "DependencyViolation", "resource %s has a dependent object", id);
            return;
        }
    for (size_t i = 0; i < json_object_array_length(sgs); i++) {
        struct json_object *rules =
            json_object_object_get(json_object_array_get_idx(sgs, i), "rules");
        for (size_t k = 0; rules && k < json_object_array_length(rules); k++)
            if (!strcmp(js(json_object_array_get_idx(rules, k), "group"), id)) {
                ferr(r, 400, "DependencyViolation", "resource %s has a dependent object", id);
                return;
            }
    }
    json_object_array_del_idx(sgs, idx, 1);
    lbp_buf_adds(&r->body, "<return>true</return>");
}

static void create_tags(const struct fake_req *q, struct fake_resp *r)
{
    static const char *const arrs[] = {"sgs", "subnets", "instances"};
    for (int i = 1; fpf(q, "ResourceId.%d", i); i++) {
        const char *id = fpf(q, "ResourceId.%d", i);
        struct json_object *o = NULL;
        for (size_t a = 0; a < 3 && !o; a++)
            o = sfind(arrs[a], "id", id, NULL);
        if (!o) {
            ferr(r, 400, "InvalidID", "The ID '%s' is not valid", id);
            return;
        }
        for (int t = 1; fpf(q, "Tag.%d.Key", t); t++)
            jset(tags_of(o), fpf(q, "Tag.%d.Key", t),
                 fpf(q, "Tag.%d.Value", t) ? fpf(q, "Tag.%d.Value", t) : "");
    }
    lbp_buf_adds(&r->body, "<return>true</return>");
}

bool ops_ec2(const struct fake_req *q, struct fake_resp *r)
{
    const char *a = q->action;
    if (!strcmp(a, "DescribeInstances"))
        describe_instances(q, r);
    else if (!strcmp(a, "DescribeSubnets"))
        describe_subnets(q, r);
    else if (!strcmp(a, "DescribeSecurityGroups"))
        describe_sgs(q, r);
    else if (!strcmp(a, "AuthorizeSecurityGroupIngress"))
        ingress(q, r, true);
    else if (!strcmp(a, "RevokeSecurityGroupIngress"))
        ingress(q, r, false);
    else if (!strcmp(a, "CreateSecurityGroup"))
        create_sg(q, r);
    else if (!strcmp(a, "DeleteSecurityGroup"))
        delete_sg(q, r);
    else if (!strcmp(a, "CreateTags"))
        create_tags(q, r);
    else
        return false;
    return true;
}
