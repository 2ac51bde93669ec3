/* ctl_env.c — see ctl_env.h. */
#include "test/integration/ctl_env.h"
#include "common/file.h"
#include "common/rc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
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
    argv[n++] = e->cloud ? e->cloud : "mock";
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
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"providerID\":\"mock://%s\"},\"status\":{\"addresses\":[{\"type\":"
             "\"InternalIP\",\"address\":\"%s\"}],\"conditions\":[{\"type\":\"Ready\","
             "\"status\":\"True\"}]}}",
             name, name, ip);
    if (ctl_api(e, "POST", "/api/v1/nodes", body, NULL) != 201) {
        fprintf(stderr, "cannot create node %s\n", name);
        exit(1);
    }
}

void ctl_service(struct ctl_env *e, const char *name, const char *spec_extra, int port)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\","
             "\"namespace\":\"default\"},\"spec\":{\"type\":\"LoadBalancer\",%s%s\"ports\":[{"
             "\"name\":\"p\",\"protocol\":\"TCP\",\"port\":%d,\"targetPort\":%d}],"
             "\"selector\":{\"app\":\"%s\"}}}",
             name, spec_extra ? spec_extra : "", spec_extra && spec_extra[0] ? "," : "", port, port,
             name);
    long code = ctl_api(e, "POST", "/api/v1/namespaces/default/services", body, NULL);
    if (code != 201) {
        fprintf(stderr, "cannot create service %s: HTTP %ld\n", name, code);
        exit(1);
    }
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
