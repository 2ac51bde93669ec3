/*
 * select.c — label and field selectors, parsed once per LIST/WATCH and
 * matched against each object.
 *
 * Labels: "a=b", "a==b", "a!=b", "a", "!a", "a in (x,y)", "a notin (x)",
 * comma-separated and ANDed. Fields: "path=v", "path==v", "path!=v" on the
 * fields the real server indexes (metadata.name, metadata.namespace and a
 * few per-kind ones); anything else is rejected like upstream ("field label
 * not supported").
 */
#include "fake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEL_MAX_REQS 32
#define SEL_MAX_VALS 16
#define SEL_TOKEN 320

enum sel_op { OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

struct sel_req {
    char key[SEL_TOKEN];
    enum sel_op op;
    int nvals;
    char vals[SEL_MAX_VALS][SEL_TOKEN];
};

struct fake_sel {
    bool field;
    int n;
    struct sel_req reqs[SEL_MAX_REQS];
};

static const char *const field_ok[] = {
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "spec.unschedulable",
    "spec.type",
    "addressType",
    NULL,
};

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* Reads up to a delimiter into out; false when empty or too long. */
static bool read_token(const char **p, const char *delims, char *out, size_t cap)
{
    size_t n = 0;
    skip_ws(p);
    while (**p && !strchr(delims, **p) && **p != ' ') {
        if (n + 1 >= cap)
            return false;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    skip_ws(p);
    return true;
}

int fake_sel_parse(const char *s, bool field, struct fake_sel **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!s)
        return 0;
    skip_ws(&s);
    if (!*s)
        return 0;
    struct fake_sel *sel = calloc(1, sizeof(*sel));
    if (!sel) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sel->field = field;
    const char *p = s;
    while (*p) {
        if (sel->n >= SEL_MAX_REQS)
            goto bad;
        struct sel_req *r = &sel->reqs[sel->n];
        skip_ws(&p);
        bool neg = false;
        if (*p == '!' && !field) {
            neg = true;
            p++;
        }
        if (!read_token(&p, "=!,()", r->key, sizeof(r->key)) || !r->key[0])
            goto bad;
        if (neg) {
            r->op = OP_NOTEXISTS;
        } else if (*p == '\0' || *p == ',') {
            if (field)
                goto bad;
            r->op = OP_EXISTS;
        } else if (*p == '=' || (*p == '!' && p[1] == '=')) {
            r->op = *p == '!' ? OP_NE : OP_EQ;
            p += (*p == '!' || p[1] == '=') ? 2 : 1;
            if (!read_token(&p, ",", r->vals[0], sizeof(r->vals[0])))
                goto bad;
            r->nvals = 1;
        } else if (!field && (strncmp(p, "in", 2) == 0 || strncmp(p, "notin", 5) == 0)) {
            r->op = p[0] == 'i' ? OP_IN : OP_NOTIN;
            p += r->op == OP_IN ? 2 : 5;
            skip_ws(&p);
            if (*p++ != '(')
                goto bad;
            for (;;) {
                if (r->nvals >= SEL_MAX_VALS ||
                    !read_token(&p, ",)", r->vals[r->nvals], sizeof(r->vals[0])))
                    goto bad;
                r->nvals++;
                if (*p == ',') {
                    p++;
                    continue;
                }
                if (*p++ != ')')
                    goto bad;
                break;
            }
            skip_ws(&p);
        } else {
            goto bad;
        }
        if (field) {
            bool ok = false;
            for (int i = 0; field_ok[i]; i++)
                ok = ok || strcmp(field_ok[i], r->key) == 0;
            if (!ok) {
                snprintf(err, errlen, "field label not supported: %s", r->key);
                free(sel);
                return -1;
            }
        }
        sel->n++;
        if (*p == ',')
            p++;
        else if (*p)
            goto bad;
    }
    *out = sel;
    return 0;
bad:
    snprintf(err, errlen, "unable to parse requirement: invalid %s selector: \"%s\"",
             field ? "field" : "label", s);
    free(sel);
    return -1;
}

static bool in_vals(const struct sel_req *r, const char *v)
{
    for (int i = 0; i < r->nvals; i++)
        if (strcmp(r->vals[i], v) == 0)
            return true;
    return false;
}

bool fake_sel_match(const struct fake_sel *s, json_object *o)
{
    if (!s)
        return true;
    json_object *labels = fake_get(o, "metadata.labels");
    for (int i = 0; i < s->n; i++) {
        const struct sel_req *r = &s->reqs[i];
        const char *v;
        if (s->field) {
            json_object *f = fake_get(o, r->key);
            v = f ? json_object_get_string(f) : "";
        } else {
            json_object *l = labels ? json_object_object_get(labels, r->key) : NULL;
            v = l && json_object_is_type(l, json_type_string) ? json_object_get_string(l) : NULL;
        }
        bool ok;
        switch (r->op) {
        case OP_EQ:
            ok = v && strcmp(v, r->vals[0]) == 0;
            break;
        case OP_NE:
            ok = !v || strcmp(v, r->vals[0]) != 0;
            break;
        case OP_IN:
            ok = v && in_vals(r, v);
            break;
        case OP_NOTIN:
            ok = !v || !in_vals(r, v);
            break;
        case OP_EXISTS:
            ok = v != NULL;
            break;
        case OP_NOTEXISTS:
            ok = v == NULL;
            break;
        default:
            ok = false;
        }
        if (!ok)
            return false;
    }
    return true;
}

const char *fake_sel_exact(const struct fake_sel *s, const char *field)
{
    for (int i = 0; s && i < s->n; i++)
        if (s->reqs[i].op == OP_EQ && strcmp(s->reqs[i].key, field) == 0)
            return s->reqs[i].vals[0];
    return NULL;
}

void fake_sel_free(struct fake_sel *s)
{
    free(s);
}
