/*
 * table.c — meta.k8s.io/v1 Table responses, which kubectl asks for
 * (Accept: ...;as=Table;...) to print `kubectl get`. Services get upstream's
 * columns (TYPE, CLUSTER-IP, EXTERNAL-IP with "<pending>", PORT(S)), so
 * `kubectl get svc` shows an address appear the way it does on a real
 * cluster; other kinds get NAME and AGE. Each row carries the full object,
 * which kubectl uses for the NAMESPACE column of -A.
 */
#include "fake.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void column(json_object *cols, const char *name, const char *type, const char *format,
                   int priority)
{
    json_object *c = json_object_new_object();
    json_object_object_add(c, "name", json_object_new_string(name));
    json_object_object_add(c, "type", json_object_new_string(type));
    json_object_object_add(c, "format", json_object_new_string(format));
    json_object_object_add(c, "description", json_object_new_string(""));
    json_object_object_add(c, "priority", json_object_new_int(priority));
    json_object_array_add(cols, c);
}

/* kubectl's short durations: 42s, 5m10s, 17m, 3h, 2d. */
static void age(json_object *o, char *out, size_t len)
{
    int64_t t;
    const char *ts = fake_get_str(o, "metadata.creationTimestamp");
    if (!ts || lbp_parse_rfc3339(ts, &t)) {
        snprintf(out, len, "<unknown>");
        return;
    }
    int64_t s = lbp_wall_s() - t;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, len, "%llds", (long long)s);
    else if (s < 600)
        snprintf(out, len, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 3 * 3600)
        snprintf(out, len, "%lldm", (long long)(s / 60));
    else if (s < 2 * 86400)
        snprintf(out, len, "%lldh", (long long)(s / 3600));
    else
        snprintf(out, len, "%lldd", (long long)(s / 86400));
}

static void service_cells(json_object *o, json_object *cells)
{
    char ext[512] = "", ports[512] = "";
    const char *type = fake_get_str(o, "spec.type");
    json_object *ing = fake_get(o, "status.loadBalancer.ingress");
    json_object *eips = fake_get(o, "spec.externalIPs");
    size_t n = 0;
    for (size_t i = 0;
         ing && json_object_is_type(ing, json_type_array) && i < json_object_array_length(ing);
         i++) {
        json_object *e = json_object_array_get_idx(ing, i);
        const char *a = fake_get_str(e, "ip") ? fake_get_str(e, "ip") : fake_get_str(e, "hostname");
        if (a && n < sizeof(ext))
            n += (size_t)snprintf(ext + n, sizeof(ext) - n, "%s%s", n ? "," : "", a);
    }
    for (size_t i = 0;
         eips && json_object_is_type(eips, json_type_array) && i < json_object_array_length(eips);
         i++) {
        const char *a = json_object_get_string(json_object_array_get_idx(eips, i));
        if (a && n < sizeof(ext))
            n += (size_t)snprintf(ext + n, sizeof(ext) - n, "%s%s", n ? "," : "", a);
    }
    if (!n)
        snprintf(ext, sizeof(ext), "%s", lbp_streq(type, "LoadBalancer") ? "<pending>" : "<none>");
    json_object *pl = fake_get(o, "spec.ports");
    n = 0;
    for (size_t i = 0;
         pl && json_object_is_type(pl, json_type_array) && i < json_object_array_length(pl); i++) {
        json_object *p = json_object_array_get_idx(pl, i);
        json_object *port = json_object_object_get(p, "port");
        json_object *np = json_object_object_get(p, "nodePort");
        const char *proto = fake_get_str(p, "protocol") ? fake_get_str(p, "protocol") : "TCP";
        if (n >= sizeof(ports))
            break;
        if (np)
            n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%d:%d/%s", n ? "," : "",
                                  json_object_get_int(port), json_object_get_int(np), proto);
        else
            n += (size_t)snprintf(ports + n, sizeof(ports) - n, "%s%d/%s", n ? "," : "",
                                  json_object_get_int(port), proto);
    }
    const char *cip = fake_get_str(o, "spec.clusterIP");
    json_object_array_add(cells, json_object_new_string(type ? type : "ClusterIP"));
    json_object_array_add(cells, json_object_new_string(cip && *cip ? cip : "<none>"));
    json_object_array_add(cells, json_object_new_string(ext));
    json_object_array_add(cells, json_object_new_string(n ? ports : "<none>"));
}

static json_object *table_new(const struct fake_rtype *rt, uint64_t rv, const char *cont,
                              size_t remaining)
{
    bool svc = strcmp(rt->key, "/services") == 0;
    char rvs[24];
    json_object *t = json_object_new_object(), *meta = json_object_new_object();
    json_object *cols = json_object_new_array();
    json_object_object_add(t, "kind", json_object_new_string("Table"));
    json_object_object_add(t, "apiVersion", json_object_new_string("meta.k8s.io/v1"));
    snprintf(rvs, sizeof(rvs), "%llu", (unsigned long long)rv);
    json_object_object_add(meta, "resourceVersion", json_object_new_string(rvs));
    if (cont && *cont) {
        json_object_object_add(meta, "continue", json_object_new_string(cont));
        json_object_object_add(meta, "remainingItemCount",
                               json_object_new_int64((int64_t)remaining));
    }
    json_object_object_add(t, "metadata", meta);
    column(cols, "Name", "string", "name", 0);
    if (svc) {
        column(cols, "Type", "string", "", 0);
        column(cols, "Cluster-IP", "string", "", 0);
        column(cols, "External-IP", "string", "", 0);
        column(cols, "Port(s)", "string", "", 0);
    }
    column(cols, "Age", "string", "", 0);
    json_object_object_add(t, "columnDefinitions", cols);
    json_object_object_add(t, "rows", json_object_new_array());
    return t;
}

static void table_add_row(const struct fake_rtype *rt, json_object *t, const char *json)
{
    char a[32];
    json_object *o = json_tokener_parse(json);
    if (!o)
        return;
    json_object *row = json_object_new_object(), *cells = json_object_new_array();
    const char *name = fake_get_str(o, "metadata.name");
    json_object_array_add(cells, json_object_new_string(name ? name : ""));
    if (strcmp(rt->key, "/services") == 0)
        service_cells(o, cells);
    age(o, a, sizeof(a));
    json_object_array_add(cells, json_object_new_string(a));
    json_object_object_add(row, "cells", cells);
    json_object_object_add(row, "object", o);
    json_object_array_add(json_object_object_get(t, "rows"), row);
}

void fake_table_reply(const struct fake_rtype *rt, struct fake_reply *r, uint64_t rv,
                      struct fake_rec **recs, size_t from, size_t to, const char *cont,
                      size_t remaining)
{
    json_object *t = table_new(rt, rv, cont, remaining);
    for (size_t i = from; i < to; i++)
        table_add_row(rt, t, recs[i]->json);
    fake_reply_json(r, 200, t);
}

char *fake_table_event(const struct fake_rtype *rt, const char *json)
{
    json_object *t = table_new(rt, 0, NULL, 0);
    table_add_row(rt, t, json);
    /* The event's version is the object's. */
    const char *rv = fake_get_str(json_object_array_get_idx(json_object_object_get(t, "rows"), 0),
                                  "object.metadata.resourceVersion");
    if (rv)
        json_object_object_add(json_object_object_get(t, "metadata"), "resourceVersion",
                               json_object_new_string(rv));
    char *out = strdup(
        json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(t);
    return out;
}
