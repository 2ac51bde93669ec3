/*
 * spk_env.c — see spk_env.h. Each speaker's HTTP port is 0 (the kernel
 * picks) and read back from its log; the heartbeat port and the loopback
 * /16 of the node addresses derive from the pid, so runs in parallel do
 * not hear each other.
 */
#include "test/integration/spk_env.h"

#include "common/util.h"

#include <errno.h>
#include <openssl/sha.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct spk_env env;

bool spk_udp_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    bool ok;
    if (fd < 0)
        return false;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

long spk_api(struct spk_env *e, const char *method, const char *path, const char *ctype,
             const char *body, json_object **out)
{
    char *resp = NULL;
    long code = lbp_fake_api_request(
        &e->api, method, path, ctype ? ctype : (body ? "application/json" : NULL), body, &resp);
    if (out)
        *out = resp ? json_tokener_parse(resp) : NULL;
    free(resp);
    return code;
}

static void post(struct spk_env *e, const char *path, const char *body)
{
    long code = spk_api(e, "POST", path, NULL, body, NULL);
    if (code != 201) {
        fprintf(stderr, "POST %s: %ld\n", path, code);
        CHECK(code == 201);
    }
}

void spk_env_init(struct spk_env *e)
{
    char body[1024];
    FILE *f;
    memset(e, 0, sizeof(*e));
    struct lbp_fake_api_opts o = {0};
    if (lbp_fake_api_start(&o, &e->api) != 0) {
        fprintf(stderr, "cannot start the fake API server\n");
        exit(1);
    }
    e->net = (unsigned char)(1 + getpid() % 250);
    for (int tries = 0; tries < 50; tries++) {
        e->hb_port = 20000 + (int)((getpid() + tries * 7919) % 30000);
        if (spk_udp_port_free(e->hb_port))
            break;
    }
    snprintf(e->pools, sizeof(e->pools), "%s/pools.yaml", e->api.dir);
    f = fopen(e->pools, "w");
    CHECK(f);
    fprintf(f, "pools:\n  - name: lan\n    addresses: [192.168.77.100-192.168.77.150]\n");
    fclose(f);
    post(
        e, "/api/v1/namespaces",
        "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"lbprov-system\"}}");
    for (int i = 0; i < SPK_NODES; i++) {
        snprintf(e->sp[i].node, sizeof(e->sp[i].node), "n%d", i + 1);
        snprintf(body, sizeof(body),
                 "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n%d\","
                 "\"labels\":{\"kubernetes.io/hostname\":\"n%d\"}},\"status\":{\"addresses\":"
                 "[{\"type\":\"InternalIP\",\"address\":\"127.%u.0.1%d\"}]}}",
                 i + 1, i + 1, e->net, i + 1);
        post(e, "/api/v1/nodes", body);
        snprintf(e->sp[i].log, sizeof(e->sp[i].log), "%s/speaker-n%d.log", e->api.dir, i + 1);
    }
}

static int port_from_log(const char *path)
{
    char line[1024];
    int port = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "http server listening on port ");
        char num[8];
        long v;
        if (!p)
            continue;
        p += strlen("http server listening on port ");
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n >= sizeof(num))
            continue;
        memcpy(num, p, n);
        num[n] = '\0';
        if (lbp_parse_long(num, 1, 65535, &v) == 0)
            port = (int)v;
    }
    fclose(f);
    return port;
}

static bool have_port(void *ctx)
{
    struct spk *s = ctx;
    s->port = port_from_log(s->log);
    return s->port > 0;
}

void spk_start(struct spk_env *e, int i)
{
    char hb[16];
    struct spk *s = &e->sp[i];
    snprintf(hb, sizeof(hb), "%d", e->hb_port);
    char *argv[] = {(char *)lbp_test_lbprov_bin(),
                    "speaker",
                    "--node-name",
                    s->node,
                    "--kubeconfig",
                    s->kubeconfig[0] ? s->kubeconfig : e->api.kubeconfig,
                    "--namespace",
                    "lbprov-system",
                    "--pool-config",
                    e->pools,
                    "--dry-run",
                    "--http-bind-address",
                    "127.0.0.1:0",
                    "--heartbeat-port",
                    hb,
                    "--metallb-poll-period",
                    "300ms",
                    NULL};
    /* A fresh log per run, so the port read back is this run's. */
    unlink(s->log);
    s->port = 0;
    s->pid = lbp_test_spawn(argv, s->log);
    CHECK(s->pid > 0);
    CHECK(lbp_test_poll(have_port, s, 10000));
}

void spk_kubeconfig(const char *path, int port)
{
    FILE *f = fopen(path, "w");
    CHECK(f);
    fprintf(f,
            "apiVersion: v1\nkind: Config\n"
            "clusters: [{name: c, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
            "users: [{name: u, user: {}}]\n"
            "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
            "current-context: c\n",
            port);
    fclose(f);
}

void spk_env_dump(struct spk_env *e)
{
    char line[1024];
    for (int i = 0; i < SPK_NODES; i++) {
        FILE *f = fopen(e->sp[i].log, "r");
        if (!f)
            continue;
        fprintf(stderr, "=== %s\n", e->sp[i].log);
        while (fgets(line, sizeof(line), f))
            fputs(line, stderr);
        fclose(f);
    }
}

void spk_env_stop(struct spk_env *e)
{
    for (int i = 0; i < SPK_NODES; i++) {
        if (e->sp[i].pid > 0)
            lbp_test_stop(e->sp[i].pid, SIGTERM, 5000);
        e->sp[i].pid = 0;
    }
    lbp_fake_api_stop(&e->api);
}

void spk_service(struct spk_env *e, const char *name, const char *ip, const char *etp)
{
    char body[1024], path[256];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"%s\"},"
             "\"spec\":{\"type\":\"LoadBalancer\",\"externalTrafficPolicy\":\"%s\","
             "\"selector\":{\"app\":\"%s\"},\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}]}}",
             name, etp, name);
    post(e, "/api/v1/namespaces/default/services", body);
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s/status", name);
    snprintf(body, sizeof(body), "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"%s\"}]}}}",
             ip);
    CHECK(spk_api(e, "PATCH", path, "application/merge-patch+json", body, NULL) == 200);
}

void spk_endpoints(struct spk_env *e, const char *name, const char *const *nodes)
{
    char body[2048], path[256], eps[1200] = "";
    size_t len = 0;
    for (int i = 0; nodes && nodes[i]; i++) {
        int w = snprintf(eps + len, sizeof(eps) - len,
                         "%s{\"addresses\":[\"10.1.0.%d\"],\"nodeName\":\"%s\","
                         "\"conditions\":{\"ready\":true}}",
                         i ? "," : "", i + 1, nodes[i]);
        CHECK(w > 0 && (size_t)w < sizeof(eps) - len);
        len += (size_t)w;
    }
    snprintf(
        body, sizeof(body),
        "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":"
        "{\"name\":\"%s-1\",\"namespace\":\"default\",\"labels\":"
        "{\"kubernetes.io/service-name\":\"%s\"}},\"addressType\":\"IPv4\",\"endpoints\":[%s]}",
        name, name, eps);
    snprintf(path, sizeof(path), "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/%s-1",
             name);
    long code = spk_api(e, "PUT", path, NULL, body, NULL);
    if (code == 404)
        post(e, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", body);
    else
        CHECK(code == 200);
}

json_object *spk_debug(struct spk_env *e, int i)
{
    struct lbp_fake_api a;
    char *resp = NULL;
    json_object *o = NULL;
    if (e->sp[i].pid <= 0 || e->sp[i].port <= 0)
        return NULL;
    memset(&a, 0, sizeof(a));
    snprintf(a.url, sizeof(a.url), "http://127.0.0.1:%d", e->sp[i].port);
    if (lbp_fake_api_request(&a, "GET", "/debug/owned", NULL, NULL, &resp) == 200 && resp)
        o = json_tokener_parse(resp);
    free(resp);
    return o;
}

void spk_owners(struct spk_env *e, const char *const *ips, size_t n, int *out)
{
    for (size_t k = 0; k < n; k++)
        out[k] = -1;
    for (int i = 0; i < SPK_NODES; i++) {
        json_object *o = spk_debug(e, i), *owned;
        if (!o)
            continue;
        if (json_object_object_get_ex(o, "owned", &owned)) {
            for (size_t j = 0; j < json_object_array_length(owned); j++) {
                json_object *ip;
                if (!json_object_object_get_ex(json_object_array_get_idx(owned, j), "ip", &ip))
                    continue;
                for (size_t k = 0; k < n; k++)
                    if (strcmp(json_object_get_string(ip), ips[k]) == 0)
                        out[k] = out[k] == -1 || out[k] == i ? i : -2;
            }
        }
        json_object_put(o);
    }
}

int spk_expected_owner(struct spk_env *e, const char *ip, unsigned mask)
{
    unsigned char best[SHA256_DIGEST_LENGTH], d[SHA256_DIGEST_LENGTH];
    char in[128];
    int owner = -1;
    for (int i = 0; i < SPK_NODES; i++) {
        if (!(mask & (1u << i)))
            continue;
        snprintf(in, sizeof(in), "%s#%s", e->sp[i].node, ip);
        SHA256((const unsigned char *)in, strlen(in), d);
        if (owner < 0 || memcmp(d, best, sizeof(d)) < 0) {
            memcpy(best, d, sizeof(d));
            owner = i;
        }
    }
    return owner;
}

int spk_owner(struct spk_env *e, const char *ip)
{
    int o;
    spk_owners(e, &ip, 1, &o);
    return o;
}

void spk_lease_holder(struct spk_env *e, const char *node, char *out, size_t len)
{
    char path[256];
    json_object *o = NULL, *spec, *h;
    snprintf(path, sizeof(path),
             "/apis/coordination.k8s.io/v1/namespaces/lbprov-system/leases/lbprov-speaker-%s",
             node);
    long code = spk_api(e, "GET", path, NULL, NULL, &o);
    if (code != 200 || !o) {
        lbp_strlcpy(out, "-", len);
    } else if (json_object_object_get_ex(o, "spec", &spec) &&
               json_object_object_get_ex(spec, "holderIdentity", &h)) {
        lbp_strlcpy(out, json_object_get_string(h), len);
    } else {
        lbp_strlcpy(out, "", len);
    }
    json_object_put(o);
}

struct owner_is {
    const char *ip;
    int want;
};

static bool owner_is(void *ctx)
{
    struct owner_is *o = ctx;
    return spk_owner(&env, o->ip) == o->want;
}

void spk_expect_owner(const char *ip, int want)
{
    struct owner_is o = {ip, want};
    if (!lbp_test_poll(owner_is, &o, 10000)) {
        fprintf(stderr, "%s: owner %d, want %d\n", ip, spk_owner(&env, ip), want);
        CHECK(false);
    }
}

void spk_services_everywhere(struct spk_env *e, const char *const *vips, int n)
{
    const char *every[] = {"n1", "n2", "n3", NULL};
    char name[32];
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof(name), "svc%d", k);
        spk_service(e, name, vips[k], "Cluster");
        spk_endpoints(e, name, every);
    }
}
