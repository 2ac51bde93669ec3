/*
 * test_controller_ops.c — running the controller for real: what an
 * operator sees and does. One ctest entry per mode:
 *
 *   flags    every subcommand's --help, `version`, unknown flags and bad
 *            values (one line naming the flag, exit 2)
 *   metrics  /metrics over localhost:PORT only (checked in /proc/net/tcp),
 *            `promtool check metrics` on a live scrape, and values that move
 *            with a Service and a Node change
 *   signals  SIGHUP re-reads the cloud-config (a bad file is refused and
 *            logged, a good one changes the VIP range and latency), /healthz
 *            names a worker held past --health-stuck-after in a slow cloud
 *            call (3 s) and recovers, SIGTERM with an 8 s call in flight
 *            abandons it and exits 0 within 5 s
 *   secrets  -v=10 with a bearer token (static, then from an exec
 *            credential plugin, in JSON logs): the token never reaches the log
 */
#include "common/file.h"
#include "test/integration/ctl_env.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct ctl_env env;

static char *slurp(const char *path)
{
    char *buf = NULL;
    lbp_file_read(path, 64u << 20, 0, &buf, NULL);
    return buf;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
    chmod(path, mode);
}

static bool log_has(const char *needle)
{
    char *log = slurp(env.ctl_log);
    bool found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

static bool has_ingress(const char *name)
{
    char ip[128];
    ctl_ingress(&env, name, ip, sizeof(ip));
    return ip[0] != '\0';
}

/* ------------------------------------------------------------ flags */

struct run {
    int status;
    char out[8192];
};

/* Runs lbprov with argv (NULL-terminated after "lbprov"), stdout+stderr together. */
static void run_lbprov(struct run *r, const char *const *args, const char *dir)
{
    const char *argv[32];
    char log[400];
    int n = 0, st = 0;
    pid_t pid;
    argv[n++] = lbp_test_lbprov_bin();
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(log, sizeof(log), "%s/run.log", dir);
    unlink(log);
    pid = lbp_test_spawn((char *const *)argv, log);
    if (pid <= 0 || waitpid(pid, &st, 0) != pid) {
        fprintf(stderr, "cannot run lbprov\n");
        exit(1);
    }
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char *s = slurp(log);
    snprintf(r->out, sizeof(r->out), "%s", s ? s : "");
    free(s);
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#define FCHECK(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n--- output ---\n%s\n", __FILE__, __LINE__,   \
                    #cond, r.out);                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A bad invocation: exit 2, exactly one line, naming what was wrong. */
static void expect_usage_error(const char *dir, const char *const *args, const char *names)
{
    struct run r;
    run_lbprov(&r, args, dir);
    FCHECK(r.status == 2);
    FCHECK(lines(r.out) == 1);
    FCHECK(strstr(r.out, names) != NULL);
}

static int mode_flags(void)
{
    char dir[] = "/tmp/lbp-ops-XXXXXX";
    struct run r;
    if (!mkdtemp(dir))
        return 1;

    static const char *const cmds[] = {"controller", "status", "version"};
    for (size_t i = 0; i < 3; i++) {
        const char *help[] = {cmds[i], "--help", NULL};
        char usage[64];
        snprintf(usage, sizeof(usage), "Usage: lbprov %s", cmds[i]);
        run_lbprov(&r, help, dir);
        FCHECK(r.status == 0);
        FCHECK(strstr(r.out, usage) != NULL);
        FCHECK(strstr(r.out, "--help") != NULL);

        const char *unknown[] = {cmds[i], "--no-such-flag", NULL};
        expect_usage_error(dir, unknown, "--no-such-flag");
    }
    /* the controller's help names the operator-facing flags */
    const char *chelp[] = {"controller", "--help", NULL};
    run_lbprov(&r, chelp, dir);
    FCHECK(strstr(r.out, "--http-bind-address") && strstr(r.out, "--log-format") &&
           strstr(r.out, "--health-stuck-after") && strstr(r.out, "SIGHUP"));

    /* bad values, each named */
    const char *b1[] = {"controller", "--cloud", "mock", "--concurrent-service-syncs",
                        "many",       NULL};
    expect_usage_error(dir, b1, "--concurrent-service-syncs");
    const char *b2[] = {"controller", "--cloud", "mock", "--log-format", "xml", NULL};
    expect_usage_error(dir, b2, "--log-format");
    const char *b3[] = {"controller", "--cloud", "mock", "-v", "eleven", NULL};
    expect_usage_error(dir, b3, "-v");
    const char *b3b[] = {"controller", "--cloud", "mock", "-v=11", NULL};
    expect_usage_error(dir, b3b, "-v");
    /* -v=N (klog's spelling) is accepted: the next flag is the one refused */
    const char *b3c[] = {"controller", "--cloud", "mock", "-v=3", "--bogus", NULL};
    expect_usage_error(dir, b3c, "'--bogus'");
    const char *b4[] = {"controller", "--cloud", "mock", "--health-stuck-after", "5parsecs", NULL};
    expect_usage_error(dir, b4, "--health-stuck-after");
    const char *b5[] = {"controller", "--cloud", "nosuchcloud", NULL};
    expect_usage_error(dir, b5, "nosuchcloud");
    const char *b6[] = {"controller", "--cloud", "mock", "--resync-period", NULL};
    expect_usage_error(dir, b6, "--resync-period");
    const char *b7[] = {"status", "-o", "yaml", NULL};
    expect_usage_error(dir, b7, "yaml");
    const char *b8[] = {"version", "-o", "yaml", NULL};
    expect_usage_error(dir, b8, "-o");
    const char *b9[] = {"nosuchcommand", NULL};
    expect_usage_error(dir, b9, "nosuchcommand");

    /* a bad value's error says what a good one looks like */
    const char *h1[] = {"controller", "--cloud", "mock", "--backoff-base", "soon", NULL};
    expect_usage_error(dir, h1, "want a duration such as 500ms");
    /* booleans all take =BOOL */
    const char *h2[] = {"controller", "--cloud", "mock", "--node-ready-filter=true",
                        "--bogus",    NULL};
    expect_usage_error(dir, h2, "'--bogus'");
    const char *h3[] = {"controller", "--cloud", "mock", "--node-ready-filter=maybe", NULL};
    expect_usage_error(dir, h3, "--node-ready-filter: want true or false");
    /* the speaker: --log-format, the controller's name for the MetalLB poll, whole seconds */
    const char *h4[] = {"speaker", "--log-format", "json", "--metallb-poll-period",
                        "5s",      "--bogus",      NULL};
    expect_usage_error(dir, h4, "'--bogus'");
    const char *h5[] = {"speaker", "--log-format", "xml", NULL};
    expect_usage_error(dir, h5, "--log-format: want text or json");
    const char *h6[] = {"speaker", "--metallb-poll-interval", "5s", "--bogus", NULL};
    expect_usage_error(dir, h6, "'--bogus'");
    const char *h7[] = {"speaker", "--lease-duration", "2500ms", NULL};
    expect_usage_error(dir, h7, "whole seconds");
    const char *sh[] = {"speaker", "--help", NULL};
    run_lbprov(&r, sh, dir);
    FCHECK(r.status == 0 && strstr(r.out, "--lease-duration SECONDS") &&
           strstr(r.out, "--log-format") && strstr(r.out, "--metallb-poll-period"));
    /* status: one namespace, checked as a name */
    const char *h8[] = {"status", "-n", "Not/A/Namespace", NULL};
    expect_usage_error(dir, h8, "-n: want a namespace name");
    /* version takes the client flags every subcommand takes */
    const char *vk[] = {"version", "--kubeconfig", "/nonexistent", "--kube-api-qps", "5", NULL};
    run_lbprov(&r, vk, dir);
    FCHECK(r.status == 0 && strstr(r.out, "lbprov "));
    const char *vb[] = {"version", "--kube-api-qps", "lots", NULL};
    expect_usage_error(dir, vb, "--kube-api-qps");

    /* version: the build, the libraries it runs with, the clouds built in */
    const char *ver[] = {"version", NULL};
    run_lbprov(&r, ver, dir);
    FCHECK(r.status == 0);
    FCHECK(strstr(r.out, "lbprov ") && strstr(r.out, "compiler: ") && strstr(r.out, "libcurl: ") &&
           strstr(r.out, "OpenSSL: ") && strstr(r.out, "json-c: "));
    FCHECK(strstr(r.out, "clouds:") && strstr(r.out, " mock"));
    const char *verj[] = {"version", "-o", "json", NULL};
    run_lbprov(&r, verj, dir);
    FCHECK(r.status == 0);
    json_object *o = json_tokener_parse(r.out);
    FCHECK(o && jpath_str(o, "version") && jpath_str(o, "jsonc") && jpath_str(o, "openssl"));
    json_object_put(o);

    char log[400];
    snprintf(log, sizeof(log), "%s/run.log", dir);
    unlink(log);
    rmdir(dir);
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------ metrics */

/* The value of one exact series ("name" or "name{a=\"b\"}"), NAN when absent. */
static double series(const char *body, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, l) == 0 && p[l] == ' ')
            return strtod(p + l + 1, NULL);
    }
    return NAN;
}

static char *scrape(void)
{
    char *b = NULL;
    if (ctl_http_get(&env, "/metrics", &b) != 200) {
        free(b);
        return NULL;
    }
    return b;
}

static double scrape_one(const char *name)
{
    char *b = scrape();
    double v = b ? series(b, name) : NAN;
    free(b);
    return v;
}

/* Whether a listening TCP socket on port is bound to 127.0.0.1 and to nothing else. */
static bool loopback_only(int port)
{
    char line[512];
    bool lo = false, other = false;
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned addr, p, st;
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X", &addr, &p, &st) != 3)
            continue;
        if ((int)p != port || st != 0x0A) /* TCP_LISTEN */
            continue;
        if (addr == 0x0100007F)
            lo = true;
        else
            other = true;
    }
    fclose(f);
    f = fopen("/proc/net/tcp6", "r"); /* nothing on :: either */
    while (f && fgets(line, sizeof(line), f)) {
        unsigned p, st;
        if (sscanf(line, " %*d: %*32[0-9A-F]:%4X %*32[0-9A-F]:%*4X %2X", &p, &st) == 2 &&
            (int)p == port && st == 0x0A)
            other = true;
    }
    if (f)
        fclose(f);
    return lo && !other;
}

static int mode_metrics(void)
{
    char *b;
    ctl_env_init(&env, NULL);
    snprintf(env.bind_host, sizeof(env.bind_host), "localhost");
    ctl_env_start_controller(&env, NULL);
    CHECK(loopback_only(env.http_port));
    /* The HTTP port opens before the Lease is won: wait for the leader, or
     * the leader gauge below races it. */
    CHECK(WAIT_FOR(10000, scrape_one("lbprov_leader_is_leader") == 1));

    /* present from the first scrape */
    b = scrape();
    CHECK(b != NULL);
    double sync0 = series(b, "service_controller_loadbalancer_sync_total");
    CHECK(sync0 == 0);
    CHECK(!isnan(series(b, "service_controller_nodesync_error_total")));
    CHECK(strstr(b, "# TYPE service_controller_nodesync_latency_seconds histogram\n"));
    CHECK(strstr(b,
                 "# TYPE service_controller_update_loadbalancer_host_latency_seconds histogram\n"));
    CHECK(strstr(b, "# TYPE workqueue_work_duration_seconds histogram\n"));
    CHECK(strstr(b, "# TYPE workqueue_queue_duration_seconds histogram\n"));
    CHECK(series(b, "workqueue_depth{name=\"service\"}") == 0);
    CHECK(series(b, "lbprov_leader_is_leader") == 1);
    char bi[128];
    snprintf(bi, sizeof(bi), "lbprov_build_info{version=\"%s\",compiler=\"", LBP_VERSION);
    CHECK(strstr(b, bi) != NULL);
    CHECK(series(b, "lbprov_informer_lists_total{kind=\"Service\"}") >= 1);
    CHECK(series(b, "lbprov_informer_lists_total{kind=\"Node\"}") >= 1);
    CHECK(series(b, "lbprov_informer_watch_restarts_total{kind=\"Node\"}") >= 0);
    CHECK(series(b, "lbprov_informer_gone_total{kind=\"Service\"}") >= 0);
    CHECK(series(b, "process_resident_memory_bytes") > 1e6);
    CHECK(series(b, "process_cpu_seconds_total") > 0);
    CHECK(series(b, "process_open_fds") >= 3);
    CHECK(series(b, "process_max_fds") >= series(b, "process_open_fds"));
    CHECK(series(b, "process_virtual_memory_bytes") >= series(b, "process_resident_memory_bytes"));
    double start = series(b, "process_start_time_seconds");
    CHECK(fabs(start - (double)time(NULL)) < 120);
    free(b);

    /* a Service makes the counters move */
    ctl_node(&env, "node-1", "10.0.0.1");
    ctl_service(&env, "web", NULL, 80);
    CHECK(WAIT_FOR(15000, has_ingress("web")));
    CHECK(WAIT_FOR(5000, scrape_one("service_controller_loadbalancer_sync_total") > sync0));
    b = scrape();
    CHECK(b != NULL);
    CHECK(series(b, "workqueue_adds_total{name=\"service\"}") > 0);
    CHECK(series(b, "workqueue_work_duration_seconds_count{name=\"service\"}") > 0);
    CHECK(series(b, "workqueue_queue_duration_seconds_count{name=\"service\"}") > 0);
    CHECK(series(b, "lbprov_kube_api_requests_total{verb=\"PATCH\"}") >= 2); /* finalizer, status */
    CHECK(series(b, "lbprov_kube_api_requests_total{verb=\"WATCH\"}") >= 2);
    CHECK(series(b, "lbprov_cloud_api_requests_total{cloud=\"mock\",operation=\"ensure\","
                    "code=\"200\"}") >= 1);
    CHECK(series(b, "lbprov_cloud_api_request_duration_seconds_count{cloud=\"mock\",operation="
                    "\"ensure\"}") >= 1);
    free(b);

    /* a node change: backends updated, both upstream histograms observed */
    ctl_node(&env, "node-2", "10.0.0.2");
    CHECK(WAIT_FOR(
        10000,
        scrape_one("service_controller_update_loadbalancer_host_latency_seconds_count") >= 1));
    CHECK(WAIT_FOR(5000, scrape_one("service_controller_nodesync_latency_seconds_count") >= 1));
    CHECK(scrape_one("service_controller_nodesync_total") >= 1);

    /* an injected cloud failure is counted as an error with its code */
    CHECK(ctl_cloud_post(&env, "failNext=1") == 200);
    ctl_service(&env, "web2", NULL, 81);
    CHECK(WAIT_FOR(15000, has_ingress("web2")));
    CHECK(WAIT_FOR(5000, scrape_one("lbprov_cloud_api_errors_total{cloud=\"mock\",operation="
                                    "\"ensure\",code=\"503\"}") == 1));
    CHECK(scrape_one("workqueue_retries_total{name=\"service\"}") >= 1);

    /* the whole page passes promtool's checker */
    if (!LBP_PROMTOOL[0] || access(LBP_PROMTOOL, X_OK) != 0) {
        printf("SKIP promtool check: promtool not found (scripts/install-deps test)\n");
    } else {
        char path[400], cmd[1024];
        b = scrape();
        CHECK(b != NULL);
        snprintf(path, sizeof(path), "%s/metrics.txt", env.api.dir);
        write_file(path, b, 0600);
        free(b);
        snprintf(cmd, sizeof(cmd), "%s check metrics < %s 1>&2", LBP_PROMTOOL, path);
        CHECK(system(cmd) == 0);
    }

    if (ctl_env_stop(&env) != 0)
        return 1;
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------ signals */

static bool cloud_str_is(const char *key, const char *want)
{
    json_object *c = ctl_cloud(&env);
    const char *v = c ? jpath_str(c, key) : NULL;
    bool ok = v && strcmp(v, want) == 0;
    json_object_put(c);
    return ok;
}

static bool cloud_int_is(const char *key, long want)
{
    json_object *c = ctl_cloud(&env);
    bool ok = c && jpath_int(c, key) == want;
    json_object_put(c);
    return ok;
}

static long healthz(char *body, size_t len)
{
    char *b = NULL;
    long code = ctl_http_get(&env, "/healthz", &b);
    snprintf(body, len, "%s", b ? b : "");
    free(b);
    return code;
}

static int mode_signals(void)
{
    static const char *const flags[] = {"--health-stuck-after", "1s", NULL};
    char conf[1024], body[512], ip[128];
    uint64_t t0;

    ctl_env_init(&env, NULL);
    ctl_env_start_controller(&env, flags);
    CHECK(loopback_only(env.http_port)); /* 127.0.0.1:PORT */
    CHECK(healthz(body, sizeof(body)) == 200 && strcmp(body, "ok\n") == 0);
    CHECK(cloud_str_is("vipRange", "203.0.113.0/24"));
    ctl_node(&env, "node-1", "10.0.0.1");

    /* a bad file: refused with a clear line, the running configuration stays */
    snprintf(conf, sizeof(conf), "state_file=%s\nvip_range=999.1.2.0/24\nlatency_ms=5\n",
             env.state_file);
    write_file(env.cloud_conf, conf, 0644);
    CHECK(kill(env.ctl, SIGHUP) == 0);
    CHECK(WAIT_FOR(5000, log_has("SIGHUP: keeping the running configuration")));
    CHECK(log_has("bad value for vip_range: '999.1.2.0/24'"));
    CHECK(cloud_str_is("vipRange", "203.0.113.0/24"));
    CHECK(cloud_int_is("latencyMs", 0));

    /* a good one: the new VIP range takes effect without a restart */
    snprintf(conf, sizeof(conf), "state_file=%s\nvip_range=198.51.100.0/24\n", env.state_file);
    write_file(env.cloud_conf, conf, 0644);
    CHECK(kill(env.ctl, SIGHUP) == 0);
    CHECK(WAIT_FOR(5000, cloud_str_is("vipRange", "198.51.100.0/24")));
    CHECK(log_has("SIGHUP: cloud mock reloaded"));
    ctl_service(&env, "ranged", NULL, 80);
    CHECK(WAIT_FOR(15000, has_ingress("ranged")));
    ctl_ingress(&env, "ranged", ip, sizeof(ip));
    CHECK(strncmp(ip, "198.51.100.", 11) == 0);

    /* a 3 s cloud call: past the 1 s bound /healthz names the worker, then recovers */
    snprintf(conf, sizeof(conf), "state_file=%s\nvip_range=198.51.100.0/24\nlatency_ms=3000\n",
             env.state_file);
    write_file(env.cloud_conf, conf, 0644);
    CHECK(kill(env.ctl, SIGHUP) == 0);
    CHECK(WAIT_FOR(5000, cloud_int_is("latencyMs", 3000)));
    long ensures = ctl_cloud_calls(&env, "ensure");
    ctl_service(&env, "slow", NULL, 81);
    CHECK(WAIT_FOR(5000, ctl_cloud_calls(&env, "ensure") > ensures));
    CHECK(WAIT_FOR(3000, healthz(body, sizeof(body)) == 503));
    CHECK(strstr(body, "worker-") != NULL && strstr(body, "busy for") != NULL);
    CHECK(WAIT_FOR(8000, has_ingress("slow")));
    CHECK(WAIT_FOR(3000, healthz(body, sizeof(body)) == 200));

    /*
     * SIGTERM with a sync in flight against a cloud slower than the stop
     * budget (8 s calls): the sync is abandoned, the exit still comes
     * within 5 s, status 0.
     */
    snprintf(conf, sizeof(conf), "state_file=%s\nvip_range=198.51.100.0/24\nlatency_ms=8000\n",
             env.state_file);
    write_file(env.cloud_conf, conf, 0644);
    CHECK(kill(env.ctl, SIGHUP) == 0);
    CHECK(WAIT_FOR(5000, cloud_int_is("latencyMs", 8000)));
    ensures = ctl_cloud_calls(&env, "ensure");
    ctl_service(&env, "inflight", NULL, 82);
    CHECK(WAIT_FOR(5000, ctl_cloud_calls(&env, "ensure") > ensures));
    t0 = lbp_now_ms();
    int st = lbp_test_stop(env.ctl, SIGTERM, 5000);
    uint64_t took = lbp_now_ms() - t0;
    env.ctl = 0;
    fprintf(stderr, "SIGTERM to exit: %llu ms (status %d)\n", (unsigned long long)took, st);
    CHECK(st == 0);
    CHECK(took <= 5000);
    CHECK(log_has("received SIGTERM; shutting down"));
    CHECK(log_has("exiting with syncs abandoned"));

    ctl_env_stop(&env);
    printf("ok\n");
    return 0;
}

/* ------------------------------------------------------------ secrets */

static void create_delete(const char *name, int port)
{
    char path[256];
    ctl_service(&env, name, NULL, port);
    CHECK(WAIT_FOR(15000, has_ingress(name) && ctl_has_finalizer(&env, name)));
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/services/%s", name);
    CHECK(ctl_api(&env, "DELETE", path, NULL, NULL) == 200);
    CHECK(WAIT_FOR(15000, ctl_api(&env, "GET", path, NULL, NULL) == 404));
}

static int mode_secrets(void)
{
    static const char *const loud[] = {"-v=10", NULL}; /* klog's spelling */
    char token[80], path[400], text[2048];
    unsigned char r[16];
    FILE *f = fopen("/dev/urandom", "r");
    if (!f || fread(r, 1, sizeof(r), f) != sizeof(r))
        return 1;
    fclose(f);
    snprintf(token, sizeof(token), "lbpSecretToken");
    for (size_t i = 0; i < 8; i++)
        snprintf(token + strlen(token), sizeof(token) - strlen(token), "%02x", r[i]);

    struct lbp_fake_api_opts o = {.token = token};
    ctl_env_init_opts(&env, "latency_ms=1\n", &o);

    /* 1: the token in the kubeconfig, text logs at -v=10 */
    ctl_env_start_controller(&env, loud);
    ctl_node(&env, "node-1", "10.0.0.1");
    create_delete("tok", 80);
    CHECK(lbp_test_stop(env.ctl, SIGTERM, 8000) == 0);
    env.ctl = 0;

    /* 2: the token from an exec credential plugin, JSON logs at -v=10 */
    snprintf(path, sizeof(path), "%s/credential-plugin.sh", env.api.dir);
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "printf '%%s' '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
             "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}'\n",
             token); /* the fake accepts one token */
    write_file(path, text, 0700);
    char kc[400];
    snprintf(kc, sizeof(kc), "%s/kubeconfig-exec", env.api.dir);
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters:\n- name: k\n  cluster:\n    server: %s\n"
             "contexts:\n- name: c\n  context:\n    cluster: k\n    user: u\n"
             "users:\n- name: u\n  user:\n    exec:\n"
             "      apiVersion: client.authentication.k8s.io/v1\n"
             "      command: %s\n      interactiveMode: Never\n",
             env.api.url, path);
    write_file(kc, text, 0600);
    const char *const exec_flags[] = {"--v", "10", "--log-format", "json", "--kubeconfig",
                                      kc,    NULL};
    ctl_env_start_controller(&env, exec_flags);
    create_delete("exec", 81);
    CHECK(lbp_test_stop(env.ctl, SIGTERM, 8000) == 0);
    env.ctl = 0;

    /* the whole log: both runs did real work, and the token is nowhere */
    char *log = slurp(env.ctl_log);
    CHECK(log != NULL);
    CHECK(strstr(log, "default/tok: ensured load balancer") != NULL);
    CHECK(strstr(log, "\"level\":\"info\"") != NULL); /* the JSON run logged */
    CHECK(strstr(log, "default/exec: deleted load balancer") != NULL);
    CHECK(strstr(log, token) == NULL);
    CHECK(strstr(log, token + 14) == NULL); /* not even the random part alone */
    /* -v=10 really was loud: the verbose lines of both runs are there */
    CHECK(strstr(log, "] default/tok: syncing") != NULL);
    CHECK(strstr(log, "mock cloud: ensure -> 200") != NULL);
    CHECK(strstr(log, "\"msg\":\"default/exec: syncing") != NULL);
    size_t lines_n = lines(log);
    free(log);
    ctl_env_stop(&env);
    printf("ok (%zu log lines, no token)\n", lines_n);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "flags") == 0)
        return mode_flags();
    if (strcmp(mode, "metrics") == 0)
        return mode_metrics();
    if (strcmp(mode, "signals") == 0)
        return mode_signals();
    if (strcmp(mode, "secrets") == 0)
        return mode_secrets();
    fprintf(stderr, "usage: %s flags|metrics|signals|secrets\n", argv[0]);
    return 2;
}
