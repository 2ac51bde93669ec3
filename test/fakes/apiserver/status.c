/*
 * status.c — metav1.Status error bodies shaped like the real API server's:
 * kind, apiVersion, metadata, status, message, reason, details, code, in that
 * order, with details.kind naming the resource ("services") for NotFound /
 * AlreadyExists / Conflict and the Kind ("Service") for Invalid, as upstream.
 */
#include "fake.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fake_reason_for(int code)
{
    switch (code) {
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 406:
        return "NotAcceptable";
    case 409:
        return "Conflict";
    case 410:
        return "Expired";
    case 413:
        return "RequestEntityTooLarge";
    case 415:
        return "UnsupportedMediaType";
    case 422:
        return "Invalid";
    case 429:
        return "TooManyRequests";
    case 500:
        return "InternalError";
    case 503:
        return "ServiceUnavailable";
    case 504:
        return "Timeout";
    default:
        return "Unknown";
    }
}

json_object *fake_status(int code, const char *reason, const char *message, const char *name,
                         const char *group, const char *kind)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "kind", json_object_new_string("Status"));
    json_object_object_add(o, "apiVersion", json_object_new_string("v1"));
    json_object_object_add(o, "metadata", json_object_new_object());
    json_object_object_add(o, "status", json_object_new_string("Failure"));
    if (message)
        json_object_object_add(o, "message", json_object_new_string(message));
    if (reason && *reason)
        json_object_object_add(o, "reason", json_object_new_string(reason));
    if (name || kind) {
        json_object *d = json_object_new_object();
        if (name)
            json_object_object_add(d, "name", json_object_new_string(name));
        if (group && *group)
            json_object_object_add(d, "group", json_object_new_string(group));
        if (kind)
            json_object_object_add(d, "kind", json_object_new_string(kind));
        json_object_object_add(o, "details", d);
    }
    json_object_object_add(o, "code", json_object_new_int(code));
    return o;
}

void fake_reply_json(struct fake_reply *r, int code, json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    r->code = code;
    free(r->body);
    r->len = strlen(s);
    r->body = strdup(s);
    if (!r->body) {
        r->code = 500;
        r->len = 0;
    }
    json_object_put(o);
}

void fake_reply_status(struct fake_reply *r, int code, const char *reason, const char *message,
                       const char *name, const char *group, const char *kind)
{
    fake_reply_json(r, code, fake_status(code, reason, message, name, group, kind));
}

static const char *qualified(const struct fake_rtype *rt, char *buf, size_t len)
{
    if (rt->group[0])
        snprintf(buf, len, "%s.%s", rt->resource, rt->group);
    else
        snprintf(buf, len, "%s", rt->resource);
    return buf;
}

void fake_reply_not_found(struct fake_reply *r, const struct fake_rtype *rt, const char *name)
{
    char msg[600], q[200];
    snprintf(msg, sizeof(msg), "%s \"%s\" not found", qualified(rt, q, sizeof(q)), name);
    fake_reply_status(r, 404, "NotFound", msg, name, rt->group, rt->resource);
}

void fake_reply_conflict(struct fake_reply *r, const struct fake_rtype *rt, const char *name)
{
    char msg[700], q[200];
    snprintf(msg, sizeof(msg),
             "Operation cannot be fulfilled on %s \"%s\": the object has been modified; please "
             "apply your changes to the latest version and try again",
             qualified(rt, q, sizeof(q)), name);
    fake_reply_status(r, 409, "Conflict", msg, name, rt->group, rt->resource);
}

void fake_errs_init(struct fake_errs *e)
{
    e->causes = json_object_new_array();
    lbp_buf_init(&e->msg, 16384);
    e->n = 0;
}

void fake_errs_free(struct fake_errs *e)
{
    json_object_put(e->causes);
    e->causes = NULL;
    lbp_buf_free(&e->msg);
}

void fake_errs_add(struct fake_errs *e, const char *reason, const char *field, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_object *c = json_object_new_object();
    json_object_object_add(c, "reason", json_object_new_string(reason));
    json_object_object_add(c, "message", json_object_new_string(detail));
    json_object_object_add(c, "field", json_object_new_string(field));
    json_object_array_add(e->causes, c);
    lbp_buf_addf(&e->msg, "%s%s: %s", e->n ? ", " : "", field, detail);
    e->n++;
}

void fake_reply_invalid(struct fake_reply *r, const struct fake_rtype *rt, const char *name,
                        struct fake_errs *e)
{
    char msg[20000];
    snprintf(msg, sizeof(msg), e->n > 1 ? "%s \"%s\" is invalid: [%s]" : "%s \"%s\" is invalid: %s",
             rt->kind, name, e->msg.data ? e->msg.data : "");
    json_object *st = fake_status(422, "Invalid", msg, name, rt->group, rt->kind);
    json_object *d = json_object_object_get(st, "details");
    json_object_object_add(d, "causes", json_object_get(e->causes));
    fake_reply_json(r, 422, st);
}
