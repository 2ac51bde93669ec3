/*
 * json.c — strict JSON parsing and path getters (see json.h). A path is
 * walked one segment at a time: a member name up to '.' or '[', then any
 * number of "[index]"; a segment that does not resolve ends the walk.
 */
#include "common/json.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/rc.h"
#include "common/util.h"

#define MAX_KEY 256

int lbp_json_parse(const char *text, size_t len, size_t max, struct json_object **out, char *err,
                   size_t errlen)
{
    struct json_tokener *tok;
    enum json_tokener_error jerr;
    size_t end;
    int rc = LBP_OK;

    *out = NULL;
    if (len > max || len > INT_MAX) {
        lbp_seterr(err, errlen, "JSON document larger than %zu bytes", max);
        return LBP_TOOBIG;
    }
    if (!(tok = json_tokener_new()))
        return LBP_NOMEM;
    *out = json_tokener_parse_ex(tok, text ? text : "", (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (end < len && strchr(" \t\r\n", text[end]))
        end++;
    if (jerr == json_tokener_success && end < len) {
        lbp_seterr(err, errlen, "trailing data");
        rc = LBP_PARSE;
    } else if (jerr != json_tokener_success || !*out) {
        lbp_seterr(err, errlen, "%s",
                   jerr == json_tokener_continue || jerr == json_tokener_success
                       ? (len ? "truncated" : "empty")
                       : json_tokener_error_desc(jerr));
        rc = LBP_PARSE;
    }
    if (rc) {
        json_object_put(*out);
        *out = NULL;
    }
    return rc;
}

struct json_object *lbp_json_at(struct json_object *o, const char *path)
{
    const char *p = path ? path : "";
    while (o && *p) {
        size_t l = strcspn(p, ".[");
        if (l) {
            char key[MAX_KEY];
            struct json_object *v = NULL;
            if (l >= sizeof(key) || !json_object_is_type(o, json_type_object))
                return NULL;
            memcpy(key, p, l);
            key[l] = 0;
            if (!json_object_object_get_ex(o, key, &v))
                return NULL;
            o = v;
            p += l;
        }
        while (o && *p == '[') {
            char *e;
            unsigned long i;
            errno = 0;
            i = strtoul(p + 1, &e, 10);
            if (errno || e == p + 1 || *e != ']' || !json_object_is_type(o, json_type_array) ||
                i >= json_object_array_length(o))
                return NULL;
            o = json_object_array_get_idx(o, i);
            p = e + 1;
        }
        if (*p == '.')
            p++;
        else if (*p)
            return NULL;
    }
    return o && !json_object_is_type(o, json_type_null) ? o : NULL;
}

/* The value at path, or LBP_NOT_FOUND with "path: missing". */
static int find(struct json_object *o, const char *path, struct json_object **v, char *err,
                size_t errlen)
{
    *v = lbp_json_at(o, path);
    if (!*v) {
        lbp_seterr(err, errlen, "%s: missing", path);
        return LBP_NOT_FOUND;
    }
    return LBP_OK;
}

static int wrong(const char *path, const char *what, char *err, size_t errlen)
{
    lbp_seterr(err, errlen, "%s: not %s", path, what);
    return LBP_PARSE;
}

int lbp_json_get_str(struct json_object *o, const char *path, size_t max, const char **out,
                     char *err, size_t errlen)
{
    struct json_object *v;
    int rc = find(o, path, &v, err, errlen);
    if (rc)
        return rc;
    if (!json_object_is_type(v, json_type_string))
        return wrong(path, "a string", err, errlen);
    if ((size_t)json_object_get_string_len(v) > max) {
        lbp_seterr(err, errlen, "%s: longer than %zu bytes", path, max);
        return LBP_PARSE;
    }
    *out = json_object_get_string(v);
    return LBP_OK;
}

int lbp_json_copy_str(struct json_object *o, const char *path, char *buf, size_t cap, char *err,
                      size_t errlen)
{
    const char *s;
    int rc;
    buf[0] = 0;
    if (!cap)
        return LBP_TOOBIG;
    rc = lbp_json_get_str(o, path, cap - 1, &s, err, errlen);
    if (rc)
        return rc;
    if (!*s) {
        lbp_seterr(err, errlen, "%s: empty", path);
        return LBP_PARSE;
    }
    lbp_strlcpy(buf, s, cap);
    return LBP_OK;
}

static int range(const char *path, int64_t v, int64_t min, int64_t max, int64_t *out, char *err,
                 size_t errlen)
{
    if (v < min || v > max) {
        lbp_seterr(err, errlen, "%s: %lld is outside [%lld, %lld]", path, (long long)v,
                   (long long)min, (long long)max);
        return LBP_PARSE;
    }
    *out = v;
    return LBP_OK;
}

int lbp_json_get_int(struct json_object *o, const char *path, int64_t min, int64_t max,
                     int64_t *out, char *err, size_t errlen)
{
    struct json_object *v;
    int rc = find(o, path, &v, err, errlen);
    if (rc)
        return rc;
    if (!json_object_is_type(v, json_type_int))
        return wrong(path, "an integer", err, errlen);
    errno = 0;
    {
        int64_t x = json_object_get_int64(v);
        if (errno)
            return wrong(path, "a 64-bit integer", err, errlen);
        return range(path, x, min, max, out, err, errlen);
    }
}

int lbp_json_get_num(struct json_object *o, const char *path, int64_t min, int64_t max,
                     int64_t *out, char *err, size_t errlen)
{
    struct json_object *v = lbp_json_at(o, path);
    const char *s;
    char *e;
    long long x;
    if (!v || !json_object_is_type(v, json_type_string))
        return lbp_json_get_int(o, path, min, max, out, err, errlen);
    s = json_object_get_string(v);
    errno = 0;
    x = strtoll(s, &e, 10);
    if (!*s || *e || errno || !isdigit((unsigned char)s[s[0] == '-' ? 1 : 0]))
        return wrong(path, "a number", err, errlen);
    return range(path, x, min, max, out, err, errlen);
}

int lbp_json_get_bool(struct json_object *o, const char *path, bool *out, char *err, size_t errlen)
{
    struct json_object *v;
    int rc = find(o, path, &v, err, errlen);
    if (rc)
        return rc;
    if (!json_object_is_type(v, json_type_boolean))
        return wrong(path, "a boolean", err, errlen);
    *out = json_object_get_boolean(v);
    return LBP_OK;
}

int lbp_json_get_obj(struct json_object *o, const char *path, struct json_object **out, char *err,
                     size_t errlen)
{
    int rc = find(o, path, out, err, errlen);
    if (rc == LBP_OK && !json_object_is_type(*out, json_type_object)) {
        *out = NULL;
        return wrong(path, "an object", err, errlen);
    }
    return rc;
}

int lbp_json_get_array(struct json_object *o, const char *path, size_t max,
                       struct json_object **out, size_t *n, char *err, size_t errlen)
{
    int rc = find(o, path, out, err, errlen);
    *n = 0;
    if (rc)
        return rc;
    if (!json_object_is_type(*out, json_type_array)) {
        *out = NULL;
        return wrong(path, "an array", err, errlen);
    }
    *n = json_object_array_length(*out);
    if (*n > max) {
        lbp_seterr(err, errlen, "%s: more than %zu elements", path, max);
        *out = NULL;
        *n = 0;
        return LBP_TOOBIG;
    }
    return LBP_OK;
}

void lbp_json_add_u64(struct json_object *o, const char *key, uint64_t n)
{
    json_object_object_add(o, key, json_object_new_int64(n > INT64_MAX ? INT64_MAX : (int64_t)n));
}
