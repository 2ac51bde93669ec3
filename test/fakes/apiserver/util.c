/*
 * util.c — small helpers for the fake API server: dotted-path JSON access,
 * UUIDs and randomness from getrandom(2), timestamps, and the name rules the
 * real server validates (DNS-1123 subdomain / label, DNS-1035 label).
 */
#include "fake.h"
#include "common/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

json_object *fake_get(json_object *o, const char *path)
{
    char part[128];
    const char *p = path;
    while (o && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(part) || !json_object_is_type(o, json_type_object))
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        o = json_object_object_get(o, part);
        p += n;
        if (*p == '.')
            p++;
    }
    return o;
}

const char *fake_get_str(json_object *o, const char *path)
{
    json_object *v = fake_get(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

json_object *fake_ensure_obj(json_object *o, const char *key)
{
    json_object *c = json_object_object_get(o, key);
    if (c && json_object_is_type(c, json_type_object))
        return c;
    c = json_object_new_object();
    json_object_object_add(o, key, c);
    return c;
}

uint64_t fake_random(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = lbp_now_ms() * 6364136223846793005ull + 1442695040888963407ull;
    return v;
}

void fake_uuid(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t a = fake_random(), c = fake_random();
        memcpy(b, &a, 8);
        memcpy(b + 8, &c, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void fake_now_rfc3339(char out[32])
{
    lbp_rfc3339(lbp_wall_s(), out);
}

static bool label_ok(const char *s, size_t n, bool alpha_first)
{
    if (n == 0 || n > 63)
        return false;
    if (alpha_first ? !islower((unsigned char)s[0])
                    : !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return false;
    if (!(islower((unsigned char)s[n - 1]) || isdigit((unsigned char)s[n - 1])))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

/* A DNS-1123 subdomain: labels joined by single dots, 253 bytes at most. */
static bool subdomain_ok(const char *name, size_t n)
{
    bool ok = n > 0 && n <= 253;
    const char *p = name;
    while (ok && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        ok = label_ok(p, len, false);
        p += len;
        if (*p == '.')
            p++;
        if (dot && !*p)
            ok = false;
    }
    return ok;
}

/* What the API server says of a name against each rule, after "Invalid value: \"<name>\": ". */
static const char *const name_rule_msg[] = {
    [NAME_SUBDOMAIN] = "a lowercase RFC 1123 subdomain must consist of "
                       "lower case alphanumeric characters, '-' or '.', and must start and end "
                       "with an alphanumeric character (e.g. 'example.com', regex used for "
                       "validation is "
                       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    [NAME_DNS1035] = "a DNS-1035 label must consist of lower case "
                     "alphanumeric characters or '-', start with an alphabetic character, and "
                     "end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex "
                     "used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    [NAME_DNS1123_LABEL] = "a lowercase RFC 1123 label must consist of lower "
                           "case alphanumeric characters or '-', and must start and end with an "
                           "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                           "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
};

bool fake_name_valid(enum fake_name_rule rule, const char *name, struct fake_errs *e,
                     const char *field)
{
    size_t n = strlen(name);
    bool ok;
    if (rule == NAME_DNS1035)
        ok = label_ok(name, n, true);
    else if (rule == NAME_DNS1123_LABEL)
        ok = label_ok(name, n, false);
    else {
        rule = NAME_SUBDOMAIN;
        ok = subdomain_ok(name, n);
    }
    if (!ok)
        fake_errs_add(e, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", name,
                      name_rule_msg[rule]);
    return ok;
}
