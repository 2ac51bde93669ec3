/* ctl_env.c — see ctl_env.h. */
#include "test/integration/ctl_env.h"
#include "test/integration/prov_svc.h"
#include "common/file.h"
#include "common/rc.h"
#include "provider/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void ctl_env_init(struct ctl_env *e, const char *extra)
{
    struct lbp_fake_api_opts o = {0};
    ctl_env_init_opts(e, extra, &o);
}

void ctl_env_init_opts(struct ctl_env *e, const char *extra, const struct lbp_fake_api_opts *o)
{
    FILE *f;
    memset(e, 0, sizeof(*e));
    if (lbp_fake_api_start(o, &e->api) != 0) {
        fprintf(stderr, "cannot start the fake API server\n");
        exit(1);
    }
    snprintf(e->cloud_conf, sizeof(e->cloud_conf), "%s/cloud.conf", e->api.dir);
    snprintf(e->state_file, sizeof(e->state_file), "%s/mockcloud.json", e->api.dir);
    snprintf(e->ctl_log, sizeof(e->ctl_log), "%s/controller.log", e->api.dir);
    f = fopen(e->cloud_conf, "w");
    if (!f)
        exit(1);
    fprintf(f, "state_file=%s\n%s\n", e->state_file, extra ? extra : "");
    fclose(f);
}

void ctl_env_cloud(struct ctl_env *e, const char *cloud, const char *fmt, ...)
{
    va_list ap;
    FILE *f = fopen(e->cloud_conf, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", e->cloud_conf);
        ctl_env_fail(e);
    }
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    snprintf(e->cloud, sizeof(e->cloud), "%s", cloud);
}

static long http_ctl(struct ctl_env *e, const char *method, const char *path, const char *req_body,
                     char **body);

static long http_get_ctl(struct ctl_env *e, const char *path, char **body)
{
    return http_ctl(e, "GET", path, NULL, body);
}

long ctl_http_get(struct ctl_env *e, const char *path, char **body)
{
    return http_get_ctl(e, path, body);
}

long ctl_cloud_post(struct ctl_env *e, const char *settings)
{
    char *b = NULL;
    long code = http_ctl(e, "POST", "/debug/mockcloud", settings, &b);
    free(b);
    return code;
}

static long http_ctl(struct ctl_env *e, const char *method, const char *path, const char *req_body,
                     char **body)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)e->http_port)};
    char req[1024];
    size_t cap = 1 << 16, len = 0;
    char *buf = NULL;
    long code = -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    *body = NULL;
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        goto out;
    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n\r\n%s",
             method, path, req_body ? strlen(req_body) : 0, req_body ? req_body : "");
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        goto out;
    buf = malloc(cap);
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %ld", &code) != 1)
        goto out;
    char *b = strstr(buf, "\r\n\r\n");
    if (b)
        *body = strdup(b + 4);
out:
    free(buf);
    close(fd);
    return code;
}

void ctl_env_start_controller(struct ctl_env *e, const char *const *extra)
{
    char bind[64];
    const char *argv[48];
    int n = 0;
    e->http_port = lbp_test_free_port();
    snprintf(bind, sizeof(bind), "%s:%d", e->bind_host[0] ? e->bind_host : "127.0.0.1",
             e->http_port);
    argv[n++] = lbp_test_lbprov_bin();
    argv[n++] = "controller";
    argv[n++] = "--cloud";
    argv[n++] = e->cloud[0] ? e->cloud : "mock";
    argv[n++] = "--cloud-config";
    argv[n++] = e->cloud_conf;
    argv[n++] = "--kubeconfig";
    argv[n++] = e->api.kubeconfig;
    argv[n++] = "--http-bind-address";
    argv[n++] = bind;
    argv[n++] = "--kube-api-qps";
    argv[n++] = "0";
    argv[n++] = "--backoff-base";
    argv[n++] = "200ms";
    argv[n++] = "--backoff-max";
    argv[n++] = "1s";
    argv[n++] = "-v";
    argv[n++] = "2";
    for (int i = 0; extra && extra[i] && n < 46; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    e->ctl = lbp_test_spawn((char *const *)argv, e->ctl_log);
    if (e->ctl <= 0) {
        fprintf(stderr, "cannot spawn the controller\n");
        exit(1);
    }
    /* Ready once the caches synced and the workers run. */
    char *b = NULL;
    bool ready = WAIT_FOR(15000, (free(b), b = NULL, http_get_ctl(e, "/readyz", &b) == 200));
    free(b);
    if (!ready) {
        ctl_env_dump(e);
        fprintf(stderr, "controller never became ready\n");
        ctl_env_stop(e);
        exit(1);
    }
}

void ctl_env_dump(struct ctl_env *e)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "tail -n 60 %s 1>&2", e->ctl_log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no controller log)\n");
}

void ctl_env_fail(struct ctl_env *e)
{
    ctl_env_dump(e);
    if (e->on_fail)
        e->on_fail();
    ctl_env_stop(e);
    exit(1);
}

int ctl_env_end_controller(struct ctl_env *e, int sig)
{
    int st = e->ctl > 0 ? lbp_test_stop(e->ctl, sig, 8000) : 0;
    e->ctl = 0;
    return st;
}

int ctl_env_stop(struct ctl_env *e)
{
    int st = 0;
    if (e->ctl > 0) {
        st = lbp_test_stop(e->ctl, SIGTERM, 8000);
        if (st != 0) {
            /* a crash, a sanitizer report or a hang on shutdown */
            fprintf(stderr, "controller exited with status %d\n", st);
            ctl_env_dump(e);
        }
    }
    e->ctl = 0;
    lbp_fake_api_stop(&e->api);
    return st;
}

long ctl_api(struct ctl_env *e, const char *method, const char *path, const char *body,
             json_object **out)
{
    char *resp = NULL;
    const char *ct =
        strcmp(method, "PATCH") == 0 ? "application/merge-patch+json" : "application/json";
    long code = lbp_fake_api_request(&e->api, method, path, body ? ct : NULL, body, &resp);
    if (out)
        *out = resp ? json_tokener_parse(resp) : NULL;
    free(resp);
    return code;
}

void ctl_node(struct ctl_env *e, const char *name, const char *ip)
{
    char pid[128];
    snprintf(pid, sizeof(pid), "mock://%s", name);
    ctl_node_full(e, name, ip, pid, NULL);
}

/* pre, v, post when v is set (one optional JSON member), "" otherwise; out. */
static const char *opt_member(char *out, size_t cap, const char *pre, const char *v,
                              const char *post)
{
    out[0] = '\0';
    if (v)
        snprintf(out, cap, "%s%s%s", pre, v, post);
    return out;
}

/* POST body to path; anything but 201 ends the test naming what. */
static void create(struct ctl_env *e, const char *path, const char *body, const char *what)
{
    long code = ctl_api(e, "POST", path, body, NULL);
    if (code != 201) {
        fprintf(stderr, "cannot create %s: HTTP %ld\n", what, code);
        ctl_env_fail(e);
    }
}

void ctl_node_full(struct ctl_env *e, const char *name, const char *ip, const char *provider_id,
                   const char *labels)
{
    char body[1536], spec[400], meta[300];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"%s}%s,"
             "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"%s\"}],"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}",
             name, opt_member(meta, sizeof(meta), ",\"labels\":{", labels, "}"),
             opt_member(spec, sizeof(spec), ",\"spec\":{\"providerID\":\"", provider_id, "\"}"),
             ip);
    create(e, "/api/v1/nodes", body, name);
}

void ctl_service(struct ctl_env *e, const char *name, const char *spec_extra, int port)
{
    char ports[160];
    snprintf(ports, sizeof(ports),
             "{\"name\":\"p\",\"protocol\":\"TCP\",\"port\":%d,\"targetPort\":%d}", port, port);
    ctl_service_full(e, name, NULL, spec_extra, ports);
}

void ctl_service_full(struct ctl_env *e, const char *name, const char *annotations,
                      const char *spec_extra, const char *ports)
{
    char body[4096], ann[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"%s},\"spec\":{\"type\":\"LoadBalancer\",%s%s\"ports\":[%s],"
             "\"selector\":{\"app\":\"%s\"}}}",
             name, opt_member(ann, sizeof(ann), ",\"annotations\":{", annotations, "}"),
             spec_extra ? spec_extra : "", spec_extra && spec_extra[0] ? "," : "",
             ports ? ports
                   : "{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080},"
                     "{\"name\":\"https\",\"protocol\":\"TCP\",\"port\":443,\"targetPort\":8443},"
                     "{\"name\":\"admin\",\"protocol\":\"TCP\",\"port\":9000,\"targetPort\":9000}",
             name);
    create(e, "/api/v1/namespaces/default/services", body, name);
}

static void svc_path(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "/api/v1/namespaces/default/services/%s", name);
}

json_object *ctl_svc_get(struct ctl_env *e, const char *name)
{
    char path[300];
    json_object *o = NULL;
    svc_path(name, path, sizeof(path));
    if (ctl_api(e, "GET", path, NULL, &o) != 200) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

long ctl_svc_put(struct ctl_env *e, const char *name, json_object *o)
{
    char path[300];
    svc_path(name, path, sizeof(path));
    return ctl_api(e, "PUT", path, json_object_to_json_string(o), NULL);
}

long ctl_svc_delete(struct ctl_env *e, const char *name)
{
    char path[300];
    svc_path(name, path, sizeof(path));
    return ctl_api(e, "DELETE", path, NULL, NULL);
}

long ctl_svc_set(struct ctl_env *e, const char *name, const char *key, json_object *value)
{
    json_object *s = ctl_svc_get(e, name), *spec = jget(s, "spec");
    long code = -1;
    if (spec && json_object_is_type(spec, json_type_object)) {
        json_object_object_add(spec, key, value);
        value = NULL;
        code = ctl_svc_put(e, name, s);
    }
    json_object_put(value);
    json_object_put(s);
    return code;
}

long ctl_svc_port(struct ctl_env *e, const char *name, int old, int new_port)
{
    json_object *s = ctl_svc_get(e, name), *ports = jget(jget(s, "spec"), "ports");
    long code = -1;
    for (size_t i = 0; ports && i < json_object_array_length(ports); i++) {
        json_object *p = json_object_array_get_idx(ports, i);
        if (jpath_int(p, "port") == old) {
            json_object_object_add(p, "port", json_object_new_int(new_port));
            code = ctl_svc_put(e, name, s);
            break;
        }
    }
    json_object_put(s);
    return code;
}

int ctl_svc_local(struct ctl_env *e, const char *name)
{
    json_object *s;
    int port = -1;
    if (ctl_svc_set(e, name, "externalTrafficPolicy", json_object_new_string("Local")) != 200)
        return -1;
    s = ctl_svc_get(e, name);
    if (s)
        port = (int)jpath_int(s, "spec.healthCheckNodePort");
    json_object_put(s);
    return port;
}

void ctl_lb_name_of(struct ctl_env *e, const char *name, char out[LBP_LB_NAME_LEN + 1])
{
    json_object *s = ctl_svc_get(e, name);
    out[0] = '\0';
    if (s && jpath_str(s, "metadata.uid"))
        lbp_lb_name(jpath_str(s, "metadata.uid"), out);
    json_object_put(s);
}

int ctl_provider_settle(const struct lbp_provider *p, struct lbp_provider_ctx *ctx,
                        const struct lbp_lb_spec *sp, bool remove, struct lbp_call *call)
{
    uint64_t deadline = lbp_now_ms() + 30000;
    struct lbp_lb_status st;
    int rc;
    for (;;) {
        memset(call, 0, sizeof(*call));
        rc = remove ? p->remove(ctx, sp, call) : p->ensure(ctx, sp, &st, call);
        if (rc != LBP_PENDING || lbp_now_ms() >= deadline)
            break;
        usleep(100 * 1000); /* the fake's operation or job completes on a later poll */
    }
    if (rc != LBP_OK)
        fprintf(stderr, "%s %s: %s: %s\n", remove ? "remove" : "ensure", sp->name, lbp_rc_str(rc),
                call->err);
    return rc;
}

int ctl_make_orphan(const struct lbp_provider *p, const char *conf, const char *cluster,
                    const char *provider_id, const struct lbp_lb_annotation *ann, size_t n_ann,
                    char lb_name[LBP_LB_NAME_LEN + 1])
{
    struct lbp_provider_ctx *pctx = NULL;
    struct prov_svc s;
    const struct lbp_lb_spec *sp;
    struct lbp_call call;
    char err[256];
    int rc;
    prov_svc_init(&s, "default", "ghost", "0badc0de-0000-4000-8000-000000000001");
    prov_svc_port(&s, "TCP", 80, 31000);
    prov_svc_node(&s, "node-1", provider_id);
    for (size_t i = 0; i < n_ann; i++)
        prov_svc_ann(&s, ann[i].key, ann[i].value);
    sp = prov_svc_spec(&s, cluster);
    snprintf(lb_name, LBP_LB_NAME_LEN + 1, "%s", sp->lb_name);
    rc = p->init(conf, cluster, &pctx, err, sizeof(err));
    if (rc != LBP_OK) {
        fprintf(stderr, "ghost: init: %s: %s\n", lbp_rc_str(rc), err);
        return rc;
    }
    rc = ctl_provider_settle(p, pctx, sp, false, &call);
    p->cleanup(pctx);
    lbp_http_thread_cleanup();
    return rc;
}

json_object *ctl_cloud(struct ctl_env *e)
{
    char *b = NULL;
    json_object *o = NULL;
    if (http_get_ctl(e, "/debug/mockcloud", &b) == 200 && b)
        o = json_tokener_parse(b);
    free(b);
    return o;
}

json_object *ctl_cloud_lb(struct ctl_env *e, const char *svc_key)
{
    json_object *root = ctl_cloud(e), *lbs, *found = NULL;
    if (!root)
        return NULL;
    if (json_object_object_get_ex(root, "loadBalancers", &lbs))
        for (size_t i = 0; i < json_object_array_length(lbs); i++) {
            json_object *lb = json_object_array_get_idx(lbs, i);
            const char *s = jpath_str(lb, "tags.service");
            if (s && strcmp(s, svc_key) == 0)
                found = json_object_get(lb);
        }
    json_object_put(root);
    return found;
}

bool ctl_lb_missing(struct ctl_env *e, const char *svc_key)
{
    json_object *lb = ctl_cloud_lb(e, svc_key);
    json_object_put(lb);
    return lb == NULL;
}

int ctl_cloud_lb_count(struct ctl_env *e)
{
    json_object *root = ctl_cloud(e), *lbs;
    int n = -1;
    if (root && json_object_object_get_ex(root, "loadBalancers", &lbs))
        n = (int)json_object_array_length(lbs);
    json_object_put(root);
    return n;
}

long ctl_cloud_calls(struct ctl_env *e, const char *op)
{
    char path[64];
    json_object *root = ctl_cloud(e);
    long n;
    snprintf(path, sizeof(path), "calls.%s", op);
    n = root ? jpath_int(root, path) : -1;
    json_object_put(root);
    return n;
}

static json_object *jpath(json_object *o, const char *path)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *t = strtok_r(buf, ".", &save); t && o; t = strtok_r(NULL, ".", &save)) {
        char *end;
        long idx = strtol(t, &end, 10);
        if (*end == '\0' && json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)idx);
        else if (!json_object_object_get_ex(o, t, &o))
            return NULL;
    }
    return o;
}

json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (o)
        json_object_object_get_ex(o, k, &v);
    return v;
}

const char *jstr(json_object *o, const char *k)
{
    json_object *v = jget(o, k);
    return v ? json_object_get_string(v) : "";
}

const char *jpath_str(json_object *o, const char *path)
{
    json_object *v = jpath(o, path);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

long jpath_int(json_object *o, const char *path)
{
    json_object *v = jpath(o, path);
    return v && json_object_is_type(v, json_type_int) ? (long)json_object_get_int64(v) : -1;
}

void ctl_ingress(struct ctl_env *e, const char *name, char *out, size_t len)
{
    char path[300];
    json_object *o = NULL;
    const char *v = NULL;
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    out[0] = '\0';
    if (ctl_api(e, "GET", path, NULL, &o) == 200 && o) {
        v = jpath_str(o, "status.loadBalancer.ingress.0.ip");
        if (!v)
            v = jpath_str(o, "status.loadBalancer.ingress.0.hostname");
        if (v)
            snprintf(out, len, "%s", v);
    }
    json_object_put(o);
}

bool ctl_has_ingress(struct ctl_env *e, const char *name)
{
    char ip[128];
    ctl_ingress(e, name, ip, sizeof(ip));
    return ip[0] != '\0';
}

int ctl_count_ingress(struct ctl_env *e, const char *prefix, int n)
{
    int with = 0;
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        with += ctl_has_ingress(e, name);
    }
    return with;
}

bool ctl_has_finalizer(struct ctl_env *e, const char *name)
{
    char path[300];
    json_object *o = NULL, *f;
    bool has = false;
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    if (ctl_api(e, "GET", path, NULL, &o) == 200 && o && (f = jpath(o, "metadata.finalizers")) &&
        json_object_is_type(f, json_type_array))
        for (size_t i = 0; i < json_object_array_length(f); i++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(f, i)),
                       "service.kubernetes.io/load-balancer-cleanup") == 0)
                has = true;
    json_object_put(o);
    return has;
}

int ctl_events(struct ctl_env *e, const char *name, const char *reason, char *msg, size_t msglen)
{
    json_object *o = NULL, *items;
    int n = 0;
    if (ctl_api(e, "GET", "/api/v1/namespaces/default/events", NULL, &o) != 200 || !o) {
        json_object_put(o);
        return 0;
    }
    if (json_object_object_get_ex(o, "items", &items))
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *ev = json_object_array_get_idx(items, i);
            const char *r = jpath_str(ev, "reason"), *nm = jpath_str(ev, "involvedObject.name");
            if (r && nm && strcmp(r, reason) == 0 && strcmp(nm, name) == 0) {
                long c = jpath_int(ev, "count");
                n += c > 0 ? (int)c : 1;
                if (msg && jpath_str(ev, "message"))
                    snprintf(msg, msglen, "%s", jpath_str(ev, "message"));
            }
        }
    json_object_put(o);
    return n;
}

int ctl_lb_nodes(struct ctl_env *e, const char *svc_key)
{
    json_object *lb = ctl_cloud_lb(e, svc_key), *n;
    int c = -1;
    if (lb && json_object_object_get_ex(lb, "nodes", &n))
        c = (int)json_object_array_length(n);
    json_object_put(lb);
    return c;
}

int ctl_run_lbprov(struct ctl_env *e, const char *const *args, char **out)
{
    char log[400], *buf = NULL;
    const char *argv[16];
    int n = 0, st;
    snprintf(log, sizeof(log), "%s/run.out", e->api.dir);
    unlink(log);
    argv[n++] = lbp_test_lbprov_bin();
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    st = lbp_test_stop(lbp_test_spawn((char *const *)argv, log), 0, 10000);
    if (lbp_file_read(log, 64u << 20, 0, &buf, NULL) != LBP_OK)
        buf = NULL;
    *out = buf ? buf : strdup("");
    return st;
}
