/*
 * status.c — `lbprov status`: every LoadBalancer Service with its address,
 * ports (kubectl style), class, age, state and the latest service-controller
 * Event, read straight from the API (two LISTs: Services and Service Events), in
 * every namespace or in one (-n). The table shows kubectl's display strings
 * (<pending>, <none>); -o json has null for what is not there.
 *
 * STATE is what an operator asks first — is it done? — read from the same
 * two objects, since the controller keeps no status of its own:
 *   Deleting    deletionTimestamp set (the finalizer holds it until the LB is gone)
 *   InProgress  the latest Event is Normal and begins an operation
 *               (EnsuringLoadBalancer, UpdatingLoadBalancer, DeletingLoadBalancer):
 *               the controller is working, or polling a cloud operation that
 *               answered pending, and has not reported the end of it yet
 *   Failed      the latest Event is a Warning
 *   Ready       an address is in status.loadBalancer.ingress
 *   Pending     none of these: no address and nothing reported yet
 */
#include "cmd/cmd.h"
#include "cmd/flags.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Empty strings are what is not there: the table prints a placeholder, JSON null. */
struct row {
    char ns[254], name[254], ip[256], ports[512], cls[128], age[24], event[600];
    const char *state;
    bool has_ip, deleting, ev_warning, ev_begins;
    int64_t created;
};

/* A namespace is a DNS label (RFC 1123): it goes into the request path as it is. */
static bool dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static json_object *str_or_null(const char *s)
{
    return s[0] ? json_object_new_string(s) : NULL;
}

static json_object *get(json_object *o, const char *path)
{
    char buf[128];
    char *save = NULL, *tok;
    lbp_strlcpy(buf, path, sizeof(buf));
    for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(o, tok, &o))
            return NULL;
    return o;
}

static const char *gets_(json_object *o, const char *path)
{
    json_object *v = get(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* kubectl's short ages: 5s, 3m, 2h, 4d. */
static void age(int64_t created, int64_t now, char out[24])
{
    int64_t d = now - created;
    if (created <= 0) {
        out[0] = '\0';
        return;
    }
    if (d < 0)
        d = 0;
    if (d < 120)
        snprintf(out, 24, "%llds", (long long)d);
    else if (d < 7200)
        snprintf(out, 24, "%lldm", (long long)(d / 60));
    else if (d < 172800)
        snprintf(out, 24, "%lldh", (long long)(d / 3600));
    else
        snprintf(out, 24, "%lldd", (long long)(d / 86400));
}

static void fill_row(json_object *svc, struct row *r, int64_t now)
{
    json_object *ports = get(svc, "spec.ports"), *ing = get(svc, "status.loadBalancer.ingress");
    const char *cls = gets_(svc, "spec.loadBalancerClass");
    size_t off = 0;
    memset(r, 0, sizeof(*r));
    lbp_strlcpy(r->ns, gets_(svc, "metadata.namespace") ? gets_(svc, "metadata.namespace") : "",
                sizeof(r->ns));
    lbp_strlcpy(r->name, gets_(svc, "metadata.name") ? gets_(svc, "metadata.name") : "",
                sizeof(r->name));
    if (lbp_parse_rfc3339(gets_(svc, "metadata.creationTimestamp"), &r->created))
        r->created = 0;
    age(r->created, now, r->age);
    lbp_strlcpy(r->cls, cls ? cls : "", sizeof(r->cls));
    for (size_t i = 0;
         ing && json_object_is_type(ing, json_type_array) && i < json_object_array_length(ing);
         i++) {
        json_object *e = json_object_array_get_idx(ing, i);
        const char *a = gets_(e, "ip") ? gets_(e, "ip") : gets_(e, "hostname");
        if (a && off < sizeof(r->ip))
            off += (size_t)snprintf(r->ip + off, sizeof(r->ip) - off, "%s%s", off ? "," : "", a);
    }
    r->has_ip = r->ip[0] != '\0';
    r->deleting = gets_(svc, "metadata.deletionTimestamp") != NULL;
    off = 0;
    for (size_t i = 0; ports && json_object_is_type(ports, json_type_array) &&
                       i < json_object_array_length(ports) && off < sizeof(r->ports);
         i++) {
        json_object *p = json_object_array_get_idx(ports, i);
        json_object *port = get(p, "port"), *np = get(p, "nodePort");
        const char *proto = gets_(p, "protocol") ? gets_(p, "protocol") : "TCP";
        if (np && json_object_get_int(np) > 0)
            off +=
                (size_t)snprintf(r->ports + off, sizeof(r->ports) - off, "%s%d:%d/%s", i ? "," : "",
                                 json_object_get_int(port), json_object_get_int(np), proto);
        else
            off += (size_t)snprintf(r->ports + off, sizeof(r->ports) - off, "%s%d/%s", i ? "," : "",
                                    json_object_get_int(port), proto);
    }
}

/* The reasons the controller gives an operation when it begins (see provider.h). */
static bool begins_operation(const char *reason)
{
    return lbp_streq(reason, "EnsuringLoadBalancer") || lbp_streq(reason, "UpdatingLoadBalancer") ||
           lbp_streq(reason, "DeletingLoadBalancer");
}

static const char *row_state(const struct row *r)
{
    if (r->deleting)
        return "Deleting";
    if (r->event[0] && r->ev_begins)
        return "InProgress";
    if (r->event[0] && r->ev_warning)
        return "Failed";
    return r->has_ip ? "Ready" : "Pending";
}

static int64_t event_time(json_object *e)
{
    static const char *const fields[] = {"lastTimestamp", "eventTime", "series.lastObservedTime",
                                         "firstTimestamp", "metadata.creationTimestamp"};
    int64_t t;
    for (size_t i = 0; i < LBP_ARRAY_LEN(fields); i++)
        if (lbp_parse_rfc3339(gets_(e, fields[i]), &t) == LBP_OK)
            return t;
    return 0;
}

static int list(struct lbp_kube_client *c, const char *path, json_object **items, char *err,
                size_t errlen)
{
    struct lbp_kube_response resp = {0};
    json_object *root = NULL, *it;
    int rc = lbp_kube_get(c, path, &resp);
    if (rc) {
        lbp_seterr(err, errlen, "GET %s: %s", path, resp.error[0] ? resp.error : lbp_rc_str(rc));
        goto out;
    }
    root = json_tokener_parse(resp.body);
    if (!root || !json_object_object_get_ex(root, "items", &it) ||
        !json_object_is_type(it, json_type_array)) {
        snprintf(err, errlen, "GET %s: not a list", path);
        rc = LBP_PARSE;
        goto out;
    }
    *items = json_object_get(it);
out:
    json_object_put(root);
    lbp_kube_response_free(&resp);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: lbprov status [flags]\n\n"
               "Every LoadBalancer Service: address, ports, class, age, state and the\n"
               "latest service-controller Event. STATE is Ready, InProgress (an operation\n"
               "begun and not reported done, e.g. a cloud operation being polled),\n"
               "Failed (the latest Event is a Warning), Deleting or Pending.\n\n"
               "  -n, --namespace NS      only this namespace\n"
               "  -A, --all-namespaces    every namespace (the default)\n"
               "  --kubeconfig FILE       (default $KUBECONFIG, ~/.kube/config, in-cluster)\n"
               "  --context NAME          kubeconfig context\n"
               "  --master URL            API server URL, overrides the kubeconfig\n"
               "  --kube-api-qps N        client-side limit on API requests (default unlimited)\n"
               "  --kube-api-burst N\n"
               "  -o table|json           output format (default table); in json, what is not\n"
               "                          there (no address yet, no class, no Event) is null\n"
               "  -h, --help\n");
}

int lbp_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        LBP_KUBE_LONG_OPTIONS,
        {"namespace", required_argument, NULL, 'n'},
        {"all-namespaces", no_argument, NULL, 'A'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct lbp_kube_config_opts kopts = {.allow_in_cluster = true};
    /* A person is waiting: one retry rides out a blip, then the error is theirs to read. */
    struct lbp_kube_client_opts copts = {.max_retries = 1};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_client *client = NULL;
    json_object *svcs = NULL, *evs = NULL, *out_json = NULL;
    struct row *rows = NULL;
    size_t n_rows = 0;
    bool as_json = false;
    const char *ns = NULL;
    char err[512], svc_path[128], ev_path[192];
    int opt, rc = 1;
    int64_t now = lbp_wall_s();

    struct lbp_flag_parser fp;
    lbp_flag_start(&fp, "status", argc, argv, ":n:Ao:h", opts, &kopts, &copts, usage);
    while ((opt = lbp_flag_next(&fp)) != LBP_FLAG_DONE) {
        switch (opt) {
        case LBP_FLAG_EXIT:
            return fp.status;
        case 'n':
            if (!dns_label(optarg))
                return lbp_flag_bad("status", "-n", optarg,
                                    "a namespace name (lowercase letters, digits and '-')");
            ns = optarg;
            break;
        case 'A':
            ns = NULL;
            break;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                as_json = true;
            else if (strcmp(optarg, "wide") != 0 && strcmp(optarg, "table") != 0)
                return lbp_flag_bad("status", "-o", optarg, "table or json");
            break;
        }
    }
    if (lbp_kube_config_load(&kopts, &cfg, err, sizeof(err)) ||
        lbp_kube_client_new(cfg, &copts, &client, err, sizeof(err))) {
        fprintf(stderr, "lbprov status: %s\n", err);
        rc = 2;
        goto out;
    }
    if (ns) {
        snprintf(svc_path, sizeof(svc_path), "/api/v1/namespaces/%s/services", ns);
        snprintf(ev_path, sizeof(ev_path),
                 "/api/v1/namespaces/%s/events?fieldSelector=involvedObject.kind%%3DService", ns);
    } else {
        lbp_strlcpy(svc_path, "/api/v1/services", sizeof(svc_path));
        lbp_strlcpy(ev_path, "/api/v1/events?fieldSelector=involvedObject.kind%3DService",
                    sizeof(ev_path));
    }
    if (list(client, svc_path, &svcs, err, sizeof(err)) ||
        list(client, ev_path, &evs, err, sizeof(err))) {
        fprintf(stderr, "lbprov status: %s\n", err);
        goto out;
    }
    rows = calloc(json_object_array_length(svcs) + 1, sizeof(*rows));
    if (!rows)
        goto out;
    for (size_t i = 0; i < json_object_array_length(svcs); i++) {
        json_object *s = json_object_array_get_idx(svcs, i);
        int64_t best = -1;
        if (!lbp_streq(gets_(s, "spec.type"), "LoadBalancer"))
            continue;
        struct row *r = &rows[n_rows++];
        fill_row(s, r, now);
        for (size_t j = 0; j < json_object_array_length(evs); j++) {
            json_object *e = json_object_array_get_idx(evs, j);
            int64_t t;
            if (!lbp_streq(gets_(e, "source.component"), "service-controller") &&
                !lbp_streq(gets_(e, "reportingComponent"), "service-controller"))
                continue;
            if (!lbp_streq(gets_(e, "involvedObject.namespace"), r->ns) ||
                !lbp_streq(gets_(e, "involvedObject.name"), r->name) ||
                !lbp_streq(gets_(e, "involvedObject.uid"), gets_(s, "metadata.uid")))
                continue;
            t = event_time(e);
            if (t >= best) {
                best = t;
                snprintf(r->event, sizeof(r->event), "%s: %s",
                         gets_(e, "reason") ? gets_(e, "reason") : "",
                         gets_(e, "message") ? gets_(e, "message") : "");
                r->ev_warning = lbp_streq(gets_(e, "type"), "Warning");
                r->ev_begins = !r->ev_warning && begins_operation(gets_(e, "reason"));
            }
        }
        r->state = row_state(r);
    }
    if (as_json) {
        out_json = json_object_new_array();
        for (size_t i = 0; i < n_rows; i++) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "namespace", json_object_new_string(rows[i].ns));
            json_object_object_add(o, "name", json_object_new_string(rows[i].name));
            json_object_object_add(o, "externalIP", str_or_null(rows[i].ip));
            json_object_object_add(o, "ports", json_object_new_string(rows[i].ports));
            json_object_object_add(o, "class", str_or_null(rows[i].cls));
            json_object_object_add(o, "age", str_or_null(rows[i].age));
            json_object_object_add(o, "state", json_object_new_string(rows[i].state));
            json_object_object_add(o, "lastEvent", str_or_null(rows[i].event));
            json_object_array_add(out_json, o);
        }
        printf("%s\n", json_object_to_json_string_ext(
                           out_json, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        int wns = 9, wn = 4, wip = 11, wp = 8, wc = 5;
#define W(w, s)                                                                                    \
    if ((int)strlen(s) > (w))                                                                      \
    (w) = (int)strlen(s)
        for (size_t i = 0; i < n_rows; i++) { /* kubectl's placeholders */
            if (!rows[i].ip[0])
                lbp_strlcpy(rows[i].ip, "<pending>", sizeof(rows[i].ip));
            if (!rows[i].cls[0])
                lbp_strlcpy(rows[i].cls, "<none>", sizeof(rows[i].cls));
            if (!rows[i].age[0])
                lbp_strlcpy(rows[i].age, "<unknown>", sizeof(rows[i].age));
        }
        for (size_t i = 0; i < n_rows; i++) {
            W(wns, rows[i].ns);
            W(wn, rows[i].name);
            W(wip, rows[i].ip);
            W(wp, rows[i].ports);
            W(wc, rows[i].cls);
        }
#undef W
        printf("%-*s   %-*s   %-*s   %-*s   %-*s   %-5s   %-10s   %s\n", wns, "NAMESPACE", wn,
               "NAME", wip, "EXTERNAL-IP", wp, "PORT(S)", wc, "CLASS", "AGE", "STATE", "EVENT");
        for (size_t i = 0; i < n_rows; i++)
            printf("%-*s   %-*s   %-*s   %-*s   %-*s   %-5s   %-10s   %s\n", wns, rows[i].ns, wn,
                   rows[i].name, wip, rows[i].ip, wp, rows[i].ports, wc, rows[i].cls, rows[i].age,
                   rows[i].state, rows[i].event[0] ? rows[i].event : "<none>");
    }
    rc = 0;
out:
    free(rows);
    json_object_put(svcs);
    json_object_put(evs);
    json_object_put(out_json);
    lbp_kube_client_free(client);
    lbp_kube_config_free(cfg);
    return rc;
}
